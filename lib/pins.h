/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pin root as a whole: opening every pinned map with the Maglev size
 * the pins imply, the writers' lock, and explaining why the pins cannot
 * be used.  Shared by tpctl and the loader.
 */
#ifndef TAILPLANE_LIB_PINS_H
#define TAILPLANE_LIB_PINS_H

#include <limits.h>
#include <stddef.h>

#include "maps.h"

/* Where the loader keeps its pid files, one per pin root. */
#ifndef TP_LOADER_RUN_DIR
#define TP_LOADER_RUN_DIR "/run/tailplane"
#endif

/*
 * How long a writer waits for the writers' lock by default; the
 * environment's TAILPLANE_LOCK_TIMEOUT (seconds) overrides it.
 */
#define TP_PINS_LOCK_TIMEOUT_MS 5000

/* Subdirectory of the pin root holding the loader's links. */
#define TP_PIN_LINKS_DIR "links"

int tp_pins_maglev_size(int maglev_fd, __u32 *size);
int tp_pins_open(struct tp_maps *m, const char *pin_root);
int tp_pins_open_some(struct tp_maps *m, const char *pin_root, __u64 want);
int tp_pins_lock(const char *pin_root);
int tp_pins_lock_timeout(const char *pin_root, long timeout_ms);
int tp_pins_lock_holder(const char *pin_root);
int tp_pins_relock(int lock_fd);
int tp_pins_relock_timeout(int lock_fd, long timeout_ms);
void tp_pins_release(int lock_fd);
void tp_pins_unlock(int lock_fd);
/**
 * struct tp_pins_instance - the single-instance lock of a loader.
 * @lock_fd: the flock-ed PIN_ROOT/links directory, -1 when not held.
 * @pid_fd:  the flock-ed pid file, -1 when none.
 * @pidfile: its path, to remove it even when the pin root is gone.
 */
struct tp_pins_instance {
	int lock_fd;
	int pid_fd;
	char pidfile[PATH_MAX];
};

int tp_pins_instance_lock(const char *pin_root, struct tp_pins_instance *inst);
void tp_pins_instance_unlock(struct tp_pins_instance *inst);
char *tp_pins_loader_pidfile(const char *pin_root, char *buf, size_t len);
int tp_pins_loader_pid(const char *pin_root);
const char *tp_pins_strerror(const char *pin_root, int err, char *buf,
			     size_t len);

#endif /* TAILPLANE_LIB_PINS_H */
