#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End-to-end test of cross-tailnet flows: two wireguard-go tailnets meet
# in the node's namespace.  A client of tailnet A (zone 1) reaches a
# device of tailnet B (zone 2, "masquerade": true) directly and through a
# cross-tailnet service (a VIP whose backend is B's device), with real
# TCP, UDP and ICMP echo, v4 and v6; a pod behind the node reaches B's
# device through an egress service (a VIP the loader routes into $WG_NODE2).
#
#   client ($P-client)  <-- WireGuard A -->  node ($P-node)  <-- WireGuard B -->  peer ($P-peerb)
#   $WG_CLIENT 100.64.0.2                    $WG_NODE 100.64.0.1                  $WG_PEERB 100.100.0.2
#   fd7a:115c:a1e0::2                        $WG_NODE2 100.100.0.1                fd7a:115c:a1e0:2::2
#                                            fd7a:115c:a1e0:2::1                  tp-echo (B's device)
#
# B's peer accepts only the node's B addresses from it (allowed-ips
# 100.100.0.1/32, fd7a:115c:a1e0:2::1/128) and routes nothing to tailnet
# A: the client's packets get through only masqueraded to the node's B
# address, and the answers reach the client only when tp_from_tailnet of
# $WG_NODE2 restores them.  Zone crossings need a rule naming both zones'
# identities: laptop (zone 1) -> devb (zone 2).
# Names are this suite's own (tpxt*).  Prints cmocka-style results
# so tests/run.sh counts them.  Needs root, wireguard-go and the build.
set -uo pipefail

P=tpxt$$
WG_NODE2=${P}m
WG_PEERB=${P}b
# shellcheck disable=SC2034 # env.sh's env_pods uses it
N_PODS=1
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
NODEB4=100.100.0.1
NODEB6=fd7a:115c:a1e0:2::1
PEERB4=100.100.0.2
PEERB6=fd7a:115c:a1e0:2::2
VIP4=198.19.0.20
VIP6=fd00:198:19::20
VIPE4=198.19.0.30 # the egress service's VIP, routed into $WG_NODE2

peerb() { ns "$P-peerb" "$@"; }

# Tailnet B: the peer's namespace, its own underlay veth to the node, and a
# WireGuard pair whose peer accepts only the node's B addresses.
env_tailnet_b() {
	env_netns "$P-peerb"
	env_veth "$P-peerb" "$P-b" 198.18.254.2/30 "$P-node" "$P-m" 198.18.254.1/30 || return 1
	PEERB_PUB=$(env_wg_key "$WG_PEERB") && NODEB_PUB=$(env_wg_key "$WG_NODE2") || return 1
	env_wg_end "$P-peerb" "$WG_PEERB" 51830 "$NODEB_PUB" 198.18.254.1:51831 1420 \
		"$PEERB4/32,$PEERB6/128" "$NODEB4/32,$NODEB6/128" &&
		env_wg_end "$P-node" "$WG_NODE2" 51831 "$PEERB_PUB" 198.18.254.2:51830 1420 \
			"$NODEB4/32,$NODEB6/128" "$PEERB4/32,$PEERB6/128" || return 1
	# no route for the egress service's VIP: the loader adds it (datapath.md)
	# a service's replies come in on B's interface from the VIP (datapath.md)
	ns "$P-node" sysctl -qw "net.ipv4.conf.$WG_NODE2.rp_filter=0" net.ipv4.conf.all.rp_filter=0
	env_bg "$P-peerb" "$ENV_DIR/peerb-echo.log" "$BUILD/tools/tp-echo" \
		--http 8080 --tcp 9000 --udp 9001 --name tailnet-b
}

# The client of tailnet A routes B's addresses and the VIPs into its tunnel.
env_client_routes() {
	client wg set "$WG_CLIENT" peer "$NODE_PUB" allowed-ips \
		100.64.0.1/32,100.100.0.0/16,198.19.0.0/16,fd7a:115c:a1e0::1/128,fd7a:115c:a1e0:2::/64,fd00:198:19::/64
	client ip route add 100.100.0.0/16 dev "$WG_CLIENT"
	client ip -6 route add fd7a:115c:a1e0:2::/64 dev "$WG_CLIENT"
}

