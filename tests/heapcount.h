/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * heapcount.h: the heap a test binary's code holds, for the tests that
 * bound a writer's or reader's memory.  Included by exactly one file of a
 * binary linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,
 * --wrap=free (see the Makefile): it defines the wrappers.
 */
#ifndef TP_TESTS_HEAPCOUNT_H
#define TP_TESTS_HEAPCOUNT_H

#include <malloc.h>
#include <stddef.h>

/*
 * The heap this binary's code holds, counted by the malloc() family
 * (linked with -Wl,--wrap, the Makefile): now and the most since
 * heap_mark().  Blocks of the shared libraries are not seen; a block one
 * of them made and this code frees moves the count, so only differences
 * across one call are read.
 */
static _Atomic long long heap_now, heap_peak;

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static void *heap_add(void *p)
{
	if (p) {
		heap_now += (long long)malloc_usable_size(p);
		if (heap_now > heap_peak)
			heap_peak = heap_now;
	}
	return p;
}

void *__wrap_malloc(size_t n)
{
	return heap_add(__real_malloc(n));
}

void *__wrap_calloc(size_t k, size_t n)
{
	return heap_add(__real_calloc(k, n));
}

void *__wrap_realloc(void *p, size_t n)
{
	long long old = p ? (long long)malloc_usable_size(p) : 0;
	void *q = __real_realloc(p, n);

	if (q || !n)
		heap_now -= old;
	return heap_add(q);
}

void __wrap_free(void *p)
{
	if (p)
		heap_now -= (long long)malloc_usable_size(p);
	__real_free(p);
}

/* The count of heap_now from here: the peak starts over. */
static inline long long heap_mark(void)
{
	heap_peak = heap_now;
	return heap_now;
}

#endif
