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

/* A frontend of a backend tuple in tp_be_frontends. */
struct tpd_befe_pair {
	struct tp_be_key be;
	struct tp_svc_key fe;
};

/**
 * struct tpd_index_gc - what the GC of tp_be_frontends keeps between runs.
 * @pairs: the frontends the last run found neither configured nor used
 *         by a live flow, sorted.
 * @n:     their number.
 */
struct tpd_index_gc {
	struct tpd_befe_pair *pairs;
	size_t n;
};

int tpd_gc_index(const struct tp_maps *m, struct tpd_index_gc *g, __u64 now_ns,
		 unsigned long *removed);
void tpd_index_gc_free(struct tpd_index_gc *g);
__u64 tpd_monotonic_ns(void);

#endif /* TAILPLANED_GC_H */
