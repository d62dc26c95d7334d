#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The scale measurement of issue 12 (not part of make test):
#
#   1. gen.py writes 10,000 Services with 100,000 endpoints (EndpointSlices
#      of at most 100) and 10,000 Pods; apiserver.py preloads them, in a
#      network namespace this script makes (and removes);
#   2. tailplaned starts there on an empty private pin root, with a TUN
#      interface as its tailnet and the "kubernetes" section pointing at
#      the server: the time from its start until every service frontend is
#      in tp_services and their active backends add up to every endpoint
#      (mapwatch.py reads the map through bpf(2) every 50 ms: no tpctl
#      process per poll competing with the loader for the CPUs);
#   3. one endpoint of one slice changes through the control port, five
#      times (added, removed, ...): the time from the change (the control
#      call returned: the server has queued the watch event) until the
#      service's tp_services entry shows the new active count (mapwatch.py,
#      every 1 ms);
#   4. the loader's peak RSS (VmHWM of /proc/PID/status).
#
# Prints the three figures against the issue's targets (10 s, 100 ms,
# 64 MB) and exits 0 when all are within them, 1 when one is not, 2 when
# it could not measure.  The server's own cost (listing everything in
# Python, on the same CPUs) is in the sync time; --server-only measures
# just that (no root, no loader: a Python client lists everything and
# times watch events).
#
#   scale.sh [--server-only] [--services N] [--endpoints N] [--pods N]
#            [--seed S] [--timeout SECS]
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
KUBE=$ROOT/tests/kube
SERVICES=10000 ENDPOINTS=100000 PODS=10000 SEED='' TIMEOUT=120 SERVER_ONLY=''
while [ $# -gt 0 ]; do
	case "$1" in
	--server-only) SERVER_ONLY=1 ;;
	--services) SERVICES=$2; shift ;;
	--endpoints) ENDPOINTS=$2; shift ;;
	--pods) PODS=$2; shift ;;
	--seed) SEED=$2; shift ;;
	--timeout) TIMEOUT=$2; shift ;;
	*) sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done
SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
NS=tpks$$
IFACE=tks$$
PIN_ROOT=/sys/fs/bpf/tp-kscale-$$
TMP=$(mktemp -d /tmp/tp-kscale.XXXXXX)
PIDS=()
NETNS=

now_ms() { echo $(($(date +%s%N) / 1000000)); }
msg() { echo "scale: $*"; }

stop_pid() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [ -d "$PIN_ROOT" ]; then
		"${INNS[@]}" "$BUILD/tailplaned" --pin-root "$PIN_ROOT" --detach --purge >/dev/null 2>&1 ||
			rm -rf "$PIN_ROOT"
	fi
	[ -n "$NETNS" ] && ip netns del "$NETNS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the command prefix that runs in the namespace (if any), keeping the
# host's bpffs; nsenter execs, so a background job's $! is the command's
INNS=()
inns() { "${INNS[@]}" "$@"; }

# ---- objects ---------------------------------------------------------------------

msg "generating $SERVICES services, $ENDPOINTS endpoints, $PODS pods (seed $SEED)"
python3 "$KUBE/gen.py" --services "$SERVICES" --endpoints "$ENDPOINTS" --pods "$PODS" \
	--seed "$SEED" --out "$TMP/objs.jsonl" || exit 2
# what the maps must hold: a frontend per service port, a backend per
# (ready endpoint, slice port)
read -r FRONTENDS BACKENDS LOCAL_PODS < <(python3 - "$TMP/objs.jsonl" <<'PY'
import json, sys
fe = be = local = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["kind"] == "Service":
        fe += len(o["spec"]["ports"])
    elif o["kind"] == "EndpointSlice":
        be += len(o["ports"]) * sum(1 for e in o["endpoints"] if e["conditions"].get("ready", True))
    elif o["kind"] == "Pod" and o["spec"].get("nodeName") == "node1":
        local += 1
print(fe, be, local)
PY
)
msg "the maps must hold $FRONTENDS frontends and $BACKENDS backends; $LOCAL_PODS pods are on node1"

"$KUBE/mkcerts.sh" "$TMP/certs" || exit 2
echo "tp-scale-$RANDOM$RANDOM" >"$TMP/token"

