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
TP_TUPLE_INLINE void tp_ct_reverse(const struct tp_ct_key *k,
				   struct tp_ct_key *rev)
{
	rev->saddr = k->daddr;
	rev->daddr = k->saddr;
	rev->sport = k->dport;
	rev->dport = k->sport;
	rev->proto = k->proto;
	rev->pad = 0;
	rev->zone = k->zone;
}

/* Is @a an IPv4 address (v4-mapped, ::ffff:0:0/96)?  Byte-wise: no byte order. */
TP_TUPLE_INLINE bool tp_tuple_is_v4(const struct tp_addr *a)
{
	return !a->w[0] && !a->w[1] && !a->b[8] && !a->b[9] &&
	       a->b[10] == 0xff && a->b[11] == 0xff;
}

/* Is flow entry @e masqueraded to the tailnet (abi.h, TP_CT_F_MASQ)? */
TP_TUPLE_INLINE bool tp_ct_is_masq(const struct tp_ct_entry *e)
{
	return (e->flags & (TP_CT_F_SNAT | TP_CT_F_MASQ)) ==
	       (TP_CT_F_SNAT | TP_CT_F_MASQ);
}

/**
 * tp_ct_snat_addr() - the address a SNAT or masqueraded flow's packets
 * leave with.
 * @orig: the flow's original tuple.
 * @e:    its flow entry.
 * @cfg:  the datapath configuration (tp_config), or NULL.
 *
 * A masqueraded flow without DNAT keeps its address in the entry
 * (@e->nat_addr); a SNAT flow's is the node's SNAT address of its family.
 * A masqueraded service flow (TP_CT_F_MASQ | TP_CT_F_DNAT, a
 * cross-tailnet service) holds its backend in @e->nat_addr: its address is
 * tp_masq[@e->out_zone]'s, which only the datapath reads (abi.h).
 *
 * Return: the address, NULL for a SNAT flow without @cfg and for a
 * masqueraded service flow.
 */
TP_TUPLE_INLINE const struct tp_addr *
tp_ct_snat_addr(const struct tp_ct_key *orig, const struct tp_ct_entry *e,
		const struct tp_config *cfg)
{
	if (tp_ct_is_masq(e))
		return e->flags & TP_CT_F_DNAT ? 0 : &e->nat_addr;
	if (!cfg)
		return 0;
	return tp_tuple_is_v4(&orig->saddr) ? &cfg->snat_addr4
					    : &cfg->snat_addr6;
}

/**
 * tp_ct_reply_tuple_via() - the tuple a flow's replies carry, given the
 * address its source was translated to.
 * @orig: the flow's original tuple.
 * @e:    its flow entry.
 * @snat: a SNAT or masqueraded flow's address (tp_ct_snat_addr()), or NULL.
 * @r:    filled with @orig reversed, the source the backend after DNAT,
 *        the destination @snat and the flow's port after SNAT (zone 0) or
 *        masquerade (the flow's own zone when this side started it, the
 *        zone it crosses to when it came from another tailnet).
 *
 * Return: false for a SNAT or masqueraded flow without @snat (@r has
 * every field but the destination address then).
 */
TP_TUPLE_INLINE bool tp_ct_reply_tuple_via(const struct tp_ct_key *orig,
					   const struct tp_ct_entry *e,
					   const struct tp_addr *snat,
					   struct tp_ct_key *r)
{
	tp_ct_reverse(orig, r);
	if (e->flags & TP_CT_F_DNAT) {
		r->saddr = e->nat_addr;
		r->sport = e->nat_port;
	}
	if (!(e->flags & TP_CT_F_SNAT))
		return true;
	r->dport = e->snat_port;
	if (!tp_ct_is_masq(e))
		r->zone = 0; /* SNAT replies come from the cluster side */
	else if (!(e->flags & TP_CT_F_EGRESS))
		r->zone =
			e->out_zone; /* a crossing: from the zone it went to */
	if (!snat)
		return false;
	r->daddr = *snat;
	return true;
}

/**
 * tp_ct_reply_tuple() - the tuple a flow's replies carry.
 * @orig: the flow's original tuple.
 * @e:    its flow entry.
 * @cfg:  the datapath configuration (for a SNAT flow's address), or NULL.
 * @r:    filled as tp_ct_reply_tuple_via() fills it.
 *
 * Return: false for a SNAT flow when @cfg is NULL (no address to use), and
 * for a masqueraded service flow (its address is tp_masq's).
 */
TP_TUPLE_INLINE bool tp_ct_reply_tuple(const struct tp_ct_key *orig,
				       const struct tp_ct_entry *e,
				       const struct tp_config *cfg,
				       struct tp_ct_key *r)
{
	return tp_ct_reply_tuple_via(orig, e, tp_ct_snat_addr(orig, e, cfg), r);
}

/* Does flow @e (original tuple @orig) leave to another zone's tailnet? */
TP_TUPLE_INLINE bool tp_ct_crosses(const struct tp_ct_key *orig,
				   const struct tp_ct_entry *e)
{
	return e->out_zone && orig->zone && e->out_zone != orig->zone;
}

/*
 * Does flow @e have a reply key in the zone it crosses to, besides the
 * one of its own reply tuple?  A masqueraded crossing has not: its reply
 * tuple is in that zone already (tp_ct_reply_tuple_via()).
 */
TP_TUPLE_INLINE bool tp_ct_cross_key(const struct tp_ct_key *orig,
				     const struct tp_ct_entry *e)
{
	return tp_ct_crosses(orig, e) && !tp_ct_is_masq(e);
}

/*
 * The original tuple of the flow the reply-key entry @rk under @rkey
 * points at: the client side from the reply key (from @rk after SNAT,
 * which replaced it), the rest from @rk.
 */
TP_TUPLE_INLINE void tp_ct_rk_orig(const struct tp_ct_key *rkey,
				   const struct tp_ct_entry *rk,
				   struct tp_ct_key *orig)
{
	if (rk->flags & TP_CT_F_SNAT) {
		orig->saddr = rk->orig_saddr;
		orig->sport = rk->orig_sport;
	} else {
		orig->saddr = rkey->daddr;
		orig->sport = rkey->dport;
	}
	orig->daddr = rk->orig_daddr;
	orig->dport = rk->orig_dport;
	orig->proto = rkey->proto;
	orig->pad = 0;
	orig->zone = rk->orig_zone;
}

#endif /* TAILPLANE_TUPLE_H */
