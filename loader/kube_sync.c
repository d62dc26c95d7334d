// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kubernetes objects -> map entries (kube_sync.h).  Each reconcile reads
 * what it needs from the store under the store's lock (the client's
 * thread waits meanwhile), lets go of it, and then writes the maps:
 *
 *   Services + EndpointSlices -> frontends and backends, one tp_svc_batch
 *       per reconcile (one Maglev rebuild per service);
 *   Pods -> identities (namespace + labels) and pod address entries in
 *       zone 0, and static NAT entries of local pods' tailnet addresses;
 *   NetworkPolicy -> rules and CIDR identities (kube_policy.c compiles).
 *
 * What it wrote is remembered per object, so an incremental reconcile
 * touches only what changed.  A full reconcile (the first after the
 * store's first full picture, e.g. after a restart) diffs everything
 * against what TP_OWNER_KUBERNETES has in the maps: what the last loader
 * wrote and nothing wants any more goes, what is already right is not
 * written again.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "array.h"
#include "identity.h"
#include "idalloc.h"
#include "kube_policy.h"
#include "kube_sync.h"
#include "log.h"
#include "names.h"
#include "policy.h"
#include "service.h"
#include "sha256.h"
#include "static_nat.h"

/* One service frontend as the objects want it. */
struct ks_fe {
	struct tp_svc_key key;
	struct tp_svc_spec spec;
	struct tp_backend_spec *be;
	size_t n_be;
};

/* A dirty Service: its key and wanted frontends (none: it went). */
struct ks_svc_want {
	char *key;
	struct ks_fe *fe;
	size_t n_fe;
};

/* What the sync wrote for a Service: the frontends it holds. */
struct ks_svc {
	struct tp_svc_key *keys;
	size_t n;
	size_t n_be;
};

/* A static NAT entry of a pod. */
struct ks_nat {
	bool has;
	struct tp_addr tailnet, inner;
};

/* A pod as wanted, and (in sync->pods) as written. */
struct ks_pod {
	char *key;
	char *name; /* its identity's, pooled (tpd_kube_str_intern()) */
	__u32 id;
	struct tp_addr *ips;
	size_t n_ips;
	struct ks_nat nat; /* wanted */
	bool nat_written;  /* the entry of @nat is ours in the map */
};

/* An identity the sync allocated, by name. */
struct ks_ident {
	__u32 id;
	unsigned long refs;
};

struct tpd_kube_sync {
	struct tpd_kube_cfg cfg; /* scalars; @node is its node_name */
	char node[256];
	struct tpd_kube_store *store;
	struct tpd_purge *udp, *tcp;
	__u64 now_s;
	bool full_done;
	bool lost_track; /* out of memory on the way: the next run is a full one */
	struct tpd_kh svcs;	 /* "ns/name" -> struct ks_svc */
	struct tpd_kh fe_holder; /* struct tp_svc_key -> "ns/name" (strdup) */
	struct tpd_kh pods;	 /* "ns/name" -> struct ks_pod (written) */
	struct tpd_kh ip_owner;	 /* struct tp_addr -> struct ks_pod */
	struct tpd_kh idents;	 /* name -> struct ks_ident */
	struct tpd_kh retry; /* "ns/name" of pods that lost an address or NAT */
	struct tpd_kh freed; /* addresses given up since the retry */
	__u32 policy_rev;    /* tp_config.policy_rev after the last run */
	char **pol_names;    /* names the last policy compile asked for */
	size_t n_pol_names;
	bool pol_active; /* the last compile wrote rules or CIDR entries */
	struct tpd_kube_sync_stats st;
	/* scratch for one frontend */
	__u32 old_ids[TP_MAX_SVC_BACKENDS];
	struct tp_backend old_bes[TP_MAX_SVC_BACKENDS];
};

/* ---- results ---------------------------------------------------------------- */

/* Count an error of @res; the first one is kept as text. */
#define ks_error(res, ...)                                                 \
	tpd_note_error(&(res)->errors, (res)->error, sizeof((res)->error), \
		       __VA_ARGS__)

/*
 * Whether @a may be a host's own address: not unspecified, loopback,
 * link-local, multicast or (IPv4) broadcast and reserved.
 */
static bool ks_addr_unicast(const struct tp_addr *a)
{
	const __u8 *b = a->b;
	int i;

	if (tp_addr_is_v4(a)) {
		b += 12;
		return b[0] && b[0] != 127 && b[0] < 224 &&
		       !(b[0] == 169 && b[1] == 254);
	}
	if (b[0] == 0xff || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80))
		return false;
	for (i = 0; i < 15; i++)
		if (b[i])
			return true;
	return b[15] > 1; /* :: and ::1 */
}

/* ---- pod identities ------------------------------------------------------------ */

/*
 * Labels that change with every rollout or pod and say nothing about what
 * the pod is: with them, each ReplicaSet or pod would be an identity of
 * its own.  docs/kubernetes.md lists them.
 */
static const char *const ks_churn_labels[] = {
	"pod-template-hash",
	"controller-revision-hash",
	"statefulset.kubernetes.io/pod-name",
	"apps.kubernetes.io/pod-index",
	"batch.kubernetes.io/controller-uid",
	"controller-uid",
	"batch.kubernetes.io/job-name",
	"job-name",
};

/** tpd_kube_label_filtered() - whether a pod label is left out of its identity. */
bool tpd_kube_label_filtered(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(ks_churn_labels) / sizeof(ks_churn_labels[0]);
	     i++)
		if (!strcmp(key, ks_churn_labels[i]))
			return true;
	return false;
}

/**
 * tpd_kube_pod_identity_name() - the identity name of a pod's label set.
 * @pod: a Pod (labels sorted by key, as the decoder delivers them).
 * @buf: where, at least TP_IDENTITY_NAME_LEN.
 * @len: its room.
 *
 * "k8s:NAMESPACE:HASH": the namespace (cut to fit) for people, and 16 hex
 * digits of SHA-256 over the namespace and every label but the
 * high-churn ones ("ns\0key=value\0key=value\0..."), which tells label
 * sets apart.  A cryptographic hash, because the name is the identity:
 * with FNV-1a a tenant who may label pods in a namespace sharing the
 * first characters of another's could compute labels giving that
 * namespace's name, and its identity.  64 bits of SHA-256 leave a second
 * preimage at 2^64 work.  The same label set gives the same name on every
 * node and across restarts.
 *
 * Return: 0, or -EINVAL when @len is too small.
 */
int tpd_kube_pod_identity_name(const struct tpd_kube_object *pod, char *buf,
			       size_t len)
{
	const char *ns = pod->meta.ns ? pod->meta.ns : "";
	int room = TP_IDENTITY_NAME_LEN - 1 - 4 - 1 - 16;
	uint8_t md[TPD_SHA256_LEN];
	struct tpd_sha256 ctx;
	size_t i;

	if (len < TP_IDENTITY_NAME_LEN)
		return -EINVAL;
	tpd_sha256_init(&ctx);
	tpd_sha256_update(&ctx, ns, strlen(ns) + 1);
	for (i = 0; i < pod->meta.n_labels; i++) {
		const struct tpd_kube_label *l = &pod->meta.labels[i];
		const char *v = l->value ? l->value : "";

		if (tpd_kube_label_filtered(l->key))
			continue;
		tpd_sha256_update(&ctx, l->key, strlen(l->key));
		tpd_sha256_update(&ctx, "=", 1);
		tpd_sha256_update(&ctx, v, strlen(v) + 1);
	}
	tpd_sha256_final(&ctx, md);
	snprintf(buf, len, "k8s:%.*s:%02x%02x%02x%02x%02x%02x%02x%02x", room,
		 ns, md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7]);
	return 0;
}

static int ks_id_used(void *ctx, __u32 id)
{
	const struct tp_maps *m = ctx;
	struct tp_identity_name v;

	return tp_map_has(m->id_names, &id, &v);
}

/*
 * The identity of @name, one more reference to it: the one the source
 * already uses, else the one tp_id_names gives the name (a restart),
 * else a new one.  0 when it cannot be had (counted in @res).
 */
static __u32 ks_ident_get(struct tpd_kube_sync *s, const struct tp_maps *m,
			  const char *name, struct tpd_kube_sync_result *res)
{
	struct ks_ident *ki = tpd_kh_sget(&s->idents, name);
	struct tp_identity_name v;
	char why[256];
	__u32 id;
	int err;

	if (ki) {
		ki->refs++;
		return ki->id;
	}
	if (!tp_identity_parse(m, name, &id)) {
		if (bpf_map_lookup_elem(m->id_names, &id, &v) ||
		    v.owner != TP_OWNER_KUBERNETES) {
			res->conflicts++;
			log_warn(
				"kubernetes: identity name held by another owner, left to it",
				"name", name);
			return 0;
		}
	} else {
		err = tp_id_alloc(TPD_KUBE_ID_MIN, TPD_KUBE_ID_MAX, ks_id_used,
				  (void *)m, &id);
		if (!err)
			err = tp_identity_name_set(m, id, name,
						   TP_OWNER_KUBERNETES);
		if (err) {
			ks_error(res, "identity %s not allocated: %s", name,
				 tp_strerror(err, why, sizeof(why)));
			return 0;
		}
		res->id_added++;
	}
	ki = calloc(1, sizeof(*ki));
	if (!ki || !tpd_kh_put(&s->idents, name, strlen(name), ki)) {
		free(ki);
		ks_error(res, "identity %s: out of memory", name);
		return 0;
	}
	ki->id = id;
	ki->refs = 1;
	return id;
}

