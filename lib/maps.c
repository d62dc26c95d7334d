// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Open the datapath's maps by name from an object or from their pins. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "array.h"
#include "maps.h"
#include "slab.h"

/*
 * The maps the limits are read from (tp_limit_describe()): a copy of the
 * last set this thread opened; tpctl and the loader each use one set for
 * their whole run.  A copy, not a pointer: the set may live on a stack.
 */
static __thread struct tp_maps tp_limit_maps;
static __thread bool tp_limit_maps_set;

#define TP_PIN_MAP(field, holds) \
	{ TP_MAP_NAME(field), offsetof(struct tp_maps, field) },

/* Every pinned map of the ABI, in TP_MAPS order (abi.h). */
const struct tp_pin_map tp_pin_maps[] = { TP_MAPS(TP_PIN_MAP) };

const size_t tp_pin_maps_n = sizeof(tp_pin_maps) / sizeof(tp_pin_maps[0]);

/** tp_pins_map_fd() - the fd of tp_pin_maps[@i] in @m (-1: not open). */
int tp_pins_map_fd(const struct tp_maps *m, size_t i)
{
	return *(const int *)((const char *)m + tp_pin_maps[i].fd_off);
}

static int *tp_map_fd(struct tp_maps *m, size_t i)
{
	return (int *)((char *)m + tp_pin_maps[i].fd_off);
}

/** tp_maps_init() - mark every map as not open. */
void tp_maps_init(struct tp_maps *m)
{
	size_t i;

	for (i = 0; i < tp_pin_maps_n; i++)
		*tp_map_fd(m, i) = -1;
	m->maglev_size = TP_MAGLEV_SIZE;
	m->slab = NULL;
}

/*
 * @m's maps are the set tp_limit_describe() reads capacities from (the
 * last set this thread opened or added to).
 */
static void tp_limit_maps_note(const struct tp_maps *m)
{
	tp_limit_maps = *m;
	tp_limit_maps_set = true;
}

/**
 * tp_maps_from_object() - take the map fds of a loaded object.
 * @m:           filled in; the fds stay owned by the object.
 * @obj:         a loaded tailplane object.
 * @maglev_size: the object's maglev_size knob.
 *
 * Return: 0, or -ENOENT when a map is missing.
 */
int tp_maps_from_object(struct tp_maps *m, const struct bpf_object *obj,
			__u32 maglev_size)
{
	struct bpf_map *map;
	size_t i;

	tp_maps_init(m);
	for (i = 0; i < tp_pin_maps_n; i++) {
		map = bpf_object__find_map_by_name(obj, tp_pin_maps[i].name);
		if (!map)
			return -ENOENT;
		*tp_map_fd(m, i) = bpf_map__fd(map);
	}
	map = bpf_object__find_map_by_name(obj, TP_MAP_MAGLEV_SLAB);
	m->slab = tp_slab_open(m->maglev_slab, bpf_map__is_pinned(map)
						       ? bpf_map__pin_path(map)
						       : NULL);
	if (!m->slab)
		return -ENOMEM;
	m->maglev_size = maglev_size;
	tp_limit_maps_note(m);
	return 0;
}

/* Close the maps of @opened (tp_pin_maps[] bits) again. */
static void tp_maps_close_some(struct tp_maps *m, __u64 opened)
{
	size_t i;

	for (i = 0; i < tp_pin_maps_n; i++) {
		if (!(opened & 1ull << i))
			continue;
		close(*tp_map_fd(m, i));
		*tp_map_fd(m, i) = -1;
	}
}

/**
 * tp_maps_open_more() - open the maps of @want pinned under @pin_root
 * that @m does not have open yet.
 * @m:        from tp_maps_init(), or a set this function opened before.
 * @pin_root: e.g. TP_PIN_ROOT_DEFAULT.
 * @want:     TP_MAP_BIT()s of the maps needed; TP_MAPS_ALL for every one.
 *
 * Each pin opened costs a path lookup and a file in the kernel: a short
 * process (a tpctl writer) opens the few maps its command uses, not the
 * thirty there are.  With tp_maglev_slab comes @m->slab (also when the
 * caller opened the map itself).  @m->maglev_size
 * stays as it was: the caller sets it.
 *
 * Return: 0 or -errno of the first map that could not be opened; the
 * maps this call opened are closed again then, those open before stay.
 */
