/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Prometheus metrics as a node_exporter textfile, written atomically. */
#ifndef TAILPLANED_METRICS_H
#define TAILPLANED_METRICS_H

#include <time.h>

#include "gc.h"
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

int tpd_metrics_write(const char *path, const struct tp_maps *m,
		      const struct tpd_gc_result *gc,
		      const struct tpd_source_state *src);

#endif /* TAILPLANED_METRICS_H */
