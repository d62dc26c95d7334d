// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The policy packet tests' identity plan; see policytest.h. */
#include "policytest.h"

/* The identities of the plan, as tpctl writes them. */
void pol_identities(struct th *h)
{
	pt_ident(h, TH_ZONE, "100.64.0.0/24", ID_CLIENT);
	pt_ident(h, TH_ZONE, "fd7a:115c:a1e0::/64", ID_CLIENT);
	pt_ident(h, 0, "198.18.1.0/24", ID_WEB);
	pt_ident(h, 0, "fd00:198:18::1:0/112", ID_WEB);
	pt_ident(h, 0, "198.18.2.1/32", ID_DB);
	pt_ident(h, TH_ZONE2, TH_ZONE2_NET4, ID_OTHER);
}

/* cmocka setup: pt_setup() with the plan's identities installed. */
int pol_setup(void **state)
{
	return pt_setup_with(state, pol_identities);
}
