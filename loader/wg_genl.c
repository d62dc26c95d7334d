// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Peers of a kernel WireGuard interface through generic netlink
 * (include/uapi/linux/wireguard.h): resolve the "wireguard" family with
 * CTRL_CMD_GETFAMILY, then dump WG_CMD_GET_DEVICE for the interface.
 *
 * The dump comes as several NLM_F_MULTI messages.  A peer whose allowed IPs
 * do not fit in one message is repeated at the start of the next with only
 * its public key and the remaining allowed IPs; the peers that do not fit
 * come in later messages whose device part is only the interface name.
 * The final NLMSG_DONE carries 0 or a negative errno.  Each message is
 * parsed on its own (tpd_wg_genl_parse_msg()), appending to the list and
 * coalescing a repeated peer into the previous one.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>

#include "peers.h"

#define TP_GENL_RECV_SIZE  65536 /* the kernel's dump messages stay <= 32 KiB */
#define TP_GENL_DUMP_TRIES 3	 /* restarts of an interrupted dump */

/* ---- message parsing -------------------------------------------------------- */

static int tpd_genl_bad(const char *what)
{
	tpd_peer_set_error("malformed WireGuard netlink message: %s", what);
	return -EPROTO;
}

/**
 * struct tp_genl_ip - the attributes of one allowed IP.
 * @family: WGALLOWEDIP_A_FAMILY, -1 when absent.
 * @cidr:   WGALLOWEDIP_A_CIDR_MASK, -1 when absent.
 * @addr:   WGALLOWEDIP_A_IPADDR payload, NULL when absent.
 * @len:    its length.
 */
struct tp_genl_ip {
	int family;
	int cidr;
	const void *addr;
	size_t len;
};

static int tpd_genl_ip_attr(const struct nlattr *a, struct tp_genl_ip *ip)
{
	switch (mnl_attr_get_type(a)) {
	case WGALLOWEDIP_A_FAMILY:
		if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
			return tpd_genl_bad("allowed IP family is not a u16");
		ip->family = mnl_attr_get_u16(a);
		break;
	case WGALLOWEDIP_A_CIDR_MASK:
		if (mnl_attr_validate(a, MNL_TYPE_U8) < 0)
			return tpd_genl_bad("allowed IP mask is not a u8");
		ip->cidr = mnl_attr_get_u8(a);
		break;
	case WGALLOWEDIP_A_IPADDR:
		ip->addr = mnl_attr_get_payload(a);
		ip->len = mnl_attr_get_payload_len(a);
		break;
	}
	return 0;
}

static int tpd_genl_allowedip(const struct nlattr *nest, struct tp_peer *p)
{
	struct tp_genl_ip ip = { .family = -1, .cidr = -1 };
	struct tp_addr addr = {};
	const struct nlattr *a;
	int err;

	mnl_attr_for_each_nested(a, nest)
	{
		err = tpd_genl_ip_attr(a, &ip);
		if (err)
			return err;
	}
	if (!ip.addr || ip.cidr < 0)
		return tpd_genl_bad("allowed IP without address or mask");
	if (ip.family == AF_INET && ip.len == 4 && ip.cidr <= 32) {
		addr.w[2] = htonl(0xffff);
		memcpy(&addr.w[3], ip.addr, 4);
		return tpd_peer_add_prefix(p, &addr,
					   96u + (unsigned int)ip.cidr);
	}
	if (ip.family == AF_INET6 && ip.len == 16 && ip.cidr <= 128) {
		memcpy(addr.b, ip.addr, 16);
		return tpd_peer_add_prefix(p, &addr, (unsigned int)ip.cidr);
	}
	return tpd_genl_bad("allowed IP with a bad family, length or mask");
}

