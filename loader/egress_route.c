// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Routes for egress services (egress_route.h).
 *
 * A sync reads the services from the maps themselves (so tpctl's count as
 * much as the configuration's or Kubernetes'), asks the kernel where each
 * backend goes (RTM_GETROUTE: the decision a packet from this host would
 * get, policy rules included, which is where Tailscale keeps its peers'
 * routes), and wants VIP/32 (or /128) dev IFACE in the main table for
 * every VIP whose backends all leave by one tailnet interface of
 * tp_ifaces.  It then makes the main table's routes of protocol
 * TPD_RTPROT_TAILPLANE match: added, moved in place (NLM_F_REPLACE, no
 * moment without a route) or removed.  A route of another protocol for a
 * VIP is the operator's: left alone, and none of ours is added beside it.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h> /* before the linux/ headers: glibc's if.h wins */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "array.h"
#include "config.h"
#include "egress_route.h"
#include "links.h"
#include "log.h"

enum tpd_egress_note_kind {
	TPD_EG_NOTE_SPLIT = 1, /* backends leave by more than one interface */
	TPD_EG_NOTE_LOOKUP,    /* a backend's route could not be asked */
	TPD_EG_NOTE_OPERATOR,  /* the operator routes the VIP */
	TPD_EG_NOTE_ADD,       /* our route could not be added or moved */
	TPD_EG_NOTE_DEL,       /* our route could not be removed */
};

/* ---- notes: a lasting condition is logged once ------------------------------- */

static int tpd_eg_note_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tpd_egress_note));
}

/*
 * Note @kind about @vip for this sync.  Return: whether the last sync did
 * not say the same (the caller logs it then).
 */
static bool tpd_eg_note(struct tpd_egress_routes *st, int kind,
			const struct tp_addr *vip, int ifindex, int err)
{
	struct tpd_egress_note n;

	memset(&n, 0, sizeof(n));
	n.vip = *vip;
	n.kind = kind;
	n.ifindex = ifindex;
	n.err = err;
	if (!tp_array_grow((void **)&st->fresh, &st->fresh_room,
			   st->n_fresh + 1, sizeof(n), 16))
		st->fresh[st->n_fresh++] = n;
	return !st->n_notes ||
	       !bsearch(&n, st->notes, st->n_notes, sizeof(n), tpd_eg_note_cmp);
}

/* This sync's notes become the ones the next sync compares with. */
static void tpd_eg_notes_done(struct tpd_egress_routes *st)
{
	struct tpd_egress_note *old = st->notes;
	size_t room = st->notes_room;

	if (st->n_fresh)
		qsort(st->fresh, st->n_fresh, sizeof(*st->fresh),
		      tpd_eg_note_cmp);
	st->notes = st->fresh;
	st->n_notes = st->n_fresh;
	st->notes_room = st->fresh_room;
	st->fresh = old;
	st->fresh_room = room;
	st->n_fresh = 0;
}

/* ---- names for the log --------------------------------------------------------- */

static const char *tpd_eg_ifname(int ifindex, char *buf, size_t len)
{
	char name[IF_NAMESIZE];

	if (ifindex <= 0)
		snprintf(buf, len, "none");
	else if (if_indextoname((unsigned int)ifindex, name))
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "ifindex %d", ifindex);
	return buf;
}

#define TPD_EG_IFNAME(ifindex) tpd_eg_ifname(ifindex, (char[32]){ 0 }, 32)
#define TPD_EG_ADDR(a)	       tp_addr_format(a, (char[64]){ 0 }, 64)

/* ---- rtnetlink --------------------------------------------------------------- */

/* The family of @a and its bytes as rtnetlink takes them. */
static int tpd_eg_family(const struct tp_addr *a, const void **bytes,
			 size_t *len, unsigned char *plen)
{
	if (tp_addr_is_v4(a)) {
		*bytes = &a->w[3];
		*len = 4;
		*plen = 32;
		return AF_INET;
	}
	*bytes = a->b;
	*len = 16;
	*plen = 128;
	return AF_INET6;
}

static int tpd_rt_attr(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(attr, RTA_MAX) > 0)
		tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

/**
 * struct tpd_eg_route - a route of the main table, as a dump gave it.
 * @vip:   its destination, a host prefix (/32, /128).
 * @oif:   its interface; 0 for one with several next hops.
 * @proto: its rtm_protocol.
 */
struct tpd_eg_route {
	struct tp_addr vip;
	int oif;
	__u8 proto;
};

/**
 * struct tpd_eg_dump - host routes of the main table, from RTM_GETROUTE
 * dumps.
 * @v:    the routes.
 * @n:    their number.
 * @cap:  room in @v.
 * @err:  -ENOMEM when one could not be stored.
 */
struct tpd_eg_dump {
	struct tpd_eg_route *v;
	size_t n;
	size_t cap;
	int err;
};

