// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Helpers shared by the SNAT packet tests: see snattest.h.
 */
#include <arpa/inet.h>
#include <string.h>

#include "snattest.h"

int st_up_ifindex;

/**
 * st_snat_env_at() - the uplink, the node's SNAT addresses and port range
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @lo: the first port of the range
 * @hi: the last port of the range
 * @flags: the SNAT config's flags (th_snat_config())
 *
 * Sets st_up_ifindex.
 */
void st_snat_env_at(const char *file, int line, struct th *h, __u16 lo,
		    __u16 hi, __u32 flags)
{
	st_up_ifindex = th_uplink(h);
	if (st_up_ifindex < 0)
		PT_FAIL("test uplink: %s", strerror(-st_up_ifindex));
	PT_EQ(th_snat_config(h, SNAT4, SNAT6, lo, hi, flags), 0);
}

/**
 * st_snat_service_at() - a service @vip:VPORT/@proto, one backend @be:BE_PORT
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @vip: the service's address
 * @proto: its protocol (ICMP/ICMPv6: no ports)
 * @be: the backend
 * @flags: the service's flags (TP_SVC_F_SNAT, mostly)
 */
void st_snat_service_at(const char *file, int line, struct th *h,
			const char *vip, __u8 proto, const char *be,
			__u16 flags)
{
	const char *bes[1] = { be };
	int echo = proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;

	pt_service_at(file, line, h, vip, echo ? 0 : VPORT, proto, bes, 1,
		      echo ? 0 : BE_PORT, NULL, NULL, flags, 0);
}

/**
 * st_run_on_at() - run @in through @hook on @ifindex
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @hook: the program (TH_FROM_UPLINK: @out is an Ethernet frame)
 * @ifindex: the interface the packet is on
 * @in: the packet
 * @out: the packet as it left
 *
 * Return: the verdict.
 */
int st_run_on_at(const char *file, int line, struct th *h, enum th_hook hook,
		 int ifindex, const struct pkt *in, struct pkt *out)
{
	int verdict = -1;

	out->l2 = hook == TH_FROM_UPLINK;
	PT_EQ(th_run_from(h, hook, ifindex, 0, in->data, in->len, out->data,
			  &out->len, &verdict),
	      0);
	return verdict;
}

/**
 * st_tailnet_in_on_at() - @sp from the tailnet interface @ifindex
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @ifindex: the tailnet interface
 * @sp: the packet's spec
 * @out: the packet as it left
 *
 * Return: the verdict.
 */
int st_tailnet_in_on_at(const char *file, int line, struct th *h, int ifindex,
			struct pkt_spec sp, struct pkt *out)
{
	struct pkt in;

	pt_build_at(file, line, &sp, &in);
	return st_run_on_at(file, line, h, TH_FROM_TAILNET, ifindex, &in, out);
}

/**
 * st_uplink_in_at() - @sp, as an Ethernet frame, in on the uplink
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @sp: the packet's spec
 * @out: the packet as it left
 *
 * Return: the verdict.
 */
int st_uplink_in_at(const char *file, int line, struct th *h,
		    struct pkt_spec sp, struct pkt *out)
{
	struct pkt in;

	sp.l2 = 1;
	pt_build_at(file, line, &sp, &in);
	return st_run_on_at(file, line, h, TH_FROM_UPLINK, st_up_ifindex, &in,
			    out);
}

/**
 * st_key_z_at() - pt_ct_key() of the flow in zone @zone
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @s: source address
 * @sport: source port
 * @d: destination address
 * @dport: destination port
 * @proto: protocol
 * @zone: the zone
 *
 * Return: the key.
 */
struct tp_ct_key st_key_z_at(const char *file, int line, const char *s,
			     __u16 sport, const char *d, __u16 dport,
			     __u8 proto, __u16 zone)
{
	struct tp_ct_key k =
		pt_ct_key_at(file, line, s, sport, d, dport, proto);

	k.zone = zone;
	return k;
}

/**
 * st_snat_port_of_at() - the SNAT port of the flow at @orig
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @orig: the flow's original key (its entry must say DNAT and SNAT)
 *
 * Return: the port, host order.
 */
__u16 st_snat_port_of_at(const char *file, int line, struct th *h,
			 const struct tp_ct_key *orig)
{
	struct tp_ct_entry e = pt_ct_must_at(file, line, h, orig);

	PT_EQ(e.flags, TP_CT_F_DNAT | TP_CT_F_SNAT);
	return ntohs(e.snat_port);
}