int tp_maps_open_more(struct tp_maps *m, const char *pin_root, __u64 want)
{
	char path[PATH_MAX];
	__u64 opened = 0;
	size_t i;
	int fd;

	for (i = 0; i < tp_pin_maps_n; i++) {
		if (!(want & 1ull << i) || *tp_map_fd(m, i) >= 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_root,
			 tp_pin_maps[i].name);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			fd = -errno;
			tp_maps_close_some(m, opened);
			return fd;
		}
		*tp_map_fd(m, i) = fd;
		opened |= 1ull << i;
	}
	if (m->maglev_slab >= 0 && !m->slab) {
		snprintf(path, sizeof(path), "%s/%s", pin_root,
			 TP_MAP_MAGLEV_SLAB);
		m->slab = tp_slab_open(m->maglev_slab, path);
		if (!m->slab) {
			tp_maps_close_some(m, opened);
			return -ENOMEM;
		}
	}
	tp_limit_maps_note(m);
	return 0;
}

/**
 * tp_maps_open_pinned() - open the maps pinned under @pin_root.
 * @m:           filled in; close with tp_maps_close().
 * @pin_root:    e.g. TP_PIN_ROOT_DEFAULT.
 * @maglev_size: table size the loaded programs use.
 *
 * Return: 0 or -errno of the first map that could not be opened (nothing
 * stays open then).
 */
int tp_maps_open_pinned(struct tp_maps *m, const char *pin_root,
			__u32 maglev_size)
{
	int err;

	tp_maps_init(m);
	err = tp_maps_open_more(m, pin_root, TP_MAPS_ALL);
	if (err)
		return err;
	m->maglev_size = maglev_size;
	tp_limit_maps_note(m);
	return 0;
}

/**
 * tp_map_max_entries() - a map's capacity as created.
 * @fd: the map.
 *
 * Userspace takes capacities from the maps, never from the ABI's default
 * sizes: the loader sizes the maps from its configuration.
 *
 * Return: max_entries, or 0 when @fd is not a map.
 */
__u32 tp_map_max_entries(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.max_entries;
}

/*
 * The counters an element of the per-CPU tp_stat array @info holds: 1
 * (tp_stats, or tp_rule_stats and tp_svc_stats pinned before they were
 * grouped) or TP_STAT_GROUP; 0 when it is no such array.
 */
static __u32 tp_stat_per_elem(const struct bpf_map_info *info)
{
	if (info->type != BPF_MAP_TYPE_PERCPU_ARRAY || !info->value_size ||
	    info->value_size % sizeof(struct tp_stat))
		return 0;
	return info->value_size / sizeof(struct tp_stat);
}

static int tp_stat_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (fd < 0)
		return -EBADF;
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		return -errno;
	return tp_stat_per_elem(info) ? 0 : -EINVAL;
}

/**
 * tp_stat_ids_end() - the ids a per-CPU counter array holds, 0..end-1.
 * @fd: tp_rule_stats or tp_svc_stats (or tp_stats).
 *
 * Rule and service ids index these maps, so this bounds them:
 * max_entries * TP_STAT_GROUP (abi.h); a map of the layout before the
 * grouping, one counter an element, holds max_entries.  The one place
 * userspace derives the bound.
 *
 * Return: the end, or 0 when @fd is not such a map.
 */
__u32 tp_stat_ids_end(int fd)
{
	struct bpf_map_info info;
	__u64 end;

	if (tp_stat_info(fd, &info))
		return 0;
	end = (__u64)info.max_entries * tp_stat_per_elem(&info);
	return end > UINT32_MAX ? UINT32_MAX : (__u32)end;
}

/**
 * tp_stat_sum() - one id's counter of a per-CPU counter array, summed
 * over every possible CPU.
 * @fd:  tp_stats, tp_rule_stats or tp_svc_stats (either layout).
 * @id:  the counter's index, rule id or service id.
 * @sum: the sum (zero when the lookup fails).
 *
 * One lookup reads every CPU's copy of the whole element: a caller that
 * reads many ids walks the map instead (tp_stats_walk(),
 * tp_stats_collect()).
 *
 * Return: 0 or -errno.
 */
