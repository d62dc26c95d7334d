// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Running a parsed command: commands that change the pinned state
 * (TPCTL_CMD_WRITES in the command table) open the maps (those their row
 * names, or every one) and take the
 * writers' lock for their whole run, so concurrent tpctl processes (and
 * the loader, which takes the same lock) apply their changes one after
 * the other.
 */
#include "tpctl.h"

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

	if (!a->cmd || !a->cmd->run)
		return tpctl_err(ctx, "internal error: no command to run");
	if (!(a->cmd->flags & TPCTL_CMD_WRITES))
		return a->cmd->run(ctx, a);
	if (!tpctl_maps_for(ctx, a->cmd->maps) || tpctl_lock(ctx))
		return -1;
	ret = a->cmd->run(ctx, a);
	tpctl_unlock(ctx);
	return ret;
}
