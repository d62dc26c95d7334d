/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * NetworkPolicy -> identity policy rules, for traffic from the tailnet
 * to pods and from this node's pods to the tailnet.
 *
 * A pure function of its input (no maps, no I/O), so that it is tested
 * against a table of policies -> expected rules.  The caller (kube_sync.c)
 * gives the pods with the identity it allocated to each, the namespaces,
 * and the identities the tailnet zones already hold (peers from the
 * WireGuard and Tailscale sources, static ones); it writes the rules and
 * the CIDR identities the compiler asks for with owner TP_OWNER_KUBERNETES
 * and diffs them against what it wrote before.
 */
#ifndef TAILPLANED_KUBE_POLICY_H
#define TAILPLANED_KUBE_POLICY_H

#include <stddef.h>

#include <tailplane/abi.h>

#include "kube.h"
#include "peers.h"

/**
 * struct tpd_kube_pod_ident - a pod that has an identity.
 * @pod: the Pod object (kind TPD_KUBE_POD).
 * @id:  its identity.
 */
struct tpd_kube_pod_ident {
	const struct tpd_kube_object *pod;
	__u32 id;
};

/**
 * struct tpd_kube_policy_in - what the compiler reads.
 * @policies:   NetworkPolicy objects.
 * @pods:       pods with identities (every pod the sync gave one).
 * @namespaces: Namespace objects (their labels feed namespaceSelector).
 * @tailnet:    identity entries of the tailnet zones (zone != 0) that
 *              other sources wrote, for ipBlock peers.
 * @zone:       the zone the rules are for (tpd_kube_cfg.zone; 0: any).
 * @alloc_id:   gives the identity for a name the compiler needs (a CIDR
 *              of an ipBlock: "cidr:100.64.0.0/10"), the same id for the
 *              same name for as long as it is in use; 0 on failure.  An
 *              except prefix is named the same way ("cidr:<prefix>"): the
 *              map holds one identity per prefix, whatever its role.
 * @ctx:        passed to @alloc_id.
 */
struct tpd_kube_policy_in {
	const struct tpd_kube_object *const *policies;
	size_t n_policies;
	const struct tpd_kube_pod_ident *pods;
	size_t n_pods;
	const struct tpd_kube_object *const *namespaces;
	size_t n_namespaces;
	const struct tp_ident_entry *tailnet;
	size_t n_tailnet;
	__u16 zone;
	__u32 (*alloc_id)(void *ctx, const char *name);
	void *ctx;
};

/**
 * struct tpd_kube_policy_out - what it produces (tpd_kube_policy_free()).
 * @rules:  rules, owner TP_OWNER_KUBERNETES, sorted and without
 *          duplicate matches.
 * @idents: identity entries to write for ipBlock CIDRs (and their
 *          except prefixes), in tailnet zones.
 * @warnings: how many policy parts could not be enforced (each logged
 *          through @warn if set); see docs/policy.md, "Kubernetes
 *          NetworkPolicy".
 */
struct tpd_kube_policy_out {
	struct tp_rule *rules;
	size_t n_rules;
	struct tp_ident_entry *idents;
	size_t n_idents;
	unsigned int warnings;
};

int tpd_kube_policy_compile(const struct tpd_kube_policy_in *in,
			    struct tpd_kube_policy_out *out,
			    void (*warn)(void *ctx, const char *policy,
					 const char *what),
			    void *warn_ctx);
void tpd_kube_policy_free(struct tpd_kube_policy_out *out);

/* Does @sel select an object with these labels (sorted by key)? */
bool tpd_kube_selector_match(const struct tpd_kube_selector *sel,
			     const struct tpd_kube_label *labels, size_t n);

#endif /* TAILPLANED_KUBE_POLICY_H */
