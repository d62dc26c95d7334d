#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Run libFuzzer targets (make fuzz): tests/fuzz/run.sh OUT SECONDS NAME...
# Each OUT/fuzz/fuzz_NAME runs for SECONDS on OUT/fuzz/corpus/NAME, a copy
# of its seeds (tests/fuzz/corpus/NAME) that keeps what earlier runs found;
# the source tree is not written.  A crash, leak, timeout or sanitizer
# report fails the run, with the reproducer's path and how to replay it.
set -u
out=$1 secs=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=""
for name in "$@"; do
	bin=$out/fuzz/fuzz_$name
	corpus=$out/fuzz/corpus/$name
	art=$out/fuzz/artifacts/$name
	log=$out/fuzz/$name.log
	mkdir -p "$corpus" "$art"
	cp -n "$root/tests/fuzz/corpus/$name"/* "$corpus"/
	echo "== fuzz_$name, $secs s, corpus $corpus"
	"$bin" -max_total_time="$secs" -timeout=25 -print_final_stats=1 \
		-artifact_prefix="$art/" "$corpus" >"$log" 2>&1
	rc=$?
	grep -a -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1
	grep -a -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$log"
	[ "$rc" -eq 0 ] && continue
	repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
	grep -a -E 'runtime error|check failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|^SUMMARY' \
		"$log" | head -6 | cut -c1-300 | sed 's/^/   /'
	echo "!! fuzz_$name failed (status $rc); log: $log"
	echo "!! reproducer: ${repro:-none written}"
	[ -n "$repro" ] && echo "!! replay: $bin $repro"
	failed="$failed fuzz_$name"
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed"
	exit 1
fi
echo "fuzz: $# target(s), $secs s each, no crash"
