// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Writing a service so that no packet sees it half-written.  A write has
 * two halves:
 *
 * Staging (tp_service_stage()):
 *   1. backends that are new or changed are written (new ids are not yet
 *      referenced by anything the datapath reads);
 *   2. the service's index in tp_svc_backends is rewritten to the new
 *      list (the datapath never reads it);
 *   3. the service entry gets its new attributes; a new service gets no
 *      table yet (active 0: its new flows are dropped, as before it
 *      existed).  Backends the service no longer has are remembered, not
 *      deleted: the live table may still name them.
 *
 * Flushing (tp_svc_batch_flush()), once per staged service however often
 *   it was staged:
 *   4. the Maglev table is built from the backends the index lists, into
 *      a new extent of the slab (lib/slab.c) of the size
 *      tp_maglev_table_size() picks;
 *   5. the table goes live by one update of the service entry: its offset,
 *      size and active count together;
 *   6. the extents the entries named before are freed after one RCU grace
 *      period for the whole flush (none when nothing was replaced), and
 *      the remembered backends are deleted, now that no table names them.
 *
 * tp_service_set() is both halves at once.  tpctl's batch stages every
 * line and flushes once, so a service touched by many lines of a batch is
 * built once.  Nothing here reads a table back: tables are always built
 * again from the backends, Maglev being deterministic.  Deleting a service
 * removes its entry first, then its backends and its index, then frees
 * its extent after a grace period.  Established flows never read these
 * maps: conntrack holds their backend.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "array.h"
#include "idalloc.h"
#include "maglev.h"
#include "service.h"
#include "slab.h"
#include "static_nat.h"

static bool tp_addr_equal(const struct tp_addr *a, const struct tp_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* ---- the per-service index -------------------------------------------- */

static struct tp_svc_be_key tp_svc_be_key(__u32 svc_id, __u32 slot)
{
	return (struct tp_svc_be_key){ .svc_id = svc_id, .slot = slot };
}

/*
 * How many backends service @svc_id has in the index: 0.., or -ENOENT
 * when the service id is not in use.
 */
static int tp_svc_index_count(const struct tp_maps *m, __u32 svc_id)
{
	struct tp_svc_be_key k = tp_svc_be_key(svc_id, TP_SVC_BE_HEAD);
	__u32 n;

	if (bpf_map_lookup_elem(m->svc_backends, &k, &n))
		return -errno;
	return n > TP_MAX_SVC_BACKENDS ? TP_MAX_SVC_BACKENDS : (int)n;
}

/*
 * tp_svc_index_write() with the slots' present contents @old (n_old of
 * them, NULL: unknown): slots that already hold their id are not written
 * again, so adding one backend writes one slot, not the whole list.
 */
static int tp_svc_index_update(const struct tp_maps *m, __u32 svc_id,
			       const __u32 *ids, size_t n, const __u32 *old,
			       int n_old)
{
	struct tp_svc_be_key k;
	__u32 count = (__u32)n;
	size_t i;

	for (i = 0; i < n; i++) {
		if (old && (int)i < n_old && old[i] == ids[i])
			continue;
		k = tp_svc_be_key(svc_id, (__u32)i);
		if (bpf_map_update_elem(m->svc_backends, &k, &ids[i], BPF_ANY))
			return tp_limit_errno(-errno, TP_LIMIT_BACKENDS);
	}
	if (!old || (int)n != n_old) {
		k = tp_svc_be_key(svc_id, TP_SVC_BE_HEAD);
		if (bpf_map_update_elem(m->svc_backends, &k, &count, BPF_ANY))
			return tp_limit_errno(-errno, TP_LIMIT_SERVICES);
	}
	for (i = n; n_old > 0 && i < (size_t)n_old; i++) {
		k = tp_svc_be_key(svc_id, (__u32)i);
		bpf_map_delete_elem(m->svc_backends, &k);
	}
	return 0;
}

/**
 * tp_svc_index_write() - make the index of a service list @ids.
 * @m:      maps.
 * @svc_id: the service.
 * @ids:    its backends' ids.
 * @n:      their number.
 * @n_old:  how many it listed before (slots past @n are deleted), or -1
 *          for a service not in the index yet.
 *
 * The slots are written before the head, so a reader that trusts the
 * head never reads a slot that is not there yet.
 *
 * Return: 0 or -errno (-ENOSPC with TP_LIMIT_BACKENDS: the index is full).
 */
int tp_svc_index_write(const struct tp_maps *m, __u32 svc_id, const __u32 *ids,
		       size_t n, int n_old)
{
	return tp_svc_index_update(m, svc_id, ids, n, NULL, n_old);
}

/* Drop a service from the index: its slots, then its head (its id). */
static void tp_svc_index_del(const struct tp_maps *m, __u32 svc_id, int n)
{
	struct tp_svc_be_key k;
	int i;

	for (i = 0; i < n; i++) {
		k = tp_svc_be_key(svc_id, (__u32)i);
		bpf_map_delete_elem(m->svc_backends, &k);
	}
	k = tp_svc_be_key(svc_id, TP_SVC_BE_HEAD);
	bpf_map_delete_elem(m->svc_backends, &k);
}

/**
 * tp_service_backends() - the backends of a service, from its index.
 * @m:      maps.
 * @svc_id: service id.
 * @ids:    filled with backend ids.
 * @bes:    filled with the backends, or NULL.
 * @cap:    room in @ids and @bes.
 *
 * Costs O(the service's backends), whatever the node holds.  An index
 * slot whose backend is gone (a writer died half-way) is skipped.
 *
 * Return: the number of backends (which may exceed @cap: only @cap are
 * stored), 0 for a service id without an index, or -errno.
 */
int tp_service_backends(const struct tp_maps *m, __u32 svc_id, __u32 *ids,
			struct tp_backend *bes, size_t cap)
{
	int count = tp_svc_index_count(m, svc_id), i;
	struct tp_svc_be_key k;
	struct tp_backend be;
	size_t n = 0;
	__u32 id;

	if (count == -ENOENT)
		return 0;
	if (count < 0)
		return count;
	for (i = 0; i < count; i++) {
		k = tp_svc_be_key(svc_id, (__u32)i);
		if (bpf_map_lookup_elem(m->svc_backends, &k, &id) ||
		    bpf_map_lookup_elem(m->backends, &id, &be) ||
		    be.svc_id != svc_id)
			continue;
		if (n < cap) {
			ids[n] = id;
			if (bes)
				bes[n] = be;
		}
		n++;
	}
	return (int)n;
}

/**
 * tp_service_index_rebuild() - build tp_svc_backends from one walk of
 * tp_backends and tp_services (pins from before the index existed).
 * @m: maps.
 *
 * Return: the number of services indexed, or -errno.
 */
int tp_service_index_rebuild(const struct tp_maps *m)
{
	struct tp_svc_be_key k;
	struct tp_svc_key sk, snext, *sprev = NULL;
	__u32 bk, bnext, *bprev = NULL, cap = tp_stat_ids_end(m->svc_stats),
			 *count;
	struct tp_backend be;
	struct tp_svc svc;
	int services = 0, err = 0;

	count = calloc(cap ? cap : 1, sizeof(*count));
	if (!count)
		return -ENOMEM;
	while (!bpf_map_get_next_key(m->backends, bprev, &bnext)) {
		bk = bnext;
		bprev = &bk;
		if (bpf_map_lookup_elem(m->backends, &bk, &be) ||
		    be.svc_id >= cap || count[be.svc_id] >= TP_MAX_SVC_BACKENDS)
			continue;
		k = tp_svc_be_key(be.svc_id, count[be.svc_id]);
		if (bpf_map_update_elem(m->svc_backends, &k, &bk, BPF_ANY)) {
			err = tp_limit_errno(-errno, TP_LIMIT_BACKENDS);
			break;
		}
		count[be.svc_id]++;
	}
	while (!err && !bpf_map_get_next_key(m->services, sprev, &snext)) {
		sk = snext;
		sprev = &sk;
		if (bpf_map_lookup_elem(m->services, &sk, &svc) ||
		    svc.id >= cap)
			continue;
		k = tp_svc_be_key(svc.id, TP_SVC_BE_HEAD);
		if (bpf_map_update_elem(m->svc_backends, &k, &count[svc.id],
					BPF_ANY))
			err = tp_limit_errno(-errno, TP_LIMIT_SERVICES);
		services++;
	}
	free(count);
	return err ? err : services;
}

/* ---- backend tuple to frontends (tp_be_frontends) ------------------------ */

/* The tp_be_frontends key of backend @be of a service of protocol @proto. */
struct tp_be_key tp_be_key_of(const struct tp_backend *be, __u8 proto)
{
	struct tp_be_key k;

	memset(&k, 0, sizeof(k));
	k.addr = be->addr;
	k.port = be->port;
	k.proto = proto;
	return k;
}

/*
 * Make @fe one of the frontends in entry @v: it is, or it takes the first
 * empty slot.  False when every slot holds another.
 */
static bool tp_be_frontends_slot(struct tp_be_frontends *v,
				 const struct tp_svc_key *fe)
{
	int i, free_slot = -1;

	for (i = 0; i < TP_BE_FRONTENDS; i++) {
		if (!memcmp(&v->fe[i], fe, sizeof(*fe)))
			return true;
		if (free_slot < 0 && !v->fe[i].proto)
			free_slot = i;
	}
	if (free_slot < 0)
		return false;
	v->fe[free_slot] = *fe;
	return true;
}

/*
 * Make @fe one of the frontends in @v, tuple @bk's entry as it is now (all
 * zero: none), writing the entry when it changes; @v is updated only when
 * the write went in.  True when @fe is in the entry.
 */
static bool tp_be_frontends_put(const struct tp_maps *m,
				const struct tp_be_key *bk,
				struct tp_be_frontends *v,
				const struct tp_svc_key *fe)
{
	struct tp_be_frontends nv = *v;

	if (!tp_be_frontends_slot(&nv, fe))
		return false;
	if (!memcmp(&nv, v, sizeof(nv)))
		return true; /* it was there */
	if (bpf_map_update_elem(m->be_frontends, bk, &nv, BPF_ANY))
		return false;
	*v = nv;
	return true;
}

/**
 * tp_be_frontend_add() - make @fe one of the frontends of a backend tuple.
 * @m:  maps.
 * @bk: the backend tuple.
 * @fe: the service's frontend.
 *
 * Called under the writers' lock, before the backend is written with
 * TP_BACKEND_F_INDEXED: the datapath may then leave its flows without a
 * reply key, and their replies find them through this entry.
 *
 * Return: true when @fe is in the entry (it was, or took an empty slot);
 * false when every slot holds another frontend or the entry cannot be
 * written (the backend is then written without the flag).
 */
bool tp_be_frontend_add(const struct tp_maps *m, const struct tp_be_key *bk,
			const struct tp_svc_key *fe)
{
	struct tp_be_frontends v;

	if (m->be_frontends < 0)
		return false;
	if (bpf_map_lookup_elem(m->be_frontends, bk, &v))
		memset(&v, 0, sizeof(v));
	return tp_be_frontends_put(m, bk, &v, fe);
}

/*
 * The flags backend @nb of the service at @key is written with:
 * TP_BACKEND_F_INDEXED when tp_be_frontends holds the frontend.
 */
static __u16 tp_backend_flags(const struct tp_maps *m,
			      const struct tp_svc_key *key,
			      const struct tp_backend *nb)
{
	struct tp_be_key bk = tp_be_key_of(nb, key->proto);

	return tp_be_frontend_add(m, &bk, key) ? TP_BACKEND_F_INDEXED : 0;
}

/* The maps tp_service_frontends_index() reads, as TP_MAP_COLLECT() rows. */
struct tp_fi_svc {
	struct tp_svc_key key;
	struct tp_svc svc;
};

struct tp_fi_slot {
	struct tp_svc_be_key key;
	__u32 id;
};

struct tp_fi_be {
	__u32 id;
	struct tp_backend be;
};

struct tp_fi_befe {
	struct tp_be_key key;
	struct tp_be_frontends f;
};

/*
 * tp_services (in the map's order), tp_svc_backends, tp_backends and
 * tp_be_frontends (each sorted by key), read a chunk of entries a system
 * call.  Under the writers' lock nothing else writes them but the one
 * pass that holds this copy, which keeps it up to date.
 */
struct tp_fi {
	struct tp_fi_svc *svcs;
	size_t n_svcs;
	struct tp_fi_slot *slots;
	size_t n_slots;
	struct tp_fi_be *bes;
	size_t n_bes;
	struct tp_fi_befe *befe;
	size_t n_befe;
};

static int tp_fi_slot_cmp(const void *pa, const void *pb)
{
	const struct tp_fi_slot *a = pa, *b = pb;

	if (a->key.svc_id != b->key.svc_id)
		return a->key.svc_id < b->key.svc_id ? -1 : 1;
	return a->key.slot < b->key.slot ? -1 : a->key.slot > b->key.slot;
}

static int tp_fi_be_cmp(const void *pa, const void *pb)
{
	const struct tp_fi_be *a = pa, *b = pb;

	return a->id < b->id ? -1 : a->id > b->id;
}

static int tp_fi_befe_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tp_be_key));
}

