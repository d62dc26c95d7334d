// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The uplinks' XDP guard (bpf/lib/guard.h) on the interfaces, and its
 * configuration in the maps.
 *
 * Attaching goes through libxdp so that tp_xdp_guard can share an uplink
 * with other XDP programs in libxdp's dispatcher.  The dispatcher runs
 * its programs as freplace (BPF_PROG_TYPE_EXT) extensions, and a program
 * that libbpf already loaded as XDP cannot become one: libxdp must load
 * it itself.  So the guard is not taken from the loaded skeleton: a
 * second bpf_object is opened from the same ELF bytes with only
 * tp_xdp_guard to load and every map the skeleton made reused by fd (one
 * set of maps, one tp_stats), and that object goes to libxdp before load
 * (xdp_program__create()).  Where the dispatcher cannot load (no
 * freplace: the kernel refuses it, as on this machine), libxdp falls back
 * to attaching the program alone; the log and `tpctl status` say which.
 *
 * Restart: the programs stay when the loader exits.  A guard attached
 * alone is replaced in one step (XDP_FLAGS_REPLACE naming the old
 * program, which libxdp has no call for): the uplink is never unguarded.
 * One in a dispatcher gets its successor added first and is then
 * removed, each a single swap of the dispatcher.
 */
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "addr.h"
#include "guard.h"
#include "log.h"
#include "xdp.h"

#define TPD_GUARD_PROG "tp_xdp_guard"

static int tpd_libxdp_log(enum libxdp_print_level level, const char *fmt,
			  va_list ap)
{
	/* its warnings are about the dispatcher it then falls back from */
	tpd_log_library(TPD_LOG_DEBUG, "libxdp", fmt, ap);
	return 0;
}

/*
 * libbpf's messages while libxdp probes its dispatcher (an EPERM for the
 * freplace program it tries, where the kernel refuses them) are not the
 * loader's errors: debug level, as libxdp's own.
 */
static int tpd_guard_libbpf_log(enum libbpf_print_level level, const char *fmt,
				va_list ap)
{
	return tpd_libxdp_log(LIBXDP_DEBUG, fmt, ap);
}

static const char *tpd_xdp_mode_name(enum xdp_attach_mode mode)
{
	return mode == XDP_MODE_NATIVE ? "native"
	       : mode == XDP_MODE_SKB  ? "generic"
	       : mode == XDP_MODE_HW   ? "offload"
				       : "unspec";
}

/*
 * The guard alone, in an object of its own over the live object's maps
 * (see the top of this file).  Internal maps (.rodata, .bss) are its own:
 * the guard reads no knob, and its clock override is 0.
 */
static struct bpf_object *tpd_guard_open(struct bpf_object *live,
					 const void *elf, size_t size)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "tailplane");
	struct bpf_object *obj = bpf_object__open_mem(elf, size, &opts);
	struct bpf_program *prog;
	struct bpf_map *map, *same;
	int err = 0;

	if (!obj)
		return NULL;
	bpf_object__for_each_program(prog, obj) bpf_program__set_autoload(
		prog, !strcmp(bpf_program__name(prog), TPD_GUARD_PROG));
	bpf_object__for_each_map(map, obj)
	{
		bpf_map__set_pin_path(map, NULL);
		if (bpf_map__is_internal(map))
			continue;
		same = bpf_object__find_map_by_name(live, bpf_map__name(map));
		err = same ? bpf_map__reuse_fd(map, bpf_map__fd(same))
			   : -ENOENT;
		if (err)
			break;
	}
	if (err) {
		bpf_object__close(obj);
		errno = -err;
		return NULL;
	}
	return obj;
}

/* What is attached to @ifindex now: NULL for nothing (or an error). */
static struct xdp_multiprog *tpd_xdp_current(int ifindex)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);

	return libxdp_get_error(mp) ? NULL : mp;
}

static bool tpd_is_guard(const struct xdp_program *p)
{
	return p && !strcmp(xdp_program__name(p), TPD_GUARD_PROG);
}

/* Attach @prog afresh: native where it works (auto), else generic. */
static int tpd_guard_attach_new(struct xdp_program *prog, int ifindex,
				enum tpd_xdp_mode want,
				enum xdp_attach_mode *mode)
{
	int err;

