/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Kubernetes source: the objects it reads, decoded to what the maps
 * need and nothing more, and the three parts that pass them along.
 *
 *   API server --HTTP/JSON--> client (kube_client.c: list, watch,
 *   decoder, backoff; its own thread) --struct tpd_kube_sink--> store
 *   (kube_store.c: the objects by kind and namespace/name, what changed)
 *   --> translation (kube_sync.c: services, backends, identities, rules,
 *   static NAT with owner TP_OWNER_KUBERNETES; kube_policy.c compiles
 *   NetworkPolicy) on the loader's main thread, which owns the maps.
 *
 * An object is decoded once from the stream into one of the structs
 * below; fields the loader does not use are skipped by the parser and
 * never stored.  Every string is NUL-terminated and heap-allocated (the
 * decoder pools those objects share: tpd_kube_str_intern()); every array
 * is (pointer, count).  tpd_kube_object_free() frees one object.
 */
#ifndef TAILPLANED_KUBE_H
#define TAILPLANED_KUBE_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/types.h>

#include <tailplane/abi.h>

/* ---- configuration ("kubernetes" section of tailplaned.json) -------------- */

enum tpd_kube_expose {
	TPD_KUBE_EXPOSE_ALL, /* "expose": "all" (default) */
	TPD_KUBE_EXPOSE_ANNOTATED, /* "expose": "annotated": tailplane.io/expose "true" */
};

/**
 * struct tpd_kube_cfg - the "kubernetes" section.
 * @enabled:        "enabled": true.
 * @server:         "server": https://HOST:PORT; "" in cluster
 *                  (KUBERNETES_SERVICE_HOST/PORT).
 * @token_file:     "token_file"; "" in cluster (the service account's).
 * @ca_file:        "ca_file"; "" in cluster (the service account's).
 * @kubeconfig:     "kubeconfig": server, token file and CA of its current
 *                  context fill what the three above leave empty.
 * @node_name:      "node_name", else $NODE_NAME, else the host name.
 * @expose:         which Services the tailnet sees.
 * @expose_lb_ips:  "expose_loadbalancer_ips": LoadBalancer ingress IPs too.
 * @zone:           "zone": the tailnet zone the services are exposed to,
 *                  0 (the default) for every zone.
 * @tcp_grace:      "tcp_grace_seconds": TCP flows of a backend that went
 *                  are purged after this (UDP at once); default 30.
 * @watch_timeout:  "watch_timeout_seconds": timeoutSeconds of a watch,
 *                  default 300 (then it is resumed from the last version).
 * @page_limit:     "list_limit": items per list page, default 500.
 * @backoff_max:    "backoff_max_seconds": cap of the reconnect backoff,
 *                  default 30.
 * @max_frontends:  "max_frontends_per_service": frontends (ports x VIPs)
 *                  one Service may make, default 64 (0 is the default
 *                  too); a Service over it gets none (kube_sync.c).
 */
struct tpd_kube_cfg {
	bool enabled;
	char *server;
	char *token_file;
	char *ca_file;
	char *kubeconfig;
	char *node_name;
	enum tpd_kube_expose expose;
	bool expose_lb_ips;
	__u16 zone;
	__u32 tcp_grace;
	__u32 watch_timeout;
	__u32 page_limit;
	__u32 backoff_max;
	__u32 max_frontends;
};

/*
 * A Service makes a frontend, with a Maglev table of its own, per port
 * and address (ClusterIPs, LoadBalancer ingress IPs): one object may list
 * some 40,000 ports, enough to fill tp_services for every other tenant.
 * Real Services have a few ports on one or two addresses (dual stack, an
 * ingress IP); 64 leaves room for the odd one with a port range spelled
 * out, and an operator who needs more raises it.
 */
#define TPD_KUBE_MAX_FRONTENDS_DEFAULT 64
#define TPD_KUBE_MAX_FRONTENDS_LIMIT   16384

/* In-cluster defaults (overridable for tests through the fields above). */
#define TPD_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* ---- objects ----------------------------------------------------------------- */

