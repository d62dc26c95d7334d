# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Helpers the benchmark scripts share (sourced by bench/kubeproxy.sh and
# bench/wgpath.sh).  The sourcing script sets ROWS (the file of figures,
# one a line: name min median max unit) and PIDS (background processes to
# stop on exit).

# bench_args [-q] OUT_DIR BUILD_DIR: QUICK (1 with -q), RES and BUILD,
# both absolute
bench_args() {
	QUICK=0
	if [ "${1:-}" = "-q" ]; then
		QUICK=1
		shift
	fi
	RES=${1:-bench/results}
	BUILD=${2:-build}
	BUILD=$(cd "$BUILD" && pwd)
	RES=$(mkdir -p "$RES" && cd "$RES" && pwd)
}

in_ns() {
	local ns=$1
	shift
	# nsenter, not ip netns exec: the latter remounts /sys and hides bpffs
	nsenter --net=/run/netns/"$ns" "$@"
}

# spawn NS CMD...: CMD in the background in NS, remembering its pid for
# cleanup (nsenter execs CMD: the pid is CMD's, not a subshell's)
spawn() {
	local ns=$1
	shift
	nsenter --net=/run/netns/"$ns" "$@" &
	PIDS="$PIDS $!"
	LAST_PID=$!
}

stop_pid() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

# stats NAME UNIT VALUES...: min, median, max of the values into ROWS
stats() {
	local name=$1 unit=$2
	shift 2
	# no values, no row (printf would make one empty line of them: a 0)
	[ $# -gt 0 ] || return 0
	printf '%s\n' "$@" | sort -g | awk -v name="$name" -v unit="$unit" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) exit
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s %.6g %.6g %.6g %s\n", name, v[1], med, v[NR], unit
		}' >>"$ROWS"
}

# loader_figures T0 T1 LOG: "total attached applied rss child_rss" of one
# tailplaned run started at T0 and done at T1 (now_us) that logged LOG at
# level info: the wall clock in ms, when (ms from T0) its log said the
# programs were attached and the configuration applied, and in KiB its
# "memory" line's peak RSS of the daemon and of the load child (-1: none)
loader_figures() {
	# log times are UTC with ms; the start's too, from bash's clock
	awk -v t0="$1" -v t1="$2" '
		function ms(s,  a) { split(s, a, /[T:Z]/); return ((a[2] * 60 + a[3]) * 60 + a[4]) * 1000 }
		function ts(  x) { match($0, /"ts":"[^"]*"/); return ms(substr($0, RSTART + 6, RLENGTH - 7)) }
		BEGIN { s0 = (t0 / 1000) % 86400000 }
		/"msg":"attached"/ && !att { att = ts() }
		/"msg":"configuration applied"/ { app = ts() }
		function kib(k,  v) { v = $0; if (!sub(".*\"" k "\":\"", "", v)) return -1; sub(/".*/, "", v); return v }
		/"msg":"memory"/ { rss = kib("peak_rss_kib"); child = kib("load_child_peak_rss_kib") }
		END { printf "%.1f %.1f %.1f %d %d\n", (t1 - t0) / 1000, att - s0, app - s0, rss, child }' "$3"
}

# prog_stats LINK: "run_time_ns run_cnt" of the program in the pinned
# link LINK (0 0 while kernel.bpf_stats_enabled was never on)
prog_stats() {
	local id
	id=$(bpftool -j link show pinned "$1" |
		sed -n 's/.*"prog_id":\([0-9]*\).*/\1/p')
	bpftool -j prog show id "$id" | awk '{
		t = $0; c = $0
		sub(/.*"run_time_ns":/, "", t); sub(/[,}].*/, "", t)
		sub(/.*"run_cnt":/, "", c); sub(/[,}].*/, "", c)
		print (t ~ /^[0-9]+$/ ? t : 0), (c ~ /^[0-9]+$/ ? c : 0) }'
}

now_us() {
	local t=$EPOCHREALTIME
	echo "${t/./}"
}

# json_append JSON FRAG KEY OBJECT: the figures in FRAG (",{...},{...}")
# join the "figures" array of the one JSON object in JSON (bench_prog's,
# with whatever another script added since), and "KEY": OBJECT goes
# beside it
json_append() {
	[ -s "$1" ] || return 0
	python3 - "$@" <<-'EOF'
		import json, sys
		path, frag, key, obj = sys.argv[1:5]
		with open(path) as f:
		    doc = json.load(f)
		with open(frag) as f:
		    doc["figures"] += json.loads("[" + f.read().lstrip(",") + "]")
		doc[key] = json.loads(obj)
		with open(path + ".new", "w") as f:
		    json.dump(doc, f, separators=(",", ":"))
		    f.write("\n")
	EOF
	mv "$1.new" "$1"
}
