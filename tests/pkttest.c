// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Helpers shared by the packet tests; see pkttest.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conntrack.h"
#include "identity.h"
#include "iface.h"
#include "pkttest.h"
#include "policy.h"
#include "service.h"

const char *BE4[10] = { "198.18.1.1", "198.18.1.2", "198.18.1.3", "198.18.1.4",
			"198.18.1.5", "198.18.1.6", "198.18.1.7", "198.18.1.8",
			"198.18.1.9", "198.18.1.10" };
const char *BE6[3] = { "fd00:198:18::1:1", "fd00:198:18::1:2",
		       "fd00:198:18::1:3" };

/* ---- fixture ------------------------------------------------------------- */

/**
 * pt_setup_knobs() - cmocka setup: a fresh datapath with @knobs, clock at T0.
 * Without BPF it leaves an empty one so REQUIRE_BPF() can skip.
 */
int pt_setup_knobs(void **state, const struct th_knobs *knobs)
{
	struct th *h = calloc(1, sizeof(*h));

	if (!h)
		return -1;
	*state = h;
	if (th_unavailable())
		return 0;
	if (th_open(h, knobs))
		return -1;
	th_set_clock(h, T0);
	return 0;
}

/**
 * pt_setup_small() - cmocka setup: 64 rules (512 tp_policy entries), 64
 * identity prefixes and 64 services, sized as the loader sizes them, for
 * tests that fill a table to its last entry: a few hundred writes, not
 * the million the default tp_policy takes (minutes under qemu's
 * emulation in the VM run).
 */
int pt_setup_small(void **state)
{
	static const struct th_knobs small = { .cap_services = 64,
					       .cap_identities = 64,
					       .cap_rules = 64 };

	return pt_setup_knobs(state, &small);
}

/** setup() - cmocka setup with the default knobs. */
int pt_setup(void **state)
{
	return pt_setup_knobs(state, NULL);
}

/**
 * pt_setup_with() - pt_setup(), then @install's map state (identities,
 * defaults: what every test of a file starts from) when BPF is here.
 */
int pt_setup_with(void **state, void (*install)(struct th *h))
{
	int err = pt_setup(state);

	if (!err && !th_unavailable())
		install(*state);
	return err;
}

