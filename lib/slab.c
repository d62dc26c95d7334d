// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Maglev slab.  A table goes live copy on write:
 *   1. tp_slab_alloc() finds a free extent (first fit over the chunks'
 *      bitmaps, new chunks only when none fits) and marks it used;
 *   2. the writer copies the table in through a mapping of the pages it
 *      spans (tp_slab_write()): no syscall per slot, no map created;
 *   3. one update of the service's tp_services entry (offset, size and
 *      active count together) makes it live;
 *   4. the extent it replaced may still be read by a program that looked
 *      the entry up before: tp_slab_defer() remembers it, and
 *      tp_slab_settle() waits one RCU grace period for all remembered at
 *      once, after every entry of the flush is written, then clears them.
 * A flush that frees nothing (services added) waits for nothing.  A
 * writer killed between 3 and 4 leaks its old extents, never frees them
 * early; the loader's start takes them back (tp_slab_reclaim()).
 *
 * Chunks are pinned beside the slab as "<slab pin>_N" (bpffs refuses
 * dots in names): a writer opens a chunk by its pin and checks that the
 * slab's slot N holds that map (getting a map by its id would need
 * CAP_SYS_ADMIN, which the deployed loader does not have; it is only the
 * fallback).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "array.h"
#include "maglev.h"
#include "maps.h"
#include "slab.h"

/*
 * Blocks are packed: a chunk's mapping is its slots, in order.  Only the
 * bitmap's page stays mapped: a table's pages are mapped while it is
 * copied, so a writer's resident memory does not grow with the slab.
 */
#define TP_SLAB_BITS_BYTES 4096
_Static_assert(TP_MAGLEV_CHUNK_BLOCKS / 8 <= TP_SLAB_BITS_BYTES,
	       "the bitmap is in the first page");

/* ---- the allocator over chunk bitmaps ------------------------------------ */

/** tp_slab_blocks() - the blocks a table of @size entries takes. */
__u32 tp_slab_blocks(__u32 size)
{
	return (size + TP_MAGLEV_BLOCK_SLOTS - 1) >> TP_MAGLEV_BLOCK_SHIFT;
}

static bool tp_bit(const __u64 *bits, __u32 i)
{
	return bits[i / 64] >> (i % 64) & 1;
}

/** tp_slab_bits_init() - a chunk's bitmap with only the bitmap in use. */
void tp_slab_bits_init(__u64 *bits)
{
	__u32 i;

	memset(bits, 0, TP_MAGLEV_CHUNK_BLOCKS / 8);
	for (i = 0; i < TP_MAGLEV_META_BLOCKS; i++)
		bits[i / 64] |= 1ull << (i % 64);
}

/* The first run of @want clear bits in @bits, or -1. */
static int tp_slab_bits_find(const __u64 *bits, __u32 want)
{
	__u32 i = TP_MAGLEV_META_BLOCKS, run = 0;

	while (i < TP_MAGLEV_CHUNK_BLOCKS) {
		if (!(i % 64) && bits[i / 64] == ~0ull) {
			run = 0;
			i += 64;
			continue;
		}
		run = tp_bit(bits, i) ? 0 : run + 1;
		i++;
		if (run == want)
			return (int)(i - want);
	}
	return -1;
}

/**
 * tp_slab_core_find() - the first free extent for a table of @size.
 * @c:    the bitmaps.
 * @size: entries, 1..TP_MAGLEV_SIZE_MAX.
 * @off:  set to the extent's first slot.
 *
 * Nothing is marked: tp_slab_core_mark() does.
 *
 * Return: 0, -ENOSPC when no chunk has room, -EINVAL for a bad size.
 */
int tp_slab_core_find(const struct tp_slab_core *c, __u32 size, __u32 *off)
{
	__u32 want = tp_slab_blocks(size), i;
	int b;

	if (!size || size > TP_MAGLEV_SIZE_MAX)
		return -EINVAL;
	for (i = 0; i < c->n_chunks; i++) {
		b = tp_slab_bits_find(c->bits[i], want);
		if (b >= 0) {
			*off = (i << TP_MAGLEV_CHUNK_SHIFT) |
			       ((__u32)b << TP_MAGLEV_BLOCK_SHIFT);
			return 0;
		}
	}
	return -ENOSPC;
}

