// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tp_from_tailnet's fast path (tp_fast_ingress(): a packet of a live flow
 * from the tailnet with nothing to do but count it and translate it,
 * handled before the general parse) against the same object loaded
 * without it (the fast_path knob off).  Random conntrack entries, policy
 * revisions, clocks and packets at the path's edges (IPv4 options,
 * fragments, length fields that disagree with the packet, short TCP
 * headers, SYNs on closed flows, every flag of the entry, static NAT
 * configured or not, Ethernet frames on loopback, undescribed (zone 0)
 * or described as an Ethernet tailnet interface of a zone; no entry under
 * the tuple, one under its reverse; a third of the cases IPv6: extension
 * headers, other next headers, payload lengths and versions, EtherTypes
 * of the other family, IPv4-mapped and -compatible addresses and those
 * beside them, :: and ::1; entries under the tuple a mutated packet reads
 * as, so that a check the path lacks shows) go through
 * both, which must leave the same verdict, bytes, conntrack entries,
 * counters, events and fragment records.  Before each, a packet of
 * another kind (an ICMP error, an echo, a first fragment, the reply to
 * the tailnet) goes through both too, leaving in the scratch what its
 * parse fills and the fast path does not zero.  Which packets the fast path
 * took is read from the scratch (it leaves the parse result the full
 * path writes as it was) and checked against the path's conditions,
 * written out again here, so that the comparison cannot pass with the
 * path never taken (in either family) or taken where it must not be.
 *
 * tp_to_tailnet's fast path (tp_fast_egress(): the reply of a live
 * untranslated or DNAT flow from the tailnet, found by the reversed tuple
 * or through tp_be_frontends) the same way: random flows the reply may
 * belong to, entries under its own tuple, the backend's frontends, and
 * where it came from (this host, a pod, unknown interfaces, loopback,
 * the tailnet tunnels, the uplink).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "iface.h"
#include "maps.h"
#include "pkttest.h"
#include "tailplane/tuple.h"

#define FP_ITERS     6000
#define FP_BACKEND   "198.18.1.7"
#define FP_BACKEND6  "fd00:198:18::1:7"
#define FPE_VIP2     "198.19.0.11" /* a second frontend of FP_BACKEND */
#define FPE_VIP2_6   "fd00:198:19::b"
#define FP_V6_PCT    33		/* the cases of IPv6 addresses */
#define FP_PARSED_NO 0x7eadbeef /* no parse result has this value */
#define FP_EVENTS    16		/* events one packet may put on the ring */

/* The events one object put on its ring since the last read. */
struct fp_ring {
	struct ring_buffer *rb;
	struct tp_event ev[FP_EVENTS];
	size_t n;
};

struct fp {
	struct th fast, slow;
	struct fp_ring ring_fast, ring_slow;
	__u32 parsed_off; /* offset of tp_scratch.parsed (BTF) */
	__u32 scratch_size;
	int ncpu;
	unsigned int seed; /* rand_r()'s state */
};

static __u32 fp_rand(struct fp *f)
{
	return (__u32)rand_r(&f->seed);
}

static bool fp_pct(struct fp *f, unsigned int pct)
{
	return fp_rand(f) % 100 < pct;
}

/* Offset of tp_scratch's parse result, from the object's BTF. */
static int fp_parsed_offset(struct fp *f)
{
	const struct btf *btf = bpf_object__btf(f->fast.skel->obj);
	const struct btf_member *m;
	const struct btf_type *t;
	int id, i;

	id = btf ? btf__find_by_name_kind(btf, "tp_scratch", BTF_KIND_STRUCT)
		 : -1;
	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, id);
	f->scratch_size = t->size;
	m = btf_members(t);
	for (i = 0; i < btf_vlen(t); i++, m++) {
		if (!strcmp(btf__name_by_offset(btf, m->name_off), "parsed")) {
			f->parsed_off = btf_member_bit_offset(t, i) / 8;
			return 0;
		}
	}
	return -1;
}

static int fp_ring_collect(void *ctx, void *data, size_t len)
{
	struct fp_ring *r = ctx;

	if (r->n < FP_EVENTS) {
		memset(&r->ev[r->n], 0xee, sizeof(r->ev[0]));
		memcpy(&r->ev[r->n], data,
		       len < sizeof(r->ev[0]) ? len : sizeof(r->ev[0]));
	}
	r->n++;
	return 0;
}

static void fp_ring_print(const char *who, const struct fp_ring *r)
{
	const struct tp_event *e;
	size_t i;

	for (i = 0; i < r->n && i < FP_EVENTS; i++) {
		e = &r->ev[i];
		fprintf(stderr,
			"  %s event %zu: ts %llu type %u verdict %u reason %u hook %u zone %u out %u if %u ids %u->%u rule %u svc %u proto %u ports %u->%u nat port %u\n",
			who, i, (unsigned long long)e->ts_ns, e->type,
			e->verdict, e->reason, e->hook, e->zone, e->out_zone,
			e->ifindex, e->src_id, e->dst_id, e->rule_id, e->svc_id,
			e->tuple.proto, ntohs(e->tuple.sport),
			ntohs(e->tuple.dport), ntohs(e->nat_port));
	}
}

/* Empty @r's ring into it (r->n events, at most FP_EVENTS kept). */
static void fp_ring_read(struct fp_ring *r)
{
	r->n = 0;
	assert_true(ring_buffer__consume(r->rb) >= 0);
}

static int fp_setup(void **state)
{
	struct th_knobs slow = { .no_fast_path = true };
	struct fp *f = calloc(1, sizeof(*f));
	cpu_set_t set;

	if (!f)
		return -1;
	*state = f;
	if (th_unavailable())
		return 0;
	/* the scratch read below is this CPU's */
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return -1;
	if (th_open(&f->fast, NULL))
		return -1;
	if (th_open(&f->slow, &slow)) {
		th_close(&f->fast);
		return -1;
	}
	f->ncpu = libbpf_num_possible_cpus();
	f->ring_fast.rb = ring_buffer__new(f->fast.maps.events, fp_ring_collect,
					   &f->ring_fast, NULL);
	f->ring_slow.rb = ring_buffer__new(f->slow.maps.events, fp_ring_collect,
					   &f->ring_slow, NULL);
	if (!f->ring_fast.rb || !f->ring_slow.rb)
		return -1;
	return fp_parsed_offset(f);
}

static int fp_teardown(void **state)
{
	struct fp *f = *state;

	if (f) {
		ring_buffer__free(f->ring_fast.rb);
		ring_buffer__free(f->ring_slow.rb);
	}
	if (f && f->fast.skel)
		th_close(&f->fast);
	if (f && f->slow.skel)
		th_close(&f->slow);
	free(f);
	return 0;
}

/* The scratch's parse result on CPU 0: set to @v, or read. */
static void fp_parsed_set(struct fp *f, int v)
{
	int fd = bpf_map__fd(f->fast.skel->maps.tp_scratch);
	size_t stride = (f->scratch_size + 7) & ~7u;
	char *buf = calloc(f->ncpu, stride);
	__u32 zero = 0;

	assert_non_null(buf);
	assert_int_equal(bpf_map_lookup_elem(fd, &zero, buf), 0);
	memcpy(buf + f->parsed_off, &v, sizeof(v));
	assert_int_equal(bpf_map_update_elem(fd, &zero, buf, BPF_ANY), 0);
	free(buf);
}

static int fp_parsed_get(struct fp *f)
{
	int fd = bpf_map__fd(f->fast.skel->maps.tp_scratch);
	size_t stride = (f->scratch_size + 7) & ~7u;
	char *buf = calloc(f->ncpu, stride);
	__u32 zero = 0;
	int v;

	assert_non_null(buf);
	assert_int_equal(bpf_map_lookup_elem(fd, &zero, buf), 0);
	memcpy(&v, buf + f->parsed_off, sizeof(v));
	free(buf);
	return v;
}

/*
 * A case's addresses, all of one family: the tailnet client, the VIP, a
 * second frontend of the backend, the backend and where it moved.
 */
struct fp_plan {
	bool v6;
	char client[PKT_ADDR_STRLEN];
	char vip[PKT_ADDR_STRLEN];
	char backend[PKT_ADDR_STRLEN];
	const char *vip2, *moved;
};

static void fp_plan_init(struct fp_plan *a, bool v6)
{
	memset(a, 0, sizeof(*a));
	a->v6 = v6;
	snprintf(a->client, sizeof(a->client), "%s", v6 ? CLIENT6 : CLIENT4);
	snprintf(a->vip, sizeof(a->vip), "%s", v6 ? VIP6 : VIP4);
	snprintf(a->backend, sizeof(a->backend), "%s",
		 v6 ? FP_BACKEND6 : FP_BACKEND);
	a->vip2 = v6 ? FPE_VIP2_6 : FPE_VIP2;
	a->moved = v6 ? BE6[1] : BE4[1];
}

/*
 * IPv6 addresses at the edges of the IPv4-mapped (::ffff:0:0/96) and
 * IPv4-compatible (::/96 but :: and ::1) forms, an IPv4 address appended
 * to those ending in a colon: ::ffff:a.b.c.d, ::a.b.c.d and ::2 are of
 * them (the full parse drops them: the keys hold IPv4 so), the unspecified
 * address, ::1, ::1:a.b.c.d, ::1:0:ffff:a.b.c.d and ::fffe:a.b.c.d not.
 */
static const char *const fp_odd6[] = {
	"::ffff:", "::", "::2", "::0", "::1", "::1:", "::1:0:ffff:", "::fffe:",
};

/* @addr (an IPv6 plan's) replaced by one of fp_odd6[] around @v4. */
static void fp_plan_odd(struct fp *f, char *addr, const char *v4)
{
	const char *odd =
		fp_odd6[fp_rand(f) % (sizeof(fp_odd6) / sizeof(fp_odd6[0]))];

	snprintf(addr, PKT_ADDR_STRLEN, "%s%s", odd,
		 odd[strlen(odd) - 1] == ':' ? v4 : "");
}

