// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tp_ifaces and tp_iface_slots kept in step (abi.h).  The datapath trusts
 * a slot that holds an ifindex, and a slot's TP_IFACE_SLOT_F_ONLY, over
 * tp_ifaces; a zeroed slot sends it to tp_ifaces.  So every change of an
 * entry zeroes its bucket's slot first, changes tp_ifaces, and fills the
 * slot again from what tp_ifaces holds then: at no moment does the
 * datapath see an interface, or miss one, that tp_ifaces disagrees
 * with, and a writer killed half-way leaves a zeroed slot (slower, not
 * wrong) that the next write of the bucket or the loader's start fills.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <bpf/bpf.h>

#include "iface.h"

/* One tp_ifaces entry as tp_map_collect() hands it over. */
struct tp_iface_row {
	__u32 ifindex;
	struct tp_iface v;
};

static __u32 tp_iface_bucket(__u32 ifindex)
{
	return ifindex % TP_IFACE_SLOTS;
}

/* Can a slot hold @v?  Its flags must fit beside TP_IFACE_SLOT_F_ONLY. */
static bool tp_iface_cacheable(const struct tp_iface *v)
{
	return !(v->flags & ~TP_IFACE_SLOT_FLAGS);
}

/*
 * What slot @bucket should hold given tp_ifaces' @n entries @rows: the
 * interface @prefer when it is of the bucket (the slot keeps its holder
 * across writes), else the bucket's lowest cacheable ifindex; with
 * TP_IFACE_SLOT_F_ONLY when that is all the bucket has.  Zero (look in
 * tp_ifaces) when no entry of the bucket can be held.
 */
static union tp_iface_slot tp_iface_slot_of(const struct tp_iface_row *rows,
					    size_t n, __u32 bucket,
					    __u32 prefer)
{
	const struct tp_iface_row *hold = NULL;
	union tp_iface_slot s = { .word = 0 };
	size_t i, in_bucket = 0;

	for (i = 0; i < n; i++) {
		if (!rows[i].ifindex ||
		    tp_iface_bucket(rows[i].ifindex) != bucket)
			continue;
		in_bucket++;
		if (!tp_iface_cacheable(&rows[i].v))
			continue;
		if (!hold || rows[i].ifindex == prefer ||
		    (hold->ifindex != prefer &&
		     rows[i].ifindex < hold->ifindex))
			hold = &rows[i];
	}
	if (!in_bucket) {
		s.flags = TP_IFACE_SLOT_F_ONLY;
		return s;
	}
	if (!hold)
		return s;
	s.ifindex = hold->ifindex;
	s.flags = hold->v.flags;
	s.zone = hold->v.zone;
	if (in_bucket == 1)
		s.flags |= TP_IFACE_SLOT_F_ONLY;
	return s;
}

/*
 * Store @s in @bucket's slot as one aligned 8-byte store through the map's
 * mapping: the update syscall copies a value with memcpy(), which may
 * write it in pieces (rep movsb), and a program reading the slot between
 * two pieces would see one interface's ifindex with another's settings.
 */
static int tp_iface_slot_write(const struct tp_maps *m, __u32 bucket,
			       union tp_iface_slot s)
{
	const size_t len = TP_IFACE_SLOTS * sizeof(union tp_iface_slot);
	__u64 *slots;

	if (bucket >= TP_IFACE_SLOTS)
		return -EINVAL;
	slots = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		     m->iface_slots, 0);
	if (slots == MAP_FAILED)
		return -errno;
	__atomic_store_n(&slots[bucket], s.word, __ATOMIC_RELEASE);
	munmap(slots, len);
	return 0;
}

static int tp_iface_rows(const struct tp_maps *m, struct tp_iface_row **rows,
			 size_t *n)
{
	return TP_MAP_COLLECT(m->ifaces, struct tp_iface_row, ifindex, v, rows,
			      n);
}

/*
 * Fill @bucket's slot from tp_ifaces as it is now, keeping @prefer in it.
 * A failure leaves the slot zeroed: the datapath reads tp_ifaces then.
 */
