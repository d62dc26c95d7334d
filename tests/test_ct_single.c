// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One conntrack entry per DNAT flow (ICMP echo: test_datapath.c's
 * icmp_echo): a flow from the tailnet to a service
 * whose backend is in tp_be_frontends (TP_BACKEND_F_INDEXED) takes its
 * flow entry only (TP_CT_F_RINDEX), and its replies find it through the
 * backend tuple's frontends.  Counted entry by entry, the replies
 * compared byte for byte; backend tuples behind several services, the
 * clashes a missing reply key could let through, removal while flows
 * live, flows of the reply-key layout (written before the index), and the
 * memory a flow costs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "gc.h"
#include "heapcount.h"
#include "pkttest.h"
#include "rowtest.h"
#include "service.h"

/* ---- one entry, replies reverse-NATed ----------------------------------- */

struct one_row {
	const char *name;
	const char *client, *vip, *be;
	__u8 proto;
	__u16 vport, bport;
};

static const struct one_row one_rows[] = {
	{ "tcp_v4", CLIENT4, VIP4, "198.18.1.1", IPPROTO_TCP, 80, 8080 },
	{ "tcp_v6", CLIENT6, VIP6, "fd00:198:18::1:1", IPPROTO_TCP, 80, 8080 },
	{ "udp_v4", CLIENT4, VIP4, "198.18.1.1", IPPROTO_UDP, 53, 5353 },
	{ "udp_v6", CLIENT6, VIP6, "fd00:198:18::1:1", IPPROTO_UDP, 53, 5353 },
};

/*
 * A DNAT flow writes its flow entry and nothing else; the backend's reply
 * (backend -> client, found through tp_be_frontends) leaves from the VIP,
 * and is accounted to the flow without writing anything.
 */
static void test_one_entry(void **state)
{
	const struct one_row *r = rt_row();
	struct th *h = *state;
	struct tp_ct_key k =
		pt_ct_key(r->client, 40000, r->vip, r->vport, r->proto);
	__u8 syn = r->proto == IPPROTO_TCP ? PKT_TCP_SYN : 0;
	__u8 synack = r->proto == IPPROTO_TCP ? PKT_TCP_SYN | PKT_TCP_ACK : 0;
	const char *be[] = { r->be };

	REQUIRE_BPF();
	pt_service(h, r->vip, r->vport, r->proto, be, 1, r->bport, NULL, NULL,
		   0, 0);
	pt_expect_dnat(
		h, pt_flow(r->client, 40000, r->vip, r->vport, r->proto, syn),
		r->be, r->bport);
	pt_check_ct_dnat(h, &k, r->be, r->bport,
			 syn ? TP_CT_SYN_SENT : TP_CT_OPEN);
	assert_int_equal(pt_ct_count(h), 1);
	pt_expect_revnat(
		h, pt_flow(r->be, r->bport, r->client, 40000, r->proto, synack),
		r->vip, r->vport);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 1);
	assert_int_equal(pt_ct_count(h), 1);
	assert_int_equal(th_stat(h, TP_STAT_REVNAT), 1);
}

/* ---- one backend tuple behind several services ------------------------ */

static const char *const SHARED_VIPS[] = { "198.19.0.10", "198.19.0.11",
					   "198.19.0.12", "198.19.0.13",
					   "198.19.0.14" };

/* Is the backend of the service at @vip:80/TCP written with the flag? */
static bool backend_indexed(struct th *h, const char *vip)
{
	struct tp_backend be;

	pt_svc_backend(h, vip, 80, IPPROTO_TCP, &be);
	return be.flags & TP_BACKEND_F_INDEXED;
}

/*
 * BE4[0]:8080 behind @n services, a client flow to each (its own port):
 * the first TP_BE_FRONTENDS take one entry each and get their replies
 * from their own VIP; a further service's backend is written without
 * the flag, and its flow takes a reply key and works as before.
 */
static void shared_backend(void **state, unsigned int n)
{
	struct th *h = *state;
	unsigned int i, want = 0;
	struct tp_ct_key k;

	REQUIRE_BPF();
	for (i = 0; i < n; i++)
		pt_service(h, SHARED_VIPS[i], 80, IPPROTO_TCP, BE4, 1, 8080,
			   NULL, NULL, 0, 0);
	for (i = 0; i < n; i++) {
		k = pt_ct_key(CLIENT4, 41000 + i, SHARED_VIPS[i], 80,
			      IPPROTO_TCP);
		pt_expect_dnat(h,
			       pt_flow(CLIENT4, 41000 + i, SHARED_VIPS[i], 80,
				       IPPROTO_TCP, PKT_TCP_SYN),
			       BE4[0], 8080);
		if (i < TP_BE_FRONTENDS) {
			assert_true(backend_indexed(h, SHARED_VIPS[i]));
			pt_check_ct_dnat(h, &k, BE4[0], 8080, TP_CT_SYN_SENT);
			want += 1;
		} else {
			assert_false(backend_indexed(h, SHARED_VIPS[i]));
			pt_check_ct_dnat_keyed(h, &k, BE4[0], 8080,
					       TP_CT_SYN_SENT);
			want += 2;
		}
		assert_int_equal(pt_ct_count(h), want);
	}
	for (i = 0; i < n; i++)
		pt_expect_revnat(h,
				 pt_flow(BE4[0], 8080, CLIENT4, 41000 + i,
					 IPPROTO_TCP,
					 PKT_TCP_SYN | PKT_TCP_ACK),
				 SHARED_VIPS[i], 80);
	assert_int_equal(pt_ct_count(h), want);
	assert_int_equal(th_stat(h, TP_STAT_REVNAT), n);
}

static void test_shared_backend_2(void **state)
{
	shared_backend(state, 2);
}

static void test_shared_backend_4(void **state)
{
	shared_backend(state, 4);
}

static void test_shared_backend_5th_keyed(void **state)
{
	shared_backend(state, 5);
}

/* ---- clashes ------------------------------------------------------------ */

