/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * policyref: a reference policy evaluator for differential tests.
 *
 * Written from docs/policy.md alone, deliberately naive: the rules are a
 * plain array scanned linearly, the specificity of each matching rule is
 * computed from the text of the document (identities named, then
 * protocol/port bits, then zone), and the identities are a plain array of
 * (zone, prefix, length, id) searched linearly for the longest prefix.
 * Nothing here reads the maps or shares code with lib/policy.c, so a test
 * can hold the datapath's decisions against what the document says.
 *
 * Ports are host order throughout, as in struct tp_rule.
 */
#ifndef TAILPLANE_TESTS_POLICYREF_H
#define TAILPLANE_TESTS_POLICYREF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "tailplane/abi.h"

/**
 * struct pref_rule - one rule of the reference policy.
 * @id:   its rule id (userspace allocates ids; the model is told them).
 * @rule: the rule as written: port_lo/port_hi host order, both 0 for any
 *        port, else the first and last port of the range.
 */
struct pref_rule {
	__u32 id;
	struct tp_rule rule;
};

/**
 * struct pref_ident - one identity prefix.
 * @zone:   zone the prefix lives in (0: cluster/node side).
 * @plen:   prefix length in the 128-bit space (an IPv4 /24 is 120).
 * @prefix: the prefix, bits past @plen cleared.
 * @id:     the identity.
 */
struct pref_ident {
	__u16 zone;
	unsigned int plen;
	struct tp_addr prefix;
	__u32 id;
};

/**
 * struct pref_policy - the whole reference state.
 * @rules:        the rules, in no particular order.
 * @n_rules:      rules used.
 * @cap_rules:    room in @rules.
 * @idents:       the identity prefixes.
 * @n_idents:     prefixes used.
 * @cap_idents:   room in @idents.
 * @zone_default: per zone, the default verdict; TP_VERDICT_NONE when the
 *                zone has no entry (then allow).
 */
struct pref_policy {
	struct pref_rule *rules;
	size_t n_rules, cap_rules;
	struct pref_ident *idents;
	size_t n_idents, cap_idents;
	__u8 zone_default[TP_MAX_ZONES];
};

/**
 * struct pref_query - what a decision is made from.
 * @src_id:   source identity.
 * @dst_id:   destination identity.
 * @zone:     zone of the flow (of the interface it uses).
 * @out_zone: zone it leaves to, 0 when that is no tailnet.
 * @proto:    IP protocol.
 * @dport:    destination port, host order (0 for ICMP echo).
 */
struct pref_query {
	__u32 src_id;
	__u32 dst_id;
	__u16 zone;
	__u16 out_zone;
	__u8 proto;
	__u16 dport;
};

/**
 * struct pref_spec - the specificity of a rule for one packet.
 * @ids:  identities the rule names: 0, 1 or 2.
 * @l4:   protocol/port bits it fixes: 0, 8, or 16 + fixed block bits.
 * @zone: 1 when the rule is for the flow's zone, 0 for any zone.
 */
struct pref_spec {
	int ids;
	int l4;
	int zone;
};

/**
 * struct pref_decision - the reference's decision.
 * @verdict:  enum tp_verdict applied (never NONE).
 * @reason:   TP_DROP_POLICY or TP_DROP_ZONE when denied, else 0.
 * @rule_id:  deciding rule, 0 when no rule decided.
 * @crossing: the flow is a zone crossing.
 * @best:     index into the policy's rules of the most specific matching
 *            rule (-1: none), whatever the zone-crossing rule made of it.
 */
struct pref_decision {
	__u8 verdict;
	__u8 reason;
	__u32 rule_id;
	bool crossing;
	long best;
};

void pref_init(struct pref_policy *p);
void pref_free(struct pref_policy *p);

bool pref_rule_any_port(const struct tp_rule *r);
bool pref_rule_same_match(const struct tp_rule *a, const struct tp_rule *b);
long pref_rule_find(const struct pref_policy *p, const struct tp_rule *match);
int pref_rule_add(struct pref_policy *p, const struct tp_rule *r, __u32 id);
int pref_rule_del(struct pref_policy *p, const struct tp_rule *match);
void pref_default_set(struct pref_policy *p, __u16 zone, __u8 verdict);

unsigned int pref_port_fixed_bits(__u16 lo, __u16 hi, __u16 port);
bool pref_rule_matches(const struct tp_rule *r, const struct pref_query *q);
void pref_rule_spec(const struct tp_rule *r, const struct pref_query *q,
		    struct pref_spec *s);
int pref_spec_cmp(const struct pref_spec *a, const struct pref_spec *b);
void pref_decide(const struct pref_policy *p, const struct pref_query *q,
		 struct pref_decision *d);

int pref_identity_set(struct pref_policy *p, __u16 zone,
		      const struct tp_addr *prefix, unsigned int plen,
		      __u32 id);
int pref_identity_del(struct pref_policy *p, __u16 zone,
		      const struct tp_addr *prefix, unsigned int plen);
bool pref_identity_lookup(const struct pref_policy *p, __u16 zone,
			  const struct tp_addr *addr, __u32 *id);
__u32 pref_identity_of(const struct pref_policy *p, __u16 zone,
		       const struct tp_addr *addr, __u32 fallback);

const char *pref_verdict_str(__u8 verdict);
void pref_rule_str(const struct tp_rule *r, char *buf, size_t len);
void pref_print_matches(FILE *f, const struct pref_policy *p,
			const struct pref_query *q);

#endif /* TAILPLANE_TESTS_POLICYREF_H */
