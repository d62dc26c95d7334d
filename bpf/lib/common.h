/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Common definitions for the tailplane datapath: kernel types (CO-RE
 * vmlinux.h), libbpf helpers, the ABI, and the constants vmlinux.h does
 * not carry because they are #defines in the kernel.
 */
#ifndef TP_BPF_COMMON_H
#define TP_BPF_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "tailplane/abi.h"

#define TC_ACT_OK   0
#define TC_ACT_SHOT 2

#define ETH_HLEN     14
#define ETH_P_IP     0x0800
#define ETH_P_IPV6   0x86DD
#define ETH_P_8021Q  0x8100 /* an 802.1Q tag */
#define ETH_P_8021AD 0x88a8 /* an 802.1ad (service) tag */

#define IP_MF	  0x2000
#define IP_OFFSET 0x1fff

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

#define ICMP_ECHOREPLY	    0
#define ICMP_DEST_UNREACH   3
#define ICMP_ECHO	    8
#define ICMP_TIME_EXCEEDED  11
#define ICMP_PARAMETERPROB  12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG   2
#define ICMPV6_TIME_EXCEED  3
#define ICMPV6_PARAMPROB    4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY   129

#define NEXTHDR_HOP	 0
#define NEXTHDR_ROUTING	 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH	 51
#define NEXTHDR_NONE	 59
#define NEXTHDR_DEST	 60

#define NSEC_PER_SEC 1000000000ULL

#define AF_INET	 2
#define AF_INET6 10

#define TP_VLAN_VID_MASK 0x0fff /* of an 802.1Q tag's TCI */

#define ENOENT 2  /* errno of a lookup or delete that finds no key */
#define EEXIST 17 /* errno of a BPF_NOEXIST update that finds the key */

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58 /* a #define in the kernel, absent from vmlinux.h */
#endif

#ifndef likely
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/*
 * Runtime knobs, set by the loader through the skeleton's rodata before
 * load.  Defaults are the ABI's; docs/datapath.md explains each.
 */
const volatile __u32 ct_timeout_syn = TP_CT_TIMEOUT_SYN;
const volatile __u32 ct_timeout_established = TP_CT_TIMEOUT_ESTABLISHED;
const volatile __u32 ct_timeout_fin = TP_CT_TIMEOUT_FIN;
const volatile __u32 ct_timeout_close = TP_CT_TIMEOUT_CLOSE;
const volatile __u32 ct_timeout_udp = TP_CT_TIMEOUT_UDP;
const volatile __u32 ct_timeout_icmp = TP_CT_TIMEOUT_ICMP;
const volatile __u32 frag_timeout = TP_FRAG_TIMEOUT;
/*
 * The largest Maglev table userspace builds; the datapath takes each
 * table's size from its service entry and never reads this.
 */
const volatile __u32 maglev_size = TP_MAGLEV_SIZE;
const volatile __u32 event_mask =
	TP_EVENT_F_ALLOW | TP_EVENT_F_DENY | TP_EVENT_F_AUDIT | TP_EVENT_F_DROP;
const volatile __u32 events_per_sec = 1000; /* per CPU; 0: no limit */
const volatile __u32 events_burst = 200;

/*
 * The datapath's clock: 0 (always, in production) means CLOCK_MONOTONIC.
 * Packet tests set it to drive timeouts deterministically instead of
 * sleeping; it lives in .bss so a test can change it between runs of the
 * same loaded object.
 */
__u64 tp_clock_ns;

/*
 * The per-packet clock: CLOCK_MONOTONIC at tick resolution.  Conntrack
 * counts in seconds and fragments and affinity in seconds too, so the
 * coarse clock (a read of the last tick's time) serves them at a fraction
 * of bpf_ktime_get_ns()'s cost on every packet; it lags the fine clock
 * by at most a tick, which userspace's GC (CLOCK_MONOTONIC) never notices
 * at second resolution.  Available since Linux 5.11.
 */
static __always_inline __u64 tp_now(void)
{
	__u64 fixed = tp_clock_ns;

	return fixed ? fixed : bpf_ktime_get_coarse_ns();
}

/*
 * The fine clock, for what needs nanoseconds: event timestamps and the
 * token buckets of rate limits (one token every millisecond at 1000/s).
 * Never compared with tp_now()'s readings.
 */
static __always_inline __u64 tp_now_fine(void)
{
	__u64 fixed = tp_clock_ns;

	return fixed ? fixed : bpf_ktime_get_ns();
}

static __always_inline bool tp_addr_eq(const struct tp_addr *a,
				       const struct tp_addr *b)
{
	return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) |
		(a->w[2] ^ b->w[2]) | (a->w[3] ^ b->w[3])) == 0;
}

static __always_inline void tp_addr_set_v4(struct tp_addr *a, __be32 v4)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0xffff);
	a->w[3] = v4;
}

/*
 * The IPv6 extension headers the parser and the XDP guard walk past to
 * the upper layer (ESP and "no next header" end the walk).
 */
static __always_inline bool tp_ipv6_is_exthdr(__u8 nexthdr)
{
	switch (nexthdr) {
	case NEXTHDR_HOP:
	case NEXTHDR_ROUTING:
	case NEXTHDR_DEST:
	case NEXTHDR_AUTH:
	case NEXTHDR_FRAGMENT:
		return true;
	}
	return false;
}

#endif /* TP_BPF_COMMON_H */
