/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tailplane kernel <-> userspace ABI.
 *
 * Every map key and value, every event and every constant that both the
 * BPF programs (bpf/) and userspace (lib/, loader/, maps-cli/, tests/) use
 * is declared here, once.  All structures are fixed-size, explicitly
 * padded and checked with _Static_assert: a change of size here is a
 * change of map layout, which the loader has to migrate.
 *
 * Byte order: fields named __be* are in network byte order, everything
 * else in host order.
 *
 * Addresses: both families share one 16-byte representation.  IPv4
 * addresses are stored IPv4-mapped (::ffff:a.b.c.d), so one key type and
 * one LPM trie serve both families and an IPv4 /24 is a /120.
 */
#ifndef TAILPLANE_ABI_H
#define TAILPLANE_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* ---- pins ------------------------------------------------------------ */

#define TP_PIN_ROOT_DEFAULT "/sys/fs/bpf/tailplane"

/*
 * TP_MAPS(X): every pinned map of the datapath, once, in the order tpctl
 * lists them.  X(field, holds): the map and its pin are named "tp_" field
 * (TP_MAP_NAME(field), LIBBPF_PIN_BY_NAME); field is also its fd in
 * struct tp_maps (lib/maps.h); holds says what it holds and who writes it.
 * It makes lib/maps.c's pin table and struct tp_maps.  bpf/lib/maps.h
 * defines each map (BTF-defined maps cannot come from a macro); the
 * object, deploy/tpctl.bash-completion and the TP_MAP_* names below are
 * checked against this list by tests/test_tpctl_docs.c.
 */
#define TP_MAPS(X)                                                            \
	X(ifaces,                                                             \
	  "attached interfaces by ifindex: zone, L2 or L3; the loader")       \
	X(iface_slots,                                                        \
	  "tp_ifaces direct-mapped by ifindex (a cache); the loader")         \
	X(services,                                                           \
	  "services by frontend: id, flags, zone; the loader, tpctl")         \
	X(backends,                                                           \
	  "backends by id: address, port, weight, state; the loader, tpctl")  \
	X(maglev_slab,                                                        \
	  "the services' Maglev tables in 1 MiB chunks; the loader, tpctl")   \
	X(affinity,                                                           \
	  "ClientIP affinity: (service, client) to backend; the datapath")    \
	X(ct,                                                                 \
	  "TCP flows (LRU); the datapath, loader GC, tpctl conntrack flush")  \
	X(ct_any, "UDP, ICMP and other flows (LRU); as tp_ct")                \
	X(frags,                                                              \
	  "fragmented datagrams' ports for later fragments; the datapath")    \
	X(stats,                                                              \
	  "per-CPU counters, drops by reason; the datapath (tpctl resets)")   \
	X(identity, "(zone, prefix) to identity (LPM); the loader, tpctl")    \
	X(policy,                                                             \
	  "rule keys to verdicts (LPM), from tp_rules; the loader, tpctl")    \
	X(rules, "policy rules by id, as written; the loader, tpctl")         \
	X(zones, "per-zone default verdict; the loader, tpctl")               \
	X(config,                                                             \
	  "policy revision, SNAT addresses and ports; the loader, tpctl")     \
	X(events, "drop, audit and flow events (ring buffer); the datapath")  \
	X(rule_stats, "per-CPU packets and bytes by rule id; the datapath")   \
	X(svc_stats, "per-CPU packets and bytes by service id; the datapath") \
	X(id_names, "identity to name, userspace only; the loader, tpctl")    \
	X(svc_backends,                                                       \
	  "a service's backend ids, userspace only; the loader, tpctl")       \
	X(be_frontends,                                                       \
	  "backend tuple to its services' frontends; the loader, tpctl")      \
	X(rule_index,                                                         \
	  "rule key to rule id, groups with rules; the loader, tpctl")        \
	X(id_by_name, "name to identity, userspace only; the loader, tpctl")  \
	X(guard_drop,                                                         \
	  "the XDP guard's dropped prefixes (LPM); the loader, tpctl")        \
	X(guard_buckets,                                                      \
	  "the guard's handshake token bucket per source; the datapath")      \
	X(guard_config,                                                       \
	  "the guard's ports, rate and burst; the loader, tpctl")             \
	X(static_nat,                                                         \
	  "static 1:1 NAT entries by tailnet address; the loader, tpctl")     \
	X(static_nat_rev,                                                     \
	  "static 1:1 NAT entries by inner address; the loader, tpctl")       \
	X(static_nat_n,                                                       \
	  "how many static NAT entries (0: no lookup); the loader, tpctl")    \
	X(masq, "masquerade to the tailnet: node addresses by zone; the loader")

#define TP_MAP_NAME(field) "tp_" #field

/* Names of single maps, for messages and pins ("cannot read " TP_MAP_CT). */
#define TP_MAP_IFACES	      TP_MAP_NAME(ifaces)
#define TP_MAP_IFACE_SLOTS    TP_MAP_NAME(iface_slots)
#define TP_MAP_SERVICES	      TP_MAP_NAME(services)
#define TP_MAP_BACKENDS	      TP_MAP_NAME(backends)
#define TP_MAP_MAGLEV_SLAB    TP_MAP_NAME(maglev_slab)
#define TP_MAP_AFFINITY	      TP_MAP_NAME(affinity)
#define TP_MAP_CT	      TP_MAP_NAME(ct)
#define TP_MAP_CT_ANY	      TP_MAP_NAME(ct_any)
#define TP_MAP_FRAGS	      TP_MAP_NAME(frags)
#define TP_MAP_STATS	      TP_MAP_NAME(stats)
#define TP_MAP_IDENTITY	      TP_MAP_NAME(identity)
#define TP_MAP_POLICY	      TP_MAP_NAME(policy)
#define TP_MAP_RULES	      TP_MAP_NAME(rules)
#define TP_MAP_ZONES	      TP_MAP_NAME(zones)
#define TP_MAP_CONFIG	      TP_MAP_NAME(config)
#define TP_MAP_EVENTS	      TP_MAP_NAME(events)
#define TP_MAP_RULE_STATS     TP_MAP_NAME(rule_stats)
#define TP_MAP_SVC_STATS      TP_MAP_NAME(svc_stats)
#define TP_MAP_ID_NAMES	      TP_MAP_NAME(id_names)
#define TP_MAP_SVC_BACKENDS   TP_MAP_NAME(svc_backends)
#define TP_MAP_BE_FRONTENDS   TP_MAP_NAME(be_frontends)
#define TP_MAP_RULE_INDEX     TP_MAP_NAME(rule_index)
#define TP_MAP_ID_BY_NAME     TP_MAP_NAME(id_by_name)
#define TP_MAP_STATIC_NAT     TP_MAP_NAME(static_nat)
#define TP_MAP_STATIC_NAT_REV TP_MAP_NAME(static_nat_rev)
#define TP_MAP_STATIC_NAT_N   TP_MAP_NAME(static_nat_n)
#define TP_MAP_MASQ	      TP_MAP_NAME(masq)

/* ---- sizes (defaults; the loader may resize before load) -------------- */

#define TP_MAX_IFACES	    256
#define TP_MAX_SERVICES	    65536 /* service ids 1..TP_MAX_SERVICES-1 */
#define TP_MAX_BACKENDS	    262144 /* backends; ids 1..max_entries of tp_backends */
#define TP_MAX_SVC_BACKENDS 256	   /* backends per service */
#define TP_MAGLEV_SIZE	    1021   /* default table size, a prime */
#define TP_MAGLEV_SIZE_MAX  65521  /* largest accepted prime */
#define TP_CT_SIZE	    262144 /* TCP flow and reply-key entries */
#define TP_CT_ANY_SIZE	    65536  /* the same for UDP and ICMP echo */
#define TP_AFFINITY_SIZE    65536
#define TP_FRAGS_SIZE	    8192
#define TP_IPV6_EXTHDR_MAX  8	   /* IPv6 extension headers walked */
#define TP_IDENTITY_SIZE    262144 /* identity prefixes; also names */
#define TP_MAX_RULES	    131072 /* rules; rule ids 1..TP_MAX_RULES-1 */
/*
 * tp_policy entries: a rule takes one per aligned block of its port range
 * (one for any protocol, any port or a single port; [lo, hi] takes at most
 * 2 * log2(hi - lo + 1), 30 for the worst range, 6 for 1024-65535 or
 * 8000-8999).  rules * 8 holds 100,000 rules averaging up to 10 blocks.
 * The trie is not preallocated: unused room costs nothing.
 */
#define TP_POLICY_ENTRIES(rules) ((rules)*8)
#define TP_POLICY_SIZE		 TP_POLICY_ENTRIES(TP_MAX_RULES)
#define TP_MAX_ZONES		 256
/*
 * tp_rule_index entries (below): 3 per rule, 1 per zone, 1 total, and 1
 * per tp_policy entry that several rules share: room for one such a rule
 * on average (overlapping port ranges of one group share blocks), less
 * the 257 zone counters.  4 * rules and no more: a hash's buckets are
 * preallocated, rounded up to a power of two, 16 bytes each, and 257
 * more would double them (16 MiB instead of 8 at 131,072 rules).
 */
