// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Attacks from a hostile review of the loader's restart from pinned
 * programs (3271722, merged at 21dbf45): PIN_ROOT/progs_<fingerprint>
 * holds the TC programs of the last full load, a restart with the same
 * fingerprint takes them and the maps from their pins, a first load runs
 * in a short-lived child.  An operator's bad day (a child killed while
 * pinning, a load killed before or after it replaced maps, the daemon
 * killed while its child loads, a daemon started with SIGCHLD ignored or
 * without CAP_SYS_ADMIN, a map replaced behind the programs' back) and a
 * local user with write access to bpffs (another program, or a map,
 * pinned under a program's name).
 *
 * The tests named test_fault_* failed on 21dbf45 and pin its fix; the
 * test_holds_* ones are attacks that held and must go on holding.
 *
 * bpf_obj_pin() and bpf_object__load_skeleton() are wrapped (Makefile):
 * a child of a test dies by SIGKILL (or hangs) at the moment it chooses,
 * as an OOM kill or an operator's kill -9 would do it.  They and
 * bpf_object__load() (the objects the programs load from in parallel)
 * also have the verifier reject a program a test names.
 *
 * The tests named test_parallel_* pin the parallel load of the programs
 * (one object per program, every map shared).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "conntrack.h"
#include "datapath.h"
#include "fixture.h"
#include "pins.h"
#include "pkttest.h"
#include "service.h"

/* ---- fault injection ---------------------------------------------------- */

/* In a test's child only: die at the pin of this program into progs_ */
static const char *kill_at_prog_pin;
/* In a test's child only: die right after the object's load (maps pinned) */
static bool kill_after_load;
/* In a test's child only: die right before it (incompatible pins moved aside) */
static bool kill_before_load;
/* In a test's child only: write the pid to this fd, then sleep, before it */
static int hang_before_load = -1;

int __real_bpf_obj_pin(int fd, const char *path);
int __wrap_bpf_obj_pin(int fd, const char *path)
{
	const char *base = strrchr(path, '/');

	if (kill_at_prog_pin && strstr(path, "/progs_") && base &&
	    !strcmp(base + 1, kill_at_prog_pin))
		raise(SIGKILL);
	return __real_bpf_obj_pin(fd, path);
}

/* The verifier rejects this program, in whichever object it loads from */
static const char *reject_prog;

/*
 * A sleepable TC classifier: the verifier refuses it ("Only fentry/fexit/
 * ... programs can be sleepable"), after the maps are made, as it would
 * refuse a program that does not verify.
 */
static void reject_in(struct bpf_object *obj)
{
	struct bpf_program *prog;

	if (!reject_prog)
		return;
	prog = bpf_object__find_program_by_name(obj, reject_prog);
	if (prog && bpf_program__autoload(prog))
		assert_int_equal(
			bpf_program__set_flags(prog, bpf_program__flags(prog) |
							     BPF_F_SLEEPABLE),
			0);
}

int __real_bpf_object__load(struct bpf_object *obj);
int __wrap_bpf_object__load(struct bpf_object *obj)
{
	reject_in(obj);
	return __real_bpf_object__load(obj);
}

/* The skeleton's load fails making a map, before any program loads */
static bool fail_map_create;

int __real_bpf_object__load_skeleton(struct bpf_object_skeleton *s);
int __wrap_bpf_object__load_skeleton(struct bpf_object_skeleton *s)
{
	int err;

	reject_in(*s->obj);
	if (fail_map_create)
		assert_int_equal(
			bpf_map__set_max_entries(bpf_object__find_map_by_name(
							 *s->obj, "tp_scratch"),
						 0),
			0);
	if (kill_before_load)
		raise(SIGKILL);
	if (hang_before_load >= 0) {
		pid_t me = getpid();

		if (write(hang_before_load, &me, sizeof(me)) != sizeof(me))
			_exit(3);
		sleep(20);
	}
	err = __real_bpf_object__load_skeleton(s);

	if (kill_after_load)
		raise(SIGKILL);
	return err;
}

/* ---- helpers ------------------------------------------------------------ */

#define PIN_PREFIX "tp-ldattack" /* the pin root: /sys/fs/bpf/tp-ldattack-PID */

/* A config of no real interface, pinning under the test's pin root. */
static void pin_cfg(struct tpd_config *cfg)
{
	fixture_pin_config(cfg, PIN_PREFIX);
}

/* pin_cfg(), and its pin root made ready on bpffs. */
static void prepared_cfg(struct tpd_config *cfg)
{
	pin_cfg(cfg);
	assert_int_equal(tpd_bpffs_prepare(cfg->pin_root), 0);
}

static int pins_teardown(void **state)
{
	(void)state;
	signal(SIGCHLD, SIG_DFL);
	if (!th_unavailable())
		fixture_pins_remove(
			"tp-ldattack"); /* what a failed test left */
	return 0;
}

/* The progs_ directories under the pin root: their count, the last's path. */
static int progs_dirs(const struct tpd_config *cfg, char *path, size_t len)
{
	struct dirent *de;
	DIR *d = opendir(cfg->pin_root);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "progs_", 6)) {
			snprintf(path, len, "%s/%s", cfg->pin_root, de->d_name);
			n++;
		}
	closedir(d);
	return n;
}

