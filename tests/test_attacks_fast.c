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
 * protocol.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <bpf/bpf.h>

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

#define T(fn) cmocka_unit_test_setup_teardown(fn, pt_setup, pt_teardown)

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
