// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Load, pin, migrate, attach, detach.
 *
 * Maps are pinned by name under the pin root.  On load, a pinned map whose
 * type, key, value, size and flags match the new object's is reused as is
 * (conntrack, services, NAT survive restarts and upgrades).  One that does
 * not match is renamed aside, the new map is created and pinned, and the
 * old entries are copied over when key and value layouts are unchanged
 * (a resize); otherwise the map is replaced and a warning names it.
 *
 * TC programs are attached with tcx links (kernel >= 6.6), pinned under
 * PIN_ROOT/links/IFNAME-{ingress,egress} (a tailnet interface has both,
 * an uplink only ingress: tp_from_uplink); a later start swaps the program
 * inside the pinned link (bpf_link_update), so there is no instant without
 * a program.  Older kernels get clsact filters replaced in place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conntrack.h"
#include "datapath.h"
#include "identity.h"
#include "iface.h"
#include "links.h"
#include "log.h"
#include "pins.h"
#include "policy.h"
#include "service.h"
#include "slab.h"
#include "snat.h"
#include "tailplane.skel.h"
#include "xdp.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

/* Not in libbpf 1.1's headers; stable kernel ABI values. */
#define TPD_BPF_TCX_INGRESS 46
#define TPD_BPF_TCX_EGRESS  47

/*
 * Looked up by name, not through the skeleton: an object built without it
 * (before the uplink datapath) still loads, and its uplinks are only
 * described.
 */
#define TPD_PROG_FROM_UPLINK_NAME "tp_from_uplink"

/*
 * The loaded programs are pinned under PIN_ROOT/progs_<fingerprint>/, the
 * fingerprint being that of the object and of every configuration value
 * that goes into the load (tpd_load_fingerprint()).  A restart that finds
 * that directory takes programs and maps from their pins: no ELF or
 * kernel BTF to parse, no verifier run (most of a start's time).
 */
#define TPD_PROGS_PREFIX "progs_"

/* At most this many maps in the object (tpd_pins_missing()). */
#define TPD_MAX_MAPS 128

static const char *const tpd_prog_names[TPD_PROG_MAX] = {
	[TPD_PROG_FROM_TAILNET] = "tp_from_tailnet",
	[TPD_PROG_TO_TAILNET] = "tp_to_tailnet",
	[TPD_PROG_FROM_UPLINK] = TPD_PROG_FROM_UPLINK_NAME,
};

#define TPD_TC_HANDLE 0x7470 /* "tp" */
#define TPD_TC_PRIO   0x7470

static bool tpd_is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

static bool tpd_fd_is_bpffs(int fd)
{
	struct statfs st;

	return !fstatfs(fd, &st) && st.f_type == BPF_FS_MAGIC;
}

/*
 * Make sure @path is a directory on bpffs, making it (mode 0700) when it
 * does not exist and its parent is on bpffs.  Nothing is made or changed
 * before bpffs is checked, and only a directory made here gets a mode: a
 * pin_root given by mistake (/tmp) or made by an administrator keeps its
 * own.  Every step after the parent is opened is relative to it.
 *
 * Return: 0 or -errno, with @why saying what is wrong.
 */
static int tpd_bpffs_dir(const char *path, char *why, size_t len)
{
	char parent[PATH_MAX], name[PATH_MAX];
	const char *dir, *base;
	int pfd = -1, fd, err = 0;
	bool made = false;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		err = -errno;
		snprintf(why, len, "%s: %s", path, strerror(-err));
		goto cleanup;
	}
	if (fd < 0) {
		/* POSIX dirname() and basename() ignore trailing slashes */
		snprintf(parent, sizeof(parent), "%s", path);
		snprintf(name, sizeof(name), "%s", path);
		dir = dirname(parent);
		base = basename(name);
		if (!*base || strchr(base, '/') || !strcmp(base, ".") ||
		    !strcmp(base, "..")) {
			err = -EINVAL;
			snprintf(why, len, "%s: not a directory name", path);
			goto cleanup;
		}
		pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0) {
			err = -errno;
			snprintf(why, len, "%s: parent directory %s: %s", path,
				 dir, strerror(-err));
			goto cleanup;
		}
		if (!tpd_fd_is_bpffs(pfd)) {
			err = -ENOTSUP;
			snprintf(
				why, len,
				"%s is not on a BPF filesystem (%s is not bpffs): give a pin_root under /sys/fs/bpf",
				path, dir);
			goto cleanup;
		}
		if (!mkdirat(pfd, base, 0700))
			made = true;
		else if (errno !=
			 EEXIST) /* EEXIST: made meanwhile, not by us */
			err = -errno;
		fd = err ? -1
			 : openat(pfd, base,
				  O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					  O_CLOEXEC);
		if (!err && fd < 0)
			err = -errno;
		if (err) {
			snprintf(why, len, "%s: %s", path, strerror(-err));
			goto cleanup;
		}
	}
	if (!tpd_fd_is_bpffs(fd)) {
		err = -ENOTSUP;
		snprintf(
			why, len,
			"%s is not on a BPF filesystem (bpffs): give a pin_root under /sys/fs/bpf",
			path);
		goto cleanup;
	}
	/* mkdir's mode went through the umask; ours must not */
	if (made && fchmod(fd, 0700)) {
		err = -errno;
		snprintf(why, len, "%s: chmod: %s", path, strerror(-err));
	}
cleanup:
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	return err;
}

/**
 * tpd_bpffs_prepare() - make sure @pin_root and its links directory are
 * directories on bpffs, mounting bpffs at /sys/fs/bpf when nothing is
 * mounted there.
 * @pin_root: the pin root.
 *
 * The directories are made 0700 when missing.  Existing ones are used as
 * they are: a pin_root that is not on bpffs is refused without being
 * touched, and the mode of a directory this function did not make is
 * never changed.
 *
 * Return: 0 or -errno (-ENOTSUP: not on bpffs); the error is logged with
 * the path.
 */
int tpd_bpffs_prepare(const char *pin_root)
{
	char links[PATH_MAX], why[PATH_MAX * 2 + 128];
	int err;

	if (!tpd_is_bpffs("/sys/fs/bpf")) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			err = -errno;
			log_error("cannot mount bpffs on /sys/fs/bpf", "error",
				  strerror(-err));
			return err;
		}
		log_info("mounted bpffs", "path", "/sys/fs/bpf");
	}
	err = tpd_bpffs_dir(pin_root, why, sizeof(why));
	if (!err) {
		snprintf(links, sizeof(links), "%s/%s", pin_root,
			 TP_PIN_LINKS_DIR);
		err = tpd_bpffs_dir(links, why, sizeof(why));
	}
	if (err)
		log_error("cannot prepare the pin root", "path", pin_root,
			  "error", why);
	return err;
}

/*
 * Which capacities size which map, one row per map: max_entries is
 * @mult times the capacity @cap, plus the capacity @cap2 when it is not
 * TPD_CAP_MAX, plus @plus.  Arrays indexed by an id (ids start at 1) take
 * one entry more than the count.  @grouped: the ids' counters go
 * TP_STAT_GROUP to an element (abi.h), so the entries are those ids'
 * elements, TP_STAT_ELEMS().
 */
static const struct {
	const char *map;
	enum tpd_capacity cap, cap2;
	__u32 mult, plus;
	bool grouped;
} tpd_capacity_maps[] = {
	{ TP_MAP_SERVICES, TPD_CAP_SERVICES, TPD_CAP_MAX, 1, 0 },
	/* chunks for every service's largest table: tp_slab_chunks_for() */
	{ TP_MAP_MAGLEV_SLAB, TPD_CAP_SERVICES, TPD_CAP_MAX, 0, 0 },
	/* service ids are 1..tp_stat_ids_end(tp_svc_stats) - 1 */
	{ TP_MAP_SVC_STATS, TPD_CAP_SERVICES, TPD_CAP_MAX, 1, 1, true },
	{ TP_MAP_BACKENDS, TPD_CAP_BACKENDS, TPD_CAP_MAX, 1,
	  0 }, /* a hash: ids 1..B */
	/* one entry per backend tuple */
	{ TP_MAP_BE_FRONTENDS, TPD_CAP_BACKENDS, TPD_CAP_MAX, 1, 0 },
	/* a head per service (and id 0's) and a slot per backend */
	{ TP_MAP_SVC_BACKENDS, TPD_CAP_SERVICES, TPD_CAP_BACKENDS, 1, 1 },
	{ TP_MAP_IDENTITY, TPD_CAP_IDENTITIES, TPD_CAP_MAX, 1, 0 },
	{ TP_MAP_ID_NAMES, TPD_CAP_IDENTITIES, TPD_CAP_MAX, 1, 0 },
	{ TP_MAP_ID_BY_NAME, TPD_CAP_IDENTITIES, TPD_CAP_MAX, 1, 0 },
	{ TP_MAP_RULES, TPD_CAP_RULES, TPD_CAP_MAX, 1, 0 },
	/* rule ids are 1..tp_stat_ids_end(tp_rule_stats) - 1 */
	{ TP_MAP_RULE_STATS, TPD_CAP_RULES, TPD_CAP_MAX, 1, 1, true },
	/* TP_RULE_INDEX_ENTRIES(rules) */
	{ TP_MAP_RULE_INDEX, TPD_CAP_RULES, TPD_CAP_MAX, 4, 0 },
	{ TP_MAP_POLICY, TPD_CAP_POLICY_ENTRIES, TPD_CAP_MAX, 1, 0 },
	{ TP_MAP_CT, TPD_CAP_CONNTRACK_TCP, TPD_CAP_MAX, 1, 0 },
	{ TP_MAP_CT_ANY, TPD_CAP_CONNTRACK_OTHER, TPD_CAP_MAX, 1, 0 },
	{ TP_MAP_AFFINITY, TPD_CAP_AFFINITY, TPD_CAP_MAX, 1, 0 },
	{ TP_MAP_FRAGS, TPD_CAP_FRAGMENTS, TPD_CAP_MAX, 1, 0 },
	{ TP_MAP_GUARD_DROP, TPD_CAP_GUARD_PREFIXES, TPD_CAP_MAX, 1, 0 },
	{ TP_MAP_GUARD_BUCKETS, TPD_CAP_GUARD_SOURCES, TPD_CAP_MAX, 1, 0 },
};
_Static_assert(TP_RULE_INDEX_ENTRIES(1) == 4,
	       "tpd_capacity_maps follows TP_RULE_INDEX_ENTRIES");

/* The max_entries of tpd_capacity_maps[@i] under @cfg. */
static __u32 tpd_capacity_max(size_t i, const struct tpd_config *cfg)
{
	__u64 max = (__u64)cfg->capacity[tpd_capacity_maps[i].cap] *
			    tpd_capacity_maps[i].mult +
		    tpd_capacity_maps[i].plus;

	if (!strcmp(tpd_capacity_maps[i].map, TP_MAP_MAGLEV_SLAB))
		return tp_slab_chunks_for(
			cfg->capacity[tpd_capacity_maps[i].cap]);
	if (tpd_capacity_maps[i].cap2 != TPD_CAP_MAX)
		max += cfg->capacity[tpd_capacity_maps[i].cap2];
	if (tpd_capacity_maps[i].grouped)
		max = TP_STAT_ELEMS(max);
	return max > UINT32_MAX ? UINT32_MAX : (__u32)max;
}

#define TPD_N_CAPACITY_MAPS \
	(sizeof(tpd_capacity_maps) / sizeof(tpd_capacity_maps[0]))

/**
 * tpd_set_capacities() - size the maps of an opened, not yet loaded
 * object as @cfg's capacities say (tpd_capacity_maps).
 * @skel: the object.
 * @cfg:  the configuration.
 */
void tpd_set_capacities(struct tailplane *skel, const struct tpd_config *cfg)
{
	struct bpf_map *map;
	size_t i;

	for (i = 0; i < TPD_N_CAPACITY_MAPS; i++) {
		map = bpf_object__find_map_by_name(skel->obj,
						   tpd_capacity_maps[i].map);
		if (map)
			bpf_map__set_max_entries(map, tpd_capacity_max(i, cfg));
	}
}

/* The knobs a load writes into the programs' read-only data. */
static void tpd_knobs_rodata(struct tailplane__rodata *r,
			     const struct tpd_config *cfg)
{
	r->ct_timeout_syn = cfg->ct_timeout[0];
	r->ct_timeout_established = cfg->ct_timeout[1];
	r->ct_timeout_fin = cfg->ct_timeout[2];
	r->ct_timeout_close = cfg->ct_timeout[3];
	r->ct_timeout_udp = cfg->ct_timeout[4];
	r->ct_timeout_icmp = cfg->ct_timeout[5];
	r->maglev_size = cfg->maglev_size;
	r->events_per_sec = cfg->events_per_sec;
	r->events_burst = cfg->events_burst;
}

static void tpd_set_knobs(struct tailplane *skel, const struct tpd_config *cfg)
{
	tpd_knobs_rodata(skel->rodata, cfg);
	tpd_set_capacities(skel, cfg);
}

/*
 * Can @map go into a map of maps of @obj?  It can when its shape is the
 * inner map template's the kernel compares it with (type, key and value
 * size, flags), and the template has BTF: tp_ct and tp_ct_any, inside
 * tp_ct_tables.  Judged by the shape, not by the slots the object fills
 * (libbpf does not tell them): a map of that shape never inserted is only
 * held to the same rule.
 */
