// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tpd_wg_genl_dump() against kernel WireGuard: as root, in a fresh network
 * namespace of this process, a wireguard link made with ip(8) and
 * configured with wg(8) is read back through generic netlink and compared
 * with what was configured and with `wg show IF allowed-ips`:
 *
 * - three peers, IPv4 and IPv6 allowed-ips, one without any; then a peer
 *   removed and allowed-ips replaced;
 * - a peer with 1024 allowed-ips and 60 small peers, so that the kernel
 *   splits the dump over several netlink messages, one peer's allowed-ips
 *   over more than one of them.
 *
 * Skipped, with the reason, without root, ip(8) or wg(8), or when this
 * kernel has no WireGuard (`ip link add ... type wireguard` fails): so on a
 * host without wireguard.ko it is skipped, and `make vmtest` runs it on a
 * kernel that has it.  The teardown deletes the link and leaves the
 * namespace, which then goes away; every child is waited for.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "peers.h"
#include "peertest.h"

#define WG PEER_WG
#define IP "/usr/sbin/ip"

#define MANY_V4	    768 /* allowed-ips of the big peer: 100.64.{0..2}.{0..255}/32 */
#define MANY_V6	    256 /* and fd7a:115c:a1e0:1::{0..ff}/128 */
#define SMALL_PEERS 60

/**
 * struct kwg - what a test made, for its teardown.
 * @dir:     temporary directory (private key, command output).
 * @ifname:  the link, wgtp<pid>.
 * @orig_ns: this process's network namespace before the test, -1 if unset.
 * @in_ns:   whether the process is in the test's own namespace.
 * @link:    whether the link was made.
 */
struct kwg {
	char dir[64];
	char ifname[16];
	int orig_ns;
	bool in_ns;
	bool link;
};

static int kwg_setup(void **state)
{
	struct kwg *k = calloc(1, sizeof(*k));

	if (!k || fixture_tmpdir(k->dir, sizeof(k->dir), "tp-kwgtest")) {
		free(k);
		return -1;
	}
	k->orig_ns = -1;
	snprintf(k->ifname, sizeof(k->ifname), "wgtp%d", (int)getpid());
	*state = k;
	return 0;
}

static int kwg_teardown(void **state)
{
	struct kwg *k = *state;
	const char *const del[] = { IP, "link", "del", k->ifname, NULL };
	char path[128];
	int ret = 0;

	if (k->link && k->in_ns && peer_run_cmd(NULL, 0, true, del))
		ret = -1;
	if (k->in_ns && setns(k->orig_ns, CLONE_NEWNET))
		ret = -1; /* cannot leave: cmocka reports the teardown failed */
	if (k->orig_ns >= 0)
		close(k->orig_ns);
	snprintf(path, sizeof(path), "%s/private.key", k->dir);
	unlink(path);
	rmdir(k->dir);
	free(k);
	return ret;
}

/*
 * Enter a fresh network namespace and make the wireguard link there, or
 * skip the test with the reason.
 */
static void kwg_start(struct kwg *k)
{
	const char *const add[] = { IP,	    "link",	 "add", k->ifname,
				    "type", "wireguard", NULL };
	char out[512];

	if (geteuid() != 0 || access(WG, X_OK) || access(IP, X_OK)) {
		print_message("skipped: needs root, " WG " and " IP "\n");
		skip();
	}
	k->orig_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(k->orig_ns >= 0);
	check(!unshare(CLONE_NEWNET), "unshare: %s", strerror(errno));
	k->in_ns = true;
	if (peer_run_cmd(out, sizeof(out), true, add)) {
		out[strcspn(out, "\n")] = '\0';
		print_message(
			"skipped: no kernel WireGuard (ip link add %s type "
			"wireguard: %s)\n",
			k->ifname, out);
		skip();
	}
	k->link = true;
}

/* Run wg(8) with @argv (WG first); fail with its output when it fails. */
static void wg_set(const char *const argv[])
{
	char out[1024];

	check(peer_run_cmd(out, sizeof(out), true, argv) == 0, "wg set: %s",
	      out);
}

static void dump(const struct kwg *k, struct tp_peer_list *got)
{
	int ret = tpd_wg_genl_dump(k->ifname, got);

	check(ret == 0, "dump %s: %d (%s)", k->ifname, ret,
	      tpd_peer_last_error());
}

static void kwg_dump(void *ctx, int round, struct tp_peer_list *got)
{
	(void)round;
	dump(ctx, got);
}

