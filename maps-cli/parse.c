// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The command line grammar: options, then OBJECT COMMAND ARGS.  Words
 * (objects, commands, keywords, state and verdict names) match by unique
 * prefix, an exact match winning over longer words.  Values (addresses,
 * numbers, names) are checked here as far as they can be without the
 * maps; identity names and interface zones are resolved when the command
 * runs.  Every error names the offending word and what was expected.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "identity.h"
#include "names.h"
#include "tpctl.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define TPCTL_AFFINITY_MAX 86400 /* seconds, as Kubernetes allows */
#define TPCTL_IFNAME_MAX   15	 /* IFNAMSIZ - 1 */

/**
 * struct tpctl_parser - words being parsed.
 * @argv:   the words (OBJECT first).
 * @argc:   their number.
 * @i:      the next word.
 * @what:   the command so far, for messages ("service add").
 * @err:    the message buffer.
 * @errlen: its size.
 */
struct tpctl_parser {
	char **argv;
	int argc;
	int i;
	char what[64];
	char *err;
	size_t errlen;
};

static int perr(struct tpctl_parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int perr(struct tpctl_parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *peek(const struct tpctl_parser *p)
{
	return p->i < p->argc ? p->argv[p->i] : NULL;
}

/* The next word, or an error "missing WHAT after 'service add'". */
static const char *need(struct tpctl_parser *p, const char *what)
{
	if (p->i >= p->argc) {
		perr(p, "missing %s after '%s'", what, p->what);
		return NULL;
	}
	return p->argv[p->i++];
}

/* Nothing may follow. */
static int no_more(struct tpctl_parser *p)
{
	if (p->i < p->argc)
		return perr(p, "unexpected '%s' after '%s'", p->argv[p->i],
			    p->what);
	return 0;
}

/**
 * tpctl_word() - which of @words @word names.
 * @word:  the word given.
 * @words: the candidates.
 * @n:     their number.
 *
 * Return: the index of the exact match, else of the only word @word is a
 * prefix of; -1 when none, -2 when several.
 */
int tpctl_word(const char *word, const char *const *words, size_t n)
{
	size_t i, len = strlen(word);
	int found = -1;

	if (!len)
		return -1;
	for (i = 0; i < n; i++)
		if (!strcmp(word, words[i]))
			return (int)i;
	for (i = 0; i < n; i++) {
		if (strncmp(word, words[i], len))
			continue;
		if (found >= 0)
			return -2;
		found = (int)i;
	}
	return found;
}

/* What goes before word @i of @n in a list: "", ", " or @last. */
static const char *join_sep(size_t i, size_t n, const char *last)
{
	if (!i)
		return "";
	return i + 1 == n ? last : ", ";
}

/* "a, b or c" */
static char *join(const char *const *words, size_t n, const char *last,
		  char *buf, size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < n && used < len; i++)
		used += snprintf(buf + used, len - used, "%s%s",
				 join_sep(i, n, last), words[i]);
	return buf;
}

/* Ambiguity message: the words @word is a prefix of. */
static int ambiguous(struct tpctl_parser *p, const char *word,
		     const char *const *words, size_t n)
{
	const char *match[32];
	char list[256];
	size_t i, k = 0;

	for (i = 0; i < n && k < ARRAY_SIZE(match); i++)
		if (!strncmp(word, words[i], strlen(word)))
			match[k++] = words[i];
	return perr(p, "ambiguous '%s': could be %s", word,
		    join(match, k, " or ", list, sizeof(list)));
}

/* @word among @words, with errors naming @kind ("command of service"). */
static int match(struct tpctl_parser *p, const char *word,
		 const char *const *words, size_t n, const char *kind)
{
	char list[512];
	int i = tpctl_word(word, words, n);

	if (i == -2)
		return ambiguous(p, word, words, n);
	if (i < 0)
		return perr(p, "unknown %s '%s': expected %s", kind, word,
			    join(words, n, " or ", list, sizeof(list)));
	return i;
}

static void what_add(struct tpctl_parser *p, const char *word)
{
	size_t len = strlen(p->what);

	snprintf(p->what + len, sizeof(p->what) - len, "%s%s", len ? " " : "",
		 word);
}

/* Decimal number in [min, max]. */
static int number(struct tpctl_parser *p, const char *s, __u64 min, __u64 max,
		  const char *what, __u64 *v)
{
	unsigned long long n;
	char *end;

	if (*s < '0' || *s > '9')
		goto bad;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (*end || errno || n < min || n > max)
		goto bad;
	*v = n;
	return 0;
bad:
	return perr(p, "bad %s '%s': expected a number %llu-%llu", what, s,
		    (unsigned long long)min, (unsigned long long)max);
}

/* ---- values ------------------------------------------------------------ */

static int parse_svc(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "VIP:PORT/PROTO");

	if (!s)
		return -1;
	if (tp_svc_key_parse(s, &a->svc))
		return perr(p, "bad address '%s': expected ADDR:PORT/PROTO", s);
	a->has |= TPCTL_HAS_SVC;
	return 0;
}

