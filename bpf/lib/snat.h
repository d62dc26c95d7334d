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
static __always_inline const struct tp_addr *
tp_snat_addr(const struct tp_config *cfg, const struct tp_pkt *p)
{
	const struct tp_addr *a;

	if (!cfg)
		return NULL;
	a = p->ipv6 ? &cfg->snat_addr6 : &cfg->snat_addr4;
	return a->w[0] | a->w[1] | a->w[2] | a->w[3] ? a : NULL;
}

/**
 * tp_snat_wanted() - does a new service flow get its source translated?
 * @svc:       the flow's service.
 * @out_zone:  the zone the flow leaves to.
 * @out_route: the interface the FIB forwards it through toward its
 *             backend (tp_out_route()), 0: none.
 *
 * When the service says so, or, with TP_CFG_F_SNAT_AUTO, when the FIB
 * sends the backend out through an uplink (it is not behind a local pod
 * interface, so its replies would take its own default route).  Never
 * for a flow that leaves to another tailnet zone: its replies come back
 * through that zone's interface, not an uplink.
 */
static __always_inline bool tp_snat_wanted(const struct tp_svc *svc,
					   __u16 out_zone, __u32 out_route)
{
	const struct tp_config *cfg;

	if (out_zone)
		return false;
	if (svc->flags & TP_SVC_F_SNAT)
		return true;
	cfg = tp_ct_cfg();
	if (!cfg || !(cfg->flags & TP_CFG_F_SNAT_AUTO))
		return false;
	return tp_iface_get(out_route).flags & TP_IFACE_F_UPLINK;
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
static __always_inline int tp_nat_echo_id(struct __sk_buff *skb,
					  const struct tp_pkt *p, __be16 from,
					  __be16 to)
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
 * @skb:    the packet.
 * @p:      its parse (old values).
 * @src:    the source side, else the destination.
 * @addr:   new address.
 * @port:   new port or echo id.
 * @direct: as for tp_nat_rewrite_how(): false in tp_from_uplink.
 *
 * Return: 0 or -TP_DROP_REWRITE_FAIL.
 */
static __always_inline int tp_snat_rewrite(struct __sk_buff *skb,
					   const struct tp_pkt *p, bool src,
					   const struct tp_addr *addr,
					   __be16 port, bool direct)
{
	int ret = tp_nat_rewrite_how(skb, p, src, addr, port, direct);

	if (ret || !tp_snat_is_echo(p))
		return ret;
	return tp_nat_echo_id(skb, p, src ? p->tuple.sport : p->tuple.dport,
			      port);
}

/*
 * Decrement the IPv4 TTL or IPv6 hop limit as a router does: a packet
 * that would leave with 0 is dropped (-TP_DROP_TTL_EXCEEDED).
 */
static __always_inline int tp_snat_ttl_dec(struct __sk_buff *skb,
					   const struct tp_pkt *p)
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
		return bpf_skb_store_bytes(skb, off, w, 1, 0)
			       ? -TP_DROP_REWRITE_FAIL
			       : 0;
	}
	/* IPv4: TTL and protocol are one 16-bit word of the header checksum */
	__builtin_memcpy(&before, w, 2);
	old1 = w[0];
	w[0] = old1 - 1;
	__builtin_memcpy(&after, w, 2);
	if (bpf_skb_store_bytes(skb, off, w, 1, 0) ||
	    bpf_l3_csum_replace(skb, p->l3_off + 10, before, after,
				2)) /* check */
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
			     const struct tp_addr *saddr,
			     const struct tp_addr *daddr)
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
	rc = tp_fib_lookup(skb, skb->ifindex, p->ipv6, p->tuple.proto, 0, 0,
			   saddr, daddr, fib);
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
 * tp_snat_mtu_check() - does a restored reply fit the tailnet interface it
 * is redirected to?  A GSO packet fits when its segments do.
 * @skb:     the packet (Ethernet, from an uplink).
 * @p:       its parse.
 * @ifindex: the tailnet interface (L3: the Ethernet header goes).
 * @mtu:     set to that interface's MTU.
 *
 * Return: 0 when it fits, > 0 when it is too big, < 0 when the interface
 * is gone.
 */
static __always_inline long tp_snat_mtu_check(struct __sk_buff *skb,
					      const struct tp_pkt *p,
					      __u32 ifindex, __u32 *mtu)
{
	long ret;

	*mtu = 0;
	/*
	 * Without BPF_MTU_CHK_SEGS every GSO packet (a GRO'd TCP stream of
	 * the uplink's MTU, say) would fit.  That flag takes no length
	 * change, and needs none: it checks the segments' L3 length.
	 */
	if (skb->gso_size) {
		ret = bpf_check_mtu(skb, ifindex, mtu, 0, BPF_MTU_CHK_SEGS);
		if (ret >= 0)
			return ret;
		/* no transport header to find the segments by: as before */
		*mtu = 0;
	}
	return bpf_check_mtu(skb, ifindex, mtu, -(__s32)p->l3_off, 0);
}

/*
 * The ICMP errors tp_snat_too_big() makes: IP header, ICMP header, and the
 * start of the packet that was too big (its IP header and 8 bytes more,
 * what the sender's stack needs to find the socket).  Plain layouts, not
 * the kernel's (CO-RE) structs: these are written, not read.
 */