/* The destination of host route @nlh in @a; false for any other route. */
static bool tpd_eg_host_route(const struct nlmsghdr *nlh,
			      const struct nlattr **tb, struct tp_addr *a)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	__u32 table = rtm->rtm_table;

	if (tb[RTA_TABLE] &&
	    mnl_attr_validate(tb[RTA_TABLE], MNL_TYPE_U32) >= 0)
		table = mnl_attr_get_u32(tb[RTA_TABLE]);
	if (table != RT_TABLE_MAIN || rtm->rtm_type != RTN_UNICAST ||
	    !tb[RTA_DST])
		return false;
	if (rtm->rtm_family == AF_INET && rtm->rtm_dst_len == 32 &&
	    mnl_attr_get_payload_len(tb[RTA_DST]) == 4) {
		tp_addr_from_v4(
			a, *(const __be32 *)mnl_attr_get_payload(tb[RTA_DST]));
		return true;
	}
	if (rtm->rtm_family == AF_INET6 && rtm->rtm_dst_len == 128 &&
	    mnl_attr_get_payload_len(tb[RTA_DST]) == 16) {
		memcpy(a->b, mnl_attr_get_payload(tb[RTA_DST]), 16);
		return true;
	}
	return false;
}

static int tpd_eg_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[RTA_MAX + 1] = {};
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct tpd_eg_dump *d = data;
	struct tpd_eg_route r;

	if (nlh->nlmsg_type != RTM_NEWROUTE ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*rtm), tpd_rt_attr, tb);
	memset(&r, 0, sizeof(r));
	if (!tpd_eg_host_route(nlh, tb, &r.vip))
		return MNL_CB_OK;
	r.proto = rtm->rtm_protocol;
	if (tb[RTA_OIF] && mnl_attr_validate(tb[RTA_OIF], MNL_TYPE_U32) >= 0)
		r.oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	if (tp_array_grow((void **)&d->v, &d->cap, d->n + 1, sizeof(r), 64)) {
		d->err = -ENOMEM;
		return MNL_CB_ERROR;
	}
	d->v[d->n++] = r;
	return MNL_CB_OK;
}

/*
 * Every route of both families, each message to @cb with @data: one
 * dump a family (the table is chosen in @cb), taken again when a change
 * interrupted it, after *@n and *@cb_err, @cb's count and error, are
 * zeroed.  Return: 0 or -errno (@cb's first).
 */
static int tpd_eg_dump_all(struct mnl_socket *nl, mnl_cb_t cb, void *data,
			   size_t *n, int *cb_err)
{
	static const unsigned char families[] = { AF_INET, AF_INET6 };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	int err = 0, tries = 0;
	size_t i;

	do {
		*n = 0;
		*cb_err = 0;
		for (i = 0, err = 0; i < sizeof(families) && !err; i++) {
			nlh = tpd_rtnl_request(buf, sizeof(buf), RTM_GETROUTE,
					       NLM_F_DUMP);
			rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
			rtm->rtm_family = families[i];
			err = tpd_rtnl_query_on(nl, nlh, cb, data);
			err = *cb_err ?: err;
		}
	} while (err == -EINTR && ++tries < 3);
	return err;
}

/* The main table's host routes of both families into @d (emptied first). */
static int tpd_eg_dump_routes(struct mnl_socket *nl, struct tpd_eg_dump *d)
{
	return tpd_eg_dump_all(nl, tpd_eg_dump_cb, d, &d->n, &d->err);
}

/*
 * Which backends to ask about.  A backend that no route of any table
 * into a tailnet interface covers cannot be routed into one, whatever
 * the rules say: it is not asked (a cluster's pods, most backends, cost
 * no question then).  Routes whose next hops a dump does not name by
 * interface (multipath, nexthop objects) count as into a tailnet.
 */

/**
 * struct tpd_eg_pfx - a prefix in the 128-bit space (IPv4 v4-mapped).
 * @a:    its address, masked.
 * @plen: its length.
 */
struct tpd_eg_pfx {
	struct tp_addr a;
	unsigned int plen;
};

/**
 * struct tpd_eg_reach - the prefixes of routes into tailnet interfaces.
 * @v:     the prefixes, sorted by length, then address.
 * @n:     their number.
 * @cap:   room in @v.
 * @ifs:   the tailnet interfaces.
 * @n_ifs: their number.
 * @err:   -ENOMEM when one could not be stored.
 */
struct tpd_eg_reach {
	struct tpd_eg_pfx *v;
	size_t n;
	size_t cap;
	const int *ifs;
	size_t n_ifs;
	int err;
};

static bool tpd_eg_is_tailnet(const int *ifs, size_t n, int ifindex)
{
	size_t i;

	for (i = 0; ifindex > 0 && i < n; i++)
		if (ifs[i] == ifindex)
			return true;
	return false;
}

static void tpd_eg_mask(struct tp_addr *a, unsigned int plen)
{
	unsigned int i;

	for (i = 0; i < 16; i++, plen = plen >= 8 ? plen - 8 : 0)
		a->b[i] &= plen >= 8 ? 0xff : (__u8)(0xff << (8 - plen));
}

static int tpd_eg_pfx_cmp(const void *a, const void *b)
{
	const struct tpd_eg_pfx *x = a, *y = b;

	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	return memcmp(&x->a, &y->a, sizeof(x->a));
}

