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
 * in two runs in a row.  It holds what is configured (24 bytes a backend
 * row) and the frontends that are not, never the index whole: 3.6 MB of
 * heap at 100,000 backend tuples, where reading the index and its pairs
 * took 33 MB every run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "array.h"
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

/* A service's frontend and id (tp_services), sorted by frontend. */
struct tpd_fe_id {
	struct tp_svc_key fe;
	__u32 id;
};

/* By frontend; a bare struct tp_svc_key is a key bsearch() can take. */
static int tpd_fe_id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tp_svc_key));
}

/*
 * A backend row (tp_backends) as the configured set holds it, 24 bytes:
 * its address, port and service id.  Its tuple's protocol is that
 * service's, checked against the frontend instead (tp_be_key_of()).  The
 * padding is zero: rows are compared whole (memcmp()).
 */
struct tpd_be_conf {
	struct tp_addr addr;
	__be16 port;
	__u16 pad;
	__u32 svc_id;
};

static int tpd_be_conf_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tpd_be_conf));
}

/*
 * The index's GC reads tp_services and tp_backends whole into the two
 * sorted arrays of what is configured (no allocation a row), then
 * tp_be_frontends a chunk at a time against them, keeping only the
 * candidates: its frontends no service configures with their tuple.
 */
struct tpd_befe_scan {
	struct tpd_fe_id *fes;
	size_t n_fes, cap_fes;
	struct tpd_be_conf *conf;
	size_t n_conf, cap_conf;
	struct tpd_befe_pair *cand;
	size_t n_cand, cap_cand;
};

/* Entry @i of chunk @c, its key and value copied out of the chunk. */
static void tpd_chunk_entry(const struct tp_map_chunk *c, size_t i, void *key,
			    void *val)
{
	memcpy(key, (const char *)c->keys + i * c->key_size, c->key_size);
	memcpy(val, (const char *)c->vals + i * c->val_size, c->val_size);
}

/* Whether chunk @c holds keys of @key_size and values of @val_size bytes. */
static bool tpd_chunk_is(const struct tp_map_chunk *c, size_t key_size,
			 size_t val_size)
{
	return c->key_size == key_size && c->val_size == val_size;
}

/* A chunk of tp_services: each frontend with its service's id. */
static int tpd_fe_id_chunk(void *ctx, const struct tp_map_chunk *c)
{
	struct tpd_befe_scan *s = ctx;
	struct tpd_fe_id *f;
	struct tp_svc svc;
	size_t i;

	if (!tpd_chunk_is(c, sizeof(f->fe), sizeof(svc)))
		return -EINVAL;
	if (tp_array_grow((void **)&s->fes, &s->cap_fes, s->n_fes + c->n,
			  sizeof(*s->fes), 256))
		return -ENOMEM;
	for (i = 0; i < c->n; i++) {
		f = &s->fes[s->n_fes++];
		tpd_chunk_entry(c, i, &f->fe, &svc);
		f->id = svc.id;
	}
	return 0;
}

/* A chunk of tp_backends: each row's tuple and service id. */
static int tpd_be_conf_chunk(void *ctx, const struct tp_map_chunk *c)
{
	struct tpd_befe_scan *s = ctx;
	struct tpd_be_conf *b;
	struct tp_backend be;
	__u32 id;
	size_t i;

	if (!tpd_chunk_is(c, sizeof(id), sizeof(be)))
		return -EINVAL;
	if (tp_array_grow((void **)&s->conf, &s->cap_conf, s->n_conf + c->n,
			  sizeof(*s->conf), 1024))
		return -ENOMEM;
	for (i = 0; i < c->n; i++) {
		tpd_chunk_entry(c, i, &id, &be);
		b = &s->conf[s->n_conf++];
		memset(b, 0, sizeof(*b));
		b->addr = be.addr;
		b->port = be.port;
		b->svc_id = be.svc_id;
	}
	return 0;
}