#define TP_RULE_INDEX_ENTRIES(rules) (4 * (rules))
#define TP_RULE_INDEX_SIZE	     TP_RULE_INDEX_ENTRIES(TP_MAX_RULES)
#define TP_EVENTS_SIZE		     (1 << 20) /* ring buffer bytes */
/*
 * Static 1:1 NAT entries (a pod each), per map: far more pods than a node
 * runs (Kubernetes' default limit is 110), and a hash's bucket array, the
 * part an empty map costs, stays at 8192 * 16 bytes.
 */
#define TP_STATIC_NAT_SIZE 8192

/* ---- addresses -------------------------------------------------------- */

/**
 * struct tp_addr - an IPv4-mapped or IPv6 address, network byte order.
 * @b: the 16 address bytes.
 * @w: the same as four big-endian words; an IPv4 address is w[3] with
 *     w[0] = w[1] = 0 and w[2] = htonl(0xffff).
 */
struct tp_addr {
	union {
		__u8 b[16];
		__be32 w[4];
	};
};
_Static_assert(sizeof(struct tp_addr) == 16, "tp_addr size");

/* ---- interfaces ------------------------------------------------------- */

#define TP_IFACE_F_L3	   (1u << 0) /* packets start at the IP header (TUN) */
#define TP_IFACE_F_TAILNET (1u << 1) /* a tailnet interface (wg0, tailscale0) */
#define TP_IFACE_F_UPLINK  (1u << 2) /* the node's uplink or CNI side */

/**
 * struct tp_iface - per-interface settings, map tp_ifaces, key __u32 ifindex.
 * @flags: TP_IFACE_F_*.  An interface without an entry is treated as an
 *         Ethernet (L2) interface in zone 0.
 * @zone:  tailnet zone id of the interface, 0 when it belongs to none.
 * @pad:   zero.
 */
struct tp_iface {
	__u32 flags;
	__u16 zone;
	__u16 pad;
};
_Static_assert(sizeof(struct tp_iface) == 8, "tp_iface size");

/*
 * tp_iface_slots: tp_ifaces direct-mapped, an ARRAY of TP_IFACE_SLOTS
 * slots keyed by ifindex % TP_IFACE_SLOTS (a power of two), so that the
 * datapath's per-packet interface lookup is an array lookup the verifier
 * inlines, not a hash lookup (a call).  ifindex is unbounded (each new
 * veth takes the next one), so a slot holds at most one interface of its
 * bucket and tp_ifaces stays the truth; lib/iface.c keeps the two in step.
 */
#define TP_IFACE_SLOTS 1024u
/* The slot's bucket has no interface in tp_ifaces but the slot's own. */
#define TP_IFACE_SLOT_F_ONLY (1u << 15)
/* The tp_iface flags a slot can hold (the rest: the entry stays uncached). */
#define TP_IFACE_SLOT_FLAGS 0x7fffu

/**
 * union tp_iface_slot - map tp_iface_slots value, key __u32
 * ifindex % TP_IFACE_SLOTS.
 * @ifindex: the interface the slot holds, 0 for none.
 * @flags:   its tp_iface flags, and TP_IFACE_SLOT_F_ONLY when tp_ifaces
 *           holds no other interface of this bucket (a miss is then an
 *           answer, no tp_ifaces lookup follows).
 * @zone:    its tp_iface zone.
 * @word:    all of it: written (one store through the map's mapping:
 *           the map is BPF_F_MMAPABLE) and read as one aligned word, so a
 *           reader never sees one interface's ifindex with another's
 *           settings.
 *
 * All zero: not known, look in tp_ifaces.  A slot with an @ifindex holds
 * exactly its tp_ifaces entry: a writer zeroes the slot before it changes
 * or deletes an entry of the bucket, and fills it again after.
 */
union tp_iface_slot {
	struct {
		__u32 ifindex;
		__u16 flags;
		__u16 zone;
	};
	__u64 word;
};
_Static_assert(sizeof(union tp_iface_slot) == 8, "tp_iface_slot size");

/* ---- services and backends -------------------------------------------- */

/* Who wrote an entry; syncs never delete what they did not create. */
enum tp_owner {
	TP_OWNER_NONE = 0,
	TP_OWNER_TPCTL = 1,
	TP_OWNER_STATIC = 2, /* the loader's config file */
	TP_OWNER_KUBERNETES = 3,
	TP_OWNER_WIREGUARD = 4,
	TP_OWNER_TAILSCALE = 5,
};

/**
 * struct tp_svc_key - map tp_services key: a service frontend.
 * @vip:   virtual IP (ClusterIP).
 * @port:  service port; 0 for an ICMP echo service.
 * @proto: IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP or IPPROTO_ICMPV6.
 * @pad:   zero.
 */
struct tp_svc_key {
	struct tp_addr vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
};
_Static_assert(sizeof(struct tp_svc_key) == 20, "tp_svc_key size");

#define TP_SVC_F_AFFINITY (1u << 0) /* ClientIP session affinity */
#define TP_SVC_F_SNAT	  (1u << 1) /* always SNAT new flows to the node */

/**
 * struct tp_svc - map tp_services value.
 * @id:               service id, below TP_STAT_GROUP * max_entries of
 *                    tp_svc_stats, from 1: its counter there (TP_STAT_ELEM(),
 *                    TP_STAT_SLOT()) and its tp_svc_backends.  32 bits, so
 *                    capacities can grow without a layout change.
 * @flags:            TP_SVC_F_*.
 * @zone:             tailnet zone the service is exposed to, 0 for all.
 * @affinity_timeout: ClientIP affinity timeout in seconds (with
 *                    TP_SVC_F_AFFINITY).
 * @active:           active backends in the live Maglev table; 0 means the
 *                    service has no backend (and no table) and new flows
 *                    are dropped.
 * @pad:              zero.
 * @owner:            enum tp_owner.
 * @revision:         bumped by userspace on every change of the service.
 * @table_size:       entries of the service's table, a prime
 *                    (tp_maglev_table_size()); the datapath takes a flow's
 *                    slot modulo this.  0: no table.
 * @table_off:        the slab slot of the table's first entry (see
 *                    tp_maglev_slab below): chunk table_off >>
 *                    TP_MAGLEV_CHUNK_SHIFT, from entry table_off &
 *                    TP_MAGLEV_CHUNK_MASK.  Written with @table_size in
 *                    one update of the entry, so a packet always sees the
 *                    two agree (tp_services is a BPF_F_NO_PREALLOC hash:
 *                    an update replaces the element).
 */
struct tp_svc {
	__u32 id;
	__u16 flags;
	__u16 zone;
	__u32 affinity_timeout;
	__u16 active;
	__u8 pad;
	__u8 owner;
	__u32 revision;
	__u32 table_size;
	__u32 table_off;
};
_Static_assert(sizeof(struct tp_svc) == 28, "tp_svc size");

/* The layout of struct tp_svc before per-service tables, for migration. */
#define TP_SVC_V1_SIZE 20
/*
 * The layout with a table per service (an inner map of tp_maglev by
 * service id) and no @table_off, for migration.
 */
#define TP_SVC_V2_SIZE 24
/* That layout's map of per-service tables, removed by the upgrade. */
#define TP_MAGLEV_V2_PIN "tp_maglev"

enum tp_backend_state {
	TP_BACKEND_ACTIVE = 0,	    /* gets new flows */
	TP_BACKEND_TERMINATING = 1, /* keeps its flows, gets no new ones */
	TP_BACKEND_MAINTENANCE = 2, /* keeps its flows, gets no new ones */
};

/**
 * struct tp_backend - map tp_backends value, key __u32 backend id.
 * @addr:   backend address.
 * @port:   backend (target) port; 0 for ICMP echo services.
 * @state:  enum tp_backend_state.
 * @owner:  enum tp_owner.
 * @weight: Maglev weight, 1..65535.
 * @flags:  TP_BACKEND_F_*; zero in backends written before the flags
 *          (the field was padding), which then behave as unflagged.
 * @svc_id: the service this backend belongs to.
 */
struct tp_backend {
	struct tp_addr addr;
	__be16 port;
	__u8 state;
	__u8 owner;
	__u16 weight;
	__u16 flags;
	__u32 svc_id;
};
_Static_assert(sizeof(struct tp_backend) == 28, "tp_backend size");

/*
 * tp_be_frontends holds this backend's service frontend: a flow to it
 * from the tailnet may go without a reply-key entry (TP_CT_F_RINDEX).
 * Written only after the frontend is in the backend tuple's entry.
 */
#define TP_BACKEND_F_INDEXED (1u << 0)

