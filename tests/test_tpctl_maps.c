// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tpctl against real pinned maps: the datapath object is loaded with its
 * maps pinned under a scratch pin root (/sys/fs/bpf/tpctl-test-PID; bpffs refuses dots in names), and
 * the built binary (build/tpctl, or $TPCTL) runs with --pin-root on it.
 * Every command round-trips through the maps; a batch of 10,000 lines
 * applies in under a second; two concurrent writers adding and removing
 * backends for 5 s leave a service whose Maglev table matches its
 * backends.  The test runs in a network namespace of its own, so the
 * program it attaches and the packets it runs touch nothing else.  The
 * pins go away at the end, also when a test fails.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/magic.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "addr.h"
#include "guard.h"
#include "iface.h"
#include "maglev.h"
#include "pins.h"
#include "pkttest.h"
#include "pktgen.h"
#include "policy.h"
#include "service.h"
#include "slab.h"
#include "tailplane.skel.h"

#define TM_ARRAY_SIZE(a)   (sizeof(a) / sizeof((a)[0]))
#define TM_BPFFS	   "/sys/fs/bpf"
#define TM_VIP		   "198.19.0.10:80/tcp"
#define TM_NSEC		   1000000000ULL
#define TM_BPF_TCX_INGRESS 46 /* newer than the UAPI headers here */

/**
 * struct tm_env - the scratch datapath every test works on.
 * @pin_root: the scratch pin root.
 * @tpctl:    the binary under test.
 * @skel:     the loaded object (its maps pinned under @pin_root).
 * @maps:     the pinned maps, opened like tpctl opens them.
 * @skip:     why the tests cannot run here ("" when they can).
 * @made:     @pin_root was created (and must be removed).
 */
struct tm_env {
	char pin_root[PATH_MAX];
	char tpctl[PATH_MAX];
	struct tailplane *skel;
	struct tp_maps maps;
	char skip[256];
	bool refused; /* the load failed for a reason other than privilege */
	bool made;
};

static struct tm_env tm;

/**
 * struct tm_res - what a tpctl run produced.
 * @status: exit status (-1: killed or not run).
 * @out:    stdout, NUL-terminated.
 * @err:    stderr, NUL-terminated.
 * @ns:     wall time of the run.
 */
struct tm_res {
	int status;
	char *out;
	char *err;
	__u64 ns;
	__u64 cpu_ns;
};

#define TM_REQUIRE()                                                  \
	do {                                                          \
		if (tm.refused)                                       \
			fail_msg("the kernel refused the object: %s", \
				 tm.skip);                            \
		if (tm.skip[0]) {                                     \
			print_message("skipped: %s\n", tm.skip);      \
			skip();                                       \
		}                                                     \
	} while (0)

static __u64 tm_now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (__u64)ts.tv_sec * TM_NSEC + (__u64)ts.tv_nsec;
}

/* ---- the scratch pin root ------------------------------------------------- */

static void tm_rm_tree(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!lstat(path, &st) && S_ISDIR(st.st_mode))
			tm_rm_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void tm_cleanup(void)
{
	if (tm.skel)
		tailplane__destroy(tm.skel);
	tm.skel = NULL;
	tp_maps_close(&tm.maps);
	if (tm.made)
		tm_rm_tree(tm.pin_root);
	tm.made = false;
}

/* Pin roots of earlier runs whose process is gone. */
static void tm_remove_stale(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(TM_BPFFS);
	int pid;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (sscanf(de->d_name, "tpctl-test-%d", &pid) != 1 ||
		    !kill(pid, 0) || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", TM_BPFFS, de->d_name);
		tm_rm_tree(path);
	}
	closedir(d);
}

static int tm_silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return getenv("TP_TEST_VERBOSE") ? vfprintf(stderr, fmt, ap) : 0;
}

static int tm_find_tpctl(void)
{
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (getenv("TPCTL")) {
		snprintf(tm.tpctl, sizeof(tm.tpctl), "%s", getenv("TPCTL"));
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			return -errno;
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		snprintf(tm.tpctl, sizeof(tm.tpctl), "%s/../tpctl", self);
	}
	if (access(tm.tpctl, X_OK)) {
		snprintf(tm.skip, sizeof(tm.skip),
			 "no tpctl binary at %s (make %s)", tm.tpctl,
			 "build/tpctl");
		return -ENOENT;
	}
	return 0;
}

static int tm_bpffs_ready(void)
{
	struct statfs fs;

	if (!statfs(TM_BPFFS, &fs) && fs.f_type == BPF_FS_MAGIC)
		return 0;
	mkdir(TM_BPFFS, 0700);
	if (mount("bpf", TM_BPFFS, "bpf", 0, "mode=0700")) {
		snprintf(tm.skip, sizeof(tm.skip),
			 "%s is not bpffs and mounting one failed: %s",
			 TM_BPFFS, strerror(errno));
		return -errno;
	}
	return 0;
}

static int tm_load(void)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = tm.pin_root);
	int err;

	tm.skel = tailplane__open_opts(&opts);
	if (!tm.skel) {
		snprintf(tm.skip, sizeof(tm.skip), "open BPF object: %s",
			 strerror(errno));
		return -errno;
	}
	err = tailplane__load(tm.skel);
	if (err) {
		snprintf(tm.skip, sizeof(tm.skip), "load BPF object: %s",
			 strerror(-err));
		tm.refused = err != -EPERM; /* a verifier error: a failure */
		return err;
	}
	err = tp_pins_open(&tm.maps, tm.pin_root);
	if (err) {
		snprintf(tm.skip, sizeof(tm.skip), "open the pins: %s",
			 strerror(-err));
		return err;
	}
	return 0;
}

static int tm_group_setup(void **state)
{
	tp_maps_init(&tm.maps);
	libbpf_set_print(tm_silent);
	atexit(tm_cleanup);
	if (geteuid() != 0) {
		snprintf(
			tm.skip, sizeof(tm.skip),
			"needs root (CAP_BPF, CAP_SYS_ADMIN) for bpffs and BPF maps");
		return 0;
	}
	if (tm_find_tpctl())
		return 0;
	if (unshare(CLONE_NEWNET)) {
		snprintf(tm.skip, sizeof(tm.skip), "unshare(CLONE_NEWNET): %s",
			 strerror(errno));
		return 0;
	}
	if (tm_bpffs_ready())
		return 0;
	tm_remove_stale();
	snprintf(tm.pin_root, sizeof(tm.pin_root), "%s/tpctl-test-%d", TM_BPFFS,
		 getpid());
	if (mkdir(tm.pin_root, 0700)) {
		snprintf(tm.skip, sizeof(tm.skip), "mkdir %s: %s", tm.pin_root,
			 strerror(errno));
		return 0;
	}
	tm.made = true;
	tm_load();
	return 0;
}

static int tm_group_teardown(void **state)
{
	tm_cleanup();
	return 0;
}

/* Delete every entry of a map that has keys. */
static void tm_clear_map(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	unsigned char key[64], next[64];

	unsigned char *keys = NULL, *p;
	size_t n = 0, cap = 0, i;
	void *prev = NULL;

	if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
	    info.key_size > sizeof(key) || info.type == BPF_MAP_TYPE_ARRAY ||
	    info.type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	    info.type == BPF_MAP_TYPE_ARRAY_OF_MAPS)
		return;
	/*
	 * Keys first, then the deletes: taking the first key again after
	 * each delete scans a hash's emptied buckets every time, quadratic
	 * after test_scale_writes' 100,000s of entries.
	 */
	while (!bpf_map_get_next_key(fd, prev, next)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			p = realloc(keys, cap * info.key_size);
			assert_non_null(p);
			keys = p;
		}
		memcpy(keys + n * info.key_size, next, info.key_size);
		memcpy(key, next, info.key_size);
		prev = key;
		n++;
	}
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, keys + i * info.key_size);
	free(keys);
}

/* Each test starts from empty maps. */
static int tm_setup(void **state)
{
	size_t i;

	if (tm.skip[0])
		return 0;
	for (i = 0; i < tp_pin_maps_n; i++)
		tm_clear_map(tp_pins_map_fd(&tm.maps, i));
	/* the slab keeps its chunks, every block free (no service names one) */
	assert_true(tp_slab_reclaim(tm.maps.slab, tm.maps.services, false) >=
		    0);
	return 0;
}

/* ---- running tpctl ----------------------------------------------------------- */

static char *tm_slurp(int fd)
{
	off_t len = lseek(fd, 0, SEEK_END);
	char *buf = malloc(len > 0 ? len + 1 : 1);

	assert_non_null(buf);
	if (len > 0 && pread(fd, buf, len, 0) != len)
		len = 0;
	buf[len > 0 ? len : 0] = '\0';
	close(fd);
	return buf;
}

static void tm_res_free(struct tm_res *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* argv: tpctl --pin-root ROOT, then @line split at blanks. */
static int tm_argv(char *line, char **argv, int max, const char *pin_root)
{
	int n = 0;
	char *s;

	argv[n++] = tm.tpctl;
	argv[n++] = "--pin-root";
	argv[n++] = (char *)pin_root;
	for (s = strtok(line, " "); s && n < max - 1; s = strtok(NULL, " "))
		argv[n++] = s;
	argv[n] = NULL;
	return n;
}

/**
 * tm_exec() - run tpctl and collect what it wrote.
 * @r:        the result (release with tm_res_free()).
 * @in:       its stdin, or NULL.
 * @uid:      run as this user (0: as is).
 * @pin_root: --pin-root.
 * @line:     the words after the options.
 */
static void tm_exec(struct tm_res *r, const char *in, uid_t uid,
		    const char *pin_root, const char *line)
{
	char buf[8192], *argv[64];
	int fo = memfd_create("out", 0), fe = memfd_create("err", 0);
	int fi = memfd_create("in", 0), st;
	struct rusage ru;
	__u64 t0;
	pid_t pid;

	assert_true(fo >= 0 && fe >= 0 && fi >= 0);
	if (in)
		assert_int_equal(write(fi, in, strlen(in)),
				 (ssize_t)strlen(in));
	lseek(fi, 0, SEEK_SET);
	snprintf(buf, sizeof(buf), "%s", line);
	tm_argv(buf, argv, TM_ARRAY_SIZE(argv), pin_root);
	t0 = tm_now(CLOCK_MONOTONIC);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		/*
		 * Open the binary before dropping privileges: the checkout
		 * may sit under a directory only root can enter (a mktemp -d
		 * folder, as CI uses), and a path exec as @uid would fail
		 * there with 127 instead of tpctl's own answer.
		 */
		int xfd = open(argv[0], O_RDONLY);

		dup2(fi, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		if (xfd < 0 || (uid && (setgid(uid) || setuid(uid))))
			_exit(127);
		fexecve(xfd, argv, environ);
		_exit(127);
	}
	close(fi);
	assert_int_equal(wait4(pid, &st, 0, &ru), pid);
	r->ns = tm_now(CLOCK_MONOTONIC) - t0;
	/* user + system time: what a run costs, whatever else the CPUs do */
	r->cpu_ns = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * TM_NSEC +
		    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r->out = tm_slurp(fo);
	r->err = tm_slurp(fe);
}

static void tm_run(struct tm_res *r, const char *in, const char *fmt,
		   va_list ap)
{
	char line[4096];

	vsnprintf(line, sizeof(line), fmt, ap);
	tm_exec(r, in, 0, tm.pin_root, line);
}

static char *tm_last_out, *tm_last_err;

/* tm_ok() with its arguments as a va_list. */
static const char *tm_vok(const char *fmt, va_list ap)
{
	struct tm_res r;

	tm_run(&r, NULL, fmt, ap);
	if (r.status != 0)
		fail_msg("tpctl %s: exit %d: %s", fmt, r.status, r.err);
	if (r.err[0])
		fail_msg("tpctl %s: wrote to stderr: %s", fmt, r.err);
	free(tm_last_out);
	tm_last_out = r.out;
	free(r.err);
	return tm_last_out;
}

/* Run; it must succeed; return its stdout (valid until the next call). */
static const char *tm_ok(const char *fmt, ...)
{
	const char *out;
	va_list ap;

	va_start(ap, fmt);
	out = tm_vok(fmt, ap);
	va_end(ap);
	return out;
}

/* Run; it must succeed and print @part among the rest. */
static void tm_prints(const char *part, const char *fmt, ...)
{
	const char *out;
	va_list ap;

	va_start(ap, fmt);
	out = tm_vok(fmt, ap);
	va_end(ap);
	if (!strstr(out, part))
		fail_msg("tpctl %s: no '%s' in its output:\n%s", fmt, part,
			 out);
}

/* Run; it must fail with status 1 and "Error: @want..." on stderr. */
static void tm_fails(const char *want, const char *fmt, ...)
{
	char line[1024];
	struct tm_res r;
	va_list ap;

	va_start(ap, fmt);
	tm_run(&r, NULL, fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "Error: %s", want);
	if (r.status != 1 || strncmp(r.err, line, strlen(line)) || r.out[0])
		fail_msg(
			"tpctl %s: exit %d, stdout '%s', stderr '%s'; want 'Error: %s'",
			fmt, r.status, r.out, r.err, want);
	if (strchr(r.err, '\n') != r.err + strlen(r.err) - 1)
		fail_msg("tpctl %s: error is not one line: %s", fmt, r.err);
	tm_res_free(&r);
}

/* Parse @text as JSON (the test fails if it is not). */
static yajl_val tm_json(const char *text)
{
	char err[256] = "";
	yajl_val v = yajl_tree_parse(text, err, sizeof(err));

	if (!v)
		fail_msg("not JSON (%s): %.400s", err, text);
	return v;
}

static size_t tm_json_len(const char *text)
{
	yajl_val v = tm_json(text);
	size_t n;

	assert_true(YAJL_IS_ARRAY(v));
	n = YAJL_GET_ARRAY(v)->len;
	yajl_tree_free(v);
	return n;
}

/* The string member @key of the JSON object @o must be @want. */
static void tm_json_str_is(yajl_val o, const char *key, const char *want)
{
	const char *path[] = { key, NULL };
	const char *got =
		YAJL_GET_STRING(yajl_tree_get(o, path, yajl_t_string));

	if (!got || strcmp(got, want))
		fail_msg("JSON \"%s\": %s, want \"%s\"", key,
			 got ? got : "none", want);
}

/* ---- map checks --------------------------------------------------------------- */

static struct tp_svc_key tm_key(const char *s)
{
	struct tp_svc_key k;

	assert_int_equal(tp_svc_key_parse(s, &k), 0);
	return k;
}

static struct tp_addr tm_addr(const char *s)
{
	struct tp_addr a;

	assert_int_equal(tp_addr_parse(s, &a), 0);
	return a;
}

static unsigned int tm_count(int fd)
{
	unsigned char key[64], next[64];
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	unsigned int n = 0;
	void *prev = NULL;

	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, info.key_size);
		prev = key;
		n++;
	}
	return n;
}

