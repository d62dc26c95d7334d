// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Conntrack entries from userspace; see conntrack.h. */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "conntrack.h"

static bool tp_ct_key_eq(const struct tp_ct_key *a, const struct tp_ct_key *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/**
 * tp_ct_is_reply_key() - is @k a reply key of the flow entry @flow: its
 * reply tuple, or for a flow crossing into another zone the same tuple in
 * the zone it leaves to?
 */
bool tp_ct_is_reply_key(const struct tp_ct_entry *flow, const struct tp_ct_key *k)
{
	struct tp_ct_key there = *k;

	if (tp_ct_key_eq(&flow->peer, k))
		return true;
	if (!flow->out_zone || k->zone != flow->out_zone)
		return false;
	there.zone = flow->peer.zone;
	return tp_ct_key_eq(&flow->peer, &there);
}

/**
 * tp_ct_entry_live() - is entry @e under @k live at @now_ns: a flow entry
 * not expired, or a reply key whose flow is live and points back at it?
 */
bool tp_ct_entry_live(const struct tp_maps *m, const struct tp_ct_key *k,
		      const struct tp_ct_entry *e, __u64 now_ns)
{
	struct tp_ct_entry flow;

	if (!(e->flags & TP_CT_F_REPLY_KEY))
		return e->expires_ns > now_ns;
	if (bpf_map_lookup_elem(tp_ct_fd(m, k->proto), &e->peer, &flow))
		return false;
	return !(flow.flags & TP_CT_F_REPLY_KEY) && flow.expires_ns > now_ns &&
	       tp_ct_is_reply_key(&flow, k);
}

/* Delete reply key @rk of the flow at @k while it still points back at it. */
static void tp_ct_reply_key_delete(const struct tp_maps *m, const struct tp_ct_key *rk,
				   const struct tp_ct_key *k)
{
	int fd = tp_ct_fd(m, k->proto);
	struct tp_ct_entry e;

	if (!bpf_map_lookup_elem(fd, rk, &e) && (e.flags & TP_CT_F_REPLY_KEY) &&
	    tp_ct_key_eq(&e.peer, k))
		bpf_map_delete_elem(fd, rk);
}

/**
 * tp_ct_flow_delete() - delete the flow entry @e under @k and those of its
 * reply keys that still point back at it (a reply tuple may belong to
 * another flow by now: a client port reused toward a second VIP of the
 * same backend).
 *
 * Return: 0, or -errno of deleting the flow entry.
 */
int tp_ct_flow_delete(const struct tp_maps *m, const struct tp_ct_key *k,
		      const struct tp_ct_entry *e)
{
	struct tp_ct_key there = e->peer;

	tp_ct_reply_key_delete(m, &e->peer, k);
	if (e->out_zone && e->out_zone != e->peer.zone && e->peer.zone) {
		there.zone = e->out_zone;
		tp_ct_reply_key_delete(m, &there, k);
	}
	return bpf_map_delete_elem(tp_ct_fd(m, k->proto), k) ? -errno : 0;
}

/**
 * tp_ct_take_dead() - delete entry @k if it is dead (not live at @now_ns).
 *
 * A walk judges entries from a copy; the datapath may have replaced or
 * revived one since.  So the entry is taken out atomically and judged
 * again, and put back (BPF_NOEXIST: a newer one written meanwhile wins)
 * when it turns out live.  Kernels without lookup-and-delete on hash maps
 * (before 5.14) judge a fresh copy just before the delete instead.
 *
 * Return: 1 deleted, 0 kept or gone already, -errno on errors.
 */
int tp_ct_take_dead(const struct tp_maps *m, const struct tp_ct_key *k, __u64 now_ns)
{
	int fd = tp_ct_fd(m, k->proto);
	struct tp_ct_entry e;

	if (!bpf_map_lookup_and_delete_elem(fd, k, &e)) {
		if (!tp_ct_entry_live(m, k, &e, now_ns))
			return 1;
		bpf_map_update_elem(fd, k, &e, BPF_NOEXIST);
		return 0;
	}
	if (errno == ENOENT)
		return 0;
	if (errno != EINVAL && errno != EOPNOTSUPP && errno != 524 /* ENOTSUPP */)
		return -errno;
	if (bpf_map_lookup_elem(fd, k, &e))
		return 0;
	if (tp_ct_entry_live(m, k, &e, now_ns))
		return 0;
	return bpf_map_delete_elem(fd, k) ? (errno == ENOENT ? 0 : -errno) : 1;
}
