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
	tp_limit_maps = *m;
	tp_limit_maps_set = true;
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
	char path[PATH_MAX];
	size_t i;
	int fd;

	tp_maps_init(m);
	for (i = 0; i < tp_pin_maps_n; i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_root,
			 tp_pin_maps[i].name);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			fd = -errno;
			tp_maps_close(m);
			return fd;
		}
		*tp_map_fd(m, i) = fd;
	}
	snprintf(path, sizeof(path), "%s/%s", pin_root, TP_MAP_MAGLEV_SLAB);
	m->slab = tp_slab_open(m->maglev_slab, path);
	if (!m->slab) {
		tp_maps_close(m);
		return -ENOMEM;
	}
	m->maglev_size = maglev_size;
	tp_limit_maps = *m;
	tp_limit_maps_set = true;
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

/**
 * tp_stats_walk() - every entry of a per-CPU array of struct tp_stat that
 * counted something, summed over the CPUs.
 * @fd:  the map (tp_rule_stats, tp_svc_stats, tp_stats).
 * @fn:  called with each index and its sum; a nonzero return stops.
 * @ctx: passed to @fn.
 *
 * 1024 entries a system call (tp_rule_stats holds a counter per rule id,
 * 131,073 by default: one lookup each took a tenth of a second).
 *
 * Return: 0, what @fn returned, or -errno.
 */
int tp_stats_walk(int fd,
		  int (*fn)(void *ctx, __u32 id, const struct tp_stat *sum),
		  void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int ncpu = libbpf_num_possible_cpus(), ret = 0, c;
	const __u32 chunk = 1024;
	__u32 *keys = NULL, in = 0, out = 0, count, i;
	struct tp_stat *vals = NULL, sum;
	bool first = true, last = false;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	keys = calloc(chunk, sizeof(*keys));
	vals = calloc((size_t)chunk * ncpu, sizeof(*vals));
	if (!keys || !vals) {
		ret = -ENOMEM;
		goto out;
	}
	while (!last && !ret) {
		count = chunk;
		if (bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys,
					 vals, &count, &opts)) {
			if (errno != ENOENT) {
				ret = -errno;
				break;
			}
			last = true;
		}
		first = false;
		in = out;
		for (i = 0; i < count && !ret; i++) {
			memset(&sum, 0, sizeof(sum));
			for (c = 0; c < ncpu; c++) {
				sum.packets +=
					vals[(size_t)i * ncpu + c].packets;
				sum.bytes += vals[(size_t)i * ncpu + c].bytes;
			}
			if (sum.packets || sum.bytes)
				ret = fn(ctx, keys[i], &sum);
		}
	}
out:
	free(keys);
	free(vals);
	return ret;
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
 * Room in the array *@arr of @n items of @size for one more: doubled from
 * @first items when full.  On -ENOMEM the array is freed and NULL.
 */
static int tp_array_room(char **arr, size_t *cap, size_t n, size_t size,
			 size_t first)
{
	if (!tp_array_grow((void **)arr, cap, n + 1, size, first))
		return 0;
	free(*arr);
	*arr = NULL;
	return -ENOMEM;
}

/*
 * The number after "@field:" in /proc/self/fdinfo/@fd (a map's memlock,
 * a link's link_id), or -1 when the file or the field is missing.
 */
long long tp_fdinfo_field(int fd, const char *field)
{
	char path[64], line[256];
	size_t len = strlen(field);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':')
			v = strtoll(line + len + 1, NULL, 10);
	fclose(f);
	return v;
}

/**
 * tp_map_keys() - every key of a map, in one array.
 * @fd:       the map.
 * @key_size: its key size.
 * @keys:     the keys, @key_size bytes apart (free() them), or NULL.
 * @n:        how many.
 *
 * For deleting them all: deleting while walking restarts the walk at
 * every delete.
 *
 * Return: 0 or -ENOMEM.
 */
