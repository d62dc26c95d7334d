#!/bin/sh
# Count a test program's results the way tests/run.sh does:
#   vmtests/cmocka-count.sh LOG RC
# prints "PASSED FAILED SKIPPED" from the last cmocka summary lines of LOG;
# a program that ended with a non-zero status RC without a failure count
# counts as one failure (and a note on stderr).
set -eu
log=$1 rc=$2
p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$log" | tail -1)
f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -1)
s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -1)
: "${p:=0}" "${f:=0}" "${s:=0}"
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
	echo "!! exited with status $rc without a failure count" >&2
	f=1
fi
echo "$p $f $s"
