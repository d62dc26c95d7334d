// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Deriving tp_policy from tp_rules.
 *
 * A rule (src, dst, zone, proto, ports, verdict) becomes LPM entries in
 * its (src, dst, zone) group: one for any protocol, one for a protocol
 * with any port, or one per maximal aligned block of its port range.
 * Rules of a group that produce the same entry are merged: deny beats
 * audit beats allow, then the lower rule id.  After any change the group
 * is rewritten (new and changed entries first, stale ones last), the
 * zone's has-rules flag is refreshed and the policy revision bumped.
 *
 * Scale: a write never walks tp_rules or tp_policy.  tp_rule_index (abi.h)
 * finds a rule by its match, a group's rules through its slots, and a
 * zone's rule count; the entries a group produced before a change are
 * derived from its rules and the rule as it was, not read back from the
 * trie.  A write costs O(rules of its group), the same with 10 or 100,000
 * rules in other groups.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "array.h"
#include "idalloc.h"
#include "identity.h"
#include "policy.h"

/**
 * tp_port_blocks() - cover [@lo, @hi] with maximal aligned blocks.
 * @lo:  first port.
 * @hi:  last port (>= @lo).
 * @out: the blocks, in ascending order.
 * @cap: room in @out (32 is always enough).
 *
 * Return: the number of blocks.
 */
size_t tp_port_blocks(__u16 lo, __u16 hi, struct tp_port_block *out, size_t cap)
{
	__u32 cur = lo, end = (__u32)hi + 1, size;
	size_t n = 0;
	int free_bits;

	while (cur < end && n < cap) {
		for (free_bits = 16; free_bits > 0; free_bits--) {
			size = 1u << free_bits;
			if (!(cur & (size - 1)) && cur + size <= end)
				break;
		}
		out[n].port = cur;
		out[n].bits = 16 - free_bits;
		n++;
		cur += 1u << free_bits;
	}
	return n;
}

static bool tp_rule_any_port(const struct tp_rule *r)
{
	return r->port_lo == 0 && (r->port_hi == 0 || r->port_hi == 0xffff);
}

/**
 * tp_rule_validate() - is @r a rule the datapath can hold?
 *
 * Return: 0 or -EINVAL.
 */
int tp_rule_validate(const struct tp_rule *r)
{
	if (r->verdict < TP_VERDICT_ALLOW || r->verdict > TP_VERDICT_AUDIT)
		return -EINVAL;
	if (r->port_hi && r->port_lo > r->port_hi)
		return -EINVAL;
	if (!tp_rule_any_port(r) && r->proto != IPPROTO_TCP &&
	    r->proto != IPPROTO_UDP)
		return -EINVAL; /* ports only mean something for TCP and UDP */
	if (r->pad[0] || r->pad[1] || r->pad[2])
		return -EINVAL;
	return 0;
}

/** tp_rule_same_match() - do @a and @b match the same traffic? */
bool tp_rule_same_match(const struct tp_rule *a, const struct tp_rule *b)
{
	bool any_a = tp_rule_any_port(a), any_b = tp_rule_any_port(b);

	return a->src_id == b->src_id && a->dst_id == b->dst_id &&
	       a->zone == b->zone && a->proto == b->proto && any_a == any_b &&
	       (any_a || (a->port_lo == b->port_lo &&
			  (a->port_hi ? a->port_hi : a->port_lo) ==
				  (b->port_hi ? b->port_hi : b->port_lo)));
}

/* ---- the writers' index (tp_rule_index, abi.h) --------------------------- */

/* A rule as tp_rules stores it: any port is 0-0, one port is lo-lo. */
static void tp_rule_normalize(struct tp_rule *r)
{
	if (tp_rule_any_port(r)) {
		r->port_lo = 0;
		r->port_hi = 0;
	} else if (!r->port_hi) {
		r->port_hi = r->port_lo;
	}
}

/**
 * tp_rule_match() - what @r matches, as one comparable value.
 * @r:     a rule.
 * @match: @r normalized (any port 0-0, one port lo-lo), verdict, owner
 *         and padding zero: rules matching the same traffic give equal
 *         bytes, so sets of matches can be sorted and searched.
 */
void tp_rule_match(const struct tp_rule *r, struct tp_rule *match)
{
	memset(match, 0, sizeof(*match));
	match->src_id = r->src_id;
	match->dst_id = r->dst_id;
	match->zone = r->zone;
	match->proto = r->proto;
	match->port_lo = r->port_lo;
	match->port_hi = r->port_hi;
	tp_rule_normalize(match);
}

static void tp_ridx_key(struct tp_rule_index_key *k, __u8 kind, __u32 src,
			__u32 dst, __u16 zone)
{
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	k->src_id = src;
	k->dst_id = dst;
	k->zone = zone;
}

/* The MATCH key of normalized rule @r. */
static void tp_ridx_match_key(struct tp_rule_index_key *k,
			      const struct tp_rule *r)
{
	tp_ridx_key(k, TP_RIDX_MATCH, r->src_id, r->dst_id, r->zone);
	k->proto = r->proto;
	k->port_lo = r->port_lo;
	k->port_hi = r->port_hi;
}

