// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/stat.h>

#include <yajl/yajl_tree.h>

#include "addr.h"
#include "array.h"
#include "config.h"
#include "config_json.h"
#include "identity.h"
#include "kube_hash.h"
#include "log.h"
#include "names.h"
#include "peers.h"
#include "policy.h"
#include "service.h"
#include "tailplane/abi.h"

/*
 * Nesting a configuration may have.  The schema needs 5 (services,
 * backends); the bound keeps a hostile or broken file from costing
 * unbounded recursion, here and in yajl_tree_free().
 */
#define TPD_CONFIG_MAX_DEPTH 16

/*
 * @sunk:     the services array the parse handed over (tpd_svc_sink),
 *            empty in the tree; NULL when the root has none.
 * @sunk_dup: the first duplicate key found in its elements, or NULL.
 */
struct tpd_parse {
	char *err;
	size_t errlen;
	yajl_val sunk;
	const char *sunk_dup;
};

static int tpd_fail(struct tpd_parse *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int tpd_fail(struct tpd_parse *ps, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tpd_one_line(ps->err, ps->errlen,
		     msg); /* config.h: a one-line reason */
	return -EINVAL;
}

/* Every key of object @obj must be in @known (NULL-terminated). */
static int tpd_check_keys(struct tpd_parse *ps, yajl_val obj, const char *where,
			  const char *const *known)
{
	size_t i, j;

	if (!YAJL_IS_OBJECT(obj))
		return tpd_fail(ps, "%s: expected an object", where);
	for (i = 0; i < obj->u.object.len; i++) {
		for (j = 0; known[j]; j++)
			if (!strcmp(obj->u.object.keys[i], known[j]))
				break;
		if (!known[j])
			return tpd_fail(ps, "%s: unknown key '%s'", where,
					obj->u.object.keys[i]);
	}
	return 0;
}

static yajl_val tpd_get(yajl_val obj, const char *key)
{
	size_t i;

	for (i = 0; i < obj->u.object.len; i++)
		if (!strcmp(obj->u.object.keys[i], key))
			return obj->u.object.values[i];
	return NULL;
}

static int tpd_get_str(struct tpd_parse *ps, yajl_val obj, const char *where,
		       const char *key, char *out, size_t len, bool required)
{
	yajl_val v = tpd_get(obj, key);

	if (!v)
		return required ? tpd_fail(ps, "%s: missing '%s'", where, key)
				: 0;
	if (!YAJL_IS_STRING(v))
		return tpd_fail(ps, "%s.%s: expected a string", where, key);
	if (strlen(v->u.string) >= len)
		return tpd_fail(ps, "%s.%s: too long", where, key);
	strcpy(out, v->u.string);
	return 0;
}

static int tpd_get_u32(struct tpd_parse *ps, yajl_val obj, const char *where,
		       const char *key, __u32 *out, __u32 min, __u32 max,
		       bool required)
{
	yajl_val v = tpd_get(obj, key);
	long long n;

	if (!v)
		return required ? tpd_fail(ps, "%s: missing '%s'", where, key)
				: 0;
	if (!YAJL_IS_INTEGER(v))
		return tpd_fail(ps, "%s.%s: expected an integer", where, key);
	n = YAJL_GET_INTEGER(v);
	if (n < min || n > max)
		return tpd_fail(ps, "%s.%s: %lld out of range %u..%u", where,
				key, n, min, max);
	*out = n;
	return 0;
}

/* One word of a closed set and the value it stands for. */
struct tpd_word {
	const char *name;
	int val;
};

/*
 * @word as one of @words (ended by an empty entry) into @val; else the
 * error "@where: '@word': expected @expected".
 */
static int tpd_word(struct tpd_parse *ps, const char *where, const char *word,
		    const struct tpd_word *words, const char *expected,
		    int *val)
{
	for (; words->name; words++) {
		if (!strcmp(word, words->name)) {
			*val = words->val;
			return 0;
		}
	}
	return tpd_fail(ps, "%s: '%s': expected %s", where, word, expected);
}

static int tpd_get_bool(struct tpd_parse *ps, yajl_val obj, const char *where,
			const char *key, bool *out)
{
	yajl_val v = tpd_get(obj, key);

	if (!v)
		return 0;
	if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return tpd_fail(ps, "%s.%s: expected true or false", where,
				key);
	*out = YAJL_IS_TRUE(v);
	return 0;
}

static int tpd_get_u16(struct tpd_parse *ps, yajl_val obj, const char *where,
		       const char *key, __u16 *out, __u32 min, __u32 max)
{
	__u32 v = *out;
	int err = tpd_get_u32(ps, obj, where, key, &v, min, max, false);

	*out = v;
	return err;
}

static void *tpd_array(struct tpd_parse *ps, yajl_val obj, const char *key,
		       size_t elem, size_t *n, int *err)
{
	yajl_val v = tpd_get(obj, key);
	void *out;

	*n = 0;
	*err = 0;
	if (!v)
		return NULL;
	if (!YAJL_IS_ARRAY(v)) {
		*err = tpd_fail(ps, "%s: expected an array", key);
		return NULL;
	}
	if (!v->u.array.len)
		return NULL;
	out = calloc(v->u.array.len, elem);
	if (!out) {
		*err = -ENOMEM;
		return NULL;
	}
	*n = v->u.array.len;
	return out;
}

static int tpd_parse_iface(struct tpd_parse *ps, yajl_val o, size_t i,
			   struct tpd_iface_cfg *ifc)
{
	static const char *const keys[] = { "name",  "kind",	   "zone",
					    "peers", "masquerade", NULL };
	static const struct tpd_word kinds[] = {
		{ "tailnet", TPD_IFACE_TAILNET },
		{ "uplink", TPD_IFACE_UPLINK },
		{},
	};
	char where[48], what[64], kind[16] = "tailnet", peers[16] = "none";
	int err, v = 0;

	snprintf(where, sizeof(where), "interfaces[%zu]", i);
	err = tpd_check_keys(ps, o, where, keys);
	if (!err)
		err = tpd_get_str(ps, o, where, "name", ifc->name,
				  sizeof(ifc->name), true);
	if (!err)
		err = tpd_get_str(ps, o, where, "kind", kind, sizeof(kind),
				  false);
	if (!err)
		err = tpd_get_str(ps, o, where, "peers", peers, sizeof(peers),
				  false);
	if (err)
		return err;
	snprintf(what, sizeof(what), "%s.kind", where);
	err = tpd_word(ps, what, kind, kinds, "tailnet or uplink", &v);
	if (err)
		return err;
	ifc->kind = v;
	if (ifc->kind == TPD_IFACE_TAILNET)
		ifc->zone = 1;
	err = tpd_get_u16(ps, o, where, "zone", &ifc->zone,
			  ifc->kind == TPD_IFACE_TAILNET ? 1 : 0, 65535);
	if (err)
		return err;
	if (tpd_peer_source_parse(peers, &ifc->peers))
		return tpd_fail(
			ps,
			"%s.peers: '%s': expected none, wireguard or tailscale",
			where, peers);
	if (ifc->kind == TPD_IFACE_UPLINK && ifc->peers != TPD_SRC_NONE)
		return tpd_fail(ps, "%s: an uplink has no peers", where);
	err = tpd_get_bool(ps, o, where, "masquerade", &ifc->masquerade);
	if (err)
		return err;
	if (ifc->kind == TPD_IFACE_UPLINK && ifc->masquerade)
		return tpd_fail(
			ps,
			"%s.masquerade: only a tailnet interface masquerades",
			where);
	return 0;
}

static int tpd_parse_ident(struct tpd_parse *ps, yajl_val o, size_t i,
			   struct tpd_ident_cfg *id)
{
	static const char *const keys[] = { "cidr", "id", "name", "zone",
					    NULL };
	char where[48];
	int err;

	snprintf(where, sizeof(where), "identities[%zu]", i);
	err = tpd_check_keys(ps, o, where, keys);
	if (!err)
		err = tpd_get_str(ps, o, where, "cidr", id->cidr,
				  sizeof(id->cidr), false);
	if (!err)
		err = tpd_get_u32(ps, o, where, "id", &id->id, 1, 0xffffffff,
				  true);
	if (!err)
		err = tpd_get_str(ps, o, where, "name", id->name,
				  sizeof(id->name), false);
	err = err ?: tpd_get_u16(ps, o, where, "zone", &id->zone, 0, 65535);
	if (!err && id->name[0] && id->id < TP_ID_USER_MIN)
		return tpd_fail(ps,
				"%s: only user identities (>= %d) take a name",
				where, TP_ID_USER_MIN);
	if (!err && !id->cidr[0] && !id->name[0])
		return tpd_fail(ps, "%s: needs a cidr, a name, or both", where);
	return err;
}

static int tpd_parse_backend(struct tpd_parse *ps, yajl_val o, const char *svc,
			     size_t i, struct tpd_backend_cfg *be)
{
	static const char *const keys[] = { "addr", "weight", "state", NULL };
	char where[96], state[16] = "active";
	__u32 weight = 1;
	int err;

	snprintf(where, sizeof(where), "%s.backends[%zu]", svc, i);
	err = tpd_check_keys(ps, o, where, keys);
	if (!err)
		err = tpd_get_str(ps, o, where, "addr", be->addr,
				  sizeof(be->addr), true);
	if (!err)
		err = tpd_get_u32(ps, o, where, "weight", &weight, 1, 65535,
				  false);
	if (!err)
		err = tpd_get_str(ps, o, where, "state", state, sizeof(state),
				  false);
	if (err)
		return err;
	be->weight = weight;
	if (tp_backend_state_parse(state, &be->state))
		return tpd_fail(
			ps,
			"%s.state: '%s': expected active, terminating or maintenance",
			where, state);
	return 0;
}

static int tpd_parse_service(struct tpd_parse *ps, yajl_val o, size_t i,
			     struct tpd_service_cfg *svc)
{
	static const char *const keys[] = { "frontend", "backends", "affinity",
					    "zone",	"snat",	    NULL };
	char where[48];
	yajl_val bes;
	size_t j;
	int err;

	snprintf(where, sizeof(where), "services[%zu]", i);
	err = tpd_check_keys(ps, o, where, keys);
	if (!err)
		err = tpd_get_str(ps, o, where, "frontend", svc->frontend,
				  sizeof(svc->frontend), true);
	if (!err)
		err = tpd_get_u32(ps, o, where, "affinity", &svc->affinity, 0,
				  86400, false);
	err = err ?: tpd_get_u16(ps, o, where, "zone", &svc->zone, 0, 65535);
	err = err ?: tpd_get_bool(ps, o, where, "snat", &svc->snat);
	if (err)
		return err;
	svc->backends = tpd_array(ps, o, "backends", sizeof(*svc->backends),
				  &svc->n_backends, &err);
	if (err)
		return err;
	if (svc->n_backends > TP_MAX_SVC_BACKENDS)
		return tpd_fail(ps, "%s: more than %d backends", where,
				TP_MAX_SVC_BACKENDS);
	bes = tpd_get(o, "backends");
	for (j = 0; j < svc->n_backends && !err; j++)
		err = tpd_parse_backend(ps, bes->u.array.values[j], where, j,
					&svc->backends[j]);
	return err;
}

static int tpd_parse_static_nat(struct tpd_parse *ps, yajl_val o, size_t i,
				struct tpd_static_nat_cfg *sn)
{
	static const char *const keys[] = { "tailnet", "inner", "zone", NULL };
	char where[48];
	int err;

	snprintf(where, sizeof(where), "static_nat[%zu]", i);
	err = tpd_check_keys(ps, o, where, keys);
	if (!err)
		err = tpd_get_str(ps, o, where, "tailnet", sn->tailnet,
				  sizeof(sn->tailnet), true);
	if (!err)
		err = tpd_get_str(ps, o, where, "inner", sn->inner,
				  sizeof(sn->inner), true);
	err = err ?: tpd_get_u16(ps, o, where, "zone", &sn->zone, 0, 65535);
	return err;
}

static int tpd_parse_policy(struct tpd_parse *ps, yajl_val o, size_t i,
			    struct tpd_policy_cfg *p)
{
	static const char *const keys[] = { "from",    "to",   "proto", "port",
					    "verdict", "zone", NULL };
	char where[48];
	yajl_val port;
	int err;

	snprintf(where, sizeof(where), "policies[%zu]", i);
	strcpy(p->proto, "any");
	err = tpd_check_keys(ps, o, where, keys);
	if (!err)
		err = tpd_get_str(ps, o, where, "from", p->from,
				  sizeof(p->from), true);
	if (!err)
		err = tpd_get_str(ps, o, where, "to", p->to, sizeof(p->to),
				  true);
	if (!err)
		err = tpd_get_str(ps, o, where, "proto", p->proto,
				  sizeof(p->proto), false);
	if (!err)
		err = tpd_get_str(ps, o, where, "verdict", p->verdict,
				  sizeof(p->verdict), true);
	err = err ?: tpd_get_u16(ps, o, where, "zone", &p->zone, 0, 65535);
	if (err)
		return err;
	port = tpd_get(o, "port");
	if (port && YAJL_IS_INTEGER(port))
		snprintf(p->port, sizeof(p->port), "%lld",
			 YAJL_GET_INTEGER(port));
	else if (port)
		err = tpd_get_str(ps, o, where, "port", p->port,
				  sizeof(p->port), false);
	return err;
}

/* An object of string -> string (identity) pairs, in file order. */
static int tpd_parse_map(struct tpd_parse *ps, yajl_val o, const char *where,
			 struct tpd_map_cfg **out, size_t *n)
{
	size_t i;

	*n = 0;
	if (!o)
		return 0;
	if (!YAJL_IS_OBJECT(o))
		return tpd_fail(ps, "%s: expected an object", where);
	*out = calloc(o->u.object.len + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < o->u.object.len; i++) {
		yajl_val v = o->u.object.values[i];
		struct tpd_map_cfg *m = &(*out)[i];

		if (strlen(o->u.object.keys[i]) >= sizeof(m->key))
			return tpd_fail(ps, "%s: key too long", where);
		strcpy(m->key, o->u.object.keys[i]);
		if (YAJL_IS_INTEGER(v))
			snprintf(m->identity, sizeof(m->identity), "%lld",
				 YAJL_GET_INTEGER(v));
		else if (YAJL_IS_STRING(v) &&
			 strlen(v->u.string) < sizeof(m->identity))
			strcpy(m->identity, v->u.string);
		else
			return tpd_fail(
				ps,
				"%s.%s: expected an identity name or number",
				where, m->key);
	}
	*n = o->u.object.len;
	return 0;
}

/*
 * Bounds: a table below the minimum cannot hold what one node's own
 * configuration writes; above the maximum a typo costs gigabytes of
 * kernel memory (docs/tailplaned.8 gives the bytes per entry of each).
 */
const struct tpd_capacity_def tpd_capacities[TPD_CAP_MAX] = {
	[TPD_CAP_SERVICES] = { "services", TP_MAX_SERVICES, 16, 1u << 24 },
	[TPD_CAP_BACKENDS] = { "backends", TP_MAX_BACKENDS, 16, 1u << 24 },
	[TPD_CAP_IDENTITIES] = { "identities", TP_IDENTITY_SIZE, 64, 1u << 24 },
	[TPD_CAP_RULES] = { "rules", TP_MAX_RULES, 64, 1u << 24 },
	[TPD_CAP_POLICY_ENTRIES] = { "policy_entries", TP_POLICY_SIZE, 64,
				     1u << 26 },
	[TPD_CAP_CONNTRACK_TCP] = { "conntrack_tcp", TP_CT_SIZE, 1024,
				    1u << 26 },
	[TPD_CAP_CONNTRACK_OTHER] = { "conntrack_other", TP_CT_ANY_SIZE, 1024,
				      1u << 26 },
	[TPD_CAP_AFFINITY] = { "affinity", TP_AFFINITY_SIZE, 1024, 1u << 24 },
	[TPD_CAP_FRAGMENTS] = { "fragments", TP_FRAGS_SIZE, 1024, 1u << 22 },
	[TPD_CAP_GUARD_PREFIXES] = { "guard_prefixes", TP_GUARD_DROP_SIZE, 16,
				     1u << 20 },
	[TPD_CAP_GUARD_SOURCES] = { "guard_sources", TP_GUARD_BUCKETS_SIZE,
				    1024, 1u << 24 },
};

static int tpd_parse_capacity(struct tpd_parse *ps, yajl_val o,
			      struct tpd_config *cfg)
{
	const char *keys[TPD_CAP_MAX + 1];
	int i, err;

	if (!o)
		return 0;
	for (i = 0; i < TPD_CAP_MAX; i++)
		keys[i] = tpd_capacities[i].key;
	keys[TPD_CAP_MAX] = NULL;
	err = tpd_check_keys(ps, o, "capacity", keys);
	for (i = 0; i < TPD_CAP_MAX && !err; i++)
		err = tpd_get_u32(ps, o, "capacity", keys[i], &cfg->capacity[i],
				  tpd_capacities[i].min, tpd_capacities[i].max,
				  false);
	/* unless given, the policy trie grows with the rules it holds */
	if (!err && !tpd_get(o, "policy_entries")) {
		__u64 n =
			TP_POLICY_ENTRIES((__u64)cfg->capacity[TPD_CAP_RULES]);
		__u32 max = tpd_capacities[TPD_CAP_POLICY_ENTRIES].max;

		cfg->capacity[TPD_CAP_POLICY_ENTRIES] =
			n > max ? max : (__u32)n;
	}
	return err;
}

static int tpd_parse_conntrack(struct tpd_parse *ps, yajl_val o,
			       struct tpd_config *cfg)
{
	static const char *const keys[] = { "tcp_syn",	   "tcp_established",
					    "tcp_fin",	   "tcp_close",
					    "udp",	   "icmp",
					    "gc_interval", NULL };
	int i, err;

	if (!o)
		return 0;
	err = tpd_check_keys(ps, o, "conntrack", keys);
	for (i = 0; i < 6 && !err; i++)
		err = tpd_get_u32(ps, o, "conntrack", keys[i],
				  &cfg->ct_timeout[i], 1, 7 * 86400, false);
	return err
		       ?: tpd_get_u32(ps, o, "conntrack", "gc_interval",
				      &cfg->gc_interval, 1, 3600, false);
}

/* A plain member of a section: a string, or a u32 in [@min, @max]. */
struct tpd_member {
	const char *key;
	size_t off;  /* in struct tpd_config */
	size_t size; /* a string's buffer; 0: a u32 */
	__u32 min, max;
};

#define TPD_MEMBER_STR(key, field)                                    \
	{                                                             \
		key, offsetof(struct tpd_config, field),              \
			sizeof(((struct tpd_config *)0)->field), 0, 0 \
	}
#define TPD_MEMBER_U32(key, field, min, max)                         \
	{                                                            \
		key, offsetof(struct tpd_config, field), 0, min, max \
	}

/* Section @where (@v) of plain members: only @keys, each member in turn. */
static int tpd_parse_members(struct tpd_parse *ps, yajl_val v,
			     const char *where, const char *const *keys,
			     const struct tpd_member *mb, size_t n,
			     struct tpd_config *cfg)
{
	char *base = (char *)cfg;
	int err = tpd_check_keys(ps, v, where, keys);
	size_t i;

	for (i = 0; !err && i < n; i++) {
		if (mb[i].size)
			err = tpd_get_str(ps, v, where, mb[i].key,
					  base + mb[i].off, mb[i].size, false);
		else
			err = tpd_get_u32(ps, v, where, mb[i].key,
					  (__u32 *)(base + mb[i].off),
					  mb[i].min, mb[i].max, false);
	}
	return err;
}

static int tpd_parse_sections(struct tpd_parse *ps, yajl_val root,
			      struct tpd_config *cfg)
{
	static const char *const ts_keys[] = { "socket", "socket_uid", "tags",
					       NULL };
	static const struct tpd_member ts[] = {
		TPD_MEMBER_STR("socket", ts_socket),
		TPD_MEMBER_U32("socket_uid", ts_socket_uid, 0, 0xfffffffe),
	};
	static const char *const wg_keys[] = { "socket_dir", "socket_uid",
					       NULL };
	static const struct tpd_member wg[] = {
		TPD_MEMBER_STR("socket_dir", wg_sockdir),
		TPD_MEMBER_U32("socket_uid", wg_socket_uid, 0, 0xfffffffe),
	};
	static const char *const m_keys[] = { "textfile", "interval", NULL };
	static const struct tpd_member mt[] = {
		TPD_MEMBER_STR("textfile", metrics_path),
		TPD_MEMBER_U32("interval", metrics_interval, 1, 3600),
	};
	static const char *const ev_keys[] = { "rate", "burst", NULL };
	static const struct tpd_member ev[] = {
		TPD_MEMBER_U32("rate", events_per_sec, 0, 10000000),
		TPD_MEMBER_U32("burst", events_burst, 1, 1000000),
	};
	static const struct {
		const char *name;
		const char *const *keys;
		const struct tpd_member *mb;
		size_t n;
	} plain[] = {
		{ "wireguard", wg_keys, wg, sizeof(wg) / sizeof(wg[0]) },
		{ "metrics", m_keys, mt, sizeof(mt) / sizeof(mt[0]) },
		{ "events", ev_keys, ev, sizeof(ev) / sizeof(ev[0]) },
	};
	yajl_val v;
	size_t i;
	int err = 0;

	if ((v = tpd_get(root, "tailscale"))) {
		err = tpd_parse_members(ps, v, "tailscale", ts_keys, ts,
					sizeof(ts) / sizeof(ts[0]), cfg);
		if (!err)
			err = tpd_parse_map(ps, tpd_get(v, "tags"),
					    "tailscale.tags", &cfg->ts_tags,
					    &cfg->n_ts_tags);
	}
	for (i = 0; !err && i < sizeof(plain) / sizeof(plain[0]); i++)
		if ((v = tpd_get(root, plain[i].name)))
			err = tpd_parse_members(ps, v, plain[i].name,
						plain[i].keys, plain[i].mb,
						plain[i].n, cfg);
	return err ?: tpd_parse_conntrack(ps, tpd_get(root, "conntrack"), cfg);
}

/* ---- snat ---------------------------------------------------------------- */

static int tpd_snat_mode(struct tpd_parse *ps, const char *where,
			 const char *mode, struct tpd_snat_cfg *sn)
{
	static const struct tpd_word modes[] = {
		{ "auto", true },
		{ "off", false },
		{},
	};
	int v = 0, err;

	err = tpd_word(ps, where, mode, modes, "auto or off", &v);
	if (!err)
		sn->auto_mode = v;
	return err;
}

/*
 * An address of one family for "snat.ipv4"/"snat.ipv6": a unicast
 * address the node can send from, never the unspecified one (all zero
 * means none to the datapath) nor a multicast one.
 */
static int tpd_snat_addr(struct tpd_parse *ps, yajl_val o, const char *key,
			 bool v4, struct tp_addr *a, bool *has)
{
	char text[64] = "";
	int err = tpd_get_str(ps, o, "snat", key, text, sizeof(text), false);
	bool bad;

	if (err || !text[0])
		return err;
	bad = tp_addr_parse(text, a) || tp_addr_is_v4(a) != v4;
	if (!bad && v4)
		bad = !a->w[3] || (a->b[12] & 0xf0) == 0xe0 ||
		      a->w[3] == 0xffffffff;
	else if (!bad)
		bad = (!a->w[0] && !a->w[1] && !a->w[2] && !a->w[3]) ||
		      a->b[0] == 0xff;
	if (bad)
		return tpd_fail(ps, "snat.%s: '%s' is not a unicast %s address",
				key, text, v4 ? "IPv4" : "IPv6");
	*has = true;
	return 0;
}

/*
 * "snat": "auto" | "off" | {"mode", "ipv4", "ipv6", "ports"}.  Ports
 * below 1024 are refused: a SNAT range there would shadow the well-known
 * ports of the node's own services.
 */
static int tpd_parse_snat(struct tpd_parse *ps, yajl_val v,
			  struct tpd_snat_cfg *sn)
{
	static const char *const keys[] = { "mode", "ipv4", "ipv6", "ports",
					    NULL };
	char mode[16] = "off", ports[32] = "";
	int err;

	sn->port_min = TP_SNAT_PORT_MIN;
	sn->port_max = TP_SNAT_PORT_MAX;
	if (!v)
		return 0;
	if (YAJL_IS_STRING(v))
		return tpd_snat_mode(ps, "snat", v->u.string, sn);
	if (!YAJL_IS_OBJECT(v))
		return tpd_fail(
			ps, "snat: expected \"auto\", \"off\" or an object");
	err = tpd_check_keys(ps, v, "snat", keys);
	if (!err)
		err = tpd_get_str(ps, v, "snat", "mode", mode, sizeof(mode),
				  false);
	err = err ?: tpd_snat_mode(ps, "snat.mode", mode, sn);
	if (!err)
		err = tpd_snat_addr(ps, v, "ipv4", true, &sn->addr4,
				    &sn->has_addr4);
	if (!err)
		err = tpd_snat_addr(ps, v, "ipv6", false, &sn->addr6,
				    &sn->has_addr6);
	if (!err)
		err = tpd_get_str(ps, v, "snat", "ports", ports, sizeof(ports),
				  false);
	if (err || !ports[0])
		return err;
	if (tp_port_range_parse(ports, &sn->port_min, &sn->port_max)) {
		__u16 lo, hi;
		char *dash = strchr(ports, '-');

		/* say why when it is only the order that is wrong */
		if (dash && !tp_port_range_parse(dash + 1, &hi, &hi)) {
			*dash = 0;
			if (!tp_port_range_parse(ports, &lo, &lo) && lo > hi)
				return tpd_fail(
					ps,
					"snat.ports: '%s-%s': the first port is above the last",
					ports, dash + 1);
			*dash = '-';
		}
		return tpd_fail(
			ps,
			"snat.ports: '%s' is not a port range (LO-HI, 1024-65535)",
			ports);
	}
	if (sn->port_min < 1024)
		return tpd_fail(
			ps,
			"snat.ports: '%s' reaches below 1024 (the well-known ports)",
			ports);
	return 0;
}

/** tpd_config_first_uplink() - the first "uplink" interface, or NULL. */
const struct tpd_iface_cfg *
tpd_config_first_uplink(const struct tpd_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_ifaces; i++)
		if (cfg->ifaces[i].kind == TPD_IFACE_UPLINK)
			return &cfg->ifaces[i];
	return NULL;
}