static bool svc_is_icmp(const struct tp_svc_key *k)
{
	return k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6;
}

/* A backend of service @a->svc: ADDR:PORT, or ADDR for an ICMP service. */
static int parse_backend_of(struct tpctl_parser *p, struct tpctl_args *a)
{
	char vip[TP_SVC_STRLEN];
	const char *s = need(p, "backend ADDR:PORT");
	bool has_port, icmp = svc_is_icmp(&a->svc);

	if (!s)
		return -1;
	if (tp_endpoint_parse(s, &a->be_addr, &a->be_port, &has_port))
		return perr(p, "bad backend address '%s': expected %s", s,
			    icmp ? "ADDR" : "ADDR:PORT");
	if (!icmp && (!has_port || !a->be_port))
		return perr(
			p,
			"bad backend address '%s': expected ADDR:PORT with PORT 1-65535",
			s);
	if (icmp && a->be_port)
		return perr(
			p,
			"bad backend address '%s': a backend of an ICMP service has no port, expected ADDR",
			s);
	if (tp_addr_is_v4(&a->be_addr) != tp_addr_is_v4(&a->svc.vip))
		return perr(
			p,
			"backend '%s' and service %s are of different address families",
			s, tp_svc_key_format(&a->svc, vip, sizeof(vip)));
	a->has |= TPCTL_HAS_BACKEND;
	return 0;
}

static int parse_prefix(struct tpctl_parser *p, const char *s,
			struct tp_addr *addr, unsigned int *plen)
{
	char fix[TP_PREFIX_STRLEN];
	struct tp_addr masked;
	int err = tp_prefix_parse(s, addr, plen);

	if (err == -EDOM) {
		masked = *addr;
		tp_addr_mask(&masked, *plen);
		tp_prefix_format(&masked, *plen, fix, sizeof(fix));
		return perr(
			p,
			"bad prefix '%s': bits set past the prefix length (did you mean %s?)",
			s, fix);
	}
	if (err)
		return perr(p, "bad prefix '%s': expected ADDR/LEN or ADDR", s);
	return 0;
}

/* Same rules as lib/identity.c's, checked early for a precise message. */
static int check_name(struct tpctl_parser *p, const char *name)
{
	static const char *const reserved[] = { "any",	 "unknown", "host",
						"world", "tailnet", "cluster" };
	size_t i, len = strlen(name);
	bool digits = true;

	if (!len || len >= TP_IDENTITY_NAME_LEN)
		return perr(p, "bad name '%s': expected 1-%d characters", name,
			    TP_IDENTITY_NAME_LEN - 1);
	for (i = 0; i < len; i++) {
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/-",
			    name[i]))
			return perr(
				p,
				"bad name '%s': expected letters, digits and _.:/-",
				name);
		if (name[i] < '0' || name[i] > '9')
			digits = false;
	}
	if (digits)
		return perr(p, "bad name '%s': a name cannot be all digits",
			    name);
	for (i = 0; i < ARRAY_SIZE(reserved); i++)
		if (!strcmp(name, reserved[i]))
			return perr(p, "bad name '%s': reserved", name);
	return 0;
}

/* An identity word: a number or a name; "any" only where @any_ok. */
static int check_identity(struct tpctl_parser *p, const char *s, bool any_ok)
{
	static const char *const reserved[] = { "host", "world", "tailnet",
						"cluster" };
	size_t i;
	__u64 v;

	if (!strcmp(s, "any")) {
		if (any_ok)
			return 0;
		return perr(
			p,
			"bad identity 'any': expected an identity (number or name)");
	}
	for (i = 0; i < ARRAY_SIZE(reserved); i++)
		if (!strcmp(s, reserved[i]))
			return 0;
	if (!strcmp(s, "unknown"))
		return perr(
			p,
			"bad identity 'unknown': identity 0 cannot be used, expected %s",
			any_ok ? "'any', a number or a name"
			       : "a number or a name");
	if (*s >= '0' && *s <= '9') {
		if (number(p, s, 1, 0xffffffffULL, "identity", &v))
			return -1;
		if (v > TP_ID_CLUSTER && v < TP_ID_USER_MIN)
			return perr(
				p,
				"bad identity '%s': %d-%d are reserved, user identities start at %d",
				s, TP_ID_CLUSTER + 1, TP_ID_USER_MIN - 1,
				TP_ID_USER_MIN);
		return 0;
	}
	if (check_name(p, s))
		return perr(p, "bad identity '%s': expected a number or a name",
			    s);
	return 0;
}

