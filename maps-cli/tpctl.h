/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tpctl: a bpftool-style CLI over tailplane's pinned maps.
 *
 * Every command is a row of the command table (commands.c): its words,
 * argument parser, runner, whether it writes, and its usage.  A command
 * line goes through two steps: tpctl_parse() finds the row and turns the
 * words into a struct tpctl_args without touching any map (so every
 * syntax error is found before anything is read or written), then
 * tpctl_exec() runs the row's runner, which resolves names against the
 * maps.  Commands report errors
 * with tpctl_err() and output through the context: plain text to
 * ctx->out, or one JSON value to ctx->json.
 */
#ifndef TPCTL_TPCTL_H
#define TPCTL_TPCTL_H

#include <stdbool.h>
#include <stdio.h>

#include <linux/bpf.h>

#include "addr.h"
#include "json.h"
#include "maps.h"

#ifndef TPCTL_VERSION
#define TPCTL_VERSION "0.1.0"
#endif

#define TPCTL_ERR_LEN 512

/*
 * Exit statuses.  Every command exits 0 or TPCTL_EXIT_ERROR; `status`,
 * the liveness and readiness probe, also says what is unhealthy.
 */
enum tpctl_exit {
	TPCTL_EXIT_OK = 0,
	TPCTL_EXIT_ERROR = 1,	  /* usage, or cannot do or tell */
	TPCTL_EXIT_NO_LOADER = 2, /* status: tailplaned is not running */
	TPCTL_EXIT_NO_MAPS =
		3, /* status: a map of the datapath is not pinned */
};

struct tpctl_args;
struct tpctl_ctx;
struct tpctl_object;
struct tpctl_parser;

/* Reads a command's arguments (parse.c); errors name the word at fault. */
typedef int tpctl_parse_fn(struct tpctl_parser *p, struct tpctl_args *a);
/* Runs a parsed command (cmd_*.c); errors go to tpctl_err(). */
typedef int tpctl_run_fn(struct tpctl_ctx *ctx, const struct tpctl_args *a);

/* What a command does beside its run (struct tpctl_cmd.flags). */
#define TPCTL_CMD_DEFAULT  (1u << 0) /* runs when its object comes alone */
#define TPCTL_CMD_WRITES   (1u << 1) /* changes pinned state: takes the lock */
#define TPCTL_CMD_NO_BATCH (1u << 2) /* cannot run inside a batch */
/*
 * In a batch, may run while Maglev tables are staged: it neither reads
 * services back nor acts on what the datapath did with the live tables.
 * Without it, a batch makes its staged tables live first.
 */
#define TPCTL_CMD_STAGED_OK (1u << 3)

/**
 * struct tpctl_cmd - a command of an object: the one place it is defined.
 * @word:  the command ("add"); NULL for the single row of an object that
 *         takes its arguments directly (monitor, batch, status).
 * @parse: reads its arguments; NULL with @sub.
 * @run:   runs it; NULL with @sub.
 * @sub:   the commands that follow @word ("nat static add"), else NULL.
 * @flags: TPCTL_CMD_*.
 * @args:  its arguments in the usage ("VIP:PORT/PROTO [zone ZONE]"), ""
 *         for none; a newline continues them on the next usage line.
 * @help:  what it does, one line.
 * @maps:  with TPCTL_CMD_WRITES, the maps it uses (TP_MAP_BIT()s), the
 *         only ones opened for it; 0 (most rows) opens every map.
 */
struct tpctl_cmd {
	const char *word;
	tpctl_parse_fn *parse;
	tpctl_run_fn *run;
	const struct tpctl_object *sub;
	unsigned int flags;
	const char *args;
	const char *help;
	__u64 maps;
};

/* Objects that are no OBJECT of the grammar (help, version). */
#define TPCTL_OBJ_META (1u << 0)

/**
 * struct tpctl_object - an OBJECT word and its commands, as bpftool's
 * struct cmd tables: they drive parsing, locking and the usage.
 * @word:   the object ("service"), or the command words leading to @cmds
 *          ("static" under nat).
 * @cmds:   its commands.
 * @n_cmds: their number.
 * @flags:  TPCTL_OBJ_*.
 * @notes:  the usage's text after the commands (grammar of the
 *          arguments, what to know), or NULL.
 */
