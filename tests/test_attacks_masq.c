// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Masquerade to the tailnet under attack (bpf/lib/masq.h): a hostile
 * tailnet peer (forged replies and errors, flows opened on a masqueraded
 * flow's port), a hostile pod (the port range, fragments, errors about
 * other pods' flows), and the node's own state moving under live flows
 * (this host's own traffic on the range, routers behind the node, the
 * zone's address changing, masquerade turned off).
 *
 * A fault found without a small, clear fix is skipped with "FAULT:"
 * (TP_RUN_FAULTS=1 runs it, and it fails as written).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conntrack.h"
#include "gc.h"
#include "masqtest.h"
#include "pkttest.h"
#include "static_nat.h"

#define MASQ4B "100.64.0.101" /* the zone's address after it changed */
#define PEER4B "100.64.0.2"   /* another peer of the zone */

/* a Tailscale subnet router of the zone */
#define SUBNET_ROUTER6 "fd7a:115c:a1e0::fe"

/* Crossings into @zone masqueraded too (TP_MASQ_F_CROSSING, as the loader sets). */
static void masq_crossing(struct th *h, __u32 zone)
{
	struct tp_masq m;

	assert_int_equal(bpf_map_lookup_elem(h->maps.masq, &zone, &m), 0);
	m.flags |= TP_MASQ_F_CROSSING;
	assert_int_equal(bpf_map_update_elem(h->maps.masq, &zone, &m, BPF_ANY),
			 0);
}

static int host_out(struct th *h, struct pkt_spec sp, struct pkt *out)
{
	return mt_run_spec(h, TH_TO_TAILNET, h->l3_ifindex, 0, sp, out);
}

/* The host's own packet @sp must leave to the tailnet untranslated. */
static void host_untranslated(struct th *h, struct pkt_spec sp)
{
	struct pkt out;

	assert_int_equal(host_out(h, sp, &out), PASS);
	pt_expect_pkt(sp, &out);
}

/* The conntrack entry of the flow whose first packet is @first. */
static struct tp_ct_entry ct_of(struct th *h, struct pkt_spec first)
{
	struct tp_ct_key k = mt_key_of(&first);

	return pt_ct_must(h, &k);
}

/*
 * Masquerade on with the ports PORT_LO..@hi (mt_masq_env()), for a test
 * that needs the harness's uplink too: its ifindex.
 */
static int masq_env_uplink(struct th *h, __u16 hi)
{
	int up;

	mt_masq_env(h, PORT_LO, hi);
	up = th_uplink(h);
	assert_true(up > 0);
	return up;
}

/* The pod's flow @q out, its answer back; returns the port it took. */
static __u16 roundtrip(struct th *h, struct pkt_spec q, const char *masq)
{
	struct tp_ct_key k = mt_key_of(&q);
	struct tp_ct_entry e;
	struct pkt out;
	__u16 port;

	assert_int_equal(mt_pod_out(h, q, &out), PASS);
	e = pt_ct_must(h, &k);
	assert_true(tp_ct_is_masq(&e));
	port = ntohs(e.snat_port);
	pt_expect_pkt(mt_with_side(q, true, masq, port), &out);
	mt_expect_answer(h, q, masq, port);
	return port;
}

/* The whole port range and @q's flow out and back (roundtrip()); its port. */
static __u16 masq_flow(struct th *h, struct pkt_spec q, const char *masq)
{
	mt_masq_env(h, PORT_LO, PORT_HI);
	return roundtrip(h, q, masq);
}

/*
 * This host's own flow from its tailnet address and a port (or echo id) of
 * the SNAT range is untranslated: its reply tuple is found by reversing,
 * with no entry of its own.  A masqueraded flow to the same peer and port
 * must not take that port: both would leave with one tuple, and the
 * host's replies would go to the pod.  Echo ids are no reserved ports:
 * ping sockets and raw pings use ids of the range all the time.
 */
static void host_flow_first(void **state, __u8 proto)
{
	struct th *h = *state;
	struct pkt_spec own = mt_first_of(MASQ4, PORT_LO, CLIENT4, proto);
	struct pkt_spec pod = mt_first_of(POD4, PPORT, CLIENT4, proto);
	struct tp_ct_entry e;
	struct pkt out;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_LO);
	host_untranslated(h, own);
	e = ct_of(h, own);
	assert_false(tp_ct_is_masq(&e));
	/* the one port of the range is the host's flow's: none for the pod */
	assert_int_equal(mt_pod_out(h, pod, &out), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_SNAT_EXHAUSTED), 1);
	/* the peer's answer is the host's, untouched */
	assert_int_equal(mt_tailnet_in(h, mt_answer_of(own), &out), PASS);
	pt_expect_pkt(mt_answer_of(own), &out);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 0);
}

