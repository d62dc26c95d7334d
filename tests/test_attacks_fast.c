// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Attack packet tests from a hostile review of the four speed commits:
 * the coarse per-packet clock (554b264), conntrack fields written only
 * when they change (5cd855f), one lookup of a to-tailnet packet's own
 * conntrack key (69e7532) and IPv4/TCP/UDP headers read from the linear
 * data (c1214ca).  test_holds_* are attacks those commits resisted and
 * must go on resisting; test_fault_* failed on 554b264's clock (a stamp
 * of the fine clock in the coarse clock's future, across an upgrade)
 * and pin its fix.  test_holds_fast_egress_* are replies a hostile peer,
 * uplink host or pod forges against tp_to_tailnet's fast path for
 * replies (tp_fast_egress()): from an uplink, forwarded from either
 * tailnet tunnel, from the flow's other backend, another port or
 * protocol.  test_holds_v6_fast_* run IPv6 attacks (1b7f0a9) through the
 * object with and without its fast paths and compare verdict, bytes,
 * conntrack, fragment records and tp_stats packet by packet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <bpf/bpf.h>

#include "iface.h"
#include "pkttest.h"
#include "service.h"

/* IPv4 options (NOPs, then EOL) of each length the header allows */
static const uint8_t OPTS[40] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
};
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

static const size_t OPT_LENS[] = { 0, 4, 12, 40 };

static void service(struct th *h, __u8 proto)
{
	pt_service(h, VIP4, 80, proto, BE4, 1, 8080, NULL, NULL, 0, 0);
}

static const uint8_t VIP4_BYTES[4] = { 198, 19, 0, 10 };

static void fix_ip4_csum(struct pkt *p, size_t hlen)
{
	__u16 c;

	p->data[10] = 0;
	p->data[11] = 0;
	c = pkt_csum_fold(pkt_csum_partial(p->data, hlen, 0));
	memcpy(p->data + 10, &c, 2);
}

static void set_tot(struct pkt *p, size_t tot, size_t hlen)
{
	p->data[2] = tot >> 8;
	p->data[3] = tot & 0xff;
	fix_ip4_csum(p, hlen < 20 ? 20 : hlen);
}

/*
 * Both tailnet programs drop @in and count it under @reason and nothing
 * else (@reason 0: neither drops it for a parse reason).
 */
static void expect_parse_at(struct th *h, const struct pkt *in, int reason,
			    const char *what, size_t len, int line)
{
	static const int parse[] = { TP_DROP_TRUNCATED, TP_DROP_BAD_IHL,
				     TP_DROP_BAD_LEN, TP_DROP_BAD_VERSION,
				     TP_DROP_BAD_FRAG };
	__u64 before[TP_DROP_REASON_MAX], now;
	struct pkt out;
	int r, hook, verdict;
	size_t i;

	for (hook = TH_FROM_TAILNET; hook <= TH_TO_TAILNET; hook++) {
		for (r = 1; r < TP_DROP_REASON_MAX; r++)
			before[r] = th_stat(h, TP_STAT_DROP(r));
		pt_run(h, hook, in, &out, &verdict);
		if (reason && verdict != DROP)
			fail_msg(
				"line %d, %s, len %zu, hook %d: verdict %d, want drop (%d)",
				line, what, len, hook, verdict, reason);
		for (r = 1; r < TP_DROP_REASON_MAX; r++) {
			now = th_stat(h, TP_STAT_DROP(r));
			if (reason && now != before[r] + (r == reason))
				fail_msg(
					"line %d, %s, len %zu, hook %d: drop reason %d counted %llu, want reason %d",
					line, what, len, hook, r,
					(unsigned long long)(now - before[r]),
					reason);
			if (reason)
				continue;
			for (i = 0; i < sizeof(parse) / sizeof(parse[0]); i++)
				if (r == parse[i] && now != before[r])
					fail_msg(
						"line %d, %s, len %zu, hook %d: dropped as bad input (%d)",
						line, what, len, hook, r);
		}
	}
}

#define expect_parse(h, in, reason, what, len) \
	expect_parse_at(h, in, reason, what, len, __LINE__)

/*
 * A tailnet peer sends an IPv4 TCP or UDP packet, with and without
 * options, cut after every byte: the length field left as it was (longer
 * than the packet), or made to agree with the cut.  The direct reads of
 * c1214ca must end every case exactly where the helper did: the header
 * read that runs past the packet is a truncation, a length field that
 * disagrees is a bad length, an L4 header cut short is a truncation, and
 * a packet whose L4 header is whole is no bad input at all.
 */
static void cut_everywhere(struct th *h, __u8 proto)
{
	size_t l4min = proto == TCP ? 20 : 8, o, len;
	struct pkt good, p;
	char what[64];

	service(h, proto);
	for (o = 0; o < sizeof(OPT_LENS) / sizeof(OPT_LENS[0]); o++) {
		struct pkt_spec sp = pt_flow(CLIENT4, 40000 + o, VIP4, 80,
					     proto, proto == TCP ? SYN : 0);
		size_t hlen = 20 + OPT_LENS[o];

		sp.ip_options = OPT_LENS[o] ? OPTS + 40 - OPT_LENS[o] : NULL;
		sp.ip_options_len = OPT_LENS[o];
		pt_build(&sp, &good);
		assert_int_equal(good.len, hlen + l4min + 9);
		/* test_run takes no packet shorter than an Ethernet header */
		for (len = 14; len < good.len; len++) {
			snprintf(what, sizeof(what), "proto %u, options %zu",
				 proto, OPT_LENS[o]);
			/* the length field as sent: past the packet */
			p = good;
			p.len = len;
			expect_parse(h, &p,
				     len < 20 ? TP_DROP_TRUNCATED
					      : TP_DROP_BAD_LEN,
				     what, len);
			/* the length field made to agree */
			p = good;
			p.len = len;
			if (len >= 20)
				set_tot(&p, len, hlen <= len ? hlen : 20);
			else
				set_tot(&p, len, 20);
			if (len < 20)
				expect_parse(h, &p, TP_DROP_TRUNCATED, what,
					     len);
			else if (len < hlen)
				expect_parse(h, &p, TP_DROP_BAD_LEN, what, len);
			else if (len < hlen + l4min)
				expect_parse(h, &p, TP_DROP_TRUNCATED, what,
					     len);
			else
				expect_parse(h, &p, 0, what, len);
		}
		/*
		 * The whole packet sent, the length field ending the datagram
		 * inside the L4 header: the header's bytes are there in the
		 * linear data, past the datagram.  Never read from there.
		 */
		for (len = hlen; len < hlen + l4min; len++) {
			p = good;
			set_tot(&p, len, hlen);
			snprintf(what, sizeof(what),
				 "proto %u, options %zu, tot_len %zu of %zu",
				 proto, OPT_LENS[o], len, good.len);
			expect_parse(h, &p, TP_DROP_TRUNCATED, what, good.len);
		}
	}
}

static void test_holds_v4_tcp_cut_everywhere(void **state)
{
	REQUIRE_BPF();
	cut_everywhere(*state, TCP);
}

static void test_holds_v4_udp_cut_everywhere(void **state)
{
	REQUIRE_BPF();
	cut_everywhere(*state, UDP);
}

/*
 * IHL below 5, and every IHL above what the packet holds: the L4 offset
 * the header claims runs into, or past, the payload.
 */
static void test_holds_v4_ihl_every_value(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp = pt_flow(CLIENT4, 40000, VIP4, 80, TCP, SYN);
	struct pkt good, p;
	unsigned int ihl;

	REQUIRE_BPF();
	service(h, TCP);
	pt_build(&sp, &good); /* 20 + 20 + 9 bytes */
	for (ihl = 0; ihl < 5; ihl++) {
		p = good;
		p.data[0] = 0x40 | ihl;
		fix_ip4_csum(&p, 20);
		expect_parse(h, &p, TP_DROP_BAD_IHL, "ihl", ihl);
	}
	/* IHL 6..7: the L4 header read at 24/28 still fits (20 of 25/21) */
	for (ihl = 6; ihl <= 15; ihl++) {
		p = good;
		p.data[0] = 0x40 | ihl;
		fix_ip4_csum(&p, ihl * 4 <= good.len ? ihl * 4 : 20);
		if (ihl * 4 > good.len)
			expect_parse(h, &p, TP_DROP_BAD_LEN, "ihl", ihl);
		else if (ihl * 4 + 20 > good.len)
			expect_parse(h, &p, TP_DROP_TRUNCATED, "ihl", ihl);
		else
			expect_parse(h, &p, 0, "ihl", ihl);
	}
}

