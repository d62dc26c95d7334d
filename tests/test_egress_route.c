// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The loader's routes for egress services (loader/egress_route.c), in the
 * packet harness's network namespace (tests/harness.c: the process's own,
 * gone with it): tptun0 and tptun1 are the tailnet interfaces of
 * tp_ifaces, tailnet B (100.100.0.0/16, fd7a:115c:a1e0:2::/64) is routed
 * into tptun1 by the harness, and this file routes 100.101.0.0/16 and
 * fd7a:115c:a1e0:3::/64 into tptun0.  Services are written into the maps
 * as tpctl writes them; the routes are read back with ip(8), never with
 * the code under test.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <limits.h>
#include <sys/stat.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "config.h"
#include "egress_route.h"
#include "fixture.h"
#include "heapcount.h"
#include "iface.h"
#include "pkttest.h"
#include "service.h"

#define NET_A4 "100.101.0.0/16" /* into tptun0 (this file's route) */
#define NET_A6 "fd7a:115c:a1e0:3::/64"
#define BE_A4  "100.101.0.7" /* a backend behind tptun0 */
#define BE_A6  "[fd7a:115c:a1e0:3::7]"
#define BE_B4  "100.100.0.7" /* behind tptun1 (the harness's route) */
#define BE_B4b "100.100.0.8"
#define BE_B6  "[fd7a:115c:a1e0:2::7]"
#define BE_C4  "100.102.0.7" /* behind tpegx0, an interface a test removes */
#define NET_C4 "100.102.0.0/16"
#define EVIP1  "198.19.5.1"
#define EVIP2  "198.19.5.2"
#define EVIP6  "fd00:198:19::5:1"
#define GONE   "tpegx0"

/* ---- helpers --------------------------------------------------------------- */

#define sh fixture_sh

/*
 * The main table's routes of exactly @prefix as ip(8) prints them, one a
 * line, "proto N" numeric; "" when there is none.
 */
static const char *routes_of(const char *prefix, char *buf, size_t len)
{
	char cmd[256];
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "ip -N %s route show table main exact %s 2>&1",
		 strchr(prefix, ':') ? "-6" : "-4", prefix);
	f = popen(cmd, "r");
	assert_non_null(f);
	buf[0] = 0;
	while (n + 1 < len && fgets(buf + n, (int)(len - n), f))
		n = strlen(buf);
	pclose(f);
	return buf;
}

#define ROUTES(prefix) routes_of(prefix, (char[1024]){ 0 }, 1024)

/* Lines of @s that hold @what and, when not NULL, @also. */
static int lines_with(const char *s, const char *what, const char *also)
{
	const char *l = s, *end;
	size_t len;
	int n = 0;

	while (*l) {
		end = strchr(l, '\n');
		end = end ? end : l + strlen(l);
		len = (size_t)(end - l);
		if (memmem(l, len, what, strlen(what)) &&
		    (!also || memmem(l, len, also, strlen(also))))
			n++;
		l = *end ? end + 1 : end;
	}
	return n;
}

#define count_lines(s, what) lines_with(s, what, NULL)

/* @prefix has exactly one route, ours, into @dev. */
#define ASSERT_OURS(prefix, dev)                                                \
	do {                                                                    \
		const char *__r = ROUTES(prefix);                               \
		if (count_lines(__r, " ") != 1 ||                               \
		    count_lines(__r, "dev " dev " ") != 1 ||                    \
		    count_lines(__r, "proto 116") != 1)                         \
			fail_msg(                                               \
				"%s: want one route dev %s proto 116, got: %s", \
				prefix, dev, __r);                              \
	} while (0)

#define ASSERT_NO_ROUTE(prefix)                                              \
	do {                                                                 \
		const char *__r = ROUTES(prefix);                            \
		if (__r[0])                                                  \
			fail_msg("%s: want no route, got: %s", prefix, __r); \
	} while (0)

/* Write service @frontend with backends @bes[0..n-1] ("ADDR:PORT"). */
static void svc_put(struct th *h, const char *frontend, const char *const *bes,
		    size_t n)
{
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec be[8] = {};
	struct tp_svc_key key;
	bool has_port;
	__u16 port;
	size_t i;

	assert_true(n <= 8);
	assert_int_equal(tp_svc_key_parse(frontend, &key), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(tp_endpoint_parse(bes[i], &be[i].addr, &port,
						   &has_port),
				 0);
		be[i].port = htons(port);
		be[i].weight = 1;
	}
	assert_int_equal(tp_service_set(&h->maps, &key, &spec, be, n), 0);
}

