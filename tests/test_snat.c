// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet tests of SNAT toward off-node backends (issue 11): the port
 * reservation, the original direction forwarded by tp_from_tailnet
 * itself (Ethernet header, TTL, redirect), replies restored on the uplink
 * by tp_from_uplink, exhaustion and clashes, forged replies, ICMP errors
 * both ways, IPv4 and IPv6, TCP, UDP and ICMP echo, the automatic
 * decision by route, and a run through real devices (veth uplink and the
 * test TUN with the programs attached) for what test_run cannot show: the
 * redirect target, the skb->tc_index mark and tp_to_tailnet passing it.
 *
 * Every test's namespace has the uplink tpup0 of harness.h: backends
 * 198.18.1.0/24 and fd00:198:18::1:0/112 behind a gateway whose MAC is
 * pktgen's destination MAC, so an expected frame is what pkt_build()
 * makes with l2 set.  The node's SNAT addresses are the uplink's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pkttest.h"
#include "rowtest.h"
#include "service.h"
#include "snattest.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define GW4	 TH_UPLINK_GW4
#define GW6	 TH_UPLINK_GW6
#define FARHOST4 "203.0.113.9" /* no route to it in the test namespace */

/*
 * Routers on the tailnet side: zone 1's (in the routes run_error()
 * adds), zone 2's (TH_ZONE2_NET4/6, routed through tptun1), and one no
 * route leads to.
 */
#define TROUTER4  "100.64.0.254"
#define TROUTER6  "fd7a:115c:a1e0::fe"
#define Z2ROUTER4 "100.100.0.254"
#define Z2ROUTER6 "fd7a:115c:a1e0:2::fe"
#define NOROUTER4 "100.64.1.254"
#define NOROUTER6 "fd7a:115c:a1e0:1::fe"

/* The SNAT port (host order) of the flow at @orig, checked in range. */
static __u16 snat_port_of(struct th *h, const struct tp_ct_key *orig, __u16 lo,
			  __u16 hi)
{
	__u16 port = st_snat_port_of(h, orig);

	assert_in_range(port, lo, hi);
	return port;
}

/* The SNAT reply key of the flow at @orig is under (@be:@bport -> @snat:@port, zone 0). */
static void check_snat_key(struct th *h, const struct tp_ct_key *orig,
			   const char *be, __u16 bport, const char *snat,
			   __u16 port)
{
	struct tp_ct_key rk = st_key_z(be, bport, snat, port, orig->proto, 0);
	struct tp_ct_entry r = pt_ct_must(h, &rk);

	assert_int_equal(r.flags, TP_CT_F_REPLY_KEY | TP_CT_F_SNAT);
	assert_memory_equal(&r.orig_saddr, &orig->saddr, sizeof(orig->saddr));
	assert_int_equal(r.orig_sport, orig->sport);
	assert_memory_equal(&r.orig_daddr, &orig->daddr, sizeof(orig->daddr));
	assert_int_equal(r.orig_dport, orig->dport);
	assert_int_equal(r.orig_zone, orig->zone);
	assert_int_equal(r.expires_s, 0);
}

/* The frame a SNAT flow's packet @sp leaves the uplink as. */
static struct pkt_spec snat_out(struct pkt_spec sp, const char *snat,
				__u16 port, const char *be)
{
	sp.l2 = 1;
	sp.saddr = snat;
	sp.daddr = be;
	if (sp.proto == TCP || sp.proto == UDP) {
		sp.sport = port;
		sp.dport = BE_PORT;
	} else {
		sp.icmp_id = port;
	}
	sp.ttl = 63;
	return sp;
}

/*
 * The tests run once per address family are rows of family_cases[]: the
 * test's name (as cmocka reports it), its body, the family's client,
 * service address, SNAT address and backends, the backend it takes, and
 * for the ICMP errors who sends the error (NULL: on the uplink the
 * backend, from the tailnet the client), the flow's protocol and to whom
 * an error from the tailnet goes (NULL: the VIP).  Each runs with the
 * whole port range.
 */
struct family_case {
	const char *name;
	void (*body)(struct th *h, const struct family_case *c);
	const char *client, *vip, *snat;
	const char *const *be; /* BE4 or BE6 */
	int be_idx;
	const char *from;
	__u8 proto;
	const char *to;
};

/* ---- allocation, original direction, replies ------------------------------- */

/*
 * @c's flow @k from the tailnet through a service of its protocol with
 * @svc_flags, its first packet @first: it must leave the uplink SNATed (snat_out())
 * with a port of the whole range, and the flow's reply key must be made
 * (check_snat_key(), the backend's port @bport).  The port.
 */
static __u16 snat_first_svc(struct th *h, const struct family_case *c,
			    struct pkt_spec first, const struct tp_ct_key *k,
			    __u16 bport, __u16 svc_flags)
{
	const char *be = c->be[c->be_idx];
	struct pkt out;
	__u16 port;

	st_snat_service(h, c->vip, k->proto, be, svc_flags);
	assert_int_equal(st_tailnet_in(h, first, &out), REDIRECT);
	port = snat_port_of(h, k, PORT_LO, PORT_HI);
	pt_expect_pkt(snat_out(first, c->snat, port, be), &out);
	check_snat_key(h, k, be, bport, c->snat, port);
	return port;
}

/* snat_first_svc() through a service marked TP_SVC_F_SNAT. */
static __u16 snat_first(struct th *h, const struct family_case *c,
			struct pkt_spec first, const struct tp_ct_key *k,
			__u16 bport)
{
	return snat_first_svc(h, c, first, k, bport, TP_SVC_F_SNAT);
}

static void snat_tcp_roundtrip(struct th *h, const struct family_case *c)
{
	const char *client = c->client, *vip = c->vip, *snat = c->snat;
	const char *be = c->be[c->be_idx];
	struct pkt_spec syn = pt_flow(client, CPORT, vip, VPORT, TCP, SYN);
	struct tp_ct_key k = pt_ct_key(client, CPORT, vip, VPORT, TCP);
	struct pkt_spec ack;
	struct pkt out;
	__u16 port;

	port = snat_first(h, c, syn, &k, BE_PORT);
	print_message("snat port %u\n", port);
	/* a SNAT flow has no DNAT reply key (backend -> client) */
	{
		struct tp_ct_key dk =
			pt_ct_key(be, BE_PORT, client, CPORT, TCP);
		struct tp_ct_entry r;

		assert_int_equal(pt_ct_get(h, &dk, &r), -ENOENT);
	}
	assert_int_equal(th_stat(h, TP_STAT_SNAT), 1);

	/* the reply on the uplink: VIP -> client, Ethernet header as it came */
	st_expect_restored(h, pt_flow(be, BE_PORT, snat, port, TCP, SYN | ACK),
			   pt_flow(vip, VPORT, client, CPORT, TCP, SYN | ACK));
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
	assert_int_equal(th_stat(h, TP_STAT_REVSNAT), 1);

	/* the established original direction keeps its port */
	ack = pt_flow(client, CPORT, vip, VPORT, TCP, ACK);
	assert_int_equal(st_tailnet_in(h, ack, &out), REDIRECT);
	pt_expect_pkt(snat_out(ack, snat, port, be), &out);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_ESTABLISHED);
	assert_int_equal(snat_port_of(h, &k, port, port), port);
	assert_int_equal(th_stat(h, TP_STAT_SNAT), 2);
}

static void snat_udp_roundtrip(struct th *h, const struct family_case *c)
{
	const char *client = c->client, *vip = c->vip, *snat = c->snat;
	const char *be = c->be[c->be_idx];
	struct pkt_spec q = pt_flow(client, CPORT, vip, VPORT, UDP, 0);
	struct tp_ct_key k = pt_ct_key(client, CPORT, vip, VPORT, UDP);
	__u16 port;

	port = snat_first(h, c, q, &k, BE_PORT);
	st_expect_restored(h, pt_flow(be, BE_PORT, snat, port, UDP, 0),
			   pt_flow(vip, VPORT, client, CPORT, UDP, 0));
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_REPLIED);
}

