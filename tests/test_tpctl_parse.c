// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of tpctl without maps: the command line grammar (every
 * command, every error), address, port and range parsing (lib/addr.c),
 * plain output (tables, human units, each list's rendering) and JSON
 * output (every rendering parsed back with yajl_tree; strings that are
 * not UTF-8; numbers beyond 2^63).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "addr.h"
#include "flags.h"
#include "json.h"
#include "table.h"
#include "tpctl.h"

#define TT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------ */

static char tt_line[1024];
static char *tt_words[64];
static char tt_err[TPCTL_ERR_LEN];

/* Split @line at blanks into tt_words (kept until the next call). */
static int tt_split(const char *line)
{
	int n = 0;
	char *s;

	snprintf(tt_line, sizeof(tt_line), "%s", line);
	for (s = strtok(tt_line, " "); s && n < 63; s = strtok(NULL, " "))
		tt_words[n++] = s;
	tt_words[n] = NULL;
	return n;
}

static int tt_parse(const char *line, struct tpctl_args *a)
{
	int n = tt_split(line);

	return tpctl_parse(n, tt_words, a, tt_err, sizeof(tt_err));
}

static void tt_parse_ok(const char *line, struct tpctl_args *a)
{
	if (tt_parse(line, a))
		fail_msg("'%s' did not parse: %s", line, tt_err);
}

/* The parsed command runs @run (its row of the command table does). */
#define tt_assert_runs(a, fn)                                          \
	do {                                                           \
		assert_non_null((a)->cmd);                             \
		assert_ptr_equal((void *)(a)->cmd->run, (void *)(fn)); \
	} while (0)

static struct tp_addr tt_addr(const char *s)
{
	struct tp_addr a;

	assert_int_equal(tp_addr_parse(s, &a), 0);
	return a;
}

/**
 * struct tt_out - a context writing into memory.
 * @ctx: the context.
 * @buf: what was written (after tt_out_text()).
 * @len: its length.
 * @f:   the memory stream.
 */
struct tt_out {
	struct tpctl_ctx ctx;
	char *buf;
	size_t len;
	FILE *f;
};

static void tt_out_open(struct tt_out *o, bool json, bool pretty)
{
	struct tpctl_opts opts = { .json = json || pretty,
				   .pretty = pretty,
				   .pin_root = "/nonexistent-tpctl-test" };

	memset(o, 0, sizeof(*o));
	o->f = open_memstream(&o->buf, &o->len);
	assert_non_null(o->f);
	assert_int_equal(tpctl_ctx_init(&o->ctx, &opts, o->f), 0);
}

/* End the document (as main() does) and return everything written. */
static const char *tt_out_text(struct tt_out *o, int ret)
{
	tpctl_finish(&o->ctx, ret);
	fclose(o->f);
	o->f = NULL;
	return o->buf;
}

static void tt_out_close(struct tt_out *o)
{
	tpctl_ctx_free(&o->ctx);
	if (o->f)
		fclose(o->f);
	free(o->buf);
}

/* Parse @text as one JSON document; fail the test if it is not one. */
static yajl_val tt_json(const char *text)
{
	char err[256] = "";
	yajl_val v = yajl_tree_parse(text, err, sizeof(err));

	if (!v)
		fail_msg("not JSON (%s): %s", err, text);
	return v;
}

static const char *tt_jstr(yajl_val v, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val s = yajl_tree_get(v, path, yajl_t_string);

	assert_non_null(s);
	return YAJL_GET_STRING(s);
}

static long long tt_jint(yajl_val v, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val n = yajl_tree_get(v, path, yajl_t_number);

	assert_non_null(n);
	return YAJL_GET_INTEGER(n);
}

/* ---- words and options -------------------------------------------------- */

static void test_word_prefix(void **state)
{
	static const char *const w[] = { "service", "stats", "status", "s" };
	static const char *const v[] = { "allow", "audit", "deny" };

	assert_int_equal(tpctl_word("service", w, 3), 0);
	assert_int_equal(tpctl_word("serv", w, 3), 0);
	assert_int_equal(tpctl_word("stats", w, 3), 1);
	assert_int_equal(tpctl_word("statu", w, 3), 2);
	assert_int_equal(tpctl_word("sta", w, 3), -2);
	assert_int_equal(tpctl_word("s", w, 3), -2);
	assert_int_equal(tpctl_word("s", w, 4), 3); /* exact beats prefixes */
	assert_int_equal(tpctl_word("x", w, 3), -1);
	assert_int_equal(tpctl_word("", w, 3), -1);
	assert_int_equal(tpctl_word("servicex", w, 3), -1);
	assert_int_equal(tpctl_word("a", v, 3), -2);
	assert_int_equal(tpctl_word("al", v, 3), 0);
	assert_int_equal(tpctl_word("au", v, 3), 1);
}

static int tt_opts(const char *line, struct tpctl_opts *o, int *n)
{
	static char *words[64];
	int argc;

	argc = tt_split(line);
	return tpctl_parse_opts(argc, tt_words, o, words, n, tt_err,
				sizeof(tt_err));
}

static void test_options(void **state)
{
	struct tpctl_opts o;
	int n;

	assert_int_equal(tt_opts("tpctl service list", &o, &n), 0);
	assert_false(o.json);
	assert_false(o.pretty);
	assert_string_equal(o.pin_root, TP_PIN_ROOT_DEFAULT);
	assert_int_equal(n, 2);

	assert_int_equal(tt_opts("tpctl -j service", &o, &n), 0);
	assert_true(o.json);
	assert_false(o.pretty);
	assert_int_equal(n, 1);

	assert_int_equal(tt_opts("tpctl -p service", &o, &n), 0);
	assert_true(o.json && o.pretty);
	assert_int_equal(tt_opts("tpctl --pretty service", &o, &n), 0);
	assert_true(o.json && o.pretty);
	assert_int_equal(tt_opts("tpctl -jp service", &o, &n), 0);
	assert_true(o.json && o.pretty);
	assert_int_equal(tt_opts("tpctl --json service", &o, &n), 0);
	assert_true(o.json);

	/* options anywhere, as bpftool */
	assert_int_equal(tt_opts("tpctl service list -j --pin-root /x", &o, &n),
			 0);
	assert_true(o.json);
	assert_string_equal(o.pin_root, "/x");
	assert_int_equal(n, 2);
	assert_int_equal(tt_opts("tpctl --pin-root=/y service", &o, &n), 0);
	assert_string_equal(o.pin_root, "/y");

	assert_int_equal(tt_opts("tpctl -V", &o, &n), 0);
	assert_true(o.version);
	assert_int_equal(tt_opts("tpctl --version", &o, &n), 0);
	assert_true(o.version);
	assert_int_equal(tt_opts("tpctl -h", &o, &n), 0);
	assert_true(o.help);
	assert_int_equal(tt_opts("tpctl --help", &o, &n), 0);
	assert_true(o.help);

	/* "-" is a word (batch from stdin); "--" ends the options */
	assert_int_equal(tt_opts("tpctl batch -", &o, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(tt_opts("tpctl -- batch -j", &o, &n), 0);
	assert_false(o.json);
	assert_int_equal(n, 2);

	assert_int_equal(tt_opts("tpctl -x service", &o, &n), -1);
	assert_string_equal(
		tt_err,
		"unrecognized option '-x': expected -j, -p, -V, -h or --pin-root DIR");
	assert_int_equal(tt_opts("tpctl --jsonx", &o, &n), -1);
	assert_non_null(strstr(tt_err, "unrecognized option '--jsonx'"));
	assert_int_equal(tt_opts("tpctl service --pin-root", &o, &n), -1);
	assert_string_equal(tt_err, "missing DIR after '--pin-root'");
	assert_int_equal(tt_opts("tpctl --pin-root= service", &o, &n), -1);
}

/* ---- objects and commands ------------------------------------------------ */

static void test_parse_objects(void **state)
{
	struct tpctl_args a;

	tt_parse_ok("service", &a);
	tt_assert_runs(&a, tpctl_service_list);
	tt_parse_ok("serv li", &a);
	tt_assert_runs(&a, tpctl_service_list);
	tt_parse_ok("backend", &a);
	tt_assert_runs(&a, tpctl_service_list);
	tt_parse_ok("backend list", &a);
	tt_assert_runs(&a, tpctl_service_list);
	tt_parse_ok("identity", &a);
	tt_assert_runs(&a, tpctl_identity_list);
	tt_parse_ok("i l", &a);
	tt_assert_runs(&a, tpctl_identity_list);
	tt_parse_ok("policy", &a);
	tt_assert_runs(&a, tpctl_policy_list);
	tt_parse_ok("policy list", &a);
	tt_assert_runs(&a, tpctl_policy_list);
	tt_parse_ok("conntrack", &a);
	tt_assert_runs(&a, tpctl_ct_list);
	tt_parse_ok("c l", &a);
	tt_assert_runs(&a, tpctl_ct_list);
	tt_parse_ok("stats", &a);
	tt_assert_runs(&a, tpctl_stats_show);
	tt_parse_ok("stats show", &a);
	tt_assert_runs(&a, tpctl_stats_show);
	tt_parse_ok("stats reset", &a);
	tt_assert_runs(&a, tpctl_stats_reset);
	tt_parse_ok("stats res", &a);
	tt_assert_runs(&a, tpctl_stats_reset);
	tt_parse_ok("map", &a);
	tt_assert_runs(&a, tpctl_map_list);
	tt_parse_ok("map list", &a);
	tt_assert_runs(&a, tpctl_map_list);
	tt_parse_ok("map dump tp_ct", &a);
	tt_assert_runs(&a, tpctl_map_dump);
	assert_string_equal(a.map_name, "tp_ct");
	tt_parse_ok("status", &a);
	tt_assert_runs(&a, tpctl_status);
	tt_parse_ok("batch /tmp/x", &a);
	tt_assert_runs(&a, tpctl_batch);
	assert_string_equal(a.file, "/tmp/x");
	tt_parse_ok("batch -", &a);
	assert_string_equal(a.file, "-");
	tt_parse_ok("help", &a);
	tt_assert_runs(&a, tpctl_help_run);
	assert_null(a.obj);
	tt_parse_ok("version", &a);
	tt_assert_runs(&a, tpctl_version_run);
}

static void test_parse_help(void **state)
{
	static const struct {
		const char *line;
		const char *obj;
	} cases[] = {
		{ "service help", "service" },
		{ "backend help", "backend" },
		{ "identity help", "identity" },
		{ "policy help", "policy" },
		{ "conntrack help", "conntrack" },
		{ "nat help", "nat" },
		{ "stats help", "stats" },
		{ "monitor help", "monitor" },
		{ "map help", "map" },
		{ "batch help", "batch" },
		{ "status help", "status" },
		{ "serv h", "service" },
	};
	struct tpctl_args a;
	size_t i;

	for (i = 0; i < TT_ARRAY_SIZE(cases); i++) {
		tt_parse_ok(cases[i].line, &a);
		tt_assert_runs(&a, tpctl_help_run);
		assert_string_equal(a.obj->word, cases[i].obj);
	}
}

/* What -h asks for: the object of the line, whatever follows it. */
static void test_parse_help_option(void **state)
{
	struct tpctl_args a;
	int n;

	n = tt_split("serv add 1.2.3.4 frob");
	assert_int_equal(
		tpctl_parse_help(n, tt_words, &a, tt_err, sizeof(tt_err)), 0);
	tt_assert_runs(&a, tpctl_help_run);
	assert_string_equal(a.obj->word, "service");
	n = tt_split("nat static");
	assert_int_equal(
		tpctl_parse_help(n, tt_words, &a, tt_err, sizeof(tt_err)), 0);
	assert_string_equal(a.obj->word, "nat");
	/* help and version are no objects: tpctl's usage */
	n = tt_split("version");
	assert_int_equal(
		tpctl_parse_help(n, tt_words, &a, tt_err, sizeof(tt_err)), 0);
	assert_null(a.obj);
	assert_int_equal(
		tpctl_parse_help(0, tt_words, &a, tt_err, sizeof(tt_err)), 0);
	tt_assert_runs(&a, tpctl_help_run);
	assert_null(a.obj);
	n = tt_split("frob");
	assert_int_equal(
		tpctl_parse_help(n, tt_words, &a, tt_err, sizeof(tt_err)), -1);
	assert_string_equal(
		tt_err,
		"unknown object 'frob': expected service, backend, identity, policy, conntrack, nat, stats, monitor, map, batch, status, guard, help or version");
}

static void test_parse_service(void **state)
{
	struct tp_svc_key want = { .vip = tt_addr("198.19.0.10"),
				   .port = htons(80),
				   .proto = IPPROTO_TCP };
	struct tpctl_args a;

	tt_parse_ok("service add 198.19.0.10:80/tcp", &a);
	tt_assert_runs(&a, tpctl_service_add);
	assert_memory_equal(&a.svc, &want, sizeof(want));
	assert_false(a.has & TPCTL_HAS_AFFINITY);
	assert_null(a.zone);

	tt_parse_ok("service add 198.19.0.10:80/tcp affinity 30 zone 2", &a);
	assert_true(a.has & TPCTL_HAS_AFFINITY);
	assert_int_equal(a.affinity, 30);
	assert_string_equal(a.zone, "2");
	tt_parse_ok("serv a 198.19.0.10:80/tcp zo tailscale0 aff 86400", &a);
	assert_string_equal(a.zone, "tailscale0");
	assert_int_equal(a.affinity, 86400);
	tt_parse_ok("service add 198.19.0.10:80/tcp zone any", &a);
	assert_string_equal(a.zone, "any");
	assert_false(a.has & TPCTL_HAS_SNAT);
	tt_parse_ok("service add 198.19.0.10:80/tcp snat affinity 30", &a);
	assert_true(a.has & TPCTL_HAS_SNAT);
	assert_int_equal(a.affinity, 30);
	tt_parse_ok("serv a 198.19.0.10:80/tcp zone 2 sn", &a);
	assert_true(a.has & TPCTL_HAS_SNAT);

	tt_parse_ok("service add [fd00:198:19::a]:53/udp", &a);
	assert_int_equal(a.svc.proto, IPPROTO_UDP);
	assert_int_equal(ntohs(a.svc.port), 53);
	assert_false(tp_addr_is_v4(&a.svc.vip));
	tt_parse_ok("service add 198.19.0.10/icmp", &a);
	assert_int_equal(a.svc.proto, IPPROTO_ICMP);
	assert_int_equal(a.svc.port, 0);
	tt_parse_ok("service add [fd00:198:19::a]/icmp", &a);
	assert_int_equal(a.svc.proto, IPPROTO_ICMPV6);

	tt_parse_ok("service del 198.19.0.10:80/tcp", &a);
	tt_assert_runs(&a, tpctl_service_del);
	assert_memory_equal(&a.svc, &want, sizeof(want));
}

static void test_parse_backend(void **state)
{
	struct tp_addr be = tt_addr("198.18.1.1");
	struct tpctl_args a;

	tt_parse_ok("backend add 198.19.0.10:80/tcp 198.18.1.1:8080", &a);
	tt_assert_runs(&a, tpctl_backend_add);
	assert_memory_equal(&a.be_addr, &be, sizeof(be));
	assert_int_equal(a.be_port, 8080);
	assert_int_equal(a.weight, 1);
	assert_int_equal(a.state, TP_BACKEND_ACTIVE);

	tt_parse_ok(
		"backend add 198.19.0.10:80/tcp 198.18.1.1:8080 weight 7 state term",
		&a);
	assert_int_equal(a.weight, 7);
	assert_int_equal(a.state, TP_BACKEND_TERMINATING);
	tt_parse_ok("bac a 198.19.0.10:80/tcp 198.18.1.1:8080 st m", &a);
	assert_int_equal(a.state, TP_BACKEND_MAINTENANCE);

	tt_parse_ok(
		"backend set 198.19.0.10:80/tcp 198.18.1.1:8080 weight 65535",
		&a);
	tt_assert_runs(&a, tpctl_backend_set);
	assert_true(a.has & TPCTL_HAS_WEIGHT);
	assert_false(a.has & TPCTL_HAS_STATE);
	assert_int_equal(a.weight, 65535);
	tt_parse_ok(
		"backend set 198.19.0.10:80/tcp 198.18.1.1:8080 state active",
		&a);
	assert_true(a.has & TPCTL_HAS_STATE);
	assert_false(a.has & TPCTL_HAS_WEIGHT);
	tt_parse_ok(
		"backend set 198.19.0.10:80/tcp 198.18.1.1:8080 state maintenance weight 2",
		&a);
	assert_int_equal(a.state, TP_BACKEND_MAINTENANCE);
	assert_int_equal(a.weight, 2);

	tt_parse_ok(
		"backend del [fd00:198:19::a]:53/udp [fd00:198:18::1:1]:5353",
		&a);
	tt_assert_runs(&a, tpctl_backend_del);
	assert_int_equal(a.be_port, 5353);

	/* an ICMP service's backends have no port */
	tt_parse_ok("backend add 198.19.0.10/icmp 198.18.1.1", &a);
	assert_int_equal(a.be_port, 0);
	tt_parse_ok("backend add 198.19.0.10/icmp 198.18.1.1:0", &a);
	tt_parse_ok("backend add [fd00::a]/icmp fd00:198:18::1:1", &a);
}

static void test_parse_identity(void **state)
{
	struct tp_addr net = tt_addr("198.18.1.0"),
		       v6 = tt_addr("fd7a:115c:a1e0::");
	struct tpctl_args a;

	tt_parse_ok("identity add 198.18.1.0/24 400", &a);
	tt_assert_runs(&a, tpctl_identity_add);
	assert_memory_equal(&a.prefix, &net, sizeof(net));
	assert_int_equal(a.plen, 120);
	assert_string_equal(a.id, "400");
	assert_null(a.name);
	assert_null(a.zone);

	tt_parse_ok("identity add 198.18.1.0/24 400 name web zone 0", &a);
	assert_string_equal(a.name, "web");
	assert_string_equal(a.zone, "0");
	tt_parse_ok("identity add fd7a:115c:a1e0::/48 tailnet zone tailscale0",
		    &a);
	assert_memory_equal(&a.prefix, &v6, sizeof(v6));
	assert_int_equal(a.plen, 48);
	assert_string_equal(a.id, "tailnet");
	tt_parse_ok("identity add 198.18.2.1 db", &a);
	assert_int_equal(a.plen, 128);
	tt_parse_ok("identity add 0.0.0.0/0 world zone 1", &a);
	assert_int_equal(a.plen, 96);
	tt_parse_ok("identity add 10.0.0.0/8 host", &a);
	tt_parse_ok("identity add 10.0.0.0/8 cluster", &a);
	tt_parse_ok("identity add 10.0.0.0/8 4294967295", &a);
	tt_parse_ok("identity add 10.0.0.0/8 256 name a.b:c/d-e_f", &a);

	tt_parse_ok("identity del 198.18.1.0/24", &a);
	tt_assert_runs(&a, tpctl_identity_del);
	assert_int_equal(a.plen, 120);
	tt_parse_ok("identity del 198.18.1.0/24 zone 3", &a);
	assert_string_equal(a.zone, "3");
}

static void test_parse_policy(void **state)
{
	struct tpctl_args a;

	tt_parse_ok("policy add from web to db allow", &a);
	tt_assert_runs(&a, tpctl_policy_add);
	assert_string_equal(a.from, "web");
	assert_string_equal(a.to, "db");
	assert_int_equal(a.verdict, TP_VERDICT_ALLOW);
	assert_false(a.has & (TPCTL_HAS_PROTO | TPCTL_HAS_PORT));
	assert_null(a.zone);

	tt_parse_ok(
		"policy add from any to 401 proto tcp port 5432 deny zone 1",
		&a);
	assert_string_equal(a.from, "any");
	assert_int_equal(a.proto, IPPROTO_TCP);
	assert_int_equal(a.port_lo, 5432);
	assert_int_equal(a.port_hi, 5432);
	assert_int_equal(a.verdict, TP_VERDICT_DENY);
	assert_string_equal(a.zone, "1");

	tt_parse_ok("pol a from tailnet to any audit proto udp port 1000-1999",
		    &a);
	assert_int_equal(a.proto, IPPROTO_UDP);
	assert_int_equal(a.port_lo, 1000);
	assert_int_equal(a.port_hi, 1999);
	assert_int_equal(a.verdict, TP_VERDICT_AUDIT);
	tt_parse_ok("policy add from any to any proto icmp allow", &a);
	assert_int_equal(a.proto, TPCTL_PROTO_ICMP_BOTH);
	tt_parse_ok("policy add from any to any proto icmpv4 allow", &a);
	assert_int_equal(a.proto, IPPROTO_ICMP);
	tt_parse_ok("policy add from any to any proto icmpv6 allow", &a);
	assert_int_equal(a.proto, IPPROTO_ICMPV6);
	tt_parse_ok("policy add from any to any proto any allow zone any", &a);
	assert_true(a.has & TPCTL_HAS_PROTO);
	assert_int_equal(a.proto, 0);
	tt_parse_ok("policy add from any to any proto 132 allow", &a);
	assert_int_equal(a.proto, 132);
	tt_parse_ok("policy add from any to any proto tcp port 0-1023 allow",
		    &a);
	assert_int_equal(a.port_lo, 0);
	assert_int_equal(a.port_hi, 1023);

	tt_parse_ok("policy del from web to db", &a);
	tt_assert_runs(&a, tpctl_policy_del);
	assert_false(a.has & TPCTL_HAS_VERDICT);
	tt_parse_ok("policy del from web to db proto tcp port 80 zone 1 allow",
		    &a);
	assert_true(a.has & TPCTL_HAS_VERDICT);

	tt_parse_ok("policy default deny zone 1", &a);
	tt_assert_runs(&a, tpctl_policy_default);
	assert_int_equal(a.verdict, TP_VERDICT_DENY);
	assert_string_equal(a.zone, "1");
	tt_parse_ok("policy def al zone wg0", &a);
	assert_int_equal(a.verdict, TP_VERDICT_ALLOW);
}

static void test_parse_conntrack(void **state)
{
	struct tp_addr be = tt_addr("198.18.1.1");
	struct tpctl_args a;

	tt_parse_ok("conntrack list src 100.64.0.0/10 dst 198.19.0.10", &a);
	tt_assert_runs(&a, tpctl_ct_list);
	assert_true(a.has & TPCTL_HAS_SRC);
	assert_int_equal(a.src_plen, 106);
	assert_true(a.has & TPCTL_HAS_DST);
	assert_int_equal(a.dst_plen, 128);
	tt_parse_ok(
		"conntrack list service 198.19.0.10:80/tcp backend 198.18.1.1:8080",
		&a);
	assert_true(a.has & TPCTL_HAS_SVC);
	assert_true(a.has & TPCTL_HAS_BACKEND);
	assert_memory_equal(&a.be_addr, &be, sizeof(be));
	assert_int_equal(a.be_port, 8080);
	tt_parse_ok("conntrack list backend 198.18.1.1", &a);
	assert_int_equal(a.be_port, 0);

	tt_parse_ok("conntrack flush", &a);
	tt_assert_runs(&a, tpctl_ct_flush);
	assert_false(a.has & (TPCTL_HAS_SVC | TPCTL_HAS_BACKEND));
	tt_parse_ok("conntrack flush service 198.19.0.10:53/udp", &a);
	assert_true(a.has & TPCTL_HAS_SVC);
	tt_parse_ok("conntrack flush backend [fd00:198:18::1:1]:53", &a);
	assert_true(a.has & TPCTL_HAS_BACKEND);
}

static void test_parse_nat(void **state)
{
	struct tp_addr t4 = tt_addr("100.64.7.7"), i4 = tt_addr("198.18.2.7");
	struct tp_addr t6 = tt_addr("fd7a:115c:a1e0::7:7");
	struct tpctl_args a;

	tt_parse_ok("nat", &a);
	tt_assert_runs(&a, tpctl_nat_list);
	tt_parse_ok("nat list", &a);
	tt_assert_runs(&a, tpctl_nat_list);
	tt_parse_ok("nat static list", &a);
	tt_assert_runs(&a, tpctl_nat_list);
	tt_parse_ok("nat st a 100.64.7.7 198.18.2.7", &a);
	tt_assert_runs(&a, tpctl_nat_static_add);
	assert_memory_equal(&a.nat_tailnet, &t4, sizeof(t4));
	assert_memory_equal(&a.nat_inner, &i4, sizeof(i4));
	assert_null(a.zone);
	tt_parse_ok(
		"nat static add fd7a:115c:a1e0::7:7 fd00:198:18::2:7 zone tailscale0",
		&a);
	assert_memory_equal(&a.nat_tailnet, &t6, sizeof(t6));
	assert_string_equal(a.zone, "tailscale0");
	tt_parse_ok("nat static del 100.64.7.7", &a);
	tt_assert_runs(&a, tpctl_nat_static_del);
	assert_memory_equal(&a.nat_tailnet, &t4, sizeof(t4));
	tt_parse_ok("nat static del 100.64.7.7 zone any", &a);
	assert_string_equal(a.zone, "any");
}

static void test_parse_monitor(void **state)
{
	struct tpctl_args a;

	tt_parse_ok("monitor", &a);
	tt_assert_runs(&a, tpctl_monitor);
	assert_int_equal(a.filter, TPCTL_MONITOR_ALL);
	assert_false(a.has & TPCTL_HAS_COUNT);
	tt_parse_ok("monitor drops", &a);
	assert_int_equal(a.filter, TPCTL_MONITOR_DROPS);
	tt_parse_ok("monitor audit count 5", &a);
	assert_int_equal(a.filter, TPCTL_MONITOR_AUDIT);
	assert_true(a.has & TPCTL_HAS_COUNT);
	assert_int_equal(a.count, 5);
	tt_parse_ok("mon all c 1", &a);
	assert_int_equal(a.filter, TPCTL_MONITOR_ALL);
	assert_int_equal(a.count, 1);
}

static void test_parse_guard(void **state)
{
	struct tpctl_args a;

	tt_parse_ok("guard", &a);
	tt_assert_runs(&a, tpctl_guard_list);
	tt_parse_ok("guard show", &a);
	tt_assert_runs(&a, tpctl_guard_show);
	tt_parse_ok("g a 198.18.9.0/24", &a);
	tt_assert_runs(&a, tpctl_guard_add);
	assert_int_equal(a.plen, 96 + 24);
	tt_parse_ok("guard del fd00:198:18::9:9", &a);
	tt_assert_runs(&a, tpctl_guard_del);
	assert_int_equal(a.plen, 128);
	tt_parse_ok("guard rate 20 40", &a);
	tt_assert_runs(&a, tpctl_guard_rate);
	assert_int_equal(a.rate, 20);
	assert_int_equal(a.burst, 40);
	/* no limit: the burst may be left out */
	tt_parse_ok("guard r 0", &a);
	assert_int_equal(a.rate, 0);
	assert_int_equal(a.burst, 0);
	tt_parse_ok("guard help", &a);
	tt_assert_runs(&a, tpctl_help_run);
	assert_string_equal(a.obj->word, "guard");
}

/* Every error: the words, and the exact message (or its start). */
static const struct {
	const char *line;
	const char *err;
} tt_errors[] = {
	/* objects and commands */
	{ "",
	  "missing OBJECT: expected service, backend, identity, policy, conntrack, nat, stats, monitor, map, batch, status or guard (see 'tpctl help')" },
	{ "frob",
	  "unknown object 'frob': expected service, backend, identity, policy, conntrack, nat, stats, monitor, map, batch, status, guard, help or version" },
	{ "guard frob",
	  "unknown guard command 'frob': expected list, add, del, rate, show or help" },
	{ "guard add", "missing PREFIX after 'guard add'" },
	{ "guard add 198.18.9.1/24",
	  "bad prefix '198.18.9.1/24': bits set past the prefix length (did you mean 198.18.9.0/24?)" },
	{ "guard add nowhere",
	  "bad prefix 'nowhere': expected ADDR/LEN or ADDR" },
	{ "guard del 198.18.9.0/24 extra",
	  "unexpected 'extra' after 'guard del'" },
	{ "guard rate", "missing PPS (0: no limit) after 'guard rate'" },
	{ "guard rate 10", "missing BURST after 'guard rate'" },
	{ "guard rate 10 0", "bad burst '0': expected a number 1-1000000" },
	{ "guard rate 10000001 5",
	  "bad rate '10000001': expected a number 0-10000000" },
	{ "guard rate -1 5", "bad rate '-1': expected a number 0-10000000" },
	{ "guard rate 10 5 6", "unexpected '6' after 'guard rate'" },
	{ "s", "ambiguous 's': could be service, stats or status" },
	{ "sta", "ambiguous 'sta': could be stats or status" },
	{ "b", "ambiguous 'b': could be backend or batch" },
	{ "m", "ambiguous 'm': could be monitor or map" },
	{ "service frob",
	  "unknown service command 'frob': expected add, del, list or help" },
	{ "service list extra", "unexpected 'extra' after 'service list'" },
	{ "service help extra", "unexpected 'extra' after 'service'" },
	{ "status now", "unexpected 'now' after 'status'" },
	{ "help me", "unexpected 'me' after 'help'" },
	{ "stats reset now", "unexpected 'now' after 'stats reset'" },
	{ "map dump", "missing map NAME after 'map dump'" },
	{ "map dump a b", "unexpected 'b' after 'map dump'" },
	{ "map frob",
	  "unknown map command 'frob': expected list, dump or help" },
	{ "batch", "missing FILE ('-' for stdin) after 'batch'" },
	{ "batch a b", "unexpected 'b' after 'batch'" },
	{ "policy d from a to b", "ambiguous 'd': could be del or default" },
	/* service */
	{ "service add", "missing VIP:PORT/PROTO after 'service add'" },
	{ "service add 198.19.0.300:80/tcp",
	  "bad address '198.19.0.300:80/tcp': expected ADDR:PORT/PROTO" },
	{ "service add 198.19.0.10:80",
	  "bad address '198.19.0.10:80': expected ADDR:PORT/PROTO" },
	{ "service add 198.19.0.10/tcp",
	  "bad address '198.19.0.10/tcp': expected ADDR:PORT/PROTO" },
	{ "service add 198.19.0.10:0/tcp",
	  "bad address '198.19.0.10:0/tcp': expected ADDR:PORT/PROTO" },
	{ "service add 198.19.0.10:65536/tcp",
	  "bad address '198.19.0.10:65536/tcp': expected ADDR:PORT/PROTO" },
	{ "service add 198.19.0.10:80/sctp",
	  "bad address '198.19.0.10:80/sctp': expected ADDR:PORT/PROTO" },
	{ "service add 198.19.0.10:7/icmp",
	  "bad address '198.19.0.10:7/icmp': expected ADDR:PORT/PROTO" },
	{ "service add 198.19.0.10/icmpv6",
	  "bad address '198.19.0.10/icmpv6': expected ADDR:PORT/PROTO" },
	{ "service add fd00::a:80/tcp",
	  "bad address 'fd00::a:80/tcp': expected ADDR:PORT/PROTO" },
	{ "service add [198.19.0.10]:80/tcp",
	  "bad address '[198.19.0.10]:80/tcp': expected ADDR:PORT/PROTO" },
	{ "service add 198.19.0.10:+80/tcp",
	  "bad address '198.19.0.10:+80/tcp': expected ADDR:PORT/PROTO" },
	{ "service add 198.19.0.10:80/tcp affinity",
	  "missing SECONDS after 'service add'" },
	{ "service add 198.19.0.10:80/tcp affinity 0",
	  "bad affinity timeout '0': expected a number 1-86400" },
	{ "service add 198.19.0.10:80/tcp affinity 86401",
	  "bad affinity timeout '86401': expected a number 1-86400" },
	{ "service add 198.19.0.10:80/tcp affinity 1h",
	  "bad affinity timeout '1h': expected a number 1-86400" },
	{ "service add 198.19.0.10:80/tcp affinity 1 affinity 2",
	  "'affinity' given twice" },
	{ "service add 198.19.0.10:80/tcp snat snat", "'snat' given twice" },
	{ "service add 198.19.0.10:80/tcp zone",
	  "missing ZONE after 'service add'" },
	{ "service add 198.19.0.10:80/tcp zone 65536",
	  "bad zone '65536': expected a number 0-65535" },
	{ "service add 198.19.0.10:80/tcp zone a/b",
	  "bad zone 'a/b': expected a zone number 0-65535 or an interface name" },
	{ "service add 198.19.0.10:80/tcp zone averyveryverylongname",
	  "bad zone 'averyveryverylongname': expected a zone number 0-65535 or an interface name" },
	{ "service add 198.19.0.10:80/tcp weight 2",
	  "unknown keyword 'weight': expected affinity, snat or zone" },
	{ "service del", "missing VIP:PORT/PROTO after 'service del'" },
	{ "service del 198.19.0.10:80/tcp zone 1",
	  "unexpected 'zone' after 'service del'" },
	/* backend */
	{ "backend add 198.19.0.10:80/tcp",
	  "missing backend ADDR:PORT after 'backend add'" },
	{ "backend add 198.19.0.10:80/tcp 198.18.1.1",
	  "bad backend address '198.18.1.1': expected ADDR:PORT with PORT 1-65535" },
	{ "backend add 198.19.0.10:80/tcp 198.18.1.1:0",
	  "bad backend address '198.18.1.1:0': expected ADDR:PORT with PORT 1-65535" },
	{ "backend add 198.19.0.10:80/tcp 198.18.1.256:80",
	  "bad backend address '198.18.1.256:80': expected ADDR:PORT" },
	{ "backend add 198.19.0.10:80/tcp [fd00::1]:80",
	  "backend '[fd00::1]:80' and service 198.19.0.10:80/tcp are of different address families" },
	{ "backend add 198.19.0.10/icmp 198.18.1.1:7",
	  "bad backend address '198.18.1.1:7': a backend of an ICMP service has no port, expected ADDR" },
	{ "backend add 198.19.0.10:80/tcp 198.18.1.1:80 weight 0",
	  "bad weight '0': expected a number 1-65535" },
	{ "backend add 198.19.0.10:80/tcp 198.18.1.1:80 weight 65536",
	  "bad weight '65536': expected a number 1-65535" },
	{ "backend add 198.19.0.10:80/tcp 198.18.1.1:80 weight -1",
	  "bad weight '-1': expected a number 1-65535" },
	{ "backend add 198.19.0.10:80/tcp 198.18.1.1:80 weight",
	  "missing WEIGHT after 'backend add'" },
	{ "backend add 198.19.0.10:80/tcp 198.18.1.1:80 state gone",
	  "unknown backend state 'gone': expected active, terminating or maintenance" },
	{ "backend add 198.19.0.10:80/tcp 198.18.1.1:80 state",
	  "missing STATE after 'backend add'" },
	{ "backend add 198.19.0.10:80/tcp 198.18.1.1:80 zone 1",
	  "unknown keyword 'zone': expected weight or state" },
	{ "backend set 198.19.0.10:80/tcp 198.18.1.1:80",
	  "backend set: nothing to set: expected 'weight W' or 'state S'" },
	{ "backend set 198.19.0.10:80/tcp 198.18.1.1:80 weight 1 weight 2",
	  "'weight' given twice" },
	{ "backend del 198.19.0.10:80/tcp 198.18.1.1:80 weight 2",
	  "unexpected 'weight' after 'backend del'" },
	{ "backend del 198.19.0.10:80/tcp",
	  "missing backend ADDR:PORT after 'backend del'" },
	/* identity */
	{ "identity add", "missing CIDR after 'identity add'" },
	{ "identity add 198.18.1.0/24", "missing ID after 'identity add'" },
	{ "identity add 198.18.1.5/24 400",
	  "bad prefix '198.18.1.5/24': bits set past the prefix length (did you mean 198.18.1.0/24?)" },
	{ "identity add fd00::1/64 400",
	  "bad prefix 'fd00::1/64': bits set past the prefix length (did you mean fd00::/64?)" },
	{ "identity add 198.18.1.0/33 400",
	  "bad prefix '198.18.1.0/33': expected ADDR/LEN or ADDR" },
	{ "identity add fd00::/129 400",
	  "bad prefix 'fd00::/129': expected ADDR/LEN or ADDR" },
	{ "identity add 198.18.1/24 400",
	  "bad prefix '198.18.1/24': expected ADDR/LEN or ADDR" },
	{ "identity add 198.18.1.0/ 400",
	  "bad prefix '198.18.1.0/': expected ADDR/LEN or ADDR" },
	{ "identity add 198.18.1.0/24 0",
	  "bad identity '0': expected a number 1-4294967295" },
	{ "identity add 198.18.1.0/24 7",
	  "bad identity '7': 5-255 are reserved, user identities start at 256" },
	{ "identity add 198.18.1.0/24 4294967296",
	  "bad identity '4294967296': expected a number 1-4294967295" },
	{ "identity add 198.18.1.0/24 any",
	  "bad identity 'any': expected an identity (number or name)" },
	{ "identity add 198.18.1.0/24 unknown",
	  "bad identity 'unknown': identity 0 cannot be used, expected a number or a name" },
	{ "identity add 198.18.1.0/24 we$b",
	  "bad identity 'we$b': expected a number or a name" },
	{ "identity add 198.18.1.0/24 web name w2",
	  "'name w2' needs a numeric ID (got 'web')" },
	{ "identity add 198.18.1.0/24 400 name",
	  "missing NAME after 'identity add'" },
	{ "identity add 198.18.1.0/24 400 name 123",
	  "bad name '123': a name cannot be all digits" },
	{ "identity add 198.18.1.0/24 400 name world",
	  "bad name 'world': reserved" },
	{ "identity add 198.18.1.0/24 400 name any",
	  "bad name 'any': reserved" },
	{ "identity add 198.18.1.0/24 400 name a*b",
	  "bad name 'a*b': expected letters, digits and _.:/-" },
	{ "identity add 198.18.1.0/24 400 name 0123456789012345678901234567890123456789012345678",
	  "bad name '0123456789012345678901234567890123456789012345678': expected 1-47 characters" },
	{ "identity add 198.18.1.0/24 400 port 80",
	  "unknown keyword 'port': expected name or zone" },
	{ "identity del", "missing CIDR after 'identity del'" },
	{ "identity del 198.18.1.0/24 name web",
	  "unknown keyword 'name': expected zone" },
	/* policy */
	{ "policy add", "missing 'from SRC' after 'policy add'" },
	{ "policy add to db", "unknown word 'to': expected from" },
	{ "policy add from", "missing SRC after 'policy add'" },
	{ "policy add from web", "missing 'to DST' after 'policy add'" },
	{ "policy add from web to", "missing DST after 'policy add'" },
	{ "policy add from web to db",
	  "policy add: missing verdict: expected allow, deny or audit" },
	{ "policy add from web to db a",
	  "ambiguous 'a': could be allow or audit" },
	{ "policy add from web to db allow deny",
	  "more than one verdict: 'deny' after 'allow'" },
	{ "policy add from unknown to db allow",
	  "bad identity 'unknown': identity 0 cannot be used, expected 'any', a number or a name" },
	{ "policy add from 0 to db allow",
	  "bad identity '0': expected a number 1-4294967295" },
	{ "policy add from web to db port 80 allow",
	  "policy add: 'port' needs 'proto tcp' or 'proto udp'" },
	{ "policy add from web to db proto icmp port 80 allow",
	  "policy add: 'port' needs 'proto tcp' or 'proto udp'" },
	{ "policy add from web to db proto tcp port 0 allow",
	  "bad port '0': expected PORT (1-65535) or FIRST-LAST" },
	{ "policy add from web to db proto tcp port 90-80 allow",
	  "bad port '90-80': expected PORT (1-65535) or FIRST-LAST" },
	{ "policy add from web to db proto tcp port 80-65536 allow",
	  "bad port '80-65536': expected PORT (1-65535) or FIRST-LAST" },
	{ "policy add from web to db proto tcp port http allow",
	  "bad port 'http': expected PORT (1-65535) or FIRST-LAST" },
	{ "policy add from web to db proto sctp allow",
	  "unknown protocol 'sctp': expected tcp, udp, icmp, icmpv4, icmpv6 or any" },
	{ "policy add from web to db proto 256 allow",
	  "bad protocol '256': expected a number 1-255" },
	{ "policy add from web to db proto icmpv allow",
	  "ambiguous 'icmpv': could be icmpv4 or icmpv6" },
	{ "policy add from web to db proto tcp proto udp allow",
	  "'proto' given twice" },
	{ "policy add from web to db allow zone",
	  "missing ZONE after 'policy add'" },
	{ "policy add from web to db allow weight 2",
	  "unknown keyword 'weight': expected proto, port, allow, deny, audit or zone" },
	{ "policy del from web", "missing 'to DST' after 'policy del'" },
	{ "policy default", "missing allow or deny after 'policy default'" },
	{ "policy default audit zone 1",
	  "unknown default verdict 'audit': expected allow or deny" },
	{ "policy default deny",
	  "policy default: missing 'zone ZONE': the default verdict is per zone (e.g. 'policy default deny zone 1')" },
	{ "policy default deny zone any",
	  "policy default: bad zone 'any': a default verdict is set per zone, expected a zone number or an interface name" },
	{ "policy default deny zone 1 proto tcp",
	  "unknown keyword 'proto': expected zone" },
	/* conntrack */
	{ "conntrack list src", "missing ADDR after 'conntrack list'" },
	{ "conntrack list src 100.64.0.1/8",
	  "bad prefix '100.64.0.1/8': bits set past the prefix length (did you mean 100.0.0.0/8?)" },
	{ "conntrack list dst nowhere",
	  "bad prefix 'nowhere': expected ADDR/LEN or ADDR" },
	{ "conntrack list service 198.19.0.10:80",
	  "bad address '198.19.0.10:80': expected ADDR:PORT/PROTO" },
	{ "conntrack list backend 198.18.1.1:99999",
	  "bad backend address '198.18.1.1:99999': expected ADDR:PORT or ADDR" },
	{ "conntrack list src 1.2.3.4 src 1.2.3.5", "'src' given twice" },
	{ "conntrack flush src 1.2.3.4",
	  "unknown keyword 'src': expected service or backend" },
	{ "conntrack flush service 198.19.0.10:80/tcp backend 198.18.1.1:80",
	  "conntrack flush: give 'service' or 'backend', not both" },
	/* nat */
	{ "nat static", "missing add, del or list after 'nat static'" },
	{ "nat static frob",
	  "unknown command of nat static 'frob': expected add, del or list" },
	{ "nat static add", "missing TAILNET_ADDR after 'nat static add'" },
	{ "nat static add 100.64.1.1",
	  "missing INNER_ADDR after 'nat static add'" },
	{ "nat static add 100.64.1.300 198.18.1.1",
	  "bad address '100.64.1.300': expected an IPv4 or IPv6 address" },
	{ "nat static add 100.64.1.1/32 198.18.1.1",
	  "bad address '100.64.1.1/32': expected an IPv4 or IPv6 address" },
	{ "nat static add 100.64.1.1 fd00:198:18::1",
	  "100.64.1.1 and fd00:198:18::1 are of different address families: static NAT keeps the family" },
	{ "nat static add 100.64.1.1 198.18.1.1 zone",
	  "missing ZONE after 'nat static add'" },
	{ "nat static add 100.64.1.1 198.18.1.1 zone 70000",
	  "bad zone '70000': expected a number 0-65535" },
	{ "nat static add 100.64.1.1 198.18.1.1 zone 1 zone 2",
	  "'zone' given twice" },
	{ "nat static add 100.64.1.1 198.18.1.1 weight 2",
	  "unknown keyword 'weight': expected zone" },
	{ "nat static del", "missing TAILNET_ADDR after 'nat static del'" },
	{ "nat static del 100.64.1.1 198.18.1.1",
	  "unknown keyword '198.18.1.1': expected zone" },
	{ "nat static list x", "unexpected 'x' after 'nat static list'" },
	{ "nat list static", "unexpected 'static' after 'nat list'" },
	/* monitor */
	{ "monitor count", "missing N after 'monitor'" },
	{ "monitor count 0",
	  "bad count '0': expected a number 1-9223372036854775807" },
	{ "monitor count x",
	  "bad count 'x': expected a number 1-9223372036854775807" },
	{ "monitor everything",
	  "unknown keyword 'everything': expected all, drops, audit or count" },
	{ "monitor count 1 count 2", "'count' given twice" },
};

static void test_parse_errors(void **state)
{
	struct tpctl_args a;
	size_t i;

	for (i = 0; i < TT_ARRAY_SIZE(tt_errors); i++) {
		if (!tt_parse(tt_errors[i].line, &a))
			fail_msg("'%s' parsed, expected: %s", tt_errors[i].line,
				 tt_errors[i].err);
		if (strcmp(tt_err, tt_errors[i].err))
			fail_msg("'%s':\n got:  %s\n want: %s",
				 tt_errors[i].line, tt_err, tt_errors[i].err);
	}
}

/* Sum the rows of @o (and below) that run @run with TPCTL_CMD_WRITES. */
static size_t tt_writers(const struct tpctl_object *o, tpctl_run_fn *run,
			 size_t *rows)
{
	size_t k, n = 0;

	for (k = 0; k < o->n_cmds; k++) {
		const struct tpctl_cmd *c = &o->cmds[k];

		if (c->sub) {
			n += tt_writers(c->sub, run, rows);
			continue;
		}
		if (run && c->run != run)
			continue;
		(*rows)++;
		n += !!(c->flags & TPCTL_CMD_WRITES);
	}
	return n;
}

/*
 * Exactly these commands take the writers' lock.  They were a switch over
 * the ops; they are rows of the command table flagged TPCTL_CMD_WRITES
 * now, so the check goes through their runners.
 */
static void test_op_writes(void **state)
{
	static tpctl_run_fn *const writers[] = {
		tpctl_service_add,    tpctl_service_del,    tpctl_backend_add,
		tpctl_backend_set,    tpctl_backend_del,    tpctl_identity_add,
		tpctl_identity_del,   tpctl_policy_add,	    tpctl_policy_del,
		tpctl_policy_default, tpctl_ct_flush,	    tpctl_stats_reset,
		tpctl_guard_add,      tpctl_guard_del,	    tpctl_guard_rate,
		tpctl_nat_static_add, tpctl_nat_static_del,
	};
	size_t i, k, n = 0, rows;

	for (i = 0; i < TT_ARRAY_SIZE(writers); i++) {
		for (k = 0, rows = 0, n = 0; k < tpctl_n_objects; k++)
			n += tt_writers(&tpctl_objects[k], writers[i], &rows);
		assert_int_equal(rows, 1);
		assert_int_equal(n, 1);
	}
	for (k = 0, rows = 0, n = 0; k < tpctl_n_objects; k++)
		n += tt_writers(&tpctl_objects[k], NULL, &rows);
	assert_int_equal(n, TT_ARRAY_SIZE(writers));
	assert_false(tpctl_help_cmd.flags & TPCTL_CMD_WRITES);
}

/* ---- lib/addr ------------------------------------------------------------ */

static void test_addr_parse(void **state)
{
	struct tp_addr a;
	unsigned int plen;
	char buf[TP_PREFIX_STRLEN], ep[TP_ENDPOINT_STRLEN];
	__u16 port, lo, hi;
	bool has;

	assert_int_equal(tp_addr_parse("198.19.0.10", &a), 0);
	assert_true(tp_addr_is_v4(&a));
	assert_int_equal(a.w[2], htonl(0xffff));
	assert_int_equal(a.w[3], inet_addr("198.19.0.10"));
	assert_string_equal(tp_addr_format(&a, buf, sizeof(buf)),
			    "198.19.0.10");
	assert_int_equal(tp_addr_parse("fd00:198:19::a", &a), 0);
	assert_false(tp_addr_is_v4(&a));
	assert_string_equal(tp_addr_format(&a, buf, sizeof(buf)),
			    "fd00:198:19::a");
	assert_int_equal(tp_addr_parse("::ffff:1.2.3.4", &a), 0);
	assert_string_equal(tp_addr_format(&a, buf, sizeof(buf)), "1.2.3.4");
	assert_int_equal(tp_addr_parse("198.19.0.300", &a), -EINVAL);
	assert_int_equal(tp_addr_parse("198.19.0", &a), -EINVAL);
	assert_int_equal(tp_addr_parse("010.1.1.1", &a), -EINVAL);
	assert_int_equal(tp_addr_parse("", &a), -EINVAL);
	assert_int_equal(tp_addr_parse("fd00:::1", &a), -EINVAL);

	/* prefixes */
	assert_int_equal(tp_prefix_parse("198.18.0.0/16", &a, &plen), 0);
	assert_int_equal(plen, 112);
	assert_string_equal(tp_prefix_format(&a, plen, buf, sizeof(buf)),
			    "198.18.0.0/16");
	assert_int_equal(tp_prefix_parse("198.18.1.1", &a, &plen), 0);
	assert_int_equal(plen, 128);
	assert_string_equal(tp_prefix_format(&a, plen, buf, sizeof(buf)),
			    "198.18.1.1/32");
	assert_int_equal(tp_prefix_parse("fd00:198:18::/48", &a, &plen), 0);
	assert_int_equal(plen, 48);
	assert_string_equal(tp_prefix_format(&a, plen, buf, sizeof(buf)),
			    "fd00:198:18::/48");
	assert_int_equal(tp_prefix_parse("::/0", &a, &plen), 0);
	assert_int_equal(plen, 0);
	assert_int_equal(tp_prefix_parse("0.0.0.0/0", &a, &plen), 0);
	assert_int_equal(plen, 96);
	assert_int_equal(tp_prefix_parse("198.18.1.1/24", &a, &plen), -EDOM);
	assert_int_equal(tp_prefix_parse("198.18.1.128/25", &a, &plen), 0);
	assert_int_equal(tp_prefix_parse("198.18.1.129/25", &a, &plen), -EDOM);
	assert_int_equal(tp_prefix_parse("198.18.1.0/33", &a, &plen), -EINVAL);
	assert_int_equal(tp_prefix_parse("198.18.1.0/-1", &a, &plen), -EINVAL);
	assert_int_equal(tp_prefix_parse("198.18.1.0/0x10", &a, &plen),
			 -EINVAL);
	assert_int_equal(tp_prefix_parse("fd00::/1288", &a, &plen), -EINVAL);

	/* ports and ranges */
	assert_int_equal(tp_port_parse("0", &port), 0);
	assert_int_equal(port, 0);
	assert_int_equal(tp_port_parse("65535", &port), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(tp_port_parse("65536", &port), -EINVAL);
	assert_int_equal(tp_port_parse("080", &port), 0);
	assert_int_equal(tp_port_parse("000080", &port), -EINVAL);
	assert_int_equal(tp_port_parse("8o", &port), -EINVAL);
	assert_int_equal(tp_port_parse("", &port), -EINVAL);
	assert_int_equal(tp_port_parse(" 80", &port), -EINVAL);
	assert_int_equal(tp_port_range_parse("80", &lo, &hi), 0);
	assert_true(lo == 80 && hi == 80);
	assert_int_equal(tp_port_range_parse("1000-1999", &lo, &hi), 0);
	assert_true(lo == 1000 && hi == 1999);
	assert_int_equal(tp_port_range_parse("0-65535", &lo, &hi), 0);
	assert_int_equal(tp_port_range_parse("5-5", &lo, &hi), 0);
	assert_int_equal(tp_port_range_parse("6-5", &lo, &hi), -EINVAL);
	assert_int_equal(tp_port_range_parse("-5", &lo, &hi), -EINVAL);
	assert_int_equal(tp_port_range_parse("5-", &lo, &hi), -EINVAL);
	assert_int_equal(tp_port_range_parse("1-2-3", &lo, &hi), -EINVAL);

	/* endpoints */
	assert_int_equal(tp_endpoint_parse("198.18.1.1:8080", &a, &port, NULL),
			 0);
	assert_int_equal(port, 8080);
	assert_int_equal(tp_endpoint_parse("[fd00::1]:53", &a, &port, NULL), 0);
	assert_int_equal(port, 53);
	assert_string_equal(tp_endpoint_format(&a, port, buf, sizeof(buf)),
			    "[fd00::1]:53");
	/* a flow's side: the port for TCP and UDP only */
	assert_string_equal(
		tp_flow_endpoint_format(&a, htons(port), IPPROTO_UDP, ep),
		"[fd00::1]:53");
	assert_string_equal(
		tp_flow_endpoint_format(&a, htons(port), IPPROTO_ICMPV6, ep),
		"fd00::1");
	assert_int_equal(tp_endpoint_parse("198.18.1.1", &a, &port, NULL),
			 -EINVAL);
	assert_int_equal(tp_endpoint_parse("198.18.1.1", &a, &port, &has), 0);
	assert_false(has);
	assert_int_equal(tp_endpoint_parse("fd00::1", &a, &port, &has), 0);
	assert_false(has);
	assert_int_equal(tp_endpoint_parse("[fd00::1]", &a, &port, &has), 0);
	assert_false(has);
	assert_int_equal(tp_endpoint_parse("[fd00::1]:", &a, &port, &has),
			 -EINVAL);
	assert_int_equal(tp_endpoint_parse("[fd00::1]x80", &a, &port, &has),
			 -EINVAL);
	assert_int_equal(tp_endpoint_parse("[fd00::1:80", &a, &port, &has),
			 -EINVAL);
	assert_int_equal(tp_endpoint_parse("198.18.1.1:", &a, &port, &has),
			 -EINVAL);
	assert_int_equal(tp_endpoint_parse(":80", &a, &port, &has), -EINVAL);
	assert_int_equal(tp_endpoint_parse("", &a, &port, &has), -EINVAL);
}

static void test_svc_key_roundtrip(void **state)
{
	static const char *const keys[] = {
		"198.19.0.10:80/tcp",	   "198.19.0.10:53/udp",
		"[fd00:198:19::a]:53/udp", "[fd00:198:19::a]:443/tcp",
		"198.19.0.10/icmp",	   "[fd00:198:19::a]/icmp",
		"0.0.0.0:1/tcp",	   "255.255.255.255:65535/udp",
	};
	struct tp_svc_key k;
	char buf[TP_SVC_STRLEN], num[4];
	size_t i;
	__u8 p;

	for (i = 0; i < TT_ARRAY_SIZE(keys); i++) {
		assert_int_equal(tp_svc_key_parse(keys[i], &k), 0);
		assert_int_equal(k.pad, 0);
		assert_string_equal(tp_svc_key_format(&k, buf, sizeof(buf)),
				    keys[i]);
	}
	assert_int_equal(tp_svc_key_parse("198.19.0.10:0/icmp", &k), 0);
	assert_string_equal(tp_svc_key_format(&k, buf, sizeof(buf)),
			    "198.19.0.10/icmp");
	assert_int_equal(tp_svc_key_parse("[fd00::a]/icmpv6", &k), 0);
	assert_int_equal(k.proto, IPPROTO_ICMPV6);

	assert_int_equal(tp_proto_parse("tcp", &p), 0);
	assert_int_equal(p, IPPROTO_TCP);
	assert_int_equal(tp_proto_parse("icmp6", &p), 0);
	assert_int_equal(p, IPPROTO_ICMPV6);
	assert_int_equal(tp_proto_parse("132", &p), 0);
	assert_int_equal(p, 132);
	assert_int_equal(tp_proto_parse("256", &p), -EINVAL);
	assert_int_equal(tp_proto_parse("TCP", &p), -EINVAL);
	assert_string_equal(tp_proto_name(IPPROTO_UDP, num, sizeof(num)),
			    "udp");
	assert_string_equal(tp_proto_name(132, num, sizeof(num)), "132");
}

static void test_prefix_contains(void **state)
{
	struct tp_addr net, a;
	unsigned int plen;

	assert_int_equal(tp_prefix_parse("100.64.0.0/10", &net, &plen), 0);
	a = tt_addr("100.64.0.1");
	assert_true(tp_prefix_contains(&net, plen, &a));
	a = tt_addr("100.127.255.255");
	assert_true(tp_prefix_contains(&net, plen, &a));
	a = tt_addr("100.128.0.0");
	assert_false(tp_prefix_contains(&net, plen, &a));
	a = tt_addr("fd00::1");
	assert_false(tp_prefix_contains(&net, plen, &a));
	assert_true(tp_prefix_contains(&net, 0, &a));
	assert_int_equal(tp_prefix_parse("fd7a:115c:a1e0::/48", &net, &plen),
			 0);
	a = tt_addr("fd7a:115c:a1e0:ffff::1");
	assert_true(tp_prefix_contains(&net, plen, &a));
	a = tt_addr("fd7a:115c:a1e1::1");
	assert_false(tp_prefix_contains(&net, plen, &a));
}

/* ---- plain output --------------------------------------------------------- */

static void test_table(void **state)
{
	static const struct tpctl_col cols[] = { { "NAME" },
						 { "N", true },
						 { "NOTE" } };
	struct tpctl_table t;
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	tpctl_table_init(&t, cols, 3);
	tpctl_table_cell(&t, "alpha");
	tpctl_table_cell(&t, "%d", 1);
	tpctl_table_cell(&t, "x");
	tpctl_table_cell(&t, "b");
	tpctl_table_cell(&t, "%d", 12345);
	tpctl_table_cell(&t, "%s", "");
	tpctl_table_cell(&t, "%s", "");
	tpctl_table_cell(&t, "%s", "");
	tpctl_table_cell(&t, "long note");
	tpctl_table_print(&t, f);
	tpctl_table_free(&t);
	fclose(f);
	assert_string_equal(buf, "NAME       N  NOTE\n"
				 "alpha      1  x\n"
				 "b      12345\n"
				 "              long note\n");
	free(buf);
}

static void test_units(void **state)
{
	char b[TPCTL_UNIT_STRLEN];

	assert_string_equal(tpctl_fmt_count(0, b, sizeof(b)), "0");
	assert_string_equal(tpctl_fmt_count(999, b, sizeof(b)), "999");
	assert_string_equal(tpctl_fmt_count(1000, b, sizeof(b)), "1.0K");
	assert_string_equal(tpctl_fmt_count(1234, b, sizeof(b)), "1.2K");
	assert_string_equal(tpctl_fmt_count(56789, b, sizeof(b)), "57K");
	assert_string_equal(tpctl_fmt_count(3400000, b, sizeof(b)), "3.4M");
	assert_string_equal(tpctl_fmt_count(7000000000ULL, b, sizeof(b)),
			    "7.0G");
	assert_string_equal(tpctl_fmt_count(~0ULL, b, sizeof(b)), "18E");
	assert_string_equal(tpctl_fmt_bytes(0, b, sizeof(b)), "0B");
	assert_string_equal(tpctl_fmt_bytes(1023, b, sizeof(b)), "1023B");
	assert_string_equal(tpctl_fmt_bytes(1536, b, sizeof(b)), "1.5KiB");
	assert_string_equal(tpctl_fmt_bytes(20 << 20, b, sizeof(b)), "20MiB");
	assert_string_equal(tpctl_fmt_bytes(5ULL << 30, b, sizeof(b)),
			    "5.0GiB");
	assert_string_equal(tpctl_fmt_duration(0, b, sizeof(b)), "0s");
	assert_string_equal(tpctl_fmt_duration(45, b, sizeof(b)), "45s");
	assert_string_equal(tpctl_fmt_duration(330, b, sizeof(b)), "5m30s");
	assert_string_equal(tpctl_fmt_duration(7380, b, sizeof(b)), "2h03m");
	assert_string_equal(tpctl_fmt_duration(21600, b, sizeof(b)), "6h00m");
	assert_string_equal(tpctl_fmt_duration(273600, b, sizeof(b)), "3d04h");
}

static void test_flags(void **state)
{
	char b[64];

	assert_string_equal(tpctl_iface_flags_str(0, b, sizeof(b)), "-");
	assert_string_equal(
		tpctl_iface_flags_str(TP_IFACE_F_L3 | TP_IFACE_F_TAILNET, b,
				      sizeof(b)),
		"l3,tailnet");
	assert_string_equal(
		tpctl_iface_flags_str(TP_IFACE_F_UPLINK | 0x100, b, sizeof(b)),
		"uplink,0x100");
	assert_string_equal(
		tpctl_svc_flags_str(TP_SVC_F_AFFINITY, b, sizeof(b)),
		"affinity");
	assert_string_equal(
		tpctl_ct_flags_str(TP_CT_F_DNAT | TP_CT_F_EGRESS, b, sizeof(b)),
		"dnat,egress");
	assert_string_equal(tpctl_hook_name(TP_EVENT_HOOK_TO_TAILNET),
			    "to-tailnet");
	assert_string_equal(tpctl_hook_name(9), "?");
}

/* Two services: one with two backends, one without. */
static void tt_services(struct tpctl_svc_row *s, struct tpctl_be_row *b)
{
	memset(s, 0, 2 * sizeof(*s));
	memset(b, 0, 2 * sizeof(*b));
	assert_int_equal(tp_svc_key_parse("198.19.0.10:80/tcp", &s[0].key), 0);
	s[0].svc = (struct tp_svc){
		.id = 1, .active = 1, .owner = TP_OWNER_TPCTL, .revision = 3
	};
	assert_int_equal(tp_svc_key_parse("[fd00:198:19::a]:53/udp", &s[1].key),
			 0);
	s[1].svc = (struct tp_svc){ .id = 2,
				    .zone = 1,
				    .flags = TP_SVC_F_AFFINITY | TP_SVC_F_SNAT,
				    .affinity_timeout = 10800,
				    .owner = TP_OWNER_KUBERNETES };
	b[0].id = 5;
	b[0].be = (struct tp_backend){ .addr = tt_addr("198.18.1.1"),
				       .port = htons(8080),
				       .weight = 1,
				       .svc_id = 1,
				       .owner = TP_OWNER_TPCTL };
	b[1].id = 6;
	b[1].be = (struct tp_backend){ .addr = tt_addr("198.18.1.2"),
				       .port = htons(8080),
				       .weight = 300,
				       .state = TP_BACKEND_TERMINATING,
				       .svc_id = 1,
				       .owner = TP_OWNER_TPCTL };
}

static void test_render_services(void **state)
{
	struct tpctl_svc_row s[2];
	struct tpctl_be_row b[2];
	struct tt_out o;
	yajl_val v, svc, be;
	const char *path_be[] = { "backends", NULL };

	tt_services(s, b);
	tt_out_open(&o, false, false);
	tpctl_services_render(&o.ctx, s, 2, b, 2);
	assert_string_equal(
		tt_out_text(&o, 0),
		"SERVICE                  ID  ZONE  AFFINITY  FLAGS          OWNER       BACKEND          BE-ID  WEIGHT  STATE\n"
		"198.19.0.10:80/tcp        1  all   -         -              tpctl       198.18.1.1:8080      5       1  active\n"
		"                                                                        198.18.1.2:8080      6     300  terminating\n"
		"[fd00:198:19::a]:53/udp   2  1     3h00m     affinity,snat  kubernetes  (no backends)\n");
	tt_out_close(&o);

	tt_out_open(&o, true, false);
	tpctl_services_render(&o.ctx, s, 2, b, 2);
	v = tt_json(tt_out_text(&o, 0));
	assert_true(YAJL_IS_ARRAY(v));
	assert_int_equal(YAJL_GET_ARRAY(v)->len, 2);
	svc = YAJL_GET_ARRAY(v)->values[0];
	assert_string_equal(tt_jstr(svc, "service"), "198.19.0.10:80/tcp");
	assert_string_equal(tt_jstr(svc, "proto"), "tcp");
	assert_int_equal(tt_jint(svc, "port"), 80);
	assert_int_equal(tt_jint(svc, "revision"), 3);
	be = yajl_tree_get(svc, path_be, yajl_t_array);
	assert_non_null(be);
	assert_int_equal(YAJL_GET_ARRAY(be)->len, 2);
	assert_string_equal(tt_jstr(YAJL_GET_ARRAY(be)->values[1], "state"),
			    "terminating");
	assert_int_equal(tt_jint(YAJL_GET_ARRAY(be)->values[1], "weight"), 300);
	svc = YAJL_GET_ARRAY(v)->values[1];
	assert_int_equal(tt_jint(svc, "affinity_timeout"), 10800);
	assert_string_equal(tt_jstr(svc, "owner"), "kubernetes");
	assert_true(YAJL_IS_TRUE(yajl_tree_get(
		svc, (const char *[]){ "snat", NULL }, yajl_t_any)));
	assert_true(YAJL_IS_FALSE(
		yajl_tree_get(YAJL_GET_ARRAY(v)->values[0],
			      (const char *[]){ "snat", NULL }, yajl_t_any)));
	yajl_tree_free(v);
	tt_out_close(&o);

	/* empty, pretty */
	tt_out_open(&o, false, true);
	tpctl_services_render(&o.ctx, s, 0, b, 0);
	v = tt_json(tt_out_text(&o, 0));
	assert_true(YAJL_IS_ARRAY(v));
	yajl_tree_free(v);
	tt_out_close(&o);
}

static void test_render_identities(void **state)
{
	struct tpctl_id_row r[2] = {};
	struct tt_out o;
	yajl_val v;

	r[0].key.zone = 0;
	r[0].key.prefixlen = TP_IDENTITY_PLEN(120);
	r[0].key.addr = tt_addr("198.18.1.0");
	r[0].val.id = 400;
	r[0].val.owner = TP_OWNER_TPCTL;
	r[1].key.zone = 1;
	r[1].key.prefixlen = TP_IDENTITY_PLEN(48);
	r[1].key.addr = tt_addr("fd7a:115c:a1e0::");
	r[1].val.id = TP_ID_TAILNET;
	r[1].val.owner = TP_OWNER_TAILSCALE;

	tt_out_open(&o, false, false);
	tpctl_identities_render(&o.ctx, NULL, r, 2);
	assert_string_equal(
		tt_out_text(&o, 0),
		"ZONE  PREFIX                ID  NAME     OWNER\n"
		"   0  198.18.1.0/24        400  -        tpctl\n"
		"   1  fd7a:115c:a1e0::/48    3  tailnet  tailscale\n");
	tt_out_close(&o);

	tt_out_open(&o, true, false);
	tpctl_identities_render(&o.ctx, NULL, r, 2);
	v = tt_json(tt_out_text(&o, 0));
	assert_int_equal(YAJL_GET_ARRAY(v)->len, 2);
	assert_string_equal(tt_jstr(YAJL_GET_ARRAY(v)->values[1], "prefix"),
			    "fd7a:115c:a1e0::/48");
	assert_string_equal(
		tt_jstr(YAJL_GET_ARRAY(v)->values[1], "identity_name"),
		"tailnet");
	assert_int_equal(tt_jint(YAJL_GET_ARRAY(v)->values[0], "identity_id"),
			 400);
	yajl_tree_free(v);
	tt_out_close(&o);
}

static void test_render_policy(void **state)
{
	struct tpctl_rule_row r[2] = {};
	struct tpctl_zone_row z[1] = {};
	const char *path_rules[] = { "rules", NULL };
	const char *path_def[] = { "defaults", NULL };
	struct tt_out o;
	yajl_val v, rules;

	r[0].id = 1;
	r[0].rule = (struct tp_rule){ .src_id = 300,
				      .dst_id = 0,
				      .proto = IPPROTO_TCP,
				      .port_lo = 1000,
				      .port_hi = 1999,
				      .verdict = TP_VERDICT_ALLOW,
				      .owner = TP_OWNER_TPCTL };
	r[0].st = (struct tp_stat){ .packets = 1234, .bytes = 1536 };
	r[1].id = 2;
	r[1].rule = (struct tp_rule){ .src_id = TP_ID_TAILNET,
				      .dst_id = TP_ID_HOST,
				      .zone = 2,
				      .proto = IPPROTO_ICMP,
				      .verdict = TP_VERDICT_DENY,
				      .owner = TP_OWNER_STATIC };
	z[0].zone = 2;
	z[0].z = (struct tp_zone){ .default_verdict = TP_VERDICT_DENY,
				   .flags = TP_ZONE_F_RULES };

	tt_out_open(&o, false, false);
	tpctl_policy_render(&o.ctx, NULL, r, 2, z, 1);
	assert_string_equal(
		tt_out_text(&o, 0),
		"ID  FROM        TO       ZONE  PROTO   PORT       VERDICT  OWNER   PACKETS   BYTES\n"
		" 1  300         any      any   tcp     1000-1999  allow    tpctl      1.2K  1.5KiB\n"
		" 2  tailnet(3)  host(1)  2     icmpv4  any        deny     static        0      0B\n"
		"\n"
		"ZONE  DEFAULT  RULES\n"
		"   2  deny     yes\n");
	tt_out_close(&o);

	tt_out_open(&o, true, false);
	tpctl_policy_render(&o.ctx, NULL, r, 2, z, 1);
	v = tt_json(tt_out_text(&o, 0));
	rules = yajl_tree_get(v, path_rules, yajl_t_array);
	assert_non_null(rules);
	assert_string_equal(
		tt_jstr(YAJL_GET_ARRAY(rules)->values[0], "dst_name"), "any");
	assert_int_equal(tt_jint(YAJL_GET_ARRAY(rules)->values[0], "port_hi"),
			 1999);
	assert_int_equal(tt_jint(YAJL_GET_ARRAY(rules)->values[0], "packets"),
			 1234);
	assert_string_equal(
		tt_jstr(YAJL_GET_ARRAY(rules)->values[1], "src_name"),
		"tailnet");
	assert_non_null(yajl_tree_get(v, path_def, yajl_t_array));
	yajl_tree_free(v);
	tt_out_close(&o);
}

static void test_render_conntrack(void **state)
{
	const __u64 now = 5000ULL * 1000000000ULL;
	struct tpctl_ct_row r[3] = {};
	struct tpctl_svc_row s[2];
	struct tpctl_be_row b[2];
	struct tt_out o;
	yajl_val v, row;

	tt_services(s, b);
	r[0].key = (struct tp_ct_key){ .saddr = tt_addr("100.64.0.1"),
				       .daddr = tt_addr("198.19.0.10"),
				       .sport = htons(40000),
				       .dport = htons(80),
				       .proto = IPPROTO_TCP,
				       .zone = 1 };
	r[0].e = (struct tp_ct_entry){ .nat_addr = tt_addr("198.18.1.1"),
				       .nat_port = htons(8080),
				       .state = TP_CT_ESTABLISHED,
				       .flags = TP_CT_F_DNAT,
				       .svc_id = 1,
				       .backend_id = 5,
				       .expires_s = TP_CT_SEC(now) + 21599,
				       .created_s = TP_CT_SEC(now) - 10,
				       .packets = { 12, 10 },
				       .bytes = { 1500, 120000 },
				       .verdict = TP_VERDICT_ALLOW,
				       .src_identity = TP_ID_TAILNET,
				       .dst_identity = 400 };
	r[1].key = (struct tp_ct_key){ .saddr = tt_addr("fd7a:115c:a1e0::1"),
				       .daddr = tt_addr("fd00:198:18::1:1"),
				       .sport = htons(7),
				       .proto = IPPROTO_ICMPV6,
				       .zone = 1 };
	r[1].e = (struct tp_ct_entry){ .state = TP_CT_OPEN,
				       .expires_s = TP_CT_SEC(now) + 30,
				       .created_s = TP_CT_SEC(now),
				       .packets = { 1, 0 },
				       .bytes = { 64, 0 },
				       .verdict = TP_VERDICT_AUDIT,
				       .src_identity = TP_ID_TAILNET,
				       .dst_identity = TP_ID_WORLD };
	/* a SNAT flow: the backend sees the node's address and port */
	r[2].key = (struct tp_ct_key){ .saddr = tt_addr("100.64.0.2"),
				       .daddr = tt_addr("198.19.0.10"),
				       .sport = htons(40001),
				       .dport = htons(80),
				       .proto = IPPROTO_TCP,
				       .zone = 1 };
	r[2].e = (struct tp_ct_entry){ .nat_addr = tt_addr("198.18.2.1"),
				       .nat_port = htons(8080),
				       .state = TP_CT_SYN_SENT,
				       .flags = TP_CT_F_DNAT | TP_CT_F_SNAT,
				       .svc_id = 1,
				       .backend_id = 7,
				       .expires_s = TP_CT_SEC(now) + 60,
				       .created_s = TP_CT_SEC(now),
				       .packets = { 1, 0 },
				       .bytes = { 60, 0 },
				       .verdict = TP_VERDICT_ALLOW,
				       .src_identity = TP_ID_TAILNET,
				       .dst_identity = 400,
				       .snat_port = htons(61234) };
	r[2].snat_addr = tt_addr("198.18.0.1");

	tt_out_open(&o, false, false);
	tpctl_ct_render(&o.ctx, NULL, r, 3, now, s, 2);
	assert_string_equal(
		tt_out_text(&o, 0),
		"PROTO   ZONE  SOURCE             SNAT              DESTINATION       BACKEND          STATE        FROM        TO        VERDICT  PACKETS          BYTES  EXPIRES\n"
		"tcp        1  100.64.0.1:40000   -                 198.19.0.10:80    198.18.1.1:8080  established  tailnet(3)  400       allow      12/10  1.5KiB/117KiB    5h59m\n"
		"icmpv6     1  fd7a:115c:a1e0::1  -                 fd00:198:18::1:1  -                open         tailnet(3)  world(2)  audit        1/0         64B/0B      30s\n"
		"tcp        1  100.64.0.2:40001   198.18.0.1:61234  198.19.0.10:80    198.18.2.1:8080  syn_sent     tailnet(3)  400       allow        1/0         60B/0B    1m00s\n");
	tt_out_close(&o);

	tt_out_open(&o, true, false);
	tpctl_ct_render(&o.ctx, NULL, r, 3, now, s, 2);
	v = tt_json(tt_out_text(&o, 0));
	row = YAJL_GET_ARRAY(v)->values[0];
	assert_string_equal(tt_jstr(row, "service"), "198.19.0.10:80/tcp");
	assert_string_equal(tt_jstr(row, "backend"), "198.18.1.1");
	assert_int_equal(tt_jint(row, "backend_port"), 8080);
	assert_string_equal(tt_jstr(row, "state"), "established");
	assert_int_equal(tt_jint(row, "packets_reply"), 10);
	assert_int_equal(tt_jint(row, "bytes_reply"), 120000);
	assert_int_equal(tt_jint(row, "expires_in_s"), 21599);
	assert_int_equal(tt_jint(row, "age_s"), 10);
	assert_string_equal(tt_jstr(row, "src_name"), "tailnet");
	assert_null(yajl_tree_get(row, (const char *[]){ "snat_addr", NULL },
				  yajl_t_any));
	row = YAJL_GET_ARRAY(v)->values[1];
	assert_string_equal(tt_jstr(row, "proto"), "icmpv6");
	assert_string_equal(tt_jstr(row, "verdict"), "audit");
	row = YAJL_GET_ARRAY(v)->values[2];
	assert_string_equal(tt_jstr(row, "flags"), "dnat,snat");
	assert_string_equal(tt_jstr(row, "snat_addr"), "198.18.0.1");
	assert_int_equal(tt_jint(row, "snat_port"), 61234);
	assert_string_equal(tt_jstr(row, "backend"), "198.18.2.1");
	yajl_tree_free(v);
	tt_out_close(&o);
}

static void test_render_stats(void **state)
{
	struct tpctl_stats s = {};
	struct tp_stat st = { .packets = 2500, .bytes = 3 << 20 };
	const char *path[] = { "counters", "rx_tailnet", NULL };
	const char *path_b[] = { "counters", "rx_tailnet_bytes", NULL };
	const char *path_d[] = { "counters", "drop_policy", NULL };
	const char *path_svc[] = { "services", NULL };
	struct tt_out o;
	yajl_val v, svcs;

	assert_int_equal(
		tpctl_stats_add(&s, TPCTL_STATS_COUNTERS, 0, "rx_tailnet", &st),
		0);
	st.packets = 0, st.bytes = 0;
	assert_int_equal(
		tpctl_stats_add(&s, TPCTL_STATS_DROPS, 42, "policy", &st), 0);
	st.packets = 7, st.bytes = 700;
	assert_int_equal(tpctl_stats_add(&s, TPCTL_STATS_SERVICES, 1,
					 "198.19.0.10:80/tcp", &st),
			 0);

	tt_out_open(&o, false, false);
	tpctl_stats_render(&o.ctx, &s);
	assert_string_equal(tt_out_text(&o, 0),
			    "COUNTER     PACKETS   BYTES\n"
			    "rx_tailnet     2.5K  3.0MiB\n"
			    "\n"
			    "DROP    PACKETS  BYTES\n"
			    "policy        0     0B\n"
			    "\n"
			    "SERVICE             PACKETS  BYTES\n"
			    "198.19.0.10:80/tcp        7   700B\n");
	tt_out_close(&o);

	tt_out_open(&o, true, false);
	tpctl_stats_render(&o.ctx, &s);
	v = tt_json(tt_out_text(&o, 0));
	assert_non_null(yajl_tree_get(v, path, yajl_t_number));
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, path, yajl_t_number)), 2500);
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, path_b, yajl_t_number)),
		3 << 20);
	assert_non_null(yajl_tree_get(v, path_d, yajl_t_number));
	svcs = yajl_tree_get(v, path_svc, yajl_t_array);
	assert_non_null(svcs);
	assert_int_equal(tt_jint(YAJL_GET_ARRAY(svcs)->values[0], "service_id"),
			 1);
	yajl_tree_free(v);
	tt_out_close(&o);
	tpctl_stats_free(&s);
}

