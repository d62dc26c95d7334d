// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Helpers shared by the peer-source tests; see peertest.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "peertest.h"

/**
 * peer_add_expected() - add peer @key with prefixes @cidrs[0..n) to @l.
 */
void peer_add_expected(struct tp_peer_list *l, const char *key,
		       const char *const *cidrs, size_t n)
{
	struct tp_peer *p = tp_peer_list_add(l, key);
	struct tp_peer_prefix pp;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++) {
		assert_int_equal(tp_peer_prefix_parse(cidrs[i], false, &pp), 0);
		assert_int_equal(tp_peer_add_prefix(p, &pp.addr, pp.plen), 0);
	}
}

/** peer_expect_same() - two lists are the same peers, field by field. */
void peer_expect_same(const struct tp_peer_list *a, const struct tp_peer_list *b)
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
			assert_int_equal(x->prefixes[j].plen, y->prefixes[j].plen);
		}
	}
}