/*
 * The service's live Maglev table is exactly the table of its active
 * backends, and every backend it names belongs to it.  Returns the number
 * of backends.
 */
static int tm_check_service(const char *svc_str)
{
	struct tp_svc_key k = tm_key(svc_str);
	__u32 ids[TP_MAX_SVC_BACKENDS], m, i, *got;
	struct tp_backend bes[TP_MAX_SVC_BACKENDS];
	struct tp_maglev_backend mb[TP_MAX_SVC_BACKENDS];
	__u32 *want;
	struct tp_svc svc;
	int n, j, active = 0;

	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	n = tp_service_backends(&tm.maps, svc.id, ids, bes,
				TP_MAX_SVC_BACKENDS);
	assert_true(n >= 0 && n <= TP_MAX_SVC_BACKENDS);
	for (j = 0; j < n; j++) {
		assert_int_equal(bes[j].svc_id, svc.id);
		if (bes[j].state != TP_BACKEND_ACTIVE)
			continue;
		mb[active].id = ids[j];
		mb[active].addr = bes[j].addr;
		mb[active].port = bes[j].port;
		mb[active].weight = bes[j].weight;
		active++;
	}
	assert_int_equal(svc.active, active);
	m = active ? tp_maglev_table_size(active,
					  tp_service_maglev_cap(&tm.maps))
		   : 0;
	assert_int_equal(svc.table_size, m);
	if (!m)
		return n; /* no active backend, no table */
	want = calloc(m, sizeof(*want));
	got = calloc(m, sizeof(*got));
	assert_non_null(want);
	assert_non_null(got);
	assert_int_equal(tp_maglev_build(mb, active, m, want), 0);
	/* the live table, read back through the chunk's pin */
	assert_int_equal(tp_slab_read(tm.maps.slab, svc.table_off, m, got), 0);
	for (i = 0; i < m; i++) {
		if (got[i] != want[i])
			fail_msg("%s: slot %u holds backend %u, want %u",
				 svc_str, i, got[i], want[i]);
	}
	free(got);
	free(want);
	return n;
}

/* ---- services and backends ------------------------------------------------------ */

static void test_service_roundtrip(void **state)
{
	struct tp_svc_key k = tm_key(TM_VIP);
	struct tp_svc svc;
	struct tm_res r;
	yajl_val v, s;

	TM_REQUIRE();
	tm_ok("service add " TM_VIP " affinity 30 zone 3");
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	assert_int_equal(svc.flags, TP_SVC_F_AFFINITY);
	assert_int_equal(svc.affinity_timeout, 30);
	assert_int_equal(svc.zone, 3);
	assert_int_equal(svc.owner, TP_OWNER_TPCTL);
	assert_int_equal(svc.active, 0);
	assert_int_equal(tm_check_service(TM_VIP), 0);

	tm_prints("198.19.0.10:80/tcp", "service list");
	v = tm_json(tm_ok("-j service list"));
	assert_int_equal(YAJL_GET_ARRAY(v)->len, 1);
	s = YAJL_GET_ARRAY(v)->values[0];
	assert_true(YAJL_IS_OBJECT(s));
	yajl_tree_free(v);
	assert_string_equal(tm_ok("-j service add [fd00:198:19::a]:53/udp"),
			    "null\n");
	assert_string_equal(tm_ok("service add 198.19.0.10/icmp"), "");
	assert_int_equal(tm_count(tm.maps.services), 3);
	assert_int_equal(tm_json_len(tm_ok("-p serv")), 3);

	/* add again: attributes change, nothing else */
	tm_ok("backend add " TM_VIP " 198.18.1.1:8080");
	tm_ok("service add " TM_VIP);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	assert_int_equal(svc.flags, 0);
	assert_int_equal(svc.zone, 0);
	assert_int_equal(tm_check_service(TM_VIP), 1);

	tm_ok("service del " TM_VIP);
	assert_int_not_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc),
			     0);
	assert_int_equal(tm_count(tm.maps.backends), 0);
	tm_fails("no service 198.19.0.10:80/tcp", "service del " TM_VIP);
	tm_fails("bad address '198.19.0.300:80/tcp': expected ADDR:PORT/PROTO",
		 "service add 198.19.0.300:80/tcp");
	assert_int_equal(tm_count(tm.maps.services), 2);

	/* snat marks the service; adding it again without takes it away */
	tm_ok("service add " TM_VIP " snat");
	tm_ok("backend add " TM_VIP " 198.18.1.1:8080");
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	assert_int_equal(svc.flags, TP_SVC_F_SNAT);
	tm_prints(" snat ", "service list");
	tm_prints("\"snat\":true", "-j service list");
	tm_fails("'snat' given twice", "service add " TM_VIP " snat snat");
	tm_ok("service add " TM_VIP " affinity 60");
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	assert_int_equal(svc.flags, TP_SVC_F_AFFINITY);
	assert_int_equal(tm_check_service(TM_VIP), 1);
	/* the batch reads lines with the same grammar */
	tm_exec(&r, "service add " TM_VIP " snat zone 1\n", 0, tm.pin_root,
		"batch -");
	assert_int_equal(r.status, 0);
	tm_res_free(&r);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	assert_int_equal(svc.flags, TP_SVC_F_SNAT);
	assert_int_equal(svc.zone, 1);
}

static void test_backend_roundtrip(void **state)
{
	struct tp_svc_key k = tm_key(TM_VIP);
	__u32 ids[TP_MAX_SVC_BACKENDS];
	struct tp_backend bes[TP_MAX_SVC_BACKENDS];
	struct tp_svc svc, before;
	int n, i;

	TM_REQUIRE();
	tm_ok("service add " TM_VIP " affinity 60 zone 2");
	tm_ok("backend add " TM_VIP " 198.18.1.1:8080");
	tm_ok("backend add " TM_VIP " 198.18.1.2:8080 weight 3");
	tm_ok("backend add " TM_VIP " 198.18.1.3:8080 state maintenance");
	assert_int_equal(tm_check_service(TM_VIP), 3);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	assert_int_equal(svc.active, 2);
	/* editing backends keeps the service's attributes */
	assert_int_equal(svc.flags, TP_SVC_F_AFFINITY);
	assert_int_equal(svc.affinity_timeout, 60);
	assert_int_equal(svc.zone, 2);
	n = tp_service_backends(&tm.maps, svc.id, ids, bes,
				TP_MAX_SVC_BACKENDS);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++) {
		assert_int_equal(bes[i].owner, TP_OWNER_TPCTL);
		if (bes[i].weight == 3)
			assert_int_equal(bes[i].state, TP_BACKEND_ACTIVE);
	}

	tm_ok("backend set " TM_VIP " 198.18.1.3:8080 state active weight 2");
	tm_ok("backend set " TM_VIP " 198.18.1.1:8080 state terminating");
	assert_int_equal(tm_check_service(TM_VIP), 3);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	assert_int_equal(svc.active, 2);
	tm_prints("terminating", "service list");

	/* errors leave everything as it was */
	before = svc;
	tm_fails(
		"backend 198.18.1.2:8080 is already in 198.19.0.10:80/tcp: use 'backend set' to change it",
		"backend add " TM_VIP " 198.18.1.2:8080");
	tm_fails("no backend 198.18.9.9:8080 in 198.19.0.10:80/tcp",
		 "backend set " TM_VIP " 198.18.9.9:8080 weight 2");
	tm_fails("no backend 198.18.9.9:8080 in 198.19.0.10:80/tcp",
		 "backend del " TM_VIP " 198.18.9.9:8080");
	tm_fails("no service 198.19.0.11:80/tcp (add it with 'service add')",
		 "backend add 198.19.0.11:80/tcp 198.18.1.1:8080");
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	assert_memory_equal(&svc, &before, sizeof(svc));
	assert_int_equal(tm_count(tm.maps.backends), 3);

	tm_ok("backend del " TM_VIP " 198.18.1.2:8080");
	assert_int_equal(tm_check_service(TM_VIP), 2);
	tm_ok("backend del " TM_VIP " 198.18.1.1:8080");
	tm_ok("backend del " TM_VIP " 198.18.1.3:8080");
	assert_int_equal(tm_check_service(TM_VIP), 0);
	assert_int_equal(tm_count(tm.maps.backends), 0);

	/* IPv6 and ICMP echo services */
	tm_ok("service add [fd00:198:19::a]:53/udp");
	tm_ok("backend add [fd00:198:19::a]:53/udp [fd00:198:18::1:1]:5353");
	assert_int_equal(tm_check_service("[fd00:198:19::a]:53/udp"), 1);
	tm_ok("service add 198.19.0.10/icmp");
	tm_ok("backend add 198.19.0.10/icmp 198.18.1.1");
	assert_int_equal(tm_check_service("198.19.0.10/icmp"), 1);
	tm_prints("198.19.0.10/icmp", "service list");
}

/*
 * The backend @be of the service @svc_str is flagged TP_BACKEND_F_INDEXED
 * and its tuple's tp_be_frontends entry names the service.
 */
static void tm_check_indexed(const char *svc_str, const char *be)
{
	struct tp_svc_key k = tm_key(svc_str);
	struct tp_backend bes[TP_MAX_SVC_BACKENDS];
	__u32 ids[TP_MAX_SVC_BACKENDS];
	struct tp_be_frontends fe;
	struct tp_addr want = tm_addr(be);
	struct tp_be_key bk;
	struct tp_svc svc;
	int n, i, j, found = 0;

	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	n = tp_service_backends(&tm.maps, svc.id, ids, bes,
				TP_MAX_SVC_BACKENDS);
	for (i = 0; i < n; i++) {
		if (memcmp(&bes[i].addr, &want, sizeof(want)))
			continue;
		found = 1;
		if (!(bes[i].flags & TP_BACKEND_F_INDEXED))
			fail_msg("%s: backend %s is not flagged indexed",
				 svc_str, be);
		bk = tp_be_key_of(&bes[i], k.proto);
		assert_int_equal(
			bpf_map_lookup_elem(tm.maps.be_frontends, &bk, &fe), 0);
		for (j = 0; j < TP_BE_FRONTENDS; j++)
			if (!memcmp(&fe.fe[j], &k, sizeof(k)))
				break;
		if (j == TP_BE_FRONTENDS)
			fail_msg("%s: tp_be_frontends of %s lacks it", svc_str,
				 be);
	}
	if (!found)
		fail_msg("%s: no backend %s", svc_str, be);
}

/*
 * The service and backend writers open only the maps lib/service.c uses
 * (TP_SERVICE_MAPS); the checks and writes it makes in maps beside the
 * service's own still happen, alone and in a batch: a static NAT
 * address, tailnet (tp_static_nat) or inner (tp_static_nat_rev), is no
 * VIP; a backend's frontend is indexed (tp_be_frontends); a zone by
 * interface name (tp_ifaces).
 */
static void test_service_writer_maps(void **state)
{
	struct tp_iface lo = { .zone = 7 };
	__u32 lo_idx = if_nametoindex("lo");
	struct tp_svc svc;
	struct tp_svc_key k;
	struct tm_res r;

	TM_REQUIRE();
	tm_ok("nat static add 100.64.7.7 198.18.2.7");
	tm_fails(
		"cannot write service 100.64.7.7:80/tcp: Address already in use",
		"service add 100.64.7.7:80/tcp");
	tm_fails(
		"cannot write service 198.18.2.7:80/tcp: Address already in use",
		"service add 198.18.2.7:80/tcp");
	tm_exec(&r, "service add 198.18.2.7:80/tcp\n", 0, tm.pin_root,
		"batch -");
	assert_int_equal(r.status, 1);
	assert_string_equal(
		r.err,
		"Error: line 1: cannot write service 198.18.2.7:80/tcp: Address already in use "
		"(the batch stopped there; nothing was applied)\n");
	tm_res_free(&r);
	assert_int_equal(tm_count(tm.maps.services), 0);

	tm_ok("service add " TM_VIP);
	tm_ok("backend add " TM_VIP " 198.18.1.1:8080");
	tm_check_indexed(TM_VIP, "198.18.1.1");
	tm_exec(&r,
		"service add 198.19.0.11:80/tcp\n"
		"backend add 198.19.0.11:80/tcp 198.18.1.2:8080\n",
		0, tm.pin_root, "batch -");
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	tm_res_free(&r);
	tm_check_indexed("198.19.0.11:80/tcp", "198.18.1.2");

	assert_true(lo_idx > 0);
	assert_int_equal(
		bpf_map_update_elem(tm.maps.ifaces, &lo_idx, &lo, BPF_ANY), 0);
	tm_ok("service add 198.19.0.12:80/tcp zone lo");
	k = tm_key("198.19.0.12:80/tcp");
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	assert_int_equal(svc.zone, 7);
}

/*
 * A service an older writer left with a backend of the other address
 * family: changing it through tpctl fails with lib/service.c's reason,
 * and leaves it as it was.
 */
