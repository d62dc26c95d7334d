// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Peer lists shared by the peer sources (WireGuard genl and UAPI,
 * Tailscale), their canonical form, key and prefix encodings, and the
 * mapping of a zone's peers to identity entries.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "identity.h"
#include "log.h"
#include "peers.h"

/* ---- errors ------------------------------------------------------------ */

static __thread char tp_peer_err[256];

/**
 * tpd_peer_last_error() - what the last failing peer function of this
 * thread said.
 *
 * Return: a one-line message, "" when none has failed yet.
 */
const char *tpd_peer_last_error(void)
{
	return tp_peer_err;
}

/**
 * tpd_peer_set_error() - record the reason of a failure for
 * tpd_peer_last_error().
 * @fmt: printf format.
 */
void tpd_peer_set_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* one line, whatever the source sent (keys, lines, yajl's excerpt) */
	tpd_one_line(tp_peer_err, sizeof(tp_peer_err), msg);
}

/* ---- deadlines ------------------------------------------------------------ */

/*
 * A source that answers slowly must not hold the loader: a timeout per
 * read lets a socket that trickles a byte now and then keep a reader
 * forever.  Readers get one deadline for the whole request instead.
 */

static __u64 tpd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + (__u64)ts.tv_nsec / 1000000;
}

/**
 * tpd_deadline_after() - the deadline @ms milliseconds from now.
 * @ms: milliseconds.
 *
 * Return: a CLOCK_MONOTONIC time in milliseconds.
 */
__u64 tpd_deadline_after(unsigned int ms)
{
	return tpd_now_ms() + ms;
}

/**
 * tpd_deadline_left() - milliseconds left until @deadline.
 * @deadline: from tpd_deadline_after().
 *
 * Return: the milliseconds left, 0 when it has passed.
 */
unsigned int tpd_deadline_left(__u64 deadline)
{
	__u64 now = tpd_now_ms();

	if (now >= deadline)
		return 0;
	return deadline - now > 0x7fffffff ? 0x7fffffff
					   : (unsigned int)(deadline - now);
}

/**
 * tpd_recv_by() - receive what there is on a socket, waiting until
 * @deadline at most.
 * @fd:       the socket.
 * @buf:      where to.
 * @len:      its room.
 * @deadline: from tpd_deadline_after().
 *
 * Return: the bytes received, 0 at EOF, -ETIMEDOUT when @deadline passed
 * first, or -errno.
 */
ssize_t tpd_recv_by(int fd, void *buf, size_t len, __u64 deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned int left;
	ssize_t n;
	int r;

	for (;;) {
		left = tpd_deadline_left(deadline);
		if (!left)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r)
			return -ETIMEDOUT;
		n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
}

/* ---- lists --------------------------------------------------------------- */

/*
 * Make room for element @n of the array *@v of @size-byte elements.  The
 * capacity is implied by @n: arrays grow to 4, then double at each power
 * of two, so only the count has to be stored.
 */
