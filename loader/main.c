// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tailplaned: load and attach the datapath, keep its maps in sync with the
 * configuration and the peer sources, collect garbage, write metrics.
 *
 * It is never the reason a packet is dropped: programs and maps stay when
 * it exits or crashes, a restart swaps programs in place and reuses the
 * maps, and a source that fails to answer keeps its last entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "config.h"
#include "datapath.h"
#include "egress_route.h"
#include "gc.h"
#include "identity.h"
#include "iface.h"
#include "kube_store.h"
#include "kube_sync.h"
#include "links.h"
#include "log.h"
#include "metrics.h"
#include "peers.h"
#include "pins.h"
#include "service.h"
#include "snat.h"
#include "sync.h"

#define TPD_VERSION "0.1.0"
/*
 * Conntrack entries the stale-UDP purge reads per main-loop turn, under
 * the pin-root lock: a few milliseconds, so a purge over a full table
 * spreads over turns instead of holding the lock and the loop.
 */
#define TPD_PURGE_BUDGET 16384
/*
 * How long one interface's peers may take to read, all of it: a source
 * that answers slowly (or trickles) is given up on after this and its
 * entries kept; the loop goes on with the other interfaces.
 */
#define TPD_FETCH_TIMEOUT_MS 2000
/* An interface whose source failed is asked again after at most this. */
#define TPD_FETCH_BACKOFF_MAX 60

/**
 * struct tpd_fetch - how reading one interface's peers went.
 * @fails:    failures in a row.
 * @retry_at: not asked again before (backoff), 0: at the next sync.
 */
struct tpd_fetch {
	unsigned int fails;
	time_t retry_at;
};

struct tpd {
	const char *config_path;
	struct tpd_config cfg;
	struct tpd_datapath dp;
	int *ifindex; /* per cfg.ifaces: attached ifindex, 0 if not */
	struct tpd_fetch *fetch; /* per cfg.ifaces: its peer source's health */
	int lock_fd;
	int sfd; /* signalfd of SIGHUP, SIGTERM and SIGINT; -1 for --once */
	struct mnl_socket *links;
	struct tp_addr *host; /* this host's addresses, as last synced */
	size_t n_host;
	bool host_dirty; /* address events since, or the last read failed */
	bool snat_dirty; /* the SNAT addresses may have changed: write tp_config */
	struct tpd_snat_addrs snat; /* as last written */
	struct tpd_source_state src[TPD_SRC_MAX];
	unsigned int src_conflicts
		[TPD_SRC_MAX]; /* at the last sync, to log changes */
	struct tpd_gc_result gc;
	struct tpd_index_gc index_gc; /* tp_be_frontends' GC between runs */
	struct tpd_purge purge;	      /* stale UDP flows still to delete */
	struct tpd_purge
		purge_tcp; /* TCP flows of backends gone, after a grace */
	struct tpd_kube_store
		*kstore; /* the Kubernetes source, NULL when off */
	struct tpd_kube_sync *ksync;
	struct tpd_kube_client *kclient;
	struct tpd_kube_cfg
		kcfg; /* the client's copy: a reload frees t->cfg's */
	struct tpd_kube_metrics kmetrics;
	bool kube_retry;  /* a reconcile could not run or failed: again soon */
	bool kube_synced; /* this client's first full picture was applied */
	struct tpd_egress_routes eroutes; /* egress VIPs' routes, last sync */
	bool eroutes_off; /* egress_routes false, ours removed */
	time_t next_sync, next_gc, next_metrics;
	long load_child_rss_kib; /* the loading child's peak; -1: none */
	bool static_early; /* the static part went in while the child loaded */
	bool once;
};

static int tpd_libbpf_log(enum libbpf_print_level level, const char *fmt,
			  va_list ap)
{
	tpd_log_library(level == LIBBPF_WARN ? TPD_LOG_WARN : TPD_LOG_DEBUG,
			"libbpf", fmt, ap);
	return 0;
}

/* ---- single instance ---------------------------------------------------------- */

/* The instance lock and the locked pid file tpctl status reads. */
static struct tp_pins_instance tpd_instance = { .lock_fd = -1, .pid_fd = -1 };

/*
 * One instance per pin root: a flock inside the pin root itself (see
 * tp_pins_instance_lock()), so that any spelling of a pin root meets the
 * same lock; returns its fd or -errno (-EBUSY: another loader holds it).
 */
static int tpd_instance_lock(const char *pin_root)
{
	return tp_pins_instance_lock(pin_root, &tpd_instance);
}

static void tpd_instance_unlock(int fd, const char *pin_root)
{
	if (fd >= 0 && fd == tpd_instance.lock_fd)
		tp_pins_instance_unlock(&tpd_instance);
}

/* ---- interfaces ------------------------------------------------------------------ */

static void tpd_attach_iface(struct tpd *t, size_t i, int ifindex)
{
	const struct tpd_iface_cfg *ifc = &t->cfg.ifaces[i];
	int err;

	err = tpd_iface_attach(&t->dp, &t->cfg, ifc, ifindex);
	if (err) {
		log_error("cannot attach", "iface", ifc->name, "error",
			  strerror(-err));
		t->ifindex[i] = 0;
		return;
	}
	t->ifindex[i] = ifindex;
	/* until the object has tp_from_uplink, an uplink is only described */
	log_info("attached", "iface", ifc->name, "ifindex",
		 log_fmt("%d", ifindex), "mode",
		 ifc->kind != TPD_IFACE_TAILNET && !t->dp.uplink_prog
			 ? "described (tp_from_uplink not built)"
		 : t->dp.tcx ? "tcx"
			     : "clsact",
		 "program",
		 ifc->kind == TPD_IFACE_TAILNET
			 ? "tp_from_tailnet,tp_to_tailnet"
		 : t->dp.uplink_prog ? "tp_from_uplink"
				     : "none");
}

/*
 * Detach interface @i and drop its description, in that order: programs
 * still attached to an interface without a tp_ifaces entry pass its
 * packets unpoliced.  @live: it still exists (it left the configuration),
 * so its clsact filters are removed too; a deleted one took them along.
 */
static void tpd_forget_iface(struct tpd *t, size_t i, bool live)
{
	__u32 key = t->ifindex[i];

	tpd_iface_detach(t->cfg.pin_root, t->cfg.ifaces[i].name,
			 live ? (int)key : 0);
	if (key)
		tp_iface_del(&t->dp.maps, key);
	t->ifindex[i] = 0;
	log_info(live ? "interface left the configuration, detached"
		      : "interface gone, forgotten",
		 "iface", t->cfg.ifaces[i].name);
}

