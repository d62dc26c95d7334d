// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tailplane datapath entry points.  One object holds every program and
 * map; each program is a thin sequence of the bpf/lib/ stages:
 *
 *   tp_from_tailnet (TC ingress of wg0/tailscale0):
 *     parse -> fragments -> conntrack -> [new flow: service, backend,
 *     identities, policy, conntrack entry, event] -> DNAT -> counters
 *   tp_to_tailnet (TC egress of wg0/tailscale0):
 *     [a reply tp_from_uplink restored: passes] parse -> fragments ->
 *     conntrack (reply) -> reverse NAT, or zone isolation, or [new flow:
 *     identities, policy, ...] -> counters
 *   tp_from_uplink (TC ingress of the uplinks, Ethernet):
 *     parse -> conntrack (zone 0) -> [a reply of a SNAT flow: reverse
 *     SNAT and DNAT, redirect to the flow's tailnet interface]; anything
 *     else passes untouched after that one lookup
 *
 * SNAT flows (lib/snat.h) are DNAT flows whose source becomes the node's
 * address and a port of the SNAT range; tp_from_tailnet forwards their
 * packets itself (FIB, Ethernet header, redirect to the uplink).
 *
 * Masquerade (lib/masq.h): flows this side starts toward a tailnet zone
 * with masquerade on leave from the node's address on that zone's
 * interface and a port of the SNAT range; tp_to_tailnet rewrites them,
 * tp_from_tailnet restores their replies.
 *
 * Static 1:1 NAT (lib/static_nat.h) wraps both: right after the parse on
 * the way in, right before the packet leaves on the way out, so every
 * stage between sees a pod's own address.
 *
 * Established flows take one conntrack lookup (two or three for
 * replies) and a rewrite; a TCP or UDP packet of a flow with nothing
 * else to do takes a short path of its own each way (tp_fast_ingress(),
 * tp_fast_egress()).  Policy and service lookups happen once per flow,
 * and again when the policy revision moved.  ICMP errors belonging to a
 * flow are translated in both directions, inner packet included, and pass as
 * related traffic when they come from the flow's path and go to the
 * endpoint that sent the quoted packet.  Every drop is counted; drops that
 * are no policy decision are also reported (rate-limited) as drop events.
 *
 * The verifier: each handler below that is a global function (__noinline,
 * not static: the parse with the flow handlers, the new-flow handlers, the
 * ICMP error handlers, static NAT, the stateless decision, and in the
 * stages the policy decision and the conntrack writers) is verified once,
 * against its prototype, with a state list of its own; inlined, the
 * programs were one walk of 234,000 and 244,000 instructions on 6.18.
 * Linux 6.1 adds the frames of nested global calls up to 512 bytes, so the
 * programs call the handlers one level deep (TP_NEW_FLOW, TP_STATELESS,
 * TP_NOT_FLOW), and the handlers find the parse in the per-CPU scratch
 * (tp_pkt_cur()).  An established flow's packet makes one global call,
 * the parse and its flow's handler (tp_ingress_pkt(), tp_egress_pkt()).
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/ct.h"
#include "lib/lb.h"
#include "lib/nat.h"
#include "lib/identity.h"
#include "lib/snat.h"
#include "lib/policy.h"
#include "lib/events.h"
#include "lib/static_nat.h"
#include "lib/masq.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

enum tp_hook {
	TP_HOOK_FROM_TAILNET = TP_EVENT_HOOK_FROM_TAILNET,
	TP_HOOK_TO_TAILNET = TP_EVENT_HOOK_TO_TAILNET,
	TP_HOOK_FROM_UPLINK = TP_EVENT_HOOK_FROM_UPLINK,
};

/*
 * The packet's parse, zeroed: it lives in the per-CPU scratch, not on the
 * stack, which the programs' deepest paths and the global functions they
 * call (Linux 6.1 adds their frames up) need whole.
 */
static __always_inline struct tp_pkt *tp_pkt_get(void)
{
	struct tp_scratch *scr = tp_scratch_get();

	if (!scr)
		return NULL;
	__builtin_memset(&scr->pkt, 0, sizeof(scr->pkt));
	return &scr->pkt;
}

/*
 * The packet's parse for a global function: the same per-CPU scratch,
 * not zeroed.  The handlers below that are global functions (verified
 * once each, with a state list of their own, instead of inside one
 * program-sized walk) take only the skb and find the parse here: the
 * verifier of Linux before 6.3 would not take a pointer argument's
 * memory as a map key (tp_ct_get(&p->tuple)).
 */
static __always_inline struct tp_pkt *tp_pkt_cur(void)
{
	struct tp_scratch *scr = tp_scratch_get();

	return scr ? &scr->pkt : NULL;
}

/*
 * What a flow handler returns for a packet that starts a new flow: the
 * program calls the new-flow handler next.  Global functions' frames add
 * up on Linux 6.1 (512 bytes in all), so a new flow is decided one call
 * deep, not two.  No TC verdict has this value.
 */
#define TP_NEW_FLOW 0x100

/*
 * What a flow handler returns for a packet of no flow that cannot start
 * one: the program decides it on its own next (tp_stateless(),
 * TP_STAT_PASS), one call deep for the same reason.
 */
#define TP_STATELESS 0x102

/* Parse and set the zone; returns enum tp_parse_result or -reason. */
static __always_inline int tp_parse_skb(struct __sk_buff *skb, struct tp_pkt *p)
{
	struct tp_iface ifc = tp_iface_get(skb->ifindex);
	int ret;

	ret = tp_parse(skb, ifc.flags & TP_IFACE_F_L3, p);
	p->tuple.zone = ifc.zone;
	p->inner.tuple.zone = p->tuple.zone;
	return ret;
}

/**
 * tp_event_flow() - report a decision about a flow.
 * @skb:      the packet.
 * @hook:     enum tp_hook.
 * @tuple:    the flow's original tuple (before translation).
 * @q:        the policy query.
 * @d:        the decision.
 * @svc_id:   service, 0 if none.
 * @nat_addr: destination after translation.
 * @nat_port: destination port after translation.
 */
static __always_inline void
tp_event_flow(struct __sk_buff *skb, int hook, const struct tp_ct_key *tuple,
	      const struct tp_policy_query *q, const struct tp_decision *d,
	      __u32 svc_id, const struct tp_addr *nat_addr, __be16 nat_port)
{
	__u8 type = d->verdict == TP_VERDICT_DENY    ? TP_EVENT_FLOW_DENY
		    : d->verdict == TP_VERDICT_AUDIT ? TP_EVENT_FLOW_AUDIT
						     : TP_EVENT_FLOW_ALLOW;
	struct tp_event *ev = tp_event_open(type);

	if (!ev)
		return;
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
	ev->tuple = *tuple;
	ev->nat_addr = *nat_addr;
	ev->nat_port = nat_port;
	tp_event_send(ev);
}

/**
 * tp_drop_report() - drop a packet for a reason that is no policy
 * decision, count it and report it as a drop event (rate-limited).
 * @skb:    the packet.
 * @hook:   enum tp_hook.
 * @p:      its parse, as far as it got.
 * @reason: enum tp_drop_reason.
 */
static __always_inline int tp_drop_report(struct __sk_buff *skb, int hook,
					  const struct tp_pkt *p, int reason)
{
	struct tp_event *ev = tp_event_open(TP_EVENT_DROP);

	if (ev) {
		ev->reason = reason > 0 && reason < TP_DROP_REASON_MAX
				     ? reason
				     : TP_DROP_INTERNAL;
		ev->hook = hook;
		ev->zone = p->tuple.zone;
		ev->ifindex = skb->ifindex;
		ev->tuple = p->tuple;
		ev->nat_addr = p->tuple.daddr;
		ev->nat_port = p->tuple.dport;
		tp_event_send(ev);
	}
	return tp_drop(skb, reason);
}

/*
 * The policy query of a packet from the tailnet to @daddr:@dport (after
 * translation): source in the interface's zone, destination in the zone
 * it leaves to (the cluster side when that is no tailnet), the zone of
 * @out_route, the interface the FIB forwards it through (tp_out_route()).
 */
static __always_inline void tp_query_ingress(const struct tp_pkt *p,
					     const struct tp_addr *daddr,
					     __be16 dport, __u32 out_route,
					     struct tp_policy_query *q)
{
	q->zone = p->tuple.zone;
	q->out_zone = tp_zone_of_ifindex(out_route);
	q->src_id = tp_identity_of(q->zone, &p->tuple.saddr, TP_ID_TAILNET);
	q->dst_id = tp_identity_of(q->out_zone, daddr,
				   q->out_zone ? TP_ID_TAILNET : TP_ID_WORLD);
	q->proto = p->tuple.proto;
	q->dport = dport;
}

/* tp_out_route() with the scratch's FIB space; 0 without a scratch. */
static __always_inline __u32 tp_ingress_route(struct __sk_buff *skb,
					      const struct tp_pkt *p,
					      const struct tp_addr *daddr)
{
	struct tp_scratch *scr = tp_scratch_get();

	return scr ? tp_out_route(skb, p, daddr, &scr->fib) : 0;
}

/*
 * Where a packet leaving to the tailnet came from: this host
 * (TP_CT_F_LOCAL), an uplink (TP_CT_F_UPLINK), or another interface of the
 * node (a pod's, 0).  Kept in the flow, so a re-check asks the same.
 */
static __always_inline __u8 tp_egress_origin(struct __sk_buff *skb)
{
	__u32 in = skb->ingress_ifindex;

	if (!in)
		return TP_CT_F_LOCAL;
	return tp_iface_get(in).flags & TP_IFACE_F_UPLINK ? TP_CT_F_UPLINK : 0;
}

/*
 * The policy query of a flow leaving to the tailnet (tuple @t): source on
 * the cluster side by address, but never from an uplink, whose sources
 * are anyone's to forge (world); this host when it originated here;
 * destination in the interface's zone.
 */
static __always_inline void tp_query_egress_of(const struct tp_ct_key *t,
					       __u8 origin,
					       struct tp_policy_query *q)
{
	q->zone = t->zone;
	q->out_zone = t->zone;
	q->src_id =
		origin & TP_CT_F_UPLINK
			? TP_ID_WORLD
			: tp_identity_of(0, &t->saddr,
					 origin & TP_CT_F_LOCAL ? TP_ID_HOST
								: TP_ID_WORLD);
	q->dst_id = tp_identity_of(q->zone, &t->daddr, TP_ID_TAILNET);
	q->proto = t->proto;
	q->dport = t->dport;
}

/*
 * An egress service's flow (TP_CT_F_DNAT) is decided on the backend it
 * goes to, as a flow from the tailnet is; the source is the pod's own.
 */
static __always_inline void tp_query_egress_dnat(const struct tp_ct_entry *e,
						 struct tp_policy_query *q)
{
	if (!(e->flags & TP_CT_F_DNAT))
		return;
	q->dst_id = tp_identity_of(q->zone, &e->nat_addr, TP_ID_TAILNET);
	q->dport = e->nat_port;
}

static __always_inline void tp_query_egress(struct __sk_buff *skb,
					    const struct tp_pkt *p,
					    struct tp_policy_query *q)
{
	tp_query_egress_of(&p->tuple, tp_egress_origin(skb), q);
}

/*
 * A packet of no flow that cannot start one (other protocols, TCP RST,
 * echo replies, unrelated ICMP errors, later fragments): decided on its
 * own, nothing is kept.
 */
static __always_inline int tp_decide_alone(struct __sk_buff *skb, int hook,
					   const struct tp_pkt *p, __u32 stat)
{
	struct tp_policy_query q = {};
	struct tp_decision d = {};

	if (hook == TP_HOOK_FROM_TAILNET)
		tp_query_ingress(p, &p->tuple.daddr, p->tuple.dport,
				 tp_ingress_route(skb, p, &p->tuple.daddr), &q);
	else
		tp_query_egress(skb, p, &q);
	tp_policy_decide(&q, &d);
	tp_policy_count(&d, skb->len);
	if (d.verdict == TP_VERDICT_DENY) {
		tp_event_flow(skb, hook, &p->tuple, &q, &d, 0, &p->tuple.daddr,
			      p->tuple.dport);
		return tp_drop(skb, d.reason);
	}
	tp_stat_add(stat, skb->len);
	return TC_ACT_OK;
}

/*
 * tp_decide_alone() as a global function (the parse: tp_pkt_cur()),
 * verified once, not at each of its callers.  The ICMP error handlers
 * inline it instead: their frames and this one's would add up beyond
 * Linux 6.1's 512 bytes.
 */
__noinline int tp_stateless(struct __sk_buff *skb, int hook, __u32 stat)
{
	const struct tp_pkt *p = tp_pkt_cur();

	if (!p)
		return tp_drop(skb, TP_DROP_INTERNAL);
	return tp_decide_alone(skb, hook, p, stat);
}

/* Why a flow's packets are dropped when its verdict is deny. */
static __always_inline int tp_flow_deny_reason(const struct tp_ct_entry *e,
					       __u16 zone)
{
	return zone && e->out_zone && zone != e->out_zone ? TP_DROP_ZONE
							  : TP_DROP_POLICY;
}

/*
 * Decide a flow again when the policy revision moved since it was decided,
 * on a packet in either direction (or an ICMP error about it): the query
 * is rebuilt from the flow's original tuple @orig and what the flow
 * recorded, so a reply asks exactly what the first packet asked.
 * Returns the flow's verdict.
 */
static __always_inline __u8 tp_recheck(struct __sk_buff *skb, int hook,
				       const struct tp_pkt *p,
				       const struct tp_ct_key *orig,
				       struct tp_ct_entry *e)
{
	__u32 rev = tp_policy_rev();
	struct tp_policy_query q = {};
	struct tp_decision d = {};
	bool dnat = e->flags & TP_CT_F_DNAT;

	if (e->policy_rev == rev)
		return e->verdict;
	if (e->flags & TP_CT_F_EGRESS) {
		tp_query_egress_of(orig, e->flags, &q);
		tp_query_egress_dnat(e, &q);
	} else {
		q.zone = orig->zone;
		q.out_zone = e->out_zone;
		q.src_id = tp_identity_of(q.zone, &orig->saddr, TP_ID_TAILNET);
		q.dst_id = tp_identity_of(
			q.out_zone, dnat ? &e->nat_addr : &orig->daddr,
			q.out_zone ? TP_ID_TAILNET : TP_ID_WORLD);
		q.proto = orig->proto;
		q.dport = dnat ? e->nat_port : orig->dport;
	}
	tp_policy_decide(&q, &d);
	tp_policy_count(&d, skb->len);
	tp_stat_add(TP_STAT_POLICY_RECHECK, skb->len);
	if (d.verdict != e->verdict)
		tp_event_flow(skb, hook, orig, &q, &d, e->svc_id,
			      dnat ? &e->nat_addr : &orig->daddr,
			      dnat ? e->nat_port : orig->dport);
	e->verdict = d.verdict;
	e->rule_id = d.rule_id;
	e->src_identity = q.src_id;
	e->dst_identity = q.dst_id;
	e->policy_rev = rev;
	return d.verdict;
}

/*
 * Write a new flow's entries.  @e has the NAT fields set; @rev is the
 * policy revision read before the decision @d (userspace bumps it after
 * writing the rules, so a rule written meanwhile is seen by the next
 * packet's re-check).  p->ct_free: tp_ingress_flow() found the tuple
 * free (never set for a flow leaving to the tailnet).
 */
static __always_inline int
tp_flow_commit(struct __sk_buff *skb, struct tp_pkt *p, __u64 now,
	       struct tp_scratch *scr, const struct tp_policy_query *q,
	       const struct tp_decision *d, __u32 rev)
{
	struct tp_ct_entry *e = &scr->flow;
	__u32 sec = tp_ct_sec(now);
	int ret;

	e->state = tp_ct_initial_state(p);
	e->ifindex = skb->ifindex;
	e->created_s = sec;
	e->tcp_flags[TP_CT_DIR_ORIG] = p->tcp_flags;
	e->packets[TP_CT_DIR_ORIG] = 1;
	e->bytes[TP_CT_DIR_ORIG] = skb->len;
	e->expires_s = sec + tp_ct_timeout(e, p->tuple.proto);
	e->verdict = d->verdict;
	e->src_identity = q->src_id;
	e->dst_identity = q->dst_id;
	e->rule_id = d->rule_id;
	e->policy_rev = rev;
	e->out_zone = q->out_zone;
	e->rk_check_s = (__u8)sec;

	/* writes scr->flow, e */
	ret = tp_ct_create(&p->tuple, now, p->ct_free ? TP_CT_NEW_FREE : 0);
	if (!ret && (e->flags & TP_CT_F_SNAT))
		ret = tp_ct_snat_reserve(&p->tuple,
					 now); /* sets e->snat_port */
	if (ret < 0)
		return ret;
	/*
	 * A crossing flow's replies come in through the other zone's
	 * interface: index them there too, or they would be a new crossing.
	 */
	if (tp_ct_cross_key(&p->tuple, e)) {
		tp_ct_reply_tuple(&p->tuple, e, NULL, &scr->rkey);
		scr->rkey.zone = e->out_zone;
		tp_ct_write_reply_key(&p->tuple, false, false, now);
	}
	tp_stat_add(TP_STAT_CT_NEW, skb->len);
	return 0;
}

/*
 * The source side of a SNAT flow's packet (DNATed already): from the
 * node's address and the flow's port, then forwarded by us.
 */
static __always_inline int tp_snat_out(struct __sk_buff *skb,
				       const struct tp_pkt *p,
				       const struct tp_ct_entry *e)
{
	const struct tp_addr *snat = tp_snat_addr(tp_ct_cfg(), p);
	int ret;

	if (!snat)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p,
				      TP_DROP_NO_SNAT_ADDR);
	ret = tp_snat_rewrite(skb, p, true, snat, e->snat_port, true);
	if (!ret)
		ret = tp_snat_route(skb, p, snat, &e->nat_addr);
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p, -ret);
	tp_stat_add(TP_STAT_SNAT, skb->len);
	return ret;
}

