// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Linux 6.1's combined stack limit, checked on the host: each program of
 * the datapath object is loaded as the harness loads it (its maps
 * unpinned, the default knobs) with the verifier's statistics on
 * (log_level 4: its last line, "stack depth A+B+...", is every
 * subprogram's depth in subprogram order), and every chain of bpf-to-bpf
 * calls from the program's entry is walked as 6.1's
 * check_max_stack_depth() walks it: through global functions, static
 * subprograms and callbacks (BPF_PSEUDO_CALL and BPF_PSEUDO_FUNC
 * references in the instructions libbpf sent), each frame max(depth, 1)
 * rounded up to 32 bytes, at most 512 bytes and 8 frames along a chain.
 *
 * The host's kernel walks the same chains but rounds a JITed program's
 * frames up to 16 bytes only, with no minimum (round_up_stack_depth(),
 * Linux 6.9 on), so it loads chains 6.1 refuses: the 6.1 run is slow
 * (make vmtest), this check is not.  It prints each program's deepest
 * chain, frame by frame, passing or not.
 *
 * tests/bpf/stack61.bpf.c holds chains on either side of the limits; the
 * one 6.1 refuses loads here, and the check must refuse it.  On 6.1
 * itself (the VM run) the kernel refuses it: the figures of its message
 * must then be the check's own from the depths that kernel printed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "tailplane.skel.h"
#include "tests/bpf/stack61.skel.h"

#define S61_MAX_BYTES  512 /* MAX_BPF_STACK */
#define S61_MAX_FRAMES 8   /* MAX_CALL_FRAMES */
/*
 * Bytes the check keeps below 512, for depths this kernel reports that
 * 6.1 might count higher.  None: Debian's 6.1.0-57 in the VM run (make
 * vmtest, VM_TESTS=build/tests/test_stack61) printed every subprogram's
 * depth of every program equal to 6.18's, and refused s61_bytes at the
 * check's own figure (5 calls, 544 bytes).  -DS61_MARGIN=N to try one.
 */
#ifndef S61_MARGIN
#define S61_MARGIN 0
#endif
#define S61_MAX_SUB  64
#define S61_LOG_SIZE (64 * 1024)

struct s61_sub {
	__u32 start; /* first instruction */
	int depth;   /* the verifier's stack depth */
	char name[64];
};

/**
 * struct s61_prog - one program's subprograms and calls.
 * @calls: calls[a][b]: subprogram a calls subprogram b or references it
 *         as a callback; 6.1 counts either as a frame.
 */
struct s61_prog {
	char name[64];
	int nsub;
	struct s61_sub sub[S61_MAX_SUB];
	bool calls[S61_MAX_SUB][S61_MAX_SUB];
};

/* a chain of calls from the entry, as 6.1 counts it */
struct s61_chain {
	int n;
	int sub[S61_MAX_SUB];
	int bytes;
};

/* one frame as 6.1's check_max_stack_depth() counts it */
static int s61_frame(int depth)
{
	return (((depth > 0 ? depth : 1) + 31) / 32) * 32;
}

/*
 * The heaviest chain from @s, by bytes or by frames: its weight, and in
 * @next[s] the callee it goes on to (-1: none).  -1 for a cycle, which
 * the kernel refuses before it counts.
 */
static int s61_heaviest(const struct s61_prog *p, int s, bool frames, int *memo,
			int *next, int level)
{
	int c, w, best = 0;

	if (memo[s] >= 0)
		return memo[s];
	if (level > p->nsub)
		return -1;
	next[s] = -1;
	for (c = 0; c < p->nsub; c++) {
		if (!p->calls[s][c])
			continue;
		w = s61_heaviest(p, c, frames, memo, next, level + 1);
		if (w < 0)
			return -1;
		if (w > best) {
			best = w;
			next[s] = c;
		}
	}
	memo[s] = best + (frames ? 1 : s61_frame(p->sub[s].depth));
	return memo[s];
}

/* The chain from the entry with the most bytes (or frames); -1: a cycle. */
static int s61_deepest(const struct s61_prog *p, bool frames,
		       struct s61_chain *ch)
{
	int memo[S61_MAX_SUB], next[S61_MAX_SUB], s;

	memset(ch, 0, sizeof(*ch));
	memset(memo, -1, sizeof(memo));
	if (s61_heaviest(p, 0, frames, memo, next, 0) < 0)
		return -1;
	for (s = 0; s >= 0; s = next[s]) {
		ch->sub[ch->n++] = s;
		ch->bytes += s61_frame(p->sub[s].depth);
	}
	return 0;
}

static void s61_chain_str(const struct s61_prog *p, const struct s61_chain *ch,
			  char *buf, size_t len)
{
	size_t off;
	int i;

	off = snprintf(buf, len, "%d bytes, %d frames:", ch->bytes, ch->n);
	for (i = 0; i < ch->n && off < len; i++)
		off += snprintf(buf + off, len - off, "%s %s %d",
				i ? " ->" : "", p->sub[ch->sub[i]].name,
				s61_frame(p->sub[ch->sub[i]].depth));
}

/**
 * s61_check() - whether Linux 6.1 takes @p's call chains.
 * @p:   the program.
 * @ch:  its deepest chain by bytes.
 * @why: what it exceeds, with the chain frame by frame (6.1's sizes); or
 *       the deepest chain, and the one of most frames when longer.
 *
 * Return: true when every chain is within 512 - S61_MARGIN bytes and 8
 * frames.
 */
static bool s61_check(const struct s61_prog *p, struct s61_chain *ch, char *why,
		      size_t len)
{
	struct s61_chain by_frames;
	char chain[1024];
	size_t off;

	if (s61_deepest(p, false, ch) || s61_deepest(p, true, &by_frames)) {
		snprintf(why, len, "%s: a cycle of calls", p->name);
		return false;
	}
	s61_chain_str(p, ch, chain, sizeof(chain));
	if (ch->bytes > S61_MAX_BYTES - S61_MARGIN) {
		snprintf(why, len,
			 "%s: a chain of %s: Linux 6.1 takes %d bytes (%d with "
			 "the margin): shrink a frame of it",
			 p->name, chain, S61_MAX_BYTES,
			 S61_MAX_BYTES - S61_MARGIN);
		return false;
	}
	if (by_frames.n > S61_MAX_FRAMES) {
		s61_chain_str(p, &by_frames, chain, sizeof(chain));
		snprintf(why, len,
			 "%s: a chain of %s: Linux 6.1 takes %d frames: call "
			 "one level less deep",
			 p->name, chain, S61_MAX_FRAMES);
		return false;
	}
	off = snprintf(why, len, "%s: deepest chain %s", p->name, chain);
	if (by_frames.n > ch->n && off < len) {
		s61_chain_str(p, &by_frames, chain, sizeof(chain));
		snprintf(why + off, len - off, "; most frames %s", chain);
	}
	return true;
}

/* ---- what the kernel said ----------------------------------------------- */

/* The depths of the log's last "stack depth" line; their number or -1. */
static int s61_log_depths(const char *log, int *depth, int max)
{
	const char *line = NULL, *s;
	char *end;
	int n = 0;

	for (s = strstr(log, "stack depth "); s;
	     s = strstr(s + 1, "stack depth "))
		line = s + strlen("stack depth ");
	if (!line)
		return -1;
	for (s = line; n < max; s = end + 1) {
		depth[n++] = strtol(s, &end, 10);
		if (end == s)
			return -1;
		if (*end != '+')
			return n;
	}
	return -1;
}

/* Each subprogram's name from the loaded program's BTF function info. */
static int s61_names(int fd, struct s61_prog *p, char *why, size_t len)
{
	struct bpf_func_info fi[S61_MAX_SUB];
	struct bpf_prog_info info = {};
	__u32 ilen = sizeof(info), n;
	const struct btf_type *t;
	struct btf *btf;
	int i;

	if (bpf_obj_get_info_by_fd(fd, &info, &ilen))
		return snprintf(why, len, "%s: prog info: %s", p->name,
				strerror(errno));
	n = info.nr_func_info;
	if (n != (__u32)p->nsub)
		return snprintf(why, len,
				"%s: %u functions in its BTF, %d subprograms",
				p->name, n, p->nsub);
	memset(&info, 0, sizeof(info));
	info.nr_func_info = n;
	info.func_info_rec_size = sizeof(fi[0]);
	info.func_info = (__u64)(unsigned long)fi;
	ilen = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen))
		return snprintf(why, len, "%s: func info: %s", p->name,
				strerror(errno));
	btf = btf__load_from_kernel_by_id(info.btf_id);
	if (!btf)
		return snprintf(why, len, "%s: BTF %u: %s", p->name,
				info.btf_id, strerror(errno));
	for (i = 0; i < p->nsub; i++) {
		t = btf__type_by_id(btf, fi[i].type_id);
		snprintf(p->sub[i].name, sizeof(p->sub[i].name), "%s",
			 t ? btf__name_by_offset(btf, t->name_off) : "?");
	}
	btf__free(btf);
	return 0;
}