static void test_render_maps(void **state)
{
	struct tpctl_map_info m[3] = {};
	struct tt_out o;
	yajl_val v;

	m[0].name = "tp_ct";
	m[0].info.type = BPF_MAP_TYPE_LRU_HASH;
	m[0].info.id = 7;
	m[0].info.key_size = 40;
	m[0].info.value_size = 144;
	m[0].info.max_entries = 1000;
	m[0].entries = 250;
	m[0].memlock = 253952 + 512; /* 248 KiB + 512 B */
	m[1].name = "tp_stats";
	m[1].info.type = BPF_MAP_TYPE_PERCPU_ARRAY;
	m[1].info.id = 8;
	m[1].info.key_size = 4;
	m[1].info.value_size = 16;
	m[1].info.max_entries = 64;
	m[1].entries = -1;
	m[1].memlock = 1000;
	m[2].name = "tp_frags";
	m[2].err = -ENOENT;

	tt_out_open(&o, false, false);
	tpctl_maps_render(&o.ctx, m, 3);
	assert_string_equal(
		tt_out_text(&o, 0),
		"NAME      TYPE          ID  KEY  VALUE   MAX  ENTRIES   FILL    MEMORY\n"
		"tp_ct     lru_hash       7  40B   144B  1000      250  25.0%  248.5KiB\n"
		"tp_stats  percpu_array   8   4B    16B    64        -      -     1000B\n"
		"tp_frags  (not pinned)\n");
	tt_out_close(&o);

	tt_out_open(&o, true, false);
	tpctl_maps_render(&o.ctx, m, 3);
	v = tt_json(tt_out_text(&o, 0));
	assert_int_equal(tt_jint(YAJL_GET_ARRAY(v)->values[0], "entries"), 250);
	assert_int_equal(tt_jint(YAJL_GET_ARRAY(v)->values[0], "bytes_memlock"),
			 254464);
	assert_string_equal(tt_jstr(YAJL_GET_ARRAY(v)->values[2], "error"),
			    strerror(ENOENT));
	yajl_tree_free(v);
	tt_out_close(&o);
}