static void test_backend_mixed_family(void **state)
{
	struct tp_svc_key k = tm_key(TM_VIP);
	struct tp_svc svc = { .id = 1, .active = 1, .owner = TP_OWNER_STATIC },
		      after;
	struct tp_backend be = { .addr = tm_addr("fd00:198:18::1:1"),
				 .port = htons(8080),
				 .weight = 1,
				 .owner = TP_OWNER_STATIC,
				 .svc_id = 1 };
	__u32 id = 1;
	struct tm_res r;

	TM_REQUIRE();
	assert_int_equal(
		bpf_map_update_elem(tm.maps.backends, &id, &be, BPF_ANY), 0);
	assert_int_equal(tp_svc_index_write(&tm.maps, svc.id, &id, 1, -1), 0);
	assert_int_equal(
		bpf_map_update_elem(tm.maps.services, &k, &svc, BPF_ANY), 0);
	tm_fails(
		"cannot write service 198.19.0.10:80/tcp: backend [fd00:198:18::1:1]:8080 "
		"is IPv6 but the VIP 198.19.0.10 is IPv4 (a service's backends must be "
		"of its VIP's address family)",
		"backend add " TM_VIP " 198.18.1.2:8080");
	tm_fails(
		"cannot write service 198.19.0.10:80/tcp: backend [fd00:198:18::1:1]:8080 "
		"is IPv6 but the VIP 198.19.0.10 is IPv4",
		"service add " TM_VIP " affinity 30");
	tm_exec(&r, NULL, 0, tm.pin_root,
		"-j backend add " TM_VIP " 198.18.1.2:8080");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(
		r.out, "{\"error\":\"cannot write service 198.19.0.10:80/tcp: "
		       "backend [fd00:198:18::1:1]:8080 is IPv6"));
	tm_res_free(&r);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &after), 0);
	assert_memory_equal(&after, &svc, sizeof(svc));
	assert_int_equal(tm_count(tm.maps.backends), 1);

	/* a new backend of the other family is refused before any map is read */
	tm_fails(
		"backend '[fd00:198:18::1:2]:8080' and service 198.19.0.10:80/tcp are of "
		"different address families",
		"backend add " TM_VIP " [fd00:198:18::1:2]:8080");
}

/* ---- identities -------------------------------------------------------------------- */

static int tm_identity(__u16 zone, const char *cidr, __u32 *id, __u8 *owner)
{
	struct tp_identity_key k = {};
	struct tp_identity_val v;
	unsigned int plen;

	assert_int_equal(tp_prefix_parse(cidr, &k.addr, &plen), 0);
	k.prefixlen = TP_IDENTITY_PLEN(plen);
	k.zone = zone;
	if (bpf_map_lookup_elem(tm.maps.identity, &k, &v) ||
	    TP_IDENTITY_PLEN(v.plen) != k.prefixlen)
		return -ENOENT;
	*id = v.id;
	*owner = v.owner;
	return 0;
}

static __u32 tm_policy_rev(void)
{
	struct tp_config cfg;
	__u32 zero = 0;

	assert_int_equal(bpf_map_lookup_elem(tm.maps.config, &zero, &cfg), 0);
	return cfg.policy_rev;
}

/* ---- nat static (static 1:1 NAT) --------------------------------------- */

static void test_nat_static_roundtrip(void **state)
{
	const char *keys[] = { "static", NULL };
	struct tp_static_nat_key k = { .zone = 0 };
	struct tp_static_nat v;
	struct tp_addr in;
	char *out;
	yajl_val doc, arr, e;

	TM_REQUIRE();
	tm_ok("nat static add 100.64.7.7 198.18.2.7");
	tm_ok("nat static add fd7a:115c:a1e0::7:7 fd00:198:18::2:7 zone 1");
	tm_ok("nat static add 100.64.7.7 198.18.2.7"); /* the same again */
	assert_int_equal(tp_addr_parse("100.64.7.7", &k.addr), 0);
	assert_int_equal(tp_addr_parse("198.18.2.7", &in), 0);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.static_nat, &k, &v), 0);
	assert_memory_equal(&v.addr, &in, sizeof(in));
	assert_int_equal(v.owner, TP_OWNER_TPCTL);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.static_nat_rev, &in, &v),
			 0);
	assert_memory_equal(&v.addr, &k.addr, sizeof(k.addr));

	out = strdup(tm_ok("nat list"));
	assert_non_null(out);
	assert_non_null(strstr(out, "ZONE"));
	assert_non_null(strstr(out, "100.64.7.7"));
	assert_non_null(strstr(out, "fd00:198:18::2:7"));
	assert_string_equal(tm_ok("nat static list"), out);
	free(out);
	doc = tm_json(tm_ok("-j nat list"));
	arr = yajl_tree_get(doc, keys, yajl_t_array);
	assert_non_null(arr);
	assert_int_equal(YAJL_GET_ARRAY(arr)->len, 2);
	e = YAJL_GET_ARRAY(arr)->values[0];
	tm_json_str_is(e, "tailnet", "100.64.7.7");
	tm_json_str_is(e, "inner", "198.18.2.7");
	tm_json_str_is(e, "owner", "tpctl");
	yajl_tree_free(doc);

	/* refused, nothing written */
	tm_fails(
		"100.64.7.7 is already the tailnet address of 198.18.2.7 in every zone",
		"nat static add 100.64.7.7 198.18.2.8");
	tm_fails(
		"198.18.2.7 already has the tailnet address 100.64.7.7 in every zone",
		"nat static add 100.64.7.8 198.18.2.7");
	tm_fails("100.64.7.8 and fd00::1 are of different address families",
		 "nat static add 100.64.7.8 fd00::1");
	tm_ok("service add 198.19.0.10:80/tcp");
	tm_fails(
		"a static NAT address cannot be a service VIP: 198.19.0.10:80/tcp",
		"nat static add 198.19.0.10 198.18.2.9");
	tm_fails("no static NAT entry for 100.64.7.9",
		 "nat static del 100.64.7.9");
	tm_fails("no static NAT entry for fd7a:115c:a1e0::7:7 in zone any",
		 "nat static del fd7a:115c:a1e0::7:7 zone any");
	doc = tm_json(tm_ok("-j nat static list"));
	arr = yajl_tree_get(doc, keys, yajl_t_array);
	assert_int_equal(YAJL_GET_ARRAY(arr)->len, 2);
	yajl_tree_free(doc);

	/* del: both maps; the zone found when not named */
	tm_ok("nat static del 100.64.7.7");
	assert_int_not_equal(bpf_map_lookup_elem(tm.maps.static_nat, &k, &v),
			     0);
	assert_int_not_equal(
		bpf_map_lookup_elem(tm.maps.static_nat_rev, &in, &v), 0);
	tm_ok("nat static del fd7a:115c:a1e0::7:7");
	doc = tm_json(tm_ok("-j nat list"));
	arr = yajl_tree_get(doc, keys, yajl_t_array);
	assert_int_equal(YAJL_GET_ARRAY(arr)->len, 0);
	yajl_tree_free(doc);
}

static void test_identity_roundtrip(void **state)
{
	struct tp_identity_name nm;
	struct tp_iface lo = { .zone = 7 };
	__u32 id, rev, key = 401, lo_idx = if_nametoindex("lo");
	__u8 owner;
	yajl_val v;

	TM_REQUIRE();
	rev = tm_policy_rev();
	tm_ok("identity add 198.18.1.0/24 400 name web");
	assert_int_equal(tm_identity(0, "198.18.1.0/24", &id, &owner), 0);
	assert_int_equal(id, 400);
	assert_int_equal(owner, TP_OWNER_TPCTL);
	assert_true(tm_policy_rev() != rev);
	tm_ok("identity add 198.18.2.1 401 name db");
	tm_ok("identity add fd7a:115c:a1e0::/48 tailnet zone 1");
	tm_ok("identity add 100.64.0.0/10 tailnet zone 1");
	assert_int_equal(tm_identity(1, "fd7a:115c:a1e0::/48", &id, &owner), 0);
	assert_int_equal(id, TP_ID_TAILNET);
	/* by name */
	tm_ok("identity add 198.18.3.0/24 web");
	assert_int_equal(tm_identity(0, "198.18.3.0/24", &id, &owner), 0);
	assert_int_equal(id, 400);
	/* a zone by interface name */
	assert_true(lo_idx > 0);
	assert_int_equal(tp_iface_set(&tm.maps, lo_idx, &lo), 0);
	tm_ok("identity add 100.100.0.0/16 401 zone lo");
	assert_int_equal(tm_identity(7, "100.100.0.0/16", &id, &owner), 0);
	assert_int_equal(id, 401);

	v = tm_json(tm_ok("-j identity list"));
	assert_int_equal(YAJL_GET_ARRAY(v)->len, 6);
	yajl_tree_free(v);
	tm_prints("198.18.1.0/24", "identity list");

	/* errors: nothing written */
	tm_fails("name 'db' is already identity 401",
		 "identity add 198.18.9.0/24 402 name db");
	assert_int_not_equal(tm_identity(0, "198.18.9.0/24", &id, &owner), 0);
	key = 402;
	assert_int_not_equal(bpf_map_lookup_elem(tm.maps.id_names, &key, &nm),
			     0);
	tm_fails("unknown identity 'nosuch'",
		 "identity add 198.18.9.0/24 nosuch");
	tm_fails("bad zone 'nosuchif0'",
		 "identity add 198.18.9.0/24 400 zone nosuchif0");
	assert_int_not_equal(tm_identity(0, "198.18.9.0/24", &id, &owner), 0);

	tm_ok("identity del 198.18.3.0/24");
	assert_int_not_equal(tm_identity(0, "198.18.3.0/24", &id, &owner), 0);
	/* the covering /24 of a /32 is not the /32 */
	tm_fails("no identity for 198.18.1.7/32 in zone 0",
		 "identity del 198.18.1.7");
	assert_int_equal(tm_identity(0, "198.18.1.0/24", &id, &owner), 0);
	tm_ok("identity del 100.64.0.0/10 zone 1");
	tm_fails("no identity for 100.64.0.0/10 in zone 1",
		 "identity del 100.64.0.0/10 zone 1");
	assert_int_equal(tm_count(tm.maps.identity), 4);
}

/* ---- policy ----------------------------------------------------------------------- */

/* ---- guard ---------------------------------------------------------------- */

static void tm_percpu_set(int fd, __u32 key, __u64 packets, __u64 bytes);

static int tm_guard_get(const char *cidr, struct tp_guard_drop_val *v)
{
	struct tp_guard_key k = {};
	unsigned int plen;

	assert_int_equal(tp_prefix_parse(cidr, &k.addr, &plen), 0);
	k.prefixlen = plen;
	if (bpf_map_lookup_elem(tm.maps.guard_drop, &k, v))
		return -ENOENT;
	return v->plen == plen ? 0 : -ENOENT;
}

static void test_guard_roundtrip(void **state)
{
	static const __u16 ports[] = { 51820 };
	struct tp_guard_config c = {};
	struct tp_guard_drop_val dv;
	yajl_val v, x;
	const char *path[] = { NULL, NULL };

	TM_REQUIRE();
	assert_int_equal(tp_guard_ports_set(&c, ports, 1), 0);
	assert_int_equal(tp_guard_config_put(&tm.maps, &c), 0);

	tm_ok("guard add 198.18.9.0/24");
	tm_ok("guard add fd00:198:18::9:0/112");
	tm_ok("g a 198.18.8.8");
	assert_int_equal(tm_guard_get("198.18.9.0/24", &dv), 0);
	assert_int_equal(dv.owner, TP_OWNER_TPCTL);
	assert_int_equal(tm_guard_get("198.18.8.8/32", &dv), 0);
	tm_fails("198.18.9.0/24 is on the drop list already",
		 "guard add 198.18.9.0/24");
	tm_prints("fd00:198:18::9:0/112", "guard list");
	tm_prints("tpctl", "guard");
	v = tm_json(tm_ok("-j guard list"));
	assert_int_equal(YAJL_GET_ARRAY(v)->len, 3);
	path[0] = "prefix";
	x = yajl_tree_get(YAJL_GET_ARRAY(v)->values[0], path, yajl_t_string);
	assert_non_null(x);
	assert_string_equal(YAJL_GET_STRING(x), "198.18.8.8/32");
	yajl_tree_free(v);

	/* del needs the exact prefix; a longer one inside it is not it */
	tm_ok("guard del 198.18.9.0/24");
	assert_int_not_equal(tm_guard_get("198.18.9.0/24", &dv), 0);
	tm_fails("198.18.9.0/24 is not on the drop list",
		 "guard del 198.18.9.0/24");
	tm_fails("198.18.8.0/24 is not on the drop list",
		 "guard del 198.18.8.0/24");

	/* the rate: live in tp_guard_config, the ports kept */
	tm_ok("guard rate 20 40");
	assert_int_equal(tp_guard_config_get(&tm.maps, &c), 0);
	assert_int_equal(c.rate, 20);
	assert_int_equal(c.burst, 40);
	assert_int_equal(c.cost_ns, 50000000ULL);
	assert_int_equal(c.cap_ns, 40 * 50000000ULL);
	assert_int_equal(c.n_ports, 1);
	assert_int_equal(ntohs(c.ports[0]), 51820);
	tm_fails("bad burst '0': expected a number 1-1000000",
		 "guard rate 20 0");
	assert_int_equal(tp_guard_config_get(&tm.maps, &c), 0);
	assert_int_equal(c.rate, 20);

	tm_percpu_set(tm.maps.stats, TP_STAT_GUARD_RATE_LIMITED, 99990,
		      99990 * 190);
	v = tm_json(tm_ok("-j guard show"));
	path[0] = "rate";
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, path, yajl_t_number)), 20);
	path[0] = "prefixes";
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, path, yajl_t_number)), 2);
	{
		const char *p3[] = { "counters", "rate_limited", "packets",
				     NULL };

		/* set on every CPU, summed */
		assert_int_equal(
			YAJL_GET_INTEGER(yajl_tree_get(v, p3, yajl_t_number)),
			99990 * libbpf_num_possible_cpus());
	}
	yajl_tree_free(v);
	tm_prints("20/s per source, burst 40", "guard show");
	tm_prints("guard_rate_limited", "stats");

	tm_ok("guard rate 0");
	assert_int_equal(tp_guard_config_get(&tm.maps, &c), 0);
	assert_int_equal(c.rate, 0);
	tm_prints("no limit", "guard show");

	/* its maps are in the tables of maps */
	tm_prints(TP_MAP_GUARD_BUCKETS, "map list");
	tm_prints(TP_MAP_GUARD_CONFIG, "map list");
	tm_prints(TP_MAP_GUARD_DROP, "map list");
	tm_percpu_set(tm.maps.stats, TP_STAT_GUARD_RATE_LIMITED, 0, 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tp_guard_config_put(&tm.maps, &c), 0);
}

