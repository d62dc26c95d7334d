// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Attack packet tests from a hostile review of the fast-path change of
 * the branch perf (521edc2, c4f86e5): tp_to_tailnet looks its ingress
 * interface up once a packet and hands the copied flags to the reverse-
 * path check (tp_ingress_iface(), tp_reply_path_ok()), and the uplink's
 * EtherType is read from the linear data (tp_load()) instead of by
 * bpf_skb_load_bytes().  A host on an uplink, a hostile pod and the peer
 * on the other end of a tailnet try every kind of ingress interface, the
 * interface's entry changing under a live flow, and frames cut at every
 * length or carrying other EtherTypes.  test_holds_* are attacks that held
 * (the same verdicts, packets and counters as main) and must go on
 * holding.
 *
 * TP_ATTACK_TRACE=1 prints every case's verdict and the counters that
 * moved, to compare two builds line by line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "iface.h"
#include "pkttest.h"
#include "snattest.h"

#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define SYN PKT_TCP_SYN
#define ACK PKT_TCP_ACK

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define UNKNOWN_IFINDEX 77 /* a pod's host-side veth: no tp_ifaces entry */
#define HUGE_IFINDEX	0x7fffffff

/* ---- counters ---------------------------------------------------------- */

struct stats {
	__u64 v[TP_STAT_MAX];
};

static void stats_read(struct th *h, struct stats *s)
{
	for (__u32 i = 0; i < TP_STAT_MAX; i++)
		s->v[i] = th_stat(h, i);
}

/* Counter @id's growth since @before. */
static __u64 stats_delta(struct th *h, const struct stats *before, __u32 id)
{
	return th_stat(h, id) - before->v[id];
}

/* With TP_ATTACK_TRACE: "@what: verdict V, counters that moved". */
static void trace(struct th *h, const char *what, int idx, int verdict,
		  const struct stats *before)
{
	if (!getenv("TP_ATTACK_TRACE"))
		return;
	printf("trace %s[%d]: verdict %d", what, idx, verdict);
	for (__u32 i = 0; i < TP_STAT_MAX; i++) {
		__u64 d = stats_delta(h, before, i);

		if (d)
			printf(" s%u+%llu", i, (unsigned long long)d);
	}
	printf("\n");
}

/* ---- ingress interfaces of tp_to_tailnet -------------------------------- */

enum in_kind {
	IN_HOST,    /* 0: this host's own packet */
	IN_UNKNOWN, /* an ifindex tailplane has no entry for */
	IN_HUGE,    /* the largest positive ifindex, no entry */
	IN_UP,	    /* tpup0: BE4[] are routed through it */
	IN_UP2,	    /* tpup1: routed nowhere */
	IN_TUN,	    /* the tailnet interface the packet leaves by (zone 1) */
	IN_TUN2,    /* the other tailnet interface (zone 2) */
};

static int ifindex_of(struct th *h, enum in_kind k, int up)
{
	switch (k) {
	case IN_HOST:
		return 0;
	case IN_UNKNOWN:
		return UNKNOWN_IFINDEX;
	case IN_HUGE:
		return HUGE_IFINDEX;
	case IN_UP:
		return up;
	case IN_UP2:
		return th_uplink_peer();
	case IN_TUN:
		return h->l3_ifindex;
	case IN_TUN2:
		return h->l3_ifindex2;
	}
	return -1;
}

/* Set @ifindex's tp_ifaces entry to @flags/@zone, or delete it (@del). */
static void iface_set(struct th *h, __u32 ifindex, bool del, __u32 flags,
		      __u16 zone)
{
	struct tp_iface ifc = { .flags = flags, .zone = zone };
	int err;

	if (!ifindex)
		return;
	if (del) {
		err = tp_iface_del(&h->maps, ifindex);
		assert_true(!err || err == -ENOENT);
		return;
	}
	assert_int_equal(tp_iface_set(&h->maps, ifindex, &ifc), 0);
}

/*
 * One ingress: the interface a DNAT flow's reply (from its off-node
 * backend BE4[0], routed through tpup0) comes in through, the entry
 * tp_ifaces holds for it (@keep: the one the fixture gave it), and what
 * must happen: the verdict, the reverse-path and zone drops, whether the
 * flow took it as its reply.
 */
struct ingress_case {
	enum in_kind in;
	bool keep, del;
	__u32 flags;
	__u16 zone;
	int verdict;
	__u64 rpf, zone_drops;
	bool replied;
};

#define UPL TP_IFACE_F_UPLINK
#define TNL TP_IFACE_F_TAILNET

static const struct ingress_case ingress_cases[] = {
	/* no entry: this host's, a pod's, anything unknown pass */
	{ IN_HOST, .keep = true, .verdict = PASS, .replied = true },
	{ IN_UNKNOWN, .del = true, .verdict = PASS, .replied = true },
	{ IN_HUGE, .del = true, .verdict = PASS, .replied = true },
	/* an uplink: only the one the backend is routed through */
	{ IN_UP, .keep = true, .verdict = PASS, .replied = true },
	{ IN_UP2, .keep = true, .verdict = DROP, .rpf = 1 },
	/* the uplink's entry gone, or without the uplink flag: a pod's */
	{ IN_UP2, .del = true, .verdict = PASS, .replied = true },
	{ IN_UP2, .flags = 0, .verdict = PASS, .replied = true },
	{ IN_UP2, .flags = TP_IFACE_F_L3, .verdict = PASS, .replied = true },
	/* a zone-0 "tailnet" flag changes nothing: it is still an uplink */
	{ IN_UP2, .flags = UPL | TNL, .verdict = DROP, .rpf = 1 },
	{ IN_UP, .flags = UPL | TNL, .verdict = PASS, .replied = true },
	/* with a zone it is a tailnet's, and the flow did not go there */
	{ IN_UP, .flags = UPL | TNL, .zone = TH_ZONE2, .verdict = DROP,
	  .zone_drops = 1 },
	{ IN_UP2, .flags = UPL | TNL, .zone = TH_ZONE2, .verdict = DROP,
	  .zone_drops = 1 },
	/* a zone without the tailnet flag is no zone */
	{ IN_UP2, .flags = UPL, .zone = TH_ZONE2, .verdict = DROP, .rpf = 1 },
	{ IN_UP, .flags = 0, .zone = TH_ZONE2, .verdict = PASS,
	  .replied = true },
	/* the tailnet interfaces themselves: hairpin and zone 2 */
	{ IN_TUN, .keep = true, .verdict = PASS },
	{ IN_TUN2, .keep = true, .verdict = DROP, .zone_drops = 1 },
};

/* A client, a service's VIP and its off-node backend (routed via tpup0). */
struct fam {
	const char *client, *vip, *be;
};

static const struct fam fams[] = {
	{ CLIENT4, VIP4, "198.18.1.1" },
	{ CLIENT6, VIP6, "fd00:198:18::1:1" },
};

