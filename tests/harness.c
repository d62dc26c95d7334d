// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_tun.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "harness.h"
#include "datapath.h"
#include "iface.h"
#include "slab.h"

static char th_reason[256];
/* the object failed to load for a reason other than privilege: a failure */
static bool th_load_refused;
static int th_tun_fd = -1, th_tun2_fd = -1;
static int th_tun_ifindex, th_tun2_ifindex;
static bool th_env_done;

static int th_silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN && getenv("TP_TEST_VERBOSE")
		       ? vfprintf(stderr, fmt, ap)
		       : 0;
}

/* A TUN device @name, up; returns its ifindex or -errno. */
static int th_make_tun(const char *name, int *fd)
{
	struct ifreq ifr = {};
	int s, ifindex;

	*fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (*fd < 0) {
		snprintf(th_reason, sizeof(th_reason), "/dev/net/tun: %s",
			 strerror(errno));
		return -errno;
	}
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(*fd, TUNSETIFF, &ifr)) {
		snprintf(th_reason, sizeof(th_reason), "TUNSETIFF: %s",
			 strerror(errno));
		return -errno;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		ifr.ifr_flags = IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
		close(s);
	}
	ifindex = if_nametoindex(name);
	if (!ifindex) {
		snprintf(th_reason, sizeof(th_reason), "%s has no ifindex",
			 name);
		return -ENODEV;
	}
	return ifindex;
}

static void th_sysctl(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(val, f);
		fclose(f);
	}
}

/*
 * Own network namespace with two up TUN devices: "tptun0" (zone
 * TH_ZONE) and "tptun1" (zone TH_ZONE2, routes to TH_ZONE2_NET4/6), and
 * forwarding on, so FIB lookups resolve the zone a packet leaves to.
 */
static int th_make_env(void)
{
	int ret;

	if (geteuid() != 0) {
		snprintf(
			th_reason, sizeof(th_reason),
			"needs root (CAP_BPF, CAP_NET_ADMIN) for BPF_PROG_TEST_RUN");
		return -EPERM;
	}
	if (unshare(CLONE_NEWNET)) {
		snprintf(th_reason, sizeof(th_reason),
			 "unshare(CLONE_NEWNET): %s", strerror(errno));
		return -errno;
	}
	ret = th_make_tun("tptun0", &th_tun_fd);
	if (ret < 0)
		return ret;
	th_tun_ifindex = ret;
	ret = th_make_tun("tptun1", &th_tun2_fd);
	if (ret < 0)
		return ret;
	th_tun2_ifindex = ret;
	th_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
	th_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
	if (system("ip route add " TH_ZONE2_NET4 " dev tptun1 && "
		   "ip -6 route add " TH_ZONE2_NET6 " dev tptun1")) {
		snprintf(th_reason, sizeof(th_reason),
			 "cannot add routes in the test namespace (iproute2?)");
		return -EIO;
	}
	return 0;
}

/**
 * th_load_refused_here() - whether th_unavailable()'s reason is the kernel
 * refusing the object (a verifier error), which is a failure, not a skip.
 */
bool th_load_refused_here(void)
{
	return th_unavailable() && th_load_refused;
}

/**
 * th_unavailable() - why packet tests cannot run here, or NULL if they can.
 */
const char *th_unavailable(void)
{
	struct th h;

	if (!th_env_done) {
		th_env_done = true;
		libbpf_set_print(th_silent);
		if (!th_make_env() && th_open(&h, NULL) == 0)
			th_close(&h);
	}
	return th_reason[0] ? th_reason : NULL;
}

/*
 * Loading the object is most of a packet test's time (the verifier: a
 * second here, much more in a TCG VM), so th_close() keeps the last one
 * loaded and th_open() takes it back for the same knobs, its maps emptied
 * to exactly what a fresh load has.  TP_TEST_FRESH_LOAD=1 loads anew for
 * every test.
 */
static struct tailplane *th_cached;
static struct th_knobs th_cached_knobs;

static int th_noop_event(void *ctx, void *data, size_t len)
{
	return 0;
}

/* Zero entries @from .. @from + @n - 1 of array map @fd, in batches. */
static int th_zero_array(int fd, __u32 from, __u32 n, size_t vsize)
{
	const __u32 chunk = 65536;
	__u32 *keys = calloc(chunk, sizeof(*keys)), i, done, count;
	void *vals = calloc(chunk, vsize);
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (done = 0; done < n && !err; done += count) {
		count = n - done < chunk ? n - done : chunk;
		for (i = 0; i < count; i++)
			keys[i] = from + done + i;
		if (bpf_map_update_batch(fd, keys, vals, &count, NULL))
			err = -errno;
	}
out:
	free(keys);
	free(vals);
	return err;
}

