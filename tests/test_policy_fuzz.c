// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Differential test of the policy engine: random identities, rules and
 * zone defaults written through lib/ into a fresh datapath, random new
 * flows through tp_from_tailnet and tp_to_tailnet, and every decision held
 * against tests/policyref.c, the evaluator written from docs/policy.md.
 *
 * Per flow: the verdict; for allowed flows the conntrack entry (verdict,
 * rule, identities, out zone); for denied ones the drop reason and the
 * absence of an entry.  Between batches of flows the rules, defaults and
 * identities change, and earlier flows send another packet (sometimes a
 * reply first) to check that they are decided again per the revision
 * rule.  Counters of decisions and rechecks are checked per round.
 *
 * Identities are checked on their own: the map's longest-prefix answer is
 * held against the reference's prefixes, and a flow whose identities
 * differ is reported once and then checked with the map's identities, so
 * that one identity problem does not hide the policy engine behind it.
 *
 * Environment: TP_FUZZ_SEED picks the seed (default: the time);
 * TP_FUZZ_ITERS the number of new flows over all rounds (default 120000);
 * TP_FUZZ_VERBOSE prints every mismatch, not the first few of each kind;
 * TP_FUZZ_FULL_RANGE lets rules have the port range 0-65535 (see
 * fz_full_range).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <linux/pkt_cls.h>

#include "addr.h"
#include "harness.h"
#include "identity.h"
#include "iface.h"
#include "pktgen.h"
#include "pkttest.h" /* REQUIRE_BPF */
#include "policy.h"
#include "policyref.h"

#define FZ_T0	   (1000ULL * 1000000000ULL) /* fixed datapath clock */
#define FZ_ITERS   120000		     /* new flows over all rounds */
#define FZ_UPLINK  4242 /* an ingress ifindex described as an uplink */
#define FZ_ROUNDS  12	/* fresh datapaths */
#define FZ_BATCH   1000 /* new flows between policy changes */
#define FZ_REVISIT 200	/* earlier flows sent again after a change */
#define FZ_KEEP	   8192 /* earlier flows remembered per round */
#define FZ_SHOW	   4	/* mismatches printed in full per kind */

static unsigned long long fz_seed;
static unsigned long fz_iters = FZ_ITERS;
static bool fz_verbose;
/*
 * Whether rules may give the range 0-65535.  docs/policy.md makes it a
 * range (specificity 16 + 0 bits, a match distinct from "any port");
 * lib/policy.c takes it for "any port".  Off unless TP_FUZZ_FULL_RANGE is
 * set, so that this one known difference does not hide others.
 */
static bool fz_full_range;

/* ---- random numbers (splitmix64) ------------------------------------------ */

static __u64 fz_rng;

