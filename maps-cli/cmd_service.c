// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * service and backend: every change goes through lib/service.c's
 * tp_service_set(), which writes new backends, then a new Maglev table
 * and the service entry in the order that keeps lookups inside the live
 * table, and deletes dropped backends only after.  In a batch the same
 * write is staged (tp_service_stage()) and the table built at the end.  A backend command reads the service's current backends,
 * changes the list and sets it whole, keeping the service's attributes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "flags.h"
#include "names.h"
#include "service.h"
#include "table.h"
#include "tpctl.h"

/**
 * struct tpctl_svc_state - a service as it is now, as tp_service_set()
 * input.
 * @svc: the service entry.
 * @be:  its backends.
 * @n:   their number.
 * @old_ids: the backends' ids as read (tp_service_stage_known()).
 * @old:     the backends as read.
 * @n_old:   how many were read (the service has none when it is new).
 */
struct tpctl_svc_state {
	struct tp_svc svc;
	struct tp_backend_spec be[TP_MAX_SVC_BACKENDS];
	size_t n;
	__u32 old_ids[TP_MAX_SVC_BACKENDS];
	struct tp_backend old[TP_MAX_SVC_BACKENDS];
	size_t n_old;
};

static const char *svc_str(const struct tp_svc_key *k, char *buf)
{
	return tp_svc_key_format(k, buf, TP_SVC_STRLEN);
}

/* The service @key and its backends; -ENOENT when there is none. */
static int svc_load(struct tpctl_ctx *ctx, const struct tp_svc_key *key,
		    struct tpctl_svc_state *st)
{
	const struct tp_maps *m = &ctx->maps;
	struct tp_backend *bes = st->old;
	char name[TP_SVC_STRLEN];
	int n, i;

	memset(st, 0, sizeof(*st));
	if (bpf_map_lookup_elem(m->services, key, &st->svc))
		return -ENOENT;
	n = tp_service_backends(m, st->svc.id, st->old_ids, bes,
				TP_MAX_SVC_BACKENDS);
	if (n < 0)
		return tpctl_err(ctx, "cannot read the backends of %s: %s",
				 svc_str(key, name), strerror(-n));
	if (n > TP_MAX_SVC_BACKENDS)
		return tpctl_err(
			ctx,
			"service %s has %d backends, more than the %d a service can have",
			svc_str(key, name), n, TP_MAX_SVC_BACKENDS);
	for (i = 0; i < n; i++) {
		st->be[i].addr = bes[i].addr;
		st->be[i].port = bes[i].port;
		st->be[i].weight = bes[i].weight;
		st->be[i].state = bes[i].state;
	}
	st->n = n;
	st->n_old = n;
	return 0;
}

static int svc_load_existing(struct tpctl_ctx *ctx,
			     const struct tp_svc_key *key,
			     struct tpctl_svc_state *st)
{
	char name[TP_SVC_STRLEN];
	int err = svc_load(ctx, key, st);

	if (err == -ENOENT)
		return tpctl_err(ctx,
				 "no service %s (add it with 'service add')",
				 svc_str(key, name));
	return err;
}