/* A full load, closed: the pins of a daemon that ran and exited. */
static void full_load(const struct tpd_config *cfg)
{
	struct tpd_datapath dp;

	assert_int_equal(tpd_datapath_load(&dp, cfg), 0);
	tpd_datapath_close(&dp);
}

/* Run @fn(@cfg) in a child; return its wait status. */
static int in_child(void (*fn)(const struct tpd_config *),
		    const struct tpd_config *cfg)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		fn(cfg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void load_killed_at_uplink_pin(const struct tpd_config *cfg)
{
	struct tpd_datapath dp;

	kill_at_prog_pin = "tp_from_uplink";
	tpd_datapath_load(&dp, cfg);
}

static void load_killed_after_load(const struct tpd_config *cfg)
{
	struct tpd_datapath dp;

	kill_after_load = true;
	tpd_datapath_load(&dp, cfg);
}

static void load_killed_before_load(const struct tpd_config *cfg)
{
	struct tpd_datapath dp;

	kill_before_load = true;
	tpd_datapath_load(&dp, cfg);
}

/* The pinned map @name's info; its fd in *@fd when @fd is not NULL. */
static struct bpf_map_info pin_info(const struct tpd_config *cfg,
				    const char *name, int *fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int map_fd;

	snprintf(path, sizeof(path), "%s/%s", cfg->pin_root, name);
	map_fd = bpf_obj_get(path);
	assert_true(map_fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(map_fd, &info, &len), 0);
	if (fd)
		*fd = map_fd;
	else
		close(map_fd);
	return info;
}

/*
 * Replace the pin @name by a new map of the same definition, made without
 * BTF (as bpftool map create, or an older tool, makes it); its id.
 */
static __u32 replace_pin(const struct tpd_config *cfg, const char *name)
{
	struct bpf_map_info info = pin_info(cfg, name, NULL);
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", cfg->pin_root, name);
	assert_int_equal(unlink(path), 0);
	fd = bpf_map_create(info.type, name, info.key_size, info.value_size,
			    info.max_entries, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	return pin_info(cfg, name, NULL).id;
}

/* A SCHED_CLS program "return TC_ACT_OK" named @name, its fd. */
static int tiny_tc_prog(const char *name)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, name, "GPL", insns, 2,
			       NULL);

	assert_true(fd >= 0);
	return fd;
}

/* Pin @fd at PROGS_DIR/@prog in place of what is there. */
static void repin(const struct tpd_config *cfg, const char *prog, int fd)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];

	assert_int_equal(progs_dirs(cfg, dir, sizeof(dir)), 1);
	snprintf(path, sizeof(path), "%s/%s", dir, prog);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
}

/*
 * repin() @fd (closed after) in place of program @prog: opening the pins
 * is refused.
 */
static void repin_refused(const struct tpd_config *cfg, const char *prog,
			  int fd)
{
	struct tpd_datapath dp;

	repin(cfg, prog, fd);
	close(fd);
	assert_int_not_equal(tpd_datapath_open_pinned(&dp, cfg), 0);
}