/* The peer a message's peer attributes go to: the last one if repeated. */
static struct tp_peer *tpd_genl_peer_for(struct tp_peer_list *out,
					 const void *key)
{
	char b64[TP_WG_KEY_B64_LEN + 1];

	tpd_wg_key_to_base64(key, b64);
	if (out->n && !strcmp(out->v[out->n - 1].key, b64))
		return &out->v[out->n - 1];
	return tpd_peer_list_add(out, b64);
}

static int tpd_genl_peer(const struct nlattr *nest, struct tp_peer_list *out)
{
	const struct nlattr *a, *ips = NULL;
	const void *key = NULL;
	struct tp_peer *p;
	int err;

	mnl_attr_for_each_nested(a, nest)
	{
		switch (mnl_attr_get_type(a)) {
		case WGPEER_A_PUBLIC_KEY:
			if (mnl_attr_get_payload_len(a) != WG_KEY_LEN)
				return tpd_genl_bad(
					"public key is not 32 bytes");
			key = mnl_attr_get_payload(a);
			break;
		case WGPEER_A_ALLOWEDIPS:
			if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
				return tpd_genl_bad(
					"allowed IPs are not nested");
			ips = a;
			break;
		}
	}
	if (!key)
		return tpd_genl_bad("peer without a public key");
	p = tpd_genl_peer_for(out, key);
	if (!p)
		return -errno;
	if (!ips)
		return 0;
	mnl_attr_for_each_nested(a, ips)
	{
		err = tpd_genl_allowedip(a, p);
		if (err)
			return err;
	}
	return 0;
}

/**
 * tpd_wg_genl_parse_msg() - parse one message of a WG_CMD_GET_DEVICE dump.
 * @nlh: the message (generic netlink header, then the device attributes).
 * @out: peers are appended here; a peer repeated from the previous message
 *       (same key as the last peer of @out) is coalesced into it.
 *
 * The list is left as parsed so far on error; call
 * tpd_peer_list_canonicalize() when the dump is complete.
 *
 * Return: 0, -EPROTO (malformed message) or -ENOMEM.
 */
int tpd_wg_genl_parse_msg(const struct nlmsghdr *nlh, struct tp_peer_list *out)
{
	const struct genlmsghdr *genl;
	const struct nlattr *a, *peer;
	int err;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*genl))
		return tpd_genl_bad("shorter than a generic netlink header");
	genl = mnl_nlmsg_get_payload(nlh);
	if (genl->cmd != WG_CMD_GET_DEVICE)
		return tpd_genl_bad("not a WG_CMD_GET_DEVICE answer");
	mnl_attr_for_each(a, nlh, sizeof(*genl))
	{
		if (mnl_attr_get_type(a) != WGDEVICE_A_PEERS)
			continue;
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0)
			return tpd_genl_bad("peers are not nested");
		mnl_attr_for_each_nested(peer, a)
		{
			err = tpd_genl_peer(peer, out);
			if (err)
				return err;
		}
	}
	return 0;
}

/* ---- message streams ---------------------------------------------------------- */

/**
 * struct tp_genl_ctx - state of one mnl_cb_run2() over received messages.
 * @out: the peers.
 * @err: the error a callback saw, negative; 0 for none.
 */
struct tp_genl_ctx {
	struct tp_peer_list *out;
	int err;
};

static int tpd_genl_data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct tp_genl_ctx *c = data;

	c->err = tpd_wg_genl_parse_msg(nlh, c->out);
	return c->err ? MNL_CB_ERROR : MNL_CB_OK;
}

/*
 * A netlink error code as -errno in *@err: the kernel sends -1..-4095
 * (some senders the positive value).  Anything else is no errno, and
 * negating it (INT_MIN) or handing it to strerror() would be wrong: false,
 * with *@err -EPROTO and the error recorded.
 */
#define TP_GENL_MAX_ERRNO 4095

static bool tpd_genl_errno(int e, int *err)
{
	if (e < 0 && e >= -TP_GENL_MAX_ERRNO) {
		*err = e;
		return true;
	}
	if (e > 0 && e <= TP_GENL_MAX_ERRNO) {
		*err = -e;
		return true;
	}
	tpd_peer_set_error(
		"malformed netlink message: error code %d is not an errno", e);
	*err = -EPROTO;
	return false;
}