/* ICMP echo: the id plays the port, both ways. */
static void snat_echo_roundtrip(struct th *h, const struct family_case *c)
{
	const char *client = c->client, *vip = c->vip, *snat = c->snat;
	const char *be = c->be[c->be_idx];
	int v6 = pt_family_of(client) == AF_INET6;
	__u8 proto = pt_icmp_proto(client);
	struct pkt_spec req = pt_echo(client, vip, 77, 5);
	struct pkt_spec rep = req;
	struct tp_ct_key k = pt_ct_key(client, 77, vip, 0, proto);
	struct pkt out;
	__u16 port;

	port = snat_first(h, c, req, &k, 0);

	rep.saddr = be;
	rep.daddr = snat;
	rep.icmp_type = v6 ? 129 : 0;
	rep.icmp_id = port;
	assert_int_equal(st_uplink_in(h, rep, &out), REDIRECT);
	rep.l2 = 1;
	rep.ttl = 63;
	rep.saddr = vip;
	rep.daddr = client;
	rep.icmp_id = 77;
	pt_expect_pkt(rep, &out);
}

/* ---- exhaustion, clashes, reclaim ---------------------------------------- */

/*
 * A two-port range: two flows take both ports; the third is dropped
 * SNAT_EXHAUSTED and neither live flow is touched.
 */
static void test_exhaustion(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k1 = pt_ct_key(CLIENT4, 1001, VIP4, VPORT, UDP);
	struct tp_ct_key k2 = pt_ct_key(CLIENT4, 1002, VIP4, VPORT, UDP);
	struct tp_ct_key k3 = pt_ct_key(CLIENT4, 1003, VIP4, VPORT, UDP);
	struct tp_ct_entry e;
	struct pkt out;
	__u16 p1, p2;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_LO + 1, 0);
	st_snat_service(h, VIP4, UDP, BE4[0], TP_SVC_F_SNAT);
	assert_int_equal(
		st_tailnet_in(h, pt_flow(CLIENT4, 1001, VIP4, VPORT, UDP, 0),
			      &out),
		REDIRECT);
	assert_int_equal(
		st_tailnet_in(h, pt_flow(CLIENT4, 1002, VIP4, VPORT, UDP, 0),
			      &out),
		REDIRECT);
	p1 = snat_port_of(h, &k1, PORT_LO, PORT_LO + 1);
	p2 = snat_port_of(h, &k2, PORT_LO, PORT_LO + 1);
	assert_int_not_equal(p1, p2);
	assert_int_equal(
		st_tailnet_in(h, pt_flow(CLIENT4, 1003, VIP4, VPORT, UDP, 0),
			      &out),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_SNAT_EXHAUSTED), 1);
	assert_int_equal(pt_ct_get(h, &k3, &e), -ENOENT);
	check_snat_key(h, &k1, BE4[0], BE_PORT, SNAT4, p1);
	check_snat_key(h, &k2, BE4[0], BE_PORT, SNAT4, p2);
	/* both still get their replies */
	st_expect_restored(h, pt_flow(BE4[0], BE_PORT, SNAT4, p2, UDP, 0),
			   pt_flow(VIP4, VPORT, CLIENT4, 1002, UDP, 0));
	/* another backend is another port space */
	st_snat_service(h, VIP4, UDP, BE4[1], TP_SVC_F_SNAT);
	assert_int_equal(
		st_tailnet_in(h, pt_flow(CLIENT4, 1003, VIP4, VPORT, UDP, 0),
			      &out),
		REDIRECT);
}

/*
 * One port: a reply key already there for a live flow is never taken; a
 * dead one (its flow gone) is reclaimed.
 */
static void test_clash_live_and_dead(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k1 = pt_ct_key(CLIENT4, 1001, VIP4, VPORT, TCP);
	struct tp_ct_key rk = st_reply_key(PORT_LO, TCP);
	struct tp_ct_entry e;
	struct pkt out;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_LO, 0);
	st_snat_service(h, VIP4, TCP, BE4[0], TP_SVC_F_SNAT);
	assert_int_equal(
		st_tailnet_in(h, pt_flow(CLIENT4, 1001, VIP4, VPORT, TCP, SYN),
			      &out),
		REDIRECT);
	assert_int_equal(snat_port_of(h, &k1, PORT_LO, PORT_LO), PORT_LO);
	/* another client, same backend: the only port is live */
	assert_int_equal(st_tailnet_in(h,
				       pt_flow("100.64.0.2", 1001, VIP4, VPORT,
					       TCP, SYN),
				       &out),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_SNAT_EXHAUSTED), 1);
	check_snat_key(h, &k1, BE4[0], BE_PORT, SNAT4, PORT_LO);

	/* the first flow's entry goes (evicted): its key is dead, the next flow takes it */
	assert_int_equal(bpf_map_delete_elem(h->maps.ct, &k1), 0);
	assert_int_equal(st_tailnet_in(h,
				       pt_flow("100.64.0.2", 1001, VIP4, VPORT,
					       TCP, SYN),
				       &out),
			 REDIRECT);
	e = pt_ct_must(h, &rk);
	assert_int_equal(e.orig_saddr.w[3], pt_addr("100.64.0.2").w[3]);
	assert_int_equal(pt_drops(h, TP_DROP_SNAT_EXHAUSTED), 1);
}

/* A new flow on the tuple of an expired SNAT flow drops the old reply key. */
static void test_expired_flow_reuse(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1001, VIP4, VPORT, UDP);
	struct tp_ct_key old_rk, new_rk;
	struct tp_ct_entry e;
	__u16 p1, p2;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	st_snat_service(h, VIP4, UDP, BE4[0], TP_SVC_F_SNAT);
	p1 = st_open(h, pt_flow(CLIENT4, 1001, VIP4, VPORT, UDP, 0), &k);
	assert_in_range(p1, PORT_LO, PORT_HI);
	th_set_clock(h, T0 + (__u64)(TP_CT_TIMEOUT_UDP + 1) * SEC_NS);
	p2 = st_open(h, pt_flow(CLIENT4, 1001, VIP4, VPORT, UDP, 0), &k);
	assert_in_range(p2, PORT_LO, PORT_HI);
	print_message("ports %u then %u\n", p1, p2);
	old_rk = st_reply_key(p1, UDP);
	new_rk = st_reply_key(p2, UDP);
	check_snat_key(h, &k, BE4[0], BE_PORT, SNAT4, p2);
	if (p1 != p2)
		assert_int_equal(pt_ct_get(h, &old_rk, &e), -ENOENT);
	(void)new_rk;
}

/*
 * The reply key is rebuilt (once a second) by the flow's packets when the
 * LRU evicted it; a reply then restores again.
 */
static void test_reply_key_rebuilt(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k;
	struct tp_ct_key rk;
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	port = st_client_flow(h, UDP, 1001, &k);
	rk = st_reply_key(port, UDP);
	assert_int_equal(bpf_map_delete_elem(h->maps.ct_any, &rk), 0);
	/* no key: the reply is no one's, untouched */
	assert_int_equal(
		st_uplink_in(h, pt_flow(BE4[0], BE_PORT, SNAT4, port, UDP, 0),
			     &out),
		PASS);
	th_set_clock(h, T0 + 2 * SEC_NS);
	assert_int_equal(
		st_tailnet_in(h, pt_flow(CLIENT4, 1001, VIP4, VPORT, UDP, 0),
			      &out),
		REDIRECT);
	check_snat_key(h, &k, BE4[0], BE_PORT, SNAT4, port);
	assert_int_equal(
		st_uplink_in(h, pt_flow(BE4[0], BE_PORT, SNAT4, port, UDP, 0),
			     &out),
		REDIRECT);
}

