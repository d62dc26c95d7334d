// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes store (kube_store.h): objects per kind in hash tables
 * keyed by "namespace/name", an index of EndpointSlices by the Service
 * they name, and the set of what changed for the main thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "array.h"
#include "kube_store.h"
#include "log.h"

/*
 * An object as stored is the value of its entry in the kind's table, the
 * pointer's lowest bit (free: malloc() aligns) its mark of "delivered by
 * the list under way" (list_begin .. list_end).  A block of its own for
 * the mark was 32 bytes an object.
 */
#define TPD_STORE_SEEN ((uintptr_t)1)

static struct tpd_kube_object *tpd_sobj(const void *val)
{
	return (struct tpd_kube_object *)((uintptr_t)val & ~TPD_STORE_SEEN);
}

static bool tpd_sobj_seen(const void *val)
{
	return (uintptr_t)val & TPD_STORE_SEEN;
}

static void *tpd_sobj_val(struct tpd_kube_object *o, bool seen)
{
	return (void *)((uintptr_t)o | (seen ? TPD_STORE_SEEN : 0));
}

/* The slices that name one Service (kubernetes.io/service-name). */
struct tpd_kube_slice_set {
	const struct tpd_kube_object **v;
	size_t n, cap;
};

struct tpd_kube_store {
	pthread_mutex_t mu;
	int efd;
	bool signalled; /* the eventfd holds a count the main thread has not read */
	struct tpd_kh objs[TPD_KUBE_KIND_MAX];
	bool listing[TPD_KUBE_KIND_MAX];
	struct tpd_kh slices_by_svc;
	struct tpd_kube_changes dirty;
	struct tpd_kube_sink sink;
};

/**
 * tpd_kube_key() - "namespace/name" (a cluster-scoped object: "name").
 * @meta: the object's metadata.
 * @buf:  where.
 * @len:  its room (TPD_KUBE_KEY_LEN is enough for any valid object).
 *
 * Return: the key's length, or -1 when it did not fit.
 */
