// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pktgen: packet builder and checker for tailplane's packet tests.
 *
 * Fields are written and read byte by byte at their RFC offsets, in
 * network byte order, so nothing here depends on struct layouts, on host
 * alignment or on the BPF side's headers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>

#include "pktgen.h"

#define IP4_HLEN    20
#define IP6_HLEN    40
#define TCP_HLEN    20
#define UDP_HLEN    8
#define ICMP_HLEN   8
#define EXTHDR_LEN  8
#define FRAGHDR_LEN 8

/* IPv4 header field offsets (RFC 791). */
#define IP4_TOS	    1
#define IP4_TOT_LEN 2
#define IP4_ID	    4
#define IP4_FRAG    6
#define IP4_TTL	    8
#define IP4_PROTO   9
#define IP4_CSUM    10
#define IP4_SADDR   12
#define IP4_DADDR   16

#define IP4_DF	    0x4000
#define IP4_MF	    0x2000
#define IP4_OFFMASK 0x1fff

/* IPv6 header field offsets (RFC 8200). */
#define IP6_PLEN  4
#define IP6_NEXT  6
#define IP6_HLIM  7
#define IP6_SADDR 8
#define IP6_DADDR 24

#define IP6_FRAG_M	 0x0001
#define IP6_FRAG_OFFMASK 0xfff8

/* IPv6 extension header types. */
#define NH_HOPOPTS  0
#define NH_ROUTING  43
#define NH_FRAGMENT 44
#define NH_AH	    51
#define NH_DSTOPTS  60

#define EXTHDR_WALK_MAX 32

/* Upper-layer header field offsets. */
#define TCP_SEQ	   4
#define TCP_ACK	   8
#define TCP_DOFF   12
#define TCP_FLAGS  13
#define TCP_WINDOW 14
#define TCP_CSUM   16
#define UDP_LEN	   4
#define UDP_CSUM   6
#define ICMP_CSUM  2
#define ICMP_REST  4

#define DEFAULT_TTL 64

/* ---- byte order --------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t whylen,
						      const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- checksums (RFC 1071) ----------------------------------------------- */

/**
 * pkt_csum_partial() - add data to a one's complement sum.
 * @data: bytes to add, read as big-endian 16-bit words.
 * @len:  their length; an odd last byte is padded with a zero byte.  When
 *        chaining calls, every call but the last must have an even @len.
 * @sum:  sum so far (0 to start).
 *
 * Return: the new unfolded sum, host order.
 */
uint32_t pkt_csum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t acc = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	while (acc >> 32)
		acc = (acc & 0xffffffff) + (acc >> 32);
	return (uint32_t)acc;
}

/**
 * pkt_csum_fold() - fold a sum to 16 bits and complement it.
 * @sum: a sum from pkt_csum_partial().
 *
 * Return: the checksum to store (host order, write it with htons()).
 * Over data that includes a correct checksum field the result is 0.
 */
uint16_t pkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Checksum of @len bytes with the 16-bit field at even offset @off as zero. */
static uint16_t csum_skip(const uint8_t *p, size_t len, size_t off,
			  uint32_t sum)
{
	sum = pkt_csum_partial(p, off, sum);
	sum = pkt_csum_partial(p + off + 2, len - off - 2, sum);
	return pkt_csum_fold(sum);
}

static uint32_t pseudo_sum(int family, const uint8_t *l3, uint8_t proto,
			   size_t l4len)
{
	uint8_t tail[8] = { 0 };
	uint32_t sum;

	if (family == AF_INET) {
		sum = pkt_csum_partial(l3 + IP4_SADDR, 8, 0);
		tail[1] = proto;
		put16(tail + 2, (uint16_t)l4len);
		return pkt_csum_partial(tail, 4, sum);
	}
	sum = pkt_csum_partial(l3 + IP6_SADDR, 32, 0);
	put32(tail, (uint32_t)l4len);
	tail[7] = proto;
	return pkt_csum_partial(tail, 8, sum);
}

/* Offset of the checksum field in an upper-layer header, or -1. */
static int l4_csum_off(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return TCP_CSUM;
	case IPPROTO_UDP:
		return UDP_CSUM;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return ICMP_CSUM;
	default:
		return -1;
	}
}

/* Correct checksum of an upper-layer segment, whatever its field holds. */
static uint16_t l4_csum(int family, const uint8_t *l3, uint8_t proto,
			const uint8_t *l4, size_t len)
{
	uint32_t sum = 0;

	if (proto != IPPROTO_ICMP)
		sum = pseudo_sum(family, l3, proto, len);
	return csum_skip(l4, len, (size_t)l4_csum_off(proto), sum);
}