static int svc_set(struct tpctl_ctx *ctx, const struct tp_svc_key *key,
		   const struct tp_svc_spec *spec,
		   const struct tpctl_svc_state *st)
{
	struct tp_svc_current cur = { .svc_id = st->svc.id,
				      .ids = st->old_ids,
				      .bes = st->old,
				      .n = st->n_old };
	char name[TP_SVC_STRLEN], why[256];
	int err;

	/* in a batch the table is built once, at its end (cmd_batch.c) */
	if (ctx->svc_batch)
		err = tp_service_stage_known(&ctx->maps, ctx->svc_batch, key,
					     spec, st->be, st->n, ctx->line_no,
					     st->svc.id ? &cur : NULL);
	else
		err = tp_service_set(&ctx->maps, key, spec, st->be, st->n);

	svc_str(key, name);
	switch (err) {
	case 0:
		return tpctl_ok(ctx);
	case -E2BIG:
		return tpctl_err(
			ctx,
			"service %s cannot have more than %d backends "
			"(TP_MAX_SVC_BACKENDS; no configuration key raises it yet)",
			name, TP_MAX_SVC_BACKENDS);
	case -ENOSPC:
		/* which of the service or backend ids ran out, and what raises it */
		return tpctl_err(ctx, "cannot write service %s: %s", name,
				 tp_strerror(err, why, sizeof(why)));
	default:
		/* refused input: lib/service.c's reason, as every writer gives it */
		if (tp_service_check(key, st->be, st->n, why, sizeof(why)))
			return tpctl_err(ctx, "cannot write service %s: %s",
					 name, why);
		return tpctl_err(ctx, "cannot write service %s: %s", name,
				 strerror(-err));
	}
}

/* The attributes a service keeps when only its backends change. */
static void svc_spec_of(const struct tp_svc *svc, struct tp_svc_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->flags = svc->flags;
	spec->zone = svc->zone;
	spec->affinity_timeout = svc->affinity_timeout;
	spec->owner = TP_OWNER_TPCTL;
}

/**
 * tpctl_service_add() - create a service, or set the attributes of an
 * existing one (its backends stay).
 */
int tpctl_service_add(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	struct tpctl_svc_state *st = calloc(1, sizeof(*st));
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	int ret = -1, err;

	if (!st)
		return tpctl_err(ctx, "out of memory");
	if (a->zone && tpctl_zone_resolve(ctx, a->zone, true, &spec.zone))
		goto cleanup;
	if (a->has & TPCTL_HAS_AFFINITY) {
		spec.flags |= TP_SVC_F_AFFINITY;
		spec.affinity_timeout = a->affinity;
	}
	if (a->has & TPCTL_HAS_SNAT)
		spec.flags |= TP_SVC_F_SNAT;
	err = svc_load(ctx, &a->svc, st);
	if (err && err != -ENOENT)
		goto cleanup;
	ret = svc_set(ctx, &a->svc, &spec, st);
cleanup:
	free(st);
	return ret;
}

/*
 * tpctl_service_del() - remove a service and its backends; in a batch,
 * the backends and the table's space go at its flush, one grace period
 * for every service the batch removes.
 */
int tpctl_service_del(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	char name[TP_SVC_STRLEN];
	int err = ctx->svc_batch ? tp_service_del_staged(
					   &ctx->maps, ctx->svc_batch, &a->svc)
				 : tp_service_del(&ctx->maps, &a->svc);

	if (err == -ENOENT)
		return tpctl_err(ctx, "no service %s", svc_str(&a->svc, name));
	if (err)
		return tpctl_err(ctx, "cannot delete service %s: %s",
				 svc_str(&a->svc, name), strerror(-err));
	return tpctl_ok(ctx);
}

/* Index of the backend @a names in @st, or -1. */
static int be_find(const struct tpctl_svc_state *st, const struct tpctl_args *a)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		if (!memcmp(&st->be[i].addr, &a->be_addr, sizeof(a->be_addr)) &&
		    st->be[i].port == htons(a->be_port))
			return (int)i;
	return -1;
}

static const char *be_str(const struct tpctl_args *a, char *buf)
{
	if (a->svc.proto == IPPROTO_TCP || a->svc.proto == IPPROTO_UDP)
		return tp_endpoint_format(&a->be_addr, a->be_port, buf,
					  TP_ENDPOINT_STRLEN);
	return tp_addr_format(&a->be_addr, buf, TP_ENDPOINT_STRLEN);
}

/*
 * Load the service, let @edit change its backend list, write it back
 * with the service's attributes unchanged.
 */
