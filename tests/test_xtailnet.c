// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cross-tailnet flows into a masquerading zone (bpf/lib/masq.h,
 * docs/datapath.md "Cross-tailnet services"): a client of zone 1
 * (tptun0) reaching an address of zone 2 (tptun1, masquerade on), as a
 * plain crossing and through a service whose backend lives in zone 2.
 * Each path both ways (TCP, UDP, ICMP echo; v4 and v6), ICMP errors both
 * ways, port exhaustion, and hostile cases: forged replies to the
 * masquerade port, a crossing no rule allows, an evicted reply key.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "masqtest.h"
#include "pkttest.h"
#include "tailplane/tuple.h"

#define REDIRECT 7 /* TC_ACT_REDIRECT */

/* MASQ2_4, MASQ2_6, PEER2_4, PEER2_6: zone 2's plan, masqtest.h's */
#define FORGER4 "100.100.0.7" /* another zone-2 peer */
#define CPORT	1000
#define BPORT	8080
#define SPORT	80
/* PORT_LO..PORT_HI: the SNAT range, masqtest.h's */

/* Which family a case runs in: the addresses of the plan. */
struct fam {
	const char *client, *vip, *peer, *masq;
	__u8 echo;
};

static const struct fam V4 = { CLIENT4, VIP4, PEER2_4, MASQ2_4, IPPROTO_ICMP };
static const struct fam V6 = { CLIENT6, VIP6, PEER2_6, MASQ2_6,
			       IPPROTO_ICMPV6 };

/* Zone 2 masquerades; zone-1 clients (300) may reach zone 2 (500). */
static void xt_env(struct th *h, __u16 lo, __u16 hi, bool allow)
{
	mt_masq_cross(h, TH_ZONE2, MASQ2_4, MASQ2_6, lo, hi);
	pt_ident(h, TH_ZONE, "100.64.0.0/24", 300);
	pt_ident(h, TH_ZONE, "fd7a:115c:a1e0::/64", 300);
	pt_ident(h, TH_ZONE2, TH_ZONE2_NET4, 500);
	pt_ident(h, TH_ZONE2, TH_ZONE2_NET6, 500);
	if (allow)
		pt_rule(h, 300, 500, 0, 0, 0, 0, TP_VERDICT_ALLOW);
}

/* The first packet of a flow from @src:@sport to @dst:@dport. */
static struct pkt_spec xt_first(const struct fam *f, __u8 proto,
				const char *src, __u16 sport, const char *dst,
				__u16 dport)
{
	struct pkt_spec sp;

	if (proto != TCP && proto != UDP) {
		sp = pt_flow(src, 0, dst, 0, f->echo, 0);
		sp.icmp_type = f->echo == IPPROTO_ICMP ? 8 : 128;
		sp.icmp_id = sport;
		sp.icmp_seq = 1;
		return sp;
	}
	return pt_flow(src, sport, dst, dport, proto,
		       proto == TCP ? PKT_TCP_SYN : 0);
}

/* @sp with its source (@src) or destination set to @addr:@port (echo: the id). */
static struct pkt_spec xt_side(struct pkt_spec sp, bool src, const char *addr,
			       __u16 port)
{
	*(src ? &sp.saddr : &sp.daddr) = addr;
	if (!port) /* the address only (an echo's destination side) */
		return sp;
	if (sp.icmp_type)
		sp.icmp_id = port;
	else
		*(src ? &sp.sport : &sp.dport) = port;
	return sp;
}

/* The flow entry of @q in @zone (echo: its id as the source port). */
static struct tp_ct_entry xt_flow(struct th *h, const struct pkt_spec *q,
				  __u16 zone)
{
	__u16 sport = q->icmp_type ? q->icmp_id : q->sport;
	struct tp_ct_key k =
		pt_ct_key(q->saddr, sport, q->daddr, q->dport, q->proto);

	k.zone = zone;
	return pt_ct_must(h, &k);
}