static void test_host_echo_id_not_taken(void **state)
{
	host_flow_first(state, IPPROTO_ICMP);
}

static void test_host_udp_port_not_taken(void **state)
{
	host_flow_first(state, UDP);
}

/*
 * The other order: a masqueraded flow holds an echo id (or port), then
 * this host pings the same peer from its own address with that id.  Its
 * request clashed with the pod's flow and passed untracked, and the
 * peer's echo replies (to the node's address and that id) went to the
 * pod.  As Linux remaps a local connection whose tuple NAT took, the
 * host's flow now gets an id of the range, and its replies come back
 * restored to it; the pod's flow keeps its own.
 */
static void host_after_masq_flow(void **state, __u8 proto)
{
	struct th *h = *state;
	struct pkt_spec pod = mt_first_of(POD4, 7, CLIENT4, proto), own;
	struct tp_ct_entry e;
	struct pkt out;
	__u16 port, n;

	REQUIRE_BPF();
	port = masq_flow(h, pod, MASQ4);
	own = mt_first_of(MASQ4, port, CLIENT4, proto);
	assert_int_equal(host_out(h, own, &out), PASS);
	e = ct_of(h, own);
	assert_true(tp_ct_is_masq(&e));
	n = ntohs(e.snat_port);
	assert_int_not_equal(n, port);
	pt_expect_pkt(mt_with_side(own, true, MASQ4, n), &out);
	/* the answer to the host's request reaches the host, with its own id */
	mt_expect_answer(h, own, MASQ4, n);
	/* the pod's answers still reach the pod */
	mt_expect_answer(h, pod, MASQ4, port);
}

static void test_host_echo_after_masq_flow(void **state)
{
	host_after_masq_flow(state, IPPROTO_ICMP);
}

static void test_host_udp_after_masq_flow(void **state)
{
	host_after_masq_flow(state, UDP);
}

/*
 * The same with the one port of the range held: no port for the host's
 * flow, which passes untracked as any clash leaving to the tailnet.
 */
static void test_host_after_masq_flow_no_port(void **state)
{
	struct th *h = *state;
	struct pkt_spec pod = mt_first_of(POD4, 7, CLIENT4, UDP), own;
	__u16 port;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_LO);
	port = roundtrip(h, pod, MASQ4);
	own = mt_first_of(MASQ4, port, CLIENT4, UDP);
	host_untranslated(h, own);
	{
		struct tp_ct_key k = mt_key_of(&own);
		struct tp_ct_entry e;

		assert_int_equal(pt_ct_get(h, &k, &e), -ENOENT);
	}
}

/*
 * A router behind the node (on an uplink, between the node and the host
 * the flow is from) reports a reply of a masqueraded flow as too big.
 * Its error leaves through the tailnet interface, whose peers accept
 * only the node's address from it: the outer source must become the
 * masquerade address too, as Linux's MASQUERADE does to errors RELATED
 * to a masqueraded connection, or the peer drops the error and path MTU
 * discovery blackholes TCP (DESIGN.md, "MTU").
 */
static void test_router_error_leaves_from_masq_address(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP), a, quoted;
	struct pkt err, want, out;
	int up;
	__u16 port;

	REQUIRE_BPF();
	up = masq_env_uplink(h, PORT_HI);
	port = roundtrip(h, q, MASQ4);
	a = mt_answer_of(q);
	quoted = mt_with_side(a, false, MASQ4, port);
	pt_icmp_err_t(&err, ROUTER4, CLIENT4, &a, 3, 4, 1280);
	pt_icmp_err_t(&want, MASQ4, CLIENT4, &quoted, 3, 4, 1280);
	assert_int_equal(
		mt_run_pkt(h, TH_TO_TAILNET, h->l3_ifindex, up, &err, &out),
		PASS);
	assert_pkt_eq(want.data, want.len, out.data, out.len);
	{
		char why[128];

		assert_int_equal(pkt_verify_csums(&out, 0, why, sizeof(why)),
				 0);
	}
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 1);
}

/*
 * Found on 1b8e8f6.  A pod's flow to a host behind a Tailscale subnet
 * router, masqueraded: the router's packet too big about it (from its own
 * address) needs, since 1b8e8f6, the quote's destination's identity.  The
 * host has no entry (the Tailscale source writes TailscaleIPs alone), the
 * router its own /128 (@router_id); without its identity the error is
 * decided on its own, never given back to the pod (path MTU discovery
 * toward hosts behind subnet routers blackholes).
 */
