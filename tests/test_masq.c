// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Masquerade to the tailnet (bpf/lib/masq.h): packet tests through
 * BPF_PROG_TEST_RUN.  A pod's new flow leaving through a tailnet interface
 * whose zone has masquerade on leaves from the node's address there and a
 * port of the SNAT range; its replies come back restored, byte for byte,
 * TCP, UDP and ICMP echo, IPv4 and IPv6.  Also: ports per flow, exhaustion
 * and clashes, forged and misrouted replies, ICMP errors both layers deep
 * both ways, policy on the pod's identity, masquerade off, and the
 * verifier's processed instructions of each program (printed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "conntrack.h"
#include "gc.h"
#include "masqtest.h"
#include "pkttest.h"
#include "snat.h"

#define POD6B	 "fd00:198:18::2:6"
#define TROUTER4 "100.64.0.254" /* a router on the tailnet side */

#define ECHO_ID 77
#define POD_ID	300

#define FLOWK(...) (&(struct tp_ct_key[]){ pt_ct_key(__VA_ARGS__) }[0])
#define PT_EQ_PKT(want, got)                                                  \
	do {                                                                  \
		char why_[128];                                               \
		assert_int_equal(pkt_compare(stderr, (want).data, (want).len, \
					     (got).data, (got).len),          \
				 0);                                          \
		assert_int_equal(                                             \
			pkt_verify_csums(&(got), 0, why_, sizeof(why_)), 0);  \
	} while (0)

struct fam {
	const char *peer, *masq, *pod, *pod2;
	__u8 icmp;
};

static const struct fam V4 = { CLIENT4, MASQ4, POD4, POD4B, IPPROTO_ICMP };
static const struct fam V6 = { CLIENT6, MASQ6, POD6, POD6B, IPPROTO_ICMPV6 };

/* The flow key of spec @q, as a pointer to a temporary. */
#define FLOWP_KEY(q) (&(struct tp_ct_key[]){ mt_key_of(&(q)) }[0])

/* The port the masqueraded flow at @k took (host order); checks its flags. */
static __u16 masq_port_of(struct th *h, const struct tp_ct_key *k)
{
	struct tp_ct_entry e = pt_ct_must(h, k);
	__u16 port = ntohs(e.snat_port);

	assert_int_equal(e.flags & (TP_CT_F_EGRESS | TP_CT_F_SNAT |
				    TP_CT_F_MASQ | TP_CT_F_DNAT),
			 TP_CT_F_EGRESS | TP_CT_F_SNAT | TP_CT_F_MASQ);
	assert_true(port >= PORT_LO && port <= PORT_HI);
	return port;
}

/*
 * A pod's flow out and its answer back: the source leaves as the node's
 * address and a port of the range, the answer comes back to the pod's own
 * address and port; both byte for byte.  Returns the port.
 */
static __u16 roundtrip(struct th *h, const struct fam *f, const char *pod,
		       __u16 pport, __u8 proto)
{
	struct pkt_spec q = mt_first_of(pod, pport, f->peer, proto), a;
	struct tp_ct_key k = mt_key_of(&q);
	struct pkt out;
	__u16 port;

	assert_int_equal(mt_pod_out(h, q, &out), PASS);
	port = masq_port_of(h, &k);
	pt_expect_pkt(mt_with_side(q, true, f->masq, port), &out);

	a = mt_answer_of(q);
	assert_int_equal(
		mt_tailnet_in(h, mt_with_side(a, false, f->masq, port), &out),
		PASS);
	pt_expect_pkt(a, &out);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 1);
	return port;
}

/* The whole port range and POD4's UDP flow to CLIENT4 and back; its port. */
static __u16 pod_flow_v4(struct th *h)
{
	mt_masq_env(h, PORT_LO, PORT_HI);
	return roundtrip(h, &V4, POD4, PPORT, UDP);
}

