// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of tailplaned's parts: the configuration parser (every
 * error), owner-aware identity syncs, the static source, conntrack GC and
 * the metrics textfile, against a loaded (unpinned) datapath.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/if_arp.h>

#include "config.h"
#include "conntrack.h"
#include "datapath.h"
#include "fixture.h"
#include "gc.h"
#include "heapcount.h"
#include "identity.h"
#include "iface.h"
#include "links.h"
#include "maglev.h"
#include "metrics.h"
#include "addr.h"
#include "peers.h"
#include "pins.h"
#include "pkttest.h"
#include "policy.h"
#include "service.h"
#include "slab.h"
#include "snat.h"
#include "sync.h"
#include "tailplane.skel.h"

/* ---- configuration ------------------------------------------------------ */

/* Parse @json into @cfg, which must be accepted (the error says why not). */
static void config_ok(const char *json, struct tpd_config *cfg)
{
	char err[512] = "";

	if (tpd_config_parse(json, cfg, err, sizeof(err)))
		fail_msg("refused: %s\n  %s", err, json);
}

static void test_config_minimal(void **state)
{
	struct tpd_config cfg;

	(void)state;
	config_ok(
		"{\"interfaces\":[{\"name\":\"tailscale0\",\"kind\":\"tailnet\",\"zone\":1,"
		"\"peers\":\"tailscale\"},{\"name\":\"wg0\",\"kind\":\"tailnet\",\"zone\":1,"
		"\"peers\":\"wireguard\"},{\"name\":\"eth0\",\"kind\":\"uplink\"}]}",
		&cfg);
	assert_int_equal(cfg.n_ifaces, 3);
	assert_string_equal(cfg.pin_root, TP_PIN_ROOT_DEFAULT);
	assert_int_equal(cfg.ifaces[0].peers, TPD_SRC_TAILSCALE);
	assert_int_equal(cfg.ifaces[1].peers, TPD_SRC_WIREGUARD);
	assert_int_equal(cfg.ifaces[2].kind, TPD_IFACE_UPLINK);
	assert_int_equal(cfg.ifaces[2].zone, 0);
	assert_int_equal(cfg.maglev_size, TP_MAGLEV_SIZE);
	assert_int_equal(cfg.ct_timeout[1], TP_CT_TIMEOUT_ESTABLISHED);
	tpd_config_free(&cfg);
}

static void test_config_example(void **state)
{
	struct tpd_config cfg;
	char err[256] = "";

	(void)state;
	if (tpd_config_load("deploy/tailplaned.json", &cfg, err, sizeof(err)))
		fail_msg("deploy/tailplaned.json: %s", err);
	assert_int_equal(cfg.default_policy, TP_VERDICT_DENY);
	assert_int_equal(cfg.n_services, 3);
	assert_int_equal(cfg.services[0].backends[1].weight, 2);
	assert_int_equal(cfg.services[1].backends[1].state,
			 TP_BACKEND_TERMINATING);
	assert_false(cfg.services[1].snat);
	assert_true(cfg.services[2].snat);
	assert_true(cfg.snat.auto_mode);
	assert_int_equal(cfg.snat.port_min, 61000);
	assert_int_equal(cfg.n_policies, 4);
	assert_string_equal(cfg.policies[0].port, "8080");
	assert_int_equal(cfg.n_ts_tags, 2);
	assert_string_equal(cfg.ts_tags[0].key,
			    "tag:ops"); /* file order kept */
	assert_int_equal(cfg.n_wg_peers, 1);
	assert_int_equal(cfg.metrics_interval, 15);
	tpd_config_free(&cfg);
}

static void test_config_capacity(void **state)
{
	struct tpd_config cfg;
	int i;

	(void)state;
	config_ok("{\"interfaces\":[{\"name\":\"x\"}]}", &cfg);
	for (i = 0; i < TPD_CAP_MAX; i++)
		assert_int_equal(cfg.capacity[i], tpd_capacities[i].dflt);
	assert_int_equal(cfg.capacity[TPD_CAP_CONNTRACK_TCP], TP_CT_SIZE);
	tpd_config_free(&cfg);
	config_ok("{\"interfaces\":[{\"name\":\"x\"}],\"capacity\":"
		  "{\"services\":65536,\"conntrack_tcp\":1048576,"
		  "\"rules\":131072}}",
		  &cfg);
	assert_int_equal(cfg.capacity[TPD_CAP_SERVICES], 65536);
	assert_int_equal(cfg.capacity[TPD_CAP_CONNTRACK_TCP], 1048576);
	assert_int_equal(cfg.capacity[TPD_CAP_RULES], 131072);
	assert_int_equal(cfg.capacity[TPD_CAP_BACKENDS], TP_MAX_BACKENDS);
	/* the policy trie follows the rules unless it is given */
	assert_int_equal(cfg.capacity[TPD_CAP_POLICY_ENTRIES],
			 TP_POLICY_ENTRIES(131072));
	tpd_config_free(&cfg);
	config_ok("{\"interfaces\":[{\"name\":\"x\"}],\"capacity\":"
		  "{\"rules\":1000,\"policy_entries\":500}}",
		  &cfg);
	assert_int_equal(cfg.capacity[TPD_CAP_POLICY_ENTRIES], 500);
	tpd_config_free(&cfg);
}

/* A config document that must be refused, and what its error says. */
struct refused_config {
	const char *json;
	const char *want;
};

/*
 * Each of @cases is refused with an error that begins with its want (or,
 * @anywhere, holds it somewhere); the failure names the document.
 */
static void expect_refused(const struct refused_config *cases, size_t n,
			   bool anywhere)
{
	struct tpd_config cfg;
	char err[512];
	size_t i;

	for (i = 0; i < n; i++) {
		err[0] = 0;
		if (!tpd_config_parse(cases[i].json, &cfg, err, sizeof(err)))
			fail_msg("accepted: %s", cases[i].json);
		if (anywhere ? !strstr(err, cases[i].want)
			     : strncmp(err, cases[i].want,
				       strlen(cases[i].want)))
			fail_msg("%s:\n error '%s'\n want  '%s'%s",
				 cases[i].json, err, cases[i].want,
				 anywhere ? " in it" : " at its start");
		tpd_config_free(&cfg);
	}
}

static void test_config_errors(void **state)
{
	static const struct refused_config cases[] = {
		{ "{", "not valid JSON" },
		{ "[]", "expected an object" },
		{ "{}", "at least one interface" },
		{ "{\"interfaces\":[],\"bogus\":1}", "unknown key 'bogus'" },
		{ "{\"interfaces\":[{\"kind\":\"tailnet\"}]}",
		  "interfaces[0]: missing 'name'" },
		{ "{\"interfaces\":[{\"name\":\"x\",\"kind\":\"tun\"}]}",
		  "expected tailnet or uplink" },
		{ "{\"interfaces\":[{\"name\":\"x\",\"zone\":0}]}",
		  "zone: 0 out of range" },
		{ "{\"interfaces\":[{\"name\":\"x\",\"peers\":\"zerotier\"}]}",
		  "expected none, wireguard or tailscale" },
		{ "{\"interfaces\":[{\"name\":\"x\",\"kind\":\"uplink\",\"peers\":\"wireguard\"}]}",
		  "an uplink has no peers" },
		{ "{\"interfaces\":[{\"name\":7}]}",
		  "interfaces[0].name: expected a string" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"default_policy\":\"audit\"}",
		  "expected allow or deny" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"maglev_size\":70000}",
		  "out of range" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"capacity\":{\"flows\":1}}",
		  "capacity: unknown key 'flows'" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"capacity\":{\"conntrack_tcp\":10}}",
		  "capacity.conntrack_tcp: 10 out of range" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"capacity\":{\"services\":\"many\"}}",
		  "capacity.services: expected an integer" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"capacity\":[]}",
		  "capacity: expected an object" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"identities\":[{\"id\":300}]}",
		  "needs a cidr, a name, or both" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"identities\":[{\"cidr\":\"1.2.3.4\",\"id\":3,\"name\":\"n\"}]}",
		  "only user identities" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"services\":[{\"frontend\":\"1.2.3.4:80/tcp\",\"backends\":[{\"addr\":\"5.6.7.8:80\",\"state\":\"gone\"}]}]}",
		  "expected active, terminating or maintenance" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"services\":[{\"backends\":[]}]}",
		  "services[0]: missing 'frontend'" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"policies\":[{\"from\":\"a\",\"to\":\"b\"}]}",
		  "missing 'verdict'" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"wireguard_peers\":{\"k\":[1]}}",
		  "expected an identity name or number" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"conntrack\":{\"udp\":0}}",
		  "conntrack.udp: 0 out of range" },
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"metrics\":{\"path\":\"/x\"}}",
		  "metrics: unknown key 'path'" },
	};
	struct tpd_config cfg;
	char err[256];

	(void)state;
	expect_refused(cases, sizeof(cases) / sizeof(cases[0]), true);
	/* a missing file is an error naming it */
	assert_int_not_equal(
		tpd_config_load("/nonexistent/tp.json", &cfg, err, sizeof(err)),
		0);
	assert_non_null(strstr(err, "/nonexistent/tp.json"));
	tpd_config_free(&cfg);
	/*
	 * an empty file was read fine: it is no configuration, not "cannot
	 * read" (-EIO, as for an I/O error), which sent the reader after
	 * permissions and disks (make fuzz: load and parse disagreed)
	 */
	{
		char path[] = "/tmp/tp-config-empty-XXXXXX";
		int fd = mkstemp(path), ret;

		assert_true(fd >= 0);
		close(fd);
		err[0] = 0;
		ret = tpd_config_load(path, &cfg, err, sizeof(err));
		unlink(path);
		assert_int_equal(ret, -EINVAL);
		if (!strstr(err, "not valid JSON"))
			fail_msg("empty file: error '%s'", err);
		tpd_config_free(&cfg);
	}
}

/*
 * A configuration with @n_rules policies (identity 1000+i to 2000, TCP
 * port 1000+i) and @n_svcs services (198.19.1.x:80/tcp, one backend):
 * more than any fixed-size list of what a reload removes held.
 */
static char *big_cfg(size_t n_rules, size_t n_svcs)
{
	size_t cap = 256 + n_rules * 128 + n_svcs * 160, len, i;
	char *s = malloc(cap);

	assert_non_null(s);
	len = snprintf(s, cap,
		       "{\"interfaces\":[{\"name\":\"tptun0\",\"zone\":1}],"
		       "\"policies\":[");
	for (i = 0; i < n_rules; i++)
		len += snprintf(
			s + len, cap - len,
			"%s{\"from\":\"%zu\",\"to\":\"2000\",\"proto\":\"tcp\","
			"\"port\":%zu,\"verdict\":\"allow\"}",
			i ? "," : "", 1000 + i, 1000 + i);
	len += snprintf(s + len, cap - len, "],\"services\":[");
	for (i = 0; i < n_svcs; i++)
		len += snprintf(
			s + len, cap - len,
			"%s{\"frontend\":\"198.19.%zu.%zu:80/tcp\",\"backends\":"
			"[{\"addr\":\"198.18.1.1:8080\"}]}",
			i ? "," : "", 1 + i / 200, 1 + i % 200);
	snprintf(s + len, cap - len, "]}");
	return s;
}

#define CFG_IF "{\"interfaces\":[{\"name\":\"x\",\"zone\":1}],"
#define WG_KEY "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="

/*
 * Every value is checked when the configuration is read, before anything
 * is applied: a bad one rejects the whole file with an error naming it
 * (a reload keeps what runs).  Before, ports, prefixes, frontends and
 * names were checked only while applying, and a bad entry was skipped.
 */
/* @n services of no backend; with @dup_last, the last repeats the first. */
static char *many_services_json(size_t n, bool dup_last)
{
	size_t i, k, len = 0, cap = n * 64 + 256;
	char *json = malloc(cap);

	assert_non_null(json);
	len += snprintf(json + len, cap - len,
			"{\"interfaces\":[{\"name\":\"wg0\"}],\"services\":[");
	for (i = 0; i < n; i++) {
		k = dup_last && i == n - 1 ? 0 : i;
		len += snprintf(json + len, cap - len,
				"%s{\"frontend\":\"198.19.%zu.%zu:80/tcp\","
				"\"backends\":[]}",
				i ? "," : "", k / 256, k % 256);
	}
	snprintf(json + len, cap - len, "]}");
	return json;
}

/*
 * A duplicate frontend is found however far apart the two are, and a
 * configuration of 10,000 services is checked without comparing each
 * with every earlier one (the time is printed, not asserted).
 */
static void test_config_many_services_duplicate(void **state)
{
	struct tpd_config cfg;
	struct timespec t0, t1;
	char *json, err[256];

	(void)state;
	json = many_services_json(10000, false);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(tpd_config_parse(json, &cfg, err, sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("10000 services checked in %.1f ms\n",
		      (t1.tv_sec - t0.tv_sec) * 1e3 +
			      (t1.tv_nsec - t0.tv_nsec) / 1e6);
	tpd_config_free(&cfg);
	free(json);
	json = many_services_json(10000, true);
	assert_int_not_equal(tpd_config_parse(json, &cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(
		err,
		"services[9999].frontend: 198.19.0.0:80/tcp is services[0] already"));
	tpd_config_free(&cfg);
	free(json);
}

/*
 * The services are read one by one while the file is parsed, and not
 * kept as a tree: each error is still the one a walk of the whole tree
 * gives first (duplicate keys anywhere before any value, the sections in
 * their order, the first bad service), and numbers read as before.
 */
static void test_config_services_streamed(void **state)
{
#define SVC_OK	"{\"frontend\":\"198.19.0.10:80/tcp\",\"backends\":[]}"
#define SVC_DUP "{\"frontend\":\"198.19.0.11:80/tcp\",\"zone\":1,\"zone\":2}"
#define TWO_SVCS                                                 \
	"/* c */ " CFG_IF "\"services\":[ // one\n" SVC_OK       \
	",{\"frontend\":\"198.19.0.12:80/tcp\",\"affinity\":%s," \
	"\"backends\":[{\"addr\":\"198.18.1.1:80\"}]}],\"sync_interval\":7}"
	static const struct refused_config cases[] = {
		/* a duplicate key in a later service before a bad earlier one */
		{ CFG_IF "\"services\":[{\"backends\":[]}," SVC_DUP "]}",
		  "services[1]: duplicate key 'zone'" },
		/* ... and after one in the root, wherever that is */
		{ CFG_IF "\"services\":[" SVC_DUP "],\"snat\":{},\"snat\":{}}",
		  "config: duplicate key 'snat'" },
		/* ... and after one in a section before it */
		{ "{\"identities\":[{\"id\":300,\"id\":301}],\"services\":[" SVC_DUP
		  "],\"interfaces\":[{\"name\":\"x\"}]}",
		  "identities[0]: duplicate key 'id'" },
		/* the first of two duplicates in services */
		{ CFG_IF "\"services\":[" SVC_OK "," SVC_DUP "," SVC_DUP "]}",
		  "services[1]: duplicate key 'zone'" },
		/* a bad interface is said before a bad service, read first */
		{ "{\"services\":[{\"backends\":[]}],\"interfaces\":[{\"kind\":\"tailnet\"}]}",
		  "interfaces[0]: missing 'name'" },
		/* the first bad service, not a later one */
		{ CFG_IF "\"services\":[" SVC_OK
			 ",{\"backends\":[]},{\"frontend\":7}]}",
		  "services[1]: missing 'frontend'" },
		/* a bad service before a bad policy */
		{ CFG_IF
		  "\"policies\":[{\"from\":\"a\"}],\"services\":[{\"frontend\":7}]}",
		  "services[0].frontend: expected a string" },
		/* services that are no array */
		{ CFG_IF "\"services\":{}}", "services: expected an array" },
		/* numbers: a fraction, past long long, negative */
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"affinity\":1.5}]}",
		  "services[0].affinity: expected an integer" },
		{ CFG_IF "\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\","
			 "\"affinity\":9223372036854775808}]}",
		  "services[0].affinity: expected an integer" },
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"affinity\":-1}]}",
		  "services[0].affinity: -1 out of range" },
		{ CFG_IF "\"services\":[" SVC_OK "]", "not valid JSON" },
	};
	struct tpd_config cfg;
	char err[256], doc[512];

	(void)state;
	expect_refused(cases, sizeof(cases) / sizeof(cases[0]), false);
	/* comments, as yajl_tree_parse() allowed; services in file order */
	snprintf(doc, sizeof(doc), TWO_SVCS, "9223372036");
	assert_int_equal(tpd_config_parse(doc, &cfg, err, sizeof(err)),
			 -EINVAL); /* 9223372036 is past 86400 */
	assert_non_null(
		strstr(err, "services[1].affinity: 9223372036 out of range"));
	tpd_config_free(&cfg);
	snprintf(doc, sizeof(doc), TWO_SVCS, "60");
	assert_int_equal(tpd_config_parse(doc, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_services, 2);
	assert_string_equal(cfg.services[0].frontend, "198.19.0.10:80/tcp");
	assert_int_equal(cfg.services[0].n_backends, 0);
	assert_string_equal(cfg.services[1].frontend, "198.19.0.12:80/tcp");
	assert_int_equal(cfg.services[1].affinity, 60);
	assert_int_equal(cfg.services[1].n_backends, 1);
	assert_string_equal(cfg.services[1].backends[0].addr, "198.18.1.1:80");
	assert_int_equal(cfg.sync_interval, 7);
	tpd_config_free(&cfg);
	/* an empty services array is none */
	assert_int_equal(tpd_config_parse(CFG_IF "\"services\":[]}", &cfg, err,
					  sizeof(err)),
			 0);
	assert_int_equal(cfg.n_services, 0);
	assert_null(cfg.services);
	tpd_config_free(&cfg);
#undef SVC_OK
#undef SVC_DUP
#undef TWO_SVCS
}

static void test_config_bad_values(void **state)
{
	static const struct refused_config cases[] = {
		/* identities */
		{ CFG_IF
		  "\"identities\":[{\"cidr\":\"10.0.0.0/33\",\"id\":300}]}",
		  "identities[0].cidr: '10.0.0.0/33' is not a prefix" },
		{ CFG_IF
		  "\"identities\":[{\"cidr\":\"10.0.0.300\",\"id\":300}]}",
		  "identities[0].cidr: '10.0.0.300' is not a prefix" },
		{ CFG_IF
		  "\"identities\":[{\"id\":300,\"name\":\"web server\"}]}",
		  "identities[0].name: 'web server' is not a name" },
		{ CFG_IF "\"identities\":[{\"id\":300,\"name\":\"any\"}]}",
		  "identities[0].name: 'any' is not a name" },
		{ CFG_IF
		  "\"identities\":[{\"id\":300,\"name\":\"web\"},{\"id\":301,\"name\":\"web\"}]}",
		  "identities[1].name: 'web' already names identity 300" },
		{ CFG_IF "\"identities\":[{\"cidr\":\"10.0.0.0/8\",\"id\":300},"
			 "{\"cidr\":\"10.0.0.0/8\",\"id\":301}]}",
		  "identities[1].cidr: 10.0.0.0/8 in zone 0 is already identity 300" },
		/* services */
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:80/tpc\",\"backends\":[]}]}",
		  "services[0].frontend: '198.19.0.10:80/tpc' is not VIP:PORT/PROTO" },
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:0/tcp\",\"backends\":[]}]}",
		  "services[0].frontend: '198.19.0.10:0/tcp' is not VIP:PORT/PROTO" },
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"backends\":["
		  "{\"addr\":\"198.18.1.300:80\"}]}]}",
		  "services[0].backends[0].addr: '198.18.1.300:80' is not ADDR:PORT" },
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"backends\":["
		  "{\"addr\":\"198.18.1.3\"}]}]}",
		  "services[0].backends[0].addr: '198.18.1.3' is not ADDR:PORT" },
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10/icmp\",\"backends\":["
		  "{\"addr\":\"198.18.1.3:80\"}]}]}",
		  "services[0].backends[0].addr: '198.18.1.3:80' is not an address" },
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"backends\":["
		  "{\"addr\":\"[fd00:198:18::1:1]:8080\"}]}]}",
		  "services[0]: backend [fd00:198:18::1:1]:8080 is IPv6 but the VIP" },
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"backends\":[]},"
		  "{\"frontend\":\"198.19.0.10:80/tcp\",\"backends\":[]}]}",
		  "services[1].frontend: 198.19.0.10:80/tcp is services[0] already" },
		/* policies */
		{ CFG_IF
		  "\"policies\":[{\"from\":\"any\",\"to\":\"any\",\"proto\":\"tcp\","
		  "\"port\":\"80-70\",\"verdict\":\"allow\"}]}",
		  "policies[0].port: '80-70' is not a port or range" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"any\",\"to\":\"any\",\"proto\":\"tcp\","
		  "\"port\":\"8o80\",\"verdict\":\"allow\"}]}",
		  "policies[0].port: '8o80' is not a port or range" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"any\",\"to\":\"any\",\"proto\":\"tcp\","
		  "\"port\":70000,\"verdict\":\"allow\"}]}",
		  "policies[0].port: '70000' is not a port or range" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"any\",\"to\":\"any\",\"proto\":\"tpc\","
		  "\"verdict\":\"allow\"}]}",
		  "policies[0].proto: 'tpc' is not a protocol" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"any\",\"to\":\"any\",\"proto\":\"icmp\","
		  "\"port\":80,\"verdict\":\"allow\"}]}",
		  "policies[0].port: ports need proto tcp or udp" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"any\",\"to\":\"any\",\"port\":80,"
		  "\"verdict\":\"allow\"}]}",
		  "policies[0].port: ports need proto tcp or udp" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"any\",\"to\":\"any\",\"verdict\":\"alow\"}]}",
		  "policies[0].verdict: 'alow' is not allow, deny or audit" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"lpatop\",\"to\":\"any\",\"verdict\":\"allow\"}]}",
		  "policies[0].from: 'lpatop' is not an identity" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"any\",\"to\":\"unknown\",\"verdict\":\"allow\"}]}",
		  "policies[0].to: 'unknown' is not an identity" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"any\",\"to\":\"0\",\"verdict\":\"allow\"}]}",
		  "policies[0].to: '0' is not an identity" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"300\",\"to\":\"any\",\"proto\":\"tcp\",\"port\":80,"
		  "\"verdict\":\"allow\"},{\"from\":\"300\",\"to\":\"any\",\"proto\":\"tcp\","
		  "\"port\":\"80\",\"verdict\":\"deny\"}]}",
		  "policies[1]: matches the same traffic as policies[0]" },
		/* peer mappings */
		{ CFG_IF "\"wireguard_peers\":{\"notakey\":\"300\"}}",
		  "wireguard_peers: 'notakey' is not a WireGuard public key" },
		{ CFG_IF "\"wireguard_peers\":{\"" WG_KEY "\":\"nobody\"}}",
		  "wireguard_peers." WG_KEY ": 'nobody' is not an identity" },
		{ CFG_IF "\"tailscale\":{\"tags\":{\"tag:web\":\"nobody\"}}}",
		  "tailscale.tags.tag:web: 'nobody' is not an identity" },
		{ CFG_IF "\"tailscale\":{\"tags\":{\"tag:\":300}}}",
		  "tailscale.tags: 'tag:' is not a tag or a login name" },
		/* interfaces */
		{ "{\"interfaces\":[{\"name\":\"wg0\"},{\"name\":\"wg0\",\"zone\":2}]}",
		  "interfaces[1].name: 'wg0' is interfaces[0] already" },
		{ "{\"interfaces\":[{\"name\":\"wg/0\"}]}",
		  "interfaces[0].name: 'wg/0' is not an interface name" },
		/*
		 * a value or key quoted in the reason: control characters
		 * escaped, so that it stays one line (make fuzz)
		 */
		{ CFG_IF "\"default_policy\":\"de\\ny\"}",
		  "default_policy: 'de\\x0ay': expected allow or deny" },
		{ CFG_IF "\"bo\\u001b[2Jgus\":1}",
		  "config: unknown key 'bo\\x1b[2Jgus'" },
		/* duplicate keys, anywhere */
		{ "{\"interfaces\":[{\"name\":\"x\"}],\"interfaces\":[{\"name\":\"y\"}]}",
		  "config: duplicate key 'interfaces'" },
		{ CFG_IF
		  "\"policies\":[{\"from\":\"any\",\"to\":\"any\",\"verdict\":\"allow\","
		  "\"verdict\":\"deny\"}]}",
		  "policies[0]: duplicate key 'verdict'" },
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"backends\":["
		  "{\"addr\":\"198.18.1.1:80\",\"weight\":1,\"weight\":2}]}]}",
		  "services[0].backends[0]: duplicate key 'weight'" },
		{ CFG_IF "\"wireguard_peers\":{\"" WG_KEY "\":\"300\",\"" WG_KEY
			 "\":\"301\"}}",
		  "wireguard_peers: duplicate key '" WG_KEY "'" },
	};

	(void)state;
	expect_refused(cases, sizeof(cases) / sizeof(cases[0]), false);
}

