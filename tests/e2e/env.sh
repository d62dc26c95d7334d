# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# The sandbox of the end-to-end tests and the demo: network namespaces,
# WireGuard (wireguard-go) between a tailnet client and a node, and "pod"
# namespaces behind the node serving HTTP, TCP echo and UDP echo.
#
#   client ($P-client)  --- veth 198.18.255.0/30 (underlay) ---  node ($P-node)
#     $WG_CLIENT 100.64.0.2 fd7a:115c:a1e0::2   <-- WireGuard -->  $WG_NODE 100.64.0.1
#                                                                   br0 198.18.1.254/24
#                                                       pods $P-pod1..3: 198.18.1.1..3
#
# Addresses are the test plan of DESIGN.md; nothing leaves the namespaces.
# Every process started is recorded with its PID and stopped by PID in
# env_down, which also removes namespaces, sockets and pins.  Source this
# file, set P (name prefix), WG_CLIENT, WG_NODE, PIN_ROOT, then env_up.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-$ROOT/build}
ENV_PIDS=()
ENV_NETNS=()
ENV_FILES=()
N_PODS=${N_PODS:-3}

ns() { # ns NAME CMD...: run in a namespace, keeping the host's bpffs
	local n=$1
	shift
	nsenter --net="/run/netns/$n" -- "$@"
}

# env_bg NS LOGFILE CMD...: start in the background; its PID is remembered
# for env_down and left in ENV_LAST_PID.
env_bg() {
	local n=$1 log=$2
	shift 2
	nsenter --net="/run/netns/$n" -- "$@" >"$log" 2>&1 &
	ENV_LAST_PID=$!
	ENV_PIDS+=("$ENV_LAST_PID")
}

env_stop_pid() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

env_netns() {
	ip netns add "$1"
	ENV_NETNS+=("$1")
	ns "$1" ip link set lo up
}

# E2E_WG=kernel: the tunnels are kernel WireGuard interfaces (make vmtest,
# where wireguard.ko loads) and tailplaned syncs them over generic netlink;
# by default wireguard-go, whose UAPI socket it reads.
E2E_WG=${E2E_WG:-wireguard-go}

env_wg() { # env_wg NS IFACE: a WireGuard interface (wireguard-go: waits for its UAPI socket)
	local n=$1 ifc=$2 i
	if [ "$E2E_WG" = kernel ]; then
		ns "$n" ip link add "$ifc" type wireguard
		return
	fi
	env_bg "$n" "$ENV_DIR/wg-$ifc.log" wireguard-go -f "$ifc"
	ENV_FILES+=("/var/run/wireguard/$ifc.sock")
	for i in $(seq 100); do
		[ -S "/var/run/wireguard/$ifc.sock" ] && ns "$n" ip link show "$ifc" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "env: wireguard-go $ifc did not come up" >&2
	return 1
}

env_underlay() {
	ip link add "$P-c" type veth peer name "$P-n"
	ip link set "$P-c" netns "$P-client"
	ip link set "$P-n" netns "$P-node"
	ns "$P-client" ip addr add 198.18.255.2/30 dev "$P-c"
	ns "$P-client" ip link set "$P-c" up
	ns "$P-node" ip addr add 198.18.255.1/30 dev "$P-n"
	ns "$P-node" ip link set "$P-n" up
}

env_wireguard() {
	local kc kn
	kc=$(wg genkey)
	kn=$(wg genkey)
	CLIENT_PUB=$(echo "$kc" | wg pubkey)
	NODE_PUB=$(echo "$kn" | wg pubkey)
	echo "$kc" >"$ENV_DIR/client.key"
	echo "$kn" >"$ENV_DIR/node.key"
	env_wg "$P-client" "$WG_CLIENT"
	env_wg "$P-node" "$WG_NODE"
	ns "$P-client" wg set "$WG_CLIENT" private-key "$ENV_DIR/client.key" listen-port 51820 \
		peer "$NODE_PUB" endpoint 198.18.255.1:51821 \
		allowed-ips 100.64.0.1/32,198.18.1.0/24,198.19.0.0/16,fd7a:115c:a1e0::1/128,fd00:198:18:1::/64,fd00:198:19::/64
	ns "$P-node" wg set "$WG_NODE" private-key "$ENV_DIR/node.key" listen-port 51821 \
		peer "$CLIENT_PUB" endpoint 198.18.255.2:51820 \
		allowed-ips 100.64.0.2/32,fd7a:115c:a1e0::2/128
	ns "$P-client" ip addr add 100.64.0.2/32 dev "$WG_CLIENT"
	ns "$P-client" ip -6 addr add fd7a:115c:a1e0::2/128 dev "$WG_CLIENT" nodad
	ns "$P-client" ip link set "$WG_CLIENT" mtu 1280 up
	for r in 100.64.0.1/32 198.18.1.0/24 198.19.0.0/16; do
		ns "$P-client" ip route add "$r" dev "$WG_CLIENT"
	done
	for r in fd7a:115c:a1e0::1/128 fd00:198:18:1::/64 fd00:198:19::/64; do
		ns "$P-client" ip -6 route add "$r" dev "$WG_CLIENT"
	done
	ns "$P-node" ip addr add 100.64.0.1/32 dev "$WG_NODE"
	ns "$P-node" ip -6 addr add fd7a:115c:a1e0::1/128 dev "$WG_NODE" nodad
	ns "$P-node" ip link set "$WG_NODE" mtu 1280 up
	ns "$P-node" ip route add 100.64.0.2/32 dev "$WG_NODE"
	ns "$P-node" ip -6 route add fd7a:115c:a1e0::2/128 dev "$WG_NODE"
}

