#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End-to-end test of SNAT toward a backend on another node: real TCP, UDP
# and ICMP echo, v4 and v6, from a tailnet client through wireguard-go and
# tailplaned to a backend that can only answer through SNAT.
#
#   client ($P-client) --- underlay veth ---  node ($P-node)  --- uplink veth ---  remote ($P-remote)
#     $WG_CLIENT 100.64.0.2  <-- WireGuard -->  $WG_NODE 100.64.0.1
#                                               $P-u 198.18.2.1/24            $P-r 198.18.2.2/24
#                                                    fd00:198:18:2::1/64           fd00:198:18:2::2/64
#                                                                             tp-echo (the backend)
#
# The remote namespace has no route to the tailnet (100.64.0.0/10,
# fd7a:115c:a1e0::/48): a reply reaches the client only when its flow was
# SNATed to the node's uplink address, restored by tp_from_uplink and sent
# back into the tunnel.  The loader runs with "snat": "auto" and takes the
# SNAT address from the uplink.  Names are this suite's own (tpsn*),
# so it runs next to the other suites.  Prints cmocka-style results so
# tests/run.sh counts them.  Needs root, wireguard-go and the build.
set -uo pipefail

P=tpsn$$
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"
VIP4=198.19.0.20
VIP6=fd00:198:19::14
# env.sh's env_remote: the node's uplink address and the remote backend
SNAT4=$ENV_UPLINK4
SNAT6=$ENV_UPLINK6
BACKEND4=$ENV_REMOTE4
BACKEND6=$ENV_REMOTE6

remote() { ns "$P-remote" "$@"; }

snat_config() {
	env_config_doc "$1" allow <<JSON
  "interfaces": [
    { "name": "$WG_NODE", "kind": "tailnet", "zone": 1, "peers": "wireguard" },
    { "name": "$P-u", "kind": "uplink" }
  ],
  "snat": "auto",
  "services": [
    { "frontend": "$VIP4:80/tcp", "backends": [ { "addr": "$BACKEND4:8080" } ] },
    { "frontend": "$VIP4:9000/tcp", "backends": [ { "addr": "$BACKEND4:9000" } ] },
    { "frontend": "$VIP4:53/udp", "backends": [ { "addr": "$BACKEND4:9001" } ] },
    { "frontend": "$VIP4/icmp", "backends": [ { "addr": "$BACKEND4" } ] },
    { "frontend": "[$VIP6]:80/tcp", "backends": [ { "addr": "[$BACKEND6]:8080" } ] },
    { "frontend": "[$VIP6]:53/udp", "backends": [ { "addr": "[$BACKEND6]:9001" } ] },
    { "frontend": "[$VIP6]/icmp", "backends": [ { "addr": "$BACKEND6" } ] }
  ],
JSON
}

# ---- tests -------------------------------------------------------------------

# The premise: without SNAT the backend's replies have nowhere to go.
test_remote_has_no_route_to_the_tailnet() {
	remote ip route get 100.64.0.2 >/dev/null 2>&1 && { fail "the remote routes to the tailnet"; return 1; }
	remote ip -6 route get fd7a:115c:a1e0::2 >/dev/null 2>&1 && {
		fail "the remote routes to the tailnet (v6)"
		return 1
	}
	return 0
}

test_snat_configured_from_the_uplink() {
	local out
	grep -q "\"SNAT source addresses\".*\"ipv4\":\"$SNAT4\".*\"ipv6\":\"$SNAT6\"" "$ENV_DIR/tailplaned.log" ||
		fail "no SNAT address from $P-u in the log" || return 1
	grep -q '"SNAT ports reserved from local sockets"' "$ENV_DIR/tailplaned.log" ||
		fail "reserved ports not logged" || return 1
	out=$(ns "$P-node" cat /proc/sys/net/ipv4/ip_local_reserved_ports)
	echo "$out" | grep -q '61000-65000' ||
		fail "61000-65000 not in ip_local_reserved_ports: $out" || return 1
	# the uplink carries tp_from_uplink (a pinned tcx link, or a clsact filter)
	if [ -e "$PIN_ROOT/links/$P-u-ingress" ]; then
		bpftool link show pinned "$PIN_ROOT/links/$P-u-ingress" >/dev/null 2>&1 ||
			fail "the uplink's link pin is not a link" || return 1
	else
		out=$(ns "$P-node" tc filter show dev "$P-u" ingress)
		echo "$out" | grep -q tp_from_uplink || fail "no tp_from_uplink on $P-u" || return 1
	fi
}

test_tcp_v4_v6() {
	http_expect "$P-client" "http://$VIP4/" "hello from remote" &&
		http_expect "$P-client" "http://[$VIP6]/" "hello from remote"
}

test_udp_v4_v6() {
	udp_stream "$VIP4:53" && udp_stream "[$VIP6]:53"
}

test_icmp_echo_v4_v6() {
	ping_each "$P-client" "$VIP4" "$VIP6"
}

