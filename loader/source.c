// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The loader's sync sources, one table (source.h). */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "source.h"

/* Kernel WireGuard by generic netlink; userspace ones by their UAPI socket. */
static int tpd_fetch_wireguard(const struct tpd_config *cfg,
			       const struct tpd_iface_cfg *ifc, __u64 deadline,
			       struct tp_peer_list *peers)
{
	/* the kernel answers a dump at once: no deadline to give it */
	int err = tpd_wg_genl_dump(ifc->name, peers);

	if (err == -ENOENT || err == -EOPNOTSUPP || err == -ENODEV)
		err = tpd_wg_uapi_dump_by(ifc->name, cfg->wg_sockdir,
					  cfg->wg_socket_uid, deadline, peers);
	return err;
}

/* tailscaled's LocalAPI status, parsed as it streams. */
static int tpd_fetch_tailscale(const struct tpd_config *cfg,
			       const struct tpd_iface_cfg *ifc, __u64 deadline,
			       struct tp_peer_list *peers)
{
	(void)ifc;
	if (!tpd_deadline_left(deadline)) {
		tpd_peer_set_error("no time left to ask tailscaled");
		return -ETIMEDOUT;
	}
	/* a large tailnet's status is never held whole */
	return tpd_ts_fetch_peers(cfg->ts_socket, tpd_deadline_left(deadline),
				  cfg->ts_socket_uid, peers);
}

static const struct tpd_map_cfg *
tpd_wireguard_mappings(const struct tpd_config *cfg, size_t *n)
{
	*n = cfg->n_wg_peers;
	return cfg->wg_peers;
}

static const struct tpd_map_cfg *
tpd_tailscale_mappings(const struct tpd_config *cfg, size_t *n)
{
	*n = cfg->n_ts_tags;
	return cfg->ts_tags;
}

/* wireguard_peers map public keys */
static enum tp_peer_match tpd_wireguard_match(const char *key)
{
	(void)key;
	return TP_PEER_MATCH_KEY;
}

/* tailscale.tags map "tag:..." to tags and anything else to a user */
static enum tp_peer_match tpd_tailscale_match(const char *key)
{
	return strncmp(key, "tag:", 4) ? TP_PEER_MATCH_USER : TP_PEER_MATCH_TAG;
}

const struct tpd_source_ops tpd_sources[TPD_SRC_MAX] = {
	[TPD_SRC_STATIC] = {
		.name = "static",
		.owner = TP_OWNER_STATIC,
	},
	[TPD_SRC_WIREGUARD] = {
		.name = "wireguard",
		.owner = TP_OWNER_WIREGUARD,
		.fetch = tpd_fetch_wireguard,
		.mappings = tpd_wireguard_mappings,
		.match = tpd_wireguard_match,
	},
	[TPD_SRC_TAILSCALE] = {
		.name = "tailscale",
		.owner = TP_OWNER_TAILSCALE,
		.fetch = tpd_fetch_tailscale,
		.mappings = tpd_tailscale_mappings,
		.match = tpd_tailscale_match,
	},
	[TPD_SRC_KUBERNETES] = {
		/* no peers: kube_store.c and kube_sync.c, driven by the main loop */
		.name = "kubernetes",
		.owner = TP_OWNER_KUBERNETES,
	},
};

/**
 * tpd_source_name() - a source's name.
 * @s: the source; TPD_SRC_NONE reads "none".
 *
 * Return: its name, "none" or "unknown".
 */
const char *tpd_source_name(enum tpd_source s)
{
	if (s == TPD_SRC_NONE)
		return "none";
	return s < TPD_SRC_MAX ? tpd_sources[s].name : "unknown";
}

/**
 * tpd_peer_source_parse() - the peer source an interface's "peers" names.
 * @name: "none" or the name of a source of peers.
 * @s:    set to the source, TPD_SRC_NONE for "none".
 *
 * Return: 0, or -EINVAL for a name that is no source of peers.
 */
int tpd_peer_source_parse(const char *name, enum tpd_source *s)
{
	enum tpd_source i;

	if (!strcmp(name, "none")) {
		*s = TPD_SRC_NONE;
		return 0;
	}
	for (i = 0; i < TPD_SRC_MAX; i++) {
		if (tpd_source_has_peers(i) &&
		    !strcmp(name, tpd_sources[i].name)) {
			*s = i;
			return 0;
		}
	}
	return -EINVAL;
}
