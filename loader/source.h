/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The loader's sync sources, one table: what each is called (in the
 * configuration, logs and metrics), which owner its map entries carry,
 * and, for the peer sources an interface names in "peers", how its peers
 * are read and how the configuration maps them to identities.  A new
 * source is one more row (and its enum value), nothing else.
 */
#ifndef TAILPLANED_SOURCE_H
#define TAILPLANED_SOURCE_H

#include <stddef.h>

#include <linux/types.h>

#include "peers.h"

struct tpd_config;
struct tpd_iface_cfg;
struct tpd_map_cfg;

enum tpd_source {
	TPD_SRC_STATIC,
	TPD_SRC_WIREGUARD,
	TPD_SRC_TAILSCALE,
	TPD_SRC_KUBERNETES,
	TPD_SRC_MAX,
	TPD_SRC_NONE = TPD_SRC_MAX, /* an interface without a peer source */
};

/**
 * struct tpd_source_ops - one sync source.
 * @name:     its name: the value of an interface's "peers", the "source"
 *            field of log lines and the label of the metrics.
 * @owner:    TP_OWNER_* its map entries carry (a sync never deletes what
 *            another owner wrote).
 * @fetch:    peer sources: read @ifc's peers by @deadline (a
 *            tpd_deadline_after() time); 0 or -errno with
 *            tpd_peer_last_error() saying why.  NULL for other sources.
 * @mappings: peer sources: the configuration's peer -> identity mappings
 *            (wireguard_peers, tailscale.tags) and their number.
 * @match:    peer sources: how a mapping's key is matched against a peer.
 */
struct tpd_source_ops {
	const char *name;
	__u8 owner;
	int (*fetch)(const struct tpd_config *cfg,
		     const struct tpd_iface_cfg *ifc, __u64 deadline,
		     struct tp_peer_list *peers);
	const struct tpd_map_cfg *(*mappings)(const struct tpd_config *cfg,
					      size_t *n);
	enum tp_peer_match (*match)(const char *key);
};

extern const struct tpd_source_ops tpd_sources[TPD_SRC_MAX];

/* Is @s a source of peers (one an interface can name in "peers")? */
static inline int tpd_source_has_peers(enum tpd_source s)
{
	return s < TPD_SRC_MAX && tpd_sources[s].fetch;
}

const char *tpd_source_name(enum tpd_source s);
int tpd_peer_source_parse(const char *name, enum tpd_source *s);

#endif /* TAILPLANED_SOURCE_H */