/*
 * @sp leaving to the tailnet, forwarded from @in: its verdict; a packet
 * that passed is compared whole with @want (translated back) or with
 * itself (@want NULL: untouched).
 */
static int out_expect(struct th *h, int in, struct pkt_spec sp,
		      const struct pkt_spec *want)
{
	static struct pkt pin, pwant, out;
	int verdict = -1;

	pt_build(&sp, &pin);
	pt_build(want ? want : &sp, &pwant);
	out.len = sizeof(out.data);
	assert_int_equal(th_run_from(h, TH_TO_TAILNET, h->l3_ifindex, in,
				     pin.data, pin.len, out.data, &out.len,
				     &verdict),
			 0);
	if (verdict == PASS)
		assert_int_equal(pkt_compare(stderr, pwant.data, pwant.len,
					     out.data, out.len),
				 0);
	return verdict;
}

/*
 * A client's flow to a service whose backend is off-node; the backend's
 * SYN|ACK through each ingress, in both families.  A reply the path check
 * refuses must not reach the flow; one it accepts must, translated back
 * to the VIP; one that is no reply leaves untouched or is dropped.
 */
static void test_holds_reply_ingress_table(void **state)
{
	struct th *h = *state;
	int up;

	REQUIRE_BPF();
	up = th_uplink(h);
	assert_true(up > 0);
	pt_uplink(h, th_uplink_peer());
	for (size_t f = 0; f < ARRAY_SIZE(fams); f++) {
		const struct fam *fa = &fams[f];
		const char *be[1] = { fa->be };

		pt_service(h, fa->vip, 80, TCP, be, 1, 8080, NULL, NULL, 0, 0);
		for (size_t i = 0; i < ARRAY_SIZE(ingress_cases); i++) {
			const struct ingress_case *c = &ingress_cases[i];
			__u16 cport = 1000 + i;
			struct tp_ct_key k =
				pt_ct_key(fa->client, cport, fa->vip, 80, TCP);
			struct pkt_spec rep = pt_flow(fa->be, 8080, fa->client,
						      cport, TCP, SYN | ACK);
			struct pkt_spec want = rep;
			int in = ifindex_of(h, c->in, up);
			struct stats before;
			int verdict;

			print_message("case %zu.%zu: ingress kind %d (%d)\n", f,
				      i, c->in, in);
			pt_expect_dnat(h,
				       pt_flow(fa->client, cport, fa->vip, 80,
					       TCP, SYN),
				       fa->be, 8080);
			if (!c->keep)
				iface_set(h, in, c->del, c->flags, c->zone);
			want.saddr = fa->vip;
			want.sport = 80;
			stats_read(h, &before);
			verdict = out_expect(h, in, rep,
					     c->replied ? &want : NULL);
			trace(h, "ingress", f * 100 + i, verdict, &before);
			assert_int_equal(verdict, c->verdict);
			assert_int_equal(
				stats_delta(h, &before,
					    TP_STAT_DROP(TP_DROP_REVERSE_PATH)),
				c->rpf);
			assert_int_equal(
				stats_delta(h, &before,
					    TP_STAT_DROP(TP_DROP_ZONE)),
				c->zone_drops);
			assert_int_equal(
				stats_delta(h, &before, TP_STAT_REVNAT),
				c->replied);
			assert_int_equal(
				stats_delta(h, &before, TP_STAT_TX_TAILNET), 1);
			assert_int_equal(
				pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY],
				c->replied);
			assert_int_equal(pt_ct_must(h, &k).state,
					 c->replied ? TP_CT_SYN_RECV
						    : TP_CT_SYN_SENT);
			/* back to the fixture's entries for the next case */
			if (in == up || in == th_uplink_peer())
				pt_uplink(h, in);
			else if (!c->keep)
				iface_set(h, in, true, 0, 0);
		}
	}
}

/*
 * An ICMP error about the client's DNAT flow (port unreachable from the
 * backend, quoting the client's packet as the backend got it) through
 * each ingress: translated back (quote and source to the VIP) only from
 * this host or from the interface the backend is routed through, with
 * or without an entry; from anywhere else (unlike a reply, a pod's
 * interface too: tp_icmp_error_valid() asks the FIB for every ingress)
 * it is no error of the flow's, decided on its own (here: no identities,
 * passed untranslated); from the other zone dropped.
 */
static void test_holds_icmp_error_ingress_table(void **state)
{
	static const struct {
		enum in_kind in;
		bool del;
		__u32 flags;
		__u16 zone;
		int verdict;
		bool translated;
		__u32 stat;
	} cases[] = {
		{ IN_HOST, false, 0, 0, PASS, true, TP_STAT_ICMP_ERR_NAT },
		{ IN_UNKNOWN, true, 0, 0, PASS, false, TP_STAT_OTHER_PROTO },
		{ IN_UP, false, UPL, 0, PASS, true, TP_STAT_ICMP_ERR_NAT },
		{ IN_UP, true, 0, 0, PASS, true, TP_STAT_ICMP_ERR_NAT },
		{ IN_UP2, false, UPL, 0, PASS, false, TP_STAT_OTHER_PROTO },
		{ IN_UP2, true, 0, 0, PASS, false, TP_STAT_OTHER_PROTO },
		{ IN_UP, false, UPL | TNL, TH_ZONE2, DROP, false,
		  TP_STAT_DROP(TP_DROP_ZONE) },
		{ IN_TUN2, false, TP_IFACE_F_L3 | TNL, TH_ZONE2, DROP, false,
		  TP_STAT_DROP(TP_DROP_ZONE) },
	};
	struct th *h = *state;
	const char *be[1] = { BE4[0] };
	int up;

	REQUIRE_BPF();
	up = th_uplink(h);
	assert_true(up > 0);
	pt_uplink(h, th_uplink_peer());
	pt_service(h, VIP4, 80, TCP, be, 1, 8080, NULL, NULL, 0, 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		__u16 cport = 5000 + i;
		struct pkt_spec q =
			pt_flow(CLIENT4, cport, BE4[0], 8080, TCP, SYN);
		struct pkt_spec qv =
			pt_flow(CLIENT4, cport, VIP4, 80, TCP, SYN);
		int in = ifindex_of(h, cases[i].in, up);
		struct pkt err, want, out;
		struct stats before;
		int verdict = -1;

		print_message("case %zu: ingress kind %d\n", i, cases[i].in);
		pt_expect_dnat(h, qv, BE4[0], 8080);
		iface_set(h, in, cases[i].del, cases[i].flags, cases[i].zone);
		pt_icmp_err_t(&err, BE4[0], CLIENT4, &q, 3, 3, 0);
		if (cases[i].translated)
			pt_icmp_err_t(&want, VIP4, CLIENT4, &qv, 3, 3, 0);
		else
			want = err;
		stats_read(h, &before);
		out.len = sizeof(out.data);
		assert_int_equal(th_run_from(h, TH_TO_TAILNET, h->l3_ifindex,
					     in, err.data, err.len, out.data,
					     &out.len, &verdict),
				 0);
		trace(h, "icmp", i, verdict, &before);
		assert_int_equal(verdict, cases[i].verdict);
		assert_int_equal(stats_delta(h, &before, cases[i].stat), 1);
		if (verdict == PASS)
			assert_int_equal(pkt_compare(stderr, want.data,
						     want.len, out.data,
						     out.len),
					 0);
		/* back to the fixture's entries */
		if (in == up || in == th_uplink_peer())
			pt_uplink(h, in);
		else if (in == h->l3_ifindex2)
			iface_set(h, in, false, TP_IFACE_F_L3 | TNL, TH_ZONE2);
		else
			iface_set(h, in, true, 0, 0);
	}
}