static void tp_ridx_slot_key(struct tp_rule_index_key *k,
			     const struct tp_rule *r, __u32 slot)
{
	tp_ridx_key(k, TP_RIDX_SLOT, r->src_id, r->dst_id, r->zone);
	k->slot = slot;
}

static void tp_ridx_group_key(struct tp_rule_index_key *k,
			      const struct tp_rule *r)
{
	tp_ridx_key(k, TP_RIDX_GROUP, r->src_id, r->dst_id, r->zone);
}

static void tp_ridx_zone_key(struct tp_rule_index_key *k, __u16 zone)
{
	tp_ridx_key(k, TP_RIDX_ZONE, 0, 0, zone);
}

/* The SHARED key of tp_policy entry @pk. */
static void tp_ridx_shared_key(struct tp_rule_index_key *k,
			       const struct tp_policy_key *pk)
{
	tp_ridx_key(k, TP_RIDX_SHARED, pk->src_id, pk->dst_id, pk->zone);
	k->proto = pk->proto;
	k->port_lo = ntohs(pk->dport);
	k->slot = pk->prefixlen;
}

/* The count a GROUP, ZONE, TOTAL or SHARED entry holds; 0 when it has none. */
static __u32 tp_ridx_count(const struct tp_maps *m,
			   const struct tp_rule_index_key *k)
{
	struct tp_rule_index_val v;

	return bpf_map_lookup_elem(m->rule_index, k, &v) ? 0 : v.n;
}

static int tp_ridx_put(const struct tp_maps *m,
		       const struct tp_rule_index_key *k, __u32 rule_id,
		       __u32 n)
{
	struct tp_rule_index_val v = { .rule_id = rule_id, .n = n };

	if (bpf_map_update_elem(m->rule_index, k, &v, BPF_ANY))
		return tp_limit_errno(-errno, TP_LIMIT_RULES);
	return 0;
}

/* Set a count; 0 removes the entry, so an empty group or zone costs nothing. */
static int tp_ridx_set_count(const struct tp_maps *m,
			     const struct tp_rule_index_key *k, __u32 n)
{
	if (!n) {
		bpf_map_delete_elem(m->rule_index, k);
		return 0;
	}
	return tp_ridx_put(m, k, 0, n);
}

/*
 * Count a rule into or out of @zone; *@flip says whether the count went
 * from or to zero, when TP_ZONE_F_RULES must follow.  Written first on
 * insert, last on removal: a writer killed in between leaves the count
 * too high, which only costs the datapath a lookup (the flag set without
 * rules), never too low, which would hide the zone's rules.
 */
static int tp_ridx_zone_add(const struct tp_maps *m, __u16 zone, int delta,
			    bool *flip)
{
	struct tp_rule_index_key k;
	__u32 n;

	*flip = false;
	if (!zone)
		return 0; /* zone 0 has no TP_ZONE_F_RULES */
	tp_ridx_zone_key(&k, zone);
	n = tp_ridx_count(m, &k);
	if (delta < 0 && !n) {
		*flip = true; /* nothing counted: let the flag follow the count */
		return 0;
	}
	*flip = delta > 0 ? n == 0 : n == 1;
	return tp_ridx_set_count(m, &k, n + delta);
}

/*
 * Set group @gk (of normalized rule @r) to @n rules.  A group of one
 * names its rule, from slot 0: the datapath then decides the group from
 * that rule without walking tp_policy (bpf/lib/policy.h).
 */
static void tp_ridx_group_set(const struct tp_maps *m, const struct tp_rule *r,
			      const struct tp_rule_index_key *gk, __u32 n)
{
	struct tp_rule_index_key sk;
	struct tp_rule_index_val sv = {};

	if (n != 1) {
		tp_ridx_set_count(m, gk, n);
		return;
	}
	tp_ridx_slot_key(&sk, r, 0);
	bpf_map_lookup_elem(m->rule_index, &sk, &sv);
	tp_ridx_put(m, gk, sv.rule_id, 1);
}

#define TP_RIDX_TOTAL_UNKNOWN ((__u32)-1)

static __u32 tp_ridx_total(const struct tp_maps *m)
{
	struct tp_rule_index_key k;

	tp_ridx_key(&k, TP_RIDX_TOTAL, 0, 0, 0);
	return tp_ridx_count(m, &k);
}

/* @n: the total as the caller just read it, or TP_RIDX_TOTAL_UNKNOWN. */
static void tp_ridx_total_add(const struct tp_maps *m, __u32 n, int delta)
{
	struct tp_rule_index_key k;

	tp_ridx_key(&k, TP_RIDX_TOTAL, 0, 0, 0);
	if (n == TP_RIDX_TOTAL_UNKNOWN)
		n = tp_ridx_count(m, &k);
	/* only a hint (rule ids stay dense): never fails a write */
	if (delta > 0 || n)
		tp_ridx_set_count(m, &k, n + delta);
}

