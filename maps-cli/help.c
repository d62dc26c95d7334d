// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* `tpctl help`, `tpctl OBJECT help` and `tpctl -V`. */
#include <bpf/libbpf.h>

#include "tpctl.h"

static const char tpctl_usage_main[] =
	"Usage: tpctl [OPTIONS] OBJECT { COMMAND | help }\n"
	"       tpctl batch FILE\n"
	"       tpctl { -V | --version }\n"
	"\n"
	"       OBJECT := { service | backend | identity | policy | conntrack | nat |\n"
	"                   stats | monitor | map | batch | status | guard }\n"
	"       OPTIONS := { -j | --json } | { -p | --pretty } | --pin-root DIR |\n"
	"                  { -h | --help } | { -V | --version }\n"
	"\n"
	"Words match by unique prefix ('tpctl serv li'); an object without a\n"
	"command runs its list.  Pin root: " TP_PIN_ROOT_DEFAULT
	" by default.\n"
	"See 'tpctl OBJECT help' and tpctl(8).\n";

static const char tpctl_usage_service[] =
	"Usage: tpctl service add VIP:PORT/PROTO [affinity SECONDS] [snat] [zone ZONE]\n"
	"       tpctl service del VIP:PORT/PROTO\n"
	"       tpctl service list\n"
	"       tpctl service help\n"
	"\n"
	"       VIP:PORT/PROTO := { 198.19.0.10:80/tcp | [fd00:198:19::a]:53/udp |\n"
	"                           198.19.0.10/icmp }\n"
	"       ZONE := { any | ZONE-ID | IFNAME }   (default any: every zone)\n"
	"\n"
	"'service add' on an existing service sets its attributes and keeps its\n"
	"backends.  snat: the service's new flows leave with the node's SNAT\n"
	"address and a port of its range (tailplaned's \"snat\"), wherever the\n"
	"backend is; without it, only tailplaned's \"snat\": \"auto\" SNATs, and\n"
	"only flows to backends behind an uplink.\n";

static const char tpctl_usage_backend[] =
	"Usage: tpctl backend add VIP:PORT/PROTO ADDR:PORT [weight W] [state STATE]\n"
	"       tpctl backend set VIP:PORT/PROTO ADDR:PORT { weight W | state STATE }\n"
	"       tpctl backend del VIP:PORT/PROTO ADDR:PORT\n"
	"       tpctl backend list\n"
	"       tpctl backend help\n"
	"\n"
	"       STATE := { active | terminating | maintenance }   (default active)\n"
	"       W := 1-65535   (default 1)\n"
	"       ADDR:PORT := { 198.18.1.1:8080 | [fd00:198:18::1:1]:8080 }; ADDR alone\n"
	"                    for an ICMP service.\n";

static const char tpctl_usage_identity[] =
	"Usage: tpctl identity add CIDR ID [name NAME] [zone ZONE]\n"
	"       tpctl identity del CIDR [zone ZONE]\n"
	"       tpctl identity list\n"
	"       tpctl identity help\n"
	"\n"
	"       ID := { NUMBER | NAME | host | world | tailnet | cluster }\n"
	"             (user identities are 256 and up; 'name' needs a NUMBER)\n"
	"       ZONE := { ZONE-ID | IFNAME }   (default 0: the cluster/node side)\n";

static const char tpctl_usage_policy[] =
	"Usage: tpctl policy add from SRC to DST [proto PROTO] [port P[-Q]]\n"
	"                        { allow | deny | audit } [zone ZONE]\n"
	"       tpctl policy del from SRC to DST [proto PROTO] [port P[-Q]] [zone ZONE]\n"
	"       tpctl policy default { allow | deny } zone ZONE\n"
	"       tpctl policy list\n"
	"       tpctl policy help\n"
	"\n"
	"       SRC, DST := { any | ID | NAME | host | world | tailnet | cluster }\n"
	"       PROTO := { tcp | udp | icmp | icmpv4 | icmpv6 | any | NUMBER }\n"
	"                (icmp: ICMP and ICMPv6, two rules)\n"
	"       ZONE := { any | ZONE-ID | IFNAME }   (rules: default any)\n";

static const char tpctl_usage_conntrack[] =
	"Usage: tpctl conntrack list [src CIDR] [dst CIDR] [service VIP:PORT/PROTO]\n"
	"                            [backend ADDR[:PORT]]\n"
	"       tpctl conntrack flush [service VIP:PORT/PROTO | backend ADDR[:PORT]]\n"
	"       tpctl conntrack help\n"
	"\n"
	"'dst' matches the original or the translated destination.  'flush'\n"
	"without a filter empties the table.  SNAT shows the source a SNAT flow\n"
	"leaves with (the node's address and port).\n";

