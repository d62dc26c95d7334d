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
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

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

struct tp_policy_entry {
	struct tp_policy_key key;
	struct tp_policy_val val;
};

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
	struct tp_policy_entry ne = {}, *e;
	size_t i;

	ne.key.prefixlen = prefixlen;
	ne.key.src_id = r->src_id;
	ne.key.dst_id = r->dst_id;
	ne.key.zone = r->zone;
	ne.key.proto = prefixlen > TP_POLICY_PLEN_ANY_PROTO ? r->proto : 0;
	ne.key.dport = prefixlen > TP_POLICY_PLEN_ANY_PORT ? htons(port) : 0;
	ne.val.rule_id = rule_id;
	ne.val.verdict = r->verdict;
	ne.val.l4_plen = prefixlen - TP_POLICY_PLEN_ANY_PROTO;

	for (i = 0; i < g->n; i++) {
		e = &g->e[i];
		if (memcmp(&e->key, &ne.key, sizeof(ne.key)))
			continue;
		if (tp_verdict_rank(ne.val.verdict) > tp_verdict_rank(e->val.verdict) ||
		    (ne.val.verdict == e->val.verdict && rule_id < e->val.rule_id))
			e->val = ne.val;
		return 0;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		void *p = realloc(g->e, cap * sizeof(*g->e));

		if (!p)
			return -ENOMEM;
		g->e = p;
		g->cap = cap;
	}
	g->e[g->n++] = ne;
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
				   TP_POLICY_PLEN_PORT(blocks[i].bits), blocks[i].port);
	return err;
}

static bool tp_same_group(const struct tp_rule *r, __u32 src, __u32 dst, __u16 zone)
{
	return r->src_id == src && r->dst_id == dst && r->zone == zone;
}

/* Rewrite the tp_policy entries of group (src, dst, zone) from tp_rules. */
static int tp_policy_sync_group(const struct tp_maps *m, __u32 src, __u32 dst,
				__u16 zone)
{
	struct tp_policy_group g = {};
	struct tp_policy_key k, next, *prev = NULL, *stale = NULL;
	__u32 id, nid, *pid = NULL;
	struct tp_rule r;
	size_t n_stale = 0, cap_stale = 0, i;
	int err = 0;

	while (!err && !bpf_map_get_next_key(m->rules, pid, &nid)) {
		id = nid;
		pid = &id;
		if (!bpf_map_lookup_elem(m->rules, &id, &r) &&
		    tp_same_group(&r, src, dst, zone))
			err = tp_group_add_rule(&g, &r, id);
	}
	for (i = 0; i < g.n && !err; i++)
		if (bpf_map_update_elem(m->policy, &g.e[i].key, &g.e[i].val, BPF_ANY))
			err = tp_limit_errno(-errno, TP_LIMIT_POLICY);

	/* entries of the group no rule produces any more */
	while (!err && !bpf_map_get_next_key(m->policy, prev, &next)) {
		k = next;
		prev = &k;
		if (k.src_id != src || k.dst_id != dst || k.zone != zone)
			continue;
		for (i = 0; i < g.n; i++)
			if (!memcmp(&g.e[i].key, &k, sizeof(k)))
				break;
		if (i < g.n)
			continue;
		if (n_stale == cap_stale) {
			void *p;

			cap_stale = cap_stale ? cap_stale * 2 : 64;
			p = realloc(stale, cap_stale * sizeof(*stale));
			if (!p) {
				err = -ENOMEM;
				break;
			}
			stale = p;
		}
		stale[n_stale++] = k;
	}
	for (i = 0; i < n_stale && !err; i++)
		bpf_map_delete_elem(m->policy, &stale[i]);
	free(stale);
	free(g.e);
	return err;
}

