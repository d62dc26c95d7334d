// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Diff syncs of identities, and the static configuration (identities,
 * zone defaults, services, policies) as one more source (TP_OWNER_STATIC),
 * which also holds this host's addresses as the identity `host`.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "array.h"
#include "conntrack.h"
#include "identity.h"
#include "log.h"
#include "names.h"
#include "policy.h"
#include "service.h"
#include "static_nat.h"
#include "sync.h"
#include "xdp.h"

/* ---- identities ---------------------------------------------------------- */

struct tpd_ident_have {
	struct tp_identity_key key;
	struct tp_identity_val val;
	bool wanted;
};

/* The identity entries @owner holds. */
static int tpd_identity_entries(const struct tp_maps *m, __u8 owner,
				struct tpd_ident_have **out, size_t *n)
{
	struct tpd_ident_have *have;
	size_t i, all;
	int err;

	err = TP_MAP_COLLECT(m->identity, struct tpd_ident_have, key, val,
			     &have, &all);
	if (err)
		return err;
	for (i = 0, *n = 0; i < all; i++)
		if (have[i].val.owner == owner)
			have[(*n)++] = have[i];
	*out = have;
	return 0;
}

static struct tpd_ident_have *tpd_ident_find(struct tpd_ident_have *have,
					     size_t n,
					     const struct tp_ident_entry *w)
{
	struct tp_addr masked = w->prefix;
	size_t i;

	tp_addr_mask(&masked, w->plen);
	for (i = 0; i < n; i++)
		if (have[i].key.zone == w->zone &&
		    have[i].key.prefixlen == TP_IDENTITY_PLEN(w->plen) &&
		    !memcmp(&have[i].key.addr, &masked, sizeof(masked)))
			return &have[i];
	return NULL;
}

/**
 * tpd_note_error() - count an error; the first one is kept as text.
 * @errors: the count.
 * @error:  the first error's text (@size bytes), written when @errors was 0.
 */
void tpd_note_error(unsigned int *errors, char *error, size_t size,
		    const char *fmt, ...)
{
	va_list ap;

	if (!(*errors)++) {
		va_start(ap, fmt);
		vsnprintf(error, size, fmt, ap);
		va_end(ap);
	}
}

/* Count an error of @res; the first one is kept as text. */
#define tpd_sync_error(res, ...)                                           \
	tpd_note_error(&(res)->errors, (res)->error, sizeof((res)->error), \
		       __VA_ARGS__)

static void tpd_ident_error(struct tpd_sync_result *res,
			    const struct tp_ident_entry *w, int err)
{
	char pfx[TP_PREFIX_STRLEN], why[256];

	tp_prefix_format(&w->prefix, w->plen, pfx, sizeof(pfx));
	tpd_sync_error(res, "identity of %s in zone %u not written: %s", pfx,
		       w->zone, tp_strerror(err, why, sizeof(why)));
}

/**
 * tpd_sync_identities() - make @owner's identity entries exactly @want.
 * @m:     maps.
 * @owner: the source (enum tp_owner).
 * @want:  its entries.
 * @n:     their number.
 * @res:   counts of what changed (added to); its @error names the first
 *         entry that could not be written and why (tp_identity full).
 *
 * A wanted prefix that another owner holds is left to it (a conflict).
 * New and changed entries are written before departed ones are removed,
 * so a peer that moves keeps an identity throughout; when tp_identity is
 * full, the entries that did not fit are tried once more after the
 * removals made room.
 *
 * Return: 0 or -errno when the maps could not be read.
 */
int tpd_sync_identities(const struct tp_maps *m, __u8 owner,
			const struct tp_ident_entry *want, size_t n,
			struct tpd_sync_result *res)
{
	struct tpd_ident_have *have, *h;
	size_t n_have, n_retry = 0, i;
	size_t *retry = NULL;
	int err;

	err = tpd_identity_entries(m, owner, &have, &n_have);
	if (err)
		return err;
	retry = calloc(n + 1, sizeof(*retry));
	if (!retry) {
		free(have);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		h = tpd_ident_find(have, n_have, &want[i]);
		if (h) {
			h->wanted = true;
			if (h->val.id == want[i].id)
				continue;
		}
		err = tp_identity_set(m, want[i].zone, &want[i].prefix,
				      want[i].plen, want[i].id, owner);
		if (err == -EPERM)
			res->conflicts++;
		else if (err == -ENOSPC)
			retry[n_retry++] = i;
		else if (err)
			tpd_ident_error(res, &want[i], err);
		else if (h)
			res->changed++;
		else
			res->added++;
	}
	for (i = 0; i < n_have; i++) {
		if (have[i].wanted)
			continue;
		err = tp_identity_del(
			m, have[i].key.zone, &have[i].key.addr,
			have[i].key.prefixlen - TP_IDENTITY_PLEN(0), owner);
		if (err && err != -ENOENT)
			tpd_sync_error(res, "identity entry not removed: %s",
				       strerror(-err));
		else if (!err)
			res->removed++;
	}
	for (i = 0; i < n_retry; i++) {
		const struct tp_ident_entry *w = &want[retry[i]];

		err = tp_identity_set(m, w->zone, &w->prefix, w->plen, w->id,
				      owner);
		if (err == -EPERM)
			res->conflicts++;
		else if (err)
			tpd_ident_error(res, w, err);
		else if (tpd_ident_find(have, n_have, w))
			res->changed++;
		else
			res->added++;
	}
	free(retry);
	free(have);
	return 0;
}

/**
 * tpd_resolve_identity() - an identity by number, reserved name, a name
 * from the configuration, or a name in tp_id_names; "any" is
 * TP_POLICY_ANY_ID.
 *
 * Return: 0 or -ENOENT.
 */
int tpd_resolve_identity(const struct tp_maps *m, const struct tpd_config *cfg,
			 const char *s, __u32 *id)
{
	/* the file's own names, numbers and reserved names; then the maps' names */
	if (!tpd_config_identity(cfg, s, id))
		return 0;
	return tp_identity_parse(m, s, id);
}

/* Is (zone, prefix/plen) already among @want[0..n)? */
static bool tpd_ident_wanted(const struct tp_ident_entry *want, size_t n,
			     __u16 zone, const struct tp_addr *prefix,
			     __u8 plen)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (want[i].zone == zone && want[i].plen == plen &&
		    !memcmp(&want[i].prefix, prefix, sizeof(*prefix)))
			return true;
	return false;
}

/**
 * tpd_sync_peer_source() - sync a peer source whose interfaces did not
 * all answer.
 * @m:          maps.
 * @owner:      the source (enum tp_owner).
 * @want:       the entries of the interfaces that answered.
 * @n:          their number.
 * @keep_zones: zones of interfaces that did not answer: the source's
 *              entries there stay as they are.
 * @n_keep:     their number.
 * @res:        what changed (added to).
 *
 * One stuck interface must not freeze the others: their peers, departed
 * ones included, are synced, while the stuck one's zone keeps what it
 * had.  Entries carry a zone, not an interface, so a zone shared with a
 * stuck interface keeps all of the source's entries until it answers.
 *
 * Return: 0 or -errno when the maps could not be read.
 */
int tpd_sync_peer_source(const struct tp_maps *m, __u8 owner,
			 const struct tp_ident_entry *want, size_t n,
			 const __u16 *keep_zones, size_t n_keep,
			 struct tpd_sync_result *res)
{
	struct tp_ident_entry *all = NULL, e;
	struct tpd_ident_have *have = NULL;
	size_t n_have = 0, n_all = n, i, j;
	int err;