static void test_render_event(void **state)
{
	struct tp_event ev = {
		.ts_ns = 1000,
		.type = TP_EVENT_FLOW_DENY,
		.verdict = TP_VERDICT_DENY,
		.reason = TP_DROP_POLICY,
		.hook = TP_EVENT_HOOK_FROM_TAILNET,
		.zone = 1,
		.out_zone = 2,
		.ifindex = 0,
		.src_id = 300,
		.dst_id = 2,
		.rule_id = 9,
		.svc_id = 1,
	};
	char *buf = NULL, *line;
	size_t len;
	FILE *f;
	struct tt_out o;
	yajl_val v;

	ev.tuple = (struct tp_ct_key){ .saddr = tt_addr("100.64.0.1"),
				       .daddr = tt_addr("198.19.0.10"),
				       .sport = htons(40000),
				       .dport = htons(80),
				       .proto = IPPROTO_TCP,
				       .zone = 1 };
	ev.nat_addr = tt_addr("198.18.1.1");
	ev.nat_port = htons(8080);
	f = open_memstream(&buf, &len);
	tpctl_event_plain(f, NULL, &ev, 0);
	fclose(f);
	line = strchr(buf, ' ');
	assert_non_null(line);
	assert_string_equal(
		line,
		" deny  from-tailnet if0 zone 1->2 tcp 100.64.0.1:40000 -> 198.19.0.10:80 => 198.18.1.1:8080 300 -> world(2) rule 9 reason policy\n");
	free(buf);

	/* a stream of objects, one per line */
	tt_out_open(&o, true, false);
	o.ctx.streamed = true;
	tpctl_event_json(&o.ctx.json, NULL, &ev, 0);
	tp_json_doc_end(&o.ctx.json);
	ev.type = TP_EVENT_FLOW_ALLOW;
	ev.reason = 0;
	tpctl_event_json(&o.ctx.json, NULL, &ev, 0);
	tp_json_doc_end(&o.ctx.json);
	tt_out_text(&o, 0);
	line = strchr(o.buf, '\n');
	assert_non_null(line);
	*line = '\0';
	v = tt_json(o.buf);
	assert_string_equal(tt_jstr(v, "type"), "deny");
	assert_string_equal(tt_jstr(v, "reason"), "policy");
	assert_string_equal(tt_jstr(v, "nat_dst"), "198.18.1.1");
	yajl_tree_free(v);
	v = tt_json(line + 1);
	assert_string_equal(tt_jstr(v, "type"), "allow");
	assert_int_equal(tt_jint(v, "src_id"), 300);
	yajl_tree_free(v);
	assert_string_equal(strchr(line + 1, '\n'), "\n");
	tt_out_close(&o);
}