static void tp_fi_free(struct tp_fi *fi)
{
	free(fi->svcs);
	free(fi->slots);
	free(fi->bes);
	free(fi->befe);
}

/* @befe: read tp_be_frontends too. */
static int tp_fi_read(const struct tp_maps *m, struct tp_fi *fi, bool befe)
{
	memset(fi, 0, sizeof(*fi));
	return TP_MAP_COLLECT(m->services, struct tp_fi_svc, key, svc,
			      &fi->svcs, &fi->n_svcs)
		       ?: TP_MAP_COLLECT_SORTED(m->svc_backends,
						struct tp_fi_slot, key, id,
						&fi->slots, &fi->n_slots,
						tp_fi_slot_cmp)
		       ?: TP_MAP_COLLECT_SORTED(m->backends, struct tp_fi_be,
						id, be, &fi->bes, &fi->n_bes,
						tp_fi_be_cmp)
		       ?: (!befe || m->be_frontends < 0 /* none: not indexed */
				   ? 0
				   : TP_MAP_COLLECT_SORTED(
					     m->be_frontends, struct tp_fi_befe,
					     key, f, &fi->befe, &fi->n_befe,
					     tp_fi_befe_cmp));
}

/* The value of index slot (@svc_id, @slot) in the copy, or NULL. */
static const __u32 *tp_fi_slot(const struct tp_fi *fi, __u32 svc_id, __u32 slot)
{
	struct tp_fi_slot want = { .key = tp_svc_be_key(svc_id, slot) };
	const struct tp_fi_slot *r;

	if (!fi->n_slots)
		return NULL;
	r = bsearch(&want, fi->slots, fi->n_slots, sizeof(want),
		    tp_fi_slot_cmp);
	return r ? &r->id : NULL;
}

/*
 * tp_service_backends() from the copy: the rows of the backends (at most
 * TP_MAX_SVC_BACKENDS) the index lists for @svc_id that are still its.
 */
static int tp_fi_backends(const struct tp_fi *fi, __u32 svc_id,
			  struct tp_fi_be **rows)
{
	const __u32 *head = tp_fi_slot(fi, svc_id, TP_SVC_BE_HEAD), *id;
	struct tp_fi_be want, *be;
	__u32 count, i;
	int n = 0;

	count = !head			      ? 0
		: *head > TP_MAX_SVC_BACKENDS ? TP_MAX_SVC_BACKENDS
					      : *head;
	for (i = 0; i < count; i++) {
		id = tp_fi_slot(fi, svc_id, i);
		if (!id || !fi->n_bes)
			continue;
		want.id = *id;
		be = bsearch(&want, fi->bes, fi->n_bes, sizeof(want),
			     tp_fi_be_cmp);
		if (be && be->be.svc_id == svc_id)
			rows[n++] = be;
	}
	return n;
}

/*
 * tp_backend_flags() with the copy's tp_be_frontends entry, kept up to
 * date; a tuple with no entry there takes tp_be_frontend_add()'s path.
 */
static __u16 tp_fi_backend_flags(const struct tp_maps *m, struct tp_fi *fi,
				 const struct tp_svc_key *key,
				 const struct tp_backend *nb)
{
	struct tp_be_key bk = tp_be_key_of(nb, key->proto);
	struct tp_fi_befe *row =
		fi->n_befe ? bsearch(&bk, fi->befe, fi->n_befe,
				     sizeof(*fi->befe), tp_fi_befe_cmp)
			   : NULL;

	if (!row)
		return tp_backend_flags(m, key, nb);
	return tp_be_frontends_put(m, &bk, &row->f, key) ? TP_BACKEND_F_INDEXED
							 : 0;
}

/**
 * tp_service_frontends_index() - put every configured backend's frontend
 * into tp_be_frontends and flag the backend (pins written before the
 * index existed, or by a writer that could not index), flagged backends
 * too (the index map's entries lost while tp_backends kept its flags).
 * @m: maps.
 *
 * Under the writers' lock.  A backend whose tuple's slots are full stays
 * or becomes unflagged: its flows keep their reply keys.  The maps are
 * read in chunks and compared in memory (every loader start with pins
 * runs this; one lookup at a time it took 90,000 system calls for 10,000
 * services); only what changes is written.
 *
 * Return: the number of backends flagged now, or -errno.
 */
