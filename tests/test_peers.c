// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of tailplaned's peer sources (loader/peers.h): WireGuard key
 * encodings and prefixes, the UAPI "get=1" answer parser, the generic
 * netlink dump parser on synthetic messages (one message, a dump split
 * across messages and receive buffers, errors), the Tailscale status
 * parser on tests/fixtures/tailscale-status-*.json, and the mapping of
 * peers to identity entries.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>

#include "fixture.h"
#include "peers.h"
#include "peertest.h"

/* ---- keys: K1 and K2 (peertest.h), a third real one, hex and base64 ---- */

#define K3_HEX \
	"b4cb13f94d6278e14e3bfa09c422156deda1b2d670e9ad94afd870b112616310"
#define K3_B64 "tMsT+U1ieOFOO/oJxCIVbe2hstZw6a2Ur9hwsRJhYxA="
#define PRIV_HEX \
	"e84b5a6e0a9d1c2f3b4a5968778695a4b3c2d1e0f1e2d3c4b5a69788796a5b40"
#define ZERO_HEX \
	"0000000000000000000000000000000000000000000000000000000000000000"

/* An independent hex decoder for building test input. */
static void hex32(const char *hex, __u8 out[32])
{
	unsigned int i, v;

	assert_int_equal(strlen(hex), 64);
	for (i = 0; i < 32; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (__u8)v;
	}
}

/* ---- helpers ------------------------------------------------------------ */

static void expect_prefixes(const struct tp_peer *p, const char *const *want,
			    size_t n)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i;

	check(p->n_prefixes == n, "peer %s: %zu prefixes, want %zu", p->key,
	      p->n_prefixes, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(tpd_peer_prefix_format(&p->prefixes[i], buf,
							sizeof(buf)),
				 0);
		check(!strcmp(buf, want[i]), "peer %s prefix %zu: %s, want %s",
		      p->key, i, buf, want[i]);
	}
}

#define EXPECT_PREFIXES(p, ...)                                  \
	do {                                                     \
		static const char *const w_[] = { __VA_ARGS__ }; \
		expect_prefixes(p, w_, ARRAY_SIZE(w_));          \
	} while (0)

static void expect_no_prefixes(const struct tp_peer *p)
{
	check(p->n_prefixes == 0, "peer %s: %zu prefixes, want none", p->key,
	      p->n_prefixes);
}

static void expect_tags(const struct tp_peer *p, const char *const *want,
			size_t n)
{
	size_t i;

	check(p->n_tags == n, "peer %s: %zu tags, want %zu", p->key, p->n_tags,
	      n);
	for (i = 0; i < n; i++)
		check(!strcmp(p->tags[i], want[i]),
		      "peer %s tag %zu: %s, want %s", p->key, i, p->tags[i],
		      want[i]);
}

#define EXPECT_TAGS(p, ...)                                      \
	do {                                                     \
		static const char *const w_[] = { __VA_ARGS__ }; \
		expect_tags(p, w_, ARRAY_SIZE(w_));              \
	} while (0)

static void expect_error(int got, int want, const char *needle)
{
	check(got == want, "returned %d (%s), want %d (%s); error: %s", got,
	      strerror(-got), want, strerror(-want), tpd_peer_last_error());
	check(strstr(tpd_peer_last_error(), needle),
	      "error \"%s\" does not mention \"%s\"", tpd_peer_last_error(),
	      needle);
}

/* A document a parser refuses: its error code and a word of its message. */
struct refused_text {
	const char *text;
	int err;
	const char *msg;
};

/* Each of @cases makes @parse fail as it says, leaving the list empty. */
static void expect_refused(int (*parse)(const char *text, size_t len,
					struct tp_peer_list *out),
			   const struct refused_text *cases, size_t n)
{
	struct tp_peer_list l;
	size_t i;

	for (i = 0; i < n; i++) {
		int ret = parse(cases[i].text, strlen(cases[i].text), &l);

		check(ret == cases[i].err, "case %zu: %d, want %d (%s)", i, ret,
		      cases[i].err, tpd_peer_last_error());
		check(strstr(tpd_peer_last_error(), cases[i].msg),
		      "case %zu: error \"%s\" lacks \"%s\"", i,
		      tpd_peer_last_error(), cases[i].msg);
		check(l.n == 0 && !l.v, "case %zu: list not empty on error", i);
	}
}

static struct tp_peer *add_peer(struct tp_peer_list *l, const char *key,
				const char *user)
{
	struct tp_peer *p = tpd_peer_list_add(l, key);

	assert_non_null(p);
	if (user)
		snprintf(p->user, sizeof(p->user), "%s", user);
	return p;
}

static void add_prefix(struct tp_peer *p, const char *cidr)
{
	struct tp_peer_prefix pp;

	assert_int_equal(tpd_peer_prefix_parse(cidr, true, &pp), 0);
	assert_int_equal(tpd_peer_add_prefix(p, &pp.addr, pp.plen), 0);
}

/* ---- keys ----------------------------------------------------------------- */

static void test_key_base64(void **state)
{
	static const struct {
		const char *hex, *b64;
	} vec[] = {
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" },
		{ "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		  "//////////////////////////////////////////8=" },
		{ ZERO_HEX, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
		{ K1_HEX, K1_B64 },
		{ K2_HEX, K2_B64 },
		{ K3_HEX, K3_B64 },
	};
	char b64[TP_WG_KEY_B64_LEN + 1];
	__u8 key[32], back[32];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vec); i++) {
		hex32(vec[i].hex, key);
		tpd_wg_key_to_base64(key, b64);
		assert_string_equal(b64, vec[i].b64);
		assert_int_equal(tpd_wg_key_from_base64(b64, back), 0);
		assert_memory_equal(key, back, 32);
		assert_int_equal(tpd_wg_key_from_hex(vec[i].hex, back), 0);
		assert_memory_equal(key, back, 32);
	}
	/* not canonical: wrong length, no '=', bad characters, spare bits */
	assert_int_equal(tpd_wg_key_from_base64("", back), -EINVAL);
	assert_int_equal(tpd_wg_key_from_base64(K1_B64 "=", back), -EINVAL);
	assert_int_equal(
		tpd_wg_key_from_base64(
			"aCRwV9oJekabN40Z8ORMS6T2kB/ATdFtujYzbrlKW0UA", back),
		-EINVAL);
	assert_int_equal(
		tpd_wg_key_from_base64(
			"aCRwV9oJekabN40Z8ORMS6T2kB_ATdFtujYzbrlKW0U=", back),
		-EINVAL);
	assert_int_equal(
		tpd_wg_key_from_base64(
			"aCRwV9oJekabN40Z8ORMS6T2kB/ATdFtujYzbrlKW0V=", back),
		-EINVAL);
	expect_error(
		tpd_wg_key_from_base64(
			"aCRw V9oJekabN40Z8ORMS6T2kB/ATdFtujYzbrlKW0=", back),
		-EINVAL, "base64");
}

static void test_key_hex(void **state)
{
	__u8 key[32], want[32];

	hex32(K2_HEX, want);
	assert_int_equal(
		tpd_wg_key_from_hex(
			"BD340497980C2BE8DBC4B1F56BA5911980776A5B6F56D538E9E245DA45E77E2B",
			key),
		0);
	assert_memory_equal(key, want, 32);
	assert_int_equal(tpd_wg_key_from_hex(K2_HEX "0", key), -EINVAL);
	assert_int_equal(tpd_wg_key_from_hex("bd34", key), -EINVAL);
	expect_error(
		tpd_wg_key_from_hex(
			"zd340497980c2be8dbc4b1f56ba5911980776a5b6f56d538e9e245da45e77e2b",
			key),
		-EINVAL, "hex");
}

/* ---- prefixes and lists ------------------------------------------------------ */