/*
 * The entry of the uplink a live flow's replies come through changes
 * between its packets: removed (a pod's then), turned into a tailnet
 * interface of zone 2, given back; and the routed uplink traded for the
 * other one.  Each packet is judged by the entry it met, and a reply the
 * check refused leaves the flow as it was.
 */
static void test_holds_live_uplink_entry_changes(void **state)
{
	struct th *h = *state;
	const char *be[1] = { BE4[0] };
	struct tp_ct_key k = pt_ct_key(CLIENT4, 2000, VIP4, 80, TCP);
	struct pkt_spec rep = pt_flow(BE4[0], 8080, CLIENT4, 2000, TCP, ACK);
	static const struct {
		bool del;
		__u32 flags;
		__u16 zone;
		bool via_peer; /* the reply through tpup1, not tpup0 */
		int verdict;
	} steps[] = {
		{ .flags = UPL, .verdict = PASS },
		{ .del = true, .verdict = PASS },
		{ .flags = UPL | TNL, .zone = TH_ZONE2, .verdict = DROP },
		{ .flags = UPL, .verdict = PASS },
		{ .flags = UPL, .via_peer = true, .verdict = DROP },
		{ .del = true, .via_peer = true, .verdict = DROP },
		{ .flags = 0, .via_peer = true, .verdict = DROP },
		{ .flags = UPL, .verdict = PASS },
	};
	__u32 replies = 0;
	int up, peer;

	REQUIRE_BPF();
	up = th_uplink(h);
	assert_true(up > 0);
	peer = th_uplink_peer();
	pt_uplink(h, peer);
	pt_service(h, VIP4, 80, TCP, be, 1, 8080, NULL, NULL, 0, 0);
	pt_expect_dnat(h, pt_flow(CLIENT4, 2000, VIP4, 80, TCP, SYN), BE4[0],
		       8080);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		struct stats before;
		int verdict;

		/* the changed entry is tpup0's; tpup1 stays an uplink */
		iface_set(h, up, steps[i].del, steps[i].flags, steps[i].zone);
		stats_read(h, &before);
		verdict = pt_send_spec(h, TH_TO_TAILNET, h->l3_ifindex,
				       steps[i].via_peer ? peer : up, rep);
		trace(h, "live", i, verdict, &before);
		print_message("step %zu\n", i);
		assert_int_equal(verdict, steps[i].verdict);
		replies += verdict == PASS;
		assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY],
				 replies);
		assert_int_equal(stats_delta(h, &before, TP_STAT_REVNAT),
				 verdict == PASS);
	}
}

/* Fragment @frag leaving to the tailnet from @in: @verdict, counted on @stat. */
static void frag_out(struct th *h, int in, const struct pkt *frag, int verdict,
		     __u32 stat)
{
	struct stats before;
	int got;

	stats_read(h, &before);
	got = pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, in, frag);
	trace(h, "frag", in, got, &before);
	assert_int_equal(got, verdict);
	assert_int_equal(stats_delta(h, &before, stat), 1);
}

/*
 * A first fragment of the backend's reply records the datagram (its
 * ports, for the later fragments) only when it passes the path check.
 * Forged on the uplink the backend is not routed through, it records
 * nothing, and the later fragment from there is not given the flow's
 * ports: it passes untranslated, counted as a fragment without a record.
 * From the routed uplink, a pod's interface or this host, both are the
 * flow's and translated back; from the other zone's tailnet interface
 * both are dropped by the zone guard.
 */
static void test_holds_first_fragment_ingress(void **state)
{
	static const struct {
		enum in_kind in;
		int first, later;
		__u32 first_stat, later_stat;
	} cases[] = {
		{ IN_UP, PASS, PASS, TP_STAT_REVNAT, TP_STAT_REVNAT },
		{ IN_UP2, DROP, PASS, TP_STAT_DROP(TP_DROP_REVERSE_PATH),
		  TP_STAT_FRAG_NO_RECORD },
		{ IN_UNKNOWN, PASS, PASS, TP_STAT_REVNAT, TP_STAT_REVNAT },
		{ IN_HOST, PASS, PASS, TP_STAT_REVNAT, TP_STAT_REVNAT },
		{ IN_TUN2, DROP, DROP, TP_STAT_DROP(TP_DROP_ZONE),
		  TP_STAT_DROP(TP_DROP_ZONE) },
	};
	struct th *h = *state;
	const char *be[1] = { BE4[0] };
	__u8 payload[64];
	int up;

	REQUIRE_BPF();
	up = th_uplink(h);
	assert_true(up > 0);
	pt_uplink(h, th_uplink_peer());
	memset(payload, 0x5a, sizeof(payload));
	pt_service(h, VIP4, 53, UDP, be, 1, 5353, NULL, NULL, 0, 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		__u16 cport = 3000 + i;
		struct pkt_spec r =
			pt_flow(BE4[0], 5353, CLIENT4, cport, UDP, 0);
		int in = ifindex_of(h, cases[i].in, up);
		struct pkt whole, first, later;

		print_message("case %zu: ingress kind %d\n", i, cases[i].in);
		pt_expect_dnat(h, pt_flow(CLIENT4, cport, VIP4, 53, UDP, 0),
			       BE4[0], 5353);
		r.payload = payload;
		r.payload_len = sizeof(payload);
		pt_build(&r, &whole);
		assert_int_equal(
			pkt_fragment(&whole, 0, 32, 1, 0x4000 + i, &first), 0);
		assert_int_equal(
			pkt_fragment(&whole, 32, 40, 0, 0x4000 + i, &later), 0);
		frag_out(h, in, &first, cases[i].first, cases[i].first_stat);
		/* the later fragment, from where the first came */
		frag_out(h, in, &later, cases[i].later, cases[i].later_stat);
	}
}

/* ---- the uplink's EtherType (tp_from_uplink) ------------------------------ */

/*
 * A SNAT flow from @fa's client to its VIP, to its off-node backend; its
 * reply (with @payload_len bytes of @payload) as the frame the uplink
 * brings in (@frame).
 */