static void egress_subnet_router_error_v6(void **state, __u32 router_id)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD6, PPORT, CLIENT6, TCP), quoted;
	struct pkt err, want, out;
	int routed, verdict;
	__u16 port;
	__u64 nat;

	port = masq_flow(h, q, MASQ6);
	pt_ident(h, TH_ZONE, SUBNET_ROUTER6 "/128", router_id);
	quoted = mt_with_side(q, true, MASQ6, port);
	pt_icmp_err_t(&err, SUBNET_ROUTER6, MASQ6, &quoted, 2, 0, 1280);
	pt_icmp_err_t(&want, SUBNET_ROUTER6, POD6, &q, 2, 0, 1280);
	routed =
		system("ip -6 route replace " SUBNET_ROUTER6 "/128 dev tptun0");
	verdict = mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err, &out);
	nat = th_stat(h, TP_STAT_ICMP_ERR_NAT);
	(void)!system("ip -6 route del " SUBNET_ROUTER6 "/128 dev tptun0");
	assert_int_equal(routed, 0);
	if (verdict != PASS || nat != 1)
		fail_msg("the subnet router's (identity %u) packet too big "
			 "about the pod's flow was not the flow's: verdict "
			 "%d, %llu ICMP_ERR_NAT",
			 router_id, verdict, (unsigned long long)nat);
	assert_pkt_eq(want.data, want.len, out.data, out.len);
}

/* an untagged router: `tailnet`, as policy takes the host behind it */
static void test_egress_subnet_router_error_untagged_v6(void **state)
{
	REQUIRE_BPF();
	egress_subnet_router_error_v6(state, TP_ID_TAILNET);
}

/* a tagged router: its tag's identity, none the host has */
static void test_fault_egress_subnet_router_error_tagged_v6(void **state)
{
	REQUIRE_BPF();
	FAULT_UNFIXED("a tagged subnet router's packet too big about a pod's "
		      "flow to a host behind it is decided on its own, never "
		      "given back to the pod");
	egress_subnet_router_error_v6(state, 301);
}

/*
 * The same with IPv6, made by this host from an address that is not the
 * zone's (its uplink address): a packet too big about a reply leaves
 * from the masquerade address, its ICMPv6 checksum (which covers the
 * outer addresses) right.
 */
static void test_host_error_v6_leaves_from_masq_address(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD6, PPORT, CLIENT6, TCP), a, quoted;
	struct pkt err, want, out;
	char why[128];
	__u16 port;

	REQUIRE_BPF();
	port = masq_flow(h, q, MASQ6);
	a = mt_answer_of(q);
	quoted = mt_with_side(a, false, MASQ6, port);
	pt_icmp_err_t(&err, "fd00:198:18::1", CLIENT6, &a, 2, 0, 1280);
	pt_icmp_err_t(&want, MASQ6, CLIENT6, &quoted, 2, 0, 1280);
	assert_int_equal(
		mt_run_pkt(h, TH_TO_TAILNET, h->l3_ifindex, 0, &err, &out),
		PASS);
	assert_pkt_eq(want.data, want.len, out.data, out.len);
	assert_int_equal(pkt_verify_csums(&out, 0, why, sizeof(why)), 0);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 1);
}

/*
 * The zone's address changes (the loader rewrites tp_masq) while a
 * masqueraded flow lives.  Its packets must not keep leaving from the old
 * address, which is no longer the node's: the peer drops them, and a pod
 * that keeps sending (a UDP flow refreshed by every packet) would be cut
 * off for good.  Linux's MASQUERADE forgets such connections when the
 * address goes; here the flow starts over from the zone's address now.
 */
static void test_address_change_moves_flows(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP);
	struct tp_ct_key k = mt_key_of(&q), rk;
	struct tp_ct_entry e;
	struct pkt out;
	__u16 port, port2;

	REQUIRE_BPF();
	port = masq_flow(h, q, MASQ4);
	mt_masq_set(h, TH_ZONE, true, MASQ4B, MASQ6);
	assert_int_equal(mt_pod_out(h, q, &out), PASS);
	e = pt_ct_must(h, &k);
	assert_true(tp_ct_is_masq(&e));
	assert_memory_equal(&e.nat_addr,
			    (&(struct tp_addr[]){ pt_addr(MASQ4B) }[0]),
			    sizeof(e.nat_addr));
	port2 = ntohs(e.snat_port);
	pt_expect_pkt(mt_with_side(q, true, MASQ4B, port2), &out);
	/* the old reservation went with the old flow */
	rk = pt_ct_key(CLIENT4, DPORT, MASQ4, port, UDP);
	assert_int_equal(pt_ct_get(h, &rk, &e), -ENOENT);
	/* replies to the new address and port come back to the pod */
	mt_expect_answer(h, q, MASQ4B, port2);
	/* an unrelated change (the other family's address) moves nothing */
	mt_masq_set(h, TH_ZONE, true, MASQ4B, "fd7a:115c:a1e0::65");
	assert_int_equal(mt_pod_out(h, q, &out), PASS);
	pt_expect_pkt(mt_with_side(q, true, MASQ4B, port2), &out);
}

