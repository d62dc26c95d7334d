// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A chained hash table over byte-string keys (kube_hash.h). */
#include <stdlib.h>
#include <string.h>

#include "kube_hash.h"

/**
 * tpd_kh_hash() - FNV-1a 64 of @len bytes at @k.  Stable across versions:
 * pod identity names carry it (docs/kubernetes.md).
 */
__u64 tpd_kh_hash(const void *k, size_t len)
{
	const unsigned char *p = k;
	__u64 h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/** tpd_kh_find() - the entry of key @k, or NULL. */
struct tpd_kh_ent *tpd_kh_find(const struct tpd_kh *h, const void *k,
			       size_t klen)
{
	__u64 hash;
	struct tpd_kh_ent *e;

	if (!h->nb)
		return NULL;
	hash = tpd_kh_hash(k, klen);
	for (e = h->b[hash & (h->nb - 1)]; e; e = e->next)
		if (e->hash == hash && e->klen == klen &&
		    !memcmp(e->key, k, klen))
			return e;
	return NULL;
}

/** tpd_kh_get() - the value of key @k, or NULL. */
void *tpd_kh_get(const struct tpd_kh *h, const void *k, size_t klen)
{
	struct tpd_kh_ent *e = tpd_kh_find(h, k, klen);

	return e ? e->val : NULL;
}

static int tpd_kh_grow(struct tpd_kh *h)
{
	size_t nb = h->nb ? h->nb * 2 : 64, i;
	struct tpd_kh_ent **b = calloc(nb, sizeof(*b)), *e, *next;

	if (!b)
		return -1;
	for (i = 0; i < h->nb; i++) {
		for (e = h->b[i]; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(h->b);
	h->b = b;
	h->nb = nb;
	return 0;
}

/**
 * tpd_kh_put() - set key @k to @val (an existing entry's value is
 * replaced: the caller freed or kept the old one, see tpd_kh_find()).
 *
 * Return: the entry, or NULL when out of memory.
 */
struct tpd_kh_ent *tpd_kh_put(struct tpd_kh *h, const void *k, size_t klen,
			      void *val)
{
	struct tpd_kh_ent *e = tpd_kh_find(h, k, klen);
	size_t i;

	if (e) {
		e->val = val;
		return e;
	}
	if (h->n >= h->nb && tpd_kh_grow(h) && !h->nb)
		return NULL; /* a failed growth of a table that has buckets is fine */
	e = malloc(sizeof(*e) + klen + 1);
	if (!e)
		return NULL;
	e->hash = tpd_kh_hash(k, klen);
	e->val = val;
	e->klen = klen;
	memcpy(e->key, k, klen);
	e->key[klen] = 0;
	i = e->hash & (h->nb - 1);
	e->next = h->b[i];
	h->b[i] = e;
	h->n++;
	return e;
}

/** tpd_kh_del() - remove key @k; its value in *@val (if @val). */
bool tpd_kh_del(struct tpd_kh *h, const void *k, size_t klen, void **val)
{
	struct tpd_kh_ent **pp, *e;
	__u64 hash;

	if (!h->nb)
		return false;
	hash = tpd_kh_hash(k, klen);
	for (pp = &h->b[hash & (h->nb - 1)]; (e = *pp); pp = &e->next) {
		if (e->hash != hash || e->klen != klen ||
		    memcmp(e->key, k, klen))
			continue;
		*pp = e->next;
		if (val)
			*val = e->val;
		free(e);
		h->n--;
		return true;
	}
	return false;
}

/**
 * tpd_kh_next() - the entry after @prev (NULL: the first), walking from
 * bucket *@bucket on (tpd_kh_for_each()).  No insert or delete while
 * walking.
 */
struct tpd_kh_ent *tpd_kh_next(const struct tpd_kh *h, size_t *bucket,
			       struct tpd_kh_ent *prev)
{
	if (prev && prev->next)
		return prev->next;
	for (*bucket += prev ? 1 : 0; *bucket < h->nb; (*bucket)++)
		if (h->b[*bucket])
			return h->b[*bucket];
	return NULL;
}

/** tpd_kh_clear() - remove everything, calling @free_val (if set) on each value. */
void tpd_kh_clear(struct tpd_kh *h, void (*free_val)(void *val))
{
	struct tpd_kh_ent *e, *next;
	size_t i;

	for (i = 0; i < h->nb; i++) {
		for (e = h->b[i]; e; e = next) {
			next = e->next;
			if (free_val)
				free_val(e->val);
			free(e);
		}
	}
	free(h->b);
	memset(h, 0, sizeof(*h));
}