static void test_policy_roundtrip(void **state)
{
	struct tp_rule match = {}, r;
	struct tp_zone z;
	__u32 id, zone = 1;
	yajl_val v;
	const char *path[] = { "rules", NULL };

	TM_REQUIRE();
	tm_ok("identity add 198.18.1.0/24 400 name web");
	tm_ok("identity add 198.18.2.1 401 name db");
	tm_ok("policy add from web to db proto tcp port 5432 allow");
	match = (struct tp_rule){ .src_id = 400,
				  .dst_id = 401,
				  .proto = IPPROTO_TCP,
				  .port_lo = 5432,
				  .port_hi = 5432 };
	assert_int_equal(tp_policy_rule_find(&tm.maps, &match, &id), 0);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.rules, &id, &r), 0);
	assert_int_equal(r.verdict, TP_VERDICT_ALLOW);
	assert_int_equal(r.owner, TP_OWNER_TPCTL);
	assert_true(tm_count(tm.maps.policy) > 0);

	/* the same match again changes the verdict */
	tm_ok("policy add from web to db proto tcp port 5432 audit");
	assert_int_equal(tm_count(tm.maps.rules), 1);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.rules, &id, &r), 0);
	assert_int_equal(r.verdict, TP_VERDICT_AUDIT);

	/* icmp: both families */
	tm_ok("policy add from tailnet to web proto icmp allow zone 1");
	assert_int_equal(tm_count(tm.maps.rules), 3);
	tm_ok("policy add from any to db proto udp port 1000-1999 deny");
	tm_ok("policy default deny zone 1");
	assert_int_equal(bpf_map_lookup_elem(tm.maps.zones, &zone, &z), 0);
	assert_int_equal(z.default_verdict, TP_VERDICT_DENY);
	assert_true(z.flags & TP_ZONE_F_RULES);

	v = tm_json(tm_ok("-j policy list"));
	assert_int_equal(
		YAJL_GET_ARRAY(yajl_tree_get(v, path, yajl_t_array))->len, 4);
	yajl_tree_free(v);
	tm_prints("1000-1999", "policy list");

	tm_fails(
		"rule from web to db proto tcp port 5432 has verdict audit, not deny",
		"policy del from web to db proto tcp port 5432 deny");
	assert_int_equal(tm_count(tm.maps.rules), 4);
	tm_ok("policy del from web to db proto tcp port 5432");
	tm_ok("policy del from tailnet to web proto icmp zone 1");
	assert_int_equal(tm_count(tm.maps.rules), 1);
	tm_fails("no rule from tailnet to web proto icmp zone 1",
		 "policy del from tailnet to web proto icmp zone 1");
	tm_fails("policy default: missing 'zone ZONE'", "policy default allow");
	tm_fails("policy default: zone 0 has no default verdict",
		 "policy default deny zone 0");
	tm_ok("policy default allow zone 1");
	assert_int_equal(bpf_map_lookup_elem(tm.maps.zones, &zone, &z), 0);
	assert_int_equal(z.default_verdict, TP_VERDICT_ALLOW);
}

/* ---- conntrack ------------------------------------------------------------------- */

/* The key of a flow @c:@cport -> VIP:80 of protocol @proto from zone 1. */
static struct tp_ct_key tm_flow_key(const char *c, __u16 cport, __u8 proto)
{
	return (struct tp_ct_key){ .saddr = tm_addr(c),
				   .daddr = tm_addr("198.19.0.10"),
				   .sport = htons(cport),
				   .dport = htons(80),
				   .proto = proto,
				   .zone = 1 };
}

/*
 * A DNATed flow @c:@cport -> VIP:80 via @be:8080 of protocol @proto, with
 * its reply key, in the conntrack table of that protocol.
 */
/* The flow entry of an established DNAT flow to @be:8080 with @flags. */
static struct tp_ct_entry tm_flow_entry(const char *be, __u32 svc_id,
					__s64 ttl_s, __u8 flags)
{
	__u64 now = tm_now(CLOCK_MONOTONIC);
	struct tp_ct_entry e = { .nat_addr = tm_addr(be),
				 .nat_port = htons(8080),
				 .state = TP_CT_ESTABLISHED,
				 .flags = flags,
				 .svc_id = svc_id,
				 .backend_id = 1,
				 .created_s = TP_CT_SEC(now),
				 .expires_s = TP_CT_SEC(now) + ttl_s,
				 .packets = { 3, 2 },
				 .bytes = { 300, 200 },
				 .verdict = TP_VERDICT_ALLOW,
				 .src_identity = TP_ID_TAILNET };

	return e;
}

static void tm_flow_proto(const char *c, __u16 cport, const char *be,
			  __u32 svc_id, __s64 ttl_s, __u8 proto)
{
	struct tp_ct_key orig = tm_flow_key(c, cport, proto);
	int fd = tp_ct_fd(&tm.maps, proto);
	struct tp_ct_entry e = tm_flow_entry(be, svc_id, ttl_s, TP_CT_F_DNAT);

	/* its reply key: @be:8080 -> @c:@cport */
	pt_ct_put_flow(fd, &orig, &e, NULL, BPF_ANY);
}

static void tm_flow(const char *c, __u16 cport, const char *be, __u32 svc_id,
		    __s64 ttl_s)
{
	tm_flow_proto(c, cport, be, svc_id, ttl_s, IPPROTO_TCP);
}

/*
 * A SNAT flow: its reply key is backend:8080 -> the node's SNAT address
 * and port in zone 0, and holds the client the reply tuple no longer has.
 */
static void tm_flow_snat(const char *c, __u16 cport, const char *be,
			 const char *snat, __u16 sport, __u32 svc_id)
{
	struct tp_ct_key orig = tm_flow_key(c, cport, IPPROTO_TCP);
	__u64 now = tm_now(CLOCK_MONOTONIC);
	struct tp_ct_entry e = { .nat_addr = tm_addr(be),
				 .nat_port = htons(8080),
				 .state = TP_CT_ESTABLISHED,
				 .flags = TP_CT_F_DNAT | TP_CT_F_SNAT,
				 .svc_id = svc_id,
				 .backend_id = 1,
				 .created_s = TP_CT_SEC(now),
				 .expires_s = TP_CT_SEC(now) + 60,
				 .verdict = TP_VERDICT_ALLOW,
				 .snat_port = htons(sport) };

	pt_ct_put_flow(tm.maps.ct, &orig, &e, snat, BPF_ANY);
}

/* Run a flush; it must print @want and leave @left conntrack entries. */
static void tm_flushes(const char *want, int left, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	assert_string_equal(tm_vok(fmt, ap), want);
	va_end(ap);
	assert_int_equal(tm_count(tm.maps.ct), left);
}

/*
 * tpctl shows a SNAT flow's source and deletes its reply key with it,
 * found through the SNAT address in tp_config (without it the reply key
 * would stay behind, holding the port).
 */
static void test_conntrack_snat(void **state)
{
	struct tp_config cfg, saved;
	struct tp_svc_key k = tm_key(TM_VIP);
	struct tp_svc svc;
	__u32 zero = 0;
	const char *out;

	TM_REQUIRE();
	assert_int_equal(bpf_map_lookup_elem(tm.maps.config, &zero, &saved), 0);
	cfg = saved;
	cfg.snat_addr4 = tm_addr("198.18.0.1");
	cfg.snat_port_min = TP_SNAT_PORT_MIN;
	cfg.snat_port_max = TP_SNAT_PORT_MAX;
	assert_int_equal(
		bpf_map_update_elem(tm.maps.config, &zero, &cfg, BPF_ANY), 0);
	tm_ok("service add " TM_VIP " snat");
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	tm_flow_snat("100.64.0.1", 40000, "198.18.1.1", "198.18.0.1", 61234,
		     svc.id);
	tm_flow_snat("100.64.0.2", 40000, "198.18.1.2", "198.18.0.1", 61235,
		     svc.id);
	assert_int_equal(tm_count(tm.maps.ct), 4);

	out = tm_ok("conntrack list");
	assert_non_null(strstr(out, "SNAT"));
	assert_non_null(strstr(out, "198.18.0.1:61234"));
	out = tm_ok("-j conntrack list src 100.64.0.1");
	assert_non_null(strstr(out, "\"snat_addr\":\"198.18.0.1\""));
	assert_non_null(strstr(out, "\"snat_port\":61234"));
	assert_non_null(strstr(out, "\"flags\":\"dnat,snat\""));

	tm_flushes("flushed 1 flow\n", 2, "conntrack flush backend 198.18.1.1");
	tm_flushes("flushed 1 flow\n", 0, "conntrack flush service " TM_VIP);
	assert_int_equal(
		bpf_map_update_elem(tm.maps.config, &zero, &saved, BPF_ANY), 0);
}

/*
 * A DNAT flow without a reply key (TP_CT_F_RINDEX, one entry): listed
 * with its flag, flushed alone, and a reply key another flow left under
 * its reply tuple is not its to delete.
 */
static void test_conntrack_rindex(void **state)
{
	struct tp_svc_key k = tm_key(TM_VIP);
	struct tp_ct_key orig = tm_flow_key("100.64.0.1", 40000, IPPROTO_TCP);
	struct tp_ct_key other = orig;
	struct tp_svc svc;
	struct tp_ct_entry e, o;
	const char *out;

	TM_REQUIRE();
	tm_ok("service add " TM_VIP);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	e = tm_flow_entry("198.18.1.1", svc.id, 60,
			  TP_CT_F_DNAT | TP_CT_F_RINDEX);
	assert_int_equal(bpf_map_update_elem(tm.maps.ct, &orig, &e, BPF_ANY),
			 0);
	/* another VIP's flow to the backend from that port, with its reply key */
	other.daddr = tm_addr("198.19.0.99");
	o = tm_flow_entry("198.18.1.1", svc.id + 1, 60, TP_CT_F_DNAT);
	pt_ct_put_flow(tm.maps.ct, &other, &o, NULL, BPF_ANY);
	assert_int_equal(tm_count(tm.maps.ct), 3);
	out = tm_ok("-j conntrack list service " TM_VIP);
	assert_non_null(strstr(out, "\"flags\":\"dnat,rindex\""));
	tm_flushes("flushed 1 flow\n", 2, "conntrack flush service " TM_VIP);
	tm_flushes("flushed 1 flow\n", 0, "conntrack flush");
}

static void test_conntrack(void **state)
{
	struct tp_svc svc;
	struct tp_svc_key k = tm_key(TM_VIP);
	const char *out;

	TM_REQUIRE();
	tm_ok("service add " TM_VIP);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	tm_flow("100.64.0.1", 40000, "198.18.1.1", svc.id, 60);
	tm_flow("100.64.0.2", 40001, "198.18.1.2", svc.id, 60);
	tm_flow("100.64.9.9", 40002, "198.18.1.1", svc.id + 1, 60);
	tm_flow("100.64.0.3", 40003, "198.18.1.1", svc.id, -5); /* expired */
	assert_int_equal(tm_count(tm.maps.ct), 8);

	out = tm_ok("conntrack list");
	assert_non_null(strstr(out, "100.64.0.1:40000"));
	assert_non_null(strstr(out, "198.18.1.1:8080"));
	assert_non_null(strstr(out, "established"));
	assert_null(strstr(out, "100.64.0.3"));
	assert_int_equal(tm_json_len(tm_ok("-j conntrack list")), 3);
	assert_int_equal(
		tm_json_len(tm_ok("-j conntrack list src 100.64.0.0/24")), 2);
	assert_int_equal(tm_json_len(tm_ok("-j conntrack list dst 198.18.1.1")),
			 2);
	assert_int_equal(
		tm_json_len(tm_ok("-j conntrack list dst 198.19.0.10")), 3);
	assert_int_equal(
		tm_json_len(tm_ok("-j conntrack list service " TM_VIP)), 2);
	assert_int_equal(
		tm_json_len(tm_ok("-j conntrack list backend 198.18.1.1:8080")),
		2);
	assert_int_equal(
		tm_json_len(tm_ok("-j conntrack list backend 198.18.1.1:9")),
		0);
	tm_fails("no service 198.19.0.99:80/tcp",
		 "conntrack list service 198.19.0.99:80/tcp");

	/* flush a backend: both entries of each of its flows, expired ones too */
	tm_flushes("flushed 3 flows\n", 2,
		   "conntrack flush backend 198.18.1.1");
	tm_flushes("null\n", 0, "-j conntrack flush service " TM_VIP);
	tm_flow("100.64.0.1", 40000, "198.18.1.1", svc.id, 60);
	tm_flow("100.64.0.2", 40001, "198.18.1.2", 77, 60);
	/* UDP flows are in tp_ct_any: listed and flushed with the rest */
	tm_flow_proto("100.64.0.4", 40004, "198.18.1.1", svc.id, 60,
		      IPPROTO_UDP);
	out = tm_ok("conntrack list");
	assert_non_null(strstr(out, "100.64.0.4:40004"));
	assert_int_equal(tm_json_len(tm_ok("-j conntrack list")), 3);
	tm_flushes("flushed 3 flows\n", 0, "conntrack flush");
	assert_int_equal(tm_count(tm.maps.ct_any), 0);
}

/* ---- stats, maps, status ------------------------------------------------------ */

/*
 * Counter @id of the per-CPU counter array @fd on every CPU: one an
 * element (tp_stats) or TP_STAT_GROUP (tp_rule_stats, tp_svc_stats).
 */
static void tm_percpu_set(int fd, __u32 id, __u64 packets, __u64 bytes)
{
	int i, ncpu = libbpf_num_possible_cpus();
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), per, key;
	struct tp_stat *st;
	size_t vsize;
	char *v;

	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	per = info.value_size / sizeof(*st);
	vsize = (info.value_size + 7) & ~7u;
	v = calloc(ncpu, vsize);
	assert_non_null(v);
	key = id / per;
	assert_int_equal(bpf_map_lookup_elem(fd, &key, v), 0);
	for (i = 0; i < ncpu; i++) {
		st = (struct tp_stat *)(v + i * vsize) + id % per;
		*st = (struct tp_stat){ .packets = packets, .bytes = bytes };
	}
	assert_int_equal(bpf_map_update_elem(fd, &key, v, BPF_ANY), 0);
	free(v);
}

