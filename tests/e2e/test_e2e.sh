#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End-to-end tests: real TCP, UDP and ICMP between network namespaces,
# through wireguard-go (kernel WireGuard with E2E_WG=kernel, as make vmtest
# does) and tailplaned.  Prints cmocka-style results so tests/run.sh counts
# them.  Needs root, wireguard-go (or wireguard.ko) and the build.
set -uo pipefail

P=tpe$$
# shellcheck source=env.sh
. "$(dirname "$0")/env.sh"

# E2E_START_SECS: how long a start may take (the verifier's load of the
# object; a VM under TCG takes minutes, make vmtest sets it)

# The program on a node interface's TC ingress: a pinned tcx link (kernels
# with tcx) or tailplaned's clsact filter (older kernels); empty if none.
ingress_prog_id() {
	if [ -e "$PIN_ROOT/links/$1-ingress" ]; then
		bpftool -j link show pinned "$PIN_ROOT/links/$1-ingress" |
			grep -o '"prog_id":[0-9]*' | grep -o '[0-9]*$'
	else
		ns "$P-node" tc filter show dev "$1" ingress 2>/dev/null |
			grep 'tp_from_tailnet' | grep -o ' id [0-9]*' | grep -o '[0-9]*$'
	fi
}

attached() { [ -n "$(ingress_prog_id "$1")" ]; }

# ---- tests -------------------------------------------------------------------

test_tcp_through_clusterip_v4_v6() {
	local out seen=""
	for _ in $(seq 9); do
		out=$(client curl -s -m 3 http://198.19.0.10/) || fail "v4 request failed" || return 1
		case "$out" in "hello from pod"[123]) seen="$seen ${out##* }" ;; *) fail "v4 answer '$out'"; return 1 ;; esac
	done
	[ "$(echo "$seen" | tr ' ' '\n' | sort -u | grep -c pod)" -ge 2 ] ||
		fail "9 connections all went to one backend:$seen" || return 1
	out=$(client curl -s -m 3 'http://[fd00:198:19::a]/') || fail "v6 request failed" || return 1
	case "$out" in "hello from pod"[12]) ;; *) fail "v6 answer '$out'"; return 1 ;; esac
}

test_udp_through_clusterip_v4_v6() {
	udp_stream 198.19.0.10:53 && udp_stream '[fd00:198:19::a]:53'
}

test_icmp_echo_through_clusterip_v4_v6() {
	client ping -c 3 -i 0.2 -W 1 198.19.0.10 >/dev/null || fail "ping 198.19.0.10" || return 1
	client ping -6 -c 3 -i 0.2 -W 1 fd00:198:19::a >/dev/null || fail "ping fd00:198:19::a" || return 1
}

test_policy_allow_deny_audit() {
	local drops before after
	client curl -s -m 3 http://198.18.1.1:8080/ | grep -q pod1 || fail "allowed port" || return 1
	before=$(tpctl -j stats | grep -o '"drop_policy":[0-9]*' | grep -o '[0-9]*$')
	client curl -s -m 1 http://198.18.1.1:22/ && { fail "denied port answered"; return 1; }
	after=$(tpctl -j stats | grep -o '"drop_policy":[0-9]*' | grep -o '[0-9]*$')
	[ "${after:-0}" -gt "${before:-0}" ] || fail "no policy drop counted ($before -> $after)" || return 1
	# audit: the UDP rule is audit; the flow passes and says so
	tpctl monitor audit count 1 >"$ENV_DIR/audit.log" 2>&1 &
	local mon=$!
	# the monitor says nothing when it starts reading: each round is a
	# new flow (a new socket, a new source port) until it has seen one
	for _ in $(seq 30); do
		kill -0 $mon 2>/dev/null || break
		client "$BUILD/tools/tp-load" --udp 198.19.0.10:53 --rate 5 --duration 0.2 >/dev/null
	done
	kill $mon 2>/dev/null
	wait $mon 2>/dev/null || true
	grep -qi audit "$ENV_DIR/audit.log" || { cat "$ENV_DIR/audit.log"; fail "no audit event"; return 1; }
	drops=$(tpctl -j conntrack list | grep -c '"verdict":"audit"')
	[ "$drops" -ge 1 ] || fail "no audited flow in conntrack" || return 1
}

