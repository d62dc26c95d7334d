// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes decoder (loader/kube_decode.c), watch streams and list
 * documents.  The first byte of the input picks the kind (byte % 5) and
 * the document (watch when (byte / 5) is odd); the second how the rest is
 * cut: chunks of 1 + (byte % 64) bytes, or whole for a multiple of 64.
 * The document is decoded whole and in chunks, as libcurl hands it over:
 * both must give the same objects, the same state and the same result,
 * one of 0, -EINVAL or -ENOMEM; ASan and LeakSanitizer check the rest.
 */
#include <errno.h>

#include "fuzz.h"
#include "kube_dump.h"
#include "log.h"

struct fuzz_got {
	FILE *dump;
	char *text;
	size_t len;
};

static void fuzz_object(void *ctx, enum tpd_kube_event ev,
			struct tpd_kube_object *o)
{
	struct fuzz_got *g = ctx;

	FUZZ_CHECK(o && o->meta.ns && o->meta.name && o->meta.uid &&
			   o->meta.resource_version,
		   "an object without its metadata strings");
	kd_dump_object(g->dump, ev, o);
	tpd_kube_object_free(o);
}

static int fuzz_feed(void *d, const char *piece, size_t n)
{
	return tpd_kube_decoder_feed(d, piece, n);
}

/* Decode @doc in chunks of @chunk; the dump (with the state) in @g. */
static int fuzz_decode(enum tpd_kube_kind kind, enum tpd_kube_doc type,
		       const char *doc, size_t len, size_t chunk,
		       struct fuzz_got *g)
{
	struct tpd_kube_sink sink = { .object = fuzz_object, .ctx = g };
	struct tpd_kube_decoder *d = tpd_kube_decoder_new(kind, type, &sink);
	const struct tpd_kube_decoded *st;
	int ret;

	FUZZ_CHECK(d, "tpd_kube_decoder_new");
	g->dump = open_memstream(&g->text, &g->len);
	FUZZ_CHECK(g->dump, "open_memstream");
	ret = fuzz_feed_chunks(doc, len, chunk, fuzz_feed, d);
	if (!ret)
		ret = tpd_kube_decoder_finish(d);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM,
		   "returned %d (%s)", ret, tpd_kube_decoder_error(d));
	FUZZ_CHECK(!ret || *tpd_kube_decoder_error(d),
		   "an error without a message");
	st = tpd_kube_decoder_state(d);
	FUZZ_CHECK(
		memchr(st->resource_version, 0, sizeof(st->resource_version)) &&
			memchr(st->continue_token, 0,
			       sizeof(st->continue_token)) &&
			memchr(st->error_msg, 0, sizeof(st->error_msg)),
		"unterminated state strings");
	fprintf(g->dump,
		"ret=%d rv=%s cont=%s err=%d %s objects=%lu skipped=%lu\n", ret,
		st->resource_version, st->continue_token, st->error_code,
		st->error_msg, st->objects, st->skipped);
	fclose(g->dump);
	tpd_kube_decoder_free(d);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_got whole = { 0 }, pushed = { 0 };
	enum tpd_kube_kind kind;
	enum tpd_kube_doc type;
	size_t chunk;
	char *doc;
	int ret, ret2;

	if (len < 2)
		return 0;
	tpd_log_min =
		TPD_LOG_ERROR; /* skipped objects are logged as warnings */
	kind = (enum tpd_kube_kind)(data[0] % TPD_KUBE_KIND_MAX);
	type = (data[0] / TPD_KUBE_KIND_MAX) % 2 ? TPD_KUBE_DOC_WATCH
						 : TPD_KUBE_DOC_LIST;
	chunk = fuzz_chunk(data[1], len);
	doc = fuzz_dup(data + 2, len - 2);
	len -= 2;

	ret = fuzz_decode(kind, type, doc, len, len ? len : 1, &whole);
	ret2 = fuzz_decode(kind, type, doc, len, chunk, &pushed);
	FUZZ_CHECK(ret == ret2, "whole: %d, in chunks of %zu: %d", ret, chunk,
		   ret2);
	FUZZ_CHECK(whole.len == pushed.len &&
			   !memcmp(whole.text, pushed.text, whole.len),
		   "whole and in chunks of %zu differ:\n%s\n--\n%s", chunk,
		   whole.text, pushed.text);
	free(whole.text);
	free(pushed.text);
	free(doc);
	return 0;
}