/* One reference less to @name; the identity is freed with the last. */
static void ks_ident_put(struct tpd_kube_sync *s, const struct tp_maps *m,
			 const char *name, struct tpd_kube_sync_result *res)
{
	struct ks_ident *ki = tpd_kh_sget(&s->idents, name);

	if (!ki || --ki->refs)
		return;
	if (!tp_identity_name_del(m, ki->id))
		res->id_freed++;
	tpd_kh_del(&s->idents, name, strlen(name), NULL);
	free(ki);
}

/* ---- services: what the objects want ------------------------------------------- */

static bool ks_svc_exposed(const struct tpd_kube_sync *s,
			   const struct tpd_kube_object *o)
{
	if (o->svc.type == TPD_KUBE_SVC_EXTERNALNAME || o->svc.headless)
		return false;
	if (s->cfg.expose == TPD_KUBE_EXPOSE_ANNOTATED)
		return o->meta.ann_expose &&
		       !strcmp(o->meta.ann_expose, "true");
	return true;
}

/* The slice port that serves service port @sp: the same name and protocol. */
static const struct tpd_kube_ep_port *
ks_slice_port(const struct tpd_kube_object *sl,
	      const struct tpd_kube_svc_port *sp)
{
	size_t i;

	for (i = 0; i < sl->slice.n_ports; i++) {
		const struct tpd_kube_ep_port *p = &sl->slice.ports[i];

		if (!strcmp(p->name ? p->name : "", sp->name ? sp->name : "") &&
		    p->proto == sp->proto)
			return p;
	}
	return NULL;
}

/* Add @b to @fe unless it is there; the better state wins a duplicate. */
static void ks_fe_add_backend(struct ks_fe *fe, const struct tp_backend_spec *b)
{
	size_t i;

	for (i = 0; i < fe->n_be; i++) {
		if (fe->be[i].port == b->port &&
		    !memcmp(&fe->be[i].addr, &b->addr, sizeof(b->addr))) {
			if (b->state == TP_BACKEND_ACTIVE)
				fe->be[i].state = TP_BACKEND_ACTIVE;
			return;
		}
	}
	fe->be[fe->n_be++] = *b;
}

/* An endpoint's state: ready active, serving and terminating terminating. */
static int ks_ep_state(const struct tpd_kube_endpoint *ep)
{
	if (ep->ready)
		return TP_BACKEND_ACTIVE;
	if (ep->serving && ep->terminating)
		return TP_BACKEND_TERMINATING;
	return -1;
}

static int ks_be_cmp(const void *a, const void *b)
{
	const struct tp_backend_spec *x = a, *y = b;

	/* active first, so a cap keeps those that take new flows */
	if (x->state != y->state)
		return x->state < y->state ? -1 : 1;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr))
		       ?: (int)x->port - (int)y->port;
}

/*
 * The backends of frontend @fe (VIP family, service port @sp) from the
 * slices; @local_only: this node's endpoints only (the traffic policy of
 * the frontend's kind is Local: nothing is sent to another node, so
 * nothing is source-translated and the client's address is kept).
 */
static int ks_fe_backends(const struct tpd_kube_sync *s, struct ks_fe *fe,
			  const struct tpd_kube_svc_port *sp,
			  const struct tpd_kube_object *const *slices,
			  size_t n_slices, bool local_only,
			  unsigned int *capped)
{
	enum tpd_kube_addr_type fam = tp_addr_is_v4(&fe->key.vip)
					      ? TPD_KUBE_ADDR_IPV4
					      : TPD_KUBE_ADDR_IPV6;
	size_t i, j, k, total = 0;
	struct tp_backend_spec b;

	for (i = 0; i < n_slices; i++)
		for (j = 0; j < slices[i]->slice.n_endpoints; j++)
			total += slices[i]->slice.endpoints[j].n_addrs;
	fe->be = calloc(total + 1, sizeof(*fe->be));
	if (!fe->be)
		return -ENOMEM;
	for (i = 0; i < n_slices; i++) {
		const struct tpd_kube_object *sl = slices[i];
		const struct tpd_kube_ep_port *p;
		__u16 port;

		if (sl->slice.addr_type != fam || !(p = ks_slice_port(sl, sp)))
			continue;
		/* a slice port without a number (all ports): the target port */
		port = p->port		 ? p->port
		       : sp->target_port ? sp->target_port
					 : sp->port;
		for (j = 0; j < sl->slice.n_endpoints; j++) {
			const struct tpd_kube_endpoint *ep =
				&sl->slice.endpoints[j];
			int state = ks_ep_state(ep);

			if (state < 0)
				continue;
			if (local_only &&
			    (!ep->node_name || strcmp(ep->node_name, s->node)))
				continue;
			for (k = 0; k < ep->n_addrs; k++) {
				if (tp_addr_is_v4(&ep->addrs[k]) !=
					    (fam == TPD_KUBE_ADDR_IPV4) ||
				    !ks_addr_unicast(&ep->addrs[k]))
					continue;
				b = (struct tp_backend_spec){
					.addr = ep->addrs[k],
					.port = htons(port),
					.weight = 1,
					.state = state
				};
				ks_fe_add_backend(fe, &b);
			}
		}
	}
	qsort(fe->be, fe->n_be, sizeof(*fe->be), ks_be_cmp);
	if (fe->n_be > TP_MAX_SVC_BACKENDS) {
		(*capped)++;
		fe->n_be = TP_MAX_SVC_BACKENDS;
	}
	return 0;
}

static void ks_fes_free(struct ks_fe *fe, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(fe[i].be);
	free(fe);
}

/*
 * Every frontend Service @o wants, with its backends (store locked).  A
 * Service wanting more than "max_frontends_per_service" gets none, not
 * the first few: a partial set would serve some ports and silently drop
 * the rest, while none is plain to see (the warning, the counter) and is
 * tried again whenever the Service changes (it is dirty then) and at
 * every full reconcile.  @over counts such Services.
 */
static int ks_svc_desired(const struct tpd_kube_sync *s, const char *key,
			  const struct tpd_kube_object *o,
			  struct ks_svc_want *w, unsigned int *capped,
			  unsigned int *over)
{
	size_t max = s->cfg.max_frontends ?: TPD_KUBE_MAX_FRONTENDS_DEFAULT;
	const struct tpd_kube_object *const *slices;
	size_t n_vips, n_slices, n_ports = 0, v, p;
	const struct tp_addr *vip;
	struct ks_fe *fe;
	int err;

	w->fe = NULL;
	w->n_fe = 0;
	if (!o || !ks_svc_exposed(s, o))
		return 0;
	n_vips = o->svc.n_cluster_ips;
	if (s->cfg.expose_lb_ips && o->svc.type == TPD_KUBE_SVC_LOADBALANCER)
		n_vips += o->svc.n_lb_ips;
	for (p = 0; p < o->svc.n_ports; p++)
		n_ports += o->svc.ports[p].proto == IPPROTO_TCP ||
			   o->svc.ports[p].proto == IPPROTO_UDP;
	if (n_vips * n_ports > max) {
		log_warn(
			"kubernetes service: more frontends (ports x addresses) than "
			"max_frontends_per_service; none made",
			"service", key, "frontends",
			log_fmt("%zu", n_vips * n_ports), "limit",
			log_fmt("%zu", max));
		(*over)++;
		return 0;
	}
	w->fe = calloc(n_vips * o->svc.n_ports + 1, sizeof(*w->fe));
	if (!w->fe)
		return -ENOMEM;
	slices = tpd_kube_store_slices(s->store, key, &n_slices);
	for (v = 0; v < n_vips; v++) {
		/* ClusterIPs: internalTrafficPolicy; LB IPs: externalTrafficPolicy */
		bool lb = v >= o->svc.n_cluster_ips;
		bool local_only =
			lb ? o->svc.external_local : o->svc.internal_local;

		vip = lb ? &o->svc.lb_ips[v - o->svc.n_cluster_ips]
			 : &o->svc.cluster_ips[v];
		for (p = 0; p < o->svc.n_ports; p++) {
			const struct tpd_kube_svc_port *sp = &o->svc.ports[p];

			if (sp->proto != IPPROTO_TCP &&
			    sp->proto != IPPROTO_UDP)
				continue; /* SCTP: the datapath has no SCTP services */
			fe = &w->fe[w->n_fe];
			fe->key = (struct tp_svc_key){ .vip = *vip,
						       .port = htons(sp->port),
						       .proto = sp->proto };
			fe->spec = (struct tp_svc_spec){
				.zone = s->cfg.zone,
				.owner = TP_OWNER_KUBERNETES
			};
			if (o->svc.affinity_client_ip) {
				fe->spec.flags |= TP_SVC_F_AFFINITY;
				fe->spec.affinity_timeout =
					o->svc.affinity_timeout;
			}
			err = ks_fe_backends(s, fe, sp, slices, n_slices,
					     local_only, capped);
			if (err)
				return err;
			w->n_fe++;
		}
	}
	return 0;
}

/* ---- services: writing them -------------------------------------------------------- */

/* Queue the purge of the flows of a backend of @key that went. */
static void ks_purge_backend(struct tpd_kube_sync *s,
			     const struct tp_svc_key *key, __u32 id,
			     const struct tp_backend *be,
			     struct tpd_kube_sync_result *res)
{
	int err;

