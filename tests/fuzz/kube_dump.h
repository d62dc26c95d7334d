/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Decoded Kubernetes objects as text, one line an object with every
 * field, for comparing two decodes of one document (whole, and split at
 * other places) in tests/test_kube_decode.c and the fuzz target.
 */
#ifndef TAILPLANE_TESTS_KUBE_DUMP_H
#define TAILPLANE_TESTS_KUBE_DUMP_H

#include <stdio.h>

#include "addr.h"
#include "kube.h"

static inline void kd_dump_addr(FILE *f, const struct tp_addr *a)
{
	char buf[TP_ADDR_STRLEN];

	fprintf(f, " %s", tp_addr_format(a, buf, sizeof(buf)));
}

static inline void kd_dump_labels(FILE *f, const char *what,
				  const struct tpd_kube_label *l, size_t n)
{
	size_t i;

	fprintf(f, " %s{", what);
	for (i = 0; i < n; i++)
		fprintf(f, "%s%s=%s", i ? "," : "", l[i].key, l[i].value);
	fputc('}', f);
}

static inline void kd_dump_sel(FILE *f, const char *what,
			       const struct tpd_kube_selector *s)
{
	size_t i, j;

	if (!s->present)
		return;
	fprintf(f, " %s(", what);
	kd_dump_labels(f, "match", s->match, s->n_match);
	for (i = 0; i < s->n_exprs; i++) {
		fprintf(f, " expr %s op%d [", s->exprs[i].key,
			(int)s->exprs[i].op);
		for (j = 0; j < s->exprs[i].n_values; j++)
			fprintf(f, "%s%s", j ? "," : "", s->exprs[i].values[j]);
		fputc(']', f);
	}
	fputc(')', f);
}

static inline void kd_dump_rules(FILE *f, const char *what,
				 const struct tpd_kube_np_rule *r, size_t n)
{
	char buf[TP_PREFIX_STRLEN];
	size_t i, j, k;

	for (i = 0; i < n; i++) {
		fprintf(f, " %s[%zu](peers%s", what, i,
			r[i].peers_present ? "" : " any");
		for (j = 0; j < r[i].n_peers; j++) {
			const struct tpd_kube_np_peer *p = &r[i].peers[j];

			fputs(" <", f);
			if (p->has_cidr)
				fprintf(f, "cidr %s",
					tp_prefix_format(&p->cidr, p->cidr_plen,
							 buf, sizeof(buf)));
			for (k = 0; k < p->n_except; k++)
				fprintf(f, " except %s",
					tp_prefix_format(&p->except[k],
							 p->except_plen[k], buf,
							 sizeof(buf)));
			kd_dump_sel(f, "pods", &p->pods);
			kd_dump_sel(f, "ns", &p->namespaces);
			fputc('>', f);
		}
		fputs(" ports", f);
		for (j = 0; j < r[i].n_ports; j++)
			fprintf(f, " %u/%u-%u/%s", r[i].ports[j].proto,
				r[i].ports[j].port, r[i].ports[j].end_port,
				r[i].ports[j].name ? r[i].ports[j].name : "-");
		fputc(')', f);
	}
}

static inline void kd_dump_svc(FILE *f, const struct tpd_kube_service *s)
{
	size_t i;

	fprintf(f, " type%d headless%d aff%d/%u itp%d etp%d ips", (int)s->type,
		s->headless, s->affinity_client_ip, s->affinity_timeout,
		s->internal_local, s->external_local);
	for (i = 0; i < s->n_cluster_ips; i++)
		kd_dump_addr(f, &s->cluster_ips[i]);
	fputs(" lb", f);
	for (i = 0; i < s->n_lb_ips; i++)
		kd_dump_addr(f, &s->lb_ips[i]);
	for (i = 0; i < s->n_ports; i++)
		fprintf(f, " port(%s %u %u %u %s %u)", s->ports[i].name,
			s->ports[i].proto, s->ports[i].port,
			s->ports[i].target_port,
			s->ports[i].target_name ? s->ports[i].target_name : "-",
			s->ports[i].node_port);
}

static inline void kd_dump_slice(FILE *f, const struct tpd_kube_slice *s)
{
	size_t i, j;

	fprintf(f, " svc %s at%d", s->service ? s->service : "-",
		(int)s->addr_type);
	for (i = 0; i < s->n_ports; i++)
		fprintf(f, " port(%s %u %u)", s->ports[i].name,
			s->ports[i].proto, s->ports[i].port);
	for (i = 0; i < s->n_endpoints; i++) {
		const struct tpd_kube_endpoint *e = &s->endpoints[i];

		fprintf(f, " ep(r%d s%d t%d %s", e->ready, e->serving,
			e->terminating, e->node_name ? e->node_name : "-");
		for (j = 0; j < e->n_addrs; j++)
			kd_dump_addr(f, &e->addrs[j]);
		fputc(')', f);
	}
}

static inline void kd_dump_pod(FILE *f, const struct tpd_kube_pod *p)
{
	size_t i;

	fprintf(f, " node %s hostnet%d done%d ips",
		p->node_name ? p->node_name : "-", p->host_network,
		p->phase_done);
	for (i = 0; i < p->n_ips; i++)
		kd_dump_addr(f, &p->ips[i]);
	for (i = 0; i < p->n_ports; i++)
		fprintf(f, " port(%s %u %u)", p->ports[i].name,
			p->ports[i].proto, p->ports[i].port);
}

/* One line for @o delivered with @ev. */
static inline void kd_dump_object(FILE *f, int ev,
				  const struct tpd_kube_object *o)
{
	const struct tpd_kube_meta *m = &o->meta;

	fprintf(f, "ev%d kind%d %s/%s uid=%s rv=%s del%d ann(%s,%s)", ev,
		(int)o->kind, m->ns, m->name, m->uid, m->resource_version,
		m->deleting, m->ann_expose ? m->ann_expose : "-",
		m->ann_tailnet_addr ? m->ann_tailnet_addr : "-");
	kd_dump_labels(f, "labels", m->labels, m->n_labels);
	switch (o->kind) {
	case TPD_KUBE_SERVICE:
		kd_dump_svc(f, &o->svc);
		break;
	case TPD_KUBE_ENDPOINTSLICE:
		kd_dump_slice(f, &o->slice);
		break;
	case TPD_KUBE_POD:
		kd_dump_pod(f, &o->pod);
		break;
	case TPD_KUBE_NETPOL:
		fprintf(f, " types i%d e%d", o->np.ingress_type,
			o->np.egress_type);
		kd_dump_sel(f, "podsel", &o->np.pod_selector);
		kd_dump_rules(f, "in", o->np.ingress, o->np.n_ingress);
		kd_dump_rules(f, "eg", o->np.egress, o->np.n_egress);
		break;
	default:
		break;
	}
	fputc('\n', f);
}

#endif /* TAILPLANE_TESTS_KUBE_DUMP_H */