int tp_service_frontends_index(const struct tp_maps *m)
{
	struct tp_fi_be *rows[TP_MAX_SVC_BACKENDS];
	struct tp_backend nb;
	struct tp_fi fi;
	int n, i, flagged = 0, err;
	size_t s;
	__u16 flags;

	err = tp_fi_read(m, &fi, true);
	for (s = 0; !err && s < fi.n_svcs; s++) {
		n = tp_fi_backends(&fi, fi.svcs[s].svc.id, rows);
		for (i = 0; i < n; i++) {
			/*
			 * A flagged backend too: its entry may be gone (the
			 * map's pin removed, a migration that lost it), and
			 * the flag stays only with the entry.
			 */
			nb = rows[i]->be;
			flags = tp_fi_backend_flags(m, &fi, &fi.svcs[s].key,
						    &nb);
			if ((nb.flags & TP_BACKEND_F_INDEXED) == flags)
				continue;
			nb.flags = (__u16)((nb.flags & ~TP_BACKEND_F_INDEXED) |
					   flags);
			if (bpf_map_update_elem(m->backends, &rows[i]->id, &nb,
						BPF_EXIST)) {
				err = -errno;
				break;
			}
			rows[i]->be = nb;
			flagged += !!flags;
		}
	}
	tp_fi_free(&fi);
	return err ? err : flagged;
}

/* ---- a copy of the services for a sync ------------------------------------ */

/**
 * struct tp_svc_snapshot - tp_services (sorted by frontend),
 * tp_svc_backends and tp_backends as one read of each left them.
 * @fi: the copy, tp_be_frontends not read.
 *
 * A sync of a whole configuration compares every service with what the
 * maps hold: read a chunk of entries a system call, not six lookups a
 * service (60,000 at 10,000 services for a restart that changes nothing).
 */
struct tp_svc_snapshot {
	struct tp_fi fi;
};

static int tp_fi_svc_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tp_svc_key));
}

/**
 * tp_svc_snapshot_read() - copy the services, their index and backends.
 * @m:   maps.
 * @out: set to the copy (tp_svc_snapshot_free() it).
 *
 * Under the writers' lock: the copy stays true for every service the
 * holder does not write.
 *
 * Return: 0 or -errno.
 */
int tp_svc_snapshot_read(const struct tp_maps *m, struct tp_svc_snapshot **out)
{
	struct tp_svc_snapshot *s = calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	err = tp_fi_read(m, &s->fi, false);
	if (err) {
		tp_svc_snapshot_free(s);
		return err;
	}
	if (s->fi.n_svcs)
		qsort(s->fi.svcs, s->fi.n_svcs, sizeof(*s->fi.svcs),
		      tp_fi_svc_cmp);
	*out = s;
	return 0;
}

/** tp_svc_snapshot_free() - forget a copy (NULL: nothing). */
void tp_svc_snapshot_free(struct tp_svc_snapshot *s)
{
	if (!s)
		return;
	tp_fi_free(&s->fi);
	free(s);
}

/**
 * tp_svc_snapshot_find() - a service's entry in the copy.
 * @s:   the copy.
 * @key: the frontend.
 * @svc: set to its entry.
 *
 * Return: true when the copy has the service.
 */
bool tp_svc_snapshot_find(const struct tp_svc_snapshot *s,
			  const struct tp_svc_key *key, struct tp_svc *svc)
{
	const struct tp_fi_svc *r;

	if (!s->fi.n_svcs)
		return false;
	r = bsearch(key, s->fi.svcs, s->fi.n_svcs, sizeof(*s->fi.svcs),
		    tp_fi_svc_cmp);
	if (r)
		*svc = r->svc;
	return r != NULL;
}

/**
 * tp_svc_snapshot_backends() - tp_service_backends() from the copy.
 * @s:      the copy.
 * @svc_id: service id.
 * @ids:    filled with backend ids.
 * @bes:    filled with the backends, or NULL.
 * @cap:    room in @ids and @bes.
 *
 * Return: the number of backends (only @cap of them stored).
 */
int tp_svc_snapshot_backends(const struct tp_svc_snapshot *s, __u32 svc_id,
			     __u32 *ids, struct tp_backend *bes, size_t cap)
{
	struct tp_fi_be *rows[TP_MAX_SVC_BACKENDS];
	int n = tp_fi_backends(&s->fi, svc_id, rows), i;

	for (i = 0; i < n && (size_t)i < cap; i++) {
		ids[i] = rows[i]->id;
		if (bes)
			bes[i] = rows[i]->be;
	}
	return n;
}

/* ---- ids ---------------------------------------------------------------- */

/* A service id is in use while the index has its head. */
static int tp_svc_id_used(void *ctx, __u32 id)
{
	const struct tp_maps *m = ctx;
	int n = tp_svc_index_count(m, id);

	if (n == -ENOENT)
		return 0;
	return n < 0 ? n : 1;
}

static int tp_backend_id_used(void *ctx, __u32 id)
{
	const struct tp_maps *m = ctx;
	struct tp_backend be;

	return tp_map_has(m->backends, &id, &be);
}

/*
 * A free service id: 1..@end-1, the id naming its counter in tp_svc_stats.
 * @end: tp_stat_ids_end(tp_svc_stats).
 */
static int tp_service_alloc_id(const struct tp_maps *m, __u32 end, __u32 *id)
{
	int err = tp_id_alloc(1, end, tp_svc_id_used, (void *)m, id);

	return err == -ENOSPC || err == -EINVAL
		       ? tp_limit_hit(TP_LIMIT_SERVICES)
		       : err;
}

/*
 * Backend ids 1..max_entries: tp_backends is a hash, so its capacity is
 * the count of backends, a power of two by default (the kernel rounds a
 * hash's buckets up to one: a +1 would double them).  @max:
 * max_entries(tp_backends).
 */
static int tp_backend_alloc_id(const struct tp_maps *m, __u32 max, __u32 *id)
{
	int err = tp_id_alloc(1, max + 1, tp_backend_id_used, (void *)m, id);

	return err == -ENOSPC || err == -EINVAL
		       ? tp_limit_hit(TP_LIMIT_BACKENDS)
		       : err;
}

/* ---- tables --------------------------------------------------------------- */

/**
 * tp_service_maglev_cap() - the largest table size of the maps' loader.
 * @m: maps.
 *
 * Return: the maglev_size the loader recorded in tp_svc_backends, or
 * @m->maglev_size when none is recorded.
 */
__u32 tp_service_maglev_cap(const struct tp_maps *m)
{
	struct tp_svc_be_key k = tp_svc_be_key(0, TP_SVC_BE_HEAD);
	__u32 size;

	if (m->svc_backends >= 0 &&
	    !bpf_map_lookup_elem(m->svc_backends, &k, &size) &&
	    tp_maglev_size_valid(size))
		return size;
	return m->maglev_size;
}

/**
 * tp_service_maglev_cap_set() - record the configured table size for
 * every later writer (tpctl learns it from the maps).
 * @m:    maps.
 * @size: the loader's maglev_size.
 *
 * Return: 0 or -errno.
 */
int tp_service_maglev_cap_set(const struct tp_maps *m, __u32 size)
{
	struct tp_svc_be_key k = tp_svc_be_key(0, TP_SVC_BE_HEAD);

	if (bpf_map_update_elem(m->svc_backends, &k, &size, BPF_ANY))
		return -errno;
	return 0;
}

/* A backend as its service names it: ADDR:PORT, or ADDR for ICMP. */
static char *tp_backend_str(const struct tp_svc_key *key,
			    const struct tp_backend_spec *be, char *buf,
			    size_t len)
{
	if (key->proto == IPPROTO_ICMP || key->proto == IPPROTO_ICMPV6)
		return tp_addr_format(&be->addr, buf, len);
	return tp_endpoint_format(&be->addr, ntohs(be->port), buf, len);
}

static const char *tp_family_str(const struct tp_addr *a)
{
	return tp_addr_is_v4(a) ? "IPv4" : "IPv6";
}

/**
 * tp_service_check() - whether tp_service_set() would take a service,
 * and why not.
 * @key: the frontend.
 * @be:  its backends.
 * @n:   their number.
 * @why: room for a one-line explanation naming what is wrong, or NULL.
 * @len: its size.
 *
 * Every backend must be of the VIP's address family (the datapath
 * rewrites addresses in place: an IPv6 backend of an IPv4 VIP would be
 * truncated), an ICMP service's protocol must be the VIP family's, and
 * backends must be unique with a weight and a known state.
 *
 * Return: 0; -EAFNOSUPPORT (families differ), -E2BIG (more than
 * TP_MAX_SVC_BACKENDS), -EEXIST (a backend twice) or -EINVAL.
 */
