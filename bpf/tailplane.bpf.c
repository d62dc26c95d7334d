// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tailplane datapath entry points.  One object holds every program and
 * map; each program is a thin sequence of the bpf/lib/ stages:
 *
 *   tp_from_tailnet (TC ingress of wg0/tailscale0):
 *     parse -> fragments -> conntrack -> [new flow: service, backend,
 *     identities, policy, conntrack entry, event] -> DNAT -> counters
 *   tp_to_tailnet (TC egress of wg0/tailscale0):
 *     parse -> fragments -> conntrack (reply) -> reverse NAT, or zone
 *     isolation, or [new flow: identities, policy, ...] -> counters
 *
 * Established flows take one conntrack lookup (two for replies) and a
 * rewrite; policy and service lookups happen once per flow.  ICMP errors
 * belonging to a flow are translated in both directions, inner packet
 * included, and pass as related traffic.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/ct.h"
#include "lib/lb.h"
#include "lib/nat.h"
#include "lib/identity.h"
#include "lib/policy.h"
#include "lib/events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

enum tp_hook {
	TP_HOOK_FROM_TAILNET = TP_EVENT_HOOK_FROM_TAILNET,
	TP_HOOK_TO_TAILNET = TP_EVENT_HOOK_TO_TAILNET,
};

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

/**
 * tp_event_flow() - report a decision about a flow.
 * @skb:      the packet.
 * @hook:     enum tp_hook.
 * @p:        its parse (the tuple before translation).
 * @q:        the policy query.
 * @d:        the decision.
 * @svc_id:   service, 0 if none.
 * @nat_addr: destination after translation.
 * @nat_port: destination port after translation.
 */
static __always_inline void tp_event_flow(struct __sk_buff *skb, int hook,
					  const struct tp_pkt *p,
					  const struct tp_policy_query *q,
					  const struct tp_decision *d, __u32 svc_id,
					  const struct tp_addr *nat_addr, __be16 nat_port)
{
	struct tp_scratch *scr = tp_scratch_get();
	struct tp_event *ev;

	if (!scr)
		return;
	ev = &scr->ev;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = tp_now();
	ev->type = d->verdict == TP_VERDICT_DENY  ? TP_EVENT_FLOW_DENY :
		   d->verdict == TP_VERDICT_AUDIT ? TP_EVENT_FLOW_AUDIT :
						    TP_EVENT_FLOW_ALLOW;
	ev->verdict = d->verdict;
	ev->reason = d->verdict == TP_VERDICT_DENY ? d->reason : 0;
	ev->hook = hook;
	ev->zone = q->zone;
	ev->out_zone = q->out_zone;
	ev->ifindex = skb->ifindex;
	ev->src_id = q->src_id;
	ev->dst_id = q->dst_id;
	ev->rule_id = d->rule_id;
	ev->svc_id = svc_id;
	ev->tuple = p->tuple;
	ev->nat_addr = *nat_addr;
	ev->nat_port = nat_port;
	tp_event_emit(ev);
}

/*
 * The policy query of a packet from the tailnet to @daddr:@dport (after
 * translation): source in the interface's zone, destination in the zone
 * it leaves to (the cluster side when that is no tailnet).
 */
static __always_inline void tp_query_ingress(struct __sk_buff *skb,
					     const struct tp_pkt *p,
					     const struct tp_addr *daddr,
					     __be16 dport, struct tp_policy_query *q)
{
	struct tp_scratch *scr = tp_scratch_get();

	q->zone = p->tuple.zone;
	q->out_zone = scr ? tp_out_zone(skb, p, daddr, &scr->fib) : 0;
	q->src_id = tp_identity_of(q->zone, &p->tuple.saddr, TP_ID_TAILNET);
	q->dst_id = tp_identity_of(q->out_zone, daddr,
				   q->out_zone ? TP_ID_TAILNET : TP_ID_WORLD);
	q->proto = p->tuple.proto;
	q->dport = dport;
}

/*
 * The policy query of a packet leaving to the tailnet: source on the
 * cluster side (this host when it originated here), destination in the
 * interface's zone.
 */
