// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * refmodel: reference model of the tailplane datapath (docs/datapath.md)
 * and of its policy layer (docs/policy.md).
 *
 * Kept deliberately plain: packets are read byte by byte at their RFC
 * offsets, state lives in chained hash tables of fixed-size keys and
 * values, and every rule of the documents is one visible piece of code in
 * the order the documents give it.  Speed does not matter here.
 *
 * Policy decisions and identity lookups are tests/policyref.c's, the
 * naive evaluator written from docs/policy.md; this file decides when a
 * decision is made, with what query, and what becomes of it.
 *
 * Checksums are updated incrementally, never recomputed, as the document
 * requires (a packet with a wrong checksum stays wrong by the same
 * amount): RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), in one's complement
 * arithmetic where, as in an end-around-carry adder and in Linux, a sum
 * of changes is never +0, so the result is never 0xffff.
 *
 * Where the documents leave a choice open, the model takes the one named
 * in a comment starting "Doc ambiguity:".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "tailplane/hash.h"
#include "maglev.h"
#include "policyref.h"
#include "refmodel.h"

#define NSEC 1000000000ULL

#define ETH_HLEN     14
#define ETHERTYPE_V4 0x0800
#define ETHERTYPE_V6 0x86dd

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define REF_MAX_ROUTES 16
/* Records the ring buffer holds: a reservation must leave one byte free. */
#define REF_RING_RECORDS ((TP_EVENTS_SIZE - 1) / REF_EVENT_RECORD)

enum { FRAG_NONE, FRAG_FIRST, FRAG_LATER };

/* What parsing found; drop reasons are returned negated instead. */
enum { P_NOT_IP, P_OTHER, P_FLOW, P_ICMP_ERR };

/* ---- a small hash table of fixed-size keys and values ------------------- */

struct ref_node {
	struct ref_node *next;
	unsigned char kv[]; /* key, then value */
};

struct ref_tab {
	size_t ksz, vsz;
	size_t mask;
	size_t count;
	struct ref_node **bucket;
};

static int tab_init(struct ref_tab *t, size_t ksz, size_t vsz, size_t nb)
{
	t->ksz = ksz;
	t->vsz = vsz;
	t->mask = nb - 1;
	t->count = 0;
	t->bucket = calloc(nb, sizeof(*t->bucket));
	return t->bucket ? 0 : -ENOMEM;
}

