/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Kubernetes source's test fixture (tests/test_kube_sync.c,
 * tests/test_attacks_kube.c): hand-built objects, a store and a sync over
 * the harness's maps (struct ks), and readers of what landed in them.
 */
#ifndef TP_TESTS_KUBETEST_H
#define TP_TESTS_KUBETEST_H

#include <stddef.h>

#include "kube.h"
#include "kube_store.h"
#include "kube_sync.h"
#include "pkttest.h"
#include "sync.h"

#define NODE "node-a"

struct ks {
	struct th *h;
	struct tpd_kube_cfg cfg;
	struct tpd_kube_store *store;
	struct tpd_kube_sync *sync;
	const struct tpd_kube_sink *sink;
	struct tpd_purge udp, tcp;
	struct tpd_kube_sync_result res;
	__u64 now;
};

struct svc_row {
	struct tp_svc_key key;
	struct tp_svc svc;
};

char *kt_xstrdup(const char *s);
struct tpd_kube_object *kt_obj_new(enum tpd_kube_kind kind, const char *ns,
				   const char *name);
void kt_obj_label(struct tpd_kube_object *o, const char *k, const char *v);
struct tp_addr *kt_addrs(const char *list, size_t *n);
struct tpd_kube_object *kt_svc_new(const char *ns, const char *name,
				   const char *vips, const char *ports);
struct tpd_kube_object *kt_slice_new(const char *ns, const char *name,
				     const char *svc,
				     enum tpd_kube_addr_type type,
				     const char *ports, const char *eps);
struct tpd_kube_object *kt_pod_new(const char *ns, const char *name,
				   const char *node, const char *ips);
void kt_ks_open(struct ks *k, struct th *h);
void kt_ks_close(struct ks *k);
void kt_ks_free(struct ks *k);
void kt_put(struct ks *k, struct tpd_kube_object *o);
void kt_del(struct ks *k, enum tpd_kube_kind kind, const char *ns,
	    const char *name);
void kt_synced(struct ks *k);
void kt_run(struct ks *k);
const char *kt_frontend(struct th *h, const char *fe);
__u32 kt_ident_of(struct th *h, const char *addr);

#endif /* TP_TESTS_KUBETEST_H */
