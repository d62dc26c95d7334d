// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The context a command runs in: output (plain or JSON), the first error,
 * the pinned maps (opened on first use) and the writers' lock; and the
 * lookups that turn words into numbers with the maps' help (identity
 * names, interface zones).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>

#include "identity.h"
#include "pins.h"
#include "tpctl.h"

/**
 * tpctl_ctx_init() - a context for @opts writing to @out.
 *
 * Return: 0 or -ENOMEM.
 */
int tpctl_ctx_init(struct tpctl_ctx *ctx, const struct tpctl_opts *opts,
		   FILE *out)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->opts = *opts;
	ctx->out = out;
	ctx->lock_fd = -1;
	ctx->lock_dir = -1;
	tp_maps_init(&ctx->maps);
	if (opts->json)
		return tp_json_init(&ctx->json, out, opts->pretty);
	return 0;
}

/** tpctl_ctx_free() - release the lock, the maps and the JSON writer. */
void tpctl_ctx_free(struct tpctl_ctx *ctx)
{
	tpctl_unlock(ctx);
	tp_pins_unlock(ctx->lock_dir);
	ctx->lock_dir = -1;
	if (ctx->maps_open)
		tp_maps_close(&ctx->maps);
	ctx->maps_open = false;
	ctx->maps_have = 0;
	tp_json_free(&ctx->json);
}

/**
 * tpctl_err() - record the command's error (the first one wins).
 * @ctx: the context.
 * @fmt: printf format of the message, without "Error: ".
 *
 * Return: -1, for `return tpctl_err(...)`.
 */
int tpctl_err(struct tpctl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->err[0])
		return -1;
	va_start(ap, fmt);
	vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
	va_end(ap);
	return -1;
}

/**
 * tpctl_maps_for() - the pinned maps, those of @want opened on first use.
 * @ctx:  the context.
 * @want: TP_MAP_BIT()s of the maps the caller uses; 0 or TP_MAPS_ALL for
 *        every map.  Only those fds are valid in what is returned (and
 *        any a command before opened).
 *
 * Return: the maps, or NULL with the error recorded (what is wrong with
 * the pin root and how to fix it).
 */
const struct tp_maps *tpctl_maps_for(struct tpctl_ctx *ctx, __u64 want)
{
	char why[TPCTL_ERR_LEN - 8];
	int err;

	if (!want)
		want = TP_MAPS_ALL;
	if (ctx->maps_open && (ctx->maps_have & want) == want)
		return &ctx->maps;
	err = tp_pins_open_some(&ctx->maps, ctx->opts.pin_root, want);
	if (err) {
		tpctl_err(ctx, "%s",
			  tp_pins_strerror(ctx->opts.pin_root, err, why,
					   sizeof(why)));
		return NULL;
	}
	ctx->maps_open = true;
	ctx->maps_have |= want;
	return &ctx->maps;
}

/**
 * tpctl_maps() - every pinned map, opened on first use.
 * @ctx: the context.
 *
 * Return: as tpctl_maps_for().
 */
const struct tp_maps *tpctl_maps(struct tpctl_ctx *ctx)
{
	return tpctl_maps_for(ctx, TP_MAPS_ALL);
}

/**
 * tpctl_lock() - take the writers' lock of the pin root.
 *
 * Return: 0 or -1 with the error recorded.
 */
int tpctl_lock(struct tpctl_ctx *ctx)
{
	char why[TPCTL_ERR_LEN - 8];
	int fd, err;

	if (ctx->lock_fd >= 0)
		return 0;
	/* the directory stays open between the lines of a batch */
	fd = ctx->lock_dir;
	if (fd < 0)
		fd = tp_pins_lock(ctx->opts.pin_root);
	else if ((err = tp_pins_relock(fd)))
		fd = err;
	if (fd < 0)
		return tpctl_err(ctx, "cannot lock %s: %s", ctx->opts.pin_root,
				 tp_pins_strerror(ctx->opts.pin_root, fd, why,
						  sizeof(why)));
	ctx->lock_fd = fd;
	ctx->lock_dir = fd;
	return 0;
}

