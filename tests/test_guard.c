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

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "guard.h"
#include "pkttest.h"

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
static void wg_frame(struct pkt *p, const char *src, const char *dst, __u16 dport,
		     __u8 type, size_t len)
{
	static __u8 payload[2048];
	struct pkt_spec s = {
		.l2 = 1, .family = family_of(src), .saddr = src, .daddr = dst,
		.proto = IPPROTO_UDP, .sport = 40000, .dport = dport,
		.payload = payload, .payload_len = len,
	};

	wg_payload(payload, type, len);
	build(&s, p);
}

static void initiation(struct pkt *p, const char *src)
{
	wg_frame(p, src, family_of(src) == AF_INET6 ? NODE6 : NODE4, WG_PORT,
		 TP_WG_MSG_INITIATION, TP_WG_INITIATION_LEN);
}

/* Run @len bytes through tp_xdp_guard; returns its XDP verdict. */
static int xdp_run_bytes(struct th *h, const void *data, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = len,
		    .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(h->skel->progs.tp_xdp_guard),
						&opts),
			 0);
	return opts.retval;
}

static int xdp_run(struct th *h, const struct pkt *p)
{
	return xdp_run_bytes(h, p->data, p->len);
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
	assert_int_equal(tp_guard_drop_add(&h->maps, &a, plen, TP_OWNER_TPCTL), 0);
}

static void drop_del(struct th *h, const char *cidr)
{
	struct tp_addr a;
	unsigned int plen;

	assert_int_equal(tp_prefix_parse(cidr, &a, &plen), 0);
	assert_int_equal(tp_guard_drop_del(&h->maps, &a, plen, TP_OWNER_NONE), 0);
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
	struct pkt_spec s = flow(src, 1234, family_of(src) == AF_INET6 ? NODE6 : NODE4,
				 dport, IPPROTO_TCP, PKT_TCP_SYN);

	s.l2 = 1;
	build(&s, p);
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

static void test_other_port_passes(void **state)
{
	struct th *h = *state;
	struct pkt p;

	REQUIRE_BPF();
	guard_config(h, 1, 2);
	exhaust(h, ATTACKER4, 2);
	/* the same source, a handshake to a port that is not guarded */
	wg_frame(&p, ATTACKER4, NODE4, 51821, TP_WG_MSG_INITIATION, TP_WG_INITIATION_LEN);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	/* the second guarded port shares the source's bucket */
	wg_frame(&p, ATTACKER4, NODE4, TS_PORT, TP_WG_MSG_INITIATION, TP_WG_INITIATION_LEN);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	assert_int_equal(g_pass(h), 2);
	assert_int_equal(g_limited(h), 2);
}

static void test_non_udp_passes(void **state)
{
	struct th *h = *state;
	struct pkt p;
	struct pkt_spec s = { .l2 = 1, .family = AF_INET, .saddr = ATTACKER4, .daddr = NODE4,
			      .proto = IPPROTO_ICMP, .icmp_type = 8, .icmp_id = 1 };
	static const __u8 arp[60] = { [12] = 0x08, [13] = 0x06 };

	REQUIRE_BPF();
	guard_config(h, 1, 1);
	exhaust(h, ATTACKER4, 1);
	tcp_frame(&p, ATTACKER4, WG_PORT);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	build(&s, &p);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	assert_int_equal(xdp_run_bytes(h, arp, sizeof(arp)), XDP_PASS_V);
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
	guard_config(h, 1, 1);
	exhaust(h, ATTACKER4, 1);
	wg_frame(&p, ATTACKER4, NODE4, WG_PORT, TP_WG_MSG_DATA, 32 + 1280);
	for (i = 0; i < 100; i++)
		assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	/* an initiation of the wrong length: WireGuard drops it unread */
	wg_frame(&p, ATTACKER4, NODE4, WG_PORT, TP_WG_MSG_INITIATION, 149);
	assert_int_equal(xdp_run(h, &p), XDP_PASS_V);
	/* a response and a cookie reply are handshakes too */
	wg_frame(&p, ATTACKER4, NODE4, WG_PORT, TP_WG_MSG_RESPONSE, TP_WG_RESPONSE_LEN);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	wg_frame(&p, ATTACKER4, NODE4, WG_PORT, TP_WG_MSG_COOKIE_REPLY,
		 TP_WG_COOKIE_REPLY_LEN);
	assert_int_equal(xdp_run(h, &p), XDP_DROP_V);
	/* reserved bytes set: no WireGuard message */
	wg_frame(&p, ATTACKER4, NODE4, WG_PORT, TP_WG_MSG_INITIATION, TP_WG_INITIATION_LEN);
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
	guard_config(h, 1, 1);
	exhaust(h, ATTACKER4, 1);
	initiation(&p, ATTACKER4);
	/* Ethernet only, the IPv4 header cut, the UDP header cut */
	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++)
		assert_int_equal(xdp_run_bytes(h, p.data, cut[i]), XDP_PASS_V);
	/* the message type cut: a handshake's length, charged as one */
	assert_int_equal(xdp_run_bytes(h, p.data, l4 + 10), XDP_DROP_V);
	initiation(&p, ATTACKER6);
	assert_int_equal(xdp_run_bytes(h, p.data, 14 + 39), XDP_PASS_V);
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
	guard_config(h, 10, 5); /* a token per 100 ms */
	exhaust(h, ATTACKER4, 5);
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
	struct tp_addr src = addr(ATTACKER4);

	REQUIRE_BPF();
	guard_config(h, 1, 3);
	exhaust(h, ATTACKER4, 3);
	assert_int_equal(bpf_map_lookup_elem(h->maps.guard_buckets, &src, &b), 0);
	assert_int_equal(b.last_ns, T0);
	assert_true(b.credit_ns < SEC_NS);
	/* the refill runs from the bucket's time: write it back by 2 tokens */
	b.last_ns -= 2 * SEC_NS;
	assert_int_equal(bpf_map_update_elem(h->maps.guard_buckets, &src, &b, BPF_EXIST), 0);
	exhaust(h, ATTACKER4, 2);
}

