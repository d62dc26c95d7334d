// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the Kubernetes decoder (loader/kube_decode.c) on
 * real-shaped documents (tests/fixtures/kube/: list pages, watch streams,
 * a Status), each fed whole, split at every byte and byte by byte; bad
 * input (truncated, wrong types, bounds, bad addresses); and its speed on
 * a generated 100,000-endpoint list (printed, never asserted).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "addr.h"
#include "fixture.h"
#include "fuzz/kube_dump.h"
#include "kube.h"
#include "log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a sink that keeps what it gets ------------------------------------- */

struct got {
	struct tpd_kube_object *o[64];
	enum tpd_kube_event ev[64];
	size_t n;
	unsigned long total; /* all objects, kept or not */
	bool keep;	     /* keep the objects (else only dump them) */
	FILE *dump;
	char *text;
	size_t text_len;
};

static void got_object(void *ctx, enum tpd_kube_event ev,
		       struct tpd_kube_object *o)
{
	struct got *g = ctx;

	g->total++;
	if (g->dump)
		kd_dump_object(g->dump, ev, o);
	if (g->keep && g->n < ARRAY_SIZE(g->o)) {
		g->ev[g->n] = ev;
		g->o[g->n++] = o;
		return;
	}
	tpd_kube_object_free(o);
}

static void got_init(struct got *g, bool keep)
{
	memset(g, 0, sizeof(*g));
	g->keep = keep;
	g->dump = open_memstream(&g->text, &g->text_len);
	assert_non_null(g->dump);
}

static void got_free(struct got *g)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		tpd_kube_object_free(g->o[i]);
	if (g->dump)
		fclose(g->dump);
	free(g->text);
	memset(g, 0, sizeof(*g));
}

/* The dump so far (the stream flushed). */
static const char *got_text(struct got *g)
{
	fflush(g->dump);
	return g->text ? g->text : "";
}

/*
 * Decode @doc in pieces: cut at @cut1 (0: none) and then every @step
 * bytes (0: no more cuts).  Returns feed's or finish's result; the decoder
 * in *@out when @out, else freed.
 */
static int decode(enum tpd_kube_kind kind, enum tpd_kube_doc type,
		  const char *doc, size_t len, size_t cut1, size_t step,
		  struct got *g, struct tpd_kube_decoder **out)
{
	struct tpd_kube_sink sink = { .object = got_object, .ctx = g };
	struct tpd_kube_decoder *d = tpd_kube_decoder_new(kind, type, &sink);
	size_t off = 0, n;
	int ret = 0;

	assert_non_null(d);
	while (off < len && !ret) {
		if (off == 0 && cut1)
			n = cut1;
		else
			n = step ? step : len - off;
		if (n > len - off)
			n = len - off;
		ret = tpd_kube_decoder_feed(d, doc + off, n);
		off += n;
	}
	if (!ret)
		ret = tpd_kube_decoder_finish(d);
	if (out)
		*out = d;
	else
		tpd_kube_decoder_free(d);
	return ret;
}

static struct tpd_kube_decoder *decode_fixture(const char *name,
					       enum tpd_kube_kind kind,
					       enum tpd_kube_doc type,
					       struct got *g)
{
	struct tpd_kube_decoder *d;
	size_t len;
	char *doc = read_fixture(name, &len);

	got_init(g, true);
	assert_int_equal(decode(kind, type, doc, len, 0, 0, g, &d), 0);
	free(doc);
	return d;
}

static void assert_addr(const struct tp_addr *a, const char *want)
{
	char buf[TP_ADDR_STRLEN];

	assert_string_equal(tp_addr_format(a, buf, sizeof(buf)), want);
}

static void assert_label(const struct tpd_kube_label *l, const char *k,
			 const char *v)
{
	assert_string_equal(l->key, k);
	assert_string_equal(l->value, v);
}

/* ---- lists ------------------------------------------------------------------ */