static int be_edit(struct tpctl_ctx *ctx, const struct tpctl_args *a,
		   int (*edit)(struct tpctl_ctx *ctx,
			       const struct tpctl_args *a,
			       struct tpctl_svc_state *st, int i))
{
	struct tpctl_svc_state *st = calloc(1, sizeof(*st));
	struct tp_svc_spec spec;
	int ret = -1;

	if (!st)
		return tpctl_err(ctx, "out of memory");
	if (svc_load_existing(ctx, &a->svc, st))
		goto cleanup;
	if (edit(ctx, a, st, be_find(st, a)))
		goto cleanup;
	svc_spec_of(&st->svc, &spec);
	ret = svc_set(ctx, &a->svc, &spec, st);
cleanup:
	free(st);
	return ret;
}

static int be_do_add(struct tpctl_ctx *ctx, const struct tpctl_args *a,
		     struct tpctl_svc_state *st, int i)
{
	char be[TP_ENDPOINT_STRLEN], svc[TP_SVC_STRLEN];

	if (i >= 0)
		return tpctl_err(
			ctx,
			"backend %s is already in %s: use 'backend set' to change it",
			be_str(a, be), svc_str(&a->svc, svc));
	if (st->n >= TP_MAX_SVC_BACKENDS)
		return tpctl_err(
			ctx,
			"service %s already has %d backends, the most a service can have",
			svc_str(&a->svc, svc), TP_MAX_SVC_BACKENDS);
	memset(&st->be[st->n], 0, sizeof(st->be[st->n]));
	st->be[st->n].addr = a->be_addr;
	st->be[st->n].port = htons(a->be_port);
	st->be[st->n].weight = a->weight;
	st->be[st->n].state = a->state;
	st->n++;
	return 0;
}

static int be_missing(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	char be[TP_ENDPOINT_STRLEN], svc[TP_SVC_STRLEN];

	return tpctl_err(ctx, "no backend %s in %s", be_str(a, be),
			 svc_str(&a->svc, svc));
}

static int be_do_set(struct tpctl_ctx *ctx, const struct tpctl_args *a,
		     struct tpctl_svc_state *st, int i)
{
	if (i < 0)
		return be_missing(ctx, a);
	if (a->has & TPCTL_HAS_WEIGHT)
		st->be[i].weight = a->weight;
	if (a->has & TPCTL_HAS_STATE)
		st->be[i].state = a->state;
	return 0;
}

static int be_do_del(struct tpctl_ctx *ctx, const struct tpctl_args *a,
		     struct tpctl_svc_state *st, int i)
{
	if (i < 0)
		return be_missing(ctx, a);
	st->be[i] = st->be[--st->n];
	return 0;
}

/** tpctl_backend_add() - add a backend to a service. */
int tpctl_backend_add(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	return be_edit(ctx, a, be_do_add);
}

/** tpctl_backend_set() - change a backend's weight or state. */
int tpctl_backend_set(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	return be_edit(ctx, a, be_do_set);
}

/** tpctl_backend_del() - remove a backend from a service. */
int tpctl_backend_del(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	return be_edit(ctx, a, be_do_del);
}

/* ---- list --------------------------------------------------------------- */

static int svc_row_cmp(const void *pa, const void *pb)
{
	const struct tpctl_svc_row *a = pa, *b = pb;

	return memcmp(&a->key, &b->key, sizeof(a->key));
}

static int be_row_cmp(const void *pa, const void *pb)
{
	const struct tpctl_be_row *a = pa, *b = pb;

	if (a->be.svc_id != b->be.svc_id)
		return a->be.svc_id < b->be.svc_id ? -1 : 1;
	return memcmp(&a->be.addr, &b->be.addr,
		      sizeof(a->be.addr) + sizeof(a->be.port));
}

/* The rows of the backends of service @svc_id in sorted @bes. */
static const struct tpctl_be_row *be_rows_of(const struct tpctl_be_row *bes,
					     size_t n, __u32 svc_id,
					     size_t *count)
{
	size_t i = 0, j;

	while (i < n && bes[i].be.svc_id < svc_id)
		i++;
	for (j = i; j < n && bes[j].be.svc_id == svc_id; j++)
		;
	*count = j - i;
	return bes + i;
}

