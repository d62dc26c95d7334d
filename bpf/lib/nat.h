/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Address and port translation with incremental checksum updates.
 *
 * Flow packets: addresses are rewritten with bpf_l4_csum_replace(...,
 * BPF_F_PSEUDO_HDR) and ports without it, so CHECKSUM_PARTIAL packets
 * (pods over veth, TUN GSO from tailscaled) stay correct; nothing is ever
 * summed over the payload, so GSO super-packets cost the same as small
 * ones.  UDP's zero checksum stays zero (BPF_F_MARK_MANGLED_0).  The
 * address, the IPv4 header checksum and the port are written directly
 * when the headers are in the linear data (the helpers when not); for
 * that the verifier makes every program that writes so begin with
 * bpf_skb_pull_data(skb, 0) on a cloned skb (this host's TCP, a packet a
 * tap holds), making its head writable whether or not it is rewritten.
 * tp_from_uplink, which every packet of the uplinks passes, ours or not,
 * rewrites through the helpers only (tp_nat_rewrite_how()) and has none.
 *
 * ICMP errors: the quoted packet is rewritten too (address, port, its IPv4
 * header checksum and its L4 checksum when quoted), and the ICMP checksum
 * absorbs every byte changed inside it; for ICMPv6 also the outer address
 * in its pseudo-header.  ICMP errors always carry full checksums.
 */
#ifndef TP_BPF_NAT_H
#define TP_BPF_NAT_H

#include "parse.h"

/* ---- one's complement arithmetic on native-order words (RFC 1624) ---- */

static __always_inline __u32 tp_csum_add(__u32 sum, __u32 x)
{
	sum += x;
	return sum + (sum < x);
}

static __always_inline __u16 tp_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Accumulate the change of a 32-bit word from @from to @to. */
static __always_inline __u32 tp_csum_diff32(__u32 diff, __u32 from, __u32 to)
{
	return tp_csum_add(tp_csum_add(diff, ~from), to);
}

/* Accumulate the change of a 16-bit word from @from to @to. */
static __always_inline __u32 tp_csum_diff16(__u32 diff, __u16 from, __u16 to)
{
	return tp_csum_add(tp_csum_add(diff, (__u16)~from), to);
}

static __always_inline __u32 tp_csum_diff_addr(__u32 diff,
					       const struct tp_addr *from,
					       const struct tp_addr *to,
					       bool ipv6)
{
	if (ipv6) {
		diff = tp_csum_diff32(diff, from->w[0], to->w[0]);
		diff = tp_csum_diff32(diff, from->w[1], to->w[1]);
		diff = tp_csum_diff32(diff, from->w[2], to->w[2]);
	}
	return tp_csum_diff32(diff, from->w[3], to->w[3]);
}

/* A checksum field after the bytes it covers changed by @diff. */
static __always_inline __u16 tp_csum_apply(__u16 csum, __u32 diff)
{
	return ~tp_csum_fold(tp_csum_add((__u16)~csum, diff));
}

/*
 * A 16-bit checksum field after a 32-bit word it covers went from @from
 * to @to: the kernel's csum_replace4() (bpf_l3_csum_replace()), to the
 * bit, so a header written directly carries what the helper would write.
 */
static __always_inline __u16 tp_csum_replace4(__u16 csum, __u32 from, __u32 to)
{
	return ~tp_csum_fold(tp_csum_add(tp_csum_add(~(__u32)csum, ~from), to));
}

/* ---- flow packets ------------------------------------------------------ */

/*
 * The packet's bytes [@off, @off + @len) for a direct write when they are
 * in the linear data (the headers of nearly every packet), else NULL: a
 * GSO/GRO skb's headers past its head are written by the helpers.  Each
 * direct write saves a helper call, which costs more than the write on
 * CPUs with return-thunk mitigations.  Called again after any helper that
 * may move the packet (the checksum helpers): the pointer is not kept.
 */
