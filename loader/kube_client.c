// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes API client (loader/kube.h): where the API server is, and
 * a thread that lists and watches the five kinds and hands their objects
 * to the sink.
 *
 * Connection: the config's server/token_file/ca_file; what they leave
 * empty comes from the kubeconfig's current context, then from the pod's
 * service account (https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT,
 * TPD_KUBE_SA_DIR/token and ca.crt).  TLS is always verified (peer and
 * host name); there is no knob to turn that off, and a kubeconfig's
 * insecure-skip-tls-verify is ignored.  The token file is stat()ed before
 * every request and re-read when its inode, size or mtime changed:
 * projected service-account tokens rotate (hourly) under a running pod.
 *
 * Per kind, one state machine:
 *
 *   LIST (pages of cfg->page_limit, "continue" tokens; sink->list_begin
 *   before the first, list_end(complete) after the last or on failure)
 *     -> WATCH from the list's resourceVersion, with bookmarks and
 *        timeoutSeconds; a watch that ends normally resumes from the
 *        last version seen (bookmarks included)
 *     -> 410 Gone (status, an ERROR event, or a continue token too old),
 *        any other ERROR event, a bad document: LIST again (the sink
 *        diffs the new list against what it had)
 *     -> connection errors, 429, 5xx, 401/403 (the token may rotate) and
 *        other statuses: exponential backoff with full jitter (250 ms
 *        doubling, capped at cfg->backoff_max), then the watch resumes
 *        from the last version (or lists again when there is none).
 *
 * All kinds run in one curl multi loop on one thread; every transfer has
 * its own connection (HTTP/2 multiplexing is switched off: a stalled
 * watch must not stall the others, and the API server's per-connection
 * stream limits never apply), connections are kept alive between the
 * requests of a kind, with TCP keepalive.  No transfer can hang: connect
 * timeout, low-speed limits on lists, and watches end by their
 * timeoutSeconds or, when the server or a middlebox forgets, by an idle
 * guard of timeoutSeconds + 30 s without a byte.
 *
 * Pods are watched cluster-wide, not with a spec.nodeName field selector:
 * a remote pod's IP and labels are its identity when traffic from it
 * reaches this node (and NetworkPolicy peers select remote pods), so
 * every node needs every pod.  The cost is bounded: the decoder keeps a
 * pod's IPs, labels, node name and named ports only (a few hundred bytes
 * a pod, against the tens of KiB of the full object), and a pod's churn
 * (status updates) costs this node one event each.  Clusters where that
 * is too much would need a per-node selector plus a cluster-wide list of
 * IPs only, which the API cannot give in one watch.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "curl_lazy.h"
#include "kube.h"
#include "log.h"

#define KC_BACKOFF_BASE_MS  250
#define KC_CONNECT_TIMEOUT  10 /* s */
#define KC_LIST_LOW_SPEED_S 30 /* a list page slower than 1 B/s this long */
#define KC_IDLE_GUARD_S	    30 /* past a watch's timeoutSeconds */
#define KC_TOKEN_MAX	    65536
#define KC_CA_MAX	    (1 << 20)
#define KC_KUBECONFIG_MAX   (4 << 20)
#define KC_ERRBODY_MAX	    512
#define KC_POLL_MS	    1000

/* ---- connection: kubeconfig --------------------------------------------- */

/*
 * The kubeconfig subset read here, as kubectl writes it (block style, one
 * "key: value" a line, values plain, "double" or 'single' quoted):
 *
 *   current-context: NAME
 *   clusters:
 *   - cluster:
 *       server: https://HOST:PORT
 *       certificate-authority: PATH          (relative to the file's dir)
 *       certificate-authority-data: BASE64
 *     name: NAME
 *   contexts:
 *   - context: {cluster: NAME, user: NAME}   (block style, as above)
 *     name: NAME
 *   users:
 *   - name: NAME
 *     user:
 *       token: TOKEN
 *       tokenFile: PATH                      (relative to the file's dir)
 *
 * Everything else is ignored: flow style ({...}, [...]) other than an
 * empty "{}", block scalars (| and >), anchors, several documents, and
 * client certificates, exec and auth-provider plugins (a user with
 * neither token nor tokenFile is an error when a token is needed).
 */
enum kc_section { KS_NONE, KS_CLUSTERS, KS_CONTEXTS, KS_USERS, KS_MAX };

/* An entry of clusters/contexts/users: its name and up to three fields. */
struct kc_entry {
	char *name;
	char *f[3];
};

static const char *const kc_fields[KS_MAX][3] = {
	[KS_CLUSTERS] = { "server", "certificate-authority",
			  "certificate-authority-data" },
	[KS_CONTEXTS] = { "cluster", "user", NULL },
	[KS_USERS] = { "token", "tokenFile", NULL },
};
static const char *const kc_nested[KS_MAX] = {
	[KS_CLUSTERS] = "cluster",
	[KS_CONTEXTS] = "context",
	[KS_USERS] = "user",
};

struct kc_config {
	char *current;
	struct kc_entry *v[KS_MAX];
	size_t n[KS_MAX];
};

static void kc_config_free(struct kc_config *k)
{
	size_t s, i, j;

	free(k->current);
	for (s = 0; s < KS_MAX; s++) {
		for (i = 0; i < k->n[s]; i++) {
			free(k->v[s][i].name);
			for (j = 0; j < 3; j++)
				free(k->v[s][i].f[j]);
		}
		free(k->v[s]);
	}
}

