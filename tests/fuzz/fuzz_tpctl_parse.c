// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tpctl's command line (maps-cli/parse.c): the input is argv without
 * argv[0], its words separated by NUL bytes.  The options are taken out
 * with tpctl_parse_opts() as main() does, then the words go through
 * tpctl_parse().  A command either parses or has a one-line error; the
 * strings of a parsed command point into the words.
 */
#include "fuzz.h"
#include "tpctl.h"

#define FUZZ_MAX_WORDS 128

/* @s is NULL or one of the @n words of @w. */
static void fuzz_in_words(const char *s, char **w, int n, const char *what)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < n; i++)
		if (s == w[i])
			return;
	FUZZ_CHECK(0, "%s '%s' is not one of the words", what, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *buf = fuzz_cstr(data, len), *argv[FUZZ_MAX_WORDS + 1],
	     *words[FUZZ_MAX_WORDS + 1];
	char err[TPCTL_ERR_LEN];
	struct tpctl_opts o;
	struct tpctl_args a;
	size_t i, start = 0;
	int argc = 1, n, ret;

	argv[0] = "tpctl";
	for (i = 0; i <= len && argc < FUZZ_MAX_WORDS; i++) {
		if (buf[i])
			continue;
		argv[argc++] = buf + start;
		start = i + 1;
	}
	argv[argc] = NULL;

	err[0] = '\0';
	if (tpctl_parse_opts(argc, argv, &o, words, &n, err, sizeof(err))) {
		FUZZ_CHECK(err[0], "an option error without a message");
		goto out;
	}
	FUZZ_CHECK(n >= 0 && n < argc && o.pin_root, "%d words of %d", n, argc);
	words[n] = NULL;
	ret = tpctl_parse(n, words, &a, err, sizeof(err));
	if (ret) {
		FUZZ_CHECK(ret == -1 && err[0], "returned %d, error '%s'", ret,
			   err);
		goto out;
	}
	FUZZ_CHECK(a.cmd && a.cmd->run, "no command to run");
	FUZZ_CHECK(a.plen <= 128 && a.src_plen <= 128 && a.dst_plen <= 128,
		   "prefix lengths");
	FUZZ_CHECK(a.port_lo <= a.port_hi, "ports %u-%u", a.port_lo, a.port_hi);
	fuzz_in_words(a.zone, words, n, "zone");
	fuzz_in_words(a.id, words, n, "identity");
	fuzz_in_words(a.name, words, n, "name");
	fuzz_in_words(a.from, words, n, "from");
	fuzz_in_words(a.to, words, n, "to");
	fuzz_in_words(a.map_name, words, n, "map");
	fuzz_in_words(a.file, words, n, "file");
out:
	free(buf);
	return 0;
}