/**
 * struct tp_be_key - map tp_be_frontends key: a backend tuple.
 * @addr:  backend address.
 * @port:  backend port (struct tp_backend's); 0 for ICMP echo services,
 *         whose replies carry the echo id in the other port.
 * @proto: the service's protocol.
 * @pad:   zero.
 *
 * The layout of struct tp_svc_key: the source side of a reply tuple.
 */
struct tp_be_key {
	struct tp_addr addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};
_Static_assert(sizeof(struct tp_be_key) == sizeof(struct tp_svc_key),
	       "tp_be_key has tp_svc_key's layout");

#define TP_BE_FRONTENDS 4 /* frontends of one backend tuple that index it */

/**
 * struct tp_be_frontends - map tp_be_frontends value: the service
 * frontends whose flows may reach a backend tuple, so that a reply from
 * it (backend -> client) finds its flow entry without a reply-key entry.
 * @fe: the frontends; an empty slot is all zero.  A frontend stays
 *      while its backend or service is configured, and after that until
 *      no live TP_CT_F_RINDEX flow uses it (the loader's GC).
 *
 * A hash without preallocation of at most the backends capacity: one
 * entry per backend tuple, written by userspace under the writers' lock
 * and read by the datapath for replies its two lookups did not find.
 */
struct tp_be_frontends {
	struct tp_svc_key fe[TP_BE_FRONTENDS];
};

/*
 * tp_maglev_slab: every service's Maglev table, as extents of a few large
 * chunks.  A BPF_MAP_TYPE_ARRAY_OF_MAPS of chunks, each a
 * BPF_F_MMAPABLE BPF_MAP_TYPE_ARRAY of TP_MAGLEV_CHUNK_BLOCKS struct
 * tp_maglev_block: TP_MAGLEV_CHUNK_SLOTS __u32 backend ids, 1 MiB (an
 * array's elements are 8-byte aligned: blocks keep __u32 ids packed, so
 * the mapping is the table), created only when every chunk is full and
 * never removed while the slab lives; chunk N is pinned as
 * "tp_maglev_slab_N" beside the slab (writers mmap it; finding it by its
 * id would need CAP_SYS_ADMIN).  A service's table is tp_svc.table_size
 * entries from slot tp_svc.table_off, inside one chunk: slot S of a chunk
 * is id[S % TP_MAGLEV_BLOCK_SLOTS] of its block S / TP_MAGLEV_BLOCK_SLOTS.
 * 0 is never a backend id.
 *
 * Extents are whole blocks of TP_MAGLEV_BLOCK_SLOTS entries.  The first
 * TP_MAGLEV_META_BLOCKS blocks of each chunk are its allocation bitmap
 * (bit N of the chunk's __u64 word N / 64: block N in use), which only
 * userspace reads and writes, through mmap, under the writers' lock
 * (lib/pins.c); no table ever points there.  A table changes copy on
 * write: a new extent is written, then one update of the service's entry
 * makes it live; the old extent is freed only after an RCU grace period,
 * when no program can still read it (lib/slab.c).
 */
#define TP_MAGLEV_CHUNK_SHIFT  18
#define TP_MAGLEV_CHUNK_SLOTS  (1u << TP_MAGLEV_CHUNK_SHIFT)
#define TP_MAGLEV_CHUNK_MASK   (TP_MAGLEV_CHUNK_SLOTS - 1)
#define TP_MAGLEV_BLOCK_SHIFT  5
#define TP_MAGLEV_BLOCK_SLOTS  (1u << TP_MAGLEV_BLOCK_SHIFT)
#define TP_MAGLEV_CHUNK_BLOCKS (TP_MAGLEV_CHUNK_SLOTS / TP_MAGLEV_BLOCK_SLOTS)
/* the bitmap: one bit per block, in whole blocks of __u32 slots */
#define TP_MAGLEV_META_BLOCKS \
	(TP_MAGLEV_CHUNK_BLOCKS / 32 / TP_MAGLEV_BLOCK_SLOTS)
/* table_off is a __u32: chunks 0..TP_MAGLEV_CHUNKS_MAX - 1 */
#define TP_MAGLEV_CHUNKS_MAX (1u << (32 - TP_MAGLEV_CHUNK_SHIFT))
_Static_assert(TP_MAGLEV_CHUNK_SLOTS > TP_MAGLEV_SIZE_MAX,
	       "a chunk holds the largest table");

/**
 * struct tp_maglev_block - a tp_maglev_slab chunk's value: a block.
 * @id: backend ids of TP_MAGLEV_BLOCK_SLOTS consecutive slots.
 */
struct tp_maglev_block {
	__u32 id[TP_MAGLEV_BLOCK_SLOTS];
};
_Static_assert(sizeof(struct tp_maglev_block) == 128, "tp_maglev_block size");

/*
 * Table sizes come from TP_MAGLEV_PRIMES: the smallest listed prime of at
 * least TP_MAGLEV_SLOTS_PER_BACKEND entries per active backend, capped by
 * the configured maglev_size.  With 100 entries a backend, removing one
 * of ten backends moves under 15% of the other backends' flows
 * (tests/test_maglev.c checks every size of the list).
 */
#define TP_MAGLEV_SLOTS_PER_BACKEND 100
#define TP_MAGLEV_PRIMES                                                   \
	{                                                                  \
		131, 257, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521 \
	}

/**
 * struct tp_svc_be_key - map tp_svc_backends key: the per-service index
 * of backends, written and read by userspace only.
 * @svc_id: service id (0: see TP_SVC_BE_HEAD).
 * @slot:   0..n-1: the value is the id of the service's slot-th backend;
 *          TP_SVC_BE_HEAD: the value is n, the number of backends.  Every
 *          service has a head, so the head is also the record of which
 *          service ids are in use.  The head of service id 0 (never a
 *          service) holds the maglev_size the loader was configured with.
 */
struct tp_svc_be_key {
	__u32 svc_id;
	__u32 slot;
};
_Static_assert(sizeof(struct tp_svc_be_key) == 8, "tp_svc_be_key size");

#define TP_SVC_BE_HEAD 0xffffffffu

/**
 * struct tp_affinity_key - map tp_affinity key (ClientIP affinity).
 * @svc_id: service id.
 * @pad:    zero.
 * @client: client address.
 */
struct tp_affinity_key {
	__u32 svc_id;
	__u32 pad;
	struct tp_addr client;
};
_Static_assert(sizeof(struct tp_affinity_key) == 24, "tp_affinity_key size");

/**
 * struct tp_affinity - map tp_affinity value.
 * @backend_id: backend chosen for this client.
 * @pad:        zero.
 * @last_ns:    CLOCK_MONOTONIC ns of the last new flow that used it.
 */
struct tp_affinity {
	__u32 backend_id;
	__u32 pad;
	__u64 last_ns;
};
_Static_assert(sizeof(struct tp_affinity) == 16, "tp_affinity size");

/* ---- conntrack -------------------------------------------------------- */

/*
 * Conntrack is two LRU hashes of the same layout: tp_ct for TCP, tp_ct_any
 * for every other protocol (UDP, ICMP echo).  A key's protocol names its
 * table, so a flood of one kind (UDP from any allowed peer, say) evicts
 * only its own kind's entries and never an established TCP connection.
 */

/**
 * struct tp_ct_key - a flow tuple as seen on the wire, key of tp_ct and
 * tp_ct_any.
 * @saddr: source address.
 * @daddr: destination address.
 * @sport: source port; ICMP echo request: the echo id, echo reply: 0.
 * @dport: destination port; ICMP echo request: 0, echo reply: the echo id.
 * @proto: IP protocol (IPPROTO_ICMPV6 for ICMPv6).
 * @pad:   zero.
 * @zone:  zone of the tailnet interface the flow uses; tailnets may
 *         overlap in address space, so the zone is part of the flow.
 */
struct tp_ct_key {
	struct tp_addr saddr;
	struct tp_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad;
	__u16 zone;
};
_Static_assert(sizeof(struct tp_ct_key) == 40, "tp_ct_key size");

enum tp_ct_state {
	TP_CT_NONE = 0,
	TP_CT_SYN_SENT = 1,    /* TCP: SYN seen from the originator */
	TP_CT_SYN_RECV = 2,    /* TCP: SYN-ACK seen from the responder */
	TP_CT_ESTABLISHED = 3, /* TCP handshake done, or mid-stream pickup */
	TP_CT_FIN_WAIT = 4,    /* TCP: FIN seen from one side */
	TP_CT_CLOSE = 5,       /* TCP: FIN seen from both sides */
	TP_CT_RESET = 6,       /* TCP: RST seen */
	TP_CT_OPEN = 7,	       /* UDP / ICMP: one direction seen */
	TP_CT_REPLIED = 8,     /* UDP / ICMP: both directions seen */
	TP_CT_STATE_MAX,
};

#define TP_CT_DIR_ORIG	0 /* from the originator of the flow */
#define TP_CT_DIR_REPLY 1 /* from the responder */

