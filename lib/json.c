// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * JSON writer over yajl_gen.  Strings are made valid UTF-8 before they
 * reach the generator (invalid bytes become '?'), so arbitrary input that
 * ends up in a message, such as an operator's typo, never breaks a
 * document.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static void tp_json_print(void *ctx, const char *s, size_t len)
{
	struct tp_json *j = ctx;

	fwrite(s, 1, len, j->out);
}

static void tp_json_note(struct tp_json *j, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok && j->status == yajl_gen_status_ok)
		j->status = st;
}

/**
 * tp_json_init() - set up a writer.
 * @j:      the writer; release with tp_json_free().
 * @out:    where documents go.
 * @pretty: indent with two spaces.
 *
 * Return: 0 or -ENOMEM.
 */
int tp_json_init(struct tp_json *j, FILE *out, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->pretty = pretty;
	j->status = yajl_gen_status_ok;
	j->gen = yajl_gen_alloc(NULL);
	if (!j->gen)
		return -ENOMEM;
	yajl_gen_config(j->gen, yajl_gen_print_callback, tp_json_print, j);
	if (pretty) {
		yajl_gen_config(j->gen, yajl_gen_beautify, 1);
		yajl_gen_config(j->gen, yajl_gen_indent_string, "  ");
	}
	return 0;
}

/** tp_json_free() - release a writer (NULL-safe on a zeroed one). */
void tp_json_free(struct tp_json *j)
{
	if (j->gen)
		yajl_gen_free(j->gen);
	j->gen = NULL;
}

/**
 * tp_json_doc_end() - finish the current document: a newline, then the
 * writer is ready for the next one.
 * @j: the writer.
 *
 * Return: 0, or -EINVAL when a generator call of this document failed
 * (unbalanced nesting, a key where a value belongs, ...).
 */
int tp_json_doc_end(struct tp_json *j)
{
	int err = j->status == yajl_gen_status_ok ? 0 : -EINVAL;

	/* yajl's beautifier ends a complete document with a newline itself */
	if (!j->pretty)
		fputc('\n', j->out);
	fflush(j->out);
	yajl_gen_reset(j->gen, NULL);
	yajl_gen_clear(j->gen);
	j->status = yajl_gen_status_ok;
	return err;
}

/* Length of the valid UTF-8 sequence at @s, or 0 if it is not one. */
static size_t tp_utf8_seq(const unsigned char *s, size_t left)
{
	size_t n, i;
	__u32 cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/** tp_json_str() - a string value (or key, inside an object). */
void tp_json_str(struct tp_json *j, const char *s)
{
	size_t len = strlen(s), i = 0, n;
	unsigned char *clean;

	clean = malloc(len + 1);
	if (!clean) {
		tp_json_note(j, yajl_gen_generation_complete);
		return;
	}
	memcpy(clean, s, len + 1);
	while (i < len) {
		n = tp_utf8_seq(clean + i, len - i);
		if (!n) {
			clean[i++] = '?';
			continue;
		}
		i += n;
	}
	tp_json_note(j, yajl_gen_string(j->gen, clean, len));
	free(clean);
}

/** tp_json_key() - the key of the next member of the open object. */
void tp_json_key(struct tp_json *j, const char *key)
{
	tp_json_str(j, key);
}

/** tp_json_obj_open() - open an object. */
void tp_json_obj_open(struct tp_json *j)
{
	tp_json_note(j, yajl_gen_map_open(j->gen));
}

/** tp_json_obj_close() - close the innermost object. */
void tp_json_obj_close(struct tp_json *j)
{
	tp_json_note(j, yajl_gen_map_close(j->gen));
}

/** tp_json_arr_open() - open an array. */
void tp_json_arr_open(struct tp_json *j)
{
	tp_json_note(j, yajl_gen_array_open(j->gen));
}

/** tp_json_arr_close() - close the innermost array. */
void tp_json_arr_close(struct tp_json *j)
{
	tp_json_note(j, yajl_gen_array_close(j->gen));
}

/** tp_json_u64() - an unsigned number, exact over the whole u64 range. */
void tp_json_u64(struct tp_json *j, __u64 v)
{
	char num[24];
	int len = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);

	tp_json_note(j, yajl_gen_number(j->gen, num, len));
}

/** tp_json_s64() - a signed number. */
void tp_json_s64(struct tp_json *j, long long v)
{
	tp_json_note(j, yajl_gen_integer(j->gen, v));
}

