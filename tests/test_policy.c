// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet tests of identities, zones and policy (docs/policy.md): the
 * verdict of each rule form, statefulness, revision re-checks, zone
 * isolation, fragment and extension-header bypass attempts, events and
 * their rate limit, counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "datapath.h"
#include "identity.h"
#include "policy.h"
#include "policytest.h"
#include "service.h"

#define ID_ADMIN 301 /* tailnet peer 100.64.0.9/32 (zone 1) */

#define ANY TP_POLICY_ANY_ID

/* The plan's identities (policytest.h), and an admin among the clients. */
static void identities(struct th *h)
{
	pol_identities(h);
	pt_ident(h, TH_ZONE, "100.64.0.9/32", ID_ADMIN);
}

static int setup_identities(void **state)
{
	return pt_setup_with(state, identities);
}

/* ---- verdicts ----------------------------------------------------------- */

static void test_default_allow_and_deny(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POD, 80, TCP, SYN), PASS);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	assert_int_equal(pt_send_in(h, CLIENT4, 1001, POD, 80, TCP, SYN), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 1);
	/* a denied first packet leaves no state: the one untranslated flow's entry */
	assert_int_equal(pt_ct_count(h), 1);
	/* the default of another zone is its own */
	pt_deflt(h, TH_ZONE2, TP_VERDICT_DENY);
	pt_deflt(h, TH_ZONE, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, CLIENT4, 1002, POD, 80, TCP, SYN), PASS);
	assert_int_equal(th_stat(h, TP_STAT_VERDICT_ALLOW), 2);
	assert_int_equal(th_stat(h, TP_STAT_VERDICT_DENY), 1);
}

static void test_exact_rule(void **state)
{
	struct th *h = *state;
	struct tp_ct_entry e;
	__u32 id;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	id = pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	e = pt_open_in(h, CLIENT4, 1000, POD, 80, TCP, SYN);
	assert_int_equal(e.verdict, TP_VERDICT_ALLOW);
	assert_int_equal(e.rule_id, id);
	assert_int_equal(e.src_identity, ID_CLIENT);
	assert_int_equal(e.dst_identity, ID_WEB);
	assert_int_equal(e.out_zone, 0);
	/* any other port, protocol, destination or source: default deny */
	assert_int_equal(pt_send_in(h, CLIENT4, 1001, POD, 81, TCP, SYN), DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 1002, POD, 80, UDP, 0), DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 1003, DB, 80, TCP, SYN), DROP);
	assert_int_equal(pt_send_in(h, "100.64.1.1", 1004, POD, 80, TCP, SYN),
			 DROP);
	/* the more specific /32 gives 100.64.0.9 another identity */
	assert_int_equal(pt_send_in(h, "100.64.0.9", 1005, POD, 80, TCP, SYN),
			 DROP);
	/* IPv6 source of the same identity */
	pt_ident(h, 0, "fd00:198:18::1:1/128", ID_WEB);
	assert_int_equal(pt_send_in(h, CLIENT6, 1006, BE6[0], 80, TCP, SYN),
			 PASS);
}

static void test_wildcards(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	/* any source to the database on 5432 */
	pt_rule(h, ANY, ID_DB, 0, TCP, 5432, 5432, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, "100.64.7.7", 1, DB, 5432, TCP, SYN),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 2, DB, 5433, TCP, SYN), DROP);
	/* the admin anywhere, any protocol */
	pt_rule(h, ID_ADMIN, ANY, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, "100.64.0.9", 3, POD, 9999, UDP, 0),
			 PASS);
	assert_int_equal(
		pt_send_in(h, "100.64.0.9", 4, "198.18.9.9", 1, TCP, SYN),
		PASS);
	/* clients to web, any port */
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 0, 0, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, CLIENT4, 5, POD, 12345, TCP, SYN), PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 6, POD, 12345, UDP, 0), DROP);
	/* anyone, anywhere, ICMP echo */
	pt_rule(h, ANY, ANY, 0, IPPROTO_ICMP, 0, 0, TP_VERDICT_ALLOW);
	{
		struct pkt_spec sp = { .family = AF_INET,
				       .saddr = "100.64.5.5",
				       .daddr = "198.18.9.9",
				       .proto = IPPROTO_ICMP,
				       .icmp_type = 8,
				       .icmp_id = 7 };

		pt_expect_untouched(h, TH_FROM_TAILNET, &sp, PASS);
		sp.proto = IPPROTO_UDP;
		sp.sport = 7;
		sp.dport = 7;
		pt_expect_untouched(h, TH_FROM_TAILNET, &sp, DROP);
	}
}

static void test_port_range_edges(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 1000, 1999, TP_VERDICT_DENY);
	assert_int_equal(pt_send_in(h, CLIENT4, 1, POD, 999, TCP, SYN), PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 2, POD, 1000, TCP, SYN), DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 3, POD, 1023, TCP, SYN), DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 4, POD, 1024, TCP, SYN), DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 5, POD, 1999, TCP, SYN), DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 6, POD, 2000, TCP, SYN), PASS);
	/* ranges at the ends of the port space */
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, 0, 1, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, 65534, 65535, TP_VERDICT_DENY);
	assert_int_equal(pt_send_in(h, CLIENT4, 7, POD, 0, UDP, 0), DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 8, POD, 1, UDP, 0), DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 9, POD, 2, UDP, 0), PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 10, POD, 65533, UDP, 0), PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 11, POD, 65534, UDP, 0), DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 12, POD, 65535, UDP, 0), DROP);
}

static void test_specificity(void **state)
{
	struct th *h = *state;
	struct tp_ct_entry e;
	__u32 narrow;

	REQUIRE_BPF();
	/* named identities beat wildcards, whatever the ports */
	pt_rule(h, ANY, ANY, 0, TCP, 443, 443, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, CLIENT4, 1, POD, 443, TCP, SYN), PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 2, DB, 443, TCP, SYN), DROP);
	/* among equals in identities, the narrower port block wins */
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 1000, 1999, TP_VERDICT_DENY);
	narrow = pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 1400, 1599,
			 TP_VERDICT_AUDIT);
	e = pt_open_in(h, CLIENT4, 3, POD, 1500, TCP, SYN);
	assert_int_equal(e.rule_id, narrow);
	assert_int_equal(e.verdict, TP_VERDICT_AUDIT);
	assert_int_equal(pt_send_in(h, CLIENT4, 4, POD, 1999, TCP, SYN), DROP);
	/* a rule for the zone beats the same rule for every zone */
	pt_rule(h, ID_CLIENT, ID_DB, 0, UDP, 53, 53, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_DB, TH_ZONE, UDP, 53, 53, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, CLIENT4, 5, DB, 53, UDP, 0), PASS);
	pt_rule(h, ID_CLIENT, ID_DB, TH_ZONE2, UDP, 54, 54, TP_VERDICT_DENY);
	assert_int_equal(pt_send_in(h, CLIENT4, 6, DB, 54, UDP, 0), PASS);
}

static void test_deny_wins_at_equal_specificity(void **state)
{
	struct th *h = *state;
	__u32 deny;
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	/* one named identity each, same port bits */
	pt_rule(h, ANY, ID_WEB, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	deny = pt_rule(h, ID_CLIENT, ANY, 0, TCP, 80, 80, TP_VERDICT_DENY);
	assert_int_equal(pt_send_in(h, CLIENT4, 1, POD, 80, TCP, SYN), DROP);
	/* audit beats allow */
	pt_rule(h, ID_CLIENT, ANY, 0, TCP, 80, 80, TP_VERDICT_AUDIT);
	e = pt_open_in(h, CLIENT4, 3, POD, 80, TCP, SYN);
	assert_int_equal(e.verdict, TP_VERDICT_AUDIT);
	assert_int_equal(e.rule_id,
			 deny); /* same match: same rule, new verdict */
	/* overlapping ranges of one group: the shared block is denied */
	pt_rule(h, ID_ADMIN, ID_WEB, 0, TCP, 0, 1023, TP_VERDICT_ALLOW);
	pt_rule(h, ID_ADMIN, ID_WEB, 0, TCP, 512, 1023, TP_VERDICT_DENY);
	assert_int_equal(pt_send_in(h, "100.64.0.9", 4, POD, 511, TCP, SYN),
			 PASS);
	assert_int_equal(pt_send_in(h, "100.64.0.9", 5, POD, 512, TCP, SYN),
			 DROP);
}

static void test_rule_delete_restores(void **state)
{
	struct th *h = *state;
	struct tp_rule r =
		pt_rule_spec(ID_CLIENT, ID_WEB, 0, TCP, 512, 1023, 0);

	REQUIRE_BPF();
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 0, 1023, TP_VERDICT_ALLOW);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 512, 1023, TP_VERDICT_DENY);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	assert_int_equal(pt_send_in(h, CLIENT4, 1, POD, 600, TCP, SYN), DROP);
	assert_int_equal(tp_policy_rule_del(&h->maps, &r, TP_OWNER_NONE), 0);
	assert_int_equal(pt_send_in(h, CLIENT4, 2, POD, 600, TCP, SYN), PASS);
	assert_int_equal(tp_policy_rule_del(&h->maps, &r, TP_OWNER_NONE),
			 -ENOENT);
	/* a rule with ports needs TCP or UDP */
	r.proto = IPPROTO_ICMP;
	r.verdict = TP_VERDICT_ALLOW;
	assert_int_equal(tp_policy_rule_add(&h->maps, &r, &(__u32){ 0 }),
			 -EINVAL);
}

