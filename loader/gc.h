/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Conntrack and fragment-record garbage collection. */
#ifndef TAILPLANED_GC_H
#define TAILPLANED_GC_H

#include "maps.h"

/**
 * struct tpd_gc_result - one GC pass.
 * @ct_entries: conntrack entries seen in tp_ct and tp_ct_any (their fill).
 * @ct_any_entries: those of them in tp_ct_any.
 * @ct_flows:   live flows among them.
 * @ct_deleted: entries deleted (expired flows, their reply keys, orphans).
 * @frags_deleted: fragment records deleted.
 */
struct tpd_gc_result {
	unsigned long ct_entries;
	unsigned long ct_any_entries;
	unsigned long ct_flows;
	unsigned long ct_deleted;
	unsigned long frags_deleted;
};

int tpd_gc(const struct tp_maps *m, __u64 now_ns, __u32 frag_timeout,
	   struct tpd_gc_result *res);
__u64 tpd_monotonic_ns(void);

#endif /* TAILPLANED_GC_H */
