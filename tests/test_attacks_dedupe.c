// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A hostile review of the shared IPv6 extension-header test
 * (tp_ipv6_is_exthdr(), walked by the parser and by the XDP guard):
 * chains of every header kind up to and past TP_IPV6_EXTHDR_MAX, and the
 * guard's "hidden upper layer" rule, which charges a packet whose UDP
 * header it cannot reach (more than TP_IPV6_EXTHDR_MAX headers, or past
 * TP_GUARD_L4_MAX bytes) as if it were a handshake, and lets later
 * fragments pass uncharged.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "guard.h"
#include "rowtest.h"

#define XDP_DROP_V 1
#define XDP_PASS_V 2
#define GUARD_DST  "fd00:198:18::1"
#define WG_PORT	   51820

/* Extension header kinds, as the chains below spell them. */
enum eh {
	EH_END, /* ends a chain */
	HOP,
	DST,
	RT,
	AH,
	FR1, /* fragment header: first fragment (offset 0, M) */
	FRL, /* fragment header: a later fragment (offset 100) */
	FRA, /* fragment header: atomic (offset 0, no M) */
	BIG, /* destination options, 256 bytes */
};

#define DST8 DST, DST, DST, DST, DST, DST, DST, DST

/* Write extension header @k naming @next at @b; returns its length. */
static size_t eh_put(__u8 *b, enum eh k, __u8 next)
{
	size_t len = k == AH ? 24 : k == BIG ? 256 : 8;

	memset(b, 0, len);
	b[0] = next;
	switch (k) {
	case AH:
		b[1] = len / 4 - 2;
		break;
	case FR1:
	case FRL:
	case FRA:
		/* offset << 3 | M */
		b[2] = k == FRL ? 0x03 : 0;
		b[3] = k == FRL ? 0x21 : k == FR1 ? 0x01 : 0;
		b[7] = 7;
		break;
	case RT:
		break; /* type 0, segments left 0 */
	default:
		b[1] = len / 8 - 1;
		b[2] = 1; /* one PadN over the rest */
		b[3] = len - 4;
	}
	return len;
}

static __u8 eh_type(enum eh k)
{
	switch (k) {
	case HOP:
		return 0;
	case RT:
		return 43;
	case AH:
		return 51;
	case FR1:
	case FRL:
	case FRA:
		return 44;
	default:
		return 60;
	}
}

/*
 * An IPv6 packet @src -> @dst (Ethernet first when @l2) whose chain @c
 * ends in @proto: UDP from port 40000 to @dport with a WireGuard
 * initiation as its payload, or 16 bytes of anything else.
 */
static size_t build(__u8 *b, int l2, const char *src, const char *dst,
		    const enum eh *c, __u8 proto, __u16 dport)
{
	size_t ip = l2 ? 14 : 0, off = ip + 40, l4;
	__u8 *nh = b + ip + 6;

	memset(b, 0, off);
	if (l2) {
		static const __u8 dmac[6] = PKT_ETH_DST, smac[6] = PKT_ETH_SRC;

		memcpy(b, dmac, 6);
		memcpy(b + 6, smac, 6);
		*(__be16 *)(b + 12) = htons(0x86dd);
	}
	b[ip] = 0x60;
	b[ip + 7] = 64;
	assert_int_equal(inet_pton(AF_INET6, src, b + ip + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, b + ip + 24), 1);
	for (; *c != EH_END; c++) {
		*nh = eh_type(*c);
		nh = b + off;
		off += eh_put(b + off, *c, 0);
	}
	*nh = proto;
	l4 = proto == IPPROTO_UDP ? 8 + TP_WG_INITIATION_LEN : 16;
	memset(b + off, 0xab, l4);
	if (proto == IPPROTO_UDP) {
		*(__be16 *)(b + off) = htons(40000);
		*(__be16 *)(b + off + 2) = htons(dport);
		*(__be16 *)(b + off + 4) = htons(l4);
		memset(b + off + 6, 0, 6); /* no checksum; type 1, reserved */
		b[off + 8] = TP_WG_MSG_INITIATION;
	}
	off += l4;
	*(__be16 *)(b + ip + 4) = htons(off - ip - 40);
	return off;
}

/**
 * struct chain_row - a chain of extension headers and what it must do.
 * @name:  the row's name.
 * @chain: its extension headers, EH_END last.
 * @proto: the upper layer after them.
 * @hit:   guard rows: the guard takes a token for it (a handshake it
 *         found, or an upper layer it could not reach); parser rows:
 *         dropped for TP_DROP_EXTHDR_LIMIT.
 */
struct chain_row {
	const char *name;
	enum eh chain[12];
	__u8 proto;
	bool hit;
};