/* Drop CAP_SYS_ADMIN, keep the rest (this process only). */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
	d[CAP_SYS_ADMIN / 32].permitted &= ~(1u << (CAP_SYS_ADMIN % 32));
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

static void restart_without_sys_admin(const struct tpd_config *cfg)
{
	struct tpd_datapath dp;
	int err;

	if (drop_sys_admin())
		_exit(2);
	err = tpd_datapath_open_pinned(&dp, cfg);
	if (!err)
		tpd_datapath_close(&dp);
	_exit(err ? 1 : 0);
}

/* ---- tests ------------------------------------------------------------ */

/*
 * The deployed loader has CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON, not
 * CAP_SYS_ADMIN (deploy/tailplaned.service, the DaemonSet), and
 * BPF_MAP_GET_FD_BY_ID, which the check of the programs' maps used, needs
 * CAP_SYS_ADMIN: every restart was refused its pins (-EPERM), and a start
 * then loaded twice (in the child, whose pins were refused again, then in
 * the daemon).  The check must need no more than the daemon has.
 */
static void test_fault_restart_without_cap_sys_admin(void **state)
{
	struct tpd_config cfg;
	int status;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	full_load(&cfg);
	status = in_child(restart_without_sys_admin, &cfg);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	tpd_config_free(&cfg);
}

/*
 * The programs reach conntrack only through tp_ct_tables, an array of
 * maps that is not pinned and holds the tp_ct and tp_ct_any of their
 * load.  A tp_ct pinned anew since (an older loader's conversion, a
 * downgrade and upgrade, an operator resetting conntrack by hand) is not
 * among the maps the programs name: the check of map ids passed, and the
 * restart ran programs writing flows into a table nothing else sees (no
 * GC, no tpctl conntrack, no stale-UDP purge; the old table's memory
 * held by the pinned programs).
 */
static void test_fault_ct_replaced_behind_map_of_maps(void **state)
{
	static const char *const maps[] = { TP_MAP_CT, TP_MAP_CT_ANY };
	struct tpd_datapath dp;
	struct tpd_config cfg;
	size_t i;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	for (i = 0; i < 2; i++) {
		full_load(&cfg);
		assert_int_equal(tpd_datapath_open_pinned(&dp, &cfg), 0);
		tpd_datapath_close(&dp);
		replace_pin(&cfg, maps[i]);
		assert_int_equal(tpd_datapath_open_pinned(&dp, &cfg), -ESTALE);
	}
	tpd_config_free(&cfg);
}

/*
 * A tp_ct or tp_ct_any pinned anew without BTF (an operator resetting
 * conntrack with bpftool, an older tool) was reused as it was, and Linux
 * 6.1 refuses a map without BTF into tp_ct_tables, whose template has it
 * (bpf_map_meta_equal() compares their timer_off): every load failed with
 * EINVAL.  Such a pin is now moved aside and its flows copied into a map
 * made with BTF, once (the next load reuses that one).  Later kernels
 * took the map, so on them the test fails on the old code at the BTF of
 * the pin.
 */
static void test_fault_ct_pinned_without_btf(void **state)
{
	static const char *const maps[] = { TP_MAP_CT, TP_MAP_CT_ANY };
	static const __u8 protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	struct tp_ct_key k = { .sport = htons(40000), .dport = htons(53) };
	struct tp_ct_entry e = { .flags = TP_CT_F_EGRESS };
	struct bpf_map_info info;
	struct tpd_datapath dp;
	struct tpd_config cfg;
	char path[PATH_MAX];
	__u32 ids[2];
	size_t i;
	int fd;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	full_load(&cfg);
	for (i = 0; i < 2; i++) {
		assert_int_not_equal(
			pin_info(&cfg, maps[i], NULL).btf_value_type_id, 0);
		replace_pin(&cfg, maps[i]);
		info = pin_info(&cfg, maps[i], &fd);
		assert_int_equal(info.btf_value_type_id, 0);
		k.proto = protos[i];
		assert_int_equal(bpf_map_update_elem(fd, &k, &e, BPF_ANY), 0);
		close(fd);
	}
	full_load(&cfg);
	for (i = 0; i < 2; i++) {
		info = pin_info(&cfg, maps[i], &fd);
		assert_int_not_equal(info.btf_value_type_id, 0);
		ids[i] = info.id;
		k.proto = protos[i];
		memset(&e, 0, sizeof(e));
		assert_int_equal(bpf_map_lookup_elem(fd, &k, &e), 0);
		assert_int_equal(e.flags, TP_CT_F_EGRESS);
		close(fd);
		snprintf(path, sizeof(path), "%s/%s_old", cfg.pin_root,
			 maps[i]);
		assert_int_not_equal(access(path, F_OK), 0);
	}
	/* the programs' tables are the pinned ones, and stay */
	assert_int_equal(tpd_datapath_open_pinned(&dp, &cfg), 0);
	tpd_datapath_close(&dp);
	full_load(&cfg);
	for (i = 0; i < 2; i++)
		assert_int_equal(pin_info(&cfg, maps[i], NULL).id, ids[i]);
	tpd_config_free(&cfg);
}