# The node's conntrack shows each SNAT flow with the source the backend saw.
test_conntrack_shows_snat() {
	local out
	client curl -s -m 3 "http://$VIP4/" >/dev/null
	client curl -s -m 3 "http://[$VIP6]/" >/dev/null
	out=$(tpctl -j conntrack list)
	echo "$out" | tr '{' '\n' | grep "\"backend\":\"$BACKEND4\"" | grep -q "\"snat_addr\":\"$SNAT4\"" ||
		fail "no v4 flow with snat_addr $SNAT4: $out" || return 1
	echo "$out" | tr '{' '\n' | grep "\"backend\":\"$BACKEND6\"" | grep -q "\"snat_addr\":\"$SNAT6\"" ||
		fail "no v6 flow with snat_addr $SNAT6" || return 1
	echo "$out" | grep -q '"flags":"dnat,snat"' || fail "flags do not say snat" || return 1
	echo "$out" | grep -o '"snat_port":[0-9]*' | grep -o '[0-9]*$' | while read -r port; do
		[ "$port" -ge 61000 ] && [ "$port" -le 65000 ] || { fail "port $port outside the range"; exit 1; }
	done || return 1
	# whole outputs, then grep: grep -q leaving early would fail the pipeline (pipefail)
	out=$(tpctl conntrack list)
	echo "$out" | grep -q "$SNAT4:6[0-9]*" || fail "the table has no SNAT column value" || return 1
}

# A live TCP connection keeps working across a loader restart: the flow
# and its NAT state are in the pinned maps, the programs stay attached.
test_live_tcp_across_restart() {
	local peers
	load_start "$P-client" "$VIP4:9000" 5
	for _ in $(seq 100); do
		[ "$(tpctl -j conntrack list service "$VIP4:9000/tcp" | grep -o '"snat_port"' | wc -l)" -ge 5 ] && break
		sleep 0.1
	done
	# the backend sees the node's address, never the client's (its
	# dual-stack socket writes IPv4 peers v4-mapped)
	peers=$(remote ss -Htn state established "( sport = :9000 )" | awk '{print $4}')
	echo "$peers" | grep -Eq "^(\[::ffff:)?${SNAT4//./\\.}\]?:6[0-9]+$" ||
		fail "backend peers: $peers" || return 1
	echo "$peers" | grep -q "100\.64\." && { fail "the backend saw a tailnet address"; return 1; }
	sleep 1
	tpd_stop TERM
	sleep 1
	tpd_start || fail "restart" || return 1
	sleep 1
	load_stop && load_tcp_ok 5
}

# An uplink's TC ingress carries tp_from_uplink: a pinned tcx link, or
# tailplaned's clsact filter on kernels without tcx.
uplink_attached() {
	local out
	[ -e "$PIN_ROOT/links/$1-ingress" ] && return 0
	out=$(ns "$P-node" tc filter show dev "$1" ingress 2>/dev/null)
	echo "$out" | grep -q tp_from_uplink
}

# An uplink named in the configuration before it exists is attached when
# it appears, and forgotten when it goes, as a tailnet interface is.
test_uplink_appearing_later() {
	local late=$P-l curl_out
	sed "s/\"interfaces\": \[/\"interfaces\": [ { \"name\": \"$late\", \"kind\": \"uplink\" },/" \
		"$ENV_DIR/cfg.json" >"$ENV_DIR/cfg2.json"
	mv "$ENV_DIR/cfg2.json" "$ENV_DIR/cfg.json"
	kill -HUP "$TPD_PID"
	for _ in $(seq 100); do
		grep -q '"reloaded"' "$ENV_DIR/tailplaned.log" && break
		sleep 0.05
	done
	uplink_attached "$late" && { fail "attached before it exists"; return 1; }
	ns "$P-node" ip link add "$late" type veth peer name "$P-m"
	for _ in $(seq 100); do
		uplink_attached "$late" && break
		sleep 0.05
	done
	uplink_attached "$late" || fail "not attached when it appeared" || return 1
	# the first uplink still gives the SNAT address
	curl_out=$(client curl -s -m 3 "http://$VIP4/") || fail "request after the reload" || return 1
	[ "$curl_out" = "hello from remote" ] || fail "answer after the reload: '$curl_out'" || return 1
	ns "$P-node" ip link del "$late"
	sleep 0.5
	[ -e "$PIN_ROOT/links/$late-ingress" ] && { fail "its link pin was left"; return 1; }
	return 0
}

# --detach --purge takes the programs, the pins and exactly the reserved
# ports it added (7000 was someone else's).
test_detach_purge() {
	local ports
	tpd_stop TERM
	ns "$P-node" "$BUILD/tailplaned" --config "$ENV_DIR/cfg.json" --detach --purge \
		>"$ENV_DIR/detach.log" 2>&1 || { cat "$ENV_DIR/detach.log"; fail "--detach --purge"; return 1; }
	ports=$(ns "$P-node" cat /proc/sys/net/ipv4/ip_local_reserved_ports)
	[ "$ports" = "7000" ] || fail "reserved ports after purge: '$ports'" || return 1
	[ -e "$PIN_ROOT" ] && { fail "pins left"; return 1; }
	ports=$(ns "$P-node" tc filter show dev "$P-u" ingress)
	echo "$ports" | grep -q tp_from_uplink && { fail "tp_from_uplink left on $P-u"; return 1; }
	return 0
}

# ---- runner -------------------------------------------------------------------

TESTS=(test_remote_has_no_route_to_the_tailnet test_snat_configured_from_the_uplink
	test_tcp_v4_v6 test_udp_v4_v6 test_icmp_echo_v4_v6 test_conntrack_shows_snat
	test_live_tcp_across_restart test_uplink_appearing_later test_detach_purge)

# a port of the SNAT range someone else reserved (test_detach_purge)
reserve_port_7000() {
	ns "$P-node" sh -c 'echo 7000 > /proc/sys/net/ipv4/ip_local_reserved_ports'
}

env_need wireguard-go
env_need_build tpctl tailplaned tools/tp-echo
env_start env_tunnel env_remote reserve_port_7000
snat_config "$ENV_DIR/cfg.json"
tpd_up
run_suite
