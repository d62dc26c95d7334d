// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The command table: every object and command of tpctl, in one place.
 * A row says how its arguments are read (parse.c), what runs it
 * (cmd_*.c), whether it writes (and so takes the pin root's lock), what
 * the usage shows and what it does.  The parser, tpctl_exec(), the batch
 * and the usage all walk these tables; tests/test_tpctl_docs.c checks
 * the usage, docs/tpctl.8 and deploy/tpctl.bash-completion against them.
 *
 * A new command: its parser and runner, a row here, its entry in the man
 * page and in the completion (the test names what is missing).
 */
#include "service.h"
#include "tpctl.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The writers that only stage Maglev tables in a batch. */
#define WRITES (TPCTL_CMD_WRITES | TPCTL_CMD_STAGED_OK)

#define OBJECT(w, c, f, n)                                                 \
	{                                                                  \
		.word = w, .cmds = c, .n_cmds = ARRAY_SIZE(c), .flags = f, \
		.notes = n                                                 \
	}

/* `OBJECT help`, and `help` for tpctl's own usage. */
const struct tpctl_cmd tpctl_help_cmd = {
	.word = "help",
	.parse = tpctl_parse_none,
	.run = tpctl_help_run,
	.args = "",
	.help = "this usage",
};

/*
 * The service and backend writers open only the maps lib/service.c uses
 * (tp_ifaces too for a zone given by name): a batch adding one service
 * runs in a fresh process, where opening all thirty pins took a sixth of
 * its time.
 */
static const struct tpctl_cmd service_cmds[] = {
	{ "add", tpctl_parse_service_add, tpctl_service_add, NULL, WRITES,
	  "VIP:PORT/PROTO [affinity SECONDS] [snat] [zone ZONE]",
	  "create a service, or set the attributes of one", TP_SERVICE_MAPS },
	{ "del", tpctl_parse_service_del, tpctl_service_del, NULL, WRITES,
	  "VIP:PORT/PROTO", "remove a service and its backends",
	  TP_SERVICE_MAPS },
	{ "list", tpctl_parse_none, tpctl_service_list, NULL, TPCTL_CMD_DEFAULT,
	  "", "every service and its backends" },
};

static const struct tpctl_cmd backend_cmds[] = {
	{ "add", tpctl_parse_backend_add, tpctl_backend_add, NULL, WRITES,
	  "VIP:PORT/PROTO ADDR:PORT [weight W] [state STATE]",
	  "add a backend to a service", TP_SERVICE_MAPS },
	{ "set", tpctl_parse_backend_set, tpctl_backend_set, NULL, WRITES,
	  "VIP:PORT/PROTO ADDR:PORT { weight W | state STATE }",
	  "change a backend's weight or state", TP_SERVICE_MAPS },
	{ "del", tpctl_parse_backend_del, tpctl_backend_del, NULL, WRITES,
	  "VIP:PORT/PROTO ADDR:PORT", "remove a backend", TP_SERVICE_MAPS },
	{ "list", tpctl_parse_none, tpctl_service_list, NULL, TPCTL_CMD_DEFAULT,
	  "", "the same as 'service list'" },
};

static const struct tpctl_cmd identity_cmds[] = {
	{ "add", tpctl_parse_identity_add, tpctl_identity_add, NULL, WRITES,
	  "CIDR ID [name NAME] [zone ZONE]",
	  "give a prefix an identity (and the identity a name)" },
	{ "del", tpctl_parse_identity_del, tpctl_identity_del, NULL, WRITES,
	  "CIDR [zone ZONE]", "remove a prefix's identity" },
	{ "list", tpctl_parse_none, tpctl_identity_list, NULL,
	  TPCTL_CMD_DEFAULT, "", "every prefix with its identity" },
};

static const struct tpctl_cmd policy_cmds[] = {
	{ "add", tpctl_parse_policy_add, tpctl_policy_add, NULL, WRITES,
	  "from SRC to DST [proto PROTO] [port P[-Q]]\n"
	  "{ allow | deny | audit } [zone ZONE]",
	  "add a rule" },
	{ "del", tpctl_parse_policy_del, tpctl_policy_del, NULL, WRITES,
	  "from SRC to DST [proto PROTO] [port P[-Q]] [zone ZONE]",
	  "remove a rule" },
	{ "default", tpctl_parse_policy_default, tpctl_policy_default, NULL,
	  WRITES, "{ allow | deny } zone ZONE",
	  "the verdict of a zone's flows that no rule matches" },
	{ "list", tpctl_parse_none, tpctl_policy_list, NULL, TPCTL_CMD_DEFAULT,
	  "", "the rules, their counters, the zones' defaults" },
};

static const struct tpctl_cmd conntrack_cmds[] = {
	{ "list", tpctl_parse_ct_list, tpctl_ct_list, NULL, TPCTL_CMD_DEFAULT,
	  "[src CIDR] [dst CIDR] [service VIP:PORT/PROTO]\n"
	  "[backend ADDR[:PORT]]",
	  "the flows, or those matching every filter given" },
	/* it acts on flows the live tables made: no TPCTL_CMD_STAGED_OK */
	{ "flush", tpctl_parse_ct_flush, tpctl_ct_flush, NULL, TPCTL_CMD_WRITES,
	  "[service VIP:PORT/PROTO | backend ADDR[:PORT]]",
	  "delete the flows of a service or a backend, or every flow" },
};

static const struct tpctl_cmd nat_static_cmds[] = {
	{ "add", tpctl_parse_nat_static_add, tpctl_nat_static_add, NULL, WRITES,
	  "TAILNET_ADDR INNER_ADDR [zone ZONE]",
	  "give an inner address a tailnet address" },
	{ "del", tpctl_parse_nat_static_del, tpctl_nat_static_del, NULL, WRITES,
	  "TAILNET_ADDR [zone ZONE]", "remove a static NAT entry" },
	{ "list", tpctl_parse_none, tpctl_nat_list, NULL, 0, "",
	  "the static NAT entries" },
};

static const struct tpctl_object nat_static =
	OBJECT("static", nat_static_cmds, 0, NULL);

static const struct tpctl_cmd nat_cmds[] = {
	{ "list", tpctl_parse_none, tpctl_nat_list, NULL, TPCTL_CMD_DEFAULT, "",
	  "the NAT state: the static entries" },
	{ "static", NULL, NULL, &nat_static, 0, NULL, "static 1:1 NAT" },
};

static const struct tpctl_cmd stats_cmds[] = {
	{ "show", tpctl_parse_none, tpctl_stats_show, NULL, TPCTL_CMD_DEFAULT,
	  "", "the counters: datapath, drops, rules, services" },
	{ "list", tpctl_parse_none, tpctl_stats_show, NULL, 0, "",
	  "the same as 'stats show'" },
	/* zeroes what the datapath counted: no TPCTL_CMD_STAGED_OK */
	{ "reset", tpctl_parse_none, tpctl_stats_reset, NULL, TPCTL_CMD_WRITES,
	  "", "zero every counter" },
};

static const struct tpctl_cmd monitor_cmds[] = {
	{ NULL, tpctl_parse_monitor, tpctl_monitor, NULL, TPCTL_CMD_NO_BATCH,
	  "[all | drops | audit] [count N]",
	  "the datapath's events as they come" },
};

static const struct tpctl_cmd map_cmds[] = {
	{ "list", tpctl_parse_none, tpctl_map_list, NULL, TPCTL_CMD_DEFAULT, "",
	  "the pinned maps: type, size, entries, memory" },
	{ "dump", tpctl_parse_map_dump, tpctl_map_dump, NULL, 0, "NAME",
	  "a map's entries, decoded" },
};

static const struct tpctl_cmd batch_cmds[] = {
	{ NULL, tpctl_parse_batch, tpctl_batch, NULL, TPCTL_CMD_NO_BATCH,
	  "FILE", "run the commands of a file" },
};

static const struct tpctl_cmd status_cmds[] = {
	{ NULL, tpctl_parse_none, tpctl_status, NULL, 0, "",
	  "the loader, links, interfaces and maps; a health probe" },
};

static const struct tpctl_cmd guard_cmds[] = {
	{ "list", tpctl_parse_none, tpctl_guard_list, NULL, TPCTL_CMD_DEFAULT,
	  "", "the drop list" },
	{ "add", tpctl_parse_guard_prefix, tpctl_guard_add, NULL, WRITES,
	  "PREFIX", "drop every packet from a prefix" },
	{ "del", tpctl_parse_guard_prefix, tpctl_guard_del, NULL, WRITES,
	  "PREFIX", "take a prefix off the drop list" },
	{ "rate", tpctl_parse_guard_rate, tpctl_guard_rate, NULL, WRITES,
	  "PPS BURST", "limit the handshakes of each source" },
	{ "show", tpctl_parse_none, tpctl_guard_show, NULL, 0, "",
	  "the guard's ports, rate, burst and counters" },
};

static const struct tpctl_cmd help_cmds[] = {
	{ NULL, tpctl_parse_none, tpctl_help_run, NULL, 0, "",
	  "tpctl's usage" },
};

static const struct tpctl_cmd version_cmds[] = {
	{ NULL, tpctl_parse_none, tpctl_version_run, NULL, 0, "",
	  "tpctl's version and libbpf's" },
};

static const char service_notes[] =
	"       VIP:PORT/PROTO := { 198.19.0.10:80/tcp | [fd00:198:19::a]:53/udp |\n"
	"                           198.19.0.10/icmp }\n"
	"       ZONE := { any | ZONE-ID | IFNAME }   (default any: every zone)\n"
	"\n"
	"'service add' on an existing service sets its attributes and keeps its\n"
	"backends.  snat: the service's new flows leave with the node's SNAT\n"
	"address and a port of its range (tailplaned's \"snat\"), wherever the\n"
	"backend is; without it, only tailplaned's \"snat\": \"auto\" SNATs, and\n"
	"only flows to backends behind an uplink.\n";

static const char backend_notes[] =
	"       STATE := { active | terminating | maintenance }   (default active)\n"
	"       W := 1-65535   (default 1)\n"
	"       ADDR:PORT := { 198.18.1.1:8080 | [fd00:198:18::1:1]:8080 }; ADDR alone\n"
	"                    for an ICMP service.\n";

static const char identity_notes[] =
	"       ID := { NUMBER | NAME | host | world | tailnet | cluster }\n"
	"             (user identities are 256 and up; 'name' needs a NUMBER)\n"
	"       ZONE := { ZONE-ID | IFNAME }   (default 0: the cluster/node side)\n";

static const char policy_notes[] =
	"       SRC, DST := { any | ID | NAME | host | world | tailnet | cluster }\n"
	"       PROTO := { tcp | udp | icmp | icmpv4 | icmpv6 | any | NUMBER }\n"
	"                (icmp: ICMP and ICMPv6, two rules)\n"
	"       ZONE := { any | ZONE-ID | IFNAME }   (rules: default any)\n";

static const char conntrack_notes[] =
	"'dst' matches the original or the translated destination.  'flush'\n"
	"without a filter empties the table.  SNAT shows the source a SNAT flow\n"
	"leaves with (the node's address and port).\n";

static const char nat_notes[] =
	"Static 1:1 NAT: packets from the tailnet to TAILNET_ADDR go to INNER_ADDR,\n"
	"packets from INNER_ADDR to the tailnet leave from TAILNET_ADDR.  Both\n"
	"addresses of one family; neither a service VIP; ZONE a zone number, an\n"
	"interface name or 'any' (the default: every tailnet zone).\n";

static const char monitor_notes[] =
	"One line (with -j: one JSON object) per event; Ctrl-C stops.\n";

static const char batch_notes[] =
	"One command per line ('-': stdin), '#' comments; each line is applied\n"
	"atomically, the batch is not: it stops at the first error, naming its\n"
	"line, and the lines before it stay applied.\n";

static const char status_notes[] =
	"The loader, pinned links, interfaces and maps.  Exit status, for\n"
	"liveness and readiness probes (the status prints in every case; the\n"
	"reason of a non-zero one is an 'Error: ...' line, with -j only in the\n"
	"\"health\" object):\n"
	"       0  healthy: every map pinned and tailplaned running\n"
	"       1  error: bad usage, or it cannot tell (e.g. not root)\n"
	"       2  tailplaned is not running for the pin root\n"
	"       3  a map is not pinned: the datapath is not loaded\n"
	"          (before 2 when both hold)\n";

static const char guard_notes[] =
	"       PREFIX := { 198.18.9.0/24 | 198.18.9.9 | fd00:198:18::/48 }\n"
	"       PPS := 0-10000000   handshakes a second per source, 0: no limit\n"
	"       BURST := 1-1000000  (may be left out with PPS 0)\n"
	"\n"
	"The uplink's XDP guard: every IP packet from a listed source is dropped;\n"
	"WireGuard handshakes (message types 1-3) to a guarded port are limited\n"
	"per source, data is not.  Changes apply to the next packet; the loader\n"
	"writes its configuration's values again when it starts or reloads.\n";

const struct tpctl_object tpctl_objects[] = {
	OBJECT("service", service_cmds, 0, service_notes),
	OBJECT("backend", backend_cmds, 0, backend_notes),
	OBJECT("identity", identity_cmds, 0, identity_notes),
	OBJECT("policy", policy_cmds, 0, policy_notes),
	OBJECT("conntrack", conntrack_cmds, 0, conntrack_notes),
	OBJECT("nat", nat_cmds, 0, nat_notes),
	OBJECT("stats", stats_cmds, 0, NULL),
	OBJECT("monitor", monitor_cmds, 0, monitor_notes),
	OBJECT("map", map_cmds, 0, NULL),
	OBJECT("batch", batch_cmds, 0, batch_notes),
	OBJECT("status", status_cmds, 0, status_notes),
	OBJECT("guard", guard_cmds, 0, guard_notes),
	OBJECT("help", help_cmds, TPCTL_OBJ_META, NULL),
	OBJECT("version", version_cmds, TPCTL_OBJ_META, NULL),
};

const size_t tpctl_n_objects = ARRAY_SIZE(tpctl_objects);