/*
 * Whether a service configures frontend @fe with backend tuple @be: the
 * service of frontend @fe has a backend row of @be's address and port,
 * and @be is the tuple tp_be_key_of() makes of it (its protocol the
 * service's).  A backend row counts whether or not its service's list
 * names it (a writer killed half-way leaves such rows): its pair then
 * stays, the safe side.
 */
static bool tpd_befe_configured(const struct tpd_befe_scan *s,
				const struct tp_be_key *be,
				const struct tp_svc_key *fe)
{
	const struct tpd_fe_id *svc;
	struct tpd_be_conf want;

	if (be->proto != fe->proto || be->pad || !s->n_fes || !s->n_conf)
		return false;
	svc = bsearch(fe, s->fes, s->n_fes, sizeof(*s->fes), tpd_fe_id_cmp);
	if (!svc)
		return false;
	memset(&want, 0, sizeof(want));
	want.addr = be->addr;
	want.port = be->port;
	want.svc_id = svc->id;
	return bsearch(&want, s->conf, s->n_conf, sizeof(*s->conf),
		       tpd_be_conf_cmp) != NULL;
}

/* A chunk of tp_be_frontends: its frontends not configured, as pairs. */
static int tpd_befe_scan_chunk(void *ctx, const struct tp_map_chunk *c)
{
	struct tpd_befe_scan *s = ctx;
	struct tp_be_frontends f;
	struct tp_be_key be;
	size_t i, j;

	if (!tpd_chunk_is(c, sizeof(be), sizeof(f)))
		return -EINVAL;
	for (i = 0; i < c->n; i++) {
		tpd_chunk_entry(c, i, &be, &f);
		for (j = 0; j < TP_BE_FRONTENDS; j++) {
			if (!f.fe[j].proto ||
			    tpd_befe_configured(s, &be, &f.fe[j]))
				continue;
			if (tp_array_grow((void **)&s->cand, &s->cap_cand,
					  s->n_cand + 1, sizeof(*s->cand), 16))
				return -ENOMEM;
			s->cand[s->n_cand].be = be;
			s->cand[s->n_cand++].fe = f.fe[j];
		}
	}
	return 0;
}

/*
 * The frontends of tp_be_frontends no service configures with their
 * backend tuple now, sorted (tpd_befe_cmp()), in *@out (@n of them).
 * This runs every GC, under the writers' lock, at 100,000 backend tuples
 * and more: the maps are read in chunks (a few hundred system calls), and
 * what it holds is the configured set, 24 bytes a backend row and a
 * service, and the candidates; never the index whole.  An empty index
 * reads nothing else.
 */
static int tpd_befe_unconfigured(const struct tp_maps *m,
				 struct tpd_befe_pair **out, size_t *n)
{
	struct tpd_befe_scan s = {};
	struct tp_be_key first;
	int err;

	*out = NULL;
	*n = 0;
	if (bpf_map_get_next_key(m->be_frontends, NULL, &first))
		return errno == ENOENT ? 0 : -errno;
	err = tp_map_walk(m->services, TP_MAP_WALK_CHUNK, tpd_fe_id_chunk, &s)
		      ?: tp_map_walk(m->backends, TP_MAP_WALK_CHUNK,
				     tpd_be_conf_chunk, &s);
	if (err)
		goto cleanup;
	if (s.n_fes)
		qsort(s.fes, s.n_fes, sizeof(*s.fes), tpd_fe_id_cmp);
	if (s.n_conf)
		qsort(s.conf, s.n_conf, sizeof(*s.conf), tpd_be_conf_cmp);
	err = tp_map_walk(m->be_frontends, TP_MAP_WALK_CHUNK,
			  tpd_befe_scan_chunk, &s);
	if (err)
		goto cleanup;
	if (s.n_cand)
		qsort(s.cand, s.n_cand, sizeof(*s.cand), tpd_befe_cmp);
	*out = s.cand;
	*n = s.n_cand;
	s.cand = NULL;
cleanup:
	free(s.fes);
	free(s.conf);
	free(s.cand);
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
		free(v);
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
