// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * policy: rules (tp_rules, from which lib/policy.c derives tp_policy) and
 * per-zone defaults (tp_zones).  `proto icmp` stands for ICMP and ICMPv6,
 * so it adds or deletes two rules, both or neither.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <bpf/bpf.h>

#include "names.h"
#include "policy.h"
#include "table.h"
#include "tpctl.h"

/* The protocols a parsed `proto` stands for; returns how many. */
static size_t rule_protos(unsigned int proto, __u8 out[2])
{
	if (proto == TPCTL_PROTO_ICMP_BOTH) {
		out[0] = IPPROTO_ICMP;
		out[1] = IPPROTO_ICMPV6;
		return 2;
	}
	out[0] = (__u8)proto;
	return 1;
}

/* The rule @a describes (protocol left to the caller); resolves names. */
static int rule_of(struct tpctl_ctx *ctx, const struct tpctl_args *a,
		   struct tp_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->verdict = a->verdict;
	r->owner = TP_OWNER_TPCTL;
	if (a->has & TPCTL_HAS_PORT) {
		r->port_lo = a->port_lo;
		r->port_hi = a->port_hi;
	}
	if (a->zone && tpctl_zone_resolve(ctx, a->zone, true, &r->zone))
		return -1;
	if (tpctl_identity_resolve(ctx, a->from, true, &r->src_id) ||
	    tpctl_identity_resolve(ctx, a->to, true, &r->dst_id))
		return -1;
	return 0;
}

static char *rule_str(const struct tpctl_args *a, char *buf, size_t len)
{
	const char *proto = NULL;
	char num[4], port[16] = "";

	if (a->has & TPCTL_HAS_PROTO) {
		if (a->proto == TPCTL_PROTO_ICMP_BOTH)
			proto = "icmp";
		else if (!a->proto)
			proto = "any";
		else if (a->proto == IPPROTO_ICMP)
			proto = "icmpv4";
		else
			proto = tp_proto_name((__u8)a->proto, num, sizeof(num));
	}
	if ((a->has & TPCTL_HAS_PORT) && a->port_lo == a->port_hi)
		snprintf(port, sizeof(port), "%u", a->port_lo);
	else if (a->has & TPCTL_HAS_PORT)
		snprintf(port, sizeof(port), "%u-%u", a->port_lo, a->port_hi);
	snprintf(buf, len, "from %s to %s%s%s%s%s%s%s", a->from, a->to,
		 proto ? " proto " : "", proto ? proto : "",
		 port[0] ? " port " : "", port, a->zone ? " zone " : "",
		 a->zone ? a->zone : "");
	return buf;
}

/* Undo: @had says whether a rule matching @r existed before, as @old. */
static void rule_restore(struct tpctl_ctx *ctx, const struct tp_rule *r,
			 bool had, const struct tp_rule *old)
{
	__u32 id;

	if (had)
		tp_policy_rule_add(&ctx->maps, old, &id);
	else
		tp_policy_rule_del(&ctx->maps, r, TP_OWNER_NONE);
}

static int rule_add_err(struct tpctl_ctx *ctx, const struct tpctl_args *a,
			int err)
{
	char desc[256], why[256];

	rule_str(a, desc, sizeof(desc));
	/* a full map or id space is named, with what raises it */
	return tpctl_err(ctx, "cannot add rule %s: %s", desc,
			 tp_strerror(err, why, sizeof(why)));
}

/**
 * tpctl_policy_add() - add a rule, or change the verdict of the rule with
 * the same match.
 */
int tpctl_policy_add(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	struct tp_rule r[2], old[2];
	bool had[2] = {};
	__u8 protos[2];
	size_t n, i;
	__u32 id;
	int err = 0;

	if (rule_of(ctx, a, &r[0]))
		return -1;
	n = rule_protos(a->proto, protos);
	for (i = 0; i < n; i++) {
		r[i] = r[0];
		r[i].proto = protos[i];
		/* what to put back: only a second rule's failure undoes a first */
		had[i] = n > 1 &&
			 !tp_policy_rule_find(&ctx->maps, &r[i], &id) &&
			 !bpf_map_lookup_elem(ctx->maps.rules, &id, &old[i]);
	}
	for (i = 0; i < n && !err; i++)
		err = tp_policy_rule_add(&ctx->maps, &r[i], &id);
	if (!err)
		return tpctl_ok(ctx);
	for (i = i - 1; i-- > 0;)
		rule_restore(ctx, &r[i], had[i], &old[i]);
	return rule_add_err(ctx, a, err);
}

