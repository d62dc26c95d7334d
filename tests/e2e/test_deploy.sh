#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# deploy/: the kustomization renders and says what it should (capabilities,
# mounts, RBAC, probes), the loader runs with exactly the DaemonSet's
# capabilities and its probes read it right, the systemd unit verifies and
# is hardened, the Dockerfile builds with the project's make targets and
# installs the libraries the binaries link.  Prints cmocka-style results
# so tests/run.sh counts them.  kubectl never contacts a cluster: it only
# renders (kustomize) and converts (annotate --local).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
CHECKS=$ROOT/tests/e2e/deploy_checks.py
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tp-deploy.XXXXXX")
NETNS=tpdep$$
PIN_ROOT=/sys/fs/bpf/tp-deploy-$$
TPD_PID=
export KUBECONFIG=$TMP/no-cluster

. "$ROOT/tests/e2e/runner.sh"

skip() { SKIP_REASON=$*; return 77; }
have() { command -v "$1" >/dev/null 2>&1; }

# render DIR NAME: kubectl kustomize DIR into $TMP/NAME.yaml and, as one
# JSON object per Kubernetes object, $TMP/NAME.json
render() {
	kubectl kustomize "$1" >"$TMP/$2.yaml" 2>"$TMP/$2.err" ||
		{ cat "$TMP/$2.err"; fail "kubectl kustomize $1"; return 1; }
	kubectl annotate --local -f "$TMP/$2.yaml" -o json tailplane.dev/rendered=test \
		>"$TMP/$2.json" 2>"$TMP/$2.err" ||
		{ cat "$TMP/$2.err"; fail "kubectl could not read the rendered $1"; return 1; }
}

need_render() { # need_render NAME: skip unless render NAME worked
	have kubectl || skip "kubectl is not installed (make deps)" || return
	have python3 || skip "python3 is not installed (make deps)" || return
	[ -s "$TMP/$1.json" ] || fail "deploy/kubernetes did not render (see test_kustomize_renders)"
}

check() { python3 "$CHECKS" "$@"; }

tpd_stop() {
	[ -n "$TPD_PID" ] || return 0
	kill "$TPD_PID" 2>/dev/null
	wait "$TPD_PID" 2>/dev/null
	TPD_PID=
}

cleanup() {
	tpd_stop
	if [ -d "$PIN_ROOT" ]; then
		"$BUILD/tailplaned" --pin-root "$PIN_ROOT" --detach --purge >/dev/null 2>&1
	fi
	ip netns del "$NETNS" 2>/dev/null
	rm -rf "$TMP"
}

# ---- kubernetes ---------------------------------------------------------------

test_kustomize_renders() {
	have kubectl || skip "kubectl is not installed (make deps)" || return
	have python3 || skip "python3 is not installed (make deps)" || return
	render "$ROOT/deploy/kubernetes" base || return 1
	render "$ROOT/deploy/kubernetes/overlays/tailscale-subnet-router" overlay || return 1
	echo "   $(grep -c '^kind:' "$TMP/base.yaml") objects, overlay $(grep -c '^kind:' "$TMP/overlay.yaml")"
}

test_objects_and_namespace() { need_render base || return; check objects "$TMP/base.json"; }

test_rbac_reads_exactly_the_synced_resources() { need_render base || return; check rbac "$TMP/base.json"; }

test_daemonset_capabilities_not_privileged() { need_render base || return; check security "$TMP/base.json"; }

test_daemonset_mounts_and_propagation() { need_render base || return; check mounts "$TMP/base.json"; }

test_daemonset_env_probes_resources_update() { need_render base || return; check runtime "$TMP/base.json"; }

test_overlay_tailscale_subnet_router() { need_render overlay || return; check overlay "$TMP/overlay.json"; }

# The liveness probe restarts the loader for what a restart repairs (no
# loader, maps gone: tpctl status 2, 3), not when it cannot tell (1).
test_liveness_probe_exit_codes() {
	local cmd rc want code
	need_render base || return
	cmd=$(check liveness "$TMP/base.json") || return 1
	for code in 0 1 2 3; do
		printf '#!/bin/sh\nexit %s\n' "$code" >"$TMP/tpctl-stub"
		chmod +x "$TMP/tpctl-stub"
		sh -c "${cmd//\/usr\/local\/sbin\/tpctl/$TMP/tpctl-stub}"
		rc=$?
		case $code in 0 | 1) want=0 ;; *) want=1 ;; esac
		[ "$rc" = "$want" ] || fail "tpctl status $code: probe exits $rc, expected $want" || return 1
	done
}