static bool tpd_map_inner_btf(struct bpf_object *obj, const struct bpf_map *map)
{
	struct bpf_map *outer, *inner;

	bpf_object__for_each_map(outer, obj)
	{
		inner = bpf_map__inner_map(outer);
		if (inner && bpf_map__btf_value_type_id(inner) &&
		    bpf_map__type(inner) == bpf_map__type(map) &&
		    bpf_map__key_size(inner) == bpf_map__key_size(map) &&
		    bpf_map__value_size(inner) == bpf_map__value_size(map) &&
		    bpf_map__map_flags(inner) == bpf_map__map_flags(map))
			return true;
	}
	return false;
}

/*
 * A pin without BTF (a map reset with bpftool, or made by an older tool)
 * where the object's map has it, for a map that goes into a map of maps:
 * Linux 6.1's bpf_map_meta_equal() compares the inner maps' special
 * fields (timer_off: -EINVAL without BTF, -ENOENT for the template with
 * it) and refuses the insert, so every load of the object fails with
 * EINVAL.  Other maps work without BTF (libbpf's reuse does not look at
 * it, no value holds a spin lock or timer), and which of them libbpf
 * makes with BTF depends on the map type and the kernel (it strips it
 * from some, and retries without it when the kernel refuses): judged for
 * all, a wrong guess would migrate a map on every start.
 */
static bool tpd_pin_lacks_btf(const struct bpf_map_info *old,
			      struct bpf_object *obj, const struct bpf_map *map)
{
	return !old->btf_value_type_id && bpf_map__btf_value_type_id(map) &&
	       tpd_map_inner_btf(obj, map);
}

/*
 * Does the pinned map at @path fit @map of @obj as libbpf would reuse it,
 * and as the kernel would take it into a map of maps?  1 yes, 0 no (it is
 * moved aside and migrated), or -errno.
 */
static int tpd_pin_compatible(const char *path, struct bpf_object *obj,
			      const struct bpf_map *map,
			      struct bpf_map_info *old)
{
	__u32 len = sizeof(*old);
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	memset(old, 0, sizeof(*old));
	err = bpf_obj_get_info_by_fd(fd, old, &len);
	close(fd);
	if (err)
		return -errno;
	if (tpd_pin_lacks_btf(old, obj, map)) {
		log_info(
			"a map pinned without BTF is replaced by one with it, its entries copied (a map of maps refuses it on Linux 6.1)",
			"map", bpf_map__name(map));
		return 0;
	}
	return old->type == bpf_map__type(map) &&
	       old->key_size == bpf_map__key_size(map) &&
	       old->value_size == bpf_map__value_size(map) &&
	       old->max_entries == bpf_map__max_entries(map) &&
	       old->map_flags == bpf_map__map_flags(map);
}

/* One entry at a time: maps without batch operations (LPM tries). */
static long tpd_copy_each(int old_fd, int new_fd,
			  const struct bpf_map_info *info, size_t vsize)
{
	void *key = calloc(1, info->key_size),
	     *next = calloc(1, info->key_size);
	void *val = calloc(1, vsize);
	long n = 0;
	int err = 0;
	void *prev = NULL;

	if (!key || !next || !val) {
		err = -ENOMEM;
		goto out;
	}
	while (!bpf_map_get_next_key(old_fd, prev, next)) {
		memcpy(key, next, info->key_size);
		prev = key;
		if (bpf_map_lookup_elem(old_fd, key, val))
			continue;
		if (bpf_map_update_elem(new_fd, key, val, BPF_ANY)) {
			err = -errno;
			if (err != -E2BIG && err != -ENOSPC)
				break;
			err = 0; /* smaller map: keep what fits */
			continue;
		}
		n++;
	}
out:
	free(key);
	free(next);
	free(val);
	return err ? err : n;
}

/* Write @count entries; a smaller map keeps what fits. */
static long tpd_put_chunk(int fd, void *keys, void *vals, __u32 count,
			  __u32 key_size, size_t vsize)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	__u32 done = count, i;
	long n;

	if (!bpf_map_update_batch(fd, keys, vals, &done, &opts))
		return count;
	/* it stopped at an entry that did not fit: the rest one by one */
	n = done;
	for (i = done; i < count; i++)
		if (!bpf_map_update_elem(
			    fd, (char *)keys + (size_t)i * key_size,
			    (char *)vals + (size_t)i * vsize, BPF_ANY))
			n++;
		else if (errno != E2BIG && errno != ENOSPC)
			return -errno;
	return n;
}

/*
 * A copy's chunk buffer, at most: per-CPU values are the value times the
 * CPUs, a 1 KiB counter group 128 KiB an entry on 128 CPUs, and the
 * kernel holds a buffer as large beside ours.
 */
#define TPD_COPY_CHUNK_BYTES (1u << 20)

/*
 * Copy every entry of @old_fd into @new_fd, up to 4096 at a time (and
 * TPD_COPY_CHUNK_BYTES of values) with the batch operations (a 2M-entry
 * map entry by entry took seconds); maps without them one by one.
 * Returns the count or -errno.
 */
static long tpd_copy_entries(int old_fd, int new_fd,
			     const struct bpf_map_info *info)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	bool percpu = info->type == BPF_MAP_TYPE_PERCPU_ARRAY ||
		      info->type == BPF_MAP_TYPE_PERCPU_HASH ||
		      info->type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
	size_t vsize = percpu ? ((info->value_size + 7) & ~7u) *
					libbpf_num_possible_cpus()
			      : info->value_size;
	size_t tok = info->key_size > 8 ? info->key_size : 8;
	const __u32 chunk = vsize * 4096 <= TPD_COPY_CHUNK_BYTES ? 4096
			    : vsize >= TPD_COPY_CHUNK_BYTES
				    ? 1
				    : TPD_COPY_CHUNK_BYTES / vsize;
	void *keys = calloc(chunk, info->key_size),
	     *vals = calloc(chunk, vsize);
	void *in = calloc(1, tok), *out = calloc(1, tok);
	bool is_array = info->type == BPF_MAP_TYPE_ARRAY ||
			info->type == BPF_MAP_TYPE_PERCPU_ARRAY;
	__u32 new_max = tp_map_max_entries(new_fd);
	bool first = true, last = false;
	long n = 0, put;
	__u32 count;
	int err;

	if (!keys || !vals || !in || !out) {
		n = -ENOMEM;
		goto done;
	}
	while (!last) {
		count = chunk;
		err = bpf_map_lookup_batch(old_fd, first ? NULL : in, out, keys,
					   vals, &count, &opts);
		if (err && errno != ENOENT) {
			/* no batch operations for this map type */
			n = first ? tpd_copy_each(old_fd, new_fd, info, vsize)
				  : -errno;
			goto done;
		}
		last = err; /* ENOENT: this was the last chunk */
		first = false;
		memcpy(in, out, tok);
		if (is_array) {
			/* keys come in order: stop at the new map's end */
			__u32 first_key = *(__u32 *)keys;

			if (first_key >= new_max)
				break;
			if (count > new_max - first_key)
				count = new_max - first_key;
		}
		if (!count)
			continue;
		put = tpd_put_chunk(new_fd, keys, vals, count, info->key_size,
				    vsize);
		if (put < 0) {
			n = put;
			goto done;
		}
		n += put;
	}
done:
	free(keys);
	free(vals);
	free(in);
	free(out);
	return n;
}

struct tpd_aside {
	char path[PATH_MAX];
	char old[PATH_MAX];
	struct bpf_map_info info;
	const struct bpf_map *map;
};

/*
 * Put back the pins a load that did not finish (killed: OOM, kill -9)
 * left moved aside as PATH_old: they are the maps the running programs
 * use, and hold their entries.  A map pinned in their place by that load
 * was never used: it goes.  The load then moves them aside again and
 * migrates them, as the one killed would have.
 */
static void tpd_pins_unaside(struct tailplane *skel)
{
	char old[PATH_MAX];
	struct bpf_map *map;
	const char *path;

	bpf_object__for_each_map(map, skel->obj)
	{
		path = bpf_map__pin_path(map);
		if (!path)
			continue;
		snprintf(old, sizeof(old), "%s_old", path);
		if (access(old, F_OK))
			continue;
		unlink(path);
		if (rename(old, path))
			log_error(
				"cannot put back a map an earlier load moved aside",
				"path", old, "error", strerror(errno));
		else
			log_warn(
				"a map an earlier load moved aside is put back (that load did not finish)",
				"map", bpf_map__name(map));
	}
}

/* Is @map's pin missing, or among the @n pins moved aside? */
static bool tpd_pin_new(const struct bpf_map *map,
			const struct tpd_aside *aside, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (aside[i].map == map)
			return true;
	return access(bpf_map__pin_path(map), F_OK) != 0;
}

/* Move @map's pin aside, as @a records; 0 or -errno. */
static int tpd_pin_aside(struct bpf_map *map, const char *path,
			 struct tpd_aside *a)
{
	snprintf(a->path, sizeof(a->path), "%s", path);
	/* bpffs names take no dots */
	snprintf(a->old, sizeof(a->old), "%s_old", path);
	unlink(a->old);
	if (rename(path, a->old)) {
		log_error("cannot move an incompatible map aside", "map",
			  bpf_map__name(map), "error", strerror(errno));
		return -errno;
	}
	a->map = map;
	return 0;
}

/*
 * Move pins that do not fit the new object aside; returns their count.
 * A new slab (its pin gone, or moved aside) takes the services' pin
 * with it: the running programs read the old slab through the
 * tp_services they hold, so the tables rebuilt into the new slab must
 * not be written there (tpd_migrate() converts the entries).
 */
static int tpd_pins_aside(struct tailplane *skel, struct tpd_aside *aside,
			  int cap)
{
	struct bpf_map *map, *svc = skel->maps.tp_services;
	const char *path;
	int n = 0, ok, err;

	bpf_object__for_each_map(map, skel->obj)
	{
		path = bpf_map__pin_path(map);
		if (!path || access(path, F_OK) || n == cap)
			continue;
		ok = tpd_pin_compatible(path, skel->obj, map, &aside[n].info);
		if (ok == 1)
			continue;
		err = tpd_pin_aside(map, path, &aside[n]);
		if (err)
			return err;
		n++;
	}
	path = bpf_map__pin_path(svc);
	if (n < cap && path && !tpd_pin_new(svc, aside, n) &&
	    tpd_pin_new(skel->maps.tp_maglev_slab, aside, n) &&
	    tpd_pin_compatible(path, skel->obj, svc, &aside[n].info) >= 0) {
		err = tpd_pin_aside(svc, path, &aside[n]);
		if (err)
			return err;
		n++;
	}
	return n;
}

/*
 * tp_services of an older layout, @old_size bytes a value:
 * TP_SVC_V1_SIZE (before per-service tables: the same fields up to
 * @revision, a table flag where @pad now is) or TP_SVC_V2_SIZE (a table
 * per service in tp_maglev: no @table_off), or this layout when the slab
 * is new (its offsets are the old slab's).  Every service keeps its id
 * (conntrack's svc_id names it) and gets no table: its table is rebuilt
 * into the new slab from its backends before the new programs attach, and
 * until then the old programs keep serving from the old maps.
 */
static long tpd_services_convert(int old_fd, int new_fd)
{
	struct tp_svc_key k, next, *prev = NULL;
	__u8 old[sizeof(struct tp_svc)];
	struct tp_svc svc;
	long n = 0;

	while (!bpf_map_get_next_key(old_fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(old_fd, &k, old))
			continue;
		memset(&svc, 0, sizeof(svc));
		memcpy(&svc, old, TP_SVC_V1_SIZE);
		svc.pad = 0; /* V1: was the live-table flag */
		/* no table yet: tpd_datapath_load() builds it */
		svc.table_size = 0;
		svc.table_off = 0;
		if (bpf_map_update_elem(new_fd, &k, &svc, BPF_ANY))
			return -errno;
		n++;
	}
	return n;
}

/*
 * tp_config of the layout before SNAT (TP_CONFIG_V1_SIZE bytes: the
 * policy revision and a pad).  The revision carries over, plus one: a
 * policy change tpctl made through the old map while the new one was
 * being created is then not lost on flows decided under it, which are
 * all decided again.  The SNAT fields are written by the loader after the
 * load (tpd_snat_config_write()).  Returns the new revision or -errno.
 */
static long tpd_config_convert_v1(int old_fd, int new_fd)
{
	__u8 old[TP_CONFIG_V1_SIZE];
	struct tp_config cfg = {};
	__u32 zero = 0;

	_Static_assert(TP_CONFIG_V1_SIZE >= sizeof(cfg.policy_rev),
		       "policy_rev first");
	if (bpf_map_lookup_elem(old_fd, &zero, old))
		return -errno;
	memcpy(&cfg.policy_rev, old, sizeof(cfg.policy_rev));
	cfg.policy_rev++;
	if (bpf_map_update_elem(new_fd, &zero, &cfg, BPF_ANY))
		return -errno;
	return cfg.policy_rev;
}

/*
 * Every key of the map @fd (key size @ksize, at most @max_entries of them);
 * what fits in memory.
 */
static void *tpd_map_keys(int fd, size_t ksize, size_t max_entries, size_t *n)
{
	char *keys = NULL, *p, *prev = NULL;
	size_t cap = 0, steps = 0;

	*n = 0;
	for (;;) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 4096;
			p = realloc(keys, cap * ksize);
			if (!p)
				break;
			keys = p;
			prev = *n ? keys + (*n - 1) * ksize : NULL;
		}
		/* the old programs may still write: a restarted walk is bounded */
		if (steps++ > 4 * max_entries ||
		    bpf_map_get_next_key(fd, prev, keys + *n * ksize))
			break;
		prev = keys + (*n)++ * ksize;
	}
	return keys;
}