/*
 * A random plan: IPv6 in FP_V6_PCT of the cases, one address of those an
 * odd one (fp_odd6[]) in some: the client or the other end (the backend
 * when @egress, else the VIP).
 */
static void fp_plan_random(struct fp *f, struct fp_plan *a, bool egress)
{
	fp_plan_init(a, fp_pct(f, FP_V6_PCT));
	if (!a->v6 || !fp_pct(f, 10))
		return;
	if (fp_pct(f, 50))
		fp_plan_odd(f, a->client, CLIENT4);
	else if (egress)
		fp_plan_odd(f, a->backend, FP_BACKEND);
	else
		fp_plan_odd(f, a->vip, VIP4);
}

/* fp_zones[]: loopback described as an Ethernet tailnet interface */
#define FP_IFACE_LO_ZONE 4

/* One scenario: the state both objects get, and the packet. */
struct fp_case {
	__u64 now;
	__u32 rev;
	__u32 static_nat_n;
	bool has_entry;
	bool reversed; /* the entry is under the packet's reversed tuple */
	struct tp_ct_key key; /* the entry's key */
	struct tp_ct_entry e;
	/* fp_zones[]: a tunnel, or loopback (Ethernet) */
	int iface;
	bool clean; /* an entry and a packet the fast path takes, then varied */
	bool clean_flags; /* a clean packet with any TCP flags of the set */
	bool edge; /* a clean case whose packet is mutated as unclean ones */
	struct fp_plan a;
	struct pkt pkt;
};

static void fp_write_state(struct th *h, const struct fp_case *c)
{
	int sn = bpf_map__fd(h->skel->maps.tp_static_nat_n);
	int fds[2] = { h->maps.ct, h->maps.ct_any };
	struct tp_config cfg;
	struct tp_ct_key k;
	__u32 zero = 0;
	struct tp_iface lo = { .flags = TP_IFACE_F_TAILNET, .zone = TH_ZONE2 };
	int i, err;

	th_set_clock(h, c->now);
	/* loopback: an Ethernet tailnet interface of TH_ZONE2, or nothing */
	err = c->iface == FP_IFACE_LO_ZONE ? tp_iface_set(&h->maps, 1, &lo)
					   : tp_iface_del(&h->maps, 1);
	assert_true(!err || err == -ENOENT);
	assert_int_equal(bpf_map_lookup_elem(h->maps.config, &zero, &cfg), 0);
	cfg.policy_rev = c->rev;
	assert_int_equal(bpf_map_update_elem(h->maps.config, &zero, &cfg, 0),
			 0);
	assert_int_equal(bpf_map_update_elem(sn, &zero, &c->static_nat_n, 0),
			 0);
	/* conntrack holds this scenario's entry and nothing else */
	for (i = 0; i < 2; i++)
		while (!bpf_map_get_next_key(fds[i], NULL, &k))
			assert_int_equal(bpf_map_delete_elem(fds[i], &k), 0);
	if (c->has_entry)
		assert_int_equal(bpf_map_update_elem(c->key.proto == IPPROTO_TCP
							     ? h->maps.ct
							     : h->maps.ct_any,
						     &c->key, &c->e, BPF_ANY),
				 0);
}

/*
 * Every counter of tp_stats and the scenarios' services' of tp_svc_stats,
 * summed over the CPUs, into @out (FP_STATS of them).
 */
#define FP_SVCS	 4
#define FP_STATS (TP_STAT_MAX + 2 * FP_SVCS)

static void fp_stats(struct th *h, __u64 *out)
{
	struct tp_stat st;
	__u32 id;

	for (id = 0; id < TP_STAT_MAX; id++)
		out[id] = th_stat(h, id);
	for (id = 0; id < FP_SVCS; id++) {
		assert_int_equal(tp_stat_sum(h->maps.svc_stats, id, &st), 0);
		out[TP_STAT_MAX + 2 * id] = st.packets;
		out[TP_STAT_MAX + 2 * id + 1] = st.bytes;
	}
}

/* Conntrack of @h as (key, entry) pairs sorted by key, into @buf. */
struct fp_ct_pair {
	struct tp_ct_key k;
	struct tp_ct_entry e;
};

static int fp_ct_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tp_ct_key));
}

static size_t fp_ct(struct th *h, struct fp_ct_pair *buf, size_t max)
{
	int fds[2] = { h->maps.ct, h->maps.ct_any };
	struct tp_ct_key *prev;
	size_t n = 0;
	int i;

	for (i = 0; i < 2; i++) {
		prev = NULL;
		while (n < max &&
		       !bpf_map_get_next_key(fds[i], prev, &buf[n].k)) {
			assert_int_equal(bpf_map_lookup_elem(fds[i], &buf[n].k,
							     &buf[n].e),
					 0);
			prev = &buf[n].k;
			n++;
		}
	}
	qsort(buf, n, sizeof(*buf), fp_ct_cmp);
	return n;
}

/* The IPv4 header's edges: options, fragments, protocol, lengths, doff. */
static void fp_mutate_v4(struct fp *f, const struct pkt_spec *s, __u8 *ip)
{
	static const __u8 protos[] = { IPPROTO_ICMP, 47 /* GRE */, 50, 132 };
	__u16 tot;

	if (fp_pct(f, 5))
		ip[6] |= 0x20; /* MF */
	if (fp_pct(f, 5))
		ip[7] |= 1 + fp_rand(f) % 3; /* a fragment offset */
	if (fp_pct(f, 3)) /* another protocol: ICMP, GRE, ESP, SCTP, any */
		ip[9] = fp_pct(f, 80) ? protos[fp_rand(f) % sizeof(protos)]
				      : (__u8)fp_rand(f);
	if (fp_pct(f, 8)) {
		tot = (ip[2] << 8 | ip[3]) + (int)(fp_rand(f) % 9) - 4;
		if (fp_pct(f, 20))
			tot = fp_rand(f) % 48;
		ip[2] = tot >> 8;
		ip[3] = tot & 0xff;
	}
	if (s->proto == IPPROTO_TCP && fp_pct(f, 4))
		ip[(ip[0] & 0xf) * 4 + 12] = (fp_rand(f) % 5) << 4; /* doff */
	if (!s->l2 && fp_pct(f, 2))
		ip[0] = 0x60 | (ip[0] & 0xf); /* version 6 on a tunnel */
}

/*
 * The IPv6 header's edges: the version, the next header (an extension
 * header's, ICMPv6's, the other protocol's, any), the payload length (a
 * few off, short of the L4 header, zero, beyond the packet), a short TCP
 * data offset.
 */
static void fp_mutate_v6(struct fp *f, const struct pkt_spec *s, __u8 *ip)
{
	static const __u8 nexthdrs[] = {
		0, 43, 44, 60, 51, 50, 59, IPPROTO_ICMPV6, IPPROTO_ICMP, 132,
	};
	__u16 plen;

	if (fp_pct(f, s->l2 ? 10 : 4)) /* any version but 6 */
		ip[0] = (ip[0] & 0xf) | ((7 + fp_rand(f) % 15) % 16) << 4;
	if (fp_pct(f, 6))
		ip[6] = fp_pct(f, 70) ? nexthdrs[fp_rand(f) % sizeof(nexthdrs)]
			: fp_pct(f, 50) ? IPPROTO_TCP + IPPROTO_UDP - ip[6]
					: (__u8)fp_rand(f);
	if (fp_pct(f, 10)) {
		plen = (ip[4] << 8 | ip[5]) + (int)(fp_rand(f) % 9) - 4;
		if (fp_pct(f, 20))
			plen = fp_rand(f) % 28;
		if (fp_pct(f, 10))
			plen = 0; /* a jumbogram's */
		ip[4] = plen >> 8;
		ip[5] = plen & 0xff;
	}
	if (s->proto == IPPROTO_TCP && !s->n_exthdr && fp_pct(f, 4))
		ip[40 + 12] = (fp_rand(f) % 5) << 4; /* doff */
}

/*
 * The packet of spec @s (a flow packet of @c's family), then mutated
 * unless @c is clean: a packet of the other family from @other_saddr to
 * @other_daddr instead in some, the IP header's edges, extension headers,
 * another EtherType, a cut.
 */
static void fp_packet_of(struct fp *f, struct fp_case *c, struct pkt_spec s,
			 const char *other_saddr, const char *other_daddr)
{
	static const __u8 flag_set[] = {
		PKT_TCP_ACK,
		PKT_TCP_ACK | PKT_TCP_PSH,
		PKT_TCP_ACK | PKT_TCP_FIN,
		PKT_TCP_RST,
		PKT_TCP_RST | PKT_TCP_ACK,
		PKT_TCP_SYN,
		PKT_TCP_SYN | PKT_TCP_ACK,
		0,
	};
	static const __u8 exthdrs[] = { 0, 43, 44, 60 };
	static const __u8 nops[4] = { 1, 1, 1, 1 };
	__u8 payload[64] = { 0x5a };
	bool l2 = s.l2;
	size_t cut;
	__u8 *ip;

	s.payload = payload;
	s.payload_len = fp_rand(f) % 40;
	s.df = fp_pct(f, 50);
	s.tcp_flags = fp_pct(f, 90) ? flag_set[fp_rand(f) % sizeof(flag_set)]
				    : (__u8)fp_rand(f);
	if (c->clean && !c->edge) {
		/* replies: any of the set, opening and closing flags too */
		if (!c->clean_flags)
			s.tcp_flags =
				PKT_TCP_ACK | (fp_pct(f, 20) ? PKT_TCP_FIN : 0);
		assert_int_equal(pkt_build(&s, &c->pkt), 0);
		return;
	}
	if (fp_pct(f, 4)) { /* no entry has its addresses */
		s.family = s.family == AF_INET ? AF_INET6 : AF_INET;
		s.saddr = other_saddr;
		s.daddr = other_daddr;
	}
	if (s.family == AF_INET && fp_pct(f, 8)) {
		s.ip_options = nops;
		s.ip_options_len = sizeof(nops);
	}
	if (s.family == AF_INET6 && fp_pct(f, 6)) {
		s.exthdr[s.n_exthdr++] = exthdrs[fp_rand(f) % sizeof(exthdrs)];
		if (fp_pct(f, 30))
			s.exthdr[s.n_exthdr++] = 60;
	}
	assert_int_equal(pkt_build(&s, &c->pkt), 0);
	ip = c->pkt.data + (l2 ? PKT_ETH_HLEN : 0);
	if (l2 && fp_pct(f, 8)) {
		/* another EtherType: the other family's, 802.1Q, 802.1ad, any */
		static const __u16 types[] = { 0x8100, 0x88a8, 0x08dd };
		__u16 t = types[fp_rand(f) % 3];

		if (fp_pct(f, 50))
			t = s.family == AF_INET ? 0x86dd : 0x0800;
		/* test_run takes no IPv6 frame shorter than its IPv6 header */
		if (t == 0x86dd && c->pkt.len < PKT_ETH_HLEN + 40)
			t = 0x08dd;

		ip[-2] = t >> 8;
		ip[-1] = t & 0xff;
	}
	if (s.family == AF_INET)
		fp_mutate_v4(f, &s, ip);
	else
		fp_mutate_v6(f, &s, ip);
	/* test_run takes no Ethernet frame shorter than its IP header */
	cut = l2 ? PKT_ETH_HLEN + 40 : 20;
	if (fp_pct(f, 4) && c->pkt.len > cut)
		c->pkt.len = cut + fp_rand(f) % (c->pkt.len - cut);
}

