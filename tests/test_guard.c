// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet tests of tp_xdp_guard (bpf/lib/guard.h) through BPF_PROG_TEST_RUN
 * on XDP: the drop list (v4, v6, longest prefix), what passes untouched
 * (other ports, other protocols, data, later fragments, truncated
 * headers), and the per-source token bucket at its edges, with the
 * datapath's clock fixed (tp_clock_ns) so refills are exact.  The guard's
 * configuration is written through lib/guard.c as tpctl and the loader
 * write it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <net/if.h>

#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "config.h"
#include "guard.h"
#include "pkttest.h"
#include "sync.h"
#include "xdp.h"

#define XDP_DROP_V 1
#define XDP_PASS_V 2

#define NODE4	  "198.18.0.1"
#define NODE6	  "fd00:198:18::1"
#define ATTACKER4 "198.18.9.9"
#define PEER4	  "198.18.7.7"
#define ATTACKER6 "fd00:198:18::9:9"
#define WG_PORT	  51820
#define TS_PORT	  41641

/* A UDP payload of WireGuard message @type, @len bytes. */
static void wg_payload(__u8 *buf, __u8 type, size_t len)
{
	memset(buf, 0xab, len);
	if (len >= 4) {
		buf[0] = type;
		buf[1] = buf[2] = buf[3] = 0;
	}
}

/* An Ethernet frame: UDP @src -> @dst:@dport carrying a WireGuard message. */
static void wg_frame(struct pkt *p, const char *src, const char *dst,
		     __u16 dport, __u8 type, size_t len)
{
	static __u8 payload[2048];
	struct pkt_spec s = {
		.l2 = 1,
		.family = pt_family_of(src),
		.saddr = src,
		.daddr = dst,
		.proto = IPPROTO_UDP,
		.sport = 40000,
		.dport = dport,
		.payload = payload,
		.payload_len = len,
	};

	wg_payload(payload, type, len);
	pt_build(&s, p);
}

static void initiation(struct pkt *p, const char *src)
{
	wg_frame(p, src, pt_family_of(src) == AF_INET6 ? NODE6 : NODE4, WG_PORT,
		 TP_WG_MSG_INITIATION, TP_WG_INITIATION_LEN);
}

static int xdp_run(struct th *h, const struct pkt *p)
{
	return pt_xdp_run(h, p->data, p->len);
}

/* The guard as the loader configures it, with @rate and @burst. */
static void guard_config(struct th *h, __u32 rate, __u32 burst)
{
	static const __u16 ports[] = { WG_PORT, TS_PORT };
	struct tp_guard_config c = {};

	assert_int_equal(tp_guard_ports_set(&c, ports, 2), 0);
	assert_int_equal(tp_guard_config_fill(&c, rate, burst), 0);
	assert_int_equal(tp_guard_config_put(&h->maps, &c), 0);
}

static void drop_add(struct th *h, const char *cidr)
{
	struct tp_addr a;
	unsigned int plen;

	assert_int_equal(tp_prefix_parse(cidr, &a, &plen), 0);
	assert_int_equal(tp_guard_drop_add(&h->maps, &a, plen, TP_OWNER_TPCTL),
			 0);
}

static void drop_del(struct th *h, const char *cidr)
{
	struct tp_addr a;
	unsigned int plen;

	assert_int_equal(tp_prefix_parse(cidr, &a, &plen), 0);
	assert_int_equal(tp_guard_drop_del(&h->maps, &a, plen, TP_OWNER_NONE),
			 0);
}

static __u64 g_pass(struct th *h)
{
	return th_stat(h, TP_STAT_GUARD_PASS);
}

static __u64 g_listed(struct th *h)
{
	return th_stat(h, TP_STAT_GUARD_LISTED);
}

static __u64 g_limited(struct th *h)
{
	return th_stat(h, TP_STAT_GUARD_RATE_LIMITED);
}