/* ---- JSON and the command cycle ------------------------------------------ */

static void test_json_strings(void **state)
{
	struct tp_json j;
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	yajl_val v;

	assert_int_equal(tp_json_init(&j, f, false), 0);
	tp_json_obj_open(&j);
	tp_json_kv_str(&j, "bad",
		       "a\xff\xfe"
		       "b\xc3");
	tp_json_kv_str(&j, "ok", "\xc3\xa9t\xc3\xa9 \"q\" \\ \n\t\x01");
	tp_json_kv_str(&j, "surrogate", "\xed\xa0\x80");
	tp_json_kv_u64(&j, "max", ~0ULL);
	tp_json_kv_s64(&j, "neg", -5);
	tp_json_kv_bool(&j, "t", true);
	tp_json_kv_null(&j, "n");
	tp_json_obj_close(&j);
	assert_int_equal(tp_json_doc_end(&j), 0);
	tp_json_free(&j);
	fclose(f);
	v = tt_json(buf);
	assert_string_equal(tt_jstr(v, "bad"), "a??b?");
	assert_string_equal(tt_jstr(v, "ok"),
			    "\xc3\xa9t\xc3\xa9 \"q\" \\ \n\t\x01");
	assert_string_equal(tt_jstr(v, "surrogate"), "???");
	assert_non_null(strstr(buf, "\"max\":18446744073709551615"));
	assert_int_equal(tt_jint(v, "neg"), -5);
	assert_int_equal(buf[len - 1], '\n');
	yajl_tree_free(v);
	free(buf);
}