/** tpctl_unlock() - release the writers' lock if held. */
void tpctl_unlock(struct tpctl_ctx *ctx)
{
	tp_pins_release(ctx->lock_fd);
	ctx->lock_fd = -1;
}

/* The words parsed by @parse, then run; a parse error is the command's. */
static int tpctl_parse_run(struct tpctl_ctx *ctx,
			   int (*parse)(int argc, char **argv,
					struct tpctl_args *a, char *err,
					size_t len),
			   int argc, char **argv)
{
	struct tpctl_args a;
	char err[TPCTL_ERR_LEN];

	if (parse(argc, argv, &a, err, sizeof(err)))
		return tpctl_err(ctx, "%s", err);
	return tpctl_exec(ctx, &a);
}

/**
 * tpctl_run() - parse and run one command line.
 * @ctx:  the context.
 * @argc: number of words.
 * @argv: the words, OBJECT first.
 *
 * Return: 0 or -1 with the error recorded.
 */
int tpctl_run(struct tpctl_ctx *ctx, int argc, char **argv)
{
	return tpctl_parse_run(ctx, tpctl_parse, argc, argv);
}

/**
 * tpctl_run_help() - -h or --help with words: the usage of the object
 * they name (any word after it is ignored).
 * @ctx:  the context.
 * @argc: number of words.
 * @argv: the words, OBJECT first.
 *
 * Return: 0 or -1 with the error recorded (an unknown object).
 */
int tpctl_run_help(struct tpctl_ctx *ctx, int argc, char **argv)
{
	return tpctl_parse_run(ctx, tpctl_parse_help, argc, argv);
}

/**
 * tpctl_finish() - end a command: its JSON document, or its error.
 * @ctx: the context.
 * @ret: what the command returned.
 *
 * Errors go to stderr as one "Error: ..." line, or in JSON mode to the
 * output as {"error": "..."}.  A command that succeeded with a non-zero
 * ctx->exit_status (status) keeps its output; its reason goes to stderr
 * as an "Error: ..." line, in JSON mode only into that output.
 *
 * Return: the process exit status (enum tpctl_exit).
 */
int tpctl_finish(struct tpctl_ctx *ctx, int ret)
{
	if (!ret) {
		if (ctx->opts.json && !ctx->streamed)
			tp_json_doc_end(&ctx->json);
		fflush(ctx->out);
		if (!ctx->exit_status)
			return TPCTL_EXIT_OK;
		if (!ctx->opts.json)
			fprintf(stderr, "Error: %s\n", ctx->err);
		return ctx->exit_status;
	}
	if (!ctx->err[0])
		tpctl_err(ctx, "failed");
	if (!ctx->opts.json)
		fprintf(stderr, "Error: %s\n", ctx->err);
	else if (!ctx->err_shown)
		tp_json_error_doc(&ctx->json, ctx->err);
	fflush(ctx->out);
	return TPCTL_EXIT_ERROR;
}

/* The zone of an interface tailplane knows, by name. */
static int tpctl_iface_zone(struct tpctl_ctx *ctx, const char *name,
			    __u16 *zone)
{
	const struct tp_maps *m;
	struct tp_iface ifc;
	__u32 ifindex = if_nametoindex(name);

	if (!ifindex)
		return tpctl_err(
			ctx,
			"bad zone '%s': expected a zone number or the name of an interface (no such interface)",
			name);
	m = tpctl_maps_for(ctx, TP_MAP_BIT(ifaces));
	if (!m)
		return -1;
	if (bpf_map_lookup_elem(m->ifaces, &ifindex, &ifc))
		return tpctl_err(
			ctx,
			"bad zone '%s': the interface is not attached to tailplane (no tp_ifaces entry), so it has no zone; give the zone number",
			name);
	*zone = ifc.zone;
	return 0;
}

/**
 * tpctl_zone_resolve() - a ZONE word as a zone id.
 * @ctx:    the context.
 * @word:   a number, an interface name (its zone), or "any".
 * @any_ok: "any" is allowed and means TP_POLICY_ANY_ZONE.
 * @zone:   the zone.
 *
 * Return: 0 or -1 with the error recorded.
 */
