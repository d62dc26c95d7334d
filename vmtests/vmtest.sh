#!/bin/sh
# Run test suites inside VMs on other kernels: qemu (TCG), a busybox
# initramfs built here, and the host's root shared read-only over 9p.
#
#   vmtests/vmtest.sh [TEST-COMMAND...]
#
# Each TEST-COMMAND is a command line, relative to the repository, run as
# root in the VM (default: VM_TESTS below).  Prints every suite's output
# and ends with one line "N passed, N failed, N skipped" (cmocka summaries,
# counted as tests/run.sh does); the exit status is 0 when nothing failed.
#
# Environment:
#   VM_KERNELS  kernels to boot: a version prefix ("6.1": the newest
#               /boot/vmlinuz-6.1.* by version) or a path to a vmlinuz;
#               default "6.1"
#   VM_TIMEOUT  time limit of one VM boot, seconds (default 1800)
#   VM_TEST_TIMEOUT  time limit of one suite inside the VM (default 600)
#   VM_E2E      0: leave tests/e2e/test_e2e.sh out (default 1)
#   VM_TESTS    the test command lines, one a line (overrides the default)
#   VM_SMP, VM_MEM   CPUs (default: the host's, at most 4) and memory (2G)
#   OUT         the build directory (default build); the VM files go to
#               $OUT/vm/<kernel version>/
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
OUT=${OUT:-build}
VM_KERNELS=${VM_KERNELS:-6.1}
VM_TIMEOUT=${VM_TIMEOUT:-1800}
VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-600}
VM_MEM=${VM_MEM:-2G}
if [ -z "${VM_SMP:-}" ]; then
	VM_SMP=$(nproc)
	[ "$VM_SMP" -le 4 ] || VM_SMP=4
fi
QEMU=${QEMU:-qemu-system-x86_64}
BUSYBOX=${BUSYBOX:-/bin/busybox}
# modules the initramfs loads to mount the host root; the rest the VM
# loads with the host's modprobe once it runs in the host's root
BOOT_MODULES="virtio_pci 9pnet_virtio 9p"

default_tests="$OUT/tests/test_datapath
$OUT/tests/test_guard
$OUT/tests/test_snat
$OUT/tests/test_attacks_snat
$OUT/tests/test_policy
$OUT/tests/test_loader
$OUT/tests/test_peers
$OUT/tests/test_peers_live
$OUT/tests/test_wg_genl_live"
# the netns end-to-end suite too (wireguard-go, tailplaned; about 75 s)
[ "${VM_E2E:-1}" = 0 ] || default_tests="$default_tests
tests/e2e/test_e2e.sh"
if [ $# -gt 0 ]; then
	tests=$(printf '%s\n' "$@")
else
	tests=${VM_TESTS:-$default_tests}
fi

passed=0 failed=0 skipped=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

add_counts() {
	# shellcheck disable=SC2086 # three numbers
	set -- $1
	passed=$((passed + $1)) failed=$((failed + $2)) skipped=$((skipped + $3))
}

# Report every suite as skipped (one test each) with the reason.
skip_all() {
	echo "!! vmtest $1: skipped: $2"
	for cmd in $(printf '%s\n' "$tests" | sed 's/ .*//'); do
		echo "== ${cmd##*/} (VM $1): skipped: $2"
		skipped=$((skipped + 1))
	done
}

# The vmlinuz of a VM_KERNELS word, or nothing.
find_kernel() {
	case "$1" in
	/*) [ -f "$1" ] && echo "$1" ;;
	*)
		# shellcheck disable=SC2012 # version sort of our own file names
		ls -v /boot/vmlinuz-"$1".* 2>/dev/null | tail -1
		;;
	esac
}

# Copy module $1 of kernel $ver and, before it, its dependencies into
# $root/modules, appending the file names to $root/modules/order.
add_module() {
	case " $seen " in *" $1 "*) return 0 ;; esac
	seen="$seen $1"
	path=$(modinfo -k "$ver" -n "$1" 2>/dev/null) || {
		echo "vmtest: module $1 not found for $ver" >&2
		return 1
	}
	case "$path" in "(builtin)"* | "") return 0 ;; esac
	for dep in $(modinfo -k "$ver" -F depends "$1" | tr ',' ' '); do
		add_module "$dep" || return 1
	done
	path=$(modinfo -k "$ver" -n "$1") || return 1
	file=${path##*/}
	case "$file" in
	*.ko.xz) file=${file%.xz}; xz -dc "$path" >"$root/modules/$file" ;;
	*.ko.zst) file=${file%.zst}; zstd -qdc "$path" >"$root/modules/$file" ;;
	*.ko.gz) file=${file%.gz}; gzip -dc "$path" >"$root/modules/$file" ;;
	*) cp "$path" "$root/modules/$file" ;;
	esac || return 1
	echo "$file" >>"$root/modules/order"
}

