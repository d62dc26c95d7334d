// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes store and translation (loader/kube_store.c,
 * loader/kube_sync.c): hand-built objects go in through the store's sink,
 * a reconcile runs, and the maps are checked exactly.  The maps are the
 * harness's (loaded unpinned in a namespace of the test's own): nothing
 * touches bpffs.  The scale test prints its timings and RSS, and asserts
 * none of them.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "conntrack.h"
#include "heapcount.h"
#include "identity.h"
#include "kube_store.h"
#include "kube_sync.h"
#include "metrics.h"
#include "names.h"
#include "kubetest.h"
#include "pkttest.h"
#include "policy.h"
#include "service.h"
#include "static_nat.h"
#include "sync.h"

/* ---- building objects -------------------------------------------------------- */

/* ---- a store and a sync over the harness's maps ---------------------------------- */

/* ---- reading the maps ------------------------------------------------------------ */

/* Frontends of @owner in the maps. */
static size_t n_frontends(struct th *h, __u8 owner)
{
	struct svc_row *rows;
	size_t n, i, c = 0;

	assert_int_equal(TP_MAP_COLLECT(h->maps.services, struct svc_row, key,
					svc, &rows, &n),
			 0);
	for (i = 0; i < n; i++)
		c += rows[i].svc.owner == owner;
	free(rows);
	return c;
}

static size_t count_owned_idents(struct th *h, __u8 owner)
{
	struct row {
		struct tp_identity_key k;
		struct tp_identity_val v;
	} * rows;
	size_t n, i, c = 0;

	assert_int_equal(
		TP_MAP_COLLECT(h->maps.identity, struct row, k, v, &rows, &n),
		0);
	for (i = 0; i < n; i++)
		c += rows[i].v.owner == owner;
	free(rows);
	return c;
}

static size_t count_owned_names(struct th *h, __u8 owner)
{
	struct row {
		__u32 id;
		struct tp_identity_name v;
	} * rows;
	size_t n, i, c = 0;

	assert_int_equal(
		TP_MAP_COLLECT(h->maps.id_names, struct row, id, v, &rows, &n),
		0);
	for (i = 0; i < n; i++)
		c += rows[i].v.owner == owner;
	free(rows);
	return c;
}

/* ---- services ------------------------------------------------------------------------- */

#define V4 TPD_KUBE_ADDR_IPV4
#define V6 TPD_KUBE_ADDR_IPV6

/* Nothing is written before the first full picture; then all of it. */
static void test_nothing_before_synced(void **state)
{
	struct th *h = *state;
	struct ks k = {};

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	kt_put(&k, kt_svc_new("default", "web", "198.19.0.10", "http:80/tcp"));
	kt_put(&k, kt_slice_new("default", "web-1", "web", V4, "http:8080/tcp",
				"198.18.1.1"));
	kt_run(&k);
	assert_false(k.res.ran);
	assert_string_equal(kt_frontend(h, "198.19.0.10:80/tcp"), "-");
	kt_synced(&k);
	kt_run(&k);
	assert_true(k.res.ran && k.res.full);
	assert_string_equal(kt_frontend(h, "198.19.0.10:80/tcp"),
			    "kubernetes zone 0 : 198.18.1.1:8080 active");
	kt_ks_free(&k);
}

/* ClusterIP, dual-stack, ports joined by name, slices merging. */
static void test_dual_stack_ports_slices(void **state)
{
	struct th *h = *state;
	struct ks k = {};

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	kt_put(&k, kt_svc_new("default", "web", "198.19.0.10,fd00:198:19::a",
			      "http:80/tcp,dns:53/udp"));
	/* ports in another order than the Service's, and another number */
	kt_put(&k, kt_slice_new("default", "web-a", "web", V4,
				"dns:5353/udp,http:8080/tcp",
				"198.18.1.1,198.18.1.2"));
	kt_put(&k, kt_slice_new("default", "web-b", "web", V4,
				"http:8080/tcp,dns:5353/udp", "198.18.1.3"));
	kt_put(&k, kt_slice_new("default", "web-c", "web", V6, "http:8080/tcp",
				"fd00:198:18::1:1"));
	/* another Service's slice, and a slice without the label */
	kt_put(&k, kt_slice_new("default", "other-a", "other", V4,
				"http:80/tcp", "198.18.1.9"));
	kt_put(&k, kt_slice_new("default", "stray", NULL, V4, "http:80/tcp",
				"198.18.1.8"));
	kt_synced(&k);
	kt_run(&k);
	assert_string_equal(
		kt_frontend(h, "198.19.0.10:80/tcp"),
		"kubernetes zone 0 : 198.18.1.1:8080 active, 198.18.1.2:8080 active, "
		"198.18.1.3:8080 active");
	assert_string_equal(
		kt_frontend(h, "198.19.0.10:53/udp"),
		"kubernetes zone 0 : 198.18.1.1:5353 active, 198.18.1.2:5353 active, "
		"198.18.1.3:5353 active");
	assert_string_equal(
		kt_frontend(h, "[fd00:198:19::a]:80/tcp"),
		"kubernetes zone 0 : [fd00:198:18::1:1]:8080 active");
	/* the v6 slice has no dns port: a frontend without backends */
	assert_string_equal(kt_frontend(h, "[fd00:198:19::a]:53/udp"),
			    "kubernetes zone 0 :");
	assert_int_equal(n_frontends(h, TP_OWNER_KUBERNETES), 4);
	assert_int_equal(k.res.svc_added, 4);

	/* a slice goes: the others stay */
	kt_del(&k, TPD_KUBE_ENDPOINTSLICE, "default", "web-a");
	kt_run(&k);
	assert_false(k.res.full);
	assert_int_equal(k.res.svc_changed, 2);
	assert_string_equal(kt_frontend(h, "198.19.0.10:80/tcp"),
			    "kubernetes zone 0 : 198.18.1.3:8080 active");
	/* a slice that moves to another Service leaves the old one */
	kt_put(&k, kt_slice_new("default", "web-b", "other", V4,
				"http:8080/tcp", "198.18.1.3"));
	kt_run(&k);
	assert_string_equal(kt_frontend(h, "198.19.0.10:80/tcp"),
			    "kubernetes zone 0 :");
	kt_ks_free(&k);
}

/* ready -> active, serving+terminating -> terminating, else absent. */
static void test_conditions(void **state)
{
	struct th *h = *state;
	struct ks k = {};

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	kt_put(&k, kt_svc_new("ns1", "s", "198.19.0.20", ":80/tcp"));
	kt_put(&k,
	       kt_slice_new(
		       "ns1", "s-1", "s", V4, ":8080/tcp",
		       "198.18.1.1/110,198.18.1.2/111,198.18.1.3/011,198.18.1.4/001,"
		       "198.18.1.5/010,198.18.1.6/000,198.18.1.7/100"));
	kt_synced(&k);
	kt_run(&k);
	assert_string_equal(
		kt_frontend(h, "198.19.0.20:80/tcp"),
		"kubernetes zone 0 : 198.18.1.1:8080 active, 198.18.1.2:8080 active, "
		"198.18.1.3:8080 terminating, 198.18.1.7:8080 active");
	kt_ks_free(&k);
}

