// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "metrics.h"
#include "names.h"

/* Sum a per-CPU struct tp_stat; false when the entry cannot be read. */
static bool tpd_percpu_sum(int fd, __u32 id, struct tp_stat *sum)
{
	return !tp_stat_sum(fd, id, sum);
}

/* One counter family of tp_stats: packets or bytes of every named counter. */
static void tpd_metrics_counters(FILE *f, const struct tp_maps *m, bool bytes)
{
	const char *name =
		bytes ? "tailplane_bytes_total" : "tailplane_packets_total";
	struct tp_stat st;
	__u32 id;

	fprintf(f, "# HELP %s %s per datapath counter.\n# TYPE %s counter\n",
		name, bytes ? "Bytes" : "Packets", name);
	for (id = 0; id < TP_STAT_DROP_BASE; id++)
		if (strcmp(tp_stat_name(id), "unknown") &&
		    tpd_percpu_sum(m->stats, id, &st))
			fprintf(f, "%s{counter=\"%s\"} %llu\n", name,
				tp_stat_name(id),
				(unsigned long long)(bytes ? st.bytes
							   : st.packets));
}

static void tpd_metrics_datapath(FILE *f, const struct tp_maps *m)
{
	struct tp_stat st;
	__u32 id;

	tpd_metrics_counters(f, m, false);
	tpd_metrics_counters(f, m, true);
	fprintf(f, "# HELP tailplane_drops_total Packets dropped, per reason.\n"
		   "# TYPE tailplane_drops_total counter\n");
	for (id = 1; id < TP_DROP_REASON_MAX; id++)
		if (tpd_percpu_sum(m->stats, TP_STAT_DROP(id), &st))
			fprintf(f,
				"tailplane_drops_total{reason=\"%s\"} %llu\n",
				tp_drop_reason_name(id),
				(unsigned long long)st.packets);
}

struct tpd_keyed {
	FILE *f;
	const char *name, *label;
};

static int tpd_metrics_keyed_one(void *ctx, __u32 id, const struct tp_stat *st)
{
	const struct tpd_keyed *k = ctx;

	if (st->packets)
		fprintf(k->f, "%s{%s=\"%u\"} %llu\n", k->name, k->label, id,
			(unsigned long long)st->packets);
	return 0;
}

/* The counters of every id that counted, as many as the map holds. */
static void tpd_metrics_keyed(FILE *f, int fd, const char *name,
			      const char *label, const char *help)
{
	struct tpd_keyed k = { f, name, label };

	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	tp_stats_walk(fd, tpd_metrics_keyed_one, &k);
}

static unsigned long tpd_map_count(int fd, __u32 key_size)
{
	char key[64], next[64];
	unsigned long n = 0;
	void *prev = NULL;

	if (key_size > sizeof(key))
		return 0;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

static void tpd_metrics_maps(FILE *f, const struct tp_maps *m,
			     const struct tpd_gc_result *gc)
{
	const struct {
		const char *name;
		int fd;
	} maps[] = {
		{ TP_MAP_SERVICES, m->services },
		{ TP_MAP_BACKENDS, m->backends },
		{ TP_MAP_IDENTITY, m->identity },
		{ TP_MAP_POLICY, m->policy },
		{ TP_MAP_RULES, m->rules },
		{ TP_MAP_AFFINITY, m->affinity },
		{ TP_MAP_FRAGS, m->frags },
		{ TP_MAP_GUARD_DROP, m->guard_drop },
		{ TP_MAP_GUARD_BUCKETS, m->guard_buckets },
	};
	struct bpf_map_info info;
	__u32 len;
	size_t i;

	fprintf(f, "# HELP tailplane_map_entries Entries in a map.\n"
		   "# TYPE tailplane_map_entries gauge\n"
		   "# HELP tailplane_map_capacity Entries a map can hold.\n"
		   "# TYPE tailplane_map_capacity gauge\n");
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(maps[i].fd, &info, &len))
			continue;
		fprintf(f, "tailplane_map_entries{map=\"%s\"} %lu\n",
			maps[i].name, tpd_map_count(maps[i].fd, info.key_size));
		fprintf(f, "tailplane_map_capacity{map=\"%s\"} %u\n",
			maps[i].name, info.max_entries);
	}
	/* conntrack: counted by the last GC pass rather than a walk of its own */
	len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(m->ct, &info, &len)) {
		fprintf(f, "tailplane_map_entries{map=\"%s\"} %lu\n", TP_MAP_CT,
			gc->ct_entries - gc->ct_any_entries);
		fprintf(f, "tailplane_map_capacity{map=\"%s\"} %u\n", TP_MAP_CT,
			info.max_entries);
	}
	len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(m->ct_any, &info, &len)) {
		fprintf(f, "tailplane_map_entries{map=\"%s\"} %lu\n",
			TP_MAP_CT_ANY, gc->ct_any_entries);
		fprintf(f, "tailplane_map_capacity{map=\"%s\"} %u\n",
			TP_MAP_CT_ANY, info.max_entries);
	}
	fprintf(f,
		"# HELP tailplane_conntrack_flows Live flows at the last GC.\n"
		"# TYPE tailplane_conntrack_flows gauge\n"
		"tailplane_conntrack_flows %lu\n",
		gc->ct_flows);
}