/*
 * Client -> @dst:@dport (a VIP, or the zone-2 peer itself) and the peer's
 * answer, through both hooks each way.  Returns the masquerade port.
 */
static __u16 xt_roundtrip(struct th *h, const struct fam *f, __u8 proto,
			  const char *dst, __u16 dport)
{
	bool svc = strcmp(dst, f->peer) != 0;
	struct pkt_spec q = xt_first(f, proto, f->client, CPORT, dst, dport);
	struct pkt_spec want, back;
	struct tp_ct_entry e;
	struct pkt out, fwd;
	__u16 port;

	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, q, &fwd),
		REDIRECT);
	e = xt_flow(h, &q, TH_ZONE);
	assert_true(tp_ct_is_masq(&e));
	assert_false(e.flags & TP_CT_F_EGRESS);
	assert_int_equal(e.out_zone, TH_ZONE2);
	port = ntohs(e.snat_port);
	assert_true(port >= PORT_LO && port <= PORT_HI);
	want = xt_side(xt_side(q, true, f->masq, port), false, f->peer,
		       q.icmp_type ? 0
		       : svc	   ? BPORT
				   : dport);
	want.ttl = 63; /* forwarded by the node */
	pt_expect_pkt(want, &fwd);
	/* zone 2's egress passes what zone 1's ingress forwarded, untouched */
	assert_int_equal(mt_run_pkt(h, TH_TO_TAILNET, h->l3_ifindex2,
				    h->l3_ifindex, &fwd, &out),
			 PASS);
	pt_expect_pkt(want, &out);
	/* flow entry and its SNAT reply key in zone 2: two entries */
	assert_int_equal(pt_ct_count(h), 2);

	/* the answer, restored whole on zone 2's ingress */
	back = mt_answer_of(want);
	back.ttl = 0;
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, back, &fwd),
		PASS);
	pt_expect_pkt(mt_answer_of(q), &fwd);
	assert_int_equal(mt_run_pkt(h, TH_TO_TAILNET, h->l3_ifindex,
				    h->l3_ifindex2, &fwd, &out),
			 PASS);
	pt_expect_pkt(mt_answer_of(q), &out);
	e = xt_flow(h, &q, TH_ZONE);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 1); /* counted once */
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 1);
	return port;
}

/* A cross-tailnet service: VIP:80 -> zone-2 backend :8080. */
static void xt_service(struct th *h, const struct fam *f, __u8 proto)
{
	__u8 sproto = proto == TCP || proto == UDP ? proto : f->echo;

	pt_service(h, f->vip, proto == TCP || proto == UDP ? SPORT : 0, sproto,
		   (const char *[]){ f->peer }, 1, BPORT, NULL, NULL, 0, 0);
}

/*
 * The usual service flow: crossing allowed, the UDP service of @f, and
 * the client's flow to it and back (xt_roundtrip()).  Returns its port.
 */
static __u16 xt_service_flow(struct th *h, const struct fam *f)
{
	xt_env(h, PORT_LO, PORT_HI, true);
	xt_service(h, f, UDP);
	return xt_roundtrip(h, f, UDP, f->vip, SPORT);
}

/* What was refused opened nothing: no entry, no port. */
static void xt_nothing_opened(struct th *h)
{
	assert_int_equal(pt_ct_count(h), 0);
	assert_int_equal(th_stat(h, TP_STAT_MASQ), 0);
}

static void cross_case(void **state, const struct fam *f, __u8 proto, bool svc)
{
	struct th *h = *state;

	REQUIRE_BPF();
	xt_env(h, PORT_LO, PORT_HI, true);
	if (svc)
		xt_service(h, f, proto);
	xt_roundtrip(h, f, proto, svc ? f->vip : f->peer, svc ? SPORT : BPORT);
	if (svc)
		assert_int_equal(th_stat(h, TP_STAT_DNAT), 1);
}

