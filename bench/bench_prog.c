// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * make bench, program cost: ns per packet of each tailplane path beside
 * reference programs (bench/ref.bpf.c) in the same run, through
 * BPF_PROG_TEST_RUN, reported as ratios.
 *
 * Every figure is the median of single runs (repeat 1) on a fresh copy
 * of the packet: `repeat N` would run a rewriting program on its own
 * output (a DNATed packet becomes a new flow to the backend).  The
 * kernel reports each run's duration; the empty program's median in the
 * same round is subtracted.  ROUNDS rounds give min / median / max.
 * A row's ratio is the median of its rounds' ratios to its reference,
 * which runs again in each of the row's rounds (measure_vs()).
 *
 * The references and the tailnet paths are measured twice: hot (the
 * same packet's code and data in the CPU's caches from the run before)
 * and _l2cold (the CPU's L1 and L2 emptied before each run, L3 left:
 * what a packet of a live flow meets in real traffic, cold_paths()).
 *
 * Then the scaling rows: the same paths with 10 .. 100,000 services,
 * identities and rules, and with conntrack holding 10k .. 1M flows (one
 * hot flow, and keys cycled through the table), with the time it took to
 * write each table.  A size the build cannot hold is reported as such.
 *
 * Usage: bench_prog [-q] [-g] [-p] [-o DIR] [-c COMMIT] [-P ROW [-T SECONDS]]
 *   -q: QUICK, fewer runs and sizes
 *   -c: the commit measured, written into the results (make bench: git
 *       describe)
 *   -g: the references and the XDP guard's rows only, -p: the references
 *       and the tailnet paths only (both printed, no results written)
 *   -P ROW: before measuring the row named ROW (as printed), run its
 *       packet for SECONDS (10) the way the measurement does, for a
 *       profiler to sample (bench/profile.sh); stderr says when
 *       ("bench: profiling ROW") and how many runs it made
 */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pkttest.h"
#include "guard.h"
#include "identity.h"
#include "policy.h"
#include "service.h"
#include "ref.skel.h"

#define POD4	"198.18.2.1"	   /* a pod that is no service */
#define POD6	"fd00:198:18::2:1" /* the same over IPv6 */
#define BE6_ONE "fd00:198:18::1:1" /* VIP6's one backend */
#define DENIED4 "100.64.0.2"	   /* a client whose identity is denied */
#define ID_DENY 300
/* a pod's host-side veth: an ifindex tp_ifaces does not know */
#define POD_IFINDEX 77
#define MAX_FIGS    128
#define FILL_BUDGET_S \
	120.0 /* a table that fills slower than this is reported, not waited for */

static int rounds = 5, runs = 2000;
static bool quick;
static const char *commit = "unknown"; /* -c: the commit measured */
static const char *prof_row;	       /* -P: the row to profile, NULL: none */
static double prof_s = 10;	       /* -T: for how long */
static bool prof_done;

static int cmp_ct_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tp_ct_key));
}

/* Builds the packet of run @i (distinct tuples for new-flow paths). */
typedef void (*pkt_fn)(int i, struct pkt *p, void *arg);

struct path {
	int prog_fd;
	pkt_fn make;
	void *arg;
	int want;    /* expected verdict, -1: any */
	bool xdp;    /* an XDP program: an Ethernet frame, no __sk_buff */
	int ifindex; /* skb->ifindex and ingress_ifindex, 0: the tailnet's */
	int from;    /* with ifindex 0: the ingress_ifindex (0: this host) */
};

struct fig {
	char name[64];
	double min, med, max; /* ns over the floor */
	double ratio;	      /* median of the rounds' ratios, 0: none */
	char ref[32];
	char note[64];
	struct path src, floor; /* what it ran: a reference runs again */
};

static struct fig figs[MAX_FIGS];
static int n_figs;
static struct ref *refs;
static struct th H;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One run: its duration in ns as the kernel measured it. */
static __u32 run_once(const struct path *pa, const struct pkt *p)
{
	static unsigned char out[4096];
	struct __sk_buff ctx = {
		.ifindex = pa->ifindex ? pa->ifindex : H.l3_ifindex,
		.ingress_ifindex = pa->ifindex ? pa->ifindex : pa->from
	};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->data,
		    .data_size_in = p->len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (pa->xdp) {
		o.ctx_in = NULL;
		o.ctx_size_in = 0;
	}
	if (bpf_prog_test_run_opts(pa->prog_fd, &o)) {
		fprintf(stderr, "bench: test run failed: %s\n",
			strerror(errno));
		exit(1);
	}
	if (pa->want >= 0 && (int)o.retval != pa->want) {
		fprintf(stderr,
			"bench: verdict %u, expected %d: the path is not what it claims\n",
			o.retval, pa->want);
		exit(1);
	}
	return o.duration;
}

/* the _l2cold rows' eviction: EVICT_L2S times the CPU's L2 cache, read */
#define EVICT_L2S 2
static unsigned char *evict_buf;
static size_t evict_len; /* 0: hot rows, nothing evicted */

/*
 * Read @evict_len bytes a cache line apart before a run: what the
 * packet's code and data had in the CPU's own caches (L1, L2) is gone,
 * the shared L3 keeps them, as when the rest of the network stack ran
 * between two packets of a flow.
 */
