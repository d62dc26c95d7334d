// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The pin root: every map by name, the Maglev table size checked against
 * tp_maglev_slab, an advisory lock that serializes writers, and
 * messages that say what is wrong with a pin root and how to fix it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <bpf/bpf.h>

#include "maglev.h"
#include "pins.h"
#include "service.h"

/**
 * tp_pins_maglev_size() - check a tp_maglev_slab map's layout.
 * @slab_fd: the map.
 * @size:    set to TP_MAGLEV_SIZE; the size writers use is recorded in
 *           tp_svc_backends (tp_service_maglev_cap()).
 *
 * Return: 0, -EINVAL when the map is not a slab of chunks of this
 * version's size, or -errno.
 */
int tp_pins_maglev_size(int slab_fd, __u32 *size)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(slab_fd, &info, &len))
		return -errno;
	if (info.type != BPF_MAP_TYPE_ARRAY_OF_MAPS)
		return -EINVAL;
	*size = TP_MAGLEV_SIZE;
	return 0;
}

/*
 * Open tp_maglev_slab into @m first, checking that the pins have this
 * version's layout before anything else is opened.
 */
static int tp_pins_open_slab(struct tp_maps *m, const char *pin_root)
{
	char path[PATH_MAX];
	__u32 maglev_size;
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", pin_root, TP_MAP_MAGLEV_SLAB);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		/* pins of the layout before the slab: not ours to convert */
		snprintf(path, sizeof(path), "%s/%s", pin_root,
			 TP_MAGLEV_V2_PIN);
		return err == -ENOENT && !access(path, F_OK) ? -EINVAL : err;
	}
	err = tp_pins_maglev_size(fd, &maglev_size);
	if (err) {
		close(fd);
		return err;
	}
	m->maglev_slab = fd;
	return 0;
}

/**
 * tp_pins_open_some() - open the maps of @want pinned under @pin_root
 * that @m does not have open yet.
 * @m:        from tp_maps_init() before the first call; close with
 *            tp_maps_close().
 * @pin_root: e.g. TP_PIN_ROOT_DEFAULT.
 * @want:     TP_MAP_BIT()s of the maps the caller uses (TP_MAPS_ALL:
 *            every map).  tp_maglev_slab and tp_svc_backends always come
 *            too: the layout check and the Maglev table size need them.
 *
 * The Maglev table size is the one the loader recorded in the maps.
 *
 * Return: 0 or -errno of the first failure (what this call opened is
 * closed again then); tp_pins_strerror() explains it.
 */
int tp_pins_open_some(struct tp_maps *m, const char *pin_root, __u64 want)
{
	bool first = m->maglev_slab < 0;
	int err;

	if (first) {
		err = tp_pins_open_slab(m, pin_root);
		if (err)
			return err;
	}
	err = tp_maps_open_more(m, pin_root,
				want | TP_MAP_BIT(maglev_slab) |
					TP_MAP_BIT(svc_backends));
	if (err && first) {
		close(m->maglev_slab);
		m->maglev_slab = -1;
	}
	if (!err && first)
		m->maglev_size = tp_service_maglev_cap(m);
	return err;
}

/**
 * tp_pins_open() - open every map pinned under @pin_root.
 * @m:        filled in; close with tp_maps_close().
 * @pin_root: e.g. TP_PIN_ROOT_DEFAULT.
 *
 * Return: as tp_pins_open_some().
 */
int tp_pins_open(struct tp_maps *m, const char *pin_root)
{
	tp_maps_init(m);
	return tp_pins_open_some(m, pin_root, TP_MAPS_ALL);
}

/*
 * The deadline of tp_pins_lock(): TAILPLANE_LOCK_TIMEOUT (seconds, a
 * decimal number, 0 for a single try) or TP_PINS_LOCK_TIMEOUT_MS.
 */
static long tp_pins_lock_timeout_env(void)
{
	const char *s = getenv("TAILPLANE_LOCK_TIMEOUT");
	char *end;
	double v;

	if (!s || !*s)
		return TP_PINS_LOCK_TIMEOUT_MS;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0) || v > 86400)
		return TP_PINS_LOCK_TIMEOUT_MS;
	return (long)(v * 1000);
}

static long long tp_pins_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/**
 * tp_pins_lock_timeout() - take the writers' lock of a pin root, waiting
 * at most @timeout_ms.
 * @pin_root:   the pin root directory.
 * @timeout_ms: total time to wait; 0 tries once.
 *
 * An exclusive flock on the directory, held until tp_pins_unlock() or
 * the process ends.  Every writer of the pinned state takes it, so
 * read-modify-write updates (a service's backend list, a rule group)
 * never interleave.  Readers do not need it.
 *
 * A blocking flock() would wait for as long as the holder likes (a
 * stopped tpctl, a stuck loader), and a loader waiting in it would not
 * see SIGTERM; so the lock is tried without blocking, with short sleeps
 * in between, until the deadline.
 *
 * Return: the lock's fd (>= 0); -ETIMEDOUT when another process still
 * holds it at the deadline (tp_pins_strerror() names it); or -errno.
 */