/* Translate a packet of DNAT flow @e toward its backend (and SNAT it). */
static __always_inline int tp_dnat(struct __sk_buff *skb,
				   const struct tp_pkt *p,
				   const struct tp_ct_entry *e)
{
	int ret = tp_nat_rewrite(skb, p, false, &e->nat_addr, e->nat_port);

	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p, -ret);
	tp_stat_add(TP_STAT_DNAT, skb->len);
	tp_stat_add_map(&tp_svc_stats, e->svc_id, skb->len);
	if (e->flags & TP_CT_F_SNAT)
		return tp_snat_out(skb, p, e);
	return TC_ACT_OK;
}

/*
 * A new flow from the tailnet that crosses into a zone with masquerade on
 * leaves from the node's address there and a port of the SNAT range, as a
 * pod's flow would (lib/masq.h), decided on its original identities
 * before.  Without DNAT the address is kept in nat_addr, as for a pod's
 * flow; a service flow's nat_addr holds its backend, and its address is
 * read from tp_masq on each packet (abi.h).
 */
static __always_inline int
tp_ingress_masq(const struct tp_pkt *p, __u16 out_zone, struct tp_ct_entry *e)
{
	struct tp_addr addr;
	int masq = tp_masq_crossing(p, out_zone, &addr);

	if (masq <= 0)
		return masq;
	e->flags |= TP_CT_F_SNAT | TP_CT_F_MASQ;
	if (!(e->flags & TP_CT_F_DNAT))
		e->nat_addr = addr;
	return 0;
}

/*
 * A packet of masqueraded flow @e in its original direction, translated:
 * to the backend when the flow is a service's (a cross-tailnet or egress
 * service), from the flow's address (set in @addr) and port.
 * Return: 0 or a negative drop reason.
 */
static __always_inline int tp_masq_translate(struct __sk_buff *skb,
					     const struct tp_pkt *p,
					     const struct tp_ct_entry *e,
					     const struct tp_addr **addr)
{
	int ret = 0;

	*addr = tp_ct_flow_snat_addr(&p->tuple, e);
	if (!*addr)
		return -TP_DROP_NO_SNAT_ADDR;
	if (e->flags & TP_CT_F_DNAT)
		ret = tp_nat_rewrite(skb, p, false, &e->nat_addr, e->nat_port);
	return ret ?: tp_masq_rewrite(skb, p, true, *addr, e->snat_port);
}

/* The counters of a packet tp_masq_translate() translated. */
static __always_inline void tp_masq_count(struct __sk_buff *skb,
					  const struct tp_ct_entry *e)
{
	if (e->flags & TP_CT_F_DNAT) {
		tp_stat_add(TP_STAT_DNAT, skb->len);
		tp_stat_add_map(&tp_svc_stats, e->svc_id, skb->len);
	}
	tp_stat_add(TP_STAT_MASQ, skb->len);
}

/*
 * A packet of masqueraded crossing flow @e from the tailnet, translated
 * and forwarded to the interface of the zone it crosses to by us.
 */
static __always_inline int tp_masq_cross_out(struct __sk_buff *skb,
					     const struct tp_pkt *p,
					     const struct tp_ct_entry *e)
{
	const struct tp_addr *addr;
	int ret = tp_masq_translate(skb, p, e, &addr);

	if (!ret)
		ret = tp_masq_route(skb, p, addr,
				    e->flags & TP_CT_F_DNAT ? &e->nat_addr
							    : &p->tuple.daddr,
				    e->out_zone);
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p, -ret);
	tp_masq_count(skb, e);
	return ret;
}

/*
 * Is live flow @f (original tuple @orig), found by the reply key of a
 * packet or quote leaving through @zone's interface, a masqueraded
 * crossing from @in_zone into @zone?  tp_from_tailnet translated and
 * forwarded that packet itself (its source is the node's address, no
 * packet from a tailnet may have it), allowed.
 */
static __always_inline bool tp_masq_crossed(const struct tp_ct_entry *f,
					    const struct tp_ct_key *orig,
					    __u16 in_zone, __u16 zone)
{
	return tp_ct_is_masq(f) && !(f->flags & TP_CT_F_EGRESS) &&
	       orig->zone == in_zone && f->out_zone == zone &&
	       tp_verdict_allows(f->verdict);
}

/*
 * Is @t's source a service frontend (VIP and port; an echo's, port 0)
 * that @zone sees?  Packets from @zone to it are the service's: they are
 * translated to a backend, never a reply to that source.
 */
static __always_inline bool tp_src_is_service(const struct tp_ct_key *t,
					      __u16 zone)
{
	return tp_lb_find(&t->saddr, t->sport, t->proto, zone);
}

/*
 * Would the replies of a new flow from the tailnet leaving to the tailnet
 * of @out_zone not come back through its own zone (tp_replies_elsewhere(),
 * @e->nat_addr: its destination after translation)?  Nor do they when its
 * source is the node's own address in @out_zone: the kernel drops such a
 * packet as a martian, but the flow's entries would hold the reply
 * tuples of the node's masqueraded flows there (client -> node:port),
 * and a peer of another zone covering the address could take every port
 * of the range toward a client.  Nor when its source is a service @out_zone
 * sees (tp_src_is_service()): its reply key there would be the tuple of
 * that zone's clients' flows to the service, taking them as its replies.
 */
static __always_inline bool tp_ingress_misrouted(struct __sk_buff *skb,
						 const struct tp_pkt *p,
						 __u16 out_zone,
						 const struct tp_ct_entry *e,
						 struct tp_scratch *scr)
{
	const struct tp_addr *own = tp_ct_masq_addr(out_zone, !p->ipv6);

	if (own && tp_addr_eq(own, &p->tuple.saddr))
		return true;
	if (tp_src_is_service(&p->tuple, out_zone))
		return true;
	return tp_replies_elsewhere(skb, p, &e->nat_addr, &scr->fib);
}