#define TP_CT_F_REPLY_KEY \
	(1u << 0)	       /* this entry only indexes the reply tuple */
#define TP_CT_F_DNAT (1u << 1) /* destination translated (service) */
#define TP_CT_F_SNAT (1u << 2) /* source translated to the node (SNAT) */
#define TP_CT_F_EGRESS \
	(1u << 3) /* started by a packet leaving to the tailnet */
#define TP_CT_F_LOCAL  (1u << 4) /* egress flow sent by this host itself */
#define TP_CT_F_UPLINK (1u << 5) /* egress flow that came in on an uplink */
#define TP_CT_F_MASQ \
	(1u << 6) /* with SNAT|EGRESS: masqueraded to the tailnet */
#define TP_CT_F_RINDEX \
	(1u << 7) /* with DNAT: no reply key; replies via tp_be_frontends */

/**
 * struct tp_ct_entry - map tp_ct and tp_ct_any value.
 *
 * A flow entry sits under the flow's original tuple and holds all its
 * state.  Its reply tuple is computed, not stored: the original tuple
 * reversed, with the source replaced by @nat_addr:@nat_port when
 * TP_CT_F_DNAT.  A flow whose replies carry a tuple that cannot be found
 * from the reply itself (a DNAT flow: backend -> client; a flow crossing
 * into another zone: the reply tuple in its out zone) also has a reply-key
 * entry (TP_CT_F_REPLY_KEY) under that tuple, which holds just enough to
 * find the flow entry: the original tuple is (reply key's daddr,
 * @orig_daddr, reply key's dport, @orig_dport, proto, @orig_zone).
 *
 * A DNAT flow from the tailnet whose backend has TP_BACKEND_F_INDEXED,
 * neither SNAT, masqueraded nor crossing zones, has no reply-key entry
 * (TP_CT_F_RINDEX): the VIP and port its reply lacks are among the
 * frontends tp_be_frontends lists for the reply's source, the backend
 * tuple; each gives one candidate original tuple (reply's daddr, the
 * frontend's VIP, reply's dport, its port, proto, the reply's zone),
 * and the live RINDEX flow there whose reply tuple the reply carries is
 * its flow.  Flows written before the index, and a fifth frontend's of
 * one backend tuple, keep the reply key.
 *
 * Memory: an LRU hash entry costs 48 bytes of kernel element header, the
 * 40-byte key, this 88-byte value and a 16-byte bucket: 192 bytes.
 *
 * @nat_addr:   flow entry with TP_CT_F_DNAT: the backend address.
 * @orig_daddr: reply-key entry: the original tuple's destination (the VIP).
 * @nat_port:   flow entry with TP_CT_F_DNAT: the backend port.
 * @orig_dport: reply-key entry: the original tuple's destination port.
 * @state:      enum tp_ct_state.
 * @flags:      TP_CT_F_*.
 * @svc_id:     service id, 0 when not translated.
 * @backend_id: backend id, 0 when not translated.
 * @ifindex:    interface the flow's first packet arrived on.
 * @expires_s:  CLOCK_MONOTONIC second from which the entry counts as
 *              absent (now_s >= expires_s, now_s = ns / 10^9 rounded down).
 * @created_s:  CLOCK_MONOTONIC second of the first packet.
 * @packets:    packets per direction (TP_CT_DIR_*), modulo 2^32.
 * @bytes:      bytes per direction, as skb->len.
 * @tcp_flags:  TCP flags seen per direction (ORed).
 * @verdict:    enum tp_verdict the flow was decided with.
 * @pad:        zero.
 * @src_identity: identity of the flow's source.
 * @dst_identity: identity of its destination (after translation).
 * @rule_id:    rule that decided, 0 for the zone default.
 * @policy_rev: tp_config.policy_rev the decision was made under.
 * @out_zone:   flow entry: zone the flow leaves to (0: not a tailnet
 *              interface).
 * @orig_zone:  reply-key entry: the zone of the original tuple.
 * @rk_check_s: flow entry: low 8 bits of the CLOCK_MONOTONIC second in
 *              which its reply-key entries were last checked (and rebuilt
 *              if the LRU had evicted them); reply-key entry: zero.
 * @snat_port:  flow entry with TP_CT_F_SNAT: the source port its packets
 *              leave with (network order); the source address is the
 *              node's SNAT address of the family (struct tp_config).
 * @orig_saddr: reply-key entry with TP_CT_F_SNAT: the original tuple's
 *              source (the client), which the reply key no longer holds.
 * @orig_sport: reply-key entry with TP_CT_F_SNAT: the original source port.
 * @rk_pad:     zero.
 *
 * SNAT (TP_CT_F_SNAT): a flow whose source was rewritten to the node's
 * address and a port of the SNAT range.  Its reply tuple is the original
 * reversed, the source the backend (with TP_CT_F_DNAT), the destination
 * the SNAT address and @snat_port, in zone 0 (the cluster side); its
 * reply-key entry carries TP_CT_F_REPLY_KEY | TP_CT_F_SNAT.  Inserting
 * that reply key with BPF_NOEXIST is what reserves the port.
 *
 * Masquerade (TP_CT_F_MASQ, always with TP_CT_F_SNAT and TP_CT_F_EGRESS,
 * never with TP_CT_F_DNAT): a flow from this side to the tailnet whose
 * source was rewritten to the node's address on its zone's tailnet
 * interface (map tp_masq) and @snat_port.  That address is kept in
 * @nat_addr (unused without DNAT), so the reply tuple needs no lookup and
 * stays what the packets left with when the address changes later: the
 * original reversed, the destination @nat_addr:@snat_port, in the flow's
 * own zone.  Its reply-key entry has the SNAT layout (TP_CT_F_REPLY_KEY |
 * TP_CT_F_SNAT, @orig_saddr and @orig_sport the pod's).
 *
 * Masqueraded crossing (TP_CT_F_MASQ | TP_CT_F_SNAT without
 * TP_CT_F_EGRESS): a flow from zone A's tailnet that crosses into zone
 * @out_zone, whose interface masquerades.  Its reply tuple is in
 * @out_zone: (@nat_addr:@nat_port after DNAT, else the original
 * destination) -> masquerade address:@snat_port; its one reply-key entry
 * (SNAT layout: @orig_saddr/@orig_sport the client, @orig_daddr/
 * @orig_dport the VIP or peer, @orig_zone A) sits there, and no crossing
 * key besides: two entries a flow, 384 bytes, with or without DNAT.
 * Replies are restored whole as they come in, so in zone A they are the
 * original tuple reversed (found by the reversed lookup).  The address:
 * without TP_CT_F_DNAT it is kept in @nat_addr, as for a pod's flow; a
 * cross-tailnet service (with TP_CT_F_DNAT) needs @nat_addr for its
 * backend, and the 88 bytes have no room for a second address, so the
 * datapath reads it from tp_masq[@out_zone] on each packet (one lookup
 * of a small hash, for these flows only).  Taking the backend from
 * tp_backends[@backend_id] instead would let a removed or reused backend
 * id move a live flow; the lookup only makes a changed zone address move
 * the flow to the new address (its reply key is written again under it
 * by the next packet).  Userspace, which does not read tp_masq on its
 * walks, judges such a flow's reply key on every other field
 * (tp_ct_reply_tuple() returns false for it).
 *
 * Layout history: version 2 (before SNAT) had a zero pad byte where
 * @rk_check_s is and a 16-bit rk_check_s where @snat_port is; read as
 * this layout a version-2 entry has no TP_CT_F_SNAT (so @snat_port is
 * never read) and rk_check_s 0 (one early check): no conversion needed.
 *
 * A reply-key entry has every other field zero.
 */
struct tp_ct_entry {
	union {
		struct tp_addr nat_addr;
		struct tp_addr orig_daddr;
	};
	union {
		__be16 nat_port;
		__be16 orig_dport;
	};
	__u8 state;
	__u8 flags;
	__u32 svc_id;
	__u32 backend_id;
	__u32 ifindex;
	__u32 expires_s;
	__u32 created_s;
	union {
		struct { /* flow entry */
			__u32 packets[2];
			__u64 bytes[2];
		};
		struct { /* reply-key entry with TP_CT_F_SNAT */
			struct tp_addr orig_saddr;
			__be16 orig_sport;
			__u8 rk_pad[6];
		};
	};
	__u8 tcp_flags[2];
	__u8 verdict;
	__u8 rk_check_s;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;
	__u32 policy_rev;
	union {
		__u16 out_zone;
		__u16 orig_zone;
	};
	__be16 snat_port;
};
_Static_assert(sizeof(struct tp_ct_entry) == 88, "tp_ct_entry size");
_Static_assert(__builtin_offsetof(struct tp_ct_entry, bytes) % 8 == 0,
	       "tp_ct_entry bytes aligned");

