#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make bench, the WireGuard path: two namespaces, a client and a node,
# joined by wireguard-go tunnels (the node's end is the tailnet interface,
# L3, like tailscale0) over a veth.  One-flow iperf3 from the client to
# the node through the tunnel, with and without tailplane attached to the
# node's tunnel interface (tp_from_tailnet and tp_to_tailnet by tcx, the
# runs alternating so the load others put on the machine falls on both),
# RUNS runs each: throughput and its change in percent, per run pair.
# Then one more run with kernel.bpf_stats_enabled on, for the programs'
# own time per packet (run_time_ns / run_cnt over that run).  Stats stay
# off during the throughput runs: they add two clock reads a run.
#
# Also the memory a static-NAT pod costs: the growth of the kernel's
# accounting of tp_static_nat and tp_static_nat_rev (hashes without
# preallocation) over 1,000 entries added with tpctl batch.
#
# The rows go to bench/results/latest.{md,json} after bench_prog's and
# kubeproxy.sh's.  Nothing is sent from the root namespace; every
# namespace, pin and process made here is removed on exit, failure
# included.  Names: TPW_PREFIX (default tpbw) starts every namespace,
# interface and the pin root; wireguard-go's UAPI sockets in
# /var/run/wireguard are shared by every namespace, so a name in use
# there is refused.
#
# Usage: bench/wgpath.sh [-q] OUT_DIR BUILD_DIR   (-q: QUICK)
set -eu
shopt -s inherit_errexit

# bench_args, in_ns, spawn, stop_pid, stats, prog_stats, json_append
# shellcheck source=bench/common.sh
. "$(dirname "$0")"/common.sh
bench_args "$@"

PFX=${TPW_PREFIX:-tpbw}
NS_C=$PFX-c NS_N=$PFX-n
WG_C=${PFX}c0 WG_N=${PFX}n0 # the node's is the tailnet interface
VETH_C=${PFX}u0 VETH_N=${PFX}u1
PIN=/sys/fs/bpf/$PFX-wg
PORT=5201
# a run pair's change moves by +-10% on these VMs (the machine's load and
# its two speeds): a 3% target needs the median of more than five
if [ $QUICK = 1 ]; then
	RUNS=3 SECS=2
else
	RUNS=9 SECS=4
fi
# static NAT entries to measure with: tp_static_nat holds 8,192, and each
# tpctl add checks the existing entries for clashes (10,000 took minutes)
NAT_PODS=1000
RUNS=${TPW_RUNS:-$RUNS}
TMP="" PIDS="" MADE_NS="" STATS_WAS=""

START=$SECONDS
log() { printf 'wgpath: %3ds %s\n' $((SECONDS - START)) "$*" >&2; }