/* Delete every key of hash-like map @fd (collected first, then deleted). */
static int th_empty_map(int fd, size_t ksize)
{
	size_t n;
	char *keys;
	void *all;
	__u32 count;
	int err;

	err = tp_map_keys(fd, ksize, &all, &n);
	if (err)
		return err;
	keys = all;
	count = n;
	if (n && bpf_map_delete_batch(fd, keys, &count, NULL)) {
		/* LPM tries have no batch delete: one by one */
		for (count = 0; count < n; count++)
			if (bpf_map_delete_elem(fd, keys + count * ksize) &&
			    errno != ENOENT)
				err = -errno;
	}
	free(keys);
	return err;
}

/* Every map of @skel as a fresh load has it: empty, zero, nothing queued. */
static int th_reset(struct tailplane *skel)
{
	int ncpus = libbpf_num_possible_cpus(), fd, err;
	struct ring_buffer *rb;
	struct bpf_map *map;
	size_t vsize;

	/*
	 * tp_maglev_slab keeps its chunks: a table is only found through
	 * its service (which is gone); th_open() marks every block free.
	 */
	err = 0;
	bpf_object__for_each_map(map, skel->obj)
	{
		if (err)
			break;
		if (bpf_map__is_internal(map))
			continue;
		fd = bpf_map__fd(map);
		vsize = bpf_map__value_size(map);
		switch (bpf_map__type(map)) {
		case BPF_MAP_TYPE_RINGBUF:
			rb = ring_buffer__new(fd, th_noop_event, NULL, NULL);
			if (!rb)
				return -errno;
			ring_buffer__consume(rb);
			ring_buffer__free(rb);
			break;
		case BPF_MAP_TYPE_ARRAY_OF_MAPS:
			break; /* tp_ct_tables is fixed, tp_maglev_slab: above */
		case BPF_MAP_TYPE_ARRAY:
			err = th_zero_array(fd, 0, bpf_map__max_entries(map),
					    vsize);
			break;
		case BPF_MAP_TYPE_PERCPU_ARRAY:
			vsize = ((vsize + 7) & ~7u) * ncpus;
			err = th_zero_array(fd, 0, bpf_map__max_entries(map),
					    vsize);
			break;
		default:
			err = th_empty_map(fd, bpf_map__key_size(map));
		}
	}
	if (skel->bss)
		memset(skel->bss, 0, sizeof(*skel->bss));
	return err;
}

/* The loader's own map sizing with @k's capacities, the rest default. */
static void th_capacities(struct tailplane *skel, const struct th_knobs *k)
{
	static struct tpd_config cfg; /* large: not on the stack */
	int i;

	memset(&cfg, 0, sizeof(cfg));
	for (i = 0; i < TPD_CAP_MAX; i++)
		cfg.capacity[i] = tpd_capacities[i].dflt;
	if (k->cap_services)
		cfg.capacity[TPD_CAP_SERVICES] = k->cap_services;
	if (k->cap_identities)
		cfg.capacity[TPD_CAP_IDENTITIES] = k->cap_identities;
	if (k->cap_rules) {
		/* the configuration's default for policy_entries follows */
		cfg.capacity[TPD_CAP_RULES] = k->cap_rules;
		cfg.capacity[TPD_CAP_POLICY_ENTRIES] =
			TP_POLICY_ENTRIES(k->cap_rules);
	}
	tpd_set_capacities(skel, &cfg);
}

/**
 * th_open() - load a fresh datapath with empty maps.
 * @h:     filled in.
 * @knobs: load-time knobs or NULL.
 *
 * Return: 0 or -errno (the reason is kept for th_unavailable()).
 */