static int tp_iface_slot_fill(const struct tp_maps *m, __u32 bucket,
			      __u32 prefer)
{
	struct tp_iface_row *rows = NULL;
	size_t n = 0;
	int err;

	err = tp_iface_rows(m, &rows, &n);
	if (!err)
		err = tp_iface_slot_write(
			m, bucket, tp_iface_slot_of(rows, n, bucket, prefer));
	free(rows);
	return err;
}

/* The interface @bucket's slot holds now, 0 for none or unreadable. */
static __u32 tp_iface_slot_holder(const struct tp_maps *m, __u32 bucket)
{
	union tp_iface_slot s;

	if (bpf_map_lookup_elem(m->iface_slots, &bucket, &s))
		return 0;
	return s.ifindex;
}

/*
 * Change tp_ifaces' entry @ifindex: @v, or deleted when @v is NULL, with
 * its slot zeroed around the change (the file's comment).
 */
static int tp_iface_write(const struct tp_maps *m, __u32 ifindex,
			  const struct tp_iface *v)
{
	__u32 bucket = tp_iface_bucket(ifindex), prefer;
	union tp_iface_slot none = { .word = 0 };
	int err;

	if (!ifindex)
		return -EINVAL;
	/* a slot left behind would be believed: both maps, or no write */
	if (m->ifaces < 0 || m->iface_slots < 0)
		return -EBADF;
	prefer = tp_iface_slot_holder(m, bucket);
	if (!prefer)
		prefer = ifindex;
	err = tp_iface_slot_write(m, bucket, none);
	if (err)
		return err;
	if (v)
		err = bpf_map_update_elem(m->ifaces, &ifindex, v, BPF_ANY);
	else
		err = bpf_map_delete_elem(m->ifaces, &ifindex);
	err = err ? -errno : 0;
	/* the slot is filled even when the change failed: a zeroed one is only slower */
	tp_iface_slot_fill(m, bucket, prefer);
	return err;
}

/**
 * tp_iface_set() - describe interface @ifindex to the datapath.
 * @m:       maps, tp_ifaces and tp_iface_slots open.
 * @ifindex: the interface, not 0.
 * @v:       its settings.
 *
 * Return: 0 or -errno of the tp_ifaces update, -EBADF when either map is
 * not open (the slot's own failures leave it zeroed, which the datapath
 * reads as "look in tp_ifaces").
 */
int tp_iface_set(const struct tp_maps *m, __u32 ifindex,
		 const struct tp_iface *v)
{
	return tp_iface_write(m, ifindex, v);
}

/**
 * tp_iface_del() - forget interface @ifindex.
 * @m:       maps, tp_ifaces and tp_iface_slots open.
 * @ifindex: the interface.
 *
 * Return: 0, -ENOENT when tp_ifaces had no entry, -EBADF when either map
 * is not open, or -errno.
 */
int tp_iface_del(const struct tp_maps *m, __u32 ifindex)
{
	return tp_iface_write(m, ifindex, NULL);
}

/**
 * tp_iface_slots_rebuild() - every slot of tp_iface_slots from tp_ifaces,
 * before programs that read the slots run on maps another writer may
 * have changed: a new tp_iface_slots beside old pins (all zero), a
 * version that wrote tp_ifaces alone, a writer killed half-way.  A slot
 * that is right is left as it is; one that is not is replaced whole.
 * @m: maps, tp_ifaces and tp_iface_slots open.
 *
 * Return: how many slots were written, or -errno (-EBADF: a map is not
 * open).
 */
int tp_iface_slots_rebuild(const struct tp_maps *m)
{
	struct tp_iface_row *rows = NULL;
	union tp_iface_slot was, want;
	int err, written = 0;
	__u32 bucket;
	size_t n = 0;

	if (m->ifaces < 0 || m->iface_slots < 0)
		return -EBADF;
	err = tp_iface_rows(m, &rows, &n);
	for (bucket = 0; !err && bucket < TP_IFACE_SLOTS; bucket++) {
		if (bpf_map_lookup_elem(m->iface_slots, &bucket, &was)) {
			err = -errno;
			break;
		}
		want = tp_iface_slot_of(rows, n, bucket, was.ifindex);
		if (want.word == was.word)
			continue;
		err = tp_iface_slot_write(m, bucket, want);
		written++;
	}
	free(rows);
	return err ? err : written;
}
