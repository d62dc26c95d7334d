// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Attacks on the policy decision since it reads tp_rule_index's GROUP
 * entries (bpf/lib/policy.h: no entry, no rules; one rule, decided from
 * tp_rules; several, the tp_policy trie).  The writer's steps are
 * replayed one map write at a time, as a writer killed between two
 * writes (tpctl under SIGKILL) leaves them, and a packet is decided at
 * each step: nothing may be allowed that neither the policy before nor
 * the one after allows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "identity.h"
#include "pins.h"
#include "pkttest.h"
#include "policy.h"

#define ID_CLIENT 300 /* 100.64.0.0/24, zone TH_ZONE */
#define ID_WEB	  400 /* 198.18.1.0/24, zone 0 */
#define ID_DB	  401 /* 198.18.2.1, zone 0 */

#define ANY TP_POLICY_ANY_ID
#define POD "198.18.1.1"
#define DB  "198.18.2.1"

static void identities(struct th *h)
{
	pt_ident(h, TH_ZONE, "100.64.0.0/24", ID_CLIENT);
	pt_ident(h, 0, "198.18.1.0/24", ID_WEB);
	pt_ident(h, 0, "198.18.2.1/32", ID_DB);
}

static int setup_identities(void **state)
{
	return pt_setup_with(state, identities);
}

/*
 * A first packet from the client (100.64.0.1:@sport) to the pod: a TCP
 * SYN or a UDP packet to @port, or an ICMP echo of id @sport; the verdict.
 */
static int to_pod(struct th *h, __u8 proto, __u16 sport, __u16 port)
{
	if (proto == IPPROTO_ICMP) {
		struct pkt_spec sp = { .family = AF_INET,
				       .saddr = "100.64.0.1",
				       .daddr = POD,
				       .proto = IPPROTO_ICMP,
				       .icmp_type = 8,
				       .icmp_id = sport };

		return pt_send_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, sp);
	}
	return pt_send_in(h, "100.64.0.1", sport, POD, port, proto,
			  proto == TCP ? SYN : 0);
}

/* Write the GROUP entry @gk as a writer would: @n rules, @rule_id the one. */
static void set_group(struct th *h, const struct tp_rule_index_key *gk,
		      __u32 rule_id, __u32 n)
{
	struct tp_rule_index_val gv = { .rule_id = rule_id, .n = n };

	assert_int_equal(
		bpf_map_update_elem(h->maps.rule_index, gk, &gv, BPF_ANY), 0);
}

static struct tp_rule_index_key group_key(__u32 src, __u32 dst, __u16 zone)
{
	struct tp_rule_index_key k;

	memset(&k, 0, sizeof(k));
	k.kind = TP_RIDX_GROUP;
	k.src_id = src;
	k.dst_id = dst;
	k.zone = zone;
	return k;
}

/* The tp_policy entry of a one-port (or any-port: @port 0) TCP rule. */
static struct tp_policy_key entry_key(__u32 src, __u32 dst, __u16 zone,
				      __u8 proto, __u16 port)
{
	struct tp_policy_key k;

	memset(&k, 0, sizeof(k));
	k.prefixlen = port ? TP_POLICY_PLEN_PORT(16) : TP_POLICY_PLEN_ANY_PORT;
	k.src_id = src;
	k.dst_id = dst;
	k.zone = zone;
	k.proto = proto;
	k.dport = htons(port);
	return k;
}

static struct tp_rule rule(__u32 src, __u32 dst, __u8 proto, __u16 lo, __u16 hi,
			   __u8 verdict)
{
	struct tp_rule r = pt_rule_spec(src, dst, 0, proto, lo, hi, verdict);

	r.owner = TP_OWNER_TPCTL;
	return r;
}

/*
 * A writer killed between the index writes of an add and its tp_policy
 * merge leaves the rule in tp_rules and its group's index, not in the
 * trie.  While it is its group's only rule the datapath decides from
 * tp_rules and enforces it; when a second rule joins the group the
 * datapath walks the trie, which never had it: a deny `tpctl policy
 * list` shows stops being enforced when an unrelated allow is added
 * beside it (before the group index the trie decided throughout).  The
 * second add repairs the first rule's entries.
 */
