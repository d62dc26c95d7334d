// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * policyref: the reference policy evaluator (see policyref.h).
 *
 * Every rule of docs/policy.md "Rules" and "Zones" is implemented here the
 * plainest way: scan every rule, keep the most specific, break ties by
 * verdict and then by rule id.  Speed is not a goal; being obviously the
 * document is.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "policyref.h"

/**
 * pref_init() - an empty reference: no rules, no identities, every zone
 * without a default (allow).
 * @p: the state to initialise.
 */
void pref_init(struct pref_policy *p)
{
	memset(p, 0, sizeof(*p));
}

/**
 * pref_free() - release what pref_init() and the setters allocated.
 * @p: the state; empty afterwards.
 */
void pref_free(struct pref_policy *p)
{
	free(p->rules);
	free(p->idents);
	pref_init(p);
}

/**
 * pref_rule_any_port() - does @r leave the port open ("0 with port_hi 0")?
 * @r: the rule.
 *
 * Return: true for any port.
 */
bool pref_rule_any_port(const struct tp_rule *r)
{
	return r->port_lo == 0 && r->port_hi == 0;
}

/**
 * pref_rule_same_match() - do @a and @b have the same match (identities,
 * zone, protocol, ports)?  Such rules are one rule (docs/policy.md).
 * @a: a rule.
 * @b: another.
 *
 * Return: true when they are the same rule.
 */
bool pref_rule_same_match(const struct tp_rule *a, const struct tp_rule *b)
{
	return a->src_id == b->src_id && a->dst_id == b->dst_id &&
	       a->zone == b->zone && a->proto == b->proto &&
	       a->port_lo == b->port_lo && a->port_hi == b->port_hi;
}

/**
 * pref_rule_find() - the rule with the same match as @match.
 * @p:     the reference.
 * @match: the match fields (verdict ignored).
 *
 * Return: its index in @p->rules, or -1.
 */
long pref_rule_find(const struct pref_policy *p, const struct tp_rule *match)
{
	size_t i;

	for (i = 0; i < p->n_rules; i++)
		if (pref_rule_same_match(&p->rules[i].rule, match))
			return (long)i;
	return -1;
}

/**
 * pref_rule_add() - add a rule, or change the verdict of the rule with the
 * same match.
 * @p:  the reference.
 * @r:  the rule.
 * @id: its id when it is new (ignored when it replaces a verdict).
 *
 * Return: 1 when an existing rule changed, 0 when @r was added, -ENOMEM.
 */
int pref_rule_add(struct pref_policy *p, const struct tp_rule *r, __u32 id)
{
	long i = pref_rule_find(p, r);

	if (i >= 0) {
		p->rules[i].rule.verdict = r->verdict;
		p->rules[i].rule.owner = r->owner;
		return 1;
	}
	if (p->n_rules == p->cap_rules) {
		size_t cap = p->cap_rules ? p->cap_rules * 2 : 64;
		void *n = realloc(p->rules, cap * sizeof(*p->rules));

		if (!n)
			return -ENOMEM;
		p->rules = n;
		p->cap_rules = cap;
	}
	p->rules[p->n_rules].id = id;
	p->rules[p->n_rules].rule = *r;
	p->n_rules++;
	return 0;
}

/**
 * pref_rule_del() - remove the rule with the same match as @match.
 * @p:     the reference.
 * @match: the match fields.
 *
 * Return: 0, or -ENOENT.
 */
int pref_rule_del(struct pref_policy *p, const struct tp_rule *match)
{
	long i = pref_rule_find(p, match);

	if (i < 0)
		return -ENOENT;
	p->rules[i] = p->rules[--p->n_rules];
	return 0;
}

/**
 * pref_default_set() - a zone's default verdict.
 * @p:       the reference.
 * @zone:    the zone.
 * @verdict: TP_VERDICT_ALLOW or TP_VERDICT_DENY.
 */
void pref_default_set(struct pref_policy *p, __u16 zone, __u8 verdict)
{
	if (zone < TP_MAX_ZONES)
		p->zone_default[zone] = verdict;
}

/**
 * pref_port_fixed_bits() - fixed bits of the largest aligned power-of-two
 * block of [@lo, @hi] that holds @port.
 * @lo:   first port of the range.
 * @hi:   last port.
 * @port: the packet's port, inside the range.
 *
 * Tries every block size from the whole port space down to one port; the
 * block of size 2^k holding @port starts at @port with its low k bits
 * cleared.
 *
 * Return: 16 - k for the largest such block that lies inside the range.
 */
