/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef TPD_CURL_LAZY_H
#define TPD_CURL_LAZY_H

#include <stddef.h>

/*
 * libcurl, loaded when the Kubernetes source first needs it
 * (curl_lazy.c): a loader without that source never maps it, nor the
 * TLS, LDAP, Kerberos and IDN libraries it brings.
 */
int tpd_curl_load(char *err, size_t errlen);

#endif