int tp_pins_lock_timeout(const char *pin_root, long timeout_ms)
{
	int fd, err;

	fd = open(pin_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = tp_pins_relock_timeout(fd, timeout_ms);
	if (!err)
		return fd;
	close(fd);
	return err;
}

/**
 * tp_pins_relock_timeout() - take the writers' lock again on @lock_fd, a
 * lock from tp_pins_lock() that tp_pins_release() let go: a writer that
 * locks once per change (tpctl batch, a line each) opens the directory
 * once.
 * @lock_fd:    the pin root's fd.
 * @timeout_ms: as tp_pins_lock_timeout().
 *
 * Return: 0, -ETIMEDOUT, or -errno.
 */
int tp_pins_relock_timeout(int lock_fd, long timeout_ms)
{
	long long deadline =
		tp_pins_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	long long left;
	long nap_ms = 1;
	struct timespec nap;

	for (;;) {
		if (!flock(lock_fd, LOCK_EX | LOCK_NB))
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		left = deadline - tp_pins_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		/* 1, 2, 4 ... 50 ms: quick for a short holder, cheap for a long one */
		if (nap_ms > left)
			nap_ms = (long)left;
		nap.tv_sec = nap_ms / 1000;
		nap.tv_nsec = (nap_ms % 1000) * 1000000L;
		nanosleep(&nap, NULL);
		nap_ms = nap_ms * 2 > 50 ? 50 : nap_ms * 2;
	}
}

/**
 * tp_pins_lock() - take the writers' lock of a pin root, waiting at most
 * TAILPLANE_LOCK_TIMEOUT seconds from the environment, or
 * TP_PINS_LOCK_TIMEOUT_MS.
 * @pin_root: the pin root directory.
 *
 * Return: as tp_pins_lock_timeout().
 */
int tp_pins_lock(const char *pin_root)
{
	return tp_pins_lock_timeout(pin_root, tp_pins_lock_timeout_env());
}

/*
 * The pid holding an exclusive flock on the file @st describes, from
 * /proc/locks; 0 when none is listed or the holder is in another pid
 * namespace.
 */
static int tp_pins_flock_holder(const struct stat *st)
{
	char line[256], type[16], how[16], rw[16];
	unsigned int maj, min;
	unsigned long ino;
	int pid, found = 0;
	FILE *f = fopen("/proc/locks", "re");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		/* "1: FLOCK  ADVISORY  WRITE 1234 00:1f:5678 0 EOF"; waiters have "->" */
		if (sscanf(line, "%*d: %15s %15s %15s %d %x:%x:%lu", type, how,
			   rw, &pid, &maj, &min, &ino) != 7)
			continue;
		if (!strcmp(type, "FLOCK") && !strcmp(rw, "WRITE") && pid > 0 &&
		    maj == major(st->st_dev) && min == minor(st->st_dev) &&
		    ino == st->st_ino)
			found = pid;
	}
	fclose(f);
	return found;
}

/**
 * tp_pins_lock_holder() - the process holding the writers' lock of
 * @pin_root.
 * @pin_root: the pin root directory.
 *
 * Return: its pid, or 0 when the lock is free or its holder cannot be
 * known (/proc/locks unreadable, another pid namespace).
 */
int tp_pins_lock_holder(const char *pin_root)
{
	struct stat st;

	if (stat(pin_root, &st))
		return 0;
	return tp_pins_flock_holder(&st);
}

/** tp_pins_relock() - tp_pins_relock_timeout() with tp_pins_lock()'s wait. */
int tp_pins_relock(int lock_fd)
{
	return tp_pins_relock_timeout(lock_fd, tp_pins_lock_timeout_env());
}

/** tp_pins_release() - let a lock go, keeping its fd for tp_pins_relock(). */
void tp_pins_release(int lock_fd)
{
	if (lock_fd >= 0)
		flock(lock_fd, LOCK_UN);
}

/** tp_pins_unlock() - release a lock from tp_pins_lock() (< 0: none). */
void tp_pins_unlock(int lock_fd)
{
	if (lock_fd < 0)
		return;
	flock(lock_fd, LOCK_UN);
	close(lock_fd);
}

/* The first map of the ABI that is not pinned under @pin_root, or NULL. */
static const char *tp_pins_first_missing(const char *pin_root)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < tp_pin_maps_n; i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_root,
			 tp_pin_maps[i].name);
		if (access(path, F_OK))
			return tp_pin_maps[i].name;
	}
	return NULL;
}

