// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Helpers shared by the peer-source tests; see peertest.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "peertest.h"

/**
 * peer_add_expected() - add peer @key with prefixes @cidrs[0..n) to @l.
 */
void peer_add_expected(struct tp_peer_list *l, const char *key,
		       const char *const *cidrs, size_t n)
{
	struct tp_peer *p = tpd_peer_list_add(l, key);
	struct tp_peer_prefix pp;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++) {
		assert_int_equal(tpd_peer_prefix_parse(cidrs[i], false, &pp),
				 0);
		assert_int_equal(tpd_peer_add_prefix(p, &pp.addr, pp.plen), 0);
	}
}

/** peer_expect_same() - two lists are the same peers, field by field. */
void peer_expect_same(const struct tp_peer_list *a,
		      const struct tp_peer_list *b)
{
	size_t i, j;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		const struct tp_peer *x = &a->v[i], *y = &b->v[i];

		assert_string_equal(x->key, y->key);
		assert_string_equal(x->name, y->name);
		assert_string_equal(x->user, y->user);
		assert_int_equal(x->n_tags, y->n_tags);
		for (j = 0; j < x->n_tags; j++)
			assert_string_equal(x->tags[j], y->tags[j]);
		check(x->n_prefixes == y->n_prefixes,
		      "peer %s: %zu prefixes, expected %zu", x->key,
		      x->n_prefixes, y->n_prefixes);
		for (j = 0; j < x->n_prefixes; j++) {
			assert_memory_equal(&x->prefixes[j].addr,
					    &y->prefixes[j].addr, 16);
			assert_int_equal(x->prefixes[j].plen,
					 y->prefixes[j].plen);
		}
	}
}

/* Append to a growing buffer, doubling it as needed. */
static void buf_printf(char **buf, size_t *len, size_t *cap, const char *fmt,
		       ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < *cap - *len)
			break;
		*cap *= 2;
		*buf = realloc(*buf, *cap);
		assert_non_null(*buf);
	}
	*len += (size_t)n;
}

/**
 * ts_status_generate() - a LocalAPI status of @n_peers peers, shaped like
 * tailscaled's (every field a peer has, about 1.3 KiB each): peer i is
 * "nodekey:<i as 64 hex digits>", host "host-<i>", addresses
 * 100.64.<i/256>.<i%256> and fd7a:115c:a1e0::<i>, tagged "tag:web" when
 * i is even, else user <i % 100> ("user<i%100>@example.com").
 * @n_peers: peers, at most 65536.
 * @len:     the document's length.
 *
 * Return: the document, NUL-terminated; free() it.
 */
