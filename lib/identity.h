/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Identities in the maps: prefixes per zone, and names for people. */
#ifndef TAILPLANE_LIB_IDENTITY_H
#define TAILPLANE_LIB_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "maps.h"

int tp_identity_set(const struct tp_maps *m, __u16 zone,
		    const struct tp_addr *prefix, unsigned int plen, __u32 id,
		    __u8 owner);
int tp_identity_del(const struct tp_maps *m, __u16 zone,
		    const struct tp_addr *prefix, unsigned int plen,
		    __u8 owner);
int tp_identity_lookup(const struct tp_maps *m, __u16 zone,
		       const struct tp_addr *addr, __u32 *id);
bool tp_identity_name_ok(const char *name);
int tp_identity_name_set(const struct tp_maps *m, __u32 id, const char *name,
			 __u8 owner);
int tp_identity_name_del(const struct tp_maps *m, __u32 id);
long tp_identity_names_rebuild(const struct tp_maps *m);
int tp_map_empty(int fd, size_t key_size);
const char *tp_identity_name(const struct tp_maps *m, __u32 id, char *buf,
			     size_t len);
int tp_identity_parse(const struct tp_maps *m, const char *s, __u32 *id);
void tp_addr_mask(struct tp_addr *a, unsigned int plen);
int tp_policy_bump_rev(const struct tp_maps *m);

#endif /* TAILPLANE_LIB_IDENTITY_H */
