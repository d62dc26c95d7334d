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
# env_down, which also removes namespaces, sockets and pins.  Set P (the
# name prefix, the suite's own so suites run side by side) and source this
# file; WG_CLIENT, WG_NODE and PIN_ROOT default to names made from P.  It
# sources runner.sh too, so a suite sources only this file.  A suite
# checks what it needs (env_need, env_need_build), builds its sandbox
# (env_start STEP...), starts the loader (tpd_start, or tpd_up) and ends
# with run_suite.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${BUILD:-$ROOT/build}
WG_CLIENT=${WG_CLIENT:-${P}c}
WG_NODE=${WG_NODE:-${P}n}
PIN_ROOT=${PIN_ROOT:-/sys/fs/bpf/$P}
ENV_PIDS=()
ENV_NETNS=()
ENV_FILES=()
N_PODS=${N_PODS:-3}
TPD_PID=
# shellcheck source=runner.sh
. "$(dirname "${BASH_SOURCE[0]}")/runner.sh"

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
	# truncated here, not by the background shell: that one may open it
	# after the caller's first look, which would read the last run's log
	: >"$log"
	nsenter --net="/run/netns/$n" -- "$@" >>"$log" 2>&1 &
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

# env_addrs NS IFACE ADDRS: the addresses ADDRS (comma-separated, with
# their prefix lengths; v6 without duplicate address detection) on IFACE
# in NS, and IFACE up.
env_addrs() {
	local n=$1 ifc=$2 a
	for a in ${3//,/ }; do
		case $a in
		*:*) ns "$n" ip -6 addr add "$a" dev "$ifc" nodad || return 1 ;;
		*) ns "$n" ip addr add "$a" dev "$ifc" || return 1 ;;
		esac
	done
	ns "$n" ip link set "$ifc" up
}

# env_veth NS1 IFACE1 ADDRS1 NS2 IFACE2 ADDRS2: a veth pair between two
# namespaces, each end with its addresses (env_addrs).
env_veth() {
	ip link add "$2" type veth peer name "$5" || return 1
	ip link set "$2" netns "$1" && ip link set "$5" netns "$4" || return 1
	env_addrs "$1" "$2" "$3" && env_addrs "$4" "$5" "$6"
}

env_underlay() {
	env_veth "$P-client" "$P-c" 198.18.255.2/30 "$P-node" "$P-n" 198.18.255.1/30
}

# env_wg_key IFACE: a new private key for IFACE in $ENV_DIR/IFACE.key;
# prints its public key.
env_wg_key() {
	local k
	k=$(wg genkey) || return 1
	echo "$k" >"$ENV_DIR/$1.key"
	echo "$k" | wg pubkey
}

