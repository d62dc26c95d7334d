// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Attack packet tests from a hostile review of the one-entry conntrack
 * layout (c97c754): one entry per untranslated flow, replies found by
 * reversing their tuple, reply-key entries only for DNAT and zone
 * crossing, 32-bit seconds and packet counts.  A tailnet peer and a pod
 * try to pass as someone's reply, take over or expire someone's entry,
 * or get past policy through the reversed lookup.  The tests named
 * test_fault_* failed on c97c754 and pin its fix; test_holds_* are
 * attacks that held and must go on holding.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>

#include "pkttest.h"
#include "policy.h"
#include "rowtest.h"
#include "service.h"

#define ID_CLIENT 300 /* zone 1: 100.64.0.0/24 */
#define ID_WEB	  400 /* zone 0: 198.18.1.0/24 */
#define ID_OTHER  500 /* zone 2: 100.100.0.0/16 */

#define POD    "198.18.1.1"
#define Z2PEER "100.100.0.5"

#define POD_VETH       77 /* a pod's host-side veth: no tp_ifaces entry */
#define UPLINK_IFINDEX 4242

static void identities(struct th *h)
{
	pt_ident(h, TH_ZONE, "100.64.0.0/24", ID_CLIENT);
	pt_ident(h, 0, "198.18.1.0/24", ID_WEB);
	pt_ident(h, TH_ZONE2, TH_ZONE2_NET4, ID_OTHER);
}

/* An ICMP echo packet (@type 8 request, 0 reply) with id @id. */
static struct pkt_spec echo(const char *s, const char *d, __u8 type, __u16 id)
{
	return (struct pkt_spec){ .family = AF_INET,
				  .saddr = s,
				  .daddr = d,
				  .proto = ICMP,
				  .icmp_type = type,
				  .icmp_id = id,
				  .icmp_seq = 1 };
}

/* A pod's packet leaving to zone 1's tailnet, sent from its veth. */
static int pod_out(struct th *h, struct pkt_spec sp)
{
	return pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, POD_VETH, sp);
}

static int peer_in(struct th *h, struct pkt_spec sp)
{
	return pt_send_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, sp);
}

/* A zone-2 peer's packet coming in on zone 2's tailnet interface. */
static int peer2_in(struct th *h, struct pkt_spec sp)
{
	return pt_send_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, sp);
}

/*
 * Zone 1 denies by default and allows the client to the web pods' ports
 * @lo..8080; the client's SYN to the web service's VIP4:80 goes to
 * BE4[0]:8080.
 */
static void web_dnat_flow_as(struct th *h, __u16 lo, bool keyed)
{
	identities(h);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, lo, 8080, TP_VERDICT_ALLOW);
	pt_web_service(h);
	if (keyed)
		pt_unindex(h); /* the reply-key layout */
	pt_expect_dnat(h, pt_flow(CLIENT4, 1000, VIP4, 80, TCP, SYN), BE4[0],
		       8080);
}

static void web_dnat_flow(struct th *h, __u16 lo)
{
	web_dnat_flow_as(h, lo, false);
}

/* @whole's IPv4 datagram as two fragments with IP id @id: 600 bytes, the rest. */
static void split_600(const struct pkt *whole, __u32 id, struct pkt *f1,
		      struct pkt *f2)
{
	assert_int_equal(pkt_fragment(whole, 0, 600, 1, id, f1), 0);
	assert_int_equal(
		pkt_fragment(whole, 600, whole->len - 20 - 600, 0, id, f2), 0);
}

/* ---- faults ------------------------------------------------------------ */

/*
 * One end of a ping: its address, its identity, and how its packets go
 * (a pod's out to the tailnet, a tailnet peer's in).
 */
struct echo_end {
	const char *addr;
	__u32 id;
	int (*send)(struct th *h, struct pkt_spec sp);
};

/*
 * @pinger may ping @hostile, not the other way round.  While @pinger pings
 * with id 0, @hostile's own echo requests with id 0 (the tuple of the
 * ping's replies) are no replies: denied, until a rule allows them, then
 * decided on their own; the ping is answered throughout.
 */
static void echo_id0_request_is_no_reply(struct th *h,
					 const struct echo_end *pinger,
					 const struct echo_end *hostile)
{
	const char *p = pinger->addr, *x = hostile->addr;

	identities(h);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, pinger->id, hostile->id, 0, ICMP, 0, 0, TP_VERDICT_ALLOW);
	/* control: the hostile end may not ping */
	assert_int_equal(hostile->send(h, echo(x, p, 8, 7)), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);

	/* the pinger pings with id 0; the other end answers */
	assert_int_equal(pinger->send(h, echo(p, x, 8, 0)), PASS);
	assert_int_equal(hostile->send(h, echo(x, p, 0, 0)), PASS);
	/* the other end's echo request with id 0 is no reply of that ping */
	assert_int_equal(hostile->send(h, echo(x, p, 8, 0)), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 2);
	/* the ping goes on */
	assert_int_equal(pinger->send(h, echo(p, x, 8, 0)), PASS);
	assert_int_equal(hostile->send(h, echo(x, p, 0, 0)), PASS);
	/* allowed, the same request passes, decided on its own */
	pt_rule(h, hostile->id, pinger->id, 0, ICMP, 0, 0, TP_VERDICT_ALLOW);
	assert_int_equal(hostile->send(h, echo(x, p, 8, 0)), PASS);
	assert_int_equal(pt_ct_count(h), 1);
	/* and the ping is still answered */
	assert_int_equal(pinger->send(h, echo(p, x, 8, 0)), PASS);
	assert_int_equal(hostile->send(h, echo(x, p, 0, 0)), PASS);
}

static const struct echo_end echo_pod = { POD, ID_WEB, pod_out };
static const struct echo_end echo_peer = { CLIENT4, ID_CLIENT, peer_in };

/*
 * ICMP echo keys are (id, 0) for a request and (0, id) for a reply, so a
 * request with id 0 from A to B has the tuple of the reply to B's request
 * with id 0 to A.  The reversed lookup took a peer's echo request for the
 * reply of a pod's ping: while the pod pings the client with id 0, the
 * client gets its own echo requests with id 0 to the pod through, though
 * policy denies client -> pod.  (Linux conntrack keeps the type in the
 * tuple: an echo request is never a reply.)  A hostile peer gains a
 * policy bypass for echo requests; the pod answers them too.
 */
static void test_fault_echo_request_id0_as_reply_ingress(void **state)
{
	REQUIRE_BPF();
	echo_id0_request_is_no_reply(*state, &echo_pod, &echo_peer);
}

/*
 * The same through a DNAT flow: a client pings a service's VIP with id
 * 0; the backend's own echo request with id 0 to the client carried the
 * reply-key tuple, was taken for the ping's reply and left translated,
 * from the VIP, though policy denies backend -> client.
 */
static void test_fault_echo_request_id0_as_dnat_reply(void **state)
{
	struct th *h = *state;
	struct pkt_spec ping = echo(CLIENT4, VIP4, 8, 0);
	struct pkt in, want;

	REQUIRE_BPF();
	identities(h);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, ICMP, 0, 0, TP_VERDICT_ALLOW);
	pt_service(h, VIP4, 0, ICMP, BE4, 1, 0, NULL, NULL, 0, 0);
	pt_build(&ping, &in);
	ping.daddr = BE4[0];
	pt_build(&ping, &want);
	pt_run_expect(h, TH_FROM_TAILNET, &in, PASS, &want);

	assert_int_equal(pod_out(h, echo(BE4[0], CLIENT4, 8, 0)), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);
	/* the backend's echo reply is the ping's */
	pt_expect_revnat(h, echo(BE4[0], CLIENT4, 0, 0), VIP4, 0);
}

/* The same with ICMPv6 echo (128/129). */
static void test_fault_echo_request_id0_as_reply_v6(void **state)
{
	struct th *h = *state;
	struct pkt_spec req_out = { .family = AF_INET6,
				    .saddr = BE6[0],
				    .daddr = CLIENT6,
				    .proto = IPPROTO_ICMPV6,
				    .icmp_type = 128,
				    .icmp_id = 0,
				    .icmp_seq = 1 };
	struct pkt_spec req_in = req_out, rep_in;

	REQUIRE_BPF();
	pt_ident(h, TH_ZONE, "fd7a:115c:a1e0::/64", ID_CLIENT);
	pt_ident(h, 0, "fd00:198:18::1:0/112", ID_WEB);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_WEB, ID_CLIENT, 0, IPPROTO_ICMPV6, 0, 0,
		TP_VERDICT_ALLOW);
	req_in.saddr = CLIENT6;
	req_in.daddr = BE6[0];
	rep_in = req_in;
	rep_in.icmp_type = 129;
	assert_int_equal(pod_out(h, req_out), PASS);
	assert_int_equal(peer_in(h, rep_in), PASS);
	assert_int_equal(peer_in(h, req_in), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);
}

/*
 * The same from a hostile pod: while an allowed client pings it with id
 * 0, its own echo requests with id 0 to the client pass as replies of the
 * client's ping, though policy denies pod -> client.
 */
static void test_fault_echo_request_id0_as_reply_egress(void **state)
{
	REQUIRE_BPF();
	echo_id0_request_is_no_reply(*state, &echo_peer, &echo_pod);
}

/*
 * Packet counts are 32 bits now, and "no reply seen yet" was read as
 * packets[reply] == 0: the reply that wraps the count made an answered,
 * established TCP connection look unanswered, and its timeout fell from
 * 6 h to the SYN timeout (60 s).  A backend (or a client, for a flow
 * this side started) that sends 2^32 packets gets the connection dropped
 * after a minute of silence; more to the point, the reply count is no
 * record of having answered.  The byte count (64 bits) is.
 */
