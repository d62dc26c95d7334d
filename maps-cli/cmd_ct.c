// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * conntrack: the flows of tp_ct and tp_ct_any.  Each flow has a flow entry
 * under its original tuple, and DNAT and zone-crossing flows a reply-key
 * entry (TP_CT_F_REPLY_KEY) under a reply tuple, SNAT flows one under
 * the tuple toward the node's SNAT address, except DNAT flows with
 * TP_CT_F_RINDEX (flag "rindex"), found through tp_be_frontends
 * (docs/datapath.md);
 * listing shows live flow entries, flushing deletes every entry of each
 * matching flow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "array.h"
#include "conntrack.h"
#include "flags.h"
#include "names.h"
#include "table.h"
#include "tpctl.h"

#define NSEC_PER_SEC 1000000000ULL

/** tpctl_now_ns() - CLOCK_MONOTONIC, the datapath's clock, in ns. */
__u64 tpctl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * NSEC_PER_SEC + (__u64)ts.tv_nsec;
}

/**
 * struct tpctl_ct_filter - which flows a command is about.
 * @a:      the parsed filters (src, dst, service, backend).
 * @svc_id: with TPCTL_HAS_SVC, the service's id.
 */
struct tpctl_ct_filter {
	const struct tpctl_args *a;
	__u32 svc_id;
};

static bool ct_match(const struct tpctl_ct_filter *f, const struct tp_ct_key *k,
		     const struct tp_ct_entry *e)
{
	const struct tpctl_args *a = f->a;
	bool dnat = e->flags & TP_CT_F_DNAT;

	if ((a->has & TPCTL_HAS_SRC) &&
	    !tp_prefix_contains(&a->src, a->src_plen, &k->saddr))
		return false;
	if ((a->has & TPCTL_HAS_DST) &&
	    !tp_prefix_contains(&a->dst, a->dst_plen, &k->daddr) &&
	    !(dnat && tp_prefix_contains(&a->dst, a->dst_plen, &e->nat_addr)))
		return false;
	if ((a->has & TPCTL_HAS_SVC) && e->svc_id != f->svc_id)
		return false;
	if ((a->has & TPCTL_HAS_BACKEND) &&
	    (!dnat || memcmp(&e->nat_addr, &a->be_addr, sizeof(a->be_addr)) ||
	     (a->be_port && e->nat_port != htons(a->be_port))))
		return false;
	return true;
}

static int ct_filter_init(struct tpctl_ctx *ctx, const struct tpctl_args *a,
			  struct tpctl_ct_filter *f)
{
	char name[TP_SVC_STRLEN];
	struct tp_svc svc;

	f->a = a;
	f->svc_id = 0;
	if (!(a->has & TPCTL_HAS_SVC))
		return 0;
	if (bpf_map_lookup_elem(ctx->maps.services, &a->svc, &svc))
		return tpctl_err(
			ctx, "no service %s",
			tp_svc_key_format(&a->svc, name, sizeof(name)));
	f->svc_id = svc.id;
	return 0;
}

static int ct_row_cmp(const void *pa, const void *pb)
{
	const struct tpctl_ct_row *a = pa, *b = pb;

	if (a->e.created_s < b->e.created_s)
		return -1;
	return a->e.created_s > b->e.created_s;
}

/* Live flow entries of one conntrack table matching @f, appended to @r. */
static int ct_collect_table(int fd, const struct tpctl_ct_filter *f,
			    const struct tp_config *cfg, __u64 now,
			    struct tpctl_ct_row **r, size_t *n, size_t *cap)
{
	const struct tp_addr *snat;
	struct tp_ct_key k, next, *prev = NULL;
	struct tp_ct_entry e;
	size_t steps = 0, max_steps = 4 * (size_t)tp_map_max_entries(fd);

	/* an LRU under churn can restart the walk: bound it by its size */
	while (steps++ < max_steps && !bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &e) ||
		    (e.flags & TP_CT_F_REPLY_KEY) ||
		    e.expires_s <= TP_CT_SEC(now) || !ct_match(f, &k, &e))
			continue;
		if (tp_array_grow((void **)r, cap, *n + 1, sizeof(**r), 256))
			return -ENOMEM;
		memset(&(*r)[*n], 0, sizeof(**r));
		snat = (e.flags & TP_CT_F_SNAT) ? tp_ct_snat_addr(&k, &e, cfg)
						: NULL;
		if (snat)
			(*r)[*n].snat_addr = *snat;
		(*r)[*n].key = k;
		(*r)[(*n)++].e = e;
	}
	return 0;
}

