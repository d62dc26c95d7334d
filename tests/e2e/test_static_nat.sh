#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End-to-end test of static 1:1 NAT: a pod with a tailnet address of its
# own.  The sandbox of env.sh (client and node joined by wireguard-go, one
# pod behind the node's bridge) and tailplaned with a "static_nat" entry
# per family:
#
#   100.64.7.7          <-> pod1 198.18.1.1
#   fd7a:115c:a1e0::7:7 <-> pod1 fd00:198:18:1::1
#
# The client's WireGuard peer for the node carries the two tailnet
# addresses in its allowed-ips (what a WireGuard peer or a Tailscale subnet
# route must hold, docs/tailplaned.8); the node needs no route or
# neighbour for them.  TCP, UDP and ICMP, v4 and v6, from the client to
# the tailnet addresses reach the pod; the pod reaches the client, which
# sees the tailnet address as the source.  Prints cmocka-style results
# for tests/run.sh.  Needs root, wireguard-go, nft, python3 and the build.
set -uo pipefail

P=tpst$$
# shellcheck disable=SC2034 # env.sh's env_pods uses it
N_PODS=1
TN4=100.64.7.7
TN6=fd7a:115c:a1e0::7:7
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"

# A server on the client that answers every TCP connection and UDP
# datagram with the address it came from; and its client, for the pod.
write_peer_tool() {
	cat >"$ENV_DIR/peer.py" <<'PY'
import socket, sys, threading

def tcp_srv(fam, addr, port):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    s.listen(16)
    while True:
        c, a = s.accept()
        c.sendall((a[0] + "\n").encode())
        c.close()

def udp_srv(fam, addr, port):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    while True:
        d, a = s.recvfrom(2048)
        s.sendto((a[0] + "\n").encode(), a)

if sys.argv[1] == "serve":
    port = int(sys.argv[2])
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        for fn in (tcp_srv, udp_srv):
            threading.Thread(target=fn, args=(fam, addr, port), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
else:
    kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(3)
    if kind == "tcp":
        s.connect((host, port))
        print(s.recv(200).decode().strip())
    else:
        s.sendto(b"who am i", (host, port))
        print(s.recvfrom(200)[0].decode().strip())
PY
}

# The client counts echo requests that come from the tailnet addresses.
client_counters() {
	client nft -f - <<NFT
table inet tpsn {
	chain input {
		type filter hook input priority 0;
		ip saddr $TN4 icmp type echo-request counter
		ip6 saddr $TN6 icmpv6 type echo-request counter
	}
}
NFT
}

echo_count() { # echo_count v4|v6: echo requests from the tailnet address seen
	local pat
	[ "$1" = v4 ] && pat="ip saddr $TN4" || pat="ip6 saddr $TN6"
	client nft list chain inet tpsn input | grep -F "$pat" | grep -o 'packets [0-9]*' |
		grep -o '[0-9]*$'
}

# ---- tests ---------------------------------------------------------------------

test_entries_loaded() {
	local out
	out=$(tpctl -j nat list) || fail "tpctl nat list" || return 1
	echo "$out" | grep -q "\"tailnet\":\"$TN4\",\"inner\":\"198.18.1.1\",\"owner\":\"static\"" ||
		fail "v4 entry missing: $out" || return 1
	echo "$out" | grep -q "\"tailnet\":\"$TN6\",\"inner\":\"fd00:198:18:1::1\"" ||
		fail "v6 entry missing: $out" || return 1
	# no route or neighbour for the tailnet addresses on the node
	[ -z "$(ns "$P-node" ip route get $TN4 2>/dev/null | grep -v "dev $WG_NODE")" ] ||
		fail "the node routes $TN4 somewhere" || return 1
}

test_tcp_to_tailnet_address_v4_v6() {
	http_expect "$P-client" "http://$TN4:8080/" "hello from pod1" &&
		http_expect "$P-client" "http://[$TN6]:8080/" "hello from pod1"
}

# udp_all_echoed TARGET: a second of datagrams (as many as a busy machine
# sends, 100 at most), every one echoed
udp_all_echoed() {
	local out sent
	out=$(client "$BUILD/tools/tp-load" --udp "$1" --rate 100 --duration 1) ||
		fail "tp-load $1 failed" || return 1
	echo "   $1: $out"
	sent=$(echo "$out" | grep -o '"udp_sent":[0-9]*' | grep -o '[0-9]*$')
	[ "${sent:-0}" -gt 0 ] || fail "nothing sent" || return 1
	echo "$out" | grep -q "\"udp_received\":$sent," || fail "not all echoed" || return 1
	echo "$out" | grep -q '"udp_lost":0}' || fail "UDP loss" || return 1
}

test_udp_to_tailnet_address_v4_v6() {
	udp_all_echoed "$TN4:9001" && udp_all_echoed "[$TN6]:9001"
}

test_icmp_to_tailnet_address_v4_v6() {
	ping_each "$P-client" "$TN4" "$TN6"
}

test_pod_reaches_client_as_tailnet_address() {
	local out
	out=$(pod python3 "$ENV_DIR/peer.py" tcp 100.64.0.2 7000) || fail "pod TCP v4" || return 1
	[ "$out" = "$TN4" ] || fail "the client saw TCP from '$out', not $TN4" || return 1
	out=$(pod python3 "$ENV_DIR/peer.py" udp 100.64.0.2 7000) || fail "pod UDP v4" || return 1
	[ "$out" = "$TN4" ] || fail "the client saw UDP from '$out', not $TN4" || return 1
	out=$(pod python3 "$ENV_DIR/peer.py" tcp fd7a:115c:a1e0::2 7000) || fail "pod TCP v6" || return 1
	[ "$out" = "$TN6" ] || fail "the client saw TCP from '$out', not $TN6" || return 1
	out=$(pod python3 "$ENV_DIR/peer.py" udp fd7a:115c:a1e0::2 7000) || fail "pod UDP v6" || return 1
	[ "$out" = "$TN6" ] || fail "the client saw UDP from '$out', not $TN6" || return 1
	pod ping -c 2 -i 0.2 -W 1 100.64.0.2 >/dev/null || fail "pod ping v4" || return 1
	pod ping -6 -c 2 -i 0.2 -W 1 fd7a:115c:a1e0::2 >/dev/null || fail "pod ping v6" || return 1
	[ "$(echo_count v4)" -ge 2 ] || fail "no echo request from $TN4 at the client" || return 1
	[ "$(echo_count v6)" -ge 2 ] || fail "no echo request from $TN6 at the client" || return 1
}

test_counters_and_conntrack() {
	local out
	out=$(tpctl -j stats)
	echo "$out" | grep -q '"static_nat_in":[1-9]' || fail "no static_nat_in: $out" || return 1
	echo "$out" | grep -q '"static_nat_out":[1-9]' || fail "no static_nat_out" || return 1
	# conntrack holds the pod's own address, never the tailnet one
	out=$(tpctl -j conntrack list)
	echo "$out" | grep -q '198.18.1.1' || fail "no flow of the pod" || return 1
	echo "$out" | grep -q "$TN4" && { fail "a flow under $TN4"; return 1; }
	return 0
}

# ---- runner ---------------------------------------------------------------------

TESTS=(test_entries_loaded test_tcp_to_tailnet_address_v4_v6
	test_udp_to_tailnet_address_v4_v6 test_icmp_to_tailnet_address_v4_v6
	test_pod_reaches_client_as_tailnet_address test_counters_and_conntrack)

# The client sends the pod's tailnet addresses to the node, takes them
# from it and answers on them; the configuration's static_nat entries.
static_nat_setup() {
	client wg set "$WG_CLIENT" peer "$NODE_PUB" allowed-ips "$ENV_CLIENT_ALLOWED,$TN4/32,$TN6/128" &&
		client ip route add $TN4/32 dev "$WG_CLIENT" &&
		client ip -6 route add $TN6/128 dev "$WG_CLIENT" || return 1
	write_peer_tool
	env_bg "$P-client" "$ENV_DIR/peer.log" python3 "$ENV_DIR/peer.py" serve 7000
	client_counters || return 1
	ENV_EXTRA_TOP="\"static_nat\": [ { \"tailnet\": \"$TN4\", \"inner\": \"198.18.1.1\" },
	  { \"tailnet\": \"$TN6\", \"inner\": \"fd00:198:18:1::1\", \"zone\": 1 } ],"
	env_config "$ENV_DIR/cfg.json" deny
}

env_need wireguard-go nft python3
env_need_build tpctl tailplaned
env_start env_up static_nat_setup
tpd_start || {
	echo "tailplaned did not start"
	exit 1
}
# what the pod opens is decided on its own identity (web, 300)
tpctl policy add from web to laptop allow >/dev/null || { echo "policy add failed"; exit 1; }
sleep 1.5 # first peer sync
run_suite
