// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libcurl loaded with dlopen() when a source first needs it.
 *
 * Linked, libcurl maps about 3.7 MiB of libraries into every tailplaned
 * (its TLS stacks, Kerberos, LDAP, SSH, IDN, compression), resident from
 * the first instruction, whether or not the configuration uses the
 * Kubernetes source, the only one that speaks HTTPS (the Tailscale
 * source's plain HTTP over a unix socket goes through unix_http.c).
 * Loaded here, a loader without it never maps them.
 *
 * The functions below carry libcurl's own names, so kube_client.c calls
 * libcurl as it would a linked one, curl.h's type checks of
 * curl_easy_setopt() and curl_easy_getinfo() included; each
 * forwards to the function dlsym() found in the loaded library (the
 * library's own, so a libcurl that calls its public functions internally
 * reaches itself, never these).  Called before tpd_curl_load() succeeded
 * they fail as libcurl does when uninitialised.
 *
 * libcurl stays a required library (the runtime package libcurl4): only
 * when its library is mapped changes.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* the definitions below are the functions themselves, not the checks */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "curl_lazy.h"

/* the SONAME: ABI 4 since libcurl 7.16 */
#define TPD_CURL_LIB "libcurl.so.4"

static struct tpd_curl_fns {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	CURLcode (*easy_perform)(CURL *c);
	void (*easy_cleanup)(CURL *c);
	const char *(*easy_strerror)(CURLcode rc);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
	CURLMcode (*multi_add_handle)(CURLM *m, CURL *c);
	CURLMcode (*multi_remove_handle)(CURLM *m, CURL *c);
	CURLMcode (*multi_perform)(CURLM *m, int *running);
	CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd *extra,
				unsigned int n_extra, int timeout_ms,
				int *numfds);
	CURLMcode (*multi_wakeup)(CURLM *m);
	CURLMsg *(*multi_info_read)(CURLM *m, int *left);
	CURLMcode (*multi_cleanup)(CURLM *m);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
} tpd_curl;

#define TPD_CURL_FN(field)                                           \
	{                                                            \
		"curl_" #field, offsetof(struct tpd_curl_fns, field) \
	}

static const struct {
	const char *name;
	size_t off;
} tpd_curl_syms[] = {
	TPD_CURL_FN(global_init),	  TPD_CURL_FN(easy_init),
	TPD_CURL_FN(easy_setopt),	  TPD_CURL_FN(easy_getinfo),
	TPD_CURL_FN(easy_perform),	  TPD_CURL_FN(easy_cleanup),
	TPD_CURL_FN(easy_strerror),	  TPD_CURL_FN(multi_init),
	TPD_CURL_FN(multi_setopt),	  TPD_CURL_FN(multi_add_handle),
	TPD_CURL_FN(multi_remove_handle), TPD_CURL_FN(multi_perform),
	TPD_CURL_FN(multi_poll),	  TPD_CURL_FN(multi_wakeup),
	TPD_CURL_FN(multi_info_read),	  TPD_CURL_FN(multi_cleanup),
	TPD_CURL_FN(slist_append),	  TPD_CURL_FN(slist_free_all),
};

static pthread_once_t tpd_curl_once = PTHREAD_ONCE_INIT;
/* set once by tpd_curl_open(): true when every function was found */
static bool tpd_curl_ok;
static char tpd_curl_err[256];

/* Every function of tpd_curl_syms from @lib; false with the reason kept. */
static bool tpd_curl_resolve(void *lib)
{
	struct tpd_curl_fns fns;
	size_t i;
	void *f;

	for (i = 0; i < sizeof(tpd_curl_syms) / sizeof(tpd_curl_syms[0]); i++) {
		f = dlsym(lib, tpd_curl_syms[i].name);
		if (!f) {
			snprintf(tpd_curl_err, sizeof(tpd_curl_err),
				 "%s: no %s", TPD_CURL_LIB,
				 tpd_curl_syms[i].name);
			return false;
		}
		memcpy((char *)&fns + tpd_curl_syms[i].off, &f, sizeof(f));
	}
	tpd_curl = fns;
	return true;
}

static void tpd_curl_open(void)
{
	void *lib = dlopen(TPD_CURL_LIB, RTLD_NOW | RTLD_LOCAL);
	CURLcode rc;

	if (!lib) {
		snprintf(tpd_curl_err, sizeof(tpd_curl_err), "%s", dlerror());
		return;
	}
	/* never closed: its handles and global state live as long as we do */
	if (!tpd_curl_resolve(lib))
		return;
	/* no less to ask for: since libcurl 7.57, TLS is set up in any case */
	rc = tpd_curl.global_init(CURL_GLOBAL_DEFAULT);
	if (rc) {
		snprintf(tpd_curl_err, sizeof(tpd_curl_err), "libcurl: %s",
			 tpd_curl.easy_strerror(rc));
		return;
	}
	tpd_curl_ok = true;
}