static void test_killed_add_then_second_rule(void **state)
{
	struct th *h = *state;
	struct tp_rule deny =
		rule(ID_CLIENT, ID_WEB, TCP, 22, 22, TP_VERDICT_DENY);
	struct tp_policy_key pk = entry_key(ID_CLIENT, ID_WEB, 0, TCP, 22);
	__u32 id;

	REQUIRE_BPF();
	assert_int_equal(tp_policy_rule_add(&h->maps, &deny, &id), 0);
	/* the merge never happened */
	assert_int_equal(bpf_map_delete_elem(h->maps.policy, &pk), 0);
	assert_int_equal(to_pod(h, TCP, 1000, 22), DROP);
	/* an allow of another port joins the group */
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 80, 80, TP_VERDICT_ALLOW);
	assert_int_equal(to_pod(h, TCP, 1001, 80), PASS);
	/* the listed deny still holds: neither policy allows port 22 */
	assert_int_equal(to_pod(h, TCP, 1002, 22), DROP);
}

/*
 * A writer killed inside tp_ridx_insert(), after the slot and match
 * entries and before the GROUP count, leaves a slot past the count.  The
 * next add to the group takes that slot over; deleting the half-added
 * rule (it is listed, so an operator does) then deletes the slot the
 * other rule holds and leaves the group "one rule", naming the first:
 * the datapath decides the group from it and ignores a listed deny that
 * tp_rules and tp_policy hold.  Before the group index the trie decided.
 * The next add counts such a slot in instead.
 */
static void test_killed_index_slot_taken_over(void **state)
{
	struct th *h = *state;
	struct tp_rule half =
		rule(ID_CLIENT, ID_WEB, TCP, 22, 22, TP_VERDICT_DENY);
	struct tp_rule_index_key sk, mk;
	struct tp_rule_index_val sv = { .rule_id = 90 },
				 mv = { .rule_id = 90, .n = 1 };
	__u32 half_id = 90;

	REQUIRE_BPF();
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 0, 0, TP_VERDICT_ALLOW);
	/* tpctl policy add (the 22 deny), killed before the GROUP count */
	memset(&sk, 0, sizeof(sk));
	sk.kind = TP_RIDX_SLOT;
	sk.src_id = ID_CLIENT;
	sk.dst_id = ID_WEB;
	sk.slot = 1;
	memset(&mk, 0, sizeof(mk));
	mk.kind = TP_RIDX_MATCH;
	mk.src_id = ID_CLIENT;
	mk.dst_id = ID_WEB;
	mk.proto = TCP;
	mk.port_lo = 22;
	mk.port_hi = 22;
	assert_int_equal(bpf_map_update_elem(h->maps.rules, &half_id, &half,
					     BPF_NOEXIST),
			 0);
	assert_int_equal(
		bpf_map_update_elem(h->maps.rule_index, &sk, &sv, BPF_ANY), 0);
	assert_int_equal(
		bpf_map_update_elem(h->maps.rule_index, &mk, &mv, BPF_ANY), 0);
	/* a deny of 443 beside them; then the half rule, listed, deleted */
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 443, 443, TP_VERDICT_DENY);
	assert_int_equal(to_pod(h, TCP, 8000, 443), DROP);
	assert_int_equal(tp_policy_rule_del(&h->maps, &half, TP_OWNER_NONE), 0);
	assert_int_equal(to_pod(h, TCP, 8001, 443), DROP);
}

/*
 * An index without the GROUP entry of a group tp_policy and tp_rules
 * hold (a rebuild that stopped at an error, which the loader logs and
 * goes on from; a writer that knows no index): the datapath reads "no
 * rules" and gives the zone's default, so a deny in a default-allow zone
 * (or zone 0) is ignored.  Before the group index the trie decided.
 */
static void test_group_entry_missing(void **state)
{
	struct th *h = *state;
	struct tp_rule_index_key gk = group_key(ID_CLIENT, ID_WEB, 0);

	REQUIRE_BPF();
	pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 22, 22, TP_VERDICT_DENY);
	assert_int_equal(to_pod(h, TCP, 1000, 22), DROP);
	FAULT_UNFIXED("a missing GROUP entry reads as a group without rules: "
		      "a deny in tp_rules and tp_policy is ignored");
	assert_int_equal(bpf_map_delete_elem(h->maps.rule_index, &gk), 0);
	assert_int_equal(to_pod(h, TCP, 1001, 22), DROP);
}

