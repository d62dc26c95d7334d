// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * status: is the loader running, which programs are attached where (the
 * links and programs pinned under the pin root, e.g. the loader's
 * PIN_ROOT/links/<ifname>-<hook>), the interfaces tailplane knows
 * (tp_ifaces) and how full each map is.  Works with whatever exists:
 * nothing here needs every map to be pinned.
 *
 * It is also the liveness and readiness probe (DaemonSet, systemd): the
 * status always prints, and the exit status says whether the datapath is
 * healthy (enum tpctl_exit): 0 yes; 3 a map is not pinned, so the
 * datapath is not (fully) loaded; 2 the maps are there but tailplaned does
 * not run (the datapath works, nothing syncs it); 1 it cannot tell.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "flags.h"
#include "names.h"
#include "pins.h"
#include "table.h"
#include "tpctl.h"

/* Link types newer than the UAPI headers this builds against. */
#define TPCTL_LINK_TYPE_TCX    11
#define TPCTL_LINK_TYPE_NETKIT 13
#define TPCTL_TCX_INGRESS      46
#define TPCTL_TCX_EGRESS       47
#define TPCTL_MAX_PINNED       64

/**
 * struct tpctl_pinned - a program or link pinned under the pin root.
 * @path:    its path relative to the pin root.
 * @kind:    "link", "prog" or "map".
 * @type:    link or program type.
 * @id:      link or program id.
 * @prog_id: the program a link holds.
 * @prog:    that program's name.
 * @ifindex: the interface of an XDP or tcx link, 0 otherwise.
 * @hook:    "ingress", "egress", "xdp", or "".
 */
struct tpctl_pinned {
	char path[128];
	const char *kind;
	char type[32];
	__u32 id;
	__u32 prog_id;
	char prog[BPF_OBJ_NAME_LEN];
	__u32 ifindex;
	const char *hook;
};

/**
 * struct tpctl_xdp - the XDP program of an uplink, as the kernel reports it
 * (the loader attaches tp_xdp_guard through libxdp, which makes no link
 * to pin: this asks the interface itself).
 * @ifindex:    the uplink.
 * @mode:       "native", "generic", "offload", "several" or "none".
 * @prog_id:    the program attached (in native mode when several are).
 * @prog:       its name: tp_xdp_guard alone, xdp_dispatcher when libxdp's
 *              dispatcher holds it (and maybe other programs).
 * @dispatcher: @prog is libxdp's dispatcher.
 */
struct tpctl_xdp {
	__u32 ifindex;
	const char *mode;
	__u32 prog_id;
	char prog[BPF_OBJ_NAME_LEN];
	bool dispatcher;
};

/**
 * struct tpctl_status - everything `status` shows.
 * @loader_pid: the loader's pid, 0 when it is not running.
 * @loader_err: -errno when its pid file could not be read, else 0.
 * @loader_why: why it is taken as not running.
 * @pinned:     pinned links and programs.
 * @n_pinned:   their number.
 * @ifaces:     tp_ifaces entries.
 * @ifindex:    their keys.
 * @n_ifaces:   their number.
 * @maps:       the maps.
 * @xdp:        the XDP program of each uplink.
 * @n_xdp:      their number.
 */
struct tpctl_status {
	int loader_pid;
	int loader_err;
	char loader_why[PATH_MAX + 64];
	struct tpctl_pinned pinned[TPCTL_MAX_PINNED];
	size_t n_pinned;
	struct tp_iface ifaces[TP_MAX_IFACES];
	__u32 ifindex[TP_MAX_IFACES];
	size_t n_ifaces;
	struct tpctl_map_info maps[48];
	struct tpctl_xdp xdp[TP_MAX_IFACES];
	size_t n_xdp;
};

/* The loader's pid, from its locked pid file. */
static void status_loader(struct tpctl_ctx *ctx, struct tpctl_status *s)
{
	char path[PATH_MAX];
	int pid = tp_pins_loader_pid(ctx->opts.pin_root);

	tp_pins_loader_pidfile(ctx->opts.pin_root, path, sizeof(path));
	s->loader_pid = pid > 0 ? pid : 0;
	s->loader_err = pid < 0 ? pid : 0;
	if (pid < 0)
		snprintf(s->loader_why, sizeof(s->loader_why), "%s: %s", path,
			 strerror(-pid));
	else if (!pid)
		snprintf(s->loader_why, sizeof(s->loader_why),
			 "no tailplaned holds %s", path);
}