static void test_fault_reply_count_wrap_is_unanswered(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, POD, 80, TCP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_handshake(h, CLIENT4, 1000, POD, 80);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.state, TP_CT_ESTABLISHED);
	/* 2^32 - 1 replies later */
	e.packets[TP_CT_DIR_REPLY] = 0xffffffffu;
	assert_int_equal(bpf_map_update_elem(h->maps.ct, &k, &e, BPF_EXIST), 0);
	th_set_clock(h, T0 + 10 * SEC_NS);
	assert_int_equal(pt_send_out(h, POD, 80, CLIENT4, 1000, TCP, ACK),
			 PASS);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 0);
	assert_int_equal(e.expires_s,
			 TP_CT_SEC(T0) + 10 + TP_CT_TIMEOUT_ESTABLISHED);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POD, 80, TCP, ACK), PASS);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.expires_s,
			 TP_CT_SEC(T0) + 10 + TP_CT_TIMEOUT_ESTABLISHED);
}

/*
 * A host on the uplink forges the pod's reply (RST, or data) to a
 * client's flow.  Nothing ties a reply to the side it comes from but the
 * hook and the zone: any non-tailnet interface may bring the replies of a
 * flow from the tailnet (an off-node pod's come through the uplink), so
 * the forged reply was the flow's, reset it and reached the client, where
 * the same packet as a new flow would be the world's and denied.  Fixed
 * with a strict reverse-path check on replies that come in through an
 * uplink (tp_reply_path_ok()): here the pod is not routed there.
 */
static void test_fault_uplink_forges_pod_reply(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, POD, 80, TCP);

	REQUIRE_BPF();
	identities(h);
	pt_uplink(h, UPLINK_IFINDEX);
	pt_allowed_flow(h, ID_CLIENT, ID_WEB, CLIENT4, POD);
	assert_int_equal(
		pod_out(h, pt_flow(POD, 80, CLIENT4, 1000, TCP, SYN | ACK)),
		PASS);
	/* control: the world on the uplink may not reach the client */
	assert_int_equal(
		pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, UPLINK_IFINDEX,
			     pt_flow(POD, 81, CLIENT4, 1000, TCP, SYN)),
		DROP);
	assert_int_equal(
		pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, UPLINK_IFINDEX,
			     pt_flow(POD, 80, CLIENT4, 1000, TCP, RST)),
		DROP);
	assert_int_equal(
		pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, UPLINK_IFINDEX,
			     pt_flow(POD, 80, CLIENT4, 1000, TCP, ACK)),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 2);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 1);
}

/*
 * The other side of the reverse-path check: an off-node pod's reply comes
 * in through the uplink its address is routed to and is the flow's; the
 * same reply through the uplink for a flow whose pod is routed elsewhere
 * (here: nowhere) is not.
 */
static void test_uplink_reply_of_routed_pod(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, POD, 80, TCP);
	struct tp_ct_key k2 = pt_ct_key(CLIENT4, 1001, "198.19.7.1", 80, TCP);
	int up;

	REQUIRE_BPF();
	up = th_uplink(h); /* routes TH_UPLINK_ROUTED4 (POD's /24) via tpup0 */
	assert_true(up > 0);
	identities(h);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POD, 80, TCP, SYN), PASS);
	assert_int_equal(
		pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, up,
			     pt_flow(POD, 80, CLIENT4, 1000, TCP, SYN | ACK)),
		PASS);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 1);

	assert_int_equal(
		pt_send_in(h, CLIENT4, 1001, "198.19.7.1", 80, TCP, SYN), PASS);
	assert_int_equal(pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, up,
				      pt_flow("198.19.7.1", 80, CLIENT4, 1001,
					      TCP, SYN | ACK)),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 1);
	assert_int_equal(pt_ct_must(h, &k2).state, TP_CT_SYN_SENT);
}

/* ---- reverse path (tp_reply_path_ok()), review of fff872d ---------------- */

/*
 * A fault the review found without a small, clear fix: the test is
 * skipped with a "FAULT:" message unless TP_RUN_FAULTS is set, when it
 * runs (and fails) as written.
 */
#define ONNODE4	 "198.18.3.1" /* an on-node pod: routed to tppod0, no uplink */
#define ONNODE6	 "fd00:198:18::3:1"
#define POLICY4	 "198.18.6.1" /* routed via the uplink only for TCP port 80 */
#define ECMP4	 "198.18.5.1" /* routed over both uplinks (multipath) */
#define BLACK4	 "198.18.7.1" /* blackhole */
#define UNREACH4 "198.18.8.1" /* unreachable */

static int pod_ifindex;

/*
 * The test uplink (tpup0, harness.h) and its far end tpup1 as a second
 * uplink (routed nowhere), and a pod-side interface tppod0 (a veth with
 * no tp_ifaces entry) that 198.18.3.0/24 and fd00:198:18::3:0/112 are
 * routed to, made once in the test's namespace.  Returns tpup0's ifindex.
 */
static int rpf_env(struct th *h)
{
	int up = th_uplink(h);

	assert_true(up > 0);
	pt_uplink(h, th_uplink_peer());
	if (!pod_ifindex) {
		assert_int_equal(
			system("ip link add tppod0 type veth peer name tppod1 && "
			       "ip link set tppod0 up && ip link set tppod1 up && "
			       "ip route add 198.18.3.0/24 dev tppod0 && "
			       "ip -6 route add fd00:198:18::3:0/112 dev tppod0"),
			0);
		pod_ifindex = if_nametoindex("tppod0");
		assert_true(pod_ifindex > 0);
	}
	identities(h);
	pt_ident(h, 0, "198.18.0.0/16", ID_WEB);
	return up;
}

/* @sp leaving to the tailnet, forwarded from @in (0: sent by this host). */
static int out_from(struct th *h, int in, struct pkt_spec sp)
{
	return pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, in, sp);
}

/*
 * rpf_env(), zone 1 denying by default but the client's DNS to the web
 * pods, and the client's query to the on-node pod: the uplink's ifindex.
 */
static int dns_to_onnode_pod(struct th *h)
{
	int up = rpf_env(h);

	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, 53, 53, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, ONNODE4, 53, UDP, 0),
			 PASS);
	return up;
}

/* A 1200-byte DNS answer from @from to the client's port 1000. */
static struct pkt_spec dns_reply_1200(const char *from)
{
	static char payload[1200];
	struct pkt_spec sp = pt_flow(from, 53, CLIENT4, 1000, UDP, 0);

	sp.payload = payload;
	sp.payload_len = sizeof(payload);
	return sp;
}

/*
 * DNAT: the check is on the backend's address (the reply's source before
 * reverse NAT), not the VIP's.  A service with an on-node backend and one
 * with an off-node backend behind the uplink: the on-node backend's reply
 * forged on an uplink is dropped, on its pod interface it is translated;
 * the off-node backend's reply on its uplink is translated, on the other
 * uplink dropped; the VIP as source is no reply on either side.
 */
static void test_holds_rpf_dnat_backend_address(void **state)
{
	struct th *h = *state;
	const char *on[1] = { ONNODE4 }, *off[1] = { BE4[0] };
	struct tp_ct_key k1 = pt_ct_key(CLIENT4, 1000, VIP4, 80, TCP);
	struct tp_ct_key k2 = pt_ct_key(CLIENT4, 1001, "198.19.0.11", 80, TCP);
	int up;

	REQUIRE_BPF();
	up = rpf_env(h);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 8080, 8080, TP_VERDICT_ALLOW);
	pt_service(h, VIP4, 80, TCP, on, 1, 8080, NULL, NULL, 0, 0);
	pt_service(h, "198.19.0.11", 80, TCP, off, 1, 8080, NULL, NULL, 0, 0);
	pt_expect_dnat(h, pt_flow(CLIENT4, 1000, VIP4, 80, TCP, SYN), ONNODE4,
		       8080);
	pt_expect_dnat(h, pt_flow(CLIENT4, 1001, "198.19.0.11", 80, TCP, SYN),
		       BE4[0], 8080);

	/* forged: the on-node backend's reply on either uplink, the VIP's */
	assert_int_equal(
		out_from(h, up,
			 pt_flow(ONNODE4, 8080, CLIENT4, 1000, TCP, RST)),
		DROP);
	assert_int_equal(
		out_from(h, th_uplink_peer(),
			 pt_flow(ONNODE4, 8080, CLIENT4, 1000, TCP, RST)),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 2);
	assert_int_equal(
		out_from(h, up, pt_flow(VIP4, 80, CLIENT4, 1000, TCP, RST)),
		DROP);
	assert_int_equal(pt_ct_must(h, &k1).state, TP_CT_SYN_SENT);
	/* the off-node backend's reply on the uplink it is not routed to */
	assert_int_equal(
		out_from(h, th_uplink_peer(),
			 pt_flow(BE4[0], 8080, CLIENT4, 1001, TCP, RST)),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 3);
	assert_int_equal(pt_ct_must(h, &k2).state, TP_CT_SYN_SENT);

	/* the real replies, translated back to their VIPs */
	assert_int_equal(
		out_from(h, pod_ifindex,
			 pt_flow(ONNODE4, 8080, CLIENT4, 1000, TCP, SYN | ACK)),
		PASS);
	assert_int_equal(
		out_from(h, up,
			 pt_flow(BE4[0], 8080, CLIENT4, 1001, TCP, SYN | ACK)),
		PASS);
	assert_int_equal(pt_ct_must(h, &k1).state, TP_CT_SYN_RECV);
	assert_int_equal(pt_ct_must(h, &k2).state, TP_CT_SYN_RECV);
	assert_int_equal(th_stat(h, TP_STAT_REVNAT), 2);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 3);
}

/*
 * IPv6: an off-node backend behind the uplink answers through it; an
 * on-node pod's reply forged on the uplink is dropped.  A link-local
 * source (a flow a client sent to fe80::5, which the kernel never
 * forwards off the tailnet link) is routed nowhere the uplink leads: a
 * reply from it on the uplink is dropped too.
 */