int tp_stat_sum(int fd, __u32 id, struct tp_stat *sum)
{
	int ncpu = libbpf_num_possible_cpus(), cpu, err;
	struct bpf_map_info info;
	const struct tp_stat *st;
	size_t cpu_size;
	__u32 per, key;
	char *v;

	memset(sum, 0, sizeof(*sum));
	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	err = tp_stat_info(fd, &info);
	if (err)
		return err;
	per = tp_stat_per_elem(&info);
	cpu_size = ((size_t)info.value_size + 7) & ~(size_t)7;
	v = calloc(ncpu, cpu_size);
	if (!v)
		return -ENOMEM;
	key = id / per;
	if (bpf_map_lookup_elem(fd, &key, v)) {
		err = -errno;
		goto out;
	}
	for (cpu = 0; cpu < ncpu; cpu++) {
		st = (const void *)(v + cpu * cpu_size +
				    (id % per) * sizeof(*st));
		sum->packets += st->packets;
		sum->bytes += st->bytes;
	}
out:
	free(v);
	return err;
}

/* tp_stats_walk()'s callback and its context. */
struct tp_stats_walk_ctx {
	int (*fn)(void *ctx, __u32 id, const struct tp_stat *sum);
	void *ctx;
	size_t ncpu;
	__u32 per;
};