/*
 * Index rule @id (normalized @r, already in tp_rules): zone count, the
 * next slot of its group, its match, the group's count.  All or nothing.
 * @total: the rule count before, or TP_RIDX_TOTAL_UNKNOWN.  *@zone_flip:
 * the first rule of its zone.
 */
static int tp_ridx_insert(const struct tp_maps *m, const struct tp_rule *r,
			  __u32 id, __u32 total, bool *zone_flip)
{
	struct tp_rule_index_key gk, sk, mk;
	struct tp_rule_index_val sv;
	bool undo_flip;
	__u32 n;
	int err;

	tp_ridx_group_key(&gk, r);
	n = tp_ridx_count(m, &gk);
	/*
	 * A writer killed between a slot and the GROUP count left a slot
	 * past the count: count it in rather than take it over, or deleting
	 * its rule later deletes the slot of this one, and the GROUP entry
	 * could name one rule while the group has others (the datapath then
	 * decides the group from that rule alone).
	 */
	for (;;) {
		tp_ridx_slot_key(&sk, r, n);
		if (bpf_map_lookup_elem(m->rule_index, &sk, &sv))
			break;
		n++;
	}
	tp_ridx_match_key(&mk, r);
	err = tp_ridx_zone_add(m, r->zone, 1, zone_flip);
	if (err)
		return err;
	err = tp_ridx_put(m, &sk, id, 0);
	if (!err) {
		err = tp_ridx_put(m, &mk, id, n);
		if (!err) {
			err = tp_ridx_put(m, &gk, n ? 0 : id, n + 1);
			if (!err) {
				tp_ridx_total_add(m, total, 1);
				return 0;
			}
			bpf_map_delete_elem(m->rule_index, &mk);
		}
		bpf_map_delete_elem(m->rule_index, &sk);
	}
	tp_ridx_zone_add(m, r->zone, -1, &undo_flip);
	return err;
}

/*
 * Take normalized rule @r out of the index: the group's last rule moves
 * into its slot.  Only deletes and updates of existing entries: it never
 * needs room, so it does not fail.  *@zone_flip: the last rule of its
 * zone went.
 */
static void tp_ridx_remove(const struct tp_maps *m, const struct tp_rule *r,
			   bool *zone_flip)
{
	struct tp_rule_index_key gk, sk, mk, lk;
	struct tp_rule_index_val mv, lv;
	struct tp_rule last;
	__u32 n;

	tp_ridx_group_key(&gk, r);
	tp_ridx_match_key(&mk, r);
	n = tp_ridx_count(m, &gk);
	/* without its match entry its slot is unknown: it stays, stale and skipped */
	if (!bpf_map_lookup_elem(m->rule_index, &mk, &mv) && mv.n < n) {
		tp_ridx_slot_key(&sk, r, n - 1);
		if (mv.n < n - 1 &&
		    !bpf_map_lookup_elem(m->rule_index, &sk, &lv) &&
		    !bpf_map_lookup_elem(m->rules, &lv.rule_id, &last)) {
			tp_rule_normalize(&last);
			tp_ridx_match_key(&lk, &last);
			tp_ridx_slot_key(&sk, r, mv.n);
			tp_ridx_put(m, &sk, lv.rule_id, 0);
			tp_ridx_put(m, &lk, lv.rule_id, mv.n);
			tp_ridx_slot_key(&sk, r, n - 1);
		}
		bpf_map_delete_elem(m->rule_index, &sk);
		tp_ridx_group_set(m, r, &gk, n - 1);
	}
	bpf_map_delete_elem(m->rule_index, &mk);
	tp_ridx_total_add(m, TP_RIDX_TOTAL_UNKNOWN, -1);
	tp_ridx_zone_add(m, r->zone, -1, zone_flip);
}

/* ---- deriving a group's tp_policy entries --------------------------------- */

struct tp_policy_entry {
	struct tp_policy_key key;
	struct tp_policy_val val;
};

/* Entries of one group, unmerged until tp_group_merge(). */
struct tp_policy_group {
	struct tp_policy_entry *e;
	size_t n, cap;
};

static int tp_verdict_rank(__u8 v)
{
	return v == TP_VERDICT_DENY ? 3 : v == TP_VERDICT_AUDIT ? 2 : 1;
}

static int tp_group_put(struct tp_policy_group *g, const struct tp_rule *r,
			__u32 rule_id, __u32 prefixlen, __u16 port)
{
	struct tp_policy_entry *e;

	if (tp_array_grow((void **)&g->e, &g->cap, g->n + 1, sizeof(*g->e), 64))
		return -ENOMEM;
	e = &g->e[g->n++];
	memset(e, 0, sizeof(*e));
	e->key.prefixlen = prefixlen;
	e->key.src_id = r->src_id;
	e->key.dst_id = r->dst_id;
	e->key.zone = r->zone;
	e->key.proto = prefixlen > TP_POLICY_PLEN_ANY_PROTO ? r->proto : 0;
	e->key.dport = prefixlen > TP_POLICY_PLEN_ANY_PORT ? htons(port) : 0;
	e->val.rule_id = rule_id;
	e->val.verdict = r->verdict;
	e->val.l4_plen = prefixlen - TP_POLICY_PLEN_ANY_PROTO;
	return 0;
}

