// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Kubernetes decoder (loader/kube.h): list responses and watch
 * streams, fed as they arrive, into struct tpd_kube_object.
 *
 * yajl's callback parser reads the bytes; nothing buffers a document (a
 * 10,000-service list is tens of MiB, most of it managedFields and other
 * fields we never read).  A small path-driven state machine follows
 * where the parser is: a stack of frames, one per open object or array
 * whose meaning we know (a "node": spec.ports[], an endpoint, ...).  A key
 * is looked up in its node's table; a key we do not read makes its value
 * a skipped subtree, which costs a depth counter and nothing else.
 * Scalars are converted and stored into the struct their frame fills.
 *
 * Errors come in two sizes:
 *  - the document is bad (not JSON, truncated, "items" not an array, an
 *    event without a type): feed/finish return -EINVAL and the decoder
 *    stops; the client re-lists or reconnects.
 *  - one object is bad (a field of the wrong type, an address that does
 *    not parse, a string or array past its bound): that object is skipped
 *    with a log line naming it (kind, ns/name) and the field, and the
 *    decode goes on.  An apiserver never sends such an object (it
 *    validated it on the way in); if one ever comes, an operator wants the
 *    rest synced, not a node stuck re-listing.  A DELETED event is
 *    delivered even then: its name is all the store needs to forget it.
 *
 * Bounds (KD_STR_MAX, the per-array maxima below, KD_MAX_NESTING) are far
 * past what the API's validation allows, and keep a hostile or broken
 * stream from growing memory without limit or nesting without end.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <yajl/yajl_parse.h>

#include "addr.h"
#include "json.h"
#include "kube.h"
#include "log.h"

/* A kept string's maximum length (labels are 63 + 253, names 253). */
#define KD_STR_MAX 4096
/* Open objects and arrays, skipped ones included. */
#define KD_MAX_NESTING 256
/* Frames of known nodes: bounded by the schema below (at most 12 deep). */
#define KD_FRAMES 16

/* Array bounds, each well past the API's own limits. */
#define KD_MAX_LABELS	 4096
#define KD_MAX_IPS	 16 /* clusterIPs, podIPs: 2 in the API */
#define KD_MAX_LB_IPS	 256
#define KD_MAX_PORTS	 1024  /* service, slice (API: 100), pod, rule ports */
#define KD_MAX_ENDPOINTS 10000 /* API: 1000 a slice */
#define KD_MAX_EP_ADDRS	 16    /* API: 1 */
#define KD_MAX_RULES	 1024
#define KD_MAX_PEERS	 1024
#define KD_MAX_EXCEPT	 1024
#define KD_MAX_EXPRS	 1024
#define KD_MAX_VALUES	 4096

/* Affinity timeout when sessionAffinityConfig gives none (the API's default). */
#define KD_AFFINITY_DEFAULT 10800
#define KD_AFFINITY_MAX	    86400

/* What a node holds. */
enum kd_type { T_ANY, T_MAP, T_ARRAY, T_STR, T_INT, T_BOOL, T_INTSTR };

/* What the parser met. */

/*
 * The nodes: every place in a document we read, with the JSON type it
 * holds.  OBJ stands for the decoder's kind's object root (OBJ_SVC, ...).
 */
/* one line per group of nodes: */
/* clang-format off */
#define KD_NODES(X)                                                                            \
	X(NONE, T_ANY)                                                                         \
	/* list document */                                                                    \
	X(LIST, T_MAP) X(LIST_META, T_MAP) X(LIST_RV, T_STR) X(LIST_CONT, T_STR)               \
	X(ITEMS, T_ARRAY) X(DOC_KIND, T_STR) X(DOC_CODE, T_INT) X(DOC_MSG, T_STR)              \
	/* watch event */                                                                      \
	X(EVENT, T_MAP) X(EV_TYPE, T_STR) X(OBJ, T_MAP)                                        \
	/* object roots; kind, code, message read for a Status */                              \
	X(OBJ_SVC, T_MAP) X(OBJ_SL, T_MAP) X(OBJ_POD, T_MAP) X(OBJ_NS, T_MAP)                  \
	X(OBJ_NP, T_MAP) X(OBJ_KIND, T_STR) X(OBJ_CODE, T_INT) X(OBJ_MSG, T_STR)               \
	/* metadata */                                                                         \
	X(META, T_MAP) X(M_NAME, T_STR) X(M_NS, T_STR) X(M_UID, T_STR) X(M_RV, T_STR)          \
	X(M_DEL, T_STR) X(LABELS, T_MAP) X(LABEL, T_STR) X(ANNS, T_MAP)                        \
	X(ANN_EXPOSE, T_STR) X(ANN_TNADDR, T_STR)                                              \
	/* Service */                                                                          \
	X(SVC_SPEC, T_MAP) X(SVC_TYPE, T_STR) X(SVC_CIP, T_STR) X(SVC_CIPS, T_ARRAY)           \
	X(SVC_CIPS_E, T_STR) X(SVC_PORTS, T_ARRAY) X(SVC_PORT, T_MAP) X(SP_NAME, T_STR)        \
	X(SP_PROTO, T_STR) X(SP_PORT, T_INT) X(SP_TARGET, T_INTSTR) X(SP_NODEPORT, T_INT)      \
	X(SVC_AFF, T_STR) X(SVC_SAC, T_MAP) X(SVC_SAC_CIP, T_MAP) X(SVC_SAC_TO, T_INT)         \
	X(SVC_ITP, T_STR) X(SVC_ETP, T_STR) X(SVC_STATUS, T_MAP) X(SVC_LB, T_MAP)              \
	X(SVC_LB_ING, T_ARRAY) X(SVC_LB_ING_E, T_MAP) X(SVC_LB_IP, T_STR)                      \
	/* EndpointSlice */                                                                    \
	X(SL_ATYPE, T_STR) X(SL_EPS, T_ARRAY) X(SL_EP, T_MAP) X(SL_ADDRS, T_ARRAY)             \
	X(SL_ADDR, T_STR) X(SL_COND, T_MAP) X(SL_READY, T_BOOL) X(SL_SERVING, T_BOOL)          \
	X(SL_TERM, T_BOOL) X(SL_NODE, T_STR) X(SL_PORTS, T_ARRAY) X(SL_PORT, T_MAP)            \
	X(SLP_NAME, T_STR) X(SLP_PROTO, T_STR) X(SLP_PORT, T_INT)                              \
	/* Pod */                                                                              \
	X(POD_SPEC, T_MAP) X(POD_NODE, T_STR) X(POD_HOSTNET, T_BOOL) X(POD_CTRS, T_ARRAY)      \
	X(POD_CTR, T_MAP) X(POD_CPORTS, T_ARRAY) X(POD_CPORT, T_MAP) X(PCP_NAME, T_STR)        \
	X(PCP_PORT, T_INT) X(PCP_PROTO, T_STR) X(POD_STATUS, T_MAP) X(POD_PHASE, T_STR)        \
	X(POD_IP, T_STR) X(POD_IPS, T_ARRAY) X(POD_IPS_E, T_MAP) X(POD_IPS_IP, T_STR)          \
	/* NetworkPolicy */                                                                    \
	X(NP_SPEC, T_MAP) X(NP_PODSEL, T_MAP) X(NP_PTYPES, T_ARRAY) X(NP_PTYPE, T_STR)         \
	X(NP_INGRESS, T_ARRAY) X(NP_IRULE, T_MAP) X(NP_EGRESS, T_ARRAY) X(NP_ERULE, T_MAP)     \
	X(NP_PEERS, T_ARRAY) X(NP_PEER, T_MAP) X(NP_IPB, T_MAP) X(NP_CIDR, T_STR)              \
	X(NP_EXCEPT, T_ARRAY) X(NP_EXC, T_STR) X(PEER_PODSEL, T_MAP) X(PEER_NSSEL, T_MAP)      \
	X(SEL_ML, T_MAP) X(SEL_ML_V, T_STR) X(SEL_MES, T_ARRAY) X(SEL_ME, T_MAP)               \
	X(SEL_ME_KEY, T_STR) X(SEL_ME_OP, T_STR) X(SEL_VALS, T_ARRAY) X(SEL_VAL, T_STR)        \
	X(NP_PORTS, T_ARRAY) X(NP_PORT, T_MAP) X(NPP_PROTO, T_STR) X(NPP_PORT, T_INTSTR)       \
	X(NPP_END, T_INT)
/* clang-format on */

#define KD_ENUM(n, t) N_##n,
enum kd_node { KD_NODES(KD_ENUM) N_MAX };
#undef KD_ENUM

#define KD_TYPE(n, t) [N_##n] = t,
static const enum kd_type kd_type_of[N_MAX] = { KD_NODES(KD_TYPE) };
#undef KD_TYPE

struct kd_key {
	const char *name;
	size_t len;
	enum kd_node node;
};

#define K(s, n)                         \
	{                               \
		s, sizeof(s) - 1, N_##n \
	}
#define KD_OBJ_COMMON                                                  \
	K("metadata", META), K("kind", OBJ_KIND), K("code", OBJ_CODE), \
		K("message", OBJ_MSG)

static const struct kd_key kd_keys_list[] = {
	K("metadata", LIST_META), K("items", ITEMS),	 K("kind", DOC_KIND),
	K("code", DOC_CODE),	  K("message", DOC_MSG), { 0 }
};
static const struct kd_key kd_keys_list_meta[] = {
	K("resourceVersion", LIST_RV), K("continue", LIST_CONT), { 0 }
};
static const struct kd_key kd_keys_event[] = { K("type", EV_TYPE),
					       K("object", OBJ),
					       { 0 } };
