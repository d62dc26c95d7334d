// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Attack packet tests from a hostile review of the hardened datapath: a
 * tailnet peer and a pod or uplink host try to get packets past policy,
 * break other flows, or make state the documents rule out.  The tests
 * named test_fault_* each failed on the code the review attacked
 * (335f351) and pin its fix; test_holds_* are attacks that held then and
 * must go on holding.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>

#include "policy.h"
#include "policytest.h"
#include "service.h"

#define EVIL   DB /* the hostile pod (ID_DB) */
#define PEER_B "100.64.0.2"
#define NODE4  "198.18.0.1"

#define UPLINK_IFINDEX 4242
#define POD_VETH       77 /* a pod's host-side veth: no tp_ifaces entry */

/* The plan's identities (policytest.h), and this node's address: host. */
static void identities(struct th *h)
{
	pol_identities(h);
	pt_ident(h, 0, NODE4 "/32", TP_ID_HOST);
}

static int setup(void **state)
{
	return pt_setup_with(state, identities);
}

/* zone 1's tailnet routed through tptun0, as tailscaled's table 52 does */
static void route_zone1(void)
{
	/* may be there already from an earlier test in this process */
	(void)!system("ip route add 100.64.0.0/24 dev tptun0 2>/dev/null");
}

/*
 * A bystander pod, or a host on the uplink, sends ICMP errors quoting a
 * client's allowed flow to a pod: they come from no point on the quoted
 * packet's path, so they are decided on their own (and denied).  This
 * host's own errors, from its forwarding path, stay related.
 */
static void test_fault01_egress_error_from_bystander(void **state)
{
	struct th *h = *state;
	struct pkt_spec orig = pt_flow(CLIENT4, 1000, POD, 80, TCP, SYN);
	struct pkt err;

	REQUIRE_BPF();
	pt_uplink(h, UPLINK_IFINDEX);
	pt_allowed_flow(h, ID_CLIENT, ID_WEB, CLIENT4, POD);

	/* the pod may not reach the client itself */
	assert_int_equal(pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, POD_VETH,
				      pt_flow(EVIL, 5000, CLIENT4, 53, UDP, 0)),
			 DROP);
	pt_icmp_err_t(&err, EVIL, CLIENT4, &orig, 3, 1, 0);
	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, POD_VETH, &err),
		DROP);
	pt_icmp_err_t(&err, EVIL, CLIENT4, &orig, 3, 4, 68);
	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, POD_VETH, &err),
		DROP);
	pt_icmp_err_t(&err, "203.0.113.9", CLIENT4, &orig, 3, 1, 0);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex,
				    UPLINK_IFINDEX, &err),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 4);
	/* this host's frag-needed about the same packet: related */
	pt_icmp_err_t(&err, NODE4, CLIENT4, &orig, 3, 4, 1280);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, 0, &err),
			 PASS);
}

/* An untracked protocol a crossing rule let in is not decided again on the way out. */
static void test_fault03_other_proto_crossing(void **state)
{
	struct th *h = *state;
	struct pkt_spec gre = { .family = AF_INET,
				.saddr = CLIENT4,
				.daddr = Z2PEER,
				.proto = 47,
				.payload = "greGREgre",
				.payload_len = 9 };
	struct pkt p;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_deflt(h, TH_ZONE2, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_OTHER, 0, 47, 0, 0, TP_VERDICT_ALLOW);
	pt_build(&gre, &p);
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &p),
			 PASS);
	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex2, h->l3_ifindex, &p),
		PASS);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 0);
}

/* Later fragments without a record do not cross zones (both default allow). */
static void test_fault04_recordless_fragment_crosses_zones(void **state)
{
	struct th *h = *state;
	struct pkt whole, frag;

	REQUIRE_BPF();
	/* no crossing rule at all: C -> Z2 must never cross */
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, Z2PEER, 80, UDP, 0),
			 DROP);
	pt_build(FLOWP(CLIENT4, 1000, Z2PEER, 80, UDP, 0), &whole);
	assert_int_equal(pkt_fragment(&whole, 8, 9, 0, 4242, &frag), 0);
	/* zone 1 defaults to allow: a fragment of no flow passes its ingress */
	assert_int_equal(
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &frag), PASS);
	/* but no flow of zone 1 leads to zone 2 */
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex2,
				    h->l3_ifindex, &frag),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_ZONE), 2);
}

/*
 * PMTU across zones: errors this host makes when it forwards a crossing
 * flow's packets (wg0 1420 -> tailscale0 1280), and the client's error
 * about the other side's reply, reach the other side.
 */