/* Attach every configured interface that exists now. */
static void tpd_attach_present(struct tpd *t)
{
	size_t i;
	int ifindex;

	for (i = 0; i < t->cfg.n_ifaces; i++) {
		ifindex = if_nametoindex(t->cfg.ifaces[i].name);
		if (ifindex)
			tpd_attach_iface(t, i, ifindex);
		else if (!t->ifindex[i])
			log_info(
				"interface not present yet; attached when it appears",
				"iface", t->cfg.ifaces[i].name);
	}
}

static void tpd_on_link(const struct tpd_link_event *ev, void *ctx)
{
	struct tpd *t = ctx;
	size_t i;

	if (ev->addr) {
		/* also sent for each address of an interface that goes */
		t->host_dirty = true;
		t->snat_dirty = true;
		return;
	}
	for (i = 0; i < t->cfg.n_ifaces; i++) {
		if (strcmp(t->cfg.ifaces[i].name, ev->name))
			continue;
		if (ev->up && t->ifindex[i] != ev->ifindex) {
			if (t->ifindex[i])
				tpd_forget_iface(t, i, false);
			tpd_attach_iface(t, i, ev->ifindex);
			t->next_sync = 0; /* its peers now */
			t->snat_dirty =
				true; /* an uplink's addresses come with it */
		} else if (!ev->up && t->ifindex[i] == ev->ifindex) {
			tpd_forget_iface(t, i, false);
			t->next_sync = 0;
		}
	}
}

/* ---- syncs ------------------------------------------------------------------------ */

/* Read @ifc's peers, all of it by @deadline (tpd_deadline_after()). */
static int tpd_fetch_peers(struct tpd *t, const struct tpd_iface_cfg *ifc,
			   __u64 deadline, struct tp_peer_list *peers)
{
	return tpd_sources[ifc->peers].fetch(&t->cfg, ifc, deadline, peers);
}

/* Append @ifc's identity entries to @all; -errno when its source failed. */
static int tpd_collect_peers(struct tpd *t, const struct tpd_iface_cfg *ifc,
			     __u64 deadline, struct tp_ident_entry **all,
			     size_t *n_all)
{
	struct tp_peer_rule *rules = NULL;
	struct tp_peer_list peers = {};
	struct tp_ident_entry *ents = NULL;
	size_t n_rules = 0, n = 0, conflicts = 0;
	void *grown;
	int err;

	err = tpd_fetch_peers(t, ifc, deadline, &peers);
	if (err)
		return err;
	err = tpd_peer_rules(&t->dp.maps, &t->cfg, ifc->peers, &rules,
			     &n_rules);
	if (!err)
		err = tpd_peers_to_identities(&peers, ifc->zone, rules, n_rules,
					      TP_ID_TAILNET, &ents, &n,
					      &conflicts);
	tpd_peer_list_free(&peers);
	free(rules);
	if (err)
		return err;
	if (conflicts)
		log_warn("peers claim the same prefix; the first keeps it",
			 "iface", ifc->name);
	grown = realloc(*all, (*n_all + n + 1) * sizeof(**all));
	if (!grown) {
		free(ents);
		return -ENOMEM;
	}
	*all = grown;
	memcpy(*all + *n_all, ents, n * sizeof(*ents));
	*n_all += n;
	free(ents);
	return 0;
}

/*
 * The writers' lock around a sync.  It waits a bounded time (a stuck
 * tpctl must not stall the loader, nor its SIGTERM); when it gives up,
 * the sync is skipped, never done unlocked.
 */
static int tpd_pins_lock(struct tpd *t, const char *what)
{
	char why[PATH_MAX + 256];
	int lock = tp_pins_lock(t->cfg.pin_root);

	if (lock < 0)
		log_warn("cannot take the writers' lock; sync skipped", "sync",
			 what, "error",
			 tp_pins_strerror(t->cfg.pin_root, lock, why,
					  sizeof(why)));
	return lock;
}

/* Note that interface @i's source failed: back off, say so. */
static void tpd_fetch_failed(struct tpd *t, size_t i, time_t now)
{
	struct tpd_fetch *f = &t->fetch[i];
	unsigned int wait = t->cfg.sync_interval, k;

	if (f->fails < 16)
		f->fails++;
	/* every failure doubles the wait, up to TPD_FETCH_BACKOFF_MAX */
	for (k = 1; k < f->fails && wait < TPD_FETCH_BACKOFF_MAX; k++)
		wait *= 2;
	if (wait > TPD_FETCH_BACKOFF_MAX)
		wait = TPD_FETCH_BACKOFF_MAX;
	f->retry_at = now + wait;
	log_warn("peer source failed; keeping its entries", "iface",
		 t->cfg.ifaces[i].name, "error", tpd_peer_last_error(),
		 "retry_in_s", log_fmt("%u", wait));
}

static void tpd_log_memory(const struct tpd *t, const char *after);

/* Say what a peer sync could not do: entries not written, conflicts. */
static void tpd_sync_source_report(struct tpd *t, enum tpd_source s,
				   const struct tpd_sync_result *res)
{
	if (res->errors)
		log_error("peers left without their identity", "source",
			  tpd_source_name(s), "entries",
			  log_fmt("%u", res->errors), "first_error",
			  res->error);
	if (res->conflicts != t->src_conflicts[s]) {
		/* tpctl's or another source's entry wins; say so when that changes */
		log_warn("peer prefixes held by another owner, left to it",
			 "source", tpd_source_name(s), "prefixes",
			 log_fmt("%u", res->conflicts));
		t->src_conflicts[s] = res->conflicts;
	}
}

/*
 * Sync one peer source over all its interfaces.  Each interface is read
 * with a deadline of its own; one that fails (or is backing off) keeps
 * its zone's entries and the others are synced all the same.
 */
