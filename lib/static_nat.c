// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Static 1:1 NAT entries: checked, then written to both maps (tailnet
 * side first the inner side's index, so that a half-written entry
 * translates nothing: the datapath finds an entry coming in by
 * tp_static_nat and going out by tp_static_nat_rev, and a packet to the
 * tailnet address can only get a reply once the way in exists).
 *
 * The checks (abi.h): both addresses of one family and different; a
 * tailnet address once per zone, and never in zone 0 and a zone at once;
 * an inner address once; no address both a tailnet and an inner one; no
 * address a service VIP.  An add reads the whole tailnet-side map once
 * (one entry a pod, so a few thousand at most in practice) and the
 * services' keys once; a delete looks up two entries, and a service write
 * asks tp_static_nat_uses(), three lookups.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "static_nat.h"

struct tp_snat_row {
	struct tp_static_nat_key k;
	struct tp_static_nat v;
};

struct tp_svc_row_ {
	struct tp_svc_key k;
	struct tp_svc v;
};

/*
 * Move the entry count (tp_static_nat_n) by @delta; @set: to @delta.  The
 * datapath skips the stage at 0, so the count goes up before an entry is
 * written and down after one is deleted: never below the truth.
 */
static void tp_static_nat_count(const struct tp_maps *m, int delta, bool set)
{
	__u32 zero = 0, n = 0;

	if (m->static_nat_n < 0)
		return;
	if (!set && bpf_map_lookup_elem(m->static_nat_n, &zero, &n))
		n = 0;
	if (set)
		n = (__u32)delta;
	else if (delta < 0 && n < (__u32)-delta)
		n = 0;
	else
		n += delta;
	bpf_map_update_elem(m->static_nat_n, &zero, &n, BPF_ANY);
}

static void tp_static_nat_entry_of(const struct tp_snat_row *r,
				   struct tp_static_nat_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->tailnet = r->k.addr;
	e->inner = r->v.addr;
	e->zone = r->k.zone;
	e->owner = r->v.owner;
}

static const char *tp_zone_words(__u16 zone, char *buf, size_t len)
{
	if (!zone)
		snprintf(buf, len, "in every zone");
	else
		snprintf(buf, len, "in zone %u", zone);
	return buf;
}

/* The checks against the entries there are; 0, -EEXIST or 1: @e is there. */
static int tp_static_nat_check_rows(const struct tp_snat_row *rows, size_t n,
				    const struct tp_static_nat_entry *e,
				    char *why, size_t len)
{
	char a[TP_ADDR_STRLEN], b[TP_ADDR_STRLEN], z[32];
	size_t i;

	for (i = 0; i < n; i++) {
		const struct tp_snat_row *r = &rows[i];
		bool same_t =
			!memcmp(&r->k.addr, &e->tailnet, sizeof(e->tailnet));

		tp_addr_format(&r->k.addr, a, sizeof(a));
		tp_addr_format(&r->v.addr, b, sizeof(b));
		tp_zone_words(r->k.zone, z, sizeof(z));
		if (same_t && r->k.zone == e->zone &&
		    !memcmp(&r->v.addr, &e->inner, sizeof(e->inner)))
			return 1;
		if (same_t &&
		    (r->k.zone == e->zone || !r->k.zone || !e->zone)) {
			snprintf(why, len,
				 "%s is already the tailnet address of %s %s",
				 a, b, z);
			return -EEXIST;
		}
		if (!memcmp(&r->v.addr, &e->inner, sizeof(e->inner))) {
			snprintf(why, len,
				 "%s already has the tailnet address %s %s", b,
				 a, z);
			return -EEXIST;
		}
		if (!memcmp(&r->v.addr, &e->tailnet, sizeof(e->tailnet)) ||
		    !memcmp(&r->k.addr, &e->inner, sizeof(e->inner))) {
			snprintf(
				why, len,
				"an address cannot be both a tailnet and an inner address: "
				"%s -> %s %s",
				a, b, z);
			return -EEXIST;
		}
	}
	return 0;
}

/* Neither address may be a service VIP: -EADDRINUSE names the service. */
static int tp_static_nat_check_vips(const struct tp_maps *m,
				    const struct tp_static_nat_entry *e,
				    char *why, size_t len)
{
	struct tp_svc_row_ *rows;
	char s[TP_SVC_STRLEN];
	size_t n, i;
	int err;

	err = TP_MAP_COLLECT(m->services, struct tp_svc_row_, k, v, &rows, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (memcmp(&rows[i].k.vip, &e->tailnet, sizeof(e->tailnet)) &&
		    memcmp(&rows[i].k.vip, &e->inner, sizeof(e->inner)))
			continue;
		tp_svc_key_format(&rows[i].k, s, sizeof(s));
		snprintf(why, len,
			 "a static NAT address cannot be a service VIP: %s", s);
		err = -EADDRINUSE;
		break;
	}
	free(rows);
	return err;
}