	*mode = want == TPD_XDP_GENERIC ? XDP_MODE_SKB : XDP_MODE_NATIVE;
	err = xdp_program__attach(prog, ifindex, *mode, 0);
	if (err && want == TPD_XDP_AUTO) {
		*mode = XDP_MODE_SKB;
		err = xdp_program__attach(prog, ifindex, *mode, 0);
	}
	return err;
}

/*
 * Swap a guard attached alone (@old, in @mode) for the one in @obj, in
 * one step: the kernel replaces the program only if @old is still there.
 */
static int tpd_guard_replace(struct bpf_object *obj, int ifindex,
			     const struct xdp_program *old,
			     enum xdp_attach_mode mode)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, opts,
		    .old_prog_fd = xdp_program__fd(old));
	__u32 flags =
		XDP_FLAGS_REPLACE | (mode == XDP_MODE_SKB ? XDP_FLAGS_SKB_MODE
							  : XDP_FLAGS_DRV_MODE);
	struct bpf_program *prog;
	int err;

	err = bpf_object__load(obj);
	if (err)
		return err;
	prog = bpf_object__find_program_by_name(obj, TPD_GUARD_PROG);
	if (!prog)
		return -ENOENT;
	err = bpf_xdp_attach(ifindex, bpf_program__fd(prog), flags, &opts);
	return err < 0 ? err : 0;
}

/*
 * Add the new guard to the dispatcher on @ifindex, then remove the old
 * guards it holds: each a swap of the whole dispatcher, never a moment
 * without a guard (for that moment there are two, and a handshake takes
 * a token from each).
 */
static int tpd_guard_renew_in(struct xdp_multiprog *mp,
			      struct xdp_program *prog, int ifindex)
{
	enum xdp_attach_mode mode = xdp_multiprog__attach_mode(mp);
	struct xdp_program *p, *old[8];
	size_t n = 0, i;
	int err;

	for (p = xdp_multiprog__next_prog(NULL, mp); p && n < 8;
	     p = xdp_multiprog__next_prog(p, mp))
		if (tpd_is_guard(p))
			old[n++] = p;
	err = xdp_program__attach(prog, ifindex, mode, 0);
	for (i = 0; !err && i < n; i++)
		if (xdp_program__detach(old[i], ifindex, mode, 0))
			log_warn(
				"guard: cannot remove the old guard from the dispatcher; "
				"both run",
				"prog", xdp_program__name(old[i]));
	return err;
}

/* Log how the guard runs on @ifname now. */
static void tpd_guard_report(const char *ifname, int ifindex, const char *how)
{
	struct xdp_multiprog *mp = tpd_xdp_current(ifindex);
	char id[16];

	if (!mp) {
		log_error("guard: nothing attached after attaching", "iface",
			  ifname);
		return;
	}
	snprintf(id, sizeof(id), "%u",
		 xdp_program__id(xdp_multiprog__main_prog(mp)));
	log_info("guard attached", "iface", ifname, "how", how, "mode",
		 tpd_xdp_mode_name(xdp_multiprog__attach_mode(mp)),
		 "dispatcher",
		 xdp_multiprog__is_legacy(mp)
			 ? "no (libxdp's dispatcher cannot load here: "
			   "the program runs alone)"
			 : "yes",
		 "prog_id", id);
	xdp_multiprog__close(mp);
}

