#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# make bench, against kube-proxy: one IPv4 ClusterIP path, client ns ->
# node ns -> backend ns, served in turn by kube-proxy's iptables shape,
# its nftables shape and tailplane, with 10, 1k and 10k services in the
# tables (bench/kpgen.c writes all three).  Beside them, as a reference,
# "direct": the same namespaces, veths, client and backend with nothing
# in the node but routing (no rules, no program, no conntrack), the
# client connecting to a backend's address: no translation at all, so its
# rate is the ceiling any ClusterIP path can reach here, measured at each
# size in the same rounds as the others (its figures cannot depend on N:
# their spread is the machine's load).  Per contender and size:
#   crr      new TCP connections per second through the ClusterIP
#   rr       request/response latency on one connection, p50 and p99
#   crr_of_direct, rr_p50_of_direct
#            each contender against direct, round by round: its crr
#            over direct's, direct's rr p50 over its own (1: the
#            translation costs nothing on this path)
#   iperf    one-flow iperf3 throughput through the ClusterIP
#   crr_prog_*
#            tailplane's programs during one more crr run with
#            kernel.bpf_stats_enabled on (off during the measured runs:
#            it adds two clock reads a packet): ns a packet per hook,
#            ns a connection for both, and that time's share of the CPU
#            time a connection took (CPUs / rate): what the programs cost
#            in real traffic, where the rest of the stack runs between two
#            packets of a flow and leaves little of their code and data
#            in the CPU's own caches (bench_prog's _l2cold rows; its hot
#            single runs are several times cheaper)
#   rr_prog_*
#            the same during one more rr run: ns a packet per hook on one
#            established connection, without the handshakes and closes
#   add1     time to add one service with N present (iptables-restore
#            --noflush with kube-proxy's partial sync, and with the least
#            input; nft -f; tpctl batch)
#   sync     time to write all N from nothing (iptables-restore, nft -f,
#            tpctl batch into freshly loaded maps)
# and, for tailplane's loader: cold start (load, attach, sync N from a
# config) and restart (pins kept) of tailplaned --once, with its peak RSS;
# then the memory the kernel accounts per service, backend, flow,
# identity and rule, beside nf_conntrack's object size.
#
# The tailnet side is a plain veth from the client ns, not a wireguard-go
# tunnel: userspace WireGuard (about a Gbit/s and tens of us a packet here)
# would dominate every figure and hide the difference being measured.
# tailplane is attached where the client's packets enter the node (tcx
# ingress and egress of tpb-nc, as a tailnet interface with an Ethernet
# header).  Nothing is sent from the root namespace; every namespace and
# process made here is removed on exit, failure included.
#
# Every figure: median of RUNS runs with min and max, contenders measured
# one after the other in the same run.  Ratios are tailplane's advantage:
# for rates, tailplane / contender; for times, contender / tailplane
# (none for direct's rows and the _of_direct ones).
#
# Usage: bench/kubeproxy.sh [-q] OUT_DIR BUILD_DIR   (-q: QUICK)
set -eu
# a failing command inside $(...) fails the script too
shopt -s inherit_errexit

# bench_args, in_ns, spawn, stop_pid, stats, prog_stats, now_us, json_append
# shellcheck source=bench/common.sh
. "$(dirname "$0")"/common.sh
bench_args "$@"

RUNS=5
# direct first in each round: the ceiling the others are taken against
WHOS="direct iptables nftables tailplane"
NS_C= NS_N= NS_B= # the namespaces of the contender in use (use_ns)
declare -A SERVER # connbench server pid per contender
PIN=/sys/fs/bpf/tpb-bench
SVC_PORT=80
POD_PORT=8080
TMP=
PIDS=""
STATS_WAS= # kernel.bpf_stats_enabled before crr_prog_cost turned it on
CRR_OUT=   # crr_once's connbench line

if [ $QUICK = 1 ]; then
	SIZES="10 1000"
	CRR_SECS=0.5 CRR_MAX=8000 RR_COUNT=1000 IPERF_SECS=1 IPERF_SIZES="10"
else
	SIZES="10 1000 10000"
	CRR_SECS=2 CRR_MAX=30000 RR_COUNT=5000 IPERF_SECS=2 IPERF_SIZES="10 10000"
fi
CRR_PAR=16
# kube-proxy runs either iptables backend.  iptables-nft 1.8.9 (bookworm's
# default) took 1.8 s to restore the 1k-service ruleset and had not
# finished the 10k one after 13 minutes here; the legacy backend restores
# it in seconds, so the iptables rows are iptables-legacy's.
IPT=iptables-legacy
# for trying the script out only: figures need RUNS >= 5 and every size
SIZES=${TPB_SIZES:-$SIZES}
RUNS=${TPB_RUNS:-$RUNS}