/*
 * Pinned conntrack of the layout before one entry per flow (struct
 * tp_ct_entry_v1, lib/conntrack.h), moved aside as @old_fd: every flow
 * entry converted into the new table of its protocol (an old tp_ct may
 * hold every protocol), the reply-key entries the new layout still needs
 * (DNAT, zone crossing) converted, those of untranslated flows dropped:
 * the reversed lookup finds their flows now.  Returns the flows kept.
 */
static long tpd_ct_convert_v1(int old_fd, const struct bpf_map_info *info,
			      struct tailplane *skel, long *rks)
{
	int ct = bpf_map__fd(skel->maps.tp_ct),
	    ct_any = bpf_map__fd(skel->maps.tp_ct_any);
	struct tp_ct_entry_v1 old, flow;
	struct tp_ct_key *keys;
	struct tp_ct_entry e;
	enum tp_ct_v1_kind kind;
	size_t n, i;
	long flows = 0;

	*rks = 0;
	keys = tpd_map_keys(old_fd, sizeof(*keys), info->max_entries, &n);
	for (i = 0; i < n; i++) {
		const struct tp_ct_key *k = &keys[i];
		bool have_flow;

		if (bpf_map_lookup_elem(old_fd, k, &old))
			continue;
		have_flow = (old.flags & TP_CT_F_REPLY_KEY) &&
			    !bpf_map_lookup_elem(old_fd, &old.peer, &flow);
		kind = tp_ct_entry_from_v1(k, &old, have_flow ? &flow : NULL,
					   &e);
		if (kind == TP_CT_V1_DROP ||
		    bpf_map_update_elem(k->proto == IPPROTO_TCP ? ct : ct_any,
					k, &e, BPF_ANY))
			continue;
		if (kind == TP_CT_V1_FLOW)
			flows++;
		else
			(*rks)++;
	}
	free(keys);
	return flows;
}

/* Is @a a conntrack pin of the layout before one entry per flow? */
static bool tpd_ct_is_v1(const struct tpd_aside *a, struct tailplane *skel)
{
	return (a->map == skel->maps.tp_ct || a->map == skel->maps.tp_ct_any) &&
	       a->info.type == BPF_MAP_TYPE_LRU_HASH &&
	       a->info.key_size == sizeof(struct tp_ct_key) &&
	       a->info.value_size == sizeof(struct tp_ct_entry_v1);
}

/* tpd_stats_regroup()'s state: the new element being filled. */
struct tpd_regroup {
	int new_fd;
	size_t ncpu;
	__u32 old_per, new_per, new_max; /* counters an element; elements */
	__u32 elem;			 /* the element in @buf */
	bool dirty;			 /* @buf holds counts */
	struct tp_stat_group *buf;	 /* an element per CPU */
	long ids;			 /* ids carried over */
	int err;
};

static void tpd_regroup_flush(struct tpd_regroup *r)
{
	if (r->dirty &&
	    bpf_map_update_elem(r->new_fd, &r->elem, r->buf, BPF_ANY) &&
	    !r->err)
		r->err = -errno;
	memset(r->buf, 0, r->ncpu * sizeof(*r->buf));
	r->dirty = false;
}

/* Each old id's per-CPU counters into its slot of its new element. */
static int tpd_regroup_chunk(void *ctx, const struct tp_map_chunk *c)
{
	struct tpd_regroup *r = ctx;
	size_t cpu_size = c->val_size / r->ncpu, i, cpu;
	const struct tp_stat *v;
	__u32 key, slot, id;
	bool counted;

	for (i = 0; i < c->n; i++) {
		memcpy(&key, (const char *)c->keys + i * c->key_size,
		       sizeof(key));
		for (slot = 0; slot < r->old_per; slot++) {
			id = key * r->old_per + slot;
			if (TP_STAT_ELEM(id) >= r->new_max)
				return 0; /* a smaller map keeps what fits */
			if (TP_STAT_ELEM(id) != r->elem) {
				tpd_regroup_flush(r);
				r->elem = TP_STAT_ELEM(id);
			}
			counted = false;
			for (cpu = 0; cpu < r->ncpu; cpu++) {
				v = tp_chunk_stat(c, i, cpu, cpu_size, slot);
				if (!v->packets && !v->bytes)
					continue;
				r->buf[cpu].c[TP_STAT_SLOT(id)] = *v;
				counted = true;
			}
			r->dirty |= counted;
			r->ids += counted;
		}
	}
	return r->err;
}

/*
 * tp_rule_stats or tp_svc_stats pinned before the counters were grouped
 * (one struct tp_stat an element), moved aside as @old_fd: every id's
 * counter of every CPU carried into its slot of the grouped map @new_fd
 * (TP_STAT_ELEM(), TP_STAT_SLOT()), so that no exported counter goes
 * backwards across the upgrade.  Per CPU, not summed: the datapath goes
 * on adding to each CPU's copy.  Returns the ids that counted something,
 * or -errno.
 */
static long tpd_stats_regroup(int old_fd, const struct bpf_map_info *info,
			      int new_fd)
{
	int ncpu = libbpf_num_possible_cpus();
	struct tpd_regroup r = { .new_fd = new_fd };
	long err;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	r.ncpu = (size_t)ncpu;
	r.old_per = info->value_size / sizeof(struct tp_stat);
	r.new_max = tp_map_max_entries(new_fd);
	r.buf = calloc(r.ncpu, sizeof(*r.buf));
	if (!r.buf)
		return -ENOMEM;
	err = tp_map_walk(old_fd, 0, tpd_regroup_chunk, &r);
	tpd_regroup_flush(&r);
	free(r.buf);
	if (err || r.err)
		return err ? err : r.err;
	return r.ids;
}

/* Is @a tp_rule_stats or tp_svc_stats of the layout before grouping? */
static bool tpd_stats_ungrouped(const struct tpd_aside *a,
				struct tailplane *skel)
{
	return (a->map == skel->maps.tp_rule_stats ||
		a->map == skel->maps.tp_svc_stats) &&
	       a->info.type == BPF_MAP_TYPE_PERCPU_ARRAY &&
	       a->info.key_size == sizeof(__u32) &&
	       a->info.value_size == sizeof(struct tp_stat) &&
	       bpf_map__value_size(a->map) == sizeof(struct tp_stat_group);
}

/*
 * Bring entries of maps that were moved aside into their new maps.  With
 * a new slab (@slab_new) the services' tables are rebuilt: their entries
 * keep no offset of the old one.
 */
static void tpd_migrate(struct tailplane *skel, struct tpd_aside *aside, int n,
			bool slab_new)
{
	char count[32], rk_count[32];
	long rks;
	int i, old_fd;
	long copied;

	for (i = 0; i < n; i++) {
		const struct bpf_map *map = aside[i].map;

		old_fd = bpf_obj_get(aside[i].old);
		if (old_fd < 0)
			continue;
		if (tpd_ct_is_v1(&aside[i], skel)) {
			copied = tpd_ct_convert_v1(old_fd, &aside[i].info, skel,
						   &rks);
			snprintf(count, sizeof(count), "%ld", copied);
			snprintf(rk_count, sizeof(rk_count), "%ld", rks);
			log_info("conntrack converted to one entry per flow",
				 "map", bpf_map__name(map), "flows", count,
				 "reply_keys", rk_count);
		} else if (tpd_stats_ungrouped(&aside[i], skel)) {
			copied = tpd_stats_regroup(old_fd, &aside[i].info,
						   bpf_map__fd(map));
			snprintf(count, sizeof(count), "%ld", copied);
			if (copied < 0)
				log_error(
					"counters not carried over to the grouped layout",
					"map", bpf_map__name(map), "error",
					strerror((int)-copied));
			else
				log_info(
					"counters carried over to the grouped layout",
					"map", bpf_map__name(map), "ids",
					count);
		} else if (map == skel->maps.tp_services &&
			   aside[i].info.key_size == bpf_map__key_size(map) &&
			   (aside[i].info.value_size == TP_SVC_V1_SIZE ||
			    aside[i].info.value_size == TP_SVC_V2_SIZE ||
			    (slab_new && aside[i].info.value_size ==
						 bpf_map__value_size(map)))) {
			copied = tpd_services_convert(old_fd, bpf_map__fd(map));
			snprintf(count, sizeof(count), "%ld", copied);
			log_info("services converted to the Maglev slab",
				 "entries", count);
		} else if (aside[i].info.type == bpf_map__type(map) &&
			   aside[i].info.key_size == bpf_map__key_size(map) &&
			   aside[i].info.value_size ==
				   bpf_map__value_size(map) &&
			   aside[i].info.type != BPF_MAP_TYPE_RINGBUF) {
			struct timespec t0, t1;
			char ms[32];

			clock_gettime(CLOCK_MONOTONIC, &t0);
			copied = tpd_copy_entries(old_fd, bpf_map__fd(map),
						  &aside[i].info);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			snprintf(count, sizeof(count), "%ld", copied);
			snprintf(ms, sizeof(ms), "%.1f",
				 (t1.tv_sec - t0.tv_sec) * 1e3 +
					 (t1.tv_nsec - t0.tv_nsec) / 1e6);
			log_info("map migrated to its new size", "map",
				 bpf_map__name(map), "entries", count, "ms",
				 ms);
		} else if (!strcmp(bpf_map__name(map), TP_MAP_CONFIG) &&
			   aside[i].info.value_size == TP_CONFIG_V1_SIZE &&
			   aside[i].info.key_size == bpf_map__key_size(map)) {
			copied =
				tpd_config_convert_v1(old_fd, bpf_map__fd(map));
			snprintf(count, sizeof(count), "%ld", copied);
			if (copied < 0)
				log_error(
					"tp_config not converted: policy revision lost",
					"error", strerror((int)-copied));
			else
				log_info(
					"tp_config converted to the SNAT layout",
					"policy_rev", count);
		} else {
			log_warn(
				"map layout changed: replaced, old entries not convertible",
				"map", bpf_map__name(map));
		}
		close(old_fd);
		unlink(aside[i].old);
	}
}

/*
 * Pins from before conntrack was split by protocol: tp_ct holds every
 * flow.  Move the non-TCP entries into the new tp_ct_any, where the
 * programs look for them, so a restart across the change drops no UDP or
 * ICMP flow.  The keys are collected first: deleting while walking a hash
 * restarts the walk.
 */
static void tpd_ct_split(const struct tp_maps *m)
{
	struct tp_ct_key k, next, *prev = NULL, *keys = NULL, *p;
	size_t n = 0, cap = 0, i, moved = 0;
	struct tp_ct_entry e;
	char count[32];

	while (!bpf_map_get_next_key(m->ct, prev, &next)) {
		k = next;
		prev = &k;
		if (k.proto == IPPROTO_TCP)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			p = realloc(keys, cap * sizeof(*p));
			if (!p)
				break;
			keys = p;
		}
		keys[n++] = k;
	}
	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(m->ct, &keys[i], &e))
			continue;
		if (!bpf_map_update_elem(m->ct_any, &keys[i], &e, BPF_ANY))
			moved++;
		bpf_map_delete_elem(m->ct, &keys[i]);
	}
	free(keys);
	snprintf(count, sizeof(count), "%zu", moved);
	log_info(
		"conntrack split by protocol: UDP and ICMP flows moved to tp_ct_any",
		"entries", count);
}

/*
 * Pins from before the writers' indexes (tp_rule_index, tp_id_by_name), or
 * indexes replaced by a layout change: build them from tp_rules and
 * tp_id_names, once, so no existing rule or name is missing from them.
 */
static int tpd_index_rebuild(const struct tpd_datapath *dp, bool rules,
			     bool names)
{
	const struct tp_maps *m = &dp->maps;
	char count[32];
	long n;

	if (rules) {
		n = tp_policy_index_rebuild(m);
		snprintf(count, sizeof(count), "%ld", n);
		if (n < 0) {
			/*
			 * The datapath reads a group missing from the index as
			 * a group without rules: running on a partial index
			 * would ignore rules (denies too).  Refuse, and unpin
			 * the index so that the next start builds it again.
			 */
			log_error("cannot index the rules: not starting",
				  "error", strerror((int)-n));
			bpf_map__unpin(dp->skel->maps.tp_rule_index, NULL);
			return (int)n;
		}
		log_info("rule index built from tp_rules", "rules", count);
	}
	if (names) {
		n = tp_identity_names_rebuild(m);
		snprintf(count, sizeof(count), "%ld", n);
		if (n < 0)
			log_error("cannot index the identity names", "error",
				  strerror((int)-n));
		else
			log_info("name index built from tp_id_names", "names",
				 count);
	}
	return 0;
}

/*
 * tp_iface_slots from tp_ifaces before this load's programs run: new
 * beside old pins (all zero), or behind a version that wrote tp_ifaces
 * alone.  A slot left wrong would be believed over tp_ifaces; one left
 * zero only sends the datapath to tp_ifaces.
 */
static void tpd_iface_slots_rebuild(const struct tp_maps *m)
{
	int n = tp_iface_slots_rebuild(m);
	char count[16];

	snprintf(count, sizeof(count), "%d", n);
	if (n < 0)
		log_error("cannot fill the interface slots", "error",
			  strerror(-n));
	else if (n)
		log_info("interface slots filled from tp_ifaces", "slots",
			 count);
}

/* Put moved pins back after a failed load. */
static void tpd_pins_restore(struct tpd_aside *aside, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (rename(aside[i].old, aside[i].path))
			log_error("cannot restore a map pin", "path",
				  aside[i].path);
}

/*
 * The slab's blocks as tp_services says, after a grace period: extents a
 * writer killed half-way leaked come back.  Under the writers' lock.
 */
