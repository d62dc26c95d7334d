// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the Maglev slab's allocator (lib/slab.c, the part without
 * maps): random allocations and frees of the table sizes a service can
 * get, against a naive model that keeps one owner per block (seed
 * printed; TP_SLAB_SEED replays).  Every extent is checked to be block
 * aligned, past its chunk's bitmap, inside one chunk and clear of every
 * live or deferred extent; the allocator's choice is the model's first
 * fit; an extent freed by a table change is reused only after the grace
 * step (tp_slab_core_settle()); the bitmaps say exactly what the model
 * says after every step.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>

#include "fixture.h"
#include "slab.h"

#define check(cond, fmt, ...)                         \
	do {                                          \
		if (!(cond))                          \
			fail_msg(fmt, ##__VA_ARGS__); \
	} while (0)

#define MAX_CHUNKS 6
#define MAX_LIVE   4096

/* Block states in the model. */
enum { FREE = 0, LIVE = 1, DEFERRED = 2, META = 3 };

/**
 * struct model - the slab as a naive model sees it.
 * @block:    per chunk, each block's state.
 * @n_chunks: chunks there are.
 * @live:     extents an entry names.
 * @n_live:   their number.
 */
struct model {
	unsigned char block[MAX_CHUNKS][TP_MAGLEV_CHUNK_BLOCKS];
	__u32 n_chunks;
	struct tp_slab_extent live[MAX_LIVE];
	size_t n_live;
};

static const __u32 sizes[] = {
	131,  257,   509,   1021,  2039, 4093,
	8191, 16381, 32749, 65521, 31 /* a small configured maglev_size */
};

static void model_add_chunk(struct model *m)
{
	__u32 b;

	for (b = 0; b < TP_MAGLEV_CHUNK_BLOCKS; b++)
		m->block[m->n_chunks][b] =
			b < TP_MAGLEV_META_BLOCKS ? META : FREE;
	m->n_chunks++;
}

/* The model's first fit: chunk by chunk, block by block. */
static int model_first_fit(const struct model *m, __u32 size, __u32 *off)
{
	__u32 want = (size + TP_MAGLEV_BLOCK_SLOTS - 1) / TP_MAGLEV_BLOCK_SLOTS;
	__u32 c, b, run;

	for (c = 0; c < m->n_chunks; c++) {
		run = 0;
		for (b = 0; b < TP_MAGLEV_CHUNK_BLOCKS; b++) {
			run = m->block[c][b] == FREE ? run + 1 : 0;
			if (run == want) {
				*off = c * TP_MAGLEV_CHUNK_SLOTS +
				       (b + 1 - want) * TP_MAGLEV_BLOCK_SLOTS;
				return 0;
			}
		}
	}
	return -ENOSPC;
}

static void model_set(struct model *m, __u32 off, __u32 size,
		      unsigned char from, unsigned char to)
{
	__u32 c = off / TP_MAGLEV_CHUNK_SLOTS,
	      b = off % TP_MAGLEV_CHUNK_SLOTS / TP_MAGLEV_BLOCK_SLOTS,
	      n = (size + TP_MAGLEV_BLOCK_SLOTS - 1) / TP_MAGLEV_BLOCK_SLOTS, i;

	for (i = b; i < b + n; i++) {
		check(m->block[c][i] == from,
		      "chunk %u block %u is in state %u, expected %u", c, i,
		      m->block[c][i], from);
		m->block[c][i] = to;
	}
}

/* The allocator's bitmaps say what the model says, block by block. */
static void check_bits(const struct model *m, const struct tp_slab_core *c)
{
	__u32 i, b;
	bool used;

	check(c->n_chunks == m->n_chunks, "%u chunks, the model has %u",
	      c->n_chunks, m->n_chunks);
	for (i = 0; i < m->n_chunks; i++)
		for (b = 0; b < TP_MAGLEV_CHUNK_BLOCKS; b++) {
			used = c->bits[i][b / 64] >> (b % 64) & 1;
			check(used == (m->block[i][b] != FREE),
			      "chunk %u block %u: bitmap says %s, model %u", i,
			      b, used ? "used" : "free", m->block[i][b]);
		}
}

/* A new extent where the model says, inside one chunk, past its bitmap. */
static void check_extent(const struct model *m, __u32 off, __u32 size)
{
	__u32 in = off % TP_MAGLEV_CHUNK_SLOTS;

	check(off % TP_MAGLEV_BLOCK_SLOTS == 0, "extent %u not block aligned",
	      off);
	check(off / TP_MAGLEV_CHUNK_SLOTS < m->n_chunks,
	      "extent %u in chunk %u of %u", off, off / TP_MAGLEV_CHUNK_SLOTS,
	      m->n_chunks);
	check(in >= TP_MAGLEV_META_BLOCKS * TP_MAGLEV_BLOCK_SLOTS,
	      "extent %u over its chunk's bitmap", off);
	check(in + size <= TP_MAGLEV_CHUNK_SLOTS,
	      "extent %u of %u crosses a chunk boundary", off, size);
}

struct fixture {
	struct model m;
	struct tp_slab_core c;
	__u64 *bits[MAX_CHUNKS];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int i;

	if (!f)
		return -1;
	for (i = 0; i < MAX_CHUNKS; i++) {
		f->bits[i] =
			calloc(TP_MAGLEV_CHUNK_BLOCKS / 64, sizeof(**f->bits));
		if (!f->bits[i])
			return -1;
	}
	f->c.bits = f->bits;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < MAX_CHUNKS; i++)
		free(f->bits[i]);
	free(f->c.pending);
	free(f);
	return 0;
}