static uint16_t ip4_hdr_csum(const uint8_t *ip, size_t hlen)
{
	return csum_skip(ip, hlen, IP4_CSUM, 0);
}

/* ---- small predicates --------------------------------------------------- */

static int is_icmp(uint8_t proto)
{
	return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6;
}

static int icmp_is_echo(uint8_t proto, uint8_t type)
{
	if (proto == IPPROTO_ICMP)
		return type == 0 || type == 8;
	return type == 128 || type == 129;
}

static int icmp_is_error(uint8_t proto, uint8_t type)
{
	if (proto == IPPROTO_ICMP)
		return type == 3 || type == 4 || type == 5 || type == 11 ||
		       type == 12;
	return type < 128;
}

static int exthdr_buildable(uint8_t type)
{
	return type == NH_HOPOPTS || type == NH_ROUTING ||
	       type == NH_FRAGMENT || type == NH_DSTOPTS;
}

static int exthdr_walkable(uint8_t type)
{
	return exthdr_buildable(type) || type == NH_AH;
}

static size_t l4_hdr_len(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return TCP_HLEN;
	case IPPROTO_UDP:
		return UDP_HLEN;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return ICMP_HLEN;
	default:
		return 0;
	}
}

/**
 * pkt_l3_offset() - offset of the IP header in a packet.
 * @p: the packet.
 *
 * Return: PKT_ETH_HLEN when @p->l2 is set.  When it is not, also when the
 * first byte is no IPv4/IPv6 version nibble but bytes 12-13 hold an IP
 * ethertype (a frame whose @l2 its writer forgot); else 0.
 */
size_t pkt_l3_offset(const struct pkt *p)
{
	unsigned int version;
	uint16_t type;

	if (p->l2)
		return PKT_ETH_HLEN;
	if (p->len < 1)
		return 0;
	version = p->data[0] >> 4;
	if (version == 4 || version == 6 || p->len < PKT_ETH_HLEN)
		return 0;
	type = get16(p->data + 12);
	if (type == ETH_P_IP || type == ETH_P_IPV6)
		return PKT_ETH_HLEN;
	return 0;
}

/* ---- building ----------------------------------------------------------- */

static int check_spec_ip4(const struct pkt_spec *s)
{
	if (s->n_exthdr)
		return -EINVAL;
	if (s->ip_options_len % 4 || s->ip_options_len > 40)
		return -EINVAL;
	if (s->ip_options_len && !s->ip_options)
		return -EINVAL;
	return 0;
}

static int check_spec_ip6(const struct pkt_spec *s)
{
	int i;

	if (s->ip_options_len)
		return -EINVAL;
	if (s->n_exthdr < 0 || s->n_exthdr > (int)sizeof(s->exthdr))
		return -EINVAL;
	for (i = 0; i < s->n_exthdr; i++)
		if (!exthdr_buildable(s->exthdr[i]))
			return -EINVAL;
	return 0;
}

static int check_spec(const struct pkt_spec *s, const struct pkt *out)
{
	int err;

	if (s->family == AF_INET)
		err = check_spec_ip4(s);
	else if (s->family == AF_INET6)
		err = check_spec_ip6(s);
	else
		err = -EAFNOSUPPORT;
	if (err)
		return err;
	if (s->payload_len && !s->payload)
		return -EINVAL;
	if (s->inner && (!is_icmp(s->proto) || s->inner == out))
		return -EINVAL;
	if (s->bad_l4_csum && l4_csum_off(s->proto) < 0)
		return -EINVAL;
	return 0;
}

static int parse_addrs(const struct pkt_spec *s, uint8_t *sa, uint8_t *da)
{
	if (!s->saddr || !s->daddr)
		return -EINVAL;
	if (inet_pton(s->family, s->saddr, sa) != 1 ||
	    inet_pton(s->family, s->daddr, da) != 1)
		return -EINVAL;
	return 0;
}

static uint8_t spec_ttl(const struct pkt_spec *s)
{
	return s->ttl ? s->ttl : DEFAULT_TTL;
}

static size_t ip_hlen(const struct pkt_spec *s)
{
	if (s->family == AF_INET)
		return IP4_HLEN + s->ip_options_len;
	return IP6_HLEN + EXTHDR_LEN * (size_t)s->n_exthdr;
}