unsigned int pref_port_fixed_bits(__u16 lo, __u16 hi, __u16 port)
{
	unsigned int k;

	for (k = 16; k > 0; k--) {
		__u32 size = 1u << k;
		__u32 first = port & ~(size - 1);
		__u32 last = first + size - 1;

		if (first >= lo && last <= hi)
			return 16 - k;
	}
	return 16;
}

static bool pref_id_matches(__u32 rule_id, __u32 id)
{
	return rule_id == TP_POLICY_ANY_ID || rule_id == id;
}

/**
 * pref_rule_matches() - does @r match the flow @q?
 * @r: the rule.
 * @q: the flow.
 *
 * Return: true when identities, zone, protocol and port all match.  Ports
 * apply to TCP and UDP only; a rule with a port range never matches
 * another protocol, since it names TCP or UDP.
 */
bool pref_rule_matches(const struct tp_rule *r, const struct pref_query *q)
{
	if (!pref_id_matches(r->src_id, q->src_id) ||
	    !pref_id_matches(r->dst_id, q->dst_id))
		return false;
	if (r->zone != TP_POLICY_ANY_ZONE && r->zone != q->zone)
		return false;
	if (!r->proto)
		return true;
	if (r->proto != q->proto)
		return false;
	if (pref_rule_any_port(r))
		return true;
	if (q->proto != IPPROTO_TCP && q->proto != IPPROTO_UDP)
		return false;
	return q->dport >= r->port_lo && q->dport <= r->port_hi;
}

/**
 * pref_rule_spec() - the specificity of @r for the flow @q (which it
 * matches), in the document's three parts.
 * @r: the rule.
 * @q: the flow.
 * @s: the specificity.
 */
void pref_rule_spec(const struct tp_rule *r, const struct pref_query *q,
		    struct pref_spec *s)
{
	s->ids = (r->src_id != TP_POLICY_ANY_ID) +
		 (r->dst_id != TP_POLICY_ANY_ID);
	if (!r->proto)
		s->l4 = 0;
	else if (pref_rule_any_port(r))
		s->l4 = 8;
	else
		s->l4 = 16 + (int)pref_port_fixed_bits(r->port_lo, r->port_hi,
						       q->dport);
	s->zone = r->zone != TP_POLICY_ANY_ZONE;
}

/**
 * pref_spec_cmp() - compare two specificities, identities first, then
 * protocol/port bits, then zone.
 * @a: one.
 * @b: the other.
 *
 * Return: > 0 when @a is more specific, < 0 when @b is, 0 when equal.
 */
int pref_spec_cmp(const struct pref_spec *a, const struct pref_spec *b)
{
	if (a->ids != b->ids)
		return a->ids - b->ids;
	if (a->l4 != b->l4)
		return a->l4 - b->l4;
	return a->zone - b->zone;
}

/* deny beats audit beats allow */
static int pref_verdict_rank(__u8 verdict)
{
	switch (verdict) {
	case TP_VERDICT_DENY:
		return 3;
	case TP_VERDICT_AUDIT:
		return 2;
	case TP_VERDICT_ALLOW:
		return 1;
	}
	return 0;
}

/**
 * pref_decide() - decide a new flow as docs/policy.md says.
 * @p: the reference.
 * @q: the flow.
 * @d: the decision.
 *
 * The most specific matching rule decides; at equal specificity deny beats
 * audit beats allow, and between equal verdicts the lower rule id is
 * reported.  No rule: the zone's default, allow without one.  A zone
 * crossing passes only when the deciding rule names both identities and
 * allows or audits; otherwise it is dropped with TP_DROP_ZONE.
 */
void pref_decide(const struct pref_policy *p, const struct pref_query *q,
		 struct pref_decision *d)
{
	struct pref_spec s, best_s = { 0 };
	const struct pref_rule *best = NULL, *pr;
	size_t i;
	int c;

	memset(d, 0, sizeof(*d));
	d->best = -1;
	for (i = 0; i < p->n_rules; i++) {
		pr = &p->rules[i];
		if (!pref_rule_matches(&pr->rule, q))
			continue;
		pref_rule_spec(&pr->rule, q, &s);
		c = best ? pref_spec_cmp(&s, &best_s) : 1;
		if (!c) {
			c = pref_verdict_rank(pr->rule.verdict) -
			    pref_verdict_rank(best->rule.verdict);
			if (!c)
				c = pr->id < best->id ? 1 : -1;
		}
		if (c > 0) {
			best = pr;
			best_s = s;
			d->best = (long)i;
		}
	}