static int tpd_eg_reach_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[RTA_MAX + 1] = {};
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct tpd_eg_reach *r = data;
	struct tpd_eg_pfx p;
	size_t len;

	if (nlh->nlmsg_type != RTM_NEWROUTE ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm) ||
	    rtm->rtm_type != RTN_UNICAST)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*rtm), tpd_rt_attr, tb);
	if (!tb[RTA_MULTIPATH] && !tb[RTA_NH_ID] &&
	    !(tb[RTA_OIF] &&
	      mnl_attr_validate(tb[RTA_OIF], MNL_TYPE_U32) >= 0 &&
	      tpd_eg_is_tailnet(r->ifs, r->n_ifs,
				(int)mnl_attr_get_u32(tb[RTA_OIF]))))
		return MNL_CB_OK;
	memset(&p, 0, sizeof(p));
	len = tb[RTA_DST] ? mnl_attr_get_payload_len(tb[RTA_DST]) : 0;
	if (rtm->rtm_family == AF_INET && rtm->rtm_dst_len <= 32) {
		p.a.w[2] = htonl(0xffff);
		if (len == 4)
			memcpy(&p.a.w[3], mnl_attr_get_payload(tb[RTA_DST]), 4);
		p.plen = 96 + rtm->rtm_dst_len;
	} else if (rtm->rtm_family == AF_INET6 && rtm->rtm_dst_len <= 128) {
		if (len == 16)
			memcpy(p.a.b, mnl_attr_get_payload(tb[RTA_DST]), 16);
		p.plen = rtm->rtm_dst_len;
	} else {
		return MNL_CB_OK;
	}
	tpd_eg_mask(&p.a, p.plen);
	if (tp_array_grow((void **)&r->v, &r->cap, r->n + 1, sizeof(p), 64)) {
		r->err = -ENOMEM;
		return MNL_CB_ERROR;
	}
	r->v[r->n++] = p;
	return MNL_CB_OK;
}

/* Every table's routes into the tailnet interfaces of @r, sorted. */
static int tpd_eg_reach_read(struct mnl_socket *nl, struct tpd_eg_reach *r)
{
	int err = tpd_eg_dump_all(nl, tpd_eg_reach_cb, r, &r->n, &r->err);

	if (!err && r->n)
		qsort(r->v, r->n, sizeof(*r->v), tpd_eg_pfx_cmp);
	return err;
}

/* Does a prefix of @r cover @a?  One search per prefix length. */
static bool tpd_eg_reach_covers(const struct tpd_eg_reach *r,
				const struct tp_addr *a)
{
	struct tpd_eg_pfx k;
	size_t i = 0, j;

	while (i < r->n) {
		for (j = i; j < r->n && r->v[j].plen == r->v[i].plen; j++)
			;
		k.a = *a;
		k.plen = r->v[i].plen;
		tpd_eg_mask(&k.a, k.plen);
		if (bsearch(&k, &r->v[i], j - i, sizeof(k), tpd_eg_pfx_cmp))
			return true;
		i = j;
	}
	return false;
}

/* Answer to a route question: the interface, 0 when not a unicast route. */
static int tpd_eg_get_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[RTA_MAX + 1] = {};
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	int *oif = data;

	if (nlh->nlmsg_type != RTM_NEWROUTE ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*rtm), tpd_rt_attr, tb);
	if (rtm->rtm_type == RTN_UNICAST && tb[RTA_OIF] &&
	    mnl_attr_validate(tb[RTA_OIF], MNL_TYPE_U32) >= 0)
		*oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
	return MNL_CB_OK;
}

/*
 * Where the kernel sends a packet from this host to @a: its interface in
 * @oif, 0 when it has no unicast route there (unreachable, this host's
 * own address).  Return: 0 or -errno.
 */
static int tpd_eg_route_get(struct mnl_socket *nl, const struct tp_addr *a,
			    int *oif)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	const void *bytes;
	size_t len;
	int err;

	*oif = 0;
	nlh = tpd_rtnl_request(buf, sizeof(buf), RTM_GETROUTE, NLM_F_ACK);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = tpd_eg_family(a, &bytes, &len, &rtm->rtm_dst_len);
	mnl_attr_put(nlh, RTA_DST, len, bytes);
	err = tpd_rtnl_query_on(nl, nlh, tpd_eg_get_cb, oif);
	if (err == -ENETUNREACH || err == -EHOSTUNREACH || err == -EACCES ||
	    err == -EINVAL)
		return 0; /* no route, a prohibit or blackhole one */
	return err;
}

/*
 * Add (@flags NLM_F_CREATE | NLM_F_EXCL), move (NLM_F_CREATE |
 * NLM_F_REPLACE) or remove (@type RTM_DELROUTE) our route for @vip via
 * @ifindex.  A removal names our protocol: the kernel removes no route of
 * another.  Return: 0 or -errno.
 */
static int tpd_eg_route_change(struct mnl_socket *nl, __u16 type, __u16 flags,
			       const struct tp_addr *vip, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	const void *bytes;
	size_t len;

	nlh = tpd_rtnl_request(buf, sizeof(buf), type, NLM_F_ACK | flags);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = tpd_eg_family(vip, &bytes, &len, &rtm->rtm_dst_len);
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = TPD_RTPROT_TAILPLANE;
	if (type == RTM_DELROUTE) {
		rtm->rtm_scope = RT_SCOPE_NOWHERE; /* any */
	} else {
		rtm->rtm_type = RTN_UNICAST;
		/* no gateway: on the link, as "ip route add VIP dev IFACE" */
		rtm->rtm_scope = rtm->rtm_family == AF_INET ? RT_SCOPE_LINK
							    : RT_SCOPE_UNIVERSE;
	}
	mnl_attr_put(nlh, RTA_DST, len, bytes);
	if (ifindex > 0)
		mnl_attr_put_u32(nlh, RTA_OIF, (__u32)ifindex);
	return tpd_rtnl_query_on(nl, nlh, NULL, NULL);
}