/*
 * The client sends from the port of its live indexed DNAT flow straight
 * to the backend: no reply key holds backend -> client, but the index
 * finds the DNAT flow as that tuple's owner: a clash, and the DNAT flow
 * keeps its replies.
 */
static void test_clash_untranslated_after_indexed(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	pt_web_flow(h);
	assert_int_equal(pt_ct_count(h), 1);
	pt_expect_first_clash(h, FLOWP(CLIENT4, 40000, BE4[0], 8080,
				       IPPROTO_TCP, PKT_TCP_SYN));
	pt_web_reply(h, PKT_TCP_SYN | PKT_TCP_ACK);
	assert_int_equal(pt_web_entry(h).state, TP_CT_SYN_RECV);
	assert_int_equal(pt_ct_count(h), 1);
}

/* The other order: the untranslated flow first, the indexed DNAT flow clashes. */
static void test_clash_indexed_after_untranslated(void **state)
{
	struct th *h = *state;
	struct tp_ct_key ku =
		pt_ct_key(CLIENT4, 40000, BE4[0], 8080, IPPROTO_TCP);

	REQUIRE_BPF();
	pt_web_service(h);
	pt_expect_untouched(
		h, TH_FROM_TAILNET,
		FLOWP(CLIENT4, 40000, BE4[0], 8080, IPPROTO_TCP, PKT_TCP_SYN),
		PASS);
	pt_expect_first_clash(
		h, FLOWP(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN));
	pt_expect_untouched(h, TH_TO_TAILNET,
			    FLOWP(BE4[0], 8080, CLIENT4, 40000, IPPROTO_TCP,
				  PKT_TCP_SYN | PKT_TCP_ACK),
			    PASS);
	assert_int_equal(pt_ct_must(h, &ku).state, TP_CT_SYN_RECV);
	assert_int_equal(pt_ct_count(h), 1);
}

/*
 * The backend sends backend -> client from the tuple of a live indexed
 * DNAT flow's reply: that is the flow's reply (found through the index),
 * reverse-NATed, never a flow of its own.
 */