/*
 * A loading child killed (OOM, kill -9) between two program pins left a
 * progs_ directory of the right name without tp_from_uplink, and a
 * missing tp_from_uplink reads as "an object built without it": the next
 * start took the directory and left every uplink without its program
 * (replies of SNAT flows not restored) until a full load.
 */
static void test_fault_child_killed_while_pinning(void **state)
{
	struct tpd_datapath dp;
	struct tpd_config cfg;
	int status, err;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	status = in_child(load_killed_at_uplink_pin, &cfg);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	err = tpd_datapath_open_pinned(&dp, &cfg);
	if (!err) {
		bool uplink = dp.uplink_prog;

		tpd_datapath_close(&dp);
		assert_true(uplink);
	}
	/* a full load afterwards takes over, and its pins are complete */
	full_load(&cfg);
	assert_int_equal(tpd_datapath_open_pinned(&dp, &cfg), 0);
	assert_true(dp.uplink_prog);
	tpd_datapath_close(&dp);
	tpd_config_free(&cfg);
}

/*
 * A full load that replaces maps (a capacity change) and dies before it
 * pins its programs left the previous load's progs_ directory in place:
 * programs that hold the replaced maps alive (a conntrack table of the
 * old capacity is preallocated memory) for as long as the directory
 * stays, which is until some later full load.
 */
static void test_fault_killed_load_leaves_old_programs(void **state)
{
	struct tpd_config cfg;
	char dir[PATH_MAX];
	int status;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	full_load(&cfg);
	assert_int_equal(progs_dirs(&cfg, dir, sizeof(dir)), 1);
	cfg.capacity[TPD_CAP_CONNTRACK_TCP] *= 2;
	status = in_child(load_killed_after_load, &cfg);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* the maps were replaced: no directory names programs of the old ones */
	assert_int_equal(progs_dirs(&cfg, dir, sizeof(dir)), 0);
	tpd_config_free(&cfg);
}

/*
 * A load killed after it moved the pins that do not fit its object aside
 * (PIN_ROOT/tp_ct_old: a capacity change) and before it pinned the new
 * maps: the next load found no tp_ct, made an empty one (every flow
 * forgotten), and tp_ct_old stayed pinned for good (its memory, the
 * flows the running programs still use).  The map moved aside is put
 * back first, then migrated as it would have been.
 */
static void test_fault_killed_load_loses_moved_maps(void **state)
{
	struct tp_ct_key k = { .sport = htons(40000),
			       .dport = htons(80),
			       .proto = IPPROTO_TCP };
	struct tp_ct_entry e = {};
	struct tpd_config cfg;
	char path[PATH_MAX];
	int status, fd;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	full_load(&cfg);
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_CT);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &k, &e, BPF_ANY), 0);
	close(fd);
	cfg.capacity[TPD_CAP_CONNTRACK_TCP] *= 2;
	status = in_child(load_killed_before_load, &cfg);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	full_load(&cfg);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &e), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/%s_old", cfg.pin_root, TP_MAP_CT);
	assert_int_not_equal(access(path, F_OK), 0);
	tpd_config_free(&cfg);
}