static void test_holds_rpf_ipv6(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT6, 1000, ONNODE6, 80, TCP);
	int up;

	REQUIRE_BPF();
	up = rpf_env(h);
	assert_int_equal(pt_send_in(h, CLIENT6, 1000, ONNODE6, 80, TCP, SYN),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT6, 1001, BE6[0], 80, TCP, SYN),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT6, 1002, "fe80::5", 80, TCP, SYN),
			 PASS);
	assert_int_equal(
		out_from(h, up, pt_flow(ONNODE6, 80, CLIENT6, 1000, TCP, RST)),
		DROP);
	assert_int_equal(
		out_from(h, up,
			 pt_flow("fe80::5", 80, CLIENT6, 1002, TCP, SYN | ACK)),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 2);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_SENT);
	assert_int_equal(
		out_from(h, up,
			 pt_flow(BE6[0], 80, CLIENT6, 1001, TCP, SYN | ACK)),
		PASS);
	assert_int_equal(
		out_from(h, pod_ifindex,
			 pt_flow(ONNODE6, 80, CLIENT6, 1000, TCP, SYN | ACK)),
		PASS);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 2);
}

/*
 * ICMP echo: a client pings an on-node pod and an off-node host; the
 * pod's echo reply forged on the uplink is dropped (the ping stays
 * unanswered), the off-node host's comes through the uplink.
 */
static void test_holds_rpf_echo_reply(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 7, ONNODE4, 0, ICMP);
	int up;

	REQUIRE_BPF();
	up = rpf_env(h);
	assert_int_equal(peer_in(h, echo(CLIENT4, ONNODE4, 8, 7)), PASS);
	assert_int_equal(peer_in(h, echo(CLIENT4, BE4[0], 8, 7)), PASS);
	assert_int_equal(out_from(h, up, echo(ONNODE4, CLIENT4, 0, 7)), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 1);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_OPEN);
	assert_int_equal(out_from(h, up, echo(BE4[0], CLIENT4, 0, 7)), PASS);
	assert_int_equal(out_from(h, pod_ifindex, echo(ONNODE4, CLIENT4, 0, 7)),
			 PASS);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_REPLIED);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 1);
}

/*
 * ICMP errors about a flow, on the uplink: tp_icmp_error_valid() asks the
 * FIB the same question as tp_reply_path_ok() (client -> quoted
 * destination, on the tailnet interface).  An error about the on-node
 * pod's flow from the uplink is not the flow's (decided on its own:
 * denied); one about the off-node backend's flow from its uplink is, and
 * from the other uplink is not.
 */
static void test_holds_rpf_icmp_error_consistent(void **state)
{
	struct th *h = *state;
	struct pkt_spec q1 = pt_flow(CLIENT4, 1000, ONNODE4, 80, TCP, SYN);
	struct pkt_spec q2 = pt_flow(CLIENT4, 1001, BE4[0], 80, TCP, SYN);
	struct pkt err;
	int up;

	REQUIRE_BPF();
	up = rpf_env(h);
	pt_allowed_flow(h, ID_CLIENT, ID_WEB, CLIENT4, ONNODE4);
	assert_int_equal(pt_send_in(h, CLIENT4, 1001, BE4[0], 80, TCP, SYN),
			 PASS);
	pt_icmp_err(&err, ONNODE4, CLIENT4, &q1);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, up, &err),
			 DROP);
	pt_icmp_err(&err, ROUTER4, CLIENT4, &q1);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, up, &err),
			 DROP);
	pt_icmp_err(&err, BE4[0], CLIENT4, &q2);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex,
				    th_uplink_peer(), &err),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 3);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, up, &err),
			 PASS);
	pt_icmp_err(&err, ONNODE4, CLIENT4, &q1);
	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, pod_ifindex, &err),
		PASS);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 3);
}

/*
 * Later fragments of a reply take the same branch as its first fragment
 * (their ports come from the first fragment's record): an on-node pod's
 * fragmented reply forged on the uplink is dropped whole, an off-node
 * backend's passes whole.
 */
static void test_holds_rpf_fragments(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, ONNODE4, 53, UDP);
	struct pkt_spec sp;
	struct pkt whole, f1, f2;
	int up;

	REQUIRE_BPF();
	up = dns_to_onnode_pod(h);
	assert_int_equal(pt_send_in(h, CLIENT4, 1001, BE4[0], 53, UDP, 0),
			 PASS);

	sp = dns_reply_1200(ONNODE4);
	pt_build(&sp, &whole);
	split_600(&whole, 99, &f1, &f2);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, up, &f1),
			 DROP);
	/* the forged first fragment left no record: the zone denies the rest */
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, up, &f2),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 1);
	assert_int_equal(pt_drops(h, TP_DROP_FRAG_NO_FLOW), 1);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 0);
	/* after the pod's own first fragment, a forged later one is checked */
	split_600(&whole, 98, &f1, &f2);
	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, pod_ifindex, &f1),
		PASS);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, up, &f2),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 2);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 1);

	sp.saddr = BE4[0];
	sp.dport = 1001;
	pt_build(&sp, &whole);
	split_600(&whole, 100, &f1, &f2);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, up, &f1),
			 PASS);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, up, &f2),
			 PASS);
	k = pt_ct_key(CLIENT4, 1001, BE4[0], 53, UDP);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 2);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 2);
	assert_int_equal(pt_drops(h, TP_DROP_FRAG_NO_FLOW), 1);
}

/*
 * Fail closed: a reply through the uplink for a flow whose destination
 * the FIB does not forward (a blackhole, an unreachable route, no route,
 * forwarding off on the tailnet interface) is dropped; a destination on
 * the uplink's link whose neighbour is not resolved yet is forwarded
 * there (BPF_FIB_LKUP_RET_NO_NEIGH) and its reply passes.
 */
static void test_holds_rpf_fail_closed(void **state)
{
	struct th *h = *state;
	int up, v[5];

	REQUIRE_BPF();
	up = rpf_env(h);
	assert_int_equal(system("ip route replace blackhole 198.18.7.0/24 && "
				"ip route replace unreachable 198.18.8.0/24"),
			 0);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, BLACK4, 80, UDP, 0),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, UNREACH4, 80, UDP, 0),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, "198.18.9.1", 80, UDP, 0),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, BE4[0], 80, UDP, 0),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, "198.18.2.7", 80, UDP, 0),
			 PASS);
	v[0] = out_from(h, up, pt_flow(BLACK4, 80, CLIENT4, 1000, UDP, 0));
	v[1] = out_from(h, up, pt_flow(UNREACH4, 80, CLIENT4, 1000, UDP, 0));
	v[2] = out_from(h, up,
			pt_flow("198.18.9.1", 80, CLIENT4, 1000, UDP, 0));
	v[4] = out_from(h, up,
			pt_flow("198.18.2.7", 80, CLIENT4, 1000, UDP, 0));
	assert_int_equal(
		system("echo 0 > /proc/sys/net/ipv4/conf/tptun0/forwarding"),
		0);
	v[3] = out_from(h, up, pt_flow(BE4[0], 80, CLIENT4, 1000, UDP, 0));
	(void)!system("echo 1 > /proc/sys/net/ipv4/conf/tptun0/forwarding; "
		      "ip route del 198.18.7.0/24; ip route del 198.18.8.0/24");
	assert_int_equal(v[0], DROP);
	assert_int_equal(v[1], DROP);
	assert_int_equal(v[2], DROP);
	assert_int_equal(v[3], DROP);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 4);
	assert_int_equal(v[4], PASS);
	assert_int_equal(
		out_from(h, up, pt_flow(BE4[0], 80, CLIENT4, 1000, UDP, 0)),
		PASS);
}

/*
 * A zone-crossing flow's reply tuple (zone 2 peer -> client) brought by
 * the uplink instead of zone 2's interface: not the flow's (its replies
 * come in through zone 2), decided as a new flow from the world: denied,
 * the flow untouched.
 */
static void test_holds_rpf_crossing_reply_on_uplink(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, Z2PEER, 80, TCP);
	int up;

	REQUIRE_BPF();
	up = rpf_env(h);
	pt_deflt(h, TH_ZONE2, TP_VERDICT_DENY);
	pt_allowed_flow(h, ID_CLIENT, ID_OTHER, CLIENT4, Z2PEER);
	assert_int_equal(
		out_from(h, up,
			 pt_flow(Z2PEER, 80, CLIENT4, 1000, TCP, SYN | ACK)),
		DROP);
	assert_int_equal(
		out_from(h, up, pt_flow(Z2PEER, 80, CLIENT4, 1000, TCP, RST)),
		DROP);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_SENT);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 0);
}

/*
 * Policy routing by port: the node routes TCP to port 80 of 198.18.6.0/24
 * through the uplink (an ip rule with a dport selector, as for a proxy or
 * a traffic-engineering table); nothing else of that network is routed.
 * The client's flow to port 80 leaves through the uplink and its reply
 * comes back there, but tp_reply_path_ok() asked the FIB without the
 * flow's ports: the rule did not match, the main table had no route, and
 * every reply was dropped as a reverse-path fault.  The lookup now
 * carries the flow's ports for TCP and UDP, as the forwarding path's
 * early flow dissection does for rules with port selectors.  So does
 * tp_icmp_error_valid()'s lookup of the quote's path, which judged a
 * router's error about the flow's packet unrelated (then denied).
 */
static void test_fault_rpf_policy_routing_by_port(void **state)
{
	struct th *h = *state;
	struct pkt_spec q = pt_flow(CLIENT4, 1000, POLICY4, 80, TCP, SYN);
	struct pkt err;
	int up, v, ve;

	REQUIRE_BPF();
	up = rpf_env(h);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	assert_int_equal(
		system("ip route replace 198.18.6.0/24 via " TH_UPLINK_GW4
		       " dev tpup0 table 100 && "
		       "ip rule add ipproto tcp dport 80 table 100 pref 100"),
		0);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POLICY4, 80, TCP, SYN),
			 PASS);
	v = out_from(h, up,
		     pt_flow(POLICY4, 80, CLIENT4, 1000, TCP, SYN | ACK));
	/* and an error about the flow's packet from a router on that path */
	pt_icmp_err_t(&err, ROUTER4, CLIENT4, &q, 3, 4, 1280);
	ve = pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, up, &err);
	(void)!system("ip rule del pref 100; ip route flush table 100");
	assert_int_equal(v, PASS);
	assert_int_equal(pt_drops(h, TP_DROP_REVERSE_PATH), 0);
	assert_int_equal(ve, PASS);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 0);
}