/* Family and shape of @e on its own. */
static int tp_static_nat_check(const struct tp_static_nat_entry *e, char *why,
			       size_t len)
{
	static const struct tp_addr zero;
	char a[TP_ADDR_STRLEN], b[TP_ADDR_STRLEN];

	tp_addr_format(&e->tailnet, a, sizeof(a));
	tp_addr_format(&e->inner, b, sizeof(b));
	if (tp_addr_is_v4(&e->tailnet) != tp_addr_is_v4(&e->inner)) {
		snprintf(
			why, len,
			"%s and %s are of different families: static NAT keeps the family",
			a, b);
		return -EAFNOSUPPORT;
	}
	if (!memcmp(&e->tailnet, &e->inner, sizeof(e->inner))) {
		snprintf(why, len,
			 "the tailnet and the inner address are the same (%s)",
			 a);
		return -EINVAL;
	}
	if (!memcmp(&e->tailnet, &zero, sizeof(zero)) ||
	    !memcmp(&e->inner, &zero, sizeof(zero)) ||
	    (tp_addr_is_v4(&e->tailnet) &&
	     (!e->tailnet.w[3] || !e->inner.w[3]))) {
		snprintf(why, len,
			 "an unspecified address cannot be translated");
		return -EINVAL;
	}
	if (e->owner == TP_OWNER_NONE) {
		snprintf(why, len, "an entry needs an owner");
		return -EINVAL;
	}
	return 0;
}

/**
 * tp_static_nat_add() - add a static 1:1 NAT entry.
 * @m:   maps (tp_static_nat, tp_static_nat_rev, tp_services).
 * @e:   the entry.
 * @why: room for a one-line reason when it is refused; may be NULL.
 * @len: its size.
 *
 * The same entry again is no change (its owner stays).  Nothing is
 * written when the entry is refused.
 *
 * Return: 0, or -EINVAL (an unspecified address, both the same, no
 * owner), -EAFNOSUPPORT (two families), -EEXIST (an address taken by
 * another entry), -EADDRINUSE (a service VIP), -ENOSPC (the maps are
 * full), another -errno of the maps.
 */
int tp_static_nat_add(const struct tp_maps *m,
		      const struct tp_static_nat_entry *e, char *why,
		      size_t len)
{
	struct tp_static_nat_key k = { .zone = e->zone, .addr = e->tailnet };
	struct tp_static_nat fwd = { .addr = e->inner,
				     .zone = e->zone,
				     .owner = e->owner };
	struct tp_static_nat rev = { .addr = e->tailnet,
				     .zone = e->zone,
				     .owner = e->owner };
	struct tp_snat_row *rows;
	char scratch[8];
	size_t n;
	int err;

	if (!why) {
		why = scratch;
		len = sizeof(scratch);
	}
	why[0] = '\0';
	err = tp_static_nat_check(e, why, len);
	if (err)
		return err;
	err = TP_MAP_COLLECT(m->static_nat, struct tp_snat_row, k, v, &rows,
			     &n);
	if (err)
		return err;
	err = tp_static_nat_check_rows(rows, n, e, why, len);
	free(rows);
	if (err)
		return err > 0 ? 0 : err;
	err = tp_static_nat_check_vips(m, e, why, len);
	if (err)
		return err;
	tp_static_nat_count(m, 1, false);
	if (bpf_map_update_elem(m->static_nat_rev, &e->inner, &rev,
				BPF_NOEXIST)) {
		err = -errno;
		goto fail;
	}
	if (bpf_map_update_elem(m->static_nat, &k, &fwd, BPF_NOEXIST)) {
		err = -errno;
		bpf_map_delete_elem(m->static_nat_rev, &e->inner);
		goto fail;
	}
	return 0;
fail:
	tp_static_nat_count(m, -1, false);
	if (err == -E2BIG || err == -ENOMEM)
		err = -ENOSPC;
	snprintf(why, len, "static NAT entry not written: %s%s", strerror(-err),
		 err == -ENOSPC ? " (the static NAT maps are full)" : "");
	return err;
}

/* The entry of @tailnet in any zone, if exactly one: 0, -ENOENT or -EEXIST. */
static int tp_static_nat_find_any(const struct tp_maps *m,
				  const struct tp_addr *tailnet,
				  struct tp_static_nat_key *k)
{
	struct tp_snat_row *rows;
	size_t n, i, found = 0;
	int err;

	err = TP_MAP_COLLECT(m->static_nat, struct tp_snat_row, k, v, &rows,
			     &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (memcmp(&rows[i].k.addr, tailnet, sizeof(*tailnet)))
			continue;
		*k = rows[i].k;
		found++;
	}
	free(rows);
	return found == 1 ? 0 : found ? -EEXIST : -ENOENT;
}