static void tpd_slab_reclaim(const struct tp_maps *m)
{
	int n = tp_slab_reclaim(m->slab, m->services, true);
	char count[16];

	snprintf(count, sizeof(count), "%d", n);
	if (n < 0)
		log_error("cannot take back the Maglev slab's free blocks",
			  "error", strerror(-n));
	else
		log_debug("Maglev slab's blocks recounted", "tables", count);
}

/*
 * Bring services to this version's layout before any program of it runs:
 * the per-service index built when its map is new (one walk of the
 * backends), the configured table size recorded for tpctl, and every
 * table built again when the slab is new (an older layout, or another
 * services capacity) or the configured size changed.  Tables are built
 * from the backends, never read back.  The tables of the layout before
 * the slab (tp_maglev) are unpinned: the old programs hold them until
 * they are detached.
 */
static void tpd_services_upgrade(struct tpd_datapath *dp,
				 const struct tpd_config *cfg, bool slab_new,
				 bool index_fresh)
{
	/* the size recorded by the last loader; cfg's when none is */
	__u32 was = tp_service_maglev_cap(&dp->maps);
	/* tpctl must not allocate from the slab while it is recounted */
	int lock = tp_pins_lock(cfg->pin_root), n;
	char count[16], old[PATH_MAX];

	if (lock < 0)
		log_warn(
			"no writers' lock: the Maglev slab's blocks are not recounted",
			"error", strerror(-lock));
	if (index_fresh) {
		n = tp_service_index_rebuild(&dp->maps);
		snprintf(count, sizeof(count), "%d", n);
		if (n < 0)
			log_error("cannot index the services' backends",
				  "error", strerror(-n));
		else
			log_info("services' backends indexed", "services",
				 count);
	}
	/* backends written before tp_be_frontends, or unflagged for a while */
	n = lock >= 0 ? tp_service_frontends_index(&dp->maps) : 0;
	snprintf(count, sizeof(count), "%d", n);
	if (n < 0)
		log_error("cannot index the backends' frontends", "error",
			  strerror(-n));
	else if (n)
		log_info("backends' frontends indexed", "backends", count);
	if (slab_new && bpf_map__pin_path(dp->skel->maps.tp_maglev_slab))
		tp_slab_unpin_stale(
			bpf_map__pin_path(dp->skel->maps.tp_maglev_slab));
	else if (lock >= 0)
		tpd_slab_reclaim(&dp->maps);
	dp->maglev_resized = slab_new || was != cfg->maglev_size;
	n = tp_service_maglev_cap_set(&dp->maps, cfg->maglev_size);
	if (n)
		log_error("cannot record the Maglev table size", "error",
			  strerror(-n));
	if (dp->maglev_resized)
		tpd_rebuild_services(&dp->maps, slab_new);
	if (lock >= 0)
		tp_pins_unlock(lock);
	snprintf(old, sizeof(old), "%s/%s", cfg->pin_root, TP_MAGLEV_V2_PIN);
	if (!unlink(old))
		log_info("per-service Maglev tables unpinned", "map",
			 TP_MAGLEV_V2_PIN);
}

/*
 * @which's fd: the pinned one's or the one loaded apart, or the
 * skeleton's; -1 when not built.
 */
static int tpd_prog_fd(const struct tpd_datapath *dp, enum tpd_prog which)
{
	const struct bpf_program *prog;

	if (!dp->skel || dp->progs_apart)
		return dp->prog_fd[which];
	prog = bpf_object__find_program_by_name(dp->skel->obj,
						tpd_prog_names[which]);
	return prog ? bpf_program__fd(prog) : -1;
}

/* ---- restart from the pins ----------------------------------------------- */

static void tpd_unpin_dir(const char *dir, bool pins, const char *subdirs);

/* A map's id, 0 when @fd is none. */
static __u32 tpd_map_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static __u64 tpd_fnv1a(__u64 h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/*
 * What the loaded programs and maps are made of: the object's ELF bytes
 * and every configuration value a load puts into them (rodata knobs,
 * capacities).  Programs pinned under this fingerprint are what a full
 * load with @cfg would produce on this kernel.
 */
/* The buffer the embedded object is read through (tpd_elf_fnv1a_file()). */
#define TPD_ELF_READ_BUF (64 * 1024)

/*
 * The offset in this executable's file of the @size bytes mapped at
 * @addr, from /proc/self/maps: -1 unless one mapping of the file (same
 * device and inode as @exe_fd) holds them all.
 */
static off_t tpd_exe_offset(int exe_fd, const void *addr, size_t size)
{
	unsigned long start, end, off, ino, maj, min;
	uintptr_t a = (uintptr_t)addr;
	char line[512];
	struct stat st;
	off_t ret = -1;
	FILE *f;

	if (fstat(exe_fd, &st))
		return -1;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %*s %lx %lx:%lx %lu", &start, &end,
			   &off, &maj, &min, &ino) != 6)
			continue;
		if (a < start || a >= end)
			continue;
		if (a + size <= end && ino == st.st_ino &&
		    makedev(maj, min) == st.st_dev)
			ret = (off_t)(off + (a - start));
		break;
	}
	fclose(f);
	return ret;
}

/*
 * tpd_fnv1a() of the embedded object's bytes read from the executable's
 * file through a small buffer, so that none of its 1.8 MB is faulted into
 * this process.  False (@h untouched) when that cannot be done.
 */
static bool tpd_elf_fnv1a_file(__u64 *h, const void *elf, size_t size)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	size_t done = 0, want;
	__u64 hh = *h;
	char *buf;
	ssize_t n;
	off_t off;

	if (fd < 0)
		return false;
	off = tpd_exe_offset(fd, elf, size);
	buf = off < 0 ? NULL : malloc(TPD_ELF_READ_BUF);
	while (buf && done < size) {
		want = size - done < TPD_ELF_READ_BUF ? size - done
						      : TPD_ELF_READ_BUF;
		n = pread(fd, buf, want, off + (off_t)done);
		if (n <= 0)
			break;
		hh = tpd_fnv1a(hh, buf, (size_t)n);
		done += (size_t)n;
	}
	free(buf);
	close(fd);
	if (done != size)
		return false;
	*h = hh;
	return true;
}

/*
 * tpd_fnv1a() of the embedded object.  Hashed where it is mapped, it
 * faulted 1.8 MB of the binary in, counted in the loader's peak on top of
 * the configuration at every start (and a page cache of large folios
 * maps a whole folio back in at a fault, so dropping pages as they are
 * hashed does not help): read from the file instead.  Where that cannot
 * be, hashed in place and those pages dropped from this process after
 * (they stay in the page cache); a restart does not need them again.
 */
static __u64 tpd_elf_fnv1a(__u64 h, const void *elf, size_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t lo, hi;

	if (tpd_elf_fnv1a_file(&h, elf, size))
		return h;
	h = tpd_fnv1a(h, elf, size);
	lo = ((uintptr_t)elf + page - 1) & ~(uintptr_t)(page - 1);
	hi = ((uintptr_t)elf + size) & ~(uintptr_t)(page - 1);
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
	return h;
}

static __u64 tpd_load_fingerprint(const struct tpd_config *cfg)
{
	const void *elf;
	size_t size;
	__u64 h = 0xcbf29ce484222325ULL;

	elf = tailplane__elf_bytes(&size);
	h = tpd_elf_fnv1a(h, elf, size);
	h = tpd_fnv1a(h, cfg->ct_timeout, sizeof(cfg->ct_timeout));
	h = tpd_fnv1a(h, &cfg->maglev_size, sizeof(cfg->maglev_size));
	h = tpd_fnv1a(h, cfg->capacity, sizeof(cfg->capacity));
	h = tpd_fnv1a(h, &cfg->events_per_sec, sizeof(cfg->events_per_sec));
	h = tpd_fnv1a(h, &cfg->events_burst, sizeof(cfg->events_burst));
	return h;
}

static void tpd_progs_dir(char *path, size_t len, const char *pin_root,
			  __u64 fp)
{
	snprintf(path, len, "%s/" TPD_PROGS_PREFIX "%016llx", pin_root,
		 (unsigned long long)fp);
}

/* Remove every PIN_ROOT/progs_* directory and the programs pinned in it. */
static void tpd_progs_unpin_all(const char *pin_root)
{
	tpd_unpin_dir(pin_root, false, TPD_PROGS_PREFIX);
}

/*
 * After a full load: pin its programs under the fingerprint of @cfg, and
 * only there (a directory of another load would name programs that use
 * other maps), with the load's maps that are not pinned in the pin root
 * (map_N: what tpd_allowed_map_ids() checks against).  They are pinned
 * in a directory of another name first, renamed when everything is in
 * it: a loader killed between two pins (OOM, kill -9) leaves no directory
 * a restart would take with a program missing.  A failure costs the next
 * restart its shortcut, nothing else.
 */
static void tpd_progs_pin(const struct tpd_datapath *dp,
			  const struct tpd_config *cfg)
{
	char tmp[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 32];
	const struct bpf_map *map;
	int i, fd;

	tpd_progs_unpin_all(cfg->pin_root);
	tpd_progs_dir(dir, sizeof(dir), cfg->pin_root,
		      tpd_load_fingerprint(cfg));
	snprintf(tmp, sizeof(tmp), "%s/" TPD_PROGS_PREFIX "partial",
		 cfg->pin_root);
	if (mkdir(tmp, 0700)) {
		log_warn("cannot pin the programs; a restart loads them again",
			 "path", tmp, "error", strerror(errno));
		return;
	}
	for (i = 0; i < TPD_PROG_MAX; i++) {
		fd = tpd_prog_fd(dp, i);
		if (fd < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmp, tpd_prog_names[i]);
		if (bpf_obj_pin(fd, path)) {
			log_warn(
				"cannot pin the programs; a restart loads them again",
				"path", path, "error", strerror(errno));
			tpd_progs_unpin_all(cfg->pin_root);
			return;
		}
	}
	/*
	 * and the load's own maps, which are not pinned in the pin root, so
	 * that a restart knows every map these programs may use
	 */
	i = 0;
	bpf_object__for_each_map(map, dp->skel->obj)
	{
		fd = bpf_map__fd(map);
		if (bpf_map__pin_path(map) || fd < 0)
			continue;
		snprintf(path, sizeof(path), "%s/map_%d", tmp, i++);
		if (bpf_obj_pin(fd, path)) {
			log_warn(
				"cannot pin the programs; a restart loads them again",
				"path", path, "error", strerror(errno));
			tpd_progs_unpin_all(cfg->pin_root);
			return;
		}
	}
	if (rename(tmp, dir)) {
		log_warn("cannot pin the programs; a restart loads them again",
			 "path", dir, "error", strerror(errno));
		tpd_progs_unpin_all(cfg->pin_root);
	}
}

/* Is @fd a BPF object of @kind ("prog", "map"), not another pinned there? */
static bool tpd_fd_is(int fd, const char *kind)
{
	char proc[64], target[64], want[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	snprintf(want, sizeof(want), "anon_inode:bpf-%s", kind);
	return !strcmp(target, want);
}

static bool tpd_str_ends(const char *s, const char *end)
{
	size_t n = strlen(s), e = strlen(end);

	return n >= e && !strcmp(s + n - e, end);
}

/*
 * Does the programs' read-only data (the map @fd, @info) hold the knobs
 * of @cfg?  The fingerprint says so unless it collides (FNV-1a) or misses
 * a knob; this reads them.  -ESTALE when not.
 */
static int tpd_rodata_match(int fd, const struct bpf_map_info *info,
			    const struct tpd_config *cfg)
{
	struct tailplane__rodata want;
	__u32 zero = 0;
	void *val;
	int err = 0;

	if (info->value_size < sizeof(want))
		return -ESTALE;
	val = calloc(1, info->value_size);
	if (!val)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, val))
		err = -errno;
	if (!err) {
		memcpy(&want, val, sizeof(want));
		tpd_knobs_rodata(&want, cfg);
		if (memcmp(&want, val, sizeof(want)))
			err = -ESTALE;
	}
	free(val);
	return err;
}

/* Are the pinned maps of the sizes @cfg's capacities give?  -ESTALE if not. */
static int tpd_capacities_match(const struct tp_maps *m,
				const struct tpd_config *cfg)
{
	size_t i, j;

	for (i = 0; i < TPD_N_CAPACITY_MAPS; i++)
		for (j = 0; j < tp_pin_maps_n; j++)
			if (!strcmp(tp_pin_maps[j].name,
				    tpd_capacity_maps[i].map) &&
			    tp_map_max_entries(tp_pins_map_fd(m, j)) !=
				    tpd_capacity_max(i, cfg))
				return -ESTALE;
	return 0;
}

/*
 * The ids of the maps pinned programs may use: every map pinned in the pin
 * root (in @m), and the load's own maps (.rodata, tp_scratch,
 * tp_ct_tables...) pinned beside the programs as map_N.  A map of maps
 * among those (tp_ct_tables, built around tp_ct and tp_ct_any) holds only
 * maps pinned in the pin root; the read-only data holds @cfg's knobs.
 * Ids only: BPF_MAP_GET_FD_BY_ID needs CAP_SYS_ADMIN, which the deployed
 * loader does not have.
 *
 * Return: their count, -ESTALE when a map of maps holds a map that is no
 * longer pinned, or -errno.
 */