/* Each id of @c summed over the CPUs; those that counted to ->fn. */
static int tp_stats_chunk(void *ctx, const struct tp_map_chunk *c)
{
	const struct tp_stats_walk_ctx *s = ctx;
	size_t cpu_size = c->val_size / s->ncpu, i, cpu;
	const struct tp_stat *v;
	struct tp_stat sum;
	__u32 key, slot;
	int ret;

	for (i = 0; i < c->n; i++) {
		memcpy(&key, (const char *)c->keys + i * c->key_size,
		       sizeof(key));
		for (slot = 0; slot < s->per; slot++) {
			memset(&sum, 0, sizeof(sum));
			for (cpu = 0; cpu < s->ncpu; cpu++) {
				v = tp_chunk_stat(c, i, cpu, cpu_size, slot);
				sum.packets += v->packets;
				sum.bytes += v->bytes;
			}
			if (!sum.packets && !sum.bytes)
				continue;
			ret = s->fn(s->ctx, key * s->per + slot, &sum);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/**
 * tp_stats_walk() - every id of a per-CPU counter array that counted
 * something, summed over the CPUs, in ascending order.
 * @fd:  the map (tp_rule_stats, tp_svc_stats, tp_stats; either layout).
 * @fn:  called with each id and its sum; a nonzero return stops.
 * @ctx: passed to @fn.
 *
 * Read a chunk at a time (tp_map_walk()): tp_rule_stats holds a counter
 * per rule id, 131,073 by default, and one lookup each took a tenth of a
 * second.  A chunk holds TP_MAP_WALK_CHUNK ids whatever the layout, so
 * its buffer stays as small.
 *
 * Return: 0, what @fn returned, or -errno.
 */
int tp_stats_walk(int fd,
		  int (*fn)(void *ctx, __u32 id, const struct tp_stat *sum),
		  void *ctx)
{
	struct tp_stats_walk_ctx s = { .fn = fn, .ctx = ctx };
	int ncpu = libbpf_num_possible_cpus(), err;
	struct bpf_map_info info;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	err = tp_stat_info(fd, &info);
	if (err)
		return err;
	s.ncpu = (size_t)ncpu;
	s.per = tp_stat_per_elem(&info);
	return tp_map_walk(
		fd, s.per < TP_MAP_WALK_CHUNK ? TP_MAP_WALK_CHUNK / s.per : 1,
		tp_stats_chunk, &s);
}

/* tp_stats_collect()'s rows. */
struct tp_stats_rows {
	struct tp_stat_row *rows;
	size_t n, cap;
};

static int tp_stats_collect_one(void *ctx, __u32 id, const struct tp_stat *st)
{
	struct tp_stats_rows *r = ctx;

	if (tp_array_grow((void **)&r->rows, &r->cap, r->n + 1,
			  sizeof(*r->rows), 64))
		return -ENOMEM;
	r->rows[r->n++] = (struct tp_stat_row){ .id = id, .st = *st };
	return 0;
}

/**
 * tp_stats_collect() - every id of a per-CPU counter array that counted
 * something, with its sum, by ascending id (tp_stats_walk()).
 * @fd:   the map.
 * @rows: set to the rows (free() them); NULL when there are none.
 * @n:    set to their count.
 *
 * For callers that look up many ids (tp_stats_find()): one walk reads
 * each element once, where a lookup per id reads a whole element of
 * every CPU each time.
 *
 * Return: 0 or -errno.
 */
int tp_stats_collect(int fd, struct tp_stat_row **rows, size_t *n)
{
	struct tp_stats_rows r = {};
	int err = tp_stats_walk(fd, tp_stats_collect_one, &r);

	if (err) {
		free(r.rows);
		r.rows = NULL;
		r.n = 0;
	}
	*rows = r.rows;
	*n = r.n;
	return err;
}

/**
 * tp_stats_find() - the sum of @id among rows of tp_stats_collect().
 * @rows: the rows, by ascending id.
 * @n:    their count.
 * @id:   the id.
 *
 * Return: its sum, or NULL when it counted nothing.
 */
const struct tp_stat *tp_stats_find(const struct tp_stat_row *rows, size_t n,
				    __u32 id)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (rows[mid].id == id)
			return &rows[mid].st;
		if (rows[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/**
 * tp_stats_zero() - zero every counter of a per-CPU counter array.
 * @fd: the map (either layout).
 *
 * Return: 0 or -errno.
 */
int tp_stats_zero(int fd)
{
	int ncpu = libbpf_num_possible_cpus(), err;
	struct bpf_map_info info;
	void *zero;
	__u32 i;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	err = tp_stat_info(fd, &info);
	if (err)
		return err;
	zero = calloc(ncpu, ((size_t)info.value_size + 7) & ~(size_t)7);
	if (!zero)
		return -ENOMEM;
	for (i = 0; i < info.max_entries && !err; i++)
		if (bpf_map_update_elem(fd, &i, zero, BPF_ANY))
			err = -errno;
	free(zero);
	return err;
}

/** tp_maps_close() - close every open map fd. */
void tp_maps_close(struct tp_maps *m)
{
	size_t i;

	if (tp_limit_maps_set && !memcmp(&tp_limit_maps, m, sizeof(*m)))
		tp_limit_maps_set = false;
	for (i = 0; i < tp_pin_maps_n; i++) {
		if (*tp_map_fd(m, i) >= 0)
			close(*tp_map_fd(m, i));
		*tp_map_fd(m, i) = -1;
	}
	tp_slab_close(m->slab);
	m->slab = NULL;
}

/*
 * The number after "@field:" in the file at @path, a /proc file of
 * "name: value" lines (/proc/self/status, an fdinfo), or -1 when the file
 * or the field is missing.
 */
long long tp_proc_field(const char *path, const char *field)
{
	size_t len = strlen(field);
	char line[256];
	long long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':')
			v = strtoll(line + len + 1, NULL, 10);
	fclose(f);
	return v;
}

/*
 * The number after "@field:" in /proc/self/fdinfo/@fd (a map's memlock,
 * a link's link_id), or -1 when the file or the field is missing.
 */
long long tp_fdinfo_field(int fd, const char *field)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return tp_proc_field(path, field);
}

/* ---- reading a whole map ------------------------------------------------- */

/* The kernel's ENOTSUPP (not in the uapi headers): no such map operation. */
#define TP_ENOTSUPP 524

/* Batch reads a walk asks again after an EINTR (entries deleted meanwhile). */
#define TP_WALK_RETRIES 16

/*
 * tp_map_walk()'s buffers: one chunk of keys and values, the batch
 * positions (a hash map's is a bucket number, an array's a key: room for
 * either), the last key of an entry-by-entry walk.
 */
struct tp_walk {
	int fd;
	tp_map_chunk_fn *fn;
	void *ctx;
	struct tp_map_chunk c;
	size_t room;	 /* entries the chunk buffers hold */
	size_t grow_max; /* no bucket holds more entries than this */
	size_t tok_size; /* bytes of each batch position */
	char *keys, *vals, *tok_in, *tok_out, *prev;
};

/* The value as the syscalls hand it: a per-CPU map's for every CPU. */
static int tp_walk_val_size(const struct bpf_map_info *info, size_t *size)
{
	int ncpu;

	*size = info->value_size;
	switch (info->type) {
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
		ncpu = libbpf_num_possible_cpus();
		if (ncpu <= 0)
			return ncpu ? ncpu : -EINVAL;
		*size = ((*size + 7) & ~(size_t)7) * (size_t)ncpu;
		break;
	default:
		break;
	}
	return 0;
}

/* Room in the chunk buffers for @room entries. */
static int tp_walk_room(struct tp_walk *w, size_t room)
{
	void *p;

	if (room <= w->room)
		return 0;
	p = realloc(w->keys, room * w->c.key_size);
	if (!p)
		return -ENOMEM;
	w->keys = p;
	p = realloc(w->vals, room * w->c.val_size);
	if (!p)
		return -ENOMEM;
	w->vals = p;
	w->room = room;
	return 0;
}

/* The first @n entries of the chunk buffers to the caller. */
static int tp_walk_hand(struct tp_walk *w, size_t n)
{
	if (!n)
		return 0;
	w->c.keys = w->keys;
	w->c.vals = w->vals;
	w->c.n = n;
	return w->fn(w->ctx, &w->c);
}

/* Whether a first batch read failing with @err says there are none here. */
static bool tp_walk_batch_refused(int err)
{
	return err == -EINVAL || err == -EOPNOTSUPP || err == -TP_ENOTSUPP;
}

/*
 * The walk by bpf_map_lookup_batch(): @chunk entries a call at most.
 * *@refused: the kernel or the map type has no batch reads (nothing was
 * handed on then).  Return: 0, the callback's nonzero return, or -errno.
 */
static int tp_walk_batch(struct tp_walk *w, size_t chunk, bool *refused)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	bool first = true, last = false;
	int err, retries = 0;
	__u32 count;

	while (!last) {
		count = (__u32)chunk;
		if (bpf_map_lookup_batch(w->fd, first ? NULL : w->tok_in,
					 w->tok_out, w->keys, w->vals, &count,
					 &opts)) {
			err = -errno;
			if (err == -ENOSPC && !count && chunk < w->grow_max) {
				/* a hash bucket holds more than a chunk */
				chunk *= 2;
				err = tp_walk_room(w, chunk);
				if (err)
					return err;
				continue; /* the same bucket again */
			}
			if (first && tp_walk_batch_refused(err)) {
				*refused = true;
				return 0;
			}
			if (err == -EINTR && retries++ < TP_WALK_RETRIES) {
				/*
				 * read key by key in the kernel (not a hash
				 * map), entries went while it read: @count
				 * read, the position after them, if any
				 */
				if (!count)
					continue;
			} else if (err != -ENOENT) {
				return err;
			} else {
				last = true; /* and @count entries, maybe none */
			}
		}
		first = false;
		memcpy(w->tok_in, w->tok_out, w->tok_size);
		err = tp_walk_hand(w, count);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The walk by key, for a kernel or map type without batch reads: a key
 * and a value read a system call each, handed on @chunk at a time.
 */
static int tp_walk_each(struct tp_walk *w, size_t chunk)
{
	size_t ks = w->c.key_size, vs = w->c.val_size, n = 0;
	bool have_prev = false;
	int err;

	while (!bpf_map_get_next_key(w->fd, have_prev ? w->prev : NULL,
				     w->keys + n * ks)) {
		memcpy(w->prev, w->keys + n * ks, ks);
		have_prev = true;
		if (bpf_map_lookup_elem(w->fd, w->prev, w->vals + n * vs)) {
			if (errno != ENOENT)
				return -errno;
			continue; /* deleted since its key was read */
		}
		if (++n < chunk)
			continue;
		err = tp_walk_hand(w, n);
		if (err)
			return err;
		n = 0;
	}
	if (errno != ENOENT)
		return -errno;
	return tp_walk_hand(w, n);
}

/**
 * tp_map_walk() - hand every entry of a map on, a chunk at a time.
 * @fd:    the map.
 * @chunk: entries a chunk holds (TP_MAP_WALK_CHUNK; 0 takes that); more
 *         only when one hash bucket holds more.
 * @fn:    called with each chunk (one entry or more), in the map's order;
 *         a nonzero return stops the walk.  The chunk's buffers are
 *         reused for the next one: copy what is kept.
 * @ctx:   passed to @fn.
 *
 * One bpf_map_lookup_batch() a chunk: a system call per @chunk entries,
 * and the memory of one chunk whatever the map holds.  A batch read of a
 * hash map may stop short of @chunk at a bucket's end, so chunks can be
 * partial; one that answers -ENOSPC (a bucket holds more entries than
 * @chunk) is asked again with twice the room.  Where the kernel (before
 * 5.6) or the map type has no batch reads (the first read answers EINVAL,
 * EOPNOTSUPP or the kernel's ENOTSUPP), the walk goes key by key
 * (bpf_map_get_next_key() and a lookup each), still handing on chunks of
 * @chunk entries.
 *
 * While writers change the map: by batch, the kernel reads a hash map a
 * bucket at a time, each bucket whole under its lock, so an entry present
 * for the whole walk is handed on exactly once, one added or deleted
 * during the walk may or may not be, and none twice (a key always lives
 * in the same bucket); an array is read by index, each index once.  Other
 * maps (an LPM trie) the kernel reads by key, and as for the walk key by
 * key here: an entry deleted between reading its key and its value is
 * skipped (a batch read that says EINTR for it is asked again), and when
 * the last key read is deleted before the next step the kernel starts
 * again from the map's first key, so entries can then be handed on twice
 * (as any get_next_key walk).
 *
 * Return: 0, what @fn returned, or -errno (-ENOMEM; the map's errors).
 */
int tp_map_walk(int fd, size_t chunk, tp_map_chunk_fn *fn, void *ctx)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct tp_walk w = { .fd = fd, .fn = fn, .ctx = ctx };
	bool refused = false;
	int err;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (!chunk)
		chunk = TP_MAP_WALK_CHUNK;
	w.c.key_size = info.key_size;
	err = tp_walk_val_size(&info, &w.c.val_size);
	if (err)
		return err;
	/* a bucket never holds more than the map (and a CPU's spares) */
	w.grow_max = (size_t)info.max_entries + 1024;
	w.tok_size =
		info.key_size > sizeof(__u64) ? info.key_size : sizeof(__u64);
	w.tok_in = calloc(3, w.tok_size);
	if (!w.tok_in)
		return -ENOMEM;
	w.tok_out = w.tok_in + w.tok_size;
	w.prev = w.tok_out + w.tok_size;
	err = tp_walk_room(&w, chunk);
	if (!err)
		err = tp_walk_batch(&w, chunk, &refused);
	if (!err && refused)
		err = tp_walk_each(&w, chunk);
	free(w.keys);
	free(w.vals);
	free(w.tok_in);
	return err;
}

/**
 * tp_map_has() - whether @key is in map @fd (its value read into @val).
 *
 * Return: 1, 0 when it is not, or -errno.
 */
int tp_map_has(int fd, const void *key, void *val)
{
	if (!bpf_map_lookup_elem(fd, key, val))
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* tp_map_collect()'s rows and their layout. */
struct tp_collect_walk {
	size_t key_size, val_off, val_size, row_size;
	char *rows;
	size_t n, cap;
};

/* A row for each entry of @c: key at the start, value at ->val_off. */
static int tp_collect_chunk(void *ctx, const struct tp_map_chunk *c)
{
	struct tp_collect_walk *w = ctx;
	char *row;
	size_t i;

	if (c->key_size != w->key_size ||
	    (w->val_size && c->val_size != w->val_size))
		return -EINVAL;
	if (tp_array_grow((void **)&w->rows, &w->cap, w->n + c->n, w->row_size,
			  256))
		return -ENOMEM;
	for (i = 0; i < c->n; i++) {
		row = w->rows + (w->n + i) * w->row_size;
		memset(row, 0, w->row_size);
		memcpy(row, (const char *)c->keys + i * c->key_size,
		       c->key_size);
		if (w->val_size)
			memcpy(row + w->val_off,
			       (const char *)c->vals + i * c->val_size,
			       c->val_size);
	}
	w->n += c->n;
	return 0;
}

/**
 * tp_map_collect() - read every entry of a map into an array of rows.
 * @fd:       the map.
 * @key_size: its key size; the key goes at the start of each row.
 * @val_off:  where in a row the value goes.
 * @val_size: its value size; 0: no value, the rows are keys.
 * @row_size: size of one row.
 * @rows:     the rows (zeroed past key and value; free() them), or NULL.
 * @n:        how many.
 *
 * Read by tp_map_walk(), whose note on writers changing the map holds for
 * the rows: by batch each entry once; key by key an entry deleted
 * meanwhile is skipped, and one can come twice.
 *
 * Return: 0, -EINVAL when @key_size or @val_size is not the map's,
 * -ENOMEM, or the map's -errno.
 */
int tp_map_collect(int fd, size_t key_size, size_t val_off, size_t val_size,
		   size_t row_size, void **rows, size_t *n)
{
	struct tp_collect_walk w = { .key_size = key_size,
				     .val_off = val_off,
				     .val_size = val_size,
				     .row_size = row_size };
	int err;

	*rows = NULL;
	*n = 0;
	err = tp_map_walk(fd, TP_MAP_WALK_CHUNK, tp_collect_chunk, &w);
	if (err) {
		free(w.rows);
		return err;
	}
	*rows = w.rows;
	*n = w.n;
	return 0;
}

/**
 * tp_map_keys() - every key of a map, in one array.
 * @fd:       the map.
 * @key_size: its key size.
 * @keys:     the keys, @key_size bytes apart (free() them), or NULL.
 * @n:        how many.
 *
 * For deleting them all: deleting while walking restarts the walk at
 * every delete.  tp_map_collect() of rows that are keys.
 *
 * Return: 0, -EINVAL when @key_size is not the map's, -ENOMEM, or the
 * map's -errno.
 */
int tp_map_keys(int fd, size_t key_size, void **keys, size_t *n)
{
	return tp_map_collect(fd, key_size, 0, 0, key_size, keys, n);
}

/** tp_map_collect_sorted() - tp_map_collect(), the rows sorted by @cmp. */
int tp_map_collect_sorted(int fd, size_t key_size, size_t val_off,
			  size_t val_size, size_t row_size, void **rows,
			  size_t *n, int (*cmp)(const void *, const void *))
{
	int err = tp_map_collect(fd, key_size, val_off, val_size, row_size,
				 rows, n);

	if (!err && *n)
		qsort(*rows, *n, row_size, cmp);
	return err;
}

/* ---- limits --------------------------------------------------------------- */

/*
 * Which limit the last failing write of this thread ran into.  A full map
 * is only -ENOSPC or -E2BIG to the caller; this says which map and what
 * raises it, so every writer can name both.
 */
static __thread enum tp_limit tp_limit_seen;

#define TP_LIMIT_FD(f) offsetof(struct tp_maps, f)

/*
 * What each limit is: a map's capacity (its max_entries; for rules and
 * services tp_id_limit()) and the "capacity" key of the tailplaned
 * configuration that raises it; @dflt when no maps are open.
 */
static const struct {
	const char *what; /* what ran out */
	const char *unit;
	size_t fd_off; /* the map, in struct tp_maps; 0: a fixed limit */
	unsigned long dflt;
	const char
		*key; /* capacity.KEY, or the ABI constant of a fixed limit */
} tp_limits[TP_LIMIT_MAX] = {
	[TP_LIMIT_IDENTITY] = { TP_MAP_IDENTITY " is full", "prefixes",
				TP_LIMIT_FD(identity), TP_IDENTITY_SIZE,
				"identities" },
	[TP_LIMIT_ID_NAMES] = { TP_MAP_ID_NAMES " is full", "names",
				TP_LIMIT_FD(id_names), TP_IDENTITY_SIZE,
				"identities" },
	[TP_LIMIT_POLICY] = { TP_MAP_POLICY " is full",
			      "entries (a port range takes one per aligned block)",
			      TP_LIMIT_FD(policy), TP_POLICY_SIZE,
			      "policy_entries" },
	[TP_LIMIT_RULES] = { "every rule id is in use", "rules",
			     TP_LIMIT_FD(rule_stats), TP_MAX_RULES - 1,
			     "rules" },
	[TP_LIMIT_SERVICES] = { "every service id is in use", "services",
				TP_LIMIT_FD(svc_stats), TP_MAX_SERVICES - 1,
				"services" },
	[TP_LIMIT_BACKENDS] = { "every backend id is in use", "backends",
				TP_LIMIT_FD(backends), TP_MAX_BACKENDS,
				"backends" },
	[TP_LIMIT_SVC_BACKENDS] = { "too many backends for one service",
				    "backends at most", 0, TP_MAX_SVC_BACKENDS,
				    "TP_MAX_SVC_BACKENDS" },
	[TP_LIMIT_MAGLEV] = { TP_MAP_MAGLEV_SLAB " is full",
			      "chunks of 1 MiB of Maglev tables",
			      TP_LIMIT_FD(maglev_slab), 0, "services" },
};

/**
 * tp_limit_reset() - forget the last limit; writers call it first, so an
 * -ENOSPC of theirs never names a limit an earlier write ran into.
 */
void tp_limit_reset(void)
{
	tp_limit_seen = TP_LIMIT_NONE;
}

/**
 * tp_limit_hit() - record that a write ran into @which.
 * @which: the limit.
 *
 * Return: -ENOSPC, for the writer to return.
 */
int tp_limit_hit(enum tp_limit which)
{
	tp_limit_seen = which;
	return -ENOSPC;
}

/**
 * tp_limit_errno() - turn a failed map update into the writer's error.
 * @err:   -errno of the update.
 * @which: the limit a full map means here.
 *
 * A hash map says full with -E2BIG, an LPM trie with -ENOSPC: both become
 * -ENOSPC with @which recorded.  Other errors are returned as they are.
 *
 * Return: @err, or -ENOSPC.
 */
int tp_limit_errno(int err, enum tp_limit which)
{
	if (err == -E2BIG || err == -ENOSPC)
		return tp_limit_hit(which);
	return err;
}

/** tp_limit_last() - the limit this thread's last full write ran into. */
enum tp_limit tp_limit_last(void)
{
	return tp_limit_seen;
}

/*
 * How many rules or services fit: the ids their counters @stats_fd hold
 * (from 1), or the entries of the hash @fd holding them when fewer.  Ids
 * go 64 to an element of the counters (TP_STAT_GROUP), so a capacity of N
 * gives ids to N + 1 rounded up, and the hash (N) is what fills first.
 * @dflt when neither is open.
 */
static unsigned long tp_id_limit(int stats_fd, int fd, unsigned long dflt)
{
	unsigned long ids = tp_stat_ids_end(stats_fd),
		      max = tp_map_max_entries(fd);

	if (ids)
		ids--;
	if (!ids || (max && max < ids))
		ids = max;
	return ids ? ids : dflt;
}

/**
 * tp_limit_describe() - say what ran out and what raises it.
 * @which: the limit.
 * @buf:   the text.
 * @len:   its room; 256 is always enough.
 *
 * The size is the capacity of the maps this thread opened last (the
 * loader sizes them from its configuration), and the text names the
 * configuration key that raises it; the per-service backend limit is
 * fixed by the ABI.
 *
 * Return: @buf.
 */
const char *tp_limit_describe(enum tp_limit which, char *buf, size_t len)
{
	unsigned long size;
	int fd;

	if (which <= TP_LIMIT_NONE || which >= TP_LIMIT_MAX) {
		snprintf(buf, len, "%s", strerror(ENOSPC));
		return buf;
	}
	size = tp_limits[which].dflt;
	if (!tp_limits[which].fd_off) {
		snprintf(buf, len,
			 "%s: %lu %s; fixed (%s in include/tailplane/abi.h)",
			 tp_limits[which].what, size, tp_limits[which].unit,
			 tp_limits[which].key);
		return buf;
	}
	if (tp_limit_maps_set) {
		fd = *(const int *)((const char *)&tp_limit_maps +
				    tp_limits[which].fd_off);
		if (which == TP_LIMIT_RULES || which == TP_LIMIT_SERVICES) {
			size = tp_id_limit(fd,
					   which == TP_LIMIT_RULES
						   ? tp_limit_maps.rules
						   : tp_limit_maps.services,
					   size);
		} else if (tp_map_max_entries(fd)) {
			size = tp_map_max_entries(fd);
		}
	}
	snprintf(
		buf, len,
		"%s: %lu %s; capacity.%s in the tailplaned configuration raises it",
		tp_limits[which].what, size, tp_limits[which].unit,
		tp_limits[which].key);
	return buf;
}

/**
 * tp_strerror() - an error of a map writer as text.
 * @err: its -errno.
 * @buf: the text.
 * @len: its room; 256 is always enough.
 *
 * -ENOSPC after a limit was recorded names the limit (tp_limit_describe());
 * anything else is strerror().
 *
 * Return: @buf.
 */
const char *tp_strerror(int err, char *buf, size_t len)
{
	if (err == -ENOSPC && tp_limit_seen != TP_LIMIT_NONE)
		return tp_limit_describe(tp_limit_seen, buf, len);
	snprintf(buf, len, "%s", strerror(err < 0 ? -err : err));
	return buf;
}