/**
 * tpd_config_warnings() - what a configuration asks for that works, but
 * probably not as meant, on this host: read from the host, so kept out of
 * tpd_config_parse() (which stays a pure function of the text).
 * @cfg:             a parsed configuration.
 * @port_range_path: the ephemeral port range file, TPD_LOCAL_PORT_RANGE
 *                   (tests pass their own).
 * @msg:             the first warning, one line.
 * @len:             its room.
 *
 * Warned about: a SNAT range overlapping the kernel's ephemeral port range
 * (local connections would then compete with SNAT for those ports; the
 * loader reserves the SNAT range, which shrinks the ephemeral one); a
 * configuration that SNATs without an uplink to take an address from.
 *
 * Return: the number of warnings (0: @msg untouched).
 */
int tpd_config_warnings(const struct tpd_config *cfg,
			const char *port_range_path, char *msg, size_t len)
{
	const struct tpd_snat_cfg *sn = &cfg->snat;
	unsigned int lo, hi;
	int n = 0;
	size_t i;
	bool snat = sn->auto_mode;
	FILE *f;

	for (i = 0; i < cfg->n_services; i++)
		snat |= cfg->services[i].snat;
	f = fopen(port_range_path, "r");
	if (f && fscanf(f, "%u %u", &lo, &hi) == 2 && sn->port_min <= hi &&
	    sn->port_max >= lo) {
		snprintf(
			msg, len,
			"snat.ports: %u-%u overlaps the ephemeral port range %u-%u "
			"(%s); reserving it takes those ports from local connections",
			sn->port_min, sn->port_max, lo, hi, port_range_path);
		n++;
	}
	if (f)
		fclose(f);
	if (snat && !tpd_config_first_uplink(cfg) &&
	    (!sn->has_addr4 || !sn->has_addr6)) {
		if (!n)
			snprintf(
				msg, len,
				"snat: no \"uplink\" interface to take the SNAT "
				"address from and no address configured for %s: such flows "
				"are dropped (no_snat_address)",
				!sn->has_addr4 && !sn->has_addr6
					? "either family"
				: sn->has_addr4 ? "IPv6"
						: "IPv4");
		n++;
	}
	return n;
}

