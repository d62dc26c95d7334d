// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * jitlines: where each source line of a loaded BPF program landed in its
 * JIT image, for bench/profile.sh to attribute perf samples to lines
 * (this machine's perf cannot disassemble BPF programs: no libbfd).
 *
 * Usage: jitlines ID | jitlines -n NAME   (NAME: the newest loaded
 * program of that name, as the kernel holds it: 15 characters at most)
 *
 * Prints, from bpf_obj_get_info_by_fd's jited_ksyms, jited_func_lens,
 * func_info, jited_line_info and line_info and the program's BTF:
 *   P id name
 *   F jitaddr len function        one per function (main and subprograms)
 *   L jitaddr file:line source    one per line record
 * Needs root (CAP_SYS_ADMIN and kernel addresses unhidden).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>

static int fail(const char *what, int id)
{
	fprintf(stderr, "jitlines: program %d: %s\n", id, what);
	return 1;
}

/* The id of the newest (highest id) loaded program named @name, or -1. */
static int newest_named(const char *name)
{
	__u32 id = 0, best = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    !strncmp(info.name, name, sizeof(info.name) - 1))
			best = id;
		close(fd);
	}
	return best ? (int)best : -1;
}

/* The name of BTF function type @type_id, "?" when it has none. */
static const char *func_name(const struct btf *btf, __u32 type_id)
{
	const struct btf_type *t = btf__type_by_id(btf, type_id);
	const char *s = t ? btf__name_by_offset(btf, t->name_off) : NULL;

	return s && *s ? s : "?";
}

static int dump(int id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), nl, njl, nk, nf, i;
	struct bpf_line_info *li;
	struct bpf_func_info *fi;
	__u64 *jl, *ks;
	__u32 *fl;
	struct btf *btf;
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return fail(errno == ENOENT ? "no such program"
					    : strerror(errno),
			    id);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return fail(strerror(errno), id);
	if (!info.btf_id)
		return fail("no BTF: load it with BTF", id);
	if (!info.nr_line_info || !info.nr_jited_line_info)
		return fail("no line info: load it with BTF (clang -g)", id);
	nl = info.nr_line_info;
	njl = info.nr_jited_line_info;
	nk = info.nr_jited_ksyms;
	nf = info.nr_func_info;
	li = calloc(nl, sizeof(*li));
	jl = calloc(njl, sizeof(*jl));
	ks = calloc(nk, sizeof(*ks));
	fl = calloc(nk, sizeof(*fl));
	fi = calloc(nf, sizeof(*fi));
	if (!li || !jl || !ks || !fl || !fi)
		return fail("out of memory", id);
	printf("P %d %s\n", id, info.name);
	memset(&info, 0, sizeof(info));
	info.nr_line_info = nl;
	info.line_info_rec_size = sizeof(*li);
	info.line_info = (unsigned long)li;
	info.nr_jited_line_info = njl;
	info.jited_line_info_rec_size = sizeof(*jl);
	info.jited_line_info = (unsigned long)jl;
	info.nr_jited_ksyms = nk;
	info.jited_ksyms = (unsigned long)ks;
	info.nr_jited_func_lens = nk;
	info.jited_func_lens = (unsigned long)fl;
	info.nr_func_info = nf;
	info.func_info_rec_size = sizeof(*fi);
	info.func_info = (unsigned long)fi;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return fail(strerror(errno), id);
	if (nk && !ks[0])
		return fail("kernel addresses hidden: run as root", id);
	btf = btf__load_from_kernel_by_id(info.btf_id);
	if (!btf)
		return fail("cannot read its BTF", id);
	/* func_info and jited_ksyms are both in subprogram order */
	for (i = 0; i < nk; i++)
		printf("F %llx %u %s\n", (unsigned long long)ks[i], fl[i],
		       i < nf ? func_name(btf, fi[i].type_id) : "?");
	for (i = 0; i < nl && i < njl; i++) {
		const char *f = btf__name_by_offset(btf, li[i].file_name_off);
		const char *l = btf__name_by_offset(btf, li[i].line_off);
		const char *b = f ? strrchr(f, '/') : NULL;

		printf("L %llx %s:%u %s\n", (unsigned long long)jl[i],
		       b ? b + 1 : (f ? f : "?"),
		       BPF_LINE_INFO_LINE_NUM(li[i].line_col), l ? l : "");
	}
	btf__free(btf);
	free(li);
	free(jl);
	free(ks);
	free(fl);
	free(fi);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	int id;

	if (argc == 3 && !strcmp(argv[1], "-n")) {
		id = newest_named(argv[2]);
		if (id < 0) {
			fprintf(stderr,
				"jitlines: no loaded program named %s\n",
				argv[2]);
			return 1;
		}
	} else if (argc == 2 && argv[1][0] >= '0' && argv[1][0] <= '9') {
		id = atoi(argv[1]);
	} else {
		fprintf(stderr, "usage: jitlines ID | jitlines -n NAME\n");
		return 2;
	}
	return dump(id);
}
