// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * map: the raw maps of the ABI.  `map list` opens every pin on its own,
 * so a missing or foreign map shows up as such instead of failing the
 * whole command; `map dump` prints keys and values in hex, as bpftool
 * does without BTF.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pins.h"
#include "slab.h"
#include "table.h"
#include "tpctl.h"

static bool map_is_array(__u32 type)
{
	return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

static bool map_is_percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/* Entries of a map that has keys to walk; -1 for arrays and ring buffers. */
static long long map_count(int fd, const struct bpf_map_info *info)
{
	unsigned char *key, *next;
	long long n = 0;
	void *prev = NULL;

	if (map_is_array(info->type) || !info->key_size)
		return -1;
	key = malloc(info->key_size);
	next = malloc(info->key_size);
	while (key && next && n <= 4LL * info->max_entries &&
	       !bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, info->key_size);
		prev = key;
		n++;
	}
	free(key);
	free(next);
	return n;
}

/*
 * The slab at @path (@fd) as its row says it: chunks as entries, their
 * blocks and those in tables, the chunks' memory with the outer map's.
 */
static void map_slab_info(int fd, const char *path, struct tpctl_map_info *mi)
{
	struct tp_slab *s = tp_slab_open(fd, path);
	struct tp_slab_usage u;
	char chunk[PATH_MAX + 16];
	long long mem;
	__u32 i;
	int cfd;

	if (!s || tp_slab_usage(s, &u)) {
		tp_slab_close(s);
		return;
	}
	mi->slab = true;
	mi->entries = u.chunks;
	mi->blocks = (long long)(u.used_blocks + u.free_blocks);
	mi->used = (long long)u.used_blocks;
	for (i = 0; i < u.chunks && mi->memlock >= 0; i++) {
		snprintf(chunk, sizeof(chunk), "%s_%u", path, i);
		cfd = bpf_obj_get(chunk);
		mem = cfd >= 0 ? tp_fdinfo_field(cfd, "memlock") : -1;
		mi->memlock = mem >= 0 ? mi->memlock + mem : -1;
		if (cfd >= 0)
			close(cfd);
	}
	tp_slab_close(s);
}

/**
 * tpctl_map_infos() - what is pinned under the pin root, map by map.
 * @ctx:  the context (its pin root).
 * @maps: one per entry of tp_pin_maps.
 */
void tpctl_map_infos(struct tpctl_ctx *ctx, struct tpctl_map_info *maps)
{
	char path[PATH_MAX];
	__u32 len;
	size_t i;
	int fd;

	for (i = 0; i < tp_pin_maps_n; i++) {
		memset(&maps[i], 0, sizeof(maps[i]));
		maps[i].name = tp_pin_maps[i].name;
		maps[i].entries = -1;
		snprintf(path, sizeof(path), "%s/%s", ctx->opts.pin_root,
			 maps[i].name);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			maps[i].err = -errno;
			continue;
		}
		len = sizeof(maps[i].info);
		if (bpf_obj_get_info_by_fd(fd, &maps[i].info, &len))
			maps[i].err = -errno;
		else
			maps[i].entries = map_count(fd, &maps[i].info);
		maps[i].memlock = tp_fdinfo_field(fd, "memlock");
		if (!maps[i].err && !strcmp(maps[i].name, TP_MAP_MAGLEV_SLAB))
			map_slab_info(fd, path, &maps[i]);
		close(fd);
	}
}

static const char *map_type_str(__u32 type)
{
	const char *s = libbpf_bpf_map_type_str(type);

	return s ? s : "?";
}

static const struct tpctl_col map_cols[] = {
	{ "NAME" },	     { "TYPE" },	{ "ID", true },
	{ "KEY", true },     { "VALUE", true }, { "MAX", true },
	{ "ENTRIES", true }, { "FILL", true },	{ "MEMORY", true },
};