/* ---- what the services want ------------------------------------------------- */

/**
 * struct tpd_eg_row - one backend of one service.
 * @vip:  the service's VIP.
 * @key:  the service, to name it.
 * @addr: the backend's address.
 * @oif:  the interface the backend is routed by; 0 none.
 */
struct tpd_eg_row {
	struct tp_addr vip;
	struct tp_svc_key key;
	struct tp_addr addr;
	int oif;
};

/**
 * struct tpd_eg_lookup - a backend address and its route.
 * @addr: the address.
 * @oif:  its interface, 0 none.
 */
struct tpd_eg_lookup {
	struct tp_addr addr;
	int oif;
};

static int tpd_eg_addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tp_addr));
}

/* Rows by VIP, then by service, then by backend. */
static int tpd_eg_row_cmp(const void *a, const void *b)
{
	const struct tpd_eg_row *x = a, *y = b;
	int c = memcmp(&x->vip, &y->vip, sizeof(x->vip));

	c = c ?: memcmp(&x->key, &y->key, sizeof(x->key));
	return c ?: memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

/* The ifindexes of tp_ifaces's tailnet interfaces. */
static int tpd_eg_tailnets(const struct tp_maps *m, int **ifs, size_t *n)
{
	__u32 key, next, *prev = NULL;
	struct tp_iface v;
	size_t cap = 0;

	*ifs = NULL;
	*n = 0;
	while (!bpf_map_get_next_key(m->ifaces, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m->ifaces, &key, &v) ||
		    !(v.flags & TP_IFACE_F_TAILNET))
			continue;
		if (tp_array_grow((void **)ifs, &cap, *n + 1, sizeof(**ifs), 8))
			return -ENOMEM;
		(*ifs)[(*n)++] = (int)key;
	}
	return 0;
}

/**
 * struct tpd_eg_svc_row - a service as read: its frontend and id, and the
 * least address of its backends that no route into a tailnet covers.
 * @key:       the frontend.
 * @id:        tp_svc.id.
 * @other:     that address, when @has_other.
 * @has_other: the service has such a backend.
 */
struct tpd_eg_svc_row {
	struct tp_svc_key key;
	__u32 id;
	struct tp_addr other;
	bool has_other;
};

static int tpd_eg_svc_id_cmp(const void *a, const void *b)
{
	const struct tpd_eg_svc_row *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* tpd_eg_services()'s rows. */
struct tpd_eg_svc_walk {
	struct tpd_eg_svc_row *v;
	size_t n, cap;
};

static int tpd_eg_svc_chunk(void *ctx, const struct tp_map_chunk *c)
{
	const struct tp_svc_key *keys = c->keys;
	const struct tp_svc *vals = c->vals;
	struct tpd_eg_svc_walk *w = ctx;
	size_t i;

	if (c->key_size != sizeof(*keys) || c->val_size != sizeof(*vals))
		return -EINVAL;
	if (tp_array_grow((void **)&w->v, &w->cap, w->n + c->n, sizeof(*w->v),
			  c->n))
		return -ENOMEM;
	for (i = 0; i < c->n; i++) {
		memset(&w->v[w->n], 0, sizeof(w->v[w->n]));
		w->v[w->n].key = keys[i];
		w->v[w->n++].id = vals[i].id;
	}
	return 0;
}

/* tp_services by service id, in *@svcs. */
static int tpd_eg_services(const struct tp_maps *m,
			   struct tpd_eg_svc_row **svcs, size_t *n)
{
	struct tpd_eg_svc_walk w = {};
	int err;

	err = tp_map_walk(m->services, TP_MAP_WALK_CHUNK, tpd_eg_svc_chunk, &w);
	if (!err && w.n)
		qsort(w.v, w.n, sizeof(*w.v), tpd_eg_svc_id_cmp);
	if (err) {
		free(w.v);
		w.v = NULL;
		w.n = 0;
	}
	*svcs = w.v;
	*n = w.n;
	return err;
}

/* tpd_eg_rows()'s services, routes into tailnets and the rows made so far. */
struct tpd_eg_rows_walk {
	struct tpd_eg_svc_row *svcs;
	size_t n_svcs;
	const struct tpd_eg_reach *reach;
	struct tpd_eg_row *rows;
	size_t n, cap;
};

static void tpd_eg_row_set(struct tpd_eg_row *row,
			   const struct tpd_eg_svc_row *svc,
			   const struct tp_addr *addr)
{
	memset(row, 0, sizeof(*row));
	row->vip = svc->key.vip;
	row->key = svc->key;
	row->addr = *addr;
}

/*
 * A row for each backend of @c whose service is known and that a route
 * into a tailnet covers; the others only lower their service's @other.
 */
static int tpd_eg_be_chunk(void *ctx, const struct tp_map_chunk *c)
{
	const struct tp_backend *bes = c->vals;
	struct tpd_eg_rows_walk *w = ctx;
	struct tpd_eg_svc_row *svc;
	struct tpd_eg_svc_row k;
	size_t i;

	if (c->key_size != sizeof(__u32) || c->val_size != sizeof(*bes))
		return -EINVAL;
	for (i = 0; i < c->n; i++) {
		k.id = bes[i].svc_id;
		svc = bsearch(&k, w->svcs, w->n_svcs, sizeof(k),
			      tpd_eg_svc_id_cmp);
		if (!svc)
			continue; /* a writer's leftover: no service */
		if (!tpd_eg_reach_covers(w->reach, &bes[i].addr)) {
			if (!svc->has_other || memcmp(&bes[i].addr, &svc->other,
						      sizeof(svc->other)) < 0)
				svc->other = bes[i].addr;
			svc->has_other = true;
			continue;
		}
		if (tp_array_grow((void **)&w->rows, &w->cap, w->n + 1,
				  sizeof(*w->rows), 64))
			return -ENOMEM;
		tpd_eg_row_set(&w->rows[w->n++], svc, &bes[i].addr);
	}
	return 0;
}

/* Unique addresses of @rows, sorted, in @look; their number. */
static size_t tpd_eg_unique(const struct tpd_eg_row *rows, size_t n_rows,
			    struct tpd_eg_lookup *look)
{
	size_t i, n = 0;

	for (i = 0; i < n_rows; i++)
		look[i].addr = rows[i].addr;
	qsort(look, n_rows, sizeof(*look), tpd_eg_addr_cmp);
	for (i = 0; i < n_rows; i++)
		if (!n || memcmp(&look[i].addr, &look[n - 1].addr,
				 sizeof(look[i].addr)))
			look[n++] = look[i];
	return n;
}

/*
 * The tailnet interface of each address of @look[0..n-1] (0: none), as
 * the kernel answers (each is covered by a route into a tailnet); -1 when
 * the question failed (logged).
 */
static void tpd_eg_ask(struct tpd_egress_routes *st, struct mnl_socket *nl,
		       const struct tpd_eg_reach *reach,
		       struct tpd_eg_lookup *look, size_t n,
		       struct tpd_egress_result *res)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		look[i].oif = 0;
		err = tpd_eg_route_get(nl, &look[i].addr, &look[i].oif);
		if (!err) {
			if (!tpd_eg_is_tailnet(reach->ifs, reach->n_ifs,
					       look[i].oif))
				look[i].oif = 0;
			continue;
		}
		look[i].oif = -1;
		res->errors++;
		if (tpd_eg_note(st, TPD_EG_NOTE_LOOKUP, &look[i].addr, 0, err))
			log_error(
				"egress routes: cannot ask the route of a backend",
				"backend", TPD_EG_ADDR(&look[i].addr), "error",
				strerror(-err));
	}
}