/* The entries of one rule. */
static int tp_group_add_rule(struct tp_policy_group *g, const struct tp_rule *r,
			     __u32 rule_id)
{
	struct tp_port_block blocks[32];
	size_t i, n;
	int err = 0;

	if (!r->proto)
		return tp_group_put(g, r, rule_id, TP_POLICY_PLEN_ANY_PROTO, 0);
	if (tp_rule_any_port(r))
		return tp_group_put(g, r, rule_id, TP_POLICY_PLEN_ANY_PORT, 0);
	n = tp_port_blocks(r->port_lo, r->port_hi ? r->port_hi : r->port_lo,
			   blocks, 32);
	for (i = 0; i < n && !err; i++)
		err = tp_group_put(g, r, rule_id,
				   TP_POLICY_PLEN_PORT(blocks[i].bits),
				   blocks[i].port);
	return err;
}

/* By key; of equal keys the winner first: deny, audit, allow, lower id. */
static int tp_entry_cmp(const void *pa, const void *pb)
{
	const struct tp_policy_entry *a = pa, *b = pb;
	int c = memcmp(&a->key, &b->key, sizeof(a->key));

	if (c)
		return c;
	c = tp_verdict_rank(b->val.verdict) - tp_verdict_rank(a->val.verdict);
	if (c)
		return c;
	return a->val.rule_id < b->val.rule_id
		       ? -1
		       : a->val.rule_id > b->val.rule_id;
}

/* Sort and keep one entry per key, the winner: O(n log n) in the group. */
static void tp_group_merge(struct tp_policy_group *g)
{
	size_t i, out = 0;

	if (g->n)
		qsort(g->e, g->n, sizeof(*g->e), tp_entry_cmp);
	for (i = 0; i < g->n; i++)
		if (!out || memcmp(&g->e[out - 1].key, &g->e[i].key,
				   sizeof(g->e[i].key)))
			g->e[out++] = g->e[i];
	g->n = out;
}

/**
 * tp_policy_index_rebuild() - build tp_rule_index from tp_rules.
 * @m: maps.
 *
 * For pins from before the index (the loader calls it once, at load) and
 * after anything that wrote tp_rules without it.  Empties the index
 * first.  Walks every rule: O(rules), never on a write path.
 *
 * Return: the number of rules indexed, or -errno (-ENOSPC: the index is
 * smaller than TP_RULE_INDEX_ENTRIES(rules)).
 */
long tp_policy_index_rebuild(const struct tp_maps *m)
{
	struct tp_policy_group all = {};
	__u32 id, nid, *pid = NULL;
	struct tp_rule_index_key k;
	struct tp_rule r;
	size_t i, run;
	bool flip;
	long n = 0;
	int err = 0;

	err = tp_map_empty(m->rule_index, sizeof(struct tp_rule_index_key));
	if (err)
		return err;
	tp_limit_reset();
	while (!err && !bpf_map_get_next_key(m->rules, pid, &nid)) {
		id = nid;
		pid = &id;
		if (bpf_map_lookup_elem(m->rules, &id, &r))
			continue;
		tp_rule_normalize(&r);
		err = tp_ridx_insert(m, &r, id, (__u32)n, &flip);
		if (!err)
			err = tp_group_add_rule(&all, &r, id);
		n++;
	}
	/* entries several rules produce: their SHARED counts */
	if (!err && all.n)
		qsort(all.e, all.n, sizeof(*all.e), tp_entry_cmp);
	for (i = 0; i < all.n && !err; i += run) {
		for (run = 1; i + run < all.n &&
			      !memcmp(&all.e[i].key, &all.e[i + run].key,
				      sizeof(all.e[i].key));
		     run++)
			;
		if (run < 2)
			continue;
		tp_ridx_shared_key(&k, &all.e[i].key);
		err = tp_ridx_put(m, &k, 0, run);
	}
	free(all.e);
	return err ? err : n;
}

/*
 * The entries group (@like's src, dst, zone) produces now (@now), and
 * produced before rule @id changed (@before): the same rules, with @id as
 * @prev (NULL: it did not exist).  The group's rules are read through its
 * slots: O(rules of the group), whatever the total.
 */
static int tp_group_derive(const struct tp_maps *m, const struct tp_rule *like,
			   __u32 id, const struct tp_rule *prev,
			   struct tp_policy_group *now,
			   struct tp_policy_group *before)
{
	struct tp_rule_index_key gk, sk;
	struct tp_rule_index_val v;
	struct tp_rule r;
	__u32 slot, n;
	int err = 0;

	tp_ridx_group_key(&gk, like);
	n = tp_ridx_count(m, &gk);
	for (slot = 0; slot < n && !err; slot++) {
		tp_ridx_slot_key(&sk, like, slot);
		/* tp_rules decides: a slot a killed writer left stale is skipped */
		if (bpf_map_lookup_elem(m->rule_index, &sk, &v) ||
		    bpf_map_lookup_elem(m->rules, &v.rule_id, &r) ||
		    r.src_id != like->src_id || r.dst_id != like->dst_id ||
		    r.zone != like->zone)
			continue;
		err = tp_group_add_rule(now, &r, v.rule_id);
		if (!err && v.rule_id != id)
			err = tp_group_add_rule(before, &r, v.rule_id);
	}
	if (!err && prev)
		err = tp_group_add_rule(before, prev, id);
	tp_group_merge(now);
	tp_group_merge(before);
	return err;
}

