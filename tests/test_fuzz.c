// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Differential fuzz test of the datapath against the reference model.
 *
 * Each test loads a fresh datapath (th_open()), writes random services
 * into it with tp_service_set() and mirrors them into a fresh model
 * (refmodel.c, docs/datapath.md and docs/policy.md, with tests/policyref.c
 * deciding), then runs random packets through both: flows to VIPs and to
 * other addresses from small pools of tailnet peers of two zones (so
 * tuples collide and get reused), flows the cluster side or this host
 * starts toward the tailnet through tp_to_tailnet, replies built from the
 * model's conntrack, TCP flag sequences, ICMP echo, ICMP errors quoting
 * known flows in both directions, fragments with and without records,
 * extension headers, IPv4 options, other protocols, Ethernet frames,
 * packets forwarded from one tailnet interface to another (the output of
 * tp_from_tailnet run again through tp_to_tailnet of the interface the
 * route leads to, or any packet with a random ingress interface), and
 * mutated packets.  The clock moves by random steps, sometimes past
 * timeouts or onto a timeout's boundary.
 *
 * The packets of a test are split into rounds.  A round is either pure
 * datapath (no identities, no rules, every zone default allow) or a
 * policy round: random identities (tp_identity_set()), rules
 * (tp_policy_rule_add()) and zone defaults (tp_policy_default_set()),
 * deny defaults included, mirrored into the model's policy; during the
 * round they change every few packets, so flows are decided again under
 * new revisions.  Flows live on across rounds.
 *
 * The test network namespace routes TH_ZONE2_NET4/6 to the zone-2 TUN
 * (harness) and, added here, 100.64.0.0/10 and fd7a:115c:a1e0::/64 (the
 * zone-1 peers) to the zone-1 TUN, so that flows cross zones both ways;
 * the model is given the same routes.  A VIP of each family
 * (FZ_EGRESS_VIP4/6) is routed into zone 2 too: egress flows to a service
 * there are egress services (DNAT and masquerade in tp_to_tailnet).  Some
 * zones masquerade flows crossing into them (TP_MASQ_F_CROSSING), policy
 * rounds add rules that let flows cross, and what tp_from_tailnet
 * forwards itself (TC_ACT_REDIRECT) is run through tp_to_tailnet of the
 * zone it went to; a crossing's replies and its peer's ICMP errors come
 * in through that zone's interface.
 *
 * Verdict, output bytes and the events the packet put on the ring buffer
 * must be identical for every packet; every FZ_CHECK_EVERY packets and at
 * the end, conntrack (every field, the policy fields included), affinity,
 * fragment records, tp_stats, tp_rule_stats and tp_svc_stats must be
 * identical too.  Events are rate-limited by the datapath's per-CPU token
 * bucket, which the model keeps too: the test pins itself to one CPU, so
 * every run uses the same bucket, and each profile loads the datapath
 * with its own events_per_sec / events_burst.  The "ring" test reads the
 * ring only at its end, so that the ring fills and events are lost
 * (TP_STAT_EVENTS_LOST); its records are compared then, the other tests'
 * after every packet.
 *
 * Known conflicts between the BPF and the documents that the model
 * resolves as the BPF does are marked "Known conflict (reported)" in
 * refmodel.c; nothing is masked by default.
 *
 * Environment:
 *   TP_FUZZ_SEED   the seed (default: from the clock).  "seed=N" is
 *                  printed first; the same seed and TP_FUZZ_ITERS replay
 *                  the same run.
 *   TP_FUZZ_ITERS  packets in all, split over the tests (default 100000).
 *   TP_FUZZ_CHECK_EVERY  packets between full state comparisons (default
 *                  1000); 1 finds the packet a state difference came from.
 *   TP_FUZZ_TRACE  set: print every packet's hex and what the model did.
 *   TP_FUZZ_SKIP   comma-separated list of known discrepancies to look
 *                  past (triage only; the default run skips nothing):
 *                  "exthdr-trunc"  no IPv6 packets with an extension header
 *                                  that runs past the packet;
 *                  "multi-frag"    no IPv6 packets with two fragment headers;
 *                  "rk-fields"     compare only flags and orig_* of reply keys;
 *                  "icmp-dir"      ICMP errors only to the program their
 *                                  direction is meant for;
 *                  "policy"        docs/datapath.md only: no identities,
 *                                  rules or zone defaults (every round
 *                                  pure), no ingress interfaces (this
 *                                  host sends everything), no flows
 *                                  started toward the tailnet, no replies
 *                                  through tp_from_tailnet, no forwarded
 *                                  copies;
 *                  "events"        do not compare the ring buffer's records
 *                                  (counters still are).
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <net/if.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "conntrack.h"
#include "harness.h"
#include "identity.h"
#include "iface.h"
#include "pktgen.h"
#include "policy.h"
#include "policyref.h"
#include "names.h"
#include "refmodel.h"
#include "static_nat.h"
#include "service.h"

#define FZ_DEFAULT_ITERS 100000
#define FZ_UPLINK	 4242 /* an ingress ifindex tp_ifaces describes as an uplink */
#define FZ_CHECK_EVERY	 1000
#define FZ_MAX_SVC	 14
#define FZ_MAX_BE	 8
#define FZ_MAX_FLOWS	 256
#define FZ_RECENT	 10
#define FZ_MAX_PEND	 32
#define FZ_MAX_LEN	 1600
#define FZ_REPORT_MAX	 12
#define FZ_MAX_EVENTS	 ((TP_EVENTS_SIZE / REF_EVENT_RECORD) + 16)

#define MS  1000000ULL
#define SEC 1000000000ULL

enum {
	SKIP_EXTHDR_TRUNC = 1 << 0,
	SKIP_MULTI_FRAG = 1 << 1,
	SKIP_RK_FIELDS = 1 << 2,
	SKIP_ICMP_DIR = 1 << 3,
	SKIP_POLICY = 1 << 4,
	SKIP_EVENTS = 1 << 5,
};

static unsigned long long fz_seed;
static long fz_iters = FZ_DEFAULT_ITERS;
static unsigned int fz_skip;
static long fz_check_every = FZ_CHECK_EVERY;
static bool fz_trace;

/* ---- random numbers (splitmix64) ------------------------------------------ */

struct rng {
	__u64 s;
};