/*
 * Options move the L4 header: a flow opened with options and continued
 * without (and the other way round) is one flow, translated alike, for
 * every option length.
 */
static void test_holds_v4_options_move_l4(void **state)
{
	struct th *h = *state;
	size_t n;

	REQUIRE_BPF();
	service(h, TCP);
	for (n = 4; n <= 40; n += 4) {
		struct pkt_spec sp =
			pt_flow(CLIENT4, 41000 + n, VIP4, 80, TCP, SYN);
		struct tp_ct_key k =
			pt_ct_key(CLIENT4, 41000 + n, VIP4, 80, TCP);

		sp.ip_options = OPTS + 40 - n;
		sp.ip_options_len = n;
		pt_expect_dnat(h, sp, BE4[0], 8080);
		sp.ip_options = NULL;
		sp.ip_options_len = 0;
		sp.tcp_flags = ACK;
		pt_expect_dnat(h, sp, BE4[0], 8080);
		sp.ip_options = OPTS + 40 - n;
		sp.ip_options_len = n;
		pt_expect_dnat(h, sp, BE4[0], 8080);
		assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_ORIG], 3);
	}
}

/*
 * A first fragment with options, its later fragment without: the later
 * one takes the first's ports whatever the first's L4 offset was.
 */
/*
 * A UDP datagram from CLIENT4:@cport to the VIP, 64 bytes of payload
 * after @opts_len bytes of IPv4 options, cut into its first 24 bytes
 * (@first) and the rest (@later), IP id @id.
 */
static void split_after_24(__u16 cport, size_t opts_len, __u32 id,
			   struct pkt *first, struct pkt *later)
{
	static const char big[64] = "0123456789abcdef0123456789abcdef"
				    "0123456789abcdef0123456789abcde";
	struct pkt_spec sp = pt_flow(CLIENT4, cport, VIP4, 80, UDP, 0);
	struct pkt whole;

	sp.payload = big;
	sp.payload_len = sizeof(big);
	if (opts_len) {
		sp.ip_options = OPTS + sizeof(OPTS) - opts_len;
		sp.ip_options_len = opts_len;
	}
	pt_build(&sp, &whole);
	assert_int_equal(pkt_fragment(&whole, 0, 24, 1, id, first), 0);
	assert_int_equal(pkt_fragment(&whole, 24,
				      whole.len - (20 + opts_len) - 24, 0, id,
				      later),
			 0);
}

static void test_holds_v4_fragments_with_options(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 42000, VIP4, 80, UDP);
	struct pkt first, later;

	REQUIRE_BPF();
	service(h, UDP);
	split_after_24(42000, 12, 77, &first, &later);
	assert_int_equal(
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &first), PASS);
	assert_int_equal(
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &later), PASS);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_ORIG], 2);
}

/* ---- non-linear skbs ------------------------------------------------------- */

/*
 * Run @in with only its first @linear bytes in the skb's linear data,
 * if this kernel's test_run builds such skbs (a kernel that takes the
 * linear size from __sk_buff.data_end): -EINVAL when it does not, as
 * this machine's 6.18 refuses any nonzero data_end in ctx_in and always
 * copies data_in into one linear buffer.
 */
static int run_split(struct th *h, const struct pkt *in, size_t linear,
		     struct pkt *out, int *verdict)
{
	struct __sk_buff ctx = { .ifindex = h->l3_ifindex, .data_end = linear };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data,
		    .data_size_in = in->len, .data_out = out->data,
		    .data_size_out = sizeof(out->data), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(
		    bpf_program__fd(h->skel->progs.tp_from_tailnet), &opts))
		return -errno;
	out->l2 = 0;
	out->len = opts.data_size_out;
	*verdict = opts.retval;
	return 0;
}

/*
 * Headers split between the linear data and the frags at every byte: the
 * direct read must find the bytes missing and the helper must read them,
 * with the same result as a linear packet (c1214ca's fallback).  Skipped
 * where test_run builds linear skbs only (this machine's kernel; there
 * the fallback is the helper path that ran before c1214ca, unchanged,
 * and tp_load() reads the same bytes either way: skb->data and
 * data_end bound the linear part bpf_skb_load_bytes() reads first).
 */
static void test_holds_nonlinear_split_everywhere(void **state)
{
	struct th *h = *state;
	struct pkt in, want, out;
	size_t split;
	int verdict, err;

	REQUIRE_BPF();
	service(h, TCP);
	for (split = 14; split < 20 + 12 + 20 + 9; split++) {
		struct pkt_spec sp =
			pt_flow(CLIENT4, 43000 + split, VIP4, 80, TCP, SYN);

		sp.ip_options = OPTS + 28;
		sp.ip_options_len = 12;
		pt_build(&sp, &in);
		err = run_split(h, &in, split, &out, &verdict);
		if (err == -EINVAL && split == 14) {
			print_message(
				"skipped: test_run builds no non-linear skb here\n");
			skip();
		}
		assert_int_equal(err, 0);
		assert_int_equal(verdict, PASS);
		sp.daddr = BE4[0];
		sp.dport = 8080;
		pt_build(&sp, &want);
		assert_pkt_eq(want.data, want.len, out.data, out.len);
	}
}

/* ---- conntrack: fields written only when they change ---------------------- */

static __u32 sec0(void)
{
	return TP_CT_SEC(T0);
}

/*
 * One packet of the TCP flow CLIENT4:cport -> VIP4:80 (backend BE4[0])
 * and the conntrack entry it must leave: its state, the TCP flags seen
 * each way (-1: not checked) and its expiry, sec0() + @timeout.
 */
struct ct_step {
	const char *what;
	__u64 at;   /* the clock before it, ns after T0 (0: as it is) */
	bool reply; /* the backend's packet (else the client's) */
	__u8 flags;
	__u8 state;
	int orig_flags, reply_flags;
	__u32 timeout;
};

/*
 * The backend's packet @sp at @now, when its flow is dead: whatever its
 * verdict, it is not reverse-translated (not from the VIP).
 */
static void dead_flow_reply(struct th *h, __u64 now, struct pkt_spec sp)
{
	struct pkt in, out;
	int verdict;

	th_set_clock(h, now);
	pt_build(&sp, &in);
	pt_run(h, TH_TO_TAILNET, &in, &out, &verdict);
	if (verdict == PASS)
		assert_memory_not_equal(out.data + 12, VIP4_BYTES, 4);
}

/* Each step's packet must pass and leave the entry it says; a failure names the step. */
static void ct_steps(struct th *h, const struct tp_ct_key *k,
		     const struct ct_step *steps, size_t n)
{
	__u16 cport = ntohs(k->sport);
	struct tp_ct_entry e;

	for (size_t i = 0; i < n; i++) {
		const struct ct_step *s = &steps[i];
		int v;

		if (s->at)
			th_set_clock(h, T0 + s->at);
		v = s->reply ? pt_send_out(h, BE4[0], 8080, CLIENT4, cport, TCP,
					   s->flags)
			     : pt_send_in(h, CLIENT4, cport, VIP4, 80, TCP,
					  s->flags);
		e = pt_ct_must(h, k);
		if (v != PASS || e.state != s->state ||
		    e.expires_s != sec0() + s->timeout ||
		    (s->orig_flags >= 0 &&
		     e.tcp_flags[TP_CT_DIR_ORIG] != s->orig_flags) ||
		    (s->reply_flags >= 0 &&
		     e.tcp_flags[TP_CT_DIR_REPLY] != s->reply_flags))
			print_error("step %zu, %s:\n", i + 1, s->what);
		assert_int_equal(v, PASS);
		assert_int_equal(e.state, s->state);
		if (s->orig_flags >= 0)
			assert_int_equal(e.tcp_flags[TP_CT_DIR_ORIG],
					 s->orig_flags);
		if (s->reply_flags >= 0)
			assert_int_equal(e.tcp_flags[TP_CT_DIR_REPLY],
					 s->reply_flags);
		assert_int_equal(e.expires_s, sec0() + s->timeout);
	}
}