/*
 * The daemon killed (kill -9, OOM) while its child loads: the child went
 * on with the instance lock (an flock of the file both share), so the
 * daemon's restart was refused ("another tailplaned runs") until the
 * child was done, however long that took.  The child dies with the
 * daemon (the loads are safe to kill now).
 */
static void test_fault_child_outlives_daemon(void **state)
{
	struct tpd_config cfg;
	int fds[2], status;
	pid_t daemon, child;
	long rss;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	/* the child, orphaned, becomes ours to wait for */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	daemon = fork();
	assert_true(daemon >= 0);
	if (!daemon) {
		close(fds[0]);
		hang_before_load = fds[1];
		_exit(tpd_datapath_load_child(&cfg, &rss) ? 1 : 0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &child, sizeof(child)), sizeof(child));
	close(fds[0]);
	kill(daemon, SIGKILL);
	assert_int_equal(waitpid(daemon, &status, 0), daemon);
	assert_int_equal(waitpid(child, &status, 0), child);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	tpd_config_free(&cfg);
}

/* The early step of a cold start that kills the loading child. */
static void early_kill_child(const struct tpd_datapath *dp,
			     const struct tpd_load_child *lc, void *ctx)
{
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs = { .port = htons(8080), .weight = 1 };
	int *calls = ctx;

	(*calls)++;
	bs.addr = pt_addr(BE4[0]);
	assert_int_equal(tp_service_set(&dp->maps, &k, &spec, &bs, 1), 0);
	assert_int_equal(kill(lc->pid, SIGKILL), 0);
}

/* Just count: the early step of a cold start. */
static void early_count(const struct tpd_datapath *dp,
			const struct tpd_load_child *lc, void *ctx)
{
	(void)dp;
	(void)lc;
	(*(int *)ctx)++;
}

/*
 * The child killed (OOM, kill -9) after a cold start wrote the
 * configuration into the maps it made, while the verifier ran: libbpf
 * could not unpin them as after a failed load, and the next start would
 * have taken maps holding a configuration no program ever served.  The
 * daemon unpins them: the next start is a cold start again.
 */
static void test_fault_child_killed_after_maps_written(void **state)
{
	struct tpd_datapath dp;
	struct tpd_config cfg;
	int calls = 0;
	bool applied;
	long rss;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	assert_int_equal(tpd_datapath_start_child(&dp, &cfg, &rss,
						  early_kill_child, &calls,
						  &applied),
			 -ECHILD);
	assert_int_equal(calls, 1);
	assert_false(applied);
	assert_int_equal(fixture_pins_count(&cfg), 0);
	/* nothing pinned: the next start writes early again */
	calls = 0;
	assert_int_equal(tpd_datapath_start_child(&dp, &cfg, &rss, early_count,
						  &calls, &applied),
			 0);
	assert_int_equal(calls, 1);
	assert_true(applied);
	assert_int_equal(fixture_pins_count(&cfg), tp_pin_maps_n);
	tpd_datapath_close(&dp);
	tpd_config_free(&cfg);
}

/*
 * The fingerprint (FNV-1a, 64 bits) was the only check that the pinned
 * programs carry the configuration's knobs and the maps its capacities:
 * a collision (or a knob added to the load and forgotten in the
 * fingerprint) ran programs of other timeouts over maps of other sizes.
 * The directory of another configuration renamed to this one's name
 * stands for that here.
 */
static void test_fault_fingerprint_only_check(void **state)
{
	struct tpd_datapath dp;
	struct tpd_config cfg;
	char dir_b[PATH_MAX], dir_a[PATH_MAX];
	int round;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	for (round = 0; round < 2; round++) {
		/* B: the configuration that restarts; A: the one pinned */
		if (round == 0)
			cfg.ct_timeout[1]++;
		else
			cfg.capacity[TPD_CAP_RULES] *= 2;
		full_load(&cfg);
		assert_int_equal(progs_dirs(&cfg, dir_b, sizeof(dir_b)), 1);
		if (round == 0)
			cfg.ct_timeout[1]--;
		else
			cfg.capacity[TPD_CAP_RULES] /= 2;
		full_load(&cfg);
		assert_int_equal(progs_dirs(&cfg, dir_a, sizeof(dir_a)), 1);
		assert_int_equal(rename(dir_a, dir_b), 0);
		if (round == 0)
			cfg.ct_timeout[1]++;
		else
			cfg.capacity[TPD_CAP_RULES] *= 2;
		assert_int_equal(tpd_datapath_open_pinned(&dp, &cfg), -ESTALE);
		if (round == 0)
			cfg.ct_timeout[1]--;
		else
			cfg.capacity[TPD_CAP_RULES] /= 2;
	}
	tpd_config_free(&cfg);
}

