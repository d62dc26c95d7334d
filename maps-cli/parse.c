// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The command line grammar: options, then OBJECT COMMAND ARGS.  Words
 * (objects, commands, keywords, state and verdict names) match by unique
 * prefix, an exact match winning over longer words.  Values (addresses,
 * numbers, names) are checked here as far as they can be without the
 * maps; identity names and interface zones are resolved when the command
 * runs.  Every error names the offending word and what was expected.
 * OBJECT and COMMAND words come from the command table (commands.c);
 * each command's arguments are read by its tpctl_parse_*() here.
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

int tpctl_parse_service_add(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("affinity", TPCTL_HAS_AFFINITY, kw_affinity),
		KW("snat", TPCTL_HAS_SNAT, kw_snat),
		KW("zone", TPCTL_HAS_ZONE, kw_zone),
	};

	return parse_svc(p, a) ?: keywords(p, a, kws, ARRAY_SIZE(kws));
}

int tpctl_parse_service_del(struct tpctl_parser *p, struct tpctl_args *a)
{
	return parse_svc(p, a) ?: no_more(p);
}

int tpctl_parse_none(struct tpctl_parser *p, struct tpctl_args *a)
{
	return no_more(p);
}

int tpctl_parse_backend_add(struct tpctl_parser *p, struct tpctl_args *a)
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

int tpctl_parse_backend_set(struct tpctl_parser *p, struct tpctl_args *a)
{
	if (tpctl_parse_backend_add(p, a))
		return -1;
	if (!(a->has & (TPCTL_HAS_WEIGHT | TPCTL_HAS_STATE)))
		return perr(
			p,
			"%s: nothing to set: expected 'weight W' or 'state S'",
			p->what);
	return 0;
}

int tpctl_parse_backend_del(struct tpctl_parser *p, struct tpctl_args *a)
{
	return parse_svc(p, a) ?: parse_backend_of(p, a) ?: no_more(p);
}

static int p_identity_cidr(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "CIDR");

	return s ? parse_prefix(p, s, &a->prefix, &a->plen) : -1;
}

int tpctl_parse_identity_add(struct tpctl_parser *p, struct tpctl_args *a)
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

int tpctl_parse_identity_del(struct tpctl_parser *p, struct tpctl_args *a)
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

int tpctl_parse_policy_add(struct tpctl_parser *p, struct tpctl_args *a)
{
	return p_policy_rule(p, a, true);
}

int tpctl_parse_policy_del(struct tpctl_parser *p, struct tpctl_args *a)
{
	return p_policy_rule(p, a, false);
}

int tpctl_parse_policy_default(struct tpctl_parser *p, struct tpctl_args *a)
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

int tpctl_parse_ct_list(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("src", TPCTL_HAS_SRC, kw_src),
		KW("dst", TPCTL_HAS_DST, kw_dst),
		KW("service", TPCTL_HAS_SVC, kw_service),
		KW("backend", TPCTL_HAS_BACKEND, kw_backend),
	};

	return keywords(p, a, kws, ARRAY_SIZE(kws));
}

int tpctl_parse_ct_flush(struct tpctl_parser *p, struct tpctl_args *a)
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

static int parse_nat_addr(struct tpctl_parser *p, const char *what,
			  struct tp_addr *addr)
{
	const char *s = need(p, what);

	if (!s)
		return -1;
	if (tp_addr_parse(s, addr))
		return perr(
			p, "bad address '%s': expected an IPv4 or IPv6 address",
			s);
	return 0;
}

int tpctl_parse_nat_static_add(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("zone", TPCTL_HAS_ZONE, kw_zone),
	};
	char t[TP_ADDR_STRLEN], i[TP_ADDR_STRLEN];

	if (parse_nat_addr(p, "TAILNET_ADDR", &a->nat_tailnet) ||
	    parse_nat_addr(p, "INNER_ADDR", &a->nat_inner))
		return -1;
	if (tp_addr_is_v4(&a->nat_tailnet) != tp_addr_is_v4(&a->nat_inner))
		return perr(
			p,
			"%s and %s are of different address families: static NAT keeps the family",
			tp_addr_format(&a->nat_tailnet, t, sizeof(t)),
			tp_addr_format(&a->nat_inner, i, sizeof(i)));
	return keywords(p, a, kws, ARRAY_SIZE(kws));
}

