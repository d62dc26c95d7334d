#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make demo: a tailnet client reaches a ClusterIP service through
# WireGuard, tailplane translating and enforcing policy on the node.
# Everything runs in network namespaces this script creates and removes
# (also on Ctrl-C); KEEP=1 leaves the sandbox up for exploring.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
P=tpdemo
WG_CLIENT=wg0
WG_NODE=tailscale0
PIN_ROOT=/sys/fs/bpf/tailplane-demo
KEEP=${KEEP:-0}
# shellcheck source=../tests/e2e/env.sh
. "$ROOT/tests/e2e/env.sh"

# escape sequences only for a terminal: a log or CI gets plain text
bold="" plain=""
if [ -t 1 ]; then
	bold=$(tput bold 2>/dev/null || true)
	plain=$(tput sgr0 2>/dev/null || true)
fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '   %s\n' "$*"; }
run() { printf '%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }
# tpctl (env.sh's) runs on the node, where the interfaces it names are

REMOTE_VIP=198.19.0.20
STATIC_TN=100.64.0.13

# What the demo adds to the sandbox's configuration (env_config): the
# uplink with SNAT, the remote backend's service and identity, pod3's own
# tailnet address, masquerade on the WireGuard interface, and the rules.
demo_config() {
	python3 - "$1" "$P-u" "$WG_NODE" "$REMOTE_VIP" "$STATIC_TN" <<'PY'
import json, sys
path, uplink, wg, vip, tn = sys.argv[1:]
c = json.load(open(path))
for i in c["interfaces"]:
    if i["name"] == wg:
        i["masquerade"] = True
c["interfaces"].append({"name": uplink, "kind": "uplink"})
c["snat"] = "auto"
c["identities"].append({"cidr": "198.18.2.0/24", "id": 302, "name": "remote"})
c["services"].append({"frontend": vip + ":80/tcp", "backends": [{"addr": "198.18.2.2:8080"}]})
c["static_nat"] = [{"tailnet": tn, "inner": "198.18.1.3"}]
c["policies"] += [
    {"from": "laptop", "to": "remote", "proto": "tcp", "port": "8080", "verdict": "allow"},
    {"from": "web", "to": "laptop", "proto": "tcp", "port": "7070", "verdict": "allow"},
]
json.dump(c, open(path, "w"), indent=2)
PY
}

cleanup() {
	local rc=$?
	if [ "$KEEP" = 1 ] && [ "$rc" = 0 ]; then
		step "Sandbox kept (KEEP=1)"
		say "client shell:  nsenter --net=/run/netns/$P-client bash"
		say "node shell:    nsenter --net=/run/netns/$P-node bash"
		say "try:           nsenter --net=/run/netns/$P-client curl http://198.19.0.10/"
		say "maps:          nsenter --net=/run/netns/$P-node $BUILD/tpctl --pin-root $PIN_ROOT service list"
		say "loader log:    $ENV_DIR/tailplaned.log (pid ${TPD_PID:-?})"
		say "tear down:     $ROOT/scripts/demo.sh --down"
		printf '%s\n' "${ENV_PIDS[@]}" >"/run/$P.pids"
		printf '%s\n' "${ENV_NETNS[@]}" >"/run/$P.netns"
		printf '%s\n' "$ENV_DIR" >"/run/$P.dir"
		return
	fi
	step "Cleaning up"
	env_down
	say "namespaces, processes, sockets and pins removed"
}

if [ "${1:-}" = --down ]; then
	for pid in $(cat "/run/$P.pids" 2>/dev/null); do env_stop_pid "$pid"; done
	for n in $(cat "/run/$P.netns" 2>/dev/null); do ip netns del "$n" 2>/dev/null || true; done
	"$BUILD/tailplaned" --pin-root "$PIN_ROOT" --detach --purge >/dev/null 2>&1 || true
	dir=$(cat "/run/$P.dir" 2>/dev/null || true)
	case "$dir" in /tmp/"$P".*) rm -rf "$dir" ;; esac
	rm -f "/run/$P.pids" "/run/$P.netns" "/run/$P.dir" \
		/var/run/wireguard/wg0.sock /var/run/wireguard/tailscale0.sock
	echo "demo sandbox removed"
	exit 0
fi

[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces, BPF)" >&2; exit 1; }
for n in $(ip netns list | awk '{print $1}'); do
	case "$n" in "$P"-*) echo "a demo sandbox exists ($n): '$0 --down' removes it" >&2; exit 1 ;; esac
