// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tests of the packet builder (pktgen.c).
 *
 * The ref_* arrays were computed outside pktgen, by a separate RFC 1071
 * implementation, and spot-checked by hand (see the comments); pktgen must
 * reproduce them byte for byte.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "pktgen.h"

#define WHY_LEN 128

/* ---- reference packets -------------------------------------------------- */

/*
 * 198.18.0.1:40000 -> 198.19.0.10:80 SYN, seq 0x01020304, id 0x1c46, DF.
 * IPv4 header checksum 0x9259, TCP checksum 0x831b.
 */
static const uint8_t ref_tcp4[] = {
	0x45, 0x00, 0x00, 0x28, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06,
	0x92, 0x59, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x13, 0x00, 0x0a,
	0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00,
	0x00, 0x00, 0x50, 0x02, 0xff, 0xff, 0x83, 0x1b, 0x00, 0x00,
};

/*
 * Ethernet + 100.64.0.1:5353 -> 198.19.0.53:53 "tailplane" (odd length),
 * id 7.  IPv4 header checksum 0x5038, UDP checksum 0xab7b.
 */
static const uint8_t ref_udp4_l2[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x25, 0x00, 0x07, 0x00, 0x00,
	0x40, 0x11, 0x50, 0x38, 0x64, 0x40, 0x00, 0x01, 0xc6, 0x13, 0x00,
	0x35, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x11, 0xab, 0x7b, 0x74, 0x61,
	0x69, 0x6c, 0x70, 0x6c, 0x61, 0x6e, 0x65,
};

/*
 * 100.64.0.2 -> 198.19.0.1 echo request id 0x1234 seq 1 "abcdefgh".
 * ICMP checksum by hand: 0800 + 0000 + 1234 + 0001 + 6162 + 6364 + 6566
 * + 6768 = 0x1abc9, folded 0xabca, complemented 0x5435.
 */
static const uint8_t ref_icmp4[] = {
	0x45, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01, 0x50, 0x83,
	0x64, 0x40, 0x00, 0x02, 0xc6, 0x13, 0x00, 0x01, 0x08, 0x00, 0x54, 0x35,
	0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
};

/*
 * [fd7a:115c:a1e0::1]:40001 -> [fd00:198:19::a]:443 SYN-ACK seq 100 ack 200
 * "hello", flow label 0x12345.  TCP checksum 0x1d5f.
 */
static const uint8_t ref_tcp6[] = {
	0x60, 0x01, 0x23, 0x45, 0x00, 0x19, 0x06, 0x40, 0xfd, 0x7a, 0x11,
	0x5c, 0xa1, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x01, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x19, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x9c, 0x41, 0x01, 0xbb,
	0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0xc8, 0x50, 0x12, 0xff,
	0xff, 0x1d, 0x5f, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

/*
 * [fd7a:115c:a1e0::2]:1000 -> [fd00:198:19::35]:53 "dns?", traffic class
 * 0xb8, hop limit 255.  UDP checksum 0x746b.
 */
static const uint8_t ref_udp6[] = {
	0x6b, 0x80, 0x00, 0x00, 0x00, 0x0c, 0x11, 0xff, 0xfd, 0x7a, 0x11,
	0x5c, 0xa1, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x02, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x19, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x35, 0x03, 0xe8, 0x00, 0x35,
	0x00, 0x0c, 0x74, 0x6b, 0x64, 0x6e, 0x73, 0x3f,
};

/*
 * fd7a:115c:a1e0::3 -> fd00:198:19::1 echo request id 0xbeef seq 7 "ping".
 * ICMPv6 checksum 0x3284.
 */
static const uint8_t ref_icmp6[] = {
	0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x3a, 0x40, 0xfd, 0x7a, 0x11,
	0x5c, 0xa1, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x03, 0xfd, 0x00, 0x01, 0x98, 0x00, 0x19, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x32, 0x84,
	0xbe, 0xef, 0x00, 0x07, 0x70, 0x69, 0x6e, 0x67,
};

/*
 * 198.18.0.254 -> 198.18.0.1 frag-needed, MTU 1280, quoting the first 28
 * bytes of ref_tcp4.  ICMP checksum 0x5765.
 */
static const uint8_t ref_icmp4_frag_needed[] = {
	0x45, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01, 0xed, 0xa1,
	0xc6, 0x12, 0x00, 0xfe, 0xc6, 0x12, 0x00, 0x01, 0x03, 0x04, 0x57, 0x65,
	0x00, 0x00, 0x05, 0x00, 0x45, 0x00, 0x00, 0x28, 0x1c, 0x46, 0x40, 0x00,
	0x40, 0x06, 0x92, 0x59, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x13, 0x00, 0x0a,
	0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04,
};

/*
 * fd00:198:18::fe -> fd7a:115c:a1e0::2 packet-too-big, MTU 1280, quoting
 * all of ref_udp6.  ICMPv6 checksum 0xcab2.
 */
static const uint8_t ref_icmp6_ptb[] = {
	0x60, 0x00, 0x00, 0x00, 0x00, 0x3c, 0x3a, 0x40, 0xfd, 0x00, 0x01, 0x98,
	0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfe,
	0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0xca, 0xb2, 0x00, 0x00, 0x05, 0x00,
	0x6b, 0x80, 0x00, 0x00, 0x00, 0x0c, 0x11, 0xff, 0xfd, 0x7a, 0x11, 0x5c,
	0xa1, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0xfd, 0x00, 0x01, 0x98, 0x00, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x35, 0x03, 0xe8, 0x00, 0x35, 0x00, 0x0c, 0x74, 0x6b,
	0x64, 0x6e, 0x73, 0x3f,
};

static const struct pkt_spec spec_tcp4 = {
	.family = AF_INET,
	.saddr = "198.18.0.1",
	.daddr = "198.19.0.10",
	.proto = IPPROTO_TCP,
	.sport = 40000,
	.dport = 80,
	.tcp_flags = PKT_TCP_SYN,
	.seq = 0x01020304,
	.ip_id = 0x1c46,
	.df = 1,
};

static const struct pkt_spec spec_udp6 = {
	.family = AF_INET6,
	.saddr = "fd7a:115c:a1e0::2",
	.daddr = "fd00:198:19::35",
	.proto = IPPROTO_UDP,
	.sport = 1000,
	.dport = 53,
	.payload = "dns?",
	.payload_len = 4,
	.ttl = 255,
	.tos = 0xb8,
};

/* ---- helpers ------------------------------------------------------------ */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Build @s into @p and check that pkt_verify_csums() accepts it. */
static void build_ok(const struct pkt_spec *s, struct pkt *p)
{
	char why[WHY_LEN] = "";

	assert_int_equal(pkt_build(s, p), 0);
	if (pkt_verify_csums(p, s->l2, why, sizeof(why)))
		fail_msg("verify: %s", why);
}

/* Expect pkt_verify_csums() to reject @p with a reason containing @what. */
static void verify_fails(const struct pkt *p, int l2, const char *what)
{
	char why[WHY_LEN] = "";

	assert_int_equal(pkt_verify_csums(p, l2, why, sizeof(why)), -1);
	if (!strstr(why, what))
		fail_msg("reason \"%s\" lacks \"%s\"", why, what);
}

/*
 * Build @s and compare with the reference packet @want byte for byte;
 * the L2 flag and L3 offset are those @s asks for.
 */
static void check_ref(const struct pkt_spec *s, const uint8_t *want,
		      size_t want_len)
{
	struct pkt p;

	build_ok(s, &p);
	assert_pkt_eq(want, want_len, p.data, p.len);
	assert_int_equal(p.l2, s->l2);
	assert_int_equal(pkt_l3_offset(&p), s->l2 ? PKT_ETH_HLEN : 0);
}

static void fill_pattern(uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + 3);
}

