"""Memory stays flat under many calls: no leak per call, none per burst.

A slimserve process on the tiny model serves a warm-up, then many more
sequential calls of every kind (good ones, PNG and RAW, every budget; bad
ones that fail in validation, admission and decoding), then bursts of
concurrent calls. Its resident memory (/proc/PID/status VmRSS) after all
that must be within a small margin of its value after the warm-up: a leak
of even a few KB per call would exceed it. What is counted is memory, not
time, so the outcome does not depend on the machine's speed.
"""

import concurrent.futures
import unittest

import grpc

import ops_util
import slimserve_client

WARMUP_CALLS = 300
CALLS = 3000
BURSTS = 3
BURST_SIZE = 64
# Allocator slack: arenas of new threads, fragmentation. A leak of 4 KB per
# call over the 3200 calls after the warm-up would be 13 MB on top.
MARGIN_BYTES = 24 << 20


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for %d" % pid)


class MemoryTest(unittest.TestCase):

    def test_rss_is_flat_over_calls_and_bursts(self):
        server = ops_util.Slimserve("slimserve_memory")
        client = server.wait_serving()
        try:
            image = ops_util.raw_test_image()
            png = client.infer(image, budget=1.0,
                               output_format=slimserve_client.PNG,
                               timeout=30)  # one call, for its outputs
            budgets = (0.25, 0.5, 1.0)

            def call(i):
                kind = i % 5
                try:
                    if kind == 0:
                        client.infer(image, budget=budgets[i % 3], timeout=60)
                    elif kind == 1:
                        client.infer(image, budget=budgets[i % 3],
                                     output_format=slimserve_client.PNG,
                                     weights={"semseg": 1, "depth": 0.5},
                                     timeout=60)
                    elif kind == 2:  # decoding fails
                        client.infer(b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
                                     timeout=60)
                    elif kind == 3:  # validation fails
                        client.infer(image, weights={"sky": 1},
                                     request_id="x" * 200, timeout=60)
                    else:  # below the cheapest configuration
                        client.plan(budget_mflops=1e-9, timeout=60)
                except grpc.RpcError as error:
                    if kind in (0, 1):
                        raise
                    self.assertIn(error.code(), (
                        grpc.StatusCode.INVALID_ARGUMENT,
                        grpc.StatusCode.OUT_OF_RANGE))

            for i in range(WARMUP_CALLS):
                call(i)
            with concurrent.futures.ThreadPoolExecutor(BURST_SIZE) as pool:
                list(pool.map(call, range(BURST_SIZE)))  # threads warm too
            warm = rss_bytes(server.pid)

            for i in range(CALLS):
                call(i)
            with concurrent.futures.ThreadPoolExecutor(BURST_SIZE) as pool:
                for burst in range(BURSTS):
                    list(pool.map(call, range(burst * BURST_SIZE,
                                              (burst + 1) * BURST_SIZE)))
            after = rss_bytes(server.pid)
            print("RSS after warm-up %.1f MB, after %d calls and %d bursts "
                  "of %d: %.1f MB" % (warm / 2**20, CALLS, BURSTS, BURST_SIZE,
                                      after / 2**20))
            self.assertLess(after, warm + MARGIN_BYTES,
                            "RSS grew from %d to %d bytes" % (warm, after))
            self.assertTrue(png.outputs[0].png.startswith(b"\x89PNG"))
            self.assertEqual(client.health(timeout=10), "SERVING")
        finally:
            client.close()
            server.kill()


if __name__ == "__main__":
    ops_util.main()
