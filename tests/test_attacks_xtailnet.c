// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Hostile cases of zone crossings (docs/datapath.md, "Clashes" and
 * "Cross-tailnet services"): a crossing opened from one tailnet on the
 * reversed tuple of a flow of the other.  A plain crossing's replies come
 * in through the zone it leaves to, under its reply tuple there; when
 * that tuple is another live flow's key, the crossing's replies are that
 * flow's packets, and what the crossing sends reaches that flow's peer as
 * if it were the flow's own answer.  Such a crossing is a clash:
 * refused before it writes anything.
 *
 * The plan: zone 1 (tptun0) holds the clients, 100.64.0.0/24 (identity
 * 300); zone 2 (tptun1) masquerades crossings into it (MASQ2_4) and holds
 * PEER2_4 (identity 500); each zone may reach the other.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "masqtest.h"
#include "pkttest.h"
#include "rowtest.h"
#include "tailplane/tuple.h"

#define REDIRECT 7 /* TC_ACT_REDIRECT */
#define CPORT	 1000
#define BPORT	 8080

static void xa_env(struct th *h)
{
	mt_masq_cross(h, TH_ZONE2, MASQ2_4, MASQ2_6, PORT_LO, PORT_HI);
	pt_ident(h, TH_ZONE, "100.64.0.0/24", 300);
	pt_ident(h, TH_ZONE, "fd7a:115c:a1e0::/64", 300);
	pt_ident(h, TH_ZONE2, TH_ZONE2_NET4, 500);
	pt_ident(h, TH_ZONE2, TH_ZONE2_NET6, 500);
	pt_rule(h, 300, 500, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	pt_rule(h, 500, 300, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	/* zone 1's clients routed into its interface: zone 2 -> 1 crosses */
	assert_int_equal(system("ip route replace 100.64.0.0/24 dev tptun0 && "
				"ip -6 route replace fd7a:115c:a1e0::/64 "
				"dev tptun0"),
			 0);
}

/* The conntrack key of the flow @first starts in @zone. */
static struct tp_ct_key xa_key(const struct pkt_spec *first, __u16 zone)
{
	struct tp_ct_key k = pt_ct_key(first->saddr, first->sport, first->daddr,
				       first->dport, first->proto);

	k.zone = zone;
	return k;
}

/* Nothing at @first's key in @zone (no flow entry, no reply key). */
static void xa_absent(struct th *h, const struct pkt_spec *first, __u16 zone)
{
	struct tp_ct_key k = xa_key(first, zone);
	struct tp_ct_entry e;

	assert_int_equal(pt_ct_get(h, &k, &e), -ENOENT);
}

/*
 * @sp from zone 2 is dropped, the drops of @reason are @drops now, it
 * left no entry in zone 2 and conntrack holds @entries entries.
 */
static void xa_refused_at(const char *file, int line, struct th *h,
			  struct pkt_spec sp, int reason, __u64 drops,
			  unsigned int entries)
{
	struct tp_ct_key k = xa_key(&sp, TH_ZONE2);
	struct tp_ct_entry e;
	struct pkt out;

	PT_EQ(mt_run_spec_at(file, line, h, TH_FROM_TAILNET, h->l3_ifindex2, 0,
			     sp, &out),
	      DROP);
	PT_EQ(pt_drops(h, reason), drops);
	PT_EQ(pt_ct_get(h, &k, &e), -ENOENT);
	PT_EQ(pt_ct_count(h), entries);
}
#define xa_refused(...) xa_refused_at(__FILE__, __LINE__, __VA_ARGS__)

/* @sp from zone 1 gets @verdict and leaves as @want builds. */
static void xa_from_zone1_at(const char *file, int line, struct th *h,
			     struct pkt_spec sp, int verdict,
			     struct pkt_spec want)
{
	struct pkt out;

	PT_EQ(mt_run_spec_at(file, line, h, TH_FROM_TAILNET, h->l3_ifindex, 0,
			     sp, &out),
	      verdict);
	pt_expect_pkt_at(file, line, want, &out);
}
#define xa_from_zone1(...) xa_from_zone1_at(__FILE__, __LINE__, __VA_ARGS__)

/*
 * @cidr: cluster addresses (identity 400) zone-1 clients may reach, which
 * a zone-2 peer's allowed IPs cover too (identity 500 in zone 2).
 */
static void xa_covered_cluster(struct th *h, const char *cidr)
{
	pt_ident(h, 0, cidr, 400);
	pt_ident(h, TH_ZONE2, cidr, 500);
	pt_rule(h, 300, 400, 0, 0, 0, 0, TP_VERDICT_ALLOW);
}

/*
 * xa_env() and @m from zone 1, masqueraded into zone 2 (forwarded as
 * @out): its flow entry.
 */
static struct tp_ct_entry xa_masq_flow(struct th *h, struct pkt_spec m,
				       struct pkt *out)
{
	struct tp_ct_key mkey = xa_key(&m, TH_ZONE);
	struct tp_ct_entry e;

	xa_env(h);
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, m, out),
		REDIRECT);
	e = pt_ct_must(h, &mkey);
	assert_true(tp_ct_is_masq(&e));
	assert_int_equal(e.out_zone, TH_ZONE2);
	return e;
}