/*
 * May a new DNAT flow @e from the tailnet go without a reply-key entry
 * (TP_CT_F_RINDEX)?  When tp_be_frontends holds its backend's frontend
 * (@indexed), and its replies are the backend's own: not SNAT (the reply
 * key is the port's reservation), not masqueraded, not crossing into
 * another zone (replies come in there).
 */
static __always_inline bool tp_rindex_wanted(bool indexed,
					     const struct tp_pkt *p,
					     const struct tp_ct_entry *e,
					     __u16 out_zone)
{
	return indexed && (e->flags & TP_CT_F_DNAT) &&
	       !(e->flags & (TP_CT_F_SNAT | TP_CT_F_MASQ)) &&
	       (!out_zone || out_zone == p->tuple.zone);
}

/*
 * A new flow from the tailnet: its service backend, if any, then policy
 * on the translated destination, then its conntrack entries.
 */
__noinline int tp_ingress_new(struct __sk_buff *skb)
{
	struct tp_scratch *scr = tp_scratch_get();
	struct tp_policy_query q = {};
	struct tp_decision d = {};
	__u32 backend_id = 0, rev = tp_policy_rev(), out_route;
	bool indexed = false;
	struct tp_backend *be;
	struct tp_ct_entry *e;
	struct tp_svc *svc;
	struct tp_pkt *p;
	__u64 now;
	int ret;

	if (!scr)
		return tp_drop(skb, TP_DROP_INTERNAL);
	p = &scr->pkt;
	e = &scr->flow;
	now = tp_now();
	__builtin_memset(e, 0, sizeof(*e));
	e->nat_addr = p->tuple.daddr;
	e->nat_port = p->tuple.dport;
	svc = tp_lb_lookup(&p->tuple);
	if (svc) {
		be = tp_lb_select(svc, &p->tuple, now, &backend_id);
		if (!be)
			return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p,
					      TP_DROP_NO_BACKEND);
		e->flags = TP_CT_F_DNAT;
		e->svc_id = svc->id;
		e->backend_id = backend_id;
		e->nat_addr = be->addr;
		if (p->tuple.proto == IPPROTO_TCP ||
		    p->tuple.proto == IPPROTO_UDP)
			e->nat_port = be->port;
		indexed = be->flags & TP_BACKEND_F_INDEXED;
	}

	/* the route decides the zone it leaves to and SNAT auto: one lookup */
	out_route = tp_out_route(skb, p, &e->nat_addr, &scr->fib);
	tp_query_ingress(p, &e->nat_addr, e->nat_port, out_route, &q);
	tp_policy_decide(&q, &d);
	tp_policy_count(&d, skb->len);
	tp_event_flow(skb, TP_HOOK_FROM_TAILNET, &p->tuple, &q, &d, e->svc_id,
		      &e->nat_addr, e->nat_port);
	if (d.verdict == TP_VERDICT_DENY)
		return tp_drop(skb, d.reason);
	if (q.out_zone && tp_ingress_misrouted(skb, p, q.out_zone, e, scr))
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p,
				      TP_DROP_REVERSE_PATH);
	if (svc && tp_snat_wanted(svc, q.out_zone, out_route)) {
		if (!tp_snat_addr(tp_ct_cfg(), p))
			return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p,
					      TP_DROP_NO_SNAT_ADDR);
		e->flags |= TP_CT_F_SNAT;
	}
	ret = tp_ingress_masq(p, q.out_zone, e);
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p, -ret);
	if (tp_rindex_wanted(indexed, p, e, q.out_zone))
		e->flags |= TP_CT_F_RINDEX;
	/* SNAT, masquerade: takes a port */
	ret = tp_flow_commit(skb, p, now, scr, &q, &d, rev);
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p, -ret);
	if (tp_ct_is_masq(e))
		return tp_masq_cross_out(skb, p, e);
	if (!(e->flags & TP_CT_F_DNAT)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	return tp_dnat(skb, p, e);
}

/* A later fragment whose first fragment was not seen. */
static __always_inline int tp_frag_no_record(struct __sk_buff *skb, int hook,
					     const struct tp_pkt *p)
{
	if (tp_zone_denies(p->tuple.zone))
		return tp_drop_report(skb, hook, p, TP_DROP_FRAG_NO_FLOW);
	tp_stat_add(TP_STAT_FRAG_NO_RECORD, skb->len);
	return TC_ACT_OK;
}

/*
 * A packet of masqueraded flow @e leaving to the tailnet: from the node's
 * address of the zone and the flow's port.
 */
static __always_inline int tp_masq_out(struct __sk_buff *skb,
				       const struct tp_pkt *p,
				       const struct tp_ct_entry *e)
{
	const struct tp_addr *addr;
	/* an egress service: the VIP's route brought it here, to its backend */
	int ret = tp_masq_translate(skb, p, e, &addr);

	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_TO_TAILNET, p, -ret);
	tp_masq_count(skb, e);
	return TC_ACT_OK;
}

/*
 * A reply of a masqueraded flow (original tuple @orig) from the tailnet:
 * back to the pod's address and port; the kernel routes it there.
 */
static __always_inline int tp_masq_in(struct __sk_buff *skb,
				      const struct tp_pkt *p,
				      const struct tp_ct_key *orig,
				      const struct tp_ct_entry *e)
{
	int ret = tp_masq_rewrite(skb, p, false, &orig->saddr, orig->sport);

	/*
	 * A cross-tailnet service's reply is restored whole here (from the
	 * VIP): it has no reply key in the client's zone to be found by.
	 */
	if (!ret && (e->flags & TP_CT_F_DNAT))
		ret = tp_masq_rewrite(skb, p, true, &orig->daddr, orig->dport);
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p, -ret);
	if (e->flags & TP_CT_F_DNAT) {
		tp_stat_add(TP_STAT_REVNAT, skb->len);
		tp_stat_add_map(&tp_svc_stats, e->svc_id, skb->len);
	}
	tp_stat_add(TP_STAT_REVMASQ, skb->len);
	return TC_ACT_OK;
}

/*
 * A packet in the original direction of live flow @e: re-checked when the
 * policy moved, accounted only while allowed (so a revoked flow ages
 * out), its reply keys kept, translated.
 */
static __always_inline int tp_flow_orig(struct __sk_buff *skb, int hook,
					struct tp_pkt *p, struct tp_ct_entry *e,
					__u64 now)
{
	struct tp_scratch *scr = tp_scratch_get();

	tp_stat_add(TP_STAT_CT_HIT, skb->len);
	if (!tp_verdict_allows(tp_recheck(skb, hook, p, &p->tuple, e)))
		return tp_drop(skb, tp_flow_deny_reason(e, p->tuple.zone));
	if (scr && tp_ct_keep_reply_keys(&p->tuple, e, scr, now) < 0) {
		/*
		 * A SNAT flow whose port another live flow holds now (its
		 * reply key was evicted meanwhile): it lost the port.  Its
		 * entry goes, so that its next packet starts over with a
		 * port of its own.
		 */
		tp_ct_del(&p->tuple);
		return tp_drop_report(skb, hook, p, TP_DROP_CT_CLASH);
	}
	tp_ct_account(e, TP_CT_DIR_ORIG, p, skb->len, now);
	if (hook == TP_HOOK_TO_TAILNET && tp_ct_is_masq(e))
		return tp_masq_out(skb, p, e);
	if (tp_ct_is_masq(e))
		return tp_masq_cross_out(skb, p, e);
	if (!(e->flags & TP_CT_F_DNAT)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	return tp_dnat(skb, p, e);
}

/*
 * A DNAT flow's reply leaving to the tailnet: from the frontend of the
 * flow's original tuple @orig, counted for its service @e.
 */
static __always_inline int tp_revnat(struct __sk_buff *skb,
				     const struct tp_pkt *p,
				     const struct tp_ct_key *orig,
				     const struct tp_ct_entry *e)
{
	int ret = tp_nat_rewrite(skb, p, true, &orig->daddr, orig->dport);

	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_TO_TAILNET, p, -ret);
	tp_stat_add(TP_STAT_REVNAT, skb->len);
	tp_stat_add_map(&tp_svc_stats, e->svc_id, skb->len);
	return TC_ACT_OK;
}

/*
 * A reply of live flow @e (original tuple @orig): re-checked when the
 * policy moved, accounted unless another hook of this node already did
 * (@account false), reverse-translated when it leaves to the tailnet.
 */
static __always_inline int tp_flow_reply(struct __sk_buff *skb, int hook,
					 struct tp_pkt *p,
					 const struct tp_ct_key *orig,
					 struct tp_ct_entry *e, __u64 now,
					 bool account)
{
	if (account)
		tp_stat_add(TP_STAT_CT_HIT, skb->len);
	if (!tp_verdict_allows(tp_recheck(skb, hook, p, orig, e)))
		return tp_drop(skb, TP_DROP_POLICY);
	if (account)
		tp_ct_account(e, TP_CT_DIR_REPLY, p, skb->len, now);
	if (hook == TP_HOOK_FROM_TAILNET && tp_ct_is_masq(e))
		return tp_masq_in(skb, p, orig, e);
	/* a masqueraded crossing's reply was restored as it came in */
	if (hook == TP_HOOK_FROM_TAILNET || !(e->flags & TP_CT_F_DNAT) ||
	    tp_ct_is_masq(e)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	return tp_revnat(skb, p, orig, e);
}

/*
 * A flow packet (TCP, UDP, ICMP echo) arriving from the tailnet: its
 * flow's verdict, TP_NEW_FLOW or TP_STATELESS.  @no_entry: the fast path
 * looked its tuple up already and found nothing there.
 */
static __always_inline int tp_ingress_flow(struct __sk_buff *skb,
					   struct tp_pkt *p, bool no_entry)
{
	__u64 now = tp_now();
	struct tp_ct_entry *e;
	struct tp_ct_key orig;

	if (!tp_frag_track(p, now))
		return tp_frag_no_record(skb, TP_HOOK_FROM_TAILNET, p);

	e = no_entry ? NULL : tp_ct_get(&p->tuple);
	if (e && !(e->flags & TP_CT_F_REPLY_KEY) && !tp_ct_expired(e, now)) {
		/*
		 * A flow this side started never sends from the tailnet,
		 * nor is it reopened from there (a SYN on its RESET tuple).
		 */
		if (e->flags & TP_CT_F_EGRESS)
			return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p,
					      TP_DROP_CT_CLASH);
		/* a masqueraded crossing whose address moved starts over */
		if (!tp_ct_reopens(e, p) && !tp_masq_moved(p, e))
			return tp_flow_orig(skb, TP_HOOK_FROM_TAILNET, p, e,
					    now);
	} else {
		/*
		 * No entry under the tuple, and below none whose reply tuple
		 * it is: a new flow's tp_ct_create() need not look again.
		 * Kept in the scratch, not the stack (Linux 6.1's 512 bytes).
		 * A flow it reopens, or an expired one, is looked up there
		 * again (its reply keys go).
		 */
		p->ct_free = !e;
		e = tp_ct_reply_of(&p->tuple, e, now, &orig);
		/*
		 * An echo request is no reply, though with id 0 it carries
		 * the reply tuple of the other side's ping: decided on its
		 * own, nothing kept, the ping left alone.
		 */
		if (e && tp_ct_is_echo_request(p))
			return TP_STATELESS;
		if (e && tp_ct_replies_from_tailnet(e, p->tuple.zone))
			return tp_flow_reply(skb, TP_HOOK_FROM_TAILNET, p,
					     &orig, e, now, true);
		/*
		 * The reply tuple of a live flow whose replies never come
		 * from here (a peer whose allowed IPs cover a backend, a
		 * host of another zone): not that flow's, and not free.
		 */
		if (e)
			return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p,
					      TP_DROP_CT_CLASH);
		/* nothing, an expired flow or a stale reply key: free */
	}

	if (!tp_ct_starts_flow(p))
		return TP_STATELESS;
	return TP_NEW_FLOW;
}

/*
 * The flow an ICMP error is about, its quote looked up in @zone.  The
 * quote is a packet that went the other way: a reply (its reverse is a
 * flow's original tuple) or an original-direction packet of a flow (its
 * reverse is that flow's reply tuple).  @quote_is_reply says which.
 */