static void tpd_sync_source(struct tpd *t, enum tpd_source s)
{
	__u8 owner = tpd_sources[s].owner;
	struct tpd_sync_result res = {};
	struct tp_ident_entry *all = NULL;
	size_t i, n_all = 0, n_keep = 0;
	__u16 *keep = NULL;
	time_t now = time(NULL);
	bool used = false, first = false;
	int err = 0, lock;

	for (i = 0; i < t->cfg.n_ifaces; i++) {
		const struct tpd_iface_cfg *ifc = &t->cfg.ifaces[i];

		if (ifc->peers != s || !t->ifindex[i])
			continue;
		if (!keep) {
			keep = calloc(t->cfg.n_ifaces, sizeof(*keep));
			if (!keep) {
				err = -ENOMEM;
				break;
			}
		}
		used = true;
		if (now < t->fetch[i].retry_at) {
			keep[n_keep++] = ifc->zone;
			continue;
		}
		err = tpd_collect_peers(
			t, ifc, tpd_deadline_after(TPD_FETCH_TIMEOUT_MS), &all,
			&n_all);
		if (err == -ENOMEM)
			break;
		if (err) {
			tpd_fetch_failed(t, i, now);
			keep[n_keep++] = ifc->zone;
			err = 0;
			continue;
		}
		t->fetch[i].fails = 0;
		t->fetch[i].retry_at = 0;
	}
	if (!used && !t->src[s].entries && !t->src[s].syncs)
		goto out;
	t->src[s].syncs++;
	if (err) {
		/* out of memory: everything stays as it is */
		t->src[s].errors++;
		goto out;
	}
	lock = tpd_pins_lock(t, tpd_source_name(s));
	if (lock < 0) {
		/* skipped, never done unlocked: the entries stay as they are */
		t->src[s].errors++;
		goto out;
	}
	err = tpd_sync_peer_source(&t->dp.maps, owner, all, n_all, keep, n_keep,
				   &res);
	tp_pins_unlock(lock);
	if (err)
		log_error("peers not synced: cannot read the identity map",
			  "source", tpd_source_name(s), "error",
			  strerror(-err));
	tpd_sync_source_report(t, s, &res);
	if (err || n_keep || res.errors) {
		/*
		 * An interface that did not answer, or peers left without their
		 * identity (tp_identity full): the source is not healthy.
		 */
		t->src[s].errors++;
		if (err)
			goto out;
	} else {
		first = !t->src[s].last_ok;
		t->src[s].last_ok = time(NULL);
	}
	t->src[s].entries = n_all;
	if (first)
		tpd_log_memory(t, tpd_source_name(s));
	if (res.added || res.changed || res.removed)
		log_info("peers synced", "source", tpd_source_name(s), "added",
			 log_fmt("%u", res.added), "changed",
			 log_fmt("%u", res.changed), "removed",
			 log_fmt("%u", res.removed));
out:
	free(keep);
	free(all);
}

/* "+added ~changed -removed conflicts N errors N" of a sync, in @buf. */
static const char *tpd_sync_result_fmt(const struct tpd_sync_result *res,
				       char *buf, size_t len)
{
	snprintf(buf, len, "+%u ~%u -%u conflicts %u errors %u", res->added,
		 res->changed, res->removed, res->conflicts, res->errors);
	return buf;
}

/* Read this host's addresses again; the old list stays on failure. */
static int tpd_host_refresh(struct tpd *t)
{
	struct tp_addr *host;
	size_t n;
	int err;

	err = tpd_host_addrs(&host, &n);
	t->host_dirty = err != 0;
	if (err) {
		log_warn(
			"cannot read this host's addresses; keeping the last ones",
			"error", strerror(-err));
		return err;
	}
	free(t->host);
	t->host = host;
	t->n_host = n;
	return 0;
}

/* This host's addresses as the identity host, after address events. */
static void tpd_sync_host_now(struct tpd *t)
{
	struct tpd_sync_result res = {};
	char buf[64];
	int lock, err;

	if (tpd_host_refresh(t))
		return;
	lock = tpd_pins_lock(t, "host");
	if (lock < 0) {
		t->host_dirty = true; /* again at the next look */
		return;
	}
	err = tpd_sync_host(&t->dp.maps, &t->cfg, t->host, t->n_host, &res);
	tp_pins_unlock(lock);
	if (err) {
		log_warn("cannot sync this host's addresses", "error",
			 strerror(-err));
		return;
	}
	if (!res.added && !res.changed && !res.removed && !res.errors)
		return;
	log_info("host addresses synced", "result",
		 tpd_sync_result_fmt(&res, buf, sizeof(buf)));
}

/*
 * Apply the configuration's static part to @m; the number of entries that
 * failed.  @fresh: a cold start's load made @m (tpd_sync_static_fresh()).
 */
static unsigned int tpd_sync_static_maps(struct tpd *t, const struct tp_maps *m,
					 bool fresh)
{
	struct tpd_sync_result res = {};
	char buf[64];
	int lock, err;

	t->src[TPD_SRC_STATIC].syncs++;
	tpd_host_refresh(t);
	lock = tpd_pins_lock(t, "static");
	if (lock < 0) {
		/* skipped, never done unlocked: applied at the next SIGHUP */
		t->src[TPD_SRC_STATIC].errors++;
		return 1;
	}
	err = tpd_sync_static_fresh(m, &t->cfg, t->host, t->n_host, &t->purge,
				    fresh, &res);
	tp_pins_unlock(lock);
	if (err || res.errors)
		t->src[TPD_SRC_STATIC].errors++;
	else
		t->src[TPD_SRC_STATIC].last_ok = time(NULL);
	tpd_sync_result_fmt(&res, buf, sizeof(buf));
	if (res.errors)
		log_error("configuration applied with errors", "result", buf,
			  "first_error", res.error);
	else
		log_info("configuration applied", "result", buf);
	return res.errors + (err != 0);
}

/* The same, to the maps in use. */
static unsigned int tpd_sync_static_now(struct tpd *t)
{
	return tpd_sync_static_maps(t, &t->dp.maps, false);
}

/* ---- SNAT ------------------------------------------------------------------------- */

static void tpd_snat_log(const struct tpd *t, const struct tpd_snat_addrs *a)
{
	char v4[64], v6[64], ports[16];

	snprintf(ports, sizeof(ports), "%u-%u", t->cfg.snat.port_min,
		 t->cfg.snat.port_max);
	tp_addr_format(&a->v4, v4, sizeof(v4));
	tp_addr_format(&a->v6, v6, sizeof(v6));
	log_info("SNAT source addresses", "mode",
		 t->cfg.snat.auto_mode ? "auto" : "off", "ipv4",
		 a->v4.w[3] ? v4 : "none", "ipv6",
		 a->v6.w[0] || a->v6.w[1] || a->v6.w[2] || a->v6.w[3] ? v6
								      : "none",
		 "from", a->from, "ports", ports);
}