static __u64 rnd64(struct rng *r)
{
	__u64 z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static __u32 rn(struct rng *r, __u32 n)
{
	return n ? (__u32)(rnd64(r) % n) : 0;
}

/* Uniform in [lo, hi]. */
static __u32 rr(struct rng *r, __u32 lo, __u32 hi)
{
	return lo + rn(r, hi - lo + 1);
}

static bool pct(struct rng *r, unsigned int p)
{
	return rn(r, 100) < p;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(r, arr)  ((arr)[rn((r), ARRAY_SIZE(arr))])

/* ---- address and port pools ----------------------------------------------- */

/* zone-1 peers (tptun0); 100.64.0.0/10 and fd7a:115c:a1e0::/64 route there */
static const char *const CLIENT4[] = { "100.64.0.1",  "100.64.0.2",
				       "100.64.0.3",  "100.64.0.4",
				       "100.64.0.5",  "100.64.100.1",
				       "100.127.0.9", "100.64.7.200" };
static const char *const CLIENT6[] = {
	"fd7a:115c:a1e0::1",   "fd7a:115c:a1e0::2", "fd7a:115c:a1e0::3",
	"fd7a:115c:a1e0::4",   "fd7a:115c:a1e0::5", "fd7a:115c:a1e0:ab12::6",
	"fd7a:115c:a1e0::7:7", "fd7a:115c:a1e0::8"
};
/* zone-2 peers (tptun1): TH_ZONE2_NET4/6 */
static const char *const ZONE2_4[] = { "100.100.0.1", "100.100.0.2",
				       "100.100.7.9", "100.100.200.3" };
static const char *const ZONE2_6[] = { "fd7a:115c:a1e0:2::1",
				       "fd7a:115c:a1e0:2::2",
				       "fd7a:115c:a1e0:2::7:9",
				       "fd7a:115c:a1e0:2:1::3" };
static const char *const VIP4[] = { "198.19.0.1", "198.19.0.2", "198.19.0.3",
				    "198.19.0.4", "198.19.0.5", "198.19.7.6" };
static const char *const VIP6[] = { "fd00:198:19::1", "fd00:198:19::2",
				    "fd00:198:19::3", "fd00:198:19::4",
				    "fd00:198:19::5", "fd00:198:19::a:6" };
/* VIPs of the pools routed into zone 2 (tptun1): egress services */
#define FZ_EGRESS_VIP4 "198.19.7.6"
#define FZ_EGRESS_VIP6 "fd00:198:19::a:6"
/* backends: the cluster side, and a few behind zone 2 */
static const char *const BE4[] = { "198.18.0.1",  "198.18.0.2",	 "198.18.0.3",
				   "198.18.0.4",  "198.18.0.5",	 "198.18.0.6",
				   "198.18.1.7",  "198.18.1.8",	 "198.18.1.9",
				   "198.18.2.10", "198.18.2.11", "198.18.3.12",
				   "100.100.0.5", "100.100.7.9" };
static const char *const BE6[] = { "fd00:198:18::1",	 "fd00:198:18::2",
				   "fd00:198:18::3",	 "fd00:198:18::4",
				   "fd00:198:18::5",	 "fd00:198:18::6",
				   "fd00:198:18:1::7",	 "fd00:198:18:1::8",
				   "fd00:198:18:1::9",	 "fd00:198:18:2::a",
				   "fd00:198:18:2::b",	 "fd00:198:18:3::c",
				   "fd7a:115c:a1e0:2::5" };
static const char *const OTHER4[] = { "198.19.200.1", "192.0.2.1",
				      "198.18.9.9" };
static const char *const OTHER6[] = { "fd00:198:19::ff", "2001:db8::1",
				      "fd00:198:18:9::9" };
/* this host */
static const char *const HOST4[] = { "198.18.255.1", "192.0.2.100" };
static const char *const HOST6[] = { "fd00:198:18:ffff::1" };
static const char *const ROUTER4[] = { "100.64.255.254", "198.18.255.254" };
static const char *const ROUTER6[] = { "fd7a:115c:a1e0::fffe",
				       "fd00:198:18:ffff::1" };

/* Masquerade addresses of the zones (fz_masq()), and sources that are them. */
static const char *const MASQ4[] = { "100.64.0.100", "100.100.0.100" };
static const char *const MASQ6[] = { "fd7a:115c:a1e0::64",
				     "fd7a:115c:a1e0:2::64" };

static const __u16 SVC_PORTS[] = { 80, 443, 53, 8080 };
static const __u16 BE_PORTS[] = { 8080, 80, 9000, 53, 443 };
static const __u16 CLIENT_PORTS[] = { 40000, 40001, 40002, 50000,
				      50001, 1024,  65535, 80 };
/* echo ids: both bytes non-zero, so byte flips rarely make 0 */
static const __u16 ECHO_IDS[] = { 0x1234, 0x0a0b, 0xbeef, 0x0101, 0x7f01 };

/* ---- identities and rules ------------------------------------------------- */

/* identities rules name and prefixes get: reserved ones and a few users */
static const __u32 IDS[] = {
	TP_ID_HOST, TP_ID_WORLD, TP_ID_TAILNET, TP_ID_CLUSTER, 256,
	257,	    258,	 259,		260,	       261
};

static const struct {
	__u16 zone;
	const char *prefix;
} PREFIXES[] = {
	{ 1, "100.64.0.0/16" },
	{ 1, "100.64.0.0/24" },
	{ 1, "100.64.0.1" },
	{ 1, "100.64.0.2" },
	{ 1, "100.64.100.0/24" },
	{ 1, "100.127.0.9" },
	{ 1, "100.64.0.0/10" },
	{ 1, "fd7a:115c:a1e0::/64" },
	{ 1, "fd7a:115c:a1e0::1" },
	{ 1, "fd7a:115c:a1e0::2" },
	{ 1, "fd7a:115c:a1e0:ab12::/64" },
	{ 1, "fd7a:115c:a1e0::/48" },
	{ 1, "::/0" },
	{ 1, "100.100.0.0/16" },
	{ 2, "100.100.0.0/16" },
	{ 2, "100.100.0.1" },
	{ 2, "100.100.7.0/24" },
	{ 2, "fd7a:115c:a1e0:2::/64" },
	{ 2, "fd7a:115c:a1e0:2::1" },
	{ 2, "100.64.0.0/10" },
	{ 2, "fd7a:115c:a1e0::/48" },
	{ 0, "198.18.0.0/16" },
	{ 0, "198.18.0.0/24" },
	{ 0, "198.18.1.0/24" },
	{ 0, "198.18.0.1" },
	{ 0, "198.18.2.10" },
	{ 0, "198.18.255.1" },
	{ 0, "192.0.2.0/24" },
	{ 0, "fd00:198:18::/48" },
	{ 0, "fd00:198:18::1" },
	{ 0, "fd00:198:18:1::/64" },
	{ 0, "fd00:198:18:ffff::1" },
	{ 0, "198.19.0.0/16" },
	{ 0, "fd00:198:19::/64" },
	{ 0, "100.64.0.0/10" },
	{ 0, "100.64.0.1" },
	{ 0, "fd7a:115c:a1e0::/48" },
	{ 0, "100.100.0.0/16" },
	{ 0, "100.100.0.5" },
	{ 0, "0.0.0.0/0" },
	{ 0, "::/0" },
};

/* ports rules name: the pools' and a few others */
static const __u16 RULE_PORTS[] = { 80,	   443,	 53,	8080, 9000, 40000,
				    50000, 1024, 65535, 0,    1,    22 };

static struct tp_addr addr_of(const char *s)
{
	struct tp_addr a;

	if (pkt_addr_parse(s, &a))
		abort();
	return a;
}

/* ---- fuzz state -------------------------------------------------------------- */

/* The interfaces packets use. */
enum {
	IF_TUN0, /* tptun0: L3, tailnet, zone TH_ZONE */
	IF_TUN1, /* tptun1: L3, tailnet, zone TH_ZONE2 */
	IF_LO,	 /* lo: Ethernet, no entry (zone 0) */
};

struct fz_profile {
	const char *name;
	int weight;	 /* share of the packets */
	int l2_pct;	 /* flows on the Ethernet path (loopback, zone 0) */
	int z2_pct;	 /* flows of the zone-2 interface */
	int egress_pct;	 /* flows started toward the tailnet */
	int fwd_pct;	 /* forwarded copies of passed tailnet packets */
	int mut_pct;	 /* packets mutated after building */
	int churn_every; /* packets between service changes, 0 never */
	int aff_pct;	 /* services with ClientIP affinity */
	int frag_pct;	 /* fragmented packets */
	int err_pct;	 /* ICMP errors */
	int misc_pct;	 /* extension headers, options, other protocols */
	int huge_jumps;	 /* allow clock jumps past every timeout */
	int pure_pct;	 /* rounds without policy */
	int pchange_max; /* at most this many packets between policy changes */
	int deny_pct;	 /* zone defaults deny in policy rounds */
	__u32 events_per_sec, events_burst; /* 0: the defaults */
	int drain_every; /* packets between reads of the ring buffer (0: 1,
			  * -1: only at the end, so that the ring fills) */
};

struct fz_svc {
	bool live;
	bool v6;
	struct tp_svc_key key;
	struct tp_svc_spec spec;
	struct tp_backend_spec be[FZ_MAX_BE];
	size_t n;
};

/*
 * A flow as its originator sees it; ports host order, ICMP: cport = echo
 * id.  @egress: started toward the tailnet (its packets in the original
 * direction go through tp_to_tailnet, with ingress interface @in_if).
 */
struct fz_flow {
	bool v6;
	int iface;
	bool egress;
	__u32 in_if;
	__u8 proto;
	struct tp_addr c, d;
	__u16 cport, dport;
	unsigned int step;
};

struct fz_pkt {
	struct pkt p;
	int hook;
	int iface;
	__u32 in_if; /* skb->ingress_ifindex */
};

struct fz_pending {
	struct fz_pkt fp;
	__u64 seen; /* when its first fragment went out */
};

struct fz {
	const struct fz_profile *prof;
	struct th h;
	struct ref_state *m;
	struct rng r;
	__u64 seed;
	__u64 now;
	__u32 lo_ifindex;
	__u32 maglev_size;
	__u32 ct_timeout_udp;
	long sent, n_iters, next_churn;
	long next_round, next_pchange;
	bool policy_round;
	int rounds, policy_rounds, pchanges;
	__u32 max_rule_id;
	struct ring_buffer *rb;
	struct tp_event *bev, *mev; /* events read from the ring, the model's */
	size_t n_bev;
	long events_seen;
	struct fz_svc svc[FZ_MAX_SVC];
	struct fz_flow flows[FZ_MAX_FLOWS];
	size_t n_flows;
	size_t recent[FZ_RECENT];
	size_t n_recent;
	struct fz_pending pend[FZ_MAX_PEND];
	size_t n_pend;
	char fsb[PKT_ADDR_STRLEN], fdb[PKT_ADDR_STRLEN]; /* flow spec addrs */
	uint8_t payload[FZ_MAX_LEN];
	uint8_t bout[PKT_MAX], mout[PKT_MAX];
	struct pkt scratch, scratch2;
	struct fz_pkt fwd;
	const struct fz_pkt *last; /* the packet last run */
};

static __u16 get16(const uint8_t *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static __u8 icmp_proto(bool v6)
{
	return v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
}

static bool is_icmp(__u8 proto)
{
	return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

static __u16 zone_of(int iface)
{
	return iface == IF_TUN0 ? TH_ZONE : iface == IF_TUN1 ? TH_ZONE2 : 0;
}

/* skb->ifindex of a packet on @iface, as the model sees it. */
static __u32 ifindex_of(const struct fz *f, int iface)
{
	return iface == IF_TUN0	  ? (__u32)f->h.l3_ifindex
	       : iface == IF_TUN1 ? (__u32)f->h.l3_ifindex2
				  : f->lo_ifindex;
}

static const char *iface_str(int iface)
{
	return iface == IF_TUN0 ? "tptun0" : iface == IF_TUN1 ? "tptun1" : "lo";
}

static void key_str(const struct tp_ct_key *k, char *buf, size_t len)
{
	char s[PKT_ADDR_STRLEN], d[PKT_ADDR_STRLEN];

	pkt_addr_str(&k->saddr, s, sizeof(s));
	pkt_addr_str(&k->daddr, d, sizeof(d));
	snprintf(buf, len, "%s(%u) [%s]:%u -> [%s]:%u zone %u",
		 tp_proto_str(k->proto), k->proto, s, ntohs(k->sport), d,
		 ntohs(k->dport), k->zone);
}

static void hex_line(FILE *o, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(o, "%02x", b[i]);
	fputc('\n', o);
}

/* ---- comparing state ------------------------------------------------------------ */

static void fz_where(const struct fz *f, FILE *o)
{
	fprintf(o,
		"seed=%llu test=%s packet=%ld now=%llu policy_rev=%u (replay: TP_FUZZ_SEED=%llu TP_FUZZ_ITERS=%ld)\n",
		fz_seed, f->prof->name, f->sent, (unsigned long long)f->now,
		ref_policy_rev(f->m), fz_seed, fz_iters);
}

/* The fields of a conntrack entry the documents define. */
/* clang-format off */
#define CT_F(name) { #name, offsetof(struct tp_ct_entry, name), \
		     sizeof(((struct tp_ct_entry *)0)->name) }

static const struct {
	const char *name;
	size_t off, size;
} CT_FIELDS[] = {
	CT_F(nat_addr), CT_F(nat_port), CT_F(state), CT_F(flags),
	CT_F(svc_id), CT_F(backend_id), CT_F(ifindex), CT_F(expires_s),
	CT_F(created_s), CT_F(packets[0]), CT_F(packets[1]), CT_F(bytes[0]),
	CT_F(bytes[1]), CT_F(tcp_flags[0]), CT_F(tcp_flags[1]), CT_F(verdict),
	CT_F(src_identity), CT_F(dst_identity), CT_F(rule_id),
	CT_F(policy_rev), CT_F(out_zone),
};
/* clang-format on */

#define N_CT_FIELDS ARRAY_SIZE(CT_FIELDS)

static bool ct_field_named(size_t off)
{
	size_t i;

	for (i = 0; i < N_CT_FIELDS; i++)
		if (off >= CT_FIELDS[i].off &&
		    off < CT_FIELDS[i].off + CT_FIELDS[i].size)
			return true;
	return false;
}

/* Prints the fields of two entries that differ, any other bytes too. */
static void ct_print_diff(const struct tp_ct_entry *want,
			  const struct tp_ct_entry *got)
{
	const uint8_t *w = (const uint8_t *)want, *g = (const uint8_t *)got;
	bool rk_only =
		(fz_skip & SKIP_RK_FIELDS) && (want->flags & TP_CT_F_REPLY_KEY);
	size_t i, off;

	for (i = 0; i < N_CT_FIELDS; i++) {
		off = CT_FIELDS[i].off;
		if (rk_only &&
		    off != offsetof(struct tp_ct_entry, orig_daddr) &&
		    off != offsetof(struct tp_ct_entry, orig_dport) &&
		    off != offsetof(struct tp_ct_entry, out_zone) &&
		    off != offsetof(struct tp_ct_entry, flags))
			continue;
		if (!memcmp(w + off, g + off, CT_FIELDS[i].size))
			continue;
		fprintf(stderr, "    %-13s model ", CT_FIELDS[i].name);
		hex_line(stderr, w + off, CT_FIELDS[i].size);
		fprintf(stderr, "    %-13s bpf   ", "");
		hex_line(stderr, g + off, CT_FIELDS[i].size);
	}
	if (rk_only)
		return;
	for (off = 0; off < sizeof(*want); off++)
		if (w[off] != g[off] && !ct_field_named(off))
			fprintf(stderr,
				"    byte %3zu     model %02x bpf %02x\n", off,
				w[off], g[off]);
}

static bool ct_equal(const struct tp_ct_entry *want,
		     const struct tp_ct_entry *got)
{
	if ((fz_skip & SKIP_RK_FIELDS) && (want->flags & TP_CT_F_REPLY_KEY))
		return want->flags == got->flags &&
		       !memcmp(&want->orig_daddr, &got->orig_daddr,
			       sizeof(want->orig_daddr)) &&
		       want->orig_dport == got->orig_dport &&
		       want->orig_zone == got->orig_zone;
	return !memcmp(want, got, sizeof(*want));
}

struct ct_walk {
	struct fz *f;
	int reported;
};

/* Entries the model has and the map does not. */
static int ct_missing_in_bpf(const struct tp_ct_key *k,
			     const struct tp_ct_entry *e, void *ctx)
{
	struct ct_walk *w = ctx;
	struct tp_ct_entry got;
	char ks[200];

	if (!bpf_map_lookup_elem(tp_ct_fd(&w->f->h.maps, k->proto), k, &got))
		return 0;
	if (w->reported++ < FZ_REPORT_MAX) {
		key_str(k, ks, sizeof(ks));
		fprintf(stderr,
			"  ct %s: only in the model (flags 0x%x state %u)\n",
			ks, e->flags, e->state);
	}
	return 0;
}

static int fz_check_ct(struct fz *f)
{
	struct tp_ct_key k, next, *prev = NULL;
	struct ct_walk w = { .f = f };
	const struct tp_ct_entry *want;
	struct tp_ct_entry got;
	size_t n = 0;
	char ks[200];
	int fd = f->h.maps.ct;

	/* tp_ct, then tp_ct_any; an entry in the other protocol's table differs */
	for (;;) {
		if (bpf_map_get_next_key(fd, prev, &next)) {
			if (fd == f->h.maps.ct_any)
				break;
			fd = f->h.maps.ct_any;
			prev = NULL;
			continue;
		}
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &got))
			continue;
		if (fd != tp_ct_fd(&f->h.maps, k.proto))
			got.flags = 0xff;
		n++;
		want = ref_ct_lookup(f->m, &k);
		if (want && ct_equal(want, &got))
			continue;
		if (w.reported++ >= FZ_REPORT_MAX)
			continue;
		key_str(&k, ks, sizeof(ks));
		if (!want) {
			fprintf(stderr,
				"  ct %s: only in bpf (flags 0x%x state %u)\n",
				ks, got.flags, got.state);
			continue;
		}
		fprintf(stderr, "  ct %s (%s entry) differs:\n", ks,
			want->flags & TP_CT_F_REPLY_KEY ? "reply-key" : "flow");
		ct_print_diff(want, &got);
	}
	if (n != ref_ct_count(f->m)) {
		fprintf(stderr, "  ct: %zu entries in the model, %zu in bpf\n",
			ref_ct_count(f->m), n);
		ref_ct_foreach(f->m, ct_missing_in_bpf, &w);
		w.reported++;
	}
	return w.reported;
}

typedef const void *fz_model_lookup(const struct ref_state *m, const void *key);
typedef void fz_diff_report(const void *key, const void *model,
			    const void *bpf);

#define FZ_CMP_MAX 96 /* bytes of the largest key or value compared */

/*
 * The hash map @fd, which the model mirrors (@model_count entries,
 * @lookup the model's entry for a key or NULL), compared entry by entry;
 * @report says how one that differs differs.  The count of differences.
 */
static int fz_check_map(struct fz *f, const char *name, const char *entries,
			int fd, size_t model_count, fz_model_lookup *lookup,
			fz_diff_report *report)
{
	__u8 k[FZ_CMP_MAX] __attribute__((aligned(8)));
	__u8 next[FZ_CMP_MAX] __attribute__((aligned(8)));
	__u8 got[FZ_CMP_MAX] __attribute__((aligned(8)));
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	const void *want, *prev = NULL;
	size_t n = 0;
	int bad = 0;

	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &info_len), 0);
	assert_true(info.key_size <= FZ_CMP_MAX &&
		    info.value_size <= FZ_CMP_MAX);
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(k, next, info.key_size);
		prev = k;
		if (bpf_map_lookup_elem(fd, k, got))
			continue;
		n++;
		want = lookup(f->m, k);
		if (want && !memcmp(want, got, info.value_size))
			continue;
		if (bad++ < FZ_REPORT_MAX)
			report(k, want, got);
	}
	if (n != model_count) {
		fprintf(stderr, "  %s: %zu %s in the model, %zu in bpf\n", name,
			model_count, entries, n);
		bad++;
	}
	return bad;
}

static const void *fz_affinity_lookup(const struct ref_state *m,
				      const void *key)
{
	return ref_affinity_lookup(m, key);
}

static void fz_affinity_report(const void *key, const void *model,
			       const void *bpf)
{
	const struct tp_affinity_key *k = key;
	const struct tp_affinity *want = model, *got = bpf;
	char a[PKT_ADDR_STRLEN];

	pkt_addr_str(&k->client, a, sizeof(a));
	if (!want)
		fprintf(stderr,
			"  affinity svc %u client %s: only in bpf (backend %u)\n",
			k->svc_id, a, got->backend_id);
	else
		fprintf(stderr,
			"  affinity svc %u client %s: model backend %u last %llu, bpf backend %u last %llu\n",
			k->svc_id, a, want->backend_id,
			(unsigned long long)want->last_ns, got->backend_id,
			(unsigned long long)got->last_ns);
}

static int fz_check_affinity(struct fz *f)
{
	return fz_check_map(f, "affinity", "entries", f->h.maps.affinity,
			    ref_affinity_count(f->m), fz_affinity_lookup,
			    fz_affinity_report);
}

static const void *fz_frag_lookup(const struct ref_state *m, const void *key)
{
	return ref_frag_lookup(m, key);
}

static void fz_frag_report(const void *key, const void *model, const void *bpf)
{
	const struct tp_frag_key *k = key;
	char s[PKT_ADDR_STRLEN], d[PKT_ADDR_STRLEN];

	(void)bpf;
	pkt_addr_str(&k->saddr, s, sizeof(s));
	pkt_addr_str(&k->daddr, d, sizeof(d));
	fprintf(stderr, "  frag %s -> %s id %u proto %u zone %u: %s\n", s, d,
		k->id, k->proto, k->zone, model ? "differs" : "only in bpf");
}

static int fz_check_frags(struct fz *f)
{
	return fz_check_map(f, "frags", "records", f->h.maps.frags,
			    ref_frag_count(f->m), fz_frag_lookup,
			    fz_frag_report);
}

static const void *fz_befe_lookup(const struct ref_state *m, const void *key)
{
	return ref_be_frontends_lookup(m, key);
}

static void fz_befe_report(const void *key, const void *model, const void *bpf)
{
	const struct tp_be_key *k = key;
	char a[PKT_ADDR_STRLEN];

	(void)bpf;
	pkt_addr_str(&k->addr, a, sizeof(a));
	fprintf(stderr, "  be_frontends %s:%u proto %u: %s\n", a,
		ntohs(k->port), k->proto, model ? "differs" : "only in bpf");
}

/* The backend tuples' frontends userspace indexed, as the model indexed them. */
static int fz_check_be_frontends(struct fz *f)
{
	return fz_check_map(
		f, "be_frontends", "backend tuples", f->h.maps.be_frontends,
		ref_be_frontends_count(f->m), fz_befe_lookup, fz_befe_report);
}

typedef void ref_stat_fn(const struct ref_state *st, __u32 id, __u64 *packets,
			 __u64 *bytes);

/*
 * Entries 0..@n-1 of the per-CPU tp_stat array @fd against the model's
 * @model; at most @max_report of those that differ are printed, as
 * "@name[id]" (tp_stats by the counter's name).
 */
static int fz_check_stat_array(struct fz *f, const char *name, int fd, __u32 n,
			       ref_stat_fn *model, int max_report)
{
	struct tp_stat_row *rows;
	const struct tp_stat *st;
	__u64 mp, mb, bp, bb;
	char label[64];
	size_t n_rows;
	int bad = 0;
	__u32 id;

	/* one walk: a lookup per id reads a whole element of every CPU */
	if (tp_stats_collect(fd, &rows, &n_rows)) {
		fprintf(stderr, "  %s: cannot read\n", name);
		return 1;
	}
	for (id = 0; id < n; id++) {
		st = tp_stats_find(rows, n_rows, id);
		bp = st ? st->packets : 0;
		bb = st ? st->bytes : 0;
		model(f->m, id, &mp, &mb);
		if (mp == bp && mb == bb)
			continue;
		if (bad++ >= max_report)
			continue;
		if (fd == f->h.maps.stats)
			snprintf(label, sizeof(label), "%s %u (%s)", name, id,
				 tp_stat_name(id));
		else
			snprintf(label, sizeof(label), "%s[%u]", name, id);
		fprintf(stderr,
			"  %s: model %llu packets %llu bytes, bpf %llu packets %llu bytes\n",
			label, (unsigned long long)mp, (unsigned long long)mb,
			(unsigned long long)bp, (unsigned long long)bb);
	}
	free(rows);
	return bad;
}

static int fz_check_stats(struct fz *f)
{
	return fz_check_stat_array(f, "stat", f->h.maps.stats, TP_STAT_MAX,
				   ref_stat, TP_STAT_MAX);
}

/*
 * tp_rule_stats up to @upto (rule ids are allocated lowest first, so the
 * ids in use stay small; the end of a test checks them all) and every
 * tp_svc_stats entry.
 */