static void test_prefix_parse(void **state)
{
	static const struct {
		const char *in, *out;
		unsigned int plen;
	} ok[] = {
		{ "100.64.1.7/24", "100.64.1.0/24", 120 },
		{ "100.64.1.7/32", "100.64.1.7/32", 128 },
		{ "100.64.1.7", "100.64.1.7/32", 128 },
		{ "0.0.0.0/0", "0.0.0.0/0", 96 },
		{ "fd7a:115c:a1e0::1/128", "fd7a:115c:a1e0::1/128", 128 },
		{ "fd7a:115c:a1e0:ab12:4843:cd96:6258:b240/48",
		  "fd7a:115c:a1e0::/48", 48 },
		{ "FD7A:115C:A1E0::A", "fd7a:115c:a1e0::a/128", 128 },
		{ "::/0", "::/0", 0 },
		{ "::ffff:100.64.0.1/128", "100.64.0.1/32", 128 },
	};
	static const char *const bad[] = {
		"100.64.1.7/33",
		"fd7a::1/129",
		"100.64.1.7/",
		"/24",
		"",
		"100.64.1/24",
		"100.64.1.7/-1",
		"100.64.1.7/2x",
		"fd7a::1%eth0/64",
		"100.64.1.7/1234",
		"host.example/32",
		"fd7a::1/64/64",
	};
	struct tp_peer_prefix p;
	char buf[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(tpd_peer_prefix_parse(ok[i].in, true, &p), 0);
		assert_int_equal(p.plen, ok[i].plen);
		assert_int_equal(tpd_peer_prefix_format(&p, buf, sizeof(buf)),
				 0);
		check(!strcmp(buf, ok[i].out), "%s -> %s, want %s", ok[i].in,
		      buf, ok[i].out);
	}
	assert_int_equal(tpd_peer_prefix_parse("100.64.1.7/24", false, &p), 0);
	assert_int_equal(p.addr.w[2], htonl(0xffff));
	assert_int_equal(p.addr.w[3], htonl(0x64400100));
	assert_int_equal(p.addr.w[0] | p.addr.w[1], 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		check(tpd_peer_prefix_parse(bad[i], true, &p) == -EINVAL,
		      "\"%s\" accepted", bad[i]);
	expect_error(tpd_peer_prefix_parse("100.64.1.7", false, &p), -EINVAL,
		     "\"100.64.1.7\"");
	assert_int_equal(tpd_peer_prefix_parse("100.64.1.7/24", false, &p), 0);
	assert_int_equal(tpd_peer_prefix_format(&p, buf, 8), -ENOSPC);
}

static void test_list_add_errors(void **state)
{
	struct tp_peer_list l = {};
	char key[TP_PEER_KEY_LEN + 1];
	struct tp_addr a = {};
	struct tp_peer *p;

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	errno = 0;
	assert_null(tpd_peer_list_add(&l, key));
	assert_int_equal(errno, ENAMETOOLONG);
	key[TP_PEER_KEY_LEN - 1] = '\0'; /* the longest that fits */
	assert_non_null(tpd_peer_list_add(&l, key));
	assert_null(tpd_peer_list_add(&l, ""));
	assert_int_equal(errno, EINVAL);
	/* a Tailscale node key fits */
	p = tpd_peer_list_add(
		&l,
		"nodekey:d413b83259d343f088956fb7bb885da0aa7083b93feea900bca9ab9670e1476d");
	assert_non_null(p);
	assert_int_equal(tpd_peer_add_prefix(p, &a, 129), -EINVAL);
	assert_int_equal(tpd_peer_add_tag(p, ""), -EINVAL);
	assert_int_equal(l.n, 2);
	tpd_peer_list_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
	tpd_peer_list_free(&l); /* twice is fine */
	tpd_peer_list_free(NULL);
}

static void test_canonicalize(void **state)
{
	struct tp_peer_list l = {};
	struct tp_peer *p;
	int i;

	p = add_peer(&l, "c", NULL);
	add_prefix(p, "fd7a:115c:a1e0::3/128");
	add_prefix(p, "100.64.0.3/32");
	add_prefix(p, "100.64.0.3/32");
	p = add_peer(&l, "a", "alice@example.com");
	add_prefix(p, "100.64.0.1/32");
	assert_int_equal(tpd_peer_add_tag(p, "tag:x"), 0);
	p = add_peer(&l, "b", NULL);
	for (i = 40; i > 0; i--) { /* grows the array several times */
		char cidr[32];

		snprintf(cidr, sizeof(cidr), "100.64.%d.0/24", i);
		add_prefix(p, cidr);
	}
	p = add_peer(&l, "a", NULL); /* the same peer again: merged */
	add_prefix(p, "100.64.0.2/32");
	add_prefix(p, "100.64.0.1/32");
	assert_int_equal(tpd_peer_add_tag(p, "tag:y"), 0);
	assert_int_equal(tpd_peer_add_tag(p, "tag:x"), 0);

	assert_int_equal(tpd_peer_list_canonicalize(&l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].key, "a");
	assert_string_equal(l.v[0].user, "alice@example.com");
	EXPECT_PREFIXES(&l.v[0], "100.64.0.1/32", "100.64.0.2/32");
	EXPECT_TAGS(&l.v[0], "tag:x", "tag:y");
	assert_string_equal(l.v[1].key, "b");
	assert_int_equal(l.v[1].n_prefixes, 40);
	for (i = 1; i < 40; i++)
		assert_true(memcmp(&l.v[1].prefixes[i - 1].addr,
				   &l.v[1].prefixes[i].addr, 16) < 0);
	assert_string_equal(l.v[2].key, "c");
	EXPECT_PREFIXES(&l.v[2], "100.64.0.3/32", "fd7a:115c:a1e0::3/128");
	/* idempotent */
	assert_int_equal(tpd_peer_list_canonicalize(&l), 0);
	assert_int_equal(l.n, 3);
	tpd_peer_list_free(&l);
}

/* ---- UAPI ---------------------------------------------------------------------- */

/* What wireguard-go answers to get=1 for a device with three peers. */
static const char uapi_reply[] = "private_key=" PRIV_HEX "\n"
				 "listen_port=51820\n"
				 "fwmark=0\n"
				 "public_key=" K2_HEX "\n"
				 "preshared_key=" ZERO_HEX "\n"
				 "protocol_version=1\n"
				 "endpoint=198.18.0.2:51820\n"
				 "last_handshake_time_sec=1763768400\n"
				 "last_handshake_time_nsec=512000000\n"
				 "tx_bytes=92\n"
				 "rx_bytes=180\n"
				 "persistent_keepalive_interval=25\n"
				 "allowed_ip=100.64.2.7/24\n"
				 "allowed_ip=fd7a:115c:a1e0::2/128\n"
				 "public_key=" K1_HEX "\n"
				 "preshared_key=" ZERO_HEX "\n"
				 "protocol_version=1\n"
				 "endpoint=[fd00:198:18::3]:51820\n"
				 "last_handshake_time_sec=0\n"
				 "last_handshake_time_nsec=0\n"
				 "tx_bytes=0\n"
				 "rx_bytes=0\n"
				 "persistent_keepalive_interval=0\n"
				 "allowed_ip=fd7a:115c:a1e0:1::/64\n"
				 "allowed_ip=100.64.1.1/32\n"
				 "allowed_ip=100.64.1.0/24\n"
				 "future_key=some=value=with=equals\n"
				 "public_key=" K3_HEX "\n"
				 "preshared_key=" ZERO_HEX "\n"
				 "protocol_version=1\n"
				 "last_handshake_time_sec=0\n"
				 "last_handshake_time_nsec=0\n"
				 "tx_bytes=0\n"
				 "rx_bytes=0\n"
				 "persistent_keepalive_interval=0\n"
				 "errno=0\n"
				 "\n";

/* The peers of uapi_reply, canonical. */
static void expect_three_peers(const struct tp_peer_list *l)
{
	assert_int_equal(l->n, 3);
	assert_string_equal(l->v[0].key, K1_B64);
	EXPECT_PREFIXES(&l->v[0], "100.64.1.0/24", "100.64.1.1/32",
			"fd7a:115c:a1e0:1::/64");
	assert_string_equal(l->v[1].key, K3_B64);
	expect_no_prefixes(&l->v[1]);
	assert_string_equal(l->v[2].key, K2_B64);
	EXPECT_PREFIXES(&l->v[2], "100.64.2.0/24", "fd7a:115c:a1e0::2/128");
	assert_string_equal(l->v[0].name, "");
	assert_string_equal(l->v[0].user, "");
	assert_int_equal(l->v[0].n_tags, 0);
}

static void test_uapi_reply(void **state)
{
	struct tp_peer_list l;

	assert_int_equal(tpd_wg_uapi_parse(uapi_reply, strlen(uapi_reply), &l),
			 0);
	expect_three_peers(&l);
	tpd_peer_list_free(&l);
}

static void test_uapi_no_peers_and_trailing(void **state)
{
	static const char none[] =
		"private_key=" PRIV_HEX "\nlisten_port=41000\nerrno=0\n\n";
	static const char trailing[] =
		"public_key=" K1_HEX "\nallowed_ip=100.64.1.1/32\n"
		"errno=0\n\npublic_key=" K2_HEX "\ngarbage\n";
	struct tp_peer_list l;

	assert_int_equal(tpd_wg_uapi_parse(none, strlen(none), &l), 0);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
	/* the answer ends at its empty line: what follows is not parsed */
	assert_int_equal(tpd_wg_uapi_parse(trailing, strlen(trailing), &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].key, K1_B64);
	EXPECT_PREFIXES(&l.v[0], "100.64.1.1/32");
	tpd_peer_list_free(&l);
	/* the length bounds the text: the same reply cut before errno fails */
	expect_error(tpd_wg_uapi_parse(uapi_reply, strlen(uapi_reply) - 9, &l),
		     -EPROTO, "errno");
}

static void test_uapi_errno(void **state)
{
	static const char enodev[] = "errno=19\n\n";
	static const char neg[] = "public_key=" K1_HEX "\nerrno=-5\n\n";
	struct tp_peer_list l;

	expect_error(tpd_wg_uapi_parse(enodev, strlen(enodev), &l), -ENODEV,
		     "errno=19");
	assert_int_equal(l.n, 0);
	/* wireguard-go writes its error codes negative */
	expect_error(tpd_wg_uapi_parse(neg, strlen(neg), &l), -EIO, "errno=5");
	assert_int_equal(l.n, 0);
	assert_null(l.v);
}

static void test_uapi_malformed(void **state)
{
	static const struct refused_text cases[] = {
		{ "public_key=" K1_HEX "\nallowed_ip\nerrno=0\n\n", -EPROTO,
		  "line 2" },
		{ "listen_port=1\nallowed_ip=100.64.0.1/32\nerrno=0\n\n",
		  -EINVAL, "line 2: allowed_ip before any public_key" },
		{ "public_key=" K1_HEX "0\nerrno=0\n\n", -EINVAL,
		  "line 1: public_key" },
		{ "public_key=xyz\nerrno=0\n\n", -EINVAL,
		  "line 1: public_key" },
		{ "public_key=" K1_HEX
		  "\nallowed_ip=100.64.0.1/33\nerrno=0\n\n",
		  -EINVAL, "line 2: allowed_ip \"100.64.0.1/33\"" },
		{ "public_key=" K1_HEX "\nallowed_ip=fd7a::1/129\nerrno=0\n\n",
		  -EINVAL, "line 2: allowed_ip" },
		{ "public_key=" K1_HEX "\nallowed_ip=100.64.0.1\nerrno=0\n\n",
		  -EINVAL, "line 2: allowed_ip" },
		{ "public_key=" K1_HEX "\nallowed_ip=100.64.0.1/32\n\n",
		  -EPROTO, "without an errno" },
		{ "public_key=" K1_HEX "\nallowed_ip=100.64.0.1/32\nerrno=0",
		  -EPROTO, "line 3: not terminated" },
		{ "public_key=" K1_HEX "\nerrno=zero\n\n", -EINVAL,
		  "line 2: errno" },
		{ "public_key=" K1_HEX "\n=5\nerrno=0\n\n", -EINVAL,
		  "line 2: empty key" },
		{ "", -EPROTO, "errno" },
		{ "\n", -EPROTO, "errno" },
	};

	expect_refused(tpd_wg_uapi_parse, cases, ARRAY_SIZE(cases));
}

/* ---- generic netlink, synthetic dumps -------------------------------------- */

#define FAMILY 0x1c /* any id >= NLMSG_MIN_TYPE */

struct nlbuf {
	char buf[32768] __attribute__((aligned(8)));
	size_t len;
};

struct tip {
	int family;
	const char *addr;
	__u8 cidr;
};

static struct nlmsghdr *nl_begin(struct nlbuf *b, __u8 cmd)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->buf + b->len);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = 7;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = WG_GENL_VERSION;
	return nlh;
}