static void test_fault05_node_error_crossing(void **state)
{
	struct th *h = *state;
	struct pkt_spec orig = pt_flow(CLIENT4, 1000, Z2PEER, 80, TCP, ACK);
	struct pkt_spec reply = pt_flow(Z2PEER, 80, CLIENT4, 1000, TCP, ACK);
	struct pkt err;

	REQUIRE_BPF();
	route_zone1();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_deflt(h, TH_ZONE2, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_OTHER, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	pt_cross_zones(h, CLIENT4, 1000, Z2PEER, 80);

	/* node -> client: frag needed, quoting the client's packet to Z2 */
	pt_icmp_err_t(&err, NODE4, CLIENT4, &orig, 3, 4, 1280);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, 0, &err),
			 PASS);
	/* node -> Z2: frag needed, quoting Z2's reply to the client */
	pt_icmp_err_t(&err, NODE4, Z2PEER, &reply, 3, 4, 1280);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex2, 0, &err),
			 PASS);
	/* C -> Z2: port unreachable about Z2's reply, in at zone 1, out zone 2 */
	pt_icmp_err_t(&err, CLIENT4, Z2PEER, &reply, 3, 3, 0);
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err),
			 PASS);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex2,
				    h->l3_ifindex, &err),
			 PASS);
	/* Z2 -> C about C's packet, in zone 2, out zone 1 */
	pt_icmp_err_t(&err, Z2PEER, CLIENT4, &orig, 3, 3, 0);
	assert_int_equal(
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, &err), PASS);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex,
				    h->l3_ifindex2, &err),
			 PASS);
	/* the same error forwarded from the wrong zone is not the flow's */
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex2,
				    h->l3_ifindex, &err),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_ZONE), 1);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 0);
	(void)!system("ip route del 100.64.0.0/24 dev tptun0");
}

/* The pod's SYN from port 5000 out of its veth, the client's SYN|ACK in: both pass. */
static void pod_syn_answered(struct th *h)
{
	assert_int_equal(
		pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, POD_VETH,
			     pt_flow(POD, 5000, CLIENT4, 80, TCP, SYN)),
		PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 80, POD, 5000, TCP, SYN | ACK),
			 PASS);
}

/* A tailnet SYN on a RESET egress flow's exact tuple does not take it over. */
static void test_fault06_syn_takes_reset_egress_flow(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(POD, 5000, CLIENT4, 80, TCP);
	struct pkt p;

	REQUIRE_BPF();
	pod_syn_answered(h);
	/* a packet claiming the egress flow's own tuple from the tailnet: clash */
	assert_int_equal(pt_send_in(h, POD, 5000, CLIENT4, 80, TCP, ACK), DROP);
	/* the pod resets; within the close timeout a spoofed SYN arrives */
	pt_build(FLOWP(POD, 5000, CLIENT4, 80, TCP, RST), &p);
	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, POD_VETH, &p),
		PASS);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_RESET);
	assert_int_equal(pt_send_in(h, POD, 5000, CLIENT4, 80, TCP, SYN), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 2);
	assert_true(pt_ct_must(h, &k).flags & TP_CT_F_EGRESS);
	/* the pod reconnects from the same port, and gets its answer */
	pod_syn_answered(h);
}

/* IPv6 header from @src to @dst, next header @nh, payload length @plen. */
static size_t v6hdr(__u8 *b, const char *src, const char *dst, __u8 nh,
		    __u16 plen)
{
	memset(b, 0, 40);
	b[0] = 0x60;
	b[4] = plen >> 8;
	b[5] = plen & 0xff;
	b[6] = nh;
	b[7] = 64;
	assert_int_equal(inet_pton(AF_INET6, src, b + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, b + 24), 1);
	return 40;
}

static size_t fraghdr(__u8 *b, __u8 nh, __u16 off, int more, __u32 id)
{
	__u16 fo = off | (more ? 1 : 0);

	b[0] = nh;
	b[1] = 0;
	b[2] = fo >> 8;
	b[3] = fo & 0xff;
	b[4] = id >> 24;
	b[5] = id >> 16;
	b[6] = id >> 8;
	b[7] = id;
	return 8;
}

static size_t udphdr8(__u8 *b, __u16 sport, __u16 dport, __u16 len)
{
	b[0] = sport >> 8;
	b[1] = sport & 0xff;
	b[2] = dport >> 8;
	b[3] = dport & 0xff;
	b[4] = len >> 8;
	b[5] = len & 0xff;
	b[6] = 0;
	b[7] = 0;
	return 8;
}