static int s61_cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

static int s61_sub_of(const struct s61_prog *p, __u32 insn)
{
	int i;

	for (i = p->nsub - 1; i >= 0; i--)
		if (p->sub[i].start <= insn)
			return i;
	return 0;
}

static bool s61_is_call(const struct bpf_insn *in)
{
	return in->code == (BPF_JMP | BPF_CALL) &&
	       in->src_reg == BPF_PSEUDO_CALL;
}

static bool s61_is_func_ref(const struct bpf_insn *in)
{
	return in->code == (BPF_LD | BPF_IMM | BPF_DW) &&
	       in->src_reg == BPF_PSEUDO_FUNC;
}

/*
 * @prog's subprograms as the kernel finds them (the entry and every
 * target of a call or callback reference: add_subprog()), their calls,
 * their depths from @log, and their names when it loaded.  0, or
 * non-zero with @why said.
 */
static int s61_analyze(struct bpf_program *prog, const char *log,
		       struct s61_prog *p, char *why, size_t len)
{
	const struct bpf_insn *in = bpf_program__insns(prog);
	size_t i, cnt = bpf_program__insn_cnt(prog);
	__u32 start[S61_MAX_SUB];
	int depth[S61_MAX_SUB], n = 1, j, nd;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", bpf_program__name(prog));
	if (!in || !cnt)
		return snprintf(why, len, "%s: no instructions", p->name);
	start[0] = 0;
	for (i = 0; i < cnt; i++) {
		if (!s61_is_call(&in[i]) && !s61_is_func_ref(&in[i]))
			continue;
		if (n == S61_MAX_SUB)
			return snprintf(why, len, "%s: over %d subprograms",
					p->name, S61_MAX_SUB);
		start[n++] = i + in[i].imm + 1;
	}
	qsort(start, n, sizeof(start[0]), s61_cmp_u32);
	for (j = 0; j < n; j++)
		if (!j || start[j] != start[j - 1])
			p->sub[p->nsub++].start = start[j];
	for (i = 0; i < cnt; i++)
		if (s61_is_call(&in[i]) || s61_is_func_ref(&in[i]))
			p->calls[s61_sub_of(p, i)]
				[s61_sub_of(p, i + in[i].imm + 1)] = true;
	nd = s61_log_depths(log, depth, S61_MAX_SUB);
	if (nd != p->nsub)
		return snprintf(why, len,
				"%s: the verifier lists %d depths, the "
				"instructions have %d subprograms; log: %s",
				p->name, nd, p->nsub, log);
	for (j = 0; j < p->nsub; j++) {
		p->sub[j].depth = depth[j];
		if (j)
			snprintf(p->sub[j].name, sizeof(p->sub[j].name),
				 "subprog@%u", p->sub[j].start);
		else
			snprintf(p->sub[j].name, sizeof(p->sub[j].name), "%s",
				 p->name);
	}
	if (bpf_program__fd(prog) >= 0)
		return s61_names(bpf_program__fd(prog), p, why, len);
	return 0;
}