START=$SECONDS
log() { printf 'kubeproxy: %3ds %s\n' $((SECONDS - START)) "$*" >&2; }

cleanup() {
	local p
	set +e
	for p in $PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	PIDS=""
	[ -n "$STATS_WAS" ] && sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	if [ -d "$PIN" ]; then
		"$BUILD"/tailplaned --pin-root "$PIN" --detach --purge >/dev/null 2>&1
	fi
	teardown_netns
	[ -n "$TMP" ] && rm -rf "$TMP"
}

# use_ns WHO: the client, node and backend namespaces of one contender;
# each has its own three, all there at once, so their runs can alternate
use_ns() {
	NS_C=tpb-$1-c NS_N=tpb-$1-n NS_B=tpb-$1-b
}

MADE_NS="" # the namespaces this run made: the only ones it removes
teardown_netns() {
	local ns
	for ns in $MADE_NS; do
		ip netns del "$ns" 2>/dev/null || true
	done
	MADE_NS=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_netns() {
	local ns
	for ns in $NS_C $NS_N $NS_B; do
		if ip netns list | grep -qw "$ns"; then
			log "namespace $ns exists already (another run?): refusing"
			exit 1
		fi
	done
	for ns in $NS_C $NS_N $NS_B; do
		ip netns add "$ns"
		MADE_NS="$MADE_NS $ns"
		in_ns "$ns" ip link set lo up
	done
	# client <-> node: the node's end is the "tailnet" interface
	ip link add tpb-cl0 netns $NS_C type veth peer name tpb-nc netns $NS_N
	ip link add tpb-be0 netns $NS_B type veth peer name tpb-nb netns $NS_N
	in_ns $NS_C ip addr add 100.64.0.2/30 dev tpb-cl0
	in_ns $NS_C ip link set tpb-cl0 up
	in_ns $NS_C ip route add default via 100.64.0.1
	# the client's sources: a /22 of local addresses, 58,976 tuples each
	in_ns $NS_C ip route add local 100.64.4.0/22 dev lo
	in_ns $NS_N ip addr add 100.64.0.1/30 dev tpb-nc
	in_ns $NS_N ip addr add 198.18.0.1/24 dev tpb-nb
	in_ns $NS_N ip link set tpb-nc up
	in_ns $NS_N ip link set tpb-nb up
	in_ns $NS_N ip route add 100.64.0.0/10 via 100.64.0.2
	in_ns $NS_N ip route add 198.18.1.0/24 via 198.18.0.2
	in_ns $NS_N sysctl -qw net.ipv4.ip_forward=1
	in_ns $NS_N sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	in_ns $NS_B ip addr add 198.18.0.2/24 dev tpb-be0
	in_ns $NS_B ip addr add 198.18.1.1/32 dev tpb-be0
	in_ns $NS_B ip addr add 198.18.1.2/32 dev tpb-be0
	in_ns $NS_B ip link set tpb-be0 up
	in_ns $NS_B ip route add default via 198.18.0.1
	# each crr run leaves its connections in TIME_WAIT on tuples it does
	# not reuse; let them go quietly
	in_ns $NS_C sysctl -qw net.ipv4.tcp_max_tw_buckets=1048576
	# ephemeral ports above connbench crr's bound ones (see connbench.c)
	in_ns $NS_C sysctl -qw net.ipv4.ip_local_port_range="60000 65535"
	in_ns $NS_B sysctl -qw net.core.somaxconn=4096
}

# wait_listen PORT: until something listens on PORT in the backend ns
# (a loaded machine can take a while to start a server), at most 10 s
wait_listen() {
	local i
	for i in $(seq 100); do
		if in_ns $NS_B ss -Hltn "sport = :$1" | grep -q .; then
			return 0
		fi
		sleep 0.1
	done
	log "nothing listens on port $1 in $NS_B"
	exit 1
}

# start_server WHO
start_server() {
	spawn $NS_B "$BUILD"/bench/connbench serve $POD_PORT
	SERVER[$1]=$LAST_PID
	wait_listen $POD_PORT
}

# ---- figures -----------------------------------------------------------------

ROWS= # one figure a line: name min median max unit

# time_ms CMD... or time_ms in_ns NS CMD...: the wall time of one command
# in ms, from its spawn to its exit (bench/spawntime.c: bash's fork, about
# a millisecond, and nsenter's exec are not in it, for every contender
# alike); the command's output goes to /dev/null
time_ms() {
	if [ "$1" = in_ns ]; then
		"$BUILD"/bench/spawntime -n "$2" "${@:3}"
	else
		"$BUILD"/bench/spawntime "$@"
	fi
}

TUPLE=0 # next source tuple of the client: never reused within a run

# dst_of WHO: "HOST PORT" the client connects to: the ClusterIP, or for
# direct the first backend itself (both backends are addresses of the one
# backend namespace: either is the same path)
dst_of() {
	if [ "$1" = direct ]; then
		echo "198.18.1.1 $POD_PORT"
	else
		echo "$VIP_M $SVC_PORT"
	fi
}

# of_direct NAME A B: row NAME, round by round A's figure over B's (A and
# B space-separated, in round order; a round measures every contender
# back to back, so each pair shares the load the machine had then)
of_direct() {
	# shellcheck disable=SC2046
	stats "$1" "fraction" $(awk -v a="$2" -v b="$3" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++)
			if (y[i] > 0)
				printf "%.4f\n", x[i] / y[i]
	}')
}

