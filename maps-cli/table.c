// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Plain output: a table is collected whole, then printed with each column
 * as wide as its widest cell, two spaces between columns and no trailing
 * blanks.  Numbers in human units: counts in SI steps (1.2K, 3.4M),
 * bytes in IEC steps (1.5KiB), durations as 1h02m.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "table.h"

/** tpctl_table_init() - an empty table with columns @cols. */
void tpctl_table_init(struct tpctl_table *t, const struct tpctl_col *cols,
		      size_t n_cols)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	t->n_cols = n_cols;
}

/**
 * tpctl_table_cell() - append a cell; every @n_cols cells make a row.
 * @t:   the table.
 * @fmt: printf format of the cell's text.
 */
void tpctl_table_cell(struct tpctl_table *t, const char *fmt, ...)
{
	char *cell = NULL;
	va_list ap;

	if (tp_array_grow((void **)&t->cells, &t->cap, t->n + 1,
			  sizeof(*t->cells), 64)) {
		t->oom = true;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&cell, fmt, ap) < 0)
		cell = NULL;
	va_end(ap);
	if (!cell)
		t->oom = true;
	t->cells[t->n++] = cell;
}

/** tpctl_table_blank() - append @n empty cells. */
void tpctl_table_blank(struct tpctl_table *t, size_t n)
{
	while (n--)
		tpctl_table_cell(t, "%s", "");
}

static size_t tpctl_cell_width(const char *s)
{
	return s ? strlen(s) : 0;
}

/* One line: cells up to the last non-empty one, no trailing blanks. */
static void tpctl_table_line(const struct tpctl_table *t, FILE *out,
			     const size_t *width, char *const *row)
{
	size_t c, last = 0, pad;
	const char *s;

	for (c = 0; c < t->n_cols; c++)
		if (tpctl_cell_width(row[c]))
			last = c;
	for (c = 0; c <= last; c++) {
		s = row[c] ? row[c] : "";
		pad = width[c] - strlen(s);
		if (c)
			fputs("  ", out);
		if (t->cols[c].right)
			fprintf(out, "%*s%s", (int)pad, "", s);
		else if (c < last)
			fprintf(out, "%s%*s", s, (int)pad, "");
		else
			fputs(s, out);
	}
	fputc('\n', out);
}

/** tpctl_table_print() - the header and every complete row. */
void tpctl_table_print(const struct tpctl_table *t, FILE *out)
{
	size_t *width = calloc(t->n_cols, sizeof(*width));
	char **header = calloc(t->n_cols, sizeof(*header));
	size_t c, i, rows = t->n / t->n_cols;

	if (!width || !header)
		goto cleanup;
	for (c = 0; c < t->n_cols; c++) {
		header[c] = (char *)t->cols[c].name;
		width[c] = strlen(header[c]);
	}
	for (i = 0; i < rows * t->n_cols; i++) {
		c = i % t->n_cols;
		if (tpctl_cell_width(t->cells[i]) > width[c])
			width[c] = tpctl_cell_width(t->cells[i]);
	}
	tpctl_table_line(t, out, width, header);
	for (i = 0; i < rows; i++)
		tpctl_table_line(t, out, width, t->cells + i * t->n_cols);
cleanup:
	free(header);
	free(width);
}

/** tpctl_table_free() - release the cells. */
void tpctl_table_free(struct tpctl_table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n = t->cap = 0;
}

/* @v scaled by @step until below it, with one decimal under 10 units. */
static char *tpctl_fmt_scaled(__u64 v, unsigned int step,
			      const char *const *units, size_t n_units,
			      const char *suffix, char *buf, size_t len)
{
	double d = (double)v;
	size_t u = 0;

	if (v < step) {
		snprintf(buf, len, "%llu%s", (unsigned long long)v, suffix);
		return buf;
	}
	while (d >= step && u + 1 < n_units) {
		d /= step;
		u++;
	}
	if (d < 9.95)
		snprintf(buf, len, "%.1f%s", d, units[u]);
	else
		snprintf(buf, len, "%.0f%s", d, units[u]);
	return buf;
}

/** tpctl_fmt_count() - 999, 1.2K, 35M, 1.0G (steps of 1000). */
char *tpctl_fmt_count(__u64 v, char *buf, size_t len)
{
	static const char *const units[] = { "", "K", "M", "G", "T", "P", "E" };

	return tpctl_fmt_scaled(v, 1000, units, 7, "", buf, len);
}

/** tpctl_fmt_bytes() - 512B, 1.5KiB, 20MiB (steps of 1024). */
char *tpctl_fmt_bytes(__u64 v, char *buf, size_t len)
{
	static const char *const units[] = { "B",   "KiB", "MiB", "GiB",
					     "TiB", "PiB", "EiB" };

	return tpctl_fmt_scaled(v, 1024, units, 7, "B", buf, len);
}

/** tpctl_fmt_duration() - 45s, 5m30s, 2h03m, 3d04h. */
char *tpctl_fmt_duration(__u64 secs, char *buf, size_t len)
{
	unsigned long long s = secs;

	if (s < 60)
		snprintf(buf, len, "%llus", s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%llud%02lluh", s / 86400, s % 86400 / 3600);
	return buf;
}