static const struct kd_key kd_keys_meta[] = { K("name", M_NAME),
					      K("namespace", M_NS),
					      K("uid", M_UID),
					      K("resourceVersion", M_RV),
					      K("labels", LABELS),
					      K("annotations", ANNS),
					      K("deletionTimestamp", M_DEL),
					      { 0 } };
static const struct kd_key kd_keys_anns[] = {
	K(TPD_KUBE_ANN_EXPOSE, ANN_EXPOSE),
	K(TPD_KUBE_ANN_TAILNET_ADDR, ANN_TNADDR),
	{ 0 }
};
static const struct kd_key kd_keys_obj_svc[] = {
	KD_OBJ_COMMON, K("spec", SVC_SPEC), K("status", SVC_STATUS), { 0 }
};
static const struct kd_key kd_keys_svc_spec[] = {
	K("type", SVC_TYPE),
	K("clusterIP", SVC_CIP),
	K("clusterIPs", SVC_CIPS),
	K("ports", SVC_PORTS),
	K("sessionAffinity", SVC_AFF),
	K("sessionAffinityConfig", SVC_SAC),
	K("internalTrafficPolicy", SVC_ITP),
	K("externalTrafficPolicy", SVC_ETP),
	{ 0 }
};
static const struct kd_key kd_keys_svc_port[] = {
	K("name", SP_NAME),	    K("protocol", SP_PROTO),
	K("port", SP_PORT),	    K("targetPort", SP_TARGET),
	K("nodePort", SP_NODEPORT), { 0 }
};
static const struct kd_key kd_keys_svc_sac[] = { K("clientIP", SVC_SAC_CIP),
						 { 0 } };
static const struct kd_key kd_keys_svc_sac_cip[] = {
	K("timeoutSeconds", SVC_SAC_TO), { 0 }
};
static const struct kd_key kd_keys_svc_status[] = { K("loadBalancer", SVC_LB),
						    { 0 } };
static const struct kd_key kd_keys_svc_lb[] = { K("ingress", SVC_LB_ING),
						{ 0 } };
static const struct kd_key kd_keys_svc_lb_ing[] = { K("ip", SVC_LB_IP), { 0 } };
static const struct kd_key kd_keys_obj_sl[] = { KD_OBJ_COMMON,
						K("addressType", SL_ATYPE),
						K("endpoints", SL_EPS),
						K("ports", SL_PORTS),
						{ 0 } };
static const struct kd_key kd_keys_sl_ep[] = { K("addresses", SL_ADDRS),
					       K("conditions", SL_COND),
					       K("nodeName", SL_NODE),
					       { 0 } };
static const struct kd_key kd_keys_sl_cond[] = { K("ready", SL_READY),
						 K("serving", SL_SERVING),
						 K("terminating", SL_TERM),
						 { 0 } };
static const struct kd_key kd_keys_sl_port[] = { K("name", SLP_NAME),
						 K("protocol", SLP_PROTO),
						 K("port", SLP_PORT),
						 { 0 } };
static const struct kd_key kd_keys_obj_pod[] = {
	KD_OBJ_COMMON, K("spec", POD_SPEC), K("status", POD_STATUS), { 0 }
};
static const struct kd_key kd_keys_pod_spec[] = { K("nodeName", POD_NODE),
						  K("hostNetwork", POD_HOSTNET),
						  K("containers", POD_CTRS),
						  { 0 } };
static const struct kd_key kd_keys_pod_ctr[] = { K("ports", POD_CPORTS),
						 { 0 } };
static const struct kd_key kd_keys_pod_cport[] = { K("name", PCP_NAME),
						   K("containerPort", PCP_PORT),
						   K("protocol", PCP_PROTO),
						   { 0 } };
static const struct kd_key kd_keys_pod_status[] = {
	K("phase", POD_PHASE), K("podIP", POD_IP), K("podIPs", POD_IPS), { 0 }
};
static const struct kd_key kd_keys_pod_ips_e[] = { K("ip", POD_IPS_IP), { 0 } };
static const struct kd_key kd_keys_obj_ns[] = { KD_OBJ_COMMON, { 0 } };
static const struct kd_key kd_keys_obj_np[] = { KD_OBJ_COMMON,
						K("spec", NP_SPEC),
						{ 0 } };
static const struct kd_key kd_keys_np_spec[] = { K("podSelector", NP_PODSEL),
						 K("policyTypes", NP_PTYPES),
						 K("ingress", NP_INGRESS),
						 K("egress", NP_EGRESS),
						 { 0 } };
static const struct kd_key kd_keys_np_irule[] = { K("from", NP_PEERS),
						  K("ports", NP_PORTS),
						  { 0 } };
static const struct kd_key kd_keys_np_erule[] = { K("to", NP_PEERS),
						  K("ports", NP_PORTS),
						  { 0 } };
static const struct kd_key kd_keys_np_peer[] = { K("ipBlock", NP_IPB),
						 K("podSelector", PEER_PODSEL),
						 K("namespaceSelector",
						   PEER_NSSEL),
						 { 0 } };
static const struct kd_key kd_keys_np_ipb[] = { K("cidr", NP_CIDR),
						K("except", NP_EXCEPT),
						{ 0 } };
static const struct kd_key kd_keys_sel[] = { K("matchLabels", SEL_ML),
					     K("matchExpressions", SEL_MES),
					     { 0 } };
static const struct kd_key kd_keys_sel_me[] = { K("key", SEL_ME_KEY),
						K("operator", SEL_ME_OP),
						K("values", SEL_VALS),
						{ 0 } };
static const struct kd_key kd_keys_np_port[] = { K("protocol", NPP_PROTO),
						 K("port", NPP_PORT),
						 K("endPort", NPP_END),
						 { 0 } };
#undef K

/* The keys of each object node. */
static const struct kd_key *const kd_keys[N_MAX] = {
	[N_LIST] = kd_keys_list,
	[N_LIST_META] = kd_keys_list_meta,
	[N_EVENT] = kd_keys_event,
	[N_META] = kd_keys_meta,
	[N_ANNS] = kd_keys_anns,
	[N_OBJ_SVC] = kd_keys_obj_svc,
	[N_SVC_SPEC] = kd_keys_svc_spec,
	[N_SVC_PORT] = kd_keys_svc_port,
	[N_SVC_SAC] = kd_keys_svc_sac,
	[N_SVC_SAC_CIP] = kd_keys_svc_sac_cip,
	[N_SVC_STATUS] = kd_keys_svc_status,
	[N_SVC_LB] = kd_keys_svc_lb,
	[N_SVC_LB_ING_E] = kd_keys_svc_lb_ing,
	[N_OBJ_SL] = kd_keys_obj_sl,
	[N_SL_EP] = kd_keys_sl_ep,
	[N_SL_COND] = kd_keys_sl_cond,
	[N_SL_PORT] = kd_keys_sl_port,
	[N_OBJ_POD] = kd_keys_obj_pod,
	[N_POD_SPEC] = kd_keys_pod_spec,
	[N_POD_CTR] = kd_keys_pod_ctr,
	[N_POD_CPORT] = kd_keys_pod_cport,
	[N_POD_STATUS] = kd_keys_pod_status,
	[N_POD_IPS_E] = kd_keys_pod_ips_e,
	[N_OBJ_NS] = kd_keys_obj_ns,
	[N_OBJ_NP] = kd_keys_obj_np,
	[N_NP_SPEC] = kd_keys_np_spec,
	[N_NP_IRULE] = kd_keys_np_irule,
	[N_NP_ERULE] = kd_keys_np_erule,
	[N_NP_PEER] = kd_keys_np_peer,
	[N_NP_IPB] = kd_keys_np_ipb,
	[N_NP_PODSEL] = kd_keys_sel,
	[N_PEER_PODSEL] = kd_keys_sel,
	[N_PEER_NSSEL] = kd_keys_sel,
	[N_SEL_ME] = kd_keys_sel_me,
	[N_NP_PORT] = kd_keys_np_port,
};

/* Maps whose every key is data (labels): the node of their values. */
static const enum kd_node kd_dyn[N_MAX] = {
	[N_LABELS] = N_LABEL,
	[N_SEL_ML] = N_SEL_ML_V,
};

/* The node of each array's elements. */
static const enum kd_node kd_elem[N_MAX] = {
	[N_ITEMS] = N_OBJ,
	[N_SVC_CIPS] = N_SVC_CIPS_E,
	[N_SVC_PORTS] = N_SVC_PORT,
	[N_SVC_LB_ING] = N_SVC_LB_ING_E,
	[N_SL_EPS] = N_SL_EP,
	[N_SL_ADDRS] = N_SL_ADDR,
	[N_SL_PORTS] = N_SL_PORT,
	[N_POD_CTRS] = N_POD_CTR,
	[N_POD_CPORTS] = N_POD_CPORT,
	[N_POD_IPS] = N_POD_IPS_E,
	[N_NP_PTYPES] = N_NP_PTYPE,
	[N_NP_INGRESS] = N_NP_IRULE,
	[N_NP_EGRESS] = N_NP_ERULE,
	[N_NP_PEERS] = N_NP_PEER,
	[N_NP_EXCEPT] = N_NP_EXC,
	[N_SEL_MES] = N_SEL_ME,
	[N_SEL_VALS] = N_SEL_VAL,
	[N_NP_PORTS] = N_NP_PORT,
};

static const enum kd_node kd_obj_root[TPD_KUBE_KIND_MAX] = {
	[TPD_KUBE_SERVICE] = N_OBJ_SVC, [TPD_KUBE_ENDPOINTSLICE] = N_OBJ_SL,
	[TPD_KUBE_POD] = N_OBJ_POD,	[TPD_KUBE_NAMESPACE] = N_OBJ_NS,
	[TPD_KUBE_NETPOL] = N_OBJ_NP,
};