# The node's WireGuard peers become identities, and a peer that leaves
# takes its entries with it: over the UAPI socket (wireguard-go) or
# generic netlink (kernel WireGuard, E2E_WG=kernel), whichever the node has.
wg_identity_sync() {
	local out
	out=$(tpctl -j identity list)
	echo "$out" | grep -q '100.64.0.2' || fail "client address not synced: $out" || return 1
	echo "$out" | tr '{' '\n' | grep '100.64.0.2' | grep -q '301' ||
		fail "client not identity 301 (laptop)" || return 1
	echo "$out" | tr '{' '\n' | grep 'fd7a:115c:a1e0::2' | grep -q 'wireguard' ||
		fail "IPv6 allowed-ip not synced by the wireguard source" || return 1
	# a peer that leaves takes its entries with it
	ns "$P-node" wg set "$WG_NODE" peer "$(wg genkey | wg pubkey)" allowed-ips 100.64.9.9/32
	sleep 1.5
	tpctl -j identity list | grep -q '100.64.9.9' || fail "new peer not synced" || return 1
	ns "$P-node" wg set "$WG_NODE" peer "$(ns "$P-node" wg show "$WG_NODE" peers | grep -v "$CLIENT_PUB")" remove
	sleep 1.5
	tpctl -j identity list | grep -q '100.64.9.9' && { fail "departed peer kept"; return 1; }
	return 0
}

test_identities_from_tailscale_localapi() {
	local ts=tps$$ out i
	cp "$ROOT/tests/fixtures/tailscale-status-running.json" "$ENV_DIR/ts.json"
	env_bg "$P-node" "$ENV_DIR/localapi.log" "$BUILD/tools/tp-localapi" \
		"$ENV_DIR/ts.sock" "$ENV_DIR/ts.json"
	env_wg "$P-node" "$ts" || return 1
	ENV_EXTRA_IFACES="{ \"name\": \"$ts\", \"kind\": \"tailnet\", \"zone\": 3, \"peers\": \"tailscale\" },"
	ENV_EXTRA_TOP="\"tailscale\": { \"socket\": \"$ENV_DIR/ts.sock\",
	  \"tags\": { \"tag:db\": 311, \"tag:web\": \"web-peers\" } },"
	env_config "$ENV_DIR/cfg.json" deny
	sed -i 's/{ "id": 301, "name": "laptop" }/&, { "id": 310, "name": "web-peers" }/' "$ENV_DIR/cfg.json"
	kill -HUP "$TPD_PID"
	for i in $(seq 40); do
		out=$(tpctl -j identity list)
		echo "$out" | grep -q '100.64.0.20' && break
		sleep 0.1
	done
	entry() { echo "$out" | tr '{' '\n' | grep "\"$1/"; }
	entry 100.64.0.10 | grep -q '310' || fail "web-1 (tag:prod, tag:web) not web-peers: $(entry 100.64.0.10)" || return 1
	entry 100.64.0.20 | grep -q '311' || fail "db-1 not 311: $(entry 100.64.0.20)" || return 1
	entry 100.64.0.30 | grep -q 'tailnet\|"3"\|:3,' || fail "untagged peer not tailnet: $(entry 100.64.0.30)" || return 1
	entry fd7a:115c:a1e0::a | grep -q 'tailscale' || fail "IPv6 TailscaleIP not synced" || return 1
	# tailscaled logs out: its peers go, the WireGuard ones stay
	cp "$ROOT/tests/fixtures/tailscale-status-needslogin.json" "$ENV_DIR/ts.json"
	sleep 1.5
	out=$(tpctl -j identity list)
	echo "$out" | grep -q '100.64.0.20' && { fail "departed Tailscale peers kept"; return 1; }
	echo "$out" | grep -q '100.64.0.2/' || fail "WireGuard entries touched by the Tailscale sync" || return 1
	unset ENV_EXTRA_IFACES ENV_EXTRA_TOP
	return 0
}