__attribute__((format(printf, 3, 4))) static int
kc_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A YAML scalar: quoted or plain (a " #" starts a comment); NULL if bad. */
static char *kc_scalar(const char *s)
{
	size_t len = strlen(s), i, o = 0;
	char *v = malloc(len + 1);

	if (!v)
		return NULL;
	if (s[0] == '"' || s[0] == '\'') {
		char q = s[0];

		for (i = 1; s[i]; i++) {
			if (q == '"' && s[i] == '\\' && s[i + 1]) {
				i++;
				v[o++] = s[i] == 'n'   ? '\n'
					 : s[i] == 't' ? '\t'
						       : s[i];
			} else if (q == '\'' && s[i] == '\'' &&
				   s[i + 1] == '\'') {
				v[o++] = s[i++];
			} else if (s[i] == q) {
				v[o] = '\0';
				return v;
			} else {
				v[o++] = s[i];
			}
		}
		free(v); /* unterminated */
		return NULL;
	}
	for (i = 0; s[i]; i++) {
		if (s[i] == '#' && i && (s[i - 1] == ' ' || s[i - 1] == '\t'))
			break;
		v[o++] = s[i];
	}
	while (o && (v[o - 1] == ' ' || v[o - 1] == '\t'))
		o--;
	v[o] = '\0';
	return v;
}

/* Split "key: value" (value may be empty); false when not such a line. */
static bool kc_key_value(char *line, char **key, char **value)
{
	char *colon = strstr(line, ": ");

	if (!colon) {
		size_t len = strlen(line);

		if (!len || line[len - 1] != ':')
			return false;
		line[len - 1] = '\0';
		*key = line;
		*value = line + len - 1;
		return true;
	}
	*colon = '\0';
	*key = line;
	*value = colon + 2;
	while (**value == ' ')
		(*value)++;
	return true;
}

static int kc_set(char **dst, const char *value)
{
	char *v = kc_scalar(value);

	if (!v)
		return -EINVAL;
	free(*dst);
	*dst = v;
	return 0;
}

/*
 * One parsed line at column @col: a top-level key, or a key of the current
 * entry (@item_col its column) or of its nested map.
 */
struct kc_parse {
	struct kc_config *k;
	enum kc_section sec;
	struct kc_entry *cur;
	int item_col;
	bool in_nested;
};

static int kc_line(struct kc_parse *p, int col, char *rest, bool item)
{
	char *key, *value;
	size_t i;

	if (!kc_key_value(rest, &key, &value))
		return 0; /* not ours ("- value", flow style...): ignored */
	if (col == 0 && !item) {
		p->sec = !strcmp(key, "clusters")   ? KS_CLUSTERS
			 : !strcmp(key, "contexts") ? KS_CONTEXTS
			 : !strcmp(key, "users")    ? KS_USERS
						    : KS_NONE;
		p->cur = NULL;
		if (!strcmp(key, "current-context"))
			return kc_set(&p->k->current, value);
		return 0;
	}
	if (!p->cur)
		return 0;
	if (col == p->item_col) {
		p->in_nested = !*value && !strcmp(key, kc_nested[p->sec]);
		if (!strcmp(key, "name"))
			return kc_set(&p->cur->name, value);
		return 0;
	}
	if (col < p->item_col || !p->in_nested)
		return 0;
	for (i = 0; i < 3; i++) {
		if (kc_fields[p->sec][i] && !strcmp(key, kc_fields[p->sec][i]))
			return kc_set(&p->cur->f[i], value);
	}
	return 0;
}

static int kc_new_entry(struct kc_parse *p)
{
	struct kc_config *k = p->k;
	struct kc_entry *nv;

	nv = realloc(k->v[p->sec], (k->n[p->sec] + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	k->v[p->sec] = nv;
	p->cur = &nv[k->n[p->sec]++];
	memset(p->cur, 0, sizeof(*p->cur));
	p->in_nested = false;
	return 0;
}

static int kc_parse_text(char *text, struct kc_config *k, char *err,
			 size_t errlen)
{
	struct kc_parse p = { .k = k };
	char *line, *save = NULL, *rest;
	unsigned int lineno = 0;
	int col, ret;

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);
		bool item = false;

		lineno++;
		if (len && line[len - 1] == '\r')
			line[--len] = '\0';
		for (col = 0; line[col] == ' '; col++)
			;
		rest = line + col;
		if (!*rest || *rest == '#' || !strcmp(rest, "---"))
			continue;
		if (*rest == '\t')
			return kc_err(err, errlen,
				      "line %u: a tab in the indentation",
				      lineno);
		if (rest[0] == '-' && (rest[1] == ' ' || !rest[1])) {
			if (p.sec == KS_NONE)
				continue;
			if ((ret = kc_new_entry(&p)))
				return kc_err(err, errlen, "out of memory"),
				       ret;
			for (rest++, col++; *rest == ' '; rest++, col++)
				;
			p.item_col = col;
			item = true;
			if (!*rest)
				continue;
		}
		if (kc_line(&p, col, rest, item))
			return kc_err(err, errlen,
				      "line %u: an unterminated quoted value",
				      lineno);
	}
	return 0;
}

static const struct kc_entry *kc_find(const struct kc_config *k,
				      enum kc_section s, const char *name)
{
	size_t i;

	for (i = 0; name && i < k->n[s]; i++) {
		if (k->v[s][i].name && !strcmp(k->v[s][i].name, name))
			return &k->v[s][i];
	}
	return NULL;
}

/* @path as is when absolute, else relative to @dir. */
static char *kc_path(const char *dir, const char *path)
{
	char *out;

	if (path[0] == '/' || !dir)
		return strdup(path);
	if (asprintf(&out, "%s/%s", dir, path) < 0)
		return NULL;
	return out;
}

