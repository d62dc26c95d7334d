/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Checks of the peer lists the peer sources' parsers produce (see
 * loader/peers.h): canonical when the parse succeeded, empty when it
 * failed, and two lists the same.
 */
#ifndef TAILPLANE_TESTS_FUZZ_PEERLIST_H
#define TAILPLANE_TESTS_FUZZ_PEERLIST_H

#include "fuzz.h"
#include "peers.h"

static inline int fuzz_prefix_cmp(const struct tp_peer_prefix *a,
				  const struct tp_peer_prefix *b)
{
	int c = memcmp(&a->addr, &b->addr, sizeof(a->addr));

	return c ? c : (int)a->plen - (int)b->plen;
}

/* The reason of error @ret: one line, no control characters (peers.h). */
static inline void fuzz_check_reason(int ret)
{
	const char *e = tpd_peer_last_error(), *c;

	FUZZ_CHECK(e[0], "error %d without a reason", ret);
	for (c = e; *c; c++)
		FUZZ_CHECK(
			(unsigned char)*c >= 0x20 && *c != 0x7f,
			"error %d: control character 0x%02x in the reason '%s'",
			ret, (unsigned char)*c, e);
}

/* The list a parser returned with @ret. */
static inline void fuzz_check_peers(const struct tp_peer_list *l, int ret)
{
	struct tp_addr masked;
	size_t i, j;

	if (ret) {
		FUZZ_CHECK(ret < 0, "returned %d", ret);
		FUZZ_CHECK(!l->n && !l->v, "error %d, but %zu peers", ret,
			   l->n);
		fuzz_check_reason(ret);
		return;
	}
	FUZZ_CHECK(!l->n == !l->v, "%zu peers at %p", l->n, (void *)l->v);
	for (i = 0; i < l->n; i++) {
		const struct tp_peer *p = &l->v[i];

		FUZZ_CHECK(p->key[0] && memchr(p->key, 0, sizeof(p->key)),
			   "peer %zu: key", i);
		FUZZ_CHECK(memchr(p->name, 0, sizeof(p->name)),
			   "peer %zu: name", i);
		FUZZ_CHECK(memchr(p->user, 0, sizeof(p->user)),
			   "peer %zu: user", i);
		FUZZ_CHECK(!i || strcmp(l->v[i - 1].key, p->key) < 0,
			   "peers %zu and %zu not sorted or not merged", i - 1,
			   i);
		for (j = 0; j < p->n_tags; j++)
			FUZZ_CHECK(p->tags[j] && p->tags[j][0],
				   "peer %zu: tag %zu", i, j);
		for (j = 0; j < p->n_prefixes; j++) {
			FUZZ_CHECK(p->prefixes[j].plen <= 128, "peer %zu: /%u",
				   i, p->prefixes[j].plen);
			masked = p->prefixes[j].addr;
			FUZZ_CHECK(tp_prefix_contains(&masked,
						      p->prefixes[j].plen,
						      &p->prefixes[j].addr),
				   "peer %zu: prefix %zu", i, j);
			FUZZ_CHECK(
				!j || fuzz_prefix_cmp(&p->prefixes[j - 1],
						      &p->prefixes[j]) < 0,
				"peer %zu: prefixes %zu and %zu not sorted or twice",
				i, j - 1, j);
		}
	}
}

static inline void fuzz_same_peers(const struct tp_peer_list *a,
				   const struct tp_peer_list *b)
{
	size_t i, j;

	FUZZ_CHECK(a->n == b->n, "%zu peers and %zu", a->n, b->n);
	for (i = 0; i < a->n; i++) {
		const struct tp_peer *p = &a->v[i], *q = &b->v[i];

		FUZZ_CHECK(!strcmp(p->key, q->key) &&
				   !strcmp(p->name, q->name) &&
				   !strcmp(p->user, q->user),
			   "peer %zu: %s '%s' '%s' and %s '%s' '%s'", i, p->key,
			   p->name, p->user, q->key, q->name, q->user);
		FUZZ_CHECK(p->n_tags == q->n_tags &&
				   p->n_prefixes == q->n_prefixes,
			   "peer %zu: tags %zu/%zu, prefixes %zu/%zu", i,
			   p->n_tags, q->n_tags, p->n_prefixes, q->n_prefixes);
		for (j = 0; j < p->n_tags; j++)
			FUZZ_CHECK(!strcmp(p->tags[j], q->tags[j]),
				   "peer %zu: tag %zu", i, j);
		for (j = 0; j < p->n_prefixes; j++)
			FUZZ_CHECK(!fuzz_prefix_cmp(&p->prefixes[j],
						    &q->prefixes[j]),
				   "peer %zu: prefix %zu", i, j);
	}
}

#endif /* TAILPLANE_TESTS_FUZZ_PEERLIST_H */