/* ---- checksum primitives ------------------------------------------------ */

static void test_csum_rfc1071(void **state)
{
	/* RFC 1071 section 3 example: the sum is ddf2 after the carry */
	static const uint8_t ex[] = { 0x00, 0x01, 0xf2, 0x03,
				      0xf4, 0xf5, 0xf6, 0xf7 };
	static const uint8_t odd[] = { 0x12, 0x34, 0x56 };
	uint8_t ff[PKT_MAX];
	uint32_t sum;

	(void)state;
	sum = pkt_csum_partial(ex, sizeof(ex), 0);
	assert_int_equal(sum, 0x2ddf0);
	assert_int_equal(pkt_csum_fold(sum), 0x220d);
	/* chaining: even first chunk, then the rest */
	sum = pkt_csum_partial(ex, 4, 0);
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(ex + 4, 4, sum)),
			 0x220d);
	/* an odd last byte counts as the high byte of a word */
	assert_int_equal(pkt_csum_partial(odd, 3, 0), 0x1234 + 0x5600);
	/* large sums and large carried-in sums do not overflow */
	memset(ff, 0xff, sizeof(ff));
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(ff, sizeof(ff), 0)), 0);
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(ff, 2, 0xffffffff)), 0);
	assert_int_equal(pkt_csum_fold(0), 0xffff);
}

static void test_ipv4_header_known(void **state)
{
	/*
	 * The classic worked example: 4500 + 0073 + 0000 + 4000 + 4011 +
	 * c0a8 + 0001 + c0a8 + 00c7 = 0x2479c, folded 0x479e, ~ 0xb861.
	 */
	static const uint8_t want[] = {
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	};
	uint8_t payload[0x73 - 28] = { 0 };
	struct pkt_spec s = {
		.family = AF_INET,
		.saddr = "192.168.0.1",
		.daddr = "192.168.0.199",
		.proto = IPPROTO_UDP,
		.df = 1,
		.sport = 1,
		.dport = 2,
		.payload = payload,
		.payload_len = sizeof(payload),
	};
	struct pkt p;

	(void)state;
	build_ok(&s, &p);
	assert_int_equal(p.len, 0x73);
	assert_pkt_eq(want, sizeof(want), p.data, sizeof(want));
	/* over the header with its checksum the folded sum is 0 */
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(want, 20, 0)), 0);
}

/* ---- reference packets, one per protocol and family --------------------- */

static const struct pkt_spec spec_udp4_l2 = {
	.l2 = 1,
	.family = AF_INET,
	.saddr = "100.64.0.1",
	.daddr = "198.19.0.53",
	.proto = IPPROTO_UDP,
	.sport = 5353,
	.dport = 53,
	.payload = "tailplane",
	.payload_len = 9,
	.ip_id = 7,
};

static const struct pkt_spec spec_icmp4 = {
	.family = AF_INET,
	.saddr = "100.64.0.2",
	.daddr = "198.19.0.1",
	.proto = IPPROTO_ICMP,
	.icmp_type = 8,
	.icmp_id = 0x1234,
	.icmp_seq = 1,
	.payload = "abcdefgh",
	.payload_len = 8,
};