static void test_services_page1(void **state)
{
	struct got g;
	struct tpd_kube_decoder *d =
		decode_fixture("kube/services-page1.json", TPD_KUBE_SERVICE,
			       TPD_KUBE_DOC_LIST, &g);
	const struct tpd_kube_decoded *st = tpd_kube_decoder_state(d);
	const struct tpd_kube_service *s;

	assert_string_equal(st->resource_version, "1300");
	assert_string_equal(
		st->continue_token,
		"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTMwMCwic3RhcnQiOiJ3ZWIvZXh0ZXJuYWxcdTAwMDAifQ==/+");
	assert_int_equal(st->error_code, 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(st->objects, 4);

	/* kubernetes: ClusterIP, one port to a numeric target */
	assert_int_equal(g.ev[0], TPD_KUBE_EV_ADDED);
	assert_string_equal(g.o[0]->meta.ns, "default");
	assert_string_equal(g.o[0]->meta.name, "kubernetes");
	assert_string_equal(g.o[0]->meta.uid,
			    "6f1c4f9e-0001-4a59-9b0c-0d5d1c2b0001");
	assert_string_equal(g.o[0]->meta.resource_version, "190");
	s = &g.o[0]->svc;
	assert_int_equal(s->type, TPD_KUBE_SVC_CLUSTERIP);
	assert_int_equal(s->n_cluster_ips, 1);
	assert_addr(&s->cluster_ips[0], "198.19.0.1");
	assert_int_equal(s->n_ports, 1);
	assert_string_equal(s->ports[0].name, "https");
	assert_int_equal(s->ports[0].proto, IPPROTO_TCP);
	assert_int_equal(s->ports[0].port, 443);
	assert_int_equal(s->ports[0].target_port, 6443);
	assert_null(s->ports[0].target_name);
	assert_false(s->affinity_client_ip);
	assert_int_equal(s->affinity_timeout, 10800);

	/* frontend: dual-stack, named target, ClientIP 600 s, internal Local */
	s = &g.o[1]->svc;
	assert_int_equal(g.o[1]->meta.n_labels, 2);
	assert_label(&g.o[1]->meta.labels[0], "app", "frontend");
	assert_label(&g.o[1]->meta.labels[1], "tier", "web");
	assert_string_equal(g.o[1]->meta.ann_expose, "true");
	assert_null(g.o[1]->meta.ann_tailnet_addr);
	assert_int_equal(s->n_cluster_ips, 2);
	assert_addr(&s->cluster_ips[0], "198.19.0.10");
	assert_addr(&s->cluster_ips[1], "fd00:198:19::a");
	assert_int_equal(s->n_ports, 2);
	assert_string_equal(s->ports[0].target_name, "http");
	assert_int_equal(s->ports[0].target_port, 0);
	assert_int_equal(s->ports[1].proto, IPPROTO_UDP);
	assert_int_equal(s->ports[1].port, 53);
	assert_int_equal(s->ports[1].target_port, 5353);
	assert_true(s->affinity_client_ip);
	assert_int_equal(s->affinity_timeout, 600);
	assert_true(s->internal_local);
	assert_false(s->external_local);

	/* headless: no address */
	s = &g.o[2]->svc;
	assert_true(s->headless);
	assert_int_equal(s->n_cluster_ips, 0);

	/* ExternalName */
	s = &g.o[3]->svc;
	assert_int_equal(s->type, TPD_KUBE_SVC_EXTERNALNAME);
	assert_int_equal(s->n_cluster_ips, 0);
	assert_int_equal(s->n_ports, 0);

	tpd_kube_decoder_free(d);
	got_free(&g);
}

static void test_services_page2(void **state)
{
	struct got g;
	struct tpd_kube_decoder *d =
		decode_fixture("kube/services-page2.json", TPD_KUBE_SERVICE,
			       TPD_KUBE_DOC_LIST, &g);
	const struct tpd_kube_decoded *st = tpd_kube_decoder_state(d);
	const struct tpd_kube_service *s;

	/* metadata after items: still read */
	assert_string_equal(st->resource_version, "1300");
	assert_string_equal(st->continue_token, "");
	assert_int_equal(g.n, 2);

	/* LoadBalancer: ingress IPs of both families, a hostname skipped */
	s = &g.o[0]->svc;
	assert_int_equal(s->type, TPD_KUBE_SVC_LOADBALANCER);
	assert_int_equal(s->n_lb_ips, 2);
	assert_addr(&s->lb_ips[0], "203.0.113.7");
	assert_addr(&s->lb_ips[1], "2001:db8::7");
	assert_string_equal(s->ports[0].name, "");
	assert_int_equal(s->ports[0].node_port, 31443);
	assert_int_equal(s->ports[0].target_port, 8443);
	assert_true(s->affinity_client_ip);
	assert_int_equal(s->affinity_timeout,
			 10800); /* ClientIP without a config */
	assert_true(s->external_local);
	assert_false(s->internal_local);

	/* NodePort with clusterIP only (no clusterIPs), SCTP */
	s = &g.o[1]->svc;
	assert_int_equal(s->type, TPD_KUBE_SVC_NODEPORT);
	assert_int_equal(s->n_cluster_ips, 1);
	assert_addr(&s->cluster_ips[0], "198.19.0.21");
	assert_int_equal(s->ports[0].proto, IPPROTO_SCTP);
	assert_int_equal(s->ports[0].node_port, 30999);
	assert_int_equal(g.o[1]->meta.n_labels, 0);

	tpd_kube_decoder_free(d);
	got_free(&g);
}

/* The 27 endpoints of frontend-abc12: ready, serving, terminating each
 * true, false, absent, in that order (the fixture's generator). */
static void test_endpointslices(void **state)
{
	struct got g;
	struct tpd_kube_decoder *d =
		decode_fixture("kube/endpointslices.json",
			       TPD_KUBE_ENDPOINTSLICE, TPD_KUBE_DOC_LIST, &g);
	const int vals[3] = { 1, 0, -1 }; /* -1: absent */
	const struct tpd_kube_slice *sl;
	size_t i;
	char ip[32];

	assert_int_equal(g.n, 4);
	sl = &g.o[0]->slice;
	assert_string_equal(sl->service, "frontend");
	assert_int_equal(sl->addr_type, TPD_KUBE_ADDR_IPV4);
	assert_int_equal(sl->n_ports, 2);
	assert_string_equal(sl->ports[0].name, "http");
	assert_int_equal(sl->ports[0].port, 8080);
	assert_int_equal(sl->ports[1].proto, IPPROTO_UDP);
	assert_int_equal(sl->n_endpoints, 27);
	for (i = 0; i < 27; i++) {
		const struct tpd_kube_endpoint *e = &sl->endpoints[i];
		int r = vals[i / 9], s = vals[(i / 3) % 3], t = vals[i % 3];

		assert_int_equal(e->ready, r != 0);	  /* absent: true */
		assert_int_equal(e->serving, s != 0);	  /* absent: true */
		assert_int_equal(e->terminating, t == 1); /* absent: false */
		assert_int_equal(e->n_addrs, 1);
		snprintf(ip, sizeof(ip), "198.18.1.%zu", i + 1);
		assert_addr(&e->addrs[0], ip);
		snprintf(ip, sizeof(ip), "node-%zu", (i + 1) % 3);
		assert_string_equal(e->node_name, ip);
	}

	sl = &g.o[1]->slice;
	assert_int_equal(sl->addr_type, TPD_KUBE_ADDR_IPV6);
	assert_int_equal(sl->n_endpoints, 2);
	assert_addr(&sl->endpoints[0].addrs[0], "fd00:198:18::1:1");
	assert_false(sl->endpoints[1].ready);
	assert_true(sl->endpoints[1].serving);
	assert_true(sl->endpoints[1].terminating);
	assert_null(sl->endpoints[1].node_name);

	/* FQDN: addressType after the endpoints; host names are not kept */
	sl = &g.o[2]->slice;
	assert_int_equal(sl->addr_type, TPD_KUBE_ADDR_FQDN);
	assert_int_equal(sl->n_endpoints, 1);
	assert_int_equal(sl->endpoints[0].n_addrs, 0);
	assert_string_equal(sl->ports[0].name, "");

	/* no service label, endpoints null, a nil port */
	sl = &g.o[3]->slice;
	assert_null(sl->service);
	assert_int_equal(sl->n_endpoints, 0);
	assert_int_equal(sl->n_ports, 1);
	assert_int_equal(sl->ports[0].port, 0);

	tpd_kube_decoder_free(d);
	got_free(&g);
}

static void test_pods(void **state)
{
	struct got g;
	struct tpd_kube_decoder *d = decode_fixture(
		"kube/pods.json", TPD_KUBE_POD, TPD_KUBE_DOC_LIST, &g);
	const struct tpd_kube_pod *p;

	assert_int_equal(g.n, 4);
	p = &g.o[0]->pod;
	assert_string_equal(p->node_name, "node-1");
	assert_false(p->host_network);
	assert_false(p->phase_done);
	assert_int_equal(p->n_ips, 2);
	assert_addr(&p->ips[0], "198.18.1.10");
	assert_addr(&p->ips[1], "fd00:198:18::1:a");
	/* named ports of both containers; the unnamed 9090 is not kept */
	assert_int_equal(p->n_ports, 3);
	assert_string_equal(p->ports[0].name, "http");
	assert_int_equal(p->ports[0].port, 8080);
	assert_string_equal(p->ports[1].name, "dns");
	assert_int_equal(p->ports[1].proto, IPPROTO_UDP);
	assert_string_equal(p->ports[2].name, "admin");
	assert_int_equal(p->ports[2].proto, IPPROTO_TCP);
	assert_string_equal(g.o[0]->meta.ann_tailnet_addr, "100.64.5.6");
	assert_int_equal(g.o[0]->meta.n_labels, 3);
	assert_label(&g.o[0]->meta.labels[1], "pod-template-hash", "7d9f");

	assert_true(g.o[1]->pod.host_network);
	p = &g.o[2]->pod;
	assert_true(p->phase_done);
	assert_int_equal(p->n_ips, 1); /* podIP alone */
	assert_addr(&p->ips[0], "198.18.1.11");
	p = &g.o[3]->pod;
	assert_true(g.o[3]->meta.deleting);
	assert_null(p->node_name);
	assert_int_equal(p->n_ips, 0);

	tpd_kube_decoder_free(d);
	got_free(&g);
}

static void test_namespaces(void **state)
{
	struct got g;
	struct tpd_kube_decoder *d =
		decode_fixture("kube/namespaces.json", TPD_KUBE_NAMESPACE,
			       TPD_KUBE_DOC_LIST, &g);

	assert_int_equal(g.n, 2);
	assert_string_equal(g.o[1]->meta.ns, "");
	assert_string_equal(g.o[1]->meta.name, "web");
	assert_int_equal(g.o[1]->meta.n_labels, 3);
	assert_label(&g.o[1]->meta.labels[0], "env", "prod");
	assert_label(&g.o[1]->meta.labels[1], "kubernetes.io/metadata.name",
		     "web");
	assert_label(&g.o[1]->meta.labels[2], "team", "web");
	tpd_kube_decoder_free(d);
	got_free(&g);
}

static void assert_prefix(const struct tp_addr *a, unsigned int plen,
			  const char *want)
{
	char buf[TP_PREFIX_STRLEN];

	assert_string_equal(tp_prefix_format(a, plen, buf, sizeof(buf)), want);
}

static void test_netpols(void **state)
{
	struct got g;
	struct tpd_kube_decoder *d =
		decode_fixture("kube/networkpolicies.json", TPD_KUBE_NETPOL,
			       TPD_KUBE_DOC_LIST, &g);
	const struct tpd_kube_netpol *np;
	const struct tpd_kube_np_rule *r;
	const struct tpd_kube_np_peer *p;

	assert_int_equal(g.n, 4);

	/* allow-tailnet: ipBlock with except, named port, endPort, default TCP */
	np = &g.o[0]->np;
	assert_true(np->pod_selector.present);
	assert_int_equal(np->pod_selector.n_match, 2);
	assert_label(&np->pod_selector.match[0], "app", "frontend");
	assert_true(np->ingress_type);
	assert_false(np->egress_type);
	assert_int_equal(np->n_ingress, 1);
	r = &np->ingress[0];
	assert_true(r->peers_present);
	assert_int_equal(r->n_peers, 2);
	p = &r->peers[0];
	assert_true(p->has_cidr);
	assert_prefix(&p->cidr, p->cidr_plen, "100.64.0.0/10");
	assert_int_equal(p->cidr_plen, 96 + 10);
	assert_int_equal(p->n_except, 2);
	assert_prefix(&p->except[0], p->except_plen[0], "100.64.1.0/24");
	assert_prefix(&p->except[1], p->except_plen[1], "100.64.2.1/32");
	assert_false(p->pods.present);
	assert_false(p->namespaces.present);
	assert_prefix(&r->peers[1].cidr, r->peers[1].cidr_plen,
		      "fd7a:115c:a1e0::/48");
	assert_int_equal(r->n_ports, 4);
	assert_int_equal(r->ports[0].port, 80);
	assert_null(r->ports[0].name);
	assert_string_equal(r->ports[1].name, "http");
	assert_int_equal(r->ports[1].port, 0);
	assert_int_equal(r->ports[2].proto, IPPROTO_UDP);
	assert_int_equal(r->ports[2].port, 5000);
	assert_int_equal(r->ports[2].end_port, 5010);
	assert_int_equal(r->ports[3].proto, IPPROTO_TCP);
	assert_int_equal(r->ports[3].port, 443);

	/* from-monitoring: selectors, an empty rule (from anywhere), egress */
	np = &g.o[1]->np;
	assert_true(np->pod_selector.present);
	assert_int_equal(np->pod_selector.n_match, 0);
	assert_true(np->ingress_type);
	assert_true(np->egress_type);
	assert_int_equal(np->n_ingress, 2);
	p = &np->ingress[0].peers[0];
	assert_false(p->has_cidr);
	assert_true(p->namespaces.present);
	assert_label(&p->namespaces.match[0], "team", "ops");
	assert_true(p->pods.present);
	assert_int_equal(p->pods.n_exprs, 2);
	assert_string_equal(p->pods.exprs[0].key, "app");
	assert_int_equal(p->pods.exprs[0].op, TPD_KUBE_SEL_IN);
	assert_int_equal(p->pods.exprs[0].n_values, 2);
	assert_string_equal(p->pods.exprs[0].values[1], "grafana");
	assert_int_equal(p->pods.exprs[1].op, TPD_KUBE_SEL_NOT_EXISTS);
	assert_int_equal(p->pods.exprs[1].n_values, 0);
	assert_false(np->ingress[0].peers[1].namespaces.present);
	assert_false(np->ingress[1].peers_present);
	assert_int_equal(np->ingress[1].n_peers, 0);
	assert_int_equal(np->ingress[1].n_ports, 0);
	assert_int_equal(np->n_egress, 1);
	/* host bits are cleared, as Go's ParseCIDR does */
	assert_prefix(&np->egress[0].peers[0].cidr,
		      np->egress[0].peers[0].cidr_plen, "10.0.0.0/8");

	/* default-deny: no policyTypes, no rules: Ingress only */
	np = &g.o[2]->np;
	assert_true(np->ingress_type);
	assert_false(np->egress_type);
	assert_int_equal(np->n_ingress, 0);
	assert_int_equal(np->pod_selector.exprs[0].op, TPD_KUBE_SEL_NOT_IN);
	assert_int_equal(np->pod_selector.exprs[1].op, TPD_KUBE_SEL_EXISTS);

	/* egress rules and no policyTypes: Ingress and Egress */
	np = &g.o[3]->np;
	assert_true(np->ingress_type);
	assert_true(np->egress_type);

	tpd_kube_decoder_free(d);
	got_free(&g);
}

static void test_status_document(void **state)
{
	struct got g;
	struct tpd_kube_decoder *d =
		decode_fixture("kube/status-410.json", TPD_KUBE_SERVICE,
			       TPD_KUBE_DOC_LIST, &g);
	const struct tpd_kube_decoded *st = tpd_kube_decoder_state(d);

	assert_int_equal(g.n, 0);
	assert_int_equal(st->error_code, 410);
	assert_non_null(strstr(st->error_msg, "continue parameter is too old"));
	tpd_kube_decoder_free(d);
	got_free(&g);
}

/* ---- watch streams ---------------------------------------------------------- */

static void test_watch_stream(void **state)
{
	struct got g;
	struct tpd_kube_decoder *d =
		decode_fixture("kube/watch-services.jsonl", TPD_KUBE_SERVICE,
			       TPD_KUBE_DOC_WATCH, &g);
	const struct tpd_kube_decoded *st = tpd_kube_decoder_state(d);

	/* ADDED, MODIFIED, (BOOKMARK), DELETED, (BOOKMARK) */
	assert_int_equal(g.n, 3);
	assert_int_equal(g.ev[0], TPD_KUBE_EV_ADDED);
	assert_int_equal(g.ev[1], TPD_KUBE_EV_MODIFIED);
	assert_int_equal(g.ev[2], TPD_KUBE_EV_DELETED);
	assert_string_equal(g.o[1]->meta.resource_version, "1310");
	assert_int_equal(g.o[1]->svc.n_ports, 1);
	assert_string_equal(g.o[2]->meta.name, "frontend");
	/* the last bookmark's version */
	assert_string_equal(st->resource_version, "1330");
	assert_int_equal(st->error_code, 0);
	tpd_kube_decoder_free(d);
	got_free(&g);
}

static void test_watch_error_410(void **state)
{
	struct got g;
	struct tpd_kube_decoder *d =
		decode_fixture("kube/watch-error-410.jsonl", TPD_KUBE_SERVICE,
			       TPD_KUBE_DOC_WATCH, &g);
	const struct tpd_kube_decoded *st = tpd_kube_decoder_state(d);

	/* the event before the ERROR, none after it */
	assert_int_equal(g.n, 1);
	assert_int_equal(st->error_code, 410);
	assert_string_equal(st->error_msg,
			    "too old resource version: 1300 (1400)");
	assert_string_equal(st->resource_version, "1310");
	/* the rest of the stream is ignored */
	assert_int_equal(tpd_kube_decoder_feed(d, "{\"type\":\"ADDED\"", 15),
			 0);
	assert_int_equal(tpd_kube_decoder_finish(d), 0);
	assert_int_equal(g.n, 1);
	tpd_kube_decoder_free(d);
	got_free(&g);
}

/* An ERROR event without a code still reports an error (and a re-list). */
static void test_watch_error_no_code(void **state)
{
	static const char doc[] =
		"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\"}}\n";
	struct tpd_kube_decoder *d;
	struct got g;

	got_init(&g, true);
	assert_int_equal(decode(TPD_KUBE_POD, TPD_KUBE_DOC_WATCH, doc,
				strlen(doc), 0, 0, &g, &d),
			 0);
	assert_int_equal(tpd_kube_decoder_state(d)->error_code, 500);
	tpd_kube_decoder_free(d);
	got_free(&g);
}

/* ---- every split ------------------------------------------------------------- */

static const struct {
	const char *name;
	enum tpd_kube_kind kind;
	enum tpd_kube_doc doc;
} fixtures[] = {
	{ "kube/services-page1.json", TPD_KUBE_SERVICE, TPD_KUBE_DOC_LIST },
	{ "kube/services-page2.json", TPD_KUBE_SERVICE, TPD_KUBE_DOC_LIST },
	{ "kube/endpointslices.json", TPD_KUBE_ENDPOINTSLICE,
	  TPD_KUBE_DOC_LIST },
	{ "kube/pods.json", TPD_KUBE_POD, TPD_KUBE_DOC_LIST },
	{ "kube/namespaces.json", TPD_KUBE_NAMESPACE, TPD_KUBE_DOC_LIST },
	{ "kube/networkpolicies.json", TPD_KUBE_NETPOL, TPD_KUBE_DOC_LIST },
	{ "kube/status-410.json", TPD_KUBE_SERVICE, TPD_KUBE_DOC_LIST },
	{ "kube/watch-services.jsonl", TPD_KUBE_SERVICE, TPD_KUBE_DOC_WATCH },
	{ "kube/watch-error-410.jsonl", TPD_KUBE_SERVICE, TPD_KUBE_DOC_WATCH },
};

/* The dump and the decoder's state of one decode, for comparison. */
static char *decode_dump(size_t f, const char *doc, size_t len, size_t cut1,
			 size_t step)
{
	struct tpd_kube_decoder *d;
	const struct tpd_kube_decoded *st;
	struct got g;
	char *out;

	got_init(&g, false);
	assert_int_equal(decode(fixtures[f].kind, fixtures[f].doc, doc, len,
				cut1, step, &g, &d),
			 0);
	st = tpd_kube_decoder_state(d);
	fprintf(g.dump, "rv=%s cont=%s err=%d %s\n", st->resource_version,
		st->continue_token, st->error_code, st->error_msg);
	out = strdup(got_text(&g));
	assert_non_null(out);
	tpd_kube_decoder_free(d);
	got_free(&g);
	return out;
}

static void test_every_split(void **state)
{
	size_t f, cut, len;

	for (f = 0; f < ARRAY_SIZE(fixtures); f++) {
		char *doc = read_fixture(fixtures[f].name, &len);
		char *whole = decode_dump(f, doc, len, 0, 0), *other;

		assert_true(strlen(whole) > 20);
		for (cut = 1; cut < len; cut++) {
			other = decode_dump(f, doc, len, cut, 0);
			if (strcmp(whole, other))
				fail_msg("%s cut at %zu:\n%s\nwhole:\n%s",
					 fixtures[f].name, cut, other, whole);
			free(other);
		}
		other = decode_dump(f, doc, len, 0, 1);
		assert_string_equal(whole, other);
		free(other);
		other = decode_dump(f, doc, len, 0, 7);
		assert_string_equal(whole, other);
		free(other);
		free(whole);
		free(doc);
	}
}

/* ---- bad input -------------------------------------------------------------- */

/* Decode @doc (a list of @kind unless @watch): the result and the error text. */
static int decode_bad(enum tpd_kube_kind kind, bool watch, const char *doc,
		      struct got *g, char *err, size_t errlen,
		      unsigned long *skipped)
{
	struct tpd_kube_decoder *d;
	int ret;

	got_init(g, false);
	ret = decode(kind, watch ? TPD_KUBE_DOC_WATCH : TPD_KUBE_DOC_LIST, doc,
		     strlen(doc), 0, 0, g, &d);
	snprintf(err, errlen, "%s", tpd_kube_decoder_error(d));
	if (skipped)
		*skipped = tpd_kube_decoder_state(d)->skipped;
	tpd_kube_decoder_free(d);
	return ret;
}

static void test_truncated(void **state)
{
	size_t f, cut, len;
	struct got g;

	for (f = 0; f < ARRAY_SIZE(fixtures); f++) {
		char *doc = read_fixture(fixtures[f].name, &len);
		struct tpd_kube_decoder *d;
		int ret;

		for (cut = 0; cut + 1 < len; cut += 13) {
			got_init(&g, false);
			ret = decode(fixtures[f].kind, fixtures[f].doc, doc,
				     cut, 0, 0, &g, &d);
			/* a watch stream may end between events only */
			if (fixtures[f].doc == TPD_KUBE_DOC_LIST || ret)
				assert_int_equal(ret, -EINVAL);
			if (ret)
				assert_non_null(strstr(
					tpd_kube_decoder_error(d), "JSON"));
			tpd_kube_decoder_free(d);
			got_free(&g);
		}
		free(doc);
	}
	/* a watch stream cut in the middle of an event, and between two */
	got_init(&g, false);
	assert_int_equal(decode(TPD_KUBE_POD, TPD_KUBE_DOC_WATCH,
				"{\"type\":\"ADD", 12, 0, 0, &g, NULL),
			 -EINVAL);
	got_free(&g);
	got_init(&g, false);
	assert_int_equal(decode(TPD_KUBE_POD, TPD_KUBE_DOC_WATCH, "\n \r\n", 4,
				0, 0, &g, NULL),
			 0);
	got_free(&g);
	got_init(&g, false);
	assert_int_equal(
		decode(TPD_KUBE_POD, TPD_KUBE_DOC_WATCH, "", 0, 0, 0, &g, NULL),
		0);
	got_free(&g);
}

static void test_bad_documents(void **state)
{
	static const struct {
		bool watch;
		const char *doc;
		const char *err;
	} cases[] = {
		{ false, "[1,2]", "expected an object" },
		{ false, "{\"items\":{}}", "expected an array" },
		{ false, "{\"items\":[1]}", "expected an object" },
		{ false, "{\"metadata\":{\"resourceVersion\":5}}",
		  "expected a string" },
		{ false, "{\"items\":[]} {}", "JSON" },
		{ false, "{\"items\":[]}", NULL },
		{ false, "nul", "JSON" },
		{ false, "null", "not null" },
		{ true, "null\n", "not null" },
		{ true, "{\"object\":{\"metadata\":{\"name\":\"a\"}}}",
		  "without a type" },
		{ true, "{\"type\":\"ADDED\"}", "without an object" },
		{ true, "{\"type\":\"CHANGED\",\"object\":{}}",
		  "unknown type" },
		{ true, "{\"type\":\"ADDED\",\"object\":[]}",
		  "expected an object" },
		{ true, "[]", "expected an object" },
		{ true, "{\"type\":1}", "expected a string" },
		{ true,
		  "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}"
		  "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}",
		  NULL },
	};
	char err[512];
	struct got g;
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		ret = decode_bad(TPD_KUBE_NAMESPACE, cases[i].watch,
				 cases[i].doc, &g, err, sizeof(err), NULL);
		if (!cases[i].err) {
			assert_int_equal(ret, 0);
		} else {
			if (ret != -EINVAL || !strstr(err, cases[i].err))
				fail_msg("%s: %d \"%s\", want \"%s\"",
					 cases[i].doc, ret, err, cases[i].err);
		}
		got_free(&g);
	}
}