static __always_inline void *tp_linear(struct __sk_buff *skb, __u32 off,
				       __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u64 at = off;

	if (off > TP_LOAD_DIRECT_MAX)
		return NULL;
	barrier_var(at); /* as in tp_load(): the bound is on what is added */
	at &= TP_LOAD_DIRECT_MAX;
	if (data + at + len > data_end)
		return NULL;
	return data + at;
}

/*
 * An IPv4 address of the header at @l3_off (its source or destination)
 * and the header checksum, @from -> @to: directly when @direct and the
 * header is in the linear data, else through the helpers.  Return:
 * nonzero on failure.
 */
static __always_inline int tp_nat_ipv4_addr(struct __sk_buff *skb, __u32 l3_off,
					    bool src,
					    const struct tp_addr *from,
					    const struct tp_addr *to,
					    bool direct)
{
	struct iphdr *ip = direct ? tp_linear(skb, l3_off, sizeof(*ip)) : NULL;
	__u32 off = l3_off + (src ? offsetof(struct iphdr, saddr)
				  : offsetof(struct iphdr, daddr));

	if (ip) {
		if (src)
			ip->saddr = to->w[3];
		else
			ip->daddr = to->w[3];
		ip->check = tp_csum_replace4(ip->check, from->w[3], to->w[3]);
		return 0;
	}
	return bpf_skb_store_bytes(skb, off, &to->w[3], 4, 0) |
	       bpf_l3_csum_replace(skb, l3_off + offsetof(struct iphdr, check),
				   from->w[3], to->w[3], 4);
}

/*
 * An IPv6 address at @off (the header's source or destination), @to:
 * directly when @direct and it is in the linear data.  IPv6 has no
 * header checksum.
 */
static __always_inline int tp_nat_ipv6_addr(struct __sk_buff *skb, __u32 off,
					    const struct tp_addr *to,
					    bool direct)
{
	struct tp_addr *at = direct ? tp_linear(skb, off, sizeof(*at)) : NULL;

	if (at) {
		*at = *to;
		return 0;
	}
	return bpf_skb_store_bytes(skb, off, to->b, sizeof(*to), 0);
}

/* A port at @off (the L4 header's source or destination), @port. */
static __always_inline int tp_nat_port(struct __sk_buff *skb, __u32 off,
				       __be16 port, bool direct)
{
	__be16 *at = direct ? tp_linear(skb, off, sizeof(port)) : NULL;

	if (at) {
		*at = port;
		return 0;
	}
	return bpf_skb_store_bytes(skb, off, &port, sizeof(port), 0);
}

/* Offset of the L4 checksum within its header, or 0 if it has none we keep. */
static __always_inline __u32 tp_l4_csum_off(__u8 proto, bool ipv6)
{
	switch (proto) {
	case IPPROTO_TCP:
		return offsetof(struct tcphdr, check);
	case IPPROTO_UDP:
		return offsetof(struct udphdr, check);
	case IPPROTO_ICMPV6:
		/* ICMPv6 covers a pseudo-header; ICMPv4 does not */
		return ipv6 ? 2 : 0;
	}
	return 0;
}

/**
 * tp_nat_rewrite_how() - rewrite one side (address and port) of a packet.
 * @skb:    the packet.
 * @p:      its parse; its tuple still holds the old values.
 * @src:    rewrite the source side (else the destination).
 * @addr:   new address.
 * @port:   new port (TCP/UDP only; ignored for ICMP echo).
 * @direct: write the linear data directly (else only the helpers); a
 *          constant, so that a program passing false has no direct
 *          write and no unclone prologue (tp_from_uplink).
 *
 * A later fragment has no L4 header: only its IP header changes.
 *
 * Return: 0 or -TP_DROP_REWRITE_FAIL.
 */