/**
 * tpctl_policy_del() - remove the rule(s) with the given match; a verdict,
 * if given, must be the rule's.
 */
int tpctl_policy_del(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	struct tp_rule r, cur;
	char desc[256];
	size_t n, i, found = 0;
	__u8 protos[2];
	__u32 id;
	int err;

	if (rule_of(ctx, a, &r))
		return -1;
	rule_str(a, desc, sizeof(desc));
	n = rule_protos(a->proto, protos);
	for (i = 0; i < n; i++) {
		r.proto = protos[i];
		if (tp_policy_rule_find(&ctx->maps, &r, &id) ||
		    bpf_map_lookup_elem(ctx->maps.rules, &id, &cur))
			continue;
		if ((a->has & TPCTL_HAS_VERDICT) && cur.verdict != a->verdict)
			return tpctl_err(ctx, "rule %s has verdict %s, not %s",
					 desc, tp_verdict_name(cur.verdict),
					 tp_verdict_name(a->verdict));
		found++;
	}
	if (!found)
		return tpctl_err(ctx, "no rule %s", desc);
	for (i = 0; i < n; i++) {
		r.proto = protos[i];
		err = tp_policy_rule_del(&ctx->maps, &r, TP_OWNER_NONE);
		if (err && err != -ENOENT)
			return tpctl_err(ctx, "cannot delete rule %s: %s", desc,
					 strerror(-err));
	}
	return tpctl_ok(ctx);
}

/** tpctl_policy_default() - a zone's verdict when no rule matches. */
int tpctl_policy_default(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	__u16 zone;
	int err;

	if (tpctl_zone_resolve(ctx, a->zone, false, &zone))
		return -1;
	if (!zone)
		return tpctl_err(
			ctx,
			"policy default: zone 0 has no default verdict: the datapath applies defaults to tailnet zones (1-65535) only, and allows what no rule of zone 0 decides");
	err = tp_policy_default_set(&ctx->maps, zone, a->verdict);
	if (err)
		return tpctl_err(ctx, "cannot set the default of zone %u: %s",
				 zone, strerror(-err));
	return tpctl_ok(ctx);
}

/* ---- list --------------------------------------------------------------- */

static const struct tpctl_col rule_cols[] = {
	{ "ID", true },	     { "FROM" },	{ "TO" },      { "ZONE" },
	{ "PROTO" },	     { "PORT" },	{ "VERDICT" }, { "OWNER" },
	{ "PACKETS", true }, { "BYTES", true },
};

static const struct tpctl_col zone_cols[] = {
	{ "ZONE", true },
	{ "DEFAULT" },
	{ "RULES" },
};

static char *rule_id_label(const struct tp_maps *m, __u32 id, char *buf,
			   size_t len)
{
	if (id == TP_POLICY_ANY_ID) {
		snprintf(buf, len, "any");
		return buf;
	}
	return tpctl_id_label(m, id, buf, len);
}

static char *rule_port_str(const struct tp_rule *r, char *buf, size_t len)
{
	if (!r->port_lo && (!r->port_hi || r->port_hi == 0xffff))
		snprintf(buf, len, "any");
	else if (r->port_lo == r->port_hi || !r->port_hi)
		snprintf(buf, len, "%u", r->port_lo);
	else
		snprintf(buf, len, "%u-%u", r->port_lo, r->port_hi);
	return buf;
}

static const char *rule_proto_str(__u8 proto, char *buf, size_t len)
{
	if (!proto)
		return "any";
	if (proto == IPPROTO_ICMP)
		return "icmpv4";
	return tp_proto_name(proto, buf, len);
}