/* The device part of a first message: everything; of later ones: the name. */
static struct nlmsghdr *nl_device(struct nlbuf *b, bool first)
{
	struct nlmsghdr *nlh = nl_begin(b, WG_CMD_GET_DEVICE);
	__u8 key[32];

	if (first) {
		hex32(PRIV_HEX, key);
		mnl_attr_put_u32(nlh, WGDEVICE_A_IFINDEX, 7);
		mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wg0");
		mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, 32, key);
		mnl_attr_put(nlh, WGDEVICE_A_PUBLIC_KEY, 32, key);
		mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, 51820);
		mnl_attr_put_u32(nlh, WGDEVICE_A_FWMARK, 0);
	} else {
		mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wg0");
	}
	return nlh;
}

static void nl_end(struct nlbuf *b, struct nlmsghdr *nlh)
{
	b->len += nlh->nlmsg_len;
	assert_true(b->len < sizeof(b->buf) - 512);
}

static void nl_ip(struct nlmsghdr *nlh, const struct tip *ip)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, 0);
	__u8 addr[16];

	assert_int_equal(inet_pton(ip->family, ip->addr, addr), 1);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, (__u16)ip->family);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, ip->family == AF_INET ? 4 : 16,
		     addr);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, ip->cidr);
	mnl_attr_nest_end(nlh, nest);
}

/* The attributes the kernel gives a peer besides its key and allowed IPs. */
static void nl_peer_details(struct nlmsghdr *nlh)
{
	struct __kernel_timespec ts = { .tv_sec = 1763768400, .tv_nsec = 5 };
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(51820) };
	__u8 psk[32] = {};

	inet_pton(AF_INET, "198.18.0.2", &sin.sin_addr);
	mnl_attr_put(nlh, WGPEER_A_PRESHARED_KEY, sizeof(psk), psk);
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(sin), &sin);
	mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts), &ts);
	mnl_attr_put_u64(nlh, WGPEER_A_RX_BYTES, 180);
	mnl_attr_put_u64(nlh, WGPEER_A_TX_BYTES, 92);
	mnl_attr_put_u32(nlh, WGPEER_A_PROTOCOL_VERSION, 1);
}

/* One peer in the open WGDEVICE_A_PEERS nest of @nlh. */
static void nl_peer(struct nlmsghdr *nlh, const char *hex, bool details,
		    const struct tip *ips, size_t n)
{
	struct nlattr *peer = mnl_attr_nest_start(nlh, 0), *allowed;
	__u8 key[32];
	size_t i;

	hex32(hex, key);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 32, key);
	if (details)
		nl_peer_details(nlh);
	if (n) {
		allowed = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
		for (i = 0; i < n; i++)
			nl_ip(nlh, &ips[i]);
		mnl_attr_nest_end(nlh, allowed);
	}
	mnl_attr_nest_end(nlh, peer);
}

static void nl_done(struct nlbuf *b, int err)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->buf + b->len);
	int *e;

	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	*e = err;
	b->len += nlh->nlmsg_len;
}

static void nl_error(struct nlbuf *b, int err)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->buf + b->len);
	struct nlmsgerr *e;

	nlh->nlmsg_type = NLMSG_ERROR;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = err;
	b->len += nlh->nlmsg_len;
}

static const struct tip k1_ips[] = {
	{ AF_INET6, "fd7a:115c:a1e0:1::", 64 },
	{ AF_INET, "100.64.1.1", 32 },
	{ AF_INET, "100.64.1.0", 24 },
};
static const struct tip k2_ips[] = {
	{ AF_INET, "100.64.2.7", 24 }, /* host bits set: masked by the parser */
	{ AF_INET6, "fd7a:115c:a1e0::2", 128 },
};

/* uapi_reply's peers as a dump: K2, K1, K3 in one message. */
static void nl_dump_one(struct nlbuf *b)
{
	struct nlmsghdr *nlh = nl_device(b, true);
	struct nlattr *peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);

	nl_peer(nlh, K2_HEX, true, k2_ips, ARRAY_SIZE(k2_ips));
	nl_peer(nlh, K1_HEX, true, k1_ips, ARRAY_SIZE(k1_ips));
	nl_peer(nlh, K3_HEX, true, NULL, 0);
	mnl_attr_nest_end(nlh, peers);
	nl_end(b, nlh);
	nl_done(b, 0);
}

static void test_genl_one_message(void **state)
{
	struct tp_peer_list l = {};
	struct nlbuf *b = calloc(1, sizeof(*b));

	nl_dump_one(b);
	assert_int_equal(tpd_wg_genl_parse_buf(b->buf, b->len, &l), 1);
	assert_int_equal(l.n, 3); /* as dumped, before canonicalization */
	assert_string_equal(l.v[0].key, K2_B64);
	assert_int_equal(tpd_peer_list_canonicalize(&l), 0);
	expect_three_peers(&l);
	tpd_peer_list_free(&l);
	free(b);
}

/*
 * The same peers as the kernel splits them when they do not fit: K2
 * whole; K1 with one allowed IP, then repeated (key and allowed IPs only)
 * in the next message twice over; K3 in the last message.  With @bufs
 * each message is its own receive buffer.
 */
static void nl_dump_split(struct nlbuf *msgs, size_t *n_msgs)
{
	struct nlmsghdr *nlh;
	struct nlattr *peers;
	size_t i;

	for (i = 0; i < 4; i++) {
		nlh = nl_device(&msgs[i], i == 0);
		peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
		if (i == 0) {
			nl_peer(nlh, K2_HEX, true, k2_ips, ARRAY_SIZE(k2_ips));
			nl_peer(nlh, K1_HEX, true, &k1_ips[0], 1);
		} else if (i == 1) {
			nl_peer(nlh, K1_HEX, false, &k1_ips[1], 1);
		} else if (i == 2) {
			nl_peer(nlh, K1_HEX, false, &k1_ips[2], 1);
			nl_peer(nlh, K3_HEX, true, NULL, 0);
		}
		mnl_attr_nest_end(nlh, peers);
		nl_end(&msgs[i], nlh);
	}
	nl_done(&msgs[3], 0);
	*n_msgs = 4;
}

