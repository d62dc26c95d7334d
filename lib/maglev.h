/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Weighted Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and
 * Reliable Software Network Load Balancer", NSDI 2016).
 *
 * Userspace builds a service's table here, into its extent of
 * tp_maglev_slab; the datapath only reads table[tp_flow_hash(tuple) % m].  The table
 * depends on the backends' addresses, ports and weights alone, so every
 * node, and every restart of the loader, builds the same table from the
 * same backend set.
 */
#ifndef TAILPLANE_LIB_MAGLEV_H
#define TAILPLANE_LIB_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>

#include "tailplane/abi.h"

/*
 * Seeds of the two hashes that give a backend its permutation.  They are
 * part of the table's definition: changing one moves nearly every entry
 * of every service on the next rebuild.
 */
#define TP_MAGLEV_SEED_OFFSET 0x6d61676cu
#define TP_MAGLEV_SEED_SKIP   0x736b6970u

/**
 * struct tp_maglev_backend - one backend as input to tp_maglev_build().
 * @id:     backend id, != 0; the value written into the table.
 * @addr:   backend address (ABI representation, IPv4-mapped for IPv4).
 * @port:   backend port, network order.
 * @weight: relative share of the table, >= 1; 0 keeps the backend out of
 *          the table (it is still validated).
 */
struct tp_maglev_backend {
	__u32 id;
	struct tp_addr addr;
	__be16 port;
	__u16 weight;
};

bool tp_maglev_size_valid(__u32 m);
__u32 tp_maglev_table_size(__u32 n_active, __u32 cap);
int tp_maglev_build(const struct tp_maglev_backend *be, size_t n, __u32 m,
		    __u32 *table);

#endif /* TAILPLANE_LIB_MAGLEV_H */
