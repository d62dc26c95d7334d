// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * identity: prefixes of a zone -> identity (tp_identity) and identity ->
 * name (tp_id_names), through lib/identity.c, which bumps the policy
 * revision so established flows are decided again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "identity.h"
#include "names.h"
#include "table.h"
#include "tpctl.h"

static const char *prefix_str(const struct tpctl_args *a, char *buf)
{
	return tp_prefix_format(&a->prefix, a->plen, buf, TP_PREFIX_STRLEN);
}

/* Set the name of @id, keeping the old one in @old for a rollback. */
static int id_name_set(struct tpctl_ctx *ctx, __u32 id, const char *name,
		       struct tp_identity_name *old, bool *had_old)
{
	const struct tp_maps *m = &ctx->maps;
	char why[256];
	__u32 other;
	int err;

	*had_old = !bpf_map_lookup_elem(m->id_names, &id, old);
	err = tp_identity_name_set(m, id, name, TP_OWNER_TPCTL);
	if (err == -EEXIST && !tp_identity_parse(m, name, &other))
		return tpctl_err(ctx, "name '%s' is already identity %u", name,
				 other);
	if (err == -EINVAL)
		return tpctl_err(
			ctx,
			"cannot name identity %u: only user identities (%d and up) have names",
			id, TP_ID_USER_MIN);
	if (err)
		return tpctl_err(ctx, "cannot name identity %u: %s", id,
				 tp_strerror(err, why, sizeof(why)));
	return 0;
}

static void id_name_restore(struct tpctl_ctx *ctx, __u32 id,
			    const struct tp_identity_name *old, bool had_old)
{
	/* through lib/identity.c: tp_id_by_name follows */
	if (had_old)
		tp_identity_name_set(&ctx->maps, id, old->name, old->owner);
	else
		tp_identity_name_del(&ctx->maps, id);
}

/**
 * tpctl_identity_add() - give a prefix an identity (and the identity a
 * name).  Either both are written or neither.
 */
int tpctl_identity_add(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	struct tp_identity_name old;
	char pfx[TP_PREFIX_STRLEN], why[256];
	bool had_old = false;
	__u16 zone = 0;
	__u32 id;
	int err;

	if (a->zone && tpctl_zone_resolve(ctx, a->zone, false, &zone))
		return -1;
	if (tpctl_identity_resolve(ctx, a->id, false, &id))
		return -1;
	if (a->name && id_name_set(ctx, id, a->name, &old, &had_old))
		return -1;
	err = tp_identity_set(&ctx->maps, zone, &a->prefix, a->plen, id,
			      TP_OWNER_TPCTL);
	if (err) {
		if (a->name)
			id_name_restore(ctx, id, &old, had_old);
		return tpctl_err(ctx,
				 "cannot set identity of %s in zone %u: %s",
				 prefix_str(a, pfx), zone,
				 tp_strerror(err, why, sizeof(why)));
	}
	return tpctl_ok(ctx);
}

/** tpctl_identity_del() - remove a prefix of a zone. */
int tpctl_identity_del(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	char pfx[TP_PREFIX_STRLEN];
	__u16 zone = 0;
	int err;

	if (a->zone && tpctl_zone_resolve(ctx, a->zone, false, &zone))
		return -1;
	err = tp_identity_del(&ctx->maps, zone, &a->prefix, a->plen,
			      TP_OWNER_NONE);
	if (err == -ENOENT)
		return tpctl_err(ctx, "no identity for %s in zone %u",
				 prefix_str(a, pfx), zone);
	if (err)
		return tpctl_err(ctx, "cannot delete %s in zone %u: %s",
				 prefix_str(a, pfx), zone, strerror(-err));
	return tpctl_ok(ctx);
}

