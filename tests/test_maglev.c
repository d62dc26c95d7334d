// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of lib/maglev.c: table size validation, table contents,
 * independence of input order and ids, weighted shares of the table and
 * of synthetic flows, minimal disruption, errors, build time, and a
 * literal round-by-round model of the weighting scheme.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "tailplane/hash.h"
#include "maglev.h"

#define M_SMALL TP_MAGLEV_SIZE	   /* 1021 */
#define M_LARGE TP_MAGLEV_SIZE_MAX /* 65521 */

/* Fail with a message that says what was checked, not only that it failed. */
#define check(cond, fmt, ...)                         \
	do {                                          \
		if (!(cond))                          \
			fail_msg(fmt, ##__VA_ARGS__); \
	} while (0)

/* ---- fixtures --------------------------------------------------------- */

/* Backend i: 198.18.x.y or fd00:198:18::x:y, the design's pod ranges. */
static struct tp_maglev_backend backend(__u32 id, __u32 i, bool v6, __u16 port,
					__u16 weight)
{
	struct tp_maglev_backend b;

	memset(&b, 0, sizeof(b));
	b.id = id;
	if (v6) {
		b.addr.w[0] = htonl(0xfd000198);
		b.addr.w[1] = htonl(0x00180000);
		b.addr.w[3] = htonl(i + 1);
	} else {
		b.addr.w[2] = htonl(0xffff);
		b.addr.w[3] = htonl(0xc6120000 + i + 1);
	}
	b.port = htons(port);
	b.weight = weight;
	return b;
}

/* n IPv4 backends, ids 1..n, port 8080, weights w[i % nw]. */
static void backends(struct tp_maglev_backend *be, size_t n, const __u16 *w,
		     size_t nw)
{
	size_t i;

	for (i = 0; i < n; i++)
		be[i] = backend(i + 1, i, false, 8080, w[i % nw]);
}

static __u32 *table_alloc(__u32 m)
{
	__u32 *t = malloc(m * sizeof(*t));

	check(t, "allocating a table of %u entries", m);
	return t;
}

/* Deterministic shuffle (an LCG), so failures reproduce. */
static void shuffle(struct tp_maglev_backend *be, size_t n, __u32 seed)
{
	struct tp_maglev_backend tmp;
	size_t i, j;

	for (i = n - 1; i > 0; i--) {
		seed = seed * 1103515245 + 12345;
		j = (seed >> 8) % (i + 1);
		tmp = be[i];
		be[i] = be[j];
		be[j] = tmp;
	}
}

static size_t count_id(const __u32 *t, __u32 m, __u32 id)
{
	size_t c = 0;
	__u32 s;

	for (s = 0; s < m; s++)
		c += t[s] == id;
	return c;
}

static void build_ok(const struct tp_maglev_backend *be, size_t n, __u32 m,
		     __u32 *t)
{
	int err = tp_maglev_build(be, n, m, t);

	check(err == 0, "tp_maglev_build(n=%zu, m=%u) returned %d, want 0", n,
	      m, err);
}

/*
 * A share is within @tol (relative) of @want: |got/total - want| <=
 * tol * want.
 */
static void check_share(const char *what, __u32 id, size_t got, size_t total,
			double want, double tol)
{
	double share = (double)got / total;
	double dev = (share - want) / want;

	print_message(
		"  %s: backend %u: %zu/%zu = %.4f, expected %.4f, deviation %+.2f%%\n",
		what, id, got, total, share, want, dev * 100);
	check(dev <= tol && dev >= -tol,
	      "%s: backend %u has share %.4f (%zu of %zu), not within %.0f%% of %.4f",
	      what, id, share, got, total, tol * 100, want);
}

/* ---- size validation -------------------------------------------------- */

static void test_size_valid(void **state)
{
	(void)state;
	check(tp_maglev_size_valid(1021),
	      "1021 (prime, default) is a valid size");
	check(tp_maglev_size_valid(65521),
	      "65521 (largest prime <= max) is a valid size");
	check(tp_maglev_size_valid(3),
	      "3 (smallest prime > 2) is a valid size");
	check(tp_maglev_size_valid(251), "251 (prime) is a valid size");
	check(!tp_maglev_size_valid(1020), "1020 (even) is rejected");
	check(!tp_maglev_size_valid(1023), "1023 (3 * 11 * 31) is rejected");
	check(tp_maglev_size_valid(65519),
	      "65519 (prime, below max) is a valid size");
	check(!tp_maglev_size_valid(65535),
	      "65535 (3 * 5 * 17 * 257) is rejected");
	check(!tp_maglev_size_valid(65523), "65523 (3 * 21841) is rejected");
	check(!tp_maglev_size_valid(0), "0 is rejected");
	check(!tp_maglev_size_valid(1), "1 is rejected");
	check(!tp_maglev_size_valid(2),
	      "2 (prime, but skip has one value) is rejected");
	check(!tp_maglev_size_valid(65537),
	      "65537 (prime above TP_MAGLEV_SIZE_MAX) is rejected");
	check(!tp_maglev_size_valid(0xfffffffb),
	      "4294967291 (prime, far above max) is rejected");
}

/* Every size up to past the limit, against a sieve of Eratosthenes. */
static void test_size_valid_sieve(void **state)
{
	enum { LIMIT = TP_MAGLEV_SIZE_MAX + 100 };
	bool *composite = calloc(LIMIT + 1, sizeof(*composite));
	__u32 i, j;
	bool want;

	(void)state;
	check(composite, "allocating the sieve");
	for (i = 2; i * i <= LIMIT; i++)
		for (j = i * i; !composite[i] && j <= LIMIT; j += i)
			composite[j] = true;
	for (i = 0; i <= LIMIT; i++) {
		want = i > 2 && i <= TP_MAGLEV_SIZE_MAX && !composite[i];
		check(tp_maglev_size_valid(i) == want,
		      "tp_maglev_size_valid(%u) is %s, want %s (prime in 3..65521)",
		      i, want ? "false" : "true", want ? "true" : "false");
	}
	free(composite);
}

/* ---- table contents --------------------------------------------------- */

/* Every entry holds an id of a backend with weight >= 1, and each such
 * backend owns at least one entry. */
static void check_filled(const struct tp_maglev_backend *be, size_t n, __u32 m,
			 const __u32 *t)
{
	size_t i, owned;
	__u32 s;

	for (s = 0; s < m; s++) {
		for (i = 0; i < n; i++)
			if (be[i].weight && t[s] == be[i].id)
				break;
		check(i < n,
		      "m=%u n=%zu: slot %u holds %u, not a listed id with weight >= 1",
		      m, n, s, t[s]);
	}
	for (i = 0; i < n; i++) {
		if (!be[i].weight)
			continue;
		owned = count_id(t, m, be[i].id);
		check(owned >= 1,
		      "m=%u n=%zu: backend %u (weight %u) owns no entry", m, n,
		      be[i].id, be[i].weight);
	}
}

static void test_every_entry_listed(void **state)
{
	static const __u16 w1[] = { 1 }, wmix[] = { 1, 5, 100, 65535 };
	struct tp_maglev_backend be[TP_MAX_SVC_BACKENDS];
	static const size_t ns[] = { 1, 2, 3, 10, 256 };
	static const __u32 ms[] = { 3, 251, M_SMALL, M_LARGE };
	__u32 *t = table_alloc(M_LARGE);
	size_t a, b, i;

	(void)state;
	for (a = 0; a < sizeof(ms) / sizeof(ms[0]); a++) {
		for (b = 0; b < sizeof(ns) / sizeof(ns[0]); b++) {
			if (ns[b] > ms[a])
				continue;
			backends(be, ns[b], w1, 1);
			build_ok(be, ns[b], ms[a], t);
			check_filled(be, ns[b], ms[a], t);
			backends(be, ns[b], wmix, 4);
			build_ok(be, ns[b], ms[a], t);
			check_filled(be, ns[b], ms[a], t);
		}
	}
	/* Both families at once, ids far from 1..n. */
	for (i = 0; i < 20; i++)
		be[i] = backend(40000 + 3 * i, i / 2, i & 1, 443, 1 + i % 3);
	build_ok(be, 20, M_SMALL, t);
	check_filled(be, 20, M_SMALL, t);
	free(t);
}

static void test_order_independence(void **state)
{
	static const __u16 w[] = { 3, 1, 4, 1, 5, 9, 2, 6 };
	struct tp_maglev_backend be[40];
	__u32 *t0 = table_alloc(M_SMALL), *t1 = table_alloc(M_SMALL);
	__u32 seed;
	size_t i;

	(void)state;
	for (i = 0; i < 40; i++)
		be[i] = backend(i + 1, i, i % 3 == 0, 80 + i % 2, w[i % 8]);
	/* Two backends on the same address and port: the id breaks the tie. */
	be[39] = be[38];
	be[39].id = 1000;
	build_ok(be, 40, M_SMALL, t0);
	for (seed = 1; seed <= 20; seed++) {
		shuffle(be, 40, seed);
		build_ok(be, 40, M_SMALL, t1);
		check(!memcmp(t0, t1, M_SMALL * sizeof(*t0)),
		      "table after shuffle %u of the input equals the table of the original order",
		      seed);
	}
	free(t0);
	free(t1);
}

static void test_determinism(void **state)
{
	static const __u16 w[] = { 1, 2, 3 };
	struct tp_maglev_backend be[30];
	__u32 *t0 = table_alloc(M_LARGE), *t1 = table_alloc(M_LARGE);

	(void)state;
	backends(be, 30, w, 3);
	memset(t0, 0, M_LARGE * sizeof(*t0));
	memset(t1, 0xab, M_LARGE * sizeof(*t1));
	build_ok(be, 30, M_LARGE, t0);
	build_ok(be, 30, M_LARGE, t1);
	check(!memcmp(t0, t1, M_LARGE * sizeof(*t0)),
	      "two builds of the same backends give the same table, whatever the table held before");
	free(t0);
	free(t1);
}

/*
 * The permutation depends on address and port only: renumbering the
 * backends renumbers the table and moves nothing.
 */
static void test_id_independence(void **state)
{
	static const __u16 w[] = { 2, 1, 3 };
	struct tp_maglev_backend be[12], re[12];
	__u32 *t0 = table_alloc(M_SMALL), *t1 = table_alloc(M_SMALL);
	size_t i;
	__u32 s;

	(void)state;
	backends(be, 12, w, 3);
	memcpy(re, be, sizeof(be));
	for (i = 0; i < 12; i++)
		re[i].id = 5000 - 17 * i; /* reverses the id order, too */
	build_ok(be, 12, M_SMALL, t0);
	build_ok(re, 12, M_SMALL, t1);
	for (s = 0; s < M_SMALL; s++)
		check(t1[s] == 5000 - 17 * (t0[s] - 1),
		      "slot %u: renumbered backend %u owns it, not %u (ids must not move entries)",
		      s, t1[s], 5000 - 17 * (t0[s] - 1));
	free(t0);
	free(t1);
}

/* ---- shares ----------------------------------------------------------- */

static void check_table_shares(const char *what, const __u16 *w, size_t n,
			       __u32 m, double tol)
{
	struct tp_maglev_backend be[TP_MAX_SVC_BACKENDS];
	__u32 *t = table_alloc(m);
	double wsum = 0;
	size_t i;

	backends(be, n, w, n);
	for (i = 0; i < n; i++)
		wsum += w[i];
	build_ok(be, n, m, t);
	for (i = 0; i < n; i++)
		check_share(what, be[i].id, count_id(t, m, be[i].id), m,
			    w[i] / wsum, tol);
	free(t);
}

static void test_equal_shares(void **state)
{
	static const __u16 w1[] = { 1, 1, 1 }, w7[] = { 7, 7, 7 };

	(void)state;
	check_table_shares("equal weights, m=1021", w1, 3, M_SMALL, 0.02);
	check_table_shares("equal weights, m=65521", w1, 3, M_LARGE, 0.02);
	check_table_shares("equal weights 7:7:7, m=1021", w7, 3, M_SMALL, 0.02);
}

static void test_weighted_shares(void **state)
{
	static const __u16 w123[] = { 1, 2, 3 }, w321[] = { 3, 2, 1 };
	static const __u16 wbig[] = { 1000, 2000, 3000 };

	(void)state;
	check_table_shares("weights 1:2:3, m=1021", w123, 3, M_SMALL, 0.02);
	check_table_shares("weights 1:2:3, m=65521", w123, 3, M_LARGE, 0.02);
	check_table_shares("weights 3:2:1, m=1021", w321, 3, M_SMALL, 0.02);
	check_table_shares("weights 1000:2000:3000, m=1021", wbig, 3, M_SMALL,
			   0.02);
}

/* Equal weights of any size give the paper's unweighted table. */
static void test_weight_scale(void **state)
{
	static const __u16 w1[] = { 1 }, w9[] = { 9 };
	struct tp_maglev_backend be[10];
	__u32 *t0 = table_alloc(M_SMALL), *t1 = table_alloc(M_SMALL);

	(void)state;
	backends(be, 10, w1, 1);
	build_ok(be, 10, M_SMALL, t0);
	backends(be, 10, w9, 1);
	build_ok(be, 10, M_SMALL, t1);
	check(!memcmp(t0, t1, M_SMALL * sizeof(*t0)),
	      "weights 9,9,... give the same table as weights 1,1,...");
	free(t0);
	free(t1);
}

/* ---- minimal disruption ----------------------------------------------- */

/*
 * Build with all n backends and without backend @gone; count the entries
 * that changed owner among those @gone did not own.
 */
static size_t disruption(const struct tp_maglev_backend *be, size_t n,
			 size_t gone, __u32 m, __u32 *t0, __u32 *t1)
{
	struct tp_maglev_backend rest[TP_MAX_SVC_BACKENDS];
	size_t i, k = 0, moved = 0;
	__u32 s;

	for (i = 0; i < n; i++)
		if (i != gone)
			rest[k++] = be[i];
	build_ok(be, n, m, t0);
	build_ok(rest, k, m, t1);
	for (s = 0; s < m; s++) {
		check(t1[s] != be[gone].id,
		      "removed backend %u still owns slot %u", be[gone].id, s);
		if (t0[s] != be[gone].id && t0[s] != t1[s])
			moved++;
	}
	return moved;
}

static void check_disruption(const char *what, const __u16 *w, size_t nw,
			     __u32 m, double limit)
{
	struct tp_maglev_backend be[10];
	__u32 *t0 = table_alloc(m), *t1 = table_alloc(m);
	size_t gone, moved, max = 0, sum = 0;

	backends(be, 10, w, nw);
	for (gone = 0; gone < 10; gone++) {
		moved = disruption(be, 10, gone, m, t0, t1);
		print_message(
			"  %s: remove backend %u: %zu of %u entries of the others moved (%.2f%%)\n",
			what, be[gone].id, moved, m, 100.0 * moved / m);
		check(moved < limit * m,
		      "%s: removing backend %u moved %zu of %u entries of other backends (%.2f%%), limit %.0f%%",
		      what, be[gone].id, moved, m, 100.0 * moved / m,
		      limit * 100);
		sum += moved;
		if (moved > max)
			max = moved;
	}
	print_message("  %s: max %.2f%%, mean %.2f%% of the table\n", what,
		      100.0 * max / m, 100.0 * sum / 10 / m);
	free(t0);
	free(t1);
}

static void test_minimal_disruption(void **state)
{
	static const __u16 w1[] = { 1 }, w123[] = { 1, 2, 3 };

	(void)state;
	check_disruption("10 equal, m=1021", w1, 1, M_SMALL, 0.15);
	check_disruption("10 equal, m=65521", w1, 1, M_LARGE, 0.15);
	check_disruption("10 weighted 1:2:3, m=1021", w123, 3, M_SMALL, 0.15);
	check_disruption("10 weighted 1:2:3, m=65521", w123, 3, M_LARGE, 0.15);
}

/*
 * Every table size lib/service.c may pick keeps the bound: a service with
 * few backends gets a small table, and removing one of ten backends still
 * moves under 15% of the others' flows at the smallest size of the list.
 */
static void test_disruption_every_table_size(void **state)
{
	static const __u32 primes[] = TP_MAGLEV_PRIMES;
	static const __u16 w1[] = { 1 }, w123[] = { 1, 2, 3 };
	char what[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(primes) / sizeof(primes[0]); i++) {
		check(tp_maglev_size_valid(primes[i]), "%u is not a valid size",
		      primes[i]);
		snprintf(what, sizeof(what), "10 equal, m=%u", primes[i]);
		check_disruption(what, w1, 1, primes[i], 0.15);
		snprintf(what, sizeof(what), "10 weighted 1:2:3, m=%u",
			 primes[i]);
		check_disruption(what, w123, 3, primes[i], 0.15);
	}
}

/* Table sizes: >= 100 entries per backend from the list, capped. */
static void test_table_size(void **state)
{
	static const __u32 primes[] = TP_MAGLEV_PRIMES;
	size_t i;
	__u32 n;

	(void)state;
	assert_int_equal(tp_maglev_table_size(1, M_LARGE), 131);
	assert_int_equal(tp_maglev_table_size(2, M_LARGE), 257);
	assert_int_equal(tp_maglev_table_size(10, M_LARGE), 1021);
	assert_int_equal(tp_maglev_table_size(11, M_LARGE), 2039);
	assert_int_equal(tp_maglev_table_size(TP_MAX_SVC_BACKENDS, M_LARGE),
			 32749);
	assert_int_equal(tp_maglev_table_size(1, 31), 31);
	assert_int_equal(tp_maglev_table_size(50, M_SMALL), M_SMALL);
	assert_int_equal(tp_maglev_table_size(1000, M_LARGE), M_LARGE);
	for (n = 1; n <= TP_MAX_SVC_BACKENDS; n++) {
		__u32 m = tp_maglev_table_size(n, M_LARGE);

		check(m >= n * TP_MAGLEV_SLOTS_PER_BACKEND &&
			      tp_maglev_size_valid(m),
		      "%u backends: size %u", n, m);
		for (i = 0; i < sizeof(primes) / sizeof(primes[0]); i++)
			check(primes[i] >= m ||
				      primes[i] <
					      n * TP_MAGLEV_SLOTS_PER_BACKEND,
			      "%u backends: %u, but %u would do", n, m,
			      primes[i]);
	}
}

/* ---- weight 0, empty tables, errors ------------------------------------- */

static void test_weight_zero(void **state)
{
	static const __u16 w[] = { 1, 2, 3 };
	struct tp_maglev_backend be[6];
	__u32 *t0 = table_alloc(M_SMALL), *t1 = table_alloc(M_SMALL);

	(void)state;
	backends(be, 6, w, 3);
	be[2].weight = 0;
	be[4].weight = 0;
	build_ok(be, 6, M_SMALL, t0);
	check(count_id(t0, M_SMALL, be[2].id) == 0,
	      "weight-0 backend %u owns no entry", be[2].id);
	check(count_id(t0, M_SMALL, be[4].id) == 0,
	      "weight-0 backend %u owns no entry", be[4].id);
	/* A weight-0 backend is as good as absent. */
	be[2] = be[5];
	be[4] = be[3];
	build_ok(be, 4, M_SMALL, t1);
	check(!memcmp(t0, t1, M_SMALL * sizeof(*t0)),
	      "table with two weight-0 backends equals the table without them");
	free(t0);
	free(t1);
}

static void check_all_zero(const char *what, const __u32 *t, __u32 m)
{
	__u32 s;

	for (s = 0; s < m; s++)
		check(t[s] == 0, "%s: slot %u holds %u, want 0", what, s, t[s]);
}

static void test_empty(void **state)
{
	struct tp_maglev_backend be[3];
	__u32 *t = table_alloc(M_SMALL);
	size_t i;

	(void)state;
	memset(t, 0xff, M_SMALL * sizeof(*t));
	build_ok(NULL, 0, M_SMALL, t);
	check_all_zero("n=0", t, M_SMALL);
	for (i = 0; i < 3; i++)
		be[i] = backend(i + 1, i, false, 80, 0);
	memset(t, 0xff, M_SMALL * sizeof(*t));
	build_ok(be, 3, M_SMALL, t);
	check_all_zero("all weights 0", t, M_SMALL);
	free(t);
}

/* An error returns @want and leaves the table as it was. */
static void check_error(const char *what, const struct tp_maglev_backend *be,
			size_t n, __u32 m, __u32 *t, int want)
{
	__u32 s;
	int err;

	memset(t, 0x5a, M_SMALL * sizeof(*t));
	err = tp_maglev_build(be, n, m, t);
	check(err == want, "%s: returned %d, want %d", what, err, want);
	for (s = 0; s < M_SMALL; s++)
		check(t[s] == 0x5a5a5a5a, "%s: error path wrote slot %u", what,
		      s);
}

static void test_errors(void **state)
{
	static const __u16 w[] = { 1 };
	struct tp_maglev_backend be[TP_MAX_SVC_BACKENDS + 1];
	__u32 *t = table_alloc(M_SMALL);

	(void)state;
	backends(be, TP_MAX_SVC_BACKENDS + 1, w, 1);
	be[5].id = be[2].id;
	check_error("duplicate id", be, 10, M_SMALL, t, -EINVAL);
	be[5].weight = 0;
	check_error("duplicate id of a weight-0 backend", be, 10, M_SMALL, t,
		    -EINVAL);
	backends(be, TP_MAX_SVC_BACKENDS + 1, w, 1);
	be[7].id = 0;
	check_error("id 0", be, 10, M_SMALL, t, -EINVAL);
	backends(be, TP_MAX_SVC_BACKENDS + 1, w, 1);
	check_error("n > m (4 backends, m=3)", be, 4, 3, t, -EINVAL);
	check_error("n > TP_MAX_SVC_BACKENDS", be, TP_MAX_SVC_BACKENDS + 1,
		    M_SMALL, t, -EINVAL);
	check_error("m=1020 (not prime)", be, 3, 1020, t, -EINVAL);
	check_error("m=65537 (above max)", be, 3, 65537, t, -EINVAL);
	check_error("NULL backends with n=3", NULL, 3, M_SMALL, t, -EINVAL);
	check(tp_maglev_build(be, 3, M_SMALL, NULL) == -EINVAL,
	      "NULL table is rejected with -EINVAL");
	/* The limits themselves are fine. */
	build_ok(be, 3, 3, t);
	check_filled(be, 3, 3, t);
	build_ok(be, TP_MAX_SVC_BACKENDS, M_SMALL, t);
	free(t);
}

/* ---- the weighting scheme, literally ------------------------------------ */

struct ref_be {
	const struct tp_maglev_backend *be;
	__u32 offset, skip, next, credit;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct tp_maglev_backend *x = ((const struct ref_be *)a)->be;
	const struct tp_maglev_backend *y = ((const struct ref_be *)b)->be;
	int r = memcmp(x->addr.b, y->addr.b, 16);

	if (!r)
		r = (int)ntohs(x->port) - (int)ntohs(y->port);
	if (!r)
		r = x->id < y->id ? -1 : x->id > y->id;
	return r;
}

static __u32 ref_hash(const struct tp_maglev_backend *be, __u32 seed)
{
	__u8 key[18];

	memcpy(key, be->addr.b, 16);
	memcpy(key + 16, &be->port, 2);
	return tp_hash_bytes(key, 18, seed);
}

/*
 * The documented scheme run round by round: credits start at wmax - w,
 * each round adds w, an entry costs wmax; permutation j is computed as
 * (offset + j * skip) % m directly.
 */
static void ref_build(const struct tp_maglev_backend *be, size_t n, __u32 m,
		      __u32 *t)
{
	struct ref_be r[TP_MAX_SVC_BACKENDS];
	__u32 wmax = 0, filled = 0, slot;
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (be[i].weight)
			r[k++].be = &be[i];
	qsort(r, k, sizeof(r[0]), ref_cmp);
	for (i = 0; i < k; i++)
		if (r[i].be->weight > wmax)
			wmax = r[i].be->weight;
	for (i = 0; i < k; i++) {
		r[i].offset = ref_hash(r[i].be, TP_MAGLEV_SEED_OFFSET) % m;
		r[i].skip =
			ref_hash(r[i].be, TP_MAGLEV_SEED_SKIP) % (m - 1) + 1;
		r[i].next = 0;
		r[i].credit = wmax - r[i].be->weight;
	}
	memset(t, 0, m * sizeof(*t));
	while (filled < m) {
		for (i = 0; i < k && filled < m; i++) {
			r[i].credit += r[i].be->weight;
			if (r[i].credit < wmax)
				continue;
			r[i].credit -= wmax;
			do {
				slot = (r[i].offset +
					(__u64)r[i].next * r[i].skip) %
				       m;
				r[i].next++;
			} while (t[slot]);
			t[slot] = r[i].be->id;
			filled++;
		}
	}
}

static void check_reference(const char *what,
			    const struct tp_maglev_backend *be, size_t n,
			    __u32 m)
{
	__u32 *t0 = table_alloc(m), *t1 = table_alloc(m);
	__u32 s;

	build_ok(be, n, m, t0);
	ref_build(be, n, m, t1);
	for (s = 0; s < m; s++)
		check(t0[s] == t1[s],
		      "%s: slot %u is %u, the round-by-round model says %u",
		      what, s, t0[s], t1[s]);
	free(t0);
	free(t1);
}

static void test_reference_model(void **state)
{
	static const __u16 w1[] = { 1 }, w123[] = { 1, 2, 3 };
	static const __u16 wodd[] = { 7, 3, 65535, 1, 12345, 2 };
	struct tp_maglev_backend be[TP_MAX_SVC_BACKENDS];
	size_t i;

	(void)state;
	backends(be, 10, w1, 1);
	check_reference("10 equal, m=1021", be, 10, M_SMALL);
	backends(be, 3, w123, 3);
	check_reference("1:2:3, m=1021", be, 3, M_SMALL);
	backends(be, 50, wodd, 6);
	shuffle(be, 50, 7);
	check_reference("50 odd weights, m=65521", be, 50, M_LARGE);
	for (i = 0; i < TP_MAX_SVC_BACKENDS; i++)
		be[i] = backend(i + 1, i, i & 1, 443, i ? 1 : 65535);
	check_reference("1 x 65535 + 255 x 1, m=65521", be, TP_MAX_SVC_BACKENDS,
			M_LARGE);
}

/* ---- build time ------------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void check_build_time(const char *what,
			     const struct tp_maglev_backend *be, size_t n)
{
	__u32 *t = table_alloc(M_LARGE);
	double t0, ms, best = 1e9, worst = 0;
	int run;

	for (run = 0; run < 5; run++) {
		t0 = now_ms();
		build_ok(be, n, M_LARGE, t);
		ms = now_ms() - t0;
		best = ms < best ? ms : best;
		worst = ms > worst ? ms : worst;
	}
	print_message(
		"  %s: build of m=65521 takes %.2f ms (best of 5), %.2f ms (worst)\n",
		what, best, worst);
	/* recorded, not asserted: times belong to make bench, not to a test */
	free(t);
}