/* ct_steps() of a TCP flow from CLIENT4:@cport to the TCP service. */
static void service_ct_steps(struct th *h, __u16 cport,
			     const struct ct_step *steps, size_t n)
{
	struct tp_ct_key k = pt_ct_key(CLIENT4, cport, VIP4, 80, TCP);

	service(h, TCP);
	ct_steps(h, &k, steps, n);
}

/*
 * A whole handshake inside one second: the second of expiry never moves,
 * yet the timeout does (SYN's, then the established one once answered).
 * 5cd855f compares the computed expiry, not the second: it must move.
 */
static void test_holds_ct_handshake_in_one_second(void **state)
{
	static const struct ct_step steps[] = {
		{ "SYN", 0, false, SYN, TP_CT_SYN_SENT, -1, -1,
		  TP_CT_TIMEOUT_SYN },
		{ "SYN-ACK", SEC_NS / 4, true, SYN | ACK, TP_CT_SYN_RECV, SYN,
		  SYN | ACK, TP_CT_TIMEOUT_SYN },
		{ "ACK", SEC_NS / 2, false, ACK, TP_CT_ESTABLISHED, SYN | ACK,
		  -1, TP_CT_TIMEOUT_ESTABLISHED },
		/* FIN from each side and RST, each in the same second */
		{ "the client's FIN", 0, false, FIN | ACK, TP_CT_FIN_WAIT, -1,
		  -1, TP_CT_TIMEOUT_FIN },
		{ "the backend's FIN", 0, true, FIN | ACK, TP_CT_CLOSE, -1,
		  SYN | ACK | FIN, TP_CT_TIMEOUT_CLOSE },
		/* a closed flow is closed for good: an ACK opens nothing */
		{ "an ACK once closed", 0, false, ACK, TP_CT_CLOSE, -1, -1,
		  TP_CT_TIMEOUT_CLOSE },
	};

	REQUIRE_BPF();
	service_ct_steps(*state, 44000, steps, ARRAY_SIZE(steps));
}

/* A reply's RST resets in the same second the flow was established. */
static void test_holds_ct_reset_in_same_second(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 44001, VIP4, 80, TCP);

	REQUIRE_BPF();
	service(h, TCP);
	pt_send_in(h, CLIENT4, 44001, VIP4, 80, TCP, SYN);
	pt_send_out(h, BE4[0], 8080, CLIENT4, 44001, TCP, SYN | ACK);
	pt_send_in(h, CLIENT4, 44001, VIP4, 80, TCP, ACK);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_ESTABLISHED);
	ct_steps(h, &k,
		 &(struct ct_step){ "the backend's RST", 0, true, RST | ACK,
				    TP_CT_RESET, -1, SYN | ACK | RST,
				    TP_CT_TIMEOUT_CLOSE },
		 1);
	/* the reset flow dies on time: its late reply is no reply */
	dead_flow_reply(h, T0 + (__u64)TP_CT_TIMEOUT_CLOSE * SEC_NS,
			pt_flow(BE4[0], 8080, CLIENT4, 44001, TCP, ACK));
}

/*
 * A mid-stream pickup keeps the SYN timeout until the other side
 * answers; the answer moves the expiry in the same second although the
 * state does not change (its bytes do).
 */
static void test_holds_ct_pickup_answered_in_same_second(void **state)
{
	static const struct ct_step steps[] = {
		{ "a mid-stream ACK", 0, false, ACK, TP_CT_ESTABLISHED, -1, -1,
		  TP_CT_TIMEOUT_SYN },
		{ "the answer", SEC_NS / 3, true, ACK, TP_CT_ESTABLISHED, -1,
		  -1, TP_CT_TIMEOUT_ESTABLISHED },
	};

	REQUIRE_BPF();
	service_ct_steps(*state, 44002, steps, ARRAY_SIZE(steps));
}

/*
 * Expiry moves with the second, not with every packet: a packet half a
 * second on leaves it, one a second on moves it.  A reply exactly at the
 * expiry second finds no flow.
 */
static void test_holds_ct_expiry_by_the_second(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 44003, VIP4, 80, UDP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	service(h, UDP);
	assert_int_equal(pt_send_in(h, CLIENT4, 44003, VIP4, 80, UDP, 0), PASS);
	assert_int_equal(pt_ct_must(h, &k).expires_s,
			 sec0() + TP_CT_TIMEOUT_UDP);
	th_set_clock(h, T0 + SEC_NS - 1);
	assert_int_equal(pt_send_in(h, CLIENT4, 44003, VIP4, 80, UDP, 0), PASS);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.expires_s, sec0() + TP_CT_TIMEOUT_UDP);
	assert_int_equal(e.packets[TP_CT_DIR_ORIG], 2);
	th_set_clock(h, T0 + SEC_NS);
	assert_int_equal(pt_send_out(h, BE4[0], 8080, CLIENT4, 44003, UDP, 0),
			 PASS);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.state, TP_CT_REPLIED);
	assert_int_equal(e.expires_s, sec0() + 1 + TP_CT_TIMEOUT_UDP);
	/* the expiry second itself: dead, its reply not translated back */
	dead_flow_reply(h, T0 + (1ULL + TP_CT_TIMEOUT_UDP) * SEC_NS,
			pt_flow(BE4[0], 8080, CLIENT4, 44003, UDP, 0));
	e = pt_ct_must(h, &k);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 1);
}

/* ---- tp_egress_flow: the packet's own entry, looked up once ------------- */

/*
 * The backend of an expired DNAT flow opens a flow of its own from the
 * very tuple of that flow's reply: its own key holds the dead flow's
 * reply-key entry, which is neither a reply (the flow is dead) nor its
 * flow.  It is a new flow from the cluster side, and the old flow's
 * translation is never applied.
 */
static void test_holds_egress_own_key_is_dead_reply_key(void **state)
{
	struct th *h = *state;
	struct tp_ct_key rk = pt_ct_key(BE4[0], 8080, CLIENT4, 45000, TCP);
	struct pkt in, out;
	struct tp_ct_entry e;
	int verdict;

	REQUIRE_BPF();
	service(h, TCP);
	pt_unindex(h); /* the reply-key layout */
	rk.zone = 0;
	assert_int_equal(pt_send_in(h, CLIENT4, 45000, VIP4, 80, TCP, SYN),
			 PASS);
	/* the reply key, under the backend's tuple */
	if (pt_ct_get(h, &rk, &e)) {
		rk.zone = TH_ZONE;
		e = pt_ct_must(h, &rk);
	}
	assert_true(e.flags & TP_CT_F_REPLY_KEY);
	th_set_clock(h, T0 + (__u64)(TP_CT_TIMEOUT_SYN + 1) * SEC_NS);
	pt_build(FLOWP(BE4[0], 8080, CLIENT4, 45000, TCP, SYN), &in);
	pt_run(h, TH_TO_TAILNET, &in, &out, &verdict);
	assert_int_equal(verdict, PASS);
	/* untranslated: the backend's own address */
	assert_pkt_eq(in.data, in.len, out.data, out.len);
	e = pt_ct_must(h, &(struct tp_ct_key){ .saddr = rk.saddr,
					       .daddr = rk.daddr,
					       .sport = rk.sport,
					       .dport = rk.dport,
					       .proto = TCP,
					       .zone = TH_ZONE });
	assert_false(e.flags & TP_CT_F_REPLY_KEY);
	assert_true(e.flags & TP_CT_F_EGRESS);
}

/*
 * A flow the cluster side started: its own entry serves its next packet
 * (one lookup), the tailnet's reply is that flow's, and once expired the
 * next SYN starts it over while a bare ACK never revives it as the old.
 */
static void test_holds_egress_flow_lifecycle(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(BE4[1], 5000, CLIENT4, 22, TCP);
	struct tp_ct_entry e;

	REQUIRE_BPF();
	assert_int_equal(pt_send_out(h, BE4[1], 5000, CLIENT4, 22, TCP, SYN),
			 PASS);
	e = pt_ct_must(h, &k);
	assert_true(e.flags & TP_CT_F_EGRESS);
	assert_int_equal(e.state, TP_CT_SYN_SENT);
	assert_int_equal(
		pt_send_in(h, CLIENT4, 22, BE4[1], 5000, TCP, SYN | ACK), PASS);
	assert_int_equal(pt_send_out(h, BE4[1], 5000, CLIENT4, 22, TCP, ACK),
			 PASS);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.state, TP_CT_ESTABLISHED);
	assert_int_equal(e.packets[TP_CT_DIR_ORIG], 2);
	assert_int_equal(e.packets[TP_CT_DIR_REPLY], 1);
	/* closed by RST, reopened by a SYN in the same second */
	assert_int_equal(pt_send_out(h, BE4[1], 5000, CLIENT4, 22, TCP, RST),
			 PASS);
	assert_int_equal(pt_ct_must(h, &k).state, TP_CT_RESET);
	assert_int_equal(pt_send_out(h, BE4[1], 5000, CLIENT4, 22, TCP, SYN),
			 PASS);
	e = pt_ct_must(h, &k);
	assert_int_equal(e.state, TP_CT_SYN_SENT);
	assert_int_equal(e.packets[TP_CT_DIR_ORIG], 1);
}

