#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Self-test of tests/kube/apiserver.py: the wire format the loader's
Kubernetes client will meet (pagination, 410s, watches, bookmarks, faults,
token rotation, TLS against the test CA).

Standard library only (unittest, ssl, http.client, and a raw chunked-stream
reader of its own, so the framing itself is checked).  Prints cmocka-style
lines ("[ RUN      ] name", "[       OK ] name", the summary) so tests/run.sh
counts them; tests/e2e/test_kube_apiserver.sh runs it from make test.
Every server it starts is stopped by PID, its temp dir removed.  Timings
are printed, never asserted beyond generous bounds that say "it did not
hang".

    test_apiserver.py [-k SUBSTRING]...
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
APISERVER = os.path.join(HERE, "apiserver.py")
MKCERTS = os.path.join(HERE, "mkcerts.sh")
sys.path.insert(0, HERE)
import gen  # noqa: E402

TMP = None
SRV = None


class Server:
    """An apiserver.py process with its own certs, token and ports file."""

    def __init__(self, tmp, name, preload=None, extra=()):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.certs = os.path.join(tmp, "certs")
        self.token_file = os.path.join(self.dir, "token")
        self.set_token("token-" + name)
        self.ports_file = os.path.join(self.dir, "ports")
        self.log = open(os.path.join(self.dir, "stderr"), "w")
        cmd = [sys.executable, APISERVER, "--cert", os.path.join(self.certs, "server.crt"),
               "--key", os.path.join(self.certs, "server.key"), "--token-file", self.token_file,
               "--ports-file", self.ports_file, "--ipv6", "--bookmark-interval", "0.5",
               "--log", os.path.join(self.dir, "log")]
        if preload:
            cmd += ["--preload", preload]
        cmd += list(extra)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.ports_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("apiserver.py did not start: " +
                                   open(os.path.join(self.dir, "stderr")).read())
            time.sleep(0.05)
        ports = dict(line.strip().split("=", 1) for line in open(self.ports_file) if "=" in line)
        self.port = int(ports["API_PORT"])
        self.port6 = int(ports["API6_PORT"])
        self.cport = int(ports["CONTROL_PORT"])
        assert int(ports["PID"]) == self.proc.pid

    def set_token(self, tok):
        self.token = tok
        tmp = self.token_file + ".new"
        with open(tmp, "w") as f:
            f.write(tok + "\n")
        os.rename(tmp, self.token_file)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    # -- the API port --
    def tls(self, cafile=None):
        return ssl.create_default_context(cafile=cafile or os.path.join(self.certs, "ca.crt"))

    def conn(self, host="127.0.0.1", port=None, timeout=10):
        return http.client.HTTPSConnection(host, port or self.port, context=self.tls(),
                                           timeout=timeout)

    def get(self, path, token=True, conn=None):
        c = conn or self.conn()
        hdr = {"Authorization": "Bearer " + (self.token if token is True else token)} if token else {}
        c.request("GET", path, headers=hdr)
        r = c.getresponse()
        body = r.read()
        if not conn:
            c.close()
        return r.status, (json.loads(body) if body[:1] in (b"{", b"[") else body), r

    def list_all(self, path, limit):
        """All pages: (items, [page metadata])."""
        items, metas, cont = [], [], ""
        c = self.conn()
        while True:
            q = f"?limit={limit}" + (f"&continue={urllib.parse.quote(cont, safe='')}" if cont else "")
            code, doc, _ = self.get(path + q, conn=c)
            assert code == 200, doc
            items += doc["items"]
            metas.append(doc["metadata"])
            cont = doc["metadata"].get("continue", "")
            if not cont:
                c.close()
                return items, metas

    def watch(self, path, timeout=5, **q):
        return RawWatch(self, path, q, timeout)

    # -- the control port --
    def ctl(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=10)
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, path, body=data,
                  headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        doc = json.loads(r.read() or b"null")
        c.close()
        if r.status != 200:
            raise RuntimeError(f"control {method} {path}: {r.status} {doc}")
        return doc

    def put(self, obj):
        return self.ctl("POST", "/objects", obj)

    def stats(self):
        return self.ctl("GET", "/stats")


class StreamEnd(Exception):
    """How a chunked stream ended: 'clean' (terminating chunk), 'eof'
    (closed without one), 'reset'."""

    def __init__(self, how):
        super().__init__(how)
        self.how = how