/*
 * Per-flow map memory (kernel 6.x, htab_map_mem_usage(), max_entries a
 * power of two): TP_CT_ENTRY_COST bytes an entry.  An untranslated flow
 * and a DNAT flow with TP_CT_F_RINDEX have one entry; a DNAT flow on a
 * reply key (its backend not indexed), a SNAT or masqueraded flow and a
 * zone-crossing flow two; a DNAT flow crossing zones three.
 */
#define TP_CT_ENTRY_COST \
	(48 + sizeof(struct tp_ct_key) + sizeof(struct tp_ct_entry) + 16)

/* CLOCK_MONOTONIC seconds of a ns time, the unit of expires_s/created_s. */
#define TP_CT_SEC(ns) ((__u32)((ns) / 1000000000ULL))

/* Default timeouts in seconds (const volatile knobs in the programs). */
#define TP_CT_TIMEOUT_SYN	  60
#define TP_CT_TIMEOUT_ESTABLISHED 21600
#define TP_CT_TIMEOUT_FIN	  120
#define TP_CT_TIMEOUT_CLOSE	  10
#define TP_CT_TIMEOUT_UDP	  60
#define TP_CT_TIMEOUT_ICMP	  30
#define TP_FRAG_TIMEOUT		  30

/* ---- identities ------------------------------------------------------- */

/* Reserved identities; user identities start at TP_ID_USER_MIN. */
enum tp_identity_reserved {
	TP_ID_UNKNOWN = 0,
	TP_ID_HOST = 1,	   /* this node */
	TP_ID_WORLD = 2,   /* anything not otherwise known */
	TP_ID_TAILNET = 3, /* a tailnet peer without a more specific identity */
	TP_ID_CLUSTER = 4, /* the cluster's pod/service ranges */
	TP_ID_USER_MIN = 256,
};

/**
 * struct tp_identity_key - map tp_identity (LPM trie) key.
 * @prefixlen: 32 + prefix length in the 128-bit address space (an IPv4
 *             /24 is 32 + 96 + 24); the zone is always matched whole.
 * @zone:      the tailnet zone the address lives in; 0 for addresses on
 *             the cluster/node side (pods, hosts).
 * @pad:       zero.
 * @addr:      the address.
 */
struct tp_identity_key {
	__u32 prefixlen;
	__u16 zone;
	__u16 pad;
	struct tp_addr addr;
};
_Static_assert(sizeof(struct tp_identity_key) == 24, "tp_identity_key size");

#define TP_IDENTITY_PLEN(addr_plen) (32u + (addr_plen))
/* An LPM key's prefix counts bits from the byte after @prefixlen. */
#define TP_LPM_BIT(type, field) ((__builtin_offsetof(type, field) - 4) * 8)
_Static_assert(TP_LPM_BIT(struct tp_identity_key, addr) == TP_IDENTITY_PLEN(0),
	       "tp_identity_key: the address starts after zone and pad");

/**
 * struct tp_identity_val - map tp_identity value.
 * @id:    the identity.
 * @owner: enum tp_owner.
 * @plen:  the entry's own prefix length (128-bit space): an LPM lookup
 *         returns the longest covering entry, and this tells userspace
 *         whether that is the exact prefix it asked for.
 * @pad:   zero.
 */
struct tp_identity_val {
	__u32 id;
	__u8 owner;
	__u8 plen;
	__u8 pad[2];
};
_Static_assert(sizeof(struct tp_identity_val) == 8, "tp_identity_val size");

#define TP_IDENTITY_NAME_LEN 48

/**
 * struct tp_identity_name - map tp_id_names value, key __u32 identity:
 * the name userspace shows for an identity.  The datapath never reads it.
 * @name:  NUL-terminated name ([A-Za-z0-9_.:/-], not all digits).
 * @owner: enum tp_owner.
 * @pad:   zero.
 */
struct tp_identity_name {
	char name[TP_IDENTITY_NAME_LEN];
	__u8 owner;
	__u8 pad[7];
};
_Static_assert(sizeof(struct tp_identity_name) == 56, "tp_identity_name size");

/* ---- policy -------------------------------------------------------------- */

enum tp_verdict {
	TP_VERDICT_NONE = 0, /* no rule matched (the zone default applies) */
	TP_VERDICT_ALLOW = 1,
	TP_VERDICT_DENY = 2,
	TP_VERDICT_AUDIT = 3, /* allow, and report that it would be denied */
};

#define TP_POLICY_ANY_ID   0 /* wildcard identity in a policy key */
#define TP_POLICY_ANY_ZONE 0 /* rule for every zone */

/**
 * struct tp_policy_key - map tp_policy (LPM trie) key.
 *
 * A rule for (src, dst, zone) is one entry per aligned block of its port
 * range.  The prefix always covers @src_id, @dst_id and @zone (80 bits);
 * then @proto (any protocol: 80), then @pad and the port's leading bits
 * (a protocol with any port: 88; a block of 2^(16-k) ports: 96 + k).
 *
 * @prefixlen: see above.
 * @src_id:    source identity or TP_POLICY_ANY_ID.
 * @dst_id:    destination identity or TP_POLICY_ANY_ID.
 * @zone:      zone or TP_POLICY_ANY_ZONE.
 * @proto:     IP protocol (ICMP rules name IPPROTO_ICMP/IPPROTO_ICMPV6).
 * @pad:       zero.
 * @dport:     destination port, network order.
 * @pad2:      zero.
 */
struct tp_policy_key {
	__u32 prefixlen;
	__u32 src_id;
	__u32 dst_id;
	__u16 zone;
	__u8 proto;
	__u8 pad;
	__be16 dport;
	__u16 pad2;
};
_Static_assert(sizeof(struct tp_policy_key) == 20, "tp_policy_key size");

#define TP_POLICY_PLEN_ANY_PROTO 80
#define TP_POLICY_PLEN_ANY_PORT	 88
#define TP_POLICY_PLEN_PORT(k)	 (96 + (k)) /* k leading port bits, 1..16 */
_Static_assert(TP_LPM_BIT(struct tp_policy_key, src_id) == 0 &&
		       TP_LPM_BIT(struct tp_policy_key, proto) ==
			       TP_POLICY_PLEN_ANY_PROTO &&
		       TP_LPM_BIT(struct tp_policy_key, pad) ==
			       TP_POLICY_PLEN_ANY_PORT &&
		       TP_LPM_BIT(struct tp_policy_key, dport) ==
			       TP_POLICY_PLEN_PORT(0),
	       "tp_policy_key: the prefix lengths follow the field order");

/**
 * struct tp_policy_val - map tp_policy value.
 * @rule_id: the rule (tp_rules key) this entry comes from.
 * @verdict: enum tp_verdict.
 * @l4_plen: the entry's prefixlen - TP_POLICY_PLEN_ANY_PROTO (0..32):
 *           how specific its protocol/port part is.
 * @pad:     zero.
 */
struct tp_policy_val {
	__u32 rule_id;
	__u8 verdict;
	__u8 l4_plen;
	__u16 pad;
};
_Static_assert(sizeof(struct tp_policy_val) == 8, "tp_policy_val size");

/**
 * struct tp_rule - map tp_rules value, key __u32 rule id: a policy rule as
 * written, the source of truth tp_policy is derived from.  The datapath
 * never reads it.
 * @src_id:     source identity or TP_POLICY_ANY_ID.
 * @dst_id:     destination identity or TP_POLICY_ANY_ID.
 * @zone:       zone or TP_POLICY_ANY_ZONE.
 * @proto:      0 for any protocol.
 * @verdict:    enum tp_verdict (not NONE).
 * @port_lo:    first port, host order (0 with @port_hi 0: any port).
 * @port_hi:    last port, host order.
 * @owner:      enum tp_owner.
 * @pad:        zero.
 */
struct tp_rule {
	__u32 src_id;
	__u32 dst_id;
	__u16 zone;
	__u8 proto;
	__u8 verdict;
	__u16 port_lo;
	__u16 port_hi;
	__u8 owner;
	__u8 pad[3];
};
_Static_assert(sizeof(struct tp_rule) == 20, "tp_rule size");

#define TP_ZONE_F_RULES (1u << 0) /* tp_policy has rules naming this zone */

/**
 * struct tp_zone - map tp_zones value, key __u32 zone.  A zone without an
 * entry defaults to allow.
 * @default_verdict: TP_VERDICT_ALLOW or TP_VERDICT_DENY.
 * @flags:           TP_ZONE_F_*.
 * @pad:             zero.
 */
struct tp_zone {
	__u8 default_verdict;
	__u8 flags;
	__u16 pad;
};
_Static_assert(sizeof(struct tp_zone) == 4, "tp_zone size");

#define TP_CFG_F_SNAT_AUTO \
	(1u << 0) /* SNAT flows whose backend the FIB puts behind an uplink */

/* Default SNAT source port range (inclusive), as Cilium's and the issue's. */
#define TP_SNAT_PORT_MIN 61000
#define TP_SNAT_PORT_MAX 65000

