/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Helpers shared by the peer-source tests (test_peers*, test_wg_genl_live). */
#ifndef TAILPLANE_TESTS_PEERTEST_H
#define TAILPLANE_TESTS_PEERTEST_H

#include <stdbool.h>
#include <stddef.h>

#include "peers.h"

#define check(cond, fmt, ...)                         \
	do {                                          \
		if (!(cond))                          \
			fail_msg(fmt, ##__VA_ARGS__); \
	} while (0)

/* Two real keys (wg genkey | wg pubkey), hex and base64. */
#define K1_HEX \
	"68247057da097a469b378d19f0e44c4ba4f6901fc04dd16dba36336eb94a5b45"
#define K1_B64 "aCRwV9oJekabN40Z8ORMS6T2kB/ATdFtujYzbrlKW0U="
#define K2_HEX \
	"bd340497980c2be8dbc4b1f56ba5911980776a5b6f56d538e9e245da45e77e2b"
#define K2_B64 "vTQEl5gMK+jbxLH1a6WRGYB3altvVtU46eJF2kXnfis="

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

void peer_add_expected(struct tp_peer_list *l, const char *key,
		       const char *const *cidrs, size_t n);
void peer_expect_same(const struct tp_peer_list *a,
		      const struct tp_peer_list *b);
char *ts_status_generate(size_t n_peers, size_t *len);
void ts_status_check(const struct tp_peer_list *l, size_t n);
int peer_run_cmd(char *out, size_t size, bool err, const char *const argv[]);

/*
 * What reading a large peer list cost: its return, seconds, and the peak
 * resident size before and after (KiB; measured in a child, the peak is
 * the read's own); @doc_len the document's size when the caller knows it.
 */
struct peer_cost {
	int ret;
	double secs;
	long rss_before_kib, rss_peak_kib;
	size_t doc_len;
};
typedef int peer_read_fn(void *ctx, struct tp_peer_list *l);
void peer_measure_read(struct peer_cost *c, peer_read_fn *read_peers, void *ctx,
		       size_t n);

/* Run @fn in a child; what it wrote to @out, @size bytes, at @res. */
void peer_in_child(void (*fn)(int out, void *arg), void *arg, void *res,
		   size_t size, const char *what);

#define PEER_WG "/usr/bin/wg" /* wg(8), for keys */
void peer_wg_pubkey(char out[TP_WG_KEY_B64_LEN + 1]);
void peer_wg_private_key(const char *dir, char *path, size_t size);
void peer_expect_wg_show(const char *ifname, const struct tp_peer_list *l);

/* Read the peers of the device under test: @round 0, then 1. */
typedef void peer_dump_fn(void *ctx, int round, struct tp_peer_list *got);
void peer_check_set_and_dump(const char *ifname, const char *priv,
			     bool listen_port, peer_dump_fn *dump, void *ctx);

/* Fake servers on unix sockets (the LocalAPI's, UAPI's). */
int peer_sock_tmpdir(char *dir, size_t dir_size, char *path, size_t path_size,
		     const char *prefix, const char *name);
int peer_listen_unix(const char *path, int backlog);
int peer_send_all(int fd, const char *p, size_t len);
size_t peer_read_until(int fd, char *buf, size_t size, const char *end);
void peer_wait_hangup(int fd);
void peer_expect_ts_fetch_error(const char *path, int want, const char *needle);

#endif /* TAILPLANE_TESTS_PEERTEST_H */
