// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * yajl_tree_parse(), with one array of the root object handed over an
 * element at a time.  The nodes are those of yajl_tree.h, allocated as
 * yajl_tree_free() frees them, with the same parser settings (comments
 * allowed) and the same values (a number is an integer when
 * yajl_tree_parse() would say so), so the rest of the configuration code
 * reads the tree as before.  A container is attached to its parent when
 * it closes, as yajl's own tree does.  The events come through lib/json.c's
 * streaming reader.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "config_json.h"
#include "json.h"

/*
 * One open container.  @key: an object's key whose value comes next.
 * @cap: the room of its keys and values.
 */
struct tpd_json_level {
	yajl_val node;
	char *key;
	size_t cap;
};

struct tpd_json_ctx {
	struct tpd_json_level *stack;
	size_t depth;
	size_t cap;
	yajl_val root;
	struct tpd_json_sink *sink;
	size_t sunk; /* elements handed to the sink */
	bool nomem;
};

static yajl_val tpd_json_node(yajl_type type)
{
	yajl_val v = calloc(1, sizeof(*v));

	if (v)
		v->type = type;
	return v;
}

static char *tpd_json_strdup(const unsigned char *s, size_t len)
{
	char *out = malloc(len + 1);

	if (out) {
		memcpy(out, s, len);
		out[len] = 0;
	}
	return out;
}

/* Room for one more member of @l's node; doubled, trimmed at its close. */
static int tpd_json_room(struct tpd_json_level *l)
{
	bool obj = YAJL_IS_OBJECT(l->node);
	size_t len = obj ? l->node->u.object.len : l->node->u.array.len;
	size_t cap = l->cap ? l->cap * 2 : 4;
	yajl_val *values;
	const char **keys;

	if (len < l->cap)
		return 0;
	values = realloc(obj ? l->node->u.object.values
			     : l->node->u.array.values,
			 cap * sizeof(*values));
	if (!values)
		return -ENOMEM;
	if (obj) {
		l->node->u.object.values = values;
		keys = realloc(l->node->u.object.keys, cap * sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		l->node->u.object.keys = keys;
	} else {
		l->node->u.array.values = values;
	}
	l->cap = cap;
	return 0;
}

/* A value is complete: into its container, to the sink, or the root. */
static int tpd_json_done(struct tpd_json_ctx *c, yajl_val v)
{
	struct tpd_json_level *l;
	yajl_val n;

	if (!v) {
		c->nomem = true;
		return 0;
	}
	if (!c->depth) {
		c->root = v;
		return 1;
	}
	l = &c->stack[c->depth - 1];
	n = l->node;
	if (c->sink && n == c->sink->array) {
		c->sink->fn(c->sink->ctx, v, c->sunk++);
		yajl_tree_free(v);
		return 1;
	}
	if (tpd_json_room(l)) {
		yajl_tree_free(v);
		c->nomem = true;
		return 0;
	}
	if (YAJL_IS_OBJECT(n)) {
		n->u.object.keys[n->u.object.len] = l->key;
		n->u.object.values[n->u.object.len++] = v;
		l->key = NULL;
	} else {
		n->u.array.values[n->u.array.len++] = v;
	}
	return 1;
}

static int tpd_json_open(struct tpd_json_ctx *c, yajl_type type)
{
	struct tpd_json_level *stack, *parent;
	yajl_val v = tpd_json_node(type);

	if (v && c->depth == c->cap) {
		stack = realloc(c->stack, (c->cap + 8) * sizeof(*stack));
		if (!stack) {
			free(v);
			v = NULL;
		} else {
			c->stack = stack;
			c->cap += 8;
		}
	}
	if (!v) {
		c->nomem = true;
		return 0;
	}
	/* the sink's array: a member of the root object, under its key */
	parent = c->depth == 1 ? &c->stack[0] : NULL;
	if (type == yajl_t_array && c->sink && !c->sink->array && parent &&
	    YAJL_IS_OBJECT(parent->node) && parent->key &&
	    !strcmp(parent->key, c->sink->key))
		c->sink->array = v;
	c->stack[c->depth++] = (struct tpd_json_level){ .node = v };
	return 1;
}

/* Close the innermost container: its arrays trimmed to what they hold. */
static int tpd_json_close(void *ctx)
{
	struct tpd_json_ctx *c = ctx;
	struct tpd_json_level *l = &c->stack[--c->depth];
	yajl_val n = l->node;
	size_t len = YAJL_IS_OBJECT(n) ? n->u.object.len : n->u.array.len;
	void *p;

	if (len && len < l->cap) {
		if (YAJL_IS_OBJECT(n)) {
			p = realloc(n->u.object.keys, len * sizeof(char *));
			n->u.object.keys = p ?: n->u.object.keys;
			p = realloc(n->u.object.values, len * sizeof(yajl_val));
			n->u.object.values = p ?: n->u.object.values;
		} else {
			p = realloc(n->u.array.values, len * sizeof(yajl_val));
			n->u.array.values = p ?: n->u.array.values;
		}
	}
	return tpd_json_done(c, n);
}

/*
 * An integer as yajl_tree_parse() reads one (yajl's yajl_parse_integer(),
 * which yajl does not export): digits with an optional sign, false (yajl:
 * ERANGE) for anything else or a magnitude past LLONG_MAX.
 */
static bool tpd_json_integer(const char *s, long long *out)
{
	long long sign = 1, ret = 0;
	int d;

	if (*s == '-') {
		s++;
		sign = -1;
	}
	if (*s == '+')
		s++;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		d = *s - '0';
		if (ret > (LLONG_MAX - d) / 10)
			return false;
		ret = ret * 10 + d;
	}
	*out = sign * ret;
	return true;
}

