/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers shared by the packet tests: the fixture (a fresh datapath per
 * test, clock at T0), addresses and tuples from text, services, packets
 * built from specs, and runs that compare whole output packets.  Failures
 * are cmocka failures at the caller's line (the pt_* macros pass
 * __FILE__ and __LINE__ to the pt_*_at functions).
 */
#ifndef TAILPLANE_TESTS_PKTTEST_H
#define TAILPLANE_TESTS_PKTTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include <bpf/libbpf.h>

#include "harness.h"
#include "pktgen.h"

#define PASS   0 /* TC_ACT_OK */
#define DROP   2 /* TC_ACT_SHOT */
#define SEC_NS 1000000000ULL
#define T0     (1000 * SEC_NS) /* the fixed clock tests start at */

/* The short names the packet tables use. */
#define TCP  IPPROTO_TCP
#define UDP  IPPROTO_UDP
#define ICMP IPPROTO_ICMP
#define SYN  PKT_TCP_SYN
#define ACK  PKT_TCP_ACK
#define RST  PKT_TCP_RST
#define FIN  PKT_TCP_FIN

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
		if (th_load_refused_here())                               \
			fail_msg("the kernel refused the object: %s",     \
				 th_unavailable());                       \
		if (th_unavailable()) {                                   \
			print_message("skipped: %s\n", th_unavailable()); \
			skip();                                           \
		}                                                         \
	} while (0)

/*
 * A fault an attack test found that has no small, clear fix yet: the test
 * says "FAULT: @msg" and skips, unless TP_RUN_FAULTS=1 (then it runs, and
 * fails as written).
 */
#define FAULT_UNFIXED(msg)                                 \
	do {                                               \
		if (!getenv("TP_RUN_FAULTS")) {            \
			print_message("FAULT: %s\n", msg); \
			skip();                            \
		}                                          \
	} while (0)

/*
 * Assertions of helpers that take the caller's @file and @line (the pt_*_at
 * functions): a failure names the test's line, not the helper's.
 */
#define PT_EQ(a, b)                                         \
	_assert_int_equal(cast_to_largest_integral_type(a), \
			  cast_to_largest_integral_type(b), file, line)
#define PT_NE(a, b)                                             \
	_assert_int_not_equal(cast_to_largest_integral_type(a), \
			      cast_to_largest_integral_type(b), file, line)
#define PT_MEM_EQ(a, b, n) _assert_memory_equal(a, b, n, file, line)
#define PT_FAIL(...)                                \
	do {                                        \
		print_error("ERROR: " __VA_ARGS__); \
		print_error("\n");                  \
		_fail(file, line);                  \
	} while (0)
