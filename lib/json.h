/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * JSON output through yajl's generator: one writer per output stream,
 * one document at a time, each ended by a newline.  The helpers keep the
 * first generator error so a caller checks once, at the end of the
 * document, instead of after every value.
 */
#ifndef TAILPLANE_LIB_JSON_H
#define TAILPLANE_LIB_JSON_H

#include <stdbool.h>
#include <stdio.h>

#include <linux/types.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

/**
 * struct tp_json - a JSON writer.
 * @gen:    the yajl generator; its output goes to @out.
 * @out:    the stream documents are written to.
 * @pretty: indented output (yajl_gen_beautify).
 * @status: the first yajl_gen_status other than yajl_gen_status_ok, or
 *          yajl_gen_status_ok.
 */
struct tp_json {
	yajl_gen gen;
	FILE *out;
	bool pretty;
	yajl_gen_status status;
};

int tp_json_init(struct tp_json *j, FILE *out, bool pretty);
void tp_json_free(struct tp_json *j);
int tp_json_doc_end(struct tp_json *j);

void tp_json_obj_open(struct tp_json *j);
void tp_json_obj_close(struct tp_json *j);
void tp_json_arr_open(struct tp_json *j);
void tp_json_arr_close(struct tp_json *j);
void tp_json_key(struct tp_json *j, const char *key);
void tp_json_str(struct tp_json *j, const char *s);
void tp_json_u64(struct tp_json *j, __u64 v);
void tp_json_s64(struct tp_json *j, long long v);
void tp_json_bool(struct tp_json *j, bool v);
void tp_json_null(struct tp_json *j);

void tp_json_kv_str(struct tp_json *j, const char *key, const char *s);
void tp_json_kv_u64(struct tp_json *j, const char *key, __u64 v);
void tp_json_kv_s64(struct tp_json *j, const char *key, long long v);
void tp_json_kv_bool(struct tp_json *j, const char *key, bool v);
void tp_json_kv_null(struct tp_json *j, const char *key);

int tp_json_error_doc(struct tp_json *j, const char *msg);

/*
 * JSON input through yajl's parser, for the streaming readers (the
 * Kubernetes decoder, the Tailscale status): every value, whatever its
 * type, reaches one callback with its kind; numbers come as written.
 */
enum tp_json_kind {
	TP_JSON_NULL,
	TP_JSON_BOOL,
	TP_JSON_NUMBER,
	TP_JSON_STRING,
	TP_JSON_MAP,
	TP_JSON_ARRAY,
};

/**
 * struct tp_json_reader - what a streaming parse calls, each with @ctx.
 * @value: a value of @kind: @s/@len the text of a number or a string,
 *         @b a boolean; a map or an array opening gets (NULL, 0, 0).
 * @key:   a key of the innermost map.
 * @end:   the innermost map or array closes.
 * @ctx:   the reader's state.
 *
 * Each returns nonzero to go on, 0 to cancel the parse.
 */
struct tp_json_reader {
	int (*value)(void *ctx, enum tp_json_kind kind, const char *s,
		     size_t len, int b);
	int (*key)(void *ctx, const unsigned char *key, size_t len);
	int (*end)(void *ctx);
	void *ctx;
};

yajl_handle tp_json_reader_alloc(const struct tp_json_reader *r);

#endif /* TAILPLANE_LIB_JSON_H */