/* A TCP frame from @src, any port. */
static void tcp_frame(struct pkt *p, const char *src, __u16 dport)
{
	struct pkt_spec s = pt_flow(
		src, 1234, pt_family_of(src) == AF_INET6 ? NODE6 : NODE4, dport,
		IPPROTO_TCP, PKT_TCP_SYN);

	s.l2 = 1;
	pt_build(&s, p);
}

static void test_list_hit_v4(void **state)
{
	struct th *h = *state;
	struct pkt p;

	REQUIRE_BPF();
	guard_config(h, 0, 0);
	drop_add(h, "198.18.9.0/24");
	/* every IP packet of a listed source, not only handshakes */
	tcp_frame(&p, ATTACKER4, 22);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	initiation(&p, ATTACKER4);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	assert_int_equal(g_listed(h), 2);
	/* next door is not listed */
	tcp_frame(&p, "198.18.10.9", 22);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(g_listed(h), 2);
	assert_int_equal(g_pass(h), 0);
}

static void test_list_hit_v6(void **state)
{
	struct th *h = *state;
	struct pkt p;

	REQUIRE_BPF();
	drop_add(h, "fd00:198:18::9:0/112");
	tcp_frame(&p, ATTACKER6, 443);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	initiation(&p, ATTACKER6);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	tcp_frame(&p, "fd00:198:18::8:9", 443);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(g_listed(h), 2);
}

/* An empty list, and v4 and v6 prefixes that share bits, never alias. */
static void test_list_miss(void **state)
{
	struct th *h = *state;
	struct pkt p;

	REQUIRE_BPF();
	tcp_frame(&p, ATTACKER4, 22);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	/* ::c612:909 has 198.18.9.9's low 32 bits, but not the v4-mapped prefix */
	drop_add(h, "::c612:900/120");
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	drop_add(h, "fd00:198:18::/48");
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(g_listed(h), 0);
}

static void test_list_longest_prefix(void **state)
{
	struct th *h = *state;
	struct pkt lo, hi;

	REQUIRE_BPF();
	tcp_frame(&lo, "198.18.9.1", 22);
	tcp_frame(&hi, "198.18.9.129", 22);
	drop_add(h, "198.18.9.0/24");
	drop_add(h, "198.18.9.128/25");
	assert_int_equal(xdp_run(h, &lo), XDP_DROP_V);
	assert_int_equal(xdp_run(h, &hi), XDP_DROP_V);
	/* the /24 goes: only the /25 is left */
	drop_del(h, "198.18.9.0/24");
	assert_int_equal(xdp_run(h, &lo), XDP_PASS_V);
	assert_int_equal(xdp_run(h, &hi), XDP_DROP_V);
	/* a /32 inside it, then the /25 goes: only the /32 */
	drop_add(h, "198.18.9.130/32");
	drop_del(h, "198.18.9.128/25");
	assert_int_equal(xdp_run(h, &hi), XDP_PASS_V);
	tcp_frame(&hi, "198.18.9.130", 22);
	assert_int_equal(xdp_run(h, &hi), XDP_DROP_V);
	assert_int_equal(g_listed(h), 4);
}

/* Empty the source's bucket: @burst handshakes pass, the next drops. */
static void exhaust(struct th *h, const char *src, __u32 burst)
{
	struct pkt p;
	__u32 i;

	initiation(&p, src);
	for (i = 0; i < burst; i++)
		assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
}

/* The guard at @rate and @burst, and ATTACKER4 past its burst (limited). */
static void attacker_limited(struct th *h, __u32 rate, __u32 burst)
{
	guard_config(h, rate, burst);
	exhaust(h, ATTACKER4, burst);
}

static void test_other_port_passes(void **state)
{
	struct th *h = *state;
	struct pkt p;

	REQUIRE_BPF();
	attacker_limited(h, 1, 2);
	/* the same source, a handshake to a port that is not guarded */
	wg_frame(&p, ATTACKER4, NODE4, 51821, TP_WG_MSG_INITIATION,
		 TP_WG_INITIATION_LEN);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	/* the second guarded port shares the source's bucket */
	wg_frame(&p, ATTACKER4, NODE4, TS_PORT, TP_WG_MSG_INITIATION,
		 TP_WG_INITIATION_LEN);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	assert_int_equal(g_pass(h), 2);
	assert_int_equal(g_limited(h), 2);
}

