/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Addresses, ports and protocols as people write them, and back:
 *
 *   ADDR           198.19.0.10, fd00:198:19::a
 *   ADDR:PORT      198.19.0.10:80, [fd00:198:19::a]:53
 *   ADDR:PORT/PROTO (a service frontend) 198.19.0.10:80/tcp,
 *                  [fd00:198:19::a]:53/udp, 198.19.0.10/icmp
 *   CIDR           198.18.0.0/16, fd00:198:18::/48, or a bare ADDR
 *   PORT or P-Q    80, 8000-8099
 *
 * Addresses are kept in the ABI's form (struct tp_addr, IPv4-mapped for
 * IPv4) and prefix lengths in its 128-bit space (an IPv4 /24 is 120).
 * Shared by tpctl and the loader.
 */
#ifndef TAILPLANE_LIB_ADDR_H
#define TAILPLANE_LIB_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "tailplane/abi.h"

/* Buffer sizes that always hold the formatted text, NUL included. */
#define TP_ADDR_STRLEN	   48 /* INET6_ADDRSTRLEN, rounded up */
#define TP_PREFIX_STRLEN   (TP_ADDR_STRLEN + 4)
#define TP_ENDPOINT_STRLEN (TP_ADDR_STRLEN + 8)
#define TP_SVC_STRLEN	   (TP_ENDPOINT_STRLEN + 8)

/* Bits of a tp_addr an IPv4 address does not use (::ffff:0:0/96). */
#define TP_V4_PLEN_BASE 96

bool tp_addr_is_v4(const struct tp_addr *a);
void tp_addr_from_v4(struct tp_addr *a, __be32 v4);
int tp_addr_parse(const char *s, struct tp_addr *a);
int tp_prefix_parse(const char *s, struct tp_addr *a, unsigned int *plen);
bool tp_prefix_contains(const struct tp_addr *prefix, unsigned int plen,
			const struct tp_addr *a);
int tp_port_parse(const char *s, __u16 *port);
int tp_port_range_parse(const char *s, __u16 *lo, __u16 *hi);
int tp_endpoint_parse(const char *s, struct tp_addr *a, __u16 *port,
		      bool *has_port);
int tp_proto_parse(const char *s, __u8 *proto);
const char *tp_proto_name(__u8 proto, char *buf, size_t len);
/* tp_proto_name() into a temporary that lives as long as the enclosing block. */
#define tp_proto_str(proto) tp_proto_name((proto), (char[4]){ 0 }, 4)
int tp_svc_key_parse(const char *s, struct tp_svc_key *key);

char *tp_addr_format(const struct tp_addr *a, char *buf, size_t len);
char *tp_prefix_format(const struct tp_addr *a, unsigned int plen, char *buf,
		       size_t len);
char *tp_endpoint_format(const struct tp_addr *a, __u16 port, char *buf,
			 size_t len);
char *tp_flow_endpoint_format(const struct tp_addr *a, __be16 port, __u8 proto,
			      char *buf);
char *tp_svc_key_format(const struct tp_svc_key *key, char *buf, size_t len);

#endif /* TAILPLANE_LIB_ADDR_H */