static void test_backend_egress_is_the_reply(void **state)
{
	struct th *h = *state;
	struct tp_ct_key ke =
		pt_ct_key(BE4[0], 8080, CLIENT4, 40000, IPPROTO_TCP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_web_reply(h, PKT_TCP_ACK);
	assert_int_equal(pt_ct_get(h, &ke, &e), -ENOENT);
	ke.zone = 0;
	assert_int_equal(pt_ct_get(h, &ke, &e), -ENOENT);
	assert_int_equal(pt_web_entry(h).packets[TP_CT_DIR_REPLY], 1);
	assert_int_equal(pt_ct_count(h), 1);
}

/*
 * A reply from the backend to a client port no flow has: the index names
 * the service's frontend, but no flow sits at client:port -> VIP, so it
 * is no reply and is not reverse-NATed (it starts a flow of its own).
 */
static void test_forged_reply_not_translated(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_expect_untouched(h, TH_TO_TAILNET,
			    FLOWP(BE4[0], 8080, CLIENT4, 40001, IPPROTO_TCP,
				  PKT_TCP_SYN | PKT_TCP_ACK),
			    PASS);
	/* nor from another backend port, nor to another client */
	pt_expect_untouched(h, TH_TO_TAILNET,
			    FLOWP(BE4[0], 8081, CLIENT4, 40000, IPPROTO_TCP,
				  PKT_TCP_SYN | PKT_TCP_ACK),
			    PASS);
	pt_expect_untouched(h, TH_TO_TAILNET,
			    FLOWP(BE4[0], 8080, "100.64.0.2", 40000,
				  IPPROTO_TCP, PKT_TCP_SYN | PKT_TCP_ACK),
			    PASS);
	assert_int_equal(th_stat(h, TP_STAT_REVNAT), 0);
	assert_int_equal(pt_web_entry(h).packets[TP_CT_DIR_REPLY], 0);
}

/* ---- removal while the flow lives ---------------------------------------- */

/*
 * The flow's backend leaves the service, then the service goes: the
 * frontend stays in the index while flows may use it, so the flow's
 * replies are still reverse-NATed.
 */
static void test_removed_backend_and_service_keep_replies(void **state)
{
	struct th *h = *state;
	struct tp_svc_key sk = pt_svc_key(VIP4, 80, IPPROTO_TCP);

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_service(h, VIP4, 80, IPPROTO_TCP, &BE4[1], 1, 8080, NULL, NULL, 0,
		   0);
	pt_web_reply(h, PKT_TCP_SYN | PKT_TCP_ACK);
	pt_web_in(h, PKT_TCP_ACK);
	assert_int_equal(tp_service_del(&h->maps, &sk), 0);
	pt_web_reply(h, PKT_TCP_ACK);
	assert_int_equal(pt_web_entry(h).packets[TP_CT_DIR_REPLY], 2);
	assert_int_equal(pt_ct_count(h), 1);
}

/* ---- the index's GC ------------------------------------------------------ */

/* One run of tp_be_frontends' GC at @t: the frontends it took out. */
static unsigned long gc_index(struct th *h, struct tpd_index_gc *g, __u64 t)
{
	unsigned long removed = 99;

	assert_int_equal(tpd_gc_index(&h->maps, g, t, &removed), 0);
	return removed;
}

static bool web_indexed(struct th *h, const char *be)
{
	struct tp_addr b = pt_addr(be), vip = pt_addr(VIP4);

	return pt_be_frontend_has(h, &b, 8080, IPPROTO_TCP, &vip, htons(80));
}

/*
 * The web flow's backend leaves the service, then the service goes: its
 * frontend stays while the flow lives, and goes only in the second run
 * that finds it unconfigured and unused; the new backend's stays while
 * configured, and goes in the second run after the delete.  Every run in
 * between leaves the flow's replies translated.
 */
static void test_gc_index_after_flow_gone(void **state)
{
	struct th *h = *state;
	struct tp_svc_key sk = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tpd_index_gc g = {};
	__u64 late = T0 + (TP_CT_TIMEOUT_SYN + 1) * SEC_NS;

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_service(h, VIP4, 80, IPPROTO_TCP, &BE4[1], 1, 8080, NULL, NULL, 0,
		   0);
	assert_true(web_indexed(h, BE4[1]));
	/* configured or used: nothing goes, however many runs */
	assert_int_equal(gc_index(h, &g, T0 + SEC_NS), 0);
	assert_int_equal(gc_index(h, &g, T0 + 2 * SEC_NS), 0);
	assert_true(web_indexed(h, BE4[0]));
	pt_web_reply(h, PKT_TCP_SYN | PKT_TCP_ACK);
	assert_int_equal(tp_service_del(&h->maps, &sk), 0);
	assert_int_equal(gc_index(h, &g, T0 + 3 * SEC_NS), 0);
	assert_true(web_indexed(h, BE4[0]));
	pt_web_reply(h, PKT_TCP_ACK);
	/*
	 * BE4[1]'s pair, unused since the delete, goes in this second run;
	 * the flow expired: BE4[0]'s is unused for the first time
	 */
	assert_int_equal(gc_index(h, &g, late), 1);
	assert_false(web_indexed(h, BE4[1]));
	assert_true(web_indexed(h, BE4[0]));
	assert_int_equal(gc_index(h, &g, late + SEC_NS), 1);
	assert_false(web_indexed(h, BE4[0]));
	/* the entry went with its last frontend */
	assert_int_equal(bpf_map_get_next_key(h->maps.be_frontends, NULL,
					      &(struct tp_be_key){}),
			 -ENOENT);
	tpd_index_gc_free(&g);
}

/*
 * A frontend found unused once, then used again before the next run (a
 * new flow from a table read before the service went): it stays, and
 * the count starts over.  A slot that goes leaves the entry's other
 * frontends in place.
 */
static void test_gc_index_used_again_stays(void **state)
{
	struct th *h = *state;
	struct tp_svc_key sk = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_ct_key k = pt_ct_key(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP);
	struct tp_addr b = pt_addr(BE4[0]), vip2 = pt_addr("198.19.0.11");
	struct tpd_index_gc g = {};
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_service(h, "198.19.0.11", 80, IPPROTO_TCP, BE4, 1, 8080, NULL, NULL,
		   0, 0);
	e = pt_web_entry(h);
	assert_int_equal(bpf_map_delete_elem(h->maps.ct, &k), 0);
	assert_int_equal(tp_service_del(&h->maps, &sk), 0);
	assert_int_equal(gc_index(h, &g, T0 + SEC_NS), 0);
	/* the flow is back (written from a table read before the delete) */
	assert_int_equal(bpf_map_update_elem(h->maps.ct, &k, &e, BPF_NOEXIST),
			 0);
	assert_int_equal(gc_index(h, &g, T0 + 2 * SEC_NS), 0);
	pt_web_reply(h, PKT_TCP_SYN | PKT_TCP_ACK);
	assert_int_equal(bpf_map_delete_elem(h->maps.ct, &k), 0);
	assert_int_equal(gc_index(h, &g, T0 + 3 * SEC_NS), 0);
	assert_true(web_indexed(h, BE4[0]));
	assert_int_equal(gc_index(h, &g, T0 + 4 * SEC_NS), 1);
	assert_false(web_indexed(h, BE4[0]));
	assert_true(
		pt_be_frontend_has(h, &b, 8080, IPPROTO_TCP, &vip2, htons(80)));
	tpd_index_gc_free(&g);
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* An entry of tp_be_frontends before and after the index GC's two runs. */
struct gc_conf_row {
	__u32 be;	  /* the tuple's address, 198.18.0.@be, port 8080 */
	__u8 proto;	  /* the tuple's protocol */
	__u8 fe[2];	  /* its frontends: 1 + a service of gc_conf_svcs[] */
	__u8 fe_after[2]; /* what stays; none: the entry goes */
};

/* Service i: 198.19.0.(i+1):80 over proto, id i + 1; a UDP one. */
static const __u8 gc_conf_svcs[] = { IPPROTO_TCP, IPPROTO_UDP };

static struct tp_svc_key gc_conf_svc(__u8 i)
{
	struct tp_svc_key k = {};

	tp_addr_from_v4(&k.vip, htonl(0xc6130001 + i));
	k.port = htons(80);
	k.proto = gc_conf_svcs[i];
	return k;
}

static struct tp_be_key gc_conf_tuple(const struct gc_conf_row *r)
{
	struct tp_be_key k = {};

	tp_addr_from_v4(&k.addr, htonl(0xc6120000 + r->be));
	k.port = htons(8080);
	k.proto = r->proto;
	return k;
}

/* @fe (1 + a service, 0 none) as the entry's frontends. */
static struct tp_be_frontends gc_conf_entry(const __u8 fe[2])
{
	struct tp_be_frontends f = {};
	int i;

	for (i = 0; i < 2; i++)
		if (fe[i])
			f.fe[i] = gc_conf_svc(fe[i] - 1);
	return f;
}

/*
 * What configures a pair, the maps written as the writers leave them:
 * a backend row of the frontend's service, with the tuple's address and
 * port, the tuple's protocol that service's; whether or not the service's
 * list (tp_svc_backends) names the row.  Rows: backend id i + 1 is
 * 198.18.0.(i+1):8080 of service gc_conf_backends[i] (7: none).
 */
static void test_gc_index_configured_by_rows(void **state)
{
	static const __u32 gc_conf_backends[] = { 1, 7, 1, 2 };
	static const struct gc_conf_row rows[] = {
		/* a row no list names: configured */
		{ 1, IPPROTO_TCP, { 1 }, { 1 } },
		/* the row's service is gone */
		{ 2, IPPROTO_TCP, { 1 }, {} },
		/* the row's service is over TCP, the tuple UDP */
		{ 3, IPPROTO_UDP, { 1 }, {} },
		/* one service configures the tuple, the other does not */
		{ 3, IPPROTO_TCP, { 1, 2 }, { 1 } },
		{ 4, IPPROTO_UDP, { 2 }, { 2 } },
		/* no row of this address */
		{ 5, IPPROTO_UDP, { 2 }, {} },
	};
	struct th *h = *state;
	struct tp_be_frontends f, want;
	struct tpd_index_gc g = {};
	struct tp_backend be = {};
	struct tp_svc svc = {};
	struct tp_svc_key sk;
	struct tp_be_key bk;
	__u32 id;
	size_t i;

	REQUIRE_BPF();
	for (i = 0; i < sizeof(gc_conf_svcs); i++) {
		sk = gc_conf_svc(i);
		svc.id = i + 1;
		assert_int_equal(bpf_map_update_elem(h->maps.services, &sk,
						     &svc, BPF_NOEXIST),
				 0);
	}
	for (i = 0; i < ARRAY_SIZE(gc_conf_backends); i++) {
		id = i + 1;
		tp_addr_from_v4(&be.addr, htonl(0xc6120000 + id));
		be.port = htons(8080);
		be.svc_id = gc_conf_backends[i];
		assert_int_equal(bpf_map_update_elem(h->maps.backends, &id, &be,
						     BPF_NOEXIST),
				 0);
	}
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		bk = gc_conf_tuple(&rows[i]);
		f = gc_conf_entry(rows[i].fe);
		assert_int_equal(bpf_map_update_elem(h->maps.be_frontends, &bk,
						     &f, BPF_NOEXIST),
				 0);
	}
	assert_int_equal(gc_index(h, &g, T0 + SEC_NS), 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(gc_index(h, &g, T0 + 2 * SEC_NS), 4);
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		bk = gc_conf_tuple(&rows[i]);
		want = gc_conf_entry(rows[i].fe_after);
		if (!rows[i].fe_after[0]) {
			assert_int_equal(bpf_map_lookup_elem(
						 h->maps.be_frontends, &bk, &f),
					 -ENOENT);
			continue;
		}
		assert_int_equal(
			bpf_map_lookup_elem(h->maps.be_frontends, &bk, &f), 0);
		assert_memory_equal(&f, &want, sizeof(f));
	}
	tpd_index_gc_free(&g);
}

#define GC_SVCS 40 /* services of TP_MAX_SVC_BACKENDS backends each */

static double gc_index_ms(struct th *h, struct tpd_index_gc *g, __u64 t,
			  unsigned long *removed)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	*removed = gc_index(h, g, t);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
}

