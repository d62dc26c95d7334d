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

#include <bpf/bpf.h>

#include "masqtest.h"
#include "pkttest.h"
#include "tailplane/tuple.h"

#define REDIRECT 7 /* TC_ACT_REDIRECT */
#define CPORT	 1000
#define BPORT	 8080

static void xa_env(struct th *h)
{
	mt_masq_cross(h, TH_ZONE2, MASQ2_4, MASQ2_6, PORT_LO, PORT_HI);
	pt_ident(h, TH_ZONE, "100.64.0.0/24", 300);
	pt_ident(h, TH_ZONE2, TH_ZONE2_NET4, 500);
	pt_rule(h, 300, 500, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	pt_rule(h, 500, 300, 0, 0, 0, 0, TP_VERDICT_ALLOW);
	/* zone 1's clients routed into its interface: zone 2 -> 1 crosses */
	assert_int_equal(system("ip route replace 100.64.0.0/24 dev tptun0"),
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
	xa_env(h);
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, m, &out),
		REDIRECT);
	e = pt_ct_must(h, &mkey);
	assert_true(tp_ct_is_masq(&e));
	assert_int_equal(e.out_zone, TH_ZONE2);
	m_out = mt_with_side(m, true, MASQ2_4, ntohs(e.snat_port));
	m_out.ttl = 63; /* forwarded by the node */
	pt_expect_pkt(m_out, &out);
	assert_int_equal(pt_ct_count(h), 2);

	/* C from zone 2: a clash, nothing written, nothing forwarded */
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex2, 0, c, &out),
		DROP);
	assert_int_equal(pt_drops(h, TP_DROP_CT_CLASH), 1);
	xa_absent(h, &c, TH_ZONE2);
	assert_int_equal(pt_ct_count(h), 2);
	assert_int_equal(th_stat(h, TP_STAT_CT_NEW), 1);

	/* what would have been C's reply: M's packet, masqueraded as M's */
	assert_int_equal(
		mt_run_spec(h, TH_FROM_TAILNET, h->l3_ifindex, 0, m, &out),
		REDIRECT);
	pt_expect_pkt(m_out, &out);
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
	pt_ident(h, 0, "198.18.1.0/24", 400);
	pt_ident(h, TH_ZONE2, "198.18.1.0/24", 500);
	pt_rule(h, 300, 400, 0, 0, 0, 0, TP_VERDICT_ALLOW);
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

#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_crossing_on_masq_flow_tuple_clashes),
		T(test_crossing_cannot_feed_other_zone_flow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