static int check_zone(struct tpctl_parser *p, const char *s)
{
	__u64 v;

	if (*s >= '0' && *s <= '9')
		return number(p, s, 0, 0xffff, "zone", &v);
	if (!strcmp(s, "any"))
		return 0;
	if (!*s || strlen(s) > TPCTL_IFNAME_MAX || strpbrk(s, "/ \t"))
		return perr(
			p,
			"bad zone '%s': expected a zone number 0-65535 or an interface name",
			s);
	return 0;
}

/* ---- keywords ----------------------------------------------------------- */

/**
 * struct tpctl_kw - a keyword a command accepts.
 * @word:  the keyword.
 * @bit:   TPCTL_HAS_* it sets (given twice is an error), 0: none.
 * @parse: reads its value, if any.
 */
struct tpctl_kw {
	const char *word;
	unsigned int bit;
	int (*parse)(struct tpctl_parser *p, struct tpctl_args *a);
};

static int kw_affinity(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "SECONDS");
	__u64 v;

	if (!s || number(p, s, 1, TPCTL_AFFINITY_MAX, "affinity timeout", &v))
		return -1;
	a->affinity = (__u32)v;
	return 0;
}

/* A flag without a value: TPCTL_HAS_SNAT says it all. */
static int kw_snat(struct tpctl_parser *p, struct tpctl_args *a)
{
	return 0;
}

static int kw_zone(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "ZONE");

	if (!s || check_zone(p, s))
		return -1;
	a->zone = s;
	return 0;
}

static int kw_weight(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "WEIGHT");
	__u64 v;

	if (!s || number(p, s, 1, 65535, "weight", &v))
		return -1;
	a->weight = (__u16)v;
	return 0;
}

static int kw_state(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *states[TP_BACKEND_MAINTENANCE + 1];
	const char *s = need(p, "STATE");
	int i;

	if (!s)
		return -1;
	for (i = 0; i <= TP_BACKEND_MAINTENANCE; i++)
		states[i] = tp_backend_state_name(i);
	i = match(p, s, states, ARRAY_SIZE(states), "backend state");
	if (i < 0)
		return -1;
	a->state = (__u8)i;
	return 0;
}

static int kw_name(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "NAME");

	if (!s || check_name(p, s))
		return -1;
	a->name = s;
	return 0;
}

static int kw_proto(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const char *const protos[] = { "tcp",	"udp",	  "icmp",
					      "icmpv4", "icmpv6", "any" };
	static const unsigned int values[] = {
		IPPROTO_TCP,  IPPROTO_UDP,    TPCTL_PROTO_ICMP_BOTH,
		IPPROTO_ICMP, IPPROTO_ICMPV6, 0
	};
	const char *s = need(p, "PROTO");
	__u64 v;
	int i;

	if (!s)
		return -1;
	if (*s >= '0' && *s <= '9') {
		if (number(p, s, 1, 255, "protocol", &v))
			return -1;
		a->proto = (unsigned int)v;
		return 0;
	}
	i = match(p, s, protos, ARRAY_SIZE(protos), "protocol");
	if (i < 0)
		return -1;
	a->proto = values[i];
	return 0;
}

static int kw_port(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "PORT");

	if (!s)
		return -1;
	if (tp_port_range_parse(s, &a->port_lo, &a->port_hi) || (!a->port_hi))
		return perr(
			p,
			"bad port '%s': expected PORT (1-65535) or FIRST-LAST",
			s);
	return 0;
}

static int set_verdict(struct tpctl_parser *p, struct tpctl_args *a, __u8 v)
{
	if (a->has & TPCTL_HAS_VERDICT)
		return perr(p, "more than one verdict: '%s' after '%s'",
			    tp_verdict_name(v), tp_verdict_name(a->verdict));
	a->has |= TPCTL_HAS_VERDICT;
	a->verdict = v;
	return 0;
}

static int kw_allow(struct tpctl_parser *p, struct tpctl_args *a)
{
	return set_verdict(p, a, TP_VERDICT_ALLOW);
}

static int kw_deny(struct tpctl_parser *p, struct tpctl_args *a)
{
	return set_verdict(p, a, TP_VERDICT_DENY);
}

static int kw_audit(struct tpctl_parser *p, struct tpctl_args *a)
{
	return set_verdict(p, a, TP_VERDICT_AUDIT);
}

static int kw_src(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "ADDR");

	return s ? parse_prefix(p, s, &a->src, &a->src_plen) : -1;
}

static int kw_dst(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "ADDR");

	return s ? parse_prefix(p, s, &a->dst, &a->dst_plen) : -1;
}

static int kw_service(struct tpctl_parser *p, struct tpctl_args *a)
{
	return parse_svc(p, a);
}

/* conntrack's backend filter: ADDR:PORT, or ADDR for any port. */
static int kw_backend(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "ADDR:PORT");
	bool has_port;

	if (!s)
		return -1;
	if (tp_endpoint_parse(s, &a->be_addr, &a->be_port, &has_port))
		return perr(
			p,
			"bad backend address '%s': expected ADDR:PORT or ADDR",
			s);
	return 0;
}