/*
 * M: a zone-1 client to the zone-2 peer, masqueraded into zone 2 (its
 * flow entry in zone 1 is client -> peer).  C: the zone-2 peer to the
 * client, M's tuple reversed, a plain crossing into zone 1 (no
 * masquerade there): its replies would come in through zone 1 as
 * client -> peer, which is M's key.  C is refused; the client's packet
 * stays M's, masqueraded as before, and C left nothing behind.
 */
static void test_crossing_on_masq_flow_tuple_clashes(void **state)
{
	struct th *h = *state;
	struct pkt_spec m = pt_flow(CLIENT4, CPORT, PEER2_4, BPORT, UDP, 0);
	struct pkt_spec c = mt_answer_of(m);
	struct tp_ct_key mkey = xa_key(&m, TH_ZONE);
	struct pkt_spec m_out;
	struct tp_ct_entry e;
	struct pkt out;

	REQUIRE_BPF();
	e = xa_masq_flow(h, m, &out);
	m_out = mt_with_side(m, true, MASQ2_4, ntohs(e.snat_port));
	m_out.ttl = 63; /* forwarded by the node */
	pt_expect_pkt(m_out, &out);
	assert_int_equal(pt_ct_count(h), 2);

	/* C from zone 2: a clash, nothing written, nothing forwarded */
	xa_refused(h, c, TP_DROP_CT_CLASH, 1, 2);
	assert_int_equal(th_stat(h, TP_STAT_CT_NEW), 1);

	/* what would have been C's reply: M's packet, masqueraded as M's */
	xa_from_zone1(h, m, REDIRECT, m_out);
	e = pt_ct_must(h, &mkey);
	assert_int_equal(e.packets[TP_CT_DIR_ORIG], 2);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 0);
	assert_int_equal(th_stat(h, TP_STAT_MASQ), 2);
	assert_int_equal(pt_ct_count(h), 2);
}

/*
 * The same from a zone-2 peer whose allowed IPs cover an address of the
 * cluster (a subnet router of that tailnet): a zone-1 client's flow to a
 * backend there (out zone 0, untranslated), and the zone-2 peer sending
 * from the backend's address and port to the client's.  As a crossing
 * into zone 1 it would reach the client as the backend's answer, and the
 * client's next packets, the crossing's replies, would go to the
 * backend: zone 2 feeding zone 1's flow.  Refused as a clash; the
 * client's flow is untouched.
 */
