// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * kpgen: the service tables of bench/kubeproxy.sh, N ClusterIP services
 * with two endpoints each, written four ways:
 *
 *   kpgen iptables N M       iptables-restore input in kube-proxy's iptables
 *                            shape (a full sync)
 *   kpgen iptables-add N K   kube-proxy's partial sync that adds service K
 *                            with N present: KUBE-SERVICES written whole,
 *                            the new KUBE-SVC/KUBE-SEP chains
 *   kpgen iptables-min N K   the least iptables-restore --noflush can be
 *                            given to add service K: its chains and one
 *                            inserted KUBE-SERVICES rule (not what
 *                            kube-proxy writes; the lower bound)
 *   kpgen nft N M            nft -f input in kube-proxy's nftables shape
 *   kpgen nft-add N K        the nftables transaction that adds service K
 *   kpgen tpctl N M          tpctl batch lines
 *   kpgen tpctl-add N K      tpctl batch lines adding service K
 *   kpgen json N M IFACE PIN tailplaned configuration
 *
 * Service i is ns<i>/svc<i>:p80, ClusterIP 198.19.0.0 + 1 + i, port
 * 80/tcp.  Its endpoints are 198.18.16.0 + 2i and + 2i + 1, port 8080
 * (addresses nothing answers), except service M, the one the benchmark
 * connects to, whose endpoints are the backend namespace's 198.18.1.1
 * and 198.18.1.2.  M sits in the middle of the table: kube-proxy's
 * KUBE-SERVICES is a list in no particular order, so a connection walks
 * half of it on average.
 *
 * The shapes follow kube-proxy's proxier tests (pkg/proxy/iptables and
 * pkg/proxy/nftables, proxier_test.go): KUBE-SERVICES -> KUBE-SVC-* with
 * "-m statistic --mode random --probability" -> KUBE-SEP-* with DNAT;
 * nftables' service-ips verdict map -> service chain -> "numgen random
 * mod N vmap" -> endpoint chain with dnat.  Chain names have kube-proxy's
 * lengths, but come from FNV-1a rather than SHA-256: only uniqueness and
 * length matter to the kernel.  Local traffic is detected by interface
 * (kube-proxy's --detect-local-mode=InterfaceNamePrefix) with the prefix
 * of the node's client-facing interface, so the tailnet client is not
 * masqueraded: every contender does DNAT and reverse NAT only, as
 * tailplane does on this path (its SNAT is not on main).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_IF "tpb-nc" /* prefix of the node's interface to the client */
#define POD_PORT 8080

static unsigned long n_svc, m_svc;

static void vip(unsigned long i, char *b, size_t len)
{
	uint32_t a = (198u << 24) | (19u << 16) | (uint32_t)(i + 1);

	snprintf(b, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255);
}

static void ep(unsigned long i, int j, char *b, size_t len)
{
	uint32_t a;

	if (i == m_svc) {
		snprintf(b, len, "198.18.1.%d", j + 1);
		return;
	}
	a = (198u << 24) | (18u << 16) | (16u << 8);
	a += (uint32_t)(2 * i + j);
	snprintf(b, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255);
}

/* kube-proxy's chain hash: base32 of a digest, cut to @n characters */
static void hash_name(const char *s, int n, char *out)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint64_t h = 0xcbf29ce484222325ull, h2;
	int k;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	h2 = h * 0x9e3779b97f4a7c15ull;
	for (k = 0; k < n; k++) {
		uint64_t w = k < 12 ? h : h2;

		out[k] = b32[(w >> (5 * (k % 12))) & 31];
	}
	out[n] = 0;
}

static void svc_chain(unsigned long i, char *b, size_t len)
{
	char s[64], h[17];

	snprintf(s, sizeof(s), "ns%lu/svc%lu:p80tcp", i, i);
	hash_name(s, 16, h);
	snprintf(b, len, "KUBE-SVC-%s", h);
}

static void sep_chain(unsigned long i, int j, char *b, size_t len)
{
	char s[96], e[32], h[17];

	ep(i, j, e, sizeof(e));
	snprintf(s, sizeof(s), "ns%lu/svc%lu:p80tcp%s:%d", i, i, e, POD_PORT);
	hash_name(s, 16, h);
	snprintf(b, len, "KUBE-SEP-%s", h);
}

/* ---- iptables -------------------------------------------------------------------- */

