/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Policy rules: tp_rules holds them as written; tp_policy, the LPM trie
 * the datapath reads, is derived from it one (src, dst, zone) group at a
 * time.  docs/policy.md gives the semantics.
 */
#ifndef TAILPLANE_LIB_POLICY_H
#define TAILPLANE_LIB_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "maps.h"

/**
 * struct tp_port_block - an aligned block of ports: @port with the low
 * (16 - @bits) bits free.
 */
struct tp_port_block {
	__u16 port;
	__u8 bits;
};

size_t tp_port_blocks(__u16 lo, __u16 hi, struct tp_port_block *out,
		      size_t cap);
int tp_rule_validate(const struct tp_rule *r);
bool tp_rule_same_match(const struct tp_rule *a, const struct tp_rule *b);
void tp_rule_match(const struct tp_rule *r, struct tp_rule *match);
int tp_policy_rule_add(const struct tp_maps *m, const struct tp_rule *r,
		       __u32 *rule_id);
int tp_policy_rule_del(const struct tp_maps *m, const struct tp_rule *match,
		       __u8 owner);
int tp_policy_rule_find(const struct tp_maps *m, const struct tp_rule *match,
			__u32 *rule_id);
long tp_policy_index_rebuild(const struct tp_maps *m);
int tp_policy_default_set(const struct tp_maps *m, __u16 zone, __u8 verdict);

#endif /* TAILPLANE_LIB_POLICY_H */