static int tpd_grow(void **v, size_t n, size_t size)
{
	size_t cap;
	void *nv;

	if (n && (n < 4 || (n & (n - 1))))
		return 0;
	cap = n < 4 ? 4 : n * 2;
	if (cap > ((size_t)-1) / size)
		return -ENOMEM;
	nv = realloc(*v, cap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	return 0;
}

static void tpd_peer_free(struct tp_peer *p)
{
	size_t i;

	for (i = 0; i < p->n_tags; i++)
		free(p->tags[i]);
	free(p->tags);
	free(p->prefixes);
	memset(p, 0, sizeof(*p));
}

/**
 * tpd_peer_list_free() - free the peers of @l and empty it.
 * @l: the list; may be NULL.
 */
void tpd_peer_list_free(struct tp_peer_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		tpd_peer_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/**
 * tpd_peer_list_add() - append an empty peer.
 * @l:   the list.
 * @key: its key, 1..TP_PEER_KEY_LEN-1 characters.
 *
 * Return: the new peer, zeroed but for its key (valid until the next
 * append), or NULL with errno set (EINVAL, ENAMETOOLONG, ENOMEM).
 */
struct tp_peer *tpd_peer_list_add(struct tp_peer_list *l, const char *key)
{
	size_t klen = key ? strlen(key) : 0;
	struct tp_peer *p;

	if (!klen || klen >= TP_PEER_KEY_LEN) {
		tpd_peer_set_error("peer key of %zu characters (1..%d allowed)",
				   klen, TP_PEER_KEY_LEN - 1);
		errno = klen ? ENAMETOOLONG : EINVAL;
		return NULL;
	}
	if (tpd_grow((void **)&l->v, l->n, sizeof(*l->v))) {
		tpd_peer_set_error("out of memory");
		errno = ENOMEM;
		return NULL;
	}
	p = &l->v[l->n++];
	memset(p, 0, sizeof(*p));
	memcpy(p->key, key, klen + 1);
	return p;
}

/**
 * tpd_peer_add_prefix() - append a prefix to a peer.
 * @p:    the peer.
 * @addr: the address (IPv4 mapped); bits past @plen are cleared.
 * @plen: prefix length in the 128-bit space.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int tpd_peer_add_prefix(struct tp_peer *p, const struct tp_addr *addr,
			unsigned int plen)
{
	struct tp_peer_prefix *pp;

	if (plen > 128) {
		tpd_peer_set_error("prefix length %u > 128", plen);
		return -EINVAL;
	}
	if (tpd_grow((void **)&p->prefixes, p->n_prefixes, sizeof(*pp))) {
		tpd_peer_set_error("out of memory");
		return -ENOMEM;
	}
	pp = &p->prefixes[p->n_prefixes++];
	memset(pp, 0, sizeof(*pp));
	pp->addr = *addr;
	pp->plen = plen;
	tp_addr_mask(&pp->addr, plen);
	return 0;
}

/**
 * tpd_peer_add_tag() - append a tag to a peer, unless it has it already.
 * @p:   the peer.
 * @tag: the tag, not empty.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int tpd_peer_add_tag(struct tp_peer *p, const char *tag)
{
	char *t;

	if (!tag || !*tag) {
		tpd_peer_set_error("empty tag");
		return -EINVAL;
	}
	if (tpd_peer_has_tag(p, tag))
		return 0;
	if (tpd_grow((void **)&p->tags, p->n_tags, sizeof(*p->tags)))
		goto nomem;
	t = strdup(tag);
	if (!t)
		goto nomem;
	p->tags[p->n_tags++] = t;
	return 0;
nomem:
	tpd_peer_set_error("out of memory");
	return -ENOMEM;
}

/**
 * tpd_peer_has_tag() - whether a peer carries a tag.
 * @p:   the peer.
 * @tag: the tag, compared exactly.
 *
 * Return: true if it does.
 */
bool tpd_peer_has_tag(const struct tp_peer *p, const char *tag)
{
	size_t i;

	for (i = 0; i < p->n_tags; i++)
		if (!strcmp(p->tags[i], tag))
			return true;
	return false;
}

/* ---- canonical form ------------------------------------------------------ */

static int tpd_prefix_cmp(const void *a, const void *b)
{
	const struct tp_peer_prefix *x = a, *y = b;
	int c = memcmp(&x->addr, &y->addr, sizeof(x->addr));

	if (c)
		return c;
	return (int)x->plen - (int)y->plen;
}

static void tpd_peer_sort_prefixes(struct tp_peer *p)
{
	size_t i, n = 0;

	if (p->n_prefixes < 2)
		return;
	qsort(p->prefixes, p->n_prefixes, sizeof(*p->prefixes), tpd_prefix_cmp);
	for (i = 0; i < p->n_prefixes; i++)
		if (!n || tpd_prefix_cmp(&p->prefixes[n - 1], &p->prefixes[i]))
			p->prefixes[n++] = p->prefixes[i];
	p->n_prefixes = n;
}

/* Order of peer indices: by key, then by position (a stable sort). */
static int tpd_peer_idx_cmp(const void *a, const void *b, void *arg)
{
	const struct tp_peer *v = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(v[x].key, v[y].key);

	if (c)
		return c;
	return x < y ? -1 : x > y;
}

/* Move what @src has into @dst (the same peer, seen again); frees @src. */
static int tpd_peer_merge(struct tp_peer *dst, struct tp_peer *src)
{
	size_t i;
	int err = 0;

	if (!dst->name[0])
		memcpy(dst->name, src->name, sizeof(dst->name));
	if (!dst->user[0])
		memcpy(dst->user, src->user, sizeof(dst->user));
	for (i = 0; i < src->n_prefixes && !err; i++)
		err = tpd_peer_add_prefix(dst, &src->prefixes[i].addr,
					  src->prefixes[i].plen);
	for (i = 0; i < src->n_tags && !err; i++)
		err = tpd_peer_add_tag(dst, src->tags[i]);
	tpd_peer_free(src);
	return err;
}

/**
 * tpd_peer_list_canonicalize() - bring a list into the canonical form.
 * @l: the list.
 *
 * Sorts the peers by key (strcmp), merges peers with the same key into the
 * first of them (a kernel dump repeats a peer whose allowed-ips span
 * messages), and sorts and deduplicates every peer's prefixes.
 *
 * Return: 0 or -ENOMEM (the list is then still valid, but may be left
 * unsorted or a merged peer may miss some of its prefixes or tags).
 */
int tpd_peer_list_canonicalize(struct tp_peer_list *l)
{
	struct tp_peer *nv = NULL;
	size_t *idx, i, n = 0;
	int err = 0;

	if (!l->n)
		return 0;
	idx = calloc(l->n, sizeof(*idx));
	nv = calloc(l->n, sizeof(*nv));
	if (!idx || !nv) {
		tpd_peer_set_error("out of memory");
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < l->n; i++)
		idx[i] = i;
	qsort_r(idx, l->n, sizeof(*idx), tpd_peer_idx_cmp, l->v);
	for (i = 0; i < l->n; i++) {
		struct tp_peer *p = &l->v[idx[i]];

		if (n && !strcmp(nv[n - 1].key, p->key)) {
			if (!err)
				err = tpd_peer_merge(&nv[n - 1], p);
			else
				tpd_peer_free(p);
			continue;
		}
		nv[n++] = *p;
	}
	for (i = 0; i < n; i++)
		tpd_peer_sort_prefixes(&nv[i]);
	free(l->v);
	l->v = nv;
	l->n = n;
	nv = NULL;
out:
	free(nv);
	free(idx);
	return err;
}

/* ---- prefixes -------------------------------------------------------------- */

static int tpd_parse_plen(const char *s, unsigned int max, unsigned int *plen)
{
	unsigned int v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 3)
			return -EINVAL;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (!i || v > max)
		return -EINVAL;
	*plen = v;
	return 0;
}

/**
 * tpd_peer_prefix_parse() - parse "ADDR/LEN" (IPv4 or IPv6).
 * @s:       the text.
 * @bare_ok: also accept a bare address, as a full-length prefix.
 * @p:       the result: IPv4 mapped, plen in the 128-bit space, masked.
 *
 * Return: 0 or -EINVAL (with tpd_peer_last_error() set).
 */
int tpd_peer_prefix_parse(const char *s, bool bare_ok, struct tp_peer_prefix *p)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	char abuf[INET6_ADDRSTRLEN + 1];
	bool v6 = memchr(s, ':', alen) != NULL;
	unsigned int plen = v6 ? 128 : 32;

	memset(p, 0, sizeof(*p));
	if (!alen || alen >= sizeof(abuf) || (!slash && !bare_ok))
		goto bad;
	memcpy(abuf, s, alen);
	abuf[alen] = '\0';
	if (slash && tpd_parse_plen(slash + 1, plen, &plen))
		goto bad;
	if (v6) {
		if (inet_pton(AF_INET6, abuf, p->addr.b) != 1)
			goto bad;
	} else {
		if (inet_pton(AF_INET, abuf, &p->addr.w[3]) != 1)
			goto bad;
		p->addr.w[2] = htonl(0xffff);
		plen += 96;
	}
	p->plen = plen;
	tp_addr_mask(&p->addr, plen);
	return 0;
bad:
	tpd_peer_set_error("\"%s\" is not an IPv4 or IPv6 %s", s,
			   bare_ok ? "address or prefix" : "prefix (ADDR/LEN)");
	return -EINVAL;
}