# crr_once N WHO: one crr run through WHO's path, its connbench line in
# CRR_OUT ("conns C failed F secs S rate R next T"); TUPLE moves past the
# tuples it used (set here, not in a subshell)
crr_once() {
	local dst
	use_ns "$2"
	dst=$(dst_of "$2")
	CRR_OUT=$(in_ns $NS_C "$BUILD"/bench/connbench crr "${dst% *}:${dst#* }" 100.64.4.0 16 \
		"$TUPLE" $CRR_MAX $CRR_SECS $CRR_PAR) || {
		log "$2@$1: crr failed: $CRR_OUT"
		exit 1
	}
	TUPLE=$(echo "$CRR_OUT" | awk '{ print $10 }')
}

# crr_prog_cost N: one more crr run through tailplane with
# kernel.bpf_stats_enabled on, its programs' run_time_ns and run_cnt
# before and after (the links tailplaned pinned for tpb-nc)
crr_prog_cost() {
	local n=$1 conns rate in0 eg0 in1 eg1 ns_conn
	STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
	in0=$(prog_stats "$PIN/links/tpb-nc-ingress")
	eg0=$(prog_stats "$PIN/links/tpb-nc-egress")
	crr_once "$n" tailplane
	in1=$(prog_stats "$PIN/links/tpb-nc-ingress")
	eg1=$(prog_stats "$PIN/links/tpb-nc-egress")
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	STATS_WAS=""
	conns=$(echo "$CRR_OUT" | awk '{ print $2 }')
	rate=$(echo "$CRR_OUT" | awk '{ print $8 }')
	# shellcheck disable=SC2086
	set -- $in0 $in1 $eg0 $eg1
	if [ $(($4 - $2)) -le 0 ] || [ $(($8 - $6)) -le 0 ] || [ "${conns:-0}" -le 0 ]; then
		log "tailplane@$n: no program statistics ($in0 -> $in1, $eg0 -> $eg1, $conns connections)"
		return 0
	fi
	log "stats run: $rate conn/s; ingress $in0 -> $in1, egress $eg0 -> $eg1"
	stats "crr_prog_ns_ingress@${n}s:tailplane" "ns" "$((($3 - $1) / ($4 - $2)))"
	stats "crr_prog_ns_egress@${n}s:tailplane" "ns" "$((($7 - $5) / ($8 - $6)))"
	ns_conn=$((($3 - $1 + $7 - $5) / conns))
	stats "crr_prog_ns_per_conn@${n}s:tailplane" "ns" "$ns_conn"
	stats "crr_prog_cpu_share@${n}s:tailplane" "%" \
		"$(awk -v t="$ns_conn" -v r="$rate" -v c="$(nproc)" 'BEGIN { printf "%.2f", t * r / (c * 1e9) * 100 }')"
}

# rr_prog_cost N: one more request/response run through tailplane with
# kernel.bpf_stats_enabled on: every packet of one established
# connection, the per-packet cost in steady state (crr_prog_cost's
# figures include each connection's handshake and close)
rr_prog_cost() {
	local n=$1 in0 eg0 in1 eg1 dst
	STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
	use_ns tailplane
	dst=$(dst_of tailplane)
	in0=$(prog_stats "$PIN/links/tpb-nc-ingress")
	eg0=$(prog_stats "$PIN/links/tpb-nc-egress")
	in_ns $NS_C "$BUILD"/bench/connbench rr "${dst% *}:${dst#* }" $RR_COUNT 5 >/dev/null
	in1=$(prog_stats "$PIN/links/tpb-nc-ingress")
	eg1=$(prog_stats "$PIN/links/tpb-nc-egress")
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	STATS_WAS=""
	# shellcheck disable=SC2086
	set -- $in0 $in1 $eg0 $eg1
	if [ $(($4 - $2)) -le 0 ] || [ $(($8 - $6)) -le 0 ]; then
		log "tailplane@$n: no program statistics for rr ($in0 -> $in1, $eg0 -> $eg1)"
		return 0
	fi
	stats "rr_prog_ns_ingress@${n}s:tailplane" "ns" "$((($3 - $1) / ($4 - $2)))"
	stats "rr_prog_ns_egress@${n}s:tailplane" "ns" "$((($7 - $5) / ($8 - $6)))"
}