	if (key->proto == IPPROTO_UDP)
		err = tpd_purge_add(s->udp, id, be);
	else if (key->proto == IPPROTO_TCP && s->cfg.tcp_grace)
		err = tpd_purge_add_later(s->tcp, id, be,
					  s->now_s + s->cfg.tcp_grace);
	else if (key->proto == IPPROTO_TCP)
		err = tpd_purge_add(s->tcp, id, be);
	else
		return;
	if (err)
		log_error(
			"out of memory: flows of a removed backend stay until they time out");
	else
		res->be_purged++;
}

static bool ks_fe_unchanged(const struct tp_svc *svc, const struct ks_fe *fe,
			    const struct tp_backend *old, int n_old)
{
	size_t i;
	int j;

	if ((size_t)n_old != fe->n_be || svc->flags != fe->spec.flags ||
	    svc->zone != fe->spec.zone ||
	    svc->affinity_timeout != fe->spec.affinity_timeout)
		return false;
	for (i = 0; i < fe->n_be; i++) {
		for (j = 0; j < n_old; j++)
			if (old[j].port == fe->be[i].port &&
			    old[j].state == fe->be[i].state &&
			    old[j].weight == fe->be[i].weight &&
			    !memcmp(&old[j].addr, &fe->be[i].addr,
				    sizeof(old[j].addr)))
				break;
		if (j == n_old)
			return false;
	}
	return true;
}

/*
 * Make frontend @fe what it wants (staged in @b).  Return: 1 when the
 * source holds it now, 0 when another owner does or it was not written.
 */
static int ks_fe_apply(struct tpd_kube_sync *s, const struct tp_maps *m,
		       struct tp_svc_batch *b, const char *svc_key,
		       const struct ks_fe *fe, struct tpd_kube_sync_result *res)
{
	const char *holder =
		tpd_kh_get(&s->fe_holder, &fe->key, sizeof(fe->key));
	char name[TP_SVC_STRLEN], why[256];
	struct tp_svc svc;
	int n_old = 0, err;
	bool exists;
	size_t i;
	int j;

	if (holder && strcmp(holder, svc_key)) {
		/* a shared LoadBalancer IP, or one equal to a ClusterIP */
		tp_svc_key_format(&fe->key, name, sizeof(name));
		log_warn(
			"kubernetes service: frontend held by another Service, left to it",
			"service", name, "holder", holder, "wanted_by",
			svc_key);
		res->conflicts++;
		return 0;
	}
	exists = !bpf_map_lookup_elem(m->services, &fe->key, &svc);
	if (exists && svc.owner != TP_OWNER_KUBERNETES) {
		tp_svc_key_format(&fe->key, name, sizeof(name));
		log_warn(
			"kubernetes service: held by another owner, left alone",
			"service", name, "owner", tp_owner_name(svc.owner));
		res->conflicts++;
		return 0;
	}
	if (exists) {
		n_old = tp_service_backends(m, svc.id, s->old_ids, s->old_bes,
					    TP_MAX_SVC_BACKENDS);
		if (n_old < 0)
			n_old = 0;
		if (n_old > TP_MAX_SVC_BACKENDS)
			n_old = TP_MAX_SVC_BACKENDS;
		if (ks_fe_unchanged(&svc, fe, s->old_bes, n_old))
			goto cancel;
	}
	err = tp_service_stage(m, b, &fe->key, &fe->spec, fe->be, fe->n_be, 0);
	if (err) {
		tp_svc_key_format(&fe->key, name, sizeof(name));
		tp_strerror(err, why, sizeof(why));
		log_error("kubernetes service: not written", "service", name,
			  "error", why);
		ks_error(res, "service %s not written: %s", name, why);
		return exists;
	}
	for (j = 0; j < n_old; j++) {
		for (i = 0; i < fe->n_be; i++)
			if (fe->be[i].port == s->old_bes[j].port &&
			    !memcmp(&fe->be[i].addr, &s->old_bes[j].addr,
				    sizeof(fe->be[i].addr)))
				break;
		if (i == fe->n_be)
			ks_purge_backend(s, &fe->key, s->old_ids[j],
					 &s->old_bes[j], res);
	}
	if (exists)
		res->svc_changed++;
	else
		res->svc_added++;
cancel:
	/* a backend back within the grace keeps its TCP flows */
	for (i = 0; fe->key.proto == IPPROTO_TCP && i < fe->n_be; i++)
		tpd_purge_cancel(s->tcp, &fe->be[i].addr, fe->be[i].port);
	return 1;
}

/*
 * Remove frontend @key if the source holds it, with its backends' flows;
 * its table and backends go at @b's flush.
 */
static void ks_fe_delete(struct tpd_kube_sync *s, const struct tp_maps *m,
			 struct tp_svc_batch *b, const struct tp_svc_key *key,
			 struct tpd_kube_sync_result *res)
{
	char name[TP_SVC_STRLEN];
	struct tp_svc svc;
	int n, i, err;

	if (bpf_map_lookup_elem(m->services, key, &svc) ||
	    svc.owner != TP_OWNER_KUBERNETES)
		return;
	n = tp_service_backends(m, svc.id, s->old_ids, s->old_bes,
				TP_MAX_SVC_BACKENDS);
	if (n > TP_MAX_SVC_BACKENDS)
		n = TP_MAX_SVC_BACKENDS;
	err = tp_service_del_staged(m, b, key);
	if (err) {
		tp_svc_key_format(key, name, sizeof(name));
		ks_error(res, "service %s not removed: %s", name,
			 strerror(-err));
		return;
	}
	for (i = 0; i < n; i++)
		ks_purge_backend(s, key, s->old_ids[i], &s->old_bes[i], res);
	res->svc_removed++;
}

static void ks_svc_free(void *val)
{
	struct ks_svc *sv = val;

	if (sv)
		free(sv->keys);
	free(sv);
}

static bool ks_key_in(const struct tp_svc_key *k, const struct ks_fe *fe,
		      size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(&fe[i].key, k, sizeof(*k)))
			return true;
	return false;
}

/* Frontend @key is Service @svc_key's (held until it wants it no more). */
static void ks_fe_hold(struct tpd_kube_sync *s, const struct tp_svc_key *key,
		       const char *svc_key)
{
	const char *holder = tpd_kh_get(&s->fe_holder, key, sizeof(*key));
	char *dup;

	if (holder)
		return; /* ks_fe_apply() let it through: it is @svc_key */
	dup = strdup(svc_key);
	if (!dup || !tpd_kh_put(&s->fe_holder, key, sizeof(*key), dup)) {
		free(dup);
		s->lost_track = true;
	}
}

static void ks_fe_unhold(struct tpd_kube_sync *s, const struct tp_svc_key *key,
			 const char *svc_key)
{
	char *holder = tpd_kh_get(&s->fe_holder, key, sizeof(*key));

	if (holder && !strcmp(holder, svc_key)) {
		tpd_kh_del(&s->fe_holder, key, sizeof(*key), NULL);
		free(holder);
	}
}

/*
 * Apply one Service's wanted frontends: write them, remove those it had
 * and wants no more, and remember what it holds now.
 */
static void ks_svc_apply(struct tpd_kube_sync *s, const struct tp_maps *m,
			 struct tp_svc_batch *b, const struct ks_svc_want *w,
			 struct tpd_kube_sync_result *res)
{
	struct ks_svc *old = tpd_kh_sget(&s->svcs, w->key), *now;
	size_t i;

	now = calloc(1, sizeof(*now));
	if (now)
		now->keys = calloc(w->n_fe + 1, sizeof(*now->keys));
	for (i = 0; i < w->n_fe; i++) {
		if (ks_fe_apply(s, m, b, w->key, &w->fe[i], res) && now &&
		    now->keys) {
			ks_fe_hold(s, &w->fe[i].key, w->key);
			now->keys[now->n++] = w->fe[i].key;
			now->n_be += w->fe[i].n_be;
		}
	}
	for (i = 0; old && i < old->n; i++) {
		if (ks_key_in(&old->keys[i], w->fe, w->n_fe))
			continue;
		ks_fe_delete(s, m, b, &old->keys[i], res);
		ks_fe_unhold(s, &old->keys[i], w->key);
	}
	if (old) {
		s->st.frontends -= old->n;
		s->st.backends -= old->n_be;
		tpd_kh_del(&s->svcs, w->key, strlen(w->key), NULL);
		ks_svc_free(old);
	}
	if (now && now->keys && !now->n) {
		ks_svc_free(now); /* holds nothing */
		return;
	}
	if (!now || !now->keys ||
	    !tpd_kh_put(&s->svcs, w->key, strlen(w->key), now)) {
		/* what it wrote is not remembered: the next run looks at all */
		ks_error(res, "service %s: out of memory", w->key);
		s->lost_track = true;
		ks_svc_free(now);
		return;
	}
	s->st.frontends += now->n;
	s->st.backends += now->n_be;
}

/* Free what @w[0..n-1] hold; the array stays, zeroed. */
static void ks_wants_clear(struct ks_svc_want *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(w[i].key);
		ks_fes_free(w[i].fe, w[i].n_fe);
	}
	memset(w, 0, n * sizeof(*w));
}