static const struct pkt_spec spec_tcp6 = {
	.family = AF_INET6,
	.saddr = "fd7a:115c:a1e0::1",
	.daddr = "fd00:198:19::a",
	.proto = IPPROTO_TCP,
	.sport = 40001,
	.dport = 443,
	.tcp_flags = PKT_TCP_SYN | PKT_TCP_ACK,
	.seq = 100,
	.ack_seq = 200,
	.payload = "hello",
	.payload_len = 5,
	.flowlabel = 0x12345,
};

static const struct pkt_spec spec_icmp6 = {
	.family = AF_INET6,
	.saddr = "fd7a:115c:a1e0::3",
	.daddr = "fd00:198:19::1",
	.proto = IPPROTO_ICMPV6,
	.icmp_type = 128,
	.icmp_id = 0xbeef,
	.icmp_seq = 7,
	.payload = "ping",
	.payload_len = 4,
};

/* A reference packet: the spec it is built from and the bytes it must be. */
struct ref_case {
	const char *name;
	const struct pkt_spec *spec;
	const uint8_t *want;
	size_t len;
};

/* The reference packets: spec_NAME built must be ref_NAME; a test each. */
#define REF_CASES(X) X(tcp4) X(udp4_l2) X(icmp4) X(tcp6) X(udp6) X(icmp6)

#define REF_CASE(ref)                                                       \
	static const struct ref_case ref_case_##ref = {                     \
		"test_ref_" #ref, &spec_##ref, ref_##ref, sizeof(ref_##ref) \
	};
REF_CASES(REF_CASE)

/* One reference packet (the cmocka test of its name). */
static void test_ref(void **state)
{
	const struct ref_case *c = *state;

	check_ref(c->spec, c->want, c->len);
}

/* ---- verification ------------------------------------------------------- */

static void check_bad_l4(struct pkt_spec s, size_t csum_off, const char *name)
{
	struct pkt good, bad;
	size_t off;

	build_ok(&s, &good);
	s.bad_l4_csum = 1;
	assert_int_equal(pkt_build(&s, &bad), 0);
	off = pkt_l3_offset(&good) + (s.family == AF_INET ? 20 : 40) + csum_off;
	assert_int_equal(rd16(good.data + off) ^ rd16(bad.data + off), 0x1234);
	verify_fails(&bad, s.l2, name);
	/* a flipped payload byte is caught too */
	good.data[good.len - 1] ^= 0x40;
	verify_fails(&good, s.l2, name);
}

static void test_verify_bad_l4(void **state)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP,
					  IPPROTO_ICMP, IPPROTO_ICMPV6 };
	static const size_t offs[] = { 16, 6, 2, 2 };
	static const char *const names[] = { "TCP checksum", "UDP checksum",
					     "ICMP checksum",
					     "ICMPv6 checksum" };
	struct pkt_spec s = { .sport = 1,
			      .dport = 2,
			      .icmp_type = 8,
			      .payload = "xyz",
			      .payload_len = 3 };
	size_t i;
	int l2;

	(void)state;
	for (l2 = 0; l2 < 2; l2++) {
		for (i = 0; i < sizeof(protos); i++) {
			s.l2 = l2;
			s.proto = protos[i];
			s.family = AF_INET;
			s.saddr = "198.18.0.1";
			s.daddr = "198.19.0.1";
			check_bad_l4(s, offs[i], names[i]);
			s.family = AF_INET6;
			s.saddr = "fd00:198:18::1";
			s.daddr = "fd00:198:19::1";
			check_bad_l4(s, offs[i], names[i]);
		}
	}
}

static void test_verify_ip4_header(void **state)
{
	struct pkt p;

	(void)state;
	build_ok(&spec_tcp4, &p);
	p.data[8]--; /* TTL, as a router would, without fixing the sum */
	verify_fails(&p, 0, "IPv4 header checksum 0x9259, want 0x9359");
}

static void test_verify_lengths(void **state)
{
	struct pkt p;
	struct pkt_info pi;

	(void)state;
	build_ok(&spec_tcp4, &p);
	/* Ethernet-style padding after the datagram is ignored */
	p.len += 6;
	assert_int_equal(pkt_verify_csums(&p, 0, NULL, 0), 0);
	assert_int_equal(pkt_parse(&p, 0, &pi, NULL, 0), 0);
	assert_int_equal(pi.end, sizeof(ref_tcp4));
	/* a datagram longer than the packet is not */
	p.len = sizeof(ref_tcp4) - 1;
	verify_fails(&p, 0, "total length");
	p.len = sizeof(ref_tcp4);
	/* a bare IP packet read as Ethernet has no IP version */
	verify_fails(&p, 1, "IP version");
	p.data[0] = 0x44;
	verify_fails(&p, 0, "IHL");
	p.len = 10;
	verify_fails(&p, 0, "truncated");
	build_ok(&spec_udp6, &p);
	p.len--;
	verify_fails(&p, 0, "payload length");
}