static void test_stats(void **state)
{
	const char *p_rx[] = { "counters", "rx_tailnet", NULL };
	const char *p_drop[] = { "counters", "drop_policy_bytes", NULL };
	const char *p_rules[] = { "rules", NULL };
	const char *p_svcs[] = { "services", NULL };
	int ncpu = libbpf_num_possible_cpus();
	struct tp_svc_key k = tm_key(TM_VIP);
	struct tp_svc svc;
	yajl_val v;

	TM_REQUIRE();
	tm_ok("service add " TM_VIP);
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	tm_percpu_set(tm.maps.stats, TP_STAT_RX_TAILNET, 5, 500);
	tm_percpu_set(tm.maps.stats, TP_STAT_DROP(TP_DROP_POLICY), 1, 64);
	tm_percpu_set(tm.maps.rule_stats, 3, 2, 20);
	tm_percpu_set(tm.maps.svc_stats, svc.id, 4, 40);
	v = tm_json(tm_ok("-j stats"));
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, p_rx, yajl_t_number)),
		5 * ncpu);
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, p_drop, yajl_t_number)),
		64 * ncpu);
	assert_int_equal(
		YAJL_GET_ARRAY(yajl_tree_get(v, p_rules, yajl_t_array))->len,
		1);
	assert_int_equal(
		YAJL_GET_ARRAY(yajl_tree_get(v, p_svcs, yajl_t_array))->len, 1);
	yajl_tree_free(v);
	tm_prints("rx_tailnet", "stats");

	assert_string_equal(tm_ok("-j stats reset"), "null\n");
	v = tm_json(tm_ok("-j stats"));
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, p_rx, yajl_t_number)), 0);
	assert_int_equal(
		YAJL_GET_ARRAY(yajl_tree_get(v, p_rules, yajl_t_array))->len,
		0);
	yajl_tree_free(v);
}

static void test_map_list_dump(void **state)
{
	yajl_val v, m;
	const char *out;
	size_t i;
	bool seen = false;

	TM_REQUIRE();
	tm_ok("service add " TM_VIP);
	tm_ok("service add 198.19.0.11:80/tcp");
	v = tm_json(tm_ok("-j map list"));
	assert_int_equal(YAJL_GET_ARRAY(v)->len, tp_pin_maps_n);
	for (i = 0; i < YAJL_GET_ARRAY(v)->len; i++) {
		const char *path[] = { "name", NULL },
			   *pe[] = { "entries", NULL },
			   *pm[] = { "bytes_memlock", NULL };

		const char *name;

		m = YAJL_GET_ARRAY(v)->values[i];
		name = YAJL_GET_STRING(yajl_tree_get(m, path, yajl_t_string));
		assert_non_null(name);
		/* every map says what it costs, as bpftool does (an empty LPM trie: 0) */
		assert_non_null(yajl_tree_get(m, pm, yajl_t_number));
		assert_true(
			YAJL_GET_INTEGER(yajl_tree_get(m, pm, yajl_t_number)) >=
			(strcmp(name, TP_MAP_CT) ? 0 : 4096));
		if (strcmp(name, TP_MAP_SERVICES))
			continue;
		assert_int_equal(
			YAJL_GET_INTEGER(yajl_tree_get(m, pe, yajl_t_number)),
			2);
		seen = true;
	}
	assert_true(seen);
	yajl_tree_free(v);
	tm_prints("tp_maglev_slab", "map list");

	out = tm_ok("map dump tp_services");
	assert_non_null(strstr(out, "key:"));
	assert_non_null(strstr(out, "Found 2 elements"));
	assert_int_equal(tm_json_len(tm_ok("-j map dump services")), 2);
	assert_int_equal(tm_json_len(tm_ok("-j map dump tp_stats")),
			 TP_STAT_MAX);
	assert_int_equal(tm_json_len(tm_ok("-j map dump tp_config")), 1);
	tm_fails("tp_events is a ring buffer", "map dump tp_events");
	tm_fails("unknown map 'nosuch'", "map dump nosuch");
}

/*
 * Run `status`; it must exit with @want and, when that is not 0, say
 * why in one "Error: ..." line on stderr (nothing there in JSON mode).
 * Returns its stdout, which always holds the status (valid until the
 * next call).
 */
static const char *tm_status(int want, const char *line)
{
	struct tm_res r;

	tm_exec(&r, NULL, 0, tm.pin_root, line);
	if (r.status != want)
		fail_msg("tpctl %s: exit %d, want %d; stderr '%s'", line,
			 r.status, want, r.err);
	if (!r.out[0])
		fail_msg("tpctl %s: no status on stdout", line);
	if (strstr(line, "-j")) {
		if (r.err[0])
			fail_msg("tpctl %s: wrote to stderr: %s", line, r.err);
	} else if (want ? strncmp(r.err, "Error: ", 7) ||
				   strchr(r.err, '\n') !=
					   r.err + strlen(r.err) - 1
			: r.err[0] != '\0') {
		fail_msg("tpctl %s: stderr '%s'", line, r.err);
	}
	free(tm_last_out);
	tm_last_out = r.out;
	free(tm_last_err);
	tm_last_err = r.err;
	return tm_last_out;
}

/* A fake running loader: its pid file, locked, as tailplaned holds it. */
static int tm_fake_loader(void)
{
	char path[PATH_MAX], pid[32];
	int fd;

	mkdir(TP_LOADER_RUN_DIR, 0755);
	tp_pins_loader_pidfile(tm.pin_root, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	snprintf(pid, sizeof(pid), "%d\n", getpid());
	assert_true(pwrite(fd, pid, strlen(pid), 0) > 0);
	return fd;
}

static void test_status(void **state)
{
	const char *p_run[] = { "loader", "running", NULL };
	const char *p_pid[] = { "loader", "pid", NULL };
	const char *p_pinned[] = { "pinned", NULL };
	const char *p_ifaces[] = { "interfaces", NULL };
	const char *p_maps[] = { "maps", NULL };
	const char *p_ok[] = { "health", "ok", NULL };
	struct tp_iface ifc = { .zone = 1,
				.flags = TP_IFACE_F_L3 | TP_IFACE_F_TAILNET };
	__u32 lo = if_nametoindex("lo");
	char path[PATH_MAX], links[PATH_MAX];
	int link, fd;
	yajl_val v, p;
	const char *out;

	TM_REQUIRE();
	assert_int_equal(tp_iface_set(&tm.maps, lo, &ifc), 0);
	out = tm_status(2, "status");
	assert_non_null(strstr(out, "loader    not running"));
	assert_non_null(strstr(out, "l3,tailnet"));

	/* a pinned tcx link, as the loader pins them, and a loader */
	snprintf(links, sizeof(links), "%s/links", tm.pin_root);
	mkdir(links, 0700);
	link = bpf_link_create(bpf_program__fd(tm.skel->progs.tp_from_tailnet),
			       lo, TM_BPF_TCX_INGRESS, NULL);
	if (link < 0) {
		print_message("no tcx link (%s): links not checked\n",
			      strerror(errno));
	} else {
		snprintf(path, sizeof(path), "%s/lo-ingress", links);
		assert_int_equal(bpf_obj_pin(link, path), 0);
	}
	fd = tm_fake_loader();
	v = tm_json(tm_ok("-j status"));
	assert_true(YAJL_IS_TRUE(yajl_tree_get(v, p_ok, yajl_t_any)));
	assert_true(YAJL_IS_TRUE(yajl_tree_get(v, p_run, yajl_t_any)));
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, p_pid, yajl_t_number)),
		getpid());
	assert_int_equal(
		YAJL_GET_ARRAY(yajl_tree_get(v, p_ifaces, yajl_t_array))->len,
		1);
	assert_int_equal(
		YAJL_GET_ARRAY(yajl_tree_get(v, p_maps, yajl_t_array))->len,
		tp_pin_maps_n);
	if (link >= 0) {
		assert_int_equal(
			YAJL_GET_ARRAY(yajl_tree_get(v, p_pinned, yajl_t_array))
				->len,
			1);
		p = YAJL_GET_ARRAY(yajl_tree_get(v, p_pinned, yajl_t_array))
			    ->values[0];
		tm_json_str_is(p, "type", "tcx");
		tm_json_str_is(p, "hook", "ingress");
		tm_json_str_is(p, "ifname", "lo");
		tm_json_str_is(p, "prog", "tp_from_tailnet");
	}
	yajl_tree_free(v);
	out = tm_ok("status");
	assert_non_null(strstr(out, "tailplaned running"));
	if (link >= 0)
		assert_non_null(strstr(out, "links/lo-ingress"));

	tp_pins_loader_pidfile(tm.pin_root, path, sizeof(path));
	unlink(path);
	close(fd);
	if (link >= 0) {
		snprintf(path, sizeof(path), "%s/lo-ingress", links);
		unlink(path);
		close(link);
	}
	rmdir(links);
}

/* No arguments: the usage on stdout and status 0, as bpftool does. */
static void test_no_arguments_prints_usage(void **state)
{
	(void)state;
	tm_prints("Usage: tpctl [OPTIONS] OBJECT", "");
	/* in JSON mode help is null, as bpftool's */
	assert_string_equal(tm_ok("-j"), "null\n");
}

/*
 * -h or --help anywhere: the usage of the object on the line (the rest
 * of it is not parsed), tpctl's without one; an unknown object is still
 * an error.
 */
static void test_help_option(void **state)
{
	(void)state;
	tm_prints("Usage: tpctl service add VIP:PORT/PROTO", "service add -h");
	tm_prints("Usage: tpctl nat list", "--help nat static add 1.2.3.4");
	tm_prints("Usage: tpctl monitor", "mon drops --help");
	tm_prints("Usage: tpctl [OPTIONS] OBJECT", "-h");
	assert_string_equal(tm_ok("-j stats -h"), "null\n");
	tm_fails("unknown object 'frob'", "frob -h");
}

/*
 * The interface cache is a map like the others: listed, dumped slot by
 * slot (an interface in its slot, the rest "none"), and never taken for
 * interfaces: status lists tp_ifaces' entries, each once.
 */
static void test_map_iface_slots(void **state)
{
	struct tp_iface ifc = { .zone = 3,
				.flags = TP_IFACE_F_L3 | TP_IFACE_F_TAILNET };
	const char *p_ifaces[] = { "interfaces", NULL };
	__u32 lo = if_nametoindex("lo");
	union tp_iface_slot s = { .word = 0 };
	const unsigned char *b = (const unsigned char *)&s;
	char want[64];
	const char *out;
	yajl_val v;

	(void)state;
	TM_REQUIRE();
	assert_true(lo > 0);
	assert_int_equal(tp_iface_set(&tm.maps, lo, &ifc), 0);
	tm_prints(TP_MAP_IFACE_SLOTS, "map list");
	assert_int_equal(tm_json_len(tm_ok("-j map dump tp_iface_slots")),
			 TP_IFACE_SLOTS);
	/* lo's slot, in hex as every map: its ifindex, flags, zone */
	s.ifindex = lo;
	s.flags = ifc.flags | TP_IFACE_SLOT_F_ONLY;
	s.zone = ifc.zone;
	snprintf(want, sizeof(want),
		 "value: %02x %02x %02x %02x %02x %02x %02x %02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7]);
	out = tm_ok("map dump iface_slots");
	if (!strstr(out, want))
		fail_msg("no slot of lo (%s) in:\n%.2000s", want, out);
	v = tm_json(tm_status(2, "-j status"));
	assert_int_equal(
		YAJL_GET_ARRAY(yajl_tree_get(v, p_ifaces, yajl_t_array))->len,
		1);
	yajl_tree_free(v);
}

/*
 * `status` is the liveness and readiness probe: 0 healthy, 1 an error
 * (it cannot tell), 2 tailplaned not running, 3 a map not pinned (the
 * datapath is not loaded; before 2).  The status prints in every case.
 */
static void test_status_exit(void **state)
{
	const char *p_exit[] = { "health", "exit_status", NULL };
	const char *p_ok[] = { "health", "ok", NULL };
	const char *p_why[] = { "health", "error", NULL };
	const char *p_run[] = { "loader", "running", NULL };
	char pidfile[PATH_MAX], why[2 * PATH_MAX], want[2 * PATH_MAX + 16];
	char pin[PATH_MAX], aside[PATH_MAX];
	struct tm_res r;
	yajl_val v;
	int fd;

	TM_REQUIRE();
	tp_pins_loader_pidfile(tm.pin_root, pidfile, sizeof(pidfile));
	tm_status(2, "status");
	snprintf(why, sizeof(why),
		 "tailplaned is not running for %s (no tailplaned holds %s)",
		 tm.pin_root, pidfile);
	snprintf(want, sizeof(want), "Error: %s\n", why);
	assert_string_equal(tm_last_err, want);
	v = tm_json(tm_status(2, "-j status"));
	assert_true(YAJL_IS_FALSE(yajl_tree_get(v, p_run, yajl_t_any)));
	assert_true(YAJL_IS_FALSE(yajl_tree_get(v, p_ok, yajl_t_any)));
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, p_exit, yajl_t_number)), 2);
	assert_string_equal(
		YAJL_GET_STRING(yajl_tree_get(v, p_why, yajl_t_string)), why);
	yajl_tree_free(v);

	fd = tm_fake_loader();
	tm_status(0, "status");
	v = tm_json(tm_status(0, "-p status"));
	assert_true(YAJL_IS_TRUE(yajl_tree_get(v, p_ok, yajl_t_any)));
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, p_exit, yajl_t_number)), 0);
	assert_null(yajl_tree_get(v, p_why, yajl_t_any));
	yajl_tree_free(v);

	/* a map not pinned: 3, with the loader running or not */
	snprintf(pin, sizeof(pin), "%s/%s", tm.pin_root, TP_MAP_FRAGS);
	snprintf(aside, sizeof(aside), "%s/frags_aside", tm.pin_root);
	assert_int_equal(rename(pin, aside), 0);
	tm_status(3, "status");
	snprintf(
		want, sizeof(want),
		"Error: map tp_frags is not pinned under %s: the pins are incomplete or from another version; restart tailplaned\n",
		tm.pin_root);
	assert_string_equal(tm_last_err, want);
	v = tm_json(tm_status(3, "-j status"));
	assert_int_equal(
		YAJL_GET_INTEGER(yajl_tree_get(v, p_exit, yajl_t_number)), 3);
	yajl_tree_free(v);
	unlink(pidfile);
	close(fd);
	tm_status(3, "status");
	assert_int_equal(rename(aside, pin), 0);
	tm_status(2, "status");

	/* no pin root at all: 3 as well, with the usual advice */
	tm_exec(&r, NULL, 0, "/nonexistent/pins", "status");
	assert_int_equal(r.status, 3);
	assert_non_null(strstr(r.out, "loader    not running"));
	assert_string_equal(
		r.err,
		"Error: no tailplane maps pinned: /nonexistent/pins does not exist; start tailplaned, or give the right --pin-root\n");
	tm_res_free(&r);

	/* cannot read the maps (not root): it cannot tell, 1 */
	tm_exec(&r, NULL, 65534, tm.pin_root, "status");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "pin root"));
	assert_non_null(strstr(
		r.err, "Error: permission denied on the pinned maps under"));
	tm_res_free(&r);

	/* usage errors and help are as for every command */
	tm_fails("unexpected 'now' after 'status'", "status now");
	tm_ok("status help");
	/* inside a batch, status is output: it does not fail the line */
	tm_exec(&r, "status\n", 0, tm.pin_root, "batch -");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "loader    not running"));
	tm_res_free(&r);
}