# Each ConfigMap holds a configuration the loader accepts.
test_configmaps_pass_check_config() {
	local name
	need_render base || return
	need_render overlay || return
	[ -x "$BUILD/tailplaned" ] || skip "build first (make all)" || return
	"$BUILD/tailplaned" --help 2>&1 | grep -q -- '--check-config' ||
		skip "tailplaned has no --check-config yet (test_loader_runs_with_daemonset_capabilities loads the configurations instead)" ||
		return
	for name in base overlay; do
		check config "$TMP/$name.json" >"$TMP/$name-config.json" || return 1
		"$BUILD/tailplaned" --check-config "$TMP/$name-config.json" ||
			fail "$name: tailplaned --check-config refuses the ConfigMap" || return 1
	done
}

# as_daemonset CMD...: CMD with only the DaemonSet's capabilities (also for
# uid 0) and no_new_privs (allowPrivilegeEscalation: false)
as_daemonset() {
	setpriv --bounding-set "-all,+${CAPS//,/,+}" --inh-caps=-all --no-new-privs -- "$@"
}

# The loader loads, pins and attaches with the DaemonSet's capabilities and
# nothing else, for the configuration of each ConfigMap; the probes, with
# the same capabilities, see it healthy, then stopped (the pins stay: what
# a rolling update relies on), then healthy again.  Each capability is
# needed: without any one of them the datapath does not come up.
test_loader_runs_with_daemonset_capabilities() {
	local name rc cap live
	need_render base || return
	need_render overlay || return
	[ "$(id -u)" = 0 ] || skip "needs root (BPF, a network namespace)" || return
	[ -x "$BUILD/tailplaned" ] && [ -x "$BUILD/tpctl" ] || skip "build first (make all)" || return
	have setpriv && have nsenter || skip "setpriv or nsenter missing (util-linux)" || return
	[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ] || skip "no bpffs on /sys/fs/bpf" || return
	CAPS=$(check caps "$TMP/base.json") || return 1
	live=$(check liveness "$TMP/base.json") || return 1
	live=${live//\/usr\/local\/sbin\/tpctl/as_daemonset $BUILD/tpctl --pin-root $PIN_ROOT}
	ip netns add "$NETNS" || fail "ip netns add" || return 1
	ip -n "$NETNS" tuntap add dev tailscale0 mode tun &&
		ip -n "$NETNS" link set tailscale0 up || fail "tailscale0 in $NETNS" || return 1
	for name in base overlay; do
		check config "$TMP/$name.json" >"$TMP/$name-config.json" || return 1
		tpd_start "$TMP/$name-config.json" "$TMP/$name.log" || return 1
		as_daemonset "$BUILD/tpctl" --pin-root "$PIN_ROOT" status >"$TMP/status" 2>&1 ||
			{ cat "$TMP/status"; fail "$name: readiness (tpctl status) not 0 with a running loader"; return 1; }
		grep -q '"msg":"attached","iface":"tailscale0"' "$TMP/$name.log" ||
			{ cat "$TMP/$name.log"; fail "$name: tailscale0 not attached"; return 1; }
		(eval "$live") 2>/dev/null || fail "$name: liveness fails with a running loader" || return 1
		# state an operator wrote, to find again after the restart
		as_daemonset "$BUILD/tpctl" --pin-root "$PIN_ROOT" identity add 198.18.77.0/24 777 ||
			fail "$name: tpctl identity add with the DaemonSet's capabilities" || return 1
		tpd_stop
		as_daemonset "$BUILD/tpctl" --pin-root "$PIN_ROOT" status >/dev/null 2>&1
		rc=$?
		[ "$rc" = 2 ] || fail "$name: tpctl status $rc after the loader stopped, expected 2 (maps pinned, no loader)" || return 1
		(eval "$live") 2>/dev/null && { fail "$name: liveness passes without a loader"; return 1; }
		tpd_start "$TMP/$name-config.json" "$TMP/$name-restart.log" || return 1
		as_daemonset "$BUILD/tpctl" --pin-root "$PIN_ROOT" status >/dev/null 2>&1 ||
			fail "$name: not healthy after a restart on the pinned state" || return 1
		as_daemonset "$BUILD/tpctl" --pin-root "$PIN_ROOT" -j identity list | grep -q '198.18.77.0/24' ||
			fail "$name: the pinned identity did not survive the restart" || return 1
		tpd_stop
		"$BUILD/tailplaned" --pin-root "$PIN_ROOT" --detach --purge >/dev/null 2>&1
	done
	for cap in ${CAPS//,/ }; do
		if nsenter --net="/run/netns/$NETNS" setpriv --bounding-set "-all,+$(echo ",$CAPS," |
			sed "s/,$cap,/,/; s/^,//; s/,$//; s/,/,+/g")" --inh-caps=-all --no-new-privs -- \
			"$BUILD/tailplaned" --config "$TMP/base-config.json" --pin-root "$PIN_ROOT" --once \
			>"$TMP/without-$cap.log" 2>&1; then
			"$BUILD/tailplaned" --pin-root "$PIN_ROOT" --detach --purge >/dev/null 2>&1
			fail "the loader came up without CAP_${cap^^}: the DaemonSet asks for more than it needs"
			return 1
		fi
		"$BUILD/tailplaned" --pin-root "$PIN_ROOT" --detach --purge >/dev/null 2>&1
		echo "   without CAP_${cap^^}: $(grep -o '"level":"error","msg":"[^"]*"' "$TMP/without-$cap.log" |
			head -1 | cut -d'"' -f8)"
	done
	return 0
}

tpd_start() { # tpd_start CONFIG LOG: the loader as the DaemonSet runs it, in $NETNS
	: >"$2" # before the start: the wait below must not read an earlier run
	nsenter --net="/run/netns/$NETNS" setpriv --bounding-set "-all,+${CAPS//,/,+}" \
		--inh-caps=-all --no-new-privs -- \
		"$BUILD/tailplaned" --config "$1" --pin-root "$PIN_ROOT" >"$2" 2>&1 &
	TPD_PID=$!
	for _ in $(seq 150); do
		grep -q '"running"' "$2" && return 0
		kill -0 "$TPD_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$2"
	fail "tailplaned did not start with $1"
}

# ---- systemd --------------------------------------------------------------------

UNIT=$ROOT/deploy/tailplaned.service

test_systemd_unit_verifies() {
	local dir=$TMP/unit
	have systemd-analyze || skip "systemd-analyze is not installed (make deps)" || return
	[ -x "$BUILD/tailplaned" ] || skip "build first (make all)" || return
	# the ExecStart binary must exist: the built one; the man pages the
	# Documentation= line names: the project's
	mkdir -p "$dir/man/man8"
	cp "$ROOT"/docs/*.8 "$dir/man/man8/"
	sed "s|^ExecStart=/usr/local/sbin/tailplaned |ExecStart=$BUILD/tailplaned |" "$UNIT" >"$dir/tailplaned.service"
	grep -q "^ExecStart=$BUILD/tailplaned " "$dir/tailplaned.service" ||
		fail "no ExecStart=/usr/local/sbin/tailplaned in the unit" || return 1
	local man=--man=yes
	have man || man=--man=no
	(cd "$dir" && MANPATH=$dir/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$man" tailplaned.service) \
		>"$dir/verify.log" 2>&1
	local rc=$?
	if [ "$rc" != 0 ] || grep -q 'tailplaned.service' "$dir/verify.log"; then
		cat "$dir/verify.log"
		fail "systemd-analyze verify: status $rc"
		return 1
	fi
}

unit_value() { # unit_value KEY: the values of KEY= in the unit, one line
	sed -n "s/^$1=//p" "$UNIT" | tr '\n' ' ' | sed 's/ *$//'
}

test_systemd_unit_hardening() {
	local k v want score
	want="After:tailscaled.service After:wg-quick Restart:on-failure
		ProtectSystem:strict NoNewPrivileges:yes ProtectHome:yes PrivateTmp:yes
		SystemCallArchitectures:native LockPersonality:yes MemoryDenyWriteExecute:yes
		ProtectKernelTunables:yes ProtectKernelModules:yes ProtectControlGroups:yes
		RestrictNamespaces:yes RestrictSUIDSGID:yes RuntimeDirectory:tailplane"
	for k in $want; do
		unit_value "${k%%:*}" | grep -q -- "${k#*:}" || fail "${k%%:*}= does not have ${k#*:}" || return 1
	done
	v=$(unit_value RestrictAddressFamilies | tr ' ' '\n' | sort | tr '\n' ' ')
	[ "$v" = "AF_INET AF_INET6 AF_NETLINK AF_UNIX " ] ||
		fail "RestrictAddressFamilies=$v, expected AF_UNIX AF_NETLINK AF_INET AF_INET6" || return 1
	v=$(unit_value ReadWritePaths)
	echo " $v " | grep -q ' /sys/fs/bpf ' || fail "ReadWritePaths=$v lacks the bpffs /sys/fs/bpf" || return 1
	# the unit's capabilities are the DaemonSet's
	v=$(unit_value CapabilityBoundingSet | tr ' ' '\n' | sort | tr '\n' ' ')
	[ "$v" = "CAP_BPF CAP_NET_ADMIN CAP_PERFMON " ] ||
		fail "CapabilityBoundingSet=$v, expected CAP_BPF CAP_NET_ADMIN CAP_PERFMON" || return 1
	if [ -s "$TMP/base.json" ]; then
		[ "$(check caps "$TMP/base.json")" = "bpf,net_admin,perfmon" ] ||
			fail "the DaemonSet's capabilities are not the unit's" || return 1
	fi
	have systemd-analyze || { echo "   (systemd-analyze is not installed: no exposure score)"; return 0; }
	systemd-analyze security --offline=yes "$UNIT" >"$TMP/security.log" 2>&1 ||
		{ cat "$TMP/security.log"; fail "systemd-analyze security --offline=yes"; return 1; }
	score=$(sed -n 's/.*Overall exposure level for tailplaned.service: \([0-9.]*\).*/\1/p' "$TMP/security.log")
	echo "   systemd-analyze security: exposure $score (0 safest, 10 unsafe)"
	[ -n "$score" ] || fail "no exposure score" || return 1
	# a loosened unit fails here: 2.0 when written
	awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }' || fail "exposure $score above 2.5" || return 1
}

