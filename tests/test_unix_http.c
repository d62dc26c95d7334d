// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The loader's HTTP/1.1 client over a unix socket (loader/unix_http.c),
 * against a fake server: a thread of this test on a socket in a temporary
 * directory that takes one connection, reads the request and sends a
 * scripted answer, whole or in pieces with pauses, then closes or holds
 * the connection until the client hangs up.
 *
 * Bodies by Content-Length, chunked (extensions, trailers, an interim
 * 100), to the close; a 404 and a 500 reported with their code, also
 * through tpd_ts_fetch_status(); every malformed answer of the table
 * (status lines without a code, oversized or malformed headers, lengths
 * and chunk sizes that overflow, bodies longer than declared, a server
 * that closes early) refused with its own error; a server that never
 * answers or trickles bytes stopped by the total timeout; signals
 * (EINTR) while waiting; the credential check refusing before anything
 * is sent; and the parser fed the same answers cut at every byte.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "fixture.h"
#include "peers.h"
#include "peertest.h"
#include "unix_http.h"

#define BODY_MAX   (1u << 20)
#define BODY_ROOM  4096
#define TIMEOUT_MS 5000

static const char expected_request[] = "GET /localapi/v0/status HTTP/1.1\r\n"
				       "Host: local-tailscaled.sock\r\n"
				       "User-Agent: tailplaned\r\n"
				       "Accept: */*\r\n"
				       "Connection: close\r\n"
				       "\r\n";

/* ---- the fake server ----------------------------------------------------- */

/**
 * struct fake - a one-connection server and its script.
 * @dir:         its temporary directory.
 * @path:        its socket.
 * @lfd:         the listening socket.
 * @thr:         the thread serving it.
 * @running:     whether @thr was started.
 * @reply:       what it answers (any bytes).
 * @len:         their number.
 * @piece:       bytes per write; 0 for all at once.
 * @delay_ms:    pause before each write.
 * @hold:        after the answer, wait for the client to hang up (else
 *               close at once).
 * @request:     what the client sent (up to the empty line).
 * @request_len: its length; 0 when the client sent nothing.
 * @row:         the row of good_cases[] or bad_cases[] a test runs.
 */
struct fake {
	char dir[64];
	char path[108];
	int lfd;
	pthread_t thr;
	bool running;
	char *reply;
	size_t len;
	size_t piece;
	unsigned int delay_ms;
	bool hold;
	char request[1024];
	size_t request_len;
	const void *row;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd = { .fd = f->lfd, .events = POLLIN };
	size_t off, n;
	int fd;

	if (poll(&pfd, 1, 5000) <= 0)
		return NULL;
	fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	/* the request, to its empty line or the client's close */
	f->request_len =
		peer_read_until(fd, f->request, sizeof(f->request), "\r\n\r\n");
	for (off = 0; f->request_len && off < f->len; off += n) {
		n = f->piece && f->piece < f->len - off ? f->piece
							: f->len - off;
		if (f->delay_ms)
			usleep(f->delay_ms * 1000);
		if (peer_send_all(fd, f->reply + off, n))
			break;
	}
	if (f->hold)
		peer_wait_hangup(fd);
	close(fd);
	return NULL;
}

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f || peer_sock_tmpdir(f->dir, sizeof(f->dir), f->path,
				   sizeof(f->path), "tp-uhttp", "api.sock")) {
		free(f);
		return -1;
	}
	f->lfd = -1;
	*state = f;
	return 0;
}

/* The fixture of a table's row: cmocka's initial state is the row. */
static int row_setup(void **state)
{
	const void *row = *state;

	if (fake_setup(state))
		return -1;
	((struct fake *)*state)->row = row;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;

	if (f->running)
		pthread_join(f->thr, NULL);
	if (f->lfd >= 0)
		close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	free(f->reply);
	free(f);
	return 0;
}

/* Serve @len bytes of @reply (copied) on the next connection. */
static void fake_start(struct fake *f, const char *reply, size_t len)
{
	f->reply = malloc(len + 1);
	assert_non_null(f->reply);
	memcpy(f->reply, reply, len);
	f->len = len;
	f->lfd = peer_listen_unix(f->path, 4);
	assert_int_equal(pthread_create(&f->thr, NULL, fake_main, f), 0);
	f->running = true;
}

