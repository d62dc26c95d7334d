// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tpctl's batch reader (maps-cli/cmd_batch.c): the input's first byte
 * picks the output (bit 0: JSON, bit 1: indented; '0' plain, '1' JSON,
 * '3' indented JSON), the rest is the batch
 * file, read by tpctl_batch() from a memfd as from any file: lines,
 * NUL bytes, quotes, comments, the grammar of each line, the stop at the
 * first failing line and its message.  The commands do not run: this
 * file's tpctl_exec() stands in for exec.c and the maps, succeeding with
 * tpctl_ok(), except help and version, which run, and `conntrack flush`,
 * which fails.  JSON output must be one well-formed document.
 */

#include <yajl/yajl_tree.h>

#include "fuzz.h"
#include "tpctl.h"

int tpctl_exec(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	FUZZ_CHECK(a->cmd && a->cmd->run, "no command to run");
	if (a->cmd->run == tpctl_help_run || a->cmd->run == tpctl_version_run)
		return a->cmd->run(ctx, a);
	FUZZ_CHECK(!(a->cmd->flags & TPCTL_CMD_NO_BATCH),
		   "'%s' run inside a batch", a->obj ? a->obj->word : "?");
	if (a->cmd->run == tpctl_ct_flush)
		return tpctl_err(ctx, "conntrack flush fails here");
	return tpctl_ok(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tpctl_opts o = { .pin_root = "/nonexistent/tailplane-fuzz" };
	struct tpctl_args a = { 0 };
	char *out = NULL, yerr[256];
	struct tpctl_ctx ctx;
	size_t out_len = 0;
	yajl_val doc;
	FILE *f;
	int ret;

	if (!len)
		return 0;
	o.json = data[0] & 1;
	o.pretty = o.json && (data[0] & 2);
	a.file = fuzz_file(data + 1, len - 1);

	f = open_memstream(&out, &out_len);
	FUZZ_CHECK(f, "open_memstream");
	FUZZ_CHECK(!tpctl_ctx_init(&ctx, &o, f), "tpctl_ctx_init");
	ret = tpctl_batch(&ctx, &a);
	FUZZ_CHECK(ret == 0 || ret == -1, "returned %d", ret);
	FUZZ_CHECK(!ret == !ctx.err[0], "returned %d with error '%s'", ret,
		   ctx.err);
	FUZZ_CHECK(!ctx.in_batch, "still in the batch");
	if (ret)
		FUZZ_CHECK(strstr(ctx.err, "the batch stopped there"),
			   "error '%s'", ctx.err);
	if (o.json && !ctx.err_shown)
		FUZZ_CHECK(ctx.json.status == yajl_gen_status_ok,
			   "the JSON generator failed (%d)", ctx.json.status);
	if (o.json) /* plain, it only writes the error to stderr */
		tpctl_finish(&ctx, ret);
	tpctl_ctx_free(&ctx);
	fclose(f);

	if (o.json) {
		doc = yajl_tree_parse(out, yerr, sizeof(yerr));
		FUZZ_CHECK(doc, "the output is not one JSON document: %s\n%s",
			   yerr, out);
		FUZZ_CHECK(YAJL_IS_ARRAY(doc) || (ret && YAJL_IS_OBJECT(doc)),
			   "the output is not a list of commands:\n%s", out);
		yajl_tree_free(doc);
	}
	free(out);
	return 0;
}