xt_config() { # xt_config FILE
	env_config_doc "$1" deny <<JSON
  "interfaces": [
    { "name": "$WG_NODE", "kind": "tailnet", "zone": 1, "peers": "wireguard" },
    { "name": "$WG_NODE2", "kind": "tailnet", "zone": 2, "peers": "wireguard",
      "masquerade": true }
  ],
  "identities": [
    { "cidr": "198.18.1.0/24", "id": 300, "name": "web" },
    { "id": 301, "name": "laptop" },
    { "id": 302, "name": "devb" }
  ],
  "wireguard_peers": { "$CLIENT_PUB": "laptop", "$PEERB_PUB": "devb" },
  "services": [
    { "frontend": "$VIP4:80/tcp", "backends": [ { "addr": "$PEERB4:8080" } ] },
    { "frontend": "$VIP4:53/udp", "backends": [ { "addr": "$PEERB4:9001" } ] },
    { "frontend": "$VIP4/icmp", "backends": [ { "addr": "$PEERB4" } ] },
    { "frontend": "[$VIP6]:80/tcp", "backends": [ { "addr": "[$PEERB6]:8080" } ] },
    { "frontend": "[$VIP6]:53/udp", "backends": [ { "addr": "[$PEERB6]:9001" } ] },
    { "frontend": "$VIPE4:80/tcp", "backends": [ { "addr": "$PEERB4:8080" } ] },
    { "frontend": "$VIPE4:53/udp", "backends": [ { "addr": "$PEERB4:9001" } ] }
  ],
  "policies": [
    { "from": "laptop", "to": "devb", "proto": "tcp", "port": "8080", "verdict": "allow" },
    { "from": "laptop", "to": "devb", "proto": "tcp", "port": "9000", "verdict": "allow" },
    { "from": "laptop", "to": "devb", "proto": "udp", "port": "9001", "verdict": "allow" },
    { "from": "laptop", "to": "devb", "proto": "icmp", "verdict": "allow" },
    { "from": "laptop", "to": "devb", "proto": "icmpv6", "verdict": "allow" },
    { "from": "web", "to": "devb", "proto": "tcp", "port": "8080", "verdict": "allow" },
    { "from": "web", "to": "devb", "proto": "udp", "port": "9001", "verdict": "allow" }
  ],
JSON
}

# ---- tests -------------------------------------------------------------------

# The premise: B's peer accepts only the node's B addresses, routes nothing to A.
test_peer_accepts_only_the_node() {
	local out
	out=$(peerb wg show "$WG_PEERB" allowed-ips)
	echo "$out" | grep -q "100.64" && { fail "peer B accepts tailnet A: $out"; return 1; }
	peerb ip route get 100.64.0.2 2>/dev/null | grep -q "$WG_PEERB" &&
		{ fail "peer B routes tailnet A into its tunnel"; return 1; }
	return 0
}

# A crossing straight to B's device: TCP, UDP, ICMP, v4 and v6.
test_crossing_tcp_udp_icmp() {
	http_expect "$P-client" "http://$PEERB4:8080/" "hello from tailnet-b" &&
		http_expect "$P-client" "http://[$PEERB6]:8080/" "hello from tailnet-b" &&
		udp_stream "$PEERB4:9001" && udp_stream "[$PEERB6]:9001" &&
		ping_each "$P-client" "$PEERB4" "$PEERB6"
}

# The cross-tailnet service: the VIP reached from A, served by B's device.
test_service_tcp_udp_icmp() {
	http_expect "$P-client" "http://$VIP4/" "hello from tailnet-b" &&
		http_expect "$P-client" "http://[$VIP6]/" "hello from tailnet-b" &&
		udp_stream "$VIP4:53" && udp_stream "[$VIP6]:53" &&
		ping_each "$P-client" "$VIP4"
}

# B's device sees the node's B address and a port of the SNAT range; the
# node's conntrack shows masqueraded flows of the client, two entries each.
test_peer_sees_the_node() {
	local peers out
	client curl -s -m 3 "http://$VIP4/" >/dev/null || fail "VIP request failed" || return 1
	client curl -s -m 3 "http://$PEERB4:8080/" >/dev/null || fail "request failed" || return 1
	peers=$(peerb ss -Htn state time-wait "( sport = :8080 )" | awk '{print $4}')
	echo "   peer B's peers: $(echo "$peers" | tr '\n' ' ')"
	echo "$peers" | grep -Eq "^(\[::ffff:)?${NODEB4//./\\.}\]?:6[0-9]+$" ||
		fail "peer B's peers: $peers" || return 1
	echo "$peers" | grep -q "100\.64\." && { fail "peer B saw tailnet A's address"; return 1; }
	out=$(tpctl -j conntrack list)
	echo "$out" | grep -q '"flags":"[^"]*masq' || fail "no masq flow: $out" || return 1
	out=$(tpctl -j stats)
	echo "$out" | grep -q '"masq"' || fail "no masq counter in tpctl stats" || return 1
	echo "$out" | grep -q '"revmasq"' || fail "no revmasq counter in tpctl stats" || return 1
}

