// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet tests of the datapath through BPF_PROG_TEST_RUN: map state and a
 * packet in; the verdict, the whole output packet (byte for byte, built
 * independently by tests/pktgen.c) and the map state out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "rowtest.h"
#include "service.h"
#include "slab.h"

/*
 * test_@test_v4 and test_@test_v6: @fn(state, client, VIP, backend) with
 * the addresses of each family.
 */
#define V4_AND_V6(test, fn)                        \
	static void test_##test##_v4(void **state) \
	{                                          \
		fn(state, CLIENT4, VIP4, BE4[0]);  \
	}                                          \
	static void test_##test##_v6(void **state) \
	{                                          \
		fn(state, CLIENT6, VIP6, BE6[0]);  \
	}

/* ---- DNAT and reverse NAT ------------------------------------------------ */

static void dnat_tcp(void **state, const char *client, const char *vip,
		     const char *be)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(client, 40000, vip, 80, IPPROTO_TCP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_service(h, vip, 80, IPPROTO_TCP, &be, 1, 8080, NULL, NULL, 0, 0);
	pt_expect_dnat(
		h, pt_flow(client, 40000, vip, 80, IPPROTO_TCP, PKT_TCP_SYN),
		be, 8080);
	pt_check_ct_dnat(h, &k, be, 8080, TP_CT_SYN_SENT);

	assert_int_equal(pt_ct_get(h, &k, &e), 0);
	assert_int_equal(e.packets[0], 1);
	assert_int_equal(e.created_s, TP_CT_SEC(T0));
	assert_int_equal(e.expires_s, TP_CT_SEC(T0) + TP_CT_TIMEOUT_SYN);
	assert_int_equal(e.tcp_flags[0], PKT_TCP_SYN);
	assert_int_equal(pt_ct_count(h), 1); /* no reply key */
	assert_int_equal(th_stat(h, TP_STAT_DNAT), 1);
	assert_int_equal(th_stat(h, TP_STAT_CT_NEW), 1);
}

V4_AND_V6(dnat_tcp, dnat_tcp)

static void udp_port_translation(void **state, const char *client,
				 const char *vip, const char *be)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(client, 5000, vip, 53, IPPROTO_UDP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_service(h, vip, 53, IPPROTO_UDP, &be, 1, 5353, NULL, NULL, 0, 0);
	pt_expect_dnat(h, pt_flow(client, 5000, vip, 53, IPPROTO_UDP, 0), be,
		       5353);
	pt_check_ct_dnat(h, &k, be, 5353, TP_CT_OPEN);
	pt_expect_revnat(h, pt_flow(be, 5353, client, 5000, IPPROTO_UDP, 0),
			 vip, 53);
	assert_int_equal(pt_ct_get(h, &k, &e), 0);
	assert_int_equal(e.state, TP_CT_REPLIED);
	assert_int_equal(e.packets[0], 1);
	assert_int_equal(e.packets[1], 1);
	assert_int_equal(th_stat(h, TP_STAT_REVNAT), 1);
	/* a second packet of the flow takes conntrack, not the service */
	pt_expect_dnat(h, pt_flow(client, 5000, vip, 53, IPPROTO_UDP, 0), be,
		       5353);
	assert_int_equal(th_stat(h, TP_STAT_CT_HIT), 2);
	assert_int_equal(th_stat(h, TP_STAT_CT_NEW), 1);
}

V4_AND_V6(udp_port_translation, udp_port_translation)

static void test_udp_zero_checksum(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp = pt_flow(CLIENT4, 5000, VIP4, 53, IPPROTO_UDP, 0);

	REQUIRE_BPF();
	pt_service(h, VIP4, 53, IPPROTO_UDP, BE4, 1, 5353, NULL, NULL, 0, 0);
	sp.udp_zero_csum = 1;
	pt_expect_dnat(h, sp, BE4[0], 5353);
}

static void test_reply_reverse_nat_tcp(void **state)
{
	struct th *h = *state;
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_web_reply(h, PKT_TCP_SYN | PKT_TCP_ACK);
	e = pt_web_entry(h);
	assert_int_equal(e.state, TP_CT_SYN_RECV);
	assert_int_equal(e.tcp_flags[1], PKT_TCP_SYN | PKT_TCP_ACK);
	/* a packet from the backend to another client port is no reply */
	pt_expect_untouched(
		h, TH_TO_TAILNET,
		FLOWP(BE4[0], 8080, CLIENT4, 40001, IPPROTO_TCP, PKT_TCP_ACK),
		PASS);
}

static void test_non_service_untouched(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp = pt_flow(CLIENT4, 40000, "198.19.0.11", 80,
				     IPPROTO_TCP, PKT_TCP_SYN);
	struct tp_ct_key k =
		pt_ct_key(CLIENT4, 40000, "198.19.0.11", 80, IPPROTO_TCP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_web_service(h);
	pt_expect_untouched(h, TH_FROM_TAILNET, &sp, PASS);
	/* same VIP, other port; same VIP and port, other protocol */
	sp.daddr = VIP4;
	sp.dport = 81;
	pt_expect_untouched(h, TH_FROM_TAILNET, &sp, PASS);
	sp = pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_UDP, 0);
	pt_expect_untouched(h, TH_FROM_TAILNET, &sp, PASS);
	/* tracked, not translated */
	assert_int_equal(pt_ct_get(h, &k, &e), 0);
	assert_int_equal(e.flags, 0);
	assert_int_equal(e.state, TP_CT_SYN_SENT);
	assert_int_equal(th_stat(h, TP_STAT_DNAT), 0);
	assert_int_equal(th_stat(h, TP_STAT_PASS), 3);
}

/* ---- conntrack memory ------------------------------------------------------ */

/*
 * The scale requirement: at most 192 bytes of map memory per conntrack
 * entry, the kernel's own overhead included, as the kernel reports it for
 * both tables at their power-of-two default sizes.  One entry is one
 * untranslated flow (test_ct_one_entry_per_flow).
 */
static void test_ct_memory_per_entry(void **state)
{
	struct th *h = *state;
	const struct {
		const char *name;
		int fd;
	} maps[] = { { TP_MAP_CT, h->maps.ct },
		     { TP_MAP_CT_ANY, h->maps.ct_any } };
	struct bpf_map_info info;
	long long memlock;
	__u32 len;
	size_t i;

	REQUIRE_BPF();
	assert_int_equal(TP_CT_ENTRY_COST, 192);
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		len = sizeof(info);
		memset(&info, 0, sizeof(info));
		assert_int_equal(
			bpf_obj_get_info_by_fd(maps[i].fd, &info, &len), 0);
		/* the bucket array is one per entry only at a power of two */
		assert_int_equal(info.max_entries & (info.max_entries - 1), 0);
		/* the kernel's charge for the map (bpftool's "memlock") */
		memlock = tp_fdinfo_field(maps[i].fd, "memlock");
		assert_true(memlock > 0);
		printf("%s: max_entries %u memlock %lld: %.2f bytes an entry\n",
		       maps[i].name, info.max_entries, memlock,
		       (double)memlock / info.max_entries);
		assert_true(memlock / info.max_entries <= 192LL);
	}
}

/*
 * One entry per untranslated flow, its replies found by reversing their
 * tuple; one per DNAT flow too, its replies found through
 * tp_be_frontends (no reply-key entry under backend -> client).
 */
static void test_ct_one_entry_per_flow(void **state)
{
	struct th *h = *state;
	const unsigned int n = 64;
	struct tp_ct_key k;
	unsigned int i;

	REQUIRE_BPF();
	pt_web_service(h);
	for (i = 0; i < n; i++) {
		pt_expect_untouched(h, TH_FROM_TAILNET,
				    FLOWP(CLIENT4, 20000 + i, "198.19.0.11", 80,
					  IPPROTO_TCP, PKT_TCP_SYN),
				    PASS);
		pt_expect_untouched(h, TH_FROM_TAILNET,
				    FLOWP(CLIENT4, 20000 + i, "198.19.0.11", 53,
					  IPPROTO_UDP, 0),
				    PASS);
	}
	assert_int_equal(pt_ct_count(h), 2 * n);
	/* each reply is its flow's: accounted there, nothing new written */
	for (i = 0; i < n; i++) {
		pt_expect_untouched(h, TH_TO_TAILNET,
				    FLOWP("198.19.0.11", 80, CLIENT4, 20000 + i,
					  IPPROTO_TCP,
					  PKT_TCP_SYN | PKT_TCP_ACK),
				    PASS);
		pt_expect_untouched(h, TH_TO_TAILNET,
				    FLOWP("198.19.0.11", 53, CLIENT4, 20000 + i,
					  IPPROTO_UDP, 0),
				    PASS);
		k = pt_ct_key(CLIENT4, 20000 + i, "198.19.0.11", 80,
			      IPPROTO_TCP);
		assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
		k = pt_ct_key(CLIENT4, 20000 + i, "198.19.0.11", 53,
			      IPPROTO_UDP);
		assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY], 1);
	}
	assert_int_equal(pt_ct_count(h), 2 * n);
	assert_int_equal(th_stat(h, TP_STAT_CT_NEW), 2 * n);

	for (i = 0; i < n; i++)
		pt_expect_dnat(h,
			       pt_flow(CLIENT4, 30000 + i, VIP4, 80,
				       IPPROTO_TCP, PKT_TCP_SYN),
			       BE4[0], 8080);
	assert_int_equal(pt_ct_count(h), 2 * n + n);
	printf("%u untranslated flows, %u DNAT flows: %u entries (%u bytes a flow "
	       "untranslated, %u DNAT)\n",
	       2 * n, n, pt_ct_count(h), (unsigned int)TP_CT_ENTRY_COST,
	       (unsigned int)TP_CT_ENTRY_COST);
}