/* The nesting of a document is bounded, and so are the counts of things. */
static void test_config_limits(void **state)
{
	struct tpd_config cfg;
	size_t n = 100000, i, len;
	char err[512], want[512], *text;

	(void)state;
	/* deep nesting, in a value nothing reads: refused before it is parsed */
	text = malloc(2 * n + 64);
	assert_non_null(text);
	len = sprintf(text, CFG_IF "\"kubernetes\":");
	for (i = 0; i < n; i++)
		text[len++] = '[';
	for (i = 0; i < n; i++)
		text[len++] = ']';
	strcpy(text + len, "}");
	assert_int_not_equal(tpd_config_parse(text, &cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "config: nested deeper than 16 levels");
	tpd_config_free(&cfg);
	free(text);
	/* a '[' in a string is no nesting */
	assert_int_equal(
		tpd_config_parse(
			CFG_IF
			"\"identities\":[{\"id\":300,"
			"\"name\":\"a\"}],\"kubernetes\":{\"kubeconfig\":"
			"\"[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}}",
			&cfg, err, sizeof(err)),
		0);
	tpd_config_free(&cfg);

	/* more rules than rule ids */
	text = big_cfg(TP_MAX_RULES + 1, 0);
	assert_int_not_equal(tpd_config_parse(text, &cfg, err, sizeof(err)), 0);
	snprintf(want, sizeof(want),
		 "policies: %d rules, more than the %d rule ids "
		 "(capacity.rules raises it)",
		 TP_MAX_RULES + 1, TP_MAX_RULES);
	assert_string_equal(err, want);
	tpd_config_free(&cfg);
	free(text);
}

/* ---- identity syncs ------------------------------------------------------ */

static struct tp_ident_entry ent(const char *cidr, __u32 id, __u16 zone)
{
	struct tp_ident_entry e = { .id = id, .zone = zone };
	unsigned int plen;

	assert_int_equal(pkt_prefix_parse(cidr, &e.prefix, &plen), 0);
	e.plen = plen;
	return e;
}

static __u32 ident_of(struct th *h, __u16 zone, const char *a)
{
	struct tp_addr addr_ = pt_addr(a);
	__u32 id = 0;

	if (tp_identity_lookup(&h->maps, zone, &addr_, &id))
		return 0;
	return id;
}

/* A sync of @n identities of @owner, which must not fail: what it did. */
static struct tpd_sync_result sync_idents(struct th *h, __u8 owner,
					  const struct tp_ident_entry *want,
					  size_t n)
{
	struct tpd_sync_result r = {};

	assert_int_equal(tpd_sync_identities(&h->maps, owner, want, n, &r), 0);
	return r;
}

static void test_sync_identities_diff(void **state)
{
	struct th *h = *state;
	struct tpd_sync_result r = {};
	struct tp_ident_entry want[3];
	struct tp_addr a = pt_addr("100.64.0.7");
	__u32 rev0, zero = 0;
	struct tp_config cfg;

	REQUIRE_BPF();
	/* tpctl owns one prefix the source will also want */
	assert_int_equal(
		tp_identity_set(&h->maps, 1, &a, 128, 999, TP_OWNER_TPCTL), 0);
	want[0] = ent("100.64.0.1/32", 300, 1);
	want[1] = ent("fd7a:115c:a1e0::1/128", 300, 1);
	want[2] = ent("100.64.0.7/32", 301, 1);
	r = sync_idents(h, TP_OWNER_WIREGUARD, want, 3);
	assert_int_equal(r.added, 2);
	assert_int_equal(r.conflicts, 1);
	assert_int_equal(ident_of(h, 1, "100.64.0.1"), 300);
	assert_int_equal(ident_of(h, 1, "100.64.0.7"), 999); /* tpctl's stays */

	/* the same again: nothing written, the revision does not move */
	assert_int_equal(bpf_map_lookup_elem(h->maps.config, &zero, &cfg), 0);
	rev0 = cfg.policy_rev;
	r = sync_idents(h, TP_OWNER_WIREGUARD, want, 2);
	assert_int_equal(r.added + r.changed + r.removed, 0);
	assert_int_equal(bpf_map_lookup_elem(h->maps.config, &zero, &cfg), 0);
	assert_int_equal(cfg.policy_rev, rev0);

	/* a changed identity, a departed peer */
	want[0].id = 302;
	r = sync_idents(h, TP_OWNER_WIREGUARD, want, 1);
	assert_int_equal(r.changed, 1);
	assert_int_equal(r.removed, 1);
	assert_int_equal(ident_of(h, 1, "100.64.0.1"), 302);
	assert_int_equal(ident_of(h, 1, "fd7a:115c:a1e0::1"), 0);
	/* another source's sync never touches it */
	r = sync_idents(h, TP_OWNER_TAILSCALE, NULL, 0);
	assert_int_equal(r.removed, 0);
	assert_int_equal(ident_of(h, 1, "100.64.0.1"), 302);
	assert_int_equal(ident_of(h, 1, "100.64.0.7"), 999);
}

/*
 * A source with a stuck interface: the zone of that interface keeps the
 * source's entries, the other zones follow their peers (removals too).
 */
static void test_sync_peer_source_keeps_stuck_zone(void **state)
{
	struct th *h = *state;
	struct tpd_sync_result r = {};
	struct tp_ident_entry before[4] = { ent("100.64.0.1/32", 300, 1),
					    ent("100.64.0.2/32", 300, 1),
					    ent("100.64.0.1/32", 300, 2),
					    ent("100.64.0.2/32", 300, 2) };
	struct tp_ident_entry now[1] = { ent("100.64.0.1/32", 301, 2) };
	__u16 keep = 1;

	REQUIRE_BPF();
	r = sync_idents(h, TP_OWNER_TAILSCALE, before, 4);
	memset(&r, 0, sizeof(r));
	assert_int_equal(tpd_sync_peer_source(&h->maps, TP_OWNER_TAILSCALE, now,
					      1, &keep, 1, &r),
			 0);
	assert_int_equal(r.changed, 1);
	assert_int_equal(r.removed, 1);
	assert_int_equal(ident_of(h, 2, "100.64.0.1"), 301);
	assert_int_equal(ident_of(h, 2, "100.64.0.2"), 0);
	assert_int_equal(ident_of(h, 1, "100.64.0.1"), 300);
	assert_int_equal(ident_of(h, 1, "100.64.0.2"), 300);
	/* it answers again, with no peers: its zone empties */
	memset(&r, 0, sizeof(r));
	assert_int_equal(tpd_sync_peer_source(&h->maps, TP_OWNER_TAILSCALE, now,
					      1, NULL, 0, &r),
			 0);
	assert_int_equal(r.removed, 2);
	assert_int_equal(ident_of(h, 1, "100.64.0.1"), 0);
}

/* ---- the static source ---------------------------------------------------- */

static const char *static_cfg =
	"{\"interfaces\":[{\"name\":\"tptun0\",\"zone\":1}],\"default_policy\":\"deny\","
	"\"identities\":[{\"cidr\":\"198.18.1.0/24\",\"id\":300,\"name\":\"web\"},"
	"{\"id\":301,\"name\":\"laptop\"}],"
	"\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"backends\":["
	"{\"addr\":\"198.18.1.1:8080\"},{\"addr\":\"198.18.1.2:8080\",\"weight\":3}]},"
	"{\"frontend\":\"198.19.0.10:53/udp\",\"backends\":[{\"addr\":\"198.18.1.1:53\"}]}],"
	"\"policies\":[{\"from\":\"laptop\",\"to\":\"web\",\"proto\":\"tcp\",\"port\":8080,"
	"\"verdict\":\"allow\"}]}";

static void test_sync_static(void **state)
{
	struct th *h = *state;
	struct tpd_sync_result r = {};
	struct tpd_config cfg;
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_svc svc;
	struct tp_zone z;
	__u32 zone = 1, rule;
	struct tp_rule match = { .src_id = 301,
				 .dst_id = 300,
				 .proto = IPPROTO_TCP,
				 .port_lo = 8080,
				 .port_hi = 8080 };
	char *edited;

	REQUIRE_BPF();
	config_ok(static_cfg, &cfg);
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &r), 0);
	assert_int_equal(r.errors, 0);
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &k, &svc), 0);
	assert_int_equal(svc.owner, TP_OWNER_STATIC);
	assert_int_equal(svc.active, 2);
	assert_int_equal(bpf_map_lookup_elem(h->maps.zones, &zone, &z), 0);
	assert_int_equal(z.default_verdict, TP_VERDICT_DENY);
	assert_int_equal(tp_policy_rule_find(&h->maps, &match, &rule), 0);
	assert_int_equal(ident_of(h, 0, "198.18.1.9"), 300);
	/* the configuration is live: the laptop reaches web, nobody else */
	pt_expect_untouched(
		h, TH_FROM_TAILNET,
		FLOWP(CLIENT4, 1, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN), DROP);
	{
		struct tp_addr laptop = pt_addr(CLIENT4);

		assert_int_equal(tp_identity_set(&h->maps, TH_ZONE, &laptop,
						 128, 301, TP_OWNER_TPCTL),
				 0);
	}
	assert_in_range(pt_backend_of(h,
				      FLOWP(CLIENT4, 2, VIP4, 80, IPPROTO_TCP,
					    PKT_TCP_SYN),
				      BE4, 2),
			0, 1);

	/* applied again: nothing to do, the service keeps its table */
	memset(&r, 0, sizeof(r));
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &r), 0);
	assert_int_equal(r.added + r.changed + r.removed, 0);
	tpd_config_free(&cfg);

	/* tpctl's service is not the static source's to delete */
	{
		struct tp_svc_key k2 = pt_svc_key(VIP4, 443, IPPROTO_TCP);
		struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };

		assert_int_equal(tp_service_set(&h->maps, &k2, &spec, NULL, 0),
				 0);
	}
	/* drop the UDP service and the rule from the configuration */
	edited = strdup(static_cfg);
	assert_non_null(edited);
	strcpy(strstr(edited, ",{\"frontend\":\"198.19.0.10:53/udp\""),
	       "],\"policies\":[]}");
	config_ok(edited, &cfg);
	memset(&r, 0, sizeof(r));
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &r), 0);
	assert_int_equal(r.removed, 2);
	k = pt_svc_key(VIP4, 53, IPPROTO_UDP);
	assert_int_not_equal(bpf_map_lookup_elem(h->maps.services, &k, &svc),
			     0);
	k = pt_svc_key(VIP4, 443, IPPROTO_TCP);
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &k, &svc), 0);
	assert_int_equal(tp_policy_rule_find(&h->maps, &match, &rule), -ENOENT);
	tpd_config_free(&cfg);
	free(edited);
}

static unsigned int count_owned(int fd, size_t key_size, size_t val_size,
				size_t owner_off, __u8 owner)
{
	char key[64], next[64], val[256];
	unsigned int n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		assert_true(val_size <= sizeof(val));
		if (!bpf_map_lookup_elem(fd, key, val) &&
		    (__u8)val[owner_off] == owner)
			n++;
	}
	return n;
}

#define N_RULES_OWNED(h, o)                                                 \
	count_owned((h)->maps.rules, sizeof(__u32), sizeof(struct tp_rule), \
		    offsetof(struct tp_rule, owner), o)
#define N_SVCS_OWNED(h, o)                                         \
	count_owned((h)->maps.services, sizeof(struct tp_svc_key), \
		    sizeof(struct tp_svc), offsetof(struct tp_svc, owner), o)

/*
 * A reload that drops 300 rules and 80 services removes every one of
 * them, in one sync: no fixed-size list caps what a reload can remove.
 */
static void test_reload_removes_everything(void **state)
{
	struct th *h = *state;
	struct tpd_sync_result r = {};
	struct tpd_config cfg;
	char *text;

	REQUIRE_BPF();
	text = big_cfg(300, 80);
	config_ok(text, &cfg);
	free(text);
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &r), 0);
	tpd_config_free(&cfg);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.added, 380);
	assert_int_equal(N_RULES_OWNED(h, TP_OWNER_STATIC), 300);
	assert_int_equal(N_SVCS_OWNED(h, TP_OWNER_STATIC), 80);

	text = big_cfg(0, 0);
	config_ok(text, &cfg);
	free(text);
	memset(&r, 0, sizeof(r));
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &r), 0);
	tpd_config_free(&cfg);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.removed, 380);
	assert_int_equal(N_RULES_OWNED(h, TP_OWNER_STATIC), 0);
	assert_int_equal(N_SVCS_OWNED(h, TP_OWNER_STATIC), 0);
}

/* Fill tp_policy with entries of a group nothing else uses, but @room. */
static __u32 fill_policy(struct th *h, __u32 room)
{
	struct tp_policy_key k = { .prefixlen = TP_POLICY_PLEN_ANY_PROTO,
				   .dst_id = 1,
				   .zone = 200 };
	struct tp_policy_val v = { .verdict = TP_VERDICT_ALLOW };
	__u32 n;

	for (n = 0;; n++) {
		k.src_id = 100000 + n;
		if (bpf_map_update_elem(h->maps.policy, &k, &v, BPF_NOEXIST))
			break;
	}
	assert_int_equal(errno, ENOSPC);
	while (room--) {
		k.src_id = 100000 + --n;
		assert_int_equal(bpf_map_delete_elem(h->maps.policy, &k), 0);
	}
	return n;
}

static unsigned int policy_group_entries(struct th *h, __u32 src, __u32 dst)
{
	struct tp_policy_key k, next, *prev = NULL;
	unsigned int n = 0;

	while (!bpf_map_get_next_key(h->maps.policy, prev, &next)) {
		k = next;
		prev = &k;
		n += k.src_id == src && k.dst_id == dst;
	}
	return n;
}

/*
 * A rule is all or nothing: when tp_policy fills while its entries are
 * written (ports 1000-1999 take 7 entries, there is room for 5), neither
 * the rule nor any of its entries stay, and the next sync, with room,
 * installs the whole rule.
 */
static void test_rule_all_or_nothing(void **state)
{
	struct th *h = *state;
	struct tp_rule r = { .src_id = 300,
			     .dst_id = 301,
			     .zone = 1,
			     .proto = IPPROTO_TCP,
			     .port_lo = 1000,
			     .port_hi = 1999,
			     .verdict = TP_VERDICT_ALLOW,
			     .owner = TP_OWNER_STATIC };
	struct tp_port_block blocks[32];
	struct tpd_sync_result res = {};
	struct tpd_config cfg;
	__u32 id, filled;
	char err[256], want[320];

	REQUIRE_BPF();
	assert_int_equal(tp_port_blocks(1000, 1999, blocks, 32), 7);
	filled = fill_policy(h, 5);
	assert_int_equal(tp_policy_rule_add(&h->maps, &r, &id), -ENOSPC);
	snprintf(want, sizeof(want),
		 "tp_policy is full: %u entries (a port range takes one per "
		 "aligned block); capacity.policy_entries in the tailplaned "
		 "configuration raises it",
		 tp_map_max_entries(h->maps.policy));
	assert_string_equal(tp_strerror(-ENOSPC, err, sizeof(err)), want);
	assert_int_equal(tp_policy_rule_find(&h->maps, &r, &id), -ENOENT);
	assert_int_equal(policy_group_entries(h, 300, 301), 0);
	assert_int_equal(N_RULES_OWNED(h, TP_OWNER_STATIC), 0);

	/* the same through the static source: an error, then a retry */
	config_ok(
		"{\"interfaces\":[{\"name\":\"tptun0\",\"zone\":1}],"
		"\"policies\":[{\"from\":\"300\",\"to\":\"301\",\"proto\":\"tcp\","
		"\"port\":\"1000-1999\",\"verdict\":\"allow\",\"zone\":1}]}",
		&cfg);
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &res),
			 0);
	assert_int_equal(res.errors, 1);
	assert_int_equal(res.added, 0);
	assert_non_null(strstr(
		res.error, "policies[0]: rule not written: tp_policy is full"));
	assert_int_equal(tp_policy_rule_find(&h->maps, &r, &id), -ENOENT);
	assert_int_equal(policy_group_entries(h, 300, 301), 0);

	/* room again: the next sync installs it whole */
	{
		struct tp_policy_key k = { .prefixlen =
						   TP_POLICY_PLEN_ANY_PROTO,
					   .dst_id = 1,
					   .zone = 200 };
		__u32 i;

		for (i = 0; i < 3; i++) {
			k.src_id = 100000 + --filled;
			assert_int_equal(
				bpf_map_delete_elem(h->maps.policy, &k), 0);
		}
	}
	memset(&res, 0, sizeof(res));
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &res),
			 0);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.added, 1);
	assert_int_equal(tp_policy_rule_find(&h->maps, &r, &id), 0);
	assert_int_equal(policy_group_entries(h, 300, 301), 7);
	tpd_config_free(&cfg);
}

/* Fill tp_identity (zone 500, nothing else's) to the last entry. */
static __u32 fill_identity(struct th *h)
{
	struct tp_identity_key k = { .prefixlen = TP_IDENTITY_PLEN(128),
				     .zone = 500 };
	struct tp_identity_val v = { .id = 999,
				     .owner = TP_OWNER_TPCTL,
				     .plen = 128 };
	__u32 n;

	for (n = 0;; n++) {
		k.addr.w[3] = htonl(n);
		if (bpf_map_update_elem(h->maps.identity, &k, &v, BPF_NOEXIST))
			break;
	}
	assert_int_equal(errno, ENOSPC);
	return n;
}

/*
 * The end of the ids a test fills to use every rule or service id: those
 * the counters @stats_fd hold, or one past the entries of the hash @fd
 * when it holds fewer.
 */
static __u32 fill_ids_end(int stats_fd, int fd)
{
	__u32 end = tp_stat_ids_end(stats_fd);

	assert_true(end > 1);
	return tp_map_max_entries(fd) + 1 < end ? tp_map_max_entries(fd) + 1
						: end;
}

/*
 * Every capacity a write runs into is named with what raises it, and a
 * peer sync that finds tp_identity full makes room with its removals
 * first: peers that were replaced by as many new ones all get in.
 */
static void test_limits_named(void **state)
{
	struct th *h = *state;
	struct tp_ident_entry old[2] = { ent("100.64.0.1/32", 300, 1),
					 ent("100.64.0.2/32", 300, 1) };
	struct tp_ident_entry now[3] = { ent("100.64.0.3/32", 300, 1),
					 ent("100.64.0.4/32", 300, 1),
					 ent("100.64.0.5/32", 300, 1) };
	struct tp_rule rl = { .src_id = 300,
			      .dst_id = 301,
			      .zone = 1,
			      .verdict = TP_VERDICT_ALLOW,
			      .owner = TP_OWNER_TPCTL };
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tpd_sync_result r = {};
	char why[320], want[320];
	__u32 id, n;

	REQUIRE_BPF();
	r = sync_idents(h, TP_OWNER_WIREGUARD, old, 2);
	assert_int_equal(r.added, 2);
	fill_identity(h);

	/* two peers replaced by two others: the removals make the room */
	r = sync_idents(h, TP_OWNER_WIREGUARD, now, 2);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.added, 2);
	assert_int_equal(r.removed, 2);
	assert_int_equal(ident_of(h, 1, "100.64.0.4"), 300);

	/* one more peer: no room, an error naming the limit */
	r = sync_idents(h, TP_OWNER_WIREGUARD, now, 3);
	assert_int_equal(r.errors, 1);
	assert_int_equal(r.added, 0);
	/* the sizes from abi.h: the wording is the test, not the numbers */
	snprintf(
		why, sizeof(why),
		"identity of 100.64.0.5/32 in zone 1 not written: tp_identity is "
		"full: %u prefixes; capacity.identities in the tailplaned "
		"configuration raises it",
		tp_map_max_entries(h->maps.identity));
	assert_string_equal(r.error, why);

	/*
	 * every rule id in use: ids go to a multiple of 64 (tp_rule_stats'
	 * elements), so tp_rules, of the rules capacity, may fill first
	 */
	n = fill_ids_end(h->maps.rule_stats, h->maps.rules);
	for (id = 1; id < n; id++) {
		struct tp_rule dummy = { .src_id = 1000000 + id,
					 .dst_id = 1,
					 .zone = 300,
					 .verdict = TP_VERDICT_ALLOW };

		assert_int_equal(bpf_map_update_elem(h->maps.rules, &id, &dummy,
						     BPF_ANY),
				 0);
	}
	assert_int_equal(tp_policy_rule_add(&h->maps, &rl, &id), -ENOSPC);
	snprintf(want, sizeof(want),
		 "every rule id is in use: %u rules; capacity.rules in the "
		 "tailplaned configuration raises it",
		 n - 1);
	assert_string_equal(tp_strerror(-ENOSPC, why, sizeof(why)), want);

	/* every service id in use (or tp_services full: as for rules) */
	n = fill_ids_end(h->maps.svc_stats, h->maps.services);
	for (id = 1; id < n; id++) {
		struct tp_svc_key fk = pt_svc_key(VIP4, 1000 + id, IPPROTO_UDP);
		struct tp_svc fs = { .id = id, .owner = TP_OWNER_TPCTL };

		assert_int_equal(bpf_map_update_elem(h->maps.services, &fk, &fs,
						     BPF_ANY),
				 0);
		/* the index's head is the record of a service id in use */
		assert_int_equal(tp_svc_index_write(&h->maps, id, NULL, 0, -1),
				 0);
	}
	assert_int_equal(tp_service_set(&h->maps, &k, &spec, NULL, 0), -ENOSPC);
	snprintf(
		want, sizeof(want),
		"every service id is in use: %u services; capacity.services in "
		"the tailplaned configuration raises it",
		n - 1);
	assert_string_equal(tp_strerror(-ENOSPC, why, sizeof(why)), want);
	/* an error of another kind is not taken for a full map */
	assert_int_equal(tp_identity_set(&h->maps, 1, &now[0].prefix, 200, 300,
					 TP_OWNER_TPCTL),
			 -EINVAL);
	assert_string_equal(tp_strerror(-EINVAL, why, sizeof(why)),
			    strerror(EINVAL));
	assert_string_equal(tp_strerror(-ENOSPC, why, sizeof(why)),
			    strerror(ENOSPC));
}

/*
 * A configuration of @n services for the fresh path's comparison: tuples
 * shared by up to 6 services (more than TP_BE_FRONTENDS), a service with
 * no active backend (no table), and flags (the parser refuses bad
 * input before any sync).
 */
static char *fresh_cfg(size_t n)
{
	size_t len = 256 + n * 256, i;
	char *s = malloc(len), *p = s;

	assert_non_null(s);
	p += sprintf(p, "{\"interfaces\":[{\"name\":\"x\"}],\"services\":[");
	for (i = 0; i < n; i++) {
		p += sprintf(p, "%s{\"frontend\":\"198.19.%zu.%zu:80/tcp\"",
			     i ? "," : "", i / 250, i % 250 + 1);
		if (i % 7 == 3)
			p += sprintf(p, ",\"affinity\":30");
		if (i % 31 == 5)
			p += sprintf(
				p,
				",\"backends\":[{\"addr\":\"198.18.9.%zu:80\",\"state\":\"maintenance\"}]}",
				i % 200);
		else
			p += sprintf(
				p,
				",\"backends\":[{\"addr\":\"198.18.%zu.%zu:8080\"},"
				"{\"addr\":\"198.18.2.%zu:8080\",\"weight\":%zu}]}",
				i / 1500 * 2 + 1, i / 6 % 250, i % 250,
				i % 3 + 1);
	}
	sprintf(p, "]}");
	return s;
}

/*
 * What a sync left, without ids (the two paths give others): each
 * configured service's entry, its backends, its table as backend
 * addresses, and the tp_be_frontends entry of each backend's tuple.
 */
static char *fresh_dump(struct th *h, const struct tpd_config *cfg,
			const struct tpd_sync_result *r)
{
	char *out = NULL, a[TP_ENDPOINT_STRLEN];
	size_t len = 0, i;
	FILE *f = open_memstream(&out, &len);
	int j, k, n;

	assert_non_null(f);
	fprintf(f, "+%u ~%u -%u c%u e%u %s\n", r->added, r->changed, r->removed,
		r->conflicts, r->errors, r->error);
	for (i = 0; i < cfg->n_services; i++) {
		__u32 ids[TP_MAX_SVC_BACKENDS], *table;
		struct tp_backend bes[TP_MAX_SVC_BACKENDS];
		struct tp_be_frontends fe;
		struct tp_svc svc;

		if (bpf_map_lookup_elem(h->maps.services, &cfg->services[i].key,
					&svc))
			continue;
		fprintf(f, "%s f%u z%u a%u o%u r%u act%u size%u:",
			cfg->services[i].frontend, svc.flags, svc.zone,
			svc.affinity_timeout, svc.owner, svc.revision,
			svc.active, svc.table_size);
		n = tp_service_backends(&h->maps, svc.id, ids, bes,
					TP_MAX_SVC_BACKENDS);
		for (j = 0; j < n; j++) {
			struct tp_be_key bk =
				tp_be_key_of(&bes[j], IPPROTO_TCP);

			fprintf(f, " %s w%u s%u f%u o%u",
				tp_endpoint_format(&bes[j].addr,
						   ntohs(bes[j].port), a,
						   sizeof(a)),
				bes[j].weight, bes[j].state, bes[j].flags,
				bes[j].owner);
			if (!bpf_map_lookup_elem(h->maps.be_frontends, &bk,
						 &fe))
				for (k = 0; k < TP_BE_FRONTENDS; k++)
					fprintf(f, " fe%u",
						ntohs(fe.fe[k].port)
							? (unsigned)(fe.fe[k].vip
									     .b[15] |
								     fe.fe[k].vip.b[14]
									     << 8)
							: 0);
		}
		table = calloc(svc.table_size + 1, sizeof(*table));
		assert_non_null(table);
		if (svc.table_size)
			assert_int_equal(tp_slab_read(h->maps.slab,
						      svc.table_off,
						      svc.table_size, table),
					 0);
		fprintf(f, " |");
		for (k = 0; k < (int)svc.table_size; k++) {
			for (j = 0; j < n && ids[j] != table[k]; j++)
				;
			fprintf(f, "%d", j);
		}
		free(table);
		fprintf(f, "\n");
	}
	fclose(f);
	return out;
}

/*
 * Fill tp_svc_backends but for @room rows, with slots of service ids no
 * writer gives (no head: the ids are not in use); -1: leave it.
 */
static void fresh_fill_index(struct th *h, long room)
{
	__u32 max = tp_map_max_entries(h->maps.svc_backends), i, n, count;
	struct tp_svc_be_key *keys;
	__u32 *vals;

	if (room < 0)
		return;
	n = max - 1 - (__u32)room; /* the maglev_size record takes one */
	keys = calloc(n + 1, sizeof(*keys));
	vals = calloc(n + 1, sizeof(*vals));
	assert_non_null(keys);
	assert_non_null(vals);
	for (i = 0; i < n; i++) {
		keys[i].svc_id = 0x7fff0000 + i / 64;
		keys[i].slot = i % 64;
		vals[i] = 1;
	}
	count = n;
	assert_int_equal(bpf_map_update_batch(h->maps.svc_backends, keys, vals,
					      &count, NULL),
			 0);
	free(keys);
	free(vals);
}