/*
 * Each row's tailnet interface (0 none): every backend address once,
 * however many services share it.  A question that fails leaves its
 * rows at -1 (no change for their VIP this sync: a route we have stays).
 */
static int tpd_eg_route_rows(struct tpd_egress_routes *st,
			     struct mnl_socket *nl,
			     const struct tpd_eg_reach *reach,
			     struct tpd_eg_row *rows, size_t n_rows,
			     struct tpd_egress_result *res)
{
	struct tpd_eg_lookup *look, *hit, k;
	size_t i, n;

	if (!n_rows)
		return 0;
	look = calloc(n_rows, sizeof(*look));
	if (!look)
		return -ENOMEM;
	n = tpd_eg_unique(rows, n_rows, look);
	tpd_eg_ask(st, nl, reach, look, n, res);
	for (i = 0; i < n_rows; i++) {
		k.addr = rows[i].addr;
		hit = bsearch(&k, look, n, sizeof(*look), tpd_eg_addr_cmp);
		rows[i].oif = hit ? hit->oif : -1;
	}
	free(look);
	return 0;
}

/*
 * The rows a VIP's route depends on, with their interfaces: one for each
 * backend (of a service of tp_services, read under the writers' lock: a
 * backend and its service are written and removed together) that a route
 * into a tailnet interface covers, asked of the kernel; and, per service,
 * one for the least address of its backends that none covers (interface
 * 0: they leave by no tailnet).  That one stands for all of them: a VIP's
 * route needs to know only whether it has such a backend, and
 * tpd_eg_vip_iface() names the first row of a VIP that differs, which is
 * it when it is one of them.  A node's backends number 100,000s and are
 * read a chunk at a time (tp_map_walk()): the rows are as many as the
 * services plus the backends routed into a tailnet, not as the backends;
 * no route into a tailnet at all, no row.
 */
static int tpd_eg_rows(const struct tp_maps *m, struct tpd_egress_routes *st,
		       const int *ifs, size_t n_ifs, struct tpd_eg_row **rows,
		       size_t *n_rows, struct tpd_egress_result *res)
{
	struct tpd_eg_reach reach = { .ifs = ifs, .n_ifs = n_ifs };
	struct tpd_eg_rows_walk w = { .reach = &reach };
	struct mnl_socket *nl;
	size_t i, asked;
	int err;

	*rows = NULL;
	*n_rows = 0;
	nl = tpd_rtnl_open();
	if (!nl)
		return -errno;
	err = tpd_eg_reach_read(nl, &reach);
	if (err || !reach.n)
		goto cleanup; /* nothing leaves by a tailnet: no egress VIP */
	err = tpd_eg_services(m, &w.svcs, &w.n_svcs);
	if (!err && w.n_svcs)
		err = tp_map_walk(m->backends, TP_MAP_WALK_CHUNK,
				  tpd_eg_be_chunk, &w);
	asked = w.n;
	if (!err)
		err = tpd_eg_route_rows(st, nl, &reach, w.rows, asked, res);
	for (i = 0; !err && i < w.n_svcs; i++) {
		if (!w.svcs[i].has_other)
			continue;
		if (tp_array_grow((void **)&w.rows, &w.cap, w.n + 1,
				  sizeof(*w.rows), 64)) {
			err = -ENOMEM;
			break;
		}
		tpd_eg_row_set(&w.rows[w.n++], &w.svcs[i], &w.svcs[i].other);
	}
cleanup:
	mnl_socket_close(nl);
	free(reach.v);
	free(w.svcs);
	if (err) {
		free(w.rows);
		return err;
	}
	*rows = w.rows;
	*n_rows = w.n;
	return 0;
}

