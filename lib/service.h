/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Services in the maps: the one place that writes tp_services,
 * tp_backends and tp_maglev, in the order that keeps every packet's view
 * consistent (see service.c).
 */
#ifndef TAILPLANE_LIB_SERVICE_H
#define TAILPLANE_LIB_SERVICE_H

#include <stddef.h>

#include "maps.h"

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

int tp_service_check(const struct tp_svc_key *key, const struct tp_backend_spec *be,
		     size_t n, char *why, size_t len);
int tp_service_set(const struct tp_maps *m, const struct tp_svc_key *key,
		   const struct tp_svc_spec *spec,
		   const struct tp_backend_spec *be, size_t n);
int tp_service_del(const struct tp_maps *m, const struct tp_svc_key *key);
int tp_service_backends(const struct tp_maps *m, __u32 svc_id, __u32 *ids,
			struct tp_backend *bes, size_t cap);

#endif /* TAILPLANE_LIB_SERVICE_H */