/* ---- the coarse clock ------------------------------------------------------ */

/*
 * On the real clock, the second a new flow records is never ahead of
 * the CLOCK_MONOTONIC second userspace's GC reads after it (the coarse
 * clock lags the fine one, never leads it), nor more than a second
 * behind the one read before it.
 */
static void test_holds_coarse_clock_never_ahead(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 46000, VIP4, 80, UDP);
	struct timespec a, b;
	struct tp_ct_entry e;
	int i;

	REQUIRE_BPF();
	service(h, UDP);
	th_set_clock(h, 0);
	for (i = 0; i < 50; i++) {
		k.sport = htons(46000 + i);
		clock_gettime(CLOCK_MONOTONIC, &a);
		assert_int_equal(
			pt_send_in(h, CLIENT4, 46000 + i, VIP4, 80, UDP, 0),
			PASS);
		clock_gettime(CLOCK_MONOTONIC, &b);
		e = pt_ct_must(h, &k);
		assert_true(e.created_s <= (__u32)b.tv_sec);
		assert_true(e.created_s + 1 >= (__u32)a.tv_sec);
		assert_int_equal(e.expires_s - e.created_s, TP_CT_TIMEOUT_UDP);
	}
}

/*
 * Timestamps of the fine clock read by the coarse one.  Before 554b264
 * the programs stamped affinity entries and fragment records with
 * bpf_ktime_get_ns(); the new programs read bpf_ktime_get_coarse_ns(),
 * which lags it by up to a tick, and the loader's zero-drop upgrade
 * keeps both pinned maps: a stamp the old program wrote within the tick
 * before the swap is in the new program's future.  Subtracted unguarded
 * (now - stamp), it reads as 584 years old: the client's affinity is
 * lost, and the later fragments of a datagram whose first went through
 * the old program find no record (dropped where the zone denies by
 * default, untracked elsewhere).  A stamp ahead of the clock is fresh.
 */
#define TICK_NS (SEC_NS / 250) /* a 4 ms tick (HZ=250) */

static void test_fault_affinity_stamp_ahead_of_clock(void **state)
{
	struct th *h = *state;
	struct pkt_spec sp = pt_flow(CLIENT4, 30000, VIP4, 80, TCP, SYN);
	struct tp_affinity_key ak;
	struct tp_affinity aff, fresh;
	int first, i;

	REQUIRE_BPF();
	first = pt_affinity_first(h, 10, &ak, &aff);
	for (i = 1; i <= 10; i++) {
		/* the old program's stamp, a tick ahead of the coarse clock */
		fresh = aff;
		fresh.last_ns = T0 + TICK_NS;
		assert_int_equal(bpf_map_update_elem(h->maps.affinity, &ak,
						     &fresh, BPF_ANY),
				 0);
		sp.sport = 30000 + i;
		assert_int_equal(pt_backend_of(h, &sp, BE4, 10), first);
	}
}

static void test_fault_frag_record_ahead_of_clock(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 42001, VIP4, 80, UDP);
	struct pkt first, later;
	struct tp_frag_key fk;
	struct tp_frag f;

	REQUIRE_BPF();
	service(h, UDP);
	pt_deflt(h, TH_ZONE, TP_VERDICT_ALLOW);
	split_after_24(42001, 0, 78, &first, &later);
	assert_int_equal(
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &first), PASS);
	/* the record, as the old program would have stamped it */
	assert_int_equal(bpf_map_get_next_key(h->maps.frags, NULL, &fk), 0);
	assert_int_equal(bpf_map_lookup_elem(h->maps.frags, &fk, &f), 0);
	f.seen_ns = T0 + TICK_NS;
	assert_int_equal(bpf_map_update_elem(h->maps.frags, &fk, &f, BPF_ANY),
			 0);
	assert_int_equal(
		pt_send_on(h, TH_FROM_TAILNET, h->l3_ifindex, 0, &later), PASS);
	assert_int_equal(th_stat(h, TP_STAT_FRAG_NO_RECORD), 0);
	assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_ORIG], 2);
}

/* ---- tp_to_tailnet's fast path for replies (tp_fast_egress()) ------------ */

/* Pods of the cluster network, behind no route: no uplink leads to them. */
static const char *POD_BE[] = { "10.244.1.5", "10.244.1.6" };

/*
 * An established TCP flow CLIENT4:@cport -> VIP4:80 to one of @n pods
 * of POD_BE, a DNAT flow without a reply key (TP_CT_F_RINDEX) whose
 * replies tp_fast_egress() takes when this host sends them: which pod.
 */
static const char *pod_flow(struct th *h, __u16 cport, size_t n,
			    struct tp_ct_key *k)
{
	struct tp_ct_entry e;
	struct tp_addr be;
	const char *pod;

	pt_service(h, VIP4, 80, TCP, POD_BE, n, 8080, NULL, NULL, 0, 0);
	*k = pt_ct_key(CLIENT4, cport, VIP4, 80, TCP);
	assert_int_equal(pt_send_in(h, CLIENT4, cport, VIP4, 80, TCP, SYN),
			 PASS);
	e = pt_ct_must(h, k);
	assert_int_equal(e.flags & (TP_CT_F_DNAT | TP_CT_F_RINDEX),
			 TP_CT_F_DNAT | TP_CT_F_RINDEX);
	be = pt_addr(POD_BE[0]);
	pod = !memcmp(&e.nat_addr, &be, sizeof(be)) ? POD_BE[0] : POD_BE[1];
	pt_expect_revnat(h, pt_flow(pod, 8080, CLIENT4, cport, TCP, SYN | ACK),
			 VIP4, 80);
	assert_int_equal(pt_send_in(h, CLIENT4, cport, VIP4, 80, TCP, ACK),
			 PASS);
	assert_int_equal(pt_ct_must(h, k).state, TP_CT_ESTABLISHED);
	return pod;
}

/*
 * @sp leaving to the tailnet, arrived on @in_ifindex: verdict @verdict,
 * counted under drop reason @reason when one (0: none), never reverse
 * translated, and flow @k's entry as it was.
 */
static void forged_reply(struct th *h, const struct tp_ct_key *k,
			 const struct pkt_spec *sp, int in_ifindex, int verdict,
			 int reason)
{
	struct tp_ct_entry before = pt_ct_must(h, k), after;
	__u64 drops = reason ? pt_drops(h, reason) : 0;
	__u64 revnat = th_stat(h, TP_STAT_REVNAT);
	struct pkt in;

	pt_build(sp, &in);
	assert_int_equal(
		pt_send_on(h, TH_TO_TAILNET, h->l3_ifindex, in_ifindex, &in),
		verdict);
	if (reason)
		assert_int_equal(pt_drops(h, reason), drops + 1);
	assert_int_equal(th_stat(h, TP_STAT_REVNAT), revnat);
	after = pt_ct_must(h, k);
	assert_memory_equal(&before, &after, sizeof(before));
}

/*
 * A RST of a pod's reply, forged by a host on the uplink's segment (its
 * source is behind no uplink): the reverse-path check drops it, the flow
 * is not reset nor counted.  The fast path must leave an uplink's
 * packets to the full path, which asks the FIB; this host's genuine
 * reply still leaves from the VIP.
 */
static void test_holds_fast_egress_reply_forged_on_uplink(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k;
	const char *pod;
	int up;

	REQUIRE_BPF();
	up = th_uplink(h);
	assert_true(up > 0);
	pod = pod_flow(h, 46000, 1, &k);
	forged_reply(h, &k, FLOWP(pod, 8080, CLIENT4, 46000, TCP, RST | ACK),
		     up, DROP, TP_DROP_REVERSE_PATH);
	pt_expect_revnat(h, pt_flow(pod, 8080, CLIENT4, 46000, TCP, ACK), VIP4,
			 80);
}