/* NLMSG_DONE of a WireGuard dump: its payload is 0 or a negative errno. */
static int tpd_genl_done_cb(const struct nlmsghdr *nlh, void *data)
{
	struct tp_genl_ctx *c = data;
	int e = 0;

	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(e))
		memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
	if (e >= 0)
		return MNL_CB_STOP;
	if (tpd_genl_errno(e, &c->err))
		tpd_peer_set_error(
			"the WireGuard dump ended with error %d (%s)", -c->err,
			strerror(-c->err));
	return MNL_CB_ERROR;
}

static int tpd_genl_error_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	struct tp_genl_ctx *c = data;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e)) {
		c->err = tpd_genl_bad("truncated NLMSG_ERROR");
		return MNL_CB_ERROR;
	}
	if (!e->error)
		return MNL_CB_STOP;
	if (tpd_genl_errno(e->error, &c->err))
		tpd_peer_set_error("netlink error %d (%s)", -c->err,
				   strerror(-c->err));
	return MNL_CB_ERROR;
}

static mnl_cb_t tp_genl_ctl_cbs[NLMSG_MIN_TYPE] = {
	[NLMSG_ERROR] = tpd_genl_error_cb,
	[NLMSG_DONE] = tpd_genl_done_cb,
};

/*
 * Check the framing of the messages in @buf before libmnl walks them.
 * mnl_nlmsg_ok() compares nlmsg_len with the bytes left as ints, so a
 * length of 0xffffffff passes as -1 (and NLMSG_ALIGN() wraps it to 0:
 * the walk never moves) and 0x80000020 as a negative number (the message
 * is read far past the buffer).  Here each message must hold its header
 * and fit in the bytes left, compared unsigned, and nothing may follow
 * the last one.
 *
 * Return: 0 or -EPROTO.
 */
static int tpd_genl_check_frames(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	const struct nlmsghdr *nlh;
	size_t left = len, step;

	if (len > INT_MAX) /* libmnl counts in ints */
		return tpd_genl_bad("buffer too large");
	while (left >= sizeof(*nlh)) {
		nlh = (const struct nlmsghdr *)p;
		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > left) {
			tpd_peer_set_error(
				"malformed netlink message: length %u with %zu bytes left",
				nlh->nlmsg_len, left);
			return -EPROTO;
		}
		/* the last message may come without its padding */
		step = NLMSG_ALIGN((size_t)nlh->nlmsg_len);
		step = step < left ? step : left;
		p += step;
		left -= step;
	}
	if (left) {
		tpd_peer_set_error(
			"malformed netlink message: length of %zu trailing bytes",
			left);
		return -EPROTO;
	}
	return 0;
}

/* Run the callbacks over a buffer: 1 done, 0 more to come, or -errno. */
static int tpd_genl_run(const void *buf, size_t len, unsigned int seq,
			unsigned int portid, struct tp_peer_list *out)
{
	struct tp_genl_ctx c = { .out = out };
	int ret, err;

	ret = tpd_genl_check_frames(buf, len);
	if (ret)
		return ret;
	errno = 0;
	ret = mnl_cb_run2(buf, len, seq, portid, tpd_genl_data_cb, &c,
			  tp_genl_ctl_cbs, NLMSG_MIN_TYPE);
	if (ret == MNL_CB_STOP)
		return 1;
	if (ret != MNL_CB_ERROR)
		return 0;
	if (c.err)
		return c.err;
	err = errno ? errno : EPROTO;
	tpd_peer_set_error(
		"%s", err == EINTR
			      ? "the WireGuard dump was interrupted"
			      : "bad netlink message sequence, port or length");
	return -err;
}

