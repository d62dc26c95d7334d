// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet tests of the datapath hardening: each test is one fault a review
 * reproduced with crafted packets (a forged ICMP error, a reply that is no
 * reply, a spoofed source, an aliasing address, a flow that loses half of
 * itself, ...), named after it, and failed on the code before its fix.
 * The rules they check are in docs/datapath.md and docs/policy.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>

#include "gc.h"
#include "policy.h"
#include "policytest.h"
#include "service.h"

#define VIP4B "198.19.0.11" /* a second VIP (LoadBalancer IP) of a service */

#define UPLINK_IFINDEX \
	4242 /* an uplink, as the loader describes it in tp_ifaces */

/* ---- 1. forged ICMP errors --------------------------------------------- */

/* A port unreachable from @from to @to quoting @quote, in from zone 1: the verdict. */
static int err_in(struct th *h, const char *from, const char *to,
		  const struct pkt_spec *quote)
{
	struct pkt err;

	pt_icmp_err(&err, from, to, quote);
	return pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err);
}

static void test_h01_forged_icmp_error(void **state)
{
	struct th *h = *state;
	struct pkt_spec reply = pt_flow(POD, 80, CLIENT4, 1000, TCP, SYN | ACK);
	struct pkt_spec orig = pt_flow(CLIENT4, 1000, POD, 80, TCP, SYN);
	struct pkt err;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE2, TP_VERDICT_DENY);
	pt_allowed_flow(h, ID_CLIENT, ID_WEB, CLIENT4, POD);

	/* the client's own error about the pod's reply, to the pod: related */
	assert_int_equal(err_in(h, CLIENT4, POD, &reply), PASS);
	assert_int_equal(th_stat(h, TP_STAT_PASS), 2);

	/* the same quote carried to a denied host: decided on its own */
	assert_int_equal(err_in(h, CLIENT4, DB, &reply), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);

	/* from a tailnet address nothing routes to this interface: same */
	assert_int_equal(err_in(h, "100.64.0.77", POD, &reply), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 2);

	/* a quote of the flow's original direction never left to the tailnet */
	assert_int_equal(err_in(h, POD, CLIENT4, &orig), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 3);

	/*
	 * Going out: an error about the client's packet must come from where
	 * that packet went (the cluster side), not forwarded from zone 2.
	 */
	pt_icmp_err(&err, POD, CLIENT4, &orig);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, 0, &err),
			 PASS);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex,
				    h->l3_ifindex2, &err),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_ZONE), 1);
	/* and go to the client that sent it */
	pt_icmp_err(&err, POD, "100.64.0.2", &orig);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, 0, &err),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 4);
}

/* A crossing flow's original packets leave through zone 2: zone 1 peers cannot quote them. */
static void test_h01_forged_icmp_error_crossing(void **state)
{
	struct th *h = *state;
	struct pkt_spec orig = pt_flow(CLIENT4, 1000, Z2PEER, 80, TCP, SYN);
	struct pkt err;

	REQUIRE_BPF();
	pt_allowed_flow(h, ID_CLIENT, ID_OTHER, CLIENT4, Z2PEER);

	/* from zone 2, where the quoted packet went: related */
	pt_icmp_err(&err, Z2PEER, CLIENT4, &orig);
	assert_int_equal(
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, &err), PASS);
	/* the same error injected in zone 1 is no error of that flow */
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);
}

/* ---- 2. revocation in both directions ----------------------------------------- */