static void test_non_udp_passes(void **state)
{
	struct th *h = *state;
	struct pkt p;
	struct pkt_spec s = { .l2 = 1,
			      .family = AF_INET,
			      .saddr = ATTACKER4,
			      .daddr = NODE4,
			      .proto = IPPROTO_ICMP,
			      .icmp_type = 8,
			      .icmp_id = 1 };
	static const __u8 arp[60] = { [12] = 0x08, [13] = 0x06 };

	REQUIRE_BPF();
	attacker_limited(h, 1, 1);
	tcp_frame(&p, ATTACKER4, WG_PORT);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	pt_build(&s, &p);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(pt_xdp_run(h, arp, sizeof(arp)), XDP_PASS_V);
	assert_int_equal(g_pass(h), 1);
	assert_int_equal(g_limited(h), 1);
}

/* Data (type 4) and messages of no handshake shape are never limited. */
static void test_data_not_limited(void **state)
{
	struct th *h = *state;
	struct pkt p;
	int i;

	REQUIRE_BPF();
	attacker_limited(h, 1, 1);
	wg_frame(&p, ATTACKER4, NODE4, WG_PORT, TP_WG_MSG_DATA, 32 + 1280);
	for (i = 0; i < 100; i++)
		assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	/* an initiation of the wrong length: WireGuard drops it unread */
	wg_frame(&p, ATTACKER4, NODE4, WG_PORT, TP_WG_MSG_INITIATION, 149);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	/* a response and a cookie reply are handshakes too */
	wg_frame(&p, ATTACKER4, NODE4, WG_PORT, TP_WG_MSG_RESPONSE,
		 TP_WG_RESPONSE_LEN);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	wg_frame(&p, ATTACKER4, NODE4, WG_PORT, TP_WG_MSG_COOKIE_REPLY,
		 TP_WG_COOKIE_REPLY_LEN);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	/* reserved bytes set: no WireGuard message */
	wg_frame(&p, ATTACKER4, NODE4, WG_PORT, TP_WG_MSG_INITIATION,
		 TP_WG_INITIATION_LEN);
	p.data[p.len - TP_WG_INITIATION_LEN + 1] = 1;
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(g_pass(h), 1);
	assert_int_equal(g_limited(h), 3);
}

/*
 * Headers cut short pass uncounted: the stack drops them.  The guard
 * never reads past the frame (the verifier sees to it); these check it
 * decides instead of failing.
 */
static void test_truncated(void **state)
{
	struct th *h = *state;
	struct pkt p;
	size_t l4 = 14 + 20, cut[] = { 14, 14 + 19, l4 + 7 };
	size_t i;

	REQUIRE_BPF();
	attacker_limited(h, 1, 1);
	initiation(&p, ATTACKER4);
	/* Ethernet only, the IPv4 header cut, the UDP header cut */
	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++)
		assert_int_equal(pt_xdp_run(h, p.data, cut[i]), XDP_PASS_V);
	/* the message type cut: a handshake's length, charged as one */
	assert_int_equal(pt_xdp_run(h, p.data, l4 + 10), XDP_DROP_V);
	initiation(&p, ATTACKER6);
	assert_int_equal(pt_xdp_run(h, p.data, 14 + 39), XDP_PASS_V);
	/* IHL < 5 */
	initiation(&p, ATTACKER4);
	p.data[14] = 0x44;
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(g_limited(h), 2);
	assert_int_equal(g_pass(h), 1);
}

/*
 * The bucket at its edges, with the clock fixed: exactly burst handshakes
 * from a new source, then none until one token's time has passed to the
 * nanosecond, and never more than burst however long it waited.
 */