static void test_verify_udp_length(void **state)
{
	struct pkt_spec s = spec_udp6;
	struct pkt p;

	(void)state;
	s.family = AF_INET;
	s.saddr = "198.18.0.1";
	s.daddr = "198.19.0.1";
	build_ok(&s, &p);
	/* 4 bytes inside the IP datagram but after the UDP one are ignored */
	p.data[3] += 4;
	p.data[10] = 0;
	p.data[11] = 0;
	p.data[10] = pkt_csum_fold(pkt_csum_partial(p.data, 20, 0)) >> 8;
	p.data[11] = pkt_csum_fold(pkt_csum_partial(p.data, 20, 0)) & 0xff;
	memcpy(p.data + p.len, "junk", 4);
	p.len += 4;
	assert_int_equal(pkt_verify_csums(&p, 0, NULL, 0), 0);
	/* a UDP length past the IP datagram is not */
	p.data[25] += 5;
	verify_fails(&p, 0, "UDP length 17, 16 bytes");
	p.data[25] = 7;
	verify_fails(&p, 0, "UDP length 7");
}

/* ---- header options ----------------------------------------------------- */

static void test_ip_options(void **state)
{
	static const uint8_t ra[] = { 0x94, 0x04, 0x00, 0x00 };
	static const uint8_t nops[8] = { 0x01, 0x01, 0x01, 0x00,
					 0x94, 0x04, 0x00, 0x00 };
	uint8_t big[44];
	struct pkt_spec s = spec_tcp4;
	struct pkt_info pi;
	struct pkt p;

	(void)state;
	s.ip_options = ra;
	s.ip_options_len = sizeof(ra);
	build_ok(&s, &p);
	assert_int_equal(p.data[0], 0x46);
	assert_int_equal(rd16(p.data + 2), 44);
	assert_memory_equal(p.data + 20, ra, 4);
	/* the TCP segment is unchanged, only moved */
	assert_memory_equal(p.data + 24, ref_tcp4 + 20, 20);
	assert_int_equal(pkt_parse(&p, 0, &pi, NULL, 0), 0);
	assert_int_equal(pi.l4_off, 24);

	s.ip_options = nops;
	s.ip_options_len = sizeof(nops);
	build_ok(&s, &p);
	assert_int_equal(p.data[0], 0x47);
	assert_memory_equal(p.data + 20, nops, 8);

	memset(big, 0x01, sizeof(big));
	s.ip_options = big;
	s.ip_options_len = 40;
	build_ok(&s, &p);
	assert_int_equal(p.data[0], 0x4f);
	s.ip_options_len = 44;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s.ip_options_len = 3;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);

	s = spec_udp6;
	s.ip_options = ra;
	s.ip_options_len = sizeof(ra);
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
}

static void test_ipv6_exthdrs(void **state)
{
	static const uint8_t padn[6] = { 0x01, 0x04, 0, 0, 0, 0 };
	struct pkt_spec s = spec_udp6;
	struct pkt_info pi;
	struct pkt p;

	(void)state;
	s.exthdr[0] = 0;
	s.exthdr[1] = 43;
	s.exthdr[2] = 60;
	s.n_exthdr = 3;
	build_ok(&s, &p);
	assert_int_equal(p.len, sizeof(ref_udp6) + 24);
	assert_int_equal(rd16(p.data + 4), 12 + 24);
	assert_int_equal(p.data[6], 0);
	assert_int_equal(p.data[40], 43); /* hop-by-hop -> routing */
	assert_int_equal(p.data[41], 0);
	assert_memory_equal(p.data + 42, padn, 6);
	assert_int_equal(p.data[48], 60); /* routing -> dest opts */
	assert_int_equal(p.data[49], 0);
	assert_int_equal(p.data[50], 0); /* routing type 0 */
	assert_int_equal(p.data[51], 0); /* segments left 0 */
	assert_int_equal(p.data[56], IPPROTO_UDP);
	assert_memory_equal(p.data + 58, padn, 6);
	/* the UDP datagram, checksum included, is that of ref_udp6 */
	assert_memory_equal(p.data + 64, ref_udp6 + 40, 12);
	assert_int_equal(pkt_parse(&p, 0, &pi, NULL, 0), 0);
	assert_int_equal(pi.l4_off, 64);
	assert_int_equal(pi.proto, IPPROTO_UDP);
	assert_int_equal(pi.nexthdr_off, 56);
	assert_int_equal(pi.frag, 0);

	/* an atomic fragment is no fragment: its L4 checksum is checked */
	s.exthdr[0] = 44;
	s.n_exthdr = 1;
	build_ok(&s, &p);
	assert_int_equal(p.data[6], 44);
	assert_int_equal(p.data[40], IPPROTO_UDP);
	assert_int_equal(rd16(p.data + 42), 0);
	assert_int_equal(pkt_parse(&p, 0, &pi, NULL, 0), 0);
	assert_int_equal(pi.has_fraghdr, 1);
	assert_int_equal(pi.frag, 0);
	s.bad_l4_csum = 1;
	assert_int_equal(pkt_build(&s, &p), 0);
	verify_fails(&p, 0, "UDP checksum");

	s.bad_l4_csum = 0;
	s.exthdr[0] = IPPROTO_TCP;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s.exthdr[0] = 0;
	s.n_exthdr = 9;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s = spec_tcp4;
	s.n_exthdr = 1;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
}

