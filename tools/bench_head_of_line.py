#!/usr/bin/python3
"""Head-of-line benchmark: how long a small request waits behind large images.

Starts slimserve on the default model, sends LARGE big PNGs at once and, as
soon as they are sent, one small PNG; prints the small request's latency
(and the large ones'), over ROUNDS rounds. Before the engine-architecture
change the executor decoded every batch member in turn, so the small request
waited for the large decodes; now decoding runs in the stage pool in order of
estimated completion.

Usage (from the repository root, after `bazel build -c opt
//server:slimserve //client/python:slimserve_client`):
  tools/bench_head_of_line.py [--bin=bazel-bin]   # Debian's python3 (python3-grpcio) [--large=4] [--rounds=5]
      [--size=2000x3000] [-- extra server flags]
"""

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "bazel-bin/client/python"),
                os.path.join(ROOT, "client/python")]
from slimserve_client import PNG, SlimClient  # noqa: E402


def png(height, width, pixels):
    """An 8-bit RGB PNG of `pixels` (height*width*3 bytes), zlib level 1."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    stride = width * 3
    raw = b"".join(b"\x00" + pixels[y * stride:(y + 1) * stride]
                   for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="bazel-bin")
    parser.add_argument("--large", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", default="2000x3000")
    parser.add_argument("--port", type=int, default=50073)
    parser.add_argument("server_flags", nargs="*")
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    large = png(h, w, os.urandom(h * w * 3))  # noise: slow to decode
    small = png(96, 128, bytes(range(256)) * (96 * 128 * 3 // 256))

    log = tempfile.NamedTemporaryFile(prefix="slimserve_hol_", delete=False)
    server = subprocess.Popen(
        [os.path.join(args.bin, "server/slimserve"),
         "--model_dir=" + os.path.join(ROOT, "models/default"),
         "--address=127.0.0.1:%d" % args.port, "--metrics_address=",
         "--num_threads=2", "--drain_grace_s=0"] + args.server_flags,
        stdout=log, stderr=subprocess.STDOUT)
    try:
        client = None
        for _ in range(120):  # the port opens once the model is warm
            try:
                client = SlimClient("127.0.0.1:%d" % args.port,
                                    connect_timeout=1)
                break
            except Exception:  # not up yet
                time.sleep(0.5)
        client.infer(small, budget=0.25, output_format=PNG)  # warm
        small_ms, large_ms = [], []
        for _ in range(args.rounds):
            done = []

            def big():
                start = time.monotonic()
                client.infer(large, budget=1.0, output_format=PNG, timeout=60)
                done.append(1000 * (time.monotonic() - start))

            threads = [threading.Thread(target=big) for _ in range(args.large)]
            for t in threads:
                t.start()
            time.sleep(0.05)  # the large ones are on the server
            start = time.monotonic()
            client.infer(small, budget=0.25, output_format=PNG, timeout=60)
            small_ms.append(1000 * (time.monotonic() - start))
            for t in threads:
                t.join()
            large_ms.extend(done)
        small_ms.sort()
        large_ms.sort()
        print("%s: %d x %s PNG (%.1f MB each) then one 96x128 PNG, %d rounds"
              % (args.bin, args.large, args.size, len(large) / 1e6, args.rounds))
        print("  small request ms: median %.1f  min %.1f  max %.1f"
              % (small_ms[len(small_ms) // 2], small_ms[0], small_ms[-1]))
        print("  large requests ms: median %.1f  max %.1f"
              % (large_ms[len(large_ms) // 2], large_ms[-1]))
        client.close()
    finally:
        server.terminate()
        server.wait()
        os.unlink(log.name)


if __name__ == "__main__":
    main()