static void test_crossing_cannot_feed_other_zone_flow(void **state)
{
	struct th *h = *state;
	struct pkt_spec l = pt_flow(CLIENT4, CPORT, BE4[0], 80, UDP, 0);
	struct pkt_spec forged = mt_answer_of(l);
	struct tp_ct_key lkey = xa_key(&l, TH_ZONE);
	struct tp_ct_entry e;
	struct pkt out;

	REQUIRE_BPF();
	xa_env(h);
	xa_covered_cluster(h, "198.18.1.0/24");
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, l, &out),
		PASS);
	pt_expect_pkt(l, &out);
	e = pt_ct_must(h, &lkey);
	assert_int_equal(e.out_zone, 0);
	assert_int_equal(pt_ct_count(h), 1);

	assert_int_equal(mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0,
				     forged, &out),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 1);
	xa_absent(h, &forged, TH_ZONE2);
	assert_int_equal(pt_ct_count(h), 1);
	e = pt_ct_must(h, &lkey);
	assert_int_equal(e.packets[TP_CT_DIR_ORIG], 1);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 0);
}

/*
 * Zone 2 without masquerade (crossings into it keep their addresses),
 * zone 1's clients routed into tptun0, each zone may reach the other and
 * itself (a flow from zone 2 to a zone-2 peer is a hairpin).
 */
static void xa_plain_env(struct th *h)
{
	pt_ident(h, TH_ZONE, "100.64.0.0/24", 300);
	pt_ident(h, TH_ZONE2, TH_ZONE2_NET4, 500);
	pt_rule(h, 300, 500, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	pt_rule(h, 500, 300, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	pt_rule(h, 500, 500, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	assert_int_equal(system("ip route replace 100.64.0.0/24 dev tptun0"),
			 0);
}

/*
 * Test 2 the other way round.  A zone-2 peer covering a cluster address
 * (CLUSTER4, routed to the cluster side, never into zone 2) opens a
 * crossing from it to a zone-1 client's port first: its reply key in
 * zone 1 is client -> CLUSTER4, the tuple of the flow the client opens
 * to that address later.  That crossing's replies could never come back
 * to zone 2 (the node routes its source elsewhere); taken as one, the
 * client's flow to the cluster is the zone-2 peer's (its packets are
 * that crossing's replies, policy 300 -> 400 never asked) and the peer
 * feeds it as the cluster's answers.  A flow leaving to a tailnet whose
 * source is routed out of another interface is refused.
 */
#define CLUSTER4 "198.18.7.1" /* a cluster address, routed off the tailnet */
static void test_crossing_first_cannot_take_other_zone_flow(void **state)
{
	struct th *h = *state;
	struct pkt_spec l = pt_flow(CLIENT4, CPORT, CLUSTER4, 80, UDP, 0);
	struct pkt_spec forged = mt_answer_of(l);
	struct tp_ct_key lkey = xa_key(&l, TH_ZONE);
	struct tp_ct_entry e;
	struct pkt out;
	int v[3];

	REQUIRE_BPF();
	xa_plain_env(h);
	xa_covered_cluster(h, "198.18.7.0/24");
	assert_int_equal(
		system("ip link add tpcl0 type veth peer name tpcl1 && "
		       "ip link set tpcl0 up && ip link set tpcl1 up && "
		       "ip route replace 198.18.7.0/24 dev tpcl0"),
		0);
	v[0] = mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, forged, &out);
	v[1] = mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, l, &out);
	v[2] = mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, forged, &out);
	(void)!system("ip link del tpcl0");

	/* the crossing from the cluster's address: refused, nothing written */
	assert_int_equal(v[0], DROP);
	xa_absent(h, &forged, TH_ZONE2);
	/* the client's flow is its own, to the cluster side */
	assert_int_equal(v[1], PASS);
	e = pt_ct_must(h, &lkey);
	assert_false(e.flags & TP_CT_F_REPLY_KEY);
	assert_int_equal(e.out_zone, 0);
	assert_int_equal(e.packets[TP_CT_DIR_ORIG], 1);
	/* and zone 2 cannot feed it: both refused before any entry */
	assert_int_equal(v[2], DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 2);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 0);
	e = pt_ct_must(h, &lkey);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 0);
	assert_int_equal(pt_ct_count(h), 1);
	assert_int_equal(th_stat(h, TP_STAT_CT_NEW), 1);
}