/* A source's value in family @i of tpd_metrics_sources(). */
static unsigned long long tpd_source_value(const struct tpd_source_state *src,
					   int i)
{
	switch (i) {
	case 0:
		return src->syncs;
	case 1:
		return src->errors;
	default: /* wall-clock seconds: 0 (none) or later */
		return (unsigned long long)src->last_ok;
	}
}

static void tpd_metrics_sources(FILE *f, const struct tpd_source_state *src)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "tailplane_sync_total", "counter", "Syncs per source." },
		{ "tailplane_sync_errors_total", "counter",
		  "Failed syncs per source." },
		{ "tailplane_sync_last_success_timestamp_seconds", "gauge",
		  "Last good sync." },
	};
	size_t i;
	int s;

	for (i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam[i].name,
			fam[i].help, fam[i].name, fam[i].type);
		for (s = 0; s < TPD_SRC_MAX; s++)
			fprintf(f, "%s{source=\"%s\"} %llu\n", fam[i].name,
				tpd_source_name(s),
				tpd_source_value(&src[s], (int)i));
	}
}

/* What tpd_metrics_set_kube() gave: NULL while the source is off. */
static const struct tpd_kube_metrics *tpd_kube_metrics;

/**
 * tpd_metrics_set_kube() - have the textfile carry the Kubernetes
 * source's numbers (@k stays valid until set again), or not (NULL).
 */
void tpd_metrics_set_kube(const struct tpd_kube_metrics *k)
{
	tpd_kube_metrics = k;
}

static void tpd_metrics_kube(FILE *f, const struct tpd_kube_metrics *k)
{
	int i;

	fprintf(f,
		"# HELP tailplane_kube_objects Kubernetes entries the source holds.\n"
		"# TYPE tailplane_kube_objects gauge\n"
		"tailplane_kube_objects{kind=\"frontends\"} %lu\n"
		"tailplane_kube_objects{kind=\"backends\"} %lu\n"
		"tailplane_kube_objects{kind=\"identities\"} %lu\n"
		"tailplane_kube_objects{kind=\"pod_addresses\"} %lu\n",
		k->sync.frontends, k->sync.backends, k->sync.identities,
		k->sync.pod_addrs);
	fprintf(f,
		"# HELP tailplane_kube_reconciles_total Reconciles of the maps.\n"
		"# TYPE tailplane_kube_reconciles_total counter\n"
		"tailplane_kube_reconciles_total %lu\n"
		"# HELP tailplane_kube_entries_written_total Map entries written.\n"
		"# TYPE tailplane_kube_entries_written_total counter\n"
		"tailplane_kube_entries_written_total %lu\n"
		"# HELP tailplane_kube_entries_removed_total Map entries removed.\n"
		"# TYPE tailplane_kube_entries_removed_total counter\n"
		"tailplane_kube_entries_removed_total %lu\n"
		"# HELP tailplane_kube_conflicts_total Entries another owner holds.\n"
		"# TYPE tailplane_kube_conflicts_total counter\n"
		"tailplane_kube_conflicts_total %lu\n"
		"# HELP tailplane_kube_services_over_limit_total Services given no "
		"frontends for wanting more than max_frontends_per_service.\n"
		"# TYPE tailplane_kube_services_over_limit_total counter\n"
		"tailplane_kube_services_over_limit_total %lu\n"
		"# HELP tailplane_kube_reconcile_seconds Duration of the last reconcile.\n"
		"# TYPE tailplane_kube_reconcile_seconds gauge\n"
		"tailplane_kube_reconcile_seconds %.6f\n"
		"# HELP tailplane_kube_synced The first full picture has been applied.\n"
		"# TYPE tailplane_kube_synced gauge\n"
		"tailplane_kube_synced %d\n",
		k->sync.reconciles, k->sync.written, k->sync.removed,
		k->sync.conflicts, k->sync.svc_over_cap,
		k->sync.last_usec / 1e6, k->sync.synced);
	fprintf(f,
		"# HELP tailplane_kube_api_total API client counters per resource.\n"
		"# TYPE tailplane_kube_api_total counter\n");
	for (i = 0; i < TPD_KUBE_KIND_MAX; i++)
		fprintf(f,
			"tailplane_kube_api_total{resource=\"%s\",what=\"lists\"} %lu\n"
			"tailplane_kube_api_total{resource=\"%s\",what=\"watches\"} %lu\n"
			"tailplane_kube_api_total{resource=\"%s\",what=\"events\"} %lu\n",
			tpd_kube_kind_resource(i), k->client.lists[i],
			tpd_kube_kind_resource(i), k->client.watches[i],
			tpd_kube_kind_resource(i), k->client.events[i]);
	fprintf(f,
		"# HELP tailplane_kube_api_relists_total Re-lists after 410 Gone.\n"
		"# TYPE tailplane_kube_api_relists_total counter\n"
		"tailplane_kube_api_relists_total %lu\n"
		"# HELP tailplane_kube_api_errors_total API errors.\n"
		"# TYPE tailplane_kube_api_errors_total counter\n"
		"tailplane_kube_api_errors_total %lu\n"
		"# HELP tailplane_kube_watch_connected A watch streams now.\n"
		"# TYPE tailplane_kube_watch_connected gauge\n",
		k->client.relists_410, k->client.errors);
	for (i = 0; i < TPD_KUBE_KIND_MAX; i++)
		fprintf(f,
			"tailplane_kube_watch_connected{resource=\"%s\"} %d\n",
			tpd_kube_kind_resource(i), k->client.connected[i]);
}