/* The same configuration synced per service and by the fresh path. */
static void fresh_compare(void **state, size_t n_svcs, long room)
{
	struct th *h = *state;
	struct tpd_sync_result r = {};
	struct tpd_config cfg;
	char *json = fresh_cfg(n_svcs), *per, *fresh;

	config_ok(json, &cfg);
	tp_service_maglev_cap_set(&h->maps, h->maps.maglev_size);
	fresh_fill_index(h, room);
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &r), 0);
	per = fresh_dump(h, &cfg, &r);
	pt_teardown(state);
	assert_int_equal(pt_setup(state), 0);
	h = *state;
	memset(&r, 0, sizeof(r));
	tp_service_maglev_cap_set(&h->maps, h->maps.maglev_size);
	fresh_fill_index(h, room);
	assert_int_equal(
		tpd_sync_static_fresh(&h->maps, &cfg, NULL, 0, NULL, true, &r),
		0);
	fresh = fresh_dump(h, &cfg, &r);
	assert_string_equal(fresh, per);
	/* and a restart finds nothing to do, through its one read */
	memset(&r, 0, sizeof(r));
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &r), 0);
	assert_int_equal(r.added + r.changed + r.removed, 0);
	free(per);
	free(fresh);
	free(json);
	tpd_config_free(&cfg);
}

/*
 * A cold start's sync into fresh maps writes a map at a system call and
 * leaves what the per-service path leaves, counts and errors included.
 */
static void test_sync_static_fresh_same(void **state)
{
	REQUIRE_BPF();
	fresh_compare(state, 600, -1);
}

/*
 * A batch write that fails part way (tp_svc_backends full) ends the fresh
 * path at that service: the rest fail and are reported as before.
 */
static void test_sync_static_fresh_full(void **state)
{
	REQUIRE_BPF();
	/* room for 100 services of 2 backends and a few more rows */
	fresh_compare(state, 600, 100 * 3 + 2);
}

/*
 * The same over many steps of the fresh path (TP_FRESH_ROWS backend rows
 * each): tuples shared by services of different steps (every 250th),
 * also when tp_svc_backends fills in the fourth.
 */
static void test_sync_static_fresh_steps(void **state)
{
	REQUIRE_BPF();
	fresh_compare(state, 2600, -1);
	pt_teardown(state);
	assert_int_equal(pt_setup(state), 0);
	fresh_compare(state, 2600, 1000 * 3 + 2);
}

#define FH_SMALL   2000
#define FH_LARGE   10000       /* issue 14's cold start */
#define FH_PER_SVC 32LL	       /* heap bytes a service may add to the peak */
#define FH_MAX	   (1LL << 20) /* heap at 10,000 services, at most */

/*
 * The most heap a cold start's sync of @n services (fresh_cfg()) holds
 * above what it started with, into maps just made.
 */
static long long fresh_heap(void **state, size_t n)
{
	struct tpd_sync_result r = {};
	char *json = fresh_cfg(n);
	struct tpd_config cfg;
	long long base, peak;
	struct th *h;

	pt_teardown(state);
	assert_int_equal(pt_setup(state), 0);
	h = *state;
	config_ok(json, &cfg);
	free(json);
	tp_service_maglev_cap_set(&h->maps, h->maps.maglev_size);
	base = heap_mark();
	assert_int_equal(
		tpd_sync_static_fresh(&h->maps, &cfg, NULL, 0, NULL, true, &r),
		0);
	peak = heap_peak - base;
	assert_int_equal(r.added, n);
	assert_int_equal(r.errors, 0);
	tpd_config_free(&cfg);
	return peak;
}

/*
 * A cold start's sync holds no buffer that grows with the services but
 * a few bytes of each (issue 14: the daemon under 10 MB at 10,000
 * services): all of them at once took 7 MB of heap at 10,000.
 */
static void test_sync_static_fresh_heap(void **state)
{
	long long small, large;

	REQUIRE_BPF();
	small = fresh_heap(state, FH_SMALL);
	large = fresh_heap(state, FH_LARGE);
	printf("fresh sync heap peak: %.2f MB at %d services, %.2f MB at %d "
	       "(%.1f bytes a service more)\n",
	       small / 1e6, FH_SMALL, large / 1e6, FH_LARGE,
	       (double)(large - small) / (FH_LARGE - FH_SMALL));
	assert_true(large - small <= FH_PER_SVC * (FH_LARGE - FH_SMALL));
	assert_true(large <= FH_MAX);
}

static void test_udp_purge_on_backend_removal(void **state)
{
	struct th *h = *state;
	struct tpd_sync_result r = {};
	struct tpd_config cfg;
	struct tp_ct_key udp = pt_ct_key(CLIENT4, 5000, VIP4, 53, IPPROTO_UDP);
	struct tp_ct_key tcp = pt_ct_key(CLIENT4, 5000, VIP4, 80, IPPROTO_TCP);
	struct tp_ct_entry e;
	char *edited, *at;
	int b;

	REQUIRE_BPF();
	edited = strdup(static_cfg);
	assert_non_null(edited);
	at = strstr(edited, "\"deny\"");
	memmove(at + 1, at + 5, strlen(at + 5) + 1); /* "deny" -> "" */
	config_ok(edited, &cfg);
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &r), 0);
	tpd_config_free(&cfg);
	pt_expect_dnat(h, pt_flow(CLIENT4, 5000, VIP4, 53, IPPROTO_UDP, 0),
		       BE4[0], 53);
	b = pt_backend_of(
		h, FLOWP(CLIENT4, 5000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN),
		BE4, 2);
	assert_in_range(b, 0, 1);

	/* both services lose 198.18.1.1 */
	at = strstr(edited, "{\"addr\":\"198.18.1.1:8080\"},");
	memmove(at, at + 27, strlen(at + 27) + 1);
	at = strstr(edited, "198.18.1.1:53");
	at[9] = '2';
	config_ok(edited, &cfg);
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, NULL, 0, NULL, &r), 0);
	tpd_config_free(&cfg);
	free(edited);
	/* the UDP flow to the removed backend is gone; TCP flows are kept */
	assert_int_equal(pt_ct_get(h, &udp, &e), -ENOENT);
	assert_int_equal(pt_ct_get(h, &tcp, &e), 0);
	pt_expect_dnat(h, pt_flow(CLIENT4, 5000, VIP4, 53, IPPROTO_UDP, 0),
		       BE4[1], 53);
}

/*
 * A removed backend's SNAT UDP flows go with their SNAT reply keys (found
 * through tp_config, read once a pass): the ports they held are free.
 */
static void test_udp_purge_snat(void **state)
{
	struct th *h = *state;
	struct tp_backend be7 = { .addr = pt_addr("198.18.1.1"),
				  .port = htons(53) };
	struct tp_config c = {};
	struct tpd_purge p = {};
	__u32 zero = 0, i;

	REQUIRE_BPF();
	c.snat_addr4 = pt_addr("198.18.0.1");
	assert_int_equal(
		bpf_map_update_elem(h->maps.config, &zero, &c, BPF_ANY), 0);
	for (i = 0; i < 4; i++) {
		struct tp_ct_key k =
			pt_ct_key(CLIENT4, 5000 + i, VIP4, 53, IPPROTO_UDP);
		struct tp_ct_entry e = { .flags = TP_CT_F_DNAT | TP_CT_F_SNAT,
					 .backend_id = i % 2 ? 8 : 7,
					 .svc_id = 1,
					 .nat_addr = pt_addr("198.18.1.1"),
					 .nat_port = htons(53),
					 .snat_port = htons(62000 + i),
					 .expires_s = ~0u };

		/* replies 198.18.1.1:53 -> 198.18.0.1:62000+i in zone 0 */
		pt_ct_put_flow(h->maps.ct_any, &k, &e, "198.18.0.1",
			       BPF_NOEXIST);
	}
	assert_int_equal(pt_ct_count(h), 8);
	assert_int_equal(tpd_purge_add(&p, 7, &be7), 0);
	while (tpd_purge_pending(&p))
		assert_int_equal(tpd_purge_step(&h->maps, &p, 0), 0);
	assert_int_equal(p.deleted, 2);
	/* backend 8's two flows and their reply keys stay; nothing else */
	assert_int_equal(pt_ct_count(h), 4);
	tpd_purge_free(&p);
}

/*
 * Write a DNATed flow (client 100.64.x.y:port -> VIP4:53/udp, or TCP)
 * to backend @be_id at 198.18.1.1:53 with its reply key: two entries, in
 * the table of @proto (tp_ct_fd()).
 */
static void ct_flow(struct th *h, __u32 n, __u8 proto, __u32 be_id)
{
	struct tp_ct_key k = { .daddr = pt_addr(VIP4),
			       .sport = htons(1024 + n % 60000),
			       .dport = htons(53),
			       .proto = proto,
			       .zone = TH_ZONE };
	struct tp_ct_entry e = { .flags = TP_CT_F_DNAT,
				 .backend_id = be_id,
				 .nat_addr = pt_addr("198.18.1.1"),
				 .nat_port = htons(53),
				 .svc_id = 1,
				 .expires_s = ~0u };

	k.saddr = pt_addr("100.64.0.0");
	k.saddr.w[3] = htonl(ntohl(k.saddr.w[3]) + n / 60000 * 65536 + n % 251);
	/* where the datapath keeps them: tp_ct for TCP, tp_ct_any for UDP */
	pt_ct_put_flow(tp_ct_fd(&h->maps, proto), &k, &e, NULL, BPF_NOEXIST);
}

