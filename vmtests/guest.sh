#!/bin/sh
# The test list of a vmtest VM, run as root inside it:
#
#   sh vmtests/guest.sh OUTDIR
#
# OUTDIR is the writable share of the host's $OUT/vm/<kernel>/out, holding
# the settings (conf) and the test commands (tests) the host wrote.  As PID
# 1 (the qemu runner's init switched to the host's root, read-only, with
# tmpfs on /tmp and /run and the checkout over a share of its own) it also
# mounts what the tests need and powers off at the end.  It loads the
# modules the tests use, runs the test commands from the repository,
# TP_JOBS at a time, each with a time limit, and writes every result to
# OUTDIR:
#
#   NAME.log      the command's output
#   NAME.rc       "RC SECS" once it has ended (missing: it never did)
#   kernel        uname -r
#   object.sha256 the BPF object the tests load, as the VM reads it
#   verifier.txt  verified instructions per program (vmtests/verifier.sh)
#   done          written last
#
# The console gets one line per event (@@tp-vm begin/end NAME, @@tp-vm
# done), so that a VM that dies shows how far it came.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8
OUTDIR=${1:-/run/tp-vm/out}
# shellcheck source=/dev/null
. "$OUTDIR/conf"

# PID 1 has no one to return to: it powers the VM off.  It must not
# return while the power-off runs (the kernel panics when init exits), and
# a program started after the trigger may fail to start (the root file
# system going away: status 126), so the waiting sleep is started before
# it, and a builtin loop holds PID 1 should that sleep end first.
poweroff_now() {
	sync
	[ "$$" = 1 ] || exit 0
	sleep 30 2>/dev/null &
	echo o >/proc/sysrq-trigger
	wait $!
	while :; do :; done
}

if [ "$$" = 1 ]; then
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
	mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
	mkdir -p /dev/pts /dev/shm
	mount -t devpts devpts /dev/pts 2>/dev/null
	mount -t tmpfs tmpfs /dev/shm
	mount -t tmpfs tmpfs /var/tmp 2>/dev/null
	echo 1 >/proc/sys/kernel/sysrq
	hostname tp-vm 2>/dev/null
fi
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf
mkdir -p /run/netns /run/lock /run/tp-vm/claim
ip link set lo up
# best effort: a module that is built in or missing is not an error here
for m in tun wireguard veth bridge sch_ingress cls_bpf act_bpf nf_tables \
	nft_chain_nat nft_ct nf_nat nf_conntrack; do
	modprobe -q "$m" 2>/dev/null
done
# the end-to-end suite builds its tunnels on kernel WireGuard here, so that
# the loader's generic-netlink sync runs against the real thing
if [ -d /sys/module/wireguard ]; then
	export E2E_WG=kernel
	# under TCG, kernel WireGuard's crypto for the restart test's 50
	# connections starves the loader's restarts for minutes each: 10 keep
	# the test (conntrack, no TCP error, no UDP loss across kill -9,
	# restart, upgrade, SIGHUP) and its time
	export E2E_LOAD_CONNS="${E2E_LOAD_CONNS:-10}"
else
	echo "@@tp-vm no wireguard module: the end-to-end suite uses wireguard-go"
fi
export BUILD="$TP_BUILD"
# a loader start is the verifier's load of the object: 10-20 s under TCG
# on a quiet machine, far more beside other builds
export E2E_START_SECS="${E2E_START_SECS:-300}"
[ -z "${E2E_ONLY:-}" ] || export E2E_ONLY

uname -r >"$OUTDIR/kernel"
echo "@@tp-vm kernel $(uname -r) cpus $(nproc)"
cd "$TP_REPO" || { echo "@@tp-vm no repository $TP_REPO"; poweroff_now; }
# suite_name
# shellcheck source=vmtests/suite-name.sh
. "$TP_REPO/vmtests/suite-name.sh"
# which object the VM loads: the host compares it with the one it built
sha256sum "$TP_BUILD/tailplane.bpf.o" >"$OUTDIR/object.sha256" 2>&1

# run_one CMD: a test command, its output and status into $OUTDIR
run_one() {
	cmd=$1
	name=$(suite_name "$cmd")
	echo "@@tp-vm begin $name"
	start=$(date +%s)
	# a command line with its arguments, split but never globbed (a
	# cmocka filter's "*" is the program's)
	set -f
	# shellcheck disable=SC2086
	timeout -k 10 "$TP_TEST_TIMEOUT" $cmd </dev/null >"$OUTDIR/$name.log" 2>&1
	rc=$?
	set +f
	secs=$(($(date +%s) - start))
	echo "$rc $secs" >"$OUTDIR/$name.rc"
	echo "@@tp-vm end $name rc=$rc secs=$secs"
}

# The verifier's counts: deterministic, so they may share the CPUs with
# a suite; they run on the first worker that runs out of suites.
verifier() {
	echo "@@tp-vm begin verifier"
	timeout -k 10 "$TP_TEST_TIMEOUT" sh "$TP_REPO/vmtests/verifier.sh" \
		"$TP_BUILD" >"$OUTDIR/verifier.txt" 2>"$OUTDIR/verifier.err"
	echo "$?" >"$OUTDIR/verifier.rc"
	echo "@@tp-vm end verifier rc=$(cat "$OUTDIR/verifier.rc")"
}

# worker: take each test nobody has taken yet (mkdir is atomic: the first
# worker to make claim/N runs test N), in list order, so the longest
# suites, listed first, start first; then the verifier's counts
worker() {
	i=0
	while IFS= read -r cmd; do
		[ -n "$cmd" ] || continue
		i=$((i + 1))
		mkdir "/run/tp-vm/claim/$i" 2>/dev/null || continue
		run_one "$cmd"
	done <"$OUTDIR/tests"
	if [ "${TP_VERIFIER:-1}" = 1 ] && mkdir /run/tp-vm/claim/verifier 2>/dev/null; then
		verifier
	fi
}

w=0
while [ "$w" -lt "$TP_JOBS" ]; do
	worker &
	w=$((w + 1))
done
wait
echo ok >"$OUTDIR/done"
echo "@@tp-vm done"
poweroff_now
