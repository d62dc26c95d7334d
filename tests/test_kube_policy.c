// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the NetworkPolicy compiler (loader/kube_policy.c): a
 * table of (policies, pods, namespaces, tailnet identities) -> expected
 * rules, identity entries and warnings, each case also compiled from
 * shuffled input (the seed is printed; TP_TEST_SEED replays it); the
 * label selector alone; bad input; the time to compile 1,000 policies
 * over 10,000 pods (printed, not asserted); and a differential test that
 * decides random packets, both directions, from the objects directly, by
 * NetworkPolicy's rules, and from the compiled rules with
 * tests/policyref.c's evaluator of docs/policy.md (TP_KP_ROUNDS sets its
 * length, 200 worlds of 300 packets by default).
 *
 * No root, no maps: objects are built here (tpd_kube_object_free() is not
 * used), freed with the test's own arena.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "addr.h"
#include "kube_policy.h"
#include "policy.h"
#include "policyref.h"

/* ---- an arena: every object a test builds, freed at its end ---------------- */

static void **arena;
static size_t arena_n, arena_cap;

static void *az(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	assert_non_null(p);
	if (arena_n == arena_cap) {
		arena_cap = arena_cap ? arena_cap * 2 : 1024;
		arena = realloc(arena, arena_cap * sizeof(*arena));
		assert_non_null(arena);
	}
	arena[arena_n++] = p;
	return p;
}

static char *as(const char *s)
{
	return strcpy(az(strlen(s) + 1), s);
}

static void arena_free(void)
{
	while (arena_n)
		free(arena[--arena_n]);
	free(arena);
	arena = NULL;
	arena_cap = 0;
}

static int teardown(void **state)
{
	arena_free();
	return 0;
}

/* ---- seeds --------------------------------------------------------------------- */

static unsigned long long seed;

static __u64 rnd_state;

static __u64 rnd(void)
{
	/* xorshift64*: reproducible from the seed on every libc */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545F4914F6CDD1DULL;
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static void rnd_seed(unsigned long long s)
{
	rnd_state = s * 0x9E3779B97F4A7C15ULL + 1;
}

/* ---- building objects ---------------------------------------------------------- */

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tpd_kube_label *)a)->key,
		      ((const struct tpd_kube_label *)b)->key);
}

/* "k=v,k2=v2" -> labels sorted by key, as the decoder gives them. */
static void parse_labels(const char *s, struct tpd_kube_label **out, size_t *n)
{
	char *copy, *tok, *save, *eq;

	*n = 0;
	*out = az(16 * sizeof(**out));
	if (!s || !*s)
		return;
	copy = as(s);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		eq = strchr(tok, '=');
		assert_non_null(eq);
		*eq = 0;
		(*out)[*n].key = as(tok);
		(*out)[*n].value = as(eq + 1);
		(*n)++;
	}
	qsort(*out, *n, sizeof(**out), label_cmp);
}

/*
 * A selector from a small text: terms joined by ',': "k=v" (matchLabels),
 * "k in a|b", "k notin a|b", "k" (Exists), "!k" (DoesNotExist).  NULL:
 * absent; "": present and empty.
 */
static struct tpd_kube_selector sel(const char *s)
{
	struct tpd_kube_selector r = { .present = s != NULL };
	struct tpd_kube_sel_expr *e;
	char *copy, *tok, *save, *sp, *v, *vs;

	if (!s)
		return r;
	r.match = az(16 * sizeof(*r.match));
	r.exprs = az(16 * sizeof(*r.exprs));
	copy = as(s);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strchr(tok, '=')) {
			sp = strchr(tok, '=');
			*sp = 0;
			r.match[r.n_match].key = as(tok);
			r.match[r.n_match++].value = as(sp + 1);
			continue;
		}
		e = &r.exprs[r.n_exprs++];
		if (tok[0] == '!') {
			e->key = as(tok + 1);
			e->op = TPD_KUBE_SEL_NOT_EXISTS;
			continue;
		}
		sp = strchr(tok, ' ');
		if (!sp) {
			e->key = as(tok);
			e->op = TPD_KUBE_SEL_EXISTS;
			continue;
		}
		*sp = 0;
		e->key = as(tok);
		e->op = !strncmp(sp + 1, "in ", 3) ? TPD_KUBE_SEL_IN
						   : TPD_KUBE_SEL_NOT_IN;
		vs = strchr(sp + 1, ' ') + 1;
		e->values = az(16 * sizeof(*e->values));
		for (v = strtok(vs, "|"); v; v = strtok(NULL, "|"))
			e->values[e->n_values++] = as(v);
	}
	qsort(r.match, r.n_match, sizeof(*r.match), label_cmp);
	return r;
}

/* What a test compiles: grown as it is built. */
struct tin {
	const struct tpd_kube_object **pols;
	size_t n_pols;
	struct tpd_kube_pod_ident *pods;
	size_t n_pods;
	const struct tpd_kube_object **nss;
	size_t n_nss;
	struct tp_ident_entry *tn;
	size_t n_tn;
	size_t cap;
	__u16 zone;
};

static struct tin *tin_new(size_t cap, __u16 zone)
{
	struct tin *t = az(sizeof(*t));

	t->cap = cap;
	t->zone = zone;
	t->pols = az(cap * sizeof(*t->pols));
	t->pods = az(cap * sizeof(*t->pods));
	t->nss = az(cap * sizeof(*t->nss));
	t->tn = az(cap * sizeof(*t->tn));
	return t;
}

static struct tpd_kube_object *obj(enum tpd_kube_kind kind, const char *ns,
				   const char *name, const char *labels)
{
	struct tpd_kube_object *o = az(sizeof(*o));

	o->kind = kind;
	o->meta.ns = as(ns);
	o->meta.name = as(name);
	o->meta.uid = as(name);
	parse_labels(labels, &o->meta.labels, &o->meta.n_labels);
	return o;
}

static void ns(struct tin *t, const char *name, const char *labels)
{
	assert_true(t->n_nss < t->cap);
	t->nss[t->n_nss++] = obj(TPD_KUBE_NAMESPACE, "", name, labels);
}

/* @ports: "http:tcp:8080,dns:udp:53" (named container ports). */
static struct tpd_kube_object *pod(struct tin *t, const char *nsname,
				   const char *name, __u32 id,
				   const char *labels, const char *ports)
{
	struct tpd_kube_object *o = obj(TPD_KUBE_POD, nsname, name, labels);
	char *copy, *tok, *save, *a, *b;
	struct tpd_kube_named_port *p;

	o->pod.ports = az(8 * sizeof(*o->pod.ports));
	if (ports) {
		copy = as(ports);
		for (tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			a = strchr(tok, ':');
			b = strchr(a + 1, ':');
			*a = *b = 0;
			p = &o->pod.ports[o->pod.n_ports++];
			p->name = as(tok);
			p->proto = !strcmp(a + 1, "udp") ? IPPROTO_UDP
							 : IPPROTO_TCP;
			p->port = (__u16)atoi(b + 1);
		}
	}
	assert_true(t->n_pods < t->cap);
	t->pods[t->n_pods].pod = o;
	t->pods[t->n_pods++].id = id;
	return o;
}

static void tn(struct tin *t, __u16 zone, const char *prefix, __u32 id)
{
	struct tp_ident_entry *e;
	unsigned int plen;

	assert_true(t->n_tn < t->cap);
	e = &t->tn[t->n_tn++];
	assert_int_equal(tp_prefix_parse(prefix, &e->prefix, &plen), 0);
	e->plen = plen;
	e->zone = zone;
	e->id = id;
}

#define ING 1
#define EGR 2

static struct tpd_kube_object *pol(struct tin *t, const char *nsname,
				   const char *name, const char *podsel,
				   int types)
{
	struct tpd_kube_object *o = obj(TPD_KUBE_NETPOL, nsname, name, NULL);

	o->np.pod_selector = sel(podsel);
	o->np.ingress_type = types & ING;
	o->np.egress_type = types & EGR;
	o->np.ingress = az(8 * sizeof(*o->np.ingress));
	o->np.egress = az(8 * sizeof(*o->np.egress));
	assert_true(t->n_pols < t->cap);
	t->pols[t->n_pols++] = o;
	return o;
}

static struct tpd_kube_np_rule *ing(struct tpd_kube_object *p)
{
	struct tpd_kube_np_rule *r = &p->np.ingress[p->np.n_ingress++];

	r->peers = az(8 * sizeof(*r->peers));
	r->ports = az(8 * sizeof(*r->ports));
	return r;
}

/* An egress rule; from_cidr() and the others fill its to[]. */
static struct tpd_kube_np_rule *egr(struct tpd_kube_object *p)
{
	struct tpd_kube_np_rule *r = &p->np.egress[p->np.n_egress++];

	r->peers = az(8 * sizeof(*r->peers));
	r->ports = az(8 * sizeof(*r->ports));
	return r;
}

