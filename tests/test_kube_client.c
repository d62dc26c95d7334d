// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the Kubernetes client's pure parts (loader/kube_client.c):
 * kubeconfig reading, connection resolution (config, kubeconfig,
 * in-cluster with a temporary service-account directory and environment),
 * URL building and escaping, and the backoff's bounds.  No network.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube.h"

/* A temporary directory per test, removed with what the test wrote. */
struct tmp {
	char dir[64];
	char path[8][128];
	int n;
};

static const char *tmp_file(struct tmp *t, const char *name, const char *text)
{
	char *p = t->path[t->n++], dir[sizeof(t->dir)];
	FILE *f;

	memcpy(dir, t->dir, sizeof(dir));
	snprintf(p, sizeof(t->path[0]), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	strcpy(t->dir, "/tmp/tp-kclient-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	*state = t;
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	int i;

	for (i = 0; i < t->n; i++)
		unlink(t->path[i]);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* base64 of "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n" */
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRFU1QKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
#define CA_PEM "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n"

/* As kind and kubectl write it: two clusters, contexts and users. */
static const char kubeconfig_kind[] =
	"apiVersion: v1\n"
	"clusters:\n"
	"- cluster:\n"
	"    certificate-authority-data: " CA_B64 "\n"
	"    server: https://127.0.0.1:39421\n"
	"  name: kind-kind\n"
	"- cluster:\n"
	"    certificate-authority: ca/other.crt\n"
	"    server: \"https://[fd00::1]:6443/\"\n"
	"  name: other\n"
	"contexts:\n"
	"- context:\n"
	"    cluster: kind-kind\n"
	"    user: kind-kind\n"
	"  name: kind-kind\n"
	"- context:\n"
	"    cluster: other\n"
	"    namespace: web\n"
	"    user: 'robot'\n"
	"  name: other\n"
	"current-context: kind-kind   # the one in use\n"
	"kind: Config\n"
	"preferences: {}\n"
	"users:\n"
	"- name: kind-kind\n"
	"  user:\n"
	"    token: abc.def-ghi\n"
	"- name: robot\n"
	"  user:\n"
	"    tokenFile: tokens/robot\n"
	"- name: certs\n"
	"  user:\n"
	"    client-certificate-data: AAAA\n"
	"    client-key-data: BBBB\n";

static void test_kubeconfig_kind(void **state)
{
	struct tmp *t = *state;
	const char *path = tmp_file(t, "config", kubeconfig_kind);
	struct tpd_kube_conn conn = { 0 };
	char err[256] = "";

	assert_int_equal(tpd_kube_kubeconfig_read(path, &conn, err, sizeof(err)), 0);
	assert_string_equal(conn.server, "https://127.0.0.1:39421");
	assert_string_equal(conn.origin, "kubeconfig");
	assert_string_equal(conn.token, "abc.def-ghi");
	assert_null(conn.token_file);
	assert_null(conn.ca_file);
	assert_int_equal(conn.ca_len, strlen(CA_PEM));
	assert_memory_equal(conn.ca_data, CA_PEM, conn.ca_len);
	tpd_kube_conn_free(&conn);
}

/* The other context: quoted server, relative CA and token paths. */
static void test_kubeconfig_relative(void **state)
{
	struct tmp *t = *state;
	char *text = strdup(kubeconfig_kind), *at, want[192];
	struct tpd_kube_conn conn = { 0 };
	char err[256] = "";
	const char *path;

	at = strstr(text, "current-context: kind-kind");
	memcpy(at, "current-context: other    ", 26);
	path = tmp_file(t, "config", text);
	free(text);
	assert_int_equal(tpd_kube_kubeconfig_read(path, &conn, err, sizeof(err)), 0);
	assert_string_equal(conn.server, "https://[fd00::1]:6443/");
	snprintf(want, sizeof(want), "%s/ca/other.crt", t->dir);
	assert_string_equal(conn.ca_file, want);
	snprintf(want, sizeof(want), "%s/tokens/robot", t->dir);
	assert_string_equal(conn.token_file, want);
	assert_null(conn.token);
	tpd_kube_conn_free(&conn);
}

/* Fields already set are kept. */
static void test_kubeconfig_fills_only_empty(void **state)
{
	struct tmp *t = *state;
	const char *path = tmp_file(t, "config", kubeconfig_kind);
	struct tpd_kube_conn conn = { 0 };
	char err[256] = "";

	conn.server = strdup("https://api.example:443");
	conn.ca_file = strdup("/etc/ca.crt");
	assert_int_equal(tpd_kube_kubeconfig_read(path, &conn, err, sizeof(err)), 0);
	assert_string_equal(conn.server, "https://api.example:443");
	assert_string_equal(conn.ca_file, "/etc/ca.crt");
	assert_null(conn.ca_data);
	assert_string_equal(conn.token, "abc.def-ghi");
	tpd_kube_conn_free(&conn);
}

static void test_kubeconfig_errors(void **state)
{
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{ "clusters: []\n", "no current-context" },
		{ "current-context: x\ncontexts:\n- context:\n    cluster: c\n  name: y\n",
		  "context \"x\" not found" },
		{ "current-context: x\ncontexts:\n- context:\n    cluster: c\n    user: u\n  name: x\n",
		  "cluster \"c\" of context \"x\" not found" },
		{ "current-context: x\ncontexts:\n- context:\n    cluster: c\n    user: u\n  name: x\n"
		  "clusters:\n- cluster:\n    server: https://a\n  name: c\n",
		  "user \"u\" of context \"x\" not found" },
		{ "current-context: x\ncontexts:\n- context:\n    cluster: c\n    user: u\n  name: x\n"
		  "clusters:\n- cluster:\n    server: https://a\n  name: c\nusers:\n- name: u\n  user:\n"
		  "    client-certificate-data: AA\n",
		  "user \"u\" has neither token nor tokenFile" },
		{ "current-context: x\ncontexts:\n- context:\n    cluster: c\n  name: x\n"
		  "clusters:\n- cluster:\n    insecure-skip-tls-verify: true\n  name: c\n",
		  "cluster \"c\" has no server" },
		{ "current-context: x\ncontexts:\n- context:\n    cluster: c\n  name: x\n"
		  "clusters:\n- cluster:\n    server: https://a\n    certificate-authority-data: %%%\n  name: c\n",
		  "not base64" },
		{ "current-context: \"x\n", "unterminated quoted value" },
	};
	struct tmp *t = *state;
	struct tpd_kube_conn conn = { 0 };
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = tmp_file(t, "config", cases[i].text);

		t->n--; /* the same path each time */
		err[0] = '\0';
		assert_int_not_equal(tpd_kube_kubeconfig_read(path, &conn, err, sizeof(err)), 0);
		if (!strstr(err, cases[i].err) || !strstr(err, path))
			fail_msg("case %zu: \"%s\", want \"%s\"", i, err, cases[i].err);
		tpd_kube_conn_free(&conn);
	}
	t->n++;
	assert_int_equal(tpd_kube_kubeconfig_read("/nonexistent/kubeconfig", &conn, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/kubeconfig"));
}

/* In cluster: the environment and the service account's files. */
static void test_in_cluster(void **state)
{
	struct tmp *t = *state;
	struct tpd_kube_cfg cfg = { .enabled = true };
	struct tpd_kube_conn conn;
	char err[256] = "", want[192];

	tmp_file(t, "token", "eyJhbGciOi.token\n");
	tmp_file(t, "ca.crt", CA_PEM);

	assert_int_equal(tpd_kube_conn_resolve(&cfg, t->dir, &conn, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST is not set"));

	setenv("KUBERNETES_SERVICE_HOST", "198.19.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(tpd_kube_conn_resolve(&cfg, t->dir, &conn, err, sizeof(err)), 0);
	assert_string_equal(conn.server, "https://198.19.0.1:443");
	assert_string_equal(conn.origin, "in-cluster");
	snprintf(want, sizeof(want), "%s/token", t->dir);
	assert_string_equal(conn.token_file, want);
	snprintf(want, sizeof(want), "%s/ca.crt", t->dir);
	assert_string_equal(conn.ca_file, want);
	tpd_kube_conn_free(&conn);

	/* an IPv6 host goes in brackets */
	setenv("KUBERNETES_SERVICE_HOST", "fd00:198:19::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	assert_int_equal(tpd_kube_conn_resolve(&cfg, t->dir, &conn, err, sizeof(err)), 0);
	assert_string_equal(conn.server, "https://[fd00:198:19::1]:6443");
	tpd_kube_conn_free(&conn);

	setenv("KUBERNETES_SERVICE_PORT", "64x3", 1);
	assert_int_equal(tpd_kube_conn_resolve(&cfg, t->dir, &conn, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_PORT"));
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);

	/* in cluster without the service account's token: a clear error */
	assert_int_equal(tpd_kube_conn_resolve(&cfg, "/nonexistent-sa", &conn, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "token file /nonexistent-sa/token"));
}

/* The config's fields win; the kubeconfig fills the rest. */
static void test_resolve_config_and_kubeconfig(void **state)
{
	struct tmp *t = *state;
	const char *tok = tmp_file(t, "mytoken", "x\n");
	const char *ca = tmp_file(t, "myca.crt", CA_PEM);
	const char *kc = tmp_file(t, "config", kubeconfig_kind);
	struct tpd_kube_cfg cfg = { .enabled = true };
	struct tpd_kube_conn conn;
	char err[256] = "";

	cfg.server = "https://api.example:6443///";
	cfg.token_file = (char *)tok;
	cfg.ca_file = (char *)ca;
	cfg.kubeconfig = (char *)kc;
	assert_int_equal(tpd_kube_conn_resolve(&cfg, "/nonexistent-sa", &conn, err, sizeof(err)), 0);
	assert_string_equal(conn.server, "https://api.example:6443");
	assert_string_equal(conn.origin, "config");
	assert_string_equal(conn.token_file, tok);
	assert_null(conn.token);
	assert_string_equal(conn.ca_file, ca);
	assert_null(conn.ca_data);
	tpd_kube_conn_free(&conn);

	cfg.server = "";
	cfg.token_file = "";
	assert_int_equal(tpd_kube_conn_resolve(&cfg, "/nonexistent-sa", &conn, err, sizeof(err)), 0);
	assert_string_equal(conn.server, "https://127.0.0.1:39421");
	assert_string_equal(conn.token, "abc.def-ghi");
	assert_string_equal(conn.ca_file, ca);
	tpd_kube_conn_free(&conn);

	/* plain http is refused: TLS is always on */
	cfg.server = "http://api.example:8080";
	assert_int_equal(tpd_kube_conn_resolve(&cfg, "/nonexistent-sa", &conn, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not https://"));

	/* an unreadable CA */
	cfg.server = "https://api.example";
	cfg.ca_file = "/nonexistent/ca.crt";
	assert_int_equal(tpd_kube_conn_resolve(&cfg, "/nonexistent-sa", &conn, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "CA file /nonexistent/ca.crt"));
}

static void test_urls(void **state)
{
	/* a real continue token: base64 with '=', and '/' and '+' */
	static const char cont[] =
		"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTMwMH0=/+";
	char *u;

	u = tpd_kube_url("https://a:6443", TPD_KUBE_SERVICE, false, NULL, NULL, 500, 0);
	assert_string_equal(u, "https://a:6443/api/v1/services?limit=500");
	free(u);
	u = tpd_kube_url("https://a:6443", TPD_KUBE_ENDPOINTSLICE, false, "5", cont, 100, 0);
	assert_string_equal(u, "https://a:6443/apis/discovery.k8s.io/v1/endpointslices?limit=100"
			       "&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTMwMH0%3D%2F%2B");
	free(u);
	u = tpd_kube_url("https://a:6443", TPD_KUBE_POD, true, "12345", NULL, 0, 300);
	assert_string_equal(u, "https://a:6443/api/v1/pods?watch=1&allowWatchBookmarks=true"
			       "&resourceVersion=12345&timeoutSeconds=300");
	free(u);
	u = tpd_kube_url("https://a", TPD_KUBE_NAMESPACE, true, "a b&c", NULL, 0, 60);
	assert_string_equal(u, "https://a/api/v1/namespaces?watch=1&allowWatchBookmarks=true"
			       "&resourceVersion=a%20b%26c&timeoutSeconds=60");
	free(u);
	u = tpd_kube_url("https://a", TPD_KUBE_NETPOL, false, NULL, "", 1, 0);
	assert_string_equal(u, "https://a/apis/networking.k8s.io/v1/networkpolicies?limit=1");
	free(u);
	assert_null(tpd_kube_url("https://a", TPD_KUBE_KIND_MAX, false, NULL, NULL, 1, 0));
}

static void test_backoff_bounds(void **state)
{
	unsigned int seed = (unsigned int)time(NULL), a, i;
	unsigned long ms, ceil;

	print_message("backoff seed %u\n", seed);
	srandom(seed);
	for (a = 0; a < 40; a++) {
		ceil = a >= 20 ? 30000 : 250UL << a;
		ceil = ceil > 30000 ? 30000 : ceil;
		for (i = 0; i < 1000; i++) {
			ms = tpd_kube_backoff_ms(a, 30, ((unsigned long)random() << 31) ^ (unsigned long)random());
			assert_true(ms <= ceil);
		}
		/* the extremes of the random number */
		assert_int_equal(tpd_kube_backoff_ms(a, 30, ceil), ceil);
		assert_int_equal(tpd_kube_backoff_ms(a, 30, 0), 0);
		assert_true(tpd_kube_backoff_ms(a, 30, ULONG_MAX) <= ceil);
	}
	/* the cap, and a cap of 0 taken as 1 s */
	assert_int_equal(tpd_kube_backoff_ms(30, 5, 5000), 5000);
	assert_int_equal(tpd_kube_backoff_ms(30, 0, 1000), 1000);
	assert_true(tpd_kube_backoff_ms(30, 0, ULONG_MAX) <= 1000);
	/* the first retries stay short */
	assert_true(tpd_kube_backoff_ms(0, 30, ULONG_MAX) <= 250);
	assert_true(tpd_kube_backoff_ms(2, 30, ULONG_MAX) <= 1000);
}

/* Bad settings fail tpd_kube_client_start() with a clear error, no thread. */
static void test_start_errors(void **state)
{
	static void (*const nop_begin)(void *, enum tpd_kube_kind) = NULL;
	struct tpd_kube_cfg cfg = { .enabled = true, .server = "http://x" };
	struct tpd_kube_sink sink = { .list_begin = nop_begin };
	struct tpd_kube_client *c = (void *)1;
	char err[256] = "";

	assert_int_not_equal(tpd_kube_client_start(&cfg, &sink, &c, err, sizeof(err)), 0);
	assert_null(c);
	assert_non_null(strstr(err, "sink"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kubeconfig_kind, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_relative, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_fills_only_empty, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_errors, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_in_cluster, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_resolve_config_and_kubeconfig, tmp_setup,
						tmp_teardown),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_start_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