enum tpd_kube_kind {
	TPD_KUBE_SERVICE,
	TPD_KUBE_ENDPOINTSLICE,
	TPD_KUBE_POD,
	TPD_KUBE_NAMESPACE,
	TPD_KUBE_NETPOL,
	TPD_KUBE_KIND_MAX,
};

/* Annotations the loader reads (every other annotation is skipped). */
#define TPD_KUBE_ANN_EXPOSE	  "tailplane.io/expose"
#define TPD_KUBE_ANN_TAILNET_ADDR "tailplane.io/tailnet-address"
/* The EndpointSlice label naming its Service. */
#define TPD_KUBE_LABEL_SERVICE_NAME "kubernetes.io/service-name"

struct tpd_kube_label {
	char *key;
	char *value;
};

/**
 * struct tpd_kube_meta - metadata every object has.
 * @ns:       namespace; "" for cluster-scoped objects (Namespace).
 * @name:     name.
 * @uid:      metadata.uid.
 * @resource_version: metadata.resourceVersion.
 * @labels:   metadata.labels, sorted by key (the decoder sorts).
 * @n_labels: their number.
 * @ann_expose:       value of TPD_KUBE_ANN_EXPOSE, NULL when absent.
 * @ann_tailnet_addr: value of TPD_KUBE_ANN_TAILNET_ADDR, NULL when absent.
 * @deleting: metadata.deletionTimestamp is set.
 */
struct tpd_kube_meta {
	char *ns;
	char *name;
	char *uid;
	char *resource_version;
	struct tpd_kube_label *labels;
	size_t n_labels;
	char *ann_expose;
	char *ann_tailnet_addr;
	bool deleting;
};

enum tpd_kube_svc_type {
	TPD_KUBE_SVC_CLUSTERIP,
	TPD_KUBE_SVC_NODEPORT,
	TPD_KUBE_SVC_LOADBALANCER,
	TPD_KUBE_SVC_EXTERNALNAME,
};

/**
 * struct tpd_kube_svc_port - one of spec.ports[].
 * @name:        "" when unnamed (a single-port service).
 * @proto:       IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP (the sync skips SCTP).
 * @port:        the service port, host order.
 * @target_port: targetPort when numeric (host order), else 0.
 * @target_name: targetPort when a name, else NULL.
 * @node_port:   nodePort, 0 when none.
 */
struct tpd_kube_svc_port {
	char *name;
	__u8 proto;
	__u16 port;
	__u16 target_port;
	char *target_name;
	__u16 node_port;
};

/**
 * struct tpd_kube_service - a Service.
 * @type:             spec.type.
 * @headless:         spec.clusterIP is "None".
 * @cluster_ips:      spec.clusterIPs (else spec.clusterIP), parsed; both
 *                    families for dual-stack.
 * @lb_ips:           status.loadBalancer.ingress[].ip.
 * @ports:            spec.ports.
 * @affinity_client_ip: spec.sessionAffinity is "ClientIP".
 * @affinity_timeout: its sessionAffinityConfig.clientIP.timeoutSeconds
 *                    (10800 when not given).
 * @internal_local:   spec.internalTrafficPolicy is "Local".
 * @external_local:   spec.externalTrafficPolicy is "Local".
 */
struct tpd_kube_service {
	enum tpd_kube_svc_type type;
	bool headless;
	struct tp_addr *cluster_ips;
	size_t n_cluster_ips;
	struct tp_addr *lb_ips;
	size_t n_lb_ips;
	struct tpd_kube_svc_port *ports;
	size_t n_ports;
	bool affinity_client_ip;
	__u32 affinity_timeout;
	bool internal_local;
	bool external_local;
};

enum tpd_kube_addr_type {
	TPD_KUBE_ADDR_IPV4,
	TPD_KUBE_ADDR_IPV6,
	TPD_KUBE_ADDR_FQDN, /* skipped by the sync */
};

/**
 * struct tpd_kube_ep_port - one of an EndpointSlice's ports[].
 * @name:  "" when unnamed.
 * @proto: IPPROTO_*.
 * @port:  host order; 0 when the slice gives none (nil port: all ports).
 */