/* ---- state ------------------------------------------------------------ */

static void test_stateful_replies(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	/* the reply leaves: no rule allows web -> client, conntrack does */
	pt_handshake(h, CLIENT4, 1000, POD, 80);
	/* a new connection from the pod to the client is a new flow: denied */
	assert_int_equal(pt_send_out(h, POD, 80, CLIENT4, 1001, TCP, SYN),
			 DROP);
	/* established packets did no policy lookup */
	assert_int_equal(th_stat(h, TP_STAT_VERDICT_ALLOW), 1);
	assert_int_equal(th_stat(h, TP_STAT_VERDICT_DENY), 1);
}

static void test_egress_flows(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(POD, 5000, CLIENT4, 53, UDP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_WEB, ID_CLIENT, 0, UDP, 53, 53, TP_VERDICT_ALLOW);
	e = pt_open_out(h, POD, 5000, CLIENT4, 53, UDP, 0);
	/* sent by this host (no ingress interface) */
	assert_int_equal(e.flags, TP_CT_F_EGRESS | TP_CT_F_LOCAL);
	assert_int_equal(e.src_identity, ID_WEB);
	assert_int_equal(e.dst_identity, ID_CLIENT);
	/* its replies come in through conntrack */
	assert_int_equal(pt_send_in(h, CLIENT4, 53, POD, 5000, UDP, 0), PASS);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.state, TP_CT_REPLIED);
	/* this host (no ingress interface, no identity): host */
	pt_rule(h, TP_ID_HOST, TP_ID_TAILNET, 0, TCP, 22, 22, TP_VERDICT_ALLOW);
	assert_int_equal(
		pt_send_out(h, "198.18.0.1", 4000, "100.64.9.9", 22, TCP, SYN),
		PASS);
	assert_int_equal(
		pt_send_out(h, "198.18.0.1", 4001, "100.64.9.9", 23, TCP, SYN),
		DROP);
}

static void test_revision_recheck(void **state)
{
	struct th *h = *state;
	struct tp_rule r = pt_rule_spec(ID_CLIENT, ID_WEB, 0, TCP, 80, 80, 0);
	struct tp_ct_key k = pt_ct_key(CLIENT4, 1000, POD, 80, TCP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_allowed_flow(h, ID_CLIENT, ID_WEB, CLIENT4, POD);
	assert_int_equal(pt_send_out(h, POD, 80, CLIENT4, 1000, TCP, SYN | ACK),
			 PASS);
	/* revoke: the next packet of the open flow is decided again */
	assert_int_equal(tp_policy_rule_del(&h->maps, &r, TP_OWNER_NONE), 0);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POD, 80, TCP, ACK), DROP);
	assert_int_equal(th_stat(h, TP_STAT_POLICY_RECHECK), 1);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.verdict, TP_VERDICT_DENY);
	/* and its replies stop too */
	assert_int_equal(pt_send_out(h, POD, 80, CLIENT4, 1000, TCP, ACK),
			 DROP);
	/* an identity change is a policy change as well */
	pt_rule(h, ID_ADMIN, ID_WEB, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POD, 80, TCP, ACK), DROP);
	pt_ident(h, TH_ZONE, "100.64.0.1/32", ID_ADMIN);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POD, 80, TCP, ACK), PASS);
	assert_int_equal(pt_send_out(h, POD, 80, CLIENT4, 1000, TCP, ACK),
			 PASS);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.src_identity, ID_ADMIN);
	/* no change: no re-check */
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, POD, 80, TCP, ACK), PASS);
	assert_int_equal(th_stat(h, TP_STAT_POLICY_RECHECK), 3);
}

/*
 * A DNAT flow decided again on its reply (tp_flow_reply(), the egress
 * handler): deny after allow, then allow after deny; the entry's fields
 * are the re-decision's (the backend's identity, the rule, the new
 * revision), and the translation works again once allowed.
 */
static void test_revision_recheck_dnat_reply(void **state)
{
	struct th *h = *state;
	struct tp_rule r =
		pt_rule_spec(ID_CLIENT, ID_WEB, 0, TCP, 8080, 8080, 0);
	struct tp_ct_entry e0, e;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_web_service(h);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 8080, 8080, TP_VERDICT_ALLOW);
	pt_web_in(h, SYN);
	e0 = pt_web_entry(h);
	assert_int_equal(e0.verdict, TP_VERDICT_ALLOW);
	assert_int_equal(e0.dst_identity, ID_WEB);
	/* revoke: the reply is the first packet to see it */
	assert_int_equal(tp_policy_rule_del(&h->maps, &r, TP_OWNER_NONE), 0);
	assert_int_equal(
		pt_send_out(h, BE4[0], 8080, CLIENT4, 40000, TCP, SYN | ACK),
		DROP);
	assert_int_equal(th_stat(h, TP_STAT_POLICY_RECHECK), 1);
	e = pt_web_entry(h);
	assert_int_equal(e.verdict, TP_VERDICT_DENY);
	assert_int_not_equal(e.policy_rev, e0.policy_rev);
	assert_int_equal(e.src_identity, ID_CLIENT);
	assert_int_equal(e.dst_identity, ID_WEB);
	assert_int_not_equal(e.rule_id, e0.rule_id);
	/* the client's packets stop too, without a second re-decision */
	assert_int_equal(pt_send_in(h, CLIENT4, 40000, VIP4, 80, TCP, ACK),
			 DROP);
	assert_int_equal(th_stat(h, TP_STAT_POLICY_RECHECK), 1);
	/* allow again: the reply, reverse-NATed, reopens it */
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 8080, 8080, TP_VERDICT_ALLOW);
	pt_web_reply(h, SYN | ACK);
	assert_int_equal(th_stat(h, TP_STAT_POLICY_RECHECK), 2);
	e = pt_web_entry(h);
	assert_int_equal(e.verdict, TP_VERDICT_ALLOW);
	assert_int_equal(e.dst_identity, ID_WEB);
	assert_int_not_equal(e.rule_id, 0);
	pt_web_in(h, ACK);
	assert_int_equal(th_stat(h, TP_STAT_POLICY_RECHECK), 2);
}

static void test_policy_sees_backend(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_web_service(h);
	/* a rule on the service port does not allow the translated flow */
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, CLIENT4, 1, VIP4, 80, TCP, SYN), DROP);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 8080, 8080, TP_VERDICT_ALLOW);
	pt_expect_dnat(h, pt_flow(CLIENT4, 2, VIP4, 80, TCP, SYN), BE4[0],
		       8080);
	pt_expect_revnat(h, pt_flow(BE4[0], 8080, CLIENT4, 2, TCP, SYN | ACK),
			 VIP4, 80);
	assert_int_equal(th_stat(h, TP_STAT_DROP(TP_DROP_POLICY)), 1);
}

/* ---- zones -------------------------------------------------------------- */