/**
 * tpd_wg_genl_parse_buf() - parse a buffer of dump messages as received.
 * @buf: one or more netlink messages.
 * @len: their total length.
 * @out: peers are appended (see tpd_wg_genl_parse_msg()).
 *
 * Return: 1 when the buffer ended the dump (NLMSG_DONE or an
 * acknowledgement), 0 when more messages are to come, or a negative errno:
 * that of NLMSG_ERROR or of NLMSG_DONE, -EINTR for an interrupted dump
 * (NLM_F_DUMP_INTR), -EPROTO for a malformed message.
 */
int tpd_wg_genl_parse_buf(const void *buf, size_t len, struct tp_peer_list *out)
{
	return tpd_genl_run(buf, len, 0, 0, out);
}

/* ---- socket --------------------------------------------------------------- */

static int tpd_genl_open(struct mnl_socket **nl)
{
	int err;

	*nl = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!*nl)
		goto fail;
	if (mnl_socket_bind(*nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	return 0;
fail:
	err = errno;
	tpd_peer_set_error("generic netlink socket: %s", strerror(err));
	if (*nl)
		mnl_socket_close(*nl);
	*nl = NULL;
	return -err;
}

static struct nlmsghdr *tpd_genl_msg(void *buf, __u16 type, __u16 flags,
				     __u8 cmd, __u8 version, unsigned int seq)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;

	memset(buf, 0, MNL_SOCKET_BUFFER_SIZE); /* attribute padding included */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = version;
	return nlh;
}

static int tpd_genl_send(struct mnl_socket *nl, const struct nlmsghdr *nlh)
{
	int err;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) >= 0)
		return 0;
	err = errno;
	tpd_peer_set_error("generic netlink send: %s", strerror(err));
	return -err;
}

/**
 * struct tp_genl_family_ctx - state of the family lookup.
 * @c:  error state, first so that tp_genl_ctl_cbs can use it.
 * @id: the family id, 0 until found.
 */
struct tp_genl_family_ctx {
	struct tp_genl_ctx c;
	__u16 id;
};

static int tpd_genl_family_cb(const struct nlmsghdr *nlh, void *data)
{
	struct tp_genl_family_ctx *fc = data;
	const struct nlattr *a;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr))
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr))
	{
		if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID &&
		    mnl_attr_validate(a, MNL_TYPE_U16) >= 0)
			fc->id = mnl_attr_get_u16(a);
	}
	return MNL_CB_OK;
}

/* The id of the "wireguard" family; -ENOENT without kernel WireGuard. */
static int tpd_genl_family(struct mnl_socket *nl, void *buf, __u16 *id)
{
	unsigned int seq = (unsigned int)time(NULL);
	struct tp_genl_family_ctx fc = {};
	struct nlmsghdr *nlh;
	ssize_t n;
	int err;

	nlh = tpd_genl_msg(buf, GENL_ID_CTRL, NLM_F_REQUEST, CTRL_CMD_GETFAMILY,
			   1, seq);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	err = tpd_genl_send(nl, nlh);
	if (err)
		return err;
	*id = 0;
	n = mnl_socket_recvfrom(nl, buf, TP_GENL_RECV_SIZE);
	if (n < 0) {
		err = -errno;
		tpd_peer_set_error("resolving the wireguard netlink family: %s",
				   strerror(-err));
		return err;
	}
	err = tpd_genl_check_frames(buf, (size_t)n);
	if (err)
		return err;
	errno = 0;
	if (mnl_cb_run2(buf, (size_t)n, seq, mnl_socket_get_portid(nl),
			tpd_genl_family_cb, &fc, tp_genl_ctl_cbs,
			NLMSG_MIN_TYPE) == MNL_CB_ERROR) {
		err = fc.c.err ? fc.c.err : -(errno ? errno : EPROTO);
		if (err == -ENOENT)
			tpd_peer_set_error(
				"no generic netlink family \"wireguard\": no kernel WireGuard");
		else if (err != -EPROTO)
			tpd_peer_set_error(
				"resolving the wireguard netlink family: %s",
				strerror(-err));
		return err;
	}
	if (!fc.id)
		return tpd_genl_bad(
			"CTRL_CMD_GETFAMILY answer without a family id");
	*id = fc.id;
	return 0;
}