static void evict(void)
{
	volatile unsigned char *b = evict_buf;
	unsigned int sum = 0;
	size_t i;

	for (i = 0; i < evict_len; i += 64)
		sum += b[i];
	(void)sum;
}

/* One run of @pa on a fresh copy of packet @seq (evicted for _l2cold). */
static __u32 run_fresh(const struct path *pa, int *seq)
{
	struct pkt p;

	pa->make((*seq)++, &p, pa->arg);
	if (evict_len)
		evict();
	return run_once(pa, &p);
}

/* Median of @runs single runs. */
static double median_of(const struct path *pa, int *seq)
{
	__u32 *d = calloc(runs, sizeof(*d));
	double m;
	int i;

	for (i = 0; i < runs; i++)
		d[i] = run_fresh(pa, seq);
	qsort(d, runs, sizeof(*d), cmp_u32);
	m = d[runs / 2];
	free(d);
	return m;
}

static struct fig *fig_add(const char *name)
{
	struct fig *f = &figs[n_figs < MAX_FIGS - 1 ? n_figs++ : n_figs];

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	return f;
}

static void pkt_const(int i, struct pkt *p, void *arg)
{
	*p = *(const struct pkt *)arg;
}

static struct pkt floor_pkt;

static void pkt_new_flow(int i, struct pkt *p, void *arg);
static int tp_in, tp_out;

/* The keys of conntrack table @fd, sorted, in *@out: how many. */
static size_t ct_keys(int fd, struct tp_ct_key **out)
{
	size_t n = 0, cap = 1024;
	struct tp_ct_key *k = malloc(cap * sizeof(*k));

	/* a short list would have the sweep delete other rows' flows */
	while (k && !bpf_map_get_next_key(fd, n ? &k[n - 1] : NULL, &k[n]))
		if (++n == cap) {
			cap *= 2;
			k = realloc(k, cap * sizeof(*k));
		}
	if (!k) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	qsort(k, n, sizeof(*k), cmp_ct_key);
	*out = k;
	return n;
}

/* A conntrack table's keys before a profile loop. */
struct ct_snap {
	int fd;
	size_t n;
	struct tp_ct_key *keys;
};

/* Delete from @s's table every entry it did not hold. */
static void ct_snap_restore(const struct ct_snap *s)
{
	struct tp_ct_key *now;
	size_t i, n = ct_keys(s->fd, &now);

	for (i = 0; i < n; i++)
		if (!bsearch(&now[i], s->keys, s->n, sizeof(now[i]),
			     cmp_ct_key))
			bpf_map_delete_elem(s->fd, &now[i]);
	free(now);
}

/*
 * -P: row @name's single runs for prof_s seconds, for a profiler to
 * sample.  A new-flow row's loop would make flows by the million where
 * its measurement makes thousands, and profile a full table evicting on
 * every insert: every `runs` runs it deletes the conntrack entries it
 * made, so the table stays the size the measurement sees.
 */
static void profile(const char *name, const struct path *pa, int *seq)
{
	double end = now_s() + prof_s;
	struct ct_snap snap[2] = {};
	bool sweep = pa->make == pkt_new_flow && pa->prog_fd == tp_in;
	long n = 0;
	int i;

	if (sweep) {
		snap[0].fd = bpf_map__fd(H.skel->maps.tp_ct);
		snap[1].fd = bpf_map__fd(H.skel->maps.tp_ct_any);
		for (i = 0; i < 2; i++)
			snap[i].n = ct_keys(snap[i].fd, &snap[i].keys);
	}
	fprintf(stderr, "bench: profiling %s\n", name);
	while (now_s() < end) {
		run_fresh(pa, seq);
		n++;
		if (sweep && n % runs == 0)
			for (i = 0; i < 2; i++)
				ct_snap_restore(&snap[i]);
	}
	for (i = 0; sweep && i < 2; i++) {
		ct_snap_restore(&snap[i]);
		free(snap[i].keys);
	}
	if (sweep)
		fprintf(stderr,
			"bench: %s: the flows it made deleted every %d runs\n",
			name, runs);
	fprintf(stderr, "bench: profiled %s: %ld runs in %.1f s\n", name, n,
		prof_s);
	prof_done = true;
}

static bool same_path(const struct path *a, const struct path *b)
{
	return a->prog_fd == b->prog_fd && a->make == b->make &&
	       a->arg == b->arg && a->xdp == b->xdp;
}

/*
 * Measure @pa for ROUNDS rounds, floor @fl subtracted round by round.
 * With a reference @ref, each round runs the reference too, over its own
 * floor, and the figure's ratio is the median of the rounds' ratios:
 * this machine changes speed for minutes at a time, and a ratio of two
 * figures measured minutes apart would carry that change.
 */