/**
 * tp_slab_core_check() - whether @off, @size is an extent a table can
 * have: block aligned, in a chunk there is, past its bitmap, inside it.
 *
 * Return: 0 or -EINVAL.
 */
int tp_slab_core_check(const struct tp_slab_core *c, __u32 off, __u32 size)
{
	__u32 chunk = off >> TP_MAGLEV_CHUNK_SHIFT,
	      first = (off & TP_MAGLEV_CHUNK_MASK) >> TP_MAGLEV_BLOCK_SHIFT;

	if (!size || size > TP_MAGLEV_SIZE_MAX || chunk >= c->n_chunks ||
	    off & (TP_MAGLEV_BLOCK_SLOTS - 1) ||
	    first < TP_MAGLEV_META_BLOCKS ||
	    first + tp_slab_blocks(size) > TP_MAGLEV_CHUNK_BLOCKS)
		return -EINVAL;
	return 0;
}

/**
 * tp_slab_core_mark() - mark the blocks of an extent used or free.
 * @c:    the bitmaps.
 * @off:  the extent's first slot.
 * @size: its table's entries.
 * @used: in use (true) or free.
 *
 * Return: 0 or -EINVAL (tp_slab_core_check()): nothing marked.
 */
int tp_slab_core_mark(struct tp_slab_core *c, __u32 off, __u32 size, bool used)
{
	__u32 first = (off & TP_MAGLEV_CHUNK_MASK) >> TP_MAGLEV_BLOCK_SHIFT,
	      n = tp_slab_blocks(size), i;
	__u64 *bits;

	if (tp_slab_core_check(c, off, size))
		return -EINVAL;
	bits = c->bits[off >> TP_MAGLEV_CHUNK_SHIFT];
	for (i = first; i < first + n; i++) {
		if (used)
			bits[i / 64] |= 1ull << (i % 64);
		else
			bits[i / 64] &= ~(1ull << (i % 64));
	}
	return 0;
}

/**
 * tp_slab_core_defer() - free an extent an entry named until now, at the
 * next tp_slab_core_settle(): until then it stays used.
 * @c:    the bitmaps.
 * @off:  its first slot.
 * @size: its table's entries; 0 (no table) is nothing to free.
 *
 * Return: 0 or -ENOMEM (the extent leaks until the loader's next start).
 */
int tp_slab_core_defer(struct tp_slab_core *c, __u32 off, __u32 size)
{
	if (!size)
		return 0;
	if (tp_array_grow((void **)&c->pending, &c->cap_p, c->n_pending + 1,
			  sizeof(*c->pending), 16))
		return -ENOMEM;
	c->pending[c->n_pending++] = (struct tp_slab_extent){ off, size };
	return 0;
}

/**
 * tp_slab_core_settle() - free every deferred extent: the caller has
 * waited for a grace period since the entries stopped naming them.
 */
void tp_slab_core_settle(struct tp_slab_core *c)
{
	size_t i;

	for (i = 0; i < c->n_pending; i++)
		tp_slab_core_mark(c, c->pending[i].off, c->pending[i].size,
				  false);
	c->n_pending = 0;
}

/**
 * tp_slab_chunks_for() - the slab's size for @services services: room
 * for every one of them to have the largest table a service can get
 * (TP_MAX_SVC_BACKENDS active backends at TP_MAGLEV_SIZE_MAX), however
 * the configured maglev_size changes, so a change of it rebuilds tables
 * in the same slab.  Only chunks in use take memory; a slot of the outer
 * array is 8 bytes.
 *
 * Return: the chunks, at most TP_MAGLEV_CHUNKS_MAX (table_off's range).
 */