static int id_row_cmp(const void *pa, const void *pb)
{
	const struct tpctl_id_row *a = pa, *b = pb;
	int c;

	if (a->key.zone != b->key.zone)
		return a->key.zone < b->key.zone ? -1 : 1;
	c = memcmp(&a->key.addr, &b->key.addr, sizeof(a->key.addr));
	if (c)
		return c;
	if (a->key.prefixlen < b->key.prefixlen)
		return -1;
	return a->key.prefixlen > b->key.prefixlen;
}

static const struct tpctl_col id_cols[] = {
	{ "ZONE", true }, { "PREFIX" }, { "ID", true }, { "NAME" }, { "OWNER" },
};

static void id_plain(struct tpctl_ctx *ctx, const struct tp_maps *m,
		     const struct tpctl_id_row *rows, size_t n)
{
	char pfx[TP_PREFIX_STRLEN], name[TP_IDENTITY_NAME_LEN], num[16];
	struct tpctl_table t;
	size_t i;

	tpctl_table_init(&t, id_cols, sizeof(id_cols) / sizeof(id_cols[0]));
	for (i = 0; i < n; i++) {
		tpctl_table_cell(&t, "%u", rows[i].key.zone);
		tpctl_table_cell(&t, "%s",
				 tp_prefix_format(&rows[i].key.addr,
						  rows[i].key.prefixlen - 32,
						  pfx, sizeof(pfx)));
		tpctl_table_cell(&t, "%u", rows[i].val.id);
		tp_identity_name(m, rows[i].val.id, name, sizeof(name));
		snprintf(num, sizeof(num), "%u", rows[i].val.id);
		tpctl_table_cell(&t, "%s", strcmp(name, num) ? name : "-");
		tpctl_table_cell(&t, "%s", tp_owner_name(rows[i].val.owner));
	}
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
}

static void id_json(struct tpctl_ctx *ctx, const struct tp_maps *m,
		    const struct tpctl_id_row *rows, size_t n)
{
	char pfx[TP_PREFIX_STRLEN];
	struct tp_json *j = &ctx->json;
	size_t i;

	tp_json_arr_open(j);
	for (i = 0; i < n; i++) {
		tp_json_obj_open(j);
		tp_json_kv_u64(j, "zone", rows[i].key.zone);
		tp_json_kv_str(j, "prefix",
			       tp_prefix_format(&rows[i].key.addr,
						rows[i].key.prefixlen - 32, pfx,
						sizeof(pfx)));
		tpctl_json_identity(j, "identity", m, rows[i].val.id);
		tp_json_kv_str(j, "owner", tp_owner_name(rows[i].val.owner));
		tp_json_obj_close(j);
	}
	tp_json_arr_close(j);
}

/**
 * tpctl_identities_render() - the output of `identity list`.
 * @ctx:  the context.
 * @m:    maps for identity names (NULL: numbers and reserved names).
 * @rows: the prefixes, sorted by zone, address, length.
 * @n:    their number.
 */
void tpctl_identities_render(struct tpctl_ctx *ctx, const struct tp_maps *m,
			     const struct tpctl_id_row *rows, size_t n)
{
	if (ctx->opts.json)
		id_json(ctx, m, rows, n);
	else
		id_plain(ctx, m, rows, n);
}

static int id_collect(const struct tp_maps *m, struct tpctl_id_row **rows,
		      size_t *n)
{
	return TP_MAP_COLLECT_SORTED(m->identity, struct tpctl_id_row, key, val,
				     rows, n, id_row_cmp);
}

/** tpctl_identity_list() - every prefix with its identity. */
int tpctl_identity_list(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	const struct tp_maps *m = tpctl_maps(ctx);
	struct tpctl_id_row *rows = NULL;
	char why[256];
	size_t n;
	int err;

	if (!m)
		return -1;
	err = id_collect(m, &rows, &n);
	if (err)
		return tpctl_err(ctx, "cannot read %s: %s", TP_MAP_IDENTITY,
				 tp_strerror(err, why, sizeof(why)));
	tpctl_identities_render(ctx, m, rows, n);
	free(rows);
	return 0;
}
