/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Masquerade to the tailnet: a new flow from this side (a pod, a host
 * behind the node, this host with a source that is not its tailnet
 * address) leaving through a tailnet interface whose zone has masquerade
 * on (tp_masq) gets the node's address on that interface as its source,
 * and a port of the SNAT range: the peer's WireGuard allowed-IPs accept
 * no other source from this node.
 *
 * The flow is an egress flow (TP_CT_F_EGRESS) decided by policy on the
 * pod's own tuple before anything is rewritten, with TP_CT_F_SNAT |
 * TP_CT_F_MASQ and its address in nat_addr (abi.h).  Its port is reserved
 * as a SNAT flow's (tp_ct_snat_reserve(): random ports, bounded tries, the
 * reply key inserted with BPF_NOEXIST), its reply key lives in the flow's
 * own zone: (peer -> node:port, zone).  tp_to_tailnet rewrites the source
 * of its packets (TC egress: the kernel routed them already, nothing to
 * forward); tp_from_tailnet finds replies by that key, restores the pod's
 * address and port and hands them to the kernel, which routes them to the
 * pod.  ICMP errors are translated both layers deep, either way.
 */
#ifndef TP_BPF_MASQ_H
#define TP_BPF_MASQ_H

#include "ct.h"
#include "nat.h"
#include "snat.h"
#include "static_nat.h"

static __always_inline bool tp_masq_addr_set(const struct tp_addr *a)
{
	return a->w[0] | a->w[1] | a->w[2] | a->w[3];
}

/*
 * An IPv6 link-local source (fe80::/10): this host's own traffic on the
 * interface (the kernel never forwards one), scoped to the link; with a
 * global source it would break RFC 4007 scoping toward a link-local or
 * multicast destination.
 */
static __always_inline bool tp_masq_link_local(const struct tp_pkt *p)
{
	return p->ipv6 && p->tuple.saddr.b[0] == 0xfe &&
	       (p->tuple.saddr.b[1] & 0xc0) == 0x80;
}

/**
 * tp_masq_want() - is a new flow leaving to the tailnet masqueraded?
 * @p:    its parse (tuple.zone: the tailnet interface's zone).
 * @addr: set to the address its packets leave with.
 *
 * Not when the zone (never zone 0) has masquerade off, nor for a source
 * that is the node's address of the zone already (this host's own
 * traffic) or an IPv6 link-local one (the interface's own), nor for a
 * pod with a static tailnet address of its own for the zone (static NAT
 * gives its packets that address as they leave).
 *
 * Return: 1 (masquerade, @addr set), 0 (leave it), or -TP_DROP_NO_SNAT_ADDR
 * when the zone has masquerade on but no address of the packet's family.
 */
static __always_inline int tp_masq_want(const struct tp_pkt *p,
					struct tp_addr *addr)
{
	__u32 zone = p->tuple.zone;
	const struct tp_masq *m;
	const struct tp_addr *a;

	if (!zone)
		return 0;
	m = bpf_map_lookup_elem(&tp_masq, &zone);
	if (!m || !(m->flags & TP_MASQ_F_ON))
		return 0;
	a = p->ipv6 ? &m->addr6 : &m->addr4;
	if (tp_addr_eq(&p->tuple.saddr, a) || tp_masq_link_local(p))
		return 0;
	if (!tp_static_nat_none() &&
	    tp_static_nat_rev_of(p->tuple.zone, &p->tuple.saddr))
		return 0;
	if (!tp_masq_addr_set(a))
		return -TP_DROP_NO_SNAT_ADDR;
	*addr = *a;
	return 1;
}

/**
 * tp_masq_crossing() - is a new flow from the tailnet that crosses into
 * another zone masqueraded there?
 * @p:        its parse (tuple.zone: the zone it came from).
 * @out_zone: the zone it leaves to.
 * @addr:     set to the node's address on @out_zone's interface.
 *
 * When @out_zone has masquerade on: its peers accept only the node's own
 * address from it (WireGuard allowed-IPs), as for a pod's flow.
 *
 * Return: 1 (masquerade, @addr set), 0 (leave it), or -TP_DROP_NO_SNAT_ADDR
 * when @out_zone has masquerade on but no address of the packet's family.
 */