int th_open(struct th *h, const struct th_knobs *knobs)
{
	struct bpf_map *map;
	struct tp_iface ifc = { .flags = TP_IFACE_F_L3 | TP_IFACE_F_TAILNET,
				.zone = TH_ZONE };
	int err;

	memset(h, 0, sizeof(*h));
	if (knobs)
		h->knobs = *knobs;
	if (th_cached &&
	    !memcmp(&h->knobs, &th_cached_knobs, sizeof(h->knobs)) &&
	    !getenv("TP_TEST_FRESH_LOAD")) {
		h->skel = th_cached;
		th_cached = NULL;
		if (!th_reset(h->skel))
			goto ready;
		tailplane__destroy(h->skel);
	}
	tailplane__destroy(th_cached);
	th_cached = NULL;
	h->skel = tailplane__open();
	if (!h->skel) {
		snprintf(th_reason, sizeof(th_reason), "open BPF object: %s",
			 strerror(errno));
		return -errno;
	}
	bpf_object__for_each_map(map, h->skel->obj)
		bpf_map__set_pin_path(map, NULL);
	if (knobs &&
	    (knobs->cap_services || knobs->cap_identities || knobs->cap_rules))
		th_capacities(h->skel, knobs);
	if (knobs && knobs->maglev_size)
		h->skel->rodata->maglev_size = knobs->maglev_size;
	if (knobs && knobs->ct_size)
		bpf_map__set_max_entries(h->skel->maps.tp_ct, knobs->ct_size);
	if (knobs && knobs->ct_any_size)
		bpf_map__set_max_entries(h->skel->maps.tp_ct_any,
					 knobs->ct_any_size);
	if (knobs && knobs->policy_size)
		bpf_map__set_max_entries(h->skel->maps.tp_policy,
					 knobs->policy_size);
	if (knobs && knobs->ct_timeout_udp)
		h->skel->rodata->ct_timeout_udp = knobs->ct_timeout_udp;
	if (knobs && knobs->events_per_sec)
		h->skel->rodata->events_per_sec = knobs->events_per_sec;
	if (knobs && knobs->events_burst)
		h->skel->rodata->events_burst = knobs->events_burst;
	if (knobs && knobs->no_fast_path)
		h->skel->rodata->fast_path = 0;
	if (knobs && knobs->event_mask_set)
		h->skel->rodata->event_mask = knobs->event_mask;
	err = tailplane__load(h->skel);
	if (err) {
		snprintf(th_reason, sizeof(th_reason), "load BPF object: %s",
			 strerror(-err));
		/*
		 * Without privilege the kernel says EPERM: packet tests cannot
		 * run here.  Any other error (EACCES, EINVAL: the verifier
		 * refused a program) is this kernel refusing the datapath.
		 */
		th_load_refused = err != -EPERM;
		tailplane__destroy(h->skel);
		h->skel = NULL;
		return err;
	}
ready:
	tp_maps_from_object(&h->maps, h->skel->obj,
			    h->skel->rodata->maglev_size);
	/* no service left: every block of the chunks kept is free */
	tp_slab_reclaim(h->maps.slab, h->maps.services, false);
	h->l3_ifindex = th_tun_ifindex;
	h->l3_ifindex2 = th_tun2_ifindex;
	/* the slots as the loader's start leaves them (tp_iface_slots_rebuild()) */
	err = tp_iface_slots_rebuild(&h->maps);
	err = err < 0 ? err : tp_iface_set(&h->maps, th_tun_ifindex, &ifc);
	ifc.zone = TH_ZONE2;
	err = err ?: tp_iface_set(&h->maps, th_tun2_ifindex, &ifc);
	if (err) {
		th_close(h);
		return err;
	}
	return 0;
}

/* Done with @h: its object is kept for the next th_open() (see th_cached). */
void th_close(struct th *h)
{
	if (!h->skel)
		return;
	tp_slab_close(h->maps.slab);
	h->maps.slab = NULL;
	tailplane__destroy(th_cached);
	th_cached = h->skel;
	th_cached_knobs = h->knobs;
	h->skel = NULL;
}

/**
 * th_run() - run one packet through a program.
 * @h:       the datapath.
 * @hook:    which program.
 * @ifindex: skb->ifindex: h->l3_ifindex for the tailnet (L3) path, 0 for
 *           an Ethernet frame on loopback.
 * @in:      packet bytes (IP header first on L3, Ethernet on L2).
 * @len:     their number, >= 14.
 * @out:     the packet as the program left it (PKT_MAX bytes of room).
 * @out_len: its length.
 * @verdict: the program's return value (TC_ACT_*).
 *
 * Return: 0 or -errno from BPF_PROG_TEST_RUN.
 */
int th_run(struct th *h, enum th_hook hook, int ifindex, const void *in,
	   size_t len, void *out, size_t *out_len, int *verdict)
{
	return th_run_from(h, hook, ifindex, 0, in, len, out, out_len, verdict);
}

/**
 * th_run_from() - th_run() for a packet that arrived on @in_ifindex
 * (skb->ingress_ifindex; 0: sent by this host).
 */