static void test_kernel_wg_peers(void **state)
{
	struct kwg *k = *state;
	struct tp_peer_list got;
	char priv[160];
	int ret;

	kwg_start(k);

	/* no peers yet: an empty list, not an error */
	dump(k, &got);
	assert_int_equal(got.n, 0);
	tpd_peer_list_free(&got);
	/* lo is no WireGuard device; a missing link is -ENODEV */
	ret = tpd_wg_genl_dump("lo", &got);
	check(ret == -EOPNOTSUPP, "lo: %d (%s)", ret, tpd_peer_last_error());
	ret = tpd_wg_genl_dump("tpnone0", &got);
	check(ret == -ENODEV, "tpnone0: %d (%s)", ret, tpd_peer_last_error());

	peer_wg_private_key(k->dir, priv, sizeof(priv));
	peer_check_set_and_dump(k->ifname, priv, true, kwg_dump, k);
}

/* Append @s and a comma to the list in @buf (of @size), or fail. */
static void list_add(char *buf, size_t size, size_t *len, const char *s)
{
	int n = snprintf(buf + *len, size - *len, "%s%s", *len ? "," : "", s);

	assert_true(n > 0 && (size_t)n < size - *len);
	*len += (size_t)n;
}

static void test_kernel_wg_dump_split(void **state)
{
	struct kwg *k = *state;
	const size_t size = (MANY_V4 + MANY_V6) * 48;
	char big[48], small[SMALL_PEERS][48], cidr[64], priv[160];
	char *list = malloc(size);
	struct tp_peer_list got, want = {};
	struct tp_peer_prefix pp;
	struct tp_peer *p;
	size_t len = 0, i;

	assert_non_null(list);
	kwg_start(k);
	peer_wg_private_key(k->dir, priv, sizeof(priv));
	peer_wg_pubkey(big);
	p = tpd_peer_list_add(&want, big);
	assert_non_null(p);
	for (i = 0; i < MANY_V4 + MANY_V6; i++) {
		if (i < MANY_V4)
			snprintf(cidr, sizeof(cidr), "100.64.%zu.%zu/32",
				 i / 256, i % 256);
		else
			snprintf(cidr, sizeof(cidr),
				 "fd7a:115c:a1e0:1::%zx/128", i - MANY_V4);
		list_add(list, size, &len, cidr);
		assert_int_equal(tpd_peer_prefix_parse(cidr, false, &pp), 0);
		assert_int_equal(tpd_peer_add_prefix(p, &pp.addr, pp.plen), 0);
	}
	{
		const char *const argv[] = {
			WG,	"set", k->ifname,     "private-key", priv,
			"peer", big,   "allowed-ips", list,	     NULL
		};

		wg_set(argv);
	}

	/* small peers, one v4 and one v6 prefix each, in batches of ten */
	for (i = 0; i < SMALL_PEERS; i++) {
		char c4[32], c6[48];
		const char *const cidrs[] = { c4, c6 };

		peer_wg_pubkey(small[i]);
		snprintf(c4, sizeof(c4), "100.65.%zu.0/24", i);
		snprintf(c6, sizeof(c6), "fd7a:115c:a1e0:2:%zx::/80", i);
		peer_add_expected(&want, small[i], cidrs, ARRAY_SIZE(cidrs));
		if (i % 10 == 9) {
			const char *argv[4 + 10 * 4 + 1] = { WG, "set",
							     k->ifname };
			char a[10][96];
			size_t j, n = 3;

			for (j = 0; j < 10; j++) {
				size_t pi = i - 9 + j;

				snprintf(
					a[j], sizeof(a[j]),
					"100.65.%zu.0/24,fd7a:115c:a1e0:2:%zx::/80",
					pi, pi);
				argv[n++] = "peer";
				argv[n++] = small[pi];
				argv[n++] = "allowed-ips";
				argv[n++] = a[j];
			}
			argv[n] = NULL;
			wg_set(argv);
		}
	}
	assert_int_equal(tpd_peer_list_canonicalize(&want), 0);

	dump(k, &got);
	assert_int_equal(got.n, SMALL_PEERS + 1);
	peer_expect_same(&got, &want);
	peer_expect_wg_show(k->ifname, &got);
	tpd_peer_list_free(&got);

	/* the same dump twice gives the same list */
	dump(k, &got);
	peer_expect_same(&got, &want);
	tpd_peer_list_free(&got);
	tpd_peer_list_free(&want);
	free(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kernel_wg_peers, kwg_setup,
						kwg_teardown),
		cmocka_unit_test_setup_teardown(test_kernel_wg_dump_split,
						kwg_setup, kwg_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
