// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The whole-map readers of lib/maps.c: tp_map_walk() and what is built on
 * it (tp_map_collect(), tp_map_keys()), over maps this file creates and
 * fills itself: a hash map, an LPM trie, a per-CPU hash (every CPU's
 * value) and an array, each at 0, 1, chunk - 1, chunk, chunk + 1 and many
 * entries, read by batch and key by key; every entry must be handed on
 * once, with its value, in chunks of at most the chunk asked for.
 *
 * Key by key is forced here: the test links with
 * -Wl,--wrap=bpf_map_lookup_batch (Makefile), and the wrapper below
 * answers as a kernel without batch reads would, or counts the real ones.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "maps.h"

#define CHUNK	   64  /* the chunk the walks ask for */
#define ENOTSUPP_K 524 /* the kernel's ENOTSUPP: no such map operation */

int __real_bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch,
				void *keys, void *values, __u32 *count,
				const struct bpf_map_batch_opts *opts);

/* The batch read answers this errno (0: the kernel's real one). */
static int batch_refuse;
/* Batch reads, counted from 1, that answer EINTR with nothing read. */
static unsigned int batch_eintr_from, batch_eintr_to;
/* Batch reads asked for since the last reset. */
static unsigned int batch_calls;

int __wrap_bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch,
				void *keys, void *values, __u32 *count,
				const struct bpf_map_batch_opts *opts);
int __wrap_bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch,
				void *keys, void *values, __u32 *count,
				const struct bpf_map_batch_opts *opts)
{
	batch_calls++;
	if (batch_calls >= batch_eintr_from && batch_calls <= batch_eintr_to) {
		*count = 0;
		errno = EINTR;
		return -EINTR;
	}
	if (batch_refuse) {
		errno = batch_refuse;
		return -batch_refuse;
	}
	return __real_bpf_map_lookup_batch(fd, in_batch, out_batch, keys,
					   values, count, opts);
}
#define MANY 5000 /* many chunks, and a partial last one */

/* The LPM trie's key: every entry a /32 of its own. */
struct lpm_key {
	__u32 prefixlen;
	__u32 n;
};

/* What each kind of map holds: key n, value n * 7 + 1 (+ the CPU). */
enum map_kind { HASH, LPM, PERCPU, ARRAY };

static const char *kind_name(enum map_kind kind)
{
	switch (kind) {
	case HASH:
		return "hash";
	case LPM:
		return "lpm_trie";
	case PERCPU:
		return "percpu_hash";
	default:
		return "array";
	}
}

/* A test: one map kind at one size, read one way. */
struct walk_case {
	enum map_kind kind;
	__u32 n;    /* entries */
	int refuse; /* 0: by batch; else what the batch read answers */
	char name[64];
};

/**
 * struct seen - what the chunks handed on.
 * @kind:     the map walked.
 * @count:    times each key came (index: the key's number).
 * @n:        its room.
 * @chunks:   chunks handed on.
 * @largest:  the largest chunk.
 * @bad:      first entry whose value or sizes were wrong, as text.
 * @stop_at:  return 1 from this chunk (0: never).
 */
struct seen {
	enum map_kind kind;
	unsigned int *count;
	size_t n;
	size_t chunks;
	size_t largest;
	char bad[128];
	size_t stop_at;
};

static int ncpus(void)
{
	int n = libbpf_num_possible_cpus();

	assert_true(n > 0);
	return n;
}

static __u32 val_of(__u32 n)
{
	return n * 7 + 1;
}

/* A map of @kind for @n entries (an array holds exactly @n); -1: refused. */
static int map_make(enum map_kind kind, __u32 n, __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	__u32 max = n ? n : 1;

	switch (kind) {
	case HASH:
		return bpf_map_create(BPF_MAP_TYPE_HASH, "tpt_walk", 4, 4, max,
				      &opts);
	case LPM:
		opts.map_flags |= BPF_F_NO_PREALLOC;
		return bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "tpt_walk",
				      sizeof(struct lpm_key), 4, max, &opts);
	case PERCPU:
		return bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "tpt_walk", 4,
				      8, max, &opts);
	case ARRAY:
		return bpf_map_create(BPF_MAP_TYPE_ARRAY, "tpt_walk", 4, 4, max,
				      &opts);
	}
	return -1;
}