/* @except: space-separated prefixes, or NULL. */
static void from_cidr(struct tpd_kube_np_rule *r, const char *cidr,
		      const char *except)
{
	struct tpd_kube_np_peer *p = &r->peers[r->n_peers++];
	char *copy, *tok, *save;
	unsigned int plen;

	r->peers_present = true;
	p->has_cidr = true;
	assert_int_equal(tp_prefix_parse(cidr, &p->cidr, &plen), 0);
	p->cidr_plen = plen;
	p->except = az(8 * sizeof(*p->except));
	p->except_plen = az(8);
	if (!except)
		return;
	copy = as(except);
	for (tok = strtok_r(copy, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		assert_int_equal(
			tp_prefix_parse(tok, &p->except[p->n_except], &plen),
			0);
		p->except_plen[p->n_except++] = plen;
	}
}

static void from_sel(struct tpd_kube_np_rule *r, const char *pods,
		     const char *nss)
{
	struct tpd_kube_np_peer *p = &r->peers[r->n_peers++];

	r->peers_present = true;
	p->pods = sel(pods);
	p->namespaces = sel(nss);
}

static void port(struct tpd_kube_np_rule *r, __u8 proto, __u16 num,
		 const char *name, __u16 end)
{
	struct tpd_kube_np_port *p = &r->ports[r->n_ports++];

	p->proto = proto;
	p->port = num;
	p->name = name ? as(name) : NULL;
	p->end_port = end;
}

/* ---- identities for ipBlock prefixes: a test allocator ---------------------------- */

#define TA_MAX 4096

struct talloc {
	char names[TA_MAX][TP_IDENTITY_NAME_LEN];
	__u32 ids[TA_MAX];
	size_t n;
	const char *fail; /* a name it refuses */
	unsigned int calls;
};

static __u32 t_alloc(void *ctx, const char *name)
{
	struct talloc *a = ctx;
	size_t i;

	a->calls++;
	assert_true(strlen(name) < TP_IDENTITY_NAME_LEN);
	if (a->fail && !strcmp(a->fail, name))
		return 0;
	for (i = 0; i < a->n; i++)
		if (!strcmp(a->names[i], name))
			return a->ids[i];
	assert_true(a->n < TA_MAX);
	strcpy(a->names[a->n], name);
	a->ids[a->n] = 1000 + (__u32)a->n;
	return a->ids[a->n++];
}

static void id_str(const struct talloc *a, __u32 id, char *buf, size_t len)
{
	size_t i;

	if (id == TP_POLICY_ANY_ID) {
		snprintf(buf, len, "any");
		return;
	}
	for (i = 0; i < a->n; i++)
		if (a->ids[i] == id) {
			snprintf(buf, len, "%s", a->names[i]);
			return;
		}
	snprintf(buf, len, "%u", id);
}

/* "500>300 z1 tcp/80 allow": src>dst zone proto[/ports] verdict. */
static void rule_str(const struct talloc *a, const struct tp_rule *r, char *buf,
		     size_t len)
{
	char src[64], dst[64], ports[32] = "";

	id_str(a, r->src_id, src, sizeof(src));
	id_str(a, r->dst_id, dst, sizeof(dst));
	if (r->port_lo || r->port_hi) {
		if (r->port_lo == r->port_hi)
			snprintf(ports, sizeof(ports), "/%u", r->port_lo);
		else
			snprintf(ports, sizeof(ports), "/%u-%u", r->port_lo,
				 r->port_hi);
	}
	snprintf(buf, len, "%s>%s z%u %s%s %s", src, dst, r->zone,
		 r->proto == IPPROTO_TCP   ? "tcp"
		 : r->proto == IPPROTO_UDP ? "udp"
		 : r->proto		   ? "?"
					   : "any",
		 ports,
		 r->verdict == TP_VERDICT_ALLOW	 ? "allow"
		 : r->verdict == TP_VERDICT_DENY ? "deny"
						 : "?");
}

/* "z1 100.64.0.0/16 cidr:100.64.0.0/16" */
static void ident_str(const struct talloc *a, const struct tp_ident_entry *e,
		      char *buf, size_t len)
{
	char p[TP_PREFIX_STRLEN], id[64];

	id_str(a, e->id, id, sizeof(id));
	snprintf(buf, len, "z%u %s %s", e->zone,
		 tp_prefix_format(&e->prefix, e->plen, p, sizeof(p)), id);
}

/* ---- warnings --------------------------------------------------------------------- */

struct twarn {
	unsigned int n;
	char all[8192];
};

static void t_warn(void *ctx, const char *policy, const char *what)
{
	struct twarn *w = ctx;
	size_t l = strlen(w->all);

	w->n++;
	snprintf(w->all + l, sizeof(w->all) - l, "[%s] %s\n", policy, what);
}

/* ---- compiling and checking ----------------------------------------------------------- */

struct tout {
	struct tpd_kube_policy_out out;
	struct talloc *alloc;
	struct twarn warn;
	int err;
};

static void compile(const struct tin *t, struct tout *o)
{
	struct tpd_kube_policy_in in = {
		.policies = t->pols,
		.n_policies = t->n_pols,
		.pods = t->pods,
		.n_pods = t->n_pods,
		.namespaces = t->nss,
		.n_namespaces = t->n_nss,
		.tailnet = t->tn,
		.n_tailnet = t->n_tn,
		.zone = t->zone,
		.alloc_id = t_alloc,
	};

	if (!o->alloc)
		o->alloc = az(sizeof(*o->alloc));
	in.ctx = o->alloc;
	o->err = tpd_kube_policy_compile(&in, &o->out, t_warn, &o->warn);
}

#define SHUFFLE(arr, n)                                          \
	do {                                                     \
		size_t _i, _j;                                   \
		for (_i = (n); _i > 1; _i--) {                   \
			_j = rnd_below(_i);                      \
			__typeof__((arr)[0]) _t = (arr)[_i - 1]; \
			(arr)[_i - 1] = (arr)[_j];               \
			(arr)[_j] = _t;                          \
		}                                                \
	} while (0)

static struct tin *tin_shuffled(const struct tin *t)
{
	struct tin *s = tin_new(t->cap, t->zone);

	memcpy(s->pols, t->pols, t->n_pols * sizeof(*s->pols));
	memcpy(s->pods, t->pods, t->n_pods * sizeof(*s->pods));
	memcpy(s->nss, t->nss, t->n_nss * sizeof(*s->nss));
	memcpy(s->tn, t->tn, t->n_tn * sizeof(*s->tn));
	s->n_pols = t->n_pols;
	s->n_pods = t->n_pods;
	s->n_nss = t->n_nss;
	s->n_tn = t->n_tn;
	SHUFFLE(s->pols, s->n_pols);
	SHUFFLE(s->pods, s->n_pods);
	SHUFFLE(s->nss, s->n_nss);
	SHUFFLE(s->tn, s->n_tn);
	return s;
}

static int match_cmp(const void *pa, const void *pb)
{
	struct tp_rule a, b;

	tp_rule_match(pa, &a);
	tp_rule_match(pb, &b);
	return memcmp(&a, &b, sizeof(a));
}

struct pos {
	__u32 dst;
	size_t at;
};

static int pos_cmp(const void *pa, const void *pb)
{
	const struct pos *a = pa, *b = pb;

	if (a->dst != b->dst)
		return a->dst < b->dst ? -1 : 1;
	return a->at < b->at ? -1 : a->at > b->at;
}

/*
 * Every rule valid, owned by Kubernetes; no two with the same match; an
 * ingress deny (any -> P) after every other rule naming P as destination
 * (its allows, written first, kp_merge_rules()).
 */
static void check_rules_well_formed(const struct tpd_kube_policy_out *out)
{
	const struct tp_rule *a;
	struct tp_rule *copy;
	size_t i, j;

	struct pos *by_dst = malloc((out->n_rules + 1) * sizeof(*by_dst));

	assert_non_null(by_dst);
	for (i = 0; i < out->n_rules; i++) {
		a = &out->rules[i];
		assert_int_equal(tp_rule_validate(a), 0);
		assert_int_equal(a->owner, TP_OWNER_KUBERNETES);
		by_dst[i] = (struct pos){ .dst = a->dst_id, .at = i };
	}
	/* by destination, then position: an ingress deny ends its run */
	qsort(by_dst, out->n_rules, sizeof(*by_dst), pos_cmp);
	for (i = 0; i < out->n_rules; i++) {
		a = &out->rules[by_dst[i].at];
		j = i + 1;
		if (a->verdict == TP_VERDICT_DENY && !a->src_id && a->dst_id &&
		    j < out->n_rules && by_dst[j].dst == a->dst_id)
			fail_msg(
				"rule %zu names identity %u after its deny (%zu)",
				by_dst[j].at, a->dst_id, by_dst[i].at);
	}
	free(by_dst);
	copy = malloc((out->n_rules + 1) * sizeof(*copy));
	assert_non_null(copy);
	if (out->n_rules)
		memcpy(copy, out->rules, out->n_rules * sizeof(*copy));
	qsort(copy, out->n_rules, sizeof(*copy), match_cmp);
	for (i = 1; i < out->n_rules; i++)
		if (tp_rule_same_match(&copy[i - 1], &copy[i]))
			fail_msg("two rules with one match");
	free(copy);
}

/* The output as text, one line per rule, then one per identity entry. */
static char *out_text(const struct tout *o)
{
	size_t i, cap = 256 + 96 * (o->out.n_rules + o->out.n_idents), l = 0;
	char *s = malloc(cap), line[160];

	assert_non_null(s);
	s[0] = 0;
	for (i = 0; i < o->out.n_rules; i++) {
		rule_str(o->alloc, &o->out.rules[i], line, sizeof(line));
		l += snprintf(s + l, cap - l, "%s\n", line);
	}
	for (i = 0; i < o->out.n_idents; i++) {
		ident_str(o->alloc, &o->out.idents[i], line, sizeof(line));
		l += snprintf(s + l, cap - l, "ident %s\n", line);
	}
	return s;
}

static char *expected_text(const char *const *rules, const char *const *idents)
{
	size_t l = 0, cap = 8192;
	char *s = malloc(cap);

	assert_non_null(s);
	s[0] = 0;
	for (; rules && *rules; rules++)
		l += snprintf(s + l, cap - l, "%s\n", *rules);
	for (; idents && *idents; idents++)
		l += snprintf(s + l, cap - l, "ident %s\n", *idents);
	return s;
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* @s with its lines sorted: the table lists rules in the order it likes. */
static char *sorted_lines(char *s)
{
	char *lines[1024], *save, *tok, *out = malloc(strlen(s) + 2);
	size_t n = 0, i, l = 0;

	assert_non_null(out);
	for (tok = strtok_r(s, "\n", &save); tok;
	     tok = strtok_r(NULL, "\n", &save)) {
		assert_true(n < 1024);
		lines[n++] = tok;
	}
	qsort(lines, n, sizeof(*lines), line_cmp);
	out[0] = 0;
	for (i = 0; i < n; i++)
		l += sprintf(out + l, "%s\n", lines[i]);
	free(s);
	return out;
}

#define SHUFFLES 4

/*
 * Compile @t as given and SHUFFLES times shuffled: each gives the
 * expected rules and identities, and the same warnings.  @warn_has: a
 * text every run's warnings contain (NULL: none asked).
 */
static void check(const struct tin *t, const char *const *rules,
		  const char *const *idents, unsigned int warnings,
		  const char *warn_has)
{
	char *want = sorted_lines(expected_text(rules, idents)), *got;
	char *first_warn = NULL;
	struct tout o;
	int run;

	for (run = 0; run <= SHUFFLES; run++) {
		memset(&o, 0, sizeof(o));
		compile(run ? tin_shuffled(t) : t, &o);
		assert_int_equal(o.err, 0);
		got = sorted_lines(out_text(&o));
		if (strcmp(got, want) || o.out.warnings != warnings ||
		    o.warn.n != warnings ||
		    (warn_has && !strstr(o.warn.all, warn_has)))
			fail_msg(
				"run %d (seed %llu):\nwant (%u warnings):\n%sgot (%u warnings):\n%swarnings:\n%s",
				run, seed, warnings, want, o.out.warnings, got,
				o.warn.all);
		if (!first_warn)
			first_warn = strdup(o.warn.all);
		else
			assert_string_equal(first_warn, o.warn.all);
		check_rules_well_formed(&o.out);
		free(got);
		tpd_kube_policy_free(&o.out);
		assert_null(o.out.rules);
	}
	free(first_warn);
	free(want);
}

#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NONE   NULL

/* ---- the table ---------------------------------------------------------------------- */

/* Two namespaces, web and db pods, one tailnet zone with three peers. */
static struct tin *base(__u16 zone)
{
	struct tin *t = tin_new(64, zone);

	ns(t, "a", "team=x,env=prod");
	ns(t, "b", "team=y");
	pod(t, "a", "web-1", 300, "app=web", "http:tcp:8080");
	pod(t, "a", "web-2", 300, "app=web", "http:tcp:8080");
	pod(t, "a", "db-1", 301, "app=db", NULL);
	pod(t, "b", "web-1", 310, "app=web", "http:tcp:8080");
	tn(t, 1, "100.64.1.5/32", 500);
	tn(t, 1, "100.64.2.7/32", 501);
	tn(t, 1, "100.65.0.1/32", 502);
	return t;
}

static void test_default_deny(void **state)
{
	struct tin *t = base(1);

	pol(t, "a", "deny-web", "app=web", ING);
	check(t, L("any>300 z1 any deny"), NONE, 0, NULL);
}

/* An ingress rule allowing everything: no deny at all (it would win the tie). */
static void test_allow_all(void **state)
{
	struct tin *t = base(1);

	ing(pol(t, "a", "all", "app=web", ING));
	check(t, L("any>300 z1 any allow"), NONE, 0, NULL);
}

/* ... and a second policy that only denies changes nothing: a union. */
static void test_allow_all_union_with_deny(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r;

	pol(t, "a", "deny", "app=web", ING);
	r = ing(pol(t, "a", "all", "app=web", ING));
	r->peers_present = true; /* from: [] is every source too */
	check(t, L("any>300 z1 any allow"), NONE, 0, NULL);
}

static void test_from_anywhere_ports(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r = ing(pol(t, "a", "p", "app=web", ING));

	port(r, IPPROTO_TCP, 80, NULL, 0);
	port(r, IPPROTO_UDP, 0, NULL, 0); /* every UDP port */
	check(t,
	      L("any>300 z1 tcp/80 allow", "any>300 z1 udp allow",
		"any>300 z1 any deny"),
	      NONE, 0, NULL);
}

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/*
 * One ipBlock policy on base(): its tailnet entries besides base()'s, its
 * from[] blocks and port, and what it compiles to.
 */
struct ipblock_case {
	__u16 zone;	  /* base()'s */
	const char *name; /* the policy's, in namespace a, on app=web */
	struct {
		__u16 zone;
		const char *prefix;
		__u32 id;
	} tn[4];
	struct {
		const char *cidr, *except;
	} from[2];
	__u8 proto;
	__u16 port;
	const char *const *rules, *const *idents;
	unsigned int warnings;
	const char *warn_has;
};

static void run_ipblock_case(void **state)
{
	const struct ipblock_case *c = *state;
	struct tin *t = base(c->zone);
	struct tpd_kube_np_rule *r = ing(pol(t, "a", c->name, "app=web", ING));
	size_t i;

	for (i = 0; i < ARRAY_SIZE(c->tn) && c->tn[i].prefix; i++)
		tn(t, c->tn[i].zone, c->tn[i].prefix, c->tn[i].id);
	for (i = 0; i < ARRAY_SIZE(c->from) && c->from[i].cidr; i++)
		from_cidr(r, c->from[i].cidr, c->from[i].except);
	if (c->proto)
		port(r, c->proto, c->port, NULL, 0);
	check(t, c->rules, c->idents, c->warnings, c->warn_has);
}

/* A case as a cmocka test of its own name. */
#define IPBLOCK_CASE(c)                                            \
	{                                                          \
#c, run_ipblock_case, NULL, teardown, (void *)&(c) \
	}

static const struct ipblock_case test_ipblock_except = {
	.zone = 1,
	.name = "cidr",
	.from = { { "100.64.0.0/16", "100.64.2.0/24" } },
	.proto = IPPROTO_TCP,
	.port = 443,
	.rules = L("any>300 z1 any deny", "500>300 z1 tcp/443 allow",
		   "cidr:100.64.0.0/16>300 z1 tcp/443 allow"),
	.idents = L("z1 100.64.0.0/16 cidr:100.64.0.0/16",
		    "z1 100.64.2.0/24 cidr:100.64.2.0/24"),
};

/*
 * An identity with one address inside the block and one outside (510);
 * one inside the CIDR and inside an except (511).
 */
static const struct ipblock_case test_ipblock_partly_inside = {
	.zone = 1,
	.name = "half",
	.tn = { { 1, "100.64.1.9/32", 510 },
		{ 1, "100.70.0.1/32", 510 },
		{ 1, "100.64.1.10/32", 511 },
		{ 1, "100.64.3.1/32", 511 } },
	.from = { { "100.64.0.0/16", "100.64.3.0/24" } },
	.rules = L("any>300 z1 any deny", "500>300 z1 any allow",
		   "501>300 z1 any allow",
		   "cidr:100.64.0.0/16>300 z1 any allow"),
	.idents = L("z1 100.64.0.0/16 cidr:100.64.0.0/16",
		    "z1 100.64.3.0/24 cidr:100.64.3.0/24"),
	.warnings = 2,
	.warn_has =
		"[a/half] tailnet identity 510 of zone 1 is only partly inside the ipBlocks allowed to identity 300",
};

/*
 * Another source's entry holding the block with a shorter prefix: no
 * identity of ours under it (it would take addresses from that identity),
 * so that identity is partly inside; peers with their own entries are
 * still allowed.
 */
static const struct ipblock_case test_ipblock_under_broader_entry = {
	.zone = 1,
	.name = "b",
	.tn = { { 1, "100.64.0.0/12", 520 } },
	.from = { { "100.64.0.0/16", NULL } },
	.rules = L("any>300 z1 any deny", "500>300 z1 any allow",
		   "501>300 z1 any allow"),
	.warnings = 1,
	.warn_has = "tailnet identity 520 of zone 1 is only partly inside",
};

/* A block prefix another source already has exactly: that identity is it. */
static const struct ipblock_case test_ipblock_prefix_held_by_other_source = {
	.zone = 1,
	.name = "b",
	.tn = { { 1, "100.64.0.0/16", 521 } },
	.from = { { "100.64.0.0/16", NULL } },
	.rules = L("any>300 z1 any deny", "500>300 z1 any allow",
		   "501>300 z1 any allow", "521>300 z1 any allow"),
};

/*
 * Zone 0 (any): identities in every zone; ipBlock rules name their zone.
 * 600 has base()'s address in another tailnet; 601 is only partly inside
 * in zone 2.
 */
static const struct ipblock_case test_ipblock_every_zone = {
	.zone = 0,
	.name = "z",
	.tn = { { 2, "100.64.1.5/32", 600 },
		{ 2, "fd7a:115c:a1e0::5/128", 601 },
		{ 2, "100.66.0.1/32", 601 },
		{ 1, "fd7a:115c:a1e0::9/128", 602 } },
	.from = { { "100.64.0.0/16", NULL }, { "fd7a:115c:a1e0::/48", NULL } },
	.proto = IPPROTO_UDP,
	.port = 53,
	.rules = L("any>300 z0 any deny", "500>300 z1 udp/53 allow",
		   "501>300 z1 udp/53 allow", "600>300 z2 udp/53 allow",
		   "602>300 z1 udp/53 allow",
		   "cidr:100.64.0.0/16>300 z1 udp/53 allow",
		   "cidr:100.64.0.0/16>300 z2 udp/53 allow",
		   "cidr:fd7a:115c:a1e0::/48>300 z1 udp/53 allow",
		   "cidr:fd7a:115c:a1e0::/48>300 z2 udp/53 allow"),
	.idents = L("z1 100.64.0.0/16 cidr:100.64.0.0/16",
		    "z1 fd7a:115c:a1e0::/48 cidr:fd7a:115c:a1e0::/48",
		    "z2 100.64.0.0/16 cidr:100.64.0.0/16",
		    "z2 fd7a:115c:a1e0::/48 cidr:fd7a:115c:a1e0::/48"),
	.warnings = 1,
	.warn_has =
		"tailnet identity 601 of zone 2 is only partly inside the ipBlocks allowed to identity 300",
};

/* ::/0 is IPv6 only, though IPv4 lives in the same 128-bit space. */
static const struct ipblock_case test_ipblock_v6_all_not_v4 = {
	.zone = 1,
	.name = "v6",
	.tn = { { 1, "fd7a:115c:a1e0::5/128", 530 } },
	.from = { { "::/0", NULL } },
	.rules = L("any>300 z1 any deny", "530>300 z1 any allow",
		   "cidr:::/0>300 z1 any allow"),
	.idents = L("z1 ::/0 cidr:::/0", "z1 0.0.0.0/0 cidr:0.0.0.0/0"),
};

/* An except holding the whole block: the peer allows nothing. */
static const struct ipblock_case test_ipblock_except_all = {
	.zone = 1,
	.name = "b",
	.from = { { "100.64.1.0/24", "100.64.0.0/16" } },
	.rules = L("any>300 z1 any deny"),
};

/* A prefix that is an except in one block and a CIDR in another: one identity. */
static void test_ipblock_prefix_in_two_roles(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r = ing(pol(t, "a", "cidr", "app=web", ING));

	from_cidr(r, "100.64.0.0/16", "100.64.2.0/24");
	r = ing(pol(t, "a", "inner", "app=db", ING));
	from_cidr(r, "100.64.2.0/24", NULL);
	check(t,
	      L("any>300 z1 any deny", "500>300 z1 any allow",
		"cidr:100.64.0.0/16>300 z1 any allow", "any>301 z1 any deny",
		"501>301 z1 any allow", "cidr:100.64.2.0/24>301 z1 any allow"),
	      L("z1 100.64.0.0/16 cidr:100.64.0.0/16",
		"z1 100.64.2.0/24 cidr:100.64.2.0/24"),
	      0, NULL);
}

/*
 * A peer with an IPv4 and an IPv6 address (every Tailscale node), each in
 * an ipBlock of another policy: it gets the ports both are allowed, and a
 * warning for the rest.
 */
static void test_ipblock_union_across_policies(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r;

	tn(t, 1, "100.64.9.9/32", 700);
	tn(t, 1, "fd7a:115c:a1e0::9/128", 700);
	r = ing(pol(t, "a", "v4", "app=web", ING));
	from_cidr(r, "100.64.0.0/16", NULL);
	port(r, IPPROTO_TCP, 80, NULL, 0);
	r = ing(pol(t, "a", "v6", "app=web", ING));
	from_cidr(r, "fd7a:115c:a1e0::/48", NULL);
	port(r, IPPROTO_TCP, 80, NULL, 90);
	check(t,
	      L("any>300 z1 any deny", "500>300 z1 tcp/80 allow",
		"501>300 z1 tcp/80 allow", "700>300 z1 tcp/80 allow",
		"cidr:100.64.0.0/16>300 z1 tcp/80 allow",
		"cidr:fd7a:115c:a1e0::/48>300 z1 tcp/80-90 allow"),
	      L("z1 100.64.0.0/16 cidr:100.64.0.0/16",
		"z1 fd7a:115c:a1e0::/48 cidr:fd7a:115c:a1e0::/48"),
	      1, "[a/v4] tailnet identity 700 of zone 1 is only partly inside");
}

/*
 * tests/e2e/test_kube.sh's policy: a WireGuard peer with an IPv4 and an
 * IPv6 address, both families' blocks in one from[]: allowed, no warning;
 * the IPv4 block alone allows it nothing (fail closed), with a warning.
 */
static void test_ipblock_dual_stack_peer(void **state)
{
	struct tin *t = tin_new(16, 0);
	struct tpd_kube_np_rule *r;

	pod(t, "ns1", "web-a", 400, "app=web", "http:tcp:8080");
	tn(t, 1, "100.64.0.2/32", 301);
	tn(t, 1, "fd7a:115c:a1e0::2/128", 301);
	r = ing(pol(t, "ns1", "web-http", "app=web", ING));
	from_cidr(r, "100.64.0.0/10", "100.64.9.0/24");
	from_cidr(r, "fd7a:115c:a1e0::/48", NULL);
	port(r, IPPROTO_TCP, 0, "http", 0);
	check(t,
	      L("any>400 z0 any deny", "301>400 z1 tcp/8080 allow",
		"cidr:100.64.0.0/10>400 z1 tcp/8080 allow",
		"cidr:fd7a:115c:a1e0::/48>400 z1 tcp/8080 allow"),
	      L("z1 100.64.0.0/10 cidr:100.64.0.0/10",
		"z1 100.64.9.0/24 cidr:100.64.9.0/24",
		"z1 fd7a:115c:a1e0::/48 cidr:fd7a:115c:a1e0::/48"),
	      0, NULL);
	r->n_peers = 1; /* the IPv4 block alone */
	check(t,
	      L("any>400 z0 any deny",
		"cidr:100.64.0.0/10>400 z1 tcp/8080 allow"),
	      L("z1 100.64.0.0/10 cidr:100.64.0.0/10",
		"z1 100.64.9.0/24 cidr:100.64.9.0/24"),
	      1,
	      "[ns1/web-http] tailnet identity 301 of zone 1 is only partly inside");
}

/* The allocator refusing an except's identity: the block fails closed. */
static void test_ipblock_alloc_fails(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r = ing(pol(t, "a", "b", "app=web", ING));
	struct tout o = { 0 };
	char *got;

	tn(t, 1, "100.64.2.8/32", 503);
	from_cidr(r, "100.64.0.0/16", "100.64.2.0/24");
	o.alloc = az(sizeof(*o.alloc));
	o.alloc->fail = "cidr:100.64.2.0/24";
	compile(t, &o);
	assert_int_equal(o.err, 0);
	got = out_text(&o);
	/* the /16 identity would hold the except's addresses: not allowed */
	assert_string_equal(got, "500>300 z1 any allow\nany>300 z1 any deny\n"
				 "ident z1 100.64.0.0/16 cidr:100.64.0.0/16\n");
	assert_int_equal(o.out.warnings, 2);
	assert_non_null(strstr(o.warn.all,
			       "no identity for ipBlock prefix 100.64.2.0/24"));
	assert_non_null(strstr(
		o.warn.all, "identity 1000 of zone 1 is only partly inside"));
	free(got);
	tpd_kube_policy_free(&o.out);
}

/*
 * A policy past the per-policy ipBlock limits (4,096 excepts, 256 peers,
 * every rule together): its ipBlock peers allow nothing and take no
 * identity, with a warning naming it; its isolation and other policies
 * stand.
 */
static void test_ipblock_limits(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_object *big;
	struct tpd_kube_np_rule *r;
	struct tpd_kube_np_peer *p;
	struct tout o = { 0 };
	size_t i;
	char *got;

	/* 4,000 + 97 excepts in two rules: one past the limit */
	big = pol(t, "a", "big", "app=web", ING);
	r = ing(big);
	from_cidr(r, "100.64.0.0/16", NULL);
	p = &r->peers[0];
	p->except = az(4000 * sizeof(*p->except));
	p->except_plen = az(4000);
	for (i = 0; i < 4000; i++) {
		tp_addr_from_v4(&p->except[i], htonl(0x64400000 + 2 * i + 1));
		p->except_plen[i] = 128;
	}
	p->n_except = 4000;
	r = ing(big);
	from_cidr(r, "100.65.0.0/16", NULL);
	p = &r->peers[0];
	p->except = az(97 * sizeof(*p->except));
	p->except_plen = az(97);
	for (i = 0; i < 97; i++) {
		tp_addr_from_v4(&p->except[i], htonl(0x64410000 + 2 * i + 1));
		p->except_plen[i] = 128;
	}
	p->n_except = 97;
	/* 257 ipBlock peers, in and out of rules of another policy */
	r = ing(pol(t, "a", "wide", "app=db", ING));
	r->peers = az(257 * sizeof(*r->peers));
	for (i = 0; i < 257; i++)
		from_cidr(r, "100.64.1.5/32", NULL);
	/* within the limits: applies */
	r = ing(pol(t, "a", "small", "app=web", ING));
	from_cidr(r, "100.64.1.0/24", NULL);

	compile(t, &o);
	assert_int_equal(o.err, 0);
	got = out_text(&o);
	assert_string_equal(got, "500>300 z1 any allow\n"
				 "cidr:100.64.1.0/24>300 z1 any allow\n"
				 "any>300 z1 any deny\nany>301 z1 any deny\n"
				 "ident z1 100.64.1.0/24 cidr:100.64.1.0/24\n");
	assert_int_equal(o.out.warnings, 2);
	assert_non_null(strstr(
		o.warn.all,
		"[a/big] 2 ipBlock peers with 4097 excepts, over the limit"));
	assert_non_null(strstr(
		o.warn.all,
		"[a/wide] 257 ipBlock peers with 0 excepts, over the limit"));
	assert_int_equal(o.alloc->calls, 1);
	free(got);
	tpd_kube_policy_free(&o.out);
}

/* No zone given and no tailnet entries yet: an ipBlock allows nothing. */
static void test_ipblock_no_zone(void **state)
{
	struct tin *t = tin_new(8, 0);
	struct tpd_kube_np_rule *r;

	pod(t, "a", "web-1", 300, "app=web", NULL);
	r = ing(pol(t, "a", "b", "app=web", ING));
	from_cidr(r, "100.64.0.0/16", NULL);
	check(t, L("any>300 z0 any deny"), NONE, 1, "no tailnet zone");
}

/* A prefix length that can only be IPv4's own space (24, not 120). */
static void test_ipblock_malformed(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r = ing(pol(t, "a", "bad", "app=web", ING));

	from_cidr(r, "100.64.0.0/16", NULL);
	r->peers[0].cidr_plen = 16;
	check(t, L("any>300 z1 any deny"), NONE, 1, "malformed prefix");
}

/*
 * podSelector / namespaceSelector peers allow nothing from the tailnet: a
 * tailnet source has a tailnet zone's identity, never a pod's.  Their
 * selectors are still checked (a malformed one is a warning), and the
 * policies' own podSelectors (In, Exists) select the destinations.
 */
static void test_selector_peers_allow_nothing(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r;

	ns(t, "c", NULL); /* no labels */
	pod(t, "b", "api-1", 311, "app=api,tier=back", NULL);
	pod(t, "c", "job-1", 320, "app=job", NULL);
	pod(t, "d", "orphan-1", 330, "app=job", NULL); /* no Namespace object */
	r = ing(pol(t, "a", "sel", "app in web|db", ING));
	from_sel(r, "app=db", NULL);
	from_sel(r, NULL, "team notin x");
	port(r, IPPROTO_TCP, 5432, NULL, 0);
	r = ing(pol(t, "a", "sel2", "app", ING)); /* Exists: 300 301 */
	from_sel(r, "tier", "team in x|y");
	from_sel(r, "!tier,app=web", "");
	from_sel(r, NULL, ""); /* every pod of every namespace: still nothing */
	port(r, IPPROTO_UDP, 9, NULL, 0);
	check(t, L("any>300 z1 any deny", "any>301 z1 any deny"), NONE, 0,
	      NULL);
}

static void test_named_ports(void **state)
{
	struct tin *t = tin_new(16, 1);
	struct tpd_kube_np_rule *r;

	pod(t, "a", "web-1", 300, "app=web", "http:tcp:8080,dns:udp:53");
	pod(t, "a", "web-2", 300, "app=web", "http:tcp:8081");
	pod(t, "a", "web-3", 300, "app=web", NULL);
	pod(t, "a", "db-1", 301, "app=db", "http:tcp:9000");
	r = ing(pol(t, "a", "named", "", ING));
	port(r, IPPROTO_TCP, 0, "http", 0);
	port(r, IPPROTO_TCP, 0, "dns", 0); /* dns is UDP on the pod: nothing */
	port(r, IPPROTO_UDP, 0, "dns", 0);
	check(t,
	      L("any>300 z1 tcp/8080 allow", "any>300 z1 tcp/8081 allow",
		"any>300 z1 udp/53 allow", "any>300 z1 any deny",
		"any>301 z1 tcp/9000 allow", "any>301 z1 any deny"),
	      NONE, 1,
	      "named port http is a different number on pods of identity 300");
}

static void test_end_port(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r = ing(pol(t, "a", "range", "app=web", ING));

	port(r, IPPROTO_TCP, 8000, NULL, 8010);
	port(r, IPPROTO_UDP, 0, NULL, 0);
	port(r, IPPROTO_TCP, 0, NULL, 0);
	port(r, IPPROTO_UDP, 5000, NULL, 5000);
	check(t,
	      L("any>300 z1 tcp allow", "any>300 z1 tcp/8000-8010 allow",
		"any>300 z1 udp allow", "any>300 z1 udp/5000 allow",
		"any>300 z1 any deny"),
	      NONE, 0, NULL);
}

/* Entries that allow nothing: the rule is left with no ports: deny only. */
static void test_bad_ports_fail_closed(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r = ing(pol(t, "a", "bad", "app=web", ING));

	port(r, IPPROTO_TCP, 9000, NULL, 8000); /* endPort below port */
	port(r, IPPROTO_TCP, 0, "http", 9000);	/* endPort with a named port */
	port(r, IPPROTO_SCTP, 80, NULL, 0);
	port(r, IPPROTO_ICMP, 0, NULL, 0);
	check(t, L("any>300 z1 any deny"), NONE, 4,
	      "SCTP ports are not enforced");
}

static void test_udp_and_sctp(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r = ing(pol(t, "a", "u", "app=web", ING));

	port(r, IPPROTO_UDP, 53, NULL, 0);
	port(r, IPPROTO_SCTP, 53, NULL, 0);
	check(t, L("any>300 z1 udp/53 allow", "any>300 z1 any deny"), NONE, 1,
	      "[a/u] SCTP ports are not enforced");
}

/* Several policies selecting one identity: the union of their allows. */
static void test_several_policies_union(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r;

	r = ing(pol(t, "a", "one", "app=web", ING));
	port(r, IPPROTO_TCP, 80, NULL, 0);
	r = ing(pol(t, "a", "two", "", ING));
	from_cidr(r, "100.64.1.0/24", NULL);
	port(r, IPPROTO_TCP, 80, NULL, 0); /* the same allow twice: one rule */
	r = ing(pol(t, "a", "three", "app=web", ING));
	port(r, IPPROTO_TCP, 80, NULL, 0);
	check(t,
	      L("any>300 z1 tcp/80 allow", "any>300 z1 any deny",
		"500>300 z1 tcp/80 allow",
		"cidr:100.64.1.0/24>300 z1 tcp/80 allow", "any>301 z1 any deny",
		"500>301 z1 tcp/80 allow",
		"cidr:100.64.1.0/24>301 z1 tcp/80 allow"),
	      L("z1 100.64.1.0/24 cidr:100.64.1.0/24"), 0, NULL);
}

/* A policy selects in its own namespace only; empty podSelector: all of it. */
static void test_other_namespace_and_empty_selector(void **state)
{
	struct tin *t = base(1);

	pol(t, "b", "all-of-b", "", ING);
	pol(t, "c", "nothing-there", "", ING);
	check(t, L("any>310 z1 any deny"), NONE, 0, NULL);
}

/*
 * Egress toward the tailnet: the selected identity as source.  Named
 * ports name the destination pod's ports and pods are never tailnet
 * destinations: they allow nothing, as pod peers (the CNI's business).
 */
static void test_egress(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r;
	struct tpd_kube_object *p;

	r = egr(pol(t, "a", "out", "app=web", EGR));
	from_cidr(r, "100.64.0.0/16", "100.64.2.0/24");
	from_sel(r, "app=db", NULL);
	port(r, IPPROTO_TCP, 443, NULL, 0);
	port(r, IPPROTO_TCP, 0, "http", 0);
	r = egr(pol(t, "a", "out-udp", "app=web", EGR));
	port(r, IPPROTO_UDP, 53, NULL, 0);
	p = pol(t, "a", "both", "app=db", ING | EGR);
	r = ing(p);
	port(r, IPPROTO_TCP, 5432, NULL, 0);
	check(t,
	      L("300>any z1 any deny", "300>any z1 udp/53 allow",
		"300>500 z1 tcp/443 allow",
		"300>cidr:100.64.0.0/16 z1 tcp/443 allow",
		"any>301 z1 tcp/5432 allow", "any>301 z1 any deny",
		"301>any z1 any deny"),
	      L("z1 100.64.0.0/16 cidr:100.64.0.0/16",
		"z1 100.64.2.0/24 cidr:100.64.2.0/24"),
	      0, NULL);
}

/* Egress allowing everything: no egress deny; Ingress alone: no egress rule. */
static void test_egress_allow_all(void **state)
{
	struct tin *t = base(1);

	egr(pol(t, "a", "out", "app=web", EGR));
	pol(t, "a", "in", "app=web", ING);
	check(t, L("300>any z1 any allow", "any>300 z1 any deny"), NONE, 0,
	      NULL);
}

/* A selector on a label the identity leaves out: a warning, all selected. */
static void test_selector_splits_identity(void **state)
{
	struct tin *t = tin_new(8, 1);
	struct tpd_kube_np_rule *r;

	pod(t, "a", "web-1", 300, "app=web,pod-template-hash=aaa", NULL);
	pod(t, "a", "web-2", 300, "app=web,pod-template-hash=bbb", NULL);
	pod(t, "a", "db-1", 301, "app=db", NULL);
	r = ing(pol(t, "a", "hash", "pod-template-hash=aaa", ING));
	port(r, IPPROTO_TCP, 80, NULL, 0);
	check(t, L("any>300 z1 tcp/80 allow", "any>300 z1 any deny"), NONE, 1,
	      "podSelector selects 1 of the 2 pods of identity 300 in namespace a");
}

/* Policies that select no pod: no rule, no identity, no allocation. */
static void test_no_pods_selected(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_np_rule *r =
		ing(pol(t, "a", "none", "app=nothing", ING));
	struct tout o = { 0 };

	from_cidr(r, "100.64.0.0/16", NULL);
	check(t, NULL, NONE, 0, NULL);
	compile(t, &o);
	assert_int_equal(o.alloc->calls, 0);
	tpd_kube_policy_free(&o.out);
}

static void test_bad_input(void **state)
{
	struct tin *t = base(1);
	struct tpd_kube_object *p = pol(t, "a", "x", "app=web", ING);
	struct tpd_kube_policy_in in = { 0 };
	struct tpd_kube_policy_out out;
	struct tpd_kube_np_rule *r;
	struct tout o = { 0 };
	char *text;

	assert_int_equal(tpd_kube_policy_compile(NULL, &out, NULL, NULL),
			 -EINVAL);
	assert_null(out.rules);
	assert_int_equal(tpd_kube_policy_compile(&in, NULL, NULL, NULL),
			 -EINVAL);
	/* nothing at all (NULL arrays): nothing out */
	assert_int_equal(tpd_kube_policy_compile(&in, &out, NULL, NULL), 0);
	assert_int_equal(out.n_rules + out.n_idents + out.warnings, 0);
	tpd_kube_policy_free(&out);
	in.n_policies = 1; /* and no array */
	assert_int_equal(tpd_kube_policy_compile(&in, &out, NULL, NULL),
			 -EINVAL);

	p->kind = TPD_KUBE_POD;
	compile(t, &o);
	assert_int_equal(o.err, -EINVAL);
	assert_null(o.out.rules);
	assert_int_equal(o.out.n_rules, 0);
	p->kind = TPD_KUBE_NETPOL;

	/* a malformed selector operator: the whole namespace is isolated, the
	 * policy allows nothing (its ipBlock needs no identity) */
	r = ing(p);
	port(r, IPPROTO_TCP, 80, NULL, 0);
	from_cidr(r, "100.64.0.0/16", NULL);
	p->np.pod_selector.exprs[0].op = 99;
	p->np.pod_selector.n_exprs = 1;
	memset(&o, 0, sizeof(o));
	compile(t, &o);
	assert_int_equal(o.err, 0);
	text = out_text(&o);
	assert_string_equal(text, "any>300 z1 any deny\nany>301 z1 any deny\n");
	free(text);
	assert_int_equal(o.out.warnings, 1);
	assert_non_null(strstr(o.warn.all, "[a/x] malformed podSelector"));
	assert_int_equal(o.alloc->calls, 0);
	tpd_kube_policy_free(&o.out);
}

/* ---- the selector alone ----------------------------------------------------------- */

static void test_selector_match(void **state)
{
	static const struct {
		const char *sel, *labels;
		bool match;
	} cases[] = {
		{ "", "", true },
		{ "", "a=1", true },
		{ "a=1", "a=1,b=2", true },
		{ "a=1", "a=2", false },
		{ "a=1", "b=1", false },
		{ "a=1,b=2", "a=1,b=2", true },
		{ "a=1,b=2", "a=1", false },
		{ "a=", "a=", true },
		{ "a in 1|2", "a=2", true },
		{ "a in 1|2", "a=3", false },
		{ "a in 1|2", "b=1", false },
		{ "a notin 1|2", "a=3", true },
		{ "a notin 1|2", "a=1", false },
		{ "a notin 1|2", "b=1", true },
		{ "a", "a=", true },
		{ "a", "b=1", false },
		{ "!a", "b=1", true },
		{ "!a", "a=1", false },
		{ "a=1,b in x|y,!c,d", "a=1,b=y,d=0", true },
		{ "a=1,b in x|y,!c,d", "a=1,b=y,c=0,d=0", false },
		{ "a=1,b in x|y,!c,d", "a=1,b=z,d=0", false },
	};
	struct tpd_kube_label *labels;
	struct tpd_kube_selector s;
	size_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = sel(cases[i].sel);
		parse_labels(cases[i].labels, &labels, &n);
		if (tpd_kube_selector_match(&s, labels, n) != cases[i].match)
			fail_msg("selector \"%s\" on \"%s\": want %d",
				 cases[i].sel, cases[i].labels, cases[i].match);
	}
	/* an empty In list selects nothing, an empty NotIn list everything */
	s = sel("a in x");
	s.exprs[0].n_values = 0;
	parse_labels("a=x", &labels, &n);
	assert_false(tpd_kube_selector_match(&s, labels, n));
	s.exprs[0].op = TPD_KUBE_SEL_NOT_IN;
	assert_true(tpd_kube_selector_match(&s, labels, n));
}

/* ---- scale: 1,000 policies over 10,000 pods ---------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * 100 namespaces of 100 pods (10 apps of 10 replicas: 10 identities a
 * namespace), 5,000 tailnet peers in two zones; 10 policies a namespace: a
 * deny-all, and allows by app from ipBlocks (4 distinct), from pods of the
 * namespace, from namespaces by label, on numeric, ranged and named ports.
 */
static void test_scale(void **state)
{
	struct tin *t = tin_new(20000, 1);
	char nsname[16], name[32], lab[64], cidr[32];
	struct tpd_kube_np_rule *r;
	struct tpd_kube_object *p;
	double w0, c0, wall, cpu;
	struct tout o = { 0 };
	size_t pod_src = 0;
	int n, a, i;

	for (n = 0; n < 100; n++) {
		snprintf(nsname, sizeof(nsname), "ns%d", n);
		snprintf(lab, sizeof(lab), "team=t%d,env=%s", n % 7,
			 n % 2 ? "prod" : "dev");
		ns(t, nsname, lab);
		for (a = 0; a < 10; a++)
			for (i = 0; i < 10; i++) {
				snprintf(name, sizeof(name), "app%d-%d", a, i);
				snprintf(lab, sizeof(lab),
					 "app=app%d,pod-template-hash=h%d", a,
					 a);
				pod(t, nsname, name, 256 + n * 10 + a, lab,
				    "http:tcp:8080,metrics:tcp:9090");
			}
		pol(t, nsname, "deny-all", "", ING);
		for (a = 0; a < 9; a++) {
			snprintf(name, sizeof(name), "allow-%d", a);
			snprintf(lab, sizeof(lab), "app=app%d", a);
			p = pol(t, nsname, name, lab, ING);
			r = ing(p);
			snprintf(cidr, sizeof(cidr), "100.64.%d.0/24", a % 4);
			from_cidr(r, cidr, a % 2 ? "100.64.0.128/25" : NULL);
			port(r, IPPROTO_TCP, 0, "http", 0);
			r = ing(p);
			snprintf(lab, sizeof(lab), "app=app%d", (a + 1) % 10);
			from_sel(r, lab, NULL);
			from_sel(r, NULL, a % 3 ? "env in prod" : "team=t1");
			port(r, IPPROTO_TCP, 9090, NULL, 0);
			port(r, IPPROTO_UDP, 30000, NULL, 30100);
		}
	}
	for (i = 0; i < 5000; i++) {
		snprintf(cidr, sizeof(cidr), "100.64.%d.%d/32", i / 250,
			 i % 250);
		tn(t, 1 + i % 2, cidr, 5000 + i / 2);
	}
	w0 = now_s();
	c0 = cpu_s();
	compile(t, &o);
	wall = now_s() - w0;
	cpu = cpu_s() - c0;
	assert_int_equal(o.err, 0);
	check_rules_well_formed(&o.out);
	for (i = 0; i < (int)o.out.n_rules; i++)
		pod_src += o.out.rules[i].src_id >= 256 &&
			   o.out.rules[i].src_id < 256 + 1000;
	print_message(
		"scale: %zu policies, %zu pods, %zu tailnet entries -> %zu rules (%zu from pod sources), %zu identity entries, %u warnings in %.3f s wall, %.3f s CPU\n",
		t->n_pols, t->n_pods, t->n_tn, o.out.n_rules, pod_src,
		o.out.n_idents, o.out.warnings, wall, cpu);
	assert_true(o.out.n_rules > 10000);
	tpd_kube_policy_free(&o.out);
}

/* ---- differential: NetworkPolicy by the objects vs the compiled rules ------------- */

/*
 * Random policies (Ingress, Egress, both) over a small world: tailnet
 * addresses in 100.64.0.0/24 (all 256 of them can be peers), peers with
 * /32 entries (some with two addresses, some in two zones), ipBlocks and
 * excepts of that /24; pods whose identity's pods share labels and named
 * ports.  The reference decides a packet (zone, tailnet address, pod,
 * direction, protocol, port) from the objects by NetworkPolicy's rules;
 * the compiled side looks the address up in the entries (the peers' and
 * the compiler's, tailnet (3) when none) and decides with policyref.
 * Rules are per identity, so the compiled verdict for an address must be
 * the AND of the reference's over every address of its identity (the
 * documented fail-closed semantics), and never allow what the reference
 * denies for the address itself.
 */
#define DF_ZONES 2
#define DF_ADDRS 256

struct df_world {
	struct tin *t;
	__u32 pod_ids[16];
	const struct tpd_kube_object *pods[16];
	size_t n_pods;
};

static const __u16 df_ports[] = { 53, 80, 443, 1000, 1001, 1005, 8080, 8443 };

static void df_addr(unsigned int i, struct tp_addr *a)
{
	tp_addr_from_v4(a, htonl(0x64400000u | i)); /* 100.64.0.i */
}

static void df_prefix_text(unsigned int i, unsigned int plen, char *buf,
			   size_t len)
{
	unsigned int mask = plen == 32 ? 0xffu : (0xffu << (32 - plen)) & 0xffu;

	snprintf(buf, len, "100.64.0.%u/%u", i & mask, plen);
}

/* Random peers (ipBlocks of the /24, sometimes pods) and ports. */
static void df_rule(struct tpd_kube_np_rule *r)
{
	char c[32], ex[64];
	unsigned int k, plen;

	for (k = (unsigned int)rnd_below(3); k > 0; k--) {
		plen = 24 + (unsigned int)rnd_below(9);
		df_prefix_text((unsigned int)rnd_below(DF_ADDRS), plen, c,
			       sizeof(c));
		ex[0] = 0;
		if (rnd_below(2) && plen < 32) {
			unsigned int xl =
				plen + 1 + (unsigned int)rnd_below(32 - plen);
			unsigned int base =
				(unsigned int)atoi(strrchr(c, '.') + 1);

			df_prefix_text(base | (unsigned int)rnd_below(
						      1u << (32 - plen)),
				       xl, ex, sizeof(ex));
		}
		from_cidr(r, c, ex[0] ? ex : NULL);
	}
	if (rnd_below(4) == 0)
		from_sel(r, "app=web", NULL);
	for (k = (unsigned int)rnd_below(3); k > 0; k--) {
		switch (rnd_below(5)) {
		case 0:
			port(r, IPPROTO_TCP, df_ports[rnd_below(8)], NULL, 0);
			break;
		case 1:
			port(r, IPPROTO_UDP, 53, NULL, 0);
			break;
		case 2:
			port(r, IPPROTO_TCP, 1000, NULL, 1003);
			break;
		case 3:
			port(r, rnd_below(2) ? IPPROTO_TCP : IPPROTO_UDP, 0,
			     rnd_below(2) ? "http" : "dns", 0);
			break;
		default:
			port(r, IPPROTO_SCTP, 80, NULL, 0);
		}
	}
}

static void df_build(struct df_world *w)
{
	static const char *apps[] = { "web", "db", "api", "job" };
	static const char *ports[] = { "http:tcp:8080",
				       "http:tcp:80,dns:udp:53", NULL,
				       "http:tcp:8443" };
	struct tin *t = tin_new(256, rnd_below(3) ? 0 : 1);
	struct tpd_kube_object *p;
	char name[32], lab[32], c[32];
	unsigned int i, j, n_pol, n_rules, k;
	bool used[DF_ZONES][DF_ADDRS];

	w->t = t;
	ns(t, "a", "team=x");
	ns(t, "b", "team=y");
	w->n_pods = 0;
	for (i = 0; i < 8; i++) {
		unsigned int app = i % 4, nsb = i / 4;

		snprintf(name, sizeof(name), "%s-%u", apps[app], i);
		snprintf(lab, sizeof(lab), "app=%s", apps[app]);
		w->pods[w->n_pods] = pod(t, nsb ? "b" : "a", name,
					 300 + nsb * 10 + app, lab, ports[app]);
		w->pod_ids[w->n_pods++] = 300 + nsb * 10 + app;
	}
	/* peers: /32s in zone 1 or 2, identities of one or two addresses;
	 * an address once per zone, as in the identity map */
	memset(used, 0, sizeof(used));
	for (i = 0; i < 40; i++) {
		__u16 zone = 1 + (__u16)rnd_below(DF_ZONES);
		__u32 id = 500 + (__u32)rnd_below(30);
		unsigned int addr = (unsigned int)rnd_below(DF_ADDRS);

		if (used[zone - 1][addr])
			continue;
		used[zone - 1][addr] = true;
		snprintf(c, sizeof(c), "100.64.0.%u/32", addr);
		tn(t, zone, c, id);
	}
	n_pol = 1 + (unsigned int)rnd_below(5);
	for (i = 0; i < n_pol; i++) {
		snprintf(name, sizeof(name), "p%u", i);
		snprintf(lab, sizeof(lab), "app=%s", apps[rnd_below(4)]);
		k = (unsigned int)rnd_below(5);
		p = pol(t, rnd_below(2) ? "a" : "b", name,
			rnd_below(4) ? lab : "",
			k < 3	 ? ING
			: k == 3 ? EGR
				 : ING | EGR);
		n_rules = (unsigned int)rnd_below(3);
		for (j = 0; j < n_rules; j++)
			df_rule(p->np.ingress_type ? ing(p) : egr(p));
		if (p->np.ingress_type && p->np.egress_type)
			for (j = (unsigned int)rnd_below(3); j > 0; j--)
				df_rule(egr(p));
	}
}

static bool df_in_block(const struct tpd_kube_np_peer *pe,
			const struct tp_addr *a)
{
	size_t x;

	if (!tp_prefix_contains(&pe->cidr, pe->cidr_plen, a))
		return false;
	for (x = 0; x < pe->n_except; x++)
		if (tp_prefix_contains(&pe->except[x], pe->except_plen[x], a))
			return false;
	return true;
}

/* @dst: the pod whose named ports count, NULL when the destination is no pod. */
static bool df_port_ok(const struct tpd_kube_np_rule *r,
		       const struct tpd_kube_object *dst, __u8 proto,
		       __u16 dport)
{
	const struct tpd_kube_np_port *p;
	size_t i, j;

	if (!r->n_ports)
		return true;
	for (i = 0; i < r->n_ports; i++) {
		p = &r->ports[i];
		/* SCTP is documented as not enforced: it allows nothing */
		if (p->proto != proto || proto == IPPROTO_SCTP)
			continue;
		if (p->name) {
			for (j = 0; dst && j < dst->pod.n_ports; j++)
				if (!strcmp(dst->pod.ports[j].name, p->name) &&
				    dst->pod.ports[j].proto == proto &&
				    dst->pod.ports[j].port == dport)
					return true;
			continue;
		}
		if (!p->port ||
		    (dport >= p->port &&
		     dport <= (p->end_port ? p->end_port : p->port)))
			return true;
	}
	return false;
}

/* Does policy @o select @pod for that direction?  Its rules then. */
static bool df_selects(const struct tpd_kube_object *o,
		       const struct tpd_kube_object *pod, bool egress,
		       const struct tpd_kube_np_rule **rules, size_t *n)
{
	const struct tpd_kube_netpol *np = &o->np;

	if (!(egress ? np->egress_type : np->ingress_type) ||
	    strcmp(o->meta.ns, pod->meta.ns) ||
	    !tpd_kube_selector_match(&np->pod_selector, pod->meta.labels,
				     pod->meta.n_labels))
		return false;
	*rules = egress ? np->egress : np->ingress;
	*n = egress ? np->n_egress : np->n_ingress;
	return true;
}

/*
 * NetworkPolicy's answer for a tailnet address @peer talking to @pod:
 * from @peer (ingress) or to it (@egress).  Pod peers never match a
 * tailnet address; an egress rule's named ports only match pods.
 */
static bool df_reference(const struct tin *t, __u16 zone,
			 const struct tp_addr *peer,
			 const struct tpd_kube_object *pod, __u8 proto,
			 __u16 dport, bool egress)
{
	const struct tpd_kube_np_rule *r, *rules;
	bool isolated = false;
	size_t i, j, k, n;

	if (t->zone && zone != t->zone)
		return true; /* the rules are for another zone */
	for (i = 0; i < t->n_pols; i++) {
		if (!df_selects(t->pols[i], pod, egress, &rules, &n))
			continue;
		isolated = true;
		for (j = 0; j < n; j++) {
			r = &rules[j];
			if (!df_port_ok(r, egress ? NULL : pod, proto, dport))
				continue;
			if (!r->n_peers)
				return true;
			for (k = 0; k < r->n_peers; k++)
				if (r->peers[k].has_cidr &&
				    df_in_block(&r->peers[k], peer))
					return true;
		}
	}
	return !isolated;
}

/* The identity the datapath gives @a in @zone: longest prefix, else tailnet. */
static __u32 df_src_id(const struct pref_policy *ids, __u16 zone,
		       const struct tp_addr *a)
{
	return pref_identity_of(ids, zone, a, TP_ID_TAILNET);
}

/*
 * What the compiled rules are documented to give an address: rules are
 * per identity, so what every address of its identity is allowed (an
 * identity with addresses inside and outside gets less: fail closed).
 * tailnet (3) also holds every address outside the /24, which no block
 * of this world covers.
 */
static bool df_expected(const struct tin *t,
			const __u32 idmap[DF_ZONES][DF_ADDRS], __u16 zone,
			__u32 peer_id, const struct tpd_kube_object *pod,
			__u8 proto, __u16 dport, bool egress)
{
	struct tp_addr b, outside;
	unsigned int bi;

	tp_addr_from_v4(&outside, htonl(0x0a000001)); /* 10.0.0.1 */
	if (peer_id == TP_ID_TAILNET &&
	    !df_reference(t, zone, &outside, pod, proto, dport, egress))
		return false;
	for (bi = 0; bi < DF_ADDRS; bi++) {
		df_addr(bi, &b);
		if (idmap[zone - 1][bi] == peer_id &&
		    !df_reference(t, zone, &b, pod, proto, dport, egress))
			return false;
	}
	return true;
}

static void test_differential(void **state)
{
	unsigned int rounds = 200, round, checked = 0, stricter = 0;
	const char *env = getenv("TP_KP_ROUNDS");
	struct pref_policy ref;
	struct pref_decision d;
	struct pref_query q;
	struct df_world w;
	struct tp_addr a;
	struct tout o;
	size_t i, pi;
	__u16 zone;
	__u8 protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP,
			  IPPROTO_SCTP };
	unsigned int ai, x;
	bool want, got, nprule, egress;
	__u32 idmap[DF_ZONES][DF_ADDRS];
	__u32 peer_id;

	if (env)
		rounds = (unsigned int)atoi(env);
	for (round = 0; round < rounds; round++) {
		memset(&o, 0, sizeof(o));
		df_build(&w);
		compile(w.t, &o);
		assert_int_equal(o.err, 0);
		pref_init(&ref);
		for (i = 0; i < o.out.n_rules; i++)
			assert_int_equal(pref_rule_add(&ref, &o.out.rules[i],
						       (__u32)i + 1),
					 0);
		for (i = 0; i < w.t->n_tn; i++)
			pref_identity_set(&ref, w.t->tn[i].zone,
					  &w.t->tn[i].prefix, w.t->tn[i].plen,
					  w.t->tn[i].id);
		for (i = 0; i < o.out.n_idents; i++)
			pref_identity_set(&ref, o.out.idents[i].zone,
					  &o.out.idents[i].prefix,
					  o.out.idents[i].plen,
					  o.out.idents[i].id);
		/* the identity of every address, as the datapath finds it */
		for (zone = 1; zone <= DF_ZONES; zone++)
			for (ai = 0; ai < DF_ADDRS; ai++) {
				df_addr(ai, &a);
				idmap[zone - 1][ai] = df_src_id(&ref, zone, &a);
			}
		for (x = 0; x < 300; x++) {
			zone = 1 + (__u16)rnd_below(DF_ZONES);
			ai = (unsigned int)rnd_below(DF_ADDRS);
			pi = rnd_below(w.n_pods);
			memset(&q, 0, sizeof(q));
			q.zone = zone;
			q.proto = protos[rnd_below(4)];
			q.dport = q.proto == IPPROTO_ICMP
					  ? 0
					  : df_ports[rnd_below(8)];
			df_addr(ai, &a);
			/* half the packets from the tailnet, half to it */
			egress = x & 1;
			peer_id = idmap[zone - 1][ai];
			q.src_id = egress ? w.pod_ids[pi] : peer_id;
			q.dst_id = egress ? peer_id : w.pod_ids[pi];
			pref_decide(&ref, &q, &d);
			got = d.verdict == TP_VERDICT_ALLOW;
			want = df_expected(w.t, idmap, zone, peer_id,
					   w.pods[pi], q.proto, q.dport,
					   egress);
			nprule = df_reference(w.t, zone, &a, w.pods[pi],
					      q.proto, q.dport, egress);
			/* never more than NetworkPolicy allows that address */
			if (got && !nprule)
				want = false;
			stricter += !got && nprule;
			if (want != got) {
				char *text = out_text(&o);

				pref_print_matches(stderr, &ref, &q);
				fail_msg(
					"seed %llu round %u: %s zone %u 100.64.0.%u (identity %u), pod %s (identity %u) proto %u port %u: expected %s, compiled %s, NetworkPolicy for the address %s\nrules:\n%swarnings:\n%s",
					seed, round, egress ? "to" : "from",
					zone, ai, peer_id,
					w.pods[pi]->meta.name, w.pod_ids[pi],
					q.proto, q.dport,
					want ? "allow" : "deny",
					got ? "allow" : "deny",
					nprule ? "allow" : "deny", text,
					o.warn.all);
			}
			checked++;
		}
		pref_free(&ref);
		tpd_kube_policy_free(&o.out);
		arena_free();
	}
	print_message(
		"differential: seed %llu, %u rounds, %u packets agree (%u denied though NetworkPolicy allows their address: their identity is only partly allowed)\n",
		seed, rounds, checked, stricter);
}