static __always_inline int tp_nat_rewrite_how(struct __sk_buff *skb,
					      const struct tp_pkt *p, bool src,
					      const struct tp_addr *addr,
					      __be16 port, bool direct)
{
	const struct tp_addr *old = src ? &p->tuple.saddr : &p->tuple.daddr;
	__be16 old_port = src ? p->tuple.sport : p->tuple.dport;
	__u8 proto = p->tuple.proto;
	bool has_l4 = p->frag != TP_FRAG_LATER;
	__u32 csum_off = tp_l4_csum_off(proto, p->ipv6);
	__u64 flags = proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	int err = 0;

	if (has_l4 && csum_off)
		csum_off += p->l4_off;
	else
		csum_off = 0;

	if (!tp_addr_eq(old, addr)) {
		if (!p->ipv6) {
			err |= tp_nat_ipv4_addr(skb, p->l3_off, src, old, addr,
						direct);
			if (csum_off)
				err |= bpf_l4_csum_replace(
					skb, csum_off, old->w[3], addr->w[3],
					flags | BPF_F_PSEUDO_HDR | 4);
		} else {
			__u32 off = p->l3_off +
				    (src ? offsetof(struct ipv6hdr, saddr)
					 : offsetof(struct ipv6hdr, daddr));

			err |= tp_nat_ipv6_addr(skb, off, addr, direct);
			/* bpf_csum_diff()'s sum, without its call */
			if (csum_off)
				err |= bpf_l4_csum_replace(
					skb, csum_off, 0,
					tp_csum_diff_addr(0, old, addr, true),
					flags | BPF_F_PSEUDO_HDR);
		}
	}
	if (has_l4 && (proto == IPPROTO_TCP || proto == IPPROTO_UDP) &&
	    old_port != port) {
		err |= tp_nat_port(skb, p->l4_off + (src ? 0 : 2), port,
				   direct);
		err |= bpf_l4_csum_replace(skb, csum_off, old_port, port,
					   flags | 2);
	}
	return err ? -TP_DROP_REWRITE_FAIL : 0;
}

/* tp_nat_rewrite_how(), the linear data written directly. */
static __always_inline int tp_nat_rewrite(struct __sk_buff *skb,
					  const struct tp_pkt *p, bool src,
					  const struct tp_addr *addr,
					  __be16 port)
{
	return tp_nat_rewrite_how(skb, p, src, addr, port, true);
}

/* ---- ICMP errors ---------------------------------------------------------- */

/* Rewrite a 16-bit checksum at @off by @diff; returns the change for the ICMP sum. */
static __always_inline __u32 tp_nat_fix_csum16(struct __sk_buff *skb, __u32 off,
					       __u32 diff, bool udp, int *err)
{
	__u16 old, new;

	if (bpf_skb_load_bytes(skb, off, &old, 2)) {
		*err = 1;
		return 0;
	}
	if (udp && !old)
		return 0; /* no UDP checksum: leave it so */
	new = tp_csum_apply(old, diff);
	if (udp && !new)
		new = 0xffff;
	*err |= bpf_skb_store_bytes(skb, off, &new, 2, 0);
	return tp_csum_diff16(0, old, new);
}

/**
 * tp_nat_icmp_error() - translate an ICMP error about a translated flow.
 * @skb:       the packet.
 * @p:         its parse, with the quoted packet in p->inner.
 * @inner_src: rewrite the quoted packet's source side (the error is about a
 *             packet that left us translated back: VIP -> client), else its
 *             destination side (about a packet we translated: client ->
 *             backend).
 * @addr:      new address for that side.
 * @port:      new port for that side (TCP/UDP; the id of a quoted echo).
 *
 * The outer address on the same side as the quoted one (outer destination
 * when the quoted source changes, and vice versa) is rewritten only when
 * it equals the quoted address: an error from a router on the way keeps
 * the router's address.
 *
 * Return: 0 or -TP_DROP_REWRITE_FAIL.
 */