/*
 * 10,240 backend tuples of 40 full services: the GC reads each service's
 * backends once, not once per tuple (that was 2.6 million lookups a run,
 * under the writers' lock, every GC interval).  Configured pairs stay
 * however many runs; a deleted service's 256 go in the second run after.
 * The times are printed, not asserted.
 */
static void test_gc_index_many_backends(void **state)
{
	struct tp_backend_spec bs[TP_MAX_SVC_BACKENDS] = {};
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct th *h = *state;
	struct tpd_index_gc g = {};
	unsigned long removed;
	struct tp_svc_key sk;
	char vip[32], be[32];
	double ms[4];
	int i, j;

	REQUIRE_BPF();
	for (i = 0; i < GC_SVCS; i++) {
		for (j = 0; j < TP_MAX_SVC_BACKENDS; j++) {
			snprintf(be, sizeof(be), "198.18.%d.%d", 100 + i, j);
			bs[j].addr = pt_addr(be);
			bs[j].port = htons(8080);
			bs[j].weight = 1;
			bs[j].state = TP_BACKEND_ACTIVE;
		}
		snprintf(vip, sizeof(vip), "198.19.1.%d", i);
		sk = pt_svc_key(vip, 80, IPPROTO_TCP);
		assert_int_equal(tp_service_set(&h->maps, &sk, &spec, bs,
						TP_MAX_SVC_BACKENDS),
				 0);
	}
	ms[0] = gc_index_ms(h, &g, T0 + SEC_NS, &removed);
	assert_int_equal(removed, 0);
	ms[1] = gc_index_ms(h, &g, T0 + 2 * SEC_NS, &removed);
	assert_int_equal(removed, 0);
	assert_int_equal(tp_service_del(&h->maps, &sk), 0);
	ms[2] = gc_index_ms(h, &g, T0 + 3 * SEC_NS, &removed);
	assert_int_equal(removed, 0);
	ms[3] = gc_index_ms(h, &g, T0 + 4 * SEC_NS, &removed);
	assert_int_equal(removed, TP_MAX_SVC_BACKENDS);
	assert_true(pt_be_frontend_has(h, &bs[0].addr, 8080, IPPROTO_TCP,
				       &sk.vip, htons(80)) == false);
	printf("index GC of %d backend tuples: %.1f / %.1f ms, "
	       "with one service deleted %.1f / %.1f ms\n",
	       GC_SVCS * TP_MAX_SVC_BACKENDS, ms[0], ms[1], ms[2], ms[3]);
	tpd_index_gc_free(&g);
}

/* Start the resident peak (VmHWM) over at the resident size now. */
static bool rss_peak_reset(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	bool ok;

	if (!f)
		return false;
	ok = fputs("5", f) >= 0;
	return !fclose(f) && ok;
}

#define GCM_SVCS	   10000 /* the Kubernetes source's scale test */
#define GCM_BACKENDS	   10	/* backends a service: 100,000 backend tuples */
#define GCM_HEAP_PER_TUPLE 48LL /* heap bytes one GC run may hold a tuple */

/*
 * Service @i of the scale test and its backend @j, written straight into
 * tp_services, tp_backends and tp_be_frontends as the writers leave
 * them (what the index GC reads; no Maglev tables).
 */
static struct tp_svc_key gcm_svc_key(__u32 i)
{
	struct tp_svc_key k = {};

	tp_addr_from_v4(&k.vip, htonl(0x0a600000 + i)); /* 10.96.0.0/12 */
	k.port = htons(80);
	k.proto = IPPROTO_TCP;
	return k;
}