/* @bytes as B, KiB, MiB or GiB with one decimal. */
static void map_memory_cell(struct tpctl_table *t, long long bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB" };
	double v = bytes;
	int u = 0;

	if (bytes < 0) {
		tpctl_table_cell(t, "-");
		return;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u)
		tpctl_table_cell(t, "%.1f%s", v, units[u]);
	else
		tpctl_table_cell(t, "%lldB", bytes);
}

static void map_plain_row(struct tpctl_table *t,
			  const struct tpctl_map_info *mi)
{
	const struct bpf_map_info *in = &mi->info;

	tpctl_table_cell(t, "%s", mi->name);
	if (mi->err) {
		tpctl_table_cell(t, "%s",
				 mi->err == -ENOENT ? "(not pinned)"
						    : strerror(-mi->err));
		tpctl_table_blank(t, 7);
		return;
	}
	tpctl_table_cell(t, "%s", map_type_str(in->type));
	tpctl_table_cell(t, "%u", in->id);
	tpctl_table_cell(t, "%uB", in->key_size);
	tpctl_table_cell(t, "%uB", in->value_size);
	tpctl_table_cell(t, "%u", in->max_entries);
	if (mi->slab) {
		/* a slab: chunks made, and how full their blocks are */
		tpctl_table_cell(t, "%lld", mi->entries);
		tpctl_table_cell(t, "%.1f%%",
				 mi->blocks ? 100.0 * mi->used / mi->blocks
					    : 0.0);
	} else if (mi->entries < 0) {
		tpctl_table_cell(t, "-");
		tpctl_table_cell(t, "-");
	} else {
		tpctl_table_cell(t, "%lld", mi->entries);
		tpctl_table_cell(t, "%.1f%%",
				 in->max_entries
					 ? 100.0 * mi->entries / in->max_entries
					 : 0.0);
	}
	map_memory_cell(t, mi->memlock);
}

static void map_json_row(struct tp_json *j, const struct tpctl_map_info *mi,
			 const char *pin_root)
{
	char path[PATH_MAX];

	tp_json_obj_open(j);
	tp_json_kv_str(j, "name", mi->name);
	snprintf(path, sizeof(path), "%s/%s", pin_root, mi->name);
	tp_json_kv_str(j, "pinned", path);
	if (mi->err) {
		tp_json_kv_str(j, "error", strerror(-mi->err));
		tp_json_obj_close(j);
		return;
	}
	tp_json_kv_str(j, "type", map_type_str(mi->info.type));
	tp_json_kv_u64(j, "id", mi->info.id);
	tp_json_kv_u64(j, "bytes_key", mi->info.key_size);
	tp_json_kv_u64(j, "bytes_value", mi->info.value_size);
	tp_json_kv_u64(j, "max_entries", mi->info.max_entries);
	if (mi->entries >= 0)
		tp_json_kv_u64(j, "entries", mi->entries);
	else
		tp_json_kv_null(j, "entries");
	if (mi->memlock >= 0)
		tp_json_kv_u64(j, "bytes_memlock", mi->memlock);
	else
		tp_json_kv_null(j, "bytes_memlock");
	if (mi->slab) {
		tp_json_kv_u64(j, "chunks", mi->entries);
		tp_json_kv_u64(j, "blocks", mi->blocks);
		tp_json_kv_u64(j, "blocks_used", mi->used);
	}
	tp_json_obj_close(j);
}

/**
 * tpctl_maps_render() - the output of `map list`.
 * @ctx:  the context.
 * @maps: the maps.
 * @n:    their number.
 */
void tpctl_maps_render(struct tpctl_ctx *ctx, const struct tpctl_map_info *maps,
		       size_t n)
{
	struct tpctl_table t;
	size_t i;

	if (ctx->opts.json) {
		tp_json_arr_open(&ctx->json);
		for (i = 0; i < n; i++)
			map_json_row(&ctx->json, &maps[i], ctx->opts.pin_root);
		tp_json_arr_close(&ctx->json);
		return;
	}
	tpctl_table_init(&t, map_cols, sizeof(map_cols) / sizeof(map_cols[0]));
	for (i = 0; i < n; i++)
		map_plain_row(&t, &maps[i]);
	tpctl_table_print(&t, ctx->out);
	tpctl_table_free(&t);
	for (i = 0; i < n; i++)
		if (maps[i].slab)
			fprintf(ctx->out,
				"%s: %lld of %u chunks of 1 MiB; %lld of their %lld blocks of %u slots in tables\n",
				maps[i].name, maps[i].entries,
				maps[i].info.max_entries, maps[i].used,
				maps[i].blocks, TP_MAGLEV_BLOCK_SLOTS);
}