/*
 * Two uplinks to two routers with an ECMP route (BGP to the host, a
 * dual-homed node): the FIB sends each flow out through one leg by its
 * hash, the routers send the replies back through whichever leg their own
 * hash picks.  Linux's rp_filter 1 accepts a source through any nexthop
 * device of its route (fib_info_nh_uses_dev()); tp_reply_path_ok()
 * accepts only the leg bpf_fib_lookup() picks for the flow's packets, so
 * about half of the replies of such a node are dropped.
 */
static void test_fault_rpf_ecmp_reply_on_other_leg(void **state)
{
	struct th *h = *state;
	int up, v[2];

	REQUIRE_BPF();
	FAULT_UNFIXED(
		"rpf_ecmp_reply_on_other_leg: a reply through the other "
		"nexthop of an ECMP route is dropped (rp_filter 1 accepts any)");
	up = rpf_env(h);
	assert_int_equal(
		system("ip route replace 198.18.5.0/24 nexthop via " TH_UPLINK_GW4
		       " dev tpup0 nexthop dev tpup1"),
		0);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, ECMP4, 80, UDP, 0), PASS);
	v[0] = out_from(h, up, pt_flow(ECMP4, 80, CLIENT4, 1000, UDP, 0));
	v[1] = out_from(h, th_uplink_peer(),
			pt_flow(ECMP4, 80, CLIENT4, 1000, UDP, 0));
	(void)!system("ip route del 198.18.5.0/24");
	assert_int_equal(v[0], PASS);
	assert_int_equal(v[1], PASS);
}

/*
 * A hostile pod (its veth: no tp_ifaces entry, a CNI without source
 * checks, such as the bridge plugin or kindnet) forges the reply of a
 * flow to an off-node backend, which the FIB sends out through the
 * uplink: tp_reply_path_ok() checks only replies that come in through an
 * uplink, so the pod's forged reply is the flow's, resets it or injects
 * into it, and leaves reverse-translated from the VIP.
 */
static void test_fault_rpf_pod_forges_offnode_reply(void **state)
{
	struct th *h = *state;
	const char *off[1] = { BE4[0] };
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, VIP4, 80, TCP);

	REQUIRE_BPF();
	FAULT_UNFIXED(
		"rpf_pod_forges_offnode_reply: a pod's forged reply of a flow "
		"routed through an uplink passes (pods are left to the CNI)");
	rpf_env(h);
	pt_service(h, VIP4, 80, TCP, off, 1, 8080, NULL, NULL, 0, 0);
	pt_expect_dnat(h, pt_flow(CLIENT4, 1000, VIP4, 80, TCP, SYN), BE4[0],
		       8080);
	assert_int_equal(
		out_from(h, pod_ifindex,
			 pt_flow(BE4[0], 8080, CLIENT4, 1000, TCP, RST)),
		DROP);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_SENT);
}

/*
 * A first fragment that fails the reverse-path check still writes its
 * fragment record (tp_frag_track() runs before the lookup): a host on
 * the uplink that guesses the IP id of an on-node pod's fragmented reply
 * sends a first fragment from the pod's address with other ports after
 * the pod's own; the forged one is dropped, but the pod's later fragment
 * then takes the forged ports, is no packet of the flow and is dropped
 * by policy.  Blind loss of a pod's fragmented replies (DNS over UDP,
 * say) for whoever can predict its IP ids.  A first fragment that came
 * in through an uplink now writes its record only when its source is
 * routed there (tp_reply_path_ok()'s question, asked of replies and
 * others alike), so the forged one writes nothing.
 */
static void test_fault_rpf_forged_first_fragment_poisons_record(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, ONNODE4, 53, UDP);
	struct pkt_spec sp;
	struct pkt whole, f1, f2, forged;
	int up;

	REQUIRE_BPF();
	up = dns_to_onnode_pod(h);
	sp = dns_reply_1200(ONNODE4);
	pt_build(&sp, &whole);
	split_600(&whole, 99, &f1, &f2);
	sp.dport = 1001;
	pt_build(&sp, &whole);
	assert_int_equal(pkt_fragment(&whole, 0, 600, 1, 99, &forged), 0);

	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, pod_ifindex, &f1),
		PASS);
	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, up, &forged), DROP);
	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, pod_ifindex, &f2),
		PASS);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 2);
}

/* ---- attacks that held ---------------------------------------------------- */

/*
 * A zone-1 peer claims the zone-2 destination's address (overlapping
 * address space, or allowed IPs too wide) and sends the crossing flow's
 * reply tuple, with a RST, into zone 1: that tuple's replies come in
 * through zone 2 only.  A clash, and the flow keeps its state.
 */
static void test_holds_crossing_reply_from_own_zone(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, Z2PEER, 80, TCP);

	REQUIRE_BPF();
	identities(h);
	pt_deflt(h, TH_ZONE2, TP_VERDICT_DENY);
	pt_allowed_flow(h, ID_CLIENT, ID_OTHER, CLIENT4, Z2PEER);
	assert_int_equal(pt_ct_count(h),
			 2); /* the flow, its reply key in zone 2 */

	assert_int_equal(
		pt_send_in(h, Z2PEER, 80, CLIENT4, 1000, TCP, SYN | ACK), DROP);
	assert_int_equal(pt_send_in(h, Z2PEER, 80, CLIENT4, 1000, TCP, RST),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 2);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_SENT);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 0);

	/* the real reply, in zone 2 */
	assert_int_equal(
		peer2_in(h, pt_flow(Z2PEER, 80, CLIENT4, 1000, TCP, SYN | ACK)),
		PASS);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
}

/*
 * Overlapping tailnets: zone 2 has a peer with the zone-1 client's
 * address.  Its packets on the same 5-tuple are a flow of their own
 * (zone is in the key): they neither answer nor reset the zone-1 flow.
 */
static void test_holds_overlapping_zones(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k1 = pt_ct_key(CLIENT4, 1000, POD, 80, TCP), k2 = k1;

	REQUIRE_BPF();
	identities(h);
	k2.zone = TH_ZONE2;
	pt_handshake(h, CLIENT4, 1000, POD, 80);
	assert_int_equal(pt_ct_must(h, &k1).state, TP_CT_ESTABLISHED);

	/* zone 2's 100.64.0.1 resets "its" connection, then opens one */
	assert_int_equal(peer2_in(h, pt_flow(CLIENT4, 1000, POD, 80, TCP, RST)),
			 PASS);
	assert_int_equal(pt_ct_must(h, &k1).state, TP_CT_ESTABLISHED);
	assert_int_equal(peer2_in(h, pt_flow(CLIENT4, 1000, POD, 80, TCP, SYN)),
			 PASS);
	assert_int_equal(pt_ct_must(h, &k2).state, TP_CT_SYN_SENT);
	/* the pod's reply leaving through zone 1 is zone 1's flow's */
	assert_int_equal(pt_send_out(h, POD, 80, CLIENT4, 1000, TCP, ACK),
			 PASS);
	assert_int_equal(pt_ct_must(h, &k1).packets[TP_CT_DIR_REPLY], 2);
	assert_int_equal(pt_ct_must(h, &k2).packets[TP_CT_DIR_REPLY], 0);
	assert_int_equal(pt_ct_must(h, &k1).state, TP_CT_ESTABLISHED);
}

/*
 * Simultaneous open: the pod and the client send SYNs on the same
 * connection from both ends.  One entry, the second SYN is the first
 * flow's reply, whichever side started.
 */
static void test_holds_simultaneous_open(void **state)
{
	struct th *h = *state;
	struct tp_ct_key kin = pt_ct_key(CLIENT4, 1000, POD, 80, TCP);
	struct tp_ct_key kout = pt_ct_key(POD, 2000, CLIENT4, 3000, TCP);

	REQUIRE_BPF();
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POD, 80, TCP, SYN), PASS);
	assert_int_equal(pt_send_out(h, POD, 80, CLIENT4, 1000, TCP, SYN),
			 PASS);
	assert_int_equal(pt_ct_count(h), 1);
	assert_int_equal(pt_ct_must(h, &kin).packets[TP_CT_DIR_REPLY], 1);

	assert_int_equal(pt_send_out(h, POD, 2000, CLIENT4, 3000, TCP, SYN),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 3000, POD, 2000, TCP, SYN),
			 PASS);
	assert_int_equal(pt_ct_count(h), 2);
	assert_int_equal(pt_ct_must(h, &kout).packets[TP_CT_DIR_REPLY], 1);
	assert_true(pt_ct_must(h, &kout).flags & TP_CT_F_EGRESS);
}

/*
 * A DNAT flow's reply-key entry evicted from the LRU (deleted here): the
 * backend's reply finds no flow and is decided as a new flow of its own
 * (denied: pod -> client is not allowed), never leaking the backend's
 * address.  The client's next packet, a second later, writes the reply
 * key again, and the replies are translated again.
 */
static void test_holds_dnat_reply_key_evicted(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, VIP4, 80, TCP);
	struct tp_ct_key rk = pt_ct_key(BE4[0], 8080, CLIENT4, 1000, TCP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	/* a backend not in tp_be_frontends: the flow has a reply key */
	web_dnat_flow_as(h, 8080, true);
	assert_int_equal(pt_ct_get(h, &rk, &e), 0);
	assert_int_equal(bpf_map_delete_elem(h->maps.ct, &rk), 0);

	assert_int_equal(
		pt_send_out(h, BE4[0], 8080, CLIENT4, 1000, TCP, SYN | ACK),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);
	assert_int_equal(pt_ct_get(h, &rk, &e), -ENOENT);
	/* the client retransmits in the same second: not checked again yet */
	pt_expect_dnat(h, pt_flow(CLIENT4, 1000, VIP4, 80, TCP, SYN), BE4[0],
		       8080);
	assert_int_equal(pt_ct_get(h, &rk, &e), -ENOENT);
	th_set_clock(h, T0 + SEC_NS);
	pt_expect_dnat(h, pt_flow(CLIENT4, 1000, VIP4, 80, TCP, SYN), BE4[0],
		       8080);
	assert_true(pt_ct_must(h, &rk).flags & TP_CT_F_REPLY_KEY);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, 1000, TCP, SYN | ACK),
			 VIP4, 80);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
}