static void test_ipv6_ah_walk(void **state)
{
	struct pkt_spec s = spec_udp6;
	struct pkt_info pi;
	struct pkt p;

	(void)state;
	s.exthdr[0] = 60;
	s.exthdr[1] = 60;
	s.n_exthdr = 2;
	build_ok(&s, &p);
	/* turn both into one 16-byte AH: length in 4-byte units minus 2 */
	p.data[6] = 51;
	p.data[40] = IPPROTO_UDP;
	p.data[41] = 2;
	assert_int_equal(pkt_parse(&p, 0, &pi, NULL, 0), 0);
	assert_int_equal(pi.l4_off, 56);
	assert_int_equal(pi.proto, IPPROTO_UDP);
	assert_int_equal(pkt_verify_csums(&p, 0, NULL, 0), 0);
	/* read with 8-byte units it would be 24 bytes: wrong L4 offset */
	p.data[41] = 1;
	assert_int_equal(pkt_verify_csums(&p, 0, NULL, 0), -1);
}

/* ---- fragments ---------------------------------------------------------- */

static void test_fragments_ipv4(void **state)
{
	static const uint8_t ra[] = { 0x94, 0x04, 0x00, 0x00 };
	static const size_t offs[] = { 0, 48, 96 }, lens[] = { 48, 48, 12 };
	uint8_t payload[100], joined[108];
	struct pkt_spec s = {
		.l2 = 1,
		.family = AF_INET,
		.saddr = "198.18.0.1",
		.daddr = "198.19.0.53",
		.proto = IPPROTO_UDP,
		.sport = 9,
		.dport = 53,
		.payload = payload,
		.payload_len = 100,
		.ip_options = ra,
		.ip_options_len = 4,
		.df = 1,
	};
	struct pkt whole, f;
	struct pkt_info pi;
	size_t i, ip = PKT_ETH_HLEN, data = PKT_ETH_HLEN + 24;

	(void)state;
	fill_pattern(payload, sizeof(payload));
	build_ok(&s, &whole);
	for (i = 0; i < 3; i++) {
		assert_int_equal(pkt_fragment(&whole, offs[i], lens[i], i < 2,
					      0xabcd, &f),
				 0);
		assert_int_equal(f.l2, 1);
		assert_memory_equal(f.data, whole.data, ip + 2);
		assert_int_equal(rd16(f.data + ip + 2), 24 + lens[i]);
		assert_int_equal(rd16(f.data + ip + 4), 0xabcd);
		assert_int_equal(rd16(f.data + ip + 6),
				 0x4000 | (i < 2 ? 0x2000 : 0) | offs[i] / 8);
		assert_memory_equal(f.data + ip + 8, whole.data + ip + 8, 2);
		assert_memory_equal(f.data + ip + 12, whole.data + ip + 12, 12);
		assert_int_equal(f.len, data + lens[i]);
		assert_int_equal(pkt_verify_csums(&f, 1, NULL, 0), 0);
		assert_int_equal(pkt_parse(&f, 1, &pi, NULL, 0), 0);
		assert_int_equal(pi.frag, 1);
		assert_int_equal(pi.frag_off, offs[i]);
		assert_int_equal(pi.more, i < 2);
		assert_int_equal(pi.frag_id, 0xabcd);
		memcpy(joined + offs[i], f.data + data, lens[i]);
	}
	/* reassembled, the IP payload is the original, checksum and all */
	assert_pkt_eq(whole.data + data, whole.len - data, joined,
		      sizeof(joined));

	/* a corrupted fragment header is caught */
	f.data[ip + 8] ^= 1;
	verify_fails(&f, 1, "IPv4 header");

	assert_int_equal(pkt_fragment(&whole, 4, 8, 1, 1, &f), -EINVAL);
	assert_int_equal(pkt_fragment(&whole, 96, 16, 0, 1, &f), -EINVAL);
	assert_int_equal(pkt_fragment(&whole, 112, 0, 0, 1, &f), -EINVAL);
	assert_int_equal(pkt_fragment(&whole, 0, 8, 1, 0x10000, &f), -EINVAL);
	assert_int_equal(pkt_fragment(&whole, 0, 48, 1, 1, &f), 0);
	assert_int_equal(pkt_fragment(&f, 0, 8, 1, 1, &whole), -EINVAL);
}

