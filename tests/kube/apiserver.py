#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A Kubernetes API server stand-in for tailplaned's tests (issue 12).

Python 3 standard library only.  It speaks the real wire format, over
HTTPS with a test CA (tests/kube/mkcerts.sh) and a bearer token, for the
five resources the loader's Kubernetes source reads:

    /api/v1/services                              Service
    /apis/discovery.k8s.io/v1/endpointslices      EndpointSlice
    /api/v1/pods                                  Pod
    /api/v1/namespaces                            Namespace
    /apis/networking.k8s.io/v1/networkpolicies    NetworkPolicy

cluster-wide and namespaced (/api/v1/namespaces/NS/services, ...), plus
GET of one object (.../NAME), /version and /healthz.

  * One global resourceVersion counter, as etcd's revision: every create,
    update and delete takes the next one.
  * List: limit and continue.  A continue token is opaque base64 (with '='
    padding) of the list's resourceVersion and the last key sent; the next
    pages are served from that snapshot (the state at that version, as etcd
    serves them).  A token older than the compaction point is 410 Gone,
    reason Expired.  Items are written to the socket one by one (chunked
    Transfer-Encoding), never joined into one string.  List items carry no
    kind/apiVersion, as the real server's typed lists.
  * Watch (?watch=1|true): resourceVersion, allowWatchBookmarks,
    timeoutSeconds, labelSelector, fieldSelector.  A chunked stream of one
    JSON event per line: ADDED/MODIFIED/DELETED after the version in
    order, BOOKMARK every --bookmark-interval seconds when allowed, the
    stream ends (terminating chunk) after timeoutSeconds.  A version older
    than the compaction point gets an ERROR event with a 410 Status (what
    the real server sends for a watch), then the end.  Without a version
    (or "0") the current state comes first as synthetic ADDED events.
    With a selector, an object that stops matching is DELETED for the
    watch and one that starts matching ADDED, as the real server does.
  * Auth: "Authorization: Bearer TOKEN"; the valid token is read from
    --token-file on every request (tests rotate it).  401 Status JSON
    without one or with a wrong one.  /version and /healthz need none.

The control interface is a second, plain-HTTP listener on 127.0.0.1 (never
the API port), for the tests:

    POST|PUT /objects          an object or {"items": [...]}; created or
                               replaced; the server sets resourceVersion,
                               uid (kept across updates), creationTimestamp
    PATCH    /objects/KIND/NS/NAME   JSON merge patch (RFC 7386) of one
    DELETE   /objects/KIND/NS/NAME   (cluster-scoped: /objects/KIND/NAME;
                               KIND is the plural, "services", or the kind)
    GET      /objects/KIND[/NS/NAME] the stored objects (for debugging)
    POST     /compact          forget history up to now: resumed watches and
                               old continue tokens get 410
    POST     /disconnect?mode=abrupt|clean|rst|error410
                               end every open watch: abrupt (close, no
                               terminating chunk; the default), clean
                               (terminating chunk), rst (TCP reset), error410
                               (an ERROR 410 event, then clean)
    POST     /fail?n=N&code=500|429[&match=SUBSTR]
                               the next N API requests (whose path contains
                               SUBSTR) fail with that code (429 with
                               Retry-After: 1)
    POST     /stall?n=N        the next N watches: read the request, send
                               nothing until the client leaves (or
                               /disconnect, or shutdown)
    POST     /config           {"bookmark_interval": S, "watch_timeout": S,
                               "max_page": N}
    GET      /stats            requests per path, lists and watches per
                               kind, open watches, last and compacted
                               resourceVersion, objects per kind, ...
    GET      /healthz

Usage:
    apiserver.py --cert server.crt --key server.key --token-file TOKEN
                 --ports-file PORTS [--port 0] [--control-port 0] [--ipv6]
                 [--preload FILE]... [--bookmark-interval 5] [--log FILE]

PORTS is written once both listeners are up (atomically: a temp file
renamed), as shell assignments a script may source:
    API_PORT=N  API6_PORT=N (0 when not listening on ::1)  CONTROL_PORT=N
