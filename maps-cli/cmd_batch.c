// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * batch: one command per line, as on the command line without "tpctl"
 * and options.  '#' starts a comment; words may be quoted with ' or ".
 * Each line is atomic (it holds the writers' lock while it runs) and the
 * batch stops at the first failing line, naming it.  The maps are opened
 * once for the whole file.  In JSON mode the output is one array of
 * {"command": [...], "output": ...}, as bpftool's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tpctl.h"

#define TPCTL_BATCH_MAX_WORDS 64

/**
 * tpctl_batch_split() - split a batch line into words, in place.
 * @line:  the line; blanks separate words, ' and " group, '#' outside
 *         quotes starts a comment.
 * @words: the words (pointers into @line).
 * @max:   room in @words.
 *
 * Return: the number of words, or -1 for an unterminated quote or more
 * than @max words.
 */
int tpctl_batch_split(char *line, char **words, int max)
{
	char *r = line, *w = line;
	int n = 0;
	char q;

	for (;;) {
		while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
			r++;
		if (!*r || *r == '#')
			return n;
		if (n == max)
			return -1;
		words[n++] = w;
		while (*r && !strchr(" \t\r\n#", *r)) {
			if (*r != '\'' && *r != '"') {
				*w++ = *r++;
				continue;
			}
			q = *r++;
			while (*r && *r != q)
				*w++ = *r++;
			if (*r++ != q)
				return -1;
		}
		if (*r == '#')
			*r = '\0'; /* the comment starts right after the word */
		else if (*r)
			r++;
		*w++ = '\0';
	}
}

static bool batch_nested(enum tpctl_op op)
{
	return op == TPCTL_OP_BATCH || op == TPCTL_OP_MONITOR;
}

static void batch_json_command(struct tp_json *j, char **words, int n)
{
	int i;

	tp_json_obj_open(j);
	tp_json_key(j, "command");
	tp_json_arr_open(j);
	for (i = 0; i < n; i++)
		tp_json_str(j, words[i]);
	tp_json_arr_close(j);
	tp_json_key(j, "output");
}

/* Run the words of one line; errors are left in ctx->err. */
static int batch_line(struct tpctl_ctx *ctx, char **words, int n)
{
	struct tpctl_args a;
	char err[TPCTL_ERR_LEN];

	if (tpctl_parse(n, words, &a, err, sizeof(err)))
		return tpctl_err(ctx, "%s", err);
	if (batch_nested(a.op))
		return tpctl_err(ctx, "'%s' cannot run inside a batch",
				 words[0]);
	return tpctl_exec(ctx, &a);
}

/* The line's error, prefixed with its number; in JSON, as its output. */
static int batch_fail(struct tpctl_ctx *ctx, unsigned long line_no)
{
	char msg[TPCTL_ERR_LEN];

	snprintf(msg, sizeof(msg), "line %lu: %s", line_no,
		 ctx->err[0] ? ctx->err : "failed");
	snprintf(ctx->err, sizeof(ctx->err), "%s", msg);
	if (!ctx->opts.json)
		return -1;
	tp_json_obj_open(&ctx->json);
	tp_json_kv_str(&ctx->json, "error", msg);
	tp_json_obj_close(&ctx->json);
	tp_json_obj_close(&ctx->json);
	tp_json_arr_close(&ctx->json);
	tp_json_doc_end(&ctx->json);
	ctx->err_shown = true;
	return -1;
}

static int batch_run(struct tpctl_ctx *ctx, FILE *f, unsigned long *done)
{
	char *words[TPCTL_BATCH_MAX_WORDS], *line = NULL;
	unsigned long line_no = 0;
	size_t cap = 0;
	int n, ret = 0;

	while (getline(&line, &cap, f) >= 0) {
		line_no++;
		n = tpctl_batch_split(line, words, TPCTL_BATCH_MAX_WORDS);
		if (n < 0) {
			tpctl_err(ctx,
				  "unterminated quote or more than %d words",
				  TPCTL_BATCH_MAX_WORDS);
			ret = batch_fail(ctx, line_no);
			break;
		}
		if (!n)
			continue;
		if (ctx->opts.json)
			batch_json_command(&ctx->json, words, n);
		if (batch_line(ctx, words, n)) {
			ret = batch_fail(ctx, line_no);
			break;
		}
		if (ctx->opts.json)
			tp_json_obj_close(&ctx->json);
		(*done)++;
	}
	free(line);
	return ret;
}

/** tpctl_batch() - run the commands of a file ('-': stdin). */
int tpctl_batch(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	bool is_stdin = !strcmp(a->file, "-");
	FILE *f = is_stdin ? stdin : fopen(a->file, "r");
	unsigned long done = 0;
	int ret;

	if (!f)
		return tpctl_err(ctx, "cannot open batch file '%s': %s",
				 a->file, strerror(errno));
	ctx->in_batch = true;
	if (ctx->opts.json)
		tp_json_arr_open(&ctx->json);
	ret = batch_run(ctx, f, &done);
	if (!ret && ctx->opts.json)
		tp_json_arr_close(&ctx->json);
	else if (!ret)
		fprintf(ctx->out, "processed %lu command%s\n", done,
			done == 1 ? "" : "s");
	if (!ret && ferror(f))
		ret = tpctl_err(ctx, "reading batch file '%s': %s", a->file,
				strerror(errno));
	if (!is_stdin)
		fclose(f);
	ctx->in_batch = false;
	return ret;
}