static void test_roundtrip(struct th *h, const struct fam *f, __u8 proto)
{
	mt_masq_env(h, PORT_LO, PORT_HI);
	roundtrip(h, f, f->pod, PPORT, proto);
	assert_int_equal(th_stat(h, TP_STAT_MASQ), 1);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 1);
	/* a second packet of the flow leaves with the same port */
	{
		struct pkt_spec q = mt_first_of(f->pod, PPORT, f->peer, proto);
		struct tp_ct_key k = mt_key_of(&q);
		struct pkt out;

		if (proto == TCP)
			q.tcp_flags = ACK;
		assert_int_equal(mt_pod_out(h, q, &out), PASS);
		pt_expect_pkt(
			mt_with_side(q, true, f->masq, masq_port_of(h, &k)),
			&out);
		assert_int_equal(th_stat(h, TP_STAT_MASQ), 2);
	}
}

#define RT_TEST(name, fam, proto)                    \
	static void name(void **state)               \
	{                                            \
		REQUIRE_BPF();                       \
		test_roundtrip(*state, &fam, proto); \
	}
RT_TEST(test_tcp_v4, V4, TCP)
RT_TEST(test_tcp_v6, V6, TCP)
RT_TEST(test_udp_v4, V4, UDP)
RT_TEST(test_udp_v6, V6, UDP)
RT_TEST(test_echo_v4, V4, IPPROTO_ICMP)
RT_TEST(test_echo_v6, V6, IPPROTO_ICMPV6)

/* Two pods, one port each to the same peer and port: two ports, both restored. */
static void test_second_pod_other_port(void **state)
{
	struct th *h = *state;
	__u16 p1, p2;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_HI);
	p1 = roundtrip(h, &V4, POD4, PPORT, UDP);
	p2 = roundtrip(h, &V4, POD4B, PPORT, UDP);
	assert_int_not_equal(p1, p2);
	/* the first pod's replies still find it */
	{
		struct pkt_spec a =
			mt_answer_of(mt_first_of(POD4, PPORT, CLIENT4, UDP));
		struct pkt out;

		assert_int_equal(
			mt_tailnet_in(h, mt_with_side(a, false, MASQ4, p1),
				      &out),
			PASS);
		pt_expect_pkt(a, &out);
	}
}

/* A range of 2 ports: two flows take both, the third is a counted drop. */
static void test_exhaustion(void **state)
{
	struct th *h = *state;
	struct pkt out;
	__u16 p1, p2;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_LO + 1);
	p1 = roundtrip(h, &V4, POD4, PPORT, TCP);
	p2 = roundtrip(h, &V4, POD4, PPORT + 1, TCP);
	assert_int_not_equal(p1, p2);
	assert_int_equal(
		mt_pod_out(h, mt_first_of(POD4, PPORT + 2, CLIENT4, TCP), &out),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_SNAT_EXHAUSTED), 1);
	{
		struct pkt_spec q = mt_first_of(POD4, PPORT + 2, CLIENT4, TCP);
		struct tp_ct_key k = mt_key_of(&q);
		struct tp_ct_entry e;

		assert_int_equal(pt_ct_get(h, &k, &e), -ENOENT);
	}
	/* once a flow is gone (expired), its port is free again */
	th_set_clock(h, T0 + 3600 * SEC_NS);
	roundtrip(h, &V4, POD4, PPORT + 2, TCP);
}

/*
 * One port in the range, held by a live flow from the tailnet to the
 * node (peer:DPORT -> node:PORT_LO): a new masqueraded flow to that peer
 * and port must not take it.
 */
static void test_clash_live_flow(void **state)
{
	struct th *h = *state;
	struct pkt_spec in = pt_flow(CLIENT4, DPORT, MASQ4, PORT_LO, TCP, SYN);
	struct pkt out;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_LO);
	assert_int_equal(mt_tailnet_in(h, in, &out),
			 PASS); /* a flow to the node itself */
	assert_int_equal(
		mt_pod_out(h, mt_first_of(POD4, PPORT, CLIENT4, TCP), &out),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_SNAT_EXHAUSTED), 1);
	/* the live flow is intact */
	pt_ct_must(h, FLOWK(CLIENT4, DPORT, MASQ4, PORT_LO, TCP));
}