/*
 * Masquerade turned off (or the zone's entry deleted) with a live flow:
 * the flow keeps its address and port both ways until it ends (as a
 * Linux MASQUERADE rule removed), new flows leave untranslated.
 */
static void test_holds_masq_off_live_flow(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, TCP), q2;
	struct pkt out;
	__u32 zone = TH_ZONE;
	__u16 port;

	REQUIRE_BPF();
	port = masq_flow(h, q, MASQ4);
	assert_int_equal(bpf_map_delete_elem(h->maps.masq, &zone), 0);
	q.tcp_flags = ACK;
	assert_int_equal(mt_pod_out(h, q, &out), PASS);
	pt_expect_pkt(mt_with_side(q, true, MASQ4, port), &out);
	mt_expect_answer(h, q, MASQ4, port);
	q2 = mt_first_of(POD4B, PPORT, CLIENT4, TCP);
	assert_int_equal(mt_pod_out(h, q2, &out), PASS);
	pt_expect_pkt(q2, &out);
}

/*
 * Forged replies a peer of the zone can send: to a masqueraded flow's
 * port from another peer (a RST, an echo reply with the flow's id), or
 * from the flow's peer with another source port.  None is the flow's:
 * untouched, the flow's state unchanged.  A SYN from the flow's peer to
 * its port from another source port is a new flow to the node, never
 * restored to the pod, and the pod's flow keeps its port.
 */
static void test_holds_forged_replies(void **state)
{
	struct th *h = *state;
	struct pkt_spec t = mt_first_of(POD4, PPORT, CLIENT4, TCP);
	struct pkt_spec i = mt_first_of(POD4, 9, CLIENT4, IPPROTO_ICMP), f;
	struct tp_ct_key kt = mt_key_of(&t);
	struct tp_ct_entry before, after;
	struct pkt out;
	__u16 pt, pi;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_HI);
	pt = roundtrip(h, t, MASQ4);
	pi = roundtrip(h, i, MASQ4);
	before = pt_ct_must(h, &kt);
	/* RST from another peer to the flow's port */
	f = pt_flow(PEER4B, DPORT, MASQ4, pt, TCP, RST);
	mt_tailnet_untouched(h, f);
	/* RST from the flow's peer, another source port */
	f = pt_flow(CLIENT4, DPORT + 1, MASQ4, pt, TCP, RST);
	mt_tailnet_untouched(h, f);
	/* SYN from the flow's peer, another source port: a flow to the node */
	f = pt_flow(CLIENT4, DPORT + 1, MASQ4, pt, TCP, SYN);
	mt_tailnet_untouched(h, f);
	after = pt_ct_must(h, &kt);
	assert_int_equal(after.state, before.state);
	assert_int_equal(after.packets[TP_CT_DIR_REPLY],
			 before.packets[TP_CT_DIR_REPLY]);
	/* an echo reply with the flow's id from another peer */
	f = mt_with_side(mt_answer_of(i), false, MASQ4, pi);
	f.saddr = PEER4B;
	mt_tailnet_untouched(h, f);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 2);
	/* the flows still work */
	t.tcp_flags = ACK;
	assert_int_equal(mt_pod_out(h, t, &out), PASS);
	pt_expect_pkt(mt_with_side(t, true, MASQ4, pt), &out);
}

/*
 * A zone that denies by default, a pod allowed out: the peer's answers on
 * the masqueraded flow's reply tuple come in through conntrack, but
 * nothing else the peer sends to the node's address gets in by the
 * flow's port: a SYN or a UDP packet from another source port, an echo
 * request with the flow's id.
 */
static void test_holds_default_deny_only_replies(void **state)
{
	struct th *h = *state;
	struct pkt_spec t = mt_first_of(POD4, PPORT, CLIENT4, TCP);
	struct pkt_spec u = mt_first_of(POD4, PPORT, CLIENT4, UDP), f;
	struct pkt out;
	__u16 pt, pu;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_HI);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_ident(h, 0, POD4 "/32", 300);
	pt_rule(h, 300, TP_POLICY_ANY_ID, TP_POLICY_ANY_ZONE, 0, 0, 0,
		TP_VERDICT_ALLOW);
	pt = roundtrip(h, t, MASQ4);
	pu = roundtrip(h, u, MASQ4);
	assert_int_equal(
		mt_tailnet_in(h,
			      pt_flow(CLIENT4, DPORT + 1, MASQ4, pt, TCP, SYN),
			      &out),
		DROP);
	assert_int_equal(
		mt_tailnet_in(h, pt_flow(CLIENT4, DPORT + 1, MASQ4, pu, UDP, 0),
			      &out),
		DROP);
	f = mt_first_of(CLIENT4, pu, MASQ4, IPPROTO_ICMP);
	assert_int_equal(mt_tailnet_in(h, f, &out), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 3);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 2);
}

