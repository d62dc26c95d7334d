// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Helpers shared by the masquerade packet tests: see masqtest.h.
 */
#include <netinet/in.h>

#include <bpf/bpf.h>

#include "masqtest.h"

/**
 * mt_masq_set_at() - write zone @zone's masquerade entry
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @zone: the tailnet zone
 * @on: masquerade on (TP_MASQ_F_ON) or off
 * @a4: the node's IPv4 address there, or NULL for none
 * @a6: the node's IPv6 address there, or NULL for none
 */
void mt_masq_set_at(const char *file, int line, struct th *h, __u32 zone,
		    bool on, const char *a4, const char *a6)
{
	struct tp_masq m = { .flags = on ? TP_MASQ_F_ON : 0 };

	if (a4)
		m.addr4 = pt_addr_at(file, line, a4);
	if (a6)
		m.addr6 = pt_addr_at(file, line, a6);
	PT_EQ(bpf_map_update_elem(h->maps.masq, &zone, &m, BPF_ANY), 0);
}

/**
 * mt_masq_cross_at() - masquerade on in @zone for crossings too
 * (TP_MASQ_F_ON | TP_MASQ_F_CROSSING, what the loader writes for
 * "masquerade": true), the SNAT range @lo..@hi
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @zone: the tailnet zone crossings masquerade into
 * @a4: the node's IPv4 address there
 * @a6: the node's IPv6 address there
 * @lo: the first port of the SNAT range
 * @hi: the last port of the SNAT range
 */
void mt_masq_cross_at(const char *file, int line, struct th *h, __u32 zone,
		      const char *a4, const char *a6, __u16 lo, __u16 hi)
{
	struct tp_masq m = { .flags = TP_MASQ_F_ON | TP_MASQ_F_CROSSING };

	PT_EQ(th_snat_config(h, "198.18.0.1", "fd00:198:18::1", lo, hi, 0), 0);
	m.addr4 = pt_addr_at(file, line, a4);
	m.addr6 = pt_addr_at(file, line, a6);
	PT_EQ(bpf_map_update_elem(h->maps.masq, &zone, &m, BPF_ANY), 0);
}

/**
 * mt_masq_env_at() - masquerade on in TH_ZONE from MASQ4/MASQ6
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @lo: the first port of the SNAT range
 * @hi: the last port of the SNAT range
 */
void mt_masq_env_at(const char *file, int line, struct th *h, __u16 lo,
		    __u16 hi)
{
	PT_EQ(th_snat_config(h, "198.18.0.1", "fd00:198:18::1", lo, hi, 0), 0);
	mt_masq_set_at(file, line, h, TH_ZONE, true, MASQ4, MASQ6);
}

/**
 * mt_run_pkt_at() - run packet @in through @hook
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @hook: the program to run
 * @ifindex: the interface the packet is on
 * @in_ifindex: the interface it came in by (0: none)
 * @in: the packet
 * @out: the packet the program left
 *
 * Return: the program's verdict.
 */
int mt_run_pkt_at(const char *file, int line, struct th *h, enum th_hook hook,
		  int ifindex, int in_ifindex, const struct pkt *in,
		  struct pkt *out)
{
	int verdict = -1;

	out->l2 = hook == TH_FROM_UPLINK; /* its packets are Ethernet frames */
	out->len = sizeof(out->data);
	PT_EQ(th_run_from(h, hook, ifindex, in_ifindex, in->data, in->len,
			  out->data, &out->len, &verdict),
	      0);
	return verdict;
}

/**
 * mt_run_spec_at() - mt_run_pkt_at() of the packet @sp builds
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @hook: the program to run
 * @ifindex: the interface the packet is on
 * @in_ifindex: the interface it came in by (0: none)
 * @sp: the packet's spec
 * @out: the packet the program left
 *
 * Return: the program's verdict.
 */
int mt_run_spec_at(const char *file, int line, struct th *h, enum th_hook hook,
		   int ifindex, int in_ifindex, struct pkt_spec sp,
		   struct pkt *out)
{
	struct pkt in;

	pt_build_at(file, line, &sp, &in);
	return mt_run_pkt_at(file, line, h, hook, ifindex, in_ifindex, &in,
			     out);
}