static int fz_check_id_stats(struct fz *f, __u32 upto)
{
	__u32 rules = upto < TP_MAX_RULES ? upto + 1 : TP_MAX_RULES;
	int bad;

	bad = fz_check_stat_array(f, "rule_stats", f->h.maps.rule_stats, rules,
				  ref_rule_stat, FZ_REPORT_MAX);
	return bad + fz_check_stat_array(
			     f, "svc_stats", f->h.maps.svc_stats,
			     TP_MAX_SERVICES, ref_svc_stat,
			     bad < FZ_REPORT_MAX ? FZ_REPORT_MAX - bad : 0);
}

/* Empty a hash map (keys of at most 64 bytes) from userspace. */
static void fz_map_clear(int fd)
{
	uint8_t k[64];

	while (!bpf_map_get_next_key(fd, NULL, k)) {
		if (bpf_map_delete_elem(fd, k))
			break;
	}
}

/*
 * Keep the LRU maps far from their capacity, where the kernel would start
 * evicting (the model does not): past half of it, both sides forget.
 */
static void fz_keep_small(struct fz *f)
{
	if (ref_frag_count(f->m) > TP_FRAGS_SIZE / 2) {
		fz_map_clear(f->h.maps.frags);
		ref_frags_clear(f->m);
	}
	if (ref_ct_count(f->m) > TP_CT_SIZE / 2) {
		fz_map_clear(f->h.maps.ct);
		fz_map_clear(f->h.maps.ct_any);
		ref_ct_clear(f->m);
	}
}

static void fz_check_state(struct fz *f, bool all)
{
	int bad = 0;

	bad += fz_check_ct(f);
	bad += fz_check_affinity(f);
	bad += fz_check_frags(f);
	bad += fz_check_be_frontends(f);
	bad += fz_check_stats(f);
	bad += fz_check_id_stats(f,
				 all ? TP_MAX_RULES - 1 : f->max_rule_id + 1);
	if (bad) {
		fprintf(stderr, "STATE MISMATCH: ");
		fz_where(f, stderr);
		fprintf(stderr, "last packet: model: %s\n", ref_explain(f->m));
		if (f->last) {
			fprintf(stderr,
				"last input (%zu bytes, %s, hook %s, ingress ifindex %u): ",
				f->last->p.len, iface_str(f->last->iface),
				f->last->hook ? "tp_to_tailnet"
					      : "tp_from_tailnet",
				f->last->in_if);
			hex_line(stderr, f->last->p.data, f->last->p.len);
		}
		fail_msg(
			"datapath state differs from the model (seed=%llu, test %s, after %ld packets)",
			fz_seed, f->prof->name, f->sent);
	}
	fz_keep_small(f);
}

/* ---- events ---------------------------------------------------------------------- */

static int fz_ev_collect(void *ctx, void *data, size_t len)
{
	struct fz *f = ctx;

	if (f->n_bev < FZ_MAX_EVENTS) {
		memset(&f->bev[f->n_bev], 0xee, sizeof(f->bev[0]));
		memcpy(&f->bev[f->n_bev], data,
		       len < sizeof(f->bev[0]) ? len : sizeof(f->bev[0]));
		if (len != sizeof(struct tp_event))
			f->bev[f->n_bev].pad[2] = 0xbad; /* flags the size */
		f->n_bev++;
	}
	return 0;
}

static void ev_print(const char *who, const struct tp_event *e)
{
	char ks[200], na[PKT_ADDR_STRLEN];

	key_str(&e->tuple, ks, sizeof(ks));
	pkt_addr_str(&e->nat_addr, na, sizeof(na));
	fprintf(stderr,
		"    %s: ts %llu type %u verdict %u reason %u hook %u zone %u out %u if %u ids %u->%u rule %u svc %u %s nat [%s]:%u pad %x/%x/%x\n",
		who, (unsigned long long)e->ts_ns, e->type, e->verdict,
		e->reason, e->hook, e->zone, e->out_zone, e->ifindex, e->src_id,
		e->dst_id, e->rule_id, e->svc_id, ks, na, ntohs(e->nat_port),
		e->pad[0], e->pad[1], e->pad[2]);
}

/* Read the ring and take the model's events; false when they differ. */
static bool fz_events_check(struct fz *f)
{
	size_t nm, i;
	bool same;

	f->n_bev = 0;
	ring_buffer__consume(f->rb);
	nm = ref_events_take(f->m, f->mev, FZ_MAX_EVENTS);
	f->events_seen += f->n_bev;
	if (fz_skip & SKIP_EVENTS)
		return true;
	same = nm == f->n_bev &&
	       !memcmp(f->mev, f->bev, nm * sizeof(struct tp_event));
	if (same)
		return true;
	fprintf(stderr, "  events: model %zu, bpf %zu\n", nm, f->n_bev);
	for (i = 0; i < nm || i < f->n_bev; i++) {
		if (i < nm && i < f->n_bev &&
		    !memcmp(&f->mev[i], &f->bev[i], sizeof(struct tp_event)))
			continue;
		if (i >= FZ_REPORT_MAX)
			break;
		fprintf(stderr, "  event %zu:\n", i);
		if (i < nm)
			ev_print("model", &f->mev[i]);
		if (i < f->n_bev)
			ev_print("bpf  ", &f->bev[i]);
	}
	return false;
}

/* ---- running one packet ---------------------------------------------------------- */

/*
 * Packets left out for triage: with "exthdr-trunc", an IPv6 packet with
 * an extension header that runs past its end; with "multi-frag", one with
 * more than one fragment header (mutations make both by chance too).
 */
static bool fz_filtered(const struct fz_pkt *fp)
{
	const uint8_t *b = fp->p.data;
	size_t pos = (fp->iface == IF_LO ? PKT_ETH_HLEN : 0), len = fp->p.len,
	       hl;
	int n, frags = 0;
	__u8 nh;

	if (!(fz_skip & (SKIP_EXTHDR_TRUNC | SKIP_MULTI_FRAG)) ||
	    len < pos + 40 || b[pos] >> 4 != 6)
		return false;
	nh = b[pos + 6];
	pos += 40;
	for (n = 0; n < 16; n++) {
		if (nh != 0 && nh != 43 && nh != 44 && nh != 51 && nh != 60)
			return false;
		if (pos + 8 > len)
			return false;
		hl = nh == 44	? 8
		     : nh == 51 ? (b[pos + 1] + 2u) * 4
				: (b[pos + 1] + 1u) * 8;
		if (pos + hl > len && (fz_skip & SKIP_EXTHDR_TRUNC))
			return true;
		if (nh == 44 && ++frags > 1 && (fz_skip & SKIP_MULTI_FRAG))
			return true;
		nh = b[pos];
		pos += hl;
	}
	return false;
}

/*
 * BPF_PROG_TEST_RUN refuses (EINVAL) an input whose bytes 12-13, read as
 * an EtherType, say IPv4 with fewer than 14 + 20 bytes or IPv6 with fewer
 * than 14 + 40 (checked on 6.18; L3 inputs too): such inputs cannot be
 * run, so they are not generated.
 */
static bool fz_runnable(const struct fz_pkt *fp)
{
	__u16 et = get16(fp->p.data + 12);

	if (et == 0x0800)
		return fp->p.len >= PKT_ETH_HLEN + 20;
	if (et == 0x86dd)
		return fp->p.len >= PKT_ETH_HLEN + 40;
	return true;
}

static void fz_run(struct fz *f, const struct fz_pkt *fp);

/*
 * A packet tp_from_tailnet passed, forwarded by the kernel: its output
 * leaves through the tailnet interface the route to its (translated)
 * destination leads to (now and then another one), through
 * tp_to_tailnet, with the interface it came in on as ingress interface.
 */
static void fz_forward(struct fz *f, const struct fz_pkt *fp,
		       const uint8_t *out, size_t len)
{
	struct fz_pkt *w = &f->fwd;
	struct pkt_info pi;
	struct tp_addr d;
	__u32 oif;
	bool v6;

	if (fp->iface == IF_LO || len > FZ_MAX_LEN || len < 20)
		return;
	memcpy(w->p.data, out, len);
	w->p.len = len;
	w->p.l2 = 0;
	if (pkt_parse(&w->p, 0, &pi, NULL, 0))
		return;
	v6 = pi.family == AF_INET6;
	memset(&d, 0, sizeof(d));
	if (v6) {
		memcpy(d.b, w->p.data + pi.l3_off + 24, 16);
	} else {
		d.b[10] = d.b[11] = 0xff;
		memcpy(&d.b[12], w->p.data + pi.l3_off + 16, 4);
	}
	oif = ref_route_ifindex(f->m, v6, &d);
	if (oif == (__u32)f->h.l3_ifindex && !pct(&f->r, 15))
		w->iface = IF_TUN0;
	else if (oif == (__u32)f->h.l3_ifindex2 && !pct(&f->r, 15))
		w->iface = IF_TUN1;
	else if (pct(&f->r, 40))
		w->iface = pct(&f->r, 50) ? IF_TUN0 : IF_TUN1;
	else
		return; /* to the cluster side: no tailnet egress */
	w->hook = REF_TO_TAILNET;
	w->in_if = ifindex_of(f, fp->iface);
	fz_run(f, w);
}

static void fz_run(struct fz *f, const struct fz_pkt *fp)
{
	size_t blen = 0, mlen = 0, len = fp->p.len;
	__u32 ifx = ifindex_of(f, fp->iface);
	int drain = f->prof->drain_every, bv = -1, mv, err;
	bool ev_ok = true;

	if (len < PKT_ETH_HLEN || len > FZ_MAX_LEN)
		return;
	if (!fz_runnable(fp) || fz_filtered(fp))
		return;
	/* the datapath first: the model takes a masqueraded flow's port from it */
	th_set_clock(&f->h, f->now);
	err = th_run_from(&f->h, fp->hook ? TH_TO_TAILNET : TH_FROM_TAILNET,
			  fp->iface == IF_LO ? 0 : (int)ifx, (int)fp->in_if,
			  fp->p.data, len, f->bout, &blen, &bv);
	mv = ref_process(f->m, fp->hook, ifx, fp->in_if, fp->p.data, len,
			 f->mout, &mlen, f->now);
	if (err) {
		fz_where(f, stderr);
		fprintf(stderr, "input (%zu bytes, %s): ", len,
			iface_str(fp->iface));
		hex_line(stderr, fp->p.data, len);
		fail_msg("BPF_PROG_TEST_RUN: %s", strerror(-err));
	}
	f->sent++;
	f->last = fp;
	if (fz_trace) {
		fprintf(stderr, "%s %ld %s in %u %s: ", f->prof->name, f->sent,
			iface_str(fp->iface), fp->in_if, ref_explain(f->m));
		hex_line(stderr, fp->p.data, len);
	}
	if (drain <= 1 ? drain >= 0 : f->sent % drain == 0)
		ev_ok = fz_events_check(f);
	if (bv != mv || pkt_compare(NULL, f->mout, mlen, f->bout, blen) ||
	    !ev_ok) {
		fprintf(stderr, "PACKET MISMATCH: ");
		fz_where(f, stderr);
		fprintf(stderr, "hook %s, %s, ifindex %u, ingress ifindex %u\n",
			fp->hook ? "tp_to_tailnet" : "tp_from_tailnet",
			iface_str(fp->iface), ifx, fp->in_if);
		fprintf(stderr, "verdict: model %d, bpf %d\n", mv, bv);
		fprintf(stderr, "model: %s\n", ref_explain(f->m));
		fprintf(stderr, "input (%zu bytes): ", len);
		hex_line(stderr, fp->p.data, len);
		fprintf(stderr, "output, want = model, got = bpf:\n");
		pkt_hexdiff(stderr, f->mout, mlen, f->bout, blen);
		if (!ev_ok)
			fprintf(stderr, "(the events differ, see above)\n");
		fprintf(stderr, "counters that differ now:\n");
		fz_check_stats(f);
		fail_msg(
			"datapath and model disagree (seed=%llu, test %s, packet %ld)",
			fz_seed, f->prof->name, f->sent);
	}
	if (f->sent % fz_check_every == 0)
		fz_check_state(f, false);
	if (fp->hook == REF_FROM_TAILNET &&
	    (mv == REF_PASS || mv == REF_REDIRECT) &&
	    !(fz_skip & SKIP_POLICY) &&
	    pct(&f->r, mv == REF_REDIRECT ? 60 : f->prof->fwd_pct))
		fz_forward(f, fp, f->mout, mlen);
}

/* ---- services ----------------------------------------------------------------- */

/* Is @a a VIP routed into zone 2 (FZ_EGRESS_VIP4/6)? */
static bool fz_egress_vip(const struct tp_addr *a)
{
	struct tp_addr v4 = addr_of(FZ_EGRESS_VIP4),
		       v6 = addr_of(FZ_EGRESS_VIP6);

	return !memcmp(a, &v4, sizeof(v4)) || !memcmp(a, &v6, sizeof(v6));
}

static void fz_svc_backend(struct fz *f, struct fz_svc *s,
			   struct tp_backend_spec *b)
{
	size_t i;
	bool dup;

	do {
		memset(b, 0, sizeof(*b));
		b->addr = addr_of(s->v6 ? PICK(&f->r, BE6) : PICK(&f->r, BE4));
		/* an egress VIP's backends: mostly tailnet peers of zone 2 */
		if (fz_egress_vip(&s->key.vip) && pct(&f->r, 70))
			b->addr = addr_of(s->v6 ? PICK(&f->r, ZONE2_6)
						: PICK(&f->r, ZONE2_4));
		if (is_icmp(s->key.proto))
			b->port = 0;
		else if (pct(&f->r, 30))
			b->port = s->key.port;
		else
			b->port = htons(PICK(&f->r, BE_PORTS));
		dup = false;
		for (i = 0; i < s->n; i++)
			if (&s->be[i] != b &&
			    !memcmp(&s->be[i].addr, &b->addr,
				    sizeof(b->addr)) &&
			    s->be[i].port == b->port)
				dup = true;
	} while (dup);
	b->weight = pct(&f->r, 50) ? rr(&f->r, 1, 3) : rr(&f->r, 1, 100);
	b->state = pct(&f->r, 80) ? TP_BACKEND_ACTIVE
				  : rr(&f->r, TP_BACKEND_TERMINATING,
				       TP_BACKEND_MAINTENANCE);
}

static void fz_svc_random(struct fz *f, struct fz_svc *s)
{
	size_t i, n;
	bool clash;
	__u32 p;

	do {
		memset(s, 0, sizeof(*s));
		p = rn(&f->r, 100);
		s->v6 = pct(&f->r, 45);
		s->key.vip =
			addr_of(s->v6 ? PICK(&f->r, VIP6) : PICK(&f->r, VIP4));
		if (p < 40)
			s->key.proto = IPPROTO_TCP;
		else if (p < 75)
			s->key.proto = IPPROTO_UDP;
		else
			s->key.proto = icmp_proto(s->v6);
		s->key.port = is_icmp(s->key.proto)
				      ? 0
				      : htons(PICK(&f->r, SVC_PORTS));
		clash = false;
		for (i = 0; i < FZ_MAX_SVC; i++)
			if (&f->svc[i] != s && f->svc[i].live &&
			    !memcmp(&f->svc[i].key, &s->key, sizeof(s->key)))
				clash = true;
	} while (clash);
	s->spec.owner = TP_OWNER_TPCTL;
	if (pct(&f->r, f->prof->aff_pct)) {
		s->spec.flags = TP_SVC_F_AFFINITY;
		s->spec.affinity_timeout = rr(&f->r, 1, 60);
	}
	p = rn(&f->r, 100);
	s->spec.zone = p < 75 ? 0 : p < 92 ? TH_ZONE : TH_ZONE + 1;
	n = pct(&f->r, 5) ? 0 : rr(&f->r, 1, FZ_MAX_BE);
	for (s->n = 0; s->n < n; s->n++)
		fz_svc_backend(f, s, &s->be[s->n]);
	s->live = true;
}