/* ---- guard -------------------------------------------------------------------- */

static int tpd_parse_guard_ports(struct tpd_parse *ps, yajl_val v,
				 struct tpd_guard_cfg *g)
{
	size_t i, j;
	long long n;

	if (!v)
		return 0;
	if (!YAJL_IS_ARRAY(v))
		return tpd_fail(ps, "guard.ports: expected an array of ports");
	if (v->u.array.len > TP_GUARD_MAX_PORTS)
		return tpd_fail(ps, "guard.ports: %zu ports, at most %d",
				v->u.array.len, TP_GUARD_MAX_PORTS);
	for (i = 0; i < v->u.array.len; i++) {
		if (!YAJL_IS_INTEGER(v->u.array.values[i]))
			return tpd_fail(
				ps, "guard.ports[%zu]: expected a port number",
				i);
		n = YAJL_GET_INTEGER(v->u.array.values[i]);
		if (n < 1 || n > 65535)
			return tpd_fail(
				ps,
				"guard.ports[%zu]: %lld out of range 1..65535",
				i, n);
		g->ports[i] = n;
		for (j = 0; j < i; j++)
			if (g->ports[j] == g->ports[i])
				return tpd_fail(
					ps,
					"guard.ports[%zu]: %lld is guard.ports[%zu] already",
					i, n, j);
	}
	g->n_ports = v->u.array.len;
	return 0;
}

