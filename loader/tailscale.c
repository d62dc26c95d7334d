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
 *
 * The request goes through unix_http.c's small HTTP/1.1 client, not
 * libcurl: plain HTTP over a unix socket, without the TLS stack libcurl
 * brings (about 8 MiB resident once loaded).
 *
 * The document is parsed as it streams in, with yajl's callback parser:
 * only the fields above are kept, so memory follows the number of peers,
 * not the size of the document (a large tailnet's status is tens of MiB,
 * most of it fields we do not read), and nesting is bounded
 * (TP_TS_MAX_DEPTH) so no document can exhaust a stack.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "array.h"
#include "json.h"
#include "peers.h"
#include "unix_http.h"

#define TP_TS_HOST     "local-tailscaled.sock" /* tailscaled checks it */
#define TP_TS_TARGET   "/localapi/v0/status"
#define TP_TS_ERR_KEEP 128 /* bytes of an error answer kept for the message */

/* ---- status document ----------------------------------------------------- */

/* Where in the document the parser is. */
enum tp_ts_where {
	TS_TOP,	  /* before the root */
	TS_ROOT,  /* in the root object */
	TS_PEERS, /* in "Peer" */
	TS_PEER,  /* in one peer */
	TS_TAGS,  /* in a peer's "Tags" */
	TS_IPS,	  /* in a peer's "TailscaleIPs" */
	TS_USERS, /* in "User" */
	TS_USER,  /* in one user */
	TS_SKIP,  /* in a value nobody reads */
	TS_END,	  /* after the root */
};

/* What the value after the last key is to us. */
enum tpd_ts_next {
	TN_SKIP,
	TN_PEERS,
	TN_USERS,
	TN_PEER,
	TN_HOSTNAME,
	TN_DNSNAME,
	TN_USERID,
	TN_TAGS,
	TN_IPS,
	TN_USER,
	TN_LOGIN,
};

/* The kinds of JSON value, as the callbacks see them. */

/**
 * struct tp_ts_user - one entry of "User".
 * @id:    its key (the UserID as text).
 * @login: its LoginName; empty when missing, not a string or too long.
 * @order: its position, so that the first of equal ids wins.
 */
struct tp_ts_user {
	char *id;
	char login[TP_PEER_USER_LEN];
	size_t order;
};

/**
 * struct tp_ts_cur - the peer being read.
 * @idx:      its index in the list.
 * @seen:     the fields met so far (TN_* bits); the first of a name counts,
 *            as a lookup by name in the whole object would find it.
 * @host_set: HostName was a non-empty string.
 * @dns_set:  DNSName was a string.
 * @host:     HostName, cut to fit.
 * @dns:      DNSName without its trailing dot, cut to fit.
 */
struct tp_ts_cur {
	size_t idx;
	unsigned int seen;
	bool host_set;
	bool dns_set;
	char host[TP_PEER_NAME_LEN];
	char dns[TP_PEER_NAME_LEN];
};

/**
 * struct tp_ts_parser - a status document being parsed.
 * @h:          yajl's parser.
 * @out:        the peers.
 * @where:      enum tp_ts_where.
 * @skip_from:  where to return once the skipped value ends.
 * @next:       enum tpd_ts_next, for the value after the last key.
 * @depth:      open objects and arrays.
 * @skip_depth: open objects and arrays of the skipped value.
 * @seen_peer:  the root's "Peer" was met (only the first counts).
 * @seen_user:  the root's "User" was met.
 * @seen_login: the current user's "LoginName" was met.
 * @key:        the last key of "Peer" or "User", NUL-terminated.
 * @key_cap:    its buffer's size.
 * @cur:        the peer being read.
 * @uids:       per peer of @out, its UserID as text or NULL; users are
 *              looked up at the end ("User" comes after "Peer").
 * @uids_cap:   entries of @uids.
 * @users:      the entries of "User".
 * @n_users:    their number.
 * @users_cap:  entries allocated.
 * @err:        the first error (negative), 0 for none; recorded with
 *              tpd_peer_set_error().
 */
