/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A small HTTP/1.1 client for a server on a unix socket (unix_http.c):
 * one GET with "Connection: close", its answer read by Content-Length,
 * chunked or to the close, every part of it bounded.  tailscaled's
 * LocalAPI is its user; libcurl stays for HTTPS (the Kubernetes source).
 */
#ifndef TAILPLANE_LOADER_UNIX_HTTP_H
#define TAILPLANE_LOADER_UNIX_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TPD_UHTTP_LINE_MAX 8192	 /* longest status, header or chunk line */
#define TPD_UHTTP_HEAD_MAX 65536 /* status line, headers and trailers */
#define TPD_UHTTP_ERR_LEN  192

/*
 * A piece of the body, decoded (no chunk framing), for the answer of
 * HTTP @status.  Return 0 to go on, or -errno to stop the exchange with
 * that error (the callback explains it; the answer's err stays empty).
 */
typedef int (*tpd_uhttp_body_fn)(void *arg, int status, const char *data,
				 size_t n);

/*
 * The socket @fd is connected and nothing is sent yet: return 0 to go
 * on, or -errno to refuse the server (the callback explains it).
 */
typedef int (*tpd_uhttp_check_fn)(void *arg, int fd);

/* Where the parser is in the answer. */
enum tpd_uhttp_state {
	TPD_UH_STATUS,	   /* the status line */
	TPD_UH_HEADER,	   /* header lines, to the empty one */
	TPD_UH_BODY,	   /* @left bytes of a Content-Length body */
	TPD_UH_BODY_EOF,   /* a body that ends at the close */
	TPD_UH_CHUNK_SIZE, /* a chunk-size line */
	TPD_UH_CHUNK,	   /* @left bytes of a chunk */
	TPD_UH_CHUNK_CR,   /* the CRLF after a chunk's data */
	TPD_UH_CHUNK_LF,   /* its LF, the CR seen */
	TPD_UH_TRAILER,	   /* trailer lines, to the empty one */
	TPD_UH_DONE,	   /* complete */
};

/**
 * struct tpd_uhttp_resp - an answer being parsed (tpd_uhttp_resp_init()).
 * @body:       the body's pieces go here; NULL to drop them.
 * @arg:        @body's argument.
 * @body_max:   the largest body taken; a larger one is -EFBIG.
 * @status:     the HTTP status, 0 until the status line.
 * @body_len:   body bytes handed to @body.
 * @err:        why the answer was refused, NUL-terminated; empty when a
 *              callback refused it (it explained why) or none did.
 * @state:      enum tpd_uhttp_state.
 * @error:      the error that ended the parse (negative), 0 for none.
 * @left:       bytes left of the body or the chunk.
 * @length:     the Content-Length.
 * @has_length: a Content-Length was given.
 * @chunked:    Transfer-Encoding: chunked was given.
 * @head_len:   bytes of the status line, headers and trailers so far.
 * @line_len:   bytes in @line.
 * @line:       the line being read, without its end.
 */
struct tpd_uhttp_resp {
	tpd_uhttp_body_fn body;
	void *arg;
	size_t body_max;
	int status;
	size_t body_len;
	char err[TPD_UHTTP_ERR_LEN];
	enum tpd_uhttp_state state;
	int error;
	uint64_t left;
	uint64_t length;
	bool has_length;
	bool chunked;
	size_t head_len;
	size_t line_len;
	char line[TPD_UHTTP_LINE_MAX + 1];
};

/**
 * struct tpd_uhttp_req - a GET over a unix socket.
 * @sock:       the socket's path.
 * @host:       the Host header.
 * @target:     the request target ("/localapi/v0/status").
 * @user_agent: the User-Agent header.
 * @timeout_ms: limit of the whole exchange, connecting included; > 0.
 * @check:      called once connected, before the request goes out; NULL
 *              for none.
 * @check_arg:  its argument.
 */
struct tpd_uhttp_req {
	const char *sock;
	const char *host;
	const char *target;
	const char *user_agent;
	long timeout_ms;
	tpd_uhttp_check_fn check;
	void *check_arg;
};

void tpd_uhttp_resp_init(struct tpd_uhttp_resp *r, tpd_uhttp_body_fn body,
			 void *arg, size_t body_max);
int tpd_uhttp_resp_feed(struct tpd_uhttp_resp *r, const char *data, size_t n);
int tpd_uhttp_resp_eof(struct tpd_uhttp_resp *r);
int tpd_uhttp_get(const struct tpd_uhttp_req *q, struct tpd_uhttp_resp *r);

#endif /* TAILPLANE_LOADER_UNIX_HTTP_H */
