"""InferStream over real gRPC on loopback, through the Python stream helper.

300 frames in order; per-frame budgets and defaults; a bad frame in the
middle gets its error and the stream goes on; per-frame deadlines; flow
control (the client's frames are read only as fast as answers are taken,
bounded by --stream_max_inflight_frames); cancellation; stream and frame
metrics.
"""

import threading
import unittest

import grpc

import ops_util
from slimserve_client import (OUTPUT_SIZE_INPUT, PNG, SlimClient, raw_image,
                              slimserve_pb2)

MAX_INFLIGHT = 3


def image(height=40, width=60, seed=0):
    pixels = bytes((y * 7 + x * 3 + c * 85 + seed) % 256
                   for y in range(height) for x in range(width)
                   for c in range(3))
    return raw_image(pixels, height, width, 3)


def frame(request_id, img, budget=None, timeout_ms=0, **fields):
    request = slimserve_pb2.InferRequest(request_id=request_id, image=img,
                                         **fields)
    if budget is not None:
        request.budget.fraction = budget
    return slimserve_pb2.InferStreamRequest(frame=request,
                                            timeout_ms=timeout_ms)


class StreamTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = ops_util.Slimserve(
            name="stream_slimserve",
            flags=["--stream_max_inflight_frames=%d" % MAX_INFLIGHT])
        cls.client = cls.server.wait_serving()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.kill()

    def metrics(self):
        samples, _ = ops_util.parse_metrics(self.server.metrics_text())
        return samples

    def test_300_frames_in_order(self):
        before = self.metrics()
        img = image()
        responses = list(self.client.infer_stream(
            (img for _ in range(300)), budget=0.5, weights={"depth": 1},
            timeout=120))
        self.assertEqual([r.request_id for r in responses],
                         [str(i) for i in range(300)])
        for r in responses:
            self.assertEqual(r.WhichOneof("result"), "response", r.error)
            self.assertEqual([o.task for o in r.response.outputs], ["depth"])
            self.assertLessEqual(r.response.plan.mflops,
                                 r.response.plan.budget_mflops)
        # Same image, same plan: the same answer every time.
        first = responses[0].response.outputs[0].tensor.data
        self.assertTrue(all(r.response.outputs[0].tensor.data == first
                            for r in responses))
        after = self.metrics()

        def delta(name, **labels):
            return ops_util.sample_delta(before, after, name, **labels)
        self.assertEqual(delta("slimserve_stream_frames_total", code="OK"), 300)
        self.assertEqual(delta("slimserve_requests_total", rpc="InferStream",
                               code="OK"), 1)
        self.assertEqual(delta("slimserve_stream_frame_duration_seconds_count"),
                         300)

    def test_frames_override_the_defaults(self):
        img = image()
        frames = [frame("a", img),  # the stream's defaults
                  frame("b", img, budget=1.0, task_weights={"edges": 1},
                        default_output_format=slimserve_pb2.OUTPUT_FORMAT_RAW),
                  frame("c", img)]
        responses = list(self.client.infer_stream(
            iter(frames), budget=0.25, weights={"depth": 2, "semseg": 1},
            output_format=PNG, timeout=60))
        a, b, c = [r.response for r in responses]
        self.assertEqual([o.task for o in a.outputs], ["semseg", "depth"])
        self.assertTrue(all(o.png for o in a.outputs))
        self.assertAlmostEqual(a.plan.budget_mflops, 0.25 * a.plan.full_mflops)
        self.assertEqual([o.task for o in b.outputs], ["edges"])
        self.assertEqual(b.outputs[0].WhichOneof("data"), "tensor")
        self.assertEqual(b.plan.mflops, b.plan.full_mflops)
        self.assertEqual(c.plan, a.plan)

        # New defaults in the middle of a stream replace the old ones from
        # there on; a budget is required as in Infer.
        change = slimserve_pb2.InferStreamRequest(
            defaults=slimserve_pb2.StreamDefaults(
                budget=slimserve_pb2.Budget(fraction=0.5),
                task_weights={"normals": 1}))
        no_budget = slimserve_pb2.InferStreamRequest(
            defaults=slimserve_pb2.StreamDefaults(task_weights={"depth": 1}))
        frames = [frame("x", img), change, frame("y", img), no_budget,
                  frame("z", img)]
        x, y, z = list(self.client.infer_stream(iter(frames), timeout=60))
        self.assertEqual(len(x.response.outputs), 4)
        self.assertEqual([o.task for o in y.response.outputs], ["normals"])
        self.assertEqual(z.error.code,
                         grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertIn("budget: required", z.error.message)

    def test_a_bad_frame_gets_its_error_and_the_stream_goes_on(self):
        good = image()
        bad = raw_image(b"\x00" * 10, 40, 60, 3)
        frames = [frame(str(i), bad if i == 5 else good) for i in range(10)]
        frames[7] = frame("7", good, budget=2.0)
        frames[8] = frame("8", good, task_weights={"sky": 1})
        responses = list(self.client.infer_stream(iter(frames), timeout=60))
        self.assertEqual([r.request_id for r in responses],
                         [str(i) for i in range(10)])
        for i, r in enumerate(responses):
            if i in (5, 7, 8):
                self.assertEqual(r.WhichOneof("result"), "error")
                self.assertEqual(r.error.code,
                                 grpc.StatusCode.INVALID_ARGUMENT.value[0])
            else:
                self.assertEqual(r.WhichOneof("result"), "response")
        self.assertIn("image.raw", responses[5].error.message)
        self.assertIn("budget.fraction", responses[7].error.message)
        self.assertIn("sky", responses[8].error.message)

    def test_frame_deadlines(self):
        img = image()
        frames = [frame("late", img, timeout_ms=0.001),
                  frame("fine", img, timeout_ms=60000),
                  frame("bad", img, timeout_ms=-1)]
        late, fine, bad = list(self.client.infer_stream(iter(frames),
                                                        timeout=60))
        self.assertEqual(late.error.code,
                         grpc.StatusCode.DEADLINE_EXCEEDED.value[0])
        self.assertEqual(fine.WhichOneof("result"), "response")
        self.assertEqual(bad.error.code,
                         grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertIn("timeout_ms", bad.error.message)

    def test_a_slow_reader_slows_the_stream(self):
        # 300 frames of ~1 MB from a generator the client reads lazily, and
        # answers of ~1.2 MB (edges at the input's 480x640). The reader
        # takes no answer at first: the HTTP/2 windows fill with a few
        # answers, the server's writes stop, it reads at most MAX_INFLIGHT
        # more frames, the request windows fill with a few more, and the
        # generator stops. Without flow control it would be drained.
        # "Stops" is a negative: the reader waits (bounded) for the
        # generator to pass the bound, which with flow control never comes.
        bound = MAX_INFLIGHT + 40
        pulled = [0]
        passed = threading.Condition()
        big = image(480, 640)

        def frames():
            for _ in range(300):
                with passed:
                    pulled[0] += 1
                    passed.notify_all()
                yield big
        call = self.client.infer_stream(frames(), weights={"edges": 1},
                                        output_size=OUTPUT_SIZE_INPUT,
                                        timeout=300)
        try:
            with passed:
                passed.wait_for(lambda: pulled[0] > bound, timeout=3)
                ahead = pulled[0]
            self.assertLessEqual(ahead, bound)
            worst = ahead
            count = 0
            for count, response in enumerate(call, start=1):
                self.assertEqual(response.WhichOneof("result"), "response")
                self.assertEqual(list(response.response.outputs[0].shape),
                                 [1, 480, 640])
                with passed:
                    worst = max(worst, pulled[0] - count)
                self.assertLessEqual(pulled[0] - count, bound)
            self.assertEqual(count, 300)
        finally:
            call.cancel()
        print("slow reader: %d frames taken before the first answer was "
              "read; at most %d ahead of the answers after" % (ahead, worst))

    def test_cancel_ends_the_stream(self):
        before = self.metrics()
        img = image()

        def endless():
            while True:
                yield img
        call = self.client.infer_stream(endless(), timeout=60)
        for i, response in enumerate(call):
            self.assertEqual(response.request_id, str(i))
            if i == 2:
                call.cancel()
                break
        with self.assertRaises(grpc.RpcError) as raised:
            for _ in call:
                pass
        self.assertEqual(raised.exception.code(), grpc.StatusCode.CANCELLED)

        def ended():
            after = self.metrics()
            return (ops_util.sample_delta(before, after,
                                          "slimserve_requests_total",
                                          rpc="InferStream", code="CANCELLED")
                    >= 1 and
                    ops_util.sample_sum(after, "slimserve_active_streams") == 0)
        ops_util.poll(ended, timeout=30, what="the cancelled stream to end")
        # The server goes on.
        self.assertEqual(len(self.client.infer(img).outputs), 4)

    def test_two_streams_at_once(self):
        # Their frames share the engine (and may share batches).
        before = self.metrics()
        img = image()
        results = {}

        def run(name):
            client = SlimClient(self.server.target)
            try:
                results[name] = list(client.infer_stream(
                    (img for _ in range(60)), budget=0.5, timeout=120))
            finally:
                client.close()
        threads = [threading.Thread(target=run, args=(n,)) for n in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name in "ab":
            self.assertEqual(len(results[name]), 60)
            self.assertTrue(all(r.WhichOneof("result") == "response"
                                for r in results[name]))
        after = self.metrics()
        self.assertEqual(ops_util.sample_sum(after, "slimserve_active_streams"),
                         0)
        frames = ops_util.sample_delta(before, after,
                                       "slimserve_stream_frames_total")
        self.assertEqual(frames, 120)


if __name__ == "__main__":
    ops_util.main()