static void ipt_filter(void)
{
	printf("*filter\n"
	       ":KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n"
	       ":KUBE-NODEPORTS - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n:KUBE-SERVICES - [0:0]\n"
	       "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
	       "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" "
	       "-m mark --mark 0x4000/0x4000 -j ACCEPT\n"
	       "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" "
	       "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
	       "COMMIT\n");
}

static void ipt_svc_rule(unsigned long i, const char *cmd)
{
	char v[32], c[40];

	vip(i, v, sizeof(v));
	svc_chain(i, c, sizeof(c));
	printf("%s KUBE-SERVICES -m comment --comment \"ns%lu/svc%lu:p80 cluster IP\" -m tcp -p tcp "
	       "-d %s --dport 80 -j %s\n",
	       cmd, i, i, v, c);
}

static void ipt_chains_decl(unsigned long i)
{
	char c[40];

	svc_chain(i, c, sizeof(c));
	printf(":%s - [0:0]\n", c);
	sep_chain(i, 0, c, sizeof(c));
	printf(":%s - [0:0]\n", c);
	sep_chain(i, 1, c, sizeof(c));
	printf(":%s - [0:0]\n", c);
}

static void ipt_chains_rules(unsigned long i)
{
	char v[32], c[40], s[40], e[32];
	int j;

	vip(i, v, sizeof(v));
	svc_chain(i, c, sizeof(c));
	printf("-A %s -m comment --comment \"ns%lu/svc%lu:p80 cluster IP\" -m tcp -p tcp -d %s "
	       "--dport 80 ! -i " LOCAL_IF "+ -j KUBE-MARK-MASQ\n",
	       c, i, i, v);
	for (j = 0; j < 2; j++) {
		ep(i, j, e, sizeof(e));
		sep_chain(i, j, s, sizeof(s));
		printf("-A %s -m comment --comment \"ns%lu/svc%lu:p80 -> %s:%d\"%s -j %s\n",
		       c, i, i, e, POD_PORT,
		       j ? ""
			 : " -m statistic --mode random --probability 0.5000000000",
		       s);
	}
	for (j = 0; j < 2; j++) {
		ep(i, j, e, sizeof(e));
		sep_chain(i, j, s, sizeof(s));
		printf("-A %s -m comment --comment ns%lu/svc%lu:p80 -s %s -j KUBE-MARK-MASQ\n",
		       s, i, i, e);
		printf("-A %s -m comment --comment ns%lu/svc%lu:p80 -m tcp -p tcp -j DNAT "
		       "--to-destination %s:%d\n",
		       s, i, i, e, POD_PORT);
	}
}

static const char ipt_nodeports[] =
	"-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be "
	"the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n";

static void ipt_nat_head(void)
{
	printf("*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n"
	       ":KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n");
}

static void ipt_nat_fixed(void)
{
	printf("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
	       "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
	       "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring "
	       "SNAT\" -j MASQUERADE --random-fully\n"
	       "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n");
}

static void iptables_full(void)
{
	unsigned long i;

	ipt_filter();
	ipt_nat_head();
	for (i = 0; i < n_svc; i++)
		ipt_chains_decl(i);
	ipt_nat_fixed();
	for (i = 0; i < n_svc; i++)
		ipt_svc_rule(i, "-A");
	for (i = 0; i < n_svc; i++)
		ipt_chains_rules(i);
	printf("%sCOMMIT\n", ipt_nodeports);
}

/* kube-proxy's partial sync: KUBE-SERVICES and what changed */
static void iptables_add(unsigned long k)
{
	unsigned long i;

	ipt_filter();
	ipt_nat_head();
	ipt_chains_decl(k);
	ipt_nat_fixed();
	for (i = 0; i < n_svc; i++)
		ipt_svc_rule(i, "-A");
	ipt_svc_rule(k, "-A");
	ipt_chains_rules(k);
	printf("%sCOMMIT\n", ipt_nodeports);
}

static void iptables_min(unsigned long k)
{
	printf("*nat\n");
	ipt_chains_decl(k);
	ipt_chains_rules(k);
	ipt_svc_rule(k, "-I");
	printf("COMMIT\n");
}

/* ---- nftables ------------------------------------------------------------------- */

#define T "ip kube-proxy"

