// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * rtnetlink with libmnl: link events, and questions about interfaces
 * asked of the kernel in the loader's own network namespace (never of
 * /sys/class/net, which shows the namespace that mounted /sys).
 */
#include <errno.h>
#include <net/if.h> /* before the linux/ headers: glibc's if.h wins */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "array.h"
#include "links.h"

/* Room for one receive: a link message with all its attributes fits. */
#define TPD_RTNL_RECV_SIZE 32768

/**
 * tpd_links_open() - a non-blocking socket subscribed to link events and
 * to IPv4 and IPv6 address events.
 */
struct mnl_socket *tpd_links_open(void)
{
	struct mnl_socket *nl =
		mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (!nl)
		return NULL;
	if (mnl_socket_bind(
		    nl, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
		    MNL_SOCKET_AUTOPID) < 0) {
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

/* An address added or removed: which one does not matter to the caller. */
static int tpd_addr_msg(const struct nlmsghdr *nlh, struct tpd_links_ctx *lc)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct tpd_link_event ev = {};

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return MNL_CB_OK;
	ev.ifindex = ifa->ifa_index;
	ev.up = nlh->nlmsg_type == RTM_NEWADDR;
	ev.addr = true;
	lc->cb(&ev, lc->ctx);
	return MNL_CB_OK;
}

static int tpd_link_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = {};
	struct tpd_links_ctx *lc = data;
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	struct tpd_link_event ev = {};

	if (nlh->nlmsg_type == RTM_NEWADDR || nlh->nlmsg_type == RTM_DELADDR)
		return tpd_addr_msg(nlh, lc);
	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifm))
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof(*ifm), tpd_link_attr, tb);
	if (!tb[IFLA_IFNAME])
		return MNL_CB_OK;
	ev.ifindex = ifm->ifi_index;
	ev.up = nlh->nlmsg_type == RTM_NEWLINK;
	strncpy(ev.name, mnl_attr_get_str(tb[IFLA_IFNAME]),
		sizeof(ev.name) - 1);
	lc->cb(&ev, lc->ctx);
	return MNL_CB_OK;
}

/**
 * tpd_links_read() - handle every pending link and address message.
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

/* ---- requests ----------------------------------------------------------- */

/**
 * tpd_rtnl_request() - a request of @type in @buf (@size bytes, zeroed):
 * NLM_F_REQUEST | @flags; the caller puts its header and attributes.
 */
struct nlmsghdr *tpd_rtnl_request(char *buf, size_t size, __u16 type,
				  __u16 flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, size);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

/**
 * tpd_rtnl_open() - a blocking rtnetlink socket for tpd_rtnl_query_on(),
 * for a caller with many requests to make (one socket for them all).
 *
 * Return: the socket, or NULL with errno set.
 */
struct mnl_socket *tpd_rtnl_open(void)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	int err;

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = errno;
		mnl_socket_close(nl);
		errno = err;
		return NULL;
	}
	return nl;
}

/**
 * tpd_rtnl_query_on() - send @nlh on @nl and run @cb over the answer, up
 * to the end of a dump (NLMSG_DONE) or the acknowledgement of a request
 * (which must ask for one, NLM_F_ACK).
 *
 * Every request gets a sequence number of its own, so an answer is never
 * taken for the one of an earlier request on the same socket.
 *
 * Return: 0 or -errno: the kernel's error for the request, -EINTR for a
 * dump interrupted by a change.
 */
int tpd_rtnl_query_on(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb,
		      void *data)
{
	static unsigned int seq;
	unsigned int portid = mnl_socket_get_portid(nl);
	char *buf = malloc(TPD_RTNL_RECV_SIZE);
	ssize_t n;
	int ret;

	if (!buf)
		return -ENOMEM;
	if (!seq)
		seq = (unsigned int)time(NULL);
	nlh->nlmsg_seq = ++seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto cleanup;
	}
	do {
		n = mnl_socket_recvfrom(nl, buf, TPD_RTNL_RECV_SIZE);
		if (n < 0) {
			ret = -errno;
			goto cleanup;
		}
		errno = 0;
		ret = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, cb,
				 data);
	} while (ret == MNL_CB_OK);
	ret = ret == MNL_CB_STOP ? 0 : -(errno ? errno : EPROTO);
cleanup:
	free(buf);
	return ret;
}

/* tpd_rtnl_query_on() on a socket of its own. */
static int tpd_rtnl_query(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	struct mnl_socket *nl = tpd_rtnl_open();
	int ret;

	if (!nl)
		return -errno;
	ret = tpd_rtnl_query_on(nl, nlh, cb, data);
	mnl_socket_close(nl);
	return ret;
}

/* ---- link type ---------------------------------------------------------- */

struct tpd_link_type_ctx {
	int ifindex;
	unsigned short type;
	bool found;
};