static int kw_count(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "N");

	return s ? number(p, s, 1, ~0ULL >> 1, "count", &a->count) : -1;
}

static int kw_all(struct tpctl_parser *p, struct tpctl_args *a)
{
	a->filter = TPCTL_MONITOR_ALL;
	return 0;
}

static int kw_drops(struct tpctl_parser *p, struct tpctl_args *a)
{
	a->filter = TPCTL_MONITOR_DROPS;
	return 0;
}

static int kw_audit_events(struct tpctl_parser *p, struct tpctl_args *a)
{
	a->filter = TPCTL_MONITOR_AUDIT;
	return 0;
}

/* Keywords in any order until the words run out. */
static int keywords(struct tpctl_parser *p, struct tpctl_args *a,
		    const struct tpctl_kw *kws, size_t n)
{
	const char *words[16];
	const char *s;
	size_t k;
	int i;

	for (k = 0; k < n; k++)
		words[k] = kws[k].word;
	while ((s = peek(p))) {
		i = match(p, s, words, n, "keyword");
		if (i < 0)
			return -1;
		p->i++;
		if (kws[i].bit & a->has)
			return perr(p, "'%s' given twice", kws[i].word);
		if (kws[i].parse(p, a))
			return -1;
		a->has |= kws[i].bit;
	}
	return 0;
}

#define KW(w, bit, fn)     \
	{                  \
		w, bit, fn \
	}

/* ---- commands ----------------------------------------------------------- */

static int p_service_add(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("affinity", TPCTL_HAS_AFFINITY, kw_affinity),
		KW("snat", TPCTL_HAS_SNAT, kw_snat),
		KW("zone", TPCTL_HAS_ZONE, kw_zone),
	};

	return parse_svc(p, a) ?: keywords(p, a, kws, ARRAY_SIZE(kws));
}

static int p_service_del(struct tpctl_parser *p, struct tpctl_args *a)
{
	return parse_svc(p, a) ?: no_more(p);
}

static int p_none(struct tpctl_parser *p, struct tpctl_args *a)
{
	return no_more(p);
}

static int p_backend_add(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("weight", TPCTL_HAS_WEIGHT, kw_weight),
		KW("state", TPCTL_HAS_STATE, kw_state),
	};

	a->weight = 1;
	a->state = TP_BACKEND_ACTIVE;
	return parse_svc(p, a) ?: parse_backend_of(p, a) ?:
					keywords(p, a, kws, ARRAY_SIZE(kws));
}

static int p_backend_set(struct tpctl_parser *p, struct tpctl_args *a)
{
	if (p_backend_add(p, a))
		return -1;
	if (!(a->has & (TPCTL_HAS_WEIGHT | TPCTL_HAS_STATE)))
		return perr(
			p,
			"%s: nothing to set: expected 'weight W' or 'state S'",
			p->what);
	return 0;
}

static int p_backend_del(struct tpctl_parser *p, struct tpctl_args *a)
{
	return parse_svc(p, a) ?: parse_backend_of(p, a) ?: no_more(p);
}

static int p_identity_cidr(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "CIDR");

	return s ? parse_prefix(p, s, &a->prefix, &a->plen) : -1;
}

static int p_identity_add(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("name", TPCTL_HAS_NAME, kw_name),
		KW("zone", TPCTL_HAS_ZONE, kw_zone),
	};

	if (p_identity_cidr(p, a))
		return -1;
	a->id = need(p, "ID");
	if (!a->id || check_identity(p, a->id, false))
		return -1;
	if (keywords(p, a, kws, ARRAY_SIZE(kws)))
		return -1;
	if (a->name && !(a->id[0] >= '0' && a->id[0] <= '9'))
		return perr(p, "'name %s' needs a numeric ID (got '%s')",
			    a->name, a->id);
	return 0;
}

static int p_identity_del(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("zone", TPCTL_HAS_ZONE, kw_zone),
	};

	return p_identity_cidr(p, a) ?: keywords(p, a, kws, ARRAY_SIZE(kws));
}

