#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Real-shaped Kubernetes objects for tests/kube/apiserver.py --preload.

    gen.py [--services 10000] [--endpoints 100000] [--pods 10000]
           [--namespaces 50] [--nodes 100] [--max-slice 100]
           [--netpols 0] [--tailnet-pods 0] [--seed N] [--out FILE]

Writes JSON lines (one object each): Namespaces, Services (ClusterIP,
ClusterIPs from 198.19.0.0/16; an "http" port 80 -> 8080/TCP on every one,
a "dns" port 53 -> 5353/UDP on every tenth), EndpointSlices
(discovery.k8s.io/v1, label kubernetes.io/service-name, at most
--max-slice endpoints each, so a service with more endpoints has several
slices), Pods (labels, podIP/podIPs, nodeName node1..nodeN) and, if asked,
NetworkPolicies.  Endpoints per service vary (a long-tailed spread, a few
services with hundreds, none above --max-per-service, 256 by default: the
datapath's TP_MAX_SVC_BACKENDS) and add up to exactly --endpoints.  Endpoint
addresses come from a pool of 62,500 pod addresses
(198.18.2.1-198.18.251.250): endpoints of different services share pods,
as they do in a cluster.  Pods are the first --pods addresses of that pool;
--tailnet-pods of the pods on node1 carry tailplane.io/tailnet-address.
Objects carry managedFields as real ones do (bulk the client must skip).
The seed is printed on stderr with the counts; the same seed writes the
same file (uids and resourceVersions are the server's).

Also a module: namespace(), service(), endpoint_slice(), pod() and
network_policy() build single objects for tests.
"""

import argparse
import json
import random
import sys

POOL = 250 * 250
TS = "2026-01-01T00:00:00Z"


def pool_ip(j):
    j %= POOL
    return f"198.18.{2 + j // 250}.{1 + j % 250}"


def managed_fields(manager, fields):
    return [{"manager": manager, "operation": "Update", "apiVersion": "v1", "time": TS,
             "fieldsType": "FieldsV1", "fieldsV1": fields}]


def namespace(name, labels=None):
    lb = {"kubernetes.io/metadata.name": name}
    lb.update(labels or {})
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "labels": lb},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def service(ns, name, ips, ports, selector=None, typ="ClusterIP", annotations=None,
            affinity_timeout=None, lb_ips=None):
    """ips: ["198.19.0.10", "fd00:198:19::a"]; ports: [(name, port, target, proto)]."""
    fam = ["IPv6" if ":" in ip else "IPv4" for ip in ips]
    spec = {
        "ports": [{"name": n, "protocol": pr, "port": p, "targetPort": t} for n, p, t, pr in ports],
        "selector": selector or {"app": name},
        "clusterIP": ips[0], "clusterIPs": list(ips), "type": typ,
        "sessionAffinity": "None", "ipFamilies": fam,
        "ipFamilyPolicy": "RequireDualStack" if len(ips) > 1 else "SingleStack",
        "internalTrafficPolicy": "Cluster",
    }
    if affinity_timeout:
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": affinity_timeout}}
    md = {"name": name, "namespace": ns, "labels": {"app": name}}
    if annotations:
        md["annotations"] = dict(annotations)
    md["managedFields"] = managed_fields("kubectl-client-side-apply", {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:internalTrafficPolicy": {}, "f:ports": {".": {}, 'k:{"port":80,"protocol":"TCP"}': {
            ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
            "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}}})
    status = {"loadBalancer": {}}
    if lb_ips:
        status["loadBalancer"] = {"ingress": [{"ip": ip} for ip in lb_ips]}
    return {"kind": "Service", "apiVersion": "v1", "metadata": md, "spec": spec, "status": status}


def endpoint(ip, node=None, ready=True, serving=None, terminating=None, pod=None, ns=None):
    """One endpoints[] entry; serving/terminating None leave them out."""
    cond = {"ready": ready}
    if serving is not None:
        cond["serving"] = serving
    if terminating is not None:
        cond["terminating"] = terminating
    e = {"addresses": [ip], "conditions": cond}
    if node:
        e["nodeName"] = node
    if pod:
        e["targetRef"] = {"kind": "Pod", "namespace": ns, "name": pod, "uid": pod + "-uid"}
    return e


def endpoint_slice(ns, name, svc, endpoints, ports, family="IPv4"):
    """ports: [(name, port, proto)]."""
    return {
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": name, "namespace": ns, "generateName": svc + "-",
            "labels": {"kubernetes.io/service-name": svc,
                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": TS},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": svc,
                                 "uid": svc + "-uid", "controller": True,
                                 "blockOwnerDeletion": True}],
            "managedFields": managed_fields("endpointslice-controller", {
                "f:addressType": {}, "f:endpoints": {}, "f:metadata": {"f:labels": {}},
                "f:ports": {}}),
        },
        "addressType": family,
        "endpoints": endpoints,
        "ports": [{"name": n, "protocol": pr, "port": p} for n, p, pr in ports],
    }


def pod(ns, name, ips, node, labels=None, annotations=None, phase="Running", ports=None,
        host_network=False):
    md = {"name": name, "namespace": ns, "labels": dict(labels or {})}
    if annotations:
        md["annotations"] = dict(annotations)
    ctr = {"name": "main", "image": "registry.example/app:1", "resources": {},
           "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"}
    if ports:
        ctr["ports"] = [{"name": n, "containerPort": p, "protocol": pr} for n, p, pr in ports]
    spec = {"containers": [ctr], "nodeName": node, "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "schedulerName": "default-scheduler"}
    if host_network:
        spec["hostNetwork"] = True
    status = {"phase": phase, "hostIP": "198.18.0.1", "startTime": TS,
              "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": TS}]}
    if ips:
        status["podIP"] = ips[0]
        status["podIPs"] = [{"ip": ip} for ip in ips]
    return {"kind": "Pod", "apiVersion": "v1", "metadata": md, "spec": spec, "status": status}


def network_policy(ns, name, pod_selector, ingress, policy_types=("Ingress",)):
    return {"kind": "NetworkPolicy", "apiVersion": "networking.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": pod_selector, "ingress": ingress,
                     "policyTypes": list(policy_types)}}


def spread(rng, n, total, cap):
    """n counts >= 1 adding up to total, long-tailed, none above cap."""
    if total < n or total > n * cap:
        raise SystemExit(f"gen.py: {total} endpoints cannot go to {n} services, 1 to {cap} each")
    w = [min(rng.paretovariate(1.3), 60.0) for _ in range(n)]
    s = sum(w)
    c = [max(1, min(cap, int(total * x / s))) for x in w]
    diff = total - sum(c)
    order = sorted(range(n), key=lambda i: -w[i])
    # one at a time, heaviest first, round and round: no single service
    # takes the whole remainder
    while diff:
        moved = False
        for k in order:
            if diff > 0 and c[k] < cap:
                c[k] += 1
                diff -= 1
                moved = True
            elif diff < 0 and c[k] > 1:
                c[k] -= 1
                diff += 1
                moved = True
            if not diff:
                break
        if not moved:
            break
    return c


def generate(a, out):
    rng = random.Random(a.seed)
    nss = [f"ns-{i:03d}" for i in range(a.namespaces)]
    counts = {"Namespace": 0, "Service": 0, "EndpointSlice": 0, "Pod": 0, "NetworkPolicy": 0,
              "endpoints": 0}

    def emit(o):
        out.write(json.dumps(o, separators=(",", ":")))
        out.write("\n")
        counts[o["kind"]] += 1

    for i, ns in enumerate(nss):
        emit(namespace(ns, {"team": f"team-{i % 7}"}))
    per_svc = spread(rng, a.services, a.endpoints, min(POOL, a.max_per_service))
    j = 0
    for i in range(a.services):
        ns, name = nss[i % len(nss)], f"svc-{i:05d}"
        ip = f"198.19.{(i + 256) // 256 % 256}.{(i + 256) % 256}"
        ports = [("http", 80, 8080, "TCP")]
        if i % 10 == 0:
            ports.append(("dns", 53, 5353, "UDP"))
        emit(service(ns, name, [ip], ports))
        sports = [(n, t, pr) for n, _p, t, pr in ports]
        left, k = per_svc[i], 0
        while left:
            take = min(left, a.max_slice)
            eps = []
            for _ in range(take):
                node = f"node{1 + j % a.nodes}"
                pname = f"pod-{j % POOL:05d}" if j % POOL < a.pods else None
                eps.append(endpoint(pool_ip(j), node=node, ready=True, serving=True,
                                    terminating=False, pod=pname, ns=ns))
                j += 1
            emit(endpoint_slice(ns, f"{name}-{k:05x}", name, eps, sports))
            counts["endpoints"] += take
            left -= take
            k += 1
    tailnet = 0
    for p in range(min(a.pods, POOL)):
        node = f"node{1 + p % a.nodes}"
        ann = None
        if node == "node1" and tailnet < a.tailnet_pods:
            ann = {"tailplane.io/tailnet-address": f"100.96.{tailnet // 250}.{1 + tailnet % 250}"}
            tailnet += 1
        emit(pod(nss[p % len(nss)], f"pod-{p:05d}", [pool_ip(p)], node,
                 labels={"app": f"app-{p % 500}", "tier": ("web", "api", "db")[p % 3],
                         "pod-template-hash": f"{rng.getrandbits(32):08x}"},
                 annotations=ann, ports=[("http", 8080, "TCP")]))
    for n in range(a.netpols):
        emit(network_policy(nss[n % len(nss)], f"np-{n:04d}", {"matchLabels": {"tier": "db"}},
                            [{"from": [{"ipBlock": {"cidr": "100.64.0.0/10",
                                                    "except": ["100.64.9.0/24"]}},
                                       {"podSelector": {"matchLabels": {"tier": "api"}}}],
                              "ports": [{"protocol": "TCP", "port": 5432}]}]))
    return counts


def main():
    ap = argparse.ArgumentParser(description="real-shaped objects for apiserver.py --preload")
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--endpoints", type=int, default=100000)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--namespaces", type=int, default=50)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--max-slice", type=int, default=100)
    ap.add_argument("--max-per-service", type=int, default=256,
                    help="endpoints of one service at most (the datapath's TP_MAX_SVC_BACKENDS)")
    ap.add_argument("--netpols", type=int, default=0)
    ap.add_argument("--tailnet-pods", type=int, default=0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", default="-")
    a = ap.parse_args()
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    out = sys.stdout if a.out == "-" else open(a.out, "w")
    counts = generate(a, out)
    out.flush()
    if out is not sys.stdout:
        out.close()
    print(f"gen.py: seed {a.seed}: " + ", ".join(f"{v} {k}" for k, v in counts.items()),
          file=sys.stderr)


if __name__ == "__main__":
    main()