static void put_eth(uint8_t *p, int family)
{
	static const uint8_t dst[] = PKT_ETH_DST, src[] = PKT_ETH_SRC;

	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	put16(p + 12, family == AF_INET ? ETH_P_IP : ETH_P_IPV6);
}

static void put_ip4(const struct pkt_spec *s, uint8_t *ip, const uint8_t *sa,
		    const uint8_t *da, size_t hlen, size_t l4len)
{
	ip[0] = 0x40 | (uint8_t)(hlen / 4);
	ip[IP4_TOS] = s->tos;
	put16(ip + IP4_TOT_LEN, (uint16_t)(hlen + l4len));
	put16(ip + IP4_ID, s->ip_id);
	put16(ip + IP4_FRAG, s->df ? IP4_DF : 0);
	ip[IP4_TTL] = spec_ttl(s);
	ip[IP4_PROTO] = s->proto;
	memcpy(ip + IP4_SADDR, sa, 4);
	memcpy(ip + IP4_DADDR, da, 4);
	if (s->ip_options_len)
		memcpy(ip + IP4_HLEN, s->ip_options, s->ip_options_len);
	put16(ip + IP4_CSUM, ip4_hdr_csum(ip, hlen));
}

/* One 8-byte extension header of @type whose next header is @next. */
static void put_exthdr(uint8_t *h, uint8_t type, uint8_t next)
{
	memset(h, 0, EXTHDR_LEN);
	h[0] = next;
	if (type == NH_HOPOPTS || type == NH_DSTOPTS) {
		h[2] = 1; /* PadN */
		h[3] = 4;
	}
	/* routing: type 0, segments left 0; fragment: offset 0, M 0, id 0 */
}

static void put_ip6(const struct pkt_spec *s, uint8_t *ip, const uint8_t *sa,
		    const uint8_t *da, size_t hlen, size_t l4len)
{
	uint8_t next;
	int i;

	put32(ip, 6u << 28 | (uint32_t)s->tos << 20 | (s->flowlabel & 0xfffff));
	put16(ip + IP6_PLEN, (uint16_t)(hlen - IP6_HLEN + l4len));
	ip[IP6_NEXT] = s->n_exthdr ? s->exthdr[0] : s->proto;
	ip[IP6_HLIM] = spec_ttl(s);
	memcpy(ip + IP6_SADDR, sa, 16);
	memcpy(ip + IP6_DADDR, da, 16);
	for (i = 0; i < s->n_exthdr; i++) {
		next = i + 1 < s->n_exthdr ? s->exthdr[i + 1] : s->proto;
		put_exthdr(ip + IP6_HLEN + EXTHDR_LEN * i, s->exthdr[i], next);
	}
}

static void put_tcp(const struct pkt_spec *s, uint8_t *th)
{
	put16(th, s->sport);
	put16(th + 2, s->dport);
	put32(th + TCP_SEQ, s->seq);
	put32(th + TCP_ACK, s->ack_seq);
	th[TCP_DOFF] = (TCP_HLEN / 4) << 4;
	th[TCP_FLAGS] = s->tcp_flags;
	put16(th + TCP_WINDOW, PKT_TCP_WINDOW);
}

static void put_udp(const struct pkt_spec *s, uint8_t *uh, size_t len)
{
	put16(uh, s->sport);
	put16(uh + 2, s->dport);
	put16(uh + UDP_LEN, (uint16_t)len);
}

static void put_icmp(const struct pkt_spec *s, uint8_t *ih)
{
	ih[0] = s->icmp_type;
	ih[1] = s->icmp_code;
	if (icmp_is_echo(s->proto, s->icmp_type)) {
		put16(ih + ICMP_REST, s->icmp_id);
		put16(ih + ICMP_REST + 2, s->icmp_seq);
	} else {
		put32(ih + ICMP_REST, s->icmp_info);
	}
}

/* The bytes of s->inner to embed in an ICMP error. */
static int inner_bytes(const struct pkt_spec *s, const uint8_t **p, size_t *n)
{
	size_t off, avail;

	*p = NULL;
	*n = 0;
	if (!s->inner)
		return 0;
	off = pkt_l3_offset(s->inner);
	if (off > s->inner->len || s->inner->len > PKT_MAX)
		return -EINVAL;
	avail = s->inner->len - off;
	if (s->inner_len > avail)
		return -EINVAL;
	*p = s->inner->data + off;
	*n = s->inner_len ? s->inner_len : avail;
	return 0;
}

