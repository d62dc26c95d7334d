// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Writers of the XDP guard's maps (abi.h, "XDP guard").  The datapath
 * reads tp_guard_config on every guarded packet, so each write here is
 * live at once; the derived fields (cost_ns, cap_ns) are computed here,
 * never in the datapath.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "guard.h"
#include "identity.h"

#define TP_NSEC_PER_SEC 1000000000ULL

/**
 * tp_guard_config_fill() - set the rate of @c and what follows from it.
 * @c:     the configuration (ports kept).
 * @rate:  handshakes a second per source, 0 for no limit.
 * @burst: bucket size, 1..TP_GUARD_BURST_MAX when @rate is set.
 *
 * Return: 0 or -EINVAL (@c unchanged).
 */
int tp_guard_config_fill(struct tp_guard_config *c, __u32 rate, __u32 burst)
{
	if (rate > TP_GUARD_RATE_MAX || burst > TP_GUARD_BURST_MAX ||
	    (rate && !burst))
		return -EINVAL;
	c->rate = rate;
	c->burst = burst;
	c->cost_ns = rate ? TP_NSEC_PER_SEC / rate : 0;
	c->cap_ns = (__u64)burst * c->cost_ns;
	return 0;
}

/** tp_guard_config_get() - read the guard's configuration. */
int tp_guard_config_get(const struct tp_maps *m, struct tp_guard_config *c)
{
	__u32 zero = 0;

	memset(c, 0, sizeof(*c));
	return bpf_map_lookup_elem(m->guard_config, &zero, c) ? -errno : 0;
}

/** tp_guard_config_put() - write the guard's configuration whole. */
int tp_guard_config_put(const struct tp_maps *m,
			const struct tp_guard_config *c)
{
	__u32 zero = 0;

	return bpf_map_update_elem(m->guard_config, &zero, c, BPF_ANY) ? -errno
								       : 0;
}

/**
 * tp_guard_rate_set() - change the per-source rate, keeping the ports.
 * @m:     maps.
 * @rate:  handshakes a second per source, 0: no limit.
 * @burst: bucket size.
 *
 * Buckets keep their credit; a smaller burst caps it at the next packet.
 *
 * Return: 0, -EINVAL or -errno.
 */
int tp_guard_rate_set(const struct tp_maps *m, __u32 rate, __u32 burst)
{
	struct tp_guard_config c;
	int err = tp_guard_config_get(m, &c);

	err = err ?: tp_guard_config_fill(&c, rate, burst);
	return err ?: tp_guard_config_put(m, &c);
}

/**
 * tp_guard_ports_set() - set the guarded ports of @c.
 * @c:     the configuration.
 * @ports: ports, host order, 1-65535, no duplicates.
 * @n:     how many, at most TP_GUARD_MAX_PORTS.
 *
 * Return: 0 or -EINVAL (@c unchanged).
 */
int tp_guard_ports_set(struct tp_guard_config *c, const __u16 *ports, size_t n)
{
	size_t i, j;

	if (n > TP_GUARD_MAX_PORTS)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!ports[i])
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (ports[j] == ports[i])
				return -EINVAL;
	}
	memset(c->ports, 0, sizeof(c->ports));
	for (i = 0; i < n; i++)
		c->ports[i] = htons(ports[i]);
	c->n_ports = n;
	return 0;
}

static void tp_guard_key_of(struct tp_guard_key *k,
			    const struct tp_addr *prefix, unsigned int plen)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = plen;
	k->addr = *prefix;
	tp_addr_mask(&k->addr, plen);
}

/* The entry of exactly @k, not a shorter one covering it. */
static int tp_guard_get_exact(const struct tp_maps *m,
			      const struct tp_guard_key *k,
			      struct tp_guard_drop_val *v)
{
	if (bpf_map_lookup_elem(m->guard_drop, k, v))
		return -ENOENT;
	return v->plen == k->prefixlen ? 0 : -ENOENT;
}

/**
 * tp_guard_drop_add() - put a prefix on the drop list.
 * @m:      maps.
 * @prefix: the prefix (bits past @plen are cleared).
 * @plen:   its length in the 128-bit space (IPv4: 96 + length).
 * @owner:  enum tp_owner of the entry.
 *
 * An entry of that exact prefix stays as it is (and whose it is).
 *
 * Return: 0, -EEXIST (there already), -EINVAL, -ENOSPC (the list is
 * full: capacity.guard_prefixes), or -errno.
 */
int tp_guard_drop_add(const struct tp_maps *m, const struct tp_addr *prefix,
		      unsigned int plen, __u8 owner)
{
	struct tp_guard_drop_val v = { .owner = owner, .plen = plen };
	struct tp_guard_key k;

	if (plen > 128)
		return -EINVAL;
	tp_guard_key_of(&k, prefix, plen);
	if (!tp_guard_get_exact(m, &k, &v))
		return -EEXIST;
	v.owner = owner;
	v.plen = plen;
	if (bpf_map_update_elem(m->guard_drop, &k, &v, BPF_NOEXIST))
		return errno == E2BIG ? -ENOSPC : -errno;
	return 0;
}

/**
 * tp_guard_drop_del() - take a prefix off the drop list.
 * @m:      maps.
 * @prefix: the prefix.
 * @plen:   its length (128-bit space).
 * @owner:  remove only if this owner wrote it; TP_OWNER_NONE: any.
 *
 * Return: 0, -ENOENT (no such prefix), -EPERM (another owner's), -errno.
 */
int tp_guard_drop_del(const struct tp_maps *m, const struct tp_addr *prefix,
		      unsigned int plen, __u8 owner)
{
	struct tp_guard_drop_val v;
	struct tp_guard_key k;

	if (plen > 128)
		return -EINVAL;
	tp_guard_key_of(&k, prefix, plen);
	if (tp_guard_get_exact(m, &k, &v))
		return -ENOENT;
	if (owner != TP_OWNER_NONE && v.owner != owner)
		return -EPERM;
	return bpf_map_delete_elem(m->guard_drop, &k) ? -errno : 0;
}

static int tp_guard_row_cmp(const void *pa, const void *pb)
{
	const struct tp_guard_row *a = pa, *b = pb;
	int c = memcmp(&a->key.addr, &b->key.addr, sizeof(a->key.addr));

	if (c)
		return c;
	return (a->key.prefixlen > b->key.prefixlen) -
	       (a->key.prefixlen < b->key.prefixlen);
}

/**
 * tp_guard_drop_list() - the drop list, sorted by address and length.
 * @m:    maps.
 * @rows: the entries (free() them).
 * @n:    how many.
 *
 * Return: 0, -ENOMEM, or the map's -errno (tp_map_collect()).
 */
int tp_guard_drop_list(const struct tp_maps *m, struct tp_guard_row **rows,
		       size_t *n)
{
	return TP_MAP_COLLECT_SORTED(m->guard_drop, struct tp_guard_row, key,
				     val, rows, n, tp_guard_row_cmp);
}