/*
 * Write the SNAT part of tp_config: the mode, the port range and the
 * addresses, taken from the first uplink unless configured.  Logged when
 * the addresses change; kept for later (snat_dirty) when the writers'
 * lock cannot be had.
 */
static void tpd_snat_apply(struct tpd *t)
{
	struct tpd_snat_addrs a;
	bool changed;
	int lock, err;

	t->snat_dirty = false;
	err = tpd_snat_addrs(&t->cfg, &a);
	if (err) {
		log_warn(
			"cannot read the uplink's addresses for SNAT; trying again",
			"error", strerror(-err));
		t->snat_dirty = true;
		return;
	}
	lock = tpd_pins_lock(t, "snat");
	if (lock < 0) {
		t->snat_dirty = true;
		return;
	}
	err = tpd_snat_config_write(&t->dp.maps, &t->cfg, &a, &changed);
	tp_pins_unlock(lock);
	if (err) {
		log_error("cannot write the SNAT configuration (tp_config)",
			  "error", strerror(-err));
		t->snat_dirty = true;
		return;
	}
	if (changed || memcmp(&a, &t->snat, sizeof(a)))
		tpd_snat_log(t, &a);
	t->snat = a;
}

/*
 * Reserve the SNAT range from local sockets (ip_local_reserved_ports of
 * this network namespace), so no connection of the node takes a port a
 * SNAT flow holds; said in the log, undone by --detach --purge.
 */
static void tpd_snat_reserve(struct tpd *t)
{
	char record[PATH_MAX + 16], added[256];
	int err;

	tpd_snat_record_path(t->cfg.pin_root, record, sizeof(record));
	err = tpd_ports_reserve(TPD_RESERVED_PORTS, record,
				t->cfg.snat.port_min, t->cfg.snat.port_max,
				added, sizeof(added));
	if (err)
		log_warn(
			"cannot reserve the SNAT ports from local sockets; a local socket "
			"may take one and clash with a SNAT flow",
			"sysctl", TPD_RESERVED_PORTS, "error", strerror(-err));
	else
		log_info("SNAT ports reserved from local sockets", "sysctl",
			 TPD_RESERVED_PORTS, "added_by_us",
			 added[0] ? added : "none");
}

/* Log what --check-config would warn about. */
static void tpd_config_warn(const struct tpd_config *cfg)
{
	char msg[512];

	if (tpd_config_warnings(cfg, TPD_LOCAL_PORT_RANGE, msg, sizeof(msg)))
		log_warn("configuration", "warning", msg);
}

/* One bounded step of a purge of the flows of removed backends. */
static void tpd_purge_one(struct tpd *t, struct tpd_purge *p, const char *what,
			  size_t budget)
{
	unsigned long passes = p->passes;
	int lock, err;

	if (!tpd_purge_pending(p))
		return;
	lock = tpd_pins_lock(t, what);
	if (lock < 0)
		return; /* the purge stays pending: it goes on at the next turn */
	err = tpd_purge_step(&t->dp.maps, p, budget);
	tp_pins_unlock(lock);
	if (err)
		log_warn("flow purge: cannot read conntrack; trying again",
			 "purge", what, "error", strerror(-err));
	if (p->passes != passes && !tpd_purge_pending(p)) {
		log_info(p->proto == IPPROTO_TCP
				 ? "TCP flows of removed backends purged"
				 : "stale UDP flows of removed backends purged",
			 "flows", log_fmt("%lu", p->deleted));
		p->deleted = 0;
	}
}

/* CLOCK_MONOTONIC seconds: the clock of the TCP purges' due times. */
static __u64 tpd_mono_s(void)
{
	return tpd_monotonic_ns() / 1000000000ULL;
}

/*
 * One bounded step of each purge: UDP flows at once, TCP flows once their
 * grace is over; each step reads at most @budget entries (0: all).
 */
static void tpd_purge_now(struct tpd *t, size_t budget)
{
	tpd_purge_release(&t->purge_tcp, tpd_mono_s());
	tpd_purge_one(t, &t->purge, "udp-purge", budget);
	tpd_purge_one(t, &t->purge_tcp, "tcp-purge", budget);
}

static bool tpd_purges_pending(const struct tpd *t)
{
	return tpd_purge_pending(&t->purge) || tpd_purge_pending(&t->purge_tcp);
}

/* ---- kubernetes --------------------------------------------------------------------- */

/* "+a ~c -r" of a reconcile's frontends, for the log. */
static void tpd_kube_log(const struct tpd_kube_sync_result *r, bool first)
{
	const char *msg = !r->full ? "kubernetes reconciled"
			  : first  ? "kubernetes: first full sync applied"
				   : "kubernetes: full sync applied";
	char svc[64], ip[64], pol[64], nat[32];

	snprintf(svc, sizeof(svc), "+%u ~%u -%u", r->svc_added, r->svc_changed,
		 r->svc_removed);
	snprintf(ip, sizeof(ip), "+%u -%u ids +%u -%u", r->ip_added,
		 r->ip_removed, r->id_added, r->id_freed);
	snprintf(pol, sizeof(pol), "+%u -%u", r->rules_added, r->rules_removed);
	snprintf(nat, sizeof(nat), "+%u -%u", r->nat_added, r->nat_removed);
	log_info(msg, "services", svc, "pod_addresses", ip, "rules", pol,
		 "static_nat", nat, "backends_purged",
		 log_fmt("%u", r->be_purged), "conflicts",
		 log_fmt("%u", r->conflicts), "errors",
		 log_fmt("%u", r->errors), "ms",
		 log_fmt("%.1f", r->usec / 1e3));
	if (r->errors)
		log_error("kubernetes: entries not written", "entries",
			  log_fmt("%u", r->errors), "first_error", r->error);
}

