/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Identities: (zone, address) -> u32 by longest prefix, and the zone a
 * destination leaves to.  Looked up once per flow, never per packet of an
 * established flow.
 */
#ifndef TP_BPF_IDENTITY_H
#define TP_BPF_IDENTITY_H

#include "maps.h"
#include "parse.h"

/**
 * tp_identity_of() - the identity of an address.
 * @zone:     the zone the address lives in (0: cluster/node side).
 * @addr:     the address.
 * @fallback: identity when no prefix matches.
 */
static __always_inline __u32 tp_identity_of(__u16 zone,
					    const struct tp_addr *addr,
					    __u32 fallback)
{
	struct tp_identity_key k = {
		.prefixlen = TP_IDENTITY_PLEN(128),
		.zone = zone,
		.addr = *addr,
	};
	struct tp_identity_val *v = bpf_map_lookup_elem(&tp_identity, &k);

	return v ? v->id : fallback;
}

static __always_inline __u16 tp_zone_of_ifindex(__u32 ifindex)
{
	struct tp_iface ifc = tp_iface_get(ifindex);

	return ifc.flags & TP_IFACE_F_TAILNET ? ifc.zone : 0;
}

/*
 * bpf_fib_lookup() from @in for a packet @saddr:@sport -> @daddr:@dport
 * (ports 0: none), @fib filled from scratch; the helper's return code.
 */
static __always_inline long
tp_fib_lookup(struct __sk_buff *skb, __u32 in, bool ipv6, __u8 proto,
	      __be16 sport, __be16 dport, const struct tp_addr *saddr,
	      const struct tp_addr *daddr, struct bpf_fib_lookup *fib)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->ifindex = in;
	fib->l4_protocol = proto;
	fib->sport = sport;
	fib->dport = dport;
	if (ipv6) {
		fib->family = AF_INET6;
		__builtin_memcpy(fib->ipv6_src, saddr->w, 16);
		__builtin_memcpy(fib->ipv6_dst, daddr->w, 16);
	} else {
		fib->family = AF_INET;
		fib->ipv4_src = saddr->w[3];
		fib->ipv4_dst = daddr->w[3];
	}
	return bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
}

/**
 * tp_fib_ifindex() - the interface a packet from @saddr:@sport to
 * @daddr:@dport arriving on @in would be forwarded through.
 * @skb:   the packet (only its namespace counts).
 * @in:    the input interface of the lookup.
 * @ipv6:  the family.
 * @proto: the IP protocol.
 * @sport: source port (TCP, UDP; 0 otherwise), network order.
 * @dport: destination port, likewise.
 * @saddr: source address.
 * @daddr: destination address.
 * @fib:   scratch space.
 *
 * A FIB lookup as the forwarding path would make it (policy routing
 * included, so tailscaled's table 52 counts, and so do rules with port
 * selectors when the ports are given).  Destinations that are not
 * forwarded (local, unroutable, blackhole, forwarding disabled on @in)
 * give 0.
 */
static __always_inline __u32 tp_fib_ifindex(struct __sk_buff *skb, __u32 in,
					    bool ipv6, __u8 proto, __be16 sport,
					    __be16 dport,
					    const struct tp_addr *saddr,
					    const struct tp_addr *daddr,
					    struct bpf_fib_lookup *fib)
{
	long ret = tp_fib_lookup(skb, in, ipv6, proto, sport, dport, saddr,
				 daddr, fib);

	if (ret != BPF_FIB_LKUP_RET_SUCCESS && ret != BPF_FIB_LKUP_RET_NO_NEIGH)
		return 0;
	return fib->ifindex;
}

/**
 * tp_route_ifindex() - the interface a packet from @saddr to @daddr would
 * be forwarded through: tp_fib_ifindex() on the packet's own interface,
 * without ports.
 * @skb:   the packet (its interface is the lookup's input interface).
 * @ipv6:  the family.
 * @proto: the IP protocol.
 * @saddr: source address.
 * @daddr: destination address.
 * @fib:   scratch space.
 */
static __always_inline __u32 tp_route_ifindex(struct __sk_buff *skb, bool ipv6,
					      __u8 proto,
					      const struct tp_addr *saddr,
					      const struct tp_addr *daddr,
					      struct bpf_fib_lookup *fib)
{
	return tp_fib_ifindex(skb, skb->ifindex, ipv6, proto, 0, 0, saddr,
			      daddr, fib);
}

/* The zone of tp_route_ifindex()'s interface (0: none, or not forwarded). */
static __always_inline __u16 tp_route_zone(struct __sk_buff *skb, bool ipv6,
					   __u8 proto,
					   const struct tp_addr *saddr,
					   const struct tp_addr *daddr,
					   struct bpf_fib_lookup *fib)
{
	return tp_zone_of_ifindex(
		tp_route_ifindex(skb, ipv6, proto, saddr, daddr, fib));
}

/**
 * tp_out_route() - the interface a packet from the tailnet to @daddr
 * (after translation) is forwarded through, tp_route_ifindex() from its
 * source: the zone it leaves to is that interface's (tp_zone_of_ifindex()),
 * and whether SNAT auto translates a service flow is whether it is an
 * uplink (tp_snat_wanted()); one FIB lookup answers both.
 * @skb:   the packet.
 * @p:     its parse.
 * @daddr: destination after translation.
 * @fib:   scratch space.
 *
 * Return: the interface's index, 0 when the FIB does not forward it.
 */
static __always_inline __u32 tp_out_route(struct __sk_buff *skb,
					  const struct tp_pkt *p,
					  const struct tp_addr *daddr,
					  struct bpf_fib_lookup *fib)
{
	return tp_route_ifindex(skb, p->ipv6, p->tuple.proto, &p->tuple.saddr,
				daddr, fib);
}

/**
 * tp_replies_elsewhere() - would the FIB send the replies of a new flow
 * from the tailnet out of an interface that is not its zone's?
 * @skb:   the packet.
 * @p:     its parse (tuple.zone: the zone it came from).
 * @daddr: its destination after translation, its replies' source.
 * @fib:   scratch space.
 *
 * The replies of a flow leaving to a tailnet interface (a crossing, a
 * hairpin) are forwarded by the node back to the flow's source; when the
 * FIB routes that source out of another interface (another zone's, the
 * cluster side), the flow's replies never come back through its zone and
 * the source is no address of that zone's peers: a peer covering it (a
 * subnet router, an overlapping tailnet) would hold tuples of flows of
 * the zone the address belongs to.  A source the FIB does not forward at
 * all gives false.
 */
static __always_inline bool tp_replies_elsewhere(struct __sk_buff *skb,
						 const struct tp_pkt *p,
						 const struct tp_addr *daddr,
						 struct bpf_fib_lookup *fib)
{
	__u32 ifindex = tp_route_ifindex(skb, p->ipv6, p->tuple.proto, daddr,
					 &p->tuple.saddr, fib);

	return ifindex && tp_zone_of_ifindex(ifindex) != p->tuple.zone;
}

#endif /* TP_BPF_IDENTITY_H */
