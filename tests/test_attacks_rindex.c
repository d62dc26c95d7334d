// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Attack packet tests from a hostile review of one conntrack entry per
 * DNAT flow (TP_CT_F_RINDEX: no reply-key entry, replies found through
 * tp_be_frontends).  The reply-key entry's map key made two flows owning
 * one reply tuple impossible; now the clash check and the reply lookup
 * go through a userspace-written index.  A client, a backend and an
 * operator try to make two flows own one reply tuple, to pass as a
 * flow's reply, or to leave a flow whose replies nobody finds.  The
 * tests named test_fault_* failed on the branch under review and pin
 * their fix; test_holds_* are attacks that held.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "conntrack.h"
#include "gc.h"
#include "pkttest.h"
#include "rowtest.h"
#include "service.h"

#define VIP4_2 "198.19.0.11" /* a second service of the web backend */

/* The web flow's original tuple: CLIENT4:40000 -> VIP4:80/TCP. */
static struct tp_ct_key web_key(void)
{
	return pt_ct_key(CLIENT4, 40000, VIP4, 80, TCP);
}

/* Take every frontend of the web backend's tuple out of tp_be_frontends. */
static void drop_web_index(struct th *h)
{
	struct tp_be_key bk = { .addr = pt_addr(BE4[0]),
				.port = htons(8080),
				.proto = TCP };

	assert_int_equal(bpf_map_delete_elem(h->maps.be_frontends, &bk), 0);
}

/* Is the web backend still written with TP_BACKEND_F_INDEXED? */
static bool web_backend_flagged(struct th *h)
{
	struct tp_backend be;

	pt_svc_backend(h, VIP4, 80, TCP, &be);
	return be.flags & TP_BACKEND_F_INDEXED;
}

/*
 * The backend of the service at @vip:80/TCP written without the flag
 * (as a writer that could not index it), its index entry left alone.
 */
static void unflag_backend(struct th *h, const char *vip)
{
	struct tp_backend be;
	__u32 id = pt_svc_backend(h, vip, 80, TCP, &be);

	be.flags &= (__u16)~TP_BACKEND_F_INDEXED;
	assert_int_equal(
		bpf_map_update_elem(h->maps.backends, &id, &be, BPF_EXIST), 0);
}

/* ---- faults --------------------------------------------------------------- */

/*
 * The index entry of a flagged backend is gone (deleted by hand, its map
 * unpinned and made again empty, a migration that could not copy it):
 * the flag alone must not make a flow without a reply key, whose replies
 * nothing would find (they would reach the client from the backend's
 * address, untranslated).  The flow takes a reply key instead.
 */
static void test_fault_flag_without_index_entry(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = web_key();

	REQUIRE_BPF();
	pt_web_service(h);
	drop_web_index(h);
	assert_true(web_backend_flagged(h));
	pt_web_in(h, SYN);
	pt_check_ct_dnat_keyed(h, &k, BE4[0], 8080, TP_CT_SYN_SENT);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, 40000, TCP, SYN | ACK),
			 VIP4, 80);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 1);
}

/*
 * A live indexed flow whose index entry goes (by hand, or a map made
 * again): its backend's reply is found by nothing and leaves as a pod's
 * own flow, untranslated; like an evicted reply key, the flow's next
 * packet in the original direction (a second later) gives it a reply
 * key, taking that tuple over, and its replies are translated again.
 */
static void test_fault_index_entry_gone_under_live_flow(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = web_key(),
			 ke = pt_ct_key(BE4[0], 8080, CLIENT4, 40000, TCP);

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_check_ct_dnat(h, &k, BE4[0], 8080, TP_CT_SYN_SENT);
	drop_web_index(h);
	/* meanwhile nothing finds the flow: the reply starts a pod's flow */
	pt_expect_untouched(h, TH_TO_TAILNET,
			    FLOWP(BE4[0], 8080, CLIENT4, 40000, TCP, SYN | ACK),
			    PASS);
	assert_true(pt_ct_must(h, &ke).flags & TP_CT_F_EGRESS);
	th_set_clock(h, T0 + SEC_NS);
	pt_web_in(h, ACK);
	/* the flow's reply key takes that tuple over */
	assert_int_equal(pt_ct_must(h, &ke).flags, TP_CT_F_REPLY_KEY);
	pt_expect_revnat(h, pt_flow(BE4[0], 8080, CLIENT4, 40000, TCP, ACK),
			 VIP4, 80);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 1);
	assert_int_equal(pt_ct_must(h, &k).flags, TP_CT_F_DNAT);
	assert_int_equal(pt_ct_count(h), 2);
}