/*
 * Expiry in whole seconds: an entry is live through the second before
 * expires_s and absent from its first nanosecond on.  A reply at the edge
 * is the flow's or a new flow decided by policy (denied), never both.
 */
static void test_holds_expiry_second_edge(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, POD, 53, UDP);
	__u32 exp;

	REQUIRE_BPF();
	identities(h);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, 53, 53, TP_VERDICT_ALLOW);
	th_set_clock(h, T0 + SEC_NS / 2);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POD, 53, UDP, 0), PASS);
	exp = pt_ct_must(h, &k).expires_s;
	assert_int_equal(exp, TP_CT_SEC(T0) + TP_CT_TIMEOUT_UDP);

	th_set_clock(h, (__u64)exp * SEC_NS - 1);
	assert_int_equal(pt_send_out(h, POD, 53, CLIENT4, 1000, UDP, 0), PASS);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 1);
	exp = pt_ct_must(h, &k).expires_s;
	th_set_clock(h, (__u64)exp * SEC_NS);
	assert_int_equal(pt_send_out(h, POD, 53, CLIENT4, 1000, UDP, 0), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 1);
}

/*
 * A pod (that may not reach the client) tries the reversed tuple of a
 * live DNAT flow's reply key, and the reply key's tuple from the wrong
 * side (leaving to the tailnet forwarded from zone 2): neither is the
 * DNAT flow's, and the flow's replies are still translated.
 */
static void test_holds_dnat_reply_key_from_wrong_side(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, VIP4, 80, TCP);
	struct pkt_spec rst = pt_flow(BE4[0], 8080, CLIENT4, 1000, TCP, RST);
	struct pkt in;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE2, TP_VERDICT_DENY);
	web_dnat_flow(h, 8080);

	/* the reply key's tuple from a zone-2 peer, forwarded into zone 1 */
	pt_build(&rst, &in);
	assert_int_equal(peer2_in(h, rst), DROP);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex,
				    h->l3_ifindex2, &in),
			 DROP);
	/* the reply key's tuple from the tailnet: replies come from the backend */
	assert_int_equal(pt_send_in(h, BE4[0], 8080, CLIENT4, 1000, TCP, RST),
			 DROP);
	/* the VIP's tuple reversed, from a pod */
	assert_int_equal(pod_out(h, pt_flow(VIP4, 80, CLIENT4, 1000, TCP, RST)),
			 DROP);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_SENT);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, 1000, TCP, SYN | ACK),
			 VIP4, 80);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
}

/*
 * v4-mapped and v4-compatible IPv6 addresses carry a v4 flow's tuple
 * (keys hold v4 addresses in the same 16 bytes): a v6 packet with them,
 * from the tailnet or a pod, in either direction of a live v4 flow, is
 * dropped before any lookup, and the v4 flow is untouched.
 */
static void test_holds_v4_mapped_reversed_tuple(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, POD, 80, TCP);
	static const char *const m[][2] = {
		{ "::ffff:198.18.1.1", "::ffff:100.64.0.1" },
		{ "::198.18.1.1", "::100.64.0.1" },
	};
	size_t i;

	REQUIRE_BPF();
	identities(h);
	pt_allowed_flow(h, ID_CLIENT, ID_WEB, CLIENT4, POD);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pod_out(h, pt_flow(m[i][0], 80, m[i][1], 1000,
						    TCP, RST)),
				 DROP);
		assert_int_equal(peer_in(h, pt_flow(m[i][0], 80, m[i][1], 1000,
						    TCP, RST)),
				 DROP);
		assert_int_equal(peer_in(h, pt_flow(m[i][1], 1000, m[i][0], 80,
						    TCP, RST)),
				 DROP);
	}
	assert_int_equal(pt_drops(h, TP_DROP_V4_MAPPED), 6);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_SENT);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 0);
}

/*
 * ICMP errors about a flow a pod started (one entry, under the pod's
 * tuple; its replies found by reversing), quoting either direction.  The
 * client's error about the pod's packet, and this host's about the
 * client's reply, are related; the client quoting its own reply, or the
 * pod's packet sent to another client, is not (decided on its own:
 * denied).
 */
static void test_holds_icmp_errors_egress_flow(void **state)
{
	struct th *h = *state;
	struct pkt_spec out = pt_flow(POD, 5000, CLIENT4, 80, TCP, SYN);
	struct pkt_spec back = pt_flow(CLIENT4, 80, POD, 5000, TCP, SYN | ACK);
	struct pkt err;

	REQUIRE_BPF();
	identities(h);
	pt_ident(h, 0, "198.18.0.1/32", TP_ID_HOST);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_WEB, ID_CLIENT, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	assert_int_equal(pod_out(h, out), PASS);
	assert_int_equal(peer_in(h, back), PASS);

	pt_icmp_err_t(&err, CLIENT4, POD, &out, 3, 3, 0);
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err),
			 PASS);
	pt_icmp_err_t(&err, "198.18.0.1", CLIENT4, &back, 3, 4, 1280);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, 0, &err),
			 PASS);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 0);

	/* the client's error about its own reply: it never got that packet */
	pt_icmp_err_t(&err, CLIENT4, POD, &back, 3, 3, 0);
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err),
			 DROP);
	/* another client's error about the pod's packet to the first */
	pt_icmp_err_t(&err, "100.64.0.2", POD, &out, 3, 3, 0);
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err),
			 DROP);
	/* an error toward the client about the pod's own packet */
	pt_icmp_err_t(&err, "198.18.0.1", CLIENT4, &out, 3, 4, 1280);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, 0, &err),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 3);
}

/*
 * ICMP echo ids against the key convention: a client's echo reply whose
 * id matches no ping of the pod's, or answers the pod's ping to another
 * client, starts nothing and is decided on its own; the real reply is
 * the ping's.
 */
static void test_holds_echo_reply_games(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = { 0 };

	REQUIRE_BPF();
	identities(h);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_WEB, ID_CLIENT, 0, ICMP, 0, 0, TP_VERDICT_ALLOW);
	assert_int_equal(pod_out(h, echo(POD, CLIENT4, 8, 4242)), PASS);
	assert_int_equal(peer_in(h, echo(CLIENT4, POD, 0, 4243)), DROP);
	assert_int_equal(peer_in(h, echo("100.64.0.2", POD, 0, 4242)), DROP);
	assert_int_equal(peer_in(h, echo(CLIENT4, POD, 8, 4242)), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 3);
	assert_int_equal(pt_ct_count(h), 1);
	assert_int_equal(peer_in(h, echo(CLIENT4, POD, 0, 4242)), PASS);
	k = pt_ct_key(POD, 4242, CLIENT4, 0, ICMP);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_REPLIED);
}

/*
 * Policy revisions reach replies found both ways: a DNAT flow's (by its
 * reply key) and a pod's flow's (by reversing the client's tuple), and
 * ICMP errors about them, once the rule that allowed each flow is gone;
 * a rule written back brings them back.
 */
static void test_holds_revocation_reaches_reversed_replies(void **state)
{
	struct th *h = *state;
	struct tp_rule in_rule =
		pt_rule_spec(ID_CLIENT, ID_WEB, 0, TCP, 8080, 8080, 0);
	struct tp_rule out_rule =
		pt_rule_spec(ID_WEB, ID_CLIENT, 0, TCP, 443, 443, 0);
	struct pkt_spec out = pt_flow(POD, 5000, CLIENT4, 443, TCP, SYN);
	struct pkt err;

	REQUIRE_BPF();
	identities(h);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 8080, 8080, TP_VERDICT_ALLOW);
	pt_rule(h, ID_WEB, ID_CLIENT, 0, TCP, 443, 443, TP_VERDICT_ALLOW);
	pt_web_service(h);
	pt_expect_dnat(h, pt_flow(CLIENT4, 1000, VIP4, 80, TCP, SYN), BE4[0],
		       8080);
	assert_int_equal(pod_out(h, out), PASS);

	assert_int_equal(tp_policy_rule_del(&h->maps, &in_rule, TP_OWNER_TPCTL),
			 0);
	assert_int_equal(
		tp_policy_rule_del(&h->maps, &out_rule, TP_OWNER_TPCTL), 0);
	assert_int_equal(
		pt_send_out(h, BE4[0], 8080, CLIENT4, 1000, TCP, SYN | ACK),
		DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 443, POD, 5000, TCP, SYN | ACK),
			 DROP);
	pt_icmp_err_t(&err, CLIENT4, POD, &out, 3, 3, 0);
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 3);

	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 8080, 8080, TP_VERDICT_ALLOW);
	pt_rule(h, ID_WEB, ID_CLIENT, 0, TCP, 443, 443, TP_VERDICT_ALLOW);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, 1000, TCP, SYN | ACK),
			 VIP4, 80);
	assert_int_equal(pt_send_in(h, CLIENT4, 443, POD, 5000, TCP, SYN | ACK),
			 PASS);
}

/*
 * The opposite order of a DNAT flow and a pod's flow on its reply tuple:
 * the backend pod first opens backend:8080 -> client:1000, then the
 * client opens client:1000 -> VIP, translated to that backend.  The
 * client's flow takes the tuple over (the same endpoints: the tailnet
 * side's view wins, bpf/lib/ct.h), its replies are translated; another
 * client's identical attempt touches nothing of the first's.  In both
 * layouts: the pod's entry becomes the reply key (@keyed), or goes (an
 * indexed backend: the DNAT flow is one entry).
 */