static void test_rate_edges(void **state)
{
	struct th *h = *state;
	struct pkt p;
	__u64 t = T0;
	int i;

	REQUIRE_BPF();
	attacker_limited(h, 10, 5); /* a token per 100 ms */
	initiation(&p, ATTACKER4);
	t += 100 * 1000000ULL - 1;
	th_set_clock(h, t);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	/* the drop spent nothing: 1 ns more and a token is there, one */
	t += 1;
	th_set_clock(h, t);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	t += 100 * 1000000ULL;
	th_set_clock(h, t);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	/* an hour later: a full bucket, not 36,000 tokens */
	t += 3600 * SEC_NS;
	th_set_clock(h, t);
	for (i = 0; i < 5; i++)
		assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	assert_int_equal(g_pass(h), 12);
	assert_int_equal(g_limited(h), 5);
}

/* The drop in the middle above: counted from its own time, not earlier. */
static void test_drop_refills_from_now(void **state)
{
	struct th *h = *state;
	struct tp_guard_bucket b;
	struct tp_addr src = pt_addr(ATTACKER4);

	REQUIRE_BPF();
	attacker_limited(h, 1, 3);
	assert_int_equal(bpf_map_lookup_elem(h->maps.guard_buckets, &src, &b),
			 0);
	assert_int_equal(b.last_ns, T0);
	assert_true(b.credit_ns < SEC_NS);
	/* the refill runs from the bucket's time: write it back by 2 tokens */
	b.last_ns -= 2 * SEC_NS;
	assert_int_equal(
		bpf_map_update_elem(h->maps.guard_buckets, &src, &b, BPF_EXIST),
		0);
	exhaust(h, ATTACKER4, 2);
}

static void test_second_source_unaffected(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	attacker_limited(h, 1, 4);
	exhaust(h, PEER4, 4);
	exhaust(h, ATTACKER6, 4);
	assert_int_equal(g_pass(h), 12);
	assert_int_equal(g_limited(h), 3);
}

static void test_rate_changed_live(void **state)
{
	struct th *h = *state;
	struct pkt p;
	int i;

	REQUIRE_BPF();
	attacker_limited(h, 1, 2);
	initiation(&p, ATTACKER4);
	/* no limit: the list alone */
	assert_int_equal(tp_guard_rate_set(&h->maps, 0, 0), 0);
	for (i = 0; i < 50; i++)
		assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	/* a limit again, a faster one: the old bucket refills at the new rate */
	assert_int_equal(tp_guard_rate_set(&h->maps, 1000, 3), 0);
	th_set_clock(h, T0 + 2 * 1000000ULL); /* 2 tokens at 1000/s */
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	/* a smaller burst caps credit already held */
	th_set_clock(h, T0 + 1000 * 1000000ULL);
	assert_int_equal(tp_guard_rate_set(&h->maps, 1000, 1), 0);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	/* the ports went: nothing is guarded */
	{
		struct tp_guard_config c;

		assert_int_equal(tp_guard_config_get(&h->maps, &c), 0);
		assert_int_equal(tp_guard_ports_set(&c, NULL, 0), 0);
		assert_int_equal(tp_guard_config_put(&h->maps, &c), 0);
	}
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
}

/*
 * What could slip a handshake past the guard: a first fragment whose
 * message type is in the next fragment (charged by its length), and
 * IPv6 extension headers before the UDP header (walked).
 */
