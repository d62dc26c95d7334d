/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Static 1:1 NAT: a pod (an inner address) gets a tailnet address of its
 * own (abi.h, tp_static_nat and tp_static_nat_rev).
 *
 * The translation sits at the tailnet edge of the stages, so every stage
 * in between (fragments, conntrack, service lookup, identities, policy)
 * sees the inner address only:
 *
 *   tp_from_tailnet: parse -> tp_static_nat_in() -> the rest
 *   tp_to_tailnet:   parse -> the rest -> tp_static_nat_out()
 *
 * Conntrack therefore holds one flow per connection, under the inner
 * address, whichever side opened it; the tailnet address is a pure
 * function of the inner one and needs no per-flow state, and policy
 * decides on the pod's own identity.
 *
 * Coming in: a packet to the tailnet address goes to the inner address;
 * an ICMP error about a packet that left from the tailnet address (quoted
 * source) gets its quote and, when the error is addressed to it, its
 * outer destination made inner.  A packet from the tailnet whose source
 * is one of our tailnet addresses is a forgery (that address is this
 * node's to use) and is dropped (TP_DROP_STATIC_SPOOF), so it can never
 * pass for the pod or for its replies.
 *
 * Going out, after the verdict: the source of what leaves from the inner
 * address is made the tailnet address; an ICMP error about a packet sent
 * to the inner address gets its quote (destination) and, when the pod
 * sent it, its outer source made the tailnet address.  The addresses are
 * read back from the packet, not from the parse: the stages before may
 * have translated it (a service's reply leaves from its VIP, never from a
 * static address).
 */
#ifndef TP_BPF_STATIC_NAT_H
#define TP_BPF_STATIC_NAT_H

#include "maps.h"
#include "nat.h"
#include "parse.h"
#include "stats.h"

/* No static NAT entry at all (abi.h, tp_static_nat_n): the stage is skipped. */
static __always_inline bool tp_static_nat_none(void)
{
	__u32 zero = 0, *n = bpf_map_lookup_elem(&tp_static_nat_n, &zero);

	return !n || !*n;
}

/* The entry of tailnet address @addr in @zone (or in every zone), or NULL. */
static __always_inline const struct tp_static_nat *
tp_static_nat_of(__u16 zone, const struct tp_addr *addr)
{
	struct tp_static_nat_key k = { .zone = zone, .addr = *addr };
	const struct tp_static_nat *v;

	v = bpf_map_lookup_elem(&tp_static_nat, &k);
	if (v || !zone)
		return v;
	k.zone = 0;
	return bpf_map_lookup_elem(&tp_static_nat, &k);
}

/* The entry of inner address @addr when it holds for @zone, or NULL. */
static __always_inline const struct tp_static_nat *
tp_static_nat_rev_of(__u16 zone, const struct tp_addr *addr)
{
	const struct tp_static_nat *v =
		bpf_map_lookup_elem(&tp_static_nat_rev, addr);

	return v && (!v->zone || v->zone == zone) ? v : NULL;
}

/*
 * Copy @v's address to @to when it has the packet's family (userspace
 * never writes another, but a map is anyone's with the rights to it).
 */
static __always_inline bool tp_static_nat_take(const struct tp_pkt *p,
					       const struct tp_static_nat *v,
					       struct tp_addr *to)
{
	bool v4 = !v->addr.w[0] && !v->addr.w[1] &&
		  v->addr.w[2] == bpf_htonl(0xffff);

	if (v4 == p->ipv6)
		return false;
	*to = v->addr;
	return true;
}

/* The source (@src) or destination address of the IP header at @l3_off. */
static __always_inline int tp_static_nat_load(struct __sk_buff *skb, bool ipv6,
					      __u32 l3_off, bool src,
					      struct tp_addr *a)
{
	__be32 v4;

	if (ipv6)
		return bpf_skb_load_bytes(
			skb,
			l3_off + (src ? offsetof(struct ipv6hdr, saddr)
				      : offsetof(struct ipv6hdr, daddr)),
			a->b, 16);
	if (bpf_skb_load_bytes(skb,
			       l3_off + (src ? offsetof(struct iphdr, saddr)
					     : offsetof(struct iphdr, daddr)),
			       &v4, 4))
		return -1;
	tp_addr_set_v4(a, v4);
	return 0;
}

/*
 * An ICMP error from the tailnet about a packet that left from a tailnet
 * address: quote and outer destination become the inner address.
 * Returns 1 when it was not about one, 0 when translated, or -reason.
 */
static __always_inline int tp_static_nat_in_error(struct __sk_buff *skb,
						  struct tp_pkt *p)
{
	const struct tp_static_nat *v =
		tp_static_nat_of(p->tuple.zone, &p->inner.tuple.saddr);
	struct tp_addr inner;
	int ret;

	if (!v || !tp_static_nat_take(p, v, &inner))
		return 1;
	ret = tp_nat_icmp_error(skb, p, true, &inner, p->inner.tuple.sport);
	if (ret < 0)
		return ret;
	if (tp_addr_eq(&p->tuple.daddr, &p->inner.tuple.saddr))
		p->tuple.daddr = inner;
	p->inner.tuple.saddr = inner;
	tp_stat_add(TP_STAT_STATIC_NAT_IN, skb->len);
	return 0;
}

/**
 * tp_static_nat_in() - from the tailnet, before any other stage: a packet
 * to a static NAT address goes to its inner address.
 * @skb:  the packet.
 * @p:    its parse, updated to the translated packet.
 * @kind: what tp_parse() returned.
 *
 * The caller skips the stage when tp_static_nat_none() (one lookup, on
 * the program's own path).
 *
 * Return: 0 (translated or not ours) or -TP_DROP_STATIC_SPOOF,
 * -TP_DROP_REWRITE_FAIL.
 */
static __always_inline int tp_static_nat_in(struct __sk_buff *skb,
					    struct tp_pkt *p, int kind)
{
	const struct tp_static_nat *v;
	struct tp_addr inner;
	int ret;

	if (kind != TP_PARSE_FLOW && kind != TP_PARSE_ICMP_ERR &&
	    kind != TP_PARSE_OTHER)
		return 0;
	if (tp_static_nat_of(p->tuple.zone, &p->tuple.saddr))
		return -TP_DROP_STATIC_SPOOF;
	if (kind == TP_PARSE_ICMP_ERR) {
		ret = tp_static_nat_in_error(skb, p);
		if (ret <= 0)
			return ret;
	}
	v = tp_static_nat_of(p->tuple.zone, &p->tuple.daddr);
	if (!v || !tp_static_nat_take(p, v, &inner))
		return 0;
	ret = tp_nat_rewrite(skb, p, false, &inner, p->tuple.dport);
	if (ret < 0)
		return ret;
	p->tuple.daddr = inner;
	tp_stat_add(TP_STAT_STATIC_NAT_IN, skb->len);
	return 0;
}

/*
 * An ICMP error leaving to the tailnet about a packet sent to an inner
 * address: quote and (when the pod sent it) outer source become the
 * tailnet address.  Returns 1 when it was not about one, 0 when
 * translated, or -reason.
 */
static __always_inline int tp_static_nat_out_error(struct __sk_buff *skb,
						   struct tp_pkt *p)
{
	const struct tp_static_nat *v;
	struct tp_addr out;
	int ret;

	if (tp_static_nat_load(skb, p->ipv6, p->inner.l3_off, false,
			       &p->inner.tuple.daddr))
		return -TP_DROP_REWRITE_FAIL;
	v = tp_static_nat_rev_of(p->tuple.zone, &p->inner.tuple.daddr);
	if (!v || !tp_static_nat_take(p, v, &out))
		return 1;
	ret = tp_nat_icmp_error(skb, p, false, &out, p->inner.tuple.dport);
	if (ret < 0)
		return ret;
	tp_stat_add(TP_STAT_STATIC_NAT_OUT, skb->len);
	return 0;
}

/**
 * tp_static_nat_out() - to the tailnet, after the verdict: what leaves
 * from an inner address leaves from its tailnet address.
 * @skb:  the packet, as the stages before left it.
 * @p:    its parse; the addresses this reads are read again from @skb.
 * @kind: what tp_parse() returned.
 *
 * The caller skips the stage when tp_static_nat_none(), as for
 * tp_static_nat_in().
 *
 * Return: 0 (translated or not ours) or -TP_DROP_REWRITE_FAIL.
 */
static __always_inline int tp_static_nat_out(struct __sk_buff *skb,
					     struct tp_pkt *p, int kind)
{
	const struct tp_static_nat *v;
	struct tp_addr out;
	int ret;

	if (kind != TP_PARSE_FLOW && kind != TP_PARSE_ICMP_ERR &&
	    kind != TP_PARSE_OTHER)
		return 0;
	if (tp_static_nat_load(skb, p->ipv6, p->l3_off, true, &p->tuple.saddr))
		return -TP_DROP_REWRITE_FAIL;
	if (kind == TP_PARSE_ICMP_ERR) {
		ret = tp_static_nat_out_error(skb, p);
		if (ret <= 0)
			return ret;
	}
	v = tp_static_nat_rev_of(p->tuple.zone, &p->tuple.saddr);
	if (!v || !tp_static_nat_take(p, v, &out))
		return 0;
	ret = tp_nat_rewrite(skb, p, true, &out, p->tuple.sport);
	if (ret < 0)
		return ret;
	tp_stat_add(TP_STAT_STATIC_NAT_OUT, skb->len);
	return 0;
}

#endif /* TP_BPF_STATIC_NAT_H */