static struct fig *measure_vs(const char *name, const struct path *pa,
			      const struct path *fl, const struct fig *ref)
{
	double *v = calloc(rounds, sizeof(*v));
	double *q = calloc(rounds, sizeof(*q));
	struct fig *f = fig_add(name);
	int r, nq = 0, seq = 0, fseq = 0, rseq = 0, rfseq = 0;

	f->src = *pa;
	f->floor = *fl;
	if (prof_row && !strcmp(prof_row, name))
		profile(name, pa, &seq);
	for (r = 0; r < rounds; r++) {
		double floor_ns = median_of(fl, &fseq), ref_ns = 0;

		if (ref) {
			double ref_floor =
				same_path(&ref->floor, fl)
					? floor_ns
					: median_of(&ref->floor, &rfseq);

			ref_ns = median_of(&ref->src, &rseq) - ref_floor;
		}
		v[r] = median_of(pa, &seq) - floor_ns;
		if (ref_ns > 0)
			q[nq++] = v[r] / ref_ns;
	}
	qsort(v, rounds, sizeof(*v), cmp_dbl);
	qsort(q, nq, sizeof(*q), cmp_dbl);
	fprintf(stderr, "bench: %s %.0f ns\n", name, v[rounds / 2]);
	f->min = v[0];
	f->med = v[rounds / 2];
	f->max = v[rounds - 1];
	if (nq) {
		f->ratio = q[nq / 2];
		snprintf(f->ref, sizeof(f->ref), "%s", ref->name);
	}
	free(v);
	free(q);
	return f;
}

/* Measure @pa over the empty TC program, against @ref (NULL: none). */
static struct fig *measure_to(const char *name, const struct path *pa,
			      const struct fig *ref)
{
	struct path fl = { bpf_program__fd(refs->progs.ref_empty), pkt_const,
			   &floor_pkt, -1 };

	return measure_vs(name, pa, &fl, ref);
}

static struct fig *measure(const char *name, const struct path *pa)
{
	return measure_to(name, pa, NULL);
}

/* ---- packets -------------------------------------------------------------- */

static void mk(struct pkt *p, const char *s, __u16 sp, const char *d, __u16 dp,
	       __u8 flags)
{
	pt_build(FLOWP(s, sp, d, dp, IPPROTO_TCP, flags), p);
}

/* The @i-th flow tuple: the client port walks 1024..65535, then the client. */
static void pkt_flow_n(__u32 i, struct pkt *p, const char *dst)
{
	char client[32];

	snprintf(client, sizeof(client), "100.64.%u.%u", 1 + (i / 64512) / 250,
		 1 + (i / 64512) % 250);
	mk(p, client, 1024 + i % 64512, dst, 80, PKT_TCP_SYN);
}

/* A flow no run used before: new-flow paths never hit an old entry. */
static __u32 next_new_flow = 2000000;

static void pkt_new_flow(int i, struct pkt *p, void *arg)
{
	pkt_flow_n(next_new_flow++, p, arg);
}

/* Client ports of the established flows, one pair per measured row. */
static __u16 next_port = 30000;

/* Established: a handshake through both hooks, from_tailnet first. */
static void handshake(const char *client, __u16 cport, const char *dst,
		      __u16 dport, const char *replier, __u16 rport)
{
	assert_int_equal(pt_send_in(&H, client, cport, dst, dport, IPPROTO_TCP,
				    PKT_TCP_SYN),
			 PASS);
	assert_int_equal(pt_send_out(&H, replier, rport, client, cport,
				     IPPROTO_TCP, PKT_TCP_SYN | PKT_TCP_ACK),
			 PASS);
	assert_int_equal(pt_send_in(&H, client, cport, dst, dport, IPPROTO_TCP,
				    PKT_TCP_ACK),
			 PASS);
}

/* ---- the paths ------------------------------------------------------------ */

static struct fig *ref_lookup_fig, *ref_nat_fig;

static void ref_paths(const char *suffix)
{
	char name[64];
	struct tp_ct_key k = pt_ct_key(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP);
	struct {
		__u64 packets;
		struct tp_addr a;
		__be16 port;
		__u16 pad[3];
	} v = {
		.a = pt_addr(BE4[0]),
		.port = htons(8080),
	};
	static struct pkt ack;
	struct path pa = { 0, pkt_const, &ack, PASS };
	struct tp_iface ifc = { .flags = TP_IFACE_F_L3 | TP_IFACE_F_TAILNET,
				.zone = TH_ZONE };
	__u32 ifindex = H.l3_ifindex;

	k.zone = 1;
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(refs->maps.ref_flows),
					     &k, &v, BPF_ANY),
			 0);
	mk(&ack, CLIENT4, 40000, VIP4, 80, PKT_TCP_ACK);
	floor_pkt = ack;
	pa.prog_fd = bpf_program__fd(refs->progs.ref_lookup);
	snprintf(name, sizeof(name), "ref_lookup%s", suffix);
	ref_lookup_fig = measure(name, &pa);
	pa.prog_fd = bpf_program__fd(refs->progs.ref_nat);
	snprintf(name, sizeof(name), "ref_nat%s", suffix);
	ref_nat_fig = measure(name, &pa);
	/* the tailnet interface as the harness describes it in tp_ifaces */
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(refs->maps.ref_ifaces),
					     &ifindex, &ifc, BPF_ANY),
			 0);
	pa.prog_fd = bpf_program__fd(refs->progs.ref_iface_lookup);
	snprintf(name, sizeof(name), "ref_iface_lookup%s", suffix);
	measure_to(name, &pa, ref_lookup_fig);
}

static const char *BE_ONE[1] = { "198.18.1.1" };
static const char *BE6_ONE_LIST[1] = { BE6_ONE };