static char *be_endpoint(const struct tp_svc_key *k, const struct tp_backend *b,
			 char *buf)
{
	if (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP)
		return tp_endpoint_format(&b->addr, ntohs(b->port), buf,
					  TP_ENDPOINT_STRLEN);
	return tp_addr_format(&b->addr, buf, TP_ENDPOINT_STRLEN);
}

static void svc_json(struct tp_json *j, const struct tpctl_svc_row *s,
		     const struct tpctl_be_row *bes, size_t n)
{
	char buf[TP_SVC_STRLEN], num[4];
	size_t i;

	tp_json_obj_open(j);
	tp_json_kv_str(j, "service", svc_str(&s->key, buf));
	tpctl_json_addr_port(j, "vip", "port", &s->key.vip, s->key.port);
	tp_json_kv_str(j, "proto",
		       tp_proto_name(s->key.proto, num, sizeof(num)));
	tp_json_kv_u64(j, "id", s->svc.id);
	tp_json_kv_u64(j, "zone", s->svc.zone);
	tp_json_kv_bool(j, "affinity", s->svc.flags & TP_SVC_F_AFFINITY);
	tp_json_kv_u64(j, "affinity_timeout", s->svc.affinity_timeout);
	tp_json_kv_bool(j, "snat", s->svc.flags & TP_SVC_F_SNAT);
	tp_json_kv_u64(j, "active", s->svc.active);
	tp_json_kv_u64(j, "table_size", s->svc.table_size);
	tp_json_kv_str(j, "owner", tp_owner_name(s->svc.owner));
	tp_json_kv_u64(j, "revision", s->svc.revision);
	tp_json_key(j, "backends");
	tp_json_arr_open(j);
	for (i = 0; i < n; i++) {
		tp_json_obj_open(j);
		tp_json_kv_u64(j, "id", bes[i].id);
		tpctl_json_addr_port(j, "addr", "port", &bes[i].be.addr,
				     bes[i].be.port);
		tp_json_kv_u64(j, "weight", bes[i].be.weight);
		tp_json_kv_str(j, "state",
			       tp_backend_state_name(bes[i].be.state));
		tp_json_kv_str(j, "owner", tp_owner_name(bes[i].be.owner));
		tp_json_obj_close(j);
	}
	tp_json_arr_close(j);
	tp_json_obj_close(j);
}

static const struct tpctl_col svc_cols[] = {
	{ "SERVICE" },	    { "ID", true }, { "ZONE" },	   { "AFFINITY" },
	{ "FLAGS" },	    { "OWNER" },    { "BACKEND" }, { "BE-ID", true },
	{ "WEIGHT", true }, { "STATE" },
};

/* The service's own columns: frontend, id, zone, affinity, flags, owner. */
static void svc_cells(struct tpctl_table *t, const struct tpctl_svc_row *s)
{
	char buf[TP_SVC_STRLEN], dur[TPCTL_UNIT_STRLEN], flags[32];

	tpctl_table_cell(t, "%s", svc_str(&s->key, buf));
	tpctl_table_cell(t, "%u", s->svc.id);
	if (s->svc.zone)
		tpctl_table_cell(t, "%u", s->svc.zone);
	else
		tpctl_table_cell(t, "all");
	if (s->svc.flags & TP_SVC_F_AFFINITY)
		tpctl_fmt_duration(s->svc.affinity_timeout, dur, sizeof(dur));
	else
		snprintf(dur, sizeof(dur), "-");
	tpctl_table_cell(t, "%s", dur);
	tpctl_table_cell(
		t, "%s",
		tpctl_svc_flags_str(s->svc.flags, flags, sizeof(flags)));
	tpctl_table_cell(t, "%s", tp_owner_name(s->svc.owner));
}