#define PT_PKT_EQ(want, want_len, got, got_len)                              \
	do {                                                                 \
		if (pkt_compare(stderr, (const uint8_t *)(want), (want_len), \
				(const uint8_t *)(got), (got_len)))          \
			PT_FAIL("packets differ: want %s, got %s", #want,    \
				#got);                                       \
	} while (0)

/* Address of a temporary flow spec. */
#define FLOWP(...) (&(struct pkt_spec[]){ pt_flow(__VA_ARGS__) }[0])

/* Fixture: a fresh datapath per test (pt_setup_knobs: with @knobs), clock at T0. */
int pt_setup(void **state);
int pt_setup_knobs(void **state, const struct th_knobs *knobs);
int pt_setup_small(void **state);
int pt_setup_with(void **state, void (*install)(struct th *h));
int pt_teardown(void **state);

/* Addresses, keys and specs from text. */
int pt_family_of(const char *s);
__u8 pt_icmp_proto(const char *s);
struct pkt_spec pt_flow(const char *s, __u16 sport, const char *d, __u16 dport,
			__u8 proto, __u8 flags);
struct pkt_spec pt_echo(const char *s, const char *d, __u16 id, __u16 seq);
struct pkt_spec pt_icmp_err_spec(const char *from, const char *to, __u8 type,
				 __u8 code, __u32 info);
struct pkt_spec pt_nat_spec(struct pkt_spec sp, bool dst, const char *addr,
			    __u16 port);
struct tp_addr pt_addr_at(const char *file, int line, const char *s);
struct tp_svc_key pt_svc_key_at(const char *file, int line, const char *vip,
				__u16 port, __u8 proto);
struct tp_ct_key pt_ct_key_at(const char *file, int line, const char *s,
			      __u16 sport, const char *d, __u16 dport,
			      __u8 proto);
#define pt_addr(...)	pt_addr_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_svc_key(...) pt_svc_key_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_ct_key(...)	pt_ct_key_at(__FILE__, __LINE__, __VA_ARGS__)

/* Map state. */
void pt_service_at(const char *file, int line, struct th *h, const char *vip,
		   __u16 port, __u8 proto, const char **be, size_t n,
		   __u16 be_port, const __u16 *w, const __u8 *states,
		   __u16 flags, __u32 affinity);
/*
 * The web service, VIP4:80/TCP to BE4[0]:8080 (with a client's SYN from
 * CLIENT4:40000 DNATed: pt_web_flow); that client's packets DNATed, the
 * backend's replies to it reverse-NATed.
 */
void pt_web_service_at(const char *file, int line, struct th *h);
void pt_web_flow_at(const char *file, int line, struct th *h);
void pt_web_in_at(const char *file, int line, struct th *h, __u8 flags);
void pt_web_reply_at(const char *file, int line, struct th *h, __u8 flags);
struct tp_ct_entry pt_web_entry_at(const char *file, int line, struct th *h);
void pt_ident_at(const char *file, int line, struct th *h, __u16 zone,
		 const char *cidr, __u32 id);
__u32 pt_rule_at(const char *file, int line, struct th *h, __u32 src, __u32 dst,
		 __u16 zone, __u8 proto, __u16 lo, __u16 hi, __u8 verdict);
void pt_deflt_at(const char *file, int line, struct th *h, __u16 zone,
		 __u8 verdict);
void pt_uplink_at(const char *file, int line, struct th *h, __u32 ifindex);
int pt_ct_get(struct th *h, const struct tp_ct_key *k, struct tp_ct_entry *e);
unsigned int pt_ct_count(struct th *h);
void pt_ct_put_flow_at(const char *file, int line, int fd,
		       const struct tp_ct_key *k, const struct tp_ct_entry *e,
		       const char *snat, __u64 map_flags);
struct tp_ct_entry pt_ct_must_at(const char *file, int line, struct th *h,
				 const struct tp_ct_key *k);
int pt_affinity_first_at(const char *file, int line, struct th *h, size_t n,
			 struct tp_affinity_key *ak, struct tp_affinity *aff);
void pt_check_ct_dnat_as_at(const char *file, int line, struct th *h,
			    const struct tp_ct_key *orig, const char *be,
			    __u16 be_port, __u8 state, bool keyed);
void pt_expect_first_clash_at(const char *file, int line, struct th *h,
			      const struct pkt_spec *sp);
bool pt_be_frontend_has(struct th *h, const struct tp_addr *be, __u16 port,
			__u8 proto, const struct tp_addr *vip, __be16 vport);
void pt_check_be_frontend_at(const char *file, int line, struct th *h,
			     const char *be, __u16 port, __u8 proto,
			     const struct tp_addr *vip, __be16 vport);
void pt_unindex_at(const char *file, int line, struct th *h);
/* the first backend of the service at @vip:@port/@proto in *@be: its id */
__u32 pt_svc_backend_at(const char *file, int line, struct th *h,
			const char *vip, __u16 port, __u8 proto,
			struct tp_backend *be);
#define pt_svc_backend(...) pt_svc_backend_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_unindex(h)	    pt_unindex_at(__FILE__, __LINE__, h)
__u64 pt_drops(struct th *h, int reason);
int pt_xdp_run(struct th *h, const void *data, size_t len);
#define pt_service(...)	    pt_service_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_ident(...)	    pt_ident_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_rule(...)	    pt_rule_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_deflt(...)	    pt_deflt_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_uplink(...)	    pt_uplink_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_ct_must(...)	    pt_ct_must_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_ct_put_flow(...) pt_ct_put_flow_at(__FILE__, __LINE__, __VA_ARGS__)
/* a DNAT flow's entries: one (its backend indexed), or with its reply key */
#define pt_check_ct_dnat(h, orig, be, port, state)                           \
	pt_check_ct_dnat_as_at(__FILE__, __LINE__, h, orig, be, port, state, \
			       false)
#define pt_check_ct_dnat_keyed(h, orig, be, port, state)                     \
	pt_check_ct_dnat_as_at(__FILE__, __LINE__, h, orig, be, port, state, \
			       true)
#define pt_expect_first_clash(h, sp) \
	pt_expect_first_clash_at(__FILE__, __LINE__, h, sp)

/* the web service and its packets, an affinity service's first flow */
#define pt_web_service(h)      pt_web_service_at(__FILE__, __LINE__, h)
#define pt_web_flow(h)	       pt_web_flow_at(__FILE__, __LINE__, h)
#define pt_web_in(h, flags)    pt_web_in_at(__FILE__, __LINE__, h, flags)
#define pt_web_reply(h, flags) pt_web_reply_at(__FILE__, __LINE__, h, flags)
#define pt_web_entry(h)	       pt_web_entry_at(__FILE__, __LINE__, h)
#define pt_affinity_first(h, n, ak, aff) \
	pt_affinity_first_at(__FILE__, __LINE__, h, n, ak, aff)

/* Packets: build, run, compare whole output packets. */
void pt_build_at(const char *file, int line, const struct pkt_spec *s,
		 struct pkt *p);
void pt_run_expect_from_at(const char *file, int line, struct th *h,
			   enum th_hook hook, int in_ifindex,
			   const struct pkt *in, int want_verdict,
			   const struct pkt *want);
void pt_run_expect_at(const char *file, int line, struct th *h,
		      enum th_hook hook, const struct pkt *in, int want_verdict,
		      const struct pkt *want);
void pt_run_at(const char *file, int line, struct th *h, enum th_hook hook,
	       const struct pkt *in, struct pkt *out, int *verdict);
void pt_expect_dnat_at(const char *file, int line, struct th *h,
		       struct pkt_spec sp, const char *be, __u16 port);
void pt_expect_revnat_at(const char *file, int line, struct th *h,
			 struct pkt_spec sp, const char *vip, __u16 port);
void pt_expect_untouched_at(const char *file, int line, struct th *h,
			    enum th_hook hook, const struct pkt_spec *sp,
			    int verdict);
int pt_backend_of_at(const char *file, int line, struct th *h,
		     const struct pkt_spec *sp, const char **be, size_t n);
struct tp_rule pt_rule_spec(__u32 src, __u32 dst, __u16 zone, __u8 proto,
			    __u16 lo, __u16 hi, __u8 verdict);
int pt_send_in_at(const char *file, int line, struct th *h, const char *src,
		  __u16 sport, const char *dst, __u16 dport, __u8 proto,
		  __u8 flags);
int pt_send_out_at(const char *file, int line, struct th *h, const char *src,
		   __u16 sport, const char *dst, __u16 dport, __u8 proto,
		   __u8 flags);
/*
 * A flow packet in from (out to) the tailnet that must pass: the conntrack
 * entry it leaves under its tuple.
 */
struct tp_ct_entry pt_open_in_at(const char *file, int line, struct th *h,
				 const char *src, __u16 sport, const char *dst,
				 __u16 dport, __u8 proto, __u8 flags);
struct tp_ct_entry pt_open_out_at(const char *file, int line, struct th *h,
				  const char *src, __u16 sport, const char *dst,
				  __u16 dport, __u8 proto, __u8 flags);
int pt_send_on_at(const char *file, int line, struct th *h, enum th_hook hook,
		  int ifindex, int in_ifindex, const struct pkt *in);
int pt_send_spec_at(const char *file, int line, struct th *h, enum th_hook hook,
		    int ifindex, int in_ifindex, struct pkt_spec sp);
void pt_icmp_err_on_at(const char *file, int line, struct pkt *out,
		       const char *from, const char *to,
		       const struct pkt_spec *quote, __u8 type, __u8 code,
		       __u32 info, int l2, __u8 ttl);
void pt_icmp_err_t_at(const char *file, int line, struct pkt *out,
		      const char *from, const char *to,
		      const struct pkt_spec *quote, __u8 type, __u8 code,
		      __u32 info);
void pt_icmp_err_at(const char *file, int line, struct pkt *out,
		    const char *from, const char *to,
		    const struct pkt_spec *quote);
void pt_icmp_err_quoting_at(const char *file, int line, struct pkt *out,
			    const char *from, const char *to,
			    const struct pkt *inner, size_t inner_len);
/*
 * A TCP handshake: @client:@cport's SYN in from the tailnet, @server's
 * SYN|ACK out to it, the client's ACK in; each must pass.
 */
void pt_handshake_at(const char *file, int line, struct th *h,
		     const char *client, __u16 cport, const char *server,
		     __u16 port);
/*
 * Zone 1 denies by default, a rule lets @src_id reach @dst_id on TCP port
 * 80, and @client's SYN from port 1000 to @server:80 passes.
 */
void pt_allowed_flow_at(const char *file, int line, struct th *h, __u32 src_id,
			__u32 dst_id, const char *client, const char *server);
/*
 * A flow from a zone-1 @client to a zone-2 @peer: its SYN in through zone
 * 1, the peer's SYN|ACK in through zone 2's interface and out through zone
 * 1's (forwarded from zone 2); each must pass.
 */
void pt_cross_zones_at(const char *file, int line, struct th *h,
		       const char *client, __u16 cport, const char *peer,
		       __u16 port);
int pt_tc_attach(int ifindex, enum bpf_tc_attach_point where, int prog_fd);
void pt_tc_detach_all(int ifindex);
void pt_expect_pkt_at(const char *file, int line, struct pkt_spec want_sp,
		      const struct pkt *got);
#define pt_build(...)	   pt_build_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_run_expect(...) pt_run_expect_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_run_expect_from(...) \
	pt_run_expect_from_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_run(...)	    pt_run_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_expect_dnat(...) pt_expect_dnat_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_expect_revnat(...) \
	pt_expect_revnat_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_expect_untouched(...) \
	pt_expect_untouched_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_backend_of(...)   pt_backend_of_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_send_in(...)	     pt_send_in_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_send_out(...)     pt_send_out_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_send_on(...)	     pt_send_on_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_send_spec(...)    pt_send_spec_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_icmp_err_t(...)   pt_icmp_err_t_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_icmp_err(...)     pt_icmp_err_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_expect_pkt(...)   pt_expect_pkt_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_allowed_flow(...) pt_allowed_flow_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_handshake(...)    pt_handshake_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_cross_zones(...)  pt_cross_zones_at(__FILE__, __LINE__, __VA_ARGS__)

/* a flow opened in or out, an error quoting a built packet */
#define pt_open_in(...)	 pt_open_in_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_open_out(...) pt_open_out_at(__FILE__, __LINE__, __VA_ARGS__)
#define pt_icmp_err_quoting(out, from, to, inner, inner_len)             \
	pt_icmp_err_quoting_at(__FILE__, __LINE__, out, from, to, inner, \
			       inner_len)

#endif /* TAILPLANE_TESTS_PKTTEST_H */