/*
 * Fragments.  A fragmented reply: the first fragment is ours by its ports
 * and leaves a record; the later one (no L4 header) is restored by that
 * record.  A later fragment with no first fragment of ours passes
 * untouched.  The client's fragments both leave SNATed and forwarded.
 */
/*
 * The fragment of @whole at @off, @len bytes, MF @more, id @id, into
 * @hook on @ifindex: it must leave redirected as the same fragment of
 * @want_whole.
 */
static void frag_redirected(struct th *h, enum th_hook hook, int ifindex,
			    const struct pkt *whole,
			    const struct pkt *want_whole, size_t off,
			    size_t len, int more, uint32_t id)
{
	struct pkt frag, want, out;

	assert_int_equal(pkt_fragment(whole, off, len, more, id, &frag), 0);
	assert_int_equal(st_run_on(h, hook, ifindex, &frag, &out), REDIRECT);
	assert_int_equal(pkt_fragment(want_whole, off, len, more, id, &want),
			 0);
	assert_pkt_eq(want.data, want.len, out.data, out.len);
}

static void snat_fragments(struct th *h, const struct family_case *c)
{
	const char *client = c->client, *vip = c->vip, *snat = c->snat;
	const char *be = c->be[c->be_idx];
	struct tp_ct_key k = pt_ct_key(client, 1001, vip, VPORT, UDP);
	static char data[64] =
		"0123456789abcdef0123456789abcdef0123456789abcdef";
	struct pkt whole, twhole, f2, out;
	struct pkt_spec r;
	__u16 port;

	st_snat_service(h, vip, UDP, be, TP_SVC_F_SNAT);
	port = st_open(h, pt_flow(client, 1001, vip, VPORT, UDP, 0), &k);
	assert_in_range(port, PORT_LO, PORT_HI);
	r = pt_flow(be, BE_PORT, snat, port, UDP, 0);
	r.l2 = 1;
	r.payload = data;
	r.payload_len = 48;
	pt_build(&r, &whole);
	r.saddr = vip;
	r.sport = VPORT;
	r.daddr = client;
	r.dport = 1001;
	r.ttl = 63;
	pt_build(&r, &twhole);

	/* a later fragment before any first: no record, not ours */
	assert_int_equal(pkt_fragment(&whole, 24, 32, 0, 99, &f2), 0);
	assert_int_equal(st_run_on(h, TH_FROM_UPLINK, st_up_ifindex, &f2, &out),
			 PASS);
	assert_pkt_eq(f2.data, f2.len, out.data, out.len);

	frag_redirected(h, TH_FROM_UPLINK, st_up_ifindex, &whole, &twhole, 0,
			24, 1, 99);
	frag_redirected(h, TH_FROM_UPLINK, st_up_ifindex, &whole, &twhole, 24,
			32, 0, 99);
	assert_int_equal(th_stat(h, TP_STAT_REVSNAT), 2);

	/* the client's fragments: both leave SNATed, the later one by its record */
	r = pt_flow(client, 1001, vip, VPORT, UDP, 0);
	r.payload = data;
	r.payload_len = 48;
	pt_build(&r, &whole);
	{
		struct pkt_spec t = snat_out(r, snat, port, be);

		pt_build(&t, &twhole);
	}
	frag_redirected(h, TH_FROM_TAILNET, h->l3_ifindex, &whole, &twhole, 0,
			24, 1, 7);
	frag_redirected(h, TH_FROM_TAILNET, h->l3_ifindex, &whole, &twhole, 24,
			32, 0, 7);
}

/* ---- forged and foreign packets on the uplink ---------------------------- */

static void test_forged_replies(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k;
	struct pkt in, out;
	struct pkt_spec sp;
	__u16 port;

	REQUIRE_BPF();
	port = st_client_flow(h, TCP, 1001, &k);

	/* another host, the backend's other port, another node port, UDP: untouched */
	struct pkt_spec forged[] = {
		pt_flow(BE4[1], BE_PORT, SNAT4, port, TCP, SYN | ACK),
		pt_flow(BE4[0], BE_PORT + 1, SNAT4, port, TCP, SYN | ACK),
		pt_flow(BE4[0], BE_PORT, SNAT4,
			port == PORT_HI ? PORT_LO : port + 1, TCP, SYN | ACK),
		pt_flow(BE4[0], BE_PORT, SNAT4, port, UDP, 0),
		pt_flow(BE4[0], BE_PORT, "198.18.0.7", port, TCP, SYN | ACK),
		/* the DNAT reply a non-SNAT flow would get, from the uplink */
		pt_flow(BE4[0], BE_PORT, CLIENT4, 1001, TCP, SYN | ACK),
	};
	for (size_t i = 0; i < ARRAY_SIZE(forged); i++)
		st_uplink_untouched(h, forged[i]);
	/* the flow gone, its key left behind: no one's either */
	assert_int_equal(bpf_map_delete_elem(h->maps.ct, &k), 0);
	assert_int_equal(st_uplink_in(h,
				      pt_flow(BE4[0], BE_PORT, SNAT4, port, TCP,
					      SYN | ACK),
				      &out),
			 PASS);
	/* not IP at all, and a truncated header: passed to the kernel */
	sp = pt_flow(BE4[0], BE_PORT, SNAT4, port, TCP, SYN | ACK);
	sp.l2 = 1;
	pt_build(&sp, &in);
	in.data[12] = 0x88, in.data[13] = 0xcc; /* LLDP */
	assert_int_equal(st_run_on(h, TH_FROM_UPLINK, st_up_ifindex, &in, &out),
			 PASS);
	pt_build(&sp, &in);
	in.len = 14 + 20 + 10;
	assert_int_equal(st_run_on(h, TH_FROM_UPLINK, st_up_ifindex, &in, &out),
			 PASS);
	assert_int_equal(th_stat(h, TP_STAT_REVSNAT), 0);
	assert_int_equal(th_stat(h, TP_STAT_RX_UPLINK), ARRAY_SIZE(forged) + 3);
}

/* A reply while the policy revoked the flow: dropped, never delivered. */
static void test_revoked_reply(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1001, VIP4, VPORT, TCP);
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	st_idents(h);
	st_snat_service(h, VIP4, TCP, BE4[0], TP_SVC_F_SNAT);
	port = st_open(h, pt_flow(CLIENT4, 1001, VIP4, VPORT, TCP, SYN), &k);
	assert_in_range(port, PORT_LO, PORT_HI);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	assert_int_equal(st_uplink_in(h,
				      pt_flow(BE4[0], BE_PORT, SNAT4, port, TCP,
					      SYN | ACK),
				      &out),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, BE_PORT, BE_PORT,
		TP_VERDICT_ALLOW);
	assert_int_equal(st_uplink_in(h,
				      pt_flow(BE4[0], BE_PORT, SNAT4, port, TCP,
					      SYN | ACK),
				      &out),
			 REDIRECT);
}

/* The flow's tailnet interface is gone: its reply is dropped, NO_ROUTE. */
static void test_reply_tailnet_gone(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k;
	struct tp_ct_entry e;
	struct pkt out;
	__u16 port;

	REQUIRE_BPF();
	port = st_client_flow(h, UDP, 1001, &k);
	e = pt_ct_must(h, &k);
	e.ifindex = 0x7ffffff0;
	assert_int_equal(bpf_map_update_elem(h->maps.ct_any, &k, &e, BPF_EXIST),
			 0);
	assert_int_equal(
		st_uplink_in(h, pt_flow(BE4[0], BE_PORT, SNAT4, port, UDP, 0),
			     &out),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_NO_ROUTE), 1);
	assert_int_equal(th_stat(h, TP_STAT_REVSNAT), 0);
}

/* ---- decisions and forwarding edges ------------------------------------------ */

