/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking: TCP flows in one LRU hash, UDP and ICMP echo flows
 * in another of the same layout (tp_ct, tp_ct_any: see abi.h).
 *
 * A flow has one entry under its original tuple, which holds every piece
 * of state (the flow entry).  Its reply tuple is computed from it: the
 * original reversed, with the backend as source after DNAT.  A packet
 * looks up its own tuple (a flow entry: the original direction); when that
 * finds nothing, an expired flow or a reply-key entry, it is a reply if
 * the reversed tuple is a live flow whose reply tuple it is.  Replies a
 * reversed lookup cannot find (a DNAT flow's: backend -> client, and a
 * zone-crossing flow's in the zone it leaves to) get a reply-key entry
 * (TP_CT_F_REPLY_KEY) under their tuple, holding what the reply lacks of
 * the original tuple (abi.h); except a DNAT flow with TP_CT_F_RINDEX,
 * whose backend's frontends (tp_be_frontends, written by userspace) give
 * the candidates for the original tuple: tp_ct_rindex_owner().  Packets
 * in the original direction take one lookup; replies two or three, an
 * RINDEX flow's four or more (its own tuple, the reversed one, the index,
 * a candidate per frontend).  An entry past expires_s counts as
 * absent.  A full table evicts the least recently used entries; a
 * reply-key entry whose flow is gone, or whose flow no longer points back
 * at it, is ignored, and one that was evicted while its flow lives is
 * written again by the flow's next packet in the original direction
 * (checked at most once a second).
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

#include "tailplane/tuple.h"

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
	return bpf_map_lookup_elem(
		&tp_ct_tables,
		(const void *)&tp_ct_table_idx[k->proto != IPPROTO_TCP]);
}

static __always_inline struct tp_ct_entry *tp_ct_get(const struct tp_ct_key *k)
{
	void *t = tp_ct_table(k);

	return t ? bpf_map_lookup_elem(t, k) : NULL;
}

/*
 * The map helpers' results are taken as int: before Linux 6.4 the
 * verifier calls the map's own update/delete op, which returns int, and
 * the upper half of r0 is then zero, not the sign: an -EEXIST reads as
 * 4294967279 in a long (a port found taken would count as conntrack full).
 */
static __always_inline int tp_ct_put(const struct tp_ct_key *k,
				     const struct tp_ct_entry *e)
{
	void *t = tp_ct_table(k);

	return t ? (int)bpf_map_update_elem(t, k, e, BPF_ANY) : -ENOENT;
}

/* Write @e under @k only if nothing is there: 0, -EEXIST, or another error. */
static __always_inline int tp_ct_insert(const struct tp_ct_key *k,
					const struct tp_ct_entry *e)
{
	void *t = tp_ct_table(k);

	return t ? (int)bpf_map_update_elem(t, k, e, BPF_NOEXIST) : -ENOENT;
}

static __always_inline int tp_ct_del(const struct tp_ct_key *k)
{
	void *t = tp_ct_table(k);

	return t ? (int)bpf_map_delete_elem(t, k) : -ENOENT;
}

static __always_inline bool tp_ct_key_eq(const struct tp_ct_key *a,
					 const struct tp_ct_key *b)
{
	return tp_addr_eq(&a->saddr, &b->saddr) &&
	       tp_addr_eq(&a->daddr, &b->daddr) && a->sport == b->sport &&
	       a->dport == b->dport && a->proto == b->proto &&
	       a->zone == b->zone;
}

/* CLOCK_MONOTONIC second of @now (ns), the unit of expires_s and created_s. */
static __always_inline __u32 tp_ct_sec(__u64 now)
{
	return TP_CT_SEC(now);
}

static __always_inline bool tp_ct_expired(const struct tp_ct_entry *e,
					  __u64 now)
{
	return tp_ct_sec(now) >= e->expires_s;
}

/* The datapath configuration (tp_config's one entry), or NULL. */
static __always_inline const struct tp_config *tp_ct_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tp_config, &zero);
}

/**
 * tp_ct_masq_addr() - the node's masquerade address of @zone's tailnet
 * interface for a family (tp_masq), or NULL when it has none.
 * @zone: the zone.
 * @v4:   IPv4, else IPv6.
 */
static __always_inline const struct tp_addr *tp_ct_masq_addr(__u32 zone,
							     bool v4)
{
	const struct tp_masq *m = bpf_map_lookup_elem(&tp_masq, &zone);
	const struct tp_addr *a;

	if (!m)
		return NULL;
	a = v4 ? &m->addr4 : &m->addr6;
	return a->w[0] | a->w[1] | a->w[2] | a->w[3] ? a : NULL;
}

/*
 * The address a SNAT or masqueraded flow's packets leave with (NULL: none
 * now).  A masqueraded service flow (a cross-tailnet service: DNAT and
 * masquerade) holds its backend in nat_addr, and takes the address of the
 * zone it crosses to from tp_masq on each packet (abi.h).
 */
static __always_inline const struct tp_addr *
tp_ct_flow_snat_addr(const struct tp_ct_key *orig, const struct tp_ct_entry *e)
{
	if (tp_ct_is_masq(e) && (e->flags & TP_CT_F_DNAT))
		return tp_ct_masq_addr(e->out_zone,
				       tp_tuple_is_v4(&orig->saddr));
	return tp_ct_snat_addr(orig, e, tp_ct_cfg());
}

/* tp_ct_reply_tuple() with the datapath's view of the flow's address. */
static __always_inline bool tp_ct_dp_reply_tuple(const struct tp_ct_key *orig,
						 const struct tp_ct_entry *e,
						 struct tp_ct_key *r)
{
	return tp_ct_reply_tuple_via(orig, e, tp_ct_flow_snat_addr(orig, e), r);
}

/*
 * Is @rk under @rkey a reply-key entry pointing at the flow at @key?  A
 * SNAT reply key holds the client itself: its tuple has the node there.
 */
