/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Static 1:1 NAT entries (abi.h, tp_static_nat and tp_static_nat_rev):
 * the one writer of both maps, for tpctl and the loader.  Callers hold
 * the writers' lock (tp_pins_lock()), as for every other writer.
 */
#ifndef TAILPLANE_LIB_STATIC_NAT_H
#define TAILPLANE_LIB_STATIC_NAT_H

#include <stdbool.h>
#include <stddef.h>

#include "maps.h"

/**
 * struct tp_static_nat_entry - one static 1:1 NAT entry as written.
 * @tailnet: the address the tailnet sees.
 * @inner:   the address it stands for (a pod's).
 * @zone:    the tailnet zone, 0 for all.
 * @owner:   enum tp_owner.
 */
struct tp_static_nat_entry {
	struct tp_addr tailnet;
	struct tp_addr inner;
	__u16 zone;
	__u8 owner;
};

int tp_static_nat_add(const struct tp_maps *m,
		      const struct tp_static_nat_entry *e, char *why,
		      size_t len);
int tp_static_nat_del(const struct tp_maps *m, __u16 zone, bool any_zone,
		      const struct tp_addr *tailnet,
		      struct tp_static_nat_entry *old);
int tp_static_nat_list(const struct tp_maps *m,
		       struct tp_static_nat_entry **out, size_t *n);
void tp_static_nat_recount(const struct tp_maps *m, size_t n);
bool tp_static_nat_uses(const struct tp_maps *m, __u16 zone,
			const struct tp_addr *addr);

#endif /* TAILPLANE_LIB_STATIC_NAT_H */