static int tpd_parse_guard_drop(struct tpd_parse *ps, yajl_val v,
				struct tpd_guard_cfg *g)
{
	struct tpd_guard_prefix *d;
	struct tp_addr masked;
	char fix[TP_PREFIX_STRLEN];
	size_t i, j;
	int err;

	if (!v)
		return 0;
	if (!YAJL_IS_ARRAY(v))
		return tpd_fail(ps,
				"guard.drop: expected an array of prefixes");
	if (!v->u.array.len)
		return 0;
	g->drop = calloc(v->u.array.len, sizeof(*g->drop));
	if (!g->drop)
		return -ENOMEM;
	for (i = 0; i < v->u.array.len; i++) {
		d = &g->drop[i];
		if (!YAJL_IS_STRING(v->u.array.values[i]) ||
		    strlen(v->u.array.values[i]->u.string) >= sizeof(d->cidr))
			return tpd_fail(
				ps,
				"guard.drop[%zu]: expected a prefix (ADDR/LEN)",
				i);
		strcpy(d->cidr, v->u.array.values[i]->u.string);
		err = tp_prefix_parse(d->cidr, &d->prefix, &d->plen);
		if (err == -EDOM) {
			masked = d->prefix;
			tp_addr_mask(&masked, d->plen);
			return tpd_fail(
				ps,
				"guard.drop[%zu]: '%s' has bits set past its length "
				"(did you mean %s?)",
				i, d->cidr,
				tp_prefix_format(&masked, d->plen, fix,
						 sizeof(fix)));
		}
		if (err)
			return tpd_fail(
				ps,
				"guard.drop[%zu]: '%s' is not a prefix (ADDR/LEN)",
				i, d->cidr);
		for (j = 0; j < i; j++)
			if (g->drop[j].plen == d->plen &&
			    !memcmp(&g->drop[j].prefix, &d->prefix,
				    sizeof(d->prefix)))
				return tpd_fail(
					ps,
					"guard.drop[%zu]: '%s' is guard.drop[%zu] already",
					i, d->cidr, j);
		g->n_drop++;
	}
	return 0;
}

/*
 * "guard": {"enabled", "mode", "ports", "rate", "burst", "drop"}.  The
 * section's presence turns the guard on unless "enabled" says otherwise.
 */
static int tpd_parse_guard(struct tpd_parse *ps, yajl_val o,
			   struct tpd_guard_cfg *g)
{
	static const char *const keys[] = { "enabled", "mode", "ports", "rate",
					    "burst",   "drop", NULL };
	static const struct tpd_word modes[] = {
		{ "auto", TPD_XDP_AUTO },
		{ "native", TPD_XDP_NATIVE },
		{ "generic", TPD_XDP_GENERIC },
		{},
	};
	char mode[16] = "auto";
	yajl_val v;
	int err, m = 0;

	if (!o)
		return 0;
	err = tpd_check_keys(ps, o, "guard", keys);
	if (err)
		return err;
	g->enabled = true;
	v = tpd_get(o, "enabled");
	if (v && !YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
		return tpd_fail(ps, "guard.enabled: expected true or false");
	if (v)
		g->enabled = YAJL_IS_TRUE(v);
	err = tpd_get_str(ps, o, "guard", "mode", mode, sizeof(mode), false);
	if (err)
		return err;
	err = tpd_word(ps, "guard.mode", mode, modes, "auto, native or generic",
		       &m);
	if (err)
		return err;
	g->mode = m;
	err = tpd_get_u32(ps, o, "guard", "rate", &g->rate, 0,
			  TP_GUARD_RATE_MAX, false);
	if (!err)
		err = tpd_get_u32(ps, o, "guard", "burst", &g->burst, 1,
				  TP_GUARD_BURST_MAX, false);
	err = err ?: tpd_parse_guard_ports(ps, tpd_get(o, "ports"), g);
	return err ?: tpd_parse_guard_drop(ps, tpd_get(o, "drop"), g);
}

/* ---- kubernetes ------------------------------------------------------------- */

static void tpd_kube_cfg_defaults(struct tpd_kube_cfg *k)
{
	memset(k, 0, sizeof(*k));
	k->expose = TPD_KUBE_EXPOSE_ALL;
	k->tcp_grace = 30;
	k->watch_timeout = 300;
	k->page_limit = 500;
	k->backoff_max = 30;
	k->max_frontends = TPD_KUBE_MAX_FRONTENDS_DEFAULT;
}

/**
 * tpd_kube_cfg_free() - free the strings of a Kubernetes source's settings
 * and zero them (the config's own, or a copy the loader holds)
 * @k: the settings
 */
void tpd_kube_cfg_free(struct tpd_kube_cfg *k)
{
	free(k->server);
	free(k->token_file);
	free(k->ca_file);
	free(k->kubeconfig);
	free(k->node_name);
	memset(k, 0, sizeof(*k));
}

/* A string of "kubernetes" into a heap copy; "" when absent. */
static int tpd_kube_str(struct tpd_parse *ps, yajl_val o, const char *key,
			char **out, size_t max)
{
	char *buf = calloc(1, max);
	int err;

	if (!buf)
		return -ENOMEM;
	err = o ? tpd_get_str(ps, o, "kubernetes", key, buf, max, false) : 0;
	if (err) {
		free(buf);
		return err;
	}
	free(*out); /* the default "" */
	*out = buf;
	return 0;
}

/*
 * The node this loader runs on: "node_name", else $NODE_NAME (the
 * DaemonSet sets it from spec.nodeName), else the host name in lower case.  A node name
 * is a DNS subdomain: lower-case letters, digits, '-' and '.'.
 */
static int tpd_kube_node_name(struct tpd_parse *ps, struct tpd_kube_cfg *k)
{
	const char *env = getenv("NODE_NAME");
	char host[256] = "";
	size_t i, len;

	if (!k->node_name[0]) {
		if (env && *env)
			snprintf(host, sizeof(host), "%s", env);
		else if (gethostname(host, sizeof(host) - 1))
			host[0] = 0;
		/* the kubelet's default node name is the host name in lower case */
		for (i = 0; host[i]; i++)
			if (host[i] >= 'A' && host[i] <= 'Z')
				host[i] += 'a' - 'A';
		free(k->node_name);
		k->node_name = strdup(host);
		if (!k->node_name)
			return -ENOMEM;
	}
	len = strlen(k->node_name);
	if (!len || len > 253)
		return tpd_fail(
			ps,
			"kubernetes.node_name: empty or too long (set it, or $NODE_NAME)");
	for (i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789-.",
			    k->node_name[i]))
			return tpd_fail(
				ps,
				"kubernetes.node_name: '%s' is not a node name",
				k->node_name);
	return 0;
}

/*
 * "kubernetes": {"enabled", "server", "token_file", "ca_file",
 * "kubeconfig", "node_name", "expose", "expose_loadbalancer_ips", "zone",
 * "tcp_grace_seconds", "watch_timeout_seconds", "list_limit",
 * "backoff_max_seconds", "max_frontends_per_service"} (kube.h).  The
 * section's presence alone enables nothing: "enabled" does.
 */
static int tpd_parse_kube(struct tpd_parse *ps, yajl_val o,
			  struct tpd_kube_cfg *k)
{
	static const char *const keys[] = {
		"enabled",
		"server",
		"token_file",
		"ca_file",
		"kubeconfig",
		"node_name",
		"expose",
		"expose_loadbalancer_ips",
		"zone",
		"tcp_grace_seconds",
		"watch_timeout_seconds",
		"list_limit",
		"backoff_max_seconds",
		"max_frontends_per_service",
		NULL,
	};
	static const struct tpd_word exposes[] = {
		{ "all", TPD_KUBE_EXPOSE_ALL },
		{ "annotated", TPD_KUBE_EXPOSE_ANNOTATED },
		{},
	};
	char expose[16] = "all";
	int err, v = 0;

