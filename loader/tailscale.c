// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Peers of a Tailscale node from tailscaled's LocalAPI: GET
 * /localapi/v0/status over its unix socket (the Host header must be
 * "local-tailscaled.sock", and the caller root or the operator), and the
 * ipnstate.Status document it answers:
 *
 *   { "BackendState": "Running", "Self": {...},
 *     "Peer": { "nodekey:<hex>": { "HostName", "DNSName", "UserID",
 *                                  "TailscaleIPs": [...], "Tags": [...],
 *                                  ... }, ... },
 *     "User": { "<UserID>": { "LoginName", ... }, ... } }
 *
 * Every field may be missing or null; unknown fields are ignored.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <yajl/yajl_tree.h>

#include "peers.h"

#define TP_TS_URL "http://local-tailscaled.sock/localapi/v0/status"

/* ---- LocalAPI request --------------------------------------------------- */

static pthread_once_t tp_curl_once = PTHREAD_ONCE_INIT;
static CURLcode tp_curl_init_rc;

static void tp_curl_init(void)
{
	tp_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/**
 * struct tp_ts_body - the response body being received.
 * @p:   the bytes, NUL-terminated once complete.
 * @len: bytes so far.
 * @cap: allocated size of @p.
 * @err: why the write callback stopped the transfer (negative), or 0.
 */
struct tp_ts_body {
	char *p;
	size_t len;
	size_t cap;
	int err;
};

/**
 * struct tp_ts_conn - the connection to the LocalAPI socket.
 * @path:      the socket.
 * @trust_uid: a user trusted besides root to serve it.
 * @fd:        libcurl's socket for it, -1 until made.
 * @err:       why it was refused (negative), 0 if it was not; the error
 *             is recorded then.
 */
struct tp_ts_conn {
	const char *path;
	uid_t trust_uid;
	int fd;
	int err;
};

/* Note libcurl's socket (made, not yet connected) for tp_ts_prereq_cb(). */
static int tp_ts_sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct tp_ts_conn *c = arg;

	if (purpose == CURLSOCKTYPE_IPCXN)
		c->fd = fd;
	return CURL_SOCKOPT_OK;
}

/*
 * Connected, nothing sent yet: believe the server only if it is root or
 * the trusted user.  The check is on the very socket the request will
 * use, so no other server can be swapped in after it.  (Connecting our
 * own socket in CURLOPT_OPENSOCKETFUNCTION and answering
 * CURL_SOCKOPT_ALREADY_CONNECTED would do too, but libcurl 7.88 connects
 * such a socket again and fails with EISCONN: curl/curl#10626.)
 */
static int tp_ts_prereq_cb(void *arg, char *conn_primary_ip, char *conn_local_ip,
			   int conn_primary_port, int conn_local_port)
{
	struct tp_ts_conn *c = arg;

	if (c->fd < 0) {
		tp_peer_set_error("LocalAPI %s: no socket to check", c->path);
		c->err = -EPROTO;
	} else {
		c->err = tp_peer_check_cred(c->fd, "LocalAPI socket", c->path,
					    c->trust_uid);
	}
	return c->err ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

static size_t tp_ts_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct tp_ts_body *b = arg;
	size_t n = size * nmemb, cap = b->cap ? b->cap : 16384;
	char *np;

	if (n > TP_TS_BODY_MAX - b->len) {
		b->err = -EFBIG;
		return 0;
	}
	while (cap < b->len + n + 1)
		cap *= 2;
	if (cap != b->cap) {
		np = realloc(b->p, cap);
		if (!np) {
			b->err = -ENOMEM;
			return 0;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static CURL *tp_ts_curl(const char *path, long timeout_ms, struct tp_ts_conn *conn,
			struct tp_ts_body *b, char *errbuf)
{
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	if (curl_easy_setopt(c, CURLOPT_URL, TP_TS_URL) ||
	    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, path) ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http") ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms) ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "tailplaned") ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) ||
	    curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, tp_ts_sockopt_cb) ||
	    curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, conn) ||
	    curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, tp_ts_prereq_cb) ||
	    curl_easy_setopt(c, CURLOPT_PREREQDATA, conn) ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tp_ts_write_cb) ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, b)) {
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
}

