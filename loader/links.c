// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "links.h"

/** tpd_links_open() - a non-blocking socket subscribed to link events. */
struct mnl_socket *tpd_links_open(void)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		mnl_socket_close(nl);
		return NULL;
	}
	return nl;
}

int tpd_links_fd(struct mnl_socket *nl)
{
	return mnl_socket_get_fd(nl);
}

struct tpd_links_ctx {
	tpd_link_cb cb;
	void *ctx;
};

static int tpd_link_attr(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		tb[IFLA_IFNAME] = attr;
	return MNL_CB_OK;
}

static int tpd_link_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = {};
	struct tpd_links_ctx *lc = data;
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	struct tpd_link_event ev = {};

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifm), tpd_link_attr, tb);
	if (!tb[IFLA_IFNAME])
		return MNL_CB_OK;
	ev.ifindex = ifm->ifi_index;
	ev.up = nlh->nlmsg_type == RTM_NEWLINK;
	strncpy(ev.name, mnl_attr_get_str(tb[IFLA_IFNAME]), sizeof(ev.name) - 1);
	lc->cb(&ev, lc->ctx);
	return MNL_CB_OK;
}

/**
 * tpd_links_read() - handle every pending link message.
 *
 * Return: 0, or -errno (-ENOBUFS: events were lost; the caller should
 * look at every interface again).
 */
int tpd_links_read(struct mnl_socket *nl, tpd_link_cb cb, void *ctx)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct tpd_links_ctx lc = { cb, ctx };
	ssize_t n;

	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (mnl_cb_run(buf, n, 0, 0, tpd_link_msg, &lc) < 0)
			return -errno;
	}
}

void tpd_links_close(struct mnl_socket *nl)
{
	if (nl)
		mnl_socket_close(nl);
}