/*
 * "snat": "auto": a backend the FIB puts behind the uplink is SNATed; one
 * behind another interface (a pod's) is plain DNAT, as without SNAT.
 */
static void test_auto_by_route(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1001, VIP4, VPORT, TCP);
	struct tp_ct_key k2 =
		pt_ct_key(CLIENT4, 1001, "198.19.0.11", VPORT, TCP);
	const char *pod = "198.18.5.1";

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, TP_CFG_F_SNAT_AUTO);
	/* a pod interface: routed, not an uplink */
	(void)!system(
		"ip link add tppod0 type veth peer name tppod1 2>/dev/null; ip link set tppod0 up; ip link set tppod1 up; "
		"ip route add 198.18.5.0/24 dev tppod0 2>/dev/null");
	st_snat_service(h, VIP4, TCP, BE4[0], 0);
	st_snat_service(h, "198.19.0.11", TCP, pod, 0);
	{
		struct pkt out;

		assert_int_equal(st_tailnet_in(h,
					       pt_flow(CLIENT4, 1001, VIP4,
						       VPORT, TCP, SYN),
					       &out),
				 REDIRECT);
	}
	snat_port_of(h, &k, PORT_LO, PORT_HI);
	pt_expect_dnat(h,
		       pt_flow(CLIENT4, 1001, "198.19.0.11", VPORT, TCP, SYN),
		       pod, BE_PORT);
	pt_check_ct_dnat(h, &k2, pod, BE_PORT, TP_CT_SYN_SENT);

	/* without auto the uplink backend is plain DNAT too */
	assert_int_equal(th_snat_config(h, SNAT4, SNAT6, PORT_LO, PORT_HI, 0),
			 0);
	pt_expect_dnat(h, pt_flow(CLIENT4, 1002, VIP4, VPORT, TCP, SYN), BE4[0],
		       BE_PORT);
}

static void test_no_snat_address(void **state)
{
	struct th *h = *state;
	struct pkt out;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	assert_int_equal(th_snat_config(h, NULL, SNAT6, PORT_LO, PORT_HI, 0),
			 0);
	st_snat_service(h, VIP4, TCP, BE4[0], TP_SVC_F_SNAT);
	assert_int_equal(
		st_tailnet_in(h, pt_flow(CLIENT4, 1001, VIP4, VPORT, TCP, SYN),
			      &out),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_NO_SNAT_ADDR), 1);
	assert_int_equal(pt_ct_count(h), 0);
}

static void test_no_route_ttl_and_neigh(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp;
	struct pkt out;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	st_snat_service(h, VIP4, UDP, FARHOST4, TP_SVC_F_SNAT);
	assert_int_equal(
		st_tailnet_in(h, pt_flow(CLIENT4, 1001, VIP4, VPORT, UDP, 0),
			      &out),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_NO_ROUTE), 1);

	/* TTL 1 would leave with 0 */
	st_snat_service(h, VIP4, UDP, BE4[0], TP_SVC_F_SNAT);
	sp = pt_flow(CLIENT4, 1002, VIP4, VPORT, UDP, 0);
	sp.ttl = 1;
	assert_int_equal(st_tailnet_in(h, sp, &out), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_TTL_EXCEEDED), 1);
	sp.ttl = 2;
	assert_int_equal(st_tailnet_in(h, sp, &out), REDIRECT);
	assert_int_equal(out.data[14 + 8], 1);

	/* an on-link backend without a neighbour entry: bpf_redirect_neigh() */
	st_snat_service(h, VIP4, UDP, "198.18.2.9", TP_SVC_F_SNAT);
	assert_int_equal(
		st_tailnet_in(h, pt_flow(CLIENT4, 1003, VIP4, VPORT, UDP, 0),
			      &out),
		REDIRECT);
	assert_int_equal(out.len, 14 + 20 + 8 + 9);
}

/*
 * A reply too big for the tailnet interface's MTU: counted FRAG_NEEDED,
 * never delivered, and answered as a router would: frag-needed (IPv4 with
 * DF) or packet-too-big (IPv6) from the node's address to the backend,
 * quoting the reply's IP header and 8 bytes, back out the uplink with the
 * Ethernet addresses swapped.  IPv4 without DF: only dropped.
 */
static void snat_over_mtu(struct th *h, const struct family_case *c)
{
	const char *client = c->client, *vip = c->vip, *snat = c->snat;
	const char *be = c->be[c->be_idx];
	int v6 = pt_family_of(client) == AF_INET6;
	struct tp_ct_key k = pt_ct_key(client, 1001, vip, VPORT, UDP);
	static char big[1400];
	struct pkt in, out, want;
	struct pkt_spec r;
	__u32 hdrs = v6 ? 48 : 28;
	__u16 port;

	st_snat_service(h, vip, UDP, be, TP_SVC_F_SNAT);
	port = st_open(h, pt_flow(client, 1001, vip, VPORT, UDP, 0), &k);
	assert_in_range(port, PORT_LO, PORT_HI);
	assert_int_equal(system("ip link set tptun0 mtu 1280"), 0);
	r = pt_flow(be, BE_PORT, snat, port, UDP, 0);
	r.l2 = 1;
	r.df = 1;
	r.payload = big;
	r.payload_len = 1280 - hdrs + 1;
	pt_build(&r, &in);
	assert_int_equal(st_run_on(h, TH_FROM_UPLINK, st_up_ifindex, &in, &out),
			 REDIRECT);
	assert_int_equal(pt_drops(h, TP_DROP_FRAG_NEEDED), 1);
	/* the quote: IP header and 8 bytes */
	{
		struct pkt_spec sp = { .l2 = 1,
				       .family = pt_family_of(be),
				       .saddr = snat,
				       .daddr = be,
				       .proto = pt_icmp_proto(be),
				       .icmp_type = v6 ? 2 : 3,
				       .icmp_code = v6 ? 0 : 4,
				       .icmp_info = 1280,
				       .inner = &in,
				       .inner_len = hdrs };
		static const uint8_t up_mac[6] = TH_UPLINK_MAC,
				     gw_mac[6] = TH_UPLINK_GW_MAC;

		pt_build(&sp, &want);
		memcpy(want.data, up_mac, 6);
		memcpy(want.data + 6, gw_mac, 6);
	}
	assert_pkt_eq(want.data, want.len, out.data, out.len);
	if (pkt_verify_csums(&out, 1, (char[128]){ 0 }, 128))
		fail_msg("error has bad checksums");
	/* one byte less fits */
	r.payload_len = 1280 - hdrs;
	assert_int_equal(st_uplink_in(h, r, &out), REDIRECT);
	assert_int_equal(pt_drops(h, TP_DROP_FRAG_NEEDED), 1);
	if (!v6) {
		r.df = 0;
		r.payload_len = 1280 - hdrs + 1;
		assert_int_equal(st_uplink_in(h, r, &out), DROP);
		assert_int_equal(pt_drops(h, TP_DROP_FRAG_NEEDED), 2);
	}
	assert_int_equal(system("ip link set tptun0 mtu 1500"), 0);
}

/* ---- ICMP errors --------------------------------------------------------- */

/*
 * An error on the uplink about a packet of a SNAT flow, from the backend
 * (@from NULL) or a router: restored both layers deep toward the client.
 */