static int tpd_allowed_map_ids(const char *dir, const struct tp_maps *m,
			       const struct tpd_config *cfg, __u32 *ids,
			       int cap)
{
	struct bpf_map_info info;
	char path[PATH_MAX + 300];
	int n = 0, fd, err = 0, i, j;
	__u32 len, key, inner;
	bool rodata = false;
	struct dirent *de;
	DIR *d;

	for (i = 0; i < (int)tp_pin_maps_n && n < cap; i++)
		if (!(ids[n++] = tpd_map_id(tp_pins_map_fd(m, i))))
			return -ENOENT;
	d = opendir(dir);
	if (!d)
		return -errno;
	while (!err && (de = readdir(d))) {
		if (strncmp(de->d_name, "map_", 4))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			err = -errno;
			break;
		}
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (!tpd_fd_is(fd, "map"))
			err = -EBADF;
		else if (bpf_obj_get_info_by_fd(fd, &info, &len))
			err = -errno;
		else if (n == cap)
			err = -E2BIG;
		else
			ids[n++] = info.id;
		if (!err && tpd_str_ends(info.name, ".rodata")) {
			err = tpd_rodata_match(fd, &info, cfg);
			rodata = true;
		}
		for (key = 0; !err && info.type == BPF_MAP_TYPE_ARRAY_OF_MAPS &&
			      key < info.max_entries;
		     key++) {
			if (bpf_map_lookup_elem(fd, &key, &inner))
				continue; /* an empty slot */
			for (j = 0; j < (int)tp_pin_maps_n && ids[j] != inner;
			     j++)
				;
			if (j == (int)tp_pin_maps_n)
				err = -ESTALE;
		}
		close(fd);
	}
	closedir(d);
	if (!err && !rodata)
		err = -ESTALE; /* pinned by a loader that pinned no map_N */
	return err ? err : n;
}

/*
 * Is @prog_fd the program @which a load of ours pinned, using the maps
 * pinned now?  A TC classifier of that name, that uses tp_ifaces
 * (@ids[0..tp_pin_maps_n - 1] are the pin root's maps, in tp_pin_maps'
 * order), and only maps of @ids: not when something replaced a pin after
 * these programs were pinned (a loader of another version migrating a
 * map, conntrack reset by hand): those programs must not be reused.  Nor
 * when someone pinned another program, or a map, under the name.
 *
 * Return: 0, -ESTALE, -EBADF (not our program) or -errno.
 */
static int tpd_prog_check(int prog_fd, enum tpd_prog which, const __u32 *ids,
			  int n_ids)
{
	struct bpf_prog_info info = {};
	__u32 used[64], len = sizeof(info), ifaces = 0, i;
	int j;

	if (!tpd_fd_is(prog_fd, "prog"))
		return -EBADF;
	info.nr_map_ids = 64;
	info.map_ids = (__u64)(uintptr_t)used;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	if (info.nr_map_ids > 64)
		return -E2BIG;
	if (info.type != BPF_PROG_TYPE_SCHED_CLS ||
	    strncmp(info.name, tpd_prog_names[which], BPF_OBJ_NAME_LEN - 1))
		return -EBADF;
	for (j = 0; j < (int)tp_pin_maps_n; j++)
		if (!strcmp(tp_pin_maps[j].name, TP_MAP_IFACES))
			ifaces = ids[j];
	for (i = 0; i < info.nr_map_ids; i++) {
		for (j = 0; j < n_ids && ids[j] != used[i]; j++)
			;
		if (j == n_ids)
			return -ESTALE;
		if (used[i] == ifaces)
			ifaces = 0;
	}
	return ifaces ? -EBADF : 0; /* they all read tp_ifaces */
}

/* ---- a cold start's maps announced before the verifier runs --------------- */

/*
 * A load in a child (tpd_load_child_start()) that finds no map pinned
 * says, through this pipe, when libbpf has made and pinned every map:
 * the daemon then applies the configuration to them while the verifier
 * checks the programs (most of a load's time).  -1 elsewhere.
 */
static int tpd_maps_ready_fd = -1;
/* The load that may say so: set once it found no map pinned. */
static const struct tailplane *tpd_maps_ready_skel;
/* Its configured Maglev table size, recorded before it says so. */
static __u32 tpd_maps_ready_maglev;
/* It said so: nothing but the daemon writes its maps from then on. */
static bool tpd_maps_announced;

#define TPD_MAPS_READY 'M'

/* Is any map of the object pinned in the pin root? */
static bool tpd_pins_any(const struct tailplane *skel)
{
	const struct bpf_map *map;
	const char *path;

	bpf_object__for_each_map(map, skel->obj)
	{
		path = bpf_map__pin_path(map);
		if (path && !access(path, F_OK))
			return true;
	}
	return false;
}

/*
 * Called once tailplane__load() made and pinned every map: from
 * tpd_maps_made_hook(), right before the skeleton's first program goes to
 * the verifier, or after that load when the hook did not run.  A load
 * that found no pins says so once, when
 * every map with a pin path is indeed pinned: made by this load from this
 * object, they have their final definition, and no migration or index
 * rebuild follows.
 */
static void tpd_maps_made(void)
{
	const struct tailplane *skel = tpd_maps_ready_skel;
	const struct bpf_map *map;
	char ready = TPD_MAPS_READY;
	struct tp_maps m;

	tpd_maps_ready_skel = NULL;
	if (!skel || tpd_maps_ready_fd < 0)
		return;
	bpf_object__for_each_map(map, skel->obj)
	{
		if (bpf_map__pin_path(map) && !bpf_map__is_pinned(map))
			return;
	}
	/*
	 * the writes tpd_services_upgrade() and tpd_iface_slots_rebuild()
	 * would make after the load (every slot "none": no interface yet)
	 */
	if (tp_maps_from_object(&m, skel->obj, tpd_maps_ready_maglev) ||
	    tp_service_maglev_cap_set(&m, tpd_maps_ready_maglev) ||
	    tp_iface_slots_rebuild(&m) < 0) {
		tp_slab_close(m.slab);
		return;
	}
	tp_slab_close(m.slab); /* the fds are the object's */
	tpd_maps_announced = write(tpd_maps_ready_fd, &ready, 1) == 1;
	close(tpd_maps_ready_fd);
	tpd_maps_ready_fd = -1;
}

/* ---- the programs verified in parallel ------------------------------------ */

/*
 * The verifier is most of a load's time (6.18: tp_to_tailnet ~420 ms,
 * tp_from_tailnet ~360, tp_from_uplink ~70), and one program's run does
 * not need another's.  The skeleton's object makes and pins every map and
 * loads tp_to_tailnet (the longest); lanes (threads) load the other
 * programs meanwhile, each lane from an object of its own opened from
 * the same embedded ELF, with only its programs autoloaded and every map,
 * the unpinned ones (.rodata with the knobs, .bss, tp_scratch,
 * tp_evbucket, tp_ct_tables) included, reused from the skeleton's by fd:
 * the programs use exactly the maps one object's load would give them,
 * which tpd_progs_pin()'s map_N pins and tpd_prog_check() rely on.
 * libbpf 1.1 takes a reused internal map as it is: not created, its
 * initial data not written, not frozen again (the skeleton's load did
 * those), so every program sees the same knobs.
 *
 * An object costs its own parse of the kernel's BTF, CO-RE relocation of
 * every subprogram and ~7 MB of the child's peak whatever it loads: one
 * lane, with tp_from_tailnet and tp_from_uplink (~430 ms against
 * tp_to_tailnet's ~420), is what 2 CPUs take, the daemon writing the
 * configuration into the new maps meanwhile (tpd_load_child_maps_ready()).
 * A lane opens its object while the skeleton's maps are made, and loads
 * once they are: tpd_maps_made_hook(), libbpf's call right before the
 * skeleton's program goes to the verifier.  On one CPU there is no lane:
 * the skeleton's object loads every program, as before lanes.
 */
static const enum tpd_prog tpd_lane_progs[] = {
	TPD_PROG_FROM_TAILNET,
	TPD_PROG_FROM_UPLINK,
};

#define TPD_LANE_PROGS (int)(sizeof(tpd_lane_progs) / sizeof(tpd_lane_progs[0]))
/* The program the skeleton's object loads itself beside lanes. */
#define TPD_PROG_MAIN TPD_PROG_TO_TAILNET

/**
 * struct tpd_prog_job - a lane's programs, loaded from an object of its
 * own.
 * @progs: which (bit 1 << enum tpd_prog).
 * @obj:   the object, between its open and its load.
 * @fd:    the loaded programs (dups, owned here); -1 until then, or when
 *         the object has no such program (built without tp_from_uplink).
 * @err:   0 or -errno.
 * @failed: the program that was being loaded when the load failed, when
 *         known (tpd_maps_made_hook()).
 * @ms:    the load's wall time.
 */
struct tpd_prog_job {
	unsigned int progs;
	struct bpf_object *obj;
	int fd[TPD_PROG_MAX];
	int err;
	char failed[64];
	double ms;
};

/* In each thread, the last program libbpf handed to the verifier. */
static __thread char tpd_prog_loading[64];

/**
 * struct tpd_par_load - the lanes of one tpd_datapath_load().
 * @lock:   guards @state.
 * @cond:   signalled when @state changes.
 * @map:    the maps the programs take, once made: dups of the skeleton's
 *          object's fds, in its order, with what must match (the lanes
 *          never read that object, which libbpf closes when its own
 *          program fails).
 * @n_maps: their count.
 * @err:    why @map could not be made (the load fails then).
 * @state:  0: maps not made yet; 1: made (@map); -1: no load (give up).
 * @n_lanes: lanes, one job each (0: the skeleton's object loads all).
 * @job:    their jobs.
 * @lane:   their threads.
 * @started: the thread of a job was started; the others run in
 *          tpd_par_finish().
 */
struct tpd_par_load {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct {
		int fd;
		enum bpf_map_type type;
		__u32 key_size, value_size;
	} map[TPD_MAX_MAPS];
	int n_maps;
	int err;
	int state;
	int n_lanes;
	struct tpd_prog_job job[TPD_LANE_PROGS];
	pthread_t lane[TPD_LANE_PROGS];
	bool started[TPD_LANE_PROGS];
};

struct tpd_lane_arg {
	struct tpd_par_load *par;
	struct tpd_prog_job *job;
};

static double tpd_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 +
	       (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * Lanes beside the skeleton's load: one, unless there is one CPU.  Two
 * (three verifier runs at once) measured no faster on 2 CPUs, with an
 * object more (+12 MB in the child).
 */
static int tpd_load_lanes(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

/*
 * Open @j's object from the embedded ELF, with only its programs to load
 * and no map pin path: every map is reused from the skeleton's object by
 * fd (tpd_prog_job_load()), none looked up or pinned by this object.
 */
static void tpd_prog_job_open(struct tpd_prog_job *j)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "tailplane");
	struct bpf_program *prog;
	struct bpf_map *map;
	const void *elf;
	bool mine;
	size_t size;
	int err, i;

	elf = tailplane__elf_bytes(&size);
	j->obj = bpf_object__open_mem(elf, size, &opts);
	if (!j->obj) {
		j->err = -errno;
		return;
	}
	bpf_object__for_each_program(prog, j->obj)
	{
		for (i = 0, mine = false; i < TPD_PROG_MAX; i++)
			mine |= (j->progs & (1u << i)) &&
				!strcmp(bpf_program__name(prog),
					tpd_prog_names[i]);
		err = bpf_program__set_autoload(prog, mine);
		if (err && !j->err)
			j->err = err;
	}
	bpf_object__for_each_map(map, j->obj)
	{
		err = bpf_map__set_pin_path(map, NULL);
		if (err && !j->err)
			j->err = err;
	}
}

/*
 * Every map of @j's object taken from the skeleton's (@par), map for map:
 * both objects come from the same ELF, so their maps come in the same
 * order.
 */
static int tpd_prog_job_reuse(struct tpd_prog_job *j,
			      const struct tpd_par_load *par)
{
	struct bpf_map *map;
	int i = 0, err;

	bpf_object__for_each_map(map, j->obj)
	{
		if (i == par->n_maps ||
		    par->map[i].type != bpf_map__type(map) ||
		    par->map[i].key_size != bpf_map__key_size(map) ||
		    par->map[i].value_size != bpf_map__value_size(map))
			return -EINVAL;
		err = bpf_map__reuse_fd(map, par->map[i++].fd);
		if (err)
			return err;
	}
	return i == par->n_maps ? 0 : -EINVAL;
}

/*
 * Load @j's programs against @par's maps (NULL: the load was given up);
 * the object is closed after.
 */
static void tpd_prog_job_load(struct tpd_prog_job *j,
			      const struct tpd_par_load *par)
{
	const struct bpf_program *prog;
	struct timespec t0;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!j->err && par) {
		j->err = tpd_prog_job_reuse(j, par);
		tpd_prog_loading[0] = '\0';
		if (!j->err)
			j->err = bpf_object__load(j->obj);
		if (j->err)
			snprintf(j->failed, sizeof(j->failed), "%s",
				 tpd_prog_loading);
	}
	for (i = 0; !j->err && par && i < TPD_PROG_MAX; i++) {
		prog = j->progs & (1u << i) ? bpf_object__find_program_by_name(
						      j->obj, tpd_prog_names[i])
					    : NULL;
		if (!prog)
			continue;
		j->fd[i] = fcntl(bpf_program__fd(prog), F_DUPFD_CLOEXEC, 3);
		if (j->fd[i] < 0)
			j->err = -errno;
	}
	j->ms = tpd_ms_since(&t0);
	/* what the object holds (instructions, BTF) is not needed any more */
	bpf_object__close(j->obj);
	j->obj = NULL;
}

/* Wait until the maps are made (@par) or the load is given up (NULL). */
static const struct tpd_par_load *tpd_par_wait_maps(struct tpd_par_load *par)
{
	int state;

	pthread_mutex_lock(&par->lock);
	while (!par->state)
		pthread_cond_wait(&par->cond, &par->lock);
	state = par->state;
	pthread_mutex_unlock(&par->lock);
	return state > 0 ? par : NULL;
}