/**
 * struct tp_config - map tp_config value, the single entry at key 0.
 * @policy_rev:    bumped by userspace on every policy or identity change;
 *                 a flow decided under an older revision is decided again
 *                 on its next packet in the original direction.
 * @flags:         TP_CFG_F_*.
 * @snat_addr4:    the node's IPv4 SNAT address (v4-mapped), all zero for
 *                 none: then IPv4 flows that need SNAT are dropped
 *                 (TP_DROP_NO_SNAT_ADDR).
 * @snat_addr6:    the node's IPv6 SNAT address, all zero for none.
 * @snat_port_min: first port of the SNAT range (host order).
 * @snat_port_max: last port of the SNAT range (host order, >= min).
 * @pad:           zero.
 *
 * Layout history: version 1 was 8 bytes (@policy_rev and a pad); the
 * loader carries @policy_rev over, plus one, when it replaces it.
 */
struct tp_config {
	__u32 policy_rev;
	__u32 flags;
	struct tp_addr snat_addr4;
	struct tp_addr snat_addr6;
	__u16 snat_port_min;
	__u16 snat_port_max;
	__u32 pad;
};
_Static_assert(sizeof(struct tp_config) == 48, "tp_config size");
#define TP_CONFIG_V1_SIZE 8

/* ---- masquerade to the tailnet ------------------------------------------ */

#define TP_MASQ_F_ON \
	(1u << 0) /* new flows leaving through this zone are masqueraded */
/*
 * With TP_MASQ_F_ON: flows crossing into this zone from another tailnet
 * zone are masqueraded too (the loader sets both; a bit of its own so
 * that writers that know only pods' masquerade keep their meaning).
 */
#define TP_MASQ_F_CROSSING (1u << 1)

/**
 * struct tp_masq - map tp_masq value (a hash of TP_MAX_ZONES entries, key
 * __u32 zone): masquerade toward one tailnet zone.
 * @flags: TP_MASQ_F_*.  A zone without an entry, or whose entry lacks
 *         TP_MASQ_F_ON, has its traffic left alone.
 * @pad:   zero.
 * @addr4: the node's IPv4 address on the zone's tailnet interface
 *         (v4-mapped), all zero for none: IPv4 flows that would be
 *         masqueraded are dropped (TP_DROP_NO_SNAT_ADDR).
 * @addr6: the same for IPv6.
 *
 * Zone 0 is the cluster side, never masqueraded: its entry is ignored.
 * The loader (loader/snat.c) writes the entries of the interfaces with
 * "masquerade": true and clears the others.
 */
struct tp_masq {
	__u32 flags;
	__u32 pad;
	struct tp_addr addr4;
	struct tp_addr addr6;
};
_Static_assert(sizeof(struct tp_masq) == 40, "tp_masq size");

/* ---- static 1:1 NAT ------------------------------------------------------ */

/*
 * A static entry gives an inner address (a pod's) a tailnet address of its
 * own: packets from the tailnet to the tailnet address go to the inner
 * address, packets from the inner address to the tailnet leave from the
 * tailnet address (bpf/lib/static_nat.h).  Two hashes hold each entry,
 * one per direction, written together by lib/static_nat.c under the
 * writers' lock:
 *
 *   tp_static_nat:     (zone, tailnet address) -> inner address
 *   tp_static_nat_rev: inner address -> (zone, tailnet address)
 *
 * Zone 0 means every tailnet zone.  A tailnet address is in at most one
 * entry per zone and never in zone 0 and a zone at once; an inner address
 * is in at most one entry; both addresses have the same family, and
 * neither is a service VIP.  Memory: see docs/tailplaned.8 (MEMORY).
 *
 * tp_static_nat_n (array, one __u32 at key 0) counts the entries, or more:
 * writers raise it before writing an entry and lower it after deleting
 * one, and the loader's sync, which reads every entry, sets it exact.  The datapath skips
 * the stage when it is 0, so a node without static NAT pays one array
 * lookup a packet, not four hash lookups.
 */

/**
 * struct tp_static_nat_key - map tp_static_nat key.
 * @zone: the tailnet zone, 0 for all.
 * @pad:  zero.
 * @addr: the tailnet address.
 */
struct tp_static_nat_key {
	__u16 zone;
	__u16 pad;
	struct tp_addr addr;
};
_Static_assert(sizeof(struct tp_static_nat_key) == 20,
	       "tp_static_nat_key size");

/**
 * struct tp_static_nat - value of tp_static_nat (@addr: the inner address)
 * and of tp_static_nat_rev, key struct tp_addr inner address (@addr: the
 * tailnet address).
 * @addr:  the address on the other side.
 * @zone:  the entry's zone, 0 for all.
 * @owner: enum tp_owner.
 * @pad:   zero.
 */
struct tp_static_nat {
	struct tp_addr addr;
	__u16 zone;
	__u8 owner;
	__u8 pad;
};
_Static_assert(sizeof(struct tp_static_nat) == 20, "tp_static_nat size");

/* ---- policy and identity indexes ------------------------------------ */

/*
 * Writers find a rule by its match, a group's rules, a zone's rule count
 * and an identity by its name through these hashes, so that one write
 * costs the same with 10 or 100,000 rules and identities present, in a
 * fresh tpctl process as in the loader.  The maps are the index (no
 * process keeps one in memory); every writer of tp_rules and tp_id_names
 * keeps them current under the writers' lock (lib/policy.c,
 * lib/identity.c), and a loader starting on pins from before them builds
 * them from tp_rules and tp_id_names.  The datapath reads one kind:
 * tp_rule_index's GROUP entries, so that a policy decision skips groups
 * without rules and decides a group of one rule from that rule, without
 * walking the tp_policy trie (bpf/lib/policy.h); writers add a group's
 * entry before its tp_policy entries and remove it first.
 */

/**
 * enum tp_rule_index_kind - what a tp_rule_index entry indexes.
 * @TP_RIDX_MATCH: a rule's match (src, dst, zone, proto, ports as stored)
 *                 -> the rule id and its slot in its group.
 * @TP_RIDX_GROUP: a (src, dst, zone) group -> how many rules it has;
 *                 they sit in slots 0..n-1.
 * @TP_RIDX_SLOT:  (group, slot) -> the rule id in that slot.  A removed
 *                 rule's slot takes the group's last rule.
 * @TP_RIDX_ZONE:  a zone -> how many rules name it (TP_ZONE_F_RULES).
 * @TP_RIDX_TOTAL: key all zero but the kind -> how many rules there are
 *                 (keeps rule ids dense, see lib/policy.c).
 * @TP_RIDX_SHARED: a tp_policy entry (src, dst, zone, proto, @port_lo =
 *                 its port, @slot = its prefixlen) that 2 or more rules
 *                 of its group produce -> how many; absent for one.  A
 *                 delete then knows, per entry, whether it goes with the
 *                 rule without reading the group.
 */
enum tp_rule_index_kind {
	TP_RIDX_MATCH = 1,
	TP_RIDX_GROUP = 2,
	TP_RIDX_SLOT = 3,
	TP_RIDX_ZONE = 4,
	TP_RIDX_TOTAL = 5,
	TP_RIDX_SHARED = 6,
};

/**
 * struct tp_rule_index_key - map tp_rule_index key.  Fields a kind does
 * not use are zero.
 * @kind:    enum tp_rule_index_kind.
 * @proto:   MATCH, SHARED: the protocol.
 * @zone:    MATCH, GROUP, SLOT, ZONE, SHARED: the zone.
 * @src_id:  MATCH, GROUP, SLOT, SHARED: source identity.
 * @dst_id:  MATCH, GROUP, SLOT, SHARED: destination identity.
 * @port_lo: MATCH: first port (0 with @port_hi 0: any port); SHARED: the
 *           entry's port, host order.
 * @port_hi: MATCH: last port.
 * @slot:    SLOT: the slot; SHARED: the entry's prefixlen.
 */
struct tp_rule_index_key {
	__u8 kind;
	__u8 proto;
	__u16 zone;
	__u32 src_id;
	__u32 dst_id;
	__u16 port_lo;
	__u16 port_hi;
	__u32 slot;
};
_Static_assert(sizeof(struct tp_rule_index_key) == 20,
	       "tp_rule_index_key size");

/**
 * struct tp_rule_index_val - map tp_rule_index value.
 * @rule_id: MATCH, SLOT: the rule id; GROUP: the group's only rule when
 *           @n is 1 (0: unknown, e.g. an index from before this field,
 *           and the datapath walks tp_policy for the group).
 * @n:       MATCH: the rule's slot in its group; GROUP, ZONE, TOTAL,
 *           SHARED: the count.
 */
struct tp_rule_index_val {
	__u32 rule_id;
	__u32 n;
};
_Static_assert(sizeof(struct tp_rule_index_val) == 8, "tp_rule_index_val size");

