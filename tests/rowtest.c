// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Table-driven packet tests: see rowtest.h.
 */
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