/*
 * The reply tuple of a flow of zone 1 forwarded from the tailnet: from
 * zone 2's tunnel, the zone guard drops it; from zone 1's own (a
 * hairpin, decided at its ingress), it passes untranslated.  Neither
 * resets nor counts the flow: a peer cannot forge its pod's replies.
 */
static void test_holds_fast_egress_reply_from_tailnet(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k;
	const char *pod;

	REQUIRE_BPF();
	pod = pod_flow(h, 46001, 1, &k);
	forged_reply(h, &k, FLOWP(pod, 8080, CLIENT4, 46001, TCP, RST),
		     h->l3_ifindex2, DROP, TP_DROP_ZONE);
	forged_reply(h, &k, FLOWP(pod, 8080, CLIENT4, 46001, TCP, RST),
		     h->l3_ifindex, PASS, 0);
	pt_expect_revnat(h, pt_flow(pod, 8080, CLIENT4, 46001, TCP, ACK), VIP4,
			 80);
}

/*
 * The other backend of the flow's service (listed with the same
 * frontend in tp_be_frontends), or a pod spoofing it, sends the flow's
 * reply: not the flow's (its backend is the first), never from the VIP,
 * the flow untouched; this host's packets, the pod's own replies and
 * another port's are each judged as the full path judges them.
 */
static void test_holds_fast_egress_reply_from_other_backend(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k;
	const char *pod, *other;
	int in;

	REQUIRE_BPF();
	pod = pod_flow(h, 46002, 2, &k);
	other = pod == POD_BE[0] ? POD_BE[1] : POD_BE[0];
	for (in = 0; in < 2; in++) {
		/* from this host, and from a pod's interface */
		int in_ifindex = in ? 4242 : 0;
		struct tp_ct_entry e;

		forged_reply(h, &k,
			     FLOWP(other, 8080, CLIENT4, 46002, TCP, RST),
			     in_ifindex, PASS, 0);
		/* the backend's other port, a UDP packet of its tuple */
		forged_reply(h, &k, FLOWP(pod, 8081, CLIENT4, 46002, TCP, RST),
			     in_ifindex, PASS, 0);
		e = pt_ct_must(h, &k);
		forged_reply(h, &k, FLOWP(pod, 8080, CLIENT4, 46002, UDP, 0),
			     in_ifindex, PASS, 0);
		assert_int_equal(pt_ct_must(h, &k).packets[TP_CT_DIR_REPLY],
				 e.packets[TP_CT_DIR_REPLY]);
	}
	pt_expect_revnat(h, pt_flow(pod, 8080, CLIENT4, 46002, TCP, ACK), VIP4,
			 80);
}

/* ---- IPv6 on both fast paths, against the object without them ---------- */

/*
 * The object loaded twice, with its fast paths and without
 * (th_knobs.no_fast_path): every packet below goes through both and must
 * leave the same verdict, bytes, conntrack, fragment records and
 * counters (1b7f0a9's claim, attacked with what a tailnet peer or the
 * cluster side can send).
 */
struct fx {
	struct th fast, slow;
};

static int fx_setup(void **state)
{
	static const struct th_knobs slow = { .no_fast_path = true };
	struct fx *x = calloc(1, sizeof(*x));

	if (!x)
		return -1;
	*state = x;
	if (th_unavailable())
		return 0;
	if (th_open(&x->fast, NULL) || th_open(&x->slow, &slow))
		return -1;
	if (x->fast.l3_ifindex != x->slow.l3_ifindex)
		return -1;
	th_set_clock(&x->fast, T0);
	th_set_clock(&x->slow, T0);
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *x = *state;

	if (x && x->fast.skel)
		th_close(&x->fast);
	if (x && x->slow.skel)
		th_close(&x->slow);
	free(x);
	return 0;
}

static size_t fx_rec_len;

static int fx_rec_cmp(const void *a, const void *b)
{
	return memcmp(a, b, fx_rec_len);
}

/*
 * The entries of map @fd as key-value records, sorted, in *@out: how
 * many.  Conntrack entries (@ct) without their service and backend ids,
 * which each object's own allocator gave.
 */
static size_t fx_dump(int fd, bool ct, __u8 **out, size_t *rec)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	size_t n = 0, cap = 16, r;
	__u8 *buf;

	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	r = info.key_size + info.value_size;
	buf = malloc(cap * r);
	assert_non_null(buf);
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap * r);
			assert_non_null(buf);
		}
		if (bpf_map_get_next_key(fd, n ? buf + (n - 1) * r : NULL,
					 buf + n * r))
			break;
		assert_int_equal(
			bpf_map_lookup_elem(fd, buf + n * r,
					    buf + n * r + info.key_size),
			0);
		if (ct)
			memset(buf + n * r + info.key_size +
				       offsetof(struct tp_ct_entry, svc_id),
			       0, 2 * sizeof(__u32));
		n++;
	}
	fx_rec_len = r;
	qsort(buf, n, r, fx_rec_cmp);
	*out = buf;
	*rec = r;
	return n;
}

static void fx_map_eq(const char *file, int line, int fa, int fb, bool ct,
		      const char *what)
{
	size_t r, na, nb, i;
	__u8 *a, *b;

	na = fx_dump(fa, ct, &a, &r);
	nb = fx_dump(fb, ct, &b, &r);
	for (i = 0; i < na && i < nb; i++)
		if (memcmp(a + i * r, b + i * r, r))
			break;
	if (i < na && i < nb)
		for (size_t o = 0; o < r; o++)
			if (a[i * r + o] != b[i * r + o])
				print_error(
					"  %s byte %zu: %02x with the fast path, %02x without\n",
					what, o, a[i * r + o], b[i * r + o]);
	free(a);
	free(b);
	if (na != nb || i < na)
		PT_FAIL("%s: %zu entries with the fast path, %zu without, the %zuth differs",
			what, na, nb, i + 1);
}

/*
 * Both objects' conntrack, fragment records and counters alike (not
 * tp_svc_stats: each object numbers its services itself).
 */
static void fx_state_eq(const char *file, int line, struct fx *x)
{
	__u32 id;

	fx_map_eq(file, line, x->fast.maps.ct, x->slow.maps.ct, true, "tp_ct");
	fx_map_eq(file, line, x->fast.maps.ct_any, x->slow.maps.ct_any, true,
		  "tp_ct_any");
	fx_map_eq(file, line, x->fast.maps.frags, x->slow.maps.frags, false,
		  "tp_frags");
	for (id = 0; id < TP_STAT_MAX; id++)
		if (th_stat(&x->fast, id) != th_stat(&x->slow, id))
			PT_FAIL("tp_stats %u: %llu with the fast path, %llu without",
				id, (unsigned long long)th_stat(&x->fast, id),
				(unsigned long long)th_stat(&x->slow, id));
}

/*
 * @in through @hook of both objects on @ifindex, arrived on @in_ifindex:
 * the same verdict (returned), bytes (in *@out when not NULL) and state.
 */
static int fx_send_at(const char *file, int line, struct fx *x,
		      enum th_hook hook, int ifindex, int in_ifindex,
		      const struct pkt *in, struct pkt *out)
{
	static __u8 of[PKT_MAX], os[PKT_MAX];
	size_t lf = sizeof(of), ls = sizeof(os);
	int vf = -1, vs = -1;

	PT_EQ(th_run_from(&x->fast, hook, ifindex, in_ifindex, in->data,
			  in->len, of, &lf, &vf),
	      0);
	PT_EQ(th_run_from(&x->slow, hook, ifindex, in_ifindex, in->data,
			  in->len, os, &ls, &vs),
	      0);
	if (vf != vs)
		PT_FAIL("verdict %d with the fast path, %d without (len %zu)",
			vf, vs, in->len);
	PT_PKT_EQ(os, ls, of, lf);
	fx_state_eq(file, line, x);
	if (out) {
		memcpy(out->data, of, lf);
		out->len = lf;
		out->l2 = in->l2;
	}
	return vf;
}

#define fx_send(...) fx_send_at(__FILE__, __LINE__, __VA_ARGS__)

static int fx_spec_at(const char *file, int line, struct fx *x,
		      enum th_hook hook, int ifindex, int in_ifindex,
		      struct pkt_spec sp, struct pkt *out)
{
	struct pkt in;

