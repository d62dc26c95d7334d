// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Peers of a userspace WireGuard (wireguard-go, boringtun, ...) through its
 * UAPI socket, SOCKDIR/IFNAME.sock, with the cross-platform configuration
 * protocol: we send "get=1\n\n"; the answer is "key=value\n" lines, device
 * keys first, then per peer a "public_key=" line (64 hex digits) followed
 * by that peer's keys (one "allowed_ip=ADDR/LEN" per allowed IP), ending
 * with "errno=N\n" and an empty line.  The server keeps the connection
 * open for further requests, so the empty line, not EOF, ends the answer.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "peers.h"

#define TP_UAPI_TIMEOUT_S 5
#define TP_UAPI_REPLY_MAX (16u << 20)

/* ---- parser -------------------------------------------------------------- */

/**
 * struct tpd_uapi_line - one "key=value" line of a reply.
 * @key:  the key, not NUL-terminated.
 * @klen: its length.
 * @val:  the value, not NUL-terminated.
 * @vlen: its length.
 * @no:   line number, from 1.
 */
struct tpd_uapi_line {
	const char *key;
	size_t klen;
	const char *val;
	size_t vlen;
	size_t no;
};

static bool tpd_uapi_key_is(const struct tpd_uapi_line *l, const char *key)
{
	return l->klen == strlen(key) && !memcmp(l->key, key, l->klen);
}

/* Copy the value into @buf of @size bytes; -EINVAL when it does not fit. */
static int tpd_uapi_value(const struct tpd_uapi_line *l, char *buf, size_t size)
{
	if (l->vlen >= size || memchr(l->val, '\0', l->vlen)) {
		tpd_peer_set_error(
			"line %zu: value of %.*s is too long or has a NUL",
			l->no, (int)l->klen, l->key);
		return -EINVAL;
	}
	memcpy(buf, l->val, l->vlen);
	buf[l->vlen] = '\0';
	return 0;
}

static int tpd_uapi_public_key(const struct tpd_uapi_line *l,
			       struct tp_peer_list *out)
{
	char hex[TP_WG_KEY_HEX_LEN + 2], b64[TP_WG_KEY_B64_LEN + 1];
	__u8 key[TP_WG_KEY_LEN];

	if (tpd_uapi_value(l, hex, sizeof(hex)) ||
	    tpd_wg_key_from_hex(hex, key)) {
		tpd_peer_set_error("line %zu: public_key is not 64 hex digits",
				   l->no);
		return -EINVAL;
	}
	tpd_wg_key_to_base64(key, b64);
	if (!tpd_peer_list_add(out, b64))
		return -errno;
	return 0;
}

static int tpd_uapi_allowed_ip(const struct tpd_uapi_line *l,
			       struct tp_peer_list *out)
{
	char text[INET6_ADDRSTRLEN + 8];
	struct tp_peer_prefix pp;

	if (!out->n) {
		tpd_peer_set_error("line %zu: allowed_ip before any public_key",
				   l->no);
		return -EINVAL;
	}
	if (tpd_uapi_value(l, text, sizeof(text)))
		return -EINVAL;
	if (tpd_peer_prefix_parse(text, false, &pp)) {
		tpd_peer_set_error(
			"line %zu: allowed_ip \"%s\" is not ADDR/LEN", l->no,
			text);
		return -EINVAL;
	}
	return tpd_peer_add_prefix(&out->v[out->n - 1], &pp.addr, pp.plen);
}

/* errno=N: N is an errno, written positive or (wireguard-go) negative. */
static int tpd_uapi_errno(const struct tpd_uapi_line *l, long *err)
{
	char text[24], *end;
	long v;

	if (tpd_uapi_value(l, text, sizeof(text)))
		return -EINVAL;
	errno = 0;
	v = strtol(text, &end, 10);
	if (!text[0] || *end || errno || v < -INT_MAX || v > INT_MAX) {
		tpd_peer_set_error("line %zu: errno \"%s\" is not a number",
				   l->no, text);
		return -EINVAL;
	}
	*err = v < 0 ? -v : v;
	return 0;
}

