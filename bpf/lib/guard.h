/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The uplink's XDP guard (tp_xdp_guard): before the stack sees a packet,
 *
 *  - a source on the drop list (tp_guard_drop, LPM over the 128-bit
 *    address space) loses every IP packet: XDP_DROP, guard_listed;
 *  - a WireGuard handshake-shaped UDP packet (initiation, response or
 *    cookie reply: message type 1-3 at exactly its length) to a guarded
 *    port takes a token from its source's bucket (tp_guard_buckets, rate
 *    and burst from tp_guard_config, read on every such packet so a
 *    change applies at once); over the rate: XDP_DROP, guard_rate_limited;
 *    else XDP_PASS, guard_pass.
 *
 * Why only handshakes: a handshake initiation makes the receiver do
 * Curve25519 work before it knows anything about the sender, which is
 * what a flood exploits; a data packet (type 4) costs WireGuard a hash
 * lookup of its receiver index and is dropped there when unknown, and a
 * peer's data rate has nothing to do with its handshake rate, so limiting
 * it would only need a limit high enough to be no limit.
 *
 * Everything else (non-IP, later fragments, other protocols and ports,
 * data) passes after the parse and one drop-list lookup (an empty trie
 * answers at once), counting nothing.  The guard drops only what it has
 * positively identified; a header it cannot read is the stack's to judge
 * (it drops truncated packets itself), with two exceptions an attacker
 * could otherwise use to slip handshakes past it: a handshake length
 * whose message type sits in a later fragment, and an IPv6 packet whose
 * extension headers hide its UDP header (more than TP_IPV6_EXTHDR_MAX,
 * or past TP_GUARD_L4_MAX bytes), are charged to their source's bucket.
 */
#ifndef TP_BPF_GUARD_H
#define TP_BPF_GUARD_H

#include "common.h"
#include "maps.h"
#include "stats.h"

/* Furthest UDP header offset the guard reads (IPv6 extension headers). */
#define TP_GUARD_L4_MAX 512

/**
 * struct tp_guard_pkt - what the guard parsed.
 * @saddr:      source address (IPv4-mapped for IPv4).
 * @l4_off:     offset of the L4 header.
 * @proto:      upper-layer protocol.
 * @later_frag: a fragment at offset > 0: no L4 header.
 * @hidden_l4:  IPv6 whose UDP header could not be reached.
 */
struct tp_guard_pkt {
	struct tp_addr saddr;
	__u32 l4_off;
	__u8 proto;
	bool later_frag;
	bool hidden_l4;
};

/* IPv4 after the Ethernet header; false: not readable, let it pass. */
static __always_inline bool tp_guard_parse_v4(void *data, void *data_end,
					      struct tp_guard_pkt *g)
{
	struct iphdr *ip = data + ETH_HLEN;
	__u8 ihl;

	if ((void *)(ip + 1) > data_end)
		return false;
	ihl = *(__u8 *)ip & 0x0f;
	if (ihl < 5)
		return false;
	tp_addr_set_v4(&g->saddr, ip->saddr);
	g->proto = ip->protocol;
	g->later_frag = (bpf_ntohs(ip->frag_off) & IP_OFFSET) != 0;
	g->l4_off = ETH_HLEN + ihl * 4;
	return true;
}

/*
 * IPv6 after the Ethernet header, walking extension headers as the
 * stack does, so none can hide a UDP header from the guard.
 */
static __always_inline bool tp_guard_parse_v6(void *data, void *data_end,
					      struct tp_guard_pkt *g)
{
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	__u32 off = ETH_HLEN + sizeof(*ip6);
	__u8 *hdr, nh;
	int i;

	if ((void *)(ip6 + 1) > data_end)
		return false;
	__builtin_memcpy(&g->saddr, &ip6->saddr, sizeof(g->saddr));
	nh = ip6->nexthdr;
	for (i = 0; i < TP_IPV6_EXTHDR_MAX; i++) {
		if (!tp_ipv6_is_exthdr(nh))
			break;
		if (off > TP_GUARD_L4_MAX) {
			g->hidden_l4 = true;
			return true;
		}
		hdr = data + off;
		if ((void *)(hdr + 8) > data_end)
			return false; /* truncated: the stack drops it */
		if (nh == NEXTHDR_FRAGMENT) {
			if (bpf_ntohs(*(__be16 *)(hdr + 2)) & ~7)
				g->later_frag = true;
			off += 8;
		} else if (nh == NEXTHDR_AUTH) {
			off += (hdr[1] + 2) * 4;
		} else {
			off += (hdr[1] + 1) * 8;
		}
		nh = hdr[0];
		if (g->later_frag)
			break;
	}
	/*
	 * an extension header still ahead hides the ports, except a
	 * fragment header named by a later fragment (payload follows it)
	 */
	if ((tp_ipv6_is_exthdr(nh) &&
	     !(nh == NEXTHDR_FRAGMENT && g->later_frag)) ||
	    off > TP_GUARD_L4_MAX)
		g->hidden_l4 = true;
	g->proto = nh;
	g->l4_off = off;
	return true;
}

/* Is @port (network order) one of the configured guarded ports? */
static __always_inline bool tp_guard_port(const struct tp_guard_config *cfg,
					  __be16 port)
{
	int i;

#pragma unroll
	for (i = 0; i < TP_GUARD_MAX_PORTS; i++)
		if (i < cfg->n_ports && cfg->ports[i] == port)
			return true;
	return false;
}

