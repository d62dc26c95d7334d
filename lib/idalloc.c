// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Random probing, then a scan.  A scan for the lowest free id costs a
 * lookup per id in use, so writes slowed down as tables grew (a batch of
 * 2,000 rules took 30 s).  A random probe finds a free id with probability
 * (1 - fill) per lookup: expected 2 lookups at half full, 10 at 90%.
 * Only when TP_ID_PROBES probes all hit (a nearly full space) does a
 * linear scan from a random start decide, so a free id is always found
 * while one exists, and "full" is only said after looking at every id.
 */
#include <errno.h>
#include <sys/random.h>

#include "idalloc.h"

#define TP_ID_PROBES 32

static __u64 tp_id_rng_state;

/** tp_id_alloc_seed() - make the probe sequence repeatable (tests). */
void tp_id_alloc_seed(__u64 seed)
{
	tp_id_rng_state = seed ? seed : 1;
}

/* xorshift64*: probes need spread, not secrecy. */
static __u64 tp_id_rand(void)
{
	__u64 x = tp_id_rng_state;

	if (!x && getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
		x = 0x9e3779b97f4a7c15ULL;
	x |= !x;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	tp_id_rng_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/**
 * tp_id_alloc() - find an id no entry uses.
 * @lo:   lowest id.
 * @hi:   one past the highest id.
 * @used: says whether an id is in use.
 * @ctx:  passed to @used.
 * @id:   the free id found.
 *
 * The id is not reserved: the caller writes the entry that uses it while
 * it holds the writers' lock, as it did when it asked.
 *
 * Return: 0, -ENOSPC when every id in [@lo, @hi) is in use, -EINVAL for
 * an empty range, or the error of @used.
 */
int tp_id_alloc(__u32 lo, __u32 hi, tp_id_used_fn used, void *ctx, __u32 *id)
{
	__u64 span = (__u64)hi - lo, i;
	__u32 start, cand;
	int probe, r;

	if (hi <= lo)
		return -EINVAL;
	for (probe = 0; probe < TP_ID_PROBES; probe++) {
		cand = lo + (__u32)(tp_id_rand() % span);
		r = used(ctx, cand);
		if (r < 0)
			return r;
		if (!r) {
			*id = cand;
			return 0;
		}
	}
	start = (__u32)(tp_id_rand() % span);
	for (i = 0; i < span; i++) {
		cand = lo + (__u32)((start + i) % span);
		r = used(ctx, cand);
		if (r < 0)
			return r;
		if (!r) {
			*id = cand;
			return 0;
		}
	}
	return -ENOSPC;
}
