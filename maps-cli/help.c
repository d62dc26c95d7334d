// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `tpctl help`, `tpctl OBJECT help` and `tpctl -V`: the usage is drawn
 * from the command table (commands.c), the notes after it are its own.
 */
#include <string.h>

#include <bpf/libbpf.h>

#include "tpctl.h"

#define TPCTL_USAGE_WIDTH 78

static const char tpctl_usage_head[] =
	"Usage: tpctl [OPTIONS] OBJECT { COMMAND | help }\n"
	"       tpctl batch FILE\n"
	"       tpctl { -V | --version }\n"
	"\n";

static const char tpctl_usage_tail[] =
	"       OPTIONS := { -j | --json } | { -p | --pretty } | --pin-root DIR |\n"
	"                  { -h | --help } | { -V | --version }\n"
	"\n"
	"Words match by unique prefix ('tpctl serv li'); an object without a\n"
	"command runs its list.  Pin root: " TP_PIN_ROOT_DEFAULT
	" by default.\n"
	"See 'tpctl OBJECT help' and tpctl(8).\n";

/* "OBJECT := { service | backend | ... }", the objects of the table. */
static void usage_objects(FILE *out)
{
	static const char head[] = "       OBJECT := { ";
	size_t k, col = sizeof(head) - 1;
	const char *sep = "";

	fputs(head, out);
	for (k = 0; k < tpctl_n_objects; k++) {
		const char *word = tpctl_objects[k].word;

		if (tpctl_objects[k].flags & TPCTL_OBJ_META)
			continue;
		if (col + strlen(sep) + strlen(word) + 2 > TPCTL_USAGE_WIDTH) {
			fprintf(out, " |\n%*s", (int)sizeof(head) - 1, "");
			col = sizeof(head) - 1;
			sep = "";
		}
		col += fprintf(out, "%s%s", sep, word);
		sep = " | ";
	}
	fputs(" }\n", out);
}

/*
 * One usage line: "Usage: tpctl nat static add ARGS" (@first) or its
 * "       tpctl ..." follower; a newline in @args continues them under
 * their start.
 */
static void usage_line(FILE *out, bool first, const char *path,
		       const char *args)
{
	const char *nl;
	int indent;

	indent = fprintf(out, "%s tpctl %s%s", first ? "Usage:" : "      ",
			 path, *args ? " " : "");
	while ((nl = strchr(args, '\n'))) {
		fprintf(out, "%.*s\n%*s", (int)(nl - args), args, indent, "");
		args = nl + 1;
	}
	fprintf(out, "%s\n", args);
}

/* The usage lines of @o's commands, @path its words ("nat static"). */
static void usage_cmds(FILE *out, const struct tpctl_object *o,
		       const char *path, bool *first)
{
	char sub[64];
	size_t k;

	for (k = 0; k < o->n_cmds; k++) {
		const struct tpctl_cmd *c = &o->cmds[k];

		if (!c->word) {
			usage_line(out, *first, path, c->args);
		} else {
			snprintf(sub, sizeof(sub), "%s %s", path, c->word);
			if (c->sub)
				usage_cmds(out, c->sub, sub, first);
			else
				usage_line(out, *first, sub, c->args);
		}
		*first = false;
	}
}

/* How wide the command column of @o is ("static add": 10). */
static int cmds_width(const struct tpctl_object *o, int prefix)
{
	int width = 0, w;
	size_t k;

	for (k = 0; k < o->n_cmds; k++) {
		const struct tpctl_cmd *c = &o->cmds[k];

		w = c->sub ? cmds_width(c->sub, prefix + strlen(c->word) + 1)
			   : prefix + (int)strlen(c->word);
		if (w > width)
			width = w;
	}
	return width;
}

/* "       add     create a service ..." for each command of @o. */
static void help_cmds(FILE *out, const struct tpctl_object *o, const char *path,
		      int width)
{
	char sub[64];
	size_t k;

	for (k = 0; k < o->n_cmds; k++) {
		const struct tpctl_cmd *c = &o->cmds[k];

		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? " " : "",
			 c->word);
		if (c->sub) {
			help_cmds(out, c->sub, sub, width);
			continue;
		}
		fprintf(out, "       %-*s  %s%s\n", width, sub, c->help,
			(c->flags & TPCTL_CMD_DEFAULT) ? " (default)" : "");
	}
}

/* `tpctl OBJECT help`: usage lines, what each command does, notes. */
static void usage_object(FILE *out, const struct tpctl_object *o)
{
	bool first = true;
	char help[64];

	usage_cmds(out, o, o->word, &first);
	snprintf(help, sizeof(help), "%s help", o->word);
	usage_line(out, false, help, "");
	if (o->cmds[0].word) {
		fputs("\nCommands:\n", out);
		help_cmds(out, o, "", cmds_width(o, 0));
	}
	if (o->notes)
		fprintf(out, "\n%s", o->notes);
}

/**
 * tpctl_help() - the usage of @obj (NULL: of tpctl) on the output, from
 * the command table; null in JSON mode, as bpftool.
 *
 * Return: 0.
 */
int tpctl_help(struct tpctl_ctx *ctx, const struct tpctl_object *obj)
{
	if (ctx->opts.json) {
		tp_json_null(&ctx->json);
		return 0;
	}
	if (obj) {
		usage_object(ctx->out, obj);
		return 0;
	}
	fputs(tpctl_usage_head, ctx->out);
	usage_objects(ctx->out);
	fputs(tpctl_usage_tail, ctx->out);
	return 0;
}

/** tpctl_help_run() - `help` and `OBJECT help`: the usage of a->obj. */
int tpctl_help_run(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	return tpctl_help(ctx, a->obj);
}

/** tpctl_version_run() - `version`. */
int tpctl_version_run(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	return tpctl_version(ctx);
}

/**
 * tpctl_version() - tpctl's version and libbpf's.
 *
 * Return: 0.
 */
int tpctl_version(struct tpctl_ctx *ctx)
{
	if (ctx->opts.json) {
		tp_json_obj_open(&ctx->json);
		tp_json_kv_str(&ctx->json, "version", TPCTL_VERSION);
		tp_json_kv_str(&ctx->json, "libbpf_version",
			       libbpf_version_string());
		tp_json_obj_close(&ctx->json);
		return 0;
	}
	fprintf(ctx->out, "tpctl v%s\nusing libbpf %s\n", TPCTL_VERSION,
		libbpf_version_string());
	return 0;
}
