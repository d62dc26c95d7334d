/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pktgen: a packet builder and checker for tailplane's packet tests.
 *
 * Builds IPv4/IPv6 packets (optionally behind an Ethernet header) with
 * TCP, UDP, ICMP, ICMPv6 or raw payloads, cuts fragments from them and
 * verifies their checksums.  Checksums are computed here, by the RFC 1071
 * algorithm, independently of any BPF code, so that a test compares the
 * datapath's output with an expectation it did not produce itself.
 *
 * Checksum values passed to and returned by pkt_csum_*() are host-order
 * numbers (the sum of the data read as big-endian 16-bit words); write a
 * result into a packet with htons().
 */
#ifndef TAILPLANE_TESTS_PKTGEN_H
#define TAILPLANE_TESTS_PKTGEN_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#include "tailplane/abi.h"

#define PKT_MAX		4096
#define PKT_ETH_HLEN	14
#define PKT_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

/* Ethernet addresses pkt_build() writes when asked for an L2 header. */
#define PKT_ETH_DST                                \
	{                                          \
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02 \
	}
#define PKT_ETH_SRC                                \
	{                                          \
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01 \
	}

/* TCP header fields pkt_build() writes that the spec does not set. */
#define PKT_TCP_WINDOW 65535

/* TCP flag bits of pkt_spec.tcp_flags. */
#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10

/**
 * struct pkt - a packet.
 * @data: the bytes, from the Ethernet header when @l2 is set, else from
 *        the IP header.
 * @len:  bytes used in @data.
 * @l2:   nonzero when @data starts with an Ethernet header.  pkt_build()
 *        and pkt_fragment() set it; set it yourself when filling @data by
 *        other means (see pkt_l3_offset()).
 */
struct pkt {
	uint8_t data[PKT_MAX];
	size_t len;
	int l2;
};

/**
 * struct pkt_spec - what pkt_build() builds; zero fields take defaults.
 * @l2:             nonzero: prepend a 14-byte Ethernet header (dst
 *                  PKT_ETH_DST, src PKT_ETH_SRC, ethertype from @family).
 * @family:         AF_INET or AF_INET6.
 * @saddr:          source address, text (inet_pton of @family).
 * @daddr:          destination address, text.
 * @proto:          IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6,
 *                  or any other number: then @payload follows the IP
 *                  header (and extension headers) directly.
 * @sport:          TCP/UDP source port, host order.
 * @dport:          TCP/UDP destination port, host order.
 * @tcp_flags:      TCP flag byte (PKT_TCP_*).  The TCP header is 20 bytes,
 *                  window PKT_TCP_WINDOW, urgent pointer 0.
 * @seq:            TCP sequence number.
 * @ack_seq:        TCP acknowledgment number.
 * @icmp_type:      ICMP/ICMPv6 type.
 * @icmp_code:      ICMP/ICMPv6 code.
 * @icmp_id:        echo identifier; used for echo request/reply types
 *                  (ICMP 8/0, ICMPv6 128/129) only.
 * @icmp_seq:       echo sequence number, likewise.
 * @icmp_info:      for every other type the 4 "rest of header" bytes,
 *                  host order: next-hop MTU for IPv4 frag-needed (lands in
 *                  the low 16 bits, RFC 1191), MTU for ICMPv6
 *                  packet-too-big, pointer for parameter problem.
 * @inner:          ICMP/ICMPv6: embed this packet after the 8-byte ICMP
 *                  header, from its IP header on (its Ethernet header, if
 *                  any, is skipped); @payload follows it.
 * @inner_len:      bytes of @inner to embed, 0 for all of it.
 * @payload:        payload bytes.
 * @payload_len:    payload length.
 * @ttl:            IPv4 TTL / IPv6 hop limit, 0 for 64.
 * @ip_id:          IPv4 identification.
 * @df:             IPv4: set don't-fragment.
 * @ip_options:     IPv4 options, copied verbatim.
 * @ip_options_len: their length, a multiple of 4, at most 40.
 * @exthdr:         IPv6 extension header types to insert, in order, before
 *                  the upper-layer header: 0 (hop-by-hop), 60 (destination
 *                  options), each 8 bytes holding one PadN option; 43
 *                  (routing type 0, segments left 0); 44 (fragment header,
 *                  offset 0, M=0, id 0: an atomic fragment).
 * @n_exthdr:       entries used in @exthdr.
 * @udp_zero_csum:  UDP: leave the checksum 0.
 * @bad_l4_csum:    TCP/UDP/ICMP/ICMPv6: write the correct checksum xor
 *                  0x1234.
 * @tos:            IPv4 TOS / IPv6 traffic class.
 * @flowlabel:      IPv6 flow label (20 bits).
 */
