// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Weighted Maglev table construction.
 *
 * Permutations.  Each backend walks the table along its own permutation
 * (offset + j * skip) % m, j = 0, 1, ..., and takes the first slot that is
 * still free.  offset and skip come from two seeded hashes of the
 * backend's address and port, never from its id or its position in the
 * input, so a backend keeps its preferences when others come and go (the
 * source of Maglev's minimal disruption) and any node derives the same
 * table from the same backend set.  m is prime and 1 <= skip < m, so the
 * walk is a permutation of all m slots.
 *
 * Weights.  Turns are taken in rounds, backends within a round in
 * (addr, port, id) order.  Every backend holds a credit; each round adds
 * its weight, and a backend whose credit reaches wmax (the largest weight
 * present) spends wmax on one entry.  The heaviest backends place an
 * entry every round, a backend of weight w on average w / wmax entries a
 * round, so shares end up proportional to weight to within about two
 * entries each.  Credits start at wmax - w: everyone places in round 1,
 * so every backend with weight >= 1 owns at least one entry, and with
 * equal weights this is exactly the paper's unweighted algorithm.
 *
 * Running the rounds literally costs O(m * n) when one heavy backend
 * faces many light ones, so the schedule is computed instead: from the
 * credit rule, a backend of weight w places its (j+1)-th entry in round
 * 1 + ceil(j * wmax / w), and a min-heap on (round, rank) hands out the
 * turns in the same order the rounds would.  That is O(m log n) for the
 * turns plus the expected O(m log m) of the walks past taken slots.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tailplane/hash.h"
#include "maglev.h"

/**
 * struct maglev_cursor - a backend's state while the table fills.
 * @be:     the backend.
 * @round:  round in which it places its next entry.
 * @placed: entries placed so far.
 * @pos:    next slot of its permutation to try.
 * @skip:   step of its permutation.
 */
struct maglev_cursor {
	const struct tp_maglev_backend *be;
	__u64 round;
	__u32 placed;
	__u32 pos;
	__u32 skip;
};

/**
 * tp_maglev_size_valid() - check a Maglev table size.
 * @m: table size, entries per table.
 *
 * The permutations only cover every slot when m is prime, and skip needs
 * at least two values to choose from.
 *
 * Return: true when m is prime and 2 < m <= TP_MAGLEV_SIZE_MAX.
 */
bool tp_maglev_size_valid(__u32 m)
{
	__u32 d;

	if (m <= 2 || m > TP_MAGLEV_SIZE_MAX || !(m & 1))
		return false;
	for (d = 3; d * d <= m; d += 2)
		if (m % d == 0)
			return false;
	return true;
}

/**
 * tp_maglev_table_size() - the table size of a service.
 * @n_active: its active backends, >= 1.
 * @cap:      the configured maglev_size (a valid size).
 *
 * The smallest prime of TP_MAGLEV_PRIMES with at least
 * TP_MAGLEV_SLOTS_PER_BACKEND entries per backend, so a service with few
 * backends costs a small table; never more than @cap, which also stands
 * when no listed prime is large enough.
 *
 * Return: the size.
 */
__u32 tp_maglev_table_size(__u32 n_active, __u32 cap)
{
	static const __u32 primes[] = TP_MAGLEV_PRIMES;
	__u64 want = (__u64)n_active * TP_MAGLEV_SLOTS_PER_BACKEND;
	size_t i;

	for (i = 0; i < sizeof(primes) / sizeof(primes[0]); i++)
		if (primes[i] >= want)
			return primes[i] < cap ? primes[i] : cap;
	return cap;
}

/* The bytes a backend's permutation is derived from: addr, then port. */
static __u32 maglev_hash(const struct tp_maglev_backend *be, __u32 seed)
{
	__u8 key[sizeof(be->addr.b) + sizeof(be->port)];

	memcpy(key, be->addr.b, sizeof(be->addr.b));
	memcpy(key + sizeof(be->addr.b), &be->port, sizeof(be->port));
	return tp_hash_bytes(key, sizeof(key), seed);
}

static int maglev_cmp_id(const void *a, const void *b)
{
	const struct maglev_cursor *x = a, *y = b;

	return (x->be->id > y->be->id) - (x->be->id < y->be->id);
}

/*
 * Order of turns within a round.  Ports compare as bytes, which is
 * numeric order for network-order values.  Ids only break exact ties.
 */
static int maglev_cmp_key(const void *a, const void *b)
{
	const struct maglev_cursor *x = a, *y = b;
	int r;

	r = memcmp(x->be->addr.b, y->be->addr.b, sizeof(x->be->addr.b));
	if (r)
		return r;
	r = memcmp(&x->be->port, &y->be->port, sizeof(x->be->port));
	if (r)
		return r;
	return maglev_cmp_id(a, b);
}

/*
 * Reject id 0 (it marks a free slot, in the map and here) and duplicate
 * ids (the datapath could not tell the backends apart).  Sorts @cur by id.
 */
static int maglev_check_ids(struct maglev_cursor *cur, size_t n)
{
	size_t i;

	qsort(cur, n, sizeof(*cur), maglev_cmp_id);
	if (cur[0].be->id == 0)
		return -EINVAL;
	for (i = 1; i < n; i++)
		if (cur[i].be->id == cur[i - 1].be->id)
			return -EINVAL;
	return 0;
}

/* Drop weight-0 backends from @cur; returns how many remain. */
static size_t maglev_compact(struct maglev_cursor *cur, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (cur[i].be->weight)
			cur[k++] = cur[i];
	return k;
}

/* Round of the (placed+1)-th entry of a backend, see the top comment. */
static __u64 maglev_round(__u32 placed, __u16 weight, __u16 wmax)
{
	return 1 + ((__u64)placed * wmax + weight - 1) / weight;
}

static void maglev_cursor_init(struct maglev_cursor *c, __u32 m)
{
	c->pos = maglev_hash(c->be, TP_MAGLEV_SEED_OFFSET) % m;
	c->skip = maglev_hash(c->be, TP_MAGLEV_SEED_SKIP) % (m - 1) + 1;
	c->placed = 0;
	c->round = 1;
}

/* Is cursor @a due before cursor @b?  Indices into @cur are the ranks. */
static bool maglev_before(const struct maglev_cursor *cur, __u32 a, __u32 b)
{
	if (cur[a].round != cur[b].round)
		return cur[a].round < cur[b].round;
	return a < b;
}

/* Restore the heap property after the root's round went up. */
static void maglev_sift_down(__u32 *heap, size_t k,
			     const struct maglev_cursor *cur)
{
	size_t i = 0, l, min;
	__u32 tmp;

	for (;;) {
		l = 2 * i + 1;
		if (l >= k)
			return;
		min = l;
		if (l + 1 < k && maglev_before(cur, heap[l + 1], heap[l]))
			min = l + 1;
		if (!maglev_before(cur, heap[min], heap[i]))
			return;
		tmp = heap[i];
		heap[i] = heap[min];
		heap[min] = tmp;
		i = min;
	}
}

/*
 * Give @c the next free slot of its permutation.  The table is not full,
 * and every slot the cursor has passed is taken for good, so a free slot
 * lies ahead and each cursor walks its permutation at most once.
 */
static void maglev_place(struct maglev_cursor *c, __u32 m, __u32 *table)
{
	while (table[c->pos]) {
		c->pos += c->skip;
		if (c->pos >= m)
			c->pos -= m;
	}
	table[c->pos] = c->be->id;
	c->placed++;
}

/* Fill all m entries from the k weighted cursors, sorted by rank. */
static void maglev_fill(struct maglev_cursor *cur, __u32 *heap, size_t k,
			__u32 m, __u32 *table)
{
	__u16 wmax = 0;
	struct maglev_cursor *c;
	__u32 filled;
	size_t i;

	for (i = 0; i < k; i++) {
		maglev_cursor_init(&cur[i], m);
		if (cur[i].be->weight > wmax)
			wmax = cur[i].be->weight;
		/* All are due in round 1, in rank order: already a heap. */
		heap[i] = (__u32)i;
	}
	memset(table, 0, m * sizeof(*table));
	for (filled = 0; filled < m; filled++) {
		c = &cur[heap[0]];
		maglev_place(c, m, table);
		c->round = maglev_round(c->placed, c->be->weight, wmax);
		maglev_sift_down(heap, k, cur);
	}
}

static int maglev_check_args(const struct tp_maglev_backend *be, size_t n,
			     __u32 m, const __u32 *table)
{
	if (!tp_maglev_size_valid(m) || !table || (n && !be))
		return -EINVAL;
	if (n > m || n > TP_MAX_SVC_BACKENDS)
		return -EINVAL;
	return 0;
}

/**
 * tp_maglev_build() - fill a Maglev lookup table with backend ids.
 * @be:    the backends, in any order.
 * @n:     their count, at most m and at most TP_MAX_SVC_BACKENDS (weight-0
 *         backends count too).
 * @m:     table size, see tp_maglev_size_valid().
 * @table: m entries to fill.
 *
 * Weighted Maglev consistent hashing: each backend with weight >= 1 gets
 * a share of the m entries proportional to its weight, and at least one
 * entry; a flow whose hash selects slot s goes to backend table[s].  The
 * result depends only on the set of (addr, port, weight) and the ids,
 * not on the order of @be.  Adding or removing one backend moves few
 * entries between the remaining ones.  With no backend of weight >= 1
 * the table is all zeros.
 *
 * Return: 0; -EINVAL for an invalid @m, an id 0, a duplicate id or too
 * many backends; -ENOMEM.  On error @table is left untouched.
 */
int tp_maglev_build(const struct tp_maglev_backend *be, size_t n, __u32 m,
		    __u32 *table)
{
	struct maglev_cursor *cur;
	__u32 *heap = NULL;
	size_t i, k;
	int err;

	err = maglev_check_args(be, n, m, table);
	if (err)
		return err;
	if (!n) {
		memset(table, 0, m * sizeof(*table));
		return 0;
	}
	cur = calloc(n, sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		cur[i].be = &be[i];
	err = maglev_check_ids(cur, n);
	if (err)
		goto out;
	k = maglev_compact(cur, n);
	if (!k) {
		memset(table, 0, m * sizeof(*table));
		goto out;
	}
	heap = calloc(k, sizeof(*heap));
	if (!heap) {
		err = -ENOMEM;
		goto out;
	}
	qsort(cur, k, sizeof(*cur), maglev_cmp_key);
	maglev_fill(cur, heap, k, m, table);
out:
	free(heap);
	free(cur);
	return err;
}
