#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A Kubernetes client's view of tests/kube/apiserver.py, for scale.sh:
what the server itself costs, so the loader's figures can be read
against it.

    probe.py list-all PORTS_FILE CA TOKEN_FILE [LIMIT]
        every resource listed in pages of LIMIT (500), as the loader does:
        items, pages, bytes and seconds per resource, as one JSON line
    probe.py watch-latency PORTS_FILE CA TOKEN_FILE NS SLICE [N]
        N (10) times: a change of the EndpointSlice NS/SLICE through the
        control port, and the time until a watch receives it; min, median
        and max in ms, as one JSON line
"""
import http.client
import json
import ssl
import statistics
import sys
import time
import urllib.parse

PATHS = ["/api/v1/namespaces", "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices",
         "/api/v1/pods", "/apis/networking.k8s.io/v1/networkpolicies"]


def ports(path):
    return {k: int(v) for k, v in (ln.strip().split("=", 1) for ln in open(path) if "=" in ln)}


def api(p, ca, token_file):
    ctx = ssl.create_default_context(cafile=ca)
    c = http.client.HTTPSConnection("127.0.0.1", p["API_PORT"], context=ctx, timeout=60)
    tok = open(token_file).read().strip()
    return c, {"Authorization": "Bearer " + tok}


def list_all(pf, ca, tf, limit=500):
    p = ports(pf)
    c, hdr = api(p, ca, tf)
    out, t00 = {}, time.monotonic()
    for path in PATHS:
        t0, cont, n, pages, nbytes = time.monotonic(), "", 0, 0, 0
        while True:
            q = f"?limit={limit}" + (f"&continue={urllib.parse.quote(cont, safe='')}" if cont else "")
            c.request("GET", path + q, headers=hdr)
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                raise SystemExit(f"probe.py: {path}: HTTP {r.status}: {body[:200]!r}")
            nbytes += len(body)
            d = json.loads(body)
            n += len(d["items"])
            pages += 1
            cont = d["metadata"].get("continue", "")
            if not cont:
                break
        out[path.rsplit("/", 1)[1]] = {"items": n, "pages": pages, "bytes": nbytes,
                                       "seconds": round(time.monotonic() - t0, 3)}
    out["total_seconds"] = round(time.monotonic() - t00, 3)
    print(json.dumps(out))


def watch_latency(pf, ca, tf, ns, name, n=10):
    p = ports(pf)
    c, hdr = api(p, ca, tf)
    ctl = http.client.HTTPConnection("127.0.0.1", p["CONTROL_PORT"], timeout=10)
    ctl.request("GET", f"/objects/endpointslices/{ns}/{name}")
    r = ctl.getresponse()
    sl = json.loads(r.read())
    if r.status != 200:
        raise SystemExit(f"probe.py: no slice {ns}/{name}: {sl}")
    ctl.request("GET", "/stats")
    rv = json.loads(ctl.getresponse().read())["resource_version"]
    c.request("GET", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?watch=1&"
              f"resourceVersion={rv}&allowWatchBookmarks=true", headers=hdr)
    w = c.getresponse()
    eps = sl["endpoints"]
    lat = []
    for i in range(n):
        e = dict(eps[0])
        e["addresses"] = [f"198.18.253.{1 + i % 250}"]
        body = json.dumps({"endpoints": [e] + eps[1:]}).encode()
        t0 = time.monotonic()
        ctl.request("PATCH", f"/objects/endpointslices/{ns}/{name}", body=body)
        rr = ctl.getresponse()
        rr.read()
        while True:
            ev = json.loads(w.readline())
            if ev["type"] == "ERROR":
                raise SystemExit(f"probe.py: watch: {ev['object']}")
            if ev["type"] == "MODIFIED" and ev["object"]["metadata"]["name"] == name:
                break
        lat.append((time.monotonic() - t0) * 1000)
    # back to what it was
    ctl.request("PATCH", f"/objects/endpointslices/{ns}/{name}",
                body=json.dumps({"endpoints": eps}).encode())
    ctl.getresponse().read()
    print(json.dumps({"changes": n, "min_ms": round(min(lat), 2),
                      "median_ms": round(statistics.median(lat), 2), "max_ms": round(max(lat), 2)}))


def main():
    a = sys.argv[1:]
    if a and a[0] == "list-all" and len(a) in (4, 5):
        list_all(a[1], a[2], a[3], int(a[4]) if len(a) > 4 else 500)
    elif a and a[0] == "watch-latency" and len(a) in (6, 7):
        watch_latency(a[1], a[2], a[3], a[4], a[5], int(a[6]) if len(a) > 6 else 10)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