char *ts_status_generate(size_t n_peers, size_t *len)
{
	size_t cap = 4096 + n_peers * 1536, i;
	char *buf = malloc(cap);

	assert_non_null(buf);
	*len = 0;
	buf_printf(
		&buf, len, &cap,
		"{\"Version\":\"1.80.3-t\",\"TUN\":true,\"BackendState\":\"Running\","
		"\"TailscaleIPs\":[\"100.127.0.1\",\"fd7a:115c:a1e0::ffff\"],"
		"\"Self\":{\"ID\":\"nSelf\",\"HostName\":\"self\",\"UserID\":1,"
		"\"TailscaleIPs\":[\"100.127.0.1\"]},\"Health\":[],"
		"\"MagicDNSSuffix\":\"tail0000.ts.net\",\"Peer\":{");
	for (i = 0; i < n_peers; i++) {
		buf_printf(
			&buf, len, &cap,
			"%s\"nodekey:%064zx\":{\"ID\":\"n%zuCNTRL\",\"PublicKey\":\"nodekey:%064zx\","
			"\"HostName\":\"host-%zu\",\"DNSName\":\"host-%zu.tail0000.ts.net.\","
			"\"OS\":\"linux\",\"UserID\":%zu,"
			"\"TailscaleIPs\":[\"100.64.%zu.%zu\",\"fd7a:115c:a1e0::%zx\"],"
			"\"AllowedIPs\":[\"100.64.%zu.%zu/32\",\"fd7a:115c:a1e0::%zx/128\"],"
			"\"Addrs\":[\"198.51.100.%zu:41641\",\"[2001:db8::%zx]:41641\"],"
			"\"CurAddr\":\"198.51.100.%zu:41641\",\"Relay\":\"fra\",\"RxBytes\":%zu,"
			"\"TxBytes\":%zu,\"Created\":\"2025-01-01T00:00:00.000000000Z\","
			"\"LastWrite\":\"2025-06-01T12:00:00.000000000Z\","
			"\"LastSeen\":\"2025-06-01T12:00:00Z\","
			"\"LastHandshake\":\"2025-06-01T11:59:00.000000000Z\",\"Online\":true,"
			"\"ExitNode\":false,\"ExitNodeOption\":false,\"Active\":%s,"
			"\"PeerAPIURL\":[\"http://100.64.%zu.%zu:36145\"],"
			"\"Capabilities\":[\"https://tailscale.com/cap/file-sharing\","
			"\"https://tailscale.com/cap/ssh\"],"
			"\"CapMap\":{\"https://tailscale.com/cap/file-sharing\":null,"
			"\"https://tailscale.com/cap/ssh\":null},"
			"\"Location\":{\"Country\":\"Germany\",\"CountryCode\":\"DE\","
			"\"City\":\"Frankfurt\",\"Priority\":%zu},"
			"\"Tags\":%s,\"PrimaryRoutes\":[],\"InNetworkMap\":true,"
			"\"InMagicSock\":true,\"InEngine\":true,\"KeyExpiry\":\"2026-01-01T00:00:00Z\"}",
			i ? "," : "", i, i, i, i, i,
			i % 2 ? 1000 + i % 100 : 999, i / 256, i % 256, i,
			i / 256, i % 256, i, i % 256, i, i % 256, i * 1000,
			i * 2000, i % 3 ? "true" : "false", i / 256, i % 256,
			i % 7, i % 2 ? "null" : "[\"tag:web\"]");
	}
	buf_printf(
		&buf, len, &cap,
		"},\"User\":{\"999\":{\"ID\":999,"
		"\"LoginName\":\"tagged-devices\",\"DisplayName\":\"Tagged Devices\"}");
	for (i = 0; i < 100; i++)
		buf_printf(
			&buf, len, &cap,
			",\"%zu\":{\"ID\":%zu,\"LoginName\":\"user%zu@example.com\","
			"\"DisplayName\":\"User %zu\",\"ProfilePicURL\":\"\"}",
			1000 + i, 1000 + i, i, i);
	buf_printf(&buf, len, &cap,
		   "},\"ClientVersion\":{\"RunningLatest\":true}}");
	return buf;
}

/**
 * ts_status_check() - @l is the canonical list of ts_status_generate(@n).
 * Spot checks: the count, and peers 0, 1 and n-1 in full.
 */
void ts_status_check(const struct tp_peer_list *l, size_t n)
{
	char key[TP_PEER_KEY_LEN], name[32], user[64];
	size_t idx[3] = { 0, 1, n - 1 }, k, i;
	const struct tp_peer *p;

	assert_int_equal(l->n, n);
	for (k = 0; k < 3; k++) {
		i = idx[k];
		snprintf(key, sizeof(key), "nodekey:%064zx", i);
		p = &l->v[i]; /* keys sort as the numbers do */
		assert_string_equal(p->key, key);
		snprintf(name, sizeof(name), "host-%zu", i);
		assert_string_equal(p->name, name);
		if (i % 2)
			snprintf(user, sizeof(user), "user%zu@example.com",
				 i % 100);
		else
			snprintf(user, sizeof(user), "tagged-devices");
		assert_string_equal(p->user, user);
		assert_int_equal(p->n_tags, i % 2 ? 0 : 1);
		assert_int_equal(p->n_prefixes, 2);
	}
}

/**
 * peer_run_cmd() - run a command (wg, ip) and take its output.
 * @out:  its stdout (and stderr, when @err), NUL-terminated and cut to
 *        @size; NULL to throw it away (it is read all the same, so the
 *        command never blocks on a full pipe).
 * @size: room at @out.
 * @err:  take stderr too.
 * @argv: the command, argv[0] a path.
 *
 * Return: its exit status, 127 when it could not be run, -1 when killed
 * or when no process could be made.
 */