/* 20,000 entries, @n_purge of them flows (with their reply keys) to purge. */
static double purge_run(struct th *h, unsigned int n_purge)
{
	struct tp_backend be = { .addr = pt_addr("198.18.1.1"),
				 .port = htons(53) };
	unsigned int total = 20000, n;
	struct timespec t0, t1;
	double secs;

	for (n = 0; n < total / 2; n++)
		ct_flow(h, n,
			n < n_purge ? IPPROTO_UDP
			: n % 2	    ? IPPROTO_UDP
				    : IPPROTO_TCP,
			n < n_purge ? 7
			: n % 2	    ? 8
				    : 7);
	assert_int_equal(pt_ct_count(h), total);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(tpd_purge_udp_backend(&h->maps, 7, &be), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message(
		"purge of %u flows (%u entries) among %u entries: %.3f s\n",
		n_purge, 2 * n_purge, total, secs);
	/* the UDP flows of backend 7 and their reply keys went, nothing else */
	assert_int_equal(pt_ct_count(h), total - 2 * n_purge);
	return secs;
}

/*
 * Purging a backend's UDP flows is linear in the table: 2,000 and 4,000
 * of 20,000 entries in well under a second each (deleting while walking
 * with get_next_key restarted the walk at each delete: minutes).
 */
static void test_udp_purge_linear(void **state)
{
	struct th *h = *state;
	/* TP_PURGE_N: another number to purge, for measurements */
	const char *env = getenv("TP_PURGE_N");

	REQUIRE_BPF();
	assert_true(purge_run(h, env ? (unsigned int)atoi(env) : 2000) < 2.0);
}

static void test_udp_purge_linear_4000(void **state)
{
	struct th *h = *state;

	REQUIRE_BPF();
	if (getenv("TP_PURGE_N"))
		skip();
	assert_true(purge_run(h, 4000) < 2.0);
}

/*
 * The main loop's purge: a bounded number of entries per step, and a
 * backend that goes while a pass is under way gets a whole pass of its
 * own (its flows before the pass's position are found too).  A new
 * backend that took a purged backend's id keeps its flows.
 */
static void test_udp_purge_steps(void **state)
{
	struct th *h = *state;
	struct tp_backend be7 = { .addr = pt_addr("198.18.1.1"),
				  .port = htons(53) };
	struct tp_backend other = { .addr = pt_addr("198.18.1.2"),
				    .port = htons(53) };
	struct tpd_purge p = {};
	unsigned int n, steps = 0;

	REQUIRE_BPF();
	for (n = 0; n < 10000; n++)
		ct_flow(h, n, IPPROTO_UDP, n % 4 ? 8 : 7);
	assert_int_equal(pt_ct_count(h), 20000);
	assert_int_equal(tpd_purge_add(&p, 7, &other),
			 0); /* id 7, another address */
	assert_true(tpd_purge_pending(&p));
	assert_int_equal(tpd_purge_step(&h->maps, &p, 3000), 0);
	steps++;
	assert_true(tpd_purge_pending(&p));
	assert_int_equal(p.deleted, 0);
	/* mid-pass, backend 8 goes (and 7 as it really was) */
	assert_int_equal(tpd_purge_add(&p, 8, &be7), 0);
	assert_int_equal(tpd_purge_add(&p, 7, &be7), 0);
	while (tpd_purge_pending(&p)) {
		assert_int_equal(tpd_purge_step(&h->maps, &p, 3000), 0);
		assert_true(++steps < 100);
	}
	print_message("purge of 10000 flows in %u steps of 3000 entries\n",
		      steps);
	assert_true(steps >= 20000 / 3000);
	assert_int_equal(p.deleted, 10000);
	assert_int_equal(pt_ct_count(h), 0);

	/* budgets smaller than a hash bucket still make progress */
	for (n = 0; n < 1000; n++)
		ct_flow(h, n, IPPROTO_UDP, n % 2 ? 8 : 9);
	assert_int_equal(tpd_purge_add(&p, 9, &be7), 0);
	for (steps = 0; tpd_purge_pending(&p); steps++) {
		assert_int_equal(tpd_purge_step(&h->maps, &p, 1 + steps % 3),
				 0);
		assert_true(steps < 2000);
	}
	assert_int_equal(pt_ct_count(h), 1000);
	tpd_purge_free(&p);
}

static void test_gc(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k = pt_ct_key(CLIENT4, 3, VIP4, 80, IPPROTO_TCP);
	struct tpd_gc_result res;
	struct tp_ct_entry e;

	REQUIRE_BPF();
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	pt_service(h, VIP4, 53, IPPROTO_UDP, BE4, 1, 53, NULL, NULL, 0, 0);
	pt_unindex(h); /* the reply-key layout: orphans to collect */
	pt_expect_dnat(h, pt_flow(CLIENT4, 1, VIP4, 53, IPPROTO_UDP, 0), BE4[0],
		       53);
	pt_expect_dnat(h,
		       pt_flow(CLIENT4, 2, VIP4, 80, IPPROTO_TCP, PKT_TCP_ACK),
		       BE4[0], 8080);
	pt_expect_dnat(h,
		       pt_flow(CLIENT4, 3, VIP4, 80, IPPROTO_TCP, PKT_TCP_ACK),
		       BE4[0], 8080);
	/* flow 2 answered: established, not a pickup with the SYN timeout */
	pt_expect_revnat(
		h, pt_flow(BE4[0], 8080, CLIENT4, 2, IPPROTO_TCP, PKT_TCP_ACK),
		VIP4, 80);
	/* an orphan: flow 3's entry gone, its reply key left behind */
	assert_int_equal(bpf_map_delete_elem(h->maps.ct, &k), 0);
	assert_int_equal(pt_ct_count(h), 5);

	assert_int_equal(tpd_gc(&h->maps, T0 + 10 * SEC_NS, 30, &res), 0);
	assert_int_equal(res.ct_entries, 5);
	assert_int_equal(res.ct_flows, 2);
	assert_int_equal(res.ct_deleted, 1); /* the orphan */
	/* past the UDP timeout, within the established one */
	assert_int_equal(tpd_gc(&h->maps, T0 + (TP_CT_TIMEOUT_UDP + 1) * SEC_NS,
				30, &res),
			 0);
	assert_int_equal(res.ct_deleted, 2);
	assert_int_equal(res.ct_flows, 1);
	assert_int_equal(pt_ct_count(h), 2);
	k = pt_ct_key(CLIENT4, 2, VIP4, 80, IPPROTO_TCP);
	assert_int_equal(pt_ct_get(h, &k, &e), 0);
}

/* A SNAT flow of @client:@cport via @be:8080, source @snat:@sport, and its reply key. */
static void snat_flow(struct th *h, const char *client, __u16 cport,
		      const char *be, const char *snat, __u16 sport,
		      __u32 expires_s)
{
	struct tp_ct_key k = pt_ct_key(client, cport, VIP4, 80, IPPROTO_TCP);
	struct tp_ct_entry e = { .nat_addr = pt_addr(be),
				 .nat_port = htons(8080),
				 .state = TP_CT_ESTABLISHED,
				 .flags = TP_CT_F_DNAT | TP_CT_F_SNAT,
				 .svc_id = 1,
				 .backend_id = 1,
				 .expires_s = expires_s,
				 .snat_port = htons(sport) };

	/* its reply key: @be:8080 -> @snat:@sport in zone 0, the cluster side */
	pt_ct_put_flow(h->maps.ct, &k, &e, snat, BPF_ANY);
}

/*
 * SNAT flows: GC finds their reply keys through tp_config's SNAT address
 * (read once a pass), so a live flow keeps its reply key (the port stays
 * held), an expired one loses both entries, and a reply key whose flow is
 * gone goes too.
 */
static void test_gc_snat(void **state)
{
	struct th *h = *state;
	struct tp_config c = {};
	struct tpd_gc_result res;
	struct tp_ct_key r =
		pt_ct_key(BE4[0], 8080, "198.18.0.1", 61000, IPPROTO_TCP);
	struct tp_ct_entry e;
	__u64 now = T0 + 10 * SEC_NS;
	__u32 zero = 0, now_s = TP_CT_SEC(now);

	REQUIRE_BPF();
	c.snat_addr4 = pt_addr("198.18.0.1");
	c.snat_port_min = TP_SNAT_PORT_MIN;
	c.snat_port_max = TP_SNAT_PORT_MAX;
	assert_int_equal(
		bpf_map_update_elem(h->maps.config, &zero, &c, BPF_ANY), 0);
	snat_flow(h, CLIENT4, 1, BE4[0], "198.18.0.1", 61000,
		  now_s + 1000); /* live */
	snat_flow(h, CLIENT4, 2, BE4[0], "198.18.0.1", 61001,
		  now_s - 1); /* expired */
	snat_flow(h, CLIENT4, 3, BE4[0], "198.18.0.1", 61002, now_s + 1000);
	{
		struct tp_ct_key k3 =
			pt_ct_key(CLIENT4, 3, VIP4, 80, IPPROTO_TCP);

		/* flow 3's entry gone: its reply key is an orphan */
		assert_int_equal(bpf_map_delete_elem(h->maps.ct, &k3), 0);
	}
	assert_int_equal(pt_ct_count(h), 5);
	assert_int_equal(tpd_gc(&h->maps, now, 30, &res), 0);
	assert_int_equal(res.ct_flows, 1);
	assert_int_equal(res.ct_deleted, 3);
	assert_int_equal(pt_ct_count(h), 2);
	r.zone = 0;
	assert_int_equal(bpf_map_lookup_elem(h->maps.ct, &r, &e), 0);
	assert_int_equal(e.flags, TP_CT_F_REPLY_KEY | TP_CT_F_SNAT);
}

/*
 * An expired flow whose reply tuple another flow has taken since (the
 * client reused its port toward a second VIP of the same backend): GC
 * deletes the flow and leaves the other flow's reply key alone.
 */
static void test_gc_keeps_reply_key_of_other_flow(void **state)
{
	struct th *h = *state;
	struct tp_ct_key ka = pt_ct_key(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP);
	struct tpd_gc_result res;
	struct tp_ct_entry e;
	__u64 t = T0 + (TP_CT_TIMEOUT_SYN + 1) * SEC_NS;

	REQUIRE_BPF();
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	pt_service(h, "198.19.0.11", 80, IPPROTO_TCP, BE4, 1, 8080, NULL, NULL,
		   0, 0);
	pt_expect_dnat(
		h, pt_flow(CLIENT4, 40000, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN),
		BE4[0], 8080);
	th_set_clock(h, t);
	pt_expect_dnat(h,
		       pt_flow(CLIENT4, 40000, "198.19.0.11", 80, IPPROTO_TCP,
			       PKT_TCP_SYN),
		       BE4[0], 8080);
	assert_int_equal(tpd_gc(&h->maps, t + SEC_NS, 30, &res), 0);
	assert_int_equal(res.ct_deleted, 1);
	assert_int_equal(pt_ct_get(h, &ka, &e), -ENOENT);
	pt_expect_revnat(h,
			 pt_flow(BE4[0], 8080, CLIENT4, 40000, IPPROTO_TCP,
				 PKT_TCP_SYN | PKT_TCP_ACK),
			 "198.19.0.11", 80);
}

static void test_metrics_textfile(void **state)
{
	struct th *h = *state;
	struct tpd_source_state src[TPD_SRC_MAX] = {
		[TPD_SRC_WIREGUARD] = { .syncs = 3,
					.errors = 1,
					.last_ok = 1700000000 }
	};
	struct tpd_gc_result gc = { .ct_entries = 4, .ct_flows = 2 };
	char path[] = "/tmp/tp-metrics-XXXXXX", line[256];
	bool dnat = false, drops = false, ct = false, sync = false;
	FILE *f;
	int fd;

	REQUIRE_BPF();
	pt_service(h, VIP4, 80, IPPROTO_TCP, BE4, 1, 8080, NULL, NULL, 0, 0);
	pt_expect_dnat(h,
		       pt_flow(CLIENT4, 1, VIP4, 80, IPPROTO_TCP, PKT_TCP_SYN),
		       BE4[0], 8080);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(tpd_metrics_write(path, &h->maps, &gc, src), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		dnat |= !strcmp(
			line, "tailplane_packets_total{counter=\"dnat\"} 1\n");
		drops |= !strcmp(
			line, "tailplane_drops_total{reason=\"policy\"} 0\n");
		ct |= !strcmp(line, "tailplane_map_entries{map=\"tp_ct\"} 4\n");
		sync |= !strcmp(
			line,
			"tailplane_sync_errors_total{source=\"wireguard\"} 1\n");
	}
	fclose(f);
	unlink(path);
	assert_true(dnat);
	assert_true(drops);
	assert_true(ct);
	assert_true(sync);
	/* an unwritable place is an error, not a crash */
	assert_int_not_equal(tpd_metrics_write("/nonexistent/dir/tp.prom",
					       &h->maps, &gc, src),
			     0);
}

/* ---- services of one address family ------------------------------------------ */

static unsigned int backend_count(struct th *h)
{
	__u32 k, next, *prev = NULL;
	unsigned int n = 0;

	while (!bpf_map_get_next_key(h->maps.backends, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/*
 * Backends of the other address family (an IPv4 VIP DNATed to an IPv6
 * address would be truncated) and ICMP of the other family are refused
 * by lib/service.c for every writer, with nothing written.
 */
static void test_service_mixed_family(void **state)
{
	struct th *h = *state;
	struct tp_svc_key k4 = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_svc_key k6 = pt_svc_key(VIP6, 80, IPPROTO_TCP);
	struct tp_svc_key icmp6on4 = pt_svc_key(VIP4, 0, IPPROTO_ICMPV6);
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs[2] = {
		{ .addr = pt_addr(BE4[0]), .port = htons(8080), .weight = 1 },
		{ .addr = pt_addr(BE6[0]), .port = htons(8080), .weight = 1 },
	};
	struct tpd_sync_result r = {};
	struct tp_svc svc, before;
	struct tpd_config cfg;
	char why[256], err[256];

	REQUIRE_BPF();
	/* an IPv4 VIP with an IPv6 backend: nothing is written */
	assert_int_equal(tp_service_set(&h->maps, &k4, &spec, &bs[1], 1),
			 -EAFNOSUPPORT);
	assert_int_not_equal(bpf_map_lookup_elem(h->maps.services, &k4, &svc),
			     0);
	assert_int_equal(backend_count(h), 0);
	assert_int_equal(tp_service_check(&k4, bs, 2, why, sizeof(why)),
			 -EAFNOSUPPORT);
	assert_string_equal(
		why, "backend [fd00:198:18::1:1]:8080 is IPv6 but the VIP "
		     "198.19.0.10 is IPv4 (a service's backends must be of "
		     "its VIP's address family)");

	/* a good service keeps what it had when a bad backend is added */
	assert_int_equal(tp_service_set(&h->maps, &k4, &spec, bs, 1), 0);
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &k4, &before),
			 0);
	assert_int_equal(tp_service_set(&h->maps, &k4, &spec, bs, 2),
			 -EAFNOSUPPORT);
	assert_int_equal(bpf_map_lookup_elem(h->maps.services, &k4, &svc), 0);
	assert_memory_equal(&svc, &before, sizeof(svc));
	assert_int_equal(backend_count(h), 1);

	/* the other way round, and ICMPv6 on an IPv4 VIP */
	assert_int_equal(tp_service_set(&h->maps, &k6, &spec, bs, 1),
			 -EAFNOSUPPORT);
	assert_int_equal(tp_service_set(&h->maps, &icmp6on4, &spec, NULL, 0),
			 -EAFNOSUPPORT);
	assert_int_equal(tp_service_check(&icmp6on4, NULL, 0, why, sizeof(why)),
			 -EAFNOSUPPORT);
	assert_string_equal(
		why,
		"protocol icmpv6 needs an IPv6 VIP, and 198.19.0.10 is IPv4");
	assert_int_equal(tp_service_check(&k6, &bs[1], 1, why, sizeof(why)), 0);

	/* the static configuration: the same refusal, when the file is read */
	assert_int_not_equal(
		tpd_config_parse(
			"{\"interfaces\":[{\"name\":\"tptun0\",\"zone\":1}],"
			"\"services\":[{\"frontend\":\"198.19.0.11:80/tcp\",\"backends\":["
			"{\"addr\":\"198.18.1.1:8080\"},{\"addr\":\"[fd00:198:18::1:1]:8080\"}]}]}",
			&cfg, err, sizeof(err)),
		0);
	assert_string_equal(
		err,
		"services[0]: backend [fd00:198:18::1:1]:8080 is IPv6 but "
		"the VIP 198.19.0.11 is IPv4 (a service's backends must be "
		"of its VIP's address family)");
	tpd_config_free(&cfg);
	(void)r;
}

/* ---- SNAT ------------------------------------------------------------------------ */

/* "snat": the string and the object, their defaults, and the per-service flag. */
/* The "kubernetes" section: defaults, every key, and errors naming the key. */
static void test_config_kubernetes(void **state)
{
	static const struct refused_config bad[] = {
		{ CFG_IF "\"kubernetes\":{\"bogus\":1}}",
		  "kubernetes: unknown key 'bogus'" },
		{ CFG_IF "\"kubernetes\":[]}",
		  "kubernetes: expected an object" },
		{ CFG_IF "\"kubernetes\":{\"enabled\":1}}",
		  "kubernetes.enabled: expected true or false" },
		{ CFG_IF "\"kubernetes\":{\"expose\":\"some\"}}",
		  "kubernetes.expose: 'some': expected all or annotated" },
		{ CFG_IF "\"kubernetes\":{\"zone\":70000}}",
		  "kubernetes.zone: 70000 out of range 0..65535" },
		{ CFG_IF "\"kubernetes\":{\"tcp_grace_seconds\":-1}}",
		  "kubernetes.tcp_grace_seconds: -1 out of range" },
		{ CFG_IF "\"kubernetes\":{\"list_limit\":0}}",
		  "kubernetes.list_limit: 0 out of range 1..10000" },
		{ CFG_IF "\"kubernetes\":{\"watch_timeout_seconds\":\"5\"}}",
		  "kubernetes.watch_timeout_seconds: expected an integer" },
		{ CFG_IF "\"kubernetes\":{\"backoff_max_seconds\":0}}",
		  "kubernetes.backoff_max_seconds: 0 out of range" },
		{ CFG_IF "\"kubernetes\":{\"server\":\"http://x:80\"}}",
		  "kubernetes.server: 'http://x:80': expected https://HOST[:PORT]" },
		{ CFG_IF "\"kubernetes\":{\"server\":7}}",
		  "kubernetes.server: expected a string" },
		{ CFG_IF
		  "\"kubernetes\":{\"enabled\":true,\"node_name\":\"Node_1\"}}",
		  "kubernetes.node_name: 'Node_1' is not a node name" },
		{ CFG_IF
		  "\"kubernetes\":{\"expose_loadbalancer_ips\":\"yes\"}}",
		  "kubernetes.expose_loadbalancer_ips: expected true or false" },
	};
	struct tpd_config cfg, other;
	char err[256];

	(void)state;
	/* no section: off, with the documented defaults */
	assert_int_equal(tpd_config_parse(CFG_IF "\"maglev_size\":131}", &cfg,
					  err, sizeof(err)),
			 0);
	assert_false(cfg.kube.enabled);
	assert_int_equal(cfg.kube.expose, TPD_KUBE_EXPOSE_ALL);
	assert_int_equal(cfg.kube.tcp_grace, 30);
	assert_int_equal(cfg.kube.watch_timeout, 300);
	assert_int_equal(cfg.kube.page_limit, 500);
	assert_int_equal(cfg.kube.backoff_max, 30);
	assert_int_equal(cfg.kube.zone, 0);
	assert_string_equal(cfg.kube.server, "");
	tpd_config_free(&cfg);

	config_ok(CFG_IF
		  "\"kubernetes\":{\"enabled\":true,"
		  "\"server\":\"https://198.18.0.1:6443\","
		  "\"token_file\":\"/t\",\"ca_file\":\"/ca\","
		  "\"kubeconfig\":\"/k\",\"node_name\":\"node-1.x\","
		  "\"expose\":\"annotated\",\"expose_loadbalancer_ips\":true,"
		  "\"zone\":2,\"tcp_grace_seconds\":0,"
		  "\"watch_timeout_seconds\":60,\"list_limit\":100,"
		  "\"backoff_max_seconds\":5}}",
		  &cfg);
	assert_true(cfg.kube.enabled);
	assert_string_equal(cfg.kube.server, "https://198.18.0.1:6443");
	assert_string_equal(cfg.kube.token_file, "/t");
	assert_string_equal(cfg.kube.ca_file, "/ca");
	assert_string_equal(cfg.kube.kubeconfig, "/k");
	assert_string_equal(cfg.kube.node_name, "node-1.x");
	assert_int_equal(cfg.kube.expose, TPD_KUBE_EXPOSE_ANNOTATED);
	assert_true(cfg.kube.expose_lb_ips);
	assert_int_equal(cfg.kube.zone, 2);
	assert_int_equal(cfg.kube.tcp_grace, 0);
	assert_int_equal(cfg.kube.watch_timeout, 60);
	assert_int_equal(cfg.kube.page_limit, 100);
	assert_int_equal(cfg.kube.backoff_max, 5);

	/* a reload that changes the section is seen as a change */
	config_ok(CFG_IF "\"kubernetes\":{\"enabled\":true,"
			 "\"node_name\":\"node-1.x\"}}",
		  &other);
	assert_false(tpd_kube_cfg_equal(&cfg.kube, &other.kube));
	assert_true(tpd_kube_cfg_equal(&other.kube, &other.kube));
	tpd_config_free(&cfg);

	/* the node name defaults to $NODE_NAME */
	setenv("NODE_NAME", "from-env", 1);
	config_ok(CFG_IF "\"kubernetes\":{\"enabled\":true}}", &cfg);
	assert_string_equal(cfg.kube.node_name, "from-env");
	unsetenv("NODE_NAME");
	tpd_config_free(&cfg);
	tpd_config_free(&other);

	expect_refused(bad, sizeof(bad) / sizeof(bad[0]), false);
}

static void test_config_snat(void **state)
{
	struct tpd_config cfg;
	char err[256] = "";
	struct tp_addr a4 = pt_addr("198.18.0.9"),
		       a6 = pt_addr("fd00:198:18::9");

	(void)state;
	assert_int_equal(
		tpd_config_parse(
			CFG_IF
			"\"services\":[{\"frontend\":"
			"\"198.19.0.10:80/tcp\",\"snat\":true},{\"frontend\":"
			"\"198.19.0.10:81/tcp\",\"snat\":false}]}",
			&cfg, err, sizeof(err)),
		0);
	assert_false(cfg.snat.auto_mode);
	assert_false(cfg.snat.has_addr4 || cfg.snat.has_addr6);
	assert_int_equal(cfg.snat.port_min, TP_SNAT_PORT_MIN);
	assert_int_equal(cfg.snat.port_max, TP_SNAT_PORT_MAX);
	assert_true(cfg.services[0].snat);
	assert_false(cfg.services[1].snat);
	tpd_config_free(&cfg);

	assert_int_equal(tpd_config_parse(CFG_IF "\"snat\":\"auto\"}", &cfg,
					  err, sizeof(err)),
			 0);
	assert_true(cfg.snat.auto_mode);
	assert_int_equal(cfg.snat.port_min, TP_SNAT_PORT_MIN);
	tpd_config_free(&cfg);
	assert_int_equal(tpd_config_parse(CFG_IF "\"snat\":\"off\"}", &cfg, err,
					  sizeof(err)),
			 0);
	assert_false(cfg.snat.auto_mode);
	tpd_config_free(&cfg);

	assert_int_equal(
		tpd_config_parse(
			CFG_IF
			"\"snat\":{\"mode\":\"auto\",\"ipv4\":"
			"\"198.18.0.9\",\"ipv6\":\"fd00:198:18::9\",\"ports\":"
			"\"40000-40099\"}}",
			&cfg, err, sizeof(err)),
		0);
	assert_true(cfg.snat.auto_mode);
	assert_true(cfg.snat.has_addr4 && cfg.snat.has_addr6);
	assert_memory_equal(&cfg.snat.addr4, &a4, sizeof(a4));
	assert_memory_equal(&cfg.snat.addr6, &a6, sizeof(a6));
	assert_int_equal(cfg.snat.port_min, 40000);
	assert_int_equal(cfg.snat.port_max, 40099);
	tpd_config_free(&cfg);
	/* an object without mode is off; one port is a range of one */
	assert_int_equal(tpd_config_parse(CFG_IF
					  "\"snat\":{\"ports\":\"50000\"}}",
					  &cfg, err, sizeof(err)),
			 0);
	assert_false(cfg.snat.auto_mode);
	assert_int_equal(cfg.snat.port_min, 50000);
	assert_int_equal(cfg.snat.port_max, 50000);
	tpd_config_free(&cfg);
}

/* Every bad "snat" names its key and says what is wrong. */
static void test_config_snat_errors(void **state)
{
	static const struct refused_config cases[] = {
		{ CFG_IF "\"snat\":\"on\"}",
		  "snat: 'on': expected auto or off" },
		{ CFG_IF "\"snat\":true}",
		  "snat: expected \"auto\", \"off\" or an object" },
		{ CFG_IF "\"snat\":{\"mode\":\"always\"}}",
		  "snat.mode: 'always': expected auto or off" },
		{ CFG_IF "\"snat\":{\"mode\":1}}",
		  "snat.mode: expected a string" },
		{ CFG_IF "\"snat\":{\"port\":\"1-2\"}}",
		  "snat: unknown key 'port'" },
		{ CFG_IF "\"snat\":{\"ports\":\"65000-61000\"}}",
		  "snat.ports: '65000-61000': the first port is above the last" },
		{ CFG_IF "\"snat\":{\"ports\":\"61000-70000\"}}",
		  "snat.ports: '61000-70000' is not a port range (LO-HI, 1024-65535)" },
		{ CFG_IF "\"snat\":{\"ports\":\"61000-\"}}",
		  "snat.ports: '61000-' is not a port range" },
		{ CFG_IF "\"snat\":{\"ports\":\"0-100\"}}",
		  "snat.ports: '0-100' reaches below 1024" },
		{ CFG_IF "\"snat\":{\"ports\":\"80-2000\"}}",
		  "snat.ports: '80-2000' reaches below 1024" },
		{ CFG_IF "\"snat\":{\"ports\":61000}}",
		  "snat.ports: expected a string" },
		{ CFG_IF "\"snat\":{\"ipv4\":\"fd00::1\"}}",
		  "snat.ipv4: 'fd00::1' is not a unicast IPv4 address" },
		{ CFG_IF "\"snat\":{\"ipv4\":\"198.18.0.300\"}}",
		  "snat.ipv4: '198.18.0.300' is not a unicast IPv4 address" },
		{ CFG_IF "\"snat\":{\"ipv4\":\"0.0.0.0\"}}",
		  "snat.ipv4: '0.0.0.0' is not a unicast IPv4 address" },
		{ CFG_IF "\"snat\":{\"ipv4\":\"224.0.0.1\"}}",
		  "snat.ipv4: '224.0.0.1' is not a unicast IPv4 address" },
		{ CFG_IF "\"snat\":{\"ipv6\":\"198.18.0.1\"}}",
		  "snat.ipv6: '198.18.0.1' is not a unicast IPv6 address" },
		{ CFG_IF "\"snat\":{\"ipv6\":\"::ffff:198.18.0.1\"}}",
		  "snat.ipv6: '::ffff:198.18.0.1' is not a unicast IPv6 address" },
		{ CFG_IF "\"snat\":{\"ipv6\":\"::\"}}",
		  "snat.ipv6: '::' is not a unicast" },
		{ CFG_IF "\"snat\":{\"ipv6\":\"ff02::1\"}}",
		  "snat.ipv6: 'ff02::1' is not a unicast" },
		{ CFG_IF "\"snat\":{\"mode\":\"auto\",\"mode\":\"off\"}}",
		  "snat: duplicate key 'mode'" },
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"snat\":1}]}",
		  "services[0].snat: expected true or false" },
		{ CFG_IF
		  "\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"snat\":\"yes\"}]}",
		  "services[0].snat: expected true or false" },
	};

	(void)state;
	expect_refused(cases, sizeof(cases) / sizeof(cases[0]), false);
}

/* Write @text to a new file under /tmp; its path in @path. */
static void tmp_file(char *path, size_t len, const char *text)
{
	int fd;

	snprintf(path, len, "/tmp/tp-ldtest-snat-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/*
 * Warnings come from the host, never make a configuration fail: a range
 * overlapping the ephemeral ports, SNAT with nowhere to take an address.
 */
static void test_config_snat_warnings(void **state)
{
	struct tpd_config cfg;
	char range[64], msg[512] = "", err[256];

	(void)state;
	tmp_file(range, sizeof(range), "32768\t60999\n");
	assert_int_equal(tpd_config_parse(CFG_IF "\"snat\":\"off\"}", &cfg, err,
					  sizeof(err)),
			 0);
	assert_int_equal(tpd_config_warnings(&cfg, range, msg, sizeof(msg)), 0);
	tpd_config_free(&cfg);

	assert_int_equal(
		tpd_config_parse(CFG_IF "\"snat\":{\"ports\":\"60000-62000\"}}",
				 &cfg, err, sizeof(err)),
		0);
	assert_int_equal(tpd_config_warnings(&cfg, range, msg, sizeof(msg)), 1);
	assert_non_null(strstr(
		msg, "snat.ports: 60000-62000 overlaps the ephemeral port "
		     "range 32768-60999"));
	tpd_config_free(&cfg);

	/* auto without an uplink and without addresses */
	assert_int_equal(tpd_config_parse(CFG_IF "\"snat\":\"auto\"}", &cfg,
					  err, sizeof(err)),
			 0);
	assert_int_equal(tpd_config_warnings(&cfg, range, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "no \"uplink\" interface"));
	assert_non_null(strstr(msg, "either family"));
	tpd_config_free(&cfg);
	assert_int_equal(
		tpd_config_parse(
			"{\"interfaces\":[{\"name\":\"x\"},{\"name\":\"e\","
			"\"kind\":\"uplink\"}],\"snat\":\"auto\"}",
			&cfg, err, sizeof(err)),
		0);
	assert_int_equal(tpd_config_warnings(&cfg, range, msg, sizeof(msg)), 0);
	tpd_config_free(&cfg);
	unlink(range);
}

/* The sysctl's contents (a file standing in for it), without the newline. */
static char *ports_of(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

/*
 * The reserved ports are merged with others', and only what the loader
 * added is recorded and taken out again: first against a file, then the
 * real sysctl of this test's network namespace.
 */
static void test_snat_reserved_ports(void **state)
{
	char sysctl[64], record[128], got[256], added[256], saved[256];
	const char *real = TPD_RESERVED_PORTS;

	(void)state;
	REQUIRE_BPF(); /* its own network namespace */
	tmp_file(sysctl, sizeof(sysctl), "1000,61000-61010\n");
	snprintf(record, sizeof(record), "%s.record", sysctl);
	unlink(record);

	assert_int_equal(tpd_ports_reserve(sysctl, record, 61000, 65000, added,
					   sizeof(added)),
			 0);
	assert_string_equal(ports_of(sysctl, got, sizeof(got)),
			    "1000,61000-65000");
	assert_string_equal(added, "61011-65000");
	assert_string_equal(ports_of(record, got, sizeof(got)), "61011-65000");
	/* a restart: nothing new, the record stays */
	assert_int_equal(tpd_ports_reserve(sysctl, record, 61000, 65000, added,
					   sizeof(added)),
			 0);
	assert_string_equal(added, "61011-65000");
	assert_string_equal(ports_of(sysctl, got, sizeof(got)),
			    "1000,61000-65000");
	/* a reload with a smaller range gives back what it no longer needs */
	assert_int_equal(tpd_ports_reserve(sysctl, record, 62000, 63000, added,
					   sizeof(added)),
			 0);
	assert_string_equal(ports_of(sysctl, got, sizeof(got)),
			    "1000,61000-61010,62000-63000");
	assert_string_equal(added, "62000-63000");
	assert_int_equal(
		tpd_ports_release(sysctl, record, added, sizeof(added)), 0);
	assert_string_equal(added, "62000-63000");
	assert_string_equal(ports_of(sysctl, got, sizeof(got)),
			    "1000,61000-61010");
	assert_int_not_equal(access(record, F_OK), 0);
	/* released twice: nothing to do */
	assert_int_equal(
		tpd_ports_release(sysctl, record, added, sizeof(added)), 0);
	assert_string_equal(added, "");
	assert_string_equal(ports_of(sysctl, got, sizeof(got)),
			    "1000,61000-61010");
	/* a broken sysctl text is an error, and nothing is written */
	tmp_file(got, sizeof(got), "x");
	assert_int_equal(tpd_ports_reserve(got, record, 61000, 65000, added,
					   sizeof(added)),
			 -EINVAL);
	assert_int_not_equal(access(record, F_OK), 0);
	unlink(got);
	unlink(sysctl);

	/* the kernel's own, in this namespace (it keeps automatic binds off those ports) */
	ports_of(real, saved, sizeof(saved));
	fixture_sh("echo 7000,7005 > %s", real);
	assert_int_equal(tpd_ports_reserve(real, record, 61000, 65000, added,
					   sizeof(added)),
			 0);
	assert_string_equal(ports_of(real, got, sizeof(got)),
			    "7000,7005,61000-65000");
	assert_string_equal(added, "61000-65000");
	assert_int_equal(tpd_ports_release(real, record, added, sizeof(added)),
			 0);
	assert_string_equal(ports_of(real, got, sizeof(got)), "7000,7005");

	/* others' list longer than a page (the sysctl takes a page a write) */
	{
		char *many = malloc(65536), *back = malloc(65536);
		size_t len = 0, off = 0;
		ssize_t n;
		int fd;
		unsigned int port;

		assert_non_null(many);
		assert_non_null(back);
		for (port = 10000; port < 20000; port += 2)
			len += snprintf(many + len, 65536 - len, "%s%u",
					len ? "," : "", port);
		fd = open(real, O_WRONLY);
		assert_true(fd >= 0);
		for (; off < len; off += (size_t)n)
			assert_true((n = write(fd, many + off, len - off)) > 0);
		close(fd);
		assert_int_equal(tpd_ports_reserve(real, record, 61000, 65000,
						   added, sizeof(added)),
				 0);
		assert_string_equal(added, "61000-65000");
		assert_int_equal(
			tpd_ports_release(real, record, added, sizeof(added)),
			0);
		fd = open(real, O_RDONLY);
		assert_true(fd >= 0);
		for (off = 0; (n = read(fd, back + off, 65535 - off)) > 0;
		     off += (size_t)n)
			;
		close(fd);
		back[off] = 0;
		back[strcspn(back, "\n")] = 0;
		print_message(
			"reserved ports of others: %zu bytes of text, kept whole\n",
			len);
		assert_string_equal(back, many);
		free(many);
		free(back);
	}

	/* a record of another network namespace: never this one's ports */
	fixture_sh("echo 7000,61000-65000 > %s", real);
	fixture_sh("printf '61000-65000\\nnetns 1\\n' > %s", record);
	assert_int_equal(tpd_ports_release(real, record, added, sizeof(added)),
			 1);
	assert_string_equal(ports_of(real, got, sizeof(got)),
			    "7000,61000-65000");
	assert_int_not_equal(access(record, F_OK), 0);
	fixture_sh("printf '61000-65000\\nnetns 1\\n' > %s", record);
	assert_int_equal(tpd_ports_reserve(real, record, 61000, 65000, added,
					   sizeof(added)),
			 0);
	assert_string_equal(added, ""); /* all there before: none of it ours */
	assert_int_not_equal(access(record, F_OK), 0);
	fixture_sh("echo '%s' > %s", saved, real);
}

/* ---- interfaces --------------------------------------------------------------- */

/* Run a shell command in the test's own network namespace; it must work. */
/* The tp_ifaces flags tpd_iface_attach() gives an uplink, or -errno. */
static int uplink_flags(struct th *h, const char *name, int ifindex)
{
	struct tpd_datapath dp = { .skel = h->skel, .maps = h->maps };
	struct tpd_iface_cfg ifc = { .kind = TPD_IFACE_UPLINK };
	struct tpd_config cfg = {};
	struct tp_iface v;
	__u32 key = ifindex;
	int err;

	/* a pin root of its own: an object with tp_from_uplink pins the link */
	dp.uplink_prog = bpf_object__find_program_by_name(h->skel->obj,
							  "tp_from_uplink");
	snprintf(cfg.pin_root, sizeof(cfg.pin_root),
		 "/sys/fs/bpf/tp-ldtest-%d-up", getpid());
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	snprintf(ifc.name, sizeof(ifc.name), "%s", name);
	err = tpd_iface_attach(&dp, &cfg, &ifc, ifindex);
	tpd_iface_detach(cfg.pin_root, ifc.name, err ? 0 : ifindex);
	tpd_detach_all(&cfg, true);
	if (err)
		return err;
	assert_int_equal(bpf_map_lookup_elem(h->maps.ifaces, &key, &v), 0);
	return v.flags;
}

/*
 * Whether an interface is L3 comes from rtnetlink in the loader's own
 * namespace.  /sys/class/net shows the namespace that mounted /sys: here
 * the root one, where eth0 is Ethernet and tpeth0 does not exist.
 */
static void test_iface_kind_own_netns(void **state)
{
	struct th *h = *state;
	unsigned short type;
	__u32 gone = 999999;
	struct tp_iface v;
	bool l3;

	REQUIRE_BPF();
	fixture_sh("ip link add tpeth0 type veth peer name tpeth1");
	fixture_sh("ip tuntap add dev eth0 mode tun");
	assert_int_equal(uplink_flags(h, "tpeth0", if_nametoindex("tpeth0")),
			 TP_IFACE_F_UPLINK);
	assert_int_equal(uplink_flags(h, "eth0", if_nametoindex("eth0")),
			 TP_IFACE_F_UPLINK | TP_IFACE_F_L3);
	assert_int_equal(uplink_flags(h, "tptun0", h->l3_ifindex),
			 TP_IFACE_F_UPLINK | TP_IFACE_F_L3);
	assert_int_equal(uplink_flags(h, "lo", if_nametoindex("lo")),
			 TP_IFACE_F_UPLINK);
	assert_int_equal(tpd_link_type(if_nametoindex("eth0"), &type), 0);
	assert_int_equal(type, ARPHRD_NONE);
	assert_int_equal(tpd_link_is_l3(if_nametoindex("tpeth0"), &l3), 0);
	assert_false(l3);

	/* an interface that does not exist is an error, not an L3 one */
	assert_int_equal(tpd_link_is_l3(gone, &l3), -ENODEV);
	assert_int_equal(uplink_flags(h, "tp-none0", gone), -ENODEV);
	assert_int_not_equal(bpf_map_lookup_elem(h->maps.ifaces, &gone, &v), 0);
	fixture_sh("ip link del tpeth0 && ip link del eth0");
}

/* tp_config, read from the maps. */
static struct tp_config config_of(const struct tp_maps *m)
{
	struct tp_config c;
	__u32 zero = 0;

	assert_int_equal(bpf_map_lookup_elem(m->config, &zero, &c), 0);
	return c;
}

/*
 * The SNAT addresses come from the first uplink's primary addresses (not
 * secondary, deprecated or tentative), a configured one wins, and writing
 * them keeps the policy revision tpctl bumps.
 */
static void test_snat_addresses(void **state)
{
	struct th *h = *state;
	struct tp_addr v4 = pt_addr("198.18.0.5"),
		       v6 = pt_addr("fd00:198:18::5");
	struct tp_addr v4b = pt_addr("198.18.0.7"),
		       conf4 = pt_addr("198.18.9.9"), zero = {};
	struct tpd_snat_addrs a;
	struct tpd_config cfg;
	struct tp_config c;
	bool changed;
	__u32 key = 0;

	REQUIRE_BPF();
	/*
	 * ::6 must stay tentative for the whole test: its duplicate address
	 * detection is made to last an hour (with the default second, a
	 * slow run, as under qemu, saw it become valid and chose it).
	 */
	(void)!system("ip link del tpsn0 2>/dev/null");
	fixture_sh(
		"ip link add tpsn0 type veth peer name tpsn1 && "
		"sysctl -qw net.ipv6.neigh.tpsn0.retrans_time_ms=3600000 && "
		"ip link set tpsn0 up && "
		"ip link set tpsn1 up && ip addr add 198.18.0.5/24 dev tpsn0 && "
		"ip addr add 198.18.0.6/24 dev tpsn0 && "
		"ip -6 addr add fd00:198:18::4/64 dev tpsn0 nodad preferred_lft 0 && "
		"ip -6 addr add fd00:198:18::5/64 dev tpsn0 nodad && "
		"ip -6 addr add fd00:198:18::6/64 dev tpsn0");
	/* uplinks not there yet, or without a global address (lo), are passed over */
	config_ok("{\"interfaces\":[{\"name\":\"x\"},{\"name\":"
		  "\"tp-none0\",\"kind\":\"uplink\"},{\"name\":\"lo\","
		  "\"kind\":\"uplink\"},{\"name\":\"tpsn0\",\"kind\":"
		  "\"uplink\"}],\"snat\":\"auto\"}",
		  &cfg);
	assert_int_equal(tpd_snat_addrs(&cfg, &a), 0);
	assert_memory_equal(&a.v4, &v4, sizeof(v4));
	assert_memory_equal(&a.v6, &v6, sizeof(v6));
	assert_string_equal(a.from, "tpsn0");

	c = config_of(&h->maps);
	c.policy_rev = 17;
	assert_int_equal(bpf_map_update_elem(h->maps.config, &key, &c, BPF_ANY),
			 0);
	assert_int_equal(tpd_snat_config_write(&h->maps, &cfg, &a, &changed),
			 0);
	assert_true(changed);
	c = config_of(&h->maps);
	assert_int_equal(c.policy_rev, 17);
	assert_int_equal(c.flags, TP_CFG_F_SNAT_AUTO);
	assert_memory_equal(&c.snat_addr4, &v4, sizeof(v4));
	assert_memory_equal(&c.snat_addr6, &v6, sizeof(v6));
	assert_int_equal(c.snat_port_min, TP_SNAT_PORT_MIN);
	assert_int_equal(c.snat_port_max, TP_SNAT_PORT_MAX);
	assert_int_equal(c.pad, 0);
	assert_int_equal(tpd_snat_config_write(&h->maps, &cfg, &a, &changed),
			 0);
	assert_false(changed);
	/* a tpctl bump in between survives the next write, and the other way round */
	assert_int_equal(tp_policy_bump_rev(&h->maps), 0);
	fixture_sh("ip addr flush dev tpsn0 scope global to 198.18.0.0/24 && "
		   "ip addr add 198.18.0.7/24 dev tpsn0");
	assert_int_equal(tpd_snat_addrs(&cfg, &a), 0);
	assert_memory_equal(&a.v4, &v4b, sizeof(v4b));
	assert_int_equal(tpd_snat_config_write(&h->maps, &cfg, &a, &changed),
			 0);
	assert_true(changed);
	c = config_of(&h->maps);
	assert_int_equal(c.policy_rev, 18);
	assert_memory_equal(&c.snat_addr4, &v4b, sizeof(v4b));
	tpd_config_free(&cfg);

	/* a configured address as is; the other family still from the uplink; off */
	config_ok("{\"interfaces\":[{\"name\":\"tpsn0\",\"kind\":"
		  "\"uplink\"}],\"snat\":{\"ipv4\":\"198.18.9.9\","
		  "\"ports\":\"40000-40010\"}}",
		  &cfg);
	assert_int_equal(tpd_snat_addrs(&cfg, &a), 0);
	assert_memory_equal(&a.v4, &conf4, sizeof(conf4));
	assert_memory_equal(&a.v6, &v6, sizeof(v6));
	assert_int_equal(tpd_snat_config_write(&h->maps, &cfg, &a, &changed),
			 0);
	c = config_of(&h->maps);
	assert_int_equal(c.flags, 0);
	assert_int_equal(c.snat_port_min, 40000);
	assert_int_equal(c.snat_port_max, 40010);
	assert_int_equal(c.policy_rev, 18);
	tpd_config_free(&cfg);

	/* an uplink that is not there: no address, not an error */
	config_ok("{\"interfaces\":[{\"name\":\"tp-none0\",\"kind\":"
		  "\"uplink\"}]}",
		  &cfg);
	assert_int_equal(tpd_snat_addrs(&cfg, &a), 0);
	assert_memory_equal(&a.v4, &zero, sizeof(zero));
	assert_memory_equal(&a.v6, &zero, sizeof(zero));
	assert_string_equal(a.from, "none");
	tpd_config_free(&cfg);
	fixture_sh("ip link del tpsn0");
}

/* ---- this host's addresses ------------------------------------------------------- */

static void on_addr_event(const struct tpd_link_event *ev, void *ctx)
{
	if (ev->addr)
		*(bool *)ctx = true;
}

/* Read the pending rtnetlink events: did any say an address changed? */
static bool addr_events(struct mnl_socket *nl)
{
	bool seen = false;

	assert_int_equal(tpd_links_read(nl, on_addr_event, &seen), 0);
	return seen;
}

/* The owner of exactly @cidr in zone 0, or -ENOENT. */
static int owner_of(struct th *h, const char *cidr)
{
	struct tp_identity_key k = {};
	struct tp_identity_val v;
	unsigned int plen;

	assert_int_equal(pkt_prefix_parse(cidr, &k.addr, &plen), 0);
	k.prefixlen = TP_IDENTITY_PLEN(plen);
	if (bpf_map_lookup_elem(h->maps.identity, &k, &v) ||
	    TP_IDENTITY_PLEN(v.plen) != k.prefixlen)
		return -ENOENT;
	return v.owner;
}

/*
 * Every address of the namespace is `host` in zone 0 (static owner), the
 * node's tailnet address included, so a tailnet packet to it is
 * host-bound; link-local IPv6 is not; a prefix the configuration or tpctl
 * names keeps their identity; an address that goes is removed, and the
 * static source and the host sync never remove each other's entries.
 */
static void test_host_addresses(void **state)
{
	struct th *h = *state;
	struct tp_ct_key k =
		pt_ct_key(CLIENT4, 4000, "100.64.0.5", 22, IPPROTO_TCP);
	struct tp_addr a = pt_addr("198.18.0.7"), *host = NULL;
	struct tpd_sync_result r = {};
	struct tpd_config cfg;
	struct mnl_socket *nl;
	struct tp_ct_entry e;
	size_t n = 0;

	REQUIRE_BPF();
	config_ok("{\"interfaces\":[{\"name\":\"tptun0\",\"zone\":1}],"
		  "\"identities\":[{\"cidr\":\"198.18.0.6/32\",\"id\":300}]}",
		  &cfg);
	assert_int_equal(
		tp_identity_set(&h->maps, 0, &a, 128, 301, TP_OWNER_TPCTL), 0);
	nl = tpd_links_open();
	assert_non_null(nl);
	fixture_sh("ip link add tphost0 type veth peer name tphost1");
	fixture_sh(
		"ip addr add 198.18.0.5/24 dev tphost0 && ip addr add 198.18.0.6/24 dev tphost0 && "
		"ip addr add 198.18.0.7/24 dev tphost0");
	fixture_sh("ip -6 addr add fd00:198:18::5/64 dev tphost0 nodad && "
		   "ip -6 addr add fe80::5/64 dev tphost0 nodad");
	fixture_sh(
		"ip addr add 100.64.0.5/32 dev tptun0"); /* the node's tailnet address */
	assert_true(addr_events(nl));

	assert_int_equal(tpd_host_addrs(&host, &n), 0);
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, host, n, NULL, &r), 0);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.conflicts, 1); /* tpctl's 198.18.0.7 */
	assert_int_equal(ident_of(h, 0, "198.18.0.5"), TP_ID_HOST);
	assert_int_equal(owner_of(h, "198.18.0.5/32"), TP_OWNER_STATIC);
	assert_int_equal(ident_of(h, 0, "fd00:198:18::5"), TP_ID_HOST);
	assert_int_equal(ident_of(h, 0, "100.64.0.5"), TP_ID_HOST);
	assert_int_equal(ident_of(h, 0, "198.18.0.6"), 300);
	assert_int_equal(ident_of(h, 0, "198.18.0.7"), 301);
	assert_int_equal(ident_of(h, 0, "198.18.0.4"),
			 0); /* the address, not its subnet */
	assert_int_equal(ident_of(h, 0, "fe80::5"), 0);
	assert_int_equal(ident_of(h, TH_ZONE, "100.64.0.5"), 0);

	/* local to the node: out zone 0, so the destination is host */
	pt_expect_untouched(h, TH_FROM_TAILNET,
			    FLOWP(CLIENT4, 4000, "100.64.0.5", 22, IPPROTO_TCP,
				  PKT_TCP_SYN),
			    PASS);
	assert_int_equal(pt_ct_get(h, &k, &e), 0);
	assert_int_equal(e.dst_identity, TP_ID_HOST);
	assert_int_equal(e.out_zone, 0);

	/* an address goes: the event says so, the next sync removes it */
	fixture_sh("ip addr del 198.18.0.5/24 dev tphost0");
	assert_true(addr_events(nl));
	free(host);
	assert_int_equal(tpd_host_addrs(&host, &n), 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(tpd_sync_host(&h->maps, &cfg, host, n, &r), 0);
	assert_int_equal(r.removed, 1);
	assert_int_equal(r.added + r.changed, 0);
	assert_int_equal(ident_of(h, 0, "198.18.0.5"), 0);
	assert_int_equal(ident_of(h, 0, "fd00:198:18::5"), TP_ID_HOST);
	assert_int_equal(ident_of(h, 0, "198.18.0.6"), 300);

	/* the static source again (a SIGHUP): nothing of the host's goes */
	memset(&r, 0, sizeof(r));
	assert_int_equal(tpd_sync_static(&h->maps, &cfg, host, n, NULL, &r), 0);
	assert_int_equal(r.added + r.changed + r.removed, 0);

	/* the interface goes, and its addresses with it */
	fixture_sh("ip link del tphost0");
	assert_true(addr_events(nl));
	free(host);
	assert_int_equal(tpd_host_addrs(&host, &n), 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(tpd_sync_host(&h->maps, &cfg, host, n, &r), 0);
	assert_int_equal(ident_of(h, 0, "fd00:198:18::5"), 0);
	assert_int_equal(ident_of(h, 0, "100.64.0.5"), TP_ID_HOST);
	assert_int_equal(ident_of(h, 0, "198.18.0.6"), 300);
	assert_int_equal(ident_of(h, 0, "198.18.0.7"), 301);

	fixture_sh("ip addr del 100.64.0.5/32 dev tptun0");
	free(host);
	tpd_links_close(nl);
	tpd_config_free(&cfg);
}

/* ---- pins across loads ------------------------------------------------------ */

#define PIN_PREFIX "tp-ldtest" /* the pin root: /sys/fs/bpf/tp-ldtest-PID */

/* A config of no real interface, pinning under the test's pin root. */
static void pin_cfg(struct tpd_config *cfg)
{
	fixture_pin_config(cfg, PIN_PREFIX);
}

static int map_info(const char *pin_root, const char *name,
		    struct bpf_map_info *info)
{
	char path[256];
	__u32 len = sizeof(*info);
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", pin_root, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	memset(info, 0, len);
	err = bpf_obj_get_info_by_fd(fd, info, &len);
	close(fd);
	return err;
}

static int pins_teardown(void **state)
{
	(void)state;
	if (!th_unavailable())
		fixture_pins_remove(PIN_PREFIX); /* what a failed test left */
	return 0;
}

/*
 * A first load on fresh pins, and @n backend specs of BE4[0..n) on 8080,
 * weight 1.
 */
static void pins_load_fresh(struct tpd_datapath *dp, struct tpd_config *cfg,
			    struct tp_backend_spec *bs, size_t n)
{
	size_t i;

	pin_cfg(cfg);
	assert_int_equal(tpd_bpffs_prepare(cfg->pin_root), 0);
	assert_int_equal(tpd_datapath_load(dp, cfg), 0);
	for (i = 0; i < n; i++) {
		bs[i].addr = pt_addr(BE4[i]);
		bs[i].port = htons(8080);
		bs[i].weight = 1;
	}
}

/*
 * A restart reuses every pin (state survives); a new Maglev size rebuilds
 * the tables in the same slab; a map whose layout changed is replaced,
 * not left half-compatible.
 */
static void test_pins_survive_and_migrate(void **state)
{
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs[3] = {};
	struct tpd_datapath dp;
	struct tpd_config cfg;
	struct bpf_map_info info;
	struct tp_svc svc;
	char path[300];
	__u32 slot, frag_id, slab_id;
	int fd;

	(void)state;
	REQUIRE_BPF();
	pins_load_fresh(&dp, &cfg, bs, 3);
	assert_int_equal(tp_service_set(&dp.maps, &k, &spec, bs, 3), 0);
	tpd_datapath_close(&dp);

	/* same layout: the service is still there */
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_false(dp.maglev_resized);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.services, &k, &svc), 0);
	tpd_datapath_close(&dp);

	/* another Maglev size: the live table rebuilt at 31, same slab */
	assert_int_equal(map_info(cfg.pin_root, TP_MAP_MAGLEV_SLAB, &info), 0);
	slab_id = info.id;
	cfg.maglev_size = 31;
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_true(dp.maglev_resized);
	assert_int_equal(map_info(cfg.pin_root, TP_MAP_MAGLEV_SLAB, &info), 0);
	assert_int_equal(info.type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	assert_int_equal(info.id, slab_id);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.services, &k, &svc), 0);
	assert_int_equal(svc.table_size, 31);
	{
		/* the live table, read back through the chunk's pin */
		__u32 table[31];

		assert_int_equal(
			tp_slab_read(dp.maps.slab, svc.table_off, 31, table),
			0);
		for (slot = 0; slot < 31; slot++)
			assert_int_not_equal(table[slot], 0);
	}
	tpd_datapath_close(&dp);

	/*
	 * Pins from before conntrack was split by protocol: a UDP flow in
	 * tp_ct and no tp_ct_any.  It is moved, a TCP flow stays.
	 */
	{
		struct tp_ct_key ku =
			pt_ct_key(CLIENT4, 5000, VIP4, 53, IPPROTO_UDP);
		struct tp_ct_key kt =
			pt_ct_key(CLIENT4, 5001, VIP4, 80, IPPROTO_TCP);
		struct tp_ct_entry ce = { .state = TP_CT_OPEN,
					  .expires_s = ~0u };

		assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
		assert_int_equal(
			bpf_map_update_elem(dp.maps.ct, &ku, &ce, BPF_ANY), 0);
		assert_int_equal(
			bpf_map_update_elem(dp.maps.ct, &kt, &ce, BPF_ANY), 0);
		tpd_datapath_close(&dp);
		snprintf(path, sizeof(path), "%s/%s", cfg.pin_root,
			 TP_MAP_CT_ANY);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
		assert_int_equal(bpf_map_lookup_elem(dp.maps.ct_any, &ku, &ce),
				 0);
		assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &ku, &ce),
				 -ENOENT);
		assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &kt, &ce), 0);
		assert_int_equal(bpf_map_delete_elem(dp.maps.ct, &kt), 0);
		assert_int_equal(bpf_map_delete_elem(dp.maps.ct_any, &ku), 0);
		tpd_datapath_close(&dp);
	}

	/* a pin of another layout under tp_frags: replaced by the right one */
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_FRAGS);
	assert_int_equal(unlink(path), 0);
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, TP_MAP_FRAGS,
			    sizeof(struct tp_frag_key), 8, 16, NULL);
	assert_true(fd >= 0);
	frag_id = 0;
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(map_info(cfg.pin_root, TP_MAP_FRAGS, &info), 0);
	assert_int_equal(info.value_size, sizeof(struct tp_frag));
	assert_int_equal(bpf_map_lookup_elem(dp.maps.services, &k, &svc), 0);
	tpd_datapath_close(&dp);
	(void)frag_id;

	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	assert_int_not_equal(access(cfg.pin_root, F_OK), 0);
	tpd_config_free(&cfg);
}