/*
 * A9: headers read past the IPv6 payload length.  V0 is a first fragment
 * Frag(V, 0, M, next 60) | DestOpts(1232 bytes, next 60): its datagram ends
 * there, and Linux accepts it (the chain runs out, RFC 8200 4.5 check passes)
 * and trims the skb.  The parser reads on past the payload length into
 * bytes after the datagram: a second DestOpts (next 17) and a UDP header to
 * the allowed port 53, and writes the fragment record with those ports.
 * V1 = Frag(V, 1232) | DestOpts(next 17) | UDP 4000->22 | data follows the
 * record and passes; Linux reassembles UDP to port 22 (checked on a TUN in
 * a private netns: the socket on port 22 got the data).
 */
#define A9_DOLEN 1232
static size_t a9_dstopts(__u8 *b, __u8 nh)
{
	size_t n = 2, i;

	memset(b, 0, A9_DOLEN);
	b[0] = nh;
	b[1] = A9_DOLEN / 8 - 1;
	/* unknown options of type 0x1e (skip): Linux refuses > 7 bytes of PadN */
	for (i = 0; i < 5; i++) {
		b[n] = 0x1e;
		b[n + 1] = i < 4 ? 255 : 200;
		n += 2 + b[n + 1];
	}
	assert_int_equal(n, A9_DOLEN);
	return A9_DOLEN;
}

static void test_fault09_v6_headers_past_payload_len(void **state)
{
	struct th *h = *state;
	static const __u8 do2[8] = { IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0 };
	struct pkt v0 = {}, v1 = {};
	__u8 *b;
	size_t n;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, 53, 53, TP_VERDICT_ALLOW);

	/* control: UDP to port 22 is denied */
	assert_int_equal(
		pt_send_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0,
			     pt_flow(CLIENT6, 4000, BE6[0], 22, UDP, 0)),
		DROP);

	b = v0.data;
	n = v6hdr(b, CLIENT6, BE6[0], 44, 8 + A9_DOLEN);
	n += fraghdr(b + n, 60, 0, 1, 0x5151);
	n += a9_dstopts(b + n, 60);
	/* after the datagram (payload length ends here): */
	memcpy(b + n, do2, 8);
	n += 8;
	n += udphdr8(b + n, 4000, 53, 16);
	v0.len = n;
	/* V0's L4 header is past its datagram: truncated, no record */
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &v0),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_TRUNCATED), 1);

	b = v1.data;
	n = v6hdr(b, CLIENT6, BE6[0], 44, 0);
	n += fraghdr(b + n, 60, A9_DOLEN, 0, 0x5151);
	memcpy(b + n, do2, 8);
	n += 8;
	n += udphdr8(b + n, 4000, 22, 16);
	memcpy(b + n, "rootpass", 8);
	n += 8;
	b[4] = (n - 40) >> 8;
	b[5] = (n - 40) & 0xff;
	v1.len = n;
	/* the later fragment finds no record: denied under default deny */
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &v1),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_FRAG_NO_FLOW), 1);
	/* the same V0 cut to its datagram: truncated too */
	v0.len = 40 + 8 + A9_DOLEN;
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &v0),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_TRUNCATED), 2);
}

/* ---- attacks that held ---- */
static void test_holds_icmp_quotes(void **state)
{
	struct th *h = *state;
	struct pkt_spec reply = pt_flow(POD, 80, CLIENT4, 1000, TCP, SYN | ACK);
	struct pkt_spec orig = pt_flow(CLIENT4, 1000, POD, 80, TCP, SYN);
	struct pkt err, err2, inner;
	int v;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE2, TP_VERDICT_DENY);
	pt_allowed_flow(h, ID_CLIENT, ID_WEB, CLIENT4, POD);
	/* error about an error: the client's error quoting an error to the pod, to DB */
	pt_icmp_err(&err, CLIENT4, POD, &reply);
	pt_icmp_err_quoting(&err2, CLIENT4, EVIL, &err, 0);
	v = pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err2);
	assert_int_equal(v, DROP);
	/* truncated quote: only 4 bytes of TCP */
	pt_build(&reply, &inner);
	pt_icmp_err_quoting(&err, CLIENT4, EVIL, &inner, 24);
	v = pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &err);
	assert_int_equal(v, DROP);
	/* error from zone 2 about a zone-1 flow, forwarded into zone 1 */
	pt_icmp_err(&err, Z2PEER, CLIENT4, &orig);
	v = pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, h->l3_ifindex2, &err);
	assert_int_equal(v, DROP);
	/* zone-2 peer injects the pod's reply in zone 2 */
	pt_build(FLOWP(POD, 80, CLIENT4, 1000, TCP, RST), &err);
	v = pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, &err);
	assert_int_equal(v, DROP);
	v = pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, h->l3_ifindex2, &err);
	assert_int_equal(v, DROP);
	{
		struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, POD, 80, TCP);

		assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_SENT);
	}
}