static __always_inline int
tp_masq_crossing(const struct tp_pkt *p, __u32 out_zone, struct tp_addr *addr)
{
	const struct tp_masq *m;
	const struct tp_addr *a;

	/* a crossing is from one tailnet zone to another (tp_ct_crosses()) */
	if (!out_zone || !p->tuple.zone || out_zone == p->tuple.zone)
		return 0;
	m = bpf_map_lookup_elem(&tp_masq, &out_zone);
	if (!m || (m->flags & (TP_MASQ_F_ON | TP_MASQ_F_CROSSING)) !=
			  (TP_MASQ_F_ON | TP_MASQ_F_CROSSING))
		return 0;
	a = p->ipv6 ? &m->addr6 : &m->addr4;
	if (!tp_masq_addr_set(a))
		return -TP_DROP_NO_SNAT_ADDR;
	*addr = *a;
	return 1;
}

/**
 * tp_masq_own() - is a new flow this host's own, from the zone's
 * masquerade address (masquerade on)?
 * @p:    its parse.
 * @addr: set to that address.
 *
 * Such a flow is not masqueraded, unless its reply tuple is taken (a
 * masqueraded flow holds its port or echo id): then it is remapped to a
 * port of the range, as Linux remaps a local connection whose tuple NAT
 * took, or the peer's answers would go to the pod.
 */
static __always_inline bool tp_masq_own(const struct tp_pkt *p,
					struct tp_addr *addr)
{
	__u32 zone = p->tuple.zone;
	const struct tp_masq *m;
	const struct tp_addr *a;

	if (!zone)
		return false;
	m = bpf_map_lookup_elem(&tp_masq, &zone);
	if (!m || !(m->flags & TP_MASQ_F_ON))
		return false;
	a = p->ipv6 ? &m->addr6 : &m->addr4;
	if (!tp_addr_eq(&p->tuple.saddr, a))
		return false;
	*addr = *a;
	return true;
}

/**
 * tp_masq_moved() - has the zone's address moved away from the one
 * masqueraded flow @e left with?
 * @p: a packet of the flow in the original direction.
 * @e: its live flow entry.
 *
 * The loader rewrites tp_masq when the interface's address changes (or
 * zeroes it when the address is gone).  The flow's packets would keep
 * leaving from an address that is no longer the node's, which the peer
 * drops: a pod that keeps sending (a UDP flow, refreshed by every packet)
 * would be cut off for good.  Linux's MASQUERADE forgets such connections
 * when the address goes; here the flow starts over from the zone's
 * address now (its old reply key goes with it).  Masquerade off, or no
 * entry, moves nothing: a flow keeps its translation until it ends, as
 * with a MASQUERADE rule removed.
 *
 * Return: true when the flow is to start over.
 */
static __always_inline bool tp_masq_moved(const struct tp_pkt *p,
					  const struct tp_ct_entry *e)
{
	/* a crossing leaves through its out zone's interface */
	__u32 zone = e->flags & TP_CT_F_EGRESS ? p->tuple.zone : e->out_zone;
	const struct tp_masq *m;

	/* a service flow's address is read on each packet: it never moves */
	if (!tp_ct_is_masq(e) || (e->flags & TP_CT_F_DNAT))
		return false;
	m = bpf_map_lookup_elem(&tp_masq, &zone);
	if (!m || !(m->flags & TP_MASQ_F_ON))
		return false;
	return !tp_addr_eq(p->ipv6 ? &m->addr6 : &m->addr4, &e->nat_addr);
}

/**
 * tp_masq_rewrite() - rewrite one side of a masqueraded flow's packet, its
 * echo id included: the source going out, the destination of a reply.
 * @skb:  the packet.
 * @p:    its parse (old values).
 * @src:  the source side, else the destination.
 * @addr: new address.
 * @port: new port or echo id.
 *
 * A global function: verified once for its callers.
 *
 * Return: 0 or -TP_DROP_REWRITE_FAIL.
 */