static void test_h02_revocation_stops_replies(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, POD, 80, TCP);
	struct tp_rule match =
		pt_rule_spec(ID_CLIENT, ID_WEB, 0, TCP, 80, 80, 0);
	struct tp_ct_entry e;
	__u64 expires;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	pt_handshake(h, CLIENT4, 1000, POD, 80);
	expires = pt_ct_must(h, &k).expires_s;

	/* revoke: the pod's next packet is dropped first, then the client's */
	assert_int_equal(tp_policy_rule_del(&h->maps, &match, TP_OWNER_TPCTL),
			 0);
	th_set_clock(h, T0 + 5 * SEC_NS);
	assert_int_equal(pt_send_out(h, POD, 80, CLIENT4, 1000, TCP, ACK),
			 DROP);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.verdict, TP_VERDICT_DENY);
	assert_int_equal(th_stat(h, TP_STAT_POLICY_RECHECK), 1);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POD, 80, TCP, ACK), DROP);
	/* dropped packets do not keep the flow alive: it ages out */
	e = pt_ct_must(h, &k);
	assert_int_equal(e.expires_s, expires);
	assert_int_equal(e.packets[0], 2);
	assert_int_equal(e.packets[1], 1);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 2);
}

/* ---- 3. reply-key hits from the tailnet ----------------------------------------- */

static void test_h03_reply_key_from_tailnet(void **state)
{
	struct th *h = *state;
	struct tp_ct_key kx = pt_ct_key(CLIENT4, 1000, Z2PEER, 80, TCP);

	REQUIRE_BPF();
	pt_web_flow(h);

	/* a peer whose allowed IPs cover the backend sends the "reply" */
	pt_expect_untouched(h, TH_FROM_TAILNET,
			    FLOWP(BE4[0], 8080, CLIENT4, 40000, TCP, RST),
			    DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 1);
	assert_int_equal(pt_web_entry(h).state, TP_CT_SYN_SENT);
	assert_int_equal(pt_web_entry(h).packets[1], 0);
	/* the real reply still works */
	pt_web_reply(h, SYN | ACK);

	/* a crossing flow's replies come from zone 2, never from zone 1 */
	pt_rule(h, ID_CLIENT, ID_OTHER, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, Z2PEER, 80, TCP, SYN),
			 PASS);
	assert_int_equal(pt_send_in(h, Z2PEER, 80, CLIENT4, 1000, TCP, RST),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 2);
	assert_int_equal(pt_ct_must(h, &kx).state, TP_CT_SYN_SENT);
}

/* ---- 4. identity from a spoofed source on the uplink ------------------------------ */

static void test_h04_uplink_source_is_world(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(POD, 5000, CLIENT4, 53, UDP);
	struct pkt in;

	REQUIRE_BPF();
	pt_uplink(h, UPLINK_IFINDEX);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_WEB, ID_CLIENT, 0, UDP, 53, 53, TP_VERDICT_ALLOW);

	/* a pod's address arriving from the uplink is anyone's: world */
	pt_build(FLOWP(POD, 5000, CLIENT4, 53, UDP, 0), &in);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex,
				    UPLINK_IFINDEX, &in),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);
	/* from the pod's own interface (no entry in tp_ifaces): web */
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, 77, &in),
			 PASS);
	assert_int_equal(pt_ct_must(h, &k).src_identity, ID_WEB);
	assert_int_equal(pt_ct_must(h, &k).flags, TP_CT_F_EGRESS);
	/* a world -> client rule is what lets the uplink through */
	pt_rule(h, TP_ID_WORLD, ID_CLIENT, 0, UDP, 53, 53, TP_VERDICT_ALLOW);
	pt_build(FLOWP(POD, 5001, CLIENT4, 53, UDP, 0), &in);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex,
				    UPLINK_IFINDEX, &in),
			 PASS);
	k.sport = htons(5001);
	assert_int_equal(pt_ct_must(h, &k).src_identity, TP_ID_WORLD);
	assert_int_equal(pt_ct_must(h, &k).flags,
			 TP_CT_F_EGRESS | TP_CT_F_UPLINK);
}

/* ---- 5. IPv4-mapped IPv6 addresses ---------------------------------------------------- */