static void test_zone_crossing(void **state)
{
	struct th *h = *state;
	struct tp_ct_entry e;

	REQUIRE_BPF();
	/* default allow everywhere, yet zone 1 -> zone 2 is refused */
	assert_int_equal(pt_send_in(h, CLIENT4, 1, Z2PEER, 80, TCP, SYN), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_ZONE), 1);
	/* wildcard rules do not open it */
	pt_rule(h, ANY, ID_OTHER, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	pt_rule(h, ID_CLIENT, ANY, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	assert_int_equal(pt_send_in(h, CLIENT4, 1, Z2PEER, 80, TCP, SYN), DROP);
	/* a rule naming both identities does */
	pt_rule(h, ID_CLIENT, ID_OTHER, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	e = pt_open_in(h, CLIENT4, 2, Z2PEER, 80, TCP, SYN);
	assert_int_equal(e.out_zone, TH_ZONE2);
	assert_int_equal(e.dst_identity, ID_OTHER);
	/* ... and only for what it names */
	assert_int_equal(pt_send_in(h, CLIENT4, 3, Z2PEER, 81, TCP, SYN), DROP);
	/* a named deny keeps it closed */
	pt_rule(h, ID_CLIENT, ID_OTHER, 0, TCP, 80, 80, TP_VERDICT_DENY);
	assert_int_equal(pt_send_in(h, CLIENT4, 4, Z2PEER, 80, TCP, SYN), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_ZONE), 4);
}

/* The egress side: packets forwarded from one zone's interface to another's. */
static void test_zone_forward_guard(void **state)
{
	struct th *h = *state;
	struct pkt in;

	REQUIRE_BPF();
	pt_rule(h, ID_CLIENT, ID_OTHER, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	/* allowed at zone 1's ingress, leaving through zone 2's interface */
	assert_int_equal(pt_send_in(h, CLIENT4, 7, Z2PEER, 80, TCP, SYN), PASS);
	pt_build(FLOWP(CLIENT4, 7, Z2PEER, 80, TCP, ACK), &in);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex2,
				    h->l3_ifindex, &in),
			 PASS);
	/* the reply comes in on zone 2's interface: a reply, not a crossing */
	pt_build(FLOWP(Z2PEER, 80, CLIENT4, 7, TCP, SYN | ACK), &in);
	assert_int_equal(pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, &in),
			 PASS);
	{
		struct tp_ct_key k = pt_ct_key(CLIENT4, 7, Z2PEER, 80, TCP);
		struct tp_ct_entry e = pt_ct_must(h, &k);

		assert_int_equal(e.state, TP_CT_SYN_RECV);
		assert_int_equal(e.packets[1], 1);
	}
	/* ... and leaves zone 1's interface as that flow's reply */
	pt_build(FLOWP(Z2PEER, 80, CLIENT4, 7, TCP, ACK), &in);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex,
				    h->l3_ifindex2, &in),
			 PASS);
	/* a packet from zone 2 that no zone-2 flow explains is dropped */
	pt_build(FLOWP(Z2PEER, 99, CLIENT4, 22, TCP, SYN), &in);
	assert_int_equal(pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex,
				    h->l3_ifindex2, &in),
			 DROP);
	assert_int_equal(pt_drops(h, TP_DROP_ZONE), 1);
}

/* ---- bypass attempts ----------------------------------------------------- */

static void test_fragment_bypass(void **state)
{
	struct th *h = *state;
	static char payload[1000];
	struct pkt_spec sp = pt_flow(CLIENT4, 4000, POD, 22, UDP, 0);
	struct pkt whole, frag;
	size_t l4_len;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule(h, ID_CLIENT, ID_WEB, 0, UDP, 80, 80, TP_VERDICT_ALLOW);
	sp.payload = payload;
	sp.payload_len = sizeof(payload);
	pt_build(&sp, &whole);
	l4_len = whole.len - 20;

	/* the first fragment to a denied port is dropped, its followers too */
	assert_int_equal(pkt_fragment(&whole, 0, 504, 1, 41, &frag), 0);
	pt_run_expect(h, TH_FROM_TAILNET, &frag, DROP, NULL);
	assert_int_equal(pkt_fragment(&whole, 504, l4_len - 504, 0, 41, &frag),
			 0);
	pt_run_expect(h, TH_FROM_TAILNET, &frag, DROP, NULL);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 2);
	/* a later fragment with no first one: dropped under default deny */
	assert_int_equal(pkt_fragment(&whole, 504, l4_len - 504, 0, 42, &frag),
			 0);
	pt_run_expect(h, TH_FROM_TAILNET, &frag, DROP, NULL);
	assert_int_equal(pt_drops(h, TP_DROP_FRAG_NO_FLOW), 1);
	/* an allowed flow's fragments pass */
	sp.dport = 80;
	pt_build(&sp, &whole);
	assert_int_equal(pkt_fragment(&whole, 0, 504, 1, 43, &frag), 0);
	pt_run_expect(h, TH_FROM_TAILNET, &frag, PASS, &frag);
	assert_int_equal(pkt_fragment(&whole, 504, l4_len - 504, 0, 43, &frag),
			 0);
	pt_run_expect(h, TH_FROM_TAILNET, &frag, PASS, &frag);
	/* under default allow an unknown later fragment passes (counted) */
	pt_deflt(h, TH_ZONE, TP_VERDICT_ALLOW);
	assert_int_equal(pkt_fragment(&whole, 504, l4_len - 504, 0, 44, &frag),
			 0);
	pt_run_expect(h, TH_FROM_TAILNET, &frag, PASS, &frag);
	assert_int_equal(th_stat(h, TP_STAT_FRAG_NO_RECORD), 1);
}

static void test_ipv6_exthdr_bypass(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp = pt_flow(CLIENT6, 4000, BE6[0], 22, TCP, SYN);
	const __u8 chains[][4] = { { 0 }, { 60 }, { 0, 43, 60 }, { 44 } };
	const int lens[] = { 1, 1, 3, 1 };
	struct pkt in, whole, frag;
	size_t i;

	REQUIRE_BPF();
	pt_rule(h, ANY, ID_WEB, 0, TCP, 22, 22, TP_VERDICT_DENY);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(sp.exthdr, chains[i], 4);
		sp.n_exthdr = lens[i];
		sp.sport = 4000 + i;
		pt_build(&sp, &in);
		pt_run_expect(h, TH_FROM_TAILNET, &in, DROP, NULL);
	}
	/* a real IPv6 fragment: same */
	sp.n_exthdr = 1;
	sp.exthdr[0] = 60;
	sp.payload = "0123456789abcdef0123456789abcdef";
	sp.payload_len = 32;
	pt_build(&sp, &whole);
	assert_int_equal(pkt_fragment(&whole, 0, 24, 1, 77, &frag), 0);
	pt_run_expect(h, TH_FROM_TAILNET, &frag, DROP, NULL);
	assert_int_equal(
		pkt_fragment(&whole, 24, whole.len - 40 - 8 - 24, 0, 77, &frag),
		0);
	pt_run_expect(h, TH_FROM_TAILNET, &frag, DROP, NULL);
	assert_int_equal(pt_drops(h, TP_DROP_POLICY), 6);
}

/* ---- events --------------------------------------------------------------- */

struct ev_log {
	struct tp_event ev[64];
	int n;
};

static int ev_collect(void *ctx, void *data, size_t len)
{
	struct ev_log *log = ctx;

	assert_int_equal(len, sizeof(struct tp_event));
	if (log->n < 64)
		memcpy(&log->ev[log->n++], data, sizeof(struct tp_event));
	return 0;
}

static void ev_drain(struct th *h, struct ev_log *log)
{
	struct ring_buffer *rb;

	memset(log, 0, sizeof(*log));
	rb = ring_buffer__new(h->maps.events, ev_collect, log, NULL);
	assert_non_null(rb);
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
}

static void test_events(void **state)
{
	struct th *h = *state;
	struct tp_addr client = pt_addr(CLIENT4), vip = pt_addr(VIP4),
		       be = pt_addr(BE4[0]);
	struct ev_log log;
	__u32 allow, audit;
	struct tp_svc svc;
	struct tp_svc_key sk = pt_svc_key(VIP4, 80, TCP);

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	pt_web_service(h);
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &sk, &svc), 0);
	allow = pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 8080, 8080,
			TP_VERDICT_ALLOW);
	audit = pt_rule(h, ID_CLIENT, ID_DB, 0, TCP, 0, 0, TP_VERDICT_AUDIT);

	assert_int_equal(pt_send_in(h, CLIENT4, 1000, VIP4, 80, TCP, SYN),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, VIP4, 80, TCP, ACK),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 1001, DB, 5432, TCP, SYN),
			 PASS);
	assert_int_equal(pt_send_in(h, CLIENT4, 1002, POD, 22, TCP, SYN), DROP);
	ev_drain(h, &log);
	assert_int_equal(log.n, 3); /* one per decision, none for the ACK */

	assert_int_equal(log.ev[0].type, TP_EVENT_FLOW_ALLOW);
	assert_int_equal(log.ev[0].verdict, TP_VERDICT_ALLOW);
	assert_int_equal(log.ev[0].hook, TP_EVENT_HOOK_FROM_TAILNET);
	assert_int_equal(log.ev[0].ts_ns, T0);
	assert_int_equal(log.ev[0].zone, TH_ZONE);
	assert_int_equal(log.ev[0].out_zone, 0);
	assert_int_equal(log.ev[0].ifindex, h->l3_ifindex);
	assert_int_equal(log.ev[0].src_id, ID_CLIENT);
	assert_int_equal(log.ev[0].dst_id, ID_WEB);
	assert_int_equal(log.ev[0].rule_id, allow);
	assert_int_equal(log.ev[0].svc_id, svc.id);
	assert_memory_equal(&log.ev[0].tuple.saddr, &client, 16);
	assert_memory_equal(&log.ev[0].tuple.daddr, &vip, 16);
	assert_int_equal(log.ev[0].tuple.sport, htons(1000));
	assert_int_equal(log.ev[0].tuple.dport, htons(80));
	assert_int_equal(log.ev[0].tuple.proto, TCP);
	assert_memory_equal(&log.ev[0].nat_addr, &be, 16);
	assert_int_equal(log.ev[0].nat_port, htons(8080));

	assert_int_equal(log.ev[1].type, TP_EVENT_FLOW_AUDIT);
	assert_int_equal(log.ev[1].rule_id, audit);
	assert_int_equal(log.ev[1].dst_id, ID_DB);
	assert_int_equal(log.ev[1].svc_id, 0);

	assert_int_equal(log.ev[2].type, TP_EVENT_FLOW_DENY);
	assert_int_equal(log.ev[2].verdict, TP_VERDICT_DENY);
	assert_int_equal(log.ev[2].reason, TP_DROP_POLICY);
	assert_int_equal(log.ev[2].rule_id, 0);
	assert_int_equal(log.ev[2].tuple.dport, htons(22));
	assert_int_equal(th_stat(h, TP_STAT_EVENTS), 3);
}