/* ---- loading -------------------------------------------------------------- */

/* what one load of an object gave */
struct s61_load {
	int err;
	int n;
	struct s61_prog prog[8];
	char log[8][S61_LOG_SIZE];
	char why[8][2048]; /* an analysis that failed, or "" */
};

static struct s61_load *s61_ld;

static int s61_silent(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	return 0;
}

/*
 * Load @obj, just the program @only when not NULL, with the verifier's
 * statistics logged, and analyze each program loaded or refused.
 * Skips the test without privilege.
 */
static struct s61_load *s61_load(struct bpf_object *obj, const char *only)
{
	struct s61_load *ld = s61_ld;
	struct bpf_program *prog;
	struct bpf_map *map;
	int i = 0;

	memset(ld, 0, sizeof(*ld));
	bpf_object__for_each_map(map, obj) bpf_map__set_pin_path(map, NULL);
	bpf_object__for_each_program(prog, obj)
	{
		if (only && strcmp(bpf_program__name(prog), only))
			bpf_program__set_autoload(prog, false);
		if (!bpf_program__autoload(prog))
			continue;
		assert_true(i < 8);
		bpf_program__set_log_level(prog, 4);
		bpf_program__set_log_buf(prog, ld->log[i++], S61_LOG_SIZE);
	}
	ld->err = bpf_object__load(obj);
	if (ld->err == -EPERM) {
		print_message("skipped: loading BPF programs needs CAP_BPF\n");
		skip();
	}
	bpf_object__for_each_program(prog, obj)
	{
		if (!bpf_program__autoload(prog))
			continue;
		s61_analyze(prog, ld->log[ld->n], &ld->prog[ld->n],
			    ld->why[ld->n], sizeof(ld->why[0]));
		ld->n++;
	}
	return ld;
}

