/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The XDP guard's state as writers see it: its configuration (guarded
 * ports, rate, burst) and its drop list.  Shared by tpctl and the loader.
 */
#ifndef TAILPLANE_LIB_GUARD_H
#define TAILPLANE_LIB_GUARD_H

#include <stddef.h>

#include "maps.h"

/**
 * struct tp_guard_row - a drop-list prefix as listed.
 * @key: the prefix.
 * @val: its owner.
 */
struct tp_guard_row {
	struct tp_guard_key key;
	struct tp_guard_drop_val val;
};

int tp_guard_config_fill(struct tp_guard_config *c, __u32 rate, __u32 burst);
int tp_guard_config_get(const struct tp_maps *m, struct tp_guard_config *c);
int tp_guard_config_put(const struct tp_maps *m,
			const struct tp_guard_config *c);
int tp_guard_rate_set(const struct tp_maps *m, __u32 rate, __u32 burst);
int tp_guard_ports_set(struct tp_guard_config *c, const __u16 *ports, size_t n);
int tp_guard_drop_add(const struct tp_maps *m, const struct tp_addr *prefix,
		      unsigned int plen, __u8 owner);
int tp_guard_drop_del(const struct tp_maps *m, const struct tp_addr *prefix,
		      unsigned int plen, __u8 owner);
int tp_guard_drop_list(const struct tp_maps *m, struct tp_guard_row **rows,
		       size_t *n);

#endif /* TAILPLANE_LIB_GUARD_H */
