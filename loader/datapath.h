/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Loading the datapath object against the pins, and attaching its
 * programs to interfaces, so that a restart or an upgrade never leaves an
 * interface without a program and never empties a map.
 */
#ifndef TAILPLANED_DATAPATH_H
#define TAILPLANED_DATAPATH_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "maps.h"

struct tailplane;

/* The TC programs a restart can take from their pins (tpd_datapath_open_pinned()). */
enum tpd_prog {
	TPD_PROG_FROM_TAILNET,
	TPD_PROG_TO_TAILNET,
	TPD_PROG_FROM_UPLINK,
	TPD_PROG_MAX,
};

/**
 * struct tpd_datapath - the loaded object.
 * @skel:  skeleton (programs and maps); NULL when the programs and maps
 *         were taken from their pins (tpd_datapath_open_pinned()).
 * @maps:  map fds (owned by @skel, or by this struct without one).
 * @prog_fd: the programs' fds (-1: not in the object) when they were
 *         opened from their pins or loaded apart (@progs_apart).
 * @from_pins: @prog_fd and @maps were opened from the pins, not loaded.
 * @progs_apart: tpd_datapath_load() loaded the programs, some from an
 *         object other than @skel (tpd_lane_progs): every program's fd,
 *         owned by this struct, is in @prog_fd, not @skel's.
 * @tcx:   the kernel attaches TC programs with tcx links.
 * @uplink_prog: the object has tp_from_uplink (TP_PROG_FROM_UPLINK), which
 *         goes on the TC ingress of every uplink.
 * @maglev_resized: tp_maglev_slab is new (an older layout, or another
 *         services capacity), or the configured table size changed: every
 *         service's table was rebuilt from its backends
 *         (tpd_rebuild_services()).
 */
struct tpd_datapath {
	struct tailplane *skel;
	struct tp_maps maps;
	int prog_fd[TPD_PROG_MAX];
	bool from_pins;
	bool progs_apart;
	bool tcx;
	bool uplink_prog;
	bool maglev_resized;
};

/**
 * struct tpd_load_child - tpd_datapath_load() running in a child process
 * (tpd_load_child_start()).
 * @pid:      the child.
 * @ready_fd: where it says its maps are made (tpd_load_child_maps_ready());
 *            -1 once read.
 * @old_chld: the caller's SIGCHLD disposition, put back when it is done.
 */
struct tpd_load_child {
	pid_t pid;
	int ready_fd;
	struct sigaction old_chld;
};

int tpd_bpffs_prepare(const char *pin_root);
int tpd_datapath_load(struct tpd_datapath *dp, const struct tpd_config *cfg);
bool tpd_guard_needed(const struct tpd_config *cfg);
void tpd_set_capacities(struct tailplane *skel, const struct tpd_config *cfg);
int tpd_datapath_open_pinned(struct tpd_datapath *dp,
			     const struct tpd_config *cfg);
int tpd_datapath_load_child(const struct tpd_config *cfg, long *peak_rss_kib);
int tpd_load_child_start(struct tpd_load_child *lc,
			 const struct tpd_config *cfg);
bool tpd_load_child_maps_ready(struct tpd_load_child *lc);
int tpd_load_child_finish(struct tpd_load_child *lc, long *peak_rss_kib);
/* What a cold start does with the new maps while the programs load. */
typedef void (*tpd_early_fn)(const struct tpd_datapath *maps,
			     const struct tpd_load_child *lc, void *ctx);
int tpd_datapath_start_child(struct tpd_datapath *dp,
			     const struct tpd_config *cfg, long *peak_rss_kib,
			     tpd_early_fn early, void *ctx, bool *applied);
void tpd_datapath_close(struct tpd_datapath *dp);
int tpd_iface_attach(struct tpd_datapath *dp, const struct tpd_config *cfg,
		     const struct tpd_iface_cfg *ifc, int ifindex);
int tpd_iface_detach(const char *pin_root, const char *ifname, int ifindex);
int tpd_detach_all(const struct tpd_config *cfg, bool purge);
void tpd_rebuild_services(const struct tp_maps *m, bool slab_new);

#endif /* TAILPLANED_DATAPATH_H */