/**
 * tpd_curl_load() - map libcurl and initialise it, once per process.
 * @err:    the reason on error.
 * @errlen: its size.
 *
 * Safe from any thread; later calls return what the first found.
 *
 * Return: 0, or -ENOENT with @err set (no library, a function missing,
 * or curl_global_init() failed).
 */
int tpd_curl_load(char *err, size_t errlen)
{
	pthread_once(&tpd_curl_once, tpd_curl_open);
	if (tpd_curl_ok)
		return 0;
	if (err && errlen)
		snprintf(err, errlen, "%s", tpd_curl_err);
	return -ENOENT;
}

/* ---- libcurl's functions, forwarded ---------------------------------------------- */

CURL *curl_easy_init(void)
{
	return tpd_curl_ok ? tpd_curl.easy_init() : NULL;
}

/*
 * @fn(@h, @opt, the next argument of @ap), that argument read as libcurl
 * reads it: by the type its option's number holds (CURLOPTTYPE_*: a long,
 * an object pointer, a function pointer, a curl_off_t, a blob's pointer).
 * CURLMOPT_* numbers carry their type the same way.
 */
#define TPD_CURL_PASS_OPT(fn, h, opt, ap)                                  \
	((opt) < CURLOPTTYPE_OBJECTPOINT ? (fn)(h, opt, va_arg(ap, long))  \
	 : (opt) < CURLOPTTYPE_FUNCTIONPOINT                               \
		 ? (fn)(h, opt, va_arg(ap, void *))                        \
	 : (opt) < CURLOPTTYPE_OFF_T                                       \
		 ? (fn)(h, opt, va_arg(ap, void (*)(void)))                \
	 : (opt) < CURLOPTTYPE_BLOB ? (fn)(h, opt, va_arg(ap, curl_off_t)) \
				    : (fn)(h, opt, va_arg(ap, void *)))

/* libcurl's @name(handle, option, value), @field of tpd_curl */
#define TPD_CURL_SETOPT_FN(name, field, handle_t, opt_t, rc_t, unloaded) \
	rc_t name(handle_t *h, opt_t opt, ...)                           \
	{                                                                \
		rc_t rc;                                                 \
		va_list ap;                                              \
                                                                         \
		if (!tpd_curl_ok)                                        \
			return unloaded;                                 \
		va_start(ap, opt);                                       \
		rc = TPD_CURL_PASS_OPT(tpd_curl.field, h, opt, ap);      \
		va_end(ap);                                              \
		return rc;                                               \
	}

TPD_CURL_SETOPT_FN(curl_easy_setopt, easy_setopt, CURL, CURLoption, CURLcode,
		   CURLE_FAILED_INIT)
TPD_CURL_SETOPT_FN(curl_multi_setopt, multi_setopt, CURLM, CURLMoption,
		   CURLMcode, CURLM_BAD_HANDLE)

/* every CURLINFO_* takes a pointer to where its value goes */
CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	CURLcode rc;
	va_list ap;

	if (!tpd_curl_ok)
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	rc = tpd_curl.easy_getinfo(c, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *c)
{
	return tpd_curl_ok ? tpd_curl.easy_perform(c) : CURLE_FAILED_INIT;
}

void curl_easy_cleanup(CURL *c)
{
	if (tpd_curl_ok)
		tpd_curl.easy_cleanup(c);
}

const char *curl_easy_strerror(CURLcode rc)
{
	return tpd_curl_ok ? tpd_curl.easy_strerror(rc) : "libcurl not loaded";
}

CURLM *curl_multi_init(void)
{
	return tpd_curl_ok ? tpd_curl.multi_init() : NULL;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *c)
{
	return tpd_curl_ok ? tpd_curl.multi_add_handle(m, c) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *c)
{
	return tpd_curl_ok ? tpd_curl.multi_remove_handle(m, c)
			   : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
	return tpd_curl_ok ? tpd_curl.multi_perform(m, running)
			   : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd *extra,
			  unsigned int n_extra, int timeout_ms, int *numfds)
{
	return tpd_curl_ok ? tpd_curl.multi_poll(m, extra, n_extra, timeout_ms,
						 numfds)
			   : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_wakeup(CURLM *m)
{
	return tpd_curl_ok ? tpd_curl.multi_wakeup(m) : CURLM_BAD_HANDLE;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
	if (!tpd_curl_ok) {
		*left = 0;
		return NULL;
	}
	return tpd_curl.multi_info_read(m, left);
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
	return tpd_curl_ok ? tpd_curl.multi_cleanup(m) : CURLM_BAD_HANDLE;
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	return tpd_curl_ok ? tpd_curl.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l)
{
	if (tpd_curl_ok)
		tpd_curl.slist_free_all(l);
}