/*
 * The refusal as a denial of service: a zone-2 peer whose allowed IPs
 * cover a zone-1 client's address (tailnets overlap, or a subnet router
 * of zone 2) sends from it, from the client's port, to a zone-2 peer: a
 * hairpin of zone 2 whose reply tuple (peer -> client, zone 2) is the
 * one the client's own crossing to that peer would have its replies
 * under.  The hairpin's replies go to zone 1 (the node routes the
 * client's address there), so it can never be a connection; holding
 * the tuple, it would make the client's crossing a clash (a peer able
 * to cover the address floods the client's ports).  Before crossings
 * checked their out zone the client's flow was created and its replies
 * reached it; within one zone no peer can send from another's address.
 * Refused as the crossing from a cluster address is: the client's
 * crossing is created, with its reply key in zone 2.
 */
static void
test_hairpin_on_other_zone_address_cannot_block_crossing(void **state)
{
	struct th *h = *state;
	struct pkt_spec c = pt_flow(CLIENT4, CPORT, PEER2_4, BPORT, UDP, 0);
	struct tp_ct_key ckey = xa_key(&c, TH_ZONE);
	struct tp_ct_key rkey =
		xa_key(FLOWP(PEER2_4, BPORT, CLIENT4, CPORT, UDP, 0), TH_ZONE2);
	struct tp_ct_entry e;
	struct pkt out;

	REQUIRE_BPF();
	xa_plain_env(h);
	pt_ident(h, TH_ZONE2, "100.64.0.0/24", 500); /* covers the client */
	/* the hairpin from the client's address in zone 2 */
	xa_refused(h, c, TP_DROP_REVERSE_PATH, 1, 0);

	/* the client's crossing */
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, c, &out),
		PASS);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 0);
	e = pt_ct_must(h, &ckey);
	assert_int_equal(e.out_zone, TH_ZONE2);
	e = pt_ct_must(h, &rkey);
	assert_true(e.flags & TP_CT_F_REPLY_KEY);
	assert_int_equal(pt_ct_count(h), 2);
}

/*
 * A masqueraded crossing M (zone 1 -> 2) and, from zone 2, a plain
 * crossing C on M's reversed tuple, once M has ended or aged: while M
 * lives (a closed or reset flow until its close timeout, as under the
 * clash rule of one zone) C is a clash; from the second M expires C is
 * created over it: C's reply key in zone 1 replaces M's stale entry, M's
 * SNAT reply key in zone 2 goes with it, and the client's answer is C's
 * reply, not masqueraded as M's packets were.  ICMP echo: ids 0 on both
 * sides (a request's key is (id, 0)), the only echo tuples that meet.
 */
struct stale_case {
	const char *name;
	bool v6;
	__u8 proto;	 /* TCP, UDP, or ICMP: an echo of either family */
	__u8 end;	 /* flags of a client packet ending M, 0: none */
	__u32 live_s;	 /* C is still refused this many seconds on */
	__u32 expires_s; /* and created this many */
};

static const struct stale_case stale_cases[] = {
	{ "udp4_expired", false, UDP, 0, 59, 60 },
	{ "udp6_expired", true, UDP, 0, 59, 60 },
	{ "tcp4_syn_only_expired", false, TCP, 0, 59, 60 },
	{ "tcp4_reset_until_close_timeout", false, TCP, RST, 9, 10 },
	{ "tcp6_fin_unanswered_expired", true, TCP, FIN, 59, 60 },
	{ "echo4_id0_expired", false, ICMP, 0, 29, 30 },
	{ "echo6_id0_expired", true, ICMP, 0, 29, 30 },
};

/* The first packet of @c's flow from @src:@sport to @dst:@dport. */
static struct pkt_spec xa_first(const struct stale_case *c, const char *src,
				__u16 sport, const char *dst, __u16 dport)
{
	if (c->proto != ICMP)
		return pt_flow(src, sport, dst, dport, c->proto,
			       c->proto == TCP ? SYN : 0);
	return pt_echo(src, dst, 0, 1);
}