/* A number or a string of @len bytes at @s, as yajl_tree_parse() keeps it. */
static yajl_val tpd_json_scalar(enum tp_json_kind kind, const char *s,
				size_t len)
{
	yajl_val v = tpd_json_node(kind == TP_JSON_STRING ? yajl_t_string
							  : yajl_t_number);
	char *text = v ? tpd_json_strdup((const unsigned char *)s, len) : NULL;
	char *end = NULL;

	if (!text) {
		free(v);
		return NULL;
	}
	if (kind == TP_JSON_STRING) {
		v->u.string = text;
		return v;
	}
	v->u.number.r = text;
	if (tpd_json_integer(text, &v->u.number.i))
		v->u.number.flags |= YAJL_NUMBER_INT_VALID;
	else
		v->u.number.i = text[0] == '-' ? LLONG_MIN : LLONG_MAX;
	errno = 0;
	v->u.number.d = strtod(text, &end);
	if (!errno && end && !*end)
		v->u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
	return v;
}

static int tpd_json_value(void *ctx, enum tp_json_kind kind, const char *s,
			  size_t len, int b)
{
	switch (kind) {
	case TP_JSON_MAP:
		return tpd_json_open(ctx, yajl_t_object);
	case TP_JSON_ARRAY:
		return tpd_json_open(ctx, yajl_t_array);
	case TP_JSON_NULL:
		return tpd_json_done(ctx, tpd_json_node(yajl_t_null));
	case TP_JSON_BOOL:
		return tpd_json_done(
			ctx, tpd_json_node(b ? yajl_t_true : yajl_t_false));
	default:
		return tpd_json_done(ctx, tpd_json_scalar(kind, s, len));
	}
}

static int tpd_json_key(void *ctx, const unsigned char *s, size_t len)
{
	struct tpd_json_ctx *c = ctx;
	struct tpd_json_level *l = &c->stack[c->depth - 1];

	free(l->key);
	l->key = tpd_json_strdup(s, len);
	if (!l->key)
		c->nomem = true;
	return l->key != NULL;
}

/* After a failure: the open containers, their pending keys, the root. */
static void tpd_json_free_ctx(struct tpd_json_ctx *c)
{
	while (c->depth) {
		c->depth--;
		free(c->stack[c->depth].key);
		yajl_tree_free(c->stack[c->depth].node);
	}
	free(c->stack);
	yajl_tree_free(c->root);
}

/**
 * tpd_json_parse() - yajl_tree_parse() of @text, @sink's array handed over.
 * @text:   the JSON text.
 * @len:    its length.
 * @sink:   the root object's array to give @sink->fn element by element
 *          (in the tree it stays, empty), or NULL.
 * @err:    yajl's message on failure, as yajl_tree_parse() gives it.
 * @errlen: its room.
 *
 * Return: the tree (yajl_tree_free() it), or NULL on a failure.
 */
yajl_val tpd_json_parse(const char *text, size_t len,
			struct tpd_json_sink *sink, char *err, size_t errlen)
{
	struct tpd_json_ctx c = { .sink = sink };
	const struct tp_json_reader r = { .value = tpd_json_value,
					  .key = tpd_json_key,
					  .end = tpd_json_close,
					  .ctx = &c };
	unsigned char *msg;
	yajl_status st;
	yajl_handle h;

	if (err && errlen)
		memset(err, 0, errlen);
	if (sink)
		sink->array = NULL;
	h = tp_json_reader_alloc(&r);
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	yajl_config(h, yajl_allow_comments, 1);
	yajl_parse(h, (const unsigned char *)text, len);
	st = yajl_complete_parse(h);
	if (st != yajl_status_ok || c.nomem) {
		if (c.nomem) {
			snprintf(err, errlen, "out of memory");
		} else {
			msg = yajl_get_error(h, 1, (const unsigned char *)text,
					     len);
			snprintf(err, errlen, "%s", msg ? (char *)msg : "");
			yajl_free_error(h, msg);
		}
		yajl_free(h);
		tpd_json_free_ctx(&c);
		if (sink)
			sink->array = NULL;
		return NULL;
	}
	yajl_free(h);
	free(c.stack);
	return c.root;
}