static __always_inline bool tp_ct_rk_points_at(const struct tp_ct_key *rkey,
					       const struct tp_ct_entry *rk,
					       const struct tp_ct_key *key)
{
	bool snat = rk->flags & TP_CT_F_SNAT;

	return (rk->flags & TP_CT_F_REPLY_KEY) &&
	       tp_addr_eq(&key->saddr, snat ? &rk->orig_saddr : &rkey->daddr) &&
	       tp_addr_eq(&key->daddr, &rk->orig_daddr) &&
	       key->sport == (snat ? rk->orig_sport : rkey->dport) &&
	       key->dport == rk->orig_dport && key->proto == rkey->proto &&
	       key->zone == rk->orig_zone;
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
 * one, so a peer cannot fill the table with six-hour entries.  Answered
 * means a reply byte counted: the reply packet count is 32 bits and
 * wraps to 0.
 */
static __always_inline __u32 tp_ct_timeout(const struct tp_ct_entry *e,
					   __u8 proto)
{
	__u32 t = tp_ct_state_timeout(e->state, proto);

	if (proto == IPPROTO_TCP && !e->bytes[TP_CT_DIR_REPLY] &&
	    t > ct_timeout_syn)
		t = ct_timeout_syn;
	return t;
}

/* TCP state after a packet with @flags in direction @dir. */
static __always_inline __u8 tp_ct_tcp_next(const struct tp_ct_entry *e, int dir,
					   __u8 flags)
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
	    (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) ==
		    (TCP_FLAG_SYN | TCP_FLAG_ACK))
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
	__u8 proto = p->tuple.proto, state = e->state, flags;
	__u32 expires;

	/*
	 * The entry is shared by both directions' CPUs: a field is written
	 * only when it changes (state, flags: on a handshake or close;
	 * expiry: once a second), so an established flow's packets write
	 * nothing but their counters.
	 *
	 * The counters are plain adds, not locked ones: the two locked adds
	 * were about 12 ns of an established packet's 70 (bench_prog,
	 * 2026-12-04).  They are read for display only, and one direction's
	 * packets of one flow rarely run on two CPUs at once (a tunnel
	 * delivers a peer's packets in order, a socket sends under its lock);
	 * when they do, a count can be lost, never made.  bytes[REPLY] is
	 * also the "answered" mark of tp_ct_timeout(): a lost add leaves it
	 * nonzero all the same.
	 */
	if (proto == IPPROTO_TCP) {
		/* later fragments carry no flags */
		state = tp_ct_tcp_next(e, dir, p->tcp_flags);
		flags = e->tcp_flags[dir & 1] | p->tcp_flags;
		if (flags != e->tcp_flags[dir & 1])
			e->tcp_flags[dir & 1] = flags;
	} else if (dir == TP_CT_DIR_REPLY) {
		state = TP_CT_REPLIED;
	}
	if (state != e->state)
		e->state = state;
	e->packets[dir & 1] += 1;
	e->bytes[dir & 1] += bytes;
	expires = tp_ct_sec(now) + tp_ct_timeout(e, proto);
	if (expires != e->expires_s)
		e->expires_s = expires;
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
 * tp_ct_is_echo_request() - is this packet an ICMP echo request?
 * @p: the parsed packet.
 *
 * Echo keys are (id, 0) for a request and (0, id) for a reply, so a
 * request with id 0 has the tuple of the reply to the other side's
 * request with id 0.  A request is never a reply (Linux conntrack keeps
 * the type in its tuple for the same reason): it is never looked up as
 * one.
 */
