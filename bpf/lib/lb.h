/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Service load balancing: frontend lookup, Maglev backend selection and
 * ClientIP session affinity.  Runs once per new flow; established flows
 * use the backend recorded in conntrack, so a backend that turns
 * terminating or maintenance keeps its flows and gets no new ones (the
 * Maglev table userspace writes holds active backends only).
 */
#ifndef TP_BPF_LB_H
#define TP_BPF_LB_H

#include "maps.h"
#include "tailplane/hash.h"

/**
 * tp_lb_find() - the service at @vip, @port, @proto that @zone sees.
 * @vip:   the frontend address.
 * @port:  its port (TCP, UDP; ignored for the rest: ICMP echo reaches a
 *         service with port 0 and the ICMP protocol of its family).
 * @proto: the IP protocol.
 * @zone:  the zone looking (a service bound to a zone is invisible from
 *         other zones).
 *
 * Return: the service or NULL.
 */
static __always_inline struct tp_svc *
tp_lb_find(const struct tp_addr *vip, __be16 port, __u8 proto, __u16 zone)
{
	struct tp_svc_key sk = {};
	struct tp_svc *svc;

	sk.vip = *vip;
	sk.proto = proto;
	sk.port = (proto == IPPROTO_TCP || proto == IPPROTO_UDP) ? port : 0;
	svc = bpf_map_lookup_elem(&tp_services, &sk);
	if (svc && svc->zone && svc->zone != zone)
		return NULL;
	return svc;
}

/**
 * tp_lb_lookup() - the service a new flow's destination is, if any.
 * @t: the flow's original tuple, zone set.
 *
 * Return: the service or NULL (tp_lb_find()).
 */
static __always_inline struct tp_svc *tp_lb_lookup(const struct tp_ct_key *t)
{
	return tp_lb_find(&t->daddr, t->dport, t->proto, t->zone);
}

static __always_inline struct tp_backend *
tp_lb_affinity_backend(const struct tp_svc *svc,
		       const struct tp_affinity_key *ak, __u64 now,
		       __u32 *backend_id)
{
	struct tp_affinity *aff;
	struct tp_backend *be;

	aff = bpf_map_lookup_elem(&tp_affinity, ak);
	/*
	 * A stamp ahead of the clock is fresh: the fine clock of programs
	 * before the coarse one wrote it (an upgrade keeps the map).
	 */
	if (!aff ||
	    (now > aff->last_ns &&
	     now - aff->last_ns > (__u64)svc->affinity_timeout * NSEC_PER_SEC))
		return NULL;
	be = bpf_map_lookup_elem(&tp_backends, &aff->backend_id);
	if (!be || be->svc_id != svc->id || be->state != TP_BACKEND_ACTIVE)
		return NULL;
	*backend_id = aff->backend_id;
	return be;
}

/*
 * The service's table: @table_size entries from slab slot @table_off, in
 * one chunk.  The entry gives both at once (one element of a hash), so
 * they always describe the same live table; a bad offset finds nothing.
 */
static __always_inline struct tp_backend *
tp_lb_maglev_backend(const struct tp_svc *svc, const struct tp_ct_key *t,
		     __u32 *backend_id)
{
	__u32 m = svc->table_size, off = svc->table_off, chunk, slot, blk, id;
	__u32 first = off & TP_MAGLEV_CHUNK_MASK;
	struct tp_maglev_block *b;
	void *table;

	/*
	 * Not in the chunk's bitmap (its words are no backend ids), not past
	 * the chunk's end (the sum below would wrap): such an entry no
	 * writer makes finds nothing, not another table's backends.
	 */
	if (!m || first < TP_MAGLEV_META_BLOCKS * TP_MAGLEV_BLOCK_SLOTS ||
	    m > TP_MAGLEV_CHUNK_SLOTS - first)
		return NULL;
	chunk = off >> TP_MAGLEV_CHUNK_SHIFT;
	table = bpf_map_lookup_elem(&tp_maglev_slab, &chunk);
	if (!table)
		return NULL;
	slot = first + tp_flow_hash(t) % m;
	blk = slot >> TP_MAGLEV_BLOCK_SHIFT;
	b = bpf_map_lookup_elem(table, &blk);
	if (!b)
		return NULL;
	id = b->id[slot & (TP_MAGLEV_BLOCK_SLOTS - 1)];
	if (!id)
		return NULL;
	*backend_id = id;
	return bpf_map_lookup_elem(&tp_backends, &id);
}

/**
 * tp_lb_select() - choose the backend of a new flow.
 * @svc:        the service.
 * @t:          the flow's original tuple.
 * @now:        tp_now().
 * @backend_id: the chosen backend's id.
 *
 * With affinity, a client keeps the backend it had while it returns
 * within the timeout and that backend stays active; the timeout runs
 * from the client's last new flow.
 *
 * Return: the backend, or NULL when the service has none.
 */
static __always_inline struct tp_backend *
tp_lb_select(const struct tp_svc *svc, const struct tp_ct_key *t, __u64 now,
	     __u32 *backend_id)
{
	struct tp_affinity_key ak = {};
	struct tp_affinity aff = {};
	struct tp_backend *be = NULL;
	bool affinity = svc->flags & TP_SVC_F_AFFINITY;

	if (!svc->active)
		return NULL;
	if (affinity) {
		ak.svc_id = svc->id;
		ak.client = t->saddr;
		be = tp_lb_affinity_backend(svc, &ak, now, backend_id);
	}
	if (!be)
		be = tp_lb_maglev_backend(svc, t, backend_id);
	if (be && affinity) {
		aff.backend_id = *backend_id;
		aff.last_ns = now;
		bpf_map_update_elem(&tp_affinity, &ak, &aff, BPF_ANY);
	}
	return be;
}

#endif /* TP_BPF_LB_H */