/* Write @s into the maps, read the ids back, mirror it into the model. */
static void fz_svc_apply(struct fz *f, struct fz_svc *s)
{
	struct ref_backend rb[TP_MAX_SVC_BACKENDS];
	struct tp_backend bes[TP_MAX_SVC_BACKENDS];
	__u32 ids[TP_MAX_SVC_BACKENDS];
	struct ref_svc_attrs attrs;
	struct tp_svc svc;
	int n, i, err;

	err = tp_service_set(&f->h.maps, &s->key, &s->spec, s->be, s->n);
	if (err)
		fail_msg("tp_service_set: %s", strerror(-err));
	if (bpf_map_lookup_elem(f->h.maps.services, &s->key, &svc))
		fail_msg("service written but not found");
	n = tp_service_backends(&f->h.maps, svc.id, ids, bes,
				TP_MAX_SVC_BACKENDS);
	assert_int_equal(n, (int)s->n);
	for (i = 0; i < n; i++) {
		rb[i].id = ids[i];
		rb[i].addr = bes[i].addr;
		rb[i].port = bes[i].port;
		rb[i].weight = bes[i].weight;
		rb[i].state = bes[i].state;
	}
	memset(&attrs, 0, sizeof(attrs));
	attrs.id = svc.id;
	attrs.flags = s->spec.flags;
	attrs.zone = s->spec.zone;
	attrs.affinity_timeout = s->spec.affinity_timeout;
	assert_int_equal(ref_service_set(f->m, &s->key, &attrs, rb, n), 0);
}

static void fz_svc_delete(struct fz *f, struct fz_svc *s)
{
	assert_int_equal(tp_service_del(&f->h.maps, &s->key), 0);
	assert_int_equal(ref_service_del(f->m, &s->key), 0);
	s->live = false;
}

/*
 * An operator deletes a backend tuple's tp_be_frontends entry by hand
 * (the first the map walk gives): its backends keep their flag, their
 * new flows take reply keys, their live indexed flows take one on their
 * next packet a second later; a later write of the service indexes it
 * again.
 */
static void fz_befe_drop(struct fz *f)
{
	struct tp_be_key k;

	if (bpf_map_get_next_key(f->h.maps.be_frontends, NULL, &k))
		return;
	assert_int_equal(bpf_map_delete_elem(f->h.maps.be_frontends, &k), 0);
	ref_be_frontends_del(f->m, &k);
}

/* One change of the service table, as a sync source would make it. */
static void fz_svc_churn(struct fz *f)
{
	struct fz_svc *s = &f->svc[rn(&f->r, FZ_MAX_SVC)];
	__u32 what = rn(&f->r, 100);
	size_t i;

	if (!s->live) {
		fz_svc_random(f, s);
		fz_svc_apply(f, s);
		return;
	}
	if (what < 35) {
		for (i = 0; i < s->n; i++)
			if (pct(&f->r, 40))
				s->be[i].state = rn(&f->r, 3);
	} else if (what < 55) {
		if (s->n) {
			i = rn(&f->r, s->n);
			s->be[i] = s->be[--s->n];
		}
	} else if (what < 75) {
		if (s->n < FZ_MAX_BE) {
			fz_svc_backend(f, s, &s->be[s->n]);
			s->n++;
		}
	} else if (what < 85) {
		for (i = 0; i < s->n; i++)
			s->be[i].weight = rr(&f->r, 1, 100);
	} else if (what < 93) {
		s->spec.flags ^= TP_SVC_F_AFFINITY;
		s->spec.affinity_timeout = rr(&f->r, 1, 60);
	} else if (what < 97) {
		fz_svc_delete(f, s);
		return;
	} else {
		fz_befe_drop(f);
		return;
	}
	fz_svc_apply(f, s);
}

/* ---- policy -------------------------------------------------------------------- */

/* Read tp_config.policy_rev after a change and give it to the model. */
static void fz_rev_sync(struct fz *f)
{
	struct tp_config cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(f->h.maps.config, &zero, &cfg))
		fail_msg("tp_config: %s", strerror(errno));
	if (cfg.policy_rev < ref_policy_rev(f->m))
		fail_msg("policy_rev went back from %u to %u",
			 ref_policy_rev(f->m), cfg.policy_rev);
	ref_policy_rev_set(f->m, cfg.policy_rev);
}

/* A change that must bump the revision ("every change ... bumps"). */
static void fz_rev_bumped(struct fz *f, const char *what)
{
	__u32 before = ref_policy_rev(f->m);

	fz_rev_sync(f);
	if (ref_policy_rev(f->m) == before)
		fail_msg("%s did not bump tp_config.policy_rev (%u)", what,
			 before);
}

static void fz_ident_set(struct fz *f)
{
	unsigned int i = rn(&f->r, ARRAY_SIZE(PREFIXES)), plen;
	struct pref_policy *pol = ref_policy(f->m);
	__u32 id = PICK(&f->r, IDS), old;
	struct tp_addr a;
	int err, had;

	if (pkt_prefix_parse(PREFIXES[i].prefix, &a, &plen))
		fail_msg("bad prefix %s", PREFIXES[i].prefix);
	tp_addr_mask(&a, plen);
	had = -1;
	for (size_t j = 0; j < pol->n_idents; j++)
		if (pol->idents[j].zone == PREFIXES[i].zone &&
		    pol->idents[j].plen == plen &&
		    !memcmp(&pol->idents[j].prefix, &a, sizeof(a)))
			had = (int)j;
	old = had >= 0 ? pol->idents[had].id : 0;
	err = tp_identity_set(&f->h.maps, PREFIXES[i].zone, &a, plen, id,
			      TP_OWNER_TPCTL);
	if (err)
		fail_msg("tp_identity_set(%u, %s, %u): %s", PREFIXES[i].zone,
			 PREFIXES[i].prefix, id, strerror(-err));
	assert_true(pref_identity_set(pol, PREFIXES[i].zone, &a, plen, id) >=
		    0);
	if (old == id)
		fz_rev_sync(f); /* no change */
	else
		fz_rev_bumped(f, "tp_identity_set");
}

static void fz_ident_del(struct fz *f, size_t i)
{
	struct pref_policy *pol = ref_policy(f->m);
	struct pref_ident e = pol->idents[i];
	int err;

	err = tp_identity_del(&f->h.maps, e.zone, &e.prefix, e.plen,
			      TP_OWNER_NONE);
	if (err)
		fail_msg("tp_identity_del: %s", strerror(-err));
	assert_int_equal(pref_identity_del(pol, e.zone, &e.prefix, e.plen), 0);
	fz_rev_bumped(f, "tp_identity_del");
}

static void fz_rule_random(struct fz *f, struct tp_rule *r)
{
	__u32 p = rn(&f->r, 100), q, a, w;

	memset(r, 0, sizeof(*r));
	r->src_id = pct(&f->r, 30) ? TP_POLICY_ANY_ID : PICK(&f->r, IDS);
	r->dst_id = pct(&f->r, 30) ? TP_POLICY_ANY_ID : PICK(&f->r, IDS);
	r->zone = pct(&f->r, 50) ? TP_POLICY_ANY_ZONE : rr(&f->r, 1, 2);
	r->proto = p < 15   ? 0
		   : p < 50 ? IPPROTO_TCP
		   : p < 75 ? IPPROTO_UDP
		   : p < 85 ? IPPROTO_ICMP
		   : p < 95 ? IPPROTO_ICMPV6
			    : 47;
	if (r->proto == IPPROTO_TCP || r->proto == IPPROTO_UDP) {
		q = rn(&f->r, 100);
		if (q < 40) {
			/* any port */
		} else if (q < 70) {
			r->port_lo = r->port_hi = PICK(&f->r, RULE_PORTS);
		} else if (q < 94) {
			a = PICK(&f->r, RULE_PORTS);
			w = pct(&f->r, 50) ? rn(&f->r, 64) : rn(&f->r, 4096);
			r->port_lo = a > w ? a - w : 0;
			w = pct(&f->r, 50) ? rn(&f->r, 64) : rn(&f->r, 4096);
			r->port_hi = a + w > 65535 ? 65535 : a + w;
			if (!r->port_lo && !r->port_hi)
				r->port_hi = 1;
		} else if (q < 97) {
			r->port_lo = 0;
			r->port_hi = 65535; /* "the same as any port" */
		} else {
			r->port_lo = 1024;
			r->port_hi = 65535;
		}
	}
	/* mostly allow; in deny-by-default profiles, mostly deny */
	p = rn(&f->r, 100);
	if (f->prof->deny_pct == 100)
		p = (p + 70) % 100;
	r->verdict = p < 50   ? TP_VERDICT_ALLOW
		     : p < 80 ? TP_VERDICT_DENY
			      : TP_VERDICT_AUDIT;
	r->owner = TP_OWNER_TPCTL;
}

/*
 * Add a rule and mirror it.  docs/policy.md: "A range of every port
 * (0-65535) is the same as any port ... and the same rule as an any-port
 * rule of that protocol"; policyref keeps ranges as written, so the
 * mirror writes that range as any port.
 */
static void fz_rule_add(struct fz *f, const struct tp_rule *r)
{
	struct pref_policy *pol = ref_policy(f->m);
	struct tp_rule nr = *r;
	char buf[128];
	__u32 id = 0;
	long i;
	int err;

	if (nr.port_lo == 0 && nr.port_hi == 65535)
		nr.port_hi = 0;
	err = tp_policy_rule_add(&f->h.maps, r, &id);
	pref_rule_str(r, buf, sizeof(buf));
	if (err)
		fail_msg("tp_policy_rule_add(%s): %s", buf, strerror(-err));
	i = pref_rule_find(pol, &nr);
	if (i >= 0 && pol->rules[i].id != id)
		fail_msg("rule %s: lib/policy.c gave id %u to the rule %u has "
			 "the same match of",
			 buf, id, pol->rules[i].id);
	assert_true(pref_rule_add(pol, &nr, id) >= 0);
	if (id > f->max_rule_id)
		f->max_rule_id = id;
	fz_rev_bumped(f, "tp_policy_rule_add");
}

static void fz_rule_del(struct fz *f, size_t i)
{
	struct pref_policy *pol = ref_policy(f->m);
	struct tp_rule r = pol->rules[i].rule;
	int err;

	err = tp_policy_rule_del(&f->h.maps, &r, TP_OWNER_NONE);
	if (err)
		fail_msg("tp_policy_rule_del: %s", strerror(-err));
	assert_int_equal(pref_rule_del(pol, &r), 0);
	fz_rev_bumped(f, "tp_policy_rule_del");
}

static void fz_default_set(struct fz *f, __u16 zone, __u8 verdict)
{
	int err = tp_policy_default_set(&f->h.maps, zone, verdict);

	if (err)
		fail_msg("tp_policy_default_set(%u): %s", zone, strerror(-err));
	pref_default_set(ref_policy(f->m), zone, verdict);
	fz_rev_bumped(f, "tp_policy_default_set");
}

/* No identities, no rules, every zone default allow. */
static void fz_policy_clear(struct fz *f)
{
	struct pref_policy *pol = ref_policy(f->m);
	__u16 z;

	while (pol->n_rules)
		fz_rule_del(f, pol->n_rules - 1);
	while (pol->n_idents)
		fz_ident_del(f, pol->n_idents - 1);
	for (z = TH_ZONE; z <= TH_ZONE2; z++)
		if (pol->zone_default[z] == TP_VERDICT_DENY)
			fz_default_set(f, z, TP_VERDICT_ALLOW);
}

/* One change of the policy, as an operator or a sync source makes it. */
static void fz_policy_change(struct fz *f)
{
	struct pref_policy *pol = ref_policy(f->m);
	struct tp_rule r;
	__u32 what = rn(&f->r, 100);

	f->pchanges++;
	if (what < 40 || (what < 70 && !pol->n_rules)) {
		fz_rule_random(f, &r);
		fz_rule_add(f, &r);
	} else if (what < 55) {
		/* the same match again: a new verdict */
		r = pol->rules[rn(&f->r, pol->n_rules)].rule;
		if (!r.port_lo && !r.port_hi && pct(&f->r, 30) &&
		    (r.proto == IPPROTO_TCP || r.proto == IPPROTO_UDP))
			r.port_hi = 65535;
		r.verdict = rr(&f->r, TP_VERDICT_ALLOW, TP_VERDICT_AUDIT);
		fz_rule_add(f, &r);
	} else if (what < 70) {
		fz_rule_del(f, rn(&f->r, pol->n_rules));
	} else if (what < 85 || !pol->n_idents) {
		fz_ident_set(f);
	} else if (what < 93) {
		fz_ident_del(f, rn(&f->r, pol->n_idents));
	} else {
		fz_default_set(f, (__u16)rr(&f->r, TH_ZONE, TH_ZONE2),
			       pct(&f->r, 50) ? TP_VERDICT_DENY
					      : TP_VERDICT_ALLOW);
	}
}

static struct tp_addr fz_peer(struct fz *f, int iface, bool v6);

/*
 * Rules that let flows cross between the zones ("a rule naming both
 * identities"): from a peer of one zone to a peer of the other, by the
 * identities the policy gives them now, or the tailnet's to the
 * tailnet's; any protocol, allowed or audited.
 */
static void fz_crossing_rules(struct fz *f)
{
	const struct pref_policy *pol = ref_policy(f->m);
	struct tp_addr c, d;
	struct tp_rule r;
	int i, n = pct(&f->r, 25) ? 0 : rr(&f->r, 1, 4);
	bool v6, up;

	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		v6 = pct(&f->r, 45);
		up = pct(&f->r, 60); /* zone 1 -> zone 2 */
		c = fz_peer(f, up ? IF_TUN0 : IF_TUN1, v6);
		d = fz_peer(f, up ? IF_TUN1 : IF_TUN0, v6);
		r.src_id = pref_identity_of(pol, up ? TH_ZONE : TH_ZONE2, &c,
					    TP_ID_TAILNET);
		r.dst_id = pref_identity_of(pol, up ? TH_ZONE2 : TH_ZONE, &d,
					    TP_ID_TAILNET);
		if (pct(&f->r, 25))
			r.src_id = r.dst_id = TP_ID_TAILNET;
		r.zone = TP_POLICY_ANY_ZONE;
		r.verdict =
			pct(&f->r, 80) ? TP_VERDICT_ALLOW : TP_VERDICT_AUDIT;
		r.owner = TP_OWNER_TPCTL;
		fz_rule_add(f, &r);
	}
}

/* A new round: pure datapath, or a fresh (or grown) random policy. */
static void fz_round(struct fz *f)
{
	const struct fz_profile *pr = f->prof;
	int i, n;

	f->rounds++;
	f->policy_round = !(fz_skip & SKIP_POLICY) && !pct(&f->r, pr->pure_pct);
	f->next_round = f->sent + rr(&f->r, 800, 5000);
	if (!f->policy_round) {
		fz_policy_clear(f);
		return;
	}
	f->policy_rounds++;
	if (pct(&f->r, 50))
		fz_policy_clear(f);
	n = rr(&f->r, 3, 20);
	for (i = 0; i < n; i++)
		fz_ident_set(f);
	n = rr(&f->r, 2, 24);
	for (i = 0; i < n; i++) {
		struct tp_rule r;

		fz_rule_random(f, &r);
		fz_rule_add(f, &r);
	}
	fz_crossing_rules(f);
	fz_default_set(f, TH_ZONE,
		       pct(&f->r, pr->deny_pct) ? TP_VERDICT_DENY
						: TP_VERDICT_ALLOW);
	fz_default_set(f, TH_ZONE2,
		       pct(&f->r, pr->deny_pct) ? TP_VERDICT_DENY
						: TP_VERDICT_ALLOW);
	f->next_pchange = f->sent + rr(&f->r, 10, pr->pchange_max);
}

