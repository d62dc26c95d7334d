// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Parsing and formatting of addresses, prefixes, ports, protocols and
 * service frontends (see addr.h for the accepted forms).  Parsers are
 * strict: the whole string must match, numbers are plain decimal, and
 * anything else is -EINVAL with the output left unspecified.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

static const __u8 tp_v4_mapped_prefix[12] = { 0, 0, 0, 0, 0,	0,
					      0, 0, 0, 0, 0xff, 0xff };

/* A writable copy of @s in @buf of @size bytes; -EINVAL if it does not fit. */
static int tp_copy_arg(char *buf, size_t size, const char *s)
{
	size_t len = strlen(s);

	if (len >= size)
		return -EINVAL;
	memcpy(buf, s, len + 1);
	return 0;
}

/** tp_addr_is_v4() - is @a an IPv4-mapped address? */
bool tp_addr_is_v4(const struct tp_addr *a)
{
	return !memcmp(a->b, tp_v4_mapped_prefix, sizeof(tp_v4_mapped_prefix));
}

/** tp_addr_from_v4() - @a becomes the IPv4-mapped form of @v4. */
void tp_addr_from_v4(struct tp_addr *a, __be32 v4)
{
	memcpy(a->b, tp_v4_mapped_prefix, sizeof(tp_v4_mapped_prefix));
	a->w[3] = v4;
}

/**
 * tp_addr_parse() - an IPv4 or IPv6 address in its usual text form.
 * @s: the text ("198.19.0.10", "fd00::a"); no brackets, no prefix.
 * @a: the address, IPv4-mapped for IPv4.
 *
 * Return: 0 or -EINVAL.
 */
int tp_addr_parse(const char *s, struct tp_addr *a)
{
	struct in_addr v4;

	if (inet_pton(AF_INET, s, &v4) == 1) {
		tp_addr_from_v4(a, v4.s_addr);
		return 0;
	}
	if (strchr(s, ':') && inet_pton(AF_INET6, s, a->b) == 1)
		return 0;
	return -EINVAL;
}

/* Decimal digits only, at most @max_digits of them; 0 or -EINVAL. */
static int tp_parse_decimal(const char *s, size_t max_digits, unsigned long max,
			    unsigned long *val)
{
	size_t i, len = strlen(s);
	unsigned long v = 0;

	if (!len || len > max_digits)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*val = v;
	return 0;
}

/* Is any bit of @a past @plen (0..128) set? */
static bool tp_addr_host_bits(const struct tp_addr *a, unsigned int plen)
{
	unsigned int i;

	for (i = 0; i < 16; i++, plen = plen >= 8 ? plen - 8 : 0) {
		if (plen >= 8)
			continue;
		if (a->b[i] & (__u8)(0xff >> plen))
			return true;
	}
	return false;
}

/**
 * tp_prefix_parse() - a CIDR prefix, or an address meaning its host prefix.
 * @s:    "198.18.0.0/16", "fd00:198:18::/48", "198.18.1.1".
 * @a:    the prefix's address.
 * @plen: its length in the 128-bit space (IPv4 /16 is 112, a bare IPv4
 *        address 128).
 *
 * Return: 0, -EINVAL for bad syntax, or -EDOM when bits past the prefix
 * length are set ("198.18.1.1/24"): ambiguous, so refused.
 */
int tp_prefix_parse(const char *s, struct tp_addr *a, unsigned int *plen)
{
	char buf[TP_PREFIX_STRLEN];
	unsigned long len;
	char *slash;
	bool v4;

	if (tp_copy_arg(buf, sizeof(buf), s))
		return -EINVAL;
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (tp_addr_parse(buf, a))
		return -EINVAL;
	v4 = tp_addr_is_v4(a) && !strchr(buf, ':');
	if (!slash) {
		*plen = 128;
		return 0;
	}
	if (tp_parse_decimal(slash + 1, 3, v4 ? 32 : 128, &len))
		return -EINVAL;
	*plen = (v4 ? TP_V4_PLEN_BASE : 0) + (unsigned int)len;
	if (tp_addr_host_bits(a, *plen))
		return -EDOM;
	return 0;
}

