// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * spawntime: the wall time of one command, from its spawn to its exit, in
 * ms with three decimals on stdout; the command's own output goes to
 * /dev/null.
 *
 *   spawntime [-n NETNS] CMD [ARG...]
 *
 * bench/kubeproxy.sh times "add one service" with it for every contender
 * alike.  Timed from a shell, a command of a millisecond carries the
 * shell's fork and the date reads around it (about 1.1 ms here), and one
 * run inside a namespace carries nsenter's exec: here the clock starts at
 * posix_spawn() of CMD itself and stops when waitpid() returns.  -n enters
 * the network namespace /run/netns/NETNS first (the child inherits it),
 * outside the timed part.
 *
 * Exit status: CMD's; 2 for bad usage, 127 when CMD cannot be spawned,
 * 128 + N when it was killed by signal N.  Nothing is printed unless CMD
 * exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int enter_netns(const char *name)
{
	char path[256];
	int fd, err = 0;

	if (snprintf(path, sizeof(path), "/run/netns/%s", name) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "spawntime: netns name too long: %s\n", name);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		fprintf(stderr, "spawntime: cannot enter %s: %s\n", path,
			strerror(errno));
		err = -1;
	}
	if (fd >= 0)
		close(fd);
	return err;
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	int argi = 1, status, err;
	double t0, t1;
	pid_t pid;

	if (argc > 2 && !strcmp(argv[1], "-n")) {
		if (enter_netns(argv[2]))
			return 2;
		argi = 3;
	}
	if (argi >= argc) {
		fprintf(stderr, "usage: spawntime [-n NETNS] CMD [ARG...]\n");
		return 2;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
					 O_WRONLY, 0);
	t0 = now_ms();
	err = posix_spawnp(&pid, argv[argi], &fa, NULL, argv + argi, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		fprintf(stderr, "spawntime: %s: %s\n", argv[argi],
			strerror(err));
		return 127;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "spawntime: waitpid: %s\n",
				strerror(errno));
			return 127;
		}
	t1 = now_ms();
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	if (WEXITSTATUS(status))
		return WEXITSTATUS(status);
	printf("%.3f\n", t1 - t0);
	return 0;
}
