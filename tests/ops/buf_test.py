"""The public API's conventions and compatibility, checked by buf.

buf (npm @bufbuild/buf, pinned in tools/buf, installed by tools/test.sh)
lints proto/ with the STANDARD rules and checks it for breaking changes
against the committed API, proto/api_baseline.json (tools/buf.sh baseline
rewrites it: the deliberate step that accepts an addition). Each check also
runs on a copy with one mistake, so it is shown to reject.
"""

import json
import os
import shutil
import subprocess

import unittest

import ops_util


class BufTest(unittest.TestCase):

    def setUp(self):
        # A real copy: buf reads the module from its directory.
        self.module = os.path.join(ops_util.tmpdir(), "proto_" + self.id())
        shutil.rmtree(self.module, ignore_errors=True)
        shutil.copytree(ops_util.runfile("proto"), self.module,
                        ignore=shutil.ignore_patterns("BUILD", "*.bzl"))
        self.env = dict(os.environ,
                        BUF_CACHE_DIR=os.path.join(ops_util.tmpdir(), "buf"))

    def buf(self, *args):
        """(exit code, stdout + stderr) of buf in the module copy."""
        done = subprocess.run([ops_util.buf_binary()] + list(args),
                              cwd=self.module, env=self.env,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120)
        return done.returncode, done.stdout

    def edit(self, path, old, new):
        full = os.path.join(self.module, path)
        with open(full) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(full, "w") as f:
            f.write(text.replace(old, new, 1))

    def test_lint_is_clean(self):
        code, out = self.buf("lint")
        self.assertEqual((code, out), (0, ""))

    def test_lint_rejects_an_unprefixed_enum_value(self):
        self.edit("slimserve/v1/slimserve.proto", "OUTPUT_FORMAT_PNG = 2;",
                  "PNG = 2;")
        code, out = self.buf("lint")
        self.assertNotEqual(code, 0)
        self.assertIn('Enum value name "PNG" should be prefixed with '
                      '"OUTPUT_FORMAT_"', out)

    def test_no_breaking_change_against_the_committed_api(self):
        code, out = self.buf("breaking", "--against", "api_baseline.json")
        self.assertEqual((code, out), (0, ""))

    def test_breaking_rejects_a_renumbered_field(self):
        self.edit("slimserve/v1/slimserve.proto",
                  "OutputSize output_size = 7;", "OutputSize output_size = 8;")
        code, out = self.buf("breaking", "--against", "api_baseline.json")
        self.assertNotEqual(code, 0)
        self.assertIn("InferRequest", out)

    def test_breaking_rejects_a_renamed_service(self):
        self.edit("slimserve/v1/slimserve.proto", "service InferenceService {",
                  "service Inference {")
        code, out = self.buf("breaking", "--against", "api_baseline.json")
        self.assertNotEqual(code, 0)
        self.assertIn('"InferenceService"', out)

    def test_baseline_is_the_current_api(self):
        # An addition passes `breaking`; the baseline must take it in too,
        # so that a later change to it is checked as well.
        image = os.path.join(self.module, "current.json")
        code, out = self.buf("build", "--exclude-source-info", "-o", image)
        self.assertEqual((code, out), (0, ""))
        with open(image) as f:
            current = json.load(f)
        with open(os.path.join(self.module, "api_baseline.json")) as f:
            baseline = json.load(f)
        self.assertEqual(
            current, baseline,
            "proto/ changed without its baseline: review the change, then "
            "run tools/buf.sh baseline")


if __name__ == "__main__":
    ops_util.main()