/* Entries 0..@n-1 of @kind into @fd. */
static void map_fill(int fd, enum map_kind kind, __u32 n)
{
	__u64 *pcpu = calloc((size_t)ncpus(), sizeof(*pcpu));
	struct lpm_key lk = { .prefixlen = 32 };
	__u32 i, v;
	int c;

	assert_non_null(pcpu);
	for (i = 0; i < n; i++) {
		v = val_of(i);
		switch (kind) {
		case LPM:
			lk.n = i;
			assert_int_equal(bpf_map_update_elem(fd, &lk, &v, 0),
					 0);
			break;
		case PERCPU:
			for (c = 0; c < ncpus(); c++)
				pcpu[c] = (__u64)v + (__u64)c;
			assert_int_equal(bpf_map_update_elem(fd, &i, pcpu, 0),
					 0);
			break;
		default:
			assert_int_equal(bpf_map_update_elem(fd, &i, &v, 0), 0);
		}
	}
	free(pcpu);
}

/* A map of @kind with @n entries, or the test skipped (no BPF here). */
static int map_with(enum map_kind kind, __u32 n, __u32 flags)
{
	int fd = map_make(kind, n, flags);

	if (fd < 0 && (errno == EPERM || errno == ENOSYS)) {
		print_message("skipped: cannot create a BPF map: %s\n",
			      strerror(errno));
		skip();
	}
	assert_true(fd >= 0);
	map_fill(fd, kind, n);
	return fd;
}

/* Whether entry @i of @c is a right one; its key number in *@key. */
static bool entry_ok(const struct seen *s, const struct tp_map_chunk *c,
		     size_t i, __u32 *key)
{
	const char *k = (const char *)c->keys + i * c->key_size;
	const char *v = (const char *)c->vals + i * c->val_size;
	struct lpm_key lk;
	__u64 pv;
	__u32 vv;
	int cpu;

	if (s->kind == LPM) {
		memcpy(&lk, k, sizeof(lk));
		*key = lk.n;
		if (lk.prefixlen != 32)
			return false;
	} else {
		memcpy(key, k, sizeof(*key));
	}
	if (s->kind != PERCPU) {
		memcpy(&vv, v, sizeof(vv));
		return vv == val_of(*key);
	}
	for (cpu = 0; cpu < ncpus(); cpu++) {
		memcpy(&pv, v + (size_t)cpu * 8, sizeof(pv));
		if (pv != (__u64)val_of(*key) + (__u64)cpu)
			return false;
	}
	return true;
}

/* tp_map_walk()'s callback: counts each key, checks values and sizes. */
static int seen_chunk(void *ctx, const struct tp_map_chunk *c)
{
	struct seen *s = ctx;
	size_t want_ks = s->kind == LPM ? sizeof(struct lpm_key) : 4;
	size_t want_vs = s->kind == PERCPU ? 8 * (size_t)ncpus() : 4;
	__u32 key;
	size_t i;

	s->chunks++;
	if (c->n > s->largest)
		s->largest = c->n;
	if (!s->bad[0] && (c->key_size != want_ks || c->val_size != want_vs))
		snprintf(s->bad, sizeof(s->bad), "sizes %zu/%zu, not %zu/%zu",
			 c->key_size, c->val_size, want_ks, want_vs);
	for (i = 0; i < c->n && !s->bad[0]; i++) {
		if (!entry_ok(s, c, i, &key))
			snprintf(s->bad, sizeof(s->bad),
				 "key %u: a wrong value", key);
		else if (key >= s->n)
			snprintf(s->bad, sizeof(s->bad),
				 "key %u: never written", key);
		else
			s->count[key]++;
	}
	return s->stop_at && s->chunks == s->stop_at;
}

/* Every key of 0..@n-1 handed on exactly once, nothing else. */
static void assert_each_once(const struct seen *s, __u32 n)
{
	__u32 i;

	if (s->bad[0])
		fail_msg("%s", s->bad);
	for (i = 0; i < n; i++)
		if (s->count[i] != 1)
			fail_msg("key %u handed on %u times", i, s->count[i]);
}

static void seen_init(struct seen *s, enum map_kind kind, __u32 n)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->n = n;
	s->count = calloc(n ? n : 1, sizeof(*s->count));
	assert_non_null(s->count);
}

/*
 * One map kind at one size, one way: each entry once, in chunks of CHUNK
 * at most; key by key after one refused batch read, by batch a read a
 * chunk (and one more that says there is no more).
 */