static const char *tp_pins_strerror_noent(const char *pin_root, char *buf,
					  size_t len)
{
	struct statfs fs;
	const char *missing;

	if (statfs(pin_root, &fs)) {
		snprintf(
			buf, len,
			"no tailplane maps pinned: %s does not exist; start tailplaned, or give the right --pin-root",
			pin_root);
	} else if (fs.f_type != BPF_FS_MAGIC) {
		snprintf(
			buf, len,
			"%s is not on a BPF filesystem: mount one (mount -t bpf bpf /sys/fs/bpf) and start tailplaned",
			pin_root);
	} else if ((missing = tp_pins_first_missing(pin_root)) &&
		   strcmp(missing, tp_pin_maps[0].name)) {
		snprintf(
			buf, len,
			"map %s is not pinned under %s: the pins are incomplete or from another version; restart tailplaned",
			missing, pin_root);
	} else {
		snprintf(
			buf, len,
			"no tailplane maps pinned under %s: start tailplaned, or give the right --pin-root",
			pin_root);
	}
	return buf;
}

/* Who holds the writers' lock we gave up on, as far as it can be known. */
static void tp_pins_strerror_busy(const char *pin_root, char *buf, size_t len)
{
	char comm[64] = "", path[64];
	int pid = tp_pins_lock_holder(pin_root);
	FILE *f;

	if (pid <= 0) {
		snprintf(
			buf, len,
			"another process holds the writers' lock of %s; gave up waiting (TAILPLANE_LOCK_TIMEOUT sets the wait, in seconds)",
			pin_root);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (f && fgets(comm, sizeof(comm), f))
		comm[strcspn(comm, "\n")] = '\0';
	if (f)
		fclose(f);
	snprintf(
		buf, len,
		"pid %d%s%s%s holds the writers' lock of %s; gave up waiting (TAILPLANE_LOCK_TIMEOUT sets the wait, in seconds)",
		pid, comm[0] ? " (" : "", comm, comm[0] ? ")" : "", pin_root);
}

/**
 * tp_pins_strerror() - why the pins under @pin_root cannot be used, and
 * what to do about it.
 * @pin_root: the pin root.
 * @err:      -errno from tp_pins_open() or tp_pins_lock().
 * @buf:      room for the message.
 * @len:      its size.
 */
const char *tp_pins_strerror(const char *pin_root, int err, char *buf,
			     size_t len)
{
	switch (-err) {
	case ENOENT:
	case ENOTDIR:
		return tp_pins_strerror_noent(pin_root, buf, len);
	case EPERM:
	case EACCES:
		snprintf(
			buf, len,
			"permission denied on the pinned maps under %s: run tpctl as root (it needs CAP_BPF and access to the pins)",
			pin_root);
		break;
	case ETIMEDOUT:
		tp_pins_strerror_busy(pin_root, buf, len);
		break;
	case EINVAL:
		snprintf(
			buf, len,
			"the maps pinned under %s do not have this tailplane's layout (Maglev tables are not in " TP_MAP_MAGLEV_SLAB
			"): restart tailplaned",
			pin_root);
		break;
	default:
		snprintf(buf, len, "cannot open the pinned maps under %s: %s",
			 pin_root, strerror(-err));
	}
	return buf;
}

/*
 * @pin_root as one name per directory: its real path when it exists (so
 * "X", "X/", "X/links/.." and a link to X agree), else the name given
 * without trailing slashes.
 */
static void tp_pins_canonical(const char *pin_root, char *buf, size_t len)
{
	char real[PATH_MAX];
	size_t n;

	if (realpath(pin_root, real)) {
		snprintf(buf, len, "%s", real);
		return;
	}
	snprintf(buf, len, "%s", pin_root);
	n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
}

/* FNV-1a: a stable name for a pin root too long to spell out. */
static unsigned long long tp_pins_fnv1a(const char *s)
{
	unsigned long long h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/**
 * tp_pins_loader_pidfile() - the pid file of the loader serving @pin_root.
 * @pin_root: the pin root, any spelling (it is resolved with realpath()).
 * @buf:      room for the path.
 * @len:      its size.
 *
 * TP_LOADER_RUN_DIR/tailplaned.pid for the default pin root; else
 * tailplaned<NAME>.pid with NAME the resolved pin root, '/' written '_',
 * '_' written "%5f" and '%' written "%25", so that two pin roots never
 * share a pid file ("a/b" and "a_b" did); tailplaned-<hash>.pid when that
 * is too long for a file name.
 *
 * Return: @buf.
 */
char *tp_pins_loader_pidfile(const char *pin_root, char *buf, size_t len)
{
	char canon[PATH_MAX], name[NAME_MAX + 1];
	size_t i, n = 0, room = sizeof(name) - sizeof("tailplaned.pid");
	const char *rep;
	char one[2] = "";

	tp_pins_canonical(pin_root, canon, sizeof(canon));
	if (!strcmp(canon, TP_PIN_ROOT_DEFAULT)) {
		snprintf(buf, len, "%s/tailplaned.pid", TP_LOADER_RUN_DIR);
		return buf;
	}
	for (i = 0; canon[i]; i++) {
		one[0] = canon[i];
		rep = one[0] == '/'   ? "_"
		      : one[0] == '_' ? "%5f"
		      : one[0] == '%' ? "%25"
				      : one;
		if (n + strlen(rep) > room) {
			/* "-" never starts a spelt-out name (those start "_") */
			snprintf(buf, len, "%s/tailplaned-%016llx.pid",
				 TP_LOADER_RUN_DIR, tp_pins_fnv1a(canon));
			return buf;
		}
		memcpy(name + n, rep, strlen(rep));
		n += strlen(rep);
	}
	name[n] = '\0';
	snprintf(buf, len, "%s/tailplaned%s.pid", TP_LOADER_RUN_DIR, name);
	return buf;
}

/**
 * tp_pins_instance_lock() - take the single-instance lock of the loader
 * serving @pin_root.
 * @pin_root: the pin root; it and its links directory must exist.
 * @inst:     filled in; release with tp_pins_instance_unlock().
 *
 * The lock is an exclusive flock on PIN_ROOT/links, the directory of the
 * loader's links: the lock is the directory, not a name for it, so every
 * spelling of one pin root (and a link to it) meets the same lock, two
 * pin roots never share one, and loaders in mount namespaces that share
 * bpffs but not /run see each other.  (The pin root directory itself
 * carries the writers' lock, taken and released around every sync.)
 *
 * The pid file (tp_pins_loader_pidfile()) is then locked and given our
 * pid, for tpctl status; when another process holds it (a loader of an
 * older version, which locked only its pid file) the instance lock is
 * refused as well.  A pid file that cannot be written at all only costs
 * tpctl status the pid.
 *
 * Return: the lock's fd (>= 0, also in @inst); -EBUSY when another loader
 * holds it; -ENOENT when the pin root or its links directory does not
 * exist; or another -errno.
 */
int tp_pins_instance_lock(const char *pin_root, struct tp_pins_instance *inst)
{
	char canon[PATH_MAX], path[PATH_MAX + 16], pid[32];
	int fd, pfd = -1, err;

	inst->lock_fd = -1;
	inst->pid_fd = -1;
	inst->pidfile[0] = '\0';
	if (!realpath(pin_root, canon))
		return -errno;
	snprintf(path, sizeof(path), "%s/%s", canon, TP_PIN_LINKS_DIR);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	inst->lock_fd = fd;
	mkdir(TP_LOADER_RUN_DIR, 0755);
	tp_pins_loader_pidfile(canon, inst->pidfile, sizeof(inst->pidfile));
	pfd = open(inst->pidfile, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		   0644);
	if (pfd < 0) {
		inst->pidfile[0] = '\0';
		return fd;
	}
	if (flock(pfd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (ftruncate(pfd, 0) || pwrite(pfd, pid, strlen(pid), 0) < 0) {
		err = -errno;
		goto fail;
	}
	inst->pid_fd = pfd;
	return fd;
fail:
	if (pfd >= 0)
		close(pfd);
	close(fd);
	inst->lock_fd = -1;
	inst->pidfile[0] = '\0';
	return err;
}

/**
 * tp_pins_instance_unlock() - release tp_pins_instance_lock()'s locks and
 * remove its pid file (by the name it had, even if the pin root is gone).
 * @inst: the instance; its fds are -1 afterwards.
 */
void tp_pins_instance_unlock(struct tp_pins_instance *inst)
{
	if (inst->pid_fd >= 0) {
		/* before the lock goes: the next loader's pid file is its own */
		unlink(inst->pidfile);
		close(inst->pid_fd);
	}
	if (inst->lock_fd >= 0)
		close(inst->lock_fd);
	inst->pid_fd = -1;
	inst->lock_fd = -1;
}

/**
 * tp_pins_loader_pid() - the pid of the loader serving @pin_root.
 * @pin_root: the pin root.
 *
 * The loader holds an exclusive flock on its pid file while it runs, so
 * a pid file that can be locked is stale.
 *
 * Return: the pid, 0 when no loader runs, or -errno when its pid file
 * cannot be read.
 */
int tp_pins_loader_pid(const char *pin_root)
{
	char path[PATH_MAX], buf[32] = "";
	ssize_t n;
	int fd, pid = 0;

	tp_pins_loader_pidfile(pin_root, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!flock(fd, LOCK_SH | LOCK_NB)) {
		close(fd); /* nobody holds it: stale */
		return 0;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0 && sscanf(buf, "%d", &pid) != 1)
		pid = 0;
	close(fd);
	return pid > 0 ? pid : 0;
}
