// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Hostile cases of the interface lookup (tp_iface_slots before tp_ifaces,
 * abi.h): a packet must never be classified with another interface's
 * zone or mode, whatever the slot of its bucket holds.  Each case's
 * verdicts are those of the datapath before the slots (a tp_ifaces hash
 * lookup): an ifindex 0 (this host's own packets), an ifindex that a pod's
 * veth takes after a tailnet interface went, ifindexes at the modulo's
 * edges, and every step a writer can be killed at.
 *
 * What the datapath made of an interface is read back from what a packet
 * left: an egress flow's conntrack entry says whether the interface it
 * came in through was an uplink (TP_CT_F_UPLINK).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>

#include <bpf/bpf.h>

#include "config.h"
#include "datapath.h"
#include "fixture.h"
#include "iface.h"
#include "pkttest.h"

#define POD	"198.18.2.1" /* a pod: its flows leave to the tailnet */
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct tp_iface AS_UPLINK = { .flags = TP_IFACE_F_UPLINK };

/*
 * A fresh UDP flow of a pod to the tailnet that came in through @in:
 * the TP_CT_F_UPLINK its conntrack entry got (each call its own port).
 */
static __u8 uplink_flag_of(struct th *h, __u32 in)
{
	static __u16 sport = 20000;
	struct pkt_spec sp;
	struct tp_ct_key k;

	sport++;
	sp = pt_flow(POD, sport, CLIENT4, 53, UDP, 0);
	k = pt_ct_key(POD, sport, CLIENT4, 53, UDP);
	assert_int_equal(pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, in, sp),
			 PASS);
	return pt_ct_must(h, &k).flags & TP_CT_F_UPLINK;
}

/* Each of @n ifindexes @in seen as an uplink exactly when @up says so. */
static void expect_uplinks(struct th *h, const __u32 *in, const bool *up,
			   size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		print_message("ifindex %u: %s\n", in[i],
			      up[i] ? "uplink" : "none");
		assert_int_equal(!!uplink_flag_of(h, in[i]), up[i]);
	}
}

/* Write @bucket's slot as a writer that skips lib/iface.c would. */
static void slot_put(struct th *h, __u32 bucket, union tp_iface_slot s)
{
	assert_int_equal(
		bpf_map_update_elem(h->maps.iface_slots, &bucket, &s, BPF_ANY),
		0);
}

/*
 * Ifindex 0 is no interface: this host's own packets (no ingress
 * interface) are never looked up, even with an entry of key 0 in
 * tp_ifaces (no writer of tailplane makes one; a foreign one could) and
 * the slot of bucket 0 shared, so that a miss goes on to tp_ifaces.  The
 * host's reply to a tailnet flow is reverse-NATed, as before the slots:
 * taken for the crossing of another tailnet zone's, it would be no reply.
 */
static void test_ifindex0_never_looked_up(void **state)
{
	struct th *h = *state;
	struct tp_iface other_zone = {
		.flags = TP_IFACE_F_TAILNET | TP_IFACE_F_L3, .zone = TH_ZONE2
	};
	struct pkt_spec reply = pt_flow(BE4[0], 8080, CLIENT4, 40000, TCP,
					PKT_TCP_SYN | PKT_TCP_ACK);
	struct pkt in, want;
	__u32 zero = 0;

	REQUIRE_BPF();
	assert_int_equal(tp_iface_set(&h->maps, TP_IFACE_SLOTS, &AS_UPLINK), 0);
	assert_int_equal(tp_iface_set(&h->maps, 2 * TP_IFACE_SLOTS, &AS_UPLINK),
			 0);
	assert_int_equal(bpf_map_update_elem(h->maps.ifaces, &zero, &other_zone,
					     BPF_ANY),
			 0);
	pt_web_flow(h);
	pt_build(&reply, &in);
	reply.saddr = VIP4;
	reply.sport = 80;
	pt_build(&reply, &want);
	pt_run_expect_from(h, TH_TO_TAILNET, 0, &in, PASS, &want);
}

/*
 * A pod's UDP flow to the tailnet that came in through @in: its verdict,
 * and whether its conntrack entry took @in for an uplink (each call its
 * own port; no entry: false).
 */