/*
 * SIGCHLD ignored is inherited across exec (a supervisor, a shell
 * script's trap, a container runtime's init): the child is reaped by the
 * kernel, wait4() fails with ECHILD, and that read as "the child's load
 * failed, it said why": the daemon exited although the load succeeded.
 */
static void test_fault_sigchld_ignored(void **state)
{
	struct tpd_datapath dp;
	struct tpd_config cfg;
	long rss = 0;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	signal(SIGCHLD, SIG_IGN);
	assert_int_equal(tpd_datapath_load_child(&cfg, &rss), 0);
	/* and the caller's disposition is left as it was */
	assert_true(signal(SIGCHLD, SIG_DFL) == SIG_IGN);
	assert_int_equal(tpd_datapath_open_pinned(&dp, &cfg), 0);
	tpd_datapath_close(&dp);
	tpd_config_free(&cfg);
}

/*
 * Someone with write access to the pin root pins a program of their own
 * under a program's name: any program that names none of the pinned maps
 * passed the check of map ids, and the daemon attached it to every
 * tailnet interface.  The pins must hold a TC classifier of the expected
 * name that uses the pinned maps.
 */
static void test_fault_foreign_program_pinned(void **state)
{
	static const char *const names[] = { "tp_evil", "tp_from_tailnet" };
	struct tpd_config cfg;
	size_t i;
	int fd;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	for (i = 0; i < 2; i++) {
		full_load(&cfg);
		fd = tiny_tc_prog(names[i]);
		repin_refused(&cfg, "tp_from_tailnet", fd);
	}
	tpd_config_free(&cfg);
}

/*
 * A map pinned under a program's name is refused (on 21dbf45 too, though
 * only because the map's info, read into a program's, failed the check;
 * now the fd's kind is checked first).
 */
static void test_holds_map_pinned_as_program(void **state)
{
	struct tpd_config cfg;
	int fd;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	full_load(&cfg);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tp_from_tailnet", 4, 4, 1,
			    NULL);
	assert_true(fd >= 0);
	repin_refused(&cfg, "tp_to_tailnet", fd);
	tpd_config_free(&cfg);
}

/*
 * Every knob a load puts into the programs or the maps' sizes changes the
 * fingerprint: a restart after any of them loads again.
 */
static void test_holds_every_knob_in_fingerprint(void **state)
{
	struct tpd_datapath dp;
	struct tpd_config cfg;
	__u32 *knobs[6 + 1 + TPD_CAP_MAX + 2];
	size_t n = 0, i;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	for (i = 0; i < 6; i++)
		knobs[n++] = &cfg.ct_timeout[i];
	knobs[n++] = &cfg.maglev_size;
	for (i = 0; i < TPD_CAP_MAX; i++)
		knobs[n++] = &cfg.capacity[i];
	knobs[n++] = &cfg.events_per_sec;
	knobs[n++] = &cfg.events_burst;
	full_load(&cfg);
	assert_int_equal(tpd_datapath_open_pinned(&dp, &cfg), 0);
	tpd_datapath_close(&dp);
	for (i = 0; i < n; i++) {
		(*knobs[i])++;
		assert_int_equal(tpd_datapath_open_pinned(&dp, &cfg), -ENOENT);
		(*knobs[i])--;
	}
	tpd_config_free(&cfg);
}

/* --detach --purge leaves no program pinned, no directory. */
static void test_holds_purge_removes_programs(void **state)
{
	struct tpd_config cfg;
	char dir[PATH_MAX];

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	full_load(&cfg);
	assert_int_equal(progs_dirs(&cfg, dir, sizeof(dir)), 1);
	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	assert_int_not_equal(access(cfg.pin_root, F_OK), 0);
	tpd_config_free(&cfg);
}