#define SVC(h, frontend, ...)                                      \
	svc_put(h, frontend, (const char *const[]){ __VA_ARGS__ }, \
		sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *))

static void svc_del(struct th *h, const char *frontend)
{
	struct tp_svc_key key;

	assert_int_equal(tp_svc_key_parse(frontend, &key), 0);
	assert_int_equal(tp_service_del(&h->maps, &key), 0);
}

/* ---- the log: stderr into a file while the code under test runs ----------- */

static int saved_stderr = -1;
static FILE *log_file;

static void log_begin(void)
{
	log_file = tmpfile();
	assert_non_null(log_file);
	fflush(stderr);
	saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(log_file), 2) >= 0);
}

/* What was logged since log_begin(), in @buf. */
static const char *log_end(char *buf, size_t len)
{
	size_t n;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
	rewind(log_file);
	n = fread(buf, 1, len - 1, log_file);
	buf[n] = 0;
	fclose(log_file);
	log_file = NULL;
	return buf;
}

/* One sync, its log in @log (when not NULL); it must succeed. */
static struct tpd_egress_result
sync_logged(struct th *h, struct tpd_egress_routes *st, char *log, size_t len)
{
	struct tpd_egress_result res = {};
	char discard[4096];
	int err;

	log_begin();
	err = tpd_egress_sync(&h->maps, st, &res);
	log_end(log ? log : discard, log ? len : sizeof(discard));
	assert_int_equal(err, 0);
	return res;
}

#define SYNC(h, st) sync_logged(h, st, NULL, 0)

/* ---- fixture ------------------------------------------------------------------ */

static struct tpd_egress_routes st;

static int setup(void **state)
{
	int err = pt_setup(state);
	struct th *h = *state;

	if (err || !h->skel)
		return err;
	memset(&st, 0, sizeof(st));
	return system("ip route replace " NET_A4 " dev tptun0 && "
		      "ip -6 route replace " NET_A6 " dev tptun0")
		       ? -1
		       : 0;
}

/* Every route a test made goes, ours and the operator's; the namespace stays. */
static int teardown(void **state)
{
	struct th *h = *state;
	unsigned int removed;

	if (h->skel) {
		log_begin();
		tpd_egress_remove_all(NULL, 0, &removed);
		log_end((char[4096]){ 0 }, 4096);
		tpd_egress_routes_free(&st);
		if (system("ip route flush table main proto static; "
			   "ip -6 route flush table main proto static; "
			   "ip route del 198.19.5.3/32 2>/dev/null; "
			   "ip link del " GONE " 2>/dev/null; true"))
			return -1;
	}
	return pt_teardown(state);
}

/* ---- tests ------------------------------------------------------------------ */

/*
 * A service whose backends are all behind tptun1 gets VIP/32 dev tptun1
 * proto 116; one behind tptun0 gets its route there; a second sync
 * changes nothing.
 */
static void test_route_added(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;

	REQUIRE_BPF();
	SVC(h, EVIP1 ":80/tcp", BE_B4 ":8080", BE_B4b ":8080");
	SVC(h, EVIP1 ":53/udp", BE_B4 ":9001");
	SVC(h, EVIP2 ":80/tcp", BE_A4 ":8080");
	res = SYNC(h, &st);
	assert_int_equal(res.added, 2);
	assert_int_equal(res.routes, 2);
	assert_int_equal(res.errors, 0);
	ASSERT_OURS(EVIP1 "/32", "tptun1");
	ASSERT_OURS(EVIP2 "/32", "tptun0");
	res = SYNC(h, &st);
	assert_int_equal(res.added + res.moved + res.removed, 0);
	assert_int_equal(res.routes, 2);
	ASSERT_OURS(EVIP1 "/32", "tptun1");
}