/**
 * tp_static_nat_del() - delete the static 1:1 NAT entry of a tailnet address.
 * @m:        maps.
 * @zone:     its zone (0: every zone).
 * @any_zone: ignore @zone: the one entry of @tailnet, whatever its zone.
 * @tailnet:  the tailnet address.
 * @old:      the entry deleted, or NULL.
 *
 * Return: 0, -ENOENT (no such entry), -EEXIST (@any_zone and entries in
 * several zones: name one), or another -errno.
 */
int tp_static_nat_del(const struct tp_maps *m, __u16 zone, bool any_zone,
		      const struct tp_addr *tailnet,
		      struct tp_static_nat_entry *old)
{
	struct tp_static_nat_key k = { .zone = zone, .addr = *tailnet };
	struct tp_static_nat fwd, rev;
	struct tp_snat_row r;
	int err;

	if (any_zone) {
		err = tp_static_nat_find_any(m, tailnet, &k);
		if (err)
			return err;
	}
	if (bpf_map_lookup_elem(m->static_nat, &k, &fwd))
		return errno == ENOENT ? -ENOENT : -errno;
	if (bpf_map_delete_elem(m->static_nat, &k))
		return -errno;
	/* the inner side goes only when it is this entry's */
	if (!bpf_map_lookup_elem(m->static_nat_rev, &fwd.addr, &rev) &&
	    !memcmp(&rev.addr, tailnet, sizeof(*tailnet)) && rev.zone == k.zone)
		bpf_map_delete_elem(m->static_nat_rev, &fwd.addr);
	tp_static_nat_count(m, -1, false);
	if (old) {
		r.k = k;
		r.v = fwd;
		tp_static_nat_entry_of(&r, old);
	}
	return 0;
}

/**
 * tp_static_nat_recount() - set the entry count (tp_static_nat_n) to @n,
 * the entries a tp_static_nat_list() under the same hold of the writers'
 * lock found: a count a crash left too high is exact again.
 * @m: maps.
 * @n: the number of entries.
 */
void tp_static_nat_recount(const struct tp_maps *m, size_t n)
{
	tp_static_nat_count(m, (int)n, true);
}

static int tp_static_nat_cmp(const void *pa, const void *pb)
{
	const struct tp_static_nat_entry *a = pa, *b = pb;
	int c = a->zone - b->zone;

	return c ? c : memcmp(&a->tailnet, &b->tailnet, sizeof(a->tailnet));
}

/**
 * tp_static_nat_list() - every static 1:1 NAT entry, by zone and tailnet address.
 * @m:   maps.
 * @out: the entries (free() them); NULL when there are none.
 * @n:   how many.
 *
 * Return: 0 or -errno.
 */
int tp_static_nat_list(const struct tp_maps *m,
		       struct tp_static_nat_entry **out, size_t *n)
{
	struct tp_static_nat_entry *es;
	struct tp_snat_row *rows;
	size_t i;
	int err;

	*out = NULL;
	*n = 0;
	err = TP_MAP_COLLECT(m->static_nat, struct tp_snat_row, k, v, &rows, n);
	if (err)
		return err;
	if (!*n) {
		free(rows);
		return 0;
	}
	es = calloc(*n, sizeof(*es));
	if (!es) {
		free(rows);
		*n = 0;
		return -ENOMEM;
	}
	for (i = 0; i < *n; i++)
		tp_static_nat_entry_of(&rows[i], &es[i]);
	free(rows);
	qsort(es, *n, sizeof(*es), tp_static_nat_cmp);
	*out = es;
	return 0;
}

/**
 * tp_static_nat_uses() - is @addr a static NAT address where a service in
 * @zone would see it?  Writers of service VIPs ask, at the cost of three
 * lookups: an inner address, or a tailnet address of every zone or of
 * @zone.  (A zone-0 service whose VIP is a tailnet address of one zone
 * only is not found here; tp_static_nat_add() refuses the other order,
 * and in that zone the static entry, translated first, would win.)
 * @m:    maps; false when they have no static NAT maps.
 * @zone: the service's zone, 0 for all.
 * @addr: the address.
 */
bool tp_static_nat_uses(const struct tp_maps *m, __u16 zone,
			const struct tp_addr *addr)
{
	struct tp_static_nat_key k = { .zone = 0, .addr = *addr };
	struct tp_static_nat v;

	if (m->static_nat < 0 || m->static_nat_rev < 0)
		return false;
	if (!bpf_map_lookup_elem(m->static_nat_rev, addr, &v) ||
	    !bpf_map_lookup_elem(m->static_nat, &k, &v))
		return true;
	k.zone = zone;
	return zone && !bpf_map_lookup_elem(m->static_nat, &k, &v);
}