__u32 tp_slab_chunks_for(__u32 services)
{
	__u32 per = (TP_MAGLEV_CHUNK_BLOCKS - TP_MAGLEV_META_BLOCKS) /
		    tp_slab_blocks(tp_maglev_table_size(TP_MAX_SVC_BACKENDS,
							TP_MAGLEV_SIZE_MAX));
	__u64 n = ((__u64)services + per - 1) / per + 1;

	return n > TP_MAGLEV_CHUNKS_MAX ? TP_MAGLEV_CHUNKS_MAX : (__u32)n;
}

/* ---- the slab of a set of maps ------------------------------------------- */

/**
 * struct tp_slab - the chunks a process has open.
 * @fd:        tp_maglev_slab (not owned).
 * @pin:       its pin path, "" when not pinned (chunks are not either).
 * @max:       its max_entries.
 * @core:      the chunks' bitmaps (their mappings' first blocks).
 * @fds:       the chunks.
 * @cap:       room in @core.bits.
 * @cap_f:     room in @fds.
 * @win:       a writable mapping of chunk @win_chunk's bytes from
 *             @win_from, @win_len of them, or NULL (tp_slab_window()).
 * @win_chunk: its chunk.
 * @win_from:  its first byte in the chunk.
 * @win_len:   its length.
 */
struct tp_slab {
	int fd;
	char pin[PATH_MAX];
	__u32 max;
	struct tp_slab_core core;
	int *fds;
	size_t cap;
	size_t cap_f;
	char *win;
	__u32 win_chunk;
	size_t win_from;
	size_t win_len;
};

/*
 * Tables written one after another (a sync's, into extents first fit
 * hands out side by side) go through one mapping of this many bytes, not
 * a mapping each: 10,000 tables were 20,000 system calls, now about 320
 * (a table of two backends is 1 KiB: 63 to a window, two calls each).  Small: a mapping of a BPF array
 * is resident whole from the mmap() on, so it adds its size to the
 * writer's resident memory (256 KiB was 0.25 MiB on a 3 MiB daemon).
 */
#define TP_SLAB_WINDOW	    (64u << 10)
#define TP_SLAB_CHUNK_BYTES ((size_t)(TP_MAGLEV_CHUNK_MASK + 1) * sizeof(__u32))

/* Unmap the write window, if any. */
static void tp_slab_window_drop(struct tp_slab *s)
{
	if (s->win)
		munmap(s->win, s->win_len);
	s->win = NULL;
}

/*
 * The address of byte @from of chunk @chunk in a writable window that
 * holds @len bytes from there: the window there is, or a new one.
 */
static char *tp_slab_window(struct tp_slab *s, __u32 chunk, size_t from,
			    size_t len)
{
	size_t page = from & ~(size_t)(TP_SLAB_BITS_BYTES - 1), wlen;
	char *mem;

	if (s->win && s->win_chunk == chunk && from >= s->win_from &&
	    from + len <= s->win_from + s->win_len)
		return s->win + (from - s->win_from);
	tp_slab_window_drop(s);
	wlen = from + len - page;
	if (wlen < TP_SLAB_WINDOW)
		wlen = TP_SLAB_WINDOW;
	if (page + wlen > TP_SLAB_CHUNK_BYTES)
		wlen = TP_SLAB_CHUNK_BYTES - page;
	mem = mmap(NULL, wlen, PROT_READ | PROT_WRITE, MAP_SHARED,
		   s->fds[chunk], (off_t)page);
	if (mem == MAP_FAILED)
		return NULL;
	s->win = mem;
	s->win_chunk = chunk;
	s->win_from = page;
	s->win_len = wlen;
	return mem + (from - page);
}

/**
 * tp_slab_open() - the slab tp_maglev_slab @slab_fd holds.
 * @slab_fd:  the map (stays the caller's).
 * @pin_path: its pin, or NULL: chunks are then neither pinned nor found
 *            by pin.
 *
 * Chunks are opened when first needed.
 *
 * Return: the slab or NULL without memory.
 */
struct tp_slab *tp_slab_open(int slab_fd, const char *pin_path)
{
	struct tp_slab *s = calloc(1, sizeof(*s));
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (!s)
		return NULL;
	s->fd = slab_fd;
	if (pin_path)
		snprintf(s->pin, sizeof(s->pin), "%s", pin_path);
	if (!bpf_obj_get_info_by_fd(slab_fd, &info, &len))
		s->max = info.max_entries;
	return s;
}

