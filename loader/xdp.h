/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The uplinks' XDP guard: attaching tp_xdp_guard through libxdp, and
 * writing the configuration's "guard" section into its maps.
 */
#ifndef TAILPLANED_XDP_H
#define TAILPLANED_XDP_H

#include <stddef.h>

#include "config.h"
#include "maps.h"
#include "sync.h"

struct bpf_object;

int tpd_guard_attach(struct bpf_object *live, const void *elf, size_t elf_size,
		     const struct tpd_config *cfg, const char *ifname,
		     int ifindex);
int tpd_guard_detach(int ifindex);
void tpd_guard_detach_all(const struct tpd_config *cfg);
int tpd_guard_sync(const struct tp_maps *m, const struct tpd_config *cfg,
		   struct tpd_sync_result *res);

#endif /* TAILPLANED_XDP_H */
