// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "config.h"
#include "names.h"
#include "tailplane/abi.h"

struct tpd_parse {
	char *err;
	size_t errlen;
};

static int tpd_fail(struct tpd_parse *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int tpd_fail(struct tpd_parse *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
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
		return required ? tpd_fail(ps, "%s: missing '%s'", where, key) : 0;
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
		return required ? tpd_fail(ps, "%s: missing '%s'", where, key) : 0;
	if (!YAJL_IS_INTEGER(v))
		return tpd_fail(ps, "%s.%s: expected an integer", where, key);
	n = YAJL_GET_INTEGER(v);
	if (n < min || n > max)
		return tpd_fail(ps, "%s.%s: %lld out of range %u..%u", where, key,
				n, min, max);
	*out = n;
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
	static const char *const keys[] = { "name", "kind", "zone", "peers", NULL };
	char where[48], kind[16] = "tailnet", peers[16] = "none";
	int err;

	snprintf(where, sizeof(where), "interfaces[%zu]", i);
	err = tpd_check_keys(ps, o, where, keys);
	err = err ?: tpd_get_str(ps, o, where, "name", ifc->name, sizeof(ifc->name), true);
	err = err ?: tpd_get_str(ps, o, where, "kind", kind, sizeof(kind), false);
	err = err ?: tpd_get_str(ps, o, where, "peers", peers, sizeof(peers), false);
	if (err)
		return err;
	if (!strcmp(kind, "tailnet")) {
		ifc->kind = TPD_IFACE_TAILNET;
		ifc->zone = 1;
	} else if (!strcmp(kind, "uplink")) {
		ifc->kind = TPD_IFACE_UPLINK;
	} else {
		return tpd_fail(ps, "%s.kind: '%s': expected tailnet or uplink", where, kind);
	}
	err = tpd_get_u16(ps, o, where, "zone", &ifc->zone,
			  ifc->kind == TPD_IFACE_TAILNET ? 1 : 0, 65535);
	if (err)
		return err;
	if (!strcmp(peers, "none"))
		ifc->peers = TPD_PEERS_NONE;
	else if (!strcmp(peers, "wireguard"))
		ifc->peers = TPD_PEERS_WIREGUARD;
	else if (!strcmp(peers, "tailscale"))
		ifc->peers = TPD_PEERS_TAILSCALE;
	else
		return tpd_fail(ps, "%s.peers: '%s': expected none, wireguard or tailscale",
				where, peers);
	if (ifc->kind == TPD_IFACE_UPLINK && ifc->peers != TPD_PEERS_NONE)
		return tpd_fail(ps, "%s: an uplink has no peers", where);
	return 0;
}

static int tpd_parse_ident(struct tpd_parse *ps, yajl_val o, size_t i,
			   struct tpd_ident_cfg *id)
{
	static const char *const keys[] = { "cidr", "id", "name", "zone", NULL };
	char where[48];
	int err;

	snprintf(where, sizeof(where), "identities[%zu]", i);
	err = tpd_check_keys(ps, o, where, keys);
	err = err ?: tpd_get_str(ps, o, where, "cidr", id->cidr, sizeof(id->cidr), false);
	err = err ?: tpd_get_u32(ps, o, where, "id", &id->id, 1, 0xffffffff, true);
	err = err ?: tpd_get_str(ps, o, where, "name", id->name, sizeof(id->name), false);
	err = err ?: tpd_get_u16(ps, o, where, "zone", &id->zone, 0, 65535);
	if (!err && id->name[0] && id->id < TP_ID_USER_MIN)
		return tpd_fail(ps, "%s: only user identities (>= %d) take a name",
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
	err = err ?: tpd_get_str(ps, o, where, "addr", be->addr, sizeof(be->addr), true);
	err = err ?: tpd_get_u32(ps, o, where, "weight", &weight, 1, 65535, false);
	err = err ?: tpd_get_str(ps, o, where, "state", state, sizeof(state), false);
	if (err)
		return err;
	be->weight = weight;
	if (tp_backend_state_parse(state, &be->state))
		return tpd_fail(ps, "%s.state: '%s': expected active, terminating or maintenance",
				where, state);
	return 0;
}

static int tpd_parse_service(struct tpd_parse *ps, yajl_val o, size_t i,
			     struct tpd_service_cfg *svc)
{
	static const char *const keys[] = { "frontend", "backends", "affinity", "zone", NULL };
	char where[48];
	yajl_val bes;
	size_t j;
	int err;

	snprintf(where, sizeof(where), "services[%zu]", i);
	err = tpd_check_keys(ps, o, where, keys);
	err = err ?: tpd_get_str(ps, o, where, "frontend", svc->frontend,
				 sizeof(svc->frontend), true);
	err = err ?: tpd_get_u32(ps, o, where, "affinity", &svc->affinity, 0, 86400, false);
	err = err ?: tpd_get_u16(ps, o, where, "zone", &svc->zone, 0, 65535);
	if (err)
		return err;
	svc->backends = tpd_array(ps, o, "backends", sizeof(*svc->backends),
				  &svc->n_backends, &err);
	if (err)
		return err;
	if (svc->n_backends > TP_MAX_SVC_BACKENDS)
		return tpd_fail(ps, "%s: more than %d backends", where, TP_MAX_SVC_BACKENDS);
	bes = tpd_get(o, "backends");
	for (j = 0; j < svc->n_backends && !err; j++)
		err = tpd_parse_backend(ps, bes->u.array.values[j], where, j,
					&svc->backends[j]);
	return err;
}

static int tpd_parse_policy(struct tpd_parse *ps, yajl_val o, size_t i,
			    struct tpd_policy_cfg *p)
{
	static const char *const keys[] = { "from", "to", "proto", "port", "verdict",
					    "zone", NULL };
	char where[48];
	yajl_val port;
	int err;

	snprintf(where, sizeof(where), "policies[%zu]", i);
	strcpy(p->proto, "any");
	err = tpd_check_keys(ps, o, where, keys);
	err = err ?: tpd_get_str(ps, o, where, "from", p->from, sizeof(p->from), true);
	err = err ?: tpd_get_str(ps, o, where, "to", p->to, sizeof(p->to), true);
	err = err ?: tpd_get_str(ps, o, where, "proto", p->proto, sizeof(p->proto), false);
	err = err ?: tpd_get_str(ps, o, where, "verdict", p->verdict, sizeof(p->verdict), true);
	err = err ?: tpd_get_u16(ps, o, where, "zone", &p->zone, 0, 65535);
	if (err)
		return err;
	port = tpd_get(o, "port");
	if (port && YAJL_IS_INTEGER(port))
		snprintf(p->port, sizeof(p->port), "%lld", YAJL_GET_INTEGER(port));
	else if (port)
		err = tpd_get_str(ps, o, where, "port", p->port, sizeof(p->port), false);
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
		else if (YAJL_IS_STRING(v) && strlen(v->u.string) < sizeof(m->identity))
			strcpy(m->identity, v->u.string);
		else
			return tpd_fail(ps, "%s.%s: expected an identity name or number",
					where, m->key);
	}
	*n = o->u.object.len;
	return 0;
}

static int tpd_parse_conntrack(struct tpd_parse *ps, yajl_val o,
			       struct tpd_config *cfg)
{
	static const char *const keys[] = { "tcp_syn", "tcp_established", "tcp_fin",
					    "tcp_close", "udp", "icmp",
					    "gc_interval", NULL };
	int i, err;

	if (!o)
		return 0;
	err = tpd_check_keys(ps, o, "conntrack", keys);
	for (i = 0; i < 6 && !err; i++)
		err = tpd_get_u32(ps, o, "conntrack", keys[i], &cfg->ct_timeout[i],
				  1, 7 * 86400, false);
	return err ?: tpd_get_u32(ps, o, "conntrack", "gc_interval",
				  &cfg->gc_interval, 1, 3600, false);
}

static int tpd_parse_sections(struct tpd_parse *ps, yajl_val root,
			      struct tpd_config *cfg)
{
	static const char *const ts_keys[] = { "socket", "socket_uid", "tags", NULL };
	static const char *const wg_keys[] = { "socket_dir", "socket_uid", NULL };
	static const char *const m_keys[] = { "textfile", "interval", NULL };
	static const char *const ev_keys[] = { "rate", "burst", NULL };
	yajl_val v;
	int err = 0;

	if ((v = tpd_get(root, "tailscale"))) {
		err = tpd_check_keys(ps, v, "tailscale", ts_keys);
		err = err ?: tpd_get_str(ps, v, "tailscale", "socket", cfg->ts_socket,
					 sizeof(cfg->ts_socket), false);
		err = err ?: tpd_get_u32(ps, v, "tailscale", "socket_uid",
					 &cfg->ts_socket_uid, 0, 0xfffffffe, false);
		err = err ?: tpd_parse_map(ps, tpd_get(v, "tags"), "tailscale.tags",
					   &cfg->ts_tags, &cfg->n_ts_tags);
	}
	if (!err && (v = tpd_get(root, "wireguard"))) {
		err = tpd_check_keys(ps, v, "wireguard", wg_keys);
		err = err ?: tpd_get_str(ps, v, "wireguard", "socket_dir", cfg->wg_sockdir,
					 sizeof(cfg->wg_sockdir), false);
		err = err ?: tpd_get_u32(ps, v, "wireguard", "socket_uid",
					 &cfg->wg_socket_uid, 0, 0xfffffffe, false);
	}
	if (!err && (v = tpd_get(root, "metrics"))) {
		err = tpd_check_keys(ps, v, "metrics", m_keys);
		err = err ?: tpd_get_str(ps, v, "metrics", "textfile", cfg->metrics_path,
					 sizeof(cfg->metrics_path), false);
		err = err ?: tpd_get_u32(ps, v, "metrics", "interval",
					 &cfg->metrics_interval, 1, 3600, false);
	}
	if (!err && (v = tpd_get(root, "events"))) {
		err = tpd_check_keys(ps, v, "events", ev_keys);
		err = err ?: tpd_get_u32(ps, v, "events", "rate", &cfg->events_per_sec,
					 0, 10000000, false);
		err = err ?: tpd_get_u32(ps, v, "events", "burst", &cfg->events_burst,
					 1, 1000000, false);
	}
	return err ?: tpd_parse_conntrack(ps, tpd_get(root, "conntrack"), cfg);
}

static void tpd_config_defaults(struct tpd_config *cfg)
{
	static const __u32 timeouts[6] = {
		TP_CT_TIMEOUT_SYN, TP_CT_TIMEOUT_ESTABLISHED, TP_CT_TIMEOUT_FIN,
		TP_CT_TIMEOUT_CLOSE, TP_CT_TIMEOUT_UDP, TP_CT_TIMEOUT_ICMP,
	};

	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->pin_root, TP_PIN_ROOT_DEFAULT);
	strcpy(cfg->ts_socket, "/var/run/tailscale/tailscaled.sock");
	strcpy(cfg->wg_sockdir, "/var/run/wireguard");
	cfg->wg_socket_uid = (__u32)-1; /* root only */
	cfg->ts_socket_uid = (__u32)-1;
	memcpy(cfg->ct_timeout, timeouts, sizeof(timeouts));
	cfg->gc_interval = 30;
	cfg->maglev_size = TP_MAGLEV_SIZE;
	cfg->sync_interval = 5;
	cfg->events_per_sec = 1000;
	cfg->events_burst = 200;
	cfg->metrics_interval = 15;
}

