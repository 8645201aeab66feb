"""The try-it page in a real browser, and its JSON API over real HTTP.

Debian's headless Chromium, driven by puppeteer-core (npm, pinned in
tests/ops/web), loads the page from a server started with --http_address,
uploads a real JPEG, moves the budget and a weight, and opens the budget
curve (web/page.mjs); the screenshots are kept in the test's outputs
(bazel-testlogs/tests/ops/web_test/test.outputs). The API's refusals are
checked with plain HTTP, hostile requests included.
"""

import base64
import json
import os
import socket
import subprocess
import unittest
import urllib.error
import urllib.request

import ops_util

IMAGE = "tests/fuzz/corpus/image_fuzzer/rgb420_24x32.jpg"


class WebTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.http_port = ops_util.free_port()
        cls.server = ops_util.Slimserve(
            name="web_slimserve",
            flags=["--http_address=127.0.0.1:%d" % cls.http_port])
        cls.server.wait_serving().close()
        cls.base = "http://127.0.0.1:%d" % cls.http_port

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()

    def post(self, path, body):
        """(HTTP status, parsed JSON) of POSTing `body` (bytes or JSON)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data,
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_page_in_headless_chromium(self):
        out_dir = ops_util.outputs_dir()
        done = subprocess.run(
            ["node", ops_util.npm_installed("tests/ops/web/page.mjs",
                                            "puppeteer-core"),
             self.base + "/",
             ops_util.runfile(IMAGE), out_dir],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=240)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        seen = json.loads(done.stdout)
        self.assertEqual(seen["tasks"], ["semseg", "depth", "normals", "edges"])
        self.assertEqual(seen["error_full"], "")
        # Every output drawn at the model's output size.
        self.assertEqual(sorted(seen["canvases"]), sorted(
            [["o-" + t, 48, 32] for t in seen["tasks"]]))
        full, quarter = seen["full"], seen["quarter"]
        self.assertEqual(full["encoderWidth"], 1.0)
        self.assertIn("MFLOPs", full["text"])
        self.assertLess(quarter["mflops"], full["mflops"])
        self.assertLessEqual(quarter["mflops"], 0.25 * full["mflops"] + 1e-6)
        self.assertEqual(seen["budget_label"], "0.25")
        self.assertEqual(seen["edges_caption"], "edges (not computed)")
        self.assertNotIn("edges", seen["without_edges"]["text"])
        # 20 budgets; those below the cheapest configuration say so.
        rows = seen["curve_table"].splitlines()
        self.assertEqual(len(rows), 20)
        self.assertGreaterEqual(seen["curve_points"], 10)
        self.assertEqual(sum("OUT_OF_RANGE" in r for r in rows),
                         20 - seen["curve_points"])
        self.assertIn("quality 1.000", rows[-1])
        # No script error. (Chromium logs each refused /api/plan of the
        # curve, and the missing favicon, as "Failed to load resource".)
        self.assertEqual([c for c in seen["console"] if "error" in c and
                          "Failed to load resource" not in c], [])
        for name in ("page_budget_1.png", "page_budget_0.25.png",
                     "page_curve.png"):
            with open(os.path.join(out_dir, name), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_json_api(self):
        with open(ops_util.runfile(IMAGE), "rb") as f:
            image = base64.b64encode(f.read()).decode()
        status, answer = self.post("/api/infer", {
            "request_id": "web-1", "image": {"encoded": image},
            "budget": {"fraction": 0.5}, "task_weights": {"depth": 1},
            "default_output_format": "OUTPUT_FORMAT_PNG"})
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["request_id"], "web-1")
        self.assertEqual([o["task"] for o in answer["outputs"]], ["depth"])
        self.assertTrue(base64.b64decode(answer["outputs"][0]["png"])
                        .startswith(b"\x89PNG"))
        status, plan = self.post("/api/plan", {"budget": {"fraction": 0.25}})
        self.assertEqual(status, 200, plan)
        self.assertLessEqual(plan["plan"]["mflops"],
                             plan["plan"]["budget_mflops"])
        with urllib.request.urlopen(self.base + "/api/model_info",
                                    timeout=10) as response:
            self.assertEqual(json.loads(response.read())["name"], "tiny")

    def test_refusals(self):
        cases = [
            ({"image": {"encoded": "AAAA"}, "budget": {"fraction": 2}}, 400,
             "INVALID_ARGUMENT", "budget.fraction"),
            ({"image": {"encoded": "AAAA"}, "budget": {"fraction": 0.5}}, 400,
             "INVALID_ARGUMENT", "image"),
            ({"image": {"encoded": "AAAA"}, "budget": {"fraction": 0.0001}},
             400, "OUT_OF_RANGE", "budget"),
            ({"no_such_field": 1}, 400, "INVALID_ARGUMENT",
             "not JSON of slimserve.v1.InferRequest"),
            (b"{not json" + b"x" * 100000, 400, "INVALID_ARGUMENT",
             "not JSON of slimserve.v1.InferRequest"),
        ]
        for body, status, code, text in cases:
            got_status, answer = self.post("/api/infer", body)
            self.assertEqual((got_status, answer["code"]), (status, code),
                             answer)
            self.assertIn(text, answer["message"])
            self.assertLess(len(answer["message"]), 400)
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(self.base + "/nothing/here", timeout=10)
        self.assertEqual(raised.exception.code, 404)
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(self.base + "/api/infer", timeout=10)
        self.assertEqual(raised.exception.code, 400)  # GET: POST required

    def raw_http(self, data):
        """The status line the server answers to raw bytes `data`."""
        with socket.create_connection(("127.0.0.1", self.http_port),
                                      timeout=30) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        return answer.split(b"\r\n", 1)[0].decode()

    def test_hostile_http(self):
        self.assertEqual(self.raw_http(b"GARBAGE\r\n\r\n"),
                         "HTTP/1.1 400 Bad Request")
        self.assertEqual(
            self.raw_http(b"GET / HTTP/1.1\r\nX: " + b"a" * 40000 +
                          b"\r\n\r\n"),
            "HTTP/1.1 431 Request Header Fields Too Large")
        self.assertEqual(
            self.raw_http(b"POST /api/infer HTTP/1.1\r\nContent-Length: "
                          b"99999999999\r\n\r\n"),
            "HTTP/1.1 413 Payload Too Large")
        self.assertEqual(
            self.raw_http(b"POST /api/infer HTTP/1.1\r\nTransfer-Encoding: "
                          b"chunked\r\n\r\n"),
            "HTTP/1.1 501 Not Implemented")
        self.assertEqual(
            self.raw_http(b"POST /api/plan HTTP/1.1\r\nContent-Length: -5"
                          b"\r\n\r\n"),
            "HTTP/1.1 400 Bad Request")
        # A body shorter than announced: the connection ends, no answer.
        self.assertEqual(
            self.raw_http(b"POST /api/plan HTTP/1.1\r\nContent-Length: 100"
                          b"\r\n\r\n{}"), "")
        # Still serving, on both protocols.
        status, _ = self.post("/api/plan", {"budget": {"fraction": 1}})
        self.assertEqual(status, 200)
        client = self.server.wait_serving()
        try:
            self.assertEqual(client.health(), "SERVING")
        finally:
            client.close()


if __name__ == "__main__":
    ops_util.main()
