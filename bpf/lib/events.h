/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow events on a ring buffer, rate-limited per CPU by a token bucket
 * (events_per_sec, events_burst) so a flood of denied packets cannot
 * starve the ring or the reader.  What the limiter or a full ring loses is
 * counted.
 */
#ifndef TP_BPF_EVENTS_H
#define TP_BPF_EVENTS_H

#include "maps.h"
#include "stats.h"

/* Take one token; false when the bucket is empty. */
static __always_inline bool tp_event_admit(__u64 now)
{
	__u64 cost, cap, credit;
	struct tp_evbucket *b;
	__u32 zero = 0;

	if (!events_per_sec)
		return true;
	b = bpf_map_lookup_elem(&tp_evbucket, &zero);
	if (!b)
		return false;
	cost = NSEC_PER_SEC / events_per_sec;
	cap = cost * (events_burst ? events_burst : 1);
	credit = b->credit_ns + (now - b->last_ns);
	if (now < b->last_ns || credit > cap)
		credit = cap;
	b->last_ns = now;
	if (credit < cost) {
		b->credit_ns = credit;
		return false;
	}
	b->credit_ns = credit - cost;
	return true;
}

/**
 * tp_event_emit() - send a flow event if its type is enabled and the rate
 * limit allows.
 * @ev: the event, ts_ns and type set.
 */
static __always_inline void tp_event_emit(const struct tp_event *ev)
{
	struct tp_event *slot;

	if (!(event_mask & (1u << ev->type)))
		return;
	if (!tp_event_admit(ev->ts_ns)) {
		tp_stat_add(TP_STAT_EVENTS_LIMITED, 0);
		return;
	}
	slot = bpf_ringbuf_reserve(&tp_events, sizeof(*slot), 0);
	if (!slot) {
		tp_stat_add(TP_STAT_EVENTS_LOST, 0);
		return;
	}
	__builtin_memcpy(slot, ev, sizeof(*slot));
	bpf_ringbuf_submit(slot, 0);
	tp_stat_add(TP_STAT_EVENTS, 0);
}

#endif /* TP_BPF_EVENTS_H */