/* With @mp on @ifindex (NULL: nothing), put the guard of @obj there. */
static int tpd_guard_place(struct bpf_object *obj, struct xdp_multiprog *mp,
			   const struct tpd_config *cfg, const char *ifname,
			   int ifindex)
{
	DECLARE_LIBXDP_OPTS(xdp_program_opts, xopts, .obj = obj,
			    .prog_name = TPD_GUARD_PROG);
	enum tpd_xdp_mode want = cfg->guard.mode;
	struct xdp_program *main_prog =
		mp ? xdp_multiprog__main_prog(mp) : NULL;
	enum xdp_attach_mode mode;
	struct xdp_program *prog;
	int err;

	if (mp && xdp_multiprog__is_legacy(mp)) {
		mode = xdp_multiprog__attach_mode(mp);
		if (!tpd_is_guard(main_prog)) {
			log_error(
				"guard not attached: another XDP program runs on the uplink "
				"without libxdp's dispatcher",
				"iface", ifname, "prog",
				main_prog ? xdp_program__name(main_prog) : "?");
			return -EBUSY;
		}
		if (want == TPD_XDP_AUTO ||
		    (want == TPD_XDP_NATIVE) == (mode == XDP_MODE_NATIVE)) {
			err = tpd_guard_replace(obj, ifindex, main_prog, mode);
			if (!err)
				tpd_guard_report(ifname, ifindex,
						 "replaced in place");
			return err;
		}
		/* another mode: the kernel cannot swap across modes */
		log_warn(
			"guard: changing its XDP mode, the uplink is unguarded for a moment",
			"iface", ifname);
		xdp_multiprog__detach(mp);
		mp = NULL;
	}
	prog = xdp_program__create(&xopts);
	err = libxdp_get_error(prog);
	if (err)
		return err;
	if (mp)
		err = tpd_guard_renew_in(mp, prog, ifindex);
	else
		err = tpd_guard_attach_new(prog, ifindex, want, &mode);
	if (!err)
		tpd_guard_report(ifname, ifindex,
				 mp ? "renewed in the dispatcher" : "attached");
	xdp_program__close(prog);
	return err;
}

/**
 * tpd_guard_attach() - put tp_xdp_guard on an uplink, or take it off when
 * the configuration disables it.
 * @live:     the loaded datapath object (its maps are the guard's).
 * @elf:      the object's ELF bytes (the skeleton's).
 * @elf_size: their size.
 * @cfg:      configuration ("guard" section).
 * @ifname:   the uplink.
 * @ifindex:  its ifindex.
 *
 * A guard already there (an earlier start) is replaced without a moment
 * unguarded; another program attached without libxdp's dispatcher is
 * left alone and the guard is not attached.  Errors are logged here.
 *
 * Return: 0 or -errno.
 */
int tpd_guard_attach(struct bpf_object *live, const void *elf, size_t elf_size,
		     const struct tpd_config *cfg, const char *ifname,
		     int ifindex)
{
	struct xdp_multiprog *mp;
	struct bpf_object *obj;
	libbpf_print_fn_t print;
	int err;

	libxdp_set_print(tpd_libxdp_log);
	if (!cfg->guard.enabled)
		return tpd_guard_detach(ifindex);
	obj = tpd_guard_open(live, elf, elf_size);
	if (!obj) {
		err = -errno;
		log_error("guard: cannot open its program", "iface", ifname,
			  "error", strerror(-err));
		return err;
	}
	mp = tpd_xdp_current(ifindex);
	print = libbpf_set_print(tpd_guard_libbpf_log);
	err = tpd_guard_place(obj, mp, cfg, ifname, ifindex);
	libbpf_set_print(print);
	xdp_multiprog__close(mp);
	bpf_object__close(obj);
	if (err && err != -EBUSY)
		log_error("guard: cannot attach", "iface", ifname, "error",
			  strerror(-err));
	return err;
}

/**
 * tpd_guard_detach() - take tp_xdp_guard off @ifindex: the program
 * attached alone, or its entries in libxdp's dispatcher.  Other programs
 * stay.
 *
 * Return: 0 or -errno.
 */
int tpd_guard_detach(int ifindex)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p, *old[8];
	enum xdp_attach_mode mode;
	size_t n = 0, i;
	int err = 0;

	if (ifindex <= 0)
		return 0;
	libxdp_set_print(tpd_libxdp_log);
	mp = tpd_xdp_current(ifindex);
	if (!mp)
		return 0;
	mode = xdp_multiprog__attach_mode(mp);
	if (xdp_multiprog__is_legacy(mp)) {
		if (tpd_is_guard(xdp_multiprog__main_prog(mp)))
			err = xdp_multiprog__detach(mp);
	} else {
		for (p = xdp_multiprog__next_prog(NULL, mp); p && n < 8;
		     p = xdp_multiprog__next_prog(p, mp))
			if (tpd_is_guard(p))
				old[n++] = p;
		for (i = 0; i < n && !err; i++)
			err = xdp_program__detach(old[i], ifindex, mode, 0);
	}
	xdp_multiprog__close(mp);
	return err;
}