static void tp_paths(const char *suffix, const char *vip)
{
	static struct pkt pass_ack, dnat_ack, reply_ack, deny_syn;
	char name[64];
	struct fig *f, *least;
	struct path pa;
	const char *be;

	__u16 pass_port = next_port++, dnat_port = next_port++;

	mk(&pass_ack, CLIENT4, pass_port, POD4, 80, PKT_TCP_ACK);
	handshake(CLIENT4, pass_port, POD4, 80, POD4, 80);
	snprintf(name, sizeof(name), "pass_established%s", suffix);
	pa = (struct path){ tp_in, pkt_const, &pass_ack, PASS };
	measure_to(name, &pa, ref_lookup_fig);

	/* every service has the one backend; its reply comes from there */
	be = BE_ONE[0];
	handshake(CLIENT4, dnat_port, vip, 80, be, 8080);
	mk(&dnat_ack, CLIENT4, dnat_port, vip, 80, PKT_TCP_ACK);
	snprintf(name, sizeof(name), "dnat_established%s", suffix);
	pa = (struct path){ tp_in, pkt_const, &dnat_ack, PASS };
	measure_to(name, &pa, ref_nat_fig);

	mk(&reply_ack, be, 8080, CLIENT4, dnat_port, PKT_TCP_ACK);
	snprintf(name, sizeof(name), "reply_revnat%s", suffix);
	pa = (struct path){ tp_out, pkt_const, &reply_ack, PASS };
	measure_to(name, &pa, ref_nat_fig);

	/* the same reply forwarded from a pod's interface (no tp_ifaces entry) */
	snprintf(name, sizeof(name), "reply_revnat_fwd%s", suffix);
	pa = (struct path){ tp_out, pkt_const, &reply_ack, PASS };
	pa.from = POD_IFINDEX;
	measure_to(name, &pa, ref_nat_fig);

	/*
	 * the least a new flow does, on as many distinct tuples: its
	 * conntrack grows as tp_ct does, row by row
	 */
	snprintf(name, sizeof(name), "ref_new%s", suffix);
	pa = (struct path){ bpf_program__fd(refs->progs.ref_new), pkt_new_flow,
			    (void *)vip, PASS };
	least = measure_to(name, &pa, ref_nat_fig);

	snprintf(name, sizeof(name), "new_flow_dnat%s", suffix);
	pa = (struct path){ tp_in, pkt_new_flow, (void *)vip, PASS };
	f = measure_to(name, &pa, ref_nat_fig);
	if (least->med > 0)
		snprintf(f->note, sizeof(f->note), "%.2fx ref_new",
			 f->med / least->med);

	mk(&deny_syn, DENIED4, next_port++, POD4, 80, PKT_TCP_SYN);
	snprintf(name, sizeof(name), "policy_deny%s", suffix);
	pa = (struct path){ tp_in, pkt_const, &deny_syn, DROP };
	measure_to(name, &pa, ref_lookup_fig);
}

/*
 * The established paths over IPv6 (the fast paths take both families),
 * against the IPv4 references: a 40-byte header and 16-byte addresses
 * to read and, for DNAT, no IP checksum to fix.
 */
static void tp_paths6(void)
{
	static struct pkt pass_ack, dnat_ack, reply_ack;
	__u16 pass_port = next_port++, dnat_port = next_port++;
	struct path pa;

	mk(&pass_ack, CLIENT6, pass_port, POD6, 80, PKT_TCP_ACK);
	handshake(CLIENT6, pass_port, POD6, 80, POD6, 80);
	pa = (struct path){ tp_in, pkt_const, &pass_ack, PASS };
	measure_to("pass_established_v6", &pa, ref_lookup_fig);

	handshake(CLIENT6, dnat_port, VIP6, 80, BE6_ONE, 8080);
	mk(&dnat_ack, CLIENT6, dnat_port, VIP6, 80, PKT_TCP_ACK);
	pa = (struct path){ tp_in, pkt_const, &dnat_ack, PASS };
	measure_to("dnat_established_v6", &pa, ref_nat_fig);

	mk(&reply_ack, BE6_ONE, 8080, CLIENT6, dnat_port, PKT_TCP_ACK);
	pa = (struct path){ tp_out, pkt_const, &reply_ack, PASS };
	measure_to("reply_revnat_v6", &pa, ref_nat_fig);
}

/* ---- the uplink's XDP guard --------------------------------------------------- */

/* An Ethernet frame from @src: a WireGuard initiation to 51820, or TCP. */
static void guard_frame(struct pkt *p, const char *src, bool handshake)
{
	static __u8 init[TP_WG_INITIATION_LEN] = { TP_WG_MSG_INITIATION };
	struct pkt_spec s = { .l2 = 1,
			      .family = AF_INET,
			      .saddr = src,
			      .daddr = "198.18.0.1",
			      .proto = IPPROTO_UDP,
			      .sport = 40000,
			      .dport = 51820,
			      .payload = init,
			      .payload_len = sizeof(init) };

	if (!handshake) {
		s = pt_flow(src, 40000, "198.18.0.1", 443, IPPROTO_TCP,
			    PKT_TCP_ACK);
		s.l2 = 1;
	}
	pt_build(&s, p);
}