static void test_service_zone(void **state)
{
	struct th *h = *state;
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_svc_spec spec = { .zone = TH_ZONE + 1 };
	struct tp_backend_spec b = { .addr = pt_addr(BE4[0]),
				     .port = htons(8080),
				     .weight = 1 };
	struct pkt_spec sp =
		pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN);

	REQUIRE_BPF();
	assert_int_equal(tp_service_set(&h->maps, &k, &spec, &b, 1), 0);
	pt_expect_untouched(h, TH_FROM_TAILNET, &sp, PASS);
	spec.zone = TH_ZONE;
	assert_int_equal(tp_service_set(&h->maps, &k, &spec, &b, 1), 0);
	sp.sport = 40001;
	pt_expect_dnat(h, sp, BE4[0], 8080);
}

static void test_no_backend_drops(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp =
		pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN);
	const __u8 st[] = { TP_BACKEND_TERMINATING };

	REQUIRE_BPF();
	pt_service(h, VIP4, 80, IPPROTO_TCP, NULL, 0, 0, NULL, NULL, 0, 0);
	pt_expect_untouched(h, TH_FROM_TAILNET, &sp, DROP);
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 1, 8080, NULL, st, 0, 0);
	pt_expect_untouched(h, TH_FROM_TAILNET, &sp, DROP);
	assert_int_equal(th_stat(h, TP_STAT_DROP(TP_DROP_NO_BACKEND)), 2);
	assert_int_equal(pt_ct_count(h), 0);
}

static void test_dnat_ethernet(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp =
		pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN);

	REQUIRE_BPF();
	pt_web_service(h);
	pt_service(h, VIP6, 80, IPPROTO_TCP, BE6, 1, 8080, NULL, NULL, 0, 0);
	sp.l2 = 1;
	pt_expect_dnat(h, sp, BE4[0], 8080);
	sp = pt_flow(CLIENT6, 40000, VIP6, 80, IPPROTO_TCP, PKT_TCP_SYN);
	sp.l2 = 1;
	pt_expect_dnat(h, sp, BE6[0], 8080);
	sp = pt_flow(BE6[0], 8080, CLIENT6, 40000, IPPROTO_TCP,
		     PKT_TCP_SYN | PKT_TCP_ACK);
	sp.l2 = 1;
	/* zone 0 on loopback: the flow's reply is found in zone 0 too */
	pt_expect_revnat(h, sp, VIP6, 80);
}

static int setup_small_maglev(void **state)
{
	const struct th_knobs k = { .maglev_size = 31 };

	return pt_setup_knobs(state, &k);
}

/* A service write that fails half-way leaves no backend behind. */
static void test_service_set_failure_rolls_back(void **state)
{
	struct th *h = *state;
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs[40] = {};
	struct tp_backend be;
	__u32 ids[64];
	char a[32];
	size_t i;

	REQUIRE_BPF();
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 2, 8080, NULL, NULL, 0, 0);
	for (i = 0; i < 40; i++) {
		snprintf(a, sizeof(a), "198.18.2.%zu", i + 1);
		bs[i].addr = pt_addr(a);
		bs[i].port = htons(8080);
		bs[i].weight = 1;
	}
	bs[0].addr = pt_addr(BE4[0]);
	bs[0].weight = 5;
	/* 40 active backends do not fit a 31-slot table: refused at step 2 */
	assert_int_equal(tp_service_set(&h->maps, &k, &spec, bs, 40), -EINVAL);
	/* the service is as it was: two backends, the first unchanged */
	{
		struct tp_svc svc;

		assert_int_equal(
			bpf_map_lookup_elem(h->maps.services, &k, &svc), 0);
		assert_int_equal(
			tp_service_backends(&h->maps, svc.id, ids, NULL, 0), 2);
	}
	for (i = 1; i < 64; i++)
		if (!bpf_map_lookup_elem(h->maps.backends, &(__u32){ i }, &be))
			assert_int_equal(be.weight, 1);
	/* and still serves from them */
	assert_in_range(pt_backend_of(h,
				      FLOWP(CLIENT4, 1, VIP4, 80, IPPROTO_TCP,
					    PKT_TCP_SYN),
				      BE4, 2),
			0, 1);
}

/* ---- services at scale ---------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 198.19.(i / 250).(i % 250 + 1), and its backend in 198.18.0.0/16 */
static void scale_addrs(unsigned int i, char *vip, char *be, size_t len)
{
	snprintf(vip, len, "198.19.%u.%u", i / 250, i % 250 + 1);
	snprintf(be, len, "198.18.%u.%u", i / 250, i % 250 + 1);
}

/*
 * Services past the old 1,023: 2,000, each with its own backend, and the
 * datapath reaches the last one (and the first) through its table.
 */
static void test_services_past_1023(void **state)
{
	struct th *h = *state;
	char vip[32], be[32];
	const char *bep = be;
	struct tp_svc_key k;
	struct tp_svc svc;
	unsigned int i, n = 2000;
	double t0;

	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs = { .port = htons(8080), .weight = 1 };
	struct tp_svc_batch *b = tp_svc_batch_new();

	REQUIRE_BPF();
	assert_non_null(b);
	/* one at a time: each table goes live by its own entry update */
	t0 = now_s();
	for (i = 0; i < 100; i++) {
		scale_addrs(i, vip, be, sizeof(vip));
		pt_service(h, vip, 80, IPPROTO_TCP, &bep, 1, 8080, NULL, NULL,
			   0, 0);
	}
	print_message(
		"  100 services of one backend by tp_service_set(): %.3f s\n",
		now_s() - t0);
	/* the rest staged and flushed at once, as a batch or a sync does */
	t0 = now_s();
	for (; i < n; i++) {
		scale_addrs(i, vip, be, sizeof(vip));
		k = pt_svc_key(vip, 80, IPPROTO_TCP);
		bs.addr = pt_addr(be);
		assert_int_equal(
			tp_service_stage(&h->maps, b, &k, &spec, &bs, 1, i), 0);
	}
	assert_int_equal(tp_svc_batch_flush(&h->maps, b, NULL, NULL), 0);
	tp_svc_batch_free(b);
	print_message("  %u more staged and flushed at once: %.3f s\n", n - 100,
		      now_s() - t0);
	scale_addrs(n - 1, vip, be, sizeof(vip));
	k = pt_svc_key(vip, 80, IPPROTO_TCP);
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &k, &svc), 0);
	assert_int_equal(svc.table_size, 131);
	pt_expect_dnat(
		h, pt_flow(CLIENT4, 40000, vip, 80, IPPROTO_TCP, PKT_TCP_SYN),
		be, 8080);
	scale_addrs(0, vip, be, sizeof(vip));
	pt_expect_dnat(
		h, pt_flow(CLIENT4, 40001, vip, 80, IPPROTO_TCP, PKT_TCP_SYN),
		be, 8080);
	assert_int_equal(th_stat(h, TP_STAT_DNAT), 2);
}

/* The old way to list a service's backends: a walk of every backend. */
static int naive_backends(const struct tp_maps *m, __u32 svc_id, __u32 *ids)
{
	__u32 k, next, *prev = NULL;
	struct tp_backend be;
	int n = 0;

	while (!bpf_map_get_next_key(m->backends, prev, &next)) {
		k = next;
		prev = &k;
		if (!bpf_map_lookup_elem(m->backends, &k, &be) &&
		    be.svc_id == svc_id)
			ids[n++] = k;
	}
	return n;
}

static int u32_cmp(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return (x > y) - (x < y);
}

#define IDX_SVCS 12
#define IDX_POOL 24

/* What the model says service @s has: backends of the pool, by bit. */
struct idx_model {
	bool exists;
	__u32 set; /* bit j: pool address j */
	__u16 weight[IDX_POOL];
	__u8 state[IDX_POOL];
};

static void idx_check(struct th *h, const struct idx_model *mod,
		      unsigned long long seed, int step)
{
	__u32 ids[TP_MAX_SVC_BACKENDS], naive[TP_MAX_SVC_BACKENDS];
	struct tp_backend bes[TP_MAX_SVC_BACKENDS];
	struct tp_svc_key k;
	struct tp_svc svc;
	char vip[32], be[32];
	int s, n, nn, j, total = 0, found;
	__u32 count = 0;

	for (s = 0; s < IDX_SVCS; s++) {
		scale_addrs((unsigned int)s, vip, be, sizeof(vip));
		k = pt_svc_key(vip, 80, IPPROTO_TCP);
		if (!mod[s].exists) {
			if (!bpf_map_lookup_elem(h->maps.services, &k, &svc))
				fail_msg("seed %llu step %d: service %d exists",
					 seed, step, s);
			continue;
		}
		if (bpf_map_lookup_elem(h->maps.services, &k, &svc))
			fail_msg("seed %llu step %d: service %d missing", seed,
				 step, s);
		n = tp_service_backends(&h->maps, svc.id, ids, bes,
					TP_MAX_SVC_BACKENDS);
		nn = naive_backends(&h->maps, svc.id, naive);
		if (n != __builtin_popcount(mod[s].set) || nn != n)
			fail_msg(
				"seed %llu step %d: service %d: index %d, walk %d, model %d",
				seed, step, s, n, nn,
				__builtin_popcount(mod[s].set));
		total += n;
		for (j = 0; j < n; j++) {
			char a[32];
			int p;

			for (p = 0, found = 0; p < IDX_POOL && !found; p++) {
				struct tp_addr pa;

				snprintf(a, sizeof(a), "198.18.200.%d", p + 1);
				pa = pt_addr(a);
				found = !memcmp(&bes[j].addr, &pa,
						sizeof(pa)) &&
					(mod[s].set >> p & 1) &&
					bes[j].weight == mod[s].weight[p] &&
					bes[j].state == mod[s].state[p] &&
					bes[j].svc_id == svc.id;
			}
			if (!found)
				fail_msg(
					"seed %llu step %d: service %d: backend %u not in the model",
					seed, step, s, ids[j]);
		}
		qsort(ids, n, sizeof(ids[0]), u32_cmp);
		qsort(naive, nn, sizeof(naive[0]), u32_cmp);
		assert_memory_equal(ids, naive, n * sizeof(ids[0]));
	}
	/* nothing left behind: every backend belongs to a listed service */
	{
		__u32 bk, bnext, *bprev = NULL;

		while (!bpf_map_get_next_key(h->maps.backends, bprev, &bnext)) {
			bk = bnext;
			bprev = &bk;
			count++;
		}
	}
	if (count != (__u32)total)
		fail_msg("seed %llu step %d: %u backends in the map, %d listed",
			 seed, step, count, total);
}
static __u64 idx_rand(__u64 *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dULL;
}

