/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Syncing sources into the maps.  Every source owns what it writes
 * (enum tp_owner) and a sync is a diff against what that owner has in the
 * maps: entries are added, changed or removed only when they differ, and
 * entries of other owners (tpctl, other sources) are never touched.
 */
#ifndef TAILPLANED_SYNC_H
#define TAILPLANED_SYNC_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "maps.h"
#include "peers.h"

/**
 * struct tpd_sync_result - what one sync did.
 * @added, @changed, @removed: entries written or deleted.
 * @conflicts: wanted entries another owner already holds (left alone).
 * @errors:    entries that could not be written.
 * @error:     the first of those errors as text, naming the limit and
 *             what raises it when a map was full; "" when none.
 */
struct tpd_sync_result {
	unsigned int added;
	unsigned int changed;
	unsigned int removed;
	unsigned int conflicts;
	unsigned int errors;
	char error[320];
};

int tpd_sync_identities(const struct tp_maps *m, __u8 owner,
			const struct tp_ident_entry *want, size_t n,
			struct tpd_sync_result *res);
int tpd_sync_static(const struct tp_maps *m, const struct tpd_config *cfg,
		    const struct tp_addr *host, size_t n_host,
		    struct tpd_sync_result *res);
int tpd_sync_host(const struct tp_maps *m, const struct tpd_config *cfg,
		  const struct tp_addr *host, size_t n_host,
		  struct tpd_sync_result *res);
int tpd_resolve_identity(const struct tp_maps *m, const struct tpd_config *cfg,
			 const char *s, __u32 *id);
void tpd_purge_udp_backend(const struct tp_maps *m, __u32 backend_id);

#endif /* TAILPLANED_SYNC_H */
