// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Identities: (zone, prefix) -> identity in the tp_identity LPM trie, and
 * identity -> name in tp_id_names, with tp_id_by_name its inverse so a
 * name resolves in one lookup however many there are.  Every prefix
 * change bumps the policy revision: an identity change can change a
 * flow's decision.  No write walks a map.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "identity.h"

static const struct {
	__u32 id;
	const char *name;
} tp_reserved_ids[] = {
	{ TP_ID_UNKNOWN, "unknown" }, { TP_ID_HOST, "host" },
	{ TP_ID_WORLD, "world" },     { TP_ID_TAILNET, "tailnet" },
	{ TP_ID_CLUSTER, "cluster" },
};

#define N_RESERVED (sizeof(tp_reserved_ids) / sizeof(tp_reserved_ids[0]))

/** tp_addr_mask() - clear the bits of @a past @plen (0..128). */
void tp_addr_mask(struct tp_addr *a, unsigned int plen)
{
	unsigned int i;

	for (i = 0; i < 16; i++) {
		if (plen >= 8)
			plen -= 8;
		else if (plen) {
			a->b[i] &= (__u8)(0xff << (8 - plen));
			plen = 0;
		} else {
			a->b[i] = 0;
		}
	}
}

/**
 * tp_policy_bump_rev() - make every established flow be decided again on
 * its next packet.
 * @m: maps.
 *
 * A read-modify-write of the whole tp_config entry, which also holds the
 * SNAT fields the loader writes (tpd_snat_config_write()) the same way:
 * both run under the writers' lock (tp_pins_lock()), so neither loses the
 * other's change.
 *
 * Return: 0 or -errno.
 */
int tp_policy_bump_rev(const struct tp_maps *m)
{
	struct tp_config cfg = {};
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->config, &zero, &cfg))
		return -errno;
	cfg.policy_rev++;
	if (bpf_map_update_elem(m->config, &zero, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

/*
 * The entry for exactly @k's prefix.  A lookup returns the longest entry
 * covering the address no longer than @k's prefix; its own length tells
 * whether that is @k's.
 */
static int tp_identity_get_exact(const struct tp_maps *m,
				 const struct tp_identity_key *k,
				 struct tp_identity_val *v)
{
	if (bpf_map_lookup_elem(m->identity, k, v))
		return -ENOENT;
	return TP_IDENTITY_PLEN(v->plen) == k->prefixlen ? 0 : -ENOENT;
}

static void tp_identity_key(struct tp_identity_key *k, __u16 zone,
			    const struct tp_addr *prefix, unsigned int plen)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = TP_IDENTITY_PLEN(plen);
	k->zone = zone;
	k->addr = *prefix;
	tp_addr_mask(&k->addr, plen);
}

/**
 * tp_identity_set() - give a prefix of a zone an identity.
 * @m:      maps.
 * @zone:   zone (0: the cluster/node side).
 * @prefix: address; bits past @plen are ignored.
 * @plen:   prefix length in the 128-bit space (IPv4 /24 is 120).
 * @id:     identity, not 0.
 * @owner:  enum tp_owner.
 *
 * Return: 0 or -errno (-EINVAL bad input, -EPERM the prefix belongs to
 * another owner, -ENOSPC tp_identity is full: tp_strerror() says so).
 */
int tp_identity_set(const struct tp_maps *m, __u16 zone,
		    const struct tp_addr *prefix, unsigned int plen, __u32 id,
		    __u8 owner)
{
	struct tp_identity_val v = { .id = id, .owner = owner, .plen = plen },
			       old;
	struct tp_identity_key k;

	tp_limit_reset();
	if (plen > 128 || id == TP_ID_UNKNOWN)
		return -EINVAL;
	tp_identity_key(&k, zone, prefix, plen);
	if (!tp_identity_get_exact(m, &k, &old)) {
		if (old.owner != owner && owner != TP_OWNER_TPCTL)
			return -EPERM;
		if (old.id == id && old.owner == owner)
			return 0;
	}
	if (bpf_map_update_elem(m->identity, &k, &v, BPF_ANY))
		return tp_limit_errno(-errno, TP_LIMIT_IDENTITY);
	return tp_policy_bump_rev(m);
}

/**
 * tp_identity_del() - remove a prefix.
 * @m:      maps.
 * @zone:   zone.
 * @prefix: address.
 * @plen:   prefix length (128-bit space).
 * @owner:  remove only if this owner wrote it; TP_OWNER_NONE: any owner.
 *
 * Return: 0, -ENOENT, -EPERM (another owner's), or -errno.
 */
int tp_identity_del(const struct tp_maps *m, __u16 zone,
		    const struct tp_addr *prefix, unsigned int plen, __u8 owner)
{
	struct tp_identity_key k;
	struct tp_identity_val old;

	if (plen > 128)
		return -EINVAL;
	tp_identity_key(&k, zone, prefix, plen);
	if (tp_identity_get_exact(m, &k, &old))
		return -ENOENT;
	if (owner != TP_OWNER_NONE && old.owner != owner)
		return -EPERM;
	if (bpf_map_delete_elem(m->identity, &k))
		return -errno;
	return tp_policy_bump_rev(m);
}

/**
 * tp_identity_lookup() - the identity the datapath gives @addr in @zone.
 *
 * Return: 0 with *@id set, -ENOENT when no prefix matches.
 */
int tp_identity_lookup(const struct tp_maps *m, __u16 zone,
		       const struct tp_addr *addr, __u32 *id)
{
	struct tp_identity_key k;
	struct tp_identity_val v;

	tp_identity_key(&k, zone, addr, 128);
	if (bpf_map_lookup_elem(m->identity, &k, &v))
		return -ENOENT;
	*id = v.id;
	return 0;
}

/**
 * tp_map_empty() - delete every entry of hash @fd.
 * @fd:       the map.
 * @key_size: its key size.
 *
 * Keys are collected first: deleting while walking restarts the walk at
 * every delete.
 *
 * Return: 0 or -ENOMEM.
 */
int tp_map_empty(int fd, size_t key_size)
{
	size_t n, i;
	char *keys;
	void *all;
	int err;

	err = tp_map_keys(fd, key_size, &all, &n);
	if (err)
		return err;
	keys = all;
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, keys + i * key_size);
	free(keys);
	return 0;
}

