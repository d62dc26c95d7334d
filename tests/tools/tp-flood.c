// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tp-flood: a handshake flood for the XDP guard's end-to-end test.  Sends
 * --count UDP datagrams shaped as WireGuard handshake initiations (type 1,
 * 148 bytes, the rest random) to --dst ADDR:PORT from one socket, so from
 * one source, at most --pps a second (0: as fast as it goes), and stops at
 * --count or after --max-seconds, whichever comes first.  Prints one JSON
 * line: {"sent":N,"errors":N,"seconds":S}.
 *
 * With --mac1 PUBKEY (the target's WireGuard public key, base64; public
 * keys are no secret) every initiation carries a valid MAC1, as a real
 * attacker's would: the receiver then takes it as a handshake, not as
 * noise it can reject after one BLAKE2s (WireGuard, section 5.4.4).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

#define WG_INITIATION_LEN 148
#define WG_MAC1_OFF	  116
#define BATCH		  64

/* ---- BLAKE2s (RFC 7693), for MAC1 ---------------------------------------- */

struct b2s {
	uint32_t h[8], t;
	uint8_t b[64];
	size_t c, outlen;
};

static const uint32_t b2s_iv[8] = { 0x6A09E667, 0xBB67AE85, 0x3C6EF372,
				    0xA54FF53A, 0x510E527F, 0x9B05688C,
				    0x1F83D9AB, 0x5BE0CD19 };