/* Write what the store says changed (under the writers' lock). */
static void tpd_kube_reconcile(struct tpd *t)
{
	struct tpd_source_state *st = &t->src[TPD_SRC_KUBERNETES];
	struct tpd_kube_sync_result res;
	int lock, err;

	if (!t->ksync)
		return;
	lock = tpd_pins_lock(t, "kubernetes");
	if (lock < 0) {
		/* the changes stay in the store until the lock can be had */
		t->kube_retry = true;
		return;
	}
	err = tpd_kube_sync_run(t->ksync, &t->dp.maps, tpd_mono_s(), &res);
	tp_pins_unlock(lock);
	t->kube_retry = err || tpd_kube_sync_behind(t->ksync);
	if (!res.ran)
		return;
	st->syncs++;
	if (err) {
		st->errors++;
		log_error(
			"kubernetes: cannot read the maps; everything is looked at again",
			"error", strerror(-err));
		return;
	}
	if (res.errors)
		st->errors++;
	else
		st->last_ok = time(NULL);
	tpd_kube_sync_stats(t->ksync, &t->kmetrics.sync);
	st->entries = t->kmetrics.sync.pod_addrs;
	if (res.full || res.svc_added || res.svc_changed || res.svc_removed ||
	    res.ip_added || res.ip_removed || res.rules_added ||
	    res.rules_removed || res.nat_added || res.nat_removed || res.errors)
		tpd_kube_log(&res, res.full && !t->kube_synced);
	if (res.full && !t->kube_synced)
		tpd_log_memory(t, "kubernetes");
	t->kube_synced = t->kube_synced || res.full;
}

/* A copy of @from whose strings live as long as the client, not the config. */
static int tpd_kube_cfg_copy(struct tpd_kube_cfg *to,
			     const struct tpd_kube_cfg *from)
{
	*to = *from;
	to->server = strdup(from->server ? from->server : "");
	to->token_file = strdup(from->token_file ? from->token_file : "");
	to->ca_file = strdup(from->ca_file ? from->ca_file : "");
	to->kubeconfig = strdup(from->kubeconfig ? from->kubeconfig : "");
	to->node_name = strdup(from->node_name ? from->node_name : "");
	if (to->server && to->token_file && to->ca_file && to->kubeconfig &&
	    to->node_name)
		return 0;
	tpd_kube_cfg_free(to);
	return -ENOMEM;
}

/* Start the source: the store, the translation and the API client. */
static void tpd_kube_start(struct tpd *t)
{
	char err[512] = "";
	int ret;

	if (!t->cfg.kube.enabled)
		return;
	if (tpd_kube_cfg_copy(&t->kcfg, &t->cfg.kube)) {
		log_error("kubernetes: out of memory; the source is off");
		return;
	}
	t->kstore = tpd_kube_store_new();
	t->ksync = t->kstore ? tpd_kube_sync_new(&t->kcfg, t->kstore, &t->purge,
						 &t->purge_tcp)
			     : NULL;
	if (!t->ksync) {
		log_error("kubernetes: out of memory; the source is off");
		tpd_kube_store_free(t->kstore);
		t->kstore = NULL;
		tpd_kube_cfg_free(&t->kcfg);
		return;
	}
	ret = tpd_kube_client_start(&t->kcfg, tpd_kube_store_sink(t->kstore),
				    &t->kclient, err, sizeof(err));
	if (ret) {
		/* the maps keep what they have; a SIGHUP tries again */
		log_error(
			"kubernetes: the API client did not start; entries stay as they are",
			"error", err);
		t->kclient = NULL;
		t->src[TPD_SRC_KUBERNETES].errors++;
	} else {
		log_info("kubernetes source started", "node", t->kcfg.node_name,
			 "expose",
			 t->kcfg.expose == TPD_KUBE_EXPOSE_ANNOTATED
				 ? "annotated"
				 : "all");
	}
	tpd_metrics_set_kube(&t->kmetrics);
}

/*
 * Remove every entry of owner kubernetes, nothing else: the source was
 * switched off (@switched), or the loader starts without it and finds
 * what an earlier one wrote (said only when there was something).
 */
static void tpd_kube_remove(struct tpd *t, bool switched)
{
	struct tpd_sync_result res = {};
	int lock, err;

	lock = tpd_pins_lock(t, "kubernetes-off");
	if (lock < 0)
		return;
	err = tpd_kube_remove_all(&t->dp.maps, &t->purge, &t->purge_tcp,
				  tpd_mono_s(), t->cfg.kube.tcp_grace, &res);
	tp_pins_unlock(lock);
	if (err)
		log_error("kubernetes: its entries could not all be read",
			  "error", strerror(-err));
	if (switched)
		log_info("kubernetes source switched off; its entries removed",
			 "removed", log_fmt("%u", res.removed), "errors",
			 log_fmt("%u", res.errors));
	else if (res.removed || res.errors)
		log_info(
			"kubernetes source off; entries an earlier loader wrote removed",
			"removed", log_fmt("%u", res.removed), "errors",
			log_fmt("%u", res.errors));
}

/*
 * Stop the source; with @remove, also remove every entry it wrote (the
 * section was switched off), nothing else.
 */
static void tpd_kube_stop(struct tpd *t, bool remove)
{
	if (t->kclient)
		tpd_kube_client_stop(t->kclient);
	t->kclient = NULL;
	tpd_kube_sync_free(t->ksync);
	t->ksync = NULL;
	tpd_kube_store_free(t->kstore);
	t->kstore = NULL;
	tpd_kube_cfg_free(&t->kcfg);
	t->kube_retry = false;
	t->kube_synced = false;
	tpd_metrics_set_kube(NULL);
	memset(&t->kmetrics, 0, sizeof(t->kmetrics));
	if (remove)
		tpd_kube_remove(t, true);
}

/* ---- egress routes ------------------------------------------------------------ */

/*
 * Route every egress service's VIP into its tailnet interface, from the
 * services in the maps (egress_route.c).  Switched off, the routes the
 * loader made are removed once and none is made.
 */
static void tpd_egress_routes_now(struct tpd *t)
{
	struct tpd_egress_result res = {};
	struct tpd_egress_want *want;
	unsigned int removed;
	size_t n;
	int lock, err;

	if (!t->cfg.egress_routes) {
		if (t->eroutes_off)
			return;
		t->eroutes_off = true;
		err = tpd_egress_remove_all(NULL, 0, &removed);
		tpd_egress_routes_free(&t->eroutes);
		log_info("egress routes switched off; the loader's removed",
			 "removed", log_fmt("%u", removed), "error",
			 err ? strerror(-err) : "none");
		return;
	}
	t->eroutes_off = false;
	/* a tpctl batch half-written is not read: the writers' lock */
	lock = tpd_pins_lock(t, "egress routes");
	if (lock < 0)
		return;
	err = tpd_egress_wanted(&t->dp.maps, &t->eroutes, &want, &n, &res);
	tp_pins_unlock(lock);
	if (!err)
		err = tpd_egress_apply(&t->eroutes, want, n, &res);
	free(want);
	if (err) {
		log_error("egress routes not synced", "error", strerror(-err));
		return;
	}
	if (res.added || res.moved || res.removed)
		log_info("egress routes synced", "routes",
			 log_fmt("%u", res.routes), "result",
			 log_fmt("+%u ~%u -%u errors %u", res.added, res.moved,
				 res.removed, res.errors));
}

