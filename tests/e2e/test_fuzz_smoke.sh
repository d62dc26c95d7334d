#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# A short run of every libFuzzer target (tests/fuzz/fuzz_NAME.c), one test
# each: build it (make), run it over its seeds (tests/fuzz/corpus/NAME),
# then 2000 inputs more from them.  `make fuzz` runs them at length.
# Prints cmocka-style results so tests/run.sh counts them; skipped when
# clang cannot build a libFuzzer program (libclang-rt-dev missing).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
RUNS=${FUZZ_SMOKE_RUNS:-2000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# shellcheck source=runner.sh
. "$ROOT/tests/e2e/runner.sh"


# The lines of a libFuzzer log that say what went wrong, and its reproducer.
show_failure() {
	grep -a -E 'runtime error|check failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|^SUMMARY|Test unit written' \
		"$1" | head -8 | cut -c1-300 | sed 's/^/   /'
}

fuzz_one() { # fuzz_one NAME
	local name=$1 bin=$BUILD/fuzz/fuzz_$1 dir=$TMP/$1
	mkdir -p "$dir/corpus" "$dir/artifacts"
	# outside any make that runs this test: no jobserver to inherit
	if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -C "$ROOT" --no-print-directory -j2 OUT="$BUILD" "$bin" >"$dir/build.log" 2>&1; then
		tail -15 "$dir/build.log" | sed 's/^/   /'
		fail "make $bin"
		return 1
	fi
	cp "$ROOT/tests/fuzz/corpus/$name"/* "$dir/corpus/"
	if ! "$bin" -runs=0 -seed=1 -timeout=25 -artifact_prefix="$dir/artifacts/" \
		"$dir/corpus" >"$dir/seeds.log" 2>&1; then
		show_failure "$dir/seeds.log"
		fail "a seed of tests/fuzz/corpus/$name fails"
		return 1
	fi
	if ! "$bin" -runs="$RUNS" -seed=1 -timeout=25 -artifact_prefix="$dir/artifacts/" \
		"$dir/corpus" >"$dir/runs.log" 2>&1; then
		show_failure "$dir/runs.log"
		fail "$RUNS runs from the seeds"
		return 1
	fi
	echo "   $(grep -a -E '^#[0-9]+[[:space:]]+DONE' "$dir/runs.log" | tail -1)"
}

# ---- runner ------------------------------------------------------------------

# shellcheck disable=SC2034 # skip_all (runner.sh) reads it
TESTS=()
for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
	f=${f##*/}
	TESTS+=("${f%.c}")
done

# clang with its libFuzzer and sanitizer runtimes, or nothing to run
CC_FUZZ=${FUZZ_CC:-clang}
command -v "$CC_FUZZ" >/dev/null || skip_all "$CC_FUZZ is not installed"
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' >"$TMP/probe.c"
"$CC_FUZZ" -fsanitize=fuzzer,address,undefined "$TMP/probe.c" -o "$TMP/probe" >"$TMP/probe.log" 2>&1 ||
	skip_all "$CC_FUZZ cannot link a libFuzzer program (clang's fuzzer runtime, libclang-rt-dev, missing?): $(head -1 "$TMP/probe.log")"

echo "[==========] Running ${#TESTS[@]} test(s)."
for t in "${TESTS[@]}"; do
	run_test_as "$t" fuzz_one "${t#fuzz_}"
done
summary
[ "$FAILED" = 0 ]