	pt_build_at(file, line, &sp, &in);
	return fx_send_at(file, line, x, hook, ifindex, in_ifindex, &in, out);
}

#define fx_spec(...) fx_spec_at(__FILE__, __LINE__, __VA_ARGS__)

/* Pods of the cluster network, behind no route (POD_BE's IPv6 kin). */
static const char *POD6[] = { "fd00:10:244::5", "fd00:10:244::6" };

/*
 * Both objects: VIP6:80 and VIP4:80, TCP and UDP, to @n of @be6 and to
 * BE4[0] (port 8080); loopback an Ethernet tailnet interface of TH_ZONE
 * (FX_LO), beside the L3 tunnel.
 */
#define FX_LO 1

static void fx_prepare(struct fx *x, const char **be6, size_t n)
{
	struct tp_iface lo = { .flags = TP_IFACE_F_TAILNET, .zone = TH_ZONE };
	struct th *hs[2] = { &x->fast, &x->slow };
	int i;

	for (i = 0; i < 2; i++) {
		pt_service(hs[i], VIP6, 80, TCP, be6, n, 8080, NULL, NULL, 0,
			   0);
		pt_service(hs[i], VIP6, 80, UDP, be6, n, 8080, NULL, NULL, 0,
			   0);
		pt_service(hs[i], VIP4, 80, TCP, BE4, 1, 8080, NULL, NULL, 0,
			   0);
		pt_service(hs[i], VIP4, 80, UDP, BE4, 1, 8080, NULL, NULL, 0,
			   0);
		assert_int_equal(tp_iface_set(&hs[i]->maps, FX_LO, &lo), 0);
	}
}

/* The interface of a packet with an Ethernet header (@l2) or without. */
static int fx_if(struct fx *x, bool l2)
{
	return l2 ? FX_LO : x->fast.l3_ifindex;
}

/*
 * Open the flow @client:@cport -> @vip:80/@proto from the tailnet (@l2:
 * on FX_LO), answered by its backend from this host and continued: both
 * directions established.  Its backend's address, as text, in @be.
 */
static void fx_open(struct fx *x, bool l2, __u8 proto, const char *client,
		    __u16 cport, const char *vip, char *be, size_t be_len)
{
	struct tp_ct_key k = pt_ct_key(client, cport, vip, 80, proto);
	struct pkt_spec sp = pt_flow(client, cport, vip, 80, proto, SYN);
	struct tp_ct_entry e;
	int fam = pt_family_of(client);

	k.zone = TH_ZONE;
	sp.l2 = l2;
	assert_int_equal(fx_spec(x, TH_FROM_TAILNET, fx_if(x, l2), 0, sp, NULL),
			 PASS);
	e = pt_ct_must(&x->fast, &k);
	assert_true(e.flags & TP_CT_F_DNAT);
	assert_non_null(inet_ntop(fam,
				  fam == AF_INET6 ? (void *)e.nat_addr.b
						  : (void *)&e.nat_addr.w[3],
				  be, be_len));
	sp = pt_flow(be, 8080, client, cport, proto, SYN | ACK);
	sp.l2 = l2;
	assert_int_equal(fx_spec(x, TH_TO_TAILNET, fx_if(x, l2), 0, sp, NULL),
			 PASS);
	sp = pt_flow(client, cport, vip, 80, proto, ACK);
	sp.l2 = l2;
	assert_int_equal(fx_spec(x, TH_FROM_TAILNET, fx_if(x, l2), 0, sp, NULL),
			 PASS);
}

static void fx_set_plen(struct pkt *p, size_t l3, size_t plen)
{
	p->data[l3 + 4] = plen >> 8;
	p->data[l3 + 5] = plen & 0xff;
}

/*
 * A packet of an established IPv6 flow (the client's from the tailnet,
 * or its backend's reply leaving to it), cut after every byte with its
 * payload length as sent or made to agree; then whole, with every
 * payload length from 0 (a jumbogram's, BIG TCP's) to two past the
 * packet's, and with bytes after the datagram.
 */
static void fx_cut_v6(struct fx *x, __u8 proto, bool l2, bool reply)
{
	static const char pay[9] = "01234567";
	__u16 cport = 47000 + proto * 4 + l2 * 2 + reply;
	size_t l3 = l2 ? 14 : 0, len, plen;
	enum th_hook hook = reply ? TH_TO_TAILNET : TH_FROM_TAILNET;
	struct pkt_spec sp;
	struct pkt good, p;
	char be[64];

	fx_open(x, l2, proto, CLIENT6, cport, VIP6, be, sizeof(be));
	sp = reply ? pt_flow(be, 8080, CLIENT6, cport, proto, ACK)
		   : pt_flow(CLIENT6, cport, VIP6, 80, proto, ACK);
	sp.l2 = l2;
	sp.payload = pay;
	sp.payload_len = sizeof(pay);
	pt_build(&sp, &good);
	/* the whole packet, as the fast path takes it */
	assert_int_equal(fx_send(x, hook, fx_if(x, l2), 0, &good, NULL), PASS);
	/*
	 * test_run takes no packet shorter than an Ethernet header, nor an
	 * IPv6 frame without the whole IPv6 header
	 */
	for (len = l2 ? l3 + 40 : 14; len < good.len; len++) {
		p = good;
		p.len = len;
		fx_send(x, hook, fx_if(x, l2), 0, &p, NULL);
		if (len < l3 + 40)
			continue;
		fx_set_plen(&p, l3, len - l3 - 40);
		fx_send(x, hook, fx_if(x, l2), 0, &p, NULL);
	}
	for (plen = 0; plen <= good.len - l3 - 40 + 2; plen++) {
		p = good;
		fx_set_plen(&p, l3, plen);
		fx_send(x, hook, fx_if(x, l2), 0, &p, NULL);
		memset(p.data + p.len, 0xa5, 3);
		p.len += 3;
		fx_send(x, hook, fx_if(x, l2), 0, &p, NULL);
	}
}

static void test_holds_v6_fast_cut_everywhere(void **state)
{
	struct fx *x = *state;
	int l2, reply;

	REQUIRE_BPF();
	fx_prepare(x, BE6, 1);
	for (l2 = 0; l2 < 2; l2++)
		for (reply = 0; reply < 2; reply++) {
			fx_cut_v6(x, TCP, l2, reply);
			fx_cut_v6(x, UDP, l2, reply);
		}
}

/*
 * The next header of an established flow's packet (and of its reply)
 * made each extension header, AH, ESP, no next header, ICMPv6 or the
 * other transport, the bytes after it left as they were; then real
 * extension headers before the TCP or UDP header (hop-by-hop, routing,
 * an atomic fragment, destination options), and a real fragment pair.
 * Only the full path may judge any of them.
 */
static void test_holds_v6_fast_next_headers(void **state)
{
	static const __u8 nhs[] = { 0,	 43,  44, 50, 51, 60, 135, 139, 140,
				    253, 254, 59, 58, 6,  17, 4,   41,	255 };
	static const __u8 ext[][4] = { { 1, 0 },      { 1, 43 },
				       { 1, 44 },     { 1, 60 },
				       { 2, 60, 44 }, { 3, 0, 43, 44 } };
	static const char big[64] = "0123456789abcdef0123456789abcdef"
				    "0123456789abcdef0123456789abcde";
	struct fx *x = *state;
	struct pkt good, p, first, later;
	struct pkt_spec sp;
	size_t i, l3;
	__u8 proto;
	char be[64];
	int l2, reply, j;

	REQUIRE_BPF();
	fx_prepare(x, BE6, 1);
	for (l2 = 0; l2 < 2; l2++)
		for (proto = TCP; proto <= UDP; proto += UDP - TCP) {
			__u16 cport = 48000 + proto * 2 + l2;

			l3 = l2 ? 14 : 0;
			fx_open(x, l2, proto, CLIENT6, cport, VIP6, be,
				sizeof(be));
			for (reply = 0; reply < 2; reply++) {
				enum th_hook hook =
					reply ? TH_TO_TAILNET : TH_FROM_TAILNET;

				sp = reply ? pt_flow(be, 8080, CLIENT6, cport,
						     proto, ACK)
					   : pt_flow(CLIENT6, cport, VIP6, 80,
						     proto, ACK);
				sp.l2 = l2;
				pt_build(&sp, &good);
				for (i = 0; i < sizeof(nhs); i++) {
					p = good;
					p.data[l3 + 6] = nhs[i];
					fx_send(x, hook, fx_if(x, l2), 0, &p,
						NULL);
				}
				for (i = 0; i < ARRAY_SIZE(ext); i++) {
					sp.n_exthdr = ext[i][0];
					for (j = 0; j < ext[i][0]; j++)
						sp.exthdr[j] = ext[i][1 + j];
					fx_spec(x, hook, fx_if(x, l2), 0, sp,
						NULL);
				}
				sp.n_exthdr = 0;
				sp.payload = big;
				sp.payload_len = sizeof(big);
				pt_build(&sp, &good);
				assert_int_equal(pkt_fragment(&good, 0, 24, 1,
							      cport, &first),
						 0);
				assert_int_equal(
					pkt_fragment(&good, 24,
						     good.len - l3 - 40 - 24, 0,
						     cport, &later),
					0);
				fx_send(x, hook, fx_if(x, l2), 0, &first, NULL);
				fx_send(x, hook, fx_if(x, l2), 0, &later, NULL);
				/* the flow still takes the fast path after them */
				sp.payload = NULL;
				sp.payload_len = 0;
				assert_int_equal(fx_spec(x, hook, fx_if(x, l2),
							 0, sp, NULL),
						 PASS);
			}
		}
}

