// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Conntrack GC.  The datapath treats an expired entry as absent, so GC
 * only frees room; it reads the table in batches (bpf_map_lookup_batch),
 * never holding anything the datapath waits on.  Deleted: expired flow
 * entries with the reply keys that still point back at them (a SNAT
 * flow's is found through the SNAT address in tp_config, read once a
 * pass), and reply
 * keys whose flow is gone, expired or points elsewhere; each is judged
 * again as it is taken out, so an entry the datapath replaced after the
 * walk read it stays.
 *
 * tp_be_frontends (tpd_gc_index()): a backend tuple's frontend goes when
 * no service configures the pair and no live TP_CT_F_RINDEX flow uses it,
 * in two runs in a row.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "conntrack.h"
#include "gc.h"
#include "service.h"

#define TPD_GC_BATCH 1024

/** tpd_monotonic_ns() - CLOCK_MONOTONIC in ns, the datapath's clock. */
__u64 tpd_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

struct tpd_gc_batch {
	const struct tp_config *cfg; /* read once per pass: SNAT reply tuples */
	struct tp_ct_key keys[TPD_GC_BATCH];
	struct tp_ct_entry vals[TPD_GC_BATCH];
	struct tp_ct_key dead[3 * TPD_GC_BATCH];
	__u32 n_dead;
};

/*
 * Judge a batch from its copies: dead are expired flows, with their
 * reply-key entries (a DNAT flow's reply tuple and, for a zone crossing,
 * the one in its out zone), and reply keys whose flow is gone, expired or
 * points elsewhere.
 */
static void tpd_gc_judge(const struct tp_maps *m, struct tpd_gc_batch *b,
			 __u32 n, __u64 now, struct tpd_gc_result *res)
{
	struct tp_ct_key reply;
	__u32 i;

	for (i = 0; i < n; i++) {
		const struct tp_ct_entry *e = &b->vals[i];

		res->ct_entries++;
		if (tp_ct_entry_live(m, b->cfg, &b->keys[i], e, now)) {
			res->ct_flows += !(e->flags & TP_CT_F_REPLY_KEY);
			continue;
		}
		b->dead[b->n_dead++] = b->keys[i];
		if (e->flags & TP_CT_F_REPLY_KEY)
			continue;
		/* a SNAT flow without the configuration: its reply key is an orphan later */
		if (!tp_ct_reply_tuple(&b->keys[i], e, b->cfg, &reply))
			continue;
		if (tp_ct_has_reply_key(e))
			b->dead[b->n_dead++] = reply;
		if (tp_ct_cross_key(&b->keys[i], e)) {
			b->dead[b->n_dead] = reply;
			b->dead[b->n_dead++].zone = e->out_zone;
		}
	}
}

/*
 * Delete what the judge found, each entry judged again as it is taken
 * out: a reply key another flow has taken since, or a flow a packet
 * replaced or revived, stays (tp_ct_take_dead()).
 */
static void tpd_gc_delete(const struct tp_maps *m, struct tpd_gc_batch *b,
			  __u64 now, struct tpd_gc_result *res)
{
	__u32 i;

	for (i = 0; i < b->n_dead; i++)
		if (tp_ct_take_dead(m, b->cfg, &b->dead[i], now) > 0)
			res->ct_deleted++;
	b->n_dead = 0;
}

/* The same walk without batch operations (kernels or maps without them). */
static int tpd_gc_ct_slow(const struct tp_maps *m, int fd,
			  struct tpd_gc_batch *b, __u64 now,
			  struct tpd_gc_result *res)
{
	struct tp_ct_key k, next, *prev = NULL;
	__u32 n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &b->vals[n]))
			continue;
		b->keys[n++] = k;
		if (n == TPD_GC_BATCH) {
			tpd_gc_judge(m, b, n, now, res);
			tpd_gc_delete(m, b, now, res);
			n = 0;
		}
	}
	tpd_gc_judge(m, b, n, now, res);
	tpd_gc_delete(m, b, now, res);
	return 0;
}