static const uint8_t b2s_sigma[10][16] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
	{ 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
	{ 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
	{ 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
	{ 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
	{ 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
	{ 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
	{ 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
	{ 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static uint32_t ror32(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

#define B2S_G(a, b, c, d, x, y)                \
	do {                                   \
		v[a] = v[a] + v[b] + (x);      \
		v[d] = ror32(v[d] ^ v[a], 16); \
		v[c] = v[c] + v[d];            \
		v[b] = ror32(v[b] ^ v[c], 12); \
		v[a] = v[a] + v[b] + (y);      \
		v[d] = ror32(v[d] ^ v[a], 8);  \
		v[c] = v[c] + v[d];            \
		v[b] = ror32(v[b] ^ v[c], 7);  \
	} while (0)

static void b2s_compress(struct b2s *s, int last)
{
	uint32_t v[16], m[16];
	int i;

	for (i = 0; i < 8; i++) {
		v[i] = s->h[i];
		v[i + 8] = b2s_iv[i];
	}
	v[12] ^= s->t; /* messages here are far below 2^32 bytes */
	if (last)
		v[14] = ~v[14];
	for (i = 0; i < 16; i++)
		m[i] = s->b[4 * i] | s->b[4 * i + 1] << 8 |
		       s->b[4 * i + 2] << 16 | (uint32_t)s->b[4 * i + 3] << 24;
	for (i = 0; i < 10; i++) {
		const uint8_t *z = b2s_sigma[i];

		B2S_G(0, 4, 8, 12, m[z[0]], m[z[1]]);
		B2S_G(1, 5, 9, 13, m[z[2]], m[z[3]]);
		B2S_G(2, 6, 10, 14, m[z[4]], m[z[5]]);
		B2S_G(3, 7, 11, 15, m[z[6]], m[z[7]]);
		B2S_G(0, 5, 10, 15, m[z[8]], m[z[9]]);
		B2S_G(1, 6, 11, 12, m[z[10]], m[z[11]]);
		B2S_G(2, 7, 8, 13, m[z[12]], m[z[13]]);
		B2S_G(3, 4, 9, 14, m[z[14]], m[z[15]]);
	}
	for (i = 0; i < 8; i++)
		s->h[i] ^= v[i] ^ v[i + 8];
}

static void b2s_update(struct b2s *s, const uint8_t *in, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s->c == 64) {
			s->t += s->c;
			b2s_compress(s, 0);
			s->c = 0;
		}
		s->b[s->c++] = in[i];
	}
}

/* BLAKE2s of @in with @outlen bytes of output, keyed when @keylen. */
static void b2s(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
		const uint8_t *in, size_t len)
{
	struct b2s s = { .outlen = outlen };
	size_t i;

	memcpy(s.h, b2s_iv, sizeof(s.h));
	s.h[0] ^= 0x01010000 ^ (keylen << 8) ^ outlen;
	if (keylen) {
		memcpy(s.b, key, keylen);
		s.c = 64;
	}
	b2s_update(&s, in, len);
	s.t += s.c;
	memset(s.b + s.c, 0, 64 - s.c);
	b2s_compress(&s, 1);
	for (i = 0; i < outlen; i++)
		out[i] = s.h[i / 4] >> (8 * (i % 4));
}

/* RFC 7693 Appendix B: BLAKE2s-256("abc"); a wrong MAC1 would go unnoticed */
static int b2s_selftest(void)
{
	static const uint8_t want[32] = {
		0x50, 0x8c, 0x5e, 0x8c, 0x32, 0x7c, 0x14, 0xe2,
		0xe1, 0xa7, 0x2b, 0xa3, 0x4e, 0xeb, 0x45, 0x2f,
		0x37, 0x45, 0x8b, 0x20, 0x9e, 0xd6, 0x3a, 0x29,
		0x4d, 0x99, 0x9b, 0x4c, 0x86, 0x67, 0x59, 0x82,
	};
	uint8_t out[32];

	b2s(out, 32, NULL, 0, (const uint8_t *)"abc", 3);
	return memcmp(out, want, sizeof(want)) ? -1 : 0;
}

/* base64 of 32 bytes (44 characters) */
static int b64_key(const char *s, uint8_t *key)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0, n = 0;
	const char *p, *c;

	if (strlen(s) != 44 || s[43] != '=')
		return -1;
	for (p = s; p < s + 43; p++) {
		c = strchr(a, *p);
		if (!c || !*p)
			return -1;
		acc = acc << 6 | (uint32_t)(c - a);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n < 32)
				key[n++] = acc >> bits;
		}
	}
	return n == 32 ? 0 : -1;
}

/* MAC1 of an initiation: MAC(HASH("mac1----" || the responder's key), msg[0:116]) */
static void wg_mac1(uint8_t *msg, const uint8_t *mac1_key)
{
	b2s(msg + WG_MAC1_OFF, 16, mac1_key, 32, msg, WG_MAC1_OFF);
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: tp-flood --dst ADDR:PORT --count N [--pps N] [--max-seconds S]\n"
		"                [--mac1 PUBKEY]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'c' },
		{ "pps", required_argument, NULL, 'r' },
		{ "max-seconds", required_argument, NULL, 't' },
		{ "mac1", required_argument, NULL, 'm' },
		{},
	};
	uint8_t pub[32], label[8 + 32], mac1_key[32];
	const char *mac1 = NULL;
	unsigned char msg[WG_INITIATION_LEN];
	unsigned long count = 0, sent = 0, errors = 0, pps = 0, i;
	double max_s = 30, t0, t;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const char *dst = NULL;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dst = optarg;
			break;
		case 'c':
			count = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			pps = strtoul(optarg, NULL, 10);
			break;
		case 't':
			max_s = atof(optarg);
			break;
		case 'm':
			mac1 = optarg;
			break;
		default:
			usage();
		}
	}
	if (!dst || !count || max_s <= 0 || tool_resolve(dst, &ss, &sslen))
		usage();
	if (mac1 && (b64_key(mac1, pub) || b2s_selftest())) {
		fprintf(stderr,
			"tp-flood: bad --mac1 key, or BLAKE2s fails its test vector\n");
		return 2;
	}
	if (mac1) {
		memcpy(label, "mac1----", 8);
		memcpy(label + 8, pub, 32);
		b2s(mac1_key, 32, NULL, 0, label, sizeof(label));
	}
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	srandom(getpid());
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = random();
	msg[0] = 1; /* handshake initiation, reserved bytes zero */
	msg[1] = msg[2] = msg[3] = 0;
	t0 = tool_now();
	while (sent + errors < count) {
		t = tool_now() - t0;
		if (t >= max_s)
			break;
		/* paced: no more than pps * t by now */
		if (pps && sent + errors >= (unsigned long)(pps * t) + BATCH) {
			usleep(1000);
			continue;
		}
		for (i = 0; i < BATCH && sent + errors < count; i++) {
			/* a fresh sender index each time, as a real initiation has */
			memcpy(msg + 4, &sent,
			       sizeof(sent) < 4 ? sizeof(sent) : 4);
			if (mac1)
				wg_mac1(msg, mac1_key);
			if (sendto(fd, msg, sizeof(msg), 0,
				   (struct sockaddr *)&ss, sslen) < 0)
				errors++;
			else
				sent++;
		}
	}
	printf("{\"sent\":%lu,\"errors\":%lu,\"seconds\":%.3f}\n", sent, errors,
	       tool_now() - t0);
	close(fd);
	return 0;
}