/* Standard base64 (whitespace skipped); the decoded length, or -1. */
static long kc_base64(const char *in, char *out)
{
	unsigned int acc = 0, bits = 0;
	long n = 0;

	for (; *in && *in != '='; in++) {
		const char *tab =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *c;

		if (isspace((unsigned char)*in))
			continue;
		c = strchr(tab, *in);
		if (!c || !*in)
			return -1;
		acc = (acc << 6) | (unsigned int)(c - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	return n;
}

static char *kc_read_file(const char *path, size_t max, size_t *len, int *err)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		*err = -errno;
		return NULL;
	}
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		*err = -ENOMEM;
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		free(buf);
		*err = -EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Fill what @conn lacks from the cluster and user entries of the context. */
static int kc_fill(const struct kc_config *k, const char *dir,
		   struct tpd_kube_conn *conn, const char *path, char *err,
		   size_t errlen)
{
	const struct kc_entry *ctx, *cl, *user;

	if (!k->current || !*k->current)
		return kc_err(err, errlen, "kubeconfig %s: no current-context",
			      path);
	ctx = kc_find(k, KS_CONTEXTS, k->current);
	if (!ctx)
		return kc_err(err, errlen,
			      "kubeconfig %s: context \"%s\" not found", path,
			      k->current);
	cl = kc_find(k, KS_CLUSTERS, ctx->f[0]);
	if (!cl)
		return kc_err(
			err, errlen,
			"kubeconfig %s: cluster \"%s\" of context \"%s\" not found",
			path, ctx->f[0] ? ctx->f[0] : "", k->current);
	if (!conn->server) {
		if (!cl->f[0] || !*cl->f[0])
			return kc_err(
				err, errlen,
				"kubeconfig %s: cluster \"%s\" has no server",
				path, cl->name);
		conn->server = strdup(cl->f[0]);
		conn->origin = "kubeconfig";
	}
	if (!conn->ca_file && !conn->ca_data) {
		if (cl->f[2]) {
			long n;

			conn->ca_data = malloc(strlen(cl->f[2]) + 1);
			if (!conn->ca_data)
				return -ENOMEM;
			n = kc_base64(cl->f[2], conn->ca_data);
			if (n <= 0)
				return kc_err(
					err, errlen,
					"kubeconfig %s: cluster \"%s\": certificate-authority-data is not base64",
					path, cl->name);
			conn->ca_len = (size_t)n;
		} else if (cl->f[1]) {
			conn->ca_file = kc_path(dir, cl->f[1]);
		}
	}
	if (conn->token_file || conn->token)
		return 0;
	user = kc_find(k, KS_USERS, ctx->f[1]);
	if (!user)
		return kc_err(
			err, errlen,
			"kubeconfig %s: user \"%s\" of context \"%s\" not found",
			path, ctx->f[1] ? ctx->f[1] : "", k->current);
	if (user->f[0])
		conn->token = strdup(user->f[0]);
	else if (user->f[1])
		conn->token_file = kc_path(dir, user->f[1]);
	else
		return kc_err(
			err, errlen,
			"kubeconfig %s: user \"%s\" has neither token nor tokenFile (client certificates and exec plugins are not supported)",
			path, user->name);
	return 0;
}

/**
 * tpd_kube_kubeconfig_read() - fill what @conn lacks from a kubeconfig.
 * @path:   the kubeconfig (the subset above).
 * @conn:   its server, CA and token, set only where NULL.
 * @err:    the reason on error.
 * @errlen: its size.
 *
 * Return: 0, or a negative errno with @err set.
 */
int tpd_kube_kubeconfig_read(const char *path, struct tpd_kube_conn *conn,
			     char *err, size_t errlen)
{
	struct kc_config k = { 0 };
	char *text, *dir, *slash;
	size_t len;
	int ret = 0;

	text = kc_read_file(path, KC_KUBECONFIG_MAX, &len, &ret);
	if (!text)
		return kc_err(err, errlen, "kubeconfig %s: %s", path,
			      strerror(-ret)),
		       ret;
	dir = strdup(path);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash)
		*slash = '\0';
	ret = kc_parse_text(text, &k, err, errlen);
	if (ret) {
		char inner[256];

		snprintf(inner, sizeof(inner), "%s", err);
		kc_err(err, errlen, "kubeconfig %s: %s", path, inner);
	} else {
		ret = kc_fill(&k, slash ? dir : NULL, conn, path, err, errlen);
	}
	kc_config_free(&k);
	free(dir);
	free(text);
	return ret;
}

/* ---- connection: resolution ---------------------------------------------- */

/**
 * tpd_kube_conn_free() - free what @conn holds.
 * @conn: the connection (itself not freed).
 */
void tpd_kube_conn_free(struct tpd_kube_conn *conn)
{
	free(conn->server);
	free(conn->token_file);
	free(conn->token);
	free(conn->ca_file);
	free(conn->ca_data);
	memset(conn, 0, sizeof(*conn));
}