/** tp_slab_close() - unmap and close the chunks; forget @s. */
void tp_slab_close(struct tp_slab *s)
{
	__u32 i;

	if (!s)
		return;
	tp_slab_window_drop(s);
	for (i = 0; i < s->core.n_chunks; i++) {
		munmap(s->core.bits[i], TP_SLAB_BITS_BYTES);
		close(s->fds[i]);
	}
	free(s->core.bits);
	free(s->fds);
	free(s->core.pending);
	free(s);
}

static void tp_slab_chunk_pin(const struct tp_slab *s, __u32 i, char *buf,
			      size_t len)
{
	snprintf(buf, len, "%s_%u", s->pin, i);
}

/* @fd mapped as chunk @s->core.n_chunks. */
static int tp_slab_add(struct tp_slab *s, int fd)
{
	void *mem;

	if (tp_array_grow((void **)&s->fds, &s->cap_f, s->core.n_chunks + 1,
			  sizeof(*s->fds), 8) ||
	    tp_array_grow((void **)&s->core.bits, &s->cap, s->core.n_chunks + 1,
			  sizeof(*s->core.bits), 8))
		return -ENOMEM;
	mem = mmap(NULL, TP_SLAB_BITS_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (mem == MAP_FAILED)
		return -errno;
	s->fds[s->core.n_chunks] = fd;
	s->core.bits[s->core.n_chunks++] = mem;
	return 0;
}

/* Chunk @i, whose map id the slab holds is @id: by its pin, else by id. */
static int tp_slab_chunk_open(const struct tp_slab *s, __u32 i, __u32 id)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX + 16];
	int fd = -1;

	if (s->pin[0]) {
		tp_slab_chunk_pin(s, i, path, sizeof(path));
		fd = bpf_obj_get(path);
	}
	if (fd >= 0 &&
	    (bpf_obj_get_info_by_fd(fd, &info, &len) || info.id != id ||
	     info.max_entries != TP_MAGLEV_CHUNK_BLOCKS ||
	     info.value_size != sizeof(struct tp_maglev_block))) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fd = bpf_map_get_fd_by_id(id); /* as root only */
	return fd < 0 ? -ESTALE : fd;
}

/*
 * Open the next chunk the slab has that @s has not: 1 when one was
 * opened, 0 when there is none more, or -errno.
 */
static int tp_slab_sync_one(struct tp_slab *s)
{
	__u32 i = s->core.n_chunks, id;
	int fd, err;

	if (i >= s->max)
		return 0;
	if (bpf_map_lookup_elem(s->fd, &i, &id))
		return errno == ENOENT ? 0 : -errno;
	fd = tp_slab_chunk_open(s, i, id);
	if (fd < 0)
		return fd;
	err = tp_slab_add(s, fd);
	if (err) {
		close(fd);
		return err;
	}
	return 1;
}

/* Open the chunks other writers created since; 0 or -errno. */
static int tp_slab_sync(struct tp_slab *s)
{
	int ret;

	while ((ret = tp_slab_sync_one(s)) > 0)
		;
	return ret;
}

/*
 * Each update of the slab waits for an RCU grace period (10-15 ms): a
 * slab that must grow takes up to this many chunks at once, as many as it
 * has, in one batch update, so that a first sync of 10,000 services waits
 * five times, not once a chunk.  At most TP_SLAB_GROW_MAX - 1 chunks
 * (1 MiB each) stay unused.
 */
#define TP_SLAB_GROW_MAX 4

