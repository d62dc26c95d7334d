/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The datapath's maps as userspace sees them: one struct of file
 * descriptors, filled from a loaded skeleton or from the pins.
 */
#ifndef TAILPLANE_LIB_MAPS_H
#define TAILPLANE_LIB_MAPS_H

#include <stddef.h>

#include <linux/types.h>

#include "tailplane/abi.h"

struct tp_slab;

/* struct tp_maps's member of a map of TP_MAPS (abi.h). */
#define TP_MAPS_FD(field, holds) int field;

/**
 * struct tp_maps - file descriptors of the pinned maps.
 * @<map>:       one per map of TP_MAPS (abi.h), named as its field there
 *               (the fd of tp_<field>); -1 when not open.
 * @maglev_size: the largest Maglev table (the loader's maglev_size); see
 *               tp_service_maglev_cap() for the one writers use.
 * @slab:        the chunks of tp_maglev_slab this process has open
 *               (lib/slab.h); NULL when the maps are not open.
 */
struct tp_maps {
	TP_MAPS(TP_MAPS_FD)
	__u32 maglev_size;
	struct tp_slab *slab;
};

/**
 * struct tp_pin_map - one map of the ABI as pinned.
 * @name:   its pin (and map) name, TP_MAP_*.
 * @fd_off: offset of its fd in struct tp_maps.
 */
struct tp_pin_map {
	const char *name;
	size_t fd_off;
};

/*
 * Each map's index in TP_MAPS order (tp_pin_maps[]), and its bit in a set
 * of maps: a process that needs a few maps opens only those
 * (tp_maps_open_more(), tp_pins_open_some()).
 */
#define TP_MAPS_INDEX(field, holds) TP_MAP_INDEX_##field,
enum tp_map_index { TP_MAPS(TP_MAPS_INDEX) TP_MAP_INDEX_N };
#define TP_MAP_BIT(field) (1ull << TP_MAP_INDEX_##field)
#define TP_MAPS_ALL	  ((1ull << TP_MAP_INDEX_N) - 1)
_Static_assert(TP_MAP_INDEX_N < 64, "a set of maps is a __u64");

extern const struct tp_pin_map tp_pin_maps[];
extern const size_t tp_pin_maps_n;

int tp_pins_map_fd(const struct tp_maps *m, size_t i);

struct bpf_object;

void tp_maps_init(struct tp_maps *m);
int tp_maps_from_object(struct tp_maps *m, const struct bpf_object *obj,
			__u32 maglev_size);
int tp_maps_open_pinned(struct tp_maps *m, const char *pin_root,
			__u32 maglev_size);
int tp_maps_open_more(struct tp_maps *m, const char *pin_root, __u64 want);
void tp_maps_close(struct tp_maps *m);
__u32 tp_map_max_entries(int fd);
__u32 tp_stat_ids_end(int fd);
int tp_stat_sum(int fd, __u32 id, struct tp_stat *sum);
int tp_stats_walk(int fd,
		  int (*fn)(void *ctx, __u32 id, const struct tp_stat *sum),
		  void *ctx);
int tp_stats_zero(int fd);

/**
 * struct tp_stat_row - an id's counter, summed over the CPUs.
 * @id: the rule id or service id.
 * @st: the sum.
 */
struct tp_stat_row {
	__u32 id;
	struct tp_stat st;
};

int tp_stats_collect(int fd, struct tp_stat_row **rows, size_t *n);
const struct tp_stat *tp_stats_find(const struct tp_stat_row *rows, size_t n,
				    __u32 id);

/* The conntrack table of @proto: tp_ct for TCP, tp_ct_any for the rest. */
static inline int tp_ct_fd(const struct tp_maps *m, __u8 proto)
{
	return proto == 6 /* IPPROTO_TCP */ ? m->ct : m->ct_any;
}
int tp_map_has(int fd, const void *key, void *val);

/**
 * struct tp_map_chunk - entries of a map as tp_map_walk() hands them on.
 * @keys:     @n keys, @key_size bytes apart.
 * @vals:     their values, @val_size bytes apart.
 * @n:        how many, 1 or more.
 * @key_size: the map's key size.
 * @val_size: the map's value size; a per-CPU map's is every possible
 *            CPU's value, each rounded up to 8 bytes (as the syscalls
 *            hand them).
 */
