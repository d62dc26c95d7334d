#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Checks of the rendered deploy/kubernetes objects, for test_deploy.sh.

    deploy_checks.py CHECK OBJECTS.json [ARG]

OBJECTS.json is what `kubectl annotate --local -o json` prints for the
output of `kubectl kustomize`: one JSON object per Kubernetes object,
one after the other (or a List).  Each check prints what is wrong, one
line each, and exits 1 when something is; 0 otherwise.  A few "checks"
print a value for the shell instead (caps, liveness, config).
"""
import json
import sys

NAMESPACE = "tailplane-system"
CAPS = {"BPF", "NET_ADMIN", "PERFMON"}
RBAC = {
    ("", "services"), ("", "pods"), ("", "namespaces"),
    ("discovery.k8s.io", "endpointslices"),
    ("networking.k8s.io", "networkpolicies"),
}
VERBS = {"get", "list", "watch"}
TPCTL = "/usr/local/sbin/tpctl"
TAILPLANED = "/usr/local/sbin/tailplaned"

errors = []


def bad(msg):
    errors.append(msg)


def load(path):
    text = open(path).read()
    dec = json.JSONDecoder()
    objs, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = dec.raw_decode(text, i)
        if obj.get("kind") == "List":
            objs.extend(obj.get("items", []))
        else:
            objs.append(obj)
    return objs


def one(objs, kind):
    found = [o for o in objs if o.get("kind") == kind]
    if len(found) != 1:
        bad(f"{len(found)} {kind} objects, expected 1")
        return {}
    return found[0]


def pod_spec(objs):
    return one(objs, "DaemonSet").get("spec", {}).get("template", {}).get("spec", {})


def main_container(spec):
    for c in spec.get("containers", []):
        if c.get("name") == "tailplaned":
            return c
    bad("no container named tailplaned")
    return {}


def privileged(c):
    return bool(c.get("securityContext", {}).get("privileged"))


def check_objects(objs):
    kinds = sorted(o.get("kind", "?") for o in objs)
    want = sorted(["Namespace", "ServiceAccount", "ClusterRole",
                   "ClusterRoleBinding", "ConfigMap", "DaemonSet"])
    if kinds != want:
        bad(f"objects {kinds}, expected {want}")
    for o in objs:
        md = o.get("metadata", {})
        if o.get("kind") in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            continue
        if md.get("namespace") != NAMESPACE:
            bad(f"{o.get('kind')} {md.get('name')} in namespace {md.get('namespace')!r}, "
                f"expected {NAMESPACE}")
    ns = one(objs, "Namespace")
    if ns.get("metadata", {}).get("name") != NAMESPACE:
        bad(f"Namespace is {ns.get('metadata', {}).get('name')!r}")
    # the DaemonSet's ConfigMap is the one rendered (generated name, hash)
    spec = pod_spec(objs)
    cms = {o["metadata"]["name"] for o in objs if o.get("kind") == "ConfigMap"}
    for v in spec.get("volumes", []):
        if "configMap" in v and v["configMap"].get("name") not in cms:
            bad(f"volume {v.get('name')} names ConfigMap {v['configMap'].get('name')}, "
                f"rendered: {sorted(cms)}")
    sa = one(objs, "ServiceAccount").get("metadata", {}).get("name")
    if spec.get("serviceAccountName") != sa:
        bad(f"the pods run as {spec.get('serviceAccountName')!r}, not the ServiceAccount {sa!r}")


def check_rbac(objs):
    role = one(objs, "ClusterRole")
    got = set()
    for r in role.get("rules", []):
        if set(r) - {"apiGroups", "resources", "verbs"}:
            bad(f"rule with {sorted(set(r) - {'apiGroups', 'resources', 'verbs'})}")
        if set(r.get("verbs", [])) != VERBS:
            bad(f"rule {r.get('resources')}: verbs {r.get('verbs')}, expected {sorted(VERBS)}")
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                got.add((g, res))
    if got != RBAC:
        if got - RBAC:
            bad(f"ClusterRole grants more: {sorted(got - RBAC)}")
        if RBAC - got:
            bad(f"ClusterRole misses: {sorted(RBAC - got)}")
    b = one(objs, "ClusterRoleBinding")
    ref = b.get("roleRef", {})
    if ref.get("kind") != "ClusterRole" or ref.get("name") != role.get("metadata", {}).get("name"):
        bad(f"ClusterRoleBinding refers to {ref}")
    sa = one(objs, "ServiceAccount").get("metadata", {})
    subj = b.get("subjects", [])
    if subj != [{"kind": "ServiceAccount", "name": sa.get("name"), "namespace": sa.get("namespace")}]:
        bad(f"ClusterRoleBinding subjects {subj}, expected only the ServiceAccount")


def check_security(objs):
    spec = pod_spec(objs)
    if spec.get("hostNetwork") is not True:
        bad("hostNetwork is not true")
    for k in ("hostPID", "hostIPC"):
        if spec.get(k):
            bad(f"{k} is set")
    if spec.get("dnsPolicy") != "ClusterFirstWithHostNet":
        bad(f"dnsPolicy {spec.get('dnsPolicy')!r} with hostNetwork")
    if not any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")
               for t in spec.get("tolerations", [])):
        bad("no toleration of every taint (operator Exists, no key, no effect)")
    c = main_container(spec)
    sc = c.get("securityContext", {})
    if privileged(c):
        bad("the tailplaned container is privileged")
    if sc.get("allowPrivilegeEscalation") is not False:
        bad("allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        bad("readOnlyRootFilesystem is not true")
    caps = sc.get("capabilities", {})
    if set(caps.get("add", [])) != CAPS:
        bad(f"capabilities added {caps.get('add')}, expected {sorted(CAPS)}")
    if caps.get("drop") != ["ALL"]:
        bad(f"capabilities dropped {caps.get('drop')}, expected [ALL]")
    # privileged only where Kubernetes requires it: the init container that
    # mounts bpffs on the host, and it does nothing else
    for ic in spec.get("initContainers", []):
        isc = ic.get("securityContext", {})
        if "SYS_ADMIN" in isc.get("capabilities", {}).get("add", []):
            bad(f"init container {ic.get('name')} adds SYS_ADMIN")
        if not privileged(ic):
            continue
        cmd = " ".join(ic.get("command", []) + ic.get("args", []))
        if ic.get("name") != "mount-bpffs" or "mount -t bpf" not in cmd or "/sys/fs/bpf" not in cmd:
            bad(f"privileged init container {ic.get('name')} runs {cmd!r}")
        mounts = [m.get("mountPath") for m in ic.get("volumeMounts", [])]
        if mounts != ["/sys/fs/bpf"]:
            bad(f"privileged init container mounts {mounts}, expected only /sys/fs/bpf")
    for other in spec.get("containers", []):
        if other is not c and privileged(other):
            bad(f"container {other.get('name')} is privileged")


def volume(spec, name):
    for v in spec.get("volumes", []):
        if v.get("name") == name:
            return v
    return {}


def mounts_of(c):
    return {m.get("mountPath"): m for m in c.get("volumeMounts", [])}


def host_mount(spec, c, path, readonly, propagation=None, want=True):
    m = mounts_of(c).get(path)
    if not m:
        if want:
            bad(f"{c.get('name')}: nothing mounted at {path}")
        return
    if not want:
        bad(f"{c.get('name')}: {path} is mounted")
        return
    hp = volume(spec, m.get("name")).get("hostPath", {})
    if hp.get("path") != path:
        bad(f"{c.get('name')}: {path} is volume {m.get('name')} {hp}, expected hostPath {path}")
    if bool(m.get("readOnly")) != readonly:
        bad(f"{c.get('name')}: {path} readOnly {m.get('readOnly')}, expected {readonly}")
    if propagation and m.get("mountPropagation") != propagation:
        bad(f"{c.get('name')}: {path} propagation {m.get('mountPropagation')}, expected {propagation}")


def check_mounts(objs, wireguard=True):
    spec = pod_spec(objs)
    c = main_container(spec)
    host_mount(spec, c, "/sys/fs/bpf", False, "HostToContainer")
    host_mount(spec, c, "/var/run/tailscale", True)
    host_mount(spec, c, "/var/run/wireguard", True, want=wireguard)
    bidir = [ic for ic in spec.get("initContainers", [])
             if mounts_of(ic).get("/sys/fs/bpf", {}).get("mountPropagation") == "Bidirectional"]
    if len(bidir) != 1:
        bad(f"{len(bidir)} containers mount /sys/fs/bpf with Bidirectional propagation, expected 1")
    for ic in bidir:
        host_mount(spec, ic, "/sys/fs/bpf", False, "Bidirectional")
    # the API server refuses Bidirectional outside privileged containers
    for x in spec.get("containers", []) + spec.get("initContainers", []):
        for m in x.get("volumeMounts", []):
            if m.get("mountPropagation") == "Bidirectional" and not privileged(x):
                bad(f"{x.get('name')}: Bidirectional {m.get('mountPath')} in a container "
                    "that is not privileged (the API server refuses it)")
    cfg = mounts_of(c).get("/etc/tailplane", {})
    if "configMap" not in volume(spec, cfg.get("name")) or not cfg.get("readOnly"):
        bad("the configuration is not a read-only ConfigMap at /etc/tailplane")
    run = mounts_of(c).get("/run/tailplane", {})
    if "emptyDir" not in volume(spec, run.get("name")) or run.get("readOnly"):
        bad("no writable emptyDir at /run/tailplane (the loader's pid file, read by the probes)")
    if c.get("command", [None])[0] != TAILPLANED or "/etc/tailplane/tailplaned.json" not in c.get("command", []):
        bad(f"command {c.get('command')}")


def check_runtime(objs):
    ds = one(objs, "DaemonSet")
    spec = pod_spec(objs)
    c = main_container(spec)
    env = [e for e in c.get("env", []) if e.get("name") == "NODE_NAME"]
    if len(env) != 1 or env[0].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "spec.nodeName":
        bad(f"NODE_NAME is {env}, expected the downward API's spec.nodeName")
    for p in ("startupProbe", "readinessProbe"):
        cmd = c.get(p, {}).get("exec", {}).get("command")
        if cmd != [TPCTL, "status"]:
            bad(f"{p} runs {cmd}, expected [{TPCTL}, status]")
    live = c.get("livenessProbe", {}).get("exec", {}).get("command", [])
    if f"{TPCTL} status" not in " ".join(live):
        bad(f"livenessProbe runs {live}, not {TPCTL} status")
    for x in spec.get("containers", []) + spec.get("initContainers", []):
        r = x.get("resources", {})
        for k in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(r.get(k, {})):
                bad(f"{x.get('name')}: resources.{k} {r.get(k)} lacks cpu or memory")
    us = ds.get("spec", {}).get("updateStrategy", {})
    if us.get("type") != "RollingUpdate" or us.get("rollingUpdate", {}).get("maxUnavailable") != 1:
        bad(f"updateStrategy {us}, expected RollingUpdate with maxUnavailable 1")
    if us.get("rollingUpdate", {}).get("maxSurge", 0) not in (0, "0", "0%"):
        bad("maxSurge would start a second loader on the pin root")
    if spec.get("priorityClassName") != "system-node-critical":
        bad(f"priorityClassName {spec.get('priorityClassName')!r}")


def check_overlay(objs):
    check_objects(objs)
    check_rbac(objs)
    check_security(objs)
    check_mounts(objs, wireguard=False)
    check_runtime(objs)
    spec = pod_spec(objs)
    if not spec.get("nodeSelector"):
        bad("the overlay selects no nodes")
    if volume(spec, "wireguard"):
        bad("the overlay keeps the WireGuard socket folder")
    cfg = json.loads(config_text(objs) or "{}")
    names = [i.get("name") for i in cfg.get("interfaces", [])]
    if "tailscale0" not in names or "wg0" in names:
        bad(f"overlay interfaces {names}: expected tailscale0, no wg0")


def config_text(objs):
    spec = pod_spec(objs)
    c = main_container(spec)
    vol = volume(spec, mounts_of(c).get("/etc/tailplane", {}).get("name"))
    name = vol.get("configMap", {}).get("name")
    for o in objs:
        if o.get("kind") == "ConfigMap" and o["metadata"].get("name") == name:
            text = o.get("data", {}).get("tailplaned.json")
            if text is None:
                bad(f"ConfigMap {name} has no tailplaned.json")
            return text
    bad(f"no ConfigMap {name}")
    return None


def main():
    check, path = sys.argv[1], sys.argv[2]
    objs = load(path)
    if check == "caps":  # the capabilities, for setpriv: bpf,net_admin,perfmon
        c = main_container(pod_spec(objs))
        print(",".join(sorted(x.lower() for x in c["securityContext"]["capabilities"]["add"])))
    elif check == "liveness":  # the liveness probe's shell command
        print(main_container(pod_spec(objs))["livenessProbe"]["exec"]["command"][-1])
    elif check == "config":  # the loader's configuration, as mounted
        text = config_text(objs)
        if text is not None:
            json.loads(text)
            sys.stdout.write(text)
    else:
        {"objects": check_objects, "rbac": check_rbac, "security": check_security,
         "mounts": check_mounts, "runtime": check_runtime,
         "overlay": check_overlay}[check](objs)
    for e in errors:
        print(f"   FAIL: {e}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
