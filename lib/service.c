// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Writing a service so that no packet sees it half-written:
 *
 *   1. backends that are new or changed are written (new ids are not yet
 *      referenced by anything the datapath reads);
 *   2. the Maglev table is built and written into the service's idle
 *      table (the live one keeps serving);
 *   3. the service entry is written with the idle table made live;
 *   4. backends no longer wanted are deleted, now that no table names them.
 *
 * Deleting a service removes its entry first, then its backends.
 * Established flows never read these maps: conntrack holds their backend.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "maglev.h"
#include "service.h"

static bool tp_addr_equal(const struct tp_addr *a, const struct tp_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Lowest service id in 1..TP_MAX_SERVICES-1 no service uses. */
static int tp_service_alloc_id(const struct tp_maps *m, __u32 *id)
{
	unsigned char used[TP_MAX_SERVICES] = {};
	struct tp_svc_key k, next;
	struct tp_svc svc;
	void *prev = NULL;
	__u32 i;

	while (!bpf_map_get_next_key(m->services, prev, &next)) {
		k = next;
		prev = &k;
		if (!bpf_map_lookup_elem(m->services, &k, &svc) &&
		    svc.id < TP_MAX_SERVICES)
			used[svc.id] = 1;
	}
	for (i = 1; i < TP_MAX_SERVICES; i++) {
		if (!used[i]) {
			*id = i;
			return 0;
		}
	}
	return tp_limit_hit(TP_LIMIT_SERVICES);
}

/**
 * tp_service_backends() - the backends of a service.
 * @m:      maps.
 * @svc_id: service id.
 * @ids:    filled with backend ids.
 * @bes:    filled with the backends.
 * @cap:    room in @ids and @bes.
 *
 * Return: the number of backends (which may exceed @cap: only @cap are
 * stored), or -errno.
 */
int tp_service_backends(const struct tp_maps *m, __u32 svc_id, __u32 *ids,
			struct tp_backend *bes, size_t cap)
{
	__u32 k, next, *prev = NULL;
	struct tp_backend be;
	size_t n = 0;

	while (!bpf_map_get_next_key(m->backends, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(m->backends, &k, &be) ||
		    be.svc_id != svc_id)
			continue;
		if (n < cap) {
			ids[n] = k;
			bes[n] = be;
		}
		n++;
	}
	return n;
}

/* Backend ids in use, as a bitmap of TP_MAX_BACKENDS bits. */
static unsigned char *tp_backend_ids_used(const struct tp_maps *m)
{
	unsigned char *used = calloc(TP_MAX_BACKENDS / 8, 1);
	__u32 k, next, *prev = NULL;

	if (!used)
		return NULL;
	used[0] |= 1; /* id 0 is never a backend */
	while (!bpf_map_get_next_key(m->backends, prev, &next)) {
		k = next;
		prev = &k;
		if (k < TP_MAX_BACKENDS)
			used[k / 8] |= 1 << (k % 8);
	}
	return used;
}

static int tp_backend_alloc_id(unsigned char *used, __u32 *id)
{
	__u32 i;

	for (i = 1; i < TP_MAX_BACKENDS; i++) {
		if (!(used[i / 8] & (1 << (i % 8)))) {
			used[i / 8] |= 1 << (i % 8);
			*id = i;
			return 0;
		}
	}
	return tp_limit_hit(TP_LIMIT_BACKENDS);
}

/* Write a table in one batch (one syscall), element by element if need be. */
static int tp_maglev_write(const struct tp_maps *m, __u32 svc_id, __u8 table,
			   const __u32 *entries)
{
	__u32 i, count = m->maglev_size, *keys = calloc(count, sizeof(*keys));
	int err = 0;

	if (!keys)
		return -ENOMEM;
	for (i = 0; i < count; i++)
		keys[i] = TP_MAGLEV_INDEX(svc_id, table, i, m->maglev_size);
	if (bpf_map_update_batch(m->maglev, keys, entries, &count, NULL)) {
		for (i = 0; i < m->maglev_size && !err; i++)
			if (bpf_map_update_elem(m->maglev, &keys[i], &entries[i], BPF_ANY))
				err = -errno;
	}
	free(keys);
	return err;
}

/* A backend as its service names it: ADDR:PORT, or ADDR for ICMP. */
static char *tp_backend_str(const struct tp_svc_key *key,
			    const struct tp_backend_spec *be, char *buf, size_t len)
{
	if (key->proto == IPPROTO_ICMP || key->proto == IPPROTO_ICMPV6)
		return tp_addr_format(&be->addr, buf, len);
	return tp_endpoint_format(&be->addr, ntohs(be->port), buf, len);
}

static const char *tp_family_str(const struct tp_addr *a)
{
	return tp_addr_is_v4(a) ? "IPv4" : "IPv6";
}

/**
 * tp_service_check() - whether tp_service_set() would take a service,
 * and why not.
 * @key: the frontend.
 * @be:  its backends.
 * @n:   their number.
 * @why: room for a one-line explanation naming what is wrong, or NULL.
 * @len: its size.
 *
 * Every backend must be of the VIP's address family (the datapath
 * rewrites addresses in place: an IPv6 backend of an IPv4 VIP would be
 * truncated), an ICMP service's protocol must be the VIP family's, and
 * backends must be unique with a weight and a known state.
 *
 * Return: 0; -EAFNOSUPPORT (families differ), -E2BIG (more than
 * TP_MAX_SVC_BACKENDS), -EEXIST (a backend twice) or -EINVAL.
 */
int tp_service_check(const struct tp_svc_key *key, const struct tp_backend_spec *be,
		     size_t n, char *why, size_t len)
{
	char b[TP_ENDPOINT_STRLEN], v[TP_ADDR_STRLEN];
	bool v4 = tp_addr_is_v4(&key->vip);
	size_t i, j;

	if (!why)
		len = 0;
	if (n > TP_MAX_SVC_BACKENDS) {
		snprintf(why, len,
			 "%zu backends, more than the %d a service can have "
			 "(TP_MAX_SVC_BACKENDS; no configuration key raises it yet)",
			 n, TP_MAX_SVC_BACKENDS);
		tp_limit_hit(TP_LIMIT_SVC_BACKENDS);
		return -E2BIG;
	}
	if (key->pad) {
		snprintf(why, len, "bad service key: padding is not zero");
		return -EINVAL;
	}
	if ((key->proto == IPPROTO_ICMP && !v4) || (key->proto == IPPROTO_ICMPV6 && v4)) {
		snprintf(why, len, "protocol %s needs an %s VIP, and %s is %s",
			 v4 ? "icmpv6" : "icmpv4", v4 ? "IPv6" : "IPv4",
			 tp_addr_format(&key->vip, v, sizeof(v)), tp_family_str(&key->vip));
		return -EAFNOSUPPORT;
	}
	for (i = 0; i < n; i++) {
		tp_backend_str(key, &be[i], b, sizeof(b));
		if (tp_addr_is_v4(&be[i].addr) != v4) {
			snprintf(why, len,
				 "backend %s is %s but the VIP %s is %s (a service's backends must be of its VIP's address family)",
				 b, tp_family_str(&be[i].addr),
				 tp_addr_format(&key->vip, v, sizeof(v)),
				 tp_family_str(&key->vip));
			return -EAFNOSUPPORT;
		}
		if (!be[i].weight) {
			snprintf(why, len, "backend %s has weight 0: expected 1-65535", b);
			return -EINVAL;
		}
		if (be[i].state > TP_BACKEND_MAINTENANCE) {
			snprintf(why, len, "backend %s has an unknown state %u", b,
				 be[i].state);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (tp_addr_equal(&be[i].addr, &be[j].addr) &&
			    be[i].port == be[j].port) {
				snprintf(why, len, "backend %s is listed twice", b);
				return -EEXIST;
			}
		}
	}
	return 0;
}

struct tp_service_update {
	__u32 ids[TP_MAX_SVC_BACKENDS];		/* id of each wanted backend */
	int was[TP_MAX_SVC_BACKENDS];		/* its index in @old, -1: new */
	__u32 old_ids[TP_MAX_SVC_BACKENDS];	/* ids the service had */
	struct tp_backend old[TP_MAX_SVC_BACKENDS];
	struct tp_maglev_backend mb[TP_MAX_SVC_BACKENDS];
	int n_old;
};

/* Step 1: give every wanted backend an id (reusing matches) and write it. */
static int tp_service_write_backends(const struct tp_maps *m, __u32 svc_id,
				     __u8 owner, const struct tp_backend_spec *be,
				     size_t n, struct tp_service_update *u)
{
	unsigned char *used = tp_backend_ids_used(m);
	struct tp_backend nb;
	size_t i;
	int j, err = 0;

	if (!used)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		u->was[i] = -1;
	for (i = 0; i < n && !err; i++) {
		u->ids[i] = 0;
		for (j = 0; j < u->n_old; j++) {
			if (tp_addr_equal(&u->old[j].addr, &be[i].addr) &&
			    u->old[j].port == be[i].port) {
				u->ids[i] = u->old_ids[j];
				u->was[i] = j;
			}
		}
		if (!u->ids[i])
			err = tp_backend_alloc_id(used, &u->ids[i]);
		if (err)
			break;
		memset(&nb, 0, sizeof(nb));
		nb.addr = be[i].addr;
		nb.port = be[i].port;
		nb.state = be[i].state;
		nb.owner = owner;
		nb.weight = be[i].weight;
		nb.svc_id = svc_id;
		if (bpf_map_update_elem(m->backends, &u->ids[i], &nb, BPF_ANY))
			err = tp_limit_errno(-errno, TP_LIMIT_BACKENDS);
	}
	free(used);
	return err;
}

/*
 * Undo step 1 after a later step failed: new backends go, changed ones get
 * their old values back, so no id is left pointing at the service.
 */
static void tp_service_rollback(const struct tp_maps *m,
				const struct tp_service_update *u, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!u->ids[i])
			continue;
		if (u->was[i] < 0)
			bpf_map_delete_elem(m->backends, &u->ids[i]);
		else
			bpf_map_update_elem(m->backends, &u->ids[i],
					    &u->old[u->was[i]], BPF_ANY);
	}
}