/* A random new backend set of service @s, written to the model and staged. */
static void idx_set(struct th *h, struct tp_svc_batch *b, struct idx_model *mod,
		    int s, __u64 *rng)
{
	struct tp_backend_spec bs[IDX_POOL] = {};
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	char vip[32], be[32], a[32];
	struct tp_svc_key k;
	size_t n = 0;
	int p;

	scale_addrs((unsigned int)s, vip, be, sizeof(vip));
	k = pt_svc_key(vip, 80, IPPROTO_TCP);
	/* mostly small edits of the set the service has: how batches go */
	mod[s].set ^= (__u32)(idx_rand(rng) % 4
				      ? 1u << (idx_rand(rng) % IDX_POOL)
				      : idx_rand(rng) & ((1u << IDX_POOL) - 1));
	mod[s].exists = true;
	for (p = 0; p < IDX_POOL; p++) {
		if (!(mod[s].set >> p & 1))
			continue;
		if (idx_rand(rng) % 3 == 0) {
			mod[s].weight[p] = 1 + idx_rand(rng) % 5;
			mod[s].state[p] = idx_rand(rng) % 4 == 0
						  ? TP_BACKEND_TERMINATING
						  : TP_BACKEND_ACTIVE;
		}
		if (!mod[s].weight[p])
			mod[s].weight[p] = 1;
		snprintf(a, sizeof(a), "198.18.200.%d", p + 1);
		bs[n].addr = pt_addr(a);
		bs[n].port = htons(8080);
		bs[n].weight = mod[s].weight[p];
		bs[n].state = mod[s].state[p];
		n++;
	}
	if (b)
		assert_int_equal(
			tp_service_stage(&h->maps, b, &k, &spec, bs, n, 1), 0);
	else
		assert_int_equal(tp_service_set(&h->maps, &k, &spec, bs, n), 0);
}

/*
 * The per-service index against a model and against a walk of every
 * backend, through random sets, deletes and staged batches (seed printed;
 * TP_TEST_SEED repeats a run).
 */
static void test_service_index_model(void **state)
{
	struct th *h = *state;
	struct idx_model mod[IDX_SVCS] = {};
	struct tp_svc_batch *b;
	unsigned long long seed;
	char vip[32], be[32];
	struct tp_svc_key k;
	__u64 rng;
	int step, s, i, n;

	REQUIRE_BPF();
	seed = getenv("TP_TEST_SEED")
		       ? strtoull(getenv("TP_TEST_SEED"), NULL, 0)
		       : (unsigned long long)time(NULL);
	print_message("  seed %llu (TP_TEST_SEED=%llu repeats it)\n", seed,
		      seed);
	rng = seed | 1;
	for (step = 0; step < 400; step++) {
		s = (int)(idx_rand(&rng) % IDX_SVCS);
		switch (idx_rand(&rng) % 5) {
		case 0: /* delete */
			scale_addrs((unsigned int)s, vip, be, sizeof(vip));
			k = pt_svc_key(vip, 80, IPPROTO_TCP);
			assert_int_equal(tp_service_del(&h->maps, &k),
					 mod[s].exists ? 0 : -ENOENT);
			memset(&mod[s], 0, sizeof(mod[s]));
			break;
		case 1: /* a batch: several staged writes, some to one service */
			b = tp_svc_batch_new();
			assert_non_null(b);
			n = 1 + (int)(idx_rand(&rng) % 8);
			for (i = 0; i < n; i++)
				idx_set(h, b, mod, (int)(idx_rand(&rng) % 3),
					&rng);
			assert_int_equal(
				tp_svc_batch_flush(&h->maps, b, NULL, NULL), 0);
			tp_svc_batch_free(b);
			break;
		default:
			idx_set(h, NULL, mod, s, &rng);
		}
		idx_check(h, mod, seed, step);
	}
}

/*
 * A batch builds each service's table once, however many writes staged
 * it, from the backends it has at the flush, and deletes the backends
 * dropped on the way only then.
 */
static void test_batch_one_build_per_service(void **state)
{
	struct th *h = *state;
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs[10] = {};
	struct tp_svc_batch *b = tp_svc_batch_new();
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP),
			  k2 = pt_svc_key(VIP6, 80, IPPROTO_TCP);
	struct tp_svc svc;
	__u32 ids[16];
	char a[32];
	size_t i;

	REQUIRE_BPF();
	assert_non_null(b);
	for (i = 0; i < 10; i++) {
		snprintf(a, sizeof(a), "198.18.3.%zu", i + 1);
		bs[i].addr = pt_addr(a);
		bs[i].port = htons(8080);
		bs[i].weight = 1;
	}
	/* ten writes, one backend more each time, as "backend add" lines do */
	for (i = 1; i <= 10; i++)
		assert_int_equal(
			tp_service_stage(&h->maps, b, &k, &spec, bs, i, i), 0);
	/* staged, not live: no table yet */
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &k, &svc), 0);
	assert_int_equal(svc.active, 0);
	assert_int_equal(svc.table_size, 0);
	assert_int_equal(tp_svc_batch_flush(&h->maps, b, NULL, NULL), 0);
	assert_int_equal(tp_svc_batch_built(b), 1);
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &k, &svc), 0);
	assert_int_equal(svc.active, 10);
	assert_int_equal(svc.table_size, 1021);
	assert_in_range(
		pt_backend_of(
			h,
			FLOWP(CLIENT4, 1, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN),
			(const char *[]){ "198.18.3.1", "198.18.3.2",
					  "198.18.3.3", "198.18.3.4",
					  "198.18.3.5", "198.18.3.6",
					  "198.18.3.7", "198.18.3.8",
					  "198.18.3.9", "198.18.3.10" },
			10),
		0, 9);
	/* shrink to 1 in steps, and a second service: two builds */
	for (i = 9; i >= 1; i--)
		assert_int_equal(tp_service_stage(&h->maps, b, &k, &spec,
						  &bs[10 - i], i, i),
				 0);
	assert_int_equal(tp_service_stage(&h->maps, b, &k2, &spec, NULL, 0, 99),
			 0);
	/* the dropped backends stay until the flush: the live table names them */
	assert_int_equal(tp_service_backends(&h->maps, svc.id, ids, NULL, 16),
			 1);
	{
		__u32 n = 0, bk, next, *prev = NULL;

		while (!bpf_map_get_next_key(h->maps.backends, prev, &next)) {
			bk = next;
			prev = &bk;
			n++;
		}
		assert_int_equal(n, 10);
	}
	assert_int_equal(tp_svc_batch_flush(&h->maps, b, NULL, NULL), 0);
	assert_int_equal(tp_svc_batch_built(b),
			 2); /* k2 has no backend: no table */
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &k, &svc), 0);
	assert_int_equal(svc.active, 1);
	assert_int_equal(svc.table_size, 131);
	assert_int_equal(bpf_map_get_next_key(h->maps.backends, NULL, &ids[0]),
			 0);
	assert_int_equal(
		bpf_map_get_next_key(h->maps.backends, &ids[0], &ids[1]),
		-ENOENT);
	pt_expect_dnat(h,
		       pt_flow(CLIENT4, 2, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN),
		       "198.18.3.10", 8080);
	tp_svc_batch_free(b);
}

/* ---- Maglev ---------------------------------------------------------------- */

#define FLOWS 10000

static void distribution(struct th *h, size_t n, const __u16 *w)
{
	unsigned int hits[10] = {}, total_w = 0, i;
	struct pkt_spec sp;
	char src[64];
	int b;

	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, n, 8080, w, NULL, 0, 0);
	for (i = 0; i < n; i++)
		total_w += w ? w[i] : 1;
	for (i = 0; i < FLOWS; i++) {
		snprintf(src, sizeof(src), "100.64.%u.%u", i / 200,
			 i % 200 + 1);
		sp = pt_flow(src, 10000 + i % 50000, VIP4, 80, IPPROTO_TCP,
			     PKT_TCP_SYN);
		b = pt_backend_of(h, &sp, BE4, n);
		assert_in_range(b, 0, n - 1);
		hits[b]++;
	}
	for (i = 0; i < n; i++) {
		double share = (double)(w ? w[i] : 1) / total_w;
		double got = (double)hits[i] / FLOWS;

		print_message(
			"backend %u: weight %u, %.4f of flows, want %.4f\n", i,
			w ? w[i] : 1, got, share);
		if (got < share * 0.95 || got > share * 1.05)
			fail_msg(
				"backend %u got %.4f of flows, not within 5%% of %.4f",
				i, got, share);
	}
}

/* The service at @vip:80/TCP, as its entry is now. */
static struct tp_svc slab_svc(struct th *h, const char *vip)
{
	struct tp_svc_key k = pt_svc_key(vip, 80, IPPROTO_TCP);
	struct tp_svc svc;

	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &k, &svc), 0);
	return svc;
}