static void tpd_genl_dump_error(const char *ifname, int err)
{
	if (err == -ENODEV)
		tpd_peer_set_error("no interface %s", ifname);
	else if (err == -EOPNOTSUPP)
		tpd_peer_set_error("%s is not a kernel WireGuard interface",
				   ifname);
	else if (err == -EPERM)
		tpd_peer_set_error("reading %s's peers needs CAP_NET_ADMIN",
				   ifname);
}

/* One complete dump of @ifname's device into @out. */
static int tpd_genl_dump_once(struct mnl_socket *nl, void *buf, __u16 family,
			      const char *ifname, struct tp_peer_list *out)
{
	unsigned int seq = (unsigned int)time(NULL) + 1;
	unsigned int portid = mnl_socket_get_portid(nl);
	struct nlmsghdr *nlh;
	ssize_t n;
	int ret;

	nlh = tpd_genl_msg(buf, family, NLM_F_REQUEST | NLM_F_DUMP,
			   WG_CMD_GET_DEVICE, WG_GENL_VERSION, seq);
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	ret = tpd_genl_send(nl, nlh);
	while (!ret) {
		n = mnl_socket_recvfrom(nl, buf, TP_GENL_RECV_SIZE);
		if (n < 0) {
			ret = -errno;
			tpd_peer_set_error("generic netlink receive: %s",
					   strerror(errno));
			break;
		}
		ret = tpd_genl_run(buf, (size_t)n, seq, portid, out);
	}
	if (ret < 0)
		tpd_genl_dump_error(ifname, ret);
	return ret < 0 ? ret : 0;
}

/**
 * tpd_wg_genl_dump() - the peers of a kernel WireGuard interface.
 * @ifname: the interface (in the caller's network namespace).
 * @out:    the peers, canonical (see peers.h); emptied first, empty on
 *          error.
 *
 * An interrupted dump (the peers changed meanwhile) is restarted, up to
 * three times.
 *
 * Return: 0; -ENOENT without kernel WireGuard (no "wireguard" generic
 * netlink family); -ENODEV without such an interface; -EOPNOTSUPP when it
 * is not a WireGuard interface; -EPERM without CAP_NET_ADMIN; -EINTR when
 * every try was interrupted; -EPROTO, -ENOMEM, or another -errno.
 */
int tpd_wg_genl_dump(const char *ifname, struct tp_peer_list *out)
{
	struct mnl_socket *nl = NULL;
	void *buf = NULL;
	__u16 family;
	int ret, tries = 0;

	memset(out, 0, sizeof(*out));
	if (!ifname || !*ifname || strlen(ifname) >= IFNAMSIZ) {
		tpd_peer_set_error("\"%s\" is not an interface name",
				   ifname ? ifname : "");
		return -EINVAL;
	}
	buf = malloc(TP_GENL_RECV_SIZE);
	if (!buf)
		return -ENOMEM;
	ret = tpd_genl_open(&nl);
	if (!ret)
		ret = tpd_genl_family(nl, buf, &family);
	while (!ret) {
		tpd_peer_list_free(out);
		ret = tpd_genl_dump_once(nl, buf, family, ifname, out);
		if (ret != -EINTR || ++tries >= TP_GENL_DUMP_TRIES)
			break;
		ret = 0;
	}
	if (!ret)
		ret = tpd_peer_list_canonicalize(out);
	if (ret)
		tpd_peer_list_free(out);
	if (nl)
		mnl_socket_close(nl);
	/* the device part of the dump carries the interface's private key */
	explicit_bzero(buf, TP_GENL_RECV_SIZE);
	free(buf);
	return ret;
}