cleanup() {
	local p ns
	set +e
	for p in $PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$STATS_WAS" ] && sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	[ -d "$PIN" ] && "$BUILD"/tailplaned --pin-root "$PIN" --detach --purge >/dev/null 2>&1
	for ns in $MADE_NS; do
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for WHAT CMD...: until CMD succeeds, at most 10 s
wait_for() {
	local what=$1 i
	shift
	for i in $(seq 100); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	log "timed out waiting for $what"
	exit 1
}

# wg_up NS IFACE ADDR KEY PORT PEER_PUB PEER_TUNNEL PEER_ENDPOINT
wg_up() {
	spawn "$1" wireguard-go -f "$2" >/dev/null 2>&1
	wait_for "$2 in $1" in_ns "$1" ip link show "$2"
	wait_for "the UAPI socket of $2" test -S /var/run/wireguard/"$2".sock
	in_ns "$1" wg set "$2" private-key "$4" listen-port "$5" \
		peer "$6" allowed-ips "$7/32" endpoint "$8"
	in_ns "$1" ip addr add "$3/24" dev "$2"
	in_ns "$1" ip link set "$2" up
}

setup() {
	local ns
	for ns in $NS_C $NS_N; do
		if ip netns list | grep -qw "$ns"; then
			log "namespace $ns exists already (another run?): refusing"
			exit 1
		fi
	done
	for ns in $WG_C $WG_N; do
		if [ -e /var/run/wireguard/"$ns".sock ]; then
			log "/var/run/wireguard/$ns.sock exists (another run?): refusing"
			exit 1
		fi
	done
	for ns in $NS_C $NS_N; do
		ip netns add "$ns"
		MADE_NS="$MADE_NS $ns"
		in_ns "$ns" ip link set lo up
	done
	ip link add "$VETH_C" netns "$NS_C" type veth peer name "$VETH_N" netns "$NS_N"
	in_ns $NS_C ip addr add 198.18.251.1/30 dev "$VETH_C"
	in_ns $NS_N ip addr add 198.18.251.2/30 dev "$VETH_N"
	in_ns $NS_C ip link set "$VETH_C" up
	in_ns $NS_N ip link set "$VETH_N" up
	(umask 077 && wg genkey >"$TMP/c.key" && wg genkey >"$TMP/n.key")
	wg_up $NS_C "$WG_C" 100.64.251.1 "$TMP/c.key" 51901 \
		"$(wg pubkey <"$TMP/n.key")" 100.64.251.2 198.18.251.2:51902
	wg_up $NS_N "$WG_N" 100.64.251.2 "$TMP/n.key" 51902 \
		"$(wg pubkey <"$TMP/c.key")" 100.64.251.1 198.18.251.1:51901
	wait_for "a ping through the tunnel" in_ns $NS_C ping -c1 -W1 100.64.251.2
	"$BUILD"/bench/kpgen json 0 0 "$WG_N" "$PIN" >"$TMP/tp.json"
}

attach() {
	in_ns $NS_N "$BUILD"/tailplaned --config "$TMP/tp.json" --once --log-level error
}

# the programs go, the maps stay (the next attach takes them from the pins)
detach() {
	"$BUILD"/tailplaned --pin-root "$PIN" --detach --log-level error
}

# iperf_gbs: one iperf3 run through the tunnel, Gbit/s at the receiver
iperf_gbs() {
	local out
	spawn $NS_N iperf3 -s -1 -p $PORT >/dev/null 2>&1
	wait_for "iperf3 -s" sh -c "nsenter --net=/run/netns/$NS_N ss -Hltn 'sport = :$PORT' | grep -q ."
	out=$(in_ns $NS_C iperf3 -c 100.64.251.2 -p $PORT -t "$SECS" -f m 2>&1) || {
		log "iperf3 failed: $out"
		exit 1
	}
	stop_pid "$LAST_PID"
	echo "$out" | awk '/receiver/ { for (f = 1; f < NF; f++)
		if ($(f + 1) == "Mbits/sec") print $f / 1000 }'
}

throughput() {
	local i on off both="" with="" without="" pct=""
	for i in $(seq "$RUNS"); do
		# alternate which goes first: a drift in the machine's load
		# then falls on both sides alike
		if [ $((i % 2)) = 1 ]; then
			detach
			off=$(iperf_gbs)
			attach
			on=$(iperf_gbs)
		else
			attach
			on=$(iperf_gbs)
			detach
			off=$(iperf_gbs)
		fi
		log "run $i: without $off Gbit/s, with $on Gbit/s"
		with="$with $on" without="$without $off"
		pct="$pct $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.2f", (a - b) / b * 100 }')"
	done
	# shellcheck disable=SC2086
	stats "wg_iperf:none" "Gbit/s" $without
	# shellcheck disable=SC2086
	stats "wg_iperf:tailplane" "Gbit/s" $with
	# shellcheck disable=SC2086
	stats "wg_iperf_change:tailplane" "%" $pct
	: "$both"
}