static void gcm_fill(struct th *h)
{
	struct tp_svc svc = {};
	struct tp_backend be = {};
	struct tp_be_frontends f = {};
	struct tp_svc_key sk;
	struct tp_be_key bk;
	__u32 i, j, id;

	for (i = 0; i < GCM_SVCS; i++) {
		sk = gcm_svc_key(i);
		svc.id = i + 1;
		assert_int_equal(bpf_map_update_elem(h->maps.services, &sk,
						     &svc, BPF_NOEXIST),
				 0);
		f.fe[0] = sk;
		for (j = 0; j < GCM_BACKENDS; j++) {
			id = i * GCM_BACKENDS + j + 1;
			tp_addr_from_v4(&be.addr, htonl(0x0a800000 + id));
			be.port = htons(8080);
			be.state = TP_BACKEND_ACTIVE;
			be.svc_id = svc.id;
			assert_int_equal(bpf_map_update_elem(h->maps.backends,
							     &id, &be,
							     BPF_NOEXIST),
					 0);
			bk = tp_be_key_of(&be, IPPROTO_TCP);
			assert_int_equal(
				bpf_map_update_elem(h->maps.be_frontends, &bk,
						    &f, BPF_NOEXIST),
				0);
		}
	}
}

/*
 * One index GC run at 10,000 services and 100,000 backend tuples (one
 * service gone: its 10 frontends are the candidates, walked against
 * conntrack): the most heap it holds above what it started with, its
 * resident peak, its time.  The daemon runs it every GC interval; it read
 * the whole index and two arrays of pairs (20-29 MB).
 */
static double gc_index_measured(struct th *h, struct tpd_index_gc *g, __u64 t,
				unsigned long *removed, long long *heap,
				long long *rss_kib)
{
	long long base, rss;
	double ms;

	malloc_trim(0);
	*rss_kib = -1;
	rss = rss_peak_reset() ? tp_proc_field("/proc/self/status", "VmRSS")
			       : -1;
	base = heap_mark();
	ms = gc_index_ms(h, g, t, removed);
	*heap = heap_peak - base;
	if (rss >= 0)
		*rss_kib = tp_proc_field("/proc/self/status", "VmHWM") - rss;
	return ms;
}

static void test_gc_index_memory_100k(void **state)
{
	struct th *h = *state;
	struct tp_svc_key gone = gcm_svc_key(GCM_SVCS / 2);
	struct tpd_index_gc g = {};
	unsigned long removed;
	long long heap[2], base;
	long long rss[2];
	double ms[2];

	REQUIRE_BPF();
	gcm_fill(h);
	/* every pair configured: nothing found, and nothing kept */
	base = heap_mark();
	assert_int_equal(gc_index(h, &g, T0), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(heap_now, base);
	assert_int_equal(bpf_map_delete_elem(h->maps.services, &gone), 0);
	ms[0] = gc_index_measured(h, &g, T0 + SEC_NS, &removed, &heap[0],
				  &rss[0]);
	assert_int_equal(removed, 0);
	assert_int_equal(g.n, GCM_BACKENDS);
	ms[1] = gc_index_measured(h, &g, T0 + 2 * SEC_NS, &removed, &heap[1],
				  &rss[1]);
	assert_int_equal(removed, GCM_BACKENDS);
	printf("index GC at %d services, %d backend tuples: heap peak "
	       "+%.2f / +%.2f MB, resident peak +%.2f / +%.2f MiB, "
	       "%.1f / %.1f ms\n",
	       GCM_SVCS, GCM_SVCS * GCM_BACKENDS, heap[0] / 1e6, heap[1] / 1e6,
	       rss[0] / 1024.0, rss[1] / 1024.0, ms[0], ms[1]);
	/* the configured set, 24 bytes a row, doubled as it grows (was 331) */
	assert_true(heap[0] <= GCM_HEAP_PER_TUPLE * GCM_SVCS * GCM_BACKENDS);
	assert_true(heap[1] <= GCM_HEAP_PER_TUPLE * GCM_SVCS * GCM_BACKENDS);
	tpd_index_gc_free(&g);
}

/* ---- upgrade: flows of the reply-key layout --------------------------- */

/*
 * A DNAT flow written by the programs before the index: its flow entry
 * (TP_CT_F_DNAT alone) and its reply key, its backend without the flag
 * and no index entry.  Its replies are still reverse-NATed, through the
 * reply key; the same with the backend indexed since (a loader's sync).
 */
static void old_layout_flow(void **state, bool indexed_since)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP);
	struct tp_ct_entry e = { .nat_addr = pt_addr(BE4[0]),
				 .nat_port = htons(8080),
				 .state = TP_CT_SYN_SENT,
				 .flags = TP_CT_F_DNAT,
				 .svc_id = 1,
				 .backend_id = 1,
				 .ifindex = (__u32)h->l3_ifindex,
				 .expires_s = TP_CT_SEC(T0) + 60,
				 .created_s = TP_CT_SEC(T0),
				 .verdict = TP_VERDICT_ALLOW };

	REQUIRE_BPF();
	pt_web_service(h);
	if (!indexed_since)
		pt_unindex(h);
	e.packets[TP_CT_DIR_ORIG] = 1;
	pt_ct_put_flow(h->maps.ct, &k, &e, NULL, BPF_NOEXIST);
	assert_int_equal(pt_ct_count(h), 2);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, 40000, IPPROTO_TCP,
				 PKT_TCP_SYN | PKT_TCP_ACK),
			 VIP4, 80);
	pt_web_in(h, PKT_TCP_ACK);
	assert_int_equal(pt_web_entry(h).state, TP_CT_ESTABLISHED);
	pt_check_ct_dnat_keyed(h, &k, BE4[0], 8080, TP_CT_ESTABLISHED);
	assert_int_equal(pt_ct_count(h), 2);
}

/*
 * Backends of pins from before the index (no flag, no index entry): the
 * loader's start (tp_service_frontends_index()) indexes and flags every
 * configured one, and their next flows take one entry.
 */
