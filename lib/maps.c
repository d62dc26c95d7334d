// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Open the datapath's maps by name from an object or from their pins. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "maps.h"

struct tp_map_slot {
	const char *name;
	size_t off;
};

#define SLOT(field, name) { name, __builtin_offsetof(struct tp_maps, field) }

static const struct tp_map_slot tp_map_slots[] = {
	SLOT(ifaces, TP_MAP_IFACES),	 SLOT(services, TP_MAP_SERVICES),
	SLOT(backends, TP_MAP_BACKENDS), SLOT(maglev, TP_MAP_MAGLEV),
	SLOT(affinity, TP_MAP_AFFINITY), SLOT(ct, TP_MAP_CT),
	SLOT(frags, TP_MAP_FRAGS),	 SLOT(stats, TP_MAP_STATS),
	SLOT(identity, TP_MAP_IDENTITY), SLOT(policy, TP_MAP_POLICY),
	SLOT(rules, TP_MAP_RULES),	 SLOT(zones, TP_MAP_ZONES),
	SLOT(config, TP_MAP_CONFIG),	 SLOT(events, TP_MAP_EVENTS),
	SLOT(rule_stats, TP_MAP_RULE_STATS), SLOT(svc_stats, TP_MAP_SVC_STATS),
	SLOT(id_names, TP_MAP_ID_NAMES),
};

#define N_SLOTS (sizeof(tp_map_slots) / sizeof(tp_map_slots[0]))

static int *tp_map_fd(struct tp_maps *m, size_t i)
{
	return (int *)((char *)m + tp_map_slots[i].off);
}

/** tp_maps_init() - mark every map as not open. */
void tp_maps_init(struct tp_maps *m)
{
	size_t i;

	for (i = 0; i < N_SLOTS; i++)
		*tp_map_fd(m, i) = -1;
	m->maglev_size = TP_MAGLEV_SIZE;
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
	for (i = 0; i < N_SLOTS; i++) {
		map = bpf_object__find_map_by_name(obj, tp_map_slots[i].name);
		if (!map)
			return -ENOENT;
		*tp_map_fd(m, i) = bpf_map__fd(map);
	}
	m->maglev_size = maglev_size;
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
	for (i = 0; i < N_SLOTS; i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_root,
			 tp_map_slots[i].name);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			fd = -errno;
			tp_maps_close(m);
			return fd;
		}
		*tp_map_fd(m, i) = fd;
	}
	m->maglev_size = maglev_size;
	return 0;
}

/** tp_maps_close() - close every open map fd. */
void tp_maps_close(struct tp_maps *m)
{
	size_t i;

	for (i = 0; i < N_SLOTS; i++) {
		if (*tp_map_fd(m, i) >= 0)
			close(*tp_map_fd(m, i));
		*tp_map_fd(m, i) = -1;
	}
}