static int tpd_uapi_line(const struct tpd_uapi_line *l,
			 struct tp_peer_list *out, long *err, bool *have_errno)
{
	if (!l->klen) {
		tpd_peer_set_error("line %zu: empty key", l->no);
		return -EINVAL;
	}
	if (tpd_uapi_key_is(l, "public_key"))
		return tpd_uapi_public_key(l, out);
	if (tpd_uapi_key_is(l, "allowed_ip"))
		return tpd_uapi_allowed_ip(l, out);
	if (tpd_uapi_key_is(l, "errno")) {
		*have_errno = true;
		return tpd_uapi_errno(l, err);
	}
	return 0; /* endpoint, handshake times, counters, ...: not ours */
}

/* Split the line at @p (up to @end) into @l; sets *@next past it. */
static int tpd_uapi_split(const char *p, const char *end, size_t no,
			  struct tpd_uapi_line *l, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;

	if (!nl) {
		tpd_peer_set_error(
			"line %zu: not terminated by a newline (reply cut short?)",
			no);
		return -EPROTO;
	}
	*next = nl + 1;
	eq = memchr(p, '=', (size_t)(nl - p));
	if (!eq) {
		tpd_peer_set_error("line %zu: \"%.*s\" is not key=value", no,
				   (int)(nl - p > 80 ? 80 : nl - p), p);
		return -EPROTO;
	}
	l->key = p;
	l->klen = (size_t)(eq - p);
	l->val = eq + 1;
	l->vlen = (size_t)(nl - eq - 1);
	l->no = no;
	return 0;
}

