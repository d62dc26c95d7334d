/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Kubernetes objects of the store, translated into map entries with
 * owner TP_OWNER_KUBERNETES: services and backends, pod identities, the
 * NetworkPolicy rules and static NAT entries of pod tailnet addresses
 * (docs/kubernetes.md has the rules).  Runs on the main thread with the
 * writers' lock held; a reconcile diffs what changed against what it
 * wrote, and never touches another owner's entries.
 */
#ifndef TAILPLANED_KUBE_SYNC_H
#define TAILPLANED_KUBE_SYNC_H

#include <stdbool.h>

#include "kube.h"
#include "kube_store.h"
#include "maps.h"
#include "sync.h"

/*
 * Identities the source allocates to pod label sets and NetworkPolicy
 * CIDRs: [TPD_KUBE_ID_MIN, TPD_KUBE_ID_MAX).  Static and tpctl identities
 * should stay below (docs/kubernetes.md).
 */
#define TPD_KUBE_ID_MIN 0x01000000u
#define TPD_KUBE_ID_MAX 0x02000000u

struct tpd_kube_sync;

/**
 * struct tpd_kube_sync_result - what one reconcile did.
 * @ran:          the store had its first full picture: the maps were
 *                reconciled (else nothing was done).
 * @full:         a full reconcile (the first, or after a reset).
 * @svc_added, @svc_changed, @svc_removed: service frontends.
 * @svc_over_cap: Services refused every frontend for wanting more than
 *                "max_frontends_per_service" (tried again when they change).
 * @be_purged:    backends that went whose flows are purged (UDP now, TCP
 *                after the grace).
 * @ip_added, @ip_removed: pod address identity entries.
 * @id_added, @id_freed:   identities allocated and freed.
 * @rules_added, @rules_removed: policy rules (and CIDR identity entries).
 * @nat_added, @nat_removed: static NAT entries.
 * @conflicts:    wanted entries another owner holds (left to it).
 * @errors:       entries not written; @error says the first.
 * @usec:         how long it took.
 */
struct tpd_kube_sync_result {
	bool ran, full;
	unsigned int svc_added, svc_changed, svc_removed, svc_over_cap,
		be_purged;
	unsigned int ip_added, ip_removed, id_added, id_freed;
	unsigned int rules_added, rules_removed, nat_added, nat_removed;
	unsigned int conflicts, errors;
	char error[320];
	unsigned long usec;
};

/**
 * struct tpd_kube_sync_stats - totals, for metrics.
 * @reconciles:    reconciles that ran.
 * @frontends:     service frontends the source holds now.
 * @backends:      their backends.
 * @identities:    identities it allocated that are in use.
 * @pod_addrs:     pod address entries it holds.
 * @written:       entries written (added or changed), all kinds.
 * @removed:       entries removed, all kinds.
 * @conflicts:     conflicts seen.
 * @errors:        errors seen.
 * @svc_over_cap:  Services refused for too many frontends, seen.
 * @last_usec:     duration of the last reconcile.
 * @synced:        the first full picture has been applied.
 */
struct tpd_kube_sync_stats {
	unsigned long reconciles;
	unsigned long frontends, backends, identities, pod_addrs;
	unsigned long written, removed, conflicts, errors;
	unsigned long svc_over_cap;
	unsigned long last_usec;
	bool synced;
};

struct tpd_kube_sync *tpd_kube_sync_new(const struct tpd_kube_cfg *cfg,
					struct tpd_kube_store *store,
					struct tpd_purge *udp,
					struct tpd_purge *tcp);
void tpd_kube_sync_free(struct tpd_kube_sync *s);
int tpd_kube_sync_run(struct tpd_kube_sync *s, const struct tp_maps *m,
		      __u64 now_s, struct tpd_kube_sync_result *res);
bool tpd_kube_sync_behind(const struct tpd_kube_sync *s);
void tpd_kube_sync_stats(const struct tpd_kube_sync *s,
			 struct tpd_kube_sync_stats *st);
int tpd_kube_remove_all(const struct tp_maps *m, struct tpd_purge *udp,
			struct tpd_purge *tcp, __u64 now_s, __u32 tcp_grace,
			struct tpd_sync_result *res);
int tpd_kube_pod_identity_name(const struct tpd_kube_object *pod, char *buf,
			       size_t len);
bool tpd_kube_label_filtered(const char *key);

#endif /* TAILPLANED_KUBE_SYNC_H */