static void guard_rate(__u32 rate, __u32 burst)
{
	static const __u16 ports[] = { TP_GUARD_PORT_WG, TP_GUARD_PORT_TS };
	struct tp_guard_config c = {};

	assert_int_equal(tp_guard_ports_set(&c, ports, 2), 0);
	assert_int_equal(tp_guard_config_fill(&c, rate, burst), 0);
	assert_int_equal(tp_guard_config_put(&H.maps, &c), 0);
}

/*
 * tp_xdp_guard over an empty XDP program, the clock fixed (no refill
 * between runs): a handshake that takes a token (the LRU bucket's lookup
 * and update), one over the rate, a listed source, and what every other
 * uplink packet costs (parse, an empty drop list's lookup).
 */
static void guard_rows(void)
{
	static struct pkt pass, drop, listed, other;
	struct path fl = { bpf_program__fd(refs->progs.ref_xdp_empty),
			   pkt_const, &other, -1, true };
	int fd = bpf_program__fd(H.skel->progs.tp_xdp_guard);
	struct path pa = { fd, pkt_const, &pass, 2 /* XDP_PASS */, true };
	struct tp_addr a;
	unsigned int plen;

	guard_frame(&pass, "198.18.7.7", true);
	guard_frame(&drop, "198.18.9.9", true);
	guard_frame(&listed, "198.18.6.6", true);
	guard_frame(&other, "198.18.7.7", false);
	guard_rate(1, TP_GUARD_BURST_MAX); /* a token for every run */
	measure_vs("xdp_guard_pass", &pa, &fl, ref_lookup_fig);
	guard_rate(1, 1);
	pa.arg = &drop;
	pa.want = -1;
	run_once(&pa, &drop); /* its one token */
	pa.want = 1;	      /* XDP_DROP */
	measure_vs("xdp_guard_drop", &pa, &fl, ref_lookup_fig);
	assert_int_equal(pkt_prefix_parse("198.18.6.0/24", &a, &plen), 0);
	assert_int_equal(tp_guard_drop_add(&H.maps, &a, plen, TP_OWNER_TPCTL),
			 0);
	pa.arg = &listed;
	measure_vs("xdp_guard_listed", &pa, &fl, ref_lookup_fig);
	assert_int_equal(tp_guard_drop_del(&H.maps, &a, plen, TP_OWNER_NONE),
			 0);
	pa.arg = &other;
	pa.want = 2;
	measure_vs("xdp_guard_unguarded", &pa, &fl, ref_lookup_fig);
}

/* ---- the uplink: SNAT replies and everything else ------------------------------- */

#define SNAT4	   "198.18.0.1"
#define SNAT_PORT  61000 /* the range's one port: the flow's is known */
#define SNAT_VIP4  "198.19.0.99"
#define UPLINK_BE4 "198.18.1.7" /* routed via the test uplink */

static void uplink_frame(struct pkt *p, const char *s, __u16 sp, const char *d,
			 __u16 dp)
{
	struct pkt_spec spec = *FLOWP(s, sp, d, dp, IPPROTO_TCP, PKT_TCP_ACK);

	spec.l2 = 1;
	pt_build(&spec, p);
}

/*
 * tp_from_uplink (TC ingress of an uplink, Ethernet): the reply of a SNAT
 * flow (looked up, restored, redirected to the tailnet interface) against
 * ref_nat, and a packet that is not ours (one parse, one lookup) against
 * ref_lookup.
 */
static void uplink_rows(void)
{
	const char *bes[1] = { UPLINK_BE4 };
	static struct pkt reply, foreign;
	struct path pa;
	struct pkt out;
	int up, verdict;

	up = th_uplink(&H);
	if (up < 0) {
		fprintf(stderr,
			"bench: no test uplink (%s): uplink rows left out\n",
			strerror(-up));
		return;
	}
	assert_int_equal(
		th_snat_config(&H, SNAT4, NULL, SNAT_PORT, SNAT_PORT, 0), 0);
	pt_service(&H, SNAT_VIP4, 80, IPPROTO_TCP, bes, 1, 8080, NULL, NULL,
		   TP_SVC_F_SNAT, 0);
	mk(&out, CLIENT4, 45000, SNAT_VIP4, 80, PKT_TCP_SYN);
	pt_run(&H, TH_FROM_TAILNET, &out, &reply, &verdict);
	assert_int_equal(verdict,
			 7 /* TC_ACT_REDIRECT: we forward it ourselves */);

	uplink_frame(&reply, UPLINK_BE4, 8080, SNAT4, SNAT_PORT);
	pa = (struct path){ bpf_program__fd(H.skel->progs.tp_from_uplink),
			    pkt_const,
			    &reply,
			    7,
			    false,
			    up };
	measure_to("uplink_snat_reply", &pa, ref_nat_fig);

	uplink_frame(&foreign, UPLINK_BE4, 8080, SNAT4, 22);
	pa.arg = &foreign;
	pa.want = PASS;
	measure_to("uplink_not_ours", &pa, ref_lookup_fig);
}

/* ---- set-up ---------------------------------------------------------------- */

/*
 * The scaling rows' largest service count, and the services capacity they
 * load with (the loader's capacity.services knob): ids for that many, the
 * bench's own service and a spare.
 */
#define SCALE_SERVICES 100000
#define SCALE_CAP      (SCALE_SERVICES + 2)

