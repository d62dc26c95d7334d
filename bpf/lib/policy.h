/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Stateful identity policy.
 *
 * A decision is made once per flow, from (source identity, destination
 * identity, zone, protocol, destination port), and kept in conntrack.
 * tp_policy is an LPM trie per (src, dst, zone) over protocol and port, so
 * port ranges cost no more than single ports.  Up to eight groups hold
 * every candidate: source named or any, destination named or any, the
 * flow's zone (only when it has rules of its own) or any zone.
 *
 * The trie gets deeper as it fills (every group shares it), so a decision
 * first looks each group up in tp_rule_index (a hash, TP_RIDX_GROUP): a
 * group without rules costs one hash lookup, not a trie walk, and a group
 * of one rule is decided from that rule (tp_rules, a hash) without the
 * trie.  Only groups of several rules walk the trie, once each.
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

/* 1 + the index of @x's highest set bit; 0 for 0.  Unrolled, no branch. */
static __always_inline __u32 tp_fls32(__u32 x)
{
	__u32 n = 0, shift, step;

#pragma unroll
	for (shift = 16; shift; shift >>= 1) {
		step = (x >= (1u << shift)) * shift;
		x >>= step;
		n += step;
	}
	return n + (x > 0);
}

/*
 * The l4_plen of the tp_policy entry of a port range rule [@lo, @hi] that
 * holds @port, or -1 when none does.  lib/policy.c covers a range with
 * maximal aligned blocks (tp_port_blocks()); the one holding @port is the
 * largest aligned block around it that fits in the range.  A block of
 * 2^s ports around @port starts at or after @lo while @port >> s differs
 * from (@lo - 1) >> s, and ends at or before @hi while it differs from
 * (@hi + 1) >> s: s is below the highest bit of either xor.
 */
static __always_inline int tp_range_l4_plen(__u16 lo, __u16 hi, __u16 port)
{
	__u32 s = 16, s_lo, s_hi;

	if (port < lo || port > hi)
		return -1;
	s_lo = tp_fls32(port ^ ((__u32)lo - 1)) - 1;
	s_hi = tp_fls32(port ^ ((__u32)hi + 1)) - 1;
	if (s_lo < s)
		s = s_lo;
	if (s_hi < s)
		s = s_hi;
	return TP_POLICY_PLEN_PORT(16 - s) - TP_POLICY_PLEN_ANY_PROTO;
}

/*
 * The tp_policy entry rule @r alone would give @q in its group, as the
 * trie would return it: false when none of its entries matches.
 */
static __always_inline bool tp_rule_entry(const struct tp_rule *r,
					  const struct tp_policy_query *q,
					  struct tp_policy_val *v)
{
	__u16 hi = r->port_hi ? r->port_hi : r->port_lo;
	int l4_plen;

	/* as lib/policy.c's tp_group_add_rule(), normalized or not */
	if (!r->proto)
		l4_plen = 0;
	else if (r->proto != q->proto)
		return false;
	else if (!r->port_lo && (!r->port_hi || r->port_hi == 0xffff))
		l4_plen = TP_POLICY_PLEN_ANY_PORT - TP_POLICY_PLEN_ANY_PROTO;
	else
		l4_plen = tp_range_l4_plen(r->port_lo, hi, bpf_ntohs(q->dport));
	if (l4_plen < 0)
		return false;
	v->rule_id = 0;
	v->verdict = r->verdict;
	v->l4_plen = l4_plen;
	return true;
}

/**
 * tp_group_entry() - the entry of group (@k's src, dst, zone) that @k's
 * protocol and port match, as the trie would return it.
 * @k: the trie key of the query in that group.
 * @q: the query.
 * @v: the entry, when there is one.
 *
 * See the top of this file: a group without rules costs one hash lookup,
 * a group of one rule two, others the trie walk.  A function of its own
 * so that the verifier checks it once, not in each of the eight groups.
 *
 * Return: 1 with @v set, 0 when the group has no such entry.
 */
__noinline int tp_group_entry(const struct tp_policy_key *k,
			      const struct tp_policy_query *q,
			      struct tp_policy_val *v)
{
	struct tp_rule_index_key gk = { .kind = TP_RIDX_GROUP };
	const struct tp_policy_val *e;
	struct tp_rule_index_val *g;
	struct tp_policy_key key;
	struct tp_rule *r;
	__u32 rule_id;

	if (!k || !q || !v)
		return 0; /* a global function's pointers may be NULL to the verifier */
	/*
	 * Older verifiers (Debian's 6.1) refuse a map key in a global
	 * function's argument memory (stack, map value or packet only):
	 * look the trie up with a copy on this function's stack.
	 */
	key = *k;
	gk.zone = k->zone;
	gk.src_id = k->src_id;
	gk.dst_id = k->dst_id;
	g = bpf_map_lookup_elem(&tp_rule_index, &gk);
	if (!g)
		return 0;
	rule_id = g->rule_id;
	r = g->n == 1 && rule_id ? bpf_map_lookup_elem(&tp_rules, &rule_id)
				 : NULL;
	/* several rules, or one a killed writer left half indexed: the trie */
	if (!r || r->src_id != k->src_id || r->dst_id != k->dst_id ||
	    r->zone != k->zone) {
		e = bpf_map_lookup_elem(&tp_policy, &key);
		if (!e)
			return 0;
		*v = *e;
		return 1;
	}
	if (!tp_rule_entry(r, q, v))
		return 0;
	v->rule_id = rule_id;
	return 1;
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
	struct tp_policy_val v;
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
			if (!tp_group_entry(&k, q, &v))
				continue;
			/* identities named, then l4 bits, then own zone */
			score = ((2 - (i == 3 ? 2
				       : i    ? 1
					      : 0))
					 << 8 |
				 (__u32)v.l4_plen << 1 | (z == 0)) +
				1;
			if (score > best ||
			    (score == best &&
			     (tp_verdict_rank(v.verdict) >
				      tp_verdict_rank(d->verdict) ||
			      (v.verdict == d->verdict &&
			       v.rule_id < d->rule_id)))) {
				best = score;
				d->rule_id = v.rule_id;
				d->verdict = v.verdict;
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