# ---- image ----------------------------------------------------------------------

DOCKERFILE=$ROOT/deploy/Dockerfile

# the instructions of stage N (0-based), continuation lines joined
stage() {
	sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$DOCKERFILE" | grep -v '^[[:space:]]*#' |
		awk -v n="$1" 'toupper($1) == "FROM" { s++ } s == n + 1'
}

test_dockerfile_stages_and_make_targets() {
	local froms targets t
	if have hadolint; then
		hadolint "$DOCKERFILE" || fail "hadolint" || return 1
	fi
	froms=$(grep -i '^FROM ' "$DOCKERFILE")
	[ "$(echo "$froms" | wc -l)" = 2 ] || fail "stages: $froms" || return 1
	echo "$froms" | head -1 | grep -Eq '^FROM debian:bookworm AS build$' ||
		fail "first stage: $(echo "$froms" | head -1), expected FROM debian:bookworm AS build" || return 1
	echo "$froms" | tail -1 | grep -Eq '^FROM debian:bookworm-slim( AS [a-z]+)?$' ||
		fail "runtime stage: $(echo "$froms" | tail -1)" || return 1
	# The build stage runs the targets CI's `make test` builds with:
	# .ci/run runs make test; the Makefile's test target is deps, then all.
	grep -q '^make test$' "$ROOT/.ci/run" || fail ".ci/run does not run make test" || return 1
	targets=$(sed -n 's/^test:[[:space:]]*//p' "$ROOT/Makefile")
	# shellcheck disable=SC2016 # $(MAKE) is make's, not the shell's
	targets="$targets $(awk '/^test:/ { t = 1; next } t && /^\t/ { print; next } { t = 0 }' "$ROOT/Makefile" |
		grep -o '$(MAKE)[^;]* all' | awk '{ print $NF }')"
	[ "$targets" = "deps all" ] || fail "make test builds with '$targets', this test knows 'deps all'" || return 1
	for t in $targets; do
		stage 0 | grep -Eq "^RUN make $t\$" || fail "the build stage does not RUN make $t" || return 1
	done
	[ "$(stage 0 | grep -Ec '^RUN make ')" = 2 ] || fail "the build stage runs other make targets" || return 1
	[ "$(stage 0 | grep -n 'make deps' | cut -d: -f1)" -lt "$(stage 0 | grep -n 'make all' | cut -d: -f1)" ] ||
		fail "make all before make deps" || return 1
	stage 1 | grep -Eq '^COPY --from=build /src/build/tailplaned /src/build/tpctl /usr/local/sbin/$' ||
		fail "the runtime stage does not copy build/tailplaned and build/tpctl to /usr/local/sbin" || return 1
	stage 1 | grep -q '^ENTRYPOINT \["/usr/local/sbin/tailplaned"\]' || fail "ENTRYPOINT" || return 1
	stage 1 | grep -q '^USER ' || fail "the runtime stage does not say its user" || return 1
	stage 1 | grep 'apt-get install' | grep -q -- '--no-install-recommends' ||
		fail "runtime apt-get install without --no-install-recommends" || return 1
	stage 1 | grep -q 'rm -rf /var/lib/apt/lists' || fail "apt lists left in the image" || return 1
	grep -qx 'build' "$ROOT/deploy/Dockerfile.dockerignore" ||
		fail "deploy/Dockerfile.dockerignore does not keep build/ out" || return 1
}