struct tp_too_big4 {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
	__u8 type;
	__u8 code;
	__sum16 csum;
	__be16 unused;
	__be16 mtu;
	__u8 quote[28];
};

struct tp_too_big6 {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
	__u8 type;
	__u8 code;
	__sum16 csum;
	__be32 mtu;
	__u8 quote[48];
};

/* Write the error @b (@len bytes) over the frame from an uplink and send it back. */
static __always_inline int tp_too_big_send(struct __sk_buff *skb, const void *b,
					   __u32 len)
{
	__u8 mac[12], swapped[12];

	if (bpf_skb_load_bytes(skb, 0, mac, sizeof(mac)))
		return -TP_DROP_TRUNCATED;
	__builtin_memcpy(swapped, mac + 6, 6);
	__builtin_memcpy(swapped + 6, mac, 6);
	if (bpf_skb_change_tail(skb, ETH_HLEN + len, 0) ||
	    bpf_skb_store_bytes(skb, 0, swapped, sizeof(swapped),
				BPF_F_RECOMPUTE_CSUM) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, b, len, BPF_F_RECOMPUTE_CSUM))
		return -TP_DROP_REWRITE_FAIL;
	return bpf_redirect(skb->ifindex, 0);
}

static __always_inline __sum16 tp_csum_of(const void *data, __u32 len,
					  __u32 seed)
{
	return ~tp_csum_fold(
		(__u32)bpf_csum_diff(NULL, 0, (__be32 *)data, len, seed));
}

static __always_inline int tp_too_big4(struct __sk_buff *skb,
				       const struct tp_pkt *p, __u32 mtu)
{
	struct tp_too_big4 b = {};

	if (bpf_skb_load_bytes(skb, p->l3_off, b.quote, sizeof(b.quote)))
		return -TP_DROP_TRUNCATED;
	/* no DF: the kernel would fragment it (we cannot); options: not quoted here */
	if (b.quote[0] != 0x45 || !(b.quote[6] & 0x40))
		return -TP_DROP_FRAG_NEEDED;
	b.ver_ihl = 0x45;
	b.tot_len = bpf_htons(sizeof(b));
	b.ttl = 64;
	b.protocol = IPPROTO_ICMP;
	b.saddr = p->tuple.daddr.w[3];
	b.daddr = p->tuple.saddr.w[3];
	b.check = tp_csum_of(&b, 20, 0);
	b.type = ICMP_DEST_UNREACH;
	b.code = 4; /* fragmentation needed */
	b.mtu = bpf_htons((__u16)mtu);
	b.csum = tp_csum_of(&b.type, sizeof(b) - 20, 0);
	return tp_too_big_send(skb, &b, sizeof(b));
}

static __always_inline int tp_too_big6(struct __sk_buff *skb,
				       const struct tp_pkt *p, __u32 mtu)
{
	struct tp_too_big6 b = {};
	__u32 sum;

	if (bpf_skb_load_bytes(skb, p->l3_off, b.quote, sizeof(b.quote)))
		return -TP_DROP_TRUNCATED;
	b.ver_tc_flow = bpf_htonl(6u << 28);
	b.payload_len = bpf_htons(sizeof(b) - 40);
	b.nexthdr = IPPROTO_ICMPV6;
	b.hop_limit = 64;
	__builtin_memcpy(b.saddr, p->tuple.daddr.b, 16);
	__builtin_memcpy(b.daddr, p->tuple.saddr.b, 16);
	b.type = ICMPV6_PKT_TOOBIG;
	b.mtu = bpf_htonl(mtu);
	/* pseudo-header: addresses, upper-layer length, next header */
	sum = (__u32)bpf_csum_diff(NULL, 0, (__be32 *)b.saddr, 32, 0);
	sum = tp_csum_add(sum, bpf_htonl(sizeof(b) - 40));
	sum = tp_csum_add(sum, bpf_htonl(IPPROTO_ICMPV6));
	b.csum = tp_csum_of(&b.type, sizeof(b) - 40, sum);
	return tp_too_big_send(skb, &b, sizeof(b));
}

/**
 * tp_snat_too_big() - turn a reply too big for the tailnet interface into
 * the error a router on its path sends: ICMP fragmentation needed (IPv4,
 * when the reply has DF) or ICMPv6 packet too big, from the node's address
 * (the reply's destination) back to its sender, quoting the reply as it
 * came, and redirected back out the uplink it came in on.
 * @skb: the reply (Ethernet, from an uplink), untranslated.
 * @p:   its parse.
 * @mtu: the tailnet interface's MTU.
 *
 * No error for a later fragment, nor for an IPv4 reply without DF (the
 * kernel would fragment it) or with options.  Replies are flow packets
 * (TCP, UDP, echo), never ICMP errors: no error about an error.
 *
 * Return: TC_ACT_REDIRECT, or a negative drop reason (the reply is
 * dropped without an error).
 */
static __always_inline int tp_snat_too_big(struct __sk_buff *skb,
					   const struct tp_pkt *p, __u32 mtu)
{
	if (p->frag == TP_FRAG_LATER || p->l3_off != ETH_HLEN)
		return -TP_DROP_FRAG_NEEDED;
	return p->ipv6 ? tp_too_big6(skb, p, mtu) : tp_too_big4(skb, p, mtu);
}

#endif /* TP_BPF_SNAT_H */