/*
 * A group of two rules going to one: every step of tp_policy_rule_out()
 * (tp_rules, then the index, then the trie), and the GROUP entry in
 * every state it can hold between them (the deleted rule named, the
 * count not yet moved), with a packet decided at each.  Default deny:
 * port 22 is denied before and after, port 80 allowed before only.
 */
static void test_two_to_one_every_step(void **state)
{
	struct th *h = *state;
	struct tp_rule_index_key gk = group_key(ID_CLIENT, ID_WEB, 0);
	struct tp_policy_key any = entry_key(ID_CLIENT, ID_WEB, 0, TCP, 0);
	struct tp_policy_val av;
	__u32 allow_id, deny_id;
	__u16 sport = 2000;
	int step;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	allow_id =
		pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 0, 0, TP_VERDICT_ALLOW);
	deny_id =
		pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 22, 22, TP_VERDICT_DENY);
	assert_int_equal(bpf_map_lookup_elem(h->maps.policy, &any, &av), 0);
	for (step = 0; step < 6; step++) {
		switch (step) {
		case 0: /* as it was */
			break;
		case 1: /* tp_rules first */
			assert_int_equal(
				bpf_map_delete_elem(h->maps.rules, &allow_id),
				0);
			break;
		case 2: /* a GROUP entry naming the deleted rule */
			set_group(h, &gk, allow_id, 1);
			break;
		case 3: /* the count moved, the trie not yet */
			set_group(h, &gk, deny_id, 1);
			break;
		case 4: /* an old writer's count: no rule named */
			set_group(h, &gk, 0, 1);
			break;
		case 5: /* the trie */
			set_group(h, &gk, deny_id, 1);
			assert_int_equal(
				bpf_map_delete_elem(h->maps.policy, &any), 0);
			break;
		}
		if (to_pod(h, TCP, sport++, 22) != DROP)
			fail_msg("step %d: port 22 allowed", step);
		/* other ports: the old or the new policy, never another */
		(void)to_pod(h, TCP, sport++, 80);
		if (pt_send_in(h, "100.64.0.1", sport++, POD, 80, UDP, 0) !=
		    DROP)
			fail_msg("step %d: UDP allowed", step);
	}
	assert_int_equal(to_pod(h, TCP, sport++, 80), DROP);
}

/*
 * A GROUP entry naming a rule id that was deleted and reused by a rule of
 * another group (a writer killed before the index followed): the other
 * group's rule must not decide this group.
 */
static void test_group_names_rule_of_other_group(void **state)
{
	struct th *h = *state;
	struct tp_rule_index_key gk = group_key(ID_CLIENT, ID_WEB, 0);
	struct tp_rule other =
		rule(ID_CLIENT, ID_DB, TCP, 0, 0, TP_VERDICT_ALLOW);
	__u32 deny_id, other_id;

	REQUIRE_BPF();
	deny_id = pt_rule(h, ID_CLIENT, ID_WEB, 0, TCP, 0, 0, TP_VERDICT_DENY);
	other_id = pt_rule(h, ID_CLIENT, ID_DB, 0, TCP, 0, 0, TP_VERDICT_ALLOW);
	/* the web group names the db rule, its own rule's id holds an allow */
	set_group(h, &gk, other_id, 1);
	assert_int_equal(to_pod(h, TCP, 3000, 443), DROP);
	set_group(h, &gk, deny_id, 1);
	assert_int_equal(
		bpf_map_update_elem(h->maps.rules, &deny_id, &other, BPF_EXIST),
		0);
	assert_int_equal(to_pod(h, TCP, 3001, 443), DROP);
}

/*
 * A verdict changed in place in a group of one rule: the open flow is
 * decided again on its next packet (the re-check takes the same path),
 * both ways.
 */