#define TPD_ARRAY(ps, root, key, field, n, fn)                               \
	({                                                                     \
		int __err;                                                     \
		size_t __i;                                                    \
		yajl_val __a = tpd_get(root, key);                             \
		(field) = tpd_array(ps, root, key, sizeof(*(field)), &(n), &__err); \
		for (__i = 0; __i < (n) && !__err; __i++)                      \
			__err = fn(ps, __a->u.array.values[__i], __i, &(field)[__i]); \
		__err;                                                         \
	})

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
	static const char *const keys[] = {
		"pin_root", "default_policy", "interfaces", "identities", "services",
		"policies", "wireguard_peers", "wireguard", "tailscale", "conntrack",
		"metrics", "maglev_size", "sync_interval", "events", "kubernetes",
		NULL,
	};
	struct tpd_parse ps = { err, errlen };
	char yerr[256], dflt[8] = "";
	yajl_val root;
	int ret;

	tpd_config_defaults(cfg);
	root = yajl_tree_parse(text, yerr, sizeof(yerr));
	if (!root) {
		char *nl = strchr(yerr, '\n');

		if (nl)
			*nl = 0;
		return tpd_fail(&ps, "not valid JSON: %s", yerr);
	}
	ret = tpd_check_keys(&ps, root, "config", keys);
	ret = ret ?: tpd_get_str(&ps, root, "config", "pin_root", cfg->pin_root,
				 sizeof(cfg->pin_root), false);
	ret = ret ?: tpd_get_str(&ps, root, "config", "default_policy", dflt,
				 sizeof(dflt), false);
	ret = ret ?: tpd_get_u32(&ps, root, "config", "maglev_size", &cfg->maglev_size,
				 3, TP_MAGLEV_SIZE_MAX, false);
	ret = ret ?: tpd_get_u32(&ps, root, "config", "sync_interval",
				 &cfg->sync_interval, 1, 3600, false);
	if (!ret && dflt[0] && (tp_verdict_parse(dflt, &cfg->default_policy) ||
				cfg->default_policy == TP_VERDICT_AUDIT))
		ret = tpd_fail(&ps, "default_policy: '%s': expected allow or deny", dflt);
	ret = ret ?: TPD_ARRAY(&ps, root, "interfaces", cfg->ifaces, cfg->n_ifaces,
			       tpd_parse_iface);
	ret = ret ?: TPD_ARRAY(&ps, root, "identities", cfg->idents, cfg->n_idents,
			       tpd_parse_ident);
	ret = ret ?: TPD_ARRAY(&ps, root, "services", cfg->services, cfg->n_services,
			       tpd_parse_service);
	ret = ret ?: TPD_ARRAY(&ps, root, "policies", cfg->policies, cfg->n_policies,
			       tpd_parse_policy);
	ret = ret ?: tpd_parse_map(&ps, tpd_get(root, "wireguard_peers"),
				   "wireguard_peers", &cfg->wg_peers, &cfg->n_wg_peers);
	ret = ret ?: tpd_parse_sections(&ps, root, cfg);
	cfg->kubernetes = YAJL_IS_OBJECT(root) && tpd_get(root, "kubernetes");
	if (!ret && !cfg->n_ifaces)
		ret = tpd_fail(&ps, "interfaces: at least one interface is needed");
	yajl_tree_free(root);
	return ret;
}

