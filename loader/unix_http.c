// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A small HTTP/1.1 client for a server on a unix socket: tailscaled's
 * LocalAPI.  One GET with "Connection: close"; the answer's body is read
 * by its Content-Length, its chunks, or to the close.
 *
 * Why not libcurl: plain HTTP over a unix socket needs no TLS, but
 * libcurl brings its TLS stack once loaded, about 8 MiB resident, more
 * than all the rest of the loader with 10 services.  The Kubernetes
 * source (HTTPS) keeps libcurl (curl_lazy.c).
 *
 * The server is not trusted to be well formed: every line is bounded
 * (TPD_UHTTP_LINE_MAX), and so are the head (TPD_UHTTP_HEAD_MAX) and the
 * body (the caller's cap); numbers are read with overflow checks; one
 * deadline bounds the whole exchange, so a server that trickles bytes or
 * never answers cannot hold the reader.  The answer is parsed as a
 * stream (tpd_uhttp_resp_feed()): the pieces it comes in do not matter,
 * and only the current line is ever held.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "peers.h"
#include "unix_http.h"

#define TPD_UHTTP_RECV_BUF 16384
#define TPD_UHTTP_QUOTE	   48 /* bytes of a bad line quoted in an error */

/* Stop the parse with @err and its reason (printf). */
static int __attribute__((format(printf, 3, 4)))
tpd_uhttp_fail(struct tpd_uhttp_resp *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->error = err;
	return err;
}

/* @s cut to TPD_UHTTP_QUOTE bytes, anything unprintable as '?', in @out. */
static const char *tpd_uhttp_quote(const char *s, size_t len,
				   char out[TPD_UHTTP_QUOTE + 4])
{
	size_t i, n = len > TPD_UHTTP_QUOTE ? TPD_UHTTP_QUOTE : len;

	for (i = 0; i < n; i++)
		out[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	strcpy(out + n, n < len ? "..." : "");
	return out;
}

/* An ASCII digit (isdigit() wants an unsigned char, and may know others). */
static bool tpd_uhttp_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A character of an HTTP token (RFC 9110, 5.6.2): header names. */
static bool tpd_uhttp_tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/**
 * tpd_uhttp_resp_init() - an answer to parse.
 * @r:        the answer.
 * @body:     where the body's pieces go; NULL to drop them.
 * @arg:      its argument.
 * @body_max: the largest body taken.
 */
void tpd_uhttp_resp_init(struct tpd_uhttp_resp *r, tpd_uhttp_body_fn body,
			 void *arg, size_t body_max)
{
	memset(r, 0, offsetof(struct tpd_uhttp_resp, line));
	r->body = body;
	r->arg = arg;
	r->body_max = body_max;
	r->state = TPD_UH_STATUS;
}

/* "HTTP/1.x NNN[ reason]": the code, three digits, is required. */
static int tpd_uhttp_status_line(struct tpd_uhttp_resp *r, const char *s,
				 size_t len)
{
	char q[TPD_UHTTP_QUOTE + 4];

	if (len < 12 || memcmp(s, "HTTP/1.", 7) || !tpd_uhttp_digit(s[7]) ||
	    s[8] != ' ' || !tpd_uhttp_digit(s[9]) || !tpd_uhttp_digit(s[10]) ||
	    !tpd_uhttp_digit(s[11]) || (len > 12 && s[12] != ' ') ||
	    s[9] == '0')
		return tpd_uhttp_fail(r, -EIO,
				      "not an HTTP/1.x status line: \"%s\"",
				      tpd_uhttp_quote(s, len, q));
	r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	r->state = TPD_UH_HEADER;
	return 0;
}

/* A Content-Length: digits only, the same value if given twice. */
static int tpd_uhttp_length(struct tpd_uhttp_resp *r, const char *v, size_t len)
{
	char q[TPD_UHTTP_QUOTE + 4];
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!tpd_uhttp_digit(v[i]))
			break;
		if (n > (UINT64_MAX - (v[i] - '0')) / 10)
			return tpd_uhttp_fail(r, -EIO,
					      "Content-Length \"%s\" overflows",
					      tpd_uhttp_quote(v, len, q));
		n = n * 10 + (v[i] - '0');
	}
	if (!len || i < len)
		return tpd_uhttp_fail(r, -EIO, "bad Content-Length \"%s\"",
				      tpd_uhttp_quote(v, len, q));
	if (r->has_length && r->length != n)
		return tpd_uhttp_fail(r, -EIO, "two Content-Lengths differ");
	r->has_length = true;
	r->length = n;
	return 0;
}