/** tpctl_map_list() - every map of the ABI with its size and fill. */
int tpctl_map_list(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	struct tpctl_map_info *maps = calloc(tp_pin_maps_n, sizeof(*maps));
	size_t i, missing = 0;

	if (!maps)
		return tpctl_err(ctx, "out of memory");
	tpctl_map_infos(ctx, maps);
	for (i = 0; i < tp_pin_maps_n; i++)
		missing += maps[i].err != 0;
	if (missing == tp_pin_maps_n) {
		char why[TPCTL_ERR_LEN - 8];

		tpctl_err(ctx, "%s",
			  tp_pins_strerror(ctx->opts.pin_root, maps[0].err, why,
					   sizeof(why)));
		free(maps);
		return -1;
	}
	tpctl_maps_render(ctx, maps, tp_pin_maps_n);
	free(maps);
	return 0;
}

/* ---- dump --------------------------------------------------------------- */

/**
 * struct tpctl_dump - a map being dumped.
 * @ctx:   the context.
 * @fd:    the map.
 * @info:  its info.
 * @ncpu:  possible CPUs (per-CPU maps).
 * @step:  bytes per CPU of a per-CPU value.
 * @value: room for one value (all CPUs).
 * @n:     entries dumped.
 */
struct tpctl_dump {
	struct tpctl_ctx *ctx;
	int fd;
	struct bpf_map_info info;
	int ncpu;
	size_t step;
	unsigned char *value;
	__u64 n;
};

/* Hex bytes, 16 per line, an extra space after 8, as bpftool. */
static void hex_plain(FILE *out, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i && !(i % 16))
			fputc('\n', out);
		else if (i && !(i % 8))
			fputs("  ", out);
		else if (i)
			fputc(' ', out);
		fprintf(out, "%02x", p[i]);
	}
}

static void hex_json(struct tp_json *j, const unsigned char *p, size_t n)
{
	char b[8];
	size_t i;

	tp_json_arr_open(j);
	for (i = 0; i < n; i++) {
		snprintf(b, sizeof(b), "0x%02x", p[i]);
		tp_json_str(j, b);
	}
	tp_json_arr_close(j);
}

static void dump_entry_json(struct tpctl_dump *d, const unsigned char *key)
{
	struct tp_json *j = &d->ctx->json;
	int c;

	tp_json_obj_open(j);
	tp_json_key(j, "key");
	hex_json(j, key, d->info.key_size);
	if (!map_is_percpu(d->info.type)) {
		tp_json_key(j, "value");
		hex_json(j, d->value, d->info.value_size);
		tp_json_obj_close(j);
		return;
	}
	tp_json_key(j, "values");
	tp_json_arr_open(j);
	for (c = 0; c < d->ncpu; c++) {
		tp_json_obj_open(j);
		tp_json_kv_u64(j, "cpu", c);
		tp_json_key(j, "value");
		hex_json(j, d->value + c * d->step, d->info.value_size);
		tp_json_obj_close(j);
	}
	tp_json_arr_close(j);
	tp_json_obj_close(j);
}

static void dump_entry_plain(struct tpctl_dump *d, const unsigned char *key)
{
	FILE *out = d->ctx->out;
	bool wide = d->info.key_size > 16 || d->info.value_size > 16;
	int c;

	fprintf(out, "key:%c", wide ? '\n' : ' ');
	hex_plain(out, key, d->info.key_size);
	if (map_is_percpu(d->info.type)) {
		fputc('\n', out);
		for (c = 0; c < d->ncpu; c++) {
			fprintf(out, "value (CPU %02d):%c", c,
				wide ? '\n' : ' ');
			hex_plain(out, d->value + c * d->step,
				  d->info.value_size);
			fputc('\n', out);
		}
		return;
	}
	fputs(wide ? "\nvalue:\n" : "  value: ", out);
	hex_plain(out, d->value, d->info.value_size);
	fputc('\n', out);
}