/**
 * tp_prefix_contains() - is @a inside @prefix/@plen (128-bit space)?
 */
bool tp_prefix_contains(const struct tp_addr *prefix, unsigned int plen,
			const struct tp_addr *a)
{
	unsigned int i;
	__u8 mask;

	for (i = 0; i < 16 && plen; i++, plen = plen >= 8 ? plen - 8 : 0) {
		mask = plen >= 8 ? 0xff : (__u8)(0xff << (8 - plen));
		if ((prefix->b[i] ^ a->b[i]) & mask)
			return false;
	}
	return true;
}

/**
 * tp_port_parse() - a port number, 0..65535, plain decimal.
 * @s:    the text.
 * @port: the port, host order.
 *
 * Return: 0 or -EINVAL.
 */
int tp_port_parse(const char *s, __u16 *port)
{
	unsigned long v;

	if (tp_parse_decimal(s, 5, 65535, &v))
		return -EINVAL;
	*port = (__u16)v;
	return 0;
}

/**
 * tp_port_range_parse() - "P" or "P-Q" with P <= Q.
 * @s:  the text.
 * @lo: first port (host order).
 * @hi: last port (host order); P alone gives @hi = @lo.
 *
 * Return: 0 or -EINVAL.
 */
int tp_port_range_parse(const char *s, __u16 *lo, __u16 *hi)
{
	char buf[16];
	char *dash;

	if (tp_copy_arg(buf, sizeof(buf), s))
		return -EINVAL;
	dash = strchr(buf, '-');
	if (!dash)
		return tp_port_parse(buf, lo) ?: tp_port_parse(buf, hi);
	*dash = '\0';
	if (tp_port_parse(buf, lo) || tp_port_parse(dash + 1, hi) || *lo > *hi)
		return -EINVAL;
	return 0;
}

/* "[v6]" or "[v6]:PORT"; @rest points past the closing bracket. */
static int tp_endpoint_parse_v6(char *buf, struct tp_addr *a, char **rest)
{
	char *close = strchr(buf, ']');

	if (!close)
		return -EINVAL;
	*close = '\0';
	if (!strchr(buf + 1, ':') || tp_addr_parse(buf + 1, a))
		return -EINVAL;
	*rest = close + 1;
	return 0;
}

/**
 * tp_endpoint_parse() - ADDR:PORT, [IPV6]:PORT, or (when allowed) ADDR.
 * @s:        the text.
 * @a:        the address.
 * @port:     the port, host order; 0 when absent.
 * @has_port: NULL: the port is required; else set to whether @s had one,
 *            and a bare address (IPv6 with or without brackets) is
 *            accepted.
 *
 * Return: 0 or -EINVAL.
 */