/* A list of @item, then a good object (of any kind but a slice, which
 * needs an addressType: @slice). */
static char *obj_list(const char *item, bool slice)
{
	char *doc;

	assert_true(
		asprintf(
			&doc,
			"{\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"9\"},"
			"\"items\":[%s,{\"metadata\":{\"name\":\"good\",\"namespace\":\"ns\"},"
			"\"spec\":{\"clusterIP\":\"198.19.0.2\"}%s}]}",
			item, slice ? ",\"addressType\":\"IPv4\"" : "") > 0);
	return doc;
}

static void test_bad_objects(void **state)
{
	static const struct {
		enum tpd_kube_kind kind;
		const char *item;
		const char *err;
	} cases[] = {
		{ TPD_KUBE_SERVICE,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"spec\":{\"clusterIPs\":[\"198.19.0.1\",\"198.19.0.300\"]}}",
		  "Service ns/bad: spec.clusterIPs[1]: \"198.19.0.300\" is not an IP address" },
		{ TPD_KUBE_SERVICE,
		  "{\"spec\":{\"ports\":\"80\"},\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"}}",
		  "Service ns/bad: spec.ports: expected an array" },
		{ TPD_KUBE_SERVICE,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"spec\":{\"ports\":[{\"port\":80},{\"port\":70000}]}}",
		  "Service ns/bad: spec.ports[1].port: 70000 is not an integer in 0..65535" },
		{ TPD_KUBE_SERVICE,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"spec\":{\"ports\":[{\"port\":80,\"protocol\":\"ICMP\"}]}}",
		  "spec.ports[0].protocol: unknown protocol \"ICMP\"" },
		{ TPD_KUBE_SERVICE,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"spec\":{\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":1.5}}}}",
		  "spec.sessionAffinityConfig.clientIP.timeoutSeconds: 1.5 is not an integer" },
		{ TPD_KUBE_SERVICE,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\",\"labels\":{\"a\":\"x\\u0000y\"}}}",
		  "metadata.labels.a: string holds a NUL" },
		{ TPD_KUBE_SERVICE, "{\"metadata\":{\"namespace\":\"ns\"}}",
		  "metadata.name: missing" },
		{ TPD_KUBE_SERVICE,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"spec\":{\"type\":\"Magic\"}}",
		  "spec.type: unknown type" },
		{ TPD_KUBE_ENDPOINTSLICE,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"endpoints\":[{\"addresses\":[\"198.18.0.1\"]},{\"addresses\":[\"not-an-ip\"]}],\"addressType\":\"IPv4\"}",
		  "EndpointSlice ns/bad: endpoints: endpoints[1].addresses[0]: \"not-an-ip\" is not an IP address" },
		{ TPD_KUBE_ENDPOINTSLICE,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"fd00::1\"]}]}",
		  "an IPv6 address in an IPv4 slice" },
		{ TPD_KUBE_ENDPOINTSLICE,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"endpoints\":[{\"conditions\":{\"ready\":\"yes\"}}],\"addressType\":\"IPv4\"}",
		  "endpoints[0].conditions.ready: expected a boolean" },
		{ TPD_KUBE_ENDPOINTSLICE,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"}}",
		  "addressType: missing" },
		{ TPD_KUBE_POD,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"status\":{\"podIPs\":[{\"ip\":\"1.2.3\"}]}}",
		  "Pod ns/bad: status.podIPs[0].ip: \"1.2.3\" is not an IP address" },
		{ TPD_KUBE_NETPOL,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"spec\":{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"100.64.0.0/33\"}}]}]}}",
		  "spec.ingress[0].from[0].ipBlock.cidr: \"100.64.0.0/33\" is not a CIDR" },
		{ TPD_KUBE_NETPOL,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"spec\":{\"podSelector\":{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Near\"}]}}}",
		  "spec.podSelector.matchExpressions[0].operator: unknown operator \"Near\"" },
		{ TPD_KUBE_NETPOL,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"spec\":{\"podSelector\":{\"matchExpressions\":[{\"operator\":\"Exists\"}]}}}",
		  "spec.podSelector.matchExpressions[0]: matchExpressions entry without a key" },
		{ TPD_KUBE_NETPOL,
		  "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\"},\"spec\":{\"policyTypes\":[\"Sideways\"]}}",
		  "spec.policyTypes[0]: unknown policy type" },
	};
	unsigned long skipped;
	char err[512];
	struct got g;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *doc = obj_list(cases[i].item,
				     cases[i].kind == TPD_KUBE_ENDPOINTSLICE);

		/* the good object after the bad one still comes (a Service's
		 * fields read as another kind are skipped, so "good" parses) */
		assert_int_equal(decode_bad(cases[i].kind, false, doc, &g, err,
					    sizeof(err), &skipped),
				 0);
		if (skipped != 1 || !strstr(err, cases[i].err))
			fail_msg(
				"case %zu: skipped %lu, error \"%s\", want \"%s\"",
				i, skipped, err, cases[i].err);
		assert_int_equal(g.total, 1);
		got_free(&g);
		free(doc);
	}
}

