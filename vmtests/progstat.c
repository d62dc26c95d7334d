// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tp-progstat: the verifier's processed instruction count of every loaded
 * program that uses a given map (bpf_prog_info.verified_insns, Linux >=
 * 5.16; bookworm's bpftool 7.1 does not print it).
 *
 *   tp-progstat PINNED-MAP
 *
 * prints "verified NAME INSNS XLATED-BYTES" per program, in id order.
 * Exit status 0 when at least one program was found.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

static int map_id_of(const char *pin, __u32 *id)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd, err;

	fd = bpf_obj_get(pin);
	if (fd < 0)
		return -errno;
	err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
	close(fd);
	*id = info.id;
	return err;
}

/* Whether program @fd uses map @map_id; its info in @info. */
static int prog_uses(int fd, __u32 map_id, struct bpf_prog_info *info)
{
	__u32 ids[64], len = sizeof(*info), i;

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		return 0;
	if (info->nr_map_ids > sizeof(ids) / sizeof(ids[0]))
		info->nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	{
		struct bpf_prog_info again = {
			.nr_map_ids = info->nr_map_ids,
			.map_ids = (__u64)(unsigned long)ids,
		};

		len = sizeof(again);
		if (bpf_obj_get_info_by_fd(fd, &again, &len))
			return 0;
		for (i = 0; i < again.nr_map_ids; i++)
			if (ids[i] == map_id)
				return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_prog_info info;
	__u32 map_id = 0, id = 0;
	int err, fd, found = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: tp-progstat PINNED-MAP\n");
		return 2;
	}
	err = map_id_of(argv[1], &map_id);
	if (err) {
		fprintf(stderr, "tp-progstat: %s: %s\n", argv[1],
			strerror(-err));
		return 1;
	}
	while (!bpf_prog_get_next_id(id, &id)) {
		fd = bpf_prog_get_fd_by_id(id);
		if (fd < 0)
			continue; /* gone meanwhile */
		if (prog_uses(fd, map_id, &info)) {
			printf("verified %s %u %u\n", info.name,
			       info.verified_insns, info.xlated_prog_len);
			found++;
		}
		close(fd);
	}
	if (!found)
		fprintf(stderr, "tp-progstat: no program uses %s\n", argv[1]);
	return found ? 0 : 1;
}