static void test_genl_split_messages(void **state)
{
	struct nlbuf *msgs = calloc(4, sizeof(*msgs)),
		     *all = calloc(1, sizeof(*all));
	struct tp_peer_list l = {};
	size_t i, n;

	/* every message in one receive buffer */
	nl_dump_split(msgs, &n);
	for (i = 0; i < n; i++) {
		memcpy(all->buf + all->len, msgs[i].buf, msgs[i].len);
		all->len += msgs[i].len;
	}
	assert_int_equal(tpd_wg_genl_parse_buf(all->buf, all->len, &l), 1);
	assert_int_equal(l.n, 3); /* K1's repeats coalesced while parsing */
	assert_int_equal(l.v[1].n_prefixes, 3);
	assert_int_equal(tpd_peer_list_canonicalize(&l), 0);
	expect_three_peers(&l);
	tpd_peer_list_free(&l);

	/* one message per receive: 0 until NLMSG_DONE, then 1 */
	for (i = 0; i < n; i++)
		assert_int_equal(
			tpd_wg_genl_parse_buf(msgs[i].buf, msgs[i].len, &l),
			i + 1 == n);
	assert_int_equal(tpd_peer_list_canonicalize(&l), 0);
	expect_three_peers(&l);
	tpd_peer_list_free(&l);
	free(msgs);
	free(all);
}

static void test_genl_equals_uapi(void **state)
{
	struct nlbuf *msgs = calloc(4, sizeof(*msgs));
	struct tp_peer_list g = {}, u;
	size_t i, n;

	nl_dump_split(msgs, &n);
	for (i = 0; i < n; i++)
		assert_true(tpd_wg_genl_parse_buf(msgs[i].buf, msgs[i].len,
						  &g) >= 0);
	assert_int_equal(tpd_peer_list_canonicalize(&g), 0);
	assert_int_equal(tpd_wg_uapi_parse(uapi_reply, strlen(uapi_reply), &u),
			 0);
	peer_expect_same(&g, &u);
	tpd_peer_list_free(&g);
	tpd_peer_list_free(&u);
	free(msgs);
}

static void test_genl_errors(void **state)
{
	struct nlbuf *b = calloc(1, sizeof(*b));
	struct tp_peer_list l = {};
	struct nlmsghdr *nlh;
	struct nlattr *peers;

	/* NLMSG_DONE with an error after a peer */
	nlh = nl_device(b, true);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	nl_peer(nlh, K1_HEX, true, k1_ips, 1);
	mnl_attr_nest_end(nlh, peers);
	nl_end(b, nlh);
	nl_done(b, -EMSGSIZE);
	expect_error(tpd_wg_genl_parse_buf(b->buf, b->len, &l), -EMSGSIZE,
		     "dump ended with error");
	tpd_peer_list_free(&l);

	/* NLMSG_ERROR instead of a dump: no device, not WireGuard */
	memset(b, 0, sizeof(*b));
	nl_error(b, -ENODEV);
	assert_int_equal(tpd_wg_genl_parse_buf(b->buf, b->len, &l), -ENODEV);
	memset(b, 0, sizeof(*b));
	nl_error(b, -EOPNOTSUPP);
	expect_error(tpd_wg_genl_parse_buf(b->buf, b->len, &l), -EOPNOTSUPP,
		     "netlink error");
	/* an acknowledgement ends the stream */
	memset(b, 0, sizeof(*b));
	nl_error(b, 0);
	assert_int_equal(tpd_wg_genl_parse_buf(b->buf, b->len, &l), 1);

	/* an interrupted dump */
	memset(b, 0, sizeof(*b));
	nl_dump_one(b);
	((struct nlmsghdr *)b->buf)->nlmsg_flags |= NLM_F_DUMP_INTR;
	expect_error(tpd_wg_genl_parse_buf(b->buf, b->len, &l), -EINTR,
		     "interrupted");
	tpd_peer_list_free(&l);

	/* a buffer cut in the middle of a message */
	memset(b, 0, sizeof(*b));
	nl_dump_one(b);
	assert_true(tpd_wg_genl_parse_buf(b->buf, 40, &l) <= 0);
	tpd_peer_list_free(&l);
	free(b);
}

/*
 * The kernel's framing is checked before anything is read: a message
 * length of 0xffffffff looped forever (libmnl compares it as the int -1,
 * and NLMSG_ALIGN wraps it to 0), 0x80000020 read far past the buffer,
 * and lengths below a header or past the end were walked or ignored.
 * Each bad message follows a good one and ends at an unmapped page, so
 * a read past the buffer faults instead of passing unseen.
 */
static void test_genl_bad_framing(void **state)
{
	static const __u32 lens[] = {
		0xffffffff, 0x80000020, 0xfffffff0, 0x7fffffff, 0,
		8,	    15,		64 + 4,	    4096,
	};
	size_t page = (size_t)sysconf(_SC_PAGESIZE), first, total, i;
	struct nlbuf *b = calloc(1, sizeof(*b));
	struct tp_peer_list l = {};
	struct nlmsghdr *bad;
	unsigned char *map, *p;
	int ret;

	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + page, page, PROT_NONE), 0);
	nl_dump_one(b);
	first = NLMSG_ALIGN(((struct nlmsghdr *)b->buf)->nlmsg_len);
	total = first + 64;
	assert_true(total <= page);
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		p = map + page - total;
		memcpy(p, b->buf, first);
		memcpy(p + first, b->buf,
		       64); /* the start of another device message */
		bad = (struct nlmsghdr *)(p + first);
		bad->nlmsg_len = lens[i];
		alarm(5); /* a walk that never ends fails the test, not the run */
		ret = tpd_wg_genl_parse_buf(p, total, &l);
		alarm(0);
		check(ret == -EPROTO, "nlmsg_len %#x: %d (%s)", lens[i], ret,
		      tpd_peer_last_error());
		check(strstr(tpd_peer_last_error(), "length"),
		      "nlmsg_len %#x: error \"%s\"", lens[i],
		      tpd_peer_last_error());
		tpd_peer_list_free(&l);
	}
	/* bytes after the last message, too few for a header */
	p = map + page - (first + 8);
	memcpy(p, b->buf, first);
	memset(p + first, 0, 8);
	assert_int_equal(tpd_wg_genl_parse_buf(p, first + 8, &l), -EPROTO);
	tpd_peer_list_free(&l);
	munmap(map, 2 * page);
	free(b);
}

/*
 * Error codes from the kernel are errnos, 1..4095 negated; anything else
 * (INT_MIN overflowed when negated) is a malformed message, not an errno.
 */
static void test_genl_bad_errno(void **state)
{
	static const int bad[] = { INT_MIN, INT_MIN + 1, -4096,
				   -100000, INT_MAX,	 4096 };
	struct nlbuf *b = calloc(1, sizeof(*b));
	struct tp_peer_list l = {};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(b, 0, sizeof(*b));
		nl_error(b, bad[i]);
		expect_error(tpd_wg_genl_parse_buf(b->buf, b->len, &l), -EPROTO,
			     "not an errno");
		if (bad[i] > 0)
			continue; /* NLMSG_DONE: >= 0 is success */
		memset(b, 0, sizeof(*b));
		nl_done(b, bad[i]);
		expect_error(tpd_wg_genl_parse_buf(b->buf, b->len, &l), -EPROTO,
			     "not an errno");
	}
	/* the edges of the range, and a positive errno as some senders write it */
	memset(b, 0, sizeof(*b));
	nl_error(b, -4095);
	assert_int_equal(tpd_wg_genl_parse_buf(b->buf, b->len, &l), -4095);
	memset(b, 0, sizeof(*b));
	nl_error(b, EPERM);
	assert_int_equal(tpd_wg_genl_parse_buf(b->buf, b->len, &l), -EPERM);
	memset(b, 0, sizeof(*b));
	nl_done(b, -EPERM);
	assert_int_equal(tpd_wg_genl_parse_buf(b->buf, b->len, &l), -EPERM);
	tpd_peer_list_free(&l);
	free(b);
}

/* A message with one peer whose attributes @fill writes. */
static int parse_bad_peer(void (*fill)(struct nlmsghdr *nlh))
{
	struct nlbuf *b = calloc(1, sizeof(*b));
	struct tp_peer_list l = {};
	struct nlmsghdr *nlh = nl_device(b, true);
	struct nlattr *peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	struct nlattr *peer = mnl_attr_nest_start(nlh, 0);
	int ret;

	fill(nlh);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	ret = tpd_wg_genl_parse_msg(nlh, &l);
	tpd_peer_list_free(&l);
	free(b);
	return ret;
}

static void put_k1(struct nlmsghdr *nlh)
{
	__u8 key[32];

	hex32(K1_HEX, key);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 32, key);
}

static void bad_short_key(struct nlmsghdr *nlh)
{
	__u8 key[31] = {};

	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, sizeof(key), key);
}

static void bad_no_key(struct nlmsghdr *nlh)
{
	static const struct tip ip = { AF_INET, "100.64.0.1", 32 };
	struct nlattr *a = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);

	nl_ip(nlh, &ip);
	mnl_attr_nest_end(nlh, a);
}