/* ---- flows ---------------------------------------------------------------------- */

static void fz_flow_key(const struct fz_flow *fl, struct tp_ct_key *k)
{
	memset(k, 0, sizeof(*k));
	k->saddr = fl->c;
	k->daddr = fl->d;
	k->sport = htons(fl->cport);
	k->dport = is_icmp(fl->proto) ? 0 : htons(fl->dport);
	k->proto = fl->proto;
	k->zone = zone_of(fl->iface);
}

static __u16 fz_client_port(struct fz *f, __u8 proto)
{
	if (is_icmp(proto)) {
		if (pct(&f->r, 3))
			return 0;
		return PICK(&f->r, ECHO_IDS);
	}
	return pct(&f->r, 90) ? PICK(&f->r, CLIENT_PORTS)
			      : (__u16)rr(&f->r, 1, 65535);
}

/* A tailnet peer seen on @iface. */
static struct tp_addr fz_peer(struct fz *f, int iface, bool v6)
{
	if (iface == IF_TUN1 && pct(&f->r, 85))
		return addr_of(v6 ? PICK(&f->r, ZONE2_6)
				  : PICK(&f->r, ZONE2_4));
	return addr_of(v6 ? PICK(&f->r, CLIENT6) : PICK(&f->r, CLIENT4));
}

/* An ingress interface for a packet through tp_to_tailnet. */
static __u32 fz_in_if(struct fz *f)
{
	__u32 p = rn(&f->r, 100);

	if (fz_skip & SKIP_POLICY)
		return 0;
	return p < 50	? 0
	       : p < 70 ? f->lo_ifindex
	       : p < 80 ? FZ_UPLINK
	       : p < 90 ? (__u32)f->h.l3_ifindex
			: (__u32)f->h.l3_ifindex2;
}

/*
 * A flow's protocol and destination port: mostly a service's port, else
 * a port the rules name (@egress) or a backend's.
 */
static void fz_flow_proto(struct fz *f, struct fz_flow *fl, bool egress)
{
	__u32 what = rn(&f->r, 100);

	fl->proto = what < 45	? IPPROTO_TCP
		    : what < 80 ? IPPROTO_UDP
				: icmp_proto(fl->v6);
	if (is_icmp(fl->proto))
		fl->dport = 0;
	else if (pct(&f->r, 70))
		fl->dport = PICK(&f->r, SVC_PORTS);
	else
		fl->dport = egress ? PICK(&f->r, RULE_PORTS)
				   : PICK(&f->r, BE_PORTS);
}

/*
 * An egress flow to a live service whose VIP is routed into zone 2 (an
 * egress service), when there is one.
 */
static void fz_egress_service(struct fz *f, struct fz_flow *fl)
{
	const struct fz_svc *s;
	size_t i, k = rn(&f->r, FZ_MAX_SVC);

	for (i = 0; i < FZ_MAX_SVC; i++) {
		s = &f->svc[(i + k) % FZ_MAX_SVC];
		if (!s->live || !fz_egress_vip(&s->key.vip))
			continue;
		if (fl->v6 != s->v6)
			fl->c = addr_of(s->v6 ? PICK(&f->r, BE6)
					      : PICK(&f->r, BE4));
		fl->iface = IF_TUN1;
		fl->v6 = s->v6;
		fl->proto = s->key.proto;
		fl->d = s->key.vip;
		fl->dport = ntohs(s->key.port);
		fl->cport = fz_client_port(f, fl->proto);
		return;
	}
}

static void fz_flow_new(struct fz *f, struct fz_flow *fl)
{
	const struct fz_profile *pr = f->prof;
	struct fz_svc *s = NULL;
	__u32 what = rn(&f->r, 100), i;

	memset(fl, 0, sizeof(*fl));
	fl->iface = pct(&f->r, pr->l2_pct) ? IF_LO
		    : !(fz_skip & SKIP_POLICY) && pct(&f->r, pr->z2_pct)
			    ? IF_TUN1
			    : IF_TUN0;
	fl->egress = !(fz_skip & SKIP_POLICY) && pct(&f->r, pr->egress_pct);
	if (fl->egress) {
		/* the cluster side or this host toward a tailnet peer */
		fl->v6 = pct(&f->r, 45);
		what = rn(&f->r, 100);
		fl->c = addr_of(what < 45   ? (fl->v6 ? PICK(&f->r, BE6)
						      : PICK(&f->r, BE4))
				: what < 70 ? (fl->v6 ? PICK(&f->r, HOST6)
						      : PICK(&f->r, HOST4))
				: what < 78 ? (fl->v6 ? PICK(&f->r, MASQ6)
						      : PICK(&f->r, MASQ4))
					    : (fl->v6 ? PICK(&f->r, OTHER6)
						      : PICK(&f->r, OTHER4)));
		fl->d = pct(&f->r, 90) ? fz_peer(f, fl->iface, fl->v6)
				       : fz_peer(f, !fl->iface, fl->v6);
		fz_flow_proto(f, fl, true);
		fl->cport = fz_client_port(f, fl->proto);
		if (pct(&f->r, 30))
			fz_egress_service(f, fl);
		what = rn(&f->r, 100);
		fl->in_if = what < 45	? 0
			    : what < 75 ? f->lo_ifindex
			    : what < 85 ? FZ_UPLINK
			    : what < 93 ? (__u32)f->h.l3_ifindex
					: (__u32)f->h.l3_ifindex2;
		return;
	}
	if (what < 55) {
		for (i = 0; i < 8 && !s; i++) {
			s = &f->svc[rn(&f->r, FZ_MAX_SVC)];
			if (!s->live)
				s = NULL;
		}
	}
	if (s) {
		fl->v6 = s->v6;
		fl->proto = s->key.proto;
		fl->d = s->key.vip;
		fl->dport = ntohs(s->key.port);
	} else {
		fl->v6 = pct(&f->r, 45);
		what = rn(&f->r, 100);
		if (what < 25)
			fl->d = addr_of(fl->v6 ? PICK(&f->r, VIP6)
					       : PICK(&f->r, VIP4));
		else if (what < 50)
			fl->d = addr_of(fl->v6 ? PICK(&f->r, BE6)
					       : PICK(&f->r, BE4));
		else if (what < 65 && !(fz_skip & SKIP_POLICY))
			fl->d = addr_of(fl->v6 ? PICK(&f->r, CLIENT6)
					       : PICK(&f->r, CLIENT4));
		else if (what < 80 && !(fz_skip & SKIP_POLICY))
			fl->d = addr_of(fl->v6 ? PICK(&f->r, ZONE2_6)
					       : PICK(&f->r, ZONE2_4));
		else
			fl->d = addr_of(fl->v6 ? PICK(&f->r, OTHER6)
					       : PICK(&f->r, OTHER4));
		fz_flow_proto(f, fl, false);
	}
	fl->c = fz_peer(f, fl->iface, fl->v6);
	fl->cport = fz_client_port(f, fl->proto);
}

static struct fz_flow *fz_pick_flow(struct fz *f)
{
	size_t i;

	if (!f->n_flows || pct(&f->r, 12)) {
		i = f->n_flows < FZ_MAX_FLOWS ? f->n_flows++
					      : rn(&f->r, FZ_MAX_FLOWS);
		fz_flow_new(f, &f->flows[i]);
	} else if (f->n_recent && pct(&f->r, 75)) {
		i = f->recent[rn(&f->r, f->n_recent)];
	} else {
		i = rn(&f->r, f->n_flows);
	}
	if (f->n_recent < FZ_RECENT)
		f->recent[f->n_recent++] = i;
	else
		f->recent[rn(&f->r, FZ_RECENT)] = i;
	return &f->flows[i];
}

/* The endpoints of a flow's packet in direction @dir, from the model. */
struct fz_ends {
	struct tp_addr s, d;
	__u16 sport, dport; /* host order; ICMP: echo id in the right one */
};

static void fz_flow_ends(struct fz *f, const struct fz_flow *fl, int dir,
			 struct fz_ends *e)
{
	const struct tp_ct_entry *ce;
	struct tp_ct_key k;

	if (dir == 0) {
		e->s = fl->c;
		e->d = fl->d;
		e->sport = fl->cport;
		e->dport = is_icmp(fl->proto) ? 0 : fl->dport;
		return;
	}
	fz_flow_key(fl, &k);
	ce = ref_ct_lookup(f->m, &k);
	if (ce && !(ce->flags & TP_CT_F_REPLY_KEY) && pct(&f->r, 95)) {
		struct tp_ct_key reply;

		ref_reply_tuple(f->m, &k, ce, &reply);
		e->s = reply.saddr;
		e->d = reply.daddr;
		e->sport = ntohs(reply.sport);
		e->dport = ntohs(reply.dport);
		return;
	}
	e->s = fl->d;
	e->d = fl->c;
	e->sport = is_icmp(fl->proto) ? 0 : fl->dport;
	e->dport = fl->cport;
}

static size_t fz_payload_len(struct fz *f)
{
	__u32 p = rn(&f->r, 100);

	if (p < 30)
		return 0;
	if (p < 90)
		return rn(&f->r, 48);
	return rr(&f->r, 48, 1200);
}

/* Common randomized fields of a spec. */
static void fz_spec_init(struct fz *f, struct pkt_spec *s, bool v6, bool l2,
			 char *sb, char *db, const struct tp_addr *sa,
			 const struct tp_addr *da)
{
	memset(s, 0, sizeof(*s));
	s->l2 = l2;
	s->family = v6 ? AF_INET6 : AF_INET;
	pkt_addr_str(sa, sb, PKT_ADDR_STRLEN);
	pkt_addr_str(da, db, PKT_ADDR_STRLEN);
	s->saddr = sb;
	s->daddr = db;
	s->ttl = rr(&f->r, 1, 255);
	s->ip_id = pct(&f->r, 95) ? rn(&f->r, 64) : rn(&f->r, 65536);
	s->df = pct(&f->r, 50);
	s->tos = pct(&f->r, 80) ? 0 : rn(&f->r, 256);
	s->flowlabel = pct(&f->r, 50) ? 0 : rn(&f->r, 1 << 20);
	s->payload = f->payload;
	s->payload_len = fz_payload_len(f);
	s->seq = (__u32)rnd64(&f->r);
	s->ack_seq = (__u32)rnd64(&f->r);
	s->icmp_seq = rn(&f->r, 65536);
}

static const struct {
	int dir;
	__u8 flags;
} TCP_SCRIPT[] = {
	{ 0, PKT_TCP_SYN },
	{ 1, PKT_TCP_SYN | PKT_TCP_ACK },
	{ 0, PKT_TCP_ACK },
	{ 0, PKT_TCP_PSH | PKT_TCP_ACK },
	{ 1, PKT_TCP_PSH | PKT_TCP_ACK },
	{ 0, PKT_TCP_FIN | PKT_TCP_ACK },
	{ 1, PKT_TCP_ACK },
	{ 1, PKT_TCP_FIN | PKT_TCP_ACK },
	{ 0, PKT_TCP_ACK },
};

static const __u8 TCP_RANDOM_FLAGS[] = {
	PKT_TCP_SYN,
	PKT_TCP_SYN | PKT_TCP_ACK,
	PKT_TCP_ACK,
	PKT_TCP_PSH | PKT_TCP_ACK,
	PKT_TCP_FIN | PKT_TCP_ACK,
	PKT_TCP_FIN,
	PKT_TCP_RST,
	PKT_TCP_RST | PKT_TCP_ACK,
	0,
	PKT_TCP_SYN | PKT_TCP_FIN,
	0xc2, /* SYN with ECE and CWR */
};

/*
 * The program a flow's packet in direction @dir goes through: a flow
 * from the tailnet comes in through tp_from_tailnet and is answered
 * through tp_to_tailnet, a flow toward the tailnet the other way round;
 * now and then the other program.
 */
static void fz_hook(struct fz *f, const struct fz_flow *fl, int dir,
		    struct fz_pkt *out)
{
	int natural =
		(dir == 0) == !fl->egress ? REF_FROM_TAILNET : REF_TO_TAILNET;

	if (fz_skip & SKIP_POLICY)
		out->hook = dir == 0 ? REF_FROM_TAILNET : REF_TO_TAILNET;
	else
		out->hook = pct(&f->r, dir == 0 ? 93 : 88) ? natural : !natural;
	out->iface = fl->iface;
	/*
	 * The reply of a flow from the tailnet as the interface its
	 * destination is behind sees it coming in: for a flow that crosses
	 * zones, the other TUN (then forwarded to the flow's own).
	 */
	if (!(fz_skip & SKIP_POLICY) && dir == 1 && !fl->egress &&
	    fl->iface != IF_LO && pct(&f->r, 10)) {
		out->hook = REF_FROM_TAILNET;
		out->iface = fl->iface == IF_TUN0 ? IF_TUN1 : IF_TUN0;
	}
	if (out->hook == REF_FROM_TAILNET)
		out->in_if = (fz_skip & SKIP_POLICY) || pct(&f->r, 85)
				     ? 0
				     : ifindex_of(f, fl->iface);
	else if (fl->egress && dir == 0 && pct(&f->r, 90))
		out->in_if = fl->in_if;
	else
		out->in_if = fz_in_if(f);
}

/* The flow's entry in the model when it is masqueraded (a pod's, a crossing), else NULL. */
static const struct tp_ct_entry *fz_masq_flow(struct fz *f,
					      const struct fz_flow *fl)
{
	const struct tp_ct_entry *ce;
	struct tp_ct_key k;

	fz_flow_key(fl, &k);
	ce = ref_ct_lookup(f->m, &k);
	if (!ce || (ce->flags & TP_CT_F_REPLY_KEY) ||
	    (ce->flags & (TP_CT_F_SNAT | TP_CT_F_MASQ)) !=
		    (TP_CT_F_SNAT | TP_CT_F_MASQ))
		return NULL;
	return ce;
}

/* The interface of a tailnet zone's replies. */
static int fz_zone_iface(__u16 zone)
{
	return zone == TH_ZONE2 ? IF_TUN1 : IF_TUN0;
}

/*
 * A masqueraded crossing's replies come in through the interface of the
 * zone it crossed to (then forwarded to the flow's own).
 */
static void fz_hook_crossing(struct fz *f, const struct fz_flow *fl, int dir,
			     struct fz_pkt *out)
{
	const struct tp_ct_entry *ce;

	if ((fz_skip & SKIP_POLICY) || dir != 1 || fl->egress ||
	    fl->iface == IF_LO || !pct(&f->r, 70))
		return;
	ce = fz_masq_flow(f, fl);
	if (!ce || (ce->flags & TP_CT_F_EGRESS))
		return;
	out->hook = REF_FROM_TAILNET;
	out->iface = fz_zone_iface(ce->out_zone);
	out->in_if = 0;
}

/*
 * A packet of a flow.  @dir: 0 originator -> destination, 1 the reply,
 * -1 chosen here (TCP follows its script most of the time).
 */
static int fz_flow_packet(struct fz *f, struct fz_flow *fl, int dir,
			  struct fz_pkt *out, struct pkt_spec *spec)
{
	struct fz_ends e;
	__u8 flags = 0;
	int err;