int tpctl_zone_resolve(struct tpctl_ctx *ctx, const char *word, bool any_ok,
		       __u16 *zone)
{
	unsigned long v;
	char *end;

	if (!strcmp(word, "any")) {
		if (!any_ok)
			return tpctl_err(
				ctx,
				"bad zone 'any': expected a zone number or an interface name");
		*zone = TP_POLICY_ANY_ZONE;
		return 0;
	}
	if (*word >= '0' && *word <= '9') {
		v = strtoul(word, &end, 10);
		if (*end || v > 0xffff)
			return tpctl_err(
				ctx, "bad zone '%s': expected a number 0-65535",
				word);
		*zone = (__u16)v;
		return 0;
	}
	return tpctl_iface_zone(ctx, word, zone);
}

/**
 * tpctl_identity_resolve() - an identity word as an identity.
 * @ctx:    the context.
 * @word:   a number, a reserved name, a name from tp_id_names, or "any".
 * @any_ok: "any" is allowed and means TP_POLICY_ANY_ID.
 * @id:     the identity.
 *
 * Return: 0 or -1 with the error recorded.
 */
int tpctl_identity_resolve(struct tpctl_ctx *ctx, const char *word, bool any_ok,
			   __u32 *id)
{
	const struct tp_maps *m;

	if (!strcmp(word, "any")) {
		if (!any_ok)
			return tpctl_err(
				ctx,
				"bad identity 'any': expected an identity");
		*id = TP_POLICY_ANY_ID;
		return 0;
	}
	m = tpctl_maps(ctx);
	if (!m)
		return -1;
	if (tp_identity_parse(m, word, id))
		return tpctl_err(
			ctx,
			"unknown identity '%s': expected a number, host, world, tailnet, cluster, or a name set with 'identity add CIDR ID name NAME'",
			word);
	return 0;
}

/**
 * tpctl_id_label() - an identity for a table: "web(400)", "world(2)", or
 * "400" when it has no name.
 * @m:   maps for names (NULL: numbers and reserved names only).
 * @id:  the identity.
 * @buf: room (TP_IDENTITY_NAME_LEN + 16).
 * @len: its size.
 */
char *tpctl_id_label(const struct tp_maps *m, __u32 id, char *buf, size_t len)
{
	char name[TP_IDENTITY_NAME_LEN];
	char num[16];

	tp_identity_name(m, id, name, sizeof(name));
	snprintf(num, sizeof(num), "%u", id);
	if (!strcmp(name, num))
		snprintf(buf, len, "%u", id);
	else
		snprintf(buf, len, "%s(%u)", name, id);
	return buf;
}

/**
 * tpctl_json_identity() - members "<base>_id": N and, when the identity
 * has a name, "<base>_name": "...".
 */
void tpctl_json_identity(struct tp_json *j, const char *base,
			 const struct tp_maps *m, __u32 id)
{
	char name[TP_IDENTITY_NAME_LEN], num[16], key[64];

	snprintf(key, sizeof(key), "%s_id", base);
	tp_json_kv_u64(j, key, id);
	tp_identity_name(m, id, name, sizeof(name));
	snprintf(num, sizeof(num), "%u", id);
	if (strcmp(name, num)) {
		snprintf(key, sizeof(key), "%s_name", base);
		tp_json_kv_str(j, key, name);
	}
}

/**
 * tpctl_json_addr_port() - an address and a port (network order) as the
 * members @addr_key: "ADDR" and @port_key: N.
 */
void tpctl_json_addr_port(struct tp_json *j, const char *addr_key,
			  const char *port_key, const struct tp_addr *a,
			  __be16 port)
{
	char buf[TP_ADDR_STRLEN];

	tp_json_kv_str(j, addr_key, tp_addr_format(a, buf, sizeof(buf)));
	tp_json_kv_u64(j, port_key, ntohs(port));
}

/**
 * tpctl_ok() - the output of a successful change: null in JSON mode (as
 * bpftool), nothing otherwise.
 *
 * Return: 0.
 */
int tpctl_ok(struct tpctl_ctx *ctx)
{
	if (ctx->opts.json)
		tp_json_null(&ctx->json);
	return 0;
}