/**
 * struct tp_id_name_key - map tp_id_by_name key (value __u32 identity):
 * the inverse of tp_id_names.
 * @name: the name, NUL-padded to its whole length.
 */
struct tp_id_name_key {
	char name[TP_IDENTITY_NAME_LEN];
};
_Static_assert(sizeof(struct tp_id_name_key) == 48, "tp_id_name_key size");

/* ---- events ---------------------------------------------------------------- */

enum tp_event_type {
	TP_EVENT_FLOW_ALLOW = 1, /* new flow allowed (translated or not) */
	TP_EVENT_FLOW_DENY = 2, /* packet dropped by policy or zone isolation */
	TP_EVENT_FLOW_AUDIT = 3, /* new flow allowed by an audit rule */
	TP_EVENT_DROP = 4, /* packet dropped for a reason other than policy */
};

#define TP_EVENT_F_ALLOW (1u << TP_EVENT_FLOW_ALLOW) /* event_mask bits */
#define TP_EVENT_F_DENY	 (1u << TP_EVENT_FLOW_DENY)
#define TP_EVENT_F_AUDIT (1u << TP_EVENT_FLOW_AUDIT)
#define TP_EVENT_F_DROP	 (1u << TP_EVENT_DROP)

#define TP_EVENT_HOOK_FROM_TAILNET 0
#define TP_EVENT_HOOK_TO_TAILNET   1
#define TP_EVENT_HOOK_FROM_UPLINK  2 /* tp_from_uplink: replies to SNAT flows */

/**
 * struct tp_event - one record of the tp_events ring buffer.
 * @ts_ns:       CLOCK_MONOTONIC ns.
 * @type:        enum tp_event_type.
 * @verdict:     enum tp_verdict applied.
 * @reason:      enum tp_drop_reason for drops, else 0.
 * @hook:        TP_EVENT_HOOK_*.
 * @zone:        zone of the flow (of the interface it uses).
 * @out_zone:    zone it leaves to (0: not a tailnet).
 * @ifindex:     interface of the hook.
 * @src_id:      source identity.
 * @dst_id:      destination identity.
 * @rule_id:     rule that decided, 0 for the zone default.
 * @svc_id:      service id, 0 when not translated.
 * @tuple:       the flow's tuple before translation.
 * @nat_addr:    destination after translation (= tuple.daddr if none).
 * @nat_port:    destination port after translation.
 * @pad:         zero.
 */
struct tp_event {
	__u64 ts_ns;
	__u8 type;
	__u8 verdict;
	__u8 reason;
	__u8 hook;
	__u16 zone;
	__u16 out_zone;
	__u32 ifindex;
	__u32 src_id;
	__u32 dst_id;
	__u32 rule_id;
	__u32 svc_id;
	struct tp_ct_key tuple;
	struct tp_addr nat_addr;
	__be16 nat_port;
	__u16 pad[3];
};
_Static_assert(sizeof(struct tp_event) == 104, "tp_event size");

/* ---- fragments -------------------------------------------------------- */

/**
 * struct tp_frag_key - map tp_frags key: one fragmented datagram.
 * @saddr: source address.
 * @daddr: destination address.
 * @id:    IPv4 identification (16 bits) or IPv6 fragment id.
 * @proto: IPv4: the protocol; IPv6: the Fragment header's next header,
 *         which every fragment carries (the upper-layer protocol may
 *         follow further extension headers that only the first has).
 * @pad:   zero.
 * @zone:  zone of the interface.
 */
struct tp_frag_key {
	struct tp_addr saddr;
	struct tp_addr daddr;
	__u32 id;
	__u8 proto;
	__u8 pad;
	__u16 zone;
};
_Static_assert(sizeof(struct tp_frag_key) == 40, "tp_frag_key size");

/**
 * struct tp_frag - map tp_frags value: what later fragments take from
 * the first.
 * @sport:   source port (or ICMP echo id convention as in tp_ct_key).
 * @dport:   destination port.
 * @proto:   the upper-layer protocol the first fragment carried.
 * @pad:     zero.
 * @seen_ns: CLOCK_MONOTONIC ns of the first fragment.
 */
struct tp_frag {
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
	__u64 seen_ns;
};
_Static_assert(sizeof(struct tp_frag) == 16, "tp_frag size");

/* ---- counters --------------------------------------------------------- */

/*
 * Drop reasons.  BPF helpers return them negated; tp_stats counts each at
 * TP_STAT_DROP(reason).  Documented in docs/datapath.md.
 */
enum tp_drop_reason {
	TP_DROP_NONE = 0,
	TP_DROP_TRUNCATED = 1, /* a header runs past the end of the packet */
	TP_DROP_BAD_IHL = 2,   /* IPv4 IHL < 5 */
	TP_DROP_BAD_LEN = 3, /* IP length field inconsistent with the packet */
	TP_DROP_BAD_VERSION = 4, /* L3 interface, IP version not 4 or 6 */
	TP_DROP_EXTHDR_LIMIT =
		5, /* more than TP_IPV6_EXTHDR_MAX extension headers */
	TP_DROP_BAD_FRAG = 6,	  /* overlapping tiny fragment (RFC 1858) */
	TP_DROP_NO_BACKEND = 7,	  /* service without an active backend */
	TP_DROP_CT_FULL = 8,	  /* conntrack entry could not be written */
	TP_DROP_REWRITE_FAIL = 9, /* a packet write or checksum helper failed */
	TP_DROP_POLICY = 10,	  /* denied by a rule or the zone default */
	TP_DROP_ZONE = 11,	  /* crosses zones without a rule naming both */
	TP_DROP_FRAG_NO_FLOW =
		12, /* later fragment of an unknown flow, default deny */
	TP_DROP_CT_CLASH = 13,	/* tuple held by another live flow */
	TP_DROP_V4_MAPPED = 14, /* IPv6 with a v4-mapped/-compatible address */
	TP_DROP_INTERNAL = 15, /* a reason the datapath does not know (a bug) */
	TP_DROP_SNAT_EXHAUSTED = 16, /* no free port in the SNAT range */
	TP_DROP_NO_SNAT_ADDR =
		17, /* SNAT needed, no SNAT address of the family */
	TP_DROP_NO_ROUTE =
		18, /* the FIB has no usable route for a translated flow */
	TP_DROP_FRAG_NEEDED =
		19, /* too big for the tailnet MTU; ICMP error sent back */
	TP_DROP_TTL_EXCEEDED =
		20, /* a packet we forward ourselves (SNAT) would leave with TTL 0 */
	TP_DROP_STATIC_SPOOF =
		21, /* from the tailnet, sourced from one of our static NAT addresses */
	TP_DROP_REVERSE_PATH =
		22, /* a reply came in where its source is not routed (strict RPF) */
	TP_DROP_VLAN =
		23, /* a VLAN's frame on a tailnet interface (a tag in it) */
	TP_DROP_REASON_MAX,
};

/* tp_stats indices (per-CPU array of struct tp_stat). */
enum tp_stat_id {
	TP_STAT_RX_TAILNET = 0, /* packets into tp_from_tailnet */
	TP_STAT_TX_TAILNET = 1, /* packets into tp_to_tailnet */
	TP_STAT_PASS = 2,	/* passed without translation */
	TP_STAT_DNAT = 3,	/* translated to a backend */
	TP_STAT_REVNAT = 4,	/* replies translated back to the service */
	TP_STAT_CT_NEW = 5,	/* conntrack flows created */
	TP_STAT_CT_HIT = 6,	/* packets of a known flow */
	TP_STAT_FRAG_NO_RECORD =
		7, /* later fragment without a first one: passed */
	TP_STAT_ICMP_ERR_NAT =
		8,	    /* ICMP errors whose inner packet was translated */
	TP_STAT_NOT_IP = 9, /* non-IP traffic on an L2 interface: passed */
	TP_STAT_OTHER_PROTO = 10,   /* IP protocols we do not track: passed */
	TP_STAT_VERDICT_ALLOW = 11, /* policy decisions: allow */
	TP_STAT_VERDICT_DENY = 12,  /* policy decisions: deny */
	TP_STAT_VERDICT_AUDIT = 13, /* policy decisions: audit */
	TP_STAT_POLICY_RECHECK =
		14,	     /* established flows decided again (revision) */
	TP_STAT_EVENTS = 15, /* events written to the ring buffer */
	TP_STAT_EVENTS_LIMITED = 16, /* events suppressed by the rate limit */
	TP_STAT_EVENTS_LOST = 17,    /* events lost: ring buffer full */
	TP_STAT_SNAT = 18,	     /* packets source-translated to the node */
	TP_STAT_REVSNAT =
		19, /* replies restored on an uplink (tp_from_uplink) */
	TP_STAT_RX_UPLINK = 20,	 /* packets into tp_from_uplink */
	TP_STAT_GUARD_PASS = 21, /* tp_xdp_guard: passed */
	TP_STAT_GUARD_LISTED =
		22, /* tp_xdp_guard: dropped, source on the drop list */
	TP_STAT_GUARD_RATE_LIMITED =
		23, /* tp_xdp_guard: dropped, over its source's rate */
	TP_STAT_STATIC_NAT_IN =
		24, /* from the tailnet: a static NAT address made inner */
	TP_STAT_STATIC_NAT_OUT =
		25, /* to the tailnet: an inner address made its tailnet one */
	TP_STAT_MASQ =
		26, /* to the tailnet: source masqueraded to the node's */
	TP_STAT_REVMASQ =
		27, /* from the tailnet: a masqueraded flow's reply restored */
	TP_STAT_DROP_BASE = 32,
	TP_STAT_MAX = TP_STAT_DROP_BASE + 32,
};
#define TP_STAT_DROP(reason) (TP_STAT_DROP_BASE + (reason))
_Static_assert(TP_DROP_REASON_MAX <= 32, "drop reasons fit in tp_stats");