static void rules_plain(struct tpctl_table *t, const struct tp_maps *m,
			const struct tpctl_rule_row *rows, size_t n)
{
	char id[TP_IDENTITY_NAME_LEN + 16], buf[TPCTL_UNIT_STRLEN];
	const struct tp_rule *r;
	size_t i;

	for (i = 0; i < n; i++) {
		r = &rows[i].rule;
		tpctl_table_cell(t, "%u", rows[i].id);
		tpctl_table_cell(t, "%s",
				 rule_id_label(m, r->src_id, id, sizeof(id)));
		tpctl_table_cell(t, "%s",
				 rule_id_label(m, r->dst_id, id, sizeof(id)));
		if (r->zone)
			tpctl_table_cell(t, "%u", r->zone);
		else
			tpctl_table_cell(t, "any");
		tpctl_table_cell(t, "%s",
				 rule_proto_str(r->proto, buf, sizeof(buf)));
		tpctl_table_cell(t, "%s", rule_port_str(r, buf, sizeof(buf)));
		tpctl_table_cell(t, "%s", tp_verdict_name(r->verdict));
		tpctl_table_cell(t, "%s", tp_owner_name(r->owner));
		tpctl_table_cell(
			t, "%s",
			tpctl_fmt_count(rows[i].st.packets, buf, sizeof(buf)));
		tpctl_table_cell(
			t, "%s",
			tpctl_fmt_bytes(rows[i].st.bytes, buf, sizeof(buf)));
	}
}

static void rule_json_id(struct tp_json *j, const char *base,
			 const struct tp_maps *m, __u32 id)
{
	char key[32];

	if (id != TP_POLICY_ANY_ID) {
		tpctl_json_identity(j, base, m, id);
		return;
	}
	snprintf(key, sizeof(key), "%s_id", base);
	tp_json_kv_u64(j, key, id);
	snprintf(key, sizeof(key), "%s_name", base);
	tp_json_kv_str(j, key, "any");
}

static void rules_json(struct tp_json *j, const struct tp_maps *m,
		       const struct tpctl_rule_row *rows, size_t n)
{
	const struct tp_rule *r;
	char buf[8];
	size_t i;

	tp_json_arr_open(j);
	for (i = 0; i < n; i++) {
		r = &rows[i].rule;
		tp_json_obj_open(j);
		tp_json_kv_u64(j, "id", rows[i].id);
		rule_json_id(j, "src", m, r->src_id);
		rule_json_id(j, "dst", m, r->dst_id);
		tp_json_kv_u64(j, "zone", r->zone);
		tp_json_kv_str(j, "proto",
			       rule_proto_str(r->proto, buf, sizeof(buf)));
		tp_json_kv_u64(j, "port_lo", r->port_lo);
		tp_json_kv_u64(j, "port_hi",
			       r->port_hi ? r->port_hi : r->port_lo);
		tp_json_kv_str(j, "verdict", tp_verdict_name(r->verdict));
		tp_json_kv_str(j, "owner", tp_owner_name(r->owner));
		tp_json_kv_u64(j, "packets", rows[i].st.packets);
		tp_json_kv_u64(j, "bytes", rows[i].st.bytes);
		tp_json_obj_close(j);
	}
	tp_json_arr_close(j);
}

static void zones_json(struct tp_json *j, const struct tpctl_zone_row *z,
		       size_t n)
{
	size_t i;

	tp_json_arr_open(j);
	for (i = 0; i < n; i++) {
		tp_json_obj_open(j);
		tp_json_kv_u64(j, "zone", z[i].zone);
		tp_json_kv_str(j, "default",
			       tp_verdict_name(z[i].z.default_verdict));
		tp_json_kv_bool(j, "has_rules", z[i].z.flags & TP_ZONE_F_RULES);
		tp_json_obj_close(j);
	}
	tp_json_arr_close(j);
}