	if (n_keep) {
		err = tpd_identity_entries(m, owner, &have, &n_have);
		if (err)
			return err;
	}
	all = calloc(n + n_have + 1, sizeof(*all));
	if (!all) {
		free(have);
		return -ENOMEM;
	}
	if (n)
		memcpy(all, want, n * sizeof(*want));
	for (i = 0; i < n_have; i++) {
		for (j = 0; j < n_keep; j++)
			if (have[i].key.zone == keep_zones[j])
				break;
		if (j == n_keep)
			continue;
		memset(&e, 0, sizeof(e));
		e.prefix = have[i].key.addr;
		e.plen = have[i].key.prefixlen - TP_IDENTITY_PLEN(0);
		e.zone = have[i].key.zone;
		e.id = have[i].val.id;
		if (!tpd_ident_wanted(want, n, e.zone, &e.prefix, e.plen))
			all[n_all++] = e;
	}
	err = tpd_sync_identities(m, owner, all, n_all, res);
	free(all);
	free(have);
	return err;
}

/**
 * tpd_peer_rules() - the rules mapping peers of a source to identities,
 * from the configuration, in its order: every mapping it has, however
 * many (a peer left out would fall back to `tailnet`: fail open).
 * @m:      maps (for identity names tpctl gave).
 * @cfg:    configuration.
 * @source: a source of peers (tpd_sources[]: its mappings and match).
 * @rules:  the rules (free() them); their values point into @cfg.
 * @n:      their number.
 *
 * A mapping to an identity that does not resolve is left out, with a
 * warning.
 *
 * Return: 0 or -ENOMEM.
 */
int tpd_peer_rules(const struct tp_maps *m, const struct tpd_config *cfg,
		   enum tpd_source source, struct tp_peer_rule **rules,
		   size_t *n)
{
	const struct tpd_source_ops *ops = &tpd_sources[source];
	size_t n_map;
	const struct tpd_map_cfg *map = ops->mappings(cfg, &n_map);
	struct tp_peer_rule *r;
	size_t i;
	__u32 id;

	*n = 0;
	*rules = r = calloc(n_map + 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < n_map; i++) {
		if (tpd_resolve_identity(m, cfg, map[i].identity, &id) || !id) {
			log_warn("unknown identity in a peer mapping, ignored",
				 "key", map[i].key, "identity",
				 map[i].identity);
			continue;
		}
		r[*n].match = ops->match(map[i].key);
		r[*n].value = map[i].key;
		r[*n].id = id;
		(*n)++;
	}
	return 0;
}

/* The configuration's identity names. */
static void tpd_static_names(const struct tp_maps *m,
			     const struct tpd_config *cfg,
			     struct tpd_sync_result *res)
{
	size_t i;

	for (i = 0; i < cfg->n_idents; i++) {
		const struct tpd_ident_cfg *ic = &cfg->idents[i];

		char why[256];
		int err;

		if (!ic->name[0])
			continue;
		err = tp_identity_name_set(m, ic->id, ic->name,
					   TP_OWNER_STATIC);
		if (err) {
			tp_strerror(err, why, sizeof(why));
			log_error("static identity: name not set", "name",
				  ic->name, "error", why);
			tpd_sync_error(res, "identities: name '%s' not set: %s",
				       ic->name, why);
		}
	}
}

/*
 * The static owner's identity prefixes: the configuration's, then this
 * host's addresses as `host` in zone 0, except where the configuration
 * names exactly that prefix.  Both come from the one owner, so each sync
 * of them diffs against the whole set and never removes the other's.
 */
static int tpd_static_identities(const struct tp_maps *m,
				 const struct tpd_config *cfg,
				 const struct tp_addr *host, size_t n_host,
				 struct tpd_sync_result *res)
{
	struct tp_ident_entry *want =
		calloc(cfg->n_idents + n_host + 1, sizeof(*want));
	size_t i, n = 0, n_cfg;
	int err = 0;

	if (!want)
		return -ENOMEM;
	for (i = 0; i < cfg->n_idents; i++) {
		const struct tpd_ident_cfg *ic = &cfg->idents[i];

		if (!ic->cidr[0])
			continue; /* a name only, e.g. for peers mapped to it */
		/* parsed and checked when the configuration was read */
		want[n].prefix = ic->prefix;
		want[n].plen = ic->plen;
		want[n].id = ic->id;
		want[n].zone = ic->zone;
		n++;
	}
	for (i = 0, n_cfg = n; i < n_host; i++) {
		if (tpd_ident_wanted(want, n_cfg, 0, &host[i], 128))
			continue;
		want[n].prefix = host[i];
		want[n].plen = 128;
		want[n].id = TP_ID_HOST;
		want[n].zone = 0;
		n++;
	}
	err = tpd_sync_identities(m, TP_OWNER_STATIC, want, n, res);
	free(want);
	return err;
}

/**
 * tpd_sync_host() - give this host's addresses the identity `host`.
 * @m:      maps.
 * @cfg:    configuration (its static identities are kept).
 * @host:   the addresses now (tpd_host_addrs()), each a /128 (an IPv4
 *          address a /32) in zone 0.
 * @n_host: their number.
 * @res:    what changed (added to).
 *
 * The entries are the static source's (TP_OWNER_STATIC): one that another
 * owner holds for the same prefix (tpctl's, say) is left to it, and a
 * prefix the configuration names keeps the configuration's identity.
 * Addresses that went are removed.  Zone 0 only: the datapath looks
 * destinations that are local to the node up in zone 0 (their out zone),
 * and a tailnet zone's entries are for its peers, which must not be able
 * to become `host` by claiming the node's tailnet address as a source.
 *
 * Return: 0 or -errno when the maps could not be read.
 */
int tpd_sync_host(const struct tp_maps *m, const struct tpd_config *cfg,
		  const struct tp_addr *host, size_t n_host,
		  struct tpd_sync_result *res)
{
	return tpd_static_identities(m, cfg, host, n_host, res);
}

/* ---- zone defaults ------------------------------------------------------ */

static void tpd_static_defaults(const struct tp_maps *m,
				const struct tpd_config *cfg,
				struct tpd_sync_result *res)
{
	struct tp_zone z;
	__u32 key;
	size_t i;

	if (!cfg->default_policy)
		return;
	for (i = 0; i < cfg->n_ifaces; i++) {
		if (cfg->ifaces[i].kind != TPD_IFACE_TAILNET)
			continue;
		key = cfg->ifaces[i].zone;
		if (!bpf_map_lookup_elem(m->zones, &key, &z) &&
		    z.default_verdict == cfg->default_policy)
			continue;
		if (tp_policy_default_set(m, key, cfg->default_policy))
			tpd_sync_error(res, "default_policy: zone %u not set",
				       key);
		else
			res->changed++;
	}
}

/* ---- stale UDP flows ------------------------------------------------------- */

/*
 * When a UDP backend goes away its conntrack entries must go too, or
 * clients keep sending into it until the entries time out
 * (kubernetes/kubernetes#48370).  The table is read in batches and the
 * matching flows deleted afterwards: deleting while walking it with
 * get_next_key restarts the walk at every delete (the deleted key has no
 * next), which made 2,000 deletes among 20,000 entries take minutes
 * under the pin-root lock.  A pass is split into steps of a bounded
 * number of entries, so the main loop stays responsive with a big table.
 * UDP flows live in tp_ct_any (tp_ct_fd()), with ICMP ones; tp_ct holds
 * only TCP and is never read here.
 */