/* A reply for a port no flow holds comes from the tailnet untouched. */
static void test_forged_reply(void **state)
{
	struct th *h = *state;
	struct pkt_spec a;
	__u16 port;

	REQUIRE_BPF();
	port = pod_flow_v4(h);
	a = pt_flow(CLIENT4, DPORT, MASQ4, port == PORT_HI ? PORT_LO : port + 1,
		    UDP, 0);
	mt_tailnet_untouched(h, a);
	/* from another peer to the flow's port: not the flow's either */
	a = pt_flow("100.64.0.2", DPORT, MASQ4, port, UDP, 0);
	mt_tailnet_untouched(h, a);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 1);
}

/* The flow's reply tuple coming in through another zone's interface: untouched. */
static void test_reply_other_zone(void **state)
{
	struct th *h = *state;
	struct pkt_spec a;
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	port = pod_flow_v4(h);
	a = mt_with_side(mt_answer_of(mt_first_of(POD4, PPORT, CLIENT4, UDP)),
			 false, MASQ4, port);
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, a, &out),
		PASS);
	pt_expect_pkt(a, &out);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 1);
}

/*
 * ICMP errors from the tailnet about a masqueraded packet: the quote's
 * source and the outer destination back to the pod (from the peer
 * itself and from a router on the way, which keeps its address).
 */
static void error_from_tailnet(const struct fam *f, const char *from,
			       __u8 proto, void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(f->pod, PPORT, f->peer, proto), quoted;
	struct pkt err, want, out;
	__u16 port;

	mt_masq_env(h, PORT_LO, PORT_HI);
	assert_int_equal(mt_pod_out(h, q, &out), PASS);
	port = masq_port_of(h, FLOWP_KEY(q));
	quoted = mt_with_side(q, true, f->masq, port);
	pt_icmp_err(&err, from, f->masq, &quoted);
	pt_icmp_err(&want, from, f->pod, &q);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err, &out),
		PASS);
	PT_EQ_PKT(want, out);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 1);
}

static void test_error_tcp_from_peer_v4(void **state)
{
	REQUIRE_BPF();
	error_from_tailnet(&V4, CLIENT4, TCP, state);
}

static void test_error_udp_from_router_v4(void **state)
{
	REQUIRE_BPF();
	/* a router is on the flow's path when the FIB sends it to the zone */
	assert_int_equal(system("ip route replace " TROUTER4 "/32 dev tptun0"),
			 0);
	error_from_tailnet(&V4, TROUTER4, UDP, state);
}

static void test_error_echo_from_peer_v6(void **state)
{
	REQUIRE_BPF();
	error_from_tailnet(&V6, CLIENT6, IPPROTO_ICMPV6, state);
}

static void test_error_udp_from_peer_v6(void **state)
{
	REQUIRE_BPF();
	error_from_tailnet(&V6, CLIENT6, UDP, state);
}

/*
 * An ICMP error from the pod about a reply it got (port unreachable): the
 * quote's destination and the outer source become the node's address and
 * the flow's port, so the peer sees what it sent to.
 */
static void error_from_pod(const struct fam *f, __u8 proto, void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(f->pod, PPORT, f->peer, proto), a,
			quoted;
	struct pkt err, want, out;
	__u16 port;

	mt_masq_env(h, PORT_LO, PORT_HI);
	port = roundtrip(h, f, f->pod, PPORT, proto);
	a = mt_answer_of(q);
	quoted = mt_with_side(a, false, f->masq, port);
	pt_icmp_err(&err, f->pod, f->peer, &a);
	pt_icmp_err(&want, f->masq, f->peer, &quoted);
	/* made by this host (ingress 0), which is on every path */
	assert_int_equal(
		mt_run_pkt(h, TH_TO_TAILNET, h->l3_ifindex, 0, &err, &out),
		PASS);
	PT_EQ_PKT(want, out);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 1);
}

