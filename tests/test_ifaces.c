// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The interface lookup's two maps (abi.h): tp_ifaces, the truth, and
 * tp_iface_slots, its direct-mapped cache the datapath reads first.
 * Interfaces whose ifindexes share a slot, removals that leave a slot to
 * another interface or to none, a slot a writer left stale (and the
 * loader's rebuild that mends it), and pins from before the slots.
 *
 * What the datapath made of an interface is read back from what a packet
 * left: an egress flow's conntrack entry says whether the interface it
 * came in through was an uplink (TP_CT_F_UPLINK), and a flow from the
 * tailnet is only DNATed, in the tunnel's zone, when the tunnel's entry
 * (L3, its zone) was found.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "config.h"
#include "datapath.h"
#include "fixture.h"
#include "iface.h"
#include "pkttest.h"

#define POD "198.18.2.1" /* a pod's address: its flows leave to the tailnet */

static const struct tp_iface UPLINK = { .flags = TP_IFACE_F_UPLINK };

/* The slot of @ifindex's bucket as the datapath reads it. */
static union tp_iface_slot slot_of(struct th *h, __u32 ifindex)
{
	__u32 bucket = ifindex % TP_IFACE_SLOTS;
	union tp_iface_slot s;

	assert_int_equal(bpf_map_lookup_elem(h->maps.iface_slots, &bucket, &s),
			 0);
	return s;
}

/* The slot of @ifindex's bucket must hold @ifindex with @v (@only: alone). */
static void slot_holds(struct th *h, __u32 ifindex, const struct tp_iface *v,
		       bool only)
{
	union tp_iface_slot s = slot_of(h, ifindex);

	assert_int_equal(s.ifindex, ifindex);
	assert_int_equal(s.flags, v->flags | (only ? TP_IFACE_SLOT_F_ONLY : 0));
	assert_int_equal(s.zone, v->zone);
}

/*
 * A pod's UDP flow to the tailnet (source port @sport, fresh each call)
 * that came in through @in_ifindex: whether the datapath took that
 * interface for an uplink, from the flow's conntrack entry.
 */
static bool came_from_uplink(struct th *h, __u32 in_ifindex, __u16 sport)
{
	struct tp_ct_key k = pt_ct_key(POD, sport, CLIENT4, 53, UDP);
	struct pkt_spec sp = pt_flow(POD, sport, CLIENT4, 53, UDP, 0);
	struct pkt p;

	pt_build(&sp, &p);
	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, in_ifindex, &p),
		PASS);
	return pt_ct_must(h, &k).flags & TP_CT_F_UPLINK;
}

/* The tunnel's entry as th_open() wrote it. */
static struct tp_iface tun_entry(void)
{
	struct tp_iface v = { .flags = TP_IFACE_F_L3 | TP_IFACE_F_TAILNET,
			      .zone = TH_ZONE };

	return v;
}

/*
 * As the loader leaves them: the tunnels alone in their slots, every
 * other slot an answer (no interface), so a pod's veth costs no hash
 * lookup.
 */
static void test_slots_as_loaded(void **state)
{
	struct th *h = *state;
	struct tp_iface tun = tun_entry(), tun2 = tun_entry();
	union tp_iface_slot s;
	__u32 bucket, full = 0;

	REQUIRE_BPF();
	tun2.zone = TH_ZONE2;
	slot_holds(h, h->l3_ifindex, &tun, true);
	slot_holds(h, h->l3_ifindex2, &tun2, true);
	for (bucket = 0; bucket < TP_IFACE_SLOTS; bucket++) {
		assert_int_equal(
			bpf_map_lookup_elem(h->maps.iface_slots, &bucket, &s),
			0);
		if (s.ifindex) {
			full++;
			continue;
		}
		assert_int_equal(s.flags, TP_IFACE_SLOT_F_ONLY);
		assert_int_equal(s.zone, 0);
	}
	assert_int_equal(full, 2);
	pt_web_flow(h);
	assert_false(came_from_uplink(h, 77, 1000));
}

/*
 * The slots are written through the map's mapping, one 8-byte store a
 * slot (the update syscall's memcpy() may write a value in pieces, and a
 * packet between two pieces would see one interface's ifindex with
 * another's settings): the map is mappable, and what a write stores
 * there is what the datapath's lookup reads.
 */