static void test_stale_case(void **state)
{
	const struct stale_case *sc = rt_row();
	struct th *h = *state;
	const char *client = sc->v6 ? CLIENT6 : CLIENT4,
		   *peer = sc->v6 ? PEER2_6 : PEER2_4;
	struct pkt_spec m = xa_first(sc, client, CPORT, peer, BPORT);
	struct pkt_spec c = xa_first(sc, peer, BPORT, client, CPORT);
	struct pkt_spec end = m, answer = mt_answer_of(c);
	struct tp_ct_key mkey = mt_key_of(&m), ckey = mt_key_of(&c), rk;
	struct tp_ct_entry e;
	struct pkt out;

	REQUIRE_BPF();
	xa_env(h);
	mkey.zone = TH_ZONE;
	ckey.zone = TH_ZONE2;
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, m, &out),
		REDIRECT);
	e = pt_ct_must(h, &mkey);
	assert_true(tp_ct_is_masq(&e));
	/* M's SNAT reply key: peer -> node:port in zone 2 (an echo: (0, id)) */
	rk = pt_ct_key(peer, sc->proto == ICMP ? 0 : BPORT,
		       sc->v6 ? MASQ2_6 : MASQ2_4, ntohs(e.snat_port), m.proto);
	rk.zone = TH_ZONE2;
	e = pt_ct_must(h, &rk);
	assert_true(e.flags & TP_CT_F_REPLY_KEY);
	if (sc->end) {
		end.tcp_flags = sc->end | (sc->end == FIN ? ACK : 0);
		assert_int_equal(mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex,
					     0, end, &out),
				 REDIRECT);
	}
	assert_int_equal(pt_ct_count(h), 2);

	/* M still lives: C is a clash, nothing written */
	th_set_clock(h, T0 + (__u64)sc->live_s * SEC_NS);
	xa_refused(h, c, TP_DROP_CT_CLASH, 1, 2);

	/* M expired: C is created, its reply key over M's entry */
	th_set_clock(h, T0 + (__u64)sc->expires_s * SEC_NS);
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, c, &out),
		PASS);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 1);
	e = pt_ct_must(h, &ckey);
	assert_false(e.flags & (TP_CT_F_REPLY_KEY | TP_CT_F_SNAT));
	assert_int_equal(e.out_zone, TH_ZONE);
	e = pt_ct_must(h, &mkey);
	assert_true(e.flags & TP_CT_F_REPLY_KEY);
	assert_int_equal(e.orig_zone, TH_ZONE2);
	assert_int_equal(pt_ct_get(h, &rk, &e), -ENOENT);
	assert_int_equal(pt_ct_count(h), 2);

	/* the client's answer is C's reply, untranslated */
	xa_from_zone1(h, answer, PASS, answer);
	e = pt_ct_must(h, &ckey);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 1);
	assert_int_equal(th_stat(h, TP_STAT_MASQ), sc->end ? 2 : 1);
	assert_int_equal(pt_ct_count(h), 2);
}

/*
 * Zone 1 masquerades pods (two ports, PORT_LO and PORT_LO + 1) and the
 * node's zone-1 address is its own; a zone-2 peer's allowed IPs cover it.
 * The peer sends from it, from a port of the range, to a zone-1 client:
 * a crossing into zone 1 on the reply tuple of the pod's masqueraded
 * flow to that client (client -> node:port), which the kernel drops
 * anyway (a local source from outside is a martian).
 */
static void xa_node_addr_env(struct th *h)
{
	xa_plain_env(h);
	mt_masq_env(h, PORT_LO, PORT_LO + 1);
	pt_ident(h, TH_ZONE2, MASQ4 "/32", 500);
	pt_ident(h, 0, "198.18.2.0/24", 600);
	pt_rule(h, 600, 300, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	assert_int_equal(system("ip addr replace " MASQ4 "/32 dev tptun0"), 0);
}

/*
 * The pod's flow first, masqueraded to the node's address and a port p:
 * the crossing from the node's address and p, whose reply tuple in zone
 * 1 is the pod's flow's (client -> node:p), is refused; the client's
 * answer still reaches the pod.
 */
static void test_crossing_from_node_addr_after_masq_flow(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = pt_flow(POD4, PPORT, CLIENT4, DPORT, UDP, 0);
	struct tp_ct_key qkey = xa_key(&q, TH_ZONE);
	struct tp_ct_entry e;
	struct pkt out;
	int v;

	REQUIRE_BPF();
	xa_node_addr_env(h);
	v = mt_pod_out(h, q, &out);
	assert_int_equal(v, PASS);
	e = pt_ct_must(h, &qkey);
	assert_true(tp_ct_is_masq(&e));
	xa_refused(h,
		   pt_flow(MASQ4, ntohs(e.snat_port), CLIENT4, DPORT, UDP, 0),
		   TP_DROP_REVERSE_PATH, 1, 2);
	(void)!system("ip addr del " MASQ4 "/32 dev tptun0");
	mt_expect_answer(h, q, MASQ4, ntohs(e.snat_port));
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 0);
}