/*
 * The loader's upgrade step (tp_service_frontends_index()) after the
 * index map came back empty while tp_backends kept its flags (the pin
 * removed, a migration that lost entries): every flagged backend's
 * frontend is indexed again, and a new flow is one entry again.
 */
static void test_fault_upgrade_reindexes_flagged_backends(void **state)
{
	struct th *h = *state;
	struct tp_addr b = pt_addr(BE4[0]), vip = pt_addr(VIP4);
	struct tp_ct_key k = web_key();

	REQUIRE_BPF();
	pt_web_service(h);
	drop_web_index(h);
	assert_true(tp_service_frontends_index(&h->maps) >= 0);
	assert_true(pt_be_frontend_has(h, &b, 8080, TCP, &vip, htons(80)));
	assert_true(web_backend_flagged(h));
	pt_web_in(h, SYN);
	pt_check_ct_dnat(h, &k, BE4[0], 8080, TP_CT_SYN_SENT);
	pt_web_reply(h, SYN | ACK);
}

/*
 * Two live indexed flows on one reply tuple, CLIENT4:40000 to VIP4 and to
 * VIP4_2 of one backend (the state two CPUs creating both at once leave:
 * each one's clash check done before the other's write), the VIP4 flow
 * reset; then a SYN reopens it.  Its reply tuple is the VIP4_2 flow's:
 * a clash, whichever frontend tp_be_frontends lists first (the check
 * passed over the reopened flow's own candidate only when the index
 * listed it first, and let the SYN take the tuple), the reset flow kept.
 */
static void reopen_beside_second_owner(struct th *h, bool second_first)
{
	struct tp_ct_key a = web_key(),
			 b = pt_ct_key(CLIENT4, 40000, VIP4_2, 80, TCP);
	struct tp_ct_entry e;

	if (second_first)
		pt_service(h, VIP4_2, 80, TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	pt_web_service(h);
	if (!second_first)
		pt_service(h, VIP4_2, 80, TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	pt_web_in(h, SYN);
	e = pt_ct_must(h, &a);
	assert_true(e.flags & TP_CT_F_RINDEX);
	assert_int_equal(bpf_map_update_elem(tp_ct_fd(&h->maps, TCP), &b, &e,
					     BPF_NOEXIST),
			 0);
	pt_web_in(h, RST);
	assert_int_equal(pt_ct_must(h, &a).state, TP_CT_RESET);
	pt_expect_untouched(h, TH_FROM_TAILNET,
			    FLOWP(CLIENT4, 40000, VIP4, 80, TCP, SYN), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 1);
	e = pt_ct_must(h, &a);
	assert_int_equal(e.state, TP_CT_RESET);
	assert_int_equal(e.packets[TP_CT_DIR_ORIG], 2);
	assert_int_equal(pt_ct_count(h), 2);
}

/* The index's two orders, one test each (rowtest.h). */
static const struct reopen_case {
	const char *name;
	bool second_first;
} reopen_cases[] = {
	{ "test_fault_reopen_beside_second_owner", false },
	{ "test_fault_reopen_beside_second_owner_listed_first", true },
};

static void test_reopen_case(void **state)
{
	const struct reopen_case *c = rt_row();

	REQUIRE_BPF();
	reopen_beside_second_owner(*state, c->second_first);
}

/* ---- attacks that held ---------------------------------------------------- */

/*
 * The backend's reply to @cport leaves as @owner:80 after @cport ->
 * @vip:80 from the tailnet was the @nth clash (dropped, no entry).
 */
static void clash_keeps_owner(struct th *h, __u16 cport, const char *vip,
			      const char *owner, __u64 nth)
{
	struct tp_ct_key k = pt_ct_key(CLIENT4, cport, vip, 80, TCP);
	struct tp_ct_entry e;

	pt_expect_untouched(h, TH_FROM_TAILNET,
			    FLOWP(CLIENT4, cport, vip, 80, TCP, SYN), DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), nth);
	assert_int_equal(pt_ct_get(h, &k, &e), -ENOENT);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, cport, TCP, SYN | ACK),
			 owner, 80);
}