/* ---- monitor -------------------------------------------------------------------- */

/* A UDP packet from the tailnet through tp_from_tailnet (Ethernet, lo). */
static void tm_send_udp(const char *src, const char *dst, __u16 dport)
{
	struct pkt_spec s = { .l2 = 1,
			      .family = AF_INET,
			      .saddr = src,
			      .daddr = dst,
			      .proto = IPPROTO_UDP,
			      .sport = 5000,
			      .dport = dport };
	struct pkt p;
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	assert_int_equal(pkt_build(&s, &p), 0);
	opts.data_in = p.data;
	opts.data_size_in = p.len;
	assert_int_equal(
		bpf_prog_test_run_opts(
			bpf_program__fd(tm.skel->progs.tp_from_tailnet), &opts),
		0);
}

/* Start tpctl in the background with its stdout in a memfd. */
static pid_t tm_spawn(const char *line, int *out_fd)
{
	char buf[512], *argv[32];
	pid_t pid;

	*out_fd = memfd_create("out", 0);
	assert_true(*out_fd >= 0);
	snprintf(buf, sizeof(buf), "%s", line);
	tm_argv(buf, argv, TM_ARRAY_SIZE(argv), tm.pin_root);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(*out_fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Wait up to @ms for @pid; its exit status, or -1 (then it is killed). */
static int tm_wait(pid_t pid, int ms)
{
	int st, i;

	for (i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void test_monitor(void **state)
{
	struct tp_iface ifc = { .zone = 1, .flags = TP_IFACE_F_TAILNET };
	__u32 lo = if_nametoindex("lo");
	int fd, status;
	char *out, *nl;
	pid_t pid;
	yajl_val v;

	TM_REQUIRE();
	/* test_run frames arrive on lo: make it an Ethernet interface of zone 1 */
	assert_int_equal(tp_iface_set(&tm.maps, lo, &ifc), 0);
	tm_ok("policy default deny zone 1");
	tm_ok("identity add 100.64.0.0/10 300 name peer zone 1");

	pid = tm_spawn("monitor drops count 1", &fd);
	usleep(300000);
	tm_send_udp("100.64.0.1", "198.18.1.1", 53);
	status = tm_wait(pid, 3000);
	out = tm_slurp(fd);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, " deny "));
	assert_non_null(strstr(out, "100.64.0.1:5000 -> 198.18.1.1:53"));
	assert_non_null(strstr(out, "peer(300)"));
	assert_non_null(strstr(out, "reason policy"));
	assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
	free(out);

	/* JSON: one object per line */
	pid = tm_spawn("-j monitor count 2", &fd);
	usleep(300000);
	tm_send_udp("100.64.0.2", "198.18.1.1", 53);
	tm_send_udp("100.64.0.3", "198.18.1.1", 54);
	status = tm_wait(pid, 3000);
	out = tm_slurp(fd);
	assert_int_equal(status, 0);
	nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	v = tm_json(out);
	tm_json_str_is(v, "type", "deny");
	yajl_tree_free(v);
	v = tm_json(nl + 1);
	yajl_tree_free(v);
	free(out);

	/* audit only: a deny is not shown; Ctrl-C ends it cleanly */
	pid = tm_spawn("monitor audit", &fd);
	usleep(300000);
	tm_send_udp("100.64.0.4", "198.18.1.1", 53);
	usleep(200000);
	kill(pid, SIGINT);
	status = tm_wait(pid, 3000);
	out = tm_slurp(fd);
	assert_int_equal(status, 0);
	assert_string_equal(out, "");
	free(out);
}

/* ---- batch ------------------------------------------------------------------------ */

static char *tm_batch_10k(void)
{
	size_t cap = 1 << 20, len = 0;
	char *b = malloc(cap);
	int s, i, n = 0;

	assert_non_null(b);
#define ADD(...)                                                  \
	do {                                                      \
		len += snprintf(b + len, cap - len, __VA_ARGS__); \
		n++;                                              \
	} while (0)
	len += snprintf(b, cap,
			"# a bulk load: services, backends, peers, rules\n");
	for (s = 0; s < 10; s++) {
		ADD("service add 198.19.1.%d:80/tcp\n", s + 1);
		for (i = 0; i < 10; i++)
			ADD("backend add 198.19.1.%d:80/tcp 198.18.%d.%d:8080 weight %d\n",
			    s + 1, s, i + 1, i + 1);
	}
	for (i = 0; i < 100; i++)
		ADD("identity add 198.18.100.%d 10%02d name app-%d\n", i, i, i);
	for (i = 0; i < 100; i++)
		ADD("policy add from app-%d to any proto tcp port %d allow zone 1\n",
		    i, 1000 + i);
	while (n < 10000) {
		i = n;
		ADD("identity add 100.%d.%d.%d tailnet zone 1\n",
		    64 + (i >> 16), (i >> 8) & 255, i & 255);
	}
#undef ADD
	assert_true(len < cap);
	return b;
}

/*
 * Run a batch file of @n lines; it must succeed.  Returns its wall time
 * in s, *@cpu_s the CPU time tpctl used.
 */
static double tm_batch_file(const char *lines, int n, double *cpu_s)
{
	char path[PATH_MAX], line[PATH_MAX + 8], want[64];
	struct tm_res r;
	double s;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/tpctl-test-batch.%d", getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(lines, f);
	fclose(f);
	snprintf(line, sizeof(line), "batch %s", path);
	tm_exec(&r, NULL, 0, tm.pin_root, line);
	unlink(path);
	if (r.status)
		fail_msg("batch failed: %s", r.err);
	snprintf(want, sizeof(want), "processed %d commands\n", n);
	assert_string_equal(r.out, want);
	s = r.ns / 1e9;
	if (cpu_s)
		*cpu_s = r.cpu_ns / 1e9;
	tm_res_free(&r);
	return s;
}

static void test_batch(void **state)
{
	char *lines = tm_batch_10k();
	double wall, cpu;
	int s;

	TM_REQUIRE();
	wall = tm_batch_file(lines, 10000, &cpu);
	free(lines);
	print_message("batch of 10,000 lines: %.3f s (CPU %.3f s)\n", wall,
		      cpu);
	/* recorded, not asserted: a loaded machine stretches wall time (make bench) */
	assert_int_equal(tm_count(tm.maps.services), 10);
	assert_int_equal(tm_count(tm.maps.backends), 100);
	assert_int_equal(tm_count(tm.maps.rules), 100);
	assert_int_equal(tm_count(tm.maps.identity), 100 + 10000 - 310);
	for (s = 0; s < 10; s++) {
		char svc[32];

		snprintf(svc, sizeof(svc), "198.19.1.%d:80/tcp", s + 1);
		assert_int_equal(tm_check_service(svc), 10);
	}
}

/*
 * A batch of services only: 1,000 services of 9 backends, 10,000 lines,
 * each service's table built once at the end (timing recorded).
 */
static void test_batch_services_10k(void **state)
{
	size_t cap = 1 << 20, len = 0;
	char *b = malloc(cap), svc[32];
	struct tm_res r;
	int s, i;

	TM_REQUIRE();
	assert_non_null(b);
	for (s = 0; s < 1000; s++) {
		len += snprintf(b + len, cap - len,
				"service add 198.19.%d.%d:80/tcp\n", s / 250,
				s % 250 + 1);
		for (i = 0; i < 9; i++)
			len += snprintf(
				b + len, cap - len,
				"backend add 198.19.%d.%d:80/tcp 198.18.%d.%d:%d\n",
				s / 250, s % 250 + 1, s / 250, s % 250 + 1,
				8080 + i);
	}
	assert_true(len < cap);
	tm_exec(&r, b, 0, tm.pin_root, "batch -");
	free(b);
	if (r.status)
		fail_msg("batch failed: %s", r.err);
	assert_string_equal(r.out, "processed 10000 commands\n");
	print_message(
		"batch of 10,000 service and backend lines (1,000 services): %.3f s "
		"(CPU %.3f s)\n",
		r.ns / 1e9, r.cpu_ns / 1e9);
	tm_res_free(&r);
	assert_int_equal(tm_count(tm.maps.services), 1000);
	assert_int_equal(tm_count(tm.maps.backends), 9000);
	for (s = 0; s < 1000; s += 333) {
		snprintf(svc, sizeof(svc), "198.19.%d.%d:80/tcp", s / 250,
			 s % 250 + 1);
		assert_int_equal(tm_check_service(svc), 9);
	}
}

/*
 * A line that reads services back sees the tables of the lines before it:
 * the batch builds them first.
 */
/* Batch lines: TM_VIP with two backends. */
#define TM_VIP_TWO_BACKENDS                        \
	"service add " TM_VIP "\n"                 \
	"backend add " TM_VIP " 198.18.1.1:8080\n" \
	"backend add " TM_VIP " 198.18.1.2:8080\n"

/*
 * Services a batch deletes: gone with their backends at the end, however
 * many; one deleted and added again in the same batch is the new one,
 * with only its new backends.
 */
static void test_batch_deletes(void **state)
{
	struct tm_res r;

	TM_REQUIRE();
	tm_exec(&r,
		TM_VIP_TWO_BACKENDS
		"service add 198.19.0.11:80/tcp\n"
		"backend add 198.19.0.11:80/tcp 198.18.1.3:8080\n",
		0, tm.pin_root, "batch -");
	if (r.status)
		fail_msg("batch failed: %s", r.err);
	tm_res_free(&r);
	assert_int_equal(tm_count(tm.maps.backends), 3);
	tm_exec(&r,
		"service del " TM_VIP "\n"
		"service del 198.19.0.11:80/tcp\n"
		"service add " TM_VIP "\n"
		"backend add " TM_VIP " 198.18.1.4:8080\n",
		0, tm.pin_root, "batch -");
	if (r.status)
		fail_msg("batch failed: %s", r.err);
	tm_res_free(&r);
	assert_int_equal(tm_count(tm.maps.services), 1);
	assert_int_equal(tm_count(tm.maps.backends), 1);
	assert_int_equal(tm_check_service(TM_VIP), 1);
}

static void test_batch_flush_before_read(void **state)
{
	static const char *const p_out[] = { "output", NULL };
	static const char *const p_active[] = { "active", NULL };
	static const char *const p_size[] = { "table_size", NULL };
	yajl_val v, list, out;
	struct tm_res r;

	TM_REQUIRE();
	tm_exec(&r,
		TM_VIP_TWO_BACKENDS "service list\n"
				    "backend add " TM_VIP " 198.18.1.3:8080\n",
		0, tm.pin_root, "-j batch -");
	if (r.status)
		fail_msg("batch failed: %s", r.err);
	v = tm_json(r.out);
	assert_int_equal(YAJL_GET_ARRAY(v)->len, 5);
	list = YAJL_GET_ARRAY(v)->values[3];
	out = yajl_tree_get(list, (const char **)p_out, yajl_t_array);
	assert_non_null(out);
	assert_int_equal(YAJL_GET_ARRAY(out)->len, 1);
	out = YAJL_GET_ARRAY(out)->values[0];
	assert_non_null(
		yajl_tree_get(out, (const char **)p_active, yajl_t_number));
	assert_int_equal(YAJL_GET_INTEGER(yajl_tree_get(
				 out, (const char **)p_active, yajl_t_number)),
			 2);
	assert_int_equal(YAJL_GET_INTEGER(yajl_tree_get(
				 out, (const char **)p_size, yajl_t_number)),
			 257);
	yajl_tree_free(v);
	tm_res_free(&r);
	/* and the end of the batch built the last change */
	assert_int_equal(tm_check_service(TM_VIP), 3);
}

static void test_batch_errors(void **state)
{
	const char *file = "service add " TM_VIP "\n"
			   "# comment\n"
			   "backend add " TM_VIP " 198.18.1.1:8080\n"
			   "backend add " TM_VIP " 198.18.1.300:8080\n"
			   "backend add " TM_VIP " 198.18.1.2:8080\n";
	struct tm_res r;
	yajl_val v;

	TM_REQUIRE();
	tm_exec(&r, file, 0, tm.pin_root, "batch -");
	assert_int_equal(r.status, 1);
	assert_string_equal(
		r.err,
		"Error: line 4: bad backend address '198.18.1.300:8080': expected ADDR:PORT "
		"(the batch stopped there; the 2 commands before it were applied)\n");
	tm_res_free(&r);
	assert_int_equal(tm_check_service(TM_VIP), 1);

	tm_exec(&r, "service del " TM_VIP "\nservice list\nbackend frob\n", 0,
		tm.pin_root, "-j batch -");
	assert_int_equal(r.status, 1);
	v = tm_json(r.out);
	assert_int_equal(YAJL_GET_ARRAY(v)->len, 3);
	yajl_tree_free(v);
	assert_string_equal(r.err, "");
	tm_res_free(&r);

	tm_exec(&r, "monitor\n", 0, tm.pin_root, "batch -");
	assert_string_equal(
		r.err, "Error: line 1: 'monitor' cannot run inside a batch "
		       "(the batch stopped there; nothing was applied)\n");
	tm_res_free(&r);
	tm_exec(&r, NULL, 0, tm.pin_root, "batch /nonexistent/file");
	assert_string_equal(
		r.err,
		"Error: cannot open batch file '/nonexistent/file': No such file or directory\n");
	tm_res_free(&r);
}

/*
 * Run tpctl with stdin a unix socket that delivers @in and then fails
 * with ECONNRESET (its peer closed with data of ours unread): a read
 * error after some lines.
 */
static void tm_exec_reset(struct tm_res *r, const char *in, const char *line)
{
	char buf[1024], *argv[64];
	int fo = memfd_create("out", 0), fe = memfd_create("err", 0), sv[2], st;
	pid_t pid;

	assert_true(fo >= 0 && fe >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], in, strlen(in)), (ssize_t)strlen(in));
	assert_int_equal(write(sv[0], "x", 1), 1); /* left unread in sv[1] */
	assert_int_equal(close(sv[1]), 0);
	snprintf(buf, sizeof(buf), "%s", line);
	tm_argv(buf, argv, TM_ARRAY_SIZE(argv), tm.pin_root);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(sv[0], 0);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(sv[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r->out = tm_slurp(fo);
	r->err = tm_slurp(fe);
}

/*
 * A batch file that cannot be read is an error naming where it stopped,
 * not an end of file ("processed 0 commands", exit 0); a NUL byte is an
 * error naming its line, not the end of the line.
 */
static void test_batch_read_errors(void **state)
{
	static const char nul[] =
		"service add " TM_VIP "\n"
		"backend add " TM_VIP " 198.18.1.1:8080\0 weight 9\n"
		"backend add " TM_VIP " 198.18.1.2:8080\n";
	char path[PATH_MAX], line[PATH_MAX + 16];
	struct tm_res r;
	int fd;

	TM_REQUIRE();
	/* a directory */
	tm_exec(&r, NULL, 0, tm.pin_root, "batch /");
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(
		r.err,
		"Error: reading batch file '/' at line 1: Is a directory "
		"(the batch stopped there; nothing was applied)\n");
	tm_res_free(&r);
	tm_exec(&r, NULL, 0, tm.pin_root, "-j batch /");
	assert_int_equal(r.status, 1);
	assert_string_equal(
		r.out, "[{\"error\":\"reading batch file '/' at line 1: Is a "
		       "directory (the batch stopped there; nothing was "
		       "applied)\"}]\n");
	assert_string_equal(r.err, "");
	tm_res_free(&r);

	/* a read error after two lines */
	tm_exec_reset(&r,
		      "service add " TM_VIP "\nbackend add " TM_VIP
		      " 198.18.1.1:8080\n",
		      "batch -");
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(
		r.err,
		"Error: reading batch file '-' at line 3: Connection reset "
		"by peer (the batch stopped there; the 2 commands before "
		"it were applied)\n");
	tm_res_free(&r);
	assert_int_equal(tm_check_service(TM_VIP), 1);
	tm_ok("service del " TM_VIP);

	/* a NUL byte in line 2: its words after the NUL are not dropped */
	snprintf(path, sizeof(path), "/tmp/tpctl-test-nul.%d", getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, nul, sizeof(nul) - 1),
			 (ssize_t)sizeof(nul) - 1);
	close(fd);
	snprintf(line, sizeof(line), "batch %s", path);
	tm_exec(&r, NULL, 0, tm.pin_root, line);
	unlink(path);
	assert_int_equal(r.status, 1);
	assert_string_equal(
		r.err,
		"Error: line 2: a NUL byte at column 47 (the batch stopped "
		"there; the 1 command before it was applied)\n");
	tm_res_free(&r);
	assert_int_equal(tm_check_service(TM_VIP), 0);
}

/* ---- services at scale -------------------------------------------------------------- */

/* The frontend and the backend of scale service @i: 10.(i>>16).(i>>8).i and 172.x */
static void tm_scale_key(unsigned int i, struct tp_svc_key *k)
{
	char a[32];

	snprintf(a, sizeof(a), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255,
		 i & 255);
	memset(k, 0, sizeof(*k));
	k->vip = tm_addr(a);
	k->port = htons(80);
	k->proto = IPPROTO_TCP;
}

/*
 * Services [@from, @to) staged and flushed, each with @n_be backends
 * (172.16.x.y:8080 upwards); returns the seconds it took.
 */
static double tm_scale_fill(const struct tp_maps *m, unsigned int from,
			    unsigned int to, unsigned int n_be)
{
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs[TP_MAX_SVC_BACKENDS] = {};
	struct tp_svc_batch *b = tp_svc_batch_new();
	struct tp_svc_key k;
	unsigned int i, j;
	char a[32];
	__u64 t0 = tm_now(CLOCK_MONOTONIC);

	assert_non_null(b);
	for (j = 0; j < n_be; j++) {
		snprintf(a, sizeof(a), "172.16.%u.%u", j / 250, j % 250 + 1);
		bs[j].addr = tm_addr(a);
		bs[j].port = htons(8080);
		bs[j].weight = 1;
	}
	for (i = from; i < to; i++) {
		tm_scale_key(i, &k);
		assert_int_equal(tp_service_stage(m, b, &k, &spec, bs, n_be, i),
				 0);
		/* flush now and then: each table holds an fd until then */
		if ((i - from) % 4096 == 4095)
			assert_int_equal(tp_svc_batch_flush(m, b, NULL, NULL),
					 0);
	}
	assert_int_equal(tp_svc_batch_flush(m, b, NULL, NULL), 0);
	tp_svc_batch_free(b);
	return (tm_now(CLOCK_MONOTONIC) - t0) / 1e9;
}

static int tm_double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

#define TM_SCALE_REPS 5

/*
 * The median time of tpctl adding then deleting a service, adding then
 * deleting a backend of an existing service, against pin root @root.
 */
static void tm_scale_ops(const char *root, const char *label, double *med)
{
	static const char *const ops[4] = {
		"service add 198.19.250.1:80/tcp",
		"backend add 10.0.0.1:80/tcp 172.17.0.1:8080",
		"backend del 10.0.0.1:80/tcp 172.17.0.1:8080",
		"service del 198.19.250.1:80/tcp",
	};
	double t[4][TM_SCALE_REPS];
	struct tm_res r;
	int rep, op;

	for (rep = 0; rep < TM_SCALE_REPS; rep++) {
		for (op = 0; op < 4; op++) {
			tm_exec(&r, NULL, 0, root, ops[op]);
			if (r.status)
				fail_msg("tpctl %s: %s", ops[op], r.err);
			t[op][rep] = r.ns / 1e6;
			tm_res_free(&r);
		}
	}
	for (op = 0; op < 4; op++) {
		qsort(t[op], TM_SCALE_REPS, sizeof(double), tm_double_cmp);
		med[op] = t[op][TM_SCALE_REPS / 2];
		print_message(
			"  %s: tpctl %-45s median %.2f ms (min %.2f, max %.2f)\n",
			label, ops[op], med[op], t[op][0],
			t[op][TM_SCALE_REPS - 1]);
	}
}

/*
 * One write costs the same with 10 or 100,000 services (and 100,000
 * backends) present: times recorded, not asserted.  A datapath of its
 * own under the scratch root, with room for 131,072 services.
 */
static void test_scale_writes(void **state)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	char root[PATH_MAX + 8];
	struct tailplane *skel;
	struct tp_maps sm;
	double small[4], big[4], fill;
	int op;

	TM_REQUIRE();
	snprintf(root, sizeof(root), "%s/scale", tm.pin_root);
	assert_int_equal(mkdir(root, 0700), 0);
	opts.pin_root_path = root;
	skel = tailplane__open_opts(&opts);
	assert_non_null(skel);
	bpf_map__set_max_entries(skel->maps.tp_services, 131072);
	bpf_map__set_max_entries(skel->maps.tp_maglev_slab,
				 tp_slab_chunks_for(131072));
	bpf_map__set_max_entries(skel->maps.tp_svc_stats,
				 TP_STAT_ELEMS(131072));
	bpf_map__set_max_entries(skel->maps.tp_svc_backends,
				 131072 + TP_MAX_BACKENDS);
	assert_int_equal(tailplane__load(skel), 0);
	assert_int_equal(tp_pins_open(&sm, root), 0);
	assert_int_equal(tp_service_maglev_cap_set(&sm, TP_MAGLEV_SIZE), 0);

	tm_scale_fill(&sm, 0, 10, 1);
	tm_scale_ops(root, "10 services", small);
	/* 1,000 services of 100 backends, 99,000 more of none */
	fill = tm_scale_fill(&sm, 10, 1000, 100);
	fill += tm_scale_fill(&sm, 1000, 100000, 0);
	print_message("  filled to %u services and %u backends in %.2f s\n",
		      tm_count(sm.services), tm_count(sm.backends), fill);
	tm_scale_ops(root, "100,000 services", big);
	for (op = 0; op < 4; op++)
		print_message("  op %d: %.2fx the time at 100,000 services\n",
			      op, big[op] / small[op]);
	tp_maps_close(&sm);
	tailplane__destroy(skel);
}