static void test_start_indexes_old_backends(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP);

	REQUIRE_BPF();
	pt_web_service(h);
	pt_service(h, "198.19.0.11", 80, IPPROTO_TCP, &BE4[1], 1, 8080, NULL,
		   NULL, 0, 0);
	pt_unindex(h);
	assert_false(backend_indexed(h, VIP4));
	assert_int_equal(tp_service_frontends_index(&h->maps), 2);
	assert_true(backend_indexed(h, "198.19.0.11"));
	assert_true(backend_indexed(h, VIP4));
	/* a second start finds nothing left to do */
	assert_int_equal(tp_service_frontends_index(&h->maps), 0);
	pt_web_in(h, PKT_TCP_SYN);
	pt_check_ct_dnat(h, &k, BE4[0], 8080, TP_CT_SYN_SENT);
	assert_int_equal(pt_ct_count(h), 1);
}

/* Is SHARED_VIPS[@i]:80 in BE4[0]:8080's tp_be_frontends entry? */
static bool shared_vip_indexed(struct th *h, unsigned int i)
{
	struct tp_addr be = pt_addr(BE4[0]), vip = pt_addr(SHARED_VIPS[i]);

	return pt_be_frontend_has(h, &be, 8080, IPPROTO_TCP, &vip, htons(80));
}

/*
 * The start's pass over a backend tuple whose tp_be_frontends entry it
 * finds in part: BE4[0]:8080 behind five services, the entry holding
 * the first two of them, the third's backend unflagged and the fourth's
 * flagged without its frontend.  The pass fills the entry's free slots
 * from the services left, and afterwards a backend is flagged exactly
 * when its frontend is in the entry: four, one of the last three left
 * out.  A second pass changes nothing.
 */
static void test_start_fills_partial_index(void **state)
{
	struct th *h = *state;
	struct tp_be_key bk = { .addr = pt_addr(BE4[0]),
				.port = htons(8080),
				.proto = IPPROTO_TCP };
	struct tp_be_frontends f;
	struct tp_backend be;
	unsigned int i, n = 0;
	int flagged;
	__u32 id;

	REQUIRE_BPF();
	for (i = 0; i < 5; i++)
		pt_service(h, SHARED_VIPS[i], 80, IPPROTO_TCP, BE4, 1, 8080,
			   NULL, NULL, 0, 0);
	assert_int_equal(bpf_map_lookup_elem(h->maps.be_frontends, &bk, &f), 0);
	for (i = 2; i < TP_BE_FRONTENDS; i++)
		memset(&f.fe[i], 0, sizeof(f.fe[i]));
	assert_int_equal(
		bpf_map_update_elem(h->maps.be_frontends, &bk, &f, BPF_EXIST),
		0);
	id = pt_svc_backend(h, SHARED_VIPS[2], 80, IPPROTO_TCP, &be);
	be.flags = 0;
	assert_int_equal(
		bpf_map_update_elem(h->maps.backends, &id, &be, BPF_EXIST), 0);
	assert_true(backend_indexed(h, SHARED_VIPS[3]));
	assert_false(shared_vip_indexed(h, 3));

	flagged = tp_service_frontends_index(&h->maps);
	/* two of the last three take the two free slots */
	assert_true(flagged >= 1 && flagged <= 2);
	for (i = 0; i < 5; i++) {
		assert_int_equal(backend_indexed(h, SHARED_VIPS[i]),
				 shared_vip_indexed(h, i));
		n += shared_vip_indexed(h, i);
	}
	assert_int_equal(n, TP_BE_FRONTENDS);
	assert_true(shared_vip_indexed(h, 0) && shared_vip_indexed(h, 1));
	assert_int_equal(tp_service_frontends_index(&h->maps), 0);
}

static void test_old_layout_flow_keeps_replies(void **state)
{
	old_layout_flow(state, false);
}

static void test_old_layout_flow_backend_indexed_since(void **state)
{
	old_layout_flow(state, true);
}

/* ---- memory ------------------------------------------------------------- */

/*
 * The scale requirement: 1,000,000 flows at most 192 bytes each of map
 * memory, the kernel's overhead included.  A table as tp_ct is made,
 * with 1,000,000 entries, charged as bpftool reads it (fdinfo memlock).
 */
static void test_memory_million_flows(void **state)
{
	struct th *h = *state;
	const __u32 flows = 1000000;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	long long memlock;
	int fd;

	REQUIRE_BPF();
	assert_int_equal(bpf_obj_get_info_by_fd(h->maps.ct, &info, &len), 0);
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = info.map_flags);
	fd = bpf_map_create(info.type, "tp_ct_1m", info.key_size,
			    info.value_size, flows, &o);
	assert_true(fd >= 0);
	memlock = tp_fdinfo_field(fd, "memlock");
	close(fd);
	printf("tp_ct of %u entries: memlock %lld, %.2f bytes a flow\n", flows,
	       memlock, (double)memlock / flows);
	assert_true(memlock > 0);
	assert_true(memlock / flows <= 192LL);
}

/*
 * What tp_be_frontends costs a backend tuple (docs/tailplaned.8's memory
 * formula): a map as it is made, its memlock empty and with 4096 backend
 * tuples (a hash without preallocation: charged as entries come).
 */
static void test_memory_index_per_backend(void **state)
{
	struct th *h = *state;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), i;
	const __u32 n = 4096;
	struct tp_be_frontends v = {};
	struct tp_be_key k = {};
	long long empty, full;
	int fd;

	REQUIRE_BPF();
	assert_int_equal(
		bpf_obj_get_info_by_fd(h->maps.be_frontends, &info, &len), 0);
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = info.map_flags);
	fd = bpf_map_create(info.type, "tp_befe_cost", info.key_size,
			    info.value_size, info.max_entries, &o);
	assert_true(fd >= 0);
	empty = tp_fdinfo_field(fd, "memlock");
	v.fe[0].proto = IPPROTO_TCP;
	for (i = 0; i < n; i++) {
		k.addr.w[3] = htonl(i + 1);
		k.port = htons(8080);
		k.proto = IPPROTO_TCP;
		assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST),
				 0);
	}
	full = tp_fdinfo_field(fd, "memlock");
	close(fd);
	printf("tp_be_frontends, max_entries %u: memlock %lld empty, %lld "
	       "with %u backend tuples: %lld bytes a tuple\n",
	       info.max_entries, empty, full, n, (full - empty) / n);
	if (full == empty) {
		/* before Linux 6.4 memlock is a formula of max_entries */
		print_message("skipped: this kernel's memlock does not count "
			      "a hash's elements\n");
		skip();
	}
	assert_true(full > empty);
	/* an element: 48-byte header, 24-byte key, 80-byte value, list node */
	assert_true((full - empty) / n <= 256);
}