/* A backend moved into the other tailnet moves the route, in place. */
static void test_route_moves(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;

	REQUIRE_BPF();
	SVC(h, EVIP1 ":80/tcp", BE_B4 ":8080");
	SYNC(h, &st);
	ASSERT_OURS(EVIP1 "/32", "tptun1");
	SVC(h, EVIP1 ":80/tcp", BE_A4 ":8080");
	res = SYNC(h, &st);
	assert_int_equal(res.moved, 1);
	assert_int_equal(res.added + res.removed, 0);
	ASSERT_OURS(EVIP1 "/32", "tptun0");
}

/*
 * Backends split over the two tailnets, in one service or between two
 * services of one VIP, or between a tailnet and nowhere: no route, and a
 * warning naming the service, once while it lasts.
 */
static void test_split_gets_none(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;
	char log[4096];

	REQUIRE_BPF();
	SVC(h, EVIP1 ":80/tcp", BE_B4 ":8080", BE_A4 ":8080");
	SVC(h, EVIP2 ":80/tcp", BE_B4 ":8080");
	SVC(h, EVIP2 ":53/udp", BE_A4 ":9001");
	SVC(h, "[" EVIP6 "]:80/tcp", BE_B6 ":8080", "[fd00:198:18::99]:80");
	res = sync_logged(h, &st, log, sizeof(log));
	assert_int_equal(res.split, 3);
	assert_int_equal(res.added, 0);
	ASSERT_NO_ROUTE(EVIP1 "/32");
	ASSERT_NO_ROUTE(EVIP2 "/32");
	ASSERT_NO_ROUTE(EVIP6 "/128");
	assert_int_equal(count_lines(log, "more than one interface"), 3);
	assert_int_equal(lines_with(log, "\"service\":\"" EVIP1 ":80/tcp\"",
				    "\"other_iface\":\"tptun0\""),
			 1);
	/* the two services of EVIP2, each named */
	assert_int_equal(lines_with(log, "\"service\":\"" EVIP2 ":53/udp\"",
				    "\"other_service\":\"" EVIP2 ":80/tcp\""),
			 1);
	assert_int_equal(lines_with(log, "\"iface\":\"tptun0\"",
				    "\"other_iface\":\"tptun1\""),
			 1);
	assert_int_equal(lines_with(log, "\"service\":\"[" EVIP6 "]:80/tcp\"",
				    "\"other_iface\":\"none\""),
			 1);
	/* the same split again: not said again */
	res = sync_logged(h, &st, log, sizeof(log));
	assert_int_equal(res.split, 3);
	assert_int_equal(count_lines(log, "more than one interface"), 0);
	/* joined in one tailnet: routed */
	SVC(h, EVIP1 ":80/tcp", BE_B4 ":8080", BE_B4b ":8080");
	res = SYNC(h, &st);
	assert_int_equal(res.added, 1);
	ASSERT_OURS(EVIP1 "/32", "tptun1");
}

/*
 * A split between a tailnet and several backends that no route into one
 * covers, over two services of a VIP: the warning names the first of
 * those (by service, then address) as the other backend.
 */
static void test_split_names_least_other(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;
	char log[4096];

	REQUIRE_BPF();
	SVC(h, EVIP1 ":443/tcp", "10.9.0.1:80");
	SVC(h, EVIP1 ":80/tcp", "10.9.0.9:80", BE_B4 ":8080", "10.9.0.3:80");
	res = sync_logged(h, &st, log, sizeof(log));
	assert_int_equal(res.split, 1);
	ASSERT_NO_ROUTE(EVIP1 "/32");
	assert_int_equal(count_lines(log, "more than one interface"), 1);
	assert_int_equal(lines_with(log, "\"service\":\"" EVIP1 ":80/tcp\"",
				    "\"other_service\":\"" EVIP1 ":80/tcp\""),
			 1);
	assert_int_equal(lines_with(log, "\"backend\":\"" BE_B4 "\"",
				    "\"other_backend\":\"10.9.0.3\""),
			 1);
}

/* Backends outside any tailnet (an uplink, no route at all): no route, no word. */
static void test_ordinary_service_gets_none(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;
	char log[4096];

	REQUIRE_BPF();
	assert_true(th_uplink(h) > 0); /* tpup0: 198.18.1.0/24 routed there */
	SVC(h, EVIP1 ":80/tcp", "198.18.1.1:80", "198.18.1.2:80");
	SVC(h, EVIP2 ":80/tcp", "203.0.113.9:80"); /* no route: none here */
	res = sync_logged(h, &st, log, sizeof(log));
	assert_int_equal(res.added + res.split + res.errors, 0);
	ASSERT_NO_ROUTE(EVIP1 "/32");
	ASSERT_NO_ROUTE(EVIP2 "/32");
	assert_int_equal(count_lines(log, "egress"), 0);
}