/* A DELETED event is delivered even when a field is bad: its name is enough. */
static void test_bad_deleted_delivered(void **state)
{
	static const char doc[] =
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"resourceVersion\":\"5\"},\"spec\":{\"clusterIP\":\"x\"}}}\n"
		"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"resourceVersion\":\"6\"},\"spec\":{\"clusterIP\":\"x\"}}}\n";
	struct tpd_kube_decoder *d;
	struct got g;

	got_init(&g, true);
	assert_int_equal(decode(TPD_KUBE_SERVICE, TPD_KUBE_DOC_WATCH, doc,
				strlen(doc), 0, 0, &g, &d),
			 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ev[0], TPD_KUBE_EV_DELETED);
	assert_string_equal(g.o[0]->meta.name, "a");
	assert_int_equal(tpd_kube_decoder_state(d)->skipped, 1);
	assert_string_equal(tpd_kube_decoder_state(d)->resource_version, "6");
	tpd_kube_decoder_free(d);
	got_free(&g);
}

static void test_bounds(void **state)
{
	unsigned long skipped;
	char err[512], *big, *doc;
	struct got g;
	size_t i, off;

	/* a label value of 100,000 bytes */
	big = malloc(100001);
	assert_non_null(big);
	memset(big, 'x', 100000);
	big[100000] = '\0';
	assert_true(
		asprintf(
			&doc,
			"{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\",\"labels\":{\"k\":\"%s\"}}}",
			big) > 0);
	free(big);
	big = obj_list(doc, false);
	free(doc);
	assert_int_equal(decode_bad(TPD_KUBE_SERVICE, false, big, &g, err,
				    sizeof(err), &skipped),
			 0);
	assert_int_equal(skipped, 1);
	assert_non_null(strstr(
		err, "metadata.labels.k: string of 100000 bytes (max 4096)"));
	assert_int_equal(g.total, 1);
	got_free(&g);
	free(big);

	/* 20,000 endpoints in one slice */
	big = malloc(20000 * 40 + 256);
	assert_non_null(big);
	off = (size_t)sprintf(
		big,
		"{\"items\":[{\"metadata\":{\"name\":\"big\",\"namespace\":\"ns\"},"
		"\"addressType\":\"IPv4\",\"endpoints\":[");
	for (i = 0; i < 20000; i++)
		off += (size_t)sprintf(big + off,
				       "%s{\"addresses\":[\"10.%zu.%zu.1\"]}",
				       i ? "," : "", i / 256, i % 256);
	strcpy(big + off, "]}]}");
	assert_int_equal(decode_bad(TPD_KUBE_ENDPOINTSLICE, false, big, &g, err,
				    sizeof(err), &skipped),
			 0);
	assert_int_equal(skipped, 1);
	assert_non_null(strstr(
		err,
		"EndpointSlice ns/big: endpoints[10000]: more than 10000 endpoints"));
	got_free(&g);
	free(big);

	/* nested 1000 deep in a skipped field */
	big = malloc(4000);
	assert_non_null(big);
	off = (size_t)sprintf(big, "{\"items\":[{\"x\":");
	for (i = 0; i < 1000; i++)
		big[off++] = '[';
	for (i = 0; i < 1000; i++)
		big[off++] = ']';
	strcpy(big + off, "}]}");
	assert_int_equal(decode_bad(TPD_KUBE_SERVICE, false, big, &g, err,
				    sizeof(err), NULL),
			 -EINVAL);
	assert_non_null(strstr(err, "nested deeper than 256 levels"));
	got_free(&g);
	free(big);

	/* a continue token past its buffer: the document is refused */
	big = malloc(3000);
	assert_non_null(big);
	off = (size_t)sprintf(big, "{\"metadata\":{\"continue\":\"");
	memset(big + off, 'A', 2000);
	strcpy(big + off + 2000, "\"},\"items\":[]}");
	assert_int_equal(decode_bad(TPD_KUBE_SERVICE, false, big, &g, err,
				    sizeof(err), NULL),
			 -EINVAL);
	assert_non_null(strstr(err, "continue token too long"));
	got_free(&g);
	free(big);
}