/* An allowed IP with the given family, address length and mask. */
static void bad_ip(struct nlmsghdr *nlh, __u16 family, size_t len, int cidr)
{
	struct nlattr *a, *ip;
	__u8 addr[16] = { 100, 64, 0, 1 };

	put_k1(nlh);
	a = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	ip = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, family);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, len, addr);
	if (cidr >= 0)
		mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, (__u8)cidr);
	mnl_attr_nest_end(nlh, ip);
	mnl_attr_nest_end(nlh, a);
}

static void bad_v4_len16(struct nlmsghdr *nlh)
{
	bad_ip(nlh, AF_INET, 16, 32);
}

static void bad_v4_mask33(struct nlmsghdr *nlh)
{
	bad_ip(nlh, AF_INET, 4, 33);
}

static void bad_v6_mask129(struct nlmsghdr *nlh)
{
	bad_ip(nlh, AF_INET6, 16, 129);
}

static void bad_no_mask(struct nlmsghdr *nlh)
{
	bad_ip(nlh, AF_INET, 4, -1);
}

static void bad_family(struct nlmsghdr *nlh)
{
	bad_ip(nlh, 99, 4, 8);
}

static void bad_family_u32(struct nlmsghdr *nlh)
{
	struct nlattr *a, *ip;

	put_k1(nlh);
	a = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	ip = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put_u32(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	mnl_attr_nest_end(nlh, ip);
	mnl_attr_nest_end(nlh, a);
}

static void good_peer(struct nlmsghdr *nlh)
{
	static const struct tip ip = { AF_INET, "100.64.0.1", 32 };
	struct nlattr *a;

	put_k1(nlh);
	a = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	nl_ip(nlh, &ip);
	mnl_attr_nest_end(nlh, a);
}

static void test_genl_malformed(void **state)
{
	static void (*const bad[])(struct nlmsghdr *) = {
		bad_short_key,	bad_no_key,  bad_v4_len16, bad_v4_mask33,
		bad_v6_mask129, bad_no_mask, bad_family,   bad_family_u32,
	};
	struct nlbuf *b = calloc(1, sizeof(*b));
	struct tp_peer_list l = {};
	struct nlmsghdr *nlh;
	size_t i;

	assert_int_equal(parse_bad_peer(good_peer), 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int ret = parse_bad_peer(bad[i]);

		check(ret == -EPROTO, "bad peer %zu: %d (%s)", i, ret,
		      tpd_peer_last_error());
		check(strstr(tpd_peer_last_error(), "malformed"),
		      "bad peer %zu: error \"%s\"", i, tpd_peer_last_error());
	}
	/* another command */
	nlh = nl_begin(b, WG_CMD_SET_DEVICE);
	expect_error(tpd_wg_genl_parse_msg(nlh, &l), -EPROTO,
		     "WG_CMD_GET_DEVICE");
	/* no room for the generic netlink header */
	memset(b, 0, sizeof(*b));
	nlh = mnl_nlmsg_put_header(b->buf);
	nlh->nlmsg_type = FAMILY;
	expect_error(tpd_wg_genl_parse_msg(nlh, &l), -EPROTO, "header");
	/* peers not nested (a u32 where the nest should be) */
	memset(b, 0, sizeof(*b));
	nlh = nl_device(b, true);
	mnl_attr_put_u8(nlh, WGDEVICE_A_PEERS, 1);
	expect_error(tpd_wg_genl_parse_msg(nlh, &l), -EPROTO, "nested");
	assert_int_equal(l.n, 0);
	free(b);
}

/* ---- Tailscale ---------------------------------------------------------------- */

#define TS_ALICE \
	"nodekey:29e0ea086e4abe4739cdbdd6c5829604c85c407dcdfcb54527a63fe37b61493c"
#define TS_BOB \
	"nodekey:3ed700451c32a17e1eb21143a0f5adcb4c070e0e59aab22fbe71bc613ff34f8a"
#define TS_WEB1 \
	"nodekey:d413b83259d343f088956fb7bb885da0aa7083b93feea900bca9ab9670e1476d"
#define TS_WEB2 \
	"nodekey:e4b85a5423554c24dca9c836c96d64e45801ad96aa91863039bbefb99ca54073"
#define TS_DB1 \
	"nodekey:f440531eea26bfdfb367ec4d542c8759aa6e4dc79b7c420287e1000f6204578f"
#define TS_SELF \
	"nodekey:c69322ef6e82c849d932fbd33031c779d2c46ba5204cdee7603c342c794c350a"

static void parse_fixture(const char *name, struct tp_peer_list *l)
{
	size_t len = 0;
	char *doc = read_fixture(name, &len);
	int ret = tpd_ts_parse_status(doc, len, l);

	check(ret == 0, "%s: %d (%s)", name, ret, tpd_peer_last_error());
	free(doc);
}

static void test_ts_running(void **state)
{
	struct tp_peer_list l;
	size_t i;

	parse_fixture("tailscale-status-running.json", &l);
	assert_int_equal(l.n, 5);
	for (i = 0; i < l.n; i++)
		check(strcmp(l.v[i].key, TS_SELF), "Self is listed as a peer");

	assert_string_equal(l.v[0].key, TS_ALICE);
	assert_string_equal(l.v[0].name, "alice-laptop");
	assert_string_equal(l.v[0].user, "alice@example.com");
	assert_int_equal(l.v[0].n_tags, 0);
	EXPECT_PREFIXES(&l.v[0], "100.64.0.30/32", "fd7a:115c:a1e0::1e/128");

	assert_string_equal(l.v[1].key, TS_BOB);
	assert_string_equal(l.v[1].name, "bob-phone");
	assert_string_equal(l.v[1].user, "bob@example.com");
	EXPECT_PREFIXES(&l.v[1], "100.64.0.40/32", "fd7a:115c:a1e0::28/128");

	assert_string_equal(l.v[2].key, TS_WEB1);
	assert_string_equal(l.v[2].name, "web-1");
	assert_string_equal(l.v[2].user, "tagged-devices");
	EXPECT_TAGS(&l.v[2], "tag:prod", "tag:web");
	EXPECT_PREFIXES(&l.v[2], "100.64.0.10/32", "fd7a:115c:a1e0::a/128");

	/* TailscaleIPs only: the subnet route in AllowedIPs is not the peer's */
	assert_string_equal(l.v[3].key, TS_WEB2);
	EXPECT_TAGS(&l.v[3], "tag:web");
	EXPECT_PREFIXES(&l.v[3], "100.64.0.11/32", "fd7a:115c:a1e0::b/128");

	assert_string_equal(l.v[4].key, TS_DB1);
	assert_string_equal(l.v[4].name, "db-1");
	EXPECT_TAGS(&l.v[4], "tag:db");
	EXPECT_PREFIXES(&l.v[4], "100.64.0.20/32", "fd7a:115c:a1e0::14/128");

	/* /128 in the 128-bit space, IPv4 mapped */
	assert_int_equal(l.v[4].prefixes[0].plen, 128);
	assert_int_equal(l.v[4].prefixes[0].addr.w[2], htonl(0xffff));
	assert_int_equal(l.v[4].prefixes[0].addr.w[3], htonl(0x64400014));
	tpd_peer_list_free(&l);
}

static void test_ts_sparse(void **state)
{
	char name62[63];
	struct tp_peer_list l;

	memset(name62, 'a', 62);
	name62[62] = '\0';
	parse_fixture("tailscale-status-sparse.json", &l);
	assert_int_equal(l.n, 5);
	/* a user whose LoginName does not fit is left out, not cut */
	assert_string_equal(
		l.v[0].key,
		"nodekey:20ea86e12fb9b875b533e89b9e5bb299c4a2bd88d306663ddd681f54de9294cf");
	assert_string_equal(l.v[0].name, "sparse-e");
	assert_string_equal(l.v[0].user, "");
	assert_int_equal(l.v[0].n_tags, 0);
	EXPECT_PREFIXES(&l.v[0], "100.64.1.5/32");
	/* empty Tags, IPv6 only, extra objects ignored */
	assert_string_equal(l.v[1].name, "sparse-c");
	assert_string_equal(l.v[1].user, "carol@example.org");
	assert_int_equal(l.v[1].n_tags, 0);
	EXPECT_PREFIXES(&l.v[1], "fd7a:115c:a1e0::2:1/128");
	/* empty HostName: DNSName without its dot; UserID not in User; null Tags */
	assert_string_equal(l.v[2].name, "sparse-a.tail5678.ts.net");
	assert_string_equal(l.v[2].user, "");
	assert_int_equal(l.v[2].n_tags, 0);
	EXPECT_PREFIXES(&l.v[2], "100.64.1.1/32");
	/* long HostName cut before a split UTF-8 character; string UserID;
	 * repeated tags and addresses once */
	assert_string_equal(l.v[3].name, name62);
	assert_string_equal(l.v[3].user, "carol@example.org");
	EXPECT_TAGS(&l.v[3], "tag:web", "tag:ci");
	EXPECT_PREFIXES(&l.v[3], "100.64.1.4/32", "fd7a:115c:a1e0::2:4/128");
	/* nothing but null TailscaleIPs */
	assert_string_equal(l.v[4].name, "");
	assert_string_equal(l.v[4].user, "");
	assert_int_equal(l.v[4].n_tags, 0);
	expect_no_prefixes(&l.v[4]);
	tpd_peer_list_free(&l);
}

static void test_ts_needslogin(void **state)
{
	struct tp_peer_list l;

	parse_fixture("tailscale-status-needslogin.json", &l);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
	assert_int_equal(tpd_ts_parse_status("{}", 2, &l), 0);
	assert_int_equal(l.n, 0);
}

static void test_ts_user_ids(void **state)
{
	static const char doc[] =
		"{\"Peer\":{"
		"\"nodekey:01\":{\"UserID\":6713373920474183,\"TailscaleIPs\":[\"100.64.3.1\"]},"
		"\"nodekey:02\":{\"UserID\":\"42\"},"
		"\"nodekey:03\":{\"UserID\":42.5},"
		"\"nodekey:04\":{\"UserID\":null,\"HostName\":null,\"DNSName\":7}},"
		"\"User\":{\"6713373920474183\":{\"LoginName\":\"dave@example.net\"},"
		"\"42\":{\"LoginName\":\"erin@example.net\"},"
		"\"42.5\":{\"LoginName\":7}}}";
	struct tp_peer_list l;

	assert_int_equal(tpd_ts_parse_status(doc, strlen(doc), &l), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].user, "dave@example.net");
	assert_string_equal(l.v[1].user, "erin@example.net");
	assert_string_equal(l.v[2].user, ""); /* LoginName not a string */
	assert_string_equal(l.v[3].user, "");
	assert_string_equal(l.v[3].name, "");
	tpd_peer_list_free(&l);
}

