#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The loader's peak RSS with the Kubernetes source, two builds alternating
# in the same minutes (not part of make test):
#
#   memab.sh [--services N] [--endpoints N] [--pods N] [--runs R]
#            [--settle SECS] BIN_A [BIN_B]
#
# gen.py's objects (seed 1) are preloaded into one apiserver.py, in a
# network namespace this script makes (and removes); each run starts
# BIN_A (then BIN_B) there on an empty private pin root, waits for the
# "memory" log line after the first full sync (its peak_rss_kib), lets
# the next sync passes (egress routes, malloc_trim) run for --settle
# seconds (default 4; sync_interval is 1), and reads VmHWM, VmRSS and its
# split (RssAnon: private; RssFile: mapped files, libcurl's libraries
# most of it) of /proc/PID/status.  Prints one line per run and the median (min-max) per
# binary, in KiB.  Needs root; BIN_B defaults to none (one binary).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KUBE=$ROOT/tests/kube
SERVICES=10 ENDPOINTS=20 PODS='' RUNS=5 SETTLE=4
while [ $# -gt 0 ]; do
	case "$1" in
	--services) SERVICES=$2; shift ;;
	--endpoints) ENDPOINTS=$2; shift ;;
	--pods) PODS=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--settle) SETTLE=$2; shift ;;
	-*) sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -ge 1 ] || { sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
BINS=("$@")
PODS=${PODS:-$SERVICES}
NS=tpmemab$$
IFACE=tmab$$
TMP=$(mktemp -d /tmp/tp-memab.XXXXXX)
PIDS=()
NETNS=
INNS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	rm -rf /sys/fs/bpf/tp-memab-$$-*
	[ -n "$NETNS" ] && ip netns del "$NETNS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$KUBE/gen.py" --services "$SERVICES" --endpoints "$ENDPOINTS" --pods "$PODS" \
	--seed 1 --out "$TMP/objs.jsonl" || exit 2
"$KUBE/mkcerts.sh" "$TMP/certs" >/dev/null 2>&1 || exit 2
echo "tp-memab-$RANDOM" >"$TMP/token"
ip netns add "$NS" || exit 2
NETNS=$NS
INNS=(nsenter --net="/run/netns/$NS" --)
"${INNS[@]}" ip link set lo up
"${INNS[@]}" ip tuntap add dev "$IFACE" mode tun || exit 2
"${INNS[@]}" ip link set "$IFACE" up
"${INNS[@]}" python3 "$KUBE/apiserver.py" --cert "$TMP/certs/server.crt" --key "$TMP/certs/server.key" \
	--token-file "$TMP/token" --ports-file "$TMP/ports" --preload "$TMP/objs.jsonl" \
	>"$TMP/apiserver.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1200); do
	[ -s "$TMP/ports" ] && break
	sleep 0.1
done
[ -s "$TMP/ports" ] || { cat "$TMP/apiserver.log"; exit 2; }
API_PORT=$(sed -n 's/^API_PORT=//p' "$TMP/ports")

# one run of $1 (run number $2): "SYNC_PEAK HWM RSS" in KiB
run_one() {
	local bin=$1 pin=/sys/fs/bpf/tp-memab-$$-$2 pid i peak hwm rss
	cat >"$TMP/cfg.json" <<JSON
{
  "pin_root": "$pin",
  "default_policy": "allow",
  "sync_interval": 1,
  "interfaces": [ { "name": "$IFACE", "kind": "tailnet", "zone": 1 } ],
  "kubernetes": { "enabled": true, "server": "https://127.0.0.1:$API_PORT",
    "token_file": "$TMP/token", "ca_file": "$TMP/certs/ca.crt", "node_name": "node1" }
}
JSON
	"${INNS[@]}" "$bin" --config "$TMP/cfg.json" >"$TMP/run.log" 2>&1 &
	pid=$!
	peak=''
	for i in $(seq 1200); do
		peak=$(grep '"memory"' "$TMP/run.log" | grep '"kubernetes"' |
			sed -n 's/.*[{,] *"peak_rss_kib":"\{0,1\}\([0-9]*\).*/\1/p' | head -1)
		[ -n "$peak" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$peak" ]; then
		tail -5 "$TMP/run.log" >&2
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		echo "- - - - -"
		return
	fi
	sleep "$SETTLE"
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
	# the resident set's split: private memory, and pages of mapped files
	# (libcurl's libraries: shared with every process that maps them)
	anon=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status")
	file=$(awk '/^RssFile/ {print $2}' "/proc/$pid/status")
	kill "$pid"
	wait "$pid" 2>/dev/null
	# MEMAB_LOG=FILE: the last run's log there
	[ -n "${MEMAB_LOG:-}" ] && cp "$TMP/run.log" "$MEMAB_LOG"
	"${INNS[@]}" "$bin" --pin-root "$pin" --detach --purge >/dev/null 2>&1 || rm -rf "$pin"
	echo "$peak $hwm $rss $anon $file"
}

med() { sort -n | awk '{v[NR] = $1} END {printf "%d (%d-%d)", v[int((NR + 1) / 2)], v[1], v[NR]}'; }

for r in $(seq "$RUNS"); do
	for b in "${!BINS[@]}"; do
		out=$(run_one "${BINS[$b]}" "$r-$b")
		echo "$out" >>"$TMP/res.$b"
		echo "run $r bin $b: sync_peak_kib hwm_kib rss_kib anon_kib file_kib = $out"
	done
done
echo "$SERVICES services, $ENDPOINTS endpoints, $PODS pods: median (min-max) KiB"
for b in "${!BINS[@]}"; do
	printf '%s\n  peak after first sync %s   VmHWM after %ss %s   VmRSS %s\n  of it RssAnon %s   RssFile %s\n' \
		"${BINS[$b]}" "$(awk '{print $1}' "$TMP/res.$b" | med)" "$SETTLE" \
		"$(awk '{print $2}' "$TMP/res.$b" | med)" "$(awk '{print $3}' "$TMP/res.$b" | med)" \
		"$(awk '{print $4}' "$TMP/res.$b" | med)" "$(awk '{print $5}' "$TMP/res.$b" | med)"
done