/*
 * tp_be_frontends' GC after conntrack's, under the writers' lock like
 * every other writer of the index (skipped when the lock is not had).
 */
static void tpd_gc_frontends(struct tpd *t)
{
	unsigned long removed;
	int lock = tpd_pins_lock(t, "frontends GC"), err;

	if (lock < 0)
		return;
	err = tpd_gc_index(&t->dp.maps, &t->index_gc, tpd_monotonic_ns(),
			   &removed);
	tp_pins_unlock(lock);
	if (err)
		log_warn("tp_be_frontends GC failed", "error", strerror(-err));
	else if (removed)
		log_info("unused service frontends unindexed", "frontends",
			 log_fmt("%lu", removed));
}

static void tpd_housekeeping(struct tpd *t, time_t now)
{
	enum tpd_source s;

	tpd_purge_now(t, TPD_PURGE_BUDGET);
	if (t->kube_retry)
		tpd_kube_reconcile(t);

	if (now >= t->next_sync) {
		for (s = 0; s < TPD_SRC_MAX; s++)
			if (tpd_source_has_peers(s))
				tpd_sync_source(t, s);
		if (!t->links) {
			tpd_sync_host_now(t); /* no address events: look */
			t->snat_dirty = true;
		}
		/* ipBlock rules follow the peers' entries (a no-op when unchanged) */
		tpd_kube_reconcile(t);
		tpd_egress_routes_now(t);
		/*
		 * what a sync (and a start's configuration) freed goes back
		 * to the kernel: resident between syncs, it was most of the
		 * daemon's heap (about 2 MiB at 10,000 services)
		 */
		malloc_trim(0);
		t->next_sync = now + t->cfg.sync_interval;
	}
	if (now >= t->next_gc) {
		if (tpd_gc(&t->dp.maps, tpd_monotonic_ns(), TP_FRAG_TIMEOUT,
			   &t->gc))
			log_warn("conntrack GC failed");
		if (t->gc.ct_deleted)
			log_debug("conntrack GC", "deleted",
				  log_fmt("%lu", t->gc.ct_deleted), "flows",
				  log_fmt("%lu", t->gc.ct_flows));
		tpd_gc_frontends(t);
		t->next_gc = now + t->cfg.gc_interval;
	}
	if (t->cfg.metrics_path[0] && now >= t->next_metrics) {
		if (t->kclient)
			tpd_kube_client_stats(t->kclient, &t->kmetrics.client);
		if (tpd_metrics_write(t->cfg.metrics_path, &t->dp.maps, &t->gc,
				      t->src))
			log_warn("cannot write metrics", "path",
				 t->cfg.metrics_path);
		t->next_metrics = now + t->cfg.metrics_interval;
	}
}

/* ---- reload ---------------------------------------------------------------------- */

/* Load a new object (same pins), move every attachment to it. */
static int tpd_reload_programs(struct tpd *t)
{
	struct tpd_datapath old = t->dp;
	size_t i;
	int err;

	err = tpd_datapath_load(&t->dp, &t->cfg);
	if (err) {
		t->dp = old;
		return err;
	}
	for (i = 0; i < t->cfg.n_ifaces; i++)
		if (t->ifindex[i])
			tpd_attach_iface(t, i, t->ifindex[i]);
	tpd_datapath_close(&old);
	return 0;
}

static void tpd_reload(struct tpd *t)
{
	struct tpd_fetch *fetch;
	struct tpd_config cfg;
	unsigned int errors;
	char err[512];
	int *ifindex;
	size_t i, j;
	bool knobs, kube, live;

	if (tpd_config_load(t->config_path, &cfg, err, sizeof(err))) {
		log_error("reload: configuration rejected, keeping the old one",
			  "error", err);
		tpd_config_free(&cfg);
		return;
	}
	if (strcmp(cfg.pin_root, t->cfg.pin_root)) {
		log_error(
			"reload: pin_root cannot change while running; restart instead");
		tpd_config_free(&cfg);
		return;
	}
	ifindex = calloc(cfg.n_ifaces + 1, sizeof(*ifindex));
	/* a reload asks every source again at once: no backoff carried over */
	fetch = calloc(cfg.n_ifaces + 1, sizeof(*fetch));
	if (!ifindex || !fetch) {
		free(ifindex);
		free(fetch);
		tpd_config_free(&cfg);
		return;
	}
	/* interfaces that left the configuration */
	for (i = 0; i < t->cfg.n_ifaces; i++) {
		const struct tpd_iface_cfg *now =
			tpd_config_iface(&cfg, t->cfg.ifaces[i].name);

		live = (int)if_nametoindex(t->cfg.ifaces[i].name) ==
		       t->ifindex[i];
		if (!now && t->ifindex[i])
			tpd_forget_iface(t, i, live);
		for (j = 0; now && j < cfg.n_ifaces; j++)
			if (&cfg.ifaces[j] == now)
				ifindex[j] = t->ifindex[i];
	}
	knobs = !tpd_config_knobs_equal(&cfg, &t->cfg);
	kube = !tpd_kube_cfg_equal(&cfg.kube, &t->cfg.kube);
	/* the old section's client and sync go first: they read its strings */
	if (kube)
		tpd_kube_stop(t, t->cfg.kube.enabled && !cfg.kube.enabled);
	tpd_config_free(&t->cfg);
	free(t->ifindex);
	free(t->fetch);
	t->cfg = cfg;
	t->ifindex = ifindex;
	t->fetch = fetch;
	/* the guard is loaded from the object: pins alone do not have it */
	if (!t->dp.skel && tpd_guard_needed(&t->cfg))
		knobs = true;
	if (knobs && tpd_reload_programs(t))
		log_error(
			"reload: new programs failed to load; the old ones stay");
	tpd_attach_present(t);
	tpd_config_warn(&t->cfg); /* before the services go */
	errors = tpd_sync_static_now(t);
	/* nothing reads them again before the next reload reads the file */
	tpd_config_services_release(&t->cfg);
	tpd_snat_reserve(t); /* a new range is reserved before it is used */
	tpd_snat_apply(t);
	if (kube)
		tpd_kube_start(
			t); /* a new client lists everything: a full reconcile */
	t->next_sync = 0;
	if (errors)
		log_error(
			"reloaded, but not all of it could be applied (see above)",
			"config", t->config_path);
	else
		log_info("reloaded", "config", t->config_path);
}