/* Entries of a map, by walking its keys. */
static long count_keys(int fd, size_t key_size)
{
	unsigned char key[64], next[64];
	void *prev = NULL;
	long n = 0;

	assert_true(key_size <= sizeof(key));
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

/* The id of the program @fd, 0 if none. */
static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

/*
 * A restart with the same object and knobs takes the programs and maps
 * from their pins without loading (the same program ids, the maps' state);
 * other knobs, a map replaced since, or a purge make it load again.
 */
static void test_pins_restart_without_load(void **state)
{
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs = { .port = htons(8080), .weight = 1 };
	struct tpd_datapath dp, pinned;
	struct bpf_map_info info;
	struct tpd_config cfg;
	struct tp_svc svc;
	__u32 from, to;
	char path[300];
	long rss = 0;
	int fd;

	(void)state;
	REQUIRE_BPF();
	pin_cfg(&cfg);
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	/* nothing pinned yet: nothing to take */
	assert_int_equal(tpd_datapath_open_pinned(&pinned, &cfg), -ENOENT);
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	bs.addr = pt_addr(BE4[0]);
	assert_int_equal(tp_service_set(&dp.maps, &k, &spec, &bs, 1), 0);
	/* the guard's program is libxdp's to load (loader/xdp.c), not this */
	assert_true(bpf_program__fd(dp.skel->progs.tp_xdp_guard) < 0);
	from = prog_id(dp.prog_fd[TPD_PROG_FROM_TAILNET]);
	to = prog_id(dp.prog_fd[TPD_PROG_TO_TAILNET]);
	tpd_datapath_close(&dp);

	assert_int_equal(tpd_datapath_open_pinned(&pinned, &cfg), 0);
	assert_null(pinned.skel);
	assert_int_equal(prog_id(pinned.prog_fd[TPD_PROG_FROM_TAILNET]), from);
	assert_int_equal(prog_id(pinned.prog_fd[TPD_PROG_TO_TAILNET]), to);
	assert_int_equal(bpf_map_lookup_elem(pinned.maps.services, &k, &svc),
			 0);
	tpd_datapath_close(&pinned);

	/* another knob: the pinned programs are not what a load would make */
	cfg.ct_timeout[4]++;
	assert_int_equal(tpd_datapath_open_pinned(&pinned, &cfg), -ENOENT);
	cfg.ct_timeout[4]--;

	/* a map pinned anew after the programs (another loader migrated it) */
	assert_int_equal(map_info(cfg.pin_root, TP_MAP_IFACES, &info), 0);
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_IFACES);
	assert_int_equal(unlink(path), 0);
	fd = bpf_map_create(info.type, TP_MAP_IFACES, info.key_size,
			    info.value_size, info.max_entries, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	assert_int_equal(tpd_datapath_open_pinned(&pinned, &cfg), -ESTALE);

	/* a load in a child pins its programs again, for this map */
	assert_int_equal(tpd_datapath_load_child(&cfg, &rss), 0);
	assert_true(rss > 0);
	print_message("load in a child: peak RSS %ld KiB\n", rss);
	assert_int_equal(tpd_datapath_open_pinned(&pinned, &cfg), 0);
	assert_int_not_equal(prog_id(pinned.prog_fd[TPD_PROG_FROM_TAILNET]),
			     from);
	tpd_datapath_close(&pinned);

	/* a purge leaves nothing, the programs' directory included */
	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	assert_int_not_equal(access(cfg.pin_root, F_OK), 0);
	tpd_config_free(&cfg);
}

/* What the early step of a cold start found, and wrote (early_write()). */
struct early_seen {
	const struct tpd_config *cfg;
	int calls;
	size_t pinned;		  /* maps of the pin root pinned when it ran */
	__u32 maglev_cap;	  /* the table size recorded by then, 0: none */
	union tp_iface_slot slot; /* EARLY_IFINDEX's slot by then */
	int svc_err, name_err, stray_err, slot_err, iface_err;
};

#define EARLY_NAME_ID  300
#define EARLY_STRAY_ID 301 /* an index entry with no name behind it */
#define EARLY_IFINDEX  4242

static void early_write(const struct tpd_datapath *dp,
			const struct tpd_load_child *lc, void *ctx)
{
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs = { .port = htons(8080), .weight = 1 };
	struct tp_svc_be_key head = { .svc_id = 0, .slot = TP_SVC_BE_HEAD };
	struct tp_id_name_key stray = { .name = "stray" };
	struct tp_iface up = { .flags = TP_IFACE_F_UPLINK };
	__u32 id = EARLY_STRAY_ID, bucket = EARLY_IFINDEX % TP_IFACE_SLOTS;
	struct early_seen *seen = ctx;

	assert_true(lc->pid > 0);
	seen->calls++;
	seen->pinned = fixture_pins_count(seen->cfg);
	if (bpf_map_lookup_elem(dp->maps.svc_backends, &head,
				&seen->maglev_cap))
		seen->maglev_cap = 0;
	bs.addr = pt_addr(BE4[0]);
	seen->svc_err = tp_service_set(&dp->maps, &k, &spec, &bs, 1);
	seen->name_err = tp_identity_name_set(&dp->maps, EARLY_NAME_ID, "early",
					      TP_OWNER_TPCTL);
	/* the child rebuilding the name index after its load would drop it */
	seen->stray_err =
		bpf_map_update_elem(dp->maps.id_by_name, &stray, &id, BPF_ANY);
	seen->slot_err =
		bpf_map_lookup_elem(dp->maps.iface_slots, &bucket, &seen->slot);
	seen->iface_err = tp_iface_set(&dp->maps, EARLY_IFINDEX, &up);
}

/*
 * A cold start (nothing pinned): the child says when libbpf has made and
 * pinned every map, before the verifier runs, and the caller writes them
 * while the programs load.  They are the maps the programs use; the
 * Maglev size is recorded before, and the child neither rebuilds an index
 * nor writes anything after.  With maps pinned, nothing is written early.
 */
static void test_pins_cold_start_early(void **state)
{
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct tp_id_name_key stray = { .name = "stray" };
	struct early_seen seen = { 0 };
	struct tpd_datapath dp;
	struct tpd_config cfg;
	struct tp_svc svc;
	bool applied;
	char name[64];
	long rss = 0;
	__u32 id;

	(void)state;
	REQUIRE_BPF();
	pin_cfg(&cfg);
	seen.cfg = &cfg;
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	assert_int_equal(tpd_datapath_start_child(&dp, &cfg, &rss, early_write,
						  &seen, &applied),
			 0);
	assert_int_equal(seen.calls, 1);
	assert_true(applied);
	assert_int_equal(seen.pinned, tp_pin_maps_n);
	assert_int_equal(seen.maglev_cap, cfg.maglev_size);
	assert_int_equal(seen.svc_err, 0);
	assert_int_equal(seen.name_err, 0);
	assert_int_equal(seen.stray_err, 0);
	/* the interface slots were filled ("none") before the writes */
	assert_int_equal(seen.slot_err, 0);
	assert_int_equal(seen.slot.ifindex, 0);
	assert_int_equal(seen.slot.flags, TP_IFACE_SLOT_F_ONLY);
	assert_int_equal(seen.iface_err, 0);
	/* what went in early is in the maps the pinned programs use */
	assert_true(dp.from_pins);
	assert_true(dp.prog_fd[TPD_PROG_FROM_TAILNET] >= 0);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.services, &k, &svc), 0);
	assert_string_equal(
		tp_identity_name(&dp.maps, EARLY_NAME_ID, name, sizeof(name)),
		"early");
	assert_int_equal(bpf_map_lookup_elem(dp.maps.id_by_name, &stray, &id),
			 0);
	assert_int_equal(id, EARLY_STRAY_ID);
	assert_int_equal(tp_service_maglev_cap(&dp.maps), cfg.maglev_size);
	{
		__u32 bucket = EARLY_IFINDEX % TP_IFACE_SLOTS;
		union tp_iface_slot s;

		assert_int_equal(
			bpf_map_lookup_elem(dp.maps.iface_slots, &bucket, &s),
			0);
		assert_int_equal(s.ifindex, EARLY_IFINDEX);
		assert_int_equal(s.flags,
				 TP_IFACE_F_UPLINK | TP_IFACE_SLOT_F_ONLY);
	}
	tpd_datapath_close(&dp);

	/* maps pinned: the child may migrate them, nothing goes in early */
	memset(&seen, 0, sizeof(seen));
	seen.cfg = &cfg;
	assert_int_equal(tpd_datapath_start_child(&dp, &cfg, &rss, early_write,
						  &seen, &applied),
			 0);
	assert_int_equal(seen.calls, 0);
	assert_false(applied);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.services, &k, &svc), 0);
	tpd_datapath_close(&dp);
	tpd_config_free(&cfg);
}

/*
 * The "capacity" section sizes the maps; a restart with other capacities
 * migrates every entry into the resized maps (batch operations for hashes
 * and per-CPU arrays, one by one for the LPM tries), and a smaller table
 * keeps what fits.
 */
static void test_pins_capacity_resize(void **state)
{
	struct tp_identity_key ik = { .prefixlen = TP_IDENTITY_PLEN(128),
				      .addr = pt_addr(CLIENT4) };
	struct tp_identity_val iv = { .id = 300, .plen = 128 }, got_iv;
	int ncpu = libbpf_num_possible_cpus();
	struct tp_stat_group *per_cpu = calloc(ncpu, sizeof(*per_cpu));
	struct tp_ct_entry ce;
	struct tpd_datapath dp;
	struct tpd_config cfg;
	struct bpf_map_info info;
	struct tp_stat st;
	struct tp_ct_key k;
	__u32 i, rule = 100, elem = TP_STAT_ELEM(rule);

	(void)state;
	REQUIRE_BPF();
	assert_non_null(per_cpu);
	pin_cfg(&cfg);
	cfg.capacity[TPD_CAP_CONNTRACK_TCP] = 4096;
	cfg.capacity[TPD_CAP_RULES] = 128;
	cfg.capacity[TPD_CAP_IDENTITIES] = 64;
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(tp_map_max_entries(dp.maps.ct), 4096);
	/* ids 1..128: one more than the rules, 64 to an element */
	assert_int_equal(tp_map_max_entries(dp.maps.rule_stats), 3);
	assert_int_equal(tp_stat_ids_end(dp.maps.rule_stats), 192);
	assert_int_equal(tp_map_max_entries(dp.maps.rules), 128);
	memset(&ce, 0, sizeof(ce));
	ce.state = TP_CT_ESTABLISHED;
	for (i = 0; i < 3000; i++) {
		k = pt_ct_key(CLIENT4, 1024 + i, VIP4, 80, IPPROTO_TCP);
		assert_int_equal(
			bpf_map_update_elem(dp.maps.ct, &k, &ce, BPF_ANY), 0);
	}
	per_cpu[ncpu - 1].c[TP_STAT_SLOT(rule)].packets = 7;
	assert_int_equal(bpf_map_update_elem(dp.maps.rule_stats, &elem, per_cpu,
					     BPF_ANY),
			 0);
	assert_int_equal(
		bpf_map_update_elem(dp.maps.identity, &ik, &iv, BPF_ANY), 0);
	tpd_datapath_close(&dp);

	/* bigger: every entry moved over */
	cfg.capacity[TPD_CAP_CONNTRACK_TCP] = 8192;
	cfg.capacity[TPD_CAP_RULES] = 256;
	cfg.capacity[TPD_CAP_IDENTITIES] = 128;
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(map_info(cfg.pin_root, TP_MAP_CT, &info), 0);
	assert_int_equal(info.max_entries, 8192);
	assert_int_equal(count_keys(dp.maps.ct, sizeof(k)), 3000);
	k = pt_ct_key(CLIENT4, 1024 + 2999, VIP4, 80, IPPROTO_TCP);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &k, &ce), 0);
	assert_int_equal(ce.state, TP_CT_ESTABLISHED);
	assert_int_equal(tp_map_max_entries(dp.maps.rule_stats), 5);
	memset(per_cpu, 0, ncpu * sizeof(*per_cpu));
	assert_int_equal(
		bpf_map_lookup_elem(dp.maps.rule_stats, &elem, per_cpu), 0);
	assert_int_equal(per_cpu[ncpu - 1].c[TP_STAT_SLOT(rule)].packets, 7);
	assert_int_equal(tp_stat_sum(dp.maps.rule_stats, rule, &st), 0);
	assert_int_equal(st.packets, 7);
	assert_int_equal(tp_map_max_entries(dp.maps.identity), 128);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.identity, &ik, &got_iv),
			 0);
	assert_int_equal(got_iv.id, 300);
	tpd_datapath_close(&dp);

	/* smaller: what fits stays, the load does not fail */
	cfg.capacity[TPD_CAP_CONNTRACK_TCP] = 2048;
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(tp_map_max_entries(dp.maps.ct), 2048);
	assert_true(count_keys(dp.maps.ct, sizeof(k)) > 0);
	assert_true(count_keys(dp.maps.ct, sizeof(k)) <= 2048);
	tpd_datapath_close(&dp);

	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	tpd_config_free(&cfg);
	free(per_cpu);
}

/* An old-layout (struct tp_ct_entry_v1) entry @e under @k in @fd. */
static void v1_put(int fd, const struct tp_ct_key *k,
		   const struct tp_ct_entry_v1 *e)
{
	assert_int_equal(bpf_map_update_elem(fd, k, e, BPF_NOEXIST), 0);
}

/* An old-layout flow entry @e under @k with its reply-key entry under @reply. */
static void v1_flow(int fd, const struct tp_ct_key *k, struct tp_ct_entry_v1 *e,
		    const struct tp_ct_key *reply)
{
	struct tp_ct_entry_v1 rk = { .peer = *k, .flags = TP_CT_F_REPLY_KEY };

	e->peer = *reply;
	v1_put(fd, k, e);
	v1_put(fd, reply, &rk);
}

