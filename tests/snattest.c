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
 * st_idents_at() - the identities policy tests decide on
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 *
 * The test zone's clients (100.64.0.0/24) are ID_CLIENT, the backends
 * behind the uplink (198.18.1.0/24, zone 0) ID_WEB.
 */
void st_idents_at(const char *file, int line, struct th *h)
{
	pt_ident_at(file, line, h, TH_ZONE, "100.64.0.0/24", ID_CLIENT);
	pt_ident_at(file, line, h, 0, "198.18.1.0/24", ID_WEB);
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

/**
 * st_open_at() - open a SNAT flow with its first packet @sp from the tailnet
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @sp: the flow's first packet (it must leave redirected)
 * @k: the flow's key (its entry must say DNAT and SNAT)
 *
 * Return: the flow's SNAT port, host order.
 */
__u16 st_open_at(const char *file, int line, struct th *h, struct pkt_spec sp,
		 const struct tp_ct_key *k)
{
	struct pkt out;

	PT_EQ(st_tailnet_in_on_at(file, line, h, h->l3_ifindex, sp, &out),
	      REDIRECT);
	return st_snat_port_of_at(file, line, h, k);
}

/**
 * st_client_flow_at() - the usual SNAT flow, set up and opened
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @proto: TCP (opened by a SYN) or UDP
 * @cport: the client's port
 * @k: set to the flow's key, CLIENT4:@cport -> VIP4:VPORT (NULL: the
 *      caller needs only the port)
 *
 * The whole port range PORT_LO..PORT_HI, a SNAT service VIP4:VPORT/@proto
 * with the one backend BE4[0], and the flow's first packet from the
 * tailnet, which must leave redirected with a port of the range.
 *
 * Return: the flow's SNAT port, host order.
 */
__u16 st_client_flow_at(const char *file, int line, struct th *h, __u8 proto,
			__u16 cport, struct tp_ct_key *k)
{
	__u8 flags = proto == IPPROTO_TCP ? PKT_TCP_SYN : 0;
	struct tp_ct_key own;
	__u16 port;

	if (!k)
		k = &own;
	*k = pt_ct_key_at(file, line, CLIENT4, cport, VIP4, VPORT, proto);
	st_snat_env_at(file, line, h, PORT_LO, PORT_HI, 0);
	st_snat_service_at(file, line, h, VIP4, proto, BE4[0], TP_SVC_F_SNAT);
	port = st_open_at(file, line, h,
			  pt_flow(CLIENT4, cport, VIP4, VPORT, proto, flags),
			  k);
	_assert_in_range(port, PORT_LO, PORT_HI, file, line);
	return port;
}

/**
 * st_uplink_untouched_at() - @sp in on the uplink must pass byte for byte
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @sp: the packet's spec (sent as an Ethernet frame)
 */
void st_uplink_untouched_at(const char *file, int line, struct th *h,
			    struct pkt_spec sp)
{
	struct pkt in, out;

	sp.l2 = 1;
	pt_build_at(file, line, &sp, &in);
	PT_EQ(st_run_on_at(file, line, h, TH_FROM_UPLINK, st_up_ifindex, &in,
			   &out),
	      PASS);
	PT_PKT_EQ(in.data, in.len, out.data, out.len);
}

/**
 * st_expect_restored_at() - @reply in on the uplink leaves toward the tailnet as @want
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @reply: the backend's reply to the node's SNAT address and port
 * @want: the packet it must leave as, before the node's hop: sent on as a
 *	frame with one hop less (TTL 63)
 */
void st_expect_restored_at(const char *file, int line, struct th *h,
			   struct pkt_spec reply, struct pkt_spec want)
{
	struct pkt out;

	PT_EQ(st_uplink_in_at(file, line, h, reply, &out), REDIRECT);
	want.l2 = 1;
	want.ttl = 63; /* forwarded by the node: one hop less */
	pt_expect_pkt_at(file, line, want, &out);
}

/**
 * st_df_frame() - @sp as an Ethernet frame with DF set, carrying @payload
 * @sp: the packet's spec
 * @payload: its payload
 * @len: the payload's length
 *
 * Return: the spec.
 */
struct pkt_spec st_df_frame(struct pkt_spec sp, const void *payload, size_t len)
{
	sp.l2 = 1;
	sp.df = 1;
	sp.payload = payload;
	sp.payload_len = len;
	return sp;
}

/**
 * st_attach_reply_path_at() - the reply path's programs on the real devices
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 *
 * tp_to_tailnet at the tailnet interface's egress and tp_from_uplink at
 * the uplink's ingress, as the loader attaches them; the caller detaches
 * them (st_detach_reply_path()).
 */
void st_attach_reply_path_at(const char *file, int line, struct th *h)
{
	PT_EQ(pt_tc_attach(h->l3_ifindex, BPF_TC_EGRESS,
			   bpf_program__fd(h->skel->progs.tp_to_tailnet)),
	      0);
	PT_EQ(pt_tc_attach(st_up_ifindex, BPF_TC_INGRESS,
			   bpf_program__fd(h->skel->progs.tp_from_uplink)),
	      0);
}

/**
 * st_detach_reply_path() - every program off the two devices
 * st_attach_reply_path_at() attached to
 * @h: the harness
 */
void st_detach_reply_path(struct th *h)
{
	pt_tc_detach_all(h->l3_ifindex);
	pt_tc_detach_all(st_up_ifindex);
}