static __always_inline struct tp_ct_entry *
tp_icmp_error_flow(const struct tp_pkt *p, __u16 zone, __u64 now,
		   struct tp_ct_key *orig, bool *quote_is_reply)
{
	struct tp_ct_key rev;
	struct tp_ct_entry *e;

	tp_ct_reverse(&p->inner.tuple, &rev);
	rev.zone = zone;
	e = tp_ct_get(&rev);
	if (e && !(e->flags & TP_CT_F_REPLY_KEY) && !tp_ct_expired(e, now)) {
		*orig = rev;
		*quote_is_reply = true;
		return e;
	}
	*quote_is_reply = false;
	return tp_ct_reply_of(&rev, e, now, orig);
}

/*
 * Where to look for the flow of an ICMP error.  Coming in: this zone.
 * Going out, forwarded from a tailnet interface: the zone it came in
 * through, where its ingress found the flow.  Going out from this host or
 * the cluster side: this zone, and when nothing is there and this host
 * made the error (forwarding a crossing flow's packet to the other zone's
 * interface, say), the zone the quoted packet was on its way to.
 */
static __always_inline struct tp_ct_entry *
tp_icmp_error_find(struct __sk_buff *skb, int hook, const struct tp_pkt *p,
		   __u16 in_zone, struct tp_ct_key *orig, bool *quote_is_reply)
{
	const struct tp_ct_key *q = &p->inner.tuple;
	__u64 now = tp_now();
	struct tp_scratch *scr;
	struct tp_ct_entry *e;
	__u16 zone;

	if (hook == TP_HOOK_TO_TAILNET && in_zone) {
		e = tp_icmp_error_flow(p, in_zone, now, orig, quote_is_reply);
		if (e || in_zone == p->tuple.zone)
			return e;
		/*
		 * A masqueraded crossing's error, restored whole as it came in
		 * from the zone the flow went to: its quote is the flow's own
		 * in this zone (tp_ct_is_masq_reply()).
		 */
		e = tp_icmp_error_flow(p, p->tuple.zone, now, orig,
				       quote_is_reply);
		return e && tp_ct_is_masq(e) ? e : NULL;
	}
	e = tp_icmp_error_flow(p, p->tuple.zone, now, orig, quote_is_reply);
	if (e || hook == TP_HOOK_FROM_TAILNET || skb->ingress_ifindex)
		return e;
	scr = tp_scratch_get();
	if (!scr)
		return NULL;
	zone = tp_route_zone(skb, p->ipv6, q->proto, &q->saddr, &q->daddr,
			     &scr->fib);
	if (!zone || zone == p->tuple.zone)
		return NULL;
	return tp_icmp_error_flow(p, zone, now, orig, quote_is_reply);
}

/*
 * Is an ICMP error about flow @e (original tuple @orig) really about it?
 * As Linux conntrack requires, it goes to the endpoint that sent the
 * quoted packet.  The quoted packet passed this interface the other way:
 * out to this zone's tailnet for an error coming in, in from it for an
 * error going out.  And the error comes from the quoted packet's path:
 * coming in, from its destination or a router this zone's interface
 * leads to; going out, made by this host (which is on every path), or
 * forwarded from where the quoted packet went: the tailnet zone it left
 * to (the zone guard), or the interface the FIB sends its destination to.
 */
static __always_inline bool
tp_icmp_error_valid(struct __sk_buff *skb, int hook, const struct tp_pkt *p,
		    __u16 in_zone, const struct tp_ct_key *orig,
		    const struct tp_ct_entry *e, bool quote_is_reply)
{
	const struct tp_ct_key *q = &p->inner.tuple;
	bool egress = e->flags & TP_CT_F_EGRESS, ports;
	__u16 zone = p->tuple.zone;
	struct tp_scratch *scr;

	if (!tp_addr_eq(&p->tuple.daddr, &q->saddr))
		return false;
	if (hook == TP_HOOK_TO_TAILNET) {
		__u16 went_to; /* the zone the quoted packet went to (0: cluster side) */

		if (quote_is_reply) {
			/* a reply that came in here: an egress flow's, or a crossing's */
			if (egress ? orig->zone != zone
				   : !e->out_zone || e->out_zone != zone)
				return false;
			went_to = egress ? 0 : orig->zone;
		} else {
			/* a packet of a flow from this zone's tailnet */
			if (egress || orig->zone != zone)
				return false;
			went_to = e->out_zone;
		}
		if (!skb->ingress_ifindex)
			return true; /* this host made it: it is on every path */
		if (in_zone || went_to)
			return in_zone == went_to;
		/*
		 * from the cluster side: the interface the quote's destination
		 * is behind, asked with its ports as tp_reply_path_ok() asks
		 */
		scr = tp_scratch_get();
		ports = q->proto == IPPROTO_TCP || q->proto == IPPROTO_UDP;
		return scr && tp_fib_ifindex(skb, skb->ifindex, p->ipv6,
					     q->proto, ports ? q->sport : 0,
					     ports ? q->dport : 0, &q->saddr,
					     &q->daddr,
					     &scr->fib) == skb->ingress_ifindex;
	}
	if (quote_is_reply ? egress
			   : !egress && !(e->out_zone && e->out_zone == zone))
		return false;
	if (tp_addr_eq(&p->tuple.saddr, &q->daddr))
		return true;
	/*
	 * A router: the zone's interface leads to every peer of the zone, so
	 * the FIB cannot tell the peer that routes the quote's destination
	 * (a subnet router, whose allowed IPs cover it) from a bystander.
	 * The loader gives a peer's addresses the peer's identity (all its
	 * allowed IPs from WireGuard, its TailscaleIPs from Tailscale): a
	 * router on the quoted packet's path has its destination's, and an
	 * error from any other peer is decided on its own.  Compared as
	 * policy takes them: no entry is `tailnet` (a client behind an
	 * untagged Tailscale subnet router has none, the router `tailnet`;
	 * behind a tagged one, a known fault: docs/datapath.md).
	 */
	if (tp_identity_of(zone, &p->tuple.saddr, TP_ID_TAILNET) !=
	    tp_identity_of(zone, &q->daddr, TP_ID_TAILNET))
		return false;
	scr = tp_scratch_get();
	return scr && zone &&
	       tp_route_zone(skb, p->ipv6, p->tuple.proto, &p->tuple.daddr,
			     &p->tuple.saddr, &scr->fib) == zone;
}

/*
 * An ICMP error from the tailnet about a reply of SNAT flow @e, its quoted
 * source translated to the backend already: tp_nat_icmp_error() makes the
 * quoted destination (the client) the node's address and port, and the
 * outer source too when the client sent the error itself (a router's
 * keeps its own); then it leaves like the flow's own packets, forwarded
 * by us, routed from the source it now has.
 */
static __always_inline int tp_snat_icmp_error_out(struct __sk_buff *skb,
						  const struct tp_pkt *p,
						  const struct tp_ct_entry *e)
{
	const struct tp_addr *snat = tp_snat_addr(tp_ct_cfg(), p);
	const struct tp_ct_key *q = &p->inner.tuple;
	const struct tp_addr *saddr, *daddr;
	int ret;

	if (!snat)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p,
				      TP_DROP_NO_SNAT_ADDR);
	ret = tp_nat_icmp_error(skb, p, false, snat, e->snat_port);
	/*
	 * Compared after the rewrite, which leaves the parse as it is:
	 * loaded before it, the four addresses were kept in 16 stack slots
	 * across its helper calls (the ICMP error handler was the deepest
	 * frame of tp_from_tailnet's deepest chain, 512 bytes on Linux 6.1).
	 */
	if (!ret) {
		saddr = tp_addr_eq(&p->tuple.saddr, &q->daddr)
				? snat
				: &p->tuple.saddr;
		daddr = tp_addr_eq(&p->tuple.daddr, &q->saddr)
				? &e->nat_addr
				: &p->tuple.daddr;
		ret = tp_snat_route(skb, p, saddr, daddr);
	}
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p, -ret);
	tp_stat_add(TP_STAT_ICMP_ERR_NAT, skb->len);
	tp_stat_add(TP_STAT_SNAT, skb->len);
	return ret;
}

/*
 * An ICMP error from the tailnet about a packet that left masqueraded
 * (flow @e, original tuple @orig): the quote's source and the outer
 * destination back to the pod's or the client's; a cross-tailnet
 * service's quote is restored whole (its destination back to the VIP,
 * the outer source too when the backend sent it), as its replies are.
 */
static __always_inline int tp_masq_icmp_error_in(struct __sk_buff *skb,
						 const struct tp_pkt *p,
						 const struct tp_ct_key *orig,
						 const struct tp_ct_entry *e)
{
	int ret = tp_masq_icmp_error(skb, p, true, &orig->saddr, orig->sport);

	if (!ret && (e->flags & TP_CT_F_DNAT))
		ret = tp_nat_icmp_error(skb, p, false, &orig->daddr,
					orig->dport);
	return ret;
}

/*
 * An ICMP error leaving to the tailnet about a reply of masqueraded flow
 * @e (from the pod, a router behind the node, or this host forwarding a
 * crossing's reply): the quote's destination becomes the flow's address
 * and port, the outer source that address.  1: none to use (untranslated).
 */
static __always_inline int
tp_masq_icmp_error_reply(struct __sk_buff *skb, const struct tp_pkt *p,
			 const struct tp_ct_key *orig,
			 const struct tp_ct_entry *e)
{
	const struct tp_addr *addr = tp_ct_flow_snat_addr(orig, e);

	int ret = 0;

	if (!addr)
		return 1;
	/* an egress service's reply was quoted from the VIP: the backend's */
	if ((e->flags & (TP_CT_F_DNAT | TP_CT_F_EGRESS)) ==
	    (TP_CT_F_DNAT | TP_CT_F_EGRESS))
		ret = tp_nat_icmp_error(skb, p, true, &e->nat_addr,
					e->nat_port);
	return ret ?: tp_masq_icmp_error(skb, p, false, addr, e->snat_port);
}

/*
 * An ICMP error from the client of masqueraded crossing @e about one of
 * its replies (quoted VIP or peer -> client): the quote is made what the
 * zone it crossed to sent (from the backend for a service, to the node's
 * address and port), the outer source the node's address there, the
 * outer destination the backend when it was the VIP; then forwarded as
 * the flow's packets are.
 */
static __always_inline int tp_masq_cross_icmp_out(struct __sk_buff *skb,
						  const struct tp_pkt *p,
						  const struct tp_ct_entry *e)
{
	const struct tp_addr *addr = tp_ct_flow_snat_addr(&p->tuple, e);
	const struct tp_ct_key *q = &p->inner.tuple;
	bool dnat = e->flags & TP_CT_F_DNAT;
	const struct tp_addr *daddr = &p->tuple.daddr;
	int ret = 0;

	if (!addr)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p,
				      TP_DROP_NO_SNAT_ADDR);
	if (dnat) {
		if (tp_addr_eq(&p->tuple.daddr, &q->saddr))
			daddr = &e->nat_addr;
		ret = tp_nat_icmp_error(skb, p, true, &e->nat_addr,
					e->nat_port);
	}
	if (!ret)
		ret = tp_masq_icmp_error(skb, p, false, addr, e->snat_port);
	if (!ret)
		ret = tp_masq_route(skb, p, addr, daddr, e->out_zone);
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_TAILNET, p, -ret);
	tp_stat_add(TP_STAT_ICMP_ERR_NAT, skb->len);
	return ret;
}

/*
 * An error leaving through this zone's interface, forwarded from @in_zone:
 * one tp_masq_cross_icmp_out() translated and forwarded (its quote is a
 * reply of a masqueraded crossing from @in_zone into this zone, by that
 * flow's reply key)?  @orig: scratch.
 */
static __always_inline bool tp_masq_cross_error_fwd(const struct tp_pkt *p,
						    __u16 in_zone,
						    struct tp_ct_key *orig)
{
	struct tp_ct_entry *f =
		tp_ct_snat_flow_of(&p->inner.tuple, tp_now(), orig);