--preload reads objects (JSON lines, or one JSON document that is an
object or a List) before listening; they become the state at
resourceVersions 1..N with history compacted there, as a server that has
been up for a while.  SIGTERM (or SIGINT) ends it cleanly: listeners
closed, open watches ended, exit status 0.
"""

import argparse
import base64
import bisect
import copy
import datetime
import hmac
import json
import os
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ---- resources ----------------------------------------------------------------


class Resource:
    def __init__(self, plural, kind, group, version, namespaced):
        self.plural = plural
        self.kind = kind
        self.group = group
        self.version = version
        self.namespaced = namespaced
        self.api_version = f"{group}/{version}" if group else version
        self.prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        self.list_kind = kind + "List"


RESOURCES = [
    Resource("services", "Service", "", "v1", True),
    Resource("endpointslices", "EndpointSlice", "discovery.k8s.io", "v1", True),
    Resource("pods", "Pod", "", "v1", True),
    Resource("namespaces", "Namespace", "", "v1", False),
    Resource("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True),
]
BY_PLURAL = {r.plural: r for r in RESOURCES}
BY_KIND = {r.kind: r for r in RESOURCES}
BY_KIND_LOWER = {r.kind.lower(): r for r in RESOURCES}


def resource_named(word):
    return BY_PLURAL.get(word) or BY_KIND.get(word) or BY_KIND_LOWER.get(word.lower())


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_doc(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


class ApiError(Exception):
    def __init__(self, code, reason, message):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


# ---- selectors ------------------------------------------------------------------


def parse_label_selector(text):
    """labelSelector: a,b=c,d!=e,f in (g,h),i notin (j),!k -> predicate on labels."""
    if not text:
        return None
    reqs = []
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in (x.strip() for x in parts):
        if not p:
            continue
        words = p.split()
        if len(words) >= 2 and words[1] in ("in", "notin"):
            vals = p.split("(", 1)[1].rsplit(")", 1)[0]
            vs = {v.strip() for v in vals.split(",") if v.strip()}
            reqs.append((words[0], words[1], vs))
        elif "!=" in p:
            k, v = p.split("!=", 1)
            reqs.append((k.strip(), "!=", v.strip()))
        elif "==" in p:
            k, v = p.split("==", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif "=" in p:
            k, v = p.split("=", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif p.startswith("!"):
            reqs.append((p[1:].strip(), "!exists", None))
        else:
            reqs.append((p, "exists", None))

    def match(labels):
        for k, op, v in reqs:
            have = k in labels
            if op == "=" and labels.get(k) != v:
                return False
            if op == "!=" and have and labels[k] == v:
                return False
            if op == "in" and (not have or labels[k] not in v):
                return False
            if op == "notin" and have and labels[k] in v:
                return False
            if op == "exists" and not have:
                return False
            if op == "!exists" and have:
                return False
        return True
    return match


FIELDS = ("metadata.name", "metadata.namespace", "spec.nodeName", "status.phase")


def parse_field_selector(text):
    """fieldSelector: f=v,f!=v over metadata.name/namespace, spec.nodeName, status.phase."""
    if not text:
        return None
    reqs = []
    for p in (x.strip() for x in text.split(",")):
        if not p:
            continue
        if "!=" in p:
            k, v, op = *p.split("!=", 1), "!="
        elif "==" in p:
            k, v, op = *p.split("==", 1), "="
        elif "=" in p:
            k, v, op = *p.split("=", 1), "="
        else:
            raise ApiError(400, "BadRequest", f"invalid field selector: {p!r}")
        if k not in FIELDS:
            raise ApiError(400, "BadRequest",
                           f'field label not supported: {k}')
        reqs.append((k, op, v))

    def match(fields):
        for k, op, v in reqs:
            have = fields.get(k, "")
            if (op == "=") != (have == v):
                return False
        return True
    return match


# ---- the store --------------------------------------------------------------------


class Rec:
    """One stored version of an object: its JSON (kind and apiVersion first,
    so the list form, without them, is "{" + data[plen:]) and what selectors
    need.  Immutable once made; shared by the state and the history."""
    __slots__ = ("data", "plen", "ns", "name", "rv", "labels", "fields", "uid")

    def __init__(self, res, obj):
        md = obj["metadata"]
        self.ns = md.get("namespace", "")
        self.name = md["name"]
        self.rv = int(md["resourceVersion"])
        self.uid = md.get("uid", "")
        self.labels = md.get("labels") or {}
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
        self.fields = {"metadata.name": self.name, "metadata.namespace": self.ns}
        if "nodeName" in spec:
            self.fields["spec.nodeName"] = spec["nodeName"] or ""
        if "phase" in status:
            self.fields["status.phase"] = status["phase"] or ""
        head = '{"kind":%s,"apiVersion":%s,' % (dumps(res.kind), dumps(res.api_version))
        rest = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
        body = dumps(rest)
        self.data = (head + body[1:]).encode()
        self.plen = len(head.encode())

    def obj(self):
        return json.loads(self.data)

    def list_form(self):
        return b"{" + self.data[self.plen:]


class Store:
    def __init__(self, max_history=1000000):
        self.max_history = max_history
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.rv = 0
        self.compact_rv = 0
        self.objs = {r.plural: {} for r in RESOURCES}     # key (ns, name) -> Rec
        self.sorted_keys = {r.plural: None for r in RESOURCES}
        # history: parallel lists, rv increasing
        self.h_rv = []
        self.h_ev = []   # (plural, key, type, new Rec or None, prev Rec or None)

    # callers hold self.lock
    def _keys(self, plural):
        if self.sorted_keys[plural] is None:
            self.sorted_keys[plural] = sorted(self.objs[plural])
        return self.sorted_keys[plural]

    def _record(self, res, etype, key, new, prev):
        self.h_rv.append(self.rv)
        self.h_ev.append((res.plural, key, etype, new, prev))
        if len(self.h_rv) > self.max_history:
            # etcd's periodic compaction: the older half goes
            cut = len(self.h_rv) // 2
            self.compact_rv = self.h_rv[cut - 1]
            del self.h_rv[:cut]
            del self.h_ev[:cut]

    def put(self, obj, record=True):
        """Create or replace; returns the stored object (dict)."""
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "an object must be a JSON object")
        res = resource_named(obj.get("kind", ""))
        if not res:
            raise ApiError(400, "BadRequest", f"unknown kind {obj.get('kind')!r}")
        obj = dict(obj)
        md = dict(obj.get("metadata") or {})
        if not md.get("name"):
            raise ApiError(400, "BadRequest", "metadata.name is required")
        if res.namespaced:
            md.setdefault("namespace", "default")
        else:
            md.pop("namespace", None)
        key = (md.get("namespace", ""), md["name"])
        with self.lock:
            prev = self.objs[res.plural].get(key)
            self.rv += 1
            if prev:
                md["uid"] = prev.uid
                md.setdefault("creationTimestamp", json.loads(prev.data)["metadata"].get(
                    "creationTimestamp") or now_rfc3339())
            else:
                md.setdefault("uid", str(uuid.uuid4()))
                md.setdefault("creationTimestamp", now_rfc3339())
            md["resourceVersion"] = str(self.rv)
            obj["metadata"] = md
            obj["kind"], obj["apiVersion"] = res.kind, res.api_version
            rec = Rec(res, obj)
            self.objs[res.plural][key] = rec
            if not prev:
                self.sorted_keys[res.plural] = None
            if record:
                self._record(res, "MODIFIED" if prev else "ADDED", key, rec, prev)
                self.cond.notify_all()
            else:
                self.compact_rv = self.rv
        return obj

    def delete(self, res, ns, name):
        key = (ns if res.namespaced else "", name)
        with self.lock:
            prev = self.objs[res.plural].get(key)
            if not prev:
                raise ApiError(404, "NotFound", f'{res.plural} "{name}" not found')
            self.rv += 1
            obj = prev.obj()
            obj["metadata"]["resourceVersion"] = str(self.rv)
            rec = Rec(res, obj)
            del self.objs[res.plural][key]
            self.sorted_keys[res.plural] = None
            self._record(res, "DELETED", key, rec, prev)
            self.cond.notify_all()
        return obj

    def get(self, res, ns, name):
        with self.lock:
            return self.objs[res.plural].get((ns if res.namespaced else "", name))

    def compact(self):
        with self.lock:
            self.compact_rv = self.rv
            self.h_rv, self.h_ev = [], []
            self.cond.notify_all()
            return self.rv

    def events_after(self, rv):
        """Events with version > rv (caller holds the lock), or None when
        history older than that was compacted away."""
        if rv < self.compact_rv:
            return None
        i = bisect.bisect_right(self.h_rv, rv)
        return [(self.h_rv[j],) + self.h_ev[j] for j in range(i, len(self.h_rv))]

    def snapshot_page(self, res, at_rv, after_key, ns, limit, pred):
        """Items of @res at version @at_rv with key > @after_key (None: from
        the start), at most @limit (0: all) matching @pred.  Returns (recs,
        last key, remaining count or None).  Caller holds the lock."""
        evs = self.events_after(at_rv)
        if evs is None:
            return None
        changed = {}
        for _rv, plural, key, _t, _new, prev in evs:
            if plural == res.plural and key not in changed:
                changed[key] = prev
        cur = self.objs[res.plural]
        keys = self._keys(res.plural)
        if changed:
            keys = sorted(set(keys) | set(changed))
        if ns is not None:
            lo = bisect.bisect_left(keys, (ns, ""))
            hi = bisect.bisect_left(keys, (ns + "\0", ""))
        else:
            lo, hi = 0, len(keys)
        if after_key is not None:
            lo = max(lo, bisect.bisect_right(keys, after_key))
        out, last, i = [], None, lo
        while i < hi:
            k = keys[i]
            i += 1
            rec = changed[k] if k in changed else cur.get(k)
            if rec is None or (pred and not pred(rec)):
                continue
            out.append(rec)
            last = k
            if limit and len(out) >= limit:
                break
        more = bool(limit) and len(out) >= limit and i < hi
        # the real server counts what is left, without selectors only
        remaining = hi - i if more and pred is None else None
        return out, (last if more else None), remaining


# ---- continue tokens ------------------------------------------------------------------


def make_continue(rv, key):
    raw = dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{key[0]}/{key[1]}\0"})
    if len(raw) % 3 == 0:
        raw += " "   # always padded: the client must carry '=' through the URL
    return base64.urlsafe_b64encode(raw.encode()).decode()


def parse_continue(tok):
    try:
        tok = tok.strip().replace(" ", "+")
        tok += "=" * (-len(tok) % 4)
        try:
            raw = base64.urlsafe_b64decode(tok)
        except Exception:
            raw = base64.b64decode(tok)
        d = json.loads(raw)
        if d.get("v") != "meta.k8s.io/v1":
            raise ValueError
        ns, _, name = d["start"].rstrip("\0").partition("/")
        return int(d["rv"]), (ns, name)
    except Exception:
        raise ApiError(400, "BadRequest", "continue key is not valid: illegal base64 data")


# ---- server state shared by handlers --------------------------------------------


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.fail_n = 0
        self.fail_code = 500
        self.fail_match = ""
        self.stall_n = 0

    def take_fail(self, path):
        with self.lock:
            if self.fail_n > 0 and self.fail_match in path:
                self.fail_n -= 1
                return self.fail_code
        return 0

    def take_stall(self):
        with self.lock:
            if self.stall_n > 0:
                self.stall_n -= 1
                return True
        return False


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}
        self.lists = {r.plural: 0 for r in RESOURCES}
        self.watches = {r.plural: 0 for r in RESOURCES}
        self.open_watches = {r.plural: 0 for r in RESOURCES}
        self.counts = {"unauthorized": 0, "injected_failures": 0, "stalled": 0,
                       "gone_410": 0, "events_sent": 0, "bookmarks_sent": 0,
                       "disconnects": 0, "compactions": 0}

    def add(self, name, n=1):
        with self.lock:
            self.counts[name] += n


class Ctx:
    def __init__(self, args):
        self.args = args
        self.store = Store(args.max_history)
        self.faults = Faults()
        self.stats = Stats()
        self.bookmark_interval = args.bookmark_interval
        self.watch_timeout = args.watch_timeout
        self.max_page = args.max_page
        # bumped by /disconnect; watches compare theirs
        self.disc_gen = 0
        self.disc_mode = "abrupt"
        self.stopping = threading.Event()
        self.watch_socks = set()
        self.log_lock = threading.Lock()
        self.logf = open(args.log, "a", buffering=1) if args.log else None

    def log(self, msg):
        if self.logf:
            with self.log_lock:
                self.logf.write(f"{time.time():.3f} {msg}\n")

    def token_ok(self, header):
        try:
            with open(self.args.token_file) as f:
                want = f.read().strip()
        except OSError:
            return False
        if not want or not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), want.encode())


# ---- HTTP plumbing ------------------------------------------------------------------


class ChunkWriter:
    """HTTP/1.1 chunked body, buffered into chunks of about @size bytes."""

    def __init__(self, wfile, size=65536):
        self.w, self.size, self.buf, self.n = wfile, size, [], 0

    def write(self, b):
        self.buf.append(b)
        self.n += len(b)
        if self.n >= self.size:
            self.flush()

    def flush(self):
        if self.n:
            # one write: one sendall, a few TLS records, not one per item
            self.w.write(b"".join([b"%x\r\n" % self.n] + self.buf + [b"\r\n"]))
            self.buf, self.n = [], 0
        self.w.flush()

    def end(self):
        if self.n:
            self.w.write(b"".join([b"%x\r\n" % self.n] + self.buf + [b"\r\n0\r\n\r\n"]))
            self.buf, self.n = [], 0
        else:
            self.w.write(b"0\r\n\r\n")
        self.w.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tailplane-test-apiserver"
    sys_version = ""

    @property
    def ctx(self):
        return self.server.ctx

    def log_message(self, fmt, *args):
        self.ctx.log("%s %s" % (self.address_string(), fmt % args))

    def send_json(self, code, doc, extra=()):
        body = (dumps(doc) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in extra:
            self.send_header(k, v)
        # headers and body in one write
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(body)
        self.flush_headers()

    def send_status(self, e, extra=()):
        self.send_json(e.code, status_doc(e.code, e.reason, e.message), extra)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                ln = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if ln == 0:
                    self.rfile.readline()
                    break
                parts.append(self.rfile.read(ln))
                self.rfile.readline()
            return b"".join(parts)
        return self.rfile.read(n) if n else b""


# ---- the API port ------------------------------------------------------------------


def parse_api_path(path):
    """-> (Resource, namespace or None, name or None) or None."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api" and parts[1] == "v1":
        rest, group, version = parts[2:], "", "v1"
    elif len(parts) >= 4 and parts[0] == "apis":
        rest, group, version = parts[3:], parts[1], parts[2]
    else:
        return None

    def res_of(plural):
        r = BY_PLURAL.get(plural)
        if r and r.group == group and r.version == version:
            return r
        return None
    if len(rest) == 1:
        r = res_of(rest[0])
        return (r, None, None) if r else None
    if len(rest) == 2 and rest[0] == "namespaces" and not group:
        return (BY_PLURAL["namespaces"], None, rest[1])
    if len(rest) in (3, 4) and rest[0] == "namespaces":
        r = res_of(rest[2])
        if r and r.namespaced:
            return (r, rest[1], rest[3] if len(rest) == 4 else None)
    return None