static const char *link_type_str(__u32 type)
{
	const char *s = libbpf_bpf_link_type_str(type);

	if (s)
		return s;
	if (type == TPCTL_LINK_TYPE_TCX)
		return "tcx";
	if (type == TPCTL_LINK_TYPE_NETKIT)
		return "netkit";
	return "?";
}

static void prog_name(__u32 prog_id, char *buf, size_t len)
{
	struct bpf_prog_info info = {};
	__u32 ilen = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(prog_id);

	buf[0] = '\0';
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &ilen))
		snprintf(buf, len, "%s", info.name);
	close(fd);
}

static void pinned_link(int fd, struct tpctl_pinned *p)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info), *u;

	p->kind = "link";
	p->hook = "";
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return;
	p->id = info.id;
	p->prog_id = info.prog_id;
	snprintf(p->type, sizeof(p->type), "%s", link_type_str(info.type));
	prog_name(info.prog_id, p->prog, sizeof(p->prog));
	/* xdp and tcx links both start their info with the ifindex */
	u = (__u32 *)&info.xdp;
	if (info.type == BPF_LINK_TYPE_XDP) {
		p->ifindex = u[0];
		p->hook = "xdp";
	} else if (info.type == TPCTL_LINK_TYPE_TCX) {
		p->ifindex = u[0];
		p->hook = u[1] == TPCTL_TCX_INGRESS  ? "ingress"
			  : u[1] == TPCTL_TCX_EGRESS ? "egress"
						     : "";
	}
}

static void pinned_prog(int fd, struct tpctl_pinned *p)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	const char *t;

	p->kind = "prog";
	p->hook = "";
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return;
	p->id = info.id;
	p->prog_id = info.id;
	t = libbpf_bpf_prog_type_str(info.type);
	snprintf(p->type, sizeof(p->type), "%s", t ? t : "?");
	snprintf(p->prog, sizeof(p->prog), "%s", info.name);
}

static bool is_abi_map(const char *name)
{
	size_t i;

	for (i = 0; i < tp_pin_maps_n; i++)
		if (!strcmp(name, tp_pin_maps[i].name))
			return true;
	return false;
}

/* One pinned object, @rel relative to the pin root. */
static void status_pinned_one(struct tpctl_ctx *ctx, struct tpctl_status *s,
			      const char *rel)
{
	struct tpctl_pinned *p = &s->pinned[s->n_pinned];
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", ctx->opts.pin_root, rel);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s", rel);
	if (tp_fdinfo_field(fd, "link_type") >= 0 ||
	    tp_fdinfo_field(fd, "link_id") >= 0)
		pinned_link(fd, p);
	else if (tp_fdinfo_field(fd, "prog_type") >= 0)
		pinned_prog(fd, p);
	else
		p->kind = NULL; /* a map that is not ours: not shown */
	close(fd);
	if (p->kind)
		s->n_pinned++;
}

/* Links and programs under the pin root and one level of directories. */
static void status_pinned(struct tpctl_ctx *ctx, struct tpctl_status *s,
			  const char *sub)
{
	char dir[PATH_MAX], rel[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s%s%s", ctx->opts.pin_root, sub ? "/" : "",
		 sub ? sub : "");
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) && s->n_pinned < TPCTL_MAX_PINNED) {
		if (de->d_name[0] == '.' || (!sub && is_abi_map(de->d_name)))
			continue;
		snprintf(rel, sizeof(rel), "%s%s%s", sub ? sub : "",
			 sub ? "/" : "", de->d_name);
		if (!sub && !fstatat(dirfd(d), de->d_name, &st, 0) &&
		    S_ISDIR(st.st_mode)) {
			status_pinned(ctx, s, de->d_name);
			continue;
		}
		status_pinned_one(ctx, s, rel);
	}
	closedir(d);
}