/*
 * Is @e in @g (sorted) with the same value?  @pos is where the previous
 * search of ascending keys stopped, so a whole walk is linear.
 */
static bool tp_group_has(const struct tp_policy_group *g, size_t *pos,
			 const struct tp_policy_entry *e, bool same_val)
{
	int c = 1;

	while (*pos < g->n &&
	       (c = memcmp(&g->e[*pos].key, &e->key, sizeof(e->key))) < 0)
		(*pos)++;
	return !c &&
	       (!same_val || !memcmp(&g->e[*pos].val, &e->val, sizeof(e->val)));
}

/*
 * Rewrite the tp_policy entries of @like's group after rule @id changed
 * from @prev (NULL: it is new): write the entries that are new or changed,
 * then delete those the group produced before and no longer does.
 * Written before deleted, so traffic of a changed rule never falls
 * through to a less specific entry in between.
 */
static int tp_policy_sync_group(const struct tp_maps *m,
				const struct tp_rule *like, __u32 id,
				const struct tp_rule *prev)
{
	struct tp_policy_group now = {}, before = {};
	size_t i, pos = 0;
	int err;

	err = tp_group_derive(m, like, id, prev, &now, &before);
	for (i = 0; i < now.n && !err; i++) {
		if (tp_group_has(&before, &pos, &now.e[i], true))
			continue;
		if (bpf_map_update_elem(m->policy, &now.e[i].key, &now.e[i].val,
					BPF_ANY))
			err = tp_limit_errno(-errno, TP_LIMIT_POLICY);
	}
	for (i = 0, pos = 0; i < before.n && !err; i++)
		if (!tp_group_has(&now, &pos, &before.e[i], false))
			bpf_map_delete_elem(m->policy, &before.e[i].key);
	free(now.e);
	free(before.e);
	return err;
}

/* Set or clear TP_ZONE_F_RULES on @zone from its rule count. */
static int tp_zone_refresh(const struct tp_maps *m, __u16 zone)
{
	struct tp_zone z = { .default_verdict = TP_VERDICT_ALLOW };
	struct tp_rule_index_key k;
	__u32 key = zone;
	bool has;

	if (!zone)
		return 0;
	tp_ridx_zone_key(&k, zone);
	has = tp_ridx_count(m, &k) > 0;
	bpf_map_lookup_elem(m->zones, &key, &z);
	if (!!(z.flags & TP_ZONE_F_RULES) == has)
		return 0;
	z.flags ^= TP_ZONE_F_RULES;
	if (bpf_map_update_elem(m->zones, &key, &z, BPF_ANY))
		return -errno;
	return 0;
}

/**
 * tp_policy_rule_find() - the id of the rule matching what @match does.
 *
 * One lookup in tp_rule_index, checked against tp_rules.
 *
 * Return: 0 with *@rule_id set, or -ENOENT.
 */
int tp_policy_rule_find(const struct tp_maps *m, const struct tp_rule *match,
			__u32 *rule_id)
{
	struct tp_rule nr = *match, r;
	struct tp_rule_index_key k;
	struct tp_rule_index_val v;

	tp_rule_normalize(&nr);
	tp_ridx_match_key(&k, &nr);
	if (bpf_map_lookup_elem(m->rule_index, &k, &v) ||
	    bpf_map_lookup_elem(m->rules, &v.rule_id, &r) ||
	    !tp_rule_same_match(&r, &nr))
		return -ENOENT;
	*rule_id = v.rule_id;
	return 0;
}

static int tp_rule_id_used(void *ctx, __u32 id)
{
	const struct tp_maps *m = ctx;
	struct tp_rule r;

	return tp_map_has(m->rules, &id, &r);
}

/* The ids tp_rule_stats holds, which bound rule ids: they index it. */
static __u32 tp_rule_ids_end(const struct tp_maps *m)
{
	__u32 end = tp_stat_ids_end(m->rule_stats);

	return end ? end : TP_MAX_RULES;
}

/*
 * A free rule id below tp_rule_stats' ids, by random probing
 * (lib/idalloc.c).  Probes go first below twice the rules in use (+64),
 * so ids stay as dense as they were with lowest-first allocation while a
 * probe still hits a free id at least half the time.  *@total: the rule
 * count it read.
 */
static int tp_rule_alloc_id(const struct tp_maps *m, __u32 *rule_id,
			    __u32 *total)
{
	__u32 hi = tp_rule_ids_end(m), window;
	int err;

	*total = tp_ridx_total(m);
	window = *total < hi / 2 ? *total * 2 + 64 : hi;
	if (window > hi)
		window = hi;
	err = tp_id_alloc(1, window, tp_rule_id_used, (void *)m, rule_id);
	if (err == -ENOSPC && window < hi)
		err = tp_id_alloc(1, hi, tp_rule_id_used, (void *)m, rule_id);
	if (err == -ENOSPC)
		return tp_limit_hit(TP_LIMIT_RULES);
	return err;
}