/* Chunk @s->core.n_chunks made, mapped and pinned, not in the slab yet. */
static int tp_slab_chunk_new(struct tp_slab *s, int *fd_out)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	__u32 i = s->core.n_chunks;
	char path[PATH_MAX + 16];
	int fd, err;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tp_maglev_chunk",
			    sizeof(__u32), sizeof(struct tp_maglev_block),
			    TP_MAGLEV_CHUNK_BLOCKS, &opts);
	if (fd < 0)
		return -errno;
	err = tp_slab_add(s, fd);
	if (err) {
		close(fd);
		return err;
	}
	tp_slab_bits_init(s->core.bits[i]);
	if (s->pin[0]) {
		tp_slab_chunk_pin(s, i, path, sizeof(path));
		unlink(path); /* a chunk of a slab replaced since */
		if (bpf_obj_pin(fd, path)) {
			err = -errno;
			s->core.n_chunks--;
			munmap(s->core.bits[i], TP_SLAB_BITS_BYTES);
			close(fd);
			return err;
		}
	}
	*fd_out = fd;
	return 0;
}

/* Undo the last chunk tp_slab_chunk_new() made, which no slot names. */
static void tp_slab_chunk_drop(struct tp_slab *s)
{
	__u32 i = --s->core.n_chunks;
	char path[PATH_MAX + 16];

	if (s->win_chunk == i)
		tp_slab_window_drop(s);
	if (s->pin[0]) {
		tp_slab_chunk_pin(s, i, path, sizeof(path));
		unlink(path);
	}
	munmap(s->core.bits[i], TP_SLAB_BITS_BYTES);
	close(s->fds[i]);
}

/*
 * New chunks, each with its bitmap initialized and its pin in place
 * before the slab's slot names it; 0 when at least one went in.
 */
static int tp_slab_grow(struct tp_slab *s)
{
	__u32 first = s->core.n_chunks, keys[TP_SLAB_GROW_MAX], want, n, done;
	__u32 count;
	int fds[TP_SLAB_GROW_MAX], err = 0;

	if (first >= s->max)
		return -ENOSPC;
	want = first ? first : 1;
	if (want > TP_SLAB_GROW_MAX)
		want = TP_SLAB_GROW_MAX;
	if (want > s->max - first)
		want = s->max - first;
	for (n = 0; n < want; n++) {
		keys[n] = first + n;
		err = tp_slab_chunk_new(s, &fds[n]);
		if (err)
			break;
	}
	count = n;
	done = n > 1 && !bpf_map_update_batch(s->fd, keys, fds, &count, NULL)
		       ? n
		       : 0;
	/* one at a time: a kernel without batch updates of the slab */
	for (; done < n; done++)
		if (bpf_map_update_elem(s->fd, &keys[done], &fds[done],
					BPF_ANY)) {
			err = -errno;
			break;
		}
	while (s->core.n_chunks > first + done)
		tp_slab_chunk_drop(s);
	return done ? 0 : err;
}

/**
 * tp_slab_alloc() - an extent for a table of @size entries, marked used.
 * @s:    the slab; NULL fails with -EINVAL.
 * @size: the table's entries.
 * @off:  set to its first slot.
 *
 * First fit over the chunks there are; new chunks when none has room
 * (tp_slab_grow()).  Chunks are opened in order only until one has room:
 * the extent is the one all of them open would give, and a process that
 * writes one table (a tpctl batch adding a service) does not open and
 * map the chunks past it, four syscalls each.
 *
 * Return: 0, -ENOSPC when the slab is full, or -errno.
 */
int tp_slab_alloc(struct tp_slab *s, __u32 size, __u32 *off)
{
	int err;

	if (!s)
		return -EINVAL;
	while ((err = tp_slab_core_find(&s->core, size, off)) == -ENOSPC) {
		err = tp_slab_sync_one(s);
		if (err <= 0) {
			err = err ? err : -ENOSPC;
			break;
		}
	}
	if (err == -ENOSPC) {
		err = tp_slab_grow(s);
		if (!err)
			err = tp_slab_core_find(&s->core, size, off);
	}
	if (!err)
		err = tp_slab_core_mark(&s->core, *off, size, true);
	return err;
}

/*
 * Copy @size ids between @buf and the extent at @off (into it when
 * @write), through a mapping of the pages it spans.
 */