/*
 * qsort() of a NULL array is undefined even for no elements (C11 7.22.5;
 * glibc declares it nonnull), and a status without users ("User" null,
 * {} or missing, as a logged-out node answers) sorted its NULL user array
 * (make fuzz, UBSan).  This program links qsort() wrapped
 * (-Wl,--wrap=qsort) to see such calls.
 */
void __real_qsort(void *base, size_t n, size_t size,
		  int (*cmp)(const void *, const void *));
static unsigned int qsort_null_calls;

void __wrap_qsort(void *base, size_t n, size_t size,
		  int (*cmp)(const void *, const void *))
{
	if (!base) {
		qsort_null_calls++;
		return;
	}
	__real_qsort(base, n, size, cmp);
}

static void test_ts_no_users(void **state)
{
	static const char *const docs[] = {
		"{\"Peer\":{\"nodekey:01\":{\"UserID\":42,\"TailscaleIPs\":[\"100.64.3.1\"]}}}",
		"{\"Peer\":{\"nodekey:01\":{\"UserID\":42}},\"User\":null}",
		"{\"Peer\":{\"nodekey:01\":{\"UserID\":42}},\"User\":{}}",
		"{\"Peer\":null,\"User\":null}",
	};
	struct tp_peer_list l;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(docs); i++) {
		qsort_null_calls = 0;
		check(tpd_ts_parse_status(docs[i], strlen(docs[i]), &l) == 0,
		      "doc %zu: %s", i, tpd_peer_last_error());
		check(!qsort_null_calls, "doc %zu: qsort() of a NULL array", i);
		check(l.n == (i < 3), "doc %zu: %zu peers", i, l.n);
		if (l.n)
			assert_string_equal(l.v[0].user, "");
		tpd_peer_list_free(&l);
	}
}

static void test_ts_malformed(void **state)
{
	static const struct refused_text cases[] = {
		{ "", -EBADMSG, "not JSON" },
		{ "{\"Peer\":{", -EBADMSG, "not JSON" },
		{ "{} {}", -EBADMSG, "not JSON" },
		{ "[]", -EPROTO, "not a JSON object" },
		{ "{\"Peer\":[]}", -EPROTO, "Peer is not an object" },
		{ "{\"Peer\":{\"nodekey:01\":\"x\"}}", -EPROTO,
		  "Peer[\"nodekey:01\"]" },
		{ "{\"Peer\":{\"nodekey:01\":{\"Tags\":[\"tag:a\",1]}}}",
		  -EPROTO, "Tags of peer nodekey:01" },
		{ "{\"Peer\":{\"nodekey:01\":{\"Tags\":\"tag:a\"}}}", -EPROTO,
		  "Tags" },
		{ "{\"Peer\":{\"nodekey:01\":{\"TailscaleIPs\":[\"100.64.0.1/32\"]}}}",
		  -EPROTO, "TailscaleIPs of peer nodekey:01" },
		{ "{\"Peer\":{\"nodekey:01\":{\"TailscaleIPs\":[\"not-an-ip\"]}}}",
		  -EPROTO, "TailscaleIPs" },
		{ "{\"Peer\":{\"nodekey:01\":{\"TailscaleIPs\":{}}}}", -EPROTO,
		  "TailscaleIPs" },
		{ "{\"Peer\":{\"\":{}}}", -EINVAL, "peer key" },
	};
	static const char nul[] = "{\"Peer\":null}\0{}";
	struct tp_peer_list l;

	expect_refused(tpd_ts_parse_status, cases, ARRAY_SIZE(cases));
	expect_error(tpd_ts_parse_status(nul, sizeof(nul) - 1, &l), -EBADMSG,
		     "NUL");
	/* the length bounds the document */
	assert_int_equal(tpd_ts_parse_status("{\"Peer\":null}xyz", 13, &l), 0);
	expect_error(tpd_ts_parse_status("{\"Peer\":null}", 12, &l), -EBADMSG,
		     "not JSON");
}

/* No control character in the reason of the last error. */
static void expect_one_line_reason(const char *what)
{
	const char *c;

	for (c = tpd_peer_last_error(); *c; c++)
		check((unsigned char)*c >= 0x20 && *c != 0x7f,
		      "%s: control character 0x%02x in the reason", what,
		      (unsigned char)*c);
}

/*
 * The reason of an error quotes what the source sent (a node key, a UAPI
 * line, yajl's view of the text), which may hold any character: a
 * newline broke the one-line reason peers.h promises, and an escape
 * sequence went to whoever printed it (make fuzz).  Control characters
 * are written \xHH.
 */
static void test_reason_one_line(void **state)
{
	static const char ts_key[] =
		"{\"Peer\":{\"nodekey:\\n01\\u001b[2J\":\"x\"}}";
	static const char ts_lex[] = "{\"Peer\":{\"a\x05"
				     "b\":{}}}";
	static const char uapi[] =
		"public_key=" K1_HEX "\nbad\x1b[2J\r\nerrno=0\n\n";
	struct tp_peer_list l;

	expect_error(tpd_ts_parse_status(ts_key, strlen(ts_key), &l), -EPROTO,
		     "Peer[\"nodekey:\\x0a01\\x1b[2J\"]");
	expect_one_line_reason("Tailscale peer key");
	assert_int_equal(tpd_ts_parse_status(ts_lex, strlen(ts_lex), &l),
			 -EBADMSG);
	expect_one_line_reason("yajl's message");
	expect_error(tpd_wg_uapi_parse(uapi, strlen(uapi), &l), -EPROTO,
		     "line 2: \"bad\\x1b[2J\\x0d\" is not key=value");
	expect_one_line_reason("UAPI line");
}

struct deep_res {
	int ret;
	char err[200];
};

static void deep_child(int out, void *arg)
{
	size_t depth = *(size_t *)arg, i, len = 0;
	char *doc = malloc(2 * depth + 32);
	struct deep_res r = {};
	struct tp_peer_list l;

	len += sprintf(doc, "{\"Peer\":{},\"x\":");
	for (i = 0; i < depth; i++)
		doc[len++] = '[';
	for (i = 0; i < depth; i++)
		doc[len++] = ']';
	doc[len++] = '}';
	r.ret = tpd_ts_parse_status(doc, len, &l);
	snprintf(r.err, sizeof(r.err), "%s", tpd_peer_last_error());
	(void)!write(out, &r, sizeof(r));
	free(doc);
}

/*
 * yajl's tree recursed in yajl_tree_free(): a status nested 400,000
 * levels deep (in a field nobody reads) crashed the loader.  Nesting is
 * limited, and the document refused, with or without the rest of it.
 */
static void test_ts_deep_nesting(void **state)
{
	size_t depths[] = { 400000, TP_TS_MAX_DEPTH }, i;
	struct deep_res r;

	for (i = 0; i < ARRAY_SIZE(depths); i++) {
		peer_in_child(deep_child, &depths[i], &r, sizeof(r),
			      "deep nesting");
		check(r.ret == -EPROTO, "%zu levels: %d (%s)", depths[i], r.ret,
		      r.err);
		check(strstr(r.err, "nested deeper than"),
		      "%zu levels: error \"%s\"", depths[i], r.err);
	}
	/* as deep as allowed (the root is the first level): fine */
	{
		size_t depth = TP_TS_MAX_DEPTH - 1;

		peer_in_child(deep_child, &depth, &r, sizeof(r),
			      "deep nesting");
		check(r.ret == 0, "%zu levels: %d (%s)", depth, r.ret, r.err);
	}
}

