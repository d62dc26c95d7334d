// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes source's test fixture: see kubetest.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "identity.h"
#include "kubetest.h"
#include "names.h"
#include "service.h"

char *kt_xstrdup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	assert_true(!s || d);
	return d;
}

struct tpd_kube_object *kt_obj_new(enum tpd_kube_kind kind, const char *ns,
				   const char *name)
{
	struct tpd_kube_object *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	o->kind = kind;
	o->meta.ns = kt_xstrdup(ns);
	o->meta.name = kt_xstrdup(name);
	o->meta.uid = kt_xstrdup("uid");
	o->meta.resource_version = kt_xstrdup("1");
	return o;
}

/* Add label @k=@v; callers add them in key order, as the decoder sorts. */
void kt_obj_label(struct tpd_kube_object *o, const char *k, const char *v)
{
	o->meta.labels = realloc(o->meta.labels, (o->meta.n_labels +
						  1) * sizeof(*o->meta.labels));
	assert_non_null(o->meta.labels);
	o->meta.labels[o->meta.n_labels].key = kt_xstrdup(k);
	o->meta.labels[o->meta.n_labels].value = kt_xstrdup(v);
	o->meta.n_labels++;
}

/* A comma-separated list of addresses into an array. */
struct tp_addr *kt_addrs(const char *list, size_t *n)
{
	char buf[512], *save = NULL, *tok;
	struct tp_addr *a = calloc(16, sizeof(*a));

	assert_non_null(a);
	*n = 0;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		assert_int_equal(tp_addr_parse(tok, &a[(*n)++]), 0);
	return a;
}

/* A port "NAME:PORT/PROTO" (@tok, cut up), NAME possibly empty. */
static void kt_port_parse(char *tok, char **name, __u16 *port, __u8 *proto)
{
	char *colon = strchr(tok, ':'), *slash = strchr(tok, '/');

	assert_non_null(colon);
	assert_non_null(slash);
	*colon = 0;
	*slash = 0;
	*name = kt_xstrdup(tok);
	*port = atoi(colon + 1);
	*proto = !strcmp(slash + 1, "tcp")   ? IPPROTO_TCP
		 : !strcmp(slash + 1, "udp") ? IPPROTO_UDP
					     : IPPROTO_SCTP;
}

/*
 * A Service: @vips "198.19.0.10,fd00:198:19::a", @ports
 * "http:80/tcp,dns:53/udp" (name may be empty: ":80/tcp").
 */
struct tpd_kube_object *kt_svc_new(const char *ns, const char *name,
				   const char *vips, const char *ports)
{
	struct tpd_kube_object *o = kt_obj_new(TPD_KUBE_SERVICE, ns, name);
	char buf[256], *save = NULL, *tok;

	o->svc.type = TPD_KUBE_SVC_CLUSTERIP;
	o->svc.cluster_ips = kt_addrs(vips, &o->svc.n_cluster_ips);
	o->svc.ports = calloc(8, sizeof(*o->svc.ports));
	assert_non_null(o->svc.ports);
	snprintf(buf, sizeof(buf), "%s", ports);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		struct tpd_kube_svc_port *p = &o->svc.ports[o->svc.n_ports++];

		kt_port_parse(tok, &p->name, &p->port, &p->proto);
	}
	return o;
}

/*
 * An EndpointSlice of Service @svc: @ports "http:8080/tcp,dns:5353/udp",
 * @eps "ADDR[@NODE][/rst]" ... where r, s, t are the ready, serving and
 * terminating conditions as 0/1 (default 110: ready and serving).
 */
struct tpd_kube_object *kt_slice_new(const char *ns, const char *name,
				     const char *svc,
				     enum tpd_kube_addr_type type,
				     const char *ports, const char *eps)
{
	struct tpd_kube_object *o =
		kt_obj_new(TPD_KUBE_ENDPOINTSLICE, ns, name);
	char buf[4096], *save = NULL, *tok;

	o->slice.service = kt_xstrdup(svc);
	if (svc)
		kt_obj_label(o, TPD_KUBE_LABEL_SERVICE_NAME, svc);
	o->slice.addr_type = type;
	o->slice.ports = calloc(8, sizeof(*o->slice.ports));
	assert_non_null(o->slice.ports);
	snprintf(buf, sizeof(buf), "%s", ports);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		struct tpd_kube_ep_port *p =
			&o->slice.ports[o->slice.n_ports++];

		kt_port_parse(tok, &p->name, &p->port, &p->proto);
	}
	o->slice.endpoints = calloc(128, sizeof(*o->slice.endpoints));
	assert_non_null(o->slice.endpoints);
	snprintf(buf, sizeof(buf), "%s", eps);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		struct tpd_kube_endpoint *ep =
			&o->slice.endpoints[o->slice.n_endpoints++];
		char *at = strchr(tok, '@'), *cond = strchr(tok, '/');

		if (cond)
			*cond++ = 0;
		if (at) {
			*at++ = 0;
			ep->node_name = kt_xstrdup(at);
		}
		ep->addrs = calloc(1, sizeof(*ep->addrs));
		assert_non_null(ep->addrs);
		if (type != TPD_KUBE_ADDR_FQDN)
			assert_int_equal(tp_addr_parse(tok, &ep->addrs[0]), 0);
		ep->n_addrs = 1;
		ep->ready = !cond || cond[0] == '1';
		ep->serving = !cond || cond[1] == '1';
		ep->terminating = cond && cond[2] == '1';
	}
	return o;
}