/* from SRC to DST, then keywords; @verdict: the verdict is required. */
static int p_policy_rule(struct tpctl_parser *p, struct tpctl_args *a,
			 bool verdict)
{
	static const struct tpctl_kw kws[] = {
		KW("proto", TPCTL_HAS_PROTO, kw_proto),
		KW("port", TPCTL_HAS_PORT, kw_port),
		KW("allow", 0, kw_allow),
		KW("deny", 0, kw_deny),
		KW("audit", 0, kw_audit),
		KW("zone", TPCTL_HAS_ZONE, kw_zone),
	};
	static const char *const from[] = { "from" }, *const to[] = { "to" };
	const char *s;

	s = need(p, "'from SRC'");
	if (!s || match(p, s, from, 1, "word") < 0)
		return -1;
	a->from = need(p, "SRC");
	if (!a->from || check_identity(p, a->from, true))
		return -1;
	s = need(p, "'to DST'");
	if (!s || match(p, s, to, 1, "word") < 0)
		return -1;
	a->to = need(p, "DST");
	if (!a->to || check_identity(p, a->to, true))
		return -1;
	if (keywords(p, a, kws, ARRAY_SIZE(kws)))
		return -1;
	if (verdict && !(a->has & TPCTL_HAS_VERDICT))
		return perr(
			p, "%s: missing verdict: expected allow, deny or audit",
			p->what);
	if ((a->has & TPCTL_HAS_PORT) && a->proto != IPPROTO_TCP &&
	    a->proto != IPPROTO_UDP)
		return perr(p, "%s: 'port' needs 'proto tcp' or 'proto udp'",
			    p->what);
	return 0;
}

static int p_policy_add(struct tpctl_parser *p, struct tpctl_args *a)
{
	return p_policy_rule(p, a, true);
}

static int p_policy_del(struct tpctl_parser *p, struct tpctl_args *a)
{
	return p_policy_rule(p, a, false);
}

static int p_policy_default(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const char *const verdicts[] = { "allow", "deny" };
	static const struct tpctl_kw kws[] = {
		KW("zone", TPCTL_HAS_ZONE, kw_zone),
	};
	const char *s = need(p, "allow or deny");
	int i;

	if (!s)
		return -1;
	i = match(p, s, verdicts, ARRAY_SIZE(verdicts), "default verdict");
	if (i < 0)
		return -1;
	a->verdict = i ? TP_VERDICT_DENY : TP_VERDICT_ALLOW;
	a->has |= TPCTL_HAS_VERDICT;
	if (keywords(p, a, kws, ARRAY_SIZE(kws)))
		return -1;
	if (!a->zone)
		return perr(
			p,
			"%s: missing 'zone ZONE': the default verdict is per zone (e.g. 'policy default deny zone 1')",
			p->what);
	if (!strcmp(a->zone, "any"))
		return perr(
			p,
			"%s: bad zone 'any': a default verdict is set per zone, expected a zone number or an interface name",
			p->what);
	return 0;
}

static int p_ct_list(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("src", TPCTL_HAS_SRC, kw_src),
		KW("dst", TPCTL_HAS_DST, kw_dst),
		KW("service", TPCTL_HAS_SVC, kw_service),
		KW("backend", TPCTL_HAS_BACKEND, kw_backend),
	};

	return keywords(p, a, kws, ARRAY_SIZE(kws));
}

static int p_ct_flush(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("service", TPCTL_HAS_SVC, kw_service),
		KW("backend", TPCTL_HAS_BACKEND, kw_backend),
	};

	if (keywords(p, a, kws, ARRAY_SIZE(kws)))
		return -1;
	if ((a->has & TPCTL_HAS_SVC) && (a->has & TPCTL_HAS_BACKEND))
		return perr(p, "%s: give 'service' or 'backend', not both",
			    p->what);
	return 0;
}

/* ---- nat static ---- */

static int parse_nat_addr(struct tpctl_parser *p, const char *what, struct tp_addr *addr)
{
	const char *s = need(p, what);

	if (!s)
		return -1;
	if (tp_addr_parse(s, addr))
		return perr(p, "bad address '%s': expected an IPv4 or IPv6 address", s);
	return 0;
}

static int p_nat_static_add(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("zone", TPCTL_HAS_ZONE, kw_zone),
	};
	char t[TP_ADDR_STRLEN], i[TP_ADDR_STRLEN];

	if (parse_nat_addr(p, "TAILNET_ADDR", &a->nat_tailnet) ||
	    parse_nat_addr(p, "INNER_ADDR", &a->nat_inner))
		return -1;
	if (tp_addr_is_v4(&a->nat_tailnet) != tp_addr_is_v4(&a->nat_inner))
		return perr(p,
			    "%s and %s are of different address families: static NAT keeps the family",
			    tp_addr_format(&a->nat_tailnet, t, sizeof(t)),
			    tp_addr_format(&a->nat_inner, i, sizeof(i)));
	return keywords(p, a, kws, ARRAY_SIZE(kws));
}

static int p_nat_static_del(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("zone", TPCTL_HAS_ZONE, kw_zone),
	};

	return parse_nat_addr(p, "TAILNET_ADDR", &a->nat_tailnet) ?:
		       keywords(p, a, kws, ARRAY_SIZE(kws));
}