/* A deleted service's route goes; the others stay. */
static void test_deleted_service_route_goes(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;

	REQUIRE_BPF();
	SVC(h, EVIP1 ":80/tcp", BE_B4 ":8080");
	SVC(h, EVIP2 ":80/tcp", BE_B4 ":8080");
	SYNC(h, &st);
	ASSERT_OURS(EVIP1 "/32", "tptun1");
	svc_del(h, EVIP1 ":80/tcp");
	res = SYNC(h, &st);
	assert_int_equal(res.removed, 1);
	assert_int_equal(res.routes, 1);
	ASSERT_NO_ROUTE(EVIP1 "/32");
	ASSERT_OURS(EVIP2 "/32", "tptun1");
}

/*
 * The operator's route for a VIP (another protocol, even into another
 * interface) is left alone and none of ours is added beside it; when he
 * takes over a VIP we route, ours goes and his stays.
 */
static void test_operator_route_left_alone(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;
	char log[4096];

	REQUIRE_BPF();
	sh("ip route add " EVIP1 "/32 dev tptun0 proto static");
	SVC(h, EVIP1 ":80/tcp", BE_B4 ":8080");
	res = sync_logged(h, &st, log, sizeof(log));
	assert_int_equal(res.operator, 1);
	assert_int_equal(res.added, 0);
	assert_int_equal(count_lines(log, "routed by the operator"), 1);
	assert_int_equal(count_lines(ROUTES(EVIP1 "/32"), " "), 1);
	assert_int_equal(
		count_lines(ROUTES(EVIP1 "/32"), "dev tptun0 proto 4 "), 1);
	res = sync_logged(h, &st, log, sizeof(log));
	assert_int_equal(count_lines(log, "routed by the operator"), 0);
	assert_int_equal(count_lines(ROUTES(EVIP1 "/32"), " "), 1);

	/*
	 * v6: ours first, then the operator's beside it, same interface,
	 * another metric: ours goes (the removal names our protocol), his
	 * stays
	 */
	SVC(h, "[" EVIP6 "]:80/tcp", BE_B6 ":8080");
	SYNC(h, &st);
	ASSERT_OURS(EVIP6 "/128", "tptun1");
	sh("ip -6 route add " EVIP6 "/128 dev tptun1 proto static metric 5");
	res = SYNC(h, &st);
	assert_int_equal(res.operator, 2);
	assert_int_equal(res.removed, 1);
	assert_int_equal(count_lines(ROUTES(EVIP6 "/128"), " "), 1);
	assert_int_equal(
		count_lines(ROUTES(EVIP6 "/128"), "dev tptun1 proto 4 "), 1);
}

/*
 * Detach removes our routes into the pin root's tailnet interfaces (its
 * pinned tp_ifaces) and nothing else: not the operator's, not another
 * loader's (protocol 116 into an interface of its own).
 */
static void test_detach_removes_only_ours(void **state)
{
	struct tpd_config cfg = {};
	struct th *h = *state;
	char pin[PATH_MAX];
	unsigned int removed;
	int err;

	REQUIRE_BPF();
	SVC(h, EVIP1 ":80/tcp", BE_B4 ":8080");
	SVC(h, "[" EVIP6 "]:80/tcp", BE_B6 ":8080");
	SYNC(h, &st);
	sh("ip route add " EVIP2 "/32 dev tptun1 proto static");
	sh("ip route add 198.19.5.3/32 dev tptun1 proto boot");
	sh("ip tuntap add dev " GONE " mode tun && ip link set " GONE
	   " up && ip route add 198.19.5.4/32 dev " GONE " proto 116");
	ASSERT_OURS(EVIP1 "/32", "tptun1");
	ASSERT_OURS(EVIP6 "/128", "tptun1");
	/* the pin root: its tp_ifaces, tptun0 and tptun1 */
	snprintf(cfg.pin_root, sizeof(cfg.pin_root), "/sys/fs/bpf/tp-egtest-%d",
		 (int)getpid());
	snprintf(pin, sizeof(pin), "%s/" TP_MAP_IFACES, cfg.pin_root);
	assert_int_equal(mkdir(cfg.pin_root, 0700), 0);
	assert_int_equal(bpf_obj_pin(h->maps.ifaces, pin), 0);
	log_begin();
	err = tpd_egress_detach(&cfg, &removed);
	log_end((char[4096]){ 0 }, 4096);
	unlink(pin);
	rmdir(cfg.pin_root);
	assert_int_equal(err, 0);
	assert_int_equal(removed, 2);
	ASSERT_NO_ROUTE(EVIP1 "/32");
	ASSERT_NO_ROUTE(EVIP6 "/128");
	assert_int_equal(count_lines(ROUTES(EVIP2 "/32"), "proto 4 "), 1);
	/* proto boot, which ip(8) does not print */
	assert_int_equal(count_lines(ROUTES("198.19.5.3/32"), "dev tptun1 "),
			 1);
	ASSERT_OURS("198.19.5.4/32", GONE);
	assert_int_equal(count_lines(ROUTES(NET_A4), "dev tptun0"), 1);
	sh("ip route del 198.19.5.3/32 dev tptun1 proto boot");
}

