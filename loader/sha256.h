/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef TPD_SHA256_H
#define TPD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define TPD_SHA256_LEN 32

/* SHA-256 (FIPS 180-4) in pieces: init, any number of updates, final. */
struct tpd_sha256 {
	uint32_t h[8];
	uint64_t bytes;	   /* message length so far */
	uint8_t block[64]; /* the block being filled */
	size_t fill;	   /* its bytes so far */
};

void tpd_sha256_init(struct tpd_sha256 *s);
void tpd_sha256_update(struct tpd_sha256 *s, const void *data, size_t len);
void tpd_sha256_final(struct tpd_sha256 *s, uint8_t md[TPD_SHA256_LEN]);

#endif