/* Skipped subtrees of every shape, and duplicate keys (the last wins). */
static void test_skipping_and_duplicates(void **state)
{
	static const char doc[] =
		"{\"apiVersion\":\"v1\",\"items\":[{\"metadata\":{\"name\":\"a\",\"name\":\"b\","
		"\"labels\":{\"z\":\"1\",\"a\":\"2\",\"z\":\"3\"},\"managedFields\":[{\"f\":{\"g\":[1,{\"h\":null}]}}],"
		"\"annotations\":{\"other\":\"x\",\"tailplane.io/expose\":\"false\"}},"
		"\"spec\":{\"unknown\":{\"clusterIP\":\"x\"},\"clusterIP\":\"198.19.0.5\",\"ports\":null,"
		"\"selector\":{\"clusterIP\":[]}},\"status\":{\"conditions\":[[],{},true,false,1e5]}}]}";
	static const char doc2[] =
		"{\"items\":[{\"metadata\":{\"name\":\"a\"},\"spec\":{\"ports\":"
		"[{\"port\":80},{\"port\":81,\"targetPort\":\"web\"}]}}]}";
	struct tpd_kube_decoder *d;
	struct got g;

	got_init(&g, true);
	assert_int_equal(decode(TPD_KUBE_SERVICE, TPD_KUBE_DOC_LIST, doc,
				strlen(doc), 0, 0, &g, &d),
			 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.o[0]->meta.name, "b");
	assert_int_equal(g.o[0]->meta.n_labels, 2);
	assert_label(&g.o[0]->meta.labels[0], "a", "2");
	assert_label(&g.o[0]->meta.labels[1], "z", "3");
	assert_string_equal(g.o[0]->meta.ann_expose, "false");
	assert_int_equal(g.o[0]->svc.n_cluster_ips, 1);
	assert_int_equal(g.o[0]->svc.n_ports, 0);
	tpd_kube_decoder_free(d);
	got_free(&g);

	/* an absent targetPort is the port, as the API defaults it */
	got_init(&g, true);
	assert_int_equal(decode(TPD_KUBE_SERVICE, TPD_KUBE_DOC_LIST, doc2,
				strlen(doc2), 0, 0, &g, &d),
			 0);
	assert_int_equal(g.o[0]->svc.ports[0].target_port, 80);
	assert_int_equal(g.o[0]->svc.ports[1].target_port, 0);
	assert_string_equal(g.o[0]->svc.ports[1].target_name, "web");
	tpd_kube_decoder_free(d);
	got_free(&g);
}

