/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Interface entries (abi.h, tp_ifaces and its direct-mapped cache
 * tp_iface_slots): the one writer of both, for the loader and the tests.
 * A bucket's zero-change-fill is not atomic against another writer of
 * the same bucket: today the loader is the only writer (its instance lock
 * allows one), attaching and forgetting interfaces without the writers'
 * lock; a second writer (a tpctl command, say) must take the writers'
 * lock (tp_pins_lock()) and the loader's calls with it.
 */
#ifndef TAILPLANE_LIB_IFACE_H
#define TAILPLANE_LIB_IFACE_H

#include "maps.h"

int tp_iface_set(const struct tp_maps *m, __u32 ifindex,
		 const struct tp_iface *v);
int tp_iface_del(const struct tp_maps *m, __u32 ifindex);
int tp_iface_slots_rebuild(const struct tp_maps *m);

#endif /* TAILPLANE_LIB_IFACE_H */