/**
 * tp_service_set() - make a service exactly what is given.
 * @m:    maps.
 * @key:  the frontend (VIP, port, protocol).
 * @spec: attributes.
 * @be:   the complete list of backends; active ones get new flows.
 * @n:    their number, at most TP_MAX_SVC_BACKENDS.
 *
 * Backends are matched to the existing ones by address and port, so a
 * backend keeps its id (and its flows' accounting) across updates.
 * Input tp_service_check() refuses is refused before anything is written.
 *
 * Return: 0 or -errno (-EINVAL bad input, -EAFNOSUPPORT a backend or the
 * ICMP protocol of another address family than the VIP's, -EEXIST
 * duplicate backend, -E2BIG too many backends, -ENOSPC no free id or a
 * map full: tp_strerror() names which).
 */
int tp_service_set(const struct tp_maps *m, const struct tp_svc_key *key,
		   const struct tp_svc_spec *spec,
		   const struct tp_backend_spec *be, size_t n)
{
	struct tp_service_update *u;
	struct tp_svc svc = {};
	__u32 *table = NULL;
	size_t i, n_active = 0;
	int j, err;

	tp_limit_reset();
	err = tp_service_check(key, be, n, NULL, 0);
	if (err)
		return err;
	u = calloc(1, sizeof(*u));
	table = calloc(m->maglev_size, sizeof(*table));
	if (!u || !table) {
		err = -ENOMEM;
		goto out;
	}

	if (bpf_map_lookup_elem(m->services, key, &svc)) {
		memset(&svc, 0, sizeof(svc));
		err = tp_service_alloc_id(m, &svc.id);
		if (err)
			goto out;
		svc.table = 1; /* so the first table written is table 0 */
	}
	u->n_old = tp_service_backends(m, svc.id, u->old_ids, u->old,
				       TP_MAX_SVC_BACKENDS);
	if (u->n_old > TP_MAX_SVC_BACKENDS)
		u->n_old = TP_MAX_SVC_BACKENDS;
	if (u->n_old < 0) {
		err = u->n_old;
		goto out;
	}

	err = tp_service_write_backends(m, svc.id, spec->owner, be, n, u);
	if (err)
		goto rollback;

	for (i = 0; i < n; i++) {
		if (be[i].state != TP_BACKEND_ACTIVE)
			continue;
		u->mb[n_active].id = u->ids[i];
		u->mb[n_active].addr = be[i].addr;
		u->mb[n_active].port = be[i].port;
		u->mb[n_active].weight = be[i].weight;
		n_active++;
	}
	err = tp_maglev_build(u->mb, n_active, m->maglev_size, table);
	if (err)
		goto rollback;
	err = tp_maglev_write(m, svc.id, !svc.table, table);
	if (err)
		goto rollback;

	svc.table = !svc.table;
	svc.active = n_active;
	svc.flags = spec->flags;
	svc.zone = spec->zone;
	svc.affinity_timeout = spec->affinity_timeout;
	svc.owner = spec->owner;
	svc.revision++;
	if (bpf_map_update_elem(m->services, key, &svc, BPF_ANY)) {
		err = tp_limit_errno(-errno, TP_LIMIT_SERVICES);
		goto rollback;
	}

	/* step 4: backends the service no longer has */
	for (j = 0; j < u->n_old; j++) {
		for (i = 0; i < n; i++)
			if (u->ids[i] == u->old_ids[j])
				break;
		if (i == n)
			bpf_map_delete_elem(m->backends, &u->old_ids[j]);
	}
	goto out;
rollback:
	tp_service_rollback(m, u, n);
out:
	free(table);
	free(u);
	return err;
}

/**
 * tp_service_del() - remove a service and its backends.
 * @m:   maps.
 * @key: the frontend.
 *
 * Return: 0, -ENOENT when there is no such service, or -errno.
 */
int tp_service_del(const struct tp_maps *m, const struct tp_svc_key *key)
{
	__u32 ids[TP_MAX_SVC_BACKENDS];
	struct tp_backend *bes;
	struct tp_svc svc;
	int n, i;

	if (bpf_map_lookup_elem(m->services, key, &svc))
		return -ENOENT;
	if (bpf_map_delete_elem(m->services, key))
		return -errno;
	bes = calloc(TP_MAX_SVC_BACKENDS, sizeof(*bes));
	if (!bes)
		return -ENOMEM;
	n = tp_service_backends(m, svc.id, ids, bes, TP_MAX_SVC_BACKENDS);
	for (i = 0; i < n && i < TP_MAX_SVC_BACKENDS; i++)
		bpf_map_delete_elem(m->backends, &ids[i]);
	free(bes);
	return 0;
}