static void test_walk_case(void **state)
{
	const struct walk_case *wc = *state;
	struct seen s;
	int fd = map_with(wc->kind, wc->n, 0);

	seen_init(&s, wc->kind, wc->n);
	batch_refuse = wc->refuse;
	batch_calls = 0;
	assert_int_equal(tp_map_walk(fd, CHUNK, seen_chunk, &s), 0);
	batch_refuse = 0;
	assert_each_once(&s, wc->n);
	if (wc->refuse)
		assert_int_equal(batch_calls, 1);
	else
		assert_true(batch_calls >= 1 && batch_calls <= s.chunks + 1);
	assert_true(s.largest <= CHUNK);
	/* no chunk is empty: at least one entry a chunk, at most n chunks */
	assert_true(s.chunks <= wc->n);
	if (wc->n)
		assert_true(s.chunks >= (wc->n + CHUNK - 1) / CHUNK);
	free(s.count);
	close(fd);
}

/*
 * A hash bucket with more entries than the chunk: the batch read says
 * ENOSPC, the walk asks again with more room.  A zero hash seed makes the
 * buckets the same every run; 512 entries in 512 buckets share some.
 */
static void test_bucket_larger_than_chunk(void **state)
{
	const __u32 n = 512;
	struct seen s;
	int fd = map_with(HASH, n, BPF_F_ZERO_SEED);

	(void)state;
	seen_init(&s, HASH, n);
	assert_int_equal(tp_map_walk(fd, 1, seen_chunk, &s), 0);
	assert_each_once(&s, n);
	assert_true(s.largest > 1); /* the chunk grew */
	free(s.count);
	close(fd);
}

/*
 * A callback's nonzero return stops the walk and is its return, by batch
 * and key by key (1 is no sign of a refused batch read).
 */
static void test_callback_stops(void **state)
{
	struct seen s;
	int fd, kind, refuse;

	(void)state;
	for (refuse = 0; refuse <= EINVAL; refuse += EINVAL) {
		for (kind = HASH; kind <= ARRAY; kind++) {
			fd = map_with(kind, MANY, 0);
			seen_init(&s, kind, MANY);
			s.stop_at = 2;
			batch_refuse = refuse;
			assert_int_equal(tp_map_walk(fd, CHUNK, seen_chunk, &s),
					 1);
			batch_refuse = 0;
			assert_int_equal(s.chunks, 2);
			free(s.count);
			close(fd);
		}
	}
}

/*
 * A batch read that says EINTR (the kernel read by key and entries went)
 * is asked again from the same place, a few times, then the walk fails.
 */
static void test_batch_eintr(void **state)
{
	struct seen s;
	int fd = map_with(LPM, MANY, 0);

	(void)state;
	seen_init(&s, LPM, MANY);
	batch_calls = 0;
	batch_eintr_from = 2; /* mid-walk, a few times */
	batch_eintr_to = 4;
	assert_int_equal(tp_map_walk(fd, CHUNK, seen_chunk, &s), 0);
	assert_each_once(&s, MANY);
	free(s.count);

	seen_init(&s, LPM, MANY);
	batch_calls = 0;
	batch_eintr_to = 1000; /* for good */
	assert_int_equal(tp_map_walk(fd, CHUNK, seen_chunk, &s), -EINTR);
	batch_eintr_from = batch_eintr_to = 0;
	free(s.count);
	close(fd);
}

/* Any other error of the first batch read is the walk's, not a refusal. */
static void test_batch_error_returned(void **state)
{
	struct seen s;
	int fd = map_with(HASH, 3, 0);

	(void)state;
	seen_init(&s, HASH, 3);
	batch_refuse = EPERM;
	assert_int_equal(tp_map_walk(fd, CHUNK, seen_chunk, &s), -EPERM);
	batch_refuse = 0;
	assert_int_equal(s.chunks, 0);
	free(s.count);
	close(fd);
}

/* A row of tp_map_collect(): key, a gap, the value, a tail. */
struct row {
	__u32 key;
	__u32 gap;
	__u32 val;
	__u32 tail;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return (x->key > y->key) - (x->key < y->key);
}

/* tp_map_collect()'s rows of a hash of @n: each entry in its row, zeroed. */
static void check_collect(__u32 n)
{
	struct row *rows;
	size_t got;
	__u32 i;
	int fd = map_with(HASH, n, 0);

	assert_int_equal(TP_MAP_COLLECT_SORTED(fd, struct row, key, val, &rows,
					       &got, row_cmp),
			 0);
	assert_int_equal(got, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(rows[i].key, i);
		assert_int_equal(rows[i].val, val_of(i));
		assert_int_equal(rows[i].gap, 0);
		assert_int_equal(rows[i].tail, 0);
	}
	free(rows);
	/* a value field of another size than the map's */
	assert_int_equal(tp_map_collect(fd, 4, 4, 8, 16, (void **)&rows, &got),
			 -EINVAL);
	assert_null(rows);
	close(fd);
}