/** tpd_config_load() - read and parse the file at @path. */
int tpd_config_load(const char *path, struct tpd_config *cfg, char *err,
		    size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	tpd_config_defaults(cfg);
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	ret = getdelim(&text, &len, '\0', f) < 0 ? -EIO : 0;
	fclose(f);
	if (ret) {
		snprintf(err, errlen, "%s: cannot read", path);
		free(text);
		return ret;
	}
	ret = tpd_config_parse(text, cfg, err, errlen);
	free(text);
	return ret;
}

void tpd_config_free(struct tpd_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_services; i++)
		free(cfg->services[i].backends);
	free(cfg->ifaces);
	free(cfg->idents);
	free(cfg->services);
	free(cfg->policies);
	free(cfg->wg_peers);
	free(cfg->ts_tags);
	memset(cfg, 0, sizeof(*cfg));
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
bool tpd_config_knobs_equal(const struct tpd_config *a,
			    const struct tpd_config *b)
{
	return !memcmp(a->ct_timeout, b->ct_timeout, sizeof(a->ct_timeout)) &&
	       a->maglev_size == b->maglev_size &&
	       a->events_per_sec == b->events_per_sec &&
	       a->events_burst == b->events_burst &&
	       !strcmp(a->pin_root, b->pin_root);
}
