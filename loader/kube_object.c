// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Decoded Kubernetes objects (loader/kube.h): freeing one, and the names
 * of the kinds for logs and metrics.  Every pointer of an object is owned
 * by it; a partly decoded object (the decoder gave up on it) frees the
 * same way, NULL pointers and zero counts included.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "kube_hash.h"

/*
 * Strings many objects repeat are kept once: namespaces, node names,
 * label keys and values, port names.  At 100,000 endpoints the node name
 * alone was 100,000 heap copies of a few bytes each.  An interned string
 * is the key of its entry in the pool, whose value counts the objects
 * holding it.  The decoder interns (client thread) and objects are freed
 * on either thread, hence the lock.
 */
static pthread_mutex_t tpd_kube_strs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tpd_kh tpd_kube_strs;

/**
 * tpd_kube_str_intern() - the pooled copy of @len bytes at @s (no NUL
 * inside), one more holder counted.
 *
 * Return: a NUL-terminated string to release with tpd_kube_str_put(), or
 * NULL when out of memory.
 */
char *tpd_kube_str_intern(const char *s, size_t len)
{
	struct tpd_kh_ent *e;

	pthread_mutex_lock(&tpd_kube_strs_mu);
	e = tpd_kh_find(&tpd_kube_strs, s, len);
	if (!e)
		e = tpd_kh_put(&tpd_kube_strs, s, len, NULL);
	if (e)
		e->val = (void *)((uintptr_t)e->val + 1);
	pthread_mutex_unlock(&tpd_kube_strs_mu);
	return e ? e->key : NULL;
}

/**
 * tpd_kube_str_put() - let go of a string of an object: one holder less
 * of a pooled one, free() of any other (objects built field by field).
 * @s: the string, or NULL.
 */
void tpd_kube_str_put(char *s)
{
	struct tpd_kh_ent *e;
	size_t len;

	if (!s)
		return;
	len = strlen(s);
	pthread_mutex_lock(&tpd_kube_strs_mu);
	e = tpd_kh_find(&tpd_kube_strs, s, len);
	if (e && e->key == s) {
		e->val = (void *)((uintptr_t)e->val - 1);
		if (!e->val)
			tpd_kh_del(&tpd_kube_strs, s, len, NULL);
		/* the last one: the buckets go too */
		if (!tpd_kube_strs.n)
			tpd_kh_clear(&tpd_kube_strs, NULL);
		pthread_mutex_unlock(&tpd_kube_strs_mu);
		return;
	}
	pthread_mutex_unlock(&tpd_kube_strs_mu);
	free(s);
}

static void tpd_kube_labels_free(struct tpd_kube_label *labels, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		tpd_kube_str_put(labels[i].key);
		tpd_kube_str_put(labels[i].value);
	}
	free(labels);
}

static void tpd_kube_meta_free(struct tpd_kube_meta *m)
{
	tpd_kube_str_put(m->ns);
	tpd_kube_str_put(m->name);
	tpd_kube_str_put(m->uid);
	tpd_kube_str_put(m->resource_version);
	tpd_kube_labels_free(m->labels, m->n_labels);
	tpd_kube_str_put(m->ann_expose);
	tpd_kube_str_put(m->ann_tailnet_addr);
}

static void tpd_kube_service_free(struct tpd_kube_service *s)
{
	size_t i;

	free(s->cluster_ips);
	free(s->lb_ips);
	for (i = 0; i < s->n_ports; i++) {
		tpd_kube_str_put(s->ports[i].name);
		tpd_kube_str_put(s->ports[i].target_name);
	}
	free(s->ports);
}

static void tpd_kube_slice_free(struct tpd_kube_slice *s)
{
	size_t i;

	tpd_kube_str_put(s->service);
	for (i = 0; i < s->n_ports; i++)
		tpd_kube_str_put(s->ports[i].name);
	free(s->ports);
	for (i = 0; i < s->n_endpoints; i++) {
		if (!s->addr_pool)
			free(s->endpoints[i].addrs);
		tpd_kube_str_put(s->endpoints[i].node_name);
	}
	free(s->endpoints);
	free(s->addr_pool);
}

static void tpd_kube_pod_free(struct tpd_kube_pod *p)
{
	size_t i;

	tpd_kube_str_put(p->node_name);
	free(p->ips);
	for (i = 0; i < p->n_ports; i++)
		tpd_kube_str_put(p->ports[i].name);
	free(p->ports);
}

static void tpd_kube_selector_free(struct tpd_kube_selector *sel)
{
	size_t i, j;

	tpd_kube_labels_free(sel->match, sel->n_match);
	for (i = 0; i < sel->n_exprs; i++) {
		tpd_kube_str_put(sel->exprs[i].key);
		for (j = 0; j < sel->exprs[i].n_values; j++)
			tpd_kube_str_put(sel->exprs[i].values[j]);
		free(sel->exprs[i].values);
	}
	free(sel->exprs);
}

