#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End-to-end test of cross-tailnet flows: two wireguard-go tailnets meet
# in the node's namespace.  A client of tailnet A (zone 1) reaches a
# device of tailnet B (zone 2, "masquerade": true) directly and through a
# cross-tailnet service (a VIP whose backend is B's device), with real
# TCP, UDP and ICMP echo, v4 and v6; a pod behind the node reaches B's
# device through an egress service (a VIP routed into $WG_NODE2).
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
# Names are this suite's own (tpxt*, txt*).  Prints cmocka-style results
# so tests/run.sh counts them.  Needs root, wireguard-go and the build.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
P=tpxt$$
# shellcheck disable=SC2034 # env.sh's env_wireguard uses it
WG_CLIENT=txtc$$
WG_NODE=txtn$$
WG_NODE2=txtm$$
WG_PEERB=txtb$$
PIN_ROOT=/sys/fs/bpf/tp-xtailnet-$$
# shellcheck disable=SC2034 # env.sh's env_pods uses it
N_PODS=1
# shellcheck source=env.sh
. "$ROOT/tests/e2e/env.sh"
# shellcheck source=runner.sh
. "$ROOT/tests/e2e/runner.sh"
TPD_PID=
NODEB4=100.100.0.1
NODEB6=fd7a:115c:a1e0:2::1
PEERB4=100.100.0.2
PEERB6=fd7a:115c:a1e0:2::2
VIP4=198.19.0.20
VIP6=fd00:198:19::20
VIPE4=198.19.0.30 # the egress service's VIP, routed into $WG_NODE2

fail() { echo "   FAIL: $*"; return 1; }
tpctl() { ns "$P-node" "$BUILD/tpctl" --pin-root "$PIN_ROOT" "$@"; }
client() { ns "$P-client" "$@"; }
peerb() { ns "$P-peerb" "$@"; }
pod() { ns "$P-pod1" "$@"; }

tpd_start() {
	: >"$ENV_DIR/tailplaned.log"
	env_bg "$P-node" "$ENV_DIR/tailplaned.log" "$BUILD/tailplaned" --config "$ENV_DIR/cfg.json"
	TPD_PID=$ENV_LAST_PID
	for _ in $(seq 200); do
		grep -q '"running"' "$ENV_DIR/tailplaned.log" 2>/dev/null && return 0
		kill -0 "$TPD_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$ENV_DIR/tailplaned.log"
	return 1
}

tpd_stop() {
	[ -n "$TPD_PID" ] || return 0
	kill -TERM "$TPD_PID" 2>/dev/null
	wait "$TPD_PID" 2>/dev/null
	TPD_PID=
}

# Tailnet B: the peer's namespace, its own underlay veth to the node, and a
# WireGuard pair whose peer accepts only the node's B addresses.
env_tailnet_b() {
	local kb kn
	env_netns "$P-peerb"
	ip link add "$P-b" type veth peer name "$P-m"
	ip link set "$P-b" netns "$P-peerb"
	ip link set "$P-m" netns "$P-node"
	peerb ip addr add 198.18.254.2/30 dev "$P-b"
	peerb ip link set "$P-b" up
	ns "$P-node" ip addr add 198.18.254.1/30 dev "$P-m"
	ns "$P-node" ip link set "$P-m" up
	kb=$(wg genkey)
	kn=$(wg genkey)
	PEERB_PUB=$(echo "$kb" | wg pubkey)
	NODEB_PUB=$(echo "$kn" | wg pubkey)
	echo "$kb" >"$ENV_DIR/peerb.key"
	echo "$kn" >"$ENV_DIR/nodeb.key"
	env_wg "$P-peerb" "$WG_PEERB"
	env_wg "$P-node" "$WG_NODE2"
	peerb wg set "$WG_PEERB" private-key "$ENV_DIR/peerb.key" listen-port 51830 \
		peer "$NODEB_PUB" endpoint 198.18.254.1:51831 \
		allowed-ips "$NODEB4/32,$NODEB6/128"
	ns "$P-node" wg set "$WG_NODE2" private-key "$ENV_DIR/nodeb.key" listen-port 51831 \
		peer "$PEERB_PUB" endpoint 198.18.254.2:51830 \
		allowed-ips "$PEERB4/32,$PEERB6/128"
	peerb ip addr add "$PEERB4/32" dev "$WG_PEERB"
	peerb ip -6 addr add "$PEERB6/128" dev "$WG_PEERB" nodad
	peerb ip link set "$WG_PEERB" mtu 1420 up
	peerb ip route add "$NODEB4/32" dev "$WG_PEERB"
	peerb ip -6 route add "$NODEB6/128" dev "$WG_PEERB"
	ns "$P-node" ip addr add "$NODEB4/32" dev "$WG_NODE2"
	ns "$P-node" ip -6 addr add "$NODEB6/128" dev "$WG_NODE2" nodad
	ns "$P-node" ip link set "$WG_NODE2" mtu 1420 up
	ns "$P-node" ip route add "$PEERB4/32" dev "$WG_NODE2"
	ns "$P-node" ip -6 route add "$PEERB6/128" dev "$WG_NODE2"
	# the egress service's VIP: the operator's route (datapath.md)
	ns "$P-node" ip route add "$VIPE4/32" dev "$WG_NODE2"
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
	cat >"$1" <<JSON
{
  "pin_root": "$PIN_ROOT",
  "default_policy": "deny",
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
  "conntrack": { "gc_interval": 5 },
  "sync_interval": 1
}
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
	local out
	out=$(client curl -s -m 3 "http://$PEERB4:8080/") || fail "v4 request failed" || return 1
	[ "$out" = "hello from tailnet-b" ] || fail "v4 answer '$out'" || return 1
	out=$(client curl -s -m 3 "http://[$PEERB6]:8080/") || fail "v6 request failed" || return 1
	[ "$out" = "hello from tailnet-b" ] || fail "v6 answer '$out'" || return 1
	udp_stream "$PEERB4:9001" && udp_stream "[$PEERB6]:9001" || return 1
	client ping -c 3 -i 0.2 -W 1 "$PEERB4" >/dev/null || fail "ping $PEERB4" || return 1
	client ping -6 -c 3 -i 0.2 -W 1 "$PEERB6" >/dev/null || fail "ping $PEERB6" || return 1
}

