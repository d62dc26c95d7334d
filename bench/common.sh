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
	printf '%s\n' "$@" | sort -g | awk -v name="$name" -v unit="$unit" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) exit
			med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s %.6g %.6g %.6g %s\n", name, v[1], med, v[NR], unit
		}' >>"$ROWS"
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