static void snat_uplink_error(struct th *h, const struct family_case *c)
{
	const char *client = c->client, *vip = c->vip, *snat = c->snat;
	const char *be = c->be[c->be_idx];
	int v6 = pt_family_of(client) == AF_INET6;
	__u8 type = v6 ? 1 : 3, code = v6 ? 4 : 3;
	const char *from = c->from;
	__u8 proto = c->proto;
	struct tp_ct_key k = pt_ct_key(client, CPORT, vip, VPORT, proto);
	struct pkt_spec q = pt_flow(client, CPORT, vip, VPORT, proto, SYN);
	struct pkt err, out, want;
	struct pkt_spec quoted, orig_q;
	__u16 port;

	st_snat_service(h, vip, proto, be, TP_SVC_F_SNAT);
	assert_int_equal(st_tailnet_in(h, q, &out), REDIRECT);
	port = snat_port_of(h, &k, PORT_LO, PORT_HI);
	quoted = snat_out(q, snat, port, be);
	quoted.l2 = 0;
	st_icmp_err(&err, from ? from : be, snat, &quoted, type, code, 0, 1, 0);
	assert_int_equal(
		st_run_on(h, TH_FROM_UPLINK, st_up_ifindex, &err, &out),
		REDIRECT);
	orig_q = q;
	orig_q.ttl = 63; /* the quote is of the packet as it left */
	st_icmp_err(&want, from ? from : vip, client, &orig_q, type, code, 0, 1,
		    63);
	assert_pkt_eq(want.data, want.len, out.data, out.len);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 1);
}

/* An error about an echo request: the quoted id goes back to the client's. */
static void test_uplink_error_echo(void **state)
{
	struct th *h = *state;
	struct pkt_spec req = { .family = AF_INET,
				.saddr = CLIENT4,
				.daddr = VIP4,
				.proto = IPPROTO_ICMP,
				.icmp_type = 8,
				.icmp_id = 77,
				.icmp_seq = 1,
				.payload = "ping",
				.payload_len = 4 };
	struct tp_ct_key k = pt_ct_key(CLIENT4, 77, VIP4, 0, IPPROTO_ICMP);
	struct pkt_spec quoted;
	struct pkt err, out, want;
	__u16 port;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	st_snat_service(h, VIP4, IPPROTO_ICMP, BE4[0], TP_SVC_F_SNAT);
	assert_int_equal(st_tailnet_in(h, req, &out), REDIRECT);
	port = snat_port_of(h, &k, PORT_LO, PORT_HI);
	quoted = snat_out(req, SNAT4, port, BE4[0]);
	quoted.l2 = 0;
	st_icmp_err(&err, GW4, SNAT4, &quoted, 11, 0, 0, 1, 0);
	assert_int_equal(
		st_run_on(h, TH_FROM_UPLINK, st_up_ifindex, &err, &out),
		REDIRECT);
	req.ttl = 63;
	st_icmp_err(&want, GW4, CLIENT4, &req, 11, 0, 0, 1, 63);
	assert_pkt_eq(want.data, want.len, out.data, out.len);
}

/*
 * @c's UDP flow opened (client:CPORT -> vip:VPORT, its SNAT port in
 * @port), and in @err an ICMP error @type/@code (@info) from @from to @to
 * quoting the flow's reply as the client got it (vip:VPORT ->
 * client:CPORT).
 */
static void snat_reply_error(struct th *h, const struct family_case *c,
			     const char *from, const char *to, __u8 type,
			     __u8 code, __u32 info, __u16 *port,
			     struct pkt *err)
{
	const char *client = c->client, *vip = c->vip;
	struct tp_ct_key k = pt_ct_key(client, CPORT, vip, VPORT, UDP);
	struct pkt_spec reply = pt_flow(vip, VPORT, client, CPORT, UDP, 0);

	st_snat_service(h, vip, UDP, c->be[c->be_idx], TP_SVC_F_SNAT);
	*port = st_open(h, pt_flow(client, CPORT, vip, VPORT, UDP, 0), &k);
	assert_in_range(*port, PORT_LO, PORT_HI);
	st_icmp_err(err, from, to, &reply, type, code, info, 0, 0);
}

/*
 * An error of snat_reply_error() that left tp_from_tailnet with
 * @verdict as @out must be the flow's, forwarded like its packets:
 * REDIRECT to the uplink from @want_from to the backend, quoting the
 * reply as the backend sent it (be:BE_PORT -> snat:@port), one hop less,
 * every checksum right; counted ICMP_ERR_NAT, and SNAT a second time
 * (the flow's first packet, then the error).
 */
static void snat_expect_error_out(struct th *h, const struct family_case *c,
				  int verdict, const struct pkt *out,
				  const char *want_from, __u8 type, __u8 code,
				  __u32 info, __u16 port)
{
	const char *be = c->be[c->be_idx];
	int v6 = pt_family_of(c->client) == AF_INET6;
	struct pkt_spec quoted = pt_flow(be, BE_PORT, c->snat, port, UDP, 0);
	struct tp_addr want_src = pt_addr(want_from), got_src = want_src;
	char why[128] = { 0 }, got[INET6_ADDRSTRLEN];
	struct pkt want;

	if (verdict != REDIRECT)
		fail_msg("error not forwarded: verdict %d, want %d (from %s)",
			 verdict, REDIRECT, want_from);
	/* the outer source by name first: the byte diff below shows it less plainly */
	if (v6)
		memcpy(got_src.b, out->data + 14 + 8, 16);
	else
		memcpy(&got_src.w[3], out->data + 14 + 12, 4);
	if (memcmp(&got_src, &want_src, sizeof(got_src)))
		fail_msg("error left from %s, want %s",
			 pkt_addr_str(&got_src, got, sizeof(got)), want_from);
	st_icmp_err(&want, want_from, be, &quoted, type, code, info, 1, 0);
	/* forwarded by us: one hop less */
	want.data[14 + (v6 ? 7 : 8)]--;
	if (!v6) {
		/* IPv4 header checksum of the expected frame, recomputed */
		want.data[14 + 10] = want.data[14 + 11] = 0;
		__u16 c = htons(
			pkt_csum_fold(pkt_csum_partial(want.data + 14, 20, 0)));

		memcpy(want.data + 14 + 10, &c, 2);
	}
	assert_pkt_eq(want.data, want.len, out->data, out->len);
	if (pkt_verify_csums(out, 1, why, sizeof(why)))
		fail_msg("forwarded error's checksums: %s", why);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 1);
	assert_int_equal(th_stat(h, TP_STAT_SNAT), 2);
}

/*
 * @err through tp_from_tailnet on tptun0: with zone 1's tailnet (CLIENT4's
 * /24, CLIENT6's /64) routed there as tailscaled's table 52 routes it
 * when @routed, and a policy rule refusing source @refused unless NULL;
 * both removed before any assertion can fail.  The verdict, the packet
 * in @out.
 */
static int run_error(struct th *h, const struct pkt *err, struct pkt *out,
		     bool routed, const char *refused)
{
	const char *ip = refused && strchr(refused, ':') ? "ip -6" : "ip -4";
	char add[512], del[512];
	int added, verdict, removed;

	snprintf(add, sizeof(add), "true%s",
		 routed ? " && ip route replace 100.64.0.0/24 dev tptun0 && "
			  "ip -6 route replace fd7a:115c:a1e0::/64 dev tptun0"
			: "");
	snprintf(del, sizeof(del), "true%s",
		 routed ? " && ip route del 100.64.0.0/24 dev tptun0 && "
			  "ip -6 route del fd7a:115c:a1e0::/64 dev tptun0"
			: "");
	if (refused) {
		snprintf(add + strlen(add), sizeof(add) - strlen(add),
			 " && %s rule add from %s unreachable pref 101", ip,
			 refused);
		snprintf(del + strlen(del), sizeof(del) - strlen(del),
			 " && %s rule del pref 101", ip);
	}
	added = system(add);
	verdict = st_run_on(h, TH_FROM_TAILNET, h->l3_ifindex, err, out);
	removed = system(del);
	assert_int_equal(added, 0);
	assert_int_equal(removed, 0);
	return verdict;
}

/*
 * The error of the flow leaves with the node's SNAT address as its
 * source when the client sent it, with its own when a router on the
 * tailnet did (@c->from; tp_nat_icmp_error() rewrites it, as
 * snat_expect_error_out() checks), and tp_snat_icmp_error_out() asks the
 * FIB for its next hop from that source: a policy rule refusing the
 * other address (the client's, or the SNAT address) as source changes
 * nothing; one refusing the source it leaves with drops it, NO_ROUTE.
 */
