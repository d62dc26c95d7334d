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

/* Map names are also their pin names (LIBBPF_PIN_BY_NAME). */
#define TP_MAP_IFACES	"tp_ifaces"
#define TP_MAP_SERVICES "tp_services"
#define TP_MAP_BACKENDS "tp_backends"
#define TP_MAP_MAGLEV	"tp_maglev"
#define TP_MAP_AFFINITY "tp_affinity"
#define TP_MAP_CT	"tp_ct"
#define TP_MAP_FRAGS	"tp_frags"
#define TP_MAP_STATS	"tp_stats"

/* ---- sizes (defaults; the loader may resize before load) -------------- */

#define TP_MAX_IFACES	     256
#define TP_MAX_SERVICES	     1024 /* service ids 1..TP_MAX_SERVICES-1 */
#define TP_MAX_BACKENDS	     65536 /* backend ids 1..TP_MAX_BACKENDS-1 */
#define TP_MAX_SVC_BACKENDS  256 /* backends per service */
#define TP_MAGLEV_SIZE	     1021 /* default table size, a prime */
#define TP_MAGLEV_SIZE_MAX   65521 /* largest accepted prime */
#define TP_CT_SIZE	     262144
#define TP_AFFINITY_SIZE     65536
#define TP_FRAGS_SIZE	     8192
#define TP_IPV6_EXTHDR_MAX   8 /* IPv6 extension headers walked */

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
#define TP_SVC_F_SNAT	  (1u << 1) /* always SNAT to the node (later issue) */

/**
 * struct tp_svc - map tp_services value.
 * @id:               service id, 1..TP_MAX_SERVICES-1, selects the Maglev slots.
 * @flags:            TP_SVC_F_*.
 * @zone:             tailnet zone the service is exposed to, 0 for all.
 * @affinity_timeout: ClientIP affinity timeout in seconds (with
 *                    TP_SVC_F_AFFINITY).
 * @active:           active backends in the live Maglev table; 0 means the
 *                    service has no backend and new flows are dropped.
 * @table:            which of the service's two Maglev tables is live (0|1).
 *                    Userspace writes the other one, then flips this.
 * @owner:            enum tp_owner.
 * @revision:         bumped by userspace on every change of the service.
 */
struct tp_svc {
	__u32 id;
	__u16 flags;
	__u16 zone;
	__u32 affinity_timeout;
	__u16 active;
	__u8 table;
	__u8 owner;
	__u32 revision;
};
_Static_assert(sizeof(struct tp_svc) == 20, "tp_svc size");

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
 * @pad:    zero.
 * @svc_id: the service this backend belongs to.
 */
struct tp_backend {
	struct tp_addr addr;
	__be16 port;
	__u8 state;
	__u8 owner;
	__u16 weight;
	__u16 pad;
	__u32 svc_id;
};
_Static_assert(sizeof(struct tp_backend) == 28, "tp_backend size");

/*
 * tp_maglev: array of __u32 backend ids.  Service @id owns two tables of
 * maglev_size entries each, table t of service id starts at
 * TP_MAGLEV_INDEX(id, t, 0, m).  0 is never a backend id.
 */
#define TP_MAGLEV_INDEX(id, t, slot, m) \
	(((__u32)(id) * 2 + (__u32)(t)) * (__u32)(m) + (__u32)(slot))

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

/**
 * struct tp_ct_key - a flow tuple as seen on the wire, map tp_ct key.
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

#define TP_CT_F_REPLY_KEY (1u << 0) /* this entry only indexes the reply tuple */
#define TP_CT_F_DNAT	  (1u << 1) /* destination translated (service) */
#define TP_CT_F_SNAT	  (1u << 2) /* source translated (later issue) */

/**
 * struct tp_ct_entry - map tp_ct value.
 *
 * Each flow has two entries: the flow entry under its original tuple and a
 * reply-key entry under the tuple its replies carry (after DNAT, the
 * backend's).  The reply-key entry has TP_CT_F_REPLY_KEY and @peer only;
 * the flow entry holds all state.
 *
 * @peer:       flow entry: the reply tuple; reply-key entry: the original.
 * @nat_addr:   with TP_CT_F_DNAT, the backend address.
 * @nat_port:   with TP_CT_F_DNAT, the backend port.
 * @state:      enum tp_ct_state.
 * @flags:      TP_CT_F_*.
 * @svc_id:     service id, 0 when not translated.
 * @backend_id: backend id, 0 when not translated.
 * @ifindex:    interface the flow's first packet arrived on.
 * @expires_ns: CLOCK_MONOTONIC ns after which the entry counts as absent.
 * @created_ns: CLOCK_MONOTONIC ns of the first packet.
 * @packets:    packets per direction (TP_CT_DIR_*).
 * @bytes:      bytes per direction, as skb->len.
 * @tcp_flags:  TCP flags seen per direction (ORed).
 * @pad:        zero.
 * @src_identity, @dst_identity, @rule_id, @policy_rev, @verdict,
 * @reserved:   policy state (identity issue); zero until then.
 */
