/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * refmodel: a reference model of the tailplane datapath for differential
 * tests.
 *
 * Written from docs/datapath.md and docs/policy.md, not from bpf/: it
 * parses a packet the way the documents describe, keeps its own
 * interfaces, routes, services (with Maglev tables it builds itself),
 * conntrack, affinity, fragment records, policy (identities, rules and
 * zone defaults, decided by tests/policyref.c), event ring and token
 * bucket, and counters, and produces the verdict, the output bytes and
 * the events that tp_from_tailnet / tp_to_tailnet must produce for the
 * same input.
 *
 * What the model is told rather than decides:
 *   - identifiers userspace allocates: a service's id and its backends'
 *     ids (ref_service_set()), rule ids (the test mirrors each rule into
 *     ref_policy() with the id lib/policy.c gave it), and the policy
 *     revision after each change (ref_policy_rev_set());
 *   - the port a new masqueraded flow takes, which the datapath draws at
 *     random: the model asks the test (ref_masq_set()'s callback, which
 *     reads the datapath's conntrack) and checks it;
 *   - the routes of the test's network namespace (ref_route_add()): the
 *     "out zone" of docs/policy.md is the kernel's FIB answer, and the
 *     model holds the few routes the test made instead of asking the
 *     kernel.  Forwarding is taken to be enabled on every interface.
 *
 * skb->len is the length of the bytes given to ref_process(): that is what
 * BPF_PROG_TEST_RUN makes it, for an IP packet on an L3 device and for an
 * Ethernet frame alike.
 *
 * Events: the model keeps the records the datapath would have put on the
 * tp_events ring buffer since the test last took them (ref_events_take()),
 * and a record that would not fit into the ring (TP_EVENTS_SIZE bytes,
 * REF_EVENT_RECORD bytes a record) is lost.  The token bucket is the one
 * of the CPU the test runs its packets on (the test pins itself to one).
 */
#ifndef TAILPLANE_TESTS_REFMODEL_H
#define TAILPLANE_TESTS_REFMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tailplane/abi.h"
#include "policyref.h"

enum ref_hook {
	REF_FROM_TAILNET = 0, /* tp_from_tailnet */
	REF_TO_TAILNET = 1,   /* tp_to_tailnet */
};

#define REF_PASS     0 /* TC_ACT_OK */
#define REF_DROP     2 /* TC_ACT_SHOT */
#define REF_REDIRECT 7 /* TC_ACT_REDIRECT: forwarded by the program itself */

/* A tp_event on the ring buffer: 8 bytes of header, rounded up to 8. */
#define REF_EVENT_RECORD ((sizeof(struct tp_event) + 8 + 7) / 8 * 8)

/**
 * struct ref_knobs - the datapath's load-time knobs, as the model sees them.
 * @ct_timeout_syn, @ct_timeout_established, @ct_timeout_fin,
 * @ct_timeout_close, @ct_timeout_udp, @ct_timeout_icmp, @frag_timeout:
 *                  seconds, docs/datapath.md "Timeouts".
 * @maglev_size:    entries of one Maglev table.
 * @events_per_sec: event token bucket rate, 0 for no limit.
 * @events_burst:   its depth.
 * @event_mask:     TP_EVENT_F_* of the event types sent.
 */
struct ref_knobs {
	__u32 ct_timeout_syn;
	__u32 ct_timeout_established;
	__u32 ct_timeout_fin;
	__u32 ct_timeout_close;
	__u32 ct_timeout_udp;
	__u32 ct_timeout_icmp;
	__u32 frag_timeout;
	__u32 maglev_size;
	__u32 events_per_sec;
	__u32 events_burst;
	__u32 event_mask;
};

/**
 * struct ref_svc_attrs - a service's attributes.
 * @id:               service id (as userspace allocated it).
 * @flags:            TP_SVC_F_*.
 * @zone:             zone the service is visible from, 0 for all.
 * @affinity_timeout: seconds, with TP_SVC_F_AFFINITY.
 */
struct ref_svc_attrs {
	__u32 id;
	__u16 flags;
	__u16 zone;
	__u32 affinity_timeout;
};

/**
 * struct ref_backend - one backend of a service.
 * @id:     backend id (as userspace allocated it), != 0.
 * @addr:   address.
 * @port:   target port, network order.
 * @weight: Maglev weight.
 * @state:  enum tp_backend_state.
 * @flags:  TP_BACKEND_F_*: set by the model (ref_service_set()).
 */
struct ref_backend {
	__u32 id;
	struct tp_addr addr;
	__be16 port;
	__u16 weight;
	__u8 state;
	__u16 flags;
};

struct ref_state;

typedef int (*ref_ct_fn)(const struct tp_ct_key *k, const struct tp_ct_entry *e,
			 void *ctx);
/* The port (network order) the datapath took for the new masqueraded flow @k, 0: none. */
typedef __be16 (*ref_port_fn)(void *ctx, const struct tp_ct_key *k);

void ref_knobs_default(struct ref_knobs *k);
struct ref_state *ref_new(const struct ref_knobs *k);
void ref_free(struct ref_state *st);

int ref_iface_set(struct ref_state *st, __u32 ifindex,
		  const struct tp_iface *ifc);
int ref_route_add(struct ref_state *st, const struct tp_addr *prefix,
		  unsigned int plen, bool v6, __u32 ifindex);
__u16 ref_out_zone(const struct ref_state *st, bool v6,
		   const struct tp_addr *saddr, const struct tp_addr *daddr);
__u32 ref_route_ifindex(const struct ref_state *st, bool v6,
			const struct tp_addr *daddr);
int ref_service_set(struct ref_state *st, const struct tp_svc_key *key,
		    const struct ref_svc_attrs *attrs,
		    const struct ref_backend *be, size_t n);
int ref_service_del(struct ref_state *st, const struct tp_svc_key *key);

int ref_masq_set(struct ref_state *st, __u16 zone, const struct tp_masq *m,
		 __u16 port_min, __u16 port_max, ref_port_fn fn, void *ctx);
int ref_static_nat_add(struct ref_state *st, __u16 zone,
		       const struct tp_addr *tailnet,
		       const struct tp_addr *inner);

struct pref_policy *ref_policy(struct ref_state *st);
void ref_policy_rev_set(struct ref_state *st, __u32 rev);
__u32 ref_policy_rev(const struct ref_state *st);

int ref_process(struct ref_state *st, int hook, __u32 ifindex, __u32 in_ifindex,
		const uint8_t *in, size_t len, uint8_t *out, size_t *out_len,
		__u64 now);
const char *ref_explain(const struct ref_state *st);
bool ref_last_tuple(const struct ref_state *st, struct tp_ct_key *k);

const struct tp_ct_entry *ref_ct_lookup(const struct ref_state *st,
					const struct tp_ct_key *k);
bool ref_reply_tuple(const struct ref_state *st, const struct tp_ct_key *orig,
		     const struct tp_ct_entry *e, struct tp_ct_key *r);
size_t ref_ct_count(const struct ref_state *st);
int ref_ct_foreach(const struct ref_state *st, ref_ct_fn fn, void *ctx);
const struct tp_affinity *ref_affinity_lookup(const struct ref_state *st,
					      const struct tp_affinity_key *k);
size_t ref_affinity_count(const struct ref_state *st);
const struct tp_be_frontends *
ref_be_frontends_lookup(const struct ref_state *st, const struct tp_be_key *k);
size_t ref_be_frontends_count(const struct ref_state *st);
void ref_be_frontends_del(struct ref_state *st, const struct tp_be_key *k);
const struct tp_frag *ref_frag_lookup(const struct ref_state *st,
				      const struct tp_frag_key *k);
size_t ref_frag_count(const struct ref_state *st);
void ref_frags_clear(struct ref_state *st);
void ref_ct_clear(struct ref_state *st);
void ref_stat(const struct ref_state *st, __u32 id, __u64 *packets,
	      __u64 *bytes);
void ref_rule_stat(const struct ref_state *st, __u32 rule_id, __u64 *packets,
		   __u64 *bytes);
void ref_svc_stat(const struct ref_state *st, __u32 svc_id, __u64 *packets,
		  __u64 *bytes);

size_t ref_events_pending(const struct ref_state *st);
size_t ref_events_take(struct ref_state *st, struct tp_event *out, size_t max);

#endif /* TAILPLANE_TESTS_REFMODEL_H */