/*
 * IPv6 packets whose addresses are the keys' form of an IPv4 flow's
 * (::ffff:a.b.c.d), the IPv4-compatible form, :: and ::1, in each
 * direction and each position, against an established IPv4 flow with the
 * same ports: the fast path must neither hit nor touch the IPv4 flow's
 * entry, and drop what the full parse drops (TP_DROP_V4_MAPPED).
 */
static void test_holds_v6_fast_v4_embedded_addresses(void **state)
{
	static const char *const cli[] = {
		"::ffff:100.64.0.1", "::100.64.0.1", "::", "::1",
		"::ffff:0.0.0.0",    CLIENT6
	};
	static const char *const srv[] = { "::ffff:198.19.0.10",
					   "::198.19.0.10",
					   "::",
					   "::1",
					   "::ffff:198.18.1.1",
					   VIP6 };
	struct fx *x = *state;
	struct tp_ct_key k4 = pt_ct_key(CLIENT4, 49000, VIP4, 80, TCP);
	struct tp_ct_entry before, after;
	struct pkt_spec sp;
	size_t c, s;
	char be[64];
	int l2, v;

	REQUIRE_BPF();
	fx_prepare(x, BE6, 1);
	k4.zone = TH_ZONE;
	fx_open(x, false, TCP, CLIENT4, 49000, VIP4, be, sizeof(be));
	before = pt_ct_must(&x->fast, &k4);
	for (l2 = 0; l2 < 2; l2++)
		for (c = 0; c < ARRAY_SIZE(cli); c++)
			for (s = 0; s < ARRAY_SIZE(srv); s++) {
				bool mapped =
					c < 2 || c == 4 || s < 2 || s == 4;

				sp = pt_flow(cli[c], 49000, srv[s], 80, TCP,
					     RST);
				sp.l2 = l2;
				v = fx_spec(x, TH_FROM_TAILNET, fx_if(x, l2), 0,
					    sp, NULL);
				if (mapped)
					assert_int_equal(v, DROP);
				/* the backend's reply, from either side's form */
				sp = pt_flow(srv[s], 8080, cli[c], 49000, TCP,
					     RST | ACK);
				sp.l2 = l2;
				v = fx_spec(x, TH_TO_TAILNET, fx_if(x, l2), 0,
					    sp, NULL);
				if (mapped)
					assert_int_equal(v, DROP);
			}
	after = pt_ct_must(&x->fast, &k4);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(th_stat(&x->fast, TP_STAT_DROP(TP_DROP_V4_MAPPED)),
			 th_stat(&x->slow, TP_STAT_DROP(TP_DROP_V4_MAPPED)));
}

/*
 * The family told wrong: an IPv4 packet behind EtherType IPv6 and an
 * IPv6 one behind EtherType IPv4, 802.1Q, 802.1ad, ARP, 0 or 0xffff,
 * all of established flows; on the L3
 * tunnel an IPv6 packet with every other version nibble, an IPv4 one
 * with nibble 6, and an IPv6 header alone (40 bytes) or with less than
 * the L4 header after it.
 */
static void test_holds_v6_fast_family_confusion(void **state)
{
	struct fx *x = *state;
	struct pkt_spec s4, s6;
	struct pkt p4, p6, p;
	char be4[64], be6[64];
	size_t len;
	int l2, nib;

	REQUIRE_BPF();
	fx_prepare(x, BE6, 1);
	for (l2 = 0; l2 < 2; l2++) {
		fx_open(x, l2, TCP, CLIENT4, 49100 + l2, VIP4, be4,
			sizeof(be4));
		fx_open(x, l2, TCP, CLIENT6, 49100 + l2, VIP6, be6,
			sizeof(be6));
		s4 = pt_flow(CLIENT4, 49100 + l2, VIP4, 80, TCP, ACK);
		s6 = pt_flow(CLIENT6, 49100 + l2, VIP6, 80, TCP, ACK);
		s4.l2 = s6.l2 = l2;
		pt_build(&s4, &p4);
		pt_build(&s6, &p6);
		if (l2) {
			/* ... and behind a tag, ARP, nothing: not IP here */
			static const __u16 types[] = { 0x86dd, 0x0800, 0x8100,
						       0x88a8, 0x0806, 0,
						       0xffff };
			size_t t;

			for (t = 0; t < ARRAY_SIZE(types); t++) {
				p = types[t] == 0x86dd ? p4 : p6;
				p.data[12] = types[t] >> 8;
				p.data[13] = types[t] & 0xff;
				fx_send(x, TH_FROM_TAILNET, FX_LO, 0, &p, NULL);
				fx_send(x, TH_TO_TAILNET, FX_LO, 0, &p, NULL);
			}
			continue;
		}
		for (nib = 0; nib < 16; nib++) {
			p = p6;
			p.data[0] = (p.data[0] & 0x0f) | nib << 4;
			fx_send(x, TH_FROM_TAILNET, x->fast.l3_ifindex, 0, &p,
				NULL);
			p = p4;
			p.data[0] = (p.data[0] & 0x0f) | nib << 4;
			fx_send(x, TH_FROM_TAILNET, x->fast.l3_ifindex, 0, &p,
				NULL);
		}
		for (len = 40; len < 60; len++) {
			p = p6;
			p.len = len;
			fx_set_plen(&p, 0, len - 40);
			fx_send(x, TH_FROM_TAILNET, x->fast.l3_ifindex, 0, &p,
				NULL);
		}
	}
}

/*
 * DNAT flows whose translation is of the other family (an entry only a
 * corrupted or hostile map writer leaves): an IPv6 flow to an
 * IPv4-mapped backend, an IPv4 flow to an IPv6 one.  The fast path
 * writes what the full path writes, whatever that is: no mixed-family
 * packet of its own.
 */
static void test_holds_v6_fast_dnat_other_family(void **state)
{
	struct fx *x = *state;
	struct tp_ct_key k6 = pt_ct_key(CLIENT6, 49200, VIP6, 80, UDP);
	struct tp_ct_key k4 = pt_ct_key(CLIENT4, 49200, VIP4, 80, UDP);
	struct th *hs[2] = { &x->fast, &x->slow };
	struct tp_ct_entry e;
	struct pkt out;
	char be[64];
	int i, l2;

	REQUIRE_BPF();
	fx_prepare(x, BE6, 1);
	k6.zone = k4.zone = TH_ZONE;
	fx_open(x, false, UDP, CLIENT6, 49200, VIP6, be, sizeof(be));
	fx_open(x, false, UDP, CLIENT4, 49200, VIP4, be, sizeof(be));
	for (i = 0; i < 2; i++) {
		e = pt_ct_must(hs[i], &k6);
		e.nat_addr = pt_addr("198.18.1.1");
		assert_int_equal(bpf_map_update_elem(hs[i]->maps.ct_any, &k6,
						     &e, BPF_EXIST),
				 0);
		e = pt_ct_must(hs[i], &k4);
		e.nat_addr = pt_addr(BE6[0]);
		assert_int_equal(bpf_map_update_elem(hs[i]->maps.ct_any, &k4,
						     &e, BPF_EXIST),
				 0);
	}
	for (l2 = 0; l2 < 2; l2++) {
		struct pkt_spec sp = pt_flow(CLIENT6, 49200, VIP6, 80, UDP, 0);

		sp.l2 = l2;
		fx_spec(x, TH_FROM_TAILNET, fx_if(x, l2), 0, sp, &out);
		sp = pt_flow(CLIENT4, 49200, VIP4, 80, UDP, 0);
		sp.l2 = l2;
		fx_spec(x, TH_FROM_TAILNET, fx_if(x, l2), 0, sp, &out);
		/* the replies either backend could send */
		fx_spec(x, TH_TO_TAILNET, fx_if(x, l2), 0,
			pt_flow("198.18.1.1", 8080, CLIENT4, 49200, UDP, 0),
			NULL);
		fx_spec(x, TH_TO_TAILNET, fx_if(x, l2), 0,
			pt_flow(BE6[0], 8080, CLIENT6, 49200, UDP, 0), NULL);
	}
}