/* Writes the upper-layer header and body; returns their length or -errno. */
static int put_l4(const struct pkt_spec *s, uint8_t *l4, size_t room)
{
	size_t hlen = l4_hdr_len(s->proto), in_len, total;
	const uint8_t *in;
	int err;

	err = inner_bytes(s, &in, &in_len);
	if (err)
		return err;
	total = hlen + in_len + s->payload_len;
	if (total > room)
		return -EMSGSIZE;
	if (s->proto == IPPROTO_TCP)
		put_tcp(s, l4);
	else if (s->proto == IPPROTO_UDP)
		put_udp(s, l4, total);
	else if (is_icmp(s->proto))
		put_icmp(s, l4);
	if (in_len)
		memcpy(l4 + hlen, in, in_len);
	if (s->payload_len)
		memcpy(l4 + hlen + in_len, s->payload, s->payload_len);
	return (int)total;
}

static void set_l4_csum(const struct pkt_spec *s, const uint8_t *l3,
			uint8_t *l4, size_t len)
{
	int off = l4_csum_off(s->proto);
	uint16_t c;

	if (off < 0)
		return;
	c = l4_csum(s->family, l3, s->proto, l4, len);
	if (s->proto == IPPROTO_UDP) {
		if (s->udp_zero_csum)
			c = 0;
		else if (!c)
			c = 0xffff; /* RFC 768: 0 means "no checksum" */
	}
	if (s->bad_l4_csum)
		c ^= 0x1234;
	put16(l4 + off, c);
}

/**
 * pkt_build() - build a packet from a spec.
 * @s:   what to build.
 * @out: the packet; it is zeroed first and must not be @s->inner.
 *
 * Writes the IPv4 header checksum, the upper-layer checksum (TCP, UDP and
 * ICMPv6 over their pseudo-header, ICMP without), IPv4 total length or
 * IPv6 payload length, and the UDP length.
 *
 * Return: 0, -EINVAL for a bad spec or address, -EAFNOSUPPORT for a bad
 * family, -EMSGSIZE when the packet would exceed PKT_MAX.
 */
int pkt_build(const struct pkt_spec *s, struct pkt *out)
{
	uint8_t sa[16], da[16], *l3;
	size_t hlen;
	int err, n;

	err = check_spec(s, out);
	if (err)
		return err;
	err = parse_addrs(s, sa, da);
	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	l3 = out->data + (s->l2 ? PKT_ETH_HLEN : 0);
	hlen = ip_hlen(s);
	n = put_l4(s, l3 + hlen, PKT_MAX - (size_t)(l3 - out->data) - hlen);
	if (n < 0)
		return n;
	if (s->l2)
		put_eth(out->data, s->family);
	if (s->family == AF_INET)
		put_ip4(s, l3, sa, da, hlen, (size_t)n);
	else
		put_ip6(s, l3, sa, da, hlen, (size_t)n);
	set_l4_csum(s, l3, l3 + hlen, (size_t)n);
	out->len = (size_t)(l3 - out->data) + hlen + (size_t)n;
	out->l2 = !!s->l2;
	return 0;
}

/* ---- parsing ------------------------------------------------------------ */

static int parse_ip4(const struct pkt *p, struct pkt_info *pi, char *why,
		     size_t whylen)
{
	const uint8_t *ip = p->data + pi->l3_off;
	size_t avail = p->len - pi->l3_off, ihl, tot;
	uint16_t fo;

	if (avail < IP4_HLEN)
		return fail(why, whylen, "truncated IPv4 header");
	ihl = (size_t)(ip[0] & 0x0f) * 4;
	if (ihl < IP4_HLEN)
		return fail(why, whylen, "IPv4 IHL %zu bytes", ihl);
	tot = get16(ip + IP4_TOT_LEN);
	if (tot < ihl || tot > avail)
		return fail(
			why, whylen,
			"IPv4 total length %zu, header %zu, %zu bytes present",
			tot, ihl, avail);
	fo = get16(ip + IP4_FRAG);
	pi->family = AF_INET;
	pi->l4_off = pi->l3_off + ihl;
	pi->end = pi->l3_off + tot;
	pi->proto = ip[IP4_PROTO];
	pi->nexthdr_off = pi->l3_off + IP4_PROTO;
	pi->frag_off = (size_t)(fo & IP4_OFFMASK) * 8;
	pi->more = !!(fo & IP4_MF);
	pi->frag = pi->frag_off || pi->more;
	pi->frag_id = get16(ip + IP4_ID);
	return 0;
}