api_start() {
	local t0 i
	t0=$(now_ms)
	"${INNS[@]}" python3 "$KUBE/apiserver.py" --cert "$TMP/certs/server.crt" --key "$TMP/certs/server.key" \
		--token-file "$TMP/token" --ports-file "$TMP/ports" --preload "$TMP/objs.jsonl" \
		--log "$TMP/apiserver-requests.log" >"$TMP/apiserver.log" 2>&1 &
	API_PID=$!
	PIDS+=("$API_PID")
	for i in $(seq 1200); do
		[ -s "$TMP/ports" ] && break
		kill -0 "$API_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$TMP/ports" ] || { cat "$TMP/apiserver.log"; msg "the API server did not start"; exit 2; }
	API_PORT=$(sed -n 's/^API_PORT=//p' "$TMP/ports")
	CONTROL_PORT=$(sed -n 's/^CONTROL_PORT=//p' "$TMP/ports")
	msg "API server up with the objects preloaded in $(($(now_ms) - t0)) ms" \
		"(RSS $(grep VmRSS "/proc/$API_PID/status" | awk '{print $2 / 1024}' | cut -d. -f1) MB)"
}

# ---- server only -------------------------------------------------------------------

if [ -n "$SERVER_ONLY" ]; then
	api_start
	msg "a Python client lists everything in pages of 500:"
	inns python3 "$KUBE/probe.py" list-all "$TMP/ports" "$TMP/certs/ca.crt" "$TMP/token" || exit 2
	msg "watch events after a change through the control port:"
	inns python3 "$KUBE/probe.py" watch-latency "$TMP/ports" "$TMP/certs/ca.crt" "$TMP/token" \
		ns-000 svc-00000-00000 20 || exit 2
	exit 0
fi

# ---- the loader --------------------------------------------------------------------

[ "$(id -u)" = 0 ] || { msg "needs root (a network namespace, BPF); --server-only does not"; exit 2; }
[ -x "$BUILD/tailplaned" ] && [ -x "$BUILD/tpctl" ] || { msg "build first (make all)"; exit 2; }

ip netns add "$NS" || exit 2
NETNS=$NS
INNS=(nsenter --net="/run/netns/$NS" --)
inns ip link set lo up
inns ip tuntap add dev "$IFACE" mode tun || exit 2
inns ip link set "$IFACE" up
api_start

cat >"$TMP/cfg.json" <<JSON
{
  "pin_root": "$PIN_ROOT",
  "default_policy": "allow",
  "interfaces": [ { "name": "$IFACE", "kind": "tailnet", "zone": 1 } ],
  "kubernetes": { "enabled": true, "server": "https://127.0.0.1:$API_PORT",
    "token_file": "$TMP/token", "ca_file": "$TMP/certs/ca.crt", "node_name": "node1" }
}
JSON

tpctl() { inns "$BUILD/tpctl" --pin-root "$PIN_ROOT" "$@"; }
ms_since() { echo $(($1 - $2)); }

# the sync, watched from before the loader starts (mapwatch.py waits for the pin)
python3 "$KUBE/mapwatch.py" sync "$PIN_ROOT" "$FRONTENDS" "$BACKENDS" "$TIMEOUT" >"$TMP/sync.out" 2>&1 &
MW_PID=$!
PIDS+=("$MW_PID")
sleep 0.5 # its start (python) is not the loader's time
T0=$(now_ms)
"${INNS[@]}" "$BUILD/tailplaned" --config "$TMP/cfg.json" >"$TMP/tailplaned.log" 2>&1 &
TPD_PID=$!
PIDS+=("$TPD_PID")
T_RUN='' T_LISTED=''
while kill -0 "$MW_PID" 2>/dev/null; do
	kill -0 "$TPD_PID" 2>/dev/null || { tail -20 "$TMP/tailplaned.log"; msg "tailplaned exited"; exit 2; }
	[ -z "$T_RUN" ] && grep -q '"running"' "$TMP/tailplaned.log" && T_RUN=$(($(now_ms) - T0))
	# the client's log line once every kind is listed (kube_client.c)
	[ -z "$T_LISTED" ] && grep -q 'kubernetes: synced' "$TMP/tailplaned.log" && T_LISTED=$(($(now_ms) - T0))
	sleep 0.05
done
wait "$MW_PID"
mw_rc=$?
T_SVC=$(awk '$1 == "services" {print $2}' "$TMP/sync.out")
T_BE=$(awk '$1 == "backends" {print $2}' "$TMP/sync.out")
if [ "$mw_rc" != 0 ] || [ -z "$T_BE" ]; then
	msg "not synced within $TIMEOUT s: $(cat "$TMP/sync.out") (want $FRONTENDS services, $BACKENDS active backends)"
	grep -i kube "$TMP/tailplaned.log" | head -10
	exit 2
fi
T_SVC=$(ms_since "$T_SVC" "$T0")
T_SYNC=$(ms_since "$T_BE" "$T0")
msg "loader running (programs loaded and attached) ${T_RUN:-?} ms after its start;" \
	"every kind listed (\"kubernetes: synced\" logged) after ${T_LISTED:-?} ms"
