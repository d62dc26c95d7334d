/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of the datapath, pinned by name under the loader's pin root so
 * that programs, the loader and tpctl share them and they outlive any one
 * process.  Sizes are the ABI defaults; the loader may resize before load.
 */
#ifndef TP_BPF_MAPS_H
#define TP_BPF_MAPS_H

#include "common.h"
#include "parse.h"

/* Attached interfaces by ifindex: zone, L2 or L3 (the loader writes). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct tp_iface);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_ifaces SEC(".maps");

/*
 * tp_ifaces direct-mapped by ifindex % TP_IFACE_SLOTS (abi.h; the loader).
 * Mappable: its writer stores a slot with one 8-byte store through the
 * mapping, where the update syscall's copy may go byte by byte.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, TP_IFACE_SLOTS);
	__type(key, __u32);
	__type(value, union tp_iface_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_iface_slots SEC(".maps");

/**
 * tp_iface_get() - the settings of interface @ifindex, all zero when it
 * has none (an L2 interface of zone 0, as the ABI says).
 * @ifindex: the interface; 0 is none (this host's own packets) and finds
 *           nothing, whatever tp_ifaces holds at key 0.
 *
 * Its slot first: an array lookup the verifier inlines, where a hash
 * lookup is a call (15-20 ns with return thunks).  The slot answers when
 * it holds @ifindex, or when its bucket has no other interface
 * (TP_IFACE_SLOT_F_ONLY: the pods' veths, which tailplane does not know,
 * are answered there too); tp_ifaces only on a collision or a slot not
 * filled yet.  The slot is read as one word (abi.h).
 */
static __always_inline struct tp_iface tp_iface_get(__u32 ifindex)
{
	__u32 key = ifindex % TP_IFACE_SLOTS;
	const union tp_iface_slot *slot;
	const struct tp_iface *ifc;
	union tp_iface_slot s = {};
	struct tp_iface v = {};

	/* not even a foreign entry of key 0: bucket 0's miss goes on below */
	if (!ifindex)
		return v;
	slot = bpf_map_lookup_elem(&tp_iface_slots, &key);
	if (slot)
		s.word = *(const volatile __u64 *)&slot->word;
	if (s.ifindex == ifindex) {
		v.flags = s.flags & TP_IFACE_SLOT_FLAGS;
		v.zone = s.zone;
		return v;
	}
	if (s.flags & TP_IFACE_SLOT_F_ONLY)
		return v;
	ifc = bpf_map_lookup_elem(&tp_ifaces, &ifindex);
	if (ifc)
		v = *ifc;
	return v;
}

/*
 * Services and backends are written by userspace only and read on a
 * flow's first packet: hashes without preallocation cost memory in
 * proportion to the entries that exist, not to the capacity.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_MAX_SERVICES);
	__type(key, struct tp_svc_key);
	__type(value, struct tp_svc);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_services SEC(".maps");

/* Backends by id: address, port, weight, state (userspace writes). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct tp_backend);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_backends SEC(".maps");

/*
 * Backend tuple to the frontends of its services (abi.h): how a reply
 * from a backend finds a DNAT flow that has no reply-key entry.  One
 * entry per backend tuple; userspace writes, the datapath reads.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_MAX_BACKENDS);
	__type(key, struct tp_be_key);
	__type(value, struct tp_be_frontends);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_be_frontends SEC(".maps");

/*
 * The Maglev slab, see the ABI: chunks of TP_MAGLEV_CHUNK_BLOCKS blocks
 * of backend ids, all of one size and mmapable (userspace writes tables in place);
 * the template carries the flags and the size every chunk is created
 * with.  The loader sizes the outer array from the services capacity.
 */
struct tp_maglev_chunk {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TP_MAGLEV_CHUNK_BLOCKS);
	/*
	 * By sizes, without BTF: the value would have only a declaration of
	 * the block type, and a key type without a value type is refused
	 * (libbpf then warns at every load and retries without BTF).
	 */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct tp_maglev_block));
	__uint(map_flags, BPF_F_MMAPABLE);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 64);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct tp_maglev_chunk);
} tp_maglev_slab SEC(".maps");