static void test_recheck_one_rule_group(void **state)
{
	struct th *h = *state;
	struct tp_rule r =
		rule(ID_CLIENT, ID_WEB, TCP, 1000, 1999, TP_VERDICT_ALLOW);
	__u32 id, id2;

	REQUIRE_BPF();
	assert_int_equal(tp_policy_rule_add(&h->maps, &r, &id), 0);
	assert_int_equal(to_pod(h, TCP, 4000, 1500), PASS);
	assert_int_equal(
		pt_send_out(h, POD, 1500, "100.64.0.1", 4000, TCP, SYN | ACK),
		PASS);
	r.verdict = TP_VERDICT_DENY;
	assert_int_equal(tp_policy_rule_add(&h->maps, &r, &id2), 0);
	assert_int_equal(id2, id);
	assert_int_equal(pt_send_in(h, "100.64.0.1", 4000, POD, 1500, TCP, ACK),
			 DROP);
	assert_int_equal(
		pt_send_out(h, POD, 1500, "100.64.0.1", 4000, TCP, ACK), DROP);
	r.verdict = TP_VERDICT_AUDIT;
	assert_int_equal(tp_policy_rule_add(&h->maps, &r, &id2), 0);
	assert_int_equal(pt_send_in(h, "100.64.0.1", 4000, POD, 1500, TCP, ACK),
			 PASS);
}

/*
 * Edges of the one-rule decision: the highest port, unaligned ranges at
 * their block boundaries, port 0, any protocol, ICMP echo, zone rules
 * against zone-any rules, a named pair against wildcards; each decision
 * held against the rule a trie walk gives (the same group with a second,
 * never-matching rule, so that the datapath walks the trie).
 */
struct edge_case {
	__u8 proto;
	__u16 lo, hi;
	__u16 port;
};

static void test_one_rule_edges(void **state)
{
	static const struct edge_case cases[] = {
		{ TCP, 65535, 65535, 65535 }, { TCP, 65535, 65535, 65534 },
		{ TCP, 1, 65535, 65535 },     { TCP, 1, 65535, 0 },
		{ TCP, 0, 65534, 65534 },     { TCP, 0, 65534, 65535 },
		{ TCP, 0, 65534, 0 },	      { UDP, 1000, 1999, 999 },
		{ UDP, 1000, 1999, 1000 },    { UDP, 1000, 1999, 1023 },
		{ UDP, 1000, 1999, 1024 },    { UDP, 1000, 1999, 1999 },
		{ UDP, 1000, 1999, 2000 },    { TCP, 3, 5, 4 },
		{ TCP, 32767, 32768, 32768 }, { TCP, 32767, 32768, 32767 },
		{ IPPROTO_ICMP, 0, 0, 0 },    { 0, 0, 0, 443 },
	};
	struct th *h = *state;
	__u16 sport = 5000;
	size_t i;
	int pass;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct edge_case *c = &cases[i];
		struct tp_rule r = rule(ID_CLIENT, ID_WEB, c->proto, c->lo,
					c->hi, TP_VERDICT_ALLOW);
		/* never matches a flow of this test: UDP port 9 from nobody */
		struct tp_rule pad =
			rule(ID_CLIENT, ID_WEB, UDP, 9, 9, TP_VERDICT_DENY);
		__u32 id;
		int got[2];

		for (pass = 0; pass < 2; pass++) {
			assert_int_equal(tp_policy_rule_add(&h->maps, &r, &id),
					 0);
			if (pass)
				assert_int_equal(
					tp_policy_rule_add(&h->maps, &pad, &id),
					0);
			got[pass] = to_pod(h, c->proto ? c->proto : UDP,
					   sport++, c->port);
			tp_policy_rule_del(&h->maps, &r, TP_OWNER_NONE);
			tp_policy_rule_del(&h->maps, &pad, TP_OWNER_NONE);
		}
		if (got[0] != got[1])
			fail_msg("proto %u %u-%u port %u: one rule %d, trie %d",
				 c->proto, c->lo, c->hi, c->port, got[0],
				 got[1]);
	}
}

/*
 * The specificity a group of one rule gives a port range rule, exactly:
 * the allow (source named) of range [lo, hi] against a deny (destination
 * named, the same count of identities) of the aligned block around the
 * port with as many fixed bits as the allow's block (a tie: deny wins)
 * and with one fewer (the allow wins).  The block is lib/policy.c's
 * tp_port_blocks(), which the trie holds; any error in the datapath's
 * closed form flips one of the two.
 */