/* A fresh datapath with @ct_size conntrack entries, @services service ids. */
static int open_all(__u32 ct_size, __u32 services)
{
	struct th_knobs k = { .ct_size = ct_size, .cap_services = services };

	if (th_unavailable()) {
		fprintf(stderr, "bench: skipped: %s\n", th_unavailable());
		return -1;
	}
	if (H.skel)
		th_close(&H);
	if (th_open(&H, ct_size || services ? &k : NULL))
		return -1;
	th_set_clock(&H, T0);
	tp_in = bpf_program__fd(H.skel->progs.tp_from_tailnet);
	tp_out = bpf_program__fd(H.skel->progs.tp_to_tailnet);
	/* one service with one backend, a denied client, default allow */
	pt_service(&H, VIP4, 80, IPPROTO_TCP, BE_ONE, 1, 8080, NULL, NULL, 0,
		   0);
	pt_service(&H, VIP6, 80, IPPROTO_TCP, BE6_ONE_LIST, 1, 8080, NULL, NULL,
		   0, 0);
	pt_ident(&H, TH_ZONE, DENIED4 "/32", ID_DENY);
	pt_rule(&H, ID_DENY, TP_POLICY_ANY_ID, 0, 0, 0, 0, TP_VERDICT_DENY);
	return 0;
}

/* The @i-th VIP of the scale rows: 198.19.128.0/17 and up, never VIP4. */
static void scale_vip(__u32 i, char *buf, size_t len)
{
	__u32 a = 0xc6138000u + i; /* 198.19.128.0 */

	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255);
}

/*
 * Add services up to @n, staged and made live 1,000 at a time (as tpctl
 * batch does: a table going live waits for an RCU grace period, so one
 * write at a time costs ~8 ms each); returns seconds taken, or -1 (with
 * @note) at a limit.
 */
static double fill_services(__u32 have, __u32 n, char *note, size_t len)
{
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs = { .port = htons(8080), .weight = 1 };
	struct tp_svc_batch *b = tp_svc_batch_new();
	double t0 = now_s();
	char vip[32];
	__u32 i;
	int err = b ? 0 : -ENOMEM;

	bs.addr = pt_addr("198.18.1.1");
	for (i = have; i < n && !err; i++) {
		struct tp_svc_key k;

		scale_vip(i, vip, sizeof(vip));
		k = pt_svc_key(vip, 80, IPPROTO_TCP);
		err = tp_service_stage(&H.maps, b, &k, &spec, &bs, 1, i);
		if (!err && ((i + 1 - have) % 1000 == 0 || i + 1 == n))
			err = tp_svc_batch_flush(&H.maps, b, NULL, NULL);
		if (!err && now_s() - t0 > FILL_BUDGET_S) {
			snprintf(note, len, "stopped: %u services took %.0f s",
				 i + 1 - have, now_s() - t0);
			tp_svc_batch_free(b);
			return -1;
		}
	}
	tp_svc_batch_free(b);
	if (err) {
		snprintf(note, len, "stopped at %u services: %s", i,
			 strerror(-err));
		return -1;
	}
	return now_s() - t0;
}

/* Identities 100.80.0.0/12 one /32 each, and a rule per identity. */
static double fill_rules(__u32 have, __u32 n, char *note, size_t len)
{
	double t0 = now_s();
	char cidr[40];
	__u32 i, a;
	int err;

	for (i = have; i < n; i++) {
		struct tp_rule r = { .src_id = 1000 + i,
				     .dst_id = TP_POLICY_ANY_ID,
				     .proto = IPPROTO_TCP,
				     .port_lo = 80,
				     .port_hi = 80,
				     .verdict = TP_VERDICT_ALLOW,
				     .owner = TP_OWNER_TPCTL };
		struct tp_addr ad;
		unsigned int plen;
		__u32 id;

		a = 0x64500000u + i; /* 100.80.0.0 */
		snprintf(cidr, sizeof(cidr), "%u.%u.%u.%u/32", a >> 24,
			 (a >> 16) & 255, (a >> 8) & 255, a & 255);
		if (pkt_prefix_parse(cidr, &ad, &plen) ||
		    (err = tp_identity_set(&H.maps, TH_ZONE, &ad, plen,
					   1000 + i, TP_OWNER_TPCTL)) ||
		    (err = tp_policy_rule_add(&H.maps, &r, &id))) {
			snprintf(note, len, "stopped at %u rules: %s", i,
				 strerror(-err));
			return -1;
		}
		if (now_s() - t0 > FILL_BUDGET_S) {
			snprintf(note, len, "stopped: %u rules took %.0f s",
				 i + 1 - have, now_s() - t0);
			return -1;
		}
	}
	return now_s() - t0;
}