static void snat_error_fib_source(struct th *h, const struct family_case *c)
{
	int v6 = pt_family_of(c->client) == AF_INET6;
	const char *from = c->from ? c->from : c->client;
	const char *src = c->from ? c->from : c->snat;
	const char *other = c->from ? c->snat : c->client;
	struct pkt err, out;
	__u16 port;
	int verdict;

	snat_reply_error(h, c, from, c->vip, v6 ? 1 : 3, v6 ? 4 : 3, 0, &port,
			 &err);
	verdict = run_error(h, &err, &out, c->from != NULL, other);
	if (verdict != REDIRECT)
		fail_msg("error from %s dropped by a rule refusing source %s "
			 "(verdict %d): FIB asked from %s, want from %s",
			 from, other, verdict, other, src);
	verdict = run_error(h, &err, &out, c->from != NULL, src);
	if (verdict != DROP || pt_drops(h, TP_DROP_NO_ROUTE) != 1)
		fail_msg("error from %s passed a rule refusing source %s "
			 "(verdict %d, %llu NO_ROUTE drops): FIB not asked "
			 "from %s",
			 from, src, verdict,
			 (unsigned long long)pt_drops(h, TP_DROP_NO_ROUTE),
			 src);
}

/*
 * An error about a reply of the flow, from the client (port unreachable;
 * ICMPv6: address unreachable) or from a router on the tailnet path
 * (@c->from, an address zone 1's routes lead to; fragmentation needed /
 * packet too big, MTU 1280), is the flow's and leaves as its packets do
 * (snat_expect_error_out()): the client's from the node's SNAT address,
 * the router's from its own (tp_nat_icmp_error() makes the outer source
 * the SNAT address only when it is the quote's destination, the client).
 */
static void snat_error_out(struct th *h, const struct family_case *c)
{
	int v6 = pt_family_of(c->client) == AF_INET6;
	const char *router = c->from;
	__u8 type = router ? (v6 ? 2 : 3) : (v6 ? 1 : 3),
	     code = router ? (v6 ? 0 : 4) : (v6 ? 4 : 3);
	__u32 mtu = router ? 1280 : 0;
	struct pkt err, out;
	__u16 port;
	int verdict;

	snat_reply_error(h, c, router ? router : c->client, c->vip, type, code,
			 mtu, &port, &err);
	verdict = run_error(h, &err, &out, router != NULL, NULL);
	snat_expect_error_out(h, c, verdict, &out, router ? router : c->snat,
			      type, code, mtu, port);
}

/*
 * Errors quoting the flow's reply that are not the flow's
 * (tp_icmp_error_valid()): from a router of another zone (zone 2's, its
 * routes through tptun1) or one no route leads to; and the client's to
 * another destination than the quote's source, the VIP (@c->to: the
 * backend, what the VIP would have become).  The outer destination is
 * the quote's source in every error the flow takes (rule 1 of
 * docs/datapath.md's ICMP errors): tp_snat_icmp_error_out() always makes
 * it the backend, and never reaches its other case (the destination
 * kept).  Each is decided on its own (no policy here: passed), left as
 * it came, nothing translated or forwarded.
 */
static void snat_error_not_flows(struct th *h, const struct family_case *c)
{
	int v6 = pt_family_of(c->client) == AF_INET6;
	const char *from = c->from ? c->from : c->client;
	const char *to = c->to ? c->to : c->vip;
	struct pkt err, out;
	__u16 port;
	int verdict;

	snat_reply_error(h, c, from, to, v6 ? 2 : 3, v6 ? 0 : 4, 1280, &port,
			 &err);
	verdict = run_error(h, &err, &out, true, NULL);
	if (verdict != PASS)
		fail_msg("error from %s to %s: verdict %d, want %d (decided "
			 "on its own)",
			 from, to, verdict, PASS);
	assert_pkt_eq(err.data, err.len, out.data, out.len);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 0);
	assert_int_equal(th_stat(h, TP_STAT_SNAT), 1);
}

/*
 * "snat": "auto" alone (the service not marked): the FIB sends the
 * backend out through the uplink, so the flow leaves SNATed, its port of
 * the range, in both families: the one route lookup that gives the flow
 * its out zone answers this too (tp_out_route()).
 */
static void snat_auto_uplink(struct th *h, const struct family_case *c)
{
	struct pkt_spec syn =
		pt_flow(c->client, CPORT, c->vip, VPORT, TCP, SYN);
	struct tp_ct_key k = pt_ct_key(c->client, CPORT, c->vip, VPORT, TCP);

	assert_int_equal(th_snat_config(h, SNAT4, SNAT6, PORT_LO, PORT_HI,
					TP_CFG_F_SNAT_AUTO),
			 0);
	snat_first_svc(h, c, syn, &k, BE_PORT, 0);
	assert_int_equal(th_stat(h, TP_STAT_SNAT), 1);
}

/* ---- the per-family table ----------------------------------------------- */

#define V4(be) CLIENT4, VIP4, SNAT4, BE4, be
#define V6(be) CLIENT6, VIP6, SNAT6, BE6, be

static const struct family_case family_cases[] = {
	{ "test_tcp_v4", snat_tcp_roundtrip, V4(0) },
	{ "test_tcp_v6", snat_tcp_roundtrip, V6(0) },
	{ "test_udp_v4", snat_udp_roundtrip, V4(1) },
	{ "test_udp_v6", snat_udp_roundtrip, V6(1) },
	{ "test_echo_v4", snat_echo_roundtrip, V4(2) },
	{ "test_echo_v6", snat_echo_roundtrip, V6(2) },
	{ "test_fragments_v4", snat_fragments, V4(0) },
	{ "test_fragments_v6", snat_fragments, V6(0) },
	{ "test_reply_over_mtu_v4", snat_over_mtu, V4(0) },
	{ "test_reply_over_mtu_v6", snat_over_mtu, V6(0) },
	{ "test_uplink_error_v4", snat_uplink_error, V4(0), NULL, UDP },
	{ "test_uplink_error_router_v4", snat_uplink_error, V4(0), GW4, TCP },
	{ "test_uplink_error_v6", snat_uplink_error, V6(0), NULL, TCP },
	{ "test_client_error_v4", snat_error_out, V4(0) },
	{ "test_client_error_v6", snat_error_out, V6(0) },
	{ "test_auto_uplink_v4", snat_auto_uplink, V4(0) },
	{ "test_auto_uplink_v6", snat_auto_uplink, V6(0) },
	{ "test_client_error_fib_source_v4", snat_error_fib_source, V4(0) },
	{ "test_client_error_fib_source_v6", snat_error_fib_source, V6(0) },
	{ "test_router_error_v4", snat_error_out, V4(0), TROUTER4 },
	{ "test_router_error_v6", snat_error_out, V6(0), TROUTER6 },
	{ "test_router_error_fib_source_v4", snat_error_fib_source, V4(0),
	  TROUTER4 },
	{ "test_router_error_fib_source_v6", snat_error_fib_source, V6(0),
	  TROUTER6 },
	{ "test_router_error_other_zone_v4", snat_error_not_flows, V4(0),
	  Z2ROUTER4 },
	{ "test_router_error_other_zone_v6", snat_error_not_flows, V6(0),
	  Z2ROUTER6 },
	{ "test_router_error_no_route_v4", snat_error_not_flows, V4(0),
	  NOROUTER4 },
	{ "test_router_error_no_route_v6", snat_error_not_flows, V6(0),
	  NOROUTER6 },
	{ "test_client_error_to_backend_v4", snat_error_not_flows, V4(0), NULL,
	  0, "198.18.1.1" },
	{ "test_client_error_to_backend_v6", snat_error_not_flows, V6(0), NULL,
	  0, "fd00:198:18::1:1" },
	{ "test_uplink_error_router_v6", snat_uplink_error, V6(0), GW6, UDP },
};