static void dump_entry(struct tpctl_dump *d, const unsigned char *key)
{
	if (bpf_map_lookup_elem(d->fd, key, d->value))
		return; /* gone since its key was read */
	if (d->ctx->opts.json)
		dump_entry_json(d, key);
	else
		dump_entry_plain(d, key);
	d->n++;
}

static int dump_walk(struct tpctl_dump *d)
{
	unsigned char *key = calloc(1, d->info.key_size);
	unsigned char *next = calloc(1, d->info.key_size);
	void *prev = NULL;
	__u32 i;
	int err = 0;

	if (!key || !next) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (map_is_array(d->info.type)) {
		for (i = 0; i < d->info.max_entries; i++)
			dump_entry(d, (unsigned char *)&i);
		goto cleanup;
	}
	while (!bpf_map_get_next_key(d->fd, prev, next)) {
		memcpy(key, next, d->info.key_size);
		prev = key;
		dump_entry(d, key);
	}
cleanup:
	free(next);
	free(key);
	return err;
}

/* The pin name @word means: exact, "tp_" + it, or a unique prefix. */
static int map_resolve(struct tpctl_ctx *ctx, const char *word)
{
	const char *names[32];
	char full[64];
	size_t i;
	int k;

	for (i = 0; i < tp_pin_maps_n && i < 32; i++)
		names[i] = tp_pin_maps[i].name;
	k = tpctl_word(word, names, i);
	if (k == -1 && strncmp(word, "tp_", 3)) {
		snprintf(full, sizeof(full), "tp_%s", word);
		k = tpctl_word(full, names, i);
	}
	if (k == -2)
		return tpctl_err(
			ctx, "ambiguous map '%s': see 'tpctl map list'", word);
	if (k < 0)
		return tpctl_err(
			ctx,
			"unknown map '%s': expected a name from 'tpctl map list' (e.g. tp_services)",
			word);
	return k;
}

/** tpctl_map_dump() - every entry of a map, in hex. */
int tpctl_map_dump(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	struct tpctl_dump d = { .ctx = ctx, .fd = -1 };
	const struct tp_maps *m = tpctl_maps(ctx);
	__u32 len = sizeof(d.info);
	int k, ret = -1;

	if (!m)
		return -1;
	k = map_resolve(ctx, a->map_name);
	if (k < 0)
		return -1;
	d.fd = tp_pins_map_fd(m, k);
	if (bpf_obj_get_info_by_fd(d.fd, &d.info, &len))
		return tpctl_err(ctx, "cannot read %s: %s", tp_pin_maps[k].name,
				 strerror(errno));
	if (d.info.type == BPF_MAP_TYPE_RINGBUF)
		return tpctl_err(
			ctx,
			"%s is a ring buffer, it has no entries to dump: use 'tpctl monitor'",
			tp_pin_maps[k].name);
	d.ncpu = map_is_percpu(d.info.type) ? libbpf_num_possible_cpus() : 1;
	d.step = map_is_percpu(d.info.type) ? (d.info.value_size + 7) / 8 * 8
					    : d.info.value_size;
	d.value = calloc(d.ncpu > 0 ? d.ncpu : 1, d.step ? d.step : 1);
	if (!d.value)
		return tpctl_err(ctx, "out of memory");
	if (ctx->opts.json)
		tp_json_arr_open(&ctx->json);
	if (dump_walk(&d))
		tpctl_err(ctx, "out of memory");
	else
		ret = 0;
	if (ctx->opts.json)
		tp_json_arr_close(&ctx->json);
	else
		fprintf(ctx->out, "Found %llu element%s\n",
			(unsigned long long)d.n, d.n == 1 ? "" : "s");
	free(d.value);
	return ret;
}
