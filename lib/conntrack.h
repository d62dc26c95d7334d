/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack entries from userspace: which reply keys belong to a flow, and
 * deleting a flow without touching a reply key another flow has taken.
 * The same rules as bpf/lib/ct.h.
 */
#ifndef TAILPLANE_LIB_CONNTRACK_H
#define TAILPLANE_LIB_CONNTRACK_H

#include <stdbool.h>

#include "maps.h"

bool tp_ct_is_reply_key(const struct tp_ct_entry *flow, const struct tp_ct_key *k);
bool tp_ct_entry_live(const struct tp_maps *m, const struct tp_ct_key *k,
		      const struct tp_ct_entry *e, __u64 now_ns);
int tp_ct_flow_delete(const struct tp_maps *m, const struct tp_ct_key *k,
		      const struct tp_ct_entry *e);
int tp_ct_take_dead(const struct tp_maps *m, const struct tp_ct_key *k, __u64 now_ns);

#endif /* TAILPLANE_LIB_CONNTRACK_H */