/*
 * The rows of one VIP, @r[0..n-1]: its interface when every backend leaves
 * by the same tailnet interface, else 0 (said in the log when some do,
 * but not all by one).  -1: a backend's route is unknown this sync.
 */
static int tpd_eg_vip_iface(struct tpd_egress_routes *st, const int *ifs,
			    size_t n_ifs, const struct tpd_eg_row *r, size_t n,
			    struct tpd_egress_result *res)
{
	size_t i, t = n, o = n;
	char svc[80], svc2[80];

	for (i = 0; i < n; i++) {
		if (r[i].oif < 0)
			return -1;
		if (t == n && tpd_eg_is_tailnet(ifs, n_ifs, r[i].oif))
			t = i;
	}
	if (t == n)
		return 0; /* an ordinary service: its backends are not in a tailnet */
	for (i = 0; i < n && o == n; i++)
		if (r[i].oif != r[t].oif)
			o = i;
	if (o == n)
		return r[t].oif;
	res->split++;
	if (tpd_eg_note(st, TPD_EG_NOTE_SPLIT, &r[0].vip, 0, 0))
		log_warn(
			"egress service's backends leave by more than one interface; no route for its VIP",
			"service",
			tp_svc_key_format(&r[t].key, svc, sizeof(svc)),
			"backend", TPD_EG_ADDR(&r[t].addr), "iface",
			TPD_EG_IFNAME(r[t].oif), "other_service",
			tp_svc_key_format(&r[o].key, svc2, sizeof(svc2)),
			"other_backend", TPD_EG_ADDR(&r[o].addr), "other_iface",
			TPD_EG_IFNAME(r[o].oif));
	return 0;
}

/**
 * tpd_egress_wanted() - the routes the services in the maps want.
 * @m:    maps.
 * @st:   the state kept between syncs (what was logged).
 * @want: the routes, sorted by VIP (free() them); a VIP whose backends'
 *        routes could not be asked is listed with ifindex -1 (keep what
 *        it has).
 * @n:    their number.
 * @res:  counts split VIPs and failed lookups.
 *
 * A VIP wants a route into a tailnet interface (TP_IFACE_F_TAILNET in
 * tp_ifaces) when every backend of every service it has leaves by that
 * interface.  Backends split between interfaces: no route, and a warning
 * naming the service.
 *
 * Return: 0 or -errno (the maps could not be read).
 */
int tpd_egress_wanted(const struct tp_maps *m, struct tpd_egress_routes *st,
		      struct tpd_egress_want **want, size_t *n,
		      struct tpd_egress_result *res)
{
	struct tpd_eg_row *rows = NULL;
	size_t n_rows = 0, n_ifs = 0, i, j, cap = 0;
	int *ifs = NULL, err, oif;

	*want = NULL;
	*n = 0;
	st->n_fresh = 0;
	err = tpd_eg_tailnets(m, &ifs, &n_ifs);
	/* no tailnet interface: no service can be an egress one */
	if (!err && n_ifs)
		err = tpd_eg_rows(m, st, ifs, n_ifs, &rows, &n_rows, res);
	if (err)
		goto cleanup;
	qsort(rows, n_rows, sizeof(*rows), tpd_eg_row_cmp);
	for (i = 0; i < n_rows; i = j) {
		for (j = i + 1;
		     j < n_rows &&
		     !memcmp(&rows[j].vip, &rows[i].vip, sizeof(rows[i].vip));
		     j++)
			;
		oif = tpd_eg_vip_iface(st, ifs, n_ifs, &rows[i], j - i, res);
		if (!oif)
			continue;
		if (tp_array_grow((void **)want, &cap, *n + 1, sizeof(**want),
				  16)) {
			err = -ENOMEM;
			goto cleanup;
		}
		(*want)[*n].vip = rows[i].vip;
		(*want)[(*n)++].ifindex = oif;
	}
cleanup:
	if (err) {
		free(*want);
		*want = NULL;
		*n = 0;
	}
	free(rows);
	free(ifs);
	return err;
}

/* ---- making the routes so ------------------------------------------------------- */

static const struct tpd_eg_route *
tpd_eg_find(const struct tpd_eg_dump *d, const struct tp_addr *vip, bool ours)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if ((d->v[i].proto == TPD_RTPROT_TAILPLANE) == ours &&
		    !memcmp(&d->v[i].vip, vip, sizeof(*vip)))
			return &d->v[i];
	return NULL;
}

static bool tpd_eg_wanted_has(const struct tpd_egress_want *want, size_t n,
			      const struct tp_addr *vip)
{
	struct tpd_egress_want k = { .vip = *vip };

	return n && bsearch(&k, want, n, sizeof(*want), tpd_eg_addr_cmp);
}