#define TPD_PURGE_CHUNK 1024 /* entries asked of one lookup_batch */

/* The protocol whose flows @p deletes. */
static __u8 tpd_purge_proto(const struct tpd_purge *p)
{
	return p->proto ? p->proto : IPPROTO_UDP;
}

/*
 * The targets are indexed by address and port: a Service of 1,000 ports
 * with TP_MAX_SVC_BACKENDS endpoints each going away queues 256,000 of
 * them, and deduplicating, cancelling and matching every one by a walk of
 * the others took seconds to minutes on the main loop, under the writers'
 * lock.  The addresses and ports come from EndpointSlices that anyone
 * with a namespace may write, so the hash is keyed by a random seed: they
 * cannot choose targets that all land in one probe run.
 */
#define TPD_IX_DEL SIZE_MAX /* a slot whose entry was deleted */

static __u64 tpd_purge_seed;

static __u64 tpd_purge_mix(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static size_t tpd_purge_hash(const struct tp_addr *addr, __be16 port)
{
	__u64 w[2], h;

	if (!tpd_purge_seed) {
		/* no entropy yet is no reason to fail: the time will do */
		if (getrandom(&tpd_purge_seed, sizeof(tpd_purge_seed),
			      GRND_NONBLOCK) != sizeof(tpd_purge_seed))
			tpd_purge_seed =
				(__u64)time(NULL) << 20 ^ (__u64)getpid();
		tpd_purge_seed |= 1;
	}
	memcpy(w, addr, sizeof(w));
	h = tpd_purge_mix(tpd_purge_seed ^ w[0]);
	h = tpd_purge_mix(h ^ w[1]);
	return tpd_purge_mix(h ^ port);
}

/* Target @i of an array of @stride byte elements, each starting with one. */
static const struct tpd_purge_target *tpd_ix_at(const void *base, size_t stride,
						size_t i)
{
	return (const struct tpd_purge_target *)((const char *)base +
						 i * stride);
}

/*
 * Put index @i into a free slot of @slot (@mask) by its target's hash.
 * Return: whether the slot was empty (not one a deleted entry left).
 */
static bool tpd_ix_place(size_t *slot, size_t mask, const void *base,
			 size_t stride, size_t i)
{
	const struct tpd_purge_target *t = tpd_ix_at(base, stride, i);
	size_t pos = tpd_purge_hash(&t->addr, t->port) & mask;
	bool empty;

	while (slot[pos] && slot[pos] != TPD_IX_DEL)
		pos = (pos + 1) & mask;
	empty = !slot[pos];
	slot[pos] = i + 1;
	return empty;
}

/*
 * Make room in @ix for @live entries of @base and one more, rebuilding it
 * (which drops deleted slots) when over half full: probe runs stay short.
 */
static int tpd_ix_reserve(struct tpd_purge_index *ix, const void *base,
			  size_t stride, size_t live)
{
	size_t size = 16, *slot, i;

	if (ix->slot && (ix->used + 1) * 2 <= ix->mask + 1)
		return 0;
	while (size < (live + 1) * 3)
		size *= 2;
	slot = calloc(size, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	for (i = 0; ix->slot && i <= ix->mask; i++)
		if (ix->slot[i] && ix->slot[i] != TPD_IX_DEL)
			tpd_ix_place(slot, size - 1, base, stride,
				     ix->slot[i] - 1);
	free(ix->slot);
	ix->slot = slot;
	ix->mask = size - 1;
	ix->used = live;
	return 0;
}

/*
 * Index entry @i of @base (which has @live entries, @i among them).
 * Return: 0 or -ENOMEM (@ix as it was).
 */
static int tpd_ix_insert(struct tpd_purge_index *ix, const void *base,
			 size_t stride, size_t live, size_t i)
{
	int err = tpd_ix_reserve(ix, base, stride, live - 1);

	if (err)
		return err;
	/* a deleted slot reused was counted already; an empty one was not */
	if (tpd_ix_place(ix->slot, ix->mask, base, stride, i))
		ix->used++;
	return 0;
}

/*
 * The slot of the first entry of @base at @addr:@port (and of backend @id
 * when @any_id is false), or NULL.
 */
static size_t *tpd_ix_find(const struct tpd_purge_index *ix, const void *base,
			   size_t stride, __u32 id, bool any_id,
			   const struct tp_addr *addr, __be16 port)
{
	const struct tpd_purge_target *t;
	size_t pos;

	if (!ix->slot)
		return NULL;
	for (pos = tpd_purge_hash(addr, port) & ix->mask; ix->slot[pos];
	     pos = (pos + 1) & ix->mask) {
		if (ix->slot[pos] == TPD_IX_DEL)
			continue;
		t = tpd_ix_at(base, stride, ix->slot[pos] - 1);
		/* the address too: a backend id is reused once it is free */
		if (t->port == port && (any_id || t->backend_id == id) &&
		    !memcmp(&t->addr, addr, sizeof(*addr)))
			return &ix->slot[pos];
	}
	return NULL;
}

/* The slot holding entry @i of @base (which must be indexed). */
static size_t *tpd_ix_slot_of(const struct tpd_purge_index *ix,
			      const void *base, size_t stride, size_t i)
{
	const struct tpd_purge_target *t = tpd_ix_at(base, stride, i);
	size_t pos = tpd_purge_hash(&t->addr, t->port) & ix->mask;

	while (ix->slot[pos] != i + 1)
		pos = (pos + 1) & ix->mask;
	return &ix->slot[pos];
}

/* Index all @n entries of @base into a new @ix; 0 or -ENOMEM. */
static int tpd_ix_build(struct tpd_purge_index *ix, const void *base,
			size_t stride, size_t n)
{
	size_t i;

	memset(ix, 0, sizeof(*ix));
	for (i = 0; i < n; i++) {
		if (tpd_ix_insert(ix, base, stride, i + 1, i)) {
			free(ix->slot);
			memset(ix, 0, sizeof(*ix));
			return -ENOMEM;
		}
	}
	return 0;
}

static void tpd_ix_free(struct tpd_purge_index *ix)
{
	free(ix->slot);
	memset(ix, 0, sizeof(*ix));
}

/*
 * Room for one more of @size bytes in *@arr of @n (*@room), grown by
 * doubling: growing by one copied the array (or remapped it, a system
 * call) at every target, hundreds of thousands of times for one delete.
 */
static int tpd_purge_room(void **arr, size_t *room, size_t n, size_t size)
{
	return tp_array_grow(arr, room, n + 1, size, 64);
}

/*
 * Append @elem (@size bytes) to *@arr of *@n (*@room) and to its index
 * @ix; on no memory the array is as it was.
 */
static int tpd_purge_append(void **arr, size_t *room, size_t *n,
			    struct tpd_purge_index *ix, const void *elem,
			    size_t size)
{
	if (tpd_purge_room(arr, room, *n, size))
		return -ENOMEM;
	memcpy((char *)*arr + *n * size, elem, size);
	(*n)++;
	if (tpd_ix_insert(ix, *arr, size, *n, *n - 1)) {
		(*n)--;
		return -ENOMEM;
	}
	return 0;
}

/* Take waiting target @i out of @p->later (the last one takes its place). */
static void tpd_purge_later_remove(struct tpd_purge *p, size_t i)
{
	const size_t stride = sizeof(*p->later);
	size_t last = p->n_later - 1;

	*tpd_ix_slot_of(&p->later_ix, p->later, stride, i) = TPD_IX_DEL;
	if (i != last) {
		*tpd_ix_slot_of(&p->later_ix, p->later, stride, last) = i + 1;
		p->later[i] = p->later[last];
	}
	p->n_later--;
}

/* Does the flow entry @e under @k go to a target of @p? */
static bool tpd_purge_match(const struct tpd_purge *p,
			    const struct tp_ct_key *k,
			    const struct tp_ct_entry *e)
{
	const size_t stride = sizeof(struct tpd_purge_target);

	if (k->proto != tpd_purge_proto(p) || (e->flags & TP_CT_F_REPLY_KEY) ||
	    !(e->flags & TP_CT_F_DNAT))
		return false;
	return tpd_ix_find(&p->cur_ix, p->cur, stride, e->backend_id, false,
			   &e->nat_addr, e->nat_port) ||
	       tpd_ix_find(&p->next_ix, p->next, stride, e->backend_id, false,
			   &e->nat_addr, e->nat_port);
}

/**
 * tpd_purge_add() - have the UDP flows of a backend that went deleted.
 * @p:  the purge.
 * @id: the backend's id.
 * @be: the backend as it was (its address and port).
 *
 * A pass under way keeps going; the backend gets a whole pass of its own.
 *
 * Return: 0 or -ENOMEM.
 */
int tpd_purge_add(struct tpd_purge *p, __u32 id, const struct tp_backend *be)
{
	struct tpd_purge_target t = { .backend_id = id,
				      .addr = be->addr,
				      .port = be->port };

	if (tpd_ix_find(&p->next_ix, p->next, sizeof(t), id, false, &be->addr,
			be->port))
		return 0;
	return tpd_purge_append((void **)&p->next, &p->next_room, &p->n_next,
				&p->next_ix, &t, sizeof(t));
}

/**
 * tpd_purge_add_later() - have the flows of a backend that went deleted
 * from @due on, unless it comes back before (tpd_purge_cancel()).
 * @p:   the purge.
 * @id:  the backend's id.
 * @be:  the backend as it was.
 * @due: when, on the caller's clock (tpd_purge_release() is given it).
 *
 * Return: 0 or -ENOMEM.
 */
int tpd_purge_add_later(struct tpd_purge *p, __u32 id,
			const struct tp_backend *be, __u64 due)
{
	struct tpd_purge_later l = {
		.t = { .backend_id = id, .addr = be->addr, .port = be->port },
		.due = due,
	};
	size_t *slot;

	slot = tpd_ix_find(&p->later_ix, p->later, sizeof(l), id, false,
			   &be->addr, be->port);
	if (slot) {
		p->later[*slot - 1].due = due;
		return 0;
	}
	return tpd_purge_append((void **)&p->later, &p->later_room, &p->n_later,
				&p->later_ix, &l, sizeof(l));
}

/**
 * tpd_purge_cancel() - a backend at @addr:@port is back: its waiting
 * purges are called off (its flows keep going).
 *
 * Return: whether one was waiting.
 */
bool tpd_purge_cancel(struct tpd_purge *p, const struct tp_addr *addr,
		      __be16 port)
{
	bool found = false;
	size_t *slot;

	/* every backend id at @addr:@port: one whose id changed is back too */
	while ((slot = tpd_ix_find(&p->later_ix, p->later, sizeof(*p->later), 0,
				   true, addr, port))) {
		tpd_purge_later_remove(p, *slot - 1);
		found = true;
	}
	return found;
}

/**
 * tpd_purge_release() - queue the waiting targets due at @now for the
 * next pass.
 *
 * Return: how many were queued.
 */
size_t tpd_purge_release(struct tpd_purge *p, __u64 now)
{
	struct tp_backend be = {};
	size_t i = 0, n = 0;

	while (i < p->n_later) {
		if (p->later[i].due > now) {
			i++;
			continue;
		}
		be.addr = p->later[i].t.addr;
		be.port = p->later[i].t.port;
		if (tpd_purge_add(p, p->later[i].t.backend_id, &be)) {
			i++; /* out of memory: stays waiting, tried again */
			continue;
		}
		tpd_purge_later_remove(p, i);
		n++;
	}
	return n;
}

/** tpd_purge_pending() - whether @p has flows left to look for. */
bool tpd_purge_pending(const struct tpd_purge *p)
{
	return p->n_cur || p->n_next;
}

/** tpd_purge_free() - forget what @p had to do. */
void tpd_purge_free(struct tpd_purge *p)
{
	__u8 proto = p->proto;

	free(p->cur);
	free(p->next);
	free(p->later);
	tpd_ix_free(&p->cur_ix);
	tpd_ix_free(&p->next_ix);
	tpd_ix_free(&p->later_ix);
	memset(p, 0, sizeof(*p));
	p->proto = proto;
}

/* Delete flow @k if it still goes to a target (the copy read may be old). */
static void tpd_purge_flow(const struct tp_maps *m, struct tpd_purge *p,
			   const struct tp_ct_key *k)
{
	struct tp_ct_entry e;

	if (!bpf_map_lookup_elem(tp_ct_fd(m, tpd_purge_proto(p)), k, &e) &&
	    tpd_purge_match(p, k, &e) &&
	    !tp_ct_flow_delete(m, p->have_cfg ? &p->cfg : NULL, k, &e))
		p->deleted++;
}

/* The pass is over: its targets are done, the queued ones are next. */
static void tpd_purge_pass_done(struct tpd_purge *p)
{
	free(p->cur);
	p->cur = NULL;
	p->n_cur = 0;
	tpd_ix_free(&p->cur_ix);
	p->in_pass = false;
	p->passes++;
}

/*
 * A whole pass at once, for kernels without batch lookups on hash maps
 * (before 5.6): the table is copied first, then the flows deleted.
 */
static int tpd_purge_pass_walk(const struct tp_maps *m, struct tpd_purge *p)
{
	struct tpd_ct_row {
		struct tp_ct_key k;
		struct tp_ct_entry e;
	} * rows;
	size_t n, i;
	int err;

	err = TP_MAP_COLLECT(tp_ct_fd(m, tpd_purge_proto(p)), struct tpd_ct_row,
			     k, e, &rows, &n);
	if (err)
		return err;
	p->have_cfg = tp_ct_config(m, &p->cfg) != NULL;
	for (i = 0; i < n; i++)
		if (tpd_purge_match(p, &rows[i].k, &rows[i].e))
			tpd_purge_flow(m, p, &rows[i].k);
	free(rows);
	tpd_purge_pass_done(p);
	return 0;
}

/**
 * tpd_purge_step() - go on with the purge for up to @budget entries.
 * @m:      maps.
 * @p:      the purge.
 * @budget: conntrack entries to read at most (a batch may read up to one
 *          hash bucket more); 0: until every target had its pass.
 *
 * Without batch lookups (kernels before 5.6) a step is a whole pass.
 *
 * Return: 0 or -errno of reading the table (the pass starts over at the
 * next step then).
 */
int tpd_purge_step(const struct tp_maps *m, struct tpd_purge *p, size_t budget)
{
	size_t left = budget ? budget : (size_t)-1, chunk = TPD_PURGE_CHUNK,
	       least = 64, i;
	int ct = tp_ct_fd(m, tpd_purge_proto(p)); /* tp_ct_any for UDP */
	struct tp_ct_entry *vals = NULL;
	struct tp_ct_key *keys = NULL;
	__u32 count, token;
	int err = 0;

	while (left && tpd_purge_pending(p)) {
		if (!p->in_pass) {
			/* the queued targets get a pass from the table's start */
			free(p->cur);
			p->cur = p->next;
			p->n_cur = p->n_next;
			p->next = NULL;
			p->n_next = 0;
			p->next_room = 0;
			tpd_ix_free(&p->cur_ix);
			p->cur_ix = p->next_ix;
			memset(&p->next_ix, 0, sizeof(p->next_ix));
			p->in_pass = true;
			p->have_token = false;
			/* once a pass, not once an entry */
			p->have_cfg = tp_ct_config(m, &p->cfg) != NULL;
		}
		if (!keys) {
			keys = calloc(chunk, sizeof(*keys));
			vals = calloc(chunk, sizeof(*vals));
			if (!keys || !vals) {
				err = -ENOMEM;
				break;
			}
		}
		/* whole hash buckets come at once: ask for at least @least */
		count = left < chunk ? (left > least ? left : least) : chunk;
		err = bpf_map_lookup_batch(ct, p->have_token ? &p->token : NULL,
					   &token, keys, vals, &count, NULL);
		err = err ? -errno : 0;
		if (err == -ENOSPC && !count && least < (1u << 16)) {
			/* one bucket holds more than asked for: ask for more */
			least *= 4;
			if (least > chunk) {
				chunk = least;
				free(keys);
				free(vals);
				keys = NULL;
				vals = NULL;
			}
			continue;
		}
		if (err == -EINVAL || err == -EOPNOTSUPP ||
		    err == -524 /* ENOTSUPP */) {
			err = tpd_purge_pass_walk(m, p);
			if (err)
				break;
			continue;
		}
		if (err && err != -ENOENT) {
			p->in_pass =
				false; /* start over, with the targets put back */
			p->have_token = false;
			break;
		}
		for (i = 0; i < count; i++)
			if (tpd_purge_match(p, &keys[i], &vals[i]))
				tpd_purge_flow(m, p, &keys[i]);
		left -= count < left ? count : left;
		if (err == -ENOENT) {
			err = 0;
			tpd_purge_pass_done(p);
			continue;
		}
		p->token = token;
		p->have_token = true;
	}
	if (err && p->n_cur && !p->in_pass) {
		/* put this pass's targets back in front of the queue */
		size_t n = p->n_cur + p->n_next;
		struct tpd_purge_target *all = calloc(n, sizeof(*all));
		struct tpd_purge_index ix;

		if (all) {
			memcpy(all, p->cur, p->n_cur * sizeof(*all));
			memcpy(all + p->n_cur, p->next,
			       p->n_next * sizeof(*all));
		}
		/* out of memory: the targets stay where they are, still matched */
		if (all && !tpd_ix_build(&ix, all, sizeof(*all), n)) {
			free(p->cur);
			free(p->next);
			tpd_ix_free(&p->cur_ix);
			tpd_ix_free(&p->next_ix);
			p->cur = NULL;
			p->n_cur = 0;
			p->next = all;
			p->n_next = n;
			p->next_room = n;
			p->next_ix = ix;
		} else {
			free(all);
		}
	}
	free(keys);
	free(vals);
	return err;
}

/**
 * tpd_purge_udp_backend() - delete the UDP flows of a backend that went
 * away, now, in one pass over the table.
 * @m:  maps.
 * @id: the backend's id.
 * @be: the backend as it was.
 *
 * Return: 0 or -errno.
 */
int tpd_purge_udp_backend(const struct tp_maps *m, __u32 id,
			  const struct tp_backend *be)
{
	struct tpd_purge p = {};
	int err;

	err = tpd_purge_add(&p, id, be);
	err = err ?: tpd_purge_step(m, &p, 0);
	tpd_purge_free(&p);
	return err;
}

/* Have the UDP flows of the backends @old had that @new_ids lacks purged. */
static void tpd_purge_removed(struct tpd_purge *purge, const __u32 *old,
			      const struct tp_backend *old_bes, int n_old,
			      const __u32 *new_ids, int n_new)
{
	int i, j;

	for (i = 0; i < n_old; i++) {
		for (j = 0; j < n_new; j++)
			if (old[i] == new_ids[j])
				break;
		if (j == n_new && tpd_purge_add(purge, old[i], &old_bes[i]))
			log_error(
				"out of memory: stale UDP flows of a backend stay until they time out");
	}
}

/* ---- services ------------------------------------------------------------ */

static int tpd_parse_backends(const struct tpd_service_cfg *sc,
			      struct tp_backend_spec *bs)
{
	size_t i;

	for (i = 0; i < sc->n_backends; i++) {
		bool has_port;
		__u16 port;

		memset(&bs[i], 0, sizeof(bs[i]));
		/* a bare address for ICMP echo services */
		if (tp_endpoint_parse(sc->backends[i].addr, &bs[i].addr, &port,
				      &has_port))
			return -EINVAL;
		bs[i].port = htons(port);
		bs[i].weight = sc->backends[i].weight;
		bs[i].state = sc->backends[i].state;
	}
	return 0;
}

struct tpd_svc_work {
	__u32 old_ids[TP_MAX_SVC_BACKENDS];
	__u32 new_ids[TP_MAX_SVC_BACKENDS];
	struct tp_backend bes[TP_MAX_SVC_BACKENDS]; /* the old backends */
	struct tp_backend new_bes[TP_MAX_SVC_BACKENDS];
	struct tp_backend_spec want[TP_MAX_SVC_BACKENDS];
};

static bool tpd_service_unchanged(const struct tp_svc *svc,
				  const struct tp_svc_spec *spec,
				  const struct tpd_svc_work *w, int n_old,
				  size_t n)
{
	size_t i;
	int j;

	if ((size_t)n_old != n || svc->flags != spec->flags ||
	    svc->zone != spec->zone ||
	    svc->affinity_timeout != spec->affinity_timeout)
		return false;
	for (i = 0; i < n; i++) {
		for (j = 0; j < n_old; j++)
			if (!memcmp(&w->bes[j].addr, &w->want[i].addr,
				    sizeof(w->want[i].addr)) &&
			    w->bes[j].port == w->want[i].port &&
			    w->bes[j].weight == w->want[i].weight &&
			    w->bes[j].state == w->want[i].state)
				break;
		if (j == n_old)
			return false;
	}
	return true;
}

/* Service @sc was refused: @why logged and counted in @res. */
static void tpd_service_not_written(struct tpd_sync_result *res,
				    const struct tpd_service_cfg *sc,
				    const char *why)
{
	log_error("static service: not written", "service", sc->frontend,
		  "error", why);
	tpd_sync_error(res, "services: %s not written: %s", sc->frontend, why);
}

/*
 * @snap: the services as the sync found them (tp_svc_snapshot_read()), or
 * NULL: each read from the maps.
 */
static void tpd_static_service(const struct tp_maps *m, struct tp_svc_batch *b,
			       const struct tp_svc_snapshot *snap,
			       const struct tpd_service_cfg *sc,
			       struct tpd_svc_work *w, struct tpd_purge *purge,
			       struct tpd_sync_result *res)
{
	struct tp_svc_current cur = {};
	struct tp_svc_spec spec = { .zone = sc->zone,
				    .owner = TP_OWNER_STATIC };
	struct tp_svc_key key;
	struct tp_svc svc;
	int n_old = 0, n_new, err;
	char why[256];
	bool exists;

	if (tp_svc_key_parse(sc->frontend, &key) ||
	    tpd_parse_backends(sc, w->want)) {
		log_error("static service: bad frontend or backend, skipped",
			  "service", sc->frontend);
		tpd_sync_error(res, "services: %s: bad frontend or backend",
			       sc->frontend);
		return;
	}
	/* what tp_service_set() would refuse, said the way every writer says it */
	err = tp_service_check(&key, w->want, sc->n_backends, why, sizeof(why));
	if (err) {
		tpd_service_not_written(res, sc, why);
		return;
	}
	if (sc->affinity) {
		spec.flags |= TP_SVC_F_AFFINITY;
		spec.affinity_timeout = sc->affinity;
	}
	if (sc->snat)
		spec.flags |= TP_SVC_F_SNAT;
	/* the configuration's frontends are unique: the copy is this one's */
	exists = snap ? tp_svc_snapshot_find(snap, &key, &svc)
		      : !bpf_map_lookup_elem(m->services, &key, &svc);
	if (exists && svc.owner != TP_OWNER_STATIC) {
		log_warn("static service: held by another owner, left alone",
			 "service", sc->frontend, "owner",
			 tp_owner_name(svc.owner));
		res->conflicts++;
		return;
	}
	if (exists) {
		n_old = snap ? tp_svc_snapshot_backends(snap, svc.id,
							w->old_ids, w->bes,
							TP_MAX_SVC_BACKENDS)
			     : tp_service_backends(m, svc.id, w->old_ids,
						   w->bes, TP_MAX_SVC_BACKENDS);
		if (n_old > TP_MAX_SVC_BACKENDS)
			n_old = TP_MAX_SVC_BACKENDS;
		if (tpd_service_unchanged(&svc, &spec, w, n_old,
					  sc->n_backends))
			return;
		if (n_old >= 0)
			cur = (struct tp_svc_current){ .svc_id = svc.id,
						       .ids = w->old_ids,
						       .bes = w->bes,
						       .n = (size_t)n_old };
	}
	/* staged: tpd_static_services() builds every table in one flush */
	err = tp_service_stage_known(m, b, &key, &spec, w->want, sc->n_backends,
				     0, cur.ids ? &cur : NULL);
	if (err) {
		tpd_service_not_written(res, sc,
					tp_strerror(err, why, sizeof(why)));
		return;
	}
	n_new = exists ? tp_service_backends(m, svc.id, w->new_ids, w->new_bes,
					     TP_MAX_SVC_BACKENDS)
		       : 0;
	if (exists)
		tpd_purge_removed(purge, w->old_ids, w->bes, n_old, w->new_ids,
				  n_new > TP_MAX_SVC_BACKENDS
					  ? TP_MAX_SVC_BACKENDS
					  : n_new);
	if (exists)
		res->changed++;
	else
		res->added++;
}

static int tpd_svc_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tp_svc_key));
}