int tpctl_parse_nat_static_del(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("zone", TPCTL_HAS_ZONE, kw_zone),
	};

	return parse_nat_addr(p, "TAILNET_ADDR", &a->nat_tailnet)
		       ?: keywords(p, a, kws, ARRAY_SIZE(kws));
}

int tpctl_parse_monitor(struct tpctl_parser *p, struct tpctl_args *a)
{
	static const struct tpctl_kw kws[] = {
		KW("all", 0, kw_all),
		KW("drops", 0, kw_drops),
		KW("audit", 0, kw_audit_events),
		KW("count", TPCTL_HAS_COUNT, kw_count),
	};

	return keywords(p, a, kws, ARRAY_SIZE(kws));
}

int tpctl_parse_map_dump(struct tpctl_parser *p, struct tpctl_args *a)
{
	a->map_name = need(p, "map NAME");
	return a->map_name ? no_more(p) : -1;
}

int tpctl_parse_batch(struct tpctl_parser *p, struct tpctl_args *a)
{
	a->file = need(p, "FILE ('-' for stdin)");
	return a->file ? no_more(p) : -1;
}

/* guard add|del PREFIX: an address alone is its /32 or /128 */
int tpctl_parse_guard_prefix(struct tpctl_parser *p, struct tpctl_args *a)
{
	const char *s = need(p, "PREFIX");

	if (!s || parse_prefix(p, s, &a->prefix, &a->plen))
		return -1;
	return no_more(p);
}

/* guard rate PPS BURST; BURST may go with PPS 0 (no limit) */
int tpctl_parse_guard_rate(struct tpctl_parser *p, struct tpctl_args *a)
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

/* ---- objects and commands: the walk over the table of commands.c -------- */

#define TPCTL_MAX_WORDS 16 /* objects, or commands of one object, and help */

/*
 * The command an object runs when it comes alone: its row flagged
 * TPCTL_CMD_DEFAULT, or the single row of an object without command
 * words.
 */
static const struct tpctl_cmd *default_cmd(const struct tpctl_object *o)
{
	size_t k;

	for (k = 0; k < o->n_cmds; k++)
		if ((o->cmds[k].flags & TPCTL_CMD_DEFAULT) || !o->cmds[k].word)
			return &o->cmds[k];
	return NULL;
}

/* The command words of @o, then "help" when @help; their number. */
static size_t cmd_words(const struct tpctl_object *o, bool help,
			const char **words)
{
	size_t k, n = 0;

	for (k = 0; k < o->n_cmds && n < TPCTL_MAX_WORDS - 1; k++)
		words[n++] = o->cmds[k].word;
	if (help)
		words[n++] = "help";
	return n;
}

static int parse_sub(struct tpctl_parser *p, struct tpctl_args *a,
		     const struct tpctl_object *o);

/* The arguments of @c, or the commands that follow its word. */
static int parse_row(struct tpctl_parser *p, struct tpctl_args *a,
		     const struct tpctl_cmd *c)
{
	if (c->sub)
		return parse_sub(p, a, c->sub);
	a->cmd = c;
	return c->parse(p, a);
}

/*
 * The words after a command that has commands of its own ("nat static
 * add"): one of them is required; "help" is the object's, not theirs.
 */
static int parse_sub(struct tpctl_parser *p, struct tpctl_args *a,
		     const struct tpctl_object *o)
{
	const char *words[TPCTL_MAX_WORDS];
	char list[256], kind[96];
	size_t n = cmd_words(o, false, words);
	const char *s = need(p, join(words, n, " or ", list, sizeof(list)));
	int i;

	if (!s)
		return -1;
	snprintf(kind, sizeof(kind), "command of %s", p->what);
	i = match(p, s, words, n, kind);
	if (i < 0)
		return -1;
	what_add(p, o->cmds[i].word);
	return parse_row(p, a, &o->cmds[i]);
}