int peer_run_cmd(char *out, size_t size, bool err, const char *const argv[])
{
	int pfd[2], status = -1;
	size_t len = 0;
	ssize_t n;
	char sink[512];
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (!pid) {
		dup2(pfd[1], STDOUT_FILENO);
		if (err)
			dup2(pfd[1], STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		if (out && len + 1 < size)
			n = read(pfd[0], out + len, size - len - 1);
		else
			n = read(pfd[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && len + 1 < size)
			len += (size_t)n;
	}
	if (out && size)
		out[len] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/**
 * peer_wg_pubkey() - the public half of a fresh WireGuard key pair (wg(8))
 * @out: where it goes, base64
 */
void peer_wg_pubkey(char out[TP_WG_KEY_B64_LEN + 1])
{
	char buf[128];
	FILE *f = popen(PEER_WG " genkey | " PEER_WG " pubkey", "r");

	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	assert_int_equal(pclose(f), 0);
	buf[strcspn(buf, "\n")] = '\0';
	assert_int_equal(strlen(buf), TP_WG_KEY_B64_LEN);
	strcpy(out, buf);
}

/**
 * peer_wg_private_key() - a fresh WireGuard private key in a 0600 file
 * @dir: the test's directory; the file is @dir/private.key
 * @path: where its path goes
 * @size: the size of @path
 */
void peer_wg_private_key(const char *dir, char *path, size_t size)
{
	const char *const argv[] = { PEER_WG, "genkey", NULL };
	char key[128];
	int fd;

	assert_int_equal(peer_run_cmd(key, sizeof(key), false, argv), 0);
	snprintf(path, size, "%s/private.key", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, key, strlen(key)), (ssize_t)strlen(key));
	close(fd);
}

/**
 * peer_expect_wg_show() - every peer and prefix `wg show @ifname
 * allowed-ips` lists is in @l, and no more (a dump read back)
 * @ifname: the WireGuard interface, in the caller's network namespace
 * @l: what the dump said
 */
void peer_expect_wg_show(const char *ifname, const struct tp_peer_list *l)
{
	const char *const argv[] = { PEER_WG, "show", ifname, "allowed-ips",
				     NULL };
	const size_t size = 1 << 20;
	char *out = malloc(size), *line, *save, *tok, *save2;
	struct tp_peer_prefix pp;
	size_t lines = 0, i, n;

	assert_non_null(out);
	assert_int_equal(peer_run_cmd(out, size, false, argv), 0);
	assert_true(strlen(out) + 1 < size);
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), lines++) {
		const struct tp_peer *p = NULL;

		tok = strtok_r(line, "\t", &save2);
		for (i = 0; tok && i < l->n; i++)
			if (!strcmp(l->v[i].key, tok))
				p = &l->v[i];
		check(p, "wg show lists peer %s, the dump does not", tok);
		n = 0;
		while ((tok = strtok_r(NULL, " \t", &save2)) &&
		       strcmp(tok, "(none)")) {
			assert_int_equal(tpd_peer_prefix_parse(tok, false, &pp),
					 0);
			for (i = 0; i < p->n_prefixes; i++)
				if (!memcmp(&p->prefixes[i].addr, &pp.addr,
					    16) &&
				    p->prefixes[i].plen == pp.plen)
					break;
			check(i < p->n_prefixes, "peer %s: %s missing", p->key,
			      tok);
			n++;
		}
		check(n == p->n_prefixes,
		      "peer %s: wg show has %zu prefixes, dump %zu", p->key, n,
		      p->n_prefixes);
	}
	assert_int_equal(lines, l->n);
	free(out);
}

/* "wg set" with @argv (NULL-terminated, after "wg set"), or fail. */
static void peer_wg_set(const char *const *argv)
{
	const char *full[24] = { PEER_WG, "set" };
	char out[1024];
	size_t i;

	for (i = 0; argv[i]; i++) {
		assert_true(i + 3 < ARRAY_SIZE(full));
		full[i + 2] = argv[i];
	}
	check(peer_run_cmd(out, sizeof(out), true, full) == 0, "wg set: %s",
	      out);
}

/* Canonicalize @want and check @got (then freed) against it and wg show. */
static void peer_expect_dump(const char *ifname, struct tp_peer_list *got,
			     struct tp_peer_list *want)
{
	assert_int_equal(tpd_peer_list_canonicalize(want), 0);
	peer_expect_same(got, want);
	peer_expect_wg_show(ifname, got);
	tpd_peer_list_free(got);
	tpd_peer_list_free(want);
}

/*
 * Three peers set with wg(8) on @ifname (private key file @priv, and
 * listen port 51820 when @listen_port), one with an endpoint, one with no
 * allowed IPs, read back with @dump; then one removed and one's allowed IPs
 * replaced, and read back again.  Each read must be what was set, and what
 * wg show says.
 */