# traffic N: every figure of the traffic, the contenders' runs alternating
# (iptables, nftables, tailplane, iptables, ...) so that the load others
# put on the machine falls on all three alike
traffic() {
	local n=$1 i who out dst
	declare -A crr p50 p99 gbs
	for i in $(seq $RUNS); do
		for who in $WHOS; do
			crr_once "$n" "$who"
			crr[$who]="${crr[$who]:-} $(echo "$CRR_OUT" | awk '{ print $8 }')"
		done
	done
	crr_prog_cost "$n"
	rr_prog_cost "$n"
	for i in $(seq $RUNS); do
		for who in $WHOS; do
			use_ns "$who"
			dst=$(dst_of "$who")
			out=$(in_ns $NS_C "$BUILD"/bench/connbench rr "${dst% *}:${dst#* }" $RR_COUNT 5)
			p50[$who]="${p50[$who]:-} $(echo "$out" | awk '{ print $4 }')"
			p99[$who]="${p99[$who]:-} $(echo "$out" | awk '{ print $6 }')"
		done
	done
	for who in $WHOS; do
		# shellcheck disable=SC2086
		stats "crr@${n}s:$who" "conn/s" ${crr[$who]}
		# shellcheck disable=SC2086
		stats "rr_p50@${n}s:$who" "us" ${p50[$who]}
		# shellcheck disable=SC2086
		stats "rr_p99@${n}s:$who" "us" ${p99[$who]}
		[ "$who" = direct ] && continue
		of_direct "crr_of_direct@${n}s:$who" "${crr[$who]}" "${crr[direct]}"
		of_direct "rr_p50_of_direct@${n}s:$who" "${p50[direct]}" "${p50[$who]}"
	done
	case " $IPERF_SIZES " in *" $n "*) ;; *) return 0 ;; esac
	# iperf3 serves the backend port in place of connbench: both backends
	# are addresses of the one backend namespace, so either choice reaches it
	for who in $WHOS; do
		stop_pid "${SERVER[$who]}"
	done
	for i in $(seq $RUNS); do
		for who in $WHOS; do
			use_ns "$who"
			dst=$(dst_of "$who")
			spawn $NS_B iperf3 -s -1 -p $POD_PORT >/dev/null 2>&1
			wait_listen $POD_PORT
			out=$(in_ns $NS_C iperf3 -c "${dst% *}" -p "${dst#* }" -t $IPERF_SECS -f m 2>&1) || {
				log "$who@$n: iperf3 failed: $out"
				exit 1
			}
			stop_pid "$LAST_PID"
			gbs[$who]="${gbs[$who]:-} $(echo "$out" | awk '/receiver/ { for (f = 1; f < NF; f++)
				if ($(f + 1) == "Mbits/sec") print $f / 1000 }')"
		done
	done
	for who in $WHOS; do
		# shellcheck disable=SC2086
		stats "iperf@${n}s:$who" "Gbit/s" ${gbs[$who]}
	done
}

VIP_M= # the ClusterIP the traffic goes to: service N/2
vip_of() {
	local i=$(($1 + 1))
	echo "198.19.$((i / 256)).$((i % 256))"
}

# empty the node's tables between runs of one contender.  Each contender
# gets namespaces of its own: a legacy table, once made, keeps its hooks
# (and conntrack) on in its namespace until the namespace goes, so it must
# not be touched where nftables or tailplane are measured.
flush_ipt() {
	local t
	for t in nat filter; do
		in_ns $NS_N $IPT -t $t -F
		in_ns $NS_N $IPT -t $t -X
	done
}

flush_nft() {
	in_ns $NS_N nft flush ruleset
}

# timed N: whether the table timings are taken at N (QUICK: the largest
# size only; the smaller ones get their tables, untimed, for the traffic)
timed() {
	[ $QUICK = 0 ] || [ "$1" = "${SIZES##* }" ]
}

# sync_runs NAME PREP ARG CMD...: RUNS times PREP ARG (untimed: the
# contender emptied) then CMD... timed; the times as row NAME
sync_runs() {
	local name=$1 prep=$2 arg=$3 i vals=""
	shift 3
	for i in $(seq $RUNS); do
		"$prep" "$arg"
		vals="$vals $(time_ms "$@")"
	done
	# shellcheck disable=SC2086
	stats "$name" "ms" $vals
}