/* One test per path, family and protocol (cmocka wants a function each). */
#define CROSS_CASE(name, f, proto, svc)       \
	static void name(void **s)            \
	{                                     \
		cross_case(s, f, proto, svc); \
	}

CROSS_CASE(test_cross_tcp4, &V4, TCP, false)
CROSS_CASE(test_cross_udp6, &V6, UDP, false)
CROSS_CASE(test_cross_echo4, &V4, IPPROTO_ICMP, false)
CROSS_CASE(test_service_tcp4, &V4, TCP, true)
CROSS_CASE(test_service_udp4, &V4, UDP, true)
CROSS_CASE(test_service_tcp6, &V6, TCP, true)
CROSS_CASE(test_service_echo6, &V6, IPPROTO_ICMPV6, true)

/*
 * Errors both layers deep: the backend's port unreachable about a
 * masqueraded packet reaches the client as from the VIP about client ->
 * VIP:80; the client's error about a reply reaches the backend from the
 * node's zone-2 address about backend -> node:port.
 */
static void test_service_icmp_errors(void **state)
{
	struct th *h = *state;
	const struct fam *f = &V4;
	struct pkt_spec q = xt_first(f, UDP, f->client, CPORT, f->vip, SPORT);
	struct pkt_spec sent, reply, err;
	struct pkt quote, in, want, out, fwd;
	__u16 port;

	REQUIRE_BPF();
	port = xt_service_flow(h, f);
	sent = xt_side(xt_side(q, true, f->masq, port), false, f->peer, BPORT);

	/* from the backend: quote node:port -> backend */
	pt_icmp_err(&in, f->peer, f->masq, &sent);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, &in, &fwd),
		PASS);
	pt_icmp_err(&want, f->vip, f->client, &q);
	assert_int_equal(
		pkt_compare(stderr, want.data, want.len, fwd.data, fwd.len), 0);
	assert_int_equal(mt_run_pkt(h, TH_TO_TAILNET, h->l3_ifindex,
				    h->l3_ifindex2, &fwd, &out),
			 PASS);
	assert_int_equal(
		pkt_compare(stderr, want.data, want.len, out.data, out.len), 0);

	/* from the client: quote VIP:80 -> client */
	reply = mt_answer_of(q);
	pt_icmp_err(&in, f->client, f->vip, &reply);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &in, &fwd),
		REDIRECT);
	pt_build(&(struct pkt_spec[]){ mt_answer_of(sent) }[0], &quote);
	err = (struct pkt_spec){ .family = AF_INET,
				 .saddr = f->masq,
				 .daddr = f->peer,
				 .proto = IPPROTO_ICMP,
				 .icmp_type = 3,
				 .icmp_code = 3,
				 .inner = &quote,
				 .ttl = 63 };
	pt_build(&err, &want);
	assert_int_equal(
		pkt_compare(stderr, want.data, want.len, fwd.data, fwd.len), 0);
	assert_int_equal(mt_run_pkt(h, TH_TO_TAILNET, h->l3_ifindex2,
				    h->l3_ifindex, &fwd, &out),
			 PASS);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 2);
}

/* One port in the range: the second client's flow finds it taken. */
static void test_service_port_exhaustion(void **state)
{
	struct th *h = *state;
	const struct fam *f = &V4;
	struct pkt out;

	REQUIRE_BPF();
	xt_env(h, PORT_LO, PORT_LO, true);
	xt_service(h, f, TCP);
	xt_roundtrip(h, f, TCP, f->vip, SPORT);
	assert_int_equal(mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0,
				     xt_first(f, TCP, "100.64.0.2", CPORT,
					      f->vip, SPORT),
				     &out),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_SNAT_EXHAUSTED), 1);
	assert_int_equal(pt_ct_count(h), 2); /* nothing of the second flow */
}

/*
 * Another zone-2 peer forging the backend's answer to the masquerade
 * port: not the flow's, never restored to the client.
 */