static void tpd_kube_rules_free(struct tpd_kube_np_rule *rules, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < rules[i].n_peers; j++) {
			free(rules[i].peers[j].except);
			free(rules[i].peers[j].except_plen);
			tpd_kube_selector_free(&rules[i].peers[j].pods);
			tpd_kube_selector_free(&rules[i].peers[j].namespaces);
		}
		free(rules[i].peers);
		for (j = 0; j < rules[i].n_ports; j++)
			tpd_kube_str_put(rules[i].ports[j].name);
		free(rules[i].ports);
	}
	free(rules);
}

static void tpd_kube_netpol_free(struct tpd_kube_netpol *np)
{
	tpd_kube_selector_free(&np->pod_selector);
	tpd_kube_rules_free(np->ingress, np->n_ingress);
	tpd_kube_rules_free(np->egress, np->n_egress);
}

/**
 * tpd_kube_object_size() - the bytes an object of kind @k needs: its
 * meta and its own member of the union, not the largest (a Namespace
 * is its meta alone).  A store holds 10,000s of Pods and EndpointSlices
 * at 32 bytes each less than sizeof(struct tpd_kube_object).
 *
 * Return: the size to allocate; an object of that size must be read and
 * written through its kind's member only (tpd_kube_object_free() does).
 */
size_t tpd_kube_object_size(enum tpd_kube_kind k)
{
	size_t head = offsetof(struct tpd_kube_object, svc);

	switch (k) {
	case TPD_KUBE_SERVICE:
		return head + sizeof(struct tpd_kube_service);
	case TPD_KUBE_ENDPOINTSLICE:
		return head + sizeof(struct tpd_kube_slice);
	case TPD_KUBE_POD:
		return head + sizeof(struct tpd_kube_pod);
	case TPD_KUBE_NAMESPACE:
		return head;
	default:
		return sizeof(struct tpd_kube_object);
	}
}

/**
 * tpd_kube_object_free() - free @o and everything it holds.
 * @o: an object from the decoder (complete or not), or NULL.
 */
void tpd_kube_object_free(struct tpd_kube_object *o)
{
	if (!o)
		return;
	tpd_kube_meta_free(&o->meta);
	switch (o->kind) {
	case TPD_KUBE_SERVICE:
		tpd_kube_service_free(&o->svc);
		break;
	case TPD_KUBE_ENDPOINTSLICE:
		tpd_kube_slice_free(&o->slice);
		break;
	case TPD_KUBE_POD:
		tpd_kube_pod_free(&o->pod);
		break;
	case TPD_KUBE_NETPOL:
		tpd_kube_netpol_free(&o->np);
		break;
	case TPD_KUBE_NAMESPACE:
	case TPD_KUBE_KIND_MAX:
		break;
	}
	free(o);
}

/**
 * tpd_kube_kind_name() - the API's name of a kind ("Service", ...).
 * @k: the kind.
 *
 * Return: a static string; "unknown" for a value out of range.
 */
/* The kinds the source reads: the API's kind, its resource, where it is listed. */
static const struct {
	const char *name;
	const char *resource;
	const char *path;
} tpd_kube_kinds[TPD_KUBE_KIND_MAX] = {
	[TPD_KUBE_SERVICE] = { "Service", "services", "/api/v1/services" },
	[TPD_KUBE_ENDPOINTSLICE] = { "EndpointSlice", "endpointslices",
				     "/apis/discovery.k8s.io/v1/endpointslices" },
	[TPD_KUBE_POD] = { "Pod", "pods", "/api/v1/pods" },
	[TPD_KUBE_NAMESPACE] = { "Namespace", "namespaces",
				 "/api/v1/namespaces" },
	[TPD_KUBE_NETPOL] = { "NetworkPolicy", "networkpolicies",
			      "/apis/networking.k8s.io/v1/networkpolicies" },
};

const char *tpd_kube_kind_name(enum tpd_kube_kind k)
{
	return (unsigned int)k < TPD_KUBE_KIND_MAX ? tpd_kube_kinds[k].name
						   : "unknown";
}

/**
 * tpd_kube_kind_resource() - the resource of a kind ("services", ...), as
 * metrics label it.
 * @k: the kind.
 *
 * Return: a static string; "unknown" for a value out of range.
 */
const char *tpd_kube_kind_resource(enum tpd_kube_kind k)
{
	return (unsigned int)k < TPD_KUBE_KIND_MAX ? tpd_kube_kinds[k].resource
						   : "unknown";
}

/**
 * tpd_kube_kind_path() - the cluster-wide path a kind is listed and
 * watched at ("/api/v1/services", ...).
 * @k: the kind.
 *
 * Return: a static string; NULL for a value out of range.
 */
const char *tpd_kube_kind_path(enum tpd_kube_kind k)
{
	return (unsigned int)k < TPD_KUBE_KIND_MAX ? tpd_kube_kinds[k].path
						   : NULL;
}