/*
 * The configuration's frontends, sorted, for tpd_service_configured(): a
 * scan of the configuration for each service in the map was 50 million
 * key compares at 10,000 services.  NULL without memory (or services).
 */
static struct tp_svc_key *tpd_configured_keys(const struct tpd_config *cfg)
{
	struct tp_svc_key *keys = calloc(cfg->n_services + 1, sizeof(*keys));
	size_t i;

	if (!keys)
		return NULL;
	for (i = 0; i < cfg->n_services; i++)
		keys[i] = cfg->services[i].key;
	qsort(keys, cfg->n_services, sizeof(*keys), tpd_svc_key_cmp);
	return keys;
}

/* @keys: tpd_configured_keys(), or NULL: the configuration scanned. */
static bool tpd_service_configured(const struct tpd_config *cfg,
				   const struct tp_svc_key *keys,
				   const struct tp_svc_key *key)
{
	size_t i;

	if (keys)
		return bsearch(key, keys, cfg->n_services, sizeof(*keys),
			       tpd_svc_key_cmp) != NULL;
	for (i = 0; i < cfg->n_services; i++)
		if (!memcmp(&cfg->services[i].key, key, sizeof(*key)))
			return true;
	return false;
}

struct tpd_svc_have {
	struct tp_svc_key key;
	struct tp_svc svc;
};

