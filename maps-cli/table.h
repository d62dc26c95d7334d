/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Aligned text tables and human units for tpctl's plain output. */
#ifndef TPCTL_TABLE_H
#define TPCTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <linux/types.h>

/* Big enough for any of the tpctl_fmt_*() results. */
#define TPCTL_UNIT_STRLEN 24

/**
 * struct tpctl_col - a column.
 * @name:  the header.
 * @right: right-aligned (numbers); left otherwise.
 */
struct tpctl_col {
	const char *name;
	bool right;
};

/**
 * struct tpctl_table - rows of text cells under a header.
 * @cols:   the columns.
 * @n_cols: their number.
 * @cells:  the cells, row after row (@n_cols per row).
 * @n:      cells so far.
 * @cap:    room in @cells.
 * @oom:    an allocation failed; the table prints what it holds.
 */
struct tpctl_table {
	const struct tpctl_col *cols;
	size_t n_cols;
	char **cells;
	size_t n, cap;
	bool oom;
};

void tpctl_table_init(struct tpctl_table *t, const struct tpctl_col *cols,
		      size_t n_cols);
void tpctl_table_cell(struct tpctl_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void tpctl_table_blank(struct tpctl_table *t, size_t n);
void tpctl_table_print(const struct tpctl_table *t, FILE *out);
void tpctl_table_free(struct tpctl_table *t);

char *tpctl_fmt_count(__u64 v, char *buf, size_t len);
char *tpctl_fmt_bytes(__u64 v, char *buf, size_t len);
char *tpctl_fmt_duration(__u64 secs, char *buf, size_t len);

#endif /* TPCTL_TABLE_H */