class RawWatch:
    """A watch over a raw TLS socket: HTTP/1.1 and chunked framing parsed
    here, byte by byte as sent."""

    def __init__(self, srv, path, q, timeout):
        q = {k: str(v) for k, v in q.items()}
        q.setdefault("watch", "1")
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
        self.s = srv.tls().wrap_socket(raw, server_hostname="127.0.0.1")
        req = (f"GET {path}?{urllib.parse.urlencode(q)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {srv.token}\r\nAccept: application/json\r\n\r\n")
        self.s.sendall(req.encode())
        self.buf = b""
        self.pending = b""
        self.ended = None
        self.status = None
        self.headers = {}

    def _fill(self):
        try:
            d = self.s.recv(65536)
        except ConnectionResetError:
            raise StreamEnd("reset")
        except ssl.SSLError as e:
            raise StreamEnd("reset" if "RESET" in str(e).upper() else "eof")
        if not d:
            raise StreamEnd("eof")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_headers(self):
        if self.status is None:
            status = self._line().decode()
            self.status = int(status.split()[1])
            while True:
                ln = self._line().decode()
                if not ln:
                    break
                k, v = ln.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        return self.status

    def event(self):
        """The next event (dict); StreamEnd at the end of the stream."""
        self.read_headers()
        assert self.headers.get("transfer-encoding") == "chunked", self.headers
        while b"\n" not in self.pending:
            if self.ended:
                raise StreamEnd(self.ended)
            n = int(self._line().split(b";")[0], 16)
            if n == 0:
                assert self._line() == b""
                self.ended = "clean"
                if self.pending:
                    raise AssertionError(f"stream ended inside an event: {self.pending!r}")
                raise StreamEnd("clean")
            while len(self.buf) < n + 2:
                self._fill()
            assert self.buf[n:n + 2] == b"\r\n", "chunk not followed by CRLF"
            self.pending += self.buf[:n]
            self.buf = self.buf[n + 2:]
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def events_until(self, pred, limit=1000):
        out = []
        for _ in range(limit):
            e = self.event()
            out.append(e)
            if pred(e):
                return out
        raise AssertionError("predicate never true")

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def svc(name, ip, ns="t", port=80, **kw):
    return gen.service(ns, name, [ip], [("http", port, 8080, "TCP")], **kw)


def rv_of(o):
    return int(o["metadata"]["resourceVersion"])


def timed(label, t0):
    print(f"   time: {label}: {(time.monotonic() - t0) * 1000:.1f} ms", flush=True)


