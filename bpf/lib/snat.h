/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SNAT toward off-node backends: the decision, the source rewrite, and
 * forwarding the translated packet ourselves.
 *
 * A SNAT flow's packets leave with the node's address as source.  Handed
 * to the kernel on the tailnet interface they would be martians (a packet
 * arriving with one of the node's own addresses as source), so they are
 * routed here as a router would: TTL or hop limit decremented, next hop
 * and MACs from bpf_fib_lookup(), an Ethernet header put in front of the
 * L3 tailnet packet, bpf_redirect() to the egress device
 * (bpf_redirect_neigh() when the neighbour is not resolved yet).  Such a
 * packet bypasses the kernel's forwarding path and its netfilter hooks:
 * the flow was decided by our policy at the tailnet ingress.
 *
 * Replies come back on the uplink (tp_from_uplink), are restored to the
 * VIP and the client and redirected to the flow's tailnet interface,
 * marked in skb->tc_index so that tp_to_tailnet passes them untouched:
 * they were decided and accounted already.  The port allocation is
 * conntrack's (tp_ct_snat_reserve()).
 */
#ifndef TP_BPF_SNAT_H
#define TP_BPF_SNAT_H

#include "ct.h"
#include "identity.h"
#include "nat.h"

#define TC_ACT_REDIRECT 7

/*
 * skb->tc_index bit of a reply tp_from_uplink restored and redirected to
 * a tailnet interface.  skb->mark belongs to Tailscale and the CNI;
 * tc_index is set and read by TC programs only (Cilium keeps its
 * TC_INDEX_F_SKIP_* flags in bits 0-4), and it is no wire field.
 */
#define TP_TC_INDEX_F_REVSNAT (1u << 12)

/* The node's SNAT address for packets of @p's family, or NULL if none. */
static __always_inline const struct tp_addr *tp_snat_addr(const struct tp_config *cfg,
							  const struct tp_pkt *p)
{
	const struct tp_addr *a;

	if (!cfg)
		return NULL;
	a = p->ipv6 ? &cfg->snat_addr6 : &cfg->snat_addr4;
	return a->w[0] | a->w[1] | a->w[2] | a->w[3] ? a : NULL;
}

/**
 * tp_snat_wanted() - does a new service flow get its source translated?
 * @skb:      the packet.
 * @p:        its parse.
 * @svc:      the flow's service.
 * @e:        the flow entry being built (backend in nat_addr).
 * @out_zone: the zone the flow leaves to.
 * @fib:      scratch.
 *
 * When the service says so, or, with TP_CFG_F_SNAT_AUTO, when the FIB
 * sends the backend out through an uplink (it is not behind a local pod
 * interface, so its replies would take its own default route).  Never
 * for a flow that leaves to another tailnet zone: its replies come back
 * through that zone's interface, not an uplink.
 */
static __always_inline bool tp_snat_wanted(struct __sk_buff *skb, const struct tp_pkt *p,
					   const struct tp_svc *svc,
					   const struct tp_ct_entry *e, __u16 out_zone,
					   struct bpf_fib_lookup *fib)
{
	const struct tp_config *cfg;
	const struct tp_iface *ifc;
	__u32 ifindex;

	if (out_zone)
		return false;
	if (svc->flags & TP_SVC_F_SNAT)
		return true;
	cfg = tp_ct_cfg();
	if (!cfg || !(cfg->flags & TP_CFG_F_SNAT_AUTO))
		return false;
	ifindex = tp_route_ifindex(skb, p->ipv6, p->tuple.proto, &p->tuple.saddr,
				   &e->nat_addr, fib);
	ifc = ifindex ? bpf_map_lookup_elem(&tp_ifaces, &ifindex) : NULL;
	return ifc && (ifc->flags & TP_IFACE_F_UPLINK);
}

/* Is @p an ICMP or ICMPv6 echo packet (whose id plays the port)? */
static __always_inline bool tp_snat_is_echo(const struct tp_pkt *p)
{
	return p->tuple.proto == (p->ipv6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
}

/*
 * Rewrite an echo packet's id from @from to @to.  The id is no part of
 * any pseudo-header: the ICMP checksum changes by the id alone.
 */
static __always_inline int tp_nat_echo_id(struct __sk_buff *skb, const struct tp_pkt *p,
					  __be16 from, __be16 to)
{
	int err;

	if (from == to || p->frag == TP_FRAG_LATER)
		return 0;
	err = bpf_skb_store_bytes(skb, p->l4_off + 4, &to, 2, 0);
	err |= bpf_l4_csum_replace(skb, p->l4_off + 2, from, to, 2);
	return err ? -TP_DROP_REWRITE_FAIL : 0;
}

/**
 * tp_snat_rewrite() - rewrite one side of a SNAT flow's packet, its echo
 * id included (the request's source, the reply's destination).
 * @skb:  the packet.
 * @p:    its parse (old values).
 * @src:  the source side, else the destination.
 * @addr: new address.
 * @port: new port or echo id.
 *
 * Return: 0 or -TP_DROP_REWRITE_FAIL.
 */
static __always_inline int tp_snat_rewrite(struct __sk_buff *skb, const struct tp_pkt *p,
					   bool src, const struct tp_addr *addr, __be16 port)
{
	int ret = tp_nat_rewrite(skb, p, src, addr, port);

	if (ret || !tp_snat_is_echo(p))
		return ret;
	return tp_nat_echo_id(skb, p, src ? p->tuple.sport : p->tuple.dport, port);
}

/*
 * Decrement the IPv4 TTL or IPv6 hop limit as a router does: a packet
 * that would leave with 0 is dropped (-TP_DROP_TTL_EXCEEDED).
 */
static __always_inline int tp_snat_ttl_dec(struct __sk_buff *skb, const struct tp_pkt *p)
{
	/* plain offsets: CO-RE offsetof() in a conditional miscompiles (clang 14) */
	__u32 off = p->l3_off + (p->ipv6 ? 7 : 8); /* hop_limit, ttl */
	__u8 w[2], old1;
	__be16 before, after;

	if (bpf_skb_load_bytes(skb, off, w, 2))
		return -TP_DROP_TRUNCATED;
	if (w[0] <= 1)
		return -TP_DROP_TTL_EXCEEDED;
	if (p->ipv6) {
		w[0]--;
		return bpf_skb_store_bytes(skb, off, w, 1, 0) ? -TP_DROP_REWRITE_FAIL : 0;
	}
	/* IPv4: TTL and protocol are one 16-bit word of the header checksum */
	__builtin_memcpy(&before, w, 2);
	old1 = w[0];
	w[0] = old1 - 1;
	__builtin_memcpy(&after, w, 2);
	if (bpf_skb_store_bytes(skb, off, w, 1, 0) ||
	    bpf_l3_csum_replace(skb, p->l3_off + 10, before, after, 2)) /* check */
		return -TP_DROP_REWRITE_FAIL;
	return 0;
}

/**
 * tp_snat_route() - forward a translated packet from a tailnet interface
 * (L3) ourselves: TTL, FIB, Ethernet header, redirect.
 * @skb:   the packet, rewritten; its IP header at p->l3_off.
 * @p:     its parse.
 * @saddr: its source now.
 * @daddr: its destination now.
 *
 * A global function (verified once for its callers); scr->fib is its
 * scratch.
 *
 * Return: TC_ACT_REDIRECT, or a negative drop reason (-TP_DROP_NO_ROUTE
 * when the FIB has no forwarding route).
 */
__noinline int tp_snat_route(struct __sk_buff *skb, const struct tp_pkt *p,
			     const struct tp_addr *saddr, const struct tp_addr *daddr)
{
	struct tp_scratch *scr = tp_scratch_get();
	struct bpf_redir_neigh nh = {};
	struct bpf_fib_lookup *fib;
	struct {
		__u8 dst[6];
		__u8 src[6];
		__be16 proto;
	} eth;
	long rc;
	int ret;

	if (!skb || !p || !saddr || !daddr || !scr)
		return -TP_DROP_INTERNAL;
	fib = &scr->fib;
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->ifindex = skb->ifindex;
	fib->l4_protocol = p->tuple.proto;
	if (p->ipv6) {
		fib->family = AF_INET6;
		__builtin_memcpy(fib->ipv6_src, saddr->w, 16);
		__builtin_memcpy(fib->ipv6_dst, daddr->w, 16);
	} else {
		fib->family = AF_INET;
		fib->ipv4_src = saddr->w[3];
		fib->ipv4_dst = daddr->w[3];
	}
	rc = bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return -TP_DROP_NO_ROUTE;
	ret = tp_snat_ttl_dec(skb, p);
	if (ret)
		return ret;
	/* tailnet interfaces are L3: the uplink wants an Ethernet frame */
	if (!p->l3_off && bpf_skb_change_head(skb, ETH_HLEN, 0))
		return -TP_DROP_REWRITE_FAIL;
	__builtin_memcpy(eth.dst, fib->dmac, 6);
	__builtin_memcpy(eth.src, fib->smac, 6);
	eth.proto = bpf_htons(p->ipv6 ? ETH_P_IPV6 : ETH_P_IP);
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0))
		return -TP_DROP_REWRITE_FAIL;
	if (rc == BPF_FIB_LKUP_RET_SUCCESS)
		return bpf_redirect(fib->ifindex, 0);
	/* no neighbour entry yet: the kernel resolves it for the next hop */
	if (p->ipv6) {
		nh.nh_family = AF_INET6;
		__builtin_memcpy(&nh.ipv6_nh, fib->ipv6_dst, 16);
	} else {
		nh.nh_family = AF_INET;
		nh.ipv4_nh = fib->ipv4_dst;
	}
	return bpf_redirect_neigh(fib->ifindex, &nh, sizeof(nh), 0);
}

/**
 * tp_snat_mtu_ok() - does a restored reply fit the tailnet interface it
 * is redirected to?  A GSO packet fits when its segments do.
 * @skb:     the packet (Ethernet, from an uplink).
 * @p:       its parse.
 * @ifindex: the tailnet interface (L3: the Ethernet header goes).
 */
static __always_inline bool tp_snat_mtu_ok(struct __sk_buff *skb, const struct tp_pkt *p,
					   __u32 ifindex)
{
	__u32 mtu_len = 0;

	return bpf_check_mtu(skb, ifindex, &mtu_len, -(__s32)p->l3_off, 0) ==
	       BPF_MTU_CHK_RET_SUCCESS;
}

#endif /* TP_BPF_SNAT_H */