/* A failed transfer as -errno, with its reason recorded. */
static int tp_ts_curl_error(CURL *c, CURLcode rc, const struct tp_ts_conn *conn,
			    const struct tp_ts_body *b, const char *path,
			    const char *errbuf)
{
	const char *msg = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	long oserr = 0;

	if (conn->err)
		return conn->err; /* refused, already explained */
	if (rc == CURLE_WRITE_ERROR && b->err) {
		tp_peer_set_error("LocalAPI status: %s", b->err == -EFBIG ?
				  "answer too large" : "out of memory");
		return b->err;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		tp_peer_set_error("LocalAPI %s: timed out (%s)", path, msg);
		return -ETIMEDOUT;
	}
	if (rc == CURLE_OUT_OF_MEMORY)
		return -ENOMEM;
	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
	tp_peer_set_error("LocalAPI %s: %s%s", path, msg,
			  oserr == ENOENT ? " (is tailscaled running?)" : "");
	if (rc == CURLE_COULDNT_CONNECT)
		return oserr > 0 ? (int)-oserr : -ECONNREFUSED;
	return -EIO;
}

/* Any answer but 200 as -errno, with the start of its body recorded. */
static int tp_ts_http_status(CURL *c, const struct tp_ts_body *b)
{
	long status = 0;
	int n;

	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200)
		return 0;
	n = b->len > 120 ? 120 : (int)b->len;
	while (n && (b->p[n - 1] == '\n' || b->p[n - 1] == '\r'))
		n--;
	tp_peer_set_error("LocalAPI answered HTTP %ld: %.*s", status, n,
			  b->p ? b->p : "");
	return status == 401 || status == 403 ? -EACCES : -EIO;
}

/**
 * tp_ts_fetch_status_timeout() - GET /localapi/v0/status from tailscaled.
 * @socket_path: tailscaled's LocalAPI socket; NULL for
 *               /var/run/tailscale/tailscaled.sock.
 * @timeout_ms:  limit of the whole request (connection included), > 0.
 * @body:        the answer, NUL-terminated; free() it.  NULL on error.
 * @len:         its length (without the NUL).
 *
 * The server must be root (its credentials are checked once connected,
 * before the request is sent).
 *
 * Return: 0; -ENOENT (no socket), -ECONNREFUSED or another connect error;
 * -EPERM (the socket is served by another user); -ETIMEDOUT; -EACCES
 * (HTTP 401/403: neither root nor the operator);
 * -EIO (another HTTP status or transfer error); -EFBIG (answer over
 * TP_TS_BODY_MAX); -ENOMEM; -EINVAL (bad timeout).
 */
int tp_ts_fetch_status_timeout(const char *socket_path, long timeout_ms,
			       char **body, size_t *len)
{
	const char *path = socket_path ? socket_path : TP_TS_SOCKET_DEFAULT;
	struct tp_ts_conn conn = { .path = path, .trust_uid = TP_PEER_UID_ROOT_ONLY,
				   .fd = -1 };
	char errbuf[CURL_ERROR_SIZE] = "";
	struct tp_ts_body b = {};
	CURLcode rc;
	CURL *c;
	int ret;

	*body = NULL;
	*len = 0;
	if (timeout_ms <= 0)
		return -EINVAL;
	pthread_once(&tp_curl_once, tp_curl_init);
	c = tp_curl_init_rc ? NULL : tp_ts_curl(path, timeout_ms, &conn, &b, errbuf);
	if (!c) {
		tp_peer_set_error("libcurl initialisation failed");
		return -ENOMEM;
	}
	rc = curl_easy_perform(c);
	ret = rc ? tp_ts_curl_error(c, rc, &conn, &b, path, errbuf) :
		   tp_ts_http_status(c, &b);
	curl_easy_cleanup(c);
	if (!ret && !b.p)
		b.p = calloc(1, 1);
	if (!ret && !b.p)
		ret = -ENOMEM;
	if (ret) {
		free(b.p);
		return ret;
	}
	*body = b.p;
	*len = b.len;
	return 0;
}