/* One conntrack table (tp_ct or tp_ct_any), its counts added to @total. */
static int tpd_gc_ct(const struct tp_maps *m, const struct tp_config *cfg,
		     int fd, __u64 now, struct tpd_gc_result *total)
{
	struct tpd_gc_batch *b = calloc(1, sizeof(*b));
	struct tpd_gc_result one = {}, *res = &one;
	__u32 token = 0, count;
	bool first = true;
	int err;

	if (!b)
		return -ENOMEM;
	b->cfg = cfg;
	for (;;) {
		count = TPD_GC_BATCH;
		err = bpf_map_lookup_batch(fd, first ? NULL : &token, &token,
					   b->keys, b->vals, &count, NULL);
		if (err && errno != ENOENT) {
			err = -errno;
			break;
		}
		first = false;
		tpd_gc_judge(m, b, count, now, res);
		tpd_gc_delete(m, b, now, res);
		if (err)
			break; /* ENOENT: that was the last batch */
	}
	if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUP) {
		memset(res, 0, sizeof(*res));
		err = tpd_gc_ct_slow(m, fd, b, now, res);
	} else if (err == -ENOENT) {
		err = 0;
	}
	total->ct_entries += one.ct_entries;
	total->ct_flows += one.ct_flows;
	total->ct_deleted += one.ct_deleted;
	free(b);
	return err;
}

static void tpd_gc_frags(const struct tp_maps *m, __u64 now, __u32 timeout,
			 struct tpd_gc_result *res)
{
	struct tp_frag_key k, next, *prev = NULL, dead[256];
	struct tp_frag f;
	int n = 0, i;

	while (!bpf_map_get_next_key(m->frags, prev, &next) && n < 256) {
		k = next;
		prev = &k;
		if (!bpf_map_lookup_elem(m->frags, &k, &f) &&
		    now - f.seen_ns >= (__u64)timeout * 1000000000ULL)
			dead[n++] = k;
	}
	for (i = 0; i < n; i++)
		if (!bpf_map_delete_elem(m->frags, &dead[i]))
			res->frags_deleted++;
}

/**
 * tpd_gc() - one GC pass over conntrack and the fragment records.
 * @m:            maps.
 * @now_ns:       CLOCK_MONOTONIC now.
 * @frag_timeout: seconds a fragment record lives.
 * @res:          what it found and deleted.
 *
 * Return: 0 or -errno.
 */
int tpd_gc(const struct tp_maps *m, __u64 now_ns, __u32 frag_timeout,
	   struct tpd_gc_result *res)
{
	struct tp_config buf;
	const struct tp_config *cfg = tp_ct_config(m, &buf);
	int err;

	memset(res, 0, sizeof(*res));
	err = tpd_gc_ct(m, cfg, m->ct_any, now_ns, res);
	res->ct_any_entries = res->ct_entries;
	err = tpd_gc_ct(m, cfg, m->ct, now_ns, res) ?: err;
	tpd_gc_frags(m, now_ns, frag_timeout, res);
	return err;
}

/* ---- tp_be_frontends ----------------------------------------------------- */

static int tpd_befe_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tpd_befe_pair));
}

/* tp_services and tp_backends as TP_MAP_COLLECT() reads them. */
struct tpd_svc_row {
	struct tp_svc_key key;
	struct tp_svc svc;
};

struct tpd_backend_row {
	__u32 id;
	struct tp_backend be;
};

static int tpd_svc_row_id_cmp(const void *a, const void *b)
{
	const struct tpd_svc_row *x = a, *y = b;

	return x->svc.id < y->svc.id ? -1 : x->svc.id > y->svc.id;
}

/*
 * Every (backend tuple, frontend) pair the maps configure now, sorted
 * (tpd_befe_cmp()), in *@out: tp_services and tp_backends read in chunks,
 * a few dozen system calls for 10,000 services.  A backend row counts
 * whether or not its service's list names it (a writer killed half-way
 * leaves such rows): its pair then stays, the safe side.
 */
static int tpd_befe_configured_pairs(const struct tp_maps *m,
				     struct tpd_befe_pair **out, size_t *n)
{
	struct tpd_backend_row *bes = NULL;
	struct tpd_svc_row *svcs = NULL, want;
	const struct tpd_svc_row *svc;
	struct tpd_befe_pair *v = NULL;
	size_t n_svcs = 0, n_bes = 0, i;
	int err;