static void test_holds_spoofed_sources(void **state)
{
	struct th *h = *state;
	int v;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_OTHER, ID_WEB, 0, TCP, 22, 22, TP_VERDICT_ALLOW);
	pt_rule(h, TP_ID_HOST, ID_WEB, 0, TCP, 22, 22, TP_VERDICT_ALLOW);
	v = pt_send_in(h, Z2PEER, 1000, POD, 22, TCP, SYN);
	assert_int_equal(v, DROP);
	v = pt_send_in(h, NODE4, 1000, POD, 22, TCP, SYN);
	assert_int_equal(v, DROP);
	v = pt_send_spec(
		h, TH_FROM_TAILNET, h->l3_ifindex, 0,
		pt_flow("::ffff:198.18.0.1", 1000, BE6[0], 22, TCP, SYN));
	assert_int_equal(v, DROP);
	assert_int_equal(pt_drops(h, TP_DROP_V4_MAPPED), 1);
}

static void test_holds_clash_and_revoke(void **state)
{
	struct th *h = *state;
	struct tp_rule match =
		pt_rule_spec(ID_CLIENT, ID_WEB, 0, UDP, 53, 53, 0);
	struct pkt whole, frag;
	int v;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, 53, 53, TP_VERDICT_ALLOW);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, 5353, 5353, TP_VERDICT_ALLOW);
	pt_service(h, VIP4, 53, UDP, BE4, 1, 5353, NULL, NULL, 0, 0);
	pt_expect_dnat(h, pt_flow(CLIENT4, 5000, VIP4, 53, UDP, 0), BE4[0],
		       5353);
	/* direct flow to the backend from the same port: clash, VIP flow intact */
	v = pt_send_in(h, CLIENT4, 5000, BE4[0], 5353, UDP, 0);
	assert_int_equal(v, DROP);
	pt_expect_revnat(h, pt_flow(BE4[0], 5353, CLIENT4, 5000, UDP, 0), VIP4,
			 53);
	/* revoke: first fragment's later fragments and replies die too */
	assert_int_equal(pt_send_in(h, CLIENT4, 6000, POD, 53, UDP, 0), PASS);
	assert_int_equal(tp_policy_rule_del(&h->maps, &match, TP_OWNER_TPCTL),
			 0);
	pt_build(FLOWP(CLIENT4, 6000, POD, 53, UDP, 0), &whole);
	assert_int_equal(pkt_fragment(&whole, 8, 9, 0, 99, &frag), 0);
	v = pt_send_out(h, POD, 53, CLIENT4, 6000, UDP, 0);
	assert_int_equal(v, DROP);
	v = pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &frag);
	assert_int_equal(v, DROP);
	/* re-allow: the flow comes back */
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, 53, 53, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_out(h, POD, 53, CLIENT4, 6000, UDP, 0), PASS);
	/* a first fragment to port 53 then another "first" to port 22, same id */
	pt_build(FLOWP(CLIENT4, 7000, POD, 53, UDP, 0), &whole);
	assert_int_equal(pkt_fragment(&whole, 0, 8, 1, 55, &frag), 0);
	assert_int_equal(
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &frag), PASS);
	pt_build(FLOWP(CLIENT4, 7000, POD, 22, UDP, 0), &whole);
	assert_int_equal(pkt_fragment(&whole, 0, 8, 1, 55, &frag), 0);
	assert_int_equal(
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &frag), DROP);
	assert_int_equal(pkt_fragment(&whole, 8, 9, 0, 55, &frag), 0);
	v = pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &frag);
	assert_int_equal(v, DROP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define I(fn) cmocka_unit_test_setup_teardown(fn, setup, pt_teardown)
		I(test_fault01_egress_error_from_bystander),
		I(test_fault03_other_proto_crossing),
		I(test_fault04_recordless_fragment_crosses_zones),
		I(test_fault05_node_error_crossing),
		I(test_fault06_syn_takes_reset_egress_flow),
		I(test_fault09_v6_headers_past_payload_len),
		I(test_holds_icmp_quotes),
		I(test_holds_spoofed_sources),
		I(test_holds_clash_and_revoke),
#undef I
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