/* Live flow entries of tp_ct and tp_ct_any matching @f, oldest first. */
static int ct_collect(const struct tp_maps *m, const struct tpctl_ct_filter *f,
		      __u64 now, struct tpctl_ct_row **rows, size_t *n)
{
	struct tpctl_ct_row *r = NULL;
	struct tp_config buf;
	const struct tp_config *cfg = tp_ct_config(m, &buf);
	size_t cap = 0;

	*n = 0;
	if (ct_collect_table(m->ct, f, cfg, now, &r, n, &cap) ||
	    ct_collect_table(m->ct_any, f, cfg, now, &r, n, &cap)) {
		free(r);
		return -ENOMEM;
	}
	if (*n)
		qsort(r, *n, sizeof(*r), ct_row_cmp);
	*rows = r;
	return 0;
}

static const struct tpctl_col ct_cols[] = {
	{ "PROTO" },	     { "ZONE", true },	  { "SOURCE" },
	{ "SNAT" },	     { "DESTINATION" },	  { "BACKEND" },
	{ "STATE" },	     { "FROM" },	  { "TO" },
	{ "VERDICT" },	     { "PACKETS", true }, { "BYTES", true },
	{ "EXPIRES", true },
};

static void ct_plain_row(struct tpctl_table *t, const struct tp_maps *m,
			 const struct tpctl_ct_row *r, __u64 now)
{
	const struct tp_ct_entry *e = &r->e;
	char buf[TP_ENDPOINT_STRLEN], u1[TPCTL_UNIT_STRLEN],
		u2[TPCTL_UNIT_STRLEN];
	char id[TP_IDENTITY_NAME_LEN + 16];

	tpctl_table_cell(t, "%s",
			 tp_proto_name(r->key.proto, buf, sizeof(buf)));
	tpctl_table_cell(t, "%u", r->key.zone);
	tpctl_table_cell(t, "%s",
			 tp_flow_endpoint_format(&r->key.saddr, r->key.sport,
						 r->key.proto, buf));
	/* the source the backend sees (the ICMP echo id for echo flows) */
	if (e->flags & TP_CT_F_SNAT)
		tpctl_table_cell(t, "%s",
				 tp_flow_endpoint_format(&r->snat_addr,
							 e->snat_port,
							 r->key.proto, buf));
	else
		tpctl_table_cell(t, "-");
	tpctl_table_cell(t, "%s",
			 tp_flow_endpoint_format(&r->key.daddr, r->key.dport,
						 r->key.proto, buf));
	if (e->flags & TP_CT_F_DNAT)
		tpctl_table_cell(t, "%s",
				 tp_flow_endpoint_format(&e->nat_addr,
							 e->nat_port,
							 r->key.proto, buf));
	else
		tpctl_table_cell(t, "-");
	tpctl_table_cell(t, "%s", tp_ct_state_name(e->state));
	tpctl_table_cell(t, "%s",
			 tpctl_id_label(m, e->src_identity, id, sizeof(id)));
	tpctl_table_cell(t, "%s",
			 tpctl_id_label(m, e->dst_identity, id, sizeof(id)));
	tpctl_table_cell(t, "%s", tp_verdict_name(e->verdict));
	tpctl_table_cell(t, "%s/%s",
			 tpctl_fmt_count(e->packets[0], u1, sizeof(u1)),
			 tpctl_fmt_count(e->packets[1], u2, sizeof(u2)));
	tpctl_table_cell(t, "%s/%s",
			 tpctl_fmt_bytes(e->bytes[0], u1, sizeof(u1)),
			 tpctl_fmt_bytes(e->bytes[1], u2, sizeof(u2)));
	if (e->expires_s > TP_CT_SEC(now))
		tpctl_table_cell(
			t, "%s",
			tpctl_fmt_duration(e->expires_s - TP_CT_SEC(now), u1,
					   sizeof(u1)));
	else
		tpctl_table_cell(t, "expired");
}