/* v6: added as /128, moved, removed. */
static void test_v6(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;

	REQUIRE_BPF();
	SVC(h, "[" EVIP6 "]:80/tcp", BE_B6 ":8080");
	SVC(h, "[" EVIP6 "]/icmp", BE_B6);
	res = SYNC(h, &st);
	assert_int_equal(res.added, 1);
	ASSERT_OURS(EVIP6 "/128", "tptun1");
	SVC(h, "[" EVIP6 "]:80/tcp", BE_A6 ":8080");
	SVC(h, "[" EVIP6 "]/icmp", BE_A6);
	res = SYNC(h, &st);
	assert_int_equal(res.moved, 1);
	ASSERT_OURS(EVIP6 "/128", "tptun0");
	svc_del(h, "[" EVIP6 "]:80/tcp");
	svc_del(h, "[" EVIP6 "]/icmp");
	res = SYNC(h, &st);
	assert_int_equal(res.removed, 1);
	ASSERT_NO_ROUTE(EVIP6 "/128");
}

/*
 * Backends routed by a policy rule into another table (Tailscale keeps
 * its peers' routes in table 52): the kernel's decision counts, the
 * VIP's route goes into the main table.
 */
static void test_policy_routed_backend(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;

	REQUIRE_BPF();
	sh("ip route add 100.103.0.0/16 dev tptun0 table 52 && "
	   "ip rule add to 100.103.0.0/16 lookup 52 pref 5270");
	SVC(h, EVIP1 ":80/tcp", "100.103.0.7:8080");
	res = SYNC(h, &st);
	sh("ip rule del pref 5270 && ip route flush table 52");
	assert_int_equal(res.added, 1);
	ASSERT_OURS(EVIP1 "/32", "tptun0");
}

/* A restart (state lost, routes kept) adopts the routes: nothing changes. */
static void test_restart_adopts(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;

	REQUIRE_BPF();
	SVC(h, EVIP1 ":80/tcp", BE_B4 ":8080");
	SVC(h, "[" EVIP6 "]:80/tcp", BE_B6 ":8080");
	SYNC(h, &st);
	tpd_egress_routes_free(&st);
	res = SYNC(h, &st);
	assert_int_equal(res.added + res.moved + res.removed + res.errors, 0);
	assert_int_equal(res.routes, 2);
	ASSERT_OURS(EVIP1 "/32", "tptun1");
	ASSERT_OURS(EVIP6 "/128", "tptun1");
}

/* Make GONE, a tailnet interface of tp_ifaces with NET_C4 routed into it. */
static int make_gone_iface(struct th *h)
{
	struct tp_iface ifc = { .flags = TP_IFACE_F_L3 | TP_IFACE_F_TAILNET,
				.zone = 3 };
	__u32 key;

	sh("ip tuntap add dev " GONE " mode tun && ip link set " GONE
	   " up && ip route add " NET_C4 " dev " GONE);
	key = if_nametoindex(GONE);
	assert_true(key > 0);
	assert_int_equal(tp_iface_set(&h->maps, key, &ifc), 0);
	return (int)key;
}

