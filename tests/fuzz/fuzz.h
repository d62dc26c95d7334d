/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers of the libFuzzer targets (tests/fuzz/fuzz_*.c).  Each target
 * feeds its input to one parser as that parser's callers do, and checks
 * what the parser promises beyond not crashing (an empty list on error,
 * a value that formats and parses back the same): a broken promise
 * aborts, which libFuzzer reports as a crash with its input.
 */
#ifndef TAILPLANE_TESTS_FUZZ_H
#define TAILPLANE_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Abort with a message when @cond does not hold. */
#define FUZZ_CHECK(cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* @data as a C string of its own allocation (up to a NUL it may hold). */
static inline char *fuzz_cstr(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);

	if (!s)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* @len bytes of @data in an allocation of exactly that size (never NULL). */
static inline void *fuzz_dup(const void *data, size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p)
		abort();
	memcpy(p, data, len);
	return p;
}

#endif /* TAILPLANE_TESTS_FUZZ_H */