/* A Pod on @node with @ips; labels added by the caller. */
struct tpd_kube_object *kt_pod_new(const char *ns, const char *name,
				   const char *node, const char *ips)
{
	struct tpd_kube_object *o = kt_obj_new(TPD_KUBE_POD, ns, name);

	o->pod.node_name = kt_xstrdup(node);
	o->pod.ips = kt_addrs(ips, &o->pod.n_ips);
	return o;
}

void kt_ks_open(struct ks *k, struct th *h)
{
	k->h = h;
	if (!k->cfg.node_name) {
		k->cfg.node_name = NODE;
		k->cfg.tcp_grace = 30;
	}
	k->store = tpd_kube_store_new();
	assert_non_null(k->store);
	k->sink = tpd_kube_store_sink(k->store);
	k->sync = tpd_kube_sync_new(&k->cfg, k->store, &k->udp, &k->tcp);
	assert_non_null(k->sync);
	if (!k->now)
		k->now = 1000;
}

void kt_ks_close(struct ks *k)
{
	tpd_kube_sync_free(k->sync);
	tpd_kube_store_free(k->store);
	k->sync = NULL;
	k->store = NULL;
}

void kt_ks_free(struct ks *k)
{
	kt_ks_close(k);
	tpd_purge_free(&k->udp);
	tpd_purge_free(&k->tcp);
}

void kt_put(struct ks *k, struct tpd_kube_object *o)
{
	k->sink->object(k->sink->ctx, TPD_KUBE_EV_ADDED, o);
}

void kt_del(struct ks *k, enum tpd_kube_kind kind, const char *ns,
	    const char *name)
{
	k->sink->object(k->sink->ctx, TPD_KUBE_EV_DELETED,
			kt_obj_new(kind, ns, name));
}

/* The client's first full picture is complete (what was put is the list). */
void kt_synced(struct ks *k)
{
	k->sink->synced(k->sink->ctx);
}

void kt_run(struct ks *k)
{
	assert_int_equal(
		tpd_kube_sync_run(k->sync, &k->h->maps, k->now, &k->res), 0);
	if (k->res.errors)
		fail_msg("reconcile errors: %u, first: %s", k->res.errors,
			 k->res.error);
}

static int be_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Frontend @fe ("198.19.0.10:80/tcp") as text: "-" when absent, else
 * "OWNER zone Z [aff T] : ADDR:PORT state, ..." with backends sorted.
 */
const char *kt_frontend(struct th *h, const char *fe)
{
	static char out[8192];
	__u32 ids[TP_MAX_SVC_BACKENDS];
	struct tp_backend bes[TP_MAX_SVC_BACKENDS];
	char *txt[TP_MAX_SVC_BACKENDS], a[64];
	struct tp_svc_key key;
	struct tp_svc svc;
	size_t len;
	int n, i;

	assert_int_equal(tp_svc_key_parse(fe, &key), 0);
	if (bpf_map_lookup_elem(h->maps.services, &key, &svc))
		return "-";
	n = tp_service_backends(&h->maps, svc.id, ids, bes,
				TP_MAX_SVC_BACKENDS);
	assert_true(n >= 0);
	len = snprintf(out, sizeof(out), "%s zone %u", tp_owner_name(svc.owner),
		       svc.zone);
	if (svc.flags & TP_SVC_F_AFFINITY)
		len += snprintf(out + len, sizeof(out) - len, " aff %u",
				svc.affinity_timeout);
	len += snprintf(out + len, sizeof(out) - len, " :");
	for (i = 0; i < n; i++) {
		tp_addr_format(&bes[i].addr, a, sizeof(a));
		assert_true(asprintf(&txt[i],
				     tp_addr_is_v4(&bes[i].addr) ? "%s:%u %s"
								 : "[%s]:%u %s",
				     a, ntohs(bes[i].port),
				     tp_backend_state_name(bes[i].state)) > 0);
	}
	qsort(txt, n, sizeof(*txt), be_cmp);
	for (i = 0; i < n; i++) {
		len += snprintf(out + len, sizeof(out) - len, "%s %s",
				i ? "," : "", txt[i]);
		free(txt[i]);
	}
	return out;
}

/* The identity of @addr in zone 0, 0 when none. */
__u32 kt_ident_of(struct th *h, const char *addr)
{
	struct tp_addr a;
	__u32 id = 0;

	assert_int_equal(tp_addr_parse(addr, &a), 0);
	if (tp_identity_lookup(&h->maps, 0, &a, &id))
		return 0;
	return id;
}
