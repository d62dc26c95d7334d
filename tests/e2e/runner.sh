# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# The runner the shell suites share (sourced), printing cmocka's lines so
# tests/run.sh counts them.  A test is a command whose status says:
# 0 passed, 77 skipped (the reason in $SKIP_REASON), anything else failed.
# A suite may define on_test_failed NAME to print more about a failure.

PASSED=0 FAILED=0 SKIPPED=0 FAILED_NAMES=() SKIPPED_NAMES=()

# run_test_as NAME COMMAND...: one test called NAME.
run_test_as() {
	local name=$1 rc
	shift
	SKIP_REASON=
	echo "[ RUN      ] $name"
	"$@"
	rc=$?
	if [ $rc = 0 ]; then
		echo "[       OK ] $name"
		PASSED=$((PASSED + 1))
	elif [ $rc = 77 ]; then
		echo "[  SKIPPED ] $name: $SKIP_REASON"
		SKIPPED=$((SKIPPED + 1))
		SKIPPED_NAMES+=("$name: $SKIP_REASON")
	else
		echo "[  FAILED  ] $name"
		FAILED=$((FAILED + 1))
		FAILED_NAMES+=("$name")
		if declare -F on_test_failed >/dev/null; then
			on_test_failed "$name"
		fi
	fi
}

# run_test NAME: the test that is the function NAME.
run_test() {
	run_test_as "$1" "$1"
}

summary() {
	echo "[==========] $((PASSED + FAILED + SKIPPED)) test(s) run."
	echo "[  PASSED  ] $PASSED test(s)."
	if [ "$SKIPPED" -gt 0 ]; then
		echo "[  SKIPPED ] $SKIPPED test(s), listed below:"
		printf '[  SKIPPED ] %s\n' "${SKIPPED_NAMES[@]}"
	fi
	if [ "$FAILED" -gt 0 ]; then
		echo "[  FAILED  ] $FAILED test(s), listed below:"
		printf '[  FAILED  ] %s\n' "${FAILED_NAMES[@]}"
	fi
}

# only_tests: E2E_ONLY="test_a test_b" narrows TESTS to those (debugging;
# in some suites later tests build on earlier ones).
only_tests() {
	[ -z "${E2E_ONLY:-}" ] || read -r -a TESTS <<<"$E2E_ONLY"
}

# run_all: every test named in the array TESTS, in order.
run_all() {
	local t
	only_tests
	echo "[==========] Running ${#TESTS[@]} test(s)."
	for t in "${TESTS[@]}"; do
		run_test "$t"
	done
}

# run_suite: run_all, the summary; fails when a test failed.
run_suite() {
	run_all
	summary
	[ "$FAILED" = 0 ]
}

# skip_all REASON: every test in TESTS skipped for REASON; exits 0.
skip_all() {
	local t
	only_tests
	echo "[==========] ${#TESTS[@]} test(s) run."
	echo "[  PASSED  ] 0 test(s)."
	echo "[  SKIPPED ] ${#TESTS[@]} test(s), listed below:"
	for t in "${TESTS[@]}"; do echo "[  SKIPPED ] $t: $1"; done
	exit 0
}

# fail MESSAGE: say why a test failed; returns 1 (test || fail "why" || return 1).
fail() {
	echo "   FAIL: $*"
	return 1
}