/*
 * A packet from the tailnet with the node's own masquerade address as
 * source (a peer whose allowed IPs cover it: an exit node) on the tuple a
 * masqueraded packet left with: not the flow's, and no flow of its own.
 */
static void test_holds_spoofed_masq_source(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP), f;
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	port = masq_flow(h, q, MASQ4);
	f = mt_with_side(q, true, MASQ4, port);
	assert_int_equal(mt_tailnet_in(h, f, &out), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 1);
	/* the flow is intact */
	mt_expect_answer(h, q, MASQ4, port);
}

/*
 * ICMP errors from the tailnet quoting packets the node never sent: the
 * flow's peer and port with another masquerade port, another peer with
 * the flow's port.  About no flow: decided by policy, never translated.
 */
static void test_holds_errors_about_nothing(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP), quoted;
	struct pkt err, out;
	__u16 port;

	REQUIRE_BPF();
	port = masq_flow(h, q, MASQ4);
	quoted = mt_with_side(q, true, MASQ4,
			      port == PORT_HI ? PORT_LO : port + 1);
	pt_icmp_err(&err, CLIENT4, MASQ4, &quoted);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err, &out),
		PASS);
	assert_pkt_eq(err.data, err.len, out.data, out.len);
	quoted = mt_with_side(q, true, MASQ4, port);
	quoted.daddr = PEER4B;
	pt_icmp_err(&err, PEER4B, MASQ4, &quoted);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err, &out),
		PASS);
	assert_pkt_eq(err.data, err.len, out.data, out.len);
	/* quoting the pod's own packet (never on the tailnet) */
	pt_icmp_err(&err, CLIENT4, POD4, &q);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err, &out),
		PASS);
	assert_pkt_eq(err.data, err.len, out.data, out.len);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 0);
}

/*
 * One pod takes the whole range toward one peer and port (its DNS
 * server, say) by opening a flow from each of many source ports: every
 * other pod's flow there is dropped, SNAT_EXHAUSTED, for as long as the
 * pod keeps them alive.  Nothing bounds a source's share of the range.
 */
static void test_fault_one_pod_takes_the_range(void **state)
{
	struct th *h = *state;
	struct pkt out;
	int i;

	REQUIRE_BPF();
	FAULT_UNFIXED(
		"one_pod_takes_the_range: one pod's flows may hold every port of the "
		"SNAT range toward a peer and port; other pods get SNAT_EXHAUSTED "
		"(no per-source share)");
	mt_masq_env(h, PORT_LO, PORT_LO + 7);
	for (i = 0; i < 8; i++)
		assert_int_equal(
			mt_pod_out(h,
				   mt_first_of(POD4, PPORT + i, CLIENT4, UDP),
				   &out),
			PASS);
	/* another pod still gets a port */
	assert_int_equal(
		mt_pod_out(h, mt_first_of(POD4B, PPORT, CLIENT4, UDP), &out),
		PASS);
}

/*
 * The LRU evicts a masqueraded flow's reply key (a hostile pod floods
 * tp_ct_any with flows of its own), and another pod's new flow to the
 * same peer and port reserves that port meanwhile: the peer's answers to
 * the first pod's packets (in flight, or a stream it keeps sending) go to
 * the other pod.  The first flow learns it lost its port only on its next
 * packet.  Linux conntrack never evicts a replied connection to make
 * room; a reservation the LRU can evict cannot stop this.
 */
static void test_fault_evicted_port_taken_gets_replies(void **state)
{
	struct th *h = *state;
	struct pkt_spec qa = mt_first_of(POD4, PPORT, CLIENT4, UDP);
	struct pkt_spec qb = mt_first_of(POD4B, PPORT, CLIENT4, UDP);
	struct tp_ct_key rk;
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	FAULT_UNFIXED(
		"evicted_port_taken_gets_replies: a reply key the LRU evicted lets "
		"another pod's flow reserve the port; the first pod's replies go to it");
	mt_masq_env(h, PORT_LO, PORT_LO);
	port = roundtrip(h, qa, MASQ4);
	rk = pt_ct_key(CLIENT4, DPORT, MASQ4, port, UDP);
	assert_int_equal(bpf_map_delete_elem(tp_ct_fd(&h->maps, UDP), &rk),
			 0); /* evicted */
	/* the other pod's flow: no port may be free while the first flow lives */
	assert_int_equal(mt_pod_out(h, qb, &out), DROP);
	/* the peer's next answer to the first pod reaches the first pod */
	mt_expect_answer(h, qa, MASQ4, port);
}