static void ks_keys_free(char **keys, size_t n)
{
	size_t i;

	for (i = 0; keys && i < n; i++)
		free(keys[i]);
	free(keys);
}

struct ks_fe_have {
	struct tp_svc_key key;
	struct tp_svc svc;
};

/*
 * A full reconcile's last step: the frontends the source has in the maps
 * that no Service wants (the last loader's, of Services deleted since).
 */
static int ks_svc_prune(struct tpd_kube_sync *s, const struct tp_maps *m,
			struct tp_svc_batch *batch,
			struct tpd_kube_sync_result *res)
{
	struct tpd_kh held = {};
	struct ks_fe_have *have;
	struct tpd_kh_ent *e;
	size_t n, i, b;
	int err;

	err = TP_MAP_COLLECT(m->services, struct ks_fe_have, key, svc, &have,
			     &n);
	if (err)
		return err;
	tpd_kh_for_each(&s->svcs, b, e)
	{
		struct ks_svc *sv = e->val;

		for (i = 0; i < sv->n; i++)
			if (!tpd_kh_put(&held, &sv->keys[i],
					sizeof(sv->keys[i]), NULL))
				err = -ENOMEM;
	}
	for (i = 0; !err && i < n; i++)
		if (have[i].svc.owner == TP_OWNER_KUBERNETES &&
		    !tpd_kh_find(&held, &have[i].key, sizeof(have[i].key)))
			ks_fe_delete(s, m, batch, &have[i].key, res);
	tpd_kh_clear(&held, NULL);
	free(have);
	return err;
}

/*
 * Services whose wanted frontends (with every backend) are held at once:
 * a full reconcile's 10,000 Services wanted all at once held some 5 MiB
 * of them; a chunk at a time, the store's lock is taken again for each.
 */
#define KS_SVC_CHUNK 256

/* The keys of @src, copied: the store's table may change while unlocked. */
static char **ks_keys(const struct tpd_kh *src, size_t *n)
{
	char **keys = calloc(src->n + 1, sizeof(*keys));
	struct tpd_kh_ent *e;
	size_t b;

	*n = 0;
	if (!keys)
		return NULL;
	tpd_kh_for_each(src, b, e)
	{
		keys[*n] = strdup(e->key);
		if (!keys[(*n)++]) {
			ks_keys_free(keys, *n);
			return NULL;
		}
	}
	return keys;
}

/*
 * Services: the wanted frontends of a chunk of them under the store's
 * lock, then their writes unlocked, chunk after chunk.  A Service that
 * changes meanwhile is dirty again: the next reconcile looks at it.
 */
static int ks_services(struct tpd_kube_sync *s, const struct tp_maps *m,
		       const struct tpd_kh *dirty, bool full,
		       struct tpd_kube_sync_result *res)
{
	const struct tpd_kh *src =
		full ? tpd_kube_store_table(s->store, TPD_KUBE_SERVICE) : dirty;
	struct ks_svc_want *w = calloc(KS_SVC_CHUNK, sizeof(*w));
	struct tp_svc_batch *batch = tp_svc_batch_new();
	char name[TP_SVC_STRLEN];
	unsigned int capped = 0, over = 0;
	struct tp_svc_key bad;
	size_t n_keys = 0, done = 0, n, i;
	char **keys = ks_keys(src, &n_keys);
	bool locked = true;
	int err = 0, ferr;

	if (!w || !batch || !keys) {
		free(w);
		tp_svc_batch_free(batch);
		ks_keys_free(keys, n_keys);
		return -ENOMEM;
	}
	while (!err && done < n_keys) {
		if (!locked)
			tpd_kube_store_lock(s->store);
		for (n = 0; n < KS_SVC_CHUNK && done + n < n_keys;) {
			w[n].key = keys[done + n];
			keys[done + n] = NULL;
			err = ks_svc_desired(
				s, w[n].key,
				tpd_kube_store_get(s->store, TPD_KUBE_SERVICE,
						   w[n].key),
				&w[n], &capped, &over);
			n++;
			if (err)
				break;
		}
		tpd_kube_store_unlock(s->store);
		locked = false;
		if (full && !err && !done) {
			tpd_kh_clear(&s->svcs, ks_svc_free);
			tpd_kh_clear(&s->fe_holder, free);
			s->st.frontends = s->st.backends = 0;
		}
		for (i = 0; !err && i < n; i++)
			ks_svc_apply(s, m, batch, &w[i], res);
		ks_wants_clear(w, n);
		done += n;
	}
	ks_keys_free(keys, n_keys);
	free(w);
	if (locked)
		tpd_kube_store_unlock(s->store);
	res->svc_over_cap += over;
	if (capped)
		log_warn(
			"kubernetes services: more endpoints than a service holds; the first "
			"kept",
			"frontends", log_fmt("%u", capped), "limit",
			log_fmt("%d", TP_MAX_SVC_BACKENDS));
	if (full && !err)
		err = ks_svc_prune(s, m, batch, res);
	/* every changed service's Maglev table at once */
	ferr = tp_svc_batch_flush(m, batch, &bad, NULL);
	if (ferr) {
		tp_svc_key_format(&bad, name, sizeof(name));
		ks_error(res, "service %s: Maglev table not built: %s", name,
			 strerror(-ferr));
	}
	tp_svc_batch_free(batch);
	tpd_kube_store_lock(s->store);
	return err;
}

/* ---- pods ---------------------------------------------------------------------------- */

static void ks_pod_free(void *val)
{
	struct ks_pod *p = val;

	if (!p)
		return;
	free(p->key);
	tpd_kube_str_put(p->name);
	free(p->ips);
	free(p);
}

/* Pod @key lost an address or its NAT entry to another: tried again when one goes. */
static void ks_retry_add(struct tpd_kube_sync *s, const char *key)
{
	if (!tpd_kh_put(&s->retry, key, strlen(key), NULL))
		s->lost_track = true;
}

/* Address @a was given up: the pods that wanted it are tried again. */
static void ks_freed(struct tpd_kube_sync *s, const struct tp_addr *a)
{
	if (s->retry.n && !tpd_kh_put(&s->freed, a, sizeof(*a), NULL))
		s->lost_track = true;
}

/*
 * Whether tailnet address @a belongs to someone else: an address of this
 * node or of a pod (an exact entry in zone 0, the host's included), a
 * tailnet peer's (an exact entry of another owner in the configured zone,
 * or in any zone when that is 0), or not a unicast address.  A static NAT
 * entry for it would take their traffic: packets to the node's address
 * would go to the pod, the pod would send as the peer, and the peer's own
 * packets would be dropped as spoofed.
 */
static bool ks_nat_taken(const struct tpd_kube_sync *s, const struct tp_maps *m,
			 const struct tp_addr *a, const char **why)
{
	struct tp_identity_key k;
	struct tp_identity_val v;
	unsigned int z;

	if (!ks_addr_unicast(a)) {
		*why = "not a unicast address";
		return true;
	}
	if (tpd_kh_find(&s->ip_owner, a, sizeof(*a))) {
		*why = "a pod's address";
		return true;
	}
	memset(&k, 0, sizeof(k));
	k.prefixlen = TP_IDENTITY_PLEN(128);
	k.addr = *a;
	for (z = 0; z < TP_MAX_ZONES; z++) {
		if (z && s->cfg.zone && z != s->cfg.zone)
			continue;
		k.zone = z;
		if (bpf_map_lookup_elem(m->identity, &k, &v) ||
		    TP_IDENTITY_PLEN(v.plen) != k.prefixlen)
			continue;
		if (!z) {
			*why = v.id == TP_ID_HOST ? "an address of this node"
						  : "a cluster address";
			return true;
		}
		if (v.owner != TP_OWNER_KUBERNETES) {
			*why = "a tailnet peer's address";
			return true;
		}
	}
	return false;
}

/* The static NAT entry local pod @o asks for by annotation, if any. */
static void ks_pod_nat(const struct tpd_kube_sync *s,
		       const struct tpd_kube_object *o, const char *key,
		       struct ks_nat *nat)
{
	struct tp_addr a;
	size_t i;

	memset(nat, 0, sizeof(*nat));
	if (!o->meta.ann_tailnet_addr || !o->pod.node_name ||
	    strcmp(o->pod.node_name, s->node))
		return;
	if (tp_addr_parse(o->meta.ann_tailnet_addr, &a)) {
		log_warn("kubernetes pod: bad " TPD_KUBE_ANN_TAILNET_ADDR
			 ", skipped",
			 "pod", key, "value", o->meta.ann_tailnet_addr);
		return;
	}
	for (i = 0; i < o->pod.n_ips; i++) {
		if (tp_addr_is_v4(&o->pod.ips[i]) == tp_addr_is_v4(&a)) {
			nat->has = true;
			nat->tailnet = a;
			nat->inner = o->pod.ips[i];
			return;
		}
	}
	log_warn(
		"kubernetes pod: no pod address of the family of its " TPD_KUBE_ANN_TAILNET_ADDR
		", skipped",
		"pod", key, "value", o->meta.ann_tailnet_addr);
}