int pt_teardown(void **state)
{
	struct th *h = *state;

	if (h->skel)
		th_close(h);
	free(h);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

struct tp_addr pt_addr_at(const char *file, int line, const char *s)
{
	struct tp_addr a;

	PT_EQ(pkt_addr_parse(s, &a), 0);
	return a;
}

int pt_family_of(const char *s)
{
	return strchr(s, ':') ? AF_INET6 : AF_INET;
}

__u8 pt_icmp_proto(const char *s)
{
	return pt_family_of(s) == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
}

struct tp_svc_key pt_svc_key_at(const char *file, int line, const char *vip,
				__u16 port, __u8 proto)
{
	struct tp_svc_key k = { .vip = pt_addr_at(file, line, vip),
				.port = htons(port),
				.proto = proto };

	return k;
}

/* A service with backends @be[0..n) on @be_port, weights @w (NULL: 1). */
void pt_service_at(const char *file, int line, struct th *h, const char *vip,
		   __u16 port, __u8 proto, const char **be, size_t n,
		   __u16 be_port, const __u16 *w, const __u8 *states,
		   __u16 flags, __u32 affinity)
{
	struct tp_svc_key k = pt_svc_key_at(file, line, vip, port, proto);
	struct tp_svc_spec spec = { .flags = flags,
				    .affinity_timeout = affinity,
				    .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs[TP_MAX_SVC_BACKENDS] = {};
	size_t i;

	for (i = 0; i < n; i++) {
		bs[i].addr = pt_addr_at(file, line, be[i]);
		bs[i].port = htons(be_port);
		bs[i].weight = w ? w[i] : 1;
		bs[i].state = states ? states[i] : TP_BACKEND_ACTIVE;
	}
	PT_EQ(tp_service_set(&h->maps, &k, &spec, bs, n), 0);
}

struct tp_ct_key pt_ct_key_at(const char *file, int line, const char *s,
			      __u16 sport, const char *d, __u16 dport,
			      __u8 proto)
{
	struct tp_ct_key k = { .saddr = pt_addr_at(file, line, s),
			       .daddr = pt_addr_at(file, line, d),
			       .sport = htons(sport),
			       .dport = htons(dport),
			       .proto = proto,
			       .zone = TH_ZONE };

	return k;
}

int pt_ct_get(struct th *h, const struct tp_ct_key *k, struct tp_ct_entry *e)
{
	return bpf_map_lookup_elem(tp_ct_fd(&h->maps, k->proto), k, e) ? -errno
								       : 0;
}

static unsigned int map_count(int fd)
{
	struct tp_ct_key k, next;
	unsigned int n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/* Entries of both conntrack tables. */
unsigned int pt_ct_count(struct th *h)
{
	return map_count(h->maps.ct) + map_count(h->maps.ct_any);
}

/*
 * Write flow @k (its entry @e) into conntrack table @fd with its reply
 * key, the tuple its replies carry (@snat: a SNAT flow's address, else
 * NULL), both with @map_flags (BPF_NOEXIST to catch a collision).
 */
void pt_ct_put_flow_at(const char *file, int line, int fd,
		       const struct tp_ct_key *k, const struct tp_ct_entry *e,
		       const char *snat, __u64 map_flags)
{
	struct tp_addr snat_addr = {};
	struct tp_ct_entry rk = { .flags = TP_CT_F_REPLY_KEY |
					   (e->flags & TP_CT_F_SNAT),
				  .orig_daddr = k->daddr,
				  .orig_dport = k->dport,
				  .orig_zone = k->zone };
	struct tp_ct_key reply;

	if (snat)
		snat_addr = pt_addr_at(file, line, snat);
	if (!tp_ct_reply_tuple_via(k, e, snat ? &snat_addr : NULL, &reply))
		PT_FAIL("a SNAT flow needs its SNAT address");
	if (e->flags & TP_CT_F_SNAT) {
		/* the client the reply tuple no longer has */
		rk.orig_saddr = k->saddr;
		rk.orig_sport = k->sport;
	}
	PT_EQ(bpf_map_update_elem(fd, k, e, map_flags), 0);
	PT_EQ(bpf_map_update_elem(fd, &reply, &rk, map_flags), 0);
}

void pt_build_at(const char *file, int line, const struct pkt_spec *s,
		 struct pkt *p)
{
	int err = pkt_build(s, p);

	if (err)
		PT_FAIL("pkt_build: %s", strerror(-err));
}

/*
 * Run @in through @hook on the test TUN (or on loopback as Ethernet when
 * @in->l2) as if it came in on @in_ifindex (0: sent by this host), and
 * check the verdict and, when @want is given, the output.
 */
void pt_run_expect_from_at(const char *file, int line, struct th *h,
			   enum th_hook hook, int in_ifindex,
			   const struct pkt *in, int want_verdict,
			   const struct pkt *want)
{
	uint8_t out[PKT_MAX];
	size_t out_len = 0;
	int verdict = -1;
	char why[128];

	PT_EQ(th_run_from(h, hook, in->l2 ? 0 : h->l3_ifindex, in_ifindex,
			  in->data, in->len, out, &out_len, &verdict),
	      0);
	PT_EQ(verdict, want_verdict);
	if (!want)
		return;
	PT_PKT_EQ(want->data, want->len, out, out_len);
	if (pkt_verify_csums(want, want->l2, why, sizeof(why)))
		PT_FAIL("expected packet has bad checksums: %s", why);
}

/* pt_run_expect_from_at() for a packet this host sent. */
void pt_run_expect_at(const char *file, int line, struct th *h,
		      enum th_hook hook, const struct pkt *in, int want_verdict,
		      const struct pkt *want)
{
	pt_run_expect_from_at(file, line, h, hook, 0, in, want_verdict, want);
}

/* Run and return the output packet. */
void pt_run_at(const char *file, int line, struct th *h, enum th_hook hook,
	       const struct pkt *in, struct pkt *out, int *verdict)
{
	out->l2 = in->l2;
	PT_EQ(th_run(h, hook, in->l2 ? 0 : h->l3_ifindex, in->data, in->len,
		     out->data, &out->len, verdict),
	      0);
}

/* An echo request (ICMP or ICMPv6, by @s's family) of @id/@seq, "ping". */
struct pkt_spec pt_echo(const char *s, const char *d, __u16 id, __u16 seq)
{
	__u8 proto = pt_icmp_proto(s);
	struct pkt_spec sp = { .family = pt_family_of(s),
			       .saddr = s,
			       .daddr = d,
			       .proto = proto,
			       .icmp_type = proto == IPPROTO_ICMPV6 ? 128 : 8,
			       .icmp_id = id,
			       .icmp_seq = seq,
			       .payload = "ping",
			       .payload_len = 4 };

	return sp;
}

/* A TCP/UDP packet spec. */
struct pkt_spec pt_flow(const char *s, __u16 sport, const char *d, __u16 dport,
			__u8 proto, __u8 flags)
{
	struct pkt_spec sp = { .family = pt_family_of(s),
			       .saddr = s,
			       .daddr = d,
			       .proto = proto,
			       .sport = sport,
			       .dport = dport,
			       .tcp_flags = flags,
			       .seq = 1000,
			       .ack_seq = 0,
			       .ip_id = 0x1234,
			       .payload = "tailplane",
			       .payload_len = 9 };

	return sp;
}

/* An ICMP/ICMPv6 error @type/@code (@info: an MTU, a pointer) from @from to @to. */
struct pkt_spec pt_icmp_err_spec(const char *from, const char *to, __u8 type,
				 __u8 code, __u32 info)
{
	struct pkt_spec sp = { .family = pt_family_of(from),
			       .saddr = from,
			       .daddr = to,
			       .proto = pt_icmp_proto(from),
			       .icmp_type = type,
			       .icmp_code = code,
			       .icmp_info = info };

	return sp;
}

/* @sp with its destination (@dst) or source rewritten to @addr:@port. */
struct pkt_spec pt_nat_spec(struct pkt_spec sp, bool dst, const char *addr,
			    __u16 port)
{
	if (dst) {
		sp.daddr = addr;
		sp.dport = port;
	} else {
		sp.saddr = addr;
		sp.sport = port;
	}
	return sp;
}

/*
 * Run @sp through @hook; expect it out with its destination (@dst) or
 * source rewritten to @addr:@port, all else the same.
 */
static void pt_expect_nat_at(const char *file, int line, struct th *h,
			     enum th_hook hook, struct pkt_spec sp, bool dst,
			     const char *addr, __u16 port)
{
	struct pkt_spec nat = pt_nat_spec(sp, dst, addr, port);
	struct pkt in, want;

	pt_build_at(file, line, &sp, &in);
	pt_build_at(file, line, &nat, &want);
	pt_run_expect_at(file, line, h, hook, &in, PASS, &want);
}

/* Send @sp from the tailnet; expect its destination rewritten to @be:@port. */
void pt_expect_dnat_at(const char *file, int line, struct th *h,
		       struct pkt_spec sp, const char *be, __u16 port)
{
	pt_expect_nat_at(file, line, h, TH_FROM_TAILNET, sp, true, be, port);
}

/* Send @sp to the tailnet; expect its source rewritten to @vip:@port. */
void pt_expect_revnat_at(const char *file, int line, struct th *h,
			 struct pkt_spec sp, const char *vip, __u16 port)
{
	pt_expect_nat_at(file, line, h, TH_TO_TAILNET, sp, false, vip, port);
}

void pt_expect_untouched_at(const char *file, int line, struct th *h,
			    enum th_hook hook, const struct pkt_spec *sp,
			    int verdict)
{
	struct pkt in;

	pt_build_at(file, line, sp, &in);
	pt_run_expect_at(file, line, h, hook, &in, verdict, &in);
}

/* Which of @be[0..n) the output destination of @sp went to, or -1. */
int pt_backend_of_at(const char *file, int line, struct th *h,
		     const struct pkt_spec *sp, const char **be, size_t n)
{
	struct pkt in, out;
	struct tp_addr got, want;
	int verdict;
	size_t i;

	pt_build_at(file, line, sp, &in);
	pt_run_at(file, line, h, TH_FROM_TAILNET, &in, &out, &verdict);
	PT_EQ(verdict, PASS);
	if (pt_family_of(sp->saddr) == AF_INET6) {
		memcpy(got.b, out.data + 24, 16);
	} else {
		memset(&got, 0, sizeof(got));
		got.w[2] = htonl(0xffff);
		memcpy(&got.w[3], out.data + 16, 4);
	}
	for (i = 0; i < n; i++) {
		want = pt_addr_at(file, line, be[i]);
		if (!memcmp(&want, &got, sizeof(got)))
			return i;
	}
	return -1;
}

/*
 * An affinity service (100 s) VIP4:80/TCP over BE4[0..n) on 8080, and the
 * client's SYN from CLIENT4:30000 to it: the index of the backend it took,
 * with the client's affinity key (@ak) and the entry the SYN left (@aff).
 */
int pt_affinity_first_at(const char *file, int line, struct th *h, size_t n,
			 struct tp_affinity_key *ak, struct tp_affinity *aff)
{
	struct tp_svc_key k = pt_svc_key_at(file, line, VIP4, 80, IPPROTO_TCP);
	struct pkt_spec sp =
		pt_flow(CLIENT4, 30000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN);
	struct tp_svc svc;
	int first;

	pt_service_at(file, line, h, VIP4, 80, IPPROTO_TCP, BE4, n, 8080, NULL,
		      NULL, TP_SVC_F_AFFINITY, 100);
	PT_EQ(bpf_map_lookup_elem(h->maps.services, &k, &svc), 0);
	memset(ak, 0, sizeof(*ak));
	ak->client = pt_addr_at(file, line, CLIENT4);
	ak->svc_id = svc.id;
	first = pt_backend_of_at(file, line, h, &sp, BE4, n);
	if (first < 0 || (size_t)first >= n)
		PT_FAIL("the first flow went to no backend of the service");
	PT_EQ(bpf_map_lookup_elem(h->maps.affinity, ak, aff), 0);
	return first;
}

/*
 * Backends as a writer before tp_be_frontends left them: no
 * TP_BACKEND_F_INDEXED, no index entry.  Their new DNAT flows take a
 * reply-key entry, as every DNAT flow did.
 */
void pt_unindex_at(const char *file, int line, struct th *h)
{
	__u32 id, next, *prev = NULL;
	struct tp_be_key bk, bnext;
	struct tp_backend be;

	while (!bpf_map_get_next_key(h->maps.backends, prev, &next)) {
		id = next;
		prev = &id;
		PT_EQ(bpf_map_lookup_elem(h->maps.backends, &id, &be), 0);
		be.flags = 0;
		PT_EQ(bpf_map_update_elem(h->maps.backends, &id, &be,
					  BPF_EXIST),
		      0);
	}
	while (!bpf_map_get_next_key(h->maps.be_frontends, NULL, &bnext)) {
		bk = bnext;
		PT_EQ(bpf_map_delete_elem(h->maps.be_frontends, &bk), 0);
	}
}

__u32 pt_svc_backend_at(const char *file, int line, struct th *h,
			const char *vip, __u16 port, __u8 proto,
			struct tp_backend *be)
{
	struct tp_svc_key k = pt_svc_key_at(file, line, vip, port, proto);
	struct tp_svc svc;
	__u32 id = 0;

	PT_EQ(bpf_map_lookup_elem(h->maps.services, &k, &svc), 0);
	if (tp_service_backends(&h->maps, svc.id, &id, be, 1) < 1)
		PT_FAIL("the service at %s has no backend", vip);
	return id;
}

/*
 * The DNAT flow at @orig to @be:@be_port in @state: its flow entry, and
 * either nothing under its reply tuple, the backend indexed (@keyed
 * false: TP_CT_F_RINDEX), or its reply-key entry there (@keyed: a
 * backend without TP_BACKEND_F_INDEXED, the layout before the index).
 */
void pt_check_ct_dnat_as_at(const char *file, int line, struct th *h,
			    const struct tp_ct_key *orig, const char *be,
			    __u16 be_port, __u8 state, bool keyed)
{
	struct tp_ct_key reply = { .saddr = pt_addr_at(file, line, be),
				   .daddr = orig->saddr,
				   .sport = htons(be_port),
				   .dport = orig->sport,
				   .proto = orig->proto,
				   .zone = orig->zone };
	struct tp_ct_entry e, r;
	struct tp_addr b = pt_addr_at(file, line, be);

	PT_EQ(pt_ct_get(h, orig, &e), 0);
	PT_EQ(e.flags, keyed ? TP_CT_F_DNAT : TP_CT_F_DNAT | TP_CT_F_RINDEX);
	PT_EQ(e.state, state);
	PT_MEM_EQ(&e.nat_addr, &b, sizeof(b));
	PT_EQ(e.nat_port, htons(be_port));
	PT_NE(e.svc_id, 0);
	PT_NE(e.backend_id, 0);
	PT_EQ(e.ifindex, h->l3_ifindex);

	if (!keyed) {
		/* one entry: the reply tuple holds none, the backend is indexed */
		PT_EQ(pt_ct_get(h, &reply, &r), -ENOENT);
		pt_check_be_frontend_at(file, line, h, be, be_port, orig->proto,
					&orig->daddr, orig->dport);
		return;
	}
	/* the reply-key entry: what the reply tuple lacks of the original */
	PT_EQ(pt_ct_get(h, &reply, &r), 0);
	PT_EQ(r.flags, TP_CT_F_REPLY_KEY);
	PT_MEM_EQ(&r.orig_daddr, &orig->daddr, sizeof(orig->daddr));
	PT_EQ(r.orig_dport, orig->dport);
	PT_EQ(r.orig_zone, orig->zone);
}

/*
 * @sp from the tailnet is the first clash: dropped untouched, counted, and
 * no entry of its own.
 */
void pt_expect_first_clash_at(const char *file, int line, struct th *h,
			      const struct pkt_spec *sp)
{
	struct tp_ct_key k = pt_ct_key_at(file, line, sp->saddr, sp->sport,
					  sp->daddr, sp->dport, sp->proto);
	struct tp_ct_entry e;

	pt_expect_untouched_at(file, line, h, TH_FROM_TAILNET, sp, DROP);
	PT_EQ(pt_drops(h, TP_DROP_CT_CLASH), 1);
	PT_EQ(pt_ct_get(h, &k, &e), -ENOENT);
}

/* Does tp_be_frontends list frontend @vip:@vport for backend @be:@port? */
bool pt_be_frontend_has(struct th *h, const struct tp_addr *be, __u16 port,
			__u8 proto, const struct tp_addr *vip, __be16 vport)
{
	struct tp_be_key k = { .addr = *be,
			       .port = htons(port),
			       .proto = proto };
	struct tp_be_frontends v;
	int i;

	if (bpf_map_lookup_elem(h->maps.be_frontends, &k, &v))
		return false;
	for (i = 0; i < TP_BE_FRONTENDS; i++)
		if (!memcmp(&v.fe[i].vip, vip, sizeof(*vip)) &&
		    v.fe[i].port == vport && v.fe[i].proto == proto &&
		    !v.fe[i].pad)
			return true;
	return false;
}

void pt_check_be_frontend_at(const char *file, int line, struct th *h,
			     const char *be, __u16 port, __u8 proto,
			     const struct tp_addr *vip, __be16 vport)
{
	struct tp_addr b = pt_addr_at(file, line, be);

	if (!pt_be_frontend_has(h, &b, port, proto, vip, vport))
		PT_FAIL("tp_be_frontends lacks the frontend of %s", be);
}

/* The web service: VIP4:80 over TCP to its one backend, BE4[0]:8080. */
void pt_web_service_at(const char *file, int line, struct th *h)
{
	pt_service_at(file, line, h, VIP4, 80, IPPROTO_TCP, BE4, 1, 8080, NULL,
		      NULL, 0, 0);
}

/* The web client's packet (CLIENT4:40000, @flags): DNATed to BE4[0]:8080. */
void pt_web_in_at(const char *file, int line, struct th *h, __u8 flags)
{
	pt_expect_dnat_at(file, line, h,
			  pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, flags),
			  BE4[0], 8080);
}

/* The web backend's reply (@flags) to the client: reverse-NATed to VIP4:80. */
void pt_web_reply_at(const char *file, int line, struct th *h, __u8 flags)
{
	pt_expect_revnat_at(
		file, line, h,
		pt_flow(BE4[0], 8080, CLIENT4, 40000, IPPROTO_TCP, flags), VIP4,
		80);
}

/* The web client's flow's conntrack entry, which must be there. */
struct tp_ct_entry pt_web_entry_at(const char *file, int line, struct th *h)
{
	struct tp_ct_key k =
		pt_ct_key_at(file, line, CLIENT4, 40000, VIP4, 80, IPPROTO_TCP);

	return pt_ct_must_at(file, line, h, &k);
}

/* The web service, and a client's SYN from CLIENT4:40000 DNATed to it. */
void pt_web_flow_at(const char *file, int line, struct th *h)
{
	pt_web_service_at(file, line, h);
	pt_web_in_at(file, line, h, PKT_TCP_SYN);
}

/* ---- policy state and flows -------------------------------------------- */

/* Identity @id for @cidr in @zone (owner tpctl). */
void pt_ident_at(const char *file, int line, struct th *h, __u16 zone,
		 const char *cidr, __u32 id)
{
	struct tp_addr a;
	unsigned int plen;

	PT_EQ(pkt_prefix_parse(cidr, &a, &plen), 0);
	PT_EQ(tp_identity_set(&h->maps, zone, &a, plen, id, TP_OWNER_TPCTL), 0);
}

/*
 * A policy rule of no owner (to add, give it one; as a match, a verdict
 * of 0 will do).
 */
struct tp_rule pt_rule_spec(__u32 src, __u32 dst, __u16 zone, __u8 proto,
			    __u16 lo, __u16 hi, __u8 verdict)
{
	struct tp_rule r = { .src_id = src,
			     .dst_id = dst,
			     .zone = zone,
			     .proto = proto,
			     .port_lo = lo,
			     .port_hi = hi,
			     .verdict = verdict };

	return r;
}

/* A rule of tpctl's; returns its id. */
__u32 pt_rule_at(const char *file, int line, struct th *h, __u32 src, __u32 dst,
		 __u16 zone, __u8 proto, __u16 lo, __u16 hi, __u8 verdict)
{
	struct tp_rule r = pt_rule_spec(src, dst, zone, proto, lo, hi, verdict);
	__u32 id = 0;

	r.owner = TP_OWNER_TPCTL;
	PT_EQ(tp_policy_rule_add(&h->maps, &r, &id), 0);
	PT_NE(id, 0);
	return id;
}

void pt_deflt_at(const char *file, int line, struct th *h, __u16 zone,
		 __u8 verdict)
{
	PT_EQ(tp_policy_default_set(&h->maps, zone, verdict), 0);
}

/* A flow packet through @hook; returns the verdict. */
static int pt_send_flow_at(const char *file, int line, struct th *h,
			   enum th_hook hook, struct pkt_spec sp)
{
	struct pkt in, out;
	int verdict;

	pt_build_at(file, line, &sp, &in);
	pt_run_at(file, line, h, hook, &in, &out, &verdict);
	return verdict;
}

/* A flow packet from the tailnet; returns the verdict. */
int pt_send_in_at(const char *file, int line, struct th *h, const char *src,
		  __u16 sport, const char *dst, __u16 dport, __u8 proto,
		  __u8 flags)
{
	return pt_send_flow_at(file, line, h, TH_FROM_TAILNET,
			       pt_flow(src, sport, dst, dport, proto, flags));
}

/* A flow packet to the tailnet, sent by this host; returns the verdict. */
int pt_send_out_at(const char *file, int line, struct th *h, const char *src,
		   __u16 sport, const char *dst, __u16 dport, __u8 proto,
		   __u8 flags)
{
	return pt_send_flow_at(file, line, h, TH_TO_TAILNET,
			       pt_flow(src, sport, dst, dport, proto, flags));
}

/*
 * A flow packet through @hook that must pass: the conntrack entry of its
 * tuple (zone 1), which must be there.
 */
static struct tp_ct_entry pt_open_at(const char *file, int line, struct th *h,
				     enum th_hook hook, const char *src,
				     __u16 sport, const char *dst, __u16 dport,
				     __u8 proto, __u8 flags)
{
	struct tp_ct_key k =
		pt_ct_key_at(file, line, src, sport, dst, dport, proto);

	PT_EQ(pt_send_flow_at(file, line, h, hook,
			      pt_flow(src, sport, dst, dport, proto, flags)),
	      PASS);
	return pt_ct_must_at(file, line, h, &k);
}

/* pt_open_at() of a packet from the tailnet. */
struct tp_ct_entry pt_open_in_at(const char *file, int line, struct th *h,
				 const char *src, __u16 sport, const char *dst,
				 __u16 dport, __u8 proto, __u8 flags)
{
	return pt_open_at(file, line, h, TH_FROM_TAILNET, src, sport, dst,
			  dport, proto, flags);
}

/* pt_open_at() of a packet to the tailnet, sent by this host. */
struct tp_ct_entry pt_open_out_at(const char *file, int line, struct th *h,
				  const char *src, __u16 sport, const char *dst,
				  __u16 dport, __u8 proto, __u8 flags)
{
	return pt_open_at(file, line, h, TH_TO_TAILNET, src, sport, dst, dport,
			  proto, flags);
}

/* Drops counted for @reason. */
__u64 pt_drops(struct th *h, int reason)
{
	return th_stat(h, TP_STAT_DROP(reason));
}

/* Run @len bytes through tp_xdp_guard; returns its XDP verdict. */
int pt_xdp_run(struct th *h, const void *data, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data,
		    .data_size_in = len, .repeat = 1);

	assert_int_equal(
		bpf_prog_test_run_opts(
			bpf_program__fd(h->skel->progs.tp_xdp_guard), &opts),
		0);
	return opts.retval;
}

/* ---- packets on chosen interfaces, ICMP errors ------------------------------ */

/* Describe @ifindex as an uplink in tp_ifaces, as the loader does. */
void pt_uplink_at(const char *file, int line, struct th *h, __u32 ifindex)
{
	struct tp_iface up = { .flags = TP_IFACE_F_UPLINK };

	PT_EQ(tp_iface_set(&h->maps, ifindex, &up), 0);
}

/* Run @in through @hook on @ifindex (arrived on @in_ifindex); the verdict. */
int pt_send_on_at(const char *file, int line, struct th *h, enum th_hook hook,
		  int ifindex, int in_ifindex, const struct pkt *in)
{
	static __u8 out[PKT_MAX];
	size_t out_len = sizeof(out);
	int verdict = -1;

	PT_EQ(th_run_from(h, hook, ifindex, in_ifindex, in->data, in->len, out,
			  &out_len, &verdict),
	      0);
	return verdict;
}

/* pt_send_on_at(file, line, ) of the packet @sp builds. */
int pt_send_spec_at(const char *file, int line, struct th *h, enum th_hook hook,
		    int ifindex, int in_ifindex, struct pkt_spec sp)
{
	struct pkt p;

	pt_build_at(file, line, &sp, &p);
	return pt_send_on_at(file, line, h, hook, ifindex, in_ifindex, &p);
}

void pt_handshake_at(const char *file, int line, struct th *h,
		     const char *client, __u16 cport, const char *server,
		     __u16 port)
{
	PT_EQ(pt_send_in_at(file, line, h, client, cport, server, port,
			    IPPROTO_TCP, PKT_TCP_SYN),
	      PASS);
	PT_EQ(pt_send_out_at(file, line, h, server, port, client, cport,
			     IPPROTO_TCP, PKT_TCP_SYN | PKT_TCP_ACK),
	      PASS);
	PT_EQ(pt_send_in_at(file, line, h, client, cport, server, port,
			    IPPROTO_TCP, PKT_TCP_ACK),
	      PASS);
}

void pt_allowed_flow_at(const char *file, int line, struct th *h, __u32 src_id,
			__u32 dst_id, const char *client, const char *server)
{
	pt_deflt_at(file, line, h, TH_ZONE, TP_VERDICT_DENY);
	pt_rule_at(file, line, h, src_id, dst_id, 0, IPPROTO_TCP, 80, 80,
		   TP_VERDICT_ALLOW);
	PT_EQ(pt_send_in_at(file, line, h, client, 1000, server, 80,
			    IPPROTO_TCP, PKT_TCP_SYN),
	      PASS);
}

void pt_cross_zones_at(const char *file, int line, struct th *h,
		       const char *client, __u16 cport, const char *peer,
		       __u16 port)
{
	struct pkt reply;

	PT_EQ(pt_send_in_at(file, line, h, client, cport, peer, port,
			    IPPROTO_TCP, PKT_TCP_SYN),
	      PASS);
	pt_build_at(file, line,
		    FLOWP(peer, port, client, cport, IPPROTO_TCP,
			  PKT_TCP_SYN | PKT_TCP_ACK),
		    &reply);
	PT_EQ(pt_send_on_at(file, line, h, TH_FROM_TAILNET, h->l3_ifindex2, 0,
			    &reply),
	      PASS);
	PT_EQ(pt_send_on_at(file, line, h, TH_TO_TAILNET, h->l3_ifindex,
			    h->l3_ifindex2, &reply),
	      PASS);
}

/*
 * An ICMP/ICMPv6 error from @from to @to quoting the first @inner_len
 * bytes (0: all) of @inner; the rest as pt_icmp_err_on_at().
 */
static void pt_icmp_err_of_at(const char *file, int line, struct pkt *out,
			      const char *from, const char *to,
			      const struct pkt *inner, size_t inner_len,
			      __u8 type, __u8 code, __u32 info, int l2,
			      __u8 ttl)
{
	struct pkt_spec sp = pt_icmp_err_spec(from, to, type, code, info);

	sp.l2 = l2;
	sp.ttl = ttl;
	sp.inner = inner;
	sp.inner_len = inner_len;
	pt_build_at(file, line, &sp, out);
}

/**
 * pt_icmp_err_on_at() - an ICMP/ICMPv6 error from @from to @to quoting @quote
 * @file: the caller's file, for a failure
 * @line: the caller's line, for a failure
 * @out: the error, built
 * @from: its source (its family is the error's)
 * @to: its destination
 * @quote: the packet it quotes, whole
 * @type: the ICMP type
 * @code: the ICMP code
 * @info: the rest of the ICMP header (an MTU, a pointer), host order
 * @l2: with an Ethernet header (an error on the uplink)
 * @ttl: its TTL / hop limit, 0 for pktgen's default
 */
void pt_icmp_err_on_at(const char *file, int line, struct pkt *out,
		       const char *from, const char *to,
		       const struct pkt_spec *quote, __u8 type, __u8 code,
		       __u32 info, int l2, __u8 ttl)
{
	static struct pkt inner;

	pt_build_at(file, line, quote, &inner);
	pt_icmp_err_of_at(file, line, out, from, to, &inner, 0, type, code,
			  info, l2, ttl);
}

/* An ICMP error @type/@code (@info: MTU and the like) from @from to @to quoting @quote. */
void pt_icmp_err_t_at(const char *file, int line, struct pkt *out,
		      const char *from, const char *to,
		      const struct pkt_spec *quote, __u8 type, __u8 code,
		      __u32 info)
{
	pt_icmp_err_on_at(file, line, out, from, to, quote, type, code, info, 0,
			  0);
}

/* Port unreachable (ICMPv6: address unreachable) from @from to @to quoting @quote. */
void pt_icmp_err_at(const char *file, int line, struct pkt *out,
		    const char *from, const char *to,
		    const struct pkt_spec *quote)
{
	int v6 = pt_family_of(from) == AF_INET6;

	pt_icmp_err_t_at(file, line, out, from, to, quote, v6 ? 1 : 3,
			 v6 ? 4 : 3, 0);
}

/*
 * Port unreachable (ICMPv6: address unreachable) from @from to @to
 * quoting the first @inner_len bytes (0: all) of @inner, a packet built.
 */
void pt_icmp_err_quoting_at(const char *file, int line, struct pkt *out,
			    const char *from, const char *to,
			    const struct pkt *inner, size_t inner_len)
{
	int v6 = pt_family_of(from) == AF_INET6;

	pt_icmp_err_of_at(file, line, out, from, to, inner, inner_len,
			  v6 ? 1 : 3, v6 ? 4 : 3, 0, 0, 0);
}

/* The conntrack entry under @k, which must be there. */
struct tp_ct_entry pt_ct_must_at(const char *file, int line, struct th *h,
				 const struct tp_ct_key *k)
{
	struct tp_ct_entry e;

	PT_EQ(pt_ct_get(h, k, &e), 0);
	return e;
}

/* @got must be the packet @want_sp builds, with checksums that verify. */
void pt_expect_pkt_at(const char *file, int line, struct pkt_spec want_sp,
		      const struct pkt *got)
{
	struct pkt want;
	char why[128];

	pt_build_at(file, line, &want_sp, &want);
	PT_PKT_EQ(want.data, want.len, got->data, got->len);
	if (pkt_verify_csums(got, want.l2, why, sizeof(why)))
		PT_FAIL("output has bad checksums: %s", why);
}

/* Attach @prog_fd by clsact at @where of @ifindex (tests on real devices). */
int pt_tc_attach(int ifindex, enum bpf_tc_attach_point where, int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

/* Remove @ifindex's clsact qdisc, with every program on it. */
void pt_tc_detach_all(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

	bpf_tc_hook_destroy(&hook);
}