static char *kc_dup_set(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* The in-cluster server from the environment; 0 or -EINVAL. */
static int kc_in_cluster_server(struct tpd_kube_conn *conn, char *err,
				size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	bool v6;
	size_t i;

	if (!host || !*host)
		return kc_err(
			err, errlen,
			"no API server: set kubernetes.server or kubernetes.kubeconfig, or run in a pod (KUBERNETES_SERVICE_HOST is not set)");
	if (!port || !*port)
		port = "443";
	for (i = 0; port[i]; i++) {
		if (!isdigit((unsigned char)port[i]) || i > 4)
			return kc_err(
				err, errlen,
				"KUBERNETES_SERVICE_PORT \"%.16s\" is not a port",
				port);
	}
	for (i = 0; host[i]; i++) {
		if (!isalnum((unsigned char)host[i]) && !strchr(".-:", host[i]))
			return kc_err(
				err, errlen,
				"KUBERNETES_SERVICE_HOST \"%.64s\" is not a host",
				host);
	}
	v6 = strchr(host, ':');
	if (asprintf(&conn->server, "https://%s%s%s:%s", v6 ? "[" : "", host,
		     v6 ? "]" : "", port) < 0) {
		conn->server = NULL;
		return -ENOMEM;
	}
	conn->origin = "in-cluster";
	return 0;
}

/* The service account's @file in @sa_dir when needed: in cluster, or there. */
static char *kc_sa_file(const char *sa_dir, const char *file, bool in_cluster)
{
	char *path;

	if (asprintf(&path, "%s/%s", sa_dir, file) < 0)
		return NULL;
	if (in_cluster || !access(path, R_OK))
		return path;
	free(path);
	return NULL;
}

static int kc_check_file(const char *what, const char *path, char *err,
			 size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return kc_err(err, errlen, "%s %s: %s", what, path,
			      strerror(errno)),
		       -errno;
	close(fd);
	return 0;
}

/**
 * tpd_kube_conn_resolve() - where the API server is and how to talk to it.
 * @cfg:    the "kubernetes" section: server, token_file, ca_file first;
 *          its kubeconfig's current context for what they leave empty.
 * @sa_dir: the service account's directory (TPD_KUBE_SA_DIR; tests pass
 *          their own): its token and ca.crt when the server is the
 *          in-cluster one, or when the files are there.
 * @conn:   the result; tpd_kube_conn_free() it.
 * @err:    the reason on error.
 * @errlen: its size.
 *
 * Without a server from the config or the kubeconfig, the in-cluster one
 * (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT; an IPv6 host in
 * brackets).  Without a CA: the system's trust store (still verified).
 * Without a token: anonymous requests (logged).
 *
 * Return: 0, or a negative errno with @err set and @conn empty.
 */
int tpd_kube_conn_resolve(const struct tpd_kube_cfg *cfg, const char *sa_dir,
			  struct tpd_kube_conn *conn, char *err, size_t errlen)
{
	bool in_cluster = false;
	size_t len;
	int ret = 0;

	memset(conn, 0, sizeof(*conn));
	conn->server = kc_dup_set(cfg->server);
	conn->origin = "config";
	conn->token_file = kc_dup_set(cfg->token_file);
	conn->ca_file = kc_dup_set(cfg->ca_file);
	if (cfg->kubeconfig && *cfg->kubeconfig &&
	    (!conn->server || !conn->token_file || !conn->ca_file))
		ret = tpd_kube_kubeconfig_read(cfg->kubeconfig, conn, err,
					       errlen);
	if (!ret && !conn->server) {
		ret = kc_in_cluster_server(conn, err, errlen);
		in_cluster = true;
	}
	if (!ret && !conn->token_file && !conn->token)
		conn->token_file = kc_sa_file(sa_dir, "token", in_cluster);
	if (!ret && !conn->ca_file && !conn->ca_data)
		conn->ca_file = kc_sa_file(sa_dir, "ca.crt", in_cluster);
	if (!ret && strncasecmp(conn->server, "https://", 8))
		ret = kc_err(err, errlen,
			     "API server %s: not https:// (TLS is required)",
			     conn->server);
	if (!ret && conn->token_file)
		ret = kc_check_file("token file", conn->token_file, err,
				    errlen);
	if (!ret && conn->ca_file)
		ret = kc_check_file("CA file", conn->ca_file, err, errlen);
	if (ret) {
		tpd_kube_conn_free(conn);
		return ret;
	}
	len = strlen(conn->server);
	while (len > 8 && conn->server[len - 1] == '/')
		conn->server[--len] = '\0';
	return 0;
}

/* ---- URLs and backoff ---------------------------------------------------------- */

/* Percent-encode @s (RFC 3986 unreserved characters kept) onto @f. */
static void kc_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

/**
 * tpd_kube_url() - the URL of a list page or a watch of @kind.
 * @server:  https://HOST:PORT.
 * @kind:    the kind.
 * @watch:   a watch (else a list page).
 * @rv:      (watch) the version to watch from.
 * @cont:    (list) the continue token of the next page, NULL or "" for
 *           the first.
 * @limit:   (list) items a page.
 * @timeout: (watch) timeoutSeconds.
 *
 * Tokens and versions are percent-encoded (continue tokens are base64,
 * with '=', '+' and '/').
 *
 * Return: the URL (free() it), or NULL when out of memory.
 */
char *tpd_kube_url(const char *server, enum tpd_kube_kind kind, bool watch,
		   const char *rv, const char *cont, __u32 limit, __u32 timeout)
{
	char *url = NULL;
	size_t len = 0;
	FILE *f;

	if ((unsigned int)kind >= TPD_KUBE_KIND_MAX)
		return NULL;
	f = open_memstream(&url, &len);
	if (!f)
		return NULL;
	fprintf(f, "%s%s?", server, tpd_kube_kind_path(kind));
	if (watch) {
		fputs("watch=1&allowWatchBookmarks=true&resourceVersion=", f);
		kc_escape(f, rv ? rv : "");
		fprintf(f, "&timeoutSeconds=%u", timeout);
	} else {
		fprintf(f, "limit=%u", limit);
		if (cont && *cont) {
			fputs("&continue=", f);
			kc_escape(f, cont);
		}
	}
	if (fclose(f)) {
		free(url);
		return NULL;
	}
	return url;
}

/**
 * tpd_kube_backoff_ms() - the wait before retry @attempt, full jitter.
 * @attempt: 0 for the first retry.
 * @cap_s:   the cap (backoff_max), seconds.
 * @rnd:     a random number.
 *
 * Return: a uniform pick in [0, min(cap, 250 ms * 2^attempt)].
 */
unsigned long tpd_kube_backoff_ms(unsigned int attempt, __u32 cap_s,
				  unsigned long rnd)
{
	unsigned long cap = (unsigned long)(cap_s ? cap_s : 1) * 1000, ceil;

	ceil = attempt >= 20 ? cap
			     : (unsigned long)KC_BACKOFF_BASE_MS << attempt;
	if (ceil > cap)
		ceil = cap;
	return rnd % (ceil + 1);
}

/* ---- the client --------------------------------------------------------------- */

enum kc_phase { KP_LIST, KP_WATCH };

struct tpd_kube_client;

/**
 * struct kc_watch - one kind's state machine.
 * @kind:      the kind.
 * @c:         the client.
 * @easy:      its transfer handle (kept: its connection stays alive).
 * @active:    a transfer is running.
 * @phase:     listing or watching.
 * @dec:       the running transfer's decoder.
 * @sink:      the decoder's sink: counts, then passes to the client's.
 * @hdrs:      the running transfer's headers (the token's with it).
 * @url:       its URL.
 * @rv:        the last version seen ("" none).
 * @cont:      the next list page's continue token.
 * @listing:   list_begin was called, list_end not yet.
 * @listed:    the first full list is done.
 * @failures:  consecutive failures, for the backoff.
 * @retry_at:  when the next request may start (ms, CLOCK_MONOTONIC).
 * @status:    the running transfer's HTTP status (0 until known).
 * @streaming: a watch's first bytes came (stats: connected).
 * @errbody:   the start of an answer that is not a 200, for the log.
 * @errlen:    its length.
 * @events:    objects of the running transfer.
 * @pages:     pages of the running list.
 * @list_objs: objects of the running list.
 */
struct kc_watch {
	enum tpd_kube_kind kind;
	struct tpd_kube_client *c;
	CURL *easy;
	bool active;
	enum kc_phase phase;
	struct tpd_kube_decoder *dec;
	struct tpd_kube_sink sink;
	struct curl_slist *hdrs;
	char *url;
	char rv[128];
	char cont[1024];
	bool listing, listed;
	unsigned int failures;
	unsigned long long retry_at;
	long status;
	bool streaming;
	char errbody[KC_ERRBODY_MAX + 1];
	size_t errlen;
	unsigned long events, pages, list_objs;
};

/**
 * struct tpd_kube_client - the client and its thread.
 * @cfg:       copies of the knobs it uses.
 * @conn:      the resolved connection.
 * @sink:      the caller's sink.
 * @multi:     the curl multi handle of all transfers.
 * @w:         one state machine per kind.
 * @thread:    the thread.
 * @stop:      set by tpd_kube_client_stop().
 * @synced:    sink->synced was called.
 * @token:     the token, NUL-terminated ("" none).
 * @token_st:  the token file's identity when read.
 * @lock:      guards @stats.
 * @stats:     the counters.
 */
struct tpd_kube_client {
	__u32 watch_timeout, page_limit, backoff_max;
	struct tpd_kube_conn conn;
	struct tpd_kube_sink sink;
	CURLM *multi;
	struct kc_watch w[TPD_KUBE_KIND_MAX];
	pthread_t thread;
	atomic_bool stop;
	bool synced;
	char *token;
	struct stat token_st;
	pthread_mutex_t lock;
	struct tpd_kube_stats stats;
};

static unsigned long long kc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 +
	       (unsigned long long)ts.tv_nsec / 1000000;
}

