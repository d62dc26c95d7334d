/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Peer sources of tailplaned: the peers of a tailnet interface as read from
 * kernel WireGuard (generic netlink, wg_genl.c), from a userspace WireGuard
 * (the cross-platform UAPI socket, wg_uapi.c) or from tailscaled (LocalAPI,
 * tailscale.c), in one shape; and the mapping of those peers to identity
 * entries of a zone (peers.c).
 *
 * Every source produces the same canonical list: peers sorted by @key
 * (strcmp order) with duplicates merged, each peer's prefixes masked,
 * sorted and deduplicated.  A WireGuard public key is always base64 (44
 * characters), whichever way it was read.
 *
 * Errors are negative errno values; the function that fails also leaves a
 * one-line description in tpd_peer_last_error() (per thread).
 */
#ifndef TAILPLANE_LOADER_PEERS_H
#define TAILPLANE_LOADER_PEERS_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/types.h>

#include <linux/types.h>

#include "tailplane/abi.h"

#define TP_PEER_KEY_LEN	 80 /* "nodekey:" + 64 hex digits + NUL fits */
#define TP_PEER_NAME_LEN 64
#define TP_PEER_USER_LEN 128

#define TP_WG_KEY_LEN	  32 /* a WireGuard key, raw bytes */
#define TP_WG_KEY_B64_LEN 44 /* its base64 form, without the NUL */
#define TP_WG_KEY_HEX_LEN 64 /* its hex form (UAPI), without the NUL */

#define TP_WG_SOCKDIR_DEFAULT "/var/run/wireguard"
#define TP_TS_SOCKET_DEFAULT  "/var/run/tailscale/tailscaled.sock"
#define TP_TS_TIMEOUT_MS      5000	  /* default LocalAPI request timeout */
#define TP_TS_BODY_MAX	      (64u << 20) /* largest status document read */
#define TP_TS_MAX_DEPTH	      64 /* deepest nesting of a status document read */

/* No user but root serves a peer source's socket (see tpd_peer_check_cred()). */
#define TP_PEER_UID_ROOT_ONLY ((uid_t)-1)

/**
 * struct tp_peer_prefix - one address prefix of a peer.
 * @addr: the address, IPv4 stored IPv4-mapped; bits past @plen are zero.
 * @plen: prefix length in the 128-bit space, 0..128 (an IPv4 /32 is 128,
 *        an IPv4 /24 is 120).
 */
struct tp_peer_prefix {
	struct tp_addr addr;
	__u8 plen;
};

/**
 * struct tp_peer - a peer of a tailnet interface.
 * @key:        WireGuard: the public key in base64 (44 characters);
 *              Tailscale: the node key string ("nodekey:<hex>"), the key
 *              of the status document's "Peer" map.
 * @name:       Tailscale: HostName, or DNSName without its trailing dot
 *              when HostName is empty; WireGuard: empty.  Truncated to fit.
 * @user:       Tailscale: the LoginName of the peer's user; empty when
 *              unknown or longer than the field.  WireGuard: empty.
 * @tags:       Tailscale: the peer's ACL tags ("tag:web"), as sent.
 * @n_tags:     entries of @tags.
 * @prefixes:   WireGuard: the allowed-ips; Tailscale: the TailscaleIPs, each
 *              a /128 (an IPv4 address mapped, /128).
 * @n_prefixes: entries of @prefixes.
 */
struct tp_peer {
	char key[TP_PEER_KEY_LEN];
	char name[TP_PEER_NAME_LEN];
	char user[TP_PEER_USER_LEN];
	char **tags;
	size_t n_tags;
	struct tp_peer_prefix *prefixes;
	size_t n_prefixes;
};

/**
 * struct tp_peer_list - peers, owned by the list.
 * @v: the peers.
 * @n: their number.
 */
struct tp_peer_list {
	struct tp_peer *v;
	size_t n;
};

/* ---- peer lists (peers.c) ---------------------------------------------- */

void tpd_peer_list_free(struct tp_peer_list *l);
struct tp_peer *tpd_peer_list_add(struct tp_peer_list *l, const char *key);
int tpd_peer_add_prefix(struct tp_peer *p, const struct tp_addr *addr,
			unsigned int plen);
int tpd_peer_add_tag(struct tp_peer *p, const char *tag);
bool tpd_peer_has_tag(const struct tp_peer *p, const char *tag);
int tpd_peer_list_canonicalize(struct tp_peer_list *l);

int tpd_peer_prefix_parse(const char *s, bool bare_ok,
			  struct tp_peer_prefix *p);
int tpd_peer_prefix_format(const struct tp_peer_prefix *p, char *buf,
			   size_t len);

void tpd_wg_key_to_base64(const __u8 key[TP_WG_KEY_LEN],
			  char out[TP_WG_KEY_B64_LEN + 1]);