static void test_fragments_ipv6(void **state)
{
	static const size_t offs[] = { 0, 64, 128 }, lens[] = { 64, 64, 42 };
	uint8_t payload[150], joined[170];
	struct pkt_spec s = {
		.family = AF_INET6,
		.saddr = "fd7a:115c:a1e0::1",
		.daddr = "fd00:198:19::a",
		.proto = IPPROTO_TCP,
		.sport = 1234,
		.dport = 80,
		.tcp_flags = PKT_TCP_ACK,
		.payload = payload,
		.payload_len = sizeof(payload),
		.exthdr = { 0, 60 },
		.n_exthdr = 2,
	};
	struct pkt whole, f;
	struct pkt_info pi;
	size_t i;

	(void)state;
	fill_pattern(payload, sizeof(payload));
	build_ok(&s, &whole);
	for (i = 0; i < 3; i++) {
		assert_int_equal(pkt_fragment(&whole, offs[i], lens[i], i < 2,
					      0xdeadbeef, &f),
				 0);
		assert_int_equal(f.l2, 0);
		assert_memory_equal(f.data, whole.data, 4);
		assert_memory_equal(f.data + 6, whole.data + 6, 34 + 8);
		assert_int_equal(rd16(f.data + 4), 16 + 8 + lens[i]);
		assert_int_equal(f.data[48], 44); /* dest opts -> fragment */
		assert_memory_equal(f.data + 49, whole.data + 49, 7);
		assert_int_equal(f.data[56], IPPROTO_TCP);
		assert_int_equal(f.data[57], 0);
		assert_int_equal(rd16(f.data + 58), offs[i] | (i < 2));
		assert_int_equal(rd32(f.data + 60), 0xdeadbeef);
		assert_int_equal(f.len, 64 + lens[i]);
		assert_int_equal(pkt_verify_csums(&f, 0, NULL, 0), 0);
		assert_int_equal(pkt_parse(&f, 0, &pi, NULL, 0), 0);
		assert_int_equal(pi.has_fraghdr, 1);
		assert_int_equal(pi.frag, 1);
		assert_int_equal(pi.frag_off, offs[i]);
		assert_int_equal(pi.more, i < 2);
		assert_int_equal(pi.frag_id, 0xdeadbeef);
		assert_int_equal(pi.proto, IPPROTO_TCP);
		assert_int_equal(pi.l4_off, 64);
		memcpy(joined + offs[i], f.data + 64, lens[i]);
	}
	assert_pkt_eq(whole.data + 56, whole.len - 56, joined, sizeof(joined));

	/* without extension headers the fragment header follows IPv6's */
	s.n_exthdr = 0;
	build_ok(&s, &whole);
	assert_int_equal(pkt_fragment(&whole, 8, 16, 1, 5, &f), 0);
	assert_int_equal(f.data[6], 44);
	assert_int_equal(f.data[40], IPPROTO_TCP);
	assert_int_equal(rd16(f.data + 42), 8 | 1);
	assert_memory_equal(f.data + 48, whole.data + 48, 16);

	/* an atomic fragment is already fragmented */
	s.exthdr[0] = 44;
	s.n_exthdr = 1;
	build_ok(&s, &whole);
	assert_int_equal(pkt_fragment(&whole, 0, 8, 1, 5, &f), -EINVAL);
}

/* ---- ICMP errors -------------------------------------------------------- */

static void test_icmp4_frag_needed(void **state)
{
	struct pkt_spec is = spec_tcp4;
	struct pkt_spec s = {
		.family = AF_INET,
		.saddr = "198.18.0.254",
		.daddr = "198.18.0.1",
		.proto = IPPROTO_ICMP,
		.icmp_type = 3,
		.icmp_code = 4,
		.icmp_info = 1280,
		.inner_len = 28,
	};
	struct pkt inner, p;

	(void)state;
	/* an inner frame with Ethernet: its 14 bytes are skipped */
	is.l2 = 1;
	build_ok(&is, &inner);
	s.inner = &inner;
	build_ok(&s, &p);
	assert_pkt_eq(ref_icmp4_frag_needed, sizeof(ref_icmp4_frag_needed),
		      p.data, p.len);
	assert_int_equal(rd32(p.data + 24), 1280);

	/* all of it, behind Ethernet */
	s.inner_len = 0;
	s.l2 = 1;
	build_ok(&s, &p);
	assert_int_equal(p.len, 14 + 20 + 8 + sizeof(ref_tcp4));
	assert_memory_equal(p.data + 42, ref_tcp4, sizeof(ref_tcp4));
}

static void test_icmp6_ptb(void **state)
{
	struct pkt_spec s = {
		.family = AF_INET6,
		.saddr = "fd00:198:18::fe",
		.daddr = "fd7a:115c:a1e0::2",
		.proto = IPPROTO_ICMPV6,
		.icmp_type = 2,
		.icmp_info = 1280,
	};
	struct pkt_spec big = spec_udp6;
	uint8_t payload[1400];
	struct pkt inner, p;

	(void)state;
	build_ok(&spec_udp6, &inner);
	s.inner = &inner;
	build_ok(&s, &p);
	assert_pkt_eq(ref_icmp6_ptb, sizeof(ref_icmp6_ptb), p.data, p.len);

	/* a big packet quoted up to the minimum MTU, 1280 bytes in all */
	fill_pattern(payload, sizeof(payload));
	big.payload = payload;
	big.payload_len = sizeof(payload);
	build_ok(&big, &inner);
	s.inner_len = 1280 - 48;
	build_ok(&s, &p);
	assert_int_equal(p.len, 1280);
	assert_int_equal(rd16(p.data + 4), 1240);
	assert_memory_equal(p.data + 48, inner.data, 1232);
}

static void test_icmp_inner_truncated(void **state)
{
	struct pkt_spec s = {
		.family = AF_INET,
		.saddr = "198.18.0.254",
		.daddr = "198.18.0.1",
		.proto = IPPROTO_ICMP,
		.icmp_type = 11,
	};
	struct pkt inner, p;
	uint32_t sum;

	(void)state;
	build_ok(&spec_tcp4, &inner);
	s.inner = &inner;

	/* a quoted header whose checksum is wrong ... */
	inner.data[8] = 1;
	s.inner_len = 28;
	assert_int_equal(pkt_build(&s, &p), 0);
	verify_fails(&p, 0,
		     "embedded IPv4 header checksum 0x9259, want 0xd159");
	/* ... is not checked when the quote stops inside it */
	s.inner_len = 19;
	build_ok(&s, &p);
	assert_int_equal(p.len, 20 + 8 + 19);
	s.inner_len = 1;
	build_ok(&s, &p);

	/* the outer checksum still covers the quote */
	inner.data[8] = 64;
	s.inner_len = 0;
	build_ok(&s, &p);
	p.data[28 + 8] = 1;
	verify_fails(&p, 0, "ICMP checksum");
	/* fix the outer one by hand: now only the inner header is wrong */
	p.data[22] = 0;
	p.data[23] = 0;
	sum = pkt_csum_partial(p.data + 20, p.len - 20, 0);
	p.data[22] = pkt_csum_fold(sum) >> 8;
	p.data[23] = pkt_csum_fold(sum) & 0xff;
	verify_fails(&p, 0, "embedded IPv4 header");

	s.inner_len = sizeof(ref_tcp4) + 1;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s.inner_len = 0;
	s.proto = IPPROTO_UDP;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
}