/* Headless, ExternalName, SCTP ports and FQDN slices are skipped. */
static void test_skipped(void **state)
{
	struct th *h = *state;
	struct tpd_kube_object *o;
	struct ks k = {};

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	o = kt_svc_new("ns1", "headless", "198.19.0.21", ":80/tcp");
	o->svc.headless = true;
	kt_put(&k, o);
	o = kt_svc_new("ns1", "ext", "198.19.0.22", ":80/tcp");
	o->svc.type = TPD_KUBE_SVC_EXTERNALNAME;
	kt_put(&k, o);
	kt_put(&k,
	       kt_svc_new("ns1", "sctp", "198.19.0.23", "a:80/sctp,b:81/tcp"));
	kt_put(&k, kt_svc_new("ns1", "fqdn", "198.19.0.24", ":80/tcp"));
	kt_put(&k, kt_slice_new("ns1", "fqdn-1", "fqdn", TPD_KUBE_ADDR_FQDN,
				":80/tcp", "x"));
	kt_put(&k, kt_slice_new("ns1", "headless-1", "headless", V4, ":80/tcp",
				"198.18.1.1"));
	kt_synced(&k);
	kt_run(&k);
	assert_string_equal(kt_frontend(h, "198.19.0.21:80/tcp"), "-");
	assert_string_equal(kt_frontend(h, "198.19.0.22:80/tcp"), "-");
	assert_string_equal(kt_frontend(h, "198.19.0.23:81/tcp"),
			    "kubernetes zone 0 :");
	assert_string_equal(kt_frontend(h, "198.19.0.24:80/tcp"),
			    "kubernetes zone 0 :");
	assert_int_equal(n_frontends(h, TP_OWNER_KUBERNETES), 2);
	kt_ks_free(&k);
}

/* expose annotated, ClientIP affinity, LB ingress IPs with the knob, zone. */
static void test_expose_affinity_lb(void **state)
{
	struct th *h = *state;
	struct tpd_kube_object *o;
	struct ks k = { .cfg = { .node_name = NODE,
				 .expose = TPD_KUBE_EXPOSE_ANNOTATED,
				 .expose_lb_ips = true,
				 .zone = 1,
				 .tcp_grace = 30 } };

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	o = kt_svc_new("ns1", "shown", "198.19.0.30", ":80/tcp");
	o->meta.ann_expose = kt_xstrdup("true");
	o->svc.affinity_client_ip = true;
	o->svc.affinity_timeout = 600;
	o->svc.type = TPD_KUBE_SVC_LOADBALANCER;
	o->svc.lb_ips = kt_addrs("203.0.113.7", &o->svc.n_lb_ips);
	kt_put(&k, o);
	o = kt_svc_new("ns1", "hidden", "198.19.0.31", ":80/tcp");
	o->meta.ann_expose = kt_xstrdup("false");
	kt_put(&k, o);
	kt_put(&k, kt_svc_new("ns1", "plain", "198.19.0.32", ":80/tcp"));
	kt_put(&k, kt_slice_new("ns1", "shown-1", "shown", V4, ":8080/tcp",
				"198.18.1.1"));
	kt_synced(&k);
	kt_run(&k);
	assert_string_equal(
		kt_frontend(h, "198.19.0.30:80/tcp"),
		"kubernetes zone 1 aff 600 : 198.18.1.1:8080 active");
	assert_string_equal(
		kt_frontend(h, "203.0.113.7:80/tcp"),
		"kubernetes zone 1 aff 600 : 198.18.1.1:8080 active");
	assert_string_equal(kt_frontend(h, "198.19.0.31:80/tcp"), "-");
	assert_string_equal(kt_frontend(h, "198.19.0.32:80/tcp"), "-");
	/* the annotation goes: so does the frontend */
	o = kt_svc_new("ns1", "shown", "198.19.0.30", ":80/tcp");
	kt_put(&k, o);
	kt_run(&k);
	assert_int_equal(k.res.svc_removed, 2);
	assert_int_equal(n_frontends(h, TP_OWNER_KUBERNETES), 0);
	kt_ks_free(&k);

	/* without the knob, no LB ingress IPs */
	memset(&k, 0, sizeof(k));
	kt_ks_open(&k, h);
	o = kt_svc_new("ns1", "lb", "198.19.0.33", ":80/tcp");
	o->svc.type = TPD_KUBE_SVC_LOADBALANCER;
	o->svc.lb_ips = kt_addrs("203.0.113.8", &o->svc.n_lb_ips);
	kt_put(&k, o);
	kt_synced(&k);
	kt_run(&k);
	assert_string_equal(kt_frontend(h, "198.19.0.33:80/tcp"),
			    "kubernetes zone 0 :");
	assert_string_equal(kt_frontend(h, "203.0.113.8:80/tcp"), "-");
	kt_ks_free(&k);
}

/* internalTrafficPolicy Local: this node's endpoints only. */
static void test_internal_local(void **state)
{
	struct th *h = *state;
	struct tpd_kube_object *o;
	struct ks k = {};

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	o = kt_svc_new("ns1", "loc", "198.19.0.40", ":80/tcp");
	o->svc.internal_local = true;
	kt_put(&k, o);
	kt_put(&k, kt_slice_new("ns1", "loc-1", "loc", V4, ":8080/tcp",
				"198.18.1.1@" NODE
				",198.18.1.2@node-b,198.18.1.3"));
	kt_synced(&k);
	kt_run(&k);
	assert_string_equal(kt_frontend(h, "198.19.0.40:80/tcp"),
			    "kubernetes zone 0 : 198.18.1.1:8080 active");
	kt_ks_free(&k);
}

/*
 * externalTrafficPolicy Local: the LoadBalancer IPs get this node's
 * endpoints only (nothing leaves the node: no SNAT, the client's address
 * is kept); the ClusterIP, under internalTrafficPolicy Cluster, all.
 */
static void test_external_local(void **state)
{
	struct th *h = *state;
	struct tpd_kube_object *o;
	struct ks k = { .cfg = { .node_name = NODE, .expose_lb_ips = true } };

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	o = kt_svc_new("ns1", "ext", "198.19.0.41", ":80/tcp");
	o->svc.type = TPD_KUBE_SVC_LOADBALANCER;
	o->svc.lb_ips = kt_addrs("203.0.113.9", &o->svc.n_lb_ips);
	o->svc.external_local = true;
	kt_put(&k, o);
	kt_put(&k, kt_slice_new("ns1", "ext-1", "ext", V4, ":8080/tcp",
				"198.18.1.1@" NODE ",198.18.1.2@node-b"));
	kt_synced(&k);
	kt_run(&k);
	assert_string_equal(kt_frontend(h, "203.0.113.9:80/tcp"),
			    "kubernetes zone 0 : 198.18.1.1:8080 active");
	assert_string_equal(
		kt_frontend(h, "198.19.0.41:80/tcp"),
		"kubernetes zone 0 : 198.18.1.1:8080 active, 198.18.1.2:8080 active");
	kt_ks_free(&k);
}