def qbool(v):
    return v in ("1", "true", "True")


class ApiHandler(Handler):
    def do_GET(self):
        ctx = self.ctx
        u = urllib.parse.urlsplit(self.path)
        path = u.path
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        with ctx.stats.lock:
            ctx.stats.requests[path] = ctx.stats.requests.get(path, 0) + 1
        if path in ("/healthz", "/livez", "/readyz"):
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(body)
            return
        if path == "/version":
            self.send_json(200, {"major": "1", "minor": "29", "gitVersion": "v1.29.0-tailplane-test",
                                 "platform": "linux/amd64"})
            return
        if not ctx.token_ok(self.headers.get("Authorization")):
            ctx.stats.add("unauthorized")
            self.send_status(ApiError(401, "Unauthorized", "Unauthorized"))
            return
        code = ctx.faults.take_fail(self.path)
        if code:
            ctx.stats.add("injected_failures")
            if code == 429:
                self.send_status(ApiError(429, "TooManyRequests",
                                          "Too many requests, please try again later."),
                                 [("Retry-After", "1")])
            else:
                self.send_status(ApiError(code, "InternalError",
                                          "Internal error occurred: injected by the test"))
            return
        parsed = parse_api_path(path)
        if not parsed:
            self.send_status(ApiError(404, "NotFound", "the server could not find the requested resource"))
            return
        res, ns, name = parsed
        try:
            if name is not None:
                rec = ctx.store.get(res, ns, name)
                if not rec:
                    raise ApiError(404, "NotFound", f'{res.plural} "{name}" not found')
                self.send_json(200, rec.obj())
                return
            lpred = parse_label_selector(q.get("labelSelector", ""))
            fpred = parse_field_selector(q.get("fieldSelector", ""))
            pred = None
            if lpred or fpred:
                def pred(rec, lp=lpred, fp=fpred):
                    return (not lp or lp(rec.labels)) and (not fp or fp(rec.fields))
            if qbool(q.get("watch", "")):
                self.watch(res, ns, q, pred)
            else:
                self.list(res, ns, q, pred)
        except ApiError as e:
            self.send_status(e)

    def _refuse(self):
        self.send_status(ApiError(405, "MethodNotAllowed",
                                  "the test API server is read-only: use its control port"))

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

    # -- list --
    def list(self, res, ns, q, pred):
        ctx, st = self.ctx, self.ctx.store
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise ApiError(400, "BadRequest", "limit: not a number")
        if limit < 0:
            limit = 0
        if ctx.max_page and (not limit or limit > ctx.max_page):
            limit = ctx.max_page
        cont = q.get("continue", "")
        with st.lock:
            if cont:
                at_rv, after = parse_continue(cont)
                if at_rv < st.compact_rv:
                    ctx.stats.add("gone_410")
                    raise ApiError(410, "Expired",
                                   "The provided continue parameter is too old to display a "
                                   "consistent list result. You can start a new list without "
                                   "the continue parameter, or use the continue token in this "
                                   "response to retrieve the remainder of the results. "
                                   "Continuing with the provided token results in an "
                                   "inconsistent list - objects that were created, modified, or "
                                   "deleted between the time the first chunk was returned and "
                                   "now may show up in the list.")
            else:
                at_rv, after = st.rv, None
            page = st.snapshot_page(res, at_rv, after, ns, limit, pred)
        with ctx.stats.lock:
            ctx.stats.lists[res.plural] += 1
        recs, last, remaining = page
        md = {"resourceVersion": str(at_rv)}
        if last is not None:
            md["continue"] = make_continue(at_rv, last)
            if remaining:
                md["remainingItemCount"] = remaining
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        cw = ChunkWriter(self.wfile)
        cw.write(('{"kind":%s,"apiVersion":%s,"metadata":%s,"items":['
                  % (dumps(res.list_kind), dumps(res.api_version), dumps(md))).encode())
        for i, rec in enumerate(recs):
            if i:
                cw.write(b",")
            cw.write(b"{")
            cw.write(memoryview(rec.data)[rec.plen:])
        cw.write(b"]}\n")
        cw.end()

    # -- watch --
    def watch(self, res, ns, q, pred):
        ctx, st = self.ctx, self.ctx.store
        rv_s = q.get("resourceVersion", "")
        try:
            timeout = float(q.get("timeoutSeconds") or ctx.watch_timeout)
        except ValueError:
            raise ApiError(400, "BadRequest", "timeoutSeconds: not a number")
        bookmarks = qbool(q.get("allowWatchBookmarks", ""))
        try:
            start_rv = int(rv_s) if rv_s not in ("", "0") else None
        except ValueError:
            raise ApiError(400, "BadRequest", f"resourceVersion: invalid value {rv_s!r}")
        with ctx.stats.lock:
            ctx.stats.watches[res.plural] += 1
        if ctx.faults.take_stall():
            ctx.stats.add("stalled")
            self.stall()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        cw = ChunkWriter(self.wfile, 16384)
        sock = self.connection
        with ctx.stats.lock:
            ctx.stats.open_watches[res.plural] += 1
            ctx.watch_socks.add(sock)
        try:
            self.watch_stream(res, ns, pred, start_rv, timeout, bookmarks, cw)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with ctx.stats.lock:
                ctx.stats.open_watches[res.plural] -= 1
                ctx.watch_socks.discard(sock)

    def stall(self):
        """Send nothing until the client goes, a /disconnect or shutdown."""
        ctx = self.ctx
        gen = ctx.disc_gen
        self.connection.settimeout(0.2)
        while not ctx.stopping.is_set() and ctx.disc_gen == gen:
            try:
                if self.connection.recv(1) == b"":
                    break
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError:
                break
        self.close_connection = True

    def watch_stream(self, res, ns, pred, start_rv, timeout, bookmarks, cw):
        ctx, st = self.ctx, self.ctx.store
        end = time.monotonic() + timeout
        gen = ctx.disc_gen
        kind_head = ('{"type":"%%s","object":{"kind":%s,"apiVersion":%s,'
                     % (dumps(res.kind), dumps(res.api_version)))
        sent = 0

        def ev_line(etype, rec):
            return b'{"type":"' + etype.encode() + b'","object":' + rec.data + b"}\n"

        with st.lock:
            if start_rv is None:
                cursor = st.rv
                page = st.snapshot_page(res, cursor, None, ns, 0, pred)
                initial = page[0]
            else:
                cursor = start_rv
                initial = []
                if st.events_after(cursor) is None:
                    gone = st.compact_rv
                    initial = None
        if initial is None:
            self.watch_gone(cw, start_rv, gone)
            return
        for rec in initial:
            cw.write(ev_line("ADDED", rec))
            sent += 1
        cw.flush()
        if sent:
            ctx.stats.add("events_sent", sent)
        next_bm = time.monotonic() + ctx.bookmark_interval
        while True:
            now = time.monotonic()
            if ctx.stopping.is_set():
                cw.end()
                return
            if ctx.disc_gen != gen:
                self.disconnect(cw, ctx.disc_mode)
                return
            if now >= end:
                cw.end()
                return
            if self.client_gone():
                self.close_connection = True
                return
            with st.lock:
                evs = st.events_after(cursor)
                if evs is None:
                    gone = st.compact_rv
                elif not evs:
                    wait = min(end, next_bm if bookmarks else end) - now
                    st.cond.wait(max(0.0, min(wait, 0.25)))
                    evs = st.events_after(cursor)
                    if evs is None:
                        gone = st.compact_rv
                cur_rv = st.rv
            if evs is None:
                # compacted while this watch lagged behind
                self.watch_gone(cw, cursor, gone)
                return
            n = 0
            for rv, plural, key, etype, new, prev in evs:
                cursor = rv
                if plural != res.plural or (ns is not None and key[0] != ns):
                    continue
                if pred:
                    om = prev is not None and pred(prev)
                    nm = etype != "DELETED" and new is not None and pred(new)
                    if etype == "DELETED":
                        if not om:
                            continue
                    elif om and nm:
                        pass
                    elif nm:
                        etype = "ADDED"
                    elif om:
                        etype = "DELETED"
                    else:
                        continue
                cw.write(ev_line(etype, new))
                n += 1
            if n:
                cw.flush()
                sent += n
                ctx.stats.add("events_sent", n)
            if not evs:
                cursor = max(cursor, cur_rv)
            if bookmarks and time.monotonic() >= next_bm:
                # everything up to cur_rv has been sent (or filtered)
                with st.lock:
                    if st.events_after(cursor) == []:
                        cursor = max(cursor, st.rv)
                    bm_rv = cursor
                cw.write((kind_head % "BOOKMARK").encode() +
                         ('"metadata":{"resourceVersion":%s,"creationTimestamp":null}}}\n'
                          % dumps(str(bm_rv))).encode())
                cw.flush()
                ctx.stats.add("bookmarks_sent")
                next_bm = time.monotonic() + ctx.bookmark_interval

    def client_gone(self):
        """The client closed the watch (EOF or TLS close_notify): it sends
        nothing else on a watch connection, so anything readable means gone."""
        sock = self.connection
        try:
            r, _, _ = select.select([sock], [], [], 0)
            if not r and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                return False
            sock.setblocking(False)
            try:
                return sock.recv(1) == b""
            finally:
                sock.setblocking(True)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except (OSError, ValueError):
            return True

    def watch_gone(self, cw, rv, gone):
        """End a watch from @rv, which compaction (now at @gone) took, with a 410 event."""
        self.ctx.stats.add("gone_410")
        doc = status_doc(410, "Expired", f"too old resource version: {rv} ({gone})")
        cw.write(('{"type":"ERROR","object":%s}\n' % dumps(doc)).encode())
        cw.end()

    def disconnect(self, cw, mode):
        self.close_connection = True
        if mode == "clean":
            cw.end()
            return
        if mode == "error410":
            doc = status_doc(410, "Expired", "too old resource version: the test expired this watch")
            cw.write(('{"type":"ERROR","object":%s}\n' % dumps(doc)).encode())
            cw.end()
            return
        cw.flush()
        sock = self.connection
        try:
            if mode == "rst":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ---- the control port ----------------------------------------------------------------


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(target.get(k), v)
    return out


