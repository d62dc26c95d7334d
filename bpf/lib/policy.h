/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Stateful identity policy.
 *
 * A decision is made once per flow, from (source identity, destination
 * identity, zone, protocol, destination port), and kept in conntrack.
 * tp_policy is an LPM trie per (src, dst, zone) over protocol and port, so
 * port ranges cost no more than single ports.  Up to eight lookups find
 * every candidate: source named or any, destination named or any, the
 * flow's zone (only when it has rules of its own) or any zone.
 *
 * Specificity, compared in this order: how many identities the rule names
 * (2, 1, 0); how many protocol/port bits it fixes (l4_plen); a rule for
 * the flow's zone over one for any zone.  At equal specificity deny beats
 * audit beats allow, and among equal verdicts the lower rule id is the one
 * reported.  No match: the zone's default (allow when the zone
 * has no entry).
 *
 * Zone crossing (the flow enters from one tailnet zone and leaves to
 * another): only a rule naming both identities may allow it.
 */
#ifndef TP_BPF_POLICY_H
#define TP_BPF_POLICY_H

#include "maps.h"
#include "stats.h"

/**
 * struct tp_decision - a policy decision.
 * @rule_id: deciding rule, 0 for the zone default.
 * @verdict: enum tp_verdict (never NONE).
 * @reason:  the drop reason when denied (policy or zone).
 */
struct tp_decision {
	__u32 rule_id;
	__u8 verdict;
	__u8 reason;
};

/**
 * struct tp_policy_query - what a decision is made from.
 * @src_id:   source identity.
 * @dst_id:   destination identity.
 * @zone:     zone of the flow.
 * @out_zone: zone it leaves to, 0 if none.
 * @proto:    IP protocol.
 * @dport:    destination port after translation (0 for non-port protocols).
 */
struct tp_policy_query {
	__u32 src_id;
	__u32 dst_id;
	__u16 zone;
	__u16 out_zone;
	__u8 proto;
	__be16 dport;
};

static __always_inline int tp_verdict_rank(__u8 verdict)
{
	return verdict == TP_VERDICT_DENY    ? 3
	       : verdict == TP_VERDICT_AUDIT ? 2
					     : 1;
}

static __always_inline bool tp_verdict_allows(__u8 verdict)
{
	return verdict == TP_VERDICT_ALLOW || verdict == TP_VERDICT_AUDIT;
}

static __always_inline bool tp_zone_crossing(const struct tp_policy_query *q)
{
	return q->zone && q->out_zone && q->zone != q->out_zone;
}

/**
 * tp_policy_decide() - decide a flow.
 * @q: the query.
 * @d: the decision.
 */
__noinline int tp_policy_decide(const struct tp_policy_query *q,
				struct tp_decision *d)
{
	struct tp_policy_key k = {};
	struct tp_policy_val *v;
	struct tp_zone *zone = NULL;
	__u32 zone_key, score, best = 0;
	bool crossing;
	int z, i;

	if (!q || !d)
		return 0; /* a global function's pointers may be NULL to the verifier */
	crossing = tp_zone_crossing(q);
	zone_key = q->zone;
	if (zone_key)
		zone = bpf_map_lookup_elem(&tp_zones, &zone_key);
	d->rule_id = 0;
	d->verdict = TP_VERDICT_NONE;

	k.prefixlen = TP_POLICY_PLEN_PORT(16);
	k.proto = q->proto;
	k.dport = q->dport;
#pragma unroll
	for (z = 0; z < 2; z++) {
		if (z == 0 && !(zone && (zone->flags & TP_ZONE_F_RULES)))
			continue;
		k.zone = z == 0 ? q->zone : TP_POLICY_ANY_ZONE;
#pragma unroll
		for (i = 0; i < 4; i++) {
			k.src_id = (i & 2) ? TP_POLICY_ANY_ID : q->src_id;
			k.dst_id = (i & 1) ? TP_POLICY_ANY_ID : q->dst_id;
			if (crossing && i)
				break; /* crossing needs both identities named */
			v = bpf_map_lookup_elem(&tp_policy, &k);
			if (!v)
				continue;
			/* identities named, then l4 bits, then own zone */
			score = ((2 - (i == 3 ? 2
				       : i    ? 1
					      : 0))
					 << 8 |
				 (__u32)v->l4_plen << 1 | (z == 0)) +
				1;
			if (score > best ||
			    (score == best &&
			     (tp_verdict_rank(v->verdict) >
				      tp_verdict_rank(d->verdict) ||
			      (v->verdict == d->verdict &&
			       v->rule_id < d->rule_id)))) {
				best = score;
				d->rule_id = v->rule_id;
				d->verdict = v->verdict;
			}
		}
	}
	if (crossing) {
		if (!tp_verdict_allows(d->verdict)) {
			d->verdict = TP_VERDICT_DENY;
			d->reason = TP_DROP_ZONE;
		}
		return 0;
	}
	if (d->verdict == TP_VERDICT_NONE)
		d->verdict = zone && zone->default_verdict == TP_VERDICT_DENY
				     ? TP_VERDICT_DENY
				     : TP_VERDICT_ALLOW;
	d->reason = d->verdict == TP_VERDICT_DENY ? TP_DROP_POLICY : 0;
	return 0;
}

/* Count a decision: per verdict and per rule. */
static __always_inline void tp_policy_count(const struct tp_decision *d,
					    __u32 bytes)
{
	__u32 id = d->verdict == TP_VERDICT_DENY    ? TP_STAT_VERDICT_DENY
		   : d->verdict == TP_VERDICT_AUDIT ? TP_STAT_VERDICT_AUDIT
						    : TP_STAT_VERDICT_ALLOW;

	tp_stat_add(id, bytes);
	tp_stat_add_map(&tp_rule_stats, d->rule_id, bytes);
}

/* The current policy revision. */
static __always_inline __u32 tp_policy_rev(void)
{
	__u32 zero = 0;
	struct tp_config *cfg = bpf_map_lookup_elem(&tp_config, &zero);

	return cfg ? cfg->policy_rev : 0;
}

/* Is a zone default-deny?  (Later fragments of unknown flows.) */
static __always_inline bool tp_zone_denies(__u16 zone)
{
	__u32 key = zone;
	struct tp_zone *z = bpf_map_lookup_elem(&tp_zones, &key);

	return z && z->default_verdict == TP_VERDICT_DENY;
}

#endif /* TP_BPF_POLICY_H */