static void test_fragments_and_exthdrs(void **state)
{
	struct th *h = *state;
	struct pkt whole, frag;
	struct pkt_spec s;
	static __u8 payload[TP_WG_INITIATION_LEN];
	size_t l4 = 14 + 20;

	REQUIRE_BPF();
	attacker_limited(h, 1, 1);
	initiation(&whole, ATTACKER4);
	/* first fragment: the UDP header only; then the rest */
	assert_int_equal(pkt_fragment(&whole, 0, 8, 1, 7, &frag), 0);
	assert_int_equal(frag.len, l4 + 8);
	assert_int_equal(xdp_run(h, &frag), XDP_DROP_V);
	assert_int_equal(
		pkt_fragment(&whole, 8, TP_WG_INITIATION_LEN, 0, 7, &frag), 0);
	assert_int_equal(xdp_run(h, &frag), XDP_PASS_V);

	wg_payload(payload, TP_WG_MSG_INITIATION, sizeof(payload));
	s = (struct pkt_spec){ .l2 = 1,
			       .family = AF_INET6,
			       .saddr = ATTACKER6,
			       .daddr = NODE6,
			       .proto = IPPROTO_UDP,
			       .sport = 1,
			       .dport = WG_PORT,
			       .payload = payload,
			       .payload_len = sizeof(payload),
			       .exthdr = { 0, 60, 43, 44 },
			       .n_exthdr = 4 };
	pt_build(&s, &whole);
	assert_int_equal(xdp_run(h, &whole), XDP_PASS_V);
	assert_int_equal(xdp_run(h, &whole), XDP_DROP_V);
	assert_int_equal(g_limited(h), 3);
}

/* ---- the loader: configuration, sync, attach ------------------------------- */

#define GCFG_IF "{\"interfaces\":[{\"name\":\"up0\",\"kind\":\"uplink\"}]"

static void test_config_guard_defaults(void **state)
{
	struct tpd_config cfg;
	char err[256] = "";

	(void)state;
	/* no section: no guard (nothing attaches on an upgrade by surprise) */
	assert_int_equal(tpd_config_parse(GCFG_IF "}", &cfg, err, sizeof(err)),
			 0);
	assert_false(cfg.guard.enabled);
	assert_int_equal(cfg.capacity[TPD_CAP_GUARD_SOURCES],
			 TP_GUARD_BUCKETS_SIZE);
	assert_int_equal(cfg.capacity[TPD_CAP_GUARD_PREFIXES],
			 TP_GUARD_DROP_SIZE);
	tpd_config_free(&cfg);
	/* a section: on, with the defaults */
	assert_int_equal(tpd_config_parse(GCFG_IF ",\"guard\":{}}", &cfg, err,
					  sizeof(err)),
			 0);
	assert_true(cfg.guard.enabled);
	assert_int_equal(cfg.guard.mode, TPD_XDP_AUTO);
	assert_int_equal(cfg.guard.n_ports, 2);
	assert_int_equal(cfg.guard.ports[0], 51820);
	assert_int_equal(cfg.guard.ports[1], 41641);
	assert_int_equal(cfg.guard.rate, TP_GUARD_RATE_DEFAULT);
	assert_int_equal(cfg.guard.burst, TP_GUARD_BURST_DEFAULT);
	assert_int_equal(cfg.guard.n_drop, 0);
	tpd_config_free(&cfg);
}

static void test_config_guard_full(void **state)
{
	struct tpd_config cfg;
	char err[256] = "";

	(void)state;
	assert_int_equal(
		tpd_config_parse(
			GCFG_IF
			",\"guard\":{\"enabled\":true,\"mode\":\"generic\","
			"\"ports\":[51820,51821,41641],\"rate\":0,\"burst\":7,"
			"\"drop\":[\"198.18.9.0/24\",\"fd00:198:18::9:0/112\"]},"
			"\"capacity\":{\"guard_sources\":4096,"
			"\"guard_prefixes\":64}}",
			&cfg, err, sizeof(err)),
		0);
	assert_int_equal(cfg.guard.mode, TPD_XDP_GENERIC);
	assert_int_equal(cfg.guard.n_ports, 3);
	assert_int_equal(cfg.guard.ports[1], 51821);
	assert_int_equal(cfg.guard.rate, 0);
	assert_int_equal(cfg.guard.burst, 7);
	assert_int_equal(cfg.guard.n_drop, 2);
	assert_int_equal(cfg.guard.drop[0].plen, 96 + 24);
	assert_int_equal(cfg.guard.drop[1].plen, 112);
	assert_int_equal(cfg.capacity[TPD_CAP_GUARD_SOURCES], 4096);
	tpd_config_free(&cfg);
	/* off, and no port: the list alone when on */
	assert_int_equal(
		tpd_config_parse(GCFG_IF
				 ",\"guard\":{\"enabled\":false,\"ports\":[]}}",
				 &cfg, err, sizeof(err)),
		0);
	assert_false(cfg.guard.enabled);
	assert_int_equal(cfg.guard.n_ports, 0);
	tpd_config_free(&cfg);
}