/**
 * struct kd_frame - an open object or array of a known node.
 * @node:   what it is.
 * @target: the struct its fields go into (the object, its spec, a port...).
 * @key:    (objects) the name of the current key, for error paths.
 * @child:  (objects) the node of the current key's value.
 * @n:      (arrays) elements met so far.
 */
struct kd_frame {
	enum kd_node node;
	void *target;
	const char *key;
	enum kd_node child;
	size_t n;
};

/* Watch event types; KD_EV_NONE until "type" is read. */
enum kd_ev {
	KD_EV_NONE,
	KD_EV_ADDED,
	KD_EV_MODIFIED,
	KD_EV_DELETED,
	KD_EV_BOOKMARK,
	KD_EV_ERROR
};

/**
 * struct kd_scratch - what one object's decode needs besides the object.
 * @cip, @cip_set:     spec.clusterIP (used when clusterIPs is absent).
 * @pod_ip, @pod_ip_set: status.podIP (used when podIPs is absent).
 * @ptypes_given:      a NetworkPolicy's policyTypes was given.
 * @atype_set:         an EndpointSlice's addressType was given.
 * @addr_bad:          an endpoint address did not parse as an IP: an
 *                     error unless the slice turns out to be FQDN.
 * @me_op_set:         the current matchExpression has an operator.
 * @status:            kind is "Status" (an ERROR event's object).
 * @code, @msg:        a Status's code and message.
 * @err, @errmsg:      the first error in this object ("FIELD: PROBLEM").
 */
struct kd_scratch {
	struct tp_addr cip, pod_ip;
	bool cip_set, pod_ip_set;
	bool ptypes_given, atype_set, me_op_set;
	bool addr_bad;
	char addr_bad_msg[192];
	bool status;
	long code;
	char msg[256];
	bool err;
	char errmsg[320];
};

/**
 * struct tpd_kube_decoder - a document being decoded.
 * @h:         yajl's parser.
 * @kind:      the kind of the objects.
 * @doc:       list or watch.
 * @sink:      where objects go.
 * @state:     what was learnt (versions, continue, errors, counts).
 * @frames:    the open frames of known nodes; @nframes of them.
 * @skip:      depth inside a skipped value (0: not skipping).
 * @obj:       the object being decoded, NULL between objects.
 * @s:         its scratch.
 * @ev:        the current watch event's type.
 * @doc_status, @doc_code, @doc_msg: a list response that is a Status.
 * @key:       the current data key (a label's name), NUL-terminated.
 * @stopped:   an ERROR event ended the stream: the rest is ignored.
 * @pending:   (watch) bytes other than whitespace since the last event.
 * @tail_from: (watch) where in the current buffer the last event ended.
 * @closed:    (watch) an event ended in the current buffer.
 * @offset:    bytes fed before the current buffer, for error messages.
 * @err:       the first fatal error (negative errno), 0 for none.
 * @errmsg:    its text.
 * @skipmsg:   the last skipped object's error.
 */
struct tpd_kube_decoder {
	yajl_handle h;
	struct tp_json_reader rd; /* @h's events, to kd_value() and the rest */
	enum tpd_kube_kind kind;
	enum tpd_kube_doc doc;
	const struct tpd_kube_sink *sink;
	struct tpd_kube_decoded state;
	struct kd_frame frames[KD_FRAMES];
	unsigned int nframes;
	unsigned int obj_frame;
	unsigned int skip;
	struct tpd_kube_object *obj;
	struct kd_scratch s;
	enum kd_ev ev;
	bool doc_status;
	long doc_code;
	char doc_msg[256];
	char key[KD_STR_MAX + 1];
	bool stopped;
	bool pending;
	bool closed;
	size_t tail_from;
	size_t offset;
	int err;
	char errmsg[512];
	char skipmsg[512];
};

/* ---- errors ---------------------------------------------------------------- */

/* A fatal error: the document is bad; the parse stops.  Returns 0 for yajl. */
__attribute__((format(printf, 3, 4))) static int
kd_fatal(struct tpd_kube_decoder *d, int err, const char *fmt, ...)
{
	va_list ap;

	if (d->err)
		return 0;
	d->err = err;
	va_start(ap, fmt);
	vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
	va_end(ap);
	return 0;
}

/* Where the parser is inside the current object: "spec.ports[1].port". */
static void kd_path(const struct tpd_kube_decoder *d, char *buf, size_t len)
{
	size_t off = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = d->obj_frame; i < d->nframes && off < len; i++) {
		const struct kd_frame *f = &d->frames[i];

		if (kd_type_of[f->node] == T_ARRAY)
			off += snprintf(buf + off, len - off, "[%zu]",
					f->n ? f->n - 1 : 0);
		else if (f->key)
			off += snprintf(buf + off, len - off, "%s%s",
					off ? "." : "", f->key);
	}
}

/*
 * An error in the current object at the parser's position (@field NULL)
 * or at @field: the object will be skipped.  Only the first counts.
 * Returns -1, for callers to pass on.
 */
__attribute__((format(printf, 3, 4))) static int
kd_obj_err(struct tpd_kube_decoder *d, const char *field, const char *fmt, ...)
{
	char path[160], what[160];
	va_list ap;

	if (d->s.err)
		return -1;
	d->s.err = true;
	if (field)
		snprintf(path, sizeof(path), "%s", field);
	else
		kd_path(d, path, sizeof(path));
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(d->s.errmsg, sizeof(d->s.errmsg), "%s: %s", path, what);
	return -1;
}

/* ---- values ---------------------------------------------------------------- */

/* Whether a string may be kept: bounded, no NUL inside (else the error recorded). */
static bool kd_str_ok(struct tpd_kube_decoder *d, const char *s, size_t len)
{
	if (len > KD_STR_MAX) {
		kd_obj_err(d, NULL, "string of %zu bytes (max %d)", len,
			   KD_STR_MAX);
		return false;
	}
	if (memchr(s, '\0', len)) {
		kd_obj_err(d, NULL, "string holds a NUL");
		return false;
	}
	return true;
}

