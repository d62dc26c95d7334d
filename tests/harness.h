/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet-test harness: loads the datapath object (unpinned, so tests
 * never touch bpffs), gives it an L3 device to run against, and runs
 * packets through BPF_PROG_TEST_RUN.
 *
 * The process moves into a network namespace of its own on first use
 * (unshare), where it creates a TUN device: test_run with that ifindex
 * makes the programs see an L3 interface, exactly as on tailscale0.  The
 * namespace and the device go away with the process.
 */
#ifndef TAILPLANE_TESTS_HARNESS_H
#define TAILPLANE_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maps.h"
#include "pktgen.h"
#include "tailplane.skel.h"

#define TH_ZONE	      1		       /* zone of the test TUN device tptun0 */
#define TH_ZONE2      2		       /* zone of the second one, tptun1 */
#define TH_ZONE2_NET4 "100.100.0.0/16" /* routed to tptun1 */
#define TH_ZONE2_NET6 "fd7a:115c:a1e0:2::/64"

/**
 * struct th_knobs - load-time knobs; zero fields keep the defaults.
 */
struct th_knobs {
	__u32 maglev_size;
	__u32 ct_size;	   /* tp_ct entries */
	__u32 ct_any_size; /* tp_ct_any entries */
	__u32 ct_timeout_udp;
	__u32 events_per_sec;
	__u32 events_burst;
	__u32 policy_size; /* tp_policy entries */
	/* the event types sent (TP_EVENT_F_*), when event_mask_set */
	__u32 event_mask;
	bool event_mask_set;
	/*
	 * Capacities as the loader's configuration sets them, every map
	 * they size (tpd_set_capacities()); 0: the default.  Small ones
	 * let a test fill a table in a few hundred writes, not 100,000s
	 * (minutes under qemu's emulation in the VM run).
	 */
	__u32 cap_services;
	__u32 cap_identities;
	__u32 cap_rules;
	/* tp_from_tailnet without its fast path (tp_fast_ingress()) */
	bool no_fast_path;
};

enum th_hook {
	TH_FROM_TAILNET, /* tp_from_tailnet: TC ingress of the tailnet iface */
	TH_TO_TAILNET,	 /* tp_to_tailnet: TC egress of the tailnet iface */
	TH_FROM_UPLINK, /* tp_from_uplink: TC ingress of an uplink (Ethernet) */
};

/*
 * The test uplink (th_uplink()): veth tpup0 (this end, TH_UPLINK_MAC,
 * TH_UPLINK_NET4/6) and its peer tpup1.  The pod and backend networks
 * TH_UPLINK_ROUTED4/6 are routed via TH_UPLINK_GW4/6, a permanent
 * neighbour with TH_UPLINK_GW_MAC; TH_UPLINK_DIRECT4 is on the link with
 * no neighbour entries.  The MACs are pktgen's PKT_ETH_SRC and
 * PKT_ETH_DST, so a frame pkt_build() makes is what leaves the uplink.
 */
#define TH_UPLINK_MAC	  PKT_ETH_SRC
#define TH_UPLINK_GW_MAC  PKT_ETH_DST
#define TH_UPLINK_NET4	  "198.18.0.1/24"
#define TH_UPLINK_NET6	  "fd00:198:18::1/120"
#define TH_UPLINK_GW4	  "198.18.0.254"
#define TH_UPLINK_GW6	  "fd00:198:18::fe"
#define TH_UPLINK_ROUTED4 "198.18.1.0/24"
#define TH_UPLINK_ROUTED6 "fd00:198:18::1:0/112"
#define TH_UPLINK_DIRECT4 "198.18.2.0/24"

/**
 * struct th - one loaded datapath.
 * @skel:      the skeleton.
 * @maps:      its map fds (owned by @skel).
 * @l3_ifindex: ifindex of the test TUN device (L3, tailnet, zone TH_ZONE).
 * @l3_ifindex2: the second one (zone TH_ZONE2).
 * @knobs:     the knobs it was loaded with.
 */
struct th {
	struct tailplane *skel;
	/* when not NULL, the programs to run, by th_hook: not the skeleton's */
	const int *prog_fd;
	struct tp_maps maps;
	int l3_ifindex;
	int l3_ifindex2;
	struct th_knobs knobs;
};

const char *th_unavailable(void);
bool th_load_refused_here(void);
int th_open(struct th *h, const struct th_knobs *knobs);
void th_close(struct th *h);
int th_run(struct th *h, enum th_hook hook, int ifindex, const void *in,
	   size_t len, void *out, size_t *out_len, int *verdict);
int th_run_from(struct th *h, enum th_hook hook, int ifindex, int in_ifindex,
		const void *in, size_t len, void *out, size_t *out_len,
		int *verdict);
void th_set_clock(struct th *h, __u64 ns);
int th_uplink(struct th *h);
int th_uplink_peer(void);
int th_tun_file(void);
int th_snat_config(struct th *h, const char *addr4, const char *addr6,
		   __u16 port_min, __u16 port_max, __u32 flags);
__u64 th_stat(struct th *h, __u32 id);

#endif /* TAILPLANE_TESTS_HARNESS_H */
