// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The WireGuard UAPI "get=1" answer parser (tpd_wg_uapi_parse() in
 * loader/wg_uapi.c): the input is the answer as received, in a buffer of
 * exactly its length (the receiver NUL-terminates it; the parser must not
 * need that).  The list is canonical, or empty on error.
 */
#include <errno.h>

#include "addr.h"
#include "fuzz.h"
#include "peerlist.h"
#include "peers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *text = fuzz_dup(data, len);
	struct tp_peer_list l;
	size_t i;
	int ret;

	ret = tpd_wg_uapi_parse(text, len, &l);
	fuzz_check_peers(&l, ret);
	for (i = 0; i < l.n; i++) {
		FUZZ_CHECK(strlen(l.v[i].key) == TP_WG_KEY_B64_LEN,
			   "peer %zu: key '%s'", i, l.v[i].key);
		FUZZ_CHECK(!l.v[i].name[0] && !l.v[i].user[0] && !l.v[i].n_tags,
			   "peer %zu: Tailscale fields", i);
	}
	tpd_peer_list_free(&l);
	free(text);
	return 0;
}