static void test_forged_reply_to_masq_port(void **state)
{
	struct th *h = *state;
	const struct fam *f = &V4;
	struct pkt_spec q = xt_first(f, UDP, f->client, CPORT, f->vip, SPORT);
	struct pkt_spec forged;
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	port = xt_service_flow(h, f);
	forged = mt_answer_of(xt_side(xt_side(q, true, f->masq, port), false,
				      FORGER4, BPORT));
	mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, forged, &out);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ),
			 1); /* the real one only */
	assert_memory_not_equal(
		out.data + 16,
		(&(struct tp_addr[]){ pt_addr(f->client) }[0])->b + 12, 4);
	/* and the backend's port but the wrong one of ours */
	forged = mt_answer_of(xt_side(xt_side(q, true, f->masq, port + 1),
				      false, f->peer, BPORT));
	mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, forged, &out);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 1);
}

/* A zone-1 peer no rule lets into zone 2: dropped, no port taken. */
static void test_crossing_not_allowed(void **state)
{
	struct th *h = *state;
	const struct fam *f = &V4;
	struct pkt out;

	REQUIRE_BPF();
	xt_env(h, PORT_LO, PORT_HI, false);
	xt_service(h, f, TCP);
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0,
			    xt_first(f, TCP, f->client, CPORT, f->vip, SPORT),
			    &out),
		DROP);
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0,
			    xt_first(f, TCP, f->client, CPORT, f->peer, BPORT),
			    &out),
		DROP);
	xt_nothing_opened(h);
}

/*
 * The LRU evicts the reply key: the flow's next packet writes it again
 * (it is the port's reservation, checked on every packet), and the
 * backend's answers find the flow again.  (An answer that comes while
 * the key is gone opens a flow of its own to the node's address and
 * port, which takes the port from this one: the known fault of
 * test_attacks_masq.c, test_fault_evicted_port_taken_gets_replies.)
 */
static void test_service_reply_key_evicted(void **state)
{
	struct th *h = *state;
	const struct fam *f = &V4;
	struct pkt_spec q = xt_first(f, UDP, f->client, CPORT, f->vip, SPORT);
	struct pkt_spec back;
	struct tp_ct_key rk;
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	port = xt_service_flow(h, f);
	rk = pt_ct_key(f->peer, BPORT, f->masq, port, UDP);
	rk.zone = TH_ZONE2;
	assert_int_equal(bpf_map_delete_elem(tp_ct_fd(&h->maps, UDP), &rk), 0);
	assert_int_equal(pt_ct_count(h), 1);
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, q, &out),
		REDIRECT);
	assert_int_equal(pt_ct_count(h), 2);
	back = mt_answer_of(xt_side(xt_side(q, true, f->masq, port), false,
				    f->peer, BPORT));
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, back, &out),
		PASS);
	pt_expect_pkt(mt_answer_of(q), &out);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 2);
}

/*
 * Egress service: a pod sends to a VIP whose backend is a zone-2 device
 * (the VIP routed into zone 2's interface); tp_to_tailnet DNATs and
 * masquerades it, tp_from_tailnet restores the answer whole (from the
 * VIP, to the pod).  Two entries.
 */
/* the pods (POD4, POD6) and where their packets come from: masqtest.h */

/* The operator's route of the egress VIPs into zone 2's interface. */
static void xt_vip_routes(void)
{
	assert_int_equal(system("ip route replace " VIP4 "/32 dev tptun1 && "
				"ip -6 route replace " VIP6 "/128 dev tptun1"),
			 0);
}