/* A generated status document, parsed by parse_status(). */
struct status_doc {
	const char *text;
	size_t len;
};

static int parse_status(void *ctx, struct tp_peer_list *l)
{
	const struct status_doc *d = ctx;

	return tpd_ts_parse_status(d->text, d->len, l);
}

static void big_child(int out, void *arg)
{
	size_t n = *(size_t *)arg;
	struct peer_cost r = {};
	struct status_doc d;
	char *doc;

	doc = ts_status_generate(n, &r.doc_len);
	d.text = doc;
	d.len = r.doc_len;
	peer_measure_read(&r, parse_status, &d, n);
	(void)!write(out, &r, sizeof(r));
	free(doc);
}

/*
 * A 32 MiB status took 1.5 GiB and 23 s through yajl's tree.  10,000
 * peers shaped like tailscaled's (about 13 MiB) must parse in well under
 * a second, and the parser's memory is that of the peers it keeps, not a
 * multiple of the document's.  Measured in a child so that the peak
 * resident size (getrusage) is this parse's own.
 */
static void test_ts_large_status(void **state)
{
	size_t n = 10000;
	struct peer_cost r;
	long grew;

	peer_in_child(big_child, &n, &r, sizeof(r), "10,000 peers");
	check(r.ret == 0, "10,000 peers: %d", r.ret);
	grew = r.rss_peak_kib - r.rss_before_kib;
	print_message(
		"10,000 peers, %.1f MiB: parsed in %.3f s, peak RSS %.1f MiB "
		"(%.1f MiB with the document, +%.1f MiB parsing)\n",
		r.doc_len / 1048576.0, r.secs, r.rss_peak_kib / 1024.0,
		r.rss_before_kib / 1024.0, grew / 1024.0);
	/*
	 * The time is printed, not asserted: a test asserts no absolute
	 * time (a loaded machine or a TCG VM takes longer); the memory
	 * bound holds anywhere.
	 */
	check(grew < 16 * 1024,
	      "parsing grew the peak resident size by %ld KiB", grew);
}

/* ---- peers -> identities --------------------------------------------------------- */

#define ID_DB	 300
#define ID_WEB	 301
#define ID_PROD	 302
#define ID_ALICE 310
#define ID_KEY	 320

static void expect_entry(const struct tp_ident_entry *e, const char *cidr,
			 __u32 id, __u16 zone)
{
	struct tp_peer_prefix want;

	assert_int_equal(tpd_peer_prefix_parse(cidr, true, &want), 0);
	check(!memcmp(&e->prefix, &want.addr, 16) && e->plen == want.plen,
	      "entry is not %s", cidr);
	check(e->id == id, "%s: identity %u, want %u", cidr, e->id, id);
	assert_int_equal(e->zone, zone);
}

/* An entry tpd_peers_to_identities() must give: a prefix and its identity. */
struct want_entry {
	const char *cidr;
	__u32 id;
};

/* @e holds exactly the entries @want lists, in that order, all in @zone. */
static void expect_entries(const struct tp_ident_entry *e, size_t n, __u16 zone,
			   const struct want_entry *want, size_t n_want)
{
	size_t i;

	check(n == n_want, "%zu entries, want %zu", n, n_want);
	for (i = 0; i < n; i++)
		expect_entry(&e[i], want[i].cidr, want[i].id, zone);
}

/*
 * @l mapped for zone @zone by @rules (TP_ID_TAILNET for a peer none
 * matches) must give exactly the entries @want, with @conflicts
 * conflicts counted.
 */
static void expect_mapped(const struct tp_peer_list *l, __u16 zone,
			  const struct tp_peer_rule *rules, size_t n_rules,
			  size_t conflicts, const struct want_entry *want,
			  size_t n_want)
{
	struct tp_ident_entry *e = NULL;
	size_t n = 0, got = conflicts + 9; /* it must be written */

	assert_int_equal(tpd_peers_to_identities(l, zone, rules, n_rules,
						 TP_ID_TAILNET, &e, &n, &got),
			 0);
	check(got == conflicts, "%zu conflicts, want %zu", got, conflicts);
	expect_entries(e, n, zone, want, n_want);
	free(e);
}

static void test_map_rule_order(void **state)
{
	static const struct tp_peer_rule rules[] = {
		{ TP_PEER_MATCH_TAG, "tag:db", ID_DB },
		{ TP_PEER_MATCH_TAG, "tag:web", ID_WEB },
		{ TP_PEER_MATCH_TAG, "tag:prod", ID_PROD },
		{ TP_PEER_MATCH_USER, "alice@example.com", ID_ALICE },
	};
	struct tp_peer_list l = {};
	struct tp_peer *p;

	p = add_peer(&l, "p1", NULL); /* tags in the other order: config wins */
	assert_int_equal(tpd_peer_add_tag(p, "tag:web"), 0);
	assert_int_equal(tpd_peer_add_tag(p, "tag:db"), 0);
	assert_int_equal(tpd_peer_identity(p, rules, 4, TP_ID_TAILNET), ID_DB);
	p = add_peer(&l, "p2", NULL);
	assert_int_equal(tpd_peer_add_tag(p, "tag:prod"), 0);
	assert_int_equal(tpd_peer_add_tag(p, "tag:web"), 0);
	assert_int_equal(tpd_peer_identity(p, rules, 4, TP_ID_TAILNET), ID_WEB);
	p = add_peer(&l, "p3", NULL);
	assert_int_equal(tpd_peer_add_tag(p, "tag:prod"), 0);
	assert_int_equal(tpd_peer_identity(p, rules, 4, TP_ID_TAILNET),
			 ID_PROD);
	p = add_peer(&l, "p4", "alice@example.com");
	assert_int_equal(tpd_peer_identity(p, rules, 4, TP_ID_TAILNET),
			 ID_ALICE);
	/* a tag rule listed before the user rule wins over it */
	assert_int_equal(tpd_peer_add_tag(p, "tag:web"), 0);
	assert_int_equal(tpd_peer_identity(p, rules, 4, TP_ID_TAILNET), ID_WEB);
	p = add_peer(&l, "p5", "bob@example.com");
	assert_int_equal(tpd_peer_add_tag(p, "tag:WEB"), 0); /* case matters */
	assert_int_equal(tpd_peer_identity(p, rules, 4, TP_ID_TAILNET),
			 TP_ID_TAILNET);
	assert_int_equal(tpd_peer_identity(p, rules, 4, 0), 0);
	assert_int_equal(tpd_peer_identity(p, NULL, 0, 77), 77);
	tpd_peer_list_free(&l);
}