	d->crossing = q->zone && q->out_zone && q->zone != q->out_zone;
	if (d->crossing) {
		bool both = best && best->rule.src_id != TP_POLICY_ANY_ID &&
			    best->rule.dst_id != TP_POLICY_ANY_ID;

		if (both && best->rule.verdict != TP_VERDICT_DENY) {
			d->verdict = best->rule.verdict;
			d->rule_id = best->id;
		} else {
			d->verdict = TP_VERDICT_DENY;
			d->reason = TP_DROP_ZONE;
			d->rule_id = both ? best->id : 0;
		}
		return;
	}
	if (best) {
		d->verdict = best->rule.verdict;
		d->rule_id = best->id;
	} else {
		d->verdict =
			q->zone < TP_MAX_ZONES && p->zone_default[q->zone] ==
							  TP_VERDICT_DENY
				? TP_VERDICT_DENY
				: TP_VERDICT_ALLOW;
		d->rule_id = 0;
	}
	d->reason = d->verdict == TP_VERDICT_DENY ? TP_DROP_POLICY : 0;
}

/* Clear the bits of @a past @plen. */
static void pref_mask(struct tp_addr *a, unsigned int plen)
{
	unsigned int bit;

	for (bit = plen; bit < 128; bit++)
		a->b[bit / 8] &= (__u8) ~(0x80u >> (bit % 8));
}

/* Do the first @plen bits of @a and @b agree? */
static bool pref_prefix_eq(const struct tp_addr *a, const struct tp_addr *b,
			   unsigned int plen)
{
	unsigned int bit;

	for (bit = 0; bit < plen; bit++) {
		__u8 m = 0x80u >> (bit % 8);

		if ((a->b[bit / 8] & m) != (b->b[bit / 8] & m))
			return false;
	}
	return true;
}

/**
 * pref_identity_set() - give a prefix of a zone an identity (replacing the
 * identity of the same prefix).
 * @p:      the reference.
 * @zone:   zone.
 * @prefix: address; bits past @plen are ignored.
 * @plen:   prefix length in the 128-bit space.
 * @id:     identity, not 0.
 *
 * Return: 1 when the prefix existed, 0 when added, -EINVAL or -ENOMEM.
 */
int pref_identity_set(struct pref_policy *p, __u16 zone,
		      const struct tp_addr *prefix, unsigned int plen, __u32 id)
{
	struct pref_ident ne = { .zone = zone, .plen = plen, .id = id };
	size_t i;

	if (plen > 128 || id == TP_ID_UNKNOWN)
		return -EINVAL;
	ne.prefix = *prefix;
	pref_mask(&ne.prefix, plen);
	for (i = 0; i < p->n_idents; i++) {
		struct pref_ident *e = &p->idents[i];

		if (e->zone == zone && e->plen == plen &&
		    !memcmp(&e->prefix, &ne.prefix, sizeof(ne.prefix))) {
			e->id = id;
			return 1;
		}
	}
	if (p->n_idents == p->cap_idents) {
		size_t cap = p->cap_idents ? p->cap_idents * 2 : 64;
		void *n = realloc(p->idents, cap * sizeof(*p->idents));

		if (!n)
			return -ENOMEM;
		p->idents = n;
		p->cap_idents = cap;
	}
	p->idents[p->n_idents++] = ne;
	return 0;
}

/**
 * pref_identity_del() - remove a prefix of a zone.
 * @p:      the reference.
 * @zone:   zone.
 * @prefix: address; bits past @plen are ignored.
 * @plen:   prefix length in the 128-bit space.
 *
 * Return: 0, or -ENOENT when the zone has no such prefix.
 */
int pref_identity_del(struct pref_policy *p, __u16 zone,
		      const struct tp_addr *prefix, unsigned int plen)
{
	struct tp_addr a = *prefix;
	size_t i;

	if (plen > 128)
		return -ENOENT;
	pref_mask(&a, plen);
	for (i = 0; i < p->n_idents; i++) {
		struct pref_ident *e = &p->idents[i];

		if (e->zone == zone && e->plen == plen &&
		    !memcmp(&e->prefix, &a, sizeof(a))) {
			*e = p->idents[--p->n_idents];
			return 0;
		}
	}
	return -ENOENT;
}

/**
 * pref_identity_lookup() - longest-prefix match of @addr in @zone.
 * @p:    the reference.
 * @zone: zone.
 * @addr: the address.
 * @id:   the identity found.
 *
 * Return: true when some prefix of @zone holds @addr.
 */