static const struct tpctl_svc_row *svc_by_id(const struct tpctl_svc_row *svcs,
					     size_t n, __u32 id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (svcs[i].svc.id == id)
			return &svcs[i];
	return NULL;
}

static void ct_json_row(struct tp_json *j, const struct tp_maps *m,
			const struct tpctl_ct_row *r, __u64 now,
			const struct tpctl_svc_row *svcs, size_t n_svcs)
{
	const struct tp_ct_entry *e = &r->e;
	const struct tpctl_svc_row *s = svc_by_id(svcs, n_svcs, e->svc_id);
	char buf[TP_SVC_STRLEN];

	tp_json_obj_open(j);
	tp_json_kv_str(j, "proto",
		       tp_proto_name(r->key.proto, buf, sizeof(buf)));
	tp_json_kv_u64(j, "zone", r->key.zone);
	tpctl_json_addr_port(j, "src", "sport", &r->key.saddr, r->key.sport);
	tpctl_json_addr_port(j, "dst", "dport", &r->key.daddr, r->key.dport);
	tp_json_kv_str(j, "state", tp_ct_state_name(e->state));
	tp_json_kv_str(j, "flags",
		       tpctl_ct_flags_str(e->flags, buf, sizeof(buf)));
	if (e->flags & TP_CT_F_DNAT) {
		tpctl_json_addr_port(j, "backend", "backend_port", &e->nat_addr,
				     e->nat_port);
		tp_json_kv_u64(j, "backend_id", e->backend_id);
	}
	if (e->flags & TP_CT_F_SNAT) {
		tpctl_json_addr_port(j, "snat_addr", "snat_port", &r->snat_addr,
				     e->snat_port);
	}
	tp_json_kv_u64(j, "service_id", e->svc_id);
	if (s)
		tp_json_kv_str(j, "service",
			       tp_svc_key_format(&s->key, buf, sizeof(buf)));
	tpctl_json_identity(j, "src", m, e->src_identity);
	tpctl_json_identity(j, "dst", m, e->dst_identity);
	tp_json_kv_str(j, "verdict", tp_verdict_name(e->verdict));
	tp_json_kv_u64(j, "rule_id", e->rule_id);
	tp_json_kv_u64(j, "ifindex", e->ifindex);
	tp_json_kv_u64(j, "out_zone", e->out_zone);
	tp_json_kv_u64(j, "packets_orig", e->packets[0]);
	tp_json_kv_u64(j, "packets_reply", e->packets[1]);
	tp_json_kv_u64(j, "bytes_orig", e->bytes[0]);
	tp_json_kv_u64(j, "bytes_reply", e->bytes[1]);
	tp_json_kv_s64(j, "expires_in_s",
		       (long long)e->expires_s - (long long)TP_CT_SEC(now));
	tp_json_kv_u64(j, "age_s",
		       TP_CT_SEC(now) > e->created_s
			       ? TP_CT_SEC(now) - e->created_s
			       : 0);
	tp_json_obj_close(j);
}

/**
 * tpctl_ct_render() - the output of `conntrack list`.
 * @ctx:    the context.
 * @m:      maps for identity names (may be NULL).
 * @rows:   the flows.
 * @n:      their number.
 * @now:    CLOCK_MONOTONIC ns the expiries are relative to.
 * @svcs:   services, to name a flow's service (may be NULL).
 * @n_svcs: their number.
 */
void tpctl_ct_render(struct tpctl_ctx *ctx, const struct tp_maps *m,
		     const struct tpctl_ct_row *rows, size_t n, __u64 now,
		     const struct tpctl_svc_row *svcs, size_t n_svcs)
{
	struct tpctl_table t;
	size_t i;

	if (ctx->opts.json) {
		tp_json_arr_open(&ctx->json);
		for (i = 0; i < n; i++)
			ct_json_row(&ctx->json, m, &rows[i], now, svcs, n_svcs);
		tp_json_arr_close(&ctx->json);
		return;
	}
	tpctl_table_init(&t, ct_cols, sizeof(ct_cols) / sizeof(ct_cols[0]));
	for (i = 0; i < n; i++)
		ct_plain_row(&t, m, &rows[i], now);
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
}

