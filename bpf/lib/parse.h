/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing: L2 (Ethernet) or L3 (TUN) start, IPv4 with options,
 * IPv6 with extension headers, fragments, TCP/UDP/ICMP/ICMPv6, and the
 * packet embedded in an ICMP error.
 *
 * Headers are copied with bpf_skb_load_bytes() so non-linear (GSO/GRO)
 * skbs parse the same as linear ones; nothing assumes len <= MTU.  The
 * headers every established IPv4 flow packet needs (first byte, IPv4,
 * TCP/UDP) go through tp_load(), which reads the linear data directly
 * when they are there; the others stay on the helper, whose one path
 * costs the verifier less (direct reads there too added 10-30% to the
 * programs' processed instructions).
 *
 * Rules for bad input (docs/datapath.md): a header that runs past the end
 * of the packet, IPv4 IHL < 5, an IP length field that disagrees with the
 * packet, an IP version other than 4/6 on an L3 interface, more than
 * TP_IPV6_EXTHDR_MAX IPv6 extension headers, a TCP fragment at offset
 * 8 (RFC 1858) and an IPv6 packet with an IPv4-mapped or IPv4-compatible
 * address (our keys hold IPv4 that way, so it would alias an IPv4 flow)
 * are dropped with their reason.  Anything else we do not understand is
 * handed on as "other" and decided by policy like any untracked packet.
 */
#ifndef TP_BPF_PARSE_H
#define TP_BPF_PARSE_H

#include "common.h"

enum tp_frag_kind {
	TP_FRAG_NONE = 0, /* not a fragment */
	TP_FRAG_FIRST =
		1, /* offset 0, more fragments follow: has the L4 header */
	TP_FRAG_LATER = 2, /* offset > 0: no L4 header */
};

/*
 * Largest offset tp_load() reads directly: the bound the verifier needs
 * on a variable packet offset (its own limit is 0xffff).
 */
#define TP_LOAD_DIRECT_MAX 0x3fff

/**
 * tp_load() - copy @len bytes at @off of the packet to @to.
 * @skb: the packet.
 * @off: offset from its first byte (skb->data).
 * @to:  where to (the stack or a map value).
 * @len: how many bytes (a constant).
 *
 * From the linear data when the bytes are there (the headers of nearly
 * every packet): a few loads instead of a helper call,
 * which costs more than the whole copy on CPUs with return-thunk
 * mitigations.  Bytes past the linear part (a GSO/GRO skb's) come through
 * bpf_skb_load_bytes(), as before.
 *
 * Return: 0, or bpf_skb_load_bytes()'s error (the bytes are not there).
 */
static __always_inline long tp_load(struct __sk_buff *skb, __u32 off, void *to,
				    __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u64 at = off;

	if (off <= TP_LOAD_DIRECT_MAX) {
		/*
		 * The mask changes nothing here, but clang may re-derive the
		 * offset from a copy the check never bounded: after the
		 * barrier the verifier sees the bound on what is added.
		 */
		barrier_var(at);
		at &= TP_LOAD_DIRECT_MAX;
		if (data + at + len <= data_end) {
			__builtin_memcpy(to, data + at, len);
			return 0;
		}
	}
	return bpf_skb_load_bytes(skb, off, to, len);
}

/* What tp_parse() found (besides drop reasons, returned negated). */
enum tp_parse_result {
	TP_PARSE_NOT_IP = 0, /* L2 frame that is not IPv4/IPv6 */
	TP_PARSE_OTHER = 1,  /* IP, but a protocol we do not track */
	TP_PARSE_FLOW = 2, /* TCP, UDP, ICMP echo, or a later fragment of any */
	TP_PARSE_ICMP_ERR = 3, /* ICMP error with a parsed inner packet */
};

/**
 * struct tp_inner - the packet embedded in an ICMP error.
 * @tuple:  its tuple as written (ports by the same conventions as a flow).
 * @l3_off: offset of the inner IP header.
 * @l4_off: offset of the inner L4 header.
 * @l4_len: bytes of the inner L4 header present (at most 20 counted).
 */
struct tp_inner {
	struct tp_ct_key tuple;
	__u32 l3_off;
	__u32 l4_off;
	__u32 l4_len;
};

/**
 * struct tp_pkt - one parsed packet.
 * @tuple:     addresses, ports (or echo id), protocol; zone left 0.
 * @l3_off:    offset of the IP header (0 on L3 interfaces, 14 on L2).
 * @l4_off:    offset of the L4 header (valid unless a later fragment).
 * @end:       end of the IP datagram as its length field says: headers
 *             are read up to here, never from bytes after it (padding, or
 *             bytes a sender appended to smuggle a header past the
 *             payload length).
 * @frag_id:   fragment id when @frag is not TP_FRAG_NONE.
 * @ipv6:      the packet is IPv6.
 * @frag:      enum tp_frag_kind.
 * @frag_nh:   fragments: the protocol every fragment carries (IPv4: the
 *             protocol; IPv6: the Fragment header's next header), the
 *             fragment record's key.  A later fragment's @tuple.proto is
 *             this until its record supplies the upper-layer protocol.
 * @tcp_flags: TCP flags byte.
 * @icmp_type: ICMP/ICMPv6 type.
 * @inner:     ICMP errors: the embedded packet.
 */
struct tp_pkt {
	struct tp_ct_key tuple;
	__u32 l3_off;
	__u32 l4_off;
	__u32 end;
	__u32 frag_id;
	bool ipv6;
	__u8 frag;
	__u8 frag_nh;
	__u8 tcp_flags;
	__u8 icmp_type;
	/*
	 * Not the parse's: tp_ingress_flow() found no conntrack entry under
	 * the tuple and no live flow whose reply tuple it is (the new flow's
	 * tp_ct_create() need not look again: TP_CT_NEW_FREE)
	 */
	bool ct_free;
	struct tp_inner inner;
};

static __always_inline bool tp_icmp_is_error(bool ipv6, __u8 type)
{
	if (ipv6)
		return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMPROB;
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
	       type == ICMP_PARAMETERPROB;
}

/*
 * Echo requests carry the id as the source "port", replies as the
 * destination port, so a reply's tuple is its request's reversed.
 * Returns false for ICMP types that are not echo.
 */
static __always_inline bool tp_icmp_echo_ports(bool ipv6, __u8 type, __be16 id,
					       struct tp_ct_key *t)
{
	if (type == (ipv6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO)) {
		t->sport = id;
		t->dport = 0;
		return true;
	}
	if (type == (ipv6 ? ICMPV6_ECHO_REPLY : ICMP_ECHOREPLY)) {
		t->sport = 0;
		t->dport = id;
		return true;
	}
	return false;
}

/*
 * Ports of an L4 header at @off into @t.  Returns TP_PARSE_FLOW,
 * TP_PARSE_OTHER for untracked protocols and ICMP types, or a negative
 * drop reason when the header is cut short.
 */
static __always_inline int tp_parse_l4(struct __sk_buff *skb, __u32 off,
				       __u32 end, bool ipv6,
				       struct tp_ct_key *t, __u8 *tcp_flags,
				       __u8 *icmp_type)
{
	struct {
		__be16 sport;
		__be16 dport;
		__be32 seq;
		__be32 ack;
		__u8 doff;
		__u8 flags;
	} l4;
	struct {
		__u8 type;
		__u8 code;
		__sum16 csum;
		__be16 id;
		__be16 seq;
	} icmp;

	switch (t->proto) {
	case IPPROTO_TCP:
		if (off + sizeof(struct tcphdr) > end ||
		    tp_load(skb, off, &l4, sizeof(l4)))
			return -TP_DROP_TRUNCATED;
		if ((l4.doff >> 4) < 5)
			return -TP_DROP_TRUNCATED;
		t->sport = l4.sport;
		t->dport = l4.dport;
		*tcp_flags = l4.flags;
		return TP_PARSE_FLOW;
	case IPPROTO_UDP:
		if (off + sizeof(struct udphdr) > end ||
		    tp_load(skb, off, &l4, sizeof(struct udphdr)))
			return -TP_DROP_TRUNCATED;
		t->sport = l4.sport;
		t->dport = l4.dport;
		return TP_PARSE_FLOW;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((t->proto == IPPROTO_ICMPV6) != ipv6)
			return TP_PARSE_OTHER;
		if (off + sizeof(icmp) > end ||
		    bpf_skb_load_bytes(skb, off, &icmp, sizeof(icmp)))
			return -TP_DROP_TRUNCATED;
		*icmp_type = icmp.type;
		if (tp_icmp_echo_ports(ipv6, icmp.type, icmp.id, t))
			return TP_PARSE_FLOW;
		if (tp_icmp_is_error(ipv6, *icmp_type))
			return TP_PARSE_ICMP_ERR;
		return TP_PARSE_OTHER;
	}
	return TP_PARSE_OTHER;
}

static __always_inline int tp_parse_ipv4(struct __sk_buff *skb,
					 struct tp_pkt *p)
{
	struct iphdr ip;
	__u32 hlen, tot, frag;

	if (tp_load(skb, p->l3_off, &ip, sizeof(ip)))
		return -TP_DROP_TRUNCATED;
	if (ip.version != 4)
		return -TP_DROP_BAD_VERSION;
	if (ip.ihl < 5)
		return -TP_DROP_BAD_IHL;
	hlen = ip.ihl * 4;
	tot = bpf_ntohs(ip.tot_len);
	/* tot_len 0: an IPv4 BIG TCP super-packet; its length is the skb's */
	if (tot == 0)
		tot = skb->len - p->l3_off;
	if (tot < hlen || p->l3_off + tot > skb->len)
		return -TP_DROP_BAD_LEN;
	p->end = p->l3_off + tot;

	tp_addr_set_v4(&p->tuple.saddr, ip.saddr);
	tp_addr_set_v4(&p->tuple.daddr, ip.daddr);
	p->tuple.proto = ip.protocol;
	p->l4_off = p->l3_off + hlen;

	frag = bpf_ntohs(ip.frag_off);
	if (frag & (IP_MF | IP_OFFSET)) {
		p->frag_id = bpf_ntohs(ip.id);
		p->frag = (frag & IP_OFFSET) ? TP_FRAG_LATER : TP_FRAG_FIRST;
		p->frag_nh = ip.protocol;
		/* RFC 1858: offset 8 can overwrite the TCP flags */
		if ((frag & IP_OFFSET) == 1 && ip.protocol == IPPROTO_TCP)
			return -TP_DROP_BAD_FRAG;
	}
	return 0;
}

/* Walk the extension headers; leaves the upper-layer protocol in tuple.proto. */
static __always_inline int tp_parse_ipv6_exthdrs(struct __sk_buff *skb,
						 struct tp_pkt *p, __u8 nexthdr)
{
	struct {
		__u8 nexthdr;
		__u8 hdrlen;
		__be16 frag_off;
		__be32 id;
	} eh;
	__u32 off = p->l4_off;
	int i;

#pragma unroll
	for (i = 0; i < TP_IPV6_EXTHDR_MAX; i++) {
		if (!tp_ipv6_is_exthdr(nexthdr)) {
			p->tuple.proto = nexthdr;
			p->l4_off = off;
			return 0;
		}
		if (off + sizeof(eh) > p->end ||
		    bpf_skb_load_bytes(skb, off, &eh, sizeof(eh)))
			return -TP_DROP_TRUNCATED;
		if (nexthdr == NEXTHDR_FRAGMENT) {
			__u16 fo = bpf_ntohs(eh.frag_off);

			/*
			 * The first real fragment header decides kind and id;
			 * an atomic one (offset 0, M 0) is a whole packet, and
			 * a second fragment header changes nothing.
			 */
			if (p->frag == TP_FRAG_NONE && (fo & 0xfff9)) {
				p->frag_id = bpf_ntohl(eh.id);
				p->frag = (fo & 0xfff8) ? TP_FRAG_LATER
							: TP_FRAG_FIRST;
				p->frag_nh = eh.nexthdr;
			}
			off += 8;
		} else if (nexthdr == NEXTHDR_AUTH) {
			off += ((__u32)eh.hdrlen + 2) * 4;
		} else {
			off += ((__u32)eh.hdrlen + 1) * 8;
		}
		if (off > p->end)
			return -TP_DROP_TRUNCATED;
		nexthdr = eh.nexthdr;
		if (p->frag == TP_FRAG_LATER) {
			/* what follows is payload, not headers */
			p->tuple.proto = nexthdr;
			p->l4_off = off;
			return 0;
		}
	}
	if (tp_ipv6_is_exthdr(nexthdr))
		return -TP_DROP_EXTHDR_LIMIT;
	p->tuple.proto = nexthdr;
	p->l4_off = off;
	return 0;
}

/*
 * An IPv4-mapped (::ffff:0:0/96) or IPv4-compatible (::/96 but :: and
 * ::1) address: the form our keys give IPv4, never a real IPv6 peer.
 */
static __always_inline bool tp_addr_v4_embedded(const struct tp_addr *a)
{
	if (a->w[0] | a->w[1])
		return false;
	if (a->w[2] == bpf_htonl(0xffff))
		return true;
	return !a->w[2] && a->w[3] != 0 && a->w[3] != bpf_htonl(1);
}

static __always_inline int tp_parse_ipv6(struct __sk_buff *skb,
					 struct tp_pkt *p)
{
	struct ipv6hdr ip6;
	__u32 plen;

	if (bpf_skb_load_bytes(skb, p->l3_off, &ip6, sizeof(ip6)))
		return -TP_DROP_TRUNCATED;
	if (ip6.version != 6)
		return -TP_DROP_BAD_VERSION;
	plen = bpf_ntohs(ip6.payload_len);
	/* payload_len 0: jumbogram or BIG TCP; the skb gives the length */
	if (plen && p->l3_off + sizeof(ip6) + plen > skb->len)
		return -TP_DROP_BAD_LEN;
	p->end = plen ? p->l3_off + sizeof(ip6) + plen : skb->len;

	__builtin_memcpy(p->tuple.saddr.b, &ip6.saddr, 16);
	__builtin_memcpy(p->tuple.daddr.b, &ip6.daddr, 16);
	if (tp_addr_v4_embedded(&p->tuple.saddr) ||
	    tp_addr_v4_embedded(&p->tuple.daddr))
		return -TP_DROP_V4_MAPPED;
	p->ipv6 = true;
	p->l4_off = p->l3_off + sizeof(ip6);
	return tp_parse_ipv6_exthdrs(skb, p, ip6.nexthdr);
}

/*
 * The packet quoted by an ICMP error: IP header and at least the 8 bytes
 * of L4 header that carry the ports, inside the error's datagram.  Returns TP_PARSE_ICMP_ERR when it
 * can be mapped to a flow, TP_PARSE_OTHER when not (truncated quote,
 * inner IPv6 extension headers, untracked protocol): such errors pass.
 */
static __always_inline int tp_parse_inner(struct __sk_buff *skb,
					  struct tp_pkt *p)
{
	struct tp_inner *in = &p->inner;
	struct tp_ct_key *t = &in->tuple;
	__u8 tcp_flags, icmp_type;
	int ret;

	in->l3_off = p->l4_off + 8;
	if (!p->ipv6) {
		struct iphdr ip;

		if (in->l3_off + sizeof(ip) > p->end ||
		    bpf_skb_load_bytes(skb, in->l3_off, &ip, sizeof(ip)))
			return TP_PARSE_OTHER;
		if (ip.version != 4 || ip.ihl < 5 ||
		    (bpf_ntohs(ip.frag_off) & IP_OFFSET))
			return TP_PARSE_OTHER;
		tp_addr_set_v4(&t->saddr, ip.saddr);
		tp_addr_set_v4(&t->daddr, ip.daddr);
		t->proto = ip.protocol;
		in->l4_off = in->l3_off + ip.ihl * 4;
	} else {
		struct ipv6hdr ip6;

		if (in->l3_off + sizeof(ip6) > p->end ||
		    bpf_skb_load_bytes(skb, in->l3_off, &ip6, sizeof(ip6)))
			return TP_PARSE_OTHER;
		if (ip6.version != 6)
			return TP_PARSE_OTHER;
		__builtin_memcpy(t->saddr.b, &ip6.saddr, 16);
		__builtin_memcpy(t->daddr.b, &ip6.daddr, 16);
		if (tp_addr_v4_embedded(&t->saddr) ||
		    tp_addr_v4_embedded(&t->daddr))
			return TP_PARSE_OTHER;
		t->proto = ip6.nexthdr;
		in->l4_off = in->l3_off + sizeof(ip6);
	}
	if (in->l4_off + 8 > p->end)
		return TP_PARSE_OTHER;
	in->l4_len = p->end - in->l4_off;
	if (in->l4_len > 20)
		in->l4_len = 20;

	if (t->proto == IPPROTO_TCP) {
		/* a quote may hold only 8 bytes of TCP: read the ports alone */
		if (bpf_skb_load_bytes(skb, in->l4_off, &t->sport, 4))
			return TP_PARSE_OTHER;
		return TP_PARSE_ICMP_ERR;
	}
	ret = tp_parse_l4(skb, in->l4_off, p->end, p->ipv6, t, &tcp_flags,
			  &icmp_type);
	return ret == TP_PARSE_FLOW ? TP_PARSE_ICMP_ERR : TP_PARSE_OTHER;
}

/**
 * tp_parse() - parse a packet starting at L2 or L3.
 * @skb: the packet.
 * @l3:  the interface delivers packets from the IP header on.
 * @p:   filled in.
 *
 * On L3 interfaces the family comes from the version nibble, never from
 * skb->protocol (which test_run and some TUN paths leave meaningless).
 *
 * Return: enum tp_parse_result, or a negative enum tp_drop_reason.
 */
static __always_inline int tp_parse(struct __sk_buff *skb, bool l3,
				    struct tp_pkt *p)
{
	__u8 first;
	int ret;

	if (l3) {
		p->l3_off = 0;
		if (tp_load(skb, 0, &first, 1))
			return -TP_DROP_TRUNCATED;
		if ((first >> 4) == 4)
			ret = tp_parse_ipv4(skb, p);
		else if ((first >> 4) == 6)
			ret = tp_parse_ipv6(skb, p);
		else
			return -TP_DROP_BAD_VERSION;
	} else {
		__be16 proto;

		p->l3_off = ETH_HLEN;
		if (tp_load(skb, 12, &proto, sizeof(proto)))
			return TP_PARSE_NOT_IP;
		if (proto == bpf_htons(ETH_P_IP))
			ret = tp_parse_ipv4(skb, p);
		else if (proto == bpf_htons(ETH_P_IPV6))
			ret = tp_parse_ipv6(skb, p);
		else
			return TP_PARSE_NOT_IP;
	}
	if (ret < 0)
		return ret;

	/*
	 * A later fragment has no L4 header: its ports, and for IPv6 its
	 * upper-layer protocol, come from its first fragment's record.
	 */
	if (p->frag == TP_FRAG_LATER)
		return TP_PARSE_FLOW;

	ret = tp_parse_l4(skb, p->l4_off, p->end, p->ipv6, &p->tuple,
			  &p->tcp_flags, &p->icmp_type);
	if (ret == TP_PARSE_ICMP_ERR && p->frag == TP_FRAG_NONE)
		return tp_parse_inner(skb, p);
	if (ret == TP_PARSE_ICMP_ERR)
		return TP_PARSE_OTHER;
	return ret;
}

#endif /* TP_BPF_PARSE_H */