/**
 * tpd_guard_detach_all() - `--detach`: the guard off every configured
 * interface and every interface tp_ifaces knows.
 * @cfg: configuration (pin root, interfaces).
 */
void tpd_guard_detach_all(const struct tpd_config *cfg)
{
	char path[4096];
	__u32 key, next, *prev = NULL;
	size_t i;
	int fd;

	for (i = 0; i < cfg->n_ifaces; i++)
		tpd_guard_detach(if_nametoindex(cfg->ifaces[i].name));
	snprintf(path, sizeof(path), "%s/%s", cfg->pin_root, TP_MAP_IFACES);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		tpd_guard_detach(key);
	}
	close(fd);
}

/* ---- configuration ------------------------------------------------------------ */

static bool tpd_guard_configured(const struct tpd_config *cfg,
				 const struct tp_guard_row *r)
{
	struct tp_addr masked;
	size_t i;

	for (i = 0; i < cfg->guard.n_drop; i++) {
		masked = cfg->guard.drop[i].prefix;
		if (cfg->guard.drop[i].plen == r->key.prefixlen &&
		    !memcmp(&masked, &r->key.addr, sizeof(masked)))
			return true;
	}
	return false;
}

/* Put configured prefix @i on the list, counting what happened in @res. */
static void tpd_guard_sync_prefix(const struct tp_maps *m,
				  const struct tpd_config *cfg, size_t i,
				  struct tpd_sync_result *res)
{
	const struct tpd_guard_prefix *d = &cfg->guard.drop[i];
	struct tp_guard_key k = { .prefixlen = d->plen, .addr = d->prefix };
	struct tp_guard_drop_val v;
	char pfx[TP_PREFIX_STRLEN];
	int err;

	if (!bpf_map_lookup_elem(m->guard_drop, &k, &v) && v.plen == d->plen) {
		if (v.owner != TP_OWNER_STATIC)
			res->conflicts++; /* tpctl's: left to it */
		return;
	}
	err = tp_guard_drop_add(m, &d->prefix, d->plen, TP_OWNER_STATIC);
	if (!err) {
		res->added++;
		return;
	}
	if (!res->errors++)
		snprintf(
			res->error, sizeof(res->error),
			"guard.drop[%zu]: %s not written: %s", i,
			tp_prefix_format(&d->prefix, d->plen, pfx, sizeof(pfx)),
			err == -ENOSPC ? TP_MAP_GUARD_DROP
				" is full (capacity.guard_prefixes "
				"raises it)"
				       : strerror(-err));
}

/**
 * tpd_guard_sync() - write the "guard" section into the maps: ports, rate
 * and burst (over what `tpctl guard rate` set), and the drop list's
 * static entries (others' entries stay; a prefix tpctl holds already is
 * a conflict, left to it).
 * @m:   maps.
 * @cfg: configuration.
 * @res: what changed.
 *
 * Return: 0 or -errno when the maps cannot be read.
 */
int tpd_guard_sync(const struct tp_maps *m, const struct tpd_config *cfg,
		   struct tpd_sync_result *res)
{
	struct tp_guard_config c = {}, was;
	struct tp_guard_row *rows = NULL;
	size_t n, i;
	int err;

	if (tp_guard_ports_set(&c, cfg->guard.ports, cfg->guard.n_ports) ||
	    tp_guard_config_fill(&c, cfg->guard.rate, cfg->guard.burst))
		return -EINVAL; /* tpd_config_parse() let through what it should not */
	if (tp_guard_config_get(m, &was) || memcmp(&was, &c, sizeof(c))) {
		err = tp_guard_config_put(m, &c);
		if (err)
			return err;
		res->changed++;
	}
	err = tp_guard_drop_list(m, &rows, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		if (rows[i].val.owner == TP_OWNER_STATIC &&
		    !tpd_guard_configured(cfg, &rows[i]) &&
		    !tp_guard_drop_del(m, &rows[i].key.addr,
				       rows[i].key.prefixlen, TP_OWNER_STATIC))
			res->removed++;
	free(rows);
	for (i = 0; i < cfg->guard.n_drop; i++)
		tpd_guard_sync_prefix(m, cfg, i, res);
	return 0;
}
