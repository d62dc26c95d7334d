// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * SNAT, the loader's part (see snat.h).  The datapath reads the SNAT
 * addresses and the port range from tp_config; the loader writes them on
 * start, on SIGHUP and when the uplink's addresses change, always as a
 * read-modify-write of the whole entry under the writers' lock, so that
 * the policy revision tpctl bumps is never lost.
 *
 * Masquerade to the tailnet: the loader writes tp_masq (the node's
 * address of each tailnet interface with "masquerade": true, by zone)
 * together with tp_config, so the same events keep both current.
 *
 * Reserved ports: the range goes into ip_local_reserved_ports of the
 * loader's network namespace, merged with what is there, so no local
 * socket binds a port SNAT may hand out.  What the loader added (and only
 * that: a port someone else had reserved before is not ours) is recorded
 * next to its pid file, so that `tailplaned --detach --purge` takes out
 * exactly that, in whichever process runs it.  The record names the
 * network namespace too (the sysctl is per namespace): a purge run in
 * another one leaves that one's list alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "links.h"
#include "log.h"
#include "pins.h"
#include "snat.h"

static bool tpd_addr_zero(const struct tp_addr *a)
{
	return !(a->w[0] | a->w[1] | a->w[2] | a->w[3]);
}

/**
 * tpd_snat_addrs() - the SNAT addresses the configuration asks for now.
 * @cfg: configuration.
 * @out: the addresses: a configured one as is; else the primary address
 *       of its family (tpd_iface_primary_addrs()) on the first uplink, in
 *       the configuration's order, that exists and has one (an uplink not
 *       there yet, or without an address of the family, is passed over);
 *       zero when none has.  @out->from names where they came from.
 *
 * Return: 0, or -errno of asking rtnetlink (@out then has what was found
 * before the error).
 */
int tpd_snat_addrs(const struct tpd_config *cfg, struct tpd_snat_addrs *out)
{
	const struct tpd_snat_cfg *sn = &cfg->snat;
	struct tp_addr v4, v6;
	bool need4 = !sn->has_addr4, need6 = !sn->has_addr6;
	int ifindex, err = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	snprintf(out->from, sizeof(out->from), "none");
	for (i = 0; i < cfg->n_ifaces && (need4 || need6) && !err; i++) {
		if (cfg->ifaces[i].kind != TPD_IFACE_UPLINK)
			continue;
		ifindex = (int)if_nametoindex(cfg->ifaces[i].name);
		if (!ifindex)
			continue;
		err = tpd_iface_primary_addrs(ifindex, &v4, &v6);
		if (err || (!(need4 && !tpd_addr_zero(&v4)) &&
			    !(need6 && !tpd_addr_zero(&v6))))
			continue;
		if (!strcmp(out->from, "none"))
			snprintf(out->from, sizeof(out->from), "%s",
				 cfg->ifaces[i].name);
		if (need4 && !tpd_addr_zero(&v4)) {
			out->v4 = v4;
			need4 = false;
		}
		if (need6 && !tpd_addr_zero(&v6)) {
			out->v6 = v6;
			need6 = false;
		}
	}
	if (sn->has_addr4)
		out->v4 = sn->addr4;
	if (sn->has_addr6)
		out->v6 = sn->addr6;
	if (sn->has_addr4 && sn->has_addr6)
		snprintf(out->from, sizeof(out->from), "config");
	return err;
}

/**
 * tpd_snat_config_write() - write the SNAT part of tp_config.
 * @m:       maps.
 * @cfg:     configuration (mode, port range).
 * @addrs:   the addresses (tpd_snat_addrs()).
 * @changed: set when the entry changed.
 *
 * The caller holds the writers' lock: tpctl bumps the policy revision by
 * a read-modify-write of the same entry, which keeps what is written here
 * and which this keeps in turn.
 *
 * Return: 0 or -errno.
 */
int tpd_snat_config_write(const struct tp_maps *m, const struct tpd_config *cfg,
			  const struct tpd_snat_addrs *addrs, bool *changed)
{
	struct tp_config now = {}, want;
	__u32 zero = 0;

	*changed = false;
	if (bpf_map_lookup_elem(m->config, &zero, &now))
		return -errno;
	want = now;
	want.flags &= ~TP_CFG_F_SNAT_AUTO;
	if (cfg->snat.auto_mode)
		want.flags |= TP_CFG_F_SNAT_AUTO;
	want.snat_addr4 = addrs->v4;
	want.snat_addr6 = addrs->v6;
	want.snat_port_min = cfg->snat.port_min;
	want.snat_port_max = cfg->snat.port_max;
	want.pad = 0;
	if (memcmp(&now, &want, sizeof(now))) {
		if (bpf_map_update_elem(m->config, &zero, &want, BPF_ANY))
			return -errno;
		*changed = true;
	}
	return tpd_masq_write(m, cfg, changed);
}