/* tp_map_keys() of a map of @kind with @n entries: each key once. */
static void check_keys(enum map_kind kind, __u32 n)
{
	size_t ks = kind == LPM ? sizeof(struct lpm_key) : 4, got, i;
	unsigned int *count = calloc(n, sizeof(*count));
	int fd = map_with(kind, n, 0);
	__u32 key;
	void *keys;

	assert_non_null(count);
	assert_int_equal(tp_map_keys(fd, ks, &keys, &got), 0);
	assert_int_equal(got, n);
	for (i = 0; i < got; i++) {
		if (kind == LPM)
			key = ((struct lpm_key *)keys)[i].n;
		else
			key = ((__u32 *)keys)[i];
		assert_true(key < n);
		count[key]++;
	}
	for (key = 0; key < n; key++)
		assert_int_equal(count[key], 1);
	free(keys);
	free(count);
	assert_int_equal(tp_map_keys(fd, ks + 4, &keys, &got), -EINVAL);
	close(fd);
}

/*
 * tp_map_collect() and tp_map_keys() by batch and key by key: every entry
 * once, in its row, the rest of the row zero; sizes other than the map's
 * refused.
 */
static void test_collect_and_keys(void **state)
{
	static const int refuse[] = { 0, ENOTSUPP_K };
	const __u32 n = CHUNK * 3 + 5;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(refuse) / sizeof(refuse[0]); i++) {
		batch_refuse = refuse[i];
		check_collect(n);
		check_keys(HASH, n);
		check_keys(LPM, n);
		batch_refuse = 0;
	}
}

/* Each errno that says "no batch reads" makes a walk key by key. */
static void test_each_refusal(void **state)
{
	static const int refuse[] = { EINVAL, EOPNOTSUPP, ENOTSUPP_K };
	struct seen s;
	size_t i;
	int fd = map_with(HASH, CHUNK + 1, 0);

	(void)state;
	for (i = 0; i < sizeof(refuse) / sizeof(refuse[0]); i++) {
		seen_init(&s, HASH, CHUNK + 1);
		batch_refuse = refuse[i];
		batch_calls = 0;
		assert_int_equal(tp_map_walk(fd, CHUNK, seen_chunk, &s), 0);
		batch_refuse = 0;
		assert_int_equal(batch_calls, 1);
		assert_each_once(&s, CHUNK + 1);
		free(s.count);
	}
	close(fd);
}

/* A closed descriptor is an error, not an empty map. */
static void test_not_a_map(void **state)
{
	struct seen s;

	(void)state;
	seen_init(&s, HASH, 1);
	assert_true(tp_map_walk(-1, CHUNK, seen_chunk, &s) < 0);
	assert_int_equal(s.chunks, 0);
	free(s.count);
}

int main(void)
{
	static const __u32 sizes[] = {
		0, 1, CHUNK - 1, CHUNK, CHUNK + 1, MANY
	};
	static const int refuse[] = { 0, ENOTSUPP_K };
	enum { N_SIZES = sizeof(sizes) / sizeof(sizes[0]) };
	static struct walk_case cases[2 * 4 * N_SIZES];
	struct CMUnitTest tests[2 * 4 * N_SIZES + 7];
	size_t n = 0, i, r;
	int kind;

	for (r = 0; r < 2; r++) {
		for (kind = HASH; kind <= ARRAY; kind++) {
			for (i = 0; i < N_SIZES; i++) {
				if (kind == ARRAY && !sizes[i])
					continue; /* max_entries, always */
				cases[n].kind = kind;
				cases[n].n = sizes[i];
				cases[n].refuse = refuse[r];
				snprintf(cases[n].name, sizeof(cases[n].name),
					 "walk %s of %u %s", kind_name(kind),
					 sizes[i],
					 r ? "key by key" : "by batch");
				tests[n] = (struct CMUnitTest){
					.name = cases[n].name,
					.test_func = test_walk_case,
					.initial_state = &cases[n],
				};
				n++;
			}
		}
	}
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(
		test_bucket_larger_than_chunk);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_callback_stops);
	tests[n++] =
		(struct CMUnitTest)cmocka_unit_test(test_batch_error_returned);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_batch_eintr);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_collect_and_keys);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_each_refusal);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_not_a_map);
	return _cmocka_run_group_tests("test_maps", tests, n, NULL, NULL);
}
