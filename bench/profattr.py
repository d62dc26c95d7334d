#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Attribute perf samples of one bench_prog process to BPF source lines.

Usage: profattr.py JITLINES PERFSCRIPT PID RUNS SECONDS [TOP]

JITLINES: bench/jitlines output of the programs to attribute to (P, F, L
records); PERFSCRIPT: `perf script -F pid,ip,sym` of a `perf record -a -g`
(the callchain, leaf first); PID: the bench's; RUNS in SECONDS: its
profiling loop's count.  A sample in a dumped function goes to the line
record whose JIT address is the greatest at or below its address; one
whose callchain passes through a BPF program is a kernel helper's (a map
lookup, jhash, memcmp, a return thunk) and goes to the helper and to the
calling line; the rest is the test run's own overhead (the syscall, the
skb, the timer, user space).  Run by bench/profile.sh.
"""
import bisect
import collections
import re
import sys

# a JIT image's symbol: bpf_prog_TAG_NAME (not bpf_prog_test_run_*)
BPF_SYM = re.compile(r"bpf_prog_[0-9a-f]{16}(_|$)")


def load_jitlines(path):
    funcs = []  # (start, end, function, program)
    lines = []  # (jitaddr, file:line, source)
    prog = "?"
    for rec in open(path, errors="replace"):
        p = rec.rstrip("\n").split(" ", 3)
        if p[0] == "P":
            prog = p[2] if len(p) > 2 else "?"
        elif p[0] == "F":
            start = int(p[1], 16)
            funcs.append((start, start + int(p[2]), p[3], prog))
        elif p[0] == "L":
            lines.append((int(p[1], 16), p[2], p[3] if len(p) > 3 else ""))
    funcs.sort()
    lines.sort()
    return funcs, lines


def read_samples(path, pid):
    """Yield each sample of @pid as [(ip, sym), ...], leaf first."""
    chain, keep = None, False
    for rec in open(path, errors="replace"):
        if not rec.strip():
            continue
        if not rec[0].isspace():
            if keep and chain:
                yield chain
            keep = rec.split()[0] == pid
            chain = []
            continue
        if keep:
            p = rec.split(None, 1)
            try:
                chain.append((int(p[0], 16), p[1].strip() if len(p) > 1 else "?"))
            except ValueError:
                pass
    if keep and chain:
        yield chain


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    funcs, lines = load_jitlines(sys.argv[1])
    pid, runs, secs = sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    top = int(sys.argv[6]) if len(sys.argv) > 6 else 15
    fstarts = [f[0] for f in funcs]
    laddrs = [l[0] for l in lines]

    def func_of(ip):
        i = bisect.bisect_right(fstarts, ip) - 1
        return funcs[i] if i >= 0 and ip < funcs[i][1] else None

    def line_of(ip):
        i = bisect.bisect_right(laddrs, ip) - 1
        return lines[i] if i >= 0 else (0, "?", "")

    total = 0
    kind = collections.Counter()  # bpf, helper, overhead
    by_line = collections.Counter()  # (function, program, file:line) -> n
    source = {}
    by_func = collections.Counter()
    helpers = collections.Counter()
    callers = collections.Counter()  # (helper, file:line of the call) -> n
    overhead = collections.Counter()
    for chain in read_samples(sys.argv[2], pid):
        total += 1
        ip, sym = chain[0]
        f = func_of(ip)
        if f:
            _, fl, src = line_of(ip)
            key = (f[2], f[3], fl)
            kind["bpf"] += 1
            by_line[key] += 1
            by_func[(f[2], f[3])] += 1
            source[key] = src.strip()
            continue
        if BPF_SYM.match(sym):
            kind["bpf"] += 1  # a program that was not dumped
            by_func[(sym, "not dumped")] += 1
            continue
        # the innermost BPF frame of the chain: a helper called from there
        caller = next((c for c, _ in chain[1:] if func_of(c)), None)
        if caller:
            kind["helper"] += 1
            helpers[sym] += 1
            callers[(sym, line_of(caller - 1)[1])] += 1
        else:
            kind["overhead"] += 1
            overhead[sym] += 1
    if not total:
        sys.exit("profattr: no samples of pid %s" % pid)
    wall = secs * 1e9 / runs  # ns of the bench's time per run

    def ns(n):
        return n * wall / total

    def pct(n):
        return 100.0 * n / total

    print("%d samples of the bench (pid %s); %d runs in %.1f s: %.0f ns a run, "
          "its whole loop" % (total, pid, runs, secs, wall))
    print("est. ns per run = share of the bench's samples x %.0f ns: an estimate, "
          "with sampling skid" % wall)
    print()
    print("%-44s %7s %6s %8s" % ("WHERE", "SAMPLES", "%", "EST.NS"))
    for k, what in (("bpf", "BPF programs"),
                    ("helper", "kernel helpers called by them"),
                    ("overhead", "test-run overhead (syscall, skb, user)")):
        print("%-44s %7d %5.1f%% %8.1f" % (what, kind[k], pct(kind[k]), ns(kind[k])))
    n = kind["bpf"] + kind["helper"]
    print("%-44s %7d %5.1f%% %8.1f" % ("= the programs with their helpers", n, pct(n), ns(n)))
    for title, counter in (("programs' functions", by_func),
                           ("helpers", helpers),
                           ("helpers by calling line", callers),
                           ("overhead", overhead)):
        print("\n%s:" % title)
        for k, n in counter.most_common(8):
            name = "%s (%s)" % k if isinstance(k, tuple) else k
            print("  %-42s %7d %5.1f%% %8.1f" % (name, n, pct(n), ns(n)))
    print("\ntop %d source lines, by function:" % top)
    best = by_line.most_common(top)
    order = collections.OrderedDict()
    for k, n in sorted(best, key=lambda kn: (-by_func[kn[0][:2]], -kn[1])):
        order.setdefault(k[:2], []).append((k[2], n, source[k]))
    for (fn, prog), rows in order.items():
        print("%s (%s): %.1f%% of samples" % (fn, prog, pct(by_func[(fn, prog)])))
        for fl, n, src in rows:
            print("  %-24s %6d %5.1f%% %6.1f  %s" % (fl, n, pct(n), ns(n), src[:70]))


if __name__ == "__main__":
    main()