static void test_h05_v4_mapped_ipv6(void **state)
{
	struct th *h = *state;
	const char *aliases[][2] = {
		{ "::ffff:100.64.0.1", "::ffff:198.19.0.10" }, /* mapped */
		{ "::100.64.0.1", "::198.19.0.10" },	       /* compatible */
		{ CLIENT6, "::ffff:198.18.1.1" }, /* one side only */
	};
	struct pkt_spec sp;
	size_t i;

	REQUIRE_BPF();
	pt_web_flow(h);
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		sp = pt_flow(aliases[i][0], 40000, aliases[i][1], 80, TCP, RST);
		pt_expect_untouched(h, TH_FROM_TAILNET, &sp, DROP);
		sp = pt_flow(aliases[i][1], 80, aliases[i][0], 40000, TCP, RST);
		pt_expect_untouched(h, TH_TO_TAILNET, &sp, DROP);
	}
	assert_int_equal(pt_drops(h, TP_DROP_V4_MAPPED), 6);
	assert_int_equal(pt_web_entry(h).state, TP_CT_SYN_SENT);
	/* the unspecified address (duplicate address detection) is no alias */
	sp = (struct pkt_spec){ .family = AF_INET6,
				.saddr = "::",
				.daddr = "ff02::1:ff00:1",
				.proto = IPPROTO_ICMPV6,
				.icmp_type = 135 };
	pt_expect_untouched(h, TH_FROM_TAILNET, &sp, PASS);
}

/* ---- 8. deleting another flow's reply key ----------------------------------------------- */

/*
 * In both layouts: @keyed, the flows' reply keys (backends not indexed);
 * else one entry a flow, the second VIP's replies found through its
 * backend's second frontend in tp_be_frontends.
 */
static void reused_port_keeps_other_flow(void **state, bool keyed)
{
	struct th *h = *state;
	struct tp_ct_key kb = pt_ct_key(CLIENT4, 40000, VIP4B, 80, TCP);

	REQUIRE_BPF();
	/* one Service, two VIPs (ClusterIP and LoadBalancer IP), one backend */
	pt_web_service(h);
	pt_service(h, VIP4B, 80, TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	if (keyed)
		pt_unindex(h);
	pt_expect_dnat(h, pt_flow(CLIENT4, 40000, VIP4, 80, TCP, SYN), BE4[0],
		       8080);
	/* that flow expires; the client reuses its port toward the second VIP */
	th_set_clock(h, T0 + (TP_CT_TIMEOUT_SYN + 1) * SEC_NS);
	pt_expect_dnat(h, pt_flow(CLIENT4, 40000, VIP4B, 80, TCP, SYN), BE4[0],
		       8080);
	pt_check_ct_dnat_as_at(__FILE__, __LINE__, h, &kb, BE4[0], 8080,
			       TP_CT_SYN_SENT, keyed);
	/* the first VIP's backend moved; its old tuple starts a new flow */
	pt_service(h, VIP4, 80, TCP, &BE4[1], 1, 8080, NULL, NULL, 0, 0);
	if (keyed)
		pt_unindex(h);
	pt_expect_dnat(h, pt_flow(CLIENT4, 40000, VIP4, 80, TCP, SYN), BE4[1],
		       8080);
	/* the second VIP's flow keeps its reply key: its replies are translated */
	pt_check_ct_dnat_as_at(__FILE__, __LINE__, h, &kb, BE4[0], 8080,
			       TP_CT_SYN_SENT, keyed);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, 40000, TCP, SYN | ACK),
			 VIP4B, 80);
}

static void test_h08_reused_port_keeps_other_reply_key(void **state)
{
	reused_port_keeps_other_flow(state, true);
}

static void test_h08_reused_port_keeps_other_flow_indexed(void **state)
{
	reused_port_keeps_other_flow(state, false);
}

/* ---- 9. a lost reply key is rebuilt ------------------------------------------------------- */

