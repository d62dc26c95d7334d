/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers shared by the packet tests: the fixture (a fresh datapath per
 * test, clock at T0), addresses and tuples from text, services, packets
 * built from specs, and runs that compare whole output packets.  Failures
 * are cmocka failures at the caller's test.
 */
#ifndef TAILPLANE_TESTS_PKTTEST_H
#define TAILPLANE_TESTS_PKTTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "harness.h"
#include "pktgen.h"

#define PASS   0 /* TC_ACT_OK */
#define DROP   2 /* TC_ACT_SHOT */
#define SEC_NS 1000000000ULL
#define T0     (1000 * SEC_NS) /* the fixed clock tests start at */

/* The address plan of docs/DESIGN: tailnet, nodes and pods, VIPs. */
#define CLIENT4 "100.64.0.1"
#define CLIENT6 "fd7a:115c:a1e0::1"
#define VIP4	"198.19.0.10"
#define VIP6	"fd00:198:19::a"
#define ROUTER4 "198.18.0.254"
#define ROUTER6 "fd00:198:18::fe"

extern const char *BE4[10]; /* backends 198.18.1.1 .. 198.18.1.10 */
extern const char *BE6[3];  /* backends fd00:198:18::1:1 .. :3 */

#define REQUIRE_BPF()                                                     \
	do {                                                              \
		if (th_unavailable()) {                                   \
			print_message("skipped: %s\n", th_unavailable()); \
			skip();                                           \
		}                                                         \
	} while (0)

#define build(s, p) build_at(s, p, __LINE__)

/* Address of a temporary flow spec. */
#define FLOWP(...) (&(struct pkt_spec[]){ flow(__VA_ARGS__) }[0])

int setup(void **state);
int setup_knobs(void **state, const struct th_knobs *knobs);
int teardown(void **state);
struct tp_addr addr(const char *s);
int family_of(const char *s);
__u8 icmp_proto(const char *s);
struct tp_svc_key svc_key(const char *vip, __u16 port, __u8 proto);
void service(struct th *h, const char *vip, __u16 port, __u8 proto,
	     const char **be, size_t n, __u16 be_port, const __u16 *w,
	     const __u8 *states, __u16 flags, __u32 affinity);
struct tp_ct_key ct_key(const char *s, __u16 sport, const char *d,
			__u16 dport, __u8 proto);
int ct_get(struct th *h, const struct tp_ct_key *k, struct tp_ct_entry *e);
unsigned int ct_count(struct th *h);
void build_at(const struct pkt_spec *s, struct pkt *p, int line);
void run_expect(struct th *h, enum th_hook hook, const struct pkt *in,
		int want_verdict, const struct pkt *want);
void run(struct th *h, enum th_hook hook, const struct pkt *in,
	 struct pkt *out, int *verdict);
struct pkt_spec flow(const char *s, __u16 sport, const char *d, __u16 dport,
		     __u8 proto, __u8 flags);
void expect_dnat(struct th *h, struct pkt_spec sp, const char *be,
		 __u16 port);
void expect_revnat(struct th *h, struct pkt_spec sp, const char *vip,
		   __u16 port);
void expect_untouched(struct th *h, enum th_hook hook,
		      const struct pkt_spec *sp, int verdict);
int backend_of(struct th *h, const struct pkt_spec *sp, const char **be,
	       size_t n);
void check_ct_dnat(struct th *h, const struct tp_ct_key *orig, const char *be,
		   __u16 be_port, __u8 state);

void ident(struct th *h, __u16 zone, const char *cidr, __u32 id);
__u32 rule(struct th *h, __u32 src, __u32 dst, __u16 zone, __u8 proto,
	   __u16 lo, __u16 hi, __u8 verdict);
void deflt(struct th *h, __u16 zone, __u8 verdict);
int send_in(struct th *h, const char *src, __u16 sport, const char *dst,
	    __u16 dport, __u8 proto, __u8 flags);
int send_out(struct th *h, const char *src, __u16 sport, const char *dst,
	     __u16 dport, __u8 proto, __u8 flags);
__u64 drops(struct th *h, int reason);
void uplink(struct th *h, __u32 ifindex);
int send_on(struct th *h, enum th_hook hook, int ifindex, int in_ifindex,
	    const struct pkt *in);
int send_spec(struct th *h, enum th_hook hook, int ifindex, int in_ifindex,
	      struct pkt_spec sp);
void icmp_err_t(struct pkt *out, const char *from, const char *to,
		const struct pkt_spec *quote, __u8 type, __u8 code, __u32 info);
void icmp_err(struct pkt *out, const char *from, const char *to,
	      const struct pkt_spec *quote);
struct tp_ct_entry ct_must(struct th *h, const struct tp_ct_key *k);

#endif /* TAILPLANE_TESTS_PKTTEST_H */