/*
 * Delete the static services the configuration no longer has: all of
 * them, however many, so a reload leaves nothing of the old file behind.
 * The whole map is read first: deleting while walking it with
 * get_next_key would restart the walk at every delete.
 */
static int
tpd_static_services_prune(const struct tp_maps *m, struct tp_svc_batch *b,
			  const struct tpd_config *cfg, struct tpd_svc_work *w,
			  struct tpd_purge *purge, struct tpd_sync_result *res)
{
	struct tpd_svc_have *have;
	struct tp_svc_key *keys;
	size_t n_have, i;
	int n, err;

	err = TP_MAP_COLLECT(m->services, struct tpd_svc_have, key, svc, &have,
			     &n_have);
	if (err)
		return err;
	keys = tpd_configured_keys(cfg);
	for (i = 0; i < n_have; i++) {
		if (have[i].svc.owner != TP_OWNER_STATIC ||
		    tpd_service_configured(cfg, keys, &have[i].key))
			continue;
		n = tp_service_backends(m, have[i].svc.id, w->old_ids, w->bes,
					TP_MAX_SVC_BACKENDS);
		/* its table and backends go at the flush, one grace for all */
		err = tp_service_del_staged(m, b, &have[i].key);
		if (err) {
			tpd_sync_error(
				res, "services: an old service not removed: %s",
				strerror(-err));
			continue;
		}
		tpd_purge_removed(purge, w->old_ids, w->bes,
				  n < TP_MAX_SVC_BACKENDS ? n
							  : TP_MAX_SVC_BACKENDS,
				  NULL, 0);
		res->removed++;
	}
	free(keys);
	free(have);
	return 0;
}