static int tp_slab_copy(struct tp_slab *s, __u32 off, __u32 size, void *buf,
			bool write)
{
	size_t from = (size_t)(off & TP_MAGLEV_CHUNK_MASK) * sizeof(__u32),
	       page = from & ~(size_t)(TP_SLAB_BITS_BYTES - 1),
	       len = from + size * sizeof(__u32) - page;
	char *mem;

	if (write) {
		mem = tp_slab_window(s, off >> TP_MAGLEV_CHUNK_SHIFT, from,
				     size * sizeof(__u32));
		if (!mem)
			return -errno;
		memcpy(mem, buf, size * sizeof(__u32));
		return 0;
	}
	mem = mmap(NULL, len, PROT_READ, MAP_SHARED,
		   s->fds[off >> TP_MAGLEV_CHUNK_SHIFT], (off_t)page);
	if (mem == MAP_FAILED)
		return -errno;
	memcpy(buf, mem + (from - page), size * sizeof(__u32));
	munmap(mem, len);
	return 0;
}

/**
 * tp_slab_write() - copy a table into its extent (allocated, not live).
 * @s:     the slab.
 * @off:   the extent's first slot.
 * @size:  its entries.
 * @table: the backend ids.
 *
 * Return: 0 or -errno.
 */
int tp_slab_write(struct tp_slab *s, __u32 off, __u32 size, const __u32 *table)
{
	int err = tp_slab_core_check(&s->core, off, size);

	return err ? err : tp_slab_copy(s, off, size, (void *)table, true);
}

/**
 * tp_slab_read() - copy a table out of the slab.
 * @s:    the slab.
 * @off:  its first slot (tp_svc.table_off).
 * @size: its entries (tp_svc.table_size).
 * @out:  room for @size ids.
 *
 * For tests and tools: the datapath's view, without CAP_SYS_ADMIN.
 *
 * Return: 0, -EINVAL when no table can be there, or -errno.
 */
int tp_slab_read(struct tp_slab *s, __u32 off, __u32 size, __u32 *out)
{
	int err;

	if (!s)
		return -EINVAL;
	err = tp_slab_sync(s);
	if (!err)
		err = tp_slab_core_check(&s->core, off, size);
	if (!err)
		err = tp_slab_copy(s, off, size, out, false);
	return err;
}

/**
 * tp_slab_release() - free an extent no entry ever named (its write
 * failed): no grace period needed.
 */
void tp_slab_release(struct tp_slab *s, __u32 off, __u32 size)
{
	if (s)
		tp_slab_core_mark(&s->core, off, size, false);
}

/**
 * tp_slab_defer() - free an extent an entry named until now, at the next
 * tp_slab_settle() (tp_slab_core_defer()).
 *
 * Return: 0 or -ENOMEM.
 */
int tp_slab_defer(struct tp_slab *s, __u32 off, __u32 size)
{
	return s ? tp_slab_core_defer(&s->core, off, size) : 0;
}

/**
 * tp_slab_grace() - wait until no program runs that started before.
 * @s: the slab.
 *
 * The kernel waits for an RCU grace period after every update of a map
 * of maps' slot (maybe_wait_bpf_programs()): chunk 0's slot is written
 * with chunk 0 again.
 *
 * Return: 0 or -errno.
 */
int tp_slab_grace(struct tp_slab *s)
{
	__u32 zero = 0;

	if (!s || !s->core.n_chunks)
		return 0; /* no chunk: no table anyone could read */
	if (bpf_map_update_elem(s->fd, &zero, &s->fds[0], BPF_ANY))
		return -errno;
	return 0;
}

/* tp_slab_mark_named()'s pass over one chunk of tp_services. */
struct tp_slab_named {
	struct tp_slab *s;
	int n;
};

static int tp_slab_mark_chunk(void *ctx, const struct tp_map_chunk *c)
{
	struct tp_slab_named *w = ctx;
	struct tp_svc svc;
	size_t i;

	if (c->val_size != sizeof(svc))
		return -EINVAL;
	for (i = 0; i < c->n; i++) {
		memcpy(&svc, (const char *)c->vals + i * c->val_size,
		       sizeof(svc));
		if (svc.table_size &&
		    !tp_slab_core_mark(&w->s->core, svc.table_off,
				       svc.table_size, true))
			w->n++;
	}
	return 0;
}