/* ---- UDP zero checksum -------------------------------------------------- */

static void test_udp_zero_csum(void **state)
{
	struct pkt_spec s = spec_udp6;
	uint8_t word[2] = { 0, 0 };
	struct pkt p;
	uint16_t c;

	(void)state;
	s.udp_zero_csum = 1;
	build_ok(&s, &p);
	assert_int_equal(rd16(p.data + 46), 0);
	assert_memory_equal(p.data, ref_udp6, 46);

	s = spec_tcp4;
	s.proto = IPPROTO_UDP;
	s.udp_zero_csum = 1;
	build_ok(&s, &p);
	assert_int_equal(rd16(p.data + 26), 0);

	/* a computed 0 is sent as 0xffff (RFC 768) */
	s.udp_zero_csum = 0;
	s.payload = word;
	s.payload_len = sizeof(word);
	build_ok(&s, &p);
	c = rd16(p.data + 26);
	assert_int_not_equal(c, 0xffff);
	word[0] = c >> 8; /* payload word = checksum: sum becomes 0xffff */
	word[1] = c & 0xff;
	build_ok(&s, &p);
	assert_int_equal(rd16(p.data + 26), 0xffff);
}

/* ---- other fields and errors -------------------------------------------- */

static void test_raw_proto(void **state)
{
	struct pkt_spec s = {
		.family = AF_INET,
		.saddr = "198.18.0.1",
		.daddr = "198.18.0.2",
		.proto = 50,
		.payload = "espdata",
		.payload_len = 7,
	};
	struct pkt p;

	(void)state;
	build_ok(&s, &p);
	assert_int_equal(p.len, 27);
	assert_int_equal(p.data[9], 50);
	assert_memory_equal(p.data + 20, "espdata", 7);
	s.family = AF_INET6;
	s.saddr = "fd00:198:18::1";
	s.daddr = "fd00:198:18::2";
	s.exthdr[0] = 60;
	s.n_exthdr = 1;
	build_ok(&s, &p);
	assert_int_equal(p.data[6], 60);
	assert_int_equal(p.data[40], 50);
	assert_memory_equal(p.data + 48, "espdata", 7);
	s.bad_l4_csum = 1;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
}

static void test_fields(void **state)
{
	struct pkt_spec s = spec_tcp4;
	struct pkt p;

	(void)state;
	s.ttl = 5;
	s.tos = 0x10;
	s.df = 0;
	s.ip_id = 0xfedc;
	build_ok(&s, &p);
	assert_int_equal(p.data[1], 0x10);
	assert_int_equal(rd16(p.data + 4), 0xfedc);
	assert_int_equal(rd16(p.data + 6), 0);
	assert_int_equal(p.data[8], 5);

	s = spec_udp6;
	s.ttl = 0;
	s.tos = 0xff;
	s.flowlabel = 0xfffff;
	build_ok(&s, &p);
	assert_int_equal(rd32(p.data), 0x6fffffff);
	assert_int_equal(p.data[7], 64);
	s.flowlabel = 0x1fffff; /* only 20 bits are used */
	build_ok(&s, &p);
	assert_int_equal(rd32(p.data), 0x6fffffff);
}

static void test_build_errors(void **state)
{
	static uint8_t huge[PKT_MAX];
	struct pkt_spec s = spec_tcp4;
	struct pkt p;

	(void)state;
	s.family = 0;
	assert_int_equal(pkt_build(&s, &p), -EAFNOSUPPORT);
	s = spec_tcp4;
	s.daddr = "198.19.0";
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s.daddr = "fd00::1";
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s.daddr = NULL;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s = spec_tcp4;
	s.payload_len = 4;
	assert_int_equal(pkt_build(&s, &p), -EINVAL);
	s.payload = huge;
	s.payload_len = PKT_MAX - 40;
	assert_int_equal(pkt_build(&s, &p), 0);
	assert_int_equal(p.len, PKT_MAX);
	s.payload_len++;
	assert_int_equal(pkt_build(&s, &p), -EMSGSIZE);
}

static void test_l3_offset(void **state)
{
	struct pkt_spec s = spec_tcp4;
	struct pkt p;

	(void)state;
	s.l2 = 1;
	build_ok(&s, &p);
	assert_int_equal(pkt_l3_offset(&p), 14);
	p.l2 = 0; /* a frame whose writer forgot the flag */
	assert_int_equal(pkt_l3_offset(&p), 14);
	build_ok(&spec_udp6, &p);
	assert_int_equal(pkt_l3_offset(&p), 0);
}

/* ---- addresses ---------------------------------------------------------- */

