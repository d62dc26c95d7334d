// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tpctl: read and edit tailplane's pinned state, bpftool-style.
 * See tpctl.h for how a command line is handled and docs/tpctl.8 for the
 * grammar.  Exit status: 0 on success, 1 on any error; `status` also
 * exits 2 and 3 (enum tpctl_exit).
 */
#include <stdlib.h>

#include <bpf/libbpf.h>

#include "tpctl.h"

static int tpctl_libbpf_quiet(enum libbpf_print_level level, const char *fmt,
			      va_list ap)
{
	return getenv("TPCTL_DEBUG") ? vfprintf(stderr, fmt, ap) : 0;
}

/* An option error, before a context exists: in JSON if -j came first. */
static int tpctl_opts_failed(const struct tpctl_opts *o, const char *msg)
{
	struct tp_json j;

	if (!o->json || tp_json_init(&j, stdout, o->pretty)) {
		fprintf(stderr, "Error: %s\n", msg);
		return 1;
	}
	tp_json_error_doc(&j, msg);
	tp_json_free(&j);
	return 1;
}

int main(int argc, char **argv)
{
	char err[TPCTL_ERR_LEN], **words;
	struct tpctl_opts opts;
	struct tpctl_ctx ctx;
	int n, ret, status;

	setlinebuf(stdout);
	libbpf_set_print(tpctl_libbpf_quiet);
	words = calloc(argc + 1, sizeof(*words));
	if (!words) {
		fprintf(stderr, "Error: out of memory\n");
		return 1;
	}
	if (tpctl_parse_opts(argc, argv, &opts, words, &n, err, sizeof(err))) {
		status = tpctl_opts_failed(&opts, err);
		goto cleanup;
	}
	if (tpctl_ctx_init(&ctx, &opts, stdout)) {
		fprintf(stderr, "Error: out of memory\n");
		status = 1;
		goto cleanup;
	}
	if (opts.version)
		ret = tpctl_version(&ctx);
	else if (!n) /* no OBJECT: the usage, as bpftool */
		ret = tpctl_help(&ctx, NULL);
	else if (opts.help)
		ret = tpctl_run_help(&ctx, n, words);
	else
		ret = tpctl_run(&ctx, n, words);
	status = tpctl_finish(&ctx, ret);
	tpctl_ctx_free(&ctx);
cleanup:
	free(words);
	return status;
}