/* Does the map of @fd hold no entry (a failure to say: no)? */
static bool tpd_map_empty(int fd)
{
	char key[64];

	return fd < 0 ||
	       (bpf_map_get_next_key(fd, NULL, key) && errno == ENOENT);
}

/*
 * Services tpd_static_services_fresh() hands tp_svc_fresh_add() at a time,
 * and their backends at most: the copies made for it stay this small,
 * whatever the configuration's size.
 */
#define TPD_FRESH_SVCS 256
#define TPD_FRESH_ROWS 1024
_Static_assert(TPD_FRESH_ROWS >= TP_MAX_SVC_BACKENDS, "a service fits");

/* Hand @f services @sv[0, @n), configuration's @at[0, @n); set @done. */
static size_t tpd_fresh_add(struct tp_svc_fresh *f, const struct tp_svc_new *sv,
			    const size_t *at, size_t n, bool *done)
{
	size_t i, written = tp_svc_fresh_add(f, sv, n);

	for (i = 0; i < written; i++)
		done[at[i]] = true;
	return written;
}

/*
 * The services of a sync into maps that hold none (a cold start's): the
 * good ones written a map at a system call (tp_svc_fresh_add()), set in
 * @done by their index in the configuration.
 *
 * Return: how many, 0 when the maps are not empty after all (a writer
 * came before the lock) or without memory: then each is staged.
 */
