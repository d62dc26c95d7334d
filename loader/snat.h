/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SNAT toward backends behind an uplink, the loader's part: the SNAT
 * addresses and port range in tp_config, and the range reserved from
 * local sockets (net.ipv4.ip_local_reserved_ports, which IPv6 sockets
 * obey too).
 */
#ifndef TAILPLANED_SNAT_H
#define TAILPLANED_SNAT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "maps.h"

#define TPD_RESERVED_PORTS "/proc/sys/net/ipv4/ip_local_reserved_ports"

/**
 * struct tpd_snat_addrs - the SNAT source addresses in effect.
 * @v4:   IPv4 (v4-mapped), all zero for none.
 * @v6:   IPv6, all zero for none.
 * @from: where they come from: "config", an uplink's name, or "none".
 */
struct tpd_snat_addrs {
	struct tp_addr v4;
	struct tp_addr v6;
	char from[IFNAMSIZ + 8];
};

int tpd_snat_addrs(const struct tpd_config *cfg, struct tpd_snat_addrs *out);
int tpd_snat_config_write(const struct tp_maps *m, const struct tpd_config *cfg,
			  const struct tpd_snat_addrs *addrs, bool *changed);
int tpd_masq_write(const struct tp_maps *m, const struct tpd_config *cfg,
		   bool *changed);
char *tpd_snat_record_path(const char *pin_root, char *buf, size_t len);
int tpd_ports_reserve(const char *sysctl, const char *record, __u16 lo,
		      __u16 hi, char *added, size_t len);
int tpd_ports_release(const char *sysctl, const char *record, char *removed,
		      size_t len);

#endif /* TAILPLANED_SNAT_H */
