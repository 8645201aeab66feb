"""SIGTERM under sustained load: the drain loses no call.

Several client threads loop Infer, each call with its own request id, while
slimserve gets SIGTERM. Expected:
  - health turns NOT_SERVING at once, and calls still succeed during
    --drain_grace_s (load balancers are still moving traffic away);
  - then the server stops accepting. New calls fail with UNAVAILABLE
    (GOAWAY, then connection refused), except the few that race the stop:
    sent before their client saw the GOAWAY, they are cancelled by gRPC
    core before they reach the service: CANCELLED, and never run;
  - no call is lost: every call that reached the service (its id is in the
    server's per-call log) completed OK, and every failed call never reached
    it. Nothing ends in DEADLINE_EXCEEDED, INTERNAL or UNKNOWN;
  - the process exits 0.
"""

import collections
import itertools
import re
import signal
import threading
import time
import unittest

import grpc

import ops_util
from slimserve_client import SlimClient

DRAIN_GRACE_S = 2
CLIENT_THREADS = 4
# Far longer than a call takes: a call cut off by the server would show as
# CANCELLED or UNAVAILABLE mid-flight, never as a deadline.
CALL_TIMEOUT_S = 30


class Recorder:
    """Thread-safe log of (start, end, code) per call."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []

    def add(self, start, end, code, request_id):
        with self.lock:
            self.calls.append((start, end, code, request_id))

    def snapshot(self):
        with self.lock:
            return list(self.calls)


class DrainTest(unittest.TestCase):

    def test_sigterm_under_load_loses_no_call(self):
        server = ops_util.Slimserve(
            "slimserve_drain",
            flags=["--drain_grace_s=%g" % DRAIN_GRACE_S,
                   "--shutdown_timeout_s=20", "--max_queue_size=1000"])
        try:
            server.wait_serving().close()
            self.check_drain(server)
        finally:
            server.kill()

    def check_drain(self, server):
        recorder = Recorder()
        stop = threading.Event()
        image = ops_util.raw_test_image(120, 160, 3)

        def load(thread_index):
            # A channel per thread: several connections, as from several
            # clients. No wait_for_ready: once the server is gone a call
            # fails at once instead of waiting to reconnect.
            client = SlimClient(server.target, connect_timeout=10)
            try:
                for n in itertools.count():
                    if stop.is_set():
                        return
                    request_id = "t%d-%d" % (thread_index, n)
                    start = time.monotonic()
                    try:
                        client.infer(image, budget=0.5, request_id=request_id,
                                     timeout=CALL_TIMEOUT_S)
                        code = grpc.StatusCode.OK
                    except grpc.RpcError as e:
                        code = e.code()
                    recorder.add(start, time.monotonic(), code, request_id)
                    if code == grpc.StatusCode.UNAVAILABLE:
                        if not server.alive():
                            return
                        # Refused while shutting down: do not spin.
                        time.sleep(0.01)
            finally:
                client.close()

        threads = [threading.Thread(target=load, args=(i,))
                   for i in range(CLIENT_THREADS)]
        for thread in threads:
            thread.start()
        try:
            # Sustained load first.
            ops_util.poll(lambda: len(recorder.snapshot()) >= 20, timeout=30,
                          what="20 calls before SIGTERM")
            health_client = SlimClient(server.target, connect_timeout=10)
            self.assertEqual(health_client.health(timeout=5), "SERVING")

            sigterm_at = time.monotonic()
            server.popen.send_signal(signal.SIGTERM)
            # Health says NOT_SERVING well within the grace period...
            ops_util.poll(
                lambda: health_client.health(timeout=5) == "NOT_SERVING",
                timeout=DRAIN_GRACE_S / 2, interval=0.02,
                what="health NOT_SERVING after SIGTERM")
            not_serving_at = time.monotonic()
            health_client.close()

            exit_code = server.wait(timeout=30)
            exited_at = time.monotonic()
        finally:
            # Threads end on their own once the server is gone; this bounds
            # them if it never goes.
            stop.set()
            for thread in threads:
                thread.join(timeout=CALL_TIMEOUT_S + 5)
        self.assertEqual(exit_code, 0, server.log()[-3000:])

        calls = recorder.snapshot()
        codes = collections.Counter(code.name for _, _, code, _ in calls)
        self.assertLessEqual(set(codes), {"OK", "UNAVAILABLE", "CANCELLED"},
                             codes)
        # The service logs one line per call it handled ("infer id=ID OK" at
        # debug level, failures at warning).
        handled = set(re.findall(r"infer id=(\S+) ", server.log()))
        for _, end, code, request_id in calls:
            if code == grpc.StatusCode.OK:
                self.assertIn(request_id, handled)
            else:
                # Refused before the service saw it, and only once the grace
                # period was over.
                self.assertNotIn(request_id, handled, code)
                self.assertGreaterEqual(end - sigterm_at, DRAIN_GRACE_S * 0.9,
                                        (request_id, code))
        # Calls kept succeeding during the grace period: some were started
        # after health turned NOT_SERVING and completed OK.
        self.assertTrue(
            [c for c in calls
             if c[2] == grpc.StatusCode.OK and c[0] >= not_serving_at], codes)
        # And new calls were refused after it.
        self.assertGreater(codes["UNAVAILABLE"], 0, codes)
        # The grace period plus the time to finish what was in flight.
        self.assertLess(exited_at - sigterm_at, DRAIN_GRACE_S + 10)

        log = server.log()
        self.assertIn("draining", log)
        self.assertIn("shut down cleanly", log)


if __name__ == "__main__":
    ops_util.main()