static void test_slots_written_whole(void **state)
{
	const size_t len = TP_IFACE_SLOTS * sizeof(union tp_iface_slot);
	struct th *h = *state;
	struct tp_iface v = { .zone = TH_ZONE2, .flags = TP_IFACE_F_L3 };
	union tp_iface_slot none = { .flags = TP_IFACE_SLOT_F_ONLY };
	struct bpf_map_info info = {};
	__u32 ifindex = h->l3_ifindex + 5 * TP_IFACE_SLOTS + 100;
	__u32 info_len = sizeof(info);
	const volatile __u64 *slots;

	REQUIRE_BPF();
	assert_int_equal(
		bpf_obj_get_info_by_fd(h->maps.iface_slots, &info, &info_len),
		0);
	assert_true(info.map_flags & BPF_F_MMAPABLE);
	slots = mmap(NULL, len, PROT_READ, MAP_SHARED, h->maps.iface_slots, 0);
	assert_true(slots != MAP_FAILED);
	assert_int_equal(tp_iface_set(&h->maps, ifindex, &v), 0);
	assert_true(slots[ifindex % TP_IFACE_SLOTS] ==
		    slot_of(h, ifindex).word);
	slot_holds(h, ifindex, &v, true);
	assert_int_equal(tp_iface_del(&h->maps, ifindex), 0);
	assert_true(slots[ifindex % TP_IFACE_SLOTS] == none.word);
	munmap((void *)slots, len);
}

/*
 * Three interfaces of one bucket: the slot keeps the one it held, the
 * others are found in tp_ifaces, and an ifindex of the bucket tp_ifaces
 * does not hold is no interface.
 */
static void test_collision(void **state)
{
	struct th *h = *state;
	struct tp_iface tun = tun_entry();
	__u32 a = h->l3_ifindex + TP_IFACE_SLOTS,
	      b = h->l3_ifindex + 2 * TP_IFACE_SLOTS,
	      none = h->l3_ifindex + 3 * TP_IFACE_SLOTS;

	REQUIRE_BPF();
	assert_int_equal(tp_iface_set(&h->maps, a, &UPLINK), 0);
	assert_int_equal(tp_iface_set(&h->maps, b, &UPLINK), 0);
	slot_holds(h, h->l3_ifindex, &tun, false);
	pt_web_flow(h);
	assert_true(came_from_uplink(h, a, 1000));
	assert_true(came_from_uplink(h, b, 1001));
	assert_false(came_from_uplink(h, none, 1002));
	/* the tunnel's own entry changed: the slot follows, still its */
	tun.zone = 7;
	assert_int_equal(tp_iface_set(&h->maps, h->l3_ifindex, &tun), 0);
	slot_holds(h, h->l3_ifindex, &tun, false);
	tun.zone = TH_ZONE;
	assert_int_equal(tp_iface_set(&h->maps, h->l3_ifindex, &tun), 0);
	pt_web_in(h, ACK);
}

/*
 * An interface of a bucket whose slot another holds, the tunnel itself:
 * its packets are DNATed in its zone through tp_ifaces.
 */
static void test_collision_tunnel_in_hash(void **state)
{
	struct th *h = *state;
	struct tp_iface tun = tun_entry();
	__u32 a = h->l3_ifindex + TP_IFACE_SLOTS;

	REQUIRE_BPF();
	assert_int_equal(tp_iface_del(&h->maps, h->l3_ifindex), 0);
	assert_int_equal(tp_iface_set(&h->maps, a, &UPLINK), 0);
	assert_int_equal(tp_iface_set(&h->maps, h->l3_ifindex, &tun), 0);
	slot_holds(h, a, &UPLINK, false);
	pt_web_flow(h);
	pt_web_in(h, ACK);
	assert_true(came_from_uplink(h, a, 1000));
}

/*
 * Removals: the slot's holder goes and another interface of the bucket
 * takes the slot; the last goes and the slot says "none", so neither a
 * removed interface nor its settings are seen again.
 */
