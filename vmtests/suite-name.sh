# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=sh
#
# suite_name CMD: the name a test command line's results go under (its
# log and status files in the VM, its heading in the report): the
# program's file name, and when the line has arguments (a cmocka filter
# that runs part of a suite) "@" and the arguments, every character but
# letters, digits, "_", "." and "-" made "_", so that two parts of one
# suite, which two workers run at once, keep apart.  Sourced by
# vmtests/vmtest.sh on the host and vmtests/guest.sh in the VM.
suite_name() {
	sn=${1%% *}
	sn=${sn##*/}
	case "$1" in
	*" "*) sn="$sn@$(printf '%s' "${1#* }" | tr -c 'A-Za-z0-9_.-' '_')" ;;
	esac
	printf '%s\n' "$sn"
}