	tpd_kube_cfg_defaults(k);
	err = tpd_kube_str(ps, NULL, "server", &k->server, 1);
	err = err ?: tpd_kube_str(ps, NULL, "token_file", &k->token_file, 1);
	err = err ?: tpd_kube_str(ps, NULL, "ca_file", &k->ca_file, 1);
	err = err ?: tpd_kube_str(ps, NULL, "kubeconfig", &k->kubeconfig, 1);
	err = err ?: tpd_kube_str(ps, NULL, "node_name", &k->node_name, 1);
	if (err || !o)
		return err;
	err = tpd_check_keys(ps, o, "kubernetes", keys);
	err = err ?: tpd_get_bool(ps, o, "kubernetes", "enabled", &k->enabled);
	err = err ?: tpd_kube_str(ps, o, "server", &k->server, 512);
	if (!err)
		err = tpd_kube_str(ps, o, "token_file", &k->token_file,
				   PATH_MAX);
	err = err ?: tpd_kube_str(ps, o, "ca_file", &k->ca_file, PATH_MAX);
	if (!err)
		err = tpd_kube_str(ps, o, "kubeconfig", &k->kubeconfig,
				   PATH_MAX);
	err = err ?: tpd_kube_str(ps, o, "node_name", &k->node_name, 254);
	if (!err)
		err = tpd_get_str(ps, o, "kubernetes", "expose", expose,
				  sizeof(expose), false);
	if (!err)
		err = tpd_get_bool(ps, o, "kubernetes",
				   "expose_loadbalancer_ips",
				   &k->expose_lb_ips);
	if (!err)
		err = tpd_get_u16(ps, o, "kubernetes", "zone", &k->zone, 0,
				  0xffff);
	if (!err)
		err = tpd_get_u32(ps, o, "kubernetes", "tcp_grace_seconds",
				  &k->tcp_grace, 0, 86400, false);
	if (!err)
		err = tpd_get_u32(ps, o, "kubernetes", "watch_timeout_seconds",
				  &k->watch_timeout, 10, 3600, false);
	if (!err)
		err = tpd_get_u32(ps, o, "kubernetes", "list_limit",
				  &k->page_limit, 1, 10000, false);
	if (!err)
		err = tpd_get_u32(ps, o, "kubernetes", "backoff_max_seconds",
				  &k->backoff_max, 1, 3600, false);
	if (!err)
		err = tpd_get_u32(ps, o, "kubernetes",
				  "max_frontends_per_service",
				  &k->max_frontends, 1,
				  TPD_KUBE_MAX_FRONTENDS_LIMIT, false);
	if (err)
		return err;
	err = tpd_word(ps, "kubernetes.expose", expose, exposes,
		       "all or annotated", &v);
	if (err)
		return err;
	k->expose = v;
	if (k->server[0] && strncmp(k->server, "https://", 8))
		return tpd_fail(
			ps,
			"kubernetes.server: '%s': expected https://HOST[:PORT]",
			k->server);
	return k->enabled ? tpd_kube_node_name(ps, k) : 0;
}

/* ---- the document's shape --------------------------------------------------- */

/*
 * Whether @text nests arrays and objects deeper than @max, counted before
 * yajl builds a tree of it: brackets inside strings do not count.
 */
static bool tpd_too_deep(const char *text, unsigned int max)
{
	unsigned int depth = 0;
	bool in_str = false;
	const char *p;

	for (p = text; *p; p++) {
		if (in_str) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				in_str = false;
			continue;
		}
		if (*p == '"')
			in_str = true;
		else if ((*p == '[' || *p == '{') && ++depth > max)
			return true;
		else if ((*p == ']' || *p == '}') && depth)
			depth--;
	}
	return false;
}

/*
 * No object anywhere may have a key twice: yajl keeps both and a lookup
 * finds the first, so the second of two "verdict"s would be ignored
 * without a word.  @where names @v as the errors do.
 */
static int tpd_check_dup_keys(struct tpd_parse *ps, yajl_val v,
			      const char *where, bool root)
{
	char sub[256];
	size_t i, j;
	int err = 0;

	/* the services, checked one by one as they were read */
	if (v && v == ps->sunk && ps->sunk_dup) {
		snprintf(ps->err, ps->errlen, "%s", ps->sunk_dup);
		return -EINVAL;
	}
	if (YAJL_IS_ARRAY(v)) {
		for (i = 0; i < v->u.array.len && !err; i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
			err = tpd_check_dup_keys(ps, v->u.array.values[i], sub,
						 false);
		}
		return err;
	}
	if (!YAJL_IS_OBJECT(v))
		return 0;
	for (i = 0; i < v->u.object.len; i++)
		for (j = 0; j < i; j++)
			if (!strcmp(v->u.object.keys[i], v->u.object.keys[j]))
				return tpd_fail(ps, "%s: duplicate key '%s'",
						where, v->u.object.keys[i]);
	for (i = 0; i < v->u.object.len && !err; i++) {
		if (root)
			snprintf(sub, sizeof(sub), "%s", v->u.object.keys[i]);
		else
			snprintf(sub, sizeof(sub), "%s.%s", where,
				 v->u.object.keys[i]);
		err = tpd_check_dup_keys(ps, v->u.object.values[i], sub, false);
	}
	return err;
}

/* ---- values ------------------------------------------------------------------ */

/*
 * Everything that names an address, a port, a protocol or an identity is
 * checked here, when the file is read, so that a start or a reload
 * either takes the whole file or changes nothing: checked only while
 * applying, a bad entry was skipped and the rule it replaced pruned.
 */

static int tpd_check_iface_names(struct tpd_parse *ps,
				 const struct tpd_config *cfg)
{
	const char *name;
	size_t i, j;

	for (i = 0; i < cfg->n_ifaces; i++) {
		name = cfg->ifaces[i].name;
		if (!name[0] || !strcmp(name, ".") || !strcmp(name, "..") ||
		    strpbrk(name, "/: \t\n"))
			return tpd_fail(
				ps,
				"interfaces[%zu].name: '%s' is not an interface name",
				i, name);
		for (j = 0; j < i; j++)
			if (!strcmp(cfg->ifaces[j].name, name))
				return tpd_fail(
					ps,
					"interfaces[%zu].name: '%s' is interfaces[%zu] already",
					i, name, j);
	}
	/* the datapath keeps one masquerade address per zone (tp_masq) */
	for (i = 0; i < cfg->n_ifaces; i++)
		for (j = 0; j < cfg->n_ifaces; j++)
			if (i != j && cfg->ifaces[i].masquerade &&
			    cfg->ifaces[j].kind == TPD_IFACE_TAILNET &&
			    cfg->ifaces[j].zone == cfg->ifaces[i].zone)
				return tpd_fail(
					ps,
					"interfaces[%zu].masquerade: zone %u is also "
					"interfaces[%zu]'s; masquerade needs a zone of its own",
					i, cfg->ifaces[i].zone, j);
	return 0;
}

static int tpd_check_idents(struct tpd_parse *ps, struct tpd_config *cfg)
{
	struct tpd_ident_cfg *ic;
	char pfx[TP_PREFIX_STRLEN];
	size_t i, j, n_cidr = 0;

	for (i = 0; i < cfg->n_idents; i++) {
		ic = &cfg->idents[i];
		if (ic->name[0] && !tp_identity_name_ok(ic->name))
			return tpd_fail(
				ps,
				"identities[%zu].name: '%s' is not a name (letters, "
				"digits and _.:/-, not all digits, not a reserved name or any)",
				i, ic->name);
		for (j = 0; ic->name[0] && j < i; j++)
			if (!strcmp(cfg->idents[j].name, ic->name) &&
			    cfg->idents[j].id != ic->id)
				return tpd_fail(
					ps,
					"identities[%zu].name: '%s' already names identity %u",
					i, ic->name, cfg->idents[j].id);
		if (!ic->cidr[0])
			continue;
		if (tp_prefix_parse(ic->cidr, &ic->prefix, &ic->plen))
			return tpd_fail(
				ps,
				"identities[%zu].cidr: '%s' is not a prefix (ADDR/LEN)",
				i, ic->cidr);
		tp_addr_mask(&ic->prefix, ic->plen);
		n_cidr++;
		for (j = 0; j < i; j++) {
			const struct tpd_ident_cfg *o = &cfg->idents[j];

			if (o->cidr[0] && o->zone == ic->zone &&
			    o->plen == ic->plen &&
			    !memcmp(&o->prefix, &ic->prefix,
				    sizeof(o->prefix)) &&
			    o->id != ic->id)
				return tpd_fail(
					ps,
					"identities[%zu].cidr: %s in zone %u is already identity %u",
					i,
					tp_prefix_format(&ic->prefix, ic->plen,
							 pfx, sizeof(pfx)),
					ic->zone, o->id);
		}
	}
	if (n_cidr > cfg->capacity[TPD_CAP_IDENTITIES])
		return tpd_fail(
			ps,
			"identities: %zu prefixes, more than the %u tp_identity holds "
			"(capacity.identities raises it)",
			n_cidr, cfg->capacity[TPD_CAP_IDENTITIES]);
	return 0;
}

/**
 * tpd_config_identity() - an identity as the configuration names it: a
 * number, a reserved name, "any" (TP_POLICY_ANY_ID) or a name of its
 * identities; never 0 (unknown), which as a policy key would mean any.
 * @cfg: configuration.
 * @s:   the text.
 * @id:  the identity.
 *
 * Return: 0 or -ENOENT.
 */
int tpd_config_identity(const struct tpd_config *cfg, const char *s, __u32 *id)
{
	size_t i;

	if (!strcmp(s, "any")) {
		*id = TP_POLICY_ANY_ID;
		return 0;
	}
	for (i = 0; i < cfg->n_idents; i++) {
		if (cfg->idents[i].name[0] && !strcmp(cfg->idents[i].name, s)) {
			*id = cfg->idents[i].id;
			return 0;
		}
	}
	/* numbers and reserved names only: no map is read */
	if (tp_identity_parse(NULL, s, id) || *id == TP_ID_UNKNOWN)
		return -ENOENT;
	return 0;
}

static int tpd_bad_identity(struct tpd_parse *ps, const char *where,
			    const char *s)
{
	return tpd_fail(
		ps,
		"%s: '%s' is not an identity (a number, a reserved name, "
		"or a name from identities)",
		where, s);
}