int tp_service_check(const struct tp_svc_key *key,
		     const struct tp_backend_spec *be, size_t n, char *why,
		     size_t len)
{
	char b[TP_ENDPOINT_STRLEN], v[TP_ADDR_STRLEN];
	bool v4 = tp_addr_is_v4(&key->vip);
	size_t i, j;

	if (!why)
		len = 0;
	if (n > TP_MAX_SVC_BACKENDS) {
		snprintf(
			why, len,
			"%zu backends, more than the %d a service can have "
			"(TP_MAX_SVC_BACKENDS; no configuration key raises it yet)",
			n, TP_MAX_SVC_BACKENDS);
		tp_limit_hit(TP_LIMIT_SVC_BACKENDS);
		return -E2BIG;
	}
	if (key->pad) {
		snprintf(why, len, "bad service key: padding is not zero");
		return -EINVAL;
	}
	if ((key->proto == IPPROTO_ICMP && !v4) ||
	    (key->proto == IPPROTO_ICMPV6 && v4)) {
		snprintf(why, len, "protocol %s needs an %s VIP, and %s is %s",
			 v4 ? "icmpv6" : "icmpv4", v4 ? "IPv6" : "IPv4",
			 tp_addr_format(&key->vip, v, sizeof(v)),
			 tp_family_str(&key->vip));
		return -EAFNOSUPPORT;
	}
	for (i = 0; i < n; i++) {
		tp_backend_str(key, &be[i], b, sizeof(b));
		if (tp_addr_is_v4(&be[i].addr) != v4) {
			snprintf(
				why, len,
				"backend %s is %s but the VIP %s is %s (a service's backends must be of its VIP's address family)",
				b, tp_family_str(&be[i].addr),
				tp_addr_format(&key->vip, v, sizeof(v)),
				tp_family_str(&key->vip));
			return -EAFNOSUPPORT;
		}
		if (!be[i].weight) {
			snprintf(why, len,
				 "backend %s has weight 0: expected 1-65535",
				 b);
			return -EINVAL;
		}
		if (be[i].state > TP_BACKEND_MAINTENANCE) {
			snprintf(why, len, "backend %s has an unknown state %u",
				 b, be[i].state);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (tp_addr_equal(&be[i].addr, &be[j].addr) &&
			    be[i].port == be[j].port) {
				snprintf(why, len, "backend %s is listed twice",
					 b);
				return -EEXIST;
			}
		}
	}
	return 0;
}

/* ---- staging ------------------------------------------------------------- */

/* A service whose table is due; @tag says who staged it last. */
struct tp_svc_dirty {
	__u32 svc_id;
	struct tp_svc_key key;
	unsigned long tag;
	size_t order;
};

/* A backend its service dropped, deleted once the new table is live. */
struct tp_svc_doomed {
	__u32 svc_id;
	__u32 backend_id;
};

/**
 * struct tp_svc_batch - services staged and not flushed yet.
 * @dirty:    services whose table is due, in staging order (repeats
 *            allowed: the flush builds each once).
 * @n_dirty:  their number.
 * @doomed:   backends to delete after the tables.
 * @n_doomed: their number.
 * @cap_d:    room in @dirty.
 * @cap_x:    room in @doomed.
 * @built:    tables its flushes built, for tests and logs.
 * @limits:   @svc_end, @be_max and @table_cap are read (tp_svc_batch_limits()).
 * @old_slab: the entries' extents are of a slab replaced since: not freed.
 * @svc_end:  tp_stat_ids_end() of tp_svc_stats: service ids are below it.
 * @be_max:   max_entries of tp_backends.
 * @table_cap: tp_service_maglev_cap().
 *
 * A batch is staged and flushed under one hold of the writers' lock, so
 * the maps' capacities and the recorded table size are read once for it,
 * not three syscalls again for every service staged.
 */
struct tp_svc_batch {
	struct tp_svc_dirty *dirty;
	size_t n_dirty;
	struct tp_svc_doomed *doomed;
	size_t n_doomed;
	size_t cap_d;
	size_t cap_x;
	unsigned long built;
	bool limits;
	bool old_slab;
	__u32 svc_end;
	__u32 be_max;
	__u32 table_cap;
};

/* Read @b's limits from the maps, the first time only. */
static void tp_svc_batch_limits(const struct tp_maps *m, struct tp_svc_batch *b)
{
	if (b->limits)
		return;
	b->svc_end = tp_stat_ids_end(m->svc_stats);
	b->be_max = tp_map_max_entries(m->backends);
	b->table_cap = tp_service_maglev_cap(m);
	b->limits = true;
}

/** tp_svc_batch_built() - how many tables the flushes of @b have built. */
unsigned long tp_svc_batch_built(const struct tp_svc_batch *b)
{
	return b ? b->built : 0;
}

/**
 * tp_svc_batch_old_slab() - have @b's flushes not free the extents the
 * services' entries name: they are of a slab that was replaced (the
 * loader rebuilding every table into a new one).
 */
void tp_svc_batch_old_slab(struct tp_svc_batch *b)
{
	b->old_slab = true;
}

/** tp_svc_batch_new() - an empty batch, or NULL without memory. */
struct tp_svc_batch *tp_svc_batch_new(void)
{
	return calloc(1, sizeof(struct tp_svc_batch));
}

/** tp_svc_batch_free() - forget a batch (flush it first to apply it). */
void tp_svc_batch_free(struct tp_svc_batch *b)
{
	if (!b)
		return;
	free(b->dirty);
	free(b->doomed);
	free(b);
}

/** tp_svc_batch_pending() - whether @b holds anything to flush. */
bool tp_svc_batch_pending(const struct tp_svc_batch *b)
{
	return b && (b->n_dirty || b->n_doomed);
}

static int tp_svc_batch_mark(struct tp_svc_batch *b, __u32 svc_id,
			     const struct tp_svc_key *key, unsigned long tag)
{
	struct tp_svc_dirty *d;

	if (tp_array_grow((void **)&b->dirty, &b->cap_d, b->n_dirty + 1,
			  sizeof(*b->dirty), 16))
		return -ENOMEM;
	d = &b->dirty[b->n_dirty];
	d->svc_id = svc_id;
	d->key = *key;
	d->tag = tag;
	d->order = b->n_dirty++;
	return 0;
}

/**
 * tp_svc_batch_add() - have the next flush build a service's table again.
 * @b:      the batch.
 * @svc_id: the service's id.
 * @key:    its frontend.
 *
 * Return: 0 or -ENOMEM.
 */
int tp_svc_batch_add(struct tp_svc_batch *b, __u32 svc_id,
		     const struct tp_svc_key *key)
{
	return tp_svc_batch_mark(b, svc_id, key, 0);
}

static int tp_svc_batch_doom(struct tp_svc_batch *b, __u32 svc_id,
			     __u32 backend_id)
{
	if (tp_array_grow((void **)&b->doomed, &b->cap_x, b->n_doomed + 1,
			  sizeof(*b->doomed), 16))
		return -ENOMEM;
	b->doomed[b->n_doomed++] = (struct tp_svc_doomed){ svc_id, backend_id };
	return 0;
}

struct tp_service_update {
	__u32 ids[TP_MAX_SVC_BACKENDS];	    /* id of each wanted backend */
	int was[TP_MAX_SVC_BACKENDS];	    /* its index in @old, -1: new */
	__u32 old_ids[TP_MAX_SVC_BACKENDS]; /* ids the service had */
	struct tp_backend old[TP_MAX_SVC_BACKENDS];
	int n_old;
};

/* Step 1: give every wanted backend an id (reusing matches) and write it. */
static int tp_service_write_backends(const struct tp_maps *m,
				     const struct tp_svc_batch *b,
				     const struct tp_svc_key *key, __u32 svc_id,
				     __u8 owner,
				     const struct tp_backend_spec *be, size_t n,
				     struct tp_service_update *u)
{
	struct tp_backend nb;
	size_t i;
	int j, err = 0;

	for (i = 0; i < n; i++) {
		u->was[i] = -1;
		u->ids[i] = 0;
	}
	for (i = 0; i < n && !err; i++) {
		for (j = 0; j < u->n_old; j++) {
			if (tp_addr_equal(&u->old[j].addr, &be[i].addr) &&
			    u->old[j].port == be[i].port) {
				u->ids[i] = u->old_ids[j];
				u->was[i] = j;
			}
		}
		memset(&nb, 0, sizeof(nb));
		nb.addr = be[i].addr;
		nb.port = be[i].port;
		nb.state = be[i].state;
		nb.owner = owner;
		nb.weight = be[i].weight;
		nb.svc_id = svc_id;
		/* the frontend is indexed before the flag says so */
		nb.flags = tp_backend_flags(m, key, &nb);
		if (u->was[i] >= 0 &&
		    !memcmp(&nb, &u->old[u->was[i]], sizeof(nb)))
			continue; /* unchanged */
		if (!u->ids[i])
			err = tp_backend_alloc_id(m, b->be_max, &u->ids[i]);
		if (err)
			break;
		if (bpf_map_update_elem(m->backends, &u->ids[i], &nb,
					BPF_ANY)) {
			err = tp_limit_errno(-errno, TP_LIMIT_BACKENDS);
			if (u->was[i] < 0)
				u->ids[i] = 0;
		}
	}
	return err;
}

/*
 * Undo step 1 after a later step failed: new backends go, changed ones get
 * their old values back, so no id is left pointing at the service.
 */
