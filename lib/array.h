/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Arrays that grow by doubling, for the readers that collect rows. */
#ifndef TAILPLANE_LIB_ARRAY_H
#define TAILPLANE_LIB_ARRAY_H

#include <stddef.h>

int tp_array_grow(void **arr, size_t *cap, size_t need, size_t size,
		  size_t first);

#endif /* TAILPLANE_LIB_ARRAY_H */
