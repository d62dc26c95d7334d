// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * guard: the uplink's XDP guard (tp_xdp_guard): its drop list
 * (tp_guard_drop), its per-source rate (tp_guard_config) and what it did
 * (the guard_* counters of tp_stats), through lib/guard.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "guard.h"
#include "names.h"
#include "table.h"
#include "tpctl.h"

static const char *guard_prefix_str(const struct tpctl_args *a, char *buf)
{
	struct tp_addr masked = a->prefix;

	return tp_prefix_format(&masked, a->plen, buf, TP_PREFIX_STRLEN);
}

/** tpctl_guard_add() - put a prefix on the drop list. */
int tpctl_guard_add(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	char pfx[TP_PREFIX_STRLEN];
	__u32 max;
	int err;

	err = tp_guard_drop_add(&ctx->maps, &a->prefix, a->plen,
				TP_OWNER_TPCTL);
	if (err == -EEXIST)
		return tpctl_err(ctx, "%s is on the drop list already",
				 guard_prefix_str(a, pfx));
	if (err == -ENOSPC) {
		max = tp_map_max_entries(ctx->maps.guard_drop);
		return tpctl_err(
			ctx,
			"cannot add %s: " TP_MAP_GUARD_DROP
			" is full: %u prefixes; "
			"capacity.guard_prefixes in the tailplaned configuration raises it",
			guard_prefix_str(a, pfx), max);
	}
	if (err)
		return tpctl_err(ctx, "cannot add %s: %s",
				 guard_prefix_str(a, pfx), strerror(-err));
	return tpctl_ok(ctx);
}

/** tpctl_guard_del() - take a prefix off the drop list, whoever wrote it. */
int tpctl_guard_del(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	char pfx[TP_PREFIX_STRLEN];
	int err;

	err = tp_guard_drop_del(&ctx->maps, &a->prefix, a->plen, TP_OWNER_NONE);
	if (err == -ENOENT)
		return tpctl_err(ctx, "%s is not on the drop list",
				 guard_prefix_str(a, pfx));
	if (err)
		return tpctl_err(ctx, "cannot delete %s: %s",
				 guard_prefix_str(a, pfx), strerror(-err));
	return tpctl_ok(ctx);
}

/** tpctl_guard_rate() - set the per-source handshake rate, live. */
int tpctl_guard_rate(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	int err = tp_guard_rate_set(&ctx->maps, a->rate, a->burst);

	if (err)
		return tpctl_err(ctx, "cannot set the guard's rate: %s",
				 strerror(-err));
	return tpctl_ok(ctx);
}

static const struct tpctl_col guard_cols[] = {
	{ "PREFIX" },
	{ "OWNER" },
};

static void guard_list_render(struct tpctl_ctx *ctx,
			      const struct tp_guard_row *rows, size_t n)
{
	char pfx[TP_PREFIX_STRLEN];
	struct tpctl_table t;
	size_t i;

	if (ctx->opts.json) {
		tp_json_arr_open(&ctx->json);
		for (i = 0; i < n; i++) {
			tp_json_obj_open(&ctx->json);
			tp_json_kv_str(&ctx->json, "prefix",
				       tp_prefix_format(&rows[i].key.addr,
							rows[i].key.prefixlen,
							pfx, sizeof(pfx)));
			tp_json_kv_str(&ctx->json, "owner",
				       tp_owner_name(rows[i].val.owner));
			tp_json_obj_close(&ctx->json);
		}
		tp_json_arr_close(&ctx->json);
		return;
	}
	tpctl_table_init(&t, guard_cols,
			 sizeof(guard_cols) / sizeof(guard_cols[0]));
	for (i = 0; i < n; i++) {
		tpctl_table_cell(&t, "%s",
				 tp_prefix_format(&rows[i].key.addr,
						  rows[i].key.prefixlen, pfx,
						  sizeof(pfx)));
		tpctl_table_cell(&t, "%s", tp_owner_name(rows[i].val.owner));
	}
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
}

/** tpctl_guard_list() - the drop list. */
int tpctl_guard_list(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	const struct tp_maps *m = tpctl_maps(ctx);
	struct tp_guard_row *rows = NULL;
	char why[256];
	size_t n;
	int err;

	if (!m)
		return -1;
	err = tp_guard_drop_list(m, &rows, &n);
	if (err)
		return tpctl_err(ctx, "cannot read %s: %s", TP_MAP_GUARD_DROP,
				 tp_strerror(err, why, sizeof(why)));
	guard_list_render(ctx, rows, n);
	free(rows);
	return 0;
}

