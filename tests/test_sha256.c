// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of loader/sha256.c: the examples of FIPS 180-4 (and the
 * empty message), messages of every length around the padding's edges
 * (55, 56, 63, 64, 65, 119, 120 bytes), and each of them fed in pieces
 * of every size from 1 to its length, which must not change the digest.
 * The expected digests are Python's hashlib.sha256 of the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sha256.h"

struct vector {
	size_t len;	  /* message length */
	const char *text; /* the message; NULL: tv_bytes() of len */
	const char *hex;  /* its digest */
};

static const struct vector vectors[] = {
	{ 0, "",
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ 3, "abc",
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ 56, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	{ 55, NULL,
	  "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b" },
	{ 56, NULL,
	  "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27" },
	{ 63, NULL,
	  "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055" },
	{ 64, NULL,
	  "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241" },
	{ 65, NULL,
	  "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e" },
	{ 119, NULL,
	  "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e" },
	{ 120, NULL,
	  "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5" },
};

/* byte i of the generated messages: (7i + 3) mod 256 */
static void tv_bytes(uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
}

static void tv_hex(const uint8_t md[TPD_SHA256_LEN], char out[65])
{
	size_t i;

	for (i = 0; i < TPD_SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The digest of @msg fed @piece bytes at a time, as hex. */
static void tv_digest(const uint8_t *msg, size_t len, size_t piece,
		      char out[65])
{
	struct tpd_sha256 s;
	uint8_t md[TPD_SHA256_LEN];
	size_t off, n;

	tpd_sha256_init(&s);
	for (off = 0; off < len; off += n) {
		n = len - off < piece ? len - off : piece;
		tpd_sha256_update(&s, msg + off, n);
	}
	tpd_sha256_final(&s, md);
	tv_hex(md, out);
}

static void test_vectors_in_pieces(void **state)
{
	uint8_t msg[128];
	char hex[65];
	size_t i, piece;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];

		if (v->text)
			memcpy(msg, v->text, v->len);
		else
			tv_bytes(msg, v->len);
		tv_digest(msg, v->len, v->len ? v->len : 1, hex);
		if (strcmp(hex, v->hex))
			fail_msg("%zu bytes: %s, expected %s", v->len, hex,
				 v->hex);
		for (piece = 1; piece < v->len; piece++) {
			tv_digest(msg, v->len, piece, hex);
			if (strcmp(hex, v->hex))
				fail_msg(
					"%zu bytes in pieces of %zu: %s, expected %s",
					v->len, piece, hex, v->hex);
		}
	}
}

/* FIPS 180-4's long example: a million 'a', in pieces of 1000. */
static void test_million_a(void **state)
{
	char piece[1000], hex[65];
	uint8_t md[TPD_SHA256_LEN];
	struct tpd_sha256 s;
	int i;

	(void)state;
	memset(piece, 'a', sizeof(piece));
	tpd_sha256_init(&s);
	for (i = 0; i < 1000; i++)
		tpd_sha256_update(&s, piece, sizeof(piece));
	tpd_sha256_final(&s, md);
	tv_hex(md, hex);
	assert_string_equal(
		hex,
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_in_pieces),
		cmocka_unit_test(test_million_a),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