static const char *kc_kind(const struct kc_watch *w)
{
	return tpd_kube_kind_name(w->kind);
}

#define KC_STAT(c, expr)                          \
	do {                                      \
		pthread_mutex_lock(&(c)->lock);   \
		expr;                             \
		pthread_mutex_unlock(&(c)->lock); \
	} while (0)

/*
 * The token, re-read when its file changed (projected tokens rotate);
 * the old one is kept when the new one cannot be read.
 */
static void kc_token_refresh(struct tpd_kube_client *c)
{
	struct stat st;
	size_t len;
	char *tok;
	int err = 0;

	if (!c->conn.token_file)
		return;
	if (stat(c->conn.token_file, &st)) {
		log_warn(
			"kubernetes: token file unreadable, keeping the last token",
			"source", "kubernetes", "file", c->conn.token_file,
			"error", strerror(errno));
		return;
	}
	if (c->token && st.st_ino == c->token_st.st_ino &&
	    st.st_size == c->token_st.st_size &&
	    st.st_mtim.tv_sec == c->token_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == c->token_st.st_mtim.tv_nsec)
		return;
	tok = kc_read_file(c->conn.token_file, KC_TOKEN_MAX, &len, &err);
	if (!tok) {
		log_warn(
			"kubernetes: token file unreadable, keeping the last token",
			"source", "kubernetes", "file", c->conn.token_file,
			"error", strerror(-err));
		return;
	}
	while (len && isspace((unsigned char)tok[len - 1]))
		tok[--len] = '\0';
	if (c->token)
		log_info("kubernetes: token re-read", "source", "kubernetes",
			 "file", c->conn.token_file);
	free(c->token);
	c->token = tok;
	c->token_st = st;
}

static void kc_object(void *ctx, enum tpd_kube_event ev,
		      struct tpd_kube_object *o)
{
	struct kc_watch *w = ctx;

	w->events++;
	w->c->sink.object(w->c->sink.ctx, ev, o);
}