struct pkt_spec {
	int l2;
	int family;
	const char *saddr, *daddr;
	uint8_t proto;
	uint16_t sport, dport;
	uint8_t tcp_flags;
	uint32_t seq, ack_seq;
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id, icmp_seq;
	uint32_t icmp_info;
	const struct pkt *inner;
	size_t inner_len;
	const void *payload;
	size_t payload_len;
	uint8_t ttl;
	uint16_t ip_id;
	int df;
	const uint8_t *ip_options;
	size_t ip_options_len;
	uint8_t exthdr[8];
	int n_exthdr;
	int udp_zero_csum;
	int bad_l4_csum;
	uint8_t tos;
	uint32_t flowlabel;
};

/**
 * struct pkt_info - where things are in a packet, filled by pkt_parse().
 * @family:   AF_INET or AF_INET6, from the IP version nibble.
 * @l3_off:   offset of the IP header.
 * @l4_off:   offset of the upper-layer header (after IPv4 options and
 *            IPv6 extension headers), or of fragment data.
 * @end:      end of the IP datagram as its length field says.
 * @proto:    upper-layer protocol (after all extension headers).
 * @nexthdr_off: offset of the byte holding @proto: the IPv4 protocol
 *            field, the IPv6 next header field or that of the last
 *            extension header.
 * @frag:     nonzero when the packet is a real fragment (offset != 0 or
 *            more fragments); an atomic IPv6 fragment is not.
 * @frag_off: fragment offset in bytes.
 * @more:     more-fragments flag.
 * @frag_id:  IPv4 identification or IPv6 fragment id.
 * @has_fraghdr: IPv6: a fragment header is present.
 */
struct pkt_info {
	int family;
	size_t l3_off;
	size_t l4_off;
	size_t end;
	uint8_t proto;
	size_t nexthdr_off;
	int frag;
	size_t frag_off;
	int more;
	uint32_t frag_id;
	int has_fraghdr;
};

int pkt_build(const struct pkt_spec *s, struct pkt *out);
int pkt_fragment(const struct pkt *whole, size_t off, size_t len, int more,
		 uint32_t id, struct pkt *out);
int pkt_parse(const struct pkt *p, int l2, struct pkt_info *pi, char *why,
	      size_t whylen);
int pkt_verify_csums(const struct pkt *p, int l2, char *why, size_t whylen);
size_t pkt_l3_offset(const struct pkt *p);

uint32_t pkt_csum_partial(const void *data, size_t len, uint32_t sum);
uint16_t pkt_csum_fold(uint32_t sum);

void pkt_hexdiff(FILE *f, const uint8_t *want, size_t wlen, const uint8_t *got,
		 size_t glen);
int pkt_compare(FILE *f, const uint8_t *want, size_t wlen, const uint8_t *got,
		size_t glen);

int pkt_addr_parse(const char *s, struct tp_addr *out);
int pkt_prefix_parse(const char *s, struct tp_addr *out, unsigned int *plen);
const char *pkt_addr_str(const struct tp_addr *a, char *buf, size_t len);

/**
 * assert_pkt_eq() - cmocka assertion that two packets are byte-identical.
 * @want:     expected bytes.
 * @want_len: their length.
 * @got:      actual bytes.
 * @got_len:  their length.
 *
 * On mismatch prints pkt_hexdiff() to stderr and fails the test naming
 * both arguments.  Needs <cmocka.h> at the place of use.
 */
#define assert_pkt_eq(want, want_len, got, got_len)                          \
	do {                                                                 \
		if (pkt_compare(stderr, (const uint8_t *)(want), (want_len), \
				(const uint8_t *)(got), (got_len)))          \
			fail_msg("packets differ: want %s, got %s", #want,   \
				 #got);                                      \
	} while (0)

#endif /* TAILPLANE_TESTS_PKTGEN_H */