/* ---- the programs loaded in parallel ------------------------------------ */

/* The ids of the maps the program @fd uses; their count. */
static int prog_map_ids(int fd, __u32 *ids, __u32 cap)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	info.nr_map_ids = cap;
	info.map_ids = (__u64)(uintptr_t)ids;
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	assert_true(info.nr_map_ids <= cap);
	return (int)info.nr_map_ids;
}

static __u32 map_fd_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	return info.id;
}

/*
 * The three programs, loaded each from an object of its own, use the
 * maps of the skeleton's object and no other: the read-only data with the
 * knobs, tp_scratch, tp_evbucket as much as the pinned maps (a lane that
 * made its own would verify against other knobs, and write its events
 * into a bucket nobody reads).  Every program reads the knobs; the pins
 * a restart takes say the same (tpd_datapath_open_pinned()).
 */
static void test_parallel_same_maps(void **state)
{
	__u32 objs[128], used[64], rodata = 0;
	struct tpd_datapath dp, pinned;
	const struct bpf_map *map;
	struct tpd_config cfg;
	int n_objs = 0, n, i, j, k;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	bpf_object__for_each_map(map, dp.skel->obj)
	{
		assert_true(n_objs < 128);
		objs[n_objs] = map_fd_id(bpf_map__fd(map));
		if (strstr(bpf_map__name(map), ".rodata"))
			rodata = objs[n_objs];
		n_objs++;
	}
	assert_int_not_equal(rodata, 0);
	for (i = 0; i < TPD_PROG_MAX; i++) {
		assert_true(dp.prog_fd[i] >= 0);
		n = prog_map_ids(dp.prog_fd[i], used, 64);
		for (j = 0, k = 0; j < n; j++) {
			for (k = 0; k < n_objs && objs[k] != used[j]; k++)
				;
			if (k == n_objs)
				fail_msg("%s uses map id %u, not the object's",
					 i == TPD_PROG_FROM_TAILNET
						 ? "from_tailnet"
					 : i == TPD_PROG_TO_TAILNET
						 ? "to_tailnet"
						 : "from_uplink",
					 used[j]);
		}
		for (j = 0; j < n && used[j] != rodata; j++)
			;
		assert_true(j < n); /* the knobs of this load */
	}
	tpd_datapath_close(&dp);
	assert_int_equal(tpd_datapath_open_pinned(&pinned, &cfg), 0);
	tpd_datapath_close(&pinned);
	tpd_config_free(&cfg);
}

/* The ids of the maps pinned in @cfg's pin root, by tp_pin_maps' order. */
static void pinned_ids(const struct tpd_config *cfg, __u32 *ids)
{
	struct tp_maps m;
	size_t i;

	assert_int_equal(
		tp_maps_open_pinned(&m, cfg->pin_root, cfg->maglev_size), 0);
	for (i = 0; i < tp_pin_maps_n; i++)
		ids[i] = map_fd_id(tp_pins_map_fd(&m, i));
	tp_maps_close(&m);
}

/* Entries of @cfg's pin root other than "links": pins, progs_ dirs. */
static int pin_root_entries(const struct tpd_config *cfg)
{
	struct dirent *de;
	DIR *d = opendir(cfg->pin_root);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "links"))
			n++;
	closedir(d);
	return n;
}

static const char *const all_progs[] = { "tp_from_tailnet", "tp_to_tailnet",
					 "tp_from_uplink" };

/*
 * A program the verifier rejects, whichever object it loads from (the
 * skeleton's or a lane's), fails the whole load: on a cold start nothing
 * stays pinned (as libbpf leaves it after a failed load), on a load with
 * pins every pin is the map it was, the ones moved aside (a capacity
 * changed) put back, and no progs_ directory names programs.  The next
 * load without the fault works.
 */