static void test_addr(void **state)
{
	static const uint8_t v4[16] = {
		[10] = 0xff, [11] = 0xff, [12] = 198, [13] = 19, [15] = 1
	};
	static const uint8_t v6[16] = { 0xfd, 0x00, 0x01,    0x98,
					0x00, 0x19, [15] = 1 };
	char buf[PKT_ADDR_STRLEN];
	struct tp_addr a, b;
	unsigned int plen;

	(void)state;
	assert_int_equal(pkt_addr_parse("198.19.0.1", &a), 0);
	assert_memory_equal(a.b, v4, 16);
	assert_string_equal(pkt_addr_str(&a, buf, sizeof(buf)), "198.19.0.1");
	assert_int_equal(pkt_addr_parse("::ffff:198.19.0.1", &b), 0);
	assert_memory_equal(b.b, v4, 16);
	assert_int_equal(pkt_addr_parse("fd00:198:19::1", &a), 0);
	assert_memory_equal(a.b, v6, 16);
	assert_string_equal(pkt_addr_str(&a, buf, sizeof(buf)),
			    "fd00:198:19::1");
	assert_null(pkt_addr_str(&a, buf, 5));
	assert_int_equal(pkt_addr_parse("198.19.0", &a), -EINVAL);
	assert_int_equal(pkt_addr_parse("", &a), -EINVAL);
	assert_int_equal(pkt_addr_parse("fd00::1::2", &a), -EINVAL);
	assert_int_equal(pkt_addr_parse(NULL, &a), -EINVAL);

	assert_int_equal(pkt_prefix_parse("198.19.0.0/16", &a, &plen), 0);
	assert_int_equal(plen, 112);
	assert_int_equal(a.w[3], htonl(0xc6130000));
	assert_int_equal(pkt_prefix_parse("fd00:198:19::/64", &a, &plen), 0);
	assert_int_equal(plen, 64);
	assert_int_equal(pkt_prefix_parse("100.64.0.1", &a, &plen), 0);
	assert_int_equal(plen, 128);
	assert_int_equal(pkt_prefix_parse("0.0.0.0/0", &a, &plen), 0);
	assert_int_equal(plen, 96);
	assert_int_equal(pkt_prefix_parse("10.0.0.0/33", &a, &plen), -EINVAL);
	assert_int_equal(pkt_prefix_parse("fd00::/129", &a, &plen), -EINVAL);
	assert_int_equal(pkt_prefix_parse("10.0.0.0/", &a, &plen), -EINVAL);
	assert_int_equal(pkt_prefix_parse("10.0.0.0/8x", &a, &plen), -EINVAL);
	assert_int_equal(pkt_prefix_parse("10.0.0.0/-1", &a, &plen), -EINVAL);
	assert_int_equal(pkt_prefix_parse("10.0.0/8", &a, &plen), -EINVAL);
}

/* ---- diffs -------------------------------------------------------------- */

static char *diff_text(const uint8_t *w, size_t wlen, const uint8_t *g,
		       size_t glen)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	pkt_hexdiff(f, w, wlen, g, glen);
	fclose(f);
	return text;
}

static void test_hexdiff(void **state)
{
	uint8_t a[40], b[40];
	char mark[64], *t;

	(void)state;
	fill_pattern(a, sizeof(a));
	memcpy(b, a, sizeof(b));
	t = diff_text(a, 40, b, 40);
	assert_non_null(strstr(t, "identical, 40 bytes"));
	free(t);
	assert_int_equal(pkt_compare(NULL, a, 40, b, 40), 0);
	assert_pkt_eq(a, sizeof(a), b, sizeof(b));

	b[21] ^= 0xff;
	t = diff_text(a, 40, b, 40);
	assert_non_null(strstr(t, "first difference at offset 21 (0x15)"));
	assert_non_null(strstr(t, "0000  same"));
	assert_non_null(strstr(t, "0010  want"));
	assert_non_null(strstr(t, "\n      got "));
	/* the marker sits under byte 5 of the row, nothing after it */
	snprintf(mark, sizeof(mark), "\n%*s^^\n", 10 + 5 * 3 + 1, "");
	assert_non_null(strstr(t, mark));
	free(t);
	assert_int_equal(pkt_compare(NULL, a, 40, b, 40), -1);

	t = diff_text(a, 32, a, 34);
	assert_non_null(strstr(t, "want 32 bytes, got 34 bytes"));
	assert_non_null(strstr(t, "offset 32"));
	assert_non_null(strstr(t, "want -- --"));
	free(t);
	assert_int_equal(pkt_compare(NULL, a, 32, a, 34), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_rfc1071),
		cmocka_unit_test(test_ipv4_header_known),
#define REF_TEST(ref)                  \
	{ .name = ref_case_##ref.name, \
	  .test_func = test_ref,       \
	  .initial_state = (void *)&ref_case_##ref },
		REF_CASES(REF_TEST) /* a test per reference packet */
		cmocka_unit_test(test_verify_bad_l4),
		cmocka_unit_test(test_verify_ip4_header),
		cmocka_unit_test(test_verify_lengths),
		cmocka_unit_test(test_verify_udp_length),
		cmocka_unit_test(test_ip_options),
		cmocka_unit_test(test_ipv6_exthdrs),
		cmocka_unit_test(test_ipv6_ah_walk),
		cmocka_unit_test(test_fragments_ipv4),
		cmocka_unit_test(test_fragments_ipv6),
		cmocka_unit_test(test_icmp4_frag_needed),
		cmocka_unit_test(test_icmp6_ptb),
		cmocka_unit_test(test_icmp_inner_truncated),
		cmocka_unit_test(test_udp_zero_csum),
		cmocka_unit_test(test_raw_proto),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_l3_offset),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_hexdiff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