static __u64 rnd64(void)
{
	__u64 z = (fz_rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [0, n) */
static __u32 rnd(__u32 n)
{
	return n ? (__u32)(rnd64() % n) : 0;
}

/* true with probability pct % */
static bool chance(unsigned int pct)
{
	return rnd(100) < pct;
}

/* ---- address plan ---------------------------------------------------------- */

/**
 * struct fz_space - a block of addresses identities are made in.
 * @cidr: the block.
 * @zone: the identity zone prefixes in it go to (decoys aside).
 * @base: parsed @cidr.
 * @plen: its length in the 128-bit space.
 */
struct fz_space {
	const char *cidr;
	__u16 zone;
	struct tp_addr base;
	unsigned int plen;
};

enum {
	SP_POD4,
	SP_POD6,
	SP_TAIL4,
	SP_TAIL6,
	SP_Z2_4,
	SP_Z2_6,
	SP_OTHER4A,
	SP_OTHER4B,
	SP_OTHER6,
	SP_MAX,
};

static struct fz_space fz_spaces[SP_MAX] = {
	[SP_POD4] = { "198.18.0.0/16", 0 },
	[SP_POD6] = { "fd00:198:18::/48", 0 },
	[SP_TAIL4] = { "100.64.0.0/10", TH_ZONE },
	[SP_TAIL6] = { "fd7a:115c:a1e0::/48", TH_ZONE },
	[SP_Z2_4] = { TH_ZONE2_NET4, TH_ZONE2 },
	[SP_Z2_6] = { TH_ZONE2_NET6, TH_ZONE2 },
	[SP_OTHER4A] = { "203.0.113.0/24", 0 },
	[SP_OTHER4B] = { "198.19.0.0/16", 0 },
	[SP_OTHER6] = { "2001:db8::/32", 0 },
};

/* @a with every bit from @plen on random */
static void addr_randomize(struct tp_addr *a, unsigned int plen)
{
	unsigned int bit;

	for (bit = plen; bit < 128; bit++) {
		__u8 m = 0x80u >> (bit % 8);

		if (rnd64() & 1)
			a->b[bit / 8] |= m;
		else
			a->b[bit / 8] &= (__u8)~m;
	}
}

/*
 * The zone a packet to @a leaves to, as the harness routes it: the
 * TH_ZONE2 networks go to tptun1, nothing else is routed (out zone 0).
 */
static __u16 out_zone_of(const struct tp_addr *a)
{
	const struct fz_space *z4 = &fz_spaces[SP_Z2_4],
			      *z6 = &fz_spaces[SP_Z2_6];

	if (tp_prefix_contains(&z4->base, z4->plen, a) ||
	    tp_prefix_contains(&z6->base, z6->plen, a))
		return TH_ZONE2;
	return 0;
}

/* ---- the round's state ----------------------------------------------------- */

/**
 * struct fz_prefix - an identity prefix written this round.
 * @addr: the prefix.
 * @plen: its length (128-bit space).
 * @sp:   the address space it lies in.
 * @zone: the identity zone it was written to.
 */
struct fz_prefix {
	struct tp_addr addr;
	unsigned int plen;
	int sp;
	__u16 zone;
};

/**
 * struct fz_flow - a flow sent this round, and what the reference says
 * its conntrack entry holds.
 * @hook:       TH_FROM_TAILNET or TH_TO_TAILNET (its original direction).
 * @ifindex:    skb->ifindex.
 * @in_ifindex: skb->ingress_ifindex (tp_to_tailnet flows).
 * @v6:         IPv6.
 * @proto:      IPPROTO_TCP, _UDP, _ICMP or _ICMPV6.
 * @zone:       zone of @ifindex.
 * @out_zone:   zone it leaves to.
 * @sport:      source port or echo id, host order.
 * @dport:      destination port, host order (0 for echo).
 * @saddr:      source.
 * @daddr:      destination.
 * @gen:        policy generation of the last decision.
 * @q:          the query of the last decision (identities as looked up).
 * @d:          the last decision.
 */
struct fz_flow {
	int hook;
	int ifindex;
	int in_ifindex;
	bool v6;
	__u8 proto;
	__u16 zone;
	__u16 out_zone;
	__u16 sport;
	__u16 dport;
	struct tp_addr saddr;
	struct tp_addr daddr;
	unsigned int gen;
	struct pref_query q;
	struct pref_decision d;
};

enum fz_kind {
	K_VERDICT_NEW, /* pass/drop of a new flow */
	K_REASON_NEW,  /* drop reason of a new flow */
	K_CT_MISSING,  /* allowed new flow without an entry */
	K_CT_DENIED,   /* denied first packet left an entry */
	K_IDENT,       /* the identity map disagrees with the reference */
	K_CT_FIELD,    /* entry of a new flow differs */
	K_CT_RULE,     /* only the rule id of an entry differs */
	K_CT_TIE,      /* ... and both rules tie: the lower id was not taken */
	K_VERDICT_RECHECK, /* pass/drop of a flow's next packet */
	K_REASON_RECHECK,  /* drop reason of a flow's next packet */
	K_CT_RECHECK,	   /* entry after the next packet differs */
	K_VERDICT_REPLY,   /* pass/drop of a reply */
	K_REASON_REPLY,	   /* drop reason of a reply */
	K_RULE_ID,	   /* rule ids tp_policy_rule_add() gave */
	K_COUNTERS,	   /* decision and recheck counters of a round */
	K_LIB,		   /* a lib/ call failed */
	K_MAX,
};

static const char *const fz_kind_name[K_MAX] = {
	[K_VERDICT_NEW] = "verdict of a new flow",
	[K_REASON_NEW] = "drop reason of a new flow",
	[K_CT_MISSING] = "allowed new flow has no conntrack entry",
	[K_CT_DENIED] = "denied first packet created a conntrack entry",
	[K_IDENT] =
		"identity lookup in tp_identity vs the reference's prefixes",
	[K_CT_FIELD] = "conntrack entry of a new flow",
	[K_CT_RULE] = "rule id in a conntrack entry (verdict agrees)",
	[K_CT_TIE] =
		"rule id in a conntrack entry: equally specific rules, same verdict, not the lower id",
	[K_VERDICT_RECHECK] = "verdict of a later packet (revision rule)",
	[K_REASON_RECHECK] = "drop reason of a later packet",
	[K_CT_RECHECK] = "conntrack entry after a later packet",
	[K_VERDICT_REPLY] = "verdict of a reply",
	[K_REASON_REPLY] = "drop reason of a reply",
	[K_RULE_ID] = "rule id from tp_policy_rule_add()",
	[K_COUNTERS] = "decision/recheck counters",
	[K_LIB] = "lib call failed",
};

/**
 * struct fz - one round.
 * @h:         the datapath.
 * @ref:       the reference.
 * @round:     round number.
 * @pfx:       identity prefixes written (for picking addresses).
 * @n_pfx:     prefixes used.
 * @cap_pfx:   room in @pfx.
 * @flows:     flows remembered for revisits (allowed first packets).
 * @n_flows:   flows remembered.
 * @gen:       policy generation: bumped by every batch of changes.
 * @next_port: source port / echo id of the next new flow.
 * @n_new:     new flows sent.
 * @n_later:   later packets and replies sent.
 * @drops:     expected TP_STAT_DROP(TP_DROP_POLICY / TP_DROP_ZONE).
 * @decisions: expected TP_STAT_VERDICT_ALLOW/DENY/AUDIT (index verdict).
 * @rechecks:  expected TP_STAT_POLICY_RECHECK.
 * @seen:      identity pairs of recent flows, for rules naming both.
 * @n_seen:    pairs seen.
 * @target:    flows (index in @flows) a batch of changes aimed at.
 * @n_target:  entries used.
 * @pkt_in:    packet scratch.
 * @pkt_out:   output scratch.
 */
struct fz {
	struct th h;
	struct pref_policy ref;
	int round;
	struct fz_prefix *pfx;
	size_t n_pfx, cap_pfx;
	struct fz_flow *flows;
	size_t n_flows;
	unsigned int gen;
	__u32 next_port;
	unsigned long n_new, n_later;
	__u64 drops[TP_DROP_REASON_MAX];
	__u64 decisions[4];
	__u64 rechecks;
	__u32 seen[64][2];
	unsigned int n_seen;
	size_t target[8];
	unsigned int n_target;
	struct pkt pkt_in;
	__u8 pkt_out[PKT_MAX];
};

static unsigned long fz_mismatches[K_MAX];

/* What the flows covered, over all rounds. */
enum fz_cov {
	C_ALLOW,
	C_DENY,
	C_AUDIT,
	C_DEFAULT,
	C_CROSS_PASS,
	C_CROSS_DROP,
	C_EGRESS,
	C_RECHECK,
	C_RECHECK_CHANGED,
	C_RECHECK_CROSS_DROP,
	C_REPLY_DROP,
	C_TIE,
	C_MAX,
};

static const char *const fz_cov_name[C_MAX] = {
	[C_ALLOW] = "decided allow",
	[C_DENY] = "decided deny",
	[C_AUDIT] = "decided audit",
	[C_DEFAULT] = "decided by a zone default",
	[C_CROSS_PASS] = "zone crossings let through",
	[C_CROSS_DROP] = "zone crossings dropped",
	[C_EGRESS] = "new flows through tp_to_tailnet",
	[C_RECHECK] = "flows decided again",
	[C_RECHECK_CHANGED] = "... with another verdict",
	[C_RECHECK_CROSS_DROP] = "... zone crossings now dropped",
	[C_REPLY_DROP] = "replies dropped",
	[C_TIE] = "decisions with a tie broken by rule id",
};

static unsigned long fz_cov[C_MAX];

/* ---- reports ------------------------------------------------------------- */

static const char *reason_name(unsigned int r)
{
	switch (r) {
	case 0:
		return "none";
	case TP_DROP_POLICY:
		return "TP_DROP_POLICY";
	case TP_DROP_ZONE:
		return "TP_DROP_ZONE";
	}
	return "other";
}

static void flow_print(FILE *f, const struct fz_flow *fl)
{
	char s[PKT_ADDR_STRLEN], d[PKT_ADDR_STRLEN];

	pkt_addr_str(&fl->saddr, s, sizeof(s));
	pkt_addr_str(&fl->daddr, d, sizeof(d));
	fprintf(f,
		"  flow: %s ifindex %d (zone %u)%s, %s %s%s%s:%u -> %s%s%s:%u, out zone %u\n",
		fl->hook == TH_FROM_TAILNET ? "tp_from_tailnet"
					    : "tp_to_tailnet",
		fl->ifindex, fl->zone,
		fl->hook == TH_TO_TAILNET
			? (fl->in_ifindex == FZ_UPLINK
				   ? " ingress_ifindex uplink"
			   : fl->in_ifindex ? " ingress_ifindex 1"
					    : " ingress_ifindex 0")
			: "",
		tp_proto_str(fl->proto), fl->v6 ? "[" : "", s,
		fl->v6 ? "]" : "", fl->sport, fl->v6 ? "[" : "", d,
		fl->v6 ? "]" : "", fl->dport, fl->out_zone);
}

/* The reference's query for @fl now (identities looked up again). */
static void flow_query(const struct fz *z, const struct fz_flow *fl,
		       struct pref_query *q)
{
	memset(q, 0, sizeof(*q));
	q->zone = fl->zone;
	q->out_zone = fl->out_zone;
	q->proto = fl->proto;
	q->dport = fl->dport;
	if (fl->hook == TH_FROM_TAILNET) {
		q->src_id = pref_identity_of(&z->ref, fl->zone, &fl->saddr,
					     TP_ID_TAILNET);
		q->dst_id = pref_identity_of(&z->ref, fl->out_zone, &fl->daddr,
					     fl->out_zone ? TP_ID_TAILNET
							  : TP_ID_WORLD);
	} else if (fl->in_ifindex == FZ_UPLINK) {
		/* policy.md: from an uplink, world whatever the source */
		q->src_id = TP_ID_WORLD;
		q->dst_id = pref_identity_of(&z->ref, fl->zone, &fl->daddr,
					     TP_ID_TAILNET);
	} else {
		q->src_id = pref_identity_of(&z->ref, 0, &fl->saddr,
					     fl->in_ifindex ? TP_ID_WORLD
							    : TP_ID_HOST);
		q->dst_id = pref_identity_of(&z->ref, fl->zone, &fl->daddr,
					     TP_ID_TAILNET);
	}
}

/*
 * Count a mismatch; print it in full (flow, rules the reference matched,
 * expected vs got) for the first few of its kind.
 */
static bool __attribute__((format(printf, 4, 5)))
mismatch(struct fz *z, enum fz_kind kind, const struct fz_flow *fl,
	 const char *fmt, ...)
{
	struct pref_query q;
	va_list ap;

	if (fz_mismatches[kind]++ >= FZ_SHOW && !fz_verbose)
		return false;
	fprintf(stderr, "MISMATCH [%s] seed=%llu round=%d flow#%lu\n",
		fz_kind_name[kind], fz_seed, z->round, z->n_new);
	if (fl) {
		q = fl->q;
		flow_print(stderr, fl);
		fprintf(stderr,
			"  query: src id %u, dst id %u, zone %u, out zone %u, %s port %u\n",
			q.src_id, q.dst_id, q.zone, q.out_zone,
			tp_proto_str(q.proto), q.dport);
		fprintf(stderr, "  matching rules (reference, * decides):\n");
		pref_print_matches(stderr, &z->ref, &q);
	}
	fprintf(stderr, "  ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return true;
}

/* ---- identities ------------------------------------------------------------ */

/* user identities 256..270 and the reserved ones */
static __u32 pool_id(void)
{
	if (chance(15))
		return TP_ID_HOST + rnd(4); /* host, world, tailnet, cluster */
	return TP_ID_USER_MIN + rnd(15);
}

static void pfx_remember(struct fz *z, const struct tp_addr *addr,
			 unsigned int plen, int sp, __u16 zone)
{
	struct tp_addr a = *addr; /* @addr may point into z->pfx */

	if (z->n_pfx == z->cap_pfx) {
		z->cap_pfx = z->cap_pfx ? z->cap_pfx * 2 : 256;
		z->pfx = realloc(z->pfx, z->cap_pfx * sizeof(*z->pfx));
		assert_non_null(z->pfx);
	}
	z->pfx[z->n_pfx].addr = a;
	z->pfx[z->n_pfx].plen = plen;
	z->pfx[z->n_pfx].sp = sp;
	z->pfx[z->n_pfx].zone = zone;
	z->n_pfx++;
}

/* Write (zone, a/plen) -> id into the datapath and the reference. */
static void identity_set(struct fz *z, __u16 zone, const struct tp_addr *a,
			 unsigned int plen, int sp, __u32 id)
{
	int err =
		tp_identity_set(&z->h.maps, zone, a, plen, id, TP_OWNER_TPCTL);

	if (err) {
		mismatch(z, K_LIB, NULL,
			 "tp_identity_set(zone %u, plen %u, id %u): %d", zone,
			 plen, id, err);
		return;
	}
	assert_true(pref_identity_set(&z->ref, zone, a, plen, id) >= 0);
	pfx_remember(z, a, plen, sp, zone);
}

/* Remove a prefix written earlier (perhaps removed already) on both sides. */
static void identity_del(struct fz *z)
{
	const struct fz_prefix *pf = &z->pfx[rnd((__u32)z->n_pfx)];
	char buf[PKT_ADDR_STRLEN];
	int err, want;

	err = tp_identity_del(&z->h.maps, pf->zone, &pf->addr, pf->plen,
			      TP_OWNER_NONE);
	want = pref_identity_del(&z->ref, pf->zone, &pf->addr, pf->plen);
	if ((err == 0) != (want == 0))
		mismatch(z, K_LIB, NULL,
			 "tp_identity_del(zone %u, %s/%u): expected %d, got %d",
			 pf->zone, pkt_addr_str(&pf->addr, buf, sizeof(buf)),
			 pf->plen, want, err);
}

/* A prefix inside space @sp, nested in one already there when possible. */
static void identity_random(struct fz *z, int sp, __u16 zone)
{
	const struct fz_space *s = &fz_spaces[sp];
	struct tp_addr a = s->base;
	unsigned int plen = s->plen, add, i, n = 0;

	/* a parent: the space itself or a prefix already in it */
	for (i = 0; i < z->n_pfx; i++)
		n += z->pfx[i].sp == sp && z->pfx[i].plen < 128;
	if (n && chance(75)) {
		n = rnd(n);
		for (i = 0; i < z->n_pfx; i++) {
			if (z->pfx[i].sp != sp || z->pfx[i].plen >= 128)
				continue;
			if (!n--) {
				a = z->pfx[i].addr;
				plen = z->pfx[i].plen;
				break;
			}
		}
	}
	if (chance(15)) {
		add = 128 - plen; /* a single address */
	} else {
		add = 1 + rnd(12);
		if (plen + add > 128)
			add = 128 - plen;
	}
	addr_randomize(&a, plen);
	plen += add;
	identity_set(z, zone, &a, plen, sp, pool_id());
}

static void gen_identities(struct fz *z)
{
	static const int main_sp[] = { SP_POD4,	 SP_POD6, SP_TAIL4,
				       SP_TAIL6, SP_Z2_4, SP_Z2_6 };
	size_t i;
	int j, n;

	for (i = 0; i < sizeof(main_sp) / sizeof(main_sp[0]); i++) {
		const struct fz_space *s = &fz_spaces[main_sp[i]];

		if (chance(50))
			identity_set(z, s->zone, &s->base, s->plen, main_sp[i],
				     pool_id());
		n = 15 + rnd(30);
		for (j = 0; j < n; j++)
			identity_random(z, main_sp[i], s->zone);
	}
	/* decoys: the same addresses in zones they do not live in */
	for (j = 0; j < 6; j++) {
		identity_random(z, SP_POD4, TH_ZONE);
		identity_random(z, SP_TAIL4, 0);
		identity_random(z, SP_Z2_4, TH_ZONE);
		identity_random(z, SP_Z2_6, 0);
		identity_random(z, SP_TAIL6, TH_ZONE2);
		identity_random(z, SP_OTHER4A, 0);
		identity_random(z, SP_OTHER6, 0);
	}
	/* this host's addresses */
	for (j = 0; j < 3; j++) {
		struct tp_addr a = fz_spaces[j & 1 ? SP_POD6 : SP_POD4].base;

		addr_randomize(&a, fz_spaces[j & 1 ? SP_POD6 : SP_POD4].plen);
		identity_set(z, 0, &a, 128, j & 1 ? SP_POD6 : SP_POD4,
			     TP_ID_HOST);
	}
}

/* An address in @sp: usually inside one of its prefixes, so LPM matters. */
static void pick_addr(const struct fz *z, int sp, struct tp_addr *a)
{
	const struct fz_space *s = &fz_spaces[sp];
	size_t i, n = 0;

	*a = s->base;
	for (i = 0; i < z->n_pfx; i++)
		n += z->pfx[i].sp == sp;
	if (n && chance(70)) {
		n = rnd((__u32)n);
		for (i = 0; i < z->n_pfx; i++) {
			if (z->pfx[i].sp == sp && !n--) {
				*a = z->pfx[i].addr;
				addr_randomize(a, z->pfx[i].plen);
				return;
			}
		}
	}
	addr_randomize(a, s->plen);
}

/* ---- rules ------------------------------------------------------------------ */

static __u16 port_near_pow2(void)
{
	int v = (1 << rnd(17)) + (int)rnd(7) - 3;

	return v < 0 ? 0 : v > 65535 ? 65535 : (__u16)v;
}

static __u16 interesting_port(void)
{
	static const __u16 ports[] = { 22,    53,    80,   443,	 1000, 1024,
				       1500,  1999,  2047, 2048, 8080, 8443,
				       32768, 65535, 1,	   3000, 5353, 6443 };

	switch (rnd(3)) {
	case 0:
		return ports[rnd(sizeof(ports) / sizeof(ports[0]))];
	case 1:
		return port_near_pow2();
	}
	return (__u16)rnd(65536);
}

static void gen_ports(struct tp_rule *r)
{
	__u32 lo, hi;
	int v;

	switch (rnd(20)) {
	case 0 ... 4: /* any port */
		r->port_lo = r->port_hi = 0;
		return;
	case 5 ... 10: /* one port */
		lo = interesting_port();
		if (!lo)
			lo = 1;
		r->port_lo = r->port_hi = (__u16)lo;
		return;
	case 11: /* from 0 */
		lo = 0;
		hi = fz_full_range && chance(20) ? 65535 : port_near_pow2();
		break;
	case 12: /* aligned block */
		hi = 1u << rnd(16);
		lo = rnd(65536) & ~(hi - 1);
		hi = lo + hi - 1;
		break;
	default: /* edges near powers of two */
		lo = port_near_pow2();
		v = (int)lo + (1 << rnd(14)) + (int)rnd(7) - 3;
		hi = v < 0 ? 0 : (__u32)v;
		if (chance(30))
			hi = port_near_pow2();
		break;
	}
	if (hi > 65535)
		hi = 65535;
	if (lo > hi) {
		__u32 t = lo;

		lo = hi;
		hi = t;
	}
	if (!lo && !hi)
		hi = 1;
	if (!lo && hi == 65535 && !fz_full_range)
		hi = 65534; /* every port as a range: see fz_full_range */
	r->port_lo = (__u16)lo;
	r->port_hi = (__u16)hi;
}

static void gen_rule(const struct fz *z, struct tp_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->src_id = chance(40) ? TP_POLICY_ANY_ID : pool_id();
	r->dst_id = chance(40) ? TP_POLICY_ANY_ID : pool_id();
	if (z->n_seen && chance(20)) {
		/* both identities of a flow seen: zone crossings need them */
		unsigned int i = rnd(z->n_seen < 64 ? z->n_seen : 64);

		r->src_id = z->seen[i][0];
		r->dst_id = z->seen[i][1];
	}
	r->zone = chance(50)   ? TP_POLICY_ANY_ZONE
		  : chance(70) ? TH_ZONE
			       : TH_ZONE2;
	switch (rnd(20)) {
	case 0 ... 3:
		r->proto = 0;
		break;
	case 4 ... 9:
		r->proto = IPPROTO_TCP;
		break;
	case 10 ... 14:
		r->proto = IPPROTO_UDP;
		break;
	case 15 ... 17:
		r->proto = IPPROTO_ICMP;
		break;
	default:
		r->proto = IPPROTO_ICMPV6;
		break;
	}
	if (r->proto == IPPROTO_TCP || r->proto == IPPROTO_UDP)
		gen_ports(r);
	r->verdict = chance(45)	  ? TP_VERDICT_ALLOW
		     : chance(60) ? TP_VERDICT_DENY
				  : TP_VERDICT_AUDIT;
	r->owner = TP_OWNER_TPCTL;
}

/* Add @r to both sides; check the id lib/ gives against "one rule". */
static void rule_add(struct fz *z, const struct tp_rule *r)
{
	char buf[128];
	long i = pref_rule_find(&z->ref, r);
	__u32 id = 0;
	size_t j;
	int err;

	err = tp_policy_rule_add(&z->h.maps, r, &id);
	pref_rule_str(r, buf, sizeof(buf));
	if (err) {
		mismatch(z, K_LIB, NULL, "tp_policy_rule_add(%s): %d", buf,
			 err);
		return;
	}
	if (i >= 0 && z->ref.rules[i].id != id) {
		mismatch(
			z, K_RULE_ID, NULL,
			"re-adding %s: expected rule id %u (same match), got %u",
			buf, z->ref.rules[i].id, id);
	} else if (i < 0) {
		for (j = 0; j < z->ref.n_rules; j++) {
			if (z->ref.rules[j].id != id)
				continue;
			pref_rule_str(&z->ref.rules[j].rule, buf + 64, 64);
			mismatch(
				z, K_RULE_ID, NULL,
				"adding new rule %.60s: got id %u, which rule %.60s holds",
				buf, id, buf + 64);
		}
	}
	assert_true(pref_rule_add(&z->ref, r, id) >= 0);
}

static void rule_del(struct fz *z)
{
	struct tp_rule r;
	char buf[128];
	int err;

	if (!z->ref.n_rules)
		return;
	r = z->ref.rules[rnd((__u32)z->ref.n_rules)].rule;
	err = tp_policy_rule_del(&z->h.maps, &r, TP_OWNER_NONE);
	if (err) {
		pref_rule_str(&r, buf, sizeof(buf));
		mismatch(z, K_LIB, NULL, "tp_policy_rule_del(%s): %d", buf,
			 err);
		return;
	}
	assert_int_equal(pref_rule_del(&z->ref, &r), 0);
}

static void default_set(struct fz *z, __u16 zone, __u8 verdict)
{
	int err = tp_policy_default_set(&z->h.maps, zone, verdict);

	if (err) {
		mismatch(z, K_LIB, NULL, "tp_policy_default_set(%u, %u): %d",
			 zone, verdict, err);
		return;
	}
	pref_default_set(&z->ref, zone, verdict);
}

static void gen_policy(struct fz *z)
{
	struct tp_rule r;
	int i, n = chance(30) ? 3 + (int)rnd(40) : 150 + (int)rnd(250);
	__u16 zone;

	for (i = 0; i < n; i++) {
		if (z->ref.n_rules && chance(8)) {
			/* the same match again: changes the verdict */
			r = z->ref.rules[rnd((__u32)z->ref.n_rules)].rule;
			r.verdict = 1 + rnd(3);
		} else {
			gen_rule(z, &r);
		}
		rule_add(z, &r);
	}
	for (zone = TH_ZONE; zone <= TH_ZONE2;
	     zone++) { /* zone 0 has no default */
		if (chance(33))
			continue; /* no entry: allow */
		default_set(z, zone,
			    chance(50) ? TP_VERDICT_ALLOW : TP_VERDICT_DENY);
	}
}

/* The space @a lies in, -1 for none. */
static int space_of(const struct tp_addr *a)
{
	static const int order[] = {
		SP_Z2_4,    SP_Z2_6, /* inside the tailnet's */
		SP_POD4,    SP_POD6,	SP_TAIL4, SP_TAIL6,
		SP_OTHER4A, SP_OTHER4B, SP_OTHER6
	};
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (tp_prefix_contains(&fz_spaces[order[i]].base,
				       fz_spaces[order[i]].plen, a))
			return order[i];
	return -1;
}

/*
 * A change aimed at one remembered flow, so that its next packet is likely
 * decided differently: a rule naming its identities, the removal of the
 * rule that decided it, or a new identity for one of its addresses.
 */
static void mutate_target(struct fz *z)
{
	const struct fz_flow *fl;
	struct tp_rule r = {};
	size_t k, i;

	if (!z->n_flows)
		return;
	k = rnd((__u32)z->n_flows);
	fl = &z->flows[k];
	if (z->n_target < sizeof(z->target) / sizeof(z->target[0]))
		z->target[z->n_target++] = k;
	switch (rnd(20)) {
	case 0 ... 4:
		for (i = 0; fl->d.rule_id && i < z->ref.n_rules; i++) {
			if (z->ref.rules[i].id != fl->d.rule_id)
				continue;
			r = z->ref.rules[i].rule;
			if (!tp_policy_rule_del(&z->h.maps, &r, TP_OWNER_NONE))
				assert_int_equal(pref_rule_del(&z->ref, &r), 0);
			else
				mismatch(z, K_LIB, NULL,
					 "tp_policy_rule_del(rule %u) failed",
					 fl->d.rule_id);
			return;
		}
		/* decided by no rule: aim a rule at it instead */
		__attribute__((fallthrough));
	case 5 ... 12:
		r.src_id = chance(80) ? fl->q.src_id : TP_POLICY_ANY_ID;
		r.dst_id = chance(80) ? fl->q.dst_id : TP_POLICY_ANY_ID;
		r.zone = chance(50) ? fl->zone : TP_POLICY_ANY_ZONE;
		r.proto = chance(70) ? fl->proto : 0;
		if (r.proto == IPPROTO_TCP || r.proto == IPPROTO_UDP) {
			if (chance(60))
				r.port_lo = r.port_hi = fl->dport;
			else if (chance(50))
				gen_ports(&r);
		}
		r.verdict = 1 + rnd(3);
		r.owner = TP_OWNER_TPCTL;
		rule_add(z, &r);
		return;
	default: {
		bool in = fl->hook == TH_FROM_TAILNET, src = chance(50);
		const struct tp_addr *a = src ? &fl->saddr : &fl->daddr;
		__u16 zone = src ? (in ? fl->zone : 0)
				 : (in ? fl->out_zone : fl->zone);

		identity_set(z, zone, a, 128, space_of(a), pool_id());
		return;
	}
	}
}

/* A batch of changes between flows: rules, defaults, identities. */
static void mutate(struct fz *z)
{
	struct tp_rule r;
	int i, n = 1 + (int)rnd(4);
	size_t k;

	z->n_target = 0;
	for (i = 0; i < n; i++)
		mutate_target(z);
	n = (int)rnd(5);
	for (i = 0; i < n; i++) {
		switch (rnd(11)) {
		case 0 ... 4:
			gen_rule(z, &r);
			rule_add(z, &r);
			break;
		case 5 ... 6:
			if (!z->ref.n_rules)
				break;
			r = z->ref.rules[rnd((__u32)z->ref.n_rules)].rule;
			r.verdict = 1 + (r.verdict % 3); /* a different one */
			rule_add(z, &r);
			break;
		case 7:
			rule_del(z);
			break;
		case 8:
			default_set(z, TH_ZONE + rnd(2),
				    chance(50) ? TP_VERDICT_ALLOW
					       : TP_VERDICT_DENY);
			break;
		case 9:
			if (z->n_pfx && chance(30)) {
				identity_del(z);
				break;
			}
			/* fall through */
		default:
			if (z->n_pfx && chance(50)) {
				/* an existing prefix changes identity */
				k = rnd((__u32)z->n_pfx);
				identity_set(z, z->pfx[k].zone, &z->pfx[k].addr,
					     z->pfx[k].plen, z->pfx[k].sp,
					     pool_id());
			} else {
				static const int sps[] = { SP_POD4,  SP_POD6,
							   SP_TAIL4, SP_TAIL6,
							   SP_Z2_4,  SP_Z2_6 };
				int sp = sps[rnd(6)];

				identity_random(z, sp, fz_spaces[sp].zone);
			}
			break;
		}
	}
	/* at least one change that surely bumps the revision */
	gen_rule(z, &r);
	rule_add(z, &r);
	z->gen++;
}

/* ---- packets ---------------------------------------------------------------- */

enum fz_pkt_kind {
	FZ_FIRST, /* the flow's first packet */
	FZ_LATER, /* a later packet in the original direction */
	FZ_REPLY, /* a reply */
};

static void flow_key(const struct fz_flow *fl, struct tp_ct_key *k)
{
	memset(k, 0, sizeof(*k));
	k->saddr = fl->saddr;
	k->daddr = fl->daddr;
	k->sport = htons(fl->sport);
	k->dport = htons(fl->dport);
	k->proto = fl->proto;
	k->zone = fl->zone;
}

static void key_reverse(const struct tp_ct_key *k, struct tp_ct_key *r)
{
	*r = *k;
	r->saddr = k->daddr;
	r->daddr = k->saddr;
	r->sport = k->dport;
	r->dport = k->sport;
}

/* Build and run one packet of @fl; returns the program's verdict. */
static int flow_send(struct fz *z, const struct fz_flow *fl,
		     enum fz_pkt_kind kind)
{
	char s[PKT_ADDR_STRLEN], d[PKT_ADDR_STRLEN];
	struct pkt_spec sp = {};
	bool reply = kind == FZ_REPLY;
	enum th_hook hook = fl->hook;
	size_t out_len;
	int verdict = -1, in_ifindex = 0;

	pkt_addr_str(reply ? &fl->daddr : &fl->saddr, s, sizeof(s));
	pkt_addr_str(reply ? &fl->saddr : &fl->daddr, d, sizeof(d));
	sp.family = fl->v6 ? AF_INET6 : AF_INET;
	sp.saddr = s;
	sp.daddr = d;
	sp.proto = fl->proto;
	sp.sport = reply ? fl->dport : fl->sport;
	sp.dport = reply ? fl->sport : fl->dport;
	sp.seq = 1000;
	/*
	 * test_run reads bytes 12-13 of the L3 packet as an EtherType: an
	 * IPv6 source whose bytes 4-5 are 86dd makes it check for a whole
	 * IPv6 header behind those 14 bytes.  A payload keeps every packet
	 * long enough for that.
	 */
	sp.payload = "tailplane-fuzz..";
	sp.payload_len = 16;
	switch (kind) {
	case FZ_FIRST:
		sp.tcp_flags = PKT_TCP_SYN;
		break;
	case FZ_LATER:
		sp.tcp_flags = PKT_TCP_ACK;
		sp.ack_seq = 2000;
		break;
	case FZ_REPLY:
		sp.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK;
		sp.ack_seq = 1001;
		break;
	}
	if (fl->proto == IPPROTO_ICMP)
		sp.icmp_type = reply ? 0 : 8;
	else if (fl->proto == IPPROTO_ICMPV6)
		sp.icmp_type = reply ? 129 : 128;
	sp.icmp_id = fl->sport;
	sp.icmp_seq = kind == FZ_FIRST ? 1 : 2;
	assert_int_equal(pkt_build(&sp, &z->pkt_in), 0);

	/*
	 * A reply to the tailnet comes from where the flow went: forwarded
	 * from its out zone's interface when that is a tailnet zone.
	 */
	if (reply && hook == TH_FROM_TAILNET && fl->out_zone)
		in_ifindex = fl->out_zone == TH_ZONE ? z->h.l3_ifindex
						     : z->h.l3_ifindex2;
	if (reply)
		hook = hook == TH_FROM_TAILNET ? TH_TO_TAILNET
					       : TH_FROM_TAILNET;
	else if (hook == TH_TO_TAILNET)
		in_ifindex = fl->in_ifindex;
	assert_int_equal(th_run_from(&z->h, hook, fl->ifindex, in_ifindex,
				     z->pkt_in.data, z->pkt_in.len, z->pkt_out,
				     &out_len, &verdict),
			 0);
	return verdict;
}

static const char *verdict_name(int v)
{
	return v == TC_ACT_OK	  ? "TC_ACT_OK"
	       : v == TC_ACT_SHOT ? "TC_ACT_SHOT"
				  : "?";
}

static bool allows(__u8 verdict)
{
	return verdict == TP_VERDICT_ALLOW || verdict == TP_VERDICT_AUDIT;
}

/*
 * After a packet that was or should have been dropped, check which of
 * TP_DROP_POLICY / TP_DROP_ZONE moved against @want (0: none should);
 * then take the counters as they are, so one mismatch is reported once.
 */
static void check_drops(struct fz *z, enum fz_kind kind,
			const struct fz_flow *fl, unsigned int want,
			unsigned int alt, const char *what)
{
	__u64 pol = th_stat(&z->h, TP_STAT_DROP(TP_DROP_POLICY));
	__u64 zon = th_stat(&z->h, TP_STAT_DROP(TP_DROP_ZONE));
	__u64 dp = pol - z->drops[TP_DROP_POLICY],
	      dz = zon - z->drops[TP_DROP_ZONE];
	unsigned int got = dp == 1 && !dz   ? TP_DROP_POLICY
			   : dz == 1 && !dp ? TP_DROP_ZONE
			   : !dp && !dz	    ? 0
					    : TP_DROP_REASON_MAX;

	if (got != want && (!alt || got != alt))
		mismatch(z, kind, fl, "%s: expected drop reason %s%s%s, got %s",
			 what, reason_name(want), alt ? " or " : "",
			 alt ? reason_name(alt) : "", reason_name(got));
	z->drops[TP_DROP_POLICY] = pol;
	z->drops[TP_DROP_ZONE] = zon;
}

/* Every entry of the map tp_identity holding @a, in any zone. */
static void ident_print_map(struct fz *z, const struct tp_addr *a)
{
	struct tp_identity_key k, next, *prev = NULL;
	char buf[PKT_ADDR_STRLEN];
	struct tp_identity_val v;

	while (!bpf_map_get_next_key(z->h.maps.identity, prev, &next)) {
		k = next;
		prev = &k;
		if (k.prefixlen < 32 ||
		    !tp_prefix_contains(&k.addr, k.prefixlen - 32, a) ||
		    bpf_map_lookup_elem(z->h.maps.identity, &k, &v))
			continue;
		fprintf(stderr, "    map entry zone %u %s/%u -> %u\n", k.zone,
			pkt_addr_str(&k.addr, buf, sizeof(buf)),
			k.prefixlen - 32, v.id);
	}
}

/*
 * For an identity mismatch: what a lookup in the map (tp_identity_lookup())
 * gives @a in @zone, every prefix of the reference holding @a and every
 * entry of the map holding it.
 */
static void ident_print(struct fz *z, const char *what, __u16 zone,
			const struct tp_addr *a)
{
	char buf[PKT_ADDR_STRLEN];
	size_t i;
	__u32 id;

	fprintf(stderr, "  %s %s, zone %u: map lookup ", what,
		pkt_addr_str(a, buf, sizeof(buf)), zone);
	if (tp_identity_lookup(&z->h.maps, zone, a, &id))
		fprintf(stderr, "none\n");
	else
		fprintf(stderr, "%u\n", id);
	for (i = 0; i < z->ref.n_idents; i++) {
		const struct pref_ident *e = &z->ref.idents[i];

		if (!tp_prefix_contains(&e->prefix, e->plen, a))
			continue;
		fprintf(stderr, "    reference prefix zone %u %s/%u -> %u\n",
			e->zone, pkt_addr_str(&e->prefix, buf, sizeof(buf)),
			e->plen, e->id);
	}
	ident_print_map(z, a);
}

/*
 * For a rule id mismatch at equal verdicts: how the rule the datapath
 * reported compares with the reference's, if the reference knows it.
 * @print: print it; else only say whether the two tie.
 *
 * Return: true when both rules match, are equally specific and have the
 * same verdict (the document then wants the lower id).
 */
static bool rule_compare(struct fz *z, const struct fz_flow *fl, __u32 got,
			 bool print)
{
	struct pref_spec want_s, got_s;
	const struct pref_rule *pr = NULL;
	bool tie;
	size_t i;

	for (i = 0; i < z->ref.n_rules; i++)
		if (z->ref.rules[i].id == got)
			pr = &z->ref.rules[i];
	if (!pr || !pref_rule_matches(&pr->rule, &fl->q) || fl->d.best < 0) {
		if (print)
			fprintf(stderr, "  rule %u %s\n", got,
				!pr ? "is no rule of the reference"
				: fl->d.best < 0
					? "matches, yet no rule should decide"
					: "does not match the flow");
		return false;
	}
	pref_rule_spec(&pr->rule, &fl->q, &got_s);
	pref_rule_spec(&z->ref.rules[fl->d.best].rule, &fl->q, &want_s);
	tie = !pref_spec_cmp(&got_s, &want_s) &&
	      pr->rule.verdict == fl->d.verdict;
	if (print)
		fprintf(stderr, "  rule %u is %s rule %u%s\n", got,
			pref_spec_cmp(&got_s, &want_s) < 0
				? "less specific than"
			: pref_spec_cmp(&got_s, &want_s) > 0
				? "MORE specific than"
				: "as specific as",
			fl->d.rule_id,
			tie ? " with the same verdict: the lower id should be reported"
			    : "");
	return tie;
}

/* Compare the conntrack entry of @fl with the reference's decision. */
static void check_ct(struct fz *z, enum fz_kind kind, const struct fz_flow *fl,
		     const char *what)
{
	struct tp_ct_entry e;
	struct tp_ct_key k;

	flow_key(fl, &k);
	if (bpf_map_lookup_elem(tp_ct_fd(&z->h.maps, k.proto), &k, &e)) {
		mismatch(z, K_CT_MISSING, fl, "%s: no conntrack entry", what);
		return;
	}
	if (e.verdict == fl->d.verdict && e.rule_id == fl->d.rule_id &&
	    e.src_identity == fl->q.src_id && e.dst_identity == fl->q.dst_id &&
	    e.out_zone == fl->out_zone)
		return;
	if (e.verdict == fl->d.verdict && e.src_identity == fl->q.src_id &&
	    e.dst_identity == fl->q.dst_id && e.out_zone == fl->out_zone)
		kind = rule_compare(z, fl, e.rule_id, false) ? K_CT_TIE
							     : K_CT_RULE;
	if (mismatch(
		    z, kind, fl,
		    "%s: expected verdict %s rule %u src id %u dst id %u out zone %u; "
		    "got verdict %s rule %u src id %u dst id %u out zone %u",
		    what, pref_verdict_str(fl->d.verdict), fl->d.rule_id,
		    fl->q.src_id, fl->q.dst_id, fl->out_zone,
		    pref_verdict_str(e.verdict), e.rule_id, e.src_identity,
		    e.dst_identity, e.out_zone) &&
	    (kind == K_CT_RULE || kind == K_CT_TIE))
		rule_compare(z, fl, e.rule_id, true);
}

/* Did the reference's decision for @fl need the rule-id tie break? */
static bool ref_tie(const struct fz *z, const struct fz_flow *fl)
{
	const struct pref_rule *best;
	struct pref_spec s, bs;
	size_t i;

	if (fl->d.best < 0)
		return false;
	best = &z->ref.rules[fl->d.best];
	pref_rule_spec(&best->rule, &fl->q, &bs);
	for (i = 0; i < z->ref.n_rules; i++) {
		const struct pref_rule *pr = &z->ref.rules[i];

		if (pr == best || pr->rule.verdict != best->rule.verdict ||
		    !pref_rule_matches(&pr->rule, &fl->q))
			continue;
		pref_rule_spec(&pr->rule, &fl->q, &s);
		if (!pref_spec_cmp(&s, &bs))
			return true;
	}
	return false;
}

/* The identity the datapath's LPM lookup gives @a in @zone. */
static __u32 map_identity(struct fz *z, __u16 zone, const struct tp_addr *a,
			  __u32 fallback)
{
	__u32 id;

	return tp_identity_lookup(&z->h.maps, zone, a, &id) ? fallback : id;
}

/*
 * Decide @fl in the reference now and remember the decision.  The
 * identities are the reference's; when the map gives others, that is
 * reported on its own and the decision is made from the map's identities,
 * so that the policy engine is still checked.
 */
static void flow_decide(struct fz *z, struct fz_flow *fl)
{
	struct pref_query q, mq;
	bool in = fl->hook == TH_FROM_TAILNET;
	__u16 szone = in ? fl->zone : 0, dzone = in ? fl->out_zone : fl->zone;

	flow_query(z, fl, &q);
	mq = q;
	mq.src_id = !in && fl->in_ifindex == FZ_UPLINK
			    ? TP_ID_WORLD
			    : map_identity(z, szone, &fl->saddr,
					   in		    ? TP_ID_TAILNET
					   : fl->in_ifindex ? TP_ID_WORLD
							    : TP_ID_HOST);
	mq.dst_id =
		map_identity(z, dzone, &fl->daddr,
			     !in || fl->out_zone ? TP_ID_TAILNET : TP_ID_WORLD);
	fl->q = q;
	if (mq.src_id != q.src_id || mq.dst_id != q.dst_id) {
		if (mismatch(
			    z, K_IDENT, NULL,
			    "seed=%llu round=%d flow#%lu: reference identities src %u dst %u, "
			    "tp_identity lookup src %u dst %u (the flow is checked with the latter)",
			    fz_seed, z->round, z->n_new, q.src_id, q.dst_id,
			    mq.src_id, mq.dst_id)) {
			flow_print(stderr, fl);
			ident_print(z, "source", szone, &fl->saddr);
			ident_print(z, "destination", dzone, &fl->daddr);
		}
		fl->q = mq;
	}
	pref_decide(&z->ref, &fl->q, &fl->d);
	fz_cov[fl->d.verdict == TP_VERDICT_ALLOW  ? C_ALLOW
	       : fl->d.verdict == TP_VERDICT_DENY ? C_DENY
						  : C_AUDIT]++;
	fz_cov[C_DEFAULT] += !fl->d.crossing && fl->d.best < 0;
	if (fl->d.crossing)
		fz_cov[allows(fl->d.verdict) ? C_CROSS_PASS : C_CROSS_DROP]++;
	fz_cov[C_TIE] += ref_tie(z, fl);
	z->seen[z->n_seen % 64][0] = fl->q.src_id;
	z->seen[z->n_seen % 64][1] = fl->q.dst_id;
	z->n_seen++;
	fl->gen = z->gen;
	z->decisions[fl->d.verdict]++;
}

/* ---- new flows ------------------------------------------------------------ */

static void gen_flow(struct fz *z, struct fz_flow *fl)
{
	int kind = (int)rnd(100), sp_s, sp_d;
	bool v6 = chance(40);

	memset(fl, 0, sizeof(*fl));
	fl->v6 = v6;
	if (kind < 72) {
		/* from zone 1 */
		fl->hook = TH_FROM_TAILNET;
		fl->ifindex = z->h.l3_ifindex;
		fl->zone = TH_ZONE;
		sp_s = chance(90)   ? (v6 ? SP_TAIL6 : SP_TAIL4)
		       : chance(50) ? (v6 ? SP_Z2_6 : SP_Z2_4)
				    : (v6 ? SP_POD6 : SP_POD4);
		switch (rnd(20)) {
		case 0 ... 8:
			sp_d = v6 ? SP_POD6 : SP_POD4;
			break;
		case 9 ... 14:
			sp_d = v6 ? SP_Z2_6 : SP_Z2_4;
			break;
		case 15 ... 17:
			sp_d = v6 ? SP_TAIL6 : SP_TAIL4;
			break;
		default:
			sp_d = v6	    ? SP_OTHER6
			       : chance(50) ? SP_OTHER4A
					    : SP_OTHER4B;
			break;
		}
	} else if (kind < 82) {
		/* from zone 2 */
		fl->hook = TH_FROM_TAILNET;
		fl->ifindex = z->h.l3_ifindex2;
		fl->zone = TH_ZONE2;
		sp_s = v6 ? SP_Z2_6 : SP_Z2_4;
		switch (rnd(3)) {
		case 0:
			sp_d = v6 ? SP_POD6 : SP_POD4;
			break;
		case 1:
			sp_d = v6 ? SP_Z2_6 : SP_Z2_4;
			break;
		default:
			sp_d = v6 ? SP_TAIL6 : SP_TAIL4;
			break;
		}
	} else {
		/* this host or the cluster side to zone 1 */
		fl->hook = TH_TO_TAILNET;
		fl->ifindex = z->h.l3_ifindex;
		/* lo: not this host; or an uplink, whose sources are world */
		fl->in_ifindex = chance(10) ? FZ_UPLINK : chance(15) ? 1 : 0;
		fl->zone = TH_ZONE;
		sp_s = chance(85) ? (v6 ? SP_POD6 : SP_POD4)
				  : (v6 ? SP_OTHER6 : SP_OTHER4A);
		sp_d = chance(90) ? (v6 ? SP_TAIL6 : SP_TAIL4)
				  : (v6 ? SP_Z2_6 : SP_Z2_4);
	}
	pick_addr(z, sp_s, &fl->saddr);
	pick_addr(z, sp_d, &fl->daddr);
	fl->out_zone = fl->hook == TH_FROM_TAILNET ? out_zone_of(&fl->daddr)
						   : fl->zone;
	switch (rnd(10)) {
	case 0 ... 3:
		fl->proto = IPPROTO_TCP;
		break;
	case 4 ... 7:
		fl->proto = IPPROTO_UDP;
		break;
	default:
		fl->proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
		break;
	}
	if (fl->proto == IPPROTO_TCP || fl->proto == IPPROTO_UDP) {
		/* mostly on the edges of the rules' ranges */
		if (z->ref.n_rules && chance(60)) {
			const struct tp_rule *r =
				&z->ref.rules[rnd((__u32)z->ref.n_rules)].rule;
			int p = chance(50) ? r->port_lo : r->port_hi;

			p += (int)rnd(3) - 1;
			fl->dport = p < 0 ? 0 : p > 65535 ? 65535 : (__u16)p;
		} else {
			fl->dport = interesting_port();
		}
	}
}

/*
 * Does a new flow from the tailnet leave to a tailnet (its out zone) while
 * the harness routes its source out of another zone's interface?  The
 * datapath refuses it after its decision (TP_DROP_REVERSE_PATH, docs/
 * datapath.md "Sides"): its replies would never come back through its
 * zone.  Unrouted sources (zone 1's) are not refused.
 */
static bool replies_elsewhere(const struct fz_flow *fl)
{
	__u16 src_zone = out_zone_of(&fl->saddr);

	return fl->hook == TH_FROM_TAILNET && fl->out_zone && src_zone &&
	       src_zone != fl->zone;
}

/* Give @fl a source port / echo id whose tuples are free in conntrack. */
static void flow_fresh_port(struct fz *z, struct fz_flow *fl)
{
	struct tp_ct_key k, r;
	struct tp_ct_entry e;

	for (;;) {
		fl->sport = (__u16)(1024 + z->next_port++ % (65536 - 1024));
		flow_key(fl, &k);
		key_reverse(&k, &r);
		if (bpf_map_lookup_elem(tp_ct_fd(&z->h.maps, k.proto), &k,
					&e) &&
		    bpf_map_lookup_elem(tp_ct_fd(&z->h.maps, r.proto), &r, &e))
			return;
	}
}

static void flow_keep(struct fz *z, const struct fz_flow *fl)
{
	if (z->n_flows < FZ_KEEP)
		z->flows[z->n_flows++] = *fl;
	else
		z->flows[rnd(FZ_KEEP)] = *fl;
}

static void new_flow(struct fz *z)
{
	struct tp_ct_entry e;
	struct tp_ct_key k;
	struct fz_flow fl;
	int want, got;
	bool refused;
	__u64 rp;

	gen_flow(z, &fl);
	flow_fresh_port(z, &fl);
	fz_cov[C_EGRESS] += fl.hook == TH_TO_TAILNET;
	flow_decide(z, &fl);
	z->n_new++;
	rp = th_stat(&z->h, TP_STAT_DROP(TP_DROP_REVERSE_PATH));
	got = flow_send(z, &fl, FZ_FIRST);
	refused = allows(fl.d.verdict) && replies_elsewhere(&fl);
	want = allows(fl.d.verdict) && !refused ? TC_ACT_OK : TC_ACT_SHOT;
	if (th_stat(&z->h, TP_STAT_DROP(TP_DROP_REVERSE_PATH)) - rp != refused)
		mismatch(z, K_VERDICT_NEW, &fl,
			 "expected %s TP_DROP_REVERSE_PATH for its source",
			 refused ? "one" : "no");
	if (got != want)
		mismatch(z, K_VERDICT_NEW, &fl,
			 "expected %s (%s, rule %u, %s), got %s",
			 verdict_name(want), pref_verdict_str(fl.d.verdict),
			 fl.d.rule_id, reason_name(fl.d.reason),
			 verdict_name(got));
	if (want == TC_ACT_SHOT || got == TC_ACT_SHOT)
		check_drops(z, K_REASON_NEW, &fl, fl.d.reason, 0, "new flow");
	if (want == TC_ACT_OK) {
		check_ct(z, K_CT_FIELD, &fl, "new flow");
		flow_keep(z, &fl);
		return;
	}
	flow_key(&fl, &k);
	if (!bpf_map_lookup_elem(tp_ct_fd(&z->h.maps, k.proto), &k, &e))
		mismatch(z, K_CT_DENIED, &fl,
			 "denied first packet: entry with verdict %s rule %u",
			 pref_verdict_str(e.verdict), e.rule_id);
}

/* ---- later packets ------------------------------------------------------- */

/*
 * The drop reason that may also count a packet of a denied crossing flow
 * that is not its deciding one: docs/policy.md names TP_DROP_ZONE for the
 * decision only, so TP_DROP_POLICY passes too.
 */
static unsigned int alt_reason(const struct fz_flow *fl)
{
	return fl->d.reason == TP_DROP_ZONE ? TP_DROP_POLICY : 0;
}

/*
 * A reply of @fl: decided again, as a packet in the original direction
 * is, when the policy changed since the flow's last decision (revoking
 * access stops both directions); replies of a denied flow are dropped
 * with TP_DROP_POLICY.
 */
static void reply(struct fz *z, struct fz_flow *fl)
{
	bool redecide = fl->gen != z->gen;
	int want, got;

	if (redecide) {
		flow_decide(z, fl);
		z->rechecks++;
		fz_cov[C_RECHECK]++;
	}
	want = allows(fl->d.verdict) ? TC_ACT_OK : TC_ACT_SHOT;
	got = flow_send(z, fl, FZ_REPLY);
	z->n_later++;
	fz_cov[C_REPLY_DROP] += want == TC_ACT_SHOT;
	if (got != want)
		mismatch(
			z, K_VERDICT_REPLY, fl,
			"reply: flow decided %s (rule %u, %s); expected %s, got %s",
			pref_verdict_str(fl->d.verdict), fl->d.rule_id,
			redecide ? "policy changed, decided again"
				 : "no change since decided",
			verdict_name(want), verdict_name(got));
	if (want == TC_ACT_SHOT || got == TC_ACT_SHOT)
		check_drops(z, K_REASON_REPLY, fl, TP_DROP_POLICY, 0,
			    "reply of a denied flow");
}

/*
 * The next packet of @fl in its original direction: decided again when
 * the policy changed since its last decision.
 */
static void later(struct fz *z, struct fz_flow *fl)
{
	struct pref_decision old = fl->d;
	bool redecide = fl->gen != z->gen;
	char what[160];
	int want, got;

	if (redecide) {
		flow_decide(z, fl);
		z->rechecks++;
		fz_cov[C_RECHECK]++;
		fz_cov[C_RECHECK_CHANGED] +=
			allows(old.verdict) != allows(fl->d.verdict);
		fz_cov[C_RECHECK_CROSS_DROP] +=
			fl->d.reason == TP_DROP_ZONE && allows(old.verdict);
	}
	snprintf(what, sizeof(what),
		 "later packet (%s; before: %s rule %u, %s)",
		 redecide ? "policy changed, decided again"
			  : "no change since decided",
		 pref_verdict_str(old.verdict), old.rule_id,
		 old.crossing ? "zone crossing" : "no crossing");
	z->n_later++;
	got = flow_send(z, fl, FZ_LATER);
	want = allows(fl->d.verdict) ? TC_ACT_OK : TC_ACT_SHOT;
	if (got != want)
		mismatch(z, K_VERDICT_RECHECK, fl,
			 "%s: expected %s (%s, rule %u), got %s", what,
			 verdict_name(want), pref_verdict_str(fl->d.verdict),
			 fl->d.rule_id, verdict_name(got));
	if (want == TC_ACT_SHOT || got == TC_ACT_SHOT)
		check_drops(z, K_REASON_RECHECK, fl, fl->d.reason,
			    redecide ? 0 : alt_reason(fl), what);
	check_ct(z, K_CT_RECHECK, fl, what);
}

static void revisit(struct fz *z)
{
	struct fz_flow *fl;
	int i;

	for (i = 0; i < FZ_REVISIT && z->n_flows; i++) {
		if ((unsigned int)i < z->n_target)
			fl = &z->flows[z->target[i]];
		else
			fl = &z->flows[rnd((__u32)z->n_flows)];
		if (chance(40))
			reply(z, fl);
		later(z, fl);
		if (chance(40))
			reply(z, fl);
	}
}

/* ---- rounds ---------------------------------------------------------------- */

static void check_counters(struct fz *z)
{
	static const struct {
		__u32 stat;
		__u8 verdict;
	} v[] = {
		{ TP_STAT_VERDICT_ALLOW, TP_VERDICT_ALLOW },
		{ TP_STAT_VERDICT_DENY, TP_VERDICT_DENY },
		{ TP_STAT_VERDICT_AUDIT, TP_VERDICT_AUDIT },
	};
	__u64 got;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		got = th_stat(&z->h, v[i].stat);
		if (got != z->decisions[v[i].verdict])
			mismatch(z, K_COUNTERS, NULL,
				 "decisions %s: expected %llu, got %llu",
				 pref_verdict_str(v[i].verdict),
				 (unsigned long long)z->decisions[v[i].verdict],
				 (unsigned long long)got);
	}
	got = th_stat(&z->h, TP_STAT_POLICY_RECHECK);
	if (got != z->rechecks)
		mismatch(z, K_COUNTERS, NULL,
			 "TP_STAT_POLICY_RECHECK: expected %llu, got %llu",
			 (unsigned long long)z->rechecks,
			 (unsigned long long)got);
}

static void fz_round(int round, unsigned long n_new)
{
	struct fz *z = calloc(1, sizeof(*z));
	unsigned long i;
	size_t n_id;

	assert_non_null(z);
	z->round = round;
	z->flows = calloc(FZ_KEEP, sizeof(*z->flows));
	assert_non_null(z->flows);
	z->next_port = rnd(65536);
	pref_init(&z->ref);
	assert_int_equal(th_open(&z->h, NULL), 0);
	{
		struct tp_iface up = { .flags = TP_IFACE_F_UPLINK };
		assert_int_equal(tp_iface_set(&z->h.maps, FZ_UPLINK, &up), 0);
	}
	th_set_clock(&z->h, FZ_T0);

	gen_identities(z);
	n_id = z->ref.n_idents;
	gen_policy(z);
	print_message(
		"round %d: %zu identity prefixes, %zu rules, defaults zone 1 %s zone 2 %s, %lu new flows\n",
		round, n_id, z->ref.n_rules,
		pref_verdict_str(z->ref.zone_default[TH_ZONE]),
		pref_verdict_str(z->ref.zone_default[TH_ZONE2]), n_new);

	for (i = 0; i < n_new; i++) {
		if (i && !(i % FZ_BATCH)) {
			mutate(z);
			revisit(z);
		}
		new_flow(z);
	}
	mutate(z);
	revisit(z);
	check_counters(z);
	print_message(
		"round %d: %lu new flows, %lu later packets and replies, %zu rules at the end\n",
		round, z->n_new, z->n_later, z->ref.n_rules);

	th_close(&z->h);
	pref_free(&z->ref);
	free(z->pfx);
	free(z->flows);
	free(z);
}

/* ---- tests ------------------------------------------------------------------ */

/* The reference against the examples docs/policy.md gives. */
static void test_reference_doc_examples(void **state)
{
	struct tp_rule r = { .proto = IPPROTO_TCP,
			     .verdict = TP_VERDICT_ALLOW };
	struct pref_query q = { .proto = IPPROTO_TCP, .zone = TH_ZONE };
	struct pref_spec s;

	REQUIRE_BPF();
	r.port_lo = r.port_hi = 443;
	q.dport = 443;
	pref_rule_spec(&r, &q, &s);
	assert_int_equal(s.l4, 32);
	r.port_lo = 1024;
	r.port_hi = 2047;
	q.dport = 1500;
	pref_rule_spec(&r, &q, &s);
	assert_int_equal(s.l4, 22);
	r.port_lo = 1000;
	r.port_hi = 1999;
	pref_rule_spec(&r, &q, &s);
	assert_int_equal(s.l4, 23);
	q.dport = 1000;
	pref_rule_spec(&r, &q, &s);
	assert_int_equal(s.l4, 29);
	r.port_lo = r.port_hi = 0;
	pref_rule_spec(&r, &q, &s);
	assert_int_equal(s.l4, 8);
	r.proto = 0;
	pref_rule_spec(&r, &q, &s);
	assert_int_equal(s.l4, 0);
}

static void test_policy_differential(void **state)
{
	unsigned long rounds = FZ_ROUNDS, per, done = 0;
	unsigned long r, k;

	REQUIRE_BPF();
	for (r = 0; r < SP_MAX; r++)
		assert_int_equal(pkt_prefix_parse(fz_spaces[r].cidr,
						  &fz_spaces[r].base,
						  &fz_spaces[r].plen),
				 0);
	if (fz_iters < rounds * 1000)
		rounds = fz_iters / 1000 ? fz_iters / 1000 : 1;
	per = fz_iters / rounds;
	for (r = 0; r < rounds; r++) {
		unsigned long n = r + 1 == rounds ? fz_iters - done : per;

		fz_round((int)r, n);
		done += n;
	}
	print_message("seed=%llu: %lu new flows checked\n", fz_seed, done);
	for (k = 0; k < C_MAX; k++)
		print_message("  %8lu %s\n", fz_cov[k], fz_cov_name[k]);
	for (k = 0, r = 0; k < K_MAX; k++) {
		if (!fz_mismatches[k])
			continue;
		print_message("  %lu mismatches: %s\n", fz_mismatches[k],
			      fz_kind_name[k]);
		r += fz_mismatches[k];
	}
	if (r)
		fail_msg(
			"%lu mismatches with the reference (seed=%llu, TP_FUZZ_ITERS=%lu)",
			r, fz_seed, fz_iters);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_doc_examples),
		cmocka_unit_test(test_policy_differential),
	};
	const char *s = getenv("TP_FUZZ_SEED");

	fz_seed =
		s && *s ? strtoull(s, NULL, 0) : (unsigned long long)time(NULL);
	printf("seed=%llu\n", fz_seed);
	fflush(stdout);
	s = getenv("TP_FUZZ_ITERS");
	if (s && *s)
		fz_iters = strtoul(s, NULL, 0);
	if (!fz_iters)
		fz_iters = 1;
	fz_verbose = getenv("TP_FUZZ_VERBOSE") != NULL;
	fz_full_range = getenv("TP_FUZZ_FULL_RANGE") != NULL;
	fz_rng = fz_seed;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