/* ---- speed ------------------------------------------------------------------ */

/* An EndpointSlice list of @slices slices of @per endpoints, as the
 * endpointslice controller writes them (managedFields included). */
static char *gen_slices(size_t slices, size_t per, size_t *len)
{
	size_t cap = slices * (per * 330 + 2048) + 256, off = 0, s, e;
	char *doc = malloc(cap);

	assert_non_null(doc);
	off += (size_t)sprintf(
		doc + off,
		"{\"kind\":\"EndpointSliceList\",\"apiVersion\":\"discovery.k8s.io/v1\","
		"\"metadata\":{\"resourceVersion\":\"99999\"},\"items\":[");
	for (s = 0; s < slices; s++) {
		off += (size_t)sprintf(
			doc + off,
			"%s{\"metadata\":{\"name\":\"svc-%zu-x7k2p\",\"generateName\":\"svc-%zu-\","
			"\"namespace\":\"bench\",\"uid\":\"5e2f%08zu-0000-4000-8000-000000000000\","
			"\"resourceVersion\":\"%zu\",\"generation\":1,\"creationTimestamp\":\"2026-11-30T10:00:00Z\","
			"\"labels\":{\"endpointslice.kubernetes.io/managed-by\":\"endpointslice-controller.k8s.io\","
			"\"kubernetes.io/service-name\":\"svc-%zu\"},"
			"\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"name\":\"svc-%zu\","
			"\"uid\":\"x\",\"controller\":true,\"blockOwnerDeletion\":true}],"
			"\"managedFields\":[{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\","
			"\"apiVersion\":\"discovery.k8s.io/v1\",\"time\":\"2026-11-30T10:00:00Z\","
			"\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:addressType\":{},\"f:endpoints\":{},"
			"\"f:metadata\":{\"f:labels\":{\".\":{}}},\"f:ports\":{}}}]},"
			"\"addressType\":\"IPv4\",\"endpoints\":[",
			s ? "," : "", s, s, s, s + 1000, s, s);
		for (e = 0; e < per; e++)
			off += (size_t)sprintf(
				doc + off,
				"%s{\"addresses\":[\"10.%zu.%zu.%zu\"],\"conditions\":{\"ready\":true,"
				"\"serving\":true,\"terminating\":false},\"targetRef\":{\"kind\":\"Pod\","
				"\"namespace\":\"bench\",\"name\":\"svc-%zu-7d9f8b-%zu\",\"uid\":"
				"\"a0000000-%04zu-4000-8000-%012zu\"},\"nodeName\":\"node-%zu\",\"zone\":\"zone-a\"}",
				e ? "," : "", (s * per + e) >> 16,
				((s * per + e) >> 8) & 255, (s * per + e) & 255,
				s, e, s % 10000, e, e % 50);
		off += (size_t)sprintf(
			doc + off,
			"],\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":8080}]}");
		assert_true(off < cap);
	}
	off += (size_t)sprintf(doc + off, "]}");
	*len = off;
	return doc;
}

