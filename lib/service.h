/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Services in the maps: the one place that writes tp_services,
 * tp_backends, tp_maglev_slab's tables and tp_svc_backends, in the order
 * that keeps every packet's view consistent (see service.c).
 */
#ifndef TAILPLANE_LIB_SERVICE_H
#define TAILPLANE_LIB_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "maps.h"

/*
 * The maps the service writers (tp_service_set(), tp_service_stage*(),
 * tp_svc_batch_flush(), tp_service_del*()) read and write, for a process
 * that opens only those (tp_pins_open_some()).  tp_static_nat_uses() and
 * tp_be_frontend_add() take a map that is not open for "none there", so
 * a map missing here would pass silently: keep it whole.
 */
#define TP_SERVICE_MAPS                                       \
	(TP_MAP_BIT(services) | TP_MAP_BIT(backends) |        \
	 TP_MAP_BIT(maglev_slab) | TP_MAP_BIT(svc_backends) | \
	 TP_MAP_BIT(be_frontends) | TP_MAP_BIT(svc_stats) |   \
	 TP_MAP_BIT(static_nat) | TP_MAP_BIT(static_nat_rev))

/**
 * struct tp_backend_spec - a backend as a service's desired state names it.
 * @addr:   address.
 * @port:   target port, network order (0 for ICMP echo services).
 * @weight: Maglev weight, 1..65535.
 * @state:  enum tp_backend_state.
 */
struct tp_backend_spec {
	struct tp_addr addr;
	__be16 port;
	__u16 weight;
	__u8 state;
};

/**
 * struct tp_svc_spec - a service's attributes.
 * @flags:            TP_SVC_F_*.
 * @zone:             zone it is exposed to, 0 for all.
 * @affinity_timeout: seconds, with TP_SVC_F_AFFINITY.
 * @owner:            enum tp_owner.
 */
struct tp_svc_spec {
	__u16 flags;
	__u16 zone;
	__u32 affinity_timeout;
	__u8 owner;
};

struct tp_svc_batch;

int tp_service_check(const struct tp_svc_key *key,
		     const struct tp_backend_spec *be, size_t n, char *why,
		     size_t len);
int tp_service_set(const struct tp_maps *m, const struct tp_svc_key *key,
		   const struct tp_svc_spec *spec,
		   const struct tp_backend_spec *be, size_t n);
int tp_service_del_staged(const struct tp_maps *m, struct tp_svc_batch *b,
			  const struct tp_svc_key *key);
int tp_service_del(const struct tp_maps *m, const struct tp_svc_key *key);
int tp_service_backends(const struct tp_maps *m, __u32 svc_id, __u32 *ids,
			struct tp_backend *bes, size_t cap);
int tp_service_stage(const struct tp_maps *m, struct tp_svc_batch *b,
		     const struct tp_svc_key *key,
		     const struct tp_svc_spec *spec,
		     const struct tp_backend_spec *be, size_t n,
		     unsigned long tag);

/**
 * struct tp_svc_current - a service's backends as tp_service_backends()
 * returned them (at most TP_MAX_SVC_BACKENDS).
 * @svc_id: the service.
 * @ids:    backend ids.
 * @bes:    the backends.
 * @n:      how many.
 */
struct tp_svc_current {
	__u32 svc_id;
	const __u32 *ids;
	const struct tp_backend *bes;
	size_t n;
};

int tp_service_stage_known(const struct tp_maps *m, struct tp_svc_batch *b,
			   const struct tp_svc_key *key,
			   const struct tp_svc_spec *spec,
			   const struct tp_backend_spec *be, size_t n,
			   unsigned long tag, const struct tp_svc_current *cur);
/**
 * struct tp_svc_new - a service for tp_svc_fresh_add().
 * @key:  its frontend.
 * @spec: attributes.
 * @be:   its backends.
 * @n:    their number.
 */
struct tp_svc_new {
	struct tp_svc_key key;
	struct tp_svc_spec spec;
	const struct tp_backend_spec *be;
	size_t n;
};

struct tp_svc_fresh;
struct tp_svc_fresh *tp_svc_fresh_new(const struct tp_maps *m,
				      struct tp_svc_batch *b, size_t backends);
size_t tp_svc_fresh_add(struct tp_svc_fresh *f, const struct tp_svc_new *svcs,
			size_t n);
void tp_svc_fresh_free(struct tp_svc_fresh *f);
struct tp_svc_snapshot;
int tp_svc_snapshot_read(const struct tp_maps *m, struct tp_svc_snapshot **out);
void tp_svc_snapshot_free(struct tp_svc_snapshot *s);
bool tp_svc_snapshot_find(const struct tp_svc_snapshot *s,
			  const struct tp_svc_key *key, struct tp_svc *svc);
int tp_svc_snapshot_backends(const struct tp_svc_snapshot *s, __u32 svc_id,
			     __u32 *ids, struct tp_backend *bes, size_t cap);
struct tp_svc_batch *tp_svc_batch_new(void);
void tp_svc_batch_free(struct tp_svc_batch *b);
void tp_svc_batch_old_slab(struct tp_svc_batch *b);
bool tp_svc_batch_pending(const struct tp_svc_batch *b);
unsigned long tp_svc_batch_built(const struct tp_svc_batch *b);
int tp_svc_batch_add(struct tp_svc_batch *b, __u32 svc_id,
		     const struct tp_svc_key *key);
int tp_svc_batch_flush(const struct tp_maps *m, struct tp_svc_batch *b,
		       struct tp_svc_key *failed_key,
		       unsigned long *failed_tag);
int tp_service_rebuild(const struct tp_maps *m, const struct tp_svc_key *key);
int tp_service_index_rebuild(const struct tp_maps *m);
struct tp_be_key tp_be_key_of(const struct tp_backend *be, __u8 proto);
bool tp_be_frontend_add(const struct tp_maps *m, const struct tp_be_key *bk,
			const struct tp_svc_key *fe);
int tp_service_frontends_index(const struct tp_maps *m);
int tp_svc_index_write(const struct tp_maps *m, __u32 svc_id, const __u32 *ids,
		       size_t n, int n_old);
__u32 tp_service_maglev_cap(const struct tp_maps *m);
int tp_service_maglev_cap_set(const struct tp_maps *m, __u32 size);

#endif /* TAILPLANE_LIB_SERVICE_H */