/* What pod @o (NULL: gone) wants, store locked; NULL when nothing. */
static struct ks_pod *ks_pod_desired(const struct tpd_kube_sync *s,
				     const char *key,
				     const struct tpd_kube_object *o)
{
	char name[TP_IDENTITY_NAME_LEN];
	struct ks_pod *p;

	/* host-network pods have the node's addresses; finished ones may lend theirs */
	if (!o || o->pod.host_network || o->pod.phase_done || !o->pod.n_ips)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->key = strdup(key);
	p->ips = calloc(o->pod.n_ips, sizeof(*p->ips));
	if (!p->key || !p->ips) {
		ks_pod_free(p);
		return NULL;
	}
	memcpy(p->ips, o->pod.ips, o->pod.n_ips * sizeof(*p->ips));
	p->n_ips = o->pod.n_ips;
	if (tpd_kube_pod_identity_name(o, name, sizeof(name))) {
		ks_pod_free(p); /* a name too short: never, but not unchecked */
		return NULL;
	}
	/* pods of one label set share the name: 10,000 pods, a few hundred */
	p->name = tpd_kube_str_intern(name, strlen(name));
	if (!p->name) {
		ks_pod_free(p);
		return NULL;
	}
	ks_pod_nat(s, o, key, &p->nat);
	return p;
}

/* Write pod @np's address entries; @old (same key) gives up what it had. */
static void ks_pod_addrs(struct tpd_kube_sync *s, const struct tp_maps *m,
			 struct ks_pod *np, struct ks_pod *old,
			 struct tpd_kh *have, struct tpd_kube_sync_result *res)
{
	struct tpd_kh_ent *e;
	size_t i;
	int err;

	for (i = 0; np && np->id && i < np->n_ips; i++) {
		const struct tp_addr *a = &np->ips[i];
		struct ks_pod *owner;
		void *hv;

		e = tpd_kh_find(&s->ip_owner, a, sizeof(*a));
		owner = e ? e->val : NULL;
		if (owner && owner != old) {
			/* two live pods with one address: the first keeps it */
			res->conflicts++;
			ks_retry_add(s, np->key);
			continue;
		}
		if (owner == old && old && old->id == np->id) {
			e->val = np;
			continue;
		}
		hv = have ? tpd_kh_get(have, a, sizeof(*a)) : NULL;
		if (!(have && hv && (__u32)(unsigned long)hv == np->id)) {
			err = tp_identity_set(m, 0, a, 128, np->id,
					      TP_OWNER_KUBERNETES);
			if (err == -EPERM) {
				res->conflicts++;
				ks_retry_add(s, np->key);
				continue;
			}
			if (err) {
				char why[256];

				ks_error(
					res,
					"pod %s: address identity not written: %s",
					np->key,
					tp_strerror(err, why, sizeof(why)));
				continue;
			}
			res->ip_added++;
		}
		if (have)
			tpd_kh_del(have, a, sizeof(*a), NULL);
		if (!tpd_kh_put(&s->ip_owner, a, sizeof(*a), np))
			ks_error(res, "pod %s: out of memory", np->key);
		else
			s->st.pod_addrs++;
	}
	for (i = 0; old && i < old->n_ips; i++) {
		const struct tp_addr *a = &old->ips[i];

		e = tpd_kh_find(&s->ip_owner, a, sizeof(*a));
		if (!e || e->val != old)
			continue;
		tpd_kh_del(&s->ip_owner, a, sizeof(*a), NULL);
		ks_freed(s, a);
		s->st.pod_addrs--;
		err = tp_identity_del(m, 0, a, 128, TP_OWNER_KUBERNETES);
		if (!err)
			res->ip_removed++;
	}
}

static bool ks_nat_same(const struct ks_nat *a, const struct ks_nat *b)
{
	return a->has == b->has &&
	       (!a->has ||
		(!memcmp(&a->tailnet, &b->tailnet, sizeof(a->tailnet)) &&
		 !memcmp(&a->inner, &b->inner, sizeof(a->inner))));
}

/*
 * Pod @np's static NAT entry kept, or @old's removed when it differs; a
 * new entry is written by ks_pod_nat_add() once every pod of the run has
 * its addresses, so that no annotation takes an address a pod applied
 * later in the same run has.
 */
static void ks_pod_nat_apply(struct tpd_kube_sync *s, const struct tp_maps *m,
			     struct ks_pod *np, struct ks_pod *old,
			     struct tpd_kube_sync_result *res)
{
	if (old && np && old->nat_written && ks_nat_same(&old->nat, &np->nat)) {
		np->nat_written = true;
		return;
	}
	if (old && old->nat_written) {
		if (!tp_static_nat_del(m, s->cfg.zone, false, &old->nat.tailnet,
				       NULL))
			res->nat_removed++;
		old->nat_written = false;
		ks_freed(s, &old->nat.tailnet);
		ks_freed(s, &old->nat.inner);
	}
}

/* The static NAT entry pod @key wants and does not have yet. */
static void ks_pod_nat_add(struct tpd_kube_sync *s, const struct tp_maps *m,
			   const char *key, struct tpd_kube_sync_result *res)
{
	struct ks_pod *np = tpd_kh_sget(&s->pods, key);
	struct tp_static_nat_entry e;
	char why[256], addr[64];
	const char *taken;
	int err;

	if (!np || !np->nat.has || np->nat_written)
		return;
	if (ks_nat_taken(s, m, &np->nat.tailnet, &taken)) {
		res->conflicts++;
		ks_retry_add(s, np->key);
		tp_addr_format(&np->nat.tailnet, addr, sizeof(addr));
		log_warn("kubernetes pod: " TPD_KUBE_ANN_TAILNET_ADDR
			 " refused, it is another's",
			 "pod", np->key, "tailnet", addr, "why", taken);
		return;
	}
	e = (struct tp_static_nat_entry){ .tailnet = np->nat.tailnet,
					  .inner = np->nat.inner,
					  .zone = s->cfg.zone,
					  .owner = TP_OWNER_KUBERNETES };
	err = tp_static_nat_add(m, &e, why, sizeof(why));
	if (err == -EEXIST || err == -EADDRINUSE) {
		res->conflicts++;
		ks_retry_add(s, np->key);
		tp_addr_format(&np->nat.tailnet, addr, sizeof(addr));
		log_warn(
			"kubernetes pod: tailnet address held by another entry, left alone",
			"pod", np->key, "tailnet", addr, "why", why);
	} else if (err) {
		ks_error(res, "pod %s: static NAT not written: %s", np->key,
			 why);
	} else {
		np->nat_written = true;
		res->nat_added++;
	}
}

/* Apply pod @np (NULL: wants nothing) in place of what @key had. */
static void ks_pod_apply(struct tpd_kube_sync *s, const struct tp_maps *m,
			 const char *key, struct ks_pod *np,
			 struct tpd_kh *have, struct tpd_kube_sync_result *res)
{
	struct ks_pod *old = tpd_kh_sget(&s->pods, key);

	tpd_kh_del(&s->retry, key, strlen(key), NULL);
	if (np && np->name && np->name[0])
		np->id = ks_ident_get(s, m, np->name, res);
	ks_pod_addrs(s, m, np, old, have, res);
	ks_pod_nat_apply(s, m, np, old, res);
	if (old) {
		if (old->id)
			ks_ident_put(s, m, old->name, res);
		tpd_kh_del(&s->pods, key, strlen(key), NULL);
		ks_pod_free(old);
	}
	if (np && !tpd_kh_put(&s->pods, key, strlen(key), np)) {
		ks_error(res, "pod %s: out of memory", key);
		s->lost_track = true;
		ks_pod_addrs(s, m, NULL, np, NULL, res);
		if (np->id)
			ks_ident_put(s, m, np->name, res);
		ks_pod_free(np);
	}
}

struct ks_ident_have {
	struct tp_identity_key key;
	struct tp_identity_val val;
};

struct ks_name_have {
	__u32 id;
	struct tp_identity_name name;
};

/*
 * Forget the pods: their addresses, identities, retries and the
 * policy's names (the maps keep their entries).
 */
static void ks_forget_pods(struct tpd_kube_sync *s)
{
	size_t i;

	tpd_kh_clear(&s->ip_owner, NULL);
	tpd_kh_clear(&s->pods, ks_pod_free);
	tpd_kh_clear(&s->idents, free);
	tpd_kh_clear(&s->retry, NULL);
	tpd_kh_clear(&s->freed, NULL);
	for (i = 0; i < s->n_pol_names; i++)
		free(s->pol_names[i]);
	free(s->pol_names);
	s->pol_names = NULL;
	s->n_pol_names = 0;
}

/*
 * Before a full reconcile: forget what this process remembers and take
 * the source's identities from tp_id_names (a restart keeps every id),
 * and its pod address entries into @have (address -> id).
 */
static int ks_pods_reset(struct tpd_kube_sync *s, const struct tp_maps *m,
			 struct tpd_kh *have)
{
	struct ks_ident_have *ih;
	struct ks_name_have *nh;
	struct ks_ident *ki;
	size_t n, i;
	int err;

	/* the policy's names are counted again by the compile that follows */
	ks_forget_pods(s);
	s->st.pod_addrs = 0;
	err = TP_MAP_COLLECT(m->id_names, struct ks_name_have, id, name, &nh,
			     &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (nh[i].name.owner != TP_OWNER_KUBERNETES)
			continue;
		ki = calloc(1, sizeof(*ki));
		nh[i].name.name[TP_IDENTITY_NAME_LEN - 1] = 0;
		if (!ki || !tpd_kh_put(&s->idents, nh[i].name.name,
				       strlen(nh[i].name.name), ki)) {
			free(ki);
			free(nh);
			return -ENOMEM;
		}
		ki->id = nh[i].id;
	}
	free(nh);
	err = TP_MAP_COLLECT(m->identity, struct ks_ident_have, key, val, &ih,
			     &n);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		if (ih[i].val.owner == TP_OWNER_KUBERNETES && !ih[i].key.zone &&
		    ih[i].key.prefixlen == TP_IDENTITY_PLEN(128) &&
		    !tpd_kh_put(have, &ih[i].key.addr, sizeof(ih[i].key.addr),
				(void *)(unsigned long)ih[i].val.id))
			err = -ENOMEM;
	free(ih);
	return err;
}