static void test_h09_evicted_reply_key_rebuilt(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 5000, VIP4, 53, UDP);
	struct tp_ct_key rk = pt_ct_key(BE4[0], 5353, CLIENT4, 5000, UDP);

	REQUIRE_BPF();
	pt_service(h, VIP4, 53, UDP, BE4, 1, 5353, NULL, NULL, 0, 0);
	/* a backend not in tp_be_frontends: its flows have reply keys */
	pt_unindex(h);
	pt_expect_dnat(h, pt_flow(CLIENT4, 5000, VIP4, 53, UDP, 0), BE4[0],
		       5353);
	/* the LRU evicts the reply key of a one-way flow first */
	assert_int_equal(bpf_map_delete_elem(h->maps.ct_any, &rk), 0);
	/* a reply in the meantime is no flow's: it starts one of its own */
	pt_expect_untouched(h, TH_TO_TAILNET,
			    FLOWP(BE4[0], 5353, CLIENT4, 5000, UDP, 0), PASS);
	/* the flow's next packet, a second later, writes the reply key again */
	th_set_clock(h, T0 + SEC_NS);
	pt_expect_dnat(h, pt_flow(CLIENT4, 5000, VIP4, 53, UDP, 0), BE4[0],
		       5353);
	pt_check_ct_dnat_keyed(h, &k, BE4[0], 5353, TP_CT_OPEN);
	pt_expect_revnat(h, pt_flow(BE4[0], 5353, CLIENT4, 5000, UDP, 0), VIP4,
			 53);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_REPLIED);
	assert_int_equal(pt_ct_count(h), 2);
}

/* ---- 10. mid-stream pickups ------------------------------------------------------------------- */

static void test_h10_pickup_gets_syn_timeout(void **state)
{
	struct th *h = *state;
	const __u8 pickups[] = { ACK, SYN | ACK, PKT_TCP_FIN | ACK };
	struct tp_ct_key k;
	size_t i;

	REQUIRE_BPF();
	for (i = 0; i < sizeof(pickups); i++) {
		k = pt_ct_key(CLIENT4, 2000 + i, POD, 80, TCP);
		assert_int_equal(pt_send_in(h, CLIENT4, 2000 + i, POD, 80, TCP,
					    pickups[i]),
				 PASS);
		assert_int_equal(pt_ct_must(h, &k).expires_s,
				 TP_CT_SEC(T0) + TP_CT_TIMEOUT_SYN);
	}
	/* once the other side answers, the state's own timeout */
	k = pt_ct_key(CLIENT4, 2000, POD, 80, TCP);
	assert_int_equal(pt_send_out(h, POD, 80, CLIENT4, 2000, TCP, ACK),
			 PASS);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_ESTABLISHED);
	assert_int_equal(pt_ct_must(h, &k).expires_s,
			 TP_CT_SEC(T0) + TP_CT_TIMEOUT_ESTABLISHED);
	/* unanswered, the pickup is gone after the SYN timeout */
	th_set_clock(h, T0 + TP_CT_TIMEOUT_SYN * SEC_NS);
	k = pt_ct_key(CLIENT4, 2001, POD, 80, TCP);
	assert_int_equal(pt_send_in(h, CLIENT4, 2001, POD, 80, TCP, ACK), PASS);
	assert_int_equal(pt_ct_must(h, &k).created_s,
			 TP_CT_SEC(T0) + TP_CT_TIMEOUT_SYN);
}

#define SMALL_CT     4096
#define SMALL_CT_ANY 1024

static int setup_small_ct(void **state)
{
	const struct th_knobs k = { .ct_size = SMALL_CT,
				    .ct_any_size = SMALL_CT_ANY };

	return pt_setup_knobs(state, &k);
}

/*
 * A flood of UDP flows from an allowed peer fills its own table
 * (tp_ct_any) and evicts there; the TCP connection in tp_ct stays.  One
 * shared LRU would have evicted it: the flood is larger than both tables.
 */