# A remote node behind an uplink veth of the node ($P-u, with the node's
# uplink addresses; $P-r in $P-remote) serving tp-echo's HTTP 8080, TCP
# 9000 and UDP 9001 as "remote", with no route back to the tailnet: only
# SNAT (the node's source, restored by tp_from_uplink) brings its replies
# home.
ENV_UPLINK4=198.18.2.1
ENV_UPLINK6=fd00:198:18:2::1
ENV_REMOTE4=198.18.2.2
ENV_REMOTE6=fd00:198:18:2::2

env_remote() {
	env_netns "$P-remote"
	ip link add "$P-u" type veth peer name "$P-r"
	ip link set "$P-u" netns "$P-node"
	ip link set "$P-r" netns "$P-remote"
	ns "$P-node" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ns "$P-node" ip addr add "$ENV_UPLINK4/24" dev "$P-u"
	ns "$P-node" ip -6 addr add "$ENV_UPLINK6/64" dev "$P-u" nodad
	ns "$P-node" ip link set "$P-u" up
	ns "$P-remote" ip addr add "$ENV_REMOTE4/24" dev "$P-r"
	ns "$P-remote" ip -6 addr add "$ENV_REMOTE6/64" dev "$P-r" nodad
	ns "$P-remote" ip link set "$P-r" up
	env_bg "$P-remote" "$ENV_DIR/backend.log" "$BUILD/tools/tp-echo" \
		--http 8080 --tcp 9000 --udp 9001 --name remote
}

env_pods() {
	local i
	ns "$P-node" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ns "$P-node" ip link add br0 type bridge
	ns "$P-node" ip addr add 198.18.1.254/24 dev br0
	ns "$P-node" ip -6 addr add fd00:198:18:1::fe/64 dev br0 nodad
	ns "$P-node" ip link set br0 up
	for i in $(seq "$N_PODS"); do
		env_netns "$P-pod$i"
		ip link add "$P-p$i" type veth peer name "$P-b$i"
		ip link set "$P-p$i" netns "$P-pod$i"
		ip link set "$P-b$i" netns "$P-node"
		ns "$P-pod$i" ip link set "$P-p$i" name eth0
		ns "$P-pod$i" ip addr add "198.18.1.$i/24" dev eth0
		ns "$P-pod$i" ip -6 addr add "fd00:198:18:1::$i/64" dev eth0 nodad
		ns "$P-pod$i" ip link set eth0 up
		ns "$P-pod$i" ip route add default via 198.18.1.254
		ns "$P-pod$i" ip -6 route add default via fd00:198:18:1::fe
		ns "$P-node" ip link set "$P-b$i" master br0 up
		env_bg "$P-pod$i" "$ENV_DIR/pod$i.log" "$BUILD/tools/tp-echo" \
			--http 8080 --tcp 9000 --udp 9001 --name "pod$i"
	done
}

# env_up: the whole sandbox.  Needs P, WG_CLIENT, WG_NODE.
env_up() {
	ENV_DIR=$(mktemp -d "/tmp/$P.XXXXXX")
	ENV_FILES+=("$ENV_DIR")
	local s
	for s in "$WG_CLIENT" "$WG_NODE"; do
		[ "$E2E_WG" = kernel ] && break
		if [ -e "/var/run/wireguard/$s.sock" ]; then
			echo "env: /var/run/wireguard/$s.sock exists: another $s is running" >&2
			return 1
		fi
	done
	env_netns "$P-client"
	env_netns "$P-node"
	env_underlay
	env_wireguard
	env_pods
}

