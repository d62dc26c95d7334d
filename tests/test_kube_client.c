// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the Kubernetes client's pure parts (loader/kube_client.c):
 * kubeconfig reading, connection resolution (config, kubeconfig,
 * in-cluster with a temporary service-account directory and environment),
 * URL building and escaping, and the backoff's bounds; then the client's
 * state machine against a scripted HTTPS server on 127.0.0.1
 * (tests/fixtures/kube/mini_apiserver.py, python3; skipped without it).
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
#define CA_B64 \
	"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRFU1QKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
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

	assert_int_equal(
		tpd_kube_kubeconfig_read(path, &conn, err, sizeof(err)), 0);
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
	assert_int_equal(
		tpd_kube_kubeconfig_read(path, &conn, err, sizeof(err)), 0);
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
	assert_int_equal(
		tpd_kube_kubeconfig_read(path, &conn, err, sizeof(err)), 0);
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
		assert_int_not_equal(
			tpd_kube_kubeconfig_read(path, &conn, err, sizeof(err)),
			0);
		if (!strstr(err, cases[i].err) || !strstr(err, path))
			fail_msg("case %zu: \"%s\", want \"%s\"", i, err,
				 cases[i].err);
		tpd_kube_conn_free(&conn);
	}
	t->n++;
	assert_int_equal(tpd_kube_kubeconfig_read("/nonexistent/kubeconfig",
						  &conn, err, sizeof(err)),
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

	assert_int_equal(
		tpd_kube_conn_resolve(&cfg, t->dir, &conn, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST is not set"));

	setenv("KUBERNETES_SERVICE_HOST", "198.19.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(
		tpd_kube_conn_resolve(&cfg, t->dir, &conn, err, sizeof(err)),
		0);
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
	assert_int_equal(
		tpd_kube_conn_resolve(&cfg, t->dir, &conn, err, sizeof(err)),
		0);
	assert_string_equal(conn.server, "https://[fd00:198:19::1]:6443");
	tpd_kube_conn_free(&conn);

	setenv("KUBERNETES_SERVICE_PORT", "64x3", 1);
	assert_int_equal(
		tpd_kube_conn_resolve(&cfg, t->dir, &conn, err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_PORT"));
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);

	/* in cluster without the service account's token: a clear error */
	assert_int_equal(tpd_kube_conn_resolve(&cfg, "/nonexistent-sa", &conn,
					       err, sizeof(err)),
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
	assert_int_equal(tpd_kube_conn_resolve(&cfg, "/nonexistent-sa", &conn,
					       err, sizeof(err)),
			 0);
	assert_string_equal(conn.server, "https://api.example:6443");
	assert_string_equal(conn.origin, "config");
	assert_string_equal(conn.token_file, tok);
	assert_null(conn.token);
	assert_string_equal(conn.ca_file, ca);
	assert_null(conn.ca_data);
	tpd_kube_conn_free(&conn);

	cfg.server = "";
	cfg.token_file = "";
	assert_int_equal(tpd_kube_conn_resolve(&cfg, "/nonexistent-sa", &conn,
					       err, sizeof(err)),
			 0);
	assert_string_equal(conn.server, "https://127.0.0.1:39421");
	assert_string_equal(conn.token, "abc.def-ghi");
	assert_string_equal(conn.ca_file, ca);
	tpd_kube_conn_free(&conn);

	/* plain http is refused: TLS is always on */
	cfg.server = "http://api.example:8080";
	assert_int_equal(tpd_kube_conn_resolve(&cfg, "/nonexistent-sa", &conn,
					       err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not https://"));

	/* an unreadable CA */
	cfg.server = "https://api.example";
	cfg.ca_file = "/nonexistent/ca.crt";
	assert_int_equal(tpd_kube_conn_resolve(&cfg, "/nonexistent-sa", &conn,
					       err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "CA file /nonexistent/ca.crt"));
}

static void test_urls(void **state)
{
	/* a real continue token: base64 with '=', and '/' and '+' */
	static const char cont[] =
		"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTMwMH0=/+";
	char *u;

	u = tpd_kube_url("https://a:6443", TPD_KUBE_SERVICE, false, NULL, NULL,
			 500, 0);
	assert_string_equal(u, "https://a:6443/api/v1/services?limit=500");
	free(u);
	u = tpd_kube_url("https://a:6443", TPD_KUBE_ENDPOINTSLICE, false, "5",
			 cont, 100, 0);
	assert_string_equal(
		u,
		"https://a:6443/apis/discovery.k8s.io/v1/endpointslices?limit=100"
		"&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTMwMH0%3D%2F%2B");
	free(u);
	u = tpd_kube_url("https://a:6443", TPD_KUBE_POD, true, "12345", NULL, 0,
			 300);
	assert_string_equal(
		u, "https://a:6443/api/v1/pods?watch=1&allowWatchBookmarks=true"
		   "&resourceVersion=12345&timeoutSeconds=300");
	free(u);
	u = tpd_kube_url("https://a", TPD_KUBE_NAMESPACE, true, "a b&c", NULL,
			 0, 60);
	assert_string_equal(
		u,
		"https://a/api/v1/namespaces?watch=1&allowWatchBookmarks=true"
		"&resourceVersion=a%20b%26c&timeoutSeconds=60");
	free(u);
	u = tpd_kube_url("https://a", TPD_KUBE_NETPOL, false, NULL, "", 1, 0);
	assert_string_equal(
		u,
		"https://a/apis/networking.k8s.io/v1/networkpolicies?limit=1");
	free(u);
	assert_null(tpd_kube_url("https://a", TPD_KUBE_KIND_MAX, false, NULL,
				 NULL, 1, 0));
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
			ms = tpd_kube_backoff_ms(
				a, 30,
				((unsigned long)random() << 31) ^
					(unsigned long)random());
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

	assert_int_not_equal(
		tpd_kube_client_start(&cfg, &sink, &c, err, sizeof(err)), 0);
	assert_null(c);
	assert_non_null(strstr(err, "sink"));
}

/* ---- the client against a scripted server ---------------------------------- */

/* What the sink saw, one line a call, for the whole run. */
struct rec {
	pthread_mutex_t lock;
	char text[16384];
	size_t len;
	int synced;
	int list_ends_ok[TPD_KUBE_KIND_MAX];
};

__attribute__((format(printf, 2, 3))) static void rec_add(struct rec *r,
							  const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->lock);
	va_start(ap, fmt);
	if (r->len < sizeof(r->text))
		r->len += (size_t)vsnprintf(r->text + r->len,
					    sizeof(r->text) - r->len, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&r->lock);
}

static void rec_list_begin(void *ctx, enum tpd_kube_kind k)
{
	rec_add(ctx, "%s begin\n", tpd_kube_kind_name(k));
}

static void rec_object(void *ctx, enum tpd_kube_event ev,
		       struct tpd_kube_object *o)
{
	rec_add(ctx, "%s ev%d %s\n", tpd_kube_kind_name(o->kind), (int)ev,
		o->meta.name);
	tpd_kube_object_free(o);
}

static void rec_list_end(void *ctx, enum tpd_kube_kind k, bool complete)
{
	struct rec *r = ctx;

	rec_add(r, "%s end %d\n", tpd_kube_kind_name(k), complete);
	pthread_mutex_lock(&r->lock);
	r->list_ends_ok[k] += complete;
	pthread_mutex_unlock(&r->lock);
}

static void rec_synced(void *ctx)
{
	struct rec *r = ctx;
	int i;

	rec_add(r, "synced\n");
	pthread_mutex_lock(&r->lock);
	r->synced++;
	for (i = 0; i < TPD_KUBE_KIND_MAX; i++)
		assert_true(r->list_ends_ok[i] >=
			    1); /* every kind listed first */
	pthread_mutex_unlock(&r->lock);
}

/* The Service lines of what the sink saw. */
static void rec_lines(struct rec *r, const char *prefix, char *out,
		      size_t outlen)
{
	char *copy, *line, *save = NULL;
	size_t off = 0;

	pthread_mutex_lock(&r->lock);
	copy = strndup(r->text, r->len);
	pthread_mutex_unlock(&r->lock);
	assert_non_null(copy);
	out[0] = '\0';
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, prefix, strlen(prefix)) && off < outlen)
			off += (size_t)snprintf(out + off, outlen - off, "%s\n",
						line);
	}
	free(copy);
}

/* Synced, and the services listed twice (the 410's re-list)? */
static bool rec_relisted(struct rec *r)
{
	bool done;

	pthread_mutex_lock(&r->lock);
	done = r->synced && r->list_ends_ok[TPD_KUBE_SERVICE] >= 2;
	pthread_mutex_unlock(&r->lock);
	return done;
}

/* tests/fixtures/kube, found as read_fixture() finds fixtures. */
static const char *kube_fixtures(char *buf, size_t len)
{
	const char *env = getenv("TP_FIXTURES");
	char exe[PATH_MAX];
	ssize_t n;

	if (env) {
		snprintf(buf, len, "%s/kube", env);
		return buf;
	}
	if (!access("tests/fixtures/kube/mini_apiserver.py", R_OK))
		return "tests/fixtures/kube";
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(buf, len, "%s/../../tests/fixtures/kube", dirname(exe));
	return buf;
}

/*
 * Start the scripted server; its port, or 0 when python3 cannot run it.
 * *@out is its stdout, kept open until it is stopped (a print to a closed
 * pipe would kill it).
 */
static int server_start(const char *dir, const char *log, pid_t *pid, int *out)
{
	char script[PATH_MAX + 32], line[64] = "";
	struct pollfd pfd;
	int fds[2], port = 0;
	size_t len = 0;
	ssize_t n;

	snprintf(script, sizeof(script), "%s/mini_apiserver.py", dir);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (!*pid) {
		dup2(fds[1], 1);
		execlp("python3", "python3", script, log, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	while (!strchr(line, '\n') && len < sizeof(line) - 1 &&
	       poll(&pfd, 1, 20000) == 1) {
		n = read(fds[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
	}
	sscanf(line, "ready %d", &port);
	*out = fds[0];
	if (!port) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
		close(fds[0]);
	}
	return port;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait up to @secs for @cond; false on timeout. */
#define WAIT_FOR(cond, secs)                       \
	({                                         \
		double _end = mono_s() + (secs);   \
		while (!(cond) && mono_s() < _end) \
			usleep(10000);             \
		(cond);                            \
	})

static bool log_has(const char *path, const char *needle)
{
	size_t len;
	FILE *f = fopen(path, "r");
	char buf[65536];
	bool found;

	if (!f)
		return false;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	found = strstr(buf, needle);
	return found;
}

static bool rec_has(struct rec *r, const char *needle)
{
	bool found;

	pthread_mutex_lock(&r->lock);
	r->text[r->len < sizeof(r->text) ? r->len : sizeof(r->text) - 1] = '\0';
	found = strstr(r->text, needle);
	pthread_mutex_unlock(&r->lock);
	return found;
}

static void test_client_scripted_server(void **state)
{
	struct tmp *t = *state;
	struct rec *r = calloc(1, sizeof(*r));
	struct tpd_kube_sink sink = { rec_list_begin, rec_object, rec_list_end,
				      rec_synced, r };
	struct tpd_kube_cfg cfg = { .enabled = true,
				    .watch_timeout = 1,
				    .page_limit = 1,
				    .backoff_max = 1 };
	struct tpd_kube_client *c = NULL;
	char dirbuf[PATH_MAX], server[64], ca[PATH_MAX + 16], logpath[128],
		lines[2048];
	char err[256] = "", tokpath[128];
	const char *dir = kube_fixtures(dirbuf, sizeof(dirbuf));
	struct tpd_kube_stats st;
	double t0;
	pid_t pid;
	int port, out;

	assert_non_null(r);
	pthread_mutex_init(&r->lock, NULL);
	snprintf(logpath, sizeof(logpath), "%s",
		 tmp_file(t, "requests.log", ""));
	snprintf(tokpath, sizeof(tokpath), "%s",
		 tmp_file(t, "token", "tokA\n"));
	port = server_start(dir, logpath, &pid, &out);
	if (!port) {
		free(r);
		skip(); /* python3 missing */
	}
	snprintf(server, sizeof(server), "https://127.0.0.1:%d", port);
	snprintf(ca, sizeof(ca), "%s/test-ca.crt", dir);
	cfg.server = server;
	cfg.ca_file = ca;
	cfg.token_file = tokpath;

	t0 = mono_s();
	assert_int_equal(
		tpd_kube_client_start(&cfg, &sink, &c, err, sizeof(err)), 0);
	/* listed, watched, 410, listed again; the pods' list retried */
	assert_true(WAIT_FOR(rec_relisted(r), 20));
	print_message(
		"scripted server: synced and re-listed after the 410 in %.2f s\n",
		mono_s() - t0);

	/* the token rotates: the next requests carry the new one */
	tmp_file(t, "token.new", "tokB\n");
	t->n--;
	snprintf(dirbuf, sizeof(dirbuf), "%s.new", tokpath);
	assert_int_equal(rename(dirbuf, tokpath), 0);
	assert_true(WAIT_FOR(log_has(logpath, " tokB "), 10));

	t0 = mono_s();
	tpd_kube_client_stats(c, &st);
	tpd_kube_client_stop(c);
	print_message("scripted server: stopped in %.3f s\n", mono_s() - t0);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	close(out);

	rec_lines(r, "Service", lines, sizeof(lines));
	assert_string_equal(lines, "Service begin\n"
				   "Service ev0 a\n"
				   "Service ev0 b\n"
				   "Service end 1\n"
				   "Service ev0 c\n"
				   "Service begin\n"
				   "Service ev0 a\n"
				   "Service ev0 b\n"
				   "Service end 1\n");
	rec_lines(r, "Pod", lines, sizeof(lines));
	assert_string_equal(lines,
			    "Pod begin\nPod end 0\nPod begin\nPod end 1\n");
	assert_int_equal(r->synced, 1);
	assert_true(rec_has(r, "Namespace end 1\n"));
	assert_true(rec_has(r, "NetworkPolicy end 1\n"));
	/* a 410 on a continue token: the list starts over */
	rec_lines(r, "EndpointSlice", lines, sizeof(lines));
	assert_string_equal(lines,
			    "EndpointSlice begin\nEndpointSlice end 0\n"
			    "EndpointSlice begin\nEndpointSlice end 1\n");

	/* the server's view: the continue token intact, the watch resumed
	 * from the bookmark's version, the token sent */
	assert_true(log_has(
		logpath,
		"/api/v1/services?limit=1&continue=c1%3D%2F%2B tokA page2"));
	assert_true(log_has(
		logpath, "resourceVersion=100&timeoutSeconds=1 tokA watch1"));
	assert_true(log_has(
		logpath, "resourceVersion=110&timeoutSeconds=1 tokA watch2"));
	assert_false(log_has(logpath, "bad-"));

	assert_int_equal(st.relists_410, 2);
	assert_int_equal(st.lists[TPD_KUBE_ENDPOINTSLICE], 2);
	assert_int_equal(st.lists[TPD_KUBE_SERVICE], 2);
	assert_int_equal(st.lists[TPD_KUBE_POD], 2);
	assert_true(st.errors >= 1); /* the pods' 500 */
	assert_true(st.events[TPD_KUBE_SERVICE] >= 1);
	assert_true(st.watches[TPD_KUBE_NAMESPACE] >= 1);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/*
 * The scripted server's traffic stays in a network namespace of the
 * test's own (its loopback) wherever the test may make one (root).
 */
static void private_netns(void)
{
	if (geteuid() == 0 && !unshare(CLONE_NEWNET) &&
	    system("ip link set lo up"))
		fprintf(stderr,
			"test_kube_client: cannot bring up lo in its namespace\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kubeconfig_kind, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_relative,
						tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(
			test_kubeconfig_fills_only_empty, tmp_setup,
			tmp_teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_errors,
						tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_in_cluster, tmp_setup,
						tmp_teardown),
		cmocka_unit_test_setup_teardown(
			test_resolve_config_and_kubeconfig, tmp_setup,
			tmp_teardown),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test_setup_teardown(test_client_scripted_server,
						tmp_setup, tmp_teardown),
	};

	private_netns();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