/*
 * Drops that are no decision are reported too: a tuple clash (a tailnet
 * packet on a DNAT flow's reply tuple), a service without backend, a
 * malformed packet, the egress zone guard.  A denied flow's later packets
 * are not.
 */
static void test_drop_events(void **state)
{
	struct th *h = *state;
	struct tp_addr be = pt_addr(BE4[0]), client = pt_addr(CLIENT4);
	struct pkt in, bad;
	struct ev_log log;
	int verdict;

	REQUIRE_BPF();
	pt_web_service(h);
	pt_service(h, VIP4, 81, TCP, NULL, 0, 0, NULL, NULL, 0, 0);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, VIP4, 80, TCP, SYN),
			 PASS);
	ev_drain(h, &log);
	assert_int_equal(pt_send_in(h, BE4[0], 8080, CLIENT4, 1000, TCP, ACK),
			 DROP);
	assert_int_equal(pt_send_in(h, CLIENT4, 1001, VIP4, 81, TCP, SYN),
			 DROP);
	pt_build(FLOWP(CLIENT4, 1002, POD, 80, TCP, SYN), &in);
	bad = in;
	bad.len = 30; /* cut short of its IP length */
	pt_run(h, TH_FROM_TAILNET, &bad, &in, &verdict);
	assert_int_equal(verdict, DROP);
	pt_build(FLOWP(CLIENT4, 1003, Z2PEER, 80, TCP, SYN), &in);
	assert_int_equal(th_run_from(h, TH_TO_TAILNET, h->l3_ifindex2,
				     h->l3_ifindex, in.data, in.len, bad.data,
				     &bad.len, &verdict),
			 0);
	assert_int_equal(verdict, DROP);
	ev_drain(h, &log);
	assert_int_equal(log.n, 4);
	assert_int_equal(log.ev[0].type, TP_EVENT_DROP);
	assert_int_equal(log.ev[0].reason, TP_DROP_CT_CLASH);
	assert_int_equal(log.ev[0].verdict, TP_VERDICT_NONE);
	assert_int_equal(log.ev[0].hook, TP_EVENT_HOOK_FROM_TAILNET);
	assert_int_equal(log.ev[0].zone, TH_ZONE);
	assert_int_equal(log.ev[0].ifindex, h->l3_ifindex);
	assert_memory_equal(&log.ev[0].tuple.saddr, &be, 16);
	assert_memory_equal(&log.ev[0].tuple.daddr, &client, 16);
	assert_int_equal(log.ev[0].tuple.sport, htons(8080));
	assert_int_equal(log.ev[0].src_id, 0);
	assert_int_equal(log.ev[0].rule_id, 0);
	assert_int_equal(log.ev[1].reason, TP_DROP_NO_BACKEND);
	assert_int_equal(log.ev[1].tuple.dport, htons(81));
	/* the IP length disagrees: nothing of the header is taken */
	assert_int_equal(log.ev[2].reason, TP_DROP_BAD_LEN);
	assert_int_equal(log.ev[2].tuple.proto, 0);
	assert_int_equal(log.ev[2].tuple.zone, TH_ZONE);
	assert_int_equal(log.ev[3].reason, TP_DROP_ZONE);
	assert_int_equal(log.ev[3].hook, TP_EVENT_HOOK_TO_TAILNET);
	assert_int_equal(log.ev[3].zone, TH_ZONE2);
	/* a denied flow's later packets: counted, not reported */
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, VIP4, 80, TCP, ACK),
			 DROP);
	ev_drain(h, &log);
	assert_int_equal(log.n, 1); /* the re-check's decision, not the drop */
	assert_int_equal(log.ev[0].type, TP_EVENT_FLOW_DENY);
	assert_int_equal(pt_send_in(h, CLIENT4, 1000, VIP4, 80, TCP, ACK),
			 DROP);
	ev_drain(h, &log);
	assert_int_equal(log.n, 0);
}

static int setup_slow_events(void **state)
{
	const struct th_knobs k = { .events_per_sec = 10, .events_burst = 5 };

	return pt_setup_knobs(state, &k);
}

static void test_event_rate_limit(void **state)
{
	struct th *h = *state;
	struct ev_log log;
	cpu_set_t one;
	int i;

	REQUIRE_BPF();
	/* the bucket is per CPU: stay on one */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	/* a flood at one instant: the burst passes, the rest is counted */
	for (i = 0; i < 20; i++)
		assert_int_equal(
			pt_send_in(h, CLIENT4, 2000 + i, POD, 22, TCP, SYN),
			DROP);
	ev_drain(h, &log);
	assert_int_equal(log.n, 5);
	assert_int_equal(th_stat(h, TP_STAT_EVENTS_LIMITED), 15);
	/* 0.3 s later: three more tokens */
	th_set_clock(h, T0 + 300000000ULL);
	for (i = 0; i < 20; i++)
		pt_send_in(h, CLIENT4, 3000 + i, POD, 22, TCP, SYN);
	ev_drain(h, &log);
	assert_int_equal(log.n, 3);
	assert_int_equal(th_stat(h, TP_STAT_EVENTS), 8);
	assert_int_equal(th_stat(h, TP_STAT_DROP(TP_DROP_POLICY)), 40);
}

/* ---- counters ---------------------------------------------------------------- */

static __u64 map_stat(int fd, __u32 id)
{
	struct tp_stat st;

	assert_int_equal(tp_stat_sum(fd, id, &st), 0);
	return st.packets;
}

static void test_counters(void **state)
{
	struct th *h = *state;
	struct tp_svc_key sk = pt_svc_key(VIP4, 80, TCP);
	struct tp_svc svc;
	__u32 r;

	REQUIRE_BPF();
	pt_web_service(h);
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &sk, &svc), 0);
	r = pt_rule(h, ID_CLIENT, ANY, 0, TCP, 22, 22, TP_VERDICT_DENY);
	pt_send_in(h, CLIENT4, 1, POD, 22, TCP, SYN);
	pt_send_in(h, CLIENT4, 2, POD, 22, TCP, SYN);
	pt_send_in(h, CLIENT4, 3, VIP4, 80, TCP, SYN);
	pt_send_in(h, CLIENT4, 3, VIP4, 80, TCP, ACK);
	pt_send_out(h, BE4[0], 8080, CLIENT4, 3, TCP, ACK);
	assert_int_equal(map_stat(h->maps.rule_stats, r), 2);
	assert_int_equal(map_stat(h->maps.rule_stats, 0), 1); /* zone default */
	assert_int_equal(map_stat(h->maps.svc_stats, svc.id), 3);
}

/* ---- the writers' index against a naive model ---------------------------- */

/*
 * Every operation randomized: rules added (new, or a new verdict for an
 * existing match), deleted (present or not), the index rebuilt from
 * tp_rules now and then.  The model is a plain list of rules; after each
 * step the index must say exactly what the list implies (every match
 * found, every group's slots its rules, every zone's count), tp_policy
 * must hold exactly the entries an O(n^2) merge of the list gives, and
 * each zone's TP_ZONE_F_RULES must follow its rules.  The seed is
 * printed; TP_TEST_SEED repeats a run.
 */