static void egress_case(void **state, const struct fam *f, __u8 proto)
{
	struct th *h = *state;
	const char *pod = f == &V4 ? POD4 : POD6;
	struct pkt_spec q = xt_first(f, proto, pod, CPORT, f->vip, SPORT);
	struct pkt_spec want;
	struct tp_ct_entry e;
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	xt_env(h, PORT_LO, PORT_HI, true);
	xt_service(h, f, proto);
	xt_vip_routes();
	assert_int_equal(mt_run_spec(h, TH_TO_TAILNET, h->l3_ifindex2,
				     POD_IFINDEX, q, &out),
			 PASS);
	e = xt_flow(h, &q, TH_ZONE2);
	assert_true(tp_ct_is_masq(&e));
	assert_true(e.flags & TP_CT_F_EGRESS);
	assert_true(e.flags & TP_CT_F_DNAT);
	port = ntohs(e.snat_port);
	want = xt_side(xt_side(q, true, f->masq, port), false, f->peer,
		       q.icmp_type ? 0 : BPORT);
	pt_expect_pkt(want, &out);
	assert_int_equal(pt_ct_count(h), 2);
	assert_int_equal(mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0,
				     mt_answer_of(want), &out),
			 PASS);
	pt_expect_pkt(mt_answer_of(q), &out);
	assert_int_equal(th_stat(h, TP_STAT_REVMASQ), 1);
	assert_int_equal(th_stat(h, TP_STAT_DNAT), 1);
}

static void test_egress_service_tcp4(void **s)
{
	egress_case(s, &V4, TCP);
}

static void test_egress_service_udp6(void **s)
{
	egress_case(s, &V6, UDP);
}

static void test_egress_service_echo4(void **s)
{
	egress_case(s, &V4, IPPROTO_ICMP);
}

/* Egress policy decides on the pod's identity (and the backend's). */
static void test_egress_service_policy_sees_pod(void **state)
{
	struct th *h = *state;
	const struct fam *f = &V4;
	struct pkt out;

	REQUIRE_BPF();
	xt_env(h, PORT_LO, PORT_HI, true);
	xt_service(h, f, TCP);
	xt_vip_routes();
	pt_ident(h, 0, "198.18.2.0/24", 600);
	pt_rule(h, 600, 500, 0, TCP, BPORT, BPORT, TP_VERDICT_DENY);
	assert_int_equal(
		mt_run_spec(h, TH_TO_TAILNET, h->l3_ifindex2, POD_IFINDEX,
			    xt_first(f, TCP, POD4, CPORT, f->vip, SPORT), &out),
		DROP);
	xt_nothing_opened(h);
}

/* The backend's error about a packet reaches the pod from the VIP. */
static void test_egress_service_icmp_error(void **state)
{
	struct th *h = *state;
	const struct fam *f = &V4;
	struct pkt_spec q = xt_first(f, UDP, POD4, CPORT, f->vip, SPORT);
	struct pkt_spec sent;
	struct tp_ct_entry e;
	struct pkt in, want, out;

	REQUIRE_BPF();
	xt_env(h, PORT_LO, PORT_HI, true);
	xt_service(h, f, UDP);
	xt_vip_routes();
	assert_int_equal(mt_run_spec(h, TH_TO_TAILNET, h->l3_ifindex2,
				     POD_IFINDEX, q, &out),
			 PASS);
	e = xt_flow(h, &q, TH_ZONE2);
	sent = xt_side(xt_side(q, true, f->masq, ntohs(e.snat_port)), false,
		       f->peer, BPORT);
	pt_icmp_err(&in, f->peer, f->masq, &sent);
	assert_int_equal(
		mt_run_pkt(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, &in, &out),
		PASS);
	pt_icmp_err(&want, f->vip, POD4, &q);
	assert_int_equal(
		pkt_compare(stderr, want.data, want.len, out.data, out.len), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_cross_tcp4),
		T(test_cross_udp6),
		T(test_cross_echo4),
		T(test_service_tcp4),
		T(test_service_udp4),
		T(test_service_tcp6),
		T(test_service_echo6),
		T(test_service_icmp_errors),
		T(test_service_port_exhaustion),
		T(test_forged_reply_to_masq_port),
		T(test_crossing_not_allowed),
		T(test_service_reply_key_evicted),
		T(test_egress_service_tcp4),
		T(test_egress_service_udp6),
		T(test_egress_service_echo4),
		T(test_egress_service_policy_sees_pod),
		T(test_egress_service_icmp_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