udp_stream() { # udp_stream TARGET: 100 datagrams from the client, all echoed
	local out
	out=$(client "$BUILD/tools/tp-load" --udp "$1" --rate 100 --duration 1) ||
		fail "tp-load failed" || return 1
	echo "   $1: $out"
	echo "$out" | grep -q '"udp_sent":100,' || fail "not 100 sent" || return 1
	echo "$out" | grep -q '"udp_lost":0}' || fail "UDP loss" || return 1
}

# The cross-tailnet service: the VIP reached from A, served by B's device.
test_service_tcp_udp_icmp() {
	local out
	out=$(client curl -s -m 3 "http://$VIP4/") || fail "v4 VIP request failed" || return 1
	[ "$out" = "hello from tailnet-b" ] || fail "v4 VIP answer '$out'" || return 1
	out=$(client curl -s -m 3 "http://[$VIP6]/") || fail "v6 VIP request failed" || return 1
	[ "$out" = "hello from tailnet-b" ] || fail "v6 VIP answer '$out'" || return 1
	udp_stream "$VIP4:53" && udp_stream "[$VIP6]:53" || return 1
	client ping -c 3 -i 0.2 -W 1 "$VIP4" >/dev/null || fail "ping $VIP4" || return 1
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

# The egress service: the pod reaches B's device by the VIP, B sees the
# node's B address, the pod's answers come from the VIP.
test_egress_service() {
	local out
	out=$(pod curl -s -m 3 "http://$VIPE4/") || fail "egress VIP request failed" || return 1
	[ "$out" = "hello from tailnet-b" ] || fail "egress VIP answer '$out'" || return 1
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

# ---- runner -------------------------------------------------------------------

on_test_failed() {
	tail -"${E2E_LOG_LINES:-5}" "$ENV_DIR/tailplaned.log" 2>/dev/null | sed 's/^/   log: /'
}

TESTS=(test_peer_accepts_only_the_node test_crossing_tcp_udp_icmp test_service_tcp_udp_icmp
	test_peer_sees_the_node test_egress_service test_crossing_needs_a_rule)

# E2E_ONLY="test_a test_b" runs just those (debugging)
[ -n "${E2E_ONLY:-}" ] && read -r -a TESTS <<<"$E2E_ONLY"

skip_all() {
	local t
	echo "[==========] ${#TESTS[@]} test(s) run."
	echo "[  PASSED  ] 0 test(s)."
	echo "[  SKIPPED ] ${#TESTS[@]} test(s), listed below:"
	for t in "${TESTS[@]}"; do echo "[  SKIPPED ] $t: $1"; done
	exit 0
}

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces, BPF)"
command -v wireguard-go >/dev/null || skip_all "wireguard-go is not installed"
[ -x "$BUILD/tpctl" ] && [ -x "$BUILD/tailplaned" ] && [ -x "$BUILD/tools/tp-echo" ] ||
	skip_all "build first (make all)"

trap 'tpd_stop; env_down' EXIT
trap 'exit 130' INT TERM
ENV_DIR=$(mktemp -d "/tmp/$P.XXXXXX")
ENV_FILES+=("$ENV_DIR")
{
	env_netns "$P-client" && env_netns "$P-node" && env_underlay && env_wireguard &&
		env_pods && env_tailnet_b && env_client_routes
} >"$ENV_DIR/setup.log" 2>&1 || {
	cat "$ENV_DIR/setup.log"
	echo "[  FAILED  ] 1 test(s), listed below:"
	exit 1
}
xt_config "$ENV_DIR/cfg.json"
tpd_start || { echo "tailplaned did not start"; exit 1; }
sleep 1.5 # first peer sync

echo "[==========] Running ${#TESTS[@]} test(s)."
for t in "${TESTS[@]}"; do
	run_test "$t"
done
summary
[ "$FAILED" = 0 ]