static const char tpctl_usage_nat[] =
	"Usage: tpctl nat list\n"
	"       tpctl nat static add TAILNET_ADDR INNER_ADDR [zone ZONE]\n"
	"       tpctl nat static del TAILNET_ADDR [zone ZONE]\n"
	"       tpctl nat static list\n"
	"       tpctl nat help\n"
	"\n"
	"Static 1:1 NAT: packets from the tailnet to TAILNET_ADDR go to INNER_ADDR,\n"
	"packets from INNER_ADDR to the tailnet leave from TAILNET_ADDR.  Both\n"
	"addresses of one family; neither a service VIP; ZONE a zone number, an\n"
	"interface name or 'any' (the default: every tailnet zone).\n";

static const char tpctl_usage_stats[] = "Usage: tpctl stats [show]\n"
					"       tpctl stats reset\n"
					"       tpctl stats help\n";

static const char tpctl_usage_monitor[] =
	"Usage: tpctl monitor [all | drops | audit] [count N]\n"
	"       tpctl monitor help\n"
	"\n"
	"One line (with -j: one JSON object) per event; Ctrl-C stops.\n";

static const char tpctl_usage_map[] = "Usage: tpctl map list\n"
				      "       tpctl map dump NAME\n"
				      "       tpctl map help\n";

static const char tpctl_usage_batch[] =
	"Usage: tpctl batch FILE\n"
	"       tpctl batch help\n"
	"\n"
	"One command per line ('-': stdin), '#' comments; each line is applied\n"
	"atomically, the batch is not: it stops at the first error, naming its\n"
	"line, and the lines before it stay applied.\n";

static const char tpctl_usage_status[] =
	"Usage: tpctl status\n"
	"       tpctl status help\n"
	"\n"
	"The loader, pinned links, interfaces and maps.  Exit status, for\n"
	"liveness and readiness probes (the status prints in every case; the\n"
	"reason of a non-zero one is an 'Error: ...' line, with -j only in the\n"
	"\"health\" object):\n"
	"       0  healthy: every map pinned and tailplaned running\n"
	"       1  error: bad usage, or it cannot tell (e.g. not root)\n"
	"       2  tailplaned is not running for the pin root\n"
	"       3  a map is not pinned: the datapath is not loaded\n"
	"          (before 2 when both hold)\n";

static const char tpctl_usage_guard[] =
	"Usage: tpctl guard list\n"
	"       tpctl guard add PREFIX\n"
	"       tpctl guard del PREFIX\n"
	"       tpctl guard rate PPS BURST\n"
	"       tpctl guard show\n"
	"       tpctl guard help\n"
	"\n"
	"       PREFIX := { 198.18.9.0/24 | 198.18.9.9 | fd00:198:18::/48 }\n"
	"       PPS := 0-10000000   handshakes a second per source, 0: no limit\n"
	"       BURST := 1-1000000  (may be left out with PPS 0)\n"
	"\n"
	"The uplink's XDP guard: every IP packet from a listed source is dropped;\n"
	"WireGuard handshakes (message types 1-3) to a guarded port are limited\n"
	"per source, data is not.  Changes apply to the next packet; the loader\n"
	"writes its configuration's values again when it starts or reloads.\n";

static const char *const tpctl_usages[] = {
	[TPCTL_OBJ_NONE] = tpctl_usage_main,
	[TPCTL_OBJ_SERVICE] = tpctl_usage_service,
	[TPCTL_OBJ_BACKEND] = tpctl_usage_backend,
	[TPCTL_OBJ_IDENTITY] = tpctl_usage_identity,
	[TPCTL_OBJ_POLICY] = tpctl_usage_policy,
	[TPCTL_OBJ_CONNTRACK] = tpctl_usage_conntrack,
	[TPCTL_OBJ_NAT] = tpctl_usage_nat,
	[TPCTL_OBJ_STATS] = tpctl_usage_stats,
	[TPCTL_OBJ_MONITOR] = tpctl_usage_monitor,
	[TPCTL_OBJ_MAP] = tpctl_usage_map,
	[TPCTL_OBJ_BATCH] = tpctl_usage_batch,
	[TPCTL_OBJ_STATUS] = tpctl_usage_status,
	[TPCTL_OBJ_GUARD] = tpctl_usage_guard,
};

/**
 * tpctl_help() - the usage of @obj (TPCTL_OBJ_NONE: of tpctl) on the
 * output; null in JSON mode, as bpftool.
 *
 * Return: 0.
 */
int tpctl_help(struct tpctl_ctx *ctx, enum tpctl_obj obj)
{
	if (ctx->opts.json) {
		tp_json_null(&ctx->json);
		return 0;
	}
	fputs(tpctl_usages[obj], ctx->out);
	return 0;
}

/**
 * tpctl_version() - tpctl's version and libbpf's.
 *
 * Return: 0.
 */
int tpctl_version(struct tpctl_ctx *ctx)
{
	if (ctx->opts.json) {
		tp_json_obj_open(&ctx->json);
		tp_json_kv_str(&ctx->json, "version", TPCTL_VERSION);
		tp_json_kv_str(&ctx->json, "libbpf_version",
			       libbpf_version_string());
		tp_json_obj_close(&ctx->json);
		return 0;
	}
	fprintf(ctx->out, "tpctl v%s\nusing libbpf %s\n", TPCTL_VERSION,
		libbpf_version_string());
	return 0;
}