void peer_check_set_and_dump(const char *ifname, const char *priv,
			     bool listen_port, peer_dump_fn *dump, void *ctx)
{
	static const char *const c1[] = { "100.64.10.1/32",
					  "fd7a:115c:a1e0:10::/64" };
	static const char *const c2[] = { "100.64.11.0/24",
					  "fd7a:115c:a1e0:11::5/128",
					  "100.64.12.0/22" };
	static const char *const replaced[] = { "100.64.10.0/24" };
	char k1[48], k2[48], k3[48], a1[128], a2[160];
	const char *const rest[] = {
		"private-key", priv, "peer",	    k1,
		"allowed-ips", a1,   "endpoint",    "198.18.0.2:51820",
		"peer",	       k2,   "allowed-ips", a2,
		"peer",	       k3,   NULL
	};
	const char *set[ARRAY_SIZE(rest) + 3] = { ifname };
	struct tp_peer_list got, want = {};
	size_t n = 1, i;

	peer_wg_pubkey(k1);
	peer_wg_pubkey(k2);
	peer_wg_pubkey(k3);
	snprintf(a1, sizeof(a1), "%s,%s", c1[0], c1[1]);
	snprintf(a2, sizeof(a2), "%s,%s,%s", c2[0], c2[1], c2[2]);
	if (listen_port) {
		set[n++] = "listen-port";
		set[n++] = "51820";
	}
	for (i = 0; i < ARRAY_SIZE(rest); i++)
		set[n++] = rest[i];
	peer_wg_set(set);
	dump(ctx, 0, &got);
	peer_add_expected(&want, k1, c1, ARRAY_SIZE(c1));
	peer_add_expected(&want, k2, c2, ARRAY_SIZE(c2));
	peer_add_expected(&want, k3, NULL, 0);
	peer_expect_dump(ifname, &got, &want);

	/* a peer removed, allowed IPs replaced */
	peer_wg_set((const char *const[]){ ifname, "peer", k3, "remove", "peer",
					   k1, "allowed-ips", replaced[0],
					   NULL });
	dump(ctx, 1, &got);
	peer_add_expected(&want, k1, replaced, ARRAY_SIZE(replaced));
	peer_add_expected(&want, k2, c2, ARRAY_SIZE(c2));
	peer_expect_dump(ifname, &got, &want);
}

/**
 * peer_measure_read() - run @read_peers(@ctx) once, timing it and the peak
 * resident size around it into @c, and check that the list it read holds
 * the @n peers ts_status_generate() made.
 */
void peer_measure_read(struct peer_cost *c, peer_read_fn *read_peers, void *ctx,
		       size_t n)
{
	struct tp_peer_list l = {};
	struct timespec t0, t1;
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	c->rss_before_kib = ru.ru_maxrss;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c->ret = read_peers(ctx, &l);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &ru);
	c->rss_peak_kib = ru.ru_maxrss;
	c->secs = (double)(t1.tv_sec - t0.tv_sec) +
		  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (!c->ret) {
		ts_status_check(&l, n);
		tpd_peer_list_free(&l);
	}
}

/* A cmocka assertion that fails in peer_in_child()'s child exits this. */
#define PEER_CHILD_FAILED 86

/*
 * The child's end of a failed cmocka assertion: with CMOCKA_TEST_ABORT
 * set, cmocka prints the failure and calls abort() instead of jumping back
 * into the test runner (which would go on to run the parent's remaining
 * tests in the child).
 */
static void peer_child_abort(int sig)
{
	(void)sig;
	_exit(PEER_CHILD_FAILED);
}

/* The child's side: @fn with cmocka's failures made its exit status. */
static void peer_child_run(void (*fn)(int out, void *arg), void *arg, int out,
			   int err_fd)
{
	setenv("CMOCKA_TEST_ABORT", "1", 1);
	signal(SIGABRT, peer_child_abort);
	fflush(stderr);
	if (dup2(err_fd, STDERR_FILENO) < 0)
		_exit(PEER_CHILD_FAILED);
	alarm(60);
	fn(out, arg);
	_exit(0);
}

/*
 * What the child wrote on stderr, from @fd (a temporary file): its last
 * @len - 1 bytes at most, in @buf.
 */
static void peer_child_said(int fd, char *buf, size_t len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)len - 1 ? end - ((off_t)len - 1) : 0;
	ssize_t n = pread(fd, buf, len - 1, from);

	buf[n > 0 ? n : 0] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
}