/*
 * The tuple a parse that checked nothing would read from @pkt (zone 0):
 * the family by the version nibble, the ports right after the IPv4 header
 * (by its IHL) or the fixed IPv6 header, the protocol or next header byte
 * as the protocol.  False when the packet is too short for it.
 */
static bool fp_raw_tuple(const struct pkt *pkt, struct tp_ct_key *t)
{
	size_t off = pkt->l2 ? PKT_ETH_HLEN : 0, l4;
	const __u8 *ip = pkt->data + off;

	memset(t, 0, sizeof(*t));
	if (pkt->len < off + 20)
		return false;
	if (ip[0] >> 4 == 6) {
		l4 = off + 40;
		if (pkt->len < l4 + 4)
			return false;
		memcpy(t->saddr.b, ip + 8, 16);
		memcpy(t->daddr.b, ip + 24, 16);
		t->proto = ip[6];
	} else {
		l4 = off + (ip[0] & 0xf) * 4;
		if (pkt->len < l4 + 4)
			return false;
		t->saddr.w[2] = t->daddr.w[2] = htonl(0xffff);
		memcpy(&t->saddr.w[3], ip + 12, 4);
		memcpy(&t->daddr.w[3], ip + 16, 4);
		t->proto = ip[9];
	}
	memcpy(&t->sport, pkt->data + l4, 2);
	memcpy(&t->dport, pkt->data + l4 + 2, 2);
	return true;
}

/*
 * Key @k (an entry's, or a reply's tuple) made the tuple a parse checking
 * nothing reads from @c's mutated packet, in half the unclean and edge
 * cases whose packet is of @c's family: where the fast path checked less
 * than it must, it would find an entry and be seen taking the packet.
 */
static void fp_follow(struct fp *f, const struct fp_case *c,
		      struct tp_ct_key *k)
{
	struct tp_ct_key t;
	size_t off = c->pkt.l2 ? PKT_ETH_HLEN : 0;

	if ((c->clean && !c->edge) || !fp_pct(f, 50) ||
	    !fp_raw_tuple(&c->pkt, &t) ||
	    (c->pkt.data[off] >> 4 == 6) != c->a.v6)
		return;
	t.zone = k->zone;
	*k = t;
}

/* The packet: a flow packet of a client to the VIP, then mutated. */
static void fp_packet(struct fp *f, struct fp_case *c, __u8 proto, bool l2)
{
	struct pkt_spec s = pt_flow(c->a.client, 40000, c->a.vip, 80, proto, 0);

	s.l2 = l2;
	fp_packet_of(f, c, s, c->a.v6 ? CLIENT4 : CLIENT6,
		     c->a.v6 ? VIP4 : VIP6);
}

static const __u8 fp_verdicts[] = { TP_VERDICT_ALLOW, TP_VERDICT_ALLOW,
				    TP_VERDICT_AUDIT, TP_VERDICT_DENY };

/*
 * A flow entry of protocol @proto with @flags and every other field at
 * random (near the edges of expiry, revision, verdict, out zone), its
 * backend @c's port 8080 or 80, at @c's clock and revision.
 */
static void fp_entry_fields(struct fp *f, const struct fp_case *c, __u8 proto,
			    __u8 flags, struct tp_ct_entry *e)
{
	__u32 sec = TP_CT_SEC(c->now);

	memset(e, 0, sizeof(*e));
	e->nat_addr = pt_addr(c->a.backend);
	e->nat_port = htons(fp_pct(f, 80) ? 8080 : 80);
	e->flags = flags;
	e->state = proto == IPPROTO_TCP ? 1 + fp_rand(f) % 6
					: TP_CT_OPEN + fp_rand(f) % 2;
	e->svc_id = 1 + fp_rand(f) % 3;
	e->expires_s = sec + (int)(fp_rand(f) % 5) - 1;
	if (fp_pct(f, 70))
		e->expires_s = sec + 100;
	e->created_s = sec - 10;
	e->packets[0] = fp_rand(f) % 10;
	e->bytes[0] = fp_rand(f) % 1000;
	e->packets[1] = fp_rand(f) % 10;
	e->bytes[1] = fp_pct(f, 80) ? fp_rand(f) % 1000 : 0;
	e->tcp_flags[0] = (__u8)fp_rand(f);
	e->tcp_flags[1] = (__u8)fp_rand(f);
	if (fp_pct(f, 60))
		e->tcp_flags[0] = e->tcp_flags[1] = PKT_TCP_ACK;
	e->verdict = fp_verdicts[fp_rand(f) % sizeof(fp_verdicts)];
	e->rk_check_s = fp_pct(f, 70) ? (__u8)sec : (__u8)(sec - 1);
	e->policy_rev = fp_pct(f, 85) ? c->rev : c->rev - 1;
	e->out_zone = fp_pct(f, 70) ? 0 : fp_pct(f, 50) ? TH_ZONE2 : TH_ZONE;
}

/* A random flag set: one of @set (@n of them) mostly, else any byte. */
static __u8 fp_flags(struct fp *f, const __u8 *set, size_t n)
{
	return fp_pct(f, 90) ? set[fp_rand(f) % n] : (__u8)fp_rand(f);
}

/* The entry: the packet's flow, or another, with every field at random. */
static void fp_entry(struct fp *f, struct fp_case *c, __u8 proto, __u16 zone)
{
	static const __u8 flag_set[] = {
		0,
		TP_CT_F_DNAT,
		TP_CT_F_DNAT | TP_CT_F_RINDEX,
		TP_CT_F_DNAT,
		TP_CT_F_DNAT | TP_CT_F_RINDEX,
		TP_CT_F_EGRESS,
		TP_CT_F_REPLY_KEY,
		TP_CT_F_DNAT | TP_CT_F_SNAT,
		TP_CT_F_SNAT | TP_CT_F_MASQ,
		TP_CT_F_DNAT | TP_CT_F_SNAT | TP_CT_F_MASQ,
	};
	__u32 sec = TP_CT_SEC(c->now);
	struct tp_ct_entry *e = &c->e;

	c->has_entry = fp_pct(f, 92);
	c->key = pt_ct_key(c->a.client, 40000, c->a.vip, 80, proto);
	c->key.zone = fp_pct(f, 90) ? zone : TH_ZONE2 + TH_ZONE - zone;
	fp_entry_fields(f, c, proto, fp_flags(f, flag_set, sizeof(flag_set)),
			e);
	if (!c->clean && fp_pct(f, 10)) {
		/*
		 * No entry under the packet's tuple (the fast path hands the
		 * packet on as TP_FAST_NO_ENTRY), a flow whose reply tuple it
		 * is: an untranslated flow of the other direction
		 */
		c->reversed = true;
		c->key = pt_ct_key(c->a.vip, 80, c->a.client, 40000, proto);
		c->key.zone = zone;
		e->nat_addr = pt_addr(c->a.client);
		e->nat_port = htons(40000);
	}
	if (!c->clean)
		return;
	c->has_entry = true;
	c->key.zone = zone;
	e->flags = flag_set[fp_rand(f) % 5]; /* none, DNAT, DNAT and RINDEX */
	e->verdict = fp_verdicts[fp_rand(f) % 3];
	e->policy_rev = c->rev;
	e->expires_s = sec + 100;
	e->rk_check_s = (__u8)sec;
	if (proto == IPPROTO_TCP)
		e->state = TP_CT_ESTABLISHED;
}

/*
 * An IPv4 datagram the fast paths take at @off of @pkt: version 4 without
 * options, no fragment, TCP or UDP, the L4 header (20 bytes read, whatever
 * the protocol) in the packet and in the datagram, a TCP data offset of
 * at least 5.
 */
static bool fp_fast_parse_v4_ok(const struct pkt *pkt, size_t off)
{
	const __u8 *ip = pkt->data + off;
	__u32 tot, l4;
	__u8 proto;

	if (pkt->len < off + 40 || ip[0] != 0x45)
		return false;
	if ((ip[6] & 0x3f) || ip[7]) /* MF or an offset */
		return false;
	proto = ip[9];
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return false;
	l4 = proto == IPPROTO_TCP ? 20 : 8;
	tot = ip[2] << 8 | ip[3];
	if (tot < 20 + l4 || off + tot > pkt->len)
		return false;
	return proto != IPPROTO_TCP || (ip[32] >> 4) >= 5;
}

/*
 * Is the IPv6 address @a of the IPv4-mapped (::ffff:0:0/96) or the
 * IPv4-compatible (::/96 but :: and ::1) form?
 */
static bool fp_v4_embedded(const __u8 *a)
{
	static const __u8 mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const __u8 zero[16], one[16] = { [15] = 1 };

	if (!memcmp(a, mapped, sizeof(mapped)))
		return true;
	return !memcmp(a, zero, 12) && memcmp(a, zero, 16) &&
	       memcmp(a, one, 16);
}