/* ---- main ------------------------------------------------------------------------- */

/*
 * Block the signals the main loop handles and take them through a
 * signalfd.  Done before anything slow (loading the datapath, the first
 * sync): until the loop reads them they stay pending, where the default
 * action of SIGHUP, an operator's reload at the wrong moment, would kill
 * the daemon half-started.
 *
 * Return: the signalfd, or -errno (the signals are unblocked again).
 */
static int tpd_signals_open(void)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0) {
		fd = -errno;
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
	}
	return fd;
}

static int tpd_run(struct tpd *t)
{
	struct pollfd pfd[3];
	struct signalfd_siginfo si;
	int n;

	pfd[0].fd = t->sfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = t->links ? tpd_links_fd(t->links) : -1;
	pfd[1].events = POLLIN;
	pfd[2].events = POLLIN;
	for (;;) {
		tpd_housekeeping(t, time(NULL));
		/* a reload may have started or stopped the source */
		pfd[2].fd = t->kstore ? tpd_kube_store_fd(t->kstore) : -1;
		pfd[2].revents = 0;
		/* with a purge under way, only look for events between its steps */
		n = poll(pfd, 3, tpd_purges_pending(t) ? 0 : 1000);
		if (n < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN) {
			if (tpd_links_read(t->links, tpd_on_link, t) ==
			    -ENOBUFS) {
				tpd_attach_present(
					t); /* lost events: look again */
				t->host_dirty = true;
			}
		}
		/* an endpoint change reaches the maps as soon as the store has it */
		if (pfd[2].revents & POLLIN)
			tpd_kube_reconcile(t);
		if (t->host_dirty)
			tpd_sync_host_now(t);
		if (t->snat_dirty)
			tpd_snat_apply(t);
		if (!(pfd[0].revents & POLLIN))
			continue;
		while (read(t->sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				tpd_reload(t);
			} else {
				log_info(
					"exiting; programs and maps stay in place");
				return 0;
			}
		}
	}
	log_error("main loop: poll failed", "error", strerror(errno));
	return 1;
}

static void tpd_usage(FILE *f)
{
	fprintf(f,
		"Usage: tailplaned --config FILE [--log-level LEVEL] [--once]\n"
		"       tailplaned --config FILE --detach [--purge]\n"
		"       tailplaned --pin-root DIR --detach [--purge]\n"
		"       tailplaned --check-config FILE\n"
		"\n"
		"  -c, --config FILE     JSON configuration (see tailplaned(8))\n"
		"      --check-config FILE  check FILE as a start or reload would, touch\n"
		"                        nothing; exit 0 if it would be taken\n"
		"  -l, --log-level LVL   debug, info, warn or error (default info)\n"
		"      --once            load, attach, sync once, and exit\n"
		"  -d, --detach          remove the programs from every interface\n"
		"      --purge           with --detach: remove the pinned maps too\n"
		"      --pin-root DIR    pin root for --detach without a config\n"
		"  -V, --version         print the version\n"
		"  -h, --help            this text\n");
}

/*
 * --check-config: the validation a start or a reload runs on the file
 * (tpd_config_load()), and nothing else: no pins, lock, interface or map
 * is touched, so it is safe to run next to a live tailplaned before a
 * SIGHUP.
 */
static int tpd_check_config(const char *path)
{
	struct tpd_config cfg;
	char err[512];
	int ret;

	ret = tpd_config_load(path, &cfg, err, sizeof(err));
	if (!ret &&
	    tpd_config_warnings(&cfg, TPD_LOCAL_PORT_RANGE, err, sizeof(err)))
		fprintf(stderr, "Warning: %s: %s\n", path, err);
	tpd_config_free(&cfg);
	if (ret) {
		fprintf(stderr, "Error: %s: %s\n", path, err);
		return 1;
	}
	printf("%s: configuration OK\n", path);
	return 0;
}

static int tpd_detach_cmd(struct tpd *t, bool purge)
{
	int lock = tpd_instance_lock(t->cfg.pin_root);
	unsigned int removed;
	int err;

	if (lock == -EBUSY) {
		log_error(
			"tailplaned is running for this pin root; stop it first");
		return 1;
	}
	/* the programs that served the VIPs go: their routes with them */
	err = tpd_egress_detach(&t->cfg, &removed);
	if (err)
		log_error("cannot remove every egress route", "removed",
			  log_fmt("%u", removed), "error", strerror(-err));
	else if (removed)
		log_info("egress routes removed", "removed",
			 log_fmt("%u", removed));
	if (tpd_detach_all(&t->cfg, purge))
		return 1;
	tpd_instance_unlock(lock, t->cfg.pin_root);
	return 0;
}

/*
 * The peak memory of the daemon, and of the child that loaded the object
 * (its own process: the two are never resident at once in full).  Logged
 * at the start and again after each source's first full sync (@after
 * names it, "start" the first), whose objects and their translation are
 * most of the daemon's memory with a source on.
 */
static void tpd_log_memory(const struct tpd *t, const char *after)
{
	static const char status[] = "/proc/self/status";

	/*
	 * The peak, and what is resident now split into private memory and
	 * pages of mapped files (libraries: libcurl's and its TLS stack's
	 * once a source loaded them, shared with every process that maps
	 * the same files); -1 where unknown.
	 */
	log_info("memory", "after", after, "peak_rss_kib",
		 log_fmt("%lld", tp_proc_field(status, "VmHWM")),
		 "rss_anon_kib",
		 log_fmt("%lld", tp_proc_field(status, "RssAnon")),
		 "rss_file_kib",
		 log_fmt("%lld", tp_proc_field(status, "RssFile")),
		 "load_child_peak_rss_kib",
		 log_fmt("%ld", t->load_child_rss_kib));
}

/*
 * A cold start's child made the maps and has the verifier check the
 * programs (most of a load's time): the configuration's static part goes
 * into the maps meanwhile, on another CPU.
 */
static void tpd_apply_while_loading(const struct tpd_datapath *maps,
				    const struct tpd_load_child *lc, void *ctx)
{
	(void)lc;
	/* the maps were made by this load: the sync reads nothing back */
	tpd_sync_static_maps(ctx, &maps->maps, true);
}

