// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "names.h"
#include "tailplane/abi.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const tp_stat_names[] = {
	[TP_STAT_RX_TAILNET] = "rx_tailnet",
	[TP_STAT_TX_TAILNET] = "tx_tailnet",
	[TP_STAT_PASS] = "pass",
	[TP_STAT_DNAT] = "dnat",
	[TP_STAT_REVNAT] = "revnat",
	[TP_STAT_CT_NEW] = "ct_new",
	[TP_STAT_CT_HIT] = "ct_hit",
	[TP_STAT_FRAG_NO_RECORD] = "frag_no_record",
	[TP_STAT_ICMP_ERR_NAT] = "icmp_error_nat",
	[TP_STAT_NOT_IP] = "not_ip",
	[TP_STAT_OTHER_PROTO] = "other_proto",
	[TP_STAT_VERDICT_ALLOW] = "verdict_allow",
	[TP_STAT_VERDICT_DENY] = "verdict_deny",
	[TP_STAT_VERDICT_AUDIT] = "verdict_audit",
	[TP_STAT_POLICY_RECHECK] = "policy_recheck",
	[TP_STAT_EVENTS] = "events",
	[TP_STAT_EVENTS_LIMITED] = "events_rate_limited",
	[TP_STAT_EVENTS_LOST] = "events_lost",
	[TP_STAT_SNAT] = "snat",
	[TP_STAT_REVSNAT] = "revsnat",
	[TP_STAT_RX_UPLINK] = "rx_uplink",
	[TP_STAT_GUARD_PASS] = "guard_pass",
	[TP_STAT_GUARD_LISTED] = "guard_listed",
	[TP_STAT_GUARD_RATE_LIMITED] = "guard_rate_limited",
	[TP_STAT_STATIC_NAT_IN] = "static_nat_in",
	[TP_STAT_STATIC_NAT_OUT] = "static_nat_out",
	[TP_STAT_MASQ] = "masq",
	[TP_STAT_REVMASQ] = "revmasq",
};

static const char *const tp_drop_names[] = {
	[TP_DROP_NONE] = "none",
	[TP_DROP_TRUNCATED] = "truncated",
	[TP_DROP_BAD_IHL] = "bad_ihl",
	[TP_DROP_BAD_LEN] = "bad_length",
	[TP_DROP_BAD_VERSION] = "bad_version",
	[TP_DROP_EXTHDR_LIMIT] = "ipv6_exthdr_limit",
	[TP_DROP_BAD_FRAG] = "bad_fragment",
	[TP_DROP_NO_BACKEND] = "no_backend",
	[TP_DROP_CT_FULL] = "conntrack_full",
	[TP_DROP_REWRITE_FAIL] = "rewrite_failed",
	[TP_DROP_POLICY] = "policy",
	[TP_DROP_ZONE] = "zone",
	[TP_DROP_FRAG_NO_FLOW] = "fragment_no_flow",
	[TP_DROP_CT_CLASH] = "conntrack_clash",
	[TP_DROP_V4_MAPPED] = "ipv6_v4_mapped",
	[TP_DROP_INTERNAL] = "internal",
	[TP_DROP_SNAT_EXHAUSTED] = "snat_exhausted",
	[TP_DROP_NO_SNAT_ADDR] = "no_snat_address",
	[TP_DROP_NO_ROUTE] = "no_route",
	[TP_DROP_FRAG_NEEDED] = "fragmentation_needed",
	[TP_DROP_TTL_EXCEEDED] = "ttl_exceeded",
	[TP_DROP_STATIC_SPOOF] = "static_nat_spoof",
	[TP_DROP_REVERSE_PATH] = "reverse_path",
	[TP_DROP_VLAN] = "vlan",
};

