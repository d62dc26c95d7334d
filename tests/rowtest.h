/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Table-driven packet tests: one cmocka test per row of a table of cases,
 * named by the row (its first member, const char *name), with the
 * packet-test fixture (pt_setup/pt_teardown).  cmocka's state holds the
 * harness, so the running row is rt_row().
 */
#ifndef TAILPLANE_TESTS_ROWTEST_H
#define TAILPLANE_TESTS_ROWTEST_H

#include "pkttest.h"

int rt_setup(void **state);
const void *rt_row(void);

/* The CMUnitTest of row @i of @rows, run by @fn(state) with rt_row() set. */
#define RT_TEST(rows, i, fn)                                          \
	{                                                             \
		.name = (rows)[i].name, .test_func = (fn),            \
		.setup_func = rt_setup, .teardown_func = pt_teardown, \
		.initial_state = (void *)&(rows)[i]                   \
	}

/*
 * How many of the @n_rows rows of @rows (each @size bytes) no test of
 * @tests runs, each named on stderr: rows registered by index by hand
 * can be left out (or shifted out by a row inserted in the middle).
 */
size_t rt_missing(const struct CMUnitTest *tests, size_t n_tests,
		  const void *rows, size_t size, size_t n_rows);

#define RT_MISSING(tests, rows)                                     \
	rt_missing(tests, sizeof(tests) / sizeof((tests)[0]), rows, \
		   sizeof((rows)[0]), sizeof(rows) / sizeof((rows)[0]))

#endif /* TAILPLANE_TESTS_ROWTEST_H */
