// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reference programs `make bench` sets tailplane's paths beside, run on
 * the same packets (IPv4 at the start of the data, as on a TUN device):
 *
 *   ref_empty:  returns; the floor every figure has subtracted.
 *   ref_lookup: the tuple as a conntrack-sized key (struct tp_ct_key),
 *               one hash lookup that hits, and a counter add.
 *   ref_nat:    ref_lookup plus the least a DNAT does: destination
 *               address and port rewritten with the kernel's incremental
 *               checksum helpers.
 *   ref_new:    the least a new DNAT flow does: ref_nat's tuple and
 *               rewrite, its lookup missing and one conntrack entry
 *               (struct tp_ct_entry) inserted in an LRU hash the size
 *               of tp_ct.  No service, backend or policy lookup: what
 *               the new-flow path's cost is beside when its tables
 *               themselves stay in the cache but conntrack's do not.
 *   ref_iface_lookup: the packet's interface looked up by ifindex in a
 *               hash (as tp_ifaces gave the datapath its zone and its
 *               L2/L3 mode before tp_iface_slots), then ref_lookup's
 *               work: what an established packet cost at the least while
 *               the zone came from a hash.
 *   ref_xdp_empty: returns XDP_PASS; the floor of the XDP guard's rows.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "tailplane/abi.h"

#define TC_ACT_OK   0
#define TC_ACT_SHOT 2

struct ref_val {
	__u64 packets;
	struct tp_addr nat_addr;
	__be16 nat_port;
	__u16 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct tp_ct_key);
	__type(value, struct ref_val);
} ref_flows SEC(".maps");

/* ref_new's conntrack: tp_ct's type, key, value and size */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TP_CT_SIZE);
	__type(key, struct tp_ct_key);
	__type(value, struct tp_ct_entry);
} ref_ct SEC(".maps");

/* ref_new's backend (bench_prog sets it before the load) */
const volatile __be32 ref_backend_addr;
const volatile __be16 ref_backend_port;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TP_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct tp_iface);
} ref_ifaces SEC(".maps");

/* The packet's tuple as tailplane keys it; 0, or -1 if it is not TCP/IPv4. */
static __always_inline int ref_tuple(struct __sk_buff *skb, struct tp_ct_key *k)
{
	void *data = (void *)(long)skb->data,
	     *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data;
	struct tcphdr *th;

	if ((void *)(ip + 1) > end || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_TCP)
		return -1;
	th = (void *)(ip + 1);
	if ((void *)(th + 1) > end)
		return -1;
	__builtin_memset(k, 0, sizeof(*k));
	k->saddr.w[2] = bpf_htonl(0xffff);
	k->saddr.w[3] = ip->saddr;
	k->daddr.w[2] = bpf_htonl(0xffff);
	k->daddr.w[3] = ip->daddr;
	k->sport = th->source;
	k->dport = th->dest;
	k->proto = IPPROTO_TCP;
	k->zone = 1;
	return 0;
}

/* The flow of @k counted; its value, NULL when there is none. */
static __always_inline struct ref_val *ref_flow_hit(const struct tp_ct_key *k)
{
	struct ref_val *v = bpf_map_lookup_elem(&ref_flows, k);

	if (v)
		__sync_fetch_and_add(&v->packets, 1);
	return v;
}

SEC("tc")
int ref_empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int ref_lookup(struct __sk_buff *skb)
{
	struct tp_ct_key k;

	if (ref_tuple(skb, &k))
		return TC_ACT_OK;
	return ref_flow_hit(&k) ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int ref_iface_lookup(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct tp_iface *ifc = bpf_map_lookup_elem(&ref_ifaces, &ifindex);
	struct tp_ct_key k;

	if (!ifc || ref_tuple(skb, &k))
		return TC_ACT_OK;
	k.zone = ifc->zone;
	return ref_flow_hit(&k) ? TC_ACT_OK : TC_ACT_SHOT;
}

/* @k's destination rewritten to @addr:@port, checksums updated. */
static __always_inline int ref_dnat(struct __sk_buff *skb,
				    const struct tp_ct_key *k, __be32 addr,
				    __be16 port)
{
	const int daddr_off = offsetof(struct iphdr, daddr);
	const int dport_off =
		sizeof(struct iphdr) + offsetof(struct tcphdr, dest);
	const int tcsum_off =
		sizeof(struct iphdr) + offsetof(struct tcphdr, check);

	if (bpf_l4_csum_replace(skb, tcsum_off, k->daddr.w[3], addr,
				BPF_F_PSEUDO_HDR | sizeof(addr)) ||
	    bpf_l4_csum_replace(skb, tcsum_off, k->dport, port, sizeof(port)) ||
	    bpf_l3_csum_replace(skb, offsetof(struct iphdr, check),
				k->daddr.w[3], addr, sizeof(addr)) ||
	    bpf_skb_store_bytes(skb, daddr_off, &addr, sizeof(addr), 0) ||
	    bpf_skb_store_bytes(skb, dport_off, &port, sizeof(port), 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc")
int ref_nat(struct __sk_buff *skb)
{
	struct tp_ct_key k;
	struct ref_val *v;

	if (ref_tuple(skb, &k))
		return TC_ACT_OK;
	v = ref_flow_hit(&k);
	if (!v)
		return TC_ACT_SHOT;
	return ref_dnat(skb, &k, v->nat_addr.w[3], v->nat_port);
}

SEC("tc")
int ref_new(struct __sk_buff *skb)
{
	struct tp_ct_entry e = {};
	struct tp_ct_key k;

	if (ref_tuple(skb, &k))
		return TC_ACT_OK;
	/* a new flow: the lookup misses (bench_prog never repeats a tuple) */
	if (bpf_map_lookup_elem(&ref_ct, &k))
		return TC_ACT_SHOT;
	e.nat_addr.w[2] = bpf_htonl(0xffff);
	e.nat_addr.w[3] = ref_backend_addr;
	e.nat_port = ref_backend_port;
	e.packets[0] = 1;
	if (bpf_map_update_elem(&ref_ct, &k, &e, BPF_NOEXIST))
		return TC_ACT_SHOT;
	return ref_dnat(skb, &k, ref_backend_addr, ref_backend_port);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The XDP floor: the guard's rows (tp_xdp_guard) have it subtracted. */
SEC("xdp")
int ref_xdp_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}