/*
 * A flow from zone 1's tailnet that policy lets cross into zone 2, whose
 * interface masquerades (its peers accept only the node's address): it
 * must leave zone 2's interface from the node's zone-2 address, as
 * Linux's MASQUERADE on the out interface takes forwarded flows too.
 * (It was a FAULT: forwarded untranslated, it left with the zone-1
 * client's address, which zone 2's peers drop.)  tp_from_tailnet now
 * translates it and forwards it itself (TC_ACT_REDIRECT: handed to the
 * kernel, a packet with the node's address as source would be a
 * martian), so the egress run takes the translated packet.
 */
static void test_holds_crossing_into_masq_zone(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = pt_flow(CLIENT4, 1000, "100.100.0.5", 80, TCP, SYN);
	struct pkt out, fwd;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_HI);
	mt_masq_set(h, TH_ZONE2, true, "100.100.0.100", NULL);
	masq_crossing(h, TH_ZONE2);
	pt_ident(h, TH_ZONE, "100.64.0.0/24", 300);
	pt_ident(h, TH_ZONE2, TH_ZONE2_NET4, 500);
	pt_rule(h, 300, 500, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	assert_int_equal(mt_tailnet_in(h, q, &fwd), 7 /* TC_ACT_REDIRECT */);
	assert_int_equal(mt_run_pkt(h, TH_TO_TAILNET, h->l3_ifindex2,
				    h->l3_ifindex, &fwd, &out),
			 PASS);
	/* it leaves from zone 2's masquerade address */
	assert_memory_equal(
		out.data + 12,
		(&(struct tp_addr[]){ pt_addr("100.100.0.100") }[0])->b + 12,
		4);
}

/*
 * Two pods send fragmented datagrams to one peer with the same IP id.
 * Masqueraded, both leave as (node -> peer, id, UDP): the peer reassembles
 * fragments of the one with the other's, and a pod that sprays every id
 * corrupts the other pods' fragmented traffic to that peer.  Linux
 * defragments before NAT; here the fragments are translated one by one
 * and keep their ids.
 */
static void test_fault_fragment_ids_collide(void **state)
{
	struct th *h = *state;
	static const char data[48] =
		"fragmented masquerade, forty-eight bytes long!";
	struct pkt_spec q1 = mt_first_of(POD4, PPORT, CLIENT4, UDP);
	struct pkt_spec q2 = mt_first_of(POD4B, PPORT, CLIENT4, UDP);
	struct pkt whole, f1, o1, o2;

	REQUIRE_BPF();
	FAULT_UNFIXED(
		"fragment_ids_collide: two pods' fragments with one IP id to one peer "
		"leave masqueraded with the same (source, destination, id): the peer "
		"reassembles them together");
	mt_masq_env(h, PORT_LO, PORT_HI);
	roundtrip(h, q1, MASQ4);
	roundtrip(h, q2, MASQ4);
	q1.payload = q2.payload = data;
	q1.payload_len = q2.payload_len = sizeof(data);
	pt_build(&q1, &whole);
	assert_int_equal(pkt_fragment(&whole, 0, 24, 1, 7, &f1), 0);
	assert_int_equal(mt_run_pkt(h, TH_TO_TAILNET, h->l3_ifindex,
				    POD_IFINDEX, &f1, &o1),
			 PASS);
	pt_build(&q2, &whole);
	assert_int_equal(pkt_fragment(&whole, 0, 24, 1, 7, &f1), 0);
	assert_int_equal(mt_run_pkt(h, TH_TO_TAILNET, h->l3_ifindex,
				    POD_IFINDEX, &f1, &o2),
			 PASS);
	/* source (12..15) and id (4..5) of the two outputs must not both be equal */
	assert_true(memcmp(o1.data + 12, o2.data + 12, 4) ||
		    memcmp(o1.data + 4, o2.data + 4, 2));
}

/*
 * IPv6 fragments of a masqueraded flow, both ways: the first leaves with
 * the node's address and port, a later one with the address; the reply's
 * come back to the pod.
 */
static void test_holds_fragments_v6(void **state)
{
	struct th *h = *state;
	static const char data[64] =
		"fragmented IPv6 masquerade, sixty-four bytes long, or so it is";
	struct pkt_spec q = mt_first_of(POD6, PPORT, CLIENT6, UDP), a;
	struct pkt whole, f, out;
	__u16 port;

	REQUIRE_BPF();
	port = masq_flow(h, q, MASQ6);
	q.payload = data;
	q.payload_len = sizeof(data);
	mt_frags_both_ways(h, q, MASQ6, port, 32, 77, 78);
	/* a later fragment of the reply from another peer: no record, untouched */
	a = mt_with_side(mt_answer_of(q), false, MASQ6, port);
	a.saddr = "fd7a:115c:a1e0::2";
	pt_build(&a, &whole);
	assert_int_equal(pkt_fragment(&whole, 32, 40, 0, 78, &f), 0);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &f, &out),
		PASS);
	assert_pkt_eq(f.data, f.len, out.data, out.len);
}

