// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tailplane datapath entry points.  One object holds every program and
 * map; each program is a thin sequence of the bpf/lib/ stages:
 *
 *   tp_from_tailnet (TC ingress of wg0/tailscale0):
 *     parse -> fragments -> conntrack -> [new flow: service, backend] ->
 *     DNAT -> counters
 *   tp_to_tailnet (TC egress of wg0/tailscale0):
 *     parse -> fragments -> conntrack (reply) -> reverse NAT -> counters
 *
 * ICMP errors about translated flows are translated in both directions,
 * inner packet included.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/ct.h"
#include "lib/lb.h"
#include "lib/nat.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline const struct tp_iface *tp_iface_of(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;

	return bpf_map_lookup_elem(&tp_ifaces, &ifindex);
}

/* Parse and set the zone; returns enum tp_parse_result or -reason. */
static __always_inline int tp_parse_skb(struct __sk_buff *skb, struct tp_pkt *p)
{
	const struct tp_iface *ifc = tp_iface_of(skb);
	int ret;

	ret = tp_parse(skb, ifc && (ifc->flags & TP_IFACE_F_L3), p);
	p->tuple.zone = ifc ? ifc->zone : 0;
	p->inner.tuple.zone = p->tuple.zone;
	return ret;
}

/*
 * A new flow from the tailnet: pick its service backend, if any, and
 * write its conntrack entries.  @old_reply is the reply tuple of an entry
 * this flow replaces.
 */
static __always_inline int tp_flow_new(struct __sk_buff *skb, struct tp_pkt *p,
				       __u64 now, struct tp_scratch *scr,
				       const struct tp_ct_key *old_reply)
{
	struct tp_ct_entry *e = &scr->flow;
	struct tp_ct_key reply_src = p->tuple;
	struct tp_backend *be = NULL;
	struct tp_svc *svc;
	__u32 backend_id = 0;
	int ret;

	svc = tp_lb_lookup(&p->tuple);
	if (svc) {
		be = tp_lb_select(svc, &p->tuple, now, &backend_id);
		if (!be)
			return -TP_DROP_NO_BACKEND;
		e->flags = TP_CT_F_DNAT;
		e->svc_id = svc->id;
		e->backend_id = backend_id;
		e->nat_addr = be->addr;
		e->nat_port = p->tuple.proto == IPPROTO_TCP ||
					      p->tuple.proto == IPPROTO_UDP ?
				      be->port : p->tuple.dport;
		reply_src.daddr = e->nat_addr;
		reply_src.dport = e->nat_port;
	}
	tp_ct_reverse(&reply_src, &e->peer);
	e->state = tp_ct_initial_state(p);
	e->ifindex = skb->ifindex;
	e->created_ns = now;
	e->tcp_flags[TP_CT_DIR_ORIG] = p->tcp_flags;
	e->expires_ns = now + (__u64)tp_ct_timeout(e, p->tuple.proto) * NSEC_PER_SEC;
	e->packets[TP_CT_DIR_ORIG] = 1;
	e->bytes[TP_CT_DIR_ORIG] = skb->len;

	ret = tp_ct_create(&p->tuple, e, old_reply, &scr->reply);
	if (ret < 0)
		return ret;
	tp_stat_add(TP_STAT_CT_NEW, skb->len);
	return 0;
}

