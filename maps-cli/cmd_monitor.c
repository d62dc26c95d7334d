// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * monitor: the tp_events ring buffer, one line (or one JSON object) per
 * event, with identities and interfaces named.  Stops on SIGINT/SIGTERM
 * (exit 0) or after `count N` events that passed the filter.
 */
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <bpf/libbpf.h>

#include "flags.h"
#include "names.h"
#include "tpctl.h"

#define NSEC_PER_SEC	   1000000000ULL
#define TPCTL_MONITOR_DONE (-ECANCELED) /* callback: count reached */

static volatile sig_atomic_t tpctl_monitor_stop;

static void tpctl_monitor_signal(int sig)
{
	tpctl_monitor_stop = 1;
}

/**
 * struct tpctl_monitor - a running monitor.
 * @ctx:      the context.
 * @a:        filter and count.
 * @seen:     events shown so far.
 * @real_off: CLOCK_REALTIME - CLOCK_MONOTONIC, ns, to date events.
 */
struct tpctl_monitor {
	struct tpctl_ctx *ctx;
	const struct tpctl_args *a;
	__u64 seen;
	__s64 real_off;
	bool draining; /* discarding what was queued before we started */
};

static __s64 tpctl_real_offset(void)
{
	struct timespec mono, real;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	return ((__s64)real.tv_sec - mono.tv_sec) * (__s64)NSEC_PER_SEC +
	       (real.tv_nsec - mono.tv_nsec);
}

/* "12:34:56.789012" in local time. */
static char *event_time(__s64 real_ns, char *buf, size_t len)
{
	time_t secs = real_ns / (__s64)NSEC_PER_SEC;
	struct tm tm;

	localtime_r(&secs, &tm);
	snprintf(buf, len, "%02d:%02d:%02d.%06lld", tm.tm_hour, tm.tm_min,
		 tm.tm_sec, (long long)(real_ns % (__s64)NSEC_PER_SEC) / 1000);
	return buf;
}