/*
 * This host's own IPv6 link-local traffic on the tailnet interface (mDNS
 * to ff02::fb, a link-local peer): scoped to the link, never forwarded,
 * and the interface's own.  Masqueraded it would leave with a global
 * source toward a link-scoped destination (RFC 4007) and take a port of
 * the range per multicast group: it leaves as it is, untracked by
 * masquerade.
 */
static void test_link_local_not_masqueraded(void **state)
{
	struct th *h = *state;
	struct pkt_spec m = pt_flow("fe80::1", 5353, "ff02::fb", 5353, UDP, 0);
	struct pkt_spec u = pt_flow("fe80::1", 40000, "fe80::2", 443, TCP, SYN);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_HI);
	host_untranslated(h, m);
	host_untranslated(h, u);
	if (!pt_ct_get(h, (&(struct tp_ct_key[]){ mt_key_of(&u) }[0]), &e))
		assert_false(tp_ct_is_masq(&e));
	assert_int_equal(th_stat(h, TP_STAT_MASQ), 0);
	/* a pod's global source is masqueraded as ever */
	roundtrip(h, mt_first_of(POD6, PPORT, CLIENT6, UDP), MASQ6);
}

/*
 * A pod with a static tailnet address of its own (static 1:1 NAT) is not
 * masqueraded: its packets leave from its own tailnet address, no port
 * of the range is taken, and the peer's answers to that address reach
 * it.  Another pod is masqueraded.
 */
static void test_holds_static_nat_pod(void **state)
{
	struct th *h = *state;
	struct tp_static_nat_entry sn = { .tailnet = pt_addr("100.64.0.50"),
					  .inner = pt_addr(POD4),
					  .zone = TH_ZONE,
					  .owner = TP_OWNER_TPCTL };
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP);
	struct tp_ct_entry e;
	struct pkt out;
	char why[256];

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_HI);
	if (tp_static_nat_add(&h->maps, &sn, why, sizeof(why)))
		fail_msg("static NAT: %s", why);
	assert_int_equal(mt_pod_out(h, q, &out), PASS);
	pt_expect_pkt(mt_with_side(q, true, "100.64.0.50", PPORT), &out);
	e = ct_of(h, q);
	assert_false(tp_ct_is_masq(&e));
	assert_int_equal(mt_tailnet_in(h,
				       mt_with_side(mt_answer_of(q), false,
						    "100.64.0.50", PPORT),
				       &out),
			 PASS);
	pt_expect_pkt(mt_answer_of(q), &out);
	assert_int_equal(th_stat(h, TP_STAT_MASQ), 0);
	roundtrip(h, mt_first_of(POD4B, PPORT, CLIENT4, UDP), MASQ4);
}

/*
 * SNAT toward a backend and masquerade share the port range, and their
 * reply keys share the conntrack tables: with one port in the range a
 * SNAT flow (zone 0: backend -> node's SNAT address) and a masqueraded
 * flow (its zone: peer -> masquerade address) both hold it, and each
 * reply finds its own flow.  Each flow's reply tuple coming in through
 * the other side (the masqueraded flow's on the uplink, the SNAT flow's
 * from the tailnet) is neither's.
 */
static void test_holds_snat_and_masq_share_port(void **state)
{
	struct th *h = *state;
	const char *be[1] = { BE4[1] };
	struct pkt_spec c = pt_flow(CLIENT4, 40000, VIP4, 80, UDP, 0), r;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP);
	struct tp_ct_entry e;
	struct pkt in, out;
	int up;
	__u16 port;

	REQUIRE_BPF();
	up = masq_env_uplink(h, PORT_LO);
	pt_service(h, VIP4, 80, UDP, be, 1, 8080, NULL, NULL, TP_SVC_F_SNAT, 0);
	assert_int_equal(mt_tailnet_in(h, c, &out), 7 /* TC_ACT_REDIRECT */);
	e = ct_of(h, c);
	assert_int_equal(e.flags, TP_CT_F_DNAT | TP_CT_F_SNAT);
	assert_int_equal(ntohs(e.snat_port), PORT_LO);
	port = roundtrip(h, q, MASQ4);
	assert_int_equal(port, PORT_LO);
	/* the SNAT reply on the uplink: restored to the client */
	r = pt_flow(BE4[1], 8080, "198.18.0.1", PORT_LO, UDP, 0);
	r.l2 = 1;
	pt_build(&r, &in);
	assert_int_equal(mt_run_pkt(h, TH_FROM_UPLINK, up, 0, &in, &out),
			 7 /* TC_ACT_REDIRECT */);
	r.ttl = 63;
	r.saddr = VIP4;
	r.sport = 80;
	r.daddr = CLIENT4;
	r.dport = 40000;
	pt_expect_pkt(r, &out);
	/* the masqueraded flow's reply tuple on the uplink: not ours there */
	r = mt_with_side(mt_answer_of(q), false, MASQ4, port);
	r.l2 = 1;
	pt_build(&r, &in);
	assert_int_equal(mt_run_pkt(h, TH_FROM_UPLINK, up, 0, &in, &out), PASS);
	assert_pkt_eq(in.data, in.len, out.data, out.len);
	/* the SNAT flow's reply tuple from the tailnet: not restored */
	r = pt_flow(BE4[1], 8080, "198.18.0.1", PORT_LO, UDP, 0);
	pt_build(&r, &in);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &in, &out),
		PASS);
	assert_pkt_eq(in.data, in.len, out.data, out.len);
	/* and the masqueraded flow still gets its own replies */
	mt_expect_answer(h, q, MASQ4, port);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 2);
}

