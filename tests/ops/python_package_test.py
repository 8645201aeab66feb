"""The Python client as a user installs it: the package Bazel builds
(//client/python:package) goes into a fresh virtual environment
(python3 -m venv --system-site-packages: Debian's grpcio, protobuf, numpy,
Pillow), offline, and is used from outside the repository with numpy
arrays, PIL images, files and streams against a real server.
"""

import json
import os
import subprocess
import sys
import unittest

import ops_util

# Runs inside the virtual environment, from a directory outside the repo.
USER_SCRIPT = r'''
import json, sys
import numpy as np
from PIL import Image
import slimserve_client
from slimserve_client import PNG, FrameError, SlimClient

target, png_path = sys.argv[1], sys.argv[2]
out = {"module": slimserve_client.__file__}
pixels = (np.arange(40 * 60 * 3, dtype=np.uint32) * 7 % 256).astype(
    np.uint8).reshape(40, 60, 3)
Image.fromarray(pixels).save(png_path)
with SlimClient(target) as client:
    r = client.predict(pixels, budget=0.5, weights={"depth": 2, "semseg": 1})
    out["tasks"] = r.tasks
    depth = r.as_numpy("depth")
    out["depth"] = [str(depth.dtype), list(depth.shape)]
    out["encoder_width"] = r.plan.encoder_width
    out["total_ms_positive"] = r.timings.total_ms > 0
    # The same image as PIL, as a file path, as PNG outputs.
    pil = client.predict(Image.fromarray(pixels), budget=0.5,
                         weights={"depth": 2, "semseg": 1})
    out["pil_same"] = bool(np.array_equal(pil.as_numpy("depth"), depth))
    png = client.predict(png_path, budget=0.5,
                         weights={"depth": 2, "semseg": 1}, output_format=PNG)
    depth_mm = png.as_numpy("depth")
    out["png_depth"] = [str(depth_mm.dtype), list(depth_mm.shape)]
    out["png_depth_close"] = float(np.abs(depth_mm / 1000.0 - depth).max())
    labels = png.as_numpy("semseg")
    logits = r.as_numpy("semseg")
    out["semseg_agree"] = float((labels[0] == logits.argmax(0)).mean())
    gray = client.predict(pixels[:, :, 0], weights={"edges": 1})
    out["gray"] = list(gray.as_numpy("edges").shape)
    # A stream of numpy frames.
    frames = [pixels for _ in range(20)]
    results = list(client.predict_stream(iter(frames), budget=0.25,
                                         weights={"normals": 1}))
    out["stream"] = [x.request_id for x in results]
    out["stream_shape"] = list(results[0].as_numpy("normals").shape)
    bad = list(client.predict_stream(iter([pixels]), raise_errors=False,
                                     weights={"sky": 1}))
    out["stream_error"] = [type(bad[0]).__name__, bad[0].code.name]
    try:
        client.predict(np.zeros((4, 4, 3), np.float32))
    except TypeError as e:
        out["float_refused"] = str(e)
print(json.dumps(out))
'''


class PythonPackageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = ops_util.Slimserve(name="package_slimserve")
        cls.server.wait_serving().close()
        cls.venv = os.path.join(ops_util.tmpdir(), "venv")
        subprocess.run(["/usr/bin/python3", "-m", "venv",
                        "--system-site-packages", cls.venv], check=True,
                       timeout=120)
        tarball = ops_util.runfile(
            "client/python/slimserve_client-0.1.0.tar.gz")
        done = subprocess.run(
            [os.path.join(cls.venv, "bin", "pip"), "install", "--no-index",
             "--no-build-isolation", "--disable-pip-version-check", tarball],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=300, env=cls.clean_env())
        if done.returncode != 0:
            raise AssertionError("pip install failed:\n" + done.stdout)

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()

    @staticmethod
    def clean_env():
        """The environment without the test's PYTHONPATH (the repo's)."""
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env["HOME"] = ops_util.tmpdir()
        return env

    def test_installed_package_from_outside_the_repo(self):
        outside = os.path.join(ops_util.tmpdir(), "elsewhere")
        os.makedirs(outside, exist_ok=True)
        done = subprocess.run(
            [os.path.join(self.venv, "bin", "python"), "-c", USER_SCRIPT,
             self.server.target, os.path.join(outside, "photo.png")],
            cwd=outside, env=self.clean_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        out = json.loads(done.stdout)
        self.assertTrue(out["module"].startswith(self.venv), out["module"])
        self.assertEqual(out["tasks"], ["semseg", "depth"])
        self.assertEqual(out["depth"], ["float32", [1, 32, 48]])
        self.assertTrue(out["total_ms_positive"])
        self.assertTrue(out["pil_same"])
        self.assertEqual(out["png_depth"], ["uint16", [1, 32, 48]])
        self.assertLessEqual(out["png_depth_close"], 0.0006)  # mm rounding
        self.assertEqual(out["semseg_agree"], 1.0)
        self.assertEqual(out["gray"], [1, 32, 48])
        self.assertEqual(out["stream"], [str(i) for i in range(20)])
        self.assertEqual(out["stream_shape"], [3, 32, 48])
        self.assertEqual(out["stream_error"],
                         ["FrameError", "INVALID_ARGUMENT"])
        self.assertIn("uint8", out["float_refused"])


if __name__ == "__main__":
    ops_util.main()