/** tp_json_bool() - true or false. */
void tp_json_bool(struct tp_json *j, bool v)
{
	tp_json_note(j, yajl_gen_bool(j->gen, v));
}

/** tp_json_null() - null. */
void tp_json_null(struct tp_json *j)
{
	tp_json_note(j, yajl_gen_null(j->gen));
}

/** tp_json_kv_str() - member @key with a string value. */
void tp_json_kv_str(struct tp_json *j, const char *key, const char *s)
{
	tp_json_key(j, key);
	tp_json_str(j, s);
}

/** tp_json_kv_u64() - member @key with an unsigned number. */
void tp_json_kv_u64(struct tp_json *j, const char *key, __u64 v)
{
	tp_json_key(j, key);
	tp_json_u64(j, v);
}

/** tp_json_kv_s64() - member @key with a signed number. */
void tp_json_kv_s64(struct tp_json *j, const char *key, long long v)
{
	tp_json_key(j, key);
	tp_json_s64(j, v);
}

/** tp_json_kv_bool() - member @key with true or false. */
void tp_json_kv_bool(struct tp_json *j, const char *key, bool v)
{
	tp_json_key(j, key);
	tp_json_bool(j, v);
}

/** tp_json_kv_null() - member @key with null. */
void tp_json_kv_null(struct tp_json *j, const char *key)
{
	tp_json_key(j, key);
	tp_json_null(j);
}

/**
 * tp_json_error_doc() - a whole document {"error": @msg}.
 * @j:   the writer, between documents.
 * @msg: the message.
 *
 * Return: as tp_json_doc_end().
 */
int tp_json_error_doc(struct tp_json *j, const char *msg)
{
	tp_json_obj_open(j);
	tp_json_kv_str(j, "error", msg);
	tp_json_obj_close(j);
	return tp_json_doc_end(j);
}

/* ---- streaming input ----------------------------------------------------- */

static int tp_json_on_null(void *ctx)
{
	const struct tp_json_reader *r = ctx;

	return r->value(r->ctx, TP_JSON_NULL, NULL, 0, 0);
}

static int tp_json_on_bool(void *ctx, int b)
{
	const struct tp_json_reader *r = ctx;

	return r->value(r->ctx, TP_JSON_BOOL, NULL, 0, b);
}

static int tp_json_on_number(void *ctx, const char *s, size_t len)
{
	const struct tp_json_reader *r = ctx;

	return r->value(r->ctx, TP_JSON_NUMBER, s, len, 0);
}

static int tp_json_on_string(void *ctx, const unsigned char *s, size_t len)
{
	const struct tp_json_reader *r = ctx;

	return r->value(r->ctx, TP_JSON_STRING, (const char *)s, len, 0);
}

static int tp_json_on_start_map(void *ctx)
{
	const struct tp_json_reader *r = ctx;

	return r->value(r->ctx, TP_JSON_MAP, NULL, 0, 0);
}

static int tp_json_on_start_array(void *ctx)
{
	const struct tp_json_reader *r = ctx;

	return r->value(r->ctx, TP_JSON_ARRAY, NULL, 0, 0);
}

static int tp_json_on_key(void *ctx, const unsigned char *key, size_t len)
{
	const struct tp_json_reader *r = ctx;

	return r->key(r->ctx, key, len);
}

static int tp_json_on_end(void *ctx)
{
	const struct tp_json_reader *r = ctx;

	return r->end(r->ctx);
}

/* yajl_number set: numbers as written, never yajl's integer or double */
static const yajl_callbacks tp_json_reader_callbacks = {
	.yajl_null = tp_json_on_null,
	.yajl_boolean = tp_json_on_bool,
	.yajl_number = tp_json_on_number,
	.yajl_string = tp_json_on_string,
	.yajl_start_map = tp_json_on_start_map,
	.yajl_map_key = tp_json_on_key,
	.yajl_end_map = tp_json_on_end,
	.yajl_start_array = tp_json_on_start_array,
	.yajl_end_array = tp_json_on_end,
};

/**
 * tp_json_reader_alloc() - a yajl parser whose events go to @r.
 * @r: the reader; must outlive the parser (yajl_free()).
 *
 * Return: the parser, or NULL on no memory.
 */
yajl_handle tp_json_reader_alloc(const struct tp_json_reader *r)
{
	return yajl_alloc(&tp_json_reader_callbacks, NULL, (void *)r);
}