static void test_h10_udp_flood_keeps_tcp_flows(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 40000, POD, 80, TCP);
	const unsigned int flows = SMALL_CT + SMALL_CT_ANY;
	static __u8 out[PKT_MAX];
	struct pkt in;
	unsigned int i;
	int verdict;

	REQUIRE_BPF();
	assert_int_equal(pt_send_in(h, CLIENT4, 40000, POD, 80, TCP, SYN),
			 PASS);
	assert_int_equal(
		pt_send_out(h, POD, 80, CLIENT4, 40000, TCP, SYN | ACK), PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 40000, POD, 80, TCP, ACK),
			 PASS);
	pt_build(FLOWP(CLIENT4, 1, POD, 53, UDP, 0), &in);
	for (i = 0; i < flows; i++) {
		/* a new source port, and address, per packet */
		in.data[14] = i >> 16;
		in.data[20] = i >> 8;
		in.data[21] = i;
		assert_int_equal(th_run(h, TH_FROM_TAILNET, h->l3_ifindex,
					in.data, in.len, out, &(size_t){ 0 },
					&verdict),
				 0);
		assert_int_equal(verdict, PASS);
	}
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_ESTABLISHED);
	assert_true(pt_ct_count(h) <= SMALL_CT_ANY + 2);
}

/* ---- 11. replies counted twice ------------------------------------------------------------------ */

static void test_h11_crossing_reply_counted_once(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, Z2PEER, 80, TCP);
	struct tp_ct_entry e;
	struct pkt in;

	REQUIRE_BPF();
	pt_rule(h, ID_CLIENT, ID_OTHER, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	/* the reply comes in through zone 2 and leaves through zone 1 */
	pt_cross_zones(h, CLIENT4, 1000, Z2PEER, 80);
	pt_build(FLOWP(Z2PEER, 80, CLIENT4, 1000, TCP, SYN | ACK), &in);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 1);
	assert_int_equal(e.bytes[TP_CT_DIR_REPLY], in.len);
	assert_int_equal(e.state, TP_CT_SYN_RECV);
	assert_int_equal(th_stat(h, TP_STAT_CT_HIT), 1);
}

/* ---- 12. IPv6 extension headers after the Fragment header ------------------------------------------ */

/*
 * An IPv6 fragment whose Fragment header is followed by a Destination
 * Options header (in the fragmentable part): the first fragment carries
 * Fragment, Destination Options (8 bytes), UDP (8) and 16 bytes of data;
 * the later one, at offset 32, 8 bytes of data.
 */
static void v6_frag_dstopts(struct pkt *p, const char *src, const char *dst,
			    __u16 sport, __u16 dport, int later)
{
	__u8 *b = p->data;
	size_t n;

	memset(p, 0, sizeof(*p));
	b[0] = 0x60;
	b[6] = 44; /* Fragment */
	b[7] = 64;
	assert_int_equal(inet_pton(AF_INET6, src, b + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, b + 24), 1);
	b[40] = 60; /* next: Destination Options */
	b[42] = later ? 0 : 0;
	b[43] = later ? (32 | 0) : 1; /* offset 32 bytes (4 units << 3), M */
	b[42] = later ? 0 : 0;
	b[44] = 0xab; /* id */
	b[47] = 0x01;
	n = 48;
	if (!later) {
		b[n] = IPPROTO_UDP; /* Destination Options: next UDP, 8 bytes */
		b[n + 2] = 1;	    /* PadN, 4 bytes */
		b[n + 3] = 4;
		n += 8;
		b[n] = sport >> 8;
		b[n + 1] = sport & 0xff;
		b[n + 2] = dport >> 8;
		b[n + 3] = dport & 0xff;
		b[n + 5] = 8 + 24; /* UDP length of the whole datagram */
		n += 8 + 16;
	} else {
		n += 8;
	}
	b[4] = (n - 40) >> 8;
	b[5] = (n - 40) & 0xff;
	p->len = n;
}