static void test_parallel_rejected_program_fails_cleanly(void **state)
{
	__u32 before[64], after[64];
	struct tpd_datapath dp;
	struct tpd_config cfg;
	char path[PATH_MAX];
	size_t i;

	(void)state;
	REQUIRE_BPF();
	assert_true(tp_pin_maps_n <= 64);
	prepared_cfg(&cfg);
	for (i = 0; i < 3; i++) {
		reject_prog = all_progs[i];
		assert_int_not_equal(tpd_datapath_load(&dp, &cfg), 0);
		assert_null(dp.skel);
		if (pin_root_entries(&cfg))
			fail_msg("%s rejected: the cold start left pins",
				 reject_prog);
	}
	reject_prog = NULL;
	full_load(&cfg);
	pinned_ids(&cfg, before);
	cfg.capacity[TPD_CAP_CONNTRACK_TCP] *= 2;
	for (i = 0; i < 3; i++) {
		reject_prog = all_progs[i];
		assert_int_not_equal(tpd_datapath_load(&dp, &cfg), 0);
		pinned_ids(&cfg, after);
		assert_memory_equal(before, after,
				    tp_pin_maps_n * sizeof(before[0]));
		snprintf(path, sizeof(path), "%s/%s_old", cfg.pin_root,
			 TP_MAP_CT);
		assert_int_not_equal(access(path, F_OK), 0);
		assert_int_equal(progs_dirs(&cfg, path, sizeof(path)), 0);
	}
	reject_prog = NULL;
	full_load(&cfg);
	assert_int_equal(progs_dirs(&cfg, path, sizeof(path)), 1);
	tpd_config_free(&cfg);
}

/*
 * The skeleton's load fails before its first program (a map it cannot
 * make): the lanes, waiting for maps, are let go without any; nothing
 * is left pinned and the next load works.
 */
static void test_parallel_maps_not_made_fails_cleanly(void **state)
{
	struct tpd_datapath dp;
	struct tpd_config cfg;
	int i;

	(void)state;
	REQUIRE_BPF();
	prepared_cfg(&cfg);
	for (i = 0; i < 2; i++) {
		fail_map_create = true;
		assert_int_not_equal(tpd_datapath_load(&dp, &cfg), 0);
		fail_map_create = false;
		assert_null(dp.skel);
		full_load(&cfg);
	}
	tpd_config_free(&cfg);
}

/*
 * An argument is a cmocka test filter ("test_fault_ct_*"): the VM suite
 * runs the tests that depend on the kernel's map-of-maps checks, not the
 * 25 loads of the whole suite (710 s under TCG).
 */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(
			test_parallel_maps_not_made_fails_cleanly,
			pins_teardown),
		cmocka_unit_test_teardown(
			test_fault_restart_without_cap_sys_admin,
			pins_teardown),
		cmocka_unit_test_teardown(
			test_fault_ct_replaced_behind_map_of_maps,
			pins_teardown),
		cmocka_unit_test_teardown(test_fault_ct_pinned_without_btf,
					  pins_teardown),
		cmocka_unit_test_teardown(test_fault_child_killed_while_pinning,
					  pins_teardown),
		cmocka_unit_test_teardown(
			test_fault_killed_load_leaves_old_programs,
			pins_teardown),
		cmocka_unit_test_teardown(
			test_fault_killed_load_loses_moved_maps, pins_teardown),
		cmocka_unit_test_teardown(test_fault_child_outlives_daemon,
					  pins_teardown),
		cmocka_unit_test_teardown(
			test_fault_child_killed_after_maps_written,
			pins_teardown),
		cmocka_unit_test_teardown(test_fault_fingerprint_only_check,
					  pins_teardown),
		cmocka_unit_test_teardown(test_fault_sigchld_ignored,
					  pins_teardown),
		cmocka_unit_test_teardown(test_fault_foreign_program_pinned,
					  pins_teardown),
		cmocka_unit_test_teardown(test_holds_map_pinned_as_program,
					  pins_teardown),
		cmocka_unit_test_teardown(test_holds_every_knob_in_fingerprint,
					  pins_teardown),
		cmocka_unit_test_teardown(test_parallel_same_maps,
					  pins_teardown),
		cmocka_unit_test_teardown(
			test_parallel_rejected_program_fails_cleanly,
			pins_teardown),
		cmocka_unit_test_teardown(test_holds_purge_removes_programs,
					  pins_teardown),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