#define IX_STEPS 1500
#define IX_MAX	 160

struct ix_rule {
	__u32 id;
	struct tp_rule r;
};

struct ix_model {
	struct ix_rule rule[IX_MAX];
	size_t n;
	__u64 rng;
};

static __u32 ix_rand(struct ix_model *x, __u32 n)
{
	x->rng ^= x->rng << 13;
	x->rng ^= x->rng >> 7;
	x->rng ^= x->rng << 17;
	return (__u32)(x->rng % n);
}

/* Small domains, so matches, groups and overlapping port blocks repeat. */
static struct tp_rule ix_random_rule(struct ix_model *x)
{
	static const __u32 srcs[] = { ANY, 300, 301, 302 };
	static const __u32 dsts[] = { ANY, 400, 401 };
	static const __u8 protos[] = { 0, TCP, TCP, TCP, UDP, IPPROTO_ICMP };
	struct tp_rule r = { .owner = TP_OWNER_TPCTL };
	__u32 lo;

	r.src_id = srcs[ix_rand(x, 4)];
	r.dst_id = dsts[ix_rand(x, 3)];
	r.zone = ix_rand(x, 3);
	r.proto = protos[ix_rand(x, 6)];
	r.verdict = TP_VERDICT_ALLOW + ix_rand(x, 3);
	if (r.proto == TCP || r.proto == UDP) {
		switch (ix_rand(x, 4)) {
		case 0: /* any port */
			break;
		case 1:
			r.port_lo = r.port_hi = 1000 + ix_rand(x, 40);
			break;
		case 2: /* single port, written with port_hi 0 */
			r.port_lo = 1000 + ix_rand(x, 40);
			break;
		default:
			lo = 992 + ix_rand(x, 48);
			r.port_lo = lo;
			r.port_hi = lo + ix_rand(x, 70);
		}
	}
	return r;
}

static int ix_find(const struct ix_model *x, const struct tp_rule *m)
{
	size_t i;

	for (i = 0; i < x->n; i++)
		if (tp_rule_same_match(&x->rule[i].r, m))
			return (int)i;
	return -1;
}

struct ix_entry {
	struct tp_policy_key key;
	struct tp_policy_val val;
};

static int ix_rank(__u8 v)
{
	return v == TP_VERDICT_DENY ? 3 : v == TP_VERDICT_AUDIT ? 2 : 1;
}

/* The entries of @r, by the ABI's description of tp_policy_key. */
static size_t ix_rule_entries(const struct tp_rule *r, __u32 id,
			      struct ix_entry *out)
{
	struct tp_port_block b[32];
	size_t n = 0, i, nb;

	memset(out, 0, sizeof(*out));
	out[0].key.src_id = r->src_id;
	out[0].key.dst_id = r->dst_id;
	out[0].key.zone = r->zone;
	out[0].val.rule_id = id;
	out[0].val.verdict = r->verdict;
	if (!r->proto) {
		out[0].key.prefixlen = TP_POLICY_PLEN_ANY_PROTO;
		n = 1;
	} else if (!r->port_lo && (!r->port_hi || r->port_hi == 0xffff)) {
		out[0].key.prefixlen = TP_POLICY_PLEN_ANY_PORT;
		out[0].key.proto = r->proto;
		n = 1;
	} else {
		nb = tp_port_blocks(r->port_lo,
				    r->port_hi ? r->port_hi : r->port_lo, b,
				    32);
		for (i = 0; i < nb; i++) {
			out[i] = out[0];
			out[i].key.prefixlen = TP_POLICY_PLEN_PORT(b[i].bits);
			out[i].key.proto = r->proto;
			out[i].key.dport = htons(b[i].port);
		}
		n = nb;
	}
	for (i = 0; i < n; i++)
		out[i].val.l4_plen =
			out[i].key.prefixlen - TP_POLICY_PLEN_ANY_PROTO;
	return n;
}

/*
 * Every entry the model's rules give, merged pairwise: O(n^2), plainly.
 * @cnt: how many rules produce each (may be NULL).
 */
static size_t ix_expected(const struct ix_model *x, struct ix_entry *all,
			  __u32 *cnt, size_t cap)
{
	struct ix_entry one[32];
	size_t n = 0, i, j, k, m;

	for (i = 0; i < x->n; i++) {
		m = ix_rule_entries(&x->rule[i].r, x->rule[i].id, one);
		for (j = 0; j < m; j++) {
			for (k = 0; k < n; k++)
				if (!memcmp(&all[k].key, &one[j].key,
					    sizeof(one[j].key)))
					break;
			if (cnt)
				cnt[k] = k == n ? 1 : cnt[k] + 1;
			if (k == n) {
				assert_true(n < cap);
				all[n++] = one[j];
			} else if (ix_rank(one[j].val.verdict) >
					   ix_rank(all[k].val.verdict) ||
				   (one[j].val.verdict == all[k].val.verdict &&
				    one[j].val.rule_id < all[k].val.rule_id)) {
				all[k].val = one[j].val;
			}
		}
	}
	return n;
}

static void ix_check_policy(struct th *h, const struct ix_model *x)
{
	static struct ix_entry want[IX_MAX * 32];
	struct tp_policy_key k, next, *prev = NULL;
	struct tp_policy_val v;
	size_t n = ix_expected(x, want, NULL, IX_MAX * 32), seen = 0, i;

	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(h->maps.policy, &want[i].key, &v) ||
		    memcmp(&v, &want[i].val, sizeof(v)))
			fail_msg(
				"tp_policy: entry %zu (src %u dst %u zone %u proto %u port %u/%u) "
				"is rule %u verdict %u, want rule %u verdict %u",
				i, want[i].key.src_id, want[i].key.dst_id,
				want[i].key.zone, want[i].key.proto,
				ntohs(want[i].key.dport), want[i].key.prefixlen,
				v.rule_id, v.verdict, want[i].val.rule_id,
				want[i].val.verdict);
	}
	while (!bpf_map_get_next_key(h->maps.policy, prev, &next)) {
		k = next;
		prev = &k;
		seen++;
	}
	assert_int_equal(seen, n);
}

static void ix_check_index(struct th *h, const struct ix_model *x)
{
	struct tp_rule_index_key k, next, *prev = NULL;
	struct tp_rule_index_val v;
	static struct ix_entry want[IX_MAX * 32];
	static __u32 cnt[IX_MAX * 32];
	size_t n_want = ix_expected(x, want, cnt, IX_MAX * 32);
	size_t i, j, in_group, matches = 0, slots = 0, shared = 0;
	__u32 id, hi = tp_stat_ids_end(h->maps.rule_stats);
	__u32 zone_n[3] = {};
	struct tp_zone z;

	for (i = 0; i < x->n; i++) {
		const struct tp_rule *r = &x->rule[i].r;

		assert_int_equal(tp_policy_rule_find(&h->maps, r, &id), 0);
		assert_int_equal(id, x->rule[i].id);
		assert_true(id >= 1 && id < hi);
		zone_n[r->zone]++;
	}
	while (!bpf_map_get_next_key(h->maps.rule_index, prev, &next)) {
		k = next;
		prev = &k;
		assert_int_equal(
			bpf_map_lookup_elem(h->maps.rule_index, &k, &v), 0);
		switch (k.kind) {
		case TP_RIDX_MATCH:
			matches++;
			break;
		case TP_RIDX_SLOT:
			slots++;
			/* the slot's rule is of the slot's group */
			for (j = 0; j < x->n; j++)
				if (x->rule[j].id == v.rule_id)
					break;
			assert_true(j < x->n);
			assert_int_equal(x->rule[j].r.src_id, k.src_id);
			assert_int_equal(x->rule[j].r.dst_id, k.dst_id);
			assert_int_equal(x->rule[j].r.zone, k.zone);
			break;
		case TP_RIDX_GROUP:
			for (j = 0, in_group = 0; j < x->n; j++)
				in_group += x->rule[j].r.src_id == k.src_id &&
					    x->rule[j].r.dst_id == k.dst_id &&
					    x->rule[j].r.zone == k.zone;
			assert_int_equal(v.n, in_group);
			assert_true(v.n > 0);
			break;
		case TP_RIDX_ZONE:
			assert_true(k.zone == 1 || k.zone == 2);
			assert_int_equal(v.n, zone_n[k.zone]);
			break;
		case TP_RIDX_TOTAL:
			assert_int_equal(v.n, x->n);
			break;
		case TP_RIDX_SHARED:
			shared++;
			for (j = 0; j < n_want; j++)
				if (want[j].key.src_id == k.src_id &&
				    want[j].key.dst_id == k.dst_id &&
				    want[j].key.zone == k.zone &&
				    want[j].key.proto == k.proto &&
				    ntohs(want[j].key.dport) == k.port_lo &&
				    want[j].key.prefixlen == k.slot)
					break;
			assert_true(j < n_want);
			assert_int_equal(v.n, cnt[j]);
			break;
		default:
			fail_msg("tp_rule_index: an entry of kind %u", k.kind);
		}
	}
	assert_int_equal(matches, x->n);
	assert_int_equal(slots,
			 x->n); /* with the GROUP counts: each slot once */
	for (j = 0, in_group = 0; j < n_want; j++)
		in_group += cnt[j] > 1;
	assert_int_equal(shared,
			 in_group); /* and none for an entry of one rule */
	for (i = 1; i < 3; i++) {
		__u32 key = i;

		memset(&z, 0, sizeof(z));
		bpf_map_lookup_elem(h->maps.zones, &key, &z);
		assert_int_equal(!!(z.flags & TP_ZONE_F_RULES), zone_n[i] > 0);
	}
}