int tp_endpoint_parse(const char *s, struct tp_addr *a, __u16 *port,
		      bool *has_port)
{
	char buf[TP_ENDPOINT_STRLEN];
	char *colon, *rest;

	if (!*s || tp_copy_arg(buf, sizeof(buf), s))
		return -EINVAL;
	*port = 0;
	if (buf[0] == '[') {
		if (tp_endpoint_parse_v6(buf, a, &rest))
			return -EINVAL;
		colon = *rest ? rest : NULL;
		if (colon && *colon != ':')
			return -EINVAL;
	} else {
		colon = strchr(buf, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		if (colon)
			*colon = '\0';
		if (tp_addr_parse(buf, a))
			return -EINVAL;
		/* an IPv6 address with a port must be bracketed */
		if (colon && !tp_addr_is_v4(a))
			return -EINVAL;
	}
	if (has_port)
		*has_port = colon != NULL;
	if (!colon)
		return has_port ? 0 : -EINVAL;
	return tp_port_parse(colon + 1, port);
}

static const struct {
	const char *name;
	__u8 proto;
} tp_proto_names[] = {
	{ "tcp", IPPROTO_TCP },	     { "udp", IPPROTO_UDP },
	{ "icmp", IPPROTO_ICMP },    { "icmpv6", IPPROTO_ICMPV6 },
	{ "icmp6", IPPROTO_ICMPV6 }, { "ipv6-icmp", IPPROTO_ICMPV6 },
};

#define TP_N_PROTO_NAMES (sizeof(tp_proto_names) / sizeof(tp_proto_names[0]))

/**
 * tp_proto_parse() - an IP protocol by name (tcp, udp, icmp, icmpv6) or
 * number (0..255).
 *
 * Return: 0 or -EINVAL.
 */
int tp_proto_parse(const char *s, __u8 *proto)
{
	unsigned long v;
	size_t i;

	for (i = 0; i < TP_N_PROTO_NAMES; i++) {
		if (!strcmp(s, tp_proto_names[i].name)) {
			*proto = tp_proto_names[i].proto;
			return 0;
		}
	}
	if (tp_parse_decimal(s, 3, 255, &v))
		return -EINVAL;
	*proto = (__u8)v;
	return 0;
}

/**
 * tp_proto_name() - "tcp", "udp", "icmp", "icmpv6", or the number.
 * @proto: IP protocol.
 * @buf:   room for a number (4 bytes).
 * @len:   its size.
 */
const char *tp_proto_name(__u8 proto, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < TP_N_PROTO_NAMES; i++)
		if (tp_proto_names[i].proto == proto)
			return tp_proto_names[i].name;
	snprintf(buf, len, "%u", proto);
	return buf;
}

/* The protocol part of a frontend, for an address of the given family. */
static int tp_svc_proto_parse(const char *s, bool v4, __u8 *proto)
{
	if (!strcmp(s, "tcp") || !strcmp(s, "udp"))
		return tp_proto_parse(s, proto);
	if (!strcmp(s, "icmp")) {
		*proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
		return 0;
	}
	if (!v4 && (!strcmp(s, "icmpv6") || !strcmp(s, "icmp6"))) {
		*proto = IPPROTO_ICMPV6;
		return 0;
	}
	return -EINVAL;
}

/**
 * tp_svc_key_parse() - a service frontend, VIP:PORT/PROTO.
 * @s:   "198.19.0.10:80/tcp", "[fd00:198:19::a]:53/udp", or for an ICMP
 *       echo service "198.19.0.10/icmp" ("icmp" is ICMPv6 for an IPv6
 *       VIP; a port, if given, must be 0).
 * @key: the map key (zeroed padding).
 *
 * Return: 0 or -EINVAL (TCP and UDP need a port 1..65535).
 */
int tp_svc_key_parse(const char *s, struct tp_svc_key *key)
{
	char buf[TP_SVC_STRLEN];
	bool has_port;
	char *slash;
	__u16 port;

	if (tp_copy_arg(buf, sizeof(buf), s))
		return -EINVAL;
	slash = strrchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	memset(key, 0, sizeof(*key));
	if (tp_endpoint_parse(buf, &key->vip, &port, &has_port))
		return -EINVAL;
	if (tp_svc_proto_parse(slash + 1, tp_addr_is_v4(&key->vip),
			       &key->proto))
		return -EINVAL;
	if (key->proto == IPPROTO_TCP || key->proto == IPPROTO_UDP) {
		if (!has_port || !port)
			return -EINVAL;
	} else if (port) {
		return -EINVAL;
	}
	key->port = htons(port);
	return 0;
}