/*
 * Per-service index of backends (struct tp_svc_be_key), userspace only:
 * a service's write costs O(its backends), not a walk of tp_backends.
 * Room for every backend plus a head per service.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_MAX_SERVICES + TP_MAX_BACKENDS);
	__type(key, struct tp_svc_be_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_svc_backends SEC(".maps");

/* ClientIP affinity: (service, client) to backend (the datapath writes). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TP_AFFINITY_SIZE);
	__type(key, struct tp_affinity_key);
	__type(value, struct tp_affinity);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_affinity SEC(".maps");

/* Conntrack of TCP flows; tp_ct_any holds the other protocols' (abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TP_CT_SIZE);
	__type(key, struct tp_ct_key);
	__type(value, struct tp_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_ct SEC(".maps");

/* Conntrack of UDP, ICMP and other flows (the datapath writes). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TP_CT_ANY_SIZE);
	__type(key, struct tp_ct_key);
	__type(value, struct tp_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_ct_any SEC(".maps");

/*
 * The two conntrack tables by index (0 TCP, 1 the rest), so a lookup picks
 * its table through one array of maps instead of a branch per access: the
 * verifier then sees one kind of conntrack value, not one per table, and
 * the program verifies in half the steps.  Not pinned: every load builds
 * it around the pinned tables.
 */
struct tp_ct_table {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TP_CT_ANY_SIZE);
	__type(key, struct tp_ct_key);
	__type(value, struct tp_ct_entry);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct tp_ct_table);
} tp_ct_tables SEC(".maps") = {
	.values = { (void *)&tp_ct, (void *)&tp_ct_any },
};

/* Ports of fragmented datagrams for their later fragments (the datapath). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TP_FRAGS_SIZE);
	__type(key, struct tp_frag_key);
	__type(value, struct tp_frag);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_frags SEC(".maps");

/* Per-CPU counters and drops by reason, TP_STAT_* (the datapath). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TP_STAT_MAX);
	__type(key, __u32);
	__type(value, struct tp_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_stats SEC(".maps");

/* (zone, prefix) to identity, longest prefix first (userspace writes). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TP_IDENTITY_SIZE);
	__type(key, struct tp_identity_key);
	__type(value, struct tp_identity_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_identity SEC(".maps");

/* Rule keys to verdicts, made from tp_rules (userspace writes). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TP_POLICY_SIZE);
	__type(key, struct tp_policy_key);
	__type(value, struct tp_policy_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_policy SEC(".maps");

/*
 * The rules as written; userspace derives tp_policy from them.  This and
 * the other userspace-only hashes are not preallocated: at their sizes
 * that would hold tens of MB whether used or not.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_MAX_RULES);
	__type(key, __u32);
	__type(value, struct tp_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_rules SEC(".maps");

/* Writers' index of tp_rules (abi.h); the datapath reads its groups. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_RULE_INDEX_SIZE);
	__type(key, struct tp_rule_index_key);
	__type(value, struct tp_rule_index_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_rule_index SEC(".maps");

/* Identity names for userspace; the datapath never reads them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_IDENTITY_SIZE);
	__type(key, __u32);
	__type(value, struct tp_identity_name);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_id_names SEC(".maps");

/* name -> identity, the inverse of tp_id_names, for writers and parsers. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_IDENTITY_SIZE);
	__type(key, struct tp_id_name_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_id_by_name SEC(".maps");

/* Each zone's default verdict (userspace writes). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_MAX_ZONES);
	__type(key, __u32);
	__type(value, struct tp_zone);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_zones SEC(".maps");

/* Policy revision, SNAT addresses and ports (userspace writes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tp_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_config SEC(".maps");

/* Drop, audit and flow events for tpctl monitor (the datapath writes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TP_EVENTS_SIZE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_events SEC(".maps");

/*
 * Per-CPU packets and bytes by rule id, TP_STAT_GROUP ids to an element
 * (the datapath writes).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TP_STAT_ELEMS(TP_MAX_RULES));
	__type(key, __u32);
	__type(value, struct tp_stat_group);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_rule_stats SEC(".maps");

/*
 * Per-CPU packets and bytes by service id, TP_STAT_GROUP ids to an
 * element (the datapath writes).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TP_STAT_ELEMS(TP_MAX_SERVICES));
	__type(key, __u32);
	__type(value, struct tp_stat_group);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_svc_stats SEC(".maps");

/*
 * Rate limiters: token buckets per CPU (not pinned), indexed by
 * enum tp_bucket (events.h).
 */