# env_config FILE [DEFAULT_POLICY]: a tailplaned configuration for the
# sandbox; ENV_EXTRA_IFACES (interface objects, each followed by a comma)
# and ENV_EXTRA_TOP (top-level members, each followed by a comma) add to it.
env_config() {
	local f=$1 dflt=${2:-deny}
	cat >"$f" <<JSON
{
  "pin_root": "$PIN_ROOT",
  "default_policy": "$dflt",
  "interfaces": [ ${ENV_EXTRA_IFACES:-}
    { "name": "$WG_NODE", "kind": "tailnet", "zone": 1, "peers": "wireguard" }
  ],
  "identities": [
    { "cidr": "198.18.1.0/24", "id": 300, "name": "web" },
    { "cidr": "fd00:198:18:1::/64", "id": 300 },
    { "id": 301, "name": "laptop" }
  ],
  "wireguard_peers": { "$CLIENT_PUB": "laptop" },
  "services": [
    { "frontend": "198.19.0.10:80/tcp",
      "backends": [ { "addr": "198.18.1.1:8080" }, { "addr": "198.18.1.2:8080" },
                    { "addr": "198.18.1.3:8080" } ] },
    { "frontend": "198.19.0.10:9000/tcp",
      "backends": [ { "addr": "198.18.1.1:9000" }, { "addr": "198.18.1.2:9000" } ] },
    { "frontend": "198.19.0.10:53/udp",
      "backends": [ { "addr": "198.18.1.1:9001" }, { "addr": "198.18.1.2:9001" } ] },
    { "frontend": "198.19.0.10/icmp", "backends": [ { "addr": "198.18.1.3" } ] },
    { "frontend": "[fd00:198:19::a]:80/tcp",
      "backends": [ { "addr": "[fd00:198:18:1::1]:8080" }, { "addr": "[fd00:198:18:1::2]:8080" } ] },
    { "frontend": "[fd00:198:19::a]:53/udp",
      "backends": [ { "addr": "[fd00:198:18:1::1]:9001" } ] },
    { "frontend": "[fd00:198:19::a]/icmp", "backends": [ { "addr": "fd00:198:18:1::3" } ] }
  ],
  "policies": [
    { "from": "laptop", "to": "web", "proto": "tcp", "port": "8080", "verdict": "allow" },
    { "from": "laptop", "to": "web", "proto": "tcp", "port": "9000", "verdict": "allow" },
    { "from": "laptop", "to": "web", "proto": "udp", "port": "9001", "verdict": "audit" },
    { "from": "laptop", "to": "web", "proto": "icmp", "verdict": "allow" },
    { "from": "laptop", "to": "web", "proto": "icmpv6", "verdict": "allow" }
  ],
  ${ENV_EXTRA_TOP:-}
  "conntrack": { "gc_interval": 5 },
  "sync_interval": 1
}
JSON
}

env_down() {
	local pid n f
	for pid in "${ENV_PIDS[@]}"; do
		env_stop_pid "$pid"
	done
	ENV_PIDS=()
	if [ -n "${PIN_ROOT:-}" ] && [ -d "$PIN_ROOT" ]; then
		"$BUILD/tailplaned" --pin-root "$PIN_ROOT" --detach --purge >/dev/null 2>&1 ||
			rm -rf "$PIN_ROOT"
	fi
	for n in "${ENV_NETNS[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	ENV_NETNS=()
	for f in "${ENV_FILES[@]}"; do
		rm -rf "$f"
	done
	ENV_FILES=()
}

# tpd_start [BINARY]: tailplaned (default $BUILD/tailplaned) in $P-node with
# $ENV_DIR/cfg.json, logging to $ENV_DIR/tailplaned.log (env_bg starts it
# afresh); waits up to E2E_START_SECS (10) seconds for it to say "running",
# and prints the log when it does not.
# shellcheck disable=SC2120 # BINARY is optional
tpd_start() {
	local bin=${1:-$BUILD/tailplaned} deadline=$((SECONDS + ${E2E_START_SECS:-10}))
	env_bg "$P-node" "$ENV_DIR/tailplaned.log" "$bin" --config "$ENV_DIR/cfg.json"
	TPD_PID=$ENV_LAST_PID
	while [ "$SECONDS" -lt "$deadline" ]; do
		grep -q '"running"' "$ENV_DIR/tailplaned.log" 2>/dev/null && return 0
		kill -0 "$TPD_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$ENV_DIR/tailplaned.log"
	return 1
}

# tpd_stop [SIGNAL]: stop the tailplaned tpd_start started (SIGTERM by default).
# shellcheck disable=SC2120 # SIGNAL is optional
tpd_stop() {
	[ -n "$TPD_PID" ] || return 0
	kill "-${1:-TERM}" "$TPD_PID" 2>/dev/null
	wait "$TPD_PID" 2>/dev/null
	TPD_PID=
}

# udp_stream TARGET [NS]: 100 datagrams a second for a second from NS
# (default $P-client) to TARGET's UDP echo, all sent and all echoed
# (fail is runner.sh's).
udp_stream() {
	local out
	out=$(ns "${2:-$P-client}" "$BUILD/tools/tp-load" --udp "$1" --rate 100 --duration 1) ||
		fail "tp-load failed" || return 1
	echo "   $1: $out"
	echo "$out" | grep -q '"udp_sent":100,' || fail "not 100 sent" || return 1
	echo "$out" | grep -q '"udp_lost":0}' || fail "UDP loss" || return 1
}
