// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The loader's HTTP/1.1 answer parser (loader/unix_http.c), fed as
 * tpd_uhttp_get() feeds it from the socket.  The first byte of the input
 * chooses how the rest, the answer, is cut (fuzz_chunk()); it is parsed
 * whole and in those pieces, then the close.  Both must end alike (the
 * same error or none, the same status, the same body); an error is
 * always explained and a success never; the body never passes its cap;
 * a complete answer with a Content-Length handed over exactly that many
 * bytes.
 */
#include "fuzz.h"
#include "unix_http.h"

#define FUZZ_BODY_MAX 4096

/* The body as handed over: its length and an FNV-1a hash. */
struct fuzz_body {
	size_t len;
	uint64_t hash;
};

static int fuzz_body_cb(void *arg, int status, const char *data, size_t n)
{
	struct fuzz_body *b = arg;
	size_t i;

	FUZZ_CHECK(status >= 200 && status <= 999, "a body for status %d",
		   status);
	for (i = 0; i < n; i++)
		b->hash = (b->hash ^ (unsigned char)data[i]) * 1099511628211ull;
	b->len += n;
	return 0;
}

static int fuzz_feed(void *r, const char *piece, size_t n)
{
	return tpd_uhttp_resp_feed(r, piece, n);
}

static int fuzz_parse(const char *doc, size_t len, size_t chunk,
		      struct tpd_uhttp_resp *r, struct fuzz_body *b)
{
	int ret;

	b->len = 0;
	b->hash = 14695981039346656037ull;
	tpd_uhttp_resp_init(r, fuzz_body_cb, b, FUZZ_BODY_MAX);
	ret = fuzz_feed_chunks(doc, len, chunk, fuzz_feed, r);
	if (!ret)
		ret = tpd_uhttp_resp_eof(r);
	FUZZ_CHECK(ret == 0 || ret == -EIO || ret == -EFBIG, "returned %d (%s)",
		   ret, r->err);
	FUZZ_CHECK(!ret == !r->err[0], "returned %d, explained \"%s\"", ret,
		   r->err);
	FUZZ_CHECK(b->len == r->body_len && b->len <= FUZZ_BODY_MAX,
		   "%zu body bytes handed over, %zu counted", b->len,
		   r->body_len);
	if (ret)
		return ret;
	FUZZ_CHECK(r->state == TPD_UH_DONE && r->status >= 200,
		   "complete in state %d, status %d", r->state, r->status);
	if (r->has_length && r->status != 204 && r->status != 304)
		FUZZ_CHECK(r->body_len == r->length,
			   "%zu body bytes for a Content-Length of %llu",
			   r->body_len, (unsigned long long)r->length);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct tpd_uhttp_resp whole, cut; /* 8 KiB each: not stacked */
	struct fuzz_body bw, bc;
	size_t chunk;
	char *doc;
	int ret, ret2;

	doc = fuzz_cut_input(data, &len, &chunk);
	if (!doc)
		return 0;
	ret = fuzz_parse(doc, len, len ? len : 1, &whole, &bw);
	ret2 = fuzz_parse(doc, len, chunk, &cut, &bc);
	FUZZ_CHECK(ret == ret2, "whole: %d (%s), in pieces of %zu: %d (%s)",
		   ret, whole.err, chunk, ret2, cut.err);
	FUZZ_CHECK(whole.status == cut.status, "status %d whole, %d in pieces",
		   whole.status, cut.status);
	if (!ret)
		FUZZ_CHECK(bw.len == bc.len && bw.hash == bc.hash,
			   "body of %zu bytes whole, %zu in pieces", bw.len,
			   bc.len);
	free(doc);
	return 0;
}