class ControlHandler(Handler):
    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        return [p for p in u.path.split("/") if p], q

    def body_json(self):
        b = self.read_body()
        try:
            return json.loads(b)
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"body is not JSON: {e}")

    def obj_target(self, parts):
        if len(parts) < 3:
            raise ApiError(400, "BadRequest", "expected /objects/KIND/[NS/]NAME")
        res = resource_named(parts[1])
        if not res:
            raise ApiError(404, "NotFound", f"unknown kind {parts[1]!r}")
        if res.namespaced:
            if len(parts) != 4:
                raise ApiError(400, "BadRequest", "expected /objects/KIND/NS/NAME")
            return res, parts[2], parts[3]
        if len(parts) != 3:
            raise ApiError(400, "BadRequest", "expected /objects/KIND/NAME")
        return res, "", parts[2]

    def handle_ctl(self, fn):
        """Answer a control request with fn(parts, query) -> (code, doc), or its ApiError."""
        parts, q = self.route()
        try:
            code, doc = fn(parts, q)
            self.send_json(code, doc)
        except ApiError as e:
            self.send_status(e)

    def ctl_object(self, parts):
        """The object /objects/KIND/[NS/]NAME names: (resource, namespace, name)."""
        if not parts or parts[0] != "objects":
            raise ApiError(404, "NotFound", "no such control endpoint")
        return self.obj_target(parts)

    def stored(self, res, ns, name):
        """The store's record of an object, or 404."""
        rec = self.ctx.store.get(res, ns, name)
        if not rec:
            raise ApiError(404, "NotFound", f'{res.plural} "{name}" not found')
        return rec

    def do_GET(self):
        ctx = self.ctx

        def go(parts, q):
            if parts == ["healthz"]:
                return 200, {"ok": True}
            if parts == ["stats"]:
                return 200, self.stats_doc()
            if parts and parts[0] == "objects":
                if len(parts) == 2:
                    res = resource_named(parts[1])
                    if not res:
                        raise ApiError(404, "NotFound", f"unknown kind {parts[1]!r}")
                    with ctx.store.lock:
                        recs = [ctx.store.objs[res.plural][k] for k in ctx.store._keys(res.plural)]
                    return 200, {"kind": res.list_kind, "apiVersion": res.api_version,
                                 "items": [r.obj() for r in recs]}
                return 200, self.stored(*self.obj_target(parts)).obj()
            raise ApiError(404, "NotFound", "no such control endpoint")
        self.handle_ctl(go)

    def stats_doc(self):
        ctx = self.ctx
        with ctx.store.lock:
            objects = {p: len(d) for p, d in ctx.store.objs.items()}
            rv, crv, hist = ctx.store.rv, ctx.store.compact_rv, len(ctx.store.h_rv)
        with ctx.stats.lock:
            return {"resource_version": rv, "compacted_resource_version": crv,
                    "history_events": hist, "objects": objects,
                    "requests": dict(ctx.stats.requests), "lists": dict(ctx.stats.lists),
                    "watches": dict(ctx.stats.watches),
                    "open_watches": dict(ctx.stats.open_watches),
                    "open_watches_total": sum(ctx.stats.open_watches.values()),
                    **ctx.stats.counts,
                    "bookmark_interval": ctx.bookmark_interval,
                    "pending_failures": ctx.faults.fail_n,
                    "pending_stalls": ctx.faults.stall_n}

    def do_PUT(self):
        self.do_POST()

    def do_POST(self):
        ctx = self.ctx

        def go(parts, q):
            if parts == ["objects"]:
                doc = self.body_json()
                if isinstance(doc, dict) and isinstance(doc.get("items"), list):
                    out = [ctx.store.put(o) for o in doc["items"]]
                    ctx.log(f"control: put {len(out)} objects, rv {ctx.store.rv}")
                    return 200, {"kind": "List", "apiVersion": "v1", "items": out}
                out = ctx.store.put(doc)
                ctx.log(f"control: put {out['kind']} {out['metadata'].get('namespace', '')}/"
                        f"{out['metadata']['name']} rv {out['metadata']['resourceVersion']}")
                return 200, out
            if parts == ["compact"]:
                rv = ctx.store.compact()
                ctx.stats.add("compactions")
                ctx.log(f"control: compacted at {rv}")
                return 200, {"compacted_resource_version": rv}
            if parts == ["disconnect"]:
                mode = q.get("mode", "abrupt")
                if mode not in ("abrupt", "clean", "rst", "error410"):
                    raise ApiError(400, "BadRequest", f"mode {mode!r}")
                with ctx.store.lock:
                    ctx.disc_mode = mode
                    ctx.disc_gen += 1
                    ctx.store.cond.notify_all()
                with ctx.stats.lock:
                    n = sum(ctx.stats.open_watches.values())
                ctx.stats.add("disconnects")
                ctx.log(f"control: disconnect {mode} ({n} open)")
                return 200, {"disconnected": n, "mode": mode}
            if parts == ["fail"]:
                try:
                    n, code = int(q.get("n", "1")), int(q.get("code", "500"))
                except ValueError:
                    raise ApiError(400, "BadRequest", "n and code are numbers")
                with ctx.faults.lock:
                    ctx.faults.fail_n, ctx.faults.fail_code = n, code
                    ctx.faults.fail_match = q.get("match", "")
                return 200, {"fail": n, "code": code, "match": q.get("match", "")}
            if parts == ["stall"]:
                with ctx.faults.lock:
                    ctx.faults.stall_n = int(q.get("n", "1"))
                return 200, {"stall": ctx.faults.stall_n}
            if parts == ["config"]:
                doc = self.body_json()
                if "bookmark_interval" in doc:
                    ctx.bookmark_interval = float(doc["bookmark_interval"])
                if "watch_timeout" in doc:
                    ctx.watch_timeout = float(doc["watch_timeout"])
                if "max_page" in doc:
                    ctx.max_page = int(doc["max_page"])
                return 200, {"bookmark_interval": ctx.bookmark_interval,
                             "watch_timeout": ctx.watch_timeout, "max_page": ctx.max_page}
            raise ApiError(404, "NotFound", "no such control endpoint")
        self.handle_ctl(go)

    def do_PATCH(self):
        def go(parts, q):
            res, ns, name = self.ctl_object(parts)
            patch = self.body_json()
            # read-modify-write under no lock: the control port has one writer (the test)
            obj = merge_patch(self.stored(res, ns, name).obj(), patch)
            obj["metadata"].pop("resourceVersion", None)
            return 200, self.ctx.store.put(obj)
        self.handle_ctl(go)

    def do_DELETE(self):
        def go(parts, q):
            return 200, self.ctx.store.delete(*self.ctl_object(parts))
        self.handle_ctl(go)