bool pref_identity_lookup(const struct pref_policy *p, __u16 zone,
			  const struct tp_addr *addr, __u32 *id)
{
	const struct pref_ident *best = NULL;
	size_t i;

	for (i = 0; i < p->n_idents; i++) {
		const struct pref_ident *e = &p->idents[i];

		if (e->zone != zone ||
		    !pref_prefix_eq(&e->prefix, addr, e->plen))
			continue;
		if (!best || e->plen > best->plen)
			best = e;
	}
	if (best)
		*id = best->id;
	return best != NULL;
}

/**
 * pref_identity_of() - pref_identity_lookup() with a fallback.
 * @p:        the reference.
 * @zone:     zone.
 * @addr:     the address.
 * @fallback: identity when no prefix holds @addr.
 *
 * Return: the identity.
 */
__u32 pref_identity_of(const struct pref_policy *p, __u16 zone,
		       const struct tp_addr *addr, __u32 fallback)
{
	__u32 id;

	return pref_identity_lookup(p, zone, addr, &id) ? id : fallback;
}

/**
 * pref_verdict_str() - a verdict as text.
 * @verdict: enum tp_verdict.
 *
 * Return: a static string.
 */
const char *pref_verdict_str(__u8 verdict)
{
	switch (verdict) {
	case TP_VERDICT_NONE:
		return "none";
	case TP_VERDICT_ALLOW:
		return "allow";
	case TP_VERDICT_DENY:
		return "deny";
	case TP_VERDICT_AUDIT:
		return "audit";
	}
	return "?";
}

static void pref_id_str(__u32 id, char *buf, size_t len)
{
	if (id == TP_POLICY_ANY_ID)
		snprintf(buf, len, "any");
	else
		snprintf(buf, len, "%u", id);
}

static const char *pref_proto_str(__u8 proto, char *buf, size_t len)
{
	return proto ? tp_proto_name(proto, buf, len) : "any";
}

/**
 * pref_rule_str() - a rule as text, e.g.
 * "256 -> any zone 1 tcp 1000-1999 deny".
 * @r:   the rule.
 * @buf: where to write.
 * @len: its size (96 is enough).
 */
void pref_rule_str(const struct tp_rule *r, char *buf, size_t len)
{
	char src[16], dst[16], zone[8], proto[8], ports[16];

	pref_id_str(r->src_id, src, sizeof(src));
	pref_id_str(r->dst_id, dst, sizeof(dst));
	if (r->zone == TP_POLICY_ANY_ZONE)
		snprintf(zone, sizeof(zone), "any");
	else
		snprintf(zone, sizeof(zone), "%u", r->zone);
	if (!r->proto || pref_rule_any_port(r))
		snprintf(ports, sizeof(ports), "any");
	else if (r->port_lo == r->port_hi)
		snprintf(ports, sizeof(ports), "%u", r->port_lo);
	else
		snprintf(ports, sizeof(ports), "%u-%u", r->port_lo, r->port_hi);
	snprintf(buf, len, "%s -> %s zone %s proto %s port %s: %s", src, dst,
		 zone, pref_proto_str(r->proto, proto, sizeof(proto)), ports,
		 pref_verdict_str(r->verdict));
}

/**
 * pref_print_matches() - print every rule matching @q with its
 * specificity, the one that decides marked, and the zone's default.
 * @f: where to print.
 * @p: the reference.
 * @q: the flow.
 */
void pref_print_matches(FILE *f, const struct pref_policy *p,
			const struct pref_query *q)
{
	struct pref_decision d;
	struct pref_spec s;
	char buf[128];
	size_t i, n = 0;

	pref_decide(p, q, &d);
	for (i = 0; i < p->n_rules; i++) {
		const struct pref_rule *pr = &p->rules[i];

		if (!pref_rule_matches(&pr->rule, q))
			continue;
		pref_rule_spec(&pr->rule, q, &s);
		pref_rule_str(&pr->rule, buf, sizeof(buf));
		fprintf(f, "    %s rule %u: %s  [ids %d, l4 %d, zone %d]\n",
			(long)i == d.best ? "*" : " ", pr->id, buf, s.ids, s.l4,
			s.zone);
		n++;
	}
	if (!n)
		fprintf(f, "    no rule matches\n");
	fprintf(f, "    zone %u default: %s%s\n", q->zone,
		q->zone < TP_MAX_ZONES
			? pref_verdict_str(p->zone_default[q->zone])
			: "?",
		q->zone < TP_MAX_ZONES && !p->zone_default[q->zone]
			? " (no entry: allow)"
			: "");
}