static size_t kc_write(char *data, size_t size, size_t n, void *ctx)
{
	struct kc_watch *w = ctx;
	size_t len = size * n, keep;

	if (!w->status)
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->status);
	if (w->status != 200) {
		keep = KC_ERRBODY_MAX - w->errlen;
		keep = keep < len ? keep : len;
		memcpy(w->errbody + w->errlen, data, keep);
		w->errlen += keep;
		w->errbody[w->errlen] = '\0';
		return len;
	}
	if (w->phase == KP_WATCH && !w->streaming) {
		w->streaming = true;
		KC_STAT(w->c, w->c->stats.connected[w->kind] = true);
	}
	if (tpd_kube_decoder_feed(w->dec, data, len))
		return 0; /* a bad document: abort, the caller re-lists */
	/* an ERROR event ends the watch now, without waiting for the server */
	if (tpd_kube_decoder_state(w->dec)->error_code)
		return 0;
	return len;
}

/* Start the next request of @w: a list page or a watch. */
static int kc_start(struct kc_watch *w)
{
	struct tpd_kube_client *c = w->c;
	enum tpd_kube_doc doc =
		w->phase == KP_WATCH ? TPD_KUBE_DOC_WATCH : TPD_KUBE_DOC_LIST;
	char *auth = NULL;

	if (w->phase == KP_LIST && !w->listing) {
		w->listing = true;
		w->cont[0] = '\0';
		w->pages = w->list_objs = 0;
		c->sink.list_begin(c->sink.ctx, w->kind);
		KC_STAT(c, c->stats.lists[w->kind]++);
	}
	free(w->url);
	w->url = tpd_kube_url(c->conn.server, w->kind, w->phase == KP_WATCH,
			      w->rv, w->cont, c->page_limit, c->watch_timeout);
	tpd_kube_decoder_free(w->dec);
	w->dec = tpd_kube_decoder_new(w->kind, doc, &w->sink);
	curl_slist_free_all(w->hdrs);
	w->hdrs = curl_slist_append(NULL, "Accept: application/json");
	kc_token_refresh(c);
	if (c->token && *c->token &&
	    asprintf(&auth, "Authorization: Bearer %s", c->token) > 0) {
		struct curl_slist *h = curl_slist_append(w->hdrs, auth);

		explicit_bzero(auth, strlen(auth));
		free(auth);
		w->hdrs = h ? h : w->hdrs;
	}
	if (!w->url || !w->dec || !w->hdrs)
		return -ENOMEM;

	curl_easy_setopt(w->easy, CURLOPT_URL, w->url);
	curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, w->hdrs);
	if (w->phase == KP_WATCH) {
		/* the idle guard: no byte for timeoutSeconds + 30 s ends it */
		curl_easy_setopt(w->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(w->easy, CURLOPT_LOW_SPEED_TIME,
				 (long)(c->watch_timeout + KC_IDLE_GUARD_S));
		curl_easy_setopt(w->easy, CURLOPT_TIMEOUT, 0L);
	} else {
		curl_easy_setopt(w->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(w->easy, CURLOPT_LOW_SPEED_TIME,
				 (long)KC_LIST_LOW_SPEED_S);
		curl_easy_setopt(w->easy, CURLOPT_TIMEOUT, 0L);
	}
	w->status = 0;
	w->errlen = 0;
	w->errbody[0] = '\0';
	w->events = 0;
	w->streaming = false;
	if (curl_multi_add_handle(c->multi, w->easy) != CURLM_OK)
		return -EIO;
	w->active = true;
	if (w->phase == KP_WATCH)
		KC_STAT(c, c->stats.watches[w->kind]++);
	return 0;
}

/* Every kind's first list is done: tell the sink, once. */
static void kc_check_synced(struct tpd_kube_client *c)
{
	size_t i;

	if (c->synced)
		return;
	for (i = 0; i < TPD_KUBE_KIND_MAX; i++) {
		if (!c->w[i].listed)
			return;
	}
	c->synced = true;
	log_info("kubernetes: synced", "source", "kubernetes");
	if (c->sink.synced)
		c->sink.synced(c->sink.ctx);
}

/* A list cut short: the sink keeps what it had. */
static void kc_list_abort(struct kc_watch *w)
{
	if (!w->listing)
		return;
	w->listing = false;
	w->c->sink.list_end(w->c->sink.ctx, w->kind, false);
}

/* The wait before the next retry; counts the failure. */
static unsigned long kc_next_delay(struct kc_watch *w)
{
	unsigned long rnd = 0, ms;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (unsigned long)kc_now_ms() * 2654435761UL;
	ms = tpd_kube_backoff_ms(w->failures, w->c->backoff_max, rnd);
	if (w->failures < 64)
		w->failures++;
	return ms;
}

/*
 * Retry after a backoff: the watch resumes from the last version, unless
 * @relist, or there is none, or a list was running (its pages are of a
 * list that must start over).
 */
static void kc_backoff(struct kc_watch *w, bool relist)
{
	unsigned long ms = kc_next_delay(w);

	kc_list_abort(w);
	if (relist || !w->rv[0] || w->phase == KP_LIST) {
		w->phase = KP_LIST;
		w->rv[0] = '\0';
	}
	w->retry_at = kc_now_ms() + ms;
	KC_STAT(w->c, w->c->stats.errors++);
	log_info("kubernetes: retrying", "source", "kubernetes", "kind",
		 kc_kind(w), "after_ms", log_fmt("%lu", ms), "then",
		 w->phase == KP_WATCH ? "watch" : "list");
}

/*
 * List again (410, an ERROR event): the sink diffs.  At once the first
 * time, as client-go does; after a backoff when the last watch brought
 * nothing since (a server that answers every watch with an error must
 * not get a list a millisecond).
 */
static void kc_relist(struct kc_watch *w, bool gone)
{
	unsigned long ms = w->failures ? kc_next_delay(w) : 0;

	if (!ms && w->failures < 64)
		w->failures++;
	kc_list_abort(w);
	w->phase = KP_LIST;
	w->rv[0] = '\0';
	w->retry_at = kc_now_ms() + ms;
	if (gone)
		KC_STAT(w->c, w->c->stats.relists_410++);
}

/* A list page ended well: the next page, or the list is complete. */
static void kc_list_page_done(struct kc_watch *w,
			      const struct tpd_kube_decoded *st)
{
	w->pages++;
	w->list_objs += w->events;
	snprintf(w->cont, sizeof(w->cont), "%s", st->continue_token);
	w->retry_at = 0;
	if (w->cont[0])
		return;
	/* the version to watch from: the list's, once it is complete */
	snprintf(w->rv, sizeof(w->rv), "%s", st->resource_version);
	w->listing = false;
	w->c->sink.list_end(w->c->sink.ctx, w->kind, true);
	log_info("kubernetes: listed", "source", "kubernetes", "kind",
		 kc_kind(w), "objects", log_fmt("%lu", w->list_objs), "pages",
		 log_fmt("%lu", w->pages), "resource_version", w->rv);
	w->listed = true;
	w->phase = KP_WATCH;
	kc_check_synced(w->c);
}

static void kc_log_http(struct kc_watch *w, const char *msg)
{
	char body[KC_ERRBODY_MAX + 1];

	tpd_one_line(body, sizeof(body), w->errbody);
	log_warn(msg, "source", "kubernetes", "kind", kc_kind(w), "status",
		 log_fmt("%ld", w->status), "body", body);
}

/* A transfer of @w ended with @res. */
static void kc_done(struct kc_watch *w, CURLcode res)
{
	struct tpd_kube_client *c = w->c;
	const struct tpd_kube_decoded *st = tpd_kube_decoder_state(w->dec);
	bool watch = w->phase == KP_WATCH;
	int ret = 0;

	curl_multi_remove_handle(c->multi, w->easy);
	w->active = false;
	if (w->streaming)
		KC_STAT(c, c->stats.connected[w->kind] = false);
	if (watch)
		KC_STAT(c, c->stats.events[w->kind] += w->events);
	if (watch && w->events)
		w->failures = 0; /* the watch worked, whatever ends it */
	if (!w->status)
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->status);

	if (w->status == 200 && st->error_code) {
		/* an ERROR event (watch) or a Status in a 200 list */
		log_info("kubernetes: error event, listing again", "source",
			 "kubernetes", "kind", kc_kind(w), "code",
			 log_fmt("%d", st->error_code), "message",
			 st->error_msg);
		kc_relist(w, st->error_code == 410);
		return;
	}
	if (w->status == 200 && res == CURLE_OK)
		ret = tpd_kube_decoder_finish(w->dec);
	if (w->status == 200 && (res == CURLE_WRITE_ERROR || ret)) {
		log_warn("kubernetes: bad document, listing again", "source",
			 "kubernetes", "kind", kc_kind(w), "error",
			 tpd_kube_decoder_error(w->dec));
		kc_backoff(w, true);
		return;
	}
	if (w->status == 410) {
		log_info("kubernetes: 410 Gone, listing again", "source",
			 "kubernetes", "kind", kc_kind(w), "phase",
			 watch ? "watch" : "list");
		kc_relist(w, true);
		return;
	}
	if (res != CURLE_OK) {
		if (watch && w->streaming && st->resource_version[0])
			snprintf(w->rv, sizeof(w->rv), "%s",
				 st->resource_version);
		log_warn("kubernetes: transfer failed", "source", "kubernetes",
			 "kind", kc_kind(w), "error", curl_easy_strerror(res));
		kc_backoff(w, false);
		return;
	}
	if (w->status != 200) {
		kc_log_http(
			w,
			w->status == 401 || w->status == 403
				? "kubernetes: not authorized (the token may rotate)"
				: "kubernetes: request failed");
		kc_backoff(w, false);
		return;
	}
	if (!watch) {
		kc_list_page_done(w, st);
		return;
	}
	/* a watch that ended by its timeoutSeconds: resume where it was */
	if (st->resource_version[0])
		snprintf(w->rv, sizeof(w->rv), "%s", st->resource_version);
	w->failures = 0;
	w->retry_at = 0;
}