/*
 * An IPv6 datagram the fast paths take at @off of @pkt: version 6, TCP or
 * UDP as the next header (no extension header), a payload length that
 * holds the L4 header (so not 0) and ends within the packet, 20 bytes of
 * L4 header in the packet whatever the protocol, a TCP data offset of at
 * least 5, neither address IPv4-mapped nor IPv4-compatible.
 */
static bool fp_fast_parse_v6_ok(const struct pkt *pkt, size_t off)
{
	const __u8 *ip = pkt->data + off;
	__u32 plen, l4;
	__u8 nh;

	if (pkt->len < off + 40 + 20 || ip[0] >> 4 != 6)
		return false;
	nh = ip[6];
	if (nh != IPPROTO_TCP && nh != IPPROTO_UDP)
		return false;
	l4 = nh == IPPROTO_TCP ? 20 : 8;
	plen = ip[4] << 8 | ip[5];
	if (plen < l4 || off + 40 + plen > pkt->len)
		return false;
	if (nh == IPPROTO_TCP && (ip[40 + 12] >> 4) < 5)
		return false;
	return !fp_v4_embedded(ip + 8) && !fp_v4_embedded(ip + 24);
}

/*
 * Does tp_fast_parse() take @pkt?  Behind an Ethernet header (pkt->l2)
 * its EtherType says the family, IPv4 or IPv6, any other none; on a
 * tunnel the version nibble, 6 or else IPv4.  Then the family's
 * conditions above.  *@t: the tuple it reads (zone 0), when it does.
 */
static bool fp_fast_parse_ok(const struct pkt *pkt, struct tp_ct_key *t)
{
	size_t off = pkt->l2 ? PKT_ETH_HLEN : 0;
	const __u8 *ip = pkt->data + off;
	__u16 type;
	bool v6;

	if (pkt->l2) {
		type = ip[-2] << 8 | ip[-1];
		if (type != 0x0800 && type != 0x86dd)
			return false;
		v6 = type == 0x86dd;
	} else {
		v6 = ip[0] >> 4 == 6;
	}
	if (v6 ? !fp_fast_parse_v6_ok(pkt, off)
	       : !fp_fast_parse_v4_ok(pkt, off))
		return false;
	return fp_raw_tuple(pkt, t);
}

/* The TCP flags of a packet fp_fast_parse_ok() takes. */
static __u8 fp_tcp_flags(const struct pkt *pkt)
{
	const __u8 *ip = pkt->data + (pkt->l2 ? PKT_ETH_HLEN : 0);

	return ip[(ip[0] >> 4 == 6 ? 40 : 20) + 13];
}

/* The fast path's conditions, as tp_fast_ingress() states them. */
static bool fp_expect_fast(const struct fp_case *c, __u16 zone)
{
	const struct tp_ct_entry *e = &c->e;
	__u32 sec = TP_CT_SEC(c->now);
	struct tp_ct_key t;
	bool keyed;

	if (c->static_nat_n || !fp_fast_parse_ok(&c->pkt, &t))
		return false;
	/* the entry under the packet's tuple in the interface's zone */
	t.zone = zone;
	if (!c->has_entry || memcmp(&t, &c->key, sizeof(t)))
		return false;
	if (e->flags &
	    (TP_CT_F_REPLY_KEY | TP_CT_F_EGRESS | TP_CT_F_SNAT | TP_CT_F_MASQ))
		return false;
	if (sec >= e->expires_s || e->policy_rev != c->rev ||
	    (e->verdict != TP_VERDICT_ALLOW && e->verdict != TP_VERDICT_AUDIT))
		return false;
	if (t.proto == IPPROTO_TCP &&
	    (e->state == TP_CT_CLOSE || e->state == TP_CT_RESET) &&
	    (fp_tcp_flags(&c->pkt) & (PKT_TCP_SYN | PKT_TCP_ACK)) ==
		    PKT_TCP_SYN)
		return false;
	/* a flow with reply keys has them checked once a second */
	keyed = (e->flags & (TP_CT_F_DNAT | TP_CT_F_RINDEX)) ||
		tp_ct_cross_key(&c->key, e);
	return !keyed || e->rk_check_s == (__u8)sec;
}

/* Entries of @h's fragment records (tp_frags). */
static size_t fp_frags(struct th *h)
{
	struct tp_frag_key k, *prev = NULL;
	size_t n = 0;

	while (!bpf_map_get_next_key(h->maps.frags, prev, &k)) {
		prev = &k;
		n++;
	}
	return n;
}

/*
 * A packet before the case's, of the addresses of @a, through both
 * objects alike: it leaves the scratch as its kind fills it (an ICMP
 * error's quote, an echo's type, a fragment's id, a parse of the other
 * program), which the fast path does not zero, and fragment records the
 * case's fragments may find.
 */
static void fp_prev_packet(struct fp *f, int i, __u32 seed, __u64 now,
			   const struct fp_plan *a)
{
	__u8 out_fast[PKT_MAX], out_slow[PKT_MAX];
	size_t len_fast, len_slow;
	enum th_hook hook = TH_FROM_TAILNET;
	int v_fast, v_slow, kind = fp_rand(f) % 6;
	struct pkt pkt, quote;
	struct pkt_spec s;

	switch (kind) {
	case 0: /* an ICMP error about the flow's reply: the quote is parsed */
		s = pt_flow(a->vip, 80, a->client, 40000, IPPROTO_TCP,
			    PKT_TCP_ACK);
		pt_build(&s, &quote);
		pt_icmp_err_quoting(&pkt, a->client, a->vip, &quote, 0);
		break;
	case 1: /* an echo request */
		s = pt_echo(a->client, a->vip, 1 + fp_rand(f) % 3, 1);
		pt_build(&s, &pkt);
		break;
	case 2: /* a first fragment of the flow: a record in tp_frags */
		s = pt_flow(a->client, 40000, a->vip, 80,
			    fp_pct(f, 50) ? IPPROTO_TCP : IPPROTO_UDP,
			    PKT_TCP_ACK);
		s.ip_id = fp_rand(f) % 4;
		pt_build(&s, &quote);
		assert_int_equal(pkt_fragment(&quote, 0, 16, 1, s.ip_id, &pkt),
				 0);
		break;
	case 3: /* the flow's reply leaving to the tailnet */
		s = pt_flow(a->backend, 8080, a->client, 40000, IPPROTO_TCP,
			    PKT_TCP_ACK);
		pt_build(&s, &pkt);
		hook = TH_TO_TAILNET;
		break;
	default:
		return; /* the case's packet follows the one before */
	}
	th_set_clock(&f->fast, now); /* event stamps alike */
	th_set_clock(&f->slow, now);
	assert_int_equal(th_run(&f->fast, hook, f->fast.l3_ifindex, pkt.data,
				pkt.len, out_fast, &len_fast, &v_fast),
			 0);
	assert_int_equal(th_run(&f->slow, hook, f->slow.l3_ifindex, pkt.data,
				pkt.len, out_slow, &len_slow, &v_slow),
			 0);
	if (v_fast != v_slow || len_fast != len_slow ||
	    memcmp(out_fast, out_slow, len_fast))
		fail_msg(
			"iteration %u (seed %u): the packet before (kind %d): verdict %d / %d (without)",
			i, seed, kind, v_fast, v_slow);
}

#define FP_CT_MAX 64

/*
 * The zone of each interface a case may come in on, and its ifindex: the
 * two tunnels, loopback (Ethernet, not configured: zone 0) as test_run's
 * default (ifindex 0) and by its index, and loopback described as an
 * Ethernet tailnet interface of TH_ZONE2 (FP_IFACE_LO_ZONE).
 */
static const __u16 fp_zones[] = { TH_ZONE, TH_ZONE2, 0, 0, TH_ZONE2 };

/* An interface of fp_zones[]: mostly the first tunnel, a third Ethernet. */
static int fp_iface_random(struct fp *f)
{
	unsigned int r = fp_rand(f) % 20;

	return r < 13	? 0
	       : r < 15 ? 1
	       : r < 16 ? 2
	       : r < 17 ? 3
			: FP_IFACE_LO_ZONE;
}

static int fp_ifindex(const struct th *h, int iface)
{
	static const int lo[] = { 0, 1, 1 };

	return iface == 0   ? h->l3_ifindex
	       : iface == 1 ? h->l3_ifindex2
			    : lo[iface - 2];
}

/*
 * Conntrack, counters, the events since the last call and the fragment
 * records of both objects, the same or the test fails (at step @i of
 * @seed's run).  Without @ids, the service and backend ids are left out:
 * each object's services have ids of their own (random).  Returns the
 * events read.
 */
static unsigned int fp_compare(struct fp *f, unsigned int i, unsigned int seed,
			       bool ids)
{
	static struct fp_ct_pair ct_fast[FP_CT_MAX], ct_slow[FP_CT_MAX];
	static __u64 st_fast[FP_STATS], st_slow[FP_STATS];
	size_t n_fast, n_slow, j;

	n_fast = fp_ct(&f->fast, ct_fast, FP_CT_MAX);
	n_slow = fp_ct(&f->slow, ct_slow, FP_CT_MAX);
	for (j = 0; !ids && j < n_fast && j < n_slow; j++) {
		ct_fast[j].e.svc_id = ct_slow[j].e.svc_id = 0;
		ct_fast[j].e.backend_id = ct_slow[j].e.backend_id = 0;
	}
	if (n_fast != n_slow ||
	    memcmp(ct_fast, ct_slow, n_fast * sizeof(ct_fast[0])))
		fail_msg(
			"iteration %u (seed %u): conntrack differs (%zu / %zu entries)",
			i, seed, n_fast, n_slow);
	fp_stats(&f->fast, st_fast);
	fp_stats(&f->slow, st_slow);
	if (memcmp(st_fast, st_slow, sizeof(st_fast)))
		fail_msg(
			"iteration %u (seed %u): tp_stats or tp_svc_stats differ",
			i, seed);
	fp_ring_read(&f->ring_fast);
	fp_ring_read(&f->ring_slow);
	for (j = 0;
	     !ids && j < f->ring_fast.n && j < f->ring_slow.n && j < FP_EVENTS;
	     j++)
		f->ring_fast.ev[j].svc_id = f->ring_slow.ev[j].svc_id = 0;
	if (f->ring_fast.n != f->ring_slow.n || f->ring_fast.n > FP_EVENTS ||
	    memcmp(f->ring_fast.ev, f->ring_slow.ev,
		   f->ring_fast.n * sizeof(f->ring_fast.ev[0]))) {
		fp_ring_print("fast", &f->ring_fast);
		fp_ring_print("full", &f->ring_slow);
		fail_msg("iteration %u (seed %u): events differ (%zu / %zu)", i,
			 seed, f->ring_fast.n, f->ring_slow.n);
	}
	if (fp_frags(&f->fast) != fp_frags(&f->slow))
		fail_msg("iteration %u (seed %u): fragment records differ", i,
			 seed);
	return f->ring_fast.n;
}