static const struct chain_row guard_rows[] = {
	{ "no headers", { EH_END }, UDP, true },
	{ "one of each walked", { HOP, DST, RT, AH, FRA, EH_END }, UDP, true },
	{ "the limit, UDP after it", { DST8, EH_END }, UDP, true },
	{ "the limit, ESP after it", { DST8, EH_END }, 50, false },
	{ "the limit, no next header", { DST8, EH_END }, 59, false },
	{ "one past the limit: dest", { DST8, DST, EH_END }, 50, true },
	{ "one past the limit: hop", { DST8, HOP, EH_END }, 50, true },
	{ "one past the limit: routing", { DST8, RT, EH_END }, 50, true },
	{ "one past the limit: AH", { DST8, AH, EH_END }, 50, true },
	{ "one past the limit: fragment", { DST8, FR1, EH_END }, 50, true },
	{ "one past the limit: atomic", { DST8, FRA, EH_END }, 50, true },
	{ "one past the limit: later", { DST8, FRL, EH_END }, 50, true },
	{ "past TP_GUARD_L4_MAX", { BIG, BIG, EH_END }, 50, true },
	{ "short of TP_GUARD_L4_MAX", { BIG, DST, EH_END }, 50, false },
	{ "first fragment", { FR1, EH_END }, UDP, true },
	{ "later fragment", { FRL, EH_END }, UDP, false },
	{ "later fragment, then a fragment header",
	  { FRL, FR1, EH_END },
	  UDP,
	  false },
	{ "later fragment, then dest", { FRL, DST, EH_END }, UDP, false },
	{ "later fragment, then AH", { FRL, AH, EH_END }, UDP, false },
	{ "later fragment last of the limit",
	  { DST, DST, DST, DST, DST, DST, DST, FRL, EH_END },
	  UDP,
	  false },
};

/*
 * Each row from its own source, the bucket one token deep: a charged
 * packet passes once and is dropped the second time, an uncharged one
 * passes both times and moves no counter.
 */
static void test_guard_chain(void **state)
{
	static const __u16 ports[] = { WG_PORT };
	const struct chain_row *r = rt_row();
	struct th *h = *state;
	struct tp_guard_config c = {};
	char src[64];
	__u8 pkt[1024];
	size_t len;

	REQUIRE_BPF();
	assert_int_equal(tp_guard_ports_set(&c, ports, 1), 0);
	assert_int_equal(tp_guard_config_fill(&c, 1, 1), 0);
	assert_int_equal(tp_guard_config_put(&h->maps, &c), 0);
	snprintf(src, sizeof(src), "fd00:198:18::9:%x",
		 (unsigned int)(r - guard_rows) + 1);
	len = build(pkt, 1, src, GUARD_DST, r->chain, r->proto, WG_PORT);
	assert_int_equal(pt_xdp_run(h, pkt, len), XDP_PASS_V);
	assert_int_equal(pt_xdp_run(h, pkt, len),
			 r->hit ? XDP_DROP_V : XDP_PASS_V);
	assert_int_equal(th_stat(h, TP_STAT_GUARD_PASS), r->hit);
	assert_int_equal(th_stat(h, TP_STAT_GUARD_RATE_LIMITED), r->hit);
}

static const struct chain_row parse_rows[] = {
	{ "the limit: dest", { DST8, EH_END }, UDP, false },
	{ "the limit ending in each kind",
	  { DST, DST, HOP, RT, AH, FRA, BIG, FR1, EH_END },
	  UDP,
	  false },
	{ "the limit, ESP after it", { DST8, EH_END }, 50, false },
	{ "the limit, no next header", { DST8, EH_END }, 59, false },
	{ "one past: dest", { DST8, DST, EH_END }, UDP, true },
	{ "one past: hop", { DST8, HOP, EH_END }, UDP, true },
	{ "one past: routing", { DST8, RT, EH_END }, UDP, true },
	{ "one past: AH", { DST8, AH, EH_END }, UDP, true },
	{ "one past: fragment", { DST8, FR1, EH_END }, UDP, true },
	{ "one past: atomic", { DST8, FRA, EH_END }, UDP, true },
	{ "one past: later", { DST8, FRL, EH_END }, UDP, true },
	/* after a later fragment's header comes payload, not headers */
	{ "later fragment, then dest", { FRL, DST8, DST, EH_END }, UDP, false },
};

/* Both directions through the tailnet device: limit drop or none. */
static void test_parse_chain(void **state)
{
	const struct chain_row *r = rt_row();
	struct th *h = *state;
	__u8 pkt[1024], out[4096];
	size_t len, out_len;
	int hook, verdict;

	REQUIRE_BPF();
	for (hook = TH_FROM_TAILNET; hook <= TH_TO_TAILNET; hook++) {
		__u64 before = pt_drops(h, TP_DROP_EXTHDR_LIMIT);

		len = build(pkt, 0, hook == TH_FROM_TAILNET ? CLIENT6 : BE6[0],
			    hook == TH_FROM_TAILNET ? BE6[0] : CLIENT6,
			    r->chain, r->proto, 80);
		assert_int_equal(th_run(h, hook, h->l3_ifindex, pkt, len, out,
					&out_len, &verdict),
				 0);
		assert_int_equal(pt_drops(h, TP_DROP_EXTHDR_LIMIT) - before,
				 r->hit);
		if (r->hit)
			assert_int_equal(verdict, DROP);
	}
}

#define N_GUARD (sizeof(guard_rows) / sizeof(guard_rows[0]))
#define N_PARSE (sizeof(parse_rows) / sizeof(parse_rows[0]))

int main(void)
{
	struct CMUnitTest tests[N_GUARD + N_PARSE];
	size_t i;

	for (i = 0; i < N_GUARD; i++)
		tests[i] = (struct CMUnitTest)RT_TEST(guard_rows, i,
						      test_guard_chain);
	for (i = 0; i < N_PARSE; i++)
		tests[N_GUARD + i] = (struct CMUnitTest)RT_TEST(
			parse_rows, i, test_parse_chain);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