/* tp_id_by_name's key of @name: NUL-padded, so equal names are equal keys. */
static void tp_id_name_key(struct tp_id_name_key *k, const char *name)
{
	size_t len = strnlen(name, sizeof(k->name) - 1);

	memset(k, 0, sizeof(*k));
	memcpy(k->name, name, len);
}

/* Drop @k from tp_id_by_name if it still says @id. */
static void tp_id_by_name_forget(const struct tp_maps *m,
				 const struct tp_id_name_key *k, __u32 id)
{
	__u32 cur;

	if (!bpf_map_lookup_elem(m->id_by_name, k, &cur) && cur == id)
		bpf_map_delete_elem(m->id_by_name, k);
}

static bool tp_identity_name_valid(const char *name)
{
	size_t i, len = strlen(name);
	bool digits = true;

	if (!len || len >= TP_IDENTITY_NAME_LEN)
		return false;
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)name[i]) &&
		    !strchr("_.:/-", name[i]))
			return false;
		if (!isdigit((unsigned char)name[i]))
			digits = false;
	}
	return !digits;
}

/**
 * tp_identity_name_ok() - whether @name can name a user identity:
 * letters, digits and "_.:/-", not all digits, shorter than
 * TP_IDENTITY_NAME_LEN, and neither a reserved name nor "any".
 */
bool tp_identity_name_ok(const char *name)
{
	size_t i;

	if (!tp_identity_name_valid(name) || !strcmp(name, "any"))
		return false;
	for (i = 0; i < N_RESERVED; i++)
		if (!strcmp(name, tp_reserved_ids[i].name))
			return false;
	return true;
}

/**
 * tp_identity_name_set() - name an identity.
 * @m:     maps.
 * @id:    a user identity (>= TP_ID_USER_MIN).
 * @name:  the name: letters, digits, "_.:/-", not all digits, unique.
 * @owner: enum tp_owner.
 *
 * Return: 0, -EINVAL (bad name or reserved id), -EEXIST (the name names
 * another identity), -ENOSPC (tp_id_names is full), or -errno.
 */
int tp_identity_name_set(const struct tp_maps *m, __u32 id, const char *name,
			 __u8 owner)
{
	struct tp_identity_name v = { .owner = owner }, old;
	struct tp_id_name_key nk, ok;
	bool had;
	__u32 other;

	tp_limit_reset();
	if (id < TP_ID_USER_MIN || !tp_identity_name_ok(name))
		return -EINVAL;
	if (!tp_identity_parse(m, name, &other) && other != id)
		return -EEXIST;
	snprintf(v.name, sizeof(v.name), "%s", name);
	tp_id_name_key(&nk, name);
	had = !bpf_map_lookup_elem(m->id_names, &id, &old);
	/* the index first: a name never resolves to nothing it names */
	if (bpf_map_update_elem(m->id_by_name, &nk, &id, BPF_ANY))
		return tp_limit_errno(-errno, TP_LIMIT_ID_NAMES);
	if (bpf_map_update_elem(m->id_names, &id, &v, BPF_ANY)) {
		int err = tp_limit_errno(-errno, TP_LIMIT_ID_NAMES);

		if (!had || strcmp(old.name, name))
			bpf_map_delete_elem(m->id_by_name, &nk);
		return err;
	}
	if (had && strcmp(old.name, name)) {
		tp_id_name_key(&ok, old.name);
		tp_id_by_name_forget(m, &ok, id);
	}
	return 0;
}