# ---- servers ----------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, ctx, family=socket.AF_INET, tls=None):
        self.address_family = family
        self.ctx = ctx
        self.tls = tls
        super().__init__(addr, handler)

    def server_bind(self):
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()

    def finish_request(self, request, client_address):
        # no Nagle, as Go's net/http: a response's last small write must not
        # wait for the client's delayed ACK of the one before (40 ms)
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        # TLS handshake here, in the request's thread: a client that
        # connects and says nothing never blocks the accept loop
        if self.tls:
            request.settimeout(10)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.ctx.log(f"TLS handshake with {client_address[0]} failed: {e}")
                try:
                    request.close()
                except OSError:
                    pass
                return
            request.settimeout(None)
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            try:
                request.close()
            except OSError:
                pass

    def shutdown_request(self, request):
        # finish_request closed the (possibly wrapped) socket
        try:
            request.close()
        except OSError:
            pass

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if isinstance(e, (OSError, ssl.SSLError)):
            return
        self.ctx.log(f"error serving {client_address}: {e!r}")


def load_objects(path):
    """Objects from a JSON-lines file, or one JSON document (an object, a
    List, or an array)."""
    def expand(doc):
        if isinstance(doc, list):
            return doc
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            return doc["items"]
        return [doc]
    with open(path) as f:
        head = f.readline()
        try:
            first = json.loads(head)
        except ValueError:
            yield from expand(json.loads(head + f.read()))
            return
        yield from expand(first)
        for line in f:
            if line.strip():
                yield json.loads(line)


