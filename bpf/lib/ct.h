/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking: TCP flows in one LRU hash, UDP and ICMP echo flows
 * in another of the same layout (tp_ct, tp_ct_any: see abi.h).
 *
 * A flow has two entries: the flow entry under its original tuple, which
 * holds every piece of state, and a reply-key entry under the tuple its
 * replies carry, which points back at the flow entry (TP_CT_F_REPLY_KEY).
 * Packets in the original direction take one lookup; replies take two.
 * An entry past expires_ns counts as absent.  A full table evicts the
 * least recently used entries; a reply-key entry whose flow is gone, or
 * whose flow no longer points back at it, is ignored, and one that was
 * evicted while its flow lives is written again by the flow's next
 * packet in the original direction (checked at most once a second).
 *
 * Sides: a flow from the tailnet enters through its zone's tailnet
 * interface and leaves to the cluster side, or to the tailnet interface
 * of its out zone; a flow this side started (TP_CT_F_EGRESS) leaves
 * through its zone's interface.  Replies go the other way.  Packets and
 * ICMP errors that claim a flow from a side its packets never come from
 * are not the flow's.
 */
#ifndef TP_BPF_CT_H
#define TP_BPF_CT_H

#include "maps.h"
#include "parse.h"

/*
 * The conntrack table of a key: tp_ct for TCP, tp_ct_any for the rest.
 * Every access goes through these three, so the split is in one place.
 */
/* Keys of tp_ct_tables in read-only data: no stack slot per access. */
static const volatile __u32 tp_ct_table_idx[2] = { 0, 1 };

static __always_inline void *tp_ct_table(const struct tp_ct_key *k)
{
	return bpf_map_lookup_elem(&tp_ct_tables,
				   (const void *)&tp_ct_table_idx[k->proto != IPPROTO_TCP]);
}

static __always_inline struct tp_ct_entry *tp_ct_get(const struct tp_ct_key *k)
{
	void *t = tp_ct_table(k);

	return t ? bpf_map_lookup_elem(t, k) : NULL;
}

static __always_inline long tp_ct_put(const struct tp_ct_key *k,
				      const struct tp_ct_entry *e)
{
	void *t = tp_ct_table(k);

	return t ? bpf_map_update_elem(t, k, e, BPF_ANY) : -1;
}

static __always_inline long tp_ct_del(const struct tp_ct_key *k)
{
	void *t = tp_ct_table(k);

	return t ? bpf_map_delete_elem(t, k) : -1;
}

static __always_inline bool tp_ct_key_eq(const struct tp_ct_key *a,
					 const struct tp_ct_key *b)
{
	return tp_addr_eq(&a->saddr, &b->saddr) &&
	       tp_addr_eq(&a->daddr, &b->daddr) && a->sport == b->sport &&
	       a->dport == b->dport && a->proto == b->proto &&
	       a->zone == b->zone;
}

/**
 * tp_ct_reverse() - the tuple of packets flowing the other way.
 * @k:   a tuple.
 * @rev: filled with @k's addresses and ports swapped.
 */