struct tpctl_object {
	const char *word;
	const struct tpctl_cmd *cmds;
	size_t n_cmds;
	unsigned int flags;
	const char *notes;
};

/* commands.c: every object, in the order the usage lists them */
extern const struct tpctl_object tpctl_objects[];
extern const size_t tpctl_n_objects;
extern const struct tpctl_cmd tpctl_help_cmd;

/* Which optional parts a command line gave (struct tpctl_args.has). */
#define TPCTL_HAS_AFFINITY (1u << 0)
#define TPCTL_HAS_ZONE	   (1u << 1)
#define TPCTL_HAS_WEIGHT   (1u << 2)
#define TPCTL_HAS_STATE	   (1u << 3)
#define TPCTL_HAS_NAME	   (1u << 4)
#define TPCTL_HAS_PROTO	   (1u << 5)
#define TPCTL_HAS_PORT	   (1u << 6)
#define TPCTL_HAS_VERDICT  (1u << 7)
#define TPCTL_HAS_SRC	   (1u << 8)
#define TPCTL_HAS_DST	   (1u << 9)
#define TPCTL_HAS_SVC	   (1u << 10)
#define TPCTL_HAS_BACKEND  (1u << 11)
#define TPCTL_HAS_COUNT	   (1u << 12)
#define TPCTL_HAS_SNAT	   (1u << 13) /* service add ... snat: TP_SVC_F_SNAT */

/* `policy ... proto icmp` means ICMP and ICMPv6: two rules. */
#define TPCTL_PROTO_ICMP_BOTH 0x100

enum tpctl_monitor_filter {
	TPCTL_MONITOR_ALL,
	TPCTL_MONITOR_DROPS,
	TPCTL_MONITOR_AUDIT,
};

/**
 * struct tpctl_args - a parsed command line.  Strings point into argv.
 * @cmd:       what to do: its row of the command table.
 * @obj:       the object named, whose usage help prints (NULL: tpctl's).
 * @has:       TPCTL_HAS_* of the optional parts given.
 * @svc:       service frontend (service, backend, conntrack filters).
 * @affinity:  ClientIP affinity timeout, seconds.
 * @zone:      ZONE word as given ("any", a number or an interface name).
 * @be_addr:   backend address.
 * @be_port:   backend port, host order (0 for ICMP services).
 * @weight:    backend weight.
 * @state:     enum tp_backend_state.
 * @prefix:    identity prefix (conntrack: src filter uses @src).
 * @plen:      its length, 128-bit space.
 * @id:        identity word as given (number or name).
 * @name:      identity name to set.
 * @from:      policy source identity word ("any", number or name).
 * @to:        policy destination identity word.
 * @proto:     policy protocol, 0 any, or TPCTL_PROTO_ICMP_BOTH.
 * @port_lo:   first port of a policy port range, host order.
 * @port_hi:   last port.
 * @verdict:   enum tp_verdict.
 * @src:       conntrack source filter prefix.
 * @src_plen:  its length.
 * @dst:       conntrack destination filter prefix.
 * @dst_plen:  its length.
 * @filter:    enum tpctl_monitor_filter.
 * @count:     monitor: stop after this many events.
 * @map_name:  map dump: the map.
 * @file:      batch: the file, "-" for stdin.
 * @rate:      guard rate: handshakes a second per source, 0: no limit.
 * @burst:     guard rate: the bucket size.
 * @nat_tailnet: nat static: the tailnet address.
 * @nat_inner:   nat static add: the inner address.
 */