static size_t tpd_static_services_fresh(const struct tp_maps *m,
					struct tp_svc_batch *b,
					const struct tpd_config *cfg,
					bool *done)
{
	struct tp_backend_spec *bs = NULL;
	struct tp_svc_new *sv = NULL;
	struct tp_svc_fresh *f = NULL;
	size_t i, k, n = 0, n_be = 0, written = 0, at[TPD_FRESH_SVCS];

	if (!tpd_map_empty(m->services) || !tpd_map_empty(m->backends) ||
	    !tpd_map_empty(m->be_frontends) || !tpd_map_empty(m->static_nat))
		return 0;
	for (i = 0; i < cfg->n_services; i++)
		n_be += cfg->services[i].n_backends;
	f = tp_svc_fresh_new(m, b, n_be);
	bs = calloc(TPD_FRESH_ROWS, sizeof(*bs));
	sv = calloc(TPD_FRESH_SVCS, sizeof(*sv));
	if (!f || !bs || !sv)
		goto out;
	for (i = 0, n_be = 0; i < cfg->n_services; i++) {
		const struct tpd_service_cfg *sc = &cfg->services[i];
		struct tp_svc_new *v;

		/* bad ones are refused and reported by tpd_static_service() */
		if (sc->n_backends > TP_MAX_SVC_BACKENDS)
			continue;
		if (n == TPD_FRESH_SVCS ||
		    n_be + sc->n_backends > TPD_FRESH_ROWS) {
			k = tpd_fresh_add(f, sv, at, n, done);
			written += k;
			if (k < n)
				goto out; /* stopped: the rest are staged */
			n = 0;
			n_be = 0;
		}
		v = &sv[n];
		if (tp_svc_key_parse(sc->frontend, &v->key) ||
		    tpd_parse_backends(sc, &bs[n_be]) ||
		    tp_service_check(&v->key, &bs[n_be], sc->n_backends, NULL,
				     0))
			continue;
		v->spec = (struct tp_svc_spec){ .zone = sc->zone,
						.owner = TP_OWNER_STATIC };
		if (sc->affinity) {
			v->spec.flags |= TP_SVC_F_AFFINITY;
			v->spec.affinity_timeout = sc->affinity;
		}
		if (sc->snat)
			v->spec.flags |= TP_SVC_F_SNAT;
		v->be = &bs[n_be];
		v->n = sc->n_backends;
		n_be += sc->n_backends;
		at[n++] = i;
	}
	written += tpd_fresh_add(f, sv, at, n, done);
out:
	tp_svc_fresh_free(f);
	free(sv);
	free(bs);
	return written;
}

static int tpd_static_services(const struct tp_maps *m,
			       const struct tpd_config *cfg, bool fresh,
			       struct tpd_purge *purge,
			       struct tpd_sync_result *res)
{
	bool *done = fresh ? calloc(cfg->n_services + 1, sizeof(*done)) : NULL;
	struct tpd_svc_work *w = calloc(1, sizeof(*w));
	struct tp_svc_batch *b = tp_svc_batch_new();
	struct tp_svc_snapshot *snap;
	char name[TP_SVC_STRLEN], why[256];
	struct tp_svc_key bad;
	size_t i;
	int err, ferr;

	if (!w || !b || (fresh && !done)) {
		free(w);
		free(done);
		tp_svc_batch_free(b);
		return -ENOMEM;
	}
	/*
	 * Maps a cold start's load made hold nothing: no service to compare
	 * or prune, every one new (tp_svc_fresh_add()).  Else, and
	 * without memory for the copy, each service is read from the maps.
	 */
	if (done && tpd_static_services_fresh(m, b, cfg, done))
		snap = NULL;
	else if (tp_svc_snapshot_read(m, &snap))
		snap = NULL;
	else
		fresh = false;
	for (i = 0; i < cfg->n_services; i++) {
		if (done && done[i])
			res->added++;
		else
			tpd_static_service(m, b, snap, &cfg->services[i], w,
					   purge, res);
	}
	tp_svc_snapshot_free(snap);
	free(done);
	/* fresh: every static service in the maps is one just written */
	err = fresh ? 0 : tpd_static_services_prune(m, b, cfg, w, purge, res);
	/*
	 * Every changed service's table at once: the tables a flush
	 * replaces are freed after one RCU grace period for all of them,
	 * not one per service.
	 */
	ferr = tp_svc_batch_flush(m, b, &bad, NULL);
	if (ferr) {
		tp_svc_key_format(&bad, name, sizeof(name));
		snprintf(why, sizeof(why), "%s", strerror(-ferr));
		log_error("static service: Maglev table not built", "service",
			  name, "error", why);
		tpd_sync_error(res, "services: %s: Maglev table not built: %s",
			       name, why);
	}
	tp_svc_batch_free(b);
	free(w);
	return err;
}

/* ---- policies -------------------------------------------------------------- */

static int tpd_match_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tp_rule));
}

/*
 * The configuration's matches (tp_rule_match()), for tpd_rules_prune().
 * Rules were resolved and checked when the configuration was read.
 */
static struct tp_rule *tpd_configured_matches(const struct tpd_config *cfg)
{
	struct tp_rule *mt = calloc(cfg->n_policies + 1, sizeof(*mt));
	size_t i;

	if (!mt)
		return NULL;
	for (i = 0; i < cfg->n_policies; i++)
		tp_rule_match(&cfg->policies[i].rule, &mt[i]);
	return mt;
}

struct tpd_rule_have {
	__u32 id;
	struct tp_rule rule;
};

/**
 * tpd_rules_prune() - delete @owner's rules that match none of @matches.
 * @m:       the maps.
 * @owner:   whose rules.
 * @matches: the matches wanted (tp_rule_match()), @n of them; sorted here,
 *           so each rule is looked up in O(log n), not compared with every
 *           wanted one (with thousands of rules that was a quadratic sync).
 * @removed: counted per rule deleted.
 * @failed:  called with @ctx and the error of a rule not deleted (one
 *           gone meanwhile is no failure), or NULL.
 *
 * The map is read whole first: deleting while walking it with
 * get_next_key would restart the walk at every delete.
 *
 * Return: 0 or -ENOMEM.
 */
int tpd_rules_prune(const struct tp_maps *m, __u8 owner,
		    struct tp_rule *matches, size_t n, unsigned int *removed,
		    void (*failed)(void *ctx, int err), void *ctx)
{
	struct tpd_rule_have *have;
	struct tp_rule k;
	size_t n_have, i;
	int err;

	qsort(matches, n, sizeof(*matches), tpd_match_cmp);
	err = TP_MAP_COLLECT(m->rules, struct tpd_rule_have, id, rule, &have,
			     &n_have);
	if (err)
		return err;
	for (i = 0; i < n_have; i++) {
		if (have[i].rule.owner != owner)
			continue;
		tp_rule_match(&have[i].rule, &k);
		if (bsearch(&k, matches, n, sizeof(k), tpd_match_cmp))
			continue;
		err = tp_policy_rule_del(m, &have[i].rule, owner);
		if (!err)
			(*removed)++;
		else if (err != -ENOENT && failed)
			failed(ctx, err);
	}
	free(have);
	return 0;
}

static void tpd_static_rule_failed(void *ctx, int err)
{
	tpd_sync_error((struct tpd_sync_result *)ctx,
		       "policies: an old rule not removed: %s", strerror(-err));
}

/* Delete the static rules the configuration no longer has, all of them. */
static int tpd_static_policies_prune(const struct tp_maps *m,
				     const struct tpd_config *cfg,
				     struct tpd_sync_result *res)
{
	struct tp_rule *matches = tpd_configured_matches(cfg);
	int err;

	if (!matches)
		return -ENOMEM;
	err = tpd_rules_prune(m, TP_OWNER_STATIC, matches, cfg->n_policies,
			      &res->removed, tpd_static_rule_failed, res);
	free(matches);
	return err;
}

/**
 * tpd_rule_put() - write rule @r for its owner unless the maps have it.
 * @m:         the maps.
 * @r:         the rule, its owner set.
 * @conflicts: counted when another owner holds a rule of its match.
 *
 * Return: 1 written, 0 already there with its verdict or another
 * owner's, or -errno from tp_policy_rule_add().
 */
