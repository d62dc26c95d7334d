/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tailplaned's configuration file (JSON; docs/tailplaned.8 has the
 * schema).  Reading it checks everything before anything is applied:
 * types, ranges, unknown and duplicate keys, nesting, and every address,
 * port, protocol, frontend and identity a value names (against the
 * file's own names).  A start or reload takes a file whole or not at all.
 */
#ifndef TAILPLANED_CONFIG_H
#define TAILPLANED_CONFIG_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>

#include "kube.h"
#include "source.h"
#include "tailplane/abi.h"

enum tpd_iface_kind { TPD_IFACE_TAILNET, TPD_IFACE_UPLINK };

/*
 * Map capacities the configuration's "capacity" section sets (entries).
 * tpd_capacities[] names them with their defaults and bounds; the loader
 * sizes each map from one of them (loader/datapath.c tpd_capacity_maps[]).
 */
enum tpd_capacity {
	TPD_CAP_SERVICES,
	TPD_CAP_BACKENDS,
	TPD_CAP_IDENTITIES,
	TPD_CAP_RULES,
	TPD_CAP_POLICY_ENTRIES,
	TPD_CAP_CONNTRACK_TCP,
	TPD_CAP_CONNTRACK_OTHER,
	TPD_CAP_AFFINITY,
	TPD_CAP_FRAGMENTS,
	TPD_CAP_GUARD_PREFIXES,
	TPD_CAP_GUARD_SOURCES,
	TPD_CAP_MAX,
};

/**
 * struct tpd_capacity_def - one capacity of the "capacity" section.
 * @key:  its JSON key.
 * @dflt: the default, the ABI's size (TP_*).
 * @min:  smallest accepted.
 * @max:  largest accepted.
 */
struct tpd_capacity_def {
	const char *key;
	__u32 dflt, min, max;
};

extern const struct tpd_capacity_def tpd_capacities[TPD_CAP_MAX];

struct tpd_iface_cfg {
	char name[IFNAMSIZ];
	enum tpd_iface_kind kind;
	__u16 zone;
	enum tpd_source peers; /* TPD_SRC_NONE or a source of peers */
	bool masquerade; /* tailnet: new flows leaving here get the node's address */
};

struct tpd_ident_cfg {
	char cidr[64];
	__u32 id;
	char name[48];
	__u16 zone;
	struct tp_addr prefix; /* @cidr, parsed and masked when read */
	unsigned int plen;
};

struct tpd_backend_cfg {
	char addr[64]; /* ADDR:PORT */
	__u16 weight;
	__u8 state;
};

struct tpd_service_cfg {
	char frontend[72];     /* VIP:PORT/PROTO */
	struct tp_svc_key key; /* @frontend, parsed when read */
	__u32 affinity;
	__u16 zone;
	bool snat; /* TP_SVC_F_SNAT: always SNAT its new flows */
	struct tpd_backend_cfg *backends;
	size_t n_backends;
};

struct tpd_policy_cfg {
	char from[48];
	char to[48];
	char proto[8];
	char port[16];
	char verdict[8];
	__u16 zone;
	struct tp_rule
		rule; /* the rule, resolved against the file's names when read */
};

struct tpd_map_cfg { /* public key or tag -> identity */
	char key[72];
	char identity[48];
};

/**
 * struct tpd_snat_cfg - the "snat" key: SNAT of flows toward backends
 * behind an uplink (docs/tailplaned.8).
 * @auto_mode: "auto": every new service flow whose backend the FIB puts
 *             behind an uplink (TP_CFG_F_SNAT_AUTO); "off": only services
 *             marked snat.
 * @has_addr4: @addr4 was configured; else the primary IPv4 address of
 *             the first uplink that has one is used, kept current.
 * @has_addr6: the same for @addr6.
 * @addr4:     configured IPv4 SNAT address (v4-mapped).
 * @addr6:     configured IPv6 SNAT address.
 * @port_min:  first port of the SNAT range.
 * @port_max:  last port of the SNAT range (>= @port_min).
 */
struct tpd_snat_cfg {
	bool auto_mode;
	bool has_addr4;
	bool has_addr6;
	struct tp_addr addr4;
	struct tp_addr addr6;
	__u16 port_min;
	__u16 port_max;
};

/* How the guard attaches: native XDP where the driver has it, else generic. */
enum tpd_xdp_mode { TPD_XDP_AUTO, TPD_XDP_NATIVE, TPD_XDP_GENERIC };

/**
 * struct tpd_guard_prefix - a prefix of the guard's drop list.
 * @cidr:   as written.
 * @prefix: parsed and checked when read.
 * @plen:   its length, 128-bit space.
 */
struct tpd_guard_prefix {
	char cidr[64];
	struct tp_addr prefix;
	unsigned int plen;
};

/**
 * struct tpd_guard_cfg - the "guard" section: the XDP guard of the uplinks.
 * @enabled: attach tp_xdp_guard to every uplink (default: true when the
 *           section is given, false without it).
 * @mode:    enum tpd_xdp_mode.
 * @ports:   guarded UDP ports (default 51820 and 41641).
 * @n_ports: how many, at most TP_GUARD_MAX_PORTS (0: the list alone).
 * @rate:    handshakes a second per source, 0: no limit.
 * @burst:   the bucket size.
 * @drop:    the drop list (owner TP_OWNER_STATIC).
 * @n_drop:  its length.
 */
struct tpd_guard_cfg {
	bool enabled;
	enum tpd_xdp_mode mode;
	__u16 ports[TP_GUARD_MAX_PORTS];
	size_t n_ports;
	__u32 rate;
	__u32 burst;
	struct tpd_guard_prefix *drop;
	size_t n_drop;
};

/**
 * struct tpd_static_nat_cfg - an entry of "static_nat": a pod's tailnet address.
 * @tailnet:      the tailnet address as written.
 * @inner:        the inner (pod) address as written.
 * @zone:         its zone, 0 (the default) for every tailnet zone.
 * @tailnet_addr: @tailnet, parsed when read.
 * @inner_addr:   @inner, parsed when read.
 */
struct tpd_static_nat_cfg {
	char tailnet[64];
	char inner[64];
	__u16 zone;
	struct tp_addr tailnet_addr;
	struct tp_addr inner_addr;
};

struct tpd_config {
	char pin_root[PATH_MAX];
	__u8 default_policy; /* TP_VERDICT_ALLOW/DENY, 0: leave the zones as they are */
	struct tpd_iface_cfg *ifaces;
	size_t n_ifaces;
	struct tpd_ident_cfg *idents;
	size_t n_idents;
	/* the daemon frees them once applied: tpd_config_services_release() */
	struct tpd_service_cfg *services;
	size_t n_services;
	struct tpd_policy_cfg *policies;
	size_t n_policies;
	struct tpd_map_cfg *wg_peers;
	size_t n_wg_peers;
	struct tpd_map_cfg *ts_tags;
	size_t n_ts_tags;
	char ts_socket[PATH_MAX];
	__u32 ts_socket_uid; /* trusted besides root to serve the LocalAPI; (__u32)-1: none */
	char wg_sockdir[PATH_MAX];
	__u32 wg_socket_uid; /* trusted besides root to serve UAPI sockets; (__u32)-1: none */
	__u32 ct_timeout[6]; /* syn, established, fin, close, udp, icmp */
	__u32 gc_interval;
	__u32 maglev_size;
	__u32 capacity[TPD_CAP_MAX]; /* enum tpd_capacity */
	__u32 sync_interval;
	__u32 events_per_sec;
	__u32 events_burst;
	char metrics_path[PATH_MAX];
	__u32 metrics_interval;
	struct tpd_kube_cfg
		kube; /* "kubernetes" (kube.h); strings heap-allocated */
	struct tpd_snat_cfg snat;
	struct tpd_guard_cfg guard;
	struct tpd_static_nat_cfg
		*static_nat; /* "static_nat" (owner TP_OWNER_STATIC) */
	size_t n_static_nat;
	bool egress_routes; /* route egress services' VIPs (egress_route.h) */
};

int tpd_config_load(const char *path, struct tpd_config *cfg, char *err,
		    size_t errlen);
int tpd_config_parse(const char *text, struct tpd_config *cfg, char *err,
		     size_t errlen);
void tpd_config_services_release(struct tpd_config *cfg);
void tpd_config_free(struct tpd_config *cfg);
void tpd_kube_cfg_free(struct tpd_kube_cfg *k);
int tpd_config_identity(const struct tpd_config *cfg, const char *s, __u32 *id);
bool tpd_static_nat_unroutable(const struct tpd_config *cfg,
			       const struct tpd_static_nat_cfg *sn);
const struct tpd_iface_cfg *tpd_config_iface(const struct tpd_config *cfg,
					     const char *name);
bool tpd_config_knobs_equal(const struct tpd_config *a,
			    const struct tpd_config *b);
bool tpd_kube_cfg_equal(const struct tpd_kube_cfg *a,
			const struct tpd_kube_cfg *b);
const struct tpd_iface_cfg *
tpd_config_first_uplink(const struct tpd_config *cfg);
int tpd_config_warnings(const struct tpd_config *cfg,
			const char *port_range_path, char *msg, size_t len);

/* The kernel's ephemeral port range, which a SNAT range should avoid. */
#define TPD_LOCAL_PORT_RANGE "/proc/sys/net/ipv4/ip_local_port_range"

#endif /* TAILPLANED_CONFIG_H */
