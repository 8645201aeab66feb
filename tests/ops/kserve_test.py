"""KServe v2 / Open Inference Protocol, as a v2-only client speaks it.

The client side uses only stubs generated from proto/inference (no
slimserve.v1): what a platform team's existing v2 tooling would send, over
real gRPC to a real server on the tiny model. One case compares with
slimserve.v1's answer to the same request; `buf curl` (npm @bufbuild/buf)
calls both protocols through server reflection with JSON, as a generic
client would.
"""

import base64
import http.client
import json
import os
import signal
import struct
import subprocess
import unittest
import urllib.error
import urllib.request

import grpc

import ops_util

from inference import grpc_predict_v2_pb2 as v2
from inference import grpc_predict_v2_pb2_grpc as v2_grpc

MODEL = "tiny"
HEIGHT, WIDTH = 24, 32


def pixels(height=HEIGHT, width=WIDTH, channels=3):
    return bytes((y * 7 + x * 3 + c * 85) % 256 for y in range(height)
                 for x in range(width) for c in range(channels))


def testdata(name):
    with open(ops_util.runfile("tests/fuzz/corpus/image_fuzzer/" + name),
              "rb") as f:
        return f.read()


def string_param(value):
    return v2.InferParameter(string_param=value)


def double_param(value):
    return v2.InferParameter(double_param=value)


def pixels_request(**parameters):
    """A ModelInferRequest of a raw 24x32 RGB image."""
    request = v2.ModelInferRequest(model_name=MODEL, id="frame-1")
    request.inputs.add(name="image", datatype="UINT8",
                       shape=[HEIGHT, WIDTH, 3])
    request.raw_input_contents.append(pixels())
    for name, value in parameters.items():
        request.parameters[name].CopyFrom(value)
    return request


