/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Names of the ABI's enumerations, for people (tpctl tables, the loader's
 * logs and metrics).  One table per enum, here and nowhere else;
 * protocols are in addr.h.
 */
#ifndef TAILPLANE_LIB_NAMES_H
#define TAILPLANE_LIB_NAMES_H

#include <linux/types.h>

const char *tp_stat_name(__u32 id);
const char *tp_drop_reason_name(__u32 reason);
const char *tp_ct_state_name(__u8 state);
const char *tp_verdict_name(__u8 verdict);
const char *tp_backend_state_name(__u8 state);
const char *tp_owner_name(__u8 owner);
const char *tp_event_type_name(__u8 type);
int tp_verdict_parse(const char *s, __u8 *verdict);
int tp_backend_state_parse(const char *s, __u8 *state);

#endif /* TAILPLANE_LIB_NAMES_H */