/* "chunked" is the only transfer coding taken, and only once. */
static int tpd_uhttp_coding(struct tpd_uhttp_resp *r, const char *v, size_t len)
{
	char q[TPD_UHTTP_QUOTE + 4];

	if (r->chunked || len != 7 || strncasecmp(v, "chunked", 7))
		return tpd_uhttp_fail(r, -EIO,
				      "unsupported Transfer-Encoding \"%s%s\"",
				      r->chunked ? "chunked, " : "",
				      tpd_uhttp_quote(v, len, q));
	r->chunked = true;
	return 0;
}

/* "Name: value", spaces around the value dropped. */
static int tpd_uhttp_header_line(struct tpd_uhttp_resp *r, const char *s,
				 size_t len)
{
	const char *colon = memchr(s, ':', len), *v;
	char q[TPD_UHTTP_QUOTE + 4];
	size_t name_len, i, vlen;

	name_len = colon ? (size_t)(colon - s) : 0;
	for (i = 0; i < name_len && tpd_uhttp_tchar(s[i]); i++)
		;
	if (!name_len || i < name_len)
		return tpd_uhttp_fail(r, -EIO, "malformed header line \"%s\"",
				      tpd_uhttp_quote(s, len, q));
	v = colon + 1;
	vlen = len - name_len - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (name_len == 14 && !strncasecmp(s, "Content-Length", 14))
		return tpd_uhttp_length(r, v, vlen);
	if (name_len == 17 && !strncasecmp(s, "Transfer-Encoding", 17))
		return tpd_uhttp_coding(r, v, vlen);
	return 0;
}

/* The empty line after the headers: how the body is framed. */
static int tpd_uhttp_head_end(struct tpd_uhttp_resp *r)
{
	if (r->status < 200 && r->status != 101) {
		/* an interim answer (100 Continue): the final one follows */
		r->status = 0;
		r->has_length = r->chunked = false;
		r->state = TPD_UH_STATUS;
		return 0;
	}
	if (r->status == 101)
		return tpd_uhttp_fail(r, -EIO, "HTTP 101: switching protocols");
	if (r->chunked && r->has_length)
		return tpd_uhttp_fail(
			r, -EIO, "both Content-Length and Transfer-Encoding");
	if (r->status == 204 || r->status == 304) {
		r->state = TPD_UH_DONE; /* no body, whatever the headers say */
	} else if (r->chunked) {
		r->state = TPD_UH_CHUNK_SIZE;
	} else if (r->has_length) {
		if (r->length > r->body_max)
			return tpd_uhttp_fail(
				r, -EFBIG, "answer of %llu bytes, over %zu",
				(unsigned long long)r->length, r->body_max);
		r->left = r->length;
		r->state = r->left ? TPD_UH_BODY : TPD_UH_DONE;
	} else {
		r->state = TPD_UH_BODY_EOF;
	}
	return 0;
}