static void test_error_from_pod_v4(void **state)
{
	REQUIRE_BPF();
	error_from_pod(&V4, UDP, state);
}

static void test_error_from_pod_v6(void **state)
{
	REQUIRE_BPF();
	error_from_pod(&V6, TCP, state);
}

/* Policy decides on the pod's identity, before a port is taken. */
static void test_policy_sees_pod(void **state)
{
	struct th *h = *state;
	struct pkt out;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_HI);
	pt_ident(h, 0, POD4 "/32", POD_ID);
	pt_rule(h, POD_ID, TP_POLICY_ANY_ID, TP_POLICY_ANY_ZONE, 0, 0, 0,
		TP_VERDICT_DENY);
	assert_int_equal(
		mt_pod_out(h, mt_first_of(POD4, PPORT, CLIENT4, TCP), &out),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);
	assert_int_equal(pt_ct_count(h),
			 0); /* no flow, no reply key: no port */
	assert_int_equal(th_stat(h, TP_STAT_MASQ), 0);
	/* another pod is allowed, and masqueraded; its flow names its identity */
	roundtrip(h, &V4, POD4B, PPORT, TCP);
	pt_ident(h, 0, POD4B "/32", POD_ID + 1);
	{
		struct pkt_spec q = mt_first_of(POD4B, PPORT, CLIENT4, TCP);
		struct tp_ct_entry e;

		q.tcp_flags = ACK;
		assert_int_equal(mt_pod_out(h, q, &out), PASS);
		e = pt_ct_must(h, FLOWP_KEY(q));
		assert_int_equal(e.src_identity, POD_ID + 1);
	}
}

/*
 * Each zone its own address: a flow leaving through the zone-2 interface
 * gets zone 2's, its replies are restored there and only there.
 */
static void test_per_zone_address(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, "100.100.0.1", TCP), a, t;
	struct tp_ct_key k = mt_key_of(&q);
	struct tp_ct_entry e;
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	mt_masq_env(h, PORT_LO, PORT_HI);
	mt_masq_set(h, TH_ZONE2, true, "100.100.0.100", "fd7a:115c:a1e0:2::64");
	k.zone = TH_ZONE2;
	assert_int_equal(mt_run_spec(h, TH_TO_TAILNET, h->l3_ifindex2,
				     POD_IFINDEX, q, &out),
			 PASS);
	assert_int_equal(pt_ct_get(h, &k, &e), 0);
	assert_true(tp_ct_is_masq(&e));
	port = ntohs(e.snat_port);
	t = mt_with_side(q, true, "100.100.0.100", port);
	pt_expect_pkt(t, &out);
	a = mt_with_side(mt_answer_of(q), false, "100.100.0.100", port);
	/*
	 * Through zone 1's interface: not the flow's reply, but a new flow
	 * from zone 1 to a zone-2 address, which no rule lets cross.
	 */
	assert_int_equal(mt_tailnet_in(h, a, &out), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_ZONE), 1);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 0);
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, a, &out),
		PASS);
	pt_expect_pkt(mt_answer_of(q), &out);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 1);
	/* and zone 1 still masquerades with its own */
	roundtrip(h, &V4, POD4, PPORT, TCP);
}