/* N DNAT flows from N client ports occupy N entries, their replies all found. */
static void test_n_dnat_flows_n_entries(void **state)
{
	struct th *h = *state;
	const unsigned int n = 256;
	unsigned int i;

	REQUIRE_BPF();
	pt_web_service(h);
	for (i = 0; i < n; i++)
		pt_expect_dnat(h,
			       pt_flow(CLIENT4, 30000 + i, VIP4, 80,
				       IPPROTO_TCP, PKT_TCP_SYN),
			       BE4[0], 8080);
	assert_int_equal(pt_ct_count(h), n);
	for (i = 0; i < n; i++)
		pt_expect_revnat(h,
				 pt_flow(BE4[0], 8080, CLIENT4, 30000 + i,
					 IPPROTO_TCP,
					 PKT_TCP_SYN | PKT_TCP_ACK),
				 VIP4, 80);
	assert_int_equal(pt_ct_count(h), n);
	printf("%u DNAT flows: %u entries, %u bytes a flow\n", n,
	       pt_ct_count(h), (unsigned int)TP_CT_ENTRY_COST);
}

/* ---- one flow's counters on two CPUs at once ---------------------------- */

/*
 * tp_ct_account() counts with plain adds (625981e): the two directions'
 * counters are separate fields (32-bit packets, 64-bit bytes, never
 * merged into one wider access), so a flow's two directions on two CPUs
 * count exactly; one direction on two CPUs may lose counts, never make
 * them.  BPF_PROG_TEST_RUN runs on the calling CPU: two threads pinned
 * to two CPUs push one established flow's packets concurrently.
 */
#define ACCT_PKTS    200000	/* per thread, */
#define ACCT_NS	     SEC_NS	/* or until this long */
#define ACCT_LEN_IN  (40 + 100) /* the client's segment, skb->len */
#define ACCT_LEN_OUT (40 + 700) /* the backend's */

static const char ACCT_PAYLOAD[700];

struct acct_thread {
	struct th *h;
	enum th_hook hook;
	struct pkt in;
	int cpu;
	pthread_barrier_t *go;
	unsigned long sent, bad; /* packets run; errors or verdicts not PASS */
};

static __u64 acct_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * SEC_NS + (__u64)ts.tv_nsec;
}

/* No cmocka here (not thread-safe): the caller checks the counts. */
static void *acct_run(void *arg)
{
	struct acct_thread *t = arg;
	cpu_set_t set;
	struct pkt out;
	__u64 end;
	int verdict;

	CPU_ZERO(&set);
	CPU_SET(t->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		t->bad = 1;
	pthread_barrier_wait(t->go);
	end = acct_now_ns() + ACCT_NS;
	while (!t->bad && t->sent < ACCT_PKTS &&
	       ((t->sent & 1023) || acct_now_ns() < end)) {
		if (th_run(t->h, t->hook, t->h->l3_ifindex, t->in.data,
			   t->in.len, out.data, &out.len, &verdict) ||
		    verdict != PASS)
			t->bad++;
		t->sent++;
	}
	return NULL;
}

/* The first two CPUs this process may run on, false with fewer. */
static bool acct_two_cpus(int cpu[2])
{
	cpu_set_t set;
	int i, n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return false;
	for (i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cpu[n++] = i;
	return n == 2;
}

/*
 * The web flow established (SYN, SYN|ACK, ACK), then the client's
 * segments (@hook[i] TH_FROM_TAILNET) or the backend's (TH_TO_TAILNET)
 * from two threads on two CPUs at once.  *@before: the entry after the
 * handshake; *@after: after both threads; @sent[d]: direction d's
 * packets the threads ran.
 */
static void acct_race(struct th *h, const enum th_hook hook[2],
		      struct tp_ct_entry *before, struct tp_ct_entry *after,
		      unsigned long sent[2])
{
	struct pkt_spec in = pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP,
				     PKT_TCP_ACK),
			out = pt_flow(BE4[0], 8080, CLIENT4, 40000, IPPROTO_TCP,
				      PKT_TCP_ACK);
	struct acct_thread t[2] = { 0 };
	pthread_barrier_t go;
	pthread_t tid[2];
	__u64 hits;
	int cpu[2], i;

	REQUIRE_BPF();
	if (!acct_two_cpus(cpu)) {
		print_message("skipped: one CPU, no two packets at once\n");
		skip();
	}
	pt_web_flow(h);
	pt_web_reply(h, PKT_TCP_SYN | PKT_TCP_ACK);
	pt_web_in(h, PKT_TCP_ACK);
	*before = pt_web_entry(h);
	assert_int_equal(before->state, TP_CT_ESTABLISHED);
	hits = th_stat(h, TP_STAT_CT_HIT);

	in.payload = out.payload = ACCT_PAYLOAD;
	in.payload_len = ACCT_LEN_IN - 40;
	out.payload_len = ACCT_LEN_OUT - 40;
	assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
	for (i = 0; i < 2; i++) {
		t[i].h = h;
		t[i].hook = hook[i];
		t[i].cpu = cpu[i];
		t[i].go = &go;
		pt_build(hook[i] == TH_FROM_TAILNET ? &in : &out, &t[i].in);
		assert_int_equal(t[i].in.len, hook[i] == TH_FROM_TAILNET
						      ? ACCT_LEN_IN
						      : ACCT_LEN_OUT);
	}
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&tid[i], NULL, acct_run, &t[i]),
				 0);
	sent[0] = sent[1] = 0;
	for (i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(t[i].bad, 0);
		sent[hook[i] == TH_FROM_TAILNET ? TP_CT_DIR_ORIG
						: TP_CT_DIR_REPLY] += t[i].sent;
	}
	pthread_barrier_destroy(&go);
	/* every packet through the flow's path, counted per CPU exactly */
	assert_int_equal(th_stat(h, TP_STAT_CT_HIT),
			 hits + t[0].sent + t[1].sent);
	*after = pt_web_entry(h);
	/* the rest of the entry as the handshake left it */
	assert_int_equal(after->state, TP_CT_ESTABLISHED);
	assert_int_equal(after->verdict, before->verdict);
	assert_int_equal(after->flags, before->flags);
	assert_int_equal(after->tcp_flags[0], before->tcp_flags[0]);
	assert_int_equal(after->tcp_flags[1], before->tcp_flags[1]);
	assert_int_equal(after->expires_s, before->expires_s);
	assert_memory_equal(&after->nat_addr, &before->nat_addr,
			    sizeof(after->nat_addr));
	assert_int_equal(after->nat_port, before->nat_port);
}