/* New flows to @vip:80 go to @be[0..n) only, and to each of them. */
static void slab_flows(struct th *h, const char *vip, const char **be, size_t n)
{
	static unsigned int port = 20000; /* new flows, never conntrack's */
	unsigned int i, hits[10] = {};
	struct pkt_spec sp;
	char src[64];
	int b;

	for (i = 0; i < 60 * n; i++) {
		snprintf(src, sizeof(src), "100.64.7.%u", i % 250 + 1);
		sp = pt_flow(src, port++, vip, 80, IPPROTO_TCP, PKT_TCP_SYN);
		b = pt_backend_of(h, &sp, be, n);
		if (b < 0)
			fail_msg("a flow to %s went to none of its backends",
				 vip);
		hits[b]++;
	}
	for (i = 0; i < n; i++)
		if (!hits[i])
			fail_msg("no flow to %s went to %s", vip, be[i]);
}

/*
 * Two services' tables side by side in one chunk of the slab, and each
 * flow picks from its own service's table: a table read past its own
 * extent, or at another's offset, would send flows to the neighbour's
 * backends.
 */
static void test_slab_neighbours(void **state)
{
	struct th *h = *state;
	const char *vip2 = "198.19.0.77";
	struct tp_svc a, b;

	REQUIRE_BPF();
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 3, 8080, NULL, NULL, 0, 0);
	pt_service(h, vip2, 80, IPPROTO_TCP, BE4 + 3, 4, 8080, NULL, NULL, 0,
		   0);
	a = slab_svc(h, VIP4);
	b = slab_svc(h, vip2);
	assert_int_equal(a.table_off >> TP_MAGLEV_CHUNK_SHIFT,
			 b.table_off >> TP_MAGLEV_CHUNK_SHIFT);
	/* first fit: the second right after the first's last block */
	assert_int_equal(b.table_off,
			 a.table_off + tp_slab_blocks(a.table_size) *
					       TP_MAGLEV_BLOCK_SLOTS);
	slab_flows(h, VIP4, BE4, 3);
	slab_flows(h, vip2, BE4 + 3, 4);
}

/*
 * Copy on write: a replaced table gets a new extent while the old one
 * stays as it was until the flush's grace period, and the extent of a
 * deleted service is not handed to the next service before the grace
 * step (a program that found the old entry may still read it).
 */
static void test_slab_reuse_after_grace(void **state)
{
	struct th *h = *state;
	const char *vip2 = "198.19.0.78", *vip3 = "198.19.0.79";
	__u32 old[131], now[131];
	struct tp_svc a, a2, c, d;
	struct tp_svc_key k;

	REQUIRE_BPF();
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	a = slab_svc(h, VIP4);
	assert_int_equal(a.table_size, 131);
	/* replaced: a new extent, live with the new backends */
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4 + 1, 1, 8080, NULL, NULL, 0,
		   0);
	a2 = slab_svc(h, VIP4);
	assert_int_not_equal(a2.table_off, a.table_off);
	slab_flows(h, VIP4, BE4 + 1, 1);
	/* the flush waited its grace period: the old extent is free again */
	pt_service(h, vip2, 80, IPPROTO_TCP, BE4 + 2, 1, 8080, NULL, NULL, 0,
		   0);
	assert_int_equal(slab_svc(h, vip2).table_off, a.table_off);

	/*
	 * A delete as tp_service_del() does it, stopped between the entry's
	 * removal and the grace step: the entry is gone, its extent deferred
	 */
	assert_int_equal(tp_slab_read(h->maps.slab, a2.table_off, 131, old), 0);
	k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	assert_int_equal(bpf_map_delete_elem(h->maps.services, &k), 0);
	assert_int_equal(tp_slab_defer(h->maps.slab, a2.table_off, 131), 0);
	/* the next service does not get it, and it still holds its table */
	pt_service(h, vip3, 80, IPPROTO_TCP, BE4 + 3, 1, 8080, NULL, NULL, 0,
		   0);
	c = slab_svc(h, vip3);
	assert_true(c.table_off + 131 <= a2.table_off ||
		    c.table_off >= a2.table_off + 131);
	assert_int_equal(tp_slab_read(h->maps.slab, a2.table_off, 131, now), 0);
	assert_memory_equal(now, old, sizeof(old));
	slab_flows(h, vip3, BE4 + 3, 1);
	/* that flush's grace step freed it: the service after gets it */
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4 + 4, 1, 8080, NULL, NULL, 0,
		   0);
	d = slab_svc(h, VIP4);
	assert_int_equal(d.table_off, a2.table_off);
	slab_flows(h, VIP4, BE4 + 4, 1);
}

/*
 * Services removed by a sync: entries at once, their backends and
 * extents at the batch's flush (one grace period for all), so until then
 * a table a program may still read keeps its backends.
 */
static void test_slab_staged_deletes(void **state)
{
	struct th *h = *state;
	const char *vips[3] = { VIP4, "198.19.0.80", "198.19.0.81" };
	struct tp_svc_batch *b = tp_svc_batch_new();
	struct tp_svc svc[3], gone;
	struct tp_backend be;
	struct tp_svc_key k;
	__u32 ids[2];
	int i;

	REQUIRE_BPF();
	assert_non_null(b);
	for (i = 0; i < 3; i++) {
		pt_service(h, vips[i], 80, IPPROTO_TCP, BE4 + 2 * i, 2, 8080,
			   NULL, NULL, 0, 0);
		svc[i] = slab_svc(h, vips[i]);
	}
	assert_int_equal(tp_service_backends(&h->maps, svc[0].id, ids, NULL, 2),
			 2);
	for (i = 0; i < 2; i++) {
		k = pt_svc_key(vips[i], 80, IPPROTO_TCP);
		assert_int_equal(tp_service_del_staged(&h->maps, b, &k), 0);
		assert_int_equal(
			bpf_map_lookup_elem(h->maps.services, &k, &gone),
			-ENOENT);
	}
	/* staged: the backends a running program may still reach are there */
	assert_int_equal(bpf_map_lookup_elem(h->maps.backends, &ids[0], &be),
			 0);
	assert_true(tp_svc_batch_pending(b));
	assert_int_equal(tp_svc_batch_flush(&h->maps, b, NULL, NULL), 0);
	tp_svc_batch_free(b);
	assert_int_equal(bpf_map_lookup_elem(h->maps.backends, &ids[0], &be),
			 -ENOENT);
	assert_int_equal(bpf_map_lookup_elem(h->maps.backends, &ids[1], &be),
			 -ENOENT);
	/* both extents free: the next service takes the first */
	pt_service(h, "198.19.0.82", 80, IPPROTO_TCP, BE4 + 6, 2, 8080, NULL,
		   NULL, 0, 0);
	assert_int_equal(slab_svc(h, "198.19.0.82").table_off,
			 svc[0].table_off);
	slab_flows(h, vips[2], BE4 + 4, 2);
}

/*
 * A writer's deferred extent outlives its lock: tpctl batch deletes a
 * service on one line (the extent waits for the batch's flush, the lock
 * is let go after the line), the loader starts meanwhile and recounts the
 * slab from the entries (the extent is free: no entry names it), another
 * service gets it.  The batch's flush must not free that live table, or
 * the next service's table is written over it.
 */
static void test_slab_deferred_across_reclaim(void **state)
{
	struct th *h = *state;
	const char *vip2 = "198.19.0.84", *vip3 = "198.19.0.85";
	struct tp_svc_key ka = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_svc_batch *b = tp_svc_batch_new();
	struct tp_maps batch = h->maps; /* tpctl's own view of the slab */
	struct tp_svc a, y, z;

	REQUIRE_BPF();
	assert_non_null(b);
	batch.slab = tp_slab_open(h->maps.maglev_slab, NULL);
	assert_non_null(batch.slab);
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	a = slab_svc(h, VIP4);
	assert_int_equal(tp_service_del_staged(&batch, b, &ka), 0);
	/* the loader's start, between the batch's lines */
	assert_int_equal(tp_slab_reclaim(h->maps.slab, h->maps.services, true),
			 0);
	pt_service(h, vip2, 80, IPPROTO_TCP, BE4 + 1, 1, 8080, NULL, NULL, 0,
		   0);
	y = slab_svc(h, vip2);
	assert_int_equal(y.table_off, a.table_off);
	/* the batch's end */
	assert_int_equal(tp_svc_batch_flush(&batch, b, NULL, NULL), 0);
	tp_svc_batch_free(b);
	tp_slab_close(batch.slab);
	pt_service(h, vip3, 80, IPPROTO_TCP, BE4 + 2, 1, 8080, NULL, NULL, 0,
		   0);
	z = slab_svc(h, vip3);
	assert_true(z.table_off + z.table_size <= y.table_off ||
		    z.table_off >= y.table_off + y.table_size);
	slab_flows(h, vip2, BE4 + 1, 1);
	slab_flows(h, vip3, BE4 + 2, 1);
}

/*
 * Flows to @vip:80 never reach @addr: dropped or passed untouched, but
 * not sent there.
 */
static void slab_flows_avoid(struct th *h, const char *vip, const char *addr)
{
	static unsigned int port = 40000; /* new flows, never conntrack's */
	struct tp_addr avoid = pt_addr(addr);
	struct pkt in, out;
	struct pkt_spec sp;
	int i, verdict;

	for (i = 0; i < 200; i++) {
		sp = pt_flow(CLIENT4, port++, vip, 80, IPPROTO_TCP,
			     PKT_TCP_SYN);
		pt_build(&sp, &in);
		pt_run(h, TH_FROM_TAILNET, &in, &out, &verdict);
		if (verdict == PASS && !memcmp(out.data + 16, &avoid.w[3], 4))
			fail_msg(
				"a flow to %s went to %s, named by no table of it",
				vip, addr);
	}
}

