// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * batch: one command per line, as on the command line without "tpctl"
 * and options.  '#' starts a comment; words may be quoted with ' or ".
 * Each line is atomic (it holds the writers' lock while it runs), the
 * batch as a whole is not: it stops at the first failing line, and the
 * error names that line and says how many commands before it were
 * applied (they stay).  A file that cannot be read to its end, or a line
 * with a NUL byte, is such a failure too, never a quiet end of file.
 * The maps are opened once for the whole file, each when a line first
 * needs it.  In JSON mode the output
 * is one array of {"command": [...], "output": ...}, as bpftool's.
 *
 * Maglev tables are built once per service per batch: a service or
 * backend line writes the backends, the index and the service's
 * attributes at once but only stages the table (lib/service.c), and the
 * staged tables are built and go live at the end of the batch, before
 * any line that reads services back (a list, a dump, conntrack, stats,
 * status), and before a failing line's error, so what the error says was
 * applied is live.  Until then new flows of a changed service keep its
 * previous table.  Should building a table fail, the error names the
 * last line that changed that service.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service.h"
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

/*
 * Build and make live every staged table, under the writers' lock.  A
 * failure is left in ctx->err, naming the service and the last line
 * that changed it (*@bad_line).
 */
static int batch_flush(struct tpctl_ctx *ctx, unsigned long *bad_line)
{
	char name[TP_SVC_STRLEN];
	struct tp_svc_key key;
	int err;

	if (!tp_svc_batch_pending(ctx->svc_batch))
		return 0;
	if (!tpctl_maps_for(ctx, TP_SERVICE_MAPS) || tpctl_lock(ctx))
		return -1;
	err = tp_svc_batch_flush(&ctx->maps, ctx->svc_batch, &key, bad_line);
	tpctl_unlock(ctx);
	if (!err)
		return 0;
	return tpctl_err(ctx, "cannot build the Maglev table of service %s: %s",
			 tp_svc_key_format(&key, name, sizeof(name)),
			 strerror(-err));
}

/* Run the words of one line; errors are left in ctx->err. */
static int batch_line(struct tpctl_ctx *ctx, char **words, int n,
		      unsigned long *bad_line)
{
	struct tpctl_args a;
	char err[TPCTL_ERR_LEN];

	if (tpctl_parse(n, words, &a, err, sizeof(err)))
		return tpctl_err(ctx, "%s", err);
	if (a.cmd->flags & TPCTL_CMD_NO_BATCH)
		return tpctl_err(ctx, "'%s' cannot run inside a batch",
				 words[0]);
	/* lines that read services back need the staged tables live */
	if (!(a.cmd->flags & TPCTL_CMD_STAGED_OK) && batch_flush(ctx, bad_line))
		return -1;
	return tpctl_exec(ctx, &a);
}

/*
 * Stop the batch: the error, then what was applied, since the lines
 * before stay applied (a batch is not atomic).  In JSON the error is the
 * output of the open command object (@in_cmd), or an element of its own.
 */
static int batch_stop(struct tpctl_ctx *ctx, unsigned long done, bool in_cmd,
		      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int batch_stop(struct tpctl_ctx *ctx, unsigned long done, bool in_cmd,
		      const char *fmt, ...)
{
	char msg[TPCTL_ERR_LEN], what[96], tail[128];
	va_list ap;
	int room;

	if (!done)
		snprintf(what, sizeof(what), "nothing was applied");
	else
		snprintf(what, sizeof(what),
			 "the %lu command%s before it %s applied", done,
			 done == 1 ? "" : "s", done == 1 ? "was" : "were");
	snprintf(tail, sizeof(tail), " (the batch stopped there; %s)", what);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a long message (a long word quoted back) is cut, not what was applied */
	room = (int)(sizeof(ctx->err) - 1 - strlen(tail));
	snprintf(ctx->err, sizeof(ctx->err), "%.*s%s", room, msg, tail);
	if (!ctx->opts.json)
		return -1;
	tp_json_obj_open(&ctx->json);
	tp_json_kv_str(&ctx->json, "error", ctx->err);
	tp_json_obj_close(&ctx->json);
	if (in_cmd)
		tp_json_obj_close(&ctx->json);
	tp_json_arr_close(&ctx->json);
	tp_json_doc_end(&ctx->json);
	ctx->err_shown = true;
	return -1;
}

/* The line's error, prefixed with its number. */
static int batch_fail(struct tpctl_ctx *ctx, unsigned long line_no,
		      unsigned long done, bool in_cmd)
{
	char msg[TPCTL_ERR_LEN];

	snprintf(msg, sizeof(msg), "%s", ctx->err[0] ? ctx->err : "failed");
	return batch_stop(ctx, done, in_cmd, "line %lu: %s", line_no, msg);
}

/*
 * A failing line: the tables its predecessors staged go live first, so
 * they are applied as the error says.  Should that fail too, the error
 * stays the line's own.
 */
static int batch_fail_flushed(struct tpctl_ctx *ctx, unsigned long line_no,
			      unsigned long done, bool in_cmd)
{
	char err[TPCTL_ERR_LEN];
	unsigned long bad = 0;

	snprintf(err, sizeof(err), "%s", ctx->err);
	if (batch_flush(ctx, &bad))
		snprintf(ctx->err, sizeof(ctx->err), "%s", err);
	return batch_fail(ctx, line_no, done, in_cmd);
}

static int batch_run(struct tpctl_ctx *ctx, FILE *f, const char *name,
		     unsigned long *done)
{
	char *words[TPCTL_BATCH_MAX_WORDS], *line = NULL, *nul;
	unsigned long line_no = 0, bad_line = 0;
	size_t cap = 0;
	ssize_t len;
	int n, ret = 0;

	while ((len = getline(&line, &cap, f)) >= 0) {
		line_no++;
		ctx->line_no = line_no;
		/* the words after a NUL would be dropped without a word */
		nul = memchr(line, '\0', (size_t)len);
		if (nul) {
			tpctl_err(ctx, "a NUL byte at column %zu",
				  (size_t)(nul - line) + 1);
			ret = batch_fail_flushed(ctx, line_no, *done, false);
			break;
		}
		n = tpctl_batch_split(line, words, TPCTL_BATCH_MAX_WORDS);
		if (n < 0) {
			tpctl_err(ctx,
				  "unterminated quote or more than %d words",
				  TPCTL_BATCH_MAX_WORDS);
			ret = batch_fail_flushed(ctx, line_no, *done, false);
			break;
		}
		if (!n)
			continue;
		if (ctx->opts.json)
			batch_json_command(&ctx->json, words, n);
		bad_line = 0;
		if (batch_line(ctx, words, n, &bad_line)) {
			ret = batch_fail_flushed(ctx,
						 bad_line ? bad_line : line_no,
						 *done, true);
			break;
		}
		if (ctx->opts.json)
			tp_json_obj_close(&ctx->json);
		(*done)++;
	}
	/* what was staged before the end, or before the line that failed */
	if (!ret && !ferror(f) && batch_flush(ctx, &bad_line))
		ret = batch_fail(ctx, bad_line, *done, false);
	/* getline() says -1 for an error as for the end: tell them apart */
	if (!ret && ferror(f)) {
		int err = errno;

		batch_flush(ctx, &bad_line);
		ctx->err[0] = '\0';
		ret = batch_stop(ctx, *done, false,
				 "reading batch file '%s' at line %lu: %s",
				 name, line_no + 1, strerror(err));
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
	ctx->svc_batch = tp_svc_batch_new();
	if (!ctx->svc_batch) {
		if (!is_stdin)
			fclose(f);
		return tpctl_err(ctx, "out of memory");
	}
	ctx->in_batch = true;
	if (ctx->opts.json)
		tp_json_arr_open(&ctx->json);
	ret = batch_run(ctx, f, a->file, &done);
	if (!ret && ctx->opts.json)
		tp_json_arr_close(&ctx->json);
	else if (!ret)
		fprintf(ctx->out, "processed %lu command%s\n", done,
			done == 1 ? "" : "s");
	if (!is_stdin)
		fclose(f);
	ctx->in_batch = false;
	tp_svc_batch_free(ctx->svc_batch);
	ctx->svc_batch = NULL;
	return ret;
}
