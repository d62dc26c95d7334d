// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tpctl's usage, its man page (docs/tpctl.8) and its bash completion
 * (deploy/tpctl.bash-completion) against its command table
 * (maps-cli/commands.c), as the kernel's test_bpftool_synctypes.py checks
 * bpftool's: each names every object and command, and nothing that is
 * not one.  The man page's examples must parse.  No user-facing text
 * speaks of the tracker ("issue", "arrives with").
 *
 * The sources are read from $TP_SRCDIR, the current directory, or two
 * levels above this program (build/tests/).
 */
#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "maps.h"
#include "tailplane.skel.h"
#include "tpctl.h"

#define TD_MAX_WORDS 64
#define TD_MAX_ROWS  128

/* Problems found by the current test; each is printed as it is found. */
static int td_problems;

static void td_problem(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void td_problem(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("%s\n", msg);
	td_problems++;
}

/* A source file's text (NUL-terminated), found as the header says. */
static char *td_read(const char *rel)
{
	char exe[PATH_MAX], path[PATH_MAX * 2], *buf;
	const char *dirs[3] = { getenv("TP_SRCDIR"), ".", NULL };
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t i, len;
	FILE *f;

	if (n > 0) {
		exe[n] = '\0';
		snprintf(path, sizeof(path), "%s/../..", dirname(exe));
		dirs[2] = strdupa(path);
	}
	for (i = 0; i < 3; i++) {
		if (!dirs[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirs[i], rel);
		f = fopen(path, "r");
		if (!f)
			continue;
		buf = calloc(1, 1 << 20);
		assert_non_null(buf);
		len = fread(buf, 1, (1 << 20) - 1, f);
		fclose(f);
		buf[len] = '\0';
		return buf;
	}
	fail_msg("%s not found (run from the repository root or set TP_SRCDIR)",
		 rel);
	return NULL;
}

/* ---- the table ------------------------------------------------------------ */

/**
 * struct td_row - a command of the table with the words that name it.
 * @obj:  its object.
 * @cmd:  its row.
 * @path: "service add", "nat static add", "monitor".
 * @seen: named by the document under test.
 */
struct td_row {
	const struct tpctl_object *obj;
	const struct tpctl_cmd *cmd;
	char path[64];
	bool seen;
};

static struct td_row td_rows[TD_MAX_ROWS];
static size_t td_n_rows;

static void td_collect(const struct tpctl_object *obj,
		       const struct tpctl_object *o, const char *path)
{
	size_t k;

	for (k = 0; k < o->n_cmds; k++) {
		const struct tpctl_cmd *c = &o->cmds[k];
		char sub[64];

		snprintf(sub, sizeof(sub), "%s%s%s", path, c->word ? " " : "",
			 c->word ? c->word : "");
		if (c->sub) {
			td_collect(obj, c->sub, sub);
			continue;
		}
		assert_true(td_n_rows < TD_MAX_ROWS);
		td_rows[td_n_rows].obj = obj;
		td_rows[td_n_rows].cmd = c;
		snprintf(td_rows[td_n_rows].path, sizeof(td_rows[0].path), "%s",
			 sub);
		td_n_rows++;
	}
}

/* Every command of the table, unseen; problems reset. */
static int td_setup(void **state)
{
	size_t k;

	memset(td_rows, 0, sizeof(td_rows));
	td_n_rows = 0;
	td_problems = 0;
	for (k = 0; k < tpctl_n_objects; k++)
		td_collect(&tpctl_objects[k], &tpctl_objects[k],
			   tpctl_objects[k].word);
	return 0;
}

static struct td_row *td_row_of(const struct tpctl_cmd *c)
{
	size_t i;

	for (i = 0; i < td_n_rows; i++)
		if (td_rows[i].cmd == c)
			return &td_rows[i];
	return NULL;
}

static const struct tpctl_object *td_object(const char *word)
{
	size_t k;

	for (k = 0; k < tpctl_n_objects; k++)
		if (!strcmp(tpctl_objects[k].word, word))
			return &tpctl_objects[k];
	return NULL;
}

static const struct tpctl_cmd *td_cmd(const struct tpctl_object *o,
				      const char *word)
{
	size_t k;

	for (k = 0; k < o->n_cmds; k++)
		if (o->cmds[k].word && !strcmp(o->cmds[k].word, word))
			return &o->cmds[k];
	return NULL;
}

/*
 * Which command "tpctl WORDS..." names, by exact words as a synopsis
 * writes them.  NULL (a problem reported, naming @where) when it names
 * none; "tpctl OBJECT" alone names the object's default, which counts
 * for @obj but not as the default command named.
 */
static const struct tpctl_cmd *td_resolve(char **w, int n, const char *where,
					  const char *line)
{
	const struct tpctl_object *o;
	const struct tpctl_cmd *c = NULL;
	int i = 2;

	if (n < 2 || !(o = td_object(w[1]))) {
		td_problem("%s names an object that does not exist: %s", where,
			   line);
		return NULL;
	}
	if (!o->cmds[0].word)
		return &o->cmds[0];
	for (;;) {
		if (i >= n || !strcmp(w[i], "help"))
			return i >= n ? NULL : &tpctl_help_cmd;
		c = td_cmd(o, w[i++]);
		if (!c) {
			td_problem("%s names a command that does not exist: %s",
				   where, line);
			return NULL;
		}
		if (!c->sub)
			return c;
		o = c->sub;
	}
}

/* Split @s at blanks into @w (in place). */
static int td_split(char *s, char **w)
{
	int n = 0;
	char *t;

	for (t = strtok(s, " \t"); t && n < TD_MAX_WORDS;
	     t = strtok(NULL, " \t"))
		w[n++] = t;
	return n;
}

/* A synopsis line "tpctl ...": mark what it names, report what does not exist. */
static void td_synopsis(const char *where, const char *text)
{
	char line[1024], copy[1024], *w[TD_MAX_WORDS];
	const struct tpctl_cmd *c;
	struct td_row *row;
	int n;

	snprintf(line, sizeof(line), "%s", text);
	snprintf(copy, sizeof(copy), "%s", text);
	n = td_split(copy, w);
	if (!n || strcmp(w[0], "tpctl"))
		return;
	c = td_resolve(w, n, where, line);
	row = c ? td_row_of(c) : NULL;
	if (row)
		row->seen = true;
}

/* Report every command of a real object that @where did not name. */
static void td_all_seen(const char *where)
{
	size_t i;

	for (i = 0; i < td_n_rows; i++)
		if (!td_rows[i].seen &&
		    !(td_rows[i].obj->flags & TPCTL_OBJ_META))
			td_problem("%s does not name 'tpctl %s'", where,
				   td_rows[i].path);
}

/* The words of "{ a | b | c }" starting at @s, checked against the objects. */
static void td_object_list(const char *where, const char *s)
{
	char list[1024], *w[TD_MAX_WORDS];
	const struct tpctl_object *o;
	int i, n, found;
	size_t k;

	s = strchr(s, '{');
	if (!s) {
		td_problem("%s: no 'OBJECT := { ... }'", where);
		return;
	}
	snprintf(list, sizeof(list), "%s", s + 1);
	if (strchr(list, '}'))
		*strchr(list, '}') = '\0';
	for (k = 0; list[k]; k++)
		if (list[k] == '|' || list[k] == '\n')
			list[k] = ' ';
	n = td_split(list, w);
	for (i = 0; i < n; i++) {
		o = td_object(w[i]);
		if (!o || (o->flags & TPCTL_OBJ_META))
			td_problem("%s: OBJECT lists '%s', which is no object",
				   where, w[i]);
	}
	for (k = 0; k < tpctl_n_objects; k++) {
		if (tpctl_objects[k].flags & TPCTL_OBJ_META)
			continue;
		for (i = 0, found = 0; i < n; i++)
			found |= !strcmp(w[i], tpctl_objects[k].word);
		if (!found)
			td_problem("%s: OBJECT does not list '%s'", where,
				   tpctl_objects[k].word);
	}
}

/* No tracker wording in what users read. */
static void td_no_tracker_words(const char *where, const char *text)
{
	static const char *const words[] = { "issue", "arrives with" };
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(text, words[i]))
			td_problem("%s says '%s'", where, words[i]);
}

/*
 * The table's own rules: a row runs or leads to more commands, never
 * both; an object without command words has exactly one row; an object
 * with command words has one default (its list), its nested commands
 * none; no word twice in one table, and none is "help".
 */
static void td_check_object(const struct tpctl_object *o, bool nested)
{
	size_t k, j, defaults = 0;

	assert_true(o->n_cmds > 0);
	for (k = 0; k < o->n_cmds; k++) {
		const struct tpctl_cmd *c = &o->cmds[k];

		if (!c->word && o->n_cmds != 1)
			td_problem("%s: a row without a word beside others",
				   o->word);
		if (c->sub ? c->parse || c->run || !c->word
			   : !c->parse || !c->run || !c->args)
			td_problem(
				"%s %s: a row must run, or lead to more commands",
				o->word, c->word ? c->word : "");
		if (!c->help || !c->help[0])
			td_problem("%s %s: no help", o->word,
				   c->word ? c->word : "");
		if (c->word && !strcmp(c->word, "help"))
			td_problem("%s: 'help' is every object's own", o->word);
		for (j = 0; c->word && j < k; j++)
			if (o->cmds[j].word &&
			    !strcmp(o->cmds[j].word, c->word))
				td_problem("%s %s: twice", o->word, c->word);
		defaults += !!(c->flags & TPCTL_CMD_DEFAULT);
		if ((c->flags & TPCTL_CMD_STAGED_OK) &&
		    !(c->flags & TPCTL_CMD_WRITES))
			td_problem("%s %s: staged-ok but no writer", o->word,
				   c->word);
		if (c->sub)
			td_check_object(c->sub, true);
	}
	if (o->cmds[0].word && defaults != (nested ? 0u : 1u))
		td_problem("%s: %zu default commands", o->word, defaults);
}

static void test_command_table(void **state)
{
	size_t k;

	assert_true(tpctl_n_objects > 0);
	for (k = 0; k < tpctl_n_objects; k++)
		td_check_object(&tpctl_objects[k], false);
	assert_int_equal(td_problems, 0);
}

/* ---- the usage ------------------------------------------------------------ */

static char *td_usage(const struct tpctl_object *obj)
{
	struct tpctl_opts opts = { .pin_root = "/nonexistent-tpctl-test" };
	struct tpctl_ctx ctx;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(tpctl_ctx_init(&ctx, &opts, f), 0);
	assert_int_equal(tpctl_help(&ctx, obj), 0);
	tpctl_ctx_free(&ctx);
	fclose(f);
	return buf;
}

/* Every usage line of every object's help names a command, and all are named. */
static void test_usage_names_every_command(void **state)
{
	char *text, *line, *save, where[64];
	size_t k;

	text = td_usage(NULL);
	td_object_list("tpctl help", strstr(text, "OBJECT :="));
	td_no_tracker_words("tpctl help", text);
	free(text);
	for (k = 0; k < tpctl_n_objects; k++) {
		const struct tpctl_object *o = &tpctl_objects[k];

		if (o->flags & TPCTL_OBJ_META)
			continue;
		snprintf(where, sizeof(where), "tpctl %s help", o->word);
		text = td_usage(o);
		td_no_tracker_words(where, text);
		if (strncmp(text, "Usage: tpctl ", 13))
			td_problem("%s does not start with 'Usage: tpctl '",
				   where);
		for (line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			if (!strncmp(line, "Usage: ", 7))
				line += 7;
			line += strspn(line, " ");
			if (!strncmp(line, "tpctl ", 6))
				td_synopsis(where, line);
		}
		free(text);
	}
	td_all_seen("the usage");
	assert_int_equal(td_problems, 0);
}

/* ---- the man page ---------------------------------------------------------- */

/*
 * A man page line as text: its macro (.B, .BR, ...) dropped, font escapes
 * and quotes removed, "\-" as "-".
 */
static void td_troff_text(const char *in, char *out, size_t len)
{
	size_t o = 0;

	if (in[0] == '.') {
		in += strcspn(in, " ");
		in += strspn(in, " ");
	}
	while (*in && o + 1 < len) {
		if (in[0] == '\\' && in[1] == 'f' && in[2]) {
			in += 3;
		} else if (in[0] == '\\' && in[1] == '-') {
			out[o++] = '-';
			in += 2;
		} else if (*in == '"') {
			in++;
		} else {
			out[o++] = *in++;
		}
	}
	out[o] = '\0';
}

/* An example "tpctl [OPTIONS] WORDS [| ...]" must parse. */
static void td_example(const char *text)
{
	char copy[1024], err[TPCTL_ERR_LEN], *w[TD_MAX_WORDS + 1],
		*words[TD_MAX_WORDS + 1];
	struct tpctl_opts opts;
	struct tpctl_args a;
	int n, nw;

	snprintf(copy, sizeof(copy), "%s", text);
	if (strchr(copy, '|'))
		*strchr(copy, '|') = '\0';
	n = td_split(copy, w);
	w[n] = NULL;
	if (tpctl_parse_opts(n, w, &opts, words, &nw, err, sizeof(err))) {
		td_problem("docs/tpctl.8: example '%s': %s", text, err);
		return;
	}
	if (tpctl_parse(nw, words, &a, err, sizeof(err)))
		td_problem("docs/tpctl.8: example '%s': %s", text, err);
}

/*
 * The SYNOPSIS's "OBJECT := { ... }": its troff lines as text, from the
 * one that starts it to the one that closes it.
 */
static void td_man_objects(char *man)
{
	char list[2048] = "", text[1024], *line, *save;
	bool in = false;

	for (line = strtok_r(man, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		td_troff_text(line, text, sizeof(text));
		if (!in && strstr(text, "OBJECT") && strstr(text, ":= {"))
			in = true;
		if (!in)
			continue;
		strncat(list, text, sizeof(list) - strlen(list) - 2);
		strcat(list, " ");
		if (strchr(text, '}'))
			break;
	}
	if (!in)
		td_problem("docs/tpctl.8 has no OBJECT := { ... } list");
	else
		td_object_list("docs/tpctl.8 SYNOPSIS", list);
}

static void test_man_names_every_command(void **state)
{
	char *man = td_read("docs/tpctl.8"), *line, *save, text[1024];
	bool heading = false, example = false;
	char *copy = strdup(man);

	assert_non_null(copy);
	td_no_tracker_words("docs/tpctl.8", man);
	td_man_objects(copy);
	free(copy);
	for (line = strtok_r(man, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, ".TP") || !strcmp(line, ".TQ")) {
			heading = true;
			continue;
		}
		if (!strcmp(line, ".nf") || !strcmp(line, ".fi")) {
			example = line[1] == 'n';
			continue;
		}
		td_troff_text(line, text, sizeof(text));
		if (heading && !strncmp(text, "tpctl ", 6))
			td_synopsis("docs/tpctl.8", text);
		if (example && !strncmp(text, "tpctl ", 6))
			td_example(text);
		heading = false;
	}
	free(man);
	td_all_seen("docs/tpctl.8 (as a .TP or .TQ heading)");
	assert_int_equal(td_problems, 0);
}

/* ---- the completion ------------------------------------------------------- */

/* The words of the completion's `NAME="..."`; NULL when it has none. */
static int td_completion_list(const char *text, const char *name, char *buf,
			      size_t len, char **w)
{
	char key[96];
	const char *s, *e;

	snprintf(key, sizeof(key), "\n%s=\"", name);
	s = strstr(text, key);
	if (!s)
		return -1;
	s += strlen(key);
	e = strchr(s, '"');
	if (!e)
		return -1;
	snprintf(buf, len, "%.*s", (int)(e - s), s);
	return td_split(buf, w);
}

/* The completion's list @name holds exactly the command words of @o. */
static void td_completion_cmds(const char *text, const char *name,
			       const struct tpctl_object *o)
{
	char buf[512], use[128], *w[TD_MAX_WORDS];
	const char *at;
	int i, n = td_completion_list(text, name, buf, sizeof(buf), w);
	size_t k;

	if (n < 0) {
		td_problem("deploy/tpctl.bash-completion has no %s", name);
		return;
	}
	for (i = 0; i < n; i++)
		if (!td_cmd(o, w[i]))
			td_problem(
				"deploy/tpctl.bash-completion: %s has '%s', which is no command",
				name, w[i]);
	for (k = 0; k < o->n_cmds; k++) {
		for (i = 0; i < n && strcmp(w[i], o->cmds[k].word); i++)
			;
		if (i == n)
			td_problem(
				"deploy/tpctl.bash-completion: %s lacks '%s'",
				name, o->cmds[k].word);
		if (o->cmds[k].sub) {
			snprintf(use, sizeof(use), "%s_%s", name,
				 o->cmds[k].word);
			td_completion_cmds(text, use, o->cmds[k].sub);
		}
	}
	/* and it is used: "$name" followed by no more of a name */
	snprintf(use, sizeof(use), "$%s", name);
	for (at = strstr(text, use); at; at = strstr(at + 1, use))
		if (!strchr("abcdefghijklmnopqrstuvwxyz_", at[strlen(use)]))
			return;
	td_problem("deploy/tpctl.bash-completion never uses %s", name);
}

/* Every _tpctl_cmds_* list belongs to an object or a command with commands. */
static void td_completion_no_stray(const char *text)
{
	static const char prefix[] = "\n_tpctl_cmds_";
	char name[96];
	const char *s;
	size_t len;

	for (s = strstr(text, prefix); s; s = strstr(s + 1, prefix)) {
		char *sub;
		const struct tpctl_object *o;
		const struct tpctl_cmd *c;

		len = strcspn(s + sizeof(prefix) - 1, "=");
		snprintf(name, sizeof(name), "%.*s", (int)len,
			 s + sizeof(prefix) - 1);
		sub = strchr(name, '_');
		if (sub)
			*sub++ = '\0';
		o = td_object(name);
		c = o && sub ? td_cmd(o, sub) : NULL;
		if (!o || !o->cmds[0].word || (sub && (!c || !c->sub)))
			td_problem(
				"deploy/tpctl.bash-completion: _tpctl_cmds_%.*s names no object or command with commands",
				(int)len, s + sizeof(prefix) - 1);
	}
}

static void test_completion_names_every_command(void **state)
{
	char *text = td_read("deploy/tpctl.bash-completion"), buf[512],
	     name[96];
	char *w[TD_MAX_WORDS];
	int i, n;
	size_t k;

	n = td_completion_list(text, "_tpctl_objects", buf, sizeof(buf), w);
	if (n < 0)
		td_problem(
			"deploy/tpctl.bash-completion has no _tpctl_objects");
	for (i = 0; i < n; i++)
		if (!td_object(w[i]))
			td_problem(
				"deploy/tpctl.bash-completion: _tpctl_objects has '%s', which is no object",
				w[i]);
	for (k = 0; k < tpctl_n_objects; k++) {
		const struct tpctl_object *o = &tpctl_objects[k];

		for (i = 0; i < n && strcmp(w[i], o->word); i++)
			;
		if (i >= n)
			td_problem(
				"deploy/tpctl.bash-completion: _tpctl_objects lacks '%s'",
				o->word);
		if (!o->cmds[0].word)
			continue;
		snprintf(name, sizeof(name), "_tpctl_cmds_%s", o->word);
		td_completion_cmds(text, name, o);
	}
	td_completion_no_stray(text);
	free(text);
	assert_int_equal(td_problems, 0);
}

/* ---- the maps -------------------------------------------------------------- */

/*
 * Every map of TP_MAPS is in the skeleton: this does not compile when
 * bpf/lib/maps.h lacks one.
 */
#define TD_SKEL_HAS(field, holds)                                        \
	_Static_assert(sizeof(((struct tailplane *)0)->maps.tp_##field), \
		       #field);
TP_MAPS(TD_SKEL_HAS)

/* Each map of TP_MAPS says what it holds, and is in tp_pin_maps once. */
static void test_maps_list(void **state)
{
	static const char *const holds[] = {
#define TD_HOLDS(field, what) what,
		TP_MAPS(TD_HOLDS)
#undef TD_HOLDS
	};
	size_t i, k;

	assert_int_equal(tp_pin_maps_n, sizeof(holds) / sizeof(holds[0]));
	for (i = 0; i < tp_pin_maps_n; i++) {
		if (strncmp(tp_pin_maps[i].name, "tp_", 3) ||
		    strlen(holds[i]) < 10)
			td_problem("map %s: name or description '%s'",
				   tp_pin_maps[i].name, holds[i]);
		for (k = 0; k < i; k++)
			if (!strcmp(tp_pin_maps[k].name, tp_pin_maps[i].name))
				td_problem("map %s listed twice",
					   tp_pin_maps[i].name);
	}
	assert_int_equal(td_problems, 0);
}

static bool td_listed(const char *name)
{
	size_t i;

	for (i = 0; i < tp_pin_maps_n; i++)
		if (!strcmp(tp_pin_maps[i].name, name))
			return true;
	return false;
}

/*
 * The object's pinned maps are exactly TP_MAPS: a map pinned by name but
 * not listed would be shared by the programs and invisible to tpctl.
 */
static void test_maps_object(void **state)
{
	struct tailplane *skel = tailplane__open();
	struct bpf_map *map;
	size_t i;

	assert_non_null(skel);
	bpf_object__for_each_map(map, skel->obj)
	{
		const char *name = bpf_map__name(map);

		if (bpf_map__pin_path(map) && !td_listed(name))
			td_problem(
				"bpf/lib/maps.h pins %s, which TP_MAPS (abi.h) lacks",
				name);
		if (!bpf_map__pin_path(map) && td_listed(name))
			td_problem(
				"TP_MAPS (abi.h) lists %s, which is not pinned by name",
				name);
	}
	for (i = 0; i < tp_pin_maps_n; i++)
		if (!bpf_object__find_map_by_name(skel->obj,
						  tp_pin_maps[i].name))
			td_problem("the object has no map %s",
				   tp_pin_maps[i].name);
	tailplane__destroy(skel);
	assert_int_equal(td_problems, 0);
}

/*
 * abi.h's TP_MAP_* names are TP_MAP_NAME() of a field of TP_MAPS, each
 * named after it: no map name is spelled outside the list.
 */
static void test_maps_names(void **state)
{
	char *abi = td_read("include/tailplane/abi.h"), *line, *save;
	char macro[64], field[64], want[64];
	size_t i;

	for (line = strtok_r(abi, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "#define TP_MAP_", 15) ||
		    !strncmp(line, "#define TP_MAP_NAME(", 20))
			continue;
		if (sscanf(line, "#define TP_MAP_%63s TP_MAP_NAME(%63[a-z_])",
			   macro, field) != 2) {
			td_problem(
				"abi.h: a map name not made by TP_MAP_NAME(): %s",
				line);
			continue;
		}
		snprintf(want, sizeof(want), "tp_%s", field);
		if (!td_listed(want))
			td_problem(
				"abi.h: TP_MAP_%s names %s, which TP_MAPS lacks",
				macro, want);
		for (i = 0; field[i]; i++)
			field[i] = (char)toupper((unsigned char)field[i]);
		if (strcmp(macro, field))
			td_problem(
				"abi.h: TP_MAP_%s is not named after its map (TP_MAP_%s)",
				macro, field);
	}
	free(abi);
	assert_int_equal(td_problems, 0);
}

/* The completion offers exactly the pinned maps to `map dump`. */
static void test_maps_completion(void **state)
{
	char *text = td_read("deploy/tpctl.bash-completion"), buf[2048];
	char *w[TD_MAX_WORDS];
	int j, n = td_completion_list(text, "_tpctl_map_names", buf,
				      sizeof(buf), w);
	size_t i;

	if (n < 0)
		td_problem(
			"deploy/tpctl.bash-completion has no _tpctl_map_names");
	for (j = 0; j < n; j++)
		if (!td_listed(w[j]))
			td_problem(
				"deploy/tpctl.bash-completion: _tpctl_map_names has %s, which TP_MAPS lacks",
				w[j]);
	for (i = 0; i < tp_pin_maps_n; i++) {
		for (j = 0; j < n && strcmp(w[j], tp_pin_maps[i].name); j++)
			;
		if (j >= n)
			td_problem(
				"deploy/tpctl.bash-completion: _tpctl_map_names lacks %s",
				tp_pin_maps[i].name);
	}
	if (!strstr(text, "\"$_tpctl_map_names\""))
		td_problem(
			"deploy/tpctl.bash-completion never uses _tpctl_map_names");
	free(text);
	assert_int_equal(td_problems, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_command_table, td_setup),
		cmocka_unit_test_setup(test_usage_names_every_command,
				       td_setup),
		cmocka_unit_test_setup(test_man_names_every_command, td_setup),
		cmocka_unit_test_setup(test_completion_names_every_command,
				       td_setup),
		cmocka_unit_test_setup(test_maps_list, td_setup),
		cmocka_unit_test_setup(test_maps_object, td_setup),
		cmocka_unit_test_setup(test_maps_names, td_setup),
		cmocka_unit_test_setup(test_maps_completion, td_setup),
	};

	return cmocka_run_group_tests_name("tpctl_docs", tests, NULL, NULL);
}
