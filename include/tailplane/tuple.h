/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack tuples shared by the datapath (bpf/lib/ct.h) and userspace
 * (lib/conntrack.c: GC, tpctl, the loader's conversion): which tuple a
 * flow's replies carry and which flow a reply-key entry names.  One copy,
 * so the two sides cannot drift apart.  Pure C, as tailplane/hash.h.
 */
#ifndef TAILPLANE_TUPLE_H
#define TAILPLANE_TUPLE_H

#include "abi.h"

#ifdef __bpf__
#define TP_TUPLE_INLINE static __always_inline
#else
#include <stdbool.h>
#define TP_TUPLE_INLINE static inline
#endif

/**
 * tp_ct_reverse() - the tuple of packets flowing the other way.
 * @k:   a tuple.
 * @rev: filled with @k's addresses and ports swapped (every field).
 */
TP_TUPLE_INLINE void tp_ct_reverse(const struct tp_ct_key *k, struct tp_ct_key *rev)
{
	rev->saddr = k->daddr;
	rev->daddr = k->saddr;
	rev->sport = k->dport;
	rev->dport = k->sport;
	rev->proto = k->proto;
	rev->pad = 0;
	rev->zone = k->zone;
}

/**
 * tp_ct_reply_tuple() - the tuple a flow's replies carry in its own zone.
 * @orig: the flow's original tuple.
 * @e:    its flow entry.
 * @r:    filled with @orig reversed, the source the backend after DNAT.
 */
TP_TUPLE_INLINE void tp_ct_reply_tuple(const struct tp_ct_key *orig,
				       const struct tp_ct_entry *e, struct tp_ct_key *r)
{
	tp_ct_reverse(orig, r);
	if (e->flags & TP_CT_F_DNAT) {
		r->saddr = e->nat_addr;
		r->sport = e->nat_port;
	}
}

/* Does flow @e (original tuple @orig) leave to another zone's tailnet? */
TP_TUPLE_INLINE bool tp_ct_crosses(const struct tp_ct_key *orig, const struct tp_ct_entry *e)
{
	return e->out_zone && orig->zone && e->out_zone != orig->zone;
}

/*
 * The original tuple of the flow the reply-key entry @rk under @rkey
 * points at: the client side from the reply key, the rest from @rk.
 */
TP_TUPLE_INLINE void tp_ct_rk_orig(const struct tp_ct_key *rkey, const struct tp_ct_entry *rk,
				   struct tp_ct_key *orig)
{
	orig->saddr = rkey->daddr;
	orig->daddr = rk->orig_daddr;
	orig->sport = rkey->dport;
	orig->dport = rk->orig_dport;
	orig->proto = rkey->proto;
	orig->pad = 0;
	orig->zone = rk->orig_zone;
}

#endif /* TAILPLANE_TUPLE_H */