	return f && tp_masq_crossed(f, orig, in_zone, p->tuple.zone);
}

/*
 * An ICMP error about a packet of a flow: related traffic, passed when the
 * flow is allowed.  When the flow is DNATed the quote is made to show
 * what the receiver sent or got: from the tailnet, a reply quoted as from
 * the VIP becomes from the backend; to the tailnet, a packet quoted as to
 * the backend becomes to the VIP.  An error that is about no flow, or
 * fails tp_icmp_error_valid(), is decided on its own; one forwarded from
 * another tailnet zone is dropped.
 */
static __always_inline int tp_icmp_error(struct __sk_buff *skb, int hook,
					 struct tp_pkt *p)
{
	__u16 in_zone = hook == TP_HOOK_TO_TAILNET
				? tp_zone_of_ifindex(skb->ingress_ifindex)
				: 0;
	struct tp_ct_key orig;
	struct tp_ct_entry *e;
	bool quote_is_reply;
	int ret = 0;

	e = tp_icmp_error_find(skb, hook, p, in_zone, &orig, &quote_is_reply);
	if (!e || !tp_icmp_error_valid(skb, hook, p, in_zone, &orig, e,
				       quote_is_reply)) {
		if (in_zone && in_zone != p->tuple.zone &&
		    tp_masq_cross_error_fwd(p, in_zone, &orig)) {
			tp_stat_add(TP_STAT_PASS, skb->len);
			return TC_ACT_OK;
		}
		if (in_zone && in_zone != p->tuple.zone)
			return tp_drop_report(skb, hook, p, TP_DROP_ZONE);
		if (in_zone) {
			/* a hairpin, decided at its ingress */
			tp_stat_add(TP_STAT_OTHER_PROTO, skb->len);
			return TC_ACT_OK;
		}
		return tp_decide_alone(skb, hook, p, TP_STAT_OTHER_PROTO);
	}
	if (!tp_verdict_allows(tp_recheck(skb, hook, p, &orig, e)))
		return tp_drop(skb, TP_DROP_POLICY);
	if (tp_ct_is_masq(e)) {
		/*
		 * From the tailnet about a packet that left masqueraded: the
		 * quote's source back to the pod; from the pod about a reply:
		 * the quote's destination to the node's address and port.
		 */
		if (hook == TP_HOOK_FROM_TAILNET && !quote_is_reply)
			ret = tp_masq_icmp_error_in(skb, p, &orig, e);
		else if (hook == TP_HOOK_TO_TAILNET && quote_is_reply)
			ret = tp_masq_icmp_error_reply(skb, p, &orig, e);
		else if (hook == TP_HOOK_FROM_TAILNET &&
			 !(e->flags & TP_CT_F_EGRESS)) /* from the client */
			return tp_masq_cross_icmp_out(skb, p, e);
		else
			ret = 1;
	} else if (!(e->flags & TP_CT_F_DNAT)) {
		ret = 1; /* untranslated */
	} else if (hook == TP_HOOK_FROM_TAILNET && quote_is_reply) {
		ret = tp_nat_icmp_error(skb, p, true, &e->nat_addr,
					e->nat_port);
		if (!ret && (e->flags & TP_CT_F_SNAT))
			return tp_snat_icmp_error_out(skb, p, e);
	} else if (hook == TP_HOOK_TO_TAILNET && !quote_is_reply) {
		ret = tp_nat_icmp_error(skb, p, false, &orig.daddr, orig.dport);
	} else {
		ret = 1; /* about a packet that was not translated */
	}
	if (ret < 0)
		return tp_drop_report(skb, hook, p, -ret);
	tp_stat_add(ret ? TP_STAT_PASS : TP_STAT_ICMP_ERR_NAT, skb->len);
	return TC_ACT_OK;
}

/* tp_icmp_error() for each hook: global functions, verified once each. */
__noinline int tp_icmp_error_in(struct __sk_buff *skb)
{
	struct tp_pkt *p = tp_pkt_cur();

	if (!p)
		return tp_drop(skb, TP_DROP_INTERNAL);
	return tp_icmp_error(skb, TP_HOOK_FROM_TAILNET, p);
}

__noinline int tp_icmp_error_out(struct __sk_buff *skb)
{
	struct tp_pkt *p = tp_pkt_cur();

	if (!p)
		return tp_drop(skb, TP_DROP_INTERNAL);
	return tp_icmp_error(skb, TP_HOOK_TO_TAILNET, p);
}

/* IPv6 control traffic that policy never blocks: MLD (v1, v2) and ND. */
static __always_inline bool tp_is_ipv6_control(const struct tp_pkt *p)
{
	return p->ipv6 && p->tuple.proto == IPPROTO_ICMPV6 &&
	       ((p->icmp_type >= 130 && p->icmp_type <= 137) ||
		p->icmp_type == 143);
}

static __always_inline int tp_other(struct __sk_buff *skb, int hook,
				    struct tp_pkt *p)
{
	/*
	 * ND and MLD always pass; so does what is forwarded from another
	 * tailnet interface: its ingress decided it, a zone crossing by a
	 * rule naming both identities.
	 */
	if (tp_is_ipv6_control(p) ||
	    (hook == TP_HOOK_TO_TAILNET &&
	     tp_zone_of_ifindex(skb->ingress_ifindex))) {
		tp_stat_add(TP_STAT_OTHER_PROTO, skb->len);
		return TC_ACT_OK;
	}
	return tp_stateless(skb, hook, TP_STAT_OTHER_PROTO);
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
	/* a masqueraded crossing's packet, tp_from_tailnet forwarded it */
	rev.zone = p->tuple.zone;
	f = tp_ct_snat_flow_of(&rev, now, &orig);
	if (f && tp_masq_crossed(f, &orig, in_zone, rev.zone)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	return tp_drop_report(skb, TP_HOOK_TO_TAILNET, p, TP_DROP_ZONE);
}

/*
 * An egress service: a VIP whose backend is a tailnet address, its route
 * pointing at the backend's tailnet interface (docs/datapath.md).  A
 * packet to it leaving here starts a DNAT flow to the chosen backend.
 * Return: 1 (a service's, @e has the backend), 0, or a negative drop
 * reason (no active backend).
 */
static __always_inline int tp_egress_service(struct __sk_buff *skb,
					     const struct tp_pkt *p, __u64 now,
					     struct tp_scratch *scr)
{
	struct tp_svc *svc = tp_lb_lookup(&p->tuple);
	struct tp_ct_entry *e = &scr->flow;
	struct tp_backend *be;
	__u32 backend_id = 0;

	if (!svc)
		return 0;
	/*
	 * Only a VIP routed into this interface is an egress service: a
	 * tailnet service's VIP that leaves here otherwise (this host's own
	 * packet to it, say) is no flow to translate.
	 */
	if (tp_route_ifindex(skb, p->ipv6, p->tuple.proto, &p->tuple.saddr,
			     &p->tuple.daddr, &scr->fib) != skb->ifindex)
		return 0;
	be = tp_lb_select(svc, &p->tuple, now, &backend_id);
	if (!be)
		return -TP_DROP_NO_BACKEND;
	e->flags |= TP_CT_F_DNAT;
	e->svc_id = svc->id;
	e->backend_id = backend_id;
	e->nat_addr = be->addr;
	e->nat_port =
		p->tuple.proto == IPPROTO_TCP || p->tuple.proto == IPPROTO_UDP
			? be->port
			: p->tuple.dport;
	return 1;
}

/*
 * Is new egress flow @e masqueraded (tp_masq_want())?  An egress
 * service's always is, this host's own from the zone's address too: its
 * replies come from the backend to the address and port it left with, and
 * are restored here whole (from the VIP); without masquerade on the zone
 * it is dropped, TP_DROP_NO_SNAT_ADDR.  Its address is tp_masq's, read on
 * each packet (abi.h): nat_addr holds the backend.
 * Return: 1, 0, or a negative drop reason.
 */
static __always_inline int tp_egress_masq(const struct tp_pkt *p,
					  struct tp_ct_entry *e)
{
	bool dnat = e->flags & TP_CT_F_DNAT;
	struct tp_addr addr;
	int masq = tp_masq_want(p, &addr);

	if (dnat && !masq)
		masq = tp_masq_own(p, &addr) ? 1 : -TP_DROP_NO_SNAT_ADDR;
	if (masq <= 0)
		return masq;
	e->flags |= TP_CT_F_SNAT | TP_CT_F_MASQ;
	if (!dnat)
		e->nat_addr = addr;
	return 1;
}

/* A new flow from this host or the cluster side to the tailnet. */
__noinline int tp_egress_new(struct __sk_buff *skb)
{
	struct tp_scratch *scr = tp_scratch_get();
	struct tp_policy_query q = {};
	struct tp_decision d = {};
	__u8 origin = tp_egress_origin(skb);
	__u32 rev = tp_policy_rev();
	__u64 now = tp_now();
	struct tp_pkt *p;
	int masq, ret;

	if (!scr)
		return tp_drop(skb, TP_DROP_INTERNAL);
	p = &scr->pkt;
	__builtin_memset(&scr->flow, 0, sizeof(scr->flow));
	scr->flow.flags = TP_CT_F_EGRESS | origin;
	ret = tp_egress_service(skb, p, now, scr);
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_TO_TAILNET, p, -ret);
	tp_query_egress_of(&p->tuple, origin, &q);
	tp_query_egress_dnat(&scr->flow, &q);
	tp_policy_decide(&q, &d);
	tp_policy_count(&d, skb->len);
	tp_event_flow(skb, TP_HOOK_TO_TAILNET, &p->tuple, &q, &d,
		      scr->flow.svc_id,
		      ret ? &scr->flow.nat_addr : &p->tuple.daddr,
		      ret ? scr->flow.nat_port : p->tuple.dport);
	if (d.verdict == TP_VERDICT_DENY)
		return tp_drop(skb, d.reason);
	/* decided on the pod's own tuple above; now its address and port */
	masq = tp_egress_masq(p, &scr->flow);
	if (masq < 0)
		return tp_drop_report(skb, TP_HOOK_TO_TAILNET, p, -masq);
	/* masquerade: takes a port */
	ret = tp_flow_commit(skb, p, now, scr, &q, &d, rev);
	/*
	 * This host's own flow from the zone's address whose reply tuple is
	 * taken (a masqueraded flow holds its port or echo id: ping ids are
	 * no reserved ports): remapped to a port of the range, its replies
	 * restored to it (tp_masq_own()).  No port, or its own tuple a live
	 * flow's reply: untracked, as any clash leaving to the tailnet.
	 */
	if (!masq && ret == -TP_DROP_CT_CLASH &&
	    tp_masq_own(p, &scr->flow.nat_addr)) {
		scr->flow.flags |= TP_CT_F_SNAT | TP_CT_F_MASQ;
		ret = tp_ct_create(&p->tuple, now, 0);
		if (!ret)
			ret = tp_ct_snat_reserve(&p->tuple, now);
		if (!ret) {
			tp_stat_add(TP_STAT_CT_NEW, skb->len);
			return tp_masq_out(skb, p, &scr->flow);
		}
	}
	/*
	 * A masqueraded flow without its port and reply key is no packet:
	 * its replies could not be restored, and the pod's own address is
	 * no source the peer accepts from this node.
	 */
	if (masq && ret < 0)
		return tp_drop_report(skb, TP_HOOK_TO_TAILNET, p, -ret);
	if (masq)
		return tp_masq_out(skb, p, &scr->flow);
	/*
	 * A tuple whose reverse is a live flow's (say, a packet from the VIP
	 * of a flow from the tailnet) is not a flow of its own: it passes
	 * as decided, untracked, and the live flow stays intact.
	 */
	tp_stat_add(TP_STAT_PASS, skb->len);
	return TC_ACT_OK;
}