static void test_build_time(void **state)
{
	static const __u16 w1[] = { 1 },
			   wmix[] = { 1, 2, 3, 5, 8, 13, 100, 1000 };
	struct tp_maglev_backend be[TP_MAX_SVC_BACKENDS];
	size_t i;

	(void)state;
	backends(be, TP_MAX_SVC_BACKENDS, w1, 1);
	check_build_time("256 equal", be, TP_MAX_SVC_BACKENDS);
	backends(be, TP_MAX_SVC_BACKENDS, wmix, 8);
	check_build_time("256 mixed weights 1..1000", be, TP_MAX_SVC_BACKENDS);
	for (i = 0; i < TP_MAX_SVC_BACKENDS; i++)
		be[i] = backend(i + 1, i, false, 80, i ? 1 : 65535);
	check_build_time("1 x 65535 + 255 x 1", be, TP_MAX_SVC_BACKENDS);
}

/* ---- flows ------------------------------------------------------------ */

#define N_FLOWS 10000

/* Flow i: one of 1000 tailnet clients, ten source ports each, to a VIP. */
static void flow_key(struct tp_ct_key *k, __u32 i)
{
	__u32 client = i / 10;

	memset(k, 0, sizeof(*k));
	k->saddr.w[2] = htonl(0xffff);
	k->saddr.w[3] = htonl(0x64400000 + client + 1); /* 100.64.0.0/10 */
	k->daddr.w[2] = htonl(0xffff);
	k->daddr.w[3] = htonl(0xc613000a); /* 198.19.0.10 */
	k->sport = htons(49152 + (i % 10) * 61 + client % 61);
	k->dport = htons(80);
	k->proto = IPPROTO_TCP;
	k->zone = 1;
}