static void scale_rows(void)
{
	static const __u32 sizes[] = { 10, 1000, 10000, 100000 };
	__u32 have_s = 0, have_r = 0, n;
	char suffix[32], note[64], vip[32];
	size_t i, n_sizes = quick ? 3 : 4;
	double t;
	bool svc_ok = true, rule_ok = true;

	/* the ABI's default capacity stops short of 100,000 services */
	if (open_all(0, SCALE_CAP))
		return;

	for (i = 0; i < n_sizes; i++) {
		n = sizes[i];
		note[0] = 0;
		/*
		 * services up to what tp_services and tp_svc_stats hold
		 * (SCALE_CAP services, at least SCALE_CAP ids as loaded for
		 * these rows), less the bench's own service and a spare
		 */
		if (svc_ok && n > tp_stat_ids_end(H.maps.svc_stats) - 2)
			n = tp_stat_ids_end(H.maps.svc_stats) - 2;
		if (svc_ok && n > tp_map_max_entries(H.maps.services) - 2)
			n = tp_map_max_entries(H.maps.services) - 2;
		if (svc_ok && n > have_s) {
			t = fill_services(have_s, n, note, sizeof(note));
			svc_ok = t >= 0;
			if (svc_ok) {
				struct fig *f;

				snprintf(suffix, sizeof(suffix),
					 "fill_services_%u", n);
				f = fig_add(suffix);
				f->min = f->med = f->max =
					t * 1e9 / (n - have_s);
				snprintf(f->note, sizeof(f->note),
					 "ns per service added, %u present",
					 have_s);
				have_s = n;
			} else {
				snprintf(suffix, sizeof(suffix), "services_%u",
					 n);
				snprintf(fig_add(suffix)->note,
					 sizeof(figs[0].note), "%s", note);
			}
		}
		n = sizes[i];
		if (rule_ok) {
			t = fill_rules(have_r, n, note, sizeof(note));
			rule_ok = t >= 0;
			if (rule_ok) {
				struct fig *f;

				snprintf(suffix, sizeof(suffix),
					 "fill_rules_%u", n);
				f = fig_add(suffix);
				f->min = f->med = f->max =
					t * 1e9 / (n - have_r);
				snprintf(
					f->note, sizeof(f->note),
					"ns per identity + rule added, %u present",
					have_r);
				have_r = n;
			} else {
				snprintf(suffix, sizeof(suffix), "rules_%u", n);
				snprintf(fig_add(suffix)->note,
					 sizeof(figs[0].note), "%s", note);
			}
		}
		if (!svc_ok && !rule_ok)
			break;
		/* the paths through the last service written, with this many present */
		snprintf(suffix, sizeof(suffix), "@%us_%ur", have_s, have_r);
		scale_vip(have_s - 1, vip, sizeof(vip));
		tp_paths(suffix, vip);
	}
}

/* Flows through conntrack: one hot flow, and keys cycled through @n flows. */
struct cyc {
	__u32 n;
};

static void pkt_cycled(int i, struct pkt *p, void *arg)
{
	const struct cyc *c = arg;

	pkt_flow_n(i % c->n, p, POD4);
}

static void ct_rows(void)
{
	static const __u32 sizes[] = { 10000, 100000, 1000000 };
	size_t i, n_sizes = quick ? 2 : 3;
	struct pkt p;
	struct path pa;
	struct cyc c;
	char name[64];
	int seq;

	for (i = 0; i < n_sizes; i++) {
		c.n = sizes[i];
		if (open_all(c.n < 262144 ? 262144 : 1u << 21, 0))
			return;
		for (seq = 0; seq < (int)c.n; seq++) {
			pkt_flow_n(seq, &p, POD4);
			pa = (struct path){ tp_in, pkt_const, &p, PASS };
			run_once(&pa, &p);
		}
		snprintf(name, sizeof(name), "ct_hit_cycled@%uflows", c.n);
		pa = (struct path){ tp_in, pkt_cycled, &c, PASS };
		measure_to(name, &pa, ref_lookup_fig);
		snprintf(name, sizeof(name), "ct_hit_hot@%uflows", c.n);
		pkt_flow_n(0, &p, POD4);
		pa = (struct path){ tp_in, pkt_const, &p, PASS };
		measure_to(name, &pa, ref_lookup_fig);
	}
}

/* The CPU's L2 cache in bytes (1 MiB when neither source says). */
static size_t l2_bytes(void)
{
	long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
	unsigned long kib;
	FILE *f;

	if (v > 0)
		return v;
	f = fopen("/sys/devices/system/cpu/cpu0/cache/index2/size", "r");
	if (f && fscanf(f, "%luK", &kib) == 1 && kib) {
		fclose(f);
		return kib << 10;
	}
	if (f)
		fclose(f);
	return 1 << 20;
}

/*
 * The references and the tailnet paths again, the CPU's own caches
 * emptied before each run (_l2cold): in real traffic the stack runs
 * between two packets of a flow, and a packet finds its program's code,
 * its conntrack bucket and entry and its counters in L3 at best.  There
 * the cost is the distinct cache lines a path touches, which hot single
 * runs hide (the references touch a few, a tailplane path many more).
 * Evicting L3 too would add DRAM and page-walk latency to every line
 * (microseconds a run in a VM): no packet of a live flow sees that.
 */
static void cold_paths(const char *vip)
{
	struct fig *hot_lookup = ref_lookup_fig, *hot_nat = ref_nat_fig;

	evict_len = EVICT_L2S * l2_bytes();
	evict_buf = malloc(evict_len);
	if (!evict_buf) {
		evict_len = 0;
		return;
	}
	memset(evict_buf, 1, evict_len);
	ref_paths("_l2cold");
	tp_paths("_l2cold", vip);
	free(evict_buf);
	evict_buf = NULL;
	evict_len = 0;
	ref_lookup_fig = hot_lookup;
	ref_nat_fig = hot_nat;
}