/*
 * The case's packet @pkt through @hook of both objects (on @ifindex's
 * interface of each, arrived on @in_fast / @in_slow), the scratch's parse
 * result marked before: verdict and bytes the same, and the fast path
 * (the mark left) taken exactly when @want, or the test fails naming
 * step @i of @seed's run and @what.  Returns whether it was taken.
 */
static bool fp_run_case(struct fp *f, enum th_hook hook, int iface, int in_fast,
			int in_slow, const struct pkt *pkt, bool want,
			unsigned int i, unsigned int seed, const char *what)
{
	__u8 out_fast[PKT_MAX], out_slow[PKT_MAX];
	size_t len_fast, len_slow;
	int v_fast, v_slow;
	bool fast;

	fp_parsed_set(f, FP_PARSED_NO);
	assert_int_equal(th_run_from(&f->fast, hook,
				     fp_ifindex(&f->fast, iface), in_fast,
				     pkt->data, pkt->len, out_fast, &len_fast,
				     &v_fast),
			 0);
	assert_int_equal(th_run_from(&f->slow, hook,
				     fp_ifindex(&f->slow, iface), in_slow,
				     pkt->data, pkt->len, out_slow, &len_slow,
				     &v_slow),
			 0);
	fast = fp_parsed_get(f) == FP_PARSED_NO;
	if (fast != want || v_fast != v_slow || len_fast != len_slow ||
	    memcmp(out_fast, out_slow, len_fast))
		fail_msg(
			"iteration %u (seed %u): %s fast path %s, expected %s; verdict %d / %d (without), %zu / %zu bytes%s",
			i, seed, what, fast ? "taken" : "not taken",
			want ? "taken" : "not taken", v_fast, v_slow, len_fast,
			len_slow,
			len_fast == len_slow &&
					memcmp(out_fast, out_slow, len_fast)
				? ", the bytes differ"
				: "");
	return fast;
}

/* A run's cases and the fast path's packets by family, clean ones apart. */
struct fp_count {
	unsigned int cases[2], taken[2], clean[2], clean_taken[2];
};

static void fp_count_add(struct fp_count *n, const struct fp_case *c, bool fast)
{
	int v6 = c->a.v6;

	n->cases[v6]++;
	n->taken[v6] += fast;
	if (c->clean && !c->edge) {
		n->clean[v6]++;
		n->clean_taken[v6] += fast;
	}
}

/*
 * Print @n, and check each family's fast path taken on at least a fifth
 * of its cases, and on a share of its clean cases of at least 2/5 and
 * 4/5 of the other family's: neither family's comparison is vacuous, and
 * an IPv6 packet that should take the path does as an IPv4 one does.
 */
static void fp_count_check(const struct fp_count *n)
{
	int v6;

	printf("  by family: IPv4 %u of %u cases taken (clean %u of %u), IPv6 %u of %u (clean %u of %u)\n",
	       n->taken[0], n->cases[0], n->clean_taken[0], n->clean[0],
	       n->taken[1], n->cases[1], n->clean_taken[1], n->clean[1]);
	for (v6 = 0; v6 < 2; v6++) {
		if (n->taken[v6] <= n->cases[v6] / 5)
			fail_msg(
				"IPv%d: the fast path took a fifth of its cases or fewer",
				v6 ? 6 : 4);
		if (n->clean_taken[v6] * 5 <= n->clean[v6] * 2)
			fail_msg(
				"IPv%d: the fast path took 2/5 of its clean cases or fewer",
				v6 ? 6 : 4);
		if ((__u64)n->clean_taken[v6] * n->clean[!v6] * 5 <=
		    (__u64)n->clean_taken[!v6] * n->clean[v6] * 4)
			fail_msg(
				"IPv%d: the fast path took its clean cases at 4/5 of the other family's share or less",
				v6 ? 6 : 4);
	}
}

static void test_fast_path_differential(void **state)
{
	struct fp *f = *state;
	unsigned int taken = 0, full = 0, events = 0, taken_l2 = 0, i;
	char *seed_env = getenv("TP_FUZZ_SEED");
	struct fp_count n = {};
	unsigned int seed;

	REQUIRE_BPF();
	seed = seed_env ? (unsigned int)strtoul(seed_env, NULL, 0)
			: (unsigned int)time(NULL);
	f->seed = seed;
	printf("seed=%u (replay: TP_FUZZ_SEED=%u)\n", seed, seed);
	for (i = 0; i < FP_ITERS; i++) {
		__u8 proto = fp_pct(f, 70) ? IPPROTO_TCP : IPPROTO_UDP;
		struct fp_case c = {};
		bool fast;
		int zone;

		c.now = (1000ull + i * 7 + fp_rand(f) % 3) * 1000000000ull;
		c.rev = 5 + fp_rand(f) % 3;
		c.static_nat_n = fp_pct(f, 4);
		c.iface = fp_iface_random(f);
		c.clean = fp_pct(f, 36);
		c.edge = c.clean && fp_pct(f, 25);
		fp_plan_random(f, &c.a, false);
		zone = fp_zones[c.iface];
		fp_entry(f, &c, proto, zone);
		fp_packet(f, &c, proto, c.iface >= 2);
		if (!c.reversed)
			fp_follow(f, &c, &c.key);

		fp_prev_packet(f, i, seed, c.now, &c.a);
		fp_write_state(&f->fast, &c);
		fp_write_state(&f->slow, &c);
		fast = fp_run_case(f, TH_FROM_TAILNET, c.iface, 0, 0, &c.pkt,
				   fp_expect_fast(&c, zone), i, seed,
				   "ingress");
		events += fp_compare(f, i, seed, true);
		fp_count_add(&n, &c, fast);
		taken += fast;
		taken_l2 += fast && c.iface == FP_IFACE_LO_ZONE;
		full += !fast;
	}
	printf("fast path: %u of %u packets (%u on a described Ethernet interface), full path %u; %u events\n",
	       taken, FP_ITERS, taken_l2, full, events);
	fp_count_check(&n);
	/* both paths well exercised: neither comparison is vacuous */
	assert_true(taken > FP_ITERS / 5);
	assert_true(full > FP_ITERS / 5);
	/* the Ethernet fast path in a zone, not only zone 0's */
	assert_true(taken_l2 > FP_ITERS / 100);
}

/* One packet through both objects: verdict and bytes the same. */
static void fp_run_both(struct fp *f, enum th_hook hook, int ifindex,
			const struct pkt *pkt, unsigned int i,
			unsigned int seed)
{
	__u8 out_fast[PKT_MAX], out_slow[PKT_MAX];
	size_t len_fast, len_slow;
	int v_fast, v_slow;

	assert_int_equal(th_run(&f->fast, hook, ifindex, pkt->data, pkt->len,
				out_fast, &len_fast, &v_fast),
			 0);
	assert_int_equal(th_run(&f->slow, hook, ifindex, pkt->data, pkt->len,
				out_slow, &len_slow, &v_slow),
			 0);
	if (v_fast != v_slow || len_fast != len_slow ||
	    memcmp(out_fast, out_slow, len_fast))
		fail_msg(
			"step %u (seed %u): hook %d: verdict %d / %d (without), %zu / %zu bytes",
			i, seed, hook, v_fast, v_slow, len_fast, len_slow);
}

/* The sequences' services' counters, each object's by its own id. */
static void fp_svc_stats_compare(struct fp *f, unsigned int i,
				 unsigned int seed)
{
	struct tp_stat st_fast, st_slow;
	struct tp_svc_key k;
	struct tp_svc v_fast, v_slow;
	int j;

	for (j = 0; j < 4; j++) {
		k = pt_svc_key(j < 2 ? VIP4 : VIP6, 80,
			       j % 2 ? IPPROTO_UDP : IPPROTO_TCP);
		assert_int_equal(
			bpf_map_lookup_elem(f->fast.maps.services, &k, &v_fast),
			0);
		assert_int_equal(
			bpf_map_lookup_elem(f->slow.maps.services, &k, &v_slow),
			0);
		assert_int_equal(tp_stat_sum(f->fast.maps.svc_stats, v_fast.id,
					     &st_fast),
				 0);
		assert_int_equal(tp_stat_sum(f->slow.maps.svc_stats, v_slow.id,
					     &st_slow),
				 0);
		if (st_fast.packets != st_slow.packets ||
		    st_fast.bytes != st_slow.bytes)
			fail_msg(
				"step %u (seed %u): service %d's counters differ",
				i, seed, j);
	}
}

/* Delete a random reply-key entry of both objects: the LRU evicted it. */
static void fp_evict_reply_key(struct fp *f)
{
	int fds_fast[2] = { f->fast.maps.ct, f->fast.maps.ct_any };
	int fds_slow[2] = { f->slow.maps.ct, f->slow.maps.ct_any };
	unsigned int skip = fp_rand(f) % 4, t = fp_rand(f) % 2;
	struct tp_ct_key k, *prev = NULL;
	struct tp_ct_entry e;

	while (!bpf_map_get_next_key(fds_fast[t], prev, &k)) {
		prev = &k;
		if (bpf_map_lookup_elem(fds_fast[t], &k, &e) ||
		    !(e.flags & TP_CT_F_REPLY_KEY) || skip--)
			continue;
		assert_int_equal(bpf_map_delete_elem(fds_fast[t], &k), 0);
		assert_int_equal(bpf_map_delete_elem(fds_slow[t], &k), 0);
		return;
	}
}