int th_run_from(struct th *h, enum th_hook hook, int ifindex, int in_ifindex,
		const void *in, size_t len, void *out, size_t *out_len,
		int *verdict)
{
	struct bpf_program *prog =
		hook == TH_FROM_TAILNET ? h->skel->progs.tp_from_tailnet
		: hook == TH_TO_TAILNET ? h->skel->progs.tp_to_tailnet
					: h->skel->progs.tp_from_uplink;
	struct __sk_buff ctx = { .ifindex = ifindex,
				 .ingress_ifindex = in_ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len,
		    .data_out = out, .data_size_out = 4096, .repeat = 1);
	int err;

	if (ifindex || in_ifindex) {
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	err = bpf_prog_test_run_opts(
		h->prog_fd ? h->prog_fd[hook] : bpf_program__fd(prog), &opts);
	if (err)
		return -errno;
	*out_len = opts.data_size_out;
	*verdict = opts.retval;
	return 0;
}

/** th_set_clock() - set the datapath's clock (ns), 0 for the real one. */
void th_set_clock(struct th *h, __u64 ns)
{
	h->skel->bss->tp_clock_ns = ns;
}

/** th_stat() - a tp_stats counter's packets, summed over CPUs. */
__u64 th_stat(struct th *h, __u32 id)
{
	int ncpu = libbpf_num_possible_cpus();
	struct tp_stat st[ncpu > 0 ? ncpu : 1];
	__u64 sum = 0;
	int i;

	if (ncpu <= 0 || bpf_map_lookup_elem(h->maps.stats, &id, st))
		return 0;
	for (i = 0; i < ncpu; i++)
		sum += st[i].packets;
	return sum;
}

static int th_uplink_ifindex, th_uplink_peer_ifindex;

/*
 * The test uplink, made once per process in its namespace (see
 * harness.h): only tests that ask for it see its routes.
 */
static int th_make_uplink(void)
{
	if (th_uplink_ifindex)
		return th_uplink_ifindex;
	if (system("ip link add tpup0 address 02:00:00:00:00:01 type veth "
		   "peer name tpup1 address 02:00:00:00:00:03 && "
		   "ip link set tpup0 up && ip link set tpup1 up && "
		   "ip addr add " TH_UPLINK_NET4 " dev tpup0 && "
		   "ip -6 addr add " TH_UPLINK_NET6 " dev tpup0 nodad && "
		   "ip neigh add " TH_UPLINK_GW4
		   " lladdr 02:00:00:00:00:02 dev tpup0 nud permanent && "
		   "ip -6 neigh add " TH_UPLINK_GW6
		   " lladdr 02:00:00:00:00:02 dev tpup0 nud permanent && "
		   "ip route add " TH_UPLINK_ROUTED4 " via " TH_UPLINK_GW4
		   " dev tpup0 && "
		   "ip -6 route add " TH_UPLINK_ROUTED6 " via " TH_UPLINK_GW6
		   " dev tpup0 && "
		   "ip route add " TH_UPLINK_DIRECT4 " dev tpup0"))
		return -EIO;
	th_uplink_ifindex = if_nametoindex("tpup0");
	th_uplink_peer_ifindex = if_nametoindex("tpup1");
	return th_uplink_ifindex ? th_uplink_ifindex : -ENODEV;
}

/**
 * th_uplink() - the test uplink tpup0, described in tp_ifaces as an
 * uplink (Ethernet, zone 0) as the loader does.
 * @h: the datapath.
 *
 * Return: its ifindex, or -errno.
 */
int th_uplink(struct th *h)
{
	struct tp_iface up = { .flags = TP_IFACE_F_UPLINK };
	int ifindex = th_make_uplink();
	int err;

	if (ifindex < 0)
		return ifindex;
	err = tp_iface_set(&h->maps, ifindex, &up);
	return err ? err : ifindex;
}

/** th_uplink_peer() - ifindex of tpup1, the far end of the test uplink (0: none yet). */
int th_uplink_peer(void)
{
	return th_uplink_peer_ifindex;
}

/** th_tun_file() - the file descriptor of tptun0 (packets it sends are read here). */
int th_tun_file(void)
{
	return th_tun_fd;
}

static int th_addr_parse(const char *s, struct tp_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (!s)
		return 0;
	if (strchr(s, ':'))
		return inet_pton(AF_INET6, s, a->b) == 1 ? 0 : -EINVAL;
	a->w[2] = htonl(0xffff);
	return inet_pton(AF_INET, s, &a->w[3]) == 1 ? 0 : -EINVAL;
}

/**
 * th_snat_config() - set tp_config's SNAT fields, keeping the policy
 * revision.
 * @h:        the datapath.
 * @addr4:    IPv4 SNAT address, NULL for none.
 * @addr6:    IPv6 SNAT address, NULL for none.
 * @port_min: first port of the range.
 * @port_max: last port.
 * @flags:    TP_CFG_F_*.
 *
 * Return: 0 or -errno.
 */
int th_snat_config(struct th *h, const char *addr4, const char *addr6,
		   __u16 port_min, __u16 port_max, __u32 flags)
{
	struct tp_config cfg = {};
	__u32 zero = 0;

	if (bpf_map_lookup_elem(h->maps.config, &zero, &cfg))
		return -errno;
	if (th_addr_parse(addr4, &cfg.snat_addr4) ||
	    th_addr_parse(addr6, &cfg.snat_addr6))
		return -EINVAL;
	cfg.snat_port_min = port_min;
	cfg.snat_port_max = port_max;
	cfg.flags = flags;
	return bpf_map_update_elem(h->maps.config, &zero, &cfg, BPF_ANY)
		       ? -errno
		       : 0;
}