/* COMMAND ARGS of an object with command words, or its default. */
static int parse_command(struct tpctl_parser *p, struct tpctl_args *a,
			 const struct tpctl_object *o)
{
	const struct tpctl_cmd *dflt = default_cmd(o);
	const char *words[TPCTL_MAX_WORDS];
	const char *s = peek(p);
	char kind[48], list[256];
	size_t n = cmd_words(o, true, words);
	int i;

	if (!s && !dflt)
		return perr(p, "missing COMMAND after '%s': expected %s",
			    p->what,
			    join(words, n, " or ", list, sizeof(list)));
	if (!s)
		return parse_row(p, a, dflt);
	snprintf(kind, sizeof(kind), "%s command", o->word);
	i = match(p, s, words, n, kind);
	if (i < 0)
		return -1;
	p->i++;
	if ((size_t)i == n - 1) {
		a->cmd = &tpctl_help_cmd;
		return no_more(p);
	}
	what_add(p, o->cmds[i].word);
	return parse_row(p, a, &o->cmds[i]);
}

/* ARGS of an object without command words (monitor, batch, status). */
static int parse_direct(struct tpctl_parser *p, struct tpctl_args *a,
			const struct tpctl_object *o)
{
	const char *s = peek(p);

	if (s && !(o->flags & TPCTL_OBJ_META) && !strcmp(s, "help")) {
		a->cmd = &tpctl_help_cmd;
		p->i++;
		return no_more(p);
	}
	return parse_row(p, a, &o->cmds[0]);
}

/* The OBJECT word, argv[0]; NULL with the error set. */
static const struct tpctl_object *parse_object(struct tpctl_parser *p)
{
	const char *words[TPCTL_MAX_WORDS], *objects[TPCTL_MAX_WORDS];
	size_t k, n = 0, n_objects = 0;
	char list[256];
	int i;

	for (k = 0; k < tpctl_n_objects && k < TPCTL_MAX_WORDS; k++) {
		words[n++] = tpctl_objects[k].word;
		if (!(tpctl_objects[k].flags & TPCTL_OBJ_META))
			objects[n_objects++] = tpctl_objects[k].word;
	}
	if (!p->argc) {
		perr(p, "missing OBJECT: expected %s (see 'tpctl help')",
		     join(objects, n_objects, " or ", list, sizeof(list)));
		return NULL;
	}
	i = match(p, p->argv[0], words, n, "object");
	if (i < 0)
		return NULL;
	p->i = 1;
	what_add(p, tpctl_objects[i].word);
	return &tpctl_objects[i];
}

/* The object whose usage `help` prints: none (tpctl's) for help, version. */
static const struct tpctl_object *help_object(const struct tpctl_object *o)
{
	return (o->flags & TPCTL_OBJ_META) ? NULL : o;
}

/**
 * tpctl_parse() - parse OBJECT COMMAND ARGS.
 * @argc:   number of words.
 * @argv:   the words, options removed.
 * @a:      the result (zeroed first).
 * @err:    the error message, without "Error: ".
 * @errlen: its size.
 *
 * The words are looked up in the command table (commands.c); @a->cmd is
 * the row of the command to run.
 *
 * Return: 0 or -1 with @err set.
 */
int tpctl_parse(int argc, char **argv, struct tpctl_args *a, char *err,
		size_t errlen)
{
	struct tpctl_parser p = {
		.argv = argv, .argc = argc, .err = err, .errlen = errlen
	};
	const struct tpctl_object *o;

	memset(a, 0, sizeof(*a));
	err[0] = '\0';
	o = parse_object(&p);
	if (!o)
		return -1;
	a->obj = help_object(o);
	if (o->cmds[0].word)
		return parse_command(&p, a, o);
	return parse_direct(&p, a, o);
}

/**
 * tpctl_parse_help() - the help a -h or --help asks for.
 * @argc:   number of words.
 * @argv:   the words, options removed.
 * @a:      the result (zeroed first): the help of the object named, or
 *          tpctl's usage when no word is given.
 * @err:    the error message, without "Error: ".
 * @errlen: its size.
 *
 * Only the OBJECT word counts (`tpctl service add -h` is the usage of
 * service), but it must name an object.
 *
 * Return: 0 or -1 with @err set.
 */
int tpctl_parse_help(int argc, char **argv, struct tpctl_args *a, char *err,
		     size_t errlen)
{
	struct tpctl_parser p = {
		.argv = argv, .argc = argc, .err = err, .errlen = errlen
	};
	const struct tpctl_object *o = NULL;

	memset(a, 0, sizeof(*a));
	err[0] = '\0';
	a->cmd = &tpctl_help_cmd;
	if (!argc)
		return 0;
	o = parse_object(&p);
	if (!o)
		return -1;
	a->obj = help_object(o);
	return 0;
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