/*
 * The crossings first, from the node's address and each port of the
 * range: refused, so they hold none of its ports toward the client, and
 * the pod's flow gets one (else: TP_DROP_SNAT_EXHAUSTED, a zone-2 peer
 * denying every pod's flow to that client and port).
 */
static void test_crossing_from_node_addr_cannot_hold_masq_ports(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = pt_flow(POD4, PPORT, CLIENT4, DPORT, UDP, 0);
	struct pkt out;
	int v[3];

	REQUIRE_BPF();
	xa_node_addr_env(h);
	v[0] = mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0,
			   pt_flow(MASQ4, PORT_LO, CLIENT4, DPORT, UDP, 0),
			   &out);
	v[1] = mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0,
			   pt_flow(MASQ4, PORT_LO + 1, CLIENT4, DPORT, UDP, 0),
			   &out);
	v[2] = mt_pod_out(h, q, &out);
	(void)!system("ip addr del " MASQ4 "/32 dev tptun0");
	assert_int_equal(v[0], DROP);
	assert_int_equal(v[1], DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 2);
	assert_int_equal(v[2], PASS);
	assert_int_equal(pt_drops(h, TP_DROP_SNAT_EXHAUSTED), 0);
	assert_int_equal(th_stat(h, TP_STAT_MASQ), 1);
	assert_int_equal(pt_ct_count(h), 2);
}

/* Everything a refused packet could have moved: conntrack and counters. */
struct xa_snap {
	unsigned int n;
	struct {
		struct tp_ct_key k;
		struct tp_ct_entry e;
	} ct[16];
	struct tp_stat stats[TP_STAT_MAX];
	unsigned int affinity, frags;
};

static int xa_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tp_ct_key));
}

static unsigned int xa_map_count(int fd, size_t key_size)
{
	__u8 k[64], next[64];
	unsigned int n = 0;

	assert_true(key_size <= sizeof(k));
	if (bpf_map_get_next_key(fd, NULL, next))
		return 0;
	do {
		memcpy(k, next, key_size);
		n++;
	} while (!bpf_map_get_next_key(fd, k, next));
	return n;
}

static void xa_snap(struct th *h, struct xa_snap *sn)
{
	int fds[2] = { h->maps.ct, h->maps.ct_any }, ncpu, i, c;
	struct tp_ct_key k, next, *prev;
	__u32 id;

	memset(sn, 0, sizeof(*sn));
	for (i = 0; i < 2; i++) {
		for (prev = NULL; !bpf_map_get_next_key(fds[i], prev, &next);
		     prev = &k) {
			k = next;
			assert_true(sn->n < 16);
			sn->ct[sn->n].k = k;
			assert_int_equal(bpf_map_lookup_elem(fds[i], &k,
							     &sn->ct[sn->n].e),
					 0);
			sn->n++;
		}
	}
	qsort(sn->ct, sn->n, sizeof(sn->ct[0]), xa_key_cmp);
	ncpu = libbpf_num_possible_cpus();
	assert_true(ncpu > 0);
	for (id = 0; id < TP_STAT_MAX; id++) {
		struct tp_stat per[ncpu];

		assert_int_equal(bpf_map_lookup_elem(h->maps.stats, &id, per),
				 0);
		for (c = 0; c < ncpu; c++) {
			sn->stats[id].packets += per[c].packets;
			sn->stats[id].bytes += per[c].bytes;
		}
	}
	sn->affinity =
		xa_map_count(h->maps.affinity, sizeof(struct tp_affinity_key));
	sn->frags = xa_map_count(h->maps.frags, sizeof(struct tp_frag_key));
}