static void status_ifaces(struct tpctl_ctx *ctx, struct tpctl_status *s)
{
	char path[PATH_MAX];
	__u32 k, next, *prev = NULL;
	int fd;

	s->n_ifaces = 0;
	snprintf(path, sizeof(path), "%s/%s", ctx->opts.pin_root,
		 TP_MAP_IFACES);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	while (s->n_ifaces < TP_MAX_IFACES &&
	       !bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &s->ifaces[s->n_ifaces]))
			continue;
		s->ifindex[s->n_ifaces++] = k;
	}
	close(fd);
}

/* What runs at XDP on each uplink tp_ifaces knows. */
static void status_xdp(struct tpctl_status *s)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct tpctl_xdp *x;
	size_t i;

	s->n_xdp = 0;
	for (i = 0; i < s->n_ifaces; i++) {
		if (!(s->ifaces[i].flags & TP_IFACE_F_UPLINK))
			continue;
		x = &s->xdp[s->n_xdp++];
		memset(x, 0, sizeof(*x));
		x->ifindex = s->ifindex[i];
		x->mode = "none";
		if (bpf_xdp_query(x->ifindex, 0, &q))
			continue;
		x->mode = q.attach_mode == XDP_ATTACHED_DRV	? "native"
			  : q.attach_mode == XDP_ATTACHED_SKB	? "generic"
			  : q.attach_mode == XDP_ATTACHED_HW	? "offload"
			  : q.attach_mode == XDP_ATTACHED_MULTI ? "several"
								: "none";
		x->prog_id = q.drv_prog_id ?: q.skb_prog_id ?: q.hw_prog_id;
		prog_name(x->prog_id, x->prog, sizeof(x->prog));
		x->dispatcher = !strcmp(x->prog, "xdp_dispatcher");
	}
}

static char *ifname(__u32 ifindex, char *buf)
{
	if (!ifindex || !if_indextoname(ifindex, buf))
		snprintf(buf, IF_NAMESIZE, ifindex ? "(gone)" : "-");
	return buf;
}

/*
 * How healthy the datapath is (enum tpctl_exit), and in @why what is not:
 * TPCTL_EXIT_ERROR when a map or the loader's pid file cannot be read (it
 * cannot tell), else TPCTL_EXIT_NO_MAPS when a map is not pinned, else
 * TPCTL_EXIT_NO_LOADER when no loader runs for the pin root.
 */
static int status_health(struct tpctl_ctx *ctx, const struct tpctl_status *s,
			 char *why, size_t len)
{
	const char *root = ctx->opts.pin_root;
	bool missing = false;
	size_t i;

	why[0] = '\0';
	for (i = 0; i < tp_pin_maps_n; i++) {
		if (s->maps[i].err == -ENOENT || s->maps[i].err == -ENOTDIR) {
			missing = true;
		} else if (s->maps[i].err) {
			tp_pins_strerror(root, s->maps[i].err, why, len);
			return TPCTL_EXIT_ERROR;
		}
	}
	if (s->loader_err) {
		snprintf(why, len,
			 "cannot tell whether tailplaned runs for %s: %s", root,
			 s->loader_why);
		return TPCTL_EXIT_ERROR;
	}
	if (missing) {
		tp_pins_strerror(root, -ENOENT, why, len);
		return TPCTL_EXIT_NO_MAPS;
	}
	if (!s->loader_pid) {
		snprintf(why, len, "tailplaned is not running for %s (%s)",
			 root, s->loader_why);
		return TPCTL_EXIT_NO_LOADER;
	}
	return TPCTL_EXIT_OK;
}

static const struct tpctl_col pinned_cols[] = {
	{ "PINNED" }, { "KIND" },    { "TYPE" },	  { "INTERFACE" },
	{ "HOOK" },   { "PROGRAM" }, { "PROG-ID", true },
};

static const struct tpctl_col iface_cols[] = {
	{ "INTERFACE" },
	{ "IFINDEX", true },
	{ "ZONE", true },
	{ "FLAGS" },
};