static void *tpd_lane_run(void *arg)
{
	struct tpd_lane_arg *a = arg;

	tpd_prog_job_open(a->job);
	tpd_prog_job_load(a->job, tpd_par_wait_maps(a->par));
	free(a);
	return NULL;
}

/*
 * Start the lanes; they open their objects now.  The job of a lane that
 * cannot be started runs in tpd_par_finish().  With more lanes than one,
 * tpd_lane_progs[i] goes to lane i, the rest to the last.
 */
static void tpd_par_start(struct tpd_par_load *par)
{
	struct tpd_lane_arg *a;
	int i, j;

	memset(par, 0, sizeof(*par));
	pthread_mutex_init(&par->lock, NULL);
	pthread_cond_init(&par->cond, NULL);
	par->n_lanes = tpd_load_lanes();
	if (par->n_lanes > TPD_LANE_PROGS)
		par->n_lanes = TPD_LANE_PROGS;
	for (i = 0; i < par->n_lanes; i++)
		for (j = 0; j < TPD_PROG_MAX; j++)
			par->job[i].fd[j] = -1;
	for (j = 0; par->n_lanes > 0 && j < TPD_LANE_PROGS; j++) {
		i = j < par->n_lanes ? j : par->n_lanes - 1;
		par->job[i].progs |= 1u << tpd_lane_progs[j];
	}
	for (i = 0; i < par->n_lanes; i++) {
		a = malloc(sizeof(*a));
		if (!a)
			continue;
		a->par = par;
		a->job = &par->job[i];
		par->started[i] =
			!pthread_create(&par->lane[i], NULL, tpd_lane_run, a);
		if (!par->started[i])
			free(a);
	}
}

/*
 * The maps are made (@maps' object), or the load is given up (NULL): the
 * lanes go on.  Only the first call counts.
 */
static void tpd_par_go(struct tpd_par_load *par, struct bpf_object *maps)
{
	const struct bpf_map *map;
	int state = maps ? 1 : -1, n = 0;

	pthread_mutex_lock(&par->lock);
	if (par->state)
		goto out;
	/* libbpf 1.1's iterator reads the object: none when given up */
	for (map = maps ? bpf_object__next_map(maps, NULL) : NULL; map;
	     map = bpf_object__next_map(maps, map)) {
		if (n == TPD_MAX_MAPS) {
			par->err = -E2BIG;
			break;
		}
		par->map[n].fd = fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 3);
		par->map[n].type = bpf_map__type(map);
		par->map[n].key_size = bpf_map__key_size(map);
		par->map[n].value_size = bpf_map__value_size(map);
		if (par->map[n++].fd < 0 && !par->err)
			par->err = -errno;
	}
	if (par->err)
		state = -1;
	par->n_maps = n;
	par->state = state;
	pthread_cond_broadcast(&par->cond);
out:
	pthread_mutex_unlock(&par->lock);
}

/*
 * Wait for the lanes (after tpd_par_go()), run the jobs no lane took, and
 * put the programs' fds in @dp.  A job that failed is logged with its
 * programs' names (libbpf logged the verifier's words before).
 *
 * Return: 0 or -errno; the lanes' program fds are closed then.
 */
static int tpd_par_finish(struct tpd_par_load *par, struct tpd_datapath *dp)
{
	const struct tpd_par_load *maps;
	struct tpd_prog_job *j;
	char names[128];
	int i, k, err;

	for (i = 0; i < par->n_lanes; i++)
		if (par->started[i])
			pthread_join(par->lane[i], NULL);
	maps = par->state > 0 ? par : NULL;
	err = par->err;
	if (err)
		log_error("cannot hand the maps to the programs' objects",
			  "error", strerror(-err));
	for (i = 0; i < par->n_lanes; i++) {
		j = &par->job[i];
		if (!par->started[i]) {
			tpd_prog_job_open(j);
			tpd_prog_job_load(j, maps);
		}
		for (k = 0, names[0] = '\0'; k < TPD_PROG_MAX; k++)
			if (j->progs & (1u << k))
				snprintf(names + strlen(names),
					 sizeof(names) - strlen(names), "%s%s",
					 names[0] ? "," : "",
					 tpd_prog_names[k]);
		if (j->err && maps) {
			log_error("cannot load a program of the BPF object",
				  "prog", j->failed[0] ? j->failed : names,
				  "error", strerror(-j->err));
			err = err ? err : j->err;
		} else if (maps) {
			log_debug("programs loaded beside the maps' object",
				  "prog", names, "ms", log_fmt("%.1f", j->ms));
		}
	}
	for (i = 0; i < par->n_lanes; i++)
		for (k = 0; k < TPD_PROG_MAX; k++) {
			if (err && par->job[i].fd[k] >= 0)
				close(par->job[i].fd[k]);
			if (par->job[i].progs & (1u << k))
				dp->prog_fd[k] = err ? -1 : par->job[i].fd[k];
		}
	for (i = 0; i < par->n_maps; i++)
		if (par->map[i].fd >= 0)
			close(par->map[i].fd);
	pthread_mutex_destroy(&par->lock);
	pthread_cond_destroy(&par->cond);
	return err;
}

/*
 * The load whose maps tpd_maps_made_hook() waits for: its skeleton (NULL
 * once the hook ran) and the skeleton's programs, looked up by name (an
 * object built without tp_from_uplink has none of that name).
 */
static struct tpd_par_load *tpd_par_cur;
static const struct tailplane *tpd_par_skel;
static const struct bpf_program *tpd_par_progs[TPD_PROG_MAX];

/*
 * libbpf calls this right before it hands a "tc" program to the verifier
 * (libbpf_register_prog_handler()), so after bpf_object__create_maps()
 * made and pinned every map.  When it is a program of the skeleton's load
 * under way, the first: the maps are made; the lanes load theirs now,
 * and a cold start says so (tpd_maps_made()).  Programs of the lanes'
 * objects (and of anyone else's) come here too, and are let through; the
 * thread's last one is named when its load fails.
 */
static int tpd_maps_made_hook(struct bpf_program *prog,
			      struct bpf_prog_load_opts *opts, long cookie)
{
	const struct tailplane *skel =
		__atomic_load_n(&tpd_par_skel, __ATOMIC_ACQUIRE);
	int i;

	(void)opts;
	(void)cookie;
	snprintf(tpd_prog_loading, sizeof(tpd_prog_loading), "%s",
		 bpf_program__name(prog));
	for (i = 0; skel && i < TPD_PROG_MAX && prog != tpd_par_progs[i]; i++)
		;
	if (!skel || i == TPD_PROG_MAX)
		return 0;
	__atomic_store_n(&tpd_par_skel, NULL, __ATOMIC_RELEASE);
	tpd_par_go(tpd_par_cur, skel->obj);
	tpd_maps_made();
	return 0;
}

/*
 * libbpf's own "tc" handler, plus tpd_maps_made_hook(); registered once,
 * before any object is opened (a program's handler is chosen at open).
 * SEC("tc") needs nothing else from it (SCHED_CLS, no expected attach
 * type, no flags: its prepare step does nothing for such a program in
 * libbpf 1.1).  Should it not be registered (or another handler for "tc"
 * come first), the lanes start after the skeleton's load.
 */
static void tpd_hook_register(void)
{
	LIBBPF_OPTS(libbpf_prog_handler_opts, opts,
		    .prog_prepare_load_fn = tpd_maps_made_hook);
	int id;

	id = libbpf_register_prog_handler("tc", BPF_PROG_TYPE_SCHED_CLS, 0,
					  &opts);
	if (id < 0)
		log_warn(
			"no libbpf hook: the programs load after the maps' object",
			"error", strerror(-id));
}

/* Maps with a pin path that are not pinned yet: @fresh[i] for the i-th map. */
static void tpd_pins_missing(const struct tailplane *skel, bool *fresh, int cap)
{
	const struct bpf_map *map;
	const char *path;
	int i = 0;

	bpf_object__for_each_map(map, skel->obj)
	{
		if (i == cap)
			break;
		path = bpf_map__pin_path(map);
		fresh[i++] = path && access(path, F_OK);
	}
}

/*
 * After a program failed to load: unpin the maps the skeleton's load made
 * and pinned (@fresh: not pinned before it), as libbpf does when a
 * program of its object fails; pins it reused stay.
 */
static void tpd_pins_unmade(struct tailplane *skel, const bool *fresh, int cap)
{
	struct bpf_map *map;
	int i = 0;

	bpf_object__for_each_map(map, skel->obj)
	{
		if (i == cap)
			break;
		if (fresh[i++] && bpf_map__is_pinned(map))
			bpf_map__unpin(map, NULL);
	}
}

/**
 * tpd_datapath_load() - load the object, reusing or migrating the pins.
 * @dp:  filled in.
 * @cfg: configuration (pin root, knobs).
 *
 * The skeleton's object makes and pins the maps and loads tp_to_tailnet;
 * a lane loads the other programs at the same time from an object of its
 * own that takes every one of those maps (see tpd_lane_progs).  A program
 * that fails fails the load as a failed tailplane__load() would: the maps
 * this load pinned are unpinned, the pins moved aside put back.
 *
 * Return: 0 or -errno.
 */
int tpd_datapath_load(struct tpd_datapath *dp, const struct tpd_config *cfg)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = cfg->pin_root);
	struct tpd_aside aside[32];
	char ct_any_pin[PATH_MAX];
	bool ct_split, index_fresh, rules_index, names_index, slab_new;
	bool fresh[TPD_MAX_MAPS];
	static pthread_once_t hook_once = PTHREAD_ONCE_INIT;
	struct tpd_par_load par;
	struct bpf_program *prog;
	int n_aside, err, i;

	memset(dp, 0, sizeof(*dp));
	for (i = 0; i < TPD_PROG_MAX; i++)
		dp->prog_fd[i] = -1;
	pthread_once(&hook_once, tpd_hook_register);
	/* the lanes open their objects while this one makes the maps */
	tpd_par_start(&par);
	dp->skel = tailplane__open_opts(&opts);
	if (!dp->skel) {
		err = -errno;
		log_error("cannot open the BPF object", "error",
			  strerror(-err));
		tpd_par_go(&par, NULL);
		tpd_par_finish(&par, dp);
		return err;
	}
	tpd_set_knobs(dp->skel, cfg);
	/*
	 * This object makes the maps and loads tp_to_tailnet, the lanes the
	 * others.  libxdp loads the guard from an object of its own
	 * (loader/xdp.c): this one's copy would only cost a verifier run.
	 */
	bpf_object__for_each_program(prog, dp->skel->obj)
		bpf_program__set_autoload(
			prog, prog != dp->skel->progs.tp_xdp_guard &&
				      (!par.n_lanes ||
				       !strcmp(bpf_program__name(prog),
					       tpd_prog_names[TPD_PROG_MAIN])));
	tpd_pins_unaside(dp->skel);
	/* pins of a version whose tp_ct held every protocol */
	snprintf(ct_any_pin, sizeof(ct_any_pin), "%s/%s", cfg->pin_root,
		 TP_MAP_CT_ANY);
	ct_split = access(ct_any_pin, F_OK) &&
		   !access(bpf_map__pin_path(dp->skel->maps.tp_ct), F_OK);
	index_fresh = access(bpf_map__pin_path(dp->skel->maps.tp_svc_backends),
			     F_OK) != 0;
	/*
	 * The pinned programs of the last load go before any map pin is
	 * replaced: a load that dies from here on leaves none that name
	 * maps no longer pinned (and hold them, and their memory)
	 */
	tpd_progs_unpin_all(cfg->pin_root);
	/* no pin at all: nothing to migrate, the daemon may start early */
	tpd_maps_announced = false;
	if (tpd_maps_ready_fd >= 0 && !tpd_pins_any(dp->skel)) {
		tpd_maps_ready_skel = dp->skel;
		tpd_maps_ready_maglev = cfg->maglev_size;
	}
	n_aside = tpd_pins_aside(dp->skel, aside, 32);
	if (n_aside < 0) {
		err = n_aside;
		tpd_par_go(&par, NULL);
		tpd_par_finish(&par, dp);
		goto fail;
	}
	rules_index = tpd_pin_new(dp->skel->maps.tp_rule_index, aside, n_aside);
	names_index = tpd_pin_new(dp->skel->maps.tp_id_by_name, aside, n_aside);
	slab_new = tpd_pin_new(dp->skel->maps.tp_maglev_slab, aside, n_aside);
	tpd_pins_missing(dp->skel, fresh, TPD_MAX_MAPS);
	tpd_par_cur = &par;
	for (i = 0; i < TPD_PROG_MAX; i++)
		tpd_par_progs[i] = bpf_object__find_program_by_name(
			dp->skel->obj, tpd_prog_names[i]);
	__atomic_store_n(&tpd_par_skel, dp->skel, __ATOMIC_RELEASE);
	tpd_prog_loading[0] = '\0';
	err = tailplane__load(dp->skel);
	/* no hook call (another "tc" handler): the lanes go now */
	__atomic_store_n(&tpd_par_skel, NULL, __ATOMIC_RELEASE);
	tpd_par_go(&par, err ? NULL : dp->skel->obj);
	if (!err)
		tpd_maps_made(); /* once: the hook's call cleared it */
	tpd_maps_ready_skel = NULL;
	tpd_par_cur = NULL;
	if (err) {
		/* the program the verifier refused, when it was one */
		log_error("cannot load the BPF object", "prog",
			  tpd_prog_loading[0] ? tpd_prog_loading : "none",
			  "error", strerror(-err));
		tpd_par_finish(&par, dp);
		tpd_pins_restore(aside, n_aside);
		goto fail;
	}
	err = tpd_par_finish(&par, dp);
	/* the skeleton's programs: every one without lanes */
	for (i = 0; !err && i < TPD_PROG_MAX; i++) {
		prog = bpf_object__find_program_by_name(dp->skel->obj,
							tpd_prog_names[i]);
		if (!prog || !bpf_program__autoload(prog))
			continue;
		dp->prog_fd[i] =
			fcntl(bpf_program__fd(prog), F_DUPFD_CLOEXEC, 3);
		if (dp->prog_fd[i] < 0)
			err = -errno;
	}
	if (err) {
		tpd_pins_unmade(dp->skel, fresh, TPD_MAX_MAPS);
		tpd_pins_restore(aside, n_aside);
		goto fail;
	}
	dp->progs_apart = true;
	tpd_migrate(dp->skel, aside, n_aside, slab_new);
	err = tp_maps_from_object(&dp->maps, dp->skel->obj, cfg->maglev_size);
	if (err)
		goto fail;
	dp->uplink_prog = dp->prog_fd[TPD_PROG_FROM_UPLINK] >= 0;
	if (!dp->uplink_prog)
		log_info(
			"the object has no tp_from_uplink (not built): uplinks are described, "
			"replies of SNAT flows are not restored");
	if (ct_split)
		tpd_ct_split(&dp->maps);
	/*
	 * Announced maps were all made empty by this load, their Maglev
	 * size recorded and their interface slots filled (tpd_maps_made()):
	 * nothing to index or rebuild, and the daemon is writing them now
	 */
	if (!tpd_maps_announced) {
		err = tpd_index_rebuild(dp, rules_index, names_index);
		if (err)
			goto fail;
		tpd_services_upgrade(dp, cfg, slab_new, index_fresh);
		tpd_iface_slots_rebuild(&dp->maps);
	}
	tpd_progs_pin(dp, cfg);
	return 0;
