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

/**
 * struct tp_maps - file descriptors of the pinned maps.
 * @ifaces, @services, @backends, @maglev, @affinity, @ct, @ct_any, @frags, @stats,
 * @identity, @policy, @rules, @zones, @config, @events, @rule_stats,
 * @svc_stats, @id_names:
 *               one per map of the same name (tp_<field>); -1 when not open.
 * @maglev_size: entries in one Maglev table (the datapath's knob).
 */
struct tp_maps {
	int ifaces;
	int services;
	int backends;
	int maglev;
	int affinity;
	int ct;
	int ct_any;
	int frags;
	int stats;
	int identity;
	int policy;
	int rules;
	int zones;
	int config;
	int events;
	int rule_stats;
	int svc_stats;
	int id_names;
	__u32 maglev_size;
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

extern const struct tp_pin_map tp_pin_maps[];
extern const size_t tp_pin_maps_n;

int tp_pins_map_fd(const struct tp_maps *m, size_t i);

struct bpf_object;

void tp_maps_init(struct tp_maps *m);
int tp_maps_from_object(struct tp_maps *m, const struct bpf_object *obj,
			__u32 maglev_size);
int tp_maps_open_pinned(struct tp_maps *m, const char *pin_root,
			__u32 maglev_size);
void tp_maps_close(struct tp_maps *m);

/* The conntrack table of @proto: tp_ct for TCP, tp_ct_any for the rest. */
static inline int tp_ct_fd(const struct tp_maps *m, __u8 proto)
{
	return proto == 6 /* IPPROTO_TCP */ ? m->ct : m->ct_any;
}
int tp_map_collect(int fd, size_t key_size, size_t val_off, size_t val_size,
		   size_t row_size, void **rows, size_t *n);

/* tp_map_collect() into an array of struct @type { key @kf; value @vf; } */
#define TP_MAP_COLLECT(fd, type, kf, vf, rows, n)                              \
	tp_map_collect(fd, sizeof(((type *)0)->kf), offsetof(type, vf),        \
		       sizeof(((type *)0)->vf), sizeof(type), (void **)(rows), n)

#endif /* TAILPLANE_LIB_MAPS_H */