/* "1a2b[;extensions]": hex digits, the extensions ignored. */
static int tpd_uhttp_chunk_size_line(struct tpd_uhttp_resp *r, const char *s,
				     size_t len)
{
	char q[TPD_UHTTP_QUOTE + 4];
	uint64_t n = 0;
	size_t i;
	int d;

	for (i = 0; i < len && isxdigit((unsigned char)s[i]); i++) {
		if (n > UINT64_MAX >> 4)
			return tpd_uhttp_fail(r, -EIO,
					      "chunk size \"%s\" overflows",
					      tpd_uhttp_quote(s, len, q));
		d = tpd_uhttp_digit(s[i])
			    ? s[i] - '0'
			    : tolower((unsigned char)s[i]) - 'a' + 10;
		n = n << 4 | (uint64_t)d;
	}
	while (i && i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (!i || (i < len && s[i] != ';'))
		return tpd_uhttp_fail(r, -EIO, "bad chunk size \"%s\"",
				      tpd_uhttp_quote(s, len, q));
	if (!n) {
		r->state = TPD_UH_TRAILER;
		return 0;
	}
	if (n > r->body_max - r->body_len)
		return tpd_uhttp_fail(r, -EFBIG,
				      "chunk of %llu bytes takes the answer "
				      "over %zu",
				      (unsigned long long)n, r->body_max);
	r->left = n;
	r->state = TPD_UH_CHUNK;
	return 0;
}

/* A complete line (its CRLF or LF dropped), by where it is. */
static int tpd_uhttp_line_done(struct tpd_uhttp_resp *r, const char *s,
			       size_t len)
{
	char q[TPD_UHTTP_QUOTE + 4];

	if (memchr(s, '\0', len))
		return tpd_uhttp_fail(r, -EIO, "NUL byte in line \"%s\"",
				      tpd_uhttp_quote(s, len, q));
	switch (r->state) {
	case TPD_UH_STATUS:
		return tpd_uhttp_status_line(r, s, len);
	case TPD_UH_HEADER:
		return len ? tpd_uhttp_header_line(r, s, len)
			   : tpd_uhttp_head_end(r);
	case TPD_UH_CHUNK_SIZE:
		return tpd_uhttp_chunk_size_line(r, s, len);
	default: /* TPD_UH_TRAILER: read past, the answer ends at the empty one */
		if (!len)
			r->state = TPD_UH_DONE;
		return 0;
	}
}

/* Take bytes of a line from @data; a whole line is handled. */
static int tpd_uhttp_line(struct tpd_uhttp_resp *r, const char *data, size_t n,
			  size_t *used)
{
	const char *nl = memchr(data, '\n', n);
	size_t take = nl ? (size_t)(nl - data) + 1 : n, len;

	if (r->line_len + take > TPD_UHTTP_LINE_MAX)
		return tpd_uhttp_fail(r, -EIO, "line longer than %d bytes",
				      TPD_UHTTP_LINE_MAX);
	/* not chunk-size lines: one comes per chunk, the body cap bounds them */
	if (r->state != TPD_UH_CHUNK_SIZE) {
		r->head_len += take;
		if (r->head_len > TPD_UHTTP_HEAD_MAX)
			return tpd_uhttp_fail(r, -EIO,
					      "headers longer than %d bytes",
					      TPD_UHTTP_HEAD_MAX);
	}
	memcpy(r->line + r->line_len, data, take);
	r->line_len += take;
	*used = take;
	if (!nl)
		return 0;
	len = r->line_len - 1;
	if (len && r->line[len - 1] == '\r')
		len--;
	r->line[len] = '\0';
	r->line_len = 0;
	return tpd_uhttp_line_done(r, r->line, len);
}

/* Body bytes from @data: the rest of the body or chunk, or all to EOF. */
static int tpd_uhttp_body(struct tpd_uhttp_resp *r, const char *data, size_t n,
			  size_t *used)
{
	size_t take = n;
	int err;

	if (r->state != TPD_UH_BODY_EOF && take > r->left)
		take = (size_t)r->left;
	if (take > r->body_max - r->body_len)
		return tpd_uhttp_fail(r, -EFBIG, "answer over %zu bytes",
				      r->body_max);
	r->body_len += take;
	*used = take;
	if (r->body) {
		err = r->body(r->arg, r->status, data, take);
		if (err)
			return (r->error = err); /* explained by the callback */
	}
	if (r->state == TPD_UH_BODY_EOF)
		return 0;
	r->left -= take;
	if (!r->left)
		r->state =
			r->state == TPD_UH_BODY ? TPD_UH_DONE : TPD_UH_CHUNK_CR;
	return 0;
}

/* The CRLF (or LF) that ends a chunk's data. */
static int tpd_uhttp_chunk_end(struct tpd_uhttp_resp *r, char c)
{
	if (c == '\r' && r->state == TPD_UH_CHUNK_CR) {
		r->state = TPD_UH_CHUNK_LF;
		return 0;
	}
	if (c == '\n') {
		r->state = TPD_UH_CHUNK_SIZE;
		return 0;
	}
	return tpd_uhttp_fail(r, -EIO, "a chunk longer than its size");
}

/**
 * tpd_uhttp_resp_feed() - parse the next @n bytes of an answer.
 * @r:    the answer.
 * @data: the bytes.
 * @n:    their number.
 *
 * Return: 0 (r->state is TPD_UH_DONE once the answer is complete); -EIO
 * (malformed: r->err says how; bytes past the end of a complete answer
 * count too), -EFBIG (a body over r->body_max), or the body callback's
 * error.  Every later call returns the same.
 */
int tpd_uhttp_resp_feed(struct tpd_uhttp_resp *r, const char *data, size_t n)
{
	size_t used = 1;
	int err;

	while (!r->error && n) {
		switch (r->state) {
		case TPD_UH_DONE:
			return tpd_uhttp_fail(
				r, -EIO, "answer longer than its %s",
				r->chunked ? "last chunk" : "Content-Length");
		case TPD_UH_BODY:
		case TPD_UH_BODY_EOF:
		case TPD_UH_CHUNK:
			err = tpd_uhttp_body(r, data, n, &used);
			break;
		case TPD_UH_CHUNK_CR:
		case TPD_UH_CHUNK_LF:
			err = tpd_uhttp_chunk_end(r, *data);
			used = 1;
			break;
		default:
			err = tpd_uhttp_line(r, data, n, &used);
			break;
		}
		if (err)
			return err;
		data += used;
		n -= used;
	}
	return r->error;
}

/**
 * tpd_uhttp_resp_eof() - the server closed the connection.
 * @r: the answer.
 *
 * Return: 0 when the answer is complete (a body without a length ends
 * here), -EIO when it is not (r->err says where it stopped), or the
 * error that ended the parse before.
 */
int tpd_uhttp_resp_eof(struct tpd_uhttp_resp *r)
{
	if (r->error)
		return r->error;
	switch (r->state) {
	case TPD_UH_DONE:
		return 0;
	case TPD_UH_BODY_EOF:
		r->state = TPD_UH_DONE;
		return 0;
	case TPD_UH_STATUS:
		if (!r->head_len)
			return tpd_uhttp_fail(
				r, -EIO, "the server closed without answering");
		/* fallthrough */
	case TPD_UH_HEADER:
		return tpd_uhttp_fail(r, -EIO,
				      "the server closed in the headers");
	case TPD_UH_BODY:
		return tpd_uhttp_fail(r, -EIO,
				      "the server closed after %zu of %llu "
				      "body bytes",
				      r->body_len,
				      (unsigned long long)r->length);
	case TPD_UH_TRAILER:
		return tpd_uhttp_fail(r, -EIO,
				      "the server closed in the trailers");
	default:
		return tpd_uhttp_fail(r, -EIO,
				      "the server closed before the last "
				      "chunk (%zu body bytes)",
				      r->body_len);
	}
}

/* ---- the exchange -------------------------------------------------------- */

/*
 * Connect to @q->sock by @deadline.  A listener whose backlog is full
 * makes connect() wait: SO_SNDTIMEO bounds that wait (it ends in EAGAIN).
 */
static int tpd_uhttp_connect(const struct tpd_uhttp_req *q,
			     struct tpd_uhttp_resp *r, __u64 deadline)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	unsigned int ms = tpd_deadline_left(deadline);
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = ms % 1000 * 1000 + 1 };
	int fd, err;

	if (strlen(q->sock) >= sizeof(sun.sun_path))
		return tpd_uhttp_fail(r, -ENAMETOOLONG,
				      "socket path longer than %zu bytes",
				      sizeof(sun.sun_path) - 1);
	strcpy(sun.sun_path, q->sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		goto fail;
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		if (errno == EINTR && tpd_deadline_left(deadline))
			continue;
		if (errno == EISCONN) /* an interrupted connect() got there */
			break;
		if (errno == EINTR || errno == EAGAIN || errno == EINPROGRESS) {
			close(fd);
			return tpd_uhttp_fail(r, -ETIMEDOUT,
					      "timed out after %ld ms, "
					      "connecting",
					      q->timeout_ms);
		}
		goto fail;
	}
	return fd;
fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	return tpd_uhttp_fail(r, -err, "%s", strerror(err));
}

/* Send all of @msg by @deadline. */
static int tpd_uhttp_send(int fd, const char *msg, size_t len,
			  const struct tpd_uhttp_req *q,
			  struct tpd_uhttp_resp *r, __u64 deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	unsigned int left;
	ssize_t n;

	while (len) {
		left = tpd_deadline_left(deadline);
		if (!left)
			return tpd_uhttp_fail(r, -ETIMEDOUT,
					      "timed out after %ld ms, sending "
					      "the request",
					      q->timeout_ms);
		if (poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left) < 0 &&
		    errno != EINTR)
			break;
		n = send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			break;
		msg += n;
		len -= (size_t)n;
	}
	if (!len)
		return 0;
	return tpd_uhttp_fail(r, -errno, "sending the request: %s",
			      strerror(errno));
}

/* Read and parse the answer until it is complete, by @deadline. */
static int tpd_uhttp_recv(int fd, const struct tpd_uhttp_req *q,
			  struct tpd_uhttp_resp *r, __u64 deadline)
{
	char buf[TPD_UHTTP_RECV_BUF];
	size_t total = 0;
	ssize_t n;
	int err;

	while (r->state != TPD_UH_DONE) {
		n = tpd_recv_by(fd, buf, sizeof(buf), deadline);
		if (n == -ETIMEDOUT)
			return tpd_uhttp_fail(r, -ETIMEDOUT,
					      "timed out after %ld ms, %zu "
					      "bytes of the answer received",
					      q->timeout_ms, total);
		if (n < 0)
			return tpd_uhttp_fail(r, (int)n,
					      "receiving the answer: %s",
					      strerror((int)-n));
		if (!n)
			return tpd_uhttp_resp_eof(r);
		total += (size_t)n;
		err = tpd_uhttp_resp_feed(r, buf, (size_t)n);
		if (err)
			return err;
	}
	/* complete: what already came after it makes the answer too long */
	n = recv(fd, buf, 1, MSG_DONTWAIT);
	return n > 0 ? tpd_uhttp_resp_feed(r, buf, 1) : 0;
}