/* A pinned conntrack table of the old layout (144-byte values). */
static int v1_table(const char *pin_root, const char *name)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_root, name);
	unlink(path);
	fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, name,
			    sizeof(struct tp_ct_key),
			    sizeof(struct tp_ct_entry_v1), 4096, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	return fd;
}

/* Run @sp (Ethernet, zone 0) through @hook of @dp's programs. */
static int v1_send(struct tpd_datapath *dp, enum th_hook hook,
		   struct pkt_spec sp)
{
	struct th t = { .skel = dp->skel,
			.maps = dp->maps,
			.prog_fd = dp->prog_fd };
	struct pkt in, out;
	int verdict;

	sp.l2 = 1;
	pt_build(&sp, &in);
	pt_run(&t, hook, &in, &out, &verdict);
	return verdict;
}

/*
 * Pins of the conntrack layout before one entry per flow (two 144-byte
 * entries per flow, times in ns) are converted on load, not dropped: an
 * untranslated TCP flow keeps its flow entry and loses its reply key (its
 * replies are found by reversing their tuple), a DNAT UDP flow keeps both
 * in the new layout, a zone-crossing flow keeps its reply key in the
 * zone it leaves to, an orphan reply key goes; the expiry is rounded up
 * to the second.  Then the replies of both flows are theirs.
 */
static void test_ct_v1_pins_converted(void **state)
{
	const __u64 now = tpd_monotonic_ns();
	struct tp_ct_key kt =
		pt_ct_key(CLIENT4, 40000, "198.18.0.20", 80, IPPROTO_TCP);
	struct tp_ct_key ku = pt_ct_key(CLIENT4, 5000, VIP4, 53, IPPROTO_UDP);
	struct tp_ct_key kx =
		pt_ct_key(CLIENT4, 40001, "100.64.9.9", 22, IPPROTO_TCP);
	struct tp_ct_key rt, ru, rx, rx2, orphan;
	struct tp_ct_entry_v1 et = { .state = TP_CT_ESTABLISHED,
				     .verdict = TP_VERDICT_ALLOW,
				     .expires_ns = now + 100 * SEC_NS + 1,
				     .created_ns = now - 5 * SEC_NS,
				     .packets = { 7, 6 },
				     .bytes = { 700, 600 },
				     .tcp_flags = { 0x18, 0x18 },
				     .src_identity = 300,
				     .dst_identity = 400,
				     .rule_id = 9,
				     .policy_rev = 3,
				     .ifindex = 42,
				     .rk_check_s = 77 };
	struct tp_ct_entry_v1 eu = { .state = TP_CT_OPEN,
				     .verdict = TP_VERDICT_ALLOW,
				     .flags = TP_CT_F_DNAT,
				     .svc_id = 1,
				     .backend_id = 2,
				     .nat_addr = pt_addr(BE4[0]),
				     .nat_port = htons(5353),
				     .expires_ns = now + 60 * SEC_NS,
				     .created_ns = now,
				     .packets = { 1, 0 },
				     .bytes = { 64, 0 } };
	struct tp_ct_entry_v1 ex = { .state = TP_CT_ESTABLISHED,
				     .verdict = TP_VERDICT_ALLOW,
				     .out_zone = 2,
				     .expires_ns = now + 100 * SEC_NS,
				     .packets = { 1, 1 } };
	struct tp_ct_entry_v1 lone = { .flags = TP_CT_F_REPLY_KEY };
	struct tpd_datapath dp;
	struct tpd_config cfg;
	struct tp_ct_entry e;
	struct tp_ct_key orig;
	int ct, ct_any;

	(void)state;
	REQUIRE_BPF();
	pin_cfg(&cfg);
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	ct = v1_table(cfg.pin_root, TP_MAP_CT);
	ct_any = v1_table(cfg.pin_root, TP_MAP_CT_ANY);

	kt.zone = ku.zone = 0;
	kx.zone = 1;
	rt = (struct tp_ct_key){ .saddr = kt.daddr,
				 .daddr = kt.saddr,
				 .sport = kt.dport,
				 .dport = kt.sport,
				 .proto = kt.proto };
	ru = (struct tp_ct_key){ .saddr = pt_addr(BE4[0]),
				 .daddr = ku.saddr,
				 .sport = htons(5353),
				 .dport = ku.sport,
				 .proto = ku.proto };
	rx = (struct tp_ct_key){ .saddr = kx.daddr,
				 .daddr = kx.saddr,
				 .sport = kx.dport,
				 .dport = kx.sport,
				 .proto = kx.proto,
				 .zone = 1 };
	rx2 = rx;
	rx2.zone = 2;
	v1_flow(ct, &kt, &et, &rt);
	v1_flow(ct_any, &ku, &eu, &ru);
	v1_flow(ct, &kx, &ex, &rx);
	lone.peer = kx;
	v1_put(ct, &rx2, &lone); /* the crossing flow's reply key in zone 2 */
	orphan = rt;
	orphan.sport = htons(81);
	lone.peer = kt;
	lone.peer.dport = htons(81);
	v1_put(ct, &orphan, &lone);
	close(ct);
	close(ct_any);

	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	/* the untranslated flow: every field, times in seconds; no reply key */
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &kt, &e), 0);
	assert_int_equal(e.flags, 0);
	assert_int_equal(e.state, TP_CT_ESTABLISHED);
	assert_int_equal(e.expires_s, TP_CT_SEC(et.expires_ns) + 1);
	assert_int_equal(e.created_s, TP_CT_SEC(et.created_ns));
	assert_int_equal(e.packets[0], 7);
	assert_int_equal(e.packets[1], 6);
	assert_int_equal(e.bytes[0], 700);
	assert_int_equal(e.bytes[1], 600);
	assert_int_equal(e.tcp_flags[1], 0x18);
	assert_int_equal(e.src_identity, 300);
	assert_int_equal(e.dst_identity, 400);
	assert_int_equal(e.rule_id, 9);
	assert_int_equal(e.policy_rev, 3);
	assert_int_equal(e.ifindex, 42);
	assert_int_equal(e.rk_check_s, 77);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &rt, &e), -ENOENT);
	/* the DNAT flow and its reply key, in tp_ct_any */
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct_any, &ku, &e), 0);
	assert_int_equal(e.flags, TP_CT_F_DNAT);
	assert_int_equal(e.nat_port, htons(5353));
	assert_int_equal(e.expires_s, TP_CT_SEC(eu.expires_ns) +
					      (eu.expires_ns % SEC_NS != 0));
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct_any, &ru, &e), 0);
	assert_int_equal(e.flags, TP_CT_F_REPLY_KEY);
	tp_ct_rk_orig(&ru, &e, &orig);
	assert_memory_equal(&orig, &ku, sizeof(orig));
	assert_true(
		tp_ct_entry_live(&dp.maps, NULL, &ru, &e, tpd_monotonic_ns()));
	/* the crossing flow: its reply key in zone 2 only */
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &kx, &e), 0);
	assert_int_equal(e.out_zone, 2);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &rx, &e), -ENOENT);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &rx2, &e), 0);
	tp_ct_rk_orig(&rx2, &e, &orig);
	assert_memory_equal(&orig, &kx, sizeof(orig));
	/* the orphan is gone; no _old pin is left */
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &orphan, &e), -ENOENT);
	{
		struct th t = { .maps = dp.maps };

		/* three flows, two reply keys */
		assert_int_equal(pt_ct_count(&t), 5);
	}

	/* live: the replies are found and accounted, the DNAT one translated back */
	assert_int_equal(v1_send(&dp, TH_TO_TAILNET,
				 pt_flow("198.18.0.20", 80, CLIENT4, 40000,
					 IPPROTO_TCP, PKT_TCP_ACK)),
			 PASS);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &kt, &e), 0);
	assert_int_equal(e.packets[1], 7);
	assert_int_equal(
		v1_send(&dp, TH_TO_TAILNET,
			pt_flow(BE4[0], 5353, CLIENT4, 5000, IPPROTO_UDP, 0)),
		PASS);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct_any, &ku, &e), 0);
	assert_int_equal(e.packets[1], 1);
	assert_int_equal(e.state, TP_CT_REPLIED);
	tpd_datapath_close(&dp);

	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	tpd_config_free(&cfg);
}

/*
 * Pins older still: one tp_ct of the 144-byte layout for every protocol,
 * no tp_ct_any.  Converted flows land in the table of their protocol.
 */
static void test_ct_v1_unsplit_pins_converted(void **state)
{
	const __u64 now = tpd_monotonic_ns();
	struct tp_ct_key ku =
		pt_ct_key(CLIENT4, 5000, "198.18.0.20", 53, IPPROTO_UDP);
	struct tp_ct_key kt =
		pt_ct_key(CLIENT4, 5001, "198.18.0.20", 80, IPPROTO_TCP);
	struct tp_ct_entry_v1 e1 = { .state = TP_CT_OPEN,
				     .expires_ns = now + 60 * SEC_NS };
	struct tp_ct_key ru, rt;
	struct tpd_datapath dp;
	struct tpd_config cfg;
	struct tp_ct_entry e;
	struct th t;
	int ct;

	(void)state;
	REQUIRE_BPF();
	pin_cfg(&cfg);
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	ct = v1_table(cfg.pin_root, TP_MAP_CT);
	ku.zone = kt.zone = 0;
	ru = (struct tp_ct_key){ .saddr = ku.daddr,
				 .daddr = ku.saddr,
				 .sport = ku.dport,
				 .dport = ku.sport,
				 .proto = ku.proto };
	rt = ru;
	rt.sport = kt.dport;
	rt.dport = kt.sport;
	rt.proto = kt.proto;
	v1_flow(ct, &ku, &e1, &ru);
	e1.state = TP_CT_ESTABLISHED;
	v1_flow(ct, &kt, &e1, &rt);
	close(ct);

	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct_any, &ku, &e), 0);
	assert_int_equal(e.state, TP_CT_OPEN);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.ct, &kt, &e), 0);
	assert_int_equal(e.state, TP_CT_ESTABLISHED);
	memset(&t, 0, sizeof(t));
	t.maps = dp.maps;
	assert_int_equal(pt_ct_count(&t), 2);
	tpd_datapath_close(&dp);
	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	tpd_config_free(&cfg);
}

/* Replace the pin @name under @root by a new map of the given shape. */
static int pin_old_map(const char *root, const char *name,
		       enum bpf_map_type type, __u32 key_size, __u32 value_size,
		       __u32 max_entries)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	unlink(path);
	fd = bpf_map_create(type, name, key_size, value_size, max_entries,
			    NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	return fd;
}

/*
 * The old value of service @k: 20 bytes (V1) or 24 (V2, the table size
 * after the revision), pinned as tp_services, and its tables as that
 * layout had them in tp_maglev: a flat array (V1), or an array of maps
 * with an inner map of @size entries at slot @id (V2) holding @table.
 */
static void pin_old_services(const struct tpd_config *cfg, __u32 value_size,
			     const struct tp_svc_key *k, const void *old,
			     __u32 id, const __u32 *table, __u32 size)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
	LIBBPF_OPTS(bpf_map_create_opts, outer_opts);
	char path[300];
	int fd, inner;
	__u32 slot;

	fd = pin_old_map(cfg->pin_root, TP_MAP_SERVICES, BPF_MAP_TYPE_HASH,
			 sizeof(*k), value_size, 1024);
	assert_int_equal(bpf_map_update_elem(fd, k, old, BPF_ANY), 0);
	close(fd);
	if (value_size == TP_SVC_V1_SIZE) {
		close(pin_old_map(cfg->pin_root, TP_MAGLEV_V2_PIN,
				  BPF_MAP_TYPE_ARRAY, sizeof(__u32),
				  sizeof(__u32), 1024 * 2 * 31));
		return;
	}
	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tp_maglev_tbl",
			       sizeof(__u32), sizeof(__u32), size, &opts);
	assert_true(inner >= 0);
	for (slot = 0; slot < size; slot++)
		assert_int_equal(bpf_map_update_elem(inner, &slot, &table[slot],
						     BPF_ANY),
				 0);
	outer_opts.inner_map_fd = inner;
	snprintf(path, sizeof(path), "%s/%s", cfg->pin_root, TP_MAGLEV_V2_PIN);
	unlink(path);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, TP_MAGLEV_V2_PIN,
			    sizeof(__u32), sizeof(__u32), 1025, &outer_opts);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_update_elem(fd, &id, &inner, BPF_ANY), 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(inner);
	close(fd);
}

/*
 * Pins of the layouts before the Maglev slab.  V1, before per-service
 * tables: a flat tp_maglev array, 20-byte tp_services values with the
 * two-table flag.  V2: tp_maglev an array of per-service inner maps,
 * 24-byte values naming the table's size.  Both with preallocated
 * tp_backends and no tp_svc_backends.  The load converts them before any
 * program of the new object runs (until the new programs attach, the old
 * ones keep serving from the old maps, which hold a table): the service
 * keeps its id (conntrack's svc_id), gets an index and a table in the
 * slab built from its backends, so the first packet the new programs see
 * finds it; the old tp_maglev is unpinned.
 */
static void upgrade_services_from(__u32 value_size)
{
	struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
	struct {
		__u32 id;
		__u16 flags, zone;
		__u32 affinity_timeout;
		__u16 active;
		__u8 table, owner;
		__u32 revision;
		__u32 table_size; /* V2 only */
	} old = { .id = 7,
		  .active = 2,
		  .table = value_size == TP_SVC_V1_SIZE,
		  .owner = TP_OWNER_TPCTL,
		  .revision = 3,
		  .zone = 0,
		  .affinity_timeout = 30,
		  .flags = TP_SVC_F_AFFINITY };
	struct tp_backend be[2] = {};
	struct tp_maglev_backend mb[2] = {};
	__u32 ids[2] = { 5, 6 }, got[4], want[1021], table[1021], size;
	struct tpd_datapath dp;
	struct tpd_config cfg;
	struct bpf_map_info info;
	struct tp_svc svc;
	char path[300];
	int fd, i, n;

	_Static_assert(offsetof(typeof(old), table_size) == TP_SVC_V1_SIZE,
		       "V1 tp_svc layout");
	_Static_assert(sizeof(old) == TP_SVC_V2_SIZE, "V2 tp_svc layout");
	pin_cfg(&cfg);
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	tpd_datapath_close(&dp);

	fd = pin_old_map(cfg.pin_root, TP_MAP_BACKENDS, BPF_MAP_TYPE_HASH,
			 sizeof(__u32), sizeof(struct tp_backend), 65536);
	for (i = 0; i < 2; i++) {
		be[i].addr = pt_addr(BE4[i]);
		be[i].port = htons(8080);
		be[i].weight = 1;
		be[i].owner = TP_OWNER_TPCTL;
		be[i].svc_id = 7;
		assert_int_equal(
			bpf_map_update_elem(fd, &ids[i], &be[i], BPF_ANY), 0);
		mb[i].id = ids[i];
		mb[i].addr = be[i].addr;
		mb[i].port = be[i].port;
		mb[i].weight = 1;
	}
	close(fd);
	size = tp_maglev_table_size(2, TP_MAGLEV_SIZE);
	assert_int_equal(tp_maglev_build(mb, 2, size, want), 0);
	old.table_size = size;
	pin_old_services(&cfg, value_size, &k, &old, 7, want, size);
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_MAGLEV_SLAB);
	assert_int_equal(unlink(path), 0);
	tp_slab_unpin_stale(path);
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root,
		 TP_MAP_SVC_BACKENDS);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_true(dp.maglev_resized);
	assert_int_equal(map_info(cfg.pin_root, TP_MAP_MAGLEV_SLAB, &info), 0);
	assert_int_equal(info.type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	assert_int_not_equal(map_info(cfg.pin_root, TP_MAGLEV_V2_PIN, &info),
			     0);
	assert_int_equal(map_info(cfg.pin_root, TP_MAP_BACKENDS, &info), 0);
	assert_int_equal(info.map_flags, BPF_F_NO_PREALLOC);
	/* the service as it was, id and all, with a table of its two backends */
	assert_int_equal(bpf_map_lookup_elem(dp.maps.services, &k, &svc), 0);
	assert_int_equal(svc.id, 7);
	assert_int_equal(svc.flags, TP_SVC_F_AFFINITY);
	assert_int_equal(svc.affinity_timeout, 30);
	assert_int_equal(svc.owner, TP_OWNER_TPCTL);
	assert_int_equal(svc.pad, 0);
	assert_int_equal(svc.active, 2);
	assert_int_equal(svc.table_size, size);
	n = tp_service_backends(&dp.maps, 7, got, NULL, 4);
	assert_int_equal(n, 2);
	assert_true((got[0] == 5 && got[1] == 6) ||
		    (got[0] == 6 && got[1] == 5));
	assert_int_equal(tp_slab_read(dp.maps.slab, svc.table_off, size, table),
			 0);
	assert_memory_equal(table, want, size * sizeof(*want));
	/* tpctl learns the table size from the maps */
	assert_int_equal(tp_service_maglev_cap(&dp.maps), TP_MAGLEV_SIZE);
	/* and writes go on from there: a third backend, ids kept */
	{
		struct tp_backend_spec bs[3] = {};
		struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };

		for (i = 0; i < 3; i++) {
			bs[i].addr = pt_addr(BE4[i]);
			bs[i].port = htons(8080);
			bs[i].weight = 1;
		}
		assert_int_equal(tp_service_set(&dp.maps, &k, &spec, bs, 3), 0);
		assert_int_equal(tp_service_backends(&dp.maps, 7, got, NULL, 4),
				 3);
		assert_int_equal(
			bpf_map_lookup_elem(dp.maps.services, &k, &svc), 0);
		assert_int_equal(svc.id, 7);
		assert_int_equal(svc.active, 3);
	}
	tpd_datapath_close(&dp);

	/* a second load changes nothing: no rebuild */
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_false(dp.maglev_resized);
	tpd_datapath_close(&dp);
	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	tpd_config_free(&cfg);
}

static void test_pins_upgrade_services(void **state)
{
	(void)state;
	REQUIRE_BPF();
	upgrade_services_from(TP_SVC_V1_SIZE);
}

static void test_pins_upgrade_services_v2(void **state)
{
	(void)state;
	REQUIRE_BPF();
	upgrade_services_from(TP_SVC_V2_SIZE);
}

/*
 * Every table @services_fd names, read in @slab, holds only backends of
 * its own service (or nothing there): what a program using both sees.
 */
static void slab_tables_own(const struct tp_maps *m, int services_fd,
			    struct tp_slab *slab)
{
	struct tp_svc_key k, next, *prev = NULL;
	__u32 *table = calloc(TP_MAGLEV_SIZE_MAX, sizeof(*table));
	__u32 ids[TP_MAX_SVC_BACKENDS], j;
	struct tp_svc svc;
	int n, i;

	assert_non_null(table);
	while (!bpf_map_get_next_key(services_fd, prev, &next)) {
		k = next;
		prev = &k;
		assert_int_equal(bpf_map_lookup_elem(services_fd, &k, &svc), 0);
		if (!svc.table_size ||
		    tp_slab_read(slab, svc.table_off, svc.table_size, table))
			continue;
		n = tp_service_backends(m, svc.id, ids, NULL,
					TP_MAX_SVC_BACKENDS);
		for (j = 0; j < svc.table_size; j++) {
			for (i = 0; i < n && ids[i] != table[j]; i++)
				;
			if (table[j] && i == n)
				fail_msg(
					"service %u's table names backend %u, of another service",
					svc.id, table[j]);
		}
	}
	free(table);
}

/*
 * The slab's pin removed by hand, the services' left: the programs still
 * attached keep reading the old slab, through the tp_services they hold,
 * until the new programs replace them.  The tables rebuilt into the new
 * slab must not change what those programs read: an offset of the new
 * slab read in the old one is another service's table.
 */
static void test_pins_slab_pin_removed(void **state)
{
	struct tp_svc_key k[2] = { pt_svc_key(VIP4, 80, IPPROTO_TCP),
				   pt_svc_key("198.19.0.90", 80, IPPROTO_TCP) };
	struct tp_svc_spec spec = { .owner = TP_OWNER_TPCTL };
	struct tp_backend_spec bs[3] = {};
	int old_slab_fd, old_services_fd, i;
	struct tpd_datapath dp;
	struct tpd_config cfg;
	struct tp_slab *old;
	char path[300];

	(void)state;
	REQUIRE_BPF();
	pins_load_fresh(&dp, &cfg, bs, 3);
	/* the first service's first table freed: the slab has a hole */
	assert_int_equal(tp_service_set(&dp.maps, &k[0], &spec, bs, 1), 0);
	assert_int_equal(tp_service_set(&dp.maps, &k[1], &spec, bs + 1, 1), 0);
	bs[1] = bs[2];
	assert_int_equal(tp_service_set(&dp.maps, &k[0], &spec, bs, 2), 0);
	/* what the running programs hold */
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_MAGLEV_SLAB);
	old_slab_fd = bpf_obj_get(path);
	assert_true(old_slab_fd >= 0);
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_SERVICES);
	old_services_fd = bpf_obj_get(path);
	assert_true(old_services_fd >= 0);
	old = tp_slab_open(old_slab_fd, NULL);
	assert_non_null(old);
	slab_tables_own(&dp.maps, old_services_fd, old);
	tpd_datapath_close(&dp);

	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_MAGLEV_SLAB);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_true(dp.maglev_resized);
	/* the old programs' view, and the new programs' */
	slab_tables_own(&dp.maps, old_services_fd, old);
	slab_tables_own(&dp.maps, dp.maps.services, dp.maps.slab);
	for (i = 0; i < 2; i++) {
		struct tp_svc svc;

		assert_int_equal(
			bpf_map_lookup_elem(dp.maps.services, &k[i], &svc), 0);
		assert_int_not_equal(svc.table_size, 0);
	}
	tp_slab_close(old);
	close(old_slab_fd);
	close(old_services_fd);
	tpd_datapath_close(&dp);
	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	tpd_config_free(&cfg);
}

/*
 * tp_config of the layout before SNAT (8 bytes): replaced by the new one,
 * the policy revision carried over plus one, the SNAT fields zero until
 * the loader writes them.
 */
static void test_pins_upgrade_config(void **state)
{
	struct {
		__u32 policy_rev;
		__u32 pad;
	} old = { .policy_rev = 41 };
	struct tpd_datapath dp;
	struct tpd_config cfg;
	struct bpf_map_info info;
	struct tp_config c, none = {};
	__u32 zero = 0;
	int fd;

	(void)state;
	REQUIRE_BPF();
	_Static_assert(sizeof(old) == TP_CONFIG_V1_SIZE,
		       "old tp_config layout");
	pin_cfg(&cfg);
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	fd = pin_old_map(cfg.pin_root, TP_MAP_CONFIG, BPF_MAP_TYPE_ARRAY,
			 sizeof(__u32), TP_CONFIG_V1_SIZE, 1);
	assert_int_equal(bpf_map_update_elem(fd, &zero, &old, BPF_ANY), 0);
	close(fd);

	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(map_info(cfg.pin_root, TP_MAP_CONFIG, &info), 0);
	assert_int_equal(info.value_size, sizeof(struct tp_config));
	c = config_of(&dp.maps);
	assert_int_equal(c.policy_rev, 42);
	none.policy_rev = 42;
	assert_memory_equal(&c, &none, sizeof(c));
	tpd_datapath_close(&dp);

	/* a second load reuses it: nothing carried over twice */
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(config_of(&dp.maps).policy_rev, 42);
	tpd_datapath_close(&dp);
	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	tpd_config_free(&cfg);
}

/* What the old-layout counter of @id on @cpu held in the test below. */
static struct tp_stat old_stat(__u32 id, int cpu)
{
	return (struct tp_stat){ .packets = id * 100 + cpu + 1,
				 .bytes = (id * 100 + cpu + 1) * 1500ull };
}

/*
 * Counters pinned as @name in the layout before grouping (one struct
 * tp_stat an element, @ids of them), each id of @set counted on every CPU
 * as old_stat() says.
 */
static void pin_old_stats(const char *root, const char *name, __u32 ids,
			  const __u32 *set, int n)
{
	int ncpu = libbpf_num_possible_cpus(), fd, i, cpu;
	struct tp_stat v[ncpu];

	fd = pin_old_map(root, name, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32),
			 sizeof(struct tp_stat), ids);
	for (i = 0; i < n; i++) {
		for (cpu = 0; cpu < ncpu; cpu++)
			v[cpu] = old_stat(set[i], cpu);
		assert_int_equal(bpf_map_update_elem(fd, &set[i], v, BPF_ANY),
				 0);
	}
	close(fd);
}

/*
 * Every counter of @fd per CPU: those of @set as old_stat() says, every
 * other id of @ids zero.
 */
static void check_grouped_stats(int fd, __u32 ids, const __u32 *set, int n)
{
	int ncpu = libbpf_num_possible_cpus(), i, cpu;
	struct tp_stat_group *g = calloc(ncpu, sizeof(*g));
	struct tp_stat want, sum, got;
	__u32 id, elem;
	bool in_set;

	assert_non_null(g);
	for (id = 0; id < ids; id++) {
		elem = TP_STAT_ELEM(id);
		assert_int_equal(bpf_map_lookup_elem(fd, &elem, g), 0);
		in_set = false;
		for (i = 0; i < n; i++)
			in_set |= set[i] == id;
		memset(&sum, 0, sizeof(sum));
		for (cpu = 0; cpu < ncpu; cpu++) {
			want = in_set ? old_stat(id, cpu) : (struct tp_stat){};
			got = g[cpu].c[TP_STAT_SLOT(id)];
			assert_int_equal(got.packets, want.packets);
			assert_int_equal(got.bytes, want.bytes);
			sum.packets += want.packets;
			sum.bytes += want.bytes;
		}
		assert_int_equal(tp_stat_sum(fd, id, &got), 0);
		assert_int_equal(got.packets, sum.packets);
		assert_int_equal(got.bytes, sum.bytes);
	}
	free(g);
}

/*
 * tp_rule_stats and tp_svc_stats pinned before the counters were grouped
 * 64 to an element: the load carries every id's counter of every CPU into
 * its slot (an exported counter must not go backwards on an upgrade), the
 * ids a map holds become a multiple of 64, and a second load reuses the
 * grouped maps without adding the old counts twice.  Readers of the old
 * layout (a new tpctl before the loader restarts) read it right.
 */
