// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_stack61's own object: call chains on either side of Linux 6.1's
 * limits for one program's bpf-to-bpf calls, global functions included:
 * 512 bytes along any chain, each frame max(depth, 1) rounded up to 32
 * bytes, and 8 frames.  Later kernels walk the same chains but round a
 * JITed program's frames up to 16 bytes only (round_up_stack_depth(),
 * no minimum), so they load s61_bytes, which 6.1 refuses and the host
 * check must refuse too.
 *
 *   s61_bytes:  s61_bytes -> s61_g1 -> ... -> s61_g4, global functions of
 *               S61_FRAME bytes each: on 6.1 32 + 4 * 128 = 544 bytes,
 *               5 frames (on the host 0 + 4 * 112 = 448).
 *   s61_frames: s61_frames -> s61_f1 -> ... -> s61_f7: 8 frames, the
 *               most 6.1 takes.
 *   s61_fits:   s61_fits -> s61_static (a static subprogram) -> s61_cb
 *               (its bpf_loop() callback, a BPF_PSEUDO_FUNC reference, of
 *               S61_FRAME bytes): the deepest frame behind a callback.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* a frame's bytes: 6.1 counts 128 with up to 16 bytes the compiler adds */
#define S61_FRAME 112

/* a stack frame of S61_FRAME bytes, every word stored: none left out */
#define S61_USE_FRAME(a)                                \
	({                                              \
		volatile __u64 buf[S61_FRAME / 8];      \
		for (int i = 0; i < S61_FRAME / 8; i++) \
			buf[i] = (a) + i;               \
		(int)(buf[0] + buf[S61_FRAME / 8 - 1]); \
	})

/*
 * Global function s61_<p><n>, which calls s61_<p><next> and adds @own:
 * an S61_USE_FRAME() for a frame of its own, a constant for none.
 */
#define S61_LINK(p, n, next, own)                        \
	__noinline int s61_##p##n(struct __sk_buff *skb) \
	{                                                \
		return (own) + s61_##p##next(skb);       \
	}

__noinline int s61_g4(struct __sk_buff *skb)
{
	return S61_USE_FRAME(skb->len);
}

S61_LINK(g, 3, 4, S61_USE_FRAME(skb->len))
S61_LINK(g, 2, 3, S61_USE_FRAME(skb->len))
S61_LINK(g, 1, 2, S61_USE_FRAME(skb->len))

SEC("tc")
int s61_bytes(struct __sk_buff *skb)
{
	return s61_g1(skb) & 1;
}

/* s61_fN calls s61_fN+1: 8 frames from s61_frames down to s61_f7 */
__noinline int s61_f7(struct __sk_buff *skb)
{
	return skb->len & 1;
}

S61_LINK(f, 6, 7, 1)
S61_LINK(f, 5, 6, 1)
S61_LINK(f, 4, 5, 1)
S61_LINK(f, 3, 4, 1)
S61_LINK(f, 2, 3, 1)
S61_LINK(f, 1, 2, 1)

SEC("tc")
int s61_frames(struct __sk_buff *skb)
{
	return s61_f1(skb) & 1;
}

static int s61_cb(__u32 i, void *ctx)
{
	__u64 *sum = ctx;

	*sum += S61_USE_FRAME(i);
	return 0;
}

static __noinline int s61_static(__u32 n)
{
	__u64 sum = n;

	bpf_loop(n & 7, s61_cb, &sum, 0);
	return sum & 1;
}

SEC("tc")
int s61_fits(struct __sk_buff *skb)
{
	return s61_static(skb->len);
}