/* Wait for the server to be done, so that its request can be read. */
static void fake_join(struct fake *f)
{
	if (f->running)
		pthread_join(f->thr, NULL);
	f->running = false;
}

/* ---- the client's side --------------------------------------------------- */

/* The body as the client handed it over. */
struct got {
	char data[BODY_ROOM];
	size_t len;
	size_t total;
	int status;
	int stop; /* return this from the callback */
};

static int got_body(void *arg, int status, const char *data, size_t n)
{
	struct got *g = arg;
	size_t room = sizeof(g->data) - g->len;

	g->status = status;
	g->total += n;
	memcpy(g->data + g->len, data, n < room ? n : room);
	g->len += n < room ? n : room;
	return g->stop;
}

/* GET the status from @f, @timeout_ms, bodies up to @body_max. */
static int fake_get(struct fake *f, long timeout_ms, size_t body_max,
		    struct tpd_uhttp_resp *r, struct got *g)
{
	struct tpd_uhttp_req q = { .sock = f->path,
				   .host = "local-tailscaled.sock",
				   .target = "/localapi/v0/status",
				   .user_agent = "tailplaned",
				   .timeout_ms = timeout_ms };

	tpd_uhttp_resp_init(r, got_body, g, body_max);
	return tpd_uhttp_get(&q, r);
}

