// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Conntrack GC.  The datapath treats an expired entry as absent, so GC
 * only frees room; it reads the table in batches (bpf_map_lookup_batch),
 * never holding anything the datapath waits on.  Deleted: expired flow
 * entries with the reply keys that still point back at them (a SNAT
 * flow's is found through the SNAT address in tp_config, read once a
 * pass), and reply
 * keys whose flow is gone, expired or points elsewhere; each is judged
 * again as it is taken out, so an entry the datapath replaced after the
 * walk read it stays.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "conntrack.h"
#include "gc.h"

#define TPD_GC_BATCH 1024

/** tpd_monotonic_ns() - CLOCK_MONOTONIC in ns, the datapath's clock. */
__u64 tpd_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

struct tpd_gc_batch {
	const struct tp_config *cfg; /* read once per pass: SNAT reply tuples */
	struct tp_ct_key keys[TPD_GC_BATCH];
	struct tp_ct_entry vals[TPD_GC_BATCH];
	struct tp_ct_key dead[3 * TPD_GC_BATCH];
	__u32 n_dead;
};

/*
 * Judge a batch from its copies: dead are expired flows, with their
 * reply-key entries (a DNAT flow's reply tuple and, for a zone crossing,
 * the one in its out zone), and reply keys whose flow is gone, expired or
 * points elsewhere.
 */
static void tpd_gc_judge(const struct tp_maps *m, struct tpd_gc_batch *b,
			 __u32 n, __u64 now, struct tpd_gc_result *res)
{
	struct tp_ct_key reply;
	__u32 i;

	for (i = 0; i < n; i++) {
		const struct tp_ct_entry *e = &b->vals[i];

		res->ct_entries++;
		if (tp_ct_entry_live(m, b->cfg, &b->keys[i], e, now)) {
			res->ct_flows += !(e->flags & TP_CT_F_REPLY_KEY);
			continue;
		}
		b->dead[b->n_dead++] = b->keys[i];
		if (e->flags & TP_CT_F_REPLY_KEY)
			continue;
		/* a SNAT flow without the configuration: its reply key is an orphan later */
		if (!tp_ct_reply_tuple(&b->keys[i], e, b->cfg, &reply))
			continue;
		if (e->flags & (TP_CT_F_DNAT | TP_CT_F_SNAT))
			b->dead[b->n_dead++] = reply;
		if (tp_ct_cross_key(&b->keys[i], e)) {
			b->dead[b->n_dead] = reply;
			b->dead[b->n_dead++].zone = e->out_zone;
		}
	}
}

/*
 * Delete what the judge found, each entry judged again as it is taken
 * out: a reply key another flow has taken since, or a flow a packet
 * replaced or revived, stays (tp_ct_take_dead()).
 */
static void tpd_gc_delete(const struct tp_maps *m, struct tpd_gc_batch *b,
			  __u64 now, struct tpd_gc_result *res)
{
	__u32 i;

	for (i = 0; i < b->n_dead; i++)
		if (tp_ct_take_dead(m, b->cfg, &b->dead[i], now) > 0)
			res->ct_deleted++;
	b->n_dead = 0;
}

/* The same walk without batch operations (kernels or maps without them). */
static int tpd_gc_ct_slow(const struct tp_maps *m, int fd,
			  struct tpd_gc_batch *b, __u64 now,
			  struct tpd_gc_result *res)
{
	struct tp_ct_key k, next, *prev = NULL;
	__u32 n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &b->vals[n]))
			continue;
		b->keys[n++] = k;
		if (n == TPD_GC_BATCH) {
			tpd_gc_judge(m, b, n, now, res);
			tpd_gc_delete(m, b, now, res);
			n = 0;
		}
	}
	tpd_gc_judge(m, b, n, now, res);
	tpd_gc_delete(m, b, now, res);
	return 0;
}

/* One conntrack table (tp_ct or tp_ct_any), its counts added to @total. */
static int tpd_gc_ct(const struct tp_maps *m, const struct tp_config *cfg,
		     int fd, __u64 now, struct tpd_gc_result *total)
{
	struct tpd_gc_batch *b = calloc(1, sizeof(*b));
	struct tpd_gc_result one = {}, *res = &one;
	__u32 token = 0, count;
	bool first = true;
	int err;

	if (!b)
		return -ENOMEM;
	b->cfg = cfg;
	for (;;) {
		count = TPD_GC_BATCH;
		err = bpf_map_lookup_batch(fd, first ? NULL : &token, &token,
					   b->keys, b->vals, &count, NULL);
		if (err && errno != ENOENT) {
			err = -errno;
			break;
		}
		first = false;
		tpd_gc_judge(m, b, count, now, res);
		tpd_gc_delete(m, b, now, res);
		if (err)
			break; /* ENOENT: that was the last batch */
	}
	if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUP) {
		memset(res, 0, sizeof(*res));
		err = tpd_gc_ct_slow(m, fd, b, now, res);
	} else if (err == -ENOENT) {
		err = 0;
	}
	total->ct_entries += one.ct_entries;
	total->ct_flows += one.ct_flows;
	total->ct_deleted += one.ct_deleted;
	free(b);
	return err;
}

static void tpd_gc_frags(const struct tp_maps *m, __u64 now, __u32 timeout,
			 struct tpd_gc_result *res)
{
	struct tp_frag_key k, next, *prev = NULL, dead[256];
	struct tp_frag f;
	int n = 0, i;

	while (!bpf_map_get_next_key(m->frags, prev, &next) && n < 256) {
		k = next;
		prev = &k;
		if (!bpf_map_lookup_elem(m->frags, &k, &f) &&
		    now - f.seen_ns >= (__u64)timeout * 1000000000ULL)
			dead[n++] = k;
	}
	for (i = 0; i < n; i++)
		if (!bpf_map_delete_elem(m->frags, &dead[i]))
			res->frags_deleted++;
}

/**
 * tpd_gc() - one GC pass over conntrack and the fragment records.
 * @m:            maps.
 * @now_ns:       CLOCK_MONOTONIC now.
 * @frag_timeout: seconds a fragment record lives.
 * @res:          what it found and deleted.
 *
 * Return: 0 or -errno.
 */
int tpd_gc(const struct tp_maps *m, __u64 now_ns, __u32 frag_timeout,
	   struct tpd_gc_result *res)
{
	struct tp_config buf;
	const struct tp_config *cfg = tp_ct_config(m, &buf);
	int err;

	memset(res, 0, sizeof(*res));
	err = tpd_gc_ct(m, cfg, m->ct_any, now_ns, res);
	res->ct_any_entries = res->ct_entries;
	err = tpd_gc_ct(m, cfg, m->ct, now_ns, res) ?: err;
	tpd_gc_frags(m, now_ns, frag_timeout, res);
	return err;
}