fail:
	for (i = 0; i < TPD_PROG_MAX; i++) {
		if (dp->prog_fd[i] >= 0)
			close(dp->prog_fd[i]);
		dp->prog_fd[i] = -1;
	}
	dp->progs_apart = false;
	tailplane__destroy(dp->skel);
	dp->skel = NULL;
	return err;
}

/**
 * tpd_datapath_open_pinned() - take the programs and maps a load with
 * @cfg would make from the pins an earlier one left, without loading.
 * @dp:  filled in (no skeleton); close with tpd_datapath_close().
 * @cfg: configuration.
 *
 * Only when the pinned programs carry @cfg's fingerprint (same object,
 * same knobs and capacities), every map is pinned, each pinned program is
 * the TC classifier of its name and the programs use exactly the pinned
 * maps (tpd_prog_check()); and never when an uplink needs the XDP guard,
 * which libxdp loads from the object.
 *
 * Return: 0, or -errno (-ENOENT: nothing to reuse, -ESTALE: the pins
 * changed since, -EBADF: something else pinned under a program's name)
 * after which nothing is held and a full load is due.
 */
int tpd_datapath_open_pinned(struct tpd_datapath *dp,
			     const struct tpd_config *cfg)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	int i, n_ids, err = 0;
	__u32 ids[128];

	memset(dp, 0, sizeof(*dp));
	for (i = 0; i < TPD_PROG_MAX; i++)
		dp->prog_fd[i] = -1;
	tp_maps_init(&dp->maps);
	if (tpd_guard_needed(cfg))
		return -EOPNOTSUPP;
	dp->from_pins = true;
	tpd_progs_dir(dir, sizeof(dir), cfg->pin_root,
		      tpd_load_fingerprint(cfg));
	for (i = 0; i < TPD_PROG_MAX && !err; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, tpd_prog_names[i]);
		dp->prog_fd[i] = bpf_obj_get(path);
		/* an object without tp_from_uplink pinned none */
		if (dp->prog_fd[i] < 0 && i != TPD_PROG_FROM_UPLINK)
			err = -errno;
	}
	if (!err)
		err = tp_maps_open_pinned(&dp->maps, cfg->pin_root,
					  cfg->maglev_size);
	if (!err)
		err = tpd_capacities_match(&dp->maps, cfg);
	n_ids = err ? err : tpd_allowed_map_ids(dir, &dp->maps, cfg, ids, 128);
	if (n_ids < 0)
		err = n_ids;
	for (i = 0; i < TPD_PROG_MAX && !err; i++)
		if (dp->prog_fd[i] >= 0)
			err = tpd_prog_check(dp->prog_fd[i], i, ids, n_ids);
	if (err) {
		if (err == -EBADF)
			log_warn(
				"what is pinned as our programs is not: loading them",
				"path", dir);
		tpd_datapath_close(dp);
		return err;
	}
	dp->uplink_prog = dp->prog_fd[TPD_PROG_FROM_UPLINK] >= 0;
	log_info("programs and maps taken from their pins: no load", "path",
		 dir);
	return 0;
}

/* The child of tpd_load_child_start(): load, say how it went, exit. */
static void __attribute__((noreturn))
tpd_load_child_run(const struct tpd_config *cfg, int ready_fd, pid_t parent)
{
	struct tpd_datapath dp;
	int err;

	/*
	 * It dies with the daemon: an orphan would go on holding the
	 * instance lock (the flock both share) and keep the daemon's
	 * restart out.  Killed anywhere, a load leaves nothing a later one
	 * does not take back (tpd_pins_unaside(), progs_partial).
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(1);
	/* a daemon that stopped listening must not kill the load */
	signal(SIGPIPE, SIG_IGN);
	tpd_maps_ready_fd = ready_fd;
	err = tpd_datapath_load(&dp, cfg);
	if (!err)
		tpd_datapath_close(&dp);
	_exit(err ? 1 : 0);
}

/**
 * tpd_load_child_start() - start tpd_datapath_load() in a child process,
 * so that the memory a load takes (the object, the kernel's BTF,
 * relocation state: most of a start's peak) is returned when it exits;
 * the caller then takes the result from the pins
 * (tpd_datapath_open_pinned()) after tpd_load_child_finish().
 * @lc:  filled in.
 * @cfg: configuration; it must stay as it is until the child is done.
 *
 * Call it before any thread is started.  When no map is pinned yet (a
 * cold start), the child says when it made them
 * (tpd_load_child_maps_ready()).
 *
 * Return: 0 or -errno (nothing to finish then).
 */
int tpd_load_child_start(struct tpd_load_child *lc,
			 const struct tpd_config *cfg)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int fds[2], err;
	pid_t parent;

	lc->pid = -1;
	lc->ready_fd = -1;
	/*
	 * SIGCHLD ignored (inherited across exec from whoever started us)
	 * has the kernel reap the child: wait4() would fail with ECHILD
	 */
	sigemptyset(&dfl.sa_mask);
	if (sigaction(SIGCHLD, &dfl, &lc->old_chld))
		return -errno;
	if (pipe2(fds, O_CLOEXEC)) {
		err = -errno;
		goto fail;
	}
	fflush(NULL);
	parent = getpid();
	lc->pid = fork();
	if (!lc->pid) {
		close(fds[0]);
		tpd_load_child_run(cfg, fds[1], parent);
	}
	close(fds[1]);
	if (lc->pid < 0) {
		err = -errno;
		close(fds[0]);
		goto fail;
	}
	lc->ready_fd = fds[0];
	return 0;
fail:
	sigaction(SIGCHLD, &lc->old_chld, NULL);
	return err;
}

/**
 * tpd_load_child_maps_ready() - wait until the child says its maps are
 * made, or until it is done.
 * @lc: the child.
 *
 * True only for a load that found no map pinned, once libbpf made and
 * pinned them all, before any program goes to the verifier: every map
 * pinned in the pin root then has its final definition, its Maglev size
 * is recorded, and the child writes none of them any more (no migration,
 * no index to build).  The caller may write them while the programs
 * load.  Should the load fail after that, libbpf unpins them; should the
 * child be killed, tpd_datapath_unpin_maps() takes them back.
 *
 * Return: whether the maps may be written now.
 */
bool tpd_load_child_maps_ready(struct tpd_load_child *lc)
{
	char c = 0;
	ssize_t n;

	if (lc->ready_fd < 0)
		return false;
	do
		n = read(lc->ready_fd, &c, 1);
	while (n < 0 && errno == EINTR);
	close(lc->ready_fd);
	lc->ready_fd = -1;
	return n == 1 && c == TPD_MAPS_READY;
}

/**
 * tpd_load_child_finish() - wait for the child of tpd_load_child_start().
 * @lc:           the child.
 * @peak_rss_kib: its peak resident set, in KiB.
 *
 * Return: 0, or -errno (-ECHILD: the child's load failed; it logged why).
 */
int tpd_load_child_finish(struct tpd_load_child *lc, long *peak_rss_kib)
{
	struct rusage ru;
	int status, err = 0;

	while (wait4(lc->pid, &status, 0, &ru) < 0)
		if (errno != EINTR) {
			err = -errno;
			goto out;
		}
	*peak_rss_kib = ru.ru_maxrss;
	if (WIFSIGNALED(status))
		/* killed (OOM, kill -9): it could not say why */
		log_error("the loading child was killed", "signal",
			  strsignal(WTERMSIG(status)));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		err = -ECHILD;
out:
	if (lc->ready_fd >= 0)
		close(lc->ready_fd);
	lc->ready_fd = -1;
	lc->pid = -1;
	sigaction(SIGCHLD, &lc->old_chld, NULL);
	return err;
}

/**
 * tpd_datapath_load_child() - tpd_datapath_load() in a child process,
 * waited for (tpd_load_child_start(), tpd_load_child_finish()).
 * @cfg:          configuration.
 * @peak_rss_kib: the child's peak resident set, in KiB.
 *
 * Return: 0, or -errno (-ECHILD: the child's load failed; it logged why).
 */
int tpd_datapath_load_child(const struct tpd_config *cfg, long *peak_rss_kib)
{
	struct tpd_load_child lc;
	int err;

	err = tpd_load_child_start(&lc, cfg);
	return err ? err : tpd_load_child_finish(&lc, peak_rss_kib);
}

/**
 * tpd_datapath_open_maps() - open the maps pinned in the pin root, and no
 * program: what tpd_load_child_maps_ready() allows to write.
 * @dp:  filled in (no skeleton, no program); close with
 *       tpd_datapath_close().
 * @cfg: configuration.
 *
 * Return: 0 or -errno (nothing stays open then).
 */
static int tpd_datapath_open_maps(struct tpd_datapath *dp,
				  const struct tpd_config *cfg)
{
	int i, err;

	memset(dp, 0, sizeof(*dp));
	for (i = 0; i < TPD_PROG_MAX; i++)
		dp->prog_fd[i] = -1;
	err = tp_maps_open_pinned(&dp->maps, cfg->pin_root, cfg->maglev_size);
	if (err)
		return err;
	dp->from_pins = true;
	return 0;
}

/**
 * tpd_datapath_same_maps() - are @a's maps the ones @b has, pin for pin?
 * @a: maps.
 * @b: maps.
 *
 * Return: true when every map of the pin root is the same map in both.
 */
static bool tpd_datapath_same_maps(const struct tp_maps *a,
				   const struct tp_maps *b)
{
	size_t i;
	__u32 id;

	for (i = 0; i < tp_pin_maps_n; i++) {
		id = tpd_map_id(tp_pins_map_fd(a, i));
		if (!id || id != tpd_map_id(tp_pins_map_fd(b, i)))
			return false;
	}
	return true;
}

/**
 * tpd_datapath_unpin_maps() - unpin every map of @m still pinned under
 * its name in the pin root: a cold start's maps, made by a load that did
 * not finish (killed after tpd_load_child_maps_ready(): libbpf could not
 * unpin them as it does after a failed load), so that the next start
 * finds the pin root as this one did.
 * @m:   the maps the load made.
 * @cfg: configuration.
 */