msg "all $FRONTENDS frontends in tp_services after $T_SVC ms; all $BACKENDS backends active after $T_SYNC ms"
grep -i 'kube' "$TMP/tailplaned.log" | head -5 | sed 's/^/scale: log: /'

# ---- one endpoint -------------------------------------------------------------------

# svc-00000 is 198.19.1.0:80/tcp; its first slice gets an endpoint and loses it
SVC_NS=ns-000 SLICE=svc-00000-00000
ctl() {
	printf '%s' "$3" | inns curl -sS -f -m 10 -X "$1" -H 'Content-Type: application/json' \
		--data-binary @- "http://127.0.0.1:$CONTROL_PORT$2" >/dev/null
}
ORIG=$(inns curl -sS -f "http://127.0.0.1:$CONTROL_PORT/objects/endpointslices/$SVC_NS/$SLICE" |
	python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["endpoints"]))')
WITH_NEW=$(echo "$ORIG" | python3 -c 'import json,sys
e = json.load(sys.stdin)
e.append({"addresses": ["198.18.252.1"], "conditions": {"ready": True, "serving": True, "terminating": False}, "nodeName": "node1"})
print(json.dumps(e))')
# its active backends now (all its slices, all ready)
A0=$(tpctl -j service list | python3 "$KUBE/tpq.py" backends 198.19.1.0 80 tcp kubernetes | grep -c ' active$')
LAT=()
for i in 1 2 3 4 5; do
	if [ $((i % 2)) = 1 ]; then body=$WITH_NEW want=$((A0 + 1)); else body=$ORIG want=$A0; fi
	python3 "$KUBE/mapwatch.py" active "$PIN_ROOT" 198.19.1.0 80 tcp "$want" 10 >"$TMP/active.out" 2>&1 &
	MW_PID=$!
	PIDS+=("$MW_PID")
	for _ in $(seq 200); do
		grep -q ready "$TMP/active.out" && break
		sleep 0.02
	done
	t_req=$(now_ms)
	ctl PATCH "/objects/endpointslices/$SVC_NS/$SLICE" "{\"endpoints\":$body}" || exit 2
	t_ev=$(now_ms)
	wait "$MW_PID" || { msg "change $i: the map never showed $want active backends: $(cat "$TMP/active.out")"; exit 2; }
	t_map=$(sed -n 2p "$TMP/active.out")
	LAT+=($((t_map - t_ev)))
	msg "change $i: $want active in the map $((t_map - t_ev)) ms after the event ($((t_map - t_req)) ms after the request began)"
	sleep 0.3
done
# the last change added 198.18.252.1: tpctl shows it as the service's backend
tpctl -j service list | python3 "$KUBE/tpq.py" backends 198.19.1.0 80 tcp kubernetes >"$TMP/be.txt"
grep -q '^198.18.252.1:8080 active$' "$TMP/be.txt" || { msg "198.18.252.1:8080 is not an active backend"; exit 2; }
MED=$(printf '%s\n' "${LAT[@]}" | sort -n | sed -n 3p)
MAX=$(printf '%s\n' "${LAT[@]}" | sort -n | tail -1)

# ---- memory -------------------------------------------------------------------------

HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$TPD_PID/status")
RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$TPD_PID/status")

OVER=0 V_SYNC="" V_CHANGE="" V_RSS=""
verdict() { # NAME VALUE TARGET: sets NAME to ok or OVER
	if [ "$2" -le "$3" ]; then printf -v "$1" ok; else printf -v "$1" OVER; OVER=1; fi
}
verdict V_SYNC "$T_SYNC" 10000
verdict V_CHANGE "$MAX" 100
verdict V_RSS $((HWM / 1024)) 64
echo
msg "$SERVICES services ($FRONTENDS frontends), $ENDPOINTS endpoints ($BACKENDS backends), $PODS pods ($LOCAL_PODS on node1), seed $SEED"
printf 'scale: %-36s %6s ms   target 10000 ms   %s\n' "sync from an empty node" "$T_SYNC" "$V_SYNC"
printf 'scale: %-36s %6s ms   target   100 ms   %s   (median of 5; max %s ms)\n' \
	"one endpoint change, after the event" "$MED" "$V_CHANGE" "$MAX"
printf 'scale: %-36s %6s MB   target    64 MB   %s   (VmRSS now %s MB)\n' "loader peak RSS (VmHWM)" \
	"$((HWM / 1024))" "$V_RSS" "$((RSS / 1024))"
msg "the machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); the API server (Python) shares them"
[ "$OVER" = 0 ]