static void test_pins_upgrade_grouped_stats(void **state)
{
	const __u32 rules[] = { 0, 1, 63, 64, 100, 128 },
		    svcs[] = { 1, 64, 99, 100 };
	int ncpu = libbpf_num_possible_cpus(), cpu, fd;
	struct tp_stat_group *g = calloc(ncpu, sizeof(*g));
	struct tpd_datapath dp;
	struct tpd_config cfg;
	struct bpf_map_info info;
	struct tp_stat st;
	char path[300];
	__u32 elem;

	(void)state;
	REQUIRE_BPF();
	assert_non_null(g);
	pin_cfg(&cfg);
	cfg.capacity[TPD_CAP_RULES] = 128;
	cfg.capacity[TPD_CAP_POLICY_ENTRIES] = TP_POLICY_ENTRIES(128);
	cfg.capacity[TPD_CAP_SERVICES] = 100;
	assert_int_equal(tpd_bpffs_prepare(cfg.pin_root), 0);
	pin_old_stats(cfg.pin_root, TP_MAP_RULE_STATS, 129, rules, 6);
	pin_old_stats(cfg.pin_root, TP_MAP_SVC_STATS, 101, svcs, 4);

	/* a new tpctl over the old pins, before the loader restarts */
	snprintf(path, sizeof(path), "%s/%s", cfg.pin_root, TP_MAP_RULE_STATS);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(tp_stat_ids_end(fd), 129);
	assert_int_equal(tp_stat_sum(fd, 100, &st), 0);
	assert_int_equal(st.packets,
			 100ull * 100 * ncpu + ncpu * (ncpu + 1) / 2);
	close(fd);

	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	assert_int_equal(map_info(cfg.pin_root, TP_MAP_RULE_STATS, &info), 0);
	assert_int_equal(info.value_size, sizeof(struct tp_stat_group));
	assert_int_equal(info.max_entries, 3);
	assert_int_equal(tp_stat_ids_end(dp.maps.rule_stats), 192);
	assert_int_equal(map_info(cfg.pin_root, TP_MAP_SVC_STATS, &info), 0);
	assert_int_equal(info.value_size, sizeof(struct tp_stat_group));
	assert_int_equal(info.max_entries, 2);
	assert_int_equal(tp_stat_ids_end(dp.maps.svc_stats), 128);
	check_grouped_stats(dp.maps.rule_stats, 192, rules, 6);
	check_grouped_stats(dp.maps.svc_stats, 128, svcs, 4);
	/* the datapath goes on counting on top: a packet on each CPU */
	elem = TP_STAT_ELEM(64);
	assert_int_equal(bpf_map_lookup_elem(dp.maps.svc_stats, &elem, g), 0);
	for (cpu = 0; cpu < ncpu; cpu++)
		g[cpu].c[TP_STAT_SLOT(64)].packets++;
	assert_int_equal(
		bpf_map_update_elem(dp.maps.svc_stats, &elem, g, BPF_ANY), 0);
	tpd_datapath_close(&dp);

	/* a second load reuses them: nothing carried over twice */
	assert_int_equal(tpd_datapath_load(&dp, &cfg), 0);
	check_grouped_stats(dp.maps.rule_stats, 192, rules, 6);
	assert_int_equal(tp_stat_sum(dp.maps.svc_stats, 64, &st), 0);
	assert_int_equal(st.packets,
			 64ull * 100 * ncpu + ncpu * (ncpu + 1) / 2 + ncpu);
	tpd_datapath_close(&dp);
	assert_int_equal(tpd_detach_all(&cfg, true), 0);
	tpd_config_free(&cfg);
	free(g);
}

/* ---- tailplaned itself ---------------------------------------------------------- */

/*
 * tailplaned run as a process of this test, in the test's network
 * namespace, on a scratch pin root, with its peers from a fake UAPI
 * server (a thread of this test) for the TUN device tpwg0.  It is
 * stopped by its PID and its pins removed whatever the outcome.
 */

/**
 * struct uapi_srv - a fake userspace WireGuard UAPI socket.
 * @path:    the socket (DIR/IFNAME.sock).
 * @lfd:     listening socket.
 * @thr:     the serving thread.
 * @stop:    tells it to end.
 * @reply:   the answer to "get=1".
 * @len:     its length.
 * @trickle_ms: > 0: send one byte every that many ms (a stuck peer).
 * @served:  connections answered.
 */
struct uapi_srv {
	char path[108];
	int lfd;
	pthread_t thr;
	atomic_int stop;
	char *reply;
	size_t len;
	int trickle_ms;
	atomic_int served;
};

static void *uapi_srv_main(void *arg)
{
	struct uapi_srv *u = arg;
	struct pollfd pfd = { .fd = u->lfd, .events = POLLIN };
	char req[256];
	size_t off;
	ssize_t n;
	int fd;

	while (!atomic_load(&u->stop)) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		fd = accept4(u->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		n = recv(fd, req, sizeof(req),
			 0); /* "get=1\n\n", in one piece */
		for (off = 0;
		     n > 0 && off < u->len && !atomic_load(&u->stop);) {
			size_t chunk = u->trickle_ms ? 1 : u->len - off;

			n = send(fd, u->reply + off, chunk, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			if (u->trickle_ms)
				usleep(u->trickle_ms * 1000);
		}
		atomic_fetch_add(&u->served, 1);
		/* like wireguard-go: the connection stays open; the client ends it */
		pfd.fd = fd;
		while (!atomic_load(&u->stop) && poll(&pfd, 1, 50) >= 0 &&
		       !(pfd.revents & (POLLIN | POLLHUP)))
			;
		pfd.fd = u->lfd;
		close(fd);
	}
	return NULL;
}

static void uapi_srv_start(struct uapi_srv *u, const char *dir,
			   const char *ifname, char *reply, int trickle_ms)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memset(u, 0, sizeof(*u));
	snprintf(u->path, sizeof(u->path), "%s/%s.sock", dir, ifname);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", u->path);
	u->reply = reply;
	u->len = strlen(reply);
	u->trickle_ms = trickle_ms;
	u->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(u->lfd >= 0);
	assert_int_equal(bind(u->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(u->lfd, 8), 0);
	assert_int_equal(pthread_create(&u->thr, NULL, uapi_srv_main, u), 0);
}

static void uapi_srv_stop(struct uapi_srv *u)
{
	atomic_store(&u->stop, 1);
	pthread_join(u->thr, NULL);
	close(u->lfd);
	unlink(u->path);
	free(u->reply);
}

/* Key of fake peer @i: 32 bytes, the first two its number. */
static void peer_key(unsigned int i, char b64[TP_WG_KEY_B64_LEN + 1],
		     char hex[TP_WG_KEY_HEX_LEN + 1])
{
	__u8 key[TP_WG_KEY_LEN] = { [0] = i >> 8, [1] = i & 0xff, [31] = 1 };
	unsigned int j;

	tpd_wg_key_to_base64(key, b64);
	for (j = 0; j < TP_WG_KEY_LEN; j++)
		sprintf(hex + 2 * j, "%02x", key[j]);
}

/*
 * A UAPI answer with peers @first..@first+@n-1, peer i at
 * 100.64.(i / 256).(i % 256)/32.
 */
static char *uapi_peers_from(unsigned int first, unsigned int n)
{
	size_t cap = 128 + n * 128, len = 0;
	char *s = malloc(cap), b64[64], hex[80];
	unsigned int i;

	assert_non_null(s);
	len += snprintf(s + len, cap - len, "listen_port=51820\n");
	for (i = first; i < first + n; i++) {
		peer_key(i, b64, hex);
		len += snprintf(s + len, cap - len,
				"public_key=%s\nallowed_ip=100.64.%u.%u/32\n",
				hex, i / 256, i % 256);
	}
	snprintf(s + len, cap - len, "errno=0\n\n");
	return s;
}

static char *uapi_peers(unsigned int n)
{
	return uapi_peers_from(0, n);
}

/**
 * struct tpd_proc - a tailplaned this test runs.
 * @pid:      its pid, 0 when not running.
 * @dir:      scratch directory: config, log, UAPI socket, metrics.
 * @cfg:      its configuration file.
 * @log:      its stderr.
 * @pin_root: its pin root.
 */
struct tpd_proc {
	pid_t pid;
	char dir[64];
	char cfg[128];
	char log[128];
	char pin_root[128];
};

/* Pin roots of daemon tests of earlier runs whose process is gone. */
static void tpd_proc_remove_stale(void)
{
	struct tpd_config cfg;
	struct dirent *de;
	DIR *dir = opendir("/sys/fs/bpf");
	int pid;

	while (dir && (de = readdir(dir))) {
		if (sscanf(de->d_name, "tp-ldtest-%d-d", &pid) != 1 ||
		    !kill(pid, 0) || errno != ESRCH)
			continue;
		memset(&cfg, 0, sizeof(cfg));
		snprintf(cfg.pin_root, sizeof(cfg.pin_root), "/sys/fs/bpf/%s",
			 de->d_name);
		tpd_detach_all(&cfg, true);
	}
	if (dir)
		closedir(dir);
}

static void tpd_proc_init(struct tpd_proc *d)
{
	tpd_proc_remove_stale();
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/tp-ldtest-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->cfg, sizeof(d->cfg), "%s/tailplaned.json", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/tailplaned.log", d->dir);
	snprintf(d->pin_root, sizeof(d->pin_root), "/sys/fs/bpf/tp-ldtest-%d-d",
		 getpid());
	fixture_sh("ip tuntap add dev tpwg0 mode tun && ip link set tpwg0 up");
	fixture_sh("ip tuntap add dev tpwg1 mode tun && ip link set tpwg1 up");
}

/* Write the configuration file. */
static void tpd_proc_config(struct tpd_proc *d, const char *json)
{
	FILE *f = fopen(d->cfg, "w");

	assert_non_null(f);
	fputs(json, f);
	fclose(f);
}

static void tpd_proc_path(char *path, size_t len)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	assert_true(n > 0);
	self[n] = '\0';
	slash = strrchr(self, '/');
	assert_non_null(slash);
	*slash = '\0';
	snprintf(path, len, "%s/../tailplaned", self);
}

/* Start tailplaned --config CFG [@arg]; its stderr goes to the log. */
static void tpd_proc_start(struct tpd_proc *d, const char *arg)
{
	char bin[PATH_MAX];
	int fd;

	tpd_proc_path(bin, sizeof(bin));
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (!d->pid) {
		fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0600);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execl(bin, bin, "--config", d->cfg, arg, (char *)NULL);
		_exit(127);
	}
}

/* Wait up to @ms for it to exit; its exit status, or -1 if it still runs. */
static int tpd_proc_wait(struct tpd_proc *d, int ms)
{
	int st;
	pid_t r;

	for (; ms >= 0; ms -= 10) {
		r = waitpid(d->pid, &st, WNOHANG);
		if (r == d->pid) {
			d->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st)
					     : 128 + WTERMSIG(st);
		}
		usleep(10000);
	}
	return -1;
}

/* Whether the log has a line with @needle. */
static bool tpd_proc_logged(const struct tpd_proc *d, const char *needle)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen(d->log, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* Wait up to @ms for @needle in the log. */
/*
 * How long to wait for a daemon to say it did something (started,
 * reloaded, failed): a cap, not a speed requirement; a loaded machine or
 * the TCG VM of make vmtest takes many times longer than a quiet one.
 */
#define TPD_AWAIT_MS 60000
/*
 * How long a first start with --once may take: a guard against a hang,
 * not a measure.  A load is about 14 s in the 6.1 VM under TCG, and took
 * over 30 s there beside other work (a second make test and stress-ng).
 */
#define TPD_ONCE_MS 180000

static bool tpd_proc_await(const struct tpd_proc *d, const char *needle, int ms)
{
	for (; ms >= 0; ms -= 20) {
		if (tpd_proc_logged(d, needle))
			return true;
		usleep(20000);
	}
	return false;
}

static void tpd_proc_dump_log(const struct tpd_proc *d)
{
	char line[4096];
	FILE *f = fopen(d->log, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		print_message("tailplaned: %s", line);
	fclose(f);
}

/* Start tailplaned and wait for it to run; its log is shown if it does not. */
static void tpd_proc_run(struct tpd_proc *d)
{
	tpd_proc_start(d, NULL);
	if (!tpd_proc_await(d, "\"running\"", TPD_AWAIT_MS)) {
		tpd_proc_dump_log(d);
		fail_msg("tailplaned did not start");
	}
}

/* SIGTERM, and tailplaned exits 0 within ten seconds. */
static void tpd_proc_stop(struct tpd_proc *d)
{
	kill(d->pid, SIGTERM);
	assert_int_equal(tpd_proc_wait(d, 10000), 0);
}

/*
 * Wait until nothing holds the pin root's instance lock, at most 60 s: a
 * daemon killed while its child loaded leaves that child to die of its
 * parent-death signal, which a verifier or JIT run under TCG in the VM
 * takes seconds to notice; the next test's daemon would find the lock.
 */
static void tpd_proc_await_lock(const struct tpd_proc *d)
{
	struct tp_pins_instance inst = { .lock_fd = -1, .pid_fd = -1 };
	int i;

	for (i = 0; i < 600; i++) {
		if (tp_pins_instance_lock(d->pin_root, &inst) != -EBUSY)
			break;
		usleep(100000);
	}
	if (inst.lock_fd >= 0)
		tp_pins_instance_unlock(&inst);
}

/* Stop it by its pid (TERM, then KILL), remove its pins and files. */
static void tpd_proc_cleanup(struct tpd_proc *d)
{
	struct tpd_config cfg;
	char path[300];

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		if (tpd_proc_wait(d, 5000) < 0) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
		}
		d->pid = 0;
	}
	if (d->pin_root[0]) {
		tpd_proc_await_lock(d);
		memset(&cfg, 0, sizeof(cfg));
		snprintf(cfg.pin_root, sizeof(cfg.pin_root), "%s", d->pin_root);
		tpd_detach_all(&cfg, true);
	}
	if (system("ip link del tpwg0 2>/dev/null; ip link del tpwg1 2>/dev/null"))
		print_message("cannot remove tpwg0 or tpwg1\n");
	snprintf(path, sizeof(path), "%s/metrics.prom", d->dir);
	unlink(path);
	unlink(d->cfg);
	unlink(d->log);
	rmdir(d->dir);
}

/* What a daemon test started, for the teardown to stop even on failure. */
static struct tpd_proc daemon_proc;
static struct uapi_srv daemon_srv[2];
static bool daemon_srv_running[2];

static int daemon_teardown(void **state)
{
	int i;

	(void)state;
	/* the servers first: their sockets are in the directory removed next */
	for (i = 0; i < 2; i++) {
		if (daemon_srv_running[i])
			uapi_srv_stop(&daemon_srv[i]);
		daemon_srv_running[i] = false;
	}
	if (daemon_proc.dir[0])
		tpd_proc_cleanup(&daemon_proc);
	memset(&daemon_proc, 0, sizeof(daemon_proc));
	return 0;
}

/* Serve @reply as the UAPI of tpwg<@i> (0 or 1). */
static void daemon_srv_start_on(int i, const char *dir, char *reply,
				int trickle_ms)
{
	char ifname[16];

	snprintf(ifname, sizeof(ifname), "tpwg%d", i);
	uapi_srv_start(&daemon_srv[i], dir, ifname, reply, trickle_ms);
	daemon_srv_running[i] = true;
}

static void daemon_srv_start(const char *dir, char *reply, int trickle_ms)
{
	daemon_srv_start_on(0, dir, reply, trickle_ms);
}

/* The identity of @a in @zone in the pinned maps of @d, 0 for none. */
static __u32 tpd_proc_ident(const struct tpd_proc *d, __u16 zone, const char *a)
{
	struct tp_addr ad = pt_addr(a);
	struct tp_maps m;
	__u32 id = 0;

	if (tp_maps_open_pinned(&m, d->pin_root, TP_MAGLEV_SIZE))
		return 0; /* not pinned (yet) */
	if (tp_identity_lookup(&m, zone, &ad, &id))
		id = 0;
	tp_maps_close(&m);
	return id;
}

/* The start of a configuration; its arguments: the pin root and the directory. */
#define TPD_CFG_WG                                                    \
	"{\"pin_root\":\"%s\",\"wireguard\":{\"socket_dir\":\"%s\"}," \
	"\"interfaces\":[{\"name\":\"tpwg0\",\"zone\":3,\"peers\":\"wireguard\"}]"

/*
 * A first start with --once that exits 0, its configuration applied
 * while the child loaded the programs, every map made as defined (the
 * log, dumped when it failed).
 */
static void tpd_proc_first_once(struct tpd_proc *d)
{
	int st;

	tpd_proc_start(d, "--once");
	st = tpd_proc_wait(d, TPD_ONCE_MS);
	if (st)
		tpd_proc_dump_log(d);
	assert_int_equal(st, 0);
	assert_true(tpd_proc_logged(d, "\"msg\":\"maps made"));
	/* a map definition libbpf must retry without BTF warns each load */
	assert_false(tpd_proc_logged(d, "Retrying without BTF"));
}

/*
 * 300 peers mapped to 300 identities: every one gets its own, the last
 * as much as the first (a list of 256 mappings gave peer 299 `tailnet`).
 */
static void test_daemon_300_peer_mappings(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	char b64[64], hex[80], *json, *p;
	size_t cap = 65536;
	unsigned int i;

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	json = malloc(cap);
	assert_non_null(json);
	p = json + snprintf(json, cap, TPD_CFG_WG ",\"wireguard_peers\":{",
			    d->pin_root, d->dir);
	for (i = 0; i < 300; i++) {
		peer_key(i, b64, hex);
		p += snprintf(p, cap - (p - json), "%s\"%s\":%u", i ? "," : "",
			      b64, 1000 + i);
	}
	snprintf(p, cap - (p - json), "}}");
	tpd_proc_config(d, json);
	free(json);
	daemon_srv_start(d->dir, uapi_peers(300), 0);
	tpd_proc_first_once(d);
	assert_int_equal(tpd_proc_ident(d, 3, "100.64.0.0"), 1000);
	assert_int_equal(tpd_proc_ident(d, 3, "100.64.0.255"), 1255);
	assert_int_equal(tpd_proc_ident(d, 3, "100.64.1.43"), 1299);
}

/*
 * A first start applies the configuration while its child loads the
 * programs; the warnings that read the services (a service asking for SNAT
 * with nowhere to take an address from) still see them afterwards.
 */
static void test_daemon_cold_start_service_warning(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	char json[1024];

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	snprintf(
		json, sizeof(json),
		"{\"pin_root\":\"%s\",\"interfaces\":[{\"name\":\"tpwg0\"}],"
		"\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\","
		"\"snat\":true,\"backends\":[{\"addr\":\"198.18.1.1:8080\"}]}]}",
		d->pin_root);
	tpd_proc_config(d, json);
	tpd_proc_first_once(d);
	assert_true(tpd_proc_logged(d, "no \\\"uplink\\\" interface"));
}

/* The pid in tailplaned's pid file for @pin_root, 0 when none yet. */
static pid_t tpd_proc_pidfile(const struct tpd_proc *d)
{
	char path[PATH_MAX], name[200];
	FILE *f;
	int pid = 0;
	size_t i;

	snprintf(name, sizeof(name), "%s", d->pin_root);
	for (i = 0; name[i]; i++)
		if (name[i] == '/')
			name[i] = '_';
	snprintf(path, sizeof(path), "/run/tailplane/tailplaned%s.pid", name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

/*
 * A SIGHUP while tailplaned starts (it holds its pid file, the datapath
 * is still loading) is kept for the main loop: the daemon survives and
 * reloads; SIGTERM then ends it cleanly.
 */
static void test_daemon_sighup_at_start(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	char json[1024];
	int i;

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	snprintf(json, sizeof(json), TPD_CFG_WG "}", d->pin_root, d->dir);
	tpd_proc_config(d, json);
	daemon_srv_start(d->dir, uapi_peers(3), 0);
	tpd_proc_start(d, NULL);
	for (i = 0; i < 10000 && tpd_proc_pidfile(d) != d->pid; i++)
		usleep(100);
	assert_int_equal(tpd_proc_pidfile(d), d->pid);
	assert_false(tpd_proc_logged(d, "\"running\""));
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	if (!tpd_proc_await(d, "\"reloaded\"", TPD_AWAIT_MS)) {
		tpd_proc_dump_log(d);
		fail_msg("no reload; tailplaned %s",
			 tpd_proc_wait(d, 0) < 0 ? "still runs" : "is gone");
	}
	assert_int_equal(tpd_proc_wait(d, 0), -1);
	assert_true(tpd_proc_logged(d, "\"running\""));
	assert_int_equal(kill(d->pid, SIGTERM), 0);
	assert_int_equal(tpd_proc_wait(d, 10000), 0);
	assert_true(
		tpd_proc_logged(d, "exiting; programs and maps stay in place"));
}

/* Wait up to @ms for the identity of @a in @zone to be @id. */
static bool tpd_proc_await_ident(const struct tpd_proc *d, __u16 zone,
				 const char *a, __u32 id, int ms)
{
	for (; ms >= 0; ms -= 50) {
		if (tpd_proc_ident(d, zone, a) == id)
			return true;
		usleep(50000);
	}
	return false;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * One interface's UAPI socket trickles a byte every 300 ms (a stuck
 * userspace WireGuard).  Each read has a total deadline: the other
 * interface of the same source still syncs, its departed peers go, the
 * stuck one keeps its entries, and SIGTERM is answered in seconds.
 */
static void test_daemon_stuck_uapi(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	char json[1024];
	double t0;

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	/* first both answer: 100.64.0.1 in zone 3, 100.64.0.10-12 in zone 4 */
	snprintf(json, sizeof(json),
		 "{\"pin_root\":\"%s\",\"wireguard\":{\"socket_dir\":\"%s\"},"
		 "\"sync_interval\":1,\"interfaces\":["
		 "{\"name\":\"tpwg0\",\"zone\":3,\"peers\":\"wireguard\"},"
		 "{\"name\":\"tpwg1\",\"zone\":4,\"peers\":\"wireguard\"}]}",
		 d->pin_root, d->dir);
	tpd_proc_config(d, json);
	daemon_srv_start_on(0, d->dir, uapi_peers_from(1, 1), 0);
	daemon_srv_start_on(1, d->dir, uapi_peers_from(10, 3), 0);
	tpd_proc_start(d, NULL);
	/* the start is a verifier load: minutes under qemu's emulation */
	if (!tpd_proc_await(d, "\"running\"", TPD_AWAIT_MS) ||
	    !tpd_proc_await_ident(d, 4, "100.64.0.12", TP_ID_TAILNET, 15000) ||
	    !tpd_proc_await_ident(d, 3, "100.64.0.1", TP_ID_TAILNET, 1000)) {
		tpd_proc_dump_log(d);
		fail_msg("the peers were not synced");
	}

	/* tpwg0 gets stuck; tpwg1 loses a peer and gains one */
	uapi_srv_stop(&daemon_srv[0]);
	daemon_srv_running[0] = false;
	daemon_srv_start_on(0, d->dir, uapi_peers_from(1, 60), 300);
	uapi_srv_stop(&daemon_srv[1]);
	daemon_srv_running[1] = false;
	daemon_srv_start_on(1, d->dir, uapi_peers_from(10, 2), 0);
	if (!tpd_proc_await_ident(d, 4, "100.64.0.12", 0, 15000)) {
		tpd_proc_dump_log(d);
		fail_msg("tpwg1's departed peer is still there");
	}
	assert_int_equal(tpd_proc_ident(d, 4, "100.64.0.11"), TP_ID_TAILNET);
	/* the stuck interface keeps what it had */
	assert_int_equal(tpd_proc_ident(d, 3, "100.64.0.1"), TP_ID_TAILNET);
	assert_true(tpd_proc_logged(d, "timed out"));

	t0 = mono_s();
	assert_int_equal(kill(d->pid, SIGTERM), 0);
	assert_int_equal(tpd_proc_wait(d, 10000), 0);
	print_message("SIGTERM answered in %.1f s with a stuck UAPI socket\n",
		      mono_s() - t0);
	assert_true(mono_s() - t0 < 4.0);
}

/* The value of metric line @prefix (up to the value) in @path, -1 if none. */
static long metric(const char *path, const char *prefix)
{
	char line[512];
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, prefix, strlen(prefix)) &&
		    line[strlen(prefix)] == ' ')
			v = atol(line + strlen(prefix) + 1);
	fclose(f);
	return v;
}

/*
 * tp_identity fills up: the WireGuard source says so in an error naming
 * the limit, counts it in tailplane_sync_errors_total and no longer
 * reports success; a prefix tpctl holds is a conflict, logged.
 */