static __always_inline int
tp_nat_icmp_error(struct __sk_buff *skb, const struct tp_pkt *p, bool inner_src,
		  const struct tp_addr *addr, __be16 port)
{
	const struct tp_inner *in = &p->inner;
	const struct tp_ct_key *t = &in->tuple;
	const struct tp_addr *old = inner_src ? &t->saddr : &t->daddr;
	const struct tp_addr *outer =
		inner_src ? &p->tuple.daddr : &p->tuple.saddr;
	__be16 old_port = inner_src ? t->sport : t->dport;
	/* a quoted echo's id plays the port (SNAT changes it) */
	bool echo = t->proto == (p->ipv6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	bool ports =
		(t->proto == IPPROTO_TCP || t->proto == IPPROTO_UDP || echo) &&
		old_port != port;
	__u32 adiff = tp_csum_diff_addr(0, old, addr, p->ipv6);
	__u32 pdiff = ports ? tp_csum_diff16(0, old_port, port) : 0;
	__u32 icmp_diff = 0, off, lc_off = 0, l4_diff = pdiff;
	int err = 0;

	/* quoted IP header */
	if (!p->ipv6) {
		off = in->l3_off + (inner_src ? offsetof(struct iphdr, saddr)
					      : offsetof(struct iphdr, daddr));
		err |= bpf_skb_store_bytes(skb, off, &addr->w[3], 4, 0);
		icmp_diff = tp_csum_add(
			adiff,
			tp_nat_fix_csum16(
				skb, in->l3_off + offsetof(struct iphdr, check),
				adiff, false, &err));
	} else {
		off = in->l3_off + (inner_src
					    ? offsetof(struct ipv6hdr, saddr)
					    : offsetof(struct ipv6hdr, daddr));
		err |= bpf_skb_store_bytes(skb, off, addr->b, 16, 0);
		icmp_diff = adiff;
	}

	/* quoted L4 header: ports, and its checksum when it was quoted */
	if (ports) {
		off = in->l4_off + (echo ? 4 : inner_src ? 0 : 2);
		err |= bpf_skb_store_bytes(skb, off, &port, 2, 0);
		icmp_diff = tp_csum_add(icmp_diff, pdiff);
	}
	if (t->proto == IPPROTO_TCP && in->l4_len >= 18)
		lc_off = offsetof(struct tcphdr, check);
	else if (t->proto == IPPROTO_UDP)
		lc_off = offsetof(struct udphdr, check);
	else if (t->proto == IPPROTO_ICMPV6 && p->ipv6)
		lc_off = 2;
	else if (t->proto == IPPROTO_ICMP && ports)
		lc_off =
			2; /* ICMPv4 sums no addresses: only an id change moves it */
	if (t->proto != IPPROTO_ICMP)
		l4_diff = tp_csum_add(l4_diff, adiff);
	if (lc_off)
		icmp_diff = tp_csum_add(
			icmp_diff,
			tp_nat_fix_csum16(skb, in->l4_off + lc_off, l4_diff,
					  t->proto == IPPROTO_UDP, &err));

	/* outer header */
	if (tp_addr_eq(outer, old)) {
		if (!p->ipv6) {
			off = p->l3_off +
			      (inner_src ? offsetof(struct iphdr, daddr)
					 : offsetof(struct iphdr, saddr));
			err |= bpf_skb_store_bytes(skb, off, &addr->w[3], 4, 0);
			err |= bpf_l3_csum_replace(
				skb, p->l3_off + offsetof(struct iphdr, check),
				old->w[3], addr->w[3], 4);
		} else {
			off = p->l3_off +
			      (inner_src ? offsetof(struct ipv6hdr, daddr)
					 : offsetof(struct ipv6hdr, saddr));
			err |= bpf_skb_store_bytes(skb, off, addr->b, 16, 0);
			icmp_diff = tp_csum_add(icmp_diff,
						adiff); /* pseudo-header */
		}
	}
	tp_nat_fix_csum16(skb, p->l4_off + 2, icmp_diff, false, &err);
	return err ? -TP_DROP_REWRITE_FAIL : 0;
}

#endif /* TP_BPF_NAT_H */