/*
 * Real flows, not written entries: a TCP and a UDP service with two
 * backends and untranslated flows to a peer, of each family, opened,
 * used, closed, reset and reopened by random packets both ways (the
 * client's mostly with a UDP header whole in 20 bytes), with the clock
 * moving (a second, or past a timeout), the policy revision moving and
 * reply keys evicted, through both objects step by step.
 */
static void test_fast_path_flow_sequences(void **state)
{
	static const __u8 flags[] = {
		PKT_TCP_SYN,
		PKT_TCP_SYN | PKT_TCP_ACK,
		PKT_TCP_ACK,
		PKT_TCP_ACK,
		PKT_TCP_ACK | PKT_TCP_PSH,
		PKT_TCP_ACK | PKT_TCP_FIN,
		PKT_TCP_RST,
		PKT_TCP_RST | PKT_TCP_ACK,
		PKT_TCP_SYN | PKT_TCP_FIN,
		0,
	};
	static const char *const dsts[2][3] = {
		{ VIP4, VIP4, "100.64.0.9" },
		{ VIP6, VIP6, "fd7a:115c:a1e0::9" },
	};
	struct fp *f = *state;
	char *seed_env = getenv("TP_FUZZ_SEED");
	unsigned int seed, i, events = 0, fast[2] = { 0 }, steps[2] = { 0 };
	__u64 now = 5000ull * 1000000000ull;
	struct fp_case clear = {};
	__u32 zero = 0;

	REQUIRE_BPF();
	seed = seed_env ? (unsigned int)strtoul(seed_env, NULL, 0)
			: (unsigned int)time(NULL);
	f->seed = seed;
	printf("seed=%u (replay: TP_FUZZ_SEED=%u)\n", seed, seed);
	clear.now = now;
	clear.rev = 9;
	fp_write_state(&f->fast, &clear); /* conntrack empty, no static NAT */
	fp_write_state(&f->slow, &clear);
	for (i = 0; i < 4; i++) {
		const char *vip = i < 2 ? VIP4 : VIP6;
		const char **be = i < 2 ? BE4 : BE6;
		__u8 proto = i % 2 ? IPPROTO_UDP : IPPROTO_TCP;

		pt_service(&f->fast, vip, 80, proto, be, 2, 8080, NULL, NULL, 0,
			   0);
		pt_service(&f->slow, vip, 80, proto, be, 2, 8080, NULL, NULL, 0,
			   0);
	}
	for (i = 0; i < FP_ITERS; i++) {
		__u8 proto = fp_pct(f, 70) ? IPPROTO_TCP : IPPROTO_UDP;
		__u16 cport = 41000 + fp_rand(f) % 3;
		int v6 = fp_pct(f, FP_V6_PCT);
		const char *dst = dsts[v6][fp_rand(f) % 3];
		const char *client = v6 ? CLIENT6 : CLIENT4;
		const char **be = v6 ? BE6 : BE4;
		unsigned int act = fp_rand(f) % 100;
		struct tp_config cfg;
		struct pkt_spec sp;
		struct pkt pkt;

		if (act < 10) { /* the clock: a second, or past a timeout */
			now += (fp_pct(f, 90) ? 1 : 30 + fp_rand(f) % 400) *
			       1000000000ull;
			th_set_clock(&f->fast, now);
			th_set_clock(&f->slow, now);
		} else if (act < 13) { /* the policy revision moves */
			assert_int_equal(
				bpf_map_lookup_elem(f->fast.maps.config, &zero,
						    &cfg),
				0);
			cfg.policy_rev++;
			assert_int_equal(
				bpf_map_update_elem(f->fast.maps.config, &zero,
						    &cfg, 0),
				0);
			assert_int_equal(
				bpf_map_update_elem(f->slow.maps.config, &zero,
						    &cfg, 0),
				0);
		} else if (act < 16) {
			fp_evict_reply_key(f);
		} else if (act < 40) { /* a reply, from a backend or the peer */
			sp = pt_flow(
				dst == dsts[v6][2] ? dst : be[fp_rand(f) % 2],
				dst == dsts[v6][2] ? 80 : 8080, client, cport,
				proto, flags[fp_rand(f) % sizeof(flags)]);
			pt_build(&sp, &pkt);
			fp_run_both(f, TH_TO_TAILNET, f->fast.l3_ifindex, &pkt,
				    i, seed);
		} else { /* the client's packet */
			sp = pt_flow(client, cport, dst, 80, proto,
				     flags[fp_rand(f) % sizeof(flags)]);
			/* mostly 12 bytes or more: UDP's whole in 20 bytes */
			if (fp_pct(f, 80)) {
				sp.payload = "tailplane's fast path";
				sp.payload_len = 21;
			}
			pt_build(&sp, &pkt);
			fp_parsed_set(f, FP_PARSED_NO);
			fp_run_both(f, TH_FROM_TAILNET, f->fast.l3_ifindex,
				    &pkt, i, seed);
			fast[v6] += fp_parsed_get(f) == FP_PARSED_NO;
			steps[v6]++;
		}
		events += fp_compare(f, i, seed, false);
		fp_svc_stats_compare(f, i, seed);
	}
	printf("fast path: %u packets of %u steps (IPv4 %u of %u clients' packets, IPv6 %u of %u); %u events\n",
	       fast[0] + fast[1], FP_ITERS, fast[0], steps[0], fast[1],
	       steps[1], events);
	assert_true(fast[0] + fast[1] > FP_ITERS / 10);
	/* each family's clients' packets took it: a tenth of them or more */
	for (i = 0; i < 2; i++)
		if (fast[i] <= steps[i] / 10)
			fail_msg(
				"IPv%d: the fast path took a tenth of the clients' packets or fewer",
				i ? 6 : 4);
}

/* ---- tp_to_tailnet's fast path (tp_fast_egress()) ---- */

#define FPE_CT 5 /* entries one case writes */

/* Where a reply leaving to the tailnet came from (skb->ingress_ifindex). */
enum fpe_in {
	FPE_IN_HOST,	/* 0: this host sent it */
	FPE_IN_UNKNOWN, /* an ifindex no interface has */
	FPE_IN_POD,	/* the uplink's peer: an interface tp_ifaces lacks */
	FPE_IN_LO,	/* loopback: a tailnet interface when described */
	FPE_IN_SAME,	/* the tailnet tunnel of the egress interface's zone */
	FPE_IN_OTHER,	/* the other tailnet tunnel */
	FPE_IN_UPLINK,	/* the test uplink (routed: the reverse path holds) */
	FPE_IN_MAX,
};

/*
 * One scenario of tp_to_tailnet: the reply of the plan's backend to its
 * client's port 40000 (IPv4, FP_BACKEND -> CLIENT4, or IPv6; its source
 * port 8080 mostly), the entries of the flows it may be a
 * reply of and of its own tuple, tp_be_frontends' entry of its backend,
 * where it came from.
 */
struct fpe_case {
	struct fp_case c; /* clock, revision, static NAT, egress, packet */
	struct tp_ct_key tuple; /* the packet's, in the egress zone */
	struct fp_ct_pair ct[FPE_CT];
	size_t n;
	bool has_bf;
	struct tp_be_key bk;
	struct tp_be_frontends bf;
	enum fpe_in in;
	int in_ifindex;
};

static void fpe_put(struct fpe_case *x, const struct tp_ct_key *k,
		    const struct tp_ct_entry *e)
{
	assert_true(x->n < FPE_CT);
	x->ct[x->n].k = *k;
	x->ct[x->n].e = *e;
	x->n++;
}

/* The entry under @k as the tables hold it (the last one written), or NULL. */
static const struct tp_ct_entry *fpe_get(const struct fpe_case *x,
					 const struct tp_ct_key *k)
{
	size_t j = x->n;

	while (j--)
		if (!memcmp(&x->ct[j].k, k, sizeof(*k)))
			return &x->ct[j].e;
	return NULL;
}

