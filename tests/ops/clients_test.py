"""The Python and Node clients against a real slimserve process.

Both clients call Infer, GetModelInfo and Health; the Python one also lists
the services through server reflection. One server serves every test.
"""

import concurrent.futures
import json
import os
import subprocess
import threading
import unittest

import grpc

import ops_util
import slimserve_client
from slimserve.v1 import slimserve_pb2

TASKS = ["semseg", "depth", "normals", "edges"]


class PythonClientTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = ops_util.Slimserve("slimserve_clients")
        cls.client = cls.server.wait_serving()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.kill()

    def test_infer(self):
        response = self.client.infer(ops_util.raw_test_image(), budget=0.5,
                                     request_id="py-1", timeout=30)
        self.assertEqual(response.request_id, "py-1")
        self.assertEqual([o.task for o in response.outputs], TASKS)
        for output in response.outputs:
            self.assertEqual(list(output.shape)[1:], [32, 48], output.task)
            channels, height, width = output.shape
            # RAW float32.
            self.assertEqual(len(output.tensor.data),
                             4 * channels * height * width, output.task)
        self.assertLessEqual(response.plan.mflops, response.plan.budget_mflops)
        self.assertGreater(response.timings.total_ms, 0)

    def test_infer_png_for_one_task(self):
        response = self.client.infer(
            ops_util.raw_test_image(), budget=1.0, weights={"depth": 1},
            output_format=slimserve_client.PNG, timeout=30)
        self.assertEqual([o.task for o in response.outputs], ["depth"])
        self.assertTrue(response.outputs[0].png.startswith(b"\x89PNG"))

    def test_errors_carry_the_server_code(self):
        with self.assertRaises(grpc.RpcError) as raised:
            self.client.infer(ops_util.raw_test_image(), weights={"nope": 1},
                              timeout=30)
        self.assertEqual(raised.exception.code(),
                         grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("nope", raised.exception.details())

    def test_model_info(self):
        info = self.client.model_info(timeout=10)
        self.assertEqual(info.name, "tiny")
        self.assertEqual([t.name for t in info.tasks], TASKS)
        self.assertEqual((info.input_height, info.input_width), (32, 48))
        self.assertGreater(info.full_mflops, 0)

    def test_plan(self):
        plan = self.client.plan(budget=0.25, weights={"semseg": 1},
                                timeout=10).plan
        self.assertEqual([t.task for t in plan.tasks], ["semseg"])
        self.assertLessEqual(plan.mflops, plan.budget_mflops)

    def test_health(self):
        self.assertEqual(self.client.health(timeout=10), "SERVING")
        self.assertEqual(
            self.client.health("slimserve.v1.InferenceService", timeout=10),
            "SERVING")
        with self.assertRaises(grpc.RpcError) as raised:
            self.client.health("no.such.Service", timeout=10)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_reflection_lists_the_services(self):
        services = self.client.list_services(timeout=10)
        for name in ["slimserve.v1.InferenceService", "grpc.health.v1.Health",
                     "grpc.reflection.v1alpha.ServerReflection"]:
            self.assertIn(name, services)


class NodeClientTest(unittest.TestCase):
    """client/node/client.js as a command, with grpc-js from node_modules.

    node_modules is installed by tools/test.sh (npm ci in client/node) into
    the source tree, outside Bazel's view: the script runs from its real
    path so that Node finds it there. package-lock.json is a data
    dependency, so a change of versions re-runs this test.
    """

    @classmethod
    def setUpClass(cls):
        cls.script = ops_util.npm_installed("client/node/client.js",
                                            "@grpc/grpc-js")
        cls.server = ops_util.Slimserve("slimserve_node")
        cls.server.wait_serving().close()

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()

    def node(self, *args):
        """(exit code, parsed JSON stdout) of client.js with `args`."""
        done = subprocess.run(
            ["node", self.script, "--target=" + self.server.target,
             "--timeout_s=30"] + list(args),
            capture_output=True, timeout=60, check=False)
        try:
            output = json.loads(done.stdout.decode())
        except ValueError:
            self.fail("client.js %s: exit %d, stdout %r, stderr %r" % (
                args, done.returncode, done.stdout, done.stderr))
        return done.returncode, output

    def test_infer(self):
        code, response = self.node("infer", "--raw=40x60x3", "--budget=0.5",
                                   "--request_id=node-1")
        self.assertEqual(code, 0, response)
        self.assertEqual(response["request_id"], "node-1")
        self.assertEqual([o["task"] for o in response["outputs"]], TASKS)
        for output in response["outputs"]:
            self.assertEqual(output["shape"][1:], [32, 48])
            self.assertGreater(output["bytes"], 0)
        self.assertLessEqual(response["plan"]["mflops"],
                             response["plan"]["budget_mflops"])

    def test_predict_gives_typed_arrays(self):
        script = r"""
const {SlimClient} = require(process.argv[1]);
(async () => {
  const c = new SlimClient(process.argv[2]);
  await c.waitForReady(10000);
  const pixels = Buffer.alloc(40 * 60 * 3, 7);
  const r = await c.predict({
    image: {raw: {data: pixels, height: 40, width: 60, channels: 3}},
    budget: {fraction: 0.5}, task_weights: {depth: 1, semseg: 1},
    output_formats: {semseg: 'OUTPUT_FORMAT_PNG'}});
  const d = r.outputs.depth;
  console.log(JSON.stringify({
    tasks: r.tasks, type: d.data.constructor.name, length: d.data.length,
    shape: d.shape, finite: Array.from(d.data).every(Number.isFinite),
    semseg: [r.outputs.semseg.dtype, r.outputs.semseg.data.subarray(1, 4).toString()],
    width: r.plan.encoder_width}));
  c.close();
})().catch((e) => { console.error(e); process.exit(1); });
"""
        done = subprocess.run(["node", "-e", script, self.script,
                               self.server.target],
                              capture_output=True, timeout=60, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        out = json.loads(done.stdout)
        self.assertEqual(out["tasks"], ["semseg", "depth"])
        self.assertEqual((out["type"], out["length"], out["shape"]),
                         ("Float32Array", 32 * 48, [1, 32, 48]))
        self.assertTrue(out["finite"])
        self.assertEqual(out["semseg"], ["png", "PNG"])
        self.assertGreater(out["width"], 0)

    def test_stream(self):
        code, summary = self.node("stream", "--raw=40x60x3", "--frames=50",
                                  "--budget=0.25", "--weights=depth=1")
        self.assertEqual(code, 0, summary)
        self.assertEqual(summary["ids"], ["frame-%d" % i for i in range(50)])
        self.assertEqual((summary["ok"], summary["errors"]), (50, []))
        self.assertEqual(len(set(summary["mflops"])), 1)  # one plan

    def test_stream_frame_errors_do_not_end_it(self):
        code, summary = self.node("stream", "--raw=40x60x3", "--frames=3",
                                  "--weights=sky=1")
        self.assertEqual(code, 0, summary)
        self.assertEqual(summary["ok"], 0)
        self.assertEqual([e["code"] for e in summary["errors"]],
                         ["INVALID_ARGUMENT"] * 3)
        self.assertIn("sky", summary["errors"][0]["message"])

    def test_infer_error(self):
        code, response = self.node("infer", "--raw=40x60x3", "--budget=2")
        self.assertEqual(code, 1)
        self.assertEqual(response["error"]["code"], "INVALID_ARGUMENT")

    def test_model_info(self):
        code, info = self.node("model")
        self.assertEqual(code, 0, info)
        self.assertEqual(info["name"], "tiny")
        self.assertEqual([t["name"] for t in info["tasks"]], TASKS)
        # Enums as names.
        self.assertEqual(info["tasks"][0]["kind"], "TASK_KIND_SEMANTIC_SEGMENTATION")

    def test_health(self):
        code, health = self.node("health")
        self.assertEqual((code, health), (0, {"status": "SERVING"}))
        code, health = self.node("health", "--service=no.such.Service")
        self.assertEqual(code, 1)
        self.assertEqual(health["error"]["code"], "NOT_FOUND")


class FlakyServer:
    """A gRPC server of slimserve.v1.InferenceService/GetModelInfo that answers
    the first `failures` calls with `code`, then with a GetModelInfoResponse named
    "flaky"; it counts every attempt. A stand-in for a replica that is
    restarting, to test the clients' retry policy deterministically (the
    real server's refusals are tested in tests/e2e/faults_test.cc)."""

    def __init__(self, failures, code):
        self.lock = threading.Lock()
        self.attempts = 0
        self.failures = failures
        self.code = code
        handler = grpc.method_handlers_generic_handler(
            "slimserve.v1.InferenceService", {
                "GetModelInfo": grpc.unary_unary_rpc_method_handler(
                    self._model_info,
                    request_deserializer=(
                        slimserve_pb2.GetModelInfoRequest.FromString),
                    response_serializer=(
                        slimserve_pb2.GetModelInfoResponse.SerializeToString)),
            })
        self.server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.target = "127.0.0.1:%d" % self.port
        self.server.start()

    def _model_info(self, request, context):
        with self.lock:
            self.attempts += 1
            failing = self.attempts <= self.failures
        if failing:
            context.abort(self.code, "flaky: attempt %d" % self.attempts)
        return slimserve_pb2.GetModelInfoResponse(name="flaky")

    def stop(self):
        self.server.stop(None)


class RetryPolicyTest(unittest.TestCase):
    """Each client retries exactly the retryable codes, up to 3 attempts.

    gRPC's retry throttle is kept per server name for the whole process, so
    each case gets a FlakyServer of its own (a new port), with a full one.
    """

    @classmethod
    def setUpClass(cls):
        cls.node_script = ops_util.npm_installed("client/node/client.js",
                                                 "@grpc/grpc-js")

    def setUp(self):
        self.flaky = None

    def tearDown(self):
        if self.flaky is not None:
            self.flaky.stop()

    def fail_next(self, failures, code):
        """A new FlakyServer as self.flaky."""
        if self.flaky is not None:
            self.flaky.stop()
        self.flaky = FlakyServer(failures, code)

    def python(self, **kwargs):
        """(GetModelInfoResponse name or status code name, attempts seen)."""
        with slimserve_client.SlimClient(self.flaky.target, **kwargs) as c:
            try:
                result = c.model_info(timeout=20).name
            except grpc.RpcError as error:
                result = error.code().name
        return result, self.flaky.attempts

    def test_python_retries_each_retryable_code(self):
        for code in slimserve_client.RETRYABLE_CODES:
            self.fail_next(2, grpc.StatusCode[code])
            self.assertEqual(self.python(), ("flaky", 3), code)

    def test_python_gives_up_after_max_attempts(self):
        self.fail_next(5, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.python(), ("UNAVAILABLE", 3))
        self.fail_next(5, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.python(max_attempts=5), ("UNAVAILABLE", 5))

    def test_python_never_retries_other_codes_or_without_retry(self):
        for code in ("INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "INTERNAL",
                     "OUT_OF_RANGE"):
            self.fail_next(1, grpc.StatusCode[code])
            self.assertEqual(self.python(), (code, 1))
        self.fail_next(1, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(self.python(retry=False), ("UNAVAILABLE", 1))

    def test_slimctl_retries(self):
        self.fail_next(2, grpc.StatusCode.UNAVAILABLE)
        done = subprocess.run(
            [ops_util.runfile("client/slimctl"),
             "--target=" + self.flaky.target, "--timeout_s=20", "model",
             "--json"], capture_output=True, timeout=60, check=False)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(json.loads(done.stdout)["name"], "flaky")
        self.assertEqual(self.flaky.attempts, 3)
        self.fail_next(2, grpc.StatusCode.UNAVAILABLE)
        done = subprocess.run(
            [ops_util.runfile("client/slimctl"),
             "--target=" + self.flaky.target, "--retry=false", "model"],
            capture_output=True, timeout=60, check=False)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertEqual(self.flaky.attempts, 1)

    def test_node_retries(self):
        for code, expected, attempts in (
                ("RESOURCE_EXHAUSTED", "flaky", 3),
                ("INVALID_ARGUMENT", "INVALID_ARGUMENT", 1)):
            self.fail_next(2, grpc.StatusCode[code])
            done = subprocess.run(
                ["node", self.node_script, "--target=" + self.flaky.target,
                 "--timeout_s=20", "model"],
                capture_output=True, timeout=60, check=False)
            output = json.loads(done.stdout.decode())
            got = output.get("name") or output["error"]["code"]
            self.assertEqual((got, self.flaky.attempts),
                             (expected, attempts), done.stderr)

    def test_the_three_clients_write_one_policy(self):
        done = subprocess.run(
            ["node", "-e",
             "process.stdout.write(require(process.argv[1])"
             ".retryServiceConfig(3))", self.node_script],
            capture_output=True, timeout=60, check=True)
        self.assertEqual(json.loads(done.stdout),
                         json.loads(slimserve_client.retry_service_config(3)))


if __name__ == "__main__":
    ops_util.main()