/* nat static { add | del | list } */
static int p_nat_static(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const char *const words[] = { "add", "del", "list" };
	const char *s = need(p, "add, del or list");
	int i;

	if (!s)
		return -1;
	i = match(p, s, words, ARRAY_SIZE(words), "command of nat static");
	if (i < 0)
		return -1;
	what_add(p, words[i]);
	if (i == 0) {
		a->op = TPCTL_OP_NAT_STATIC_ADD;
		return p_nat_static_add(p, a);
	}
	if (i == 1) {
		a->op = TPCTL_OP_NAT_STATIC_DEL;
		return p_nat_static_del(p, a);
	}
	a->op = TPCTL_OP_NAT_LIST;
	return no_more(p);
}

static int p_monitor(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("all", 0, kw_all),
		KW("drops", 0, kw_drops),
		KW("audit", 0, kw_audit_events),
		KW("count", TPCTL_HAS_COUNT, kw_count),
	};

	return keywords(p, a, kws, ARRAY_SIZE(kws));
}

static int p_map_dump(struct tpctl_parser *p, struct tpctl_args *a)
{
	a->map_name = need(p, "map NAME");
	return a->map_name ? no_more(p) : -1;
}

static int p_batch(struct tpctl_parser *p, struct tpctl_args *a)
{
	a->file = need(p, "FILE ('-' for stdin)");
	return a->file ? no_more(p) : -1;
}

/* guard add|del PREFIX: an address alone is its /32 or /128 */
static int p_guard_prefix(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "PREFIX");

	if (!s || parse_prefix(p, s, &a->prefix, &a->plen))
		return -1;
	return no_more(p);
}

/* guard rate PPS BURST; BURST may go with PPS 0 (no limit) */
static int p_guard_rate(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "PPS (0: no limit)");
	__u64 v;

	if (!s || number(p, s, 0, TP_GUARD_RATE_MAX, "rate", &v))
		return -1;
	a->rate = (__u32)v;
	s = peek(p);
	if (!s && !a->rate)
		return 0;
	s = need(p, "BURST");
	if (!s || number(p, s, 1, TP_GUARD_BURST_MAX, "burst", &v))
		return -1;
	a->burst = (__u32)v;
	return no_more(p);
}

/* ---- objects ------------------------------------------------------------ */

/**
 * struct tpctl_cmd - a command of an object.
 * @word:  the command ("add").
 * @op:    what it does.
 * @parse: reads its arguments.
 */
struct tpctl_cmd {
	const char *word;
	enum tpctl_op op;
	int (*parse)(struct tpctl_parser *p, struct tpctl_args *a);
};

static const struct tpctl_cmd service_cmds[] = {
	{ "add", TPCTL_OP_SERVICE_ADD, p_service_add },
	{ "del", TPCTL_OP_SERVICE_DEL, p_service_del },
	{ "list", TPCTL_OP_SERVICE_LIST, p_none },
};

static const struct tpctl_cmd backend_cmds[] = {
	{ "add", TPCTL_OP_BACKEND_ADD, p_backend_add },
	{ "set", TPCTL_OP_BACKEND_SET, p_backend_set },
	{ "del", TPCTL_OP_BACKEND_DEL, p_backend_del },
	{ "list", TPCTL_OP_SERVICE_LIST, p_none },
};

static const struct tpctl_cmd identity_cmds[] = {
	{ "add", TPCTL_OP_IDENTITY_ADD, p_identity_add },
	{ "del", TPCTL_OP_IDENTITY_DEL, p_identity_del },
	{ "list", TPCTL_OP_IDENTITY_LIST, p_none },
};

static const struct tpctl_cmd policy_cmds[] = {
	{ "add", TPCTL_OP_POLICY_ADD, p_policy_add },
	{ "del", TPCTL_OP_POLICY_DEL, p_policy_del },
	{ "default", TPCTL_OP_POLICY_DEFAULT, p_policy_default },
	{ "list", TPCTL_OP_POLICY_LIST, p_none },
};

static const struct tpctl_cmd ct_cmds[] = {
	{ "list", TPCTL_OP_CT_LIST, p_ct_list },
	{ "flush", TPCTL_OP_CT_FLUSH, p_ct_flush },
};

static const struct tpctl_cmd nat_cmds[] = {
	{ "list", TPCTL_OP_NAT_LIST, p_none },
	{ "static", TPCTL_OP_NONE, p_nat_static },
};

static const struct tpctl_cmd stats_cmds[] = {
	{ "show", TPCTL_OP_STATS_SHOW, p_none },
	{ "list", TPCTL_OP_STATS_SHOW, p_none },
	{ "reset", TPCTL_OP_STATS_RESET, p_none },
};

static const struct tpctl_cmd map_cmds[] = {
	{ "list", TPCTL_OP_MAP_LIST, p_none },
	{ "dump", TPCTL_OP_MAP_DUMP, p_map_dump },
};

static const struct tpctl_cmd guard_cmds[] = {
	{ "list", TPCTL_OP_GUARD_LIST, p_none },
	{ "add", TPCTL_OP_GUARD_ADD, p_guard_prefix },
	{ "del", TPCTL_OP_GUARD_DEL, p_guard_prefix },
	{ "rate", TPCTL_OP_GUARD_RATE, p_guard_rate },
	{ "show", TPCTL_OP_GUARD_SHOW, p_none },
};

