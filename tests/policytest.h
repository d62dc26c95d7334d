/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The identity plan the policy packet tests share (test_policy.c,
 * test_hardening.c, test_attacks.c): tailnet peers of zone 1, web pods, a
 * database pod, peers of zone 2, and the fixture that installs them.
 */
#ifndef TAILPLANE_TESTS_POLICYTEST_H
#define TAILPLANE_TESTS_POLICYTEST_H

#include "pkttest.h"

#define ID_CLIENT 300 /* zone 1: 100.64.0.0/24, fd7a:115c:a1e0::/64 */
#define ID_WEB	  400 /* zone 0: 198.18.1.0/24, fd00:198:18::1:0/112 */
#define ID_DB	  401 /* zone 0: 198.18.2.1 */
#define ID_OTHER  500 /* zone 2: 100.100.0.0/16 */

#define POD    "198.18.1.1"
#define DB     "198.18.2.1"
#define Z2PEER "100.100.0.5"

void pol_identities(struct th *h);
int pol_setup(void **state);

#endif /* TAILPLANE_TESTS_POLICYTEST_H */