static int pod_flow_via(struct th *h, __u32 in, bool *uplink)
{
	static __u16 sport = 30000;
	struct tp_ct_entry e;
	struct tp_ct_key k;
	int verdict;

	sport++;
	k = pt_ct_key(POD, sport, CLIENT4, 53, UDP);
	verdict = pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex, in,
			       pt_flow(POD, sport, CLIENT4, 53, UDP, 0));
	*uplink = !pt_ct_get(h, &k, &e) && (e.flags & TP_CT_F_UPLINK);
	return verdict;
}

/*
 * A tailnet interface of zone 2 goes (as the loader forgets a deleted
 * interface) and a pod's veth takes its ifindex: the veth's packets are
 * a pod's (no zone crossing, no uplink), and the uplink that shared the
 * gone interface's bucket is still one.  Then the uplink goes too and a
 * pod's veth takes its ifindex: no uplink either.  The verdicts of the
 * pod's packets are those of an ifindex never described.
 */
static void test_pod_takes_gone_ifindex(void **state)
{
	struct th *h = *state;
	struct tp_iface wg = { .flags = TP_IFACE_F_TAILNET | TP_IFACE_F_L3,
			       .zone = TH_ZONE2 };
	__u32 gone = h->l3_ifindex + 50, shared = gone + TP_IFACE_SLOTS,
	      never = gone + 1;
	int pod_verdict;
	bool up;

	REQUIRE_BPF();
	pod_verdict = pod_flow_via(h, never, &up);
	assert_false(up);
	assert_int_equal(tp_iface_set(&h->maps, gone, &wg), 0);
	assert_int_equal(tp_iface_set(&h->maps, shared, &AS_UPLINK), 0);
	/* while it is there, a zone 2 packet: a crossing no rule allows */
	assert_int_equal(pod_flow_via(h, gone, &up), DROP);
	assert_int_not_equal(pod_verdict, DROP);
	assert_int_equal(tp_iface_del(&h->maps, gone), 0);
	assert_int_equal(pod_flow_via(h, gone, &up), pod_verdict);
	assert_false(up);
	assert_int_equal(pod_flow_via(h, shared, &up), PASS);
	assert_true(up);
	assert_int_equal(tp_iface_del(&h->maps, shared), 0);
	assert_int_equal(pod_flow_via(h, shared, &up), pod_verdict);
	assert_false(up);
	assert_int_equal(tp_iface_slots_rebuild(&h->maps), 0);
}

/*
 * Ifindexes at the modulo's edges: the last slot, the first of the next
 * round, and the largest ifindex the kernel hands out; each is found,
 * and none makes its neighbours or the other ifindexes of its bucket an
 * uplink.
 */
static void test_modulo_edges(void **state)
{
	struct th *h = *state;
	const __u32 up[] = { TP_IFACE_SLOTS - 1, TP_IFACE_SLOTS, 0x7fffffffu };
	const __u32 in[] = { TP_IFACE_SLOTS - 1,
			     TP_IFACE_SLOTS,
			     0x7fffffffu,
			     2 * TP_IFACE_SLOTS - 1,
			     2 * TP_IFACE_SLOTS,
			     TP_IFACE_SLOTS + 1,
			     0x7fffffffu - TP_IFACE_SLOTS };
	const bool want[] = { true, true, true, false, false, false, false };
	size_t i;

	REQUIRE_BPF();
	for (i = 0; i < N_OF(up); i++)
		assert_int_equal(tp_iface_set(&h->maps, up[i], &AS_UPLINK), 0);
	expect_uplinks(h, in, want, N_OF(in));
	/* the same with every slot of theirs zeroed: tp_ifaces answers */
	for (i = 0; i < N_OF(up); i++)
		slot_put(h, up[i] % TP_IFACE_SLOTS,
			 (union tp_iface_slot){ .word = 0 });
	expect_uplinks(h, in, want, N_OF(in));
}

/*
 * A writer killed at each step of a change (lib/iface.c: zero the slot,
 * change tp_ifaces, fill the slot): the slot left zeroed, before and
 * after tp_ifaces changed, is read through tp_ifaces, and the next write
 * of the bucket, of another interface, fills it right.
 */