/* A Service list of @n dual-port ClusterIP services, as kubectl creates them. */
static char *gen_services(size_t n, size_t *len)
{
	size_t cap = n * 1400 + 256, off = 0, i;
	char *doc = malloc(cap);

	assert_non_null(doc);
	off += (size_t)sprintf(
		doc + off,
		"{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\","
		"\"metadata\":{\"resourceVersion\":\"99999\"},\"items\":[");
	for (i = 0; i < n; i++) {
		off += (size_t)sprintf(
			doc + off,
			"%s{\"metadata\":{\"name\":\"svc-%zu\",\"namespace\":\"bench\","
			"\"uid\":\"6f1c%08zu-0000-4000-8000-000000000000\",\"resourceVersion\":\"%zu\","
			"\"creationTimestamp\":\"2026-11-30T10:00:00Z\",\"labels\":{\"app\":\"svc-%zu\"},"
			"\"managedFields\":[{\"manager\":\"kubectl-create\",\"operation\":\"Update\","
			"\"apiVersion\":\"v1\",\"time\":\"2026-11-30T10:00:00Z\",\"fieldsType\":\"FieldsV1\","
			"\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{}}},\"f:spec\":"
			"{\"f:internalTrafficPolicy\":{},\"f:ports\":{\".\":{},\"k:{\\\"port\\\":80,"
			"\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},\"f:name\":{}}}}}}]},"
			"\"spec\":{\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80,"
			"\"targetPort\":8080},{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53,"
			"\"targetPort\":\"dns\"}],\"selector\":{\"app\":\"svc-%zu\"},"
			"\"clusterIP\":\"198.19.%zu.%zu\",\"clusterIPs\":[\"198.19.%zu.%zu\"],"
			"\"type\":\"ClusterIP\",\"sessionAffinity\":\"None\",\"ipFamilies\":[\"IPv4\"],"
			"\"ipFamilyPolicy\":\"SingleStack\",\"internalTrafficPolicy\":\"Cluster\"},"
			"\"status\":{\"loadBalancer\":{}}}",
			i ? "," : "", i, i, i + 1000, i, i, i >> 8, i & 255,
			i >> 8, i & 255);
		assert_true(off < cap);
	}
	off += (size_t)sprintf(doc + off, "]}");
	*len = off;
	return doc;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decode @doc in 16 KiB pieces (as libcurl hands them over); seconds taken. */
static double time_decode(enum tpd_kube_kind kind, const char *doc, size_t len,
			  unsigned long want)
{
	struct tpd_kube_sink sink;
	struct tpd_kube_decoder *d;
	size_t off, n;
	struct got g;
	double t0, t;

	memset(&g, 0, sizeof(g)); /* no dump, nothing kept: the decoder alone */
	sink = (struct tpd_kube_sink){ .object = got_object, .ctx = &g };
	d = tpd_kube_decoder_new(kind, TPD_KUBE_DOC_LIST, &sink);
	assert_non_null(d);
	t0 = now_s();
	for (off = 0; off < len; off += n) {
		n = len - off < 16384 ? len - off : 16384;
		assert_int_equal(tpd_kube_decoder_feed(d, doc + off, n), 0);
	}
	assert_int_equal(tpd_kube_decoder_finish(d), 0);
	t = now_s() - t0;
	assert_int_equal(g.total, want);
	assert_int_equal(tpd_kube_decoder_state(d)->skipped, 0);
	tpd_kube_decoder_free(d);
	return t;
}

static void test_speed_100k_endpoints(void **state)
{
	size_t len_sl, len_svc;
	char *slices = gen_slices(1000, 100, &len_sl);
	char *svcs = gen_services(10000, &len_svc);
	double t_sl, t_svc;

	t_sl = time_decode(TPD_KUBE_ENDPOINTSLICE, slices, len_sl, 1000);
	print_message(
		"kube decode: 1000 EndpointSlices, 100,000 endpoints, %.1f MB in %.3f s: "
		"%.1f MB/s, %.0f endpoints/s\n",
		(double)len_sl / 1e6, t_sl, (double)len_sl / 1e6 / t_sl,
		100000.0 / t_sl);
	t_svc = time_decode(TPD_KUBE_SERVICE, svcs, len_svc, 10000);
	print_message(
		"kube decode: 10,000 Services, %.1f MB in %.3f s: %.1f MB/s, %.0f services/s\n",
		(double)len_svc / 1e6, t_svc, (double)len_svc / 1e6 / t_svc,
		10000.0 / t_svc);
	print_message("kube decode: both, %.3f s\n", t_sl + t_svc);
	free(slices);
	free(svcs);
}

/* A Pod list of @n pods as a Deployment makes them (two containers). */
static char *gen_pods(size_t n, size_t *len)
{
	size_t cap = n * 2600 + 256, off = 0, i;
	char *doc = malloc(cap);

	assert_non_null(doc);
	off += (size_t)sprintf(
		doc + off,
		"{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[");
	for (i = 0; i < n; i++) {
		off += (size_t)sprintf(
			doc + off,
			"%s{\"metadata\":{\"name\":\"web-7d9f8b6c5d-%05zu\",\"generateName\":\"web-7d9f8b6c5d-\","
			"\"namespace\":\"bench\",\"uid\":\"a0000000-0000-4000-8000-%012zu\",\"resourceVersion\":\"%zu\","
			"\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"7d9f8b6c5d\",\"tier\":\"frontend\"},"
			"\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-7d9f8b6c5d\","
			"\"uid\":\"x\",\"controller\":true}],\"managedFields\":[{\"manager\":\"kubelet\",\"operation\":\"Update\","
			"\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:status\":{\"f:conditions\":{}}}}]},"
			"\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.27\",\"ports\":[{\"name\":\"http\","
			"\"containerPort\":8080,\"protocol\":\"TCP\"}],\"resources\":{\"requests\":{\"cpu\":\"100m\"}},"
			"\"volumeMounts\":[{\"name\":\"kube-api-access\",\"readOnly\":true,\"mountPath\":\"/var/run/secrets/kubernetes.io/serviceaccount\"}]},"
			"{\"name\":\"sidecar\",\"image\":\"envoy:1.30\",\"ports\":[{\"name\":\"admin\",\"containerPort\":15000}]}],"
			"\"restartPolicy\":\"Always\",\"nodeName\":\"node-%zu\",\"serviceAccountName\":\"default\"},"
			"\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
			"\"hostIP\":\"198.18.0.%zu\",\"podIP\":\"10.%zu.%zu.%zu\",\"podIPs\":[{\"ip\":\"10.%zu.%zu.%zu\"},"
			"{\"ip\":\"fd00:10::%zx\"}],\"startTime\":\"2026-11-30T10:00:00Z\"}}",
			i ? "," : "", i, i, i + 100, i % 50, i % 50 + 1,
			i >> 16, (i >> 8) & 255, i & 255, i >> 16,
			(i >> 8) & 255, i & 255, i + 1);
		assert_true(off < cap);
	}
	off += (size_t)sprintf(doc + off, "]}");
	*len = off;
	return doc;
}

struct keep_all {
	struct tpd_kube_object **v;
	size_t n;
};

static void keep_object(void *ctx, enum tpd_kube_event ev,
			struct tpd_kube_object *o)
{
	struct keep_all *k = ctx;

	k->v[k->n++] = o;
}

/* Heap bytes an object of @kind keeps once decoded (what the store holds). */
static void measure_kept(enum tpd_kube_kind kind, const char *what,
			 const char *doc, size_t len, size_t n)
{
	struct keep_all k = { .v = calloc(n, sizeof(*k.v)) };
	struct tpd_kube_sink sink = { .object = keep_object, .ctx = &k };
	struct tpd_kube_decoder *d;
	size_t before, after, i;

	assert_non_null(k.v);
	before = mallinfo2().uordblks;
	d = tpd_kube_decoder_new(kind, TPD_KUBE_DOC_LIST, &sink);
	assert_non_null(d);
	assert_int_equal(tpd_kube_decoder_feed(d, doc, len), 0);
	assert_int_equal(tpd_kube_decoder_finish(d), 0);
	tpd_kube_decoder_free(d);
	after = mallinfo2().uordblks;
	assert_int_equal(k.n, n);
	print_message(
		"kube decode: %zu %s keep %.1f MB decoded (%.0f bytes each) of %.1f MB of JSON\n",
		n, what, (double)(after - before) / 1e6,
		(double)(after - before) / (double)n, (double)len / 1e6);
	for (i = 0; i < k.n; i++)
		tpd_kube_object_free(k.v[i]);
	free(k.v);
}

static void test_memory_kept(void **state)
{
	size_t len;
	char *doc = gen_pods(10000, &len);

	measure_kept(TPD_KUBE_POD, "Pods", doc, len, 10000);
	free(doc);
	doc = gen_slices(1000, 100, &len);
	measure_kept(TPD_KUBE_ENDPOINTSLICE,
		     "EndpointSlices (100,000 endpoints)", doc, len, 1000);
	free(doc);
	doc = gen_services(10000, &len);
	measure_kept(TPD_KUBE_SERVICE, "Services", doc, len, 10000);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_services_page1),
		cmocka_unit_test(test_services_page2),
		cmocka_unit_test(test_endpointslices),
		cmocka_unit_test(test_pods),
		cmocka_unit_test(test_namespaces),
		cmocka_unit_test(test_netpols),
		cmocka_unit_test(test_status_document),
		cmocka_unit_test(test_watch_stream),
		cmocka_unit_test(test_watch_error_410),
		cmocka_unit_test(test_watch_error_no_code),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_documents),
		cmocka_unit_test(test_bad_objects),
		cmocka_unit_test(test_bad_deleted_delivered),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_skipping_and_duplicates),
		cmocka_unit_test(test_speed_100k_endpoints),
		cmocka_unit_test(test_memory_kept),
	};

	tpd_log_min =
		TPD_LOG_ERROR; /* skipped objects are logged as warnings */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
