// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Event hooks and flag sets by name.  Unknown hooks get "?", unknown flag
 * bits their hex value, so newer datapath values never confuse tpctl.
 */
#include <stdio.h>
#include <string.h>

#include "flags.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *tpctl_name_of(const char *const *names, size_t n, __u32 v)
{
	return v < n && names[v] ? names[v] : "?";
}

/** tpctl_hook_name() - "from-tailnet", "to-tailnet" or "from-uplink" (TP_EVENT_HOOK_*). */
const char *tpctl_hook_name(__u8 hook)
{
	static const char *const hooks[] = {
		[TP_EVENT_HOOK_FROM_TAILNET] = "from-tailnet",
		[TP_EVENT_HOOK_TO_TAILNET] = "to-tailnet",
		[TP_EVENT_HOOK_FROM_UPLINK] = "from-uplink",
	};

	return tpctl_name_of(hooks, ARRAY_SIZE(hooks), hook);
}

struct tpctl_flag_name {
	__u32 bit;
	const char *name;
};

/* "a,b" for the known bits of @flags, unknown ones as 0x..; "-" if none. */
static char *tpctl_flags_str(const struct tpctl_flag_name *names, size_t n,
			     __u32 flags, char *buf, size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!(flags & names[i].bit))
			continue;
		used += snprintf(buf + used, used < len ? len - used : 0,
				 "%s%s", used ? "," : "", names[i].name);
		flags &= ~names[i].bit;
	}
	if (flags)
		used += snprintf(buf + used, used < len ? len - used : 0,
				 "%s0x%x", used ? "," : "", flags);
	if (!used)
		snprintf(buf, len, "-");
	return buf;
}

/** tpctl_iface_flags_str() - TP_IFACE_F_* as "l3,tailnet". */
char *tpctl_iface_flags_str(__u32 flags, char *buf, size_t len)
{
	static const struct tpctl_flag_name names[] = {
		{ TP_IFACE_F_L3, "l3" },
		{ TP_IFACE_F_TAILNET, "tailnet" },
		{ TP_IFACE_F_UPLINK, "uplink" },
	};

	return tpctl_flags_str(names, ARRAY_SIZE(names), flags, buf, len);
}

/** tpctl_svc_flags_str() - TP_SVC_F_* as "affinity,snat". */
char *tpctl_svc_flags_str(__u16 flags, char *buf, size_t len)
{
	static const struct tpctl_flag_name names[] = {
		{ TP_SVC_F_AFFINITY, "affinity" },
		{ TP_SVC_F_SNAT, "snat" },
	};

	return tpctl_flags_str(names, ARRAY_SIZE(names), flags, buf, len);
}

/** tpctl_ct_flags_str() - TP_CT_F_* as "dnat,egress". */
char *tpctl_ct_flags_str(__u8 flags, char *buf, size_t len)
{
	static const struct tpctl_flag_name names[] = {
		{ TP_CT_F_REPLY_KEY, "reply_key" },
		{ TP_CT_F_DNAT, "dnat" },
		{ TP_CT_F_SNAT, "snat" },
		{ TP_CT_F_EGRESS, "egress" },
		{ TP_CT_F_MASQ, "masq" },
		{ TP_CT_F_RINDEX, "rindex" },
	};

	return tpctl_flags_str(names, ARRAY_SIZE(names), flags, buf, len);
}