struct tpd_kube_ep_port {
	char *name;
	__u8 proto;
	__u16 port;
};

/**
 * struct tpd_kube_endpoint - one of endpoints[].
 * @addrs:       addresses[] (the API allows one; several are kept).
 * @ready, @serving, @terminating: conditions.  An absent ready or
 *               serving is true (the API's meaning of nil for them),
 *               an absent terminating false.
 * @node_name:   nodeName, NULL when absent.
 */
struct tpd_kube_endpoint {
	struct tp_addr *addrs;
	char *node_name;
	__u32 n_addrs; /* 24 bytes, not 32: a store holds 100,000s of them */
	bool ready;
	bool serving;
	bool terminating;
};

/**
 * struct tpd_kube_slice - an EndpointSlice (discovery.k8s.io/v1).
 * @service:   label TPD_KUBE_LABEL_SERVICE_NAME, NULL when absent.
 * @addr_type: addressType.
 * @addr_pool: when set, the addresses of every endpoint, whose @addrs
 *             point into it (the decoder's: one block, not one per
 *             endpoint); NULL when each endpoint's @addrs is its own.
 */
struct tpd_kube_slice {
	char *service;
	enum tpd_kube_addr_type addr_type;
	struct tpd_kube_ep_port *ports;
	size_t n_ports;
	struct tpd_kube_endpoint *endpoints;
	size_t n_endpoints;
	struct tp_addr *addr_pool;
};

/* A container port of a pod, for NetworkPolicy's named ports. */
struct tpd_kube_named_port {
	char *name;
	__u8 proto;
	__u16 port;
};

/**
 * struct tpd_kube_pod - a Pod.
 * @node_name:    spec.nodeName, NULL when not scheduled.
 * @host_network: spec.hostNetwork (its IPs are the node's: no identity).
 * @ips:          status.podIPs (else status.podIP).
 * @phase_done:   status.phase is Succeeded or Failed (its IPs may be reused).
 * @ports:        spec.containers[].ports[] that have a name.
 */
struct tpd_kube_pod {
	char *node_name;
	bool host_network;
	struct tp_addr *ips;
	size_t n_ips;
	bool phase_done;
	struct tpd_kube_named_port *ports;
	size_t n_ports;
};

enum tpd_kube_sel_op {
	TPD_KUBE_SEL_IN,
	TPD_KUBE_SEL_NOT_IN,
	TPD_KUBE_SEL_EXISTS,
	TPD_KUBE_SEL_NOT_EXISTS,
};

struct tpd_kube_sel_expr {
	char *key;
	enum tpd_kube_sel_op op;
	char **values;
	size_t n_values;
};

/**
 * struct tpd_kube_selector - a LabelSelector.
 * @present: the field was given (an absent podSelector in a peer differs
 *           from an empty one, which selects everything).
 * @match:   matchLabels, sorted by key.
 * @exprs:   matchExpressions.
 */
struct tpd_kube_selector {
	bool present;
	struct tpd_kube_label *match;
	size_t n_match;
	struct tpd_kube_sel_expr *exprs;
	size_t n_exprs;
};

/**
 * struct tpd_kube_np_peer - one of from[].
 * @cidr, @has_cidr: ipBlock.cidr.
 * @cidr_plen:       its prefix length in the 128-bit space (an IPv4 /24 is
 *                   120), as tp_prefix_parse() gives it; so are
 *                   @except_plen's.  kube_policy.c refuses an IPv4 prefix
 *                   under 96 as malformed.
 * @except:          ipBlock.except[].
 * @pods, @namespaces: podSelector, namespaceSelector (@present says given).
 */
struct tpd_kube_np_peer {
	bool has_cidr;
	struct tp_addr cidr;
	__u8 cidr_plen;
	struct tp_addr *except;
	__u8 *except_plen;
	size_t n_except;
	struct tpd_kube_selector pods;
	struct tpd_kube_selector namespaces;
};

/**
 * struct tpd_kube_np_port - one of ports[].
 * @proto:    IPPROTO_* (TCP when absent).
 * @port:     numeric port, 0 when absent (all ports) or named.
 * @name:     a named port, NULL when numeric or absent.
 * @end_port: endPort, 0 when absent.
 */
