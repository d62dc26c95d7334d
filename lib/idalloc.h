/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Id allocation over a map that is its own record of which ids are in
 * use (rule ids, service ids, backend ids): no state of its own, so
 * every tpctl process and the loader share it through the maps.
 */
#ifndef TAILPLANE_LIB_IDALLOC_H
#define TAILPLANE_LIB_IDALLOC_H

#include <linux/types.h>

/*
 * Is @id in use?  1: in use, 0: free, -errno: the lookup failed (the
 * allocation fails with it).
 */
typedef int (*tp_id_used_fn)(void *ctx, __u32 id);

int tp_id_alloc(__u32 lo, __u32 hi, tp_id_used_fn used, void *ctx, __u32 *id);
void tp_id_alloc_seed(__u64 seed);

#endif /* TAILPLANE_LIB_IDALLOC_H */
