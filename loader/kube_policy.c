// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * NetworkPolicy -> identity policy rules for traffic from the tailnet to
 * pods, and from pods of this node to the tailnet (kube_policy.h; what is
 * enforced is documented in docs/policy.md, "Kubernetes NetworkPolicy").
 *
 * In short: a pod identity selected by a policy with the Ingress type
 * gets one deny rule (any source, any protocol); every ingress rule of
 * such a policy becomes allow rules (sources) x (selected identities) x
 * (ports), which all win over that deny (see kp_emit_denies()).  Egress
 * is the mirror image with the pod identity as source.  ipBlock peers
 * become identities: an identity per block prefix ("cidr:P") for the
 * block addresses no peer holds, and every tailnet identity of a zone
 * gets the ports all of its entries are granted by blocks holding them
 * (kp_emit_grants()).
 *
 * Pass 1 finds the policies that select something (only their ipBlocks
 * need identities), then the ipBlock prefixes get their identities and
 * entries per zone, pass 2 emits the rules of every policy and collects
 * its ipBlock grants, the grants become rules per selected identity, and
 * the end merges and sorts.
 * Inputs are walked through sorted indexes, never changed, so the result
 * is the same for any input order.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "array.h"
#include "kube_policy.h"

#define KP_CIDR_NAME "cidr:" /* identity names of ipBlock prefixes */

/*
 * Bounds on one policy's ipBlocks, all its rules together.  Each prefix
 * takes an identity in tp_identity and tp_id_names, which every
 * namespace's pods and the tailnet peers share: without a bound one
 * tenant's policy (a 1.5 MB API object holds some 90,000 excepts) could
 * fill them and leave a later pod without an identity.  A policy past
 * either bound has its ipBlock peers skipped (they allow nothing: fail
 * closed) with a warning; the rest of it still applies.
 */
#define KP_MAX_POLICY_EXCEPTS 4096
#define KP_MAX_POLICY_BLOCKS  256

/* A growable array: @v holds @n of @cap items. */
#define KP_VEC(type)           \
	struct {               \
		type *v;       \
		size_t n, cap; \
	}

/* Room for one more item in a KP_VEC; 0 or -ENOMEM. */
#define kp_vec_room(vec)                                       \
	kp_grow((void **)&(vec)->v, &(vec)->cap, (vec)->n + 1, \
		sizeof(*(vec)->v))

static int kp_grow(void **v, size_t *cap, size_t need, size_t size)
{
	return tp_array_grow(v, cap, need, size, 16);
}

/* A prefix, plen in the 128-bit space, bits past it zero. */
struct kp_prefix {
	struct tp_addr addr;
	__u8 plen;
};

/* An ipBlock prefix that needs an identity; @id 0 until allocated. */
struct kp_block_prefix {
	struct kp_prefix p;
	__u32 id;
	bool alloc_failed;
};

/* One identity entry of a zone: another source's, or an ipBlock's (@mine). */
struct kp_entry {
	struct kp_prefix p;
	__u32 id;
	bool mine;
};

/*
 * A tailnet zone as the compiler sees it: its entries sorted by prefix
 * (exact lookups), and the same sorted by identity (an identity's entries
 * side by side).
 */
struct kp_zone {
	__u16 zone;
	KP_VEC(struct kp_entry) by_prefix;
	KP_VEC(struct kp_entry) by_id;
};

/*
 * An ipBlock of the rule being compiled: its excepts are k->ex[ex..+n_ex),
 * sorted by prefix, and those of them no other except holds (disjoint,
 * so sorted by address too) k->ex_top[top..+n_top).
 */
struct kp_block {
	struct kp_prefix cidr;
	size_t ex, n_ex;
	size_t top, n_top;
};

/* An identity some of whose pods a selector picked: pods picked[first..+n). */
struct kp_sel {
	__u32 id;
	size_t first, n;
};

/* The result of a selection: identities and, for each, its picked pods. */
struct kp_picks {
	KP_VEC(struct kp_sel) sel;
	KP_VEC(size_t) picked; /* indexes into in->pods */
};

/* A namespace that has pods: its pods are pods[lo..hi) of the index. */
struct kp_ns_run {
	const char *ns;
	const struct tpd_kube_object *obj; /* NULL: no Namespace object */
	size_t lo, hi;
};

struct kp_src {
	__u32 id;
	__u16 zone;
};

struct kp_port {
	__u8 proto;
	__u16 lo, hi; /* 0, 0: any port */
};

/* A set of ports: sorted, merged intervals; one of proto 0 is every port
 * of every protocol. */
struct kp_pset {
	struct kp_port *v;
	size_t n, cap;
};

/* An entry of a zone (by_id index) one rule's ipBlocks hold (@in) or
 * hold in part. */
struct kp_touch {
	size_t entry;
	bool in;
};

struct kp_span {
	size_t first, n;
};

/*
 * A rule with ipBlock peers, for one selected identity: its ports there,
 * k->gports[ports..ports+n_ports), and its blocks' touches of each zone,
 * k->spans[slot * zones + zone index].
 */
struct kp_grant {
	__u32 id;
	bool egress;
	size_t slot;
	size_t ports, n_ports;
	size_t pol; /* index in k->pols, for warnings */
};

/* A touch of one grant, while the grants of one identity are combined. */
struct kp_tuple {
	size_t entry;
	size_t grant;
	bool in;
};

#define KP_NO_SLOT ((size_t)-1)

/*
 * A rule being built, with the isolated identity it belongs to: the
 * destination of an ingress rule, the source of an egress one (the
 * output is grouped by it, kp_merge_rules()).
 */
struct kp_rule {
	struct tp_rule r;
	__u32 group;
	bool egress;
};

/* A ports[] entry as checked once per ingress rule. */
struct kp_port_ent {
	struct kp_port num; /* when !name */
	const char *name;   /* a named port, resolved per pod */
};

/* What a policy selecting pods does with them (struct kp's @active). */
#define KP_ACT_IN 1 /* isolates them for ingress */
#define KP_ACT_EG 2 /* isolates them for egress */

struct kp {
	const struct tpd_kube_policy_in *in;
	void (*warn)(void *ctx, const char *policy, const char *what);
	void *warn_ctx;
	unsigned int warnings;
	char policy[512]; /* "namespace/name" of the policy being compiled */

	const struct tpd_kube_object **pols; /* sorted by namespace, name */
	unsigned char *active; /* KP_ACT_*: pols[i] selects something */
	size_t *pods;	       /* in->pods by namespace, id, name */
	const struct tpd_kube_object **nss; /* sorted by name */
	KP_VEC(struct kp_ns_run) runs;
	KP_VEC(struct kp_zone) zones;
	KP_VEC(struct kp_block_prefix) pfx;

	struct kp_picks dst;
	KP_VEC(struct kp_src) src;
	KP_VEC(struct kp_block) blocks;	 /* the ipBlocks of one ingress rule */
	KP_VEC(struct kp_prefix) ex;	 /* their excepts */
	KP_VEC(struct kp_prefix) ex_top; /* the outermost of them */
	bool block_plen[129];		 /* the blocks' CIDR lengths */
	bool blocks_over; /* the policy is past KP_MAX_POLICY_* */
	size_t slot;	  /* their touches, or KP_NO_SLOT */
	size_t n_slots;
	KP_VEC(struct kp_touch) touches;
	KP_VEC(struct kp_span) spans;
	KP_VEC(struct kp_grant) grants;
	KP_VEC(struct kp_port) gports;
	KP_VEC(struct kp_tuple) tuples;
	KP_VEC(size_t) run_lo; /* per by_id entry: where its identity starts */
	struct kp_pset ps, pa, pu, pt;
	KP_VEC(struct kp_port_ent) pents;
	KP_VEC(struct kp_port) ports;
	KP_VEC(__u32) isolated;	   /* identities with a default ingress deny */
	KP_VEC(__u32) isolated_eg; /* ... with a default egress deny */
	KP_VEC(struct kp_rule) rules;
	KP_VEC(struct tp_ident_entry) idents;
};

