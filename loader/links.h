/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Interfaces coming and going (RTNLGRP_LINK), and what the kernel says
 * about an interface: rtnetlink with libmnl.
 */
#ifndef TAILPLANED_LINKS_H
#define TAILPLANED_LINKS_H

#include <net/if.h>
#include <stdbool.h>

struct mnl_socket;

/**
 * struct tpd_link_event - one link message.
 * @ifindex: the interface.
 * @name:    its name.
 * @up:      RTM_NEWLINK (exists); false for RTM_DELLINK.
 */
struct tpd_link_event {
	int ifindex;
	char name[IFNAMSIZ];
	bool up;
};

typedef void (*tpd_link_cb)(const struct tpd_link_event *ev, void *ctx);

struct mnl_socket *tpd_links_open(void);
int tpd_links_fd(struct mnl_socket *nl);
int tpd_links_read(struct mnl_socket *nl, tpd_link_cb cb, void *ctx);
void tpd_links_close(struct mnl_socket *nl);
int tpd_link_type(int ifindex, unsigned short *type);
int tpd_link_is_l3(int ifindex, bool *l3);

#endif /* TAILPLANED_LINKS_H */