# The egress service: the loader routed its VIP into $WG_NODE2 (its own
# protocol, 116); the pod reaches B's device by the VIP, B sees the node's
# B address, the pod's answers come from the VIP.
test_egress_service() {
	local out
	out=$(egress_route)
	echo "   route: $out"
	echo "$out" | grep -q "dev $WG_NODE2 proto 116 " ||
		fail "no loader route for $VIPE4 into $WG_NODE2: $out" || return 1
	http_expect "$P-pod1" "http://$VIPE4/" "hello from tailnet-b" || return 1
	out=$(pod "$BUILD/tools/tp-load" --udp "$VIPE4:53" --rate 100 --duration 1) ||
		fail "tp-load failed" || return 1
	echo "   $VIPE4:53: $out"
	echo "$out" | grep -q '"udp_lost":0}' || fail "UDP loss" || return 1
	out=$(tpctl -j conntrack list)
	echo "$out" | tr '{' '\n' | grep '"src":"198.18.1.1"' | grep -q 'masq' ||
		fail "no masqueraded flow of the pod: $out" || return 1
}

policy_drops() { # the drop_policy and drop_zone counters, summed
	tpctl -j stats | grep -oE '"drop_(policy|zone)":[0-9]+' | grep -oE '[0-9]+$' |
		awk '{ n += $1 } END { print n + 0 }'
}

# No rule names laptop -> devb for UDP 9002: every datagram of the
# crossing is dropped as a policy (or zone) decision.
test_crossing_needs_a_rule() {
	local before after
	before=$(policy_drops)
	client "$BUILD/tools/tp-load" --udp "$PEERB4:9002" --rate 10 --duration 1 >/dev/null 2>&1
	after=$(policy_drops)
	echo "   policy and zone drops: $before -> $after"
	[ "$after" -ge $((before + 10)) ] || fail "not 10 drops more" || return 1
}

egress_route() { ns "$P-node" ip -N route show table main exact "$VIPE4/32"; }

# wait_route yes|no: the egress VIP's route there, or gone (3 s at most).
wait_route() {
	local _
	for _ in $(seq 30); do
		if [ "$1" = yes ]; then egress_route | grep -q "proto 116" && return 0
		else [ -z "$(egress_route)" ] && return 0; fi
		sleep 0.1
	done
	return 1
}

# "egress_routes": false by SIGHUP removes the loader's route; true puts
# it back.
test_egress_routes_switch() {
	local cfg="$ENV_DIR/cfg.json"
	sed -i 's/^  "sync_interval": 1$/  "egress_routes": false,\n&/' "$cfg"
	grep -q '"egress_routes": false' "$cfg" || fail "cannot edit $cfg" || return 1
	kill -HUP "$TPD_PID"
	wait_route no || fail "route left with egress_routes false: $(egress_route)" || return 1
	sed -i '/"egress_routes": false,/d' "$cfg"
	kill -HUP "$TPD_PID"
	wait_route yes || fail "no route with egress_routes on again" || return 1
}

# A restart keeps the egress VIP's route and adopts it: not removed, not
# added again, the same route after the new loader's first sync.
test_restart_keeps_egress_route() {
	local before after
	before=$(egress_route)
	tpd_stop
	[ "$(egress_route)" = "$before" ] || fail "route changed with the loader gone" || return 1
	tpd_up
	after=$(egress_route)
	echo "   route: $before -> $after"
	[ -n "$after" ] && [ "$after" = "$before" ] || fail "route changed: $after" || return 1
	grep -q '"msg":"egress route \(added\|removed\|moved\)"' "$ENV_DIR/tailplaned.log" &&
		{ fail "the restart changed egress routes"; return 1; }
	return 0
}

# --detach removes the loader's route.
test_detach_removes_egress_route() {
	tpd_stop
	ns "$P-node" "$BUILD/tailplaned" --config "$ENV_DIR/cfg.json" --detach >/dev/null 2>&1 ||
		fail "--detach failed" || return 1
	[ -z "$(egress_route)" ] || fail "route left after --detach: $(egress_route)" || return 1
}

# ---- runner -------------------------------------------------------------------

TESTS=(test_peer_accepts_only_the_node test_crossing_tcp_udp_icmp test_service_tcp_udp_icmp
	test_peer_sees_the_node test_egress_service test_crossing_needs_a_rule
	test_egress_routes_switch test_restart_keeps_egress_route test_detach_removes_egress_route)

env_need wireguard-go
env_need_build tpctl tailplaned tools/tp-echo
env_start env_tunnel env_pods env_tailnet_b env_client_routes
xt_config "$ENV_DIR/cfg.json"
tpd_up
run_suite