static void test_family_case(void **state)
{
	struct th *h = *state;

	const struct family_case *c = rt_row();

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	c->body(h, c);
}

/* ---- randomized: ports are never shared by live flows ------------------- */

struct rnd_flow {
	int live;
	__u8 proto;
	int client; /* 100.64.0.<client> */
	__u16 cport;
	__u32 be;   /* backend address, network order */
	__u16 port; /* SNAT port */
};

static __u32 rnd_next(__u64 *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (__u32)(*s >> 33);
}

/*
 * Random flows of two services (TCP and UDP, two backends each) through
 * an 8-port range, replies to them and to ports no flow holds, and time
 * passing.  A model of the live flows checks: a flow keeps its backend
 * and port; no two live flows share (protocol, backend, port); a drop is
 * SNAT_EXHAUSTED only when the backend it would go to has all 8 ports;
 * every reply to a live flow comes back restored to its client; any other
 * uplink packet passes untouched.  TP_FUZZ_SEED replays a run.
 */
static void test_random_flows(void **state)
{
	struct th *h = *state;
	static struct rnd_flow m[2 * 20 * 4];
	const char *env = getenv("TP_FUZZ_SEED");
	__u64 seed = env ? strtoull(env, NULL, 0)
			 : (__u64)time(NULL) ^ (__u64)getpid() << 16;
	__u64 rs = seed, now = T0;
	const char *bes[2] = { BE4[0], BE4[1] };
	unsigned int n_new = 0, n_drop = 0, n_reply = 0, n_foreign = 0,
		     n_expire = 0;
	struct pkt out;
	char cbuf[32];
	int i, j;

	REQUIRE_BPF();
	print_message("seed %llu (TP_FUZZ_SEED to replay)\n",
		      (unsigned long long)seed);
	st_snat_env(h, PORT_LO, PORT_LO + 7, 0);
	pt_service(h, VIP4, VPORT, TCP, bes, 2, BE_PORT, NULL, NULL,
		   TP_SVC_F_SNAT, 0);
	pt_service(h, VIP4, VPORT, UDP, bes, 2, BE_PORT, NULL, NULL,
		   TP_SVC_F_SNAT, 0);
	for (i = 0; i < 600; i++) {
		__u32 r = rnd_next(&rs) % 100;
		struct rnd_flow *f;
		int idx;

		if (r < 60) { /* a packet of a random flow from the tailnet */
			__u8 proto = rnd_next(&rs) & 1 ? TCP : UDP;
			int client = 1 + rnd_next(&rs) % 20;
			__u16 cport = 1000 + rnd_next(&rs) % 4;
			int verdict, taken;
			__u32 be;
			__u16 port;

			idx = ((proto == TCP) * 20 + client - 1) * 4 +
			      (cport - 1000);
			f = &m[idx];
			snprintf(cbuf, sizeof(cbuf), "100.64.0.%d", client);
			verdict = st_tailnet_in(
				h,
				pt_flow(cbuf, cport, VIP4, VPORT, proto, SYN),
				&out);
			if (verdict == DROP) {
				assert_false(f->live);
				/* only when a backend has all 8 ports of this protocol */
				for (j = 0, taken = 0; j < 2; j++) {
					__u32 b = pt_addr(bes[j]).w[3];
					int c = 0;

					for (size_t x = 0; x < ARRAY_SIZE(m);
					     x++)
						c += m[x].live &&
						     m[x].proto == proto &&
						     m[x].be == b;
					taken |= c == 8;
				}
				assert_true(taken);
				n_drop++;
				assert_int_equal(
					pt_drops(h, TP_DROP_SNAT_EXHAUSTED),
					n_drop);
				continue;
			}
			assert_int_equal(verdict, REDIRECT);
			memcpy(&be, out.data + 14 + 16, 4);
			memcpy(&port, out.data + 14 + 20, 2);
			port = ntohs(port);
			assert_in_range(port, PORT_LO, PORT_LO + 7);
			if (f->live) {
				assert_int_equal(f->be, be);
				assert_int_equal(f->port, port);
				continue;
			}
			for (size_t x = 0; x < ARRAY_SIZE(m); x++)
				if (m[x].live && m[x].proto == proto &&
				    m[x].be == be && m[x].port == port)
					fail_msg(
						"port %u to backend %08x given twice (seed %llu)",
						port, ntohl(be),
						(unsigned long long)seed);
			*f = (struct rnd_flow){ 1,     proto, client,
						cport, be,    port };
			n_new++;
		} else if (r < 85) { /* a reply to a live flow */
			char bbuf[16];
			int start = rnd_next(&rs) % ARRAY_SIZE(m);

			for (j = 0, f = NULL; j < (int)ARRAY_SIZE(m) && !f; j++)
				if (m[(start + j) % ARRAY_SIZE(m)].live)
					f = &m[(start + j) % ARRAY_SIZE(m)];
			if (!f)
				continue;
			inet_ntop(AF_INET, &f->be, bbuf, sizeof(bbuf));
			snprintf(cbuf, sizeof(cbuf), "100.64.0.%d", f->client);
			st_expect_restored(
				h,
				pt_flow(bbuf, BE_PORT, SNAT4, f->port, f->proto,
					f->proto == TCP ? SYN | ACK : 0),
				pt_flow(VIP4, VPORT, cbuf, f->cport, f->proto,
					f->proto == TCP ? SYN | ACK : 0));
			n_reply++;
		} else if (r <
			   97) { /* to a port or from a backend no flow has */
			__u8 proto = rnd_next(&rs) & 1 ? TCP : UDP;
			__u16 port = PORT_LO + rnd_next(&rs) % 10;
			const char *from = rnd_next(&rs) & 1 ? BE4[0] : BE4[2];
			__u32 b = pt_addr(from).w[3];
			int held = 0;

			for (size_t x = 0; x < ARRAY_SIZE(m); x++)
				held |= m[x].live && m[x].proto == proto &&
					m[x].be == b && m[x].port == port;
			if (held)
				continue;
			st_uplink_untouched(h, pt_flow(from, BE_PORT, SNAT4,
						       port, proto,
						       proto == TCP ? ACK : 0));
			n_foreign++;
		} else { /* time passes: every flow expires */
			now += (__u64)(TP_CT_TIMEOUT_SYN + TP_CT_TIMEOUT_UDP) *
			       SEC_NS;
			th_set_clock(h, now);
			memset(m, 0, sizeof(m));
			n_expire++;
		}
	}
	print_message(
		"%u new flows, %u exhausted, %u replies, %u foreign packets, %u expiries\n",
		n_new, n_drop, n_reply, n_foreign, n_expire);
}

/* ---- cost of the uplink's pass path ------------------------------------ */

/* Mean ns of @n runs of @in through tp_from_uplink (a path that rewrites nothing). */
static double uplink_ns(struct th *h, const struct pkt *in, int n, int *verdict)
{
	struct __sk_buff ctx = { .ifindex = st_up_ifindex };
	uint8_t out[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data,
		    .data_size_in = in->len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = n);

	assert_int_equal(
		bpf_prog_test_run_opts(
			bpf_program__fd(h->skel->progs.tp_from_uplink), &opts),
		0);
	*verdict = opts.retval;
	return opts.duration;
}

/*
 * What every packet of the node pays on an uplink that is not ours: a
 * parse and one conntrack lookup (counted, not asserted: times are the
 * machine's).  With 20,000 flows in the tables, a foreign TCP packet, a
 * UDP one, an ARP frame; and for scale a reply of ours (single runs: it
 * rewrites its packet).
 */