static bool fpe_addr_eq(const struct tp_addr *a, const struct tp_addr *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/*
 * Is @key a reply tuple of flow @e (original tuple @orig)?  ct.h's
 * tp_ct_is_reply_key() written out again, tp_masq empty (a masqueraded
 * service flow has no address).
 */
static bool fpe_is_reply_key(const struct tp_ct_entry *e,
			     const struct tp_ct_key *orig,
			     const struct tp_ct_key *key)
{
	bool dnat = e->flags & TP_CT_F_DNAT, cross;
	const struct tp_addr *src = dnat ? &e->nat_addr : &orig->daddr;
	__be16 sport = dnat ? e->nat_port : orig->dport;

	if (key->proto != orig->proto)
		return false;
	if ((e->flags & (TP_CT_F_SNAT | TP_CT_F_MASQ)) ==
	    (TP_CT_F_SNAT | TP_CT_F_MASQ)) {
		cross = !(e->flags & TP_CT_F_EGRESS);
		if (cross && key->zone == orig->zone)
			return fpe_addr_eq(&key->saddr, &orig->daddr) &&
			       fpe_addr_eq(&key->daddr, &orig->saddr) &&
			       key->sport == orig->dport &&
			       key->dport == orig->sport;
		if (key->zone != (cross ? e->out_zone : orig->zone) || dnat)
			return false;
		return fpe_addr_eq(&key->saddr, src) &&
		       fpe_addr_eq(&key->daddr, &e->nat_addr) &&
		       key->sport == sport && key->dport == e->snat_port;
	}
	if (e->flags & TP_CT_F_SNAT)
		return !key->zone && fpe_addr_eq(&key->saddr, &e->nat_addr) &&
		       key->sport == e->nat_port && key->dport == e->snat_port;
	if (key->zone != orig->zone &&
	    (!e->out_zone || key->zone != e->out_zone))
		return false;
	return fpe_addr_eq(&key->saddr, src) &&
	       fpe_addr_eq(&key->daddr, &orig->saddr) && key->sport == sport &&
	       key->dport == orig->sport;
}

/*
 * The flow the case's reply (of tuple @t) belongs to as tp_fast_egress()
 * looks for it: a live flow entry under the reversed tuple whose reply
 * tuple it is (an untranslated flow's), else the first frontend
 * tp_be_frontends lists for its source whose candidate (client ->
 * frontend, same zone) is a live DNAT flow with TP_CT_F_RINDEX only, to
 * this backend.  *@rindex: found the second way.
 */
static const struct tp_ct_entry *
fpe_owner(const struct fpe_case *x, const struct tp_ct_key *t, bool *rindex)
{
	const __u32 want = TP_CT_F_DNAT | TP_CT_F_RINDEX;
	const __u32 mask =
		want | TP_CT_F_REPLY_KEY | TP_CT_F_SNAT | TP_CT_F_MASQ;
	__u32 sec = TP_CT_SEC(x->c.now);
	const struct tp_ct_entry *e;
	struct tp_be_key bk = {};
	struct tp_ct_key cand;
	int i;

	*rindex = false;
	tp_ct_reverse(t, &cand);
	e = fpe_get(x, &cand);
	if (e && !(e->flags & TP_CT_F_REPLY_KEY) && sec < e->expires_s &&
	    fpe_is_reply_key(e, &cand, t))
		return e;
	bk.addr = t->saddr;
	bk.port = t->sport;
	bk.proto = t->proto;
	if (!x->has_bf || memcmp(&bk, &x->bk, sizeof(bk)))
		return NULL;
	for (i = 0; i < TP_BE_FRONTENDS; i++) {
		const struct tp_svc_key *fe = &x->bf.fe[i];

		if (fe->proto != t->proto)
			continue;
		memset(&cand, 0, sizeof(cand));
		cand.saddr = t->daddr;
		cand.daddr = fe->vip;
		cand.sport = t->dport;
		cand.dport = fe->port;
		cand.proto = t->proto;
		cand.zone = t->zone;
		e = fpe_get(x, &cand);
		if (e && (e->flags & mask) == want && sec < e->expires_s &&
		    fpe_addr_eq(&e->nat_addr, &t->saddr) &&
		    e->nat_port == t->sport) {
			*rindex = true;
			return e;
		}
	}
	return NULL;
}

/* The flags tp_ifaces gives the case's ingress interface. */
static __u32 fpe_in_flags(const struct fpe_case *x)
{
	switch (x->in) {
	case FPE_IN_LO:
		return x->c.iface == FP_IFACE_LO_ZONE ? TP_IFACE_F_TAILNET : 0;
	case FPE_IN_SAME:
	case FPE_IN_OTHER:
		return TP_IFACE_F_TAILNET | TP_IFACE_F_L3;
	case FPE_IN_UPLINK:
		return TP_IFACE_F_UPLINK;
	default:
		return 0;
	}
}

/*
 * tp_fast_egress()'s conditions: no static NAT, not from a tailnet
 * interface or an uplink, a packet tp_fast_parse() takes (as
 * fp_fast_parse_ok() says), nothing under its tuple in the egress
 * interface's zone, its flow found (fpe_owner()) with neither a reply
 * key's, an egress flow's, SNAT's nor masquerade's flag, leaving to no
 * tailnet (out zone 0), decided under the current revision, allowed.
 * *@rindex: a DNAT flow found through tp_be_frontends.
 */
static bool fpe_expect_fast(const struct fpe_case *x, bool *rindex)
{
	const struct tp_ct_entry *e;
	struct tp_ct_key t;

	*rindex = false;
	if (x->c.static_nat_n ||
	    (fpe_in_flags(x) & (TP_IFACE_F_TAILNET | TP_IFACE_F_UPLINK)) ||
	    !fp_fast_parse_ok(&x->c.pkt, &t))
		return false;
	t.zone = fp_zones[x->c.iface];
	if (fpe_get(x, &t))
		return false;
	e = fpe_owner(x, &t, rindex);
	return e &&
	       !(e->flags & (TP_CT_F_REPLY_KEY | TP_CT_F_EGRESS | TP_CT_F_SNAT |
			     TP_CT_F_MASQ)) &&
	       !e->out_zone && e->policy_rev == x->c.rev &&
	       (e->verdict == TP_VERDICT_ALLOW ||
		e->verdict == TP_VERDICT_AUDIT);
}

/* A random ingress interface of the case, and its ifindex for @h. */
static int fpe_in_ifindex(const struct fpe_case *x, const struct th *h,
			  int uplink)
{
	bool zone2 = fp_zones[x->c.iface] == TH_ZONE2;

	switch (x->in) {
	case FPE_IN_UNKNOWN:
		return 4242;
	case FPE_IN_POD:
		return th_uplink_peer();
	case FPE_IN_LO:
		return 1;
	case FPE_IN_SAME:
		return zone2 ? h->l3_ifindex2 : h->l3_ifindex;
	case FPE_IN_OTHER:
		return zone2 ? h->l3_ifindex : h->l3_ifindex2;
	case FPE_IN_UPLINK:
		return uplink;
	default:
		return 0;
	}
}

/*
 * A clean entry (what the fast path takes) made live, current, allowed,
 * in @zone and leaving to no tailnet, or left as fp_entry_fields() made
 * it.
 */
static void fpe_clean(struct fp *f, const struct fp_case *c, __u8 proto,
		      struct tp_ct_entry *e)
{
	if (!c->clean)
		return;
	e->verdict = fp_verdicts[fp_rand(f) % 3];
	e->policy_rev = c->rev;
	e->expires_s = TP_CT_SEC(c->now) + 100;
	e->out_zone = 0;
	if (proto == IPPROTO_TCP && fp_pct(f, 50))
		e->state = TP_CT_ESTABLISHED;
}

/*
 * A clean case with one thing the fast path must not take: static NAT,
 * a tailnet or uplink ingress, an entry under the reply's own tuple
 * (flags of @own), or its flows' revision old, out zone set, verdict
 * deny, one flag of the excluded ones, or expiry now.
 */
static void fpe_spoil(struct fp *f, struct fpe_case *x, const __u8 *own,
		      size_t n_own)
{
	static const __u8 bad_flags[] = { TP_CT_F_REPLY_KEY, TP_CT_F_EGRESS,
					  TP_CT_F_SNAT, TP_CT_F_MASQ };
	static const enum fpe_in bad_in[] = { FPE_IN_SAME, FPE_IN_OTHER,
					      FPE_IN_UPLINK, FPE_IN_LO };
	unsigned int what = fp_rand(f) % 8, r = fp_rand(f);
	struct fp_case *c = &x->c;
	struct tp_ct_entry own_e;
	size_t j;

	if (what == 0) {
		c->static_nat_n = 1;
	} else if (what == 1) {
		x->in = bad_in[r % 4];
	} else if (what == 2) {
		fp_entry_fields(f, c, x->tuple.proto, fp_flags(f, own, n_own),
				&own_e);
		fpe_put(x, &x->tuple, &own_e);
	}
	for (j = 0; j < x->n; j++) {
		struct tp_ct_entry *e = &x->ct[j].e;

		if (what == 3)
			e->policy_rev = c->rev - 1;
		else if (what == 4)
			e->out_zone = r % 2 ? TH_ZONE : TH_ZONE2;
		else if (what == 5)
			e->verdict = TP_VERDICT_DENY;
		else if (what == 6)
			e->flags |= bad_flags[r % 4];
		else if (what == 7)
			e->expires_s = TP_CT_SEC(c->now);
	}
}

/* The case: its state and packet at random, more than half clean. */
static void fpe_make(struct fp *f, struct fpe_case *x, unsigned int i)
{
	static const __u8 rev_flags[] = {
		0,
		0,
		0,
		TP_CT_F_DNAT,
		TP_CT_F_EGRESS,
		TP_CT_F_EGRESS | TP_CT_F_LOCAL,
		TP_CT_F_REPLY_KEY,
		TP_CT_F_SNAT,
		TP_CT_F_SNAT | TP_CT_F_MASQ,
		TP_CT_F_SNAT | TP_CT_F_MASQ | TP_CT_F_EGRESS,
		TP_CT_F_DNAT | TP_CT_F_RINDEX,
	};
	static const __u8 dnat_flags[] = {
		TP_CT_F_DNAT | TP_CT_F_RINDEX,
		TP_CT_F_DNAT | TP_CT_F_RINDEX,
		TP_CT_F_DNAT | TP_CT_F_RINDEX,
		TP_CT_F_DNAT,
		TP_CT_F_DNAT | TP_CT_F_RINDEX | TP_CT_F_SNAT,
		TP_CT_F_DNAT | TP_CT_F_RINDEX | TP_CT_F_EGRESS,
		TP_CT_F_DNAT | TP_CT_F_RINDEX | TP_CT_F_REPLY_KEY,
		TP_CT_F_DNAT | TP_CT_F_RINDEX | TP_CT_F_SNAT | TP_CT_F_MASQ,
	};
	static const __u8 own_flags[] = {
		TP_CT_F_REPLY_KEY,
		TP_CT_F_REPLY_KEY,
		0,
		TP_CT_F_EGRESS,
		TP_CT_F_DNAT | TP_CT_F_RINDEX,
	};
	struct fp_case *c = &x->c;
	const struct fp_plan *a = &c->a;
	__u8 proto = fp_pct(f, 70) ? IPPROTO_TCP : IPPROTO_UDP;
	__u16 sport, zone, other;
	struct tp_ct_entry e;
	struct tp_ct_key k;
	struct pkt_spec s;
	bool has_rev;
	int j;

	memset(x, 0, sizeof(*x));
	c->now = (1000ull + i * 7 + fp_rand(f) % 3) * 1000000000ull;
	c->rev = 5 + fp_rand(f) % 3;
	c->static_nat_n = fp_pct(f, 4);
	c->iface = fp_iface_random(f);
	c->clean = fp_pct(f, 60);
	c->edge = c->clean && fp_pct(f, 20);
	c->clean_flags = true;
	fp_plan_random(f, &c->a, true);
	zone = fp_zones[c->iface];
	other = zone == TH_ZONE ? TH_ZONE2 : TH_ZONE;
	x->in = c->clean ? (fp_pct(f, 50) ? FPE_IN_HOST : FPE_IN_POD)
			 : fp_rand(f) % FPE_IN_MAX;
	sport = c->clean || fp_pct(f, 90) ? 8080 : 80;

	s = pt_flow(a->backend, sport, a->client, 40000, proto, 0);
	s.l2 = c->iface >= 2;
	fp_packet_of(f, c, s, a->v6 ? FP_BACKEND : FP_BACKEND6,
		     a->v6 ? CLIENT4 : CLIENT6);
	x->tuple = pt_ct_key(a->backend, sport, a->client, 40000, proto);
	x->tuple.zone = zone;
	fp_follow(f, c, &x->tuple);
	proto = x->tuple.proto;

	/* the reply's own tuple: a flow, live or expired, or a reply key */
	if (!c->clean && fp_pct(f, 20)) {
		fp_entry_fields(f, c, proto,
				fp_flags(f, own_flags, sizeof(own_flags)), &e);
		if (e.flags & TP_CT_F_REPLY_KEY) { /* naming the VIP's flow? */
			e.orig_daddr =
				pt_addr(fp_pct(f, 70) ? a->vip : a->vip2);
			e.orig_dport = htons(fp_pct(f, 80) ? 80 : 443);
			e.orig_zone = zone;
		}
		fpe_put(x, &x->tuple, &e);
	}
	/* an untranslated flow whose reply it is (or of other flags) */
	has_rev = fp_pct(f, 45);
	if (has_rev) {
		tp_ct_reverse(&x->tuple, &k);
		if (!c->clean && fp_pct(f, 10))
			k.zone = other;
		fp_entry_fields(
			f, c, proto,
			c->clean ? 0
				 : fp_flags(f, rev_flags, sizeof(rev_flags)),
			&e);
		if (fp_pct(f, 50)) /* a translated one's backend: the reply's */
			e.nat_port = x->tuple.sport;
		e.snat_port = fp_pct(f, 50) ? x->tuple.dport : htons(40001);
		if (e.flags & TP_CT_F_MASQ && fp_pct(f, 50))
			e.nat_addr = x->tuple.daddr;
		fpe_clean(f, c, proto, &e);
		fpe_put(x, &k, &e);
	}
	/* DNAT flows of the client to two frontends of that backend */
	for (j = 0; j < 2; j++) {
		if (!(!j && c->clean && !has_rev) && !fp_pct(f, j ? 30 : 60))
			continue;
		tp_ct_reverse(&x->tuple, &k);
		k.daddr = pt_addr(j ? a->vip2 : a->vip);
		k.dport = htons(j ? 443 : 80);
		k.zone = !c->clean && fp_pct(f, 10) ? other : zone;
		fp_entry_fields(
			f, c, proto,
			c->clean ? TP_CT_F_DNAT | TP_CT_F_RINDEX
				 : fp_flags(f, dnat_flags, sizeof(dnat_flags)),
			&e);
		if (fp_pct(f, 10)) /* the backend moved */
			e.nat_addr = pt_addr(a->moved);
		if (c->clean || fp_pct(f, 50))
			e.nat_port = x->tuple.sport;
		fpe_clean(f, c, proto, &e);
		fpe_put(x, &k, &e);
	}
	/* the backend's frontends: these two, others, another protocol's */
	x->has_bf = fp_pct(f, c->clean ? 95 : 80);
	x->bk.addr = x->tuple.saddr;
	x->bk.port = fp_pct(f, 95) ? x->tuple.sport : x->tuple.sport ^ htons(1);
	x->bk.proto = fp_pct(f, 95) ? proto : IPPROTO_TCP + IPPROTO_UDP - proto;
	for (j = 0; j < TP_BE_FRONTENDS; j++) {
		struct tp_svc_key *fe = &x->bf.fe[j];
		unsigned int r = fp_rand(f) % 7;

		if (!r)
			continue; /* an empty slot */
		fe->vip = pt_addr(r == 3 ? a->vip2 : a->vip);
		fe->port = htons(r == 3 ? 443 : r == 4 ? 81 : 80);
		fe->proto = r == 5 ? IPPROTO_TCP + IPPROTO_UDP - proto : proto;
	}
	/* a clean flow listed mostly: the fast path has one to find */
	if (c->clean && fp_pct(f, 90)) {
		j = fp_rand(f) % TP_BE_FRONTENDS;
		x->bf.fe[j].vip = pt_addr(a->vip);
		x->bf.fe[j].port = htons(80);
		x->bf.fe[j].proto = proto;
	}
	if (c->clean && fp_pct(f, 30))
		fpe_spoil(f, x, own_flags, sizeof(own_flags));
}

/* The case's state into @h: conntrack, tp_be_frontends, the rest. */
static void fpe_write_state(struct th *h, const struct fpe_case *x)
{
	struct fp_case c = x->c;
	struct tp_be_key bk;
	size_t j;

	c.has_entry = false;
	fp_write_state(h, &c);
	while (!bpf_map_get_next_key(h->maps.be_frontends, NULL, &bk))
		assert_int_equal(bpf_map_delete_elem(h->maps.be_frontends, &bk),
				 0);
	if (x->has_bf)
		assert_int_equal(bpf_map_update_elem(h->maps.be_frontends,
						     &x->bk, &x->bf, BPF_ANY),
				 0);
	for (j = 0; j < x->n; j++)
		assert_int_equal(
			bpf_map_update_elem(x->ct[j].k.proto == IPPROTO_TCP
						    ? h->maps.ct
						    : h->maps.ct_any,
					    &x->ct[j].k, &x->ct[j].e, BPF_ANY),
			0);
}

/*
 * tp_to_tailnet with tp_fast_egress() against the same object without
 * it: replies of untranslated and DNAT flows (found through
 * tp_be_frontends: listed, not listed, listed for another port or
 * protocol, a second frontend, the backend moved), entries under the
 * reply's own tuple (live, expired, reply keys naming the flow or not),
 * every flag, state, expiry edge, revision, verdict and out zone,
 * flows of the other zone, static NAT, packets at the path's edges (a
 * third IPv6, fp_packet_of()), from this host, unknown interfaces, a
 * pod's, loopback, both tailnet tunnels and the uplink; each after a
 * packet of another kind.  Verdict, bytes,
 * conntrack, counters, events and fragment records the same, the path
 * taken exactly where fpe_expect_fast() says.
 */
static void test_fast_path_egress_differential(void **state)
{
	struct fp *f = *state;
	unsigned int taken = 0, full = 0, events = 0, taken_rindex = 0, i;
	unsigned int taken_l2 = 0, seed, in_taken[FPE_IN_MAX] = { 0 };
	char *seed_env = getenv("TP_FUZZ_SEED");
	struct fp_count n = {};
	int up_fast, up_slow;

	REQUIRE_BPF();
	up_fast = th_uplink(&f->fast);
	up_slow = th_uplink(&f->slow);
	assert_true(up_fast > 0);
	assert_int_equal(up_fast, up_slow);
	seed = seed_env ? (unsigned int)strtoul(seed_env, NULL, 0)
			: (unsigned int)time(NULL);
	f->seed = seed;
	printf("seed=%u (replay: TP_FUZZ_SEED=%u)\n", seed, seed);
	for (i = 0; i < FP_ITERS; i++) {
		struct fpe_case x;
		bool fast, want, rindex;
		char what[64];

		fpe_make(f, &x, i);
		fp_prev_packet(f, i, seed, x.c.now, &x.c.a);
		fpe_write_state(&f->fast, &x);
		fpe_write_state(&f->slow, &x);
		snprintf(what, sizeof(what),
			 "egress (ingress kind %d, iface %d)", x.in, x.c.iface);
		want = fpe_expect_fast(&x, &rindex);
		fast = fp_run_case(f, TH_TO_TAILNET, x.c.iface,
				   fpe_in_ifindex(&x, &f->fast, up_fast),
				   fpe_in_ifindex(&x, &f->slow, up_slow),
				   &x.c.pkt, want, i, seed, what);
		events += fp_compare(f, i, seed, true);
		taken += fast;
		taken_rindex += fast && rindex;
		taken_l2 += fast && x.c.iface == FP_IFACE_LO_ZONE;
		in_taken[x.in] += fast;
		full += !fast;
		fp_count_add(&n, &x.c, fast);
	}
	printf("egress fast path: %u of %u packets (%u DNAT flows by tp_be_frontends, %u untranslated, %u on a described Ethernet interface; from this host %u, a pod %u, unknown %u), full path %u; %u events\n",
	       taken, FP_ITERS, taken_rindex, taken - taken_rindex, taken_l2,
	       in_taken[FPE_IN_HOST], in_taken[FPE_IN_POD],
	       in_taken[FPE_IN_UNKNOWN], full, events);
	fp_count_check(&n);
	/* both paths well exercised: neither comparison is vacuous */
	assert_true(taken > FP_ITERS / 5);
	assert_true(full > FP_ITERS / 5);
	/* both ways of finding the flow, and an Ethernet tailnet interface */
	assert_true(taken_rindex > FP_ITERS / 20);
	assert_true(taken - taken_rindex > FP_ITERS / 20);
	assert_true(taken_l2 > FP_ITERS / 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_path_differential),
		/* before the sequences, whose services have ids of their own */
		cmocka_unit_test(test_fast_path_egress_differential),
		cmocka_unit_test(test_fast_path_flow_sequences),
	};

	/* TP_TEST_FILTER=test_fast_path_egress_differential: one test */
	if (getenv("TP_TEST_FILTER"))
		cmocka_set_test_filter(getenv("TP_TEST_FILTER"));
	return cmocka_run_group_tests(tests, fp_setup, fp_teardown);
}
