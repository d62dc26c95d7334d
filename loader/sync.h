/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Syncing sources into the maps.  Every source owns what it writes
 * (enum tp_owner) and a sync is a diff against what that owner has in the
 * maps: entries are added, changed or removed only when they differ, and
 * entries of other owners (tpctl, other sources) are never touched.
 */
#ifndef TAILPLANED_SYNC_H
#define TAILPLANED_SYNC_H

#include <stdbool.h>
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

int tpd_rules_prune(const struct tp_maps *m, __u8 owner,
		    struct tp_rule *matches, size_t n, unsigned int *removed,
		    void (*failed)(void *ctx, int err), void *ctx);
int tpd_rule_put(const struct tp_maps *m, const struct tp_rule *r,
		 unsigned int *conflicts);
void tpd_note_error(unsigned int *errors, char *error, size_t size,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

int tpd_sync_identities(const struct tp_maps *m, __u8 owner,
			const struct tp_ident_entry *want, size_t n,
			struct tpd_sync_result *res);
/**
 * struct tpd_purge_target - a backend that went: its id and what it was.
 */
struct tpd_purge_target {
	__u32 backend_id;
	struct tp_addr addr;
	__be16 port;
	__u16 pad;
};

/**
 * struct tpd_purge_later - a target whose flows are purged only from @due
 * on (TCP flows get a grace period to finish).
 */
struct tpd_purge_later {
	struct tpd_purge_target t;
	__u64 due;
};

/**
 * struct tpd_purge_index - a hash index over an array of targets (or of
 * struct tpd_purge_later, whose target comes first), by address and port:
 * open addressing, linear probing.  Zero-initialised is empty.
 * @slot: array index + 1 per slot; 0 empty, SIZE_MAX a deleted entry.
 * @mask: slots - 1 (slots a power of two); 0 with no slots.
 * @used: slots not empty (entries and deleted ones).
 */
struct tpd_purge_index {
	size_t *slot;
	size_t mask;
	size_t used;
};

/**
 * struct tpd_purge - flows of backends that went, deleted a bounded step
 * at a time (tpd_purge_step()).  Zero-initialised is empty and purges
 * UDP flows.
 * @proto:      the flows it deletes: 0 or IPPROTO_UDP (tp_ct_any), or
 *              IPPROTO_TCP (tp_ct).
 * @later:      targets waiting for their due time (tpd_purge_release()).
 * @n_later:    their number.
 * @later_room: entries @later has room for.
 * @cur:        the targets the pass under way looks for.
 * @n_cur:      their number.
 * @next:       targets added since that pass began: each needs a pass
 *              that starts after it was added.
 * @n_next:     their number.
 * @next_room:  entries @next has room for.
 * @later_ix:   @later by address and port (tpd_purge_cancel() calls off
 *              every backend id there).
 * @cur_ix:     @cur by target.
 * @next_ix:    @next by target.
 * @in_pass:    a pass is under way.
 * @have_token: @token holds where it is.
 * @token:      the batch position (bpf_map_lookup_batch()).
 * @deleted:    flows deleted.
 * @passes:     passes completed.
 */
struct tpd_purge {
	__u8 proto;
	struct tpd_purge_later *later;
	size_t n_later;
	size_t later_room;
	struct tpd_purge_target *cur;
	size_t n_cur;
	struct tpd_purge_target *next;
	size_t n_next;
	size_t next_room;
	struct tpd_purge_index later_ix;
	struct tpd_purge_index cur_ix;
	struct tpd_purge_index next_ix;
	bool in_pass;
	bool have_token;
	__u32 token;
	struct tp_config cfg; /* tp_config as the pass began: SNAT reply keys */
	bool have_cfg;
	unsigned long deleted;
	unsigned long passes;
};

int tpd_sync_peer_source(const struct tp_maps *m, __u8 owner,
			 const struct tp_ident_entry *want, size_t n,
			 const __u16 *keep_zones, size_t n_keep,
			 struct tpd_sync_result *res);
int tpd_sync_static(const struct tp_maps *m, const struct tpd_config *cfg,
		    const struct tp_addr *host, size_t n_host,
		    struct tpd_purge *purge, struct tpd_sync_result *res);
int tpd_sync_static_fresh(const struct tp_maps *m, const struct tpd_config *cfg,
			  const struct tp_addr *host, size_t n_host,
			  struct tpd_purge *purge, bool fresh,
			  struct tpd_sync_result *res);
int tpd_sync_host(const struct tp_maps *m, const struct tpd_config *cfg,
		  const struct tp_addr *host, size_t n_host,
		  struct tpd_sync_result *res);
int tpd_peer_rules(const struct tp_maps *m, const struct tpd_config *cfg,
		   enum tpd_source source, struct tp_peer_rule **rules,
		   size_t *n);
int tpd_resolve_identity(const struct tp_maps *m, const struct tpd_config *cfg,
			 const char *s, __u32 *id);
int tpd_purge_add(struct tpd_purge *p, __u32 id, const struct tp_backend *be);
bool tpd_purge_pending(const struct tpd_purge *p);
int tpd_purge_add_later(struct tpd_purge *p, __u32 id,
			const struct tp_backend *be, __u64 due);
bool tpd_purge_cancel(struct tpd_purge *p, const struct tp_addr *addr,
		      __be16 port);
size_t tpd_purge_release(struct tpd_purge *p, __u64 now);
int tpd_purge_step(const struct tp_maps *m, struct tpd_purge *p, size_t budget);
void tpd_purge_free(struct tpd_purge *p);
int tpd_purge_udp_backend(const struct tp_maps *m, __u32 id,
			  const struct tp_backend *be);

#endif /* TAILPLANED_SYNC_H */
