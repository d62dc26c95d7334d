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

#define PEER_WG "/usr/bin/wg" /* wg(8), for keys */
void peer_wg_pubkey(char out[TP_WG_KEY_B64_LEN + 1]);
void peer_wg_private_key(const char *dir, char *path, size_t size);
void peer_expect_wg_show(const char *ifname, const struct tp_peer_list *l);

/* Read the peers of the device under test: @round 0, then 1. */
typedef void peer_dump_fn(void *ctx, int round, struct tp_peer_list *got);
void peer_check_set_and_dump(const char *ifname, const char *priv,
			     bool listen_port, peer_dump_fn *dump, void *ctx);

#endif /* TAILPLANE_TESTS_PEERTEST_H */