int main(void)
{
	const char *s = getenv("TP_TEST_SEED");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_default_deny, teardown),
		cmocka_unit_test_teardown(test_allow_all, teardown),
		cmocka_unit_test_teardown(test_allow_all_union_with_deny,
					  teardown),
		cmocka_unit_test_teardown(test_from_anywhere_ports, teardown),
		IPBLOCK_CASE(test_ipblock_except),
		cmocka_unit_test_teardown(test_ipblock_prefix_in_two_roles,
					  teardown),
		IPBLOCK_CASE(test_ipblock_partly_inside),
		IPBLOCK_CASE(test_ipblock_under_broader_entry),
		IPBLOCK_CASE(test_ipblock_prefix_held_by_other_source),
		IPBLOCK_CASE(test_ipblock_every_zone),
		cmocka_unit_test_teardown(test_ipblock_union_across_policies,
					  teardown),
		cmocka_unit_test_teardown(test_ipblock_dual_stack_peer,
					  teardown),
		IPBLOCK_CASE(test_ipblock_v6_all_not_v4),
		IPBLOCK_CASE(test_ipblock_except_all),
		cmocka_unit_test_teardown(test_ipblock_limits, teardown),
		cmocka_unit_test_teardown(test_ipblock_alloc_fails, teardown),
		cmocka_unit_test_teardown(test_ipblock_no_zone, teardown),
		cmocka_unit_test_teardown(test_ipblock_malformed, teardown),
		cmocka_unit_test_teardown(test_selector_peers_allow_nothing,
					  teardown),
		cmocka_unit_test_teardown(test_named_ports, teardown),
		cmocka_unit_test_teardown(test_end_port, teardown),
		cmocka_unit_test_teardown(test_bad_ports_fail_closed, teardown),
		cmocka_unit_test_teardown(test_udp_and_sctp, teardown),
		cmocka_unit_test_teardown(test_several_policies_union,
					  teardown),
		cmocka_unit_test_teardown(
			test_other_namespace_and_empty_selector, teardown),
		cmocka_unit_test_teardown(test_egress, teardown),
		cmocka_unit_test_teardown(test_egress_allow_all, teardown),
		cmocka_unit_test_teardown(test_selector_splits_identity,
					  teardown),
		cmocka_unit_test_teardown(test_no_pods_selected, teardown),
		cmocka_unit_test_teardown(test_bad_input, teardown),
		cmocka_unit_test_teardown(test_selector_match, teardown),
		cmocka_unit_test_teardown(test_scale, teardown),
		cmocka_unit_test_teardown(test_differential, teardown),
	};

	seed = s ? strtoull(s, NULL, 0) : (unsigned long long)time(NULL);
	rnd_seed(seed);
	printf("test_kube_policy: seed %llu (TP_TEST_SEED=%llu replays it)\n",
	       seed, seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