static int tpd_check_backends(struct tpd_parse *ps, struct tpd_service_cfg *sc,
			      size_t i, struct tp_backend_spec *bs)
{
	bool icmp = sc->key.proto == IPPROTO_ICMP ||
		    sc->key.proto == IPPROTO_ICMPV6;
	char why[256];
	bool has_port;
	__u16 port;
	size_t j;

	for (j = 0; j < sc->n_backends; j++) {
		const char *a = sc->backends[j].addr;

		memset(&bs[j], 0, sizeof(bs[j]));
		if (tp_endpoint_parse(a, &bs[j].addr, &port, &has_port) ||
		    (!icmp && (!has_port || !port)))
			return tpd_fail(
				ps,
				"services[%zu].backends[%zu].addr: '%s' is not ADDR:PORT "
				"(port 1-65535; an IPv6 address in brackets)",
				i, j, a);
		if (icmp && has_port)
			return tpd_fail(
				ps,
				"services[%zu].backends[%zu].addr: '%s' is not an address "
				"(an ICMP service's backends have no port)",
				i, j, a);
		bs[j].port = htons(port);
		bs[j].weight = sc->backends[j].weight;
		bs[j].state = sc->backends[j].state;
	}
	if (tp_service_check(&sc->key, bs, sc->n_backends, why, sizeof(why)))
		return tpd_fail(ps, "services[%zu]: %s", i, why);
	return 0;
}

static int tpd_check_services(struct tpd_parse *ps, struct tpd_config *cfg)
{
	struct tp_backend_spec *bs = calloc(TP_MAX_SVC_BACKENDS, sizeof(*bs));
	struct tpd_service_cfg *sc;
	struct tpd_kh seen = {}; /* frontend -> its index + 1 */
	struct tpd_kh_ent *dup;
	size_t i, j, n_be = 0;
	int err = 0;

	if (!bs)
		return -ENOMEM;
	if (cfg->n_services > cfg->capacity[TPD_CAP_SERVICES]) {
		err = tpd_fail(
			ps,
			"services: %zu services, more than the %u service ids "
			"(capacity.services raises it)",
			cfg->n_services, cfg->capacity[TPD_CAP_SERVICES]);
		goto out;
	}
	for (i = 0; i < cfg->n_services && !err; i++) {
		sc = &cfg->services[i];
		if (tp_svc_key_parse(sc->frontend, &sc->key)) {
			err = tpd_fail(
				ps,
				"services[%zu].frontend: '%s' is not VIP:PORT/PROTO "
				"(e.g. 198.19.0.10:80/tcp, [fd00::a]:53/udp, 198.19.0.10/icmp)",
				i, sc->frontend);
			break;
		}
		/* a hash, not a scan of the earlier ones: 10k services took 2 s */
		dup = tpd_kh_find(&seen, &sc->key, sizeof(sc->key));
		if (dup) {
			j = (uintptr_t)dup->val - 1;
			err = tpd_fail(
				ps,
				"services[%zu].frontend: %s is services[%zu] already",
				i, sc->frontend, j);
			break;
		}
		if (!tpd_kh_put(&seen, &sc->key, sizeof(sc->key),
				(void *)(uintptr_t)(i + 1))) {
			err = -ENOMEM;
			break;
		}
		err = tpd_check_backends(ps, sc, i, bs);
		n_be += sc->n_backends;
	}
	if (!err && n_be > cfg->capacity[TPD_CAP_BACKENDS])
		err = tpd_fail(
			ps,
			"services: %zu backends in all, more than the %u backend ids "
			"(capacity.backends raises it)",
			n_be, cfg->capacity[TPD_CAP_BACKENDS]);
out:
	tpd_kh_clear(&seen, NULL);
	free(bs);
	return err;
}

static int tpd_check_policy(struct tpd_parse *ps, const struct tpd_config *cfg,
			    size_t i, struct tpd_policy_cfg *pc)
{
	struct tp_rule *r = &pc->rule;
	char where[48];

	memset(r, 0, sizeof(*r));
	r->zone = pc->zone;
	r->owner = TP_OWNER_STATIC;
	snprintf(where, sizeof(where), "policies[%zu].from", i);
	if (tpd_config_identity(cfg, pc->from, &r->src_id))
		return tpd_bad_identity(ps, where, pc->from);
	snprintf(where, sizeof(where), "policies[%zu].to", i);
	if (tpd_config_identity(cfg, pc->to, &r->dst_id))
		return tpd_bad_identity(ps, where, pc->to);
	if (strcmp(pc->proto, "any") &&
	    (tp_proto_parse(pc->proto, &r->proto) || !r->proto))
		return tpd_fail(
			ps,
			"policies[%zu].proto: '%s' is not a protocol (any, tcp, udp, "
			"icmp, icmpv6 or a number 1-255)",
			i, pc->proto);
	if (tp_verdict_parse(pc->verdict, &r->verdict))
		return tpd_fail(
			ps,
			"policies[%zu].verdict: '%s' is not allow, deny or audit",
			i, pc->verdict);
	if (pc->port[0]) {
		/* port 0 would be no port at all: the rule would match every port */
		if (tp_port_range_parse(pc->port, &r->port_lo, &r->port_hi) ||
		    !r->port_lo)
			return tpd_fail(
				ps,
				"policies[%zu].port: '%s' is not a port or range "
				"(PORT or LO-HI, 1-65535)",
				i, pc->port);
		if (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)
			return tpd_fail(
				ps,
				"policies[%zu].port: ports need proto tcp or udp",
				i);
	}
	if (tp_rule_validate(r))
		return tpd_fail(
			ps, "policies[%zu]: not a rule the datapath can hold",
			i);
	return 0;
}

static int tpd_check_policies(struct tpd_parse *ps, struct tpd_config *cfg)
{
	size_t i, j;
	int err;

	if (cfg->n_policies > cfg->capacity[TPD_CAP_RULES])
		return tpd_fail(
			ps,
			"policies: %zu rules, more than the %u rule ids "
			"(capacity.rules raises it)",
			cfg->n_policies, cfg->capacity[TPD_CAP_RULES]);
	for (i = 0; i < cfg->n_policies; i++) {
		err = tpd_check_policy(ps, cfg, i, &cfg->policies[i]);
		if (err)
			return err;
		/* two verdicts for the same traffic: which one holds would be chance */
		for (j = 0; j < i; j++)
			if (tp_rule_same_match(&cfg->policies[j].rule,
					       &cfg->policies[i].rule) &&
			    cfg->policies[j].rule.verdict !=
				    cfg->policies[i].rule.verdict)
				return tpd_fail(
					ps,
					"policies[%zu]: matches the same traffic as "
					"policies[%zu], with another verdict",
					i, j);
	}
	return 0;
}

static int tpd_check_peer_map(struct tpd_parse *ps,
			      const struct tpd_config *cfg,
			      const struct tpd_map_cfg *map, size_t n,
			      const char *where, bool wireguard)
{
	__u8 key[TP_WG_KEY_LEN];
	char sub[160];
	__u32 id;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *k = map[i].key;

		if (wireguard && tpd_wg_key_from_base64(k, key))
			return tpd_fail(
				ps,
				"%s: '%s' is not a WireGuard public key (base64, "
				"44 characters)",
				where, k);
		if (!wireguard && (!k[0] || !strcmp(k, "tag:")))
			return tpd_fail(ps,
					"%s: '%s' is not a tag or a login name",
					where, k);
		snprintf(sub, sizeof(sub), "%s.%s", where, k);
		if (tpd_config_identity(cfg, map[i].identity, &id) ||
		    id == TP_POLICY_ANY_ID)
			return tpd_bad_identity(ps, sub, map[i].identity);
	}
	return 0;
}

/*
 * The static NAT entries on their own and against each other and the
 * file's services, as lib/static_nat.c checks them against the maps: a
 * file that would be refused there is refused whole here.
 */
static int tpd_check_static_nat_one(struct tpd_parse *ps,
				    const struct tpd_config *cfg, size_t i)
{
	const struct tpd_static_nat_cfg *sn = &cfg->static_nat[i], *o;
	size_t j;

	for (j = 0; j < cfg->n_services; j++)
		if (!memcmp(&cfg->services[j].key.vip, &sn->tailnet_addr,
			    sizeof(sn->tailnet_addr)) ||
		    !memcmp(&cfg->services[j].key.vip, &sn->inner_addr,
			    sizeof(sn->inner_addr)))
			return tpd_fail(
				ps,
				"static_nat[%zu]: an address of services[%zu]'s VIP: "
				"a static NAT address cannot be a VIP",
				i, j);
	for (j = 0; j < i; j++) {
		o = &cfg->static_nat[j];
		if (!memcmp(&o->tailnet_addr, &sn->tailnet_addr,
			    sizeof(sn->tailnet_addr)) &&
		    (o->zone == sn->zone || !o->zone || !sn->zone))
			return tpd_fail(
				ps,
				"static_nat[%zu].tailnet: %s is static_nat[%zu]'s in "
				"the same zone",
				i, sn->tailnet, j);
		if (!memcmp(&o->inner_addr, &sn->inner_addr,
			    sizeof(sn->inner_addr)))
			return tpd_fail(
				ps,
				"static_nat[%zu].inner: %s has a tailnet address in "
				"static_nat[%zu] already",
				i, sn->inner, j);
		if (!memcmp(&o->inner_addr, &sn->tailnet_addr,
			    sizeof(sn->tailnet_addr)) ||
		    !memcmp(&o->tailnet_addr, &sn->inner_addr,
			    sizeof(sn->inner_addr)))
			return tpd_fail(
				ps,
				"static_nat[%zu]: an address of static_nat[%zu] on "
				"the other side",
				i, j);
	}
	return 0;
}