/* ---- output ----------------------------------------------------------------- */

static void write_results(const char *dir)
{
	char path[512], date[64];
	struct utsname u;
	time_t t = time(NULL);
	FILE *md, *js;
	int i;

	uname(&u);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	snprintf(path, sizeof(path), "%s/latest.md", dir);
	md = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/latest.json", dir);
	js = fopen(path, "w");
	if (!md || !js) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	fprintf(md,
		"# tailplane program cost\n\n%s at %s, kernel %s, %ld CPUs, %s; %d rounds of %d "
		"single runs, ns over the empty program\n\n"
		"| path | min | median | max | ratio | to | note |\n|---|---|---|---|---|---|---|\n",
		date, commit, u.release, sysconf(_SC_NPROCESSORS_ONLN),
		quick ? "QUICK" : "full", rounds, runs);
	fprintf(js,
		"{\"date\":\"%s\",\"commit\":\"%s\",\"kernel\":\"%s\",\"cpus\":%ld,\"quick\":%s,"
		"\"rounds\":%d,\"runs\":%d,\"figures\":[",
		date, commit, u.release, sysconf(_SC_NPROCESSORS_ONLN),
		quick ? "true" : "false", rounds, runs);
	for (i = 0; i < n_figs; i++) {
		const struct fig *f = &figs[i];

		fprintf(md, "| %s | %.0f | %.0f | %.0f | %s%.2f | %s | %s |\n",
			f->name, f->min, f->med, f->max, "", f->ratio, f->ref,
			f->note);
		fprintf(js,
			"%s{\"name\":\"%s\",\"min\":%.1f,\"median\":%.1f,\"max\":%.1f,"
			"\"ratio\":%.3f,\"to\":\"%s\",\"note\":\"%s\"}",
			i ? "," : "", f->name, f->min, f->med, f->max, f->ratio,
			f->ref, f->note);
	}
	fprintf(js, "]}\n");
	fclose(md);
	fclose(js);
}

static void print_table(void)
{
	int i;

	printf("%-40s %9s %9s %9s %7s  %s\n", "PATH", "MIN", "MEDIAN", "MAX",
	       "RATIO", "TO / NOTE");
	for (i = 0; i < n_figs; i++) {
		const struct fig *f = &figs[i];

		if (f->ratio > 0)
			printf("%-40s %9.0f %9.0f %9.0f %7.2f  %s %s\n",
			       f->name, f->min, f->med, f->max, f->ratio,
			       f->ref, f->note);
		else
			printf("%-40s %9.0f %9.0f %9.0f %7s  %s\n", f->name,
			       f->min, f->med, f->max, "-", f->note);
	}
}

/* -P named no row of this run: say so (exit status 1). */
static int prof_missed(void)
{
	if (!prof_row || prof_done)
		return 0;
	fprintf(stderr, "bench: -P %s: no row of that name in this run\n",
		prof_row);
	return 1;
}

int main(int argc, char **argv)
{
	const char *dir = "bench/results";
	bool guard_only = false, paths_only = false;
	int c;

	while ((c = getopt(argc, argv, "qgpo:c:P:T:")) != -1) {
		if (c == 'q')
			quick = true;
		else if (c == 'g')
			guard_only = true;
		else if (c == 'p')
			paths_only = true;
		else if (c == 'o')
			dir = optarg;
		else if (c == 'c')
			commit = optarg;
		else if (c == 'P')
			prof_row = optarg;
		else if (c == 'T')
			prof_s = atof(optarg);
		else
			return 2;
	}
	if (prof_s <= 0) {
		fprintf(stderr, "bench: -T wants seconds above 0\n");
		return 2;
	}
	/* written into JSON unescaped: what git describe prints, no more */
	if (!*commit || strspn(commit, "0123456789abcdefghijklmnopqrstuvwxyz"
				       "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_+") !=
				strlen(commit)) {
		fprintf(stderr,
			"bench: -c wants a commit name ([A-Za-z0-9.+_-])\n");
		return 2;
	}
	if (quick) {
		rounds = 5;
		runs = 500;
	}

	refs = ref__open();
	if (refs) {
		/* ref_new's backend: the one every service has (BE_ONE) */
		refs->rodata->ref_backend_addr = inet_addr("198.18.1.1");
		refs->rodata->ref_backend_port = htons(8080);
		if (ref__load(refs)) {
			ref__destroy(refs);
			refs = NULL;
		}
	}
	if (!refs) {
		fprintf(stderr,
			"bench: cannot load the reference programs: %s\n",
			strerror(errno));
		return 1;
	}
	if (open_all(0, 0))
		return 1;
	ref_paths("");
	if (guard_only || paths_only) {
		if (guard_only) {
			guard_rows();
		} else {
			tp_paths("", VIP4);
			tp_paths6();
			cold_paths(VIP4);
		}
		print_table();
		th_close(&H);
		ref__destroy(refs);
		return prof_missed();
	}
	tp_paths("", VIP4);
	tp_paths6();
	cold_paths(VIP4);
	uplink_rows();
	guard_rows();
	scale_rows();
	ct_rows();
	print_table();
	write_results(dir);
	th_close(&H);
	ref__destroy(refs);
	return prof_missed();
}