# env_wg_end NS IFACE PORT PEER_PUB ENDPOINT MTU ADDRS ALLOWED: one end of
# a tunnel: the WireGuard interface IFACE in NS (env_wg) with the key
# env_wg_key made, listening on PORT, with one peer PEER_PUB at ENDPOINT
# (empty: none, it is learnt) whose allowed IPs are ALLOWED; its own
# addresses ADDRS (env_addrs), MTU (empty: the default), and a route into
# the tunnel for each of ALLOWED.  ENV_LAST_PID is its wireguard-go.
env_wg_end() {
	local n=$1 ifc=$2 port=$3 pub=$4 endpoint=$5 mtu=$6 addrs=$7 allowed=$8 r
	env_wg "$n" "$ifc" || return 1
	ns "$n" wg set "$ifc" private-key "$ENV_DIR/$ifc.key" listen-port "$port" \
		peer "$pub" ${endpoint:+endpoint "$endpoint"} allowed-ips "$allowed" || return 1
	[ -z "$mtu" ] || ns "$n" ip link set "$ifc" mtu "$mtu" || return 1
	env_addrs "$n" "$ifc" "$addrs" || return 1
	for r in ${allowed//,/ }; do
		ns "$n" ip route add "$r" dev "$ifc" || return 1
	done
}

# The client sends the node's tailnet addresses, the pods and the service
# VIPs into the tunnel; the node sends the client's tailnet addresses.
ENV_CLIENT_ALLOWED=100.64.0.1/32,198.18.1.0/24,198.19.0.0/16,fd7a:115c:a1e0::1/128,fd00:198:18:1::/64,fd00:198:19::/64

env_wireguard() {
	CLIENT_PUB=$(env_wg_key "$WG_CLIENT") && NODE_PUB=$(env_wg_key "$WG_NODE") || return 1
	env_wg_end "$P-client" "$WG_CLIENT" 51820 "$NODE_PUB" 198.18.255.1:51821 1280 \
		100.64.0.2/32,fd7a:115c:a1e0::2/128 "$ENV_CLIENT_ALLOWED" &&
		env_wg_end "$P-node" "$WG_NODE" 51821 "$CLIENT_PUB" 198.18.255.2:51820 1280 \
			100.64.0.1/32,fd7a:115c:a1e0::1/128 100.64.0.2/32,fd7a:115c:a1e0::2/128
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
	ns "$P-node" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	env_veth "$P-node" "$P-u" "$ENV_UPLINK4/24,$ENV_UPLINK6/64" \
		"$P-remote" "$P-r" "$ENV_REMOTE4/24,$ENV_REMOTE6/64" || return 1
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

# env_dir: $ENV_DIR, the sandbox's files (keys, logs, configuration),
# made once and removed by env_down.
env_dir() {
	[ -z "${ENV_DIR:-}" ] || return 0
	ENV_DIR=$(mktemp -d "/tmp/$P.XXXXXX")
	ENV_FILES+=("$ENV_DIR")
}

# env_tunnel: the client and the node joined by WireGuard over the underlay.
env_tunnel() {
	local s
	env_dir
	for s in "$WG_CLIENT" "$WG_NODE"; do
		[ "$E2E_WG" = kernel ] && break
		if [ -e "/var/run/wireguard/$s.sock" ]; then
			echo "env: /var/run/wireguard/$s.sock exists: another $s is running" >&2
			return 1
		fi
	done
	env_netns "$P-client" && env_netns "$P-node" && env_underlay && env_wireguard
}

# env_up: the whole sandbox.
env_up() {
	env_tunnel && env_pods
}

# env_need CMD...: skip the whole suite (skip_all) unless it runs as root
# and every CMD is installed.
env_need() {
	local c
	[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces, BPF)"
	for c in "$@"; do
		command -v "$c" >/dev/null || skip_all "$c is not installed"
	done
}

# env_need_build FILE...: skip the whole suite unless the build made each
# FILE (a path below $BUILD).
env_need_build() {
	local f
	for f in "$@"; do
		[ -x "$BUILD/$f" ] || skip_all "build first (make all)"
	done
}

# env_start STEP...: the suite's sandbox: traps that take it down on exit
# (and the loader tpd_start started), $ENV_DIR, then each function STEP in
# order, their output in $ENV_DIR/setup.log.  When a step fails: the log,
# a failed test "setup", and exit 1.
env_start() {
	local step
	trap 'tpd_stop; env_down' EXIT
	trap 'exit 130' INT TERM
	env_dir
	for step in "$@"; do
		"$step" >>"$ENV_DIR/setup.log" 2>&1 && continue
		cat "$ENV_DIR/setup.log"
		echo "[  FAILED  ] 1 test(s), listed below:"
		echo "[  FAILED  ] setup ($step)"
		exit 1
	done
}

# env_config_doc FILE DEFAULT_POLICY: a tailplaned configuration of the
# sandbox's pins with DEFAULT_POLICY, the top-level members on stdin (each
# followed by a comma), and the conntrack GC and sync intervals every
# suite runs with.
env_config_doc() {
	{
		printf '{\n  "pin_root": "%s",\n  "default_policy": "%s",\n' "$PIN_ROOT" "$2"
		cat
		printf '  "conntrack": { "gc_interval": 5 },\n  "sync_interval": 1\n}\n'
	} >"$1"
}

# env_config FILE [DEFAULT_POLICY]: the configuration of the sandbox env_up
# builds; ENV_EXTRA_IFACES (interface objects, each followed by a comma)
# and ENV_EXTRA_TOP (top-level members, each followed by a comma) add to it.
env_config() {
	env_config_doc "$1" "${2:-deny}" <<JSON
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

# tpd_up: tpd_start, or exit 1 saying it did not start; then a wait for
# its first peer sync.
tpd_up() {
	tpd_start || {
		echo "tailplaned did not start"
		exit 1
	}
	sleep 1.5
}

# on_test_failed NAME (runner.sh): the loader's last E2E_LOG_LINES (5)
# lines of log; a suite may define its own after sourcing this file.
on_test_failed() {
	tail -"${E2E_LOG_LINES:-5}" "$ENV_DIR/tailplaned.log" 2>/dev/null | sed 's/^/   log: /'
}

tpctl() { ns "$P-node" "$BUILD/tpctl" --pin-root "$PIN_ROOT" "$@"; }
client() { ns "$P-client" "$@"; }
pod() { ns "$P-pod1" "$@"; }

# http_expect NS URL ANSWER: a request from NS (curl, 3 s) answered with
# exactly ANSWER (fail names the URL).
http_expect() {
	local out
	out=$(ns "$1" curl -s -m 3 "$2") || fail "$2: request failed" || return 1
	[ "$out" = "$3" ] || fail "$2: answer '$out'" || return 1
}

# ping_each NS ADDR...: three echoes from NS to each ADDR (v4 or v6)
# answered (fail names the address).
ping_each() {
	local n=$1 a six
	shift
	for a in "$@"; do
		case $a in *:*) six=-6 ;; *) six= ;; esac
		ns "$n" ping $six -c 3 -i 0.2 -W 1 "$a" >/dev/null || fail "ping $a" || return 1
	done
}

# load_start NS TARGET CONNS [ARG...]: tp-load in NS keeping CONNS TCP
# connections to TARGET busy (ARGs add to its command line) for up to
# 600 s; its counters go to $ENV_DIR/load.json when it stops; LOAD_PID.
load_start() {
	local n=$1 target=$2 conns=$3
	shift 3
	env_bg "$n" "$ENV_DIR/load.json" "$BUILD/tools/tp-load" --tcp "$target" \
		--conns "$conns" --duration 600 "$@"
	LOAD_PID=$ENV_LAST_PID
}

# load_stop: stop load_start's tp-load; LOAD_OUT its counters (printed).
# Fails when it had stopped already.
load_stop() {
	local running=1
	kill -0 "$LOAD_PID" 2>/dev/null || running=0
	kill -TERM "$LOAD_PID" 2>/dev/null
	wait "$LOAD_PID" 2>/dev/null
	LOAD_OUT=$(cat "$ENV_DIR/load.json")
	echo "   $LOAD_OUT"
	[ "$running" = 1 ] || fail "the traffic stopped early"
}

# load_tcp_ok CONNS: LOAD_OUT has CONNS connections, no TCP error, and
# messages that went round.
load_tcp_ok() {
	echo "$LOAD_OUT" | grep -q "\"tcp_conns\":$1," || fail "not $1 connections" || return 1
	echo "$LOAD_OUT" | grep -q '"tcp_errors":0,' || fail "TCP errors" || return 1
	echo "$LOAD_OUT" | grep -q '"tcp_roundtrips":0,' && { fail "no TCP traffic"; return 1; }
	return 0
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