int tpd_kube_key(const struct tpd_kube_meta *meta, char *buf, size_t len)
{
	const char *ns = meta->ns ? meta->ns : "";
	int n = snprintf(buf, len, "%s%s%s", ns, *ns ? "/" : "",
			 meta->name ? meta->name : "");

	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* The key of the Service slice @o belongs to, or -1 when it names none. */
static int tpd_slice_svc_key(const struct tpd_kube_object *o, char *buf,
			     size_t len)
{
	int n;

	if (!o->slice.service || !o->slice.service[0])
		return -1;
	n = snprintf(buf, len, "%s/%s", o->meta.ns ? o->meta.ns : "",
		     o->slice.service);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

static void tpd_store_wake(struct tpd_kube_store *s)
{
	__u64 one = 1;

	/* coalesced: one write until the main thread takes the changes */
	if (s->signalled)
		return;
	if (write(s->efd, &one, sizeof(one)) == sizeof(one))
		s->signalled = true;
}

static void tpd_dirty(struct tpd_kh *set, const char *key)
{
	if (!tpd_kh_put(set, key, strlen(key), NULL))
		log_error(
			"kubernetes store: out of memory; a change may be missed until the "
			"next re-list",
			"object", key);
}

static void tpd_slice_index(struct tpd_kube_store *s,
			    const struct tpd_kube_object *o, bool add)
{
	struct tpd_kube_slice_set *set;
	char key[TPD_KUBE_KEY_LEN];
	size_t i;
	int n = tpd_slice_svc_key(o, key, sizeof(key));

	if (n < 0)
		return;
	set = tpd_kh_get(&s->slices_by_svc, key, n);
	if (!add) {
		for (i = 0; set && i < set->n; i++) {
			if (set->v[i] != o)
				continue;
			set->v[i] = set->v[--set->n];
			break;
		}
		if (set && !set->n) {
			tpd_kh_del(&s->slices_by_svc, key, n, NULL);
			free(set->v);
			free(set);
		}
		return;
	}
	if (!set) {
		set = calloc(1, sizeof(*set));
		if (!set || !tpd_kh_put(&s->slices_by_svc, key, n, set)) {
			free(set);
			goto oom;
		}
	}
	if (tp_array_grow((void **)&set->v, &set->cap, set->n + 1,
			  sizeof(*set->v), 2))
		goto oom;
	set->v[set->n++] = o;
	return;
oom:
	log_error(
		"kubernetes store: out of memory; an EndpointSlice is left out",
		"service", key);
}

/* Note what a change of @o (or of its previous version @old) makes dirty. */
static void tpd_store_note(struct tpd_kube_store *s,
			   const struct tpd_kube_object *o,
			   const struct tpd_kube_object *old)
{
	char key[TPD_KUBE_KEY_LEN];

	switch (o->kind) {
	case TPD_KUBE_SERVICE:
		if (tpd_kube_key(&o->meta, key, sizeof(key)) >= 0)
			tpd_dirty(&s->dirty.services, key);
		break;
	case TPD_KUBE_ENDPOINTSLICE:
		/* the Service it names, and the one it named when that changed */
		if (tpd_slice_svc_key(o, key, sizeof(key)) >= 0)
			tpd_dirty(&s->dirty.services, key);
		if (old && tpd_slice_svc_key(old, key, sizeof(key)) >= 0)
			tpd_dirty(&s->dirty.services, key);
		break;
	case TPD_KUBE_POD:
		if (tpd_kube_key(&o->meta, key, sizeof(key)) >= 0)
			tpd_dirty(&s->dirty.pods, key);
		s->dirty.policy = true;
		break;
	default:
		s->dirty.policy = true;
		break;
	}
	tpd_store_wake(s);
}

/* Remove the stored object of @key (kind @k); the caller holds the lock. */
static void tpd_store_remove(struct tpd_kube_store *s, enum tpd_kube_kind k,
			     const char *key)
{
	struct tpd_kube_object *o;
	void *val;

	if (!tpd_kh_del(&s->objs[k], key, strlen(key), &val))
		return;
	o = tpd_sobj(val);
	if (k == TPD_KUBE_ENDPOINTSLICE)
		tpd_slice_index(s, o, false);
	tpd_store_note(s, o, NULL);
	tpd_kube_object_free(o);
}

/* @*str becomes the pooled "" (one heap block less), if there is memory. */
static void tpd_str_drop(char **str)
{
	char *empty;

	if (!*str || !**str)
		return;
	empty = tpd_kube_str_intern("", 0);
	if (!empty)
		return;
	tpd_kube_str_put(*str);
	*str = empty;
}

/*
 * What no reader of the store looks at goes before @o is stored: its
 * resourceVersion (the client keeps the list's and the last event's)
 * and, but for a NetworkPolicy's (kube_policy.c orders by it), its uid.
 * Two heap blocks an object, some 80 bytes: 2.4 MB at 10,000 Services,
 * their EndpointSlices and 10,000 Pods.
 */
static void tpd_store_slim(struct tpd_kube_object *o)
{
	tpd_str_drop(&o->meta.resource_version);
	if (o->kind != TPD_KUBE_NETPOL)
		tpd_str_drop(&o->meta.uid);
}

static void tpd_sink_object(void *ctx, enum tpd_kube_event ev,
			    struct tpd_kube_object *o)
{
	struct tpd_kube_store *s = ctx;
	struct tpd_kh_ent *e;
	char key[TPD_KUBE_KEY_LEN];
	struct tpd_kube_object *old;

	if (!o)
		return;
	if (o->kind >= TPD_KUBE_KIND_MAX ||
	    tpd_kube_key(&o->meta, key, sizeof(key)) < 0) {
		tpd_kube_object_free(o);
		return;
	}
	if (ev != TPD_KUBE_EV_DELETED)
		tpd_store_slim(o); /* the pool's lock, not the store's */
	pthread_mutex_lock(&s->mu);
	if (ev == TPD_KUBE_EV_DELETED) {
		tpd_store_remove(s, o->kind, key);
		pthread_mutex_unlock(&s->mu);
		tpd_kube_object_free(o);
		return;
	}
	e = tpd_kh_find(&s->objs[o->kind], key, strlen(key));
	if (!e) {
		e = tpd_kh_put(&s->objs[o->kind], key, strlen(key), NULL);
		if (!e) {
			pthread_mutex_unlock(&s->mu);
			log_error(
				"kubernetes store: out of memory; object dropped",
				"kind", tpd_kube_kind_name(o->kind), "object",
				key);
			tpd_kube_object_free(o);
			return;
		}
	}
	old = tpd_sobj(e->val);
	if (old && o->kind == TPD_KUBE_ENDPOINTSLICE)
		tpd_slice_index(s, old, false);
	e->val = tpd_sobj_val(o, true);
	if (o->kind == TPD_KUBE_ENDPOINTSLICE)
		tpd_slice_index(s, o, true);
	tpd_store_note(s, o, old);
	pthread_mutex_unlock(&s->mu);
	tpd_kube_object_free(old);
}

/* Every object of @kind marked as delivered by the current list, or not. */
static void tpd_store_mark(struct tpd_kube_store *s, enum tpd_kube_kind kind,
			   bool seen)
{
	struct tpd_kh_ent *e;
	size_t b;

	tpd_kh_for_each(&s->objs[kind], b, e) e->val =
		tpd_sobj_val(tpd_sobj(e->val), seen);
}

static void tpd_sink_list_begin(void *ctx, enum tpd_kube_kind kind)
{
	struct tpd_kube_store *s = ctx;

	if (kind >= TPD_KUBE_KIND_MAX)
		return;
	pthread_mutex_lock(&s->mu);
	tpd_store_mark(s, kind, false);
	s->listing[kind] = true;
	pthread_mutex_unlock(&s->mu);
}

/* A complete list: what it did not deliver is gone (as if DELETED). */
static void tpd_store_sweep(struct tpd_kube_store *s, enum tpd_kube_kind kind)
{
	struct tpd_kh_ent *e;
	size_t b, n = 0, i;
	char **gone;

	gone = calloc(s->objs[kind].n + 1, sizeof(*gone));
	if (!gone) {
		log_error(
			"kubernetes store: out of memory; objects a re-list dropped stay",
			"kind", tpd_kube_kind_name(kind));
		return;
	}
	tpd_kh_for_each(&s->objs[kind], b, e) if (!tpd_sobj_seen(e->val))
		gone[n++] = e->key;
	/* keys point into entries that go: copy them before removing any */
	for (i = 0; i < n; i++)
		gone[i] = strdup(gone[i]);
	for (i = 0; i < n; i++) {
		if (gone[i])
			tpd_store_remove(s, kind, gone[i]);
		free(gone[i]);
	}
	free(gone);
}

static void tpd_sink_list_end(void *ctx, enum tpd_kube_kind kind, bool complete)
{
	struct tpd_kube_store *s = ctx;

	if (kind >= TPD_KUBE_KIND_MAX)
		return;
	pthread_mutex_lock(&s->mu);
	if (s->listing[kind] && complete)
		tpd_store_sweep(s, kind);
	/* cut short: keep everything, forget the marks */
	tpd_store_mark(s, kind, true);
	s->listing[kind] = false;
	pthread_mutex_unlock(&s->mu);
}

static void tpd_sink_synced(void *ctx)
{
	struct tpd_kube_store *s = ctx;

	pthread_mutex_lock(&s->mu);
	s->dirty.synced = true;
	s->signalled = false; /* always wake for the first full picture */
	tpd_store_wake(s);
	pthread_mutex_unlock(&s->mu);
}

/** tpd_kube_store_new() - an empty store; NULL when out of memory or eventfds. */
struct tpd_kube_store *tpd_kube_store_new(void)
{
	struct tpd_kube_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0) {
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	s->sink = (struct tpd_kube_sink){
		.list_begin = tpd_sink_list_begin,
		.object = tpd_sink_object,
		.list_end = tpd_sink_list_end,
		.synced = tpd_sink_synced,
		.ctx = s,
	};
	return s;
}

static void tpd_sobj_free(void *val)
{
	tpd_kube_object_free(tpd_sobj(val));
}

static void tpd_slice_set_free(void *val)
{
	struct tpd_kube_slice_set *set = val;

	free(set->v);
	free(set);
}

/** tpd_kube_store_free() - free @s and every object (the client is stopped). */
void tpd_kube_store_free(struct tpd_kube_store *s)
{
	int k;

	if (!s)
		return;
	tpd_kh_clear(&s->slices_by_svc, tpd_slice_set_free);
	for (k = 0; k < TPD_KUBE_KIND_MAX; k++)
		tpd_kh_clear(&s->objs[k], tpd_sobj_free);
	tpd_kube_changes_free(&s->dirty);
	close(s->efd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/** tpd_kube_store_sink() - the sink to give the client. */
const struct tpd_kube_sink *tpd_kube_store_sink(struct tpd_kube_store *s)
{
	return &s->sink;
}

/** tpd_kube_store_fd() - the eventfd to poll: readable when something changed. */
int tpd_kube_store_fd(const struct tpd_kube_store *s)
{
	return s->efd;
}

/**
 * tpd_kube_store_take() - move what changed into @c (free it with
 * tpd_kube_changes_free()) and read the eventfd.
 * @s: the store.
 * @c: set whole.
 */
void tpd_kube_store_take(struct tpd_kube_store *s, struct tpd_kube_changes *c)
{
	__u64 count;

	pthread_mutex_lock(&s->mu);
	*c = s->dirty;
	memset(&s->dirty, 0, sizeof(s->dirty));
	s->dirty.synced = c->synced; /* once synced, always */
	if (read(s->efd, &count, sizeof(count)) < 0)
		count = 0; /* nothing to read: fine */
	s->signalled = false;
	pthread_mutex_unlock(&s->mu);
}

/** tpd_kube_changes_free() - forget @c's sets. */
void tpd_kube_changes_free(struct tpd_kube_changes *c)
{
	tpd_kh_clear(&c->services, NULL);
	tpd_kh_clear(&c->pods, NULL);
	c->policy = false;
}

/**
 * tpd_kube_store_lock() - hold the store still to read it (the client's
 * thread waits in the sink meanwhile: keep it short, no map writes).
 */
void tpd_kube_store_lock(struct tpd_kube_store *s)
{
	pthread_mutex_lock(&s->mu);
}

/** tpd_kube_store_unlock() - let the client's thread deliver again. */
void tpd_kube_store_unlock(struct tpd_kube_store *s)
{
	pthread_mutex_unlock(&s->mu);
}

/** tpd_kube_store_get() - the object of kind @kind at @key, or NULL (locked). */
const struct tpd_kube_object *tpd_kube_store_get(const struct tpd_kube_store *s,
						 enum tpd_kube_kind kind,
						 const char *key)
{
	return tpd_sobj(tpd_kh_sget(&s->objs[kind], key));
}

/**
 * tpd_kube_store_slices() - the EndpointSlices naming Service @svc_key
 * ("namespace/name"), in no order (locked).
 */
const struct tpd_kube_object *const *
tpd_kube_store_slices(const struct tpd_kube_store *s, const char *svc_key,
		      size_t *n)
{
	const struct tpd_kube_slice_set *set =
		tpd_kh_sget(&s->slices_by_svc, svc_key);

	*n = set ? set->n : 0;
	return set ? set->v : NULL;
}

/** tpd_kube_store_table() - the objects of @kind, to walk (locked). */
const struct tpd_kh *tpd_kube_store_table(const struct tpd_kube_store *s,
					  enum tpd_kube_kind kind)
{
	return &s->objs[kind];
}

/** tpd_kube_store_obj() - the object of entry @e of tpd_kube_store_table(). */
const struct tpd_kube_object *tpd_kube_store_obj(const struct tpd_kh_ent *e)
{
	return tpd_sobj(e->val);
}
