/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The configuration's JSON as a yajl tree, built from yajl's callbacks,
 * with one array of the root object handed over element by element
 * instead of kept: 10,000 services as a tree were 9 MB of small
 * allocations, the loader's peak memory.
 */
#ifndef TAILPLANED_CONFIG_JSON_H
#define TAILPLANED_CONFIG_JSON_H

#include <stddef.h>

#include <yajl/yajl_tree.h>

/*
 * Called with each element of the sunk array in turn, and its index; the
 * element is freed when it returns.
 */
typedef void (*tpd_json_sink_fn)(void *ctx, yajl_val elem, size_t index);

/**
 * struct tpd_json_sink - the root object's array to hand over.
 * @key:   its key in the root object.
 * @fn:    given each element.
 * @ctx:   passed to @fn.
 * @array: set to the array's node in the tree (left empty), NULL when the
 *         root has no such array.
 */
struct tpd_json_sink {
	const char *key;
	tpd_json_sink_fn fn;
	void *ctx;
	yajl_val array;
};

yajl_val tpd_json_parse(const char *text, size_t len,
			struct tpd_json_sink *sink, char *err, size_t errlen);

#endif /* TAILPLANED_CONFIG_JSON_H */