/** tp_identity_name_del() - forget an identity's name. */
int tp_identity_name_del(const struct tp_maps *m, __u32 id)
{
	struct tp_identity_name v;
	struct tp_id_name_key nk;

	if (bpf_map_lookup_elem(m->id_names, &id, &v))
		return -errno;
	if (bpf_map_delete_elem(m->id_names, &id))
		return -errno;
	tp_id_name_key(&nk, v.name);
	tp_id_by_name_forget(m, &nk, id);
	return 0;
}

/**
 * tp_identity_names_rebuild() - build tp_id_by_name from tp_id_names.
 * @m: maps.
 *
 * For pins from before the index (the loader calls it once, at load).
 * O(names), never on a write path.
 *
 * Return: the number of names indexed, or -errno.
 */
long tp_identity_names_rebuild(const struct tp_maps *m)
{
	__u32 id, nid, *pid = NULL;
	struct tp_identity_name v;
	struct tp_id_name_key nk;
	long n = 0;
	int err;

	err = tp_map_empty(m->id_by_name, sizeof(nk));
	tp_limit_reset();
	while (!err && !bpf_map_get_next_key(m->id_names, pid, &nid)) {
		id = nid;
		pid = &id;
		if (bpf_map_lookup_elem(m->id_names, &id, &v))
			continue;
		v.name[sizeof(v.name) - 1] = '\0';
		tp_id_name_key(&nk, v.name);
		if (bpf_map_update_elem(m->id_by_name, &nk, &id, BPF_ANY))
			err = tp_limit_errno(-errno, TP_LIMIT_ID_NAMES);
		else
			n++;
	}
	return err ? err : n;
}

/**
 * tp_identity_name() - an identity's name, or its number as text.
 * @m:   maps.
 * @id:  identity.
 * @buf: room for the name.
 * @len: its size (TP_IDENTITY_NAME_LEN is always enough).
 */
const char *tp_identity_name(const struct tp_maps *m, __u32 id, char *buf,
			     size_t len)
{
	struct tp_identity_name v;
	size_t i;

	for (i = 0; i < N_RESERVED; i++) {
		if (tp_reserved_ids[i].id == id) {
			snprintf(buf, len, "%s", tp_reserved_ids[i].name);
			return buf;
		}
	}
	if (m && m->id_names >= 0 && !bpf_map_lookup_elem(m->id_names, &id, &v))
		snprintf(buf, len, "%s", v.name);
	else
		snprintf(buf, len, "%u", id);
	return buf;
}

/**
 * tp_identity_parse() - an identity by number, reserved name or name.
 * @m:  maps (for user names; may be NULL).
 * @s:  the text.
 * @id: the identity.
 *
 * "any" is not an identity: callers that accept it handle it first.
 *
 * Return: 0 or -ENOENT.
 */
int tp_identity_parse(const struct tp_maps *m, const char *s, __u32 *id)
{
	struct tp_identity_name v;
	__u32 k, next, *prev = NULL;
	unsigned long n;
	char *end;
	size_t i;

	for (i = 0; i < N_RESERVED; i++) {
		if (!strcmp(s, tp_reserved_ids[i].name)) {
			*id = tp_reserved_ids[i].id;
			return 0;
		}
	}
	errno = 0;
	n = strtoul(s, &end, 10);
	if (*s && !*end && !errno && n <= 0xffffffffUL &&
	    isdigit((unsigned char)*s)) {
		*id = n;
		return 0;
	}
	if (!m || m->id_names < 0)
		return -ENOENT;
	if (m->id_by_name >= 0) {
		struct tp_id_name_key nk;

		/* one lookup, checked against tp_id_names, which decides */
		if (strlen(s) >= sizeof(nk.name))
			return -ENOENT;
		tp_id_name_key(&nk, s);
		if (bpf_map_lookup_elem(m->id_by_name, &nk, &k) ||
		    bpf_map_lookup_elem(m->id_names, &k, &v) ||
		    strncmp(v.name, s, sizeof(v.name)))
			return -ENOENT;
		*id = k;
		return 0;
	}
	/* maps without the index (not from the pins or an object): walk */
	while (!bpf_map_get_next_key(m->id_names, prev, &next)) {
		k = next;
		prev = &k;
		if (!bpf_map_lookup_elem(m->id_names, &k, &v) &&
		    !strcmp(v.name, s)) {
			*id = k;
			return 0;
		}
	}
	return -ENOENT;
}