/**
 * tp_ts_fetch_status() - GET /localapi/v0/status with the default timeout
 * (TP_TS_TIMEOUT_MS).
 * @socket_path: tailscaled's socket; NULL for the default.
 * @body:        the answer, NUL-terminated; free() it.
 * @len:         its length.
 *
 * Return: as tp_ts_fetch_status_timeout().
 */
int tp_ts_fetch_status(const char *socket_path, char **body, size_t *len)
{
	return tp_ts_fetch_status_timeout(socket_path, TP_TS_TIMEOUT_MS, body,
					  len);
}

/* ---- status document ----------------------------------------------------- */

static yajl_val tp_json_get(yajl_val obj, const char *key)
{
	size_t i;

	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (i = 0; i < obj->u.object.len; i++)
		if (!strcmp(obj->u.object.keys[i], key))
			return obj->u.object.values[i];
	return NULL;
}

/* Missing and null are the same to us. */
static bool tp_json_absent(yajl_val v)
{
	return !v || YAJL_IS_NULL(v);
}

/* Copy @len bytes of @src, cut to fit @size without splitting a UTF-8 char. */
static void tp_copy_cut(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size) {
		len = size - 1;
		while (len && ((unsigned char)src[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void tp_ts_name(struct tp_peer *p, yajl_val v)
{
	const char *s = YAJL_GET_STRING(tp_json_get(v, "HostName"));
	size_t n;

	if (s && *s) {
		tp_copy_cut(p->name, sizeof(p->name), s, strlen(s));
		return;
	}
	s = YAJL_GET_STRING(tp_json_get(v, "DNSName"));
	if (!s)
		return;
	n = strlen(s);
	if (n && s[n - 1] == '.')
		n--;
	tp_copy_cut(p->name, sizeof(p->name), s, n);
}

/* The LoginName of User[UserID]; left empty when unknown or too long. */
static void tp_ts_user(struct tp_peer *p, yajl_val v, yajl_val users)
{
	yajl_val uid = tp_json_get(v, "UserID");
	const char *id = NULL, *login;

	if (YAJL_IS_NUMBER(uid))
		id = YAJL_GET_NUMBER(uid);
	else if (YAJL_IS_STRING(uid))
		id = YAJL_GET_STRING(uid);
	if (!id)
		return;
	login = YAJL_GET_STRING(tp_json_get(tp_json_get(users, id), "LoginName"));
	if (login && strlen(login) < sizeof(p->user))
		strcpy(p->user, login);
}

static int tp_ts_tags(struct tp_peer *p, yajl_val tags)
{
	const char *t;
	size_t i;
	int err;

	if (tp_json_absent(tags))
		return 0;
	if (!YAJL_IS_ARRAY(tags))
		goto bad;
	for (i = 0; i < tags->u.array.len; i++) {
		t = YAJL_GET_STRING(tags->u.array.values[i]);
		if (!t)
			goto bad;
		if (!*t)
			continue;
		err = tp_peer_add_tag(p, t);
		if (err)
			return err;
	}
	return 0;
bad:
	tp_peer_set_error("status: Tags of peer %s is not a list of strings",
			  p->key);
	return -EPROTO;
}

static int tp_ts_ips(struct tp_peer *p, yajl_val ips)
{
	struct tp_peer_prefix pp;
	const char *s;
	size_t i;

	if (tp_json_absent(ips))
		return 0;
	if (!YAJL_IS_ARRAY(ips))
		goto bad;
	for (i = 0; i < ips->u.array.len; i++) {
		s = YAJL_GET_STRING(ips->u.array.values[i]);
		if (!s || strchr(s, '/') || tp_peer_prefix_parse(s, true, &pp))
			goto bad;
		if (tp_peer_add_prefix(p, &pp.addr, 128))
			return -ENOMEM;
	}
	return 0;
bad:
	tp_peer_set_error("status: TailscaleIPs of peer %s is not a list of addresses",
			  p->key);
	return -EPROTO;
}

static int tp_ts_peer(const char *key, yajl_val v, yajl_val users,
		      struct tp_peer_list *out)
{
	struct tp_peer *p;
	int err;

	if (!YAJL_IS_OBJECT(v)) {
		tp_peer_set_error("status: Peer[\"%.80s\"] is not an object", key);
		return -EPROTO;
	}
	p = tp_peer_list_add(out, key);
	if (!p)
		return -errno;
	tp_ts_name(p, v);
	tp_ts_user(p, v, users);
	err = tp_ts_tags(p, tp_json_get(v, "Tags"));
	if (!err)
		err = tp_ts_ips(p, tp_json_get(v, "TailscaleIPs"));
	return err;
}

static int tp_ts_peers(yajl_val root, struct tp_peer_list *out)
{
	yajl_val peers = tp_json_get(root, "Peer");
	yajl_val users = tp_json_get(root, "User");
	size_t i;
	int err;

	if (tp_json_absent(peers))
		return 0;
	if (!YAJL_IS_OBJECT(peers)) {
		tp_peer_set_error("status: Peer is not an object");
		return -EPROTO;
	}
	for (i = 0; i < peers->u.object.len; i++) {
		err = tp_ts_peer(peers->u.object.keys[i],
				 peers->u.object.values[i], users, out);
		if (err)
			return err;
	}
	return 0;
}

/* Parse @len bytes of JSON (which need no NUL) into a tree. */
static int tp_ts_tree(const char *json, size_t len, yajl_val *root)
{
	char errbuf[256], *text, *c;

	*root = NULL;
	if (memchr(json, '\0', len)) {
		tp_peer_set_error("status: NUL byte in the document");
		return -EBADMSG;
	}
	text = strndup(json, len);
	if (!text)
		return -ENOMEM;
	errbuf[0] = '\0';
	*root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
	free(text);
	if (*root)
		return 0;
	for (c = errbuf; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	tp_peer_set_error("status: not JSON: %s", errbuf);
	return -EBADMSG;
}

/**
 * tp_ts_parse_status() - the peers of a LocalAPI status document.
 * @json: the document (`tailscale status --json` has the same shape).
 * @len:  its length.
 * @out:  the peers, canonical (see peers.h); emptied first, empty on error.
 *
 * Every entry of "Peer" becomes a peer: key = its map key, name = HostName
 * (or DNSName), user = "User"[UserID].LoginName, tags = Tags, prefixes =
 * TailscaleIPs as /128.  "Self" is not a peer.  Missing or null fields
 * leave the peer's field empty; a null or missing "Peer" gives no peers.
 *
 * Return: 0; -EBADMSG (not JSON); -EPROTO (not a status document: the root
 * or "Peer" not an object, a peer not an object, Tags not strings,
 * TailscaleIPs not addresses); -ENOMEM.
 */
int tp_ts_parse_status(const char *json, size_t len, struct tp_peer_list *out)
{
	yajl_val root;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = tp_ts_tree(json, len, &root);
	if (ret)
		return ret;
	if (!YAJL_IS_OBJECT(root)) {
		tp_peer_set_error("status: the document is not a JSON object");
		ret = -EPROTO;
	}
	if (!ret)
		ret = tp_ts_peers(root, out);
	if (!ret)
		ret = tp_peer_list_canonicalize(out);
	if (ret)
		tp_peer_list_free(out);
	yajl_tree_free(root);
	return ret;
}