int tp_map_keys(int fd, size_t key_size, void **keys, size_t *n)
{
	char *k = NULL;
	size_t cap = 0;
	void *prev = NULL;

	*keys = NULL;
	*n = 0;
	for (;;) {
		if (tp_array_room(&k, &cap, *n, key_size, 1024))
			return -ENOMEM;
		if (bpf_map_get_next_key(fd, prev, k + *n * key_size))
			break;
		prev = k + *n * key_size;
		(*n)++;
	}
	*keys = k;
	return 0;
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

/**
 * tp_map_collect() - read every entry of a map into an array of rows.
 * @fd:       the map.
 * @key_size: its key size; the key goes at the start of each row.
 * @val_off:  where in a row the value goes.
 * @val_size: its value size.
 * @row_size: size of one row.
 * @rows:     the rows (zeroed past key and value; free() them), or NULL.
 * @n:        how many.
 *
 * Entries deleted while the map is read are skipped.
 *
 * Return: 0 or -ENOMEM.
 */
int tp_map_collect(int fd, size_t key_size, size_t val_off, size_t val_size,
		   size_t row_size, void **rows, size_t *n)
{
	char key[64], next[64];
	char *r = NULL, *row;
	size_t cap = 0;
	void *prev = NULL;

	*rows = NULL;
	*n = 0;
	if (key_size > sizeof(key))
		return -EINVAL;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		if (tp_array_room(&r, &cap, *n, row_size, 256))
			return -ENOMEM;
		row = r + *n * row_size;
		memset(row, 0, row_size);
		if (bpf_map_lookup_elem(fd, key, row + val_off))
			continue;
		memcpy(row, key, key_size);
		(*n)++;
	}
	*rows = r;
	return 0;
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
 * What each limit is: a map's capacity (its max_entries, + @adj for id
 * ranges of arrays indexed from 1) and the "capacity" key of the
 * tailplaned configuration that raises it; @dflt when no maps are open.
 */
static const struct {
	const char *what; /* what ran out */
	const char *unit;
	size_t fd_off; /* the map, in struct tp_maps; 0: a fixed limit */
	int adj;
	unsigned long dflt;
	const char
		*key; /* capacity.KEY, or the ABI constant of a fixed limit */
} tp_limits[TP_LIMIT_MAX] = {
	[TP_LIMIT_IDENTITY] = { TP_MAP_IDENTITY " is full", "prefixes",
				TP_LIMIT_FD(identity), 0, TP_IDENTITY_SIZE,
				"identities" },
	[TP_LIMIT_ID_NAMES] = { TP_MAP_ID_NAMES " is full", "names",
				TP_LIMIT_FD(id_names), 0, TP_IDENTITY_SIZE,
				"identities" },
	[TP_LIMIT_POLICY] = { TP_MAP_POLICY " is full",
			      "entries (a port range takes one per aligned block)",
			      TP_LIMIT_FD(policy), 0, TP_POLICY_SIZE,
			      "policy_entries" },
	[TP_LIMIT_RULES] = { "every rule id is in use", "rules",
			     TP_LIMIT_FD(rule_stats), -1, TP_MAX_RULES - 1,
			     "rules" },
	[TP_LIMIT_SERVICES] = { "every service id is in use", "services",
				TP_LIMIT_FD(svc_stats), -1, TP_MAX_SERVICES - 1,
				"services" },
	[TP_LIMIT_BACKENDS] = { "every backend id is in use", "backends",
				TP_LIMIT_FD(backends), 0, TP_MAX_BACKENDS,
				"backends" },
	[TP_LIMIT_SVC_BACKENDS] = { "too many backends for one service",
				    "backends at most", 0, 0,
				    TP_MAX_SVC_BACKENDS,
				    "TP_MAX_SVC_BACKENDS" },
	[TP_LIMIT_MAGLEV] = { TP_MAP_MAGLEV_SLAB " is full",
			      "chunks of 1 MiB of Maglev tables",
			      TP_LIMIT_FD(maglev_slab), 0, 0, "services" },
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
		if (tp_map_max_entries(fd))
			size = tp_map_max_entries(fd) + tp_limits[which].adj;
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
