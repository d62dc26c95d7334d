/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers shared by the SNAT packet tests (tests/test_snat.c,
 * tests/test_attacks_snat.c): their address plan, the uplink and the
 * node's SNAT addresses, SNAT services, packets in from the tailnet and
 * the uplink, flows opened and their replies restored, and the flows'
 * conntrack keys.  Helpers that assert are
 * st_* macros passing the caller's __FILE__ and __LINE__ to the st_*_at
 * functions, as pkttest.h's do.
 */
#ifndef TAILPLANE_TESTS_SNATTEST_H
#define TAILPLANE_TESTS_SNATTEST_H

#include "pkttest.h"

#define REDIRECT 7 /* TC_ACT_REDIRECT */

#define SNAT4	"198.18.0.1" /* the node's SNAT addresses */
#define SNAT6	"fd00:198:18::1"
#define PORT_LO 61000 /* the SNAT port range most tests set up */
#define PORT_HI 61999
#define BE_PORT 8080  /* the backends' port */
#define VPORT	80    /* the services' port */
#define CPORT	40000 /* the tailnet client's port */

#define ID_CLIENT 300 /* zone 1: 100.64.0.0/24 */
#define ID_WEB	  400 /* zone 0: 198.18.1.0/24 */

extern int st_up_ifindex; /* the test uplink tpup0, set by st_snat_env() */

void st_snat_env_at(const char *file, int line, struct th *h, __u16 lo,
		    __u16 hi, __u32 flags);
void st_idents_at(const char *file, int line, struct th *h);
void st_snat_service_at(const char *file, int line, struct th *h,
			const char *vip, __u8 proto, const char *be,
			__u16 flags);
int st_run_on_at(const char *file, int line, struct th *h, enum th_hook hook,
		 int ifindex, const struct pkt *in, struct pkt *out);
int st_tailnet_in_on_at(const char *file, int line, struct th *h, int ifindex,
			struct pkt_spec sp, struct pkt *out);
int st_uplink_in_at(const char *file, int line, struct th *h,
		    struct pkt_spec sp, struct pkt *out);
struct tp_ct_key st_key_z_at(const char *file, int line, const char *s,
			     __u16 sport, const char *d, __u16 dport,
			     __u8 proto, __u16 zone);
__u16 st_snat_port_of_at(const char *file, int line, struct th *h,
			 const struct tp_ct_key *orig);
__u16 st_open_at(const char *file, int line, struct th *h, struct pkt_spec sp,
		 const struct tp_ct_key *k);
__u16 st_client_flow_at(const char *file, int line, struct th *h, __u8 proto,
			__u16 cport, struct tp_ct_key *k);
void st_uplink_untouched_at(const char *file, int line, struct th *h,
			    struct pkt_spec sp);
void st_expect_restored_at(const char *file, int line, struct th *h,
			   struct pkt_spec reply, struct pkt_spec want);
struct pkt_spec st_df_frame(struct pkt_spec sp, const void *payload,
			    size_t len);
void st_attach_reply_path_at(const char *file, int line, struct th *h);
void st_detach_reply_path(struct th *h);
#define st_snat_env(...)     st_snat_env_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_snat_service(...) st_snat_service_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_idents(...)	     st_idents_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_run_on(...)	     st_run_on_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_tailnet_in_on(...) \
	st_tailnet_in_on_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_tailnet_in(h, sp, out) \
	st_tailnet_in_on_at(__FILE__, __LINE__, h, (h)->l3_ifindex, sp, out)
#define st_uplink_in(...)    st_uplink_in_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_key_z(...)	     st_key_z_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_snat_port_of(...) st_snat_port_of_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_open(...)	     st_open_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_client_flow(...)  st_client_flow_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_uplink_untouched(...) \
	st_uplink_untouched_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_expect_restored(...) \
	st_expect_restored_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_icmp_err(...) pt_icmp_err_on_at(__FILE__, __LINE__, __VA_ARGS__)
#define st_attach_reply_path(...) \
	st_attach_reply_path_at(__FILE__, __LINE__, __VA_ARGS__)

/* The usual flow's reply key: BE4[0]:BE_PORT -> SNAT4:@port, zone 0. */
#define st_reply_key(port, proto) \
	st_key_z(BE4[0], BE_PORT, SNAT4, port, proto, 0)

#endif /* TAILPLANE_TESTS_SNATTEST_H */