static void check_flow_shares(const char *what, const __u16 *w, size_t n)
{
	struct tp_maglev_backend be[8];
	size_t hits[8] = { 0 };
	__u32 *t = table_alloc(M_SMALL);
	struct tp_ct_key key;
	double wsum = 0;
	__u32 i, id;

	backends(be, n, w, n);
	for (i = 0; i < n; i++)
		wsum += w[i];
	build_ok(be, n, M_SMALL, t);
	for (i = 0; i < N_FLOWS; i++) {
		flow_key(&key, i);
		id = t[tp_flow_hash(&key) % M_SMALL];
		check(id >= 1 && id <= n,
		      "%s: flow %u hits id %u, not a backend", what, i, id);
		hits[id - 1]++;
	}
	for (i = 0; i < n; i++)
		check_share(what, be[i].id, hits[i], N_FLOWS, w[i] / wsum,
			    0.05);
	free(t);
}

static void test_flow_distribution(void **state)
{
	static const __u16 w111[] = { 1, 1, 1 }, w123[] = { 1, 2, 3 };

	(void)state;
	check_flow_shares("10000 flows, equal weights, m=1021", w111, 3);
	check_flow_shares("10000 flows, weights 1:2:3, m=1021", w123, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_valid),
		cmocka_unit_test(test_size_valid_sieve),
		cmocka_unit_test(test_every_entry_listed),
		cmocka_unit_test(test_order_independence),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_id_independence),
		cmocka_unit_test(test_equal_shares),
		cmocka_unit_test(test_weighted_shares),
		cmocka_unit_test(test_weight_scale),
		cmocka_unit_test(test_minimal_disruption),
		cmocka_unit_test(test_disruption_every_table_size),
		cmocka_unit_test(test_table_size),
		cmocka_unit_test(test_weight_zero),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_reference_model),
		cmocka_unit_test(test_build_time),
		cmocka_unit_test(test_flow_distribution),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