/**
 * struct tpctl_object - an OBJECT word.
 * @word:   the object ("service").
 * @obj:    enum tpctl_obj.
 * @cmds:   its commands; NULL when it takes arguments directly.
 * @n_cmds: their number.
 * @dflt:   the command run when none is given (its list); with @cmds
 *          NULL, the op its arguments go to.
 * @args:   with @cmds NULL: reads the arguments.
 */
struct tpctl_object {
	const char *word;
	enum tpctl_obj obj;
	const struct tpctl_cmd *cmds;
	size_t n_cmds;
	const struct tpctl_cmd *dflt;
};

#define OBJ(w, o, c, d)                    \
	{                                  \
		w, o, c, ARRAY_SIZE(c), &d \
	}
#define DIRECT(w, o, op, fn)                                \
	{                                                   \
		w, o, NULL, 0, &(const struct tpctl_cmd)    \
		{                                           \
			w, op, fn                           \
		}                                           \
	}

static const struct tpctl_object tpctl_objects[] = {
	OBJ("service", TPCTL_OBJ_SERVICE, service_cmds, service_cmds[2]),
	OBJ("backend", TPCTL_OBJ_BACKEND, backend_cmds, backend_cmds[3]),
	OBJ("identity", TPCTL_OBJ_IDENTITY, identity_cmds, identity_cmds[2]),
	OBJ("policy", TPCTL_OBJ_POLICY, policy_cmds, policy_cmds[3]),
	OBJ("conntrack", TPCTL_OBJ_CONNTRACK, ct_cmds, ct_cmds[0]),
	OBJ("nat", TPCTL_OBJ_NAT, nat_cmds, nat_cmds[0]),
	OBJ("stats", TPCTL_OBJ_STATS, stats_cmds, stats_cmds[0]),
	DIRECT("monitor", TPCTL_OBJ_MONITOR, TPCTL_OP_MONITOR, p_monitor),
	OBJ("map", TPCTL_OBJ_MAP, map_cmds, map_cmds[0]),
	DIRECT("batch", TPCTL_OBJ_BATCH, TPCTL_OP_BATCH, p_batch),
	DIRECT("status", TPCTL_OBJ_STATUS, TPCTL_OP_STATUS, p_none),
	OBJ("guard", TPCTL_OBJ_GUARD, guard_cmds, guard_cmds[0]),
	DIRECT("help", TPCTL_OBJ_NONE, TPCTL_OP_HELP, p_none),
	DIRECT("version", TPCTL_OBJ_NONE, TPCTL_OP_VERSION, p_none),
};

#define N_OBJECTS ARRAY_SIZE(tpctl_objects)

static int parse_command(struct tpctl_parser *p, struct tpctl_args *a,
			 const struct tpctl_object *o)
{
	const char *words[8];
	const char *s = peek(p);
	char kind[48];
	size_t k;
	int i;

	if (!s) {
		a->op = o->dflt->op;
		return o->dflt->parse(p, a);
	}
	for (k = 0; k < o->n_cmds; k++)
		words[k] = o->cmds[k].word;
	words[k] = "help";
	snprintf(kind, sizeof(kind), "%s command", o->word);
	i = match(p, s, words, o->n_cmds + 1, kind);
	if (i < 0)
		return -1;
	p->i++;
	if ((size_t)i == o->n_cmds) {
		a->op = TPCTL_OP_HELP;
		return no_more(p);
	}
	what_add(p, o->cmds[i].word);
	a->op = o->cmds[i].op;
	return o->cmds[i].parse(p, a);
}

/**
 * tpctl_parse() - parse OBJECT COMMAND ARGS.
 * @argc:   number of words.
 * @argv:   the words, options removed.
 * @a:      the result (zeroed first).
 * @err:    the error message, without "Error: ".
 * @errlen: its size.
 *
 * Return: 0 or -1 with @err set.
 */
int tpctl_parse(int argc, char **argv, struct tpctl_args *a, char *err,
		size_t errlen)
{
	struct tpctl_parser p = {
		.argv = argv, .argc = argc, .err = err, .errlen = errlen
	};
	const char *words[N_OBJECTS];
	const struct tpctl_object *o;
	char list[256];
	size_t k;
	int i;

	memset(a, 0, sizeof(*a));
	err[0] = '\0';
	for (k = 0; k < N_OBJECTS; k++)
		words[k] = tpctl_objects[k].word;
	if (!argc)
		return perr(
			&p, "missing OBJECT: expected %s (see 'tpctl help')",
			join(words, N_OBJECTS - 2, " or ", list, sizeof(list)));
	i = match(&p, argv[0], words, N_OBJECTS, "object");
	if (i < 0)
		return -1;
	o = &tpctl_objects[i];
	p.i = 1;
	a->obj = o->obj;
	what_add(&p, o->word);
	if (o->cmds)
		return parse_command(&p, a, o);
	if (peek(&p) && o->dflt->op != TPCTL_OP_HELP &&
	    o->dflt->op != TPCTL_OP_VERSION && !strcmp(peek(&p), "help")) {
		a->op = TPCTL_OP_HELP;
		p.i++;
		return no_more(&p);
	}
	a->op = o->dflt->op;
	return o->dflt->parse(&p, a);
}