static size_t exthdr_len(uint8_t type, const uint8_t *h)
{
	if (type == NH_FRAGMENT)
		return FRAGHDR_LEN;
	if (type == NH_AH)
		return ((size_t)h[1] + 2) * 4;
	return ((size_t)h[1] + 1) * 8;
}

static void parse_fraghdr(const uint8_t *h, struct pkt_info *pi)
{
	uint16_t fo = get16(h + 2);

	pi->has_fraghdr = 1;
	pi->frag_off = fo & IP6_FRAG_OFFMASK;
	pi->more = !!(fo & IP6_FRAG_M);
	pi->frag = pi->frag_off || pi->more;
	pi->frag_id = get32(h + 4);
}

static int parse_ip6(const struct pkt *p, struct pkt_info *pi, char *why,
		     size_t whylen)
{
	const uint8_t *ip = p->data + pi->l3_off;
	size_t pos, hl;
	uint8_t nh;
	int i;

	if (p->len - pi->l3_off < IP6_HLEN)
		return fail(why, whylen, "truncated IPv6 header");
	pi->family = AF_INET6;
	pi->end = pi->l3_off + IP6_HLEN + get16(ip + IP6_PLEN);
	if (pi->end > p->len)
		return fail(why, whylen,
			    "IPv6 payload length %u, %zu bytes present",
			    get16(ip + IP6_PLEN),
			    p->len - pi->l3_off - IP6_HLEN);
	nh = ip[IP6_NEXT];
	pi->nexthdr_off = pi->l3_off + IP6_NEXT;
	pos = pi->l3_off + IP6_HLEN;
	for (i = 0; exthdr_walkable(nh) && pi->frag_off == 0; i++) {
		if (i == EXTHDR_WALK_MAX)
			return fail(why, whylen,
				    "more than %d extension headers",
				    EXTHDR_WALK_MAX);
		if (pos + 8 > pi->end)
			return fail(why, whylen,
				    "truncated extension header %u", nh);
		hl = exthdr_len(nh, p->data + pos);
		if (nh == NH_FRAGMENT)
			parse_fraghdr(p->data + pos, pi);
		pi->nexthdr_off = pos;
		nh = p->data[pos];
		pos += hl;
		if (pos > pi->end)
			return fail(why, whylen, "truncated extension header");
	}
	pi->l4_off = pos;
	pi->proto = nh;
	return 0;
}

/**
 * pkt_parse() - find the IP and upper-layer headers of a packet.
 * @p:      the packet.
 * @l2:     nonzero when @p starts with an Ethernet header.
 * @pi:     filled with what was found.
 * @why:    receives a short reason on failure; may be NULL.
 * @whylen: size of @why.
 *
 * IPv6 extension headers 0, 43, 44, 51 and 60 are walked; the walk stops
 * at a fragment header with a nonzero offset.
 *
 * Return: 0, or -1 when a header is truncated or a length field is
 * inconsistent with the packet.
 */
int pkt_parse(const struct pkt *p, int l2, struct pkt_info *pi, char *why,
	      size_t whylen)
{
	unsigned int version;

	memset(pi, 0, sizeof(*pi));
	pi->l3_off = l2 ? PKT_ETH_HLEN : 0;
	if (p->len > PKT_MAX)
		return fail(why, whylen, "length %zu > PKT_MAX", p->len);
	if (p->len <= pi->l3_off)
		return fail(why, whylen, "no IP header");
	version = p->data[pi->l3_off] >> 4;
	if (version == 4)
		return parse_ip4(p, pi, why, whylen);
	if (version == 6)
		return parse_ip6(p, pi, why, whylen);
	return fail(why, whylen, "IP version %u", version);
}

/* ---- verifying ---------------------------------------------------------- */

static int verify_ip4_hdr(const uint8_t *ip, size_t hlen, const char *what,
			  char *why, size_t whylen)
{
	if (pkt_csum_fold(pkt_csum_partial(ip, hlen, 0)) == 0)
		return 0;
	return fail(why, whylen, "%s checksum 0x%04x, want 0x%04x", what,
		    get16(ip + IP4_CSUM), ip4_hdr_csum(ip, hlen));
}

/* The IPv4 header quoted by an ICMP error, when it is there in full. */
static int verify_embedded(const uint8_t *b, size_t n, char *why, size_t whylen)
{
	size_t ihl;

	if (n < IP4_HLEN || b[0] >> 4 != 4)
		return 0;
	ihl = (size_t)(b[0] & 0x0f) * 4;
	if (ihl < IP4_HLEN || ihl > n)
		return 0;
	return verify_ip4_hdr(b, ihl, "embedded IPv4 header", why, whylen);
}

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_ICMP:
		return "ICMP";
	default:
		return "ICMPv6";
	}
}