static __always_inline bool tp_ct_is_echo_request(const struct tp_pkt *p)
{
	return p->frag != TP_FRAG_LATER &&
	       p->tuple.proto == (p->ipv6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP) &&
	       p->icmp_type == (p->ipv6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO);
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
 * Is @key a reply tuple of masqueraded flow @e (original tuple @orig)?
 * Its replies come from the tailnet of its own zone (a flow this side
 * started) or of the zone it crossed to, to the address and port it left
 * with.  A crossing's replies are restored whole as they come in, so in
 * the zone it came from its reply tuple is its original reversed
 * (tp_to_tailnet finds them there by the reversed lookup).
 */
static __always_inline bool tp_ct_is_masq_reply(const struct tp_ct_entry *e,
						const struct tp_ct_key *orig,
						const struct tp_ct_key *key)
{
	bool dnat = e->flags & TP_CT_F_DNAT;
	bool cross = !(e->flags & TP_CT_F_EGRESS);
	const struct tp_addr *addr;

	if (key->proto != orig->proto)
		return false;
	if (cross && key->zone == orig->zone)
		return tp_addr_eq(&key->saddr, &orig->daddr) &&
		       tp_addr_eq(&key->daddr, &orig->saddr) &&
		       key->sport == orig->dport && key->dport == orig->sport;
	if (key->zone != (cross ? e->out_zone : orig->zone))
		return false;
	addr = tp_ct_flow_snat_addr(orig, e);
	return addr &&
	       tp_addr_eq(&key->saddr, dnat ? &e->nat_addr : &orig->daddr) &&
	       tp_addr_eq(&key->daddr, addr) &&
	       key->sport == (dnat ? e->nat_port : orig->dport) &&
	       key->dport == e->snat_port;
}

/*
 * Is @key a reply tuple of flow @e (original tuple @orig): its reply
 * tuple, or, for a flow that crosses into another zone, the same tuple in
 * the zone it leaves to (where its replies come in)?  Compared field by
 * field: the reply tuple is never built for this.
 */
static __always_inline bool tp_ct_is_reply_key(const struct tp_ct_entry *e,
					       const struct tp_ct_key *orig,
					       const struct tp_ct_key *key)
{
	bool dnat = e->flags & TP_CT_F_DNAT;

	/*
	 * A SNAT flow's replies come from the cluster side (zone 0) to the
	 * node's port; the node's address is the only tuple field a lookup
	 * by that tuple did not already pin, and it is the configuration's.
	 * A masqueraded flow's come from the tailnet of its own zone to the
	 * address and port it left with.
	 */
	if (tp_ct_is_masq(e))
		return tp_ct_is_masq_reply(e, orig, key);
	if (e->flags & TP_CT_F_SNAT)
		return !key->zone && tp_addr_eq(&key->saddr, &e->nat_addr) &&
		       key->sport == e->nat_port &&
		       key->dport == e->snat_port && key->proto == orig->proto;
	if (key->zone != orig->zone &&
	    (!e->out_zone || key->zone != e->out_zone))
		return false;
	return tp_addr_eq(&key->saddr, dnat ? &e->nat_addr : &orig->daddr) &&
	       tp_addr_eq(&key->daddr, &orig->saddr) &&
	       key->sport == (dnat ? e->nat_port : orig->dport) &&
	       key->dport == orig->sport && key->proto == orig->proto;
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
static __always_inline bool
tp_ct_replies_from_tailnet(const struct tp_ct_entry *e, __u16 zone)
{
	return (e->flags & TP_CT_F_EGRESS) ||
	       (e->out_zone && e->out_zone == zone);
}

/*
 * The body of tp_ct_rindex_owner() (which see), inlined where one more
 * call frame would pass Linux 6.1's 512 bytes of combined stack (the
 * SNAT port tries are five frames deep already) or where the owner's
 * entry is wanted (tp_fast_egress()).  @skip_self: a candidate that is
 * scr->okey (the flow a clash check is made for) is not looked up; it
 * would be no other flow.
 * Return: the owner's entry, its original tuple in scr->riorig, or NULL.
 */
static __always_inline struct tp_ct_entry *
tp_ct_rindex_find(struct tp_scratch *scr, const struct tp_ct_key *key_arg,
		  __u64 now, bool skip_self)
{
	const __u32 want = TP_CT_F_DNAT | TP_CT_F_RINDEX;
	const __u32 flags =
		want | TP_CT_F_REPLY_KEY | TP_CT_F_SNAT | TP_CT_F_MASQ;
	const struct tp_be_frontends *bf;
	const struct tp_svc_key *fe;
	struct tp_ct_entry *e;
	int i;

	__builtin_memcpy(&scr->rikey, key_arg, sizeof(scr->rikey));
	scr->ribe.addr = scr->rikey.saddr;
	scr->ribe.port = scr->rikey.sport;
	scr->ribe.proto = scr->rikey.proto;
	scr->ribe.pad = 0;
	bf = bpf_map_lookup_elem(&tp_be_frontends, &scr->ribe);
	if (!bf)
		return NULL;
	for (i = 0; i < TP_BE_FRONTENDS; i++) {
		fe = &bf->fe[i];
		if (fe->proto != scr->rikey.proto)
			continue; /* an empty slot's is 0 */
		scr->riorig.saddr = scr->rikey.daddr;
		scr->riorig.daddr = fe->vip;
		scr->riorig.sport = scr->rikey.dport;
		scr->riorig.dport = fe->port;
		scr->riorig.proto = scr->rikey.proto;
		scr->riorig.pad = 0;
		scr->riorig.zone = scr->rikey.zone;
		/*
		 * tp_ct_rindex_taken() asks for a flow other than this
		 * one: its own tuple's lookup (a new flow's: one more miss
		 * into the table) would answer nothing it wants
		 */
		if (skip_self && tp_ct_key_eq(&scr->riorig, &scr->okey))
			continue;
		e = tp_ct_get(&scr->riorig);
		/*
		 * tp_ct_is_reply_key() for such a flow (no SNAT, no
		 * masquerade, no crossing): the candidate has the client
		 * side and zone of the reply by construction, so the
		 * backend is what is left to compare
		 */
		if (e && (e->flags & flags) == want && !tp_ct_expired(e, now) &&
		    tp_addr_eq(&e->nat_addr, &scr->rikey.saddr) &&
		    e->nat_port == scr->rikey.sport)
			return e;
	}
	return NULL;
}

/**
 * tp_ct_rindex_owner() - is a tuple the reply tuple of a live DNAT flow
 * that has no reply-key entry (TP_CT_F_RINDEX)?
 * @key_arg: the tuple (backend -> client, in the client's zone).
 * @now:     tp_now().
 *
 * Such a reply names neither the VIP nor the service port.
 * tp_be_frontends[its source: the backend tuple] lists the frontends
 * whose flows may reach that backend; each gives one candidate original
 * tuple, client -> frontend in the same zone, and a live RINDEX flow
 * there whose reply tuple is @key_arg owns it.  At most one can: a new
 * flow whose reply tuple a live flow holds is a clash.
 *
 * A global function, its loop verified once.  It keeps its copy of
 * @key_arg, the backend tuple and the candidate in scr->rikey,
 * scr->ribe and scr->riorig, which no caller uses: callers may pass any
 * other scratch field.  @skip_self: the candidate scr->okey is passed
 * over (tp_ct_rindex_find()).
 *
 * Return: 1 with the flow's original tuple in scr->riorig, else 0.
 */
__noinline int tp_ct_rindex_owner(const struct tp_ct_key *key_arg, __u64 now,
				  bool skip_self)
{
	struct tp_scratch *scr;

	if (!key_arg)
		return 0; /* a global function's pointers may be NULL */
	scr = tp_scratch_get();
	return scr && tp_ct_rindex_find(scr, key_arg, now, skip_self);
}

/*
 * The live RINDEX flow whose reply tuple @key is (tp_ct_rindex_owner()),
 * its original tuple in @orig; NULL when none.  The owner's entry is
 * looked up again: a global function returns no pointer.
 */
static __always_inline struct tp_ct_entry *
tp_ct_rindex_flow(const struct tp_ct_key *key, __u64 now,
		  struct tp_ct_key *orig)
{
	struct tp_scratch *scr;
	struct tp_ct_entry *e;

	if (!tp_ct_rindex_owner(key, now, false))
		return NULL;
	scr = tp_scratch_get();
	if (!scr)
		return NULL;
	*orig = scr->riorig;
	e = tp_ct_get(orig);
	return e && !(e->flags & TP_CT_F_REPLY_KEY) ? e : NULL;
}

/*
 * Is @k the reply tuple of a live RINDEX flow other than the one at
 * @self?  (tp_ct_key_live(): such a flow has no entry at @k.)  @deep:
 * the caller is as many frames deep as 6.1 allows (the SNAT port
 * tries): the search is inlined, not called.  Every caller's @self is
 * its global function's copy of its key, scr->okey: the search passes
 * over that candidate without looking it up.
 */
static __always_inline bool tp_ct_rindex_taken(const struct tp_ct_key *k,
					       const struct tp_ct_key *self,
					       __u64 now, bool deep)
{
	struct tp_scratch *scr = tp_scratch_get();

	if (!scr)
		return false;
	if (deep ? !tp_ct_rindex_find(scr, k, now, true)
		 : !tp_ct_rindex_owner(k, now, true))
		return false;
	return !tp_ct_key_eq(&scr->riorig, self);
}

/*
 * Does tp_be_frontends list the frontend of DNAT flow @e (original tuple
 * @key) for its backend tuple?  TP_BACKEND_F_INDEXED says userspace put
 * it there; an entry deleted by hand, or a map made again empty, leaves
 * the flag without it, and a flow without a reply key whose replies
 * nothing finds.  @bk: scratch for the backend tuple.
 */
static __always_inline bool tp_ct_be_lists(const struct tp_ct_key *key,
					   const struct tp_ct_entry *e,
					   struct tp_be_key *bk)
{
	const struct tp_be_frontends *bf;
	const struct tp_svc_key *fe;
	int i;

	bk->addr = e->nat_addr;
	bk->port = e->nat_port;
	bk->proto = key->proto;
	bk->pad = 0;
	bf = bpf_map_lookup_elem(&tp_be_frontends, bk);
	if (!bf)
		return false;
	for (i = 0; i < TP_BE_FRONTENDS; i++) {
		fe = &bf->fe[i];
		if (fe->proto == key->proto && fe->port == key->dport &&
		    tp_addr_eq(&fe->vip, &key->daddr))
			return true;
	}
	return false;
}

/**
 * tp_ct_reply_of() - find the flow a packet is a reply of, given what its
 * own tuple holds.
 * @key:  the packet's tuple.
 * @cur:  the entry under @key (tp_ct_get()), or NULL.
 * @now:  tp_now().
 * @orig: set to the candidate flow's original tuple.
 *
 * A live flow entry under @key means the packet is that flow's, no reply.
 * A reply-key entry names the flow; anything else (nothing, an expired
 * flow) leaves the reversed tuple, an untranslated flow's.  When that
 * candidate is not the owner, a DNAT flow without a reply key
 * (TP_CT_F_RINDEX) may be, found through tp_be_frontends.
 *
 * Return: the live flow entry whose reply tuple is @key, or NULL.
 */
static __always_inline struct tp_ct_entry *
tp_ct_reply_of(const struct tp_ct_key *key, const struct tp_ct_entry *cur,
	       __u64 now, struct tp_ct_key *orig)
{
	struct tp_ct_entry *e;

	if (cur && (cur->flags & TP_CT_F_REPLY_KEY))
		tp_ct_rk_orig(key, cur, orig);
	else if (cur && !tp_ct_expired(cur, now))
		return NULL;
	else
		tp_ct_reverse(key, orig);
	e = tp_ct_get(orig);
	if (e && !(e->flags & TP_CT_F_REPLY_KEY) && !tp_ct_expired(e, now) &&
	    tp_ct_is_reply_key(e, orig, key))
		return e;
	return tp_ct_rindex_flow(key, now, orig);
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
tp_ct_lookup_reply(const struct tp_ct_key *key, __u64 now,
		   struct tp_ct_key *orig)
{
	return tp_ct_reply_of(key, tp_ct_get(key), now, orig);
}

/**
 * tp_ct_snat_flow_of() - the SNAT or masqueraded flow whose SNAT reply
 * key @rkey is, if a live one is.
 * @rkey: a reply tuple (zone set).
 * @now:  tp_now().
 * @orig: set to the flow's original tuple.
 *
 * The entry under @rkey must be a reply key with TP_CT_F_SNAT and its flow
 * must point back at it.
 *
 * Return: the live flow entry, or NULL.
 */
static __always_inline struct tp_ct_entry *
tp_ct_snat_flow_of(const struct tp_ct_key *rkey, __u64 now,
		   struct tp_ct_key *orig)
{
	const __u32 want = TP_CT_F_REPLY_KEY | TP_CT_F_SNAT;
	struct tp_ct_entry *rk = tp_ct_get(rkey), *e;

	if (!rk || (rk->flags & want) != want)
		return NULL;
	tp_ct_rk_orig(rkey, rk, orig);
	e = tp_ct_get(orig);
	if (!e || (e->flags & TP_CT_F_REPLY_KEY) || tp_ct_expired(e, now) ||
	    !tp_ct_is_reply_key(e, orig, rkey))
		return NULL;
	return e;
}

/*
 * Is @k taken by another live flow: its live flow entry, or a reply tuple
 * of a live flow other than @self's (by its reply-key entry, for an
 * untranslated flow by its flow entry under the reversed tuple, for a
 * DNAT flow without a reply key through tp_be_frontends)?  Writing
 * over it would break that flow (a tuple clash, as NAT without port
 * allocation can make).  A flow from the tailnet may take over a flow this
 * side started on exactly its reply tuple: that is the same connection
 * seen from its other end (a late reply of an expired flow, say), and the
 * tailnet side's view, with its translation, is the one that matters.
 * @other: scratch for the other flow's tuple.
 * @deep:  the caller may not call one more global function (Linux 6.1's
 *         combined stack: tp_ct_rindex_taken()).
 * @held:  set when @k holds an entry (NULL: not asked).
 */
static __always_inline bool tp_ct_key_taken(const struct tp_ct_key *k,
					    const struct tp_ct_key *self,
					    bool may_take_egress, __u64 now,
					    struct tp_ct_key *other, bool deep,
					    bool *held)
{
	struct tp_ct_entry *cur = tp_ct_get(k), *f;

	if (held)
		*held = cur != NULL;
	if (cur && !(cur->flags & TP_CT_F_REPLY_KEY))
		return !tp_ct_expired(cur, now) &&
		       !(may_take_egress && (cur->flags & TP_CT_F_EGRESS));
	if (cur)
		tp_ct_rk_orig(k, cur, other);
	else
		tp_ct_reverse(k, other);
	if (!tp_ct_key_eq(other, self)) {
		f = tp_ct_get(other);
		if (f && !(f->flags & TP_CT_F_REPLY_KEY) &&
		    !tp_ct_expired(f, now) && tp_ct_is_reply_key(f, other, k))
			return true;
	}
	return tp_ct_rindex_taken(k, self, now, deep);
}

static __always_inline bool tp_ct_key_live(const struct tp_ct_key *k,
					   const struct tp_ct_key *self,
					   bool may_take_egress, __u64 now,
					   struct tp_ct_key *other, bool deep)
{
	return tp_ct_key_taken(k, self, may_take_egress, now, other, deep,
			       NULL);
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

	if (rk && tp_ct_rk_points_at(rkey, rk, key))
		tp_ct_del(rkey);
}

/*
 * Delete the reply-key entries of the flow entry @e under @key that still
 * point back at it.  @buf: scratch for the reply tuple.
 */
static __always_inline void tp_ct_drop_reply_keys(const struct tp_ct_key *key,
						  const struct tp_ct_entry *e,
						  struct tp_ct_key *buf)
{
	/*
	 * a masqueraded flow has a reply key too (the SNAT kind), no DNAT;
	 * an RINDEX flow has none
	 */
	bool dnat = (e->flags & (TP_CT_F_DNAT | TP_CT_F_SNAT)) &&
		    !(e->flags & TP_CT_F_RINDEX),
	     cross = tp_ct_cross_key(key, e);
	__u16 out_zone = e->out_zone;

	if (!dnat && !cross)
		return;
	/* a SNAT flow's key needs the node's address; none: nothing to find */
	if (tp_ct_dp_reply_tuple(key, e, buf) && dnat)
		tp_ct_delete_reply_key(buf, key);
	if (cross) {
		tp_ct_reply_tuple(key, e, NULL, buf);
		buf->zone = out_zone;
		tp_ct_delete_reply_key(buf, key);
	}
}

/*
 * @k is about to hold a reply key or to be a new flow's reply tuple: if it
 * holds a flow entry now (expired, or a flow this side started that a flow
 * from the tailnet takes over), that flow goes, and with it its own reply
 * keys.  @buf: scratch.
 */
static __always_inline void tp_ct_retire(const struct tp_ct_key *k,
					 struct tp_ct_key *buf)
{
	struct tp_ct_entry *cur = tp_ct_get(k);

	if (cur && !(cur->flags & TP_CT_F_REPLY_KEY))
		tp_ct_drop_reply_keys(k, cur, buf);
}

/* @rk: the reply-key entry of the flow at @key (@snat: its SNAT key). */
static __always_inline void tp_ct_reply_entry(const struct tp_ct_key *key,
					      bool snat, struct tp_ct_entry *rk)
{
	__builtin_memset(rk, 0, sizeof(*rk));
	rk->flags = TP_CT_F_REPLY_KEY;
	rk->orig_daddr = key->daddr;
	rk->orig_dport = key->dport;
	rk->orig_zone = key->zone;
	if (snat) {
		rk->flags |= TP_CT_F_SNAT;
		rk->orig_saddr = key->saddr;
		rk->orig_sport = key->sport;
	}
}

/*
 * A global function's pointer arguments are plain memory to the
 * verifier, and kernels before 6.3 or so refuse plain memory as a map
 * key or value: the functions below take the per-CPU scratch themselves
 * (the caller's, the same memory on this CPU) and copy their key there.
 */
static __always_inline struct tp_scratch *
tp_ct_fn_scratch(const struct tp_ct_key *key)
{
	struct tp_scratch *scr;

	if (!key)
		return NULL; /* a global function's pointers may be NULL */
	scr = tp_scratch_get();
	if (scr)
		__builtin_memcpy(&scr->okey, key, sizeof(scr->okey));
	return scr;
}

/*
 * Write the reply-key entry of the flow at @key_arg under scr->rkey
 * (which the caller set) unless it is there already or another live flow
 * holds the tuple; @snat: the flow's SNAT key, which holds the client.
 * A global function, verified once (scr->reply and scr->rev are its
 * scratch, scr->okey its copy of @key_arg).
 */
__noinline int tp_ct_write_reply_key(const struct tp_ct_key *key_arg,
				     bool from_tailnet, bool snat, __u64 now)
{
	struct tp_scratch *scr = tp_ct_fn_scratch(key_arg);
	const struct tp_ct_key *rkey, *key;
	struct tp_ct_entry *cur, *rk;
	int ret;

	if (!scr)
		return -TP_DROP_INTERNAL;
	key = &scr->okey;
	rkey = &scr->rkey;
	rk = &scr->reply;
	cur = tp_ct_get(rkey);
	if (cur && tp_ct_rk_points_at(rkey, cur, key))
		return 0;
	if (tp_ct_key_live(rkey, key, from_tailnet, now, &scr->rev, false))
		return -TP_DROP_CT_CLASH;
	if (cur)
		tp_ct_retire(rkey, &scr->rev);
	tp_ct_reply_entry(key, snat, rk);
	if (snat) {
		/*
		 * A SNAT key is the port's reservation: inserted, as
		 * tp_ct_snat_reserve() does, so that a flow reserving the
		 * port meanwhile keeps it and this one learns it lost it.
		 */
		if (cur)
			tp_ct_del(rkey);
		ret = tp_ct_insert(rkey, rk);
		if (!ret)
			return 0;
		return ret == -EEXIST ? -TP_DROP_CT_CLASH : -TP_DROP_CT_FULL;
	}
	return tp_ct_put(rkey, rk) ? -TP_DROP_CT_FULL : 0;
}

/*
 * Has flow @e at @key reply keys to check on this packet?  Those of a
 * keyed DNAT, SNAT, crossing or indexed flow, once a second; a SNAT
 * flow's on every packet (tp_ct_keep_reply_keys()).
 */
static __always_inline bool tp_ct_reply_keys_due(const struct tp_ct_key *key,
						 const struct tp_ct_entry *e,
						 __u64 now)
{
	bool dnat = (e->flags & (TP_CT_F_DNAT | TP_CT_F_SNAT)) &&
		    !(e->flags & TP_CT_F_RINDEX);

	if (!dnat && !tp_ct_cross_key(key, e) && !(e->flags & TP_CT_F_RINDEX))
		return false;
	return e->rk_check_s != (__u8)tp_ct_sec(now) ||
	       (e->flags & TP_CT_F_SNAT);
}

/**
 * tp_ct_keep_reply_keys() - rebuild a flow's reply-key entries if the LRU
 * evicted them (a one-way flow's are never looked up, so they go first).
 * @key: the flow's original tuple.
 * @e:   its live flow entry.
 * @scr: scratch space.
 * @now: tp_now().
 *
 * At most once a second per flow, and only for flows that have reply-key
 * entries (DNAT, zone crossing): the check is one lookup, which also
 * keeps the entry warm in the LRU.  A DNAT flow without one
 * (TP_CT_F_RINDEX) checks that tp_be_frontends still lists its frontend,
 * and takes a reply key when not.  A SNAT flow's key is checked on every
 * packet: it is the reservation of the flow's port, and while it is
 * evicted another flow may reserve that port; a packet that left with it
 * then would share the backend's tuple with that flow, whose client would
 * get the answers.
 *
 * Return: 0, or for a SNAT flow whose key another live flow holds now (it
 * lost its port) or that cannot be written, a negative drop reason.
 */
static __always_inline int tp_ct_keep_reply_keys(const struct tp_ct_key *key,
						 struct tp_ct_entry *e,
						 struct tp_scratch *scr,
						 __u64 now)
{
	__u8 sec = (__u8)tp_ct_sec(now);
	bool from_tailnet = !(e->flags & TP_CT_F_EGRESS);
	/* keyed: DNAT but RINDEX, SNAT or masquerade (SNAT without DNAT) */
	bool dnat = (e->flags & (TP_CT_F_DNAT | TP_CT_F_SNAT)) &&
		    !(e->flags & TP_CT_F_RINDEX),
	     cross = tp_ct_cross_key(key, e);
	bool snat = e->flags & TP_CT_F_SNAT;
	bool rindex = e->flags & TP_CT_F_RINDEX;
	int ret = 0;

	if (!tp_ct_reply_keys_due(key, e, now))
		return 0;
	e->rk_check_s = sec;
	/*
	 * An RINDEX flow whose frontend left the index (deleted by hand,
	 * the map made again) takes a reply key, as an evicted one is
	 * written again, and is a keyed DNAT flow from then on.  Inline,
	 * not a global function of its own: that would be one more frame
	 * on a path Linux 6.1's 512 bytes of combined stack leave no room
	 * for (tp_ct_write_reply_key() -> tp_ct_rindex_owner()).
	 */
	if (rindex) {
		if (!tp_ct_be_lists(key, e, &scr->ribe) &&
		    tp_ct_dp_reply_tuple(key, e, &scr->rkey) &&
		    !tp_ct_write_reply_key(key, from_tailnet, false, now))
			e->flags &= (__u8)~TP_CT_F_RINDEX;
		return 0;
	}
	if (tp_ct_dp_reply_tuple(key, e, &scr->rkey) && dnat)
		ret = tp_ct_write_reply_key(key, from_tailnet, snat, now);
	if (cross) {
		tp_ct_reply_tuple(key, e, NULL, &scr->rkey);
		scr->rkey.zone = e->out_zone;
		tp_ct_write_reply_key(key, false, false, now);
	}
	return snat ? ret : 0;
}

#ifndef TP_SNAT_TRIES
#define TP_SNAT_TRIES 32 /* ports tried per new SNAT flow */
#endif

/*
 * tp_ct_snat_reclaim() and tp_ct_snat_rev_taken() return -EEXIST beside
 * negative drop reasons; TP_DROP_NO_SNAT_ADDR is EEXIST's number, which
 * is why tp_ct_snat_try() returns its drop reasons positive.
 */
_Static_assert(TP_DROP_INTERNAL != EEXIST && TP_DROP_CT_FULL != EEXIST,
	       "a drop reason returned beside -EEXIST must not equal it");

/*
 * The reply key scr->rkey a new SNAT flow (at @key_arg) tries is taken:
 * if the flow it points at is gone, expired or points elsewhere, take it
 * over (delete, then insert scr->reply with BPF_NOEXIST, so that of two
 * flows reclaiming one key at once one gets it).  A global function, out
 * of tp_ct_snat_reserve()'s loop: verified once, not once per try.
 * Return: 0 when taken, -EEXIST when live (or lost), another error else.
 */
__noinline int tp_ct_snat_reclaim(const struct tp_ct_key *key_arg, __u64 now)
{
	struct tp_scratch *scr = tp_ct_fn_scratch(key_arg);

	if (!scr)
		return -TP_DROP_INTERNAL;
	if (tp_ct_key_live(&scr->rkey, &scr->okey, false, now, &scr->rev, true))
		return -EEXIST;
	tp_ct_del(&scr->rkey);
	return tp_ct_insert(&scr->rkey, &scr->reply);
}

/*
 * Is the reply key scr->rkey a new SNAT or masqueraded flow tries the
 * reply tuple of a live untranslated flow under its reversed tuple (this
 * host's own flow from its tailnet address and a port, or echo id, of
 * the range), or of a live DNAT flow without a reply key?  That flow has no entry at the tuple, so the insert would
 * succeed, and both flows would leave with one tuple: the port is taken.
 * A global function, out of tp_ct_snat_reserve()'s loop.
 * Return: -EEXIST when taken, 0 when free.
 */
__noinline int tp_ct_snat_rev_taken(const struct tp_ct_key *key_arg, __u64 now)
{
	struct tp_scratch *scr = tp_ct_fn_scratch(key_arg);
	struct tp_ct_entry *f;

	if (!scr)
		return -TP_DROP_INTERNAL;
	tp_ct_reverse(&scr->rkey, &scr->rev);
	f = tp_ct_get(&scr->rev);
	if (f && !(f->flags & TP_CT_F_REPLY_KEY) && !tp_ct_expired(f, now) &&
	    tp_ct_is_reply_key(f, &scr->rev, &scr->rkey))
		return -EEXIST;
	/* a DNAT flow without a reply key holds its reply tuple the same way */
	return tp_ct_rindex_find(scr, &scr->rkey, now, false) ? -EEXIST : 0;
}

/*
 * One try of tp_ct_snat_reserve() with @port (host order): 0 when the
 * flow took it, -EEXIST when a live flow holds it, another -errno when
 * the reply key cannot be written; a (positive) drop reason to stop at
 * once: no SNAT address, the flow entry cannot be written.  A global
 * function: the verifier walks the loop's 32 tries over a call, not over
 * 32 copies of this body.
 */
__noinline int tp_ct_snat_try(const struct tp_ct_key *key_arg, __u64 now,
			      __u16 port)
{
	struct tp_scratch *scr = tp_ct_fn_scratch(key_arg);
	const struct tp_ct_key *key;
	struct tp_ct_entry *e;
	int ret;

	if (!scr)
		return TP_DROP_INTERNAL;
	key = &scr->okey;
	e = &scr->flow;
	e->snat_port = bpf_htons(port);
	if (!tp_ct_dp_reply_tuple(key, e, &scr->rkey))
		return TP_DROP_NO_SNAT_ADDR;
	if (tp_ct_put(key, e))
		return TP_DROP_CT_FULL;
	ret = tp_ct_snat_rev_taken(key, now);
	if (ret == -EEXIST)
		return ret;
	ret = tp_ct_insert(&scr->rkey, &scr->reply);
	if (ret == -EEXIST)
		ret = tp_ct_snat_reclaim(key, now);
	return ret;
}

/**
 * tp_ct_snat_reserve() - give a new SNAT flow a port and its reply key.
 * @key_arg: the flow's original tuple.
 * @now:     tp_now().
 *
 * The flow entry is scr->flow (TP_CT_F_DNAT | TP_CT_F_SNAT, backend set).
 * Each try takes a random port of the configured range (the defaults when
 * the range is unset or inverted; a range of at most TP_SNAT_TRIES ports
 * is walked from a random start, so a free port is always found) and
 * inserts the reply key (backend ->
 * node:port, zone 0) with BPF_NOEXIST: that insert is the reservation, so
 * two flows never share a port toward one backend.  The flow entry is
 * written first, pointing at the port it tries, so that anyone who finds
 * the reply key finds its flow pointing back and leaves it alone.  A
 * reply key whose flow is gone, expired or points elsewhere is dead: the
 * try deletes it and inserts again with BPF_NOEXIST (of two flows
 * reclaiming one port at once, one gets it).  A tuple no entry holds but
 * whose reverse is a live untranslated flow with that reply tuple (this
 * host's own flow from its tailnet address) is taken too: that flow's
 * replies are found by reversing.  scr->flow.snat_port holds
 * the port taken.  A global function: verified once, with its loop.
 *
 * Return: 0, -TP_DROP_NO_SNAT_ADDR without a SNAT address of the family,
 * -TP_DROP_SNAT_EXHAUSTED when every try found a live flow's key (the
 * flow entry is deleted again), -TP_DROP_CT_FULL when an entry cannot be
 * written.
 */
__noinline int tp_ct_snat_reserve(const struct tp_ct_key *key_arg, __u64 now)
{
	struct tp_scratch *scr = tp_ct_fn_scratch(key_arg);
	const struct tp_config *cfg = tp_ct_cfg();
	const struct tp_ct_key *key;
	__u32 lo, hi, span, start, off, i;
	int ret = -EEXIST;

	if (!scr || !cfg)
		return -TP_DROP_INTERNAL;
	key = &scr->okey;
	lo = cfg->snat_port_min;
	hi = cfg->snat_port_max;
	if (!lo || hi < lo) {
		lo = TP_SNAT_PORT_MIN;
		hi = TP_SNAT_PORT_MAX;
	}
	span = hi - lo + 1;
	start = bpf_get_prandom_u32() % span;
	tp_ct_reply_entry(key, true, &scr->reply);
	for (i = 0; i < TP_SNAT_TRIES; i++) {
		/* a range no larger than the tries is walked whole */
		off = span <= TP_SNAT_TRIES ? (start + i) % span
					    : bpf_get_prandom_u32() % span;
		ret = tp_ct_snat_try(key, now, (__u16)(lo + off));
		if (ret > 0)
			return -ret;
		if (ret != -EEXIST)
			break;
	}
	if (!ret)
		return 0;
	tp_ct_del(key);
	return ret == -EEXIST ? -TP_DROP_SNAT_EXHAUSTED : -TP_DROP_CT_FULL;
}

/*
 * What the caller of tp_ct_create() learnt of a new flow's tuples just
 * before (0: nothing).  TP_CT_NEW_FREE: its own tuple held no entry and
 * was no live flow's reply tuple (tp_ingress_flow()'s two lookups).
 */
#define TP_CT_NEW_FREE 1

/**
 * tp_ct_create() - write a new flow's entries.
 * @key_arg: original tuple.
 * @now:     tp_now().
 * @known:   TP_CT_NEW_FREE or 0.
 *
 * The flow entry is the per-CPU scratch's flow (NAT fields and out_zone
 * filled in); scr->okey, rkey, rev and reply are used.
 *
 * The entry @key holds before (expired, or a closed flow reopened) loses
 * its reply keys.  What holds the new reply tuple (an expired flow, an
 * egress flow a flow from the tailnet takes over, a stale reply key) goes.
 * An untranslated flow writes one entry, and so does a DNAT flow with
 * TP_CT_F_RINDEX (its replies are found through tp_be_frontends); another
 * DNAT flow writes a reply-key entry too; a SNAT flow writes nothing here: the caller writes both its entries
 * with tp_ct_snat_reserve() next (a call from here would add its stack
 * frame to this one's, beyond what Linux 6.1 allows).  The reply key of a
 * crossing flow in its out zone is checked here (another live flow's
 * tuple there is a clash) and written by the caller
 * (tp_ct_write_reply_key()).
 *
 * With TP_CT_NEW_FREE the lookups that learnt it are not made again:
 * they were never atomic with the writes below either (see the comments
 * there for why skipping them is safe under concurrency).
 *
 * A global function: the verifier checks it once, not at each of its
 * callers' paths (their processed instructions were 84k and 81k inlined).
 *
 * Return: 0, -TP_DROP_CT_CLASH when @key is the live reply tuple of
 * another flow or the reply tuple (a crossing's, in its out zone too) is
 * another live flow's, -TP_DROP_CT_FULL when an entry cannot be
 * written, or tp_ct_snat_reserve()'s errors.
 */
__noinline int tp_ct_create(const struct tp_ct_key *key_arg, __u64 now,
			    __u32 known)
{
	struct tp_scratch *scr = tp_ct_fn_scratch(key_arg);
	bool from_tailnet, keyed, free, held;
	const struct tp_ct_key *key;
	const struct tp_ct_entry *e;
	struct tp_ct_entry *old;

	if (!scr)
		return -TP_DROP_INTERNAL;
	key = &scr->okey;
	e = &scr->flow;
	from_tailnet = !(e->flags & TP_CT_F_EGRESS);
	free = known & TP_CT_NEW_FREE;
	/* the backend's flag without its index entry: a reply key after all */
	if ((e->flags & TP_CT_F_RINDEX) && !tp_ct_be_lists(key, e, &scr->ribe))
		scr->flow.flags &= (__u8)~TP_CT_F_RINDEX;
	keyed = (e->flags & (TP_CT_F_DNAT | TP_CT_F_RINDEX)) == TP_CT_F_DNAT;
	/*
	 * Free: nothing to retire under @key, and @key no live flow's reply
	 * tuple (the reversed lookup, the index).  Safe to skip looking
	 * again: an entry another CPU writes there meanwhile could as well
	 * land right after a second lookup, so no verdict changes.  The same
	 * flow's packet on another CPU: its entry is overwritten below, as
	 * one found live here would be (a reply key it wrote is replaced
	 * or, to another backend, left to be ignored: its flow no longer
	 * points back).  A flow whose reply tuple @key is: both live, as
	 * when it lands after tp_ct_reply_of() below.
	 */
	old = free ? NULL : tp_ct_get(key);

	if (old && !(old->flags & TP_CT_F_REPLY_KEY))
		tp_ct_drop_reply_keys(key, old, &scr->rkey);
	if (e->flags & TP_CT_F_SNAT) /* the caller: tp_ct_snat_reserve() */
		return !free && tp_ct_reply_of(key, old, now, &scr->rev)
			       ? -TP_DROP_CT_CLASH
			       : 0;
	/*
	 * A crossing's replies come in through its out zone: there its
	 * reply tuple must be free too, or they would be another flow's
	 * packets, and its own would reach that flow's peer as answers.
	 */
	if (tp_ct_cross_key(key, e)) {
		tp_ct_reply_tuple(key, e, NULL, &scr->rkey);
		scr->rkey.zone = e->out_zone;
		if (tp_ct_key_live(&scr->rkey, key, false, now, &scr->rev,
				   false))
			return -TP_DROP_CT_CLASH;
	}
	tp_ct_reply_tuple(key, e, NULL, &scr->rkey);
	if (tp_ct_key_taken(&scr->rkey, key, from_tailnet, now, &scr->rev,
			    false, &held) ||
	    (!free && tp_ct_reply_of(key, old, now, &scr->rev)))
		return -TP_DROP_CT_CLASH;
	/*
	 * Nothing under the reply tuple when tp_ct_key_taken() looked: none
	 * to retire or empty.  An entry written there since is one another
	 * CPU could as well have written after the retire and delete below:
	 * a keyed flow's put replaces it, an unkeyed one leaves it, as then.
	 */
	if (held) {
		tp_ct_retire(&scr->rkey, &scr->rev);
		/* found by reversing or by tp_be_frontends: nothing may sit there */
		if (!keyed)
			tp_ct_del(&scr->rkey);
	}
	if (tp_ct_put(key, e))
		return -TP_DROP_CT_FULL;
	if (!keyed)
		return 0;
	tp_ct_reply_entry(key, false, &scr->reply);
	if (tp_ct_put(&scr->rkey, &scr->reply)) {
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
	/* a record stamped ahead of the clock is fresh (tp_lb_affinity_backend()) */
	if (!f || (now > f->seen_ns &&
		   now - f->seen_ns >= (__u64)frag_timeout * NSEC_PER_SEC))
		return false;
	p->tuple.sport = f->sport;
	p->tuple.dport = f->dport;
	p->tuple.proto = f->proto;
	return true;
}

#endif /* TP_BPF_CT_H */