/* After a full reconcile: the pod address entries nothing wants any more. */
static void ks_pods_prune(const struct tp_maps *m, struct tpd_kh *have,
			  struct tpd_kube_sync_result *res)
{
	struct tpd_kh_ent *e;
	size_t b;

	tpd_kh_for_each(have, b,
			e) if (!tp_identity_del(m, 0,
						(const struct tp_addr *)e->key,
						128, TP_OWNER_KUBERNETES))
		res->ip_removed++;
}

/* After a full reconcile: identities of the last loader nothing uses now. */
static void ks_idents_prune(struct tpd_kube_sync *s, const struct tp_maps *m,
			    struct tpd_kube_sync_result *res)
{
	struct tpd_kh_ent *e;
	size_t b, n = 0, i;
	char **gone = calloc(s->idents.n + 1, sizeof(*gone));

	if (!gone)
		return;
	tpd_kh_for_each(&s->idents, b,
			e) if (!((struct ks_ident *)e->val)->refs) gone[n++] =
		strdup(e->key);
	for (i = 0; i < n; i++) {
		struct ks_ident *ki =
			gone[i] ? tpd_kh_sget(&s->idents, gone[i]) : NULL;

		if (ki && !tp_identity_name_del(m, ki->id))
			res->id_freed++;
		if (ki) {
			tpd_kh_del(&s->idents, gone[i], strlen(gone[i]), NULL);
			free(ki);
		}
		free(gone[i]);
	}
	free(gone);
}

/* Is @have the entry @nat stands for, in the source's zone? */
static bool ks_nat_is(const struct tpd_kube_sync *s, const struct ks_nat *nat,
		      const struct tp_static_nat_entry *have)
{
	return have->zone == s->cfg.zone &&
	       !memcmp(&nat->tailnet, &have->tailnet, sizeof(have->tailnet)) &&
	       !memcmp(&nat->inner, &have->inner, sizeof(have->inner));
}

/* The source's static NAT entries a full reconcile found and no pod wants. */
static int ks_nat_prune(struct tpd_kube_sync *s, const struct tp_maps *m,
			struct tpd_kube_sync_result *res)
{
	struct tp_static_nat_entry *have;
	struct tpd_kh_ent *e;
	size_t n, i, b;
	int err = tp_static_nat_list(m, &have, &n);

	if (err)
		return err;
	for (i = 0; i < n; i++) {
		bool wanted = false;

		if (have[i].owner != TP_OWNER_KUBERNETES)
			continue;
		tpd_kh_for_each(&s->pods, b, e)
		{
			struct ks_pod *p = e->val;

			if (p->nat_written && ks_nat_is(s, &p->nat, &have[i])) {
				wanted = true;
				break;
			}
		}
		if (!wanted && !tp_static_nat_del(m, have[i].zone, false,
						  &have[i].tailnet, NULL))
			res->nat_removed++;
	}
	free(have);
	return 0;
}

/* Before a full reconcile: the source's entries that are already right stay. */
static int ks_nat_adopt(struct tpd_kube_sync *s, const struct tp_maps *m,
			struct ks_pod **want, size_t n_want)
{
	struct tp_static_nat_entry *have;
	const char *taken;
	size_t n, i, j;
	int err = tp_static_nat_list(m, &have, &n);

	if (err)
		return err;
	for (j = 0; j < n_want; j++) {
		if (!want[j] || !want[j]->nat.has)
			continue;
		for (i = 0; i < n; i++)
			if (have[i].owner == TP_OWNER_KUBERNETES &&
			    ks_nat_is(s, &want[j]->nat, &have[i]) &&
			    !ks_nat_taken(s, m, &have[i].tailnet, &taken))
				want[j]->nat_written = true;
	}
	free(have);
	return 0;
}

/* Whether pod @p (as written) wants an address in s->freed. */
static bool ks_pod_wants_freed(const struct tpd_kube_sync *s,
			       const struct ks_pod *p)
{
	size_t i;

	if (!p)
		return true;
	if (p->nat.has &&
	    tpd_kh_find(&s->freed, &p->nat.tailnet, sizeof(p->nat.tailnet)))
		return true;
	for (i = 0; i < p->n_ips; i++)
		if (tpd_kh_find(&s->freed, &p->ips[i], sizeof(p->ips[i])))
			return true;
	return false;
}

/* Pods read under the store's lock, written after: @keys[i] wants @want[i]. */
struct ks_pod_batch {
	char **keys;
	struct ks_pod **want;
	size_t n;
};

static int ks_pod_batch_init(struct ks_pod_batch *pb, size_t cap)
{
	pb->keys = calloc(cap + 1, sizeof(*pb->keys));
	pb->want = calloc(cap + 1, sizeof(*pb->want));
	pb->n = 0;
	if (pb->keys && pb->want)
		return 0;
	free(pb->keys);
	free(pb->want);
	return -ENOMEM;
}

/* Pod @key's wants, read from the store (locked) into the next slot. */
static int ks_pod_batch_add(struct tpd_kube_sync *s, struct ks_pod_batch *pb,
			    const char *key)
{
	size_t i = pb->n++;

	pb->keys[i] = strdup(key);
	pb->want[i] = ks_pod_desired(
		s, key, tpd_kube_store_get(s->store, TPD_KUBE_POD, key));
	return pb->keys[i] ? 0 : -ENOMEM;
}

/*
 * The batch's writes (store unlocked): every pod's addresses and
 * identity first, then the tailnet addresses, so that one a pod gives up
 * is free for another in the same batch.  With @write false (or a key
 * lost to no memory) the wants are only freed.  The batch is freed.
 */
static void ks_pod_batch_write(struct tpd_kube_sync *s, const struct tp_maps *m,
			       struct ks_pod_batch *pb, bool write,
			       struct tpd_kh *have,
			       struct tpd_kube_sync_result *res)
{
	size_t i;

	for (i = 0; i < pb->n; i++) {
		if (write && pb->keys[i])
			ks_pod_apply(s, m, pb->keys[i], pb->want[i], have, res);
		else
			ks_pod_free(pb->want[i]);
	}
	for (i = 0; i < pb->n; i++) {
		if (write && pb->keys[i])
			ks_pod_nat_add(s, m, pb->keys[i], res);
		free(pb->keys[i]);
	}
	free(pb->keys);
	free(pb->want);
}

/*
 * The pods that lost an address or a tailnet address to another, when
 * this run freed one of theirs: applied again, so that the next claimant
 * gets it now rather than with its pod's next change (store unlocked).
 */
static int ks_pods_retry(struct tpd_kube_sync *s, const struct tp_maps *m,
			 struct tpd_kh *have, struct tpd_kube_sync_result *res)
{
	struct ks_pod_batch pb;
	struct tpd_kh_ent *e;
	size_t b;
	int err = 0;

	if (ks_pod_batch_init(&pb, s->retry.n))
		return -ENOMEM;
	tpd_kube_store_lock(s->store);
	tpd_kh_for_each(&s->retry, b, e)
	{
		if (!ks_pod_wants_freed(s, tpd_kh_sget(&s->pods, e->key)))
			continue;
		err = ks_pod_batch_add(s, &pb, e->key);
		if (err)
			break;
	}
	tpd_kube_store_unlock(s->store);
	tpd_kh_clear(&s->freed, NULL);
	/* what was read before running out of memory is written */
	ks_pod_batch_write(s, m, &pb, true, have, res);
	return err;
}

/* Pods: what they want under the store's lock, then the writes. */
static int ks_pods(struct tpd_kube_sync *s, const struct tp_maps *m,
		   const struct tpd_kh *dirty, bool full,
		   struct tpd_kube_sync_result *res)
{
	const struct tpd_kh *src =
		full ? tpd_kube_store_table(s->store, TPD_KUBE_POD) : dirty;
	struct ks_pod_batch pb;
	struct tpd_kh have = {};
	struct tpd_kh_ent *e;
	size_t b;
	int err = 0;

	if (ks_pod_batch_init(&pb, src->n))
		return -ENOMEM;
	tpd_kh_for_each(src, b, e)
	{
		if (ks_pod_batch_add(s, &pb, e->key))
			err = -ENOMEM;
	}
	tpd_kube_store_unlock(s->store);
	if (full && !err)
		err = ks_pods_reset(s, m, &have)
			      ?: ks_nat_adopt(s, m, pb.want, pb.n);
	ks_pod_batch_write(s, m, &pb, !err, full ? &have : NULL, res);
	if (!err && s->freed.n)
		err = ks_pods_retry(s, m, full ? &have : NULL, res);
	if (full && !err) {
		ks_pods_prune(m, &have, res);
		err = ks_nat_prune(s, m, res);
	}
	tpd_kh_clear(&have, NULL);
	tpd_kube_store_lock(s->store);
	return err;
}