static const char *const tp_ct_state_names[] = {
	[TP_CT_NONE] = "none",	       [TP_CT_SYN_SENT] = "syn_sent",
	[TP_CT_SYN_RECV] = "syn_recv", [TP_CT_ESTABLISHED] = "established",
	[TP_CT_FIN_WAIT] = "fin_wait", [TP_CT_CLOSE] = "close",
	[TP_CT_RESET] = "reset",       [TP_CT_OPEN] = "open",
	[TP_CT_REPLIED] = "replied",
};

static const char *const tp_verdict_names[] = {
	[TP_VERDICT_NONE] = "none",
	[TP_VERDICT_ALLOW] = "allow",
	[TP_VERDICT_DENY] = "deny",
	[TP_VERDICT_AUDIT] = "audit",
};

static const char *const tp_backend_state_names[] = {
	[TP_BACKEND_ACTIVE] = "active",
	[TP_BACKEND_TERMINATING] = "terminating",
	[TP_BACKEND_MAINTENANCE] = "maintenance",
};

static const char *const tp_owner_names[] = {
	[TP_OWNER_NONE] = "none",
	[TP_OWNER_TPCTL] = "tpctl",
	[TP_OWNER_STATIC] = "static",
	[TP_OWNER_KUBERNETES] = "kubernetes",
	[TP_OWNER_WIREGUARD] = "wireguard",
	[TP_OWNER_TAILSCALE] = "tailscale",
};

static const char *const tp_event_type_names[] = {
	[TP_EVENT_FLOW_ALLOW] = "allow",
	[TP_EVENT_FLOW_DENY] = "deny",
	[TP_EVENT_FLOW_AUDIT] = "audit",
	[TP_EVENT_DROP] = "drop",
};

static const char *tp_name(const char *const *tab, size_t n, __u32 v)
{
	return v < n && tab[v] ? tab[v] : "unknown";
}

/**
 * tp_stat_name() - name of a tp_stats index; drop counters are
 * "drop_<reason>".
 */
const char *tp_stat_name(__u32 id)
{
	static char drop_names[TP_STAT_MAX - TP_STAT_DROP_BASE][40];
	char *name;

	if (id < TP_STAT_DROP_BASE)
		return tp_name(tp_stat_names, N(tp_stat_names), id);
	if (id >= TP_STAT_MAX)
		return "unknown";
	name = drop_names[id - TP_STAT_DROP_BASE];
	if (!name[0])
		snprintf(name, sizeof(drop_names[0]), "drop_%s",
			 tp_drop_reason_name(id - TP_STAT_DROP_BASE));
	return name;
}

const char *tp_drop_reason_name(__u32 reason)
{
	return tp_name(tp_drop_names, N(tp_drop_names), reason);
}

const char *tp_ct_state_name(__u8 state)
{
	return tp_name(tp_ct_state_names, N(tp_ct_state_names), state);
}

const char *tp_verdict_name(__u8 verdict)
{
	return tp_name(tp_verdict_names, N(tp_verdict_names), verdict);
}

const char *tp_backend_state_name(__u8 state)
{
	return tp_name(tp_backend_state_names, N(tp_backend_state_names),
		       state);
}

const char *tp_owner_name(__u8 owner)
{
	return tp_name(tp_owner_names, N(tp_owner_names), owner);
}

const char *tp_event_type_name(__u8 type)
{
	return tp_name(tp_event_type_names, N(tp_event_type_names), type);
}

static int tp_parse_name(const char *const *tab, size_t n, size_t first,
			 const char *s, __u8 *out)
{
	size_t i;

	for (i = first; i < n; i++) {
		if (tab[i] && !strcmp(s, tab[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

/** tp_verdict_parse() - "allow", "deny" or "audit". */
int tp_verdict_parse(const char *s, __u8 *verdict)
{
	return tp_parse_name(tp_verdict_names, N(tp_verdict_names), 1, s,
			     verdict);
}

/** tp_backend_state_parse() - "active", "terminating" or "maintenance". */
int tp_backend_state_parse(const char *s, __u8 *state)
{
	return tp_parse_name(tp_backend_state_names, N(tp_backend_state_names),
			     0, s, state);
}