# add_one_runs NAME MODE FIRST FILE CMD...: RUNS times, kpgen MODE writes
# one service more, FIRST + i - 1, to FILE$i and CMD... FILE$i applies it
# timed; the times as row NAME
add_one_runs() {
	local name=$1 mode=$2 first=$3 f=$4 i vals=""
	shift 4
	for i in $(seq $RUNS); do
		"$BUILD"/bench/kpgen "$mode" "$((first + i - 1))" "$((first + i - 1))" >"$f$i"
		vals="$vals $(time_ms "$@" "$f$i")"
	done
	# shellcheck disable=SC2086
	stats "$name" "ms" $vals
}

# ---- direct --------------------------------------------------------------------

# no tables: the node's namespace stays as setup_netns left it, routing
# only.  (Not even a look at iptables: reading a legacy table makes it,
# and hooks it, in the namespace.)
bench_direct() {
	:
}

# ---- iptables ----------------------------------------------------------------

# ipt_empty JUMPS: no rules but kube-proxy's jumps from the built-in chains
ipt_empty() {
	flush_ipt
	in_ns $NS_N $IPT-restore --noflush <"$1"
}

bench_iptables() {
	local n=$1 f
	f=$TMP/ipt-$n
	"$BUILD"/bench/kpgen iptables "$n" $((n / 2)) >"$f"
	# kube-proxy's jumps from the built-in chains, made once at its start
	cat >"$f.jumps" <<-'EOF'
		*filter
		:KUBE-FORWARD - [0:0]
		:KUBE-SERVICES - [0:0]
		:KUBE-PROXY-FIREWALL - [0:0]
		:KUBE-NODEPORTS - [0:0]
		:KUBE-EXTERNAL-SERVICES - [0:0]
		-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
		-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
		-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
		-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
		-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
		-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
		-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
		-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
		-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
		COMMIT
		*nat
		:KUBE-SERVICES - [0:0]
		:KUBE-POSTROUTING - [0:0]
		-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
		-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
		-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
		COMMIT
	EOF
	if ! timed "$n"; then
		in_ns $NS_N $IPT-restore --noflush <"$f.jumps"
		in_ns $NS_N $IPT-restore --noflush "$f"
		return 0
	fi
	sync_runs "sync@${n}s:iptables" ipt_empty "$f.jumps" \
		in_ns $NS_N $IPT-restore --noflush "$f"
	add_one_runs "add1@${n}s:iptables" iptables-add "$n" "$f.add" \
		in_ns $NS_N $IPT-restore --noflush
	add_one_runs "add1min@${n}s:iptables" iptables-min "$((n + RUNS))" "$f.min" \
		in_ns $NS_N $IPT-restore --noflush
	rm -f "$f"*
}

# ---- nftables ------------------------------------------------------------------

bench_nftables() {
	local n=$1 f
	f=$TMP/nft-$n
	"$BUILD"/bench/kpgen nft "$n" $((n / 2)) >"$f"
	if ! timed "$n"; then
		in_ns $NS_N nft -f "$f"
		return 0
	fi
	sync_runs "sync@${n}s:nftables" flush_nft "" in_ns $NS_N nft -f "$f"
	add_one_runs "add1@${n}s:nftables" nft-add "$n" "$f.add" \
		in_ns $NS_N nft -f
	rm -f "$f"*
}

# ---- tailplane -------------------------------------------------------------------

TPD() { in_ns $NS_N "$BUILD"/tailplaned "$@"; }
purge() { "$BUILD"/tailplaned --pin-root "$PIN" --detach --purge >/dev/null 2>&1 || true; }
# tp_empty CONFIG: loaded afresh from CONFIG (no services), maps empty
tp_empty() {
	purge
	TPD --config "$1" --once --log-level error
}

# loader_run CONFIG: "total attached applied rss child_rss" of one
# tailplaned --once: its wall clock in ms, when (ms from its start) its
# log said the programs were attached and the configuration applied, and
# in KiB the peak RSS of the daemon and of the child that loaded the
# object (-1: none, the pins had it), from its "memory" log line: GNU
# time's maxrss would be the larger of the two, whichever it was
loader_run() {
	local t0 t1 log_f=$TMP/loader.log
	t0=$(now_us)
	/usr/bin/time -f 'TPBTIME %e %M' nsenter --net=/run/netns/$NS_N \
		"$BUILD"/tailplaned --config "$1" --once --log-level info 2>"$log_f" || {
		log "tailplaned failed: $(cat "$log_f")"
		exit 1
	}
	t1=$(now_us)
	loader_figures "$t0" "$t1" "$log_f"
}