struct tpd_kube_np_port {
	__u8 proto;
	__u16 port;
	char *name;
	__u16 end_port;
};

/* One of spec.ingress[] (or egress[]: decoded, not enforced). */
struct tpd_kube_np_rule {
	struct tpd_kube_np_peer *peers;
	size_t n_peers; /* 0 with !peers_present: from everywhere */
	bool peers_present;
	struct tpd_kube_np_port *ports;
	size_t n_ports; /* 0: all ports */
};

/**
 * struct tpd_kube_netpol - a NetworkPolicy (networking.k8s.io/v1).
 * @pod_selector:  spec.podSelector.
 * @ingress_type:  policyTypes has Ingress (or, absent, always).
 * @egress_type:   policyTypes has Egress (or, absent, when egress[] given).
 */
struct tpd_kube_netpol {
	struct tpd_kube_selector pod_selector;
	bool ingress_type;
	bool egress_type;
	struct tpd_kube_np_rule *ingress;
	size_t n_ingress;
	struct tpd_kube_np_rule *egress;
	size_t n_egress;
};

/**
 * struct tpd_kube_object - one decoded object of any kind.  The decoder
 * allocates tpd_kube_object_size() of its kind: only the member of the
 * union its kind names is there.
 */
struct tpd_kube_object {
	enum tpd_kube_kind kind;
	struct tpd_kube_meta meta;
	union {
		struct tpd_kube_service svc;
		struct tpd_kube_slice slice;
		struct tpd_kube_pod pod;
		struct tpd_kube_netpol np;
		/* a Namespace is its meta (labels) alone */
	};
};

size_t tpd_kube_object_size(enum tpd_kube_kind k);
void tpd_kube_object_free(struct tpd_kube_object *o);
char *tpd_kube_str_intern(const char *s, size_t len);
void tpd_kube_str_put(char *s);
const char *tpd_kube_kind_name(enum tpd_kube_kind k);
const char *tpd_kube_kind_resource(enum tpd_kube_kind k);
const char *tpd_kube_kind_path(enum tpd_kube_kind k);

/* ---- client -> store ----------------------------------------------------------- */

enum tpd_kube_event {
	TPD_KUBE_EV_ADDED,
	TPD_KUBE_EV_MODIFIED,
	TPD_KUBE_EV_DELETED,
};

/**
 * struct tpd_kube_sink - where the client delivers objects.  Called from
 * the client's thread; the sink does its own locking.
 * @list_begin: a (re-)list of @kind starts: objects it does not deliver
 *              before list_end(complete) are gone.
 * @object:     one object, from a list (@ev ADDED) or a watch event; the
 *              sink takes ownership of @o (and frees it).
 * @list_end:   the list of @kind ended; @complete false when it was cut
 *              short (error, 410 mid-pagination): the sink keeps what it
 *              had and forgets the unseen-marking.
 * @synced:     every kind has been listed once (the first full picture:
 *              the translation may now delete what it does not see).
 * @ctx:        passed to each.
 */
struct tpd_kube_sink {
	void (*list_begin)(void *ctx, enum tpd_kube_kind kind);
	void (*object)(void *ctx, enum tpd_kube_event ev,
		       struct tpd_kube_object *o);
	void (*list_end)(void *ctx, enum tpd_kube_kind kind, bool complete);
	void (*synced)(void *ctx);
	void *ctx;
};

/* ---- decoder (kube_client.c; fuzzed and unit-tested alone) -------------------- */

/**
 * enum tpd_kube_doc - what a decoder reads.
 * @TPD_KUBE_DOC_LIST:  a list response: {"metadata":{"resourceVersion",
 *                      "continue"},"items":[...]} (any key order).
 * @TPD_KUBE_DOC_WATCH: a watch stream: one {"type":..,"object":..} per
 *                      line (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR).
 */
enum tpd_kube_doc {
	TPD_KUBE_DOC_LIST,
	TPD_KUBE_DOC_WATCH,
};

struct tpd_kube_decoder;