static const struct tpctl_col xdp_cols[] = {
	{ "UPLINK" },  { "XDP" },	    { "DISPATCHER" },
	{ "PROGRAM" }, { "PROG-ID", true },
};

static void status_xdp_plain(struct tpctl_ctx *ctx,
			     const struct tpctl_status *s)
{
	char ifn[IF_NAMESIZE];
	struct tpctl_table t;
	size_t i;

	if (!s->n_xdp)
		return;
	tpctl_table_init(&t, xdp_cols, sizeof(xdp_cols) / sizeof(xdp_cols[0]));
	for (i = 0; i < s->n_xdp; i++) {
		tpctl_table_cell(&t, "%s", ifname(s->xdp[i].ifindex, ifn));
		tpctl_table_cell(&t, "%s", s->xdp[i].mode);
		tpctl_table_cell(&t, "%s",
				 !s->xdp[i].prog_id ? "-"
				 : s->xdp[i].dispatcher
					 ? "yes"
					 : "no (single program)");
		tpctl_table_cell(&t, "%s",
				 s->xdp[i].prog[0] ? s->xdp[i].prog : "-");
		tpctl_table_cell(&t, "%u", s->xdp[i].prog_id);
	}
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
	fputc('\n', ctx->out);
}

static void status_xdp_json(struct tpctl_ctx *ctx, const struct tpctl_status *s)
{
	struct tp_json *j = &ctx->json;
	char ifn[IF_NAMESIZE];
	size_t i;

	tp_json_key(j, "xdp");
	tp_json_arr_open(j);
	for (i = 0; i < s->n_xdp; i++) {
		tp_json_obj_open(j);
		tp_json_kv_u64(j, "ifindex", s->xdp[i].ifindex);
		tp_json_kv_str(j, "ifname", ifname(s->xdp[i].ifindex, ifn));
		tp_json_kv_str(j, "mode", s->xdp[i].mode);
		tp_json_kv_bool(j, "dispatcher", s->xdp[i].dispatcher);
		tp_json_kv_u64(j, "prog_id", s->xdp[i].prog_id);
		tp_json_kv_str(j, "prog", s->xdp[i].prog);
		tp_json_obj_close(j);
	}
	tp_json_arr_close(j);
}

static void status_plain(struct tpctl_ctx *ctx, const struct tpctl_status *s)
{
	char ifn[IF_NAMESIZE], flags[64];
	struct tpctl_table t;
	size_t i;

	fprintf(ctx->out, "pin root  %s\n", ctx->opts.pin_root);
	if (s->loader_pid)
		fprintf(ctx->out, "loader    tailplaned running, pid %d\n",
			s->loader_pid);
	else
		fprintf(ctx->out, "loader    not running (%s)\n",
			s->loader_why);
	fputc('\n', ctx->out);
	tpctl_table_init(&t, pinned_cols,
			 sizeof(pinned_cols) / sizeof(pinned_cols[0]));
	for (i = 0; i < s->n_pinned; i++) {
		const struct tpctl_pinned *p = &s->pinned[i];

		tpctl_table_cell(&t, "%s", p->path);
		tpctl_table_cell(&t, "%s", p->kind);
		tpctl_table_cell(&t, "%s", p->type);
		tpctl_table_cell(&t, "%s", ifname(p->ifindex, ifn));
		tpctl_table_cell(&t, "%s", p->hook[0] ? p->hook : "-");
		tpctl_table_cell(&t, "%s", p->prog[0] ? p->prog : "-");
		tpctl_table_cell(&t, "%u", p->prog_id);
	}
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
	if (!s->n_pinned)
		fprintf(ctx->out,
			"(no programs attached through pinned links)\n");
	fputc('\n', ctx->out);
	tpctl_table_init(&t, iface_cols,
			 sizeof(iface_cols) / sizeof(iface_cols[0]));
	for (i = 0; i < s->n_ifaces; i++) {
		tpctl_table_cell(&t, "%s", ifname(s->ifindex[i], ifn));
		tpctl_table_cell(&t, "%u", s->ifindex[i]);
		tpctl_table_cell(&t, "%u", s->ifaces[i].zone);
		tpctl_table_cell(&t, "%s",
				 tpctl_iface_flags_str(s->ifaces[i].flags,
						       flags, sizeof(flags)));
	}
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
	fputc('\n', ctx->out);
	status_xdp_plain(ctx, s);
	tpctl_maps_render(ctx, s->maps, tp_pin_maps_n);
}