/* ---- masquerade to the tailnet ------------------------------------------- */

/* Does a tailnet interface of @cfg masquerade to @zone? */
static bool tpd_masq_zone_wanted(const struct tpd_config *cfg, __u32 zone)
{
	size_t i;

	for (i = 0; i < cfg->n_ifaces; i++)
		if (cfg->ifaces[i].kind == TPD_IFACE_TAILNET &&
		    cfg->ifaces[i].masquerade && cfg->ifaces[i].zone == zone)
			return true;
	return false;
}

/* Say what a zone's masquerade entry is now (written: it changed). */
static void tpd_masq_log(const char *ifname, __u32 zone,
			 const struct tp_masq *m)
{
	char v4[64], v6[64];

	tp_addr_format(&m->addr4, v4, sizeof(v4));
	tp_addr_format(&m->addr6, v6, sizeof(v6));
	log_info("masquerade to the tailnet", "interface", ifname, "zone",
		 log_fmt("%u", zone), "ipv4",
		 tpd_addr_zero(&m->addr4) ? "none" : v4, "ipv6",
		 tpd_addr_zero(&m->addr6) ? "none" : v6);
}

/* Delete the entries of zones no interface masquerades to (any more). */
static int tpd_masq_prune(const struct tp_maps *m, const struct tpd_config *cfg,
			  bool *changed)
{
	__u32 key, next, stale[TP_MAX_ZONES];
	size_t n = 0, i;
	__u32 *prev = NULL;

	while (n < TP_MAX_ZONES &&
	       !bpf_map_get_next_key(m->masq, prev, &next)) {
		key = next;
		prev = &key;
		if (!tpd_masq_zone_wanted(cfg, key))
			stale[n++] = key;
	}
	for (i = 0; i < n; i++) {
		if (bpf_map_delete_elem(m->masq, &stale[i]) && errno != ENOENT)
			return -errno;
		*changed = true;
		log_info("masquerade to the tailnet off", "zone",
			 log_fmt("%u", stale[i]));
	}
	return 0;
}

/**
 * tpd_masq_write() - write tp_masq: for each tailnet interface with
 * "masquerade": true, its zone's entry (on, the interface's primary
 * address of each family, zero while it has none or is not there: then
 * flows of that family are dropped, TP_DROP_NO_SNAT_ADDR, rather than
 * leaving with a pod's address the peer would not accept); the entries of
 * other zones go.
 * @m:       maps.
 * @cfg:     configuration.
 * @changed: set when an entry changed.
 *
 * Called with tp_config's write (tpd_snat_config_write()), so on start,
 * on SIGHUP and on every address event, as the uplink's SNAT address.
 * The caller holds the writers' lock.
 *
 * Return: 0 or -errno.
 */
int tpd_masq_write(const struct tp_maps *m, const struct tpd_config *cfg,
		   bool *changed)
{
	struct tp_masq want, now;
	__u32 zone;
	int ifindex, err;
	size_t i;

	if (m->masq < 0)
		return 0;
	for (i = 0; i < cfg->n_ifaces; i++) {
		if (cfg->ifaces[i].kind != TPD_IFACE_TAILNET ||
		    !cfg->ifaces[i].masquerade)
			continue;
		memset(&want, 0, sizeof(want));
		want.flags = TP_MASQ_F_ON | TP_MASQ_F_CROSSING;
		ifindex = (int)if_nametoindex(cfg->ifaces[i].name);
		if (ifindex) {
			err = tpd_iface_primary_addrs(ifindex, &want.addr4,
						      &want.addr6);
			if (err)
				return err;
		}
		zone = cfg->ifaces[i].zone;
		if (!bpf_map_lookup_elem(m->masq, &zone, &now) &&
		    !memcmp(&now, &want, sizeof(now)))
			continue;
		if (bpf_map_update_elem(m->masq, &zone, &want, BPF_ANY))
			return -errno;
		*changed = true;
		tpd_masq_log(cfg->ifaces[i].name, zone, &want);
	}
	return tpd_masq_prune(m, cfg, changed);
}

/* ---- reserved ports ------------------------------------------------------ */

#define TPD_PORT_WORDS (65536 / 64)
/*
 * Room for a port list as text.  A list that does not fit, read or
 * written, is an error: writing back a list cut short would drop ports
 * others reserved.
 */
#define TPD_PORTS_TEXT 65536

struct tpd_ports {
	__u64 w[TPD_PORT_WORDS];
};

static void tpd_ports_set(struct tpd_ports *p, unsigned int lo, unsigned int hi)
{
	unsigned int i;

	for (i = lo; i <= hi && i < 65536; i++)
		p->w[i / 64] |= 1ULL << (i % 64);
}