/* Allocate @size as tp_slab_alloc() does: a new chunk when none fits. */
static int alloc_one(struct fixture *f, __u32 size, __u32 *off)
{
	__u32 want;
	int err = tp_slab_core_find(&f->c, size, off),
	    merr = model_first_fit(&f->m, size, &want);

	check(err == merr, "find %u: %d, the model says %d", size, err, merr);
	if (err == -ENOSPC) {
		if (f->c.n_chunks == MAX_CHUNKS)
			return -ENOSPC;
		tp_slab_bits_init(f->c.bits[f->c.n_chunks++]);
		model_add_chunk(&f->m);
		err = tp_slab_core_find(&f->c, size, off);
		merr = model_first_fit(&f->m, size, &want);
		check(!err && !merr, "no room for %u in a new chunk", size);
	}
	check(*off == want, "size %u at %u, first fit is %u", size, *off, want);
	check_extent(&f->m, *off, size);
	model_set(&f->m, *off, size, FREE, LIVE);
	assert_int_equal(tp_slab_core_mark(&f->c, *off, size, true), 0);
	return 0;
}

/* Random table adds, changes (copy on write) and deletes; grace steps. */
static void test_slab_matches_model(void **state)
{
	struct fixture *f = *state;
	struct tp_slab_extent *x;
	__u32 off, size;
	size_t i, step, n_allocs = 0, n_defers = 0, n_graces = 0,
			n_sizes = sizeof(sizes) / sizeof(sizes[0]);
	int op;

	fixture_seed("TP_SLAB_SEED");
	for (step = 0; step < 20000; step++) {
		op = (int)(random() % 10);
		/* small tables are the common case: a service of few backends */
		size = sizes[random() % 3 ? (size_t)random() % 4
					  : (size_t)random() % n_sizes];
		if (op < 4 && f->m.n_live < MAX_LIVE) {
			/* a service added: nothing freed */
			if (alloc_one(f, size, &off))
				continue;
			f->m.live[f->m.n_live++] =
				(struct tp_slab_extent){ off, size };
			n_allocs++;
		} else if (op < 8 && f->m.n_live) {
			/* a table replaced or deleted: the old one deferred */
			i = (size_t)random() % f->m.n_live;
			x = &f->m.live[i];
			assert_int_equal(
				tp_slab_core_defer(&f->c, x->off, x->size), 0);
			model_set(&f->m, x->off, x->size, LIVE, DEFERRED);
			n_defers++;
			if (op < 6 && !alloc_one(f, size, &off)) {
				*x = (struct tp_slab_extent){ off, size };
				n_allocs++;
			} else {
				*x = f->m.live[--f->m.n_live];
			}
		} else if (op == 9) {
			/* the flush's grace period passed */
			tp_slab_core_settle(&f->c);
			for (i = 0; i < f->m.n_chunks; i++)
				for (off = 0; off < TP_MAGLEV_CHUNK_BLOCKS;
				     off++)
					if (f->m.block[i][off] == DEFERRED)
						f->m.block[i][off] = FREE;
			n_graces++;
		}
		if (step % 97 == 0)
			check_bits(&f->m, &f->c);
	}
	check_bits(&f->m, &f->c);
	print_message("  %zu allocations, %zu deferred frees, %zu grace steps, "
		      "%u chunks\n",
		      n_allocs, n_defers, n_graces, f->c.n_chunks);
	assert_true(n_graces > 0 && n_defers > 0);
}