class ApiServerTest(unittest.TestCase):
    srv = None

    @classmethod
    def setUpClass(cls):
        cls.srv = SRV

    # ---- TLS and auth ----

    def test_tls_verified_against_the_test_ca(self):
        code, doc, _ = self.srv.get("/version")
        self.assertEqual(code, 200)
        self.assertIn("gitVersion", doc)
        # by name and by both addresses (the SANs)
        c = http.client.HTTPSConnection("localhost", self.srv.port, context=self.srv.tls(), timeout=5)
        self.assertEqual(self.srv.get("/healthz", conn=c)[0], 200)
        if self.srv.port6:
            c = http.client.HTTPSConnection("::1", self.srv.port6, context=self.srv.tls(), timeout=5)
            self.assertEqual(self.srv.get("/api/v1/namespaces", conn=c)[0], 200)
        # the system's CAs and another test CA do not know it
        for ctx in (ssl.create_default_context(),
                    ssl.create_default_context(cafile=os.path.join(TMP, "othercerts", "ca.crt"))):
            c = http.client.HTTPSConnection("127.0.0.1", self.srv.port, context=ctx, timeout=5)
            with self.assertRaises(ssl.SSLCertVerificationError):
                c.request("GET", "/version")
            c.close()
        # a name not in the SANs
        ctx = self.srv.tls()
        raw = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        with self.assertRaises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="evil.example")
        raw.close()
        # HTTP/1.1 by ALPN, even when the client offers h2 first
        ctx = self.srv.tls()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.srv.port), timeout=5),
                            server_hostname="127.0.0.1")
        self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        s.close()
        # the control port is not TLS and not the API port
        self.assertNotEqual(self.srv.cport, self.srv.port)

    def test_bearer_token_and_rotation(self):
        for tok in (None, "wrong", ""):
            code, doc, _ = self.srv.get("/api/v1/services", token=tok)
            self.assertEqual(code, 401)
            self.assertEqual(doc["kind"], "Status")
            self.assertEqual(doc["code"], 401)
            self.assertEqual(doc["reason"], "Unauthorized")
        self.assertEqual(self.srv.get("/api/v1/services")[0], 200)
        old = self.srv.token
        try:
            self.srv.set_token("rotated-token")
            # read on every request: the old one stops working at once
            self.assertEqual(self.srv.get("/api/v1/services", token=old)[0], 401)
            self.assertEqual(self.srv.get("/api/v1/services")[0], 200)
            w = self.srv.watch("/api/v1/services")
            self.assertEqual(w.read_headers(), 200)
            w.close()
        finally:
            self.srv.set_token(old)
        self.assertGreaterEqual(self.srv.stats()["unauthorized"], 4)

    # ---- objects and lists ----

    def test_object_shape_and_paths(self):
        o = self.srv.put(gen.namespace("shape", {"env": "test"}))
        self.assertEqual(o["kind"], "Namespace")
        self.assertNotIn("namespace", o["metadata"])
        s = self.srv.put(svc("web", "198.19.0.99", ns="shape",
                             annotations={"tailplane.io/expose": "true"}))
        md = s["metadata"]
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels",
                  "annotations"):
            self.assertIn(k, md)
        self.assertEqual(s["apiVersion"], "v1")
        self.assertEqual(s["spec"]["clusterIPs"], ["198.19.0.99"])
        # an update keeps uid and creationTimestamp, takes a new version
        s2 = self.srv.ctl("PATCH", "/objects/services/shape/web", {"spec": {"ports": [
            {"name": "http", "protocol": "TCP", "port": 81, "targetPort": 8080}]}})
        self.assertEqual(s2["metadata"]["uid"], md["uid"])
        self.assertEqual(s2["metadata"]["creationTimestamp"], md["creationTimestamp"])
        self.assertGreater(rv_of(s2), rv_of(s))
        self.assertEqual(s2["spec"]["ports"][0]["port"], 81)
        self.assertEqual(s2["spec"]["clusterIP"], "198.19.0.99")
        # list: kind, apiVersion, metadata.resourceVersion, items without TypeMeta
        code, doc, r = self.srv.get("/api/v1/namespaces/shape/services")
        self.assertEqual(code, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertEqual(doc["kind"], "ServiceList")
        self.assertEqual(doc["apiVersion"], "v1")
        self.assertGreaterEqual(int(doc["metadata"]["resourceVersion"]), rv_of(s2))
        self.assertNotIn("continue", doc["metadata"])
        self.assertEqual([i["metadata"]["name"] for i in doc["items"]], ["web"])
        self.assertNotIn("kind", doc["items"][0])
        self.assertEqual(doc["items"][0]["metadata"]["uid"], md["uid"])
        # every resource at its real path, cluster-wide and namespaced
        self.srv.put(gen.endpoint_slice("shape", "web-abcde", "web",
                                        [gen.endpoint("198.18.1.1", node="node1")],
                                        [("http", 8080, "TCP")]))
        self.srv.put(gen.pod("shape", "p1", ["198.18.1.1", "fd00:198:18:1::1"], "node1",
                             {"app": "web"}))
        self.srv.put(gen.network_policy("shape", "np", {}, []))
        for path, kind in (("/api/v1/services", "ServiceList"),
                           ("/apis/discovery.k8s.io/v1/endpointslices", "EndpointSliceList"),
                           ("/api/v1/pods", "PodList"), ("/api/v1/namespaces", "NamespaceList"),
                           ("/apis/networking.k8s.io/v1/networkpolicies", "NetworkPolicyList")):
            code, doc, _ = self.srv.get(path)
            self.assertEqual((code, doc["kind"]), (200, kind), path)
            if kind != "NamespaceList":
                ns_path = path.replace("/v1/", "/v1/namespaces/shape/")
                code, doc2, _ = self.srv.get(ns_path)
                self.assertEqual(code, 200, ns_path)
                self.assertTrue(doc2["items"])
                self.assertTrue(all(i["metadata"]["namespace"] == "shape" for i in doc2["items"]))
        code, doc, _ = self.srv.get("/apis/discovery.k8s.io/v1/namespaces/shape/endpointslices/web-abcde")
        self.assertEqual((code, doc["kind"], doc["apiVersion"]), (200, "EndpointSlice", "discovery.k8s.io/v1"))
        self.assertEqual(self.srv.get("/api/v1/namespaces/shape")[1]["kind"], "Namespace")
        code, doc, _ = self.srv.get("/api/v1/namespaces/shape/services/nope")
        self.assertEqual((code, doc["reason"]), (404, "NotFound"))
        self.assertEqual(self.srv.get("/api/v1/secrets")[0], 404)
        self.assertEqual(self.srv.get("/apis/discovery.k8s.io/v1beta1/endpointslices")[0], 404)
        # several requests on one kept-alive connection
        c = self.srv.conn()
        for _ in range(3):
            self.assertEqual(self.srv.get("/api/v1/namespaces", conn=c)[0], 200)
        c.close()

    def test_pagination_is_a_consistent_snapshot(self):
        ns = "pages"
        for i in range(23):
            self.srv.put(svc(f"s{i:02d}", f"198.19.1.{i + 1}", ns=ns))
        items, metas = self.srv.list_all(f"/api/v1/namespaces/{ns}/services", 5)
        self.assertEqual(len(metas), 5)
        names = [i["metadata"]["name"] for i in items]
        self.assertEqual(names, [f"s{i:02d}" for i in range(23)])
        self.assertEqual(len({m["resourceVersion"] for m in metas}), 1)
        self.assertEqual(metas[0]["remainingItemCount"], 18)
        for m in metas[:-1]:
            tok = m["continue"]
            self.assertTrue(tok.endswith("="), tok)
            self.assertTrue(json.loads(base64.urlsafe_b64decode(tok)))
        # changes between pages do not show: the pages are the first page's snapshot
        c = self.srv.conn()
        code, p1, _ = self.srv.get(f"/api/v1/namespaces/{ns}/services?limit=10", conn=c)
        self.srv.ctl("DELETE", f"/objects/services/{ns}/s15")
        self.srv.put(svc("s05", "198.19.1.200", ns=ns))
        self.srv.put(svc("s99", "198.19.1.99", ns=ns))
        code, p2, _ = self.srv.get(f"/api/v1/namespaces/{ns}/services?limit=100&continue="
                                   + urllib.parse.quote(p1["metadata"]["continue"]), conn=c)
        self.assertEqual(code, 200)
        self.assertEqual(p2["metadata"]["resourceVersion"], p1["metadata"]["resourceVersion"])
        self.assertEqual([i["metadata"]["name"] for i in p2["items"]], [f"s{i:02d}" for i in range(10, 23)])
        self.assertNotIn("continue", p2["metadata"])
        # a new list sees the changes
        items, _ = self.srv.list_all(f"/api/v1/namespaces/{ns}/services", 100)
        names = [i["metadata"]["name"] for i in items]
        self.assertNotIn("s15", names)
        self.assertIn("s99", names)
        self.assertEqual(next(i for i in items if i["metadata"]["name"] == "s05")["spec"]["clusterIP"],
                         "198.19.1.200")
        # the token survives '=' unescaped in the query, and garbage is 400
        code, _, _ = self.srv.get(f"/api/v1/namespaces/{ns}/services?limit=3&continue="
                                  + metas[1]["continue"], conn=c)
        self.assertEqual(code, 200)
        code, doc, _ = self.srv.get("/api/v1/services?limit=3&continue=bm9wZQ==", conn=c)
        self.assertEqual((code, doc["kind"]), (400, "Status"))
        c.close()

    def test_continue_token_after_compaction_is_410(self):
        for i in range(6):
            self.srv.put(svc(f"c{i}", f"198.19.2.{i + 1}", ns="cont"))
        code, p1, _ = self.srv.get("/api/v1/namespaces/cont/services?limit=2")
        tok = p1["metadata"]["continue"]
        self.srv.put(svc("c9", "198.19.2.9", ns="cont"))
        self.srv.ctl("POST", "/compact")
        code, doc, _ = self.srv.get("/api/v1/namespaces/cont/services?limit=2&continue="
                                    + urllib.parse.quote(tok))
        self.assertEqual(code, 410)
        self.assertEqual((doc["kind"], doc["status"], doc["reason"], doc["code"]),
                         ("Status", "Failure", "Expired", 410))
        # a fresh list works, and a token of the current version too
        code, p1, _ = self.srv.get("/api/v1/namespaces/cont/services?limit=2")
        code, p2, _ = self.srv.get("/api/v1/namespaces/cont/services?limit=2&continue="
                                   + urllib.parse.quote(p1["metadata"]["continue"]))
        self.assertEqual(code, 200)

    def test_selectors(self):
        ns = "sel"
        self.srv.put(gen.pod(ns, "a", ["198.18.3.1"], "node1", {"app": "web", "tier": "fe"}))
        self.srv.put(gen.pod(ns, "b", ["198.18.3.2"], "node2", {"app": "web"}))
        self.srv.put(gen.pod(ns, "c", ["198.18.3.3"], "node1", {"app": "db"}))
        base = f"/api/v1/namespaces/{ns}/pods"

        def names(q):
            code, doc, _ = self.srv.get(base + "?" + q)
            self.assertEqual(code, 200, doc)
            return sorted(i["metadata"]["name"] for i in doc["items"])
        self.assertEqual(names("fieldSelector=spec.nodeName%3Dnode1"), ["a", "c"])
        self.assertEqual(names("fieldSelector=spec.nodeName!%3Dnode1"), ["b"])
        self.assertEqual(names("labelSelector=app%3Dweb"), ["a", "b"])
        self.assertEqual(names("labelSelector=app%3Dweb,tier"), ["a"])
        self.assertEqual(names("labelSelector=app+in+(db,x)"), ["c"])
        self.assertEqual(names("labelSelector=!tier"), ["b", "c"])
        self.assertEqual(names("fieldSelector=spec.nodeName%3Dnode1&limit=1&labelSelector=app"), ["a"])
        code, doc, _ = self.srv.get(base + "?fieldSelector=spec.foo%3D1")
        self.assertEqual(code, 400)
        # a watch with a field selector: leaving the selection is DELETED
        code, doc, _ = self.srv.get(base)
        w = self.srv.watch(base, fieldSelector="spec.nodeName=node1",
                           resourceVersion=doc["metadata"]["resourceVersion"])
        self.srv.ctl("PATCH", f"/objects/pods/{ns}/a", {"spec": {"nodeName": "node3"}})
        self.srv.ctl("PATCH", f"/objects/pods/{ns}/b", {"spec": {"nodeName": "node1"}})
        self.srv.ctl("PATCH", f"/objects/pods/{ns}/b", {"metadata": {"labels": {"x": "y"}}})
        self.srv.ctl("DELETE", f"/objects/pods/{ns}/c")
        evs = [w.event() for _ in range(4)]
        w.close()
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                         [("DELETED", "a"), ("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "c")])

    # ---- watches ----

    def test_watch_events_in_order(self):
        ns = "order"
        code, doc, _ = self.srv.get("/api/v1/services")
        rv0 = int(doc["metadata"]["resourceVersion"])
        w = self.srv.watch("/api/v1/services", resourceVersion=rv0, allowWatchBookmarks="true")
        self.assertEqual(w.read_headers(), 200)
        self.assertEqual(w.headers.get("content-type"), "application/json")
        t0 = time.monotonic()
        a = self.srv.put(svc("w1", "198.19.3.1", ns=ns))
        e = w.event()
        timed("control put -> watch event", t0)
        self.assertEqual(e["type"], "ADDED")
        self.assertEqual((e["object"]["kind"], e["object"]["apiVersion"]), ("Service", "v1"))
        self.assertEqual(rv_of(e["object"]), rv_of(a))
        # other kinds do not show on this watch; this kind's changes come in order
        self.srv.put(gen.pod(ns, "p", ["198.18.4.1"], "node1"))
        self.srv.put(svc("w2", "198.19.3.2", ns=ns))
        self.srv.ctl("PATCH", f"/objects/services/{ns}/w1", {"metadata": {"labels": {"v": "2"}}})
        d = self.srv.ctl("DELETE", f"/objects/services/{ns}/w2")
        evs = w.events_until(lambda e: e["type"] == "DELETED")
        evs = [e for e in evs if e["type"] != "BOOKMARK"]
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                         [("ADDED", "w2"), ("MODIFIED", "w1"), ("DELETED", "w2")])
        rvs = [rv_of(e["object"]) for e in evs]
        self.assertEqual(rvs, sorted(rvs))
        self.assertEqual(rvs[-1], rv_of(d))   # a deletion takes a version of its own
        self.assertEqual(evs[1]["object"]["metadata"]["labels"]["v"], "2")
        w.close()
        # resuming from the middle gives exactly the rest
        w = self.srv.watch("/api/v1/services", resourceVersion=rvs[0])
        evs2 = [w.event() for _ in range(2)]
        self.assertEqual([rv_of(e["object"]) for e in evs2], rvs[1:])
        w.close()

    def test_watch_without_version_starts_with_the_state(self):
        ns = "initial"
        for i in range(3):
            self.srv.put(gen.namespace(f"{ns}-{i}"))
        w = self.srv.watch("/api/v1/namespaces", fieldSelector=f"metadata.name={ns}-1")
        e = w.event()
        self.assertEqual((e["type"], e["object"]["metadata"]["name"]), ("ADDED", f"{ns}-1"))
        self.srv.ctl("PATCH", f"/objects/namespaces/{ns}-1", {"metadata": {"labels": {"a": "b"}}})
        self.assertEqual(w.event()["type"], "MODIFIED")
        w.close()
        w = self.srv.watch("/api/v1/namespaces", resourceVersion="0")
        names = set()
        while True:
            e = w.event()
            self.assertEqual(e["type"], "ADDED")
            names.add(e["object"]["metadata"]["name"])
            if {f"{ns}-0", f"{ns}-1", f"{ns}-2"} <= names:
                break
        w.close()

    def test_bookmarks(self):
        code, doc, _ = self.srv.get("/apis/networking.k8s.io/v1/networkpolicies")
        rv = doc["metadata"]["resourceVersion"]
        w = self.srv.watch("/apis/networking.k8s.io/v1/networkpolicies", resourceVersion=rv,
                           allowWatchBookmarks="true")
        t0 = time.monotonic()
        e = w.event()
        timed("first bookmark (interval 0.5 s)", t0)
        self.assertEqual(e["type"], "BOOKMARK")
        self.assertEqual((e["object"]["kind"], e["object"]["apiVersion"]),
                         ("NetworkPolicy", "networking.k8s.io/v1"))
        # the bookmark's version is the newest: nothing of this kind is missed
        self.assertGreaterEqual(int(e["object"]["metadata"]["resourceVersion"]), int(rv))
        self.srv.put(svc("bm", "198.19.4.1", ns="bm"))   # another kind moves the version on
        cur = self.srv.stats()["resource_version"]
        e = w.events_until(lambda e: e["type"] == "BOOKMARK" and
                           int(e["object"]["metadata"]["resourceVersion"]) >= cur)[-1]
        w.close()
        # resuming from a bookmark works
        w = self.srv.watch("/apis/networking.k8s.io/v1/networkpolicies",
                           resourceVersion=e["object"]["metadata"]["resourceVersion"])
        self.srv.put(gen.network_policy("bm", "np1", {}, []))
        self.assertEqual(w.event()["type"], "ADDED")
        w.close()
        # not asked for: none
        w = self.srv.watch("/apis/networking.k8s.io/v1/networkpolicies",
                           resourceVersion=self.srv.stats()["resource_version"], timeoutSeconds=1.5)
        with self.assertRaises(StreamEnd) as cm:
            e = w.event()
        self.assertEqual(cm.exception.how, "clean")
        w.close()

    def test_watch_timeout_ends_the_stream_cleanly(self):
        t0 = time.monotonic()
        w = self.srv.watch("/api/v1/pods", resourceVersion=self.srv.stats()["resource_version"],
                           timeoutSeconds=1)
        with self.assertRaises(StreamEnd) as cm:
            while True:
                w.event()
        self.assertEqual(cm.exception.how, "clean")
        # printed, not asserted (the socket's 5 s timeout only guards a hang)
        timed("watch with timeoutSeconds=1 ended", t0)
        w.close()

    def test_watch_from_a_compacted_version_is_an_error_event_410(self):
        code, doc, _ = self.srv.get("/api/v1/services")
        old = doc["metadata"]["resourceVersion"]
        self.srv.put(svc("gone", "198.19.5.1", ns="gone"))
        crv = self.srv.ctl("POST", "/compact")["compacted_resource_version"]
        w = self.srv.watch("/api/v1/services", resourceVersion=old)
        self.assertEqual(w.read_headers(), 200)   # as the real server: 200, then the event
        e = w.event()
        self.assertEqual(e["type"], "ERROR")
        self.assertEqual((e["object"]["kind"], e["object"]["code"], e["object"]["reason"]),
                         ("Status", 410, "Expired"))
        self.assertIn(f"too old resource version: {old} ({crv})", e["object"]["message"])
        with self.assertRaises(StreamEnd) as cm:
            w.event()
        self.assertEqual(cm.exception.how, "clean")
        w.close()
        # from the compaction point on it works
        w = self.srv.watch("/api/v1/services", resourceVersion=crv)
        self.srv.ctl("DELETE", "/objects/services/gone/gone")
        self.assertEqual(w.event()["type"], "DELETED")
        w.close()

    def test_disconnect_modes(self):
        self.wait_watches(0)
        rv = self.srv.stats()["resource_version"]
        for mode, how, last in (("abrupt", ("eof",), None), ("clean", ("clean",), None),
                                ("rst", ("reset", "eof"), None),
                                ("error410", ("clean",), "ERROR")):
            ws = [self.srv.watch(p, resourceVersion=rv) for p in
                  ("/api/v1/services", "/api/v1/pods", "/apis/discovery.k8s.io/v1/endpointslices")]
            for w in ws:
                self.assertEqual(w.read_headers(), 200)
            self.wait_watches(3)
            doc = self.srv.ctl("POST", f"/disconnect?mode={mode}")
            self.assertEqual(doc["disconnected"], 3, mode)
            for w in ws:
                seen = []
                with self.assertRaises(StreamEnd) as cm:
                    while True:
                        seen.append(w.event()["type"])
                self.assertIn(cm.exception.how, how, mode)
                if last:
                    self.assertEqual(seen[-1], last)
                    self.assertEqual(w.pending, b"")
                w.close()
            self.wait_watches(0)
        # watches opened after a disconnect are not affected by it
        w = self.srv.watch("/api/v1/services", resourceVersion=rv)
        self.srv.put(svc("after", "198.19.6.1", ns="disc"))
        self.assertEqual(w.event()["type"], "ADDED")
        w.close()

    def wait_watches(self, n, secs=5):
        deadline = time.monotonic() + secs
        while self.srv.stats()["open_watches_total"] != n:
            self.assertLess(time.monotonic(), deadline, f"open watches never {n}")
            time.sleep(0.02)

    def test_injected_failures(self):
        self.srv.ctl("POST", "/fail?n=2&code=500")
        c = self.srv.conn()
        for _ in range(2):
            code, doc, _ = self.srv.get("/api/v1/services?limit=1", conn=c)
            self.assertEqual((code, doc["kind"], doc["reason"]), (500, "Status", "InternalError"))
        self.assertEqual(self.srv.get("/api/v1/services?limit=1", conn=c)[0], 200)
        self.srv.ctl("POST", "/fail?n=1&code=429")
        code, doc, r = self.srv.get("/api/v1/pods?watch=1&resourceVersion=1", conn=c)
        self.assertEqual((code, doc["reason"], r.getheader("Retry-After")), (429, "TooManyRequests", "1"))
        # only the matching path
        self.srv.ctl("POST", "/fail?n=1&code=503&match=endpointslices")
        self.assertEqual(self.srv.get("/api/v1/services?limit=1", conn=c)[0], 200)
        self.assertEqual(self.srv.get("/apis/discovery.k8s.io/v1/endpointslices?limit=1", conn=c)[0], 503)
        self.assertEqual(self.srv.get("/apis/discovery.k8s.io/v1/endpointslices?limit=1", conn=c)[0], 200)
        c.close()
        self.assertEqual(self.srv.stats()["pending_failures"], 0)

    def test_stalled_watch(self):
        self.srv.ctl("POST", "/stall?n=1")
        rv = self.srv.stats()["resource_version"]
        w = self.srv.watch("/api/v1/services", timeout=0.5, resourceVersion=rv)
        with self.assertRaises(socket.timeout):
            w.read_headers()
        self.assertEqual(self.srv.stats()["stalled"], 1)
        # the next one is served; the stalled one stays until released
        w2 = self.srv.watch("/api/v1/services", resourceVersion=rv)
        self.assertEqual(w2.read_headers(), 200)
        w2.close()
        self.srv.ctl("POST", "/disconnect")
        w.s.settimeout(5)
        with self.assertRaises(StreamEnd):
            w.read_headers()
        w.close()

    def test_control_errors(self):
        for method, path, body in (("POST", "/objects", {"kind": "Secret", "metadata": {"name": "x"}}),
                                   ("POST", "/objects", {"kind": "Service", "metadata": {}}),
                                   ("DELETE", "/objects/services/none/none", None),
                                   ("PATCH", "/objects/widgets/a/b", {}),
                                   ("POST", "/disconnect?mode=gentle", None),
                                   ("GET", "/nothing", None)):
            with self.assertRaises(RuntimeError, msg=path):
                self.srv.ctl(method, path, body)
        # the API port refuses writes (the loader only reads)
        c = self.srv.conn()
        c.request("POST", "/api/v1/services", body=b"{}",
                  headers={"Authorization": "Bearer " + self.srv.token})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 405)
        c.close()
        # a List body creates several objects
        doc = self.srv.put({"kind": "List", "items": [gen.namespace("l1"), gen.namespace("l2")]})
        self.assertEqual(len(doc["items"]), 2)
        st = self.srv.stats()
        self.assertGreater(st["requests"]["/api/v1/services"], 0)
        self.assertGreater(st["objects"]["namespaces"], 1)


class LargeListTest(unittest.TestCase):
    """A preloaded server with thousands of objects: streamed lists, every
    object exactly once, the server's memory and time recorded."""

    def test_preloaded_large_lists(self):
        n_svc = int(os.environ.get("KUBE_TEST_SERVICES", "2000"))
        path = os.path.join(TMP, "large.jsonl")
        seed = int(os.environ.get("KUBE_TEST_SEED", str(int(time.time()) % 100000)))
        print(f"   seed {seed}, {n_svc} services", flush=True)
        cmd = [sys.executable, os.path.join(HERE, "gen.py"), "--services", str(n_svc),
               "--endpoints", str(n_svc * 10), "--pods", str(n_svc), "--seed", str(seed),
               "--out", path]
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        big = Server(TMP, "large", preload=path)
        try:
            timed("start with preload", t0)
            rss = [ln for ln in open(f"/proc/{big.proc.pid}/status") if ln.startswith("VmHWM")]
            print(f"   server {rss[0].strip()}", flush=True)
            expect = {}
            with open(path) as f:
                for line in f:
                    o = json.loads(line)
                    expect[o["kind"]] = expect.get(o["kind"], 0) + 1
                    if o["kind"] == "EndpointSlice":
                        self.assertLessEqual(len(o["endpoints"]), 100)
            for p, kind, limit in (("/api/v1/services", "Service", 500),
                                   ("/apis/discovery.k8s.io/v1/endpointslices", "EndpointSlice", 500),
                                   ("/api/v1/pods", "Pod", 0)):
                t0 = time.monotonic()
                if limit:
                    items, metas = big.list_all(p, limit)
                else:
                    code, doc, r = big.get(p)
                    self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
                    items, metas = doc["items"], [doc["metadata"]]
                timed(f"list {p} ({len(items)} items, {len(metas)} pages)", t0)
                self.assertEqual(len(items), expect[kind])
                keys = [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items]
                self.assertEqual(keys, sorted(set(keys)))
            st = big.stats()
            self.assertEqual(st["objects"]["services"], expect["Service"])
            # preloaded history is compacted: a watch from 1 is 410
            w = big.watch("/api/v1/services", resourceVersion=1)
            self.assertEqual(w.event()["type"], "ERROR")
            w.close()
        finally:
            self.assertEqual(big.stop(), 0)


class HistoryTest(unittest.TestCase):
    def test_history_cap_compacts_the_older_half(self):
        s = Server(TMP, "hist", extra=["--max-history", "10"])
        try:
            rvs = [rv_of(s.put(gen.namespace(f"h{i}"))) for i in range(25)]
            st = s.stats()
            self.assertLessEqual(st["history_events"], 10)
            crv = st["compacted_resource_version"]
            self.assertGreater(crv, rvs[0])
            w = s.watch("/api/v1/namespaces", resourceVersion=rvs[0])
            e = w.event()
            self.assertEqual((e["type"], e["object"]["code"]), ("ERROR", 410))
            w.close()
            w = s.watch("/api/v1/namespaces", resourceVersion=crv)
            names = [w.event()["object"]["metadata"]["name"] for _ in range(rvs[-1] - crv)]
            self.assertEqual(names[-1], "h24")
            w.close()
        finally:
            self.assertEqual(s.stop(), 0)


class ShutdownTest(unittest.TestCase):
    def test_sigterm_ends_watches_and_exits_0(self):
        s = Server(TMP, "term")
        w = s.watch("/api/v1/services", resourceVersion=1)
        self.assertEqual(w.read_headers(), 200)
        s.ctl("POST", "/stall?n=1")
        w2 = s.watch("/api/v1/pods", resourceVersion=1)
        deadline = time.monotonic() + 5
        while s.stats()["stalled"] != 1:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        t0 = time.monotonic()
        self.assertEqual(s.stop(), 0)
        timed("SIGTERM -> exit", t0)
        with self.assertRaises(StreamEnd):
            while True:
                w.event()
        w.close()
        w2.close()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", s.port), timeout=1)


# ---- cmocka-style output for tests/run.sh ----------------------------------------------


class CmockaResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.names_failed, self.names_skipped, self.n_ok = [], [], 0

    def startTest(self, test):
        super().startTest(test)
        print(f"[ RUN      ] {test._testMethodName}", flush=True)

    def addSuccess(self, test):
        self.n_ok += 1
        print(f"[       OK ] {test._testMethodName}", flush=True)

    def _bad(self, test, err):
        print(self._exc_info_to_string(err, test).rstrip().replace("\n", "\n   "), flush=True)
        print(f"[  FAILED  ] {test._testMethodName}", flush=True)
        self.names_failed.append(test._testMethodName)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._bad(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._bad(test, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        print(f"[  SKIPPED ] {test._testMethodName}: {reason}", flush=True)
        self.names_skipped.append(f"{test._testMethodName}: {reason}")


def main():
    global TMP, SRV
    only = [a for i, a in enumerate(sys.argv[1:]) if i > 0 and sys.argv[i] == "-k"]
    suite = unittest.TestSuite()
    for case in (ApiServerTest, LargeListTest, HistoryTest, ShutdownTest):
        for t in unittest.defaultTestLoader.loadTestsFromTestCase(case):
            if not only or any(o in t._testMethodName for o in only):
                suite.addTest(t)
    TMP = tempfile.mkdtemp(prefix="tp-kube-apiserver.")
    result = CmockaResult()
    try:
        subprocess.run([MKCERTS, os.path.join(TMP, "certs")], check=True)
        subprocess.run([MKCERTS, os.path.join(TMP, "othercerts")], check=True)
        SRV = Server(TMP, "main")
        print(f"[==========] Running {suite.countTestCases()} test(s).", flush=True)
        suite.run(result)
    finally:
        rc = SRV.stop() if SRV else None
        if rc not in (0, None):
            print(f"   apiserver.py exited with status {rc}:")
            print(open(os.path.join(SRV.dir, "stderr")).read())
            result.names_failed.append("apiserver_exit_status")
        shutil.rmtree(TMP, ignore_errors=True)
    total = result.n_ok + len(result.names_failed) + len(result.names_skipped)
    print(f"[==========] {total} test(s) run.")
    print(f"[  PASSED  ] {result.n_ok} test(s).")
    if result.names_skipped:
        print(f"[  SKIPPED ] {len(result.names_skipped)} test(s), listed below:")
        for n in result.names_skipped:
            print(f"[  SKIPPED ] {n}")
    if result.names_failed:
        print(f"[  FAILED  ] {len(result.names_failed)} test(s), listed below:")
        for n in result.names_failed:
            print(f"[  FAILED  ] {n}")
    return 1 if result.names_failed else 0


if __name__ == "__main__":
    sys.exit(main())