/*
 * Entries naming extents no table can have: the datapath is the last
 * check (only the allocator's extents are ever written).  A table in a
 * chunk's bitmap blocks would read its words as backend ids; one running
 * past its chunk, or of any size past TP_MAGLEV_SIZE_MAX, in a chunk
 * that does not exist, finds nothing either.
 */
static void test_slab_bad_extent(void **state)
{
	/* offsets in the service's chunk, sizes */
	static const struct {
		__u32 off, size;
	} bad[] = {
		{ 0, 1 },			  /* the bitmap's first word */
		{ TP_MAGLEV_BLOCK_SLOTS - 1, 7 }, /* a bitmap block's last id */
		{ TP_MAGLEV_CHUNK_SLOTS - TP_MAGLEV_BLOCK_SLOTS, 131 },
		{ TP_MAGLEV_META_BLOCKS * TP_MAGLEV_BLOCK_SLOTS, 0xffffffffu },
		{ (5u << TP_MAGLEV_CHUNK_SHIFT) + 256,
		  131 }, /* no such chunk */
	};
	struct th *h = *state;
	const char *vip2 = "198.19.0.83", *rogue = "198.18.0.99";
	struct tp_svc_key k = pt_svc_key(vip2, 80, IPPROTO_TCP);
	struct tp_maglev_block blk;
	struct tp_backend be;
	struct tp_svc a, c;
	__u32 zero = 0, chunk_id, id, a_ids[3], base;
	size_t i;
	int fd;

	REQUIRE_BPF();
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 3, 8080, NULL, NULL, 0, 0);
	pt_service(h, vip2, 80, IPPROTO_TCP, BE4 + 3, 1, 8080, NULL, NULL, 0,
		   0);
	a = slab_svc(h, VIP4);
	base = a.table_off & ~TP_MAGLEV_CHUNK_MASK;
	/* slot 0 of the chunk: the low half of its bitmap's first word */
	assert_int_equal(
		bpf_map_lookup_elem(h->maps.maglev_slab, &zero, &chunk_id), 0);
	fd = bpf_map_get_fd_by_id(chunk_id);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &zero, &blk), 0);
	close(fd);
	id = blk.id[0];
	assert_int_not_equal(id, 0);
	/* a backend whose id that word happens to be */
	assert_int_equal(tp_service_backends(&h->maps, a.id, a_ids, NULL, 3),
			 3);
	assert_int_equal(bpf_map_lookup_elem(h->maps.backends, &a_ids[0], &be),
			 0);
	be.addr = pt_addr(rogue);
	assert_int_equal(
		bpf_map_update_elem(h->maps.backends, &id, &be, BPF_NOEXIST),
		0);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = slab_svc(h, vip2);
		c.table_off = base + bad[i].off;
		c.table_size = bad[i].size;
		assert_int_equal(
			bpf_map_update_elem(h->maps.services, &k, &c, BPF_ANY),
			0);
		slab_flows_avoid(h, vip2, rogue);
	}
}

static void test_maglev_equal_weights(void **state)
{
	REQUIRE_BPF();
	distribution(*state, 3, NULL);
}

static void test_maglev_weights_1_2_3(void **state)
{
	const __u16 w[] = { 1, 2, 3 };

	REQUIRE_BPF();
	distribution(*state, 3, w);
}

static void test_maglev_remove_one_of_ten(void **state)
{
	struct th *h = *state;
	static signed char before[FLOWS];
	unsigned int moved = 0, i;
	struct pkt_spec sp;
	char src[64];
	int b;

	REQUIRE_BPF();
	pt_service(h, VIP4, 80, IPPROTO_UDP, BE4, 10, 8080, NULL, NULL, 0, 0);
	for (i = 0; i < FLOWS; i++) {
		snprintf(src, sizeof(src), "100.65.%u.%u", i / 200,
			 i % 200 + 1);
		sp = pt_flow(src, 20000, VIP4, 80, IPPROTO_UDP, 0);
		before[i] = pt_backend_of(h, &sp, BE4, 10);
	}
	/* drop backend 4: the other nine stay */
	{
		const char *nine[9];
		unsigned int j, n = 0;

		for (j = 0; j < 10; j++)
			if (j != 4)
				nine[n++] = BE4[j];
		pt_service(h, VIP4, 80, IPPROTO_UDP, nine, 9, 8080, NULL, NULL,
			   0, 0);
	}
	th_set_clock(h, T0 + (TP_CT_TIMEOUT_UDP + 1) * SEC_NS); /* new flows */
	for (i = 0; i < FLOWS; i++) {
		snprintf(src, sizeof(src), "100.65.%u.%u", i / 200,
			 i % 200 + 1);
		sp = pt_flow(src, 20000, VIP4, 80, IPPROTO_UDP, 0);
		b = pt_backend_of(h, &sp, BE4, 10);
		assert_int_not_equal(b, 4);
		if (before[i] != 4 && b != before[i])
			moved++;
	}
	print_message(
		"flows of the remaining 9 backends that moved: %u of %u (%.2f%%)\n",
		moved, FLOWS, 100.0 * moved / FLOWS);
	if (moved * 100 > FLOWS * 15)
		fail_msg("%u of %u flows moved between remaining backends",
			 moved, FLOWS);
}

static void test_affinity(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp =
		pt_flow(CLIENT4, 30000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN);
	struct tp_affinity_key ak;
	struct tp_affinity aff;
	int first, b, i, others = 0;
	__u8 st[3] = { TP_BACKEND_ACTIVE, TP_BACKEND_ACTIVE,
		       TP_BACKEND_ACTIVE };

	REQUIRE_BPF();
	first = pt_affinity_first(h, 3, &ak, &aff);
	assert_int_equal(aff.last_ns, T0);
	/* every new flow of the client within the timeout: same backend */
	for (i = 1; i < 50; i++) {
		th_set_clock(h, T0 + i * SEC_NS);
		sp.sport = 30000 + i;
		assert_int_equal(pt_backend_of(h, &sp, BE4, 3), first);
	}
	/* after the timeout Maglev decides again: some flows move */
	for (i = 0; i < 50; i++) {
		th_set_clock(h, T0 + (200 + 200 * i) * SEC_NS);
		sp.sport = 31000 + i;
		b = pt_backend_of(h, &sp, BE4, 3);
		if (b != first)
			others++;
		first = b; /* the new choice is remembered */
		assert_int_equal(
			bpf_map_lookup_elem(h->maps.affinity, &ak, &aff), 0);
		assert_int_equal(aff.last_ns, T0 + (200 + 200 * i) * SEC_NS);
	}
	assert_true(others > 0);
	/* the client's backend turns terminating: it gets no new flow */
	st[first] = TP_BACKEND_TERMINATING;
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 3, 8080, NULL, st,
		   TP_SVC_F_AFFINITY, 100);
	for (i = 0; i < 20; i++) {
		sp.sport = 32000 + i;
		assert_int_not_equal(pt_backend_of(h, &sp, BE4, 3), first);
	}
}

static void test_terminating_backend_keeps_flows(void **state)
{
	struct th *h = *state;
	__u8 st[3] = { TP_BACKEND_ACTIVE, TP_BACKEND_ACTIVE,
		       TP_BACKEND_ACTIVE };
	struct pkt_spec sp;
	int i, b, victim = -1, port = 0;
	char src[32];

	REQUIRE_BPF();
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 3, 8080, NULL, NULL, 0, 0);
	/* find a flow that went to backend 1 */
	for (i = 0; i < 100 && victim < 0; i++) {
		sp = pt_flow(CLIENT4, 40000 + i, VIP4, 80, IPPROTO_TCP,
			     PKT_TCP_SYN);
		if (pt_backend_of(h, &sp, BE4, 3) == 1) {
			victim = 1;
			port = 40000 + i;
		}
	}
	assert_int_equal(victim, 1);
	st[1] = TP_BACKEND_TERMINATING;
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 3, 8080, NULL, st, 0, 0);
	/* the established flow stays on its backend */
	sp = pt_flow(CLIENT4, port, VIP4, 80, IPPROTO_TCP, PKT_TCP_ACK);
	pt_expect_dnat(h, sp, BE4[1], 8080);
	/* new flows avoid it */
	for (i = 0; i < 300; i++) {
		snprintf(src, sizeof(src), "100.66.%d.%d", i / 200,
			 i % 200 + 1);
		sp = pt_flow(src, 1234, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN);
		b = pt_backend_of(h, &sp, BE4, 3);
		assert_int_not_equal(b, 1);
	}
	/* maintenance behaves the same */
	st[1] = TP_BACKEND_MAINTENANCE;
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 3, 8080, NULL, st, 0, 0);
	sp = pt_flow(CLIENT4, port, VIP4, 80, IPPROTO_TCP, PKT_TCP_ACK);
	pt_expect_dnat(h, sp, BE4[1], 8080);
}

/* ---- TCP state machine and timeouts ----------------------------------------- */

struct tcp_step {
	int reply;  /* 0: client -> VIP, 1: backend -> client */
	__u8 flags; /* 0: the sequence ends */
	__u8 want_state;
	__u32 want_timeout; /* seconds */
};

/* A TCP connection, packet by packet, named as its cmocka test. */
struct tcp_case {
	const char *name;
	struct tcp_step steps[10];
};

