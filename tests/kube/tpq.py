#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Questions about tpctl's JSON, for tests/e2e/test_kube.sh and scale.sh.

Reads `tpctl -j ... list` on standard input:

    tpq.py backends VIP PORT PROTO [OWNER]
        (service list) the service's backends, one "ADDR:PORT STATE" line
        each, sorted; exit 1 when the service is not there (or has
        another owner, when OWNER is given)
    tpq.py services [OWNER]
        (service list) its frontends, "VIP:PORT/PROTO" lines, sorted
    tpq.py count-services [OWNER]
        (service list) how many services (of OWNER)
    tpq.py identity PREFIX
        (identity list) "ID OWNER ZONE" of PREFIX (198.18.1.1/32); exit 1
        when absent
    tpq.py identities OWNER
        (identity list) "PREFIX ID" lines of OWNER's entries
    tpq.py nat TAILNET_ADDR
        (nat static list) "INNER OWNER ZONE"; exit 1 when absent
"""
import ipaddress
import json
import sys


def norm(addr):
    try:
        return str(ipaddress.ip_address(addr.strip("[]")))
    except ValueError:
        return addr


def main():
    a = sys.argv[1:]
    doc = json.load(sys.stdin)
    if isinstance(doc, dict) and "error" in doc:
        print(doc["error"], file=sys.stderr)
        return 2
    cmd = a[0]
    if cmd == "backends":
        vip, port, proto = norm(a[1]), int(a[2]), a[3].lower()
        owner = a[4] if len(a) > 4 else None
        for s in doc:
            if norm(s["vip"]) == vip and s["port"] == port and s["proto"].lower() == proto:
                if owner and s["owner"] != owner:
                    return 1
                lines = []
                for b in s["backends"]:
                    ad = norm(b["addr"])
                    ep = f"[{ad}]:{b['port']}" if ":" in ad else f"{ad}:{b['port']}"
                    lines.append(f"{ep} {b['state']}")
                for ln in sorted(lines):
                    print(ln)
                return 0
        return 1
    if cmd in ("services", "count-services"):
        owner = a[1] if len(a) > 1 else None
        fes = sorted(f"{s['vip']}:{s['port']}/{s['proto']}" for s in doc
                     if not owner or s["owner"] == owner)
        if cmd == "count-services":
            print(len(fes))
        else:
            for f in fes:
                print(f)
        return 0
    if cmd == "identity":
        want = a[1] if "/" in a[1] else a[1] + ("/128" if ":" in a[1] else "/32")
        want = str(ipaddress.ip_network(want))
        for e in doc:
            if str(ipaddress.ip_network(e["prefix"])) == want:
                print(e["identity_id"], e["owner"], e["zone"])
                return 0
        return 1
    if cmd == "identities":
        for e in doc:
            if e["owner"] == a[1]:
                print(e["prefix"], e["identity_id"])
        return 0
    if cmd == "nat":
        for e in doc.get("static", []):
            if norm(e["tailnet"]) == norm(a[1]):
                print(norm(e["inner"]), e["owner"], e["zone"])
                return 0
        return 1
    print(f"tpq.py: unknown question {cmd!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