static void test_map_entries(void **state)
{
	static const struct tp_peer_rule rules[] = {
		{ TP_PEER_MATCH_KEY, K2_B64, ID_KEY },
		{ TP_PEER_MATCH_TAG, "tag:web", ID_WEB },
	};
	/* sorted by prefix: IPv4 (::ffff:0:0/96) before fd7a::/16 */
	static const struct want_entry all[] = {
		{ "100.64.1.0/24", TP_ID_TAILNET },
		{ "100.64.1.1/32", TP_ID_TAILNET },
		{ "100.64.2.0/24", ID_KEY },
		{ "fd7a:115c:a1e0::2/128", ID_KEY },
		{ "fd7a:115c:a1e0:1::/64", TP_ID_TAILNET },
	};
	static const struct want_entry keyed[] = {
		{ "100.64.2.0/24", ID_KEY },
		{ "fd7a:115c:a1e0::2/128", ID_KEY },
	};
	struct tp_ident_entry *e = NULL;
	struct tp_peer_list l;
	size_t n = 0;

	assert_int_equal(tpd_wg_uapi_parse(uapi_reply, strlen(uapi_reply), &l),
			 0);
	expect_mapped(&l, 3, rules, ARRAY_SIZE(rules), 0, all, ARRAY_SIZE(all));

	/* without a fallback the unmatched peers give nothing */
	assert_int_equal(
		tpd_peers_to_identities(&l, 3, rules, 2, 0, &e, &n, NULL), 0);
	expect_entries(e, n, 3, keyed, ARRAY_SIZE(keyed));
	free(e);
	/* nothing at all */
	assert_int_equal(
		tpd_peers_to_identities(&l, 3, NULL, 0, 0, &e, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_null(e);
	tpd_peer_list_free(&l);
}

static void test_map_conflicts(void **state)
{
	static const struct tp_peer_rule rules[] = {
		{ TP_PEER_MATCH_TAG, "tag:db", ID_DB },
	};
	static const struct want_entry want[] = {
		{ "100.64.0.0/16", ID_DB },
		{ "100.64.0.0/24", TP_ID_TAILNET },
		{ "100.64.0.5/32", TP_ID_TAILNET }, /* first's */
	};
	struct tp_peer_list l = {};
	struct tp_peer *p;

	p = add_peer(&l, "first", NULL);
	add_prefix(p, "100.64.0.5/32");
	add_prefix(p, "100.64.0.0/24");
	p = add_peer(&l, "second", NULL);
	assert_int_equal(tpd_peer_add_tag(p, "tag:db"), 0);
	add_prefix(p, "100.64.0.5/32"); /* claimed by "first" */
	add_prefix(p, "100.64.0.0/16"); /* other length: no conflict */
	add_prefix(p, "100.64.0.0/16"); /* its own twice: no conflict */
	p = add_peer(&l, "third", NULL);
	add_prefix(p, "100.64.0.5/32"); /* claimed again */
	add_prefix(p, "100.64.0.9/24"); /* = 100.64.0.0/24 once masked */

	expect_mapped(&l, 2, rules, ARRAY_SIZE(rules), 3, want,
		      ARRAY_SIZE(want));
	tpd_peer_list_free(&l);
}

static void test_map_bad_rules(void **state)
{
	static const struct tp_peer_rule zero_id[] = { { TP_PEER_MATCH_TAG,
							 "tag:a", 0 } };
	static const struct tp_peer_rule empty[] = { { TP_PEER_MATCH_TAG, "",
						       300 } };
	static const struct tp_peer_rule null_value[] = { { TP_PEER_MATCH_USER,
							    NULL, 300 } };
	static const struct tp_peer_rule kind[] = { { (enum tp_peer_match)9,
						      "x", 300 } };
	struct tp_ident_entry *e = (void *)1;
	struct tp_peer_list l = {};
	size_t n = 1;

	add_prefix(add_peer(&l, "p", NULL), "100.64.0.1/32");
	assert_int_equal(
		tpd_peers_to_identities(&l, 1, zero_id, 1, 3, &e, &n, NULL),
		-EINVAL);
	assert_null(e);
	assert_int_equal(n, 0);
	assert_int_equal(
		tpd_peers_to_identities(&l, 1, empty, 1, 3, &e, &n, NULL),
		-EINVAL);
	assert_int_equal(
		tpd_peers_to_identities(&l, 1, null_value, 1, 3, &e, &n, NULL),
		-EINVAL);
	expect_error(tpd_peers_to_identities(&l, 1, kind, 1, 3, &e, &n, NULL),
		     -EINVAL, "unknown match kind");
	tpd_peer_list_free(&l);
}

/* Fixture -> entries, as the loader runs it for a tailscale0 in zone 1. */
static void test_map_tailscale_fixture(void **state)
{
	static const struct tp_peer_rule rules[] = {
		{ TP_PEER_MATCH_TAG, "tag:db", ID_DB },
		{ TP_PEER_MATCH_TAG, "tag:web", ID_WEB },
		{ TP_PEER_MATCH_USER, "alice@example.com", ID_ALICE },
	};
	static const struct want_entry want[] = {
		{ "100.64.0.10", ID_WEB },
		{ "100.64.0.11", ID_WEB },
		{ "100.64.0.20", ID_DB },
		{ "100.64.0.30", ID_ALICE },
		{ "100.64.0.40", TP_ID_TAILNET },
		{ "fd7a:115c:a1e0::a", ID_WEB },
		{ "fd7a:115c:a1e0::b", ID_WEB },
		{ "fd7a:115c:a1e0::14", ID_DB },
		{ "fd7a:115c:a1e0::1e", ID_ALICE },
		{ "fd7a:115c:a1e0::28", TP_ID_TAILNET },
	};
	struct tp_peer_list l;

	parse_fixture("tailscale-status-running.json", &l);
	expect_mapped(&l, 1, rules, ARRAY_SIZE(rules), 0, want,
		      ARRAY_SIZE(want));
	tpd_peer_list_free(&l);
}

/* ---- a UAPI socket that trickles ----------------------------------------- */

/*
 * A stuck userspace WireGuard: it takes the request, then sends uapi_reply
 * one byte every TRICKLE_MS and never finishes in time.  A thread of this
 * test, stopped through @stop.
 */
#define TRICKLE_MS 200

struct trickle {
	char dir[64];
	char path[108];
	int lfd;
	pthread_t thr;
	atomic_int stop;
};

static void *trickle_main(void *arg)
{
	struct trickle *t = arg;
	struct pollfd pfd = { .fd = t->lfd, .events = POLLIN };
	size_t off = 0, len = strlen(uapi_reply);
	char req[64];
	int fd;

	if (poll(&pfd, 1, 10000) <= 0)
		return NULL;
	fd = accept(t->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	if (recv(fd, req, sizeof(req), 0) > 0)
		while (!atomic_load(&t->stop) && off < len &&
		       send(fd, uapi_reply + off++, 1, MSG_NOSIGNAL) == 1)
			usleep(TRICKLE_MS * 1000);
	close(fd);
	return NULL;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Read wgtrickle0 through @deadline_ms (0: the default deadline of
 * tpd_wg_uapi_dump_as()); seconds taken.  The fake server is this process,
 * so its uid is the one trusted (root's anyway when run as root).
 */
static double trickle_read(unsigned int deadline_ms)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct tp_peer_list l = {};
	struct trickle t = { .lfd = -1 };
	double t0, secs;
	int ret;

	snprintf(t.dir, sizeof(t.dir), "/tmp/tp-trickle-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(t.path, sizeof(t.path), "%s/wgtrickle0.sock", t.dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t.path);
	t.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(t.lfd >= 0);
	assert_int_equal(bind(t.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(t.lfd, 1), 0);
	assert_int_equal(pthread_create(&t.thr, NULL, trickle_main, &t), 0);
	t0 = mono_s();
	if (deadline_ms)
		ret = tpd_wg_uapi_dump_by("wgtrickle0", t.dir, geteuid(),
					  tpd_deadline_after(deadline_ms), &l);
	else
		ret = tpd_wg_uapi_dump_as("wgtrickle0", t.dir, geteuid(), &l);
	secs = mono_s() - t0;
	atomic_store(&t.stop, 1);
	pthread_join(t.thr, NULL);
	close(t.lfd);
	unlink(t.path);
	rmdir(t.dir);
	check(ret == -ETIMEDOUT, "a trickling socket: %d (%s) after %.1f s",
	      ret, tpd_peer_last_error(), secs);
	assert_non_null(strstr(tpd_peer_last_error(), "timed out"));
	assert_int_equal(l.n, 0);
	return secs;
}

/*
 * A socket that trickles a byte every 200 ms never lets a read time out;
 * the whole answer has a deadline: TP_UAPI_TIMEOUT_S (5 s) by default, or
 * the caller's.
 */
static void test_uapi_trickle_deadline(void **state)
{
	double secs;

	(void)state;
	/*
	 * Upper bounds far from the deadline: they catch a reader without
	 * one (the trickling server goes on for a minute), not a slow
	 * machine.
	 */
	secs = trickle_read(600);
	check(secs >= 0.5 && secs < 10, "deadline of 0.6 s: took %.1f s", secs);
	secs = trickle_read(0);
	check(secs >= 4.5 && secs < 20, "default deadline of 5 s: took %.1f s",
	      secs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_base64),
		cmocka_unit_test(test_key_hex),
		cmocka_unit_test(test_prefix_parse),
		cmocka_unit_test(test_list_add_errors),
		cmocka_unit_test(test_canonicalize),
		cmocka_unit_test(test_uapi_reply),
		cmocka_unit_test(test_uapi_no_peers_and_trailing),
		cmocka_unit_test(test_uapi_errno),
		cmocka_unit_test(test_uapi_malformed),
		cmocka_unit_test(test_uapi_trickle_deadline),
		cmocka_unit_test(test_genl_one_message),
		cmocka_unit_test(test_genl_split_messages),
		cmocka_unit_test(test_genl_equals_uapi),
		cmocka_unit_test(test_genl_errors),
		cmocka_unit_test(test_genl_bad_framing),
		cmocka_unit_test(test_genl_bad_errno),
		cmocka_unit_test(test_genl_malformed),
		cmocka_unit_test(test_ts_running),
		cmocka_unit_test(test_ts_sparse),
		cmocka_unit_test(test_ts_needslogin),
		cmocka_unit_test(test_ts_user_ids),
		cmocka_unit_test(test_ts_no_users),
		cmocka_unit_test(test_ts_malformed),
		cmocka_unit_test(test_reason_one_line),
		cmocka_unit_test(test_ts_deep_nesting),
		cmocka_unit_test(test_ts_large_status),
		cmocka_unit_test(test_map_rule_order),
		cmocka_unit_test(test_map_entries),
		cmocka_unit_test(test_map_conflicts),
		cmocka_unit_test(test_map_bad_rules),
		cmocka_unit_test(test_map_tailscale_fixture),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