static void status_json(struct tpctl_ctx *ctx, const struct tpctl_status *s,
			int health, const char *why)
{
	struct tp_json *j = &ctx->json;
	char ifn[IF_NAMESIZE], flags[64];
	size_t i;

	tp_json_obj_open(j);
	tp_json_kv_str(j, "pin_root", ctx->opts.pin_root);
	tp_json_key(j, "health");
	tp_json_obj_open(j);
	tp_json_kv_bool(j, "ok", health == TPCTL_EXIT_OK);
	tp_json_kv_u64(j, "exit_status", health);
	if (health != TPCTL_EXIT_OK)
		tp_json_kv_str(j, "error", why);
	tp_json_obj_close(j);
	tp_json_key(j, "loader");
	tp_json_obj_open(j);
	tp_json_kv_bool(j, "running", s->loader_pid);
	if (s->loader_pid)
		tp_json_kv_u64(j, "pid", s->loader_pid);
	else
		tp_json_kv_str(j, "reason", s->loader_why);
	tp_json_obj_close(j);
	tp_json_key(j, "pinned");
	tp_json_arr_open(j);
	for (i = 0; i < s->n_pinned; i++) {
		const struct tpctl_pinned *p = &s->pinned[i];

		tp_json_obj_open(j);
		tp_json_kv_str(j, "path", p->path);
		tp_json_kv_str(j, "kind", p->kind);
		tp_json_kv_str(j, "type", p->type);
		tp_json_kv_u64(j, "id", p->id);
		tp_json_kv_u64(j, "ifindex", p->ifindex);
		if (p->ifindex)
			tp_json_kv_str(j, "ifname", ifname(p->ifindex, ifn));
		tp_json_kv_str(j, "hook", p->hook);
		tp_json_kv_u64(j, "prog_id", p->prog_id);
		tp_json_kv_str(j, "prog", p->prog);
		tp_json_obj_close(j);
	}
	tp_json_arr_close(j);
	tp_json_key(j, "interfaces");
	tp_json_arr_open(j);
	for (i = 0; i < s->n_ifaces; i++) {
		tp_json_obj_open(j);
		tp_json_kv_u64(j, "ifindex", s->ifindex[i]);
		tp_json_kv_str(j, "ifname", ifname(s->ifindex[i], ifn));
		tp_json_kv_u64(j, "zone", s->ifaces[i].zone);
		tp_json_kv_str(j, "flags",
			       tpctl_iface_flags_str(s->ifaces[i].flags, flags,
						     sizeof(flags)));
		tp_json_obj_close(j);
	}
	tp_json_arr_close(j);
	status_xdp_json(ctx, s);
	tp_json_key(j, "maps");
	tpctl_maps_render(ctx, s->maps, tp_pin_maps_n);
	tp_json_obj_close(j);
}

/**
 * tpctl_status() - loader, attachments, interfaces, map fill; and, for
 * probes, the exit status of the datapath's health (enum tpctl_exit) with
 * its reason, except inside a batch, where status is output only.
 */
int tpctl_status(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	struct tpctl_status *s = calloc(1, sizeof(*s));
	char why[TPCTL_ERR_LEN - 8];
	int health;

	if (!s)
		return tpctl_err(ctx, "out of memory");
	status_loader(ctx, s);
	status_pinned(ctx, s, NULL);
	status_ifaces(ctx, s);
	status_xdp(s);
	tpctl_map_infos(ctx, s->maps);
	health = status_health(ctx, s, why, sizeof(why));
	if (ctx->opts.json)
		status_json(ctx, s, health, why);
	else
		status_plain(ctx, s);
	if (health != TPCTL_EXIT_OK && !ctx->in_batch) {
		tpctl_err(ctx, "%s", why);
		ctx->exit_status = health;
	}
	free(s);
	return 0;
}
