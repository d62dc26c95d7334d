// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tailplaned's configuration (loader/config.c): the input as the text of
 * a configuration, through tpd_config_parse(), and as a file (a memfd)
 * through tpd_config_load(), which must come to the same answer.  A
 * rejected file has a one-line reason; an accepted one the shape the
 * loader relies on.
 */

#include "addr.h"
#include "config.h"
#include "fuzz.h"

static void fuzz_check_cfg(const struct tpd_config *cfg)
{
	struct tp_addr masked;
	size_t i;

	FUZZ_CHECK(cfg->n_ifaces >= 1 && cfg->ifaces, "no interfaces");
	FUZZ_CHECK(tpd_config_knobs_equal(cfg, cfg),
		   "knobs differ from themselves");
	for (i = 0; i < cfg->n_ifaces; i++) {
		FUZZ_CHECK(cfg->ifaces[i].name[0],
			   "interfaces[%zu]: empty name", i);
		FUZZ_CHECK(tpd_config_iface(cfg, cfg->ifaces[i].name) ==
				   &cfg->ifaces[i],
			   "interfaces[%zu]: '%s' twice", i,
			   cfg->ifaces[i].name);
	}
	for (i = 0; i < cfg->n_idents; i++) {
		if (!cfg->idents[i].cidr[0])
			continue;
		FUZZ_CHECK(cfg->idents[i].plen <= 128, "identities[%zu]: /%u",
			   i, cfg->idents[i].plen);
		masked = cfg->idents[i].prefix;
		FUZZ_CHECK(tp_prefix_contains(&masked, cfg->idents[i].plen,
					      &masked),
			   "identities[%zu]", i);
	}
	for (i = 0; i < cfg->n_services; i++)
		FUZZ_CHECK(!cfg->services[i].n_backends ==
				   !cfg->services[i].backends,
			   "services[%zu]: %zu backends", i,
			   cfg->services[i].n_backends);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *text = fuzz_cstr(data, len), err[512] = "", err2[512] = "";
	struct tpd_config cfg, cfg2;
	int ret, ret2;

	ret = tpd_config_parse(text, &cfg, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM, "returned %d",
		   ret);
	if (ret) {
		FUZZ_CHECK(err[0] && !strchr(err, '\n'), "error '%s'", err);
	} else {
		fuzz_check_cfg(&cfg);
	}

	/* the same text as a file: up to its first NUL, as read */
	ret2 = tpd_config_load(fuzz_file(data, len), &cfg2, err2, sizeof(err2));
	FUZZ_CHECK(ret2 == ret && !strcmp(err, err2),
		   "parse: %d '%s', load: %d '%s'", ret, err, ret2, err2);
	if (!ret)
		FUZZ_CHECK(cfg.n_ifaces == cfg2.n_ifaces &&
				   cfg.n_idents == cfg2.n_idents &&
				   cfg.n_services == cfg2.n_services &&
				   cfg.n_policies == cfg2.n_policies,
			   "the file read differently");
	tpd_config_free(&cfg);
	tpd_config_free(&cfg2);
	free(text);
	return 0;
}
