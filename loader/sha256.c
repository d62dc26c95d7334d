// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SHA-256 as FIPS 180-4 gives it, for the Kubernetes source's identity
 * names (kube_sync.c): the loader's only use of a digest.  Its own rather
 * than libcrypto's, because linking libcrypto for one hash of a few
 * labels kept 1.4 MiB of library resident in every tailplaned, the
 * Kubernetes source on or not.  tests/test_sha256.c checks it against
 * the standard's examples and the test vectors of NIST's CAVP.
 */
#include <string.h>

#include "sha256.h"

/* the first 32 bits of the fractional parts of the cube roots of the first 64 primes */
static const uint32_t tpd_sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror32(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

/* One 64-byte block into the state (section 6.2.2). */
static void tpd_sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], v[8], t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
			      (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
			      (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, h, sizeof(v));
	/* v[0..7] are a..h of the standard */
	for (i = 0; i < 64; i++) {
		t1 = v[7] +
		     (ror32(v[4], 6) ^ ror32(v[4], 11) ^ ror32(v[4], 25)) +
		     ((v[4] & v[5]) ^ (~v[4] & v[6])) + tpd_sha256_k[i] + w[i];
		t2 = (ror32(v[0], 2) ^ ror32(v[0], 13) ^ ror32(v[0], 22)) +
		     ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
		memmove(&v[1], &v[0], 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + t2;
	}
	for (i = 0; i < 8; i++)
		h[i] += v[i];
}

void tpd_sha256_init(struct tpd_sha256 *s)
{
	/* the first 32 bits of the fractional parts of the square roots of the first 8 primes */
	static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372,
					0xa54ff53a, 0x510e527f, 0x9b05688c,
					0x1f83d9ab, 0x5be0cd19 };

	memcpy(s->h, h0, sizeof(h0));
	s->bytes = 0;
	s->fill = 0;
}

void tpd_sha256_update(struct tpd_sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t take;

	s->bytes += len;
	while (len) {
		take = sizeof(s->block) - s->fill;
		if (take > len)
			take = len;
		memcpy(s->block + s->fill, p, take);
		s->fill += take;
		p += take;
		len -= take;
		if (s->fill == sizeof(s->block)) {
			tpd_sha256_block(s->h, s->block);
			s->fill = 0;
		}
	}
}

/* Padding (section 5.1.1), then the state big-endian; @s is spent. */
void tpd_sha256_final(struct tpd_sha256 *s, uint8_t md[TPD_SHA256_LEN])
{
	uint64_t bits = s->bytes * 8;
	int i;

	s->block[s->fill++] = 0x80;
	if (s->fill > sizeof(s->block) - 8) {
		memset(s->block + s->fill, 0, sizeof(s->block) - s->fill);
		tpd_sha256_block(s->h, s->block);
		s->fill = 0;
	}
	memset(s->block + s->fill, 0, sizeof(s->block) - 8 - s->fill);
	for (i = 0; i < 8; i++)
		s->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	tpd_sha256_block(s->h, s->block);
	for (i = 0; i < 8; i++) {
		md[4 * i] = (uint8_t)(s->h[i] >> 24);
		md[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		md[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		md[4 * i + 3] = (uint8_t)s->h[i];
	}
}