/* Set or clear TP_ZONE_F_RULES on @zone from what tp_rules holds. */
static int tp_zone_refresh(const struct tp_maps *m, __u16 zone)
{
	struct tp_zone z = { .default_verdict = TP_VERDICT_ALLOW };
	__u32 key = zone, id, nid, *pid = NULL;
	bool has = false;
	struct tp_rule r;

	if (!zone)
		return 0;
	while (!has && !bpf_map_get_next_key(m->rules, pid, &nid)) {
		id = nid;
		pid = &id;
		if (!bpf_map_lookup_elem(m->rules, &id, &r) && r.zone == zone)
			has = true;
	}
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
 * Return: 0 with *@rule_id set, or -ENOENT.
 */
int tp_policy_rule_find(const struct tp_maps *m, const struct tp_rule *match,
			__u32 *rule_id)
{
	__u32 id, nid, *pid = NULL;
	struct tp_rule r;

	while (!bpf_map_get_next_key(m->rules, pid, &nid)) {
		id = nid;
		pid = &id;
		if (!bpf_map_lookup_elem(m->rules, &id, &r) &&
		    tp_rule_same_match(&r, match)) {
			*rule_id = id;
			return 0;
		}
	}
	return -ENOENT;
}

static int tp_rule_alloc_id(const struct tp_maps *m, __u32 *rule_id)
{
	unsigned char *used = calloc(TP_MAX_RULES, 1);
	__u32 id, nid, *pid = NULL;

	if (!used)
		return -ENOMEM;
	while (!bpf_map_get_next_key(m->rules, pid, &nid)) {
		id = nid;
		pid = &id;
		if (id < TP_MAX_RULES)
			used[id] = 1;
	}
	for (id = 1; id < TP_MAX_RULES && used[id]; id++)
		;
	free(used);
	if (id == TP_MAX_RULES)
		return tp_limit_hit(TP_LIMIT_RULES);
	*rule_id = id;
	return 0;
}

static int tp_policy_commit(const struct tp_maps *m, const struct tp_rule *r)
{
	int err = tp_policy_sync_group(m, r->src_id, r->dst_id, r->zone);

	if (!err)
		err = tp_zone_refresh(m, r->zone);
	if (!err)
		err = tp_policy_bump_rev(m);
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
 * Return: 0 or -errno (-EINVAL bad rule, -ENOSPC no free id or tp_policy
 * full: tp_strerror() names which).
 */
int tp_policy_rule_add(const struct tp_maps *m, const struct tp_rule *r,
		       __u32 *rule_id)
{
	struct tp_rule nr = *r, old;
	bool had = false;
	int err;

	tp_limit_reset();
	err = tp_rule_validate(r);
	if (err)
		return err;
	if (tp_rule_any_port(&nr)) {
		nr.port_lo = 0;
		nr.port_hi = 0;
	} else if (!nr.port_hi) {
		nr.port_hi = nr.port_lo;
	}
	if (tp_policy_rule_find(m, &nr, rule_id)) {
		err = tp_rule_alloc_id(m, rule_id);
		if (err)
			return err;
	} else {
		had = !bpf_map_lookup_elem(m->rules, rule_id, &old);
	}
	if (bpf_map_update_elem(m->rules, rule_id, &nr, BPF_ANY))
		return tp_limit_errno(-errno, TP_LIMIT_RULES);
	err = tp_policy_commit(m, &nr);
	if (!err)
		return 0;

	/*
	 * Put the rule back as it was and derive its group again: every entry
	 * the old rules produce existed before, so rewriting them needs no room
	 * and the entries written for the new rule go as stale.
	 */
	if (had)
		bpf_map_update_elem(m->rules, rule_id, &old, BPF_ANY);
	else
		bpf_map_delete_elem(m->rules, rule_id);
	tp_policy_commit(m, had ? &old : &nr);
	return err;
}

/**
 * tp_policy_rule_del() - remove the rule matching what @match does.
 * @m:     maps.
 * @match: the match fields (verdict ignored).
 * @owner: remove only if this owner wrote it; TP_OWNER_NONE: any.
 *
 * Return: 0, -ENOENT, -EPERM, or -errno.
 */
int tp_policy_rule_del(const struct tp_maps *m, const struct tp_rule *match,
		       __u8 owner)
{
	struct tp_rule r;
	__u32 id;

	if (tp_policy_rule_find(m, match, &id))
		return -ENOENT;
	if (bpf_map_lookup_elem(m->rules, &id, &r))
		return -ENOENT;
	if (owner != TP_OWNER_NONE && r.owner != owner)
		return -EPERM;
	if (bpf_map_delete_elem(m->rules, &id))
		return -errno;
	return tp_policy_commit(m, &r);
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
	if (!zone || (verdict != TP_VERDICT_ALLOW && verdict != TP_VERDICT_DENY))
		return -EINVAL;
	bpf_map_lookup_elem(m->zones, &key, &z);
	z.default_verdict = verdict;
	if (bpf_map_update_elem(m->zones, &key, &z, BPF_ANY))
		return -errno;
	return tp_policy_bump_rev(m);
}