static int tpd_check_static_nat(struct tpd_parse *ps, struct tpd_config *cfg)
{
	struct tpd_static_nat_cfg *sn;
	size_t i;
	int err;

	if (cfg->n_static_nat > TP_STATIC_NAT_SIZE)
		return tpd_fail(
			ps,
			"static_nat: %zu entries, more than the %d the maps hold",
			cfg->n_static_nat, TP_STATIC_NAT_SIZE);
	for (i = 0; i < cfg->n_static_nat; i++) {
		sn = &cfg->static_nat[i];
		if (tp_addr_parse(sn->tailnet, &sn->tailnet_addr))
			return tpd_fail(
				ps,
				"static_nat[%zu].tailnet: '%s' is not an address",
				i, sn->tailnet);
		if (tp_addr_parse(sn->inner, &sn->inner_addr))
			return tpd_fail(
				ps,
				"static_nat[%zu].inner: '%s' is not an address",
				i, sn->inner);
		if (tp_addr_is_v4(&sn->tailnet_addr) !=
		    tp_addr_is_v4(&sn->inner_addr))
			return tpd_fail(
				ps,
				"static_nat[%zu]: %s and %s are of different families: "
				"static NAT keeps the family",
				i, sn->tailnet, sn->inner);
		if (!memcmp(&sn->tailnet_addr, &sn->inner_addr,
			    sizeof(sn->inner_addr)))
			return tpd_fail(
				ps,
				"static_nat[%zu]: tailnet and inner are the same address",
				i);
		err = tpd_check_static_nat_one(ps, cfg, i);
		if (err)
			return err;
	}
	return 0;
}

/* Everything a value names, before anything is applied. */
static int tpd_config_validate(struct tpd_parse *ps, struct tpd_config *cfg)
{
	int err;

	err = tpd_check_iface_names(ps, cfg);
	err = err ?: tpd_check_idents(ps, cfg);
	err = err ?: tpd_check_services(ps, cfg);
	err = err ?: tpd_check_policies(ps, cfg);
	err = err ?: tpd_check_static_nat(ps, cfg);
	if (!err)
		err = tpd_check_peer_map(ps, cfg, cfg->wg_peers,
					 cfg->n_wg_peers, "wireguard_peers",
					 true);
	if (!err)
		err = tpd_check_peer_map(ps, cfg, cfg->ts_tags, cfg->n_ts_tags,
					 "tailscale.tags", false);
	if (!err && cfg->guard.n_drop > cfg->capacity[TPD_CAP_GUARD_PREFIXES])
		err = tpd_fail(
			ps,
			"guard.drop: %zu prefixes, more than the %u tp_guard_drop "
			"holds (capacity.guard_prefixes raises it)",
			cfg->guard.n_drop,
			cfg->capacity[TPD_CAP_GUARD_PREFIXES]);
	return err;
}

static void tpd_config_defaults(struct tpd_config *cfg)
{
	static const __u32 timeouts[6] = {
		TP_CT_TIMEOUT_SYN, TP_CT_TIMEOUT_ESTABLISHED,
		TP_CT_TIMEOUT_FIN, TP_CT_TIMEOUT_CLOSE,
		TP_CT_TIMEOUT_UDP, TP_CT_TIMEOUT_ICMP,
	};
	int i;

	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->pin_root, TP_PIN_ROOT_DEFAULT);
	strcpy(cfg->ts_socket, "/var/run/tailscale/tailscaled.sock");
	strcpy(cfg->wg_sockdir, "/var/run/wireguard");
	cfg->wg_socket_uid = (__u32)-1; /* root only */
	cfg->ts_socket_uid = (__u32)-1;
	memcpy(cfg->ct_timeout, timeouts, sizeof(timeouts));
	cfg->gc_interval = 30;
	cfg->maglev_size = TP_MAGLEV_SIZE;
	for (i = 0; i < TPD_CAP_MAX; i++)
		cfg->capacity[i] = tpd_capacities[i].dflt;
	cfg->sync_interval = 5;
	cfg->events_per_sec = 1000;
	cfg->events_burst = 200;
	cfg->metrics_interval = 15;
	cfg->snat.port_min = TP_SNAT_PORT_MIN;
	cfg->snat.port_max = TP_SNAT_PORT_MAX;
	cfg->guard.ports[0] = TP_GUARD_PORT_WG;
	cfg->guard.ports[1] = TP_GUARD_PORT_TS;
	cfg->guard.n_ports = 2;
	cfg->guard.rate = TP_GUARD_RATE_DEFAULT;
	cfg->guard.burst = TP_GUARD_BURST_DEFAULT;
	cfg->egress_routes = true;
	tpd_kube_cfg_defaults(&cfg->kube);
}

#define TPD_ARRAY(ps, root, key, field, n, fn)                             \
	({                                                                 \
		int __err;                                                 \
		size_t __i;                                                \
		yajl_val __a = tpd_get(root, key);                         \
		(field) = tpd_array(ps, root, key, sizeof(*(field)), &(n), \
				    &__err);                               \
		for (__i = 0; __i < (n) && !__err; __i++)                  \
			__err = fn(ps, __a->u.array.values[__i], __i,      \
				   &(field)[__i]);                         \
		__err;                                                     \
	})

/*
 * The services, read as the parser finishes each one (tpd_json_parse()):
 * a tree of 10,000 of them was most of the loader's peak memory.  What
 * the tree walks would have said of them is kept, to be said in turn:
 * @dup the first duplicate key (tpd_check_dup_keys()), @bad the first
 * service that does not parse (TPD_ARRAY()), each in a buffer the size
 * of the caller's.
 */
struct tpd_svc_sink {
	struct tpd_config *cfg;
	size_t cap;
	struct tpd_parse dup;
	struct tpd_parse bad;
	int dup_err;
	int bad_err;
	bool nomem;
};

static void tpd_svc_sink_fn(void *ctx, yajl_val elem, size_t i)
{
	struct tpd_svc_sink *k = ctx;
	struct tpd_config *cfg = k->cfg;
	char where[48];

	if (k->nomem)
		return;
	if (!k->dup_err) {
		snprintf(where, sizeof(where), "services[%zu]", i);
		k->dup_err = tpd_check_dup_keys(&k->dup, elem, where, false);
	}
	if (k->bad_err)
		return; /* as TPD_ARRAY(): none read past the first bad one */
	if (tp_array_grow((void **)&cfg->services, &k->cap, i + 1,
			  sizeof(*cfg->services), 64)) {
		k->nomem = true;
		return;
	}
	memset(&cfg->services[i], 0, sizeof(cfg->services[i]));
	cfg->n_services = i + 1;
	k->bad_err = tpd_parse_service(&k->bad, elem, i, &cfg->services[i]);
}

static int tpd_svc_sink_init(struct tpd_svc_sink *k, struct tpd_config *cfg,
			     size_t errlen)
{
	*k = (struct tpd_svc_sink){ .cfg = cfg };
	k->dup.errlen = k->bad.errlen = errlen;
	k->dup.err = calloc(1, errlen + 1);
	k->bad.err = calloc(1, errlen + 1);
	return k->dup.err && k->bad.err ? 0 : -ENOMEM;
}

static void tpd_svc_sink_free(struct tpd_svc_sink *k)
{
	free(k->dup.err);
	free(k->bad.err);
}

/*
 * The services step of tpd_config_parse(): what the sink read, or, when
 * the root had no services array, TPD_ARRAY() says why.
 */
static int tpd_parse_services(struct tpd_parse *ps, yajl_val root,
			      struct tpd_svc_sink *k)
{
	struct tpd_config *cfg = k->cfg;
	void *p;

	if (!ps->sunk)
		return TPD_ARRAY(ps, root, "services", cfg->services,
				 cfg->n_services, tpd_parse_service);
	if (k->bad_err) {
		snprintf(ps->err, ps->errlen, "%s", k->bad.err);
		return k->bad_err;
	}
	/* trimmed to what it holds: kept as long as the configuration */
	if (cfg->n_services < k->cap) {
		p = realloc(cfg->services,
			    cfg->n_services * sizeof(*cfg->services));
		if (p || !cfg->n_services)
			cfg->services = p;
		k->cap = cfg->n_services;
	}
	return 0;
}

/*
 * tpd_config_parse(); @owned, when not NULL, is where @text was
 * allocated: it is freed as soon as the tree is built, before the values
 * are read and checked (1.2 MB of text at 10,000 services).
 */