/* A field of the request: not empty, no line break, none of @also. */
static bool tpd_uhttp_field_ok(const char *s, const char *also)
{
	return s && *s && !strpbrk(s, "\r\n") && !strpbrk(s, also);
}

/**
 * tpd_uhttp_get() - GET @q->target from the server at @q->sock.
 * @q: the request.
 * @r: the answer, from tpd_uhttp_resp_init(); its body goes to r->body
 *     as it comes.
 *
 * Sends "GET target HTTP/1.1" with Host, User-Agent, Accept and
 * "Connection: close".  An answer of any status is an answer: see
 * r->status.
 *
 * Return: 0 when a complete answer came; else -errno with r->err set,
 * or empty when q->check or r->body refused (they explain why):
 * connect()'s errors (-ENOENT: no socket, -ECONNREFUSED: nobody
 * listening), -ENAMETOOLONG, -ETIMEDOUT (the whole exchange took over
 * q->timeout_ms), -EFBIG, -EIO (a malformed answer, or the server
 * closed before it was complete), -EINVAL (a bad timeout, or a target
 * or header with a line break).
 */
int tpd_uhttp_get(const struct tpd_uhttp_req *q, struct tpd_uhttp_resp *r)
{
	long ms = q->timeout_ms > INT_MAX ? INT_MAX : q->timeout_ms;
	__u64 deadline = tpd_deadline_after(ms > 0 ? (unsigned int)ms : 0);
	char msg[512];
	int fd, ret, len;

	if (ms <= 0)
		return tpd_uhttp_fail(r, -EINVAL, "timeout of %ld ms", ms);
	len = snprintf(msg, sizeof(msg),
		       "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n"
		       "Accept: */*\r\nConnection: close\r\n\r\n",
		       q->target, q->host, q->user_agent);
	if (!tpd_uhttp_field_ok(q->target, " ") ||
	    !tpd_uhttp_field_ok(q->host, " ") ||
	    !tpd_uhttp_field_ok(q->user_agent, "") || len < 0 ||
	    (size_t)len >= sizeof(msg))
		return tpd_uhttp_fail(r, -EINVAL, "bad request line or header");
	fd = tpd_uhttp_connect(q, r, deadline);
	if (fd < 0)
		return fd;
	ret = q->check ? q->check(q->check_arg, fd) : 0;
	if (!ret)
		ret = tpd_uhttp_send(fd, msg, (size_t)len, q, r, deadline);
	if (!ret)
		ret = tpd_uhttp_recv(fd, q, r, deadline);
	close(fd);
	return ret;
}