/* Bad extents are refused, and nothing is marked for them. */
static void test_slab_bad_extents(void **state)
{
	struct fixture *f = *state;
	__u32 meta = TP_MAGLEV_META_BLOCKS * TP_MAGLEV_BLOCK_SLOTS, off;

	tp_slab_bits_init(f->c.bits[0]);
	f->c.n_chunks = 1;
	/* no chunk 1, a table over the bitmap, unaligned, past the chunk */
	assert_int_equal(
		tp_slab_core_check(&f->c, TP_MAGLEV_CHUNK_SLOTS + meta, 131),
		-EINVAL);
	assert_int_equal(tp_slab_core_check(&f->c, 0, 131), -EINVAL);
	assert_int_equal(tp_slab_core_check(&f->c, meta + 1, 131), -EINVAL);
	assert_int_equal(
		tp_slab_core_check(&f->c, TP_MAGLEV_CHUNK_SLOTS - 128, 131),
		-EINVAL);
	assert_int_equal(tp_slab_core_check(&f->c, meta, 0), -EINVAL);
	assert_int_equal(tp_slab_core_check(&f->c, meta, 65522), -EINVAL);
	assert_int_equal(tp_slab_core_mark(&f->c, 0, 131, false), -EINVAL);
	assert_int_equal(tp_slab_core_find(&f->c, 0, &off), -EINVAL);
	/* the first table goes right after the bitmap */
	assert_int_equal(tp_slab_core_find(&f->c, 131, &off), 0);
	assert_int_equal(off, meta);
	assert_int_equal(tp_slab_core_check(&f->c, off, 131), 0);
}

/* A full chunk of the largest tables a service gets, and the waste. */
static void test_slab_fill(void **state)
{
	struct fixture *f = *state;
	__u32 off, n, i, blocks;

	tp_slab_bits_init(f->c.bits[0]);
	f->c.n_chunks = 1;
	for (n = 0; !tp_slab_core_find(&f->c, 32749, &off); n++)
		assert_int_equal(tp_slab_core_mark(&f->c, off, 32749, true), 0);
	assert_int_equal(n, (TP_MAGLEV_CHUNK_BLOCKS - TP_MAGLEV_META_BLOCKS) /
				    tp_slab_blocks(32749));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		blocks = tp_slab_blocks(sizes[i]);
		print_message(
			"  size %5u: %4u blocks, %5.1f%% of them unused\n",
			sizes[i], blocks,
			100.0 * (blocks * TP_MAGLEV_BLOCK_SLOTS - sizes[i]) /
				(blocks * TP_MAGLEV_BLOCK_SLOTS));
	}
	/* room for every service's largest table, within table_off's range */
	assert_true(tp_slab_chunks_for(65536) * n >= 65536);
	assert_true(tp_slab_chunks_for(1u << 31) <= TP_MAGLEV_CHUNKS_MAX);
}

/* Slots of @outer (of @max) that name a chunk. */
static __u32 slots_set(int outer, __u32 max)
{
	__u32 i, id, n = 0;

	for (i = 0; i < max; i++)
		n += !bpf_map_lookup_elem(outer, &i, &id);
	return n;
}

/*
 * A tp_maglev_slab of @slots chunks (*@outer, empty) and the chunk map
 * its slots are shaped by (*@inner); the test is skipped without BPF.
 */