/*
 * The programs and maps: from the pins when an earlier start with the
 * same object and knobs left them (no load at all), else loaded by a
 * child whose memory goes when it exits, then taken from the pins; in
 * this process only when that fails.
 */
static int tpd_datapath_start(struct tpd *t)
{
	int err;

	if (!tpd_datapath_open_pinned(&t->dp, &t->cfg))
		return 0;
	if (!tpd_guard_needed(&t->cfg)) {
		err = tpd_datapath_start_child(
			&t->dp, &t->cfg, &t->load_child_rss_kib,
			tpd_apply_while_loading, t, &t->static_early);
		if (!err)
			return 0;
		if (err == -ECHILD)
			return -1; /* it failed and said why; again would too */
		log_warn("loading in a child did not work; loading here",
			 "error", strerror(-err));
	}
	return tpd_datapath_load(&t->dp, &t->cfg);
}

static int tpd_start(struct tpd *t)
{
	/* the instance lock lives in the pin root: make it first */
	if (tpd_bpffs_prepare(t->cfg.pin_root))
		return -1;
	t->lock_fd = tpd_instance_lock(t->cfg.pin_root);
	if (t->lock_fd < 0) {
		log_error(t->lock_fd == -EBUSY
				  ? "another tailplaned runs for this pin root"
				  : "cannot take the instance lock",
			  "pin_root", t->cfg.pin_root);
		return -1;
	}
	if (tpd_datapath_start(t))
		return -1;
	t->ifindex = calloc(t->cfg.n_ifaces + 1, sizeof(*t->ifindex));
	t->fetch = calloc(t->cfg.n_ifaces + 1, sizeof(*t->fetch));
	if (!t->ifindex || !t->fetch)
		return -1;
	t->links = tpd_links_open();
	if (!t->links)
		log_warn(
			"no link events; interfaces that appear later need a SIGHUP, "
			"and address changes are seen at the next sync");
	/*
	 * SNAT before the first attach: no flow of a first start is decided
	 * without its addresses, and no local socket takes a port once SNAT
	 * hands them out
	 */
	tpd_config_warn(&t->cfg);
	tpd_snat_reserve(t);
	tpd_snat_apply(t);
	tpd_attach_present(t);
	if (!t->static_early)
		tpd_sync_static_now(t);
	/*
	 * Only now: a load that fell back to this process, or programs
	 * that took other maps than those written early, apply them again,
	 * and the warnings above read them
	 */
	tpd_config_services_release(&t->cfg);
	if (!t->cfg.kube.enabled)
		tpd_kube_remove(t, false); /* the configuration says: none */
	else if (!t->once)
		tpd_kube_start(t);
	else
		log_warn(
			"--once: the kubernetes source watches; it runs only in the daemon");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "detach", no_argument, NULL, 'd' },
		{ "purge", no_argument, NULL, 'P' },
		{ "pin-root", required_argument, NULL, 'r' },
		{ "once", no_argument, NULL, 'o' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct tpd t = { .lock_fd = -1,
			 .sfd = -1,
			 .load_child_rss_kib = -1,
			 .purge_tcp = { .proto = IPPROTO_TCP } };
	const char *pin_root = NULL, *check = NULL;
	bool detach = false, purge = false;
	char err[512];
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "c:l:dVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			t.config_path = optarg;
			break;
		case 'l':
			if (tpd_log_level_parse(optarg, &tpd_log_min)) {
				fprintf(stderr,
					"Error: bad log level '%s': expected debug, info, warn or error\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			detach = true;
			break;
		case 'P':
			purge = true;
			break;
		case 'r':
			pin_root = optarg;
			break;
		case 'o':
			t.once = true;
			break;
		case 'C':
			check = optarg;
			break;
		case 'V':
			printf("tailplaned %s\n", TPD_VERSION);
			return 0;
		case 'h':
			tpd_usage(stdout);
			return 0;
		default:
			tpd_usage(stderr);
			return 2;
		}
	}
	if (check) {
		if (optind < argc || t.config_path || detach || purge ||
		    pin_root || t.once) {
			tpd_usage(stderr);
			return 2;
		}
		return tpd_check_config(check);
	}
	if (optind < argc || (!t.config_path && !(detach && pin_root)) ||
	    (purge && !detach)) {
		tpd_usage(stderr);
		return 2;
	}
	libbpf_set_print(tpd_libbpf_log);
	if (!detach && !t.once) {
		t.sfd = tpd_signals_open();
		if (t.sfd < 0) {
			log_error("cannot take signals through a signalfd",
				  "error", strerror(-t.sfd));
			return 1;
		}
	}
	if (t.config_path &&
	    tpd_config_load(t.config_path, &t.cfg, err, sizeof(err))) {
		log_error("configuration rejected", "config", t.config_path,
			  "error", err);
		tpd_config_free(&t.cfg);
		if (t.sfd >= 0)
			close(t.sfd);
		return 1;
	}
	if (!t.config_path) {
		t.cfg.n_ifaces = 0;
		snprintf(t.cfg.pin_root, sizeof(t.cfg.pin_root), "%s",
			 pin_root);
	} else if (pin_root) {
		snprintf(t.cfg.pin_root, sizeof(t.cfg.pin_root), "%s",
			 pin_root);
	}
	if (detach) {
		ret = tpd_detach_cmd(&t, purge);
		tpd_config_free(&t.cfg);
		return ret;
	}
	if (!tpd_start(&t)) {
		if (t.once) {
			tpd_housekeeping(&t, time(NULL));
			tpd_purge_now(&t, 0);
			tpd_log_memory(&t, "start");
			ret = 0;
		} else {
			log_info("running", "pin_root", t.cfg.pin_root,
				 "version", TPD_VERSION);
			tpd_log_memory(&t, "start");
			ret = tpd_run(&t);
		}
	}
	tpd_kube_stop(&t,
		      false); /* its entries stay, like every other source's */
	tpd_links_close(t.links);
	if (t.dp.skel || t.dp.from_pins)
		tpd_datapath_close(&t.dp);
	tpd_instance_unlock(t.lock_fd, t.cfg.pin_root);
	tpd_purge_free(&t.purge);
	tpd_purge_free(&t.purge_tcp);
	tpd_index_gc_free(&t.index_gc);
	if (t.sfd >= 0)
		close(t.sfd);
	free(t.host);
	free(t.ifindex);
	free(t.fetch);
	tpd_egress_routes_free(
		&t.eroutes); /* the routes stay, adopted next start */
	tpd_config_free(&t.cfg);
	return ret;
}
