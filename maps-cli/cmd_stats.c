// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * stats: the per-CPU counters, summed: tp_stats (datapath counters and
 * drops per reason), tp_rule_stats (per rule, 0 for zone defaults) and
 * tp_svc_stats (per service).  `stats reset` zeroes all three.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "array.h"
#include "names.h"
#include "table.h"
#include "tpctl.h"

/**
 * tpctl_percpu_sum() - one counter of a per-CPU counter array (tp_stats,
 * tp_rule_stats, tp_svc_stats), summed over every possible CPU.
 * @fd:  the map.
 * @key: the counter's index, rule id or service id (tp_stat_sum()).
 * @sum: the sum (zero when the lookup fails).
 *
 * Return: 0 or -errno.
 */
int tpctl_percpu_sum(int fd, __u32 key, struct tp_stat *sum)
{
	return tp_stat_sum(fd, key, sum);
}

/**
 * tpctl_stats_free() - release what tpctl_stats_collect() allocated.
 */
void tpctl_stats_free(struct tpctl_stats *s)
{
	size_t i;

	for (i = 0; i < TPCTL_STATS_SECTIONS; i++)
		free(s->rows[i]);
	memset(s, 0, sizeof(*s));
}

static struct tpctl_stat_row *stats_row(struct tpctl_stats *s,
					enum tpctl_stats_section sec)
{
	if (tp_array_grow((void **)&s->rows[sec], &s->cap[sec], s->n[sec] + 1,
			  sizeof(*s->rows[sec]), 64))
		return NULL;
	return &s->rows[sec][s->n[sec]++];
}

/**
 * tpctl_stats_add() - append a row to a section.
 * @s:     the stats.
 * @sec:   the section.
 * @id:    counter index, rule id or service id.
 * @label: what the row shows (a counter's name, a service).
 * @st:    the sums.
 *
 * Return: 0 or -ENOMEM.
 */
int tpctl_stats_add(struct tpctl_stats *s, enum tpctl_stats_section sec,
		    __u32 id, const char *label, const struct tp_stat *st)
{
	struct tpctl_stat_row *r = stats_row(s, sec);

	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->id = id;
	snprintf(r->label, sizeof(r->label), "%s", label);
	r->st = *st;
	return 0;
}

static const char *const stats_titles[TPCTL_STATS_SECTIONS] = {
	[TPCTL_STATS_COUNTERS] = "COUNTER",
	[TPCTL_STATS_DROPS] = "DROP",
	[TPCTL_STATS_RULES] = "RULE",
	[TPCTL_STATS_SERVICES] = "SERVICE",
};

static const char *const stats_keys[TPCTL_STATS_SECTIONS] = {
	[TPCTL_STATS_RULES] = "rules",
	[TPCTL_STATS_SERVICES] = "services",
};

static void stats_section_plain(struct tpctl_ctx *ctx, const char *title,
				const struct tpctl_stat_row *rows, size_t n)
{
	const struct tpctl_col cols[] = { { title },
					  { "PACKETS", true },
					  { "BYTES", true } };
	char p[TPCTL_UNIT_STRLEN], b[TPCTL_UNIT_STRLEN];
	struct tpctl_table t;
	size_t i;

	tpctl_table_init(&t, cols, 3);
	for (i = 0; i < n; i++) {
		tpctl_table_cell(&t, "%s", rows[i].label);
		tpctl_table_cell(
			&t, "%s",
			tpctl_fmt_count(rows[i].st.packets, p, sizeof(p)));
		tpctl_table_cell(
			&t, "%s",
			tpctl_fmt_bytes(rows[i].st.bytes, b, sizeof(b)));
	}
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
}

/*
 * Counters and drops: one flat object keyed by tp_stats names (as the
 * loader's metrics), "NAME": packets and "NAME_bytes": bytes.
 */
static void stats_counters_json(struct tp_json *j, const struct tpctl_stats *s)
{
	char key[64];
	int sec;
	size_t i;

	tp_json_key(j, "counters");
	tp_json_obj_open(j);
	for (sec = TPCTL_STATS_COUNTERS; sec <= TPCTL_STATS_DROPS; sec++) {
		for (i = 0; i < s->n[sec]; i++) {
			const struct tpctl_stat_row *r = &s->rows[sec][i];

			tp_json_kv_u64(j, tp_stat_name(r->id), r->st.packets);
			snprintf(key, sizeof(key), "%s_bytes",
				 tp_stat_name(r->id));
			tp_json_kv_u64(j, key, r->st.bytes);
		}
	}
	tp_json_obj_close(j);
}