/*
 * A tailnet interface goes: its route goes with it and the log says
 * which; the services stay in the maps, the other VIPs keep their
 * routes, and when the interface comes back the route does too.
 */
static void test_iface_gone(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;
	struct tp_svc_key key;
	struct tp_svc svc;
	char log[4096];
	__u32 old;

	REQUIRE_BPF();
	old = (__u32)make_gone_iface(h);
	SVC(h, EVIP1 ":80/tcp", BE_C4 ":8080");
	SVC(h, EVIP2 ":80/tcp", BE_B4 ":8080");
	SYNC(h, &st);
	ASSERT_OURS(EVIP1 "/32", GONE);
	sh("ip link del " GONE);
	res = sync_logged(h, &st, log, sizeof(log));
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.routes, 1);
	assert_int_equal(count_lines(log, "went with its interface"), 1);
	assert_int_equal(count_lines(log, "\"vip\":\"" EVIP1 "\""), 1);
	assert_int_equal(count_lines(log, "\"iface\":\"" GONE "\""), 1);
	ASSERT_NO_ROUTE(EVIP1 "/32");
	ASSERT_OURS(EVIP2 "/32", "tptun1");
	assert_int_equal(tp_svc_key_parse(EVIP1 ":80/tcp", &key), 0);
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &key, &svc), 0);
	/* back (as the loader forgets and attaches it again) */
	assert_int_equal(tp_iface_del(&h->maps, old), 0);
	make_gone_iface(h);
	res = SYNC(h, &st);
	assert_int_equal(res.added, 1);
	ASSERT_OURS(EVIP1 "/32", GONE);
	ASSERT_OURS(EVIP2 "/32", "tptun1");
}

/*
 * A route that cannot be added (its interface went between the lookup
 * and the change) is logged with the VIP and the interface, once while it
 * lasts; the other routes are made all the same.
 */