# Build $vmdir/initramfs.cpio.gz for kernel $ver.
build_initramfs() {
	root=$vmdir/root
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/modules" &&
		cp "$BUSYBOX" "$root/bin/busybox" &&
		cp vmtests/init "$root/init" &&
		chmod 0755 "$root/init" &&
		: >"$root/modules/order" || return 1
	seen=""
	for m in $BOOT_MODULES; do
		add_module "$m" || return 1
	done
	printf 'TP_REPO=%s\nTP_TEST_TIMEOUT=%s\n' "'$repo'" "$VM_TEST_TIMEOUT" \
		>"$root/tp-vm.conf"
	printf '%s\n' "$tests" >"$root/tp-vm.tests" || return 1
	(cd "$root" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc) \
		>"$vmdir/initramfs.cpio" 2>"$vmdir/cpio.log" || return 1
	gzip -1f "$vmdir/initramfs.cpio"
}

# Print and count the suites of console log $1 of the VM for $ver.
parse_console() {
	log=$tmp/console
	tr -d '\r' <"$1" >"$log"
	kernel=$(sed -n 's/.*@@tp-vm kernel \(.*\)/\1/p' "$log" | head -1)
	if [ -z "$kernel" ]; then
		echo "!! vmtest $ver: the VM never ran the tests; its console:"
		tail -40 "$log"
		failed=$((failed + 1))
		return
	fi
	for cmd in $(printf '%s\n' "$tests" | sed 's/ .*//'); do
		name=${cmd##*/}
		echo "== $name (VM $kernel)"
		sed -n "/@@tp-vm begin $name\$/,/@@tp-vm end $name /p" "$log" |
			sed '1d' >"$tmp/suite"
		end=$(sed -n "s/.*@@tp-vm end $name rc=\([0-9]*\) secs=\([0-9]*\)/\1 \2/p" \
			"$tmp/suite")
		sed -e '$d' "$tmp/suite" >"$tmp/out"
		if [ -z "$end" ]; then
			if grep -q "@@tp-vm begin $name\$" "$log"; then
				cat "$tmp/suite"
				echo "!! $name did not finish in the VM (crash or time limit)"
			else
				echo "!! $name did not run in the VM"
			fi
			failed=$((failed + 1))
			continue
		fi
		cat "$tmp/out"
		rc=${end% *}
		echo "-- $name: exit status $rc, ${end#* } s"
		add_counts "$(vmtests/cmocka-count.sh "$tmp/out" "$rc")"
	done
	grep -q '@@tp-vm done' "$log" ||
		echo "!! vmtest $ver: the VM did not finish its test list"
}

run_vm() {
	kernel=$(find_kernel "$1")
	if [ -z "$kernel" ]; then
		skip_all "$1" "no kernel /boot/vmlinuz-$1.* (make vmdeps installs linux-image-amd64)"
		return
	fi
	ver=${kernel##*/vmlinuz-}
	if [ "$ver" = "$(uname -r)" ]; then
		skip_all "$ver" "the running kernel does not boot under qemu here"
		return
	fi
	if ! command -v "$QEMU" >/dev/null; then
		skip_all "$ver" "$QEMU is not installed (make vmdeps)"
		return
	fi
	if ! "$BUSYBOX" --list 2>/dev/null | grep -qx switch_root; then
		skip_all "$ver" "no busybox at $BUSYBOX (make vmdeps: busybox-static)"
		return
	fi
	if [ ! -d "/lib/modules/$ver" ]; then
		skip_all "$ver" "no /lib/modules/$ver"
		return
	fi
	vmdir=$OUT/vm/$ver
	mkdir -p "$vmdir"
	if ! build_initramfs; then
		skip_all "$ver" "could not build the initramfs"
		return
	fi
	echo "vmtest: booting $kernel (qemu TCG, $VM_SMP CPUs, $VM_MEM, limit $VM_TIMEOUT s)"
	start=$(date +%s)
	rc=0
	timeout -k 10 "$VM_TIMEOUT" "$QEMU" -accel tcg -cpu max -smp "$VM_SMP" \
		-m "$VM_MEM" -nographic -no-reboot \
		-kernel "$kernel" -initrd "$vmdir/initramfs.cpio.gz" \
		-append "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic" \
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
		-nic none </dev/null >"$vmdir/console.log" 2>&1 || rc=$?
	secs=$(($(date +%s) - start))
	echo "vmtest: $ver: VM ran $secs s (qemu status $rc); console in $vmdir/console.log"
	[ "$rc" -ne 124 ] || echo "!! vmtest $ver: the VM hit its time limit of $VM_TIMEOUT s"
	parse_console "$vmdir/console.log"
}

for k in $VM_KERNELS; do
	run_vm "$k"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