done
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Building the sandbox"
say "client namespace $P-client with wg0 (wireguard-go), 100.64.0.2"
say "node namespace $P-node with tailscale0 (wireguard-go), 100.64.0.1"
say "three pods behind the node, 198.18.1.1-3, serving HTTP on :8080"
say "a remote node behind the node's uplink $P-u (198.18.2.1): 198.18.2.2 serves :8080,"
say "        and has no route back to the tailnet"
env_up
env_remote
env_config "$ENV_DIR/tailplaned.json" deny
demo_config "$ENV_DIR/tailplaned.json"
# the client's peer for the node also carries pod3's own tailnet address
ns "$P-client" wg set "$WG_CLIENT" peer "$NODE_PUB" allowed-ips "$ENV_CLIENT_ALLOWED,$STATIC_TN/32"
ns "$P-client" ip route add "$STATIC_TN/32" dev "$WG_CLIENT"
env_bg "$P-client" "$ENV_DIR/whoami.log" "$BUILD/tools/tp-echo" --whoami 7070 --name client

step "Starting tailplaned on the node"
say "config: ClusterIP 198.19.0.10:80/tcp -> the three pods :8080 (Maglev),"
say "        the client's WireGuard key is identity 'laptop', the pods are 'web',"
say "        default deny; allow laptop -> web tcp/8080"
say "        ClusterIP $REMOTE_VIP:80/tcp -> the remote node's 198.18.2.2:8080, \"snat\": \"auto\""
say "        pod3 has its own tailnet address $STATIC_TN (static 1:1 NAT)"
say "        \"masquerade\": true on the node's WireGuard interface; allow web -> laptop tcp/7070"
env_bg "$P-node" "$ENV_DIR/tailplaned.log" "$BUILD/tailplaned" \
	--config "$ENV_DIR/tailplaned.json"
TPD_PID=$ENV_LAST_PID
for _ in $(seq 50); do
	grep -q '"peers synced"' "$ENV_DIR/tailplaned.log" 2>/dev/null && break
	sleep 0.1
done
grep -E '"(attached|configuration applied|peers synced)"' "$ENV_DIR/tailplaned.log" | sed 's/^/   /'

step "The client reaches the ClusterIP; Maglev picks a backend per connection"
for _ in 1 2 3 4 5 6; do
	printf '   %s curl http://198.19.0.10/  ->  ' "$P-client"
	ns "$P-client" curl -s -m 3 http://198.19.0.10/
done
printf '   %s curl http://[fd00:198:19::a]/  ->  ' "$P-client"
ns "$P-client" curl -s -m 3 'http://[fd00:198:19::a]/'

step "Identities the loader synced from the WireGuard peers"
run tpctl identity list

step "Services"
run tpctl service list

step "A port the policy does not allow: dropped, and the drop is an event"
MON_LOG="$ENV_DIR/monitor.log"
env_bg "$P-node" "$MON_LOG" "$BUILD/tpctl" --pin-root "$PIN_ROOT" monitor drops count 1
MON_PID=$ENV_LAST_PID
sleep 0.5
printf '   %s curl http://198.18.1.1:22/  ->  ' "$P-client"
if ns "$P-client" curl -s -m 2 http://198.18.1.1:22/; then echo "(answered?)"; else echo "no answer (dropped)"; fi
for _ in $(seq 30); do kill -0 "$MON_PID" 2>/dev/null || break; sleep 0.1; done
say "tpctl monitor drops:"
sed 's/^/   /' "$MON_LOG"

step "Conntrack: the flows, translated"
run tpctl conntrack list

step "Counters"
run tpctl stats

step "An off-node backend: SNAT through the uplink"
say "the node rewrites the flow's source to its uplink address and a port of 61000-65000;"
say "tp_from_uplink (TC ingress of $P-u) restores the replies and sends them into the tunnel"
for _ in 1 2; do
	printf '   %s curl http://%s/  ->  ' "$P-client" "$REMOTE_VIP"
	ns "$P-client" curl -s -m 3 "http://$REMOTE_VIP/"
done
say "tpctl conntrack list (the SNAT column: the node's address and port the backend saw):"
tpctl conntrack list | grep -E "SNAT|198\.18\.2\.2" | sed 's/^/   /'

step "A pod with its own tailnet address: static 1:1 NAT"
say "packets to $STATIC_TN are rewritten to pod3 (198.18.1.3) as they arrive; pod3's own"
say "packets to the tailnet leave as $STATIC_TN; policy sees pod3's identity both ways"
printf '   %s curl http://%s:8080/  ->  ' "$P-client" "$STATIC_TN"
ns "$P-client" curl -s -m 3 "http://$STATIC_TN:8080/"
run tpctl nat static list

step "Masquerade: a pod reaches a tailnet device"
say "pod1 (198.18.1.1) opens a connection to the client 100.64.0.2:7070; its source"
say "becomes the node's tailnet address and a port of the SNAT range (a tailnet peer"
say "without routes to the pod network accepts only that from the node)"
printf '   %s -> 100.64.0.2:7070  ->  ' "$P-pod1"
ns "$P-pod1" bash -c 'exec 3<>/dev/tcp/100.64.0.2/7070 && head -n 1 <&3'

step "Done"
say "the ClusterIP answered from the pods, the denied port was dropped and reported;"
say "the off-node backend answered through SNAT, pod3 through its own tailnet address,"
say "and pod1 reached the tailnet client as the node"
