#!/bin/sh
# Run test suites inside VMs on other kernels: qemu (TCG), a busybox
# initramfs built here, the host's root shared read-only over 9p, the
# checkout (and the build directory) over shares of their own, and a
# writable share for the results.
#
#   vmtests/vmtest.sh [TEST-COMMAND...]
#
# Each TEST-COMMAND is a command line, relative to the repository, run as
# root in the VM (default: VM_TESTS below), VM_JOBS at a time.  Prints
# every suite's output, the verifier's instruction counts per program, a
# line per kernel, and ends with one line "N passed, N failed, N skipped"
# (cmocka summaries, counted as tests/run.sh does); the exit status is 0
# when nothing failed.  A suite without its result file (a panic, a hang,
# a crash) is a failure.
#
# Environment:
#   VM_KERNELS  kernels to boot: a version prefix ("6.1": the newest
#               /boot/vmlinuz-6.1.* by version) or a path to a vmlinuz
#               (its modules in /lib/modules/VERSION); default "6.1"
#   VM_TIMEOUT  time limit of one VM boot, seconds (default 3000: about
#               1,000 s quiet, and twice that beside other work)
#   VM_TEST_TIMEOUT  time limit of one suite inside the VM (default 1200)
#   VM_E2E      0: leave tests/e2e/test_e2e.sh out (default 1)
#   VM_TESTS    the test command lines, one a line (overrides the default)
#   E2E_ONLY    passed to the end-to-end suite: just those tests
#   VM_VERIFIER 0: skip the verifier statistics (default 1)
#   VM_SMP, VM_MEM   CPUs (default: the host's, at most 4) and memory (2G)
#   VM_JOBS     suites run at once in the VM (default VM_SMP)
#   OUT         the build directory (default build); the VM files go to
#               $OUT/vm/<kernel version>/, results in its out/, and the
#               verifier's counts of the run to $OUT/vm/verifier.txt
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
OUT=${OUT:-build}
mkdir -p "$OUT/vm"
OUT_ABS=$(cd "$OUT" && pwd)
VM_KERNELS=${VM_KERNELS:-6.1}
VM_TIMEOUT=${VM_TIMEOUT:-3000}
VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-1200}
VM_VERIFIER=${VM_VERIFIER:-1}
VM_MEM=${VM_MEM:-2G}
if [ -z "${VM_SMP:-}" ]; then
	VM_SMP=$(nproc)
	[ "$VM_SMP" -le 4 ] || VM_SMP=4
fi
VM_JOBS=${VM_JOBS:-$VM_SMP}
QEMU=${QEMU:-qemu-system-x86_64}
BUSYBOX=${BUSYBOX:-/bin/busybox}
# modules the initramfs loads to mount the host root; the rest the VM
# loads with the host's modprobe once it runs in the host's root
BOOT_MODULES="virtio_pci 9pnet_virtio 9p"

# longest first: the VM's workers take them in this order.  A command
# line may carry arguments: test_loader takes the pattern of the tests to
# run ("-": all) and patterns of tests to leave out, so that its parts,
# 240-340 s each on a quiet machine, run on both workers (whole, it ran
# past the suite limit of 1200 s on a loaded one).  test_attacks_loader's
# conntrack tests: the tables inside an array of maps are compared by
# 6.1's bpf_map_meta_equal(), which later kernels relax (the whole suite,
# 25 verifier runs, takes 710 s under TCG).
first_tests="$OUT/tests/test_loader test_pins_*
$OUT/tests/test_loader - test_pins_* test_sync_static_fresh_*
$OUT/tests/test_loader test_sync_static_fresh_*"
rest_tests="$OUT/tests/test_policy
$OUT/tests/test_datapath
$OUT/tests/test_attacks_loader test_fault_ct_*
$OUT/tests/test_snat
$OUT/tests/test_attacks_snat
$OUT/tests/test_static_nat
$OUT/tests/test_masq
$OUT/tests/test_attacks_masq
$OUT/tests/test_xtailnet
$OUT/tests/test_guard
$OUT/tests/test_wg_genl_live
$OUT/tests/test_peers_live
$OUT/tests/test_peers"
default_tests="$first_tests
$rest_tests"
# the netns end-to-end suite too, on kernel WireGuard in the VM
[ "${VM_E2E:-1}" = 0 ] || default_tests="$first_tests
tests/e2e/test_e2e.sh
$rest_tests"
# suite_name
# shellcheck source=vmtests/suite-name.sh
. vmtests/suite-name.sh
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
	while IFS= read -r cmd; do
		[ -n "$cmd" ] || continue
		echo "== $(suite_name "$cmd") (VM $1): skipped: $2"
		skipped=$((skipped + 1))
	done <<EOF
