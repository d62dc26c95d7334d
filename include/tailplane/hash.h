/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Hashes shared by the datapath and userspace.  The flow hash picks the
 * Maglev slot in the kernel; the reference model in tests/ must compute
 * the very same value, so it lives here and nowhere else.  Pure C, no
 * helpers, no loops the verifier cannot unroll.
 */
#ifndef TAILPLANE_HASH_H
#define TAILPLANE_HASH_H

#include "abi.h"

#ifndef TP_HASH_INLINE
#ifdef __bpf__
#define TP_HASH_INLINE static __always_inline
#else
#define TP_HASH_INLINE static inline
#endif
#endif

TP_HASH_INLINE __u32 tp_rol32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* One murmur3 block step. */
TP_HASH_INLINE __u32 tp_hash_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = tp_rol32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = tp_rol32(h, 13);
	return h * 5 + 0xe6546b64;
}

/* murmur3 finalizer. */
TP_HASH_INLINE __u32 tp_hash_final(__u32 h, __u32 len)
{
	h ^= len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/**
 * tp_flow_hash() - hash of a flow's original tuple, for backend selection.
 * @k: the original tuple (zone is not hashed: a service's choice of
 *     backend does not depend on the tailnet it is reached from).
 *
 * Return: a 32-bit hash; the Maglev slot is hash % maglev_size.
 */
TP_HASH_INLINE __u32 tp_flow_hash(const struct tp_ct_key *k)
{
	__u32 h = 0x7a11b1a5;

	h = tp_hash_mix(h, k->saddr.w[0]);
	h = tp_hash_mix(h, k->saddr.w[1]);
	h = tp_hash_mix(h, k->saddr.w[2]);
	h = tp_hash_mix(h, k->saddr.w[3]);
	h = tp_hash_mix(h, k->daddr.w[0]);
	h = tp_hash_mix(h, k->daddr.w[1]);
	h = tp_hash_mix(h, k->daddr.w[2]);
	h = tp_hash_mix(h, k->daddr.w[3]);
	h = tp_hash_mix(h, ((__u32)k->sport << 16) | k->dport);
	h = tp_hash_mix(h, k->proto);
	return tp_hash_final(h, 40);
}

/**
 * tp_hash_bytes() - murmur3-style hash of a byte string (userspace use:
 * Maglev permutations of backends).
 * @data: bytes to hash.
 * @len:  their count.
 * @seed: seed; different seeds give independent hashes.
 */
TP_HASH_INLINE __u32 tp_hash_bytes(const void *data, __u32 len, __u32 seed)
{
	const __u8 *p = (const __u8 *)data;
	__u32 h = seed, i, k;

	for (i = 0; i + 4 <= len; i += 4) {
		k = p[i] | (__u32)p[i + 1] << 8 | (__u32)p[i + 2] << 16 |
		    (__u32)p[i + 3] << 24;
		h = tp_hash_mix(h, k);
	}
	k = 0;
	switch (len & 3) {
	case 3:
		k ^= (__u32)p[i + 2] << 16;
		/* fallthrough */
	case 2:
		k ^= (__u32)p[i + 1] << 8;
		/* fallthrough */
	case 1:
		k ^= p[i];
		h = tp_hash_mix(h, k);
	}
	return tp_hash_final(h, len);
}

#endif /* TAILPLANE_HASH_H */