static void test_writer_killed_between(void **state)
{
	struct th *h = *state;
	__u32 a = h->l3_ifindex + 40, b = a + TP_IFACE_SLOTS;
	const __u32 in[] = { a, b };
	const bool before[] = { true, false }, after[] = { false, true };
	union tp_iface_slot zero = { .word = 0 };
	union tp_iface_slot s;
	__u32 bucket = a % TP_IFACE_SLOTS;

	REQUIRE_BPF();
	assert_int_equal(tp_iface_set(&h->maps, a, &AS_UPLINK), 0);
	/* killed after zeroing the slot, before deleting a */
	slot_put(h, bucket, zero);
	expect_uplinks(h, in, before, N_OF(in));
	/* killed after deleting a, before the fill */
	assert_int_equal(bpf_map_delete_elem(h->maps.ifaces, &a), 0);
	expect_uplinks(h, in, (const bool[]){ false, false }, N_OF(in));
	/* the next write of the bucket fills the slot from tp_ifaces */
	assert_int_equal(tp_iface_set(&h->maps, b, &AS_UPLINK), 0);
	assert_int_equal(bpf_map_lookup_elem(h->maps.iface_slots, &bucket, &s),
			 0);
	assert_int_equal(s.ifindex, b);
	assert_int_equal(s.flags, TP_IFACE_F_UPLINK | TP_IFACE_SLOT_F_ONLY);
	expect_uplinks(h, in, after, N_OF(in));
}

/* @bucket's slot in @m must be @ifindex with @flags (TP_IFACE_SLOT_F_*). */
static void slot_is(const struct tp_maps *m, __u32 bucket, __u32 ifindex,
		    __u16 flags, __u16 zone)
{
	union tp_iface_slot s;

	assert_int_equal(bpf_map_lookup_elem(m->iface_slots, &bucket, &s), 0);
	assert_int_equal(s.ifindex, ifindex);
	assert_int_equal(s.flags, flags);
	assert_int_equal(s.zone, zone);
}

/* Close @dp and remove its pins and @cfg. */
static void pins_drop(struct tpd_datapath *dp, struct tpd_config *cfg)
{
	tpd_datapath_close(dp);
	assert_int_equal(tpd_detach_all(cfg, true), 0);
	tpd_config_free(cfg);
}

/*
 * An upgrade, a downgrade and the upgrade again over the same pins: the
 * version without slots keeps tp_iface_slots pinned beside its maps and
 * writes tp_ifaces alone (the slot's holder deleted, another interface
 * of its bucket and one of an empty bucket added).  The next load of
 * this version mends every slot it left stale before its programs run.
 */
static void test_slots_after_downgrade(void **state)
{
	struct tp_iface wg = { .flags = TP_IFACE_F_TAILNET | TP_IFACE_F_L3,
			       .zone = TH_ZONE2 };
	__u32 a = 4300, b = a + TP_IFACE_SLOTS, c = 77;
	struct tpd_datapath dp;
	struct tpd_config cfg;

	(void)state;
	REQUIRE_BPF();
	fixture_pin_config(&cfg, "tp-attackif");
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(tp_iface_set(&dp.maps, a, &AS_UPLINK), 0);
	slot_is(&dp.maps, a % TP_IFACE_SLOTS, a,
		TP_IFACE_F_UPLINK | TP_IFACE_SLOT_F_ONLY, 0);
	/* the older version: tp_ifaces alone */
	assert_int_equal(bpf_map_delete_elem(dp.maps.ifaces, &a), 0);
	assert_int_equal(bpf_map_update_elem(dp.maps.ifaces, &b, &wg, 0), 0);
	assert_int_equal(bpf_map_update_elem(dp.maps.ifaces, &c, &wg, 0), 0);
	tpd_datapath_close(&dp);

	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	slot_is(&dp.maps, a % TP_IFACE_SLOTS, b,
		wg.flags | TP_IFACE_SLOT_F_ONLY, TH_ZONE2);
	slot_is(&dp.maps, c, c, wg.flags | TP_IFACE_SLOT_F_ONLY, TH_ZONE2);
	assert_int_equal(tp_iface_slots_rebuild(&dp.maps), 0);
	pins_drop(&dp, &cfg);
}

#define T(f) cmocka_unit_test_setup_teardown(f, pt_setup, pt_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ifindex0_never_looked_up),
		T(test_pod_takes_gone_ifindex),
		T(test_modulo_edges),
		T(test_writer_killed_between),
		cmocka_unit_test(test_slots_after_downgrade),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