bench_tailplane() {
	local n=$1 i rss="" f cfg0 cfg out
	f=$TMP/tp-$n
	cfg0=$TMP/tp-0.json
	cfg=$f.json
	"$BUILD"/bench/kpgen json 0 0 tpb-nc "$PIN" >"$cfg0"
	"$BUILD"/bench/kpgen json "$n" $((n / 2)) tpb-nc "$PIN" | capacity >"$cfg"
	"$BUILD"/bench/kpgen tpctl "$n" $((n / 2)) >"$f"
	if ! timed "$n"; then
		purge
		TPD --config "$cfg" --once --log-level error
		return 0
	fi
	# sync all N from nothing: tpctl batch into freshly loaded, empty maps
	# (of the default capacities; deleting every service instead would
	# take longer: a service del walks conntrack, 15 ms each with 1M flows)
	sync_runs "sync@${n}s:tailplane" tp_empty "$cfg0" \
		"$BUILD"/tpctl --pin-root "$PIN" batch "$f"
	# the loader: cold start (load, attach, sync N from its config, with
	# the default capacities) ...
	"$BUILD"/bench/kpgen json "$n" $((n / 2)) tpb-nc "$PIN" >"$f.default.json"
	local tot="" att="" app="" child=""
	for i in $(seq $RUNS); do
		purge
		out=$(loader_run "$f.default.json")
		tot="$tot $(echo "$out" | cut -d' ' -f1)"
		att="$att $(echo "$out" | cut -d' ' -f2)"
		app="$app $(echo "$out" | cut -d' ' -f3)"
		rss="$rss $(echo "$out" | awk '{ print $4 / 1024 }')"
		child="$child $(echo "$out" | awk '$5 > 0 { print $5 / 1024 }')"
	done
	# shellcheck disable=SC2086
	stats "loader_cold@${n}s:tailplane" "ms" $tot
	# shellcheck disable=SC2086
	stats "loader_cold_attached@${n}s:tailplane" "ms" $att
	# shellcheck disable=SC2086
	stats "loader_cold_applied@${n}s:tailplane" "ms" $app
	# shellcheck disable=SC2086
	stats "loader_rss@${n}s:tailplane" "MiB" $rss
	# shellcheck disable=SC2086
	stats "loader_load_child_rss@${n}s:tailplane" "MiB" $child
	# ... and restart with the pins kept (the maps hold the N already, the
	# programs are taken from their pins; not in QUICK)
	tot="" rss=""
	for i in $(seq $((QUICK ? 0 : RUNS))); do
		out=$(loader_run "$f.default.json")
		tot="$tot $(echo "$out" | cut -d' ' -f1)"
		rss="$rss $(echo "$out" | awk '{ print $4 / 1024 }')"
	done
	# shellcheck disable=SC2086
	stats "loader_restart@${n}s:tailplane" "ms" $tot
	# shellcheck disable=SC2086
	stats "loader_restart_rss@${n}s:tailplane" "MiB" $rss
	# the traffic's configuration: a conntrack big enough (a restart that
	# resizes, untimed)
	purge
	TPD --config "$cfg" --once --log-level error
	tpctl_add_one "$n" "$f"
}

# tpctl_add_one N FILE: time adding one service to the N present
tpctl_add_one() {
	local n=$1 f=$2 out
	add_one_runs "add1@${n}s:tailplane" tpctl-add "$n" "$f.add" \
		"$BUILD"/tpctl --pin-root "$PIN" batch
	out=$("$BUILD"/tpctl --pin-root "$PIN" status 2>&1) || true
	echo "$out" | grep -q tpb-nc || {
		log "tailplane is not attached to tpb-nc: $out"
		exit 1
	}
	rm -f "$f"*
}

# conntrack sized for every flow of the crr runs without a GC: the runs
# do not reuse tuples, and --once leaves no loader to collect them
capacity() {
	sed 's/^  "services"/  "capacity": { "conntrack_tcp": 1048576 },\n  "services"/'
}

# ---- memory, from the kernel's accounting ------------------------------------

# map_mem NAME: the memory the kernel charges to one pinned map (bytes)
map_mem() {
	bpftool -j map show pinned "$PIN/$1" | sed -n 's/.*"bytes_memlock":\([0-9]*\).*/\1/p'
}

map_entries() {
	bpftool -j map show pinned "$PIN/$1" | sed -n 's/.*"max_entries":\([0-9]*\).*/\1/p'
}

# maglev_mem: the memory of the services' Maglev tables, the chunks of
# tp_maglev_slab, pinned beside it as tp_maglev_slab_N
maglev_mem() {
	local f m=0
	for f in "$PIN"/tp_maglev_slab_*; do
		[ -e "$f" ] || continue
		m=$((m + $(map_mem "${f##*/}")))
	done
	echo $m
}

# maps_mem MAP...: the memory of the maps named, together
maps_mem() {
	local k m=0
	for k in "$@"; do
		m=$((m + $(map_mem "$k")))
	done
	echo $m
}