struct tp_evbucket {
	__u64 credit_ns;
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct tp_evbucket);
} tp_evbucket SEC(".maps");

/*
 * Per-CPU scratch space for structures too big for the 512-byte stack.
 * Not pinned: it holds nothing between two runs of a program.
 */
struct tp_scratch {
	struct tp_ct_entry flow;
	struct tp_ct_key
		okey; /* a global function's copy of its key argument */
	struct tp_ct_entry reply; /* a reply-key entry being written */
	struct tp_ct_key
		rkey; /* a flow's reply tuple (in one zone or another) */
	struct tp_ct_key rev; /* another flow's tuple, found by a lookup */
	/*
	 * tp_ct_rindex_owner()'s: its copy of its key, its candidates;
	 * ribe also tp_ct_be_lists()' backend tuple before any such call
	 */
	struct tp_ct_key rikey;
	struct tp_ct_key riorig;
	struct tp_be_key ribe;
	struct bpf_fib_lookup fib;
	struct tp_pkt pkt; /* the program's packet parse (tp_pkt_get()) */
	int parsed;	   /* tp_parse()'s result for it */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tp_scratch);
} tp_scratch SEC(".maps");

static __always_inline struct tp_scratch *tp_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tp_scratch, &zero);
}

/* ---- XDP guard (lib/guard.h) ------------------------------------------ */

#ifndef TP_GUARD_DROP_ENTRIES
#define TP_GUARD_DROP_ENTRIES TP_GUARD_DROP_SIZE
#endif
#ifndef TP_GUARD_BUCKET_ENTRIES
#define TP_GUARD_BUCKET_ENTRIES TP_GUARD_BUCKETS_SIZE
#endif

/* Sources whose every IP packet the guard drops. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, TP_GUARD_DROP_ENTRIES);
	__type(key, struct tp_guard_key);
	__type(value, struct tp_guard_drop_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_guard_drop SEC(".maps");

/*
 * One token bucket per source of handshake-shaped packets.  LRU: a flood
 * of spoofed sources evicts buckets (those sources start full again),
 * never anything else.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TP_GUARD_BUCKET_ENTRIES);
	__type(key, struct tp_addr);
	__type(value, struct tp_guard_bucket);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_guard_buckets SEC(".maps");

/* The guard's ports, rate and burst (userspace writes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tp_guard_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_guard_config SEC(".maps");

/* ---- static 1:1 NAT (lib/static_nat.h) --------------------------------- */

/*
 * Written by userspace only, a pair of entries per pod; not preallocated,
 * so memory follows the entries that exist (abi.h).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_STATIC_NAT_SIZE);
	__type(key, struct tp_static_nat_key);
	__type(value, struct tp_static_nat);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_static_nat SEC(".maps");

/* The static NAT entries by inner address (userspace writes). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_STATIC_NAT_SIZE);
	__type(key, struct tp_addr);
	__type(value, struct tp_static_nat);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_static_nat_rev SEC(".maps");

/* How many static NAT entries; 0 skips the stage (userspace writes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_static_nat_n SEC(".maps");

/* ---- masquerade to the tailnet (lib/masq.h) ------------------------------ */

/*
 * Per zone, the node's own addresses on the zone's tailnet interface and
 * whether flows leaving through it are masqueraded (abi.h, struct
 * tp_masq).  A map of its own rather than a bigger tp_zones value:
 * tp_zones is the policy's (4-byte values written by lib/policy.c and
 * tpctl, read on every decision), and growing it would mean migrating a
 * pinned map all of its writers share; this one is new (created on the
 * first load of an object that has it, nothing to migrate), has one
 * writer (the loader's loader/snat.c), and is read once per new flow
 * leaving to the tailnet.  A hash keyed by zone, as tp_zones (zone ids go
 * to 65535); no entry: masquerade off.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_MAX_ZONES);
	__type(key, __u32);
	__type(value, struct tp_masq);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tp_masq SEC(".maps");

#endif /* TP_BPF_MAPS_H */
