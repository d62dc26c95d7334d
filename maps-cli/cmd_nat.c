// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * nat: static 1:1 NAT entries (tp_static_nat, tp_static_nat_rev) through
 * lib/static_nat.c, which checks them both ways before writing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "static_nat.h"
#include "table.h"
#include "tpctl.h"

static const char *zone_str(__u16 zone, char *buf, size_t len)
{
	if (!zone)
		return "any";
	snprintf(buf, len, "%u", zone);
	return buf;
}

/**
 * tpctl_nat_static_add() - `nat static add TAILNET_ADDR INNER_ADDR [zone ZONE]`.
 */
int tpctl_nat_static_add(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	struct tp_static_nat_entry e = { .tailnet = a->nat_tailnet,
					 .inner = a->nat_inner,
					 .owner = TP_OWNER_TPCTL };
	char why[256];
	int err;

	if (a->zone && tpctl_zone_resolve(ctx, a->zone, true, &e.zone))
		return -1;
	err = tp_static_nat_add(&ctx->maps, &e, why, sizeof(why));
	if (err)
		return tpctl_err(ctx, "%s", why[0] ? why : strerror(-err));
	return tpctl_ok(ctx);
}

/** tpctl_nat_static_del() - `nat static del TAILNET_ADDR [zone ZONE]`. */
int tpctl_nat_static_del(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	char addr[TP_ADDR_STRLEN], z[16];
	__u16 zone = 0;
	int err;

	if (a->zone && tpctl_zone_resolve(ctx, a->zone, true, &zone))
		return -1;
	tp_addr_format(&a->nat_tailnet, addr, sizeof(addr));
	err = tp_static_nat_del(&ctx->maps, zone, !a->zone, &a->nat_tailnet,
				NULL);
	if (err == -ENOENT && a->zone)
		return tpctl_err(ctx, "no static NAT entry for %s in zone %s",
				 addr, zone_str(zone, z, sizeof(z)));
	if (err == -ENOENT)
		return tpctl_err(ctx, "no static NAT entry for %s", addr);
	if (err == -EEXIST)
		return tpctl_err(
			ctx,
			"%s has static NAT entries in several zones: name one with 'zone ZONE'",
			addr);
	if (err)
		return tpctl_err(ctx,
				 "cannot delete the static NAT entry of %s: %s",
				 addr, strerror(-err));
	return tpctl_ok(ctx);
}

static const struct tpctl_col nat_cols[] = {
	{ "ZONE", true },
	{ "TAILNET" },
	{ "INNER" },
	{ "OWNER" },
};

static void nat_plain(struct tpctl_ctx *ctx,
		      const struct tp_static_nat_entry *es, size_t n)
{
	char t[TP_ADDR_STRLEN], in[TP_ADDR_STRLEN], z[16];
	struct tpctl_table tb;
	size_t i;

	tpctl_table_init(&tb, nat_cols, sizeof(nat_cols) / sizeof(nat_cols[0]));
	for (i = 0; i < n; i++) {
		tpctl_table_cell(&tb, "%s", zone_str(es[i].zone, z, sizeof(z)));
		tpctl_table_cell(&tb, "%s",
				 tp_addr_format(&es[i].tailnet, t, sizeof(t)));
		tpctl_table_cell(&tb, "%s",
				 tp_addr_format(&es[i].inner, in, sizeof(in)));
		tpctl_table_cell(&tb, "%s", tp_owner_name(es[i].owner));
	}
	tpctl_table_print(&tb, ctx->out);
	tpctl_table_free(&tb);
}

/* {"static": [...]}: an object, so other kinds of NAT state can join it. */
static void nat_json(struct tpctl_ctx *ctx,
		     const struct tp_static_nat_entry *es, size_t n)
{
	char addr[TP_ADDR_STRLEN];
	struct tp_json *j = &ctx->json;
	size_t i;

	tp_json_obj_open(j);
	tp_json_key(j, "static");
	tp_json_arr_open(j);
	for (i = 0; i < n; i++) {
		tp_json_obj_open(j);
		tp_json_kv_u64(j, "zone", es[i].zone);
		tp_json_kv_str(
			j, "tailnet",
			tp_addr_format(&es[i].tailnet, addr, sizeof(addr)));
		tp_json_kv_str(
			j, "inner",
			tp_addr_format(&es[i].inner, addr, sizeof(addr)));
		tp_json_kv_str(j, "owner", tp_owner_name(es[i].owner));
		tp_json_obj_close(j);
	}
	tp_json_arr_close(j);
	tp_json_obj_close(j);
}

/** tpctl_nat_list() - `nat list`, `nat static list`: the static entries. */
int tpctl_nat_list(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	const struct tp_maps *m = tpctl_maps(ctx);
	struct tp_static_nat_entry *es;
	size_t n;
	int err;

	if (!m)
		return -1;
	err = tp_static_nat_list(m, &es, &n);
	if (err)
		return tpctl_err(ctx, "cannot read the static NAT entries: %s",
				 strerror(-err));
	if (ctx->opts.json)
		nat_json(ctx, es, n);
	else
		nat_plain(ctx, es, n);
	free(es);
	return 0;
}