/* Whether the segment, its checksum field included, sums to 0 when folded. */
static int l4_sum_ok(int family, const uint8_t *l3, uint8_t proto,
		     const uint8_t *l4, size_t len)
{
	uint32_t sum = 0;

	if (proto != IPPROTO_ICMP)
		sum = pseudo_sum(family, l3, proto, len);
	return pkt_csum_fold(pkt_csum_partial(l4, len, sum)) == 0;
}

/* The UDP datagram's own length; returns -1 when it is inconsistent. */
static int udp_len(const uint8_t *uh, size_t *len, char *why, size_t whylen)
{
	uint16_t ulen = get16(uh + UDP_LEN);

	if (ulen < UDP_HLEN || ulen > *len)
		return fail(why, whylen, "UDP length %u, %zu bytes", ulen,
			    *len);
	*len = ulen;
	return 0;
}

static int verify_l4(const struct pkt *p, const struct pkt_info *pi, char *why,
		     size_t whylen)
{
	const uint8_t *l3 = p->data + pi->l3_off, *l4 = p->data + pi->l4_off;
	size_t len = pi->end - pi->l4_off;
	uint8_t proto = pi->proto;
	uint16_t want;

	if (len < (is_icmp(proto) ? 4 : l4_hdr_len(proto)))
		return fail(why, whylen, "truncated %s header",
			    proto_name(proto));
	if (proto == IPPROTO_UDP) {
		if (udp_len(l4, &len, why, whylen))
			return -1;
		if (!get16(l4 + UDP_CSUM))
			return 0;
	}
	if (!l4_sum_ok(pi->family, l3, proto, l4, len)) {
		want = l4_csum(pi->family, l3, proto, l4, len);
		if (proto == IPPROTO_UDP && !want)
			want = 0xffff;
		return fail(why, whylen, "%s checksum 0x%04x, want 0x%04x",
			    proto_name(proto), get16(l4 + l4_csum_off(proto)),
			    want);
	}
	if (is_icmp(proto) && len >= ICMP_HLEN && icmp_is_error(proto, l4[0]))
		return verify_embedded(l4 + ICMP_HLEN, len - ICMP_HLEN, why,
				       whylen);
	return 0;
}

/**
 * pkt_verify_csums() - check every checksum of a packet that can be checked.
 * @p:      the packet.
 * @l2:     nonzero when @p starts with an Ethernet header.
 * @why:    receives a short reason on failure; may be NULL.
 * @whylen: size of @why.
 *
 * Checks the IPv4 header checksum and, unless the packet is a fragment,
 * the TCP, UDP (unless 0), ICMP or ICMPv6 checksum; for ICMP and ICMPv6
 * errors also the checksum of the quoted IPv4 header when it is complete.
 * Bytes after the IP datagram's length (Ethernet padding) are ignored.
 *
 * Return: 0 when all are good, else -1.
 */
int pkt_verify_csums(const struct pkt *p, int l2, char *why, size_t whylen)
{
	struct pkt_info pi;
	const uint8_t *ip;

	if (pkt_parse(p, l2, &pi, why, whylen))
		return -1;
	ip = p->data + pi.l3_off;
	if (pi.family == AF_INET && verify_ip4_hdr(ip, pi.l4_off - pi.l3_off,
						   "IPv4 header", why, whylen))
		return -1;
	if (pi.frag || l4_csum_off(pi.proto) < 0)
		return 0;
	return verify_l4(p, &pi, why, whylen);
}

/* ---- fragmenting -------------------------------------------------------- */

static int fragment_ip4(const struct pkt *whole, const struct pkt_info *pi,
			size_t off, size_t len, int more, uint32_t id,
			struct pkt *out)
{
	size_t hlen = pi->l4_off - pi->l3_off;
	uint8_t *ip = out->data + pi->l3_off;
	uint16_t fo;

	if (id > 0xffff)
		return -EINVAL;
	memcpy(out->data, whole->data, pi->l4_off);
	memcpy(out->data + pi->l4_off, whole->data + pi->l4_off + off, len);
	fo = (get16(ip + IP4_FRAG) & IP4_DF) | (uint16_t)(off / 8);
	if (more)
		fo |= IP4_MF;
	put16(ip + IP4_FRAG, fo);
	put16(ip + IP4_ID, (uint16_t)id);
	put16(ip + IP4_TOT_LEN, (uint16_t)(hlen + len));
	put16(ip + IP4_CSUM, ip4_hdr_csum(ip, hlen));
	out->len = pi->l4_off + len;
	return 0;
}

