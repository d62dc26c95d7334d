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
# tpctl runs on the node, where the interfaces it names are
tpctl() { ns "$P-node" "$BUILD/tpctl" --pin-root "$PIN_ROOT" "$@"; }

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
env_up
env_config "$ENV_DIR/tailplaned.json" deny

step "Starting tailplaned on the node"
say "config: ClusterIP 198.19.0.10:80/tcp -> the three pods :8080 (Maglev),"
say "        the client's WireGuard key is identity 'laptop', the pods are 'web',"
say "        default deny; allow laptop -> web tcp/8080"
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

step "Done"
say "the ClusterIP answered from the pods, the denied port was dropped and reported"