static void ix_step(struct th *h, struct ix_model *x)
{
	struct tp_rule r;
	__u32 id;
	int i, op = ix_rand(x, 10);

	if (op < 6 && x->n < IX_MAX) {
		r = ix_random_rule(x);
		i = ix_find(x, &r);
		assert_int_equal(tp_policy_rule_add(&h->maps, &r, &id), 0);
		if (r.port_lo && !r.port_hi)
			r.port_hi = r.port_lo;
		if (r.proto && !r.port_lo && r.port_hi == 0xffff)
			r.port_hi = 0;
		if (i >= 0) {
			assert_int_equal(id, x->rule[i].id);
			x->rule[i].r = r;
		} else {
			for (i = 0; i < (int)x->n; i++)
				assert_int_not_equal(x->rule[i].id, id);
			x->rule[x->n].id = id;
			x->rule[x->n++].r = r;
		}
	} else if (op < 9 && x->n) {
		i = ix_rand(x, x->n);
		r = x->rule[i].r;
		r.verdict = TP_VERDICT_NONE; /* ignored by a delete */
		assert_int_equal(
			tp_policy_rule_del(&h->maps, &r, TP_OWNER_NONE), 0);
		x->rule[i] = x->rule[--x->n];
	} else if (op < 9) {
		r = ix_random_rule(x);
		if (ix_find(x, &r) < 0)
			assert_int_equal(
				tp_policy_rule_del(&h->maps, &r, TP_OWNER_NONE),
				-ENOENT);
	} else {
		assert_int_equal(tp_policy_index_rebuild(&h->maps), (long)x->n);
	}
}

static void test_rule_index_model(void **state)
{
	struct th *h = *state;
	struct ix_model *x = calloc(1, sizeof(*x));
	const char *env = getenv("TP_TEST_SEED");
	__u64 seed =
		env ? strtoull(env, NULL, 0) : (__u64)time(NULL) * 2654435761u;
	int step;

	REQUIRE_BPF();
	assert_non_null(x);
	x->rng = seed | 1;
	print_message("rule index model: seed %llu (TP_TEST_SEED repeats it)\n",
		      (unsigned long long)seed);
	for (step = 0; step < IX_STEPS; step++) {
		ix_step(h, x);
		ix_check_index(h, x);
		if (step % 10 == 0 || step == IX_STEPS - 1)
			ix_check_policy(h, x);
	}
	print_message("rule index model: %d steps, %zu rules at the end\n",
		      IX_STEPS, x->n);
	free(x);
}

/*
 * Names: one lookup finds an identity by name; renaming, deleting and
 * rebuilding tp_id_by_name keep it the exact inverse of tp_id_names.
 */
static void test_name_index(void **state)
{
	struct th *h = *state;
	struct tp_id_name_key nk = {};
	__u32 id;

	REQUIRE_BPF();
	assert_int_equal(
		tp_identity_name_set(&h->maps, 1000, "web", TP_OWNER_TPCTL), 0);
	assert_int_equal(
		tp_identity_name_set(&h->maps, 1001, "db", TP_OWNER_TPCTL), 0);
	assert_int_equal(tp_identity_parse(&h->maps, "web", &id), 0);
	assert_int_equal(id, 1000);
	/* a name names one identity */
	assert_int_equal(
		tp_identity_name_set(&h->maps, 1001, "web", TP_OWNER_TPCTL),
		-EEXIST);
	/* renamed: the old name resolves to nothing */
	assert_int_equal(tp_identity_name_set(&h->maps, 1000, "frontend",
					      TP_OWNER_TPCTL),
			 0);
	assert_int_equal(tp_identity_parse(&h->maps, "web", &id), -ENOENT);
	assert_int_equal(tp_identity_parse(&h->maps, "frontend", &id), 0);
	assert_int_equal(id, 1000);
	/* now free for another */
	assert_int_equal(
		tp_identity_name_set(&h->maps, 1001, "web", TP_OWNER_TPCTL), 0);
	assert_int_equal(tp_identity_parse(&h->maps, "db", &id), -ENOENT);
	assert_int_equal(tp_identity_name_del(&h->maps, 1001), 0);
	assert_int_equal(tp_identity_parse(&h->maps, "web", &id), -ENOENT);
	snprintf(nk.name, sizeof(nk.name), "web");
	assert_int_not_equal(bpf_map_lookup_elem(h->maps.id_by_name, &nk, &id),
			     0);
	/* an index entry tp_id_names does not back is not believed */
	assert_int_equal(bpf_map_update_elem(h->maps.id_by_name, &nk,
					     &(__u32){ 1000 }, BPF_ANY),
			 0);
	assert_int_equal(tp_identity_parse(&h->maps, "web", &id), -ENOENT);
	/* rebuilt from tp_id_names: only "frontend" */
	assert_int_equal(tp_identity_names_rebuild(&h->maps), 1);
	assert_int_not_equal(bpf_map_lookup_elem(h->maps.id_by_name, &nk, &id),
			     0);
	assert_int_equal(tp_identity_parse(&h->maps, "frontend", &id), 0);
	assert_int_equal(id, 1000);
}

/* ---- all or nothing, with entries shared with another rule ----------------- */

struct ao_entry {
	struct tp_policy_key key;
	struct tp_policy_val val;
};

/* The tp_policy entries of group (@src, @dst), in walk order. */
static size_t ao_group(struct th *h, __u32 src, __u32 dst, struct ao_entry *out,
		       size_t cap)
{
	struct tp_policy_key k, next, *prev = NULL;
	size_t n = 0;

	while (!bpf_map_get_next_key(h->maps.policy, prev, &next)) {
		k = next;
		prev = &k;
		if (k.src_id != src || k.dst_id != dst)
			continue;
		assert_true(n < cap);
		out[n].key = k;
		assert_int_equal(
			bpf_map_lookup_elem(h->maps.policy, &k, &out[n].val),
			0);
		n++;
	}
	return n;
}

/*
 * A new deny rule whose first entry takes over one of an allow rule's
 * (1536-1791) and whose second needs room tp_policy does not have: the
 * add fails, the taken-over entry is the allow rule's again, nothing of
 * the new rule stays in tp_policy, tp_rules or the index (issue 9).
 */
static void test_add_all_or_nothing_shared(void **state)
{
	struct th *h = *state;
	struct tp_rule a =
		pt_rule_spec(300, 400, 1, TCP, 1000, 1999, TP_VERDICT_ALLOW);
	struct tp_rule b;
	struct tp_policy_key fk = { .prefixlen = TP_POLICY_PLEN_ANY_PROTO,
				    .dst_id = 1,
				    .zone = 200 };
	struct tp_policy_val fv = { .verdict = TP_VERDICT_ALLOW };
	struct tp_rule_index_key gk = {
		.kind = TP_RIDX_GROUP, .zone = 1, .src_id = 300, .dst_id = 400
	};
	struct tp_rule_index_val gv;
	struct ao_entry before[16], after[16];
	size_t n_before, n_after;
	__u32 ida, id, n;

	REQUIRE_BPF();
	a.owner = TP_OWNER_TPCTL;
	b = a;
	assert_int_equal(tp_policy_rule_add(&h->maps, &a, &ida), 0);
	n_before = ao_group(h, 300, 400, before, 16);
	assert_int_equal(n_before, 7);
	for (n = 0;; n++) {
		fk.src_id = 100000 + n;
		if (bpf_map_update_elem(h->maps.policy, &fk, &fv, BPF_NOEXIST))
			break;
	}
	assert_int_equal(errno, ENOSPC);

	b.port_lo = 1536;
	b.port_hi = 1799; /* 1536-1791, A's block, then 1792-1799, new */
	b.verdict = TP_VERDICT_DENY;
	assert_int_equal(tp_policy_rule_add(&h->maps, &b, &id), -ENOSPC);
	n_after = ao_group(h, 300, 400, after, 16);
	assert_int_equal(n_after, n_before);
	assert_memory_equal(after, before, n_before * sizeof(before[0]));
	assert_int_equal(tp_policy_rule_find(&h->maps, &b, &id), -ENOENT);
	assert_int_equal(tp_policy_rule_find(&h->maps, &a, &id), 0);
	assert_int_equal(id, ida);
	assert_int_equal(bpf_map_lookup_elem(h->maps.rule_index, &gk, &gv), 0);
	assert_int_equal(gv.n, 1);

	/* with room, the same add goes in whole */
	fk.src_id = 100000 + n - 1;
	assert_int_equal(bpf_map_delete_elem(h->maps.policy, &fk), 0);
	assert_int_equal(tp_policy_rule_add(&h->maps, &b, &id), 0);
	assert_int_equal(ao_group(h, 300, 400, after, 16), 8);
}