/* A Service deleted, and a re-list that no longer has one. */
static void test_delete_and_relist(void **state)
{
	struct th *h = *state;
	struct ks k = {};

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	kt_put(&k, kt_svc_new("ns1", "a", "198.19.0.50", ":80/tcp"));
	kt_put(&k, kt_svc_new("ns1", "b", "198.19.0.51", ":80/tcp"));
	kt_put(&k, kt_svc_new("ns1", "c", "198.19.0.52", ":80/tcp"));
	kt_synced(&k);
	kt_run(&k);
	assert_int_equal(n_frontends(h, TP_OWNER_KUBERNETES), 3);
	kt_del(&k, TPD_KUBE_SERVICE, "ns1", "a");
	kt_run(&k);
	assert_int_equal(k.res.svc_removed, 1);
	assert_string_equal(kt_frontend(h, "198.19.0.50:80/tcp"), "-");

	/* a re-list cut short keeps what it did not deliver */
	k.sink->list_begin(k.sink->ctx, TPD_KUBE_SERVICE);
	kt_put(&k, kt_svc_new("ns1", "b", "198.19.0.51", ":80/tcp"));
	k.sink->list_end(k.sink->ctx, TPD_KUBE_SERVICE, false);
	kt_run(&k);
	assert_string_equal(kt_frontend(h, "198.19.0.52:80/tcp"),
			    "kubernetes zone 0 :");
	/* a complete one drops it */
	k.sink->list_begin(k.sink->ctx, TPD_KUBE_SERVICE);
	kt_put(&k, kt_svc_new("ns1", "b", "198.19.0.51", ":80/tcp"));
	k.sink->list_end(k.sink->ctx, TPD_KUBE_SERVICE, true);
	kt_run(&k);
	assert_int_equal(k.res.svc_removed, 1);
	assert_int_equal(k.res.svc_changed + k.res.svc_added, 0);
	assert_string_equal(kt_frontend(h, "198.19.0.52:80/tcp"), "-");
	assert_string_equal(kt_frontend(h, "198.19.0.51:80/tcp"),
			    "kubernetes zone 0 :");
	kt_ks_free(&k);
}