/* A kept string of its own; NULL (error recorded) when it may not be kept. */
static char *kd_strdup(struct tpd_kube_decoder *d, const char *s, size_t len)
{
	char *v;

	if (!kd_str_ok(d, s, len))
		return NULL;
	v = malloc(len + 1);
	if (!v) {
		kd_fatal(d, -ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(v, s, len);
	v[len] = '\0';
	return v;
}

/*
 * A kept string other objects are likely to hold too (a namespace, a node
 * name, a label, a port name): the pooled copy (tpd_kube_str_intern()).
 */
static char *kd_strpool(struct tpd_kube_decoder *d, const char *s, size_t len)
{
	char *v;

	if (!kd_str_ok(d, s, len))
		return NULL;
	v = tpd_kube_str_intern(s, len);
	if (!v)
		kd_fatal(d, -ENOMEM, "out of memory");
	return v;
}

/* Set *@dst to @v (replacing one a duplicate key set); -1 when @v is NULL. */
static int kd_set(char **dst, char *v)
{
	if (!v)
		return -1;
	tpd_kube_str_put(*dst);
	*dst = v;
	return 0;
}

/* Set *@dst to a copy of the string. */
static int kd_set_str(struct tpd_kube_decoder *d, char **dst, const char *s,
		      size_t len)
{
	return kd_set(dst, kd_strdup(d, s, len));
}

/* Set *@dst to the pooled copy of a string objects share. */
static int kd_set_pooled(struct tpd_kube_decoder *d, char **dst, const char *s,
			 size_t len)
{
	return kd_set(dst, kd_strpool(d, s, len));
}

static bool kd_is(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && !memcmp(s, lit, len);
}

/* One word of a closed set and the value it stands for. */
struct kd_word {
	const char *name;
	int val;
};

/*
 * @s/@len as one of @words (ended by an empty entry): its value (>= 0);
 * else -1 and the object's error "unknown @what", quoting at most @cut
 * bytes of it.
 */
static int kd_word(struct tpd_kube_decoder *d, const struct kd_word *words,
		   const char *s, size_t len, const char *what, size_t cut)
{
	for (; words->name; words++)
		if (kd_is(s, len, words->name))
			return words->val;
	return kd_obj_err(d, NULL, "unknown %s \"%.*s\"", what,
			  (int)(len > cut ? cut : len), s);
}

/* @dst = kd_word(...) when it is a word of the set.  Return: 0 or -1. */
#define KD_SET_WORD(dst, d, words, s, len, what, cut)                      \
	({                                                                 \
		int v_ = kd_word((d), (words), (s), (len), (what), (cut)); \
		if (v_ >= 0)                                               \
			(dst) = v_;                                        \
		v_ < 0 ? -1 : 0;                                           \
	})

/* A JSON number that is an integer in [@min, @max]. */
static int kd_int(struct tpd_kube_decoder *d, const char *s, size_t len,
		  long min, long max, long *out)
{
	bool neg = len && s[0] == '-';
	long v = 0;
	size_t i;

	if (len - neg == 0 || len - neg > 18)
		goto bad;
	for (i = neg; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (s[i] - '0');
	}
	v = neg ? -v : v;
	if (v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	return kd_obj_err(d, NULL, "%.*s is not an integer in %ld..%ld",
			  (int)(len > 24 ? 24 : len), s, min, max);
}

static int kd_port(struct tpd_kube_decoder *d, const char *s, size_t len,
		   __u16 *port)
{
	long v;

	if (kd_int(d, s, len, 0, 65535, &v))
		return -1;
	*port = (__u16)v;
	return 0;
}

static int kd_proto(struct tpd_kube_decoder *d, const char *s, size_t len,
		    __u8 *proto)
{
	static const struct kd_word protos[] = {
		{ "TCP", IPPROTO_TCP },
		{ "UDP", IPPROTO_UDP },
		{ "SCTP", IPPROTO_SCTP },
		{},
	};

	return KD_SET_WORD(*proto, d, protos, s, len, "protocol", 16);
}

/* An IP address; @quiet: report nothing (the caller decides). */
static int kd_addr(struct tpd_kube_decoder *d, const char *s, size_t len,
		   struct tp_addr *a, bool quiet)
{
	char buf[TP_ADDR_STRLEN];

	if (len >= sizeof(buf) || memchr(s, '\0', len))
		goto bad;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!tp_addr_parse(buf, a))
		return 0;
bad:
	if (quiet)
		return -1;
	return kd_obj_err(d, NULL, "\"%.*s\" is not an IP address",
			  (int)(len > 48 ? 48 : len), s);
}

/* A CIDR; host bits past the prefix are cleared, as Go's ParseCIDR does. */
static int kd_cidr(struct tpd_kube_decoder *d, const char *s, size_t len,
		   struct tp_addr *a, __u8 *plen)
{
	char buf[TP_PREFIX_STRLEN];
	unsigned int pl, i;
	int ret;

	if (len >= sizeof(buf) || memchr(s, '\0', len) || !memchr(s, '/', len))
		goto bad;
	memcpy(buf, s, len);
	buf[len] = '\0';
	ret = tp_prefix_parse(buf, a, &pl);
	if (ret && ret != -EDOM) /* -EDOM: host bits set, @a and @pl filled */
		goto bad;
	for (i = 0; i < 16; i++) {
		unsigned int bits = pl > i * 8 ? pl - i * 8 : 0;

		if (bits < 8)
			a->b[i] &= (__u8)(0xff00 >> bits);
	}
	*plen = (__u8)pl;
	return 0;
bad:
	return kd_obj_err(d, NULL, "\"%.*s\" is not a CIDR",
			  (int)(len > 52 ? 52 : len), s);
}

/*
 * Grow an array of @n elements of @size for one more: capacity is the
 * next power of two, so no capacity field is needed.  Returns the array
 * (moved or not), or NULL with the error recorded.
 */
static void *kd_grow(struct tpd_kube_decoder *d, void *arr, size_t n,
		     size_t size, size_t max, const char *what)
{
	void *nv;

	if (n >= max) {
		kd_obj_err(d, NULL, "more than %zu %s", max, what);
		return NULL;
	}
	if (n & (n - 1))
		return arr;
	nv = realloc(arr, (n ? n * 2 : 1) * size);
	if (!nv)
		kd_fatal(d, -ENOMEM, "out of memory");
	return nv;
}

/* Append a zeroed element to (@arr, @n); its address, or NULL. */
#define kd_push(d, arr, n, max, what)                                       \
	({                                                                  \
		__typeof__(arr) _e = NULL;                                  \
		void *_nv = kd_grow((d), (arr), (n), sizeof(*(arr)), (max), \
				    (what));                                \
		if (_nv) {                                                  \
			(arr) = _nv;                                        \
			_e = &(arr)[(n)++];                                 \
			memset(_e, 0, sizeof(*_e));                         \
		}                                                           \
		_e;                                                         \
	})

/* ---- labels -------------------------------------------------------------- */

static int kd_label_add(struct tpd_kube_decoder *d,
			struct tpd_kube_label **labels, size_t *n,
			const char *s, size_t len)
{
	struct tpd_kube_label *l;
	char *key, *value;

	key = kd_strpool(d, d->key, strlen(d->key));
	if (!key)
		return -1;
	value = kd_strpool(d, s, len);
	if (!value) {
		tpd_kube_str_put(key);
		return -1;
	}
	l = kd_push(d, *labels, *n, KD_MAX_LABELS, "labels");
	if (!l) {
		tpd_kube_str_put(key);
		tpd_kube_str_put(value);
		return -1;
	}
	l->key = key;
	l->value = value;
	return 0;
}

/*
 * Sort by key (insertion sort: stable, and labels are few), then keep the
 * last of equal keys, as Go's decoder does with a duplicate key.
 */
static void kd_labels_sort(struct tpd_kube_label *v, size_t *n)
{
	size_t i, j, out = 0;

	for (i = 1; i < *n; i++) {
		struct tpd_kube_label t = v[i];

		for (j = i; j && strcmp(v[j - 1].key, t.key) > 0; j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
	for (i = 0; i < *n; i++) {
		if (i + 1 < *n && !strcmp(v[i].key, v[i + 1].key)) {
			tpd_kube_str_put(v[i].key);
			tpd_kube_str_put(v[i].value);
			continue;
		}
		v[out++] = v[i];
	}
	*n = out;
}

/* ---- opening objects and arrays ------------------------------------------- */

static void kd_obj_discard(struct tpd_kube_decoder *d)
{
	tpd_kube_object_free(d->obj);
	d->obj = NULL;
}

static void *kd_obj_open(struct tpd_kube_decoder *d)
{
	kd_obj_discard(d); /* a duplicate "object" key: the last counts */
	memset(&d->s, 0, sizeof(d->s));
	d->obj = calloc(1, tpd_kube_object_size(d->kind));
	if (!d->obj) {
		kd_fatal(d, -ENOMEM, "out of memory");
		return NULL;
	}
	d->obj->kind = d->kind;
	if (d->kind == TPD_KUBE_SERVICE)
		d->obj->svc.affinity_timeout = KD_AFFINITY_DEFAULT;
	return d->obj;
}

static void *kd_np_rule(struct tpd_kube_decoder *d, struct tpd_kube_netpol *np,
			bool egress)
{
	if (egress)
		return kd_push(d, np->egress, np->n_egress, KD_MAX_RULES,
			       "egress rules");
	return kd_push(d, np->ingress, np->n_ingress, KD_MAX_RULES,
		       "ingress rules");
}

/*
 * The target of a new frame of @node inside a frame whose target is @t.
 * NULL: an error (recorded), the value is skipped.
 */
static void *kd_open(struct tpd_kube_decoder *d, enum kd_node node, void *t)
{
	struct tpd_kube_object *o = t;
	struct tpd_kube_svc_port *sp;
	struct tpd_kube_endpoint *ep;
	struct tpd_kube_ep_port *slp;
	struct tpd_kube_named_port *np;
	struct tpd_kube_np_port *npp;
	struct tpd_kube_np_rule *rule;
	struct tpd_kube_np_peer *peer;
	struct tpd_kube_selector *sel;

	switch (node) {
	case N_LIST:
	case N_EVENT:
		d->ev = KD_EV_NONE;
		return d;
	case N_OBJ_SVC:
	case N_OBJ_SL:
	case N_OBJ_POD:
	case N_OBJ_NS:
	case N_OBJ_NP:
		return kd_obj_open(d);
	case N_META:
		return &o->meta;
	case N_SVC_SPEC:
	case N_SVC_STATUS:
		return &o->svc;
	case N_SL_EPS:
	case N_SL_PORTS:
		return &o->slice;
	case N_POD_SPEC:
	case N_POD_STATUS:
		return &o->pod;
	case N_NP_SPEC:
		return &o->np;
	case N_SVC_PORT:
		sp = kd_push(d, ((struct tpd_kube_service *)t)->ports,
			     ((struct tpd_kube_service *)t)->n_ports,
			     KD_MAX_PORTS, "ports");
		if (sp)
			sp->proto = IPPROTO_TCP;
		return sp;
	case N_SL_EP:
		ep = kd_push(d, ((struct tpd_kube_slice *)t)->endpoints,
			     ((struct tpd_kube_slice *)t)->n_endpoints,
			     KD_MAX_ENDPOINTS, "endpoints");
		if (ep)
			ep->ready = ep->serving = true;
		return ep;
	case N_SL_PORT:
		slp = kd_push(d, ((struct tpd_kube_slice *)t)->ports,
			      ((struct tpd_kube_slice *)t)->n_ports,
			      KD_MAX_PORTS, "ports");
		if (slp)
			slp->proto = IPPROTO_TCP;
		return slp;
	case N_POD_CPORT:
		np = kd_push(d, ((struct tpd_kube_pod *)t)->ports,
			     ((struct tpd_kube_pod *)t)->n_ports, KD_MAX_PORTS,
			     "named ports");
		if (np)
			np->proto = IPPROTO_TCP;
		return np;
	case N_NP_PODSEL:
		sel = &((struct tpd_kube_netpol *)t)->pod_selector;
		sel->present = true;
		return sel;
	case N_NP_IRULE:
	case N_NP_ERULE:
		return kd_np_rule(d, t, node == N_NP_ERULE);
	case N_NP_PEER:
		rule = t;
		peer = kd_push(d, rule->peers, rule->n_peers, KD_MAX_PEERS,
			       "peers");
		/* "from": [] is "from everywhere", as an absent one */
		rule->peers_present = !!peer;
		return peer;
	case N_PEER_PODSEL:
	case N_PEER_NSSEL:
		peer = t;
		sel = node == N_PEER_PODSEL ? &peer->pods : &peer->namespaces;
		sel->present = true;
		return sel;
	case N_SEL_ME:
		sel = t;
		d->s.me_op_set = false;
		return kd_push(d, sel->exprs, sel->n_exprs, KD_MAX_EXPRS,
			       "matchExpressions");
	case N_NP_PORT:
		rule = t;
		npp = kd_push(d, rule->ports, rule->n_ports, KD_MAX_PORTS,
			      "ports");
		if (npp)
			npp->proto = IPPROTO_TCP;
		return npp;
	default:
		return t;
	}
}

/* ---- scalars --------------------------------------------------------------- */

static int kd_ev_type(struct tpd_kube_decoder *d, const char *s, size_t len)
{
	static const char *const names[] = {
		[KD_EV_ADDED] = "ADDED",     [KD_EV_MODIFIED] = "MODIFIED",
		[KD_EV_DELETED] = "DELETED", [KD_EV_BOOKMARK] = "BOOKMARK",
		[KD_EV_ERROR] = "ERROR",
	};
	unsigned int i;

	for (i = KD_EV_ADDED; i <= KD_EV_ERROR; i++) {
		if (kd_is(s, len, names[i])) {
			d->ev = i;
			return 0;
		}
	}
	return kd_fatal(d, -EINVAL, "watch event of unknown type \"%.*s\"",
			(int)(len > 32 ? 32 : len), s),
	       -1;
}

static int kd_svc_type(struct tpd_kube_decoder *d, struct tpd_kube_service *svc,
		       const char *s, size_t len)
{
	static const struct kd_word types[] = {
		{ "ClusterIP", TPD_KUBE_SVC_CLUSTERIP },
		{ "NodePort", TPD_KUBE_SVC_NODEPORT },
		{ "LoadBalancer", TPD_KUBE_SVC_LOADBALANCER },
		{ "ExternalName", TPD_KUBE_SVC_EXTERNALNAME },
		{},
	};

	return KD_SET_WORD(svc->type, d, types, s, len, "type", 32);
}

/* One of spec.clusterIPs[], or spec.clusterIP ("None": headless). */
static int kd_cluster_ip(struct tpd_kube_decoder *d,
			 struct tpd_kube_service *svc, bool list, const char *s,
			 size_t len)
{
	struct tp_addr a, *slot;

	if (kd_is(s, len, "None")) {
		svc->headless = true;
		return 0;
	}
	if (!len)
		return 0; /* ExternalName services have "" */
	if (kd_addr(d, s, len, &a, false))
		return -1;
	if (!list) {
		d->s.cip = a;
		d->s.cip_set = true;
		return 0;
	}
	slot = kd_push(d, svc->cluster_ips, svc->n_cluster_ips, KD_MAX_IPS,
		       "cluster IPs");
	if (!slot)
		return -1;
	*slot = a;
	return 0;
}

static int kd_push_addr(struct tpd_kube_decoder *d, struct tp_addr **v,
			size_t *n, size_t max, const char *what, const char *s,
			size_t len)
{
	struct tp_addr a, *slot;

	if (kd_addr(d, s, len, &a, false))
		return -1;
	slot = kd_push(d, *v, *n, max, what);
	if (!slot)
		return -1;
	*slot = a;
	return 0;
}

/*
 * An endpoint address.  Its slice's addressType may come after the
 * endpoints (any key order): an address that is not an IP is an error only
 * once the slice is known not to be FQDN.
 */
static int kd_ep_addr(struct tpd_kube_decoder *d, struct tpd_kube_endpoint *ep,
		      const char *s, size_t len)
{
	struct tp_addr a, *slot;

	if (d->s.atype_set && d->obj->slice.addr_type == TPD_KUBE_ADDR_FQDN)
		return 0;
	if (kd_addr(d, s, len, &a, true)) {
		if (!d->s.addr_bad) {
			char path[128];

			kd_path(d, path, sizeof(path));
			snprintf(d->s.addr_bad_msg, sizeof(d->s.addr_bad_msg),
				 "%s: \"%.*s\" is not an IP address", path,
				 (int)(len > 48 ? 48 : len), s);
		}
		d->s.addr_bad = true;
		return 0;
	}
	slot = kd_push(d, ep->addrs, ep->n_addrs, KD_MAX_EP_ADDRS, "addresses");
	if (!slot)
		return -1;
	*slot = a;
	return 0;
}

static int kd_addr_type(struct tpd_kube_decoder *d, struct tpd_kube_slice *sl,
			const char *s, size_t len)
{
	static const struct kd_word types[] = {
		{ "IPv4", TPD_KUBE_ADDR_IPV4 },
		{ "IPv6", TPD_KUBE_ADDR_IPV6 },
		{ "FQDN", TPD_KUBE_ADDR_FQDN },
		{},
	};

	if (KD_SET_WORD(sl->addr_type, d, types, s, len, "addressType", 32))
		return -1;
	d->s.atype_set = true;
	return 0;
}

static int kd_except(struct tpd_kube_decoder *d, struct tpd_kube_np_peer *peer,
		     const char *s, size_t len)
{
	/* two arrays of one count: each grows with its own copy of it */
	size_t n1 = peer->n_except, n2 = peer->n_except;
	struct tp_addr a, *slot;
	__u8 plen, *pl;

	if (kd_cidr(d, s, len, &a, &plen))
		return -1;
	pl = kd_push(d, peer->except_plen, n1, KD_MAX_EXCEPT, "except CIDRs");
	if (!pl)
		return -1;
	slot = kd_push(d, peer->except, n2, KD_MAX_EXCEPT, "except CIDRs");
	if (!slot)
		return -1;
	*pl = plen;
	*slot = a;
	peer->n_except++;
	return 0;
}

static int kd_sel_op(struct tpd_kube_decoder *d, struct tpd_kube_sel_expr *e,
		     const char *s, size_t len)
{
	static const struct kd_word ops[] = {
		{ "In", TPD_KUBE_SEL_IN },
		{ "NotIn", TPD_KUBE_SEL_NOT_IN },
		{ "Exists", TPD_KUBE_SEL_EXISTS },
		{ "DoesNotExist", TPD_KUBE_SEL_NOT_EXISTS },
		{},
	};

	if (KD_SET_WORD(e->op, d, ops, s, len, "operator", 32))
		return -1;
	d->s.me_op_set = true;
	return 0;
}

static int kd_sel_value(struct tpd_kube_decoder *d, struct tpd_kube_sel_expr *e,
			const char *s, size_t len)
{
	char *v = kd_strpool(d, s, len), **slot;

	if (!v)
		return -1;
	slot = kd_push(d, e->values, e->n_values, KD_MAX_VALUES, "values");
	if (!slot) {
		tpd_kube_str_put(v);
		return -1;
	}
	*slot = v;
	return 0;
}

static int kd_ptype(struct tpd_kube_decoder *d, struct tpd_kube_netpol *np,
		    const char *s, size_t len)
{
	static const struct kd_word types[] = {
		{ "Ingress", 0 },
		{ "Egress", 1 },
		{},
	};
	bool egress = false;

	d->s.ptypes_given = true;
	if (KD_SET_WORD(egress, d, types, s, len, "policy type", 32))
		return -1;
	if (egress)
		np->egress_type = true;
	else
		np->ingress_type = true;
	return 0;
}

/* A numeric or named port (IntOrString). */
static int kd_int_or_name(struct tpd_kube_decoder *d, enum tp_json_kind tok,
			  const char *s, size_t len, __u16 *port, char **name)
{
	if (tok == TP_JSON_NUMBER)
		return kd_port(d, s, len, port);
	return kd_set_pooled(d, name, s, len);
}

/* Scalars of metadata and of the documents around the objects. */
static int kd_scalar_doc(struct tpd_kube_decoder *d, enum kd_node node, void *t,
			 const char *s, size_t len)
{
	struct tpd_kube_meta *m = t;
	long v;

	switch (node) {
	case N_LIST_RV:
		if (len >= sizeof(d->state.resource_version) ||
		    memchr(s, '\0', len))
			return kd_fatal(d, -EINVAL,
					"list resourceVersion too long"),
			       -1;
		memcpy(d->state.resource_version, s, len);
		d->state.resource_version[len] = '\0';
		return 0;
	case N_LIST_CONT:
		if (len >= sizeof(d->state.continue_token) ||
		    memchr(s, '\0', len))
			return kd_fatal(d, -EINVAL,
					"list continue token too long"),
			       -1;
		memcpy(d->state.continue_token, s, len);
		d->state.continue_token[len] = '\0';
		return 0;
	case N_DOC_KIND:
		d->doc_status = kd_is(s, len, "Status");
		return 0;
	case N_DOC_CODE:
		if (kd_int(d, s, len, 0, 999, &v))
			return kd_fatal(d, -EINVAL,
					"Status code %.*s out of range",
					(int)(len > 16 ? 16 : len), s),
			       -1;
		d->doc_code = v;
		return 0;
	case N_DOC_MSG:
		snprintf(d->doc_msg, sizeof(d->doc_msg), "%.*s",
			 (int)strnlen(s, len), s);
		return 0;
	case N_EV_TYPE:
		return kd_ev_type(d, s, len);
	case N_OBJ_KIND:
		d->s.status = kd_is(s, len, "Status");
		return 0;
	case N_OBJ_CODE:
		if (kd_int(d, s, len, 0, 999, &v))
			return -1;
		d->s.code = v;
		return 0;
	case N_OBJ_MSG:
		snprintf(d->s.msg, sizeof(d->s.msg), "%.*s",
			 (int)strnlen(s, len), s);
		return 0;
	case N_M_NAME:
		return kd_set_str(d, &m->name, s, len);
	case N_M_NS:
		return kd_set_pooled(d, &m->ns, s, len);
	case N_M_UID:
		return kd_set_str(d, &m->uid, s, len);
	case N_M_RV:
		return kd_set_str(d, &m->resource_version, s, len);
	case N_M_DEL:
		m->deleting = true;
		return 0;
	case N_LABEL:
		return kd_label_add(d, &m->labels, &m->n_labels, s, len);
	case N_ANN_EXPOSE:
		return kd_set_pooled(d, &m->ann_expose, s, len);
	case N_ANN_TNADDR:
		return kd_set_str(d, &m->ann_tailnet_addr, s, len);
	default:
		return 1; /* not one of these */
	}
}

static int kd_scalar_svc(struct tpd_kube_decoder *d, enum kd_node node, void *t,
			 enum tp_json_kind tok, const char *s, size_t len)
{
	struct tpd_kube_service *svc = t;
	struct tpd_kube_svc_port *p = t;
	long v;

	switch (node) {
	case N_SVC_TYPE:
		return kd_svc_type(d, svc, s, len);
	case N_SVC_CIP:
	case N_SVC_CIPS_E:
		return kd_cluster_ip(d, svc, node == N_SVC_CIPS_E, s, len);
	case N_SP_NAME:
		return kd_set_pooled(d, &p->name, s, len);
	case N_SP_PROTO:
		return kd_proto(d, s, len, &p->proto);
	case N_SP_PORT:
		return kd_port(d, s, len, &p->port);
	case N_SP_TARGET:
		return kd_int_or_name(d, tok, s, len, &p->target_port,
				      &p->target_name);
	case N_SP_NODEPORT:
		return kd_port(d, s, len, &p->node_port);
	case N_SVC_AFF:
		svc->affinity_client_ip = kd_is(s, len, "ClientIP");
		return 0;
	case N_SVC_SAC_TO:
		if (kd_int(d, s, len, 1, KD_AFFINITY_MAX, &v))
			return -1;
		svc->affinity_timeout = (__u32)v;
		return 0;
	case N_SVC_ITP:
		svc->internal_local = kd_is(s, len, "Local");
		return 0;
	case N_SVC_ETP:
		svc->external_local = kd_is(s, len, "Local");
		return 0;
	case N_SVC_LB_IP:
		return kd_push_addr(d, &svc->lb_ips, &svc->n_lb_ips,
				    KD_MAX_LB_IPS, "load balancer IPs", s, len);
	default:
		return 1;
	}
}

static int kd_scalar_slice(struct tpd_kube_decoder *d, enum kd_node node,
			   void *t, const char *s, size_t len, int b)
{
	struct tpd_kube_endpoint *ep = t;
	struct tpd_kube_ep_port *p = t;

	switch (node) {
	case N_SL_ATYPE:
		return kd_addr_type(d, &((struct tpd_kube_object *)t)->slice, s,
				    len);
	case N_SL_ADDR:
		return kd_ep_addr(d, ep, s, len);
	case N_SL_READY:
		ep->ready = b;
		return 0;
	case N_SL_SERVING:
		ep->serving = b;
		return 0;
	case N_SL_TERM:
		ep->terminating = b;
		return 0;
	case N_SL_NODE:
		return kd_set_pooled(d, &ep->node_name, s, len);
	case N_SLP_NAME:
		return kd_set_pooled(d, &p->name, s, len);
	case N_SLP_PROTO:
		return kd_proto(d, s, len, &p->proto);
	case N_SLP_PORT:
		return kd_port(d, s, len, &p->port);
	default:
		return 1;
	}
}

static int kd_scalar_pod(struct tpd_kube_decoder *d, enum kd_node node, void *t,
			 const char *s, size_t len, int b)
{
	struct tpd_kube_pod *pod = t;
	struct tpd_kube_named_port *p = t;

	switch (node) {
	case N_POD_NODE:
		return kd_set_pooled(d, &pod->node_name, s, len);
	case N_POD_HOSTNET:
		pod->host_network = b;
		return 0;
	case N_PCP_NAME:
		return kd_set_pooled(d, &p->name, s, len);
	case N_PCP_PORT:
		return kd_port(d, s, len, &p->port);
	case N_PCP_PROTO:
		return kd_proto(d, s, len, &p->proto);
	case N_POD_PHASE:
		pod->phase_done =
			kd_is(s, len, "Succeeded") || kd_is(s, len, "Failed");
		return 0;
	case N_POD_IP:
		if (!len)
			return 0;
		if (kd_addr(d, s, len, &d->s.pod_ip, false))
			return -1;
		d->s.pod_ip_set = true;
		return 0;
	case N_POD_IPS_IP:
		return kd_push_addr(d, &pod->ips, &pod->n_ips, KD_MAX_IPS,
				    "pod IPs", s, len);
	default:
		return 1;
	}
}

static int kd_scalar_np(struct tpd_kube_decoder *d, enum kd_node node, void *t,
			enum tp_json_kind tok, const char *s, size_t len)
{
	struct tpd_kube_np_peer *peer = t;
	struct tpd_kube_selector *sel = t;
	struct tpd_kube_sel_expr *e = t;
	struct tpd_kube_np_port *p = t;

	switch (node) {
	case N_NP_PTYPE:
		return kd_ptype(d, t, s, len);
	case N_NP_CIDR:
		if (kd_cidr(d, s, len, &peer->cidr, &peer->cidr_plen))
			return -1;
		peer->has_cidr = true;
		return 0;
	case N_NP_EXC:
		return kd_except(d, peer, s, len);
	case N_SEL_ML_V:
		return kd_label_add(d, &sel->match, &sel->n_match, s, len);
	case N_SEL_ME_KEY:
		return kd_set_pooled(d, &e->key, s, len);
	case N_SEL_ME_OP:
		return kd_sel_op(d, e, s, len);
	case N_SEL_VAL:
		return kd_sel_value(d, e, s, len);
	case N_NPP_PROTO:
		return kd_proto(d, s, len, &p->proto);
	case N_NPP_PORT:
		return kd_int_or_name(d, tok, s, len, &p->port, &p->name);
	case N_NPP_END:
		return kd_port(d, s, len, &p->end_port);
	default:
		return 1;
	}
}

/* A scalar of @node into target @t; @b is a boolean's value. */
static void kd_scalar(struct tpd_kube_decoder *d, enum kd_node node, void *t,
		      enum tp_json_kind tok, const char *s, size_t len, int b)
{
	int ret = kd_scalar_doc(d, node, t, s, len);

	if (ret > 0)
		ret = kd_scalar_svc(d, node, t, tok, s, len);
	if (ret > 0)
		ret = kd_scalar_slice(d, node, t, s, len, b);
	if (ret > 0)
		ret = kd_scalar_pod(d, node, t, s, len, b);
	if (ret > 0)
		kd_scalar_np(d, node, t, tok, s, len);
}

/* ---- closing: objects, items, events ----------------------------------------- */

static int kd_meta_finish(struct tpd_kube_decoder *d, struct tpd_kube_meta *m)
{
	char **strs[] = { &m->ns, &m->name, &m->uid, &m->resource_version };
	size_t i;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (!*strs[i] && !(*strs[i] = strdup("")))
			return kd_fatal(d, -ENOMEM, "out of memory"), -1;
	}
	kd_labels_sort(m->labels, &m->n_labels);
	return 0;
}

static void kd_svc_finish(struct tpd_kube_decoder *d,
			  struct tpd_kube_service *svc)
{
	if (!svc->n_cluster_ips && d->s.cip_set) {
		struct tp_addr *slot =
			kd_push(d, svc->cluster_ips, svc->n_cluster_ips,
				KD_MAX_IPS, "cluster IPs");
		if (slot)
			*slot = d->s.cip;
	}
}

/*
 * Give back what kd_grow() reserved past @n elements of an array of a
 * decoded object: the object keeps it for as long as it is stored, and a
 * power-of-two capacity is up to twice what it holds (megabytes at
 * 100,000 endpoints).  Nothing is pushed to it afterwards.
 */
static void *kd_fit(void *arr, size_t n, size_t size)
{
	void *nv;

	if (!arr || !n || !(n & (n - 1)))
		return arr; /* a power of two: full */
	nv = realloc(arr, n * size);
	return nv ? nv : arr;
}

#define KD_FIT(arr, n) ((arr) = kd_fit((arr), (n), sizeof(*(arr))))

/*
 * The addresses of every endpoint of @sl in one block: an endpoint has
 * one, and a heap block of its own cost twice its 16 bytes.  Out of
 * memory, each keeps its own.
 */
static void kd_slice_pack(struct tpd_kube_slice *sl)
{
	struct tp_addr *pool, *at;
	size_t i, n = 0;

	for (i = 0; i < sl->n_endpoints; i++)
		n += sl->endpoints[i].n_addrs;
	if (!n || !(pool = malloc(n * sizeof(*pool))))
		return;
	at = pool;
	for (i = 0; i < sl->n_endpoints; i++) {
		struct tpd_kube_endpoint *ep = &sl->endpoints[i];

		if (ep->n_addrs)
			memcpy(at, ep->addrs, ep->n_addrs * sizeof(*at));
		free(ep->addrs);
		ep->addrs = ep->n_addrs ? at : NULL;
		at += ep->n_addrs;
	}
	sl->addr_pool = pool;
}

/* Every array of a decoded object cut to what it holds. */
static void kd_obj_fit(struct tpd_kube_object *o)
{
	KD_FIT(o->meta.labels, o->meta.n_labels);
	switch (o->kind) {
	case TPD_KUBE_SERVICE:
		KD_FIT(o->svc.cluster_ips, o->svc.n_cluster_ips);
		KD_FIT(o->svc.lb_ips, o->svc.n_lb_ips);
		KD_FIT(o->svc.ports, o->svc.n_ports);
		break;
	case TPD_KUBE_ENDPOINTSLICE:
		KD_FIT(o->slice.ports, o->slice.n_ports);
		KD_FIT(o->slice.endpoints, o->slice.n_endpoints);
		kd_slice_pack(&o->slice);
		break;
	case TPD_KUBE_POD:
		KD_FIT(o->pod.ips, o->pod.n_ips);
		KD_FIT(o->pod.ports, o->pod.n_ports);
		break;
	default:
		break;
	}
}

static void kd_slice_finish(struct tpd_kube_decoder *d,
			    struct tpd_kube_object *o)
{
	struct tpd_kube_slice *sl = &o->slice;
	const struct tpd_kube_label *l;
	size_t i, j;

	for (i = 0; i < o->meta.n_labels; i++) {
		l = &o->meta.labels[i];
		if (!strcmp(l->key, TPD_KUBE_LABEL_SERVICE_NAME)) {
			sl->service =
				tpd_kube_str_intern(l->value, strlen(l->value));
			if (!sl->service)
				kd_fatal(d, -ENOMEM, "out of memory");
		}
	}
	if (!d->s.atype_set) {
		kd_obj_err(d, "addressType", "missing");
		return;
	}
	if (sl->addr_type == TPD_KUBE_ADDR_FQDN) {
		/* host names, not addresses: nothing to keep */
		for (i = 0; i < sl->n_endpoints; i++) {
			free(sl->endpoints[i].addrs);
			sl->endpoints[i].addrs = NULL;
			sl->endpoints[i].n_addrs = 0;
		}
		return;
	}
	if (d->s.addr_bad) {
		kd_obj_err(d, "endpoints", "%s", d->s.addr_bad_msg);
		return;
	}
	for (i = 0; i < sl->n_endpoints; i++) {
		for (j = 0; j < sl->endpoints[i].n_addrs; j++) {
			bool v4 = tp_addr_is_v4(&sl->endpoints[i].addrs[j]);

			if (v4 != (sl->addr_type == TPD_KUBE_ADDR_IPV4)) {
				kd_obj_err(
					d, "endpoints",
					"endpoint %zu: an IPv%c address in an IPv%c slice",
					i, v4 ? '4' : '6', v4 ? '6' : '4');
				return;
			}
		}
	}
}

static void kd_selector_finish(struct tpd_kube_selector *sel)
{
	kd_labels_sort(sel->match, &sel->n_match);
}

static void kd_np_finish(struct tpd_kube_decoder *d, struct tpd_kube_netpol *np)
{
	struct tpd_kube_np_rule *rules[2] = { np->ingress, np->egress };
	size_t n[2] = { np->n_ingress, np->n_egress }, i, j, k;

	kd_selector_finish(&np->pod_selector);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < n[k]; i++) {
			for (j = 0; j < rules[k][i].n_peers; j++) {
				kd_selector_finish(&rules[k][i].peers[j].pods);
				kd_selector_finish(
					&rules[k][i].peers[j].namespaces);
			}
		}
	}
	/* the API's defaults: Ingress always, Egress when there are egress rules */
	if (!d->s.ptypes_given) {
		np->ingress_type = true;
		np->egress_type = np->n_egress > 0;
	}
}

/* The object's root closed: defaults, fallbacks, sorting. */
static void kd_obj_finish(struct tpd_kube_decoder *d)
{
	struct tpd_kube_object *o = d->obj;

	if (kd_meta_finish(d, &o->meta))
		return;
	switch (o->kind) {
	case TPD_KUBE_SERVICE:
		kd_svc_finish(d, &o->svc);
		break;
	case TPD_KUBE_ENDPOINTSLICE:
		kd_slice_finish(d, o);
		break;
	case TPD_KUBE_POD:
		if (!o->pod.n_ips && d->s.pod_ip_set) {
			struct tp_addr *slot =
				kd_push(d, o->pod.ips, o->pod.n_ips, KD_MAX_IPS,
					"pod IPs");
			if (slot)
				*slot = d->s.pod_ip;
		}
		break;
	case TPD_KUBE_NETPOL:
		kd_np_finish(d, &o->np);
		break;
	default:
		break;
	}
	if (!d->err)
		kd_obj_fit(o);
}

/* Hand the current object to the sink, or skip it with a log line. */
static void kd_deliver(struct tpd_kube_decoder *d, enum tpd_kube_event ev)
{
	struct tpd_kube_object *o = d->obj;
	char who[320];

	d->obj = NULL;
	if (!o->meta.name[0])
		kd_obj_err(d, "metadata.name", "missing");
	if (d->s.err && (ev != TPD_KUBE_EV_DELETED || !o->meta.name[0])) {
		snprintf(who, sizeof(who), "%s%s%s", o->meta.ns,
			 o->meta.ns[0] ? "/" : "", o->meta.name);
		snprintf(d->skipmsg, sizeof(d->skipmsg), "%s %s: %s",
			 tpd_kube_kind_name(d->kind),
			 who[0] ? who : "(no name)", d->s.errmsg);
		log_warn("kubernetes: object skipped", "source", "kubernetes",
			 "kind", tpd_kube_kind_name(d->kind), "object", who,
			 "error", d->s.errmsg);
		d->state.skipped++;
		tpd_kube_object_free(o);
		return;
	}
	d->state.objects++;
	d->sink->object(d->sink->ctx, ev, o);
}

/* A watch event's end: deliver, remember its version, or stop on ERROR. */
static void kd_event_end(struct tpd_kube_decoder *d)
{
	static const enum tpd_kube_event evs[] = {
		[KD_EV_ADDED] = TPD_KUBE_EV_ADDED,
		[KD_EV_MODIFIED] = TPD_KUBE_EV_MODIFIED,
		[KD_EV_DELETED] = TPD_KUBE_EV_DELETED,
	};
	const char *rv;

	if (d->ev == KD_EV_NONE) {
		kd_fatal(d, -EINVAL, "watch event without a type");
		return;
	}
	if (d->ev == KD_EV_ERROR) {
		/* no code: still an error, and the client re-lists */
		d->state.error_code =
			d->obj && d->s.code ? (int)d->s.code : 500;
		snprintf(d->state.error_msg, sizeof(d->state.error_msg), "%s",
			 d->obj ? d->s.msg : "");
		d->stopped = true;
		kd_obj_discard(d);
		return;
	}
	if (!d->obj) {
		kd_fatal(d, -EINVAL, "watch event without an object");
		return;
	}
	rv = d->obj->meta.resource_version;
	if (rv[0]) {
		if (strlen(rv) >= sizeof(d->state.resource_version)) {
			kd_fatal(d, -EINVAL, "resourceVersion too long");
			return;
		}
		strcpy(d->state.resource_version, rv);
	}
	if (d->ev == KD_EV_BOOKMARK)
		kd_obj_discard(d);
	else
		kd_deliver(d, evs[d->ev]);
}

static void kd_close(struct tpd_kube_decoder *d, const struct kd_frame *f,
		     const struct kd_frame *parent)
{
	switch (f->node) {
	case N_OBJ_SVC:
	case N_OBJ_SL:
	case N_OBJ_POD:
	case N_OBJ_NS:
	case N_OBJ_NP:
		kd_obj_finish(d);
		if (parent && parent->node == N_ITEMS && !d->err)
			kd_deliver(d, TPD_KUBE_EV_ADDED);
		break;
	case N_EVENT:
		kd_event_end(d);
		d->pending = false;
		d->closed = true;
		d->tail_from = yajl_get_bytes_consumed(d->h);
		break;
	case N_LIST:
		if (d->doc_status) {
			d->state.error_code =
				d->doc_code ? (int)d->doc_code : 500;
			snprintf(d->state.error_msg, sizeof(d->state.error_msg),
				 "%s", d->doc_msg);
		}
		break;
	case N_SVC_PORT: {
		struct tpd_kube_svc_port *p = f->target;

		/* the API's default: targetPort is port (the server fills it in) */
		if (!p->target_port && !p->target_name)
			p->target_port = p->port;
	}
		/* fall through */
	case N_SL_PORT: {
		char **name =
			f->node == N_SVC_PORT
				? &((struct tpd_kube_svc_port *)f->target)->name
				: &((struct tpd_kube_ep_port *)f->target)->name;

		if (!*name && !(*name = strdup("")))
			kd_fatal(d, -ENOMEM, "out of memory");
		break;
	}
	case N_POD_CPORT: {
		struct tpd_kube_pod *pod = &d->obj->pod;

		/* only named ports matter (NetworkPolicy's named ports) */
		if (!((struct tpd_kube_named_port *)f->target)->name)
			pod->n_ports--;
		break;
	}
	case N_SEL_ME: {
		struct tpd_kube_sel_expr *e = f->target;

		if (!e->key)
			kd_obj_err(d, NULL,
				   "matchExpressions entry without a key");
		else if (!d->s.me_op_set)
			kd_obj_err(
				d, NULL,
				"matchExpressions entry without an operator");
		break;
	}
	default:
		break;
	}
}

/* ---- yajl callbacks ---------------------------------------------------------- */

/* Document-level nodes: a wrong type there is fatal, not one object's error. */
static bool kd_doc_node(enum kd_node node)
{
	return node <= N_OBJ_NP && node != N_NONE;
}

static const char *kd_type_name(enum kd_type t)
{
	static const char *const names[] = {
		[T_ANY] = "anything",
		[T_MAP] = "an object",
		[T_ARRAY] = "an array",
		[T_STR] = "a string",
		[T_INT] = "an integer",
		[T_BOOL] = "a boolean",
		[T_INTSTR] = "an integer or a string",
	};
	return names[t];
}

static bool kd_type_ok(enum kd_type t, enum tp_json_kind tok)
{
	switch (t) {
	case T_MAP:
		return tok == TP_JSON_MAP;
	case T_ARRAY:
		return tok == TP_JSON_ARRAY;
	case T_STR:
		return tok == TP_JSON_STRING;
	case T_INT:
		return tok == TP_JSON_NUMBER;
	case T_BOOL:
		return tok == TP_JSON_BOOL;
	case T_INTSTR:
		return tok == TP_JSON_NUMBER || tok == TP_JSON_STRING;
	default:
		return true;
	}
}

/* The node of the value starting now, and its parent's target. */
static enum kd_node kd_value_node(struct tpd_kube_decoder *d, void **t)
{
	struct kd_frame *f;
	enum kd_node node;

	if (!d->nframes) {
		*t = d;
		return d->doc == TPD_KUBE_DOC_LIST ? N_LIST : N_EVENT;
	}
	f = &d->frames[d->nframes - 1];
	*t = f->target;
	if (kd_type_of[f->node] == T_ARRAY) {
		f->n++;
		node = kd_elem[f->node];
	} else {
		node = f->child;
		f->child = N_NONE; /* a key's value comes once */
	}
	return node == N_OBJ ? kd_obj_root[d->kind] : node;
}

/* Any value: @tok says which; @s/@len a string or number, @b a boolean. */
static int kd_value(void *ctx, enum tp_json_kind tok, const char *s, size_t len,
		    int b)
{
	struct tpd_kube_decoder *d = ctx;
	bool open = tok == TP_JSON_MAP || tok == TP_JSON_ARRAY;
	enum kd_node node;
	struct kd_frame *f;
	void *t;

	if (d->stopped || d->err)
		return 0;
	if (open && d->nframes + d->skip >= KD_MAX_NESTING)
		return kd_fatal(d, -EINVAL, "nested deeper than %d levels",
				KD_MAX_NESTING);
	if (d->skip) {
		d->skip += open;
		return 1;
	}
	node = kd_value_node(d, &t);
	if (tok == TP_JSON_NULL &&
	    !d->nframes) /* a document or event must be an object */
		return kd_fatal(d, -EINVAL,
				"byte %zu: expected an object, not null",
				d->offset + yajl_get_bytes_consumed(d->h));
	if (node == N_NONE || tok == TP_JSON_NULL) {
		d->skip = open; /* null is absent, like a missing key */
		return 1;
	}
	if (!kd_type_ok(kd_type_of[node], tok)) {
		if (kd_doc_node(node))
			return kd_fatal(d, -EINVAL, "byte %zu: expected %s",
					d->offset +
						yajl_get_bytes_consumed(d->h),
					kd_type_name(kd_type_of[node]));
		kd_obj_err(d, NULL, "expected %s",
			   kd_type_name(kd_type_of[node]));
		d->skip = open;
		return !d->err;
	}
	if (!open) {
		kd_scalar(d, node, t, tok, s, len, b);
		return !d->err && !d->stopped;
	}
	t = kd_open(d, node, t);
	if (!t) {
		d->skip = 1;
		return !d->err;
	}
	if (d->nframes >=
	    KD_FRAMES) /* cannot happen: the schema is shallower */
		return kd_fatal(d, -EINVAL, "internal: frames exhausted");
	f = &d->frames[d->nframes++];
	memset(f, 0, sizeof(*f));
	f->node = node;
	f->target = t;
	if (node >= N_OBJ_SVC && node <= N_OBJ_NP)
		d->obj_frame = d->nframes - 1;
	return 1;
}

static int kd_cb_end(void *ctx)
{
	struct tpd_kube_decoder *d = ctx;
	struct kd_frame f;

	if (d->stopped || d->err)
		return 0;
	if (d->skip) {
		d->skip--;
		return 1;
	}
	if (!d->nframes)
		return kd_fatal(d, -EINVAL, "internal: unbalanced end");
	f = d->frames[--d->nframes];
	kd_close(d, &f, d->nframes ? &d->frames[d->nframes - 1] : NULL);
	return !d->err && !d->stopped;
}

static int kd_cb_key(void *ctx, const unsigned char *key, size_t len)
{
	struct tpd_kube_decoder *d = ctx;
	const struct kd_key *k;
	struct kd_frame *f;

	if (d->stopped || d->err)
		return 0;
	if (d->skip)
		return 1;
	f = &d->frames[d->nframes - 1];
	f->child = N_NONE;
	f->key = NULL;
	if (kd_dyn[f->node]) {
		f->child = kd_dyn[f->node];
		f->key = d->key;
		if (len > KD_STR_MAX || memchr(key, '\0', len)) {
			strcpy(d->key, "(bad key)");
			kd_obj_err(d, NULL,
				   "key of %zu bytes (max %d) or holding a NUL",
				   len, KD_STR_MAX);
			f->child = N_NONE;
			return 1;
		}
		memcpy(d->key, key, len);
		d->key[len] = '\0';
		return 1;
	}
	for (k = kd_keys[f->node]; k && k->name; k++) {
		if (k->len == len && !memcmp(k->name, key, len)) {
			f->child = k->node;
			f->key = k->name;
			break;
		}
	}
	return 1;
}

/* ---- API ------------------------------------------------------------------------ */

/**
 * tpd_kube_decoder_new() - a decoder of one list response or watch stream.
 * @kind: the kind of its objects.
 * @doc:  TPD_KUBE_DOC_LIST or TPD_KUBE_DOC_WATCH.
 * @sink: where objects go (only @sink->object is called, from inside
 *        tpd_kube_decoder_feed() and _finish()); must outlive the decoder.
 *
 * Return: the decoder, or NULL (errno set) on a bad argument or no memory.
 */
struct tpd_kube_decoder *tpd_kube_decoder_new(enum tpd_kube_kind kind,
					      enum tpd_kube_doc doc,
					      const struct tpd_kube_sink *sink)
{
	struct tpd_kube_decoder *d;

	if ((unsigned int)kind >= TPD_KUBE_KIND_MAX || !sink || !sink->object ||
	    (doc != TPD_KUBE_DOC_LIST && doc != TPD_KUBE_DOC_WATCH)) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->kind = kind;
	d->doc = doc;
	d->sink = sink;
	d->rd = (struct tp_json_reader){
		.value = kd_value, .key = kd_cb_key, .end = kd_cb_end, .ctx = d
	};
	d->h = tp_json_reader_alloc(&d->rd);
	if (!d->h) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	/* a watch stream is one event after another, newline-separated */
	if (doc == TPD_KUBE_DOC_WATCH)
		yajl_config(d->h, yajl_allow_multiple_values, 1);
	return d;
}

/* Record yajl's complaint as the fatal error. */
static int kd_yajl_error(struct tpd_kube_decoder *d, const void *buf,
			 size_t len)
{
	unsigned char *msg = yajl_get_error(d->h, 0, buf, len);
	size_t at = d->offset + (buf ? yajl_get_bytes_consumed(d->h) : 0);

	kd_fatal(d, -EINVAL, "bad JSON at byte %zu: %s", at,
		 msg ? (const char *)msg : "?");
	if (msg)
		yajl_free_error(d->h, msg);
	return d->err;
}

/* (watch) Is anything but whitespace in @buf[@from..@len)? */
static bool kd_nonblank(const unsigned char *buf, size_t from, size_t len)
{
	for (; from < len; from++) {
		if (buf[from] != ' ' && buf[from] != '\n' &&
		    buf[from] != '\r' && buf[from] != '\t')
			return true;
	}
	return false;
}

/**
 * tpd_kube_decoder_feed() - decode the next @len bytes of the document.
 * @d:   the decoder.
 * @buf: the bytes, split anywhere.
 * @len: their number.
 *
 * Objects complete in these bytes go to the sink.  A bad object is skipped
 * (logged, counted in tpd_kube_decoder_state()->skipped, its error in
 * tpd_kube_decoder_error()); a bad document stops the decoder.  After an
 * ERROR event the rest of a watch stream is ignored.
 *
 * Return: 0; -EINVAL for a bad document (tpd_kube_decoder_error() says
 * what and where); -ENOMEM.  Errors are sticky.
 */
int tpd_kube_decoder_feed(struct tpd_kube_decoder *d, const void *buf,
			  size_t len)
{
	yajl_status st;

	if (d->err)
		return d->err;
	if (d->stopped || !len)
		return 0;
	d->closed = false;
	d->tail_from = 0;
	st = yajl_parse(d->h, buf, len);
	if (st == yajl_status_client_canceled)
		return d->err;
	if (st != yajl_status_ok)
		return kd_yajl_error(d, buf, len);
	d->offset += len;
	if (d->doc == TPD_KUBE_DOC_WATCH) {
		if (d->nframes || d->skip)
			d->pending = true;
		else if (kd_nonblank(buf, d->closed ? d->tail_from : 0, len))
			d->pending = true;
	}
	return 0;
}

/**
 * tpd_kube_decoder_finish() - the document ended.
 * @d: the decoder.
 *
 * A list must be complete; a watch stream may end between events only.
 *
 * Return: 0, or -EINVAL (truncated or bad), -ENOMEM.
 */
int tpd_kube_decoder_finish(struct tpd_kube_decoder *d)
{
	yajl_status st;

	if (d->err)
		return d->err;
	if (d->stopped)
		return 0;
	if (d->doc == TPD_KUBE_DOC_WATCH && !d->pending && !d->nframes &&
	    !d->skip)
		return 0;
	st = yajl_complete_parse(d->h);
	if (st == yajl_status_client_canceled)
		return d->err;
	if (st != yajl_status_ok)
		return kd_yajl_error(d, NULL, 0);
	return 0;
}

/**
 * tpd_kube_decoder_state() - what the decoder learnt so far.
 * @d: the decoder.
 *
 * Return: versions, the continue token, an ERROR event's or a Status
 * document's code and message, counts; valid until tpd_kube_decoder_free().
 */
const struct tpd_kube_decoded *
tpd_kube_decoder_state(const struct tpd_kube_decoder *d)
{
	return &d->state;
}

/**
 * tpd_kube_decoder_error() - why the decoder stopped, or which object it
 * skipped last.
 * @d: the decoder.
 *
 * Return: the fatal error's text; else the last skipped object's ("KIND
 * NS/NAME: FIELD: PROBLEM"); else "".
 */
const char *tpd_kube_decoder_error(const struct tpd_kube_decoder *d)
{
	return d->err ? d->errmsg : d->skipmsg;
}

/**
 * tpd_kube_decoder_free() - free @d and an object it was in the middle of.
 * @d: the decoder, or NULL.
 */
void tpd_kube_decoder_free(struct tpd_kube_decoder *d)
{
	if (!d)
		return;
	tpd_kube_object_free(d->obj);
	yajl_free(d->h);
	free(d);
}