/*
 * Replies of an IPv6 DNAT flow to a pod (found through tp_be_frontends,
 * no reply key) forged where tp_fast_egress() must not take them: from
 * the uplink, forwarded from either tunnel, from the service's other
 * pod, another port or protocol, from this host and from a pod's
 * interface; then the pod's genuine reply, from the VIP.
 */
static void test_holds_v6_fast_egress_forged_replies(void **state)
{
	static const __u8 flags[] = { RST, RST | ACK, SYN, FIN | ACK, ACK };
	struct fx *x = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT6, 49300, VIP6, 80, TCP);
	struct tp_ct_entry before, after;
	const char *other;
	int in[5], i, up;
	struct pkt out;
	size_t f;
	char pod[64];

	REQUIRE_BPF();
	up = th_uplink(&x->fast);
	assert_true(up > 0);
	assert_int_equal(th_uplink(&x->slow), up);
	fx_prepare(x, POD6, 2);
	k.zone = TH_ZONE;
	fx_open(x, false, TCP, CLIENT6, 49300, VIP6, pod, sizeof(pod));
	before = pt_ct_must(&x->fast, &k);
	assert_true(before.flags & TP_CT_F_RINDEX);
	other = !strcmp(pod, POD6[0]) ? POD6[1] : POD6[0];
	in[0] = up;
	in[1] = x->fast.l3_ifindex2;
	in[2] = x->fast.l3_ifindex;
	in[3] = 0;
	in[4] = 4242;
	for (i = 0; i < 5; i++)
		for (f = 0; f < sizeof(flags); f++) {
			fx_spec(x, TH_TO_TAILNET, x->fast.l3_ifindex, in[i],
				pt_flow(other, 8080, CLIENT6, 49300, TCP,
					flags[f]),
				NULL);
			fx_spec(x, TH_TO_TAILNET, x->fast.l3_ifindex, in[i],
				pt_flow(pod, 8081, CLIENT6, 49300, TCP,
					flags[f]),
				NULL);
			fx_spec(x, TH_TO_TAILNET, x->fast.l3_ifindex, in[i],
				pt_flow(pod, 8080, CLIENT6, 49300, UDP, 0),
				NULL);
			if (i < 3)
				fx_spec(x, TH_TO_TAILNET, x->fast.l3_ifindex,
					in[i],
					pt_flow(pod, 8080, CLIENT6, 49300, TCP,
						flags[f]),
					NULL);
		}
	after = pt_ct_must(&x->fast, &k);
	/* only the tunnel's own hairpin passed; none reset or counted the flow */
	assert_int_equal(after.state, before.state);
	assert_int_equal(after.packets[TP_CT_DIR_REPLY],
			 before.packets[TP_CT_DIR_REPLY]);
	assert_int_equal(fx_spec(x, TH_TO_TAILNET, x->fast.l3_ifindex, 0,
				 pt_flow(pod, 8080, CLIENT6, 49300, TCP, ACK),
				 &out),
			 PASS);
	{
		struct tp_addr vip = pt_addr(VIP6);

		assert_memory_equal(out.data + 8, vip.b, 16);
	}
}

/*
 * An untranslated IPv6 flow straight to a pod and a DNAT one, UDP with
 * a zero checksum (invalid in IPv6, left so by BPF_F_MARK_MANGLED_0) and
 * TCP and UDP with a wrong one, both ways; the untranslated flow's
 * replies from this host, a pod, either tunnel and the uplink.
 */
static void test_holds_v6_fast_untranslated_and_checksums(void **state)
{
	struct fx *x = *state;
	struct pkt_spec sp;
	char be[64];
	int l2, i, in[5], up, zero, bad;
	__u8 proto;

	REQUIRE_BPF();
	up = th_uplink(&x->fast);
	assert_true(up > 0);
	assert_int_equal(th_uplink(&x->slow), up);
	fx_prepare(x, BE6, 1);
	in[0] = 0;
	in[1] = 4242;
	in[2] = x->fast.l3_ifindex;
	in[3] = x->fast.l3_ifindex2;
	in[4] = up;
	for (l2 = 0; l2 < 2; l2++)
		for (proto = TCP; proto <= UDP; proto += UDP - TCP) {
			__u16 cport = 49400 + proto * 2 + l2;

			fx_open(x, l2, proto, CLIENT6, cport, VIP6, be,
				sizeof(be));
			sp = pt_flow(CLIENT6, cport, POD6[0], 8080, proto, SYN);
			sp.l2 = l2;
			fx_spec(x, TH_FROM_TAILNET, fx_if(x, l2), 0, sp, NULL);
			for (i = 0; i < 5; i++) {
				sp = pt_flow(POD6[0], 8080, CLIENT6, cport,
					     proto, SYN | ACK);
				sp.l2 = l2;
				fx_spec(x, TH_TO_TAILNET, fx_if(x, l2), in[i],
					sp, NULL);
			}
			for (zero = 0; zero < 2; zero++)
				for (bad = 0; bad < 2; bad++) {
					if (zero && proto != UDP)
						continue;
					sp = pt_flow(CLIENT6, cport, VIP6, 80,
						     proto, ACK);
					sp.l2 = l2;
					sp.udp_zero_csum = zero;
					sp.bad_l4_csum = bad;
					fx_spec(x, TH_FROM_TAILNET,
						fx_if(x, l2), 0, sp, NULL);
					sp = pt_flow(be, 8080, CLIENT6, cport,
						     proto, ACK);
					sp.l2 = l2;
					sp.udp_zero_csum = zero;
					sp.bad_l4_csum = bad;
					fx_spec(x, TH_TO_TAILNET, fx_if(x, l2),
						0, sp, NULL);
					sp = pt_flow(CLIENT6, cport, POD6[0],
						     8080, proto, ACK);
					sp.l2 = l2;
					sp.udp_zero_csum = zero;
					sp.bad_l4_csum = bad;
					fx_spec(x, TH_FROM_TAILNET,
						fx_if(x, l2), 0, sp, NULL);
				}
		}
}

#define T(fn)  cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)
#define TX(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_holds_v4_tcp_cut_everywhere),
		T(test_holds_v4_udp_cut_everywhere),
		T(test_holds_v4_ihl_every_value),
		T(test_holds_v4_options_move_l4),
		T(test_holds_v4_fragments_with_options),
		T(test_holds_nonlinear_split_everywhere),
		T(test_holds_ct_handshake_in_one_second),
		T(test_holds_ct_reset_in_same_second),
		T(test_holds_ct_pickup_answered_in_same_second),
		T(test_holds_ct_expiry_by_the_second),
		T(test_holds_egress_own_key_is_dead_reply_key),
		T(test_holds_egress_flow_lifecycle),
		T(test_holds_coarse_clock_never_ahead),
		T(test_holds_fast_egress_reply_forged_on_uplink),
		T(test_holds_fast_egress_reply_from_tailnet),
		T(test_holds_fast_egress_reply_from_other_backend),
		T(test_fault_affinity_stamp_ahead_of_clock),
		T(test_fault_frag_record_ahead_of_clock),
		TX(test_holds_v6_fast_cut_everywhere),
		TX(test_holds_v6_fast_next_headers),
		TX(test_holds_v6_fast_v4_embedded_addresses),
		TX(test_holds_v6_fast_family_confusion),
		TX(test_holds_v6_fast_dnat_other_family),
		TX(test_holds_v6_fast_egress_forged_replies),
		TX(test_holds_v6_fast_untranslated_and_checksums),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