struct tpctl_args {
	const struct tpctl_cmd *cmd;
	const struct tpctl_object *obj;
	unsigned int has;
	struct tp_svc_key svc;
	__u32 affinity;
	const char *zone;
	struct tp_addr be_addr;
	__u16 be_port;
	__u16 weight;
	__u8 state;
	struct tp_addr prefix;
	unsigned int plen;
	const char *id;
	const char *name;
	const char *from;
	const char *to;
	unsigned int proto;
	__u16 port_lo;
	__u16 port_hi;
	__u8 verdict;
	struct tp_addr src;
	unsigned int src_plen;
	struct tp_addr dst;
	unsigned int dst_plen;
	enum tpctl_monitor_filter filter;
	__u64 count;
	const char *map_name;
	const char *file;
	__u32 rate;
	__u32 burst;
	struct tp_addr nat_tailnet;
	struct tp_addr nat_inner;
};

/**
 * struct tpctl_opts - global options.
 * @json:     -j: JSON output.
 * @pretty:   -p: indented JSON (implies @json).
 * @help:     -h.
 * @version:  -V.
 * @pin_root: --pin-root.
 */
struct tpctl_opts {
	bool json;
	bool pretty;
	bool help;
	bool version;
	const char *pin_root;
};

/**
 * struct tpctl_ctx - what a running command works with.
 * @opts:       the global options.
 * @out:        plain output (stdout).
 * @json:       JSON writer on @out, with opts.json.
 * @maps:       the pinned maps, once opened (@maps_open): those the
 *              commands run so far asked for (tpctl_maps_for()).
 * @maps_open:  @maps is valid.
 * @maps_have:  the maps of @maps asked for and open (TP_MAP_BIT()s).
 * @lock_fd:    the writers' lock while held, else -1.
 * @lock_dir:   the pin root's fd the lock is taken on, kept open between
 *              the lines of a batch, else -1.
 * @in_batch:   running a line of a batch.
 * @svc_batch:  in a batch, the services whose Maglev tables are due at
 *              its end (lib/service.c's staging); NULL otherwise.
 * @line_no:    in a batch, the number of the line running.
 * @streamed:   the command ended its JSON documents itself (monitor).
 * @err_shown:  the error was already written out (batch in JSON mode).
 * @exit_status: a command that succeeded (its output written) but exits
 *              non-zero (enum tpctl_exit), with its reason in @err.
 * @err:        the first error of the command, "" if none.
 */
struct tpctl_ctx {
	struct tpctl_opts opts;
	FILE *out;
	struct tp_json json;
	struct tp_maps maps;
	bool maps_open;
	__u64 maps_have;
	int lock_fd;
	int lock_dir;
	bool in_batch;
	struct tp_svc_batch *svc_batch;
	unsigned long line_no;
	bool streamed;
	bool err_shown;
	int exit_status;
	char err[TPCTL_ERR_LEN];
};

/* parse.c */
int tpctl_parse_opts(int argc, char **argv, struct tpctl_opts *o, char **words,
		     int *n, char *err, size_t errlen);
int tpctl_parse(int argc, char **argv, struct tpctl_args *a, char *err,
		size_t errlen);
int tpctl_parse_help(int argc, char **argv, struct tpctl_args *a, char *err,
		     size_t errlen);
int tpctl_word(const char *word, const char *const *words, size_t n);

/* parse.c: the arguments of each command, for the command table */
tpctl_parse_fn tpctl_parse_none, tpctl_parse_service_add,
	tpctl_parse_service_del, tpctl_parse_backend_add,
	tpctl_parse_backend_set, tpctl_parse_backend_del,
	tpctl_parse_identity_add, tpctl_parse_identity_del,
	tpctl_parse_policy_add, tpctl_parse_policy_del,
	tpctl_parse_policy_default, tpctl_parse_ct_list, tpctl_parse_ct_flush,
	tpctl_parse_nat_static_add, tpctl_parse_nat_static_del,
	tpctl_parse_monitor, tpctl_parse_map_dump, tpctl_parse_batch,
	tpctl_parse_guard_prefix, tpctl_parse_guard_rate;

/* ctx.c */
int tpctl_ctx_init(struct tpctl_ctx *ctx, const struct tpctl_opts *opts,
		   FILE *out);