static bool tpd_ports_has(const struct tpd_ports *p, unsigned int i)
{
	return p->w[i / 64] & (1ULL << (i % 64));
}

/*
 * "A,B-C,..." as the sysctl writes it (commas, maybe spaces), up to the
 * end of the first line.
 */
static int tpd_ports_parse(const char *s, struct tpd_ports *p)
{
	unsigned long lo, hi;
	char *end;

	memset(p, 0, sizeof(*p));
	for (;;) {
		while (*s == ' ' || *s == ',' || *s == '\t')
			s++;
		if (!*s || *s == '\n')
			return 0;
		lo = strtoul(s, &end, 10);
		if (end == s || lo > 65535)
			return -EINVAL;
		hi = lo;
		s = end;
		if (*s == '-') {
			hi = strtoul(s + 1, &end, 10);
			if (end == s + 1 || hi > 65535 || hi < lo)
				return -EINVAL;
			s = end;
		}
		tpd_ports_set(p, (unsigned int)lo, (unsigned int)hi);
	}
}

/* Return: 0, or -E2BIG when the list did not fit in @len (cut short). */
static int tpd_ports_format(const struct tpd_ports *p, char *buf, size_t len)
{
	unsigned int i = 0, j;
	size_t n = 0;

	buf[0] = 0;
	while (i < 65536) {
		if (!tpd_ports_has(p, i)) {
			i++;
			continue;
		}
		for (j = i; j + 1 < 65536 && tpd_ports_has(p, j + 1); j++)
			;
		if (n < len)
			n += snprintf(buf + n, len - n, "%s%u", n ? "," : "",
				      i);
		if (j > i && n < len)
			n += snprintf(buf + n, len - n, "-%u", j);
		i = j + 1;
	}
	return n < len ? 0 : -E2BIG;
}

/* Read a port list file; a missing record reads as empty. */
static int tpd_ports_read(const char *path, struct tpd_ports *p,
			  bool missing_ok)
{
	char *buf = malloc(TPD_PORTS_TEXT);
	ssize_t n = 0, got;
	int fd, err;

	memset(p, 0, sizeof(*p));
	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno == ENOENT && missing_ok ? 0 : -errno;
		goto out;
	}
	while ((got = read(fd, buf + n, TPD_PORTS_TEXT - 1 - n)) > 0)
		n += got;
	err = got < 0 ? -errno : n == TPD_PORTS_TEXT - 1 ? -E2BIG : 0;
	close(fd);
	if (!err) {
		buf[n] = 0;
		err = tpd_ports_parse(buf, p);
	}
out:
	free(buf);
	return err;
}

static int tpd_ports_write(const char *path, const struct tpd_ports *p,
			   int flags)
{
	char *buf = malloc(TPD_PORTS_TEXT);
	size_t len, off;
	ssize_t n;
	int fd, err;

	if (!buf)
		return -ENOMEM;
	err = tpd_ports_format(p, buf, TPD_PORTS_TEXT - 1);
	if (err)
		goto out;
	len = strlen(buf);
	buf[len++] = '\n';
	fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0644);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	/*
	 * The sysctl takes a page a write(): the first sets the list, the
	 * following ones (at an offset) add to it, a number cut at the page's
	 * end left for the next one.
	 */
	for (off = 0; off < len && !err; off += (size_t)n) {
		n = write(fd, buf + off, len - off);
		if (n <= 0)
			err = n < 0 ? -errno : -EIO;
	}
	if (close(fd) && !err)
		err = -errno;
out:
	free(buf);
	return err;
}

/**
 * tpd_snat_record_path() - where the loader of @pin_root records the
 * ports it reserved: its pid file's name (tp_pins_loader_pidfile()) with
 * ".snat-ports" for ".pid".
 * @pin_root: the pin root.
 * @buf:      room for the path.
 * @len:      its size.
 *
 * Return: @buf.
 */
char *tpd_snat_record_path(const char *pin_root, char *buf, size_t len)
{
	size_t n;

	tp_pins_loader_pidfile(pin_root, buf, len);
	n = strlen(buf);
	if (n > 4 && !strcmp(buf + n - 4, ".pid"))
		buf[n - 4] = 0;
	strncat(buf, ".snat-ports", len - strlen(buf) - 1);
	return buf;
}

/* The network namespace this process is in, as the record names it. */
static unsigned long long tpd_netns_id(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0
					      : (unsigned long long)st.st_ino;
}

/*
 * Whether the record @record was written in another network namespace
 * than this process's (a record without one counts as this one's).
 */