static void test_h12_v6_exthdr_after_fragment_header(void **state)
{
	struct th *h = *state;
	struct pkt first, later, want;
	struct tp_addr be;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, 53, 53, TP_VERDICT_ALLOW);
	v6_frag_dstopts(&first, CLIENT6, BE6[0], 4000, 53, 0);
	v6_frag_dstopts(&later, CLIENT6, BE6[0], 4000, 53, 1);
	pt_run_expect(h, TH_FROM_TAILNET, &first, PASS, &first);
	/* the later fragment follows its first: allowed, not "no flow" */
	pt_run_expect(h, TH_FROM_TAILNET, &later, PASS, &later);
	assert_int_equal(pt_drops(h, TP_DROP_FRAG_NO_FLOW), 0);
	assert_int_equal(th_stat(h, TP_STAT_CT_HIT), 1);

	/* to a service: the later fragment is translated like the first */
	pt_service(h, VIP6, 53, UDP, BE6, 1, 53, NULL, NULL, 0, 0);
	v6_frag_dstopts(&first, CLIENT6, VIP6, 4001, 53, 0);
	v6_frag_dstopts(&later, CLIENT6, VIP6, 4001, 53, 1);
	later.data[44] = first.data[44] = 0xcd; /* another datagram */
	pt_run(h, TH_FROM_TAILNET, &first, &want, &(int){ 0 });
	be = pt_addr(BE6[0]);
	assert_memory_equal(want.data + 24, be.b, 16);
	want = later;
	memcpy(want.data + 24, be.b, 16);
	pt_run_expect(h, TH_FROM_TAILNET, &later, PASS, &want);
}

/* ---- 13. one entry per untranslated flow: reversed lookups ------------------------------------------- */

/*
 * A client sends from the port of its live DNAT flow straight to the
 * backend: that flow's reply tuple (backend -> client) is a live reply-key
 * entry, so the new untranslated flow, whose replies would carry the same
 * tuple, clashes, and the DNAT flow keeps its replies.
 */
static void test_h13_untranslated_onto_dnat_reply_key(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	pt_web_service(h);
	pt_unindex(h); /* the reply-key layout (test_ct_single.c: the other) */
	pt_web_in(h, SYN);
	pt_expect_first_clash(h, FLOWP(CLIENT4, 40000, BE4[0], 8080, TCP, SYN));
	pt_web_reply(h, SYN | ACK);
	assert_int_equal(pt_web_entry(h).state, TP_CT_SYN_RECV);
	assert_int_equal(pt_ct_count(h), 2);
}

/*
 * The other way round: a live untranslated flow client -> backend, and a
 * new DNAT flow from the same client port whose backend is that one: its
 * reply tuple is the untranslated flow's, found by reversing; a clash,
 * and the untranslated flow keeps its replies.
 */
static void test_h13_dnat_onto_untranslated_flow(void **state)
{
	struct th *h = *state;
	struct tp_ct_key kd = pt_ct_key(CLIENT4, 40000, BE4[0], 8080, TCP);

	REQUIRE_BPF();
	pt_web_service(h);
	pt_expect_untouched(h, TH_FROM_TAILNET,
			    FLOWP(CLIENT4, 40000, BE4[0], 8080, TCP, SYN),
			    PASS);
	pt_expect_first_clash(h, FLOWP(CLIENT4, 40000, VIP4, 80, TCP, SYN));
	/* the backend's answer is the untranslated flow's, untouched */
	pt_expect_untouched(h, TH_TO_TAILNET,
			    FLOWP(BE4[0], 8080, CLIENT4, 40000, TCP, SYN | ACK),
			    PASS);
	assert_int_equal(pt_ct_must(h, &kd).state, TP_CT_SYN_RECV);
	assert_int_equal(pt_ct_count(h), 1);
}

/*
 * A flow this side started is answered from the tailnet through the
 * reversed lookup.  Once it expired, the same tuple from the tailnet is a
 * new flow, and the expired entry under its reply tuple goes: left there
 * it would be found before the reversed lookup.
 */