static void snat_flow(struct th *h, const struct fam *fa, __u16 cport,
		      const void *payload, size_t payload_len,
		      struct pkt *frame)
{
	struct tp_ct_key k = pt_ct_key(fa->client, cport, fa->vip, VPORT, TCP);
	bool v6 = pt_family_of(fa->client) == AF_INET6;
	struct pkt_spec rep;
	struct pkt out;

	st_snat_service(h, fa->vip, TCP, fa->be, TP_SVC_F_SNAT);
	assert_int_equal(st_tailnet_in(h,
				       pt_flow(fa->client, cport, fa->vip,
					       VPORT, TCP, SYN),
				       &out),
			 REDIRECT);
	rep = pt_flow(fa->be, BE_PORT, v6 ? SNAT6 : SNAT4,
		      ntohs(pt_ct_must(h, &k).snat_port), TCP, SYN | ACK);
	rep.l2 = 1;
	rep.payload = payload;
	rep.payload_len = payload_len;
	pt_build(&rep, frame);
}

/*
 * @in on the uplink is not tp_from_uplink's to judge: passed as it came,
 * and counted only as a packet into the program (RX_UPLINK).
 */
static void uplink_not_ours(struct th *h, const char *what, size_t idx,
			    struct pkt *in)
{
	struct stats before;
	struct pkt out;
	__u64 moved = 0;
	int verdict;

	in->l2 = 1;
	stats_read(h, &before);
	verdict = st_run_on(h, TH_FROM_UPLINK, st_up_ifindex, in, &out);
	trace(h, what, idx, verdict, &before);
	print_message("%s %zu: verdict %d\n", what, idx, verdict);
	assert_int_equal(verdict, PASS);
	assert_int_equal(
		pkt_compare(stderr, in->data, in->len, out.data, out.len), 0);
	for (__u32 i = 0; i < TP_STAT_MAX; i++)
		moved += stats_delta(h, &before, i);
	assert_int_equal(stats_delta(h, &before, TP_STAT_RX_UPLINK), 1);
	assert_int_equal(moved, 1);
}

/*
 * test_run refuses some frames outright (Linux 6.18: an IPv4 frame too
 * short for the IPv4 header): the program never sees them.
 */
static bool refused_here(struct th *h, const struct pkt *in)
{
	static __u8 out[PKT_MAX];
	size_t out_len = sizeof(out);
	int verdict;

	return th_run_from(h, TH_FROM_UPLINK, st_up_ifindex, 0, in->data,
			   in->len, out, &out_len, &verdict) == -EINVAL;
}

/*
 * The reply cut at every length from one byte after the Ethernet header
 * to one byte short: never the flow's (a header cut short, or an IP length the
 * frame does not hold: the kernel's to drop), passed untouched, and the
 * flow sees none of them; then padded to Ethernet's 60-byte minimum and
 * beyond: restored, redirected to the tailnet and the flow's.
 */
static void test_holds_uplink_reply_at_every_length(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	for (size_t f = 0; f < ARRAY_SIZE(fams); f++) {
		const struct fam *fa = &fams[f];
		struct tp_ct_key k =
			pt_ct_key(fa->client, 4000, fa->vip, VPORT, TCP);
		size_t iph = pt_family_of(fa->client) == AF_INET6 ? 40 : 20;
		struct pkt frame, cut, out;
		struct stats before;
		size_t refused = 0;
		int verdict;

		snat_flow(h, fa, 4000, NULL, 0, &frame);
		for (size_t len = PKT_ETH_HLEN + 1; len < frame.len; len++) {
			memcpy(cut.data, frame.data, len);
			cut.len = len;
			if (refused_here(h, &cut)) {
				refused++;
				continue;
			}
			uplink_not_ours(h, "cut", f * 1000 + len, &cut);
		}
		print_message("%zu lengths refused by test_run here\n",
			      refused);
		/* from the whole IP header on, every length reaches the program */
		assert_true(refused < iph);
		assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_SENT);
		for (size_t pad = 0; pad <= 12; pad += 6) {
			memcpy(cut.data, frame.data, frame.len);
			memset(cut.data + frame.len, 0xee, pad);
			cut.len = frame.len + pad;
			cut.l2 = 1;
			stats_read(h, &before);
			verdict = st_run_on(h, TH_FROM_UPLINK, st_up_ifindex,
					    &cut, &out);
			trace(h, "pad", f * 1000 + pad, verdict, &before);
			assert_int_equal(verdict, REDIRECT);
			assert_int_equal(
				stats_delta(h, &before, TP_STAT_REVSNAT), 1);
		}
		assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
	}
}

/*
 * The reply behind other EtherTypes: in-line VLAN tags (802.1Q, 802.1ad),
 * ARP, IPv4's and IPv6's EtherTypes byte-swapped (a read in the wrong
 * byte order would take them for IP), 0 and 0xffff, and IPv6's on the
 * IPv4 packet; whole and cut short.  None is the flow's: each passes
 * untouched.
 */
static void test_holds_uplink_reply_ethertypes(void **state)
{
	static const struct {
		__u16 type;  /* host order; the frame's bytes 12-13 */
		bool tagged; /* a 4-byte tag (VID 7) before the IPv4 type */
	} cases[] = {
		{ 0x8100, true },  { 0x88a8, true },  { 0x0806, false },
		{ 0x0008, false }, { 0xdd86, false }, { 0x0000, false },
		{ 0xffff, false }, { 0x86dd, false },
	};
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 4100, VIP4, VPORT, TCP);
	struct pkt frame, in, out;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	snat_flow(h, &fams[0], 4100, NULL, 0, &frame);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t tag = cases[i].tagged ? 4 : 0;
		static const __u8 vlan7_ipv4[4] = { 0x00, 0x07, 0x08, 0x00 };

		memcpy(in.data, frame.data, 12);
		in.data[12] = cases[i].type >> 8;
		in.data[13] = cases[i].type & 0xff;
		memcpy(in.data + 14, vlan7_ipv4, tag);
		memcpy(in.data + 14 + tag, frame.data + 14, frame.len - 14);
		/* whole, and cut at every length test_run takes */
		for (size_t len = frame.len + tag; len >= PKT_ETH_HLEN; len--) {
			in.len = len;
			if (len < frame.len + tag && refused_here(h, &in))
				continue;
			uplink_not_ours(h, "ethertype",
					cases[i].type * 100 + len, &in);
		}
	}
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_SENT);
	/* the reply itself still is the flow's */
	assert_int_equal(
		st_run_on(h, TH_FROM_UPLINK, st_up_ifindex, &frame, &out),
		REDIRECT);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
}

/*
 * Send @frame into tpup1 (so it comes in on tpup0) with a packet socket.
 * Return: 0 or -errno (no assertion: the caller restores the links).
 */
