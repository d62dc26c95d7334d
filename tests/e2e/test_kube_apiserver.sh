#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The test Kubernetes API server's self-test (tests/kube/test_apiserver.py):
# pagination and continue expiry, watch ordering, bookmarks, 410 after a
# compaction, token rotation, disconnects, injected 5xx/429, stalls, TLS
# against the test CA.  No namespaces, no root, no pins: only 127.0.0.1
# and ::1.  The Python test prints cmocka-style lines itself, so
# tests/run.sh counts them.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$ROOT/tests/kube/test_apiserver.py

# shellcheck source=runner.sh
. "$ROOT/tests/e2e/runner.sh"
# shellcheck disable=SC2034 # skip_all (runner.sh) reads it
TESTS=(test_apiserver.py)
command -v python3 >/dev/null || skip_all "python3 is not installed (make deps)"
command -v openssl >/dev/null || skip_all "openssl is not installed (make deps)"
exec python3 "$T" "$@"