/**
 * struct tpd_kube_decoded - what a decoder learnt besides the objects.
 * @resource_version: the list's or the last event's/bookmark's version.
 * @continue_token:   a list's metadata.continue, "" at the last page.
 * @error_code:       an ERROR event's (or a Status document's) code,
 *                    e.g. 410; 0 when none.
 * @error_msg:        its message.
 * @objects:          objects handed to the sink.
 * @skipped:          objects skipped as bad (logged; the last one's error
 *                    is tpd_kube_decoder_error()).
 */
struct tpd_kube_decoded {
	char resource_version[128];
	char continue_token[1024];
	int error_code;
	char error_msg[256];
	unsigned long objects;
	unsigned long skipped;
};

struct tpd_kube_decoder *tpd_kube_decoder_new(enum tpd_kube_kind kind,
					      enum tpd_kube_doc doc,
					      const struct tpd_kube_sink *sink);
/* Feed bytes as they arrive (any split); 0, or -EINVAL with
 * tpd_kube_decoder_error() saying where the JSON or an object was bad. */
int tpd_kube_decoder_feed(struct tpd_kube_decoder *d, const void *buf,
			  size_t len);
int tpd_kube_decoder_finish(struct tpd_kube_decoder *d);
const struct tpd_kube_decoded *
tpd_kube_decoder_state(const struct tpd_kube_decoder *d);
const char *tpd_kube_decoder_error(const struct tpd_kube_decoder *d);
void tpd_kube_decoder_free(struct tpd_kube_decoder *d);

/* ---- client (kube_client.c) ----------------------------------------------------- */

struct tpd_kube_client;

/**
 * struct tpd_kube_stats - the client's counters, for logs and metrics.
 */
struct tpd_kube_stats {
	unsigned long lists[TPD_KUBE_KIND_MAX];
	unsigned long watches[TPD_KUBE_KIND_MAX];
	unsigned long events[TPD_KUBE_KIND_MAX];
	unsigned long relists_410;
	unsigned long errors;
	bool connected[TPD_KUBE_KIND_MAX]; /* a watch is streaming now */
};

int tpd_kube_client_start(const struct tpd_kube_cfg *cfg,
			  const struct tpd_kube_sink *sink,
			  struct tpd_kube_client **out, char *err,
			  size_t errlen);
void tpd_kube_client_stats(struct tpd_kube_client *c,
			   struct tpd_kube_stats *st);
void tpd_kube_client_stop(struct tpd_kube_client *c);

/* ---- client internals (kube_client.c), exported for its unit tests -------- */

/**
 * struct tpd_kube_conn - how to reach the API server, resolved.
 * @server:     https://HOST:PORT (no trailing slash).
 * @token_file: the bearer token's file, re-read when it changes; NULL
 *              for @token or no token.
 * @token:      a token given inline (a kubeconfig's user.token), or NULL.
 * @ca_file:    the CA bundle's file; NULL for @ca_data or the system's.
 * @ca_data:    a CA bundle given inline (certificate-authority-data,
 *              decoded), @ca_len bytes; NULL when none.
 * @origin:     where the server came from ("config", "kubeconfig",
 *              "in-cluster"), for logs.
 */
struct tpd_kube_conn {
	char *server;
	char *token_file;
	char *token;
	char *ca_file;
	char *ca_data;
	size_t ca_len;
	const char *origin;
};

int tpd_kube_conn_resolve(const struct tpd_kube_cfg *cfg, const char *sa_dir,
			  struct tpd_kube_conn *conn, char *err, size_t errlen);
int tpd_kube_kubeconfig_read(const char *path, struct tpd_kube_conn *conn,
			     char *err, size_t errlen);
void tpd_kube_conn_free(struct tpd_kube_conn *conn);
char *tpd_kube_url(const char *server, enum tpd_kube_kind kind, bool watch,
		   const char *rv, const char *cont, __u32 limit,
		   __u32 timeout);
unsigned long tpd_kube_backoff_ms(unsigned int attempt, __u32 cap_s,
				  unsigned long rnd);

#endif /* TAILPLANED_KUBE_H */