/* ---- options ------------------------------------------------------------ */

static int opt_err(char *err, size_t errlen, const char *fmt, const char *s)
{
	snprintf(err, errlen, fmt, s);
	return -1;
}

static int parse_short(const char *s, struct tpctl_opts *o, char *err,
		       size_t errlen)
{
	for (s++; *s; s++) {
		switch (*s) {
		case 'p':
			o->pretty = true;
			/* fall through */
		case 'j':
			o->json = true;
			break;
		case 'h':
			o->help = true;
			break;
		case 'V':
			o->version = true;
			break;
		default:
			snprintf(
				err, errlen,
				"unrecognized option '-%c': expected -j, -p, -V, -h or --pin-root DIR",
				*s);
			return -1;
		}
	}
	return 0;
}

static int parse_long(int argc, char **argv, int *i, struct tpctl_opts *o,
		      char *err, size_t errlen)
{
	const char *s = argv[*i];

	if (!strcmp(s, "--json")) {
		o->json = true;
	} else if (!strcmp(s, "--pretty")) {
		o->json = o->pretty = true;
	} else if (!strcmp(s, "--help")) {
		o->help = true;
	} else if (!strcmp(s, "--version")) {
		o->version = true;
	} else if (!strncmp(s, "--pin-root=", 11)) {
		o->pin_root = s + 11;
	} else if (!strcmp(s, "--pin-root")) {
		if (*i + 1 >= argc)
			return opt_err(err, errlen, "missing DIR after '%s'",
				       s);
		o->pin_root = argv[++*i];
	} else {
		return opt_err(
			err, errlen,
			"unrecognized option '%s': expected --json, --pretty, --pin-root DIR, --version or --help",
			s);
	}
	if (o->pin_root && !*o->pin_root)
		return opt_err(err, errlen,
			       "bad pin root '%s': expected a directory", "");
	return 0;
}

/**
 * tpctl_parse_opts() - take the options out of a command line.
 * @argc:   argument count, argv[0] the program.
 * @argv:   the arguments.
 * @o:      the options (defaults filled in first).
 * @words:  receives the other words, in order (room for @argc).
 * @n:      their number.
 * @err:    the error message.
 * @errlen: its size.
 *
 * Options may appear anywhere, as with bpftool; "--" ends them, and "-"
 * alone is a word (stdin for batch).
 *
 * Return: 0 or -1 with @err set.
 */
int tpctl_parse_opts(int argc, char **argv, struct tpctl_opts *o, char **words,
		     int *n, char *err, size_t errlen)
{
	bool done = false;
	int i;

	memset(o, 0, sizeof(*o));
	o->pin_root = TP_PIN_ROOT_DEFAULT;
	*n = 0;
	for (i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (done || s[0] != '-' || !s[1]) {
			words[(*n)++] = argv[i];
		} else if (!strcmp(s, "--")) {
			done = true;
		} else if (s[1] == '-') {
			if (parse_long(argc, argv, &i, o, err, errlen))
				return -1;
		} else if (parse_short(s, o, err, errlen)) {
			return -1;
		}
	}
	return 0;
}

/** tpctl_op_writes() - does @op change the pinned state (takes the lock)? */
bool tpctl_op_writes(enum tpctl_op op)
{
	switch (op) {
	case TPCTL_OP_SERVICE_ADD:
	case TPCTL_OP_SERVICE_DEL:
	case TPCTL_OP_BACKEND_ADD:
	case TPCTL_OP_BACKEND_SET:
	case TPCTL_OP_BACKEND_DEL:
	case TPCTL_OP_IDENTITY_ADD:
	case TPCTL_OP_IDENTITY_DEL:
	case TPCTL_OP_POLICY_ADD:
	case TPCTL_OP_POLICY_DEL:
	case TPCTL_OP_POLICY_DEFAULT:
	case TPCTL_OP_CT_FLUSH:
	case TPCTL_OP_STATS_RESET:
	case TPCTL_OP_GUARD_ADD:
	case TPCTL_OP_GUARD_DEL:
	case TPCTL_OP_GUARD_RATE:
	case TPCTL_OP_NAT_STATIC_ADD:
	case TPCTL_OP_NAT_STATIC_DEL:
		return true;
	default:
		return false;
	}
}