/**
 * mt_frag_expect_at() - one fragment of @whole through @hook, and it must
 * leave as the same fragment of @want_whole, passed
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @hook: the program
 * @in_ifindex: the interface the fragment came in by (0: none)
 * @whole: the packet as it comes, unfragmented
 * @want_whole: the packet as it must leave, unfragmented
 * @off: the fragment's offset in the L3 payload
 * @len: its length
 * @more: whether more fragments follow (MF)
 * @id: the fragment id
 */
void mt_frag_expect_at(const char *file, int line, struct th *h,
		       enum th_hook hook, int in_ifindex,
		       const struct pkt *whole, const struct pkt *want_whole,
		       size_t off, size_t len, int more, uint32_t id)
{
	struct pkt frag, want, out;

	PT_EQ(pkt_fragment(whole, off, len, more, id, &frag), 0);
	PT_EQ(mt_run_pkt_at(file, line, h, hook, h->l3_ifindex, in_ifindex,
			    &frag, &out),
	      PASS);
	PT_EQ(pkt_fragment(want_whole, off, len, more, id, &want), 0);
	PT_PKT_EQ(want.data, want.len, out.data, out.len);
}

/**
 * mt_pod_out_at() - a pod's packet leaving through the zone's tailnet interface
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @sp: the packet's spec
 * @out: the packet the program left
 *
 * Return: the verdict of tp_to_tailnet.
 */
int mt_pod_out_at(const char *file, int line, struct th *h, struct pkt_spec sp,
		  struct pkt *out)
{
	return mt_run_spec_at(file, line, h, TH_TO_TAILNET, h->l3_ifindex,
			      POD_IFINDEX, sp, out);
}

/**
 * mt_tailnet_in_at() - a packet from the tailnet of TH_ZONE
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @sp: the packet's spec
 * @out: the packet the program left
 *
 * Return: the verdict of tp_from_tailnet.
 */
int mt_tailnet_in_at(const char *file, int line, struct th *h,
		     struct pkt_spec sp, struct pkt *out)
{
	return mt_run_spec_at(file, line, h, TH_FROM_TAILNET, h->l3_ifindex, 0,
			      sp, out);
}

/**
 * mt_key_of_at() - the conntrack key of the flow @first starts (zone TH_ZONE)
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @first: the flow's first packet (an echo's id stands for its port)
 *
 * Return: the key.
 */
struct tp_ct_key mt_key_of_at(const char *file, int line,
			      const struct pkt_spec *first)
{
	__u16 sport = mt_is_echo(first->proto) ? first->icmp_id : first->sport;

	return pt_ct_key_at(file, line, first->saddr, sport, first->daddr,
			    first->dport, first->proto);
}

/**
 * mt_is_echo() - whether @proto is ICMP or ICMPv6 (the tests' echo flows)
 * @proto: an IP protocol
 *
 * Return: true for ICMP and ICMPv6.
 */
