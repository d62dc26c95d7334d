/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU packet and byte counters, cheap enough to leave on. */
#ifndef TP_BPF_STATS_H
#define TP_BPF_STATS_H

#include "maps.h"

/**
 * tp_stat_add() - count one packet of @bytes under counter @id.
 * @id:    enum tp_stat_id.
 * @bytes: skb->len of the packet.
 */
static __always_inline void tp_stat_add(__u32 id, __u32 bytes)
{
	struct tp_stat *st = bpf_map_lookup_elem(&tp_stats, &id);

	if (st) {
		st->packets++;
		st->bytes += bytes;
	}
}

/*
 * Count a packet against a rule (0: the zone default) or a service, in
 * tp_rule_stats or tp_svc_stats: counter TP_STAT_SLOT(@id) of element
 * TP_STAT_ELEM(@id) (abi.h).  The mask keeps the slot inside the element
 * for the verifier.
 */
static __always_inline void tp_stat_add_map(void *map, __u32 id, __u32 bytes)
{
	__u32 elem = TP_STAT_ELEM(id);
	struct tp_stat_group *g = bpf_map_lookup_elem(map, &elem);
	struct tp_stat *st;

	if (g) {
		st = &g->c[TP_STAT_SLOT(id)];
		st->packets++;
		st->bytes += bytes;
	}
}

/**
 * tp_drop() - count a drop for @reason and return the TC verdict for it.
 * @skb:    the packet.
 * @reason: enum tp_drop_reason (positive).
 */
static __always_inline int tp_drop(struct __sk_buff *skb, int reason)
{
	if (reason <= 0 || reason >= TP_DROP_REASON_MAX)
		reason = TP_DROP_INTERNAL;
	tp_stat_add(TP_STAT_DROP(reason), skb->len);
	return TC_ACT_SHOT;
}

#endif /* TP_BPF_STATS_H */