static void test_daemon_identity_full(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	struct tp_identity_key k = { .prefixlen = TP_IDENTITY_PLEN(128),
				     .zone = 500 };
	struct tp_identity_val v = { .id = 999,
				     .owner = TP_OWNER_TPCTL,
				     .plen = 128 };
	struct tp_addr held = pt_addr("100.64.0.2");
	char json[1024], prom[256], full[64];
	struct tp_maps m;
	long ok_before;
	__u32 n;

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	snprintf(prom, sizeof(prom), "%s/metrics.prom", d->dir);
	/* a small tp_identity: filling the default 262,144 takes long in a VM */
	snprintf(json, sizeof(json),
		 TPD_CFG_WG ",\"sync_interval\":1,"
			    "\"capacity\":{\"identities\":4096},"
			    "\"metrics\":{\"textfile\":\"%s\",\"interval\":1}}",
		 d->pin_root, d->dir, prom);
	tpd_proc_config(d, json);
	daemon_srv_start(d->dir, uapi_peers(0), 0);
	tpd_proc_run(d);
	for (n = 0; n < 100 &&
		    metric(prom, "tailplane_sync_last_success_timestamp_seconds"
				 "{source=\"wireguard\"}") <= 0;
	     n++)
		usleep(100000);
	ok_before = metric(prom, "tailplane_sync_last_success_timestamp_seconds"
				 "{source=\"wireguard\"}");
	assert_true(ok_before > 0);
	assert_int_equal(
		metric(prom,
		       "tailplane_sync_errors_total{source=\"wireguard\"}"),
		0);

	/* fill tp_identity, tpctl holding one of the peers' prefixes */
	assert_int_equal(tp_maps_open_pinned(&m, d->pin_root, TP_MAGLEV_SIZE),
			 0);
	assert_int_equal(
		tp_identity_set(&m, 3, &held, 128, 400, TP_OWNER_TPCTL), 0);
	for (n = 0;; n++) {
		k.addr.w[3] = htonl(n);
		if (bpf_map_update_elem(m.identity, &k, &v, BPF_NOEXIST))
			break;
	}
	assert_int_equal(errno, ENOSPC);
	tp_maps_close(&m);
	uapi_srv_stop(&daemon_srv[0]);
	daemon_srv_running[0] = false;
	daemon_srv_start(d->dir, uapi_peers(3), 0);

	snprintf(full, sizeof(full), "tp_identity is full: %u prefixes", 4096);
	if (!tpd_proc_await(d, full, TPD_AWAIT_MS)) {
		tpd_proc_dump_log(d);
		fail_msg("the full identity map was not logged");
	}
	assert_true(tpd_proc_await(d, "capacity.identities", 1000));
	assert_true(tpd_proc_await(d, "held by another owner", 1000));
	/* the textfile is written every second: as long as the log waits */
	for (n = 0; n < TPD_AWAIT_MS / 100 &&
		    metric(prom, "tailplane_sync_errors_total"
				 "{source=\"wireguard\"}") <= 0;
	     n++)
		usleep(100000);
	assert_true(
		metric(prom,
		       "tailplane_sync_errors_total{source=\"wireguard\"}") >
		0);
	/*
	 * No success since the syncs started failing.  The baseline is read
	 * after the first error: before it, while the map was being filled
	 * (seconds on a slow machine), a sync of the old peers still
	 * succeeded, as it should.
	 */
	ok_before = metric(prom, "tailplane_sync_last_success_timestamp_seconds"
				 "{source=\"wireguard\"}");
	sleep(2);
	assert_true(metric(prom, "tailplane_sync_last_success_timestamp_seconds"
				 "{source=\"wireguard\"}") <= ok_before);
	assert_int_equal(tpd_proc_ident(d, 3, "100.64.0.2"), 400);
}

#define TPD_CFG_RULES                                                                               \
	TPD_CFG_WG                                                                                  \
	",\"identities\":[{\"id\":300,\"name\":\"web\"},{\"id\":301,"                               \
	"\"name\":\"laptop\"}],\"policies\":["                                                      \
	"{\"from\":\"laptop\",\"to\":\"web\",\"proto\":\"tcp\",\"port\":%s,\"verdict\":\"allow\"}," \
	"{\"from\":\"laptop\",\"to\":\"web\",\"proto\":\"udp\",\"port\":%s,\"verdict\":\"allow\"}]}"

/* Whether the pinned tp_rules of @d has laptop -> web @proto @port. */
static bool tpd_proc_has_rule(const struct tpd_proc *d, __u8 proto, __u16 port)
{
	struct tp_rule r = { .src_id = 301,
			     .dst_id = 300,
			     .proto = proto,
			     .port_lo = port,
			     .port_hi = port };
	struct tp_maps m;
	__u32 id;
	bool has;

	if (tp_maps_open_pinned(&m, d->pin_root, TP_MAGLEV_SIZE))
		return false;
	has = !tp_policy_rule_find(&m, &r, &id);
	tp_maps_close(&m);
	return has;
}

/*
 * A reloaded configuration with a typo (a port of 8O80) is rejected
 * whole, naming the key: both running rules stay, nothing of the new
 * file is applied, and the log does not say "reloaded".
 */
static void test_daemon_reload_rejects_typo(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	char json[2048];

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	snprintf(json, sizeof(json), TPD_CFG_RULES, d->pin_root, d->dir, "8080",
		 "53");
	tpd_proc_config(d, json);
	daemon_srv_start(d->dir, uapi_peers(0), 0);
	tpd_proc_run(d);
	assert_true(tpd_proc_has_rule(d, IPPROTO_TCP, 8080));
	assert_true(tpd_proc_has_rule(d, IPPROTO_UDP, 53));

	/* the TCP rule moves to 9090, the UDP one gets a typo */
	snprintf(json, sizeof(json), TPD_CFG_RULES, d->pin_root, d->dir, "9090",
		 "\"5e\"");
	tpd_proc_config(d, json);
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	if (!tpd_proc_await(
		    d, "reload: configuration rejected, keeping the old one",
		    TPD_AWAIT_MS)) {
		tpd_proc_dump_log(d);
		fail_msg("the reload was not rejected");
	}
	assert_true(tpd_proc_logged(
		d, "policies[1].port: '5e' is not a port or range"));
	usleep(300000);
	assert_false(tpd_proc_logged(d, "\"reloaded\""));
	assert_true(tpd_proc_has_rule(d, IPPROTO_TCP, 8080));
	assert_true(tpd_proc_has_rule(d, IPPROTO_UDP, 53));
	assert_false(tpd_proc_has_rule(d, IPPROTO_TCP, 9090));

	/* fixed: applied */
	snprintf(json, sizeof(json), TPD_CFG_RULES, d->pin_root, d->dir, "9090",
		 "5353");
	tpd_proc_config(d, json);
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	assert_true(tpd_proc_await(d, "\"reloaded\"", TPD_AWAIT_MS));
	assert_true(tpd_proc_has_rule(d, IPPROTO_TCP, 9090));
	assert_true(tpd_proc_has_rule(d, IPPROTO_UDP, 5353));
	assert_false(tpd_proc_has_rule(d, IPPROTO_TCP, 8080));
}

/* Run tailplaned with @args (NULL-terminated); its exit status. */
static int tpd_run_args(const char *out, const char *err,
			const char *const *args)
{
	char bin[PATH_MAX];
	const char *argv[8] = { bin };
	int st, i;
	pid_t pid;

	tpd_proc_path(bin, sizeof(bin));
	for (i = 0; args[i] && i < 6; i++)
		argv[i + 1] = args[i];
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
			_exit(126);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(buf);
	if (!fread(buf, 1, 65535, f) && ferror(f))
		buf[0] = 0;
	fclose(f);
	return buf;
}

/*
 * tailplaned --check-config @cfg: its exit code; what it wrote to stdout
 * and stderr in *@o and *@e (the caller frees them).
 */
static int tpd_check_config(struct tpd_proc *d, const char *cfg, char **o,
			    char **e)
{
	char out[160], err[160];
	int rc;

	snprintf(out, sizeof(out), "%s/out", d->dir);
	snprintf(err, sizeof(err), "%s/err", d->dir);
	rc = tpd_run_args(out, err,
			  (const char *[]){ "--check-config", cfg, NULL });
	*o = slurp(out);
	*e = slurp(err);
	unlink(out);
	unlink(err);
	return rc;
}

/* --check-config of @json: the exit code, the output as above. */
static int tpd_check_json(struct tpd_proc *d, const char *json, char **o,
			  char **e)
{
	tpd_proc_config(d, json);
	return tpd_check_config(d, d->cfg, o, e);
}

/*
 * --check-config runs the validation a start or reload does, and
 * nothing else: exit 0, or 1 with the error naming the key; no pins, no
 * pid file, no interface touched.
 */
static void test_check_config(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	char json[2048], *o, *e;

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	snprintf(json, sizeof(json), TPD_CFG_RULES, d->pin_root, d->dir, "8080",
		 "53");
	assert_int_equal(tpd_check_json(d, json, &o, &e), 0);
	assert_string_equal(e, "");
	assert_non_null(strstr(o, "configuration OK"));
	free(o);
	free(e);

	snprintf(json, sizeof(json), TPD_CFG_RULES, d->pin_root, d->dir, "8080",
		 "\"53-\"");
	assert_int_equal(tpd_check_json(d, json, &o, &e), 1);
	assert_string_equal(o, "");
	assert_non_null(
		strstr(e, "policies[1].port: '53-' is not a port or range"));
	assert_non_null(strstr(e, d->cfg));
	free(o);
	free(e);

	/* nothing was touched */
	assert_int_not_equal(access(d->pin_root, F_OK), 0);
	assert_int_equal(tpd_proc_pidfile(d), 0);
	assert_int_equal(tpd_check_config(d, "/nonexistent.json", &o, &e), 1);
	free(o);
	free(e);
}

/* The pinned tp_config of @d. */
static struct tp_config tpd_proc_config_map(const struct tpd_proc *d)
{
	struct tp_config c = {};
	struct tp_maps m;
	__u32 zero = 0;

	if (!tp_maps_open_pinned(&m, d->pin_root, TP_MAGLEV_SIZE)) {
		bpf_map_lookup_elem(m.config, &zero, &c);
		tp_maps_close(&m);
	}
	return c;
}

/*
 * tailplaned with "snat": "auto" and an uplink: tp_config gets the mode,
 * the range and the uplink's address, and follows it when it changes;
 * the range is reserved from local sockets and --detach --purge takes out
 * exactly what was added; an uplink program missing from the object is
 * said in the log.
 */
static void test_daemon_snat(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	struct tp_addr v4 = pt_addr("198.18.0.5"), v4b = pt_addr("198.18.0.8");
	char json[2048], out[160], err[160], got[256], saved[256],
		record[PATH_MAX + 16];
	const char *real = TPD_RESERVED_PORTS;
	struct tp_config c;
	int n;

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	ports_of(real, saved, sizeof(saved));
	fixture_sh("echo 7000 > %s", real);
	(void)!system("ip link del tpsn0 2>/dev/null"); /* a failed test's */
	fixture_sh(
		"ip link add tpsn0 type veth peer name tpsn1 && ip link set tpsn0 up && "
		"ip link set tpsn1 up && ip addr add 198.18.0.5/24 dev tpsn0");
	snprintf(
		json, sizeof(json),
		"{\"pin_root\":\"%s\",\"interfaces\":[{\"name\":\"tpwg0\"},"
		"{\"name\":\"tpsn0\",\"kind\":\"uplink\"}],\"snat\":\"auto\","
		"\"services\":[{\"frontend\":\"198.19.0.10:80/tcp\",\"snat\":true,"
		"\"backends\":[{\"addr\":\"198.18.1.1:8080\"}]}]}",
		d->pin_root);
	tpd_proc_config(d, json);
	tpd_proc_run(d);
	assert_true(
		tpd_proc_logged(d, "SNAT ports reserved from local sockets"));
	assert_true(tpd_proc_logged(d, "\"added_by_us\":\"61000-65000\""));
	assert_true(tpd_proc_logged(d, "\"ipv4\":\"198.18.0.5\""));
	assert_true(tpd_proc_logged(d, "tp_from_uplink"));
	assert_string_equal(ports_of(real, got, sizeof(got)),
			    "7000,61000-65000");
	c = tpd_proc_config_map(d);
	assert_int_equal(c.flags, TP_CFG_F_SNAT_AUTO);
	assert_memory_equal(&c.snat_addr4, &v4, sizeof(v4));
	assert_int_equal(c.snat_port_min, TP_SNAT_PORT_MIN);
	assert_int_equal(c.snat_port_max, TP_SNAT_PORT_MAX);
	{
		struct tp_svc_key k = pt_svc_key(VIP4, 80, IPPROTO_TCP);
		struct tp_maps m;
		struct tp_svc svc;

		assert_int_equal(
			tp_maps_open_pinned(&m, d->pin_root, TP_MAGLEV_SIZE),
			0);
		assert_int_equal(bpf_map_lookup_elem(m.services, &k, &svc), 0);
		assert_int_equal(svc.flags, TP_SVC_F_SNAT);
		tp_maps_close(&m);
	}

	/* the uplink's address changes: tp_config follows */
	fixture_sh(
		"ip addr del 198.18.0.5/24 dev tpsn0 && ip addr add 198.18.0.8/24 dev tpsn0");
	for (n = 0; n < TPD_AWAIT_MS / 20; n++) {
		c = tpd_proc_config_map(d);
		if (!memcmp(&c.snat_addr4, &v4b, sizeof(v4b)))
			break;
		usleep(20000);
	}
	assert_memory_equal(&c.snat_addr4, &v4b, sizeof(v4b));
	assert_true(tpd_proc_await(d, "\"ipv4\":\"198.18.0.8\"", TPD_AWAIT_MS));

	tpd_proc_stop(d);
	/* a restart finds its own range reserved, and still owns it */
	assert_int_equal(truncate(d->log, 0), 0);
	tpd_proc_run(d);
	assert_true(tpd_proc_logged(d, "\"added_by_us\":\"61000-65000\""));
	tpd_proc_stop(d);
	assert_string_equal(ports_of(real, got, sizeof(got)),
			    "7000,61000-65000");

	snprintf(out, sizeof(out), "%s/out", d->dir);
	snprintf(err, sizeof(err), "%s/err", d->dir);
	assert_int_equal(
		tpd_run_args(out, err,
			     (const char *[]){ "--config", d->cfg, "--detach",
					       "--purge", NULL }),
		0);
	assert_string_equal(ports_of(real, got, sizeof(got)), "7000");
	tpd_snat_record_path(d->pin_root, record, sizeof(record));
	assert_int_not_equal(access(record, F_OK), 0);
	unlink(out);
	unlink(err);
	fixture_sh("ip link del tpsn0; echo '%s' > %s", saved, real);
}

/* --check-config covers "snat": an error names the key, a warning is only one. */
static void test_check_config_snat(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	char json[1024], *o, *e;

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	fixture_sh(
		"echo '32768 60999' > /proc/sys/net/ipv4/ip_local_port_range");
	snprintf(json, sizeof(json),
		 "{\"pin_root\":\"%s\",\"interfaces\":[{\"name\":\"tpwg0\"}],"
		 "\"snat\":{\"ports\":\"60000-62000\"}}",
		 d->pin_root);
	assert_int_equal(tpd_check_json(d, json, &o, &e), 0);
	assert_non_null(strstr(o, "configuration OK"));
	assert_non_null(strstr(e, "Warning: "));
	assert_non_null(
		strstr(e, "overlaps the ephemeral port range 32768-60999"));
	free(o);
	free(e);

	snprintf(json, sizeof(json),
		 "{\"pin_root\":\"%s\",\"interfaces\":[{\"name\":\"tpwg0\"}],"
		 "\"snat\":{\"mode\":\"auto\",\"ports\":\"62000-61000\"}}",
		 d->pin_root);
	assert_int_equal(tpd_check_json(d, json, &o, &e), 1);
	assert_non_null(strstr(
		e,
		"snat.ports: '62000-61000': the first port is above the last"));
	free(o);
	free(e);
}

/* The start of a configuration with the Kubernetes source; pin root, zone. */
#define TPD_CFG_KUBE                                                             \
	"{\"pin_root\":\"%s\",\"interfaces\":[{\"name\":\"tpwg0\",\"zone\":3}]," \
	"\"kubernetes\":{\"enabled\":true,\"node_name\":\"node-a\",\"zone\":%d}}"

/* Frontend @fe in the pinned maps of @d: its owner, or 0 when absent. */
static __u8 tpd_proc_svc_owner(const struct tpd_proc *d, const char *fe)
{
	struct tp_svc_key key;
	struct tp_maps m;
	struct tp_svc svc;
	__u8 owner = 0;

	assert_int_equal(tp_svc_key_parse(fe, &key), 0);
	if (tp_maps_open_pinned(&m, d->pin_root, TP_MAGLEV_SIZE))
		return 0;
	if (!bpf_map_lookup_elem(m.services, &key, &svc))
		owner = svc.owner;
	tp_maps_close(&m);
	return owner;
}

/*
 * The Kubernetes section on SIGHUP: a change restarts the source and
 * keeps its entries; switching it off removes exactly the entries of
 * owner kubernetes (here written as a last loader would have), nothing of
 * tpctl's; so does a start without the section.
 */
static void test_daemon_kubernetes_switch_off(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	struct tp_backend_spec be = { .addr = pt_addr("198.18.1.1"),
				      .port = htons(80),
				      .weight = 1 };
	struct tp_svc_spec kube = { .owner = TP_OWNER_KUBERNETES },
			   tpctl = { .owner = TP_OWNER_TPCTL };
	struct tp_addr pod = pt_addr("198.18.1.1"),
		       mine = pt_addr("198.18.1.2");
	struct tp_svc_key key;
	struct tp_maps m;
	char json[1024];
	int lock;
	__u32 id;

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	snprintf(json, sizeof(json), TPD_CFG_KUBE, d->pin_root, 0);
	tpd_proc_config(d, json);
	tpd_proc_run(d);
	assert_int_equal(tp_maps_open_pinned(&m, d->pin_root, TP_MAGLEV_SIZE),
			 0);
	lock = tp_pins_lock(d->pin_root);
	assert_true(lock >= 0);
	assert_int_equal(tp_svc_key_parse("198.19.0.10:80/tcp", &key), 0);
	assert_int_equal(tp_service_set(&m, &key, &kube, &be, 1), 0);
	assert_int_equal(tp_svc_key_parse("198.19.0.11:80/tcp", &key), 0);
	assert_int_equal(tp_service_set(&m, &key, &tpctl, &be, 1), 0);
	assert_int_equal(tp_identity_set(&m, 0, &pod, 128, 0x1000001,
					 TP_OWNER_KUBERNETES),
			 0);
	assert_int_equal(tp_identity_name_set(&m, 0x1000001,
					      "k8s:ns:0123456789abcdef",
					      TP_OWNER_KUBERNETES),
			 0);
	assert_int_equal(
		tp_identity_set(&m, 0, &mine, 128, 300, TP_OWNER_TPCTL), 0);
	tp_pins_unlock(lock);
	tp_maps_close(&m);

	/* another zone: the source restarts, its entries stay */
	snprintf(json, sizeof(json), TPD_CFG_KUBE, d->pin_root, 3);
	tpd_proc_config(d, json);
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	assert_true(tpd_proc_await(d, "\"reloaded\"", TPD_AWAIT_MS));
	assert_false(tpd_proc_logged(d, "kubernetes source switched off"));
	assert_int_equal(tpd_proc_svc_owner(d, "198.19.0.10:80/tcp"),
			 TP_OWNER_KUBERNETES);
	assert_int_equal(tpd_proc_ident(d, 0, "198.18.1.1"), 0x1000001);

	/* the section gone: exactly the source's entries go */
	snprintf(json, sizeof(json),
		 "{\"pin_root\":\"%s\",\"interfaces\":[{\"name\":\"tpwg0\","
		 "\"zone\":3}]}",
		 d->pin_root);
	tpd_proc_config(d, json);
	assert_int_equal(kill(d->pid, SIGHUP), 0);
	if (!tpd_proc_await(d, "kubernetes source switched off",
			    TPD_AWAIT_MS)) {
		tpd_proc_dump_log(d);
		fail_msg("the source was not switched off");
	}
	assert_true(tpd_proc_await(d, "\"reloaded\"", TPD_AWAIT_MS));
	assert_int_equal(tpd_proc_svc_owner(d, "198.19.0.10:80/tcp"), 0);
	assert_int_equal(tpd_proc_svc_owner(d, "198.19.0.11:80/tcp"),
			 TP_OWNER_TPCTL);
	assert_int_equal(tpd_proc_ident(d, 0, "198.18.1.1"), 0);
	assert_int_equal(tpd_proc_ident(d, 0, "198.18.1.2"), 300);
	assert_int_equal(tp_maps_open_pinned(&m, d->pin_root, TP_MAGLEV_SIZE),
			 0);
	assert_int_not_equal(
		tp_identity_parse(&m, "k8s:ns:0123456789abcdef", &id), 0);

	/* a loader that starts without the section removes an earlier one's entries */
	lock = tp_pins_lock(d->pin_root);
	assert_true(lock >= 0);
	assert_int_equal(tp_svc_key_parse("198.19.0.10:80/tcp", &key), 0);
	assert_int_equal(tp_service_set(&m, &key, &kube, &be, 1), 0);
	tp_pins_unlock(lock);
	tp_maps_close(&m);
	tpd_proc_stop(d);
	tpd_proc_start(d, NULL);
	assert_true(tpd_proc_await(d, "entries an earlier loader wrote removed",
				   TPD_AWAIT_MS));
	assert_int_equal(tpd_proc_svc_owner(d, "198.19.0.10:80/tcp"), 0);
	assert_int_equal(tpd_proc_svc_owner(d, "198.19.0.11:80/tcp"),
			 TP_OWNER_TPCTL);
}

/* --check-config validates the kubernetes section, naming a bad key. */
static void test_check_config_kubernetes(void **state)
{
	struct tpd_proc *d = &daemon_proc;
	char json[1024], *o, *e;

	(void)state;
	REQUIRE_BPF();
	tpd_proc_init(d);
	snprintf(json, sizeof(json), TPD_CFG_KUBE, d->pin_root, 1);
	assert_int_equal(tpd_check_json(d, json, &o, &e), 0);
	free(o);
	free(e);
	snprintf(json, sizeof(json),
		 "{\"pin_root\":\"%s\",\"interfaces\":[{\"name\":\"tpwg0\"}],"
		 "\"kubernetes\":{\"enabled\":true,\"expose\":\"everything\"}}",
		 d->pin_root);
	assert_int_equal(tpd_check_json(d, json, &o, &e), 1);
	assert_non_null(strstr(
		e,
		"kubernetes.expose: 'everything': expected all or annotated"));
	free(o);
	free(e);
}

/*
 * The tests named by the arguments, moved to the front of @t: those whose
 * name matches the first (a shell pattern; "-" or none: every test) and
 * none of the rest.  Returns how many.  The VM runs the suite in parts,
 * one per worker at a time ("test_pins_*", "test_sync_static_fresh_*",
 * and "- test_pins_* test_sync_static_fresh_*"): whole, it ran past the
 * suite limit there on a loaded machine.
 */
static size_t tests_named(struct CMUnitTest *t, size_t n, int argc, char **argv)
{
	size_t i, kept = 0;
	bool keep;
	int a;

	for (i = 0; i < n; i++) {
		keep = argc < 2 || !strcmp(argv[1], "-") ||
		       !fnmatch(argv[1], t[i].name, 0);
		for (a = 2; keep && a < argc; a++)
			keep = fnmatch(argv[a], t[i].name, 0) != 0;
		if (keep)
			t[kept++] = t[i];
	}
	return kept;
}

int main(int argc, char **argv)
{
	struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_minimal),
		cmocka_unit_test(test_config_example),
		cmocka_unit_test(test_config_capacity),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_many_services_duplicate),
		cmocka_unit_test(test_config_services_streamed),
		cmocka_unit_test(test_config_bad_values),
		cmocka_unit_test(test_config_limits),
		cmocka_unit_test(test_config_kubernetes),
		cmocka_unit_test(test_config_snat),
		cmocka_unit_test(test_config_snat_errors),
		cmocka_unit_test(test_config_snat_warnings),
		cmocka_unit_test(test_snat_reserved_ports),
		cmocka_unit_test_setup_teardown(test_sync_identities_diff,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_sync_peer_source_keeps_stuck_zone, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(test_sync_static, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_sync_static_fresh_same,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_sync_static_fresh_full,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_sync_static_fresh_steps,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_sync_static_fresh_heap,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_reload_removes_everything,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_rule_all_or_nothing,
						pt_setup_small, pt_teardown),
		cmocka_unit_test_setup_teardown(test_limits_named,
						pt_setup_small, pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_udp_purge_on_backend_removal, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(test_udp_purge_linear, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_udp_purge_linear_4000,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_udp_purge_steps, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_udp_purge_snat, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_gc, pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_gc_snat, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(
			test_gc_keeps_reply_key_of_other_flow, pt_setup,
			pt_teardown),
		cmocka_unit_test_setup_teardown(test_metrics_textfile, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_service_mixed_family,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_iface_kind_own_netns,
						pt_setup, pt_teardown),
		cmocka_unit_test_setup_teardown(test_host_addresses, pt_setup,
						pt_teardown),
		cmocka_unit_test_setup_teardown(test_snat_addresses, pt_setup,
						pt_teardown),
		cmocka_unit_test_teardown(test_pins_survive_and_migrate,
					  pins_teardown),
		cmocka_unit_test_teardown(test_pins_restart_without_load,
					  pins_teardown),
		cmocka_unit_test_teardown(test_pins_cold_start_early,
					  pins_teardown),
		cmocka_unit_test_teardown(test_pins_capacity_resize,
					  pins_teardown),
		cmocka_unit_test_teardown(test_ct_v1_pins_converted,
					  pins_teardown),
		cmocka_unit_test_teardown(test_ct_v1_unsplit_pins_converted,
					  pins_teardown),
		cmocka_unit_test_teardown(test_pins_upgrade_services,
					  pins_teardown),
		cmocka_unit_test_teardown(test_pins_upgrade_services_v2,
					  pins_teardown),
		cmocka_unit_test_teardown(test_pins_slab_pin_removed,
					  pins_teardown),
		cmocka_unit_test_teardown(test_pins_upgrade_config,
					  pins_teardown),
		cmocka_unit_test_teardown(test_pins_upgrade_grouped_stats,
					  pins_teardown),
		cmocka_unit_test_teardown(test_daemon_300_peer_mappings,
					  daemon_teardown),
		cmocka_unit_test_teardown(
			test_daemon_cold_start_service_warning,
			daemon_teardown),
		cmocka_unit_test_teardown(test_daemon_sighup_at_start,
					  daemon_teardown),
		cmocka_unit_test_teardown(test_daemon_kubernetes_switch_off,
					  daemon_teardown),
		cmocka_unit_test_teardown(test_check_config_kubernetes,
					  daemon_teardown),
		cmocka_unit_test_teardown(test_daemon_stuck_uapi,
					  daemon_teardown),
		cmocka_unit_test_teardown(test_daemon_identity_full,
					  daemon_teardown),
		cmocka_unit_test_teardown(test_daemon_reload_rejects_typo,
					  daemon_teardown),
		cmocka_unit_test_teardown(test_check_config, daemon_teardown),
		cmocka_unit_test_teardown(test_daemon_snat, daemon_teardown),
		cmocka_unit_test_teardown(test_check_config_snat,
					  daemon_teardown),
	};

	return _cmocka_run_group_tests(
		"tests", tests,
		tests_named(tests, sizeof(tests) / sizeof(tests[0]), argc,
			    argv),
		NULL, NULL);
}