/*
 * Create a temporary file next to @base in the directory @dirfd, under a
 * name nobody can guess: that directory may belong to another user (the
 * textfile collector's), who could otherwise plant a link at the name and
 * have root write through it.  O_EXCL (which also refuses a link at the
 * name) and O_NOFOLLOW make sure the file is a new one of ours.
 */
static int tpd_metrics_tmp(int dirfd, const char *base, char *tmp, size_t len)
{
	unsigned long long r;
	int fd, tries;

	for (tries = 0; tries < 16; tries++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return -EIO;
		snprintf(tmp, len, ".%s.tmp.%016llx", base, r);
		fd = openat(dirfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				    O_CLOEXEC,
			    0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/**
 * tpd_metrics_write() - write the textfile at @path.
 * @path: the textfile, e.g. /var/lib/node_exporter/textfile/tailplane.prom.
 * @m:    the maps to read.
 * @gc:   the last GC pass.
 * @src:  the sync sources' health.
 *
 * The metrics go to a new temporary file in @path's directory (a hidden
 * name with a random part, created exclusively, so nothing planted there
 * is followed), made 0644, synced, and renamed over @path: node_exporter
 * never reads half a file, and a link at @path is replaced, not followed.
 * The directory is opened once and every step is relative to it.
 *
 * Return: 0 or -errno.
 */
int tpd_metrics_write(const char *path, const struct tp_maps *m,
		      const struct tpd_gc_result *gc,
		      const struct tpd_source_state *src)
{
	char dir[PATH_MAX], tmp[NAME_MAX + 1];
	const char *base, *slash = strrchr(path, '/');
	int dirfd = -1, fd = -1, err = 0;
	FILE *f = NULL;

	tmp[0] = '\0';
	if (slash) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) ?: 1,
			 path);
		base = slash + 1;
	} else {
		snprintf(dir, sizeof(dir), ".");
		base = path;
	}
	if (!*base || strlen(base) > NAME_MAX - 22)
		return -EINVAL;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	fd = tpd_metrics_tmp(dirfd, base, tmp, sizeof(tmp));
	if (fd < 0) {
		err = fd;
		tmp[0] = '\0';
		goto cleanup;
	}
	/* umask must not decide whether node_exporter can read it */
	if (fchmod(fd, 0644)) {
		err = -errno;
		goto cleanup;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		goto cleanup;
	}
	fd = -1; /* owned by f now */
	tpd_metrics_datapath(f, m);
	tpd_metrics_keyed(f, m->rule_stats, "tailplane_rule_decisions_total",
			  "rule",
			  "Policy decisions per rule (0: zone default).");
	tpd_metrics_keyed(f, m->svc_stats, "tailplane_service_packets_total",
			  "service", "Packets translated per service id.");
	tpd_metrics_maps(f, m, gc);
	tpd_metrics_sources(f, src);
	if (tpd_kube_metrics)
		tpd_metrics_kube(f, tpd_kube_metrics);
	if (fflush(f) || ferror(f))
		err = -EIO;
	/* the rename must not be seen before the data it names */
	if (!err && fsync(fileno(f)))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	f = NULL;
	if (!err && renameat(dirfd, tmp, dirfd, base))
		err = -errno;
	if (!err)
		tmp[0] = '\0';
cleanup:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlinkat(dirfd, tmp, 0);
	close(dirfd);
	return err;
}