/* ---- the group index against the trie ----------------------------------- */

/*
 * The decision as tp_policy_decide() made it before the group index: the
 * trie looked up for each of the candidate groups (out zone 0, no
 * crossing).  The reference of test_group_index_differential.
 */
static void gi_trie_decide(struct th *h, __u32 src, __u32 dst, __u8 proto,
			   __u16 dport, __u32 *rule_id, __u8 *verdict)
{
	struct tp_zone zone = {};
	__u32 zkey = TH_ZONE, score, best = 0;
	bool has_zone = !bpf_map_lookup_elem(h->maps.zones, &zkey, &zone);
	int z, i;

	*rule_id = 0;
	*verdict = TP_VERDICT_NONE;
	for (z = 0; z < 2; z++) {
		if (z == 0 && !(has_zone && (zone.flags & TP_ZONE_F_RULES)))
			continue;
		for (i = 0; i < 4; i++) {
			struct tp_policy_key k = {
				.prefixlen = TP_POLICY_PLEN_PORT(16),
				.src_id = (i & 2) ? ANY : src,
				.dst_id = (i & 1) ? ANY : dst,
				.zone = z == 0 ? TH_ZONE : TP_POLICY_ANY_ZONE,
				.proto = proto,
				.dport = htons(dport),
			};
			struct tp_policy_val v;

			if (bpf_map_lookup_elem(h->maps.policy, &k, &v))
				continue;
			score = ((__u32)(i == 0	  ? 2
					 : i == 3 ? 0
						  : 1)
					 << 8 |
				 (__u32)v.l4_plen << 1 | (z == 0)) +
				1;
			if (score > best ||
			    (score == best &&
			     (ix_rank(v.verdict) > ix_rank(*verdict) ||
			      (v.verdict == *verdict &&
			       v.rule_id < *rule_id)))) {
				best = score;
				*rule_id = v.rule_id;
				*verdict = v.verdict;
			}
		}
	}
	if (*verdict == TP_VERDICT_NONE)
		*verdict = has_zone && zone.default_verdict == TP_VERDICT_DENY
				   ? TP_VERDICT_DENY
				   : TP_VERDICT_ALLOW;
}

#define GI_ROUNDS 12
#define GI_RULES  48  /* rules added per round, some deleted again */
#define GI_FLOWS  400 /* flows decided after each change of a round */
#define GI_N_SRC  5   /* 100.64.20.1..4 named, .9 a tailnet peer */
#define GI_N_DST  4   /* 198.18.3.1..3 named, .9 no identity (world) */

static const char *const gi_src[GI_N_SRC] = { "100.64.20.1", "100.64.20.2",
					      "100.64.20.3", "100.64.20.4",
					      "100.64.20.9" };
static const __u32 gi_src_id[GI_N_SRC] = { 600, 601, 602, 603, TP_ID_TAILNET };
static const char *const gi_dst[GI_N_DST] = { "198.18.3.1", "198.18.3.2",
					      "198.18.3.3", "198.18.3.9" };
static const __u32 gi_dst_id[GI_N_DST] = { 700, 701, 702, TP_ID_WORLD };

/* A port near the edges of the rules' ranges, or any. */
static __u16 gi_port(const struct tp_rule *rules, size_t n)
{
	const struct tp_rule *r = n ? &rules[rand() % n] : NULL;
	int pick = rand() % 6;

	if (!r || pick == 0)
		return (__u16)(rand() % 65536);
	if (pick == 1)
		return (__u16)(r->port_lo - 1);
	if (pick == 2)
		return r->port_lo;
	if (pick == 3)
		return r->port_hi;
	if (pick == 4)
		return (__u16)(r->port_hi + 1);
	return (__u16)(r->port_lo +
		       rand() % ((__u32)r->port_hi - r->port_lo + 1));
}

static void gi_random_rule(struct tp_rule *r)
{
	static const __u16 edges[] = { 0,    1,	   80,	  443,	 1023, 1024,
				       8000, 8999, 32768, 65534, 65535 };
	int form = rand() % 5;
	__u16 a, b;

	memset(r, 0, sizeof(*r));
	r->src_id = rand() % 3 ? gi_src_id[rand() % GI_N_SRC] : ANY;
	r->dst_id = rand() % 3 ? gi_dst_id[rand() % GI_N_DST] : ANY;
	r->zone = rand() % 2 ? TH_ZONE : TP_POLICY_ANY_ZONE;
	r->verdict = TP_VERDICT_ALLOW + rand() % 3;
	r->owner = TP_OWNER_TPCTL;
	if (form == 0)
		return; /* any protocol */
	r->proto = rand() % 2 ? TCP : UDP;
	if (form == 1)
		return; /* any port */
	a = rand() % 2 ? edges[rand() % 11] : (__u16)(rand() % 65536);
	b = form == 2	 ? a
	    : rand() % 2 ? (__u16)(a + rand() % 300)
			 : (__u16)(rand() % 65536);
	r->port_lo = a < b ? a : b;
	r->port_hi = a < b ? b : a;
	if (!r->port_lo && !r->port_hi)
		r->port_lo = r->port_hi = 1;
}

/* @n flows from random sources to random pods, each against the trie. */
static void gi_flows(struct th *h, const struct tp_rule *rules, size_t n_rules,
		     __u16 *sport, unsigned int seed, int round)
{
	int f;

	for (f = 0; f < GI_FLOWS; f++) {
		int si = rand() % GI_N_SRC, di = rand() % GI_N_DST;
		__u8 proto = rand() % 2 ? TCP : UDP, want_v;
		__u16 dport = gi_port(rules, n_rules), sp = (*sport)++;
		struct tp_ct_key k;
		struct tp_ct_entry e;
		__u32 want_id;
		int got;

		gi_trie_decide(h, gi_src_id[si], gi_dst_id[di], proto, dport,
			       &want_id, &want_v);
		got = pt_send_in(h, gi_src[si], sp, gi_dst[di], dport, proto,
				 proto == TCP ? SYN : 0);
		if (got != (want_v == TP_VERDICT_DENY ? DROP : PASS))
			fail_msg("seed=%u round %d: %s:%u -> %s:%u proto %u: "
				 "verdict %d, the trie says %u (rule %u)",
				 seed, round, gi_src[si], sp, gi_dst[di], dport,
				 proto, got, want_v, want_id);
		if (got != PASS)
			continue;
		k = pt_ct_key(gi_src[si], sp, gi_dst[di], dport, proto);
		if (pt_ct_get(h, &k, &e))
			fail_msg(
				"seed=%u round %d: no entry for an allowed flow",
				seed, round);
		if (e.rule_id != want_id || e.verdict != want_v)
			fail_msg(
				"seed=%u round %d: %s -> %s:%u proto %u: rule %u "
				"verdict %u, the trie says rule %u verdict %u",
				seed, round, gi_src[si], gi_dst[di], dport,
				proto, e.rule_id, e.verdict, want_id, want_v);
	}
}

/*
 * Every GROUP entry of one rule names that rule (the datapath decides the
 * group from it); a group of several names none.  Returns how many groups
 * have one rule.
 */