/* memlock of a map, 0 when unknown */
static long long tm_memlock(int fd)
{
	long long v = tp_fdinfo_field(fd, "memlock");

	return v < 0 ? 0 : v;
}

/* memlock of tp_maglev_slab and of every chunk in it (by their pins). */
static unsigned long long tm_maglev_memlock(const struct tp_maps *m,
					    unsigned int *chunks)
{
	unsigned long long sum = tm_memlock(m->maglev_slab);
	char path[PATH_MAX + 32];
	int fd;

	for (*chunks = 0;; (*chunks)++) {
		snprintf(path, sizeof(path), "%s/%s_%u", tm.pin_root,
			 TP_MAP_MAGLEV_SLAB, *chunks);
		fd = bpf_obj_get(path);
		if (fd < 0)
			break;
		sum += tm_memlock(fd);
		close(fd);
	}
	return sum;
}

/*
 * Maglev memory in proportion to the services that exist: memlock of the
 * slab and its chunks at 1, 1,000 and 65,535 services of one backend
 * each (recorded, not asserted; the flat layout before took
 * TP_MAX_SERVICES * 2 * maglev_size slots of 8 bytes whatever existed).
 */
static void test_scale_memory(void **state)
{
	static const unsigned int at[] = { 1, 1000, 65535 };
	unsigned long long mg, other;
	unsigned int i, from = 0, chunks;
	double t;

	TM_REQUIRE();
	for (i = 0; i < 3; i++) {
		t = tm_scale_fill(&tm.maps, from, at[i], 1);
		from = at[i];
		mg = tm_maglev_memlock(&tm.maps, &chunks);
		other = tm_memlock(tm.maps.services) +
			tm_memlock(tm.maps.backends) +
			tm_memlock(tm.maps.svc_backends);
		print_message(
			"  %u services (filled in %.2f s): tp_maglev_slab + %u chunks %.1f MiB; "
			"tp_services + tp_backends + tp_svc_backends %.1f MiB\n",
			at[i], t, chunks, mg / 1048576.0, other / 1048576.0);
	}
	print_message(
		"  the flat layout: %.1f MiB at 1,023 services (maglev_size %u), "
		"%.1f MiB for 65,535 of them, %.1f MiB at maglev_size 65521\n",
		1024.0 * 2 * TP_MAGLEV_SIZE * 8 / 1048576, TP_MAGLEV_SIZE,
		65536.0 * 2 * TP_MAGLEV_SIZE * 8 / 1048576,
		65536.0 * 2 * 65521 * 8 / 1048576);
}

/* ---- scale: one write with 10 and with 100,000 present ---------------------------- */

#define TM_PSCALE_N    100000
#define TM_PSCALE_REPS 7

/*
 * @n lines from @first on: identities 100000 + i, each a /32 in
 * 10.0.0.0/8 named scale-i; or rules, five per (src, dst) group of those
 * identities in zone 1: tcp 80, tcp 443, tcp 8000-8999, udp 53, tcp
 * 1024-65535 (15 tp_policy entries a group, 3 a rule on average).
 */
static char *tm_scale_lines(int first, int n, bool rules)
{
	static const char *const ports[5] = {
		"proto tcp port 80",	     "proto tcp port 443",
		"proto tcp port 8000-8999",  "proto udp port 53",
		"proto tcp port 1024-65535",
	};
	size_t cap = (size_t)n * 80 + 64, len = 0;
	char *b = malloc(cap);
	int i;

	assert_non_null(b);
	b[0] = '\0';
	for (i = first; i < first + n; i++)
		if (rules)
			len += snprintf(
				b + len, cap - len,
				"policy add from %d to %d %s %s zone 1\n",
				100000 + i / 5, 100001 + i / 5, ports[i % 5],
				i % 3 ? "allow" : "deny");
		else
			len += snprintf(
				b + len, cap - len,
				"identity add 10.%d.%d.%d/32 %d name scale-%d\n",
				(i >> 16) & 255, (i >> 8) & 255, i & 255,
				100000 + i, i);
	assert_true(len < cap);
	return b;
}

static int tm_ns_cmp(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* Median of @n times, in ms. */
static double tm_median_ms(__u64 *ns, int n)
{
	qsort(ns, n, sizeof(ns[0]), tm_ns_cmp);
	return ns[n / 2] / 1e6;
}

/* Median wall and CPU ms of one write, over TM_PSCALE_REPS fresh tpctl runs. */
struct tm_ms {
	double wall, cpu;
};

struct tm_times {
	__u64 wall[TM_PSCALE_REPS], cpu[TM_PSCALE_REPS];
};

static void tm_timed(struct tm_times *t, int i, const char *root,
		     const char *line)
{
	struct tm_res r;

	tm_exec(&r, NULL, 0, root, line);
	if (r.status)
		fail_msg("tpctl %s: %s", line, r.err);
	t->wall[i] = r.ns;
	t->cpu[i] = r.cpu_ns;
	tm_res_free(&r);
}

static void tm_medians(struct tm_times *t, struct tm_ms *ms)
{
	ms->wall = tm_median_ms(t->wall, TM_PSCALE_REPS);
	ms->cpu = tm_median_ms(t->cpu, TM_PSCALE_REPS);
}

/*
 * tpctl @add then @del, TM_PSCALE_REPS times, against pin roots @small
 * and @big in turn, so that both see the same load of a shared machine;
 * medians of each.
 */
static void tm_add_del_ms(const char *small, const char *big, const char *add,
			  const char *del, struct tm_ms ms[2][2])
{
	static struct tm_times t[2][2];
	const char *root[2] = { small, big };
	int i, w;

	for (i = 0; i < TM_PSCALE_REPS; i++) {
		for (w = 0; w < 2; w++) {
			tm_timed(&t[w][0], i, root[w], add);
			tm_timed(&t[w][1], i, root[w], del);
		}
	}
	for (w = 0; w < 2; w++) {
		tm_medians(&t[w][0], &ms[w][0]);
		tm_medians(&t[w][1], &ms[w][1]);
	}
}

/*
 * One rule and one named identity, each added and deleted by a fresh
 * tpctl, [small|big][add|del].  The rule names its identities by name,
 * so resolving names is timed with it; the rule's group (scale-3,
 * scale-4) holds batch rules as a real policy's would.
 */
static void tm_single_writes(const char *small, const char *big,
			     struct tm_ms rule[2][2], struct tm_ms ident[2][2])
{
	tm_add_del_ms(
		small, big,
		"policy add from scale-3 to scale-4 proto tcp port 5000-5999 allow zone 1",
		"policy del from scale-3 to scale-4 proto tcp port 5000-5999 zone 1",
		rule);
	tm_add_del_ms(small, big,
		      "identity add 192.168.77.1/32 99999 name scale-probe",
		      "identity del 192.168.77.1/32", ident);
}

/* A second scratch pin root with its own maps: @root, its skeleton in *@skel. */
static void tm_second_root(char *root, size_t len, struct tailplane **skel)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);

	snprintf(root, len, "%s-small", tm.pin_root);
	assert_int_equal(mkdir(root, 0700), 0);
	opts.pin_root_path = root;
	*skel = tailplane__open_opts(&opts);
	assert_non_null(*skel);
	assert_int_equal(tailplane__load(*skel), 0);
}