# The runtime stage installs the package of every library tailplaned and
# tpctl link directly (ldd's first level), and of those tailplaned loads
# with dlopen() (libcurl.so.4: the SONAMEs its text names); apt brings
# the rest.
test_dockerfile_runtime_libraries() {
	local bin lib pkg pkgs missing=""
	[ -x "$BUILD/tailplaned" ] && [ -x "$BUILD/tpctl" ] || skip "build first (make all)" || return
	have dpkg && have readelf && have strings || skip "needs dpkg, readelf and strings" || return
	pkgs="$(stage 1 | grep 'apt-get install' | awk '{ for (i = 1; i <= NF; i++)
		if ($i == "install") on = 1; else if ($i == "&&") on = 0;
		else if (on && $i !~ /^-/) printf " %s", $i }') "
	echo "   runtime packages:$pkgs"
	for bin in tailplaned tpctl; do
		for lib in $(readelf -d "$BUILD/$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p') \
			$(strings -a "$BUILD/$bin" | grep -E '^lib[a-z0-9_+-]+\.so\.[0-9]+$' | sort -u); do
			pkg=$(dpkg -S "*/$lib" 2>/dev/null | grep -v -- '-dev' | head -1 | cut -d: -f1)
			[ -n "$pkg" ] || { missing="$missing $lib(no package)"; continue; }
			[ "$pkg" = libc6 ] && continue # in every Debian image
			case "$pkgs" in *" $pkg "*) ;; *) missing="$missing $lib($pkg)" ;; esac
		done
	done
	[ -z "$missing" ] || fail "libraries the runtime stage does not install:$missing" || return 1
	echo "   ldd: $(ldd "$BUILD/tailplaned" "$BUILD/tpctl" | awk '/=>/ { print $1 }' | sort -u | tr '\n' ' ')"
}

# ---- runner -------------------------------------------------------------------

# shellcheck disable=SC2034 # run_all and skip_all (runner.sh) read it
TESTS=(test_kustomize_renders test_objects_and_namespace
	test_rbac_reads_exactly_the_synced_resources
	test_daemonset_capabilities_not_privileged test_daemonset_mounts_and_propagation
	test_daemonset_env_probes_resources_update test_overlay_tailscale_subnet_router
	test_liveness_probe_exit_codes test_configmaps_pass_check_config
	test_loader_runs_with_daemonset_capabilities
	test_systemd_unit_verifies test_systemd_unit_hardening
	test_dockerfile_stages_and_make_targets test_dockerfile_runtime_libraries)

# DEPLOY_ONLY="test_a test_b" runs just those (debugging)
# shellcheck disable=SC2034 # run_all (runner.sh) reads it
[ -n "${DEPLOY_ONLY:-}" ] && read -r -a TESTS <<<"$DEPLOY_ONLY"

trap cleanup EXIT
trap 'exit 130' INT TERM
run_all
summary
[ "$FAILED" = 0 ]
