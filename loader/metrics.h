/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Prometheus metrics as a node_exporter textfile, written atomically. */
#ifndef TAILPLANED_METRICS_H
#define TAILPLANED_METRICS_H

#include <time.h>

#include "gc.h"
#include "kube.h"
#include "kube_sync.h"
#include "maps.h"
#include "source.h"

/**
 * struct tpd_source_state - health of one sync source.
 * @syncs:     syncs attempted.
 * @errors:    syncs that failed.
 * @last_ok:   wall-clock time of the last successful sync, 0 if none.
 * @entries:   identity entries it owns after the last sync.
 */
struct tpd_source_state {
	unsigned long syncs;
	unsigned long errors;
	time_t last_ok;
	unsigned long entries;
};

/**
 * struct tpd_kube_metrics - the Kubernetes source's numbers for the textfile.
 * @sync:   the translation's totals.
 * @client: the API client's counters.
 */
struct tpd_kube_metrics {
	struct tpd_kube_sync_stats sync;
	struct tpd_kube_stats client;
};

void tpd_metrics_set_kube(const struct tpd_kube_metrics *k);
int tpd_metrics_write(const char *path, const struct tp_maps *m,
		      const struct tpd_gc_result *gc,
		      const struct tpd_source_state *src);

#endif /* TAILPLANED_METRICS_H */