static __always_inline void tp_ct_reverse(const struct tp_ct_key *k,
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

static __always_inline bool tp_ct_expired(const struct tp_ct_entry *e, __u64 now)
{
	return now >= e->expires_ns;
}

static __always_inline __u32 tp_ct_state_timeout(__u8 state, __u8 proto)
{
	switch (state) {
	case TP_CT_SYN_SENT:
	case TP_CT_SYN_RECV:
		return ct_timeout_syn;
	case TP_CT_ESTABLISHED:
		return ct_timeout_established;
	case TP_CT_FIN_WAIT:
		return ct_timeout_fin;
	case TP_CT_CLOSE:
	case TP_CT_RESET:
		return ct_timeout_close;
	}
	return proto == IPPROTO_UDP ? ct_timeout_udp : ct_timeout_icmp;
}

/*
 * A TCP flow the other side has not answered yet keeps at most the SYN
 * timeout, whatever its state: a mid-stream pickup (a bare ACK, a
 * SYN-ACK, a FIN) is not an established connection until a reply shows
 * one, so a peer cannot fill the table with six-hour entries.
 */
static __always_inline __u32 tp_ct_timeout(const struct tp_ct_entry *e,
					   __u8 proto)
{
	__u32 t = tp_ct_state_timeout(e->state, proto);

	if (proto == IPPROTO_TCP && !e->packets[TP_CT_DIR_REPLY] &&
	    t > ct_timeout_syn)
		t = ct_timeout_syn;
	return t;
}

/* TCP state after a packet with @flags in direction @dir. */
static __always_inline __u8 tp_ct_tcp_next(const struct tp_ct_entry *e,
					   int dir, __u8 flags)
{
	__u8 fins = (e->tcp_flags[0] | (dir == TP_CT_DIR_ORIG ? flags : 0)) &
		    (e->tcp_flags[1] | (dir == TP_CT_DIR_REPLY ? flags : 0)) &
		    TCP_FLAG_FIN;
	__u8 state = e->state;

	if (flags & TCP_FLAG_RST)
		return TP_CT_RESET;
	if (state == TP_CT_RESET || state == TP_CT_CLOSE)
		return state;
	if (fins)
		return TP_CT_CLOSE;
	if (flags & TCP_FLAG_FIN)
		return TP_CT_FIN_WAIT;
	if (state == TP_CT_SYN_SENT && dir == TP_CT_DIR_REPLY &&
	    (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK))
		return TP_CT_SYN_RECV;
	if (state == TP_CT_SYN_RECV && dir == TP_CT_DIR_ORIG &&
	    (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_ACK)
		return TP_CT_ESTABLISHED;
	return state;
}

/**
 * tp_ct_account() - update a flow entry for one of its packets.
 * @e:     the flow entry (not a reply-key entry).
 * @dir:   TP_CT_DIR_ORIG or TP_CT_DIR_REPLY.
 * @p:     the parsed packet.
 * @bytes: skb->len.
 * @now:   tp_now().
 */
static __always_inline void tp_ct_account(struct tp_ct_entry *e, int dir,
					  const struct tp_pkt *p, __u32 bytes,
					  __u64 now)
{
	__u8 proto = p->tuple.proto;

	if (proto == IPPROTO_TCP) {
		/* later fragments carry no flags */
		e->state = tp_ct_tcp_next(e, dir, p->tcp_flags);
		e->tcp_flags[dir & 1] |= p->tcp_flags;
	} else if (dir == TP_CT_DIR_REPLY) {
		e->state = TP_CT_REPLIED;
	}
	__sync_fetch_and_add(&e->packets[dir & 1], 1);
	__sync_fetch_and_add(&e->bytes[dir & 1], bytes);
	e->expires_ns = now + (__u64)tp_ct_timeout(e, proto) * NSEC_PER_SEC;
}

/* Initial state of a new flow from its first packet. */
static __always_inline __u8 tp_ct_initial_state(const struct tp_pkt *p)
{
	if (p->tuple.proto != IPPROTO_TCP)
		return TP_CT_OPEN;
	if ((p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		return TP_CT_SYN_SENT;
	/* mid-stream pickup: SYN timeout until the other side answers */
	return TP_CT_ESTABLISHED;
}

/**
 * tp_ct_starts_flow() - may this packet create a flow?
 * @p: the parsed packet (original direction, no entry found).
 *
 * TCP RST, ICMP echo replies and later fragments never create a flow:
 * none of them can start a connection.
 */
static __always_inline bool tp_ct_starts_flow(const struct tp_pkt *p)
{
	if (p->frag == TP_FRAG_LATER)
		return false;
	if (p->tuple.proto == IPPROTO_TCP)
		return !(p->tcp_flags & TCP_FLAG_RST);
	if (p->tuple.proto == IPPROTO_UDP)
		return true;
	return p->icmp_type == (p->ipv6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO);
}

/**
 * tp_ct_reopens() - does this packet start a new connection on a tuple
 * whose old one is closed?  A SYN on a closed or reset TCP flow does.
 */
static __always_inline bool tp_ct_reopens(const struct tp_ct_entry *e,
					  const struct tp_pkt *p)
{
	return p->tuple.proto == IPPROTO_TCP &&
	       (e->state == TP_CT_CLOSE || e->state == TP_CT_RESET) &&
	       (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/*
 * Is @key a reply key of flow @e: its reply tuple, or, for a flow that
 * crosses into another zone, the same tuple in the zone it leaves to
 * (where its replies come in)?
 */
static __always_inline bool tp_ct_is_reply_key(const struct tp_ct_entry *e,
					       const struct tp_ct_key *key)
{
	struct tp_ct_key k = *key;

	if (tp_ct_key_eq(&e->peer, key))
		return true;
	if (!e->out_zone || key->zone != e->out_zone)
		return false;
	k.zone = e->peer.zone;
	return tp_ct_key_eq(&e->peer, &k);
}

/**
 * tp_ct_replies_from_tailnet() - do the flow's replies come in through the
 * tailnet interface of @zone?
 * @e:    the flow entry.
 * @zone: zone of the interface.
 *
 * A flow this side started gets its replies from its own zone's tailnet
 * interface (the flow's key zone, which a lookup in @zone implies); a flow
 * from the tailnet gets them from the cluster side, unless it leaves to a
 * tailnet interface (its out zone), whose ingress then brings them.
 */
static __always_inline bool tp_ct_replies_from_tailnet(const struct tp_ct_entry *e,
						       __u16 zone)
{
	return (e->flags & TP_CT_F_EGRESS) || (e->out_zone && e->out_zone == zone);
}

/**
 * tp_ct_lookup_reply() - find the flow a packet is a reply of.
 * @key:  the packet's tuple.
 * @now:  tp_now().
 * @orig: set to the flow's original tuple.
 *
 * Return: the live flow entry whose reply tuple is @key, or NULL.
 */
static __always_inline struct tp_ct_entry *
tp_ct_lookup_reply(const struct tp_ct_key *key, __u64 now, struct tp_ct_key *orig)
{
	struct tp_ct_entry *rk, *e;

	rk = tp_ct_get(key);
	if (!rk || !(rk->flags & TP_CT_F_REPLY_KEY))
		return NULL;
	*orig = rk->peer;
	e = tp_ct_get(orig);
	if (!e || (e->flags & TP_CT_F_REPLY_KEY) || tp_ct_expired(e, now) ||
	    !tp_ct_is_reply_key(e, key))
		return NULL;
	return e;
}

/*
 * Is @k taken by another live flow: its live flow entry, or the reply key
 * of a live flow other than @self's?  Writing over it would break that
 * flow (a tuple clash, as NAT without port allocation can make).  A flow
 * from the tailnet may take over a flow this side started on exactly its
 * reply tuple: that is the same connection seen from its other end (a
 * late reply of an expired flow, say), and the tailnet side's view, with
 * its translation, is the one that matters.
 */
static __always_inline bool tp_ct_key_live(const struct tp_ct_key *k,
					   const struct tp_ct_key *self,
					   bool may_take_egress, __u64 now)
{
	struct tp_ct_entry *e = tp_ct_get(k), *f;

	if (!e)
		return false;
	if (!(e->flags & TP_CT_F_REPLY_KEY))
		return !tp_ct_expired(e, now) &&
		       !(may_take_egress && (e->flags & TP_CT_F_EGRESS));
	if (tp_ct_key_eq(&e->peer, self))
		return false;
	f = tp_ct_get(&e->peer);
	return f && !(f->flags & TP_CT_F_REPLY_KEY) && !tp_ct_expired(f, now) &&
	       tp_ct_is_reply_key(f, k);
}

/* Is @k the reply tuple of a live flow (its valid reply-key entry)? */
static __always_inline bool tp_ct_reply_key_live(const struct tp_ct_key *k, __u64 now)
{
	struct tp_ct_key orig;

	return tp_ct_lookup_reply(k, now, &orig) != NULL;
}

/*
 * Delete the reply-key entry @rkey of the flow at @key, but only while it
 * still points back at that flow: another flow may have taken the tuple
 * since (a client port reused toward a second VIP of the same backend).
 */
static __always_inline void tp_ct_delete_reply_key(const struct tp_ct_key *rkey,
						   const struct tp_ct_key *key)
{
	struct tp_ct_entry *rk = tp_ct_get(rkey);

	if (rk && (rk->flags & TP_CT_F_REPLY_KEY) && tp_ct_key_eq(&rk->peer, key))
		tp_ct_del(rkey);
}

/*
 * @k is about to hold a reply key: if it holds a flow entry now (expired,
 * or a flow this side started that a flow from the tailnet takes over),
 * that flow goes, and with it its own reply key.
 */
static __always_inline void tp_ct_retire(const struct tp_ct_key *k)
{
	struct tp_ct_entry *cur = tp_ct_get(k);

	if (cur && !(cur->flags & TP_CT_F_REPLY_KEY))
		tp_ct_delete_reply_key(&cur->peer, k);
}

/*
 * Write the reply-key entry @rkey of the flow at @key unless it is there
 * already or another live flow holds the tuple.  @rk: scratch space.
 */
static __always_inline int tp_ct_write_reply_key(const struct tp_ct_key *rkey,
						 const struct tp_ct_key *key,
						 bool from_tailnet,
						 struct tp_ct_entry *rk, __u64 now)
{
	struct tp_ct_entry *cur = tp_ct_get(rkey);

	if (cur && (cur->flags & TP_CT_F_REPLY_KEY) && tp_ct_key_eq(&cur->peer, key))
		return 0;
	if (tp_ct_key_live(rkey, key, from_tailnet, now))
		return -TP_DROP_CT_CLASH;
	if (cur)
		tp_ct_retire(rkey);
	__builtin_memset(rk, 0, sizeof(*rk));
	rk->peer = *key;
	rk->flags = TP_CT_F_REPLY_KEY;
	return tp_ct_put(rkey, rk) ? -TP_DROP_CT_FULL : 0;
}

/* The reply tuple of a crossing flow as it comes in through its out zone. */
static __always_inline bool tp_ct_reply_there(const struct tp_ct_entry *e,
					      struct tp_ct_key *there)
{
	if (!e->out_zone || !e->peer.zone || e->out_zone == e->peer.zone)
		return false;
	*there = e->peer;
	there->zone = e->out_zone;
	return true;
}

/**
 * tp_ct_keep_reply_keys() - rebuild a flow's reply-key entries if the LRU
 * evicted them (a one-way flow's are never looked up, so they go first).
 * @key: the flow's original tuple.
 * @e:   its live flow entry.
 * @scr: scratch space.
 * @now: tp_now().
 *
 * At most once a second per flow: the check is one lookup, which also
 * keeps the entry warm in the LRU.
 */
static __always_inline void tp_ct_keep_reply_keys(const struct tp_ct_key *key,
						  struct tp_ct_entry *e,
						  struct tp_scratch *scr, __u64 now)
{
	__u16 sec = (__u16)(now / NSEC_PER_SEC);
	bool from_tailnet = !(e->flags & TP_CT_F_EGRESS);

	if (e->rk_check_s == sec)
		return;
	e->rk_check_s = sec;
	tp_ct_write_reply_key(&e->peer, key, from_tailnet, &scr->reply, now);
	if (tp_ct_reply_there(e, &scr->key))
		tp_ct_write_reply_key(&scr->key, key, false, &scr->reply, now);
}

/**
 * tp_ct_create() - write a new flow's two entries.
 * @key:   original tuple.
 * @e:     the flow entry, peer (the reply tuple) and NAT fields filled in.
 * @old_reply: reply tuple of the entry @key had before (expired or
 *             reopened), or NULL: that reply-key entry is removed when the
 *             reply tuple changes and it still points back at @key.
 * @rk:        scratch space for the reply-key entry.
 * @now:       tp_now().
 *
 * Return: 0, -TP_DROP_CT_CLASH when @key is the live reply tuple of
 * another flow or the reply tuple is another live flow's, or
 * -TP_DROP_CT_FULL when an entry cannot be written.
 */
static __always_inline int tp_ct_create(const struct tp_ct_key *key,
					struct tp_ct_entry *e,
					const struct tp_ct_key *old_reply,
					struct tp_ct_entry *rk, __u64 now)
{
	bool from_tailnet = !(e->flags & TP_CT_F_EGRESS);

	if (old_reply && !tp_ct_key_eq(old_reply, &e->peer))
		tp_ct_delete_reply_key(old_reply, key);

	if (tp_ct_key_live(&e->peer, key, from_tailnet, now) ||
	    tp_ct_reply_key_live(key, now))
		return -TP_DROP_CT_CLASH;
	tp_ct_retire(&e->peer);
	__builtin_memset(rk, 0, sizeof(*rk));
	rk->peer = *key;
	rk->flags = TP_CT_F_REPLY_KEY;
	if (tp_ct_put(key, e))
		return -TP_DROP_CT_FULL;
	if (tp_ct_put(&e->peer, rk)) {
		tp_ct_del(key);
		return -TP_DROP_CT_FULL;
	}
	return 0;
}

/* ---- fragments -------------------------------------------------------- */

static __always_inline void tp_frag_key(const struct tp_pkt *p,
					struct tp_frag_key *fk)
{
	fk->saddr = p->tuple.saddr;
	fk->daddr = p->tuple.daddr;
	fk->id = p->frag_id;
	fk->proto = p->frag_nh;
	fk->pad = 0;
	fk->zone = p->tuple.zone;
}

/**
 * tp_frag_track() - remember a first fragment's ports and upper-layer
 * protocol, or give a later fragment those of its first.
 * @p:   parsed packet, tuple.zone set.
 * @now: tp_now().
 *
 * Return: true if @p's tuple is complete (not a fragment, a first
 * fragment, or a later fragment whose first was seen); false for a later
 * fragment without a record.
 */
static __always_inline bool tp_frag_track(struct tp_pkt *p, __u64 now)
{
	struct tp_frag_key fk;
	struct tp_frag *f, nf = {};

	if (p->frag == TP_FRAG_NONE)
		return true;
	tp_frag_key(p, &fk);
	if (p->frag == TP_FRAG_FIRST) {
		nf.sport = p->tuple.sport;
		nf.dport = p->tuple.dport;
		nf.proto = p->tuple.proto;
		nf.seen_ns = now;
		bpf_map_update_elem(&tp_frags, &fk, &nf, BPF_ANY);
		return true;
	}
	f = bpf_map_lookup_elem(&tp_frags, &fk);
	if (!f || now - f->seen_ns >= (__u64)frag_timeout * NSEC_PER_SEC)
		return false;
	p->tuple.sport = f->sport;
	p->tuple.dport = f->dport;
	p->tuple.proto = f->proto;
	return true;
}

#endif /* TP_BPF_CT_H */