static bool tpd_peer_addr_is_v4(const struct tp_addr *a)
{
	return !a->w[0] && !a->w[1] && a->w[2] == htonl(0xffff);
}

/**
 * tpd_peer_prefix_format() - write a prefix as "ADDR/LEN", IPv4 as such
 * when its length covers the mapping (>= 96).
 * @p:   the prefix.
 * @buf: the output.
 * @len: its size; INET6_ADDRSTRLEN + 4 always suffices.
 *
 * Return: 0 or -ENOSPC.
 */
int tpd_peer_prefix_format(const struct tp_peer_prefix *p, char *buf,
			   size_t len)
{
	char a[INET6_ADDRSTRLEN];
	bool v4 = tpd_peer_addr_is_v4(&p->addr) && p->plen >= 96;
	int n;

	if (v4)
		inet_ntop(AF_INET, &p->addr.w[3], a, sizeof(a));
	else
		inet_ntop(AF_INET6, p->addr.b, a, sizeof(a));
	n = snprintf(buf, len, "%s/%u", a, v4 ? p->plen - 96u : p->plen);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* ---- keys ---------------------------------------------------------------- */

static const char tp_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * tpd_wg_key_to_base64() - encode a WireGuard key as wg(8) shows it.
 * @key: 32 bytes.
 * @out: 44 characters and a NUL.
 */
void tpd_wg_key_to_base64(const __u8 key[TP_WG_KEY_LEN],
			  char out[TP_WG_KEY_B64_LEN + 1])
{
	unsigned int i, v, o = 0;

	for (i = 0; i < TP_WG_KEY_LEN; i += 3) {
		v = (unsigned int)key[i] << 16;
		if (i + 1 < TP_WG_KEY_LEN)
			v |= (unsigned int)key[i + 1] << 8;
		if (i + 2 < TP_WG_KEY_LEN)
			v |= key[i + 2];
		out[o++] = tp_b64[(v >> 18) & 63];
		out[o++] = tp_b64[(v >> 12) & 63];
		out[o++] = i + 1 < TP_WG_KEY_LEN ? tp_b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < TP_WG_KEY_LEN ? tp_b64[v & 63] : '=';
	}
	out[o] = '\0';
}

static int tpd_b64_val(char c)
{
	const char *p = c ? strchr(tp_b64, c) : NULL;

	return p ? (int)(p - tp_b64) : -1;
}

/**
 * tpd_wg_key_from_base64() - decode a WireGuard key in canonical base64:
 * 43 characters, '=', and zero unused bits.
 * @s:   the text.
 * @key: 32 bytes out.
 *
 * Return: 0 or -EINVAL.
 */
int tpd_wg_key_from_base64(const char *s, __u8 key[TP_WG_KEY_LEN])
{
	unsigned int v = 0, bits = 0, o = 0, i;
	int d;

	if (strlen(s) != TP_WG_KEY_B64_LEN || s[TP_WG_KEY_B64_LEN - 1] != '=')
		goto bad;
	for (i = 0; i < TP_WG_KEY_B64_LEN - 1; i++) {
		d = tpd_b64_val(s[i]);
		if (d < 0)
			goto bad;
		v = (v << 6) | (unsigned int)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			key[o++] = (__u8)(v >> bits);
			v &= (1u << bits) - 1;
		}
	}
	if (o != TP_WG_KEY_LEN || v)
		goto bad;
	return 0;
bad:
	tpd_peer_set_error("\"%s\" is not a base64 WireGuard key", s);
	return -EINVAL;
}