static int tpd_link_type_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	struct tpd_link_type_ctx *c = data;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifm) ||
	    ifm->ifi_index != c->ifindex)
		return MNL_CB_OK;
	c->type = ifm->ifi_type;
	c->found = true;
	return MNL_CB_OK;
}

/**
 * tpd_link_type() - an interface's device type, from rtnetlink.
 * @ifindex: the interface, in the caller's network namespace.
 * @type:    its ARPHRD_* type (ifinfomsg.ifi_type).
 *
 * Return: 0, -ENODEV when there is no such interface, or -errno.
 */
int tpd_link_type(int ifindex, unsigned short *type)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct tpd_link_type_ctx c = { .ifindex = ifindex };
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	int err;

	if (ifindex <= 0)
		return -ENODEV;
	nlh = tpd_rtnl_request(buf, sizeof(buf), RTM_GETLINK, NLM_F_ACK);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	err = tpd_rtnl_query(nlh, tpd_link_type_cb, &c);
	if (err)
		return err;
	if (!c.found)
		return -ENODEV;
	*type = c.type;
	return 0;
}

/**
 * tpd_link_is_l3() - whether an interface's packets start at the IP
 * header (no link-layer header), from its device type.
 * @ifindex: the interface, in the caller's network namespace.
 * @l3:      true for IP-only devices: WireGuard and TUN (ARPHRD_NONE),
 *           PPP, raw IP, and IP tunnels (ipip, ip6tnl, sit, gre, vti);
 *           false for Ethernet (veth, bridges, TAP, VXLAN, ...) and
 *           loopback, whose packets carry an Ethernet header.
 *
 * Return: 0; -ENODEV when there is no such interface; -EOPNOTSUPP for a
 * device type with another link-layer header (InfiniBand, CAN, ...),
 * which the datapath cannot parse; or -errno.
 */
int tpd_link_is_l3(int ifindex, bool *l3)
{
	unsigned short type;
	int err = tpd_link_type(ifindex, &type);

	if (err)
		return err;
	switch (type) {
	case ARPHRD_ETHER:
	case ARPHRD_LOOPBACK:
		*l3 = false;
		return 0;
	case ARPHRD_NONE:
	case ARPHRD_PPP:
	case ARPHRD_RAWIP:
	case ARPHRD_TUNNEL:
	case ARPHRD_TUNNEL6:
	case ARPHRD_SIT:
	case ARPHRD_IPGRE:
	case ARPHRD_IP6GRE:
		*l3 = true;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* ---- this host's addresses ---------------------------------------------- */

/**
 * struct tpd_addrs_ctx - addresses collected from an RTM_GETADDR dump.
 * @v:   the addresses.
 * @n:   their number.
 * @cap: room in @v.
 * @err: -ENOMEM when one could not be stored.
 */
struct tpd_addrs_ctx {
	struct tp_addr *v;
	size_t n;
	size_t cap;
	int err;
};

static int tpd_addr_attr(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(attr, IFA_MAX) > 0)
		tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

/* fe80::/10: one per link and the same on many, meaningless without one */
static bool tpd_addr_link_local6(const struct tp_addr *a)
{
	return a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80;
}

/*
 * The address an RTM_NEWADDR message @nlh gives this host, @a (IPv4
 * v4-mapped), and its flags, @flags (IFA_FLAGS, which holds the ones
 * that do not fit ifa_flags, when the kernel sends it).  False for any
 * other message, or one with no IPv4 or IPv6 address of its length.
 */
static bool tpd_ifa_addr(const struct nlmsghdr *nlh, struct tp_addr *a,
			 __u32 *flags)
{
	const struct nlattr *tb[IFA_MAX + 1] = {}, *at;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWADDR ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return false;
	mnl_attr_parse(nlh, sizeof(*ifa), tpd_addr_attr, tb);
	/* on a point-to-point link IFA_ADDRESS is the peer's, IFA_LOCAL ours */
	at = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	*flags = tb[IFA_FLAGS] && mnl_attr_validate(tb[IFA_FLAGS],
						    MNL_TYPE_U32) >= 0
			 ? mnl_attr_get_u32(tb[IFA_FLAGS])
			 : ifa->ifa_flags;
	memset(a, 0, sizeof(*a));
	if (!at)
		return false;
	if (ifa->ifa_family == AF_INET && mnl_attr_get_payload_len(at) == 4) {
		a->w[2] = htonl(0xffff);
		memcpy(&a->w[3], mnl_attr_get_payload(at), 4);
		return true;
	}
	if (ifa->ifa_family == AF_INET6 && mnl_attr_get_payload_len(at) == 16) {
		memcpy(a->b, mnl_attr_get_payload(at), 16);
		return true;
	}
	return false;
}

static int tpd_addrs_cb(const struct nlmsghdr *nlh, void *data)
{
	struct tpd_addrs_ctx *c = data;
	struct tp_addr a;
	__u32 flags;

	if (!tpd_ifa_addr(nlh, &a, &flags) || (flags & IFA_F_DADFAILED) ||
	    tpd_addr_link_local6(&a))
		return MNL_CB_OK;
	if (tp_array_grow((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v),
			  16)) {
		c->err = -ENOMEM;
		return MNL_CB_ERROR;
	}
	c->v[c->n++] = a;
	return MNL_CB_OK;
}

static int tpd_addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct tp_addr));
}