/* Every bad value is refused whole, and the error names its key. */
static void test_config_guard_errors(void **state)
{
	static const struct {
		const char *guard;
		const char *want;
	} cases[] = {
		{ "[]", "guard: expected an object" },
		{ "{\"rates\":1}", "guard: unknown key 'rates'" },
		{ "{\"enabled\":1}", "guard.enabled: expected true or false" },
		{ "{\"mode\":\"offload\"}",
		  "guard.mode: 'offload': expected auto, native or generic" },
		{ "{\"ports\":51820}",
		  "guard.ports: expected an array of ports" },
		{ "{\"ports\":[0]}",
		  "guard.ports[0]: 0 out of range 1..65535" },
		{ "{\"ports\":[51820,\"x\"]}",
		  "guard.ports[1]: expected a port number" },
		{ "{\"ports\":[1,2,3,4,5,6,7,8,9]}",
		  "guard.ports: 9 ports, at most 8" },
		{ "{\"ports\":[51820,51820]}",
		  "guard.ports[1]: 51820 is guard.ports[0] already" },
		{ "{\"rate\":10000001}",
		  "guard.rate: 10000001 out of range 0..10000000" },
		{ "{\"rate\":-1}", "guard.rate: -1 out of range" },
		{ "{\"burst\":0}", "guard.burst: 0 out of range 1..1000000" },
		{ "{\"drop\":\"1.2.3.4\"}",
		  "guard.drop: expected an array of prefixes" },
		{ "{\"drop\":[\"1.2.3.4/33\"]}",
		  "guard.drop[0]: '1.2.3.4/33' is not a prefix" },
		{ "{\"drop\":[7]}", "guard.drop[0]: expected a prefix" },
		{ "{\"drop\":[\"198.18.9.1/24\"]}",
		  "guard.drop[0]: '198.18.9.1/24' has bits set past its length (did you mean 198.18.9.0/24?)" },
		{ "{\"drop\":[\"198.18.9.0/24\",\"198.18.9.0/24\"]}",
		  "guard.drop[1]: '198.18.9.0/24' is guard.drop[0] already" },
	};
	char json[512], err[256];
	struct tpd_config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json), GCFG_IF ",\"guard\":%s}",
			 cases[i].guard);
		err[0] = 0;
		if (!tpd_config_parse(json, &cfg, err, sizeof(err)))
			fail_msg("accepted: %s", json);
		if (strncmp(err, cases[i].want, strlen(cases[i].want)))
			fail_msg("%s: error '%s', want '%s'", json, err,
				 cases[i].want);
		tpd_config_free(&cfg);
	}
	/* more prefixes than the list holds */
	snprintf(
		json, sizeof(json),
		GCFG_IF
		",\"capacity\":{\"guard_prefixes\":16},\"guard\":"
		"{\"drop\":[\"10.0.0.0/32\",\"10.0.0.1/32\",\"10.0.0.2/32\",\"10.0.0.3/32\","
		"\"10.0.0.4/32\",\"10.0.0.5/32\",\"10.0.0.6/32\",\"10.0.0.7/32\",\"10.0.0.8/32\","
		"\"10.0.0.9/32\",\"10.0.0.10/32\",\"10.0.0.11/32\",\"10.0.0.12/32\","
		"\"10.0.0.13/32\",\"10.0.0.14/32\",\"10.0.0.15/32\",\"10.0.0.16/32\"]}}");
	assert_int_not_equal(tpd_config_parse(json, &cfg, err, sizeof(err)), 0);
	if (!strstr(err, "guard.drop: 17 prefixes, more than the 16"))
		fail_msg("error '%s'", err);
	tpd_config_free(&cfg);
}

