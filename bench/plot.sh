#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# bench/results/latest.png from bench/results/kubeproxy.rows (written by
# bench/kubeproxy.sh): per-connection cost (1 / new connections per
# second, medians with min-max bars) and the time to add one service and
# to sync all of them, against the number of services, for tailplane,
# kube-proxy's iptables shape and its nftables shape; beside the first,
# the same path with no translation (direct): the floor of what a
# connection costs there.
#
# Usage: bench/plot.sh [RESULTS_DIR]
set -eu

RES=${1:-bench/results}
ROWS=$RES/kubeproxy.rows
TMP=

cleanup() {
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT

# series FIGURE WHO SCALE: "N min median max" lines of one contender,
# values multiplied by SCALE (SCALE 0: the reciprocal, in us, for rates)
series() {
	awk -v fig="$1" -v who="$2" -v scale="$3" '
		{ split($1, a, "[@:]"); sub(/s$/, "", a[2]) }
		a[1] == fig && a[3] == who {
			if (scale == 0)
				printf "%s %g %g %g\n", a[2], 1e6 / $4, 1e6 / $3, 1e6 / $2
			else
				printf "%s %g %g %g\n", a[2], $2 * scale, $3 * scale, $4 * scale
		}' "$ROWS" | sort -n
}

main() {
	local who f when direct=""
	[ -s "$ROWS" ] || {
		echo "plot: no $ROWS" >&2
		exit 1
	}
	TMP=$(mktemp -d /tmp/tpb-plot.XXXXXX)
	for who in tailplane iptables nftables; do
		series crr "$who" 0 >"$TMP/crr-$who"
		series add1 "$who" 1 >"$TMP/add1-$who"
		series sync "$who" 1 >"$TMP/sync-$who"
	done
	series add1min iptables 1 >"$TMP/add1min-iptables"
	# rows from before direct was measured have none: no line then
	series crr direct 0 >"$TMP/crr-direct"
	if [ -s "$TMP/crr-direct" ]; then
		direct=", \"$TMP/crr-direct\" using 1:3:2:4 with yerrorlines lw 1 dt 2 lc rgb \"black\" title \"no translation (direct)\""
	fi
	when=$(date -u -r "$ROWS" +%Y-%m-%d)
	f=$TMP/plot.gp
	cat >"$f" <<-EOF
		set terminal pngcairo size 1400,520 font "sans,10"
		set output "$RES/latest.png"
		set multiplot layout 1,3 title "tailplane vs kube-proxy shapes, ClusterIP over veth, $(nproc) shared CPUs, $when (median, min-max bars)"
		set logscale x
		set xrange [5:20000]
		set xlabel "services"
		set key top left
		set grid
		set title "per new connection (1 / connections per second)"
		set ylabel "us per connection"
		set yrange [0:*]
		plot "$TMP/crr-tailplane" using 1:3:2:4 with yerrorlines lw 2 title "tailplane", \\
		     "$TMP/crr-iptables" using 1:3:2:4 with yerrorlines lw 2 title "iptables", \\
		     "$TMP/crr-nftables" using 1:3:2:4 with yerrorlines lw 2 title "nftables"$direct
		set title "add one service with N present"
		set key top left font "sans,8"
		set ylabel "ms"
		set logscale y
		set yrange [*:*]
		plot "$TMP/add1-tailplane" using 1:3:2:4 with yerrorlines lw 2 title "tailplane (tpctl batch)", \\
		     "$TMP/add1-iptables" using 1:3:2:4 with yerrorlines lw 2 title "iptables-restore --noflush (kube-proxy partial sync)", \\
		     "$TMP/add1min-iptables" using 1:3:2:4 with yerrorlines lw 1 dt 2 title "iptables-restore --noflush (one chain set, least input)", \\
		     "$TMP/add1-nftables" using 1:3:2:4 with yerrorlines lw 2 title "nft -f"
		set title "sync all N services from nothing"
		plot "$TMP/sync-tailplane" using 1:3:2:4 with yerrorlines lw 2 title "tailplane (tpctl batch)", \\
		     "$TMP/sync-iptables" using 1:3:2:4 with yerrorlines lw 2 title "iptables-restore", \\
		     "$TMP/sync-nftables" using 1:3:2:4 with yerrorlines lw 2 title "nft -f"
		unset multiplot
	EOF
	gnuplot "$f"
	echo "plot: $RES/latest.png"
}

main