/* Masquerade off (or no entry), and this host's own tailnet source: untouched. */
static void test_off_and_own(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, TCP), own;
	struct tp_ct_entry e;
	struct pkt out;

	REQUIRE_BPF();
	assert_int_equal(th_snat_config(h, "198.18.0.1", "fd00:198:18::1",
					PORT_LO, PORT_HI, 0),
			 0);
	mt_masq_set(h, TH_ZONE, false, MASQ4, MASQ6);
	assert_int_equal(mt_pod_out(h, q, &out), PASS);
	pt_expect_pkt(q, &out);
	e = pt_ct_must(h, FLOWP_KEY(q));
	assert_int_equal(e.flags & (TP_CT_F_SNAT | TP_CT_F_MASQ), 0);
	assert_int_equal(mt_tailnet_in(h, mt_answer_of(q), &out), PASS);
	pt_expect_pkt(mt_answer_of(q), &out);

	/* on, but the source is the node's address of the zone: its own */
	mt_masq_set(h, TH_ZONE, true, MASQ4, MASQ6);
	own = mt_first_of(MASQ4, PPORT, CLIENT4, UDP);
	assert_int_equal(
		mt_run_spec(h, TH_TO_TAILNET, h->l3_ifindex, 0, own, &out),
		PASS);
	pt_expect_pkt(own, &out);
	e = pt_ct_must(h, FLOWP_KEY(own));
	assert_int_equal(e.flags & (TP_CT_F_SNAT | TP_CT_F_MASQ), 0);
	/* another zone's interface (masquerade not on there): untouched */
	q = mt_first_of(POD4, PPORT, "100.100.0.1", UDP);
	assert_int_equal(mt_run_spec(h, TH_TO_TAILNET, h->l3_ifindex2,
				     POD_IFINDEX, q, &out),
			 PASS);
	pt_expect_pkt(q, &out);
	assert_int_equal(th_stat(h, TP_STAT_MASQ), 0);
}

/* On without an address of the packet's family: a counted drop, no flow. */
static void test_no_addr_of_family(void **state)
{
	struct th *h = *state;
	struct pkt out;

	REQUIRE_BPF();
	assert_int_equal(th_snat_config(h, "198.18.0.1", "fd00:198:18::1",
					PORT_LO, PORT_HI, 0),
			 0);
	mt_masq_set(h, TH_ZONE, true, MASQ4, NULL);
	assert_int_equal(
		mt_pod_out(h, mt_first_of(POD6, PPORT, CLIENT6, UDP), &out),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_NO_SNAT_ADDR), 1);
	assert_int_equal(pt_ct_count(h), 0);
	roundtrip(h, &V4, POD4, PPORT, UDP);
}

/*
 * Many pods' flows in a range barely larger than them, random source
 * ports: every flow gets a port of its own and every answer goes back to
 * its own pod.  The seed is printed.
 */
static void test_random_flows(void **state)
{
	struct th *h = *state;
	static const char *pods[] = { POD4, POD4B, "198.18.2.7", "198.18.2.8" };
	unsigned int seed = (unsigned int)time(NULL), i;
	__u16 used[64] = { 0 }, sport[48], port;
	char *env = getenv("TP_TEST_SEED");
	unsigned int j;

	REQUIRE_BPF();
	if (env)
		seed = (unsigned int)strtoul(env, NULL, 0);
	print_message("test_random_flows: seed %u (TP_TEST_SEED to replay)\n",
		      seed);
	srand(seed);
	mt_masq_env(h, PORT_LO, PORT_LO + 63);
	for (i = 0; i < 48; i++) {
		/* distinct flows: a draw equal to an earlier one (same pod,
		 * port and protocol) would be that flow's second packet */
		do {
			sport[i] = 1024 + (rand() % 60000) / 4 * 4 + i % 4;
			for (j = 0; j < i && sport[j] != sport[i]; j++)
				;
		} while (j < i);
		port = roundtrip(h, &V4, pods[i % 4], sport[i],
				 (i & 1) ? UDP : TCP);
		assert_int_equal(used[port - PORT_LO] & (1u << (i & 1)), 0);
		used[port - PORT_LO] |= 1u << (i & 1);
	}
}