	if (fl->proto == IPPROTO_TCP && dir < 0 && pct(&f->r, 65)) {
		dir = TCP_SCRIPT[fl->step % ARRAY_SIZE(TCP_SCRIPT)].dir;
		flags = TCP_SCRIPT[fl->step % ARRAY_SIZE(TCP_SCRIPT)].flags;
		fl->step++;
	} else {
		if (dir < 0)
			dir = pct(&f->r, 55) ? 0 : 1;
		flags = pct(&f->r, 5) ? rn(&f->r, 256)
				      : PICK(&f->r, TCP_RANDOM_FLAGS);
	}
	fz_flow_ends(f, fl, dir, &e);
	fz_spec_init(f, spec, fl->v6, fl->iface == IF_LO, f->fsb, f->fdb, &e.s,
		     &e.d);
	spec->proto = fl->proto;
	if (is_icmp(fl->proto)) {
		spec->icmp_type =
			dir == 0 ? (fl->v6 ? 128 : 8) : (fl->v6 ? 129 : 0);
		spec->icmp_id = dir == 0 ? e.sport : e.dport;
	} else {
		spec->sport = e.sport;
		spec->dport = e.dport;
		spec->tcp_flags = flags;
		spec->udp_zero_csum =
			fl->proto == IPPROTO_UDP && pct(&f->r, 10);
	}
	spec->bad_l4_csum = pct(&f->r, 5);
	fz_hook(f, fl, dir, out);
	fz_hook_crossing(f, fl, dir, out);
	err = pkt_build(spec, &out->p);
	if (err)
		fail_msg("pkt_build (flow): %s", strerror(-err));
	return dir;
}

static void fz_gen_flow(struct fz *f, struct fz_pkt *out)
{
	struct pkt_spec spec;

	fz_flow_packet(f, fz_pick_flow(f), -1, out, &spec);
}

/* ---- fragments ---------------------------------------------------------------------- */

static void fz_pend_push(struct fz *f, const struct fz_pkt *fp)
{
	size_t i =
		f->n_pend < FZ_MAX_PEND ? f->n_pend++ : rn(&f->r, FZ_MAX_PEND);

	f->pend[i].fp = *fp;
	f->pend[i].seen = f->now;
}

static bool fz_pend_pop(struct fz *f, struct fz_pkt *out)
{
	size_t i;

	if (!f->n_pend)
		return false;
	i = rn(&f->r, f->n_pend);
	*out = f->pend[i].fp;
	f->pend[i] = f->pend[--f->n_pend];
	return true;
}

/*
 * Fragment ids come from a small set: records never leave tp_frags but by
 * LRU eviction, which the model does not do, so the number of distinct
 * (source, destination, id, protocol, zone) must stay far below
 * TP_FRAGS_SIZE.
 */
static __u32 fz_frag_id(struct fz *f, bool v6)
{
	if (pct(&f->r, 80))
		return rr(&f->r, 1, 12);
	return (v6 ? 0xdead0000u : 0x1000u) + rn(&f->r, 48);
}

/*
 * A fragmented flow packet: the first fragment is returned (or, now and
 * then, a later one, as if the first were lost or late), the others wait
 * in the pending queue and go out later, interleaved with other traffic.
 */
static void fz_gen_frag(struct fz *f, struct fz_pkt *out)
{
	struct fz_flow *fl = fz_pick_flow(f);
	struct pkt_spec spec;
	struct pkt_info pi;
	struct fz_pkt whole, piece;
	size_t flen, off, first, len;
	__u32 id = fz_frag_id(f, fl->v6);
	bool first_out = false;
	int err;

	fz_flow_packet(f, fl, -1, &whole, &spec);
	if (pkt_parse(&whole.p, whole.iface == IF_LO, &pi, NULL, 0) ||
	    pi.frag) {
		*out = whole;
		return;
	}
	flen = pi.end - pi.l4_off;
	if (flen <= 8) {
		*out = whole;
		return;
	}
	piece.iface = whole.iface;
	piece.in_if = whole.in_if;
	/* RFC 1858: an IPv4 TCP fragment at offset 8 */
	if (!fl->v6 && fl->proto == IPPROTO_TCP && pct(&f->r, 8)) {
		err = pkt_fragment(&whole.p, 8, flen - 8, pct(&f->r, 50), id,
				   &out->p);
		if (err)
			fail_msg("pkt_fragment: %s", strerror(-err));
		out->hook = whole.hook;
		out->iface = whole.iface;
		out->in_if = whole.in_if;
		return;
	}
	first = 8 * rr(&f->r, 1, (__u32)((flen - 1) / 8));
	err = pkt_fragment(&whole.p, 0, first, 1, id, &piece.p);
	if (err)
		fail_msg("pkt_fragment: %s", strerror(-err));
	if (pct(&f->r, 85)) {
		piece.hook = whole.hook;
		*out = piece;
		first_out = true;
	}
	for (off = first; off < flen; off += len) {
		len = flen - off;
		if (len > 8 && pct(&f->r, 40))
			len = 8 * rr(&f->r, 1, (__u32)((len - 1) / 8));
		err = pkt_fragment(&whole.p, off, len, off + len < flen, id,
				   &piece.p);
		if (err)
			fail_msg("pkt_fragment: %s", strerror(-err));
		piece.hook = pct(&f->r, 95) || (fz_skip & SKIP_POLICY)
				     ? whole.hook
				     : !whole.hook;
		piece.in_if = piece.hook == whole.hook	     ? whole.in_if
			      : piece.hook == REF_TO_TAILNET ? fz_in_if(f)
							     : 0;
		if (!first_out) {
			*out = piece;
			first_out = true;
		} else {
			fz_pend_push(f, &piece);
		}
	}
}

/* ---- ICMP errors ---------------------------------------------------------------------- */

static size_t fz_quote_len(struct fz *f, const struct pkt *q)
{
	static const size_t extra[] = { 4, 8, 8, 12, 18, 18, 20, 28 };
	struct pkt_info pi;
	size_t n;

	if (pct(&f->r, 35) || pkt_parse(q, 0, &pi, NULL, 0))
		return 0; /* all of it */
	n = pi.l4_off + PICK(&f->r, extra);
	return n < q->len ? n : 0;
}

/* A flow for an ICMP error to quote: most of the time a live DNATed one. */
static struct fz_flow *fz_pick_error_flow(struct fz *f)
{
	const struct tp_ct_entry *ce;
	struct fz_flow *fl = NULL;
	struct tp_ct_key k;
	int i;

	for (i = 0; i < 8; i++) {
		fl = fz_pick_flow(f);
		fz_flow_key(fl, &k);
		ce = ref_ct_lookup(f->m, &k);
		if (ce && (ce->flags & (TP_CT_F_DNAT | TP_CT_F_MASQ)) &&
		    ce->expires_s > TP_CT_SEC(f->now) && pct(&f->r, 85))
			break;
	}
	return fl;
}

/*
 * An ICMP error about a flow: either the originator complaining about a
 * packet it got from the destination (the VIP; meant for tp_from_tailnet
 * when the flow came from the tailnet), or the destination (a backend) or
 * a router complaining about a packet the originator sent (meant for
 * tp_to_tailnet).  Now and then the wrong program, the wrong quote.
 */
static void fz_gen_icmp_error(struct fz *f, struct fz_pkt *out)
{
	static const __u8 T4[] = { 3, 3, 3, 11, 12, 4, 5, 13 };
	static const __u8 T6[] = { 1, 1, 2, 2, 3, 4, 135, 130 };
	char sb[PKT_ADDR_STRLEN], db[PKT_ADDR_STRLEN];
	char qs[PKT_ADDR_STRLEN], qd[PKT_ADDR_STRLEN];
	struct fz_flow *fl = fz_pick_error_flow(f);
	const struct tp_ct_entry *mq = NULL;
	struct pkt_spec spec, qspec;
	struct tp_addr osrc, odst, qsa, qda;
	struct fz_ends e, r;
	struct pkt *quote = &f->scratch;
	__u8 ipopt[8] = { 1, 1, 1, 1, 1, 1, 1, 0 };
	bool about_reply = pct(&f->r, 50), qv6 = fl->v6;
	int err, natural;

	/*
	 * The quoted packet as its sender sent it: about a reply, what the
	 * originator got (destination -> originator, the original tuple
	 * reversed); else what the destination got (originator ->
	 * backend, the reply tuple reversed).
	 */
	fz_flow_ends(f, fl, 0, &e);
	fz_flow_ends(f, fl, 1, &r);
	if (about_reply) {
		e.s = fl->d;
		e.d = fl->c;
		e.sport = is_icmp(fl->proto) ? 0 : fl->dport;
		e.dport = fl->cport;
	} else {
		e.d = r.s;
		e.dport = is_icmp(fl->proto) ? 0 : r.sport;
		/* a masqueraded packet as its peer got it: from address:port */
		mq = pct(&f->r, 80) ? fz_masq_flow(f, fl) : NULL;
		if (mq) {
			e.s = r.d;
			e.sport = r.dport;
		}
	}
	qsa = e.s;
	qda = e.d;
	if (pct(&f->r, 3)) {
		qv6 = !qv6;
		qsa = addr_of(qv6 ? PICK(&f->r, BE6) : PICK(&f->r, BE4));
		qda = addr_of(qv6 ? PICK(&f->r, CLIENT6)
				  : PICK(&f->r, CLIENT4));
	}
	fz_spec_init(f, &qspec, qv6, false, qs, qd, &qsa, &qda);
	qspec.payload_len = rn(&f->r, 24);
	qspec.proto = is_icmp(fl->proto) ? icmp_proto(qv6) : fl->proto;
	if (is_icmp(fl->proto)) {
		qspec.icmp_type =
			about_reply ? (qv6 ? 129 : 0) : (qv6 ? 128 : 8);
		qspec.icmp_id = about_reply ? e.dport : e.sport;
		if (pct(&f->r, 5))
			qspec.icmp_type =
				qv6 ? 1 : 3; /* an error quoting an error */
	} else {
		qspec.sport = e.sport;
		qspec.dport = e.dport;
		qspec.tcp_flags = PICK(&f->r, TCP_RANDOM_FLAGS);
		qspec.udp_zero_csum = pct(&f->r, 15);
	}
	qspec.bad_l4_csum = pct(&f->r, 5);
	if (!qv6 && pct(&f->r, 10)) {
		qspec.ip_options = ipopt;
		qspec.ip_options_len = pct(&f->r, 50) ? 4 : 8;
	}
	if (qv6 && pct(&f->r, 5)) {
		qspec.exthdr[0] = 60;
		qspec.n_exthdr = 1;
	}
	err = pkt_build(&qspec, quote);
	if (err)
		fail_msg("pkt_build (quote): %s", strerror(-err));
	if (pct(&f->r, 4) && quote->len > (qv6 ? 40u : 20u) + 16) {
		/* the quote is a later fragment */
		struct pkt_info pi;

		if (!pkt_parse(quote, 0, &pi, NULL, 0) &&
		    !pkt_fragment(quote, 8, pi.end - pi.l4_off - 8, 0, 7,
				  &f->scratch2))
			*quote = f->scratch2;
	}

	/* who reports it, to whom */
	if (about_reply) {
		/* the originator got destination -> originator; it tells */
		osrc = pct(&f->r, 75)
			       ? e.d
			       : addr_of(fl->v6 ? ROUTER6[0] : ROUTER4[0]);
		odst = pct(&f->r, 85) ? e.s
				      : addr_of(fl->v6 ? PICK(&f->r, OTHER6)
						       : PICK(&f->r, OTHER4));
		natural = fl->egress ? REF_TO_TAILNET : REF_FROM_TAILNET;
	} else {
		/* the destination (or a router) tells the originator */
		osrc = pct(&f->r, 75)
			       ? e.d
			       : addr_of(fl->v6 ? ROUTER6[1] : ROUTER4[1]);
		odst = e.s;
		natural = fl->egress ? REF_FROM_TAILNET : REF_TO_TAILNET;
	}
	out->hook = pct(&f->r, 85) || (fz_skip & SKIP_ICMP_DIR) ? natural
								: !natural;
	out->iface = fl->iface;
	/* told by the peer: at the ingress of the zone the packet left to */
	if (mq && pct(&f->r, 85)) {
		out->hook = REF_FROM_TAILNET;
		if (!(mq->flags & TP_CT_F_EGRESS))
			out->iface = fz_zone_iface(mq->out_zone);
	}
	out->in_if = out->hook == REF_TO_TAILNET ? fz_in_if(f) : 0;
	fz_spec_init(f, &spec, fl->v6, out->iface == IF_LO, sb, db, &osrc,
		     &odst);
	spec.payload_len = 0;
	spec.proto = icmp_proto(fl->v6);
	spec.icmp_type = fl->v6 ? PICK(&f->r, T6) : PICK(&f->r, T4);
	spec.icmp_code = rn(&f->r, 5);
	spec.icmp_info = pct(&f->r, 50) ? rr(&f->r, 68, 1500) : 0;
	spec.inner = quote;
	spec.inner_len = fz_quote_len(f, quote);
	spec.bad_l4_csum = pct(&f->r, 3);
	err = pkt_build(&spec, &out->p);
	if (err)
		fail_msg("pkt_build (icmp error): %s", strerror(-err));
	if (pct(&f->r, 3)) {
		/* an error that is itself a first fragment */
		struct pkt_info pi;

		if (!pkt_parse(&out->p, out->iface == IF_LO, &pi, NULL, 0) &&
		    pi.end - pi.l4_off > 16 &&
		    !pkt_fragment(&out->p, 0, 16, 1, fz_frag_id(f, fl->v6),
				  &f->scratch2))
			out->p = f->scratch2;
	}
}

/* ---- other packets: extension headers, options, protocols ---------------------------- */

static void fz_gen_misc(struct fz *f, struct fz_pkt *out)
{
	static const __u8 EXT[] = { 0, 43, 60, 44 };
	static const __u8 P4[] = { 47, 132, 50, 2, 58, 41, 0, 255 };
	static const __u8 P6[] = { 47, 132, 50, 59, 1, 41, 17 };
	static const __u8 I4[] = { 13, 14, 4, 5, 9, 10, 0 };
	static const __u8 I6[] = {
		133, 134, 135, 136, 130, 131, 129, 143, 138
	};
	char sb[PKT_ADDR_STRLEN], db[PKT_ADDR_STRLEN];
	struct fz_flow *fl = fz_pick_flow(f);
	__u8 opts[40];
	struct pkt_spec spec;
	struct fz_ends e;
	__u32 what = rn(&f->r, 100);
	int i, err, dir;

	if (what < 50) {
		/* a flow packet with extension headers or IPv4 options */
		fz_flow_packet(f, fl, -1, out, &spec);
		if (fl->v6) {
			spec.n_exthdr = rr(&f->r, 1, 8);
			for (i = 0; i < spec.n_exthdr; i++)
				spec.exthdr[i] = PICK(&f->r, EXT);
		} else {
			spec.ip_options_len = 4 * rr(&f->r, 1, 10);
			for (i = 0; i < (int)spec.ip_options_len; i++)
				opts[i] = pct(&f->r, 80) ? 1 : rn(&f->r, 256);
			spec.ip_options = opts;
		}
		err = pkt_build(&spec, &out->p);
		if (err)
			fail_msg("pkt_build (misc): %s", strerror(-err));
		return;
	}
	dir = pct(&f->r, 70) ? 0 : 1;
	fz_flow_ends(f, fl, dir, &e);
	fz_spec_init(f, &spec, fl->v6, fl->iface == IF_LO, sb, db, &e.s, &e.d);
	if (what < 75) {
		/* UDP here: ports 0 */
		spec.proto = fl->v6 ? PICK(&f->r, P6) : PICK(&f->r, P4);
	} else {
		spec.proto = icmp_proto(fl->v6);
		spec.icmp_type = fl->v6 ? PICK(&f->r, I6) : PICK(&f->r, I4);
		spec.icmp_id = PICK(&f->r, ECHO_IDS);
		spec.icmp_info = (__u32)rnd64(&f->r);
	}
	fz_hook(f, fl, dir, out);
	if (!(fz_skip & SKIP_POLICY) && pct(&f->r, 30)) {
		out->hook = !out->hook;
		out->in_if = out->hook == REF_TO_TAILNET ? fz_in_if(f) : 0;
	}
	err = pkt_build(&spec, &out->p);
	if (err)
		fail_msg("pkt_build (misc): %s", strerror(-err));
}