static void tp_service_rollback(const struct tp_maps *m,
				const struct tp_service_update *u, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!u->ids[i])
			continue;
		if (u->was[i] < 0)
			bpf_map_delete_elem(m->backends, &u->ids[i]);
		else
			bpf_map_update_elem(m->backends, &u->ids[i],
					    &u->old[u->was[i]], BPF_ANY);
	}
}

/**
 * tp_service_stage() - make a service's backends and attributes what is
 * given; its Maglev table follows at the next tp_svc_batch_flush().
 * @m:    maps.
 * @b:    the batch that remembers what the flush has to do.
 * @key:  the frontend (VIP, port, protocol).
 * @spec: attributes.
 * @be:   the complete list of backends; active ones get new flows.
 * @n:    their number, at most TP_MAX_SVC_BACKENDS.
 * @tag:  the caller's name for this write (tpctl: the batch line), given
 *        back by a flush that fails on this service.
 *
 * Until the flush, new flows keep going by the service's previous table
 * (a new service drops them), so each packet sees either the old or the
 * new backend set.  Backends are matched to the existing ones by address
 * and port, so a backend keeps its id (and its flows' accounting).
 * Input tp_service_check() refuses is refused before anything is written.
 *
 * Return: 0 or -errno (-EINVAL bad input, -EAFNOSUPPORT a backend or the
 * ICMP protocol of another address family than the VIP's, -EEXIST
 * duplicate backend, -E2BIG too many backends, -ENOSPC no free id or a
 * map full: tp_strerror() names which, -EADDRINUSE the VIP is a static NAT
 * address).
 */
int tp_service_stage(const struct tp_maps *m, struct tp_svc_batch *b,
		     const struct tp_svc_key *key,
		     const struct tp_svc_spec *spec,
		     const struct tp_backend_spec *be, size_t n,
		     unsigned long tag)
{
	return tp_service_stage_known(m, b, key, spec, be, n, tag, NULL);
}

/**
 * tp_service_stage_known() - tp_service_stage() for a caller that has
 * just read the service's backends (tp_service_backends()) under the
 * writers' lock: they are not read again.
 * @m:    maps.
 * @b:    the batch.
 * @key:  the frontend.
 * @spec: attributes.
 * @be:   the complete list of backends.
 * @n:    their number.
 * @tag:  as tp_service_stage().
 * @cur:  the backends as read, or NULL (read them); used only when its
 *        service id is the service's now.
 *
 * A backend line of a tpctl batch reads its service to edit the list;
 * reading it again here was a fifth of such a line's cost.
 *
 * Return: as tp_service_stage().
 */
int tp_service_stage_known(const struct tp_maps *m, struct tp_svc_batch *b,
			   const struct tp_svc_key *key,
			   const struct tp_svc_spec *spec,
			   const struct tp_backend_spec *be, size_t n,
			   unsigned long tag, const struct tp_svc_current *cur)
{
	struct tp_service_update *u;
	struct tp_svc svc = {};
	bool created = false;
	int j, err, n_slots;
	size_t i;

	tp_limit_reset();
	err = tp_service_check(key, be, n, NULL, 0);
	if (err)
		return err;
	/* a flag the datapath does not know would mean nothing, silently */
	if (spec->flags & ~(TP_SVC_F_AFFINITY | TP_SVC_F_SNAT))
		return -EINVAL;
	/* a VIP is never a static NAT address (lib/static_nat.c) */
	if (tp_static_nat_uses(m, spec->zone, &key->vip))
		return -EADDRINUSE;
	tp_svc_batch_limits(m, b);
	if (n > b->table_cap)
		return -EINVAL; /* more backends than table entries */
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	if (bpf_map_lookup_elem(m->services, key, &svc)) {
		memset(&svc, 0, sizeof(svc));
		err = tp_service_alloc_id(m, b->svc_end, &svc.id);
		if (err)
			goto out;
		created = true;
	}
	if (cur && !created && cur->svc_id == svc.id &&
	    cur->n <= TP_MAX_SVC_BACKENDS) {
		u->n_old = (int)cur->n;
		memcpy(u->old_ids, cur->ids, cur->n * sizeof(*cur->ids));
		memcpy(u->old, cur->bes, cur->n * sizeof(*cur->bes));
	} else {
		u->n_old = tp_service_backends(m, svc.id, u->old_ids, u->old,
					       TP_MAX_SVC_BACKENDS);
	}
	if (u->n_old < 0) {
		err = u->n_old;
		goto out;
	}
	if (u->n_old > TP_MAX_SVC_BACKENDS)
		u->n_old = TP_MAX_SVC_BACKENDS;
	n_slots = created ? -1 : tp_svc_index_count(m, svc.id);

	err = tp_service_write_backends(m, b, key, svc.id, spec->owner, be, n,
					u);
	if (!err && created)
		err = tp_svc_index_update(m, svc.id, u->ids, n, NULL, -1);
	else if (!err)
		/* the listed ids are the slots' unless a slot was broken */
		err = tp_svc_index_update(
			m, svc.id, u->ids, n,
			n_slots == u->n_old ? u->old_ids : NULL, n_slots);
	if (err)
		goto rollback;

	svc.flags = spec->flags;
	svc.zone = spec->zone;
	svc.affinity_timeout = spec->affinity_timeout;
	svc.owner = spec->owner;
	svc.revision++;
	if (bpf_map_update_elem(m->services, key, &svc, BPF_ANY)) {
		err = tp_limit_errno(-errno, TP_LIMIT_SERVICES);
		goto rollback;
	}
	err = tp_svc_batch_mark(b, svc.id, key, tag);
	/* backends the service no longer has: deleted after the flush */
	for (j = 0; j < u->n_old && !err; j++) {
		for (i = 0; i < n; i++)
			if (u->ids[i] == u->old_ids[j])
				break;
		if (i == n)
			err = tp_svc_batch_doom(b, svc.id, u->old_ids[j]);
	}
	goto out;
rollback:
	tp_service_rollback(m, u, n);
	if (created)
		tp_svc_index_del(m, svc.id, (int)n);
	else
		tp_svc_index_write(m, svc.id, u->old_ids, u->n_old, (int)n);
out:
	free(u);
	return err;
}

/*
 * One service's new table, written to its extent and not live yet.
 * @size 0: no table (no active backend).
 */
struct tp_svc_ready {
	struct tp_svc_key key;
	struct tp_svc svc; /* as it is: the live table's offset and size */
	__u32 size;
	__u32 off;
	__u16 active;
};

/* A new extent of @size holding the table of @mb's @n backends. */
static int tp_service_table_write(const struct tp_maps *m,
				  const struct tp_maglev_backend *mb, size_t n,
				  __u32 size, __u32 *off)
{
	__u32 *table = calloc(size, sizeof(*table));
	int err = table ? tp_maglev_build(mb, n, size, table) : -ENOMEM;

	if (!err)
		err = tp_slab_alloc(m->slab, size, off);
	if (err == -ENOSPC)
		err = tp_limit_hit(TP_LIMIT_MAGLEV);
	else if (!err) {
		/* the extent is live only once an entry names it */
		err = tp_slab_write(m->slab, *off, size, table);
		if (err)
			tp_slab_release(m->slab, *off, size);
	}
	free(table);
	return err;
}

/* Step 4 for one service: its table built from the index. */
static int tp_service_prepare(const struct tp_maps *m,
			      const struct tp_svc_key *key, __u32 svc_id,
			      __u32 cap, struct tp_svc_ready *r)
{
	struct tp_maglev_backend *mb = NULL;
	struct tp_backend *bes = NULL;
	__u32 ids[TP_MAX_SVC_BACKENDS];
	int n, i, n_active = 0, err = 0;

	r->size = 0;
	r->off = 0;
	if (bpf_map_lookup_elem(m->services, key, &r->svc) ||
	    r->svc.id != svc_id)
		return -ENOENT; /* deleted (or replaced) since: nothing to build */
	r->key = *key;
	bes = calloc(TP_MAX_SVC_BACKENDS, sizeof(*bes));
	mb = calloc(TP_MAX_SVC_BACKENDS, sizeof(*mb));
	if (!bes || !mb) {
		err = -ENOMEM;
		goto out;
	}
	n = tp_service_backends(m, svc_id, ids, bes, TP_MAX_SVC_BACKENDS);
	if (n < 0) {
		err = n;
		goto out;
	}
	for (i = 0; i < n && i < TP_MAX_SVC_BACKENDS; i++) {
		if (bes[i].state != TP_BACKEND_ACTIVE)
			continue;
		mb[n_active].id = ids[i];
		mb[n_active].addr = bes[i].addr;
		mb[n_active].port = bes[i].port;
		mb[n_active].weight = bes[i].weight;
		n_active++;
	}
	r->active = (__u16)n_active;
	if (!n_active)
		goto out;
	r->size = tp_maglev_table_size((__u32)n_active, cap);
	err = tp_service_table_write(m, mb, (size_t)n_active, r->size, &r->off);
	if (err)
		r->size = 0;
out:
	free(mb);
	free(bes);
	return err;
}