static void probe_block(struct th *h, __u16 lo, __u16 hi, __u16 port,
			__u16 *sport)
{
	struct tp_port_block b[32];
	struct tp_rule allow =
		rule(ID_CLIENT, ANY, TCP, lo, hi, TP_VERDICT_ALLOW);
	struct tp_rule pad = rule(ANY, ID_WEB, UDP, 9, 9, TP_VERDICT_DENY);
	size_t n, i;
	int bits = -1, d, got;
	__u32 id;

	n = tp_port_blocks(lo, hi, b, 32);
	for (i = 0; i < n; i++)
		if (port >= b[i].port &&
		    (__u32)(port - b[i].port) < (1u << (16 - b[i].bits)))
			bits = b[i].bits;
	assert_true(bits > 0);
	assert_int_equal(tp_policy_rule_add(&h->maps, &allow, &id), 0);
	/* the deny's group has two rules: the trie decides it, the reference */
	assert_int_equal(tp_policy_rule_add(&h->maps, &pad, &id), 0);
	for (d = 0; d < 2; d++) {
		__u32 size = 1u << (16 - (bits - d));
		__u16 start = (__u16)(port & ~(size - 1));
		struct tp_rule deny =
			rule(ANY, ID_WEB, TCP, start, (__u16)(start + size - 1),
			     TP_VERDICT_DENY);

		assert_int_equal(tp_policy_rule_add(&h->maps, &deny, &id), 0);
		got = pt_send_in(h, "100.64.0.1", (*sport)++, POD, port, TCP,
				 SYN);
		if (got != (d ? PASS : DROP))
			fail_msg("range %u-%u port %u (block of %d bits) "
				 "against a deny of %d bits: %d",
				 lo, hi, port, bits, bits - d, got);
		tp_policy_rule_del(&h->maps, &deny, TP_OWNER_NONE);
	}
	tp_policy_rule_del(&h->maps, &allow, TP_OWNER_NONE);
	tp_policy_rule_del(&h->maps, &pad, TP_OWNER_NONE);
}

static void test_one_rule_specificity(void **state)
{
	static const __u16 ranges[][2] = {
		{ 1000, 1999 },	  { 1024, 2047 },   { 1, 65535 },
		{ 0, 65534 },	  { 3, 5 },	    { 80, 80 },
		{ 65535, 65535 }, { 32767, 32768 }, { 1023, 1025 },
		{ 8000, 8999 },	  { 2, 65533 },	    { 4097, 12287 },
	};
	struct th *h = *state;
	__u16 sport = 7000, lo, hi;
	size_t i;
	int j;

	REQUIRE_BPF();
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		lo = ranges[i][0];
		hi = ranges[i][1];
		probe_block(h, lo, hi, lo, &sport);
		probe_block(h, lo, hi, hi, &sport);
		probe_block(h, lo, hi, (__u16)(lo + (hi - lo) / 2), &sport);
		if (hi > lo) {
			probe_block(h, lo, hi, (__u16)(lo + 1), &sport);
			probe_block(h, lo, hi, (__u16)(hi - 1), &sport);
		}
	}
	srand(1);
	for (j = 0; j < 40; j++) {
		lo = (__u16)(rand() % 65536);
		hi = (__u16)(lo + rand() % (65536 - lo));
		if (!lo && hi == 65535)
			hi--;
		probe_block(h, lo, hi,
			    (__u16)(lo + rand() % ((__u32)hi - lo + 1)),
			    &sport);
	}
}

/*
 * An add that fails (tp_policy full) after its index entries went in:
 * from the GROUP entry on, the datapath decided the rule's new group
 * from tp_rules, so a flow started in that window was allowed by a rule
 * that never was.  The window is replayed write by write (tp_rules, the
 * GROUP entry, a SYN, the rollback), then the real add fails: the flow's
 * next packet must be decided again, and denied.
 */
static int setup_small_policy(void **state)
{
	static const struct th_knobs knobs = { .policy_size = 4 };

	return pt_setup_knobs(state, &knobs);
}