static void dnat_after_pod_flow_on_reply_tuple(void **state, bool keyed)
{
	struct th *h = *state;
	struct tp_ct_key e_key = pt_ct_key(BE4[0], 8080, CLIENT4, 1000, TCP);
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, VIP4, 80, TCP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_web_service(h);
	if (keyed)
		pt_unindex(h);
	assert_int_equal(
		pod_out(h, pt_flow(BE4[0], 8080, "100.64.0.2", 1000, TCP, SYN)),
		PASS);
	assert_int_equal(
		pod_out(h, pt_flow(BE4[0], 8080, CLIENT4, 1000, TCP, SYN)),
		PASS);
	assert_true(pt_ct_must(h, &e_key).flags & TP_CT_F_EGRESS);
	assert_int_equal(pt_ct_count(h), 2);

	pt_expect_dnat(h, pt_flow(CLIENT4, 1000, VIP4, 80, TCP, SYN), BE4[0],
		       8080);
	if (keyed)
		assert_true(pt_ct_must(h, &e_key).flags & TP_CT_F_REPLY_KEY);
	else
		assert_int_equal(pt_ct_get(h, &e_key, &e), -ENOENT);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, 1000, TCP, SYN | ACK),
			 VIP4, 80);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
	/* the pod's flow to the other client is untouched */
	e_key = pt_ct_key(BE4[0], 8080, "100.64.0.2", 1000, TCP);
	assert_int_equal(pt_ct_must(h, &e_key).state, TP_CT_SYN_SENT);
	assert_int_equal(pt_ct_count(h), keyed ? 3 : 2);
}

static void test_holds_dnat_after_pod_flow_on_reply_tuple(void **state)
{
	dnat_after_pod_flow_on_reply_tuple(state, true);
}

static void test_holds_dnat_after_pod_flow_on_reply_tuple_indexed(void **state)
{
	dnat_after_pod_flow_on_reply_tuple(state, false);
}

#define SMALL_CT 4096

static int setup_small_ct(void **state)
{
	const struct th_knobs k = { .ct_size = SMALL_CT };

	return pt_setup_knobs(state, &k);
}

/*
 * Table exhaustion: an allowed peer opens twice as many TCP flows as the
 * (small) table holds, evicting a DNAT flow's entries, either or both.
 * Whatever went, the backend's reply never leaves untranslated (it is
 * the flow's, reverse-translated, or a new pod -> client flow, denied),
 * and the client's next packet a second later brings the flow back.
 */
static void test_holds_exhaustion_evicts_dnat_entries(void **state)
{
	struct th *h = *state;
	struct pkt_spec reply = pt_flow(BE4[0], 8080, CLIENT4, 1000, TCP, ACK);
	struct pkt_spec want_sp = pt_flow(VIP4, 80, CLIENT4, 1000, TCP, ACK);
	static __u8 out[PKT_MAX];
	struct pkt in, got, want;
	unsigned int i;
	int verdict;

	REQUIRE_BPF();
	web_dnat_flow(h, 80);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, 1000, TCP, SYN | ACK),
			 VIP4, 80);

	pt_build(FLOWP("100.64.0.2", 1, POD, 80, TCP, SYN), &in);
	for (i = 0; i < 2 * SMALL_CT; i++) {
		in.data[20] = (2000 + i) >> 8;
		in.data[21] = (2000 + i);
		assert_int_equal(th_run(h, TH_FROM_TAILNET, h->l3_ifindex,
					in.data, in.len, out, &(size_t){ 0 },
					&verdict),
				 0);
		assert_int_equal(verdict, PASS);
	}
	assert_true(pt_ct_count(h) <= SMALL_CT);

	pt_build(&reply, &in);
	pt_build(&want_sp, &want);
	pt_run(h, TH_TO_TAILNET, &in, &got, &verdict);
	printf("after the flood the reply was %s\n",
	       verdict == DROP ? "dropped" : "reverse-translated");
	if (verdict == PASS) {
		assert_int_equal(got.len, want.len);
		assert_memory_equal(got.data, want.data, want.len);
	} else {
		assert_int_equal(verdict, DROP);
	}
	th_set_clock(h, T0 + SEC_NS);
	pt_expect_dnat(h, pt_flow(CLIENT4, 1000, VIP4, 80, TCP, ACK), BE4[0],
		       8080);
	pt_expect_revnat(h, reply, VIP4, 80);
}

/* ---- a new flow's skipped lookups ----------------------------------------- */

/*
 * A new flow from the tailnet no longer looks again at its own tuple nor
 * asks again whose reply it is when its flow lookup found nothing there
 * (p->ct_free), and skips the retire and delete under its reply tuple
 * when nothing sat there.  Each row leaves what a hostile peer, an old
 * flow or an eviction can leave (an expired or reset flow on the tuple,
 * an orphan reply key under it or under the reply tuple, a pod's or an
 * untranslated flow on the reply tuple, a second frontend, a crossing,
 * a fragment, the scratch of the packet before), then sends its packets:
 * the verdicts, the clash drops and every conntrack entry after them
 * (tuple, flags, state, translation, counts, expiry) must be those the
 * datapath left before that change: each digest was recorded by this
 * file built against that datapath (main at 70f2006), and a failure
 * prints the verdicts and entries it covers.
 */
#define NF_VIP2	 "198.19.0.11"	      /* a second service of the web backend */
#define NF_LATER (T0 + 3600 * SEC_NS) /* every flow of T0 expired */

struct nf_log {
	char text[8192];
	size_t len;
};