static void test_json_misuse(void **state)
{
	struct tp_json j;
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(tp_json_init(&j, f, false), 0);
	tp_json_obj_open(&j);
	tp_json_u64(&j, 1); /* a value where a key belongs */
	tp_json_obj_close(&j);
	assert_int_equal(tp_json_doc_end(&j), -EINVAL);
	/* the writer is usable again */
	tp_json_null(&j);
	assert_int_equal(tp_json_doc_end(&j), 0);
	tp_json_free(&j);
	fclose(f);
	free(buf);
}

/* Run a whole command line without maps, as main() does. */
static const char *tt_cmd(struct tt_out *o, bool json, bool pretty,
			  const char *line, int *status)
{
	int n = tt_split(line);

	tt_out_open(o, json, pretty);
	*status = tpctl_finish(&o->ctx, tpctl_run(&o->ctx, n, tt_words));
	fclose(o->f);
	o->f = NULL;
	return o->buf;
}

static void test_cmd_cycle(void **state)
{
	struct tt_out o;
	int status;
	yajl_val v;

	/* help and version: null and an object in JSON, text otherwise */
	assert_string_equal(tt_cmd(&o, true, false, "help", &status), "null\n");
	assert_int_equal(status, 0);
	tt_out_close(&o);
	assert_string_equal(tt_cmd(&o, true, false, "policy help", &status),
			    "null\n");
	tt_out_close(&o);
	assert_non_null(
		strstr(tt_cmd(&o, false, false, "service help", &status),
		       "Usage: tpctl service add VIP:PORT/PROTO"));
	assert_int_equal(status, 0);
	tt_out_close(&o);
	v = tt_json(tt_cmd(&o, true, false, "version", &status));
	assert_string_equal(tt_jstr(v, "version"), TPCTL_VERSION);
	yajl_tree_free(v);
	tt_out_close(&o);

	/* errors: a JSON document on the output, non-zero status */
	v = tt_json(tt_cmd(&o, true, false, "service add 198.19.0.300:80/tcp",
			   &status));
	assert_int_equal(status, 1);
	assert_string_equal(
		tt_jstr(v, "error"),
		"bad address '198.19.0.300:80/tcp': expected ADDR:PORT/PROTO");
	yajl_tree_free(v);
	tt_out_close(&o);
	v = tt_json(tt_cmd(&o, false, true, "nat static add 1.2.3.4 fd00::1",
			   &status));
	assert_int_equal(status, 1);
	assert_string_equal(
		tt_jstr(v, "error"),
		"1.2.3.4 and fd00::1 are of different address families: static NAT keeps the family");
	yajl_tree_free(v);
	tt_out_close(&o);

	/* no pins: what is wrong and how to fix it */
	v = tt_json(tt_cmd(&o, true, false, "service list", &status));
	assert_int_equal(status, 1);
	assert_string_equal(
		tt_jstr(v, "error"),
		"no tailplane maps pinned: /nonexistent-tpctl-test does not exist; start tailplaned, or give the right --pin-root");
	yajl_tree_free(v);
	tt_out_close(&o);

	/* plain errors go to stderr, nothing to the output */
	assert_string_equal(tt_cmd(&o, false, false, "service frob", &status),
			    "");
	assert_int_equal(status, 1);
	tt_out_close(&o);
}

