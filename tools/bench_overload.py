#!/usr/bin/env python3
"""Overload and soak benchmark of a slimserve process (the hardening issue).

1. Starts slimserve on the model (default models/default), with its metrics.
2. Capacity: a closed loop (slimbench --concurrency, default 16) on the
   mixed workload (budgets 0.25/0.5/1.0, random task weights, 480x640 PNG
   in and out); its throughput is the capacity.
3. Overload: an open loop (Poisson) at --overload x capacity for
   --overload_s seconds with --deadline_ms deadlines. Reported: goodput (OK
   within the deadline, per second) against the capacity, requests admitted
   and then expired (DEADLINE_EXCEEDED at their deadline), degraded plans,
   refusals by code; every outcome, summing to what was sent; the server's
   RSS after the capacity run and at the end of the overload.
4. Soak (--soak_s > 0): an open loop at --soak_load x capacity, RSS sampled
   every 10 s; the least-squares slope in MB per minute.

Prints a JSON report (and writes it to --json_out). Needs the binaries
built (tools/serve.sh, or bazel build -c opt //server:slimserve
//client:slimbench). Usage:
  tools/bench_overload.py [--overload_s=60] [--soak_s=0] [--bin=bazel-bin]
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def slimbench(args, target, load, seconds, deadline_ms=0, warmup_s=2):
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    cmd = [os.path.join(args.bin, "client/slimbench"), "--target=" + target,
           "--duration_s=%g" % seconds, "--warmup_s=%g" % warmup_s,
           "--budgets=0.25,0.5,1.0", "--weights=random",
           "--image_size=480x640", "--json_out=" + out] + load
    if deadline_ms:
        cmd.append("--deadline_ms=%g" % deadline_ms)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        report = json.load(f)
    os.unlink(out)
    return report


def server_counts(metrics_port):
    """{series: value} of the server's request and refusal counters."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port,
                                timeout=10) as response:
        text = response.read().decode()
    counts = {}
    for line in text.splitlines():
        for prefix in ("slimserve_requests_total{", "slimserve_rejected_",
                       "slimserve_degraded_requests_total{"):
            if line.startswith(prefix) and 'rpc="Plan"' not in line and \
                    'rpc="GetModelInfo"' not in line:
                name, value = line.rsplit(" ", 1)
                if float(value):
                    counts[name] = float(value)
    return counts


def diff(after, before):
    return {k: v - before.get(k, 0) for k, v in after.items()
            if v - before.get(k, 0)}


def slope_mb_per_min(samples):
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    n = len(samples)
    if n < 2:
        return float("nan")
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    cov = sum((t - mt) * (r - mr) for t, r in samples)
    return 60.0 * cov / var if var else float("nan")


def sample_rss(pid, period, stop, samples):
    start = time.monotonic()
    while not stop.wait(period):
        samples.append((time.monotonic() - start, rss_mb(pid)))


def open_loop(args, pid, target, rate, seconds, period):
    samples, stop = [], threading.Event()
    sampler = threading.Thread(target=sample_rss,
                               args=(pid, period, stop, samples))
    sampler.start()
    try:
        report = slimbench(args, target, ["--rate=%g" % rate], seconds,
                           args.deadline_ms)
    finally:
        stop.set()
        sampler.join()
    return report, samples


def outcomes(report):
    errors = dict(report["errors"])
    ok = report["ok"]
    good = round(report["slo_attainment"] * report["sent"])
    deadline = errors.pop("DEADLINE_EXCEEDED", 0)
    counted = {
        "ok_within_deadline": good,
        "ok_late": ok - good,
        "deadline_exceeded_after_admission": report["expired"],
        "deadline_exceeded_at_admission": deadline - report["expired"],
    }
    counted.update(errors)
    assert sum(counted.values()) == report["sent"], (counted, report)
    return counted


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default="bazel-bin")
    parser.add_argument("--model_dir", default="models/default")
    parser.add_argument("--server_flags", default="",
                        help="extra slimserve flags, space-separated")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--capacity_s", type=float, default=20)
    parser.add_argument("--overload", type=float, default=2.0)
    parser.add_argument("--overload_s", type=float, default=60)
    parser.add_argument("--deadline_ms", type=float, default=300)
    parser.add_argument("--soak_s", type=float, default=0)
    parser.add_argument("--soak_load", type=float, default=0.8)
    parser.add_argument("--json_out", default="")
    parser.add_argument("--keep_log", action="store_true",
                        help="keep the server's log (its path is printed)")
    args = parser.parse_args()

    port = free_port()
    metrics_port = free_port()
    target = "127.0.0.1:%d" % port
    log = tempfile.NamedTemporaryFile(prefix="slimserve-overload-",
                                      suffix=".log", delete=False)
    server = subprocess.Popen(
        [os.path.join(args.bin, "server/slimserve"),
         "--model_dir=" + args.model_dir, "--address=" + target,
         "--metrics_address=127.0.0.1:%d" % metrics_port, "--num_threads=2",
         "--drain_grace_s=0"] +
        args.server_flags.split(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while b"serving on" not in open(log.name, "rb").read():
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("slimserve did not start; see " + log.name)
            time.sleep(0.2)
        capacity = slimbench(args, target,
                             ["--concurrency=%d" % args.concurrency],
                             args.capacity_s)
        cap = capacity["throughput_rps"]
        rss_warm = rss_mb(server.pid)
        rate = args.overload * cap
        before = server_counts(metrics_port)
        overload, samples = open_loop(args, server.pid, target, rate,
                                      args.overload_s, 5)
        # The server's view, warm-up of the open loop included.
        server_view = diff(server_counts(metrics_port), before)
        sent = overload["sent"]
        counted = outcomes(overload)
        result = {
            "machine": "%s, %d cores" % (os.uname().nodename, os.cpu_count()),
            "capacity_rps": cap,
            "capacity_p50_ms": capacity["latency_ms"]["p50"],
            "overload": {
                "rate_rps": rate,
                "seconds": overload["duration_s"],
                "deadline_ms": args.deadline_ms,
                "sent": sent,
                "outcomes": counted,
                "goodput_rps": counted["ok_within_deadline"] /
                               overload["duration_s"],
                "goodput_of_capacity":
                    counted["ok_within_deadline"] / overload["duration_s"] /
                    cap,
                "expired_after_admission_of_sent":
                    counted["deadline_exceeded_after_admission"] / sent,
                "degraded_of_ok": overload["degraded_fraction"],
                "ok_p99_ms": overload["latency_ms"]["p99"],
                "rss_mb_after_warmup": rss_warm,
                "rss_mb_end": samples[-1][1] if samples else rss_mb(
                    server.pid),
                "rss_mb_max": max(r for _, r in samples) if samples else 0,
                "server_counts": server_view,
            },
        }
        if args.soak_s > 0:
            soak, soak_samples = open_loop(args, server.pid, target,
                                           args.soak_load * cap, args.soak_s,
                                           10)
            result["soak"] = {
                "rate_rps": args.soak_load * cap,
                "seconds": soak["duration_s"],
                "outcomes": outcomes(soak),
                "rss_mb_first": soak_samples[0][1] if soak_samples else 0,
                "rss_mb_last": soak_samples[-1][1] if soak_samples else 0,
                "rss_slope_mb_per_min": slope_mb_per_min(soak_samples),
            }
        result["server_alive"] = server.poll() is None
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
        if args.keep_log:
            print("server log: " + log.name, file=sys.stderr)
        else:
            os.unlink(log.name)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
