// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The kernel WireGuard dump parser (tpd_wg_genl_parse_buf() in
 * loader/wg_genl.c).  The first byte of the input says how many receive
 * buffers the rest is cut into: 1 + (byte % 4), cut at message
 * boundaries where the framing allows (any cut where it does not).  Each
 * buffer is parsed in an allocation of its own, aligned as a receive
 * buffer is, and of exactly its size; parsing goes on as tpd_wg_genl_dump()
 * does (until a buffer ends the dump or fails), then the list is made
 * canonical.
 */
#include <errno.h>

#include <linux/netlink.h>

#include "addr.h"
#include "fuzz.h"
#include "peerlist.h"
#include "peers.h"

/* Where the buffer @p of @len bytes would be cut after @want bytes. */
static size_t fuzz_cut(const uint8_t *p, size_t len, size_t want)
{
	size_t off = 0, step;
	__u32 mlen;

	while (off + sizeof(struct nlmsghdr) <= len && off < want) {
		memcpy(&mlen, p + off, sizeof(mlen));
		if (mlen < sizeof(struct nlmsghdr) || mlen > len - off)
			break;
		step = NLMSG_ALIGN(
			(size_t)mlen); /* NLMSG_ALIGN(0xffffffff) is 0 */
		off += step < len - off ? step : len - off;
	}
	return off ? off : (want < len ? want : len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tp_peer_list l = {};
	size_t bufs, off, n, i;
	int ret = 0;
	void *buf;

	if (!len)
		return 0;
	bufs = 1 + data[0] % 4;
	data++;
	len--;
	for (i = 0, off = 0; i < bufs && off < len && !ret; i++, off += n) {
		n = i + 1 == bufs
			    ? len - off
			    : fuzz_cut(data + off, len - off, (len - off) / 2);
		buf = fuzz_dup(data + off,
			       n); /* malloc's alignment, as a receive buffer */
		ret = tpd_wg_genl_parse_buf(buf, n, &l);
		free(buf);
		FUZZ_CHECK(ret >= -4095 && ret <= 1, "returned %d", ret);
		if (ret < 0)
			fuzz_check_reason(ret);
	}
	if (ret >= 0) {
		ret = tpd_peer_list_canonicalize(&l);
		fuzz_check_peers(&l, ret);
		for (i = 0; i < l.n; i++)
			FUZZ_CHECK(strlen(l.v[i].key) == TP_WG_KEY_B64_LEN,
				   "peer %zu: key '%s'", i, l.v[i].key);
	}
	tpd_peer_list_free(&l);
	return 0;
}