static const struct tcp_case tcp_cases[] = {
	{ "test_tcp_states_full_close",
	  { { 0, SYN, TP_CT_SYN_SENT, TP_CT_TIMEOUT_SYN },
	    { 0, SYN, TP_CT_SYN_SENT, TP_CT_TIMEOUT_SYN }, /* retransmit */
	    { 1, SYN | ACK, TP_CT_SYN_RECV, TP_CT_TIMEOUT_SYN },
	    { 0, ACK, TP_CT_ESTABLISHED, TP_CT_TIMEOUT_ESTABLISHED },
	    { 1, ACK, TP_CT_ESTABLISHED, TP_CT_TIMEOUT_ESTABLISHED },
	    { 0, FIN | ACK, TP_CT_FIN_WAIT, TP_CT_TIMEOUT_FIN },
	    { 1, ACK, TP_CT_FIN_WAIT, TP_CT_TIMEOUT_FIN },
	    { 1, FIN | ACK, TP_CT_CLOSE, TP_CT_TIMEOUT_CLOSE },
	    { 0, ACK, TP_CT_CLOSE, TP_CT_TIMEOUT_CLOSE } } },
	{ "test_tcp_states_reset",
	  { { 0, SYN, TP_CT_SYN_SENT, TP_CT_TIMEOUT_SYN },
	    { 1, SYN | ACK, TP_CT_SYN_RECV, TP_CT_TIMEOUT_SYN },
	    { 0, ACK, TP_CT_ESTABLISHED, TP_CT_TIMEOUT_ESTABLISHED },
	    { 1, RST | ACK, TP_CT_RESET, TP_CT_TIMEOUT_CLOSE },
	    { 0, ACK, TP_CT_RESET, TP_CT_TIMEOUT_CLOSE } } },
	{ "test_tcp_states_server_fin_first",
	  /* a pickup keeps the SYN timeout until the other side answers */
	  { { 0, ACK, TP_CT_ESTABLISHED, TP_CT_TIMEOUT_SYN },
	    { 1, FIN | ACK, TP_CT_FIN_WAIT, TP_CT_TIMEOUT_FIN },
	    { 0, FIN | ACK, TP_CT_CLOSE, TP_CT_TIMEOUT_CLOSE },
	    { 0, SYN | ACK, TP_CT_CLOSE, TP_CT_TIMEOUT_CLOSE } } },
};

/*
 * The row's TCP connection to a one-backend service, packet by packet:
 * after each step the flow's state and expiry are those the step wants.
 */
static void test_tcp_states(void **state)
{
	const struct tcp_case *c = rt_row();
	struct th *h = *state;
	const struct tcp_step *step;
	struct tp_ct_entry e;
	__u64 now = T0;

	REQUIRE_BPF();
	pt_web_service(h);
	for (step = c->steps; step->flags; step++) {
		now += SEC_NS;
		th_set_clock(h, now);
		if (!step->reply)
			pt_web_in(h, step->flags);
		else
			pt_web_reply(h, step->flags);
		e = pt_web_entry(h);
		if (e.state != step->want_state)
			fail_msg("%s step %td: state %u, want %u", c->name,
				 step - c->steps, e.state, step->want_state);
		assert_int_equal(e.expires_s,
				 TP_CT_SEC(now) + step->want_timeout);
	}
}

static void test_tcp_rst_starts_no_flow(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	pt_web_service(h);
	pt_expect_untouched(
		h, TH_FROM_TAILNET,
		FLOWP(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, PKT_TCP_RST),
		PASS);
	assert_int_equal(pt_ct_count(h), 0);
}

/* A timed-out flow counts as absent: its next packet is a new flow. */
static void test_ct_timeouts(void **state)
{
	struct th *h = *state;
	struct tp_ct_key ku = pt_ct_key(CLIENT4, 5000, VIP4, 53, IPPROTO_UDP);
	struct tp_ct_entry e;
	__u64 t;

	REQUIRE_BPF();
	pt_web_service(h);
	pt_service(h, VIP4, 53, IPPROTO_UDP, BE4, 1, 5353, NULL, NULL, 0, 0);
	pt_web_in(h, PKT_TCP_SYN);
	pt_expect_dnat(h, pt_flow(CLIENT4, 5000, VIP4, 53, IPPROTO_UDP, 0),
		       BE4[0], 5353);

	/* one ns before the SYN timeout: still the same flow */
	t = T0 + TP_CT_TIMEOUT_SYN * SEC_NS - 1;
	th_set_clock(h, t);
	pt_web_reply(h, PKT_TCP_SYN | PKT_TCP_ACK);
	e = pt_web_entry(h);
	assert_int_equal(e.state, TP_CT_SYN_RECV);
	assert_int_equal(e.created_s, TP_CT_SEC(T0));

	/*
	 * past it: the reply finds no flow and leaves untranslated (as a new
	 * flow from the cluster side, allowed by the default policy) ...
	 */
	t += TP_CT_TIMEOUT_SYN * SEC_NS;
	th_set_clock(h, t);
	pt_expect_untouched(
		h, TH_TO_TAILNET,
		FLOWP(BE4[0], 8080, CLIENT4, 40000, IPPROTO_TCP, PKT_TCP_ACK),
		PASS);
	/* ... and the client's next packet creates a new flow */
	pt_web_in(h, PKT_TCP_SYN);
	e = pt_web_entry(h);
	assert_int_equal(e.created_s, TP_CT_SEC(t));
	assert_int_equal(e.state, TP_CT_SYN_SENT);
	assert_int_equal(e.packets[0], 1);

	/* UDP: 60 s since its last packet */
	assert_int_equal(pt_ct_get(h, &ku, &e), 0);
	assert_int_equal(e.expires_s, TP_CT_SEC(T0) + TP_CT_TIMEOUT_UDP);
	assert_true(e.expires_s <= TP_CT_SEC(t));
	pt_expect_dnat(h, pt_flow(CLIENT4, 5000, VIP4, 53, IPPROTO_UDP, 0),
		       BE4[0], 5353);
	assert_int_equal(pt_ct_get(h, &ku, &e), 0);
	assert_int_equal(e.created_s, TP_CT_SEC(t));
	assert_int_equal(th_stat(h, TP_STAT_CT_NEW), 5);
}

static void test_syn_after_close_is_new_flow(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_web_in(h, PKT_TCP_RST);
	e = pt_web_entry(h);
	assert_int_equal(e.state, TP_CT_RESET);
	th_set_clock(h, T0 + 5 * SEC_NS);
	/* the backend moved meanwhile: the new connection goes to the new one */
	pt_service(h, VIP4, 80, IPPROTO_TCP, &BE4[1], 1, 8080, NULL, NULL, 0,
		   0);
	pt_expect_dnat(
		h, pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN),
		BE4[1], 8080);
	pt_check_ct_dnat(h, &k, BE4[1], 8080, TP_CT_SYN_SENT);
	/* the old reply key is gone */
	k = pt_ct_key(BE4[0], 8080, CLIENT4, 40000, IPPROTO_TCP);
	assert_int_equal(pt_ct_get(h, &k, &e), -ENOENT);
	assert_int_equal(pt_ct_count(h), 1);
}

/*
 * A packet leaving from the VIP to a client of a live flow is not a flow
 * of its own: writing one would put its reply key over the live flow.
 */
static void test_tuple_clash_keeps_live_flow(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP);

	REQUIRE_BPF();
	pt_web_flow(h);
	pt_expect_untouched(h, TH_TO_TAILNET,
			    FLOWP(VIP4, 80, CLIENT4, 40000, IPPROTO_TCP,
				  PKT_TCP_SYN | PKT_TCP_ACK),
			    PASS);
	pt_check_ct_dnat(h, &k, BE4[0], 8080, TP_CT_SYN_SENT);
	pt_web_in(h, PKT_TCP_ACK);
	assert_int_equal(pt_ct_count(h), 1);
}

/* ---- ICMP echo ------------------------------------------------------------- */

static void icmp_echo(void **state, const char *client, const char *vip,
		      const char *be)
{
	struct th *h = *state;
	__u8 proto = pt_icmp_proto(client);
	int v6 = proto == IPPROTO_ICMPV6;
	struct pkt_spec sp = pt_echo(client, vip, 0x4242, 1);
	struct tp_ct_key k = pt_ct_key(client, 0x4242, vip, 0, proto);
	struct tp_ct_entry e;
	struct pkt in, want;

	REQUIRE_BPF();
	pt_service(h, vip, 0, proto, &be, 1, 0, NULL, NULL, 0, 0);
	pt_build(&sp, &in);
	sp.daddr = be;
	pt_build(&sp, &want);
	pt_run_expect(h, TH_FROM_TAILNET, &in, PASS, &want);
	pt_check_ct_dnat(h, &k, be, 0, TP_CT_OPEN);

	/* echo reply from the backend: source back to the VIP */
	sp = (struct pkt_spec){ .family = pt_family_of(client),
				.saddr = be,
				.daddr = client,
				.proto = proto,
				.icmp_type = v6 ? 129 : 0,
				.icmp_id = 0x4242,
				.icmp_seq = 1,
				.payload = "ping",
				.payload_len = 4 };
	pt_build(&sp, &in);
	sp.saddr = vip;
	pt_build(&sp, &want);
	pt_run_expect(h, TH_TO_TAILNET, &in, PASS, &want);
	assert_int_equal(pt_ct_get(h, &k, &e), 0);
	assert_int_equal(e.state, TP_CT_REPLIED);
	assert_int_equal(e.expires_s, TP_CT_SEC(T0) + TP_CT_TIMEOUT_ICMP);

	/* an echo reply from the tailnet starts nothing */
	sp.saddr = client;
	sp.daddr = vip;
	sp.icmp_id = 7;
	pt_expect_untouched(h, TH_FROM_TAILNET, &sp, PASS);
	assert_int_equal(pt_ct_count(h), 1);
}

V4_AND_V6(icmp_echo, icmp_echo)

/* ---- ICMP errors ------------------------------------------------------------- */

/* An ICMP/ICMPv6 error @type/@code (@info: an MTU) quoting @quote bytes (0: all). */
static struct pkt_spec error_spec(const char *from, const char *to, __u8 type,
				  __u8 code, __u32 info, size_t quote)
{
	struct pkt_spec sp = pt_icmp_err_spec(from, to, type, code, info);

	sp.inner_len = quote;
	return sp;
}