/*
 * The LRU evicts a masqueraded flow's entry and leaves its reply key: the
 * key is an orphan.  The peer's answer on that tuple is no reply (it
 * comes to the node untouched, a new flow), the GC takes the orphan, and
 * a new flow may take the port.
 */
static void test_holds_orphan_reply_key(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP), a;
	struct tp_ct_key k = mt_key_of(&q), rk;
	struct tpd_gc_result res;
	struct tp_ct_entry e;
	__u16 port;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_LO);
	port = roundtrip(h, q, MASQ4);
	rk = pt_ct_key(CLIENT4, DPORT, MASQ4, port, UDP);
	assert_int_equal(bpf_map_delete_elem(tp_ct_fd(&h->maps, UDP), &k), 0);
	a = mt_with_side(mt_answer_of(q), false, MASQ4, port);
	assert_int_equal(tpd_gc(&h->maps, T0, 30, &res), 0);
	assert_int_equal(pt_ct_get(h, &rk, &e), -ENOENT);
	mt_tailnet_untouched(h, a);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 1);
	/* the one port is free again once the node's own flow on it is gone */
	th_set_clock(h, T0 + 3600 * SEC_NS);
	roundtrip(h, mt_first_of(POD4B, PPORT, CLIENT4, UDP), MASQ4);
}

/*
 * IPv4-mapped addresses: keys hold IPv4 that way, so a pod's IPv6 packet
 * to ::ffff:<peer> would alias the IPv4 flow (and its reply key), and a
 * reply forged from ::ffff:<peer> to the masquerade address would be
 * that IPv4 flow's.  Both are dropped (TP_DROP_V4_MAPPED): no port
 * taken, the IPv4 flow untouched.
 */
static void test_holds_v4_mapped(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP), f;
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	port = masq_flow(h, q, MASQ4);
	f = mt_first_of(POD6, PPORT, "::ffff:100.64.0.1", UDP);
	assert_int_equal(mt_pod_out(h, f, &out), DROP);
	f = pt_flow("::ffff:100.64.0.1", DPORT, MASQ6, port, UDP, 0);
	assert_int_equal(mt_tailnet_in(h, f, &out), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_V4_MAPPED), 2);
	assert_int_equal(th_stat(h, TP_STAT_MASQ), 1);
	mt_expect_answer(h, q, MASQ4, port);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
		T(test_host_echo_id_not_taken),
		T(test_host_udp_port_not_taken),
		T(test_host_echo_after_masq_flow),
		T(test_host_udp_after_masq_flow),
		T(test_host_after_masq_flow_no_port),
		T(test_router_error_leaves_from_masq_address),
		T(test_egress_subnet_router_error_untagged_v6),
		T(test_fault_egress_subnet_router_error_tagged_v6),
		T(test_host_error_v6_leaves_from_masq_address),
		T(test_address_change_moves_flows),
		T(test_holds_masq_off_live_flow),
		T(test_holds_forged_replies),
		T(test_holds_default_deny_only_replies),
		T(test_holds_spoofed_masq_source),
		T(test_holds_errors_about_nothing),
		T(test_fault_one_pod_takes_the_range),
		T(test_fault_evicted_port_taken_gets_replies),
		T(test_fault_fragment_ids_collide),
		T(test_holds_crossing_into_masq_zone),
		T(test_holds_fragments_v6),
		T(test_link_local_not_masqueraded),
		T(test_holds_static_nat_pod),
		T(test_holds_snat_and_masq_share_port),
		T(test_holds_orphan_reply_key),
		T(test_holds_v4_mapped),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