/* The kernel's own refusal in @log: 0 with its figures, or -1. */
static int s61_refusal(const char *log, int *calls, int *bytes, int *frames)
{
	const char *s;

	*calls = *bytes = *frames = 0;
	s = strstr(log, "combined stack size of ");
	if (s && sscanf(s, "combined stack size of %d calls is %d", calls,
			bytes) == 2)
		return 0;
	s = strstr(log, "the call stack of ");
	if (s && sscanf(s, "the call stack of %d frames", frames) == 1)
		return 0;
	return -1;
}

static const char *s61_names_of(const struct s61_prog *p,
				const struct s61_chain *ch)
{
	static char buf[512];
	size_t off = 0;
	int i;

	buf[0] = 0;
	for (i = 0; i < ch->n && off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s%s",
				i ? " " : "", p->sub[ch->sub[i]].name);
	return buf;
}

/* Load one program of the test object; its analysis, which must work. */
static struct s61_load *s61_test_prog(struct stack61 **skel, const char *name)
{
	struct s61_load *ld;

	*skel = stack61__open();
	assert_non_null(*skel);
	ld = s61_load((*skel)->obj, name);
	assert_int_equal(ld->n, 1);
	if (ld->why[0][0])
		fail_msg("%s", ld->why[0]);
	return ld;
}

/* ---- tests ---------------------------------------------------------------- */

/* Every program of the datapath object within 6.1's limits. */
static void test_datapath_within_61(void **state)
{
	struct tailplane *skel = tailplane__open();
	char why[2048], line[2048];
	struct s61_chain ch;
	struct s61_load *ld;
	bool ok = true, fits;
	int i, j;
	size_t off;

	assert_non_null(skel);
	ld = s61_load(skel->obj, NULL);
	assert_true(ld->n >= 4);
	for (i = 0; i < ld->n; i++) {
		const struct s61_prog *p = &ld->prog[i];

		if (ld->why[i][0]) {
			print_message("stack61: %s\n", ld->why[i]);
			ok = false;
			continue;
		}
		off = 0;
		for (j = 0; j < p->nsub && off < sizeof(line); j++)
			off += snprintf(line + off, sizeof(line) - off,
					" %s=%d", p->sub[j].name,
					p->sub[j].depth);
		print_message("stack61: %s: verifier depths:%s\n", p->name,
			      line);
		fits = s61_check(p, &ch, why, sizeof(why));
		ok = ok && fits;
		print_message("stack61: %s%s\n", fits ? "" : "REFUSED: ", why);
	}
	if (ld->err) {
		for (i = 0; i < ld->n; i++)
			print_message("stack61: %s's log: %s\n",
				      ld->prog[i].name, ld->log[i]);
		fail_msg("the kernel refused the object: %s",
			 strerror(-ld->err));
	}
	tailplane__destroy(skel);
	if (!ok)
		fail_msg("a program's calls exceed Linux 6.1's stack limit "
			 "(the chains above)");
}

/*
 * s61_bytes: four global functions of 112 bytes behind the entry: 544
 * bytes on 6.1 (32 + 4 * 128), refused by the check; by the kernel too
 * on 6.1, with the same figure.
 */