# svc_mem: services, backends, their indexes (tp_be_frontends too: a
# backend's tuple -> frontends, which DNAT replies are found through) and
# Maglev tables
svc_mem() {
	echo $(($(maps_mem tp_services tp_svc_backends tp_maglev_slab tp_backends tp_be_frontends) + $(maglev_mem)))
}

# mem_growth NAME N FILE MEASURE...: row NAME, what tpctl batch FILE
# grows the memory MEASURE... prints by, per each of the N entries it adds
mem_growth() {
	local name=$1 n=$2 f=$3 m0 m1
	shift 3
	m0=$("$@")
	"$BUILD"/tpctl --pin-root "$PIN" batch "$f" >/dev/null
	m1=$("$@")
	stats "$name" "B" "$(((m1 - m0) / n))"
}

# memory_rows N: with N services of 2 backends loaded: per service, per
# backend (from N services of 2 and of 3 backends), per flow, per identity
# and per rule, each the growth of the maps it writes over the entries
# added; beside nf_conntrack's slab object
memory_rows() {
	local n=$1 b k
	local f=$TMP/mem
	purge
	TPD --config "$TMP/tp-0.json" --once --log-level error
	"$BUILD"/bench/kpgen tpctl "$n" $((n / 2)) >"$f"
	mem_growth "mem_per_service_2be:tailplane" "$n" "$f" svc_mem
	# a third backend on every service: what one backend adds (its entry,
	# its slot, and the bigger Maglev table it leads to)
	for b in $(seq 0 $((n - 1))); do
		echo "backend add $(vip_of "$b"):80/tcp 198.18.200.$((b % 250 + 1)):8080"
	done >"$f.b"
	mem_growth "mem_per_backend:tailplane" "$n" "$f.b" svc_mem
	# conntrack is preallocated: what the kernel charges, over its entries
	k=$(($(map_mem tp_ct) / $(map_entries tp_ct)))
	stats "mem_per_flow_entry:tailplane" "B" "$k"
	# a DNAT flow to an indexed backend holds one entry (its replies are
	# found through tp_be_frontends, counted per backend above); a SNAT,
	# masqueraded or zone-crossing flow two (its reply tuple's: the port)
	stats "mem_per_dnat_flow:tailplane" "B" "$k"
	stats "mem_per_snat_flow:tailplane" "B" "$((2 * k))"
	for b in $(seq 0 $((n - 1))); do
		echo "identity add 198.18.$((64 + b / 256)).$((b % 256))/32 $((1000 + b)) name tpb$b"
	done >"$f.i"
	mem_growth "mem_per_identity:tailplane" "$n" "$f.i" \
		maps_mem tp_identity tp_id_names tp_id_by_name
	for b in $(seq 0 $((n - 1))); do
		echo "policy add from $((1000 + b)) to $((1000 + (b + 1) % n)) proto tcp port 80 allow"
	done >"$f.r"
	mem_growth "mem_per_rule:tailplane" "$n" "$f.r" \
		maps_mem tp_rules tp_rule_index tp_policy
	# nf_conntrack's object: one per flow, both directions in it
	k=$(awk '$1 == "nf_conntrack" { print $4 }' /proc/slabinfo)
	if [ -n "$k" ]; then
		stats "mem_per_flow:nf_conntrack" "B" "$k"
	fi
	rm -f "$f"*
}

# ---- output ----------------------------------------------------------------------

# ceiling_table ROWS: markdown, per size, crr of the contenders as
# fractions of direct's (medians of the round by round fractions), and
# the rates the targets (3x iptables, 1.2x nftables) would take, as
# fractions of direct's median
ceiling_table() {
	awk '
		{ split($1, p, "[@:]"); n = p[2]; sub(/s$/, "", n) }
		p[1] == "crr" { crr[n, p[3]] = $3; sizes[n] = 1 }
		p[1] == "crr_of_direct" { of[n, p[3]] = $3 }
		function cell(v, f) { return sprintf("%.0f (%.2f)", v, f) }
		END {
			for (n in sizes) {
				d = crr[n, "direct"]
				if (d <= 0 || crr[n, "iptables"] <= 0 || crr[n, "nftables"] <= 0)
					continue
				printf "| %s | %.0f | %s | %s | %s | %s | %s |\n", n, d,
					cell(crr[n, "tailplane"], of[n, "tailplane"]),
					cell(crr[n, "iptables"], of[n, "iptables"]),
					cell(crr[n, "nftables"], of[n, "nftables"]),
					cell(3 * crr[n, "iptables"], 3 * crr[n, "iptables"] / d),
					cell(1.2 * crr[n, "nftables"], 1.2 * crr[n, "nftables"] / d)
			}
		}' "$1" | sort -t'|' -k2n
}