/* A complete answer of @status with the body @body. */
static void expect_answer(int ret, const struct tpd_uhttp_resp *r,
			  const struct got *g, int status, const char *body)
{
	check(ret == 0, "get: %d (%s)", ret, r->err);
	assert_int_equal(r->state, TPD_UH_DONE);
	assert_int_equal(r->status, status);
	assert_int_equal(g->total, strlen(body));
	assert_int_equal(r->body_len, strlen(body));
	assert_memory_equal(g->data, body, strlen(body));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- well-formed answers ------------------------------------------------- */

#define S(lit) lit, sizeof(lit) - 1

#define OK_HEAD	     "HTTP/1.1 200 OK\r\n"
#define CHUNKED_HEAD OK_HEAD "Transfer-Encoding: chunked\r\n\r\n"

/**
 * struct good_case - an answer the client must take.
 * @name:   the test's name.
 * @answer: what the server sends.
 * @len:    its length.
 * @piece:  bytes per write; 0 for all at once.
 * @hold:   the server keeps the connection after the answer.
 * @status: the status wanted.
 * @body:   the body wanted.
 */
struct good_case {
	const char *name;
	const char *answer;
	size_t len;
	size_t piece;
	bool hold;
	int status;
	const char *body;
};

static const struct good_case good_cases[] = {
	{ "Content-Length",
	  S(OK_HEAD "Content-Type: application/json\r\n"
		    "content-length:  11 \r\n\r\nhello world"),
	  .status = 200, .body = "hello world" },
	{ "chunked in 1-byte writes: extensions, upper-case hex, trailers",
	  S(OK_HEAD "Transfer-Encoding: Chunked\r\n\r\n"
		    "5;name=value\r\nhello\r\n"
		    "A \r\n, chunked!\r\n"
		    "1\nX\n"
		    "0\r\nX-Trailer: 1\r\n\r\n"),
	  .piece = 1, .status = 200, .body = "hello, chunked!X" },
	{ "no length, no chunks (HTTP/1.0): the body ends at the close",
	  S("HTTP/1.0 200 OK\r\nServer: x\r\n\r\n{\"Peer\":null}"), .piece = 7,
	  .status = 200, .body = "{\"Peer\":null}" },
	{ "an interim 100 Continue, then the answer",
	  S("HTTP/1.1 100 Continue\r\n\r\n" OK_HEAD
	    "Content-Length: 2\r\n\r\nok"),
	  .status = 200, .body = "ok" },
	{ "a 204 on a held connection, no body whatever its headers say",
	  S("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"),
	  .hold = true, .status = 204, .body = "" },
	{ "Content-Length on a held connection",
	  S(OK_HEAD "Content-Length: 2\r\n\r\nok"), .hold = true, .status = 200,
	  .body = "ok" },
	{ "chunked on a held connection",
	  S(CHUNKED_HEAD "2\r\nok\r\n0\r\n\r\n"), .hold = true, .status = 200,
	  .body = "ok" },
	{ "a 404 is an answer: its code and body",
	  S("HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n"
	    "404 page not found\n"),
	  .status = 404, .body = "404 page not found\n" },
	{ "a 500 is an answer, chunked",
	  S("HTTP/1.1 500 Internal Server Error\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\r\nboom\n\r\n0\r\n\r\n"),
	  .status = 500, .body = "boom\n" },
};

/*
 * The answer of the row, its status and body; complete at its end, not
 * waiting for a close a server that holds the connection never makes;
 * the request what the curl path sent (method, target, Host, User-Agent,
 * Accept), with Connection: close.
 */
static void test_good_answer(void **state)
{
	struct fake *f = *state;
	const struct good_case *c = f->row;
	struct tpd_uhttp_resp r;
	struct got g = {};
	double t0 = now_s();

	f->piece = c->piece;
	f->hold = c->hold;
	fake_start(f, c->answer, c->len);
	expect_answer(fake_get(f, TIMEOUT_MS, BODY_MAX, &r, &g), &r, &g,
		      c->status, c->body);
	if (g.total)
		assert_int_equal(g.status, c->status);
	check(now_s() - t0 < 2.0, "waited %.1f s for a close", now_s() - t0);
	fake_join(f);
	assert_string_equal(f->request, expected_request);
}

/* tailscale.c turns the code into its error, and keeps the message. */
static void expect_ts_error(struct fake *f, const char *reply, size_t len,
			    int want, const char *needle)
{
	fake_start(f, reply, len);
	peer_expect_ts_fetch_error(f->path, want, needle);
}

static void test_ts_404(void **state)
{
	expect_ts_error(*state,
			S("HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n"
			  "404 page not found\n"),
			-EIO, "LocalAPI answered HTTP 404: 404 page not found");
}

static void test_ts_500_chunked(void **state)
{
	expect_ts_error(
		*state,
		S("HTTP/1.1 500 Internal Server Error\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n"
		  "5\r\nboom:\r\n13\r\n backend not ready\n\r\n0\r\n\r\n"),
		-EIO, "LocalAPI answered HTTP 500: boom: backend not ready");
}

static void test_ts_malformed(void **state)
{
	struct fake *f = *state;
	char needle[160];

	snprintf(needle, sizeof(needle),
		 "LocalAPI %s: not an HTTP/1.x status line: \"HTTP/1.1 OK\"",
		 f->path);
	expect_ts_error(f, S("HTTP/1.1 OK\r\n\r\n"), -EIO, needle);
}

static void test_ts_too_large(void **state)
{
	expect_ts_error(
		*state,
		S("HTTP/1.1 200 OK\r\nContent-Length: 67108865\r\n\r\n"),
		-EFBIG, "LocalAPI status: answer too large");
}

/* ---- malformed answers, one test each ------------------------------------ */

/**
 * struct bad_case - an answer the client must refuse.
 * @name:     the test's name.
 * @head:     the answer's start.
 * @head_len: its length (it may hold a NUL).
 * @unit:     repeated @reps times after @head (oversized parts).
 * @reps:     how many times.
 * @tail:     the answer's end.
 * @body_max: the client's cap; 0 for BODY_MAX.
 * @err:      the error wanted.
 * @needle:   what its message must say.
 */
struct bad_case {
	const char *name;
	const char *head;
	size_t head_len;
	const char *unit;
	size_t reps;
	const char *tail;
	size_t body_max;
	int err;
	const char *needle;
};

#define PAD_LINE "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"

static const struct bad_case bad_cases[] = {
	{ "status line without a code", S("HTTP/1.1 OK\r\n\r\n"), .err = -EIO,
	  .needle = "not an HTTP/1.x status line: \"HTTP/1.1 OK\"" },
	{ "status code of two digits", S("HTTP/1.1 20 OK\r\n\r\n"), .err = -EIO,
	  .needle = "not an HTTP/1.x status line" },
	{ "status code of four digits", S("HTTP/1.1 2000 OK\r\n\r\n"),
	  .err = -EIO, .needle = "not an HTTP/1.x status line" },
	{ "status code 099", S("HTTP/1.1 099 Odd\r\n\r\n"), .err = -EIO,
	  .needle = "not an HTTP/1.x status line" },
	{ "not HTTP", S("SSH-2.0-OpenSSH_9.2\r\n"), .err = -EIO,
	  .needle = "not an HTTP/1.x status line: \"SSH-2.0-OpenSSH_9.2\"" },
	{ "HTTP/2 status line", S("HTTP/2 200\r\n\r\n"), .err = -EIO,
	  .needle = "not an HTTP/1.x status line" },
	{ "control bytes quoted as ?", S("\x1b[2J\x07 HTTP\r\n"), .err = -EIO,
	  .needle = "status line: \"?[2J? HTTP\"" },
	{ "status line over 8 KiB", S("HTTP/1.1 200 "), "a", 9000, "\r\n",
	  .err = -EIO, .needle = "line longer than 8192 bytes" },
	{ "header line over 8 KiB", S(OK_HEAD "X-Big: "), "a", 9000, "\r\n\r\n",
	  .err = -EIO, .needle = "line longer than 8192 bytes" },
	{ "headers over 64 KiB", S(OK_HEAD), PAD_LINE, 1300, "\r\n",
	  .err = -EIO, .needle = "headers longer than 65536 bytes" },
	{ "header without a colon", S(OK_HEAD "broken header\r\n\r\n"),
	  .err = -EIO, .needle = "malformed header line \"broken header\"" },
	{ "header with an empty name", S(OK_HEAD ": x\r\n\r\n"), .err = -EIO,
	  .needle = "malformed header line" },
	{ "folded header", S(OK_HEAD "X-A: 1\r\n continued\r\n\r\n"),
	  .err = -EIO, .needle = "malformed header line \" continued\"" },
	{ "space before the colon", S(OK_HEAD "Content-Length : 3\r\n\r\n"),
	  .err = -EIO, .needle = "malformed header line" },
	{ "NUL in a header", S(OK_HEAD "X-A: a\0b\r\n\r\n"), .err = -EIO,
	  .needle = "NUL byte in line \"X-A: a?b\"" },
	{ "Content-Length not a number",
	  S(OK_HEAD "Content-Length: abc\r\n\r\n"), .err = -EIO,
	  .needle = "bad Content-Length \"abc\"" },
	{ "Content-Length empty", S(OK_HEAD "Content-Length:\r\n\r\n"),
	  .err = -EIO, .needle = "bad Content-Length \"\"" },
	{ "Content-Length negative", S(OK_HEAD "Content-Length: -1\r\n\r\n"),
	  .err = -EIO, .needle = "bad Content-Length \"-1\"" },
	{ "Content-Length a list", S(OK_HEAD "Content-Length: 3, 3\r\n\r\n"),
	  .err = -EIO, .needle = "bad Content-Length \"3, 3\"" },
	{ "Content-Length overflows",
	  S(OK_HEAD "Content-Length: 18446744073709551616\r\n\r\n"),
	  .err = -EIO,
	  .needle = "Content-Length \"18446744073709551616\" overflows" },
	{ "Content-Lengths differ",
	  S(OK_HEAD "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
	  .err = -EIO, .needle = "two Content-Lengths differ" },
	{ "Content-Length over the cap",
	  S(OK_HEAD "Content-Length: 1025\r\n\r\n"), .body_max = 1024,
	  .err = -EFBIG, .needle = "answer of 1025 bytes, over 1024" },
	{ "Content-Length of 2^64-1",
	  S(OK_HEAD "Content-Length: 18446744073709551615\r\n\r\n"),
	  .err = -EFBIG, .needle = "over 1048576" },
	{ "unknown transfer coding",
	  S(OK_HEAD "Transfer-Encoding: gzip\r\n\r\n"), .err = -EIO,
	  .needle = "unsupported Transfer-Encoding \"gzip\"" },
	{ "codings in a list",
	  S(OK_HEAD "Transfer-Encoding: gzip, chunked\r\n\r\n"), .err = -EIO,
	  .needle = "unsupported Transfer-Encoding \"gzip, chunked\"" },
	{ "chunked twice",
	  S(OK_HEAD "Transfer-Encoding: chunked\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n"),
	  .err = -EIO,
	  .needle = "unsupported Transfer-Encoding \"chunked, chunked\"" },
	{ "chunked with a length",
	  S(OK_HEAD "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
	  .err = -EIO, .needle = "both Content-Length and Transfer-Encoding" },
	{ "chunk size overflows", S(CHUNKED_HEAD "10000000000000000\r\n"),
	  .err = -EIO, .needle = "chunk size \"10000000000000000\" overflows" },
	{ "chunk size 2^64-1", S(CHUNKED_HEAD "ffffffffffffffff\r\n"),
	  .err = -EFBIG, .needle = "chunk of 18446744073709551615 bytes" },
	{ "chunk size not hex", S(CHUNKED_HEAD "zz\r\nab\r\n0\r\n\r\n"),
	  .err = -EIO, .needle = "bad chunk size \"zz\"" },
	{ "chunk size missing", S(CHUNKED_HEAD "\r\nab\r\n0\r\n\r\n"),
	  .err = -EIO, .needle = "bad chunk size \"\"" },
	{ "chunk size with junk", S(CHUNKED_HEAD "2x\r\nab\r\n0\r\n\r\n"),
	  .err = -EIO, .needle = "bad chunk size \"2x\"" },
	{ "chunk size line over 8 KiB", S(CHUNKED_HEAD), "0", 9000,
	  "1\r\nx\r\n0\r\n\r\n", .err = -EIO,
	  .needle = "line longer than 8192 bytes" },
	{ "chunks over the cap", S(CHUNKED_HEAD "200\r\n"), "a", 512,
	  "\r\n201\r\n", .body_max = 1024, .err = -EFBIG,
	  .needle = "chunk of 513 bytes takes the answer over 1024" },
	{ "chunk longer than its size",
	  S(CHUNKED_HEAD "3\r\nabcdef\r\n0\r\n\r\n"), .err = -EIO,
	  .needle = "a chunk longer than its size" },
	{ "trailers over 64 KiB", S(CHUNKED_HEAD "0\r\n"), PAD_LINE, 1300,
	  "\r\n", .err = -EIO, .needle = "headers longer than 65536 bytes" },
	{ "body to the close over the cap", S("HTTP/1.0 200 OK\r\n\r\n"), "a",
	  1025, "", .body_max = 1024, .err = -EFBIG,
	  .needle = "answer over 1024 bytes" },
	{ "body longer than its Content-Length",
	  S(OK_HEAD "Content-Length: 2\r\n\r\nabcd"), .err = -EIO,
	  .needle = "answer longer than its Content-Length" },
	{ "bytes after the last chunk",
	  S(CHUNKED_HEAD "2\r\nab\r\n0\r\n\r\nEXTRA"), .err = -EIO,
	  .needle = "answer longer than its last chunk" },
	{ "switching protocols", S("HTTP/1.1 101 Switching Protocols\r\n\r\n"),
	  .err = -EIO, .needle = "HTTP 101: switching protocols" },
	{ "closed without answering", S(""), .err = -EIO,
	  .needle = "the server closed without answering" },
	{ "closed in the status line", S("HTTP/1.1 2"), .err = -EIO,
	  .needle = "the server closed in the headers" },
	{ "closed in the headers", S(OK_HEAD "Content-Le"), .err = -EIO,
	  .needle = "the server closed in the headers" },
	{ "closed after an interim answer", S("HTTP/1.1 100 Continue\r\n\r\n"),
	  .err = -EIO, .needle = "the server closed in the headers" },
	{ "closed in the body", S(OK_HEAD "Content-Length: 5\r\n\r\nab"),
	  .err = -EIO, .needle = "the server closed after 2 of 5 body bytes" },
	{ "closed in a chunk", S(CHUNKED_HEAD "5\r\nab"), .err = -EIO,
	  .needle = "closed before the last chunk (2 body bytes)" },
	{ "closed before the last chunk", S(CHUNKED_HEAD "2\r\nab\r\n"),
	  .err = -EIO,
	  .needle = "closed before the last chunk (2 body bytes)" },
	{ "closed in the trailers", S(CHUNKED_HEAD "0\r\nX-T: 1\r\n"),
	  .err = -EIO, .needle = "the server closed in the trailers" },
};

/* The answer of @c, whole, into a new buffer of *@len bytes. */
static char *bad_case_answer(const struct bad_case *c, size_t *len)
{
	size_t unit = c->unit ? strlen(c->unit) : 0;
	size_t tail = c->tail ? strlen(c->tail) : 0, i;
	char *p;

	*len = c->head_len + unit * c->reps + tail;
	p = malloc(*len + 1);
	assert_non_null(p);
	memcpy(p, c->head, c->head_len);
	for (i = 0; i < c->reps; i++)
		memcpy(p + c->head_len + i * unit, c->unit, unit);
	memcpy(p + c->head_len + unit * c->reps, c->tail ? c->tail : "", tail);
	return p;
}

static void expect_refused(const struct bad_case *c, int ret,
			   const struct tpd_uhttp_resp *r, const struct got *g,
			   const char *how)
{
	size_t cap = c->body_max ? c->body_max : BODY_MAX;

	check(ret == c->err, "%s: %d, want %d (%s)", how, ret, c->err, r->err);
	check(strstr(r->err, c->needle), "%s: error \"%s\" lacks \"%s\"", how,
	      r->err, c->needle);
	check(g->total <= cap, "%s: %zu body bytes handed over, cap %zu", how,
	      g->total, cap);
}

/* Over the socket, whole, then the parser alone fed byte by byte. */
static void test_bad_answer(void **state)
{
	struct fake *f = *state;
	const struct bad_case *c = f->row;
	size_t cap = c->body_max ? c->body_max : BODY_MAX, len, i;
	char *answer = bad_case_answer(c, &len);
	struct tpd_uhttp_resp r;
	struct got g = {};
	int ret = 0;

	fake_start(f, answer, len);
	expect_refused(c, fake_get(f, TIMEOUT_MS, cap, &r, &g), &r, &g,
		       "over the socket");

	memset(&g, 0, sizeof(g));
	tpd_uhttp_resp_init(&r, got_body, &g, cap);
	for (i = 0; i < len && !ret; i++)
		ret = tpd_uhttp_resp_feed(&r, answer + i, 1);
	if (!ret)
		ret = tpd_uhttp_resp_eof(&r);
	expect_refused(c, ret, &r, &g, "byte by byte");
	/* the error sticks */
	assert_int_equal(tpd_uhttp_resp_feed(&r, "x", 1), c->err);
	assert_int_equal(tpd_uhttp_resp_eof(&r), c->err);
	free(answer);
}

/* ---- servers that take too long, signals --------------------------------- */

/* Never an answer: the timeout ends it. */
static void test_never_answers(void **state)
{
	struct fake *f = *state;
	struct tpd_uhttp_resp r;
	struct got g = {};
	double t0 = now_s();
	int ret;

	f->hold = true;
	fake_start(f, S(""));
	ret = fake_get(f, 300, BODY_MAX, &r, &g);
	check(ret == -ETIMEDOUT, "get: %d (%s)", ret, r.err);
	check(now_s() - t0 < 3.0, "the 300 ms timeout took %.1f s",
	      now_s() - t0);
	check(strstr(r.err, "timed out after 300 ms, 0 bytes"), "error: %s",
	      r.err);
}

/* A byte every 40 ms: the timeout is of the whole answer, not of a read. */
static void test_trickle(void **state)
{
	struct fake *f = *state;
	struct tpd_uhttp_resp r;
	struct got g = {};
	double t0 = now_s();
	int ret;

	f->piece = 1;
	f->delay_ms = 40;
	f->hold = true;
	fake_start(f, S(OK_HEAD "Content-Length: 100\r\n\r\n"
				"0123456789012345678901234567890123456789"));
	ret = fake_get(f, 300, BODY_MAX, &r, &g);
	check(ret == -ETIMEDOUT, "get: %d (%s)", ret, r.err);
	check(now_s() - t0 < 3.0, "the 300 ms timeout took %.1f s",
	      now_s() - t0);
	check(strstr(r.err, "timed out after 300 ms"), "error: %s", r.err);
}

static atomic_int alarms;

static void on_alarm(int sig)
{
	(void)sig;
	atomic_fetch_add(&alarms, 1);
}

/* Signals without SA_RESTART while the client waits: EINTR is retried. */
static void test_eintr(void **state)
{
	struct fake *f = *state;
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval it = { .it_interval = { .tv_usec = 1000 },
				.it_value = { .tv_usec = 1000 } };
	struct itimerval off = {};
	struct tpd_uhttp_resp r;
	sigset_t alrm;
	struct got g = {};
	int ret;

	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	/* the server thread inherits the blocked SIGALRM: ours gets them */
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	f->piece = 16;
	f->delay_ms = 5;
	fake_start(f, S(CHUNKED_HEAD "10\r\n0123456789abcdef\r\n"
				     "10\r\nfedcba9876543210\r\n0\r\n\r\n"));
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	atomic_store(&alarms, 0);
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	ret = fake_get(f, TIMEOUT_MS, BODY_MAX, &r, &g);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	expect_answer(ret, &r, &g, 200, "0123456789abcdeffedcba9876543210");
	check(atomic_load(&alarms) > 5, "only %d signals came",
	      atomic_load(&alarms));
}

/* ---- the request side ---------------------------------------------------- */

static int refuse(void *arg, int fd)
{
	int *calls = arg;

	(*calls)++;
	assert_true(fd >= 0);
	return -EPERM;
}

/* A refused server gets nothing; the check's error is the answer's. */
static void test_check_refuses(void **state)
{
	struct fake *f = *state;
	struct tpd_uhttp_resp r;
	struct got g = {};
	int calls = 0, ret;
	struct tpd_uhttp_req q = { .sock = f->path,
				   .host = "local-tailscaled.sock",
				   .target = "/localapi/v0/status",
				   .user_agent = "tailplaned",
				   .timeout_ms = TIMEOUT_MS,
				   .check = refuse,
				   .check_arg = &calls };

	fake_start(f, S(OK_HEAD "Content-Length: 2\r\n\r\nok"));
	tpd_uhttp_resp_init(&r, got_body, &g, BODY_MAX);
	ret = tpd_uhttp_get(&q, &r);
	assert_int_equal(ret, -EPERM);
	assert_int_equal(calls, 1);
	assert_string_equal(r.err, "");
	assert_int_equal(g.total, 0);
	fake_join(f);
	assert_int_equal(f->request_len, 0);
}

/* The body callback's error stops the exchange, unexplained by it. */
static void test_body_callback_stops(void **state)
{
	struct fake *f = *state;
	struct tpd_uhttp_resp r;
	struct got g = { .stop = -EPROTO };
	int ret;

	f->hold = true;
	fake_start(f, S(OK_HEAD "Content-Length: 4\r\n\r\nabcd"));
	ret = fake_get(f, TIMEOUT_MS, BODY_MAX, &r, &g);
	assert_int_equal(ret, -EPROTO);
	assert_string_equal(r.err, "");
	/* and sticks */
	assert_int_equal(tpd_uhttp_resp_feed(&r, "x", 1), -EPROTO);
}

static void test_bad_requests(void **state)
{
	struct fake *f = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct tpd_uhttp_resp r;
	struct got g = {};
	char longpath[200];
	struct tpd_uhttp_req q = { .sock = f->path,
				   .host = "h",
				   .target = "/a\r\nX-Evil: 1",
				   .user_agent = "ua",
				   .timeout_ms = TIMEOUT_MS };
	int fd, ret;

	tpd_uhttp_resp_init(&r, got_body, &g, BODY_MAX);
	assert_int_equal(tpd_uhttp_get(&q, &r), -EINVAL);
	q.target = "/a b";
	assert_int_equal(tpd_uhttp_get(&q, &r), -EINVAL);
	q.target = "/";
	q.host = "";
	assert_int_equal(tpd_uhttp_get(&q, &r), -EINVAL);
	q.host = "h";
	q.timeout_ms = 0;
	assert_int_equal(tpd_uhttp_get(&q, &r), -EINVAL);
	q.timeout_ms = TIMEOUT_MS;
	/* no socket */
	ret = tpd_uhttp_get(&q, &r);
	check(ret == -ENOENT, "no socket: %d (%s)", ret, r.err);
	assert_string_equal(r.err, strerror(ENOENT));
	/* a socket nobody listens on */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	ret = tpd_uhttp_get(&q, &r);
	check(ret == -ECONNREFUSED, "dead socket: %d (%s)", ret, r.err);
	memset(longpath, 'd', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	q.sock = longpath;
	assert_int_equal(tpd_uhttp_get(&q, &r), -ENAMETOOLONG);
}

/* ---- the parser alone ---------------------------------------------------- */

static const char chunked_answer[] =
	"HTTP/1.1 100 Continue\r\n\r\n"
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n"
	"4;x=y\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
	"0\r\nExpires: never\r\n\r\n";
static const char chunked_body[] = "Wikipedia in\r\n\r\nchunks.";

static const char length_answer[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"Peer\":{}}\n";

/* @answer cut in two at every byte, and in three around every byte. */
static void feed_every_cut(const char *answer, const char *body)
{
	size_t len = strlen(answer), i, j;
	struct tpd_uhttp_resp r;
	struct got g;

	for (i = 0; i <= len; i++) {
		for (j = i; j <= len; j += (j < i + 3 ? 1 : len)) {
			memset(&g, 0, sizeof(g));
			tpd_uhttp_resp_init(&r, got_body, &g, BODY_MAX);
			assert_int_equal(tpd_uhttp_resp_feed(&r, answer, i), 0);
			assert_int_equal(
				tpd_uhttp_resp_feed(&r, answer + i, j - i), 0);
			assert_int_equal(
				tpd_uhttp_resp_feed(&r, answer + j, len - j),
				0);
			check(r.state == TPD_UH_DONE,
			      "cut at %zu, %zu: state %d", i, j, r.state);
			assert_int_equal(tpd_uhttp_resp_eof(&r), 0);
			assert_int_equal(g.total, strlen(body));
			assert_memory_equal(g.data, body, strlen(body));
		}
	}
}

static void test_feed_every_cut(void **state)
{
	(void)state;
	feed_every_cut(chunked_answer, chunked_body);
	feed_every_cut(length_answer, "{\"Peer\":{}}\n");
}

/* The test of row @i of @rows, run by @fn with the row in its fixture. */
#define ROW_TEST(rows, i, fn)                                            \
	{                                                                \
		.name = (rows)[i].name, .test_func = (fn),               \
		.setup_func = row_setup, .teardown_func = fake_teardown, \
		.initial_state = (void *)&(rows)[i]                      \
	}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
#define FAKE_TEST(fn) \
	cmocka_unit_test_setup_teardown(fn, fake_setup, fake_teardown)
		FAKE_TEST(test_ts_404),
		FAKE_TEST(test_ts_500_chunked),
		FAKE_TEST(test_ts_malformed),
		FAKE_TEST(test_ts_too_large),
		FAKE_TEST(test_never_answers),
		FAKE_TEST(test_trickle),
		FAKE_TEST(test_eintr),
		FAKE_TEST(test_check_refuses),
		FAKE_TEST(test_body_callback_stops),
		FAKE_TEST(test_bad_requests),
		cmocka_unit_test(test_feed_every_cut),
	};
	struct CMUnitTest tests[ARRAY_SIZE(good_cases) + ARRAY_SIZE(fixed) +
				ARRAY_SIZE(bad_cases)];
	struct CMUnitTest *t = tests;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good_cases); i++)
		*t++ = (struct CMUnitTest)ROW_TEST(good_cases, i,
						   test_good_answer);
	memcpy(t, fixed, sizeof(fixed));
	t += ARRAY_SIZE(fixed);
	for (i = 0; i < ARRAY_SIZE(bad_cases); i++)
		*t++ = (struct CMUnitTest)ROW_TEST(bad_cases, i,
						   test_bad_answer);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
