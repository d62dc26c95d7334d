/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Maglev slab (tp_maglev_slab, see the ABI): extents of whole blocks
 * in a few large mmapable chunks, allocated first fit, freed only after
 * an RCU grace period.  The allocation state is in the chunks themselves
 * (their first TP_MAGLEV_META_BLOCKS blocks), so every writer under the
 * writers' lock shares it through the maps.
 */
#ifndef TAILPLANE_LIB_SLAB_H
#define TAILPLANE_LIB_SLAB_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>

#include "tailplane/abi.h"

/* ---- the allocator over chunk bitmaps (no maps: unit-tested alone) ---- */

/* An extent: a table's first slot and its entries. */
struct tp_slab_extent {
	__u32 off;
	__u32 size;
};

/**
 * struct tp_slab_core - the block bitmaps of a slab's chunks.
 * @bits:      per chunk, TP_MAGLEV_CHUNK_BLOCKS bits (its first
 *             TP_MAGLEV_META_BLOCKS always set).
 * @n_chunks:  chunks there are.
 * @pending:   extents no entry names any more, still marked used until
 *             tp_slab_core_settle() (after a grace period).
 * @n_pending: their number.
 * @cap_p:     room in @pending.
 */
struct tp_slab_core {
	__u64 **bits;
	__u32 n_chunks;
	struct tp_slab_extent *pending;
	size_t n_pending;
	size_t cap_p;
};

__u32 tp_slab_blocks(__u32 size);
void tp_slab_bits_init(__u64 *bits);
int tp_slab_core_find(const struct tp_slab_core *c, __u32 size, __u32 *off);
int tp_slab_core_mark(struct tp_slab_core *c, __u32 off, __u32 size, bool used);
int tp_slab_core_check(const struct tp_slab_core *c, __u32 off, __u32 size);
int tp_slab_core_defer(struct tp_slab_core *c, __u32 off, __u32 size);
void tp_slab_core_settle(struct tp_slab_core *c);
__u32 tp_slab_chunks_for(__u32 services);

/* ---- the slab of a set of maps ------------------------------------------- */

struct tp_slab;

struct tp_slab *tp_slab_open(int slab_fd, const char *pin_path);
void tp_slab_close(struct tp_slab *s);
int tp_slab_alloc(struct tp_slab *s, __u32 size, __u32 *off);
int tp_slab_write(struct tp_slab *s, __u32 off, __u32 size, const __u32 *table);
int tp_slab_read(struct tp_slab *s, __u32 off, __u32 size, __u32 *out);
void tp_slab_release(struct tp_slab *s, __u32 off, __u32 size);
int tp_slab_defer(struct tp_slab *s, __u32 off, __u32 size);
int tp_slab_settle(struct tp_slab *s, int services_fd);
int tp_slab_grace(struct tp_slab *s);
int tp_slab_reclaim(struct tp_slab *s, int services_fd, bool grace);
void tp_slab_unpin_stale(const char *pin_path);

/**
 * struct tp_slab_usage - what tpctl status shows of the slab.
 * @chunks:      chunks created.
 * @max_chunks:  max_entries of tp_maglev_slab.
 * @used_blocks: blocks in tables (the bitmaps' own not counted).
 * @free_blocks: blocks free in the chunks there are.
 */
struct tp_slab_usage {
	__u32 chunks;
	__u32 max_chunks;
	__u64 used_blocks;
	__u64 free_blocks;
};

int tp_slab_usage(struct tp_slab *s, struct tp_slab_usage *u);

#endif /* TAILPLANE_LIB_SLAB_H */