static void test_failed_add_does_not_stop(void **state)
{
	struct tpd_egress_want want[2] = {};
	struct tpd_egress_result res = {};
	char log[4096];

	REQUIRE_BPF();
	assert_int_equal(tp_addr_parse(EVIP1, &want[0].vip), 0);
	want[0].ifindex = 9999; /* no such interface */
	assert_int_equal(tp_addr_parse(EVIP2, &want[1].vip), 0);
	want[1].ifindex = (int)if_nametoindex("tptun1");
	log_begin();
	assert_int_equal(tpd_egress_apply(&st, want, 2, &res), 0);
	log_end(log, sizeof(log));
	assert_int_equal(res.errors, 1);
	assert_int_equal(res.added, 1);
	assert_int_equal(count_lines(log, "cannot add egress route"), 1);
	assert_int_equal(count_lines(log, "\"vip\":\"" EVIP1 "\""), 1);
	assert_int_equal(count_lines(log, "\"iface\":\"ifindex 9999\""), 1);
	ASSERT_NO_ROUTE(EVIP1 "/32");
	ASSERT_OURS(EVIP2 "/32", "tptun1");
	memset(&res, 0, sizeof(res));
	log_begin();
	assert_int_equal(tpd_egress_apply(&st, want, 2, &res), 0);
	log_end(log, sizeof(log));
	assert_int_equal(res.errors, 1);
	assert_int_equal(count_lines(log, "cannot add egress route"), 0);
	ASSERT_OURS(EVIP2 "/32", "tptun1");
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#define COST_SVCS 1000
#define COST_BES  10

/* COST_SVCS services of @n_bes backends each, none in a tailnet. */
static void cost_fill(struct th *h, int n_bes)
{
	struct tp_backend_spec be[COST_BES] = {};
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_svc_key key = { .proto = IPPROTO_TCP };
	int i, j;

	for (i = 0; i < COST_SVCS; i++) {
		tp_addr_from_v4(&key.vip,
				htonl(0xc6130000u + 0x100u + (__u32)i));
		key.port = htons(80);
		for (j = 0; j < n_bes; j++) {
			/* every backend its own address, each asked once */
			tp_addr_from_v4(
				&be[j].addr,
				htonl(0xc6121000u + (__u32)(i * COST_BES + j)));
			be[j].port = htons((__u16)(8000 + i % 1000 + j));
			be[j].weight = 1;
		}
		assert_int_equal(tp_service_set(&h->maps, &key, &spec, be,
						(size_t)n_bes),
				 0);
	}
}

/*
 * The cost of a sync that changes nothing, at COST_SVCS services of
 * COST_BES backends each, every backend an address of its own (each is
 * asked of the kernel once a sync), none in a tailnet, and one egress
 * service; printed, not asserted (a shared machine).
 */
static void test_sync_cost(void **state)
{
	struct th *h = *state;
	struct tpd_egress_result res;
	double t0, best = 1e9, t;
	int run;

	REQUIRE_BPF();
	cost_fill(h, COST_BES);
	SVC(h, EVIP1 ":80/tcp", BE_B4 ":8080");
	SYNC(h, &st);
	for (run = 0; run < 5; run++) {
		t0 = now_ms();
		res = SYNC(h, &st);
		t = now_ms() - t0;
		best = t < best ? t : best;
		assert_int_equal(res.added + res.removed + res.errors, 0);
		assert_int_equal(res.routes, 1);
	}
	print_message("egress routes: a sync over %d services, %d backends: "
		      "%.1f ms (best of 5)\n",
		      COST_SVCS + 1, COST_SVCS * COST_BES + 1, best);
	ASSERT_OURS(EVIP1 "/32", "tptun1");
}

/* The heap one sync holds at its peak (heapcount.h), in bytes. */
static long long sync_heap(struct th *h)
{
	long long base = heap_mark();
	struct tpd_egress_result res = SYNC(h, &st);

	assert_int_equal(res.routes, 1);
	assert_int_equal(heap_now, base);
	return heap_peak - base;
}

/*
 * A sync's heap follows the services, not their backends: the backends no
 * route into a tailnet covers (a cluster's pods: all but a few) are not
 * kept.  Ten times the backends may not cost more than a few KiB; it was
 * about 80 bytes a backend (+11 MiB at 100,000, above the loader's resident
 * size with the Kubernetes source at that scale).
 */
#define SYNC_HEAP_SLACK	  (16 << 10)
#define SYNC_HEAP_PER_SVC 256LL /* the service rows, grown by doubling */
static void test_sync_heap_follows_services(void **state)
{
	struct th *h = *state;
	long long one, ten;

	REQUIRE_BPF();
	cost_fill(h, 1);
	SVC(h, EVIP1 ":80/tcp", BE_B4 ":8080");
	SYNC(h, &st);
	one = sync_heap(h);
	cost_fill(h, COST_BES);
	ten = sync_heap(h);
	print_message("egress routes: a sync's heap peak at %d services: "
		      "%lld bytes with 1 backend each, %lld with %d\n",
		      COST_SVCS + 1, one, ten, COST_BES);
	assert_true(ten <= one + SYNC_HEAP_SLACK);
	assert_true(ten <=
		    SYNC_HEAP_PER_SVC * (COST_SVCS + 1) + SYNC_HEAP_SLACK);
	ASSERT_OURS(EVIP1 "/32", "tptun1");
}

/* "egress_routes": on unless the configuration says false; nothing else taken. */
static void test_config_switch(void **state)
{
	static const char base[] =
		"{ \"interfaces\": [ { \"name\": \"wg0\", \"kind\": \"tailnet\","
		" \"zone\": 1 } ]%s }";
	struct tpd_config cfg;
	char text[256], err[256];

	(void)state;
	snprintf(text, sizeof(text), base, "");
	assert_int_equal(tpd_config_parse(text, &cfg, err, sizeof(err)), 0);
	assert_true(cfg.egress_routes);
	tpd_config_free(&cfg);
	snprintf(text, sizeof(text), base, ", \"egress_routes\": false");
	assert_int_equal(tpd_config_parse(text, &cfg, err, sizeof(err)), 0);
	assert_false(cfg.egress_routes);
	tpd_config_free(&cfg);
	snprintf(text, sizeof(text), base, ", \"egress_routes\": 1");
	assert_int_not_equal(tpd_config_parse(text, &cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "egress_routes"));
	tpd_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_route_added, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_route_moves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_split_gets_none, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_split_names_least_other,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_ordinary_service_gets_none,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_service_route_goes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_operator_route_left_alone,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_removes_only_ours,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_v6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_routed_backend,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_adopts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_iface_gone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failed_add_does_not_stop,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_cost, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sync_heap_follows_services,
						setup, teardown),
		cmocka_unit_test(test_config_switch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