def file_request(data, **parameters):
    """A ModelInferRequest of a PNG/JPEG file as one BYTES element."""
    request = v2.ModelInferRequest(model_name=MODEL)
    request.inputs.add(name="image", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(struct.pack("<I", len(data)) + data)
    for name, value in parameters.items():
        request.parameters[name].CopyFrom(value)
    return request


def param(message, name):
    """The value of a response parameter, whichever field holds it."""
    p = message.parameters[name]
    return getattr(p, p.WhichOneof("parameter_choice"))


class KServeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.http_port = ops_util.free_port()
        cls.server = ops_util.Slimserve(
            name="kserve_slimserve",
            flags=["--drain_grace_s=30",
                   "--http_address=127.0.0.1:%d" % cls.http_port])
        cls.server.wait_serving().close()
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.stub = v2_grpc.GRPCInferenceServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.kill()

    def infer(self, request):
        return self.stub.ModelInfer(request, timeout=60)

    def rest(self, path, body=None, headers=None):
        """(HTTP status, headers, body bytes) of KServe v2 REST: GET, or
        POST `body` (bytes, or an object sent as JSON)."""
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        request = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.http_port, path), data=body,
            headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def rest_infer(self, body, headers=None):
        return self.rest("/v2/models/%s/infer" % MODEL, body, headers)

    def assert_refused(self, request, code, text):
        with self.assertRaises(grpc.RpcError) as raised:
            self.infer(request)
        self.assertEqual(raised.exception.code(), code,
                         raised.exception.details())
        self.assertIn(text, raised.exception.details())

    def test_health_and_metadata(self):
        self.assertTrue(self.stub.ServerLive(v2.ServerLiveRequest()).live)
        self.assertTrue(self.stub.ServerReady(v2.ServerReadyRequest()).ready)
        self.assertTrue(self.stub.ModelReady(
            v2.ModelReadyRequest(name=MODEL)).ready)
        self.assertTrue(self.stub.ModelReady(
            v2.ModelReadyRequest(name=MODEL, version="test")).ready)
        with self.assertRaises(grpc.RpcError) as raised:
            self.stub.ModelReady(v2.ModelReadyRequest(name="resnet50"))
        self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertIn('name: unknown model "resnet50"',
                      raised.exception.details())

        server = self.stub.ServerMetadata(v2.ServerMetadataRequest())
        self.assertEqual(server.name, "slimserve")
        self.assertRegex(server.version, r"^\d+\.\d+\.\d+$")

        model = self.stub.ModelMetadata(v2.ModelMetadataRequest(name=MODEL))
        self.assertEqual((model.name, list(model.versions), model.platform),
                         (MODEL, ["test"], "slimserve"))
        self.assertEqual([(t.name, t.datatype, list(t.shape))
                          for t in model.inputs],
                         [("image", "UINT8", [-1, -1, -1])])
        self.assertEqual([t.name for t in model.outputs],
                         ["semseg", "depth", "normals", "edges"])
        for output in model.outputs:
            self.assertEqual(output.datatype, "FP32")
            self.assertEqual(list(output.shape)[1:], [-1, -1])

    def test_infer_pixels_every_task(self):
        model = self.stub.ModelMetadata(v2.ModelMetadataRequest(name=MODEL))
        channels = {t.name: t.shape[0] for t in model.outputs}
        response = self.infer(pixels_request())
        self.assertEqual((response.model_name, response.model_version,
                          response.id), (MODEL, "test", "frame-1"))
        self.assertEqual([o.name for o in response.outputs],
                         ["semseg", "depth", "normals", "edges"])
        self.assertEqual(len(response.raw_output_contents), 4)
        for output, data in zip(response.outputs, response.raw_output_contents):
            self.assertEqual(output.datatype, "FP32")
            c, h, w = output.shape
            self.assertEqual(c, channels[output.name])
            self.assertEqual(len(data), 4 * c * h * w)
            self.assertTrue(param(output, "task_kind").startswith("TASK_KIND_"))
        self.assertEqual(float(param(response, "mflops")),
                         float(param(response, "full_mflops")))
        self.assertEqual(float(param(response, "encoder_width")), 1.0)
        self.assertGreater(float(param(response, "total_ms")), 0)

    def test_budget_and_task_weights_choose_the_plan(self):
        full = self.infer(pixels_request(budget_fraction=string_param("1")))
        small = self.infer(pixels_request(
            budget_fraction=double_param(0.25),
            **{"task_weight.depth": double_param(4),
               "task_weight.semseg": string_param("1")}))
        self.assertLessEqual(float(param(small, "mflops")),
                             0.25 * float(param(full, "mflops")) + 1e-6)
        self.assertEqual(float(param(small, "budget_mflops")),
                         0.25 * float(param(small, "full_mflops")))
        # Depth weighted 4x is given at least semseg's decoder width.
        widths = {o.name: float(param(o, "decoder_width"))
                  for o in small.outputs}
        self.assertGreaterEqual(widths["depth"], widths["semseg"])

    def test_requested_outputs_select_tasks_and_formats(self):
        request = file_request(testdata("rgb420_24x32.jpg"),
                               output_size=string_param("input"))
        request.outputs.add(name="edges")
        request.outputs.add(name="depth").parameters["format"].CopyFrom(
            string_param("png"))
        response = self.infer(request)
        self.assertEqual([o.name for o in response.outputs],
                         ["edges", "depth"])
        edges, depth = response.outputs
        self.assertEqual(edges.datatype, "FP32")
        self.assertEqual(list(edges.shape), [1, 24, 32])  # the input's size
        self.assertEqual(len(response.raw_output_contents[0]), 4 * 24 * 32)
        self.assertEqual((depth.datatype, list(depth.shape)), ("BYTES", [1]))
        self.assertEqual(param(depth, "content_type"), "image/png")
        blob = response.raw_output_contents[1]
        (length,) = struct.unpack("<I", blob[:4])
        self.assertEqual(length, len(blob) - 4)
        self.assertEqual(blob[4:12], b"\x89PNG\r\n\x1a\n")
        # A 16-bit grey PNG of the input's size (IHDR: width, height, depth).
        width, height, bit_depth, colour = struct.unpack(">IIBB", blob[20:30])
        self.assertEqual((width, height, bit_depth, colour), (32, 24, 16, 0))

    def test_typed_contents_and_png_file(self):
        request = v2.ModelInferRequest(model_name=MODEL)
        tensor = request.inputs.add(name="image", datatype="BYTES",
                                    shape=[1, 1])
        tensor.contents.bytes_contents.append(testdata("color_24x32.png"))
        request.outputs.add(name="semseg")
        self.assertEqual(len(self.infer(request).outputs), 1)

        request = v2.ModelInferRequest(model_name=MODEL)
        tensor = request.inputs.add(name="image", datatype="UINT8",
                                    shape=[1, 4, 5, 1])
        tensor.contents.uint_contents.extend(range(0, 200, 10))
        self.assertEqual(len(self.infer(request).outputs), 4)

    def test_same_answer_as_slimserve_v1(self):
        from slimserve_client import SlimClient, raw_image
        request = pixels_request(budget_fraction=string_param("0.5"),
                                 **{"task_weight.normals": double_param(2)})
        request.outputs.add(name="normals")
        request.outputs.add(name="depth")
        response = self.infer(request)
        client = SlimClient(self.server.target)
        try:
            reference = client.infer(raw_image(pixels(), HEIGHT, WIDTH, 3),
                                     budget=0.5,
                                     weights={"normals": 2, "depth": 1})
        finally:
            client.close()
        self.assertEqual(float(param(response, "encoder_width")),
                         reference.plan.encoder_width)
        by_task = {o.task: o for o in reference.outputs}
        for output, data in zip(response.outputs, response.raw_output_contents):
            self.assertEqual(list(output.shape),
                             list(by_task[output.name].tensor.shape))
            self.assertEqual(data, by_task[output.name].tensor.data)

    def test_mistakes_get_precise_statuses(self):
        invalid = grpc.StatusCode.INVALID_ARGUMENT
        other = pixels_request()
        other.model_name = "resnet50"
        self.assert_refused(other, grpc.StatusCode.NOT_FOUND,
                            'model_name: unknown model "resnet50"')
        self.assert_refused(pixels_request(budget_ms=string_param("soon")),
                            invalid, "parameters[budget_ms]: not a number")
        self.assert_refused(pixels_request(budget_fraction=double_param(2)),
                            invalid, "budget.fraction")
        self.assert_refused(
            pixels_request(**{"task_weight.sky": double_param(1)}), invalid,
            "parameters[task_weight.sky]: unknown task")
        short = pixels_request()
        short.raw_input_contents[0] = b"\x00" * 10
        self.assert_refused(short, invalid,
                            "raw_input_contents[0]: 10 bytes for a UINT8 "
                            "tensor of 2304 elements")
        self.assert_refused(file_request(b"not an image"), invalid, "image")
        huge = pixels_request()
        huge.outputs.add(name="x" * 100000)
        with self.assertRaises(grpc.RpcError) as raised:
            self.infer(huge)
        self.assertEqual(raised.exception.code(), invalid)
        self.assertLess(len(raised.exception.details()), 400)
        # Bytes that are no ModelInferRequest at all.
        garbage = self.channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer")
        with self.assertRaises(grpc.RpcError) as raised:
            garbage(b"\xff\xff\xff", timeout=10)
        self.assertEqual(raised.exception.code(), invalid)
        self.assertIn("not a valid inference.ModelInferRequest",
                      raised.exception.details())
        # Still serving.
        self.assertEqual(len(self.infer(pixels_request()).outputs), 4)

    def test_model_stream_infer(self):
        before, _ = ops_util.parse_metrics(self.server.metrics_text())
        requests = []
        for i in range(12):
            request = pixels_request(budget_fraction=string_param("0.5"))
            request.id = "s%d" % i
            requests.append(request)
        requests[4].parameters["budget_ms"].CopyFrom(string_param("soon"))
        requests[7].outputs.add(name="depth")
        responses = list(self.stub.ModelStreamInfer(iter(requests),
                                                    timeout=60))
        self.assertEqual([r.infer_response.id for r in responses],
                         ["s%d" % i for i in range(12)])
        for i, r in enumerate(responses):
            if i == 4:
                self.assertTrue(r.error_message.startswith(
                    "INVALID_ARGUMENT: parameters"), r.error_message)
                self.assertEqual(len(r.infer_response.outputs), 0)
                continue
            self.assertEqual(r.error_message, "")
            self.assertEqual(len(r.infer_response.outputs), 1 if i == 7 else 4)
            self.assertEqual(float(param(r.infer_response, "budget_mflops")),
                             0.5 * float(param(r.infer_response,
                                               "full_mflops")))
        after, _ = ops_util.parse_metrics(self.server.metrics_text())
        self.assertEqual(ops_util.sample_delta(
            before, after, "slimserve_requests_total", rpc="ModelStreamInfer",
            code="OK"), 1)
        self.assertEqual(ops_util.sample_delta(
            before, after, "slimserve_stream_frames_total",
            code="INVALID_ARGUMENT"), 1)

    def test_timeout_parameter(self):
        # Triton's schedule-policy timeout in microseconds, as
        # tritonclient's infer(timeout=...) sends it; no gRPC deadline
        # tighter than a minute.
        def micros(n):
            return v2.InferParameter(int64_param=n)
        self.assert_refused(pixels_request(timeout=micros(1)),
                            grpc.StatusCode.DEADLINE_EXCEEDED, "deadline")
        self.assertEqual(
            len(self.infer(pixels_request(timeout=micros(60000000))).outputs),
            4)
        self.assert_refused(pixels_request(timeout=micros(-5)),
                            grpc.StatusCode.INVALID_ARGUMENT,
                            "parameters[timeout]: microseconds")
        frames = [pixels_request(timeout=micros(1)),
                  pixels_request(timeout=micros(60000000)),
                  pixels_request()]
        late, fine, plain = list(self.stub.ModelStreamInfer(iter(frames),
                                                            timeout=60))
        self.assertTrue(late.error_message.startswith("DEADLINE_EXCEEDED"),
                        late.error_message)
        self.assertEqual(fine.error_message, "")
        self.assertEqual(len(fine.infer_response.outputs), 4)
        self.assertEqual(plain.error_message, "")

    def test_rest_health_and_metadata(self):
        status, _, body = self.rest("/v2")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["extensions"], ["binary_tensor_data"])
        self.assertEqual(self.rest("/v2/health/live")[0], 200)
        self.assertEqual(json.loads(self.rest("/v2/health/ready")[2]),
                         {"ready": True})
        status, _, body = self.rest("/v2/models/" + MODEL)
        self.assertEqual(status, 200)
        meta = json.loads(body)
        self.assertEqual(meta["inputs"], [{"name": "image", "datatype": "UINT8",
                                           "shape": [-1, -1, -1]}])
        self.assertEqual([o["name"] for o in meta["outputs"]],
                         ["semseg", "depth", "normals", "edges"])
        self.assertEqual(self.rest("/v2/models/%s/ready" % MODEL)[0], 200)
        status, _, body = self.rest("/v2/models/resnet50/ready")
        self.assertEqual(status, 404)
        self.assertIn('unknown model "resnet50"', json.loads(body)["error"])
        status, _, body = self.rest("/v2/models/%s/stats" % MODEL)
        self.assertEqual(status, 404)
        self.assertIn("no KServe v2 route", json.loads(body)["error"])

    def test_rest_calls_share_one_connection(self):
        """http.client (what requests and tritonclient.http build on) keeps
        its connection between calls: one TCP connection for all of them."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port,
                                          timeout=60)
        try:
            first_socket = None
            body = json.dumps({"inputs": [{
                "name": "image", "datatype": "UINT8",
                "shape": [HEIGHT, WIDTH, 3], "data": list(pixels())}]})
            for path, payload in [("/v2/health/live", None),
                                  ("/v2/models/%s/infer" % MODEL, body),
                                  ("/v2/models/%s/infer" % MODEL, "{"),
                                  ("/v2/models/" + MODEL, None)]:
                conn.request("GET" if payload is None else "POST", path,
                             body=payload)
                response = conn.getresponse()
                answer = response.read()
                self.assertIn(response.status, (200, 400), answer[:300])
                self.assertEqual(response.getheader("Connection"),
                                 "keep-alive")
                if first_socket is None:
                    first_socket = conn.sock
                self.assertIs(conn.sock, first_socket, path)
            self.assertEqual(json.loads(answer)["name"], MODEL)
        finally:
            conn.close()

    def test_rest_json_infer_is_the_grpc_answer(self):
        before, _ = ops_util.parse_metrics(self.server.metrics_text())
        data = list(pixels())
        nested = [[data[(y * WIDTH + x) * 3:(y * WIDTH + x) * 3 + 3]
                   for x in range(WIDTH)] for y in range(HEIGHT)]
        status, headers, body = self.rest_infer({
            "id": "rest-1",
            "parameters": {"budget_fraction": 0.5, "task_weight.normals": 2},
            "inputs": [{"name": "image", "datatype": "UINT8",
                        "shape": [HEIGHT, WIDTH, 3], "data": nested}],
            "outputs": [{"name": "normals"}, {"name": "depth"}]})
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(headers["Content-Type"], "application/json")
        answer = json.loads(body)
        self.assertEqual(answer["id"], "rest-1")
        self.assertEqual(answer["model_name"], MODEL)
        request = pixels_request(budget_fraction=string_param("0.5"),
                                 **{"task_weight.normals": double_param(2)})
        request.outputs.add(name="normals")
        request.outputs.add(name="depth")
        reference = self.infer(request)
        self.assertEqual(answer["parameters"]["encoder_width"],
                         param(reference, "encoder_width"))
        self.assertEqual([o["name"] for o in answer["outputs"]],
                         ["normals", "depth"])
        for output, tensor, data in zip(answer["outputs"], reference.outputs,
                                        reference.raw_output_contents):
            self.assertEqual(output["datatype"], "FP32")
            self.assertEqual(output["shape"], list(tensor.shape))
            # Printed to round-trip as float32: the same bytes back.
            self.assertEqual(struct.pack("<%df" % len(output["data"]),
                                         *output["data"]), data)
        after, _ = ops_util.parse_metrics(self.server.metrics_text())
        self.assertEqual(ops_util.sample_delta(
            before, after, "slimserve_requests_total", rpc="HttpModelInfer",
            code="OK"), 1)

    def test_rest_binary_tensor_extension(self):
        # A JPEG in, PNG segmentation and raw depth out, all as binary data
        # (what tritonclient.http sends and asks for by default).
        jpeg = testdata("rgb420_24x32.jpg")
        element = struct.pack("<I", len(jpeg)) + jpeg
        header = json.dumps({
            "parameters": {"binary_data_output": True},
            "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                        "parameters": {"binary_data_size": len(element)}}],
            "outputs": [{"name": "semseg", "parameters": {"format": "png"}},
                        {"name": "depth"}]}).encode()
        status, headers, body = self.rest_infer(
            header + element,
            {"Inference-Header-Content-Length": str(len(header)),
             "Content-Type": "application/octet-stream"})
        self.assertEqual(status, 200, body[:300])
        length = int(headers["Inference-Header-Content-Length"])
        answer = json.loads(body[:length])
        binary = body[length:]
        semseg, depth = answer["outputs"]
        self.assertEqual(semseg["datatype"], "BYTES")
        png_size = semseg["parameters"]["binary_data_size"]
        self.assertEqual(binary[4:12], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack("<I", binary[:4])[0], png_size - 4)
        self.assertEqual(depth["datatype"], "FP32")
        c, h, w = depth["shape"]
        self.assertEqual(depth["parameters"]["binary_data_size"], 4 * c * h * w)
        self.assertEqual(len(binary), png_size + 4 * c * h * w)
        self.assertNotIn("data", depth)

    def test_rest_mistakes_get_precise_statuses(self):
        def refused(body, status, text, headers=None):
            got, _, answer = self.rest_infer(body, headers)
            self.assertEqual(got, status, answer[:300])
            self.assertIn(text, json.loads(answer)["error"])
        refused(b"{\"inputs\": [", 400, "body: not JSON: unterminated array")
        refused(b"[" * 100000, 400, "nested too deep")
        # 300 KB that would be 15 MB of tree: the values are bounded.
        refused(b"[" + b"{}," * 100000 + b"{}]", 400, "than the limit")
        # The id is echoed: one that is not UTF-8 would make invalid JSON.
        refused(b"{\"id\": \"r\xff\"}", 400, "invalid UTF-8 in a string")
        image = {"name": "image", "datatype": "UINT8", "shape": [1, 1, 3],
                 "data": [1, 2, 300]}
        refused({"inputs": [image]}, 400, "inputs[0].data[2]: 300 is not a UINT8")
        image["data"] = [1, 2, 3]
        refused({"inputs": [image], "parameters": {"budget_ms": "soon"}}, 400,
                "parameters[budget_ms]: not a number")
        refused({"inputs": [image], "parameters": {"timeout": 1}}, 504,
                "deadline")
        refused({"inputs": [image], "outputs": [
                    {"name": "depth", "parameters": {"format": "png"}}]}, 400,
                "a PNG output must be binary data")
        refused(b"{}", 400, "Inference-Header-Content-Length",
                {"Inference-Header-Content-Length": "99"})
        status, _, answer = self.rest("/v2/models/%s/infer" % MODEL)  # GET
        self.assertEqual(status, 405)
        # Still serving.
        status, _, answer = self.rest_infer({"inputs": [image]})
        self.assertEqual(status, 200, answer[:300])
        self.assertEqual(len(json.loads(answer)["outputs"]), 4)

    def test_calls_are_counted_in_metrics(self):
        before, _ = ops_util.parse_metrics(self.server.metrics_text())
        self.infer(pixels_request())
        with self.assertRaises(grpc.RpcError):
            self.infer(pixels_request(budget=double_param(1)))
        after, _ = ops_util.parse_metrics(self.server.metrics_text())

        def delta(**labels):
            return ops_util.sample_delta(before, after,
                                         "slimserve_requests_total", **labels)
        self.assertEqual(delta(rpc="ModelInfer", code="OK"), 1)
        self.assertEqual(delta(rpc="ModelInfer", code="INVALID_ARGUMENT"), 1)


class DrainTest(unittest.TestCase):
    """Readiness follows health: not ready while draining, still serving."""

    def test_not_ready_while_draining(self):
        server = ops_util.Slimserve(name="kserve_drain_slimserve",
                                    flags=["--drain_grace_s=60"])
        server.wait_serving().close()
        channel = grpc.insecure_channel(server.target)
        try:
            stub = v2_grpc.GRPCInferenceServiceStub(channel)
            self.assertTrue(stub.ServerReady(v2.ServerReadyRequest()).ready)
            server.popen.send_signal(signal.SIGTERM)
            ops_util.poll(
                lambda: not stub.ServerReady(v2.ServerReadyRequest(),
                                             timeout=10).ready,
                timeout=30, what="ServerReady false after SIGTERM")
            self.assertFalse(stub.ModelReady(
                v2.ModelReadyRequest(name=MODEL), timeout=10).ready)
            self.assertTrue(stub.ServerLive(v2.ServerLiveRequest(),
                                            timeout=10).live)
            response = stub.ModelInfer(pixels_request(), timeout=60)
            self.assertEqual(len(response.outputs), 4)
        finally:
            channel.close()
            server.kill()


class BufCurlTest(unittest.TestCase):
    """buf curl: a generic client that learns both APIs by reflection."""

    @classmethod
    def setUpClass(cls):
        cls.server = ops_util.Slimserve(name="bufcurl_slimserve")
        cls.server.wait_serving().close()

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()

    def curl(self, method, body):
        """The JSON answer of `method` (service/method) to `body`."""
        env = dict(os.environ,
                   BUF_CACHE_DIR=os.path.join(ops_util.tmpdir(), "buf_cache"))
        done = subprocess.run(
            [ops_util.buf_binary(), "curl", "--protocol", "grpc",
             "--http2-prior-knowledge", "--data", json.dumps(body),
             "http://%s/%s" % (self.server.target, method)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            timeout=120, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        return json.loads(done.stdout)

    def test_kserve_model_infer(self):
        image = testdata("rgb420_24x32.jpg")
        answer = self.curl("inference.GRPCInferenceService/ModelInfer", {
            "model_name": MODEL,
            "id": "curl-1",
            "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                        "contents": {"bytes_contents": [
                            base64.b64encode(image).decode()]}}],
            "outputs": [{"name": "depth"}, {"name": "semseg"}],
            "parameters": {"budget_fraction": {"string_param": "0.25"},
                           "task_weight.depth": {"double_param": 3}},
        })
        self.assertEqual(answer["id"], "curl-1")
        self.assertEqual([o["name"] for o in answer["outputs"]],
                         ["depth", "semseg"])
        self.assertEqual(len(answer["rawOutputContents"]), 2)
        params = answer["parameters"]
        self.assertLessEqual(float(params["mflops"]["stringParam"]),
                             float(params["budget_mflops"]["stringParam"]))

    def test_slimserve_v1_infer(self):
        answer = self.curl("slimserve.v1.InferenceService/Infer", {
            "image": {"raw": {"data": base64.b64encode(pixels()).decode(),
                              "height": HEIGHT, "width": WIDTH,
                              "channels": 3}},
            "budget": {"fraction": 0.25},
            "task_weights": {"depth": 3, "edges": 1},
            "default_output_format": "OUTPUT_FORMAT_PNG",
        })
        self.assertEqual([o["task"] for o in answer["outputs"]],
                         ["depth", "edges"])
        self.assertTrue(all("png" in o for o in answer["outputs"]))
        plan = answer["plan"]
        self.assertLessEqual(plan["mflops"], plan["budgetMflops"])


if __name__ == "__main__":
    ops_util.main()