/*
 * The reply key is the port's reservation: evicted (deleted here, as the
 * LRU would), the flow's next packet writes it again; taken meanwhile by
 * another live flow (a flow from the peer to the node on that port), the
 * flow lost its port: that packet is dropped and the flow goes, so its
 * next packet starts over with a port of its own.
 */
static void test_evicted_reply_key(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP);
	struct tp_ct_key k = mt_key_of(&q), rk;
	struct tp_ct_entry e;
	struct pkt out;
	__u16 port, port2;

	REQUIRE_BPF();
	port = pod_flow_v4(h);
	rk = pt_ct_key(CLIENT4, DPORT, MASQ4, port, UDP);
	assert_int_equal(bpf_map_delete_elem(tp_ct_fd(&h->maps, UDP), &rk), 0);
	assert_int_equal(mt_pod_out(h, q, &out), PASS);
	pt_expect_pkt(mt_with_side(q, true, MASQ4, port), &out);
	e = pt_ct_must(h, &rk);
	assert_int_equal(e.flags, TP_CT_F_REPLY_KEY | TP_CT_F_SNAT);

	/* evicted again, and the peer opens a flow to the node on that port */
	assert_int_equal(bpf_map_delete_elem(tp_ct_fd(&h->maps, UDP), &rk), 0);
	assert_int_equal(
		mt_tailnet_in(h, pt_flow(CLIENT4, DPORT, MASQ4, port, UDP, 0),
			      &out),
		PASS);
	assert_int_equal(mt_pod_out(h, q, &out), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 1);
	assert_int_equal(pt_ct_get(h, &k, &e), -ENOENT);
	/* the next packet: a new flow, another port */
	assert_int_equal(mt_pod_out(h, q, &out), PASS);
	port2 = masq_port_of(h, &k);
	assert_int_not_equal(port2, port);
	pt_expect_pkt(mt_with_side(q, true, MASQ4, port2), &out);
}

/*
 * Fragments of a masqueraded flow: the first leaves with the node's
 * address and port, a later one (no L4 header) with the address, by its
 * first's record; the replies' fragments come back to the pod.
 */
static void test_fragments_v4(void **state)
{
	struct th *h = *state;
	static const char data[48] =
		"fragmented masquerade, forty-eight bytes long!";
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP);
	__u16 port;

	REQUIRE_BPF();
	port = pod_flow_v4(h);
	q.payload = data;
	q.payload_len = sizeof(data);
	mt_frags_both_ways(h, q, MASQ4, port, 24, 7, 9);
}

/*
 * Userspace understands the new reply keys (lib/conntrack.c, the GC):
 * live while the flow is, gone with it (GC of an expired flow, a flush's
 * delete), the flow's own replies no longer restored after.
 */
static void test_ct_userspace(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = mt_first_of(POD4, PPORT, CLIENT4, UDP), q2, a;
	struct tp_ct_key k = mt_key_of(&q), rk, k2;
	struct tp_ct_entry e, r;
	struct tpd_gc_result res;
	struct tp_config cbuf;
	const struct tp_config *cfg;
	__u16 port;

	REQUIRE_BPF();
	port = pod_flow_v4(h);
	cfg = tp_ct_config(&h->maps, &cbuf);
	e = pt_ct_must(h, &k);
	rk = pt_ct_key(CLIENT4, DPORT, MASQ4, port, UDP);
	r = pt_ct_must(h, &rk);
	assert_int_equal(r.flags, TP_CT_F_REPLY_KEY | TP_CT_F_SNAT);
	assert_true(tp_ct_is_reply_key(&e, &k, cfg, &rk));
	assert_true(tp_ct_entry_live(&h->maps, cfg, &rk, &r, T0));
	assert_true(tp_ct_entry_live(&h->maps, NULL, &rk, &r,
				     T0)); /* no tp_config needed */
	/* the GC keeps a live flow's key; takes both when the flow expired */
	assert_int_equal(tpd_gc(&h->maps, T0 + SEC_NS, 30, &res), 0);
	assert_int_equal(pt_ct_get(h, &rk, &r), 0);
	assert_int_equal(tpd_gc(&h->maps,
				T0 + (TP_CT_TIMEOUT_UDP + 10) * SEC_NS, 30,
				&res),
			 0);
	assert_int_equal(pt_ct_get(h, &k, &e), -ENOENT);
	assert_int_equal(pt_ct_get(h, &rk, &r), -ENOENT);

	/* a flush's delete takes the key with the flow */
	q2 = mt_first_of(POD4B, PPORT, CLIENT4, UDP);
	k2 = mt_key_of(&q2);
	port = roundtrip(h, &V4, POD4B, PPORT, UDP);
	rk = pt_ct_key(CLIENT4, DPORT, MASQ4, port, UDP);
	e = pt_ct_must(h, &k2);
	assert_int_equal(tp_ct_flow_delete(&h->maps, cfg, &k2, &e), 0);
	assert_int_equal(pt_ct_get(h, &rk, &r), -ENOENT);
	a = mt_with_side(mt_answer_of(q2), false, MASQ4, port);
	mt_tailnet_untouched(h, a); /* not restored: no flow */
}

