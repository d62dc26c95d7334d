#!/bin/sh
# Run every cmocka test program in DIR, print their output, and end with
# one summary line: "N passed, N failed, N skipped".  A program that dies
# without a cmocka summary counts as one failure.
set -u
dir=${1:-build/tests}
passed=0 failed=0 skipped=0 failed_names=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT INT TERM
e2e=$(cd "$(dirname "$0")" && pwd)/e2e
for t in "$dir"/test_* "$e2e"/test_*.sh; do
	[ -x "$t" ] && [ ! -d "$t" ] || continue
	case "$t" in *.o) continue ;; esac
	echo "== $(basename "$t")"
	"$t" >"$log" 2>&1 </dev/null
	rc=$?
	cat "$log"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -1)
	: "${p:=0}" "${f:=0}" "${s:=0}"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "!! $(basename "$t") exited with status $rc without a failure count"
		f=1
		failed_names="$failed_names $(basename "$t")(status $rc)"
	fi
	# cmocka lists each failed test as "[  FAILED  ] name"
	for n in $(sed -n 's/^\[  FAILED  \] \([A-Za-z_][A-Za-z0-9_]*\)$/\1/p' "$log" | sort -u); do
		failed_names="$failed_names $(basename "$t"):$n"
	done
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
