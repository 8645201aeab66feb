#!/usr/bin/env python3
"""Sums a LibTorch profiler trace (chrome JSON from RecordProfile) by
operator name: total and per-call milliseconds, call counts, share.

Usage: tools/profile_summary.py TRACE.json [ITERATIONS=20] [TOP=15]
Only top-level CPU ops are summed (nested ones, e.g. the convolution inside
mkldnn_convolution, would count twice).
"""
import collections
import json
import sys


def main():
    path = sys.argv[1]
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    with open(path) as f:
        trace = json.load(f)
    events = [e for e in (trace["traceEvents"] if isinstance(trace, dict) else trace)
              if e.get("ph") == "X" and "dur" in e]
    events.sort(key=lambda e: (e.get("tid", 0), e["ts"], -e["dur"]))
    totals = collections.defaultdict(float)
    counts = collections.Counter()
    end_by_thread = {}
    for e in events:
        tid = e.get("tid", 0)
        if e["ts"] < end_by_thread.get(tid, -1):
            continue  # nested inside a counted op
        end_by_thread[tid] = e["ts"] + e["dur"]
        totals[e["name"]] += e["dur"] / 1000.0
        counts[e["name"]] += 1
    whole = sum(totals.values())
    print("%-40s %10s %8s %10s %6s" % ("op", "ms/iter", "calls", "us/call", "share"))
    for name, ms in sorted(totals.items(), key=lambda kv: -kv[1])[:top]:
        print("%-40s %10.3f %8.1f %10.1f %5.1f%%" % (
            name[:40], ms / iterations, counts[name] / iterations,
            1000 * ms / counts[name], 100 * ms / whole))
    print("%-40s %10.3f" % ("total (top-level ops)", whole / iterations))


if __name__ == "__main__":
    main()