/* ---- mutations ------------------------------------------------------------------------ */

static void fix_ip4_csum(struct pkt *p, size_t l3)
{
	size_t hl = (size_t)(p->data[l3] & 0x0f) * 4;

	if (hl < 20 || l3 + hl > p->len)
		return;
	put16(p->data + l3 + 10, 0);
	put16(p->data + l3 + 10,
	      pkt_csum_fold(pkt_csum_partial(p->data + l3, hl, 0)));
}

/* Insert @n bytes at @off (zeroed). */
static bool pkt_insert(struct pkt *p, size_t off, size_t n)
{
	if (p->len + n > FZ_MAX_LEN || off > p->len)
		return false;
	memmove(p->data + off + n, p->data + off, p->len - off);
	memset(p->data + off, 0, n);
	p->len += n;
	return true;
}

/* IPv6: put an extension header of @n bytes right after the fixed header. */
static bool v6_insert_exthdr(struct pkt *p, size_t l3, __u8 type, size_t n,
			     __u8 hdrlen)
{
	uint8_t *h;
	__u16 plen = get16(p->data + l3 + 4);

	if (!pkt_insert(p, l3 + 40, n))
		return false;
	h = p->data + l3 + 40;
	h[0] = p->data[l3 + 6];
	h[1] = hdrlen;
	p->data[l3 + 6] = type;
	if (plen)
		put16(p->data + l3 + 4, (__u16)(plen + n));
	return true;
}

static void fz_mutate(struct fz *f, struct fz_pkt *fp)
{
	static const __u8 PROTOS[] = { 6,  17, 1,  58, 47, 0,
				       43, 44, 60, 51, 59, 132 };
	static const __u16 ETYPES[] = { 0x8100, 0x0806, 0x88a8, 0x0800,
					0x86dd };
	struct pkt *p = &fp->p;
	size_t l3 = (fp->iface == IF_LO) ? PKT_ETH_HLEN : 0, i, n, pos, hl, rem;
	uint8_t *ip = p->data + l3;
	bool v6 = (ip[0] >> 4) == 6;
	struct pkt_info pi;
	__u32 op = rn(&f->r, 15);

	switch (op) {
	case 0: /* random bytes anywhere */
	case 1: /* random bytes in the headers */
		n = rr(&f->r, 1, 3);
		for (i = 0; i < n; i++) {
			pos = op == 0 ? rn(&f->r, p->len)
				      : l3 + rn(&f->r,
						(__u32)(p->len - l3 < 64
								? p->len - l3
								: 64));
			if (pct(&f->r, 50))
				p->data[pos] ^= 1 << rn(&f->r, 8);
			else
				p->data[pos] = rn(&f->r, 256);
		}
		break;
	case 2: /* truncated */
		if (p->len > PKT_ETH_HLEN)
			p->len = rr(&f->r, PKT_ETH_HLEN, (__u32)p->len - 1);
		break;
	case 3: /* Ethernet padding after the datagram */
		n = rr(&f->r, 1, 40);
		if (p->len + n <= FZ_MAX_LEN) {
			for (i = 0; i < n; i++)
				p->data[p->len + i] = rn(&f->r, 256);
			p->len += n;
		}
		break;
	case 4: /* IHL; IPv6 payload length */
		if (!v6) {
			ip[0] = 0x40 | rn(&f->r, 16);
			if (pct(&f->r, 50))
				fix_ip4_csum(p, l3);
		} else {
			put16(ip + 4, rn(&f->r, 65536));
		}
		break;
	case 5: /* length fields */
		if (!v6) {
			static const int choice[] = { 0, 1, 2, 3, 4, 5 };

			switch (PICK(&f->r, choice)) {
			case 0:
				put16(ip + 2, 0);
				break;
			case 1:
				put16(ip + 2,
				      (__u16)(p->len - l3 + rr(&f->r, 1, 8)));
				break;
			case 2:
				put16(ip + 2, rn(&f->r, 24));
				break;
			case 3:
				put16(ip + 2,
				      (__u16)(p->len - l3 - rn(&f->r, 8)));
				break;
			case 4:
				put16(ip + 2, rn(&f->r, 65536));
				break;
			default:
				/*
				 * The datagram ends inside its L4 header
				 * (past the options), the header's bytes
				 * still in the packet after it: never read
				 * from there.
				 */
				put16(ip + 2, (__u16)((ip[0] & 0x0f) * 4 +
						      rn(&f->r, 20)));
			}
			if (pct(&f->r, 70))
				fix_ip4_csum(p, l3);
		} else {
			n = p->len - l3 - 40;
			if (pct(&f->r, 30))
				put16(ip + 4, 0);
			else if (pct(&f->r, 50))
				put16(ip + 4, (__u16)(n + rr(&f->r, 1, 8)));
			else
				put16(ip + 4,
				      (__u16)(n - rn(&f->r, (__u32)n + 1)));
		}
		break;
	case 6: /* version */
		ip[0] = (__u8)(rn(&f->r, 16) << 4) | (ip[0] & 0x0f);
		break;
	case 7: /* too many IPv6 extension headers */
		if (v6) {
			static const __u8 EXT[] = { 0, 43, 60 };

			n = rr(&f->r, 7, 11);
			for (i = 0; i < n; i++)
				if (!v6_insert_exthdr(p, l3, PICK(&f->r, EXT),
						      8, 0))
					break;
		} else {
			ip[6] |= 0x20; /* MF */
			fix_ip4_csum(p, l3);
		}
		break;
	case 8: /* an IPv6 extension header longer than the packet */
		if (v6 && !(fz_skip & SKIP_EXTHDR_TRUNC) &&
		    v6_insert_exthdr(p, l3, pct(&f->r, 50) ? 60 : 0, 8, 0)) {
			rem = p->len - (l3 + 40);
			hl = rem / 8 + rn(&f->r, 8);
			if (hl <= 255) {
				p->data[l3 + 41] = (__u8)hl;
				p->data[l3 + 40] = PICK(&f->r, PROTOS);
			}
		} else if (!v6) {
			put16(ip + 6, (get16(ip + 6) & 0xe000) | rn(&f->r, 4));
			fix_ip4_csum(p, l3);
		}
		break;
	case 9: /* IPv6 AH; IPv4 protocol */
		if (v6) {
			n = pct(&f->r, 50) ? 12 : 16;
			v6_insert_exthdr(p, l3, 51, n, (__u8)(n / 4 - 2));
		} else {
			ip[9] = PICK(&f->r, PROTOS);
			fix_ip4_csum(p, l3);
		}
		break;
	case 10: /* TCP data offset */
		if (!pkt_parse(p, (fp->iface == IF_LO), &pi, NULL, 0) &&
		    pi.proto == IPPROTO_TCP && !pi.frag &&
		    pi.l4_off + 13 <= p->len)
			p->data[pi.l4_off + 12] = (__u8)(rn(&f->r, 5) << 4);
		break;
	case 11: /* the L4 header cut short, lengths consistent */
		if (!pkt_parse(p, (fp->iface == IF_LO), &pi, NULL, 0) &&
		    !pi.frag && pi.l4_off + 2 < p->len) {
			p->len = pi.l4_off +
				 rn(&f->r, (__u32)(p->len - pi.l4_off));
			if (p->len < PKT_ETH_HLEN)
				p->len = PKT_ETH_HLEN;
			if (!v6) {
				put16(ip + 2, (__u16)(p->len - l3));
				fix_ip4_csum(p, l3);
			} else if (p->len >= l3 + 40) {
				put16(ip + 4, (__u16)(p->len - l3 - 40));
			}
		}
		break;
	case 12: /* protocol */
		if (!pkt_parse(p, (fp->iface == IF_LO), &pi, NULL, 0)) {
			p->data[pi.nexthdr_off] = PICK(&f->r, PROTOS);
			if (!v6)
				fix_ip4_csum(p, l3);
		}
		break;
	case 13: /* EtherType */
		if ((fp->iface == IF_LO))
			put16(p->data + 12, PICK(&f->r, ETYPES));
		else
			p->data[rn(&f->r, p->len)] ^= 0x80;
		break;
	default: /* IPv4 fragment bits */
		if (!v6) {
			put16(ip + 6, (get16(ip + 6) & 0x4000) |
					      (pct(&f->r, 50) ? 0x2000 : 0) |
					      rn(&f->r, 8));
			if (pct(&f->r, 80))
				fix_ip4_csum(p, l3);
		} else {
			v6_insert_exthdr(p, l3, 44, 8, 0);
			put16(p->data + l3 + 42,
			      (__u16)(rn(&f->r, 4) << 3 | rn(&f->r, 2)));
			put16(p->data + l3 + 44, 0);
			put16(p->data + l3 + 46, (__u16)rr(&f->r, 1, 12));
		}
		break;
	}
	if (p->len < PKT_ETH_HLEN)
		p->len = PKT_ETH_HLEN;
}

/* ---- the clock ---------------------------------------------------------------------- */

/* A boundary worth landing on: a flow's expiry, a record's or affinity's end. */
static bool fz_boundary(struct fz *f, __u64 *t)
{
	const struct tp_ct_entry *e;
	const struct tp_affinity *a;
	struct tp_affinity_key ak;
	struct tp_ct_key k;
	struct fz_flow *fl;
	struct tp_svc svc;
	size_t i;

	switch (rn(&f->r, 3)) {
	case 0:
		if (!f->n_flows)
			return false;
		fl = &f->flows[rn(&f->r, f->n_flows)];
		fz_flow_key(fl, &k);
		e = ref_ct_lookup(f->m, &k);
		if (!e || (e->flags & TP_CT_F_REPLY_KEY))
			return false;
		*t = (__u64)e->expires_s * SEC;
		return true;
	case 1:
		if (!f->n_pend)
			return false;
		*t = f->pend[rn(&f->r, f->n_pend)].seen + TP_FRAG_TIMEOUT * SEC;
		return true;
	default:
		if (!f->n_flows)
			return false;
		fl = &f->flows[rn(&f->r, f->n_flows)];
		for (i = 0; i < FZ_MAX_SVC; i++) {
			if (!f->svc[i].live ||
			    !(f->svc[i].spec.flags & TP_SVC_F_AFFINITY) ||
			    bpf_map_lookup_elem(f->h.maps.services,
						&f->svc[i].key, &svc))
				continue;
			memset(&ak, 0, sizeof(ak));
			ak.svc_id = svc.id;
			ak.client = fl->c;
			a = ref_affinity_lookup(f->m, &ak);
			if (a) {
				*t = a->last_ns +
				     f->svc[i].spec.affinity_timeout * SEC;
				return true;
			}
		}
		return false;
	}
}

static void fz_tick(struct fz *f)
{
	__u32 r = rn(&f->r, 1000);
	__u64 t;

	if (r < 750)
		f->now += rn(&f->r, 2 * MS);
	else if (r < 930)
		f->now += rn(&f->r, 200 * MS);
	else if (r < 985)
		f->now += rr(&f->r, 1000, 5000) * MS;
	else if (r < 993)
		f->now += rr(&f->r, 25, 70) * SEC + rn(&f->r, 1000) * MS;
	else if (r < 996)
		f->now += rr(&f->r, 115, 130) * SEC;
	else if (r < 999 || !f->prof->huge_jumps) {
		if (fz_boundary(f, &t) && t > f->now)
			f->now = t - rn(&f->r, 2); /* on it, or 1 ns before */
	} else {
		f->now += (TP_CT_TIMEOUT_ESTABLISHED + rn(&f->r, 100)) * SEC;
	}
}

/* ---- one test ------------------------------------------------------------------------ */

/* The routes the test adds to the harness's: zone 1's peers to its TUN. */
static const struct {
	const char *prefix;
	int iface;
} ROUTES[] = {
	/* clang-format off */
	{ TH_ZONE2_NET4, IF_TUN1 },
	{ TH_ZONE2_NET6, IF_TUN1 },
	{ "100.64.0.0/10", IF_TUN0 },
	{ "fd7a:115c:a1e0::/64", IF_TUN0 },
	{ FZ_EGRESS_VIP4 "/32", IF_TUN1 }, /* egress services */
	{ FZ_EGRESS_VIP6 "/128", IF_TUN1 },
	/* clang-format on */
};

static void fz_env(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	/* th_unavailable() made the namespace, with the TH_ZONE2 routes */
	if (system("ip route add 100.64.0.0/10 dev tptun0 && "
		   "ip -6 route add fd7a:115c:a1e0::/64 dev tptun0"))
		fail_msg("cannot add the zone-1 routes to the test namespace");
	if (system("ip route add " FZ_EGRESS_VIP4 "/32 dev tptun1 && "
		   "ip -6 route add " FZ_EGRESS_VIP6 "/128 dev tptun1"))
		fail_msg(
			"cannot add the egress VIP routes to the test namespace");
}

/*
 * Static 1:1 NAT entries between pool addresses (a random subset), in the
 * datapath and the model: packets from and to them go through
 * bpf/lib/static_nat.h and the model's static_in()/static_out().
 */
static void fz_static_nat(struct fz *f)
{
	static const struct {
		__u16 zone;
		const char *tailnet, *inner;
	} SN[] = {
		{ 0, "100.64.7.200", "198.18.1.7" },
		{ TH_ZONE, "fd7a:115c:a1e0::7:7", "fd00:198:18:1::7" },
		{ TH_ZONE2, "100.100.200.3", "198.18.2.11" },
	};
	struct tp_static_nat_entry e = { .owner = TP_OWNER_TPCTL };
	char why[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(SN); i++) {
		if (pct(&f->r, 30))
			continue;
		e.zone = SN[i].zone;
		if (pkt_addr_parse(SN[i].tailnet, &e.tailnet) ||
		    pkt_addr_parse(SN[i].inner, &e.inner))
			fail_msg("bad static NAT address");
		if (tp_static_nat_add(&f->h.maps, &e, why, sizeof(why)))
			fail_msg("static NAT %s: %s", SN[i].tailnet, why);
		assert_int_equal(
			ref_static_nat_add(f->m, e.zone, &e.tailnet, &e.inner),
			0);
	}
}

/* The port the datapath gave the new masqueraded flow @k (ref_masq_set()). */
static __be16 fz_masq_port(void *ctx, const struct tp_ct_key *k)
{
	struct fz *f = ctx;
	struct tp_ct_entry e;

	if (bpf_map_lookup_elem(tp_ct_fd(&f->h.maps, k->proto), k, &e) ||
	    (e.flags & TP_CT_F_REPLY_KEY) || !(e.flags & TP_CT_F_MASQ))
		return 0;
	return e.snat_port;
}

/*
 * Masquerade toward each zone now and then (an address of each family,
 * or only IPv4), with a SNAT range small enough to run out at times and
 * to be checked whole by the model, or a wide one.
 */
static void fz_masq(struct fz *f)
{
	static const __u16 SPANS[] = { 1, 2, 32, 4001 };
	__u16 lo = 61000, hi = lo + PICK(&f->r, SPANS) - 1;
	struct tp_masq m;
	__u32 zone;
	int i;

	assert_int_equal(th_snat_config(&f->h, "198.18.0.1", "fd00:198:18::1",
					lo, hi, 0),
			 0);
	assert_int_equal(ref_masq_set(f->m, 0, NULL, lo, hi, fz_masq_port, f),
			 0);
	for (i = 0; i < 2; i++) {
		if (pct(&f->r, 40))
			continue;
		memset(&m, 0, sizeof(m));
		m.flags = TP_MASQ_F_ON;
		/* flows crossing into the zone are masqueraded too */
		if (pct(&f->r, 75))
			m.flags |= TP_MASQ_F_CROSSING;
		m.addr4 = addr_of(MASQ4[i]);
		if (pct(&f->r, 80))
			m.addr6 = addr_of(MASQ6[i]);
		zone = i ? TH_ZONE2 : TH_ZONE;
		assert_int_equal(
			bpf_map_update_elem(f->h.maps.masq, &zone, &m, BPF_ANY),
			0);
		assert_int_equal(
			ref_masq_set(f->m, zone, &m, lo, hi, fz_masq_port, f),
			0);
	}
}