/* The config's "masquerade" key: tailnet interfaces only, a zone of its own. */
static void test_config_masquerade(void **state)
{
	static const struct {
		const char *json, *want;
	} bad[] = {
		{ "{\"interfaces\":[{\"name\":\"x\",\"masquerade\":1}]}",
		  "interfaces[0].masquerade: expected true or false" },
		{ "{\"interfaces\":[{\"name\":\"x\",\"kind\":\"uplink\",\"masquerade\":true}]}",
		  "interfaces[0].masquerade: only a tailnet interface masquerades" },
		{ "{\"interfaces\":[{\"name\":\"x\",\"masquerade\":true},{\"name\":\"y\"}]}",
		  "interfaces[0].masquerade: zone 1 is also interfaces[1]'s" },
	};
	struct tpd_config cfg;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if (!tpd_config_parse(bad[i].json, &cfg, err, sizeof(err)))
			fail_msg("accepted: %s", bad[i].json);
		if (!strstr(err, bad[i].want))
			fail_msg("%s: error '%s', want '%s'", bad[i].json, err,
				 bad[i].want);
		tpd_config_free(&cfg);
	}
	assert_int_equal(
		tpd_config_parse(
			"{\"interfaces\":[{\"name\":\"x\",\"masquerade\":true},"
			"{\"name\":\"y\",\"zone\":2}]}",
			&cfg, err, sizeof(err)),
		0);
	assert_true(cfg.ifaces[0].masquerade);
	assert_false(cfg.ifaces[1].masquerade);
	tpd_config_free(&cfg);
}

/* tp_masq[@zone], or all zero when there is no entry. */
static struct tp_masq masq_get(struct th *h, __u32 zone)
{
	struct tp_masq m = { 0 };

	bpf_map_lookup_elem(h->maps.masq, &zone, &m);
	return m;
}

/*
 * The loader writes tp_masq with tp_config: the interface's addresses,
 * followed when they change; zones that stop masquerading lose their
 * entry; an interface not there yet is on without an address.
 */