/*
 * A tailnet peer sends as the backend (allowed IPs covering it) to the
 * client's port of an indexed flow: the tuple is that flow's reply,
 * whose replies never come from the tailnet: dropped, the flow
 * untouched.  Then two services of one backend tuple, one client port:
 * the second flow's reply tuple is the first's, found through the index
 * only (no entry holds it): a clash, and the backend's reply goes to
 * the first VIP.
 */
static void test_holds_two_frontends_one_client_port(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_expect_untouched(h, TH_FROM_TAILNET,
			    FLOWP(BE4[0], 8080, CLIENT4, 40000, TCP, SYN | ACK),
			    DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 1);
	assert_int_equal(pt_web_entry(h).packets[TP_CT_DIR_REPLY], 0);
	pt_service(h, VIP4_2, 80, TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	clash_keeps_owner(h, 40000, VIP4_2, VIP4, 2);
	assert_int_equal(pt_ct_count(h), 1);
}

/*
 * The same with a flow of the reply-key layout first (written before the
 * index, then the backends indexed by the loader's upgrade): the indexed
 * flow to the second VIP clashes with its reply key, and the other way
 * round the keyed flow clashes with the indexed one's index entry.
 */
static void test_holds_keyed_and_indexed_one_reply_tuple(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = web_key();

	REQUIRE_BPF();
	pt_web_service(h);
	pt_service(h, VIP4_2, 80, TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	pt_unindex(h);
	pt_web_in(h, SYN);
	pt_check_ct_dnat_keyed(h, &k, BE4[0], 8080, TP_CT_SYN_SENT);
	assert_true(tp_service_frontends_index(&h->maps) > 0);
	clash_keeps_owner(h, 40000, VIP4_2, VIP4, 1);

	/* the indexed flow first, from another port; then a keyed one */
	pt_expect_dnat(h, pt_flow(CLIENT4, 40001, VIP4_2, 80, TCP, SYN), BE4[0],
		       8080);
	unflag_backend(h, VIP4);
	clash_keeps_owner(h, 40001, VIP4, VIP4_2, 2);
	assert_int_equal(pt_ct_count(h), 3);
}

/*
 * tpctl ct delete on an indexed flow (tp_ct_flow_delete()): its one
 * entry goes, nothing else; the backend's next packet is no reply.
 */
static void test_holds_flow_delete_indexed(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = web_key();
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_service(h, VIP4_2, 80, TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	pt_expect_dnat(h, pt_flow(CLIENT4, 40001, VIP4_2, 80, TCP, SYN), BE4[0],
		       8080);
	e = pt_ct_must(h, &k);
	assert_int_equal(tp_ct_flow_delete(&h->maps, NULL, &k, &e), 0);
	assert_int_equal(pt_ct_get(h, &k, &e), -ENOENT);
	assert_int_equal(pt_ct_count(h), 1);
	pt_expect_untouched(h, TH_TO_TAILNET,
			    FLOWP(BE4[0], 8080, CLIENT4, 40000, TCP, SYN | ACK),
			    PASS);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, 40001, TCP, SYN | ACK),
			 VIP4_2, 80);
}

/*
 * The conntrack GC on indexed flows, and on one that took a reply key
 * when its index entry went: nothing of a live flow is deleted (no
 * orphan reply key found), and the flows go with their entries when
 * they expire.
 */
static void test_holds_gc_indexed_and_healed(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = web_key(),
			 k2 = pt_ct_key(CLIENT4, 40001, VIP4_2, 80, TCP);
	__u64 late = T0 + (TP_CT_TIMEOUT_SYN + 2) * SEC_NS;
	struct tpd_gc_result res = {};

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_service(h, VIP4_2, 80, TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	pt_expect_dnat(h, pt_flow(CLIENT4, 40001, VIP4_2, 80, TCP, SYN), BE4[0],
		       8080);
	drop_web_index(h);
	th_set_clock(h, T0 + SEC_NS);
	pt_web_in(h, ACK);
	pt_expect_dnat(h, pt_flow(CLIENT4, 40001, VIP4_2, 80, TCP, ACK), BE4[0],
		       8080);
	/* both took a reply key: neither is in the index any more */
	assert_int_equal(pt_ct_count(h), 4);
	assert_int_equal(tpd_gc(&h->maps, T0 + SEC_NS, TP_FRAG_TIMEOUT, &res),
			 0);
	assert_int_equal(res.ct_deleted, 0);
	assert_int_equal(res.ct_flows, 2);
	pt_web_reply(h, ACK);
	pt_expect_revnat(h, pt_flow(BE4[0], 8080, CLIENT4, 40001, TCP, ACK),
			 VIP4_2, 80);
	assert_int_equal(pt_ct_must(h, &k2).flags, TP_CT_F_DNAT);
	assert_int_equal(pt_ct_must(h, &k).flags, TP_CT_F_DNAT);
	assert_int_equal(tpd_gc(&h->maps, late, TP_FRAG_TIMEOUT, &res), 0);
	assert_int_equal(pt_ct_count(h), 0);
}

/*
 * The same GC on indexed flows that keep their index entry: one entry
 * each, nothing deleted while they live.
 */
static void test_holds_gc_indexed(void **state)
{
	struct th *h = *state;
	struct tpd_gc_result res = {};

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_web_reply(h, SYN | ACK);
	assert_int_equal(tpd_gc(&h->maps, T0 + SEC_NS, TP_FRAG_TIMEOUT, &res),
			 0);
	assert_int_equal(res.ct_deleted, 0);
	assert_int_equal(res.ct_flows, 1);
	assert_int_equal(pt_ct_count(h), 1);
	pt_web_reply(h, ACK);
	assert_int_equal(pt_web_entry(h).packets[TP_CT_DIR_REPLY], 2);
}

/*
 * Overlapping tailnets: the same client address and port opens the same
 * service in zone 1 and in zone 2.  Each zone's flow is its own entry
 * (its key's zone), and a reply leaving through a zone's interface is
 * that zone's flow's, never the other's.
 */
static void test_holds_overlapping_zones(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k1 = web_key(), k2 = web_key();
	struct pkt_spec syn = pt_flow(CLIENT4, 40000, VIP4, 80, TCP, SYN);
	struct pkt_spec reply =
		pt_flow(BE4[0], 8080, CLIENT4, 40000, TCP, SYN | ACK);

	REQUIRE_BPF();
	k2.zone = TH_ZONE2;
	pt_web_flow(h);
	assert_int_equal(
		pt_send_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, syn), PASS);
	assert_true(pt_ct_must(h, &k2).flags & TP_CT_F_RINDEX);
	assert_int_equal(pt_ct_count(h), 2);
	assert_int_equal(
		pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex2, 0, reply), PASS);
	assert_int_equal(pt_ct_must(h, &k2).packets[TP_CT_DIR_REPLY], 1);
	assert_int_equal(pt_ct_must(h, &k1).packets[TP_CT_DIR_REPLY], 0);
	pt_web_reply(h, SYN | ACK);
	assert_int_equal(pt_ct_must(h, &k1).packets[TP_CT_DIR_REPLY], 1);
	assert_int_equal(pt_ct_must(h, &k2).packets[TP_CT_DIR_REPLY], 1);
	assert_int_equal(th_stat(h, TP_STAT_REVNAT), 2);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
	const struct CMUnitTest tests[] = {
		T(test_fault_flag_without_index_entry),
		T(test_fault_index_entry_gone_under_live_flow),
		T(test_fault_upgrade_reindexes_flagged_backends),
		RT_TEST(reopen_cases, 0, test_reopen_case),
		RT_TEST(reopen_cases, 1, test_reopen_case),
		T(test_holds_two_frontends_one_client_port),
		T(test_holds_keyed_and_indexed_one_reply_tuple),
		T(test_holds_flow_delete_indexed),
		T(test_holds_gc_indexed_and_healed),
		T(test_holds_gc_indexed),
		T(test_holds_overlapping_zones),
	};

	if (RT_MISSING(tests, reopen_cases))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
