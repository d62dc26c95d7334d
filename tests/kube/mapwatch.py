#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Cheap, fine-grained polls of tailplane's tp_services map for scale.sh,
through the bpf(2) system call (ctypes; no tpctl or bpftool process per
poll, so a poll costs microseconds and the loader keeps the CPUs).

    mapwatch.py sync PIN_ROOT FRONTENDS BACKENDS TIMEOUT_S
        wait (for the pin too) until tp_services holds FRONTENDS entries of
        owner kubernetes, then until their active backends add up to
        BACKENDS; print "services MS N" and "backends MS SUM" when each
        happened (MS: wall-clock ms since the epoch).  Polls every 50 ms
        (a poll reads every entry: a lookup per service).
    mapwatch.py active PIN_ROOT VIP PORT PROTO WANT TIMEOUT_S
        print "ready" once the map is open, then wait until the service's
        entry (IPv4 VIP) has WANT active backends and print the time (ms
        since the epoch).  Polls every 1 ms.

Exit status 1 on timeout (what it saw last is printed).
"""
import ctypes
import ctypes.util
import os
import socket
import struct
import sys
import time

SYS_BPF = 321  # x86_64
BPF_MAP_LOOKUP_ELEM, BPF_MAP_GET_NEXT_KEY, BPF_OBJ_GET = 1, 4, 7
KEY_SIZE, VALUE_SIZE = 20, 24  # struct tp_svc_key, struct tp_svc (abi.h)

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    r = libc.syscall(SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if r < 0:
        return -ctypes.get_errno()
    return r


def obj_get(path):
    p = ctypes.create_string_buffer(path.encode())
    attr = (ctypes.c_ubyte * 128)()
    struct.pack_into("QII", attr, 0, ctypes.addressof(p), 0, 0)
    return bpf(BPF_OBJ_GET, attr)


# TP_MAPWATCH_OWNER: another owner (2, static: to try it on a static config)
OWNER_KUBERNETES = int(os.environ.get("TP_MAPWATCH_OWNER", "3"))


def kube_services(fd):
    """(entries of owner kubernetes, the sum of their active backends)."""
    key = ctypes.create_string_buffer(KEY_SIZE)
    nxt = ctypes.create_string_buffer(KEY_SIZE)
    val = ctypes.create_string_buffer(VALUE_SIZE)
    attr = (ctypes.c_ubyte * 128)()
    lattr = (ctypes.c_ubyte * 128)()
    n, active, first = 0, 0, True
    while True:
        struct.pack_into("IIQQ", attr, 0, fd, 0, 0 if first else ctypes.addressof(key),
                         ctypes.addressof(nxt))
        if bpf(BPF_MAP_GET_NEXT_KEY, attr) < 0:
            return n, active
        first = False
        ctypes.memmove(key, nxt, KEY_SIZE)
        struct.pack_into("IIQQQ", lattr, 0, fd, 0, ctypes.addressof(key), ctypes.addressof(val), 0)
        if bpf(BPF_MAP_LOOKUP_ELEM, lattr) < 0:
            continue
        act, owner = struct.unpack_from("<HxB", val.raw, 12)
        if owner == OWNER_KUBERNETES:
            n += 1
            active += act


def svc_key(vip, port, proto):
    a = b"\0" * 10 + b"\xff\xff" + socket.inet_aton(vip)
    return a + struct.pack("!H", port) + bytes([proto, 0])


def lookup(fd, key):
    k = ctypes.create_string_buffer(key, KEY_SIZE)
    v = ctypes.create_string_buffer(VALUE_SIZE)
    attr = (ctypes.c_ubyte * 128)()
    struct.pack_into("IIQQQ", attr, 0, fd, 0, ctypes.addressof(k), ctypes.addressof(v), 0)
    if bpf(BPF_MAP_LOOKUP_ELEM, attr) < 0:
        return None
    return v.raw


def open_map(pin_root, deadline):
    path = os.path.join(pin_root, "tp_services")
    while True:
        fd = obj_get(path)
        if fd >= 0:
            return fd
        if time.monotonic() > deadline:
            raise SystemExit(f"mapwatch.py: no {path}: {os.strerror(-fd)}")
        time.sleep(0.02)


def main():
    a = sys.argv[1:]
    if a and a[0] == "sync" and len(a) == 5:
        deadline = time.monotonic() + float(a[4])
        fd = open_map(a[1], deadline)
        fe, be, seen = int(a[2]), int(a[3]), (0, 0)
        services_done = False
        while time.monotonic() < deadline:
            seen = kube_services(fd)
            if not services_done and seen[0] >= fe:
                print("services", int(time.time() * 1000), seen[0], flush=True)
                services_done = True
            if services_done and seen[1] >= be:
                print("backends", int(time.time() * 1000), seen[1], flush=True)
                return 0
            time.sleep(0.05)
        print("timeout", -1, *seen, flush=True)
        return 1
    if a and a[0] == "active" and len(a) == 7:
        deadline = time.monotonic() + float(a[6])
        fd = open_map(a[1], deadline)
        key = svc_key(a[2], int(a[3]), {"tcp": 6, "udp": 17}[a[4]])
        want, v = int(a[5]), None
        lookup(fd, key)
        print("ready", flush=True)
        while time.monotonic() < deadline:
            v = lookup(fd, key)
            if v is not None and struct.unpack_from("<H", v, 12)[0] == want:
                print(int(time.time() * 1000))
                return 0
            time.sleep(0.001)
        print(-1, v.hex() if v else "absent")
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