static void nft_base(void)
{
	printf("add table " T " { comment \"rules for kube-proxy\" ; }\n"
	       "add set " T
	       " cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }\n"
	       "add set " T
	       " nodeport-ips { type ipv4_addr ; comment \"IPs that accept NodePort "
	       "traffic\" ; }\n"
	       "add map " T
	       " firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }\n"
	       "add map " T
	       " no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }\n"
	       "add map " T
	       " no-endpoint-services { type ipv4_addr . inet_proto . inet_service : "
	       "verdict ; }\n"
	       "add map " T
	       " service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; "
	       "comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }\n"
	       "add map " T
	       " service-nodeports { type inet_proto . inet_service : verdict ; }\n"
	       "add chain " T " cluster-ips-check\n"
	       "add chain " T
	       " filter-prerouting-pre-dnat { type filter hook prerouting priority "
	       "-110 ; }\n"
	       "add chain " T
	       " filter-output-pre-dnat { type filter hook output priority -110 ; }\n"
	       "add chain " T
	       " filter-forward { type filter hook forward priority 0 ; }\n"
	       "add chain " T
	       " filter-input { type filter hook input priority 0 ; }\n"
	       "add chain " T
	       " filter-output { type filter hook output priority 0 ; }\n"
	       "add chain " T " firewall-check\n"
	       "add chain " T " mark-for-masquerade\n"
	       "add chain " T " masquerading\n"
	       "add chain " T
	       " nat-output { type nat hook output priority -100 ; }\n"
	       "add chain " T
	       " nat-postrouting { type nat hook postrouting priority 100 ; }\n"
	       "add chain " T
	       " nat-prerouting { type nat hook prerouting priority -100 ; }\n"
	       "add chain " T " nodeport-endpoints-check\n"
	       "add chain " T " reject-chain\n"
	       "add chain " T " services\n"
	       "add chain " T " service-endpoints-check\n"
	       "add rule " T " cluster-ips-check ip daddr @cluster-ips reject\n"
	       "add rule " T
	       " cluster-ips-check ip daddr { 198.19.0.0/16 } drop\n"
	       "add rule " T
	       " filter-prerouting-pre-dnat ct state new jump firewall-check\n"
	       "add rule " T
	       " filter-forward ct state new jump service-endpoints-check\n"
	       "add rule " T
	       " filter-forward ct state new jump cluster-ips-check\n"
	       "add rule " T
	       " filter-input ct state new jump nodeport-endpoints-check\n"
	       "add rule " T
	       " filter-input ct state new jump service-endpoints-check\n"
	       "add rule " T
	       " filter-output ct state new jump service-endpoints-check\n"
	       "add rule " T
	       " filter-output-pre-dnat ct state new jump firewall-check\n"
	       "add rule " T
	       " filter-output ct state new jump cluster-ips-check\n"
	       "add rule " T
	       " firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips\n"
	       "add rule " T " mark-for-masquerade mark set mark or 0x4000\n"
	       "add rule " T " masquerading mark and 0x4000 == 0 return\n"
	       "add rule " T " masquerading mark set mark xor 0x4000\n"
	       "add rule " T " masquerading masquerade fully-random\n"
	       "add rule " T " nat-output jump services\n"
	       "add rule " T " nat-postrouting jump masquerading\n"
	       "add rule " T " nat-prerouting jump services\n"
	       "add rule " T
	       " nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th "
	       "dport vmap @no-endpoint-nodeports\n"
	       "add rule " T " reject-chain reject\n"
	       "add rule " T
	       " services ip daddr . meta l4proto . th dport vmap @service-ips\n"
	       "add rule " T
	       " services ip daddr @nodeport-ips meta l4proto . th dport vmap "
	       "@service-nodeports\n"
	       "add element " T " nodeport-ips { 198.18.0.1 }\n"
	       "add rule " T
	       " service-endpoints-check ip daddr . meta l4proto . th dport vmap "
	       "@no-endpoint-services\n");
}

static void nft_names(unsigned long i, char *svc, char ep_ch[2][96], size_t len)
{
	char s[96], h[9], e[32];
	int j;

	snprintf(s, sizeof(s), "ns%lu/svc%lu/tcp/p80", i, i);
	hash_name(s, 8, h);
	snprintf(svc, len, "service-%s-ns%lu/svc%lu/tcp/p80", h, i, i);
	for (j = 0; j < 2; j++) {
		ep(i, j, e, sizeof(e));
		snprintf(s, sizeof(s), "ns%lu/svc%lu/tcp/p80__%s/%d", i, i, e,
			 POD_PORT);
		hash_name(s, 8, h);
		snprintf(ep_ch[j], 96,
			 "endpoint-%s-ns%lu/svc%lu/tcp/p80__%s/%d", h, i, i, e,
			 POD_PORT);
	}
}