/* Direction @d's counters: at most what was sent, and more than before. */
static unsigned long acct_check_bound(const struct tp_ct_entry *before,
				      const struct tp_ct_entry *after, int d,
				      unsigned long sent, __u64 len)
{
	__u64 got = after->packets[d] - before->packets[d],
	      bytes = after->bytes[d] - before->bytes[d];

	/* 32-bit packets: the sums stay far below 2^32 */
	assert_true(after->packets[d] >= before->packets[d]);
	assert_true(got > 0);
	assert_true(got <= sent);
	assert_true(bytes > 0);
	assert_true(bytes <= sent * len);
	/* each add whole, never torn: a multiple of the packet's length */
	assert_int_equal(bytes % len, 0);
	return sent - got;
}

/* Opposite directions on two CPUs: both counted exactly. */
static void test_acct_two_cpus_opposite_exact(void **state)
{
	const enum th_hook hook[2] = { TH_FROM_TAILNET, TH_TO_TAILNET };
	struct tp_ct_entry b, a;
	unsigned long sent[2];

	acct_race(*state, hook, &b, &a, sent);
	print_message("opposite directions: %lu and %lu packets\n", sent[0],
		      sent[1]);
	assert_int_equal(a.packets[TP_CT_DIR_ORIG],
			 b.packets[TP_CT_DIR_ORIG] + sent[TP_CT_DIR_ORIG]);
	assert_int_equal(a.packets[TP_CT_DIR_REPLY],
			 b.packets[TP_CT_DIR_REPLY] + sent[TP_CT_DIR_REPLY]);
	assert_int_equal(a.bytes[TP_CT_DIR_ORIG],
			 b.bytes[TP_CT_DIR_ORIG] +
				 (__u64)sent[TP_CT_DIR_ORIG] * ACCT_LEN_IN);
	assert_int_equal(a.bytes[TP_CT_DIR_REPLY],
			 b.bytes[TP_CT_DIR_REPLY] +
				 (__u64)sent[TP_CT_DIR_REPLY] * ACCT_LEN_OUT);
}

/*
 * One direction (@hook) on two CPUs: its counters may lose counts (the
 * bound: at most what was sent, more than before), never make them; the
 * other direction's stay as they were, the answered mark (bytes[REPLY])
 * nonzero.
 */
static void acct_same_direction(void **state, enum th_hook hook)
{
	const enum th_hook hooks[2] = { hook, hook };
	int d = hook == TH_FROM_TAILNET ? TP_CT_DIR_ORIG : TP_CT_DIR_REPLY;
	__u64 len = d == TP_CT_DIR_ORIG ? ACCT_LEN_IN : ACCT_LEN_OUT;
	struct tp_ct_entry b, a;
	unsigned long sent[2], lost;

	acct_race(*state, hooks, &b, &a, sent);
	lost = acct_check_bound(&b, &a, d, sent[d], len);
	print_message(
		"same direction %d: %lu of %lu packets lost, %llu of "
		"%llu bytes\n",
		d, lost, sent[d],
		(unsigned long long)(sent[d] * len - (a.bytes[d] - b.bytes[d])),
		(unsigned long long)(sent[d] * len));
	assert_int_equal(a.packets[!d], b.packets[!d]);
	assert_int_equal(a.bytes[!d], b.bytes[!d]);
	assert_true(a.bytes[TP_CT_DIR_REPLY] != 0);
}

static void test_acct_two_cpus_same_orig_bound(void **state)
{
	acct_same_direction(state, TH_FROM_TAILNET);
}

static void test_acct_two_cpus_same_reply_bound(void **state)
{
	acct_same_direction(state, TH_TO_TAILNET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(one_rows, 0, test_one_entry),
		RT_TEST(one_rows, 1, test_one_entry),
		RT_TEST(one_rows, 2, test_one_entry),
		RT_TEST(one_rows, 3, test_one_entry),
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
		T(test_shared_backend_2),
		T(test_shared_backend_4),
		T(test_shared_backend_5th_keyed),
		T(test_clash_untranslated_after_indexed),
		T(test_clash_indexed_after_untranslated),
		T(test_backend_egress_is_the_reply),
		T(test_forged_reply_not_translated),
		T(test_removed_backend_and_service_keep_replies),
		T(test_gc_index_after_flow_gone),
		T(test_gc_index_used_again_stays),
		T(test_gc_index_configured_by_rows),
		T(test_gc_index_many_backends),
		T(test_gc_index_memory_100k),
		T(test_start_indexes_old_backends),
		T(test_start_fills_partial_index),
		T(test_old_layout_flow_keeps_replies),
		T(test_old_layout_flow_backend_indexed_since),
		T(test_memory_million_flows),
		T(test_memory_index_per_backend),
		T(test_n_dnat_flows_n_entries),
		T(test_acct_two_cpus_opposite_exact),
		T(test_acct_two_cpus_same_orig_bound),
		T(test_acct_two_cpus_same_reply_bound),
	};

	/* TP_TEST_FILTER=test_acct_*: those tests only */
	if (getenv("TP_TEST_FILTER"))
		cmocka_set_test_filter(getenv("TP_TEST_FILTER"));

	if (RT_MISSING(tests, one_rows))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
