// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Table-driven packet tests: see rowtest.h.
 */
#include <stdio.h>

#include "rowtest.h"

static const void *row;

/* pt_setup() for the row cmocka passes as the initial state. */
int rt_setup(void **state)
{
	row = *state;
	return pt_setup(state);
}

/* The row the running test is. */
const void *rt_row(void)
{
	return row;
}

size_t rt_missing(const struct CMUnitTest *tests, size_t n_tests,
		  const void *rows, size_t size, size_t n_rows)
{
	size_t i, t, missing = 0;

	for (i = 0; i < n_rows; i++) {
		const void *r = (const char *)rows + i * size;

		for (t = 0; t < n_tests; t++)
			if (tests[t].initial_state == r)
				break;
		if (t == n_tests) {
			/* a row's first member is its name (rowtest.h) */
			fprintf(stderr,
				"row %zu (%s) is registered as no test\n", i,
				*(const char *const *)r);
			missing++;
		}
	}
	return missing;
}
