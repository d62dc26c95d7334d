/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Routes for egress services: a service whose backends all leave by one
 * tailnet interface gets a host route for its VIP into that interface
 * (VIP/32 or VIP/128 dev wg0, main table), so a pod's packet to the VIP
 * reaches tp_to_tailnet there.  The routes carry the loader's own
 * rtm_protocol, TPD_RTPROT_TAILPLANE: the loader adds, moves and removes
 * only routes of that protocol, never one the operator made.
 */
#ifndef TAILPLANED_EGRESS_ROUTE_H
#define TAILPLANED_EGRESS_ROUTE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "maps.h"

/*
 * The rtm_protocol of the loader's routes ("proto 116" in ip route; name
 * it with "116 tailplane" in /etc/iproute2/rt_protos.d/).  No value of
 * linux/rtnetlink.h or of iproute2's rt_protos, and none the common
 * routing daemons and CNIs use.  docs/tailplaned.8 documents it.
 */
#define TPD_RTPROT_TAILPLANE 116

/**
 * struct tpd_egress_want - one route an egress service needs.
 * @vip:     the service's VIP.
 * @ifindex: the tailnet interface its backends leave by.
 */
struct tpd_egress_want {
	struct tp_addr vip;
	int ifindex;
};

/**
 * struct tpd_egress_routed - a route of ours a sync left in place.
 * @vip:     its VIP.
 * @ifindex: its interface.
 * @name:    the interface's name then (a route that went with its
 *           interface is named by it: the kernel cannot say it any more).
 */
struct tpd_egress_routed {
	struct tp_addr vip;
	int ifindex;
	char name[IFNAMSIZ];
};

/**
 * struct tpd_egress_note - something a sync said about a VIP, kept so
 * the next sync says it again only when it changed (a condition that
 * lasts is logged once, not every sync interval).
 * @vip:     the VIP.
 * @kind:    enum tpd_egress_note_kind (egress_route.c).
 * @ifindex: the interface it was about.
 * @err:     the error, for a failed change.
 */
struct tpd_egress_note {
	struct tp_addr vip;
	int kind;
	int ifindex;
	int err;
};

/**
 * struct tpd_egress_routes - what the loader remembers between syncs.
 * @notes:      what the last sync said, sorted.
 * @n_notes:    their number.
 * @notes_room: entries @notes has room for.
 * @fresh:      what this sync says, so far.
 * @n_fresh:    their number.
 * @fresh_room: entries @fresh has room for.
 * @routed:     the routes of ours the last sync left in place.
 * @n_routed:   their number.
 * @routed_room: entries @routed has room for.
 */
struct tpd_egress_routes {
	struct tpd_egress_note *notes;
	size_t n_notes;
	size_t notes_room;
	struct tpd_egress_note *fresh;
	size_t n_fresh;
	size_t fresh_room;
	struct tpd_egress_routed *routed;
	size_t n_routed;
	size_t routed_room;
};

/**
 * struct tpd_egress_result - what one sync did.
 * @routes:   routes of ours in place after it.
 * @added:    added.
 * @moved:    moved to another interface (replaced in place).
 * @removed:  removed (their VIP is no egress service any more).
 * @operator: egress VIPs the operator routes himself: left alone.
 * @split:    VIPs whose backends leave by more than one interface.
 * @errors:   lookups and changes that failed.
 */
struct tpd_egress_result {
	unsigned int routes;
	unsigned int added;
	unsigned int moved;
	unsigned int removed;
	unsigned int operator;
	unsigned int split;
	unsigned int errors;
};

int tpd_egress_wanted(const struct tp_maps *m, struct tpd_egress_routes *st,
		      struct tpd_egress_want **want, size_t *n,
		      struct tpd_egress_result *res);
int tpd_egress_apply(struct tpd_egress_routes *st,
		     const struct tpd_egress_want *want, size_t n,
		     struct tpd_egress_result *res);
int tpd_egress_sync(const struct tp_maps *m, struct tpd_egress_routes *st,
		    struct tpd_egress_result *res);
int tpd_egress_remove_all(const int *ifs, size_t n_ifs, unsigned int *removed);
struct tpd_config;
int tpd_egress_detach(const struct tpd_config *cfg, unsigned int *removed);
void tpd_egress_routes_free(struct tpd_egress_routes *st);

#endif /* TAILPLANED_EGRESS_ROUTE_H */