/*
 * Derive @r's group after rule @id changed from @prev, then the zone's
 * flag when its rule count went from or to zero (@zone_flip), then the
 * revision.
 */
static int tp_policy_commit(const struct tp_maps *m, const struct tp_rule *r,
			    __u32 id, const struct tp_rule *prev,
			    bool zone_flip)
{
	int err = tp_policy_sync_group(m, r, id, prev);

	if (!err && zone_flip)
		err = tp_zone_refresh(m, r->zone);
	if (!err)
		err = tp_policy_bump_rev(m);
	return err;
}

/*
 * The tp_policy entry at exactly @k: an LPM lookup returns the longest
 * entry no longer than @k's prefix that covers it; its l4_plen says
 * whether that is @k's own.
 */
static bool tp_policy_get_exact(const struct tp_maps *m,
				const struct tp_policy_key *k,
				struct tp_policy_val *v)
{
	return !bpf_map_lookup_elem(m->policy, k, v) &&
	       (__u32)TP_POLICY_PLEN_ANY_PROTO + v->l4_plen == k->prefixlen;
}

/* Does @a win over @b for the same entry: deny, audit, allow, lower id? */
static bool tp_entry_wins(const struct tp_policy_val *a,
			  const struct tp_policy_val *b)
{
	int ra = tp_verdict_rank(a->verdict), rb = tp_verdict_rank(b->verdict);

	return ra > rb || (ra == rb && a->rule_id < b->rule_id);
}

/*
 * Count one more rule producing tp_policy entry @pk, which exists: its
 * SHARED count, absent for one rule, becomes 2 or grows.
 */
static int tp_shared_inc(const struct tp_maps *m,
			 const struct tp_policy_key *pk)
{
	struct tp_rule_index_key k;
	__u32 n;

	tp_ridx_shared_key(&k, pk);
	n = tp_ridx_count(m, &k);
	return tp_ridx_put(m, &k, 0, n ? n + 1 : 2);
}

/*
 * One rule fewer producing @pk.  Return: whether others still do (it
 * had a SHARED count).
 */
static bool tp_shared_dec(const struct tp_maps *m,
			  const struct tp_policy_key *pk)
{
	struct tp_rule_index_key k;
	__u32 n;

	tp_ridx_shared_key(&k, pk);
	n = tp_ridx_count(m, &k);
	if (!n)
		return false;
	tp_ridx_set_count(m, &k, n > 2 ? n - 1 : 0);
	return true;
}

/*
 * Merge the entries of new rule @id into tp_policy.  An entry's value is
 * the winner among the rules of its group producing it, and adding a
 * rule can only make it the new winner: so each entry takes one exact
 * lookup and at most one write, without reading the group's other rules.
 * An entry that existed is now shared: its SHARED count says so, for a
 * delete.
 *
 * All or nothing.  Entries new to the trie are written first, so that a
 * full trie stops the merge before any existing entry changed; taking
 * over existing entries needs no room.  On a failure the new entries are
 * deleted first, which makes room for putting back the ones taken over
 * (kernels before 6.13 refuse even an in-place update of a full trie).
 */
static int tp_policy_merge_new(const struct tp_maps *m, const struct tp_rule *r,
			       __u32 id)
{
	struct tp_policy_group g = {};
	struct tp_policy_val *old = NULL;
	bool *had = NULL, *wrote = NULL, *counted = NULL;
	size_t i;
	int err, pass;

	err = tp_group_add_rule(&g, r, id);
	if (!err && g.n) {
		old = calloc(g.n, sizeof(*old));
		had = calloc(g.n, sizeof(*had));
		wrote = calloc(g.n, sizeof(*wrote));
		counted = calloc(g.n, sizeof(*counted));
		if (!old || !had || !wrote || !counted)
			err = -ENOMEM;
	}
	/* entries new to the trie, in one write each: an existing one says so */
	for (i = 0; i < g.n && !err; i++) {
		if (!bpf_map_update_elem(m->policy, &g.e[i].key, &g.e[i].val,
					 BPF_NOEXIST)) {
			wrote[i] = true;
			continue;
		}
		if (errno != EEXIST) {
			err = tp_limit_errno(-errno, TP_LIMIT_POLICY);
			break;
		}
		had[i] = tp_policy_get_exact(m, &g.e[i].key, &old[i]);
		if (!had[i])
			err = -EIO; /* the trie said it has the entry, then had not */
	}
	/* then the existing ones: shared now, and taken over where it wins */
	for (i = 0; i < g.n && !err; i++) {
		if (!had[i])
			continue;
		err = tp_shared_inc(m, &g.e[i].key);
		counted[i] = !err;
		if (err || !tp_entry_wins(&g.e[i].val, &old[i]))
			continue;
		if (bpf_map_update_elem(m->policy, &g.e[i].key, &g.e[i].val,
					BPF_ANY))
			err = tp_limit_errno(-errno, TP_LIMIT_POLICY);
		else
			wrote[i] = true;
	}
	for (pass = 0; err && pass < 2; pass++) {
		for (i = 0; i < g.n; i++) {
			if (!wrote[i] || had[i] != pass)
				continue;
			if (had[i])
				bpf_map_update_elem(m->policy, &g.e[i].key,
						    &old[i], BPF_ANY);
			else
				bpf_map_delete_elem(m->policy, &g.e[i].key);
		}
	}
	for (i = 0; err && i < g.n; i++)
		if (counted[i])
			tp_shared_dec(m, &g.e[i].key);
	free(counted);
	free(wrote);
	free(had);
	free(old);
	free(g.e);
	return err;
}