static size_t ct_services(const struct tp_maps *m, struct tpctl_svc_row *svcs)
{
	size_t n = 0, cap = tp_map_max_entries(m->services);
	struct tp_svc_key k, next, *prev = NULL;

	while (n < cap && !bpf_map_get_next_key(m->services, prev, &next)) {
		k = next;
		prev = &k;
		if (!bpf_map_lookup_elem(m->services, &k, &svcs[n].svc))
			svcs[n++].key = k;
	}
	return n;
}

/** tpctl_ct_list() - the live flows matching the filters. */
int tpctl_ct_list(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	const struct tp_maps *m = tpctl_maps(ctx);
	struct tpctl_svc_row *svcs = NULL;
	struct tpctl_ct_row *rows = NULL;
	struct tpctl_ct_filter f;
	size_t n = 0, n_svcs = 0;
	__u64 now = tpctl_now_ns();
	int ret = -1;

	if (!m || ct_filter_init(ctx, a, &f))
		return -1;
	svcs = calloc(tp_map_max_entries(m->services) + 1, sizeof(*svcs));
	if (!svcs || ct_collect(m, &f, now, &rows, &n)) {
		tpctl_err(ctx, "out of memory");
		goto cleanup;
	}
	n_svcs = ct_services(m, svcs);
	tpctl_ct_render(ctx, m, rows, n, now, svcs, n_svcs);
	ret = 0;
cleanup:
	free(rows);
	free(svcs);
	return ret;
}

/* Every key of one conntrack table, appended to @keys. */
static int ct_keys_table(int fd, struct tp_ct_key **keys, size_t *n,
			 size_t *cap)
{
	struct tp_ct_key k, next, *prev = NULL;
	size_t steps = 0, max_steps = 4 * (size_t)tp_map_max_entries(fd);

	while (steps++ < max_steps && !bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (tp_array_grow((void **)keys, cap, *n + 1, sizeof(**keys),
				  1024))
			return -ENOMEM;
		(*keys)[(*n)++] = k;
	}
	return 0;
}

/* Every key of tp_ct and tp_ct_any (a snapshot: deleting while walking restarts it). */
static int ct_keys(const struct tp_maps *m, struct tp_ct_key **keys, size_t *n)
{
	size_t cap = 0;

	*keys = NULL;
	*n = 0;
	return ct_keys_table(m->ct, keys, n, &cap)
		       ?: ct_keys_table(m->ct_any, keys, n, &cap);
}

/**
 * tpctl_ct_flush() - delete the flows of a service or backend, or all
 * of tp_ct.
 */
int tpctl_ct_flush(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	const struct tp_maps *m = &ctx->maps;
	bool all = !(a->has & (TPCTL_HAS_SVC | TPCTL_HAS_BACKEND));
	struct tp_config cfg_buf;
	const struct tp_config *cfg = tp_ct_config(m, &cfg_buf);
	struct tp_ct_key *keys = NULL;
	struct tpctl_ct_filter f;
	struct tp_ct_entry e;
	size_t n, i, flows = 0;
	int ret = -1;

	if (ct_filter_init(ctx, a, &f))
		return -1;
	if (ct_keys(m, &keys, &n)) {
		tpctl_err(ctx, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		int fd = tp_ct_fd(m, keys[i].proto);

		if (bpf_map_lookup_elem(fd, &keys[i], &e))
			continue;
		if (all) {
			if (!bpf_map_delete_elem(fd, &keys[i]) &&
			    !(e.flags & TP_CT_F_REPLY_KEY))
				flows++;
		} else if (!(e.flags & TP_CT_F_REPLY_KEY) &&
			   ct_match(&f, &keys[i], &e)) {
			flows += !tp_ct_flow_delete(m, cfg, &keys[i], &e);
		}
	}
	if (!ctx->opts.json)
		fprintf(ctx->out, "flushed %zu flow%s\n", flows,
			flows == 1 ? "" : "s");
	ret = tpctl_ok(ctx);
cleanup:
	free(keys);
	return ret;
}
