/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers shared by the masquerade packet tests (tests/test_masq.c,
 * tests/test_attacks_masq.c): their address plan, masquerade on in a
 * zone, a pod's packets out and the tailnet's in, and flow specs turned
 * around.  Helpers that assert are mt_* macros passing the caller's
 * __FILE__ and __LINE__ to the mt_*_at functions, as pkttest.h's do.
 */
#ifndef TAILPLANE_TESTS_MASQTEST_H
#define TAILPLANE_TESTS_MASQTEST_H

#include <stdbool.h>

#include "pkttest.h"

/* the node's addresses on the zone's tailnet interface */
#define MASQ4 "100.64.0.100"
#define MASQ6 "fd7a:115c:a1e0::64"
#define POD4  "198.18.2.5"
#define POD4B "198.18.2.6"
#define POD6  "fd00:198:18::2:5"

/* zone 2 (tptun1) of the crossing tests */
#define MASQ2_4 "100.100.0.100" /* the node's zone-2 address */
#define MASQ2_6 "fd7a:115c:a1e0:2::64"
#define PEER2_4 "100.100.0.5" /* a zone-2 peer */
#define PEER2_6 "fd7a:115c:a1e0:2::5"

#define PORT_LO 61000 /* the SNAT port range masq_env() sets up */
#define PORT_HI 61999
#define PPORT	40000 /* the pod's source port */
#define DPORT	443   /* the tailnet peer's port */

/* where pod packets come from: lo, no tailnet interface, no uplink */
#define POD_IFINDEX 1

void mt_masq_set_at(const char *file, int line, struct th *h, __u32 zone,
		    bool on, const char *a4, const char *a6);
void mt_masq_cross_at(const char *file, int line, struct th *h, __u32 zone,
		      const char *a4, const char *a6, __u16 lo, __u16 hi);
void mt_masq_env_at(const char *file, int line, struct th *h, __u16 lo,
		    __u16 hi);
int mt_run_pkt_at(const char *file, int line, struct th *h, enum th_hook hook,
		  int ifindex, int in_ifindex, const struct pkt *in,
		  struct pkt *out);
int mt_run_spec_at(const char *file, int line, struct th *h, enum th_hook hook,
		   int ifindex, int in_ifindex, struct pkt_spec sp,
		   struct pkt *out);
int mt_pod_out_at(const char *file, int line, struct th *h, struct pkt_spec sp,
		  struct pkt *out);
int mt_tailnet_in_at(const char *file, int line, struct th *h,
		     struct pkt_spec sp, struct pkt *out);
struct tp_ct_key mt_key_of_at(const char *file, int line,
			      const struct pkt_spec *first);
void mt_frag_expect_at(const char *file, int line, struct th *h,
		       enum th_hook hook, int in_ifindex,
		       const struct pkt *whole, const struct pkt *want_whole,
		       size_t off, size_t len, int more, uint32_t id);
void mt_frags_both_ways_at(const char *file, int line, struct th *h,
			   struct pkt_spec q, const char *masq, __u16 port,
			   size_t cut, uint32_t out_id, uint32_t in_id);
void mt_tailnet_untouched_at(const char *file, int line, struct th *h,
			     struct pkt_spec sp);
void mt_expect_answer_at(const char *file, int line, struct th *h,
			 struct pkt_spec q, const char *masq, __u16 port);
#define mt_masq_set(...)    mt_masq_set_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_masq_cross(...)  mt_masq_cross_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_masq_env(...)    mt_masq_env_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_run_pkt(...)	    mt_run_pkt_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_run_spec(...)    mt_run_spec_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_pod_out(...)	    mt_pod_out_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_tailnet_in(...)  mt_tailnet_in_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_frag_expect(...) mt_frag_expect_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_frags_both_ways(...) \
	mt_frags_both_ways_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_tailnet_untouched(...) \
	mt_tailnet_untouched_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_expect_answer(...) \
	mt_expect_answer_at(__FILE__, __LINE__, __VA_ARGS__)
#define mt_key_of(...) mt_key_of_at(__FILE__, __LINE__, __VA_ARGS__)

bool mt_is_echo(__u8 proto);
struct pkt_spec mt_first_of(const char *src, __u16 sport, const char *peer,
			    __u8 proto);
struct pkt_spec mt_answer_of(struct pkt_spec q);
struct pkt_spec mt_with_side(struct pkt_spec sp, bool src, const char *addr,
			     __u16 port);

#endif /* TAILPLANE_TESTS_MASQTEST_H */