static int send_on_uplink_peer(const struct pkt *frame)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = th_uplink_peer() };
	int sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	int err = 0;

	if (sock < 0)
		return -errno;
	if (bind(sock, (struct sockaddr *)&sll, sizeof(sll)) ||
	    sendto(sock, frame->data, frame->len, 0, (struct sockaddr *)&sll,
		   sizeof(sll)) != (ssize_t)frame->len)
		err = -errno;
	close(sock);
	return err;
}

/* The first packet tptun0 sends within a second that is @len bytes long. */
static ssize_t tun_read_len(__u8 *buf, size_t cap, size_t len)
{
	struct pollfd pfd = { .fd = th_tun_file(), .events = POLLIN };
	ssize_t n;

	for (int tries = 0; tries < 25; tries++) {
		if (poll(&pfd, 1, 40) <= 0)
			continue;
		n = read(pfd.fd, buf, cap);
		if (n == (ssize_t)len)
			return n;
	}
	return -1;
}

/*
 * A non-linear reply: a frame of a page or more that a packet socket
 * sends into the veth arrives with only its Ethernet header in the linear
 * data (packet_alloc_skb()), its IP and TCP headers in a page fragment.
 * The EtherType is read directly, the headers through the helper: the
 * reply is restored and reaches the tailnet interface whole.
 */
static void test_holds_uplink_nonlinear_reply(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 4200, VIP4, VPORT, TCP);
	static __u8 payload[PKT_MAX - PKT_ETH_HLEN - 20 - 20];
	static struct pkt frame, want;
	static __u8 got[PKT_MAX];
	struct pkt_spec rep;
	ssize_t n;
	int err;

	REQUIRE_BPF();
	st_snat_env(h, PORT_LO, PORT_HI, 0);
	th_set_clock(h, 0); /* real time: the kernel's packets */
	memset(payload, 0xa5, sizeof(payload));
	snat_flow(h, &fams[0], 4200, payload, sizeof(payload), &frame);
	assert_int_equal(frame.len, PKT_MAX);
	memcpy(frame.data, (__u8[6])TH_UPLINK_MAC, 6);
	memcpy(frame.data + 6, (__u8[6])TH_UPLINK_GW_MAC, 6);
	/* the reply as it must leave: from the VIP, forwarded by the node */
	rep = pt_flow(VIP4, VPORT, CLIENT4, 4200, TCP, SYN | ACK);
	rep.payload = payload;
	rep.payload_len = sizeof(payload);
	rep.ttl = 63;
	pt_build(&rep, &want);

	err = system("ip link set tpup0 mtu 9000 && ip link set tpup1 mtu 9000"
		     " && ip link set tptun0 mtu 9000");
	err = err
		      ?: pt_tc_attach(st_up_ifindex, BPF_TC_INGRESS,
				      bpf_program__fd(
					      h->skel->progs.tp_from_uplink));
	err = err
		      ?: pt_tc_attach(
				 h->l3_ifindex, BPF_TC_EGRESS,
				 bpf_program__fd(h->skel->progs.tp_to_tailnet));
	err = err ?: send_on_uplink_peer(&frame);
	n = err ? -1 : tun_read_len(got, sizeof(got), want.len);
	pt_tc_detach_all(st_up_ifindex);
	pt_tc_detach_all(h->l3_ifindex);
	(void)!system("ip link set tpup0 mtu 1500; ip link set tpup1 mtu 1500;"
		      " ip link set tptun0 mtu 1500");
	assert_int_equal(err, 0);
	print_message("to the tailnet: %zd bytes; REVSNAT %llu\n", n,
		      (unsigned long long)th_stat(h, TP_STAT_REVSNAT));
	assert_int_equal(n, (ssize_t)want.len);
	assert_int_equal(pkt_compare(stderr, want.data, want.len, got, n), 0);
	assert_int_equal(th_stat(h, TP_STAT_REVSNAT), 1);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_SYN_RECV);
}

/* ---- direct writes of tp_nat_rewrite() ---------------------------------- */

#define CPORT	40000
#define SVCPORT 80
#define BEPORT	8080

/* A service @vip:80 of @proto to its one backend @be:8080. */
static void nat_service(struct th *h, const char *vip, __u8 proto)
{
	bool v6 = pt_family_of(vip) == AF_INET6;

	pt_service(h, vip, SVCPORT, proto, v6 ? BE6 : BE4, 1, BEPORT, NULL,
		   NULL, 0, 0);
}

/* The client's packet to the service, or the backend's reply to it. */
static struct pkt_spec nat_spec(const char *client, const char *vip, __u8 proto,
				bool reply)
{
	const char *be = pt_family_of(vip) == AF_INET6 ? BE6[0] : BE4[0];

	if (reply)
		return pt_flow(be, BEPORT, client, CPORT, proto, ACK);
	return pt_flow(client, CPORT, vip, SVCPORT, proto, ACK);
}

/* @sp through its hook: out translated as its flow says, or not at all. */
static void nat_expect(struct th *h, const struct pkt_spec *sp, bool reply,
		       const char *vip)
{
	const char *be = pt_family_of(vip) == AF_INET6 ? BE6[0] : BE4[0];
	struct pkt_spec nat = reply ? pt_nat_spec(*sp, false, vip, SVCPORT)
				    : pt_nat_spec(*sp, true, be, BEPORT);
	static struct pkt in, want;

	pt_build(sp, &in);
	pt_build(&nat, &want);
	pt_run_expect(h, reply ? TH_TO_TAILNET : TH_FROM_TAILNET, &in, PASS,
		      &want);
}

/* Open @client's flow to the service (its SYN DNATed). */
static void nat_open(struct th *h, const char *client, const char *vip,
		     __u8 proto)
{
	struct pkt_spec sp = nat_spec(client, vip, proto, false);

	nat_service(h, vip, proto);
	sp.tcp_flags = SYN;
	nat_expect(h, &sp, false, vip);
}

/*
 * The IPv4 header checksum written directly takes every value: an
 * established flow's packets in both directions with every IP id, the
 * header's checksum after the rewrite going through 0x0000 and every
 * other value the kernel helper would write (pktgen sums the whole
 * header, never incrementally).
 */
static void test_holds_ipv4_header_csum_every_value(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	nat_open(h, CLIENT4, VIP4, TCP);
	for (int reply = 0; reply < 2; reply++) {
		for (__u32 id = 0; id <= 0xffff; id++) {
			struct pkt_spec sp =
				nat_spec(CLIENT4, VIP4, TCP, reply);

			sp.ip_id = id;
			nat_expect(h, &sp, reply, VIP4);
		}
	}
}