static int tpd_config_parse_text(const char *text, char **owned,
				 struct tpd_config *cfg, char *err,
				 size_t errlen)
{
	static const char *const keys[] = {
		"pin_root",	   "default_policy", "interfaces",
		"identities",	   "services",	     "policies",
		"wireguard_peers", "wireguard",	     "tailscale",
		"conntrack",	   "metrics",	     "maglev_size",
		"capacity",	   "sync_interval",  "events",
		"kubernetes",	   "snat",	     "guard",
		"static_nat",	   "egress_routes",  NULL,
	};
	struct tpd_parse ps = { err, errlen };
	struct tpd_json_sink sink = { .key = "services",
				      .fn = tpd_svc_sink_fn };
	struct tpd_svc_sink svcs;
	char yerr[256], dflt[8] = "";
	yajl_val root;
	int ret;

	tpd_config_defaults(cfg);
	if (tpd_too_deep(text, TPD_CONFIG_MAX_DEPTH))
		return tpd_fail(&ps, "config: nested deeper than %d levels",
				TPD_CONFIG_MAX_DEPTH);
	if (tpd_svc_sink_init(&svcs, cfg, errlen)) {
		tpd_svc_sink_free(&svcs);
		return -ENOMEM;
	}
	sink.ctx = &svcs;
	root = tpd_json_parse(text, strlen(text), &sink, yerr, sizeof(yerr));
	if (owned) {
		free(*owned);
		*owned = NULL;
	}
	if (!root) {
		char *nl = strchr(yerr, '\n');

		if (nl)
			*nl = 0;
		tpd_svc_sink_free(&svcs);
		return tpd_fail(&ps, "not valid JSON: %s", yerr);
	}
	if (svcs.nomem) {
		yajl_tree_free(root);
		tpd_svc_sink_free(&svcs);
		return -ENOMEM;
	}
	ps.sunk = sink.array;
	ps.sunk_dup = svcs.dup_err ? svcs.dup.err : NULL;
	ret = tpd_check_dup_keys(&ps, root, "config", true);
	ret = ret ?: tpd_check_keys(&ps, root, "config", keys);
	if (!ret)
		ret = tpd_get_str(&ps, root, "config", "pin_root",
				  cfg->pin_root, sizeof(cfg->pin_root), false);
	if (!ret)
		ret = tpd_get_str(&ps, root, "config", "default_policy", dflt,
				  sizeof(dflt), false);
	if (!ret)
		ret = tpd_get_u32(&ps, root, "config", "maglev_size",
				  &cfg->maglev_size, 3, TP_MAGLEV_SIZE_MAX,
				  false);
	if (!ret)
		ret = tpd_get_u32(&ps, root, "config", "sync_interval",
				  &cfg->sync_interval, 1, 3600, false);
	if (!ret)
		ret = tpd_get_bool(&ps, root, "config", "egress_routes",
				   &cfg->egress_routes);
	if (!ret && dflt[0] &&
	    (tp_verdict_parse(dflt, &cfg->default_policy) ||
	     cfg->default_policy == TP_VERDICT_AUDIT))
		ret = tpd_fail(&ps,
			       "default_policy: '%s': expected allow or deny",
			       dflt);
	if (!ret)
		ret = TPD_ARRAY(&ps, root, "interfaces", cfg->ifaces,
				cfg->n_ifaces, tpd_parse_iface);
	if (!ret)
		ret = TPD_ARRAY(&ps, root, "identities", cfg->idents,
				cfg->n_idents, tpd_parse_ident);
	if (!ret)
		ret = tpd_parse_services(&ps, root, &svcs);
	if (!ret)
		ret = TPD_ARRAY(&ps, root, "policies", cfg->policies,
				cfg->n_policies, tpd_parse_policy);
	if (!ret)
		ret = TPD_ARRAY(&ps, root, "static_nat", cfg->static_nat,
				cfg->n_static_nat, tpd_parse_static_nat);
	if (!ret)
		ret = tpd_parse_map(&ps, tpd_get(root, "wireguard_peers"),
				    "wireguard_peers", &cfg->wg_peers,
				    &cfg->n_wg_peers);
	ret = ret ?: tpd_parse_sections(&ps, root, cfg);
	ret = ret ?: tpd_parse_capacity(&ps, tpd_get(root, "capacity"), cfg);
	ret = ret ?: tpd_parse_snat(&ps, tpd_get(root, "snat"), &cfg->snat);
	if (!ret)
		ret = tpd_parse_guard(
			&ps,
			YAJL_IS_OBJECT(root) ? tpd_get(root, "guard") : NULL,
			&cfg->guard);
	if (!ret)
		ret = tpd_parse_kube(&ps,
				     YAJL_IS_OBJECT(root)
					     ? tpd_get(root, "kubernetes")
					     : NULL,
				     &cfg->kube);
	if (!ret && !cfg->n_ifaces)
		ret = tpd_fail(&ps,
			       "interfaces: at least one interface is needed");
	ret = ret ?: tpd_config_validate(&ps, cfg);
	yajl_tree_free(root);
	tpd_svc_sink_free(&svcs);
	return ret;
}

/**
 * tpd_config_parse() - parse a configuration document.
 * @text:   the JSON text.
 * @cfg:    filled in (free with tpd_config_free(), also on error).
 * @err:    a one-line reason on error.
 * @errlen: its room.
 *
 * Return: 0 or -EINVAL (with @err) / -ENOMEM.
 */
int tpd_config_parse(const char *text, struct tpd_config *cfg, char *err,
		     size_t errlen)
{
	return tpd_config_parse_text(text, NULL, cfg, err, errlen);
}

/*
 * All of @f, NUL-terminated, in a buffer the size of the file when it is
 * a regular one (getdelim() doubles its buffer: 2 MB for a 1.2 MB file,
 * held through the parse).  Return: its length, or -errno.
 */
static ssize_t tpd_read_text(FILE *f, char **text)
{
	struct stat st;
	size_t room = 4096, len = 0;
	char *buf = NULL, *p;

	if (!fstat(fileno(f), &st) && S_ISREG(st.st_mode) && st.st_size > 0)
		room = (size_t)st.st_size + 1; /* + 1: EOF seen, no regrow */
	for (;;) {
		p = realloc(buf, room + 1);
		if (!p) {
			free(buf);
			return -ENOMEM;
		}
		buf = p;
		len += fread(buf + len, 1, room - len, f);
		if (ferror(f)) {
			free(buf);
			return errno ? -errno : -EIO;
		}
		if (len < room)
			break;
		room *= 2;
	}
	buf[len] = 0;
	*text = buf;
	return (ssize_t)len;
}

/** tpd_config_load() - read and parse the file at @path. */
int tpd_config_load(const char *path, struct tpd_config *cfg, char *err,
		    size_t errlen)
{
	char *text = NULL;
	ssize_t n;
	FILE *f;
	int ret;

	tpd_config_defaults(cfg);
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	errno = 0;
	n = tpd_read_text(f, &text);
	fclose(f);
	if (n < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
			 strerror((int)-n));
		return (int)n;
	}
	/*
	 * Up to the first NUL, as before; an empty file was read fine, and
	 * is no configuration: parse says so
	 */
	ret = tpd_config_parse_text(text, &text, cfg, err, errlen);
	free(text);
	return ret;
}

/**
 * tpd_config_services_release() - free @cfg's services and their backends.
 * @cfg: a configuration whose services tpd_sync_static() has applied.
 *
 * Only tpd_sync_static() reads them, once for each load of the file (a
 * reload reads the file again), and at 10,000 services they are 2.5 MiB
 * the daemon held for nothing.  Afterwards @cfg has none.
 */
void tpd_config_services_release(struct tpd_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_services; i++)
		free(cfg->services[i].backends);
	free(cfg->services);
	cfg->services = NULL;
	cfg->n_services = 0;
}

void tpd_config_free(struct tpd_config *cfg)
{
	tpd_config_services_release(cfg);
	free(cfg->ifaces);
	free(cfg->idents);
	free(cfg->policies);
	free(cfg->wg_peers);
	free(cfg->ts_tags);
	free(cfg->guard.drop);
	free(cfg->static_nat);
	tpd_kube_cfg_free(&cfg->kube);
	memset(cfg, 0, sizeof(*cfg));
}

/**
 * tpd_static_nat_unroutable() - would Tailscale refuse to route @sn's
 * tailnet address?  True when it lies in Tailscale's own ranges
 * (100.64.0.0/10, fd7a:115c:a1e0::/48), which no subnet route may cover,
 * and a Tailscale interface serves its zone (docs/tailplaned.8, STATIC NAT).
 * @cfg: the configuration.
 * @sn:  one of its static NAT entries, parsed.
 */
bool tpd_static_nat_unroutable(const struct tpd_config *cfg,
			       const struct tpd_static_nat_cfg *sn)
{
	static const char *const ranges[] = { "100.64.0.0/10",
					      "fd7a:115c:a1e0::/48" };
	struct tp_addr pfx;
	unsigned int plen;
	bool inside = false;
	size_t i;

	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (!tp_prefix_parse(ranges[i], &pfx, &plen) &&
		    tp_prefix_contains(&pfx, plen, &sn->tailnet_addr))
			inside = true;
	if (!inside)
		return false;
	for (i = 0; i < cfg->n_ifaces; i++)
		if (cfg->ifaces[i].kind == TPD_IFACE_TAILNET &&
		    cfg->ifaces[i].peers == TPD_SRC_TAILSCALE &&
		    (!sn->zone || cfg->ifaces[i].zone == sn->zone))
			return true;
	return false;
}

/** tpd_config_iface() - the configured interface named @name, or NULL. */
const struct tpd_iface_cfg *tpd_config_iface(const struct tpd_config *cfg,
					     const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_ifaces; i++)
		if (!strcmp(cfg->ifaces[i].name, name))
			return &cfg->ifaces[i];
	return NULL;
}

/** tpd_config_knobs_equal() - do @a and @b load the programs the same way? */
static bool tpd_str_equal(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

/**
 * tpd_kube_cfg_equal() - whether two "kubernetes" sections are the same
 * (a reload that changes one restarts the client).
 */
bool tpd_kube_cfg_equal(const struct tpd_kube_cfg *a,
			const struct tpd_kube_cfg *b)
{
	return a->enabled == b->enabled &&
	       tpd_str_equal(a->server, b->server) &&
	       tpd_str_equal(a->token_file, b->token_file) &&
	       tpd_str_equal(a->ca_file, b->ca_file) &&
	       tpd_str_equal(a->kubeconfig, b->kubeconfig) &&
	       tpd_str_equal(a->node_name, b->node_name) &&
	       a->expose == b->expose && a->expose_lb_ips == b->expose_lb_ips &&
	       a->zone == b->zone && a->tcp_grace == b->tcp_grace &&
	       a->watch_timeout == b->watch_timeout &&
	       a->page_limit == b->page_limit &&
	       a->backoff_max == b->backoff_max &&
	       a->max_frontends == b->max_frontends;
}

bool tpd_config_knobs_equal(const struct tpd_config *a,
			    const struct tpd_config *b)
{
	return !memcmp(a->ct_timeout, b->ct_timeout, sizeof(a->ct_timeout)) &&
	       a->maglev_size == b->maglev_size &&
	       !memcmp(a->capacity, b->capacity, sizeof(a->capacity)) &&
	       a->events_per_sec == b->events_per_sec &&
	       a->events_burst == b->events_burst &&
	       !strcmp(a->pin_root, b->pin_root);
}