/*
 * Take the entries of rule @id (@r, already out of tp_rules and the
 * index) out of tp_policy: an entry it alone produced goes; a shared one
 * loses a count and, when @r was its winner, needs its group derived for
 * the next winner (*@derive).  O(entries of @r) unless that happens.
 */
static int tp_policy_unmerge(const struct tp_maps *m, const struct tp_rule *r,
			     __u32 id, bool *derive)
{
	struct tp_policy_group g = {};
	struct tp_policy_val cur;
	size_t i;
	int err;

	*derive = false;
	err = tp_group_add_rule(&g, r, id);
	for (i = 0; i < g.n && !err; i++) {
		if (!tp_policy_get_exact(m, &g.e[i].key, &cur))
			continue;
		if (tp_shared_dec(m, &g.e[i].key))
			*derive |= cur.rule_id == id;
		else if (cur.rule_id == id)
			bpf_map_delete_elem(m->policy, &g.e[i].key);
	}
	free(g.e);
	return err;
}

/*
 * Remove rule @id (normalized @r) from tp_rules, the index and
 * tp_policy; *@zone_flip as tp_ridx_remove().
 */
static int tp_policy_rule_out(const struct tp_maps *m, const struct tp_rule *r,
			      __u32 id, bool *zone_flip)
{
	bool derive;
	int err;

	bpf_map_delete_elem(m->rules, &id);
	tp_ridx_remove(m, r, zone_flip);
	err = tp_policy_unmerge(m, r, id, &derive);
	if (!err && derive)
		err = tp_policy_sync_group(m, r, id, r);
	return err;
}

/*
 * Before a group of one rule gets a second: the datapath decided the
 * group from that rule (tp_rules, bpf/lib/policy.h) and walks tp_policy
 * from now on, so the rule's entries must be there.  A writer killed
 * between indexing the rule and merging its entries left them out (and
 * `tpctl policy add` of the same rule again changes nothing): write the
 * missing ones.  The group's only rule produces all its entries, so each
 * is the rule's own.  O(entries of that rule), on that transition only.
 */
static int tp_policy_single_repair(const struct tp_maps *m,
				   const struct tp_rule *like)
{
	struct tp_policy_group g = {};
	struct tp_rule_index_key gk;
	struct tp_rule_index_val gv;
	struct tp_policy_val cur;
	struct tp_rule r;
	size_t i;
	int err;

	tp_ridx_group_key(&gk, like);
	if (bpf_map_lookup_elem(m->rule_index, &gk, &gv) || gv.n != 1 ||
	    !gv.rule_id || bpf_map_lookup_elem(m->rules, &gv.rule_id, &r) ||
	    r.src_id != like->src_id || r.dst_id != like->dst_id ||
	    r.zone != like->zone)
		return 0; /* the datapath walked the trie already */
	tp_rule_normalize(&r);
	err = tp_group_add_rule(&g, &r, gv.rule_id);
	for (i = 0; i < g.n && !err; i++) {
		if (tp_policy_get_exact(m, &g.e[i].key, &cur) &&
		    !memcmp(&cur, &g.e[i].val, sizeof(cur)))
			continue;
		if (bpf_map_update_elem(m->policy, &g.e[i].key, &g.e[i].val,
					BPF_ANY))
			err = tp_limit_errno(-errno, TP_LIMIT_POLICY);
	}
	free(g.e);
	return err;
}

/*
 * A new rule: an id, tp_rules, the index, its entries; all or nothing.
 * Costs a few lookups and writes per entry of the rule, whatever the
 * size of its group or of the policy.
 */