static int kc_easy_init(struct kc_watch *w)
{
	struct tpd_kube_client *c = w->c;
	CURL *e = curl_easy_init();

	if (!e)
		return -ENOMEM;
	w->easy = e;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kc_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(e, CURLOPT_PRIVATE, w);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "tailplaned");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)KC_CONNECT_TIMEOUT);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING,
			 ""); /* gzip when the server offers */
	if (c->conn.ca_data) {
		struct curl_blob blob = { .data = c->conn.ca_data,
					  .len = c->conn.ca_len,
					  .flags = CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	} else if (c->conn.ca_file) {
		curl_easy_setopt(e, CURLOPT_CAINFO, c->conn.ca_file);
	}
	w->sink = (struct tpd_kube_sink){ .object = kc_object, .ctx = w };
	return 0;
}

/* Start what is due; the ms until the next start is due (capped). */
static long kc_start_due(struct tpd_kube_client *c)
{
	unsigned long long now = kc_now_ms();
	long wait = KC_POLL_MS;
	size_t i;

	for (i = 0; i < TPD_KUBE_KIND_MAX; i++) {
		struct kc_watch *w = &c->w[i];

		if (w->active)
			continue;
		if (w->retry_at > now) {
			if ((long long)(w->retry_at - now) < wait)
				wait = (long)(w->retry_at - now);
			continue;
		}
		if (kc_start(w)) {
			log_warn("kubernetes: cannot start a request", "source",
				 "kubernetes", "kind", kc_kind(w), "error",
				 "out of memory");
			kc_backoff(w, false);
		}
	}
	return wait;
}