static void test_h13_expired_reply_tuple_cleared(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 40000, POD, 80, TCP);
	struct tp_ct_key ke = pt_ct_key(POD, 80, CLIENT4, 40000, TCP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	assert_int_equal(pt_send_out(h, POD, 80, CLIENT4, 40000, TCP, SYN),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 40000, POD, 80, TCP, SYN | ACK),
			 PASS);
	e = pt_ct_must(h, &ke);
	assert_int_equal(e.flags & TP_CT_F_EGRESS, TP_CT_F_EGRESS);
	assert_int_equal(e.state, TP_CT_SYN_RECV);
	assert_int_equal(pt_ct_count(h), 1);

	th_set_clock(h, T0 + (TP_CT_TIMEOUT_SYN + 1) * SEC_NS);
	assert_int_equal(pt_send_in(h, CLIENT4, 40000, POD, 80, TCP, SYN),
			 PASS);
	assert_int_equal(pt_ct_get(h, &ke, &e), -ENOENT);
	assert_int_equal(
		pt_send_out(h, POD, 80, CLIENT4, 40000, TCP, SYN | ACK), PASS);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.state, TP_CT_SYN_RECV);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 1);
	assert_int_equal(pt_ct_count(h), 1);
}

/* GC takes an expired DNAT flow with its reply key, an untranslated one alone. */
static void test_h13_gc_takes_flow_with_reply_key(void **state)
{
	struct th *h = *state;
	struct tp_ct_key ku = pt_ct_key(CLIENT4, 40001, POD, 80, TCP);
	struct tpd_gc_result res;

	REQUIRE_BPF();
	pt_web_service(h);
	pt_unindex(h); /* the reply-key layout (test_ct_single.c: the other) */
	pt_web_in(h, SYN);
	assert_int_equal(pt_send_in(h, CLIENT4, 40001, POD, 80, TCP, SYN),
			 PASS);
	assert_int_equal(pt_ct_count(h), 3);
	assert_int_equal(tpd_gc(&h->maps, T0 + SEC_NS, TP_FRAG_TIMEOUT, &res),
			 0);
	assert_int_equal(res.ct_flows, 2);
	assert_int_equal(res.ct_deleted, 0);
	/* the untranslated flow lives on (its client answered), the DNAT one expires */
	th_set_clock(h, T0 + 30 * SEC_NS);
	assert_int_equal(
		pt_send_out(h, POD, 80, CLIENT4, 40001, TCP, SYN | ACK), PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 40001, POD, 80, TCP, ACK),
			 PASS);
	assert_int_equal(tpd_gc(&h->maps, T0 + (TP_CT_TIMEOUT_SYN + 1) * SEC_NS,
				TP_FRAG_TIMEOUT, &res),
			 0);
	assert_int_equal(res.ct_deleted, 2);
	assert_int_equal(pt_ct_count(h), 1);
	assert_int_equal(pt_ct_must(h, &ku).state, TP_CT_ESTABLISHED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
/* with the identities of policytest.h */
#define I(fn) cmocka_unit_test_setup_teardown(fn, pol_setup, pt_teardown)
		I(test_h01_forged_icmp_error),
		I(test_h01_forged_icmp_error_crossing),
		I(test_h02_revocation_stops_replies),
		I(test_h03_reply_key_from_tailnet),
		I(test_h04_uplink_source_is_world),
		T(test_h05_v4_mapped_ipv6),
		T(test_h08_reused_port_keeps_other_reply_key),
		T(test_h08_reused_port_keeps_other_flow_indexed),
		T(test_h09_evicted_reply_key_rebuilt),
		T(test_h10_pickup_gets_syn_timeout),
		cmocka_unit_test_setup_teardown(
			test_h10_udp_flood_keeps_tcp_flows, setup_small_ct,
			pt_teardown),
		I(test_h11_crossing_reply_counted_once),
		I(test_h12_v6_exthdr_after_fragment_header),
		T(test_h13_untranslated_onto_dnat_reply_key),
		T(test_h13_dnat_onto_untranslated_flow),
		T(test_h13_expired_reply_tuple_cleared),
		T(test_h13_gc_takes_flow_with_reply_key),
#undef T
#undef I
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