static unsigned int gi_check_groups(struct th *h, unsigned int seed, int round)
{
	struct tp_rule_index_key k, next, *prev = NULL;
	struct tp_rule_index_val v;
	struct tp_rule r;
	unsigned int ones = 0;

	while (!bpf_map_get_next_key(h->maps.rule_index, prev, &next)) {
		k = next;
		prev = &k;
		if (k.kind != TP_RIDX_GROUP ||
		    bpf_map_lookup_elem(h->maps.rule_index, &k, &v))
			continue;
		if (v.n != 1) {
			if (v.rule_id)
				fail_msg("seed=%u round %d: group of %u rules "
					 "names rule %u",
					 seed, round, v.n, v.rule_id);
			continue;
		}
		ones++;
		if (bpf_map_lookup_elem(h->maps.rules, &v.rule_id, &r) ||
		    r.src_id != k.src_id || r.dst_id != k.dst_id ||
		    r.zone != k.zone)
			fail_msg("seed=%u round %d: group (%u, %u, zone %u) of "
				 "one rule names rule %u, not one of its own",
				 seed, round, k.src_id, k.dst_id, k.zone,
				 v.rule_id);
	}
	return ones;
}

/*
 * The datapath skips groups without rules and decides groups of one rule
 * from tp_rules (bpf/lib/policy.h): random rules (few identities, so
 * groups of one, two and more rules, and deletes that leave one), each
 * decision held against the trie's, as the decision was made before.
 * TP_TEST_SEED picks the seed; it is printed.
 */
static void test_group_index_differential(void **state)
{
	struct th *h = *state;
	struct tp_rule rules[GI_RULES * GI_ROUNDS];
	const char *env = getenv("TP_TEST_SEED");
	unsigned int seed = env ? (unsigned int)strtoul(env, NULL, 0)
				: (unsigned int)time(NULL);
	unsigned int ones = 0;
	size_t n = 0, i;
	__u16 sport = 1024;
	int round, j;

	REQUIRE_BPF();
	printf("test_group_index_differential: seed=%u\n", seed);
	srand(seed);
	for (i = 0; i < GI_N_SRC - 1; i++) {
		char cidr[32];

		snprintf(cidr, sizeof(cidr), "%s/32", gi_src[i]);
		pt_ident(h, TH_ZONE, cidr, gi_src_id[i]);
		if (i >= GI_N_DST - 1)
			continue;
		snprintf(cidr, sizeof(cidr), "%s/32", gi_dst[i]);
		pt_ident(h, 0, cidr, gi_dst_id[i]);
	}
	for (round = 0; round < GI_ROUNDS; round++) {
		pt_deflt(h, TH_ZONE,
			 rand() % 2 ? TP_VERDICT_DENY : TP_VERDICT_ALLOW);
		for (j = 0; j < GI_RULES; j++) {
			__u32 id;

			gi_random_rule(&rules[n]);
			if (!tp_policy_rule_add(&h->maps, &rules[n], &id))
				n++;
		}
		ones += gi_check_groups(h, seed, round);
		gi_flows(h, rules, n, &sport, seed, round);
		/* deletes leave groups of one rule that had two */
		for (j = 0; j < GI_RULES / 3 && n; j++) {
			i = (size_t)rand() % n;
			tp_policy_rule_del(&h->maps, &rules[i], TP_OWNER_NONE);
			rules[i] = rules[--n];
		}
		ones += gi_check_groups(h, seed, round);
		gi_flows(h, rules, n, &sport, seed, round);
	}
	/*
	 * The fast path was taken at all: over the rounds, not in each (the
	 * rules pile up, and a late round may leave no group of one rule).
	 */
	assert_true(ones > 0);
}

/* ---- upgrade: pins from before the indexes ------------------------------- */

static __u32 up_rule(const struct tp_maps *m, __u32 src, __u32 dst, __u16 lo,
		     __u16 hi, __u8 verdict)
{
	struct tp_rule r = pt_rule_spec(src, dst, 1, TCP, lo, hi, verdict);
	__u32 id;

	r.owner = TP_OWNER_TPCTL;
	assert_int_equal(tp_policy_rule_add(m, &r, &id), 0);
	return id;
}

static int up_find(const struct tp_maps *m, __u32 src, __u32 dst, __u16 lo,
		   __u16 hi, __u32 *id)
{
	struct tp_rule r = pt_rule_spec(src, dst, 1, TCP, lo, hi, 0);

	return tp_policy_rule_find(m, &r, id);
}

static size_t up_count(int fd, size_t key_size)
{
	char k[64], next[64];
	void *prev = NULL;
	size_t n = 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(k, next, key_size);
		prev = k;
		n++;
	}
	return n;
}

/*
 * A loader starting on pins without tp_rule_index and tp_id_by_name (an
 * upgrade from before them) builds both from tp_rules and tp_id_names, so
 * every existing rule and name is found, deleted and grouped as if the
 * index had always been there; a later start on the same pins keeps them.
 */
static void test_index_built_on_upgrade(void **state)
{
	struct tp_rule_index_key gk = {
		.kind = TP_RIDX_GROUP, .zone = 1, .src_id = 300, .dst_id = 400
	};
	struct tp_rule_index_val gv;
	struct tpd_datapath dp;
	struct tpd_config cfg;
	char err[256], path[PATH_MAX];
	__u32 a, b, c, id;

	(void)state;
	REQUIRE_BPF();
	assert_int_equal(
		tpd_config_parse("{\"interfaces\":[{\"name\":\"tp-none0\"}]}",
				 &cfg, err, sizeof(err)),
		0);
	snprintf(cfg.pin_root, sizeof(cfg.pin_root),
		 "/sys/fs/bpf/tp-poltest-%d", getpid());
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	a = up_rule(&dp.maps, 300, 400, 80, 80, TP_VERDICT_ALLOW);
	b = up_rule(&dp.maps, 300, 400, 1000, 1999, TP_VERDICT_DENY);
	c = up_rule(&dp.maps, 301, 400, 443, 443, TP_VERDICT_ALLOW);
	assert_int_equal(
		tp_identity_name_set(&dp.maps, 1000, "web", TP_OWNER_TPCTL), 0);
	tpd_datapath_close(&dp);

	/* the pins of a version without the indexes */
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_RULE_INDEX);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_ID_BY_NAME);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(up_find(&dp.maps, 300, 400, 80, 80, &id), 0);
	assert_int_equal(id, a);
	assert_int_equal(up_find(&dp.maps, 300, 400, 1000, 1999, &id), 0);
	assert_int_equal(id, b);
	assert_int_equal(up_find(&dp.maps, 301, 400, 443, 443, &id), 0);
	assert_int_equal(id, c);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.rule_index, &gk, &gv), 0);
	assert_int_equal(gv.n, 2);
	assert_int_equal(tp_identity_parse(&dp.maps, "web", &id), 0);
	assert_int_equal(id, 1000);
	/* 1 + 7 + 1 entries; a delete finds its group and takes its 7 */
	assert_int_equal(up_count(dp.maps.policy, sizeof(struct tp_policy_key)),
			 9);
	{
		struct tp_rule r =
			pt_rule_spec(300, 400, 1, TCP, 1000, 1999, 0);

		assert_int_equal(
			tp_policy_rule_del(&dp.maps, &r, TP_OWNER_NONE), 0);
	}
	assert_int_equal(up_count(dp.maps.policy, sizeof(struct tp_policy_key)),
			 2);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.rule_index, &gk, &gv), 0);
	assert_int_equal(gv.n, 1);
	tpd_datapath_close(&dp);

	/* a restart on pins that have them: kept as they are */
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(up_find(&dp.maps, 300, 400, 80, 80, &id), 0);
	assert_int_equal(id, a);
	assert_int_equal(up_find(&dp.maps, 300, 400, 1000, 1999, &id), -ENOENT);
	assert_int_equal(tp_identity_parse(&dp.maps, "web", &id), 0);
	tpd_datapath_close(&dp);

	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	tpd_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
/* with the identities */
#define I(fn) cmocka_unit_test_setup_teardown(fn, setup_identities, pt_teardown)
		I(test_default_allow_and_deny),
		I(test_exact_rule),
		I(test_wildcards),
		I(test_port_range_edges),
		I(test_specificity),
		I(test_deny_wins_at_equal_specificity),
		I(test_rule_delete_restores),
		I(test_stateful_replies),
		I(test_egress_flows),
		I(test_revision_recheck),
		I(test_revision_recheck_dnat_reply),
		I(test_policy_sees_backend),
		I(test_zone_crossing),
		I(test_zone_forward_guard),
		I(test_fragment_bypass),
		I(test_ipv6_exthdr_bypass),
		I(test_events),
		I(test_drop_events),
		cmocka_unit_test_setup_teardown(test_event_rate_limit,
						setup_slow_events, pt_teardown),
		I(test_counters),
		T(test_rule_index_model),
		T(test_name_index),
		cmocka_unit_test_setup_teardown(test_add_all_or_nothing_shared,
						pt_setup_small, pt_teardown),
		T(test_index_built_on_upgrade),
		T(test_group_index_differential),
#undef T
#undef I
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