static void nf_note(struct nf_log *log, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void nf_note(struct nf_log *log, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(log->text + log->len, sizeof(log->text) - log->len, fmt,
		      ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(log->text) - log->len);
	log->len += (size_t)n;
}

static void nf_hex(char *out, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/*
 * One conntrack entry as a line: what the comparison covers (not the
 * service and backend ids, which the harness draws at random).
 */
static void nf_entry_line(const struct tp_ct_key *k,
			  const struct tp_ct_entry *e, char *line, size_t size)
{
	char s[33], d[33], nat[33];

	nf_hex(s, &k->saddr, sizeof(k->saddr));
	nf_hex(d, &k->daddr, sizeof(k->daddr));
	nf_hex(nat, &e->nat_addr, sizeof(e->nat_addr));
	snprintf(line, size,
		 "%s:%u>%s:%u/%u z%u f%x s%u %s:%u pk%u/%u "
		 "b%llu/%llu x%u c%u v%u oz%u sp%u\n",
		 s, ntohs(k->sport), d, ntohs(k->dport), k->proto, k->zone,
		 e->flags, e->state, nat, ntohs(e->nat_port), e->packets[0],
		 e->packets[1], (unsigned long long)e->bytes[0],
		 (unsigned long long)e->bytes[1], e->expires_s, e->created_s,
		 e->verdict, e->out_zone, ntohs(e->snat_port));
}

static int nf_line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry of both tables, sorted, appended to @log. */
static void nf_note_table(struct nf_log *log, struct th *h)
{
	static char lines[64][256];
	char *sorted[64];
	struct tp_ct_key k, next;
	struct tp_ct_entry e;
	int fds[2] = { h->maps.ct, h->maps.ct_any };
	size_t n = 0, i;
	void *prev;

	for (i = 0; i < 2; i++) {
		for (prev = NULL; !bpf_map_get_next_key(fds[i], prev, &next);
		     prev = &k) {
			k = next;
			assert_int_equal(bpf_map_lookup_elem(fds[i], &k, &e),
					 0);
			assert_true(n < 64);
			nf_entry_line(&k, &e, lines[n], sizeof(lines[n]));
			sorted[n] = lines[n];
			n++;
		}
	}
	qsort(sorted, n, sizeof(sorted[0]), nf_line_cmp);
	for (i = 0; i < n; i++)
		nf_note(log, "%s", sorted[i]);
}

static __u64 nf_digest(const struct nf_log *log)
{
	__u64 h = 14695981039346656037ULL; /* FNV-1a */
	size_t i;

	for (i = 0; i < log->len; i++)
		h = (h ^ (unsigned char)log->text[i]) * 1099511628211ULL;
	return h;
}

static void nf_in(struct th *h, struct nf_log *log, const char *src,
		  __u16 sport, const char *dst, __u16 dport, __u8 proto,
		  __u8 flags)
{
	nf_note(log, "in %s:%u>%s:%u/%u %x: %d\n", src, sport, dst, dport,
		proto, flags,
		pt_send_in(h, src, sport, dst, dport, proto, flags));
}

static void nf_pod(struct th *h, struct nf_log *log, const char *src,
		   __u16 sport, const char *dst, __u16 dport, __u8 flags)
{
	nf_note(log, "pod %s:%u>%s:%u %x: %d\n", src, sport, dst, dport, flags,
		pod_out(h, pt_flow(src, sport, dst, dport, TCP, flags)));
}

/* The web client's SYN, then its backend's answer. */
static void nf_web_open(struct th *h, struct nf_log *log)
{
	nf_in(h, log, CLIENT4, 40000, VIP4, 80, TCP, SYN);
	nf_pod(h, log, BE4[0], 8080, CLIENT4, 40000, SYN | ACK);
}

/* A reply-key entry under @at naming the flow to @vip:80 of CLIENT4. */
static void nf_orphan_key(struct th *h, struct tp_ct_key at, const char *vip)
{
	struct tp_ct_entry rk = { .flags = TP_CT_F_REPLY_KEY,
				  .orig_daddr = pt_addr(vip),
				  .orig_dport = htons(80),
				  .orig_zone = at.zone };

	assert_int_equal(bpf_map_update_elem(h->maps.ct, &at, &rk, BPF_NOEXIST),
			 0);
}

static void nf_web(struct th *h, bool keyed)
{
	pt_web_service(h);
	if (keyed)
		pt_unindex(h);
}

/*
 * The web service moved to the second backend; the flow reopened on its
 * tuple goes there (the first backend's reply key must go) and the
 * second backend answers.
 */
static void nf_reopen_moved(struct th *h, struct nf_log *log, bool keyed)
{
	pt_service(h, VIP4, 80, TCP, &BE4[1], 1, 8080, NULL, NULL, 0, 0);
	if (keyed)
		pt_unindex(h);
	nf_in(h, log, CLIENT4, 40000, VIP4, 80, TCP, SYN);
	nf_pod(h, log, BE4[1], 8080, CLIENT4, 40000, SYN | ACK);
	nf_note_table(log,
		      h); /* before the old backend's packet takes the tuple */
	nf_pod(h, log, BE4[0], 8080, CLIENT4, 40000, ACK);
}

/* A flow expired on the tuple a new SYN opens again (its keys retired). */
static void nf_expired_own(struct th *h, struct nf_log *log, bool keyed)
{
	nf_web(h, keyed);
	nf_web_open(h, log);
	th_set_clock(h, NF_LATER);
	nf_reopen_moved(h, log, keyed);
}

/* A reset flow reopened by a SYN on its tuple. */
static void nf_reset_own(struct th *h, struct nf_log *log, bool keyed)
{
	nf_web(h, keyed);
	nf_web_open(h, log);
	nf_in(h, log, CLIENT4, 40000, VIP4, 80, TCP, RST);
	nf_reopen_moved(h, log, keyed);
}

/* An orphan reply key (its flow gone) under the new flow's reply tuple. */
static void nf_orphan_on_reply(struct th *h, struct nf_log *log, bool keyed)
{
	nf_web(h, keyed);
	nf_orphan_key(h, pt_ct_key(BE4[0], 8080, CLIENT4, 40000, TCP), NF_VIP2);
	nf_web_open(h, log);
}

/*
 * A stale reply key under the new flow's reply tuple: it names the
 * client's live flow to the second service, which went to another
 * backend and does not point back.
 */
static void nf_stale_on_reply(struct th *h, struct nf_log *log, bool keyed)
{
	pt_service(h, NF_VIP2, 80, TCP, &BE4[1], 1, 8080, NULL, NULL, 0, 0);
	nf_web(h, keyed);
	nf_in(h, log, CLIENT4, 40000, NF_VIP2, 80, TCP, SYN);
	nf_orphan_key(h, pt_ct_key(BE4[0], 8080, CLIENT4, 40000, TCP), NF_VIP2);
	nf_web_open(h, log);
	nf_pod(h, log, BE4[1], 8080, CLIENT4, 40000, SYN | ACK);
}

/* An orphan reply key under the new flow's own tuple. */
static void nf_orphan_on_own(struct th *h, struct nf_log *log, bool keyed)
{
	nf_web(h, keyed);
	nf_orphan_key(h, pt_ct_key(CLIENT4, 40000, VIP4, 80, TCP), NF_VIP2);
	nf_web_open(h, log);
}

/* A pod's flow on the reply tuple, live (taken over) or @expired. */
static void nf_pod_on_reply(struct th *h, struct nf_log *log, bool keyed,
			    bool expired)
{
	nf_web(h, keyed);
	nf_pod(h, log, BE4[0], 8080, CLIENT4, 40000, SYN);
	if (expired)
		th_set_clock(h, NF_LATER);
	nf_web_open(h, log);
}

/*
 * The client's untranslated flow to the backend and its DNAT flow to the
 * VIP share a reply tuple: in both orders, with the first @expired.
 */
static void nf_untranslated(struct th *h, struct nf_log *log, bool keyed,
			    bool dnat_first, bool expired)
{
	nf_web(h, keyed);
	if (dnat_first)
		nf_in(h, log, CLIENT4, 40000, VIP4, 80, TCP, SYN);
	else
		nf_in(h, log, CLIENT4, 40000, BE4[0], 8080, TCP, SYN);
	if (expired)
		th_set_clock(h, NF_LATER);
	if (dnat_first)
		nf_in(h, log, CLIENT4, 40000, BE4[0], 8080, TCP, SYN);
	else
		nf_in(h, log, CLIENT4, 40000, VIP4, 80, TCP, SYN);
	nf_pod(h, log, BE4[0], 8080, CLIENT4, 40000, SYN | ACK);
}

/* Two frontends of one backend from one client port, the first @expired. */
static void nf_two_frontends(struct th *h, struct nf_log *log, bool keyed,
			     bool expired)
{
	pt_service(h, NF_VIP2, 80, TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	nf_web(h, keyed);
	nf_in(h, log, CLIENT4, 40000, VIP4, 80, TCP, SYN);
	if (expired)
		th_set_clock(h, NF_LATER);
	nf_in(h, log, CLIENT4, 40000, NF_VIP2, 80, TCP, SYN);
	nf_pod(h, log, BE4[0], 8080, CLIENT4, 40000, SYN | ACK);
	nf_in(h, log, CLIENT4, 40000, VIP4, 80, TCP, ACK);
}

/*
 * The scratch a new flow from the tailnet leaves (its tuple free) is not
 * the next packet's: a pod's SYN on a tuple whose expired DNAT flow still
 * has its reply key retires that key.
 */
static void nf_scratch_then_pod(struct th *h, struct nf_log *log)
{
	struct tp_ct_key k = pt_ct_key(BE4[1], 7000, CLIENT4, 41000, TCP);
	struct tp_ct_entry e = { .nat_addr = pt_addr(BE4[2]),
				 .nat_port = htons(9090),
				 .state = TP_CT_ESTABLISHED,
				 .flags = TP_CT_F_DNAT,
				 .expires_s = TP_CT_SEC(T0) + 1,
				 .created_s = TP_CT_SEC(T0),
				 .verdict = TP_VERDICT_ALLOW };

	pt_web_service(h);
	pt_ct_put_flow(h->maps.ct, &k, &e, NULL, BPF_NOEXIST);
	th_set_clock(h, T0 + 2 * SEC_NS);
	nf_in(h, log, CLIENT4, 40000, VIP4, 80, TCP, SYN);
	nf_pod(h, log, BE4[1], 7000, CLIENT4, 41000, SYN);
}

/* A first fragment opens a UDP flow, a later one follows it. */
static void nf_fragments(struct th *h, struct nf_log *log)
{
	static char payload[1200];
	struct pkt_spec sp = pt_flow(CLIENT4, 1000, VIP4, 53, UDP, 0);
	struct pkt whole, f1, f2;

	pt_service(h, VIP4, 53, UDP, BE4, 1, 5353, NULL, NULL, 0, 0);
	sp.payload = payload;
	sp.payload_len = sizeof(payload);
	pt_build(&sp, &whole);
	split_600(&whole, 77, &f1, &f2);
	nf_note(log, "f1 %d\n",
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &f1));
	nf_note(log, "f2 %d\n",
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &f2));
	th_set_clock(h, NF_LATER);
	split_600(&whole, 78, &f1, &f2);
	nf_note(log, "f2 alone %d\n",
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &f2));
	nf_note(log, "f1 again %d\n",
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &f1));
}

/* A crossing into zone 2, expired, opened again; zone 2's own twin. */
static void nf_crossing(struct th *h, struct nf_log *log)
{
	identities(h);
	pt_deflt(h, TH_ZONE2, TP_VERDICT_DENY);
	pt_allowed_flow(h, ID_CLIENT, ID_OTHER, CLIENT4, Z2PEER);
	th_set_clock(h, NF_LATER);
	nf_in(h, log, CLIENT4, 1000, Z2PEER, 80, TCP, SYN);
	nf_note(log, "z2 %d\n",
		peer2_in(h,
			 pt_flow(Z2PEER, 80, CLIENT4, 1000, TCP, SYN | ACK)));
	nf_note(log, "z2 twin %d\n",
		peer2_in(h, pt_flow(CLIENT4, 1000, Z2PEER, 80, TCP, SYN)));
}

/* ICMP echo: a ping to the VIP and one to a pod, the pod answering. */
static void nf_echo(struct th *h, struct nf_log *log)
{
	pt_web_service(h);
	nf_note(log, "echo vip %d\n",
		pt_send_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0,
			     echo(CLIENT4, VIP4, 8, 7)));
	nf_note(log, "echo pod %d\n",
		pt_send_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0,
			     echo(CLIENT4, BE4[0], 8, 7)));
	nf_note(log, "echo reply %d\n",
		pod_out(h, echo(BE4[0], CLIENT4, 0, 7)));
	th_set_clock(h, NF_LATER);
	nf_note(log, "echo again %d\n",
		pt_send_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0,
			     echo(CLIENT4, BE4[0], 8, 7)));
}

enum nf_kind {
	NF_EXPIRED_OWN,
	NF_RESET_OWN,
	NF_ORPHAN_ON_REPLY,
	NF_ORPHAN_ON_OWN,
	NF_STALE_ON_REPLY,
	NF_POD_ON_REPLY,
	NF_UNTRANSLATED,
	NF_TWO_FRONTENDS,
	NF_SCRATCH,
	NF_FRAGMENTS,
	NF_CROSSING,
	NF_ECHO,
};

