/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * JSON logs on stderr, one object per line:
 *   {"ts":"2026-11-21T23:59:01.123Z","level":"info","msg":"...","iface":"wg0"}
 * Extra fields come as NULL-terminated key/value string pairs.
 */
#ifndef TAILPLANED_LOG_H
#define TAILPLANED_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum tpd_log_level {
	TPD_LOG_DEBUG = 0,
	TPD_LOG_INFO = 1,
	TPD_LOG_WARN = 2,
	TPD_LOG_ERROR = 3,
};

extern enum tpd_log_level tpd_log_min;

int tpd_log_level_parse(const char *s, enum tpd_log_level *level);
void tpd_one_line(char *dst, size_t len, const char *src);
void tpd_log(enum tpd_log_level level, const char *msg, ...)
	__attribute__((sentinel));
void tpd_log_library(enum tpd_log_level level, const char *source,
		     const char *fmt, va_list ap);

const char *tpd_log_fmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A formatted field value, for the key/value pairs of the log_*() calls:
 *   log_info("peers synced", "added", log_fmt("%u", n));
 * The text lives in a compound literal, until the end of the enclosing
 * block: long enough for the call it is an argument of.
 */
#define TPD_LOG_FMT_MAX 96
#define log_fmt(...) \
	tpd_log_fmt((char[TPD_LOG_FMT_MAX]){ 0 }, TPD_LOG_FMT_MAX, __VA_ARGS__)

#define log_debug(...) tpd_log(TPD_LOG_DEBUG, __VA_ARGS__, NULL)
#define log_info(...)  tpd_log(TPD_LOG_INFO, __VA_ARGS__, NULL)
#define log_warn(...)  tpd_log(TPD_LOG_WARN, __VA_ARGS__, NULL)
#define log_error(...) tpd_log(TPD_LOG_ERROR, __VA_ARGS__, NULL)

#endif /* TAILPLANED_LOG_H */