/*
 * Is a UDP datagram of @udp_len bytes (header included), whose payload
 * starts with @type (-1: not in this frame), handshake-shaped?
 */
static __always_inline bool tp_guard_handshake(__u32 udp_len, int type)
{
	__u32 len = udp_len - 8;

	if (udp_len < 8)
		return false;
	if (type <
	    0) /* a first fragment cut before the type: judge by length */
		return len == TP_WG_INITIATION_LEN ||
		       len == TP_WG_RESPONSE_LEN ||
		       len == TP_WG_COOKIE_REPLY_LEN;
	return (type == TP_WG_MSG_INITIATION && len == TP_WG_INITIATION_LEN) ||
	       (type == TP_WG_MSG_RESPONSE && len == TP_WG_RESPONSE_LEN) ||
	       (type == TP_WG_MSG_COOKIE_REPLY &&
		len == TP_WG_COOKIE_REPLY_LEN);
}

/*
 * The WireGuard message type at @payload (a little-endian u32, as
 * implementations read it), -1 when its 4 bytes are not in the frame,
 * 0 when it is no valid type.
 */
static __always_inline int tp_guard_msg_type(__u8 *payload, void *data_end)
{
	if ((void *)(payload + 4) > data_end)
		return -1;
	if (payload[1] | payload[2] | payload[3])
		return 0;
	return payload[0];
}

/**
 * tp_guard_admit() - take a token from @src's bucket.
 * @cfg: the guard's configuration (rate != 0).
 * @src: the source.
 *
 * A new source starts with a full bucket.  Credit is kept in nanoseconds
 * of refill (struct tp_guard_bucket), so the refill is one addition and
 * never overflows: it is capped at cap_ns before anything else.
 *
 * Return: true when the packet is within the rate.
 */
static __always_inline bool tp_guard_admit(const struct tp_guard_config *cfg,
					   const struct tp_addr *src)
{
	struct tp_guard_bucket *b, nb;
	__u64 now = tp_now_fine(), credit;

	b = bpf_map_lookup_elem(&tp_guard_buckets, src);
	if (!b) {
		nb.credit_ns = cfg->cap_ns > cfg->cost_ns
				       ? cfg->cap_ns - cfg->cost_ns
				       : 0;
		nb.last_ns = now;
		bpf_map_update_elem(&tp_guard_buckets, src, &nb, BPF_ANY);
		return true;
	}
	credit = b->credit_ns;
	if (now > b->last_ns)
		credit += now - b->last_ns;
	if (credit > cfg->cap_ns)
		credit = cfg->cap_ns;
	b->last_ns = now;
	if (credit < cfg->cost_ns) {
		b->credit_ns = credit;
		return false;
	}
	b->credit_ns = credit - cfg->cost_ns;
	return true;
}

/* A UDP packet (or one whose L4 is hidden) from @g: guarded port? rate? */
static __always_inline int tp_guard_udp(void *data, void *data_end,
					const struct tp_guard_pkt *g,
					__u32 bytes)
{
	const struct tp_guard_config *cfg;
	struct udphdr *udp;
	__u32 zero = 0, off = g->l4_off;
	int type;

	cfg = bpf_map_lookup_elem(&tp_guard_config, &zero);
	if (!cfg || !cfg->n_ports)
		return XDP_PASS;
	if (!g->hidden_l4) {
		if (off > TP_GUARD_L4_MAX)
			return XDP_PASS;
		udp = data + off;
		if ((void *)(udp + 1) > data_end)
			return XDP_PASS; /* truncated: the stack drops it */
		if (!tp_guard_port(cfg, udp->dest))
			return XDP_PASS;
		type = tp_guard_msg_type((__u8 *)(udp + 1), data_end);
		if (!tp_guard_handshake(bpf_ntohs(udp->len), type))
			return XDP_PASS; /* data, or nothing WireGuard would take */
	}
	if (cfg->rate && !tp_guard_admit(cfg, &g->saddr)) {
		tp_stat_add(TP_STAT_GUARD_RATE_LIMITED, bytes);
		return XDP_DROP;
	}
	tp_stat_add(TP_STAT_GUARD_PASS, bytes);
	return XDP_PASS;
}

/**
 * tp_guard() - the guard's verdict on one frame (Ethernet).
 * @ctx: the frame.
 *
 * Return: XDP_PASS or XDP_DROP.
 */
static __always_inline int tp_guard(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct tp_guard_pkt g = {};
	struct tp_guard_key key;
	__u32 bytes = data_end - data;
	bool ok;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		ok = tp_guard_parse_v4(data, data_end, &g);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		ok = tp_guard_parse_v6(data, data_end, &g);
	else
		return XDP_PASS;
	if (!ok)
		return XDP_PASS;
	key.prefixlen = 128;
	key.addr = g.saddr;
	if (bpf_map_lookup_elem(&tp_guard_drop, &key)) {
		tp_stat_add(TP_STAT_GUARD_LISTED, bytes);
		return XDP_DROP;
	}
	if (g.later_frag || (!g.hidden_l4 && g.proto != IPPROTO_UDP))
		return XDP_PASS;
	return tp_guard_udp(data, data_end, &g, bytes);
}

#endif /* TP_BPF_GUARD_H */