/*
 * The refusal of test_crossing_on_masq_flow_tuple_clashes, map by map:
 * conntrack byte for byte as it was (M's counters, its SNAT reply key:
 * no port taken), no affinity or fragment record, and of the counters
 * only the packet in, drop_conntrack_clash and the policy's allow moved,
 * by one packet each, and events by two (the decision is counted and
 * reported before the entries are written, as for every clash, then the
 * drop); nothing counted as passed, new, masqueraded or forwarded.
 */
static void test_clash_refusal_moves_only_its_counter(void **state)
{
	struct th *h = *state;
	struct pkt_spec m = pt_flow(CLIENT4, CPORT, PEER2_4, BPORT, UDP, 0);
	struct pkt_spec c = mt_answer_of(m);
	static struct xa_snap before, after;
	__u32 id;
	struct pkt out;

	REQUIRE_BPF();
	xa_masq_flow(h, m, &out);
	xa_snap(h, &before);
	assert_int_equal(before.n, 2);
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, c, &out),
		DROP);
	xa_snap(h, &after);
	assert_int_equal(after.n, before.n);
	assert_memory_equal(after.ct, before.ct, sizeof(before.ct));
	assert_int_equal(after.affinity, 0);
	assert_int_equal(after.frags, 0);
	for (id = 0; id < TP_STAT_MAX; id++) {
		__u64 moved = id == TP_STAT_RX_TAILNET ||
			      id == TP_STAT_VERDICT_ALLOW ||
			      id == TP_STAT_DROP(TP_DROP_CT_CLASH);

		if (id == TP_STAT_EVENTS) /* the decision's, the drop's */
			moved = 2;
		assert_int_equal(after.stats[id].packets,
				 before.stats[id].packets + moved);
		if (!moved)
			assert_int_equal(after.stats[id].bytes,
					 before.stats[id].bytes);
	}
}

/*
 * ICMP errors after test_crossing_on_masq_flow_tuple_clashes's refusal
 * reach M, the only flow there is, translated as M's: the zone-2 peer's
 * port unreachable about M's masqueraded packet (node:port -> peer)
 * reaches the client quoting client -> peer; the client's about what
 * the refused crossing would have sent it (peer -> client: M's answer as
 * the client sees it) reaches the peer from the node's zone-2 address
 * quoting peer -> node:port, forwarded into zone 2.
 */
static void test_errors_after_clash_reach_the_live_flow(void **state)
{
	struct th *h = *state;
	struct pkt_spec m = pt_flow(CLIENT4, CPORT, PEER2_4, BPORT, UDP, 0);
	struct pkt_spec c = mt_answer_of(m), sent;
	struct tp_ct_key mkey = xa_key(&m, TH_ZONE);
	struct pkt in, want, out;
	struct tp_ct_entry e;

	REQUIRE_BPF();
	e = xa_masq_flow(h, m, &out);
	sent = mt_with_side(m, true, MASQ2_4, ntohs(e.snat_port));
	xa_refused(h, c, TP_DROP_CT_CLASH, 1, 2);

	pt_icmp_err(&in, PEER2_4, MASQ2_4, &sent);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, &in, &out),
		PASS);
	pt_icmp_err(&want, PEER2_4, CLIENT4, &m);
	assert_int_equal(
		pkt_compare(stderr, want.data, want.len, out.data, out.len), 0);

	pt_icmp_err(&in, CLIENT4, PEER2_4, &c);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &in, &out),
		REDIRECT);
	/* forwarded by the node: TTL 63 */
	pt_icmp_err_on_at(
		__FILE__, __LINE__, &want, MASQ2_4, PEER2_4,
		FLOWP(PEER2_4, BPORT, MASQ2_4, ntohs(e.snat_port), UDP, 0), 3,
		3, 0, 0, 63);
	assert_int_equal(
		pkt_compare(stderr, want.data, want.len, out.data, out.len), 0);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 2);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 1);
	assert_int_equal(pt_ct_count(h), 2);
	e = pt_ct_must(h, &mkey);
	assert_int_equal(e.packets[TP_CT_DIR_ORIG], 1);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 0);
}

