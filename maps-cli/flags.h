/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Names tpctl shows that lib/names.h does not have: event hooks and flag
 * sets.  Enum names (states, verdicts, owners, counters) come from there.
 */
#ifndef TPCTL_FLAGS_H
#define TPCTL_FLAGS_H

#include <stddef.h>

#include "tailplane/abi.h"

const char *tpctl_hook_name(__u8 hook);
char *tpctl_iface_flags_str(__u32 flags, char *buf, size_t len);
char *tpctl_svc_flags_str(__u16 flags, char *buf, size_t len);
char *tpctl_ct_flags_str(__u8 flags, char *buf, size_t len);

#endif /* TPCTL_FLAGS_H */