static void slab_maps(__u32 slots, int *inner, int *outer)
{
	LIBBPF_OPTS(bpf_map_create_opts, io, .map_flags = BPF_F_MMAPABLE);
	LIBBPF_OPTS(bpf_map_create_opts, oo);

	*inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tp_maglev_chunk",
				sizeof(__u32), sizeof(struct tp_maglev_block),
				TP_MAGLEV_CHUNK_BLOCKS, &io);
	if (*inner < 0) {
		print_message("skipped: no BPF maps here: %s\n",
			      strerror(errno));
		skip();
	}
	oo.inner_map_fd = *inner;
	*outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "tp_maglev_slab",
				sizeof(__u32), sizeof(__u32), slots, &oo);
	assert_true(*outer >= 0);
}

/*
 * A slab of real maps grows by as many chunks as it has, at most 4, each
 * named by its slot (one batch update: one grace period), and never past
 * the slab's slots.  Three of the largest tables fill a chunk.
 */
static void test_slab_grows_in_batches(void **state)
{
	static const __u32 after[] = { 1, 2, 4, 8, 12, 14 };
	struct tp_slab_usage u;
	struct tp_slab *slab;
	int inner, outer;
	__u32 off, i, k;

	(void)state;
	slab_maps(14, &inner, &outer);
	slab = tp_slab_open(outer, NULL);
	assert_non_null(slab);
	for (i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
		/* the first table past the chunks there are grows the slab */
		for (k = 0; k < 3 * (after[i] - (i ? after[i - 1] : 0)); k++) {
			assert_int_equal(tp_slab_alloc(slab, 65521, &off), 0);
			assert_int_equal(tp_slab_usage(slab, &u), 0);
			assert_int_equal(u.chunks, after[i]);
			assert_int_equal(slots_set(outer, 14), after[i]);
		}
	}
	assert_int_equal(tp_slab_alloc(slab, 65521, &off), -ENOSPC);
	tp_slab_close(slab);
	close(outer);
	close(inner);
}

/*
 * A writer that opens the slab afresh (a tpctl process) opens chunks only
 * until one has room, and still takes the extent first fit over every
 * chunk gives: a largest table, which fits nowhere before the last chunk
 * and then in a hole of the first, each time where a writer with every
 * chunk open puts it.
 */
static void test_slab_fresh_writer_first_fit(void **state)
{
	struct tp_slab *all, *fresh;
	__u32 off, want, hole, i;
	int inner, outer;

	(void)state;
	slab_maps(8, &inner, &outer);
	all = tp_slab_open(outer, NULL);
	assert_non_null(all);
	/* 3 largest tables a chunk: chunks 0 to 2 full, 3 with one */
	for (i = 0; i < 10; i++)
		assert_int_equal(tp_slab_alloc(all, 65521, &off), 0);
	assert_int_equal(off >> TP_MAGLEV_CHUNK_SHIFT, 3);
	for (i = 0; i < 2; i++) {
		/* where a writer with every chunk open puts a table */
		assert_int_equal(tp_slab_alloc(all, 65521, &want), 0);
		tp_slab_release(all, want, 65521);
		fresh = tp_slab_open(outer, NULL);
		assert_non_null(fresh);
		assert_int_equal(tp_slab_alloc(fresh, 65521, &off), 0);
		assert_int_equal(off, want);
		tp_slab_release(fresh, off, 65521);
		tp_slab_close(fresh);
		if (i)
			break;
		assert_int_equal(want >> TP_MAGLEV_CHUNK_SHIFT, 3);
		/* then a hole in chunk 0: the first fit is there */
		hole = TP_MAGLEV_META_BLOCKS << TP_MAGLEV_BLOCK_SHIFT;
		tp_slab_release(all, hole, 65521);
	}
	assert_int_equal(want, hole);
	tp_slab_close(all);
	close(outer);
	close(inner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slab_matches_model, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_slab_bad_extents, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_slab_fill, setup,
						teardown),
		cmocka_unit_test(test_slab_grows_in_batches),
		cmocka_unit_test(test_slab_fresh_writer_first_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