static void fz_setup(struct fz *f, const struct fz_profile *prof, int index)
{
	static const __u32 MAGLEV[] = { 31, 61, 1021 };
	static const __u32 UDP[] = { 0, 5, 20, 60 };
	struct th_knobs knobs = { 0 };
	struct ref_knobs rk;
	struct tp_iface ifc = { .flags = TP_IFACE_F_L3 | TP_IFACE_F_TAILNET,
				.zone = TH_ZONE };
	struct tp_addr a;
	unsigned int plen;
	size_t i;
	int err;

	f->prof = prof;
	f->seed = fz_seed ^ (0x9e3779b97f4a7c15ULL * (__u64)(index + 1));
	f->r.s = f->seed;
	f->maglev_size = PICK(&f->r, MAGLEV);
	f->ct_timeout_udp = PICK(&f->r, UDP);
	knobs.maglev_size = f->maglev_size;
	knobs.ct_timeout_udp = f->ct_timeout_udp;
	knobs.events_per_sec = prof->events_per_sec;
	knobs.events_burst = prof->events_burst;
	/*
	 * A third of the runs send only some event types (any subset of
	 * the four, none included): a type switched off costs no rate-limit
	 * token and no ring space, and the others' events are unchanged.
	 */
	if (pct(&f->r, 33)) {
		knobs.event_mask = rn(&f->r, 16) << TP_EVENT_FLOW_ALLOW;
		knobs.event_mask_set = true;
	}
	err = th_open(&f->h, &knobs);
	if (err)
		fail_msg("th_open: %s", strerror(-err));
	f->lo_ifindex = if_nametoindex("lo");
	if (!f->lo_ifindex)
		fail_msg("no loopback device");
	f->rb = ring_buffer__new(f->h.maps.events, fz_ev_collect, f, NULL);
	f->bev = calloc(FZ_MAX_EVENTS, sizeof(*f->bev));
	f->mev = calloc(FZ_MAX_EVENTS, sizeof(*f->mev));
	if (!f->rb || !f->bev || !f->mev)
		fail_msg("ring buffer reader: %s", strerror(errno));

	ref_knobs_default(&rk);
	rk.maglev_size = f->maglev_size;
	if (f->ct_timeout_udp)
		rk.ct_timeout_udp = f->ct_timeout_udp;
	if (prof->events_per_sec)
		rk.events_per_sec = prof->events_per_sec;
	if (prof->events_burst)
		rk.events_burst = prof->events_burst;
	if (knobs.event_mask_set)
		rk.event_mask = knobs.event_mask;
	f->m = ref_new(&rk);
	assert_non_null(f->m);
	/* what th_open() wrote into tp_ifaces */
	assert_int_equal(ref_iface_set(f->m, f->h.l3_ifindex, &ifc), 0);
	ifc.zone = TH_ZONE2;
	assert_int_equal(ref_iface_set(f->m, f->h.l3_ifindex2, &ifc), 0);
	/* an uplink, as the loader describes one: its sources are world */
	{
		struct tp_iface up = { .flags = TP_IFACE_F_UPLINK };
		assert_int_equal(tp_iface_set(&f->h.maps, FZ_UPLINK, &up), 0);
		assert_int_equal(ref_iface_set(f->m, FZ_UPLINK, &up), 0);
	}
	for (i = 0; i < ARRAY_SIZE(ROUTES); i++) {
		if (pkt_prefix_parse(ROUTES[i].prefix, &a, &plen))
			fail_msg("bad route %s", ROUTES[i].prefix);
		assert_int_equal(ref_route_add(f->m, &a, plen,
					       !strchr(ROUTES[i].prefix, '.'),
					       ifindex_of(f, ROUTES[i].iface)),
				 0);
	}
	fz_rev_sync(f);

	for (i = 0; i < sizeof(f->payload); i++)
		f->payload[i] = rn(&f->r, 256);
	f->now = (1000 + rn(&f->r, 1000)) * SEC + rn(&f->r, 1000000);
	for (i = 0; i < FZ_MAX_SVC; i++) {
		if (pct(&f->r, 15))
			continue;
		fz_svc_random(f, &f->svc[i]);
		fz_svc_apply(f, &f->svc[i]);
	}
	fz_static_nat(f);
	fz_masq(f);
	f->next_churn = prof->churn_every;
	fz_round(f);
	print_message(
		"%s: seed %llu, %ld packets, maglev_size %u, ct_timeout_udp %u, events %u/s burst %u mask %#x\n",
		prof->name, (unsigned long long)f->seed, f->n_iters,
		f->maglev_size,
		f->ct_timeout_udp ? f->ct_timeout_udp : TP_CT_TIMEOUT_UDP,
		rk.events_per_sec, rk.events_burst, rk.event_mask);
}

/* What the run exercised, from the model's counters. */
static void fz_summary(struct fz *f)
{
	static const __u32 S[] = {
		TP_STAT_DNAT,		TP_STAT_REVNAT,
		TP_STAT_ICMP_ERR_NAT,	TP_STAT_CT_NEW,
		TP_STAT_CT_HIT,		TP_STAT_PASS,
		TP_STAT_FRAG_NO_RECORD, TP_STAT_NOT_IP,
		TP_STAT_OTHER_PROTO,	TP_STAT_VERDICT_ALLOW,
		TP_STAT_VERDICT_DENY,	TP_STAT_VERDICT_AUDIT,
		TP_STAT_POLICY_RECHECK, TP_STAT_EVENTS,
		TP_STAT_EVENTS_LIMITED, TP_STAT_EVENTS_LOST,
		TP_STAT_STATIC_NAT_IN,	TP_STAT_STATIC_NAT_OUT,
		TP_STAT_MASQ,		TP_STAT_REVMASQ,
	};
	char buf[768];
	size_t n = 0, i;
	__u64 p, b;
	__u32 r;

	for (i = 0; i < ARRAY_SIZE(S); i++) {
		ref_stat(f->m, S[i], &p, &b);
		n += snprintf(buf + n, sizeof(buf) - n, " %s %llu",
			      tp_stat_name(S[i]), (unsigned long long)p);
	}
	for (r = 1; r < TP_DROP_REASON_MAX && n < sizeof(buf); r++) {
		ref_stat(f->m, TP_STAT_DROP(r), &p, &b);
		if (p)
			n += snprintf(buf + n, sizeof(buf) - n, " drop%u %llu",
				      r, (unsigned long long)p);
	}
	print_message("%s:%s\n", f->prof->name, buf);
	print_message("%s: %d rounds (%d with policy), %d policy changes, "
		      "policy_rev %u, %ld events read\n",
		      f->prof->name, f->rounds, f->policy_rounds, f->pchanges,
		      ref_policy_rev(f->m), f->events_seen);
}

static void fz_loop(struct fz *f)
{
	const struct fz_profile *pr = f->prof;
	struct fz_pkt *fp = calloc(1, sizeof(*fp));
	__u32 what;

	assert_non_null(fp);
	while (f->sent < f->n_iters) {
		fz_tick(f);
		if (pr->churn_every && f->sent >= f->next_churn) {
			fz_svc_churn(f);
			f->next_churn =
				f->sent + rr(&f->r, 1, 2 * pr->churn_every);
		}
		if (f->sent >= f->next_round)
			fz_round(f);
		else if (f->policy_round && f->sent >= f->next_pchange) {
			fz_policy_change(f);
			f->next_pchange =
				f->sent + rr(&f->r, 1, (__u32)pr->pchange_max);
		}
		if (f->n_pend && pct(&f->r, 15) && fz_pend_pop(f, fp)) {
			fz_run(f, fp);
			continue;
		}
		what = rn(&f->r, 100);
		if (what < (__u32)pr->frag_pct)
			fz_gen_frag(f, fp);
		else if (what < (__u32)(pr->frag_pct + pr->err_pct))
			fz_gen_icmp_error(f, fp);
		else if (what <
			 (__u32)(pr->frag_pct + pr->err_pct + pr->misc_pct))
			fz_gen_misc(f, fp);
		else
			fz_gen_flow(f, fp);
		if (pct(&f->r, pr->mut_pct))
			fz_mutate(f, fp);
		fz_run(f, fp);
	}
	if (!fz_events_check(f)) {
		fz_where(f, stderr);
		fail_msg("events differ at the end (seed=%llu, test %s)",
			 fz_seed, f->prof->name);
	}
	fz_check_state(f, true);
	fz_summary(f);
	f->last = NULL;
	free(fp);
}

static const struct fz_profile PROFILES[] = {
	{ .name = "flows",
	  .weight = 16,
	  .l2_pct = 0,
	  .z2_pct = 15,
	  .egress_pct = 12,
	  .fwd_pct = 10,
	  .mut_pct = 4,
	  .aff_pct = 30,
	  .frag_pct = 10,
	  .err_pct = 12,
	  .misc_pct = 8,
	  .huge_jumps = 1,
	  .pure_pct = 35,
	  .pchange_max = 400,
	  .deny_pct = 35 },
	{ .name = "l2_and_l3",
	  .weight = 14,
	  .l2_pct = 40,
	  .z2_pct = 10,
	  .egress_pct = 15,
	  .fwd_pct = 5,
	  .mut_pct = 6,
	  .aff_pct = 30,
	  .frag_pct = 10,
	  .err_pct = 10,
	  .misc_pct = 8,
	  .huge_jumps = 1,
	  .pure_pct = 30,
	  .pchange_max = 300,
	  .deny_pct = 35,
	  .events_per_sec = 5,
	  .events_burst = 3 },
	{ .name = "mutations",
	  .weight = 16,
	  .l2_pct = 15,
	  .z2_pct = 10,
	  .egress_pct = 10,
	  .fwd_pct = 5,
	  .mut_pct = 50,
	  .aff_pct = 20,
	  .frag_pct = 10,
	  .err_pct = 15,
	  .misc_pct = 15,
	  .huge_jumps = 1,
	  .pure_pct = 40,
	  .pchange_max = 400,
	  .deny_pct = 35 },
	{ .name = "churn",
	  .weight = 14,
	  .l2_pct = 10,
	  .z2_pct = 10,
	  .egress_pct = 10,
	  .fwd_pct = 5,
	  .mut_pct = 4,
	  .churn_every = 150,
	  .aff_pct = 70,
	  .frag_pct = 6,
	  .err_pct = 10,
	  .misc_pct = 4,
	  .huge_jumps = 0,
	  .pure_pct = 20,
	  .pchange_max = 300,
	  .deny_pct = 35,
	  .events_per_sec = 1000000,
	  .events_burst = 1000 },
	{ .name = "policy",
	  .weight = 22,
	  .l2_pct = 15,
	  .z2_pct = 30,
	  .egress_pct = 25,
	  .fwd_pct = 25,
	  .mut_pct = 3,
	  .aff_pct = 30,
	  .frag_pct = 8,
	  .err_pct = 10,
	  .misc_pct = 8,
	  .huge_jumps = 0,
	  .pure_pct = 10,
	  .pchange_max = 120,
	  .deny_pct = 40,
	  .events_per_sec = 50,
	  .events_burst = 8 },
	/* deny by default, events unlimited, the ring read only at the end */
	{ .name = "ring",
	  .weight = 18,
	  .l2_pct = 0,
	  .z2_pct = 20,
	  .egress_pct = 25,
	  .fwd_pct = 5,
	  .mut_pct = 3,
	  .aff_pct = 10,
	  .frag_pct = 5,
	  .err_pct = 5,
	  .misc_pct = 25,
	  .huge_jumps = 0,
	  .pure_pct = 0,
	  .pchange_max = 200,
	  .deny_pct = 100,
	  .events_per_sec = 1000000,
	  .events_burst = 1000000,
	  .drain_every = -1 },
};

#define N_PROFILES ((int)ARRAY_SIZE(PROFILES))

static void fz_test(int index)
{
	const struct fz_profile *prof = &PROFILES[index];
	const char *why = th_unavailable();
	long before = 0, total = 0;
	struct fz *f;
	int i;

	if (th_load_refused_here())
		fail_msg("the kernel refused the object: %s", why);
	if (why) {
		print_message("skipped: %s\n", why);
		skip();
	}
	fz_env();
	for (i = 0; i < N_PROFILES; i++) {
		total += PROFILES[i].weight;
		if (i < index)
			before += PROFILES[i].weight;
	}
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	/* this test's share of the packets, the shares adding up exactly */
	f->n_iters = (long)((fz_iters * (before + prof->weight)) / total) -
		     (long)((fz_iters * before) / total);
	fz_setup(f, prof, index);
	fz_loop(f);
	ring_buffer__free(f->rb);
	free(f->bev);
	free(f->mev);
	ref_free(f->m);
	th_close(&f->h);
	free(f);
}

static void test_fuzz_flows(void **state)
{
	fz_test(0);
}

static void test_fuzz_l2_and_l3(void **state)
{
	fz_test(1);
}

static void test_fuzz_mutations(void **state)
{
	fz_test(2);
}

static void test_fuzz_churn(void **state)
{
	fz_test(3);
}

static void test_fuzz_policy(void **state)
{
	fz_test(4);
}

static void test_fuzz_ring(void **state)
{
	fz_test(5);
}

static void fz_parse_env(void)
{
	const char *s = getenv("TP_FUZZ_SEED"), *it = getenv("TP_FUZZ_ITERS");
	const char *sk = getenv("TP_FUZZ_SKIP");
	const char *ce = getenv("TP_FUZZ_CHECK_EVERY");
	struct timespec ts;

	if (s && *s) {
		fz_seed = strtoull(s, NULL, 0);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		fz_seed = (unsigned long long)ts.tv_sec * 1000003ULL ^
			  (unsigned long long)ts.tv_nsec;
	}
	if (it && *it && strtol(it, NULL, 0) > 0)
		fz_iters = strtol(it, NULL, 0);
	fz_trace = getenv("TP_FUZZ_TRACE") != NULL;
	if (ce && *ce && strtol(ce, NULL, 0) > 0)
		fz_check_every = strtol(ce, NULL, 0);
	if (sk) {
		if (strstr(sk, "exthdr-trunc"))
			fz_skip |= SKIP_EXTHDR_TRUNC;
		if (strstr(sk, "multi-frag"))
			fz_skip |= SKIP_MULTI_FRAG;
		if (strstr(sk, "rk-fields"))
			fz_skip |= SKIP_RK_FIELDS;
		if (strstr(sk, "icmp-dir"))
			fz_skip |= SKIP_ICMP_DIR;
		if (strstr(sk, "policy"))
			fz_skip |= SKIP_POLICY;
		if (strstr(sk, "events"))
			fz_skip |= SKIP_EVENTS;
	}
}

/*
 * The event token bucket is per CPU: run every packet on one CPU, the
 * one the test starts on, so that the model's one bucket is the bucket.
 */
static void fz_pin_cpu(void)
{
	int cpu = sched_getcpu();
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		printf("warning: cannot pin to CPU %d (%s): event counts may differ\n",
		       cpu, strerror(errno));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz_flows),
		cmocka_unit_test(test_fuzz_l2_and_l3),
		cmocka_unit_test(test_fuzz_mutations),
		cmocka_unit_test(test_fuzz_churn),
		cmocka_unit_test(test_fuzz_policy),
		cmocka_unit_test(test_fuzz_ring),
	};

	fz_parse_env();
	printf("seed=%llu\n", fz_seed);
	printf("iterations=%ld\n", fz_iters);
	if (fz_skip)
		printf("TP_FUZZ_SKIP=%s\n", getenv("TP_FUZZ_SKIP"));
	fflush(stdout);
	fz_pin_cpu();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