test_identities_from_wireguard_uapi() {
	if [ "$E2E_WG" = kernel ]; then
		SKIP_REASON="the tunnels are kernel WireGuard (E2E_WG=kernel): test_identities_from_kernel_wireguard"
		return 77
	fi
	wg_identity_sync
}

test_identities_from_kernel_wireguard() {
	if [ "$E2E_WG" != kernel ]; then
		SKIP_REASON="the tunnels are wireguard-go; E2E_WG=kernel (make vmtest) builds them on kernel WireGuard"
		return 77
	fi
	# the node's interface is the kernel's, and the loader had no socket to read
	ns "$P-node" ip -d link show "$WG_NODE" | grep -qw wireguard ||
		fail "$WG_NODE is not a kernel WireGuard interface" || return 1
	[ ! -e "/var/run/wireguard/$WG_NODE.sock" ] || fail "$WG_NODE has a UAPI socket" || return 1
	wg_identity_sync
}

# Long-lived traffic across kill -9, restart, upgrade and SIGHUP.
# E2E_LOAD_CONNS TCP connections (default 50; make vmtest takes fewer: under
# TCG kernel WireGuard's crypto for 50 would starve the loader's restarts).
test_restart_safety() {
	local ct_before ct_after prog_before prog_after conns=${E2E_LOAD_CONNS:-50}
	load_start "$P-client" 198.19.0.10:9000 "$conns" --udp 198.19.0.10:53 --rate 100
	# all connections up (slow machines and VMs take a while)
	for _ in $(seq 100); do
		[ "$(tpctl -j conntrack list service 198.19.0.10:9000/tcp | grep -o '"backend":"[^"]*"' | wc -l)" -ge "$conns" ] && break
		sleep 0.1
	done
	sleep 1
	tpctl conntrack list service 198.19.0.10:9000/tcp >"$ENV_DIR/ct-before.txt"
	ct_before=$(tpctl -j conntrack list service 198.19.0.10:9000/tcp | grep -o '"backend":"[^"]*"' | sort | md5sum)
	prog_before=$(ingress_prog_id "$WG_NODE")

	tpd_stop KILL
	sleep 1
	tpd_start || fail "restart after kill -9" || return 1
	sleep 1
	tpd_stop TERM
	tpd_start "$BUILD/upgrade/tailplaned" || fail "upgrade start" || return 1
	prog_after=$(ingress_prog_id "$WG_NODE")
	[ -n "$prog_after" ] && [ "$prog_before" != "$prog_after" ] ||
		fail "the upgrade did not replace the program ($prog_before -> $prog_after)" || return 1
	sleep 1
	kill -HUP "$TPD_PID"
	sleep 1
	grep -q '"reloaded"' "$ENV_DIR/tailplaned.log" || fail "SIGHUP not handled" || return 1
	tpd_stop TERM
	tpd_start || fail "start after the upgrade" || return 1
	tpctl conntrack list service 198.19.0.10:9000/tcp >"$ENV_DIR/ct-after.txt"
	ct_after=$(tpctl -j conntrack list service 198.19.0.10:9000/tcp | grep -o '"backend":"[^"]*"' | sort | md5sum)
	# the traffic ran through all of it; stop it and read its counters
	load_stop && load_tcp_ok "$conns" || return 1
	echo "$LOAD_OUT" | grep -q '"udp_lost":0}' || fail "UDP loss" || return 1
	[ "$ct_before" = "$ct_after" ] || {
		fail "conntrack entries changed across restarts"
		awk '{print $3, $4, $5, $6}' "$ENV_DIR/ct-before.txt" | sort >"$ENV_DIR/ct-b"
		awk '{print $3, $4, $5, $6}' "$ENV_DIR/ct-after.txt" | sort >"$ENV_DIR/ct-a"
		diff "$ENV_DIR/ct-b" "$ENV_DIR/ct-a" | head -8
		tpctl conntrack list 2>&1 | head -5
		return 1
	}
}

test_interface_appearing_later() {
	local late=tpl$$ i
	sed "s/\"interfaces\": \\[/\"interfaces\": [ { \"name\": \"$late\", \"kind\": \"tailnet\", \"zone\": 2 },/" \
		"$ENV_DIR/cfg.json" >"$ENV_DIR/cfg2.json"
	mv "$ENV_DIR/cfg2.json" "$ENV_DIR/cfg.json"
	kill -HUP "$TPD_PID"
	sleep 0.5
	attached "$late" && { fail "attached before it exists"; return 1; }
	env_wg "$P-node" "$late"
	for i in $(seq 40); do
		attached "$late" && break
		sleep 0.05
	done
	attached "$late" || fail "not attached when it appeared" || return 1
	ns "$P-node" ip link del "$late"
	sleep 0.5
	attached "$late" && { fail "not forgotten when it left"; return 1; }
	[ -e "$PIN_ROOT/links/$late-ingress" ] && { fail "its link pin was left"; return 1; }
	return 0
}

# An interface taken out of the configuration while it still exists: a
# reload removes its programs (tcx link or clsact filters: the VM's 6.1
# has no tcx) and its description, programs first.
test_interface_leaving_configuration() {
	local gone=tpo$$ idx i
	env_wg "$P-node" "$gone" || return 1
	cp "$ENV_DIR/cfg.json" "$ENV_DIR/cfg-kept.json"
	sed "s/\"interfaces\": \\[/\"interfaces\": [ { \"name\": \"$gone\", \"kind\": \"tailnet\", \"zone\": 2 },/" \
		"$ENV_DIR/cfg-kept.json" >"$ENV_DIR/cfg.json"
	kill -HUP "$TPD_PID"
	for i in $(seq 40); do
		attached "$gone" && break
		sleep 0.05
	done
	attached "$gone" || fail "not attached once configured" || return 1
	idx=$(ns "$P-node" ip -o link show "$gone" | cut -d: -f1)
	tpctl -j status | grep -q "\"ifindex\":$idx," || fail "no description while configured" || return 1
	mv "$ENV_DIR/cfg-kept.json" "$ENV_DIR/cfg.json"
	kill -HUP "$TPD_PID"
	for i in $(seq 40); do
		attached "$gone" || break
		sleep 0.05
	done
	attached "$gone" && { fail "its ingress program stayed after it left the configuration"; return 1; }
	ns "$P-node" tc filter show dev "$gone" egress 2>/dev/null | grep -q tp_to_tailnet &&
		{ fail "its egress program stayed after it left the configuration"; return 1; }
	[ -e "$PIN_ROOT/links/$gone-egress" ] && { fail "its egress link pin was left"; return 1; }
	tpctl -j status | grep -q "\"ifindex\":$idx," && { fail "its description stayed"; return 1; }
	ns "$P-node" ip link del "$gone"
}

# ---- runner -------------------------------------------------------------------

# shellcheck disable=SC2034 # run_all and skip_all (runner.sh) read it
TESTS=(test_tcp_through_clusterip_v4_v6 test_udp_through_clusterip_v4_v6
	test_icmp_echo_through_clusterip_v4_v6 test_policy_allow_deny_audit
	test_identities_from_wireguard_uapi test_identities_from_tailscale_localapi
	test_identities_from_kernel_wireguard
	test_restart_safety test_interface_appearing_later
	test_interface_leaving_configuration)

env_need
[ "$E2E_WG" = kernel ] || env_need wireguard-go
env_need_build tpctl tailplaned upgrade/tailplaned
env_start env_up
env_config "$ENV_DIR/cfg.json" deny
tpd_up
run_suite