#define SVC_OWN_COLS 6 /* the columns svc_cells() fills */

static void be_cells(struct tpctl_table *t, const struct tp_svc_key *k,
		     const struct tpctl_be_row *b)
{
	char buf[TP_ENDPOINT_STRLEN];

	tpctl_table_cell(t, "%s", be_endpoint(k, &b->be, buf));
	tpctl_table_cell(t, "%u", b->id);
	tpctl_table_cell(t, "%u", b->be.weight);
	tpctl_table_cell(t, "%s", tp_backend_state_name(b->be.state));
}

/* A service on one row per backend, its own columns on the first. */
static void svc_rows_plain(struct tpctl_table *t, const struct tpctl_svc_row *s,
			   const struct tpctl_be_row *bes, size_t n)
{
	size_t i;

	svc_cells(t, s);
	if (!n) {
		tpctl_table_cell(t, "(no backends)");
		tpctl_table_blank(t, 3);
		return;
	}
	for (i = 0; i < n; i++) {
		if (i)
			tpctl_table_blank(t, SVC_OWN_COLS);
		be_cells(t, &s->key, &bes[i]);
	}
}

/**
 * tpctl_services_render() - the output of `service list`.
 * @ctx:    the context (output, JSON or plain).
 * @svcs:   the services, sorted by frontend.
 * @n_svcs: their number.
 * @bes:    every backend, sorted by service id, then address and port.
 * @n_bes:  their number.
 */
void tpctl_services_render(struct tpctl_ctx *ctx,
			   const struct tpctl_svc_row *svcs, size_t n_svcs,
			   const struct tpctl_be_row *bes, size_t n_bes)
{
	const struct tpctl_be_row *mine;
	struct tpctl_table t;
	size_t i, n;

	if (ctx->opts.json) {
		tp_json_arr_open(&ctx->json);
		for (i = 0; i < n_svcs; i++) {
			mine = be_rows_of(bes, n_bes, svcs[i].svc.id, &n);
			svc_json(&ctx->json, &svcs[i], mine, n);
		}
		tp_json_arr_close(&ctx->json);
		return;
	}
	tpctl_table_init(&t, svc_cols, sizeof(svc_cols) / sizeof(svc_cols[0]));
	for (i = 0; i < n_svcs; i++) {
		mine = be_rows_of(bes, n_bes, svcs[i].svc.id, &n);
		svc_rows_plain(&t, &svcs[i], mine, n);
	}
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
}

static int svc_collect(const struct tp_maps *m, struct tpctl_svc_row **rows,
		       size_t *n)
{
	return TP_MAP_COLLECT_SORTED(m->services, struct tpctl_svc_row, key,
				     svc, rows, n, svc_row_cmp);
}

static int be_collect(const struct tp_maps *m, struct tpctl_be_row **rows,
		      size_t *n)
{
	return TP_MAP_COLLECT_SORTED(m->backends, struct tpctl_be_row, id, be,
				     rows, n, be_row_cmp);
}

/** tpctl_service_list() - every service with its backends. */
int tpctl_service_list(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	const struct tp_maps *m = tpctl_maps(ctx);
	struct tpctl_svc_row *svcs = NULL;
	struct tpctl_be_row *bes = NULL;
	size_t n_svcs = 0, n_bes = 0;
	const char *map = TP_MAP_SERVICES;
	char why[256];
	int ret = -1, err;

	if (!m)
		return -1;
	err = svc_collect(m, &svcs, &n_svcs);
	if (!err) {
		map = TP_MAP_BACKENDS;
		err = be_collect(m, &bes, &n_bes);
	}
	if (err) {
		tpctl_err(ctx, "cannot read %s: %s", map,
			  tp_strerror(err, why, sizeof(why)));
		goto cleanup;
	}
	tpctl_services_render(ctx, svcs, n_svcs, bes, n_bes);
	ret = 0;
cleanup:
	free(bes);
	free(svcs);
	return ret;
}
