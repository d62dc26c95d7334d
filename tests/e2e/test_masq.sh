#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End-to-end test of masquerade to the tailnet: a pod behind the node
# reaches a tailnet client through the node's wireguard-go interface with
# real TCP, UDP and ICMP echo, v4 and v6, and the client sees the node's
# tailnet address as the source.
#
#   pod ($P-pod1) --- veth/br0 --- node ($P-node) --- underlay --- client ($P-client)
#   198.18.1.1                     $WG_NODE 100.64.0.1  <-- WireGuard -->  $WG_CLIENT 100.64.0.2
#   fd00:198:18:1::1                        fd7a:115c:a1e0::1                        fd7a:115c:a1e0::2
#                                                                           tp-echo (the tailnet device)
#
# The client's WireGuard accepts only the node's tailnet addresses from the
# node (allowed-ips 100.64.0.1/32, fd7a:115c:a1e0::1/128) and has no route
# to the pods: a pod's packet gets through only with the node's address as
# its source, and the answer reaches the pod only when tp_from_tailnet
# restores it.  The loader runs with "masquerade": true on $WG_NODE.
# Names are this suite's own (tpmq*).  Prints cmocka-style results
# so tests/run.sh counts them.  Needs root, wireguard-go and the build.
set -uo pipefail

P=tpmq$$
# shellcheck disable=SC2034 # env.sh's env_pods uses it
N_PODS=1
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
NODE4=100.64.0.1
NODE6=fd7a:115c:a1e0::1
PEER4=100.64.0.2
PEER6=fd7a:115c:a1e0::2
POD4=198.18.1.1
POD6=fd00:198:18:1::1

tpd_reload() { # tpd_reload MASQUERADE(true|false)
	masq_config "$ENV_DIR/cfg.json" "$1"
	local before
	before=$(grep -c '"reloaded"' "$ENV_DIR/tailplaned.log")
	kill -HUP "$TPD_PID"
	for _ in $(seq 100); do
		[ "$(grep -c '"reloaded"' "$ENV_DIR/tailplaned.log")" -gt "$before" ] && return 0
		sleep 0.05
	done
	return 1
}

# The tailnet client: only the node's own tailnet addresses are accepted
# from the node, no route to the pods; a tp-echo on its tailnet addresses.
env_client_strict() {
	client wg set "$WG_CLIENT" peer "$NODE_PUB" allowed-ips "$NODE4/32,$NODE6/128"
	client ip route del 198.18.1.0/24 2>/dev/null
	client ip -6 route del fd00:198:18:1::/64 2>/dev/null
	env_bg "$P-client" "$ENV_DIR/client-echo.log" "$BUILD/tools/tp-echo" \
		--http 8080 --tcp 9000 --udp 9001 --name tailnet
}

masq_config() { # masq_config FILE MASQUERADE
	env_config_doc "$1" allow <<JSON
  "interfaces": [
    { "name": "$WG_NODE", "kind": "tailnet", "zone": 1, "peers": "wireguard",
      "masquerade": $2 }
  ],
  "identities": [
    { "cidr": "198.18.1.0/24", "id": 300, "name": "web" },
    { "cidr": "fd00:198:18:1::/64", "id": 300 }
  ],
JSON
}

# ---- tests -------------------------------------------------------------------

# The premise: the client routes nothing to the pods and accepts only the
# node's addresses from it.
test_client_accepts_only_the_node() {
	local out
	out=$(client wg show "$WG_CLIENT" allowed-ips)
	echo "$out" | grep -q "198.18.1" && { fail "client accepts the pods: $out"; return 1; }
	client ip route get "$POD4" 2>/dev/null | grep -q "$WG_CLIENT" &&
		{ fail "the client routes the pods into the tunnel"; return 1; }
	return 0
}

# The loader wrote the zone's entry from the interface's addresses.
test_masquerade_configured() {
	grep -q "\"masquerade to the tailnet\".*\"zone\":\"1\".*\"ipv4\":\"$NODE4\".*\"ipv6\":\"$NODE6\"" \
		"$ENV_DIR/tailplaned.log" || fail "no masquerade entry with $NODE4 and $NODE6 in the log" || return 1
}