static void test_second_source_unaffected(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	guard_config(h, 1, 4);
	exhaust(h, ATTACKER4, 4);
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
	guard_config(h, 1, 2);
	exhaust(h, ATTACKER4, 2);
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
	guard_config(h, 1, 1);
	exhaust(h, ATTACKER4, 1);
	initiation(&whole, ATTACKER4);
	/* first fragment: the UDP header only; then the rest */
	assert_int_equal(pkt_fragment(&whole, 0, 8, 1, 7, &frag), 0);
	assert_int_equal(frag.len, l4 + 8);
	assert_int_equal(xdp_run(h, &frag), XDP_DROP_V);
	assert_int_equal(pkt_fragment(&whole, 8, TP_WG_INITIATION_LEN, 0, 7, &frag), 0);
	assert_int_equal(xdp_run(h, &frag), XDP_PASS_V);

	wg_payload(payload, TP_WG_MSG_INITIATION, sizeof(payload));
	s = (struct pkt_spec){ .l2 = 1, .family = AF_INET6, .saddr = ATTACKER6,
			       .daddr = NODE6, .proto = IPPROTO_UDP, .sport = 1,
			       .dport = WG_PORT, .payload = payload,
			       .payload_len = sizeof(payload),
			       .exthdr = { 0, 60, 43, 44 }, .n_exthdr = 4 };
	build(&s, &whole);
	assert_int_equal(xdp_run(h, &whole), XDP_PASS_V);
	assert_int_equal(xdp_run(h, &whole), XDP_DROP_V);
	assert_int_equal(g_limited(h), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list_hit_v4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_hit_v6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_longest_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_port_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_udp_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_not_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_refills_from_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_source_unaffected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_changed_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fragments_and_exthdrs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