static void nft_svc(unsigned long i)
{
	char svc[96], epc[2][96], v[32], e[32];
	int j;

	vip(i, v, sizeof(v));
	nft_names(i, svc, epc, sizeof(svc));
	/* chains before the rules that name them, as knftables orders them */
	printf("add chain " T " %s\n", svc);
	for (j = 0; j < 2; j++)
		printf("add chain " T " %s\n", epc[j]);
	printf("add rule " T
	       " %s ip daddr %s tcp dport 80 iifname != \"" LOCAL_IF
	       "*\" jump mark-for-masquerade\n",
	       svc, v);
	printf("add rule " T
	       " %s numgen random mod 2 vmap { 0 : goto %s , 1 : goto %s }\n",
	       svc, epc[0], epc[1]);
	for (j = 0; j < 2; j++) {
		ep(i, j, e, sizeof(e));
		printf("add rule " T
		       " %s ip saddr %s jump mark-for-masquerade\n",
		       epc[j], e);
		printf("add rule " T " %s meta l4proto tcp dnat to %s:%d\n",
		       epc[j], e, POD_PORT);
	}
	printf("add element " T " cluster-ips { %s }\n", v);
	printf("add element " T " service-ips { %s . tcp . 80 : goto %s }\n", v,
	       svc);
}

/* ---- tailplane -------------------------------------------------------------------- */

static void tpctl_svc(unsigned long i)
{
	char v[32], e[32];
	int j;

	vip(i, v, sizeof(v));
	printf("service add %s:80/tcp\n", v);
	for (j = 0; j < 2; j++) {
		ep(i, j, e, sizeof(e));
		printf("backend add %s:80/tcp %s:%d\n", v, e, POD_PORT);
	}
}

static void json(const char *ifname, const char *pin)
{
	char v[32], e[2][32];
	unsigned long i;

	printf("{\n  \"pin_root\": \"%s\",\n  \"interfaces\": [ { \"name\": \"%s\", \"kind\": "
	       "\"tailnet\", \"zone\": 1, \"peers\": \"none\" } ],\n"
	       "  \"conntrack\": { \"tcp_fin\": 10, \"tcp_close\": 5, \"gc_interval\": 2 },\n"
	       "  \"services\": [",
	       pin, ifname);
	for (i = 0; i < n_svc; i++) {
		vip(i, v, sizeof(v));
		ep(i, 0, e[0], sizeof(e[0]));
		ep(i, 1, e[1], sizeof(e[1]));
		printf("%s\n    { \"frontend\": \"%s:80/tcp\", \"backends\": [ { \"addr\": \"%s:%d\" "
		       "}, { \"addr\": \"%s:%d\" } ] }",
		       i ? "," : "", v, e[0], POD_PORT, e[1], POD_PORT);
	}
	printf("\n  ]\n}\n");
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	unsigned long i, k;

	if (argc < 4)
		goto usage;
	n_svc = strtoul(argv[2], NULL, 0);
	k = strtoul(argv[3], NULL, 0);
	m_svc = strstr(mode, "add") || strstr(mode, "min") ? n_svc / 2 : k;
	if (!strcmp(mode, "iptables")) {
		iptables_full();
	} else if (!strcmp(mode, "iptables-add")) {
		iptables_add(k);
	} else if (!strcmp(mode, "iptables-min")) {
		iptables_min(k);
	} else if (!strcmp(mode, "nft")) {
		nft_base();
		for (i = 0; i < n_svc; i++)
			nft_svc(i);
	} else if (!strcmp(mode, "nft-add")) {
		nft_svc(k);
	} else if (!strcmp(mode, "tpctl")) {
		for (i = 0; i < n_svc; i++)
			tpctl_svc(i);
	} else if (!strcmp(mode, "tpctl-add")) {
		tpctl_svc(k);
	} else if (!strcmp(mode, "json") && argc == 6) {
		json(argv[4], argv[5]);
	} else {
		goto usage;
	}
	return fflush(stdout) ? 1 : 0;
usage:
	fprintf(stderr,
		"usage: kpgen {iptables|nft|tpctl} N M | "
		"{iptables-add|iptables-min|nft-add|tpctl-add} N K | json N M IFACE PIN\n");
	return 2;
}