__noinline int tp_masq_rewrite(struct __sk_buff *skb, const struct tp_pkt *p,
			       bool src, const struct tp_addr *addr,
			       __be16 port)
{
	if (!skb || !p || !addr)
		return -TP_DROP_INTERNAL;
	return tp_snat_rewrite(skb, p, src, addr, port, true);
}

/**
 * tp_masq_icmp_error() - translate an ICMP error about a masqueraded flow
 * (tp_nat_icmp_error(), both layers).  An error about a reply leaves to
 * the tailnet, whose peers accept only the node's address from it: its
 * outer source becomes @addr whoever sent it (the pod, a router behind
 * the node, this host from another address), as Linux's MASQUERADE does
 * to errors related to a masqueraded connection.  Kept, a router's
 * fragmentation-needed error would be dropped by the peer, and path MTU
 * discovery would blackhole.
 * @skb:       the packet.
 * @p:         its parse, the quote in p->inner.
 * @inner_src: rewrite the quote's source (an error from the tailnet about a
 *             packet that left masqueraded), else its destination (an
 *             error from the pod about a reply).
 * @addr:      new address of that side.
 * @port:      new port (echo id) of that side.
 *
 * A global function: verified once for its callers.
 *
 * Return: 0 or -TP_DROP_REWRITE_FAIL.
 */
__noinline int tp_masq_icmp_error(struct __sk_buff *skb, const struct tp_pkt *p,
				  bool inner_src, const struct tp_addr *addr,
				  __be16 port)
{
	int ret;

	if (!skb || !p || !addr)
		return -TP_DROP_INTERNAL;
	ret = tp_nat_icmp_error(skb, p, inner_src, addr, port);
	/* from the pod, tp_nat_icmp_error() rewrote the outer source already */
	if (!ret && !inner_src &&
	    !tp_addr_eq(&p->tuple.saddr, &p->inner.tuple.daddr))
		ret = tp_nat_rewrite(skb, p, true, addr,
				     0); /* ICMP: the address only */
	return ret;
}

/**
 * tp_masq_route() - forward a crossing flow's packet, masqueraded in
 * tp_from_tailnet, to the tailnet interface of the zone it crosses to.
 * @skb:      the packet, rewritten (L3: its IP header at offset 0).
 * @p:        its parse.
 * @saddr:    its source now (the node's address of @out_zone).
 * @daddr:    its destination now.
 * @out_zone: the zone the flow leaves to.
 *
 * Handed to the kernel, a packet with one of the node's own addresses as
 * source coming in through a tailnet interface would be a martian: it is
 * forwarded here as a router would (TTL or hop limit decremented, the
 * FIB's interface, which must still be @out_zone's), L3 to L3, so no
 * header goes in front.  A global function, verified once.
 *
 * Return: TC_ACT_REDIRECT, or a negative drop reason (-TP_DROP_NO_ROUTE
 * when the FIB sends the destination elsewhere now).
 */
__noinline int tp_masq_route(struct __sk_buff *skb, const struct tp_pkt *p,
			     const struct tp_addr *saddr,
			     const struct tp_addr *daddr, __u32 out_zone)
{
	struct tp_scratch *scr = tp_scratch_get();
	__u32 ifindex;
	int ret;

	if (!skb || !p || !saddr || !daddr || !scr)
		return -TP_DROP_INTERNAL;
	ifindex = tp_route_ifindex(skb, p->ipv6, p->tuple.proto, saddr, daddr,
				   &scr->fib);
	if (!ifindex || tp_zone_of_ifindex(ifindex) != out_zone)
		return -TP_DROP_NO_ROUTE;
	ret = tp_snat_ttl_dec(skb, p);
	if (ret)
		return ret;
	return bpf_redirect(ifindex, 0);
}

#endif /* TP_BPF_MASQ_H */
