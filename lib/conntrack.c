// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Conntrack entries from userspace; see conntrack.h. */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "conntrack.h"

#define TP_NSEC_PER_SEC 1000000000ULL

static bool tp_ct_key_eq(const struct tp_ct_key *a, const struct tp_ct_key *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/**
 * tp_ct_config() - the datapath configuration, read once for a walk.
 * @m:   maps.
 * @buf: filled with tp_config.
 *
 * A SNAT flow's reply tuple holds the node's SNAT address from tp_config
 * (tp_ct_reply_tuple()); callers that walk conntrack read it once and pass
 * it to every function below.
 *
 * Return: @buf, or NULL when tp_config cannot be read (SNAT flows then
 * have no reply tuple: their reply keys are left to the GC).
 */
const struct tp_config *tp_ct_config(const struct tp_maps *m,
				     struct tp_config *buf)
{
	__u32 zero = 0;

	memset(buf, 0, sizeof(*buf));
	if (m->config < 0 || bpf_map_lookup_elem(m->config, &zero, buf))
		return NULL;
	return buf;
}

/**
 * tp_ct_is_reply_key() - is @k a reply tuple of the flow entry @flow under
 * @orig: its reply tuple, or for a flow crossing into another zone the same
 * tuple in the zone it leaves to?
 * @flow: the flow entry.
 * @orig: its key.
 * @cfg:  tp_config (tp_ct_config()), for a SNAT flow's address; NULL: a
 *        SNAT flow has no reply key.
 * @k:    the key in question.
 */
bool tp_ct_is_reply_key(const struct tp_ct_entry *flow,
			const struct tp_ct_key *orig,
			const struct tp_config *cfg, const struct tp_ct_key *k)
{
	struct tp_ct_key r;

	/*
	 * A masqueraded service flow's address is tp_masq's, which only the
	 * datapath reads: its key is judged on every other field.
	 */
	if (!tp_ct_reply_tuple(orig, flow, cfg, &r)) {
		if (!tp_ct_is_masq(flow) || !(flow->flags & TP_CT_F_DNAT))
			return false;
		r.daddr = k->daddr;
	}
	if (flow->out_zone && k->zone == flow->out_zone)
		r.zone = k->zone;
	return tp_ct_key_eq(&r, k);
}

/**
 * tp_ct_entry_live() - is entry @e under @k live at @now_ns: a flow entry
 * not expired, or a reply key whose flow is live and points back at it?
 * @m:      maps.
 * @cfg:    tp_config (tp_ct_config()): a SNAT flow's reply key points back
 *          at it only through the SNAT address there.
 * @k:      the entry's key.
 * @e:      the entry.
 * @now_ns: CLOCK_MONOTONIC now.
 */
bool tp_ct_entry_live(const struct tp_maps *m, const struct tp_config *cfg,
		      const struct tp_ct_key *k, const struct tp_ct_entry *e,
		      __u64 now_ns)
{
	__u32 now_s = TP_CT_SEC(now_ns);
	struct tp_ct_entry flow;
	struct tp_ct_key orig;

	if (!(e->flags & TP_CT_F_REPLY_KEY))
		return e->expires_s > now_s;
	tp_ct_rk_orig(k, e, &orig);
	if (bpf_map_lookup_elem(tp_ct_fd(m, k->proto), &orig, &flow))
		return false;
	return !(flow.flags & TP_CT_F_REPLY_KEY) && flow.expires_s > now_s &&
	       tp_ct_is_reply_key(&flow, &orig, cfg, k);
}

/* Delete reply key @rk of the flow at @k while it still points back at it. */
static void tp_ct_reply_key_delete(const struct tp_maps *m,
				   const struct tp_ct_key *rk,
				   const struct tp_ct_key *k)
{
	int fd = tp_ct_fd(m, k->proto);
	struct tp_ct_key orig;
	struct tp_ct_entry e;

	if (bpf_map_lookup_elem(fd, rk, &e) || !(e.flags & TP_CT_F_REPLY_KEY))
		return;
	tp_ct_rk_orig(rk, &e, &orig);
	if (tp_ct_key_eq(&orig, k))
		bpf_map_delete_elem(fd, rk);
}

/*
 * Has flow @e a reply-key entry under its reply tuple: DNAT (unless
 * TP_CT_F_RINDEX: its replies are found through tp_be_frontends), SNAT,
 * masquerade?
 */
bool tp_ct_has_reply_key(const struct tp_ct_entry *e)
{
	return (e->flags & (TP_CT_F_DNAT | TP_CT_F_SNAT)) &&
	       !(e->flags & TP_CT_F_RINDEX);
}

/**
 * tp_ct_flow_delete() - delete the flow entry @e under @k and those of its
 * reply-key entries (DNAT without TP_CT_F_RINDEX, SNAT, zone crossing)
 * that still point back at it (a reply tuple may belong to another flow
 * by now: a client port reused toward a second VIP of the same backend).
 * @m:   maps.
 * @cfg: tp_config (tp_ct_config()), for a SNAT flow's reply key; with
 *       NULL that reply key stays for the GC.
 * @k:   the flow's key.
 * @e:   its entry.
 *
 * Return: 0, or -errno of deleting the flow entry.
 */
int tp_ct_flow_delete(const struct tp_maps *m, const struct tp_config *cfg,
		      const struct tp_ct_key *k, const struct tp_ct_entry *e)
{
	struct tp_ct_key r;
	bool have_reply = tp_ct_reply_tuple(k, e, cfg, &r);

	if (have_reply && tp_ct_has_reply_key(e))
		tp_ct_reply_key_delete(m, &r, k);
	if (have_reply && tp_ct_cross_key(k, e)) {
		r.zone = e->out_zone;
		tp_ct_reply_key_delete(m, &r, k);
	}
	return bpf_map_delete_elem(tp_ct_fd(m, k->proto), k) ? -errno : 0;
}

/**
 * tp_ct_take_dead() - delete entry @k if it is dead (not live at @now_ns).
 * @m:      maps.
 * @cfg:    tp_config (tp_ct_config()), for SNAT flows' reply keys.
 * @k:      the entry's key.
 * @now_ns: CLOCK_MONOTONIC now.
 *
 * A walk judges entries from a copy; the datapath may have replaced or
 * revived one since.  So the entry is taken out atomically and judged
 * again, and put back (BPF_NOEXIST: a newer one written meanwhile wins)
 * when it turns out live.  Kernels without lookup-and-delete on hash maps
 * (before 5.14) judge a fresh copy just before the delete instead.
 *
 * Return: 1 deleted, 0 kept or gone already, -errno on errors.
 */
int tp_ct_take_dead(const struct tp_maps *m, const struct tp_config *cfg,
		    const struct tp_ct_key *k, __u64 now_ns)
{
	int fd = tp_ct_fd(m, k->proto);
	struct tp_ct_entry e;

	if (!bpf_map_lookup_and_delete_elem(fd, k, &e)) {
		if (!tp_ct_entry_live(m, cfg, k, &e, now_ns))
			return 1;
		bpf_map_update_elem(fd, k, &e, BPF_NOEXIST);
		return 0;
	}
	if (errno == ENOENT)
		return 0;
	if (errno != EINVAL && errno != EOPNOTSUPP &&
	    errno != 524 /* ENOTSUPP */)
		return -errno;
	if (bpf_map_lookup_elem(fd, k, &e))
		return 0;
	if (tp_ct_entry_live(m, cfg, k, &e, now_ns))
		return 0;
	return bpf_map_delete_elem(fd, k) ? (errno == ENOENT ? 0 : -errno) : 1;
}

/* ns to the seconds of the new layout: expiry rounded up, saturated. */
static __u32 tp_ct_v1_sec(__u64 ns, bool round_up)
{
	__u64 s = ns / TP_NSEC_PER_SEC + (round_up && ns % TP_NSEC_PER_SEC);

	return s > 0xffffffffULL ? 0xffffffffu : (__u32)s;
}

static __u32 tp_ct_v1_count(__u64 n)
{
	return n > 0xffffffffULL ? 0xffffffffu : (__u32)n;
}

/**
 * tp_ct_entry_from_v1() - convert an entry of the old layout.
 * @k:    its key.
 * @old:  the old entry.
 * @flow: for a reply-key entry, the old flow entry under old->peer, or
 *        NULL when there is none.
 * @e:    filled with the new entry (TP_CT_V1_FLOW, TP_CT_V1_REPLY_KEY).
 *
 * A flow entry keeps every field but @peer (now computed), its times in
 * seconds (the expiry rounded up, so no flow expires earlier than it
 * would have) and its packet counts saturated at 2^32 - 1.  A reply-key
 * entry is kept when the new layout still needs it: it is the reply tuple
 * of a DNAT flow, or a crossing flow's in its out zone; the reply tuple of
 * an untranslated flow is found by reversing the packet's tuple now.
 *
 * Return: enum tp_ct_v1_kind.
 */
enum tp_ct_v1_kind tp_ct_entry_from_v1(const struct tp_ct_key *k,
				       const struct tp_ct_entry_v1 *old,
				       const struct tp_ct_entry_v1 *flow,
				       struct tp_ct_entry *e)
{
	struct tp_ct_key orig, rev;
	struct tp_ct_entry f;

	memset(e, 0, sizeof(*e));
	if (old->flags & TP_CT_F_REPLY_KEY) {
		if (!flow || (flow->flags & TP_CT_F_REPLY_KEY))
			return TP_CT_V1_DROP;
		orig = old->peer;
		tp_ct_entry_from_v1(&orig, flow, NULL, &f);
		/* not the flow's (any more), or found by reversing now */
		if (!tp_ct_is_reply_key(&f, &orig, NULL,
					k)) /* no SNAT before v2 */
			return TP_CT_V1_DROP;
		tp_ct_reverse(&orig, &rev);
		if (!(flow->flags & TP_CT_F_DNAT) && tp_ct_key_eq(&rev, k))
			return TP_CT_V1_DROP;
		e->flags = TP_CT_F_REPLY_KEY;
		e->orig_daddr = orig.daddr;
		e->orig_dport = orig.dport;
		e->orig_zone = orig.zone;
		return TP_CT_V1_REPLY_KEY;
	}
	e->nat_addr = old->nat_addr;
	e->nat_port = old->nat_port;
	e->state = old->state;
	e->flags = old->flags;
	e->svc_id = old->svc_id;
	e->backend_id = old->backend_id;
	e->ifindex = old->ifindex;
	e->expires_s = tp_ct_v1_sec(old->expires_ns, true);
	e->created_s = tp_ct_v1_sec(old->created_ns, false);
	e->packets[0] = tp_ct_v1_count(old->packets[0]);
	e->packets[1] = tp_ct_v1_count(old->packets[1]);
	e->bytes[0] = old->bytes[0];
	e->bytes[1] = old->bytes[1];
	e->tcp_flags[0] = old->tcp_flags[0];
	e->tcp_flags[1] = old->tcp_flags[1];
	e->verdict = old->verdict;
	e->src_identity = old->src_identity;
	e->dst_identity = old->dst_identity;
	e->rule_id = old->rule_id;
	e->policy_rev = old->policy_rev;
	e->out_zone = old->out_zone;
	e->rk_check_s = (__u8)old->rk_check_s;
	return TP_CT_V1_FLOW;
}