/* One RTM_GETADDR dump of every family and interface, each message to @cb. */
static int tpd_addr_dump(mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;

	nlh = tpd_rtnl_request(buf, sizeof(buf), RTM_GETADDR, NLM_F_DUMP);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	return tpd_rtnl_query(nlh, cb, data);
}

/* One RTM_GETADDR dump of every family into @c, sorted and unique. */
static int tpd_host_addrs_once(struct tpd_addrs_ctx *c)
{
	size_t i, j;
	int err;

	c->n = 0;
	c->err = 0;
	err = tpd_addr_dump(tpd_addrs_cb, c);
	if (c->err)
		return c->err;
	if (err)
		return err;
	if (!c->n)
		return 0;
	qsort(c->v, c->n, sizeof(*c->v), tpd_addr_cmp);
	for (i = 1, j = 1; i < c->n; i++)
		if (memcmp(&c->v[i], &c->v[j - 1], sizeof(c->v[i])))
			c->v[j++] = c->v[i];
	c->n = j;
	return 0;
}

/**
 * tpd_host_addrs() - every address of every interface in the caller's
 * network namespace: IPv4 (IPv4-mapped) and IPv6, sorted, each once.
 * @addrs: the addresses (free() them), NULL when there are none.
 * @n:     their number.
 *
 * Left out: IPv6 link-local addresses (fe80::/10), which only mean
 * something together with their link, and addresses whose duplicate
 * address detection failed (another node has them).  A dump interrupted
 * by a change is taken again.
 *
 * Return: 0 or -errno (@addrs NULL then).
 */
int tpd_host_addrs(struct tp_addr **addrs, size_t *n)
{
	struct tpd_addrs_ctx c = {};
	int err, tries = 0;

	do {
		err = tpd_host_addrs_once(&c);
	} while (err == -EINTR && ++tries < 3);
	if (err) {
		free(c.v);
		c.v = NULL;
		c.n = 0;
	}
	*addrs = c.v;
	*n = c.n;
	return err;
}

/* ---- an interface's primary addresses ------------------------------------- */

/**
 * struct tpd_primary_ctx - the first usable address of each family of one
 * interface, from an RTM_GETADDR dump.
 * @ifindex: the interface.
 * @v4:      its primary IPv4 address (v4-mapped), with @has4.
 * @v6:      its primary IPv6 address, with @has6.
 * @has4:    @v4 was found.
 * @has6:    @v6 was found.
 */
struct tpd_primary_ctx {
	int ifindex;
	struct tp_addr v4, v6;
	bool has4, has6;
};

static int tpd_primary_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct tpd_primary_ctx *c = data;
	struct tp_addr a;
	__u32 flags;

	/* tpd_ifa_addr() first: it checks the message holds an ifaddrmsg */
	if (!tpd_ifa_addr(nlh, &a, &flags) ||
	    (int)ifa->ifa_index != c->ifindex ||
	    ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return MNL_CB_OK;
	/* secondary (IPv4), or not usable as a source: deprecated, in or failed DAD */
	if (flags & (IFA_F_SECONDARY | IFA_F_DEPRECATED | IFA_F_TENTATIVE |
		     IFA_F_DADFAILED))
		return MNL_CB_OK;
	if (ifa->ifa_family == AF_INET && !c->has4) {
		c->v4 = a;
		c->has4 = true;
	} else if (ifa->ifa_family == AF_INET6 && !c->has6) {
		c->v6 = a;
		c->has6 = true;
	}
	return MNL_CB_OK;
}

/**
 * tpd_iface_primary_addrs() - an interface's primary address of each
 * family: the first global one the kernel lists that is not secondary,
 * deprecated, tentative or a failed duplicate, in the caller's network
 * namespace.
 * @ifindex: the interface.
 * @v4:      its IPv4 address (v4-mapped), zero when it has none.
 * @v6:      its IPv6 address, zero when it has none.
 *
 * Return: 0, or -errno (a dump interrupted by a change is asked again).
 */
int tpd_iface_primary_addrs(int ifindex, struct tp_addr *v4, struct tp_addr *v6)
{
	struct tpd_primary_ctx c;
	int err, tries = 0;

	do {
		memset(&c, 0, sizeof(c));
		c.ifindex = ifindex;
		err = tpd_addr_dump(tpd_primary_cb, &c);
	} while (err == -EINTR && ++tries < 3);
	memset(v4, 0, sizeof(*v4));
	memset(v6, 0, sizeof(*v6));
	if (err)
		return err;
	if (c.has4)
		*v4 = c.v4;
	if (c.has6)
		*v6 = c.v6;
	return 0;
}
