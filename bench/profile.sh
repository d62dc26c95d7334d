#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Where one bench_prog row's nanoseconds go, source line by source line
# (make bench-profile ROW=...).  bench_prog -P ROW runs the row's packet
# in single runs, as its measurement does; meanwhile `perf record -a -g`
# samples for PROFILE_SECONDS, bench/jitlines dumps where each source line of the
# programs the bench holds landed in their JIT images, and
# bench/profattr.py attributes the bench's samples to the BPF programs'
# lines, to the kernel helpers they call and to the test run's overhead.
#
# This machine's perf cannot disassemble BPF (no libbfd): hence jitlines.
# Sampling here is a timer's (no PMU in the VM, no PEBS): a sample lands
# on the instruction after the one that took the time, so the cost of a
# locked add shows on the line after it.
#
# Usage: bench/profile.sh ROW [PROG...]   (PROG: attribute to these
# programs only, names as the kernel holds them, e.g. tp_from_tailnet;
# default: all the bench's.  PROFILE_SECONDS=5 of perf record, TOP=15,
# OUT=build)
set -eu

ROW=${1:?usage: bench/profile.sh ROW [PROG...]}
shift
OUT=${OUT:-build}
SECONDS_REC=${PROFILE_SECONDS:-5}
TOP=${TOP:-15}
LOOP=$((SECONDS_REC + 5)) # the profiling loop outlasts perf and the dumps
HERE=$(dirname "$0")

[ "$(id -u)" = 0 ] || { echo "profile: needs root (perf -a, BPF)" >&2; exit 1; }
command -v perf >/dev/null || { echo "profile: no perf: make deps" >&2; exit 1; }
for b in bench_prog jitlines; do
	[ -x "$OUT/bench/$b" ] || { echo "profile: no $OUT/bench/$b: make bench-build" >&2; exit 1; }
done

# the smallest bench_prog run that has the row (a name no run has costs a
# whole bench run to find out; its results go to $TMP, not bench/results)
case $ROW in
*@*) mode= ;; # the scaling rows: the full run, minutes before they come
ref_* | pass_established* | dnat_established* | reply_revnat* | new_flow_dnat* | policy_deny*)
	mode=-p ;;
xdp_guard_*) mode=-g ;;
*) mode= ;;
esac

TMP=$(mktemp -d /tmp/tp-profile.XXXXXX)
BENCH=
cleanup() {
	if [ -n "$BENCH" ] && kill -0 "$BENCH" 2>/dev/null; then
		kill "$BENCH"
		wait "$BENCH" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_for PATTERN: until the bench's stderr has a line matching it; fails
# if the bench exits first
wait_for() {
	while ! grep -q "$1" "$TMP/err"; do
		if ! kill -0 "$BENCH" 2>/dev/null; then
			grep -q "$1" "$TMP/err" && return 0
			echo "profile: bench_prog $mode -P $ROW ended first:" >&2
			tail -3 "$TMP/err" >&2
			exit 1
		fi
		sleep 0.2
	done
}

: >"$TMP/err"
"$OUT/bench/bench_prog" $mode -P "$ROW" -T "$LOOP" -o "$TMP" >"$TMP/out" 2>"$TMP/err" &
BENCH=$!
echo "profile: bench_prog $mode -P $ROW (pid $BENCH), waiting for the row" >&2
wait_for "^bench: profiling $ROW\$"

perf record -q -a -g -o "$TMP/perf.data" -- sleep "$SECONDS_REC" 2>"$TMP/perf.err" ||
	{ cat "$TMP/perf.err" >&2; exit 1; }

# the programs the bench holds, while it lives
: >"$TMP/jitlines"
for id in $(sed -n 's/^prog_id:\s*//p' /proc/"$BENCH"/fdinfo/* 2>/dev/null | sort -un); do
	"$OUT/bench/jitlines" "$id" >"$TMP/one" || continue
	name=$(sed -n '1s/^P [0-9]* //p' "$TMP/one")
	if [ $# -gt 0 ]; then
		case " $* " in *" $name "*) ;; *) continue ;; esac
	fi
	cat "$TMP/one" >>"$TMP/jitlines"
done
[ -s "$TMP/jitlines" ] || { echo "profile: no program's lines dumped" >&2; exit 1; }

wait_for "^bench: profiled $ROW: "
wait_for "^bench: $ROW [0-9]* ns"
kill "$BENCH"
wait "$BENCH" 2>/dev/null || true
BENCH_PID=$BENCH
BENCH=

read -r runs secs < <(sed -n "s/^bench: profiled $ROW: \([0-9]*\) runs in \([0-9.]*\) s\$/\1 \2/p" "$TMP/err")
perf script -i "$TMP/perf.data" -F pid,ip,sym >"$TMP/script" 2>/dev/null
echo "== $ROW: measured $(sed -n "s/^bench: $ROW \([0-9]*\) ns\$/\1/p" "$TMP/err") ns over the empty program (right after the profile)"
swept=$(sed -n "s/^bench: $ROW: the flows it made deleted every \([0-9]*\) runs\$/\1/p" "$TMP/err")
if [ -n "$swept" ]; then
	echo "note: each run was a new flow; the loop deleted them every $swept runs, so conntrack stayed the size the measurement sees (the deleting counts as overhead)"
else
	case $ROW in
	*new*) echo "note: each run was a new flow: $runs of them filled its table (an LRU hash, evicting), the measurement's few thousand do not" ;;
	esac
fi
python3 "$HERE/profattr.py" "$TMP/jitlines" "$TMP/script" "$BENCH_PID" "$runs" "$secs" "$TOP"