static void test_batch_split(void **state)
{
	char line[256], *w[8];

	snprintf(line, sizeof(line),
		 "  service add 198.19.0.10:80/tcp  # a comment\n");
	assert_int_equal(tpctl_batch_split(line, w, 8), 3);
	assert_string_equal(w[0], "service");
	assert_string_equal(w[2], "198.19.0.10:80/tcp");
	snprintf(line, sizeof(line),
		 "identity add 10.0.0.0/8 256 name 'a b' \"c\"d\r\n");
	assert_int_equal(tpctl_batch_split(line, w, 8), 7);
	assert_string_equal(w[5], "a b");
	assert_string_equal(w[6], "cd");
	snprintf(line, sizeof(line), "stats#reset");
	assert_int_equal(tpctl_batch_split(line, w, 8), 1);
	assert_string_equal(w[0], "stats");
	snprintf(line, sizeof(line), "   # only a comment");
	assert_int_equal(tpctl_batch_split(line, w, 8), 0);
	snprintf(line, sizeof(line), "\n");
	assert_int_equal(tpctl_batch_split(line, w, 8), 0);
	snprintf(line, sizeof(line), "name 'unterminated");
	assert_int_equal(tpctl_batch_split(line, w, 8), -1);
	snprintf(line, sizeof(line), "a b c d");
	assert_int_equal(tpctl_batch_split(line, w, 3), -1);
}