/* The static sync: the section's values, its own prefixes, no one else's. */
static void test_guard_sync(void **state)
{
	struct th *h = *state;
	struct tpd_sync_result res = {};
	struct tp_guard_config c;
	struct tp_guard_row *rows;
	struct tpd_config cfg;
	char err[256] = "";
	size_t n;

	REQUIRE_BPF();
	drop_add(h, "198.18.5.0/24"); /* tpctl's */
	drop_add(h,
		 "198.18.6.0/24"); /* tpctl's, and also in the configuration */
	assert_int_equal(
		tpd_config_parse(
			GCFG_IF
			",\"guard\":{\"rate\":3,\"burst\":9,"
			"\"drop\":[\"198.18.6.0/24\",\"198.18.7.0/24\"]}}",
			&cfg, err, sizeof(err)),
		0);
	assert_int_equal(tpd_guard_sync(&h->maps, &cfg, &res), 0);
	assert_int_equal(res.added, 1);
	assert_int_equal(res.conflicts, 1);
	assert_int_equal(res.changed, 1);
	assert_int_equal(tp_guard_config_get(&h->maps, &c), 0);
	assert_int_equal(c.rate, 3);
	assert_int_equal(c.burst, 9);
	assert_int_equal(c.cost_ns, SEC_NS / 3);
	assert_int_equal(c.n_ports, 2);
	tpd_config_free(&cfg);

	/* a reload without 198.18.7.0/24: only the static entry goes */
	memset(&res, 0, sizeof(res));
	assert_int_equal(
		tpd_config_parse(GCFG_IF ",\"guard\":{\"rate\":3,\"burst\":9}}",
				 &cfg, err, sizeof(err)),
		0);
	assert_int_equal(tpd_guard_sync(&h->maps, &cfg, &res), 0);
	assert_int_equal(res.removed, 1);
	assert_int_equal(res.changed, 0);
	assert_int_equal(tp_guard_drop_list(&h->maps, &rows, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].val.owner, TP_OWNER_TPCTL);
	assert_int_equal(rows[1].val.owner, TP_OWNER_TPCTL);
	free(rows);
	tpd_config_free(&cfg);
}

/* The program attached at XDP to @ifindex: its id and name, 0 if none. */
static __u32 xdp_attached(int ifindex, char *name, __u32 *mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), id;
	int fd;

	name[0] = 0;
	assert_int_equal(bpf_xdp_query(ifindex, 0, &q), 0);
	*mode = q.attach_mode;
	id = q.prog_id;
	if (!id)
		return 0;
	fd = bpf_prog_get_fd_by_id(id);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	snprintf(name, BPF_OBJ_NAME_LEN, "%s", info.name);
	return id;
}

/*
 * The loader's attach on a veth of the test's own namespace: generic
 * mode as configured, the dispatcher where libxdp can load it (not
 * here), a second attach replaces the program in place (another id, no
 * moment without one is the kernel's XDP_FLAGS_REPLACE), a disabled guard
 * and a detach take it off, and a foreign program is left alone.
 */
