// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tailplaned and tpctl against hostile or wrong files: each test is a
 * fault a review reproduced, named after it, and failed on the code
 * before its fix.
 *
 * - the metrics textfile, written by root into a directory another user
 *   owns (node_exporter's), must not follow links planted there;
 * - a pin_root that is not on bpffs is refused before anything is made or
 *   changed, and a directory the loader did not make keeps its mode;
 * - the writers' lock of a pin root gives up after a deadline, naming the
 *   process that holds it;
 * - one tailplaned per pin root, however the pin root is spelt, and never
 *   one pin root keeping another's loader out;
 *
 * Everything is made under a fresh directory of /tmp (and, for pins, of
 * /sys/fs/bpf) and removed in the teardown, whether the test passed or
 * not.  Tests that need root skip without it.
 */
#include <dirent.h>
#include <libgen.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "datapath.h"
#include "fixture.h"
#include "metrics.h"
#include "pins.h"

#define NOBODY 65534 /* a user that is not root */
#define BPFFS  "/sys/fs/bpf"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

/**
 * struct tf - a test's scratch directories.
 * @dir: /tmp/tp-files-XXXXXX, removed with everything in it.
 * @pins: /sys/fs/bpf/tp-files-PID, removed likewise (bpffs takes no dots).
 */
struct tf {
	char dir[64];
	char pins[64];
};

static int tf_setup(void **state)
{
	struct tf *t = calloc(1, sizeof(*t));

	if (!t || fixture_tmpdir(t->dir, sizeof(t->dir), "tp-files")) {
		free(t);
		return -1;
	}
	snprintf(t->pins, sizeof(t->pins), BPFFS "/tp-files-%d", getpid());
	*state = t;
	return 0;
}

/* rm -r @path without following links. */
static void rm_tree(const char *path)
{
	struct dirent *de;
	char sub[PATH_MAX];
	struct stat st;
	DIR *d;

	if (lstat(path, &st))
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rm_tree(sub);
	}
	if (d)
		closedir(d);
	rmdir(path);
}

/*
 * The SNAT port records of the loaders this test ran (tailplaned keeps
 * them next to its pid file for --detach --purge; the loaders ran in
 * network namespaces of their own, gone with them).
 */