static int fragment_ip6(const struct pkt *whole, const struct pkt_info *pi,
			size_t off, size_t len, int more, uint32_t id,
			struct pkt *out)
{
	uint8_t *fh = out->data + pi->l4_off;

	if (pi->l4_off + FRAGHDR_LEN + len > PKT_MAX)
		return -EMSGSIZE;
	memcpy(out->data, whole->data, pi->l4_off);
	out->data[pi->nexthdr_off] = NH_FRAGMENT;
	fh[0] = pi->proto;
	fh[1] = 0;
	put16(fh + 2, (uint16_t)(off | (more ? IP6_FRAG_M : 0)));
	put32(fh + 4, id);
	memcpy(fh + FRAGHDR_LEN, whole->data + pi->l4_off + off, len);
	out->len = pi->l4_off + FRAGHDR_LEN + len;
	put16(out->data + pi->l3_off + IP6_PLEN,
	      (uint16_t)(out->len - pi->l3_off - IP6_HLEN));
	return 0;
}

/**
 * pkt_fragment() - cut one fragment from an unfragmented packet.
 * @whole: a packet from pkt_build() (its @l2 says whether it has Ethernet).
 * @off:   offset of the fragment in the fragmentable part, a multiple of 8.
 *         The fragmentable part is the IPv4 payload, or for IPv6 what
 *         follows the IPv6 header and all its extension headers (the
 *         upper-layer header on).
 * @len:   bytes in the fragment; a multiple of 8 unless it is the last.
 * @more:  set the more-fragments flag.
 * @id:    IPv4 identification (at most 0xffff) or IPv6 fragment id.
 * @out:   the fragment; must not be @whole.
 *
 * IPv4: copies the header (options included), sets offset, MF, id and
 * total length (DF is kept) and recomputes the header checksum.  IPv6:
 * inserts a fragment header after the extension headers, links it into
 * the next-header chain and sets the payload length.  The Ethernet header
 * is kept.
 *
 * Return: 0, or -EINVAL for a bad range, a packet that is already a
 * fragment or cannot be parsed, -EMSGSIZE when the result would not fit.
 */
int pkt_fragment(const struct pkt *whole, size_t off, size_t len, int more,
		 uint32_t id, struct pkt *out)
{
	struct pkt_info pi;
	int l2 = pkt_l3_offset(whole) != 0, err;

	if (off % 8 || whole == out)
		return -EINVAL;
	if (pkt_parse(whole, l2, &pi, NULL, 0) || pi.frag || pi.has_fraghdr)
		return -EINVAL;
	if (off > pi.end - pi.l4_off || len > pi.end - pi.l4_off - off)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (pi.family == AF_INET)
		err = fragment_ip4(whole, &pi, off, len, more, id, out);
	else
		err = fragment_ip6(whole, &pi, off, len, more, id, out);
	out->l2 = l2;
	return err;
}

/* ---- comparing ---------------------------------------------------------- */

#define HEX_ROW 16

static int byte_differs(const uint8_t *w, size_t wlen, const uint8_t *g,
			size_t glen, size_t i)
{
	if (i >= wlen || i >= glen)
		return (i >= wlen) != (i >= glen);
	return w[i] != g[i];
}

static void hex_bytes(FILE *f, const uint8_t *b, size_t blen, size_t row,
		      size_t n)
{
	size_t i;

	for (i = row; i < row + HEX_ROW && i < n; i++) {
		if (i < blen)
			fprintf(f, " %02x", b[i]);
		else
			fprintf(f, " --");
	}
	fputc('\n', f);
}

static void hexdiff_row(FILE *f, const uint8_t *w, size_t wlen,
			const uint8_t *g, size_t glen, size_t row, size_t n)
{
	size_t i, last = 0;
	int differs = 0;

	for (i = row; i < row + HEX_ROW && i < n; i++) {
		if (byte_differs(w, wlen, g, glen, i)) {
			differs = 1;
			last = i;
		}
	}
	if (!differs) {
		fprintf(f, "%04zx  same", row);
		hex_bytes(f, w, wlen, row, n);
		return;
	}
	fprintf(f, "%04zx  want", row);
	hex_bytes(f, w, wlen, row, n);
	fprintf(f, "      got ");
	hex_bytes(f, g, glen, row, n);
	fprintf(f, "          ");
	for (i = row; i <= last; i++)
		fprintf(f, byte_differs(w, wlen, g, glen, i) ? " ^^" : "   ");
	fputc('\n', f);
}