/* All the child wrote on stderr, from @fd, to ours. */
static void peer_child_echo(int fd)
{
	char buf[4096];
	off_t at = 0;
	ssize_t n;

	fflush(stderr);
	while ((n = pread(fd, buf, sizeof(buf), at)) > 0) {
		if (write(STDERR_FILENO, buf, (size_t)n) != n)
			break;
		at += n;
	}
}

/*
 * Run @fn in a child (a crash or a hang fails the test, not the run) and
 * return what it wrote to its pipe @out: @size bytes at @res.  @what
 * names the work in a failure.  A cmocka assertion that fails in @fn ends
 * the child (its exit status says so) and fails the test here, once, with
 * the child's message; the child's stderr is passed on when it succeeds.
 */
void peer_in_child(void (*fn)(int out, void *arg), void *arg, void *res,
		   size_t size, const char *what)
{
	FILE *err = tmpfile();
	char said[1024];
	int pfd[2], st;
	ssize_t n;
	pid_t pid;

	assert_non_null(err);
	assert_int_equal(pipe(pfd), 0);
	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		close(pfd[0]);
		peer_child_run(fn, arg, pfd[1], fileno(err));
	}
	close(pfd[1]);
	n = read(pfd[0], res, size);
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	peer_child_said(fileno(err), said, sizeof(said));
	if (WIFEXITED(st) && !WEXITSTATUS(st))
		peer_child_echo(fileno(err));
	fclose(err);
	if (WIFSIGNALED(st))
		fail_msg("%s: the child died of signal %d (%s)%s%s", what,
			 WTERMSIG(st), strsignal(WTERMSIG(st)),
			 said[0] ? "; it said: " : "", said);
	if (WIFEXITED(st) && WEXITSTATUS(st) == PEER_CHILD_FAILED)
		fail_msg("%s: failed in the child: %s", what, said);
	check(WIFEXITED(st) && !WEXITSTATUS(st),
	      "%s: the child failed (status %#x)%s%s", what, st,
	      said[0] ? "; it said: " : "", said);
	check(n == (ssize_t)size, "%s: the child reported nothing", what);
}

/* ---- fake servers on unix sockets ------------------------------------------ */

/**
 * peer_sock_tmpdir() - a temporary directory for a test's server socket.
 * @dir:       the directory made (fixture_tmpdir() with @prefix).
 * @dir_size:  its room.
 * @path:      the socket's path in it, @name.
 * @path_size: its room.
 * @prefix:    the directory's name prefix.
 * @name:      the socket's name.
 *
 * Return: 0, or -1 when the directory could not be made.
 */
int peer_sock_tmpdir(char *dir, size_t dir_size, char *path, size_t path_size,
		     const char *prefix, const char *name)
{
	if (fixture_tmpdir(dir, dir_size, prefix))
		return -1;
	snprintf(path, path_size, "%s/%s", dir, name);
	return 0;
}

/** peer_listen_unix() - a stream socket listening at @path (asserted). */
int peer_listen_unix(const char *path, int backlog)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

/** peer_send_all() - send @len bytes; -1 once the client is gone. */
int peer_send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/**
 * peer_read_until() - read into @buf (NUL-terminated) until @end is in it,
 * the client closes, or 2 s pass.
 *
 * Return: the bytes read.
 */
size_t peer_read_until(int fd, char *buf, size_t size, const char *end)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	buf[0] = '\0';
	while (len + 1 < size && !strstr(buf, end)) {
		if (poll(&pfd, 1, 2000) <= 0)
			break;
		n = recv(fd, buf + len, size - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return len;
}

/** peer_wait_hangup() - wait for the client to hang up, 5 s at most. */
void peer_wait_hangup(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, 5000) > 0)
		(void)!recv(fd, &c, 1, 0);
}

/**
 * peer_expect_ts_fetch_error() - tpd_ts_fetch_status() of the LocalAPI at
 * @path fails with @want, its error saying @needle, and hands nothing over.
 */
void peer_expect_ts_fetch_error(const char *path, int want, const char *needle)
{
	char *body = (char *)1;
	size_t len = 1;
	int ret;

	ret = tpd_ts_fetch_status(path, &body, &len);
	check(ret == want, "fetch: %d, want %d (%s)", ret, want,
	      tpd_peer_last_error());
	check(strstr(tpd_peer_last_error(), needle),
	      "error \"%s\" lacks \"%s\"", tpd_peer_last_error(), needle);
	assert_null(body);
	assert_int_equal(len, 0);
}