/*
 * Step 5 for prepared services, entry by entry: each makes its new table
 * live and its old one (freed after the flush's grace period) unused.  A
 * failure stops there: the new extents of it and the services after it
 * were never named, and go at once.
 */
static int tp_svc_ready_apply(const struct tp_maps *m,
			      const struct tp_svc_batch *b,
			      struct tp_svc_ready *r, size_t n, size_t *failed)
{
	struct tp_svc old;
	size_t i, j;

	for (i = 0; i < n; i++) {
		old = r[i].svc;
		r[i].svc.active = r[i].active;
		r[i].svc.table_size = r[i].size;
		r[i].svc.table_off = r[i].off;
		if (bpf_map_update_elem(m->services, &r[i].key, &r[i].svc,
					BPF_ANY)) {
			int err = -errno;

			for (j = i; j < n; j++)
				if (r[j].size)
					tp_slab_release(m->slab, r[j].off,
							r[j].size);
			*failed = i;
			return err;
		}
		if (!b || !b->old_slab)
			tp_slab_defer(m->slab, old.table_off, old.table_size);
	}
	return 0;
}

/* Services prepared before their entries are written, at most. */
#define TP_SVC_FLUSH_CHUNK 256

static int tp_svc_dirty_cmp(const void *pa, const void *pb)
{
	const struct tp_svc_dirty *a = pa, *b = pb;

	if (a->svc_id != b->svc_id)
		return a->svc_id < b->svc_id ? -1 : 1;
	return (a->order > b->order) - (a->order < b->order);
}

/* Step 6: a dropped backend goes unless it has changed hands since. */
static void tp_svc_doomed_delete(const struct tp_maps *m,
				 const struct tp_svc_doomed *x)
{
	struct tp_backend be;

	if (!bpf_map_lookup_elem(m->backends, &x->backend_id, &be) &&
	    be.svc_id == x->svc_id)
		bpf_map_delete_elem(m->backends, &x->backend_id);
}

/**
 * tp_svc_batch_flush() - build and make live the table of every service
 * staged in @b, once each, then free the tables they replaced and delete
 * the backends they dropped.
 * @m:          maps.
 * @b:          the batch; empty afterwards, whatever the result.
 * @failed_key: set to the service a failure happened on, or NULL.
 * @failed_tag: set to the tag it was last staged with, or NULL.
 *
 * A failure stops at that service: services before it are live, it and
 * those after keep their previous tables (and the backends they dropped,
 * so those tables stay valid).
 *
 * Return: 0 or -errno.
 */
int tp_svc_batch_flush(const struct tp_maps *m, struct tp_svc_batch *b,
		       struct tp_svc_key *failed_key, unsigned long *failed_tag)
{
	__u32 cap, failed_id = 0;
	struct tp_svc_ready *r = NULL;
	const struct tp_svc_dirty *d = NULL;
	size_t i, j, n = 0, at = 0;
	int err = 0, e = 0;

	if (!b)
		return 0;
	tp_svc_batch_limits(m, b);
	cap = b->table_cap;
	r = calloc(TP_SVC_FLUSH_CHUNK, sizeof(*r));
	if (!r && b->n_dirty) {
		err = -ENOMEM;
		failed_id = b->dirty[0].svc_id;
		d = &b->dirty[0];
		goto failed;
	}
	/* per service id, the last staging names the key and the tag */
	qsort(b->dirty, b->n_dirty, sizeof(*b->dirty), tp_svc_dirty_cmp);
	for (i = 0; i < b->n_dirty && !err; i++) {
		if (i + 1 < b->n_dirty &&
		    b->dirty[i + 1].svc_id == b->dirty[i].svc_id)
			continue;
		d = &b->dirty[i];
		e = tp_service_prepare(m, &d->key, d->svc_id, cap, &r[n]);
		if (e == -ENOENT)
			continue;
		if (!e && r[n].size)
			b->built++;
		if (e)
			break; /* the services prepared before it still go live */
		if (++n < TP_SVC_FLUSH_CHUNK)
			continue;
		err = tp_svc_ready_apply(m, b, r, n, &at);
		if (err)
			failed_id = r[at].svc.id;
		n = 0;
	}
	if (!err && n) {
		err = tp_svc_ready_apply(m, b, r, n, &at);
		if (err)
			failed_id = r[at].svc.id;
	}
	if (!err && e && e != -ENOENT && d) {
		err = e;
		failed_id = d->svc_id;
	}
	/* once for every table replaced, after every entry is written */
	e = tp_slab_settle(m->slab, m->services);
	if (!err)
		err = e;
	if (err) {
		for (i = 0; i < b->n_dirty && b->dirty[i].svc_id != failed_id;
		     i++)
			;
		d = &b->dirty[i < b->n_dirty ? i : 0];
	failed:
		if (failed_key)
			*failed_key = d->key;
		if (failed_tag)
			*failed_tag = d->tag;
		/* keep what the unflushed services' old tables may still name */
		for (j = 0; j < b->n_doomed; j++)
			if (b->doomed[j].svc_id >= failed_id)
				b->doomed[j].backend_id = 0;
	}
	for (i = 0; i < b->n_doomed; i++)
		if (b->doomed[i].backend_id)
			tp_svc_doomed_delete(m, &b->doomed[i]);
	free(r);
	b->n_dirty = 0;
	b->n_doomed = 0;
	b->limits =
		false; /* read again by the next staging, maybe unlocked since */
	return err;
}

/* ---- services into maps that hold none ------------------------------------ */

/*
 * Backend rows one step of tp_svc_fresh_add() writes at most, and
 * services (a service's rows are never split).  Every buffer of the fresh
 * path has room for one step, whatever the number of services: holding
 * all 10,000 services' rows at once took 7 MB of heap.  Four batch
 * writes a step, 160 at 20,000 backends.
 */
#define TP_FRESH_ROWS 512
_Static_assert(TP_FRESH_ROWS >= TP_MAX_SVC_BACKENDS, "a service fits a step");
#define TP_FRESH_HT (2 * TP_FRESH_ROWS) /* a step's tuples, open addressing */

/**
 * struct tp_svc_fresh - tp_svc_fresh_add()'s state from one call to the
 * next, and its buffers for one step: services [0, @n) of the step, their
 * backend rows [0, @be_from[@n]) and index rows [0, @ix_from[@n]).
 * @m:         maps.
 * @b:         the batch (its limits; @b->built counts the tables).
 * @svcs:      services written: ids 1..@svcs.
 * @bes:       backends written: ids 1..@bes.
 * @stopped:   a service was not written: none after it is.
 * @seen:      a bit set of tuple hashes (two bits a tuple): tuples whose
 *             tp_be_frontends entry an earlier step may have written.
 * @seen_mask: its bits, less one.
 * @n:         the step's services.
 * @be_from:   each service's first backend row.
 * @ix_from:   each service's first index row.
 * @be_ids:    backend ids.
 * @bes_v:     the backends.
 * @ix_keys:   index rows: each service's slots, then its head.
 * @ix_vals:   their values.
 * @keys:      the services' frontends.
 * @vals:      their entries (tables set by step 3).
 * @ht:        the step's tuples by hash: an index into @fe_keys, plus 1.
 * @grp:       each backend row's tuple in @fe_keys.
 * @slot:      the row's frontend has a slot in its tuple's entry.
 * @fe_keys:   the step's tuples in the order their first rows come.
 * @fe_vals:   their tp_be_frontends entries.
 * @fe_ok:     the entry went in.
 * @mb:        a table's active backends.
 */
struct tp_svc_fresh {
	const struct tp_maps *m;
	struct tp_svc_batch *b;
	__u32 svcs;
	__u32 bes;
	bool stopped;
	__u64 *seen;
	__u64 seen_mask;
	size_t n;
	__u32 be_from[TP_FRESH_ROWS + 1];
	__u32 ix_from[TP_FRESH_ROWS + 1];
	__u32 be_ids[TP_FRESH_ROWS];
	struct tp_backend bes_v[TP_FRESH_ROWS];
	struct tp_svc_be_key ix_keys[2 * TP_FRESH_ROWS];
	__u32 ix_vals[2 * TP_FRESH_ROWS];
	struct tp_svc_key keys[TP_FRESH_ROWS];
	struct tp_svc vals[TP_FRESH_ROWS];
	__u32 ht[TP_FRESH_HT];
	__u32 grp[TP_FRESH_ROWS];
	bool slot[TP_FRESH_ROWS];
	struct tp_be_key fe_keys[TP_FRESH_ROWS];
	struct tp_be_frontends fe_vals[TP_FRESH_ROWS];
	bool fe_ok[TP_FRESH_ROWS];
	struct tp_maglev_backend mb[TP_MAX_SVC_BACKENDS];
};

/**
 * tp_svc_fresh_new() - start writing services into maps that hold no
 * service, backend, index row, tp_be_frontends or static NAT entry yet (a
 * cold start's, made by the load): tp_svc_fresh_add().
 * @m:        maps.
 * @b:        the batch (its limits; @b->built counts the tables).
 * @backends: about how many backends will be added (sizes a bit set of
 *            16 bits a backend, at most 1 MiB).
 *
 * Return: the state (tp_svc_fresh_free() it), or NULL without memory.
 */