static void kp_warn(struct kp *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One part of the current policy that is not enforced (or not exactly). */
static void kp_warn(struct kp *k, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	k->warnings++;
	if (!k->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	k->warn(k->warn_ctx, k->policy, what);
}

static const char *kp_str(const char *s)
{
	return s ? s : "";
}

/* ---- selectors ------------------------------------------------------------ */

/* The value of label @key, NULL when absent.  Linear: a pod has few labels,
 * and it does not trust the decoder's sorting. */
static const char *kp_label(const struct tpd_kube_label *labels, size_t n,
			    const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (labels[i].key && !strcmp(labels[i].key, key))
			return kp_str(labels[i].value);
	return NULL;
}

static bool kp_in_values(const struct tpd_kube_sel_expr *e, const char *v)
{
	size_t i;

	for (i = 0; i < e->n_values; i++)
		if (e->values[i] && !strcmp(e->values[i], v))
			return true;
	return false;
}

static bool kp_expr_match(const struct tpd_kube_sel_expr *e,
			  const struct tpd_kube_label *labels, size_t n)
{
	const char *v = kp_label(labels, n, kp_str(e->key));

	switch (e->op) {
	case TPD_KUBE_SEL_IN:
		return v && kp_in_values(e, v);
	case TPD_KUBE_SEL_NOT_IN:
		return !v || !kp_in_values(e, v);
	case TPD_KUBE_SEL_EXISTS:
		return v != NULL;
	case TPD_KUBE_SEL_NOT_EXISTS:
		return v == NULL;
	}
	return false; /* an unknown operator selects nothing */
}

/**
 * tpd_kube_selector_match() - does a LabelSelector select these labels?
 * @sel:    the selector; @sel->present is not looked at (an absent
 *          selector means different things in different places: the
 *          caller decides).
 * @labels: the object's labels (sorted or not).
 * @n:      their number.
 *
 * matchLabels and matchExpressions all have to hold (AND); an empty
 * selector selects everything.  In needs the key with one of the values,
 * NotIn the key absent or with none of them, Exists the key, DoesNotExist
 * its absence, as Kubernetes' labels.Selector.
 *
 * Return: true when @sel selects the labels.
 */
bool tpd_kube_selector_match(const struct tpd_kube_selector *sel,
			     const struct tpd_kube_label *labels, size_t n)
{
	const char *v;
	size_t i;

	for (i = 0; i < sel->n_match; i++) {
		v = kp_label(labels, n, kp_str(sel->match[i].key));
		if (!v || strcmp(v, kp_str(sel->match[i].value)))
			return false;
	}
	for (i = 0; i < sel->n_exprs; i++)
		if (!kp_expr_match(&sel->exprs[i], labels, n))
			return false;
	return true;
}

/* Operators come from an enum the decoder fills: anything else is bad input. */
static bool kp_selector_valid(const struct tpd_kube_selector *sel)
{
	size_t i;

	if ((sel->n_match && !sel->match) || (sel->n_exprs && !sel->exprs))
		return false;
	for (i = 0; i < sel->n_exprs; i++)
		if (sel->exprs[i].op > TPD_KUBE_SEL_NOT_EXISTS ||
		    (sel->exprs[i].n_values && !sel->exprs[i].values))
			return false;
	return true;
}

/* ---- sorted views of the input ---------------------------------------------- */

static int kp_obj_cmp(const struct tpd_kube_object *a,
		      const struct tpd_kube_object *b)
{
	int c = strcmp(kp_str(a->meta.ns), kp_str(b->meta.ns));

	if (!c)
		c = strcmp(kp_str(a->meta.name), kp_str(b->meta.name));
	if (!c)
		c = strcmp(kp_str(a->meta.uid), kp_str(b->meta.uid));
	return c;
}

static int kp_objp_cmp(const void *pa, const void *pb)
{
	return kp_obj_cmp(*(const struct tpd_kube_object *const *)pa,
			  *(const struct tpd_kube_object *const *)pb);
}

/* qsort has no context argument: the pods being sorted, for kp_pod_cmp(). */
static __thread const struct tpd_kube_pod_ident *kp_sort_pods;

/* By namespace, then identity, then name: an identity's pods are adjacent. */
static int kp_pod_cmp(const void *pa, const void *pb)
{
	const struct tpd_kube_pod_ident *a = &kp_sort_pods[*(const size_t *)pa];
	const struct tpd_kube_pod_ident *b = &kp_sort_pods[*(const size_t *)pb];
	int c = strcmp(kp_str(a->pod->meta.ns), kp_str(b->pod->meta.ns));

	if (c)
		return c;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return kp_obj_cmp(a->pod, b->pod);
}

static const struct tpd_kube_object *kp_find_ns(const struct kp *k,
						const char *ns)
{
	size_t lo = 0, hi = k->in->n_namespaces, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(ns, kp_str(k->nss[mid]->meta.name));
		if (!c)
			return k->nss[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Callers' bugs (a NULL array, an object of another kind): -EINVAL. */
static int kp_check_input(struct kp *k)
{
	const struct tpd_kube_policy_in *in = k->in;
	size_t i;

	if ((in->n_policies && !in->policies) || (in->n_pods && !in->pods) ||
	    (in->n_namespaces && !in->namespaces) ||
	    (in->n_tailnet && !in->tailnet))
		return -EINVAL;
	for (i = 0; i < in->n_policies; i++)
		if (!in->policies[i] ||
		    in->policies[i]->kind != TPD_KUBE_NETPOL)
			return -EINVAL;
	for (i = 0; i < in->n_pods; i++)
		if (!in->pods[i].pod || in->pods[i].pod->kind != TPD_KUBE_POD ||
		    !in->pods[i].id)
			return -EINVAL;
	for (i = 0; i < in->n_namespaces; i++)
		if (!in->namespaces[i] ||
		    in->namespaces[i]->kind != TPD_KUBE_NAMESPACE)
			return -EINVAL;
	return 0;
}

static int kp_index_inputs(struct kp *k)
{
	const struct tpd_kube_policy_in *in = k->in;
	struct kp_ns_run *run;
	const char *ns;
	size_t i;

	k->pols = calloc(in->n_policies + 1, sizeof(*k->pols));
	k->active = calloc(in->n_policies + 1, sizeof(*k->active));
	k->pods = calloc(in->n_pods + 1, sizeof(*k->pods));
	k->nss = calloc(in->n_namespaces + 1, sizeof(*k->nss));
	if (!k->pols || !k->active || !k->pods || !k->nss)
		return -ENOMEM;
	/* loops, not memcpy(): the arrays may be NULL when empty */
	for (i = 0; i < in->n_policies; i++)
		k->pols[i] = in->policies[i];
	qsort(k->pols, in->n_policies, sizeof(*k->pols), kp_objp_cmp);
	for (i = 0; i < in->n_namespaces; i++)
		k->nss[i] = in->namespaces[i];
	qsort(k->nss, in->n_namespaces, sizeof(*k->nss), kp_objp_cmp);
	for (i = 0; i < in->n_pods; i++)
		k->pods[i] = i;
	kp_sort_pods = in->pods;
	qsort(k->pods, in->n_pods, sizeof(*k->pods), kp_pod_cmp);

	for (i = 0; i < in->n_pods; i++) {
		ns = kp_str(in->pods[k->pods[i]].pod->meta.ns);
		if (k->runs.n && !strcmp(k->runs.v[k->runs.n - 1].ns, ns)) {
			k->runs.v[k->runs.n - 1].hi = i + 1;
			continue;
		}
		if (kp_vec_room(&k->runs))
			return -ENOMEM;
		run = &k->runs.v[k->runs.n++];
		run->ns = ns;
		run->obj = kp_find_ns(k, ns);
		run->lo = i;
		run->hi = i + 1;
	}
	return 0;
}

static const struct kp_ns_run *kp_find_run(const struct kp *k, const char *ns)
{
	size_t lo = 0, hi = k->runs.n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(ns, k->runs.v[mid].ns);
		if (!c)
			return &k->runs.v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- selecting pods ------------------------------------------------------------ */

static void kp_picks_reset(struct kp_picks *p)
{
	p->sel.n = 0;
	p->picked.n = 0;
}

/*
 * Add the pods of @run that @sel selects to @out, grouped by identity.
 * Identities are the unit of the rules: one of them is selected when any
 * of its pods is.  When only some are (the selector names a label the
 * identity leaves out, such as pod-template-hash), that is a warning.
 */
static int kp_pick_run(struct kp *k, const struct kp_ns_run *run,
		       const struct tpd_kube_selector *sel,
		       struct kp_picks *out, const char *what)
{
	const struct tpd_kube_policy_in *in = k->in;
	const struct tpd_kube_object *pod;
	size_t i = run->lo, end, first;
	__u32 id;

	while (i < run->hi) {
		id = in->pods[k->pods[i]].id;
		first = out->picked.n;
		for (end = i; end < run->hi && in->pods[k->pods[end]].id == id;
		     end++) {
			pod = in->pods[k->pods[end]].pod;
			if (!tpd_kube_selector_match(sel, pod->meta.labels,
						     pod->meta.n_labels))
				continue;
			if (kp_vec_room(&out->picked))
				return -ENOMEM;
			out->picked.v[out->picked.n++] = k->pods[end];
		}
		if (out->picked.n > first) {
			if (kp_vec_room(&out->sel))
				return -ENOMEM;
			out->sel.v[out->sel.n++] =
				(struct kp_sel){ .id = id,
						 .first = first,
						 .n = out->picked.n - first };
			if (out->picked.n - first < end - i)
				kp_warn(k,
					"%s selects %zu of the %zu pods of identity %u in namespace %s: all of them are treated as selected",
					what, out->picked.n - first, end - i,
					id, run->ns);
		}
		i = end;
	}
	return 0;
}

/*
 * The policy's podSelector, in its namespace; an absent one as empty.  A
 * malformed one (an operator the API does not have) selects the whole
 * namespace: failing closed isolates more pods, never fewer.
 */
static int kp_pick_targets(struct kp *k, const struct tpd_kube_object *pol)
{
	static const struct tpd_kube_selector all = { .present = true };
	const struct kp_ns_run *run = kp_find_run(k, kp_str(pol->meta.ns));
	const struct tpd_kube_selector *sel = &pol->np.pod_selector;

	kp_picks_reset(&k->dst);
	if (!run)
		return 0;
	if (!kp_selector_valid(sel))
		sel = &all;
	return kp_pick_run(k, run, sel, &k->dst, "podSelector");
}

/* ---- prefixes and zones ---------------------------------------------------------- */

static void kp_mask(struct tp_addr *a, unsigned int plen)
{
	unsigned int i;

	for (i = 0; i < 16; i++, plen = plen >= 8 ? plen - 8 : 0)
		a->b[i] &= plen >= 8 ? 0xff : (__u8)(0xff << (8 - plen));
}

static bool kp_addr_v4(const struct tp_addr *a)
{
	return !a->w[0] && !a->w[1] && a->w[2] == htonl(0xffff);
}

/*
 * A prefix as the decoder gave it, in the 128-bit space (an IPv4 /24 is
 * 120, as everywhere in tailplane).  An IPv4-mapped address with a length
 * under 96 can only be a length in IPv4's own space: refused, not guessed.
 */
static bool kp_prefix_make(const struct tp_addr *a, unsigned int plen,
			   struct kp_prefix *p)
{
	if (plen > 128 || (kp_addr_v4(a) && plen < TP_V4_PLEN_BASE))
		return false;
	p->addr = *a;
	p->plen = plen;
	kp_mask(&p->addr, plen);
	return true;
}

static int kp_prefix_cmp(const struct kp_prefix *a, const struct kp_prefix *b)
{
	int c = memcmp(a->addr.b, b->addr.b, sizeof(a->addr.b));

	return c ? c : (int)a->plen - (int)b->plen;
}

/* Is @in inside @out (equal included)? */
static bool kp_prefix_within(const struct kp_prefix *in,
			     const struct kp_prefix *out)
{
	return in->plen >= out->plen &&
	       tp_prefix_contains(&out->addr, out->plen, &in->addr);
}

static bool kp_prefix_overlap(const struct kp_prefix *a,
			      const struct kp_prefix *b)
{
	return kp_prefix_within(a, b) || kp_prefix_within(b, a);
}

static char *kp_prefix_str(const struct kp_prefix *p, char *buf, size_t len)
{
	return tp_prefix_format(&p->addr, p->plen, buf, len);
}

/* ::ffff:0:0/96: every IPv4 address. */
static const struct kp_prefix kp_v4_space = {
	.addr = { .b = { [10] = 0xff, [11] = 0xff } },
	.plen = TP_V4_PLEN_BASE,
};

static bool kp_v4_space_in(const struct kp_prefix *p)
{
	return p->plen < TP_V4_PLEN_BASE && kp_prefix_within(&kp_v4_space, p);
}

/*
 * The prefixes of an ipBlock peer: @cidr and its excepts, checked.  An
 * except outside the CIDR changes nothing and is dropped; one holding the
 * whole CIDR leaves nothing (*@empty).  Return: false when a prefix is
 * malformed (the peer is then skipped: dropping an except would allow
 * more than the policy says).
 */
static bool kp_block_parse(const struct tpd_kube_np_peer *peer,
			   struct kp_prefix *cidr, struct kp_prefix *ex,
			   size_t *n_ex, bool *empty)
{
	struct kp_prefix x;
	size_t i;

	*n_ex = 0;
	*empty = false;
	if (!kp_prefix_make(&peer->cidr, peer->cidr_plen, cidr))
		return false;
	/*
	 * An IPv6 block short enough to hold ::ffff:0:0/96 (::/0) would hold
	 * every IPv4 address in our 128-bit space: Kubernetes means IPv6
	 * only, so IPv4 is an except (it has room: callers size @ex one more).
	 */
	if (kp_v4_space_in(cidr))
		ex[(*n_ex)++] = kp_v4_space;
	if (peer->n_except && (!peer->except || !peer->except_plen))
		return false;
	for (i = 0; i < peer->n_except; i++) {
		if (!kp_prefix_make(&peer->except[i], peer->except_plen[i], &x))
			return false;
		if (kp_prefix_within(cidr, &x))
			*empty = true;
		else if (kp_prefix_within(&x, cidr))
			ex[(*n_ex)++] = x;
	}
	return true;
}

static int kp_add_block_prefix(struct kp *k, const struct kp_prefix *p)
{
	if (kp_vec_room(&k->pfx))
		return -ENOMEM;
	k->pfx.v[k->pfx.n++] = (struct kp_block_prefix){ .p = *p };
	return 0;
}

/* The prefixes of the ipBlock peers of rules @r[0..n). */
static int kp_collect_rules(struct kp *k, const struct tpd_kube_np_rule *r,
			    size_t n)
{
	const struct tpd_kube_np_peer *peer;
	struct kp_prefix cidr, *ex = NULL;
	size_t i, j, x, n_ex, cap = 0;
	bool empty;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		for (j = 0; j < r[i].n_peers && r[i].peers && !err; j++) {
			peer = &r[i].peers[j];
			if (!peer->has_cidr || peer->pods.present ||
			    peer->namespaces.present)
				continue;
			err = kp_grow((void **)&ex, &cap, peer->n_except + 1,
				      sizeof(*ex));
			if (err ||
			    !kp_block_parse(peer, &cidr, ex, &n_ex, &empty) ||
			    empty)
				continue;
			err = kp_add_block_prefix(k, &cidr);
			for (x = 0; x < n_ex && !err; x++)
				err = kp_add_block_prefix(k, &ex[x]);
		}
	}
	free(ex);
	return err;
}

static void kp_count_blocks(const struct tpd_kube_np_rule *r, size_t n,
			    size_t *blocks, size_t *excepts)
{
	size_t i, j;

	for (i = 0; i < n && r; i++)
		for (j = 0; j < r[i].n_peers && r[i].peers; j++)
			if (r[i].peers[j].has_cidr) {
				(*blocks)++;
				*excepts += r[i].peers[j].n_except;
			}
}

/*
 * Is policy @np past KP_MAX_POLICY_BLOCKS ipBlock peers or
 * KP_MAX_POLICY_EXCEPTS excepts (both directions, every rule)?  Then its
 * ipBlocks get no identities and allow nothing.
 */
static bool kp_blocks_over(const struct tpd_kube_netpol *np, size_t *blocks,
			   size_t *excepts)
{
	*blocks = 0;
	*excepts = 0;
	kp_count_blocks(np->ingress, np->n_ingress, blocks, excepts);
	kp_count_blocks(np->egress, np->n_egress, blocks, excepts);
	return *blocks > KP_MAX_POLICY_BLOCKS ||
	       *excepts > KP_MAX_POLICY_EXCEPTS;
}

/* Every prefix an active policy's ipBlocks need an identity for. */
static int kp_collect_prefixes(struct kp *k)
{
	const struct tpd_kube_netpol *np;
	size_t i, nb, nx;
	int err = 0;

	for (i = 0; i < k->in->n_policies && !err; i++) {
		np = &k->pols[i]->np;
		if (!k->active[i] || !kp_selector_valid(&np->pod_selector) ||
		    kp_blocks_over(np, &nb, &nx))
			continue;
		if (k->active[i] & KP_ACT_IN)
			err = kp_collect_rules(k, np->ingress, np->n_ingress);
		if (!err && (k->active[i] & KP_ACT_EG))
			err = kp_collect_rules(k, np->egress, np->n_egress);
	}
	return err;
}

static int kp_block_prefix_cmp(const void *pa, const void *pb)
{
	return kp_prefix_cmp(&((const struct kp_block_prefix *)pa)->p,
			     &((const struct kp_block_prefix *)pb)->p);
}

static void kp_dedup_prefixes(struct kp *k)
{
	size_t i, out = 0;

	if (k->pfx.n)
		qsort(k->pfx.v, k->pfx.n, sizeof(*k->pfx.v),
		      kp_block_prefix_cmp);
	for (i = 0; i < k->pfx.n; i++)
		if (!out || kp_prefix_cmp(&k->pfx.v[out - 1].p, &k->pfx.v[i].p))
			k->pfx.v[out++] = k->pfx.v[i];
	k->pfx.n = out;
}

static int kp_entry_prefix_cmp(const void *pa, const void *pb)
{
	return kp_prefix_cmp(&((const struct kp_entry *)pa)->p,
			     &((const struct kp_entry *)pb)->p);
}

static int kp_entry_id_cmp(const void *pa, const void *pb)
{
	const struct kp_entry *a = pa, *b = pb;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return kp_prefix_cmp(&a->p, &b->p);
}

/* The entry at exactly @p among the first @n (sorted) entries of @z. */
static const struct kp_entry *
kp_zone_exact_n(const struct kp_zone *z, const struct kp_prefix *p, size_t n)
{
	struct kp_entry key = { .p = *p };

	if (!n)
		return NULL;
	return bsearch(&key, z->by_prefix.v, n, sizeof(*z->by_prefix.v),
		       kp_entry_prefix_cmp);
}

/* The entry of @z at exactly @p, NULL when none. */
static const struct kp_entry *kp_zone_exact(const struct kp_zone *z,
					    const struct kp_prefix *p)
{
	return kp_zone_exact_n(z, p, z->by_prefix.n);
}

/* Does one of the first @n entries of @z hold @p with a shorter prefix? */
static bool kp_zone_shadows(const struct kp_zone *z, const struct kp_prefix *p,
			    size_t n)
{
	struct kp_prefix up;
	unsigned int l;

	for (l = 0; l < p->plen; l++) {
		up = *p;
		up.plen = l;
		kp_mask(&up.addr, l);
		if (kp_zone_exact_n(z, &up, n))
			return true;
	}
	return false;
}

static int kp_zone_cmp(const void *pa, const void *pb)
{
	__u16 a = *(const __u16 *)pa, b = *(const __u16 *)pb;

	return a < b ? -1 : a > b;
}

/* The zones ipBlocks apply in: in->zone, or every zone in->tailnet has. */
static int kp_make_zones(struct kp *k)
{
	const struct tpd_kube_policy_in *in = k->in;
	__u16 *zs;
	size_t i, n = 0;

	zs = calloc(in->n_tailnet + 1, sizeof(*zs));
	if (!zs)
		return -ENOMEM;
	if (in->zone)
		zs[n++] = in->zone;
	else
		for (i = 0; i < in->n_tailnet; i++)
			if (in->tailnet[i].zone)
				zs[n++] = in->tailnet[i].zone;
	qsort(zs, n, sizeof(*zs), kp_zone_cmp);
	for (i = 0; i < n; i++) {
		if (k->zones.n && k->zones.v[k->zones.n - 1].zone == zs[i])
			continue;
		if (kp_vec_room(&k->zones)) {
			free(zs);
			return -ENOMEM;
		}
		k->zones.v[k->zones.n++] = (struct kp_zone){ .zone = zs[i] };
	}
	free(zs);
	return 0;
}

static int kp_zone_add(struct kp_zone *z, const struct kp_prefix *p, __u32 id,
		       bool mine)
{
	if (kp_vec_room(&z->by_prefix))
		return -ENOMEM;
	z->by_prefix.v[z->by_prefix.n++] =
		(struct kp_entry){ .p = *p, .id = id, .mine = mine };
	return 0;
}

static void kp_zone_sort(struct kp_zone *z)
{
	if (z->by_prefix.n)
		qsort(z->by_prefix.v, z->by_prefix.n, sizeof(*z->by_prefix.v),
		      kp_entry_prefix_cmp);
}

/* The other sources' entries of each zone (malformed ones left out). */
static int kp_fill_zones(struct kp *k)
{
	const struct tp_ident_entry *t;
	struct kp_prefix p;
	struct kp_zone *z;
	size_t i, zi;
	int err;

	for (i = 0; i < k->in->n_tailnet; i++) {
		t = &k->in->tailnet[i];
		for (zi = 0; zi < k->zones.n && k->zones.v[zi].zone != t->zone;
		     zi++)
			;
		if (zi == k->zones.n || !t->id ||
		    !kp_prefix_make(&t->prefix, t->plen, &p))
			continue;
		z = &k->zones.v[zi];
		err = kp_zone_add(z, &p, t->id, false);
		if (err)
			return err;
	}
	for (zi = 0; zi < k->zones.n; zi++)
		kp_zone_sort(&k->zones.v[zi]);
	return 0;
}

/* "cidr:100.64.0.0/10"; false when it does not fit an identity name. */
static bool kp_prefix_name(const struct kp_prefix *p, char *name, size_t len)
{
	char buf[TP_PREFIX_STRLEN];
	int n;

	n = snprintf(name, len, KP_CIDR_NAME "%s",
		     kp_prefix_str(p, buf, sizeof(buf)));
	return n > 0 && (size_t)n < len && (size_t)n < TP_IDENTITY_NAME_LEN;
}

/* An identity for ipBlock prefix @bp, asked for once, in prefix order. */
static __u32 kp_prefix_id(struct kp *k, struct kp_block_prefix *bp)
{
	char name[TP_IDENTITY_NAME_LEN + 16], buf[TP_PREFIX_STRLEN];

	if (bp->id || bp->alloc_failed)
		return bp->id;
	if (kp_prefix_name(&bp->p, name, sizeof(name)) && k->in->alloc_id)
		bp->id = k->in->alloc_id(k->in->ctx, name);
	if (!bp->id) {
		bp->alloc_failed = true;
		snprintf(k->policy, sizeof(k->policy), "%s", "");
		kp_warn(k,
			"no identity for ipBlock prefix %s: it stays with the identity that covers it",
			kp_prefix_str(&bp->p, buf, sizeof(buf)));
	}
	return bp->id;
}

/*
 * Give each ipBlock prefix an identity entry in each zone, unless the
 * zone has an entry of the same prefix (that identity stands for the
 * prefix) or one of another source holds it with a shorter prefix: a
 * longer entry of ours would take those addresses from that identity,
 * and the rules others wrote for it would stop matching them.  Such an
 * identity is then only partly inside the block, and not allowed.
 */
static int kp_place_prefixes(struct kp *k)
{
	struct kp_block_prefix *bp;
	struct kp_zone *z;
	size_t i, zi, before;
	__u32 id;
	int err;

	for (zi = 0; zi < k->zones.n; zi++) {
		z = &k->zones.v[zi];
		before = z->by_prefix.n;
		for (i = 0; i < k->pfx.n; i++) {
			bp = &k->pfx.v[i];
			/* only the other sources' entries (sorted) are looked at */
			if (kp_zone_exact_n(z, &bp->p, before) ||
			    kp_zone_shadows(z, &bp->p, before))
				continue;
			id = kp_prefix_id(k, bp);
			if (!id)
				continue;
			err = kp_zone_add(z, &bp->p, id, true);
			if (!err && kp_vec_room(&k->idents))
				err = -ENOMEM;
			if (err)
				return err;
			k->idents.v[k->idents.n++] =
				(struct tp_ident_entry){ .prefix = bp->p.addr,
							 .id = id,
							 .zone = z->zone,
							 .plen = bp->p.plen };
		}
		if (z->by_prefix.n != before)
			kp_zone_sort(z);
		if (kp_grow((void **)&z->by_id.v, &z->by_id.cap,
			    z->by_prefix.n + 1, sizeof(*z->by_id.v)))
			return -ENOMEM;
		if (z->by_prefix.n) /* memcpy() from NULL is undefined */
			memcpy(z->by_id.v, z->by_prefix.v,
			       z->by_prefix.n * sizeof(*z->by_id.v));
		z->by_id.n = z->by_prefix.n;
		if (z->by_id.n)
			qsort(z->by_id.v, z->by_id.n, sizeof(*z->by_id.v),
			      kp_entry_id_cmp);
	}
	return 0;
}

/* ---- ipBlock peers -> tailnet identities --------------------------------------- */

enum kp_inside {
	KP_OUT,	    /* none of the entry's addresses is in the block */
	KP_IN,	    /* all of them are */
	KP_PARTIAL, /* some are, or cannot be told apart */
};

static int kp_prefix_qcmp(const void *pa, const void *pb)
{
	return kp_prefix_cmp(pa, pb);
}

/* The first of sorted @v[0..n) not below @key. */
static size_t kp_prefix_lower(const struct kp_prefix *v, size_t n,
			      const struct kp_prefix *key)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (kp_prefix_cmp(&v[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Is @p inside one of @top[0..n): disjoint prefixes sorted by address?
 * Only the last one starting at or before @p can hold it: any later one
 * starting there too would lie inside that one.
 */
static bool kp_tops_hold(const struct kp_prefix *top, size_t n,
			 const struct kp_prefix *p)
{
	struct kp_prefix key = { .addr = p->addr, .plen = 128 };
	size_t i = kp_prefix_lower(top, n, &key);

	/* @top[i] is the first past @p's address, or at it */
	if (i < n && !memcmp(top[i].addr.b, p->addr.b, sizeof(p->addr.b)))
		return kp_prefix_within(p, &top[i]);
	return i && kp_prefix_within(p, &top[i - 1]);
}

/*
 * Where the addresses of entry @e lie against block @b (its CIDR minus
 * its excepts).  An entry's addresses are its prefix minus the longer
 * entries of its zone: a longer prefix inside it (the block's own, an
 * except's) takes its part away.  O(log n) in the excepts, plus the
 * excepts inside @e (each lies inside at most 129 entries' prefixes, so
 * a rule's walk over a zone stays linear in its excepts).
 */
static enum kp_inside kp_entry_inside(const struct kp *k,
				      const struct kp_zone *z,
				      const struct kp_entry *e,
				      const struct kp_block *b)
{
	const struct kp_prefix *ex = &k->ex.v[b->ex];
	size_t i;

	if (!kp_prefix_overlap(&e->p, &b->cidr))
		return KP_OUT;
	if (e->p.plen < b->cidr.plen) /* holds the block and more */
		return kp_zone_exact(z, &b->cidr) ? KP_OUT : KP_PARTIAL;
	if (kp_tops_hold(&k->ex_top.v[b->top], b->n_top, &e->p))
		return KP_OUT;
	/*
	 * The excepts inside @e follow each other in prefix order from @e
	 * on: a shorter one starting inside @e could only start where @e
	 * does, and sorts before it.
	 */
	for (i = kp_prefix_lower(ex, b->n_ex, &e->p);
	     i < b->n_ex &&
	     tp_prefix_contains(&e->p.addr, e->p.plen, &ex[i].addr);
	     i++)
		if (!kp_zone_exact(z, &ex[i]))
			return KP_PARTIAL;
	return KP_IN;
}

static int kp_add_src(struct kp *k, __u32 id, __u16 zone)
{
	if (kp_vec_room(&k->src))
		return -ENOMEM;
	k->src.v[k->src.n++] = (struct kp_src){ .id = id, .zone = zone };
	return 0;
}

/* The first of the rule's blocks (sorted) not below @key. */
static size_t kp_block_lower(const struct kp *k, const struct kp_prefix *key)
{
	size_t lo = 0, hi = k->blocks.n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (kp_prefix_cmp(&k->blocks.v[mid].cidr, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Where entry @e lies against the rule's blocks together: inside one is
 * inside (NetworkPolicy's peers are a union).  Only blocks overlapping
 * @e matter: those holding it (one lookup per CIDR length the rule
 * uses) and those inside it (a run of the sorted blocks from @e on).
 */
static enum kp_inside kp_entry_in_blocks(const struct kp *k,
					 const struct kp_zone *z,
					 const struct kp_entry *e)
{
	enum kp_inside res = KP_OUT, where;
	const struct kp_block *b;
	struct kp_prefix up;
	unsigned int l;
	size_t i;

	for (l = 0; l <= e->p.plen; l++) {
		if (!k->block_plen[l])
			continue;
		up = e->p;
		up.plen = l;
		kp_mask(&up.addr, l);
		for (i = kp_block_lower(k, &up);
		     i < k->blocks.n &&
		     !kp_prefix_cmp(&k->blocks.v[i].cidr, &up);
		     i++) {
			where = kp_entry_inside(k, z, e, &k->blocks.v[i]);
			if (where == KP_IN)
				return KP_IN;
			if (where == KP_PARTIAL)
				res = KP_PARTIAL;
		}
	}
	if (res == KP_PARTIAL)
		return res;
	/* blocks inside @e, longer: out when each has its own entry */
	for (i = kp_block_lower(k, &e->p); i < k->blocks.n; i++) {
		b = &k->blocks.v[i];
		if (!tp_prefix_contains(&e->p.addr, e->p.plen, &b->cidr.addr))
			break;
		if (b->cidr.plen > e->p.plen &&
		    kp_entry_inside(k, z, e, b) == KP_PARTIAL)
			return KP_PARTIAL;
	}
	return res;
}

/*
 * The entries of zone @zi the rule's ipBlocks hold, all or in part.
 * Rules are per identity: which identities they allow is decided once
 * every rule has given its touches (kp_emit_grants()).
 */
static int kp_touch_zone(struct kp *k, size_t zi)
{
	const struct kp_zone *z = &k->zones.v[zi];
	struct kp_span span = { .first = k->touches.n };
	enum kp_inside where;
	size_t e;

	for (e = 0; e < z->by_id.n; e++) {
		where = kp_entry_in_blocks(k, z, &z->by_id.v[e]);
		if (where == KP_OUT)
			continue;
		if (kp_vec_room(&k->touches))
			return -ENOMEM;
		k->touches.v[k->touches.n++] =
			(struct kp_touch){ .entry = e, .in = where == KP_IN };
	}
	span.n = k->touches.n - span.first;
	if (kp_vec_room(&k->spans))
		return -ENOMEM;
	k->spans.v[k->spans.n++] = span;
	return 0;
}

/* Add an ipBlock peer to the rule's blocks (none when it allows nothing). */
static int kp_add_block(struct kp *k, const struct tpd_kube_np_peer *peer)
{
	struct kp_block *b;
	size_t i, n_ex;
	bool empty;

	if (kp_vec_room(&k->blocks) ||
	    kp_grow((void **)&k->ex.v, &k->ex.cap, k->ex.n + peer->n_except + 1,
		    sizeof(*k->ex.v)))
		return -ENOMEM;
	b = &k->blocks.v[k->blocks.n];
	if (!kp_block_parse(peer, &b->cidr, &k->ex.v[k->ex.n], &n_ex, &empty)) {
		kp_warn(k, "ipBlock with a malformed prefix: skipped");
		return 0;
	}
	if (empty)
		return 0;
	b->ex = k->ex.n;
	b->n_ex = n_ex;
	k->ex.n += n_ex;
	/* the index kp_entry_inside() looks excepts up in */
	if (n_ex)
		qsort(&k->ex.v[b->ex], n_ex, sizeof(*k->ex.v), kp_prefix_qcmp);
	if (kp_grow((void **)&k->ex_top.v, &k->ex_top.cap,
		    k->ex_top.n + n_ex + 1, sizeof(*k->ex_top.v)))
		return -ENOMEM;
	b->top = k->ex_top.n;
	for (i = b->ex; i < b->ex + n_ex; i++) {
		/* in prefix order, an except's outermost holder is the
		 * last top kept */
		if (k->ex_top.n > b->top &&
		    kp_prefix_within(&k->ex.v[i],
				     &k->ex_top.v[k->ex_top.n - 1]))
			continue;
		k->ex_top.v[k->ex_top.n++] = k->ex.v[i];
	}
	b->n_top = k->ex_top.n - b->top;
	k->blocks.n++;
	return 0;
}

static int kp_block_cmp(const void *pa, const void *pb)
{
	return kp_prefix_cmp(&((const struct kp_block *)pa)->cidr,
			     &((const struct kp_block *)pb)->cidr);
}

/* The touches of the rule's ipBlocks in every zone: k->slot. */
static int kp_block_touches(struct kp *k)
{
	size_t zi;
	int err = 0;

	k->slot = KP_NO_SLOT;
	if (!k->blocks.n)
		return 0;
	if (!k->zones.n) {
		kp_warn(k,
			"ipBlock: no tailnet zone is known yet: nothing allowed");
		return 0;
	}
	/* the index kp_entry_in_blocks() looks blocks up in */
	qsort(k->blocks.v, k->blocks.n, sizeof(*k->blocks.v), kp_block_cmp);
	memset(k->block_plen, 0, sizeof(k->block_plen));
	for (zi = 0; zi < k->blocks.n; zi++)
		k->block_plen[k->blocks.v[zi].cidr.plen] = true;
	for (zi = 0; zi < k->zones.n && !err; zi++)
		err = kp_touch_zone(k, zi);
	if (!err)
		k->slot = k->n_slots++;
	return err;
}

/* ---- ingress rules -> rules ---------------------------------------------------- */

/*
 * The identities one peer of a rule names (sources of an ingress rule,
 * destinations of an egress rule).  Only ipBlocks give any: a packet from
 * or to the tailnet has a tailnet zone's identity on that side (the peer
 * sources write those), never a pod's, so a rule naming a pod identity
 * there could not match.  Pod and namespace selector peers are checked
 * and then give nothing (traffic between pods is the cluster CNI's to
 * enforce); written out they were (pod identities) x (selected
 * identities) x (ports) rules, 86% of 1,000 policies' rules and more than
 * tp_rules holds.
 */
static int kp_peer_sources(struct kp *k, const struct tpd_kube_object *pol,
			   const struct tpd_kube_np_peer *peer, bool egress)
{
	const char *what = egress ? "to[]" : "from[]";

	if (peer->has_cidr) {
		if (k->blocks_over)
			return 0; /* warned once for the policy */
		if (peer->pods.present || peer->namespaces.present) {
			kp_warn(k,
				"a %s peer with ipBlock and a selector is invalid: skipped",
				what);
			return 0;
		}
		return kp_add_block(k, peer);
	}
	if (!peer->pods.present && !peer->namespaces.present) {
		kp_warn(k, "an empty %s peer is invalid: skipped", what);
		return 0;
	}
	if ((peer->pods.present && !kp_selector_valid(&peer->pods)) ||
	    (peer->namespaces.present &&
	     !kp_selector_valid(&peer->namespaces))) {
		kp_warn(k, "a %s peer with a malformed selector: skipped",
			what);
		return 0;
	}
	return 0;
}

static int kp_src_cmp(const void *pa, const void *pb)
{
	const struct kp_src *a = pa, *b = pb;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return (int)a->zone - (int)b->zone;
}

/* The peers of rule @r (@egress: an egress rule's), sorted, each once. */
static int kp_rule_sources(struct kp *k, const struct tpd_kube_object *pol,
			   const struct tpd_kube_np_rule *r, bool egress)
{
	size_t i, out = 0;
	int err = 0;

	k->src.n = 0;
	k->blocks.n = 0;
	k->ex.n = 0;
	k->ex_top.n = 0;
	k->slot = KP_NO_SLOT;
	/* from absent or empty: every source (the API's meaning of both) */
	if (!r->n_peers)
		return kp_add_src(k, TP_POLICY_ANY_ID, k->in->zone);
	if (!r->peers)
		return -EINVAL;
	for (i = 0; i < r->n_peers && !err; i++)
		err = kp_peer_sources(k, pol, &r->peers[i], egress);
	if (!err)
		err = kp_block_touches(k);
	if (err)
		return err;
	if (k->src.n)
		qsort(k->src.v, k->src.n, sizeof(*k->src.v), kp_src_cmp);
	for (i = 0; i < k->src.n; i++)
		if (!out || kp_src_cmp(&k->src.v[out - 1], &k->src.v[i]))
			k->src.v[out++] = k->src.v[i];
	k->src.n = out;
	return 0;
}

static bool kp_proto_ok(struct kp *k, __u8 proto)
{
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP)
		return true;
	if (proto == IPPROTO_SCTP)
		kp_warn(k,
			"SCTP ports are not enforced: that ports[] entry allows nothing");
	else
		kp_warn(k, "ports[] entry with protocol %u: skipped", proto);
	return false;
}

/*
 * Check rule @r's ports[] once (the warnings are per policy, not per
 * pod).  A skipped entry allows nothing; a rule whose entries are all
 * skipped allows nothing, unlike one without ports[] (every port).
 */
static int kp_rule_port_entries(struct kp *k, const struct tpd_kube_np_rule *r)
{
	const struct tpd_kube_np_port *p;
	struct kp_port_ent *pe;
	size_t i;

	k->pents.n = 0;
	if (r->n_ports && !r->ports)
		return -EINVAL;
	for (i = 0; i < r->n_ports; i++) {
		p = &r->ports[i];
		if (!kp_proto_ok(k, p->proto))
			continue;
		if (p->end_port && p->name) {
			kp_warn(k,
				"ports[] entry %s with endPort %u: invalid, skipped",
				p->name, p->end_port);
			continue;
		}
		if (p->end_port && (!p->port || p->end_port < p->port)) {
			kp_warn(k,
				"ports[] entry %u with endPort %u: invalid, skipped",
				p->port, p->end_port);
			continue;
		}
		if (kp_vec_room(&k->pents))
			return -ENOMEM;
		pe = &k->pents.v[k->pents.n++];
		memset(pe, 0, sizeof(*pe));
		pe->num.proto = p->proto;
		if (p->name) {
			pe->name = p->name;
			continue;
		}
		pe->num.lo = p->port;
		pe->num.hi = p->end_port ? p->end_port : p->port;
	}
	return 0;
}

static int kp_add_port(struct kp *k, __u8 proto, __u16 lo, __u16 hi)
{
	if (kp_vec_room(&k->ports))
		return -ENOMEM;
	k->ports.v[k->ports.n++] =
		(struct kp_port){ .proto = proto, .lo = lo, .hi = hi };
	return 0;
}

/* The port of @pod named @name for @proto, 0 when it has none. */
static __u16 kp_named_port(const struct tpd_kube_object *pod, const char *name,
			   __u8 proto)
{
	const struct tpd_kube_pod *p = &pod->pod;
	size_t i;

	for (i = 0; i < p->n_ports; i++)
		if (p->ports[i].name && p->ports[i].proto == proto &&
		    !strcmp(p->ports[i].name, name))
			return p->ports[i].port;
	return 0;
}

/*
 * A named port on the picked pods of identity @d: each number its pods
 * give it.  Pods without it add nothing (the API: the entry then allows
 * nothing there).  Several numbers are all allowed for the whole identity,
 * more than the policy says for each pod: a warning.
 */
static int kp_resolve_named(struct kp *k, const struct kp_sel *d,
			    const struct kp_port_ent *pe)
{
	__u16 port, seen = 0;
	size_t i;
	bool differ = false;
	int err;

	for (i = 0; i < d->n; i++) {
		port = kp_named_port(
			k->in->pods[k->dst.picked.v[d->first + i]].pod,
			pe->name, pe->num.proto);
		if (!port)
			continue;
		differ |= seen && port != seen;
		seen = port;
		err = kp_add_port(k, pe->num.proto, port, port);
		if (err)
			return err;
	}
	if (differ)
		kp_warn(k,
			"named port %s is a different number on pods of identity %u: each number is allowed on all of them",
			pe->name, d->id);
	return 0;
}

static int kp_port_cmp(const void *pa, const void *pb)
{
	const struct kp_port *a = pa, *b = pb;

	if (a->proto != b->proto)
		return (int)a->proto - (int)b->proto;
	if (a->lo != b->lo)
		return (int)a->lo - (int)b->lo;
	return (int)a->hi - (int)b->hi;
}

/*
 * The ports rule @r allows on identity @d, sorted, each once.  @egress:
 * @r is an egress rule, whose named ports are those of the destination
 * pods; a tailnet destination is no pod, so they allow nothing there.
 */
static int kp_dst_ports(struct kp *k, const struct tpd_kube_np_rule *r,
			const struct kp_sel *d, bool egress)
{
	size_t i, out = 0;
	int err = 0;

	k->ports.n = 0;
	if (!r->n_ports)
		return kp_add_port(k, 0, 0,
				   0); /* every port of every protocol */
	for (i = 0; i < k->pents.n && !err; i++) {
		if (k->pents.v[i].name && !egress)
			err = kp_resolve_named(k, d, &k->pents.v[i]);
		else if (k->pents.v[i].name)
			continue;
		else
			err = kp_add_port(k, k->pents.v[i].num.proto,
					  k->pents.v[i].num.lo,
					  k->pents.v[i].num.hi);
	}
	if (err)
		return err;
	if (k->ports.n)
		qsort(k->ports.v, k->ports.n, sizeof(*k->ports.v), kp_port_cmp);
	for (i = 0; i < k->ports.n; i++)
		if (!out || kp_port_cmp(&k->ports.v[out - 1], &k->ports.v[i]))
			k->ports.v[out++] = k->ports.v[i];
	k->ports.n = out;
	return 0;
}

/* A rule of isolated identity @group (its source when @egress). */
static int kp_add_rule(struct kp *k, bool egress, __u32 group, __u32 peer,
		       __u16 zone, const struct kp_port *p, __u8 verdict)
{
	__u32 src = egress ? group : peer, dst = egress ? peer : group;
	struct kp_rule *kr;
	struct tp_rule *r;

	if (kp_vec_room(&k->rules))
		return -ENOMEM;
	kr = &k->rules.v[k->rules.n++];
	memset(kr, 0, sizeof(*kr));
	kr->group = group;
	kr->egress = egress;
	r = &kr->r;
	r->src_id = src;
	r->dst_id = dst;
	r->zone = zone;
	r->proto = p->proto;
	r->verdict = verdict;
	/* 0-65535 is any port (docs/policy.md): one form for one match */
	if (p->lo || p->hi != 0xffff) {
		r->port_lo = p->lo;
		r->port_hi = p->hi;
	}
	r->owner = TP_OWNER_KUBERNETES;
	return 0;
}

/* Rule @r's ipBlocks apply to identity @id with the ports in k->ports. */
static int kp_add_grant(struct kp *k, __u32 id, bool egress, size_t pol)
{
	if (kp_vec_room(&k->grants) ||
	    kp_grow((void **)&k->gports.v, &k->gports.cap,
		    k->gports.n + k->ports.n + 1, sizeof(*k->gports.v)))
		return -ENOMEM;
	k->grants.v[k->grants.n++] = (struct kp_grant){
		.id = id,
		.egress = egress,
		.slot = k->slot,
		.ports = k->gports.n,
		.n_ports = k->ports.n,
		.pol = pol,
	};
	memcpy(&k->gports.v[k->gports.n], k->ports.v,
	       k->ports.n * sizeof(*k->ports.v));
	k->gports.n += k->ports.n;
	return 0;
}

/*
 * Rule @r of policy @pol: (peers) x (selected identities) x (their
 * ports), ingress (peers are sources) or @egress (they are destinations,
 * the selected identities sources: flows from a pod of this node to the
 * tailnet, whose source identity is the pod's, docs/policy.md,
 * Identities).  Peers from ipBlocks become grants, combined over every
 * rule in kp_emit_grants().
 */
static int kp_compile_rule(struct kp *k, size_t pol,
			   const struct tpd_kube_np_rule *r, bool egress)
{
	const struct kp_sel *d;
	const struct kp_src *p;
	size_t di, si, pi;
	int err;

	err = kp_rule_sources(k, k->pols[pol], r, egress);
	if (!err)
		err = kp_rule_port_entries(k, r);
	if (err || (!k->src.n && k->slot == KP_NO_SLOT))
		return err;
	for (di = 0; di < k->dst.sel.n && !err; di++) {
		d = &k->dst.sel.v[di];
		err = kp_dst_ports(k, r, d, egress);
		for (si = 0; si < k->src.n && !err; si++) {
			p = &k->src.v[si];
			for (pi = 0; pi < k->ports.n && !err; pi++)
				err = kp_add_rule(k, egress, d->id, p->id,
						  p->zone, &k->ports.v[pi],
						  TP_VERDICT_ALLOW);
		}
		if (!err && k->slot != KP_NO_SLOT && k->ports.n)
			err = kp_add_grant(k, d->id, egress, pol);
	}
	return err;
}

static void kp_set_policy(struct kp *k, const struct tpd_kube_object *pol)
{
	snprintf(k->policy, sizeof(k->policy), "%s/%s", kp_str(pol->meta.ns),
		 kp_str(pol->meta.name));
}

/*
 * Pass 1: which policies select something, for which direction, and the
 * warnings about what they select.
 */
static int kp_find_active(struct kp *k)
{
	const struct tpd_kube_object *pol;
	size_t i;
	int err;

	for (i = 0; i < k->in->n_policies; i++) {
		pol = k->pols[i];
		kp_set_policy(k, pol);
		if (!pol->np.ingress_type && !pol->np.egress_type)
			continue;
		if (!kp_selector_valid(&pol->np.pod_selector))
			kp_warn(k,
				"malformed podSelector: every pod of the namespace is isolated, and the policy allows nothing");
		if ((pol->np.n_ingress && !pol->np.ingress) ||
		    (pol->np.n_egress && !pol->np.egress))
			return -EINVAL;
		err = kp_pick_targets(k, pol);
		if (err)
			return err;
		if (k->dst.sel.n)
			k->active[i] = (pol->np.ingress_type ? KP_ACT_IN : 0) |
				       (pol->np.egress_type ? KP_ACT_EG : 0);
	}
	return 0;
}

static int kp_mark_isolated(struct kp *k, bool egress)
{
	size_t i;

	for (i = 0; i < k->dst.sel.n; i++) {
		if (egress ? kp_vec_room(&k->isolated_eg)
			   : kp_vec_room(&k->isolated))
			return -ENOMEM;
		if (egress)
			k->isolated_eg.v[k->isolated_eg.n++] =
				k->dst.sel.v[i].id;
		else
			k->isolated.v[k->isolated.n++] = k->dst.sel.v[i].id;
	}
	return 0;
}

/* Pass 2: the isolations and allow rules of every active policy. */
static int kp_compile_policies(struct kp *k)
{
	const struct tpd_kube_object *pol;
	unsigned int saved = k->warnings;
	void (*warn)(void *, const char *, const char *) = k->warn;
	size_t i, r, nb, nx;
	int err = 0;

	for (i = 0; i < k->in->n_policies && !err; i++) {
		if (!k->active[i])
			continue;
		pol = k->pols[i];
		kp_set_policy(k, pol);
		/* pass 1 warned about the targets already */
		k->warn = NULL;
		saved = k->warnings;
		err = kp_pick_targets(k, pol);
		k->warn = warn;
		k->warnings = saved;
		if (!err && (k->active[i] & KP_ACT_IN))
			err = kp_mark_isolated(k, false);
		if (!err && (k->active[i] & KP_ACT_EG))
			err = kp_mark_isolated(k, true);
		if (!kp_selector_valid(&pol->np.pod_selector))
			continue;
		k->blocks_over = kp_blocks_over(&pol->np, &nb, &nx);
		if (k->blocks_over)
			kp_warn(k,
				"%zu ipBlock peers with %zu excepts, over the limit of %d peers and %d excepts a policy may have: its ipBlock peers allow nothing",
				nb, nx, KP_MAX_POLICY_BLOCKS,
				KP_MAX_POLICY_EXCEPTS);
		for (r = 0; (k->active[i] & KP_ACT_IN) &&
			    r < pol->np.n_ingress && !err;
		     r++)
			err = kp_compile_rule(k, i, &pol->np.ingress[r], false);
		for (r = 0;
		     (k->active[i] & KP_ACT_EG) && r < pol->np.n_egress && !err;
		     r++)
			err = kp_compile_rule(k, i, &pol->np.egress[r], true);
	}
	return err;
}

/* ---- ipBlock grants -> rules ------------------------------------------------ */

/* Add ports @p (proto 0: everything; port 0-0: every port) to @s. */
static int kp_pset_add(struct kp_pset *s, const struct kp_port *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (kp_vec_room(s))
			return -ENOMEM;
		s->v[s->n] = p[i];
		if (p[i].proto && !p[i].lo && !p[i].hi)
			s->v[s->n].hi = 0xffff;
		s->n++;
	}
	return 0;
}

static bool kp_pset_all(const struct kp_pset *s)
{
	return s->n == 1 && !s->v[0].proto;
}

/* Sorted, overlapping and adjacent intervals merged; "everything" alone. */
static void kp_pset_norm(struct kp_pset *s)
{
	struct kp_port *last;
	size_t i, out = 0;

	for (i = 0; i < s->n; i++)
		if (!s->v[i].proto) {
			s->v[0] = (struct kp_port){ 0 };
			s->n = 1;
			return;
		}
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), kp_port_cmp);
	for (i = 0; i < s->n; i++) {
		last = out ? &s->v[out - 1] : NULL;
		if (last && last->proto == s->v[i].proto &&
		    (__u32)s->v[i].lo <= (__u32)last->hi + 1) {
			if (s->v[i].hi > last->hi)
				last->hi = s->v[i].hi;
			continue;
		}
		s->v[out++] = s->v[i];
	}
	s->n = out;
}

static int kp_pset_copy(struct kp_pset *dst, const struct kp_pset *src)
{
	dst->n = 0;
	return kp_pset_add(dst, src->v, src->n);
}

/* @a = @a and @b (both normalized), through @tmp. */
static int kp_pset_and(struct kp_pset *a, const struct kp_pset *b,
		       struct kp_pset *tmp)
{
	size_t i = 0, j = 0;
	__u16 lo, hi;

	if (kp_pset_all(b))
		return 0;
	if (kp_pset_all(a))
		return kp_pset_copy(a, b);
	tmp->n = 0;
	while (i < a->n && j < b->n) {
		if (a->v[i].proto != b->v[j].proto) {
			if (a->v[i].proto < b->v[j].proto)
				i++;
			else
				j++;
			continue;
		}
		lo = a->v[i].lo > b->v[j].lo ? a->v[i].lo : b->v[j].lo;
		hi = a->v[i].hi < b->v[j].hi ? a->v[i].hi : b->v[j].hi;
		if (lo <= hi) {
			if (kp_vec_room(tmp))
				return -ENOMEM;
			tmp->v[tmp->n++] = (struct kp_port){
				.proto = a->v[i].proto, .lo = lo, .hi = hi
			};
		}
		if (a->v[i].hi < b->v[j].hi)
			i++;
		else
			j++;
	}
	return kp_pset_copy(a, tmp);
}

/* Field by field: struct kp_port has padding, which memcmp() would read. */
static bool kp_pset_eq(const struct kp_pset *a, const struct kp_pset *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (kp_port_cmp(&a->v[i], &b->v[i]))
			return false;
	return true;
}

static int kp_tuple_cmp(const void *pa, const void *pb)
{
	const struct kp_tuple *a = pa, *b = pb;

	if (a->entry != b->entry)
		return a->entry < b->entry ? -1 : 1;
	return a->grant < b->grant ? -1 : a->grant > b->grant;
}

static int kp_grant_cmp(const void *pa, const void *pb)
{
	const struct kp_grant *a = pa, *b = pb;

	if (a->egress != b->egress)
		return a->egress ? 1 : -1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->slot < b->slot ? -1 : a->slot > b->slot;
}

/* Where each entry's identity starts in zone @z's by_id. */
static int kp_zone_runs(struct kp *k, const struct kp_zone *z)
{
	size_t e;

	if (kp_grow((void **)&k->run_lo.v, &k->run_lo.cap, z->by_id.n + 1,
		    sizeof(*k->run_lo.v)))
		return -ENOMEM;
	for (e = 0; e < z->by_id.n; e++)
		k->run_lo.v[e] = e && z->by_id.v[e].id == z->by_id.v[e - 1].id
					 ? k->run_lo.v[e - 1]
					 : e;
	return 0;
}

/*
 * The ports one identity of zone @zi gets from grants g[0..n) of one
 * selected identity: a port every one of its entries is granted (each
 * by some rule whose blocks hold it), the tuples t[0..nt) being the
 * touches of its entries [lo, hi).  Returns in k->pa; k->pu holds what
 * some entry is granted, *@partial whether an entry is held in part.
 */
static int kp_identity_ports(struct kp *k, const struct kp_grant *g,
			     const struct kp_tuple *t, size_t nt, size_t lo,
			     size_t hi, bool *partial)
{
	size_t e, x = 0;
	int err = 0;

	k->pa.n = 0;
	k->pu.n = 0;
	*partial = false;
	for (e = lo; e < hi && !err; e++) {
		k->ps.n = 0;
		for (; x < nt && t[x].entry == e && !err; x++) {
			if (t[x].in)
				err = kp_pset_add(
					&k->ps,
					&k->gports.v[g[t[x].grant].ports],
					g[t[x].grant].n_ports);
			else
				*partial = true;
		}
		kp_pset_norm(&k->ps);
		if (!err)
			err = kp_pset_add(&k->pu, k->ps.v, k->ps.n);
		if (!err)
			err = e == lo ? kp_pset_copy(&k->pa, &k->ps)
				      : kp_pset_and(&k->pa, &k->ps, &k->pt);
	}
	kp_pset_norm(&k->pu);
	return err;
}

/*
 * The rules of the grants g[0..n) of one selected identity in zone @zi:
 * each identity some of whose entries the grants' blocks hold gets the
 * ports all of its entries are granted.  Rules are per identity, so an
 * identity with addresses inside and outside cannot be allowed for some
 * of them only: it gets less than some of its addresses are granted
 * (fail closed), and that is a warning naming the first policy.
 */
static int kp_emit_zone_grants(struct kp *k, const struct kp_grant *g, size_t n,
			       size_t zi)
{
	const struct kp_zone *z = &k->zones.v[zi];
	__u16 zone = k->in->zone ? k->in->zone : z->zone;
	const struct kp_span *sp;
	const struct kp_tuple *t;
	size_t i, j, x, y, lo, hi;
	__u32 id, peer;
	bool partial;
	int err = 0;

	k->tuples.n = 0;
	for (i = 0; i < n; i++) {
		sp = &k->spans.v[g[i].slot * k->zones.n + zi];
		for (j = 0; j < sp->n; j++) {
			if (kp_vec_room(&k->tuples))
				return -ENOMEM;
			k->tuples.v[k->tuples.n++] = (struct kp_tuple){
				.entry = k->touches.v[sp->first + j].entry,
				.grant = i,
				.in = k->touches.v[sp->first + j].in,
			};
		}
	}
	if (!k->tuples.n)
		return 0;
	qsort(k->tuples.v, k->tuples.n, sizeof(*k->tuples.v), kp_tuple_cmp);
	err = kp_zone_runs(k, z);
	t = k->tuples.v;
	for (x = 0; x < k->tuples.n && !err; x = y) {
		lo = k->run_lo.v[t[x].entry];
		peer = z->by_id.v[lo].id;
		for (hi = lo; hi < z->by_id.n && z->by_id.v[hi].id == peer;
		     hi++)
			;
		for (y = x; y < k->tuples.n && t[y].entry < hi; y++)
			;
		err = kp_identity_ports(k, g, &t[x], y - x, lo, hi, &partial);
		id = g[0].id;
		for (i = 0; i < k->pa.n && !err; i++)
			err = kp_add_rule(k, g[0].egress, id, peer, zone,
					  &k->pa.v[i], TP_VERDICT_ALLOW);
		if (err || (!partial && kp_pset_eq(&k->pa, &k->pu)))
			continue;
		kp_set_policy(k, k->pols[g[t[x].grant].pol]);
		kp_warn(k,
			"tailnet identity %u of zone %u is only partly inside the ipBlocks %s identity %u: it gets only the ports all of its addresses are allowed",
			peer, z->zone,
			g[0].egress ? "allowed from" : "allowed to", id);
	}
	return err;
}

/* The ipBlock allows of every rule, per selected identity and zone. */
static int kp_emit_grants(struct kp *k)
{
	size_t i, j, zi;
	int err = 0;

	if (k->grants.n)
		qsort(k->grants.v, k->grants.n, sizeof(*k->grants.v),
		      kp_grant_cmp);
	for (i = 0; i < k->grants.n && !err; i = j) {
		for (j = i; j < k->grants.n &&
			    k->grants.v[j].id == k->grants.v[i].id &&
			    k->grants.v[j].egress == k->grants.v[i].egress;
		     j++)
			;
		for (zi = 0; zi < k->zones.n && !err; zi++)
			err = kp_emit_zone_grants(k, &k->grants.v[i], j - i,
						  zi);
	}
	return err;
}

static int kp_u32_cmp(const void *pa, const void *pb)
{
	__u32 a = *(const __u32 *)pa, b = *(const __u32 *)pb;

	return a < b ? -1 : a > b;
}

/*
 * The default deny of every isolated identity P: (any source, P, the
 * rules' zone, any protocol, any port).  Why every allow above beats it,
 * in docs/policy.md's order (identities named, then protocol/port bits,
 * then zone; deny wins only a full tie):
 *  - an allow naming its source names 2 identities, the deny 1: it wins
 *    whatever its ports and zone (ipBlock allows may name one zone where
 *    the deny names any: the identities decide first);
 *  - an allow from any source names 1, as the deny; with a protocol it
 *    fixes 8 bits (any port) or 16 + n (ports), the deny 0: it wins;
 *  - an allow from any source, any protocol, is the deny's own match,
 *    same zone included, and would lose the tie: that is the policy
 *    allowing everything from everywhere, so the merge keeps the allow
 *    and the deny is not written at all (kp_merge_rules()).
 * Rules are written with the same zone (in->zone) for both kinds, except
 * the ipBlock ones, which name a source.
 *
 * Egress is the mirror image: the default deny of an egress-isolated
 * identity P is (P, any destination, zone, any, any), and an allow names
 * P and either a destination (2 identities) or ports (8 or 16 + n bits),
 * or is the deny's own match (P to anywhere, everything): merged the same
 * way.  The two kinds never meet: an ingress rule names a pod as
 * destination, and a flow to the tailnet never has one (its destination
 * identity is the tailnet zone's); an egress rule names a pod as source,
 * and a flow from the tailnet never has one (its source identity is the
 * tailnet zone's).
 */
static int kp_emit_denies(struct kp *k)
{
	static const struct kp_port any = { 0 };
	size_t i;
	int err = 0;

	if (k->isolated.n)
		qsort(k->isolated.v, k->isolated.n, sizeof(*k->isolated.v),
		      kp_u32_cmp);
	for (i = 0; i < k->isolated.n && !err; i++)
		if (!i || k->isolated.v[i] != k->isolated.v[i - 1])
			err = kp_add_rule(k, false, k->isolated.v[i],
					  TP_POLICY_ANY_ID, k->in->zone, &any,
					  TP_VERDICT_DENY);
	if (k->isolated_eg.n)
		qsort(k->isolated_eg.v, k->isolated_eg.n,
		      sizeof(*k->isolated_eg.v), kp_u32_cmp);
	for (i = 0; i < k->isolated_eg.n && !err; i++)
		if (!i || k->isolated_eg.v[i] != k->isolated_eg.v[i - 1])
			err = kp_add_rule(k, true, k->isolated_eg.v[i],
					  TP_POLICY_ANY_ID, k->in->zone, &any,
					  TP_VERDICT_DENY);
	return err;
}

/* By destination, source, zone, protocol, ports; allow before deny. */
/* By match (destination, source, zone, protocol, ports); allow first. */
static int kp_rule_cmp(const void *pa, const void *pb)
{
	const struct tp_rule *a = &((const struct kp_rule *)pa)->r;
	const struct tp_rule *b = &((const struct kp_rule *)pb)->r;

	if (a->dst_id != b->dst_id)
		return a->dst_id < b->dst_id ? -1 : 1;
	if (a->src_id != b->src_id)
		return a->src_id < b->src_id ? -1 : 1;
	if (a->zone != b->zone)
		return (int)a->zone - (int)b->zone;
	if (a->proto != b->proto)
		return (int)a->proto - (int)b->proto;
	if (a->port_lo != b->port_lo)
		return (int)a->port_lo - (int)b->port_lo;
	if (a->port_hi != b->port_hi)
		return (int)a->port_hi - (int)b->port_hi;
	return (int)a->verdict - (int)b->verdict; /* ALLOW (1) < DENY (2) */
}

static bool kp_same_match(const struct tp_rule *a, const struct tp_rule *b)
{
	return a->dst_id == b->dst_id && a->src_id == b->src_id &&
	       a->zone == b->zone && a->proto == b->proto &&
	       a->port_lo == b->port_lo && a->port_hi == b->port_hi;
}

/* By isolated identity, ingress before egress, allows before the deny. */
static int kp_rule_out_cmp(const void *pa, const void *pb)
{
	const struct kp_rule *a = pa, *b = pb;

	if (a->group != b->group)
		return a->group < b->group ? -1 : 1;
	if (a->egress != b->egress)
		return a->egress ? 1 : -1;
	if (a->r.verdict != b->r.verdict)
		return a->r.verdict == TP_VERDICT_DENY ? 1 : -1;
	return kp_rule_cmp(pa, pb);
}

/*
 * One rule per match.  Rules of one match are allows from several
 * policies (the same) or an allow-everything and the default deny of its
 * identity: NetworkPolicy is a union of allows, so the allow stays (it
 * sorts first).
 *
 * Then grouped by isolated identity, each group's allows before its
 * deny: a writer going through the rules in order never makes a pod
 * isolated before what it allows is written (adding a policy drops none
 * of the traffic it allows, even for the moment between two writes),
 * and one stopping at an error (a full map) leaves the pods it did not
 * reach as they were.
 */
static void kp_merge_rules(struct kp *k)
{
	size_t i, out = 0;

	if (!k->rules.n)
		return;
	qsort(k->rules.v, k->rules.n, sizeof(*k->rules.v), kp_rule_cmp);
	for (i = 0; i < k->rules.n; i++)
		if (!out ||
		    !kp_same_match(&k->rules.v[out - 1].r, &k->rules.v[i].r))
			k->rules.v[out++] = k->rules.v[i];
	k->rules.n = out;
	qsort(k->rules.v, k->rules.n, sizeof(*k->rules.v), kp_rule_out_cmp);
}

/* The output: the rules alone. */
static int kp_out_rules(struct kp *k, struct tpd_kube_policy_out *out)
{
	size_t i;

	out->rules = calloc(k->rules.n + 1, sizeof(*out->rules));
	if (!out->rules)
		return -ENOMEM;
	for (i = 0; i < k->rules.n; i++)
		out->rules[i] = k->rules.v[i].r;
	out->n_rules = k->rules.n;
	return 0;
}

static int kp_ident_cmp(const void *pa, const void *pb)
{
	const struct tp_ident_entry *a = pa, *b = pb;
	int c;

	if (a->zone != b->zone)
		return (int)a->zone - (int)b->zone;
	c = memcmp(a->prefix.b, b->prefix.b, sizeof(a->prefix.b));
	if (c)
		return c;
	if (a->plen != b->plen)
		return (int)a->plen - (int)b->plen;
	return a->id < b->id ? -1 : a->id > b->id;
}

static void kp_sort_idents(struct kp *k)
{
	size_t i, out = 0;

	if (k->idents.n)
		qsort(k->idents.v, k->idents.n, sizeof(*k->idents.v),
		      kp_ident_cmp);
	for (i = 0; i < k->idents.n; i++)
		if (!out ||
		    kp_ident_cmp(&k->idents.v[out - 1], &k->idents.v[i]))
			k->idents.v[out++] = k->idents.v[i];
	k->idents.n = out;
}

static void kp_free(struct kp *k)
{
	size_t i;

	free(k->pols);
	free(k->active);
	free(k->pods);
	free(k->nss);
	free(k->runs.v);
	for (i = 0; i < k->zones.n; i++) {
		free(k->zones.v[i].by_prefix.v);
		free(k->zones.v[i].by_id.v);
	}
	free(k->zones.v);
	free(k->pfx.v);
	free(k->dst.sel.v);
	free(k->dst.picked.v);
	free(k->src.v);
	free(k->blocks.v);
	free(k->ex.v);
	free(k->ex_top.v);
	free(k->touches.v);
	free(k->spans.v);
	free(k->grants.v);
	free(k->gports.v);
	free(k->tuples.v);
	free(k->run_lo.v);
	free(k->ps.v);
	free(k->pa.v);
	free(k->pu.v);
	free(k->pt.v);
	free(k->pents.v);
	free(k->ports.v);
	free(k->isolated.v);
	free(k->isolated_eg.v);
	free(k->rules.v);
	free(k->idents.v);
}

static int kp_run(struct kp *k)
{
	int err = kp_check_input(k);

	if (!err)
		err = kp_index_inputs(k);
	if (!err)
		err = kp_find_active(k);
	if (!err)
		err = kp_collect_prefixes(k);
	if (err)
		return err;
	kp_dedup_prefixes(k);
	err = kp_make_zones(k);
	if (!err)
		err = kp_fill_zones(k);
	if (!err)
		err = kp_place_prefixes(k);
	if (!err)
		err = kp_compile_policies(k);
	if (!err)
		err = kp_emit_grants(k);
	if (!err)
		err = kp_emit_denies(k);
	if (err)
		return err;
	kp_merge_rules(k);
	kp_sort_idents(k);
	return 0;
}

/**
 * tpd_kube_policy_compile() - compile NetworkPolicies into rules and the
 * identity entries their ipBlocks need.
 * @in:       policies, pods with identities, namespaces, tailnet entries.
 * @out:      the result, for tpd_kube_policy_free(); zeroed on error.
 * @warn:     called with "namespace/name" and a sentence for each part of
 *            a policy that is not enforced, or not exactly (may be NULL).
 * @warn_ctx: passed to @warn.
 *
 * A pure function of @in and of what @in->alloc_id answers (asked once
 * per ipBlock prefix that needs an identity, in prefix order): the same
 * input in any order gives the same rules, identities and warnings.
 * docs/policy.md ("Kubernetes NetworkPolicy") says what is enforced.
 *
 * Return: 0, -EINVAL when the input is malformed (a NULL array, an object
 * of another kind, a pod without identity), or -ENOMEM.
 */
int tpd_kube_policy_compile(const struct tpd_kube_policy_in *in,
			    struct tpd_kube_policy_out *out,
			    void (*warn)(void *ctx, const char *policy,
					 const char *what),
			    void *warn_ctx)
{
	struct kp k = { .in = in, .warn = warn, .warn_ctx = warn_ctx };
	int err;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!in)
		return -EINVAL;
	err = kp_run(&k);
	if (!err)
		err = kp_out_rules(&k, out);
	if (!err) {
		out->idents = k.idents.v;
		out->n_idents = k.idents.n;
		out->warnings = k.warnings;
		k.idents.v = NULL;
	}
	kp_free(&k);
	return err;
}

/**
 * tpd_kube_policy_free() - free what tpd_kube_policy_compile() produced.
 * @out: the result; zeroed.
 */
void tpd_kube_policy_free(struct tpd_kube_policy_out *out)
{
	if (!out)
		return;
	free(out->rules);
	free(out->idents);
	memset(out, 0, sizeof(*out));
}
