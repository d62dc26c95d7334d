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

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/*
 * The input as a file, for parsers that read one: a memfd (made on the
 * first call, rewritten on each) whose /proc/self/fd path is returned.
 */
static inline const char *fuzz_file(const uint8_t *data, size_t len)
{
	static char path[64];
	static int fd = -1;

	if (fd < 0) {
		fd = memfd_create("fuzz_input", MFD_CLOEXEC);
		FUZZ_CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	FUZZ_CHECK(!ftruncate(fd, 0), "ftruncate: %s", strerror(errno));
	FUZZ_CHECK(pwrite(fd, data, len, 0) == (ssize_t)len, "pwrite: %s",
		   strerror(errno));
	return path;
}

/* The cut an input byte asks for: 1 + (byte % 64) bytes, or whole (@len). */
static inline size_t fuzz_chunk(uint8_t byte, size_t len)
{
	return byte % 64 ? (size_t)(byte % 64) : len;
}

/*
 * An input whose first byte chooses how the rest is cut (fuzz_chunk()):
 * the rest in an allocation of its own, its length in *@len (the input's
 * on entry), the cut in *@chunk.  NULL for an empty input.
 */
static inline char *fuzz_cut_input(const uint8_t *data, size_t *len,
				   size_t *chunk)
{
	if (!*len)
		return NULL;
	*chunk = fuzz_chunk(data[0], *len);
	(*len)--;
	return fuzz_dup(data + 1, *len);
}

/*
 * @doc handed to @feed(@parser, piece, n) in pieces of @chunk bytes, as
 * libcurl hands a body over, each piece an allocation of exactly its size
 * so an overread is caught per piece; the first nonzero return stops it
 * and is returned.
 */
static inline int fuzz_feed_chunks(const char *doc, size_t len, size_t chunk,
				   int (*feed)(void *parser, const char *piece,
					       size_t n),
				   void *parser)
{
	size_t off, n;
	char *piece;
	int ret = 0;

	for (off = 0; off < len && !ret; off += n) {
		n = len - off < chunk ? len - off : chunk;
		piece = fuzz_dup(doc + off, n);
		ret = feed(parser, piece, n);
		free(piece);
	}
	return ret;
}

#endif /* TAILPLANE_TESTS_FUZZ_H */
