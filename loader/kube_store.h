/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Kubernetes objects as the client last delivered them, by kind and
 * "namespace/name", and what changed since the translation last looked.
 *
 * The client's thread writes through the store's struct tpd_kube_sink;
 * the main thread reads under tpd_kube_store_lock() and is woken through
 * an eventfd (tpd_kube_store_fd()), written once per batch of changes.
 * A stored object's meta.resource_version is "", and so is its meta.uid
 * but a NetworkPolicy's: nothing reads them, and they cost two blocks an
 * object.
 */
#ifndef TAILPLANED_KUBE_STORE_H
#define TAILPLANED_KUBE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "kube.h"
#include "kube_hash.h"

struct tpd_kube_store;

/**
 * struct tpd_kube_changes - what changed since the last take.
 * @services: dirty Services, keys "namespace/name" (values unused): the
 *            Service or one of its EndpointSlices changed.
 * @pods:     dirty Pods, keys "namespace/name".
 * @policy:   a Pod, Namespace or NetworkPolicy changed: the rules may.
 * @synced:   the client has delivered every kind once (the first full
 *            picture): before, the maps are left as they are.
 */
struct tpd_kube_changes {
	struct tpd_kh services;
	struct tpd_kh pods;
	bool policy;
	bool synced;
};

struct tpd_kube_store *tpd_kube_store_new(void);
void tpd_kube_store_free(struct tpd_kube_store *s);
const struct tpd_kube_sink *tpd_kube_store_sink(struct tpd_kube_store *s);
int tpd_kube_store_fd(const struct tpd_kube_store *s);
void tpd_kube_store_take(struct tpd_kube_store *s, struct tpd_kube_changes *c);
void tpd_kube_changes_free(struct tpd_kube_changes *c);

/* Readers, with the store locked. */
void tpd_kube_store_lock(struct tpd_kube_store *s);
void tpd_kube_store_unlock(struct tpd_kube_store *s);
const struct tpd_kube_object *tpd_kube_store_get(const struct tpd_kube_store *s,
						 enum tpd_kube_kind kind,
						 const char *key);
const struct tpd_kube_object *const *
tpd_kube_store_slices(const struct tpd_kube_store *s, const char *svc_key,
		      size_t *n);
const struct tpd_kh *tpd_kube_store_table(const struct tpd_kube_store *s,
					  enum tpd_kube_kind kind);
/* The object of an entry of tpd_kube_store_table(). */
const struct tpd_kube_object *tpd_kube_store_obj(const struct tpd_kh_ent *e);

/* "namespace/name" of @o into @buf; the length, or -1 when it did not fit. */
int tpd_kube_key(const struct tpd_kube_meta *meta, char *buf, size_t len);
#define TPD_KUBE_KEY_LEN 320 /* namespace (63) + '/' + name (253) + NUL */

#endif /* TAILPLANED_KUBE_STORE_H */