$tests
EOF
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

# The guest's settings, sourced by vmtests/init and vmtests/guest.sh.
write_conf() {
	printf "TP_REPO='%s'\nTP_BUILD='%s'\nTP_BUILD_SHARED=%s\n" \
		"$repo" "$OUT_ABS" "$build_shared"
	printf 'TP_TEST_TIMEOUT=%s\nTP_JOBS=%s\nTP_VERIFIER=%s\n' \
		"$VM_TEST_TIMEOUT" "$VM_JOBS" "$VM_VERIFIER"
	[ -z "${E2E_ONLY:-}" ] || printf "E2E_ONLY='%s'\n" "$E2E_ONLY"
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
	write_conf >"$root/tp-vm.conf" || return 1
	(cd "$root" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc) \
		>"$vmdir/initramfs.cpio" 2>"$vmdir/cpio.log" || return 1
	gzip -1f "$vmdir/initramfs.cpio"
}

# Print and count the suites of the VM for $ver from its results
# directory $vmdir/out, its console $1 and qemu's status $2.  A suite
# without a result file failed, whatever the reason; the console says why
# (a panic, the time limit, a VM that never ran the tests).
parse_results() {
	out=$vmdir/out
	log=$tmp/console
	tr -d '\r' <"$1" >"$log"
	p0=$passed f0=$failed s0=$skipped
	kernel=$(cat "$out/kernel" 2>/dev/null || true)
	if grep -q 'Kernel panic' "$log"; then
		echo "!! vmtest $ver: kernel panic: $(grep -m1 'Kernel panic' "$log")"
		grep -B30 -m1 'Kernel panic' "$log" | tail -30
	fi
	[ "$2" -ne 124 ] || echo "!! vmtest $ver: the VM hit its time limit of $VM_TIMEOUT s"
	if [ -z "$kernel" ]; then
		echo "!! vmtest $ver: the VM never ran the tests (no result file); its console:"
		tail -40 "$log"
		failed=$((failed + 1))
	else
		while IFS= read -r cmd; do
			[ -n "$cmd" ] || continue
			name=$(suite_name "$cmd")
			echo "== $name (VM $kernel)"
			if [ ! -f "$out/$name.rc" ]; then
				cat "$out/$name.log" 2>/dev/null
				if [ -f "$out/$name.log" ]; then
					echo "!! $name: no result file: it did not finish in the VM (crash or time limit)"
				else
					echo "!! $name: no result file: it did not run in the VM"
				fi
				failed=$((failed + 1))
				continue
			fi
			cat "$out/$name.log"
			read -r rc secs <"$out/$name.rc"
			echo "-- $name: exit status $rc, $secs s"
			add_counts "$(vmtests/cmocka-count.sh "$out/$name.log" "$rc")"
		done <<EOF
$tests
EOF
		check_object
		check_verifier
	fi
	[ -f "$out/done" ] ||
		{ echo "!! vmtest $ver: the VM did not finish its test list"; failed=$((failed + 1)); }
	echo "vmtest $ver: $((passed - p0)) passed, $((failed - f0)) failed, $((skipped - s0)) skipped ($secs_vm s)"
}