/* Entries of hash or trie @fd (what `map list` counts the same way). */
static long long guard_count(int fd, size_t key_size)
{
	char key[32], next[32];
	long long n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

/**
 * struct tpctl_guard_state - what `guard show` shows.
 * @cfg:      tp_guard_config.
 * @prefixes: drop-list entries.
 * @sources:  sources with a bucket.
 * @max_sources: the bucket map's capacity.
 * @st:       the guard's counters: pass, listed, rate limited.
 */
struct tpctl_guard_state {
	struct tp_guard_config cfg;
	long long prefixes;
	long long sources;
	__u32 max_sources;
	struct tp_stat st[3];
};

static const char *const guard_counter_keys[3] = { "pass", "listed",
						   "rate_limited" };

static void guard_show_plain(struct tpctl_ctx *ctx,
			     const struct tpctl_guard_state *g)
{
	unsigned int i;

	fprintf(ctx->out, "ports        ");
	for (i = 0; i < g->cfg.n_ports && i < TP_GUARD_MAX_PORTS; i++)
		fprintf(ctx->out, "%s%u", i ? " " : "", ntohs(g->cfg.ports[i]));
	fprintf(ctx->out, "%s (udp, WireGuard handshakes: message types 1-3)\n",
		g->cfg.n_ports ? "" : "none");
	if (g->cfg.rate)
		fprintf(ctx->out, "rate         %u/s per source, burst %u\n",
			g->cfg.rate, g->cfg.burst);
	else
		fprintf(ctx->out, "rate         no limit\n");
	fprintf(ctx->out, "drop list    %lld prefixes\n", g->prefixes);
	fprintf(ctx->out, "sources      %lld of %u tracked\n", g->sources,
		g->max_sources);
	for (i = 0; i < 3; i++)
		fprintf(ctx->out, "%-12s %llu packets, %llu bytes\n",
			guard_counter_keys[i],
			(unsigned long long)g->st[i].packets,
			(unsigned long long)g->st[i].bytes);
}

static void guard_show_json(struct tpctl_ctx *ctx,
			    const struct tpctl_guard_state *g)
{
	struct tp_json *j = &ctx->json;
	unsigned int i;

	tp_json_obj_open(j);
	tp_json_key(j, "ports");
	tp_json_arr_open(j);
	for (i = 0; i < g->cfg.n_ports && i < TP_GUARD_MAX_PORTS; i++)
		tp_json_u64(j, ntohs(g->cfg.ports[i]));
	tp_json_arr_close(j);
	tp_json_kv_u64(j, "rate", g->cfg.rate);
	tp_json_kv_u64(j, "burst", g->cfg.burst);
	tp_json_kv_u64(j, "prefixes", g->prefixes);
	tp_json_kv_u64(j, "sources", g->sources);
	tp_json_kv_u64(j, "max_sources", g->max_sources);
	tp_json_key(j, "counters");
	tp_json_obj_open(j);
	for (i = 0; i < 3; i++) {
		tp_json_key(j, guard_counter_keys[i]);
		tp_json_obj_open(j);
		tp_json_kv_u64(j, "packets", g->st[i].packets);
		tp_json_kv_u64(j, "bytes", g->st[i].bytes);
		tp_json_obj_close(j);
	}
	tp_json_obj_close(j);
	tp_json_obj_close(j);
}

/** tpctl_guard_show() - the guard's settings and counters. */
int tpctl_guard_show(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	static const __u32 ids[3] = { TP_STAT_GUARD_PASS, TP_STAT_GUARD_LISTED,
				      TP_STAT_GUARD_RATE_LIMITED };
	const struct tp_maps *m = tpctl_maps(ctx);
	struct tpctl_guard_state g = {};
	unsigned int i;

	if (!m)
		return -1;
	if (tp_guard_config_get(m, &g.cfg))
		return tpctl_err(ctx, "cannot read " TP_MAP_GUARD_CONFIG ": %s",
				 strerror(errno));
	g.prefixes = guard_count(m->guard_drop, sizeof(struct tp_guard_key));
	g.sources = guard_count(m->guard_buckets, sizeof(struct tp_addr));
	g.max_sources = tp_map_max_entries(m->guard_buckets);
	for (i = 0; i < 3; i++)
		tpctl_percpu_sum(m->stats, ids[i], &g.st[i]);
	if (ctx->opts.json)
		guard_show_json(ctx, &g);
	else
		guard_show_plain(ctx, &g);
	return 0;
}
