// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * STUB of the Kubernetes API client and decoder (kube.h), so that the
 * store and the translation link and are tested alone.  Replaced whole
 * by the real kube_client.c at merge: nothing else belongs here.  Only
 * tpd_kube_object_free() and tpd_kube_kind_name() are real.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "kube.h"

static void tpd_kube_labels_free(struct tpd_kube_label *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

static void tpd_kube_selector_free(struct tpd_kube_selector *s)
{
	size_t i, j;

	tpd_kube_labels_free(s->match, s->n_match);
	for (i = 0; i < s->n_exprs; i++) {
		free(s->exprs[i].key);
		for (j = 0; j < s->exprs[i].n_values; j++)
			free(s->exprs[i].values[j]);
		free(s->exprs[i].values);
	}
	free(s->exprs);
}

static void tpd_kube_np_rules_free(struct tpd_kube_np_rule *r, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < r[i].n_peers; j++) {
			free(r[i].peers[j].except);
			free(r[i].peers[j].except_plen);
			tpd_kube_selector_free(&r[i].peers[j].pods);
			tpd_kube_selector_free(&r[i].peers[j].namespaces);
		}
		free(r[i].peers);
		for (j = 0; j < r[i].n_ports; j++)
			free(r[i].ports[j].name);
		free(r[i].ports);
	}
	free(r);
}

static void tpd_kube_kind_free(struct tpd_kube_object *o)
{
	size_t i;

	switch (o->kind) {
	case TPD_KUBE_SERVICE:
		free(o->svc.cluster_ips);
		free(o->svc.lb_ips);
		for (i = 0; i < o->svc.n_ports; i++) {
			free(o->svc.ports[i].name);
			free(o->svc.ports[i].target_name);
		}
		free(o->svc.ports);
		break;
	case TPD_KUBE_ENDPOINTSLICE:
		free(o->slice.service);
		for (i = 0; i < o->slice.n_ports; i++)
			free(o->slice.ports[i].name);
		free(o->slice.ports);
		for (i = 0; i < o->slice.n_endpoints; i++) {
			free(o->slice.endpoints[i].addrs);
			free(o->slice.endpoints[i].node_name);
		}
		free(o->slice.endpoints);
		break;
	case TPD_KUBE_POD:
		free(o->pod.node_name);
		free(o->pod.ips);
		for (i = 0; i < o->pod.n_ports; i++)
			free(o->pod.ports[i].name);
		free(o->pod.ports);
		break;
	case TPD_KUBE_NETPOL:
		tpd_kube_selector_free(&o->np.pod_selector);
		tpd_kube_np_rules_free(o->np.ingress, o->np.n_ingress);
		tpd_kube_np_rules_free(o->np.egress, o->np.n_egress);
		break;
	default:
		break;
	}
}

void tpd_kube_object_free(struct tpd_kube_object *o)
{
	if (!o)
		return;
	free(o->meta.ns);
	free(o->meta.name);
	free(o->meta.uid);
	free(o->meta.resource_version);
	tpd_kube_labels_free(o->meta.labels, o->meta.n_labels);
	free(o->meta.ann_expose);
	free(o->meta.ann_tailnet_addr);
	tpd_kube_kind_free(o);
	free(o);
}

const char *tpd_kube_kind_name(enum tpd_kube_kind k)
{
	static const char *const names[TPD_KUBE_KIND_MAX] = {
		"services", "endpointslices", "pods", "namespaces", "networkpolicies",
	};

	return k < TPD_KUBE_KIND_MAX ? names[k] : "unknown";
}

struct tpd_kube_decoder *tpd_kube_decoder_new(enum tpd_kube_kind kind,
					      enum tpd_kube_doc doc,
					      const struct tpd_kube_sink *sink)
{
	(void)kind;
	(void)doc;
	(void)sink;
	return NULL;
}

int tpd_kube_decoder_feed(struct tpd_kube_decoder *d, const void *buf, size_t len)
{
	(void)d;
	(void)buf;
	(void)len;
	return -ENOTSUP;
}

int tpd_kube_decoder_finish(struct tpd_kube_decoder *d)
{
	(void)d;
	return -ENOTSUP;
}

const struct tpd_kube_decoded *tpd_kube_decoder_state(const struct tpd_kube_decoder *d)
{
	(void)d;
	return NULL;
}

const char *tpd_kube_decoder_error(const struct tpd_kube_decoder *d)
{
	(void)d;
	return "the decoder is a stub";
}

void tpd_kube_decoder_free(struct tpd_kube_decoder *d)
{
	(void)d;
}

int tpd_kube_client_start(const struct tpd_kube_cfg *cfg,
			  const struct tpd_kube_sink *sink,
			  struct tpd_kube_client **out, char *err, size_t errlen)
{
	(void)cfg;
	(void)sink;
	*out = NULL;
	snprintf(err, errlen, "the Kubernetes client is not built in (stub)");
	return -ENOTSUP;
}

void tpd_kube_client_stats(struct tpd_kube_client *c, struct tpd_kube_stats *st)
{
	(void)c;
	*st = (struct tpd_kube_stats){};
}

void tpd_kube_client_stop(struct tpd_kube_client *c)
{
	(void)c;
}