def write_ports(path, ports):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        for k, v in ports.items():
            f.write(f"{k}={v}\n")
    os.rename(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cert", required=True, help="server certificate (PEM)")
    ap.add_argument("--key", required=True, help="its key (PEM)")
    ap.add_argument("--token-file", required=True, help="the valid bearer token, read per request")
    ap.add_argument("--ports-file", required=True, help="where API_PORT, API6_PORT, CONTROL_PORT go")
    ap.add_argument("--port", type=int, default=0, help="API port on 127.0.0.1 (0: any)")
    ap.add_argument("--ipv6", action="store_true", help="also listen on [::1] (port API6_PORT)")
    ap.add_argument("--control-port", type=int, default=0, help="control port on 127.0.0.1")
    ap.add_argument("--preload", action="append", default=[], help="objects to start with")
    ap.add_argument("--bookmark-interval", type=float, default=5.0, help="seconds between bookmarks")
    ap.add_argument("--watch-timeout", type=float, default=1800.0,
                    help="a watch's length when the client gives no timeoutSeconds")
    ap.add_argument("--max-page", type=int, default=0,
                    help="cap of a list page (0: the client's limit)")
    ap.add_argument("--max-history", type=int, default=1000000,
                    help="events kept for watches; past it the older half is compacted away")
    ap.add_argument("--log", help="append a line per request and control action here")
    args = ap.parse_args(argv)

    ctx = Ctx(args)
    t0 = time.monotonic()
    n = 0
    for p in args.preload:
        for obj in load_objects(p):
            ctx.store.put(obj, record=False)
            n += 1
    if n:
        ctx.log(f"preloaded {n} objects in {time.monotonic() - t0:.2f} s, rv {ctx.store.rv}")
        print(f"apiserver: preloaded {n} objects in {time.monotonic() - t0:.2f} s",
              file=sys.stderr, flush=True)

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(args.cert, args.key)
    tls.set_alpn_protocols(["http/1.1"])

    servers = [Server(("127.0.0.1", args.port), ApiHandler, ctx, tls=tls)]
    ports = {"PID": os.getpid(), "API_PORT": servers[0].server_address[1], "API6_PORT": 0}
    if args.ipv6:
        try:
            s6 = Server(("::1", args.port), ApiHandler, ctx, family=socket.AF_INET6, tls=tls)
            servers.append(s6)
            ports["API6_PORT"] = s6.server_address[1]
        except OSError as e:
            print(f"apiserver: not listening on [::1]: {e}", file=sys.stderr)
    ctl = Server(("127.0.0.1", args.control_port), ControlHandler, ctx)
    servers.append(ctl)
    ports["CONTROL_PORT"] = ctl.server_address[1]

    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
               for s in servers]
    for t in threads:
        t.start()
    done = threading.Event()

    def stop(_sig, _frm):
        done.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    write_ports(args.ports_file, ports)
    ctx.log(f"listening: {ports}")
    while not done.wait(1.0):
        pass
    ctx.stopping.set()
    with ctx.store.lock:
        ctx.store.cond.notify_all()
    for s in servers:
        s.shutdown()
        s.server_close()
    # give open watches a moment to write their last chunk
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        with ctx.stats.lock:
            if not ctx.watch_socks:
                break
        time.sleep(0.05)
    ctx.log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