static void tm_print_ms(const char *what, const struct tm_ms *a,
			const struct tm_ms *b)
{
	print_message("  %-13s %6.2f (%5.2f) | %6.2f (%5.2f)\n", what, a->wall,
		      a->cpu, b->wall, b->cpu);
}

/*
 * Writes do not slow down with what is present: single rule and identity
 * writes with 10 and with 100,000 of each (two pin roots, timed in
 * turn), and 100,000 rules from one batch.  Times are printed, not
 * asserted (a shared machine); the counts and a rule are checked.
 */
static void test_scale_policy_writes(void **state)
{
	struct tm_ms rule[2][2], ident[2][2];
	double t_ids, t_rules, c_ids, c_rules;
	struct tailplane *small_skel = NULL;
	char small[PATH_MAX + 8], flag[PATH_MAX + 16], *lines;
	__u32 id;
	struct tp_rule match = { .src_id = 100000 + 4321,
				 .dst_id = 100000 + 4322,
				 .zone = 1,
				 .proto = IPPROTO_UDP,
				 .port_lo = 53,
				 .port_hi = 53 };
	const char *what[2][2] = { { "policy add", "policy del" },
				   { "identity add", "identity del" } };
	int k, op;

	TM_REQUIRE();
	tm_second_root(small, sizeof(small), &small_skel);
	for (k = 0; k < 2; k++) {
		lines = tm_scale_lines(0, 10, !!k);
		snprintf(flag, sizeof(flag), "batch -");
		{
			struct tm_res r;

			tm_exec(&r, lines, 0, small, flag);
			assert_int_equal(r.status, 0);
			tm_res_free(&r);
		}
		tm_batch_file(lines, 10, NULL);
		free(lines);
	}

	lines = tm_scale_lines(10, TM_PSCALE_N - 10, false);
	t_ids = tm_batch_file(lines, TM_PSCALE_N - 10, &c_ids);
	free(lines);
	print_message("batch of %d named identities: %.2f s (cpu %.2f s)\n",
		      TM_PSCALE_N - 10, t_ids, c_ids);
	lines = tm_scale_lines(10, TM_PSCALE_N - 10, true);
	t_rules = tm_batch_file(lines, TM_PSCALE_N - 10, &c_rules);
	free(lines);
	print_message("batch of %d rules: %.2f s (cpu %.2f s)\n",
		      TM_PSCALE_N - 10, t_rules, c_rules);
	assert_int_equal(tm_count(tm.maps.rules), TM_PSCALE_N);
	assert_int_equal(tm_count(tm.maps.id_names), TM_PSCALE_N);
	assert_int_equal(tm_count(tm.maps.policy), TM_PSCALE_N / 5 * 15);
	assert_int_equal(tp_policy_rule_find(&tm.maps, &match, &id), 0);

	tm_single_writes(small, tm.pin_root, rule, ident);
	print_message(
		"median of %d fresh tpctl runs, ms wall (cpu), with 10 | with %d "
		"present, run in turn:\n",
		TM_PSCALE_REPS, TM_PSCALE_N);
	for (op = 0; op < 2; op++) {
		tm_print_ms(what[0][op], &rule[0][op], &rule[1][op]);
		tm_print_ms(what[1][op], &ident[0][op], &ident[1][op]);
	}
	tailplane__destroy(small_skel);
	tm_rm_tree(small);
}

/* ---- full maps ---------------------------------------------------------------------- */

/*
 * A full map is an error naming the limit and what raises it, and
 * nothing is written: tp_identity full, every rule id in use.
 */
static void test_full_maps_named(void **state)
{
	struct tp_identity_key k = { .prefixlen = TP_IDENTITY_PLEN(128),
				     .zone = 500 };
	struct tp_identity_val v = { .id = 999,
				     .owner = TP_OWNER_TPCTL,
				     .plen = 128 };
	__u32 n, id, owner_id;
	char want[512];
	__u8 owner;

	TM_REQUIRE();
	for (n = 0;; n++) {
		k.addr.w[3] = htonl(n);
		if (bpf_map_update_elem(tm.maps.identity, &k, &v, BPF_NOEXIST))
			break;
	}
	assert_int_equal(errno, ENOSPC);
	/* the sizes from abi.h: the wording is the test, not the numbers */
	snprintf(
		want, sizeof(want),
		"cannot set identity of 198.18.1.0/24 in zone 0: tp_identity is full: "
		"%u prefixes; capacity.identities in the tailplaned configuration "
		"raises it\n",
		tp_map_max_entries(tm.maps.identity));
	tm_fails(want, "identity add 198.18.1.0/24 400");
	assert_int_equal(tm_identity(0, "198.18.1.0/24", &owner_id, &owner),
			 -ENOENT);

	for (id = 1; id < TP_MAX_RULES; id++) {
		struct tp_rule dummy = { .src_id = 1000000 + id,
					 .dst_id = 1,
					 .zone = 300,
					 .verdict = TP_VERDICT_ALLOW };

		assert_int_equal(bpf_map_update_elem(tm.maps.rules, &id, &dummy,
						     BPF_ANY),
				 0);
	}
	snprintf(
		want, sizeof(want),
		"cannot add rule from 300 to 301 proto tcp port 80: every rule id is "
		"in use: %u rules; capacity.rules in the tailplaned configuration "
		"raises it\n",
		tp_stat_ids_end(tm.maps.rule_stats) - 1);
	tm_fails(want, "policy add from 300 to 301 proto tcp port 80 allow");
}

/* ---- concurrent writers ------------------------------------------------------------ */

#define TM_WORKER_BACKENDS 8
#define TM_WORKER_SECONDS  5

/*
 * One writer: for TM_WORKER_SECONDS, add or remove one of its own
 * backends at random, each with a separate tpctl.  Reports (ops, failed
 * ops, the set of its backends that must exist) on @fd.
 */
static void tm_worker(int w, int fd)
{
	__u64 end = tm_now(CLOCK_MONOTONIC) + TM_WORKER_SECONDS * TM_NSEC;
	unsigned int seed = getpid(), mask = 0, ops = 0, fails = 0, i;
	char line[128];
	struct tm_res r;

	while (tm_now(CLOCK_MONOTONIC) < end) {
		i = rand_r(&seed) % TM_WORKER_BACKENDS;
		if (mask & (1u << i))
			snprintf(line, sizeof(line),
				 "backend del %s 198.18.%d.%u:8080", TM_VIP,
				 10 + w, i + 1);
		else
			snprintf(line, sizeof(line),
				 "backend add %s 198.18.%d.%u:8080 weight %u",
				 TM_VIP, 10 + w, i + 1, 1 + rand_r(&seed) % 3);
		tm_exec(&r, NULL, 0, tm.pin_root, line);
		if (r.status)
			fails++;
		else
			mask ^= 1u << i;
		ops++;
		tm_res_free(&r);
	}
	unsigned int rep[3] = { ops, fails, mask };

	if (write(fd, rep, sizeof(rep)) != sizeof(rep))
		_exit(2);
	_exit(0);
}

static void test_concurrent_writers(void **state)
{
	struct tp_svc_key k = tm_key(TM_VIP);
	__u32 ids[TP_MAX_SVC_BACKENDS];
	struct tp_backend bes[TP_MAX_SVC_BACKENDS];
	unsigned int rep[2][3], want[2] = {}, got[2] = {};
	struct tp_svc svc;
	int pfd[2][2], w, n, i, st;
	pid_t pid[2];

	TM_REQUIRE();
	tm_ok("service add " TM_VIP);
	for (w = 0; w < 2; w++) {
		assert_int_equal(pipe(pfd[w]), 0);
		pid[w] = fork();
		assert_true(pid[w] >= 0);
		if (!pid[w])
			tm_worker(w, pfd[w][1]);
		close(pfd[w][1]);
	}
	for (w = 0; w < 2; w++) {
		assert_int_equal(read(pfd[w][0], rep[w], sizeof(rep[w])),
				 sizeof(rep[w]));
		close(pfd[w][0]);
		assert_int_equal(waitpid(pid[w], &st, 0), pid[w]);
		print_message("writer %d: %u changes, %u failed\n", w,
			      rep[w][0], rep[w][1]);
		assert_int_equal(rep[w][1], 0);
		assert_true(rep[w][0] > 20);
		want[w] = rep[w][2];
	}
	/* every writer's last word holds: no update was lost */
	assert_int_equal(bpf_map_lookup_elem(tm.maps.services, &k, &svc), 0);
	n = tp_service_backends(&tm.maps, svc.id, ids, bes,
				TP_MAX_SVC_BACKENDS);
	for (i = 0; i < n; i++) {
		__u32 a = ntohl(bes[i].addr.w[3]);

		w = ((a >> 8) & 0xff) - 10;
		assert_true(w == 0 || w == 1);
		got[w] |= 1u << ((a & 0xff) - 1);
	}
	assert_int_equal(got[0], want[0]);
	assert_int_equal(got[1], want[1]);
	/* and the table is the table of exactly those backends */
	assert_int_equal(tm_check_service(TM_VIP), n);
	assert_int_equal(tm_count(tm.maps.backends), n);
}

/* ---- access errors -------------------------------------------------------------- */

static void test_access_errors(void **state)
{
	struct tm_res r;

	TM_REQUIRE();
	tm_exec(&r, NULL, 0, "/nonexistent/pins", "service list");
	assert_int_equal(r.status, 1);
	assert_string_equal(
		r.err,
		"Error: no tailplane maps pinned: /nonexistent/pins does not exist; start tailplaned, or give the right --pin-root\n");
	tm_res_free(&r);
	tm_exec(&r, NULL, 0, "/tmp", "identity list");
	assert_string_equal(
		r.err,
		"Error: /tmp is not on a BPF filesystem: mount one (mount -t bpf bpf /sys/fs/bpf) and start tailplaned\n");
	tm_res_free(&r);
	tm_exec(&r, NULL, 0, TM_BPFFS, "policy list");
	assert_int_equal(r.status, 1);
	assert_non_null(
		strstr(r.err, "no tailplane maps pinned under " TM_BPFFS));
	tm_res_free(&r);
	tm_exec(&r, NULL, 0, "/nonexistent/pins", "-j stats");
	assert_string_equal(
		r.out,
		"{\"error\":\"no tailplane maps pinned: /nonexistent/pins does not exist; start tailplaned, or give the right --pin-root\"}\n");
	assert_string_equal(r.err, "");
	tm_res_free(&r);

	/* without root */
	tm_exec(&r, NULL, 65534, tm.pin_root, "service list");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(
		r.err, "Error: permission denied on the pinned maps under"));
	assert_non_null(strstr(r.err, "run tpctl as root"));
	tm_res_free(&r);
	tm_exec(&r, NULL, 65534, tm.pin_root, "service add " TM_VIP);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "permission denied"));
	tm_res_free(&r);
	assert_int_equal(tm_count(tm.maps.services), 0);

	tm_exec(&r, NULL, 65534, tm.pin_root,
		"nat static add 100.64.1.1 198.18.1.1");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "permission denied"));
	tm_res_free(&r);
	assert_int_equal(tm_count(tm.maps.static_nat), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_service_roundtrip, tm_setup),
		cmocka_unit_test_setup(test_backend_roundtrip, tm_setup),
		cmocka_unit_test_setup(test_backend_mixed_family, tm_setup),
		cmocka_unit_test_setup(test_service_writer_maps, tm_setup),
		cmocka_unit_test_setup(test_identity_roundtrip, tm_setup),
		cmocka_unit_test_setup(test_guard_roundtrip, tm_setup),
		cmocka_unit_test_setup(test_nat_static_roundtrip, tm_setup),
		cmocka_unit_test_setup(test_policy_roundtrip, tm_setup),
		cmocka_unit_test_setup(test_conntrack, tm_setup),
		cmocka_unit_test_setup(test_conntrack_snat, tm_setup),
		cmocka_unit_test_setup(test_conntrack_rindex, tm_setup),
		cmocka_unit_test_setup(test_stats, tm_setup),
		cmocka_unit_test_setup(test_map_list_dump, tm_setup),
		cmocka_unit_test_setup(test_map_iface_slots, tm_setup),
		cmocka_unit_test_setup(test_status, tm_setup),
		cmocka_unit_test_setup(test_no_arguments_prints_usage,
				       tm_setup),
		cmocka_unit_test_setup(test_help_option, tm_setup),
		cmocka_unit_test_setup(test_status_exit, tm_setup),
		cmocka_unit_test_setup(test_monitor, tm_setup),
		cmocka_unit_test_setup(test_batch, tm_setup),
		cmocka_unit_test_setup(test_batch_services_10k, tm_setup),
		cmocka_unit_test_setup(test_batch_deletes, tm_setup),
		cmocka_unit_test_setup(test_batch_flush_before_read, tm_setup),
		cmocka_unit_test_setup(test_batch_errors, tm_setup),
		cmocka_unit_test_setup(test_full_maps_named, tm_setup),
		cmocka_unit_test_setup(test_batch_read_errors, tm_setup),
		cmocka_unit_test_setup(test_concurrent_writers, tm_setup),
		cmocka_unit_test_setup(test_scale_writes, tm_setup),
		cmocka_unit_test_setup(test_scale_policy_writes, tm_setup),
		cmocka_unit_test_setup(test_access_errors, tm_setup),
		/* last: the largest */
		cmocka_unit_test_setup(test_scale_memory, tm_setup),
	};
	int ret;

	/* TP_TEST_FILTER=test_scale_policy_writes: one test, while working on it */
	if (getenv("TP_TEST_FILTER"))
		cmocka_set_test_filter(getenv("TP_TEST_FILTER"));
	ret = cmocka_run_group_tests_name("tpctl_maps", tests, tm_group_setup,
					  tm_group_teardown);

	free(tm_last_out);
	free(tm_last_err);
	return ret;
}