static void tab_fini(struct ref_tab *t)
{
	struct ref_node *n, *next;
	size_t i;

	if (!t->bucket)
		return;
	for (i = 0; i <= t->mask; i++) {
		for (n = t->bucket[i]; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	free(t->bucket);
	t->bucket = NULL;
}

/* The link that points at @key's node, or the NULL ending its chain. */
static struct ref_node **tab_link(const struct ref_tab *t, const void *key)
{
	struct ref_node **l;

	l = &t->bucket[tp_hash_bytes(key, t->ksz, 0x5eed) & t->mask];
	while (*l && memcmp((*l)->kv, key, t->ksz))
		l = &(*l)->next;
	return l;
}

static void *tab_find(const struct ref_tab *t, const void *key)
{
	struct ref_node *n = *tab_link(t, key);

	return n ? n->kv + t->ksz : NULL;
}

/* Insert or overwrite; the value's address stays valid until deleted. */
static void *tab_put(struct ref_tab *t, const void *key, const void *val)
{
	struct ref_node **l = tab_link(t, key);

	if (!*l) {
		*l = calloc(1, sizeof(**l) + t->ksz + t->vsz);
		if (!*l)
			abort();
		memcpy((*l)->kv, key, t->ksz);
		t->count++;
	}
	memcpy((*l)->kv + t->ksz, val, t->vsz);
	return (*l)->kv + t->ksz;
}

static void tab_del(struct ref_tab *t, const void *key)
{
	struct ref_node **l = tab_link(t, key), *n = *l;

	if (n) {
		*l = n->next;
		free(n);
		t->count--;
	}
}

/* ---- state -------------------------------------------------------------- */

struct ref_iface {
	__u32 ifindex;
	struct tp_iface ifc;
};

struct ref_route {
	bool v6;
	struct tp_addr prefix;
	unsigned int plen; /* 128-bit space */
	__u32 ifindex;
};

struct ref_service {
	struct tp_svc_key key;
	struct ref_svc_attrs attrs;
	struct ref_backend *be;
	size_t n;
	__u32 active; /* backends in the Maglev table */
	__u32 *maglev;
	__u32 table_size;
};

#define REF_MAX_STATIC_NAT 16
#define REF_MAX_MASQ	   8
#define REF_SNAT_TRIES	   32 /* docs/datapath.md: "up to 32 tries" */

struct ref_state {
	struct ref_knobs k;
	struct ref_iface ifaces[TP_MAX_IFACES];
	size_t n_ifaces;
	struct ref_route routes[REF_MAX_ROUTES];
	size_t n_routes;
	struct ref_service svc[TP_MAX_SERVICES];
	size_t n_svc;
	struct ref_tab ct;	 /* tp_ct_key -> tp_ct_entry */
	struct ref_tab affinity; /* tp_affinity_key -> tp_affinity */
	struct ref_tab frags;	 /* tp_frag_key -> tp_frag */
	struct ref_tab befe;	 /* tp_be_key -> tp_be_frontends */
	struct pref_policy pol;	 /* identities, rules, zone defaults */
	__u32 policy_rev;	 /* tp_config.policy_rev */
	struct tp_stat stats[TP_STAT_MAX];
	struct tp_stat rule_stats[TP_MAX_RULES];
	struct tp_stat svc_stats[TP_MAX_SERVICES];
	struct {
		__u64 credit_ns;
		__u64 last_ns;
	} bucket;		 /* the event token bucket (of the one CPU) */
	struct tp_event *events; /* on the ring, not yet taken */
	size_t n_events;
	struct tp_ct_key last; /* tuple of the last flow packet */
	bool last_valid;
	char why[256];
	struct {
		__u16 zone;
		struct tp_addr tailnet, inner;
	} sn[REF_MAX_STATIC_NAT]; /* static 1:1 NAT entries */
	size_t n_sn;
	struct {
		__u16 zone;
		struct tp_masq m;
	} masq[REF_MAX_MASQ]; /* masquerade, by zone (tp_masq) */
	size_t n_masq;
	__u16 port_min, port_max; /* tp_config's SNAT range, as written */
	ref_port_fn
		port_fn; /* the port the datapath took (see ref_masq_set()) */
	void *port_ctx;
};

/**
 * ref_knobs_default() - the knobs' default values (include/tailplane/abi.h,
 * bpf/lib/common.h).
 * @k: filled in.
 */
void ref_knobs_default(struct ref_knobs *k)
{
	k->ct_timeout_syn = TP_CT_TIMEOUT_SYN;
	k->ct_timeout_established = TP_CT_TIMEOUT_ESTABLISHED;
	k->ct_timeout_fin = TP_CT_TIMEOUT_FIN;
	k->ct_timeout_close = TP_CT_TIMEOUT_CLOSE;
	k->ct_timeout_udp = TP_CT_TIMEOUT_UDP;
	k->ct_timeout_icmp = TP_CT_TIMEOUT_ICMP;
	k->frag_timeout = TP_FRAG_TIMEOUT;
	k->maglev_size = TP_MAGLEV_SIZE;
	k->events_per_sec = 1000;
	k->events_burst = 200;
	k->event_mask = TP_EVENT_F_ALLOW | TP_EVENT_F_DENY | TP_EVENT_F_AUDIT |
			TP_EVENT_F_DROP;
}

/**
 * ref_new() - an empty model: no interfaces, routes, services, policy or
 * state; policy revision 0.
 * @k: knobs, or NULL for the defaults.
 *
 * Return: the model, or NULL when out of memory.
 */
struct ref_state *ref_new(const struct ref_knobs *k)
{
	struct ref_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	if (k)
		st->k = *k;
	else
		ref_knobs_default(&st->k);
	pref_init(&st->pol);
	st->events = calloc(REF_RING_RECORDS, sizeof(*st->events));
	if (!st->events ||
	    tab_init(&st->ct, sizeof(struct tp_ct_key),
		     sizeof(struct tp_ct_entry), 1 << 16) ||
	    tab_init(&st->affinity, sizeof(struct tp_affinity_key),
		     sizeof(struct tp_affinity), 1 << 12) ||
	    tab_init(&st->frags, sizeof(struct tp_frag_key),
		     sizeof(struct tp_frag), 1 << 12) ||
	    tab_init(&st->befe, sizeof(struct tp_be_key),
		     sizeof(struct tp_be_frontends), 1 << 10)) {
		ref_free(st);
		return NULL;
	}
	return st;
}

static void svc_clear(struct ref_service *s)
{
	free(s->be);
	free(s->maglev);
	s->be = NULL;
	s->maglev = NULL;
	s->n = 0;
}

/** ref_free() - free a model. */
void ref_free(struct ref_state *st)
{
	size_t i;

	if (!st)
		return;
	for (i = 0; i < st->n_svc; i++)
		svc_clear(&st->svc[i]);
	tab_fini(&st->ct);
	tab_fini(&st->affinity);
	tab_fini(&st->frags);
	tab_fini(&st->befe);
	pref_free(&st->pol);
	free(st->events);
	free(st);
}

/**
 * ref_iface_set() - give an interface its settings (map tp_ifaces).
 * @st:      the model.
 * @ifindex: interface index.
 * @ifc:     flags and zone.
 *
 * Return: 0, or -ENOSPC.
 */
int ref_iface_set(struct ref_state *st, __u32 ifindex,
		  const struct tp_iface *ifc)
{
	size_t i;

	for (i = 0; i < st->n_ifaces; i++) {
		if (st->ifaces[i].ifindex == ifindex) {
			st->ifaces[i].ifc = *ifc;
			return 0;
		}
	}
	if (st->n_ifaces == TP_MAX_IFACES)
		return -ENOSPC;
	st->ifaces[st->n_ifaces].ifindex = ifindex;
	st->ifaces[st->n_ifaces].ifc = *ifc;
	st->n_ifaces++;
	return 0;
}

static const struct tp_iface *iface_find(const struct ref_state *st,
					 __u32 ifindex)
{
	size_t i;

	for (i = 0; i < st->n_ifaces; i++)
		if (st->ifaces[i].ifindex == ifindex)
			return &st->ifaces[i].ifc;
	return NULL;
}

/*
 * The tailnet zone of an interface: its zone when it is a tailnet
 * interface, else 0 (policy.md: "the zone of the interface the kernel
 * would forward its translated destination to"; "a packet forwarded from
 * a tailnet interface of zone A").
 *
 * Doc ambiguity: whether "tailnet interface" means TP_IFACE_F_TAILNET or
 * any interface with a zone; the model takes the flag.
 */
static __u16 tailnet_zone(const struct ref_state *st, __u32 ifindex)
{
	const struct tp_iface *ifc;

	if (!ifindex)
		return 0;
	ifc = iface_find(st, ifindex);
	return ifc && (ifc->flags & TP_IFACE_F_TAILNET) ? ifc->zone : 0;
}

/**
 * ref_route_add() - a route of the test's namespace.
 * @st:      the model.
 * @prefix:  its prefix (IPv4-mapped for IPv4).
 * @plen:    its length in the 128-bit space (an IPv4 /16 is 112).
 * @v6:      an IPv6 route (else IPv4).
 * @ifindex: the interface it leads to.
 *
 * Return: 0, or -ENOSPC.
 */
int ref_route_add(struct ref_state *st, const struct tp_addr *prefix,
		  unsigned int plen, bool v6, __u32 ifindex)
{
	struct ref_route *r;

	if (st->n_routes == REF_MAX_ROUTES || plen > 128)
		return -ENOSPC;
	r = &st->routes[st->n_routes++];
	r->v6 = v6;
	r->prefix = *prefix;
	r->plen = plen;
	r->ifindex = ifindex;
	return 0;
}

static bool prefix_holds(const struct tp_addr *prefix, unsigned int plen,
			 const struct tp_addr *a)
{
	unsigned int bit;

	for (bit = 0; bit < plen; bit++) {
		__u8 m = 0x80u >> (bit % 8);

		if ((prefix->b[bit / 8] & m) != (a->b[bit / 8] & m))
			return false;
	}
	return true;
}

/**
 * ref_route_ifindex() - the interface the longest route to @daddr leads
 * to, 0 when there is none.
 */
__u32 ref_route_ifindex(const struct ref_state *st, bool v6,
			const struct tp_addr *daddr)
{
	const struct ref_route *best = NULL;
	size_t i;

	for (i = 0; i < st->n_routes; i++) {
		const struct ref_route *r = &st->routes[i];

		if (r->v6 != v6 || !prefix_holds(&r->prefix, r->plen, daddr))
			continue;
		if (!best || r->plen > best->plen)
			best = r;
	}
	return best ? best->ifindex : 0;
}

/* IPv6 multicast, link-local or loopback: never forwarded (RFC 4291). */
static bool v6_scoped(const struct tp_addr *a)
{
	static const __u8 lo[16] = { [15] = 1 };

	return a->b[0] == 0xff ||
	       (a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80) ||
	       !memcmp(a->b, lo, 16);
}

/**
 * ref_out_zone() - the out zone of docs/policy.md: the tailnet zone of
 * the interface the kernel would forward @daddr to, 0 when it would not
 * forward it.
 * @st:    the model.
 * @v6:    the packet is IPv6.
 * @saddr: its source.
 * @daddr: its destination after translation.
 *
 * The kernel forwards no IPv6 packet from or to a multicast, link-local
 * or loopback address; everything else follows the routes the test gave
 * (destinations without a route are not forwarded).
 */
__u16 ref_out_zone(const struct ref_state *st, bool v6,
		   const struct tp_addr *saddr, const struct tp_addr *daddr)
{
	if (v6 && (v6_scoped(saddr) || v6_scoped(daddr)))
		return 0;
	return tailnet_zone(st, ref_route_ifindex(st, v6, daddr));
}

/** ref_policy() - the model's policy, for the test to mirror changes into. */
struct pref_policy *ref_policy(struct ref_state *st)
{
	return &st->pol;
}

/** ref_policy_rev_set() - tp_config.policy_rev after a change. */
void ref_policy_rev_set(struct ref_state *st, __u32 rev)
{
	st->policy_rev = rev;
}

/** ref_policy_rev() - the policy revision the model holds. */
__u32 ref_policy_rev(const struct ref_state *st)
{
	return st->policy_rev;
}

static struct ref_service *svc_find(struct ref_state *st,
				    const struct tp_svc_key *key)
{
	size_t i;

	for (i = 0; i < st->n_svc; i++)
		if (!memcmp(&st->svc[i].key, key, sizeof(*key)))
			return &st->svc[i];
	return NULL;
}

/*
 * "Userspace adds the service's frontend to the backend tuple's entry
 * (an empty slot) before it writes the backend with
 * TP_BACKEND_F_INDEXED; when the slots are full of other frontends the
 * backend is written without the flag."  Frontends are never removed
 * here: only the loader's GC does, which the fuzz does not run, and an
 * operator by hand (ref_be_frontends_del()).
 */
static __u16 befe_add(struct ref_state *st, const struct tp_svc_key *fe,
		      const struct ref_backend *be)
{
	struct tp_be_key k = { .addr = be->addr,
			       .port = be->port,
			       .proto = fe->proto };
	struct tp_be_frontends v = {}, *cur = tab_find(&st->befe, &k);
	int i;

	if (cur)
		v = *cur;
	for (i = 0; i < TP_BE_FRONTENDS; i++)
		if (!memcmp(&v.fe[i], fe, sizeof(*fe)))
			return TP_BACKEND_F_INDEXED;
	for (i = 0; i < TP_BE_FRONTENDS; i++) {
		if (!v.fe[i].proto) {
			v.fe[i] = *fe;
			tab_put(&st->befe, &k, &v);
			return TP_BACKEND_F_INDEXED;
		}
	}
	return 0;
}

/**
 * ref_service_set() - make a service exactly what is given.
 * @st:    the model.
 * @key:   its frontend.
 * @attrs: its id and attributes.
 * @be:    every backend it has, active or not, with the ids userspace
 *         gave them.
 * @n:     their number.
 *
 * The model's Maglev table is built here from the active backends, by
 * lib/maglev.c's tp_maglev_build() with the knob's table size.
 *
 * Return: 0, -ENOSPC, -ENOMEM, or tp_maglev_build()'s error.
 */
int ref_service_set(struct ref_state *st, const struct tp_svc_key *key,
		    const struct ref_svc_attrs *attrs,
		    const struct ref_backend *be, size_t n)
{
	struct ref_service *s = svc_find(st, key);
	struct tp_maglev_backend *mb;
	size_t i, active = 0;
	int err;

	if (!s) {
		if (st->n_svc == TP_MAX_SERVICES)
			return -ENOSPC;
		s = &st->svc[st->n_svc++];
		memset(s, 0, sizeof(*s));
		s->key = *key;
	}
	svc_clear(s);
	s->attrs = *attrs;
	s->be = calloc(n ? n : 1, sizeof(*be));
	/* the table size lib/service.c picks for this many active backends */
	for (i = 0; i < n; i++)
		active += be[i].state == TP_BACKEND_ACTIVE;
	s->table_size =
		active ? tp_maglev_table_size((__u32)active, st->k.maglev_size)
		       : st->k.maglev_size;
	active = 0;
	s->maglev = calloc(s->table_size, sizeof(*s->maglev));
	mb = calloc(n ? n : 1, sizeof(*mb));
	if (!s->be || !s->maglev || !mb) {
		free(mb);
		return -ENOMEM;
	}
	memcpy(s->be, be, n * sizeof(*be));
	s->n = n;
	for (i = 0; i < n; i++)
		s->be[i].flags = befe_add(st, key, &be[i]);
	for (i = 0; i < n; i++) {
		if (be[i].state != TP_BACKEND_ACTIVE)
			continue;
		mb[active].id = be[i].id;
		mb[active].addr = be[i].addr;
		mb[active].port = be[i].port;
		mb[active].weight = be[i].weight;
		active++;
	}
	s->active = active;
	err = tp_maglev_build(mb, active, s->table_size, s->maglev);
	free(mb);
	return err;
}

/**
 * ref_service_del() - remove a service and its backends.
 * @st:  the model.
 * @key: its frontend.
 *
 * Return: 0 or -ENOENT.
 */
int ref_service_del(struct ref_state *st, const struct tp_svc_key *key)
{
	struct ref_service *s = svc_find(st, key);

	if (!s)
		return -ENOENT;
	svc_clear(s);
	*s = st->svc[--st->n_svc];
	memset(&st->svc[st->n_svc], 0, sizeof(st->svc[0]));
	return 0;
}

/* The backend with @id, in whichever service has it, and that service. */
static const struct ref_backend *backend_find(const struct ref_state *st,
					      __u32 id,
					      const struct ref_service **owner)
{
	size_t i, j;

	for (i = 0; i < st->n_svc; i++) {
		for (j = 0; j < st->svc[i].n; j++) {
			if (st->svc[i].be[j].id == id) {
				*owner = &st->svc[i];
				return &st->svc[i].be[j];
			}
		}
	}
	return NULL;
}

/* ---- bytes, addresses, checksums ------------------------------------------ */

static __u16 rd16(const uint8_t *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static __u32 rd32(const uint8_t *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* An IPv4 address as the ABI keeps it: ::ffff:a.b.c.d. */
static void addr_v4(struct tp_addr *a, const uint8_t *v4)
{
	memset(a, 0, sizeof(*a));
	a->b[10] = 0xff;
	a->b[11] = 0xff;
	memcpy(&a->b[12], v4, 4);
}

/*
 * The change of some 16-bit-aligned bytes of a checksummed region, as a
 * one's complement sum of ~old and new words; @any says whether anything
 * was added at all.
 */
struct csum_delta {
	uint64_t sum;
	bool any;
};

static void delta_add(struct csum_delta *d, const uint8_t *old,
		      const uint8_t *new, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		d->sum += (uint16_t)~rd16(old + i) + (uint64_t)rd16(new + i);
	d->any = true;
}

static void delta_merge(struct csum_delta *d, const struct csum_delta *e)
{
	if (!e->any)
		return;
	d->sum += e->sum;
	d->any = true;
}

/*
 * RFC 1624 eqn. 3.  The 0xffff added is a one's complement -0: it keeps
 * the sum off +0, as an end-around-carry adder does.
 */
static __u16 csum_apply(__u16 hc, const struct csum_delta *d)
{
	uint64_t s = 0xffff + (uint16_t)~hc + d->sum;

	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * Apply @d to the checksum at @field.  UDP (@udp): 0 means "no checksum"
 * and stays 0, and a result of 0 is written 0xffff.  The field's own
 * change is added to @outer when given (an ICMP error's checksum covers
 * the quoted checksums).
 */
static void csum_fix(uint8_t *field, const struct csum_delta *d, bool udp,
		     struct csum_delta *outer)
{
	uint8_t old[2];
	__u16 v;

	if (!d->any)
		return;
	v = rd16(field);
	if (udp && !v)
		return;
	memcpy(old, field, 2);
	v = csum_apply(v, d);
	if (udp && !v)
		v = 0xffff;
	wr16(field, v);
	if (outer)
		delta_add(outer, old, field, 2);
}

/* ---- parsing -------------------------------------------------------------- */

/**
 * struct ref_pkt - one packet as the model parsed it.
 * @b:        the bytes (the output buffer, rewritten in place).
 * @len:      skb->len.
 * @l3:       offset of the IP header.
 * @l4:       offset of the upper-layer header (or of fragment data).
 * @v6:       IPv6.
 * @frag:     FRAG_*.
 * @frag_id:  IPv4 identification or IPv6 fragment id.
 * @tcp_flags: TCP flag byte.
 * @icmp_type: ICMP type.
 * @t:        the flow tuple (zone included).
 * @q_l3:     ICMP error: offset of the quoted IP header.
 * @q_l4:     ICMP error: offset of the quoted L4 header.
 * @q:        ICMP error: the quoted packet's tuple.
 */
struct ref_pkt {
	uint8_t *b;
	size_t len;
	size_t l3, l4;
	bool v6;
	int frag;
	__u32 frag_id;
	__u8 frag_nh; /* the fragment record's protocol */
	__u8 tcp_flags;
	__u8 icmp_type;
	struct tp_ct_key t;
	size_t q_l3, q_l4;
	size_t end; /* end of the datagram: headers are read up to here */
	struct tp_ct_key q;
};

static __u8 icmp_proto(bool v6)
{
	return v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
}

static bool icmp_echo_request(bool v6, __u8 type)
{
	return type == (v6 ? 128 : 8);
}

static bool icmp_echo_reply(bool v6, __u8 type)
{
	return type == (v6 ? 129 : 0);
}

/*
 * "A request is never a reply": echo keys are (id, 0) and (0, id), so a
 * request with id 0 carries the reply tuple of the other side's.
 */
static bool is_echo_request(const struct ref_pkt *p)
{
	return p->frag != FRAG_LATER && p->t.proto == icmp_proto(p->v6) &&
	       icmp_echo_request(p->v6, p->icmp_type);
}

static bool icmp_error(bool v6, __u8 type)
{
	if (v6)
		return type >= 1 && type <= 4;
	return type == 3 || type == 11 || type == 12;
}

/* Echo ports: request (id, 0), reply (0, id).  False if not echo. */
static bool echo_ports(bool v6, const uint8_t *icmp, struct tp_ct_key *t)
{
	if (icmp_echo_request(v6, icmp[0])) {
		memcpy(&t->sport, icmp + 4, 2);
		t->dport = 0;
		return true;
	}
	if (icmp_echo_reply(v6, icmp[0])) {
		t->sport = 0;
		memcpy(&t->dport, icmp + 4, 2);
		return true;
	}
	return false;
}

static int parse_ipv4(struct ref_pkt *p)
{
	const uint8_t *ip = p->b + p->l3;
	size_t avail = p->len - p->l3, hlen, tot;
	__u16 fo;

	if (avail < 20)
		return -TP_DROP_TRUNCATED;
	if (ip[0] >> 4 != 4)
		return -TP_DROP_BAD_VERSION;
	if ((ip[0] & 0x0f) < 5)
		return -TP_DROP_BAD_IHL;
	hlen = (size_t)(ip[0] & 0x0f) * 4;
	tot = rd16(ip + 2);
	if (!tot)
		tot = avail; /* BIG TCP: the rest of the packet */
	if (tot < hlen || tot > avail)
		return -TP_DROP_BAD_LEN;
	p->end = p->l3 + tot;
	p->v6 = false;
	addr_v4(&p->t.saddr, ip + 12);
	addr_v4(&p->t.daddr, ip + 16);
	p->t.proto = ip[9];
	p->l4 = p->l3 + hlen;
	fo = rd16(ip + 6);
	if (fo & 0x3fff) { /* MF or an offset */
		p->frag_id = rd16(ip + 4);
		p->frag = (fo & 0x1fff) ? FRAG_LATER : FRAG_FIRST;
		p->frag_nh = p->t.proto;
		if ((fo & 0x1fff) == 1 && p->t.proto == IPPROTO_TCP)
			return -TP_DROP_BAD_FRAG;
	}
	return 0;
}

/* ::ffff:0:0/96: how keys hold IPv4 */
static bool v4_mapped(const struct tp_addr *a)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a->b, mapped, 12);
}

/* ::ffff:0:0/96, or ::/96 but :: and ::1 */
static bool v4_embedded(const struct tp_addr *a)
{
	static const uint8_t zero[12],
		mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (!memcmp(a->b, mapped, 12))
		return true;
	if (memcmp(a->b, zero, 12))
		return false;
	return rd32(a->b + 12) > 1;
}

static bool ipv6_exthdr(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}

static int parse_ipv6(struct ref_pkt *p)
{
	const uint8_t *ip = p->b + p->l3, *h;
	size_t pos, hl;
	__u16 plen, fo;
	__u8 nh;
	int n;

	if (p->len - p->l3 < 40)
		return -TP_DROP_TRUNCATED;
	if (ip[0] >> 4 != 6)
		return -TP_DROP_BAD_VERSION;
	plen = rd16(ip + 4);
	if (plen && 40 + (size_t)plen > p->len - p->l3)
		return -TP_DROP_BAD_LEN;
	/* "headers are read up to the end of the datagram" (0: jumbo, BIG TCP) */
	p->end = plen ? p->l3 + 40 + plen : p->len;
	memcpy(p->t.saddr.b, ip + 8, 16);
	memcpy(p->t.daddr.b, ip + 24, 16);
	/* "an IPv6 packet with a v4-mapped or v4-compatible address" */
	if (v4_embedded(&p->t.saddr) || v4_embedded(&p->t.daddr))
		return -TP_DROP_V4_MAPPED;
	p->v6 = true;
	nh = ip[6];
	pos = p->l3 + 40;
	for (n = 0; ipv6_exthdr(nh); n++) {
		if (n == TP_IPV6_EXTHDR_MAX)
			return -TP_DROP_EXTHDR_LIMIT;
		if (pos + 8 > p->end)
			return -TP_DROP_TRUNCATED;
		h = p->b + pos;
		if (nh == 44)
			hl = 8;
		else if (nh == 51)
			hl = ((size_t)h[1] + 2) * 4;
		else
			hl = ((size_t)h[1] + 1) * 8;
		/* the whole extension header must be in the packet */
		if (pos + hl > p->end)
			return -TP_DROP_TRUNCATED;
		/*
		 * "The first real fragment header decides the fragment kind
		 * and id; later fragment headers in the same chain change
		 * nothing."  Offset 0 and M 0: atomic, a whole packet.
		 */
		if (nh == 44 && p->frag == FRAG_NONE) {
			fo = rd16(h + 2);
			if (fo & 0xfff8) {
				/* a later fragment: what follows is data */
				p->frag = FRAG_LATER;
				p->frag_id = rd32(h + 4);
				p->frag_nh = h[0];
				nh = h[0];
				pos += hl;
				break;
			}
			if (fo & 1) {
				p->frag = FRAG_FIRST;
				p->frag_id = rd32(h + 4);
				p->frag_nh = h[0];
			}
		}
		nh = h[0];
		pos += hl;
	}
	p->t.proto = nh;
	p->l4 = pos;
	return 0;
}

/*
 * The packet an ICMP error quotes: an IP header of the outer family
 * (IPv4: IHL >= 5, not a later fragment; IPv6: no extension headers) and
 * 8 bytes of TCP, UDP or ICMP echo.
 *
 * Doc ambiguity: the quote's family is not stated; the model takes the
 * outer packet's (an ICMPv4 error quotes IPv4).  An error whose quote
 * does not qualify counts TP_STAT_OTHER_PROTO (the document only says it
 * "passes untranslated"; bpf/lib/parse.h counts it so).
 */
static int parse_quote(struct ref_pkt *p)
{
	size_t q = p->l4 + 8;
	const uint8_t *ip = p->b + q;

	p->q_l3 = q;
	p->q.zone = p->t.zone;
	if (!p->v6) {
		if (q + 20 > p->end)
			return P_OTHER;
		if (ip[0] >> 4 != 4 || (ip[0] & 0x0f) < 5 ||
		    (rd16(ip + 6) & 0x1fff))
			return P_OTHER;
		addr_v4(&p->q.saddr, ip + 12);
		addr_v4(&p->q.daddr, ip + 16);
		p->q.proto = ip[9];
		p->q_l4 = q + (size_t)(ip[0] & 0x0f) * 4;
	} else {
		if (q + 40 > p->end)
			return P_OTHER;
		if (ip[0] >> 4 != 6)
			return P_OTHER;
		memcpy(p->q.saddr.b, ip + 8, 16);
		memcpy(p->q.daddr.b, ip + 24, 16);
		if (v4_embedded(&p->q.saddr) || v4_embedded(&p->q.daddr))
			return P_OTHER;
		p->q.proto = ip[6];
		p->q_l4 = q + 40;
	}
	if (p->q_l4 + 8 > p->end)
		return P_OTHER;
	switch (p->q.proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		memcpy(&p->q.sport, p->b + p->q_l4, 2);
		memcpy(&p->q.dport, p->b + p->q_l4 + 2, 2);
		return P_ICMP_ERR;
	default:
		if (p->q.proto == icmp_proto(p->v6) &&
		    echo_ports(p->v6, p->b + p->q_l4, &p->q))
			return P_ICMP_ERR;
		return P_OTHER;
	}
}

/* The upper-layer header of a whole packet or a first fragment. */
static int parse_l4(struct ref_pkt *p)
{
	const uint8_t *l4 = p->b + p->l4;

	switch (p->t.proto) {
	case IPPROTO_TCP:
		if (p->l4 + 20 > p->end || (l4[12] >> 4) < 5)
			return -TP_DROP_TRUNCATED;
		memcpy(&p->t.sport, l4, 2);
		memcpy(&p->t.dport, l4 + 2, 2);
		p->tcp_flags = l4[13];
		return P_FLOW;
	case IPPROTO_UDP:
		if (p->l4 + 8 > p->end)
			return -TP_DROP_TRUNCATED;
		memcpy(&p->t.sport, l4, 2);
		memcpy(&p->t.dport, l4 + 2, 2);
		return P_FLOW;
	}
	/* IPv4 proto 58 and IPv6 proto 1 are not ICMP of their family */
	if (p->t.proto != icmp_proto(p->v6))
		return P_OTHER;
	if (p->l4 + 8 > p->end)
		return -TP_DROP_TRUNCATED;
	p->icmp_type = l4[0];
	if (echo_ports(p->v6, l4, &p->t))
		return P_FLOW;
	if (!icmp_error(p->v6, p->icmp_type))
		return P_OTHER;
	/*
	 * "ICMP errors that are fragments pass untranslated."  Doc
	 * ambiguity: which counter; the model counts TP_STAT_OTHER_PROTO,
	 * as for any error it cannot map to a flow.
	 */
	if (p->frag != FRAG_NONE)
		return P_OTHER;
	return parse_quote(p);
}

static int parse(const struct ref_state *st, __u32 ifindex, struct ref_pkt *p)
{
	const struct tp_iface *ifc = iface_find(st, ifindex);
	int ret;

	p->t.zone = ifc ? ifc->zone : 0;
	if (ifc && (ifc->flags & TP_IFACE_F_L3)) {
		p->l3 = 0;
		if (p->len < 1)
			return -TP_DROP_TRUNCATED;
		if (p->b[0] >> 4 == 4)
			ret = parse_ipv4(p);
		else if (p->b[0] >> 4 == 6)
			ret = parse_ipv6(p);
		else
			return -TP_DROP_BAD_VERSION;
	} else {
		/* Ethernet: the EtherType decides; VLAN tags are not IP */
		p->l3 = ETH_HLEN;
		if (p->len < ETH_HLEN)
			return P_NOT_IP;
		if (rd16(p->b + 12) == ETHERTYPE_V4)
			ret = parse_ipv4(p);
		else if (rd16(p->b + 12) == ETHERTYPE_V6)
			ret = parse_ipv6(p);
		else
			return P_NOT_IP;
	}
	if (ret < 0)
		return ret;
	/*
	 * No L4 header: every later fragment looks for its first's record,
	 * which gives it ports and upper-layer protocol.
	 */
	if (p->frag == FRAG_LATER)
		return P_FLOW;
	return parse_l4(p);
}

/* ---- conntrack ------------------------------------------------------------ */

static void tuple_reverse(const struct tp_ct_key *k, struct tp_ct_key *r)
{
	memset(r, 0, sizeof(*r));
	r->saddr = k->daddr;
	r->daddr = k->saddr;
	r->sport = k->dport;
	r->dport = k->sport;
	r->proto = k->proto;
	r->zone = k->zone;
}

static bool ct_live(const struct tp_ct_entry *e, __u64 now)
{
	return e->expires_s > TP_CT_SEC(now);
}

static __u32 state_timeout(const struct ref_state *st, __u8 state, __u8 proto)
{
	switch (state) {
	case TP_CT_SYN_SENT:
	case TP_CT_SYN_RECV:
		return st->k.ct_timeout_syn;
	case TP_CT_ESTABLISHED:
		return st->k.ct_timeout_established;
	case TP_CT_FIN_WAIT:
		return st->k.ct_timeout_fin;
	case TP_CT_CLOSE:
	case TP_CT_RESET:
		return st->k.ct_timeout_close;
	}
	return proto == IPPROTO_UDP ? st->k.ct_timeout_udp
				    : st->k.ct_timeout_icmp;
}

/*
 * "A TCP flow that has seen no reply yet keeps at most the SYN timeout,
 * whatever its state."
 */
static __u32 ct_timeout(const struct ref_state *st, const struct tp_ct_entry *e,
			__u8 proto)
{
	__u32 t = state_timeout(st, e->state, proto);

	/* "seen a reply": a reply byte counted (the packet count wraps) */
	if (proto == IPPROTO_TCP && !e->bytes[TP_CT_DIR_REPLY] &&
	    t > st->k.ct_timeout_syn)
		t = st->k.ct_timeout_syn;
	return t;
}

static bool syn_only(__u8 flags)
{
	return (flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
}

/* The TCP state machine of docs/datapath.md, first matching rule. */
static __u8 tcp_next(const struct tp_ct_entry *e, int d, __u8 flags)
{
	__u8 seen0 = e->tcp_flags[0] | (d == 0 ? flags : 0);
	__u8 seen1 = e->tcp_flags[1] | (d == 1 ? flags : 0);

	if (flags & TCP_RST)
		return TP_CT_RESET;
	if (e->state == TP_CT_RESET || e->state == TP_CT_CLOSE)
		return e->state;
	if ((seen0 & TCP_FIN) && (seen1 & TCP_FIN))
		return TP_CT_CLOSE;
	if (flags & TCP_FIN)
		return TP_CT_FIN_WAIT;
	if (e->state == TP_CT_SYN_SENT && d == 1 &&
	    (flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK))
		return TP_CT_SYN_RECV;
	if (e->state == TP_CT_SYN_RECV && d == 0 &&
	    (flags & (TCP_SYN | TCP_ACK)) == TCP_ACK)
		return TP_CT_ESTABLISHED;
	return e->state;
}

/*
 * A packet of a live flow in direction @d.  A later fragment carries no
 * TCP flags (its tcp_flags are 0).
 */
static void ct_account(const struct ref_state *st, struct tp_ct_entry *e, int d,
		       const struct ref_pkt *p, __u64 now)
{
	if (p->t.proto == IPPROTO_TCP) {
		e->state = tcp_next(e, d, p->tcp_flags);
		e->tcp_flags[d] |= p->tcp_flags;
	} else if (d == TP_CT_DIR_REPLY) {
		e->state = TP_CT_REPLIED;
	}
	e->packets[d]++;
	e->bytes[d] += p->len;
	e->expires_s = TP_CT_SEC(now) + ct_timeout(st, e, p->t.proto);
}

/* New flows: every TCP packet but a RST, UDP, ICMP echo requests. */
static bool starts_flow(const struct ref_pkt *p)
{
	if (p->frag == FRAG_LATER)
		return false;
	if (p->t.proto == IPPROTO_TCP)
		return !(p->tcp_flags & TCP_RST);
	if (p->t.proto == IPPROTO_UDP)
		return true;
	return icmp_echo_request(p->v6, p->icmp_type);
}

/* A TCP SYN without ACK on a flow in CLOSE or RESET starts a new flow. */
static bool reopens(const struct tp_ct_entry *e, const struct ref_pkt *p)
{
	return p->t.proto == IPPROTO_TCP &&
	       (e->state == TP_CT_CLOSE || e->state == TP_CT_RESET) &&
	       syn_only(p->tcp_flags);
}

/* ---- services ------------------------------------------------------------- */

static struct ref_service *svc_lookup(struct ref_state *st,
				      const struct tp_ct_key *t)
{
	struct tp_svc_key k;
	struct ref_service *s;

	memset(&k, 0, sizeof(k));
	k.vip = t->daddr;
	k.proto = t->proto;
	if (t->proto == IPPROTO_TCP || t->proto == IPPROTO_UDP)
		k.port = t->dport;
	s = svc_find(st, &k);
	if (s && s->attrs.zone && s->attrs.zone != t->zone)
		return NULL;
	return s;
}

/* Affinity, then Maglev; NULL means TP_DROP_NO_BACKEND. */
static const struct ref_backend *backend_select(struct ref_state *st,
						const struct ref_service *s,
						const struct tp_ct_key *t,
						__u64 now)
{
	const struct ref_backend *be = NULL;
	const struct ref_service *owner;
	struct tp_affinity_key ak;
	struct tp_affinity *aff, na;
	bool affinity = s->attrs.flags & TP_SVC_F_AFFINITY;
	__u32 id;

	if (!s->active)
		return NULL;
	memset(&ak, 0, sizeof(ak));
	ak.svc_id = s->attrs.id;
	ak.client = t->saddr;
	if (affinity) {
		aff = tab_find(&st->affinity, &ak);
		/* a stamp ahead of the clock is fresh, as in lb.h */
		if (aff && (now <= aff->last_ns ||
			    now - aff->last_ns <=
				    (__u64)s->attrs.affinity_timeout * NSEC)) {
			be = backend_find(st, aff->backend_id, &owner);
			if (be &&
			    (owner != s || be->state != TP_BACKEND_ACTIVE))
				be = NULL;
		}
	}
	if (!be) {
		id = s->maglev[tp_flow_hash(t) % s->table_size];
		if (!id)
			return NULL;
		be = backend_find(st, id, &owner);
		if (!be)
			return NULL;
	}
	if (affinity) {
		memset(&na, 0, sizeof(na));
		na.backend_id = be->id;
		na.last_ns = now;
		tab_put(&st->affinity, &ak, &na);
	}
	return be;
}

/* ---- rewriting ------------------------------------------------------------ */

static size_t addr_off(bool v6, bool src)
{
	if (v6)
		return src ? 8 : 24;
	return src ? 12 : 16;
}

static const uint8_t *addr_bytes(const struct tp_addr *a, bool v6)
{
	return v6 ? a->b : a->b + 12;
}

/*
 * DNAT (@src false) or reverse NAT (@src true) of a flow packet: the
 * address (IPv4 header checksum; TCP/UDP/ICMPv6 checksum through the
 * pseudo-header) and, for TCP/UDP, the port (@echo_id: an echo's id too,
 * as masquerade does).  A later fragment has no L4 header: only its IP
 * header changes.
 */
static void rewrite_flow_id(struct ref_pkt *p, bool src,
			    const struct tp_addr *na, __be16 nport,
			    bool echo_id)
{
	uint8_t *ip = p->b + p->l3, *l4 = p->b + p->l4, *a, *port;
	const uint8_t *nb = addr_bytes(na, p->v6);
	size_t alen = p->v6 ? 16 : 4, csum_off = 0;
	struct csum_delta ad = { 0 }, l4d = { 0 };
	bool has_l4 = p->frag != FRAG_LATER;
	__u8 proto = p->t.proto;

	a = ip + addr_off(p->v6, src);
	if (memcmp(a, nb, alen)) {
		delta_add(&ad, a, nb, alen);
		memcpy(a, nb, alen);
		if (!p->v6)
			csum_fix(ip + 10, &ad, false, NULL);
	}
	if (!has_l4)
		return;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		csum_off = proto == IPPROTO_TCP ? 16 : 6;
		delta_merge(&l4d, &ad);
		port = l4 + (src ? 0 : 2);
		if (memcmp(port, &nport, 2)) {
			delta_add(&l4d, port, (const uint8_t *)&nport, 2);
			memcpy(port, &nport, 2);
		}
	} else if (proto == IPPROTO_ICMPV6 && p->v6) {
		csum_off = 2;
		delta_merge(&l4d, &ad);
	}
	/* masquerade: an echo's id plays the port (DNAT keeps it: @echo_id) */
	if (echo_id && proto == icmp_proto(p->v6) &&
	    (src ? p->t.sport : p->t.dport) != nport) {
		csum_off = 2;
		delta_add(&l4d, l4 + 4, (const uint8_t *)&nport, 2);
		memcpy(l4 + 4, &nport, 2);
	}
	/* ICMPv4 echo: no pseudo-header, the checksum does not change */
	if (csum_off)
		csum_fix(l4 + csum_off, &l4d, proto == IPPROTO_UDP, NULL);
}

static void rewrite_flow(struct ref_pkt *p, bool src, const struct tp_addr *na,
			 __be16 nport)
{
	rewrite_flow_id(p, src, na, nport, false);
}

/*
 * An ICMP error about a translated flow: one side of the quoted packet
 * (@qsrc: its source, else its destination) becomes @na / @nport, with
 * the quoted IPv4 header checksum and the quoted L4 checksum when it is
 * in the quote; the outer address on the matching side follows when it
 * equalled the quoted one; the ICMP checksum absorbs it all.
 */
static void rewrite_icmp_error_to(struct ref_pkt *p, bool qsrc,
				  const struct tp_addr *na, __be16 nport,
				  bool always)
{
	uint8_t *ip = p->b + p->l3, *q = p->b + p->q_l3, *ql4 = p->b + p->q_l4;
	const uint8_t *nb = addr_bytes(na, p->v6);
	size_t alen = p->v6 ? 16 : 4, quoted = p->end - p->q_l4, lc = 0;
	struct csum_delta ad = { 0 }, l4d = { 0 }, icmp = { 0 };
	uint8_t old[16], *a, *outer, *port;
	__u8 proto = p->q.proto;

	/* the quoted address */
	a = q + addr_off(p->v6, qsrc);
	memcpy(old, a, alen);
	delta_add(&ad, old, nb, alen);
	memcpy(a, nb, alen);
	delta_merge(&icmp, &ad);
	if (!p->v6)
		csum_fix(q + 10, &ad, false, &icmp);

	/*
	 * The quoted port; a quoted echo's id plays it (its tuple's port on
	 * that side: 0 on the side without the id), which only masquerade
	 * changes.
	 */
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	    (proto == icmp_proto(p->v6) &&
	     (qsrc ? p->q.sport : p->q.dport) != nport)) {
		port = ql4 + (proto == icmp_proto(p->v6) ? 4 : qsrc ? 0 : 2);
		if (memcmp(port, &nport, 2)) {
			delta_add(&l4d, port, (const uint8_t *)&nport, 2);
			delta_add(&icmp, port, (const uint8_t *)&nport, 2);
			memcpy(port, &nport, 2);
			if (proto == IPPROTO_ICMP)
				lc = 2; /* ICMPv4 sums no addresses: only the id moves it */
		}
	}

	/*
	 * The quoted L4 checksum, when it is inside the quote.  Doc
	 * ambiguity: "quoted" is taken as "present in the packet" (the
	 * same measure as every other length rule of the document).
	 */
	if (proto == IPPROTO_TCP && quoted >= 18)
		lc = 16;
	else if (proto == IPPROTO_UDP)
		lc = 6;
	else if (proto == IPPROTO_ICMPV6 && p->v6)
		lc = 2;
	if (lc) {
		if (proto != IPPROTO_ICMP)
			delta_merge(&l4d, &ad); /* its pseudo-header */
		csum_fix(ql4 + lc, &l4d, proto == IPPROTO_UDP, &icmp);
	}

	/*
	 * The outer address, unless the error came from elsewhere (@always:
	 * whoever sent it, masquerade's errors leaving to the tailnet).
	 */
	outer = ip + addr_off(p->v6, !qsrc);
	if (always || !memcmp(outer, old, alen)) {
		struct csum_delta od = { 0 };

		delta_add(&od, outer, nb, alen);
		memcpy(outer, nb, alen);
		if (!p->v6)
			csum_fix(ip + 10, &od, false, NULL);
		else
			delta_merge(&icmp, &od); /* ICMPv6 pseudo-header */
	}
	csum_fix(p->b + p->l4 + 2, &icmp, false, NULL);
}

static void rewrite_icmp_error(struct ref_pkt *p, bool qsrc,
			       const struct tp_addr *na, __be16 nport)
{
	rewrite_icmp_error_to(p, qsrc, na, nport, false);
}

/* ---- the programs ----------------------------------------------------------- */

/* One packet being run: the model, the packet, where it is. */
struct ref_run {
	struct ref_state *st;
	struct ref_pkt *p;
	int hook;
	__u32 ifindex;	  /* skb->ifindex */
	__u32 in_ifindex; /* skb->ingress_ifindex */
	__u64 now;
};

static void count(struct ref_state *st, __u32 id, size_t len)
{
	st->stats[id].packets++;
	st->stats[id].bytes += len;
}

static void explain(struct ref_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void explain(struct ref_state *st, const char *fmt, ...)
{
	size_t n = strlen(st->why);
	va_list ap;

	if (n + 1 >= sizeof(st->why))
		return;
	st->why[n++] = ' ';
	st->why[n] = '\0';
	va_start(ap, fmt);
	vsnprintf(st->why + n, sizeof(st->why) - n, fmt, ap);
	va_end(ap);
}

static int pass(struct ref_run *r, __u32 id)
{
	count(r->st, id, r->p->len);
	return REF_PASS;
}

static int drop(struct ref_run *r, int reason)
{
	count(r->st, TP_STAT_DROP(reason), r->p->len);
	explain(r->st, "drop %d", reason);
	return REF_DROP;
}

/* ---- policy ---- */

/* What a decision is made from (docs/policy.md "Identities", "Rules"). */
struct ref_query {
	__u32 src_id, dst_id;
	__u16 zone, out_zone;
	__u8 proto;
	__be16 dport;
};

struct ref_decision {
	__u8 verdict;
	__u8 reason;
	__u32 rule_id;
};

static bool verdict_allows(__u8 v)
{
	return v == TP_VERDICT_ALLOW || v == TP_VERDICT_AUDIT;
}

static __u32 identity(const struct ref_state *st, __u16 zone,
		      const struct tp_addr *a, __u32 fallback)
{
	return pref_identity_of(&st->pol, zone, a, fallback);
}

/*
 * From the tailnet: source in the interface's zone, else tailnet;
 * destination (after DNAT) in the out zone, else tailnet when that is a
 * tailnet zone, else world.
 */
static void query_ingress(const struct ref_run *r, const struct tp_addr *daddr,
			  __be16 dport, struct ref_query *q)
{
	const struct ref_pkt *p = r->p;

	memset(q, 0, sizeof(*q));
	q->zone = p->t.zone;
	q->out_zone = ref_out_zone(r->st, p->v6, &p->t.saddr, daddr);
	q->src_id = identity(r->st, q->zone, &p->t.saddr, TP_ID_TAILNET);
	q->dst_id = identity(r->st, q->out_zone, daddr,
			     q->out_zone ? TP_ID_TAILNET : TP_ID_WORLD);
	q->proto = p->t.proto;
	q->dport = dport;
}

/*
 * To the tailnet, a flow this side starts: source in zone 0, else host
 * when this host sent it (ingress_ifindex 0), else world; destination in
 * the interface's zone, else tailnet.
 *
 * Doc ambiguity: the out zone of such a flow; the model takes the
 * interface's zone (it leaves through that interface), so it is never a
 * zone crossing.
 */
static void query_egress_of(const struct ref_run *r, const struct tp_ct_key *t,
			    __u8 origin, struct ref_query *q)
{
	memset(q, 0, sizeof(*q));
	q->zone = t->zone;
	q->out_zone = t->zone;
	/* "an uplink's sources are anyone's to forge: world" */
	if (origin & TP_CT_F_UPLINK)
		q->src_id = TP_ID_WORLD;
	else
		q->src_id = identity(r->st, 0, &t->saddr,
				     origin & TP_CT_F_LOCAL ? TP_ID_HOST
							    : TP_ID_WORLD);
	q->dst_id = identity(r->st, q->zone, &t->daddr, TP_ID_TAILNET);
	q->proto = t->proto;
	q->dport = t->dport;
}

/* Where a packet leaving to the tailnet came from: TP_CT_F_LOCAL, _UPLINK or 0. */
static __u8 egress_origin(const struct ref_run *r)
{
	const struct tp_iface *ifc;

	if (!r->in_ifindex)
		return TP_CT_F_LOCAL;
	ifc = iface_find(r->st, r->in_ifindex);
	return ifc && (ifc->flags & TP_IFACE_F_UPLINK) ? TP_CT_F_UPLINK : 0;
}

static void query_egress(const struct ref_run *r, struct ref_query *q)
{
	query_egress_of(r, &r->p->t, egress_origin(r), q);
}

/* An egress service: "decided on the pod's own identity and the backend's". */
static void query_egress_dnat(const struct ref_run *r,
			      const struct tp_ct_entry *e, struct ref_query *q)
{
	if (!(e->flags & TP_CT_F_DNAT))
		return;
	q->dst_id = identity(r->st, q->zone, &e->nat_addr, TP_ID_TAILNET);
	q->dport = e->nat_port;
}

/* The decision (policyref), counted per verdict and per rule. */
static void decide(struct ref_run *r, const struct ref_query *q,
		   struct ref_decision *d)
{
	struct pref_query pq = {
		.src_id = q->src_id,
		.dst_id = q->dst_id,
		.zone = q->zone,
		.out_zone = q->out_zone,
		.proto = q->proto,
		.dport = ntohs(q->dport),
	};
	struct pref_decision pd;
	struct ref_state *st = r->st;

	pref_decide(&st->pol, &pq, &pd);
	d->verdict = pd.verdict;
	d->reason = pd.verdict == TP_VERDICT_DENY ? pd.reason : 0;
	d->rule_id = pd.rule_id;
	count(st,
	      d->verdict == TP_VERDICT_DENY    ? TP_STAT_VERDICT_DENY
	      : d->verdict == TP_VERDICT_AUDIT ? TP_STAT_VERDICT_AUDIT
					       : TP_STAT_VERDICT_ALLOW,
	      r->p->len);
	if (d->rule_id < TP_MAX_RULES) {
		st->rule_stats[d->rule_id].packets++;
		st->rule_stats[d->rule_id].bytes += r->p->len;
	}
	explain(st, "[%u->%u z%u/%u %s rule %u]", q->src_id, q->dst_id, q->zone,
		q->out_zone, pref_verdict_str(d->verdict), d->rule_id);
}

/*
 * The token bucket: events_per_sec tokens a second, at most events_burst
 * of them, one per event; it starts full.
 *
 * Doc ambiguity: the bucket's arithmetic.  The model keeps its credit in
 * nanoseconds (a token costs 1e9 / events_per_sec ns, integer division),
 * capped at events_burst tokens (1 when 0), as bpf/lib/events.h does.
 */
static bool event_admit(struct ref_state *st, __u64 now)
{
	__u64 cost, cap, credit;

	if (!st->k.events_per_sec)
		return true;
	cost = NSEC / st->k.events_per_sec;
	cap = cost * (st->k.events_burst ? st->k.events_burst : 1);
	credit = st->bucket.credit_ns + (now - st->bucket.last_ns);
	if (now < st->bucket.last_ns || credit > cap)
		credit = cap;
	st->bucket.last_ns = now;
	if (credit < cost) {
		st->bucket.credit_ns = credit;
		return false;
	}
	st->bucket.credit_ns = credit - cost;
	return true;
}

/*
 * A flow event (docs/policy.md "Events"): type from the verdict, the
 * tuple before translation, the destination after it.
 *
 * Known conflict (reported): "each decision about a new flow (and each
 * denied packet) produces a struct tp_event".  The model, as the BPF,
 * reports decisions: new flows, packets of no flow that are denied, and
 * re-checks that change a verdict.  Packets dropped because their flow is
 * denied (in either direction, ICMP errors about it, a re-check that
 * denies again), by tp_to_tailnet's zone guard, or as later fragments of
 * no flow (TP_DROP_FRAG_NO_FLOW) produce none.
 */
static void event_put(struct ref_run *r, const struct tp_event *ev);

static void event_of(struct ref_run *r, const struct tp_ct_key *tuple,
		     const struct ref_query *q, const struct ref_decision *d,
		     __u32 svc_id, const struct tp_addr *nat_addr,
		     __be16 nat_port)
{
	struct tp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = r->now;
	ev.type = d->verdict == TP_VERDICT_DENY	   ? TP_EVENT_FLOW_DENY
		  : d->verdict == TP_VERDICT_AUDIT ? TP_EVENT_FLOW_AUDIT
						   : TP_EVENT_FLOW_ALLOW;
	ev.verdict = d->verdict;
	ev.reason = d->verdict == TP_VERDICT_DENY ? d->reason : 0;
	ev.hook = r->hook == REF_FROM_TAILNET ? TP_EVENT_HOOK_FROM_TAILNET
					      : TP_EVENT_HOOK_TO_TAILNET;
	ev.zone = q->zone;
	ev.out_zone = q->out_zone;
	ev.ifindex = r->ifindex;
	ev.src_id = q->src_id;
	ev.dst_id = q->dst_id;
	ev.rule_id = d->rule_id;
	ev.svc_id = svc_id;
	ev.tuple = *tuple;
	ev.nat_addr = *nat_addr;
	ev.nat_port = nat_port;
	event_put(r, &ev);
}

static void event(struct ref_run *r, const struct ref_query *q,
		  const struct ref_decision *d, __u32 svc_id,
		  const struct tp_addr *nat_addr, __be16 nat_port)
{
	event_of(r, &r->p->t, q, d, svc_id, nat_addr, nat_port);
}

/*
 * "Drops that are no policy decision produce a drop event": type drop,
 * the reason, hook, zone and interface, the packet's tuple as far as it
 * was parsed (the destination after translation is its own), nothing
 * else.
 */
static int drop_report(struct ref_run *r, int reason)
{
	struct tp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = r->now;
	ev.type = TP_EVENT_DROP;
	ev.reason = reason;
	ev.hook = r->hook == REF_FROM_TAILNET ? TP_EVENT_HOOK_FROM_TAILNET
					      : TP_EVENT_HOOK_TO_TAILNET;
	ev.zone = r->p->t.zone;
	ev.ifindex = r->ifindex;
	ev.tuple = r->p->t;
	ev.nat_addr = r->p->t.daddr;
	ev.nat_port = r->p->t.dport;
	event_put(r, &ev);
	return drop(r, reason);
}

static void event_put(struct ref_run *r, const struct tp_event *evp)
{
	struct ref_state *st = r->st;
	struct tp_event ev = *evp;

	if (!(st->k.event_mask & (1u << ev.type)))
		return;
	if (!event_admit(st, r->now)) {
		count(st, TP_STAT_EVENTS_LIMITED, 0);
		explain(st, "event limited");
		return;
	}
	if (st->n_events == REF_RING_RECORDS) {
		count(st, TP_STAT_EVENTS_LOST, 0);
		explain(st, "event lost");
		return;
	}
	st->events[st->n_events++] = ev;
	count(st, TP_STAT_EVENTS, 0);
	explain(st, "event %u", ev.type);
}

/* A zone without a default of its own defaults to allow. */
static bool zone_denies(const struct ref_state *st, __u16 zone)
{
	return zone < TP_MAX_ZONES &&
	       st->pol.zone_default[zone] == TP_VERDICT_DENY;
}

/*
 * A packet of no flow that cannot start one: "decided one by one and
 * never tracked".  Allowed, it counts @stat; denied, it is dropped with
 * the decision's reason and reported.
 *
 * Doc ambiguity: whether an allowed or audited packet of no flow is
 * reported; "each decision about a new flow (and each denied packet)"
 * names neither, so the model reports denied ones only, as the BPF does.
 * The event's destination after translation is the packet's own.
 */
static int stateless(struct ref_run *r, __u32 stat)
{
	struct ref_query q;
	struct ref_decision d;

	if (r->hook == REF_FROM_TAILNET)
		query_ingress(r, &r->p->t.daddr, r->p->t.dport, &q);
	else
		query_egress(r, &q);
	decide(r, &q, &d);
	if (d.verdict == TP_VERDICT_DENY) {
		event(r, &q, &d, 0, &r->p->t.daddr, r->p->t.dport);
		return drop(r, d.reason);
	}
	return pass(r, stat);
}

/*
 * "A flow decided under an older revision is decided again on its next
 * packet in either direction (or an ICMP error about it)", from its
 * original tuple @orig and what it recorded: identities looked up again,
 * its out zone the one of its first packet, the origin (this host, an
 * uplink, another interface) of a flow this side started as recorded in
 * its flags.  A decision that changes the verdict is reported, with the
 * flow's original tuple.
 *
 * Doc ambiguity: "an older revision" is taken as "another revision" (the
 * revision only grows).
 */
static __u8 recheck(struct ref_run *r, const struct tp_ct_key *orig,
		    struct tp_ct_entry *e)
{
	bool dnat = e->flags & TP_CT_F_DNAT;
	const struct tp_addr *da = dnat ? &e->nat_addr : &orig->daddr;
	__be16 dp = dnat ? e->nat_port : orig->dport;
	struct ref_query q;
	struct ref_decision d;

	if (e->policy_rev == r->st->policy_rev)
		return e->verdict;
	if (e->flags & TP_CT_F_EGRESS) {
		query_egress_of(r, orig, e->flags, &q);
		query_egress_dnat(r, e, &q);
	} else {
		memset(&q, 0, sizeof(q));
		q.zone = orig->zone;
		q.out_zone = e->out_zone;
		q.src_id = identity(r->st, q.zone, &orig->saddr, TP_ID_TAILNET);
		q.dst_id = identity(r->st, q.out_zone, da,
				    q.out_zone ? TP_ID_TAILNET : TP_ID_WORLD);
		q.proto = orig->proto;
		q.dport = dp;
	}
	explain(r->st, "recheck");
	decide(r, &q, &d);
	count(r->st, TP_STAT_POLICY_RECHECK, r->p->len);
	if (d.verdict != e->verdict)
		event_of(r, orig, &q, &d, e->svc_id, da, dp);
	e->verdict = d.verdict;
	e->rule_id = d.rule_id;
	e->src_identity = q.src_id;
	e->dst_identity = q.dst_id;
	e->policy_rev = r->st->policy_rev;
	return d.verdict;
}

/*
 * Why the packets of a denied flow are dropped.
 *
 * Doc ambiguity: the reason for packets of a flow denied by a re-check.
 * The model gives TP_DROP_ZONE to packets in the original direction of a
 * flow that crosses zones and TP_DROP_POLICY otherwise, replies always
 * TP_DROP_POLICY, as the BPF does.
 */
static int flow_deny_reason(const struct tp_ct_entry *e, __u16 zone)
{
	return zone && e->out_zone && zone != e->out_zone ? TP_DROP_ZONE
							  : TP_DROP_POLICY;
}

/* ---- fragments ---- */

/*
 * Fragments: a first fragment records its ports; a later fragment takes
 * the ports of a record younger than frag_timeout.  False: a later
 * fragment without such a record.
 *
 * Doc ambiguity: the document does not say which program records; the
 * model records (and looks up) in both, before conntrack, whatever
 * becomes of the packet afterwards (a denied first fragment included:
 * "one whose first fragment was denied is decided by policy with those
 * ports").
 */
static bool frag_track(struct ref_run *r)
{
	struct ref_pkt *p = r->p;
	struct tp_frag_key fk;
	struct tp_frag f, *rec;

	if (p->frag == FRAG_NONE)
		return true;
	memset(&fk, 0, sizeof(fk));
	fk.saddr = p->t.saddr;
	fk.daddr = p->t.daddr;
	fk.id = p->frag_id;
	fk.proto = p->frag_nh;
	fk.zone = p->t.zone;
	if (p->frag == FRAG_FIRST) {
		memset(&f, 0, sizeof(f));
		f.sport = p->t.sport;
		f.dport = p->t.dport;
		f.proto = p->t.proto;
		f.seen_ns = r->now;
		tab_put(&r->st->frags, &fk, &f);
		return true;
	}
	rec = tab_find(&r->st->frags, &fk);
	/* a record stamped ahead of the clock is fresh, as in ct.h */
	if (!rec ||
	    (r->now > rec->seen_ns &&
	     r->now - rec->seen_ns >= (__u64)r->st->k.frag_timeout * NSEC))
		return false;
	p->t.sport = rec->sport;
	p->t.dport = rec->dport;
	p->t.proto = rec->proto;
	explain(r->st, "later fragment with record:");
	return true;
}

/*
 * A later fragment without a record: dropped with TP_DROP_FRAG_NO_FLOW
 * when its zone defaults to deny, else passed and counted.
 */
static int frag_no_record(struct ref_run *r, __u32 stat)
{
	explain(r->st, "later fragment without record");
	if (zone_denies(r->st, r->p->t.zone))
		return drop_report(r, TP_DROP_FRAG_NO_FLOW);
	return pass(r, stat);
}

/* ---- conntrack ---- */

/* "TP_CT_F_EGRESS | TP_CT_F_SNAT | TP_CT_F_MASQ (never TP_CT_F_DNAT)" */
static bool is_masq(const struct tp_ct_entry *e)
{
	return (e->flags & (TP_CT_F_SNAT | TP_CT_F_MASQ)) ==
	       (TP_CT_F_SNAT | TP_CT_F_MASQ);
}

/* Zone @zone's tp_masq entry, whatever its flags, or NULL. */
static const struct tp_masq *masq_entry(const struct ref_state *st, __u16 zone)
{
	const struct tp_masq *m = NULL;
	size_t i;

	for (i = 0; i < st->n_masq; i++)
		if (st->masq[i].zone == zone)
			m = &st->masq[i].m;
	return m;
}

static bool addr_set(const struct tp_addr *a)
{
	return a->w[0] | a->w[1] | a->w[2] | a->w[3];
}

/*
 * The address a masqueraded flow's packets leave with, NULL for none.
 * "Without DNAT it is kept in nat_addr; a service flow's nat_addr holds
 * its backend: tp_masq[out_zone] is read on each of its packets."
 *
 * Doc ambiguity: whether that read needs TP_MASQ_F_ON.  The model takes
 * the entry's address of the flow's family whatever its flags (the flow
 * "keeps its translation until it ends" when masquerade goes off), as
 * the BPF does.
 */
static const struct tp_addr *flow_masq_addr(const struct ref_state *st,
					    const struct tp_ct_key *orig,
					    const struct tp_ct_entry *e)
{
	const struct tp_masq *m;
	const struct tp_addr *a;

	if (!(e->flags & TP_CT_F_DNAT))
		return &e->nat_addr;
	m = masq_entry(st, e->out_zone);
	if (!m)
		return NULL;
	a = v4_mapped(&orig->saddr) ? &m->addr4 : &m->addr6;
	return addr_set(a) ? a : NULL;
}

/*
 * "The reply tuple is computed: the original reversed, with the backend
 * as source after DNAT."  Masquerade: "peer -> address:port, the flow's
 * own zone", a crossing's in the zone it crosses to ("its SNAT reply key
 * in zone B").  False: a masqueraded service flow whose zone has no
 * address of its family (@r has every field but the destination).
 */
static bool reply_tuple(const struct ref_state *st,
			const struct tp_ct_key *orig,
			const struct tp_ct_entry *e, struct tp_ct_key *r)
{
	const struct tp_addr *a;

	tuple_reverse(orig, r);
	if (e->flags & TP_CT_F_DNAT) {
		r->saddr = e->nat_addr;
		r->sport = e->nat_port;
	}
	if (!is_masq(e))
		return true;
	r->dport = e->snat_port;
	if (!(e->flags & TP_CT_F_EGRESS))
		r->zone = e->out_zone;
	a = flow_masq_addr(st, orig, e);
	if (!a)
		return false;
	r->daddr = *a;
	return true;
}

/**
 * ref_reply_tuple() - the tuple a flow's replies carry, as the model
 * computes it.
 * @st:   the model.
 * @orig: the flow's original tuple.
 * @e:    its flow entry.
 * @r:    filled in.
 *
 * Return: false when it has none now (a masqueraded service flow whose
 * zone has no address of its family).
 */
bool ref_reply_tuple(const struct ref_state *st, const struct tp_ct_key *orig,
		     const struct tp_ct_entry *e, struct tp_ct_key *r)
{
	return reply_tuple(st, orig, e, r);
}

/* Does the flow leave to another zone's tailnet? */
static bool crosses(const struct tp_ct_key *orig, const struct tp_ct_entry *e)
{
	return e->out_zone && orig->zone && e->out_zone != orig->zone;
}

/*
 * Has it a reply key in that zone besides its own reply tuple's?  "There
 * is no DNAT reply key in A and no crossing key" for a masqueraded
 * crossing: its reply tuple is in zone B already.
 */
static bool cross_key(const struct tp_ct_key *orig, const struct tp_ct_entry *e)
{
	return crosses(orig, e) && !is_masq(e);
}

/* "A reply-key entry holds what its tuple lacks of the original tuple." */
static void rk_orig(const struct tp_ct_key *rkey, const struct tp_ct_entry *rk,
		    struct tp_ct_key *orig)
{
	memset(orig, 0, sizeof(*orig));
	/* "the SNAT kind holds the pod's address and port" */
	orig->saddr = rk->flags & TP_CT_F_SNAT ? rk->orig_saddr : rkey->daddr;
	orig->daddr = rk->orig_daddr;
	orig->sport = rk->flags & TP_CT_F_SNAT ? rk->orig_sport : rkey->dport;
	orig->dport = rk->orig_dport;
	orig->proto = rkey->proto;
	orig->zone = rk->orig_zone;
}

static bool rk_points_at(const struct tp_ct_key *rkey,
			 const struct tp_ct_entry *rk,
			 const struct tp_ct_key *key)
{
	struct tp_ct_key o;

	if (!(rk->flags & TP_CT_F_REPLY_KEY))
		return false;
	rk_orig(rkey, rk, &o);
	return !memcmp(&o, key, sizeof(o));
}

/*
 * Is @k flow @f's (original tuple @orig) reply tuple, or that tuple in
 * the zone a crossing flow leaves to?  A masqueraded crossing's replies
 * "are restored whole in B, so in A they are the original tuple
 * reversed".
 */
static bool is_reply_key(const struct ref_state *st,
			 const struct tp_ct_entry *f,
			 const struct tp_ct_key *orig,
			 const struct tp_ct_key *k)
{
	struct tp_ct_key r;

	if (is_masq(f) && !(f->flags & TP_CT_F_EGRESS) &&
	    k->zone == orig->zone) {
		tuple_reverse(orig, &r);
		return !memcmp(&r, k, sizeof(r));
	}
	if (!reply_tuple(st, orig, f, &r))
		return false;
	if (!is_masq(f) && f->out_zone && k->zone == f->out_zone)
		r.zone = k->zone;
	return !memcmp(&r, k, sizeof(r));
}

/* The live flow entry at @orig, when @key is its reply tuple, else NULL. */
static struct tp_ct_entry *ct_flow_replied(const struct ref_state *st,
					   const struct tp_ct_key *orig,
					   const struct tp_ct_key *key,
					   __u64 now)
{
	struct tp_ct_entry *e = tab_find(&st->ct, orig);

	if (!e || (e->flags & TP_CT_F_REPLY_KEY) || !ct_live(e, now) ||
	    !is_reply_key(st, e, orig, key))
		return NULL;
	return e;
}

/*
 * "After the two candidates fail, look up tp_be_frontends[(B, bp,
 * proto)] and try each non-empty slot fe: orig = (C:cp -> fe.vip:fe.port,
 * proto, zone z); a live flow entry there with TP_CT_F_DNAT |
 * TP_CT_F_RINDEX whose reply tuple is the packet's is the owner."
 */
static struct tp_ct_entry *ct_rindex_owner(const struct ref_state *st,
					   const struct tp_ct_key *key,
					   __u64 now, struct tp_ct_key *orig)
{
	struct tp_be_key k = { .addr = key->saddr,
			       .port = key->sport,
			       .proto = key->proto };
	const struct tp_be_frontends *v = tab_find(&st->befe, &k);
	struct tp_ct_entry *e;
	int i;

	for (i = 0; v && i < TP_BE_FRONTENDS; i++) {
		if (v->fe[i].proto != key->proto)
			continue;
		memset(orig, 0, sizeof(*orig));
		orig->saddr = key->daddr;
		orig->daddr = v->fe[i].vip;
		orig->sport = key->dport;
		orig->dport = v->fe[i].port;
		orig->proto = key->proto;
		orig->zone = key->zone;
		e = ct_flow_replied(st, orig, key, now);
		if (e && (e->flags & (TP_CT_F_DNAT | TP_CT_F_RINDEX)) ==
				 (TP_CT_F_DNAT | TP_CT_F_RINDEX))
			return e;
	}
	return NULL;
}

/*
 * "The flag is userspace's word that tp_be_frontends lists the frontend;
 * the datapath believes the index, not the flag": does the index list
 * DNAT flow @e's frontend (its original destination) for its backend?
 */
static bool be_lists(const struct ref_state *st, const struct tp_ct_key *key,
		     const struct tp_ct_entry *e)
{
	struct tp_be_key k = { .addr = e->nat_addr,
			       .port = e->nat_port,
			       .proto = key->proto };
	const struct tp_be_frontends *v = tab_find(&st->befe, &k);
	int i;

	for (i = 0; v && i < TP_BE_FRONTENDS; i++)
		if (v->fe[i].proto == key->proto &&
		    v->fe[i].port == key->dport &&
		    !memcmp(&v->fe[i].vip, &key->daddr, sizeof(key->daddr)))
			return true;
	return false;
}

/*
 * The live flow entry whose reply tuple is @key, given @cur, the entry
 * under @key: a reply key names it; nothing or an expired flow leaves the
 * reversed tuple (an untranslated flow's); a live flow is no reply.
 */
static struct tp_ct_entry *ct_reply_of(const struct ref_state *st,
				       const struct tp_ct_key *key,
				       const struct tp_ct_entry *cur, __u64 now,
				       struct tp_ct_key *orig)
{
	struct tp_ct_entry *e;

	if (cur && (cur->flags & TP_CT_F_REPLY_KEY))
		rk_orig(key, cur, orig);
	else if (cur && ct_live(cur, now))
		return NULL;
	else
		tuple_reverse(key, orig);
	e = ct_flow_replied(st, orig, key, now);
	return e ? e : ct_rindex_owner(st, key, now, orig);
}

/*
 * The live SNAT-kind flow whose reply key @rkey is: "a reply-key entry
 * with TP_CT_F_SNAT whose live flow points back".
 */
static struct tp_ct_entry *ct_snat_flow_of(const struct ref_state *st,
					   const struct tp_ct_key *rkey,
					   __u64 now, struct tp_ct_key *orig)
{
	const __u8 want = TP_CT_F_REPLY_KEY | TP_CT_F_SNAT;
	const struct tp_ct_entry *rk = tab_find(&st->ct, rkey);

	if (!rk || (rk->flags & want) != want)
		return NULL;
	rk_orig(rkey, rk, orig);
	return ct_flow_replied(st, orig, rkey, now);
}

/* The live flow entry whose reply tuple is @key. */
static struct tp_ct_entry *ct_reply(const struct ref_state *st,
				    const struct tp_ct_key *key, __u64 now,
				    struct tp_ct_key *orig)
{
	return ct_reply_of(st, key, tab_find(&st->ct, key), now, orig);
}

/*
 * Is @k held by another live flow: a live flow entry, or the reply tuple
 * of a live flow other than @self, by its reply key or reversed (a
 * clash)?  A flow from the tailnet (@may_take_egress) may take over a
 * flow entry of TP_CT_F_EGRESS.
 *
 * Doc ambiguity: a new flow whose reply tuple is its own tuple, on a
 * TCP SYN that reopens a closed flow: the entry it replaces is taken as
 * "another live flow", as the BPF does.
 */
static bool ct_key_held(const struct ref_state *st, const struct tp_ct_key *k,
			const struct tp_ct_key *self, bool may_take_egress,
			__u64 now)
{
	const struct tp_ct_entry *e = tab_find(&st->ct, k), *f;
	struct tp_ct_key other;

	if (e && !(e->flags & TP_CT_F_REPLY_KEY))
		return ct_live(e, now) &&
		       !(may_take_egress && (e->flags & TP_CT_F_EGRESS));
	if (e)
		rk_orig(k, e, &other);
	else
		tuple_reverse(k, &other);
	if (memcmp(&other, self, sizeof(*self))) {
		f = tab_find(&st->ct, &other);
		if (f && !(f->flags & TP_CT_F_REPLY_KEY) && ct_live(f, now) &&
		    is_reply_key(st, f, &other, k))
			return true;
	}
	/* "an indexed owner of the tuple other than self holds it too" */
	return ct_rindex_owner(st, k, now, &other) &&
	       memcmp(&other, self, sizeof(*self));
}

/* "Delete a reply key only when it points back at the flow being removed." */
static void ct_delete_reply_key(struct ref_state *st,
				const struct tp_ct_key *rkey,
				const struct tp_ct_key *key)
{
	const struct tp_ct_entry *rk = tab_find(&st->ct, rkey);

	if (rk && rk_points_at(rkey, rk, key))
		tab_del(&st->ct, rkey);
}

/* The reply keys of flow @e at @key: a DNAT flow's reply tuple, a crossing's there. */
static void ct_drop_reply_keys(struct ref_state *st,
			       const struct tp_ct_key *key,
			       const struct tp_ct_entry *e)
{
	struct tp_ct_key r;

	/*
	 * a masqueraded service flow without an address has no key to
	 * find; "an RINDEX flow has no DNAT reply key to drop"
	 */
	if (reply_tuple(st, key, e, &r) &&
	    (e->flags & (TP_CT_F_DNAT | TP_CT_F_SNAT)) &&
	    !(e->flags & TP_CT_F_RINDEX))
		ct_delete_reply_key(st, &r, key);
	if (cross_key(key, e)) {
		r.zone = e->out_zone;
		ct_delete_reply_key(st, &r, key);
	}
}

/*
 * "A key about to hold a reply key, or to be a new flow's reply tuple,
 * whose entry is a flow (expired, or one this side started that a flow
 * from the tailnet takes over): that flow goes, and with it its own reply
 * keys (when they point back)."
 */
static void ct_retire(struct ref_state *st, const struct tp_ct_key *k)
{
	const struct tp_ct_entry *cur = tab_find(&st->ct, k);
	struct tp_ct_entry copy;

	if (cur && !(cur->flags & TP_CT_F_REPLY_KEY)) {
		copy = *cur;
		ct_drop_reply_keys(st, k, &copy);
	}
}

static void rk_fill(struct tp_ct_entry *rk, const struct tp_ct_key *key)
{
	memset(rk, 0, sizeof(*rk));
	rk->flags = TP_CT_F_REPLY_KEY;
	rk->orig_daddr = key->daddr;
	rk->orig_dport = key->dport;
	rk->orig_zone = key->zone;
}

/* A masqueraded flow's reply key: "the SNAT kind, holding the pod's address and port". */
static void rk_fill_snat(struct tp_ct_entry *rk, const struct tp_ct_key *key)
{
	rk_fill(rk, key);
	rk->flags |= TP_CT_F_SNAT;
	rk->orig_saddr = key->saddr;
	rk->orig_sport = key->sport;
}

/*
 * A masqueraded flow's reply key "is the port's reservation, checked on
 * every packet in the original direction": there and pointing back, fine;
 * gone, written again; held by another live flow (which took the port
 * meanwhile), the flow lost its port: -TP_DROP_CT_CLASH.
 */
static int ct_keep_masq_key(struct ref_state *st, const struct tp_ct_key *key,
			    const struct tp_ct_entry *e, __u64 now)
{
	const struct tp_ct_entry *cur;
	struct tp_ct_key r;
	struct tp_ct_entry rk;

	/* no address now: nothing to keep (the packet finds none either) */
	if (!reply_tuple(st, key, e, &r))
		return 0;
	cur = tab_find(&st->ct, &r);
	if (cur && rk_points_at(&r, cur, key))
		return 0;
	if (ct_key_held(st, &r, key, false, now))
		return -TP_DROP_CT_CLASH;
	ct_retire(st, &r);
	rk_fill_snat(&rk, key);
	tab_put(&st->ct, &r, &rk);
	return 0;
}

/*
 * Write reply key @rkey of the flow at @key, unless it is there already
 * or another live flow holds the tuple.  Return: 0 when the key is the
 * flow's now, -TP_DROP_CT_CLASH when another flow holds the tuple.
 */
static int ct_write_reply_key(struct ref_state *st,
			      const struct tp_ct_key *rkey,
			      const struct tp_ct_key *key, bool from_tailnet,
			      __u64 now)
{
	const struct tp_ct_entry *cur = tab_find(&st->ct, rkey);
	struct tp_ct_entry rk;

	if (cur && rk_points_at(rkey, cur, key))
		return 0;
	if (ct_key_held(st, rkey, key, from_tailnet, now))
		return -TP_DROP_CT_CLASH;
	ct_retire(st, rkey);
	rk_fill(&rk, key);
	tab_put(&st->ct, rkey, &rk);
	return 0;
}

/*
 * "An evicted reply key is written again by the flow's next packet in the
 * original direction, checked at most once a second": the second is the
 * clock's whole seconds, the low 8 bits of them, kept in rk_check_s (a
 * wider second never equals it, and the model would check on every
 * packet); flows without reply keys (untranslated, not crossing) check
 * nothing.
 */
static void ct_keep_reply_keys(struct ref_state *st,
			       const struct tp_ct_key *key,
			       struct tp_ct_entry *e, __u64 now)
{
	__u8 sec = (__u8)(now / NSEC);
	bool from_tailnet = !(e->flags & TP_CT_F_EGRESS);
	/* "an RINDEX flow has no DNAT reply key to keep" */
	bool dnat = (e->flags & (TP_CT_F_DNAT | TP_CT_F_RINDEX)) ==
		    TP_CT_F_DNAT,
	     cross = cross_key(key, e);
	struct tp_ct_key r;

	if (is_masq(e)) {
		e->rk_check_s = sec;
		return;
	}
	if ((!dnat && !cross && !(e->flags & TP_CT_F_RINDEX)) ||
	    e->rk_check_s == sec)
		return;
	e->rk_check_s = sec;
	reply_tuple(st, key, e, &r);
	/*
	 * "An RINDEX flow whose frontend left the index takes a reply key
	 * and is a keyed DNAT flow from then on."
	 */
	if (e->flags & TP_CT_F_RINDEX) {
		if (!be_lists(st, key, e) &&
		    !ct_write_reply_key(st, &r, key, from_tailnet, now))
			e->flags &= (__u8)~TP_CT_F_RINDEX;
		return;
	}
	if (dnat)
		ct_write_reply_key(st, &r, key, from_tailnet, now);
	if (cross) {
		r.zone = e->out_zone;
		ct_write_reply_key(st, &r, key, false, now);
	}
}

/*
 * A new flow's entry @e (its flags and NAT fields set): state, first
 * packet, timeout, policy; and the reply keys of the entry it replaces
 * deleted (when they point back), before the caller looks for a clash.
 */
static void flow_fill(struct ref_run *r, struct tp_ct_entry *e,
		      const struct ref_query *q, const struct ref_decision *d)
{
	struct ref_state *st = r->st;
	struct ref_pkt *p = r->p;
	const struct tp_ct_entry *cur = tab_find(&st->ct, &p->t);
	struct tp_ct_entry old;

	if (p->t.proto == IPPROTO_TCP)
		e->state = syn_only(p->tcp_flags) ? TP_CT_SYN_SENT
						  : TP_CT_ESTABLISHED;
	else
		e->state = TP_CT_OPEN;
	e->ifindex = r->ifindex;
	e->created_s = TP_CT_SEC(r->now);
	e->tcp_flags[0] = p->tcp_flags;
	e->packets[0] = 1;
	e->bytes[0] = p->len;
	e->expires_s = TP_CT_SEC(r->now) + ct_timeout(st, e, p->t.proto);
	e->verdict = d->verdict;
	e->src_identity = q->src_id;
	e->dst_identity = q->dst_id;
	e->rule_id = d->rule_id;
	e->policy_rev = st->policy_rev;
	e->out_zone = q->out_zone;
	e->rk_check_s = (__u16)(r->now / NSEC);

	/* the replaced entry's reply keys */
	if (cur && !(cur->flags & TP_CT_F_REPLY_KEY)) {
		old = *cur;
		ct_drop_reply_keys(st, &p->t, &old);
	}
}

/*
 * Write a new flow's entries: its flow entry, a reply key when DNATed.
 * @e has flags, NAT and service fields set.  Returns 0 or
 * -TP_DROP_CT_CLASH: the flow's own tuple is another live flow's reply
 * tuple, or its reply tuple (a crossing's, in its out zone too) is held
 * by another live flow.
 *
 * Doc ambiguity: whether a clash keeps the replaced entry's reply keys;
 * the model deletes them (when they point back) before it looks for a
 * clash, as the BPF does.
 */
static int flow_commit(struct ref_run *r, struct tp_ct_entry *e,
		       const struct ref_query *q, const struct ref_decision *d)
{
	struct ref_state *st = r->st;
	struct ref_pkt *p = r->p;
	struct tp_ct_key rt, there, orig;
	struct tp_ct_entry rk;
	bool keyed;

	flow_fill(r, e, q, d);
	reply_tuple(st, &p->t, e, &rt);
	if (ct_key_held(st, &rt, &p->t, !(e->flags & TP_CT_F_EGRESS), r->now) ||
	    ct_reply(st, &p->t, r->now, &orig)) {
		explain(st, "clash");
		return -TP_DROP_CT_CLASH;
	}
	/* "A crossing's reply tuple counts in both zones" */
	there = rt;
	there.zone = e->out_zone;
	if (cross_key(&p->t, e) &&
	    ct_key_held(st, &there, &p->t, false, r->now)) {
		explain(st, "clash in zone %u", e->out_zone);
		return -TP_DROP_CT_CLASH;
	}
	ct_retire(st, &rt);
	/*
	 * "an untranslated flow's reply tuple is found by reversing, an
	 * RINDEX flow's through tp_be_frontends: nothing sits there"
	 */
	keyed = (e->flags & (TP_CT_F_DNAT | TP_CT_F_RINDEX)) == TP_CT_F_DNAT;
	if (!keyed)
		tab_del(&st->ct, &rt);
	tab_put(&st->ct, &p->t, e);
	if (keyed) {
		rk_fill(&rk, &p->t);
		tab_put(&st->ct, &rt, &rk);
	}
	/*
	 * policy.md: a crossing flow's replies come in through the zone it
	 * leaves to; its reply tuple is indexed there too (free, as
	 * checked above).
	 */
	if (cross_key(&p->t, e))
		ct_write_reply_key(st, &there, &p->t, false, r->now);
	count(st, TP_STAT_CT_NEW, p->len);
	return 0;
}

static void svc_count(struct ref_state *st, __u32 svc_id, size_t len)
{
	if (svc_id < TP_MAX_SERVICES) {
		st->svc_stats[svc_id].packets++;
		st->svc_stats[svc_id].bytes += len;
	}
}

/*
 * "Packets and bytes translated to and from each service."
 *
 * Doc ambiguity: whether translated ICMP errors count for their service;
 * the model counts flow packets only (DNAT and reverse NAT), as the BPF
 * does.
 */
static int dnat(struct ref_run *r, const struct tp_ct_entry *e)
{
	rewrite_flow(r->p, false, &e->nat_addr, e->nat_port);
	svc_count(r->st, e->svc_id, r->p->len);
	return pass(r, TP_STAT_DNAT);
}

static int masq_commit(struct ref_run *r, struct tp_ct_entry *e,
		       const struct ref_query *q, const struct ref_decision *d);
static int cross_out(struct ref_run *r, const struct tp_ct_entry *e);
static int masq_out(struct ref_run *r, const struct tp_ct_entry *e);
#define MASQ_BAD_PORT 1000 /* masq_commit(): the datapath's port is wrong */

/*
 * "A new flow in tp_from_tailnet of a tailnet zone whose out zone is
 * another tailnet zone with TP_MASQ_F_ON | TP_MASQ_F_CROSSING ... On but
 * no address of the family: TP_DROP_NO_SNAT_ADDR."  1 (@addr set), 0, or
 * -TP_DROP_NO_SNAT_ADDR.
 */
static int cross_masq(struct ref_run *r, __u16 out_zone, struct tp_addr *addr)
{
	const struct ref_pkt *p = r->p;
	const __u32 want = TP_MASQ_F_ON | TP_MASQ_F_CROSSING;
	const struct tp_masq *m;
	const struct tp_addr *a;

	if (!out_zone || !p->t.zone || out_zone == p->t.zone)
		return 0;
	m = masq_entry(r->st, out_zone);
	if (!m || (m->flags & want) != want)
		return 0;
	a = p->v6 ? &m->addr6 : &m->addr4;
	if (!addr_set(a)) {
		explain(r->st, "crossing into zone %u, no address", out_zone);
		return -TP_DROP_NO_SNAT_ADDR;
	}
	*addr = *a;
	return 1;
}

/*
 * A new crossing masqueraded into its out zone: "flags TP_CT_F_SNAT |
 * TP_CT_F_MASQ, plus TP_CT_F_DNAT for a service ... without DNAT [the
 * address] is kept in nat_addr"; a port as for masquerade, then forwarded.
 */
static int cross_new(struct ref_run *r, struct tp_ct_entry *e,
		     const struct ref_query *q, const struct ref_decision *d,
		     const struct tp_addr *addr)
{
	int ret;

	if (!(e->flags & TP_CT_F_DNAT))
		e->nat_addr = *addr;
	ret = masq_commit(r, e, q, d);
	if (ret == -MASQ_BAD_PORT)
		return -1;
	if (ret < 0)
		return drop_report(r, -ret);
	explain(r->st, "crossing into zone %u", e->out_zone);
	return cross_out(r, e);
}

static __u32 route_ifindex(const struct ref_state *st, bool v6,
			   const struct tp_addr *saddr,
			   const struct tp_addr *daddr);

/* Is the packet's source the node's address (tp_masq) in @zone? */
static bool src_is_node_addr(const struct ref_run *r, __u16 zone)
{
	const struct tp_masq *m = masq_entry(r->st, zone);
	const struct tp_addr *a;

	if (!m)
		return false;
	a = r->p->v6 ? &m->addr6 : &m->addr4;
	return addr_set(a) && !memcmp(a, &r->p->t.saddr, sizeof(*a));
}

/* Is the packet's source (address, port) a service @zone sees? */
static bool src_is_service(const struct ref_run *r, __u16 zone)
{
	struct tp_ct_key t;

	memset(&t, 0, sizeof(t));
	t.daddr = r->p->t.saddr;
	t.dport = r->p->t.sport;
	t.proto = r->p->t.proto;
	t.zone = zone;
	return svc_lookup(r->st, &t) != NULL;
}

/*
 * Would the routes send the replies of the packet's new flow (from @daddr,
 * its destination after translation, to its source) out of an interface
 * that is not of the packet's zone?  No route: no.
 */
static bool replies_elsewhere(const struct ref_run *r,
			      const struct tp_addr *daddr)
{
	const struct ref_pkt *p = r->p;
	__u32 ifx = route_ifindex(r->st, p->v6, daddr, &p->t.saddr);

	return ifx && tailnet_zone(r->st, ifx) != p->t.zone;
}

/*
 * A new flow from the tailnet: service and backend, then policy on the
 * translated destination (reported whatever it decides), then the
 * conntrack entries.  Denied first packets create no entry.
 *
 * Doc ambiguity: nat_addr and nat_port are defined "with TP_CT_F_DNAT"
 * only.  Without a service the model keeps the destination there (the
 * destination after translation is the original one), as the BPF does.
 */
static int from_tailnet_new(struct ref_run *r)
{
	struct ref_state *st = r->st;
	struct ref_pkt *p = r->p;
	const struct ref_backend *be;
	struct ref_service *s;
	struct tp_ct_entry e;
	struct ref_query q;
	struct ref_decision d;
	struct tp_addr addr;
	bool indexed = false;
	int ret;

	memset(&e, 0, sizeof(e));
	e.nat_addr = p->t.daddr;
	e.nat_port = p->t.dport;
	s = svc_lookup(st, &p->t);
	if (s) {
		be = backend_select(st, s, &p->t, r->now);
		if (!be) {
			explain(st, "service without backend");
			return drop_report(r, TP_DROP_NO_BACKEND);
		}
		e.flags = TP_CT_F_DNAT;
		e.svc_id = s->attrs.id;
		e.backend_id = be->id;
		e.nat_addr = be->addr;
		/* TCP/UDP: the backend port; ICMP echo keeps its id */
		if (p->t.proto == IPPROTO_TCP || p->t.proto == IPPROTO_UDP)
			e.nat_port = be->port;
		indexed = be->flags & TP_BACKEND_F_INDEXED;
	}
	/*
	 * Doc ambiguity: a flow decided allowed whose entries then clash is
	 * dropped (TP_DROP_CT_CLASH) after its decision was counted and
	 * reported as allowed; backend selection (and the affinity entry it
	 * writes) comes before the decision, so a denied flow refreshes its
	 * client's affinity too.  Both as the BPF does.
	 */
	query_ingress(r, &e.nat_addr, e.nat_port, &q);
	decide(r, &q, &d);
	event(r, &q, &d, e.svc_id, &e.nat_addr, e.nat_port);
	if (d.verdict == TP_VERDICT_DENY)
		return drop(r, d.reason);
	/*
	 * "A new flow from the tailnet leaving to a tailnet interface whose
	 * source the FIB routes out of an interface of another zone (or off
	 * the tailnet), or is the node's own address in its out zone (its
	 * tp_masq entry's), or a service frontend that zone sees:
	 * TP_DROP_REVERSE_PATH, after the decision."
	 */
	if (q.out_zone &&
	    (src_is_node_addr(r, q.out_zone) || src_is_service(r, q.out_zone) ||
	     replies_elsewhere(r, &e.nat_addr))) {
		explain(st, "replies would leave by another interface");
		return drop_report(r, TP_DROP_REVERSE_PATH);
	}
	ret = cross_masq(r, q.out_zone, &addr);
	if (ret < 0)
		return drop_report(r, -ret);
	if (ret)
		return cross_new(r, &e, &q, &d, &addr);
	/*
	 * "A new DNAT flow from the tailnet whose backend has
	 * TP_BACKEND_F_INDEXED and that is neither SNAT, masquerade nor a
	 * zone crossing gets TP_CT_F_RINDEX and no reply-key entry."
	 */
	if (indexed && (!q.out_zone || q.out_zone == p->t.zone) &&
	    be_lists(st, &p->t, &e))
		e.flags |= TP_CT_F_RINDEX;
	ret = flow_commit(r, &e, &q, &d);
	if (ret < 0)
		return drop_report(r, -ret);
	if (!(e.flags & TP_CT_F_DNAT)) {
		explain(st, "new flow, no service");
		return pass(r, TP_STAT_PASS);
	}
	explain(st, "new flow, DNAT");
	return dnat(r, &e);
}

/*
 * A packet in the original direction of live flow @e: "re-checked, then
 * accounted only while allowed, so a revoked flow ages out"; its reply
 * keys kept; translated.
 */
static int flow_orig(struct ref_run *r, struct tp_ct_entry *e)
{
	struct ref_state *st = r->st;
	struct ref_pkt *p = r->p;
	struct tp_ct_key key = p->t;

	count(st, TP_STAT_CT_HIT, p->len);
	if (!verdict_allows(recheck(r, &key, e))) {
		explain(st, "flow denied");
		return drop(r, flow_deny_reason(e, p->t.zone));
	}
	if (is_masq(e) && ct_keep_masq_key(st, &key, e, r->now) < 0) {
		/* "its entry goes, so that its next packet starts over" */
		explain(st, "masqueraded flow lost its port");
		tab_del(&st->ct, &key);
		return drop_report(r, TP_DROP_CT_CLASH);
	}
	ct_account(st, e, TP_CT_DIR_ORIG, p, r->now);
	ct_keep_reply_keys(st, &key, e, r->now);
	if (is_masq(e) && r->hook == REF_FROM_TAILNET) {
		explain(st, "flow, crossing");
		return cross_out(r, e);
	}
	if (is_masq(e)) {
		explain(st, "flow, masquerade");
		return masq_out(r, e);
	}
	if (!(e->flags & TP_CT_F_DNAT)) {
		explain(st, "flow, not translated");
		return pass(r, TP_STAT_PASS);
	}
	explain(st, "flow, DNAT");
	return dnat(r, e);
}

/*
 * A reply of live flow @e (original tuple @orig): re-checked, accounted
 * unless another hook of the node did (@account), reverse-translated when
 * it leaves to the tailnet.  "Replies of a denied flow are dropped"
 * (TP_DROP_POLICY), unaccounted.
 */
static int flow_reply(struct ref_run *r, const struct tp_ct_key *orig,
		      struct tp_ct_entry *e, bool account)
{
	struct ref_state *st = r->st;
	struct ref_pkt *p = r->p;

	if (account)
		count(st, TP_STAT_CT_HIT, p->len);
	if (!verdict_allows(recheck(r, orig, e))) {
		explain(st, "reply of a denied flow");
		return drop(r, TP_DROP_POLICY);
	}
	if (account)
		ct_account(st, e, TP_CT_DIR_REPLY, p, r->now);
	if (r->hook == REF_FROM_TAILNET && is_masq(e)) {
		explain(st, "reply, masquerade restored");
		rewrite_flow_id(p, false, &orig->saddr, orig->sport, true);
		/* "restored whole: source back to VIP:port" */
		if (e->flags & TP_CT_F_DNAT) {
			rewrite_flow_id(p, true, &orig->daddr, orig->dport,
					true);
			count(st, TP_STAT_REVNAT, p->len);
			svc_count(st, e->svc_id, p->len);
		}
		return pass(r, TP_STAT_REVMASQ);
	}
	/* "a crossing's replies ... in A ... passes them untouched" */
	if (r->hook == REF_FROM_TAILNET || !(e->flags & TP_CT_F_DNAT) ||
	    is_masq(e)) {
		explain(st, "reply, not translated");
		return pass(r, TP_STAT_PASS);
	}
	explain(st, "reply, reverse NAT");
	rewrite_flow(p, true, &orig->daddr, orig->dport);
	svc_count(st, e->svc_id, p->len);
	return pass(r, TP_STAT_REVNAT);
}

/*
 * "A flow this side started gets its replies through its zone's tailnet
 * interface; a flow from the tailnet gets them from the cluster side, or
 * from the tailnet interface of its out zone."
 */
static bool masq_moved(const struct ref_state *st, const struct ref_pkt *p,
		       const struct tp_ct_entry *e);

static bool replies_from_tailnet(const struct tp_ct_entry *e, __u16 zone)
{
	return (e->flags & TP_CT_F_EGRESS) ||
	       (e->out_zone && e->out_zone == zone);
}

static int from_tailnet_flow(struct ref_run *r)
{
	struct ref_state *st = r->st;
	struct ref_pkt *p = r->p;
	struct tp_ct_entry *e, *f;
	struct tp_ct_key orig;

	if (!frag_track(r))
		return frag_no_record(r, TP_STAT_FRAG_NO_RECORD);
	e = tab_find(&st->ct, &p->t);
	if (e && !(e->flags & TP_CT_F_REPLY_KEY) && ct_live(e, r->now)) {
		/* "... never sends from the tailnet, nor is it reopened from there" */
		if (e->flags & TP_CT_F_EGRESS) {
			explain(st, "tuple of a flow this side started");
			return drop_report(r, TP_DROP_CT_CLASH);
		}
		/* "A crossing without DNAT whose address moved starts over" */
		if (!reopens(e, p) && !masq_moved(st, p, e))
			return flow_orig(r, e);
	} else {
		/*
		 * A reply (by its reply key, or the reversed tuple an
		 * untranslated flow's) when the flow's replies come from the
		 * tailnet of this zone; any other is "the tuple of a live
		 * flow's replies, which never come from here": a clash.
		 * Nothing, an expired flow or an invalid reply key count as
		 * absent, and the packet may start a flow that replaces it.
		 */
		f = ct_reply_of(st, &p->t, e, r->now, &orig);
		if (f && is_echo_request(p)) {
			explain(st,
				"echo request with a reply's tuple (id 0):");
			return stateless(r, TP_STAT_PASS);
		}
		if (f && replies_from_tailnet(f, p->t.zone))
			return flow_reply(r, &orig, f, true);
		if (f) {
			explain(st,
				"reply tuple of a flow whose replies come from elsewhere");
			return drop_report(r, TP_DROP_CT_CLASH);
		}
		if (e)
			explain(st, "stale entry:");
	}
	if (!starts_flow(p)) {
		explain(st, "cannot start a flow:");
		return stateless(r, TP_STAT_PASS);
	}
	return from_tailnet_new(r);
}

/*
 * Is live flow @f (original tuple @orig) a masqueraded crossing from
 * @in_zone into @zone, allowed: one tp_from_tailnet translated and
 * forwarded itself?
 */
static bool masq_crossed(const struct tp_ct_entry *f,
			 const struct tp_ct_key *orig, __u16 in_zone,
			 __u16 zone)
{
	return is_masq(f) && !(f->flags & TP_CT_F_EGRESS) &&
	       orig->zone == in_zone && f->out_zone == zone &&
	       verdict_allows(f->verdict);
}

/*
 * tp_to_tailnet, a packet forwarded from a tailnet interface of zone
 * @in_zone (not a reply of a flow): it must belong to a live, allowed
 * flow of zone @in_zone whose out zone is the packet's zone; it belongs
 * to the flow whose reply tuple (in zone @in_zone) is its own reversed.
 *
 * Doc ambiguity: "(or A = B)".  The model takes it as "a packet that
 * stays in its zone needs no flow", a hairpin the zone's ingress decided;
 * with a flow that is denied it is dropped all the same, as the BPF does.
 * Such packets are neither counted as hits nor accounted to the flow.
 *
 * Known conflict (reported): the model, as the BPF, guards flow packets
 * and ICMP errors only: other protocols forwarded between zones are
 * handled as if this side sent them.
 */
static int to_tailnet_forwarded(struct ref_run *r, __u16 in_zone)
{
	struct ref_pkt *p = r->p;
	struct tp_ct_key rev, orig;
	struct tp_ct_entry *f;

	tuple_reverse(&p->t, &rev);
	rev.zone = in_zone;
	f = ct_reply(r->st, &rev, r->now, &orig);
	if (f && verdict_allows(f->verdict) &&
	    (in_zone == p->t.zone || f->out_zone == p->t.zone)) {
		explain(r->st, "forwarded from zone %u, flow's", in_zone);
		return pass(r, TP_STAT_PASS);
	}
	if (!f && in_zone == p->t.zone) {
		explain(r->st, "forwarded in zone %u, no flow", in_zone);
		return pass(r, TP_STAT_PASS);
	}
	/* "tp_to_tailnet of B passes it: its reversed tuple is the flow's reply key in B" */
	rev.zone = p->t.zone;
	f = ct_snat_flow_of(r->st, &rev, r->now, &orig);
	if (f && masq_crossed(f, &orig, in_zone, p->t.zone)) {
		explain(r->st, "crossing from zone %u, forwarded by us",
			in_zone);
		return pass(r, TP_STAT_PASS);
	}
	explain(r->st, "forwarded from zone %u, %s", in_zone,
		f ? "flow denied or of another zone" : "no flow");
	return drop_report(r, TP_DROP_ZONE);
}

static bool sn_has_inner(const struct ref_state *st, __u16 zone,
			 const struct tp_addr *a);

/*
 * Zone @zone's masquerade entry when masquerade is on there, else NULL
 * ("zone 0 is the cluster side, never masqueraded: its entry is ignored").
 */
static const struct tp_masq *masq_on(const struct ref_state *st, __u16 zone)
{
	const struct tp_masq *m = NULL;
	size_t i;

	for (i = 0; i < st->n_masq && zone; i++)
		if (st->masq[i].zone == zone)
			m = &st->masq[i].m;
	return m && (m->flags & TP_MASQ_F_ON) ? m : NULL;
}

/* Is the new egress flow this host's own, from the zone's masquerade address (on)? */
static bool masq_own(struct ref_run *r, struct tp_addr *addr)
{
	const struct ref_state *st = r->st;
	const struct ref_pkt *p = r->p;
	const struct tp_masq *m = masq_on(st, p->t.zone);
	const struct tp_addr *a;

	if (!m)
		return false;
	a = p->v6 ? &m->addr6 : &m->addr4;
	if (memcmp(a, &p->t.saddr, sizeof(*a)))
		return false;
	*addr = *a;
	return true;
}

/*
 * "A masqueraded flow whose zone's address of its family is no longer the
 * one it left with (masquerade on) starts over": masquerade off or no
 * entry keeps it.
 */
static bool masq_moved(const struct ref_state *st, const struct ref_pkt *p,
		       const struct tp_ct_entry *e)
{
	/* a crossing leaves from its out zone's address */
	const struct tp_masq *m = masq_on(
		st, e->flags & TP_CT_F_EGRESS ? p->t.zone : e->out_zone);

	/* "the lookup only makes an address change move the flow": a service's */
	if (!is_masq(e) || (e->flags & TP_CT_F_DNAT) || !m)
		return false;
	return memcmp(p->v6 ? &m->addr6 : &m->addr4, &e->nat_addr,
		      sizeof(e->nat_addr));
}

/*
 * Masquerade to the tailnet, "which flows": the zone (never 0) has it on,
 * the source is not the zone's address of its family (this host's own)
 * nor a static NAT inner address for the zone.  Returns 1 (@addr set), 0,
 * or -TP_DROP_NO_SNAT_ADDR (on, no address of the family).
 */
static int masq_want(struct ref_run *r, struct tp_addr *addr)
{
	const struct ref_state *st = r->st;
	const struct ref_pkt *p = r->p;
	const struct tp_masq *m = masq_on(st, p->t.zone);
	const struct tp_addr *a;

	if (!m)
		return 0;
	a = p->v6 ? &m->addr6 : &m->addr4;
	if (!memcmp(a, &p->t.saddr, sizeof(*a)))
		return 0;
	/* "nor an IPv6 link-local source (fe80::/10): this host's own on the link" */
	if (p->v6 && p->t.saddr.b[0] == 0xfe &&
	    (p->t.saddr.b[1] & 0xc0) == 0x80)
		return 0;
	if (sn_has_inner(st, p->t.zone, &p->t.saddr))
		return 0;
	if (!(a->w[0] | a->w[1] | a->w[2] | a->w[3])) {
		explain(r->st, "masquerade on, no address of the family");
		return -TP_DROP_NO_SNAT_ADDR;
	}
	*addr = *a;
	return 1;
}

/*
 * A new masqueraded flow's entries (@e: flags and NAT fields set, decided
 * allowed): "a flow whose tuple is a live flow's reply tuple:
 * TP_DROP_CT_CLASH"; then a port.  The model does not draw the random
 * port: it takes the one the datapath took (port_fn) and checks it: in
 * the range, its reply tuple not another live flow's.  No port: "every
 * try live" (checked whole when the range is no larger than the tries).
 * Returns 0, -TP_DROP_CT_CLASH, -TP_DROP_SNAT_EXHAUSTED or -MASQ_BAD_PORT.
 */
static int masq_commit(struct ref_run *r, struct tp_ct_entry *e,
		       const struct ref_query *q, const struct ref_decision *d)
{
	struct ref_state *st = r->st;
	struct ref_pkt *p = r->p;
	__u16 lo = st->port_min, hi = st->port_max, port, i;
	struct tp_ct_entry rk;
	struct tp_ct_key rt, orig;

	if (!lo || hi < lo) {
		lo = TP_SNAT_PORT_MIN;
		hi = TP_SNAT_PORT_MAX;
	}
	e->flags |= TP_CT_F_SNAT | TP_CT_F_MASQ;
	flow_fill(r, e, q, d);
	if (ct_reply(st, &p->t, r->now, &orig)) {
		explain(st, "masquerade: the tuple is a live flow's reply");
		return -TP_DROP_CT_CLASH;
	}
	port = st->port_fn ? ntohs(st->port_fn(st->port_ctx, &p->t)) : 0;
	if (!port) {
		/* the tries all found live flows: a range that small is checked whole */
		for (i = 0; hi - lo + 1 <= REF_SNAT_TRIES && i <= hi - lo;
		     i++) {
			e->snat_port = htons(lo + i);
			reply_tuple(st, &p->t, e, &rt);
			if (!ct_key_held(st, &rt, &p->t, false, r->now)) {
				explain(st,
					"masquerade: port %u was free, the datapath took none",
					lo + i);
				return -MASQ_BAD_PORT;
			}
		}
		explain(st, "masquerade: no free port");
		tab_del(&st->ct, &p->t);
		return -TP_DROP_SNAT_EXHAUSTED;
	}
	e->snat_port = htons(port);
	reply_tuple(st, &p->t, e, &rt);
	if (port < lo || port > hi ||
	    ct_key_held(st, &rt, &p->t, false, r->now)) {
		explain(st,
			"masquerade: the datapath took port %u, out of range or live",
			port);
		return -MASQ_BAD_PORT;
	}
	tab_del(&st->ct, &rt); /* a dead key or flow there is taken over */
	tab_put(&st->ct, &p->t, e);
	rk_fill_snat(&rk, &p->t);
	tab_put(&st->ct, &rt, &rk);
	count(st, TP_STAT_CT_NEW, p->len);
	explain(st, "new masqueraded flow, port %u", port);
	return 0;
}

/*
 * A masqueraded flow's packet in the original direction: "DNAT when a
 * service, source to address:port".  Returns 0 (@addr: the address) or
 * -TP_DROP_NO_SNAT_ADDR (a service flow whose zone has no address of
 * its family now).
 */
static int masq_translate(struct ref_run *r, const struct tp_ct_key *orig,
			  const struct tp_ct_entry *e,
			  const struct tp_addr **addr)
{
	*addr = flow_masq_addr(r->st, orig, e);
	if (!*addr)
		return -TP_DROP_NO_SNAT_ADDR;
	if (e->flags & TP_CT_F_DNAT)
		rewrite_flow(r->p, false, &e->nat_addr, e->nat_port);
	rewrite_flow_id(r->p, true, *addr, e->snat_port, true);
	return 0;
}

/* A translated packet's counters: the service's too when DNATed. */
static void masq_count(struct ref_run *r, const struct tp_ct_entry *e)
{
	if (e->flags & TP_CT_F_DNAT) {
		count(r->st, TP_STAT_DNAT, r->p->len);
		svc_count(r->st, e->svc_id, r->p->len);
	}
}

/* Leaving to the tailnet (tp_to_tailnet): "it simply passes". */
static int masq_out(struct ref_run *r, const struct tp_ct_entry *e)
{
	const struct tp_addr *addr;
	int ret = masq_translate(r, &r->p->t, e, &addr);

	if (ret < 0)
		return drop_report(r, -ret);
	masq_count(r, e);
	return pass(r, TP_STAT_MASQ);
}

/*
 * "Forwarded by the program: TTL / hop limit decremented, the FIB asked
 * from the address to the destination (its interface must still be zone
 * B's, else TP_DROP_NO_ROUTE), bpf_redirect() to it, L3 to L3."
 *
 * Doc ambiguity: a TTL that would reach 0 here.  SNAT's rule
 * (TP_DROP_TTL_EXCEEDED, after the route) is taken, as the BPF does.
 */
static int forward(struct ref_run *r, const struct tp_addr *saddr,
		   const struct tp_addr *daddr, __u16 out_zone)
{
	struct ref_pkt *p = r->p;
	uint8_t *ip = p->b + p->l3, w[2];
	struct csum_delta dt = { 0 };
	__u32 ifx = route_ifindex(r->st, p->v6, saddr, daddr);

	if (!ifx || tailnet_zone(r->st, ifx) != out_zone) {
		explain(r->st, "no route into zone %u", out_zone);
		return -TP_DROP_NO_ROUTE;
	}
	if (ip[p->v6 ? 7 : 8] <= 1)
		return -TP_DROP_TTL_EXCEEDED;
	if (p->v6) {
		ip[7]--;
		return 0;
	}
	/* TTL and protocol are one 16-bit word of the header checksum */
	memcpy(w, ip + 8, 2);
	w[0]--;
	delta_add(&dt, ip + 8, w, 2);
	memcpy(ip + 8, w, 2);
	csum_fix(ip + 10, &dt, false, NULL);
	return 0;
}

static int redirect(struct ref_run *r, __u32 stat)
{
	count(r->st, stat, r->p->len);
	explain(r->st, "redirect");
	return REF_REDIRECT;
}

/* A crossing's packet from zone A, translated and forwarded into its out zone. */
static int cross_out(struct ref_run *r, const struct tp_ct_entry *e)
{
	const struct tp_addr *addr;
	int ret = masq_translate(r, &r->p->t, e, &addr);

	if (!ret)
		ret = forward(r, addr,
			      e->flags & TP_CT_F_DNAT ? &e->nat_addr
						      : &r->p->t.daddr,
			      e->out_zone);
	if (ret < 0)
		return drop_report(r, -ret);
	masq_count(r, e);
	return redirect(r, TP_STAT_MASQ);
}

/*
 * A new masqueraded egress flow; @own: this host's own flow from the
 * zone's address, remapped because its reply tuple is taken, which
 * passes untracked when that fails ("as any clash leaving to the
 * tailnet").
 */
static int masq_new(struct ref_run *r, struct tp_ct_entry *e,
		    const struct ref_query *q, const struct ref_decision *d,
		    bool own)
{
	int ret = masq_commit(r, e, q, d);

	if (ret == -MASQ_BAD_PORT)
		return -1;
	if (ret < 0)
		return own ? pass(r, TP_STAT_PASS) : drop_report(r, -ret);
	return masq_out(r, e);
}

/*
 * "Egress service: a cluster VIP whose backend is a tailnet address ...
 * its VIP routed into the interface it leaves by (the FIB from the pod to
 * the VIP), or the packet is no egress service's."  1: @e has the
 * backend (TP_CT_F_DNAT), 0: none, -TP_DROP_NO_BACKEND.
 */
static int egress_service(struct ref_run *r, struct tp_ct_entry *e)
{
	const struct ref_pkt *p = r->p;
	struct ref_service *s = svc_lookup(r->st, &p->t);
	const struct ref_backend *be;

	if (!s ||
	    route_ifindex(r->st, p->v6, &p->t.saddr, &p->t.daddr) != r->ifindex)
		return 0;
	be = backend_select(r->st, s, &p->t, r->now);
	if (!be) {
		explain(r->st, "egress service without backend");
		return -TP_DROP_NO_BACKEND;
	}
	e->flags |= TP_CT_F_DNAT;
	e->svc_id = s->attrs.id;
	e->backend_id = be->id;
	e->nat_addr = be->addr;
	/* TCP/UDP: the backend port; ICMP echo keeps its id */
	e->nat_port = p->t.proto == IPPROTO_TCP || p->t.proto == IPPROTO_UDP
			      ? be->port
			      : p->t.dport;
	explain(r->st, "egress service %u", s->attrs.id);
	return 1;
}

/*
 * A flow this side starts toward the tailnet (TP_CT_F_EGRESS, with its
 * origin): decided, reported, tracked.  One that clashes passes untracked
 * ("leaving to the tailnet it passes untracked").
 */
static int to_tailnet_new(struct ref_run *r)
{
	__u8 origin = egress_origin(r);
	const struct ref_pkt *p = r->p;
	struct tp_ct_entry e;
	struct ref_query q;
	struct ref_decision d;
	struct tp_addr addr;
	int masq, svc;
	bool dnat;

	/*
	 * Doc ambiguity: nat_addr and nat_port of a flow this side started
	 * (not translated); the model leaves them 0, as the BPF does (a
	 * flow from the tailnet without a service keeps its destination).
	 */
	memset(&e, 0, sizeof(e));
	e.flags = TP_CT_F_EGRESS | origin;
	svc = egress_service(r, &e);
	if (svc < 0)
		return drop_report(r, -svc);
	dnat = svc > 0;
	query_egress_of(r, &p->t, origin, &q);
	query_egress_dnat(r, &e, &q);
	decide(r, &q, &d);
	event(r, &q, &d, e.svc_id, dnat ? &e.nat_addr : &p->t.daddr,
	      dnat ? e.nat_port : p->t.dport);
	if (d.verdict == TP_VERDICT_DENY)
		return drop(r, d.reason);
	masq = masq_want(r, &addr);
	/* "Only with masquerade on in that zone; off: TP_DROP_NO_SNAT_ADDR" */
	if (dnat && !masq)
		masq = masq_own(r, &addr) ? 1 : -TP_DROP_NO_SNAT_ADDR;
	if (masq < 0)
		return drop_report(r, -masq);
	if (masq && !dnat)
		e.nat_addr = addr;
	if (masq)
		return masq_new(r, &e, &q, &d, false);
	if (flow_commit(r, &e, &q, &d) == 0) {
		explain(r->st, "new egress flow");
	} else if (masq_own(r, &e.nat_addr)) {
		/* "this host's own flow whose reply tuple is taken: remapped" */
		explain(r->st, "this host's own flow clashes: remapped");
		return masq_new(r, &e, &q, &d, true);
	} else {
		explain(r->st, "untracked");
	}
	return pass(r, TP_STAT_PASS);
}

static int to_tailnet_flow(struct ref_run *r)
{
	struct ref_state *st = r->st;
	struct ref_pkt *p = r->p;
	struct tp_ct_entry *f, *e;
	struct tp_ct_key orig;
	__u16 in_zone = tailnet_zone(st, r->in_ifindex);
	bool reply;

	/* "a first fragment's record is written after the path check" */
	if (p->frag != FRAG_FIRST && !frag_track(r)) {
		if (in_zone && in_zone != p->t.zone) {
			explain(st,
				"later fragment without record from zone %u",
				in_zone);
			return drop_report(r, TP_DROP_ZONE);
		}
		return frag_no_record(r, TP_STAT_FRAG_NO_RECORD);
	}
	/*
	 * "A reply of a flow from this zone's tailnet, coming from where the
	 * flow went": its reply key in the flow's own zone, and the
	 * interface it was forwarded from in the flow's out zone (0: not
	 * forwarded from a tailnet).  One forwarded from a tailnet was
	 * accounted at that interface's ingress.
	 */
	f = is_echo_request(p) ? NULL : ct_reply(st, &p->t, r->now, &orig);
	reply = f && !(f->flags & TP_CT_F_EGRESS) && orig.zone == p->t.zone &&
		in_zone == f->out_zone;
	/* "came in through an uplink: only if its source is routed there" */
	if (reply && !in_zone && egress_origin(r) == TP_CT_F_UPLINK &&
	    route_ifindex(st, p->v6, &p->t.daddr, &p->t.saddr) !=
		    r->in_ifindex) {
		explain(st,
			"reply through uplink %u, its source is not routed there",
			r->in_ifindex);
		return drop_report(r, TP_DROP_REVERSE_PATH);
	}
	/* "recorded only when its source is routed where it came from" */
	if (p->frag == FRAG_FIRST &&
	    (reply || egress_origin(r) != TP_CT_F_UPLINK ||
	     route_ifindex(st, p->v6, &p->t.daddr, &p->t.saddr) ==
		     r->in_ifindex))
		frag_track(r);
	if (reply)
		return flow_reply(r, &orig, f, !in_zone);
	if (in_zone)
		return to_tailnet_forwarded(r, in_zone);

	e = tab_find(&st->ct, &p->t);
	if (e && !(e->flags & TP_CT_F_REPLY_KEY) && ct_live(e, r->now)) {
		if (!(e->flags & TP_CT_F_EGRESS)) {
			explain(st, "tuple of a flow from the tailnet:");
			return stateless(r, TP_STAT_PASS);
		}
		if (!reopens(e, p) && !masq_moved(st, p, e))
			return flow_orig(r, e);
	}
	if (!starts_flow(p)) {
		explain(st, "cannot start a flow:");
		return stateless(r, TP_STAT_PASS);
	}
	return to_tailnet_new(r);
}

/* The interface the kernel would forward a packet @saddr -> @daddr to, 0 if none. */
static __u32 route_ifindex(const struct ref_state *st, bool v6,
			   const struct tp_addr *saddr,
			   const struct tp_addr *daddr)
{
	if (v6 && (v6_scoped(saddr) || v6_scoped(daddr)))
		return 0;
	return ref_route_ifindex(st, v6, daddr);
}

/* The flow an ICMP error quotes, looked up in @zone (see icmp_err()). */
static struct tp_ct_entry *icmp_err_flow(struct ref_run *r, __u16 zone,
					 struct tp_ct_key *orig,
					 bool *quote_is_reply)
{
	struct tp_ct_entry *e;
	struct tp_ct_key rev;

	tuple_reverse(&r->p->q, &rev);
	rev.zone = zone;
	e = tab_find(&r->st->ct, &rev);
	if (e && !(e->flags & TP_CT_F_REPLY_KEY) && ct_live(e, r->now)) {
		*quote_is_reply = true;
		*orig = rev;
		return e;
	}
	*quote_is_reply = false;
	return ct_reply_of(r->st, &rev, e, r->now, orig);
}

/*
 * "Where the flow of an ICMP error is looked up: coming in, this zone;
 * going out and forwarded from a tailnet interface, the zone it came in
 * through; going out from this host or the cluster side, this zone, and
 * for an error this host made, the zone the quoted packet was on its way
 * to."
 */
static struct tp_ct_entry *icmp_err_find(struct ref_run *r, __u16 in_zone,
					 struct tp_ct_key *orig,
					 bool *quote_is_reply)
{
	const struct ref_pkt *p = r->p;
	struct tp_ct_entry *e;
	__u16 zone;

	if (r->hook == REF_TO_TAILNET && in_zone) {
		e = icmp_err_flow(r, in_zone, orig, quote_is_reply);
		if (e || in_zone == p->t.zone)
			return e;
		/*
		 * "tp_to_tailnet of A finds the flow in A (the quote is its
		 * own original tuple)": an error restored at B's ingress.
		 */
		e = icmp_err_flow(r, p->t.zone, orig, quote_is_reply);
		return e && is_masq(e) ? e : NULL;
	}
	e = icmp_err_flow(r, p->t.zone, orig, quote_is_reply);
	if (e || r->hook == REF_FROM_TAILNET || r->in_ifindex)
		return e;
	zone = ref_out_zone(r->st, p->v6, &p->q.saddr, &p->q.daddr);
	if (!zone || zone == p->t.zone)
		return NULL;
	return icmp_err_flow(r, zone, orig, quote_is_reply);
}

/*
 * "An ICMP error is about flow F only when it goes to the endpoint that
 * sent the quoted packet, the quoted packet passed this interface the
 * other way, and it comes from the quoted packet's path": coming in,
 * from the quoted packet's destination, or "a router with its
 * destination's identity" this zone's interface routes to; going out,
 * made by this host, or forwarded from where the quoted packet went
 * (the tailnet zone it left to, or the interface the FIB sends its
 * destination to).
 */
static bool icmp_err_valid(struct ref_run *r, __u16 in_zone,
			   const struct tp_ct_key *orig,
			   const struct tp_ct_entry *e, bool quote_is_reply)
{
	const struct ref_pkt *p = r->p;
	bool egress = e->flags & TP_CT_F_EGRESS;
	__u16 zone = p->t.zone;

	if (memcmp(&p->t.daddr, &p->q.saddr, sizeof(p->q.saddr)))
		return false;
	if (r->hook == REF_TO_TAILNET) {
		if (quote_is_reply) {
			if (egress ? orig->zone != zone
				   : !e->out_zone || e->out_zone != zone)
				return false;
		} else if (egress || orig->zone != zone) {
			return false;
		}
		if (!r->in_ifindex)
			return true;
		if (quote_is_reply && egress && !in_zone)
			return route_ifindex(r->st, p->v6, &p->q.saddr,
					     &p->q.daddr) == r->in_ifindex;
		if (!quote_is_reply && !e->out_zone && !in_zone)
			return route_ifindex(r->st, p->v6, &p->q.saddr,
					     &p->q.daddr) == r->in_ifindex;
		return in_zone == (quote_is_reply ? (egress ? 0 : orig->zone)
						  : e->out_zone);
	}
	if (quote_is_reply ? egress
			   : (!egress && !(e->out_zone && e->out_zone == zone)))
		return false;
	if (!memcmp(&p->t.saddr, &p->q.daddr, sizeof(p->q.daddr)))
		return true;
	if (identity(r->st, zone, &p->t.saddr, TP_ID_TAILNET) !=
	    identity(r->st, zone, &p->q.daddr, TP_ID_TAILNET))
		return false;
	return zone &&
	       ref_out_zone(r->st, p->v6, &p->t.daddr, &p->t.saddr) == zone;
}

/*
 * An ICMP error about masqueraded flow @e (original tuple @orig), allowed.
 * From the tailnet about a masqueraded packet: "the quote's source and the
 * outer destination become the pod's (the client's), a service's quoted
 * destination the VIP:port and the outer source the VIP when the backend
 * sent it".  Leaving to the tailnet about a reply: the quote's
 * destination becomes address:port and the outer source the address,
 * "whoever sent it"; an egress service's quote "backend -> address:port".
 * From a crossing's client about a reply: as the latter, then forwarded
 * as the flow's packets are, "the outer destination the backend when it
 * was the VIP".  Anything else passes untranslated.
 *
 * Doc ambiguity: an error leaving to the tailnet about a reply of a
 * crossing (this host's, or one forwarded within the client's zone): the
 * documents name none.  The model gives it the quote's destination and
 * outer source of the flow's address, and leaves a service's quoted
 * source (the VIP) alone, as the BPF does.
 */
static int icmp_err_masq(struct ref_run *r, const struct tp_ct_key *orig,
			 const struct tp_ct_entry *e, bool quote_is_reply)
{
	struct ref_pkt *p = r->p;
	bool dnat = e->flags & TP_CT_F_DNAT, egress = e->flags & TP_CT_F_EGRESS;
	const struct tp_addr *addr = flow_masq_addr(r->st, orig, e);
	struct tp_addr daddr = p->t.daddr;
	int ret;

	if (r->hook == REF_FROM_TAILNET && !quote_is_reply) {
		explain(r->st, "ICMP error, quote back to the pod or client");
		rewrite_icmp_error(p, true, &orig->saddr, orig->sport);
		if (dnat)
			rewrite_icmp_error(p, false, &orig->daddr, orig->dport);
		return pass(r, TP_STAT_ICMP_ERR_NAT);
	}
	if (r->hook == REF_TO_TAILNET && !quote_is_reply)
		return pass(r, TP_STAT_PASS);
	if (r->hook == REF_FROM_TAILNET && egress)
		return pass(r, TP_STAT_PASS);
	if (!addr) {
		if (r->hook == REF_FROM_TAILNET)
			return drop_report(r, TP_DROP_NO_SNAT_ADDR);
		return pass(r, TP_STAT_PASS);
	}
	explain(r->st,
		"ICMP error, quote and source to the masquerade address");
	if (dnat && (egress || r->hook == REF_FROM_TAILNET)) {
		if (!memcmp(&p->t.daddr, &p->q.saddr, sizeof(daddr)))
			daddr = e->nat_addr;
		rewrite_icmp_error(p, true, &e->nat_addr, e->nat_port);
	}
	rewrite_icmp_error_to(p, false, addr, e->snat_port, true);
	if (r->hook == REF_TO_TAILNET)
		return pass(r, TP_STAT_ICMP_ERR_NAT);
	ret = forward(r, addr, &daddr, e->out_zone);
	if (ret < 0)
		return drop_report(r, -ret);
	return redirect(r, TP_STAT_ICMP_ERR_NAT);
}

/*
 * ICMP errors touch no conntrack state but a re-check.  Errors about a
 * known flow that pass icmp_err_valid() are related traffic and pass when
 * the flow is allowed: translated (TP_STAT_ICMP_ERR_NAT) when they are
 * about a translated packet going the way this program translates, else
 * TP_STAT_PASS.  Others: going out and forwarded from another tailnet
 * zone, dropped (TP_DROP_ZONE); forwarded within this zone, passed
 * (decided at its ingress); else decided like any packet of no flow.
 *
 * Doc ambiguity: no TP_STAT_CT_HIT for errors ("packets of a known flow"
 * are the flow's own); an error about a denied flow is dropped with
 * TP_DROP_POLICY; an error about no flow counts TP_STAT_OTHER_PROTO when
 * allowed (like an error whose quote does not qualify).
 */
static int icmp_err(struct ref_run *r)
{
	struct ref_state *st = r->st;
	struct ref_pkt *p = r->p;
	__u16 in_zone =
		r->hook == REF_TO_TAILNET ? tailnet_zone(st, r->in_ifindex) : 0;
	struct tp_ct_entry *e;
	struct tp_ct_key orig;
	bool quote_is_reply;

	e = icmp_err_find(r, in_zone, &orig, &quote_is_reply);
	if (!e || !icmp_err_valid(r, in_zone, &orig, e, quote_is_reply)) {
		/* "forwarded to B ..., and passed there by the flow's reply key in its quote" */
		if (in_zone && in_zone != p->t.zone &&
		    (e = ct_snat_flow_of(st, &p->q, r->now, &orig)) &&
		    masq_crossed(e, &orig, in_zone, p->t.zone)) {
			explain(st,
				"ICMP error of a crossing, forwarded by us");
			return pass(r, TP_STAT_PASS);
		}
		if (in_zone && in_zone != p->t.zone) {
			explain(st, "ICMP error forwarded from zone %u",
				in_zone);
			return drop_report(r, TP_DROP_ZONE);
		}
		if (in_zone) {
			explain(st, "ICMP error forwarded in its zone");
			return pass(r, TP_STAT_OTHER_PROTO);
		}
		explain(st, e ? "ICMP error not from the flow's path:"
			      : "ICMP error, no flow:");
		return stateless(r, TP_STAT_OTHER_PROTO);
	}
	if (!verdict_allows(recheck(r, &orig, e))) {
		explain(st, "ICMP error about a denied flow");
		return drop(r, TP_DROP_POLICY);
	}
	if (is_masq(e))
		return icmp_err_masq(r, &orig, e, quote_is_reply);
	if (!(e->flags & TP_CT_F_DNAT)) {
		explain(st, "ICMP error, flow not translated");
		return pass(r, TP_STAT_PASS);
	}
	if (r->hook == REF_FROM_TAILNET && quote_is_reply) {
		explain(st, "ICMP error, quote to backend");
		rewrite_icmp_error(p, true, &e->nat_addr, e->nat_port);
		return pass(r, TP_STAT_ICMP_ERR_NAT);
	}
	if (r->hook == REF_TO_TAILNET && !quote_is_reply) {
		explain(st, "ICMP error, quote to VIP");
		rewrite_icmp_error(p, false, &orig.daddr, orig.dport);
		return pass(r, TP_STAT_ICMP_ERR_NAT);
	}
	explain(st, "ICMP error about an untranslated packet");
	return pass(r, TP_STAT_PASS);
}

/* ICMPv6 neighbour discovery and MLD: types 130-137 and 143. */
static bool v6_control(const struct ref_pkt *p)
{
	return p->v6 && p->t.proto == IPPROTO_ICMPV6 &&
	       ((p->icmp_type >= 130 && p->icmp_type <= 137) ||
		p->icmp_type == 143);
}

/*
 * Everything else IP: other protocols, ICMP types we do not track, ICMP
 * errors that are fragments or whose quote does not qualify.  (Later
 * fragments of any protocol take the flow path, for their record.)
 */
static int other(struct ref_run *r)
{
	if (v6_control(r->p)) {
		explain(r->st, "ND/MLD");
		return pass(r, TP_STAT_OTHER_PROTO);
	}
	/* "forwarded from another tailnet interface: decided at its ingress" */
	if (r->hook == REF_TO_TAILNET && tailnet_zone(r->st, r->in_ifindex)) {
		explain(r->st, "other protocol, forwarded from a tailnet");
		return pass(r, TP_STAT_OTHER_PROTO);
	}
	explain(r->st, "other protocol:");
	return stateless(r, TP_STAT_OTHER_PROTO);
}

/**
 * ref_process() - run one packet through the model.
 * @st:         the model.
 * @hook:       REF_FROM_TAILNET or REF_TO_TAILNET.
 * @ifindex:    skb->ifindex (selects L3 or Ethernet and the zone).
 * @in_ifindex: skb->ingress_ifindex (0: sent by this host).
 * @in:         the packet: from the IP header on L3 interfaces, from the
 *              Ethernet header otherwise; skb->len is @len.
 * @len:        its length.
 * @out:        the packet as the datapath must leave it (@len bytes).
 * @out_len:    its length.
 * @now:        the datapath's clock (tp_clock_ns).
 *
 * Return: REF_PASS or REF_DROP (TC_ACT_OK, TC_ACT_SHOT).
 */
/* ---- static 1:1 NAT -------------------------------------------------------- */

/**
 * ref_static_nat_add() - a static 1:1 NAT entry (checked by the caller).
 * @st:      the model.
 * @zone:    its zone, 0 for all.
 * @tailnet: the tailnet address.
 * @inner:   the inner address.
 *
 * Return: 0 or -ENOSPC.
 */
/**
 * ref_masq_set() - masquerade toward @zone (tp_masq), and the SNAT range.
 * @st:       the model.
 * @zone:     the zone.
 * @m:        its entry (NULL: none).
 * @port_min: tp_config's snat_port_min.
 * @port_max: tp_config's snat_port_max.
 * @fn:       asked for the port the datapath took for a new masqueraded
 *            flow (the datapath draws it at random), 0 for none.
 * @ctx:      @fn's.
 *
 * Return: 0 or -ENOSPC.
 */
int ref_masq_set(struct ref_state *st, __u16 zone, const struct tp_masq *m,
		 __u16 port_min, __u16 port_max, ref_port_fn fn, void *ctx)
{
	size_t i;

	st->port_min = port_min;
	st->port_max = port_max;
	st->port_fn = fn;
	st->port_ctx = ctx;
	for (i = 0; i < st->n_masq && st->masq[i].zone != zone; i++)
		;
	if (!m) {
		if (i < st->n_masq)
			st->masq[i] = st->masq[--st->n_masq];
		return 0;
	}
	if (i == st->n_masq) {
		if (st->n_masq == REF_MAX_MASQ)
			return -ENOSPC;
		st->n_masq++;
	}
	st->masq[i].zone = zone;
	st->masq[i].m = *m;
	return 0;
}

int ref_static_nat_add(struct ref_state *st, __u16 zone,
		       const struct tp_addr *tailnet,
		       const struct tp_addr *inner)
{
	if (st->n_sn >= REF_MAX_STATIC_NAT)
		return -ENOSPC;
	st->sn[st->n_sn].zone = zone;
	st->sn[st->n_sn].tailnet = *tailnet;
	st->sn[st->n_sn].inner = *inner;
	st->n_sn++;
	return 0;
}

static bool sn_family_ok(const struct tp_addr *a, bool v6)
{
	bool v4 = !a->w[0] && !a->w[1] && a->w[2] == htonl(0xffff);

	return v4 != v6;
}

/* The inner address of tailnet address @a coming in on @zone: its zone's entry, else zone 0's. */
static const struct tp_addr *sn_inner(const struct ref_state *st, __u16 zone,
				      const struct tp_addr *a, bool v6)
{
	const struct tp_addr *found = NULL;
	size_t i;

	for (i = 0; i < st->n_sn; i++) {
		if (memcmp(&st->sn[i].tailnet, a, sizeof(*a)))
			continue;
		if (st->sn[i].zone == zone)
			return sn_family_ok(&st->sn[i].inner, v6)
				       ? &st->sn[i].inner
				       : NULL;
		if (!st->sn[i].zone)
			found = &st->sn[i].inner;
	}
	return found && sn_family_ok(found, v6) ? found : NULL;
}

static bool sn_is_tailnet(const struct ref_state *st, __u16 zone,
			  const struct tp_addr *a)
{
	size_t i;

	for (i = 0; i < st->n_sn; i++)
		if (!memcmp(&st->sn[i].tailnet, a, sizeof(*a)) &&
		    (st->sn[i].zone == zone || !st->sn[i].zone))
			return true;
	return false;
}

/* The tailnet address of inner address @a leaving to @zone. */
static const struct tp_addr *sn_tailnet(const struct ref_state *st, __u16 zone,
					const struct tp_addr *a, bool v6)
{
	size_t i;

	for (i = 0; i < st->n_sn; i++)
		if (!memcmp(&st->sn[i].inner, a, sizeof(*a)))
			return (!st->sn[i].zone || st->sn[i].zone == zone) &&
					       sn_family_ok(&st->sn[i].tailnet,
							    v6)
				       ? &st->sn[i].tailnet
				       : NULL;
	return NULL;
}

/* Has inner address @a a static entry that holds for @zone (whatever its family)? */
static bool sn_has_inner(const struct ref_state *st, __u16 zone,
			 const struct tp_addr *a)
{
	size_t i;

	for (i = 0; i < st->n_sn; i++)
		if (!memcmp(&st->sn[i].inner, a, sizeof(*a)) &&
		    (!st->sn[i].zone || st->sn[i].zone == zone))
			return true;
	return false;
}

/*
 * From the tailnet, before every stage (docs/datapath.md, Static 1:1
 * NAT): a forged source is dropped, an error about the pod's packet and a
 * packet to a tailnet address are made inner.  Returns 0 or -reason.
 */
static int static_in(struct ref_state *st, struct ref_pkt *p, int kind)
{
	const struct tp_addr *in;

	if (sn_is_tailnet(st, p->t.zone, &p->t.saddr))
		return -TP_DROP_STATIC_SPOOF;
	if (kind == P_ICMP_ERR &&
	    (in = sn_inner(st, p->t.zone, &p->q.saddr, p->v6))) {
		rewrite_icmp_error(p, true, in, p->q.sport);
		if (!memcmp(&p->t.daddr, &p->q.saddr, sizeof(*in)))
			p->t.daddr = *in;
		p->q.saddr = *in;
		count(st, TP_STAT_STATIC_NAT_IN, p->len);
		return 0;
	}
	in = sn_inner(st, p->t.zone, &p->t.daddr, p->v6);
	if (!in)
		return 0;
	rewrite_flow(p, false, in, p->t.dport);
	p->t.daddr = *in;
	count(st, TP_STAT_STATIC_NAT_IN, p->len);
	return 0;
}

/*
 * To the tailnet, after a pass: the packet as the stages left it, parsed
 * again; an error about a packet to the pod and a packet from the pod get
 * the pod's tailnet address.
 */
static void static_out(struct ref_state *st, __u32 ifindex, uint8_t *b,
		       size_t len)
{
	struct ref_pkt q;
	const struct tp_addr *tn;
	int kind;

	if (!st->n_sn)
		return;
	memset(&q, 0, sizeof(q));
	q.b = b;
	q.len = len;
	kind = parse(st, ifindex, &q);
	if (kind != P_FLOW && kind != P_ICMP_ERR && kind != P_OTHER)
		return;
	if (kind == P_ICMP_ERR &&
	    (tn = sn_tailnet(st, q.t.zone, &q.q.daddr, q.v6))) {
		rewrite_icmp_error(&q, false, tn, q.q.dport);
		count(st, TP_STAT_STATIC_NAT_OUT, len);
		return;
	}
	tn = sn_tailnet(st, q.t.zone, &q.t.saddr, q.v6);
	if (!tn)
		return;
	rewrite_flow(&q, true, tn, q.t.sport);
	count(st, TP_STAT_STATIC_NAT_OUT, len);
}

static int process_kind(struct ref_run *r, int ret)
{
	struct ref_state *st = r->st;

	switch (ret) {
	case P_NOT_IP:
		/* "a VLAN's tag still in the frame ... TP_DROP_VLAN" */
		if (r->p->len >= ETH_HLEN && (rd16(r->p->b + 12) == 0x8100 ||
					      rd16(r->p->b + 12) == 0x88a8)) {
			explain(st, "a VLAN's tag in the frame");
			return drop(r, TP_DROP_VLAN);
		}
		explain(st, "not IP");
		return pass(r, TP_STAT_NOT_IP);
	case P_OTHER:
		return other(r);
	case P_ICMP_ERR:
		return icmp_err(r);
	}
	st->last_valid = true;
	if (r->hook == REF_FROM_TAILNET)
		ret = from_tailnet_flow(r);
	else
		ret = to_tailnet_flow(r);
	st->last = r->p->t;
	return ret;
}

int ref_process(struct ref_state *st, int hook, __u32 ifindex, __u32 in_ifindex,
		const uint8_t *in, size_t len, uint8_t *out, size_t *out_len,
		__u64 now)
{
	struct ref_pkt p;
	struct ref_run r = { .st = st,
			     .p = &p,
			     .hook = hook,
			     .ifindex = ifindex,
			     .in_ifindex = in_ifindex,
			     .now = now };
	int ret, verdict;

	memcpy(out, in, len);
	*out_len = len;
	memset(&p, 0, sizeof(p));
	st->last_valid = false;
	p.b = out;
	p.len = len;
	snprintf(st->why, sizeof(st->why), "%s:",
		 hook == REF_FROM_TAILNET ? "from_tailnet" : "to_tailnet");
	count(st,
	      hook == REF_FROM_TAILNET ? TP_STAT_RX_TAILNET
				       : TP_STAT_TX_TAILNET,
	      len);
	ret = parse(st, ifindex, &p);
	if (ret < 0)
		return drop_report(&r, -ret);
	if (hook == REF_FROM_TAILNET && ret != P_NOT_IP) {
		verdict = static_in(st, &p, ret);
		if (verdict < 0)
			return drop_report(&r, -verdict);
	}
	verdict = process_kind(&r, ret);
	if (hook == REF_TO_TAILNET && verdict == REF_PASS && ret != P_NOT_IP)
		static_out(st, ifindex, out, len);
	return verdict;
}

/**
 * ref_last_tuple() - the tuple of the last packet, if it was a flow packet.
 * @st: the model.
 * @k:  filled with the tuple (a later fragment's with its record's ports).
 *
 * Return: true when the last packet was a TCP, UDP or ICMP echo packet
 * (or a later fragment of one) that got past parsing.
 */
bool ref_last_tuple(const struct ref_state *st, struct tp_ct_key *k)
{
	if (st->last_valid)
		*k = st->last;
	return st->last_valid;
}

/**
 * ref_explain() - what the model did with the last packet, in words.
 * @st: the model.
 */
const char *ref_explain(const struct ref_state *st)
{
	return st->why;
}

/* ---- looking at the state ------------------------------------------------------ */

/**
 * ref_ct_lookup() - a conntrack entry of the model, expired ones included.
 * @st: the model.
 * @k:  its key.
 *
 * Return: the entry or NULL.
 */
const struct tp_ct_entry *ref_ct_lookup(const struct ref_state *st,
					const struct tp_ct_key *k)
{
	return tab_find(&st->ct, k);
}

/** ref_ct_count() - conntrack entries in the model (flow and reply keys). */
size_t ref_ct_count(const struct ref_state *st)
{
	return st->ct.count;
}

/**
 * ref_ct_foreach() - call @fn for every conntrack entry.
 * @st:  the model.
 * @fn:  callback; a non-zero return stops the walk and is returned.
 * @ctx: passed to @fn.
 *
 * Return: 0 or @fn's non-zero return.
 */
int ref_ct_foreach(const struct ref_state *st, ref_ct_fn fn, void *ctx)
{
	const struct ref_node *n;
	size_t i;
	int ret;

	for (i = 0; i <= st->ct.mask; i++) {
		for (n = st->ct.bucket[i]; n; n = n->next) {
			ret = fn((const struct tp_ct_key *)n->kv,
				 (const struct tp_ct_entry *)(n->kv +
							      st->ct.ksz),
				 ctx);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/** ref_affinity_lookup() - the model's affinity entry for @k, or NULL. */
const struct tp_affinity *ref_affinity_lookup(const struct ref_state *st,
					      const struct tp_affinity_key *k)
{
	return tab_find(&st->affinity, k);
}

/** ref_affinity_count() - affinity entries in the model. */
size_t ref_affinity_count(const struct ref_state *st)
{
	return st->affinity.count;
}

/** ref_frag_lookup() - the model's fragment record for @k, or NULL. */
const struct tp_frag *ref_frag_lookup(const struct ref_state *st,
				      const struct tp_frag_key *k)
{
	return tab_find(&st->frags, k);
}

/** ref_frags_clear() - forget every fragment record (the test empties tp_frags). */
void ref_frags_clear(struct ref_state *st)
{
	size_t nb = st->frags.mask + 1;

	tab_fini(&st->frags);
	if (tab_init(&st->frags, sizeof(struct tp_frag_key),
		     sizeof(struct tp_frag), nb))
		abort();
}

/** ref_ct_clear() - forget every conntrack entry (the test empties tp_ct). */
void ref_ct_clear(struct ref_state *st)
{
	size_t nb = st->ct.mask + 1;

	tab_fini(&st->ct);
	if (tab_init(&st->ct, sizeof(struct tp_ct_key),
		     sizeof(struct tp_ct_entry), nb))
		abort();
}

/** ref_be_frontends_lookup() - the model's tp_be_frontends entry of @k, or NULL. */
const struct tp_be_frontends *
ref_be_frontends_lookup(const struct ref_state *st, const struct tp_be_key *k)
{
	return tab_find(&st->befe, k);
}

/**
 * ref_be_frontends_del() - an operator deletes tp_be_frontends[@k] by
 * hand: the backends keep their flag ("the datapath believes the index,
 * not the flag").
 */
void ref_be_frontends_del(struct ref_state *st, const struct tp_be_key *k)
{
	tab_del(&st->befe, k);
}

/** ref_be_frontends_count() - backend tuples in the model's tp_be_frontends. */
size_t ref_be_frontends_count(const struct ref_state *st)
{
	return st->befe.count;
}

/** ref_frag_count() - fragment records in the model. */
size_t ref_frag_count(const struct ref_state *st)
{
	return st->frags.count;
}

/**
 * ref_stat() - a counter of the model.
 * @st:      the model.
 * @id:      enum tp_stat_id (or TP_STAT_DROP(reason)).
 * @packets: its packets.
 * @bytes:   its bytes.
 */
void ref_stat(const struct ref_state *st, __u32 id, __u64 *packets,
	      __u64 *bytes)
{
	*packets = id < TP_STAT_MAX ? st->stats[id].packets : 0;
	*bytes = id < TP_STAT_MAX ? st->stats[id].bytes : 0;
}

/** ref_rule_stat() - tp_rule_stats[@rule_id] of the model. */
void ref_rule_stat(const struct ref_state *st, __u32 rule_id, __u64 *packets,
		   __u64 *bytes)
{
	*packets = rule_id < TP_MAX_RULES ? st->rule_stats[rule_id].packets : 0;
	*bytes = rule_id < TP_MAX_RULES ? st->rule_stats[rule_id].bytes : 0;
}

/** ref_svc_stat() - tp_svc_stats[@svc_id] of the model. */
void ref_svc_stat(const struct ref_state *st, __u32 svc_id, __u64 *packets,
		  __u64 *bytes)
{
	*packets = svc_id < TP_MAX_SERVICES ? st->svc_stats[svc_id].packets : 0;
	*bytes = svc_id < TP_MAX_SERVICES ? st->svc_stats[svc_id].bytes : 0;
}

/** ref_events_pending() - events on the model's ring, not yet taken. */
size_t ref_events_pending(const struct ref_state *st)
{
	return st->n_events;
}

/**
 * ref_events_take() - take the events off the model's ring, oldest first,
 * as a reader that empties the ring does.
 * @st:  the model.
 * @out: where to copy them (or NULL).
 * @max: room in @out; events past it are dropped from the ring all the
 *       same.
 *
 * Return: the number of events the ring held.
 */
size_t ref_events_take(struct ref_state *st, struct tp_event *out, size_t max)
{
	size_t n = st->n_events;

	if (out)
		memcpy(out, st->events, (n < max ? n : max) * sizeof(*out));
	st->n_events = 0;
	return n;
}