/** tp_addr_format() - @a as text: dotted quad for IPv4-mapped, else IPv6. */
char *tp_addr_format(const struct tp_addr *a, char *buf, size_t len)
{
	const char *ok;

	if (tp_addr_is_v4(a))
		ok = inet_ntop(AF_INET, &a->w[3], buf, len);
	else
		ok = inet_ntop(AF_INET6, a->b, buf, len);
	if (!ok && len)
		snprintf(buf, len, "?");
	return buf;
}

/**
 * tp_prefix_format() - "198.18.0.0/16" or "fd00::/48".
 * @a:    the prefix address.
 * @plen: length in the 128-bit space; an IPv4-mapped prefix of 96 or
 *        more is shown as IPv4.
 * @buf:  TP_PREFIX_STRLEN bytes.
 * @len:  their number.
 */
char *tp_prefix_format(const struct tp_addr *a, unsigned int plen, char *buf,
		       size_t len)
{
	char addr[TP_ADDR_STRLEN];
	bool v4 = tp_addr_is_v4(a) && plen >= TP_V4_PLEN_BASE;

	if (v4)
		inet_ntop(AF_INET, &a->w[3], addr, sizeof(addr));
	else
		inet_ntop(AF_INET6, a->b, addr, sizeof(addr));
	snprintf(buf, len, "%s/%u", addr, v4 ? plen - TP_V4_PLEN_BASE : plen);
	return buf;
}

/** tp_endpoint_format() - "198.18.1.1:8080" or "[fd00::1]:8080". */
char *tp_endpoint_format(const struct tp_addr *a, __u16 port, char *buf,
			 size_t len)
{
	char addr[TP_ADDR_STRLEN];

	tp_addr_format(a, addr, sizeof(addr));
	if (tp_addr_is_v4(a))
		snprintf(buf, len, "%s:%u", addr, port);
	else
		snprintf(buf, len, "[%s]:%u", addr, port);
	return buf;
}

/**
 * tp_flow_endpoint_format() - one side of a flow: tp_endpoint_format() for
 * TCP and UDP, the address alone for the rest (an ICMP id is no port)
 * @a: the address
 * @port: the port, network order
 * @proto: the flow's protocol
 * @buf: where to write, TP_ENDPOINT_STRLEN bytes
 *
 * Return: @buf.
 */
char *tp_flow_endpoint_format(const struct tp_addr *a, __be16 port, __u8 proto,
			      char *buf)
{
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP)
		return tp_endpoint_format(a, ntohs(port), buf,
					  TP_ENDPOINT_STRLEN);
	return tp_addr_format(a, buf, TP_ENDPOINT_STRLEN);
}

/**
 * tp_svc_key_format() - a frontend as tp_svc_key_parse() reads it back:
 * "198.19.0.10:80/tcp", "[fd00::a]:53/udp", "198.19.0.10/icmp",
 * "[fd00::a]/icmp".
 */
char *tp_svc_key_format(const struct tp_svc_key *key, char *buf, size_t len)
{
	char ep[TP_ENDPOINT_STRLEN], addr[TP_ADDR_STRLEN], num[4];
	const char *proto;

	if (key->proto == IPPROTO_ICMP || key->proto == IPPROTO_ICMPV6) {
		if (tp_addr_is_v4(&key->vip))
			tp_addr_format(&key->vip, ep, sizeof(ep));
		else
			snprintf(ep, sizeof(ep), "[%s]",
				 tp_addr_format(&key->vip, addr, sizeof(addr)));
		/* "icmp" is the VIP family's ICMP; a mismatch is shown as is */
		if (tp_addr_is_v4(&key->vip) == (key->proto == IPPROTO_ICMP))
			proto = "icmp";
		else
			proto = tp_proto_name(key->proto, num, sizeof(num));
		snprintf(buf, len, "%s/%s", ep, proto);
		return buf;
	}
	tp_endpoint_format(&key->vip, ntohs(key->port), ep, sizeof(ep));
	proto = tp_proto_name(key->proto, num, sizeof(num));
	snprintf(buf, len, "%s/%s", ep, proto);
	return buf;
}