/*
 * A reply from the cluster side of a flow from the tailnet that came in
 * through an uplink: only if its source is routed there (strict reverse
 * path, rp_filter 1).  The FIB, asked as the flow's own packets ask it
 * (from the client, on this tailnet interface), must send them out
 * through that uplink.  Without it a host on an uplink's segment that
 * guesses a client port could forge the reply of an on-node pod (or of
 * the node's other networks): it would be the flow's, reset it or inject
 * into it.  Off-node backends' replies come through the uplink their
 * address is routed to and pass; with several uplinks and asymmetric
 * routes, as under rp_filter 1, only the routed one is accepted.  Unlike
 * rp_filter 1, which accepts any nexthop device of a multipath route,
 * only the ECMP leg the FIB picks for the flow is (a known fault:
 * tests/test_attacks_ct.c, test_fault_rpf_ecmp_reply_on_other_leg).
 * The lookup carries the flow's ports (TCP, UDP), so ip rules that
 * select by port route it as they route the flow's packets.  Pod
 * interfaces are left to the CNI's own anti-spoofing (a pod's source is
 * its own there), this host's replies (no ingress interface) pass.
 * SNAT replies are checked in tp_from_uplink (tp_snat_path_ok()).
 */
static __always_inline bool
tp_reply_path_ok(struct __sk_buff *skb, const struct tp_pkt *p, __u32 in_flags)
{
	__u32 in = skb->ingress_ifindex;
	struct tp_scratch *scr;
	bool ports;

	if (!(in_flags & TP_IFACE_F_UPLINK))
		return true;
	scr = tp_scratch_get();
	/* the flow's packets' ports too: ip rules may select by port */
	ports = p->tuple.proto == IPPROTO_TCP || p->tuple.proto == IPPROTO_UDP;
	return scr &&
	       tp_fib_ifindex(skb, skb->ifindex, p->ipv6, p->tuple.proto,
			      ports ? p->tuple.dport : 0,
			      ports ? p->tuple.sport : 0, &p->tuple.daddr,
			      &p->tuple.saddr, &scr->fib) == in;
}

/*
 * The tp_ifaces flags of the interface a packet leaving to the tailnet
 * came in through (0: this host's own, or an interface tailplane does not
 * know), and its zone in @zone (0 unless a tailnet interface's).  One
 * lookup, its fields copied: every check of the packet sees one entry.
 */
static __always_inline __u32 tp_ingress_iface(struct __sk_buff *skb,
					      __u16 *zone)
{
	struct tp_iface ifc = tp_iface_get(skb->ingress_ifindex);

	*zone = ifc.flags & TP_IFACE_F_TAILNET ? ifc.zone : 0;
	return ifc.flags;
}

/*
 * A flow packet leaving to the tailnet: its flow's verdict, TP_NEW_FLOW or
 * TP_STATELESS.
 */
static __always_inline int tp_egress_flow(struct __sk_buff *skb,
					  struct tp_pkt *p)
{
	__u16 in_zone;
	__u32 in_flags = tp_ingress_iface(skb, &in_zone);
	__u64 now = tp_now();
	struct tp_ct_entry *e, *cur;
	struct tp_ct_key orig;
	bool reply;

	/* a first fragment's record is written below, after the path check */
	if (p->frag != TP_FRAG_FIRST && !tp_frag_track(p, now)) {
		/* no flow of the zone it came from leads here: the zone guard */
		if (in_zone && in_zone != p->tuple.zone)
			return tp_drop_report(skb, TP_HOOK_TO_TAILNET, p,
					      TP_DROP_ZONE);
		return tp_frag_no_record(skb, TP_HOOK_TO_TAILNET, p);
	}

	/*
	 * A reply of a flow from this zone's tailnet, coming from where the
	 * flow went (the cluster side, or the tailnet zone it crossed to,
	 * whose ingress has accounted it already).
	 */
	e = NULL;
	/* the packet's own entry, looked up once for both questions */
	cur = tp_ct_get(&p->tuple);
	/* an echo request is no reply (tp_ct_is_echo_request()) */
	if (!tp_ct_is_echo_request(p))
		e = tp_ct_reply_of(&p->tuple, cur, now, &orig);
	reply = e && !(e->flags & TP_CT_F_EGRESS) &&
		orig.zone == p->tuple.zone && in_zone == e->out_zone;
	if (reply && !in_zone && !tp_reply_path_ok(skb, p, in_flags))
		return tp_drop_report(skb, TP_HOOK_TO_TAILNET, p,
				      TP_DROP_REVERSE_PATH);
	/*
	 * Recorded only when its source is routed where it came from (a
	 * reply that passed, or anything else that passes the same path
	 * check): a first fragment forged on an uplink with a pod's source
	 * would overwrite the pod's record, and the pod's later fragments
	 * would take its ports.
	 */
	if (p->frag == TP_FRAG_FIRST &&
	    (reply || tp_reply_path_ok(skb, p, in_flags)))
		tp_frag_track(p, now);
	if (reply)
		return tp_flow_reply(skb, TP_HOOK_TO_TAILNET, p, &orig, e, now,
				     !in_zone);

	if (in_zone)
		return tp_egress_forwarded(skb, p, in_zone, now);

	/* a flow this host or the cluster side started */
	e = cur;
	if (e && !(e->flags & TP_CT_F_REPLY_KEY) && !tp_ct_expired(e, now)) {
		/* a flow from the tailnet never sends from this side, nor reopens */
		if (!(e->flags & TP_CT_F_EGRESS))
			return TP_STATELESS;
		/* a masqueraded flow whose zone's address moved starts over */
		if (!tp_ct_reopens(e, p) && !tp_masq_moved(p, e))
			return tp_flow_orig(skb, TP_HOOK_TO_TAILNET, p, e, now);
	}
	if (!tp_ct_starts_flow(p))
		return TP_STATELESS;
	return TP_NEW_FLOW;
}

/* ---- tp_from_uplink: replies of SNAT flows ------------------------------ */

/*
 * The SNAT flow whose reply tuple @rkey is (zone 0), if a live one is
 * (tp_ct_snat_flow_of()).  Anything else is not ours.
 */
static __always_inline struct tp_ct_entry *
tp_uplink_flow_of(const struct tp_ct_key *rkey, __u64 now,
		  struct tp_ct_key *orig)
{
	return tp_ct_snat_flow_of(rkey, now, orig);
}

/*
 * A SNAT flow's reply, or an error about its packets, that came in
 * through uplink skb->ifindex with reply tuple @rkey: only if the FIB
 * sends the flow's packets out through that uplink, asked as
 * tp_snat_route() asks it for them (node -> backend, no ports, from the
 * flow's tailnet interface).  The strict reverse path of
 * tp_reply_path_ok(), which these replies never meet: tp_to_tailnet
 * passes them on their mark.
 */
static __always_inline bool tp_snat_path_ok(struct __sk_buff *skb,
					    const struct tp_pkt *p,
					    const struct tp_ct_key *rkey,
					    const struct tp_ct_entry *e)
{
	struct tp_scratch *scr = tp_scratch_get();

	return scr && tp_fib_ifindex(skb, e->ifindex, p->ipv6, rkey->proto, 0,
				     0, &rkey->daddr, &rkey->saddr,
				     &scr->fib) == skb->ifindex;
}

/* Hand a restored packet of flow @e to its tailnet interface. */
static __always_inline int tp_uplink_redirect(struct __sk_buff *skb,
					      const struct tp_ct_entry *e)
{
	/*
	 * A priority tag (VLAN 0, the only one tp_from_uplink takes) is
	 * no part of the packet: left in the skb, the tailnet device would
	 * write it into the IP header.
	 */
	if (skb->vlan_present && bpf_skb_vlan_pop(skb))
		return tp_drop(skb, TP_DROP_REWRITE_FAIL);
	tp_stat_add(TP_STAT_REVSNAT, skb->len);
	tp_stat_add_map(&tp_svc_stats, e->svc_id, skb->len);
	skb->tc_index |=
		TP_TC_INDEX_F_REVSNAT; /* tp_to_tailnet: decided here */
	return bpf_redirect(e->ifindex, 0);
}

/*
 * A reply too big for the tailnet interface: dropped and counted
 * (TP_DROP_FRAG_NEEDED), and turned into the ICMP error the kernel would
 * send its sender as a router (tp_snat_too_big()) where one is due.
 */
static __always_inline int tp_uplink_too_big(struct __sk_buff *skb,
					     const struct tp_pkt *p, __u32 mtu)
{
	int ret;

	tp_drop_report(skb, TP_HOOK_FROM_UPLINK, p, TP_DROP_FRAG_NEEDED);
	/* at most the kernel's rate of errors, whatever the sender's rate */
	if (!tp_bucket_take(TP_BUCKET_ICMP_ERR, tp_now_fine(),
			    TP_ICMP_ERR_PER_SEC, TP_ICMP_ERR_BURST))
		return TC_ACT_SHOT;
	ret = tp_snat_too_big(skb, p, mtu);
	return ret < 0 ? TC_ACT_SHOT : ret;
}

/*
 * A reply of SNAT flow @e (original tuple @orig) on an uplink: re-checked
 * when the policy moved, accounted, restored to VIP -> client.
 */
static __always_inline int tp_uplink_reply(struct __sk_buff *skb,
					   struct tp_pkt *p,
					   const struct tp_ct_key *orig,
					   struct tp_ct_entry *e, __u64 now)
{
	__u32 mtu;
	long fit;
	int ret;

	tp_stat_add(TP_STAT_CT_HIT, skb->len);
	if (!tp_verdict_allows(
		    tp_recheck(skb, TP_HOOK_FROM_UPLINK, p, orig, e)))
		return tp_drop(skb, TP_DROP_POLICY);
	fit = tp_snat_mtu_check(skb, p, e->ifindex, &mtu);
	if (fit < 0) /* the flow's tailnet interface is gone */
		return tp_drop_report(skb, TP_HOOK_FROM_UPLINK, p,
				      TP_DROP_NO_ROUTE);
	if (!tp_snat_path_ok(skb, p, &p->tuple, e))
		return tp_drop_report(skb, TP_HOOK_FROM_UPLINK, p,
				      TP_DROP_REVERSE_PATH);
	if (fit)
		return tp_uplink_too_big(skb, p, mtu);
	/* forwarded by us, not the kernel: a router's TTL (after the MTU
	 * check, as ip_forward(), so an error quotes the reply as it came) */
	ret = tp_snat_ttl_dec(skb, p);
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_UPLINK, p, -ret);
	tp_ct_account(e, TP_CT_DIR_REPLY, p, skb->len, now);
	/*
	 * Through the helpers only: a direct write anywhere in
	 * tp_from_uplink would make the verifier begin it by uncloning every
	 * cloned skb the uplink brings in (a tap's, a bridge's), ours or not.
	 */
	ret = tp_snat_rewrite(skb, p, true, &orig->daddr, orig->dport, false);
	if (!ret)
		ret = tp_snat_rewrite(skb, p, false, &orig->saddr, orig->sport,
				      false);
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_UPLINK, p, -ret);
	return tp_uplink_redirect(skb, e);
}

/* A flow packet on an uplink: a SNAT flow's reply, or none of ours. */
static __always_inline int tp_uplink_flow(struct __sk_buff *skb,
					  struct tp_pkt *p)
{
	__u64 now = tp_now();
	struct tp_ct_entry *e;
	struct tp_ct_key orig;

	/* a later fragment has a record only if its first fragment was ours */
	if (p->frag == TP_FRAG_LATER && !tp_frag_track(p, now))
		return TC_ACT_OK;
	e = tp_uplink_flow_of(&p->tuple, now, &orig);
	if (!e)
		return TC_ACT_OK;
	/* not for a first fragment forged on another uplink (tp_egress_flow()) */
	if (p->frag == TP_FRAG_FIRST && tp_snat_path_ok(skb, p, &p->tuple, e))
		tp_frag_track(p, now);
	return tp_uplink_reply(skb, p, &orig, e, now);
}

/*
 * An ICMP error on an uplink about a packet of a SNAT flow (quoted as
 * node:port -> backend), sent to the node: the quote is restored to
 * client -> VIP, the outer destination to the client, the outer source to
 * the VIP when the backend itself sent it (a router keeps its address).
 */