static int tp_policy_rule_insert(const struct tp_maps *m,
				 const struct tp_rule *nr, __u32 *rule_id)
{
	bool flip, merged = false;
	__u32 total;
	int err = tp_rule_alloc_id(m, rule_id, &total);

	if (!err)
		err = tp_policy_single_repair(m, nr);
	if (err)
		return err;
	if (bpf_map_update_elem(m->rules, rule_id, nr, BPF_NOEXIST))
		return tp_limit_errno(-errno, TP_LIMIT_RULES);
	err = tp_ridx_insert(m, nr, *rule_id, total, &flip);
	if (err) {
		bpf_map_delete_elem(m->rules, rule_id);
		return err;
	}
	err = tp_policy_merge_new(m, nr, *rule_id);
	if (!err) {
		merged = true;
		if (flip)
			err = tp_zone_refresh(m, nr->zone);
		if (!err)
			return tp_policy_bump_rev(m);
	}
	/*
	 * Out again.  A failed merge put its entries back itself; after a
	 * merge they are taken out as a delete would, which needs no room.
	 */
	if (merged) {
		tp_policy_rule_out(m, nr, *rule_id, &flip);
	} else {
		bpf_map_delete_elem(m->rules, rule_id);
		tp_ridx_remove(m, nr, &flip);
	}
	if (flip)
		tp_zone_refresh(m, nr->zone);
	/*
	 * The datapath decided the rule's group from tp_rules since its
	 * index entries went in: flows it allowed meanwhile are decided
	 * again, or they would keep what no policy allows.
	 */
	tp_policy_bump_rev(m);
	return err;
}

/**
 * tp_policy_rule_add() - add a rule, or change the verdict of the rule
 * that matches the same traffic.
 * @m:       maps.
 * @r:       the rule.
 * @rule_id: its id.
 *
 * All or nothing: when its entries cannot all be written (tp_policy
 * full), the rule's tp_rules entry is put back as it was (removed, or its
 * old verdict) and its group rewritten from that, so no half of a rule
 * decides traffic and a later add finds nothing of it and tries again.
 *
 * Cost: a new rule, a few lookups and writes per entry it produces; a
 * new verdict for an existing match, O(rules of its (src, dst, zone)
 * group) to derive the group.  Never a walk of tp_rules or tp_policy.
 *
 * Return: 0 or -errno (-EINVAL bad rule, -ENOSPC no free id or tp_policy
 * full: tp_strerror() names which).
 */
int tp_policy_rule_add(const struct tp_maps *m, const struct tp_rule *r,
		       __u32 *rule_id)
{
	struct tp_rule nr = *r, old;
	int err;

	tp_limit_reset();
	err = tp_rule_validate(r);
	if (err)
		return err;
	tp_rule_normalize(&nr);
	if (tp_policy_rule_find(m, &nr, rule_id) ||
	    bpf_map_lookup_elem(m->rules, rule_id, &old))
		return tp_policy_rule_insert(m, &nr, rule_id);

	/* the same rule again: nothing to derive (syncs re-apply rules) */
	if (!memcmp(&old, &nr, sizeof(nr)))
		return tp_policy_bump_rev(m);
	/* same match: a new verdict (or owner) in place, same id and slot */
	if (bpf_map_update_elem(m->rules, rule_id, &nr, BPF_EXIST))
		return -errno;
	err = tp_policy_commit(m, &nr, *rule_id, &old, false);
	if (!err)
		return 0;
	bpf_map_update_elem(m->rules, rule_id, &old, BPF_EXIST);
	tp_policy_commit(m, &old, *rule_id, &nr, false);
	tp_policy_bump_rev(m); /* the new verdict decided flows meanwhile */
	return err;
}

/**
 * tp_policy_rule_del() - remove the rule matching what @match does.
 * @m:     maps.
 * @match: the match fields (verdict ignored).
 * @owner: remove only if this owner wrote it; TP_OWNER_NONE: any.
 *
 * Cost: O(entries of the rule); O(rules of its group) only when it was
 * the winner of an entry other rules of the group produce too.
 *
 * Return: 0, -ENOENT, -EPERM, or -errno.
 */
int tp_policy_rule_del(const struct tp_maps *m, const struct tp_rule *match,
		       __u8 owner)
{
	struct tp_rule r;
	bool flip;
	__u32 id;
	int err;

	if (tp_policy_rule_find(m, match, &id))
		return -ENOENT;
	if (bpf_map_lookup_elem(m->rules, &id, &r))
		return -ENOENT;
	if (owner != TP_OWNER_NONE && r.owner != owner)
		return -EPERM;
	tp_rule_normalize(&r);
	err = tp_policy_rule_out(m, &r, id, &flip);
	if (!err && flip)
		err = tp_zone_refresh(m, r.zone);
	if (!err)
		err = tp_policy_bump_rev(m);
	return err;
}

/**
 * tp_policy_default_set() - a zone's verdict when no rule matches.
 * @m:       maps.
 * @zone:    zone, 1..65535.
 * @verdict: TP_VERDICT_ALLOW or TP_VERDICT_DENY.
 *
 * Return: 0 or -errno (-EINVAL for zone 0 or another verdict).
 */
int tp_policy_default_set(const struct tp_maps *m, __u16 zone, __u8 verdict)
{
	struct tp_zone z = {};
	__u32 key = zone;

	/* zone 0 is no tailnet: the datapath gives it no default of its own */
	if (!zone ||
	    (verdict != TP_VERDICT_ALLOW && verdict != TP_VERDICT_DENY))
		return -EINVAL;
	bpf_map_lookup_elem(m->zones, &key, &z);
	z.default_verdict = verdict;
	if (bpf_map_update_elem(m->zones, &key, &z, BPF_ANY))
		return -errno;
	return tp_policy_bump_rev(m);
}