/* The ms to wait for: at most @wait, less when a request is due sooner. */
static long kc_next_wait(struct tpd_kube_client *c, long wait)
{
	unsigned long long now = kc_now_ms();
	size_t i;

	for (i = 0; i < TPD_KUBE_KIND_MAX; i++) {
		const struct kc_watch *w = &c->w[i];

		if (w->active)
			continue;
		if (w->retry_at <= now)
			return 0;
		if ((long long)(w->retry_at - now) < wait)
			wait = (long)(w->retry_at - now);
	}
	return wait;
}

static void *kc_thread(void *arg)
{
	struct tpd_kube_client *c = arg;
	struct CURLMsg *msg;
	int running, left;
	size_t i;

	while (!atomic_load(&c->stop)) {
		long wait = kc_start_due(c);

		curl_multi_perform(c->multi, &running);
		while ((msg = curl_multi_info_read(c->multi, &left))) {
			struct kc_watch *w = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&w);
			kc_done(w, msg->data.result);
		}
		wait = kc_next_wait(c, wait);
		if (wait)
			curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL);
	}
	for (i = 0; i < TPD_KUBE_KIND_MAX; i++) {
		if (c->w[i].active) {
			curl_multi_remove_handle(c->multi, c->w[i].easy);
			c->w[i].active = false;
		}
		kc_list_abort(&c->w[i]);
	}
	return NULL;
}

static void kc_free(struct tpd_kube_client *c)
{
	size_t i;

	for (i = 0; i < TPD_KUBE_KIND_MAX; i++) {
		struct kc_watch *w = &c->w[i];

		if (w->easy)
			curl_easy_cleanup(w->easy);
		tpd_kube_decoder_free(w->dec);
		curl_slist_free_all(w->hdrs);
		free(w->url);
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	if (c->conn.token) {
		explicit_bzero(c->conn.token, strlen(c->conn.token));
	}
	tpd_kube_conn_free(&c->conn);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/**
 * tpd_kube_client_start() - resolve the connection and start the thread.
 * @cfg:    the "kubernetes" section (copied; may go after the call).
 * @sink:   where objects go (list_begin, object, list_end required;
 *          synced optional); must outlive the client.
 * @out:    the client.
 * @err:    the reason on error.
 * @errlen: its size.
 *
 * Return: 0, or a negative errno with @err set (bad connection settings:
 * no server, not https, unreadable token or CA, a bad kubeconfig).
 */
int tpd_kube_client_start(const struct tpd_kube_cfg *cfg,
			  const struct tpd_kube_sink *sink,
			  struct tpd_kube_client **out, char *err,
			  size_t errlen)
{
	struct tpd_kube_client *c;
	size_t i;
	int ret;

	*out = NULL;
	if (!sink || !sink->list_begin || !sink->object || !sink->list_end)
		return kc_err(err, errlen,
			      "kubernetes: a sink without its callbacks");
	if (tpd_curl_load(err, errlen))
		return -EIO;
	c = calloc(1, sizeof(*c));
	if (!c)
		return kc_err(err, errlen, "out of memory"), -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->sink = *sink;
	c->watch_timeout = cfg->watch_timeout ? cfg->watch_timeout : 300;
	c->page_limit = cfg->page_limit ? cfg->page_limit : 500;
	c->backoff_max = cfg->backoff_max ? cfg->backoff_max : 30;
	ret = tpd_kube_conn_resolve(cfg, TPD_KUBE_SA_DIR, &c->conn, err,
				    errlen);
	if (ret)
		goto fail;
	c->token = c->conn.token ? strdup(c->conn.token) : NULL;
	kc_token_refresh(c);
	if (!c->token)
		log_warn("kubernetes: no token, requests are anonymous",
			 "source", "kubernetes");
	c->multi = curl_multi_init();
	ret = -ENOMEM;
	if (!c->multi)
		goto fail_mem;
	/* one connection per transfer: no HTTP/2 multiplexing of the watches */
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING,
			  (long)CURLPIPE_NOTHING);
	for (i = 0; i < TPD_KUBE_KIND_MAX; i++) {
		c->w[i].kind = (enum tpd_kube_kind)i;
		c->w[i].c = c;
		c->w[i].phase = KP_LIST;
		if (kc_easy_init(&c->w[i]))
			goto fail_mem;
	}
	log_info("kubernetes: connecting", "source", "kubernetes", "server",
		 c->conn.server, "from", c->conn.origin, "ca",
		 c->conn.ca_data   ? "inline"
		 : c->conn.ca_file ? c->conn.ca_file
				   : "system",
		 "token",
		 c->conn.token_file ? c->conn.token_file
		 : c->conn.token    ? "inline"
				    : "none");
	ret = -pthread_create(&c->thread, NULL, kc_thread, c);
	if (ret) {
		kc_err(err, errlen, "kubernetes: thread: %s", strerror(-ret));
		goto fail;
	}
	*out = c;
	return 0;
fail_mem:
	kc_err(err, errlen, "out of memory");
fail:
	kc_free(c);
	return ret;
}

/**
 * tpd_kube_client_stats() - a copy of the counters.
 * @c:  the client.
 * @st: the copy.
 */
void tpd_kube_client_stats(struct tpd_kube_client *c, struct tpd_kube_stats *st)
{
	KC_STAT(c, *st = c->stats);
}

/**
 * tpd_kube_client_stop() - stop the thread (a running list ends with
 * list_end(false)) and free the client.
 * @c: the client, or NULL.
 */
void tpd_kube_client_stop(struct tpd_kube_client *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, true);
	curl_multi_wakeup(c->multi);
	pthread_join(c->thread, NULL);
	kc_free(c);
}