static int tpd_hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/**
 * tpd_wg_key_from_hex() - decode a WireGuard key in hex (64 digits), as
 * the UAPI protocol writes keys.
 * @s:   the text.
 * @key: 32 bytes out.
 *
 * Return: 0 or -EINVAL.
 */
int tpd_wg_key_from_hex(const char *s, __u8 key[TP_WG_KEY_LEN])
{
	unsigned int i;
	int hi, lo;

	if (strlen(s) != TP_WG_KEY_HEX_LEN)
		goto bad;
	for (i = 0; i < TP_WG_KEY_LEN; i++) {
		hi = tpd_hex_val(s[2 * i]);
		lo = tpd_hex_val(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			goto bad;
		key[i] = (__u8)(hi << 4 | lo);
	}
	return 0;
bad:
	tpd_peer_set_error("\"%.80s\" is not a hex WireGuard key (64 digits)",
			   s);
	return -EINVAL;
}

/* ---- peers -> identities --------------------------------------------------- */

/**
 * tpd_peer_rules_validate() - check a zone's rules.
 * @rules:   the rules.
 * @n_rules: their number.
 *
 * Return: 0, or -EINVAL for an unknown match kind, an empty value, or
 * identity 0.
 */
int tpd_peer_rules_validate(const struct tp_peer_rule *rules, size_t n_rules)
{
	const struct tp_peer_rule *r;
	size_t i;

	for (i = 0; i < n_rules; i++) {
		r = &rules[i];
		if (r->match < TP_PEER_MATCH_KEY ||
		    r->match > TP_PEER_MATCH_USER) {
			tpd_peer_set_error(
				"peer rule %zu: unknown match kind %d", i,
				(int)r->match);
			return -EINVAL;
		}
		if (!r->value || !*r->value || r->id == TP_ID_UNKNOWN) {
			tpd_peer_set_error(
				"peer rule %zu: empty value or identity 0", i);
			return -EINVAL;
		}
	}
	return 0;
}

static bool tpd_peer_rule_matches(const struct tp_peer *p,
				  const struct tp_peer_rule *r)
{
	switch (r->match) {
	case TP_PEER_MATCH_KEY:
		return !strcmp(p->key, r->value);
	case TP_PEER_MATCH_TAG:
		return tpd_peer_has_tag(p, r->value);
	case TP_PEER_MATCH_USER:
		return p->user[0] && !strcmp(p->user, r->value);
	}
	return false;
}

/**
 * tpd_peer_identity() - the identity of a peer: that of the first rule it
 * matches, in rule order, else the fallback.
 * @p:           the peer.
 * @rules:       the zone's rules, in configured order.
 * @n_rules:     their number.
 * @fallback_id: identity of a peer no rule matches; 0 for none.
 *
 * Return: the identity, 0 when neither a rule nor the fallback gives one.
 */
__u32 tpd_peer_identity(const struct tp_peer *p,
			const struct tp_peer_rule *rules, size_t n_rules,
			__u32 fallback_id)
{
	size_t i;

	for (i = 0; i < n_rules; i++)
		if (tpd_peer_rule_matches(p, &rules[i]))
			return rules[i].id;
	return fallback_id;
}

/* An entry being sorted: the peer it came from decides who keeps a prefix. */
struct tp_ident_tmp {
	struct tp_ident_entry e;
	size_t peer;
};

static int tpd_ident_tmp_cmp(const void *a, const void *b)
{
	const struct tp_ident_tmp *x = a, *y = b;
	int c = memcmp(&x->e.prefix, &y->e.prefix, sizeof(x->e.prefix));

	if (c)
		return c;
	if (x->e.plen != y->e.plen)
		return (int)x->e.plen - (int)y->e.plen;
	return x->peer < y->peer ? -1 : x->peer > y->peer;
}

static size_t tpd_count_prefixes(const struct tp_peer_list *peers)
{
	size_t i, n = 0;

	for (i = 0; i < peers->n; i++)
		n += peers->v[i].n_prefixes;
	return n;
}

static size_t tpd_ident_collect(const struct tp_peer_list *peers, __u16 zone,
				const struct tp_peer_rule *rules,
				size_t n_rules, __u32 fallback_id,
				struct tp_ident_tmp *t)
{
	const struct tp_peer *p;
	size_t i, j, n = 0;
	__u32 id;

	for (i = 0; i < peers->n; i++) {
		p = &peers->v[i];
		id = tpd_peer_identity(p, rules, n_rules, fallback_id);
		if (id == TP_ID_UNKNOWN)
			continue;
		for (j = 0; j < p->n_prefixes; j++, n++) {
			memset(&t[n], 0, sizeof(t[n]));
			t[n].e.prefix = p->prefixes[j].addr;
			t[n].e.plen = p->prefixes[j].plen;
			t[n].e.id = id;
			t[n].e.zone = zone;
			t[n].peer = i;
			tp_addr_mask(&t[n].e.prefix, t[n].e.plen);
		}
	}
	return n;
}

/*
 * Keep the first entry of each prefix; count prefixes claimed again by
 * another peer.
 */
static size_t tpd_ident_dedup(const struct tp_ident_tmp *t, size_t n,
			      struct tp_ident_entry *out, size_t *conflicts)
{
	size_t i, k = 0, c = 0;

	for (i = 0; i < n; i++) {
		if (i && t[i].e.plen == t[i - 1].e.plen &&
		    !memcmp(&t[i].e.prefix, &t[i - 1].e.prefix,
			    sizeof(t[i].e.prefix))) {
			if (t[i].peer != t[i - 1].peer)
				c++;
			continue;
		}
		out[k++] = t[i].e;
	}
	if (conflicts)
		*conflicts = c;
	return k;
}

/**
 * tpd_peers_to_identities() - the identity entries of a zone's peers.
 * @peers:       the peers; on a prefix claimed by several, the one listed
 *               first keeps it (canonical lists: the lowest key).
 * @zone:        the zone every entry gets.
 * @rules:       the zone's rules, in configured order (struct tp_peer_rule).
 * @n_rules:     their number.
 * @fallback_id: identity of peers no rule matches (TP_ID_TAILNET); 0 to
 *               leave those peers out.
 * @out:         the entries, sorted by (prefix, plen) and unique; free()
 *               them.  NULL when there are none.
 * @n_out:       their number.
 * @conflicts:   if not NULL, the number of prefix claims dropped because an
 *               earlier peer claimed the same prefix.
 *
 * Return: 0, -EINVAL (bad rules) or -ENOMEM.
 */
int tpd_peers_to_identities(const struct tp_peer_list *peers, __u16 zone,
			    const struct tp_peer_rule *rules, size_t n_rules,
			    __u32 fallback_id, struct tp_ident_entry **out,
			    size_t *n_out, size_t *conflicts)
{
	size_t total = tpd_count_prefixes(peers), n;
	struct tp_ident_tmp *t = NULL;
	int err;

	*out = NULL;
	*n_out = 0;
	if (conflicts)
		*conflicts = 0;
	err = tpd_peer_rules_validate(rules, n_rules);
	if (err || !total)
		return err;
	t = calloc(total, sizeof(*t));
	*out = calloc(total, sizeof(**out));
	if (!t || !*out) {
		free(*out);
		*out = NULL;
		err = -ENOMEM;
		tpd_peer_set_error("out of memory");
		goto out;
	}
	n = tpd_ident_collect(peers, zone, rules, n_rules, fallback_id, t);
	qsort(t, n, sizeof(*t), tpd_ident_tmp_cmp);
	*n_out = tpd_ident_dedup(t, n, *out, conflicts);
	if (!*n_out) {
		free(*out);
		*out = NULL;
	}
out:
	free(t);
	return err;
}

/**
 * tpd_peer_check_cred() - whether the server at the other end of a
 * connected unix socket may be believed.
 * @fd:        the connected socket.
 * @what:      what it is, for the error ("UAPI socket").
 * @path:      its path, for the error.
 * @trust_uid: a user trusted besides root, or TP_PEER_UID_ROOT_ONLY.
 *
 * Peer sources find their server by a path only (a socket in
 * /var/run/wireguard or /var/run/tailscale), and whoever could bind that
 * name (a directory others can write, a stale socket whose name was taken)
 * would decide the identities of the tailnet.  So the listener's
 * credentials (SO_PEERCRED, fixed when it called listen()) must be root's
 * or @trust_uid's, checked before anything is sent.
 *
 * Return: 0; -EPERM (with the error naming the uid and pid) when the
 * server is someone else; -errno when the credentials cannot be read.
 */
int tpd_peer_check_cred(int fd, const char *what, const char *path,
			uid_t trust_uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char also[48] = "";

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    len != sizeof(cred)) {
		int err = errno ? errno : EPROTO;

		tpd_peer_set_error(
			"%s %s: cannot read the server's credentials: %s", what,
			path, strerror(err));
		return -err;
	}
	if (cred.uid == 0 ||
	    (trust_uid != TP_PEER_UID_ROOT_ONLY && cred.uid == trust_uid))
		return 0;
	if (trust_uid != TP_PEER_UID_ROOT_ONLY)
		snprintf(also, sizeof(also), " or uid %u",
			 (unsigned int)trust_uid);
	tpd_peer_set_error(
		"%s %s: its server runs as uid %u (pid %d), not root%s: refused",
		what, path, (unsigned int)cred.uid, (int)cred.pid, also);
	return -EPERM;
}