# The object the VM loaded is the one built here: same SHA-256.
check_object() {
	want=$(sha256sum <"$OUT/tailplane.bpf.o" | cut -d' ' -f1)
	got=$(cut -d' ' -f1 "$out/object.sha256" 2>/dev/null || true)
	if [ "$got" = "$want" ]; then
		echo "vmtest $ver: the VM loaded the object built here (sha256 $want)"
	else
		echo "!! vmtest $ver: the VM's tailplane.bpf.o is not the one built here" \
			"(sha256 ${got:-none} in the VM, $want here)"
		failed=$((failed + 1))
	fi
}

# The verifier's counts: printed, kept in $OUT/vm/verifier.txt per kernel.
check_verifier() {
	[ "$VM_VERIFIER" = 1 ] || return 0
	rc=$(cat "$out/verifier.rc" 2>/dev/null || echo none)
	if [ "$rc" != 0 ] || ! grep -q '^verified ' "$out/verifier.txt"; then
		echo "!! vmtest $ver: no verifier statistics (status $rc):"
		cat "$out/verifier.err" "$out/verifier.txt" 2>/dev/null | tail -20
		failed=$((failed + 1))
		return
	fi
	echo "== verifier (VM $kernel): processed instructions per program (limit 1000000)"
	sed 's/^verified //' "$out/verifier.txt" | while read -r prog insns bytes; do
		printf '   %-20s %8s insns  %7s bytes xlated\n' "$prog" "$insns" "$bytes"
		printf '%s %s %s %s\n' "$kernel" "$prog" "$insns" "$bytes" >>"$OUT/vm/verifier.txt"
	done
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
	# results of an earlier run must not pass for this one's
	rm -rf "$vmdir/out"
	mkdir -p "$vmdir/out"
	write_conf >"$vmdir/out/conf"
	printf '%s\n' "$tests" >"$vmdir/out/tests"
	if ! build_initramfs; then
		skip_all "$ver" "could not build the initramfs"
		return
	fi
	# the build directory needs a share of its own when it is not in the
	# checkout (OUT=/elsewhere)
	build_share=""
	if [ "$build_shared" = 1 ]; then
		build_share="-virtfs local,path=$OUT_ABS,mount_tag=tpbuild,security_model=none,readonly=on,multidevs=remap"
	fi
	echo "vmtest: booting $kernel (qemu TCG, $VM_SMP CPUs, $VM_JOBS suites at once, $VM_MEM, limit $VM_TIMEOUT s)"
	start=$(date +%s)
	rc=0
	# shellcheck disable=SC2086 # $build_share: none or one option and its value
	timeout -k 10 "$VM_TIMEOUT" "$QEMU" -accel tcg,thread=multi -cpu max \
		-smp "$VM_SMP" -m "$VM_MEM" -nographic -no-reboot \
		-kernel "$kernel" -initrd "$vmdir/initramfs.cpio.gz" \
		-append "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic" \
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$repo,mount_tag=tprepo,security_model=none,readonly=on,multidevs=remap" \
		$build_share \
		-virtfs "local,path=$OUT_ABS/vm/$ver/out,mount_tag=tpout,security_model=none,multidevs=remap" \
		-nic none </dev/null >"$vmdir/console.log" 2>&1 || rc=$?
	secs_vm=$(($(date +%s) - start))
	echo "vmtest: $ver: VM ran $secs_vm s (qemu status $rc); console in $vmdir/console.log"
	parse_results "$vmdir/console.log" "$rc"
}

# the build directory is in the checkout's share, or needs its own
case "$OUT_ABS/" in
"$repo"/*) build_shared=0 ;;
*) build_shared=1 ;;
esac
: >"$OUT/vm/verifier.txt"
for k in $VM_KERNELS; do
	run_vm "$k"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