static void test_loader_writes_masq(void **state)
{
	struct th *h = *state;
	struct tp_addr a4 = pt_addr(MASQ4), a6 = pt_addr(MASQ6),
		       b4 = pt_addr("100.64.0.101");
	struct tpd_snat_addrs none = { 0 };
	struct tpd_config cfg;
	struct tp_masq m;
	char err[256];
	bool changed = false;

	REQUIRE_BPF();
	assert_int_equal(
		system("ip tuntap add tpmq0 mode tun && ip link set tpmq0 up && "
		       "ip addr add " MASQ4 "/32 dev tpmq0 && "
		       "ip -6 addr add " MASQ6 "/128 dev tpmq0 nodad"),
		0);
	assert_int_equal(
		tpd_config_parse(
			"{\"interfaces\":[{\"name\":\"tpmq0\",\"zone\":3,"
			"\"masquerade\":true},{\"name\":\"tp-none9\",\"zone\":4,"
			"\"masquerade\":true},{\"name\":\"tptun1\",\"zone\":5}]}",
			&cfg, err, sizeof(err)),
		0);
	assert_int_equal(tpd_snat_config_write(&h->maps, &cfg, &none, &changed),
			 0);
	assert_true(changed);
	m = masq_get(h, 3);
	assert_int_equal(m.flags, TP_MASQ_F_ON | TP_MASQ_F_CROSSING);
	assert_memory_equal(&m.addr4, &a4, sizeof(a4));
	assert_memory_equal(&m.addr6, &a6, sizeof(a6));
	m = masq_get(h, 4); /* not there: on, no address */
	assert_int_equal(m.flags, TP_MASQ_F_ON | TP_MASQ_F_CROSSING);
	assert_true(!m.addr4.w[3] && !m.addr6.w[0]);
	assert_int_equal(masq_get(h, 5).flags, 0);
	changed = false;
	assert_int_equal(tpd_snat_config_write(&h->maps, &cfg, &none, &changed),
			 0);
	assert_false(changed);
	/* the address changes: followed */
	assert_int_equal(system("ip addr del " MASQ4 "/32 dev tpmq0 && "
				"ip addr add 100.64.0.101/32 dev tpmq0"),
			 0);
	assert_int_equal(tpd_snat_config_write(&h->maps, &cfg, &none, &changed),
			 0);
	assert_true(changed);
	m = masq_get(h, 3);
	assert_memory_equal(&m.addr4, &b4, sizeof(b4));
	tpd_config_free(&cfg);
	/* a reload without masquerade: the entries go */
	assert_int_equal(
		tpd_config_parse(
			"{\"interfaces\":[{\"name\":\"tpmq0\",\"zone\":3}]}",
			&cfg, err, sizeof(err)),
		0);
	changed = false;
	assert_int_equal(tpd_snat_config_write(&h->maps, &cfg, &none, &changed),
			 0);
	assert_true(changed);
	assert_int_equal(masq_get(h, 3).flags, 0);
	assert_int_equal(masq_get(h, 4).flags, 0);
	tpd_config_free(&cfg);
	assert_int_equal(system("ip link del tpmq0"), 0);
}

/* The verifier's processed instructions of each program (printed). */
static void test_verified_insns(void **state)
{
	struct th *h = *state;
	struct bpf_program *prog;

	REQUIRE_BPF();
	bpf_object__for_each_program(prog, h->skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		assert_int_equal(bpf_obj_get_info_by_fd(bpf_program__fd(prog),
							&info, &len),
				 0);
		print_message("verified %s %u\n", bpf_program__name(prog),
			      info.verified_insns);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
		T(test_tcp_v4),
		T(test_tcp_v6),
		T(test_udp_v4),
		T(test_udp_v6),
		T(test_echo_v4),
		T(test_echo_v6),
		T(test_second_pod_other_port),
		T(test_exhaustion),
		T(test_clash_live_flow),
		T(test_forged_reply),
		T(test_reply_other_zone),
		T(test_error_tcp_from_peer_v4),
		T(test_error_udp_from_router_v4),
		T(test_error_echo_from_peer_v6),
		T(test_error_udp_from_peer_v6),
		T(test_error_from_pod_v4),
		T(test_error_from_pod_v6),
		T(test_policy_sees_pod),
		T(test_per_zone_address),
		T(test_off_and_own),
		T(test_no_addr_of_family),
		T(test_random_flows),
		T(test_evicted_reply_key),
		T(test_fragments_v4),
		T(test_ct_userspace),
		T(test_config_masquerade),
		T(test_loader_writes_masq),
		T(test_verified_insns),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