struct tp_map_chunk {
	const void *keys;
	const void *vals;
	size_t n;
	size_t key_size;
	size_t val_size;
};

/*
 * Counter @slot of entry @i's copy on CPU @cpu in a chunk of a per-CPU
 * counter array (each CPU's copy @cpu_size bytes: tp_stats' layouts).
 */
static inline const struct tp_stat *tp_chunk_stat(const struct tp_map_chunk *c,
						  size_t i, size_t cpu,
						  size_t cpu_size, __u32 slot)
{
	return (const struct tp_stat *)((const char *)c->vals +
					i * c->val_size + cpu * cpu_size) +
	       slot;
}

/* A chunk's receiver: 0 to go on, anything else stops the walk. */
typedef int tp_map_chunk_fn(void *ctx, const struct tp_map_chunk *c);

/* Entries tp_map_walk() reads a system call (a chunk) by default. */
#define TP_MAP_WALK_CHUNK 1024

int tp_map_walk(int fd, size_t chunk, tp_map_chunk_fn *fn, void *ctx);
int tp_map_collect(int fd, size_t key_size, size_t val_off, size_t val_size,
		   size_t row_size, void **rows, size_t *n);
int tp_map_collect_sorted(int fd, size_t key_size, size_t val_off,
			  size_t val_size, size_t row_size, void **rows,
			  size_t *n, int (*cmp)(const void *, const void *));
int tp_map_keys(int fd, size_t key_size, void **keys, size_t *n);
long long tp_proc_field(const char *path, const char *field);
long long tp_fdinfo_field(int fd, const char *field);

/**
 * enum tp_limit - a capacity of the maps a write can run into.
 * @TP_LIMIT_NONE:         none.
 * @TP_LIMIT_IDENTITY:     tp_identity prefixes (TP_IDENTITY_SIZE).
 * @TP_LIMIT_ID_NAMES:     tp_id_names names (TP_IDENTITY_SIZE).
 * @TP_LIMIT_POLICY:       tp_policy entries (TP_POLICY_SIZE).
 * @TP_LIMIT_RULES:        rule ids (TP_MAX_RULES).
 * @TP_LIMIT_SERVICES:     service ids (TP_MAX_SERVICES).
 * @TP_LIMIT_BACKENDS:     backend ids (TP_MAX_BACKENDS).
 * @TP_LIMIT_SVC_BACKENDS: backends of one service (TP_MAX_SVC_BACKENDS).
 * @TP_LIMIT_MAGLEV:       room for tables in tp_maglev_slab (sized from
 *                         the services capacity).
 */
enum tp_limit {
	TP_LIMIT_NONE,
	TP_LIMIT_IDENTITY,
	TP_LIMIT_ID_NAMES,
	TP_LIMIT_POLICY,
	TP_LIMIT_RULES,
	TP_LIMIT_SERVICES,
	TP_LIMIT_BACKENDS,
	TP_LIMIT_SVC_BACKENDS,
	TP_LIMIT_MAGLEV,
	TP_LIMIT_MAX,
};

void tp_limit_reset(void);
int tp_limit_hit(enum tp_limit which);
int tp_limit_errno(int err, enum tp_limit which);
enum tp_limit tp_limit_last(void);
const char *tp_limit_describe(enum tp_limit which, char *buf, size_t len);
const char *tp_strerror(int err, char *buf, size_t len);

/* tp_map_collect() into an array of struct @type { key @kf; value @vf; } */
#define TP_MAP_COLLECT(fd, type, kf, vf, rows, n)                              \
	tp_map_collect(fd, sizeof(((type *)0)->kf), offsetof(type, vf),        \
		       sizeof(((type *)0)->vf), sizeof(type), (void **)(rows), \
		       n)

/* TP_MAP_COLLECT(), then the rows sorted by @cmp (a qsort() comparison). */
#define TP_MAP_COLLECT_SORTED(fd, type, kf, vf, rows, n, cmp)                  \
	tp_map_collect_sorted(fd, sizeof(((type *)0)->kf), offsetof(type, vf), \
			      sizeof(((type *)0)->vf), sizeof(type),           \
			      (void **)(rows), n, cmp)

#endif /* TAILPLANE_LIB_MAPS_H */
