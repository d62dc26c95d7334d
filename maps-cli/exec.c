// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Running a parsed command: commands that change the pinned state open
 * the maps and take the writers' lock for their whole run, so concurrent
 * tpctl processes (and the loader, which takes the same lock) apply
 * their changes one after the other.
 */
#include "tpctl.h"

typedef int (*tpctl_fn)(struct tpctl_ctx *ctx, const struct tpctl_args *a);

static const tpctl_fn tpctl_fns[TPCTL_OP_MAX] = {
	[TPCTL_OP_SERVICE_ADD] = tpctl_service_add,
	[TPCTL_OP_SERVICE_DEL] = tpctl_service_del,
	[TPCTL_OP_SERVICE_LIST] = tpctl_service_list,
	[TPCTL_OP_BACKEND_ADD] = tpctl_backend_add,
	[TPCTL_OP_BACKEND_SET] = tpctl_backend_set,
	[TPCTL_OP_BACKEND_DEL] = tpctl_backend_del,
	[TPCTL_OP_IDENTITY_ADD] = tpctl_identity_add,
	[TPCTL_OP_IDENTITY_DEL] = tpctl_identity_del,
	[TPCTL_OP_IDENTITY_LIST] = tpctl_identity_list,
	[TPCTL_OP_POLICY_ADD] = tpctl_policy_add,
	[TPCTL_OP_POLICY_DEL] = tpctl_policy_del,
	[TPCTL_OP_POLICY_DEFAULT] = tpctl_policy_default,
	[TPCTL_OP_POLICY_LIST] = tpctl_policy_list,
	[TPCTL_OP_CT_LIST] = tpctl_ct_list,
	[TPCTL_OP_CT_FLUSH] = tpctl_ct_flush,
	[TPCTL_OP_STATS_SHOW] = tpctl_stats_show,
	[TPCTL_OP_STATS_RESET] = tpctl_stats_reset,
	[TPCTL_OP_MONITOR] = tpctl_monitor,
	[TPCTL_OP_MAP_LIST] = tpctl_map_list,
	[TPCTL_OP_MAP_DUMP] = tpctl_map_dump,
	[TPCTL_OP_BATCH] = tpctl_batch,
	[TPCTL_OP_STATUS] = tpctl_status,
	[TPCTL_OP_GUARD_LIST] = tpctl_guard_list,
	[TPCTL_OP_GUARD_ADD] = tpctl_guard_add,
	[TPCTL_OP_GUARD_DEL] = tpctl_guard_del,
	[TPCTL_OP_GUARD_RATE] = tpctl_guard_rate,
	[TPCTL_OP_GUARD_SHOW] = tpctl_guard_show,
	[TPCTL_OP_NAT_LIST] = tpctl_nat_list,
	[TPCTL_OP_NAT_STATIC_ADD] = tpctl_nat_static_add,
	[TPCTL_OP_NAT_STATIC_DEL] = tpctl_nat_static_del,
};

/**
 * tpctl_exec() - run a parsed command.
 * @ctx: the context.
 * @a:   the command.
 *
 * Return: 0 or -1 with the error recorded.
 */
int tpctl_exec(struct tpctl_ctx *ctx, const struct tpctl_args *a)
{
	int ret;

	if (a->op == TPCTL_OP_HELP)
		return tpctl_help(ctx, a->obj);
	if (a->op == TPCTL_OP_VERSION)
		return tpctl_version(ctx);
	if (a->op <= TPCTL_OP_NONE || a->op >= TPCTL_OP_MAX ||
	    !tpctl_fns[a->op])
		return tpctl_err(ctx, "internal error: no command for op %d",
				 a->op);
	if (!tpctl_op_writes(a->op))
		return tpctl_fns[a->op](ctx, a);
	if (!tpctl_maps(ctx) || tpctl_lock(ctx))
		return -1;
	ret = tpctl_fns[a->op](ctx, a);
	tpctl_unlock(ctx);
	return ret;
}