static void test_global_chain_refused(void **state)
{
	int calls, bytes, frames;
	struct stack61 *skel;
	struct s61_chain ch;
	struct s61_load *ld;
	char why[2048];

	ld = s61_test_prog(&skel, "s61_bytes");
	assert_false(s61_check(&ld->prog[0], &ch, why, sizeof(why)));
	print_message("stack61: refused as expected: %s\n", why);
	assert_int_equal(ch.bytes, 544);
	assert_int_equal(ch.n, 5);
	assert_non_null(strstr(why, "544 bytes, 5 frames"));
	if (ld->err) {
		/* a kernel that counts as 6.1 does: its figures are ours */
		assert_int_equal(
			s61_refusal(ld->log[0], &calls, &bytes, &frames), 0);
		print_message("stack61: this kernel refused it too: %d calls, "
			      "%d bytes\n",
			      calls, bytes);
		assert_int_equal(bytes, ch.bytes);
		assert_int_equal(calls, ch.n);
	} else {
		assert_string_equal(s61_names_of(&ld->prog[0], &ch),
				    "s61_bytes s61_g1 s61_g2 s61_g3 s61_g4");
	}
	stack61__destroy(skel);
}

/* A program of the test object that the check must take: its chain. */
static const struct s61_prog *
s61_test_fits(struct stack61 **skel, const char *name, struct s61_chain *ch)
{
	struct s61_load *ld = s61_test_prog(skel, name);
	char why[2048];

	assert_int_equal(ld->err, 0);
	if (!s61_check(&ld->prog[0], ch, why, sizeof(why)))
		fail_msg("%s refused: %s", name, why);
	print_message("stack61: %s\n", why);
	return &ld->prog[0];
}

/* s61_frames: 8 frames of global functions, the most 6.1 takes. */
static void test_eight_frames_fit(void **state)
{
	const struct s61_prog *p;
	struct stack61 *skel;
	struct s61_chain ch;

	p = s61_test_fits(&skel, "s61_frames", &ch);
	assert_int_equal(ch.n, 8);
	assert_int_equal(ch.bytes, 8 * 32);
	assert_string_equal(s61_names_of(p, &ch),
			    "s61_frames s61_f1 s61_f2 s61_f3 s61_f4 s61_f5 "
			    "s61_f6 s61_f7");
	stack61__destroy(skel);
}

/*
 * s61_fits: the deepest frame is a bpf_loop() callback (a BPF_PSEUDO_FUNC
 * reference, no call instruction) of a static subprogram: counted.
 */
static void test_callback_counted(void **state)
{
	const struct s61_prog *p;
	struct stack61 *skel;
	struct s61_chain ch;

	p = s61_test_fits(&skel, "s61_fits", &ch);
	assert_string_equal(s61_names_of(p, &ch), "s61_fits s61_static s61_cb");
	/* 32, the static subprogram's 8 (32 with bpf_loop()'s inlining), 112 */
	assert_int_equal(ch.bytes, 32 + 32 + 128);
	stack61__destroy(skel);
}

/*
 * Nine frames: the host's kernel refuses them too (it counts frames as
 * 6.1 does), so no object can carry them here; the check on a chain made
 * by hand, small frames, a branch of fewer frames but more bytes beside.
 */
static void test_nine_frames_refused(void **state)
{
	static struct s61_prog p;
	struct s61_chain ch;
	char why[2048];
	int i;

	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "nine");
	p.nsub = 10;
	for (i = 0; i < p.nsub; i++)
		snprintf(p.sub[i].name, sizeof(p.sub[i].name), "f%d", i);
	for (i = 0; i < 8; i++)
		p.calls[i][i + 1] = true;
	p.calls[0][9] = true;
	p.sub[9].depth = 300;
	assert_false(s61_check(&p, &ch, why, sizeof(why)));
	print_message("stack61: refused as expected: %s\n", why);
	assert_non_null(strstr(why, "288 bytes, 9 frames: f0 32 -> f1 32"));
	assert_non_null(strstr(why, "takes 8 frames"));
	/* the deepest by bytes is the other branch: 32 + 320 */
	assert_int_equal(ch.bytes, 352);
	assert_int_equal(ch.n, 2);
	p.calls[7][8] = false;
	assert_true(s61_check(&p, &ch, why, sizeof(why)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datapath_within_61),
		cmocka_unit_test(test_global_chain_refused),
		cmocka_unit_test(test_eight_frames_fit),
		cmocka_unit_test(test_callback_counted),
		cmocka_unit_test(test_nine_frames_refused),
	};
	int ret;

	s61_ld = calloc(1, sizeof(*s61_ld));
	if (!s61_ld)
		return 1;
	libbpf_set_print(s61_silent);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	free(s61_ld);
	return ret;
}