static __always_inline void tp_query_egress(struct __sk_buff *skb,
					    const struct tp_pkt *p,
					    struct tp_policy_query *q)
{
	q->zone = p->tuple.zone;
	q->out_zone = p->tuple.zone;
	q->src_id = tp_identity_of(0, &p->tuple.saddr,
				   skb->ingress_ifindex ? TP_ID_WORLD : TP_ID_HOST);
	q->dst_id = tp_identity_of(q->zone, &p->tuple.daddr, TP_ID_TAILNET);
	q->proto = p->tuple.proto;
	q->dport = p->tuple.dport;
}

/*
 * A packet of no flow that cannot start one (other protocols, TCP RST,
 * echo replies, unrelated ICMP errors, later fragments): decided on its
 * own, nothing is kept.
 */
static __always_inline int tp_stateless(struct __sk_buff *skb, int hook,
					const struct tp_pkt *p, __u32 stat)
{
	struct tp_policy_query q = {};
	struct tp_decision d = {};

	if (hook == TP_HOOK_FROM_TAILNET)
		tp_query_ingress(skb, p, &p->tuple.daddr, p->tuple.dport, &q);
	else
		tp_query_egress(skb, p, &q);
	tp_policy_decide(&q, &d);
	tp_policy_count(&d, skb->len);
	if (d.verdict == TP_VERDICT_DENY) {
		tp_event_flow(skb, hook, p, &q, &d, 0, &p->tuple.daddr, p->tuple.dport);
		return tp_drop(skb, d.reason);
	}
	tp_stat_add(stat, skb->len);
	return TC_ACT_OK;
}

/* Why a flow's packets are dropped when its verdict is deny. */
static __always_inline int tp_flow_deny_reason(const struct tp_ct_entry *e, __u16 zone)
{
	return zone && e->out_zone && zone != e->out_zone ? TP_DROP_ZONE : TP_DROP_POLICY;
}

/*
 * Decide a flow again when the policy revision moved since it was decided
 * (packets in the original direction only; replies follow the flow).
 * Returns the flow's verdict.
 */
static __always_inline __u8 tp_recheck(struct __sk_buff *skb, int hook,
				       const struct tp_pkt *p, struct tp_ct_entry *e)
{
	__u32 rev = tp_policy_rev();
	struct tp_policy_query q = {};
	struct tp_decision d = {};
	bool dnat = e->flags & TP_CT_F_DNAT;

	if (e->policy_rev == rev)
		return e->verdict;
	if (e->flags & TP_CT_F_EGRESS) {
		tp_query_egress(skb, p, &q);
	} else {
		q.zone = p->tuple.zone;
		q.out_zone = e->out_zone;
		q.src_id = tp_identity_of(q.zone, &p->tuple.saddr, TP_ID_TAILNET);
		q.dst_id = tp_identity_of(q.out_zone,
					  dnat ? &e->nat_addr : &p->tuple.daddr,
					  q.out_zone ? TP_ID_TAILNET : TP_ID_WORLD);
		q.proto = p->tuple.proto;
		q.dport = dnat ? e->nat_port : p->tuple.dport;
	}
	tp_policy_decide(&q, &d);
	tp_policy_count(&d, skb->len);
	tp_stat_add(TP_STAT_POLICY_RECHECK, skb->len);
	if (d.verdict != e->verdict)
		tp_event_flow(skb, hook, p, &q, &d, e->svc_id,
			      dnat ? &e->nat_addr : &p->tuple.daddr,
			      dnat ? e->nat_port : p->tuple.dport);
	e->verdict = d.verdict;
	e->rule_id = d.rule_id;
	e->src_identity = q.src_id;
	e->dst_identity = q.dst_id;
	e->policy_rev = rev;
	return d.verdict;
}

/*
 * Write a new flow's entries.  @e has the NAT fields set; @old_reply is
 * the reply tuple of an entry this flow replaces.
 */