int tpd_wg_key_from_base64(const char *s, __u8 key[TP_WG_KEY_LEN]);
int tpd_wg_key_from_hex(const char *s, __u8 key[TP_WG_KEY_LEN]);

__u64 tpd_deadline_after(unsigned int ms);
unsigned int tpd_deadline_left(__u64 deadline);
ssize_t tpd_recv_by(int fd, void *buf, size_t len, __u64 deadline);

const char *tpd_peer_last_error(void);
void tpd_peer_set_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
int tpd_peer_check_cred(int fd, const char *what, const char *path,
			uid_t trust_uid);

/* ---- kernel WireGuard, generic netlink (wg_genl.c) --------------------- */

struct nlmsghdr;

int tpd_wg_genl_dump(const char *ifname, struct tp_peer_list *out);
int tpd_wg_genl_parse_msg(const struct nlmsghdr *nlh, struct tp_peer_list *out);
int tpd_wg_genl_parse_buf(const void *buf, size_t len,
			  struct tp_peer_list *out);

/* ---- userspace WireGuard, UAPI socket (wg_uapi.c) ---------------------- */

int tpd_wg_uapi_dump(const char *ifname, const char *sockdir,
		     struct tp_peer_list *out);
int tpd_wg_uapi_dump_as(const char *ifname, const char *sockdir,
			uid_t trust_uid, struct tp_peer_list *out);
int tpd_wg_uapi_dump_by(const char *ifname, const char *sockdir,
			uid_t trust_uid, __u64 deadline,
			struct tp_peer_list *out);
int tpd_wg_uapi_parse(const char *text, size_t len, struct tp_peer_list *out);

/* ---- Tailscale LocalAPI (tailscale.c) ---------------------------------- */

int tpd_ts_fetch_status(const char *socket_path, char **body, size_t *len);
int tpd_ts_fetch_status_timeout(const char *socket_path, long timeout_ms,
				char **body, size_t *len);
int tpd_ts_fetch_peers(const char *socket_path, long timeout_ms,
		       uid_t trust_uid, struct tp_peer_list *out);
int tpd_ts_parse_status(const char *json, size_t len, struct tp_peer_list *out);

struct tp_ts_parser;

struct tp_ts_parser *tpd_ts_parser_new(struct tp_peer_list *out);
int tpd_ts_parser_feed(struct tp_ts_parser *p, const char *text, size_t len);
int tpd_ts_parser_finish(struct tp_ts_parser *p);
void tpd_ts_parser_free(struct tp_ts_parser *p);

/* ---- peers -> identities (peers.c) -------------------------------------- */

/**
 * enum tp_peer_match - what a struct tp_peer_rule compares.
 * @TP_PEER_MATCH_KEY:  the peer's @key equals the rule's value (a WireGuard
 *                      public key in base64, or a Tailscale node key).
 * @TP_PEER_MATCH_TAG:  the peer carries the tag (Tailscale, "tag:web").
 * @TP_PEER_MATCH_USER: the peer's user LoginName equals the value
 *                      (Tailscale; tagged nodes have no person as user).
 */
enum tp_peer_match {
	TP_PEER_MATCH_KEY = 1,
	TP_PEER_MATCH_TAG = 2,
	TP_PEER_MATCH_USER = 3,
};

/**
 * struct tp_peer_rule - one "peer property -> identity" rule of a zone.
 * @match: enum tp_peer_match.
 * @value: the key, tag or login name compared, exactly (case matters).
 * @id:    the identity a matching peer's prefixes get; not 0.
 *
 * A zone's rules form one ordered list, the order of the configuration:
 * a peer gets the identity of the first rule it matches, whatever order
 * its own tags come in.  So with [tag:db -> 300, tag:web -> 301], a peer
 * tagged both web and db is 300.  A peer no rule matches gets the
 * fallback identity (normally TP_ID_TAILNET).
 */
struct tp_peer_rule {
	enum tp_peer_match match;
	const char *value;
	__u32 id;
};

/**
 * struct tp_ident_entry - one identity entry of a zone, ready for
 * tp_identity_set().
 * @prefix: the prefix, masked to @plen.
 * @id:     the identity.
 * @zone:   the zone.
 * @plen:   prefix length in the 128-bit space.
 */
struct tp_ident_entry {
	struct tp_addr prefix;
	__u32 id;
	__u16 zone;
	__u8 plen;
};

int tpd_peer_rules_validate(const struct tp_peer_rule *rules, size_t n_rules);
__u32 tpd_peer_identity(const struct tp_peer *p,
			const struct tp_peer_rule *rules, size_t n_rules,
			__u32 fallback_id);
int tpd_peers_to_identities(const struct tp_peer_list *peers, __u16 zone,
			    const struct tp_peer_rule *rules, size_t n_rules,
			    __u32 fallback_id, struct tp_ident_entry **out,
			    size_t *n_out, size_t *conflicts);

#endif /* TAILPLANE_LOADER_PEERS_H */
