/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Interfaces and their addresses coming and going (RTNLGRP_LINK,
 * RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR), and what the kernel says
 * about an interface and this host's addresses: rtnetlink with libmnl.
 */
#ifndef TAILPLANED_LINKS_H
#define TAILPLANED_LINKS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include <libmnl/libmnl.h>

#include "tailplane/abi.h"

/**
 * struct tpd_link_event - one link or address message.
 * @ifindex: the interface.
 * @name:    its name; "" for an address message.
 * @up:      RTM_NEWLINK (exists) or RTM_NEWADDR; false for RTM_DELLINK or
 *           RTM_DELADDR.
 * @addr:    an address message: an address of @ifindex was added or
 *           removed (tpd_host_addrs() tells the addresses now).
 */
struct tpd_link_event {
	int ifindex;
	char name[IFNAMSIZ];
	bool up;
	bool addr;
};

typedef void (*tpd_link_cb)(const struct tpd_link_event *ev, void *ctx);

struct mnl_socket *tpd_links_open(void);
int tpd_links_fd(struct mnl_socket *nl);
int tpd_links_read(struct mnl_socket *nl, tpd_link_cb cb, void *ctx);
void tpd_links_close(struct mnl_socket *nl);
struct nlmsghdr *tpd_rtnl_request(char *buf, size_t size, __u16 type,
				  __u16 flags);
struct mnl_socket *tpd_rtnl_open(void);
int tpd_rtnl_query_on(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb,
		      void *data);
int tpd_link_type(int ifindex, unsigned short *type);
int tpd_link_is_l3(int ifindex, bool *l3);
int tpd_host_addrs(struct tp_addr **addrs, size_t *n);
int tpd_iface_primary_addrs(int ifindex, struct tp_addr *v4,
			    struct tp_addr *v6);

#endif /* TAILPLANED_LINKS_H */