static void test_removal(void **state)
{
	struct th *h = *state;
	__u32 x = h->l3_ifindex + 100, a = x + TP_IFACE_SLOTS,
	      b = x + 2 * TP_IFACE_SLOTS;
	union tp_iface_slot s;

	REQUIRE_BPF();
	assert_int_equal(tp_iface_set(&h->maps, x, &UPLINK), 0);
	assert_int_equal(tp_iface_set(&h->maps, b, &UPLINK), 0);
	assert_int_equal(tp_iface_set(&h->maps, a, &UPLINK), 0);
	slot_holds(h, x, &UPLINK, false);
	assert_int_equal(tp_iface_del(&h->maps, x), 0);
	/* the lowest ifindex left takes the slot */
	slot_holds(h, a, &UPLINK, false);
	assert_false(came_from_uplink(h, x, 1000));
	assert_true(came_from_uplink(h, a, 1001));
	assert_true(came_from_uplink(h, b, 1002));
	assert_int_equal(tp_iface_del(&h->maps, a), 0);
	slot_holds(h, b, &UPLINK, true);
	assert_false(came_from_uplink(h, a, 1003));
	assert_true(came_from_uplink(h, b, 1004));
	assert_int_equal(tp_iface_del(&h->maps, b), 0);
	s = slot_of(h, b);
	assert_int_equal(s.ifindex, 0);
	assert_int_equal(s.flags, TP_IFACE_SLOT_F_ONLY);
	assert_false(came_from_uplink(h, b, 1005));
	assert_int_equal(tp_iface_del(&h->maps, b), -ENOENT);
	/* and back */
	assert_int_equal(tp_iface_set(&h->maps, x, &UPLINK), 0);
	slot_holds(h, x, &UPLINK, true);
	assert_true(came_from_uplink(h, x, 1006));
}

/*
 * Slots a writer that skipped lib/iface.c left behind: the datapath
 * believes a slot (that is what makes it cheap), so every writer goes
 * through tp_iface_set(); the loader's start mends what one did not
 * (tp_iface_slots_rebuild()), slot by slot, and leaves right ones alone.
 */
static void test_stale_slot(void **state)
{
	struct th *h = *state;
	__u32 up = h->l3_ifindex + 5, other = h->l3_ifindex + 6,
	      bucket = up % TP_IFACE_SLOTS;
	union tp_iface_slot stale = { .ifindex = up,
				      .flags = TP_IFACE_SLOT_F_ONLY };

	REQUIRE_BPF();
	assert_int_equal(tp_iface_set(&h->maps, up, &UPLINK), 0);
	assert_true(came_from_uplink(h, up, 1000));
	/* a slot that says the uplink is none: believed */
	assert_int_equal(bpf_map_update_elem(h->maps.iface_slots, &bucket,
					     &stale, BPF_ANY),
			 0);
	assert_false(came_from_uplink(h, up, 1001));
	/* an uplink written into tp_ifaces alone: its slot says "none" */
	assert_int_equal(
		bpf_map_update_elem(h->maps.ifaces, &other, &UPLINK, BPF_ANY),
		0);
	assert_false(came_from_uplink(h, other, 1002));
	assert_int_equal(tp_iface_slots_rebuild(&h->maps), 2);
	slot_holds(h, up, &UPLINK, true);
	slot_holds(h, other, &UPLINK, true);
	assert_true(came_from_uplink(h, up, 1003));
	assert_true(came_from_uplink(h, other, 1004));
	assert_int_equal(tp_iface_slots_rebuild(&h->maps), 0);
	pt_web_flow(h);
}

/*
 * A slot zeroed (a writer killed between its steps, a fresh map) is no
 * answer: the datapath asks tp_ifaces.
 */
static void test_zeroed_slot(void **state)
{
	struct th *h = *state;
	union tp_iface_slot zero = { .word = 0 };
	__u32 up = h->l3_ifindex + 9, bucket = up % TP_IFACE_SLOTS;

	REQUIRE_BPF();
	assert_int_equal(tp_iface_set(&h->maps, up, &UPLINK), 0);
	assert_int_equal(
		bpf_map_update_elem(h->maps.iface_slots, &bucket, &zero, 0), 0);
	assert_true(came_from_uplink(h, up, 1000));
	bucket = h->l3_ifindex % TP_IFACE_SLOTS;
	assert_int_equal(
		bpf_map_update_elem(h->maps.iface_slots, &bucket, &zero, 0), 0);
	pt_web_flow(h);
}

/*
 * A writer with tp_ifaces open and not the slots is refused: what it
 * wrote would leave a slot behind that the programs believe.
 */