/* Rules and services: arrays of {id, packets, bytes}. */
static void stats_section_json(struct tp_json *j, enum tpctl_stats_section sec,
			       const struct tpctl_stat_row *rows, size_t n)
{
	size_t i;

	tp_json_key(j, stats_keys[sec]);
	tp_json_arr_open(j);
	for (i = 0; i < n; i++) {
		tp_json_obj_open(j);
		if (sec == TPCTL_STATS_RULES)
			tp_json_kv_u64(j, "rule_id", rows[i].id);
		if (sec == TPCTL_STATS_SERVICES) {
			tp_json_kv_u64(j, "service_id", rows[i].id);
			tp_json_kv_str(j, "service", rows[i].label);
		}
		tp_json_kv_u64(j, "packets", rows[i].st.packets);
		tp_json_kv_u64(j, "bytes", rows[i].st.bytes);
		tp_json_obj_close(j);
	}
	tp_json_arr_close(j);
}

/**
 * tpctl_stats_render() - the output of `stats`: counters and drops, then
 * the rules and services that counted anything.
 */
void tpctl_stats_render(struct tpctl_ctx *ctx, const struct tpctl_stats *s)
{
	int sec;

	if (ctx->opts.json) {
		tp_json_obj_open(&ctx->json);
		stats_counters_json(&ctx->json, s);
		for (sec = TPCTL_STATS_RULES; sec < TPCTL_STATS_SECTIONS; sec++)
			stats_section_json(&ctx->json, sec, s->rows[sec],
					   s->n[sec]);
		tp_json_obj_close(&ctx->json);
		return;
	}
	for (sec = 0; sec < TPCTL_STATS_SECTIONS; sec++) {
		if (sec > TPCTL_STATS_DROPS && !s->n[sec])
			continue;
		if (sec)
			fputc('\n', ctx->out);
		stats_section_plain(ctx, stats_titles[sec], s->rows[sec],
				    s->n[sec]);
	}
}

static int stats_collect_main(const struct tp_maps *m, struct tpctl_stats *s)
{
	struct tp_stat st;
	__u32 i;
	int err = 0;

	for (i = 0; i < TP_STAT_DROP_BASE && !err; i++) {
		if (!strcmp(tp_stat_name(i), "unknown"))
			continue; /* an index no counter uses */
		err = tpctl_percpu_sum(m->stats, i, &st)
			      ?: tpctl_stats_add(s, TPCTL_STATS_COUNTERS, i,
						 tp_stat_name(i), &st);
	}
	for (i = 1; i < TP_DROP_REASON_MAX && !err; i++)
		err = tpctl_percpu_sum(m->stats, TP_STAT_DROP(i), &st)
			      ?: tpctl_stats_add(s, TPCTL_STATS_DROPS,
						 TP_STAT_DROP(i),
						 tp_drop_reason_name(i), &st);
	return err;
}

static int stats_rule_one(void *ctx, __u32 id, const struct tp_stat *st)
{
	char label[32];

	snprintf(label, sizeof(label), id ? "%u" : "%u (defaults)", id);
	return tpctl_stats_add(ctx, TPCTL_STATS_RULES, id, label, st);
}

/* Every rule id that decided something, however many the map holds. */
static int stats_collect_rules(const struct tp_maps *m, struct tpctl_stats *s)
{
	return tp_stats_walk(m->rule_stats, stats_rule_one, s);
}

/*
 * Every service that counted something.  The counters are read in one
 * walk first: a lookup per service would read a whole element
 * (TP_STAT_GROUP counters) of every CPU for each.
 */
static int stats_collect_services(const struct tp_maps *m,
				  struct tpctl_stats *s)
{
	struct tp_svc_key k, next, *prev = NULL;
	char label[TP_SVC_STRLEN];
	struct tp_stat_row *rows;
	const struct tp_stat *st;
	struct tp_svc svc;
	size_t n;
	int err;

	err = tp_stats_collect(m->svc_stats, &rows, &n);
	while (!err && n && !bpf_map_get_next_key(m->services, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(m->services, &k, &svc) ||
		    !(st = tp_stats_find(rows, n, svc.id)))
			continue;
		tp_svc_key_format(&k, label, sizeof(label));
		err = tpctl_stats_add(s, TPCTL_STATS_SERVICES, svc.id, label,
				      st);
	}
	free(rows);
	return err;
}

/** tpctl_stats_show() - every counter. */
int tpctl_stats_show(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	const struct tp_maps *m = tpctl_maps(ctx);
	struct tpctl_stats s = {};
	int err;

	if (!m)
		return -1;
	err = stats_collect_main(m, &s) ?: stats_collect_rules(m, &s) ?:
	      stats_collect_services(m, &s);
	if (err) {
		tpctl_stats_free(&s);
		return tpctl_err(ctx, "cannot read the counters: %s",
				 strerror(-err));
	}
	tpctl_stats_render(ctx, &s);
	tpctl_stats_free(&s);
	return 0;
}

/** tpctl_stats_reset() - zero every counter. */
int tpctl_stats_reset(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	const struct tp_maps *m = &ctx->maps;
	int err;

	err = tp_stats_zero(m->stats) ?: tp_stats_zero(m->rule_stats) ?:
	      tp_stats_zero(m->svc_stats);
	if (err)
		return tpctl_err(ctx, "cannot reset the counters: %s",
				 strerror(-err));
	return tpctl_ok(ctx);
}