static void test_guard_attach_veth(void **state)
{
	struct th *h = *state;
	struct tpd_config cfg;
	char err[256] = "", name[BPF_OBJ_NAME_LEN];
	__u32 id, id2, mode;
	bool had_xdp_dir;
	int ifindex;

	REQUIRE_BPF();
	/* libxdp makes LIBXDP_BPFFS_DIR on first use: ours to remove then */
	had_xdp_dir = access("/sys/fs/bpf/xdp", F_OK) == 0;
	(void)!system("ip link del gdt0 2>/dev/null");
	assert_int_equal(system("ip link add gdt0 type veth peer name gdt1 && "
				"ip link set gdt0 up && ip link set gdt1 up"),
			 0);
	ifindex = if_nametoindex("gdt0");
	assert_true(ifindex > 0);
	assert_int_equal(tpd_config_parse(GCFG_IF
					  ",\"guard\":{\"mode\":\"generic\"}}",
					  &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(tpd_guard_attach(h->skel->obj, h->skel->skeleton->data,
					  h->skel->skeleton->data_sz, &cfg,
					  "gdt0", ifindex),
			 0);
	id = xdp_attached(ifindex, name, &mode);
	assert_true(id > 0);
	assert_int_equal(mode, XDP_ATTACHED_SKB);
	/* alone here (no freplace); in libxdp's dispatcher where it loads */
	if (strcmp(name, "xdp_dispatcher"))
		assert_string_equal(name, "tp_xdp_guard");
	print_message("guard attached: %s, generic\n",
		      strcmp(name, "xdp_dispatcher") ? "alone"
						     : "in the dispatcher");

	assert_int_equal(tpd_guard_attach(h->skel->obj, h->skel->skeleton->data,
					  h->skel->skeleton->data_sz, &cfg,
					  "gdt0", ifindex),
			 0);
	id2 = xdp_attached(ifindex, name, &mode);
	assert_true(id2 > 0);
	if (strcmp(name, "xdp_dispatcher"))
		assert_int_not_equal(id2, id);

	/* disabled: off */
	cfg.guard.enabled = false;
	assert_int_equal(tpd_guard_attach(h->skel->obj, h->skel->skeleton->data,
					  h->skel->skeleton->data_sz, &cfg,
					  "gdt0", ifindex),
			 0);
	assert_int_equal(xdp_attached(ifindex, name, &mode), 0);
	cfg.guard.enabled = true;
	cfg.guard.mode = TPD_XDP_AUTO; /* veth has native XDP */
	assert_int_equal(tpd_guard_attach(h->skel->obj, h->skel->skeleton->data,
					  h->skel->skeleton->data_sz, &cfg,
					  "gdt0", ifindex),
			 0);
	assert_true(xdp_attached(ifindex, name, &mode) > 0);
	assert_int_equal(mode, XDP_ATTACHED_DRV);
	assert_int_equal(tpd_guard_detach(ifindex), 0);
	assert_int_equal(xdp_attached(ifindex, name, &mode), 0);

	/* someone else's program, attached without libxdp: left alone */
	{
		struct bpf_insn pass[] = {
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K,
			  .dst_reg = BPF_REG_0,
			  .imm = XDP_PASS_V },
			{ .code = BPF_JMP | BPF_EXIT },
		};
		int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "foreign", "GPL",
				       pass, 2, NULL);

		assert_true(fd >= 0);
		assert_int_equal(
			bpf_xdp_attach(ifindex, fd, XDP_FLAGS_SKB_MODE, NULL),
			0);
		assert_int_equal(tpd_guard_attach(h->skel->obj,
						  h->skel->skeleton->data,
						  h->skel->skeleton->data_sz,
						  &cfg, "gdt0", ifindex),
				 -EBUSY);
		assert_int_equal(tpd_guard_detach(ifindex), 0);
		assert_true(xdp_attached(ifindex, name, &mode) > 0);
		assert_string_equal(name, "foreign");
		assert_int_equal(
			bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, NULL), 0);
		close(fd);
	}
	tpd_config_free(&cfg);
	(void)!system("ip link del gdt0 2>/dev/null");
	if (!had_xdp_dir)
		rmdir("/sys/fs/bpf/xdp"); /* fails, rightly, when not empty */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_hit_v4, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_list_hit_v6, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_list_miss, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_list_longest_prefix,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_other_port_passes,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_non_udp_passes, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_data_not_limited, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_truncated, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_rate_edges, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_drop_refills_from_now,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_second_source_unaffected,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_rate_changed_live,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_fragments_and_exthdrs,
						pt_setup, pt_teardown),
		cmocka_unit_test(test_config_guard_defaults),
		cmocka_unit_test(test_config_guard_full),
		cmocka_unit_test(test_config_guard_errors),
		cmocka_unit_test_setup_teardown(test_guard_sync, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_guard_attach_veth,
						pt_setup, pt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
