// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Test fixtures from tests/fixtures. */
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "datapath.h"
#include "fixture.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/**
 * fixture_seed() - the seed of a test's random sequence: $@env when set
 * (to replay one), else from the clock; printed, and given to srandom().
 * @env: the variable that replays it, e.g. "TP_SLAB_SEED".
 *
 * Return: the seed.
 */
unsigned long long fixture_seed(const char *env)
{
	const char *s = getenv(env);
	unsigned long long seed = s ? strtoull(s, NULL, 0)
				    : (unsigned long long)time(NULL) ^
						  (unsigned long long)clock();

	print_message("seed %llu (%s replays)\n", seed, env);
	srandom((unsigned int)seed);
	return seed;
}

/**
 * read_fixture() - a fixture file's contents (NUL-terminated, up to 1 MiB),
 * from $TP_FIXTURES, tests/fixtures, or tests/fixtures next to the program;
 * fails the test when none has it.
 * @name: file name.
 * @len:  its length.
 */
char *read_fixture(const char *name, size_t *len)
{
	char exe[PATH_MAX], path[PATH_MAX * 2];
	const char *dirs[3] = { getenv("TP_FIXTURES"), "tests/fixtures", NULL };
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *buf = NULL;
	size_t i;
	FILE *f;

	if (n > 0) {
		exe[n] = '\0';
		snprintf(path, sizeof(path), "%s/../../tests/fixtures",
			 dirname(exe));
		dirs[2] = strdupa(path);
	}
	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		if (!dirs[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		f = fopen(path, "r");
		if (!f)
			continue;
		buf = calloc(1, 1 << 20);
		assert_non_null(buf);
		*len = fread(buf, 1, (1 << 20) - 1, f);
		fclose(f);
		return buf;
	}
	fail_msg(
		"fixture %s not found (run from the repository root or set TP_FIXTURES)",
		name);
	return NULL;
}

/*
 * Make a new directory /tmp/@prefix-XXXXXX for a test, its path in @dir
 * (of @size).  Return: 0, or -1 when it could not be made.
 */
int fixture_tmpdir(char *dir, size_t size, const char *prefix)
{
	int n = snprintf(dir, size, "/tmp/%s-XXXXXX", prefix);

	if (n < 0 || (size_t)n >= size)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

/**
 * fixture_pin_config() - a loader configuration for the pin tests: one
 * interface, tp-none0 (absent on purpose: nothing is attached), and the
 * pins under /sys/fs/bpf/@prefix-PID; fails the test when it does not parse.
 * @cfg:    filled (tpd_config_free() it).
 * @prefix: the pin root's name before the process id.
 */
void fixture_pin_config(struct tpd_config *cfg, const char *prefix)
{
	char err[256];

	if (tpd_config_parse("{\"interfaces\":[{\"name\":\"tp-none0\"}]}", cfg,
			     err, sizeof(err)))
		fail_msg("config: %s", err);
	snprintf(cfg->pin_root, sizeof(cfg->pin_root), "/sys/fs/bpf/%s-%d",
		 prefix, getpid());
}

/*
 * Remove whatever a test left under fixture_pin_config()'s pin root for
 * @prefix: programs detached, pins and directories gone.
 */
void fixture_pins_remove(const char *prefix)
{
	struct tpd_config cfg;

	fixture_pin_config(&cfg, prefix);
	tpd_detach_all(&cfg, true);
	tpd_config_free(&cfg);
}

/*
 * How many maps of the ABI (tp_pin_maps) are pinned under @cfg's pin
 * root.
 */
size_t fixture_pins_count(const struct tpd_config *cfg)
{
	char path[PATH_MAX];
	size_t i, n = 0;

	for (i = 0; i < tp_pin_maps_n; i++) {
		snprintf(path, sizeof(path), "%s/%s", cfg->pin_root,
			 tp_pin_maps[i].name);
		n += !access(path, F_OK);
	}
	return n;
}

/**
 * fixture_sh() - run a shell command (in the test's own network
 * namespace, where the caller made one); fails the test when it fails.
 * @fmt: printf format of the command.
 */
void fixture_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd))
		fail_msg("'%s' failed", cmd);
}