/*
 * A zone-2 peer covering a service VIP (its tailnet's subnet router for
 * another cluster's service range) sends from VIP:80 to a zone-1
 * client's port: a crossing whose reply key in zone 1 (client -> VIP:80)
 * is the client's service flow's tuple.  Before the client's flow it
 * would take the client's packets to the service as its replies (never
 * translated to the backend) and feed the client as the service; after
 * it, it is a clash.  Its replies would never come back (the node
 * translates client -> VIP:80 for the service): refused both times, and
 * the client's flow is DNATed to its backend.
 */
static void test_crossing_from_service_vip_refused(void **state)
{
	struct th *h = *state;
	struct pkt_spec sv = pt_flow(CLIENT4, CPORT, VIP4, 80, UDP, 0);
	struct pkt_spec forged = mt_answer_of(sv);

	REQUIRE_BPF();
	xa_plain_env(h);
	pt_ident(h, 0, "198.18.1.0/24", 400);
	pt_rule(h, 300, 400, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	pt_ident(h, TH_ZONE2, VIP4 "/32", 500);
	pt_service(h, VIP4, 80, UDP, (const char *[]){ BE4[0] }, 1, 8080, NULL,
		   NULL, 0, 0);
	xa_refused(h, forged, TP_DROP_REVERSE_PATH, 1, 0);
	pt_expect_dnat(h, sv, BE4[0], 8080);
	/* the client's flow, one entry (its backend is indexed) */
	xa_refused(h, forged, TP_DROP_REVERSE_PATH, 2, 1);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 0);
}

/*
 * C of test_crossing_on_masq_flow_tuple_clashes over IPv6 with the
 * IPv4-mapped addresses of M's tuple (keys hold IPv4 that way): dropped
 * by the parser, before any lookup; M untouched.
 */
static void test_v4_mapped_crossing_on_masq_flow_tuple(void **state)
{
	struct th *h = *state;
	struct pkt_spec m = pt_flow(CLIENT4, CPORT, PEER2_4, BPORT, UDP, 0);
	struct tp_ct_key mkey = xa_key(&m, TH_ZONE);
	struct tp_ct_entry before, after;
	struct pkt out;

	REQUIRE_BPF();
	before = xa_masq_flow(h, m, &out);
	xa_refused(h,
		   pt_flow("::ffff:" PEER2_4, BPORT, "::ffff:" CLIENT4, CPORT,
			   UDP, 0),
		   TP_DROP_V4_MAPPED, 1, 2);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 0);
	after = pt_ct_must(h, &mkey);
	assert_memory_equal(&after, &before, sizeof(before));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_crossing_on_masq_flow_tuple_clashes),
		T(test_crossing_cannot_feed_other_zone_flow),
		T(test_crossing_first_cannot_take_other_zone_flow),
		T(test_hairpin_on_other_zone_address_cannot_block_crossing),
		T(test_v4_mapped_crossing_on_masq_flow_tuple),
		T(test_crossing_from_service_vip_refused),
		T(test_clash_refusal_moves_only_its_counter),
		T(test_errors_after_clash_reach_the_live_flow),
		T(test_crossing_from_node_addr_after_masq_flow),
		T(test_crossing_from_node_addr_cannot_hold_masq_ports),
		RT_TEST(stale_cases, 0, test_stale_case),
		RT_TEST(stale_cases, 1, test_stale_case),
		RT_TEST(stale_cases, 2, test_stale_case),
		RT_TEST(stale_cases, 3, test_stale_case),
		RT_TEST(stale_cases, 4, test_stale_case),
		RT_TEST(stale_cases, 5, test_stale_case),
		RT_TEST(stale_cases, 6, test_stale_case),
	};

	if (RT_MISSING(tests, stale_cases))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