/* Remember @vip via @ifindex as routed by us, with its interface's name. */
static void tpd_eg_routed(struct tpd_egress_routes *st,
			  const struct tp_addr *vip, int ifindex)
{
	struct tpd_egress_routed *r;

	if (tp_array_grow((void **)&st->routed, &st->routed_room,
			  st->n_routed + 1, sizeof(*st->routed), 16))
		return;
	r = &st->routed[st->n_routed++];
	memset(r, 0, sizeof(*r));
	r->vip = *vip;
	r->ifindex = ifindex;
	snprintf(r->name, sizeof(r->name), "%s", TPD_EG_IFNAME(ifindex));
}

/* Routes of ours the last sync left and gone now: said when their interface went. */
static void tpd_eg_check_gone(const struct tpd_egress_routed *before, size_t n,
			      const struct tpd_eg_dump *d)
{
	char name[IF_NAMESIZE];
	size_t i;

	for (i = 0; i < n; i++) {
		if (tpd_eg_find(d, &before[i].vip, true) ||
		    if_indextoname((unsigned int)before[i].ifindex, name))
			continue;
		log_warn(
			"egress route went with its interface; the VIP is routed again when its backends are",
			"vip", TPD_EG_ADDR(&before[i].vip), "iface",
			before[i].name, "ifindex",
			log_fmt("%d", before[i].ifindex));
	}
}

/* Remove our route @r; logged. */
static void tpd_eg_remove(struct tpd_egress_routes *st, struct mnl_socket *nl,
			  const struct tpd_eg_route *r, const char *why,
			  struct tpd_egress_result *res)
{
	int err = tpd_eg_route_change(nl, RTM_DELROUTE, 0, &r->vip, r->oif);

	if (err == -ESRCH || err == -ENODEV) /* gone meanwhile */
		return;
	if (err) {
		res->errors++;
		if (tpd_eg_note(st, TPD_EG_NOTE_DEL, &r->vip, r->oif, err))
			log_error("cannot remove egress route", "vip",
				  TPD_EG_ADDR(&r->vip), "iface",
				  TPD_EG_IFNAME(r->oif), "error",
				  strerror(-err));
		return;
	}
	res->removed++;
	log_info("egress route removed", "vip", TPD_EG_ADDR(&r->vip), "iface",
		 TPD_EG_IFNAME(r->oif), "why", why);
}

/* Make the route @w wants, given ours @have (or none) and no operator's. */
static void tpd_eg_put(struct tpd_egress_routes *st, struct mnl_socket *nl,
		       const struct tpd_egress_want *w,
		       const struct tpd_eg_route *have,
		       struct tpd_egress_result *res)
{
	__u16 flags = NLM_F_CREATE | (have ? NLM_F_REPLACE : NLM_F_EXCL);
	int err;

	if (have && have->oif == w->ifindex) {
		tpd_eg_routed(st, &w->vip, w->ifindex); /* adopted */
		return;
	}
	err = tpd_eg_route_change(nl, RTM_NEWROUTE, flags, &w->vip, w->ifindex);
	if (err) {
		res->errors++;
		if (tpd_eg_note(st, TPD_EG_NOTE_ADD, &w->vip, w->ifindex, err))
			log_error(have ? "cannot move egress route"
				       : "cannot add egress route",
				  "vip", TPD_EG_ADDR(&w->vip), "iface",
				  TPD_EG_IFNAME(w->ifindex), "error",
				  strerror(-err));
		if (have) /* it stays where it was */
			tpd_eg_routed(st, &have->vip, have->oif);
		return;
	}
	if (have) {
		res->moved++;
		log_info("egress route moved", "vip", TPD_EG_ADDR(&w->vip),
			 "iface", TPD_EG_IFNAME(w->ifindex), "from",
			 TPD_EG_IFNAME(have->oif));
	} else {
		res->added++;
		log_info("egress route added", "vip", TPD_EG_ADDR(&w->vip),
			 "iface", TPD_EG_IFNAME(w->ifindex));
	}
	tpd_eg_routed(st, &w->vip, w->ifindex);
}

/**
 * tpd_egress_apply() - make the main table's routes of protocol
 * TPD_RTPROT_TAILPLANE what @want says.
 * @st:   the state kept between syncs.
 * @want: the routes, sorted by VIP (tpd_egress_wanted()); ifindex -1:
 *        leave the VIP's route as it is.
 * @n:    their number.
 * @res:  what was done.
 *
 * A VIP the operator routes (a host route of another protocol) keeps his
 * route, and ours, if any, goes.  A change that fails is logged with the
 * VIP and the interface and the others are made all the same.
 *
 * Return: 0, or -errno when the routes could not be read (nothing done).
 */
int tpd_egress_apply(struct tpd_egress_routes *st,
		     const struct tpd_egress_want *want, size_t n,
		     struct tpd_egress_result *res)
{
	struct tpd_egress_routed *before = st->routed;
	const struct tpd_eg_route *ours, *theirs;
	size_t n_before = st->n_routed, i;
	struct tpd_eg_dump d = {};
	struct mnl_socket *nl;
	int err;