static __always_inline int tp_flow_commit(struct __sk_buff *skb, struct tp_pkt *p,
					  __u64 now, struct tp_scratch *scr,
					  const struct tp_policy_query *q,
					  const struct tp_decision *d,
					  const struct tp_ct_key *old_reply)
{
	struct tp_ct_entry *e = &scr->flow;
	struct tp_ct_key reply_src = p->tuple;
	int ret;

	if (e->flags & TP_CT_F_DNAT) {
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
	e->verdict = d->verdict;
	e->src_identity = q->src_id;
	e->dst_identity = q->dst_id;
	e->rule_id = d->rule_id;
	e->policy_rev = tp_policy_rev();
	e->out_zone = q->out_zone;

	ret = tp_ct_create(&p->tuple, e, old_reply, &scr->reply, now);
	if (ret < 0)
		return ret;
	if (tp_zone_crossing(q)) {
		/*
		 * Its replies come in through the other zone's interface:
		 * index them there too, or they would be a new crossing.
		 */
		struct tp_ct_key there = e->peer;

		there.zone = q->out_zone;
		if (!tp_ct_key_live(&there, &p->tuple, false, now))
			bpf_map_update_elem(&tp_ct, &there, &scr->reply, BPF_ANY);
	}
	tp_stat_add(TP_STAT_CT_NEW, skb->len);
	return 0;
}

/*
 * A new flow from the tailnet: its service backend, if any, then policy
 * on the translated destination, then its conntrack entries.
 */
static __always_inline int tp_ingress_new(struct __sk_buff *skb, struct tp_pkt *p,
					  __u64 now, struct tp_scratch *scr,
					  const struct tp_ct_key *old_reply)
{
	struct tp_ct_entry *e = &scr->flow;
	struct tp_policy_query q = {};
	struct tp_decision d = {};
	struct tp_backend *be;
	struct tp_svc *svc;
	__u32 backend_id = 0;

	__builtin_memset(e, 0, sizeof(*e));
	e->nat_addr = p->tuple.daddr;
	e->nat_port = p->tuple.dport;
	svc = tp_lb_lookup(&p->tuple);
	if (svc) {
		be = tp_lb_select(svc, &p->tuple, now, &backend_id);
		if (!be)
			return -TP_DROP_NO_BACKEND;
		e->flags = TP_CT_F_DNAT;
		e->svc_id = svc->id;
		e->backend_id = backend_id;
		e->nat_addr = be->addr;
		if (p->tuple.proto == IPPROTO_TCP || p->tuple.proto == IPPROTO_UDP)
			e->nat_port = be->port;
	}

	tp_query_ingress(skb, p, &e->nat_addr, e->nat_port, &q);
	tp_policy_decide(&q, &d);
	tp_policy_count(&d, skb->len);
	tp_event_flow(skb, TP_HOOK_FROM_TAILNET, p, &q, &d, e->svc_id,
		      &e->nat_addr, e->nat_port);
	if (d.verdict == TP_VERDICT_DENY)
		return -d.reason;
	return tp_flow_commit(skb, p, now, scr, &q, &d, old_reply);
}

/* Translate a packet of a DNATed flow toward its backend. */
static __always_inline int tp_dnat(struct __sk_buff *skb, const struct tp_pkt *p,
				   const struct tp_addr *addr, __be16 port,
				   __u32 svc_id)
{
	int ret = tp_nat_rewrite(skb, p, false, addr, port);

	if (ret < 0)
		return tp_drop(skb, -ret);
	tp_stat_add(TP_STAT_DNAT, skb->len);
	tp_stat_add_map(&tp_svc_stats, svc_id, skb->len);
	return TC_ACT_OK;
}

/* A flow packet (TCP, UDP, ICMP echo) arriving from the tailnet. */
static __always_inline int tp_ingress_flow(struct __sk_buff *skb, struct tp_pkt *p)
{
	__u64 now = tp_now();
	struct tp_ct_entry *e;
	struct tp_ct_key old_reply;
	struct tp_scratch *scr;
	bool have_old = false;
	int ret;

	if (!tp_frag_track(p, now)) {
		if (tp_zone_denies(p->tuple.zone))
			return tp_drop(skb, TP_DROP_FRAG_NO_FLOW);
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
			if (!tp_verdict_allows(e->verdict))
				return tp_drop(skb, TP_DROP_POLICY);
			tp_stat_add(TP_STAT_PASS, skb->len);
			return TC_ACT_OK;
		}
		/* a stale reply key: the tuple is free for a new flow */
	} else if (e && !tp_ct_expired(e, now) && !tp_ct_reopens(e, p)) {
		tp_stat_add(TP_STAT_CT_HIT, skb->len);
		tp_ct_account(e, TP_CT_DIR_ORIG, p, skb->len, now);
		if (!tp_verdict_allows(tp_recheck(skb, TP_HOOK_FROM_TAILNET, p, e)))
			return tp_drop(skb, tp_flow_deny_reason(e, p->tuple.zone));
		if (!(e->flags & TP_CT_F_DNAT)) {
			tp_stat_add(TP_STAT_PASS, skb->len);
			return TC_ACT_OK;
		}
		return tp_dnat(skb, p, &e->nat_addr, e->nat_port, e->svc_id);
	} else if (e) {
		old_reply = e->peer;
		have_old = true;
	}

	if (!tp_ct_starts_flow(p))
		return tp_stateless(skb, TP_HOOK_FROM_TAILNET, p, TP_STAT_PASS);
	scr = tp_scratch_get();
	if (!scr)
		return tp_drop(skb, TP_DROP_CT_FAIL);
	ret = tp_ingress_new(skb, p, now, scr, have_old ? &old_reply : NULL);
	if (ret < 0)
		return tp_drop(skb, -ret);
	if (!(scr->flow.flags & TP_CT_F_DNAT)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	return tp_dnat(skb, p, &scr->flow.nat_addr, scr->flow.nat_port,
		       scr->flow.svc_id);
}

/*
 * The flow an ICMP error is about.  Its quote is a packet that went the
 * other way through this interface: a reply (its reverse is a flow's
 * original tuple) or an original-direction packet of a flow (its reverse
 * is that flow's reply tuple).  @reply_side says which to try first.
 */
static __always_inline struct tp_ct_entry *
tp_icmp_error_flow(const struct tp_pkt *p, __u64 now, struct tp_ct_key *orig,
		   bool *quote_is_reply)
{
	struct tp_ct_key rev;
	struct tp_ct_entry *e;

	tp_ct_reverse(&p->inner.tuple, &rev);
	e = bpf_map_lookup_elem(&tp_ct, &rev);
	if (e && !(e->flags & TP_CT_F_REPLY_KEY) && !tp_ct_expired(e, now)) {
		*orig = rev;
		*quote_is_reply = true;
		return e;
	}
	*quote_is_reply = false;
	return tp_ct_lookup_reply(&rev, now, orig);
}

/*
 * An ICMP error about a packet of a flow: related traffic, passed when the
 * flow is allowed.  When the flow is DNATed the quote is made to show
 * what the receiver sent or got: from the tailnet, a reply quoted as from
 * the VIP becomes from the backend; to the tailnet, a packet quoted as to
 * the backend becomes to the VIP.
 */
static __always_inline int tp_icmp_error(struct __sk_buff *skb, int hook,
					 struct tp_pkt *p)
{
	struct tp_ct_key orig;
	struct tp_ct_entry *e;
	bool quote_is_reply;
	int ret = 0;

	e = tp_icmp_error_flow(p, tp_now(), &orig, &quote_is_reply);
	if (!e)
		return tp_stateless(skb, hook, p, TP_STAT_OTHER_PROTO);
	if (!tp_verdict_allows(e->verdict))
		return tp_drop(skb, TP_DROP_POLICY);
	if (!(e->flags & TP_CT_F_DNAT)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	if (hook == TP_HOOK_FROM_TAILNET && quote_is_reply)
		ret = tp_nat_icmp_error(skb, p, true, &e->nat_addr, e->nat_port);
	else if (hook == TP_HOOK_TO_TAILNET && !quote_is_reply)
		ret = tp_nat_icmp_error(skb, p, false, &orig.daddr, orig.dport);
	else
		ret = 1; /* about a packet that was not translated */
	if (ret < 0)
		return tp_drop(skb, -ret);
	tp_stat_add(ret ? TP_STAT_PASS : TP_STAT_ICMP_ERR_NAT, skb->len);
	return TC_ACT_OK;
}

/* IPv6 control traffic that policy never blocks: MLD (v1, v2) and ND. */
static __always_inline bool tp_is_ipv6_control(const struct tp_pkt *p)
{
	return p->ipv6 && p->tuple.proto == IPPROTO_ICMPV6 &&
	       ((p->icmp_type >= 130 && p->icmp_type <= 137) || p->icmp_type == 143);
}

static __always_inline int tp_other(struct __sk_buff *skb, int hook,
				    struct tp_pkt *p)
{
	if (p->frag == TP_FRAG_LATER && tp_zone_denies(p->tuple.zone))
		return tp_drop(skb, TP_DROP_FRAG_NO_FLOW);
	if (tp_is_ipv6_control(p) || p->frag == TP_FRAG_LATER) {
		tp_stat_add(TP_STAT_OTHER_PROTO, skb->len);
		return TC_ACT_OK;
	}
	return tp_stateless(skb, hook, p, TP_STAT_OTHER_PROTO);
}

/*
 * A packet forwarded from one tailnet interface to another (@in_zone to
 * the packet's zone): it must belong to a flow that entered in @in_zone,
 * was allowed and was decided to leave to this zone.
 */
static __always_inline int tp_egress_forwarded(struct __sk_buff *skb,
					       struct tp_pkt *p, __u16 in_zone,
					       __u64 now)
{
	struct tp_ct_key rev, orig;
	struct tp_ct_entry *f;

	tp_ct_reverse(&p->tuple, &rev);
	rev.zone = in_zone;
	f = tp_ct_lookup_reply(&rev, now, &orig);
	if (f && tp_verdict_allows(f->verdict) &&
	    (in_zone == p->tuple.zone || f->out_zone == p->tuple.zone)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	if (!f && in_zone == p->tuple.zone) {
		/* hairpin in one zone, decided at its ingress */
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	return tp_drop(skb, TP_DROP_ZONE);
}

/* A new flow from this host or the cluster side to the tailnet. */
static __always_inline int tp_egress_new(struct __sk_buff *skb, struct tp_pkt *p,
					 __u64 now, const struct tp_ct_key *old_reply)
{
	struct tp_scratch *scr = tp_scratch_get();
	struct tp_policy_query q = {};
	struct tp_decision d = {};

	if (!scr)
		return tp_drop(skb, TP_DROP_CT_FAIL);
	tp_query_egress(skb, p, &q);
	tp_policy_decide(&q, &d);
	tp_policy_count(&d, skb->len);
	tp_event_flow(skb, TP_HOOK_TO_TAILNET, p, &q, &d, 0, &p->tuple.daddr,
		      p->tuple.dport);
	if (d.verdict == TP_VERDICT_DENY)
		return tp_drop(skb, d.reason);
	__builtin_memset(&scr->flow, 0, sizeof(scr->flow));
	scr->flow.flags = TP_CT_F_EGRESS;
	/*
	 * A tuple whose reverse is a live flow's (say, a packet from the VIP
	 * of a flow from the tailnet) is not a flow of its own: it passes
	 * as decided, untracked, and the live flow stays intact.
	 */
	tp_flow_commit(skb, p, now, scr, &q, &d, old_reply);
	tp_stat_add(TP_STAT_PASS, skb->len);
	return TC_ACT_OK;
}

/* A flow packet leaving to the tailnet. */
static __always_inline int tp_egress_flow(struct __sk_buff *skb, struct tp_pkt *p)
{
	__u64 now = tp_now();
	struct tp_ct_entry *e;
	struct tp_ct_key orig;
	__u16 in_zone;
	bool have_old = false;
	int ret;

	if (!tp_frag_track(p, now)) {
		if (tp_zone_denies(p->tuple.zone))
			return tp_drop(skb, TP_DROP_FRAG_NO_FLOW);
		tp_stat_add(TP_STAT_FRAG_NO_RECORD, skb->len);
		return TC_ACT_OK;
	}

	/* a reply of a flow from the tailnet: the service answers */
	e = tp_ct_lookup_reply(&p->tuple, now, &orig);
	if (e) {
		tp_stat_add(TP_STAT_CT_HIT, skb->len);
		tp_ct_account(e, TP_CT_DIR_REPLY, p, skb->len, now);
		if (!tp_verdict_allows(e->verdict))
			return tp_drop(skb, TP_DROP_POLICY);
		if (!(e->flags & TP_CT_F_DNAT)) {
			tp_stat_add(TP_STAT_PASS, skb->len);
			return TC_ACT_OK;
		}
		ret = tp_nat_rewrite(skb, p, true, &orig.daddr, orig.dport);
		if (ret < 0)
			return tp_drop(skb, -ret);
		tp_stat_add(TP_STAT_REVNAT, skb->len);
		tp_stat_add_map(&tp_svc_stats, e->svc_id, skb->len);
		return TC_ACT_OK;
	}

	in_zone = tp_zone_of_ifindex(skb->ingress_ifindex);
	if (in_zone)
		return tp_egress_forwarded(skb, p, in_zone, now);

	/* a flow this host or the cluster side started */
	e = bpf_map_lookup_elem(&tp_ct, &p->tuple);
	if (e && !(e->flags & TP_CT_F_REPLY_KEY) && !tp_ct_expired(e, now) &&
	    !tp_ct_reopens(e, p)) {
		tp_stat_add(TP_STAT_CT_HIT, skb->len);
		tp_ct_account(e, TP_CT_DIR_ORIG, p, skb->len, now);
		if (!tp_verdict_allows(tp_recheck(skb, TP_HOOK_TO_TAILNET, p, e)))
			return tp_drop(skb, tp_flow_deny_reason(e, p->tuple.zone));
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	if (e && !(e->flags & TP_CT_F_REPLY_KEY)) {
		orig = e->peer;
		have_old = true;
	}
	if (!tp_ct_starts_flow(p))
		return tp_stateless(skb, TP_HOOK_TO_TAILNET, p, TP_STAT_PASS);
	return tp_egress_new(skb, p, now, have_old ? &orig : NULL);
}

/* Both programs: count, parse, hand the packet to its kind's handler. */
static __always_inline int tp_handle(struct __sk_buff *skb, int hook)
{
	struct tp_pkt p = {};
	int ret;

	tp_stat_add(hook == TP_HOOK_FROM_TAILNET ? TP_STAT_RX_TAILNET : TP_STAT_TX_TAILNET,
		    skb->len);
	ret = tp_parse_skb(skb, &p);
	switch (ret) {
	case TP_PARSE_FLOW:
		return hook == TP_HOOK_FROM_TAILNET ? tp_ingress_flow(skb, &p) :
						      tp_egress_flow(skb, &p);
	case TP_PARSE_ICMP_ERR:
		return tp_icmp_error(skb, hook, &p);
	case TP_PARSE_NOT_IP:
		tp_stat_add(TP_STAT_NOT_IP, skb->len);
		return TC_ACT_OK;
	case TP_PARSE_OTHER:
		return tp_other(skb, hook, &p);
	}
	return tp_drop(skb, -ret);
}

SEC("tc")
int tp_from_tailnet(struct __sk_buff *skb)
{
#ifdef TP_UPGRADE_VARIANT
	/* test builds only: a program that differs from the release one */
	bpf_get_prandom_u32();
#endif
	return tp_handle(skb, TP_HOOK_FROM_TAILNET);
}

SEC("tc")
int tp_to_tailnet(struct __sk_buff *skb)
{
	return tp_handle(skb, TP_HOOK_TO_TAILNET);
}
