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

/* The per-CPU token buckets of tp_evbucket. */
enum tp_bucket {
	TP_BUCKET_EVENTS =
		0, /* flow and drop events: events_per_sec, events_burst */
	TP_BUCKET_ICMP_ERR = 1, /* ICMP errors the datapath makes (snat.h) */
};

/*
 * ICMP errors the datapath sends, per CPU: the kernel's own defaults
 * (net.ipv4.icmp_msgs_per_sec 1000, icmp_msgs_burst 50), so that a
 * sender of oversized replies cannot make the node send errors at its
 * packet rate.
 */
#define TP_ICMP_ERR_PER_SEC 1000
#define TP_ICMP_ERR_BURST   50

/**
 * tp_bucket_take() - take one token from a per-CPU token bucket.
 * @which: enum tp_bucket.
 * @now:   tp_now_fine().
 * @rate:  tokens a second (> 0).
 * @burst: the bucket's size in tokens (0 counts as 1).
 *
 * Return: false when the bucket is empty (or cannot be read).
 */
static __always_inline bool tp_bucket_take(__u32 which, __u64 now, __u32 rate,
					   __u32 burst)
{
	__u64 cost = NSEC_PER_SEC / rate, cap, credit;
	struct tp_evbucket *b = bpf_map_lookup_elem(&tp_evbucket, &which);

	if (!b)
		return false;
	cap = cost * (burst ? burst : 1);
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

/* Take one event token; false when the bucket is empty. */
static __always_inline bool tp_event_admit(__u64 now)
{
	if (!events_per_sec)
		return true;
	return tp_bucket_take(TP_BUCKET_EVENTS, now, events_per_sec,
			      events_burst);
}

/**
 * tp_event_open() - a zeroed ring buffer slot for an event of @type, or
 * NULL when the type is off, the rate limit says no (counted) or the ring
 * is full (counted).
 * @type: enum tp_event_type.
 *
 * Checked before anything is built: a new flow past the rate limit (every
 * flow but the first of each millisecond at 1000/s) reads no fine clock
 * and builds no event.  The caller fills the slot and sends it with
 * tp_event_send().
 */
static __always_inline struct tp_event *tp_event_open(__u8 type)
{
	struct tp_event *slot;
	__u64 now;

	if (!(event_mask & (1u << type)))
		return NULL;
	now = tp_now_fine();
	if (!tp_event_admit(now)) {
		tp_stat_add(TP_STAT_EVENTS_LIMITED, 0);
		return NULL;
	}
	slot = bpf_ringbuf_reserve(&tp_events, sizeof(*slot), 0);
	if (!slot) {
		tp_stat_add(TP_STAT_EVENTS_LOST, 0);
		return NULL;
	}
	__builtin_memset(slot, 0, sizeof(*slot));
	slot->ts_ns = now;
	slot->type = type;
	return slot;
}

/* Send the event tp_event_open() gave out. */
static __always_inline void tp_event_send(struct tp_event *slot)
{
	bpf_ringbuf_submit(slot, 0);
	tp_stat_add(TP_STAT_EVENTS, 0);
}

#endif /* TP_BPF_EVENTS_H */
