"""The latency cache as an operator uses it: slimprofile writes it ahead of
time, slimserve --latency_cache reads it when it matches (model, device,
threads, batch sizes) and measures and rewrites it when it does not, and
GetModelInfo serves the tables."""

import os
import re
import subprocess
import unittest

import ops_util
from ops_util import Slimserve, runfile, tiny_model_dir, tmpdir


def tables(path):
    """[(batch_size, [encoder_ms...])] of a cache file, by its text."""
    text = open(path).read()
    out = []
    for block in text.split("tables {")[1:]:
        size = int(re.search(r"batch_size: (\d+)", block).group(1))
        ms = [float(v) for v in re.findall(r"encoder_ms: ([0-9.e+-]+)", block)]
        out.append((size, ms))
    return out


class LatencyCacheTest(unittest.TestCase):

    def test_profile_then_serve_from_the_cache_then_remeasure(self):
        cache = os.path.join(tmpdir(), "latency.textproto")
        run = subprocess.run(
            [runfile("tools/slimprofile"), "--model_dir=" + tiny_model_dir(),
             "--batch_sizes=1,2,4", "--num_threads=1", "--repetitions=1",
             "--out=" + cache],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        self.assertIn("batch 4 (uniform widths", run.stdout)
        self.assertIn("images/s", run.stdout)
        self.assertIn("batch_sizes=1,2,4", run.stdout)
        written = tables(cache)
        self.assertEqual([b for b, _ in written], [1, 2, 4])
        for _, ms in written:
            self.assertEqual(len(ms), 4)  # encoder widths of the tiny spec
            self.assertTrue(all(v > 0 for v in ms), ms)

        # Same key: the server reads the file and serves its numbers.
        server = Slimserve(name="slimserve_cached",
                           flags=["--latency_cache=" + cache,
                                  "--latency_batch_sizes=1,2,4"])
        client = server.wait_serving()
        try:
            self.assertIn("latency read from " + cache, server.log())
            info = client.model_info(timeout=10)
            self.assertEqual([t.batch_size for t in info.latency_tables],
                             [1, 2, 4])
            for (size, ms), table in zip(written, info.latency_tables):
                for a, b in zip(ms, table.encoder_ms):
                    self.assertAlmostEqual(a, b, places=4)
        finally:
            client.close()
            self.assertEqual(server.stop(), 0)

        # Other batch sizes: another key, so measured again and rewritten.
        server = Slimserve(name="slimserve_remeasured",
                           flags=["--latency_cache=" + cache,
                                  "--latency_batch_sizes=1,3"])
        client = server.wait_serving()
        try:
            self.assertIn("latency cache not used, measuring", server.log())
            self.assertIn("measured for", server.log())
            info = client.model_info(timeout=10)
            self.assertEqual([t.batch_size for t in info.latency_tables], [1, 3])
        finally:
            client.close()
            self.assertEqual(server.stop(), 0)
        self.assertEqual([b for b, _ in tables(cache)], [1, 3])

    def test_bad_batch_sizes_are_refused_at_start(self):
        for name, flag, message in [
                ("slimserve_bad_sizes", "--latency_batch_sizes=2,4",
                 "latency.batch_sizes: must start at 1"),
                ("slimserve_bad_int", "--latency_batch_sizes=1,x",
                 '"x" is not an integer')]:
            server = Slimserve(name=name, flags=[flag])
            code = server.wait(60)
            self.assertIsNotNone(code, "still running with " + flag)
            self.assertNotEqual(code, 0)
            self.assertIn(message, server.log())


if __name__ == "__main__":
    ops_util.main()