/*
 * Run the error @sp quoting @q through @hook: it must come out as the
 * same error from @want_from to @want_to quoting @want_q.
 */
static void expect_error_as(struct th *h, enum th_hook hook, struct pkt_spec sp,
			    struct pkt_spec q, const char *want_from,
			    const char *want_to, struct pkt_spec want_q)
{
	struct pkt inner, in, want;

	pt_build(&q, &inner);
	sp.inner = &inner;
	pt_build(&sp, &in);
	pt_build(&want_q, &inner);
	sp.saddr = want_from;
	sp.daddr = want_to;
	pt_build(&sp, &want);
	pt_run_expect(h, hook, &in, PASS, &want);
}

/*
 * An error about the translated forward packet (client -> backend),
 * generated by @from (the backend or a router), leaving to the client:
 * the quote must become client -> VIP:53 and the source the VIP when it
 * was the backend.
 */
static void icmp_error_egress(struct th *h, const char *client, const char *vip,
			      const char *be, const char *from, __u8 type,
			      __u8 code, __u32 info, size_t quote)
{
	expect_error_as(h, TH_TO_TAILNET,
			error_spec(from, client, type, code, info, quote),
			pt_flow(client, 5000, be, 5353, IPPROTO_UDP, 0),
			strcmp(from, be) ? from : vip, client,
			pt_flow(client, 5000, vip, 53, IPPROTO_UDP, 0));
}

/*
 * An error from the client about a reply it got (VIP:53 -> client),
 * arriving from the tailnet: the quote must become backend:5353 ->
 * client and the destination the backend.
 */
static void icmp_error_ingress(struct th *h, const char *client,
			       const char *vip, const char *be, __u8 type,
			       __u8 code, size_t quote)
{
	expect_error_as(h, TH_FROM_TAILNET,
			error_spec(client, vip, type, code, 0, quote),
			pt_flow(vip, 53, client, 5000, IPPROTO_UDP, 0), client,
			be, pt_flow(be, 5353, client, 5000, IPPROTO_UDP, 0));
}

static void icmp_errors(void **state, const char *client, const char *vip,
			const char *be)
{
	struct th *h = *state;
	int v6 = pt_family_of(client) == AF_INET6;
	const char *router = v6 ? ROUTER6 : ROUTER4;

	REQUIRE_BPF();
	pt_service(h, vip, 53, IPPROTO_UDP, &be, 1, 5353, NULL, NULL, 0, 0);
	pt_expect_dnat(h, pt_flow(client, 5000, vip, 53, IPPROTO_UDP, 0), be,
		       5353);

	/* port unreachable from the backend, whole quote */
	icmp_error_egress(h, client, vip, be, be, v6 ? 1 : 3, v6 ? 4 : 3, 0, 0);
	/* fragmentation needed / packet too big from a router, MTU kept */
	icmp_error_egress(h, client, vip, be, router, v6 ? 2 : 3, v6 ? 0 : 4,
			  1200, 0);
	/* time exceeded, quote cut to IP header + 8 bytes */
	icmp_error_egress(h, client, vip, be, router, v6 ? 3 : 11, 0, 0,
			  (v6 ? 40 : 20) + 8);
	/* the client's own error about our reply */
	icmp_error_ingress(h, client, vip, be, v6 ? 1 : 3, v6 ? 4 : 3, 0);
	icmp_error_ingress(h, client, vip, be, v6 ? 2 : 3, v6 ? 0 : 4,
			   (v6 ? 40 : 20) + 8);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 5);
}

V4_AND_V6(icmp_error, icmp_errors)

/* TCP quote with its checksum inside, and without (8 bytes only). */
static void test_icmp_error_tcp_quote(void **state)
{
	struct th *h = *state;
	size_t quotes[] = { 0, 28, 20 + 18 };
	size_t i;

	REQUIRE_BPF();
	pt_web_flow(h);
	/* 28: without the TCP checksum in the quote, which stays as it was */
	for (i = 0; i < sizeof(quotes) / sizeof(quotes[0]); i++) {
		expect_error_as(
			h, TH_TO_TAILNET,
			error_spec(BE4[0], CLIENT4, 3, 4, 1280, quotes[i]),
			pt_flow(CLIENT4, 40000, BE4[0], 8080, IPPROTO_TCP,
				PKT_TCP_SYN),
			VIP4, CLIENT4,
			pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP,
				PKT_TCP_SYN));
	}
}

static void test_icmp_error_unknown_flow_untouched(void **state)
{
	struct th *h = *state;
	struct pkt_spec q =
		pt_flow(CLIENT4, 5001, BE4[0], 5353, IPPROTO_UDP, 0);
	struct pkt_spec sp = { .family = AF_INET,
			       .saddr = BE4[0],
			       .daddr = CLIENT4,
			       .proto = IPPROTO_ICMP,
			       .icmp_type = 3,
			       .icmp_code = 3 };
	struct pkt inner;

	REQUIRE_BPF();
	pt_service(h, VIP4, 53, IPPROTO_UDP, BE4, 1, 5353, NULL, NULL, 0, 0);
	pt_expect_dnat(h, pt_flow(CLIENT4, 5000, VIP4, 53, IPPROTO_UDP, 0),
		       BE4[0], 5353);
	pt_build(&q, &inner);
	sp.inner = &inner;
	pt_expect_untouched(h, TH_TO_TAILNET, &sp, PASS);
	/* a quote too short for ports */
	q.sport = 5000;
	pt_build(&q, &inner);
	sp.inner_len = 20 + 4;
	pt_expect_untouched(h, TH_TO_TAILNET, &sp, PASS);
	assert_int_equal(th_stat(h, TP_STAT_ICMP_ERR_NAT), 0);
}

/* ---- fragments ------------------------------------------------------------- */

/*
 * The fragment of @whole at @off, @len bytes long (@more: more follow), IP
 * id @id, through @hook: it must pass as the same fragment of @whole_want.
 */
static void expect_fragment(struct th *h, enum th_hook hook,
			    const struct pkt *whole,
			    const struct pkt *whole_want, size_t off,
			    size_t len, int more, __u32 id)
{
	struct pkt in, want;

	assert_int_equal(pkt_fragment(whole, off, len, more, id, &in), 0);
	assert_int_equal(pkt_fragment(whole_want, off, len, more, id, &want),
			 0);
	pt_run_expect(h, hook, &in, PASS, &want);
}

/*
 * @sp with 1200 bytes of payload, built into @whole, and with its
 * destination (@dst) or source rewritten to @addr:@port into @want.
 */
static void big_nat_pair(struct pkt_spec sp, bool dst, const char *addr,
			 __u16 port, struct pkt *whole, struct pkt *want)
{
	static char payload[1200];
	struct pkt_spec nat;

	memset(payload, 'x', sizeof(payload));
	sp.payload = payload;
	sp.payload_len = sizeof(payload);
	nat = pt_nat_spec(sp, dst, addr, port);
	pt_build(&sp, whole);
	pt_build(&nat, want);
}

static void fragments(void **state, const char *client, const char *vip,
		      const char *be)
{
	struct th *h = *state;
	struct pkt whole, whole_want;
	size_t l3 = pt_family_of(client) == AF_INET6 ? 40 : 20;
	size_t l4_len;

	REQUIRE_BPF();
	pt_service(h, vip, 53, IPPROTO_UDP, &be, 1, 5353, NULL, NULL, 0, 0);
	big_nat_pair(pt_flow(client, 5000, vip, 53, IPPROTO_UDP, 0), true, be,
		     5353, &whole, &whole_want);
	l4_len = whole.len - l3;

	/* a later fragment before its first: untranslated, counted */
	expect_fragment(h, TH_FROM_TAILNET, &whole, &whole, 600, l4_len - 600,
			0, 77);
	assert_int_equal(th_stat(h, TP_STAT_FRAG_NO_RECORD), 1);

	/* first fragment: a new flow, translated, ports recorded */
	expect_fragment(h, TH_FROM_TAILNET, &whole, &whole_want, 0, 600, 1, 77);
	/* the later one follows it: addresses only */
	expect_fragment(h, TH_FROM_TAILNET, &whole, &whole_want, 600,
			l4_len - 600, 0, 77);
	assert_int_equal(th_stat(h, TP_STAT_DNAT), 2);
	assert_int_equal(th_stat(h, TP_STAT_CT_NEW), 1);

	/* reply fragments from the backend are translated back */
	big_nat_pair(pt_flow(be, 5353, client, 5000, IPPROTO_UDP, 0), false,
		     vip, 53, &whole, &whole_want);
	expect_fragment(h, TH_TO_TAILNET, &whole, &whole_want, 0, 608, 1, 99);
	expect_fragment(h, TH_TO_TAILNET, &whole, &whole_want, 608,
			l4_len - 608, 0, 99);
	assert_int_equal(th_stat(h, TP_STAT_REVNAT), 2);

	/* a record older than the fragment timeout is no record */
	th_set_clock(h, T0 + (TP_FRAG_TIMEOUT + 1) * SEC_NS);
	expect_fragment(h, TH_TO_TAILNET, &whole, &whole, 608, l4_len - 608, 0,
			99);
	assert_int_equal(th_stat(h, TP_STAT_FRAG_NO_RECORD), 2);
}

V4_AND_V6(fragments, fragments)

/* ---- IPv4 options and IPv6 extension headers ----------------------------------- */

static void test_ipv4_options(void **state)
{
	struct th *h = *state;
	const uint8_t opts[8] = { 1, 1, 1, 1, 1, 1, 1, 0 }; /* NOPs, EOL */
	struct pkt_spec sp =
		pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN);

	REQUIRE_BPF();
	pt_web_service(h);
	sp.ip_options = opts;
	sp.ip_options_len = sizeof(opts);
	pt_expect_dnat(h, sp, BE4[0], 8080);
}