/**
 * tpctl_policy_render() - the output of `policy list`: the rules, then
 * the zones' defaults.
 * @ctx:   the context.
 * @m:     maps for identity names (may be NULL).
 * @rules: the rules with their counters, by id.
 * @n:     their number.
 * @zones: the zones with a tp_zones entry, by zone.
 * @nz:    their number.
 */
void tpctl_policy_render(struct tpctl_ctx *ctx, const struct tp_maps *m,
			 const struct tpctl_rule_row *rules, size_t n,
			 const struct tpctl_zone_row *zones, size_t nz)
{
	struct tpctl_table t;
	size_t i;

	if (ctx->opts.json) {
		tp_json_obj_open(&ctx->json);
		tp_json_key(&ctx->json, "rules");
		rules_json(&ctx->json, m, rules, n);
		tp_json_key(&ctx->json, "defaults");
		zones_json(&ctx->json, zones, nz);
		tp_json_obj_close(&ctx->json);
		return;
	}
	tpctl_table_init(&t, rule_cols,
			 sizeof(rule_cols) / sizeof(rule_cols[0]));
	rules_plain(&t, m, rules, n);
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
	fputc('\n', ctx->out);
	tpctl_table_init(&t, zone_cols,
			 sizeof(zone_cols) / sizeof(zone_cols[0]));
	for (i = 0; i < nz; i++) {
		tpctl_table_cell(&t, "%u", zones[i].zone);
		tpctl_table_cell(&t, "%s",
				 tp_verdict_name(zones[i].z.default_verdict));
		tpctl_table_cell(&t, "%s",
				 zones[i].z.flags & TP_ZONE_F_RULES ? "yes"
								    : "no");
	}
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
}

static int rule_row_cmp(const void *pa, const void *pb)
{
	const struct tpctl_rule_row *a = pa, *b = pb;

	return a->id < b->id ? -1 : a->id > b->id;
}

static int zone_row_cmp(const void *pa, const void *pb)
{
	const struct tpctl_zone_row *a = pa, *b = pb;

	return a->zone < b->zone ? -1 : a->zone > b->zone;
}

static int rules_collect(const struct tp_maps *m, struct tpctl_rule_row **rows,
			 size_t *n)
{
	size_t cap = tp_map_max_entries(m->rules), n_st = 0;
	struct tpctl_rule_row *r = calloc(cap + 1, sizeof(*r));
	__u32 k, next, *prev = NULL;
	struct tp_stat_row *st = NULL;
	const struct tp_stat *sum;

	*n = 0;
	if (!r)
		return -ENOMEM;
	/* one walk: a lookup per rule would read TP_STAT_GROUP counters */
	tp_stats_collect(m->rule_stats, &st, &n_st);
	while (*n < cap && !bpf_map_get_next_key(m->rules, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(m->rules, &k, &r[*n].rule))
			continue;
		r[*n].id = k;
		sum = tp_stats_find(st, n_st, k);
		if (sum)
			r[*n].st = *sum;
		(*n)++;
	}
	free(st);
	qsort(r, *n, sizeof(*r), rule_row_cmp);
	*rows = r;
	return 0;
}

static int zones_collect(const struct tp_maps *m, struct tpctl_zone_row *z,
			 size_t *n)
{
	__u32 k, next, *prev = NULL;

	*n = 0;
	while (*n < TP_MAX_ZONES &&
	       !bpf_map_get_next_key(m->zones, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(m->zones, &k, &z[*n].z))
			continue;
		z[(*n)++].zone = k;
	}
	qsort(z, *n, sizeof(*z), zone_row_cmp);
	return 0;
}

/** tpctl_policy_list() - every rule, and every zone's default. */
int tpctl_policy_list(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	const struct tp_maps *m = tpctl_maps(ctx);
	struct tpctl_zone_row zones[TP_MAX_ZONES];
	struct tpctl_rule_row *rules = NULL;
	size_t n, nz;

	if (!m)
		return -1;
	if (rules_collect(m, &rules, &n))
		return tpctl_err(ctx, "out of memory");
	zones_collect(m, zones, &nz);
	tpctl_policy_render(ctx, m, rules, n, zones, nz);
	free(rules);
	return 0;
}