test_tcp_v4_v6() {
	http_expect "$P-pod1" "http://$PEER4:8080/" "hello from tailnet" &&
		http_expect "$P-pod1" "http://[$PEER6]:8080/" "hello from tailnet"
}

test_udp_v4_v6() {
	udp_stream "$PEER4:9001" "$P-pod1" && udp_stream "[$PEER6]:9001" "$P-pod1"
}

test_icmp_echo_v4_v6() {
	ping_each "$P-pod1" "$PEER4" "$PEER6"
}

# The client sees the node's tailnet address, a port of the SNAT range,
# never the pod; the node's conntrack shows the masqueraded flows.
test_client_sees_the_node() {
	local peers out
	load_start "$P-pod1" "$PEER4:9000" 3
	for _ in $(seq 100); do
		[ "$(client ss -Htn state established "( sport = :9000 )" | wc -l)" -ge 3 ] && break
		sleep 0.1
	done
	peers=$(client ss -Htn state established "( sport = :9000 )" | awk '{print $4}')
	echo "   client's peers: $(echo "$peers" | tr '\n' ' ')"
	echo "$peers" | grep -Eq "^(\[::ffff:)?${NODE4//./\\.}\]?:6[0-9]+$" ||
		fail "client peers: $peers" || return 1
	echo "$peers" | grep -q "198\.18\.1\." && { fail "the client saw the pod's address"; return 1; }
	out=$(tpctl -j conntrack list)
	echo "$out" | tr '{' '\n' | grep "\"src\":\"$POD4\"" | grep -q "\"snat_addr\":\"$NODE4\"" ||
		fail "no v4 flow with snat_addr $NODE4: $out" || return 1
	echo "$out" | grep -q '"flags":"snat,egress,masq"' || fail "flags do not say masq" || return 1
	pod curl -s -m 3 "http://[$PEER6]:8080/" >/dev/null || fail "v6 request failed" || return 1
	out=$(tpctl -j conntrack list)
	echo "$out" | tr '{' '\n' | grep "\"src\":\"$POD6\"" | grep -q "\"snat_addr\":\"$NODE6\"" ||
		fail "no v6 flow with snat_addr $NODE6: $out" || return 1
	load_stop && load_tcp_ok 3 || return 1
	out=$(tpctl -j stats)
	echo "$out" | grep -q '"masq"' || fail "no masq counter in tpctl stats" || return 1
}

# This host's own traffic, from its tailnet address: untouched.
test_host_own_traffic_untouched() {
	local out
	ns "$P-node" ping -c 2 -i 0.2 -W 1 "$PEER4" >/dev/null || fail "node ping $PEER4" || return 1
	out=$(ns "$P-node" curl -s -m 3 "http://$PEER4:8080/") || fail "node request failed" || return 1
	[ "$out" = "hello from tailnet" ] || fail "node answer '$out'" || return 1
	out=$(tpctl -j conntrack list)
	echo "$out" | tr '{' '\n' | grep "\"src\":\"$NODE4\"" | grep -q 'masq' &&
		{ fail "the node's own flow was masqueraded"; return 1; }
	return 0
}

# Masquerade off (a reload): the pod's packets leave with its own address,
# which the client's WireGuard drops; on again: through.
test_off_then_on() {
	tpd_reload false || fail "reload (off)" || return 1
	pod curl -s -m 2 "http://$PEER4:8080/" >/dev/null && { fail "reached the client without masquerade"; return 1; }
	tpd_reload true || fail "reload (on)" || return 1
	pod curl -s -m 3 "http://$PEER4:8080/" >/dev/null || fail "not through after masquerade on again" || return 1
}

# ---- runner -------------------------------------------------------------------

TESTS=(test_client_accepts_only_the_node test_masquerade_configured test_tcp_v4_v6 test_udp_v4_v6 test_icmp_echo_v4_v6
	test_client_sees_the_node test_host_own_traffic_untouched test_off_then_on)

env_need wireguard-go
env_need_build tpctl tailplaned tools/tp-echo
env_start env_tunnel env_pods env_client_strict
masq_config "$ENV_DIR/cfg.json" true
tpd_up
run_suite