/* The kernel's csum_replace4() (bpf_l3_csum_replace()), in the test's words. */
static __u16 csum_replace4_ref(__u16 check, __u32 from, __u32 to)
{
	__u64 sum = (__u64)(0xffff0000u | (__u16)~check) + (__u32)~from + to;

	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/*
 * A wrong IPv4 header checksum from the peer stays as wrong as the kernel
 * helper leaves it (the router behind drops it): the rewrite moves it by
 * the address's change only.  Checked at the values ones' complement
 * treats apart (0x0000, 0xffff) and a few bits off the right one.
 */
static void test_holds_ipv4_wrong_header_csum(void **state)
{
	static const __u16 wrong[] = { 0x0000, 0xffff, 0x0001,
				       0xfffe, 0x8000, 0x7fff };
	struct th *h = *state;
	static struct pkt in, want, out;
	int verdict;

	REQUIRE_BPF();
	nat_open(h, CLIENT4, VIP4, TCP);
	for (int reply = 0; reply < 2; reply++) {
		struct pkt_spec sp = nat_spec(CLIENT4, VIP4, TCP, reply);
		struct pkt_spec nat =
			reply ? pt_nat_spec(sp, false, VIP4, SVCPORT)
			      : pt_nat_spec(sp, true, BE4[0], BEPORT);
		__u32 field = reply ? 12 : 16, from, to;

		pt_build(&sp, &in);
		pt_build(&nat, &want);
		memcpy(&from, in.data + field, 4);
		memcpy(&to, want.data + field, 4);
		for (size_t i = 0; i < ARRAY_SIZE(wrong) + 4; i++) {
			__u16 check, right;

			memcpy(&right, in.data + 10, 2);
			check = i < ARRAY_SIZE(wrong) ? wrong[i]
						      : right ^ (1u << i);
			if (check == right)
				continue;
			memcpy(in.data + 10, &check, 2);
			check = csum_replace4_ref(check, from, to);
			memcpy(want.data + 10, &check, 2);
			pt_run(h, reply ? TH_TO_TAILNET : TH_FROM_TAILNET, &in,
			       &out, &verdict);
			assert_int_equal(verdict, PASS);
			assert_int_equal(out.len, want.len);
			assert_memory_equal(out.data, want.data, want.len);
			memcpy(in.data + 10, &right, 2);
		}
	}
}

/*
 * IPv4 options (IHL 6 to 15): the addresses stay at their offsets, the
 * ports move; both directions.
 */
static void test_holds_ipv4_options(void **state)
{
	static __u8 opts[40];
	struct th *h = *state;

	REQUIRE_BPF();
	memset(opts, 1, sizeof(opts)); /* NOPs */
	opts[sizeof(opts) - 1] = 0;    /* EOL */
	nat_open(h, CLIENT4, VIP4, TCP);
	for (int reply = 0; reply < 2; reply++) {
		for (size_t n = 4; n <= sizeof(opts); n += 4) {
			struct pkt_spec sp =
				nat_spec(CLIENT4, VIP4, TCP, reply);

			sp.ip_options = opts + sizeof(opts) - n;
			sp.ip_options_len = n;
			nat_expect(h, &sp, reply, VIP4);
		}
	}
}

/*
 * L4 checksums through every value: an established flow's packets with
 * every 2-byte payload, so the checksum after the rewrite takes each
 * value (UDP's 0 written as 0xffff), and UDP's "no checksum" staying 0;
 * IPv4 and IPv6 (the pseudo-header's sum, no longer bpf_csum_diff()'s).
 */
static void l4_sweep(struct th *h, const char *client, const char *vip,
		     __u8 proto, __u32 step)
{
	nat_open(h, client, vip, proto);
	for (int reply = 0; reply < 2; reply++) {
		for (__u32 v = 0; v <= 0xffff; v += step) {
			struct pkt_spec sp =
				nat_spec(client, vip, proto, reply);
			__u8 payload[2] = { v >> 8, v & 0xff };

			sp.payload = payload;
			sp.payload_len = sizeof(payload);
			nat_expect(h, &sp, reply, vip);
			if (proto != UDP || v % 4096)
				continue;
			sp.udp_zero_csum = 1;
			nat_expect(h, &sp, reply, vip);
		}
	}
}

static void test_holds_udp4_csum_every_value(void **state)
{
	REQUIRE_BPF();
	l4_sweep(*state, CLIENT4, VIP4, UDP, 1);
}

static void test_holds_udp6_csum_every_value(void **state)
{
	REQUIRE_BPF();
	l4_sweep(*state, CLIENT6, VIP6, UDP, 1);
}

static void test_holds_tcp6_csum(void **state)
{
	REQUIRE_BPF();
	l4_sweep(*state, CLIENT6, VIP6, TCP, 251);
}

/*
 * An established flow's packets cut at every length (what a peer can
 * send: an IP total length longer than the frame): never a byte written
 * past the end nor past what the rewrite may touch; printed with
 * TP_ATTACK_TRACE (verdict, output length, changed bytes) to compare
 * builds.
 */
/* @pkt's IP length field says @len (a short datagram, not a cut frame). */
static void ip_len_set(struct pkt *pkt, size_t len)
{
	__u8 *ip = pkt->data;
	__u32 sum = 0;
	__u16 v;

	if ((ip[0] >> 4) == 6) {
		v = htons(len - 40);
		memcpy(ip + 4, &v, 2);
		return;
	}
	v = htons(len);
	memcpy(ip + 2, &v, 2);
	memset(ip + 10, 0, 2);
	for (size_t i = 0; i < (size_t)(ip[0] & 0xf) * 4; i += 2)
		sum += ip[i] << 8 | ip[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	v = htons(~sum & 0xffff);
	memcpy(ip + 10, &v, 2);
}

static void cut_sweep(struct th *h, const char *client, const char *vip,
		      __u8 proto, const __u8 *opts, size_t opts_len)
{
	static struct pkt in, out;
	struct stats before;
	int verdict;

	for (int run = 0; run < 4; run++) {
		bool reply = run & 1, short_ip = run & 2;
		struct pkt_spec sp = nat_spec(client, vip, proto, reply);
		size_t full;

		sp.ip_options = opts;
		sp.ip_options_len = opts_len;
		for (size_t len = 1; len < PKT_MAX; len++) {
			char what[64];

			pt_build(&sp, &in);
			full = in.len;
			if (len >= full)
				break;
			if (short_ip && len >= (in.data[0] >> 4 == 6 ? 40 : 20))
				ip_len_set(&in, len);
			stats_read(h, &before);
			out.len = sizeof(out.data);
			if (th_run(h, reply ? TH_TO_TAILNET : TH_FROM_TAILNET,
				   h->l3_ifindex, in.data, len, out.data,
				   &out.len, &verdict))
				verdict = -1; /* test_run refuses it */
			else
				assert_int_equal(out.len, len);
			snprintf(what, sizeof(what), "cut %s %u %s%s %zu", vip,
				 proto, reply ? "out" : "in",
				 short_ip ? " short" : "", opts_len);
			trace(h, what, (int)len, verdict, &before);
			if (verdict >= 0 && getenv("TP_ATTACK_TRACE")) {
				printf("  changed:");
				for (size_t i = 0; i < len; i++)
					if (in.data[i] != out.data[i])
						printf(" %zu", i);
				printf("\n");
			}
		}
	}
}

static void test_holds_cut_flow_packets(void **state)
{
	static const __u8 opts[8] = { 1, 1, 1, 1, 1, 1, 1, 0 };
	struct th *h = *state;

	REQUIRE_BPF();
	nat_open(h, CLIENT4, VIP4, TCP);
	cut_sweep(h, CLIENT4, VIP4, TCP, NULL, 0);
	cut_sweep(h, CLIENT4, VIP4, TCP, opts, sizeof(opts));
	nat_open(h, CLIENT6, VIP6, TCP);
	cut_sweep(h, CLIENT6, VIP6, TCP, NULL, 0);
	nat_open(h, CLIENT4, VIP4, UDP);
	cut_sweep(h, CLIENT4, VIP4, UDP, NULL, 0);
	nat_open(h, CLIENT6, VIP6, UDP);
	cut_sweep(h, CLIENT6, VIP6, UDP, NULL, 0);
}

/* ---- what the direct writes cost the programs ---------------------------- */

/*
 * Does @prog, as the kernel runs it, begin with the unclone prologue the
 * verifier adds to a TC program that writes packet data directly
 * (bpf_unclone_prologue(): "if (skb->cloned) bpf_skb_pull_data(skb, 0),
 * and TC_ACT_SHOT if that fails")?  Its first three instructions: a byte
 * load from the skb, an AND with the cloned bit, a jump over the pull.
 */
static bool prog_unclones(const struct bpf_program *prog)
{
	static struct bpf_insn insns[4096];
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	info.xlated_prog_len = sizeof(insns);
	info.xlated_prog_insns = (__u64)(unsigned long)insns;
	assert_int_equal(
		bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len), 0);
	assert_true(info.xlated_prog_len >= 3 * sizeof(insns[0]));
	return insns[0].code == (BPF_LDX | BPF_MEM | BPF_B) &&
	       insns[0].src_reg == BPF_REG_1 && insns[0].dst_reg == BPF_REG_6 &&
	       insns[1].code == (BPF_ALU | BPF_AND | BPF_K) &&
	       insns[1].dst_reg == BPF_REG_6 &&
	       insns[2].code == (BPF_JMP | BPF_JEQ | BPF_K) &&
	       insns[2].dst_reg == BPF_REG_6 && insns[2].imm == 0;
}

/*
 * Everything the uplinks bring in passes tp_from_uplink, the node's own
 * traffic and other nodes' alike; what is not a SNAT flow's costs a parse
 * and a lookup and is never touched.  A program that writes packet data
 * directly makes every cloned skb (a packet a tap such as tcpdump holds,
 * a bridge's flood copy) copy its head first and drops it, uncounted,
 * when that fails: tp_from_uplink must rewrite through the helpers.
 */
static void test_uplink_never_unclones(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	print_message("tp_to_tailnet unclones: %d, tp_from_tailnet: %d\n",
		      prog_unclones(h->skel->progs.tp_to_tailnet),
		      prog_unclones(h->skel->progs.tp_from_tailnet));
	assert_false(prog_unclones(h->skel->progs.tp_from_uplink));
}

/* ---- the merged parse and flow call: every kind through both programs --- */

/* A packet kind: how to build it. */
struct kind {
	const char *name;
	void (*build)(struct pkt *out);
};

static void k_garbage0(struct pkt *out)
{
	memset(out->data, 0, 40);
	out->len = 40;
	out->l2 = 0;
}

static void k_version5(struct pkt *out)
{
	struct pkt_spec sp = nat_spec(CLIENT4, VIP4, TCP, false);

	pt_build(&sp, out);
	out->data[0] = 0x55;
}

#define K_SPEC(fn, expr)                   \
	static void fn(struct pkt *out)    \
	{                                  \
		struct pkt_spec sp = expr; \
                                           \
		pt_build(&sp, out);        \
	}

K_SPEC(k_flow4, nat_spec(CLIENT4, VIP4, TCP, false))
K_SPEC(k_reply4, nat_spec(CLIENT4, VIP4, TCP, true))
K_SPEC(k_flow6, nat_spec(CLIENT6, VIP6, TCP, false))
K_SPEC(k_reply6, nat_spec(CLIENT6, VIP6, TCP, true))
K_SPEC(k_udp4, nat_spec(CLIENT4, VIP4, UDP, false))
K_SPEC(k_udp4_reply, nat_spec(CLIENT4, VIP4, UDP, true))
K_SPEC(k_noflow_ack4, pt_flow(CLIENT4, 40001, VIP4, SVCPORT, TCP, ACK))
K_SPEC(k_noflow_ack6, pt_flow(CLIENT6, 40001, VIP6, SVCPORT, TCP, ACK))
K_SPEC(k_syn4, pt_flow(CLIENT4, 40002, VIP4, SVCPORT, TCP, SYN))
K_SPEC(k_syn_nosvc4, pt_flow(CLIENT4, 40003, VIP4, 81, TCP, SYN))
K_SPEC(k_echo4, pt_echo(CLIENT4, VIP4, 7, 1))
K_SPEC(k_echo6, pt_echo(CLIENT6, VIP6, 7, 1))
K_SPEC(k_echo_be4, pt_echo(BE4[0], CLIENT4, 7, 1))
K_SPEC(k_sctp4, pt_flow(CLIENT4, 1, VIP4, SVCPORT, 132, 0))
K_SPEC(k_udp_nosvc6, pt_flow(CLIENT6, 5, VIP6, 53, UDP, 0))

static void k_nd6(struct pkt *out, __u8 type)
{
	struct pkt_spec sp = pt_echo(CLIENT6, "ff02::1:ff00:a", 0, 0);

	sp.icmp_type = type;
	sp.ttl = 255;
	pt_build(&sp, out);
}

static void k_ns6(struct pkt *out)
{
	k_nd6(out, 135);
}

static void k_rs6(struct pkt *out)
{
	k_nd6(out, 133);
}

static void k_exthdr6(struct pkt *out, int n)
{
	struct pkt_spec sp = nat_spec(CLIENT6, VIP6, TCP, false);

	sp.exthdr[0] = 0;  /* hop-by-hop */
	sp.exthdr[1] = 60; /* destination options */
	sp.exthdr[2] = 43; /* routing */
	sp.n_exthdr = n;
	pt_build(&sp, out);
}

static void k_hbh6(struct pkt *out)
{
	k_exthdr6(out, 1);
}

static void k_three_ext6(struct pkt *out)
{
	k_exthdr6(out, 3);
}

/* An established flow's packet, fragment @which (0 first, 1 later). */
static void k_frag(struct pkt *out, const char *client, const char *vip,
		   bool reply, int which)
{
	static __u8 payload[64];
	struct pkt_spec sp = nat_spec(client, vip, TCP, reply);
	size_t l3 = pt_family_of(vip) == AF_INET6 ? 40 : 20;
	static struct pkt whole;

	memset(payload, 0x5a, sizeof(payload));
	sp.payload = payload;
	sp.payload_len = sizeof(payload);
	pt_build(&sp, &whole);
	if (which == 0)
		assert_int_equal(pkt_fragment(&whole, 0, 40, 1, 9, out), 0);
	else
		assert_int_equal(pkt_fragment(&whole, 40, whole.len - l3 - 40,
					      0, 9, out),
				 0);
}

#define K_FRAG(fn, client, vip, reply, which)           \
	static void fn(struct pkt *out)                 \
	{                                               \
		k_frag(out, client, vip, reply, which); \
	}

K_FRAG(k_frag4_first, CLIENT4, VIP4, false, 0)
K_FRAG(k_frag4_later, CLIENT4, VIP4, false, 1)
K_FRAG(k_frag4_reply_first, CLIENT4, VIP4, true, 0)
K_FRAG(k_frag4_reply_later, CLIENT4, VIP4, true, 1)
K_FRAG(k_frag6_first, CLIENT6, VIP6, false, 0)
K_FRAG(k_frag6_later, CLIENT6, VIP6, false, 1)

/*
 * ICMP errors about the flows: from the client (about a reply), the
 * backend and a router (about the client's packet), quoting @q.
 */
#define K_ERR(fn, from, to, q)                      \
	static void fn(struct pkt *out)             \
	{                                           \
		struct pkt_spec quote = q;          \
                                                    \
		pt_icmp_err(out, from, to, &quote); \
	}

K_ERR(k_err_from_client4, CLIENT4, VIP4,
      pt_flow(VIP4, SVCPORT, CLIENT4, CPORT, TCP, ACK))
K_ERR(k_err_from_be4, BE4[0], CLIENT4,
      pt_flow(CLIENT4, CPORT, BE4[0], BEPORT, TCP, ACK))
K_ERR(k_err_from_router4, ROUTER4, CLIENT4,
      pt_flow(CLIENT4, CPORT, BE4[0], BEPORT, TCP, ACK))
K_ERR(k_err_from_client6, CLIENT6, VIP6,
      pt_flow(VIP6, SVCPORT, CLIENT6, CPORT, TCP, ACK))
K_ERR(k_err_from_be6, BE6[0], CLIENT6,
      pt_flow(CLIENT6, CPORT, BE6[0], BEPORT, TCP, ACK))

/* The backend's error quoting a UDP packet with IPv4 options, cut short. */
static void k_err_opts_cut4(struct pkt *out)
{
	static const __u8 opts[8] = { 1, 1, 1, 1, 1, 1, 1, 0 };
	struct pkt_spec q = pt_flow(CLIENT4, CPORT, BE4[0], BEPORT, UDP, 0);
	static struct pkt inner;

	q.ip_options = opts;
	q.ip_options_len = sizeof(opts);
	pt_build(&q, &inner);
	pt_icmp_err_quoting(out, BE4[0], CLIENT4, &inner, 28 + 4);
}

static const struct kind kinds[] = {
	{ "garbage0", k_garbage0 },
	{ "version5", k_version5 },
	{ "flow4", k_flow4 },
	{ "reply4", k_reply4 },
	{ "flow6", k_flow6 },
	{ "reply6", k_reply6 },
	{ "udp4", k_udp4 },
	{ "udp4_reply", k_udp4_reply },
	{ "noflow_ack4", k_noflow_ack4 },
	{ "noflow_ack6", k_noflow_ack6 },
	{ "syn4", k_syn4 },
	{ "syn_nosvc4", k_syn_nosvc4 },
	{ "echo4", k_echo4 },
	{ "echo6", k_echo6 },
	{ "echo_be4", k_echo_be4 },
	{ "sctp4", k_sctp4 },
	{ "udp_nosvc6", k_udp_nosvc6 },
	{ "ns6", k_ns6 },
	{ "rs6", k_rs6 },
	{ "hbh6", k_hbh6 },
	{ "three_ext6", k_three_ext6 },
	{ "frag4_first", k_frag4_first },
	{ "frag4_later", k_frag4_later },
	{ "frag4_reply_first", k_frag4_reply_first },
	{ "frag4_reply_later", k_frag4_reply_later },
	{ "frag6_first", k_frag6_first },
	{ "frag6_later", k_frag6_later },
	{ "err_from_client4", k_err_from_client4 },
	{ "err_from_be4", k_err_from_be4 },
	{ "err_from_router4", k_err_from_router4 },
	{ "err_from_client6", k_err_from_client6 },
	{ "err_from_be6", k_err_from_be6 },
	{ "err_opts_cut4", k_err_opts_cut4 },
};

/*
 * Every kind of packet through both tailnet programs, the flows open:
 * verdict, counters and the bytes out (their sum) traced to compare
 * builds; both programs must give each kind a TC verdict (never one of
 * the internal TP_NOT_FLOW/TP_STATELESS/TP_NEW_FLOW values), the output
 * its input's length.
 */
static void test_holds_every_kind_both_programs(void **state)
{
	static struct pkt in, out;
	struct th *h = *state;
	struct stats before;

	REQUIRE_BPF();
	nat_open(h, CLIENT4, VIP4, TCP);
	nat_open(h, CLIENT6, VIP6, TCP);
	nat_open(h, CLIENT4, VIP4, UDP);
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		for (int hook = 0; hook < 2; hook++) {
			enum th_hook at =
				hook ? TH_TO_TAILNET : TH_FROM_TAILNET;
			char what[64];
			__u32 sum = 0;
			int verdict;

			kinds[i].build(&in);
			stats_read(h, &before);
			out.len = sizeof(out.data);
			assert_int_equal(th_run(h, at, h->l3_ifindex, in.data,
						in.len, out.data, &out.len,
						&verdict),
					 0);
			assert_true(verdict >= 0 && verdict < 0x100);
			assert_int_equal(out.len, in.len);
			for (size_t b = 0; b < out.len; b++)
				sum = sum * 31 + out.data[b];
			snprintf(what, sizeof(what), "kind %s %s %08x",
				 kinds[i].name, hook ? "out" : "in", sum);
			trace(h, what, (int)i, verdict, &before);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_holds_reply_ingress_table,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_icmp_error_ingress_table, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_live_uplink_entry_changes, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_first_fragment_ingress, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_uplink_reply_at_every_length, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_uplink_reply_ethertypes, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_uplink_nonlinear_reply, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_ipv4_header_csum_every_value, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_ipv4_wrong_header_csum, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(test_holds_ipv4_options,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_udp4_csum_every_value, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_udp6_csum_every_value, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(test_holds_tcp6_csum, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_holds_cut_flow_packets,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_holds_every_kind_both_programs, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(test_uplink_never_unclones,
						pt_setup, pt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