static void test_ipv6_exthdrs(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp =
		pt_flow(CLIENT6, 40000, VIP6, 80, IPPROTO_TCP, PKT_TCP_SYN);

	REQUIRE_BPF();
	pt_service(h, VIP6, 80, IPPROTO_TCP, BE6, 1, 8080, NULL, NULL, 0, 0);
	sp.exthdr[0] = 0;
	sp.exthdr[1] = 60;
	sp.exthdr[2] = 43;
	sp.exthdr[3] = 44; /* atomic fragment */
	sp.exthdr[4] = 60;
	sp.n_exthdr = 5;
	pt_expect_dnat(h, sp, BE6[0], 8080);
	/* exactly the limit still parses */
	sp.n_exthdr = 8;
	sp.exthdr[5] = 60;
	sp.exthdr[6] = 60;
	sp.exthdr[7] = 60;
	sp.sport = 40001;
	pt_expect_dnat(h, sp, BE6[0], 8080);
}

/* ---- bad input ------------------------------------------------------------- */

/* Both programs drop @in and count it under @reason and nothing else. */
static void expect_drop_at(struct th *h, const struct pkt *in, int reason,
			   int line)
{
	__u64 before[TP_DROP_REASON_MAX], now;
	int r, hook;

	for (hook = TH_FROM_TAILNET; hook <= TH_TO_TAILNET; hook++) {
		for (r = 1; r < TP_DROP_REASON_MAX; r++)
			before[r] = th_stat(h, TP_STAT_DROP(r));
		pt_run_expect(h, hook, in, DROP, NULL);
		for (r = 1; r < TP_DROP_REASON_MAX; r++) {
			now = th_stat(h, TP_STAT_DROP(r));
			if (now != before[r] + (r == reason))
				fail_msg(
					"line %d, hook %d: drop reason %d counted %llu, want reason %d",
					line, hook, r,
					(unsigned long long)(now - before[r]),
					reason);
		}
	}
}

#define expect_drop(h, in, reason) expect_drop_at(h, in, reason, __LINE__)

static void test_bad_input(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp =
		pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN);
	struct pkt p, good, frag;
	int i;

	REQUIRE_BPF();
	pt_web_service(h);
	pt_build(&sp, &good);

	/* IPv4 header cut short (16 of 20 bytes) */
	p = good;
	p.len = 16;
	expect_drop(h, &p, TP_DROP_TRUNCATED);
	/* TCP header cut short: IP length says so too */
	p = good;
	p.len = 20 + 12;
	p.data[2] = 0;
	p.data[3] = 32;
	expect_drop(h, &p, TP_DROP_TRUNCATED);
	/* TCP data offset < 5 */
	p = good;
	p.data[20 + 12] = 4 << 4;
	expect_drop(h, &p, TP_DROP_TRUNCATED);
	/* IHL < 5 */
	p = good;
	p.data[0] = 0x44;
	expect_drop(h, &p, TP_DROP_BAD_IHL);
	/* total length past the packet, and shorter than the header */
	p = good;
	p.data[2] = 0x05;
	expect_drop(h, &p, TP_DROP_BAD_LEN);
	p = good;
	p.data[2] = 0;
	p.data[3] = 16;
	expect_drop(h, &p, TP_DROP_BAD_LEN);
	/* IP version 5 on an L3 interface */
	p = good;
	p.data[0] = 0x55;
	expect_drop(h, &p, TP_DROP_BAD_VERSION);
	/* IPv4 header behind an IPv6 EtherType */
	sp.l2 = 1;
	pt_build(&sp, &p);
	p.data[12] = 0x86;
	p.data[13] = 0xdd;
	expect_drop(h, &p, TP_DROP_BAD_VERSION);
	sp.l2 = 0;
	/* an IPv6 header cut short (test_run refuses such an L2 frame) */
	p = good;
	p.data[0] = 0x60;
	p.len = 39;
	expect_drop(h, &p, TP_DROP_TRUNCATED);
	/* RFC 1858: TCP fragment at offset 8 */
	assert_int_equal(pkt_fragment(&good, 8, good.len - 20 - 8, 0, 5, &frag),
			 0);
	expect_drop(h, &frag, TP_DROP_BAD_FRAG);
	/* IPv6: payload length past the packet */
	sp = pt_flow(CLIENT6, 40000, VIP6, 80, IPPROTO_TCP, PKT_TCP_SYN);
	pt_build(&sp, &good);
	p = good;
	p.data[4] = 0x10;
	expect_drop(h, &p, TP_DROP_BAD_LEN);
	/* IPv6: an extension header cut short */
	sp.exthdr[0] = 0;
	sp.n_exthdr = 1;
	sp.proto = 59; /* no next header, no payload */
	sp.payload_len = 0;
	pt_build(&sp, &p);
	p.len -= 4;
	p.data[5] -= 4;
	expect_drop(h, &p, TP_DROP_TRUNCATED);
	/* IPv6: nine extension headers */
	sp = pt_flow(CLIENT6, 40000, VIP6, 80, IPPROTO_TCP, PKT_TCP_SYN);
	for (i = 0; i < 8; i++)
		sp.exthdr[i] = 60;
	sp.n_exthdr = 8;
	pt_build(&sp, &good);
	/* make the 8th header's next header another dest-opts with room */
	{
		size_t last = 40 + 7 * 8;

		memmove(p.data, good.data, good.len);
		memmove(p.data + last + 8 + 8, good.data + last + 8,
			good.len - last - 8);
		memcpy(p.data + last + 8, good.data + last, 8);
		p.data[last] = 60;
		p.len = good.len + 8;
		p.data[4] = (p.len - 40) >> 8;
		p.data[5] = (p.len - 40) & 0xff;
	}
	expect_drop(h, &p, TP_DROP_EXTHDR_LIMIT);
	/* nothing got tracked or translated */
	assert_int_equal(pt_ct_count(h), 0);
	assert_int_equal(th_stat(h, TP_STAT_DNAT), 0);
}

static void test_other_protocols_pass(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp = { .family = AF_INET,
			       .saddr = CLIENT4,
			       .daddr = VIP4,
			       .proto = 47 /* GRE */,
			       .payload = "gre!",
			       .payload_len = 4 };
	struct pkt_spec ns = { .family = AF_INET6,
			       .saddr = CLIENT6,
			       .daddr = VIP6,
			       .proto = IPPROTO_ICMPV6,
			       .icmp_type = 135,
			       .payload = "0123456789abcdef",
			       .payload_len = 16 };
	struct pkt arp, out;
	int verdict;

	REQUIRE_BPF();
	pt_service(h, VIP4, 0, IPPROTO_ICMP, BE4, 1, 0, NULL, NULL, 0, 0);
	pt_expect_untouched(h, TH_FROM_TAILNET, &sp, PASS);
	pt_expect_untouched(h, TH_FROM_TAILNET, &ns, PASS);
	assert_int_equal(th_stat(h, TP_STAT_OTHER_PROTO), 2);
	/* ARP on Ethernet */
	memset(&arp, 0, sizeof(arp));
	arp.l2 = 1;
	arp.len = 42;
	arp.data[12] = 0x08;
	arp.data[13] = 0x06;
	pt_run(h, TH_FROM_TAILNET, &arp, &out, &verdict);
	assert_int_equal(verdict, PASS);
	assert_pkt_eq(arp.data, arp.len, out.data, out.len);
	assert_int_equal(th_stat(h, TP_STAT_NOT_IP), 1);
	assert_int_equal(pt_ct_count(h), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
		T(test_dnat_tcp_v4),
		T(test_dnat_tcp_v6),
		T(test_udp_port_translation_v4),
		T(test_udp_port_translation_v6),
		T(test_udp_zero_checksum),
		T(test_reply_reverse_nat_tcp),
		T(test_non_service_untouched),
		T(test_ct_memory_per_entry),
		T(test_ct_one_entry_per_flow),
		T(test_service_zone),
		T(test_no_backend_drops),
		T(test_dnat_ethernet),
		cmocka_unit_test_setup_teardown(
			test_service_set_failure_rolls_back, setup_small_maglev,
			pt_teardown),
		T(test_services_past_1023),
		T(test_service_index_model),
		T(test_batch_one_build_per_service),
		T(test_slab_neighbours),
		T(test_slab_reuse_after_grace),
		T(test_slab_staged_deletes),
		T(test_slab_bad_extent),
		T(test_slab_deferred_across_reclaim),
		T(test_maglev_equal_weights),
		T(test_maglev_weights_1_2_3),
		T(test_maglev_remove_one_of_ten),
		T(test_affinity),
		T(test_terminating_backend_keeps_flows),
		RT_TEST(tcp_cases, 0, test_tcp_states),
		RT_TEST(tcp_cases, 1, test_tcp_states),
		RT_TEST(tcp_cases, 2, test_tcp_states),
		T(test_tcp_rst_starts_no_flow),
		T(test_ct_timeouts),
		T(test_syn_after_close_is_new_flow),
		T(test_tuple_clash_keeps_live_flow),
		T(test_icmp_echo_v4),
		T(test_icmp_echo_v6),
		T(test_icmp_error_v4),
		T(test_icmp_error_v6),
		T(test_icmp_error_tcp_quote),
		T(test_icmp_error_unknown_flow_untouched),
		T(test_fragments_v4),
		T(test_fragments_v6),
		T(test_ipv4_options),
		T(test_ipv6_exthdrs),
		T(test_bad_input),
		T(test_other_protocols_pass),
#undef T
	};

	if (RT_MISSING(tests, tcp_cases))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