# the programs' own time per packet during one more run, stats on
program_cost() {
	local in0 eg0 in1 eg1 gbs
	attach
	STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
	in0=$(prog_stats "$PIN/links/$WG_N-ingress")
	eg0=$(prog_stats "$PIN/links/$WG_N-egress")
	gbs=$(iperf_gbs)
	in1=$(prog_stats "$PIN/links/$WG_N-ingress")
	eg1=$(prog_stats "$PIN/links/$WG_N-egress")
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	STATS_WAS=""
	log "stats run: $gbs Gbit/s; ingress $in0 -> $in1, egress $eg0 -> $eg1"
	# shellcheck disable=SC2086
	set -- $in0 $in1 $eg0 $eg1
	if [ $(($4 - $2)) -gt 0 ]; then
		stats "wg_prog_ns_ingress:tailplane" "ns" "$((($3 - $1) / ($4 - $2)))"
		stats "wg_prog_pkts_ingress:tailplane" "packets" "$(($4 - $2))"
	fi
	if [ $(($8 - $6)) -gt 0 ]; then
		stats "wg_prog_ns_egress:tailplane" "ns" "$((($7 - $5) / ($8 - $6)))"
		stats "wg_prog_pkts_egress:tailplane" "packets" "$(($8 - $6))"
	fi
	# the programs' time over the run's: what they can cost a flow that
	# is CPU-bound, whatever the noise in the throughput runs
	stats "wg_prog_time_share:tailplane" "%" \
		"$(awk -v t=$(($3 - $1 + $7 - $5)) -v s="$SECS" 'BEGIN { printf "%.3f", t / (s * 1e9) * 100 }')"
}

map_mem() {
	bpftool -j map show pinned "$PIN/$1" | sed -n 's/.*"bytes_memlock":\([0-9]*\).*/\1/p'
}

nat_mem() {
	echo $(($(map_mem tp_static_nat) + $(map_mem tp_static_nat_rev)))
}

# bytes per static-NAT pod: both directions' entries, as the kernel
# accounts them (the maps grow with their entries: no preallocation)
static_nat_rows() {
	local m0 m1 i
	m0=$(nat_mem)
	for i in $(seq 0 $((NAT_PODS - 1))); do
		echo "nat static add 100.65.$((i / 256)).$((i % 256)) 198.18.$((64 + i / 256)).$((i % 256))"
	done >"$TMP/nat"
	"$BUILD"/tpctl --pin-root "$PIN" batch "$TMP/nat" >/dev/null
	m1=$(nat_mem)
	stats "mem_per_static_nat_pod:tailplane" "B" "$(((m1 - m0) / NAT_PODS))"
}

write_results() {
	local md=$RES/latest.md load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	{
		printf '\n## WireGuard path: client ns -> wireguard-go -> node ns (tailnet iface %s)\n\n' "$WG_N"
		printf '%s, %s; %d runs each, alternating (min / median / max); ' \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$([ $QUICK = 1 ] && echo QUICK || echo full)" "$RUNS"
		printf 'load average at the end %s.\n' "$load"
		printf 'wg_iperf_change: (with - without) / without per run pair; wg_prog_ns: '
		printf 'run_time_ns / run_cnt with kernel.bpf_stats_enabled during one more run; '
		printf 'wg_prog_time_share: both programs'"'"' time over that run'"'"'s.\n\n'
		printf '| figure | min | median | max | unit |\n|---|---|---|---|---|\n'
		awk '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$ROWS"
	} >>"$md"
	awk '{ printf ",{\"name\":\"%s\",\"min\":%s,\"median\":%s,\"max\":%s,\"ratio\":0,\"to\":\"\",\"note\":\"%s\"}",
		$1, $2, $3, $4, $5 }' "$ROWS" >"$TMP/frag"
	json_append "$RES/latest.json" "$TMP/frag" wgpath \
		"$(printf '{"quick":%s,"runs":%d,"secs":%d,"load":"%s"}' \
			"$([ $QUICK = 1 ] && echo true || echo false)" "$RUNS" "$SECS" "$load")"
	cp "$ROWS" "$RES/wgpath.rows"
	printf '\n%-34s %10s %10s %10s %s\n' FIGURE MIN MEDIAN MAX UNIT
	awk '{ printf "%-34s %10s %10s %10s %s\n", $1, $2, $3, $4, $5 }' "$ROWS"
}

main() {
	TMP=$(mktemp -d /tmp/tpb-wgpath.XXXXXX)
	ROWS=$TMP/rows
	: >"$ROWS"
	log "setting up $NS_C and $NS_N, wireguard-go $WG_C and $WG_N"
	setup
	attach # the maps (and pins) for every later attach
	throughput
	program_cost
	static_nat_rows
	write_results
}

main