/* ---- NetworkPolicy ------------------------------------------------------------------- */

struct ks_alloc_ctx {
	struct tpd_kube_sync *s;
	const struct tp_maps *m;
	struct tpd_kube_sync_result *res;
	char **names;
	size_t n, cap;
};

/* The compiler's alloc_id: an identity for a CIDR name, held until the next compile. */
static __u32 ks_policy_alloc(void *ctx, const char *name)
{
	struct ks_alloc_ctx *a = ctx;
	__u32 id;

	if (tp_array_grow((void **)&a->names, &a->cap, a->n + 1,
			  sizeof(*a->names), 16))
		return 0;
	a->names[a->n] = strdup(name);
	if (!a->names[a->n])
		return 0;
	id = ks_ident_get(a->s, a->m, name, a->res);
	if (!id) {
		free(a->names[a->n]);
		return 0;
	}
	a->n++;
	return id;
}

static void ks_policy_warn(void *ctx, const char *policy, const char *what)
{
	(void)ctx;
	log_warn("kubernetes NetworkPolicy: part not enforced", "policy",
		 policy, "what", what);
}

struct ks_rule_have {
	__u32 id;
	struct tp_rule rule;
};

/* Make the source's rules exactly @want (as tpd_static_policies() does). */
static int ks_rules_sync(const struct tp_maps *m, struct tp_rule *want,
			 size_t n, struct tpd_kube_sync_result *res)
{
	struct tp_rule *matches = calloc(n + 1, sizeof(*matches)), r;
	char why[256];
	size_t i;
	int err;

	if (!matches)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		r = want[i];
		r.owner = TP_OWNER_KUBERNETES;
		tp_rule_match(&r, &matches[i]);
		err = tpd_rule_put(m, &r, &res->conflicts);
		if (err < 0)
			ks_error(res, "policy rule not written: %s",
				 tp_strerror(err, why, sizeof(why)));
		else if (err)
			res->rules_added++;
	}
	err = tpd_rules_prune(m, TP_OWNER_KUBERNETES, matches, n,
			      &res->rules_removed, NULL, NULL);
	free(matches);
	return err;
}

/* The source's identity entries in tailnet zones (CIDRs) exactly @want. */
static int ks_cidr_idents_sync(const struct tp_maps *m,
			       const struct tp_ident_entry *want, size_t n,
			       struct tpd_kube_sync_result *res)
{
	struct ks_ident_have *have;
	struct tp_identity_key k;
	struct tpd_kh wanted = {};
	size_t n_have, i;
	int err;

	err = TP_MAP_COLLECT(m->identity, struct ks_ident_have, key, val, &have,
			     &n_have);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		if (!want[i].zone)
			continue; /* zone 0 is the pods' */
		err = tp_identity_set(m, want[i].zone, &want[i].prefix,
				      want[i].plen, want[i].id,
				      TP_OWNER_KUBERNETES);
		if (err == -EPERM)
			res->conflicts++;
		else if (err)
			ks_error(res, "policy CIDR identity not written: %s",
				 strerror(-err));
		/* the keys of what is wanted, to look the map's up in one step */
		memset(&k, 0, sizeof(k));
		k.prefixlen = TP_IDENTITY_PLEN(want[i].plen);
		k.zone = want[i].zone;
		k.addr = want[i].prefix;
		tp_addr_mask(&k.addr, want[i].plen);
		if (!tpd_kh_put(&wanted, &k, sizeof(k), NULL))
			err = -ENOMEM;
	}
	for (i = 0; err != -ENOMEM && i < n_have; i++) {
		if (have[i].val.owner != TP_OWNER_KUBERNETES ||
		    !have[i].key.zone)
			continue;
		memset(&k, 0, sizeof(k));
		k.prefixlen = have[i].key.prefixlen;
		k.zone = have[i].key.zone;
		k.addr = have[i].key.addr;
		if (!tpd_kh_find(&wanted, &k, sizeof(k)) &&
		    !tp_identity_del(m, have[i].key.zone, &have[i].key.addr,
				     have[i].key.prefixlen -
					     TP_IDENTITY_PLEN(0),
				     TP_OWNER_KUBERNETES))
			res->rules_removed++;
	}
	tpd_kh_clear(&wanted, NULL);
	free(have);
	return err == -ENOMEM ? err : 0;
}

/* The tailnet zones' identity entries of other owners, for ipBlock peers. */
static int ks_tailnet_idents(const struct tp_maps *m,
			     struct tp_ident_entry **out, size_t *n)
{
	struct ks_ident_have *have;
	size_t n_have, i;
	int err;

	err = TP_MAP_COLLECT(m->identity, struct ks_ident_have, key, val, &have,
			     &n_have);
	if (err)
		return err;
	*out = calloc(n_have + 1, sizeof(**out));
	if (!*out) {
		free(have);
		return -ENOMEM;
	}
	for (i = 0, *n = 0; i < n_have; i++) {
		if (!have[i].key.zone ||
		    have[i].val.owner == TP_OWNER_KUBERNETES)
			continue;
		(*out)[*n] = (struct tp_ident_entry){
			.prefix = have[i].key.addr,
			.id = have[i].val.id,
			.zone = have[i].key.zone,
			.plen = have[i].key.prefixlen - TP_IDENTITY_PLEN(0),
		};
		(*n)++;
	}
	free(have);
	return 0;
}

/* Gather the store's objects for the compiler (store locked). */
static int ks_policy_input(struct tpd_kube_sync *s,
			   struct tpd_kube_policy_in *in,
			   const struct tpd_kube_object ***pols,
			   const struct tpd_kube_object ***nss,
			   struct tpd_kube_pod_ident **pods)
{
	const struct tpd_kh *tp =
		tpd_kube_store_table(s->store, TPD_KUBE_NETPOL);
	const struct tpd_kh *tn =
		tpd_kube_store_table(s->store, TPD_KUBE_NAMESPACE);
	struct tpd_kh_ent *e;
	size_t b;

	*pols = calloc(tp->n + 1, sizeof(**pols));
	*nss = calloc(tn->n + 1, sizeof(**nss));
	*pods = calloc(s->pods.n + 1, sizeof(**pods));
	if (!*pols || !*nss || !*pods)
		return -ENOMEM;
	tpd_kh_for_each(tp, b, e)(*pols)[in->n_policies++] =
		tpd_kube_store_obj(e);
	tpd_kh_for_each(tn, b, e)(*nss)[in->n_namespaces++] =
		tpd_kube_store_obj(e);
	tpd_kh_for_each(&s->pods, b, e)
	{
		const struct ks_pod *p = e->val;
		const struct tpd_kube_object *o =
			tpd_kube_store_get(s->store, TPD_KUBE_POD, e->key);

		if (p->id && o)
			(*pods)[in->n_pods++] =
				(struct tpd_kube_pod_ident){ .pod = o,
							     .id = p->id };
	}
	in->policies = *pols;
	in->namespaces = *nss;
	in->pods = *pods;
	return 0;
}

/* NetworkPolicy: compile (store locked), then write the rules and CIDRs. */
static int ks_policy(struct tpd_kube_sync *s, const struct tp_maps *m,
		     struct tpd_kube_sync_result *res)
{
	struct ks_alloc_ctx a = { .s = s, .m = m, .res = res };
	struct tpd_kube_policy_in in = { .zone = s->cfg.zone,
					 .alloc_id = ks_policy_alloc,
					 .ctx = &a };
	const struct tpd_kube_object **pols = NULL, **nss = NULL;
	struct tpd_kube_policy_out out = {};
	struct tpd_kube_pod_ident *pods = NULL;
	struct tp_ident_entry *tailnet = NULL;
	size_t n_tailnet = 0, i;
	int err;

	err = ks_tailnet_idents(m, &tailnet, &n_tailnet);
	in.tailnet = tailnet;
	in.n_tailnet = n_tailnet;
	err = err ?: ks_policy_input(s, &in, &pols, &nss, &pods);
	err = err ?: tpd_kube_policy_compile(&in, &out, ks_policy_warn, s);
	tpd_kube_store_unlock(s->store);
	if (!err) {
		err = ks_rules_sync(m, out.rules, out.n_rules, res);
		if (!err)
			err = ks_cidr_idents_sync(m, out.idents, out.n_idents,
						  res);
		s->pol_active = out.n_rules || out.n_idents;
	}
	/* the last compile's names go, this one's stay (held by ks_policy_alloc) */
	for (i = 0; i < s->n_pol_names; i++) {
		if (!err)
			ks_ident_put(s, m, s->pol_names[i], res);
		free(s->pol_names[i]);
	}
	free(s->pol_names);
	s->pol_names = a.names;
	s->n_pol_names = a.n;
	tpd_kube_policy_free(&out);
	free(tailnet);
	free(pols);
	free(nss);
	free(pods);
	tpd_kube_store_lock(s->store);
	return err;
}

/* ---- the reconcile --------------------------------------------------------------------- */

/*
 * Whether a pod, namespace or policy change needs a compile: not while
 * there is no NetworkPolicy and the last compile left nothing to remove,
 * so that pod churn in a cluster without policies costs no walk of the
 * identity map (store locked).
 */
static bool ks_policy_needed(const struct tpd_kube_sync *s)
{
	return s->pol_active ||
	       tpd_kube_store_table(s->store, TPD_KUBE_NETPOL)->n;
}