	nl = tpd_rtnl_open();
	if (!nl)
		return -errno;
	err = tpd_eg_dump_routes(nl, &d);
	if (err) {
		log_error("egress routes: cannot read the routes", "error",
			  strerror(-err));
		goto cleanup;
	}
	tpd_eg_check_gone(before, n_before, &d);
	st->routed = NULL;
	st->n_routed = 0;
	st->routed_room = 0;
	for (i = 0; i < n; i++) {
		ours = tpd_eg_find(&d, &want[i].vip, true);
		theirs = tpd_eg_find(&d, &want[i].vip, false);
		if (theirs) {
			res->operator++;
			if (tpd_eg_note(st, TPD_EG_NOTE_OPERATOR, &want[i].vip,
					theirs->oif, 0))
				log_info(
					"egress VIP routed by the operator; left alone",
					"vip", TPD_EG_ADDR(&want[i].vip),
					"iface", TPD_EG_IFNAME(theirs->oif),
					"proto", log_fmt("%u", theirs->proto),
					"wanted",
					TPD_EG_IFNAME(want[i].ifindex));
			if (ours)
				tpd_eg_remove(st, nl, ours,
					      "the operator routes the VIP",
					      res);
		} else if (want[i].ifindex < 0) {
			if (ours) /* its backends' routes unknown: keep it */
				tpd_eg_routed(st, &ours->vip, ours->oif);
		} else {
			tpd_eg_put(st, nl, &want[i], ours, res);
		}
	}
	for (i = 0; i < d.n; i++)
		if (d.v[i].proto == TPD_RTPROT_TAILPLANE &&
		    !tpd_eg_wanted_has(want, n, &d.v[i].vip))
			tpd_eg_remove(st, nl, &d.v[i], "no egress service",
				      res);
	res->routes = (unsigned int)st->n_routed;
	free(before);
	tpd_eg_notes_done(st);
cleanup:
	free(d.v);
	mnl_socket_close(nl);
	return err;
}

/**
 * tpd_egress_sync() - tpd_egress_wanted(), then tpd_egress_apply().
 * @m:   maps.
 * @st:  the state kept between syncs.
 * @res: what was done.
 *
 * Return: 0 or -errno (nothing changed then).
 */
int tpd_egress_sync(const struct tp_maps *m, struct tpd_egress_routes *st,
		    struct tpd_egress_result *res)
{
	struct tpd_egress_want *want;
	size_t n;
	int err;

	err = tpd_egress_wanted(m, st, &want, &n, res);
	if (!err)
		err = tpd_egress_apply(st, want, n, res);
	free(want);
	return err;
}

/**
 * tpd_egress_remove_all() - remove the main table's routes of protocol
 * TPD_RTPROT_TAILPLANE, nothing else.
 * @ifs:     only those into these interfaces (tailplaned --detach: the
 *           pin root's own, another loader's stay); NULL: every one
 *           ("egress_routes" switched off).
 * @n_ifs:   their number.
 * @removed: how many were removed.
 *
 * Return: 0 or -errno (the first failure; the others are still tried).
 */
int tpd_egress_remove_all(const int *ifs, size_t n_ifs, unsigned int *removed)
{
	struct tpd_egress_result res = {};
	struct tpd_egress_routes st = {};
	struct tpd_eg_dump d = {};
	struct mnl_socket *nl;
	size_t i;
	int err;

	*removed = 0;
	nl = tpd_rtnl_open();
	if (!nl)
		return -errno;
	err = tpd_eg_dump_routes(nl, &d);
	for (i = 0; !err && i < d.n; i++)
		if (d.v[i].proto == TPD_RTPROT_TAILPLANE &&
		    (!ifs || tpd_eg_is_tailnet(ifs, n_ifs, d.v[i].oif)))
			tpd_eg_remove(&st, nl, &d.v[i],
				      ifs ? "detach" : "egress_routes off",
				      &res);
	if (!err && res.errors)
		err = -EIO;
	*removed = res.removed;
	tpd_egress_routes_free(&st);
	free(d.v);
	mnl_socket_close(nl);
	return err;
}

/**
 * tpd_egress_detach() - tpd_egress_remove_all() for the tailnet
 * interfaces of a pin root: those its tp_ifaces holds (what the loader
 * attached) and those its configuration names.
 * @cfg:     the configuration, or one with only a pin root.
 * @removed: how many routes were removed.
 *
 * Return: 0 or -errno.
 */
int tpd_egress_detach(const struct tpd_config *cfg, unsigned int *removed)
{
	struct tp_maps m;
	char path[PATH_MAX + 32];
	int *ifs = NULL, idx, err = 0;
	size_t n = 0, i, cap;

	*removed = 0;
	tp_maps_init(&m);
	snprintf(path, sizeof(path), "%s/%s", cfg->pin_root, TP_MAP_IFACES);
	m.ifaces = bpf_obj_get(path);
	if (m.ifaces >= 0)
		err = tpd_eg_tailnets(&m, &ifs, &n);
	tp_maps_close(&m);
	cap = n;
	for (i = 0; !err && i < cfg->n_ifaces; i++) {
		idx = (int)if_nametoindex(cfg->ifaces[i].name);
		if (cfg->ifaces[i].kind != TPD_IFACE_TAILNET || !idx)
			continue;
		if (tp_array_grow((void **)&ifs, &cap, n + 1, sizeof(*ifs), 8))
			err = -ENOMEM;
		else
			ifs[n++] = idx;
	}
	if (!err && n)
		err = tpd_egress_remove_all(ifs, n, removed);
	free(ifs);
	return err;
}

/** tpd_egress_routes_free() - what the state holds; it is empty after. */
void tpd_egress_routes_free(struct tpd_egress_routes *st)
{
	free(st->notes);
	free(st->fresh);
	free(st->routed);
	memset(st, 0, sizeof(*st));
}