/*
 * A batch's error says which line failed and how many commands before it
 * were applied; a line whose own message filled the error (a long word
 * quoted back) cut that off (make fuzz).  The line's message is cut
 * instead.
 */
static void test_batch_error_keeps_applied(void **state)
{
	char path[] = "/tmp/tpctl-batch-XXXXXX", *want;
	struct tpctl_args a = { 0 };
	struct tt_out o;
	FILE *f;
	int fd, ret, i;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("version\nservice add 198.19.0.10:80/tcp zone ", f);
	for (i = 0; i < 600; i++)
		fputc('x', f);
	fputc('\n', f);
	fclose(f);
	a.file = path;
	tt_out_open(&o, false, false);
	ret = tpctl_batch(&o.ctx, &a);
	unlink(path);
	assert_int_equal(ret, -1);
	assert_int_equal(strncmp(o.ctx.err, "line 2: bad zone 'xxx", 21), 0);
	want = "(the batch stopped there; the 1 command before it was applied)";
	if (strlen(o.ctx.err) < strlen(want) ||
	    strcmp(o.ctx.err + strlen(o.ctx.err) - strlen(want), want))
		fail_msg("error '%s' does not end with '%s'", o.ctx.err, want);
	tt_out_close(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_word_prefix),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_parse_objects),
		cmocka_unit_test(test_parse_help),
		cmocka_unit_test(test_parse_help_option),
		cmocka_unit_test(test_parse_service),
		cmocka_unit_test(test_parse_backend),
		cmocka_unit_test(test_parse_identity),
		cmocka_unit_test(test_parse_policy),
		cmocka_unit_test(test_parse_conntrack),
		cmocka_unit_test(test_parse_nat),
		cmocka_unit_test(test_parse_monitor),
		cmocka_unit_test(test_parse_guard),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_op_writes),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_svc_key_roundtrip),
		cmocka_unit_test(test_prefix_contains),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_render_services),
		cmocka_unit_test(test_render_identities),
		cmocka_unit_test(test_render_policy),
		cmocka_unit_test(test_render_conntrack),
		cmocka_unit_test(test_render_stats),
		cmocka_unit_test(test_render_maps),
		cmocka_unit_test(test_render_event),
		cmocka_unit_test(test_json_strings),
		cmocka_unit_test(test_json_misuse),
		cmocka_unit_test(test_cmd_cycle),
		cmocka_unit_test(test_batch_split),
		cmocka_unit_test(test_batch_error_keeps_applied),
	};

	return cmocka_run_group_tests_name("tpctl_parse", tests, NULL, NULL);
}