/*
 * Mark used every extent tp_services names (entries naming an extent
 * that cannot be, another slab's, are left alone), read a chunk of
 * entries a system call: a settle runs it at every flush that frees.
 * Return: the tables marked, or -errno.
 */
static int tp_slab_mark_named(struct tp_slab *s, int services_fd)
{
	struct tp_slab_named w = { .s = s };
	int err;

	err = tp_map_walk(services_fd, TP_MAP_WALK_CHUNK, tp_slab_mark_chunk,
			  &w);
	return err ? err : w.n;
}

/**
 * tp_slab_settle() - free the deferred extents, after one grace period
 * for all of them (none when there are none).
 * @s:           the slab.
 * @services_fd: tp_services.
 *
 * An extent deferred under an earlier hold of the writers' lock (tpctl
 * batch lets it go between lines) may have been taken back by the
 * loader's start (tp_slab_reclaim()) and given to another table since:
 * what the entries name stays used.
 *
 * Return: 0, or -errno of the wait (they stay deferred then) or of the
 * walk of tp_services (they are free then, and what the entries name may
 * be marked only in part: the loader's next full load recounts).
 */
int tp_slab_settle(struct tp_slab *s, int services_fd)
{
	int err;

	if (s)
		tp_slab_window_drop(s); /* the flush's writes are done */
	if (!s || !s->core.n_pending)
		return 0;
	err = tp_slab_sync(s);
	if (!err)
		err = tp_slab_grace(s);
	if (err)
		return err;
	tp_slab_core_settle(&s->core);
	err = tp_slab_mark_named(s, services_fd);
	return err < 0 ? err : 0;
}

/**
 * tp_slab_reclaim() - make the bitmaps say exactly the extents
 * tp_services names: what writers killed half-way leaked comes back.
 * @s:           the slab.
 * @services_fd: tp_services (struct tp_svc values).
 * @grace:       wait a grace period first (programs may still read an
 *               extent no entry names any more); false only when no
 *               program runs.
 *
 * Under the writers' lock.  Entries naming an extent that cannot be
 * (another slab's) are left alone and not counted.
 *
 * Return: the number of tables found, or -errno.
 */
int tp_slab_reclaim(struct tp_slab *s, int services_fd, bool grace)
{
	__u32 i;
	int err;

	if (!s)
		return -EINVAL;
	err = tp_slab_sync(s);
	if (!err && grace)
		err = tp_slab_grace(s);
	if (err)
		return err;
	for (i = 0; i < s->core.n_chunks; i++)
		tp_slab_bits_init(s->core.bits[i]);
	s->core.n_pending = 0;
	return tp_slab_mark_named(s, services_fd);
}

/**
 * tp_slab_unpin_stale() - remove the chunk pins beside @pin_path, of a
 * slab that was just replaced (the programs that use it hold it).
 */
void tp_slab_unpin_stale(const char *pin_path)
{
	char path[PATH_MAX + 16];
	__u32 i;

	for (i = 0; i < TP_MAGLEV_CHUNKS_MAX; i++) {
		snprintf(path, sizeof(path), "%s_%u", pin_path, i);
		if (unlink(path))
			break;
	}
}

/**
 * tp_slab_usage() - the slab's chunks and their fill.
 * @s: the slab.
 * @u: filled in.
 *
 * Return: 0 or -errno.
 */
int tp_slab_usage(struct tp_slab *s, struct tp_slab_usage *u)
{
	__u32 i, b;
	int err;

	memset(u, 0, sizeof(*u));
	if (!s)
		return -EINVAL;
	err = tp_slab_sync(s);
	if (err)
		return err;
	u->chunks = s->core.n_chunks;
	u->max_chunks = s->max;
	for (i = 0; i < s->core.n_chunks; i++)
		for (b = TP_MAGLEV_META_BLOCKS; b < TP_MAGLEV_CHUNK_BLOCKS;
		     b++) {
			if (tp_bit(s->core.bits[i], b))
				u->used_blocks++;
			else
				u->free_blocks++;
		}
	return 0;
}