static bool tpd_record_foreign(const char *record)
{
	unsigned long long id;
	char line[128];
	bool foreign = false;
	FILE *f = fopen(record, "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "netns %llu", &id) == 1)
			foreign = id != tpd_netns_id();
	fclose(f);
	return foreign;
}

/* Write @rec as the record, or remove it when empty. */
static int tpd_record_write(const char *record, const struct tpd_ports *rec)
{
	FILE *f;
	char tmp[PATH_MAX + 8], dir[PATH_MAX], *slash;
	static const struct tpd_ports none;
	int err;

	if (!memcmp(rec, &none, sizeof(none)))
		return unlink(record) && errno != ENOENT ? -errno : 0;
	snprintf(dir, sizeof(dir), "%s", record);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir(dir, 0755);
	}
	/* a crash mid-write must not leave half a record: write, then rename */
	snprintf(tmp, sizeof(tmp), "%s.new", record);
	err = tpd_ports_write(tmp, rec, O_CREAT | O_TRUNC);
	f = err ? NULL : fopen(tmp, "ae");
	if (!err && (!f || fprintf(f, "netns %llu\n", tpd_netns_id()) < 0))
		err = -EIO;
	if (f && fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, record))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/**
 * tpd_ports_reserve() - reserve [@lo, @hi] in the sysctl @sysctl, merged
 * with what is reserved there, and record which ports were added.
 * @sysctl: TPD_RESERVED_PORTS (tests pass a file of their own).
 * @record: the record (tpd_snat_record_path()).
 * @lo:     first port of the SNAT range.
 * @hi:     last port.
 * @added:  the ports this loader holds reserved now, "" for none (the
 *          ones it added earlier and still needs count too).
 * @len:    room in @added.
 *
 * Ports the record holds that are no longer in the range (a reload
 * changed it) are released; ports reserved by others are never touched.
 *
 * Return: 0 or -errno (nothing changed in the sysctl then, unless the
 * record could not be written after it: -errno of the record).
 */
int tpd_ports_reserve(const char *sysctl, const char *record, __u16 lo,
		      __u16 hi, char *added, size_t len)
{
	struct tpd_ports *now = calloc(3, sizeof(*now)), *rec, *want;
	int err, i;

	if (!now)
		return -ENOMEM;
	rec = now + 1;
	want = now + 2;
	added[0] = 0;
	err = tpd_ports_read(sysctl, now, false);
	/* another namespace's record: nothing of this list is ours yet */
	if (!err && !tpd_record_foreign(record))
		err = tpd_ports_read(record, rec, true);
	if (err)
		goto out;
	tpd_ports_set(want, lo, hi);
	for (i = 0; i < TPD_PORT_WORDS; i++) {
		__u64 drop =
			rec->w[i] & ~want->w[i]; /* ours, no longer wanted */
		__u64 fresh =
			want->w[i] & ~now->w[i]; /* wanted, not reserved yet */

		rec->w[i] = (rec->w[i] & want->w[i]) | fresh;
		drop = now->w[i] & drop;
		now->w[i] = (now->w[i] & ~drop) | want->w[i];
	}
	err = tpd_ports_write(sysctl, now, 0);
	err = err ?: tpd_record_write(record, rec);
	if (!err)
		tpd_ports_format(rec, added, len);
out:
	free(now);
	return err;
}

/**
 * tpd_ports_release() - take the recorded ports out of @sysctl and remove
 * the record (`tailplaned --detach --purge`).
 * @sysctl:  TPD_RESERVED_PORTS.
 * @record:  the record (tpd_snat_record_path()).
 * @removed: the ports taken out, "" for none.
 * @len:     room in @removed.
 *
 * A record written in another network namespace is removed and this
 * namespace's list left alone: those ports were reserved there.
 *
 * Return: 0; 1 when the record was another namespace's; or -errno (the
 * record stays then).
 */
int tpd_ports_release(const char *sysctl, const char *record, char *removed,
		      size_t len)
{
	struct tpd_ports *now = calloc(2, sizeof(*now)), *rec;
	static const struct tpd_ports none;
	int err, i;

	if (!now)
		return -ENOMEM;
	rec = now + 1;
	removed[0] = 0;
	if (tpd_record_foreign(record)) {
		unlink(record);
		err = 1;
		goto out;
	}
	err = tpd_ports_read(record, rec, true);
	if (err || !memcmp(rec, &none, sizeof(none)))
		goto out;
	err = tpd_ports_read(sysctl, now, false);
	if (err)
		goto out;
	for (i = 0; i < TPD_PORT_WORDS; i++)
		now->w[i] &= ~rec->w[i];
	err = tpd_ports_write(sysctl, now, 0);
	if (!err) {
		tpd_ports_format(rec, removed, len);
		unlink(record);
	}
out:
	free(now);
	return err;
}