static void test_uplink_pass_cost(void **state)
{
	struct th *h = *state;
	struct pkt tcp, udp, arp, reply;
	struct tp_ct_entry e = { .flags = TP_CT_F_REPLY_KEY, .expires_s = 1 };
	struct tp_ct_key k;
	double ns_tcp, ns_udp, ns_arp, ns_ours = 0;
	struct pkt_spec sp;
	int i, verdict, n = 200000;
	__u16 port;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	for (i = 0; i < 10000; i++) {
		k = st_key_z(CLIENT4, 1000 + i % 50000, VIP4, VPORT, TCP,
			     TH_ZONE);
		k.saddr.w[3] = htonl(0x64400000 + i);
		assert_int_equal(
			bpf_map_update_elem(h->maps.ct, &k, &e, BPF_ANY), 0);
		k.proto = UDP;
		assert_int_equal(
			bpf_map_update_elem(h->maps.ct_any, &k, &e, BPF_ANY),
			0);
	}
	sp = pt_flow("198.18.0.50", 22, SNAT4, 50000, TCP, ACK);
	sp.l2 = 1;
	pt_build(&sp, &tcp);
	sp = pt_flow("198.18.0.50", 53, SNAT4, 50000, UDP, 0);
	sp.l2 = 1;
	pt_build(&sp, &udp);
	arp = tcp;
	arp.data[12] = 0x08, arp.data[13] = 0x06;
	ns_tcp = uplink_ns(h, &tcp, n, &verdict);
	assert_int_equal(verdict, PASS);
	ns_udp = uplink_ns(h, &udp, n, &verdict);
	assert_int_equal(verdict, PASS);
	ns_arp = uplink_ns(h, &arp, n, &verdict);
	assert_int_equal(verdict, PASS);

	st_snat_service(h, VIP4, UDP, BE4[0], TP_SVC_F_SNAT);
	k = pt_ct_key(CLIENT4, 1001, VIP4, VPORT, UDP);
	port = st_open(h, pt_flow(CLIENT4, 1001, VIP4, VPORT, UDP, 0), &k);
	assert_in_range(port, PORT_LO, PORT_HI);
	sp = pt_flow(BE4[0], BE_PORT, SNAT4, port, UDP, 0);
	sp.l2 = 1;
	pt_build(&sp, &reply);
	for (i = 0; i < 1000; i++) {
		ns_ours += uplink_ns(h, &reply, 1, &verdict);
		assert_int_equal(verdict, REDIRECT);
	}
	print_message(
		"tp_from_uplink ns/packet: foreign tcp %.1f, foreign udp %.1f, arp %.1f "
		"(%d runs each, 20000 flows); our reply %.1f (1000 single runs, "
		"test_run's own cost included)\n",
		ns_tcp, ns_udp, ns_arp, n, ns_ours / 1000);
}

/* ---- through real devices ------------------------------------------------ */

/* Wait up to 2 s for a packet of @len bytes on @fd that starts with @want[0..cmp). */
static ssize_t read_match(int fd, uint8_t *buf, size_t cap, const uint8_t *want,
			  size_t cmp)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int i;

	for (i = 0; i < 50; i++) {
		if (poll(&pfd, 1, 40) <= 0)
			continue;
		n = read(fd, buf, cap);
		if (n >= (ssize_t)cmp && !memcmp(buf, want, cmp))
			return n;
	}
	return -1;
}

/*
 * The programs attached as the loader attaches them: tp_from_tailnet and
 * tp_to_tailnet on tptun0, tp_from_uplink on tpup0.  A packet written to
 * the TUN leaves tpup1's far end as the SNATed frame; the reply sent into
 * tpup1 comes out of the TUN restored: redirected to the flow's tailnet
 * interface, and passed by tp_to_tailnet through the tc_index mark (its
 * zone denies by default: unmarked, the reply would be dropped).
 */
static void test_live_devices(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, CPORT, VIP4, VPORT, UDP);
	struct pkt_spec q = pt_flow(CLIENT4, CPORT, VIP4, VPORT, UDP, 0), r;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	struct pkt in, want;
	uint8_t buf[2048];
	struct timespec t0, t1;
	int sock, tun = th_tun_file(), peer;
	ssize_t n;
	__u16 port;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	peer = th_uplink_peer();
	st_idents(h);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, BE_PORT, BE_PORT,
		TP_VERDICT_ALLOW);
	st_snat_service(h, VIP4, UDP, BE4[0], TP_SVC_F_SNAT);

	sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(sock >= 0);
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = peer;
	assert_int_equal(bind(sock, (struct sockaddr *)&sll, sizeof(sll)), 0);
	assert_int_equal(
		pt_tc_attach(h->l3_ifindex, BPF_TC_INGRESS,
			     bpf_program__fd(h->skel->progs.tp_from_tailnet)),
		0);
	st_attach_reply_path(h);
	th_set_clock(h,
		     0); /* real time: the kernel's packets, not test_run's */

	pt_build(&q, &in);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(write(tun, in.data, in.len), (ssize_t)in.len);
	/* the frame on the far end: to the gateway's MAC */
	{
		static const uint8_t gw[6] = TH_UPLINK_GW_MAC;

		n = read_match(sock, buf, sizeof(buf), gw, 6);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(n > 0);
	port = snat_port_of(h, &k, PORT_LO, PORT_HI);
	pt_build(FLOWP(CLIENT4, CPORT, VIP4, VPORT, UDP, 0), &want);
	{
		struct pkt_spec w = snat_out(q, SNAT4, port, BE4[0]);

		pt_build(&w, &want);
	}
	assert_pkt_eq(want.data, want.len, buf, (size_t)n);
	print_message("tailnet -> uplink frame after %ld us\n",
		      (t1.tv_sec - t0.tv_sec) * 1000000 +
			      (t1.tv_nsec - t0.tv_nsec) / 1000);

	/* the reply into tpup1, to tpup0's MAC */
	r = pt_flow(BE4[0], BE_PORT, SNAT4, port, UDP, 0);
	r.l2 = 1;
	pt_build(&r, &in);
	memcpy(in.data, (uint8_t[6])TH_UPLINK_MAC, 6);
	memcpy(in.data + 6, (uint8_t[6])TH_UPLINK_GW_MAC, 6);
	assert_int_equal(sendto(sock, in.data, in.len, 0,
				(struct sockaddr *)&sll, sizeof(sll)),
			 (ssize_t)in.len);
	{
		struct pkt_spec w =
			pt_flow(VIP4, VPORT, CLIENT4, CPORT, UDP, 0);

		w.ttl = 63; /* forwarded by the node: one hop less */
		pt_build(&w, &want);
	}
	n = read_match(tun, buf, sizeof(buf), want.data, 20);
	assert_true(n > 0);
	assert_pkt_eq(want.data, want.len, buf, (size_t)n);
	assert_int_equal(th_stat(h, TP_STAT_REVSNAT), 1);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 0);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_REPLIED);

	st_detach_reply_path(h);
	close(sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
#define F(i)  RT_TEST(family_cases, i, test_family_case)
		F(0),
		F(1),
		F(2),
		F(3),
		F(4),
		F(5),
		T(test_exhaustion),
		T(test_clash_live_and_dead),
		T(test_expired_flow_reuse),
		T(test_reply_key_rebuilt),
		F(6),
		F(7),
		T(test_forged_replies),
		T(test_revoked_reply),
		T(test_reply_tailnet_gone),
		T(test_auto_by_route),
		F(15),
		F(16),
		T(test_no_snat_address),
		T(test_no_route_ttl_and_neigh),
		F(8),
		F(9),
		F(10),
		F(11),
		F(12),
		T(test_uplink_error_echo),
		F(13),
		F(14),
		F(17),
		F(18),
		F(19),
		F(20),
		F(21),
		F(22),
		F(23),
		F(24),
		F(25),
		F(26),
		F(27),
		F(28),
		F(29),
		T(test_random_flows),
		T(test_uplink_pass_cost),
		T(test_live_devices),
#undef F
#undef T
	};

	if (RT_MISSING(tests, family_cases))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