/* The eventfd says when something changed, once per batch. */
static void test_store_eventfd(void **state)
{
	struct tpd_kube_changes c;
	struct tpd_kube_store *s;
	const struct tpd_kube_sink *sink;
	__u64 v;
	int fd;

	(void)state;
	s = tpd_kube_store_new();
	assert_non_null(s);
	sink = tpd_kube_store_sink(s);
	fd = tpd_kube_store_fd(s);
	assert_int_equal(read(fd, &v, sizeof(v)), -1);
	sink->object(sink->ctx, TPD_KUBE_EV_ADDED,
		     kt_svc_new("a", "x", "198.19.0.1", ":1/tcp"));
	sink->object(sink->ctx, TPD_KUBE_EV_ADDED,
		     kt_svc_new("a", "y", "198.19.0.2", ":1/tcp"));
	sink->object(sink->ctx, TPD_KUBE_EV_ADDED,
		     kt_slice_new("a", "y-1", "z", V4, ":1/tcp", "198.18.1.1"));
	tpd_kube_store_take(s, &c);
	assert_int_equal(c.services.n, 3); /* x, y, and z named by the slice */
	assert_false(c.synced);
	assert_false(c.policy);
	tpd_kube_changes_free(&c);
	/* taken: nothing more to read */
	assert_int_equal(read(fd, &v, sizeof(v)), -1);
	sink->object(sink->ctx, TPD_KUBE_EV_ADDED,
		     kt_obj_new(TPD_KUBE_NAMESPACE, "", "a"));
	assert_int_equal(read(fd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	tpd_kube_store_take(s, &c);
	assert_true(c.policy);
	tpd_kube_changes_free(&c);
	tpd_kube_store_free(s);
}

/*
 * The store keeps no resourceVersion and no uid but a NetworkPolicy's
 * (which kube_policy.c orders by): no reader looks at them, and they
 * were two heap blocks an object.  What is read stays.
 */
static void test_store_keeps_what_is_read(void **state)
{
	const struct tpd_kube_object *o;
	struct tpd_kube_store *s;
	const struct tpd_kube_sink *sink;

	(void)state;
	s = tpd_kube_store_new();
	assert_non_null(s);
	sink = tpd_kube_store_sink(s);
	sink->object(sink->ctx, TPD_KUBE_EV_ADDED,
		     kt_svc_new("a", "x", "198.19.0.1", ":1/tcp"));
	sink->object(sink->ctx, TPD_KUBE_EV_ADDED,
		     kt_obj_new(TPD_KUBE_NETPOL, "a", "p"));
	tpd_kube_store_lock(s);
	o = tpd_kube_store_get(s, TPD_KUBE_SERVICE, "a/x");
	assert_non_null(o);
	assert_string_equal(o->meta.name, "x");
	assert_string_equal(o->meta.ns, "a");
	assert_int_equal(o->svc.n_cluster_ips, 1);
	assert_string_equal(o->meta.uid, "");
	assert_string_equal(o->meta.resource_version, "");
	o = tpd_kube_store_get(s, TPD_KUBE_NETPOL, "a/p");
	assert_non_null(o);
	assert_string_equal(o->meta.uid, "uid");
	assert_string_equal(o->meta.resource_version, "");
	tpd_kube_store_unlock(s);
	tpd_kube_store_free(s);
}

/* A restart (new store and sync over the same maps) writes nothing. */
static void test_restart_writes_nothing(void **state)
{
	struct th *h = *state;
	struct tpd_kube_object *o;
	__u32 id_a, id_b;
	struct ks k = {};
	int round;

	REQUIRE_BPF();
	for (round = 0; round < 2; round++) {
		kt_ks_open(&k, h);
		kt_put(&k,
		       kt_svc_new("ns1", "web", "198.19.0.60,fd00:198:19::60",
				  "http:80/tcp"));
		kt_put(&k,
		       kt_slice_new("ns1", "web-1", "web", V4, "http:8080/tcp",
				    "198.18.1.1,198.18.1.2/011"));
		kt_put(&k, kt_slice_new("ns1", "web-2", "web", V6,
					"http:8080/tcp", "fd00:198:18::1:1"));
		o = kt_pod_new("ns1", "p1", NODE,
			       "198.18.1.1,fd00:198:18::1:1");
		kt_obj_label(o, "app", "web");
		kt_put(&k, o);
		o = kt_pod_new("ns1", "p2", "node-b", "198.18.1.2");
		kt_obj_label(o, "app", "db");
		o->meta.ann_tailnet_addr =
			kt_xstrdup("100.100.1.2"); /* not local: no NAT */
		kt_put(&k, o);
		o = kt_pod_new("ns1", "p3", NODE, "198.18.1.3");
		o->meta.ann_tailnet_addr = kt_xstrdup("100.100.1.3");
		kt_put(&k, o);
		kt_synced(&k);
		kt_run(&k);
		assert_true(k.res.full);
		if (!round) {
			assert_int_equal(k.res.svc_added, 2);
			assert_int_equal(k.res.ip_added, 4);
			assert_int_equal(k.res.id_added, 3);
			assert_int_equal(k.res.nat_added, 1);
			id_a = kt_ident_of(h, "198.18.1.1");
			id_b = kt_ident_of(h, "198.18.1.2");
		} else {
			/* the same objects: nothing to write, the same identities */
			assert_int_equal(k.res.svc_added + k.res.svc_changed +
						 k.res.svc_removed,
					 0);
			assert_int_equal(k.res.ip_added + k.res.ip_removed, 0);
			assert_int_equal(k.res.id_added + k.res.id_freed, 0);
			assert_int_equal(k.res.nat_added + k.res.nat_removed,
					 0);
			assert_int_equal(k.res.be_purged, 0);
			assert_int_equal(kt_ident_of(h, "198.18.1.1"), id_a);
			assert_int_equal(kt_ident_of(h, "198.18.1.2"), id_b);
		}
		kt_ks_close(&k);
	}
	assert_string_equal(
		kt_frontend(h, "198.19.0.60:80/tcp"),
		"kubernetes zone 0 : 198.18.1.1:8080 active, 198.18.1.2:8080 terminating");
	assert_int_equal(count_owned_names(h, TP_OWNER_KUBERNETES), 3);

	/* a restart whose first picture lacks a Service removes it then, not before */
	kt_ks_open(&k, h);
	kt_put(&k, kt_svc_new("ns1", "web", "198.19.0.60", "http:80/tcp"));
	kt_run(&k);
	assert_string_equal(
		kt_frontend(h, "[fd00:198:19::60]:80/tcp"),
		"kubernetes zone 0 : [fd00:198:18::1:1]:8080 active");
	kt_synced(&k);
	kt_run(&k);
	assert_string_equal(kt_frontend(h, "[fd00:198:19::60]:80/tcp"), "-");
	assert_string_equal(kt_frontend(h, "198.19.0.60:80/tcp"),
			    "kubernetes zone 0 :");
	/* and the pods that went: their entries and identities */
	assert_int_equal(kt_ident_of(h, "198.18.1.1"), 0);
	assert_int_equal(count_owned_names(h, TP_OWNER_KUBERNETES), 0);
	assert_int_equal(k.res.nat_removed, 1);
	kt_ks_free(&k);
}

/* Switching off removes the source's entries and nothing else. */
static void test_switch_off(void **state)
{
	struct th *h = *state;
	struct tp_backend_spec be = { .addr = pt_addr("198.18.1.9"),
				      .port = htons(80),
				      .weight = 1 };
	struct tp_svc_spec tpctl = { .owner = TP_OWNER_TPCTL },
			   stat = { .owner = TP_OWNER_STATIC };
	struct tp_rule r = { .src_id = 300,
			     .dst_id = 301,
			     .verdict = TP_VERDICT_ALLOW,
			     .owner = TP_OWNER_KUBERNETES },
		       r2;
	struct tp_static_nat_entry sn = { .tailnet = pt_addr("100.100.2.1"),
					  .inner = pt_addr("198.18.3.1"),
					  .owner = TP_OWNER_TPCTL };
	struct tpd_sync_result res = {};
	struct tp_svc_key key;
	struct tpd_kube_object *o;
	struct tp_static_nat_entry *es;
	char why[256];
	__u32 rid;
	size_t n;
	struct ks k = {};

	REQUIRE_BPF();
	assert_int_equal(tp_svc_key_parse("198.19.0.70:80/tcp", &key), 0);
	assert_int_equal(tp_service_set(&h->maps, &key, &tpctl, &be, 1), 0);
	assert_int_equal(tp_svc_key_parse("198.19.0.71:80/tcp", &key), 0);
	assert_int_equal(tp_service_set(&h->maps, &key, &stat, &be, 1), 0);
	assert_int_equal(tp_identity_set(&h->maps, 0, &be.addr, 128, 300,
					 TP_OWNER_TPCTL),
			 0);
	assert_int_equal(
		tp_identity_name_set(&h->maps, 300, "mine", TP_OWNER_TPCTL), 0);
	assert_int_equal(tp_policy_rule_add(&h->maps, &r, &rid), 0);
	r2 = r;
	r2.owner = TP_OWNER_TPCTL;
	r2.dst_id = 302;
	assert_int_equal(tp_policy_rule_add(&h->maps, &r2, &rid), 0);
	assert_int_equal(tp_static_nat_add(&h->maps, &sn, why, sizeof(why)), 0);

	kt_ks_open(&k, h);
	kt_put(&k, kt_svc_new("ns1", "web", "198.19.0.72", ":80/tcp"));
	kt_put(&k, kt_slice_new("ns1", "web-1", "web", V4, ":8080/tcp",
				"198.18.1.1"));
	/* a Service on the tpctl frontend: a conflict, left alone */
	kt_put(&k, kt_svc_new("ns1", "taken", "198.19.0.70", ":80/tcp"));
	o = kt_pod_new("ns1", "p1", NODE, "198.18.1.1");
	o->meta.ann_tailnet_addr = kt_xstrdup("100.100.2.2");
	kt_put(&k, o);
	/* a pod at the tpctl identity's address: a conflict too */
	kt_put(&k, kt_pod_new("ns1", "p2", NODE, "198.18.1.9"));
	kt_synced(&k);
	kt_run(&k);
	assert_int_equal(k.res.conflicts, 2);
	assert_string_equal(kt_frontend(h, "198.19.0.70:80/tcp"),
			    "tpctl zone 0 : 198.18.1.9:80 active");
	assert_int_equal(kt_ident_of(h, "198.18.1.9"), 300);
	kt_ks_close(&k);

	assert_int_equal(
		tpd_kube_remove_all(&h->maps, &k.udp, &k.tcp, k.now, 30, &res),
		0);
	assert_int_equal(res.errors, 0);
	assert_int_equal(n_frontends(h, TP_OWNER_KUBERNETES), 0);
	assert_int_equal(n_frontends(h, TP_OWNER_TPCTL), 1);
	assert_int_equal(n_frontends(h, TP_OWNER_STATIC), 1);
	assert_int_equal(count_owned_idents(h, TP_OWNER_KUBERNETES), 0);
	assert_int_equal(count_owned_names(h, TP_OWNER_KUBERNETES), 0);
	assert_int_equal(kt_ident_of(h, "198.18.1.9"), 300);
	assert_int_equal(count_owned_names(h, TP_OWNER_TPCTL), 1);
	assert_int_not_equal(tp_policy_rule_find(&h->maps, &r, &rid), 0);
	assert_int_equal(tp_policy_rule_find(&h->maps, &r2, &rid), 0);
	assert_int_equal(tp_static_nat_list(&h->maps, &es, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(es[0].owner, TP_OWNER_TPCTL);
	free(es);
	/* the TCP flows of the removed backend wait for their grace */
	assert_int_equal(k.tcp.n_later, 1);
	kt_ks_free(&k);
}

/* ---- pods ------------------------------------------------------------------------------ */

/* Pod IPs -> identity by namespace and labels; churn labels left out. */
static void test_pod_identities(void **state)
{
	struct th *h = *state;
	struct tpd_kube_object *o;
	char name[TP_IDENTITY_NAME_LEN], name2[TP_IDENTITY_NAME_LEN];
	__u32 id1, id3;
	struct ks k = {};

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	o = kt_pod_new("shop", "web-1", NODE, "198.18.1.1,fd00:198:18::1:1");
	kt_obj_label(o, "app", "web");
	kt_obj_label(o, "pod-template-hash", "abc");
	kt_put(&k, o);
	o = kt_pod_new("shop", "web-2", "node-b", "198.18.1.2");
	kt_obj_label(o, "app", "web");
	kt_obj_label(o, "pod-template-hash", "def");
	kt_put(&k, o);
	o = kt_pod_new("other", "web-3", "node-b", "198.18.1.3");
	kt_obj_label(o, "app", "web");
	kt_put(&k, o);
	o = kt_pod_new("shop", "host", NODE, "198.18.0.5");
	o->pod.host_network = true;
	kt_put(&k, o);
	o = kt_pod_new("shop", "done", NODE, "198.18.1.6");
	o->pod.phase_done = true;
	kt_put(&k, o);
	kt_synced(&k);
	kt_run(&k);
	id1 = kt_ident_of(h, "198.18.1.1");
	id3 = kt_ident_of(h, "198.18.1.3");
	assert_true(id1 >= TPD_KUBE_ID_MIN && id1 < TPD_KUBE_ID_MAX);
	assert_int_equal(kt_ident_of(h, "fd00:198:18::1:1"), id1);
	/* the same labels but the hash: one identity */
	assert_int_equal(kt_ident_of(h, "198.18.1.2"), id1);
	/* another namespace: another */
	assert_int_not_equal(id3, id1);
	assert_int_equal(kt_ident_of(h, "198.18.0.5"), 0);
	assert_int_equal(kt_ident_of(h, "198.18.1.6"), 0);
	assert_int_equal(k.res.id_added, 2);
	/* the name: readable namespace, a hash of the label set */
	tp_identity_name(&h->maps, id1, name, sizeof(name));
	assert_int_equal(strncmp(name, "k8s:shop:", 9), 0);
	assert_int_equal(strlen(name), 9 + 16);
	tp_identity_name(&h->maps, id3, name2, sizeof(name2));
	assert_int_equal(strncmp(name2, "k8s:other:", 10), 0);

	/* relabelled: a new identity; the old one stays while web-2 has it */
	o = kt_pod_new("shop", "web-1", NODE, "198.18.1.1,fd00:198:18::1:1");
	kt_obj_label(o, "app", "web");
	kt_obj_label(o, "tier", "front");
	kt_put(&k, o);
	kt_run(&k);
	assert_int_not_equal(kt_ident_of(h, "198.18.1.1"), id1);
	assert_int_equal(kt_ident_of(h, "198.18.1.2"), id1);
	assert_int_equal(k.res.ip_added, 2);
	assert_int_equal(k.res.id_added, 1);
	assert_int_equal(k.res.id_freed, 0);
	/* the last pod of an identity goes: its name is freed */
	kt_del(&k, TPD_KUBE_POD, "shop", "web-2");
	kt_run(&k);
	assert_int_equal(kt_ident_of(h, "198.18.1.2"), 0);
	assert_int_equal(k.res.id_freed, 1);
	assert_int_not_equal(tp_identity_parse(&h->maps, name, &id1), 0);
	/* a pod that finishes loses its entries */
	o = kt_pod_new("other", "web-3", "node-b", "198.18.1.3");
	kt_obj_label(o, "app", "web");
	o->pod.phase_done = true;
	kt_put(&k, o);
	kt_run(&k);
	assert_int_equal(kt_ident_of(h, "198.18.1.3"), 0);
	assert_int_equal(count_owned_idents(h, TP_OWNER_KUBERNETES), 2);
	kt_ks_free(&k);
}

/* The label filter and the name's shape, without maps. */
static void test_identity_name(void **state)
{
	struct tpd_kube_object *a =
		kt_pod_new("a-very-long-namespace-name-that-is-cut", "p", NODE,
			   "198.18.1.1");
	struct tpd_kube_object *b =
		kt_pod_new("a-very-long-namespace-name-that-is-cut", "q", NODE,
			   "198.18.1.2");
	char na[TP_IDENTITY_NAME_LEN], nb[TP_IDENTITY_NAME_LEN];
	const char *churn[] = { "apps.kubernetes.io/pod-index",
				"batch.kubernetes.io/controller-uid",
				"controller-revision-hash",
				"controller-uid",
				"pod-template-hash",
				"statefulset.kubernetes.io/pod-name" };
	size_t i;

	(void)state;
	kt_obj_label(a, "app", "x");
	kt_obj_label(b, "app", "x");
	for (i = 0; i < sizeof(churn) / sizeof(churn[0]); i++) {
		assert_true(tpd_kube_label_filtered(churn[i]));
		kt_obj_label(b, churn[i], "v");
	}
	assert_false(tpd_kube_label_filtered("app"));
	assert_int_equal(tpd_kube_pod_identity_name(a, na, sizeof(na)), 0);
	assert_int_equal(tpd_kube_pod_identity_name(b, nb, sizeof(nb)), 0);
	assert_string_equal(na, nb);
	assert_int_equal(strlen(na), TP_IDENTITY_NAME_LEN - 1);
	assert_true(tp_identity_name_ok(na));
	print_message("identity name: %s\n", na);
	tpd_kube_object_free(a);
	tpd_kube_object_free(b);

	/*
	 * The hash is the first 8 bytes of SHA-256("ns1\0app=web\0"): a name
	 * must not change between versions (it is how a restart finds its
	 * identity again), and it must not be FNV-1a, whose preimages are
	 * easy to compute (hashlib.sha256(b"ns1\x00app=web\x00")).
	 */
	a = kt_pod_new("ns1", "w", NODE, "198.18.1.1");
	kt_obj_label(a, "app", "web");
	kt_obj_label(a, "pod-template-hash", "abc");
	assert_int_equal(tpd_kube_pod_identity_name(a, na, sizeof(na)), 0);
	assert_string_equal(na, "k8s:ns1:4efa07c09d49ac5c");
	tpd_kube_object_free(a);
}

/* A local pod's tailplane.io/tailnet-address -> static NAT. */
static void test_static_nat_annotation(void **state)
{
	struct th *h = *state;
	struct tpd_kube_object *o;
	struct tp_static_nat_entry *es;
	char a[64];
	size_t n;
	struct ks k = {
		.cfg = { .node_name = NODE, .zone = 1, .tcp_grace = 30 }
	};

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	o = kt_pod_new("ns1", "p1", NODE, "198.18.1.1,fd00:198:18::1:1");
	o->meta.ann_tailnet_addr = kt_xstrdup("100.100.3.1");
	kt_put(&k, o);
	o = kt_pod_new("ns1", "bad", NODE, "198.18.1.2");
	o->meta.ann_tailnet_addr = kt_xstrdup("not-an-address");
	kt_put(&k, o);
	o = kt_pod_new("ns1", "v6only", NODE, "fd00:198:18::1:3");
	o->meta.ann_tailnet_addr = kt_xstrdup("100.100.3.3");
	kt_put(&k, o);
	o = kt_pod_new("ns1", "remote", "node-b", "198.18.1.4");
	o->meta.ann_tailnet_addr = kt_xstrdup("100.100.3.4");
	kt_put(&k, o);
	kt_synced(&k);
	kt_run(&k);
	assert_int_equal(tp_static_nat_list(&h->maps, &es, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(es[0].owner, TP_OWNER_KUBERNETES);
	assert_int_equal(es[0].zone, 1);
	assert_string_equal(tp_addr_format(&es[0].tailnet, a, sizeof(a)),
			    "100.100.3.1");
	assert_string_equal(tp_addr_format(&es[0].inner, a, sizeof(a)),
			    "198.18.1.1");
	free(es);
	/* the annotation changes: the old entry goes, the new one comes */
	o = kt_pod_new("ns1", "p1", NODE, "198.18.1.1");
	o->meta.ann_tailnet_addr = kt_xstrdup("100.100.3.9");
	kt_put(&k, o);
	kt_run(&k);
	assert_int_equal(k.res.nat_removed, 1);
	assert_int_equal(k.res.nat_added, 1);
	assert_int_equal(tp_static_nat_list(&h->maps, &es, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(tp_addr_format(&es[0].tailnet, a, sizeof(a)),
			    "100.100.3.9");
	free(es);
	kt_del(&k, TPD_KUBE_POD, "ns1", "p1");
	kt_run(&k);
	assert_int_equal(tp_static_nat_list(&h->maps, &es, &n), 0);
	assert_int_equal(n, 0);
	free(es);
	kt_ks_free(&k);
}

/* ---- flows of backends that go --------------------------------------------------------- */

/* A DNATed flow client:@sport -> @vip:@port to backend @be:@bport (with its reply key). */
static void flow(struct th *h, __u8 proto, __u16 sport, const char *vip,
		 __u16 port, const char *be, __u16 bport, __u32 be_id)
{
	struct tp_ct_key k = { .saddr = pt_addr(CLIENT4),
			       .daddr = pt_addr(vip),
			       .sport = htons(sport),
			       .dport = htons(port),
			       .proto = proto,
			       .zone = TH_ZONE };
	struct tp_ct_entry e = { .flags = TP_CT_F_DNAT,
				 .backend_id = be_id,
				 .nat_addr = pt_addr(be),
				 .nat_port = htons(bport),
				 .svc_id = 1,
				 .expires_s = ~0u };

	pt_ct_put_flow(tp_ct_fd(&h->maps, proto), &k, &e, NULL, BPF_NOEXIST);
}

/* The backend id of @be in frontend @fe. */
static __u32 backend_id(struct th *h, const char *fe, const char *be)
{
	__u32 ids[TP_MAX_SVC_BACKENDS];
	struct tp_backend bes[TP_MAX_SVC_BACKENDS];
	struct tp_svc_key key;
	struct tp_addr a = pt_addr(be);
	struct tp_svc svc;
	int n, i;

	assert_int_equal(tp_svc_key_parse(fe, &key), 0);
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &key, &svc), 0);
	n = tp_service_backends(&h->maps, svc.id, ids, bes,
				TP_MAX_SVC_BACKENDS);
	for (i = 0; i < n; i++)
		if (!memcmp(&bes[i].addr, &a, sizeof(a)))
			return ids[i];
	fail_msg("no backend %s in %s", be, fe);
	return 0;
}

/* UDP flows of a backend that went are purged at once, TCP ones after the grace. */
static void test_purge_udp_now_tcp_later(void **state)
{
	struct th *h = *state;
	struct ks k = {};

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	kt_put(&k,
	       kt_svc_new("ns1", "s", "198.19.0.80", "dns:53/udp,web:80/tcp"));
	kt_put(&k,
	       kt_slice_new("ns1", "s-1", "s", V4, "dns:5353/udp,web:8080/tcp",
			    "198.18.1.1,198.18.1.2"));
	kt_synced(&k);
	kt_run(&k);
	flow(h, IPPROTO_UDP, 1001, "198.19.0.80", 53, "198.18.1.1", 5353,
	     backend_id(h, "198.19.0.80:53/udp", "198.18.1.1"));
	flow(h, IPPROTO_UDP, 1002, "198.19.0.80", 53, "198.18.1.2", 5353,
	     backend_id(h, "198.19.0.80:53/udp", "198.18.1.2"));
	flow(h, IPPROTO_TCP, 1003, "198.19.0.80", 80, "198.18.1.1", 8080,
	     backend_id(h, "198.19.0.80:80/tcp", "198.18.1.1"));
	flow(h, IPPROTO_TCP, 1004, "198.19.0.80", 80, "198.18.1.2", 8080,
	     backend_id(h, "198.19.0.80:80/tcp", "198.18.1.2"));
	assert_int_equal(pt_ct_count(h), 8);

	/* 198.18.1.1 goes: its UDP flow at once */
	kt_put(&k, kt_slice_new("ns1", "s-1", "s", V4,
				"dns:5353/udp,web:8080/tcp", "198.18.1.2"));
	kt_run(&k);
	assert_int_equal(k.res.be_purged, 2);
	assert_int_equal(tpd_purge_step(&h->maps, &k.udp, 0), 0);
	assert_int_equal(tpd_purge_step(&h->maps, &k.tcp, 0), 0);
	assert_int_equal(pt_ct_count(h), 6);
	/* its TCP flow when the grace is over, not before */
	assert_int_equal(tpd_purge_release(&k.tcp, k.now + 29), 0);
	assert_int_equal(tpd_purge_release(&k.tcp, k.now + 30), 1);
	assert_int_equal(tpd_purge_step(&h->maps, &k.tcp, 0), 0);
	assert_int_equal(pt_ct_count(h), 4);

	/* 198.18.1.2 goes and comes back within the grace: its TCP flow stays */
	kt_put(&k, kt_slice_new("ns1", "s-1", "s", V4,
				"dns:5353/udp,web:8080/tcp", ""));
	kt_run(&k);
	assert_int_equal(tpd_purge_step(&h->maps, &k.udp, 0), 0);
	assert_int_equal(pt_ct_count(h), 2); /* the UDP one went */
	k.now += 10;
	kt_put(&k, kt_slice_new("ns1", "s-1", "s", V4,
				"dns:5353/udp,web:8080/tcp", "198.18.1.2"));
	kt_run(&k);
	assert_int_equal(tpd_purge_release(&k.tcp, k.now + 3600), 0);
	assert_int_equal(tpd_purge_step(&h->maps, &k.tcp, 0), 0);
	assert_int_equal(pt_ct_count(h), 2);

	/* terminating is no going: flows stay */
	kt_put(&k, kt_slice_new("ns1", "s-1", "s", V4,
				"dns:5353/udp,web:8080/tcp", "198.18.1.2/011"));
	kt_run(&k);
	assert_int_equal(k.res.be_purged, 0);
	kt_ks_free(&k);
}

/* ---- NetworkPolicy ------------------------------------------------------------------------ */

/*
 * The compile's rules replace the source's old ones; other owners' rules
 * stay.  An egress-only policy compiles to no rule (egress is not
 * enforced), so a rule the source holds from before goes.
 */
static void test_policy_diff(void **state)
{
	struct th *h = *state;
	struct tp_rule old = { .src_id = 400,
			       .dst_id = 401,
			       .verdict = TP_VERDICT_ALLOW,
			       .owner = TP_OWNER_KUBERNETES },
		       other = old;
	struct tpd_kube_object *o;
	__u32 rid;
	struct ks k = {};

	REQUIRE_BPF();
	other.owner = TP_OWNER_TPCTL;
	other.dst_id = 402;
	assert_int_equal(tp_policy_rule_add(&h->maps, &old, &rid), 0);
	assert_int_equal(tp_policy_rule_add(&h->maps, &other, &rid), 0);
	kt_ks_open(&k, h);
	o = kt_obj_new(TPD_KUBE_NETPOL, "ns1", "egress-only");
	o->np.pod_selector.present = true;
	o->np.egress_type = true;
	kt_put(&k, o);
	kt_synced(&k);
	kt_run(&k);
	assert_int_equal(k.res.rules_removed, 1);
	assert_int_not_equal(tp_policy_rule_find(&h->maps, &old, &rid), 0);
	assert_int_equal(tp_policy_rule_find(&h->maps, &other, &rid), 0);
	kt_ks_free(&k);
}

/* ---- metrics ----------------------------------------------------------------------------- */

/* The textfile carries the source's numbers while it runs. */
static void test_metrics(void **state)
{
	struct th *h = *state;
	struct tpd_source_state src[TPD_SRC_MAX] = {};
	struct tpd_kube_metrics km = {};
	struct tpd_gc_result gc = {};
	char path[] = "/tmp/tp-kube-metrics-XXXXXX", *text;
	struct ks k = {};
	size_t len = 0;
	FILE *f;
	int fd;

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	kt_put(&k, kt_svc_new("ns1", "s", "198.19.0.90,fd00:198:19::90",
			      ":80/tcp"));
	kt_put(&k, kt_slice_new("ns1", "s-1", "s", V4, ":8080/tcp",
				"198.18.1.1,198.18.1.2"));
	kt_put(&k, kt_pod_new("ns1", "p", NODE, "198.18.1.1"));
	kt_synced(&k);
	kt_run(&k);
	tpd_kube_sync_stats(k.sync, &km.sync);
	km.client.lists[TPD_KUBE_POD] = 3;
	km.client.connected[TPD_KUBE_SERVICE] = true;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	tpd_metrics_set_kube(&km);
	assert_int_equal(tpd_metrics_write(path, &h->maps, &gc, src), 0);
	tpd_metrics_set_kube(NULL);
	f = fopen(path, "r");
	assert_non_null(f);
	text = NULL;
	assert_true(getdelim(&text, &len, 0, f) > 0);
	fclose(f);
	assert_non_null(
		strstr(text, "tailplane_kube_objects{kind=\"frontends\"} 2\n"));
	assert_non_null(
		strstr(text, "tailplane_kube_objects{kind=\"backends\"} 2\n"));
	assert_non_null(strstr(
		text, "tailplane_kube_objects{kind=\"identities\"} 1\n"));
	assert_non_null(strstr(
		text, "tailplane_kube_objects{kind=\"pod_addresses\"} 1\n"));
	assert_non_null(strstr(text, "tailplane_kube_synced 1\n"));
	assert_non_null(strstr(
		text,
		"tailplane_kube_api_total{resource=\"pods\",what=\"lists\"} 3\n"));
	assert_non_null(strstr(
		text,
		"tailplane_kube_watch_connected{resource=\"services\"} 1\n"));
	assert_non_null(
		strstr(text, "tailplane_sync_total{source=\"kubernetes\"}"));
	free(text);
	/* off: none of it */
	assert_int_equal(tpd_metrics_write(path, &h->maps, &gc, src), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	text = NULL;
	assert_true(getdelim(&text, &len, 0, f) > 0);
	fclose(f);
	assert_null(strstr(text, "tailplane_kube_"));
	free(text);
	unlink(path);
	kt_ks_free(&k);
}

/* ---- scale ------------------------------------------------------------------------------- */

#define SCALE_SERVICES 10000
#define SCALE_EPS      10 /* per service: 100,000 endpoints */

static double secs_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* VmRSS or VmHWM of this process, in kB. */
static long proc_kb(const char *field)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			kb = atol(line + strlen(field) + 1);
	fclose(f);
	return kb;
}

static struct tpd_kube_object *scale_svc(unsigned int i)
{
	char name[32];
	struct tpd_kube_object *o;

	snprintf(name, sizeof(name), "svc-%u", i);
	o = kt_obj_new(TPD_KUBE_SERVICE, "scale", name);
	o->svc.cluster_ips = calloc(1, sizeof(*o->svc.cluster_ips));
	o->svc.ports = calloc(1, sizeof(*o->svc.ports));
	assert_true(o->svc.cluster_ips && o->svc.ports);
	o->svc.n_cluster_ips = 1;
	o->svc.cluster_ips[0] = pt_addr("198.19.0.0");
	o->svc.cluster_ips[0].w[3] =
		htonl(ntohl(o->svc.cluster_ips[0].w[3]) + i + 1);
	o->svc.n_ports = 1;
	o->svc.ports[0] = (struct tpd_kube_svc_port){
		.name = kt_xstrdup("http"), .proto = IPPROTO_TCP, .port = 80
	};
	return o;
}

/* Service @i's slice: SCALE_EPS endpoints, @skip (< SCALE_EPS) left out. */
static struct tpd_kube_object *scale_slice(unsigned int i, int skip)
{
	char name[32], svc[32];
	struct tpd_kube_object *o;
	int e, n = 0;

	snprintf(name, sizeof(name), "svc-%u-abcde", i);
	snprintf(svc, sizeof(svc), "svc-%u", i);
	o = kt_obj_new(TPD_KUBE_ENDPOINTSLICE, "scale", name);
	kt_obj_label(o, TPD_KUBE_LABEL_SERVICE_NAME, svc);
	o->slice.service = kt_xstrdup(svc);
	o->slice.addr_type = V4;
	o->slice.ports = calloc(1, sizeof(*o->slice.ports));
	o->slice.endpoints = calloc(SCALE_EPS, sizeof(*o->slice.endpoints));
	assert_true(o->slice.ports && o->slice.endpoints);
	o->slice.n_ports = 1;
	o->slice.ports[0] = (struct tpd_kube_ep_port){
		.name = kt_xstrdup("http"), .proto = IPPROTO_TCP, .port = 8080
	};
	for (e = 0; e < SCALE_EPS; e++) {
		struct tpd_kube_endpoint *ep = &o->slice.endpoints[n];
		unsigned int j = i * SCALE_EPS + e;

		if (e == skip)
			continue;
		ep->addrs = calloc(1, sizeof(*ep->addrs));
		assert_non_null(ep->addrs);
		ep->addrs[0] = pt_addr("198.18.0.0");
		ep->addrs[0].w[3] = htonl(ntohl(ep->addrs[0].w[3]) + j % 65536);
		ep->n_addrs = 1;
		ep->ready = ep->serving = true;
		ep->node_name = kt_xstrdup(j % 2 ? NODE : "node-b");
		n++;
	}
	o->slice.n_endpoints = n;
	return o;
}

#define SCALE_PODS 100000

/*
 * The heap a full reconcile may hold beyond what it keeps, a Service (its
 * transients: the frontends wanted, the maps read).  Every Service's
 * frontends and backends wanted at once were about 700 bytes a Service.
 */
#define KS_HEAP_PEAK_PER_SVC 400LL

/* Pod @i with label set @set: app=app-SET plus a churn label. */
static struct tpd_kube_object *scale_pod(unsigned int i, unsigned int set)
{
	char name[32], app[32], hash[16];
	struct tpd_kube_object *o;

	snprintf(name, sizeof(name), "pod-%u", i);
	snprintf(app, sizeof(app), "app-%u", set);
	snprintf(hash, sizeof(hash), "%x", i);
	o = kt_obj_new(TPD_KUBE_POD, "scale", name);
	kt_obj_label(o, "app", app);
	kt_obj_label(o, "pod-template-hash", hash);
	o->pod.node_name = kt_xstrdup(i % 2 ? NODE : "node-b");
	o->pod.ips = calloc(1, sizeof(*o->pod.ips));
	assert_non_null(o->pod.ips);
	o->pod.n_ips = 1;
	/* the test range for pods, IPv6: 100,000 do not fit 198.18.0.0/16 */
	o->pod.ips[0] = pt_addr("fd00:198:18::");
	o->pod.ips[0].w[3] = htonl(i + 1);
	return o;
}

/*
 * 10,000 Services with 100,000 endpoints from empty through the sink to
 * the maps; one endpoint change at that size; a restart at that size.
 * Times and RSS are printed, not asserted (the machine is shared).
 */
static void test_scale(void **state)
{
	struct th *h = *state;
	struct timespec t0;
	double t_sink, t_full, t_one, t_restart;
	long rss0 = proc_kb("VmRSS:");
	long long heap0, heap_kept, heap_more;
	unsigned int i;
	struct ks k = {};

	REQUIRE_BPF();
	kt_ks_open(&k, h);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < SCALE_SERVICES; i++) {
		kt_put(&k, scale_svc(i));
		kt_put(&k, scale_slice(i, -1));
	}
	kt_synced(&k);
	t_sink = secs_since(&t0);
	heap0 = heap_mark();
	kt_run(&k);
	t_full = secs_since(&t0);
	heap_kept = heap_now - heap0;
	heap_more = heap_peak - heap_now;
	assert_int_equal(k.res.svc_added, SCALE_SERVICES);
	assert_int_equal(n_frontends(h, TP_OWNER_KUBERNETES), SCALE_SERVICES);
	print_message(
		"scale: %d services, %d endpoints: objects into the store %.3f s, "
		"to the maps %.3f s in all (reconcile %.3f s)\n",
		SCALE_SERVICES, SCALE_SERVICES * SCALE_EPS, t_sink, t_full,
		k.res.usec / 1e6);
	print_message("scale: the full reconcile's heap: %.1f bytes a service "
		      "kept, %.1f more at its peak\n",
		      (double)heap_kept / SCALE_SERVICES,
		      (double)heap_more / SCALE_SERVICES);
	assert_true(heap_more <= KS_HEAP_PEAK_PER_SVC * SCALE_SERVICES);

	/* one endpoint goes from one slice */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kt_put(&k, scale_slice(4321, 3));
	kt_run(&k);
	t_one = secs_since(&t0);
	assert_int_equal(k.res.svc_changed, 1);
	assert_int_equal(k.res.be_purged, 1);
	print_message(
		"scale: one endpoint change at that size: %.3f ms (event to maps; "
		"reconcile %.3f ms)\n",
		t_one * 1e3, k.res.usec / 1e3);
	print_message("scale: RSS %ld kB (was %ld kB before; peak %ld kB)\n",
		      proc_kb("VmRSS:"), rss0, proc_kb("VmHWM:"));
	kt_ks_close(&k);

	/* a restart over the same maps: everything read, nothing written */
	kt_ks_open(&k, h);
	for (i = 0; i < SCALE_SERVICES; i++) {
		kt_put(&k, scale_svc(i));
		kt_put(&k, scale_slice(i, i == 4321 ? 3 : -1));
	}
	kt_synced(&k);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kt_run(&k);
	t_restart = secs_since(&t0);
	assert_int_equal(
		k.res.svc_added + k.res.svc_changed + k.res.svc_removed, 0);
	print_message(
		"scale: restart reconcile at that size (nothing to write): %.3f s\n",
		t_restart);

	/* 100,000 pods, 1,000 label sets, on top */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < SCALE_PODS; i++)
		kt_put(&k, scale_pod(i, i % 1000));
	kt_run(&k);
	t_full = secs_since(&t0);
	assert_int_equal(k.res.ip_added, SCALE_PODS);
	assert_int_equal(k.res.id_added, 1000);
	print_message(
		"scale: %d pods (1000 identities) into the maps: %.3f s (reconcile %.3f s)\n",
		SCALE_PODS, t_full, k.res.usec / 1e6);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kt_put(&k, scale_pod(77, 1001));
	kt_run(&k);
	t_one = secs_since(&t0);
	assert_int_equal(k.res.ip_added, 1);
	assert_int_equal(k.res.id_added, 1);
	print_message("scale: one pod relabelled at that size: %.3f ms\n",
		      t_one * 1e3);
	print_message(
		"scale: RSS with services and pods %ld kB (peak %ld kB)\n",
		proc_kb("VmRSS:"), proc_kb("VmHWM:"));
	kt_ks_free(&k);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_eventfd),
		cmocka_unit_test(test_store_keeps_what_is_read),
		cmocka_unit_test(test_identity_name),
		T(test_nothing_before_synced),
		T(test_dual_stack_ports_slices),
		T(test_conditions),
		T(test_skipped),
		T(test_expose_affinity_lb),
		T(test_internal_local),
		T(test_external_local),
		T(test_delete_and_relist),
		T(test_restart_writes_nothing),
		T(test_switch_off),
		T(test_pod_identities),
		T(test_static_nat_annotation),
		T(test_purge_udp_now_tcp_later),
		T(test_policy_diff),
		T(test_metrics),
		T(test_scale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
