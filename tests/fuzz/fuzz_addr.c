// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lib/addr.c: every parser on the input as a string (up to its first
 * NUL), and every value a parser accepts formatted and parsed back: the
 * same value must come back, and the text must fit the buffer sizes
 * addr.h promises.
 */
#include <errno.h>

#include "addr.h"
#include "fuzz.h"

/*
 * @s parsed and formatted as @buf: @buf must parse again (@reparse is
 * that parse's return, 0 when it parses) to the value @s gave (@same).
 */
#define FUZZ_ROUND_TRIP(s, buf, reparse, same)                              \
	do {                                                                \
		FUZZ_CHECK(!(reparse),                                      \
			   "'%s' formats as '%s', which does not parse", s, \
			   buf);                                            \
		FUZZ_CHECK(same, "'%s' -> '%s' -> another value", s, buf);  \
	} while (0)

static void fuzz_addr(const char *s)
{
	char buf[TP_ADDR_STRLEN];
	struct tp_addr a, b;

	if (tp_addr_parse(s, &a))
		return;
	tp_addr_format(&a, buf, sizeof(buf));
	FUZZ_ROUND_TRIP(s, buf, tp_addr_parse(buf, &b),
			!memcmp(&a, &b, sizeof(a)));
}

static void fuzz_prefix(const char *s)
{
	char buf[TP_PREFIX_STRLEN];
	unsigned int plen, plen2;
	struct tp_addr a, b;
	int err = tp_prefix_parse(s, &a, &plen);

	if (err) {
		FUZZ_CHECK(err == -EINVAL || err == -EDOM, "'%s': %d", s, err);
		return;
	}
	FUZZ_CHECK(plen <= 128, "'%s': length %u", s, plen);
	FUZZ_CHECK(tp_prefix_contains(&a, plen, &a),
		   "'%s' does not contain itself", s);
	tp_prefix_format(&a, plen, buf, sizeof(buf));
	FUZZ_ROUND_TRIP(s, buf, tp_prefix_parse(buf, &b, &plen2),
			!memcmp(&a, &b, sizeof(a)) && plen == plen2);
}

static void fuzz_endpoint(const char *s)
{
	char buf[TP_ENDPOINT_STRLEN];
	struct tp_addr a, b;
	__u16 port, port2;
	bool has_port, has_port2;

	if (!tp_endpoint_parse(s, &a, &port, NULL)) {
		/* a port required: the same as when it is optional */
		FUZZ_CHECK(!tp_endpoint_parse(s, &b, &port2, &has_port2) &&
				   has_port2 && !memcmp(&a, &b, sizeof(a)) &&
				   port == port2,
			   "'%s' parses differently with the port optional", s);
	}
	if (tp_endpoint_parse(s, &a, &port, &has_port))
		return;
	FUZZ_CHECK(has_port || !port, "'%s': port %u without one", s, port);
	tp_endpoint_format(&a, port, buf, sizeof(buf));
	FUZZ_ROUND_TRIP(s, buf, tp_endpoint_parse(buf, &b, &port2, NULL),
			!memcmp(&a, &b, sizeof(a)) && port == port2);
}

static void fuzz_svc(const char *s)
{
	struct tp_svc_key k, k2;
	char buf[TP_SVC_STRLEN];

	if (tp_svc_key_parse(s, &k))
		return;
	FUZZ_CHECK(!k.pad, "'%s': padding not zeroed", s);
	tp_svc_key_format(&k, buf, sizeof(buf));
	FUZZ_ROUND_TRIP(s, buf, tp_svc_key_parse(buf, &k2),
			!memcmp(&k, &k2, sizeof(k)));
}

static void fuzz_ports(const char *s)
{
	char buf[8];
	const char *name;
	__u16 lo, hi, port;
	__u8 proto, proto2;

	if (!tp_port_range_parse(s, &lo, &hi))
		FUZZ_CHECK(lo <= hi, "'%s': %u-%u", s, lo, hi);
	if (!tp_port_parse(s, &port)) {
		FUZZ_CHECK(!tp_port_range_parse(s, &lo, &hi) && lo == port &&
				   hi == port,
			   "port '%s' is not the range %u-%u", s, port, port);
	}
	if (tp_proto_parse(s, &proto))
		return;
	name = tp_proto_name(proto, buf, sizeof(buf));
	FUZZ_CHECK(!tp_proto_parse(name, &proto2) && proto == proto2,
		   "protocol '%s' -> '%s' -> %u", s, name, proto2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *s = fuzz_cstr(data, len);

	fuzz_addr(s);
	fuzz_prefix(s);
	fuzz_endpoint(s);
	fuzz_svc(s);
	fuzz_ports(s);
	free(s);
	return 0;
}