static const struct nf_case {
	const char *name;
	enum nf_kind kind;
	bool keyed;   /* the backend unindexed: a reply-key entry per flow */
	bool first;   /* NF_UNTRANSLATED: the DNAT flow comes first */
	bool expired; /* the first flow expires before the second */
	__u64 digest; /* the verdicts and table the datapath left before */
} nf_cases[] = {
	{ .name = "test_holds_nf_expired_own_indexed",
	  .kind = NF_EXPIRED_OWN,
	  .digest = 0xdcf8c86086e07e45 },
	{ .name = "test_holds_nf_expired_own_keyed",
	  .kind = NF_EXPIRED_OWN,
	  .keyed = true,
	  .digest = 0x6d3898dd013175eb },
	{ .name = "test_holds_nf_reset_own_indexed",
	  .kind = NF_RESET_OWN,
	  .digest = 0x4efa12cb0e330a2e },
	{ .name = "test_holds_nf_reset_own_keyed",
	  .kind = NF_RESET_OWN,
	  .keyed = true,
	  .digest = 0x7e5492a6c0c2fc00 },
	{ .name = "test_holds_nf_orphan_on_reply_indexed",
	  .kind = NF_ORPHAN_ON_REPLY,
	  .digest = 0x0ed433be5ad1d6ff },
	{ .name = "test_holds_nf_orphan_on_reply_keyed",
	  .kind = NF_ORPHAN_ON_REPLY,
	  .keyed = true,
	  .digest = 0x4b9b3f2daa9e9d4b },
	{ .name = "test_holds_nf_orphan_on_own_indexed",
	  .kind = NF_ORPHAN_ON_OWN,
	  .digest = 0x0ed433be5ad1d6ff },
	{ .name = "test_holds_nf_orphan_on_own_keyed",
	  .kind = NF_ORPHAN_ON_OWN,
	  .keyed = true,
	  .digest = 0x4b9b3f2daa9e9d4b },
	{ .name = "test_holds_nf_stale_on_reply_indexed",
	  .kind = NF_STALE_ON_REPLY,
	  .digest = 0x1a2eb4dfaca71de8 },
	{ .name = "test_holds_nf_stale_on_reply_keyed",
	  .kind = NF_STALE_ON_REPLY,
	  .keyed = true,
	  .digest = 0x3af1da6f109fce78 },
	{ .name = "test_holds_nf_pod_on_reply_indexed",
	  .kind = NF_POD_ON_REPLY,
	  .digest = 0x1aa889be8477540d },
	{ .name = "test_holds_nf_pod_on_reply_keyed",
	  .kind = NF_POD_ON_REPLY,
	  .keyed = true,
	  .digest = 0x05df2e19fd0d9a8d },
	{ .name = "test_holds_nf_pod_expired_on_reply_indexed",
	  .kind = NF_POD_ON_REPLY,
	  .expired = true,
	  .digest = 0x350f111e166f14ed },
	{ .name = "test_holds_nf_pod_expired_on_reply_keyed",
	  .kind = NF_POD_ON_REPLY,
	  .keyed = true,
	  .expired = true,
	  .digest = 0x885f4f54bdab9c3d },
	{ .name = "test_holds_nf_direct_then_dnat_indexed",
	  .kind = NF_UNTRANSLATED,
	  .digest = 0x09b1073c654b2845 },
	{ .name = "test_holds_nf_direct_then_dnat_keyed",
	  .kind = NF_UNTRANSLATED,
	  .keyed = true,
	  .digest = 0x09b1073c654b2845 },
	{ .name = "test_holds_nf_dnat_then_direct_indexed",
	  .kind = NF_UNTRANSLATED,
	  .first = true,
	  .digest = 0x8651592d556b6a83 },
	{ .name = "test_holds_nf_dnat_then_direct_keyed",
	  .kind = NF_UNTRANSLATED,
	  .keyed = true,
	  .first = true,
	  .digest = 0x7f9b9fca9926f477 },
	{ .name = "test_holds_nf_direct_expired_then_dnat",
	  .kind = NF_UNTRANSLATED,
	  .expired = true,
	  .digest = 0x0d8655bd9094dce4 },
	{ .name = "test_holds_nf_dnat_expired_then_direct",
	  .kind = NF_UNTRANSLATED,
	  .first = true,
	  .expired = true,
	  .digest = 0x0d9b8932f5c98826 },
	{ .name = "test_holds_nf_two_frontends_indexed",
	  .kind = NF_TWO_FRONTENDS,
	  .digest = 0x452dba9b0d426129 },
	{ .name = "test_holds_nf_two_frontends_keyed",
	  .kind = NF_TWO_FRONTENDS,
	  .keyed = true,
	  .digest = 0x4f1e38136c3d50af },
	{ .name = "test_holds_nf_two_frontends_expired",
	  .kind = NF_TWO_FRONTENDS,
	  .expired = true,
	  .digest = 0x687a0f807c24c59b },
	{ .name = "test_holds_nf_scratch_then_pod",
	  .kind = NF_SCRATCH,
	  .digest = 0x1b085af6d1d0c5cc },
	{ .name = "test_holds_nf_fragments",
	  .kind = NF_FRAGMENTS,
	  .digest = 0xde5884412ad6454b },
	{ .name = "test_holds_nf_crossing",
	  .kind = NF_CROSSING,
	  .digest = 0x37b94e2a9e2adbdc },
	{ .name = "test_holds_nf_echo",
	  .kind = NF_ECHO,
	  .digest = 0xc16e79a028348858 },
};
_Static_assert(sizeof(nf_cases) / sizeof(nf_cases[0]) == 27,
	       "main() lists each row of nf_cases");

static void nf_run(struct th *h, const struct nf_case *c, struct nf_log *log)
{
	switch (c->kind) {
	case NF_EXPIRED_OWN:
		return nf_expired_own(h, log, c->keyed);
	case NF_RESET_OWN:
		return nf_reset_own(h, log, c->keyed);
	case NF_ORPHAN_ON_REPLY:
		return nf_orphan_on_reply(h, log, c->keyed);
	case NF_ORPHAN_ON_OWN:
		return nf_orphan_on_own(h, log, c->keyed);
	case NF_STALE_ON_REPLY:
		return nf_stale_on_reply(h, log, c->keyed);
	case NF_POD_ON_REPLY:
		return nf_pod_on_reply(h, log, c->keyed, c->expired);
	case NF_UNTRANSLATED:
		return nf_untranslated(h, log, c->keyed, c->first, c->expired);
	case NF_TWO_FRONTENDS:
		return nf_two_frontends(h, log, c->keyed, c->expired);
	case NF_SCRATCH:
		return nf_scratch_then_pod(h, log);
	case NF_FRAGMENTS:
		return nf_fragments(h, log);
	case NF_CROSSING:
		return nf_crossing(h, log);
	case NF_ECHO:
		return nf_echo(h, log);
	}
}

static void test_nf_case(void **state)
{
	const struct nf_case *c = rt_row();
	struct th *h = *state;
	static struct nf_log log;
	__u64 got;

	REQUIRE_BPF();
	log.len = 0;
	nf_run(h, c, &log);
	nf_note(&log, "clash drops %llu\n",
		(unsigned long long)pt_drops(h, TP_DROP_CT_CLASH));
	nf_note_table(&log, h);
	got = nf_digest(&log);
	if (got != c->digest)
		fail_msg("%s: digest 0x%016llx, want 0x%016llx\n%s", c->name,
			 (unsigned long long)got, (unsigned long long)c->digest,
			 log.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
		T(test_fault_echo_request_id0_as_reply_ingress),
		T(test_fault_echo_request_id0_as_reply_egress),
		T(test_fault_echo_request_id0_as_reply_v6),
		T(test_fault_echo_request_id0_as_dnat_reply),
		T(test_fault_reply_count_wrap_is_unanswered),
		T(test_fault_uplink_forges_pod_reply),
		T(test_uplink_reply_of_routed_pod),
		T(test_holds_rpf_dnat_backend_address),
		T(test_holds_rpf_ipv6),
		T(test_holds_rpf_echo_reply),
		T(test_holds_rpf_icmp_error_consistent),
		T(test_holds_rpf_fragments),
		T(test_holds_rpf_fail_closed),
		T(test_holds_rpf_crossing_reply_on_uplink),
		T(test_fault_rpf_policy_routing_by_port),
		T(test_fault_rpf_ecmp_reply_on_other_leg),
		T(test_fault_rpf_pod_forges_offnode_reply),
		T(test_fault_rpf_forged_first_fragment_poisons_record),
		T(test_holds_crossing_reply_from_own_zone),
		T(test_holds_overlapping_zones),
		T(test_holds_simultaneous_open),
		T(test_holds_dnat_reply_key_evicted),
		T(test_holds_expiry_second_edge),
		T(test_holds_dnat_reply_key_from_wrong_side),
		T(test_holds_v4_mapped_reversed_tuple),
		T(test_holds_icmp_errors_egress_flow),
		T(test_holds_echo_reply_games),
		T(test_holds_revocation_reaches_reversed_replies),
		T(test_holds_dnat_after_pod_flow_on_reply_tuple),
		T(test_holds_dnat_after_pod_flow_on_reply_tuple_indexed),
		cmocka_unit_test_setup_teardown(
			test_holds_exhaustion_evicts_dnat_entries,
			setup_small_ct, pt_teardown),
		RT_TEST(nf_cases, 0, test_nf_case),
		RT_TEST(nf_cases, 1, test_nf_case),
		RT_TEST(nf_cases, 2, test_nf_case),
		RT_TEST(nf_cases, 3, test_nf_case),
		RT_TEST(nf_cases, 4, test_nf_case),
		RT_TEST(nf_cases, 5, test_nf_case),
		RT_TEST(nf_cases, 6, test_nf_case),
		RT_TEST(nf_cases, 7, test_nf_case),
		RT_TEST(nf_cases, 8, test_nf_case),
		RT_TEST(nf_cases, 9, test_nf_case),
		RT_TEST(nf_cases, 10, test_nf_case),
		RT_TEST(nf_cases, 11, test_nf_case),
		RT_TEST(nf_cases, 12, test_nf_case),
		RT_TEST(nf_cases, 13, test_nf_case),
		RT_TEST(nf_cases, 14, test_nf_case),
		RT_TEST(nf_cases, 15, test_nf_case),
		RT_TEST(nf_cases, 16, test_nf_case),
		RT_TEST(nf_cases, 17, test_nf_case),
		RT_TEST(nf_cases, 18, test_nf_case),
		RT_TEST(nf_cases, 19, test_nf_case),
		RT_TEST(nf_cases, 20, test_nf_case),
		RT_TEST(nf_cases, 21, test_nf_case),
		RT_TEST(nf_cases, 22, test_nf_case),
		RT_TEST(nf_cases, 23, test_nf_case),
		RT_TEST(nf_cases, 24, test_nf_case),
		RT_TEST(nf_cases, 25, test_nf_case),
		RT_TEST(nf_cases, 26, test_nf_case),
#undef T
	};

	if (RT_MISSING(tests, nf_cases))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
