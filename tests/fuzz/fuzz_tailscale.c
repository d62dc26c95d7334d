// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Tailscale status parser (loader/tailscale.c).  The first byte of
 * the input chooses how the rest, the document, is cut: chunks of
 * 1 + (byte % 64) bytes, or whole for a multiple of 64.  The document goes
 * to tpd_ts_parse_status() whole and through the push interface
 * (tpd_ts_parser_feed() chunk by chunk, as the HTTP client hands the
 * answer over, then tpd_ts_parser_finish()): both must give the same
 * answer, whatever the cuts, and a list that is canonical, or empty on
 * error.
 */
#include <errno.h>

#include "addr.h"
#include "fuzz.h"
#include "peerlist.h"
#include "peers.h"

static int fuzz_feed(void *p, const char *piece, size_t n)
{
	return tpd_ts_parser_feed(p, piece, n);
}

/* As tpd_ts_fetch_peers() does, with the answer arriving in @chunk bytes. */
static int fuzz_push(const char *doc, size_t len, size_t chunk,
		     struct tp_peer_list *out)
{
	struct tp_ts_parser *p = tpd_ts_parser_new(out);
	int ret;

	FUZZ_CHECK(p, "tpd_ts_parser_new");
	ret = fuzz_feed_chunks(doc, len, chunk, fuzz_feed, p);
	if (!ret)
		ret = tpd_ts_parser_finish(p);
	if (ret)
		tpd_peer_list_free(out);
	tpd_ts_parser_free(p);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tp_peer_list whole, pushed;
	size_t chunk;
	char *doc;
	int ret, ret2;

	doc = fuzz_cut_input(data, &len, &chunk);
	if (!doc)
		return 0;

	ret = tpd_ts_parse_status(doc, len, &whole);
	FUZZ_CHECK(ret == 0 || ret == -EBADMSG || ret == -EPROTO ||
			   ret == -EINVAL || ret == -ENAMETOOLONG ||
			   ret == -ENOMEM,
		   "returned %d (%s)", ret, tpd_peer_last_error());
	fuzz_check_peers(&whole, ret);

	ret2 = fuzz_push(doc, len, chunk, &pushed);
	fuzz_check_peers(&pushed, ret2);
	/* a NUL is refused when its chunk comes: an earlier error may win */
	if (!memchr(doc, '\0', len)) {
		FUZZ_CHECK(ret == ret2, "whole: %d, in chunks of %zu: %d (%s)",
			   ret, chunk, ret2, tpd_peer_last_error());
		fuzz_same_peers(&whole, &pushed);
	} else {
		FUZZ_CHECK(ret == -EBADMSG && ret2, "a NUL: %d, in chunks: %d",
			   ret, ret2);
	}
	tpd_peer_list_free(&whole);
	tpd_peer_list_free(&pushed);
	free(doc);
	return 0;
}