void tpctl_ctx_free(struct tpctl_ctx *ctx);
int tpctl_err(struct tpctl_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const struct tp_maps *tpctl_maps(struct tpctl_ctx *ctx);
const struct tp_maps *tpctl_maps_for(struct tpctl_ctx *ctx, __u64 want);
int tpctl_lock(struct tpctl_ctx *ctx);
void tpctl_unlock(struct tpctl_ctx *ctx);
int tpctl_ok(struct tpctl_ctx *ctx);
int tpctl_run(struct tpctl_ctx *ctx, int argc, char **argv);
int tpctl_run_help(struct tpctl_ctx *ctx, int argc, char **argv);
int tpctl_finish(struct tpctl_ctx *ctx, int ret);
int tpctl_zone_resolve(struct tpctl_ctx *ctx, const char *word, bool any_ok,
		       __u16 *zone);
int tpctl_identity_resolve(struct tpctl_ctx *ctx, const char *word, bool any_ok,
			   __u32 *id);
char *tpctl_id_label(const struct tp_maps *m, __u32 id, char *buf, size_t len);
void tpctl_json_identity(struct tp_json *j, const char *base,
			 const struct tp_maps *m, __u32 id);
void tpctl_json_addr_port(struct tp_json *j, const char *addr_key,
			  const char *port_key, const struct tp_addr *a,
			  __be16 port);

/**
 * struct tpctl_svc_row - a service as listed.
 * @key: its frontend.
 * @svc: its entry.
 */
struct tpctl_svc_row {
	struct tp_svc_key key;
	struct tp_svc svc;
};

/**
 * struct tpctl_be_row - a backend as listed.
 * @id: its id.
 * @be: its entry.
 */
struct tpctl_be_row {
	__u32 id;
	struct tp_backend be;
};

/* cmd_service.c: output of `service list`, from collected rows */
void tpctl_services_render(struct tpctl_ctx *ctx,
			   const struct tpctl_svc_row *svcs, size_t n_svcs,
			   const struct tpctl_be_row *bes, size_t n_bes);

/**
 * struct tpctl_id_row - an identity prefix as listed.
 * @key: the prefix (zone, length, address).
 * @val: its identity.
 */
struct tpctl_id_row {
	struct tp_identity_key key;
	struct tp_identity_val val;
};

/* cmd_identity.c: output of `identity list` */
void tpctl_identities_render(struct tpctl_ctx *ctx, const struct tp_maps *m,
			     const struct tpctl_id_row *rows, size_t n);

/**
 * struct tpctl_rule_row - a policy rule as listed.
 * @id:   its id.
 * @rule: the rule.
 * @st:   its counters, summed over CPUs.
 */
struct tpctl_rule_row {
	__u32 id;
	struct tp_rule rule;
	struct tp_stat st;
};

/**
 * struct tpctl_zone_row - a zone's policy settings as listed.
 * @zone: the zone.
 * @z:    its tp_zones entry.
 */
struct tpctl_zone_row {
	__u32 zone;
	struct tp_zone z;
};

/* cmd_policy.c: output of `policy list` */
void tpctl_policy_render(struct tpctl_ctx *ctx, const struct tp_maps *m,
			 const struct tpctl_rule_row *rules, size_t n,
			 const struct tpctl_zone_row *zones, size_t nz);

/**
 * struct tpctl_ct_row - a conntrack flow as listed.
 * @key:       its original tuple.
 * @e:         its flow entry.
 * @snat_addr: with TP_CT_F_SNAT, the source address its packets leave
 *             with (tp_config's of the family when listed); the port is
 *             @e.snat_port.
 */
struct tpctl_ct_row {
	struct tp_ct_key key;
	struct tp_ct_entry e;
	struct tp_addr snat_addr;
};

/* cmd_ct.c */
__u64 tpctl_now_ns(void);
void tpctl_ct_render(struct tpctl_ctx *ctx, const struct tp_maps *m,
		     const struct tpctl_ct_row *rows, size_t n, __u64 now,
		     const struct tpctl_svc_row *svcs, size_t n_svcs);

enum tpctl_stats_section {
	TPCTL_STATS_COUNTERS,
	TPCTL_STATS_DROPS,
	TPCTL_STATS_RULES,
	TPCTL_STATS_SERVICES,
	TPCTL_STATS_SECTIONS,
};

/**
 * struct tpctl_stat_row - one counter as shown.
 * @id:    counter index, rule id or service id.
 * @label: its name, rule id or service frontend.
 * @st:    packets and bytes, summed over CPUs.
 */
struct tpctl_stat_row {
	__u32 id;
	char label[TP_SVC_STRLEN];
	struct tp_stat st;
};

/**
 * struct tpctl_stats - the counters by section.
 * @rows: the rows of each section.
 * @n:    how many.
 * @cap:  room.
 */
struct tpctl_stats {
	struct tpctl_stat_row *rows[TPCTL_STATS_SECTIONS];
	size_t n[TPCTL_STATS_SECTIONS];
	size_t cap[TPCTL_STATS_SECTIONS];
};

/* cmd_stats.c */
int tpctl_percpu_sum(int fd, __u32 key, struct tp_stat *sum);
int tpctl_stats_add(struct tpctl_stats *s, enum tpctl_stats_section sec,
		    __u32 id, const char *label, const struct tp_stat *st);
void tpctl_stats_render(struct tpctl_ctx *ctx, const struct tpctl_stats *s);
void tpctl_stats_free(struct tpctl_stats *s);

/**
 * struct tpctl_map_info - a pinned map as `map list` and `status` show it.
 * @name:    its pin name.
 * @err:     -errno when it could not be opened or read, else 0.
 * @info:    the kernel's description.
 * @entries: entries counted, -1 for arrays and ring buffers.
 * @memlock: kernel memory it holds, as /proc/PID/fdinfo says (what
 *           `bpftool map show` reports); -1 if unknown.  For
 *           tp_maglev_slab, with its chunks'.
 * @slab:    it is tp_maglev_slab, read as one: @entries counts its
 *           chunks, and
 * @blocks:  their blocks,
 * @used:    those in tables (zero and unused for every other map, so a
 *           row built field by field is a plain map).
 */
struct tpctl_map_info {
	const char *name;
	int err;
	struct bpf_map_info info;
	long long entries;
	long long memlock;
	bool slab;
	long long blocks;
	long long used;
};

/* cmd_map.c */
void tpctl_map_infos(struct tpctl_ctx *ctx, struct tpctl_map_info *maps);
void tpctl_maps_render(struct tpctl_ctx *ctx, const struct tpctl_map_info *maps,
		       size_t n);

/* cmd_monitor.c */
void tpctl_event_plain(FILE *out, const struct tp_maps *m,
		       const struct tp_event *ev, __s64 real_off);
void tpctl_event_json(struct tp_json *j, const struct tp_maps *m,
		      const struct tp_event *ev, __s64 real_off);

/* cmd_batch.c */
int tpctl_batch_split(char *line, char **words, int max);

/* exec.c */
int tpctl_exec(struct tpctl_ctx *ctx, const struct tpctl_args *a);

/* help.c */
int tpctl_help(struct tpctl_ctx *ctx, const struct tpctl_object *obj);
int tpctl_version(struct tpctl_ctx *ctx);
int tpctl_help_run(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_version_run(struct tpctl_ctx *ctx, const struct tpctl_args *a);

/* the objects' commands, cmd_*.c */
int tpctl_service_add(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_service_del(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_service_list(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_backend_add(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_backend_set(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_backend_del(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_identity_add(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_identity_del(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_identity_list(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_policy_add(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_policy_del(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_policy_default(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_policy_list(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_ct_list(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_ct_flush(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_stats_show(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_stats_reset(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_monitor(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_map_list(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_map_dump(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_batch(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_status(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_guard_list(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_guard_add(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_guard_del(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_guard_rate(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_guard_show(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_nat_list(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_nat_static_add(struct tpctl_ctx *ctx, const struct tpctl_args *a);
int tpctl_nat_static_del(struct tpctl_ctx *ctx, const struct tpctl_args *a);

#endif /* TPCTL_TPCTL_H */