static __always_inline int tp_uplink_icmp_error(struct __sk_buff *skb,
						struct tp_pkt *p)
{
	struct tp_ct_key rkey, orig;
	struct tp_ct_entry *e;
	int ret;

	tp_ct_reverse(&p->inner.tuple, &rkey);
	rkey.zone = 0;
	e = tp_uplink_flow_of(&rkey, tp_now(), &orig);
	if (!e || !tp_addr_eq(&p->tuple.daddr, &p->inner.tuple.saddr))
		return TC_ACT_OK;
	if (!tp_snat_path_ok(skb, p, &rkey, e))
		return tp_drop_report(skb, TP_HOOK_FROM_UPLINK, p,
				      TP_DROP_REVERSE_PATH);
	if (!tp_verdict_allows(
		    tp_recheck(skb, TP_HOOK_FROM_UPLINK, p, &orig, e)))
		return tp_drop(skb, TP_DROP_POLICY);
	ret = tp_snat_ttl_dec(skb, p); /* forwarded by us, as a reply is */
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_UPLINK, p, -ret);
	ret = tp_nat_icmp_error(skb, p, true, &orig.saddr, orig.sport);
	if (!ret)
		ret = tp_nat_icmp_error(skb, p, false, &orig.daddr, orig.dport);
	if (ret < 0)
		return tp_drop_report(skb, TP_HOOK_FROM_UPLINK, p, -ret);
	tp_stat_add(TP_STAT_ICMP_ERR_NAT, skb->len);
	return tp_uplink_redirect(skb, e);
}

/*
 * A tag still in an Ethernet frame (802.1Q or 802.1ad) that is not IP:
 * the kernel took out the outer tag before TC ingress, so one here
 * follows a priority tag (VLAN 0, skb->vlan_tci), which the kernel takes
 * off after this hook before it hands the frame to the inner tag's VLAN
 * device; going out, a frame a raw socket sent tagged.  Either way a
 * VLAN's frame on a tailnet interface (tp_handle()).
 */
static __always_inline bool tp_vlan_in_frame(struct __sk_buff *skb)
{
	__be16 proto;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)))
		return false;
	return proto == bpf_htons(ETH_P_8021Q) ||
	       proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Hand a parsed packet that is no flow packet (tp_parse() said @ret) to
 * its kind's handler.
 */
static __always_inline int tp_handle_kind(struct __sk_buff *skb, int hook,
					  struct tp_pkt *p, int ret)
{
	switch (ret) {
	case TP_PARSE_ICMP_ERR:
		return hook == TP_HOOK_FROM_TAILNET ? tp_icmp_error_in(skb)
						    : tp_icmp_error_out(skb);
	case TP_PARSE_NOT_IP:
		if (tp_vlan_in_frame(skb))
			return tp_drop(skb, TP_DROP_VLAN);
		tp_stat_add(TP_STAT_NOT_IP, skb->len);
		return TC_ACT_OK;
	case TP_PARSE_OTHER:
		return tp_other(skb, hook, p);
	}
	return tp_drop_report(skb, hook, p, -ret);
}

/*
 * Static 1:1 NAT at the tailnet edge (lib/static_nat.h), as global
 * functions: their rewrites' frames are not the programs' own, which the
 * global handlers' frames add to (Linux 6.1: 512 bytes in all).  Called
 * only when some static NAT entry exists (tp_static_nat_none()).
 */
__noinline int tp_static_nat_from_tailnet(struct __sk_buff *skb, int kind)
{
	struct tp_pkt *p = tp_pkt_cur();

	return p ? tp_static_nat_in(skb, p, kind) : -TP_DROP_INTERNAL;
}

__noinline int tp_static_nat_to_tailnet(struct __sk_buff *skb, int kind)
{
	struct tp_pkt *p = tp_pkt_cur();

	return p ? tp_static_nat_out(skb, p, kind) : -TP_DROP_INTERNAL;
}

/*
 * What tp_ingress_pkt() and tp_egress_pkt() return for a packet that is
 * no flow packet: its parse result is in the scratch (tp_parsed()), for
 * the program to hand it to its kind's handler.  No TC verdict has this
 * value, nor has TP_NEW_FLOW or TP_STATELESS.
 */
#define TP_NOT_FLOW 0x101

/* The parse result tp_ingress_pkt() or tp_egress_pkt() left. */
static __always_inline int tp_parsed(void)
{
	struct tp_scratch *scr = tp_scratch_get();

	return scr ? scr->parsed : -TP_DROP_INTERNAL;
}

/*
 * What tp_fast_ingress() returns for a packet it leaves to the full path:
 * any, or one whose tuple has no conntrack entry (a new flow's first
 * packet: the full path need not look again).  No TC verdict has these
 * values.
 */
#define TP_FAST_MISS	 0x103
#define TP_FAST_NO_ENTRY 0x104

/*
 * tp_fast_ingress() and tp_fast_egress() on (always, in production) or
 * off: the packet tests load the object both ways and compare what each
 * leaves (tests/test_fast_path.c).
 */
const volatile __u32 fast_path = 1;

/*
 * The rest of the fast paths' parse: the ports of TCP or UDP header @th
 * (protocol @proto, at @l4_off) behind the IP header at @off, the
 * datagram ending at @end, and what the flow's stages read of it.
 */
static __always_inline void tp_fast_fill(struct tp_pkt *p, __u32 off,
					 __u32 l4_off, __u32 end, __u8 proto,
					 const struct tcphdr *th)
{
	p->tuple.sport = th->source;
	p->tuple.dport = th->dest;
	p->tuple.proto = proto;
	p->l3_off = off;
	p->l4_off = l4_off;
	p->end = end;
	p->frag = TP_FRAG_NONE;
	p->tcp_flags = proto == IPPROTO_TCP ? ((__u8 *)th)[13] : 0;
}

/*
 * The L4 header's length when @proto is TCP or UDP and @plen bytes of
 * datagram after the IP header hold it (a TCP data offset of at least 5);
 * 0 when the fast paths leave the packet to the full path.
 */
static __always_inline __u32 tp_fast_l4_len(__u8 proto, __u32 plen,
					    const struct tcphdr *th)
{
	__u32 l4_len;

	if (proto == IPPROTO_TCP)
		l4_len = sizeof(struct tcphdr);
	else if (proto == IPPROTO_UDP)
		l4_len = sizeof(struct udphdr);
	else
		return 0;
	if (plen < l4_len || (proto == IPPROTO_TCP && th->doff < 5))
		return 0;
	return l4_len;
}

/*
 * An IPv4 datagram at @off: no options, no fragment, its length field
 * within the packet.
 */