# results: append the rows to latest.md and latest.json (written by
# bench_prog just before), ratios computed against tailplane's row
# (none for direct, the reference, nor for the fractions of it)
write_results() {
	local md=$RES/latest.md js=$RES/latest.json tmp=$TMP/rows.json load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	awk '
		{ name[NR] = $1; mn[NR] = $2; md[NR] = $3; mx[NR] = $4; unit[NR] = $5
		  split($1, p, ":"); key[NR] = p[1]; who[NR] = p[2]
		  if (p[2] == "tailplane") tp[p[1]] = $3 }
		END {
			for (i = 1; i <= NR; i++) {
				r = 0; to = "-"
				if (who[i] != "tailplane" && who[i] != "direct" && unit[i] != "fraction" &&
				    (key[i] in tp) && tp[key[i]] > 0 && md[i] > 0) {
					if (unit[i] == "conn/s" || unit[i] == "Gbit/s")
						r = tp[key[i]] / md[i]
					else
						r = md[i] / tp[key[i]]
					to = "tailplane"
				}
				printf "%s %s %s %s %.3f %s %s\n", name[i], mn[i], md[i], mx[i], r, to, unit[i]
			}
		}' "$ROWS" >"$tmp"
	{
		printf '\n## Against kube-proxy: client ns -> node ns -> backend ns, IPv4\n\n'
		printf '%s, %s; %d runs each (min / median / max); load average at the end %s ' \
			"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$([ $QUICK = 1 ] && echo QUICK || echo full)" \
			$RUNS "$load"
		printf '(the machine is shared: others ran during the measurement).\n'
		printf 'Ratio: how many times tailplane is better (rates: tailplane / it; times: it / tailplane).\n'
		printf 'direct: the same path with no translation (the client connects to the backend; nothing in the node but routing), '
		printf 'the ceiling; *_of_direct: each contender against it round by round (crr: its / direct'"'"'s; rr: direct'"'"'s p50 / its), 1 = free.\n\n'
		printf '| figure | min | median | max | unit | ratio | to |\n|---|---|---|---|---|---|---|\n'
		awk '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $7,
			($5 > 0 ? sprintf("%.2f", $5) : ""), ($6 == "-" ? "" : $6) }' "$tmp"
		printf '\nNew connections/s against the no-translation ceiling (medians; in brackets the fraction of direct):\n\n'
		printf '| services | direct | tailplane | iptables | nftables | 3x iptables | 1.2x nftables |\n'
		printf '|---|---|---|---|---|---|---|\n'
		ceiling_table "$tmp"
	} >>"$md"
	# into the one JSON object: the rows join its "figures" array
	awk '{ printf ",{\"name\":\"%s\",\"min\":%s,\"median\":%s,\"max\":%s,\"ratio\":%s,\"to\":\"%s\",\"note\":\"%s\"}",
		$1, $2, $3, $4, $5, ($6 == "-" ? "" : $6), $7 }' "$tmp" >"$tmp.frag"
	json_append "$js" "$tmp.frag" kubeproxy \
		"$(printf '{"quick":%s,"runs":%d,"load":"%s"}' \
			"$([ $QUICK = 1 ] && echo true || echo false)" $RUNS "$load")"
	cp "$tmp" "$RES/kubeproxy.rows"
	printf '\n%-34s %10s %10s %10s %-7s %7s\n' FIGURE MIN MEDIAN MAX UNIT RATIO
	awk '{ printf "%-34s %10s %10s %10s %-7s %7s\n", $1, $2, $3, $4, $7, ($5 > 0 ? sprintf("%.2f", $5) : "-") }' "$tmp"
}

# ---- main ------------------------------------------------------------------------

main() {
	local n who
	TMP=$(mktemp -d /tmp/tpb-kubeproxy.XXXXXX)
	ROWS=$TMP/rows
	: >"$ROWS"
	purge
	for n in $SIZES; do
		VIP_M=$(vip_of $((n / 2)))
		for who in $WHOS; do
			log "$n services: $who: tables"
			use_ns "$who"
			setup_netns
			start_server "$who"
			bench_"$who" "$n"
		done
		log "$n services: traffic"
		traffic "$n"
		if [ "$n" = "${SIZES##* }" ]; then
			use_ns tailplane
			memory_rows "$n"
		fi
		purge
		for who in $WHOS; do
			if [ -n "${SERVER[$who]:-}" ]; then
				stop_pid "${SERVER[$who]}"
			fi
		done
		teardown_netns
	done
	write_results
	if command -v gnuplot >/dev/null; then
		"$(dirname "$0")"/plot.sh "$RES" || log "plot failed"
	fi
}

main