struct tp_svc_fresh *tp_svc_fresh_new(const struct tp_maps *m,
				      struct tp_svc_batch *b, size_t backends)
{
	struct tp_svc_fresh *f = calloc(1, sizeof(*f));
	__u64 bits = 1024;

	if (!f)
		return NULL;
	while (bits < 16 * (__u64)backends && bits < (1u << 23))
		bits <<= 1;
	f->seen = calloc(bits / 64, sizeof(*f->seen));
	if (!f->seen) {
		free(f);
		return NULL;
	}
	f->seen_mask = bits - 1;
	f->m = m;
	f->b = b;
	tp_svc_batch_limits(m, b);
	return f;
}

/** tp_svc_fresh_free() - forget the state (NULL: nothing). */
void tp_svc_fresh_free(struct tp_svc_fresh *f)
{
	if (!f)
		return;
	free(f->seen);
	free(f);
}

/* FNV-1a of a tuple, finished so that every bit depends on every byte. */
static __u64 tp_fresh_hash(const struct tp_be_key *bk)
{
	const unsigned char *p = (const unsigned char *)bk;
	__u64 h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < sizeof(*bk); i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	return h ^ (h >> 33);
}

/*
 * Might tp_be_frontends hold the tuple of hash @h (an earlier step named
 * it)?  It is marked as named from now on.  A wrong yes costs a lookup.
 */
static bool tp_fresh_seen(struct tp_svc_fresh *f, __u64 h)
{
	__u64 a = h & f->seen_mask, c = (h >> 32) & f->seen_mask;
	bool was = (f->seen[a / 64] >> (a % 64) & 1) &&
		   (f->seen[c / 64] >> (c % 64) & 1);

	f->seen[a / 64] |= 1ULL << (a % 64);
	f->seen[c / 64] |= 1ULL << (c % 64);
	return was;
}

/* The service of the step whose rows [from[i], from[i + 1]) hold row @k. */
static size_t tp_fresh_owner(const __u32 *from, size_t n, size_t k)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (from[mid] <= k)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Delete @n keys of @size at @keys, one batch or one by one. */
static void tp_fresh_delete(int fd, const void *keys, size_t size, size_t n)
{
	__u32 count = (__u32)n;
	size_t i;

	if (!n || !bpf_map_delete_batch(fd, keys, &count, NULL))
		return;
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, (const char *)keys + i * size);
}

/*
 * Take the step's services [@s, f->n) back out of the maps: what @phase
 * (1 backends, 2 index, 3 tables) and the phases before it wrote of them,
 * @done rows of @phase's own (from the start of its array).  Their
 * tp_be_frontends entries stay, as a writer that failed on them would
 * leave them.
 */
static void tp_fresh_cut(struct tp_svc_fresh *f, size_t s, int phase,
			 size_t done)
{
	const struct tp_maps *m = f->m;
	size_t be_end = phase == 1 ? done : f->be_from[f->n],
	       ix_end = phase == 2 ? done : f->ix_from[f->n], i;

	if (phase >= 3)
		for (i = s; i < (phase == 3 ? done : f->n); i++)
			if (f->vals[i].table_size)
				tp_slab_release(m->slab, f->vals[i].table_off,
						f->vals[i].table_size);
	if (phase >= 2 && ix_end > f->ix_from[s])
		tp_fresh_delete(m->svc_backends, &f->ix_keys[f->ix_from[s]],
				sizeof(*f->ix_keys), ix_end - f->ix_from[s]);
	if (be_end > f->be_from[s])
		tp_fresh_delete(m->backends, &f->be_ids[f->be_from[s]],
				sizeof(*f->be_ids), be_end - f->be_from[s]);
	f->n = s;
	f->stopped = true;
}

/*
 * Write rows [0, n) of @keys/@vals at once; @done: how many went in
 * (all, or those before the one that failed).  Return: 0 or -errno.
 */
static int tp_fresh_update(int fd, const void *keys, const void *vals, size_t n,
			   size_t *done)
{
	__u32 count = (__u32)n;
	int err = 0;

	if (n && bpf_map_update_batch(fd, keys, vals, &count, NULL))
		err = -errno;
	*done = err ? count : n;
	return err;
}

/*
 * Step 0: the step's tp_be_frontends entries, each tuple's with the
 * frontends of the first TP_BE_FRONTENDS services naming it (an earlier
 * step's entry read back and filled on), written in the order a writer
 * going service by service would make them, and past a row that fails
 * as that writer would go on; the backends whose frontend is in a
 * written entry are flagged, as tp_backend_flags() flags one at a time.
 */
static void tp_fresh_frontends(struct tp_svc_fresh *f)
{
	int fd = f->m->be_frontends;
	size_t s, j, k, g = 0, at = 0, done;

	if (fd < 0)
		return; /* none: nothing is indexed */
	memset(f->ht, 0, sizeof(f->ht));
	for (s = 0; s < f->n; s++)
		for (j = f->be_from[s]; j < f->be_from[s + 1]; j++) {
			struct tp_be_key bk =
				tp_be_key_of(&f->bes_v[j], f->keys[s].proto);
			__u64 h = tp_fresh_hash(&bk);

			for (k = h % TP_FRESH_HT;
			     f->ht[k] &&
			     memcmp(&f->fe_keys[f->ht[k] - 1], &bk, sizeof(bk));
			     k = (k + 1) % TP_FRESH_HT)
				;
			if (!f->ht[k]) {
				f->fe_keys[g] = bk;
				if (!tp_fresh_seen(f, h) ||
				    bpf_map_lookup_elem(fd, &bk,
							&f->fe_vals[g]))
					memset(&f->fe_vals[g], 0,
					       sizeof(f->fe_vals[g]));
				f->ht[k] = (__u32)++g;
			}
			f->grp[j] = f->ht[k] - 1;
			f->slot[j] = tp_be_frontends_slot(
				&f->fe_vals[f->grp[j]], &f->keys[s]);
		}
	while (at < g) {
		tp_fresh_update(fd, &f->fe_keys[at], &f->fe_vals[at], g - at,
				&done);
		memset(&f->fe_ok[at], 1, done);
		at += done;
		if (at < g) { /* that one alone, as the writer would */
			f->fe_ok[at] = !bpf_map_update_elem(
				fd, &f->fe_keys[at], &f->fe_vals[at], BPF_ANY);
			at++;
		}
	}
	for (j = 0; j < f->be_from[f->n]; j++)
		if (f->slot[j] && f->fe_ok[f->grp[j]])
			f->bes_v[j].flags |= TP_BACKEND_F_INDEXED;
}

/* Step 3 for service @i: its table, from the rows of its backends. */
static int tp_fresh_table(struct tp_svc_fresh *f, size_t i)
{
	struct tp_svc *v = &f->vals[i];
	size_t j, n_active = 0;
	int err;

	for (j = f->be_from[i]; j < f->be_from[i + 1]; j++) {
		if (f->bes_v[j].state != TP_BACKEND_ACTIVE)
			continue;
		f->mb[n_active].id = f->be_ids[j];
		f->mb[n_active].addr = f->bes_v[j].addr;
		f->mb[n_active].port = f->bes_v[j].port;
		f->mb[n_active].weight = f->bes_v[j].weight;
		n_active++;
	}
	v->active = (__u16)n_active;
	v->table_size = 0;
	v->table_off = 0;
	if (!n_active)
		return 0;
	v->table_size = tp_maglev_table_size((__u32)n_active, f->b->table_cap);
	err = tp_service_table_write(f->m, f->mb, n_active, v->table_size,
				     &v->table_off);
	if (err)
		v->table_size = 0;
	return err;
}

/*
 * The next step: as many of @svcs as fit, up to the first that
 * tp_service_stage() would refuse or no id is left for (then the path
 * stops after this step), and their rows.  Return: how many.
 */