struct tp_ct_entry {
	struct tp_ct_key peer;
	struct tp_addr nat_addr;
	__be16 nat_port;
	__u8 state;
	__u8 flags;
	__u32 svc_id;
	__u32 backend_id;
	__u32 ifindex;
	__u64 expires_ns;
	__u64 created_ns;
	__u64 packets[2];
	__u64 bytes[2];
	__u8 tcp_flags[2];
	__u8 verdict;
	__u8 pad;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 rule_id;
	__u32 policy_rev;
	__u32 reserved;
};
_Static_assert(sizeof(struct tp_ct_entry) == 144, "tp_ct_entry size");

/* Default timeouts in seconds (const volatile knobs in the programs). */
#define TP_CT_TIMEOUT_SYN	  60
#define TP_CT_TIMEOUT_ESTABLISHED 21600
#define TP_CT_TIMEOUT_FIN	  120
#define TP_CT_TIMEOUT_CLOSE	  10
#define TP_CT_TIMEOUT_UDP	  60
#define TP_CT_TIMEOUT_ICMP	  30
#define TP_FRAG_TIMEOUT		  30

/* ---- fragments -------------------------------------------------------- */

/**
 * struct tp_frag_key - map tp_frags key: one fragmented datagram.
 * @saddr: source address.
 * @daddr: destination address.
 * @id:    IPv4 identification (16 bits) or IPv6 fragment id.
 * @proto: upper-layer protocol.
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
 * struct tp_frag - map tp_frags value: the ports of the first fragment.
 * @sport:   source port (or ICMP echo id convention as in tp_ct_key).
 * @dport:   destination port.
 * @pad:     zero.
 * @seen_ns: CLOCK_MONOTONIC ns of the first fragment.
 */
struct tp_frag {
	__be16 sport;
	__be16 dport;
	__u32 pad;
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
	TP_DROP_TRUNCATED = 1,	   /* a header runs past the end of the packet */
	TP_DROP_BAD_IHL = 2,	   /* IPv4 IHL < 5 */
	TP_DROP_BAD_LEN = 3,	   /* IP length field inconsistent with the packet */
	TP_DROP_BAD_VERSION = 4,   /* L3 interface, IP version not 4 or 6 */
	TP_DROP_EXTHDR_LIMIT = 5,  /* more than TP_IPV6_EXTHDR_MAX extension headers */
	TP_DROP_BAD_FRAG = 6,	   /* overlapping tiny fragment (RFC 1858) */
	TP_DROP_NO_BACKEND = 7,	   /* service without an active backend */
	TP_DROP_CT_FAIL = 8,	   /* conntrack entry could not be written */
	TP_DROP_REWRITE_FAIL = 9,  /* a packet write or checksum helper failed */
	TP_DROP_REASON_MAX,
};

/* tp_stats indices (per-CPU array of struct tp_stat). */
enum tp_stat_id {
	TP_STAT_RX_TAILNET = 0,	  /* packets into tp_from_tailnet */
	TP_STAT_TX_TAILNET = 1,	  /* packets into tp_to_tailnet */
	TP_STAT_PASS = 2,	  /* passed without translation */
	TP_STAT_DNAT = 3,	  /* translated to a backend */
	TP_STAT_REVNAT = 4,	  /* replies translated back to the service */
	TP_STAT_CT_NEW = 5,	  /* conntrack flows created */
	TP_STAT_CT_HIT = 6,	  /* packets of a known flow */
	TP_STAT_FRAG_NO_RECORD = 7, /* later fragment without a first one: passed */
	TP_STAT_ICMP_ERR_NAT = 8,   /* ICMP errors whose inner packet was translated */
	TP_STAT_NOT_IP = 9,	  /* non-IP traffic on an L2 interface: passed */
	TP_STAT_OTHER_PROTO = 10, /* IP protocols we do not track: passed */
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

#endif /* TAILPLANE_ABI_H */
