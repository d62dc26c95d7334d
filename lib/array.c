// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>

#include "array.h"

/**
 * tp_array_grow() - room in *@arr for @need items of @size bytes.
 * @arr:   the array, realloc()ed; as it was when there is no memory.
 * @cap:   its capacity, in items.
 * @need:  how many items it must hold.
 * @size:  an item's size.
 * @first: the capacity of a first allocation; doubled from there (one
 *         item more at a time would copy the array at every item).
 *
 * Return: 0 or -ENOMEM.
 */
int tp_array_grow(void **arr, size_t *cap, size_t need, size_t size,
		  size_t first)
{
	size_t want;
	void *grown;

	if (need <= *cap)
		return 0;
	want = *cap ? *cap * 2 : first;
	while (want < need)
		want *= 2;
	grown = realloc(*arr, want * size);
	if (!grown)
		return -ENOMEM;
	*arr = grown;
	*cap = want;
	return 0;
}