struct tp_ts_parser {
	yajl_handle h;
	struct tp_json_reader rd; /* @h's events */
	struct tp_peer_list *out;
	enum tp_ts_where where, skip_from;
	enum tpd_ts_next next;
	unsigned int depth, skip_depth;
	bool seen_peer, seen_user, seen_login;
	char *key;
	size_t key_cap;
	struct tp_ts_cur cur;
	char **uids;
	size_t uids_cap;
	struct tp_ts_user *users;
	size_t n_users, users_cap;
	int err;
};

/* Stop the parse with @err (its reason already recorded). */
static int tpd_ts_stop(struct tp_ts_parser *p, int err)
{
	if (!p->err)
		p->err = err;
	return 0;
}

static int tpd_ts_nomem(struct tp_ts_parser *p)
{
	tpd_peer_set_error("out of memory");
	return tpd_ts_stop(p, -ENOMEM);
}

/* Copy @len bytes of @src, cut to fit @size without splitting a UTF-8 char. */
static void tpd_copy_cut(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size) {
		len = size - 1;
		while (len && ((unsigned char)src[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * A JSON string or key as C sees it: up to its first NUL ("\u0000"), as
 * a document tree would have handed it over.
 */
static size_t tpd_ts_clen(const unsigned char *s, size_t len)
{
	return strnlen((const char *)s, len);
}

static bool tpd_ts_key_is(const unsigned char *key, size_t len,
			  const char *name)
{
	return len == strlen(name) && !memcmp(key, name, len);
}

/* Grow @*v (of @*cap entries of @size) to hold @n entries. */
static int tpd_ts_grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t old = *cap;

	if (tp_array_grow(v, cap, n, size, 16))
		return -ENOMEM;
	memset((char *)*v + old * size, 0, (*cap - old) * size);
	return 0;
}

static struct tp_ts_parser *tpd_ts_of(void *ctx)
{
	return ctx;
}

/* A value of "Peer": a peer object, whose key is the node key. */
static int tpd_ts_peer_start(struct tp_ts_parser *p, enum tp_json_kind k)
{
	if (k != TP_JSON_MAP) {
		tpd_peer_set_error("status: Peer[\"%.80s\"] is not an object",
				   p->key);
		return tpd_ts_stop(p, -EPROTO);
	}
	if (!tpd_peer_list_add(p->out, p->key))
		return tpd_ts_stop(
			p, -errno); /* recorded by tpd_peer_list_add() */
	if (tpd_ts_grow((void **)&p->uids, &p->uids_cap, p->out->n,
			sizeof(*p->uids)))
		return tpd_ts_nomem(p);
	memset(&p->cur, 0, sizeof(p->cur));
	p->cur.idx = p->out->n - 1;
	p->where = TS_PEER;
	return 1;
}

/* The end of a peer: its name is HostName, else DNSName. */
static void tpd_ts_peer_end(struct tp_ts_parser *p)
{
	struct tp_peer *peer = &p->out->v[p->cur.idx];

	if (p->cur.host_set)
		strcpy(peer->name, p->cur.host);
	else if (p->cur.dns_set)
		strcpy(peer->name, p->cur.dns);
}

static int tpd_ts_tag(struct tp_ts_parser *p, enum tp_json_kind k,
		      const unsigned char *s, size_t len)
{
	struct tp_peer *peer = &p->out->v[p->cur.idx];
	char *tag;
	int err;

	if (k != TP_JSON_STRING) {
		tpd_peer_set_error(
			"status: Tags of peer %s is not a list of strings",
			peer->key);
		return tpd_ts_stop(p, -EPROTO);
	}
	len = tpd_ts_clen(s, len);
	if (!len)
		return 1;
	tag = strndup((const char *)s, len);
	if (!tag)
		return tpd_ts_nomem(p);
	err = tpd_peer_add_tag(peer, tag);
	free(tag);
	return err ? tpd_ts_stop(p, err) : 1;
}

static int tpd_ts_ip(struct tp_ts_parser *p, enum tp_json_kind k,
		     const unsigned char *s, size_t len)
{
	struct tp_peer *peer = &p->out->v[p->cur.idx];
	struct tp_peer_prefix pp;
	char text[64];

	len = k == TP_JSON_STRING ? tpd_ts_clen(s, len) : 0;
	if (k != TP_JSON_STRING || len >= sizeof(text))
		goto bad;
	memcpy(text, s, len);
	text[len] = '\0';
	if (strchr(text, '/') || tpd_peer_prefix_parse(text, true, &pp))
		goto bad;
	if (tpd_peer_add_prefix(peer, &pp.addr, 128))
		return tpd_ts_nomem(p);
	return 1;
bad:
	tpd_peer_set_error(
		"status: TailscaleIPs of peer %s is not a list of addresses",
		peer->key);
	return tpd_ts_stop(p, -EPROTO);
}

/* A value of "User": its key is a UserID; the first of an id counts. */
static int tpd_ts_user_start(struct tp_ts_parser *p, enum tp_json_kind k)
{
	struct tp_ts_user *u;

	if (tpd_ts_grow((void **)&p->users, &p->users_cap, p->n_users + 1,
			sizeof(*p->users)))
		return tpd_ts_nomem(p);
	u = &p->users[p->n_users];
	u->id = strdup(p->key);
	if (!u->id)
		return tpd_ts_nomem(p);
	u->login[0] = '\0';
	u->order = p->n_users++;
	if (k == TP_JSON_MAP) {
		p->where = TS_USER;
		p->seen_login = false;
	}
	return 1;
}

/* The value after a key, or an element of "Tags" or "TailscaleIPs". */
static int tpd_ts_value(struct tp_ts_parser *p, enum tp_json_kind k,
			const unsigned char *s, size_t len)
{
	bool open = k == TP_JSON_MAP || k == TP_JSON_ARRAY;
	enum tpd_ts_next next = p->next;
	struct tp_ts_user *u;
	int ret = 1;

	if (open && ++p->depth > TP_TS_MAX_DEPTH) {
		tpd_peer_set_error("status: nested deeper than %d levels",
				   TP_TS_MAX_DEPTH);
		return tpd_ts_stop(p, -EPROTO);
	}
	if (p->where == TS_SKIP) {
		p->skip_depth += open;
		return 1;
	}
	p->next = TN_SKIP;
	switch (p->where) {
	case TS_TOP:
		if (k != TP_JSON_MAP) {
			tpd_peer_set_error(
				"status: the document is not a JSON object");
			return tpd_ts_stop(p, -EPROTO);
		}
		p->where = TS_ROOT;
		return 1;
	case TS_TAGS:
		return tpd_ts_tag(p, k, s, len);
	case TS_IPS:
		return tpd_ts_ip(p, k, s, len);
	default:
		break;
	}
	switch (next) {
	case TN_PEERS:
		if (k == TP_JSON_NULL)
			return 1;
		if (k != TP_JSON_MAP) {
			tpd_peer_set_error("status: Peer is not an object");
			return tpd_ts_stop(p, -EPROTO);
		}
		p->where = TS_PEERS;
		return 1;
	case TN_USERS:
		if (k == TP_JSON_MAP) {
			p->where = TS_USERS;
			return 1;
		}
		break; /* anything else: no users */
	case TN_PEER:
		return tpd_ts_peer_start(p, k);
	case TN_HOSTNAME:
		if (k == TP_JSON_STRING && tpd_ts_clen(s, len)) {
			tpd_copy_cut(p->cur.host, sizeof(p->cur.host),
				     (const char *)s, tpd_ts_clen(s, len));
			p->cur.host_set = true;
		}
		break;
	case TN_DNSNAME:
		if (k == TP_JSON_STRING) {
			len = tpd_ts_clen(s, len);
			if (len && s[len - 1] == '.')
				len--;
			tpd_copy_cut(p->cur.dns, sizeof(p->cur.dns),
				     (const char *)s, len);
			p->cur.dns_set = true;
		}
		break;
	case TN_USERID:
		/* a number as written ("42", "42.5"), or a string */
		if (k == TP_JSON_NUMBER || k == TP_JSON_STRING) {
			p->uids[p->cur.idx] =
				strndup((const char *)s, tpd_ts_clen(s, len));
			if (!p->uids[p->cur.idx])
				return tpd_ts_nomem(p);
		}
		break;
	case TN_TAGS:
	case TN_IPS:
		if (k == TP_JSON_NULL)
			return 1;
		if (k == TP_JSON_ARRAY) {
			p->where = next == TN_TAGS ? TS_TAGS : TS_IPS;
			return 1;
		}
		if (next == TN_TAGS)
			tpd_peer_set_error(
				"status: Tags of peer %s is not a list of strings",
				p->out->v[p->cur.idx].key);
		else
			tpd_peer_set_error(
				"status: TailscaleIPs of peer %s is not a list of addresses",
				p->out->v[p->cur.idx].key);
		return tpd_ts_stop(p, -EPROTO);
	case TN_USER:
		ret = tpd_ts_user_start(p, k);
		if (!ret || k == TP_JSON_MAP)
			return ret;
		break;
	case TN_LOGIN:
		u = &p->users[p->n_users - 1];
		if (k == TP_JSON_STRING &&
		    tpd_ts_clen(s, len) < sizeof(u->login)) {
			memcpy(u->login, s, tpd_ts_clen(s, len));
			u->login[tpd_ts_clen(s, len)] = '\0';
		}
		break;
	case TN_SKIP:
		break;
	}
	if (open) {
		p->skip_from = p->where;
		p->where = TS_SKIP;
		p->skip_depth = 1;
	}
	return ret;
}

/* Every value, through lib/json.c's reader. */
static int tpd_ts_cb_value(void *ctx, enum tp_json_kind k, const char *s,
			   size_t len, int b)
{
	return tpd_ts_value(tpd_ts_of(ctx), k, (const unsigned char *)s, len);
}

/* Keep the key of a peer or a user, NUL-terminated. */
static int tpd_ts_keep_key(struct tp_ts_parser *p, const unsigned char *key,
			   size_t len)
{
	len = tpd_ts_clen(key, len);
	if (tpd_ts_grow((void **)&p->key, &p->key_cap, len + 1, 1))
		return tpd_ts_nomem(p);
	memcpy(p->key, key, len);
	p->key[len] = '\0';
	return 1;
}

/* The first of a peer's fields of one name counts (@bit of cur.seen). */
static enum tpd_ts_next tpd_ts_peer_field(struct tp_ts_parser *p,
					  enum tpd_ts_next f)
{
	unsigned int bit = 1u << f;

	if (p->cur.seen & bit)
		return TN_SKIP;
	p->cur.seen |= bit;
	return f;
}

static int tpd_ts_cb_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct tp_ts_parser *p = tpd_ts_of(ctx);

	len = tpd_ts_clen(key, len);
	p->next = TN_SKIP;
	switch (p->where) {
	case TS_ROOT:
		if (!p->seen_peer && tpd_ts_key_is(key, len, "Peer")) {
			p->seen_peer = true;
			p->next = TN_PEERS;
		} else if (!p->seen_user && tpd_ts_key_is(key, len, "User")) {
			p->seen_user = true;
			p->next = TN_USERS;
		}
		return 1;
	case TS_PEERS:
		p->next = TN_PEER;
		return tpd_ts_keep_key(p, key, len);
	case TS_PEER:
		if (tpd_ts_key_is(key, len, "HostName"))
			p->next = tpd_ts_peer_field(p, TN_HOSTNAME);
		else if (tpd_ts_key_is(key, len, "DNSName"))
			p->next = tpd_ts_peer_field(p, TN_DNSNAME);
		else if (tpd_ts_key_is(key, len, "UserID"))
			p->next = tpd_ts_peer_field(p, TN_USERID);
		else if (tpd_ts_key_is(key, len, "Tags"))
			p->next = tpd_ts_peer_field(p, TN_TAGS);
		else if (tpd_ts_key_is(key, len, "TailscaleIPs"))
			p->next = tpd_ts_peer_field(p, TN_IPS);
		return 1;
	case TS_USERS:
		p->next = TN_USER;
		return tpd_ts_keep_key(p, key, len);
	case TS_USER:
		if (!p->seen_login && tpd_ts_key_is(key, len, "LoginName")) {
			p->seen_login = true;
			p->next = TN_LOGIN;
		}
		return 1;
	default:
		return 1;
	}
}

static int tpd_ts_cb_end(void *ctx)
{
	struct tp_ts_parser *p = tpd_ts_of(ctx);

	p->depth--;
	switch (p->where) {
	case TS_SKIP:
		if (!--p->skip_depth)
			p->where = p->skip_from;
		break;
	case TS_PEER:
		tpd_ts_peer_end(p);
		p->where = TS_PEERS;
		break;
	case TS_TAGS:
	case TS_IPS:
		p->where = TS_PEER;
		break;
	case TS_USER:
		p->where = TS_USERS;
		break;
	case TS_PEERS:
	case TS_USERS:
		p->where = TS_ROOT;
		break;
	default:
		p->where = TS_END;
		break;
	}
	return 1;
}

/**
 * tpd_ts_parser_new() - start parsing a status document.
 * @out: the peers; emptied.
 *
 * Return: the parser (tpd_ts_parser_feed(), tpd_ts_parser_finish(),
 * tpd_ts_parser_free()), or NULL when out of memory.
 */
struct tp_ts_parser *tpd_ts_parser_new(struct tp_peer_list *out)
{
	struct tp_ts_parser *p = calloc(1, sizeof(*p));

	memset(out, 0, sizeof(*out));
	if (!p)
		goto nomem;
	p->out = out;
	p->rd = (struct tp_json_reader){ .value = tpd_ts_cb_value,
					 .key = tpd_ts_cb_map_key,
					 .end = tpd_ts_cb_end,
					 .ctx = p };
	p->h = tp_json_reader_alloc(&p->rd);
	if (!p->h)
		goto nomem;
	yajl_config(p->h, yajl_allow_comments,
		    1); /* as yajl's tree parser did */
	return p;
nomem:
	free(p);
	tpd_peer_set_error("out of memory");
	return NULL;
}

/* yajl's status as -errno, with the reason recorded. */
static int tpd_ts_parser_status(struct tp_ts_parser *p, yajl_status st,
				const char *text, size_t len)
{
	unsigned char *msg;
	char *c;

	if (st == yajl_status_ok || p->err)
		return p->err;
	if (st == yajl_status_client_canceled)
		return (p->err = -EPROTO); /* not reached: callbacks set err */
	msg = yajl_get_error(p->h, text != NULL, (const unsigned char *)text,
			     len);
	for (c = (char *)msg; c && *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	tpd_peer_set_error("status: not JSON: %s",
			   msg ? (char *)msg : "parse error");
	if (msg)
		yajl_free_error(p->h, msg);
	return (p->err = -EBADMSG);
}

/**
 * tpd_ts_parser_feed() - parse the next @len bytes of the document.
 * @p:    the parser.
 * @text: the bytes (no NUL needed).
 * @len:  their number.
 *
 * Return: 0, or the error that ended the parse (see tpd_ts_parse_status());
 * every later call returns it too.
 */
int tpd_ts_parser_feed(struct tp_ts_parser *p, const char *text, size_t len)
{
	if (p->err)
		return p->err;
	if (memchr(text, '\0', len)) {
		tpd_peer_set_error("status: NUL byte in the document");
		return (p->err = -EBADMSG);
	}
	return tpd_ts_parser_status(
		p, yajl_parse(p->h, (const unsigned char *)text, len), text,
		len);
}

static int tpd_ts_user_cmp(const void *a, const void *b)
{
	const struct tp_ts_user *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c ? c : x->order < y->order ? -1 : x->order > y->order;
}

/* Each peer's user: the LoginName of the first "User" entry of its id. */
static void tpd_ts_resolve_users(struct tp_ts_parser *p)
{
	struct tp_ts_user key, *u;
	size_t i, lo, hi, mid;

	if (p->n_users) /* no "User", or an empty one: users is NULL */
		qsort(p->users, p->n_users, sizeof(*p->users), tpd_ts_user_cmp);
	for (i = 0; i < p->out->n; i++) {
		if (!p->uids[i])
			continue;
		key.id = p->uids[i];
		key.order = 0;
		lo = 0;
		hi = p->n_users;
		while (lo < hi) { /* the first entry not below (id, 0) */
			mid = lo + (hi - lo) / 2;
			if (tpd_ts_user_cmp(&p->users[mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		u = lo < p->n_users ? &p->users[lo] : NULL;
		if (u && !strcmp(u->id, key.id))
			strcpy(p->out->v[i].user, u->login);
	}
}

/**
 * tpd_ts_parser_finish() - end the document: check it is complete, give
 * every peer its user, and make the list canonical.
 * @p: the parser.
 *
 * Return: 0, or an error of tpd_ts_parse_status(); the list is empty then.
 */
int tpd_ts_parser_finish(struct tp_ts_parser *p)
{
	if (!p->err)
		tpd_ts_parser_status(p, yajl_complete_parse(p->h), NULL, 0);
	if (!p->err) {
		tpd_ts_resolve_users(p);
		p->err = tpd_peer_list_canonicalize(p->out);
	}
	if (p->err)
		tpd_peer_list_free(p->out);
	return p->err;
}

/** tpd_ts_parser_free() - free a parser (not its list). */
void tpd_ts_parser_free(struct tp_ts_parser *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->uids_cap; i++)
		free(p->uids[i]);
	free(p->uids);
	for (i = 0; i < p->n_users; i++)
		free(p->users[i].id);
	free(p->users);
	free(p->key);
	if (p->h)
		yajl_free(p->h);
	free(p);
}

/**
 * tpd_ts_parse_status() - the peers of a LocalAPI status document.
 * @json: the document (`tailscale status --json` has the same shape).
 * @len:  its length.
 * @out:  the peers, canonical (see peers.h); emptied first, empty on error.
 *
 * Every entry of "Peer" becomes a peer: key = its map key, name = HostName
 * (or DNSName), user = "User"[UserID].LoginName, tags = Tags, prefixes =
 * TailscaleIPs as /128.  "Self" is not a peer.  Missing or null fields
 * leave the peer's field empty; a null or missing "Peer" gives no peers.
 * Where an object has a name twice, the first counts.
 *
 * Return: 0; -EBADMSG (not JSON); -EPROTO (not a status document: the root
 * or "Peer" not an object, a peer not an object, Tags not strings,
 * TailscaleIPs not addresses, nested deeper than TP_TS_MAX_DEPTH);
 * -EINVAL (an empty peer key); -ENOMEM.  The parse stops at the first
 * error.
 */
int tpd_ts_parse_status(const char *json, size_t len, struct tp_peer_list *out)
{
	struct tp_ts_parser *p = tpd_ts_parser_new(out);
	int ret;

	if (!p)
		return -ENOMEM;
	ret = tpd_ts_parser_feed(p, json, len);
	if (ret)
		tpd_peer_list_free(out);
	else
		ret = tpd_ts_parser_finish(p);
	tpd_ts_parser_free(p);
	return ret;
}

/* ---- LocalAPI request --------------------------------------------------- */

/**
 * struct tp_ts_sink - where the answer goes.
 * @parser: the status parser, fed as the answer comes; NULL to keep the
 *          whole answer in @p.
 * @p:      the answer (NUL-terminated), or with @parser the start of an
 *          answer that is not a 200, for the error message.
 * @len:    bytes in @p.
 * @cap:    allocated size of @p.
 */
struct tp_ts_sink {
	struct tp_ts_parser *parser;
	char *p;
	size_t len;
	size_t cap;
};

/**
 * struct tp_ts_conn - the connection to the LocalAPI socket.
 * @path:      the socket.
 * @trust_uid: a user trusted besides root to serve it.
 */
struct tp_ts_conn {
	const char *path;
	uid_t trust_uid;
};

/*
 * Connected, nothing sent yet: believe the server only if it is root or
 * the trusted user.  The check is on the very socket the request will
 * use, so no other server can be swapped in after it.
 */
static int tpd_ts_check_cb(void *arg, int fd)
{
	const struct tp_ts_conn *c = arg;

	return tpd_peer_check_cred(fd, "LocalAPI socket", c->path,
				   c->trust_uid);
}

/* Append @n bytes to @s->p, keeping it NUL-terminated. */
static int tpd_ts_keep(struct tp_ts_sink *s, const char *data, size_t n)
{
	size_t cap = s->cap ? s->cap : 16384;
	char *np;

	while (cap < s->len + n + 1)
		cap *= 2;
	if (cap != s->cap) {
		np = realloc(s->p, cap);
		if (!np)
			return -ENOMEM;
		s->p = np;
		s->cap = cap;
	}
	memcpy(s->p + s->len, data, n);
	s->len += n;
	s->p[s->len] = '\0';
	return 0;
}

/* A piece of the body (the HTTP client caps the whole at TP_TS_BODY_MAX). */
static int tpd_ts_body_cb(void *arg, int status, const char *data, size_t n)
{
	struct tp_ts_sink *s = arg;

	if (s->parser && status == 200)
		return tpd_ts_parser_feed(s->parser, data, n);
	if (s->parser) /* an error answer: its start is enough */
		n = n < TP_TS_ERR_KEEP - s->len ? n : TP_TS_ERR_KEEP - s->len;
	if (tpd_ts_keep(s, data, n)) {
		tpd_peer_set_error("LocalAPI status: out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* A failed exchange as -errno, with its reason recorded. */
static int tpd_ts_http_error(const struct tpd_uhttp_resp *r, int err,
			     const char *path)
{
	if (!r->err[0])
		return err; /* the credential check's or the sink's, explained */
	if (err == -EFBIG)
		tpd_peer_set_error("LocalAPI status: answer too large (%s)",
				   r->err);
	else
		tpd_peer_set_error("LocalAPI %s: %s%s", path, r->err,
				   err == -ENOENT ? " (is tailscaled running?)"
						  : "");
	return err;
}

/* Any answer but 200 as -errno, with the start of its body recorded. */
static int tpd_ts_http_status(int status, const struct tp_ts_sink *s)
{
	int n;

	if (status == 200)
		return 0;
	n = s->len > 120 ? 120 : (int)s->len;
	while (n && (s->p[n - 1] == '\n' || s->p[n - 1] == '\r'))
		n--;
	tpd_peer_set_error("LocalAPI answered HTTP %d: %.*s", status, n,
			   s->p ? s->p : "");
	return status == 401 || status == 403 ? -EACCES : -EIO;
}

/* GET the status into @s; 0 or -errno with the reason recorded. */
static int tpd_ts_get(const char *socket_path, long timeout_ms, uid_t trust_uid,
		      struct tp_ts_sink *s)
{
	const char *path = socket_path ? socket_path : TP_TS_SOCKET_DEFAULT;
	struct tp_ts_conn conn = { .path = path, .trust_uid = trust_uid };
	struct tpd_uhttp_req q = { .sock = path,
				   .host = TP_TS_HOST,
				   .target = TP_TS_TARGET,
				   .user_agent = "tailplaned",
				   .timeout_ms = timeout_ms,
				   .check = tpd_ts_check_cb,
				   .check_arg = &conn };
	struct tpd_uhttp_resp *r;
	int ret;

	if (timeout_ms <= 0)
		return -EINVAL;
	r = malloc(sizeof(*r)); /* its line buffer: off the stack */
	if (!r) {
		tpd_peer_set_error("out of memory");
		return -ENOMEM;
	}
	tpd_uhttp_resp_init(r, tpd_ts_body_cb, s, TP_TS_BODY_MAX);
	ret = tpd_uhttp_get(&q, r);
	ret = ret ? tpd_ts_http_error(r, ret, path)
		  : tpd_ts_http_status(r->status, s);
	free(r);
	return ret;
}

/**
 * tpd_ts_fetch_peers() - the peers of tailscaled, parsed as its status
 * streams in.
 * @socket_path: tailscaled's LocalAPI socket; NULL for
 *               /var/run/tailscale/tailscaled.sock.
 * @timeout_ms:  limit of the whole request (connection included), > 0.
 * @trust_uid:   a user trusted besides root to serve the socket (the one
 *               tailscaled runs as), or TP_PEER_UID_ROOT_ONLY.
 * @out:         the peers, canonical (see tpd_ts_parse_status()); emptied
 *               first, empty on error.
 *
 * The server's credentials are checked once connected, before the
 * request is sent.  The document is never held whole: memory follows
 * the peers kept.
 *
 * Return: 0; an error of tpd_ts_fetch_status_timeout() or of
 * tpd_ts_parse_status().
 */
int tpd_ts_fetch_peers(const char *socket_path, long timeout_ms,
		       uid_t trust_uid, struct tp_peer_list *out)
{
	struct tp_ts_sink s = {};
	int ret;

	s.parser = tpd_ts_parser_new(out);
	if (!s.parser)
		return -ENOMEM;
	ret = tpd_ts_get(socket_path, timeout_ms, trust_uid, &s);
	if (!ret)
		ret = tpd_ts_parser_finish(s.parser);
	if (ret)
		tpd_peer_list_free(out);
	tpd_ts_parser_free(s.parser);
	free(s.p);
	return ret;
}

/**
 * tpd_ts_fetch_status_timeout() - GET /localapi/v0/status from tailscaled.
 * @socket_path: tailscaled's LocalAPI socket; NULL for
 *               /var/run/tailscale/tailscaled.sock.
 * @timeout_ms:  limit of the whole request (connection included), > 0.
 * @body:        the answer, NUL-terminated; free() it.  NULL on error.
 * @len:         its length (without the NUL).
 *
 * The whole answer, for tools and tests; the loader uses
 * tpd_ts_fetch_peers().  The server must be root (its credentials are
 * checked once connected, before the request is sent).
 *
 * Return: 0; -ENOENT (no socket), -ECONNREFUSED or another connect error;
 * -EPERM (the socket is served by another user); -ETIMEDOUT; -EACCES
 * (HTTP 401/403: neither root nor the operator);
 * -EIO (another HTTP status, a malformed answer, or the server closed
 * before it was complete: see unix_http.c); -EFBIG (answer over
 * TP_TS_BODY_MAX); -ENAMETOOLONG (socket path); -ENOMEM; -EINVAL (bad
 * timeout).
 */
int tpd_ts_fetch_status_timeout(const char *socket_path, long timeout_ms,
				char **body, size_t *len)
{
	struct tp_ts_sink s = {};
	int ret;

	*body = NULL;
	*len = 0;
	ret = tpd_ts_get(socket_path, timeout_ms, TP_PEER_UID_ROOT_ONLY, &s);
	if (!ret && !s.p)
		s.p = calloc(1, 1);
	if (!ret && !s.p)
		ret = -ENOMEM;
	if (ret) {
		free(s.p);
		return ret;
	}
	*body = s.p;
	*len = s.len;
	return 0;
}

/**
 * tpd_ts_fetch_status() - GET /localapi/v0/status with the default timeout
 * (TP_TS_TIMEOUT_MS).
 * @socket_path: tailscaled's socket; NULL for the default.
 * @body:        the answer, NUL-terminated; free() it.
 * @len:         its length.
 *
 * Return: as tpd_ts_fetch_status_timeout().
 */
int tpd_ts_fetch_status(const char *socket_path, char **body, size_t *len)
{
	return tpd_ts_fetch_status_timeout(socket_path, TP_TS_TIMEOUT_MS, body,
					   len);
}