/**
 * pkt_hexdiff() - print two packets as hex with their differences marked.
 * @f:    where to print.
 * @want: expected bytes.
 * @wlen: their length.
 * @got:  actual bytes.
 * @glen: their length.
 *
 * Prints a summary line with both lengths and the first differing offset,
 * then 16-byte rows: rows equal in both as "same", others as a "want" and
 * a "got" line with "^^" under each differing byte ("--" is a byte past
 * the end of one packet).
 */
void pkt_hexdiff(FILE *f, const uint8_t *want, size_t wlen, const uint8_t *got,
		 size_t glen)
{
	size_t n = wlen > glen ? wlen : glen, first, row;

	for (first = 0; first < n; first++)
		if (byte_differs(want, wlen, got, glen, first))
			break;
	if (first == n) {
		fprintf(f, "packets identical, %zu bytes\n", wlen);
		return;
	}
	fprintf(f,
		"want %zu bytes, got %zu bytes, first difference at offset %zu (0x%zx)\n",
		wlen, glen, first, first);
	for (row = 0; row < n; row += HEX_ROW)
		hexdiff_row(f, want, wlen, got, glen, row, n);
}

/**
 * pkt_compare() - compare two packets, printing a hex diff if they differ.
 * @f:    where to print the diff; NULL for nowhere.
 * @want: expected bytes.
 * @wlen: their length.
 * @got:  actual bytes.
 * @glen: their length.
 *
 * Return: 0 when identical, else -1.
 */
int pkt_compare(FILE *f, const uint8_t *want, size_t wlen, const uint8_t *got,
		size_t glen)
{
	if (wlen == glen && (!wlen || !memcmp(want, got, wlen)))
		return 0;
	if (f)
		pkt_hexdiff(f, want, wlen, got, glen);
	return -1;
}

/* ---- addresses ---------------------------------------------------------- */

/**
 * pkt_addr_parse() - parse a textual address into the ABI representation.
 * @s:   IPv4 dotted quad or IPv6 text.
 * @out: the address; IPv4 becomes IPv4-mapped (::ffff:a.b.c.d).
 *
 * Return: 0, or -EINVAL when @s is neither.
 */
int pkt_addr_parse(const char *s, struct tp_addr *out)
{
	struct in_addr a4;

	memset(out, 0, sizeof(*out));
	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		out->w[2] = htonl(0xffff);
		out->w[3] = a4.s_addr;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->b) == 1)
		return 0;
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

/**
 * pkt_prefix_parse() - parse "address/length" into the ABI representation.
 * @s:    address text, optionally followed by "/length"; without it the
 *        length is the full address.
 * @out:  the address, as pkt_addr_parse() (host bits are kept).
 * @plen: the prefix length in the 128-bit space: an IPv4 /24 is 120.
 *
 * Return: 0, or -EINVAL.
 */
int pkt_prefix_parse(const char *s, struct tp_addr *out, unsigned int *plen)
{
	char buf[PKT_ADDR_STRLEN], *slash, *end;
	struct in_addr a4;
	unsigned long n;
	int v4;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	v4 = inet_pton(AF_INET, buf, &a4) == 1;
	if (pkt_addr_parse(buf, out))
		return -EINVAL;
	*plen = 128;
	if (!slash)
		return 0;
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end || n > (v4 ? 32u : 128u) ||
	    slash[1] == '-' || slash[1] == '+' || slash[1] == ' ')
		return -EINVAL;
	*plen = (unsigned int)n + (v4 ? 96 : 0);
	return 0;
}

/**
 * pkt_addr_str() - format an ABI address.
 * @a:   the address.
 * @buf: where to write; PKT_ADDR_STRLEN bytes always suffice.
 * @len: size of @buf.
 *
 * IPv4-mapped addresses are printed as IPv4 dotted quads.
 *
 * Return: @buf, or NULL when it is too small.
 */
const char *pkt_addr_str(const struct tp_addr *a, char *buf, size_t len)
{
	if (!a->w[0] && !a->w[1] && a->w[2] == htonl(0xffff))
		return inet_ntop(AF_INET, &a->w[3], buf, (socklen_t)len);
	return inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
}
