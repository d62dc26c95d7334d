// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "log.h"

enum tpd_log_level tpd_log_min = TPD_LOG_INFO;

static const char *const tpd_level_names[] = { "debug", "info", "warn",
					       "error" };

/** tpd_log_level_parse() - "debug", "info", "warn" or "error". */
int tpd_log_level_parse(const char *s, enum tpd_log_level *level)
{
	int i;

	for (i = 0; i <= TPD_LOG_ERROR; i++) {
		if (!strcmp(s, tpd_level_names[i])) {
			*level = i;
			return 0;
		}
	}
	return -1;
}

/**
 * tpd_log_library() - one line a library printed, as a log record.
 * @level:  the level it is logged at (a line below tpd_log_min is dropped
 *          before it is formatted: libbpf's debug output is large).
 * @source: the library, the record's message ("libbpf", "libxdp").
 * @fmt:    its printf format, @ap its arguments.
 *
 * The library's trailing newline is cut; the text goes in "detail".
 */
void tpd_log_library(enum tpd_log_level level, const char *source,
		     const char *fmt, va_list ap)
{
	char buf[512];
	size_t len;

	if (level < tpd_log_min)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[len - 1] = 0;
	tpd_log(level, source, "detail", buf, NULL);
}

/**
 * tpd_one_line() - a message made safe to print as one line.
 * @dst: where it goes, NUL-terminated (cut to fit, never in an escape).
 * @len: its size.
 * @src: the message.
 *
 * Reasons quote what was read (a configuration value, a node key, a UAPI
 * line), which may hold any character: control characters (a newline, an
 * escape sequence) become \\xHH.
 */
void tpd_one_line(char *dst, size_t len, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t o = 0;

	if (!len)
		return;
	for (; (c = (unsigned char)*src) && o + 1 < len; src++) {
		if (c >= 0x20 && c != 0x7f) {
			dst[o++] = (char)c;
			continue;
		}
		if (o + 4 >= len)
			break;
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 0xf];
	}
	dst[o] = '\0';
}

static void tpd_gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/**
 * tpd_log() - write one log line.
 * @level: severity; lines below tpd_log_min are dropped.
 * @msg:   the message.
 * @...:   key, value, key, value, ..., NULL (all strings).
 */
/**
 * tpd_log_fmt() - format a log field's value into @buf (see log_fmt()).
 * @buf: where.
 * @len: its size; longer text is cut.
 * @fmt: printf format.
 *
 * Return: @buf.
 */
const char *tpd_log_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return buf;
}

void tpd_log(enum tpd_log_level level, const char *msg, ...)
{
	const unsigned char *buf;
	struct timespec ts;
	char stamp[40];
	const char *k, *v;
	size_t len;
	struct tm tm;
	yajl_gen g;
	va_list ap;

	if (level < tpd_log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp),
		 ".%03ldZ", ts.tv_nsec / 1000000);

	g = yajl_gen_alloc(NULL);
	if (!g)
		return;
	yajl_gen_map_open(g);
	tpd_gen_str(g, "ts");
	tpd_gen_str(g, stamp);
	tpd_gen_str(g, "level");
	tpd_gen_str(g, tpd_level_names[level]);
	tpd_gen_str(g, "msg");
	tpd_gen_str(g, msg);
	va_start(ap, msg);
	while ((k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		tpd_gen_str(g, k);
		tpd_gen_str(g, v ? v : "");
	}
	va_end(ap);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok)
		fprintf(stderr, "%.*s\n", (int)len, buf);
	yajl_gen_free(g);
}