static void tf_remove_snat_records(void)
{
	char mine[32], path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(TP_LOADER_RUN_DIR);
	size_t n;

	snprintf(mine, sizeof(mine), "tp-files-%d", getpid());
	while (d && (de = readdir(d))) {
		n = strlen(de->d_name);
		if (!strstr(de->d_name, mine) || n < 11 ||
		    strcmp(de->d_name + n - 11, ".snat-ports"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", TP_LOADER_RUN_DIR,
			 de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

static int tf_teardown(void **state)
{
	struct tf *t = *state;

	rm_tree(t->dir);
	rm_tree(t->pins);
	tf_remove_snat_records();
	free(t);
	return 0;
}

#define REQUIRE_ROOT()                                          \
	do {                                                    \
		if (geteuid()) {                                \
			print_message("needs root: skipped\n"); \
			skip();                                 \
		}                                               \
	} while (0)

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* The first @size - 1 bytes of @path, "" when it cannot be read. */
static const char *read_text(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* Whether /sys/fs/bpf is bpffs, for the tests that need it. */
static bool bpffs_ready(void)
{
	struct statfs fs;

	return !statfs(BPFFS, &fs) && fs.f_type == BPF_FS_MAGIC;
}

/**
 * struct capture - stderr redirected to a file while a call runs.
 * @saved: the original stderr.
 * @fd:    the file.
 * @text:  what was written, after capture_end().
 */
struct capture {
	int saved;
	int fd;
	char text[4096];
};

static void capture_begin(struct capture *c)
{
	char path[] = "/tmp/tp-files-err-XXXXXX";

	fflush(stderr);
	c->fd = mkstemp(path);
	assert_true(c->fd >= 0);
	unlink(path);
	c->saved = dup(2);
	assert_true(c->saved >= 0);
	assert_int_equal(dup2(c->fd, 2), 2);
}

static const char *capture_end(struct capture *c)
{
	ssize_t n;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	n = pread(c->fd, c->text, sizeof(c->text) - 1, 0);
	c->text[n > 0 ? n : 0] = '\0';
	close(c->fd);
	return c->text;
}

/* ---- metrics textfile ----------------------------------------------------- */

static int count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* A link at @dir/@name to @target, owned by nobody (as a planted one is). */
static void plant(const char *dir, const char *name, const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(lchown(path, NOBODY, NOBODY), 0);
}

/*
 * node_exporter's textfile directory is often owned by its own user.  That
 * user can plant links at every name the writer predicts (the temporary
 * PATH.tmp.PID and PATH itself); root writing the metrics must follow
 * none of them: the files they point at stay as they were, or absent, and
 * PATH ends up a regular 0644 file with the metrics.
 */
static void test_metrics_planted_links(void **state)
{
	struct tf *t = *state;
	struct tp_maps m;
	struct tpd_source_state src[TPD_SRC_MAX] = {};
	struct tpd_gc_result gc = {};
	char textdir[PATH_MAX], victim[PATH_MAX], absent[PATH_MAX];
	char path[PATH_MAX], name[64], buf[4096];
	struct stat st;
	int pid;

	REQUIRE_ROOT();
	memset(&m, 0xff, sizeof(m)); /* no maps: every fd -1, families empty */
	snprintf(textdir, sizeof(textdir), "%s/textfile", t->dir);
	assert_int_equal(mkdir(textdir, 0755), 0);
	assert_int_equal(chown(textdir, NOBODY, NOBODY), 0);
	snprintf(victim, sizeof(victim), "%s/shadow", t->dir);
	write_file(victim, "root:secret\n", 0600);
	snprintf(absent, sizeof(absent), "%s/created-by-root", t->dir);
	snprintf(path, sizeof(path), "%s/tailplane.prom", textdir);

	snprintf(name, sizeof(name), "tailplane.prom.tmp.%d", getpid());
	plant(textdir, name, victim);
	for (pid = 1; pid < 64; pid++) { /* and whatever else is guessable */
		snprintf(name, sizeof(name), "tailplane.prom.tmp.%d",
			 getpid() + pid);
		plant(textdir, name, absent);
	}
	plant(textdir, "tailplane.prom.tmp", absent);
	plant(textdir, "tailplane.prom", victim);

	assert_int_equal(tpd_metrics_write(path, &m, &gc, src), 0);
	assert_string_equal(read_text(victim, buf, sizeof(buf)),
			    "root:secret\n");
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, 0);
	assert_int_not_equal(access(absent, F_OK), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_non_null(strstr(read_text(path, buf, sizeof(buf)),
			       "# TYPE tailplane_sync_total counter\n"));

	/* a second write replaces the first; still nothing followed */
	assert_int_equal(tpd_metrics_write(path, &m, &gc, src), 0);
	assert_string_equal(read_text(victim, buf, sizeof(buf)),
			    "root:secret\n");
	assert_int_not_equal(access(absent, F_OK), 0);
	assert_int_equal(count_entries(textdir),
			 1 + 63 + 1 + 1); /* no temporaries left */
}

/* ---- pin root ---------------------------------------------------------------- */

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* tpd_bpffs_prepare(@pin_root) fails, saying why and naming @pin_root. */
static void expect_prepare_refused(const char *pin_root)
{
	struct capture c;
	const char *err;
	int ret;

	capture_begin(&c);
	ret = tpd_bpffs_prepare(pin_root);
	err = capture_end(&c);
	if (ret != -ENOTSUP)
		fail_msg("%s: %d (%s), want -ENOTSUP", pin_root, ret, err);
	if (!strstr(err, pin_root) || !strstr(err, "not on a BPF filesystem"))
		fail_msg("%s: error '%s' does not say that it is not on bpffs",
			 pin_root, err);
}

/*
 * A pin_root given by mistake under /tmp (or any other filesystem) was
 * created there, or when it existed chmod-ed to 0700 (/tmp itself became
 * 0700), before the bpffs check refused it.  Now nothing is made and no
 * mode changes: the check comes first.
 */
static void test_pin_root_not_bpffs(void **state)
{
	struct tf *t = *state;
	char shared[PATH_MAX], pins[PATH_MAX];

	REQUIRE_ROOT();
	/* an existing directory, as /tmp is: refused, mode kept */
	snprintf(shared, sizeof(shared), "%s/shared", t->dir);
	assert_int_equal(mkdir(shared, 0755), 0);
	assert_int_equal(chmod(shared, 01777), 0);
	expect_prepare_refused(shared);
	assert_int_equal(mode_of(shared), 01777);
	snprintf(pins, sizeof(pins), "%s/", shared); /* spelt with a slash */
	expect_prepare_refused(pins);
	assert_int_equal(mode_of(shared), 01777);

	/* a new directory on a filesystem that is not bpffs: not made */
	snprintf(pins, sizeof(pins), "%s/tailplane", shared);
	expect_prepare_refused(pins);
	assert_int_not_equal(access(pins, F_OK), 0);
	assert_int_equal(mode_of(shared), 01777);
}

/*
 * On bpffs: a pin root the loader makes is 0700 whatever the umask; one
 * an administrator made keeps the mode they gave it.
 */
static void test_pin_root_modes(void **state)
{
	struct tf *t = *state;
	char links[PATH_MAX];
	mode_t old;

	REQUIRE_ROOT();
	if (!bpffs_ready())
		skip();
	snprintf(links, sizeof(links), "%s/links", t->pins);
	old = umask(0277);
	assert_int_equal(tpd_bpffs_prepare(t->pins), 0);
	umask(old);
	assert_int_equal(mode_of(t->pins), 0700);
	assert_int_equal(mode_of(links), 0700);

	assert_int_equal(chmod(t->pins, 0750), 0);
	assert_int_equal(chmod(links, 0755), 0);
	assert_int_equal(tpd_bpffs_prepare(t->pins), 0);
	assert_int_equal(mode_of(t->pins), 0750);
	assert_int_equal(mode_of(links), 0755);
}

/* ---- the writers' lock ------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A child that holds @dir's writers' lock until killed; its pid.  It
 * takes the lock the way tpctl does and tells us when it has it.
 */
static pid_t hold_lock(const char *dir)
{
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int fd;

		prctl(PR_SET_PDEATHSIG,
		      SIGKILL); /* never outlive a killed test */
		fd = tp_pins_lock(dir);

		c = fd >= 0 ? 'y' : 'n';
		(void)!write(ready[1], &c, 1);
		for (;;)
			pause();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	assert_int_equal(c, 'y');
	return pid;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * tpctl and the loader waited on the writers' lock with no deadline (and
 * the loader acted on SIGTERM only once it was free).  Now a second
 * locker gives up within its deadline (TAILPLANE_LOCK_TIMEOUT seconds, or
 * the default) with an error naming the holder's pid; the lock is still
 * taken at once when it is free.  The alarm turns a hang into a failure.
 */
static void test_pins_lock_deadline(void **state)
{
	struct tf *t = *state;
	char why[512], pid_s[32];
	double t0, took;
	pid_t holder;
	int fd;

	holder = hold_lock(t->dir);
	setenv("TAILPLANE_LOCK_TIMEOUT", "0.3", 1);
	alarm(10);
	t0 = now_s();
	fd = tp_pins_lock(t->dir);
	took = now_s() - t0;
	alarm(0);
	unsetenv("TAILPLANE_LOCK_TIMEOUT");
	if (fd >= 0) {
		stop_child(holder);
		fail_msg("took a lock another process holds");
	}
	assert_int_equal(fd, -ETIMEDOUT);
	/* the upper bound catches a lock without deadline, not a slow machine */
	if (took < 0.25 || took > 10.0) {
		stop_child(holder);
		fail_msg("gave up after %.2f s, want 0.3 s", took);
	}
	tp_pins_strerror(t->dir, fd, why, sizeof(why));
	snprintf(pid_s, sizeof(pid_s), "pid %d", (int)holder);
	if (!strstr(why, pid_s) || !strstr(why, t->dir)) {
		stop_child(holder);
		fail_msg(
			"error '%s' names neither the holder (%s) nor the pin root",
			why, pid_s);
	}

	/* an explicit deadline, and the default one */
	t0 = now_s();
	assert_int_equal(tp_pins_lock_timeout(t->dir, 100), -ETIMEDOUT);
	took = now_s() - t0;
	assert_true(took >= 0.09 && took < 10.0);
	assert_int_equal(tp_pins_lock_holder(t->dir), holder);
	t0 = now_s();
	alarm(30);
	assert_int_equal(tp_pins_lock(t->dir), -ETIMEDOUT);
	alarm(0);
	took = now_s() - t0;
	assert_true(took >= TP_PINS_LOCK_TIMEOUT_MS / 1000.0 - 0.1 &&
		    took < TP_PINS_LOCK_TIMEOUT_MS / 1000.0 + 10);
	stop_child(holder);

	/* free: taken at once */
	assert_int_equal(tp_pins_lock_holder(t->dir), 0);
	t0 = now_s();
	fd = tp_pins_lock(t->dir);
	assert_true(fd >= 0);
	assert_true(now_s() - t0 < 0.5);
	tp_pins_unlock(fd);
}

/* ---- one loader per pin root -------------------------------------------------- */

/* build/tailplaned, next to build/tests/ where this program is. */
static const char *loader_path(void)
{
	static char path[PATH_MAX];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	assert_true(n > 0);
	self[n] = '\0';
	snprintf(path, sizeof(path), "%s/../tailplaned", dirname(self));
	return path;
}

/* A configuration for @pin_root with an interface that does not exist. */
static void write_config(const char *path, const char *pin_root)
{
	char text[PATH_MAX + 256];

	snprintf(text, sizeof(text),
		 "{\"pin_root\":\"%s\",\"interfaces\":[{\"name\":\"tpfiles0\","
		 "\"kind\":\"tailnet\",\"zone\":1}]}",
		 pin_root);
	write_file(path, text, 0644);
}

/*
 * Start tailplaned with @config (and @extra, e.g. "--once", or NULL) in a
 * network namespace of its own, so it attaches to nothing and sees no
 * interface of ours; its log goes to @log.  Its pid.
 */
static pid_t start_loader(const char *config, const char *extra,
			  const char *log)
{
	const char *argv[] = { loader_path(), "--config", config, extra, NULL };
	pid_t pid = fork();
	int fd;

	assert_true(pid >= 0);
	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || dup2(fd, 2) < 0 || unshare(CLONE_NEWNET))
		_exit(127);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/* Wait up to @secs for @pid to exit; its exit status, or -1 if it runs. */
static int wait_exit(pid_t pid, double secs)
{
	double end = now_s() + secs;
	int st;

	while (now_s() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		usleep(20000);
	}
	return -1;
}

/* Wait until @log has @text (the loader got that far); false at @secs. */
static bool wait_log(const char *log, const char *text, double secs)
{
	double end = now_s() + secs;
	char buf[8192];

	while (now_s() < end) {
		if (strstr(read_text(log, buf, sizeof(buf)), text))
			return true;
		usleep(50000);
	}
	return false;
}

static void stop_loader(pid_t pid)
{
	kill(pid, SIGTERM);
	if (wait_exit(pid, 10) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/*
 * A loader for @cfg_a running, a second one for @cfg_b with --once beside
 * it (both logging to @log, read into @buf after): the second's exit code,
 * -1 when it did not exit in 30 s.
 */
static int beside_loader(const char *cfg_a, const char *cfg_b, const char *log,
			 char *buf, size_t size)
{
	pid_t a, b;
	int rc;

	a = start_loader(cfg_a, NULL, log);
	if (!wait_log(log, "\"running\"", 30)) {
		stop_loader(a);
		fail_msg("the first loader did not start: %s",
			 read_text(log, buf, size));
	}
	b = start_loader(cfg_b, "--once", log);
	rc = wait_exit(b, 30);
	stop_loader(a);
	if (rc < 0)
		stop_loader(b);
	read_text(log, buf, size);
	return rc;
}

/*
 * The instance lock was a pid file named after the pin_root string, '/'
 * made '_': "X" and "X/" ran two loaders on the same pins, while "a/b"
 * and "a_b" kept each other out.  A second loader for the same pin root
 * under another spelling must refuse to start; loaders of two pin roots
 * whose names collided must both run.
 */
static void test_instance_lock_spellings(void **state)
{
	struct tf *t = *state;
	char cfg_a[PATH_MAX], cfg_b[PATH_MAX], log[PATH_MAX], root[PATH_MAX];
	char buf[8192];
	int rc;

	REQUIRE_ROOT();
	if (!bpffs_ready() || access(loader_path(), X_OK))
		skip();
	snprintf(cfg_a, sizeof(cfg_a), "%s/a.json", t->dir);
	snprintf(cfg_b, sizeof(cfg_b), "%s/b.json", t->dir);
	snprintf(log, sizeof(log), "%s/loader.log", t->dir);
	assert_int_equal(mkdir(t->pins, 0700), 0);

	/* one pin root, spelt X and X/ */
	snprintf(root, sizeof(root), "%s/x", t->pins);
	write_config(cfg_a, root);
	snprintf(root, sizeof(root), "%s/x/", t->pins);
	write_config(cfg_b, root);
	rc = beside_loader(cfg_a, cfg_b, log, buf, sizeof(buf));
	if (rc != 1 ||
	    !strstr(buf, "another tailplaned runs for this pin root"))
		fail_msg("a second loader for %s ran (exit %d): %s", root, rc,
			 buf);

	/* a/b and a_b: two pin roots, two loaders */
	unlink(log);
	snprintf(root, sizeof(root), "%s/a", t->pins);
	assert_int_equal(mkdir(root, 0700), 0);
	snprintf(root, sizeof(root), "%s/a/b", t->pins);
	write_config(cfg_a, root);
	snprintf(root, sizeof(root), "%s/a_b", t->pins);
	write_config(cfg_b, root);
	rc = beside_loader(cfg_a, cfg_b, log, buf, sizeof(buf));
	if (rc != 0)
		fail_msg(
			"the loader of %s did not run beside that of %s/a/b (exit %d): %s",
			root, t->pins, rc, buf);
}

/* Make @pin_root (and its links directory) on bpffs. */
static void make_pin_root(const char *pin_root)
{
	struct capture c;
	int ret;

	capture_begin(&c);
	ret = tpd_bpffs_prepare(pin_root);
	capture_end(&c);
	if (ret)
		fail_msg("%s: %s", pin_root, c.text);
}

/*
 * The same lock, directly: X, X/, X/links/.. and a link to X are one pin
 * root; a/b and a_b are two, with two pid files, and tpctl status finds
 * the loader's pid under any spelling.
 */
static void test_instance_lock_lib(void **state)
{
	struct tf *t = *state;
	struct tp_pins_instance a, b;
	char x[PATH_MAX], other[PATH_MAX], ab[PATH_MAX], a_b[PATH_MAX];
	char pa[PATH_MAX], pb[PATH_MAX];
	const char *suffixes[] = { "/", "//", "/links/..", "/./" };
	size_t i;

	REQUIRE_ROOT();
	if (!bpffs_ready())
		skip();
	assert_int_equal(mkdir(t->pins, 0700), 0);
	snprintf(x, sizeof(x), "%s/x", t->pins);
	make_pin_root(x);
	assert_true(tp_pins_instance_lock(x, &a) >= 0);
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(other, sizeof(other), "%s%s", x, suffixes[i]);
		assert_int_equal(tp_pins_instance_lock(other, &b), -EBUSY);
		assert_int_equal(b.lock_fd, -1);
		assert_int_equal(tp_pins_loader_pid(other), getpid());
	}
	snprintf(other, sizeof(other), "%s/link-to-x", t->dir);
	assert_int_equal(symlink(x, other), 0);
	assert_int_equal(tp_pins_instance_lock(other, &b), -EBUSY);
	tp_pins_instance_unlock(&a);
	assert_int_equal(tp_pins_loader_pid(x), 0);
	/* free again: any spelling takes it */
	snprintf(other, sizeof(other), "%s/", x);
	assert_true(tp_pins_instance_lock(other, &a) >= 0);
	assert_int_equal(tp_pins_loader_pid(x), getpid());
	tp_pins_instance_unlock(&a);

	/* two pin roots the old pid file names mixed up */
	snprintf(ab, sizeof(ab), "%s/a", t->pins);
	assert_int_equal(mkdir(ab, 0700), 0);
	snprintf(ab, sizeof(ab), "%s/a/b", t->pins);
	snprintf(a_b, sizeof(a_b), "%s/a_b", t->pins);
	make_pin_root(ab);
	make_pin_root(a_b);
	assert_string_not_equal(tp_pins_loader_pidfile(ab, pa, sizeof(pa)),
				tp_pins_loader_pidfile(a_b, pb, sizeof(pb)));
	assert_true(tp_pins_instance_lock(ab, &a) >= 0);
	assert_true(tp_pins_instance_lock(a_b, &b) >= 0);
	assert_int_equal(tp_pins_loader_pid(ab), getpid());
	assert_int_equal(tp_pins_loader_pid(a_b), getpid());
	assert_int_equal(access(pa, F_OK), 0);
	assert_int_equal(access(pb, F_OK), 0);
	tp_pins_instance_unlock(&a);
	tp_pins_instance_unlock(&b);
	assert_int_not_equal(access(pa, F_OK), 0);
	assert_int_not_equal(access(pb, F_OK), 0);

	/* the default pin root keeps its documented pid file */
	assert_string_equal(
		tp_pins_loader_pidfile(TP_PIN_ROOT_DEFAULT "/", pa, sizeof(pa)),
		TP_LOADER_RUN_DIR "/tailplaned.pid");
	/* no pin root, no links directory: nothing to lock */
	snprintf(other, sizeof(other), "%s/none", t->pins);
	assert_int_equal(tp_pins_instance_lock(other, &a), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_metrics_planted_links,
						tf_setup, tf_teardown),
		cmocka_unit_test_setup_teardown(test_pin_root_not_bpffs,
						tf_setup, tf_teardown),
		cmocka_unit_test_setup_teardown(test_pin_root_modes, tf_setup,
						tf_teardown),
		cmocka_unit_test_setup_teardown(test_pins_lock_deadline,
						tf_setup, tf_teardown),
		cmocka_unit_test_setup_teardown(test_instance_lock_spellings,
						tf_setup, tf_teardown),
		cmocka_unit_test_setup_teardown(test_instance_lock_lib,
						tf_setup, tf_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