static size_t tp_fresh_plan(struct tp_svc_fresh *f,
			    const struct tp_svc_new *svcs, size_t n)
{
	const struct tp_svc_batch *b = f->b;
	size_t i, j, n_be = 0, n_ix = 0;

	for (i = 0; i < n && i < TP_FRESH_ROWS; i++) {
		__u32 svc_id = f->svcs + (__u32)i + 1;

		if (n_be + svcs[i].n > TP_FRESH_ROWS)
			break; /* the next step's */
		if (svcs[i].spec.flags & ~(TP_SVC_F_AFFINITY | TP_SVC_F_SNAT) ||
		    svcs[i].n > b->table_cap ||
		    tp_service_check(&svcs[i].key, svcs[i].be, svcs[i].n, NULL,
				     0) ||
		    svc_id >= b->svc_end ||
		    f->bes + n_be + svcs[i].n > b->be_max) {
			f->stopped = true;
			break;
		}
		f->be_from[i] = (__u32)n_be;
		f->ix_from[i] = (__u32)n_ix;
		for (j = 0; j < svcs[i].n; j++, n_be++) {
			__u32 id = f->bes + (__u32)n_be + 1;

			f->bes_v[n_be] = (struct tp_backend){
				.addr = svcs[i].be[j].addr,
				.port = svcs[i].be[j].port,
				.state = svcs[i].be[j].state,
				.owner = svcs[i].spec.owner,
				.weight = svcs[i].be[j].weight,
				.svc_id = svc_id,
			};
			f->be_ids[n_be] = id;
			f->ix_keys[n_ix] = tp_svc_be_key(svc_id, (__u32)j);
			f->ix_vals[n_ix++] = id;
		}
		/* the slots before the head, as tp_svc_index_write() */
		f->ix_keys[n_ix] = tp_svc_be_key(svc_id, TP_SVC_BE_HEAD);
		f->ix_vals[n_ix++] = (__u32)svcs[i].n;
		f->keys[i] = svcs[i].key;
		f->vals[i] = (struct tp_svc){
			.id = svc_id,
			.flags = svcs[i].spec.flags,
			.zone = svcs[i].spec.zone,
			.affinity_timeout = svcs[i].spec.affinity_timeout,
			.owner = svcs[i].spec.owner,
			.revision = 1,
		};
	}
	f->n = i;
	f->be_from[i] = (__u32)n_be;
	f->ix_from[i] = (__u32)n_ix;
	return i;
}

/* Write the planned step; a failure cuts it at the service it hit. */
static void tp_fresh_step(struct tp_svc_fresh *f)
{
	const struct tp_maps *m = f->m;
	size_t i, done;

	tp_fresh_frontends(f);
	/* 1: backends; a failure ends the prefix at its service */
	if (tp_fresh_update(m->backends, f->be_ids, f->bes_v, f->be_from[f->n],
			    &done))
		tp_fresh_cut(f, tp_fresh_owner(f->be_from, f->n, done), 1,
			     done);
	/* 2: the index, each service's slots before its head */
	if (tp_fresh_update(m->svc_backends, f->ix_keys, f->ix_vals,
			    f->ix_from[f->n], &done))
		tp_fresh_cut(f, tp_fresh_owner(f->ix_from, f->n, done), 2,
			     done);
	/* 3: the tables, into extents no entry names yet */
	for (i = 0; i < f->n; i++) {
		if (tp_fresh_table(f, i)) {
			tp_fresh_cut(f, i, 3, i);
			break;
		}
		f->b->built += !!f->vals[i].table_size;
	}
	/* 4: the entries, each naming its table: the services go live */
	if (tp_fresh_update(m->services, f->keys, f->vals, f->n, &done))
		tp_fresh_cut(f, done, 4, f->n);
}

/**
 * tp_svc_fresh_add() - write new services into maps that held none when
 * tp_svc_fresh_new() began (and only these calls wrote since), a map's
 * worth of a few hundred services at a system call.
 * @f:    the state.
 * @svcs: the services, their frontends unique (also across calls).
 * @n:    their number.
 *
 * Under the writers' lock.  Writes what tp_service_stage() and
 * tp_svc_batch_flush() of each service would, in the same order for each
 * service: its backends and index before its entry, its table before the
 * entry names it, so a packet never sees a half-written service; a new
 * service's entry is written once, table and all (no entry without a
 * table in between: until then the service is not there, as before).
 * Service ids and backend ids are handed out in order from 1, across
 * calls.  It holds no buffer that grows with the services: it writes
 * TP_FRESH_ROWS backend rows at a time.
 *
 * It stops before the first service tp_service_stage() would refuse,
 * and before the first one a map has no room for (a failing write of a
 * batch says which): that service and the ones after it are taken out
 * again, and the caller stages them one at a time, which fails or
 * reports for each as it always did.  After a stop, calls write nothing.
 *
 * Return: the number of services written (a prefix of @svcs: each is
 * complete and live).
 */
size_t tp_svc_fresh_add(struct tp_svc_fresh *f, const struct tp_svc_new *svcs,
			size_t n)
{
	size_t at = 0;

	tp_limit_reset();
	while (at < n && !f->stopped && tp_fresh_plan(f, svcs + at, n - at)) {
		tp_fresh_step(f);
		f->svcs += (__u32)f->n;
		f->bes += f->be_from[f->n];
		at += f->n;
	}
	if (at < n)
		f->stopped = true;
	tp_limit_reset(); /* a full map is the caller's to find again */
	return at;
}

/**
 * tp_service_set() - make a service exactly what is given, table and all.
 * @m:    maps.
 * @key:  the frontend (VIP, port, protocol).
 * @spec: attributes.
 * @be:   the complete list of backends; active ones get new flows.
 * @n:    their number, at most TP_MAX_SVC_BACKENDS.
 *
 * tp_service_stage() and tp_svc_batch_flush() of that one service.
 *
 * Return: 0 or -errno, as tp_service_stage() says.
 */
int tp_service_set(const struct tp_maps *m, const struct tp_svc_key *key,
		   const struct tp_svc_spec *spec,
		   const struct tp_backend_spec *be, size_t n)
{
	struct tp_svc_batch b = {};
	int err;

	err = tp_service_stage(m, &b, key, spec, be, n, 0);
	if (!err)
		err = tp_svc_batch_flush(m, &b, NULL, NULL);
	free(b.dirty);
	free(b.doomed);
	return err;
}

/**
 * tp_service_rebuild() - build a service's table again from its backends.
 * @m:   maps.
 * @key: the service.
 *
 * For the loader after an upgrade or a change of maglev_size.
 *
 * Return: 0, -ENOENT when there is no such service, or -errno.
 */
int tp_service_rebuild(const struct tp_maps *m, const struct tp_svc_key *key)
{
	struct tp_svc_ready r;
	struct tp_svc svc;
	size_t at;
	int err, e;

	if (bpf_map_lookup_elem(m->services, key, &svc))
		return -ENOENT;
	err = tp_service_prepare(m, key, svc.id, tp_service_maglev_cap(m), &r);
	if (!err)
		err = tp_svc_ready_apply(m, NULL, &r, 1, &at);
	e = tp_slab_settle(m->slab, m->services);
	return err ? err : e;
}

/**
 * tp_service_del_staged() - remove a service now, its table's extent and
 * its backends at @b's flush.
 * @m:   maps.
 * @b:   the batch.
 * @key: the frontend.
 *
 * The entry goes at once (new flows see no service), the index too (the
 * datapath never reads it); the extent is freed and the backends are
 * deleted after the flush's one grace period, however many services a
 * sync removes.
 *
 * Return: 0, -ENOENT when there is no such service, or -errno.
 */
int tp_service_del_staged(const struct tp_maps *m, struct tp_svc_batch *b,
			  const struct tp_svc_key *key)
{
	__u32 ids[TP_MAX_SVC_BACKENDS];
	struct tp_svc svc;
	int n, i, count, err = 0;

	if (bpf_map_lookup_elem(m->services, key, &svc))
		return -ENOENT;
	count = tp_svc_index_count(m, svc.id);
	n = tp_service_backends(m, svc.id, ids, NULL, TP_MAX_SVC_BACKENDS);
	for (i = 0; i < n && i < TP_MAX_SVC_BACKENDS && !err; i++)
		err = tp_svc_batch_doom(b, svc.id, ids[i]);
	if (!err)
		err = tp_slab_defer(m->slab, svc.table_off, svc.table_size);
	if (err)
		return err;
	if (bpf_map_delete_elem(m->services, key))
		return -errno;
	tp_svc_index_del(m, svc.id, count < 0 ? 0 : count);
	return 0;
}

/**
 * tp_service_del() - remove a service, its table and its backends.
 * @m:   maps.
 * @key: the frontend.
 *
 * The table's extent is freed after a grace period: a program that found
 * the entry before may still read it.
 *
 * Return: 0, -ENOENT when there is no such service, or -errno.
 */
int tp_service_del(const struct tp_maps *m, const struct tp_svc_key *key)
{
	__u32 ids[TP_MAX_SVC_BACKENDS];
	struct tp_svc svc;
	int n, i, count, err;

	if (bpf_map_lookup_elem(m->services, key, &svc))
		return -ENOENT;
	if (bpf_map_delete_elem(m->services, key))
		return -errno;
	/* the grace period also covers the backends the table names */
	tp_slab_defer(m->slab, svc.table_off, svc.table_size);
	err = tp_slab_settle(m->slab, m->services);
	count = tp_svc_index_count(m, svc.id);
	n = tp_service_backends(m, svc.id, ids, NULL, TP_MAX_SVC_BACKENDS);
	for (i = 0; i < n && i < TP_MAX_SVC_BACKENDS; i++)
		bpf_map_delete_elem(m->backends, &ids[i]);
	tp_svc_index_del(m, svc.id, count < 0 ? 0 : count);
	return err;
}