/*
 * tp_config.policy_rev: every identity and rule write bumps it.  A change
 * between two runs was another source's (a WireGuard or Tailscale peer,
 * tpctl, the configuration): the tailnet entries the ipBlock rules were
 * compiled from may have changed.
 */
static __u32 ks_policy_rev(const struct tp_maps *m)
{
	struct tp_config cfg = {};
	__u32 zero = 0;

	if (bpf_map_lookup_elem(m->config, &zero, &cfg))
		return 0;
	return cfg.policy_rev;
}

/**
 * tpd_kube_sync_new() - the translation of @store's objects.
 * @cfg:   the "kubernetes" section (copied).
 * @store: the store it reads.
 * @udp:   where the UDP flows of backends that went are purged.
 * @tcp:   where their TCP flows are, after cfg->tcp_grace (proto TCP).
 *
 * Return: the sync, or NULL when out of memory.
 */
struct tpd_kube_sync *tpd_kube_sync_new(const struct tpd_kube_cfg *cfg,
					struct tpd_kube_store *store,
					struct tpd_purge *udp,
					struct tpd_purge *tcp)
{
	struct tpd_kube_sync *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cfg = *cfg;
	snprintf(s->node, sizeof(s->node), "%s",
		 cfg->node_name ? cfg->node_name : "");
	s->cfg.server = s->cfg.token_file = s->cfg.ca_file = s->cfg.kubeconfig =
		NULL;
	s->cfg.node_name = s->node;
	s->store = store;
	s->udp = udp;
	s->tcp = tcp;
	tcp->proto = IPPROTO_TCP;
	return s;
}

/** tpd_kube_sync_free() - forget what @s remembers (the maps keep it). */
void tpd_kube_sync_free(struct tpd_kube_sync *s)
{
	if (!s)
		return;
	tpd_kh_clear(&s->svcs, ks_svc_free);
	tpd_kh_clear(&s->fe_holder, free);
	ks_forget_pods(s);
	free(s);
}

static unsigned long ks_usec_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000000UL +
	       (t1.tv_nsec - t0->tv_nsec) / 1000;
}

static void ks_stats_add(struct tpd_kube_sync *s,
			 const struct tpd_kube_sync_result *res)
{
	s->st.reconciles++;
	s->st.written += res->svc_added + res->svc_changed + res->ip_added +
			 res->rules_added + res->nat_added + res->id_added;
	s->st.removed += res->svc_removed + res->ip_removed +
			 res->rules_removed + res->nat_removed + res->id_freed;
	s->st.conflicts += res->conflicts;
	s->st.errors += res->errors;
	s->st.svc_over_cap += res->svc_over_cap;
	s->st.last_usec = res->usec;
	s->st.identities = s->idents.n;
}

/**
 * tpd_kube_sync_run() - write what changed in the store since the last run.
 * @s:     the sync.
 * @m:     maps; the caller holds the writers' lock.
 * @now_s: CLOCK_MONOTONIC seconds: TCP purges are due at @now_s + grace.
 * @res:   what it did (zeroed first).
 *
 * Nothing is written before the store has had its first full picture;
 * the first run after is a full reconcile.  Changes taken are applied
 * even when some entries fail (counted in @res, tried again with the
 * object's next change or the next full reconcile).
 *
 * Return: 0, or -errno when the maps could not be read or memory ran out
 * (the next run is a full reconcile then).
 */
int tpd_kube_sync_run(struct tpd_kube_sync *s, const struct tp_maps *m,
		      __u64 now_s, struct tpd_kube_sync_result *res)
{
	struct tpd_kube_changes c;
	struct timespec t0;
	bool full, others;
	int err;

	memset(res, 0, sizeof(*res));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tpd_kube_store_take(s->store, &c);
	if (!c.synced) {
		tpd_kube_changes_free(&c);
		return 0;
	}
	full = !s->full_done || s->lost_track;
	others = ks_policy_rev(m) != s->policy_rev;
	s->lost_track = false;
	res->ran = true;
	res->full = full;
	s->now_s = now_s;
	tpd_kube_store_lock(s->store);
	err = ks_services(s, m, &c.services, full, res);
	err = err ?: ks_pods(s, m, &c.pods, full, res);
	if (!err && (full || ((c.policy || others) && ks_policy_needed(s))))
		err = ks_policy(s, m, res);
	tpd_kube_store_unlock(s->store);
	if (!err && full)
		ks_idents_prune(s, m, res);
	s->policy_rev = ks_policy_rev(m);
	tpd_kube_changes_free(&c);
	/* a failure may have lost track of something: look at everything again */
	s->full_done = !err && !s->lost_track;
	s->st.synced = s->st.synced || !err;
	res->usec = ks_usec_since(&t0);
	ks_stats_add(s, res);
	return err;
}

/**
 * tpd_kube_sync_behind() - whether @s lost track of what it wrote (out
 * of memory, a map it could not read) after its first full picture: the
 * next run is a full reconcile, and it should come without waiting for
 * the next change.
 */
bool tpd_kube_sync_behind(const struct tpd_kube_sync *s)
{
	return s->st.synced && !s->full_done;
}

/** tpd_kube_sync_stats() - @s's totals. */
void tpd_kube_sync_stats(const struct tpd_kube_sync *s,
			 struct tpd_kube_sync_stats *st)
{
	*st = s->st;
}

/* ---- switching the source off -------------------------------------------------------- */

static void ks_remove_services(const struct tp_maps *m, struct tpd_purge *udp,
			       struct tpd_purge *tcp, __u64 due,
			       struct tpd_sync_result *res)
{
	__u32 ids[TP_MAX_SVC_BACKENDS];
	struct tp_backend bes[TP_MAX_SVC_BACKENDS];
	struct ks_fe_have *have;
	size_t n, i;
	int nb, j;

	if (TP_MAP_COLLECT(m->services, struct ks_fe_have, key, svc, &have,
			   &n)) {
		res->errors++;
		return;
	}
	for (i = 0; i < n; i++) {
		if (have[i].svc.owner != TP_OWNER_KUBERNETES)
			continue;
		nb = tp_service_backends(m, have[i].svc.id, ids, bes,
					 TP_MAX_SVC_BACKENDS);
		if (nb > TP_MAX_SVC_BACKENDS)
			nb = TP_MAX_SVC_BACKENDS;
		if (tp_service_del(m, &have[i].key)) {
			res->errors++;
			continue;
		}
		res->removed++;
		for (j = 0; j < nb; j++) {
			if (have[i].key.proto == IPPROTO_UDP)
				tpd_purge_add(udp, ids[j], &bes[j]);
			else if (have[i].key.proto == IPPROTO_TCP)
				tpd_purge_add_later(tcp, ids[j], &bes[j], due);
		}
	}
	free(have);
}

/**
 * tpd_kube_remove_all() - remove every entry of owner TP_OWNER_KUBERNETES:
 * services and their backends, identity entries, the names it gave
 * identities, rules and static NAT entries.  Nothing of other owners.
 * @m:         maps; the caller holds the writers' lock.
 * @udp, @tcp: where the flows of the removed backends are purged (TCP
 *             from @now_s + @tcp_grace on).
 * @res:       what was removed.
 *
 * Return: 0 or -errno of reading a map.
 */
int tpd_kube_remove_all(const struct tp_maps *m, struct tpd_purge *udp,
			struct tpd_purge *tcp, __u64 now_s, __u32 tcp_grace,
			struct tpd_sync_result *res)
{
	struct ks_ident_have *ih;
	struct ks_name_have *nh;
	struct ks_rule_have *rh;
	struct tp_static_nat_entry *sn;
	size_t n, i;
	int err;

	tcp->proto = IPPROTO_TCP;
	ks_remove_services(m, udp, tcp, now_s + tcp_grace, res);
	err = TP_MAP_COLLECT(m->identity, struct ks_ident_have, key, val, &ih,
			     &n);
	for (i = 0; !err && i < n; i++)
		if (ih[i].val.owner == TP_OWNER_KUBERNETES &&
		    !tp_identity_del(m, ih[i].key.zone, &ih[i].key.addr,
				     ih[i].key.prefixlen - TP_IDENTITY_PLEN(0),
				     TP_OWNER_KUBERNETES))
			res->removed++;
	if (!err)
		free(ih);
	if (!err)
		err = TP_MAP_COLLECT(m->id_names, struct ks_name_have, id, name,
				     &nh, &n);
	for (i = 0; !err && i < n; i++)
		if (nh[i].name.owner == TP_OWNER_KUBERNETES &&
		    !tp_identity_name_del(m, nh[i].id))
			res->removed++;
	if (!err)
		free(nh);
	if (!err)
		err = TP_MAP_COLLECT(m->rules, struct ks_rule_have, id, rule,
				     &rh, &n);
	for (i = 0; !err && i < n; i++)
		if (rh[i].rule.owner == TP_OWNER_KUBERNETES &&
		    !tp_policy_rule_del(m, &rh[i].rule, TP_OWNER_KUBERNETES))
			res->removed++;
	if (!err)
		free(rh);
	err = err ?: tp_static_nat_list(m, &sn, &n);
	for (i = 0; !err && i < n; i++)
		if (sn[i].owner == TP_OWNER_KUBERNETES &&
		    !tp_static_nat_del(m, sn[i].zone, false, &sn[i].tailnet,
				       NULL))
			res->removed++;
	if (!err)
		free(sn);
	return err;
}