static int tpd_uapi_parse_lines(const char *text, size_t len,
				struct tp_peer_list *out, long *err,
				bool *have_errno)
{
	const char *p = text, *end = text + len;
	struct tpd_uapi_line l;
	size_t no = 0;
	int ret;

	while (p < end && *p != '\n') {
		ret = tpd_uapi_split(p, end, ++no, &l, &p);
		if (!ret)
			ret = tpd_uapi_line(&l, out, err, have_errno);
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * tpd_wg_uapi_parse() - parse the answer of a UAPI "get=1" request.
 * @text: the answer, up to and including its empty line (anything after
 *        the empty line is ignored).
 * @len:  its length.
 * @out:  the peers, canonical (see peers.h); emptied first, and left empty
 *        on error.
 *
 * Keys are read from "public_key" lines (hex, turned into base64),
 * prefixes from "allowed_ip" lines (masked); other keys are ignored.
 * The answer must end with an "errno=" line.
 *
 * Return: 0; -EPROTO for an answer that is not key=value lines or lacks its
 * errno line; -EINVAL for a bad key, prefix or errno value; -N when the
 * server answered errno=N (or -N); -ENOMEM.  tpd_peer_last_error() says
 * which line.
 */
int tpd_wg_uapi_parse(const char *text, size_t len, struct tp_peer_list *out)
{
	bool have_errno = false;
	long err = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = tpd_uapi_parse_lines(text, len, out, &err, &have_errno);
	if (!ret && !have_errno) {
		tpd_peer_set_error("the reply ends without an errno= line");
		ret = -EPROTO;
	}
	if (!ret && err) {
		tpd_peer_set_error(
			"the WireGuard implementation answered errno=%ld (%s)",
			err, strerror((int)err));
		ret = (int)-err;
	}
	if (!ret)
		ret = tpd_peer_list_canonicalize(out);
	if (ret)
		tpd_peer_list_free(out);
	return ret;
}

/* ---- socket -------------------------------------------------------------- */

static int tpd_uapi_path(const char *ifname, const char *sockdir,
			 struct sockaddr_un *sun)
{
	size_t n = ifname ? strlen(ifname) : 0;
	int len;

	if (!n || n >= IFNAMSIZ || strchr(ifname, '/') || ifname[0] == '.') {
		tpd_peer_set_error("\"%s\" is not an interface name",
				   ifname ? ifname : "");
		return -EINVAL;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	len = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s.sock",
		       sockdir ? sockdir : TP_WG_SOCKDIR_DEFAULT, ifname);
	if (len < 0 || (size_t)len >= sizeof(sun->sun_path)) {
		tpd_peer_set_error("UAPI socket path for %s is too long",
				   ifname);
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * Connect to the UAPI server, and believe it only if it is root or
 * @trust_uid; connecting and sending may take until @deadline.
 */
static int tpd_uapi_connect(const struct sockaddr_un *sun, uid_t trust_uid,
			    __u64 deadline)
{
	unsigned int ms = tpd_deadline_left(deadline);
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = ms % 1000 * 1000 + 1 };
	int fd, err;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (const struct sockaddr *)sun, sizeof(*sun)))
		goto fail;
	err = tpd_peer_check_cred(fd, "UAPI socket", sun->sun_path, trust_uid);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
fail:
	err = errno;
	tpd_peer_set_error(
		"UAPI socket %s: %s%s", sun->sun_path, strerror(err),
		err == ENOENT ? " (no userspace WireGuard on this interface)"
			      : "");
	if (fd >= 0)
		close(fd);
	return -err;
}

static int tpd_uapi_send(int fd, const char *msg)
{
	size_t off = 0, len = strlen(msg);
	ssize_t n;

	while (off < len) {
		n = send(fd, msg + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno == EAGAIN ? ETIMEDOUT : errno;

			tpd_peer_set_error("UAPI send: %s", strerror(err));
			return -err;
		}
		off += (size_t)n;
	}
	return 0;
}

/*
 * Whether the answer in @buf is complete: it has its empty line.  Only
 * what came after the first @from bytes (and the byte before) is new.
 */
static bool tpd_uapi_complete(const char *buf, size_t len, size_t from)
{
	if (len && buf[0] == '\n')
		return true;
	from = from ? from - 1 : 0;
	return len >= 2 && memmem(buf + from, len - from, "\n\n", 2) != NULL;
}

/*
 * Make room past @len in *@buf.  The answer holds the private key, so
 * not realloc(), which would free the old block unzeroed: a new block,
 * the bytes copied, the old one zeroed before it is freed.
 */
static int tpd_uapi_grow(char **buf, size_t *cap, size_t len)
{
	char *nb;

	if (len + 1 < *cap)
		return 0;
	if (*cap >= TP_UAPI_REPLY_MAX) {
		tpd_peer_set_error("UAPI reply larger than %u bytes",
				   TP_UAPI_REPLY_MAX);
		return -EFBIG;
	}
	nb = malloc(*cap * 2);
	if (!nb) {
		tpd_peer_set_error("out of memory");
		return -ENOMEM;
	}
	memcpy(nb, *buf, len);
	explicit_bzero(*buf, *cap);
	free(*buf);
	*buf = nb;
	*cap *= 2;
	return 0;
}

/*
 * Read the answer to its empty line (or EOF) into a new *@buf of *@cap_out
 * bytes, all of it by @deadline: a server that trickles bytes cannot hold
 * the reader.  The caller zeroes and frees the buffer, on error too.
 */
static int tpd_uapi_recv(int fd, char **buf, size_t *len, size_t *cap_out,
			 __u64 deadline)
{
	size_t cap = 4096, prev = 0;
	ssize_t n;
	int err;

	*len = 0;
	*cap_out = 0;
	*buf = malloc(cap);
	if (!*buf)
		return -ENOMEM;
	*cap_out = cap;
	while (!tpd_uapi_complete(*buf, *len, prev)) {
		err = tpd_uapi_grow(buf, &cap, *len);
		*cap_out = cap;
		if (err)
			return err;
		prev = *len;
		n = tpd_recv_by(fd, *buf + *len, cap - *len - 1, deadline);
		if (n < 0) {
			tpd_peer_set_error(
				"UAPI receive: %s%s", strerror((int)-n),
				n == -ETIMEDOUT
					? " (the whole answer, not one read)"
					: "");
			return (int)n;
		}
		if (!n)
			break;
		*len += (size_t)n;
	}
	(*buf)[*len] = '\0';
	return 0;
}

/**
 * tpd_wg_uapi_dump_by() - the peers of a userspace WireGuard interface,
 * served by root or by @trust_uid, all of it read by @deadline.
 * @ifname:    the interface.
 * @sockdir:   directory of the UAPI sockets; NULL for /var/run/wireguard.
 * @trust_uid: a user trusted besides root to serve the socket (the one
 *             wireguard-go runs as), or TP_PEER_UID_ROOT_ONLY.
 * @deadline:  when the whole exchange must be over (tpd_deadline_after()).
 * @out:       the peers, canonical; emptied first, empty on error.
 *
 * The server's credentials are checked before the request is sent.  The
 * answer holds the interface's private key: every buffer it passed
 * through is zeroed before it is freed.
 *
 * Return: 0; -ENOENT when the interface has no UAPI socket (not a
 * userspace WireGuard); -ECONNREFUSED for a stale socket; -EPERM when
 * the socket is served by another user; -ETIMEDOUT when @deadline passed;
 * or an error of tpd_wg_uapi_parse().
 */
int tpd_wg_uapi_dump_by(const char *ifname, const char *sockdir,
			uid_t trust_uid, __u64 deadline,
			struct tp_peer_list *out)
{
	struct sockaddr_un sun;
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int fd, ret;

	memset(out, 0, sizeof(*out));
	ret = tpd_uapi_path(ifname, sockdir, &sun);
	if (ret)
		return ret;
	fd = tpd_uapi_connect(&sun, trust_uid, deadline);
	if (fd < 0)
		return fd;
	ret = tpd_uapi_send(fd, "get=1\n\n");
	if (!ret)
		ret = tpd_uapi_recv(fd, &buf, &len, &cap, deadline);
	if (!ret)
		ret = tpd_wg_uapi_parse(buf, len, out);
	if (buf)
		explicit_bzero(buf, cap); /* the reply has the private key */
	free(buf);
	close(fd);
	return ret;
}

/**
 * tpd_wg_uapi_dump_as() - the peers of a userspace WireGuard interface,
 * served by root or by @trust_uid, all read within TP_UAPI_TIMEOUT_S.
 * @ifname:    the interface.
 * @sockdir:   directory of the UAPI sockets; NULL for /var/run/wireguard.
 * @trust_uid: a user trusted besides root, or TP_PEER_UID_ROOT_ONLY.
 * @out:       the peers, canonical; emptied first, empty on error.
 *
 * Return: as tpd_wg_uapi_dump_by().
 */
int tpd_wg_uapi_dump_as(const char *ifname, const char *sockdir,
			uid_t trust_uid, struct tp_peer_list *out)
{
	return tpd_wg_uapi_dump_by(ifname, sockdir, trust_uid,
				   tpd_deadline_after(TP_UAPI_TIMEOUT_S * 1000),
				   out);
}

/**
 * tpd_wg_uapi_dump() - the peers of a userspace WireGuard interface whose
 * UAPI socket root serves, all read within TP_UAPI_TIMEOUT_S.
 * @ifname:  the interface.
 * @sockdir: directory of the UAPI sockets; NULL for /var/run/wireguard.
 * @out:     the peers, canonical; emptied first, empty on error.
 *
 * Return: as tpd_wg_uapi_dump_as().
 */
int tpd_wg_uapi_dump(const char *ifname, const char *sockdir,
		     struct tp_peer_list *out)
{
	return tpd_wg_uapi_dump_as(ifname, sockdir, TP_PEER_UID_ROOT_ONLY, out);
}
