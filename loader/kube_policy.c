// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * STUB of the NetworkPolicy compiler (kube_policy.h): compiles no rule.
 * Replaced whole by the real kube_policy.c at merge: nothing else
 * belongs here.  tpd_kube_selector_match() is real.
 */
#include <stdlib.h>
#include <string.h>

#include "kube_policy.h"

int tpd_kube_policy_compile(const struct tpd_kube_policy_in *in,
			    struct tpd_kube_policy_out *out,
			    void (*warn)(void *ctx, const char *policy, const char *what),
			    void *warn_ctx)
{
	(void)in;
	(void)warn;
	(void)warn_ctx;
	memset(out, 0, sizeof(*out));
	return 0;
}

void tpd_kube_policy_free(struct tpd_kube_policy_out *out)
{
	free(out->rules);
	free(out->idents);
	memset(out, 0, sizeof(*out));
}

static const char *tpd_label_get(const struct tpd_kube_label *labels, size_t n,
				 const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(labels[i].key, key))
			return labels[i].value;
	return NULL;
}

bool tpd_kube_selector_match(const struct tpd_kube_selector *sel,
			     const struct tpd_kube_label *labels, size_t n)
{
	size_t i, j;

	for (i = 0; i < sel->n_match; i++) {
		const char *v = tpd_label_get(labels, n, sel->match[i].key);

		if (!v || strcmp(v, sel->match[i].value))
			return false;
	}
	for (i = 0; i < sel->n_exprs; i++) {
		const struct tpd_kube_sel_expr *e = &sel->exprs[i];
		const char *v = tpd_label_get(labels, n, e->key);
		bool in = false;

		for (j = 0; v && j < e->n_values; j++)
			in = in || !strcmp(v, e->values[j]);
		if ((e->op == TPD_KUBE_SEL_IN && !in) || (e->op == TPD_KUBE_SEL_NOT_IN && in) ||
		    (e->op == TPD_KUBE_SEL_EXISTS && !v) ||
		    (e->op == TPD_KUBE_SEL_NOT_EXISTS && v))
			return false;
	}
	return true;
}