	*n = 0;
	err = TP_MAP_COLLECT_SORTED(m->services, struct tpd_svc_row, key, svc,
				    &svcs, &n_svcs, tpd_svc_row_id_cmp)
		      ?: TP_MAP_COLLECT(m->backends, struct tpd_backend_row, id,
					be, &bes, &n_bes);
	if (!err && n_bes) {
		v = calloc(n_bes, sizeof(*v));
		err = v ? 0 : -ENOMEM;
	}
	for (i = 0; !err && i < n_bes; i++) {
		want.svc.id = bes[i].be.svc_id;
		svc = bsearch(&want, svcs, n_svcs, sizeof(*svcs),
			      tpd_svc_row_id_cmp);
		if (!svc)
			continue;
		v[*n].be = tp_be_key_of(&bes[i].be, svc->key.proto);
		v[(*n)++].fe = svc->key;
	}
	if (!err && *n)
		qsort(v, *n, sizeof(*v), tpd_befe_cmp);
	free(svcs);
	free(bes);
	if (err) {
		free(v);
		v = NULL;
		*n = 0;
	}
	*out = v;
	return err;
}

/* tp_be_frontends as TP_MAP_COLLECT() reads it. */
struct tpd_befe_row {
	struct tp_be_key be;
	struct tp_be_frontends f;
};

/* Every frontend of every entry of @rows as a pair, in @v; their number. */
static size_t tpd_befe_pairs(const struct tpd_befe_row *rows, size_t n_rows,
			     struct tpd_befe_pair *v)
{
	size_t i, j, n = 0;

	for (i = 0; i < n_rows; i++)
		for (j = 0; j < TP_BE_FRONTENDS; j++) {
			if (!rows[i].f.fe[j].proto)
				continue;
			v[n].be = rows[i].be;
			v[n++].fe = rows[i].f.fe[j];
		}
	return n;
}

/*
 * The frontends of tp_be_frontends no service configures with their
 * backend tuple now, sorted (tpd_befe_cmp()), in *@out (@n of them): the
 * three maps read in chunks, compared in memory.  This runs every GC.
 */
static int tpd_befe_unconfigured(const struct tp_maps *m,
				 struct tpd_befe_pair **out, size_t *n)
{
	struct tpd_befe_pair *v = NULL, *conf = NULL;
	struct tpd_befe_row *rows = NULL;
	size_t n_rows = 0, n_conf = 0, n_pairs, i;
	int err;

	*out = NULL;
	*n = 0;
	err = TP_MAP_COLLECT(m->be_frontends, struct tpd_befe_row, be, f, &rows,
			     &n_rows);
	if (err || !n_rows)
		goto cleanup;
	err = tpd_befe_configured_pairs(m, &conf, &n_conf);
	if (err)
		goto cleanup;
	v = calloc(n_rows * TP_BE_FRONTENDS, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto cleanup;
	}
	n_pairs = tpd_befe_pairs(rows, n_rows, v);
	for (i = 0; i < n_pairs; i++)
		if (!n_conf ||
		    !bsearch(&v[i], conf, n_conf, sizeof(*conf), tpd_befe_cmp))
			v[(*n)++] = v[i];
	qsort(v, *n, sizeof(*v), tpd_befe_cmp);
	*out = v;
cleanup:
	free(rows);
	free(conf);
	return err;
}

/* What tpd_befe_use_chunk() marks: the pairs a live RINDEX flow uses. */
struct tpd_befe_use {
	const struct tpd_befe_pair *v;
	size_t n;
	bool *used;
	__u32 now_s;
};

/*
 * A chunk of a conntrack table: mark the pair of each live RINDEX flow,
 * its backend tuple (nat_addr, nat_port) and frontend (its original
 * destination).
 */
static int tpd_befe_use_chunk(void *ctx, const struct tp_map_chunk *c)
{
	struct tpd_befe_use *u = ctx;
	const struct tpd_befe_pair *hit;
	struct tpd_befe_pair p;
	struct tp_ct_entry e;
	struct tp_ct_key k;
	size_t i;

	for (i = 0; i < c->n; i++) {
		memcpy(&k, (const char *)c->keys + i * c->key_size, sizeof(k));
		memcpy(&e, (const char *)c->vals + i * c->val_size, sizeof(e));
		if ((e.flags & TP_CT_F_REPLY_KEY) ||
		    !(e.flags & TP_CT_F_RINDEX) || e.expires_s <= u->now_s)
			continue;
		memset(&p, 0, sizeof(p));
		p.be.addr = e.nat_addr;
		p.be.port = e.nat_port;
		p.be.proto = k.proto;
		p.fe.vip = k.daddr;
		p.fe.port = k.dport;
		p.fe.proto = k.proto;
		hit = bsearch(&p, u->v, u->n, sizeof(p), tpd_befe_cmp);
		if (hit)
			u->used[hit - u->v] = true;
	}
	return 0;
}

