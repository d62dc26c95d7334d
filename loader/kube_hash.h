/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A chained hash table over byte-string keys, for the Kubernetes store and
 * sync: objects by "namespace/name", frontends by struct tp_svc_key,
 * addresses by struct tp_addr.  It doubles when it holds as many entries
 * as buckets, so a lookup stays O(1) at 100,000 pods.  Not locked: the
 * store holds its mutex around it, the sync runs on the main thread.
 */
#ifndef TAILPLANED_KUBE_HASH_H
#define TAILPLANED_KUBE_HASH_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>

/**
 * struct tpd_kh_ent - one entry.
 * @next: next in the bucket.
 * @hash: the key's hash.
 * @val:  the caller's value.
 * @klen: the key's length.
 * @key:  the key, followed by a NUL (a string key is a C string).
 */
struct tpd_kh_ent {
	struct tpd_kh_ent *next;
	__u64 hash;
	void *val;
	size_t klen;
	char key[];
};

/**
 * struct tpd_kh - a table; zero-initialised is empty.
 * @b:  buckets.
 * @nb: their number, a power of two (0 before the first insert).
 * @n:  entries.
 */
struct tpd_kh {
	struct tpd_kh_ent **b;
	size_t nb;
	size_t n;
};

__u64 tpd_kh_hash(const void *k, size_t len);
struct tpd_kh_ent *tpd_kh_find(const struct tpd_kh *h, const void *k,
			       size_t klen);
void *tpd_kh_get(const struct tpd_kh *h, const void *k, size_t klen);
struct tpd_kh_ent *tpd_kh_put(struct tpd_kh *h, const void *k, size_t klen,
			      void *val);
bool tpd_kh_del(struct tpd_kh *h, const void *k, size_t klen, void **val);
struct tpd_kh_ent *tpd_kh_next(const struct tpd_kh *h, size_t *bucket,
			       struct tpd_kh_ent *prev);
void tpd_kh_clear(struct tpd_kh *h, void (*free_val)(void *val));

/* String keys. */
static inline void *tpd_kh_sget(const struct tpd_kh *h, const char *k)
{
	return tpd_kh_get(h, k, __builtin_strlen(k));
}

/* Every entry of @h: for (e = NULL, b = 0; (e = tpd_kh_next(h, &b, e));) */
#define tpd_kh_for_each(h, b, e) \
	for ((b) = 0, (e) = NULL; ((e) = tpd_kh_next(h, &(b), e));)

#endif /* TAILPLANED_KUBE_HASH_H */