int tpd_rule_put(const struct tp_maps *m, const struct tp_rule *r,
		 unsigned int *conflicts)
{
	struct tp_rule have;
	__u32 rule_id;
	int err;

	if (!tp_policy_rule_find(m, r, &rule_id) &&
	    !bpf_map_lookup_elem(m->rules, &rule_id, &have)) {
		if (have.owner != r->owner) {
			(*conflicts)++;
			return 0;
		}
		if (have.verdict == r->verdict)
			return 0;
	}
	err = tp_policy_rule_add(m, r, &rule_id);
	return err ?: 1;
}

static int tpd_static_policies(const struct tp_maps *m,
			       const struct tpd_config *cfg,
			       struct tpd_sync_result *res)
{
	char why[256];
	size_t j;
	int err;

	for (j = 0; j < cfg->n_policies; j++) {
		err = tpd_rule_put(m, &cfg->policies[j].rule, &res->conflicts);
		if (err < 0) {
			tp_strerror(err, why, sizeof(why));
			log_error("static policy: rule not written", "from",
				  cfg->policies[j].from, "to",
				  cfg->policies[j].to, "error", why);
			tpd_sync_error(res,
				       "policies[%zu]: rule not written: %s", j,
				       why);
		} else if (err) {
			res->added++;
		}
	}
	return tpd_static_policies_prune(m, cfg, res);
}

/* ---- static NAT ------------------------------------------------------------ */

static bool tpd_static_nat_configured(const struct tpd_config *cfg,
				      const struct tp_static_nat_entry *e)
{
	size_t i;

	for (i = 0; i < cfg->n_static_nat; i++)
		if (cfg->static_nat[i].zone == e->zone &&
		    !memcmp(&cfg->static_nat[i].tailnet_addr, &e->tailnet,
			    sizeof(e->tailnet)) &&
		    !memcmp(&cfg->static_nat[i].inner_addr, &e->inner,
			    sizeof(e->inner)))
			return true;
	return false;
}

/* Is @sn's entry there as configured: 1 ours, 2 another owner's, 0 not. */
static int tpd_static_nat_have(const struct tp_static_nat_entry *have, size_t n,
			       const struct tpd_static_nat_cfg *sn)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (have[i].zone == sn->zone &&
		    !memcmp(&have[i].tailnet, &sn->tailnet_addr,
			    sizeof(sn->tailnet_addr)) &&
		    !memcmp(&have[i].inner, &sn->inner_addr,
			    sizeof(sn->inner_addr)))
			return have[i].owner == TP_OWNER_STATIC ? 1 : 2;
	return 0;
}

/*
 * The configuration's static NAT entries (owner TP_OWNER_STATIC): first
 * the ones it wrote and no longer has go (so an address that moved to
 * another pod is free again), then the missing ones are added.  Entries
 * of other owners stay; a configured entry one of them contradicts is a
 * conflict, left alone.
 */
static int tpd_static_nat(const struct tp_maps *m, const struct tpd_config *cfg,
			  struct tpd_sync_result *res)
{
	struct tp_static_nat_entry *have, e;
	char why[256];
	size_t n, i;
	int err;

	err = tp_static_nat_list(m, &have, &n);
	if (err)
		return err;
	tp_static_nat_recount(m, n);
	for (i = 0; i < n; i++) {
		if (have[i].owner != TP_OWNER_STATIC ||
		    tpd_static_nat_configured(cfg, &have[i]))
			continue;
		err = tp_static_nat_del(m, have[i].zone, false,
					&have[i].tailnet, NULL);
		if (err && err != -ENOENT)
			tpd_sync_error(
				res, "static_nat: an old entry not removed: %s",
				strerror(-err));
		else
			res->removed++;
	}
	for (i = 0; i < cfg->n_static_nat; i++) {
		const struct tpd_static_nat_cfg *sn = &cfg->static_nat[i];

		if (tpd_static_nat_have(have, n, sn))
			continue;
		e = (struct tp_static_nat_entry){ .tailnet = sn->tailnet_addr,
						  .inner = sn->inner_addr,
						  .zone = sn->zone,
						  .owner = TP_OWNER_STATIC };
		err = tp_static_nat_add(m, &e, why, sizeof(why));
		if (err == -EEXIST || err == -EADDRINUSE) {
			res->conflicts++;
			log_warn(
				"static_nat: held by another entry, left alone",
				"tailnet", sn->tailnet, "inner", sn->inner,
				"why", why);
		} else if (err) {
			tpd_sync_error(res, "static_nat[%zu]: %s", i, why);
		} else {
			res->added++;
			if (tpd_static_nat_unroutable(cfg, sn))
				log_warn(
					"static_nat: Tailscale routes no subnet inside its own "
					"100.64.0.0/10 or fd7a:115c:a1e0::/48: this address is "
					"unreachable through a Tailscale interface",
					"tailnet", sn->tailnet);
		}
	}
	free(have);
	return 0;
}

/**
 * tpd_sync_static() - apply the configuration's identities, zone
 * defaults, services, policies, the guard and static NAT entries (owner
 * TP_OWNER_STATIC).
 * @m:      maps.
 * @cfg:    configuration.
 * @host:   this host's addresses, kept as `host` (see tpd_sync_host()).
 * @n_host: their number.
 * @purge:  where the UDP flows of backends that went are queued, for
 *          tpd_purge_step() to delete a bounded step at a time; NULL:
 *          deleted before this returns.
 * @res:    what changed.
 *
 * Return: 0 or -errno for a failure to read the maps.
 */
int tpd_sync_static(const struct tp_maps *m, const struct tpd_config *cfg,
		    const struct tp_addr *host, size_t n_host,
		    struct tpd_purge *purge, struct tpd_sync_result *res)
{
	return tpd_sync_static_fresh(m, cfg, host, n_host, purge, false, res);
}

/**
 * tpd_sync_static_fresh() - tpd_sync_static() into maps a load has just
 * made, when @fresh: nothing in them to read or compare (checked: a map
 * that holds services after all takes the ordinary path).
 * @m:      maps.
 * @cfg:    configuration.
 * @host:   this host's addresses.
 * @n_host: their number.
 * @purge:  as tpd_sync_static().
 * @fresh:  the maps were announced fresh by the load (a cold start).
 * @res:    what changed, exactly as tpd_sync_static() counts it.
 *
 * Return: as tpd_sync_static().
 */
int tpd_sync_static_fresh(const struct tp_maps *m, const struct tpd_config *cfg,
			  const struct tp_addr *host, size_t n_host,
			  struct tpd_purge *purge, bool fresh,
			  struct tpd_sync_result *res)
{
	struct tpd_purge now = {};
	int err, perr;

	tpd_static_names(m, cfg, res);
	err = tpd_static_identities(m, cfg, host, n_host, res);
	tpd_static_defaults(m, cfg, res);
	err = err
		      ?: tpd_static_services(m, cfg, fresh,
					     purge ? purge : &now, res);
	err = err ?: tpd_static_policies(m, cfg, res);
	err = err ?: tpd_guard_sync(m, cfg, res);
	err = err ?: tpd_static_nat(m, cfg, res);
	perr = purge ? 0 : tpd_purge_step(m, &now, 0);
	if (perr)
		tpd_sync_error(res, "stale UDP flows not purged: %s",
			       strerror(-perr));
	tpd_purge_free(&now);
	return err;
}