/**
 * struct tp_stat - one per-CPU counter of tp_stats.
 * @packets: packets counted.
 * @bytes:   bytes counted, as skb->len.
 */
struct tp_stat {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct tp_stat) == 16, "tp_stat size");

/*
 * tp_rule_stats and tp_svc_stats: a struct tp_stat per rule id or service
 * id, TP_STAT_GROUP of them to an element (struct tp_stat_group).  A
 * per-CPU array makes one per-CPU allocation per element, ~1.2 us each:
 * 131,073 single counters took 155 ms of a loader's cold start, 2,049
 * groups take 64 times fewer.  Id @id is counter TP_STAT_SLOT(@id) of
 * element TP_STAT_ELEM(@id), the one rule the datapath and userspace both
 * follow; a map of E elements holds ids 0..E * TP_STAT_GROUP - 1, and ids
 * 0..@n-1 take TP_STAT_ELEMS(@n) elements.  tp_stats stays one counter an
 * element: it is 64 entries.
 */
#define TP_STAT_GROUP_SHIFT 6
#define TP_STAT_GROUP	    (1u << TP_STAT_GROUP_SHIFT)
#define TP_STAT_ELEM(id)    ((__u32)(id) >> TP_STAT_GROUP_SHIFT)
#define TP_STAT_SLOT(id)    ((__u32)(id) & (TP_STAT_GROUP - 1))
#define TP_STAT_ELEMS(n)    (((n) + TP_STAT_GROUP - 1) >> TP_STAT_GROUP_SHIFT)

/**
 * struct tp_stat_group - value of tp_rule_stats and tp_svc_stats: the
 * counters of TP_STAT_GROUP consecutive ids, per CPU.
 * @c: counter TP_STAT_SLOT(id) is id's.
 */
struct tp_stat_group {
	struct tp_stat c[TP_STAT_GROUP];
};
_Static_assert(sizeof(struct tp_stat_group) == 1024, "tp_stat_group size");

/* ---- XDP guard (tp_xdp_guard, uplinks) ------------------------------- */

/*
 * tp_xdp_guard runs at XDP on every uplink, before the stack: sources on
 * a drop list lose every IP packet, and WireGuard handshake-shaped UDP
 * packets to a guarded port are limited per source by a token bucket, so
 * a handshake flood from one source costs the node a map lookup per
 * packet instead of a Curve25519 computation.  docs/datapath.md explains
 * the choices; the counters are TP_STAT_GUARD_*.
 */
#define TP_MAP_GUARD_DROP    TP_MAP_NAME(guard_drop)
#define TP_MAP_GUARD_BUCKETS TP_MAP_NAME(guard_buckets)
#define TP_MAP_GUARD_CONFIG  TP_MAP_NAME(guard_config)

#define TP_GUARD_DROP_SIZE \
	16384 /* drop-list prefixes (LPM, not preallocated) */
/*
 * Sources with bucket state (LRU, preallocated: 96 bytes each as the
 * kernel accounts it, 1.5 MiB at this default; the maps exist whether the
 * guard is on or not, so the default is sized for thousands of peers, and
 * capacity.guard_sources raises it).  A
 * flood from more spoofed sources than this evicts only buckets: an
 * evicted source starts again with a full bucket, which is the cost of
 * LRU, and WireGuard's own cookie reply under load is the answer to
 * spoofed sources (they cannot complete it).
 */
#define TP_GUARD_BUCKETS_SIZE 16384
#define TP_GUARD_MAX_PORTS    8
#define TP_GUARD_PORT_WG      51820 /* WireGuard's usual port */
#define TP_GUARD_PORT_TS      41641 /* tailscaled's default port */
/*
 * Defaults: a legitimate peer sends a handshake initiation every few
 * seconds at most (REKEY_TIMEOUT 5 s, plus responses and cookie replies),
 * so 20 handshakes a second with a burst of 40 per source never touches
 * one, nor a NAT that puts a few dozen peers behind one address; a flood
 * from one source is cut to that.  Data (message type 4) is never limited.
 */
#define TP_GUARD_RATE_DEFAULT  20
#define TP_GUARD_BURST_DEFAULT 40
#define TP_GUARD_RATE_MAX      10000000 /* handshakes per second */
#define TP_GUARD_BURST_MAX     1000000

/* WireGuard messages (type: a little-endian u32 at the payload's start). */
#define TP_WG_MSG_INITIATION   1
#define TP_WG_MSG_RESPONSE     2
#define TP_WG_MSG_COOKIE_REPLY 3
#define TP_WG_MSG_DATA	       4
#define TP_WG_INITIATION_LEN   148 /* UDP payload bytes */
#define TP_WG_RESPONSE_LEN     92
#define TP_WG_COOKIE_REPLY_LEN 64

/**
 * struct tp_guard_key - map tp_guard_drop (LPM trie) key.
 * @prefixlen: prefix length in the 128-bit address space (an IPv4 /24
 *             is 96 + 24), as tp_identity's key without the zone.
 * @addr:      the prefix, IPv4-mapped for IPv4, bits past @prefixlen zero.
 */
struct tp_guard_key {
	__u32 prefixlen;
	struct tp_addr addr;
};
_Static_assert(sizeof(struct tp_guard_key) == 20, "tp_guard_key size");

/**
 * struct tp_guard_drop_val - map tp_guard_drop value.
 * @owner: enum tp_owner (TP_OWNER_STATIC: the loader's configuration,
 *         which removes only its own entries; TP_OWNER_TPCTL).
 * @plen:  the entry's own prefix length, as tp_identity_val's.
 * @pad:   zero.
 */
struct tp_guard_drop_val {
	__u8 owner;
	__u8 plen;
	__u8 pad[2];
};
_Static_assert(sizeof(struct tp_guard_drop_val) == 4, "tp_guard_drop_val size");

/**
 * struct tp_guard_bucket - map tp_guard_buckets value, key struct tp_addr
 * (the source, IPv4-mapped for IPv4): one source's token bucket.
 * @credit_ns: tokens in fixed point: nanoseconds of refill, one handshake
 *             costs tp_guard_config.cost_ns, at most cap_ns are kept.
 * @last_ns:   CLOCK_MONOTONIC ns of the source's last handshake-shaped
 *             packet (the refill runs from here).
 *
 * Updated without a lock: two CPUs taking the same source's packets at
 * once may both pass one a token would have refused, at most one packet
 * per CPU and race; a flood from one source arrives on one receive queue
 * (RSS hashes by address and port), so in practice on one CPU.
 */
struct tp_guard_bucket {
	__u64 credit_ns;
	__u64 last_ns;
};
_Static_assert(sizeof(struct tp_guard_bucket) == 16, "tp_guard_bucket size");

/**
 * struct tp_guard_config - map tp_guard_config value, the single entry at
 * key 0.  Written by the loader from its configuration and by `tpctl
 * guard rate`; the datapath reads it on every guarded packet, so a change
 * applies at once, with no reload.  All zero (no port): only the drop
 * list is enforced.
 * @rate:     handshake-shaped packets a second per source; 0: no limit.
 * @burst:    bucket size in packets (>= 1 when @rate is set).
 * @cost_ns:  NSEC_PER_SEC / @rate: the credit one packet takes.
 * @cap_ns:   @burst * @cost_ns: the credit a bucket holds at most.
 *            Writers compute both (tp_guard_config_set()); the datapath
 *            divides nothing.
 * @n_ports:  guarded UDP ports in @ports.
 * @pad:      zero.
 * @ports:    guarded destination ports, network order.
 * @pad2:     zero.
 */
struct tp_guard_config {
	__u32 rate;
	__u32 burst;
	__u64 cost_ns;
	__u64 cap_ns;
	__u16 n_ports;
	__u16 pad;
	__be16 ports[TP_GUARD_MAX_PORTS];
	__u32 pad2;
};
_Static_assert(sizeof(struct tp_guard_config) == 48, "tp_guard_config size");

#endif /* TAILPLANE_ABI_H */