bool mt_is_echo(__u8 proto)
{
	return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

/**
 * mt_first_of() - a flow's first packet, @src -> @peer:DPORT
 * @src: the source address (a pod's, mostly)
 * @sport: the source port, or the echo id for ICMP
 * @peer: the tailnet peer
 * @proto: TCP (a SYN), UDP, or ICMP/ICMPv6 (an echo request)
 *
 * Return: the spec.
 */
struct pkt_spec mt_first_of(const char *src, __u16 sport, const char *peer,
			    __u8 proto)
{
	bool echo = mt_is_echo(proto);
	struct pkt_spec sp =
		pt_flow(src, echo ? 0 : sport, peer, echo ? 0 : DPORT, proto,
			proto == IPPROTO_TCP ? PKT_TCP_SYN : 0);

	if (echo) {
		sp.icmp_type = proto == IPPROTO_ICMP ? 8 : 128;
		sp.icmp_id = sport;
		sp.icmp_seq = 1;
	}
	return sp;
}

/**
 * mt_answer_of() - the answer to @q
 * @q: a flow's packet
 *
 * Return: @q with its addresses and ports swapped, a SYN-ACK for TCP, an
 * echo reply for ICMP.
 */
struct pkt_spec mt_answer_of(struct pkt_spec q)
{
	struct pkt_spec a = q;

	a.saddr = q.daddr;
	a.daddr = q.saddr;
	a.sport = q.dport;
	a.dport = q.sport;
	if (q.proto == IPPROTO_TCP)
		a.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK;
	if (mt_is_echo(q.proto))
		a.icmp_type = q.proto == IPPROTO_ICMP ? 0 : 129;
	return a;
}

/**
 * mt_with_side() - @sp with one side replaced by @addr:@port
 * @sp: a packet's spec
 * @src: replace the source side (else the destination)
 * @addr: the new address
 * @port: the new port (an echo's id for ICMP)
 *
 * Return: the new spec.
 */
struct pkt_spec mt_with_side(struct pkt_spec sp, bool src, const char *addr,
			     __u16 port)
{
	if (src)
		sp.saddr = addr;
	else
		sp.daddr = addr;
	if (mt_is_echo(sp.proto))
		sp.icmp_id = port;
	else if (src)
		sp.sport = port;
	else
		sp.dport = port;
	return sp;
}

/**
 * mt_expect_answer_at() - the answer to a masqueraded flow comes back
 * restored: mt_answer_of(@q) sent to @masq:@port from the tailnet passes
 * and reaches the pod as mt_answer_of(@q), byte for byte
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @q: a packet of the flow, as the pod sent it
 * @masq: the address the flow left with
 * @port: the port (or echo id) it left with
 */
void mt_expect_answer_at(const char *file, int line, struct th *h,
			 struct pkt_spec q, const char *masq, __u16 port)
{
	struct pkt out;

	PT_EQ(mt_tailnet_in_at(file, line, h,
			       mt_with_side(mt_answer_of(q), false, masq, port),
			       &out),
	      PASS);
	pt_expect_pkt_at(file, line, mt_answer_of(q), &out);
}

/**
 * mt_frags_both_ways_at() - a masqueraded flow's packet @q and its answer,
 * each in two fragments, leave translated fragment for fragment
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @q: the flow's packet as the pod sends it (with a payload to cut)
 * @masq: the address the flow leaves with
 * @port: the port it leaves with
 * @cut: where the first fragment of its L3 payload ends
 * @out_id: the fragment id of the pod's packet
 * @in_id: the fragment id of the answer
 *
 * The pod's fragments out (tp_to_tailnet) leave with @masq:@port; the
 * answer's fragments in (tp_from_tailnet) reach the pod restored.
 */
void mt_frags_both_ways_at(const char *file, int line, struct th *h,
			   struct pkt_spec q, const char *masq, __u16 port,
			   size_t cut, uint32_t out_id, uint32_t in_id)
{
	struct pkt_spec t = mt_with_side(q, true, masq, port);
	struct pkt_spec a = mt_with_side(mt_answer_of(q), false, masq, port);
	struct pkt_spec ta = mt_answer_of(q);
	struct pkt whole, twhole;
	size_t rest;

	pt_build_at(file, line, &q, &whole);
	pt_build_at(file, line, &t, &twhole);
	/* the rest of the L3 payload: no IPv4 options, no IPv6 extensions */
	rest = whole.len - (size_t)(whole.data[0] >> 4 == 6 ? 40 : 20) - cut;
	mt_frag_expect_at(file, line, h, TH_TO_TAILNET, POD_IFINDEX, &whole,
			  &twhole, 0, cut, 1, out_id);
	mt_frag_expect_at(file, line, h, TH_TO_TAILNET, POD_IFINDEX, &whole,
			  &twhole, cut, rest, 0, out_id);
	pt_build_at(file, line, &a, &whole);
	pt_build_at(file, line, &ta, &twhole);
	mt_frag_expect_at(file, line, h, TH_FROM_TAILNET, 0, &whole, &twhole, 0,
			  cut, 1, in_id);
	mt_frag_expect_at(file, line, h, TH_FROM_TAILNET, 0, &whole, &twhole,
			  cut, rest, 0, in_id);
}

/**
 * mt_tailnet_untouched_at() - @sp from the tailnet passes byte for byte
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @h: the harness
 * @sp: the packet (no flow's: nothing restored)
 */
void mt_tailnet_untouched_at(const char *file, int line, struct th *h,
			     struct pkt_spec sp)
{
	struct pkt out;

	PT_EQ(mt_tailnet_in_at(file, line, h, sp, &out), PASS);
	pt_expect_pkt_at(file, line, sp, &out);
}