static void tpd_datapath_unpin_maps(const struct tp_maps *m,
				    const struct tpd_config *cfg)
{
	char path[PATH_MAX];
	__u32 id;
	size_t i;
	int fd;

	for (i = 0; i < tp_pin_maps_n; i++) {
		snprintf(path, sizeof(path), "%s/%s", cfg->pin_root,
			 tp_pin_maps[i].name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		id = tpd_map_id(fd);
		close(fd);
		if (id && id == tpd_map_id(tp_pins_map_fd(m, i)))
			unlink(path);
	}
}

/**
 * tpd_datapath_start_child() - tpd_datapath_load() in a child, the
 * programs and maps then taken from the pins; on a cold start, @early
 * called on the new maps while the verifier checks the programs.
 * @dp:           filled in; close with tpd_datapath_close().
 * @cfg:          configuration.
 * @peak_rss_kib: the child's peak resident set, in KiB.
 * @early:        called once the child made the maps
 *                (tpd_load_child_maps_ready()), with them (no program)
 *                and the child, or NULL.
 * @ctx:          passed to @early.
 * @applied:      set when @early ran on the maps the programs use; when
 *                it ran and they are not (not seen: nothing replaces a
 *                pin meanwhile), what it did must be done again.
 *
 * When the load fails after @early ran, the maps it wrote are unpinned,
 * as libbpf does after a failed load (not when the child was killed):
 * the next start finds the pin root as this one did.
 *
 * Return: 0, -ECHILD (the child's load failed; it logged why) or another
 * -errno (nothing is held then).
 */
int tpd_datapath_start_child(struct tpd_datapath *dp,
			     const struct tpd_config *cfg, long *peak_rss_kib,
			     tpd_early_fn early, void *ctx, bool *applied)
{
	struct tpd_datapath made;
	struct tpd_load_child lc;
	bool wrote = false;
	int err;

	*applied = false;
	memset(dp, 0, sizeof(*dp));
	err = tpd_load_child_start(&lc, cfg);
	if (err)
		return err;
	if (early && tpd_load_child_maps_ready(&lc)) {
		err = tpd_datapath_open_maps(&made, cfg);
		if (err)
			log_warn(
				"cannot open the maps while the programs load; "
				"the configuration is applied after",
				"error", strerror(-err));
		else
			log_info(
				"maps made: the configuration goes in while the programs load");
		if (!err)
			early(&made, &lc, ctx);
		wrote = !err;
	}
	err = tpd_load_child_finish(&lc, peak_rss_kib);
	if (err && wrote)
		tpd_datapath_unpin_maps(&made.maps, cfg);
	if (!err)
		err = tpd_datapath_open_pinned(dp, cfg);
	if (!wrote)
		return err;
	*applied = !err && tpd_datapath_same_maps(&made.maps, &dp->maps);
	if (!err && !*applied)
		log_warn(
			"the maps changed while the programs loaded: the configuration is applied again");
	tpd_datapath_close(&made);
	return err;
}

/**
 * tpd_datapath_close() - release the skeleton, or the pinned programs' and
 * maps' fds.  Programs and maps stay in the kernel (pins, links).
 * @dp: the datapath.
 */
void tpd_datapath_close(struct tpd_datapath *dp)
{
	int i;

	if (dp->from_pins) {
		for (i = 0; i < TPD_PROG_MAX; i++)
			if (dp->prog_fd[i] >= 0)
				close(dp->prog_fd[i]);
		tp_maps_close(&dp->maps);
	} else {
		/* the object owns the maps' fds, not the chunks' mappings */
		tp_slab_close(dp->maps.slab);
		dp->maps.slab = NULL;
		for (i = 0; dp->progs_apart && i < TPD_PROG_MAX; i++)
			if (dp->prog_fd[i] >= 0)
				close(dp->prog_fd[i]);
	}
	for (i = 0; i < TPD_PROG_MAX; i++)
		dp->prog_fd[i] = -1;
	dp->from_pins = false;
	dp->progs_apart = false;
	tailplane__destroy(dp->skel);
	dp->skel = NULL;
}

static void tpd_link_pin_path(char *path, size_t len, const char *pin_root,
			      const char *ifname, const char *hook)
{
	snprintf(path, len, "%s/links/%s-%s", pin_root, ifname, hook);
}

/* Attach @prog by a pinned tcx link, swapping it into an existing link. */
static int tpd_attach_tcx(int prog_fd, int ifindex, int type, const char *pin)
{
	int fd, err;

	fd = bpf_obj_get(pin);
	if (fd >= 0) {
		err = bpf_link_update(fd, prog_fd, NULL);
		close(fd);
		if (!err)
			return 0;
		/* the link of a vanished interface: start over */
		unlink(pin);
	}
	fd = bpf_link_create(prog_fd, ifindex, type, NULL);
	if (fd < 0)
		return -errno;
	err = bpf_obj_pin(fd, pin) ? -errno : 0;
	close(fd);
	return err;
}

static int tpd_attach_clsact(int prog_fd, int ifindex,
			     enum bpf_tc_attach_point where)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = where);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TPD_TC_HANDLE,
		    .priority = TPD_TC_PRIO, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE);
	int err;

	/* the clsact qdisc is usually there from an earlier start */
	if (!bpf_tc_attach(&hook, &opts))
		return 0;
	opts.prog_id = 0;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

static int tpd_attach_one(struct tpd_datapath *dp, int prog_fd,
			  const char *pin_root, const char *ifname, int ifindex,
			  bool ingress)
{
	char pin[PATH_MAX];
	int err;

	tpd_link_pin_path(pin, sizeof(pin), pin_root, ifname,
			  ingress ? "ingress" : "egress");
	err = tpd_attach_tcx(prog_fd, ifindex,
			     ingress ? TPD_BPF_TCX_INGRESS : TPD_BPF_TCX_EGRESS,
			     pin);
	if (!err) {
		dp->tcx = true;
		return 0;
	}
	if (err != -EINVAL && err != -EOPNOTSUPP && err != -ENOTSUP)
		return err;
	return tpd_attach_clsact(prog_fd, ifindex,
				 ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
}

/**
 * tpd_guard_needed() - does @cfg put the XDP guard on an uplink?  The
 * guard is loaded by libxdp from the object (loader/xdp.c), so such a
 * configuration needs the object open, not only the pins.
 * @cfg: configuration.
 *
 * Return: true when some uplink gets the guard.
 */
bool tpd_guard_needed(const struct tpd_config *cfg)
{
	size_t i;

	for (i = 0; cfg->guard.enabled && i < cfg->n_ifaces; i++)
		if (cfg->ifaces[i].kind == TPD_IFACE_UPLINK)
			return true;
	return false;
}

/**
 * tpd_iface_attach() - describe an interface to the datapath and attach
 * its programs.
 * @dp:      the loaded datapath.
 * @cfg:     configuration.
 * @ifc:     the interface's configuration.
 * @ifindex: its ifindex now.
 *
 * A tailnet interface gets tp_from_tailnet at ingress and tp_to_tailnet
 * at egress.  An uplink gets the XDP guard when the configuration has one
 * (loader/xdp.c; its errors are logged, never this function's) and
 * tp_from_uplink at ingress (replies of SNAT flows), or is only described
 * when the object has no such program (@dp->uplink_prog).  Whether
 * packets start at the IP header is the device type rtnetlink reports for
 * @ifindex in the loader's namespace.
 *
 * Return: 0 or -errno (-ENODEV: no interface @ifindex; -EOPNOTSUPP: a
 * device type the datapath cannot parse).
 */
int tpd_iface_attach(struct tpd_datapath *dp, const struct tpd_config *cfg,
		     const struct tpd_iface_cfg *ifc, int ifindex)
{
	struct tp_iface v = { .zone = ifc->zone };
	__u32 key = ifindex;
	unsigned short type;
	int prog_fd;
	char num[16];
	bool l3;
	int err;

	if (ifc->kind == TPD_IFACE_TAILNET)
		v.flags |= TP_IFACE_F_TAILNET;
	else
		v.flags |= TP_IFACE_F_UPLINK;
	err = tpd_link_is_l3(ifindex, &l3);
	if (err == -EOPNOTSUPP && !tpd_link_type(ifindex, &type)) {
		snprintf(num, sizeof(num), "%u", type);
		log_error(
			"interface type not supported: packets start neither with Ethernet nor with IP",
			"iface", ifc->name, "arphrd", num);
	}
	if (err)
		return err;
	if (l3)
		v.flags |= TP_IFACE_F_L3;
	/* describe it before any program can see its packets */
	err = tp_iface_set(&dp->maps, key, &v);
	if (err)
		return err;
	/* the uplink's XDP guard (loader/xdp.c); it logs its own errors */
	if (ifc->kind == TPD_IFACE_UPLINK && dp->skel)
		tpd_guard_attach(dp->skel->obj, dp->skel->skeleton->data,
				 dp->skel->skeleton->data_sz, cfg, ifc->name,
				 ifindex);
	else if (ifc->kind == TPD_IFACE_UPLINK && cfg->guard.enabled)
		/* the caller loads the object for a guard (tpd_guard_needed()) */
		log_error("guard: the object is not loaded; not attached",
			  "iface", ifc->name);
	if (ifc->kind != TPD_IFACE_TAILNET) {
		prog_fd = tpd_prog_fd(dp, TPD_PROG_FROM_UPLINK);
		return prog_fd >= 0 ? tpd_attach_one(dp, prog_fd, cfg->pin_root,
						     ifc->name, ifindex, true)
				    : 0;
	}
	err = tpd_attach_one(dp, tpd_prog_fd(dp, TPD_PROG_FROM_TAILNET),
			     cfg->pin_root, ifc->name, ifindex, true);
	if (!err)
		err = tpd_attach_one(dp, tpd_prog_fd(dp, TPD_PROG_TO_TAILNET),
				     cfg->pin_root, ifc->name, ifindex, false);
	return err;
}

static void tpd_detach_clsact(int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TPD_TC_HANDLE,
		    .priority = TPD_TC_PRIO);

	hook.attach_point = BPF_TC_INGRESS;
	bpf_tc_detach(&hook, &opts);
	hook.attach_point = BPF_TC_EGRESS;
	bpf_tc_detach(&hook, &opts);
}

/**
 * tpd_iface_detach() - remove an interface's programs and description.
 * @pin_root: pin root.
 * @ifname:   its name.
 * @ifindex:  its ifindex, 0 when it no longer exists.
 *
 * Return: 0.
 */
int tpd_iface_detach(const char *pin_root, const char *ifname, int ifindex)
{
	char pin[PATH_MAX];

	tpd_link_pin_path(pin, sizeof(pin), pin_root, ifname, "ingress");
	unlink(pin);
	tpd_link_pin_path(pin, sizeof(pin), pin_root, ifname, "egress");
	unlink(pin);
	if (ifindex)
		tpd_detach_clsact(ifindex);
	/* an uplink left the configuration while it still exists */
	tpd_guard_detach(ifindex ?: (int)if_nametoindex(ifname));
	return 0;
}

/*
 * Remove the pins directly under @dir (with @pins), and the directories
 * whose names start with @subdirs (when not NULL) with every pin in them.
 */
static void tpd_unpin_dir(const char *dir, bool pins, const char *subdirs)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || de->d_name[1] == '.'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type != DT_DIR) {
			if (pins)
				unlink(path);
		} else if (subdirs &&
			   !strncmp(de->d_name, subdirs, strlen(subdirs))) {
			tpd_unpin_dir(path, true, NULL);
			rmdir(path);
		}
	}
	closedir(d);
}

/* The SNAT ports the loader of @pin_root reserved, and only those. */
static void tpd_snat_release(const char *pin_root)
{
	char record[PATH_MAX + 16], removed[256];
	int err;

	tpd_snat_record_path(pin_root, record, sizeof(record));
	err = tpd_ports_release(TPD_RESERVED_PORTS, record, removed,
				sizeof(removed));
	if (err < 0)
		log_warn("cannot release the reserved SNAT ports", "sysctl",
			 TPD_RESERVED_PORTS, "error", strerror(-err));
	else if (err)
		log_warn(
			"the reserved SNAT ports were in another network namespace: "
			"left there, record dropped",
			"record", record);
	else if (removed[0])
		log_info("reserved SNAT ports released", "sysctl",
			 TPD_RESERVED_PORTS, "ports", removed);
}

/**
 * tpd_detach_all() - `tailplaned --detach`: remove the programs from every
 * interface, and with @purge the maps, the pin root and the SNAT ports
 * the loader reserved (in the caller's network namespace) too.
 *
 * Return: 0 or -errno.
 */
int tpd_detach_all(const struct tpd_config *cfg, bool purge)
{
	char links[PATH_MAX];
	__u32 key, next, *prev = NULL;
	char path[PATH_MAX];
	size_t i;
	int fd;

	snprintf(links, sizeof(links), "%s/links", cfg->pin_root);
	tpd_unpin_dir(links, true, NULL);
	tpd_guard_detach_all(cfg);
	for (i = 0; i < cfg->n_ifaces; i++) {
		int ifindex = if_nametoindex(cfg->ifaces[i].name);

		if (ifindex)
			tpd_detach_clsact(ifindex);
	}
	/* interfaces attached earlier under another configuration */
	snprintf(path, sizeof(path), "%s/%s", cfg->pin_root, TP_MAP_IFACES);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		while (!bpf_map_get_next_key(fd, prev, &next)) {
			key = next;
			prev = &key;
			tpd_detach_clsact(key);
		}
		close(fd);
	}
	log_info("detached", "pin_root", cfg->pin_root);
	if (!purge)
		return 0;
	tpd_snat_release(cfg->pin_root);
	tpd_unpin_dir(cfg->pin_root, true, TPD_PROGS_PREFIX);
	rmdir(links);
	if (rmdir(cfg->pin_root) && errno != ENOENT)
		return -errno;
	log_info("purged the pins", "pin_root", cfg->pin_root);
	return 0;
}

/**
 * tpd_rebuild_services() - build every service's Maglev table again from
 * its backends, after the layout or the configured size changed.
 * @m:        maps.
 * @slab_new: the slab is new: the extents the entries name are of the
 *            one it replaced, not to be freed in this one.
 *
 * Each table goes live as tp_service_set() makes it (the service never
 * lacks one); its size follows the service's active backends.
 */
void tpd_rebuild_services(const struct tp_maps *m, bool slab_new)
{
	struct tp_svc_key k, next, *prev = NULL;
	struct tp_svc_batch *b = tp_svc_batch_new();
	struct tp_svc_key bad;
	struct tp_svc svc;
	int services = 0, err;
	char count[16];

	if (!b) {
		log_error("cannot rebuild the Maglev tables", "error",
			  strerror(ENOMEM));
		return;
	}
	if (slab_new)
		tp_svc_batch_old_slab(b);
	while (!bpf_map_get_next_key(m->services, prev, &next)) {
		k = next;
		prev = &k;
		if (!bpf_map_lookup_elem(m->services, &k, &svc) &&
		    !tp_svc_batch_add(b, svc.id, &k))
			services++;
	}
	/* one flush: one grace period for every table it replaced */
	err = tp_svc_batch_flush(m, b, &bad, NULL);
	tp_svc_batch_free(b);
	snprintf(count, sizeof(count), "%d", services);
	if (err)
		log_error("cannot rebuild every Maglev table", "services",
			  count, "error", strerror(-err));
	else
		log_info("Maglev tables rebuilt", "services", count);
}
