/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack entries from userspace: a flow's reply tuple and reply keys,
 * deleting a flow without touching a reply key another flow has taken,
 * and converting entries of the layout before this one.  The same rules
 * as bpf/lib/ct.h.
 */
#ifndef TAILPLANE_LIB_CONNTRACK_H
#define TAILPLANE_LIB_CONNTRACK_H

#include <stdbool.h>

#include "maps.h"
#include "tailplane/tuple.h" /* tp_ct_reverse, _reply_tuple, _crosses, _rk_orig */

const struct tp_config *tp_ct_config(const struct tp_maps *m,
				     struct tp_config *buf);
bool tp_ct_is_reply_key(const struct tp_ct_entry *flow,
			const struct tp_ct_key *orig,
			const struct tp_config *cfg, const struct tp_ct_key *k);
bool tp_ct_entry_live(const struct tp_maps *m, const struct tp_config *cfg,
		      const struct tp_ct_key *k, const struct tp_ct_entry *e,
		      __u64 now_ns);
bool tp_ct_has_reply_key(const struct tp_ct_entry *e);
int tp_ct_flow_delete(const struct tp_maps *m, const struct tp_config *cfg,
		      const struct tp_ct_key *k, const struct tp_ct_entry *e);
int tp_ct_take_dead(const struct tp_maps *m, const struct tp_config *cfg,
		    const struct tp_ct_key *k, __u64 now_ns);

/**
 * struct tp_ct_entry_v1 - the conntrack value before the one-entry layout
 * (144 bytes): every flow had a reply-key entry whose @peer was the
 * original tuple, and a flow entry's @peer was its reply tuple; times in
 * ns.  Kept only to convert pinned maps on upgrade (tp_ct_entry_from_v1()).
 */
struct tp_ct_entry_v1 {
	struct tp_ct_key peer;
	struct tp_addr nat_addr;
	__be16 nat_port;
	__u8 state;
	__u8 flags;
	__u32 svc_id;
	__u32 backend_id;
	__u32 ifindex;
	__u64 expires_ns;
	__u64 created_ns;
	__u64 packets[2];
	__u64 bytes[2];
	__u8 tcp_flags[2];
	__u8 verdict;
	__u8 pad;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;
	__u32 policy_rev;
	__u16 out_zone;
	__u16 rk_check_s;
};
_Static_assert(sizeof(struct tp_ct_entry_v1) == 144, "tp_ct_entry_v1 size");

/**
 * enum tp_ct_v1_kind - what tp_ct_entry_from_v1() made of an old entry.
 * @TP_CT_V1_FLOW:      a flow entry, converted.
 * @TP_CT_V1_REPLY_KEY: a reply-key entry still needed, converted.
 * @TP_CT_V1_DROP:      a reply-key entry the new layout finds by reversing
 *                      the tuple, or one pointing at no flow: not kept.
 */
enum tp_ct_v1_kind {
	TP_CT_V1_FLOW,
	TP_CT_V1_REPLY_KEY,
	TP_CT_V1_DROP,
};

enum tp_ct_v1_kind tp_ct_entry_from_v1(const struct tp_ct_key *k,
				       const struct tp_ct_entry_v1 *old,
				       const struct tp_ct_entry_v1 *flow,
				       struct tp_ct_entry *e);

#endif /* TAILPLANE_LIB_CONNTRACK_H */