/* A flow packet (TCP, UDP, ICMP echo) arriving from the tailnet. */
static __always_inline int tp_ingress_flow(struct __sk_buff *skb, struct tp_pkt *p)
{
	__u64 now = tp_now();
	struct tp_ct_entry *e;
	struct tp_ct_key old_reply;
	struct tp_scratch *scr;
	struct tp_addr nat_addr;
	__be16 nat_port;
	bool have_old = false;
	int ret;

	if (!tp_frag_track(p, now)) {
		tp_stat_add(TP_STAT_FRAG_NO_RECORD, skb->len);
		return TC_ACT_OK;
	}

	e = bpf_map_lookup_elem(&tp_ct, &p->tuple);
	if (e && (e->flags & TP_CT_F_REPLY_KEY)) {
		/* a reply of a flow that left through this interface */
		e = tp_ct_lookup_reply(&p->tuple, now, &old_reply);
		if (e) {
			tp_stat_add(TP_STAT_CT_HIT, skb->len);
			tp_ct_account(e, TP_CT_DIR_REPLY, p, skb->len, now);
		}
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	if (e && !tp_ct_expired(e, now) && !tp_ct_reopens(e, p)) {
		tp_stat_add(TP_STAT_CT_HIT, skb->len);
		tp_ct_account(e, TP_CT_DIR_ORIG, p, skb->len, now);
		if (!(e->flags & TP_CT_F_DNAT)) {
			tp_stat_add(TP_STAT_PASS, skb->len);
			return TC_ACT_OK;
		}
		nat_addr = e->nat_addr;
		nat_port = e->nat_port;
	} else {
		if (e) {
			old_reply = e->peer;
			have_old = true;
		}
		if (!tp_ct_starts_flow(p)) {
			tp_stat_add(TP_STAT_PASS, skb->len);
			return TC_ACT_OK;
		}
		scr = tp_scratch_get();
		if (!scr)
			return tp_drop(skb, TP_DROP_CT_FAIL);
		__builtin_memset(&scr->flow, 0, sizeof(scr->flow));
		ret = tp_flow_new(skb, p, now, scr, have_old ? &old_reply : NULL);
		if (ret < 0)
			return tp_drop(skb, -ret);
		if (!(scr->flow.flags & TP_CT_F_DNAT)) {
			tp_stat_add(TP_STAT_PASS, skb->len);
			return TC_ACT_OK;
		}
		nat_addr = scr->flow.nat_addr;
		nat_port = scr->flow.nat_port;
	}

	ret = tp_nat_rewrite(skb, p, false, &nat_addr, nat_port);
	if (ret < 0)
		return tp_drop(skb, -ret);
	tp_stat_add(TP_STAT_DNAT, skb->len);
	return TC_ACT_OK;
}

/*
 * An ICMP error arriving from the tailnet about a packet we sent there:
 * the quoted packet is a reply we translated back (VIP -> client), so its
 * reverse is the flow's original tuple.  Point it at the backend again.
 */
static __always_inline int tp_ingress_icmp_error(struct __sk_buff *skb,
						 struct tp_pkt *p)
{
	struct tp_ct_key orig;
	struct tp_ct_entry *e;
	int ret;

	tp_ct_reverse(&p->inner.tuple, &orig);
	e = bpf_map_lookup_elem(&tp_ct, &orig);
	if (!e || (e->flags & (TP_CT_F_REPLY_KEY | TP_CT_F_DNAT)) != TP_CT_F_DNAT ||
	    tp_ct_expired(e, tp_now())) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	ret = tp_nat_icmp_error(skb, p, true, &e->nat_addr, e->nat_port);
	if (ret < 0)
		return tp_drop(skb, -ret);
	tp_stat_add(TP_STAT_ICMP_ERR_NAT, skb->len);
	return TC_ACT_OK;
}

SEC("tc")
int tp_from_tailnet(struct __sk_buff *skb)
{
	struct tp_pkt p = {};
	int ret;

	tp_stat_add(TP_STAT_RX_TAILNET, skb->len);
	ret = tp_parse_skb(skb, &p);
	switch (ret) {
	case TP_PARSE_FLOW:
		return tp_ingress_flow(skb, &p);
	case TP_PARSE_ICMP_ERR:
		return tp_ingress_icmp_error(skb, &p);
	case TP_PARSE_NOT_IP:
		tp_stat_add(TP_STAT_NOT_IP, skb->len);
		return TC_ACT_OK;
	case TP_PARSE_OTHER:
		tp_stat_add(TP_STAT_OTHER_PROTO, skb->len);
		return TC_ACT_OK;
	}
	return tp_drop(skb, -ret);
}

/* A flow packet leaving to the tailnet: replies get their service back. */
static __always_inline int tp_egress_flow(struct __sk_buff *skb, struct tp_pkt *p)
{
	__u64 now = tp_now();
	struct tp_ct_entry *e;
	struct tp_ct_key orig;
	int ret;

	if (!tp_frag_track(p, now)) {
		tp_stat_add(TP_STAT_FRAG_NO_RECORD, skb->len);
		return TC_ACT_OK;
	}
	e = tp_ct_lookup_reply(&p->tuple, now, &orig);
	if (!e) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	tp_stat_add(TP_STAT_CT_HIT, skb->len);
	tp_ct_account(e, TP_CT_DIR_REPLY, p, skb->len, now);
	if (!(e->flags & TP_CT_F_DNAT)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	/* the reply leaves as the service: VIP and service port */
	ret = tp_nat_rewrite(skb, p, true, &orig.daddr, orig.dport);
	if (ret < 0)
		return tp_drop(skb, -ret);
	tp_stat_add(TP_STAT_REVNAT, skb->len);
	return TC_ACT_OK;
}

/*
 * An ICMP error leaving to the tailnet about a packet we translated
 * (client -> backend): the quoted packet's reverse is the flow's reply
 * tuple.  Make it quote the packet the client sent (client -> VIP).
 */
static __always_inline int tp_egress_icmp_error(struct __sk_buff *skb,
						struct tp_pkt *p)
{
	struct tp_ct_key reply, orig;
	struct tp_ct_entry *e;
	int ret;

	tp_ct_reverse(&p->inner.tuple, &reply);
	e = tp_ct_lookup_reply(&reply, tp_now(), &orig);
	if (!e || !(e->flags & TP_CT_F_DNAT)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	ret = tp_nat_icmp_error(skb, p, false, &orig.daddr, orig.dport);
	if (ret < 0)
		return tp_drop(skb, -ret);
	tp_stat_add(TP_STAT_ICMP_ERR_NAT, skb->len);
	return TC_ACT_OK;
}

SEC("tc")
int tp_to_tailnet(struct __sk_buff *skb)
{
	struct tp_pkt p = {};
	int ret;

	tp_stat_add(TP_STAT_TX_TAILNET, skb->len);
	ret = tp_parse_skb(skb, &p);
	switch (ret) {
	case TP_PARSE_FLOW:
		return tp_egress_flow(skb, &p);
	case TP_PARSE_ICMP_ERR:
		return tp_egress_icmp_error(skb, &p);
	case TP_PARSE_NOT_IP:
		tp_stat_add(TP_STAT_NOT_IP, skb->len);
		return TC_ACT_OK;
	case TP_PARSE_OTHER:
		tp_stat_add(TP_STAT_OTHER_PROTO, skb->len);
		return TC_ACT_OK;
	}
	return tp_drop(skb, -ret);
}