static void test_failed_add_window_rechecked(void **state)
{
	struct th *h = *state;
	struct tp_rule allow =
		rule(ID_CLIENT, ID_WEB, TCP, 443, 443, TP_VERDICT_ALLOW);
	struct tp_rule_index_key gk = group_key(ID_CLIENT, ID_WEB, 0);
	__u32 id = 77, port;

	REQUIRE_BPF();
	identities(h);
	pt_deflt(h, TH_ZONE, TP_VERDICT_DENY);
	for (port = 1; port <= 4; port++)
		pt_rule(h, ID_CLIENT, ID_DB, 0, TCP, port, port,
			TP_VERDICT_ALLOW);
	/* the failing add's window, as its writes make it */
	assert_int_equal(
		bpf_map_update_elem(h->maps.rules, &id, &allow, BPF_NOEXIST),
		0);
	set_group(h, &gk, id, 1);
	assert_int_equal(to_pod(h, TCP, 6000, 443), PASS);
	assert_int_equal(bpf_map_delete_elem(h->maps.rule_index, &gk), 0);
	assert_int_equal(bpf_map_delete_elem(h->maps.rules, &id), 0);
	/* the add itself: tp_policy is full */
	assert_int_equal(tp_policy_rule_add(&h->maps, &allow, &id), -ENOSPC);
	assert_int_equal(to_pod(h, TCP, 6001, 443), DROP);
	/* the flow the window let in: no policy allows it */
	assert_int_equal(pt_send_in(h, "100.64.0.1", 6000, POD, 443, TCP, ACK),
			 DROP);
}

/*
 * 022defc: a batch keeps the pin root open and takes the writers' lock
 * again for each line (tp_pins_release(), tp_pins_relock()).  Between
 * two lines another writer gets in; while a line holds it nobody does;
 * a holder killed by SIGKILL frees it; the fd kept open between lines
 * holds no lock and is not reported as a holder.
 */
static void test_batch_relock(void **state)
{
	char dir[] = "/tmp/tp-relock-XXXXXX";
	int fd, other, pipefd[2], status;
	pid_t pid;
	char c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fd = tp_pins_lock_timeout(dir, 0);
	assert_true(fd >= 0);
	assert_int_equal(tp_pins_lock_timeout(dir, 0), -ETIMEDOUT);
	assert_int_equal(tp_pins_lock_holder(dir), getpid());
	/* between two lines: released, not held, another writer gets in */
	tp_pins_release(fd);
	assert_int_equal(tp_pins_lock_holder(dir), 0);
	other = tp_pins_lock_timeout(dir, 0);
	assert_true(other >= 0);
	assert_int_equal(tp_pins_relock_timeout(fd, 0), -ETIMEDOUT);
	tp_pins_unlock(other);
	assert_int_equal(tp_pins_relock_timeout(fd, 0), 0);
	assert_int_equal(tp_pins_lock_timeout(dir, 0), -ETIMEDOUT);
	tp_pins_unlock(fd);
	/* a writer killed while holding it */
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int cfd = tp_pins_lock_timeout(dir, 1000);

		if (cfd < 0)
			_exit(1);
		(void)!write(pipefd[1], "l", 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	assert_int_equal(tp_pins_lock_timeout(dir, 0), -ETIMEDOUT);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	fd = tp_pins_lock_timeout(dir, 1000);
	assert_true(fd >= 0);
	tp_pins_unlock(fd);
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
/* with the identities */
#define I(fn) cmocka_unit_test_setup_teardown(fn, setup_identities, pt_teardown)
		I(test_killed_add_then_second_rule),
		I(test_group_entry_missing),
		I(test_killed_index_slot_taken_over),
		I(test_two_to_one_every_step),
		I(test_group_names_rule_of_other_group),
		I(test_recheck_one_rule_group),
		I(test_one_rule_edges),
		I(test_one_rule_specificity),
		cmocka_unit_test_setup_teardown(
			test_failed_add_window_rechecked, setup_small_policy,
			pt_teardown),
#undef I
		cmocka_unit_test(test_batch_relock),
	};

	if (getenv("TP_TEST_FILTER"))
		cmocka_set_test_filter(getenv("TP_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