static char *event_ifname(__u32 ifindex, char *buf)
{
	if (!ifindex || !if_indextoname(ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "if%u", ifindex);
	return buf;
}

static bool event_translated(const struct tp_event *ev)
{
	return memcmp(&ev->nat_addr, &ev->tuple.daddr, sizeof(ev->nat_addr)) ||
	       ev->nat_port != ev->tuple.dport;
}

/**
 * tpctl_event_plain() - one event as a line.
 * @out:      where.
 * @m:        maps for identity names (may be NULL).
 * @ev:       the event.
 * @real_off: CLOCK_REALTIME - CLOCK_MONOTONIC in ns.
 */
void tpctl_event_plain(FILE *out, const struct tp_maps *m,
		       const struct tp_event *ev, __s64 real_off)
{
	char when[32], ifn[IF_NAMESIZE], num[4], src[TP_ENDPOINT_STRLEN];
	char dst[TP_ENDPOINT_STRLEN], nat[TP_ENDPOINT_STRLEN + 8];
	char sid[TP_IDENTITY_NAME_LEN + 16], did[TP_IDENTITY_NAME_LEN + 16];
	const __u8 proto = ev->tuple.proto;
	char rule[32];

	nat[0] = '\0';
	if (event_translated(ev)) {
		tp_flow_endpoint_format(&ev->nat_addr, ev->nat_port, proto,
					dst);
		snprintf(nat, sizeof(nat), " => %s", dst);
	}
	if (ev->rule_id)
		snprintf(rule, sizeof(rule), "rule %u", ev->rule_id);
	else
		snprintf(rule, sizeof(rule), "zone default");
	fprintf(out, "%s %-5s %s %s zone %u",
		event_time(ev->ts_ns + real_off, when, sizeof(when)),
		tp_event_type_name(ev->type), tpctl_hook_name(ev->hook),
		event_ifname(ev->ifindex, ifn), ev->zone);
	if (ev->out_zone && ev->out_zone != ev->zone)
		fprintf(out, "->%u", ev->out_zone);
	fprintf(out, " %s %s -> %s%s", tp_proto_name(proto, num, sizeof(num)),
		tp_flow_endpoint_format(&ev->tuple.saddr, ev->tuple.sport,
					proto, src),
		tp_flow_endpoint_format(&ev->tuple.daddr, ev->tuple.dport,
					proto, dst),
		nat);
	/* a drop event is no decision: no identities, no rule */
	if (ev->type != TP_EVENT_DROP)
		fprintf(out, " %s -> %s %s",
			tpctl_id_label(m, ev->src_id, sid, sizeof(sid)),
			tpctl_id_label(m, ev->dst_id, did, sizeof(did)), rule);
	if (ev->reason)
		fprintf(out, " reason %s", tp_drop_reason_name(ev->reason));
	fputc('\n', out);
}

/**
 * tpctl_event_json() - one event as a JSON object.
 * @j:        the writer.
 * @m:        maps for identity names (may be NULL).
 * @ev:       the event.
 * @real_off: CLOCK_REALTIME - CLOCK_MONOTONIC in ns.
 */
void tpctl_event_json(struct tp_json *j, const struct tp_maps *m,
		      const struct tp_event *ev, __s64 real_off)
{
	char buf[TP_SVC_STRLEN], ifn[IF_NAMESIZE];
	const __u8 proto = ev->tuple.proto;

	tp_json_obj_open(j);
	tp_json_kv_u64(j, "ts_ns", ev->ts_ns);
	tp_json_kv_s64(j, "time_ns", (long long)ev->ts_ns + real_off);
	tp_json_kv_str(j, "type", tp_event_type_name(ev->type));
	tp_json_kv_str(j, "verdict", tp_verdict_name(ev->verdict));
	if (ev->reason)
		tp_json_kv_str(j, "reason", tp_drop_reason_name(ev->reason));
	tp_json_kv_str(j, "hook", tpctl_hook_name(ev->hook));
	tp_json_kv_u64(j, "ifindex", ev->ifindex);
	tp_json_kv_str(j, "ifname", event_ifname(ev->ifindex, ifn));
	tp_json_kv_u64(j, "zone", ev->zone);
	tp_json_kv_u64(j, "out_zone", ev->out_zone);
	tp_json_kv_str(j, "proto", tp_proto_name(proto, buf, sizeof(buf)));
	tpctl_json_addr_port(j, "src", "sport", &ev->tuple.saddr,
			     ev->tuple.sport);
	tpctl_json_addr_port(j, "dst", "dport", &ev->tuple.daddr,
			     ev->tuple.dport);
	tpctl_json_addr_port(j, "nat_dst", "nat_dport", &ev->nat_addr,
			     ev->nat_port);
	tpctl_json_identity(j, "src", m, ev->src_id);
	tpctl_json_identity(j, "dst", m, ev->dst_id);
	tp_json_kv_u64(j, "rule_id", ev->rule_id);
	tp_json_kv_u64(j, "service_id", ev->svc_id);
	tp_json_obj_close(j);
}

static bool event_wanted(enum tpctl_monitor_filter f, const struct tp_event *ev)
{
	switch (f) {
	case TPCTL_MONITOR_DROPS:
		return ev->type == TP_EVENT_FLOW_DENY ||
		       ev->type == TP_EVENT_DROP;
	case TPCTL_MONITOR_AUDIT:
		return ev->type == TP_EVENT_FLOW_AUDIT;
	default:
		return true;
	}
}

static int tpctl_monitor_event(void *priv, void *data, size_t len)
{
	struct tpctl_monitor *mon = priv;
	struct tpctl_ctx *ctx = mon->ctx;
	struct tp_event ev = {};

	if (mon->draining)
		return 0;
	memcpy(&ev, data, len < sizeof(ev) ? len : sizeof(ev));
	if (!event_wanted(mon->a->filter, &ev))
		return 0;
	if (ctx->opts.json) {
		tpctl_event_json(&ctx->json, &ctx->maps, &ev, mon->real_off);
		tp_json_doc_end(&ctx->json);
	} else {
		tpctl_event_plain(ctx->out, &ctx->maps, &ev, mon->real_off);
		fflush(ctx->out);
	}
	mon->seen++;
	if ((mon->a->has & TPCTL_HAS_COUNT) && mon->seen >= mon->a->count)
		return TPCTL_MONITOR_DONE;
	return 0;
}

static void tpctl_monitor_signals(void)
{
	struct sigaction sa = { .sa_handler = tpctl_monitor_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/** tpctl_monitor() - print events until interrupted or counted out. */
int tpctl_monitor(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	const struct tp_maps *m = tpctl_maps(ctx);
	struct tpctl_monitor mon = { .ctx = ctx, .a = a };
	struct ring_buffer *rb;
	int err = 0;

	if (!m)
		return -1;
	mon.real_off = tpctl_real_offset();
	rb = ring_buffer__new(m->events, tpctl_monitor_event, &mon, NULL);
	if (!rb)
		return tpctl_err(ctx,
				 "cannot read the event ring buffer %s: %s",
				 TP_MAP_EVENTS, strerror(errno));
	ctx->streamed = true;
	/*
	 * The ring keeps what no reader took; those events are old news.
	 * Show only what happens from now on.
	 */
	mon.draining = true;
	ring_buffer__consume(rb);
	mon.draining = false;
	tpctl_monitor_stop = 0;
	tpctl_monitor_signals();
	while (!tpctl_monitor_stop) {
		err = ring_buffer__poll(rb, 250);
		if (err == -EINTR || err >= 0) {
			err = 0;
			continue;
		}
		break;
	}
	ring_buffer__free(rb);
	if (err && err != TPCTL_MONITOR_DONE)
		return tpctl_err(ctx, "reading events: %s", strerror(-err));
	return 0;
}
