#!/bin/sh
# PID 1 of a vmtest VM, in the host's root (9p, read-only; tmpfs on /tmp
# and /run): mount what the tests need, load the modules they use, run each
# test command of /run/tp-vm/tests from the repository with a time limit,
# framing its output with marker lines on the console, and power off.
#
#   @@tp-vm begin NAME
#   ...output...
#   @@tp-vm end NAME rc=N
#   @@tp-vm done
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8
# shellcheck source=/dev/null
. /run/tp-vm/conf

poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger
	sleep 10 2>/dev/null
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mkdir -p /dev/pts /dev/shm /run/netns /run/lock
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /var/tmp 2>/dev/null
echo 1 >/proc/sys/kernel/sysrq
ip link set lo up
hostname tp-vm 2>/dev/null
# best effort: a module that is built in or missing is not an error here
for m in tun wireguard veth sch_ingress cls_bpf act_bpf nf_tables \
	nft_chain_nat nft_ct nf_nat nf_conntrack; do
	modprobe -q "$m" 2>/dev/null
done

echo "@@tp-vm kernel $(uname -r)"
cd "$TP_REPO" || { echo "@@tp-vm no repository $TP_REPO"; poweroff_now; }
while IFS= read -r cmd; do
	[ -n "$cmd" ] || continue
	name=${cmd%% *}
	name=${name##*/}
	echo "@@tp-vm begin $name"
	start=$(date +%s)
	# shellcheck disable=SC2086 # a command line with its arguments
	timeout -k 10 "$TP_TEST_TIMEOUT" $cmd </dev/null 2>&1
	rc=$?
	echo "@@tp-vm end $name rc=$rc secs=$(($(date +%s) - start))"
done </run/tp-vm/tests
echo "@@tp-vm done"
poweroff_now