static __always_inline bool tp_fast_parse_v4(struct __sk_buff *skb, __u32 off,
					     struct tp_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + off;
	struct tcphdr *th = (void *)(ip + 1);
	__u32 tot;

	if ((void *)(th + 1) > data_end)
		return false;
	/* version 4, IHL 5 */
	if (*(__u8 *)ip != 0x45 ||
	    (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return false;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < sizeof(*ip) || off + tot > skb->len ||
	    !tp_fast_l4_len(ip->protocol, tot - sizeof(*ip), th))
		return false;
	__builtin_memset(&p->tuple, 0, sizeof(p->tuple));
	tp_addr_set_v4(&p->tuple.saddr, ip->saddr);
	tp_addr_set_v4(&p->tuple.daddr, ip->daddr);
	p->ipv6 = false;
	tp_fast_fill(p, off, off + sizeof(*ip), off + tot, ip->protocol, th);
	return true;
}

/*
 * An IPv6 datagram at @off: TCP or UDP right after the fixed header (no
 * extension header, so no fragment), a payload length (not a jumbogram)
 * within the packet, neither address of the IPv4-mapped or -compatible
 * form, which the full parse drops (tp_addr_v4_embedded()).
 */
static __always_inline bool tp_fast_parse_v6(struct __sk_buff *skb, __u32 off,
					     struct tp_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + off;
	struct tcphdr *th = (void *)(ip6 + 1);
	__u32 plen, i;

	if ((void *)(th + 1) > data_end)
		return false;
	if ((*(__u8 *)ip6 >> 4) != 6)
		return false;
	plen = bpf_ntohs(ip6->payload_len);
	if (off + sizeof(*ip6) + plen > skb->len ||
	    !tp_fast_l4_len(ip6->nexthdr, plen, th))
		return false;
	__builtin_memset(&p->tuple, 0, sizeof(p->tuple));
#pragma unroll
	for (i = 0; i < 4; i++) {
		p->tuple.saddr.w[i] = ip6->saddr.in6_u.u6_addr32[i];
		p->tuple.daddr.w[i] = ip6->daddr.in6_u.u6_addr32[i];
	}
	if (tp_addr_v4_embedded(&p->tuple.saddr) ||
	    tp_addr_v4_embedded(&p->tuple.daddr))
		return false;
	p->ipv6 = true;
	tp_fast_fill(p, off, off + sizeof(*ip6), off + sizeof(*ip6) + plen,
		     ip6->nexthdr, th);
	return true;
}

/*
 * The IPv4 or IPv6 TCP or UDP header of a packet the fast paths take,
 * behind an Ethernet header unless @l3 (where the version nibble tells
 * the family), the L4 header whole in the linear data and in the
 * datagram: tp_fast_parse_v4() and tp_fast_parse_v6() say what else.
 * Fills the parse's tuple (zone 0) and what the flow's stages read of
 * it; false when the packet is any other kind.
 */
static __always_inline bool tp_fast_parse(struct __sk_buff *skb, bool l3,
					  struct tp_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	bool v6;

	if (l3) {
		if (data + 1 > data_end)
			return false;
		v6 = (*(__u8 *)data >> 4) == 6;
		return v6 ? tp_fast_parse_v6(skb, 0, p)
			  : tp_fast_parse_v4(skb, 0, p);
	}
	if ((void *)(eth + 1) > data_end)
		return false;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return tp_fast_parse_v4(skb, ETH_HLEN, p);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return tp_fast_parse_v6(skb, ETH_HLEN, p);
	return false;
}

/*
 * tp_from_tailnet's fast path: a packet in the original direction of a
 * live flow from the tailnet with nothing to do but count it and
 * translate its destination (an established DNAT or untranslated flow,
 * TCP or UDP without IP options or IPv6 extension headers, no static NAT
 * configured, its policy decision current, its reply keys checked this
 * second), handled before the parse is zeroed, without the general
 * parser, the fragment and static NAT stages or the flow handler.
 * Whatever else (a verdict to drop, a re-check, a SNAT or masqueraded
 * flow, a reopened tuple) is left to the full path, which starts over:
 * nothing is written before the packet is known to be one.
 * Return: the verdict, TP_FAST_MISS or TP_FAST_NO_ENTRY.
 */
static __always_inline int tp_fast_ingress(struct __sk_buff *skb,
					   struct tp_scratch *scr)
{
	struct tp_ct_entry *e;
	struct tp_iface ifc;
	struct tp_pkt *p;
	__u64 now;

	if (!tp_static_nat_none())
		return TP_FAST_MISS;
	ifc = tp_iface_get(skb->ifindex);
	p = &scr->pkt;
	if (!tp_fast_parse(skb, ifc.flags & TP_IFACE_F_L3, p))
		return TP_FAST_MISS;
	p->tuple.zone = ifc.zone;
	e = tp_ct_get(&p->tuple);
	if (!e)
		return TP_FAST_NO_ENTRY;
	if (e->flags &
	    (TP_CT_F_REPLY_KEY | TP_CT_F_EGRESS | TP_CT_F_SNAT | TP_CT_F_MASQ))
		return TP_FAST_MISS;
	now = tp_now();
	if (tp_ct_expired(e, now) || tp_ct_reopens(e, p) ||
	    e->policy_rev != tp_policy_rev() ||
	    !tp_verdict_allows(e->verdict) ||
	    tp_ct_reply_keys_due(&p->tuple, e, now))
		return TP_FAST_MISS;
	tp_stat_add(TP_STAT_CT_HIT, skb->len);
	tp_ct_account(e, TP_CT_DIR_ORIG, p, skb->len, now);
	if (!(e->flags & TP_CT_F_DNAT)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	/* no SNAT (above): the rewrite and its counters */
	return tp_dnat(skb, p, e);
}

/*
 * tp_to_tailnet's fast path: the reply of a live flow from this zone's
 * tailnet with nothing to do but count it and translate its source back,
 * handled before the parse is zeroed, without the general parser, the
 * fragment stage or the flow handler.  In scope: what tp_fast_parse()
 * takes, no static NAT configured, from the cluster side or this host (not
 * from an uplink, where tp_reply_path_ok() asks the FIB, nor forwarded
 * from a tailnet interface), of an untranslated or DNAT flow that neither
 * crosses zones nor has SNAT, masquerade or a reply key, whose policy
 * decision is current.  It looks up what the full path looks up (the
 * packet's own tuple, which a reply leaves empty, the reversed tuple, an
 * untranslated flow's, then a DNAT flow's candidates through its backend's
 * frontends), less the full path's second lookup of the owner (a global
 * function returns no pointer).  Whatever else is left to the full path,
 * which starts over: nothing is written before the packet is known to be
 * one.
 * Return: the verdict or TP_FAST_MISS.
 */
static __always_inline int
tp_fast_egress(struct __sk_buff *skb, struct tp_scratch *scr, int static_nat)
{
	const __u32 not_flags = TP_CT_F_REPLY_KEY | TP_CT_F_EGRESS |
				TP_CT_F_SNAT | TP_CT_F_MASQ;
	struct tp_ct_key *orig = &scr->riorig;
	struct tp_pkt *p = &scr->pkt;
	struct tp_iface ifc, in;
	struct tp_ct_entry *e;
	__u64 now;

	if (static_nat)
		return TP_FAST_MISS;
	in = tp_iface_get(skb->ingress_ifindex);
	if (in.flags & (TP_IFACE_F_TAILNET | TP_IFACE_F_UPLINK))
		return TP_FAST_MISS;
	ifc = tp_iface_get(skb->ifindex);
	if (!tp_fast_parse(skb, ifc.flags & TP_IFACE_F_L3, p))
		return TP_FAST_MISS;
	p->tuple.zone = ifc.zone;
	if (tp_ct_get(&p->tuple))
		return TP_FAST_MISS;
	now = tp_now();
	tp_ct_reverse(&p->tuple, orig);
	e = tp_ct_get(orig);
	if (!e || (e->flags & TP_CT_F_REPLY_KEY) || tp_ct_expired(e, now) ||
	    !tp_ct_is_reply_key(e, orig, &p->tuple))
		e = tp_ct_rindex_find(scr, &p->tuple, now, false);
	if (!e || (e->flags & not_flags) || e->out_zone ||
	    orig->zone != p->tuple.zone || e->policy_rev != tp_policy_rev() ||
	    !tp_verdict_allows(e->verdict))
		return TP_FAST_MISS;
	tp_stat_add(TP_STAT_CT_HIT, skb->len);
	tp_ct_account(e, TP_CT_DIR_REPLY, p, skb->len, now);
	if (!(e->flags & TP_CT_F_DNAT)) {
		tp_stat_add(TP_STAT_PASS, skb->len);
		return TC_ACT_OK;
	}
	return tp_revnat(skb, p, orig, e);
}

/*
 * The first call of tp_from_tailnet: the fast path (tp_fast_ingress()),
 * else the parse into the scratch (zeroed here, not before the fast path,
 * which needs none of it), static 1:1 NAT, and a flow packet's flow
 * handler, in one global function: an established flow's packet makes
 * one call, not one for the parse and one for its flow (each costs 15-20
 * ns where returns go through thunks).  Its frame, the parse's headers
 * and the flow handler's locals, is not the program's, which the frames
 * of the handlers the program calls add to (Linux 6.1: 512 bytes in all).
 * Return: the flow's verdict, TP_NEW_FLOW, TP_STATELESS or TP_NOT_FLOW.
 */
__noinline int tp_ingress_pkt(struct __sk_buff *skb)
{
	struct tp_scratch *scr = tp_scratch_get();
	bool no_entry;
	int ret, nat;

	if (!scr)
		return tp_drop(skb, TP_DROP_INTERNAL);
	ret = fast_path ? tp_fast_ingress(skb, scr) : TP_FAST_MISS;
	if (ret != TP_FAST_MISS && ret != TP_FAST_NO_ENTRY)
		return ret;
	/*
	 * The parse below gives the tuple the fast path looked up: static
	 * NAT, which could change it, sends the fast path away before that,
	 * and when userspace configured it since, the tuple is looked up
	 * again.
	 */
	no_entry = ret == TP_FAST_NO_ENTRY;
	__builtin_memset(&scr->pkt, 0, sizeof(scr->pkt));
	ret = tp_parse_skb(skb, &scr->pkt);
	scr->parsed = ret;
	if (!tp_static_nat_none()) {
		no_entry = false;
		nat = tp_static_nat_from_tailnet(skb, ret);
		if (nat < 0)
			return tp_drop_report(skb, TP_HOOK_FROM_TAILNET,
					      &scr->pkt, -nat);
	}
	if (ret != TP_PARSE_FLOW)
		return TP_NOT_FLOW;
	return tp_ingress_flow(skb, &scr->pkt, no_entry);
}

/*
 * tp_ingress_pkt() for tp_to_tailnet, whose static NAT comes last, with
 * its own fast path (tp_fast_egress()).  @static_nat: static NAT is
 * configured (the program read it once for this packet: tp_handle()).
 */
__noinline int tp_egress_pkt(struct __sk_buff *skb, int static_nat)
{
	struct tp_scratch *scr = tp_scratch_get();
	int ret;

	if (!scr)
		return tp_drop(skb, TP_DROP_INTERNAL);
	ret = fast_path ? tp_fast_egress(skb, scr, static_nat) : TP_FAST_MISS;
	if (ret != TP_FAST_MISS)
		return ret;
	__builtin_memset(&scr->pkt, 0, sizeof(scr->pkt));
	ret = tp_parse_skb(skb, &scr->pkt);
	scr->parsed = ret;
	if (ret != TP_PARSE_FLOW)
		return TP_NOT_FLOW;
	return tp_egress_flow(skb, &scr->pkt);
}

/*
 * Both programs: count, parse, hand the packet to its flow's handler or
 * its kind's, with static 1:1 NAT at the tailnet edge.
 */
static __always_inline int tp_handle(struct __sk_buff *skb, int hook)
{
	/* zeroed after the fast paths: tp_ingress_pkt(), tp_egress_pkt() */
	struct tp_pkt *p = tp_pkt_cur();
	bool static_nat = false;
	int verdict, nat;

	tp_stat_add(hook == TP_HOOK_FROM_TAILNET ? TP_STAT_RX_TAILNET
						 : TP_STAT_TX_TAILNET,
		    skb->len);
	if (!p)
		return tp_drop(skb, TP_DROP_INTERNAL);
	/*
	 * A tailnet interface carries no VLAN.  The kernel (or the NIC)
	 * takes an 802.1Q tag out of the frame before TC ingress and a VLAN
	 * device's frames keep theirs there until they leave: a frame of a
	 * VLAN stacked on an Ethernet tailnet interface would cross the
	 * policy boundary to or from that VLAN's device, which no policy
	 * here describes.  A priority tag (VLAN 0) is the interface's own
	 * traffic.  Not reported: nothing of the packet is parsed.
	 */
	if (skb->vlan_present && (skb->vlan_tci & TP_VLAN_VID_MASK))
		return tp_drop(skb, TP_DROP_VLAN);
	if (hook == TP_HOOK_FROM_TAILNET) {
		verdict = tp_ingress_pkt(skb);
		if (verdict == TP_NEW_FLOW)
			verdict = tp_ingress_new(skb);
	} else {
		/*
		 * Read once for the fast path and the static NAT step alike:
		 * configured in between, the step would take the fast path's
		 * packet, which it leaves unparsed.
		 */
		static_nat = !tp_static_nat_none();
		verdict = tp_egress_pkt(skb, static_nat);
		if (verdict == TP_NEW_FLOW)
			verdict = tp_egress_new(skb);
	}
	if (verdict == TP_STATELESS)
		verdict = tp_stateless(skb, hook, TP_STAT_PASS);
	else if (verdict == TP_NOT_FLOW)
		verdict = tp_handle_kind(skb, hook, p, tp_parsed());
	if (hook == TP_HOOK_TO_TAILNET && verdict == TC_ACT_OK && static_nat) {
		nat = tp_static_nat_to_tailnet(skb, tp_parsed());
		if (nat < 0)
			return tp_drop_report(skb, hook, p, -nat);
	}
	return verdict;
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

/*
 * Replies of SNAT flows: everything the uplinks bring in passes this,
 * so what is not ours costs a parse and one lookup.
 */
SEC("tc")
int tp_from_uplink(struct __sk_buff *skb)
{
	struct tp_pkt *p = tp_pkt_get();

	/*
	 * The mark is ours to set (tp_revsnat_marked()), never the
	 * sender's.  A verdict to pass makes tc_classid the tc_index (tcx:
	 * all of it, from whatever skb->cb brought, a veth peer's tc
	 * program included; clsact: its low 16 bits): it must not bring the
	 * mark back, and keeps the other bits as they were.
	 */
	skb->tc_index &= ~TP_TC_INDEX_F_REVSNAT;
	skb->tc_classid = skb->tc_index;
	tp_stat_add(TP_STAT_RX_UPLINK, skb->len);
	/*
	 * A frame of a VLAN: the kernel (or the NIC) took its 802.1Q tag out
	 * before this hook and hands it to that VLAN's device next, or
	 * drops it (no such device): not this uplink's traffic, whatever
	 * its addresses say.  A priority tag (VLAN 0) is this uplink's.
	 */
	if (!p || (skb->vlan_present && (skb->vlan_tci & TP_VLAN_VID_MASK)))
		return TC_ACT_OK;
	switch (tp_parse_skb(skb, p)) {
	case TP_PARSE_FLOW:
		p->tuple.zone =
			0; /* the cluster side, whatever the entry says */
		return tp_uplink_flow(skb, p);
	case TP_PARSE_ICMP_ERR:
		p->tuple.zone = 0;
		return tp_uplink_icmp_error(skb, p);
	}
	return TC_ACT_OK; /* not ours to judge: the kernel does */
}

/*
 * Did tp_from_uplink restore and redirect this packet (and clear the
 * mark)?  Anyone upstream can set skb->tc_index: a tc program of a pod or
 * of a veth uplink's peer (on clsact its tc_classid becomes the
 * tc_index), which veth and forwarding keep.  tp_from_uplink clears the
 * mark on every packet of the uplinks and sets it only on the replies it
 * redirects, so only a marked packet that came in through an uplink is
 * one of those; any other is judged as if unmarked.
 */
static __always_inline bool tp_revsnat_marked(struct __sk_buff *skb)
{
	if (!(skb->tc_index & TP_TC_INDEX_F_REVSNAT))
		return false;
	skb->tc_index &= ~TP_TC_INDEX_F_REVSNAT;
	return tp_iface_get(skb->ingress_ifindex).flags & TP_IFACE_F_UPLINK;
}

SEC("tc")
int tp_to_tailnet(struct __sk_buff *skb)
{
	/* a reply tp_from_uplink restored, decided and accounted there */
	if (tp_revsnat_marked(skb)) {
		tp_stat_add(TP_STAT_TX_TAILNET, skb->len);
		return TC_ACT_OK;
	}
	return tp_handle(skb, TP_HOOK_TO_TAILNET);
}

/*
 * tp_xdp_guard (XDP of each uplink, before the stack): drop list, then a
 * per-source token bucket for WireGuard handshakes to the guarded ports
 * (bpf/lib/guard.h).  It shares only tp_stats and its own maps with the
 * programs above.
 */
#include "lib/guard.h"

SEC("xdp")
int tp_xdp_guard(struct xdp_md *ctx)
{
	return tp_guard(ctx);
}