static void test_writer_needs_both(void **state)
{
	struct th *h = *state;
	struct tp_maps m = h->maps;
	__u32 up = h->l3_ifindex + 13;
	struct tp_iface v;

	REQUIRE_BPF();
	m.iface_slots = -1;
	assert_int_equal(tp_iface_set(&m, up, &UPLINK), -EBADF);
	assert_int_equal(tp_iface_del(&m, h->l3_ifindex), -EBADF);
	assert_int_equal(tp_iface_slots_rebuild(&m), -EBADF);
	assert_int_not_equal(bpf_map_lookup_elem(h->maps.ifaces, &up, &v), 0);
	assert_int_equal(
		bpf_map_lookup_elem(h->maps.ifaces, &h->l3_ifindex, &v), 0);
	assert_int_equal(tp_iface_set(&h->maps, 0, &UPLINK), -EINVAL);
}

/* Flags a slot cannot hold stay in tp_ifaces alone, and are found there. */
static void test_uncacheable_flags(void **state)
{
	struct th *h = *state;
	struct tp_iface odd = { .flags = TP_IFACE_F_UPLINK | (1u << 20) };
	__u32 up = h->l3_ifindex + 11;
	union tp_iface_slot s;

	REQUIRE_BPF();
	assert_int_equal(tp_iface_set(&h->maps, up, &odd), 0);
	s = slot_of(h, up);
	assert_int_equal(s.word, 0);
	assert_true(came_from_uplink(h, up, 1000));
	assert_int_equal(tp_iface_slots_rebuild(&h->maps), 0);
}

/*
 * Pins from before tp_iface_slots: the loader's next load makes the map
 * and fills it from tp_ifaces before any of its programs runs, so the
 * interfaces the old version described are found in their slots.
 */
static void test_old_pins(void **state)
{
	struct tp_iface up = { .flags = TP_IFACE_F_UPLINK }, tun = tun_entry();
	__u32 a = 4242, b = 4242 + TP_IFACE_SLOTS, c = 99;
	struct tpd_datapath dp;
	struct tpd_config cfg;
	char path[PATH_MAX];
	union tp_iface_slot s;
	__u32 bucket;

	(void)state;
	REQUIRE_BPF();
	fixture_pin_config(&cfg, "tp-ifacetest");
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	/* what a version without the slots wrote: tp_ifaces alone */
	assert_int_equal(bpf_map_update_elem(dp.maps.ifaces, &a, &up, 0), 0);
	assert_int_equal(bpf_map_update_elem(dp.maps.ifaces, &b, &up, 0), 0);
	assert_int_equal(bpf_map_update_elem(dp.maps.ifaces, &c, &tun, 0), 0);
	tpd_datapath_close(&dp);
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_IFACE_SLOTS);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(access(path, F_OK), 0);
	bucket = a % TP_IFACE_SLOTS;
	assert_int_equal(bpf_map_lookup_elem(dp.maps.iface_slots, &bucket, &s),
			 0);
	assert_int_equal(s.ifindex, a);
	assert_int_equal(s.flags, TP_IFACE_F_UPLINK);
	bucket = c;
	assert_int_equal(bpf_map_lookup_elem(dp.maps.iface_slots, &bucket, &s),
			 0);
	assert_int_equal(s.ifindex, c);
	assert_int_equal(s.flags, tun.flags | TP_IFACE_SLOT_F_ONLY);
	assert_int_equal(s.zone, TH_ZONE);
	bucket = 1;
	assert_int_equal(bpf_map_lookup_elem(dp.maps.iface_slots, &bucket, &s),
			 0);
	assert_int_equal(s.flags, TP_IFACE_SLOT_F_ONLY);
	assert_int_equal(s.ifindex, 0);
	tpd_datapath_close(&dp);
	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	tpd_config_free(&cfg);
}

#define T(f) cmocka_unit_test_setup_teardown(f, pt_setup, pt_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_slots_as_loaded),   T(test_slots_written_whole),
		T(test_collision),	   T(test_collision_tunnel_in_hash),
		T(test_removal),	   T(test_stale_slot),
		T(test_zeroed_slot),	   T(test_uncacheable_flags),
		T(test_writer_needs_both), T(test_old_pins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
