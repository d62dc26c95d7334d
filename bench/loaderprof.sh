#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The loader's cold start alone, measured as bench/kubeproxy.sh measures
# it (loader_run): tailplaned --config F --once in a namespace, F from
# kpgen json with N services, the pins purged before each run.  Per size
# and build: the median (min-max) of RUNS runs of the wall clock, of when
# the log said "attached" and "configuration applied" (ms from the
# start), and of the peak RSS of the daemon and of the child that loaded
# the object (MiB).  With several builds the runs alternate between them,
# so that the load others put on the machine falls on each alike: a
# before/after in the same minutes.
#
# One namespace (tplp-n) with a veth for the tailnet interface, pins under
# /sys/fs/bpf/tplp; both removed on exit, failure included.  Two runs at
# once need other names: LOADERPROF_NS and LOADERPROF_PIN.
#
# Usage: bench/loaderprof.sh BUILD_DIR...   (SIZES="10 10000", RUNS=5)
set -eu
# a failing command inside $(...) fails the script too
shopt -s inherit_errexit

# in_ns, now_us, loader_figures
# shellcheck source=bench/common.sh
. "$(dirname "$0")"/common.sh

SIZES=${SIZES:-10 10000}
RUNS=${RUNS:-5}
NS=${LOADERPROF_NS:-tplp-n}
PIN=${LOADERPROF_PIN:-/sys/fs/bpf/tplp}
BUILDS=()
for b in "${@:-build}"; do
	BUILDS+=("$(cd "$b" && pwd)")
done
TMP=$(mktemp -d)
MADE_NS=0

cleanup() {
	set +e
	if [ -d "$PIN" ]; then
		"${BUILDS[0]}"/tailplaned --pin-root "$PIN" --detach --purge >/dev/null 2>&1
	fi
	[ $MADE_NS = 1 ] && ip netns del $NS
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ip netns list | grep -qw $NS; then
	echo "loaderprof: namespace $NS exists already (another run?)" >&2
	exit 1
fi
ip netns add $NS
MADE_NS=1
in_ns $NS ip link set lo up
in_ns $NS ip link add tpb-nc type veth peer name tpb-cl0
in_ns $NS ip link set tpb-nc up
in_ns $NS ip link set tpb-cl0 up

# one_run BUILD CONFIG: loader_figures of one cold start
one_run() {
	local t0 t1 log_f=$TMP/loader.log
	"$1"/tailplaned --pin-root "$PIN" --detach --purge >/dev/null 2>&1 || true
	t0=$(now_us)
	in_ns $NS "$1"/tailplaned --config "$2" --once --log-level info 2>"$log_f" || {
		echo "loaderprof: tailplaned failed: $(cat "$log_f")" >&2
		exit 1
	}
	t1=$(now_us)
	loader_figures "$t0" "$t1" "$log_f"
}

# med K FILE [DIV]: "median (min-max)" of column K, each divided by DIV
med() {
	cut -d' ' -f"$1" "$2" | sort -g | awk -v d="${3:-1}" '{ v[NR] = $1 / d }
		END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "%7.1f (%.1f-%.1f)", m, v[1], v[NR] }'
}

for n in $SIZES; do
	"${BUILDS[0]}"/bench/kpgen json "$n" $((n / 2)) tpb-nc "$PIN" >"$TMP/cfg.json"
	for i in "${!BUILDS[@]}"; do
		: >"$TMP/runs.$i"
	done
	for _ in $(seq "$RUNS"); do
		for i in "${!BUILDS[@]}"; do
			one_run "${BUILDS[$i]}" "$TMP/cfg.json" >>"$TMP/runs.$i"
		done
	done
	for i in "${!BUILDS[@]}"; do
		printf '%s, %d services:\n  total %s ms  attached %s  applied %s\n  rss %s MiB  load child %s MiB\n' \
			"${BUILDS[$i]}" "$n" "$(med 1 "$TMP/runs.$i")" "$(med 2 "$TMP/runs.$i")" \
			"$(med 3 "$TMP/runs.$i")" "$(med 4 "$TMP/runs.$i" 1024)" "$(med 5 "$TMP/runs.$i" 1024)"
	done
done
