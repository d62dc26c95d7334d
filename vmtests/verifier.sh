#!/bin/sh
# The verifier's processed instruction count of every program of the BPF
# object, as this kernel verifies it when tailplaned loads it:
#
#   vmtests/verifier.sh BUILD-DIR
#
# prints "verified PROGRAM INSNS XLATED-BYTES" per program (bpf_prog_info's
# verified_insns, Linux >= 5.16, read by BUILD-DIR/vm/tp-progstat), so a
# run shows the growth toward the verifier's limit of 1,000,000 per
# program.  tailplaned loads the object with the configuration below (the
# knobs it sets before the load shape what the verifier walks) in a network
# namespace of its own, where its one interface never appears: nothing is
# attached.  Needs root.
set -eu
build=$1
pin=/sys/fs/bpf/tp-vstat-$$
dir=$(mktemp -d)
pid=""

cleanup() {
	# stop our loader by its PID, then remove its pins
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	"$build/tailplaned" --pin-root "$pin" --detach --purge >/dev/null 2>&1 ||
		rm -rf "$pin"
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cat >"$dir/cfg.json" <<JSON
{ "pin_root": "$pin", "default_policy": "deny",
  "interfaces": [ { "name": "tpvstat0", "kind": "tailnet", "zone": 1 } ] }
JSON
# unshare -n: the loader's netlink watch sees an empty namespace
unshare -n "$build/tailplaned" --config "$dir/cfg.json" >"$dir/log" 2>&1 &
pid=$!
# the load takes long under TCG: wait for the loader to say it runs
while ! grep -q '"running"' "$dir/log"; do
	if ! kill -0 "$pid" 2>/dev/null; then
		cat "$dir/log" >&2
		echo "verifier: tailplaned did not start" >&2
		exit 1
	fi
	sleep 0.2
done
# the object's programs are those that use its pinned tp_stats map
"$build/vm/tp-progstat" "$pin/tp_stats"