/*
 * Mark in @used the pairs of @v a live RINDEX flow of conntrack table
 * @fd uses, the table read in chunks (1,000,000 flows).  Return: 0 or
 * -errno (a walk that failed marked too little: nothing may go).
 */
static int tpd_befe_mark_used(int fd, const struct tpd_befe_pair *v, size_t n,
			      bool *used, __u64 now_ns)
{
	struct tpd_befe_use u = {
		.v = v, .n = n, .used = used, .now_s = TP_CT_SEC(now_ns)
	};

	return tp_map_walk(fd, TP_MAP_WALK_CHUNK, tpd_befe_use_chunk, &u);
}

/* Take frontend @p out of its backend tuple's entry; the entry goes when empty. */
static int tpd_befe_remove(const struct tp_maps *m,
			   const struct tpd_befe_pair *p)
{
	struct tp_be_frontends f;
	bool empty = true;
	int i;

	if (bpf_map_lookup_elem(m->be_frontends, &p->be, &f))
		return 0;
	for (i = 0; i < TP_BE_FRONTENDS; i++) {
		if (!memcmp(&f.fe[i], &p->fe, sizeof(p->fe)))
			memset(&f.fe[i], 0, sizeof(f.fe[i]));
		empty = empty && !f.fe[i].proto;
	}
	if (empty)
		return bpf_map_delete_elem(m->be_frontends, &p->be) ? -errno
								    : 1;
	return bpf_map_update_elem(m->be_frontends, &p->be, &f, BPF_EXIST)
		       ? -errno
		       : 1;
}

/**
 * tpd_gc_index() - take out of tp_be_frontends the frontends nothing uses.
 * @m:       maps.
 * @g:       what the last run found (updated).
 * @now_ns:  CLOCK_MONOTONIC now.
 * @removed: set to the frontends taken out.
 *
 * A frontend stays in its backend tuple's entry after the backend or the
 * service went, while live flows may use it: their replies are found
 * through it.  It goes when no service configures the pair and no live
 * TP_CT_F_RINDEX flow uses it, found so in this run and the last: a flow
 * the datapath created from a Maglev table read just before the pair
 * went is in conntrack by the second run's walk.  Conntrack is walked
 * only when some frontend is unconfigured.  The caller holds the
 * writers' lock (tp_pins_lock()).
 *
 * Return: 0 or -errno.
 */
int tpd_gc_index(const struct tp_maps *m, struct tpd_index_gc *g, __u64 now_ns,
		 unsigned long *removed)
{
	struct tpd_befe_pair *v = NULL;
	size_t n, i, keep = 0;
	bool *used;
	int err;

	*removed = 0;
	err = tpd_befe_unconfigured(m, &v, &n);
	if (err || !n) {
		free(v); /* the pairs read, none unconfigured */
		tpd_index_gc_free(g);
		return err;
	}
	used = calloc(n, sizeof(*used));
	if (!used) {
		free(v);
		return -ENOMEM;
	}
	err = tpd_befe_mark_used(m->ct, v, n, used, now_ns)
		      ?: tpd_befe_mark_used(m->ct_any, v, n, used, now_ns);
	if (err) {
		free(used);
		free(v);
		return err; /* what the last run found stays for the next */
	}
	for (i = 0; i < n; i++) {
		if (used[i])
			continue;
		if (g->n && bsearch(&v[i], g->pairs, g->n, sizeof(v[i]),
				    tpd_befe_cmp)) {
			err = tpd_befe_remove(m, &v[i]);
			if (err < 0)
				break;
			*removed += err;
			err = 0;
			continue;
		}
		v[keep++] = v[i]; /* the first run that finds it unused */
	}
	free(used);
	tpd_index_gc_free(g);
	g->pairs = v;
	g->n = keep;
	return err;
}

/** tpd_index_gc_free() - forget what the last index GC run found. */
void tpd_index_gc_free(struct tpd_index_gc *g)
{
	free(g->pairs);
	g->pairs = NULL;
	g->n = 0;
}
