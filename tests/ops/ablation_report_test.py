"""tools/train/ablation_report.py --trial on synthetic runs: the common
reference is the mean full width of the runs without CIKD, Delta_m per arm
and width is averaged over seeds with its sample sd, the spread flag, the
per-stage log summary, and a trial without the reference is refused."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import ops_util

SCRIPT = os.path.join(os.environ.get("TEST_SRCDIR", ""),
                      os.environ.get("TEST_WORKSPACE", ""),
                      "tools/train/ablation_report.py")
WIDTHS = [0.25, 1.0]


def report(miou_by_width, rmse=0.5):
    """An eval_report.json with every decoder at the encoder's width."""
    entries = []
    for w, miou in miou_by_width.items():
        entries += [
            {"task": "semseg", "encoder_width": w, "decoder_width": w, "miou": miou},
            {"task": "depth", "encoder_width": w, "decoder_width": w, "rmse": rmse},
            {"task": "normals", "encoder_width": w, "decoder_width": w,
             "mean_angle_deg": 20.0},
            {"task": "edges", "encoder_width": w, "decoder_width": w, "f_score": 0.5},
        ]
    return {"model": "m", "version": "v", "num_images": 512, "entries": entries}


class AblationReportTest(unittest.TestCase):
    def write_run(self, root, name, rep, log_rows=None):
        d = os.path.join(root, name)
        os.makedirs(d)
        with open(os.path.join(d, "eval_report.json"), "w") as f:
            json.dump(rep, f)
        if log_rows is not None:
            with open(os.path.join(d, "cikd_log.tsv"), "w") as f:
                f.write("step\tweight\tstage\tdistance\tgrad_norm_ratio\n")
                for row in log_rows:
                    f.write("\t".join(str(v) for v in row) + "\n")

    def run_report(self, root):
        out = os.path.join(root, "out.json")
        proc = subprocess.run([sys.executable, SCRIPT, "--trial=" + root,
                               "--json_out=" + out],
                              capture_output=True, text=True)
        return proc, out

    def test_reference_means_spreads_and_logs(self):
        with tempfile.TemporaryDirectory() as root:
            # Reference full-width mIoU: mean of 0.4 and 0.6 = 0.5.
            self.write_run(root, "none-s1", report({0.25: 0.3, 1.0: 0.4}))
            self.write_run(root, "none-s2", report({0.25: 0.5, 1.0: 0.6}))
            self.write_run(root, "warmup-s1", report({0.25: 0.55, 1.0: 0.5}),
                           [(50, 0, 0, 2.0, 0.9), (100, 0.5, 0, 1.0, 0.4),
                            (150, 1, 0, 0.5, 0.2)])
            self.write_run(root, "warmup-s2", report({0.25: 0.55, 1.0: 0.5}),
                           [(50, 0, 0, 2.0, 0.9), (100, 1, 0, 0.25, 0.6)])
            proc, out = self.run_report(root)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("| warmup | 1,2 |", proc.stdout)
            d = json.load(open(out))
            self.assertAlmostEqual(d["reference"]["full_width_metrics"]["semseg"], 0.5)
            none = d["arms"]["none"]["delta_m_vs_reference"]
            # Only mIoU differs from the reference: Delta_m = 100 * change / 4,
            # per seed -10 and 0 at width 0.25, -5 and +5 at full width.
            self.assertAlmostEqual(none["0.25"]["mean"], -5.0)
            self.assertAlmostEqual(none["0.25"]["sd"], 50 ** 0.5)
            self.assertAlmostEqual(none["1.00"]["mean"], 0.0)
            self.assertAlmostEqual(none["1.00"]["sd"], 50 ** 0.5)
            warm = d["arms"]["warmup"]["delta_m_vs_reference"]
            self.assertAlmostEqual(warm["0.25"]["mean"], 2.5)  # 7.5 above, sd 7.07
            self.assertEqual(warm["0.25"]["sd"], 0.0)
            self.assertTrue(warm["0.25"]["better_than_none_beyond_spread"])
            self.assertFalse(warm["1.00"]["better_than_none_beyond_spread"])
            self.assertEqual(d["arms"]["warmup"]["seeds"], [1, 2])
            log = d["arms"]["warmup"]["cikd_log"]["1"]["0"]
            self.assertEqual(log["final_distance"], 0.5)
            # Over the steps with weight > 0 only: median of 0.4 and 0.2.
            self.assertAlmostEqual(log["median_grad_norm_ratio"], 0.3)
            self.assertAlmostEqual(log["median_weighted_ratio"], (0.2 + 0.2) / 2)
            self.assertEqual(d["arms"]["none"]["cikd_log"]["1"], {})

    def test_refuses_a_trial_without_the_reference(self):
        with tempfile.TemporaryDirectory() as root:
            self.write_run(root, "warmup-s1", report({0.25: 0.5, 1.0: 0.6}))
            proc, _ = self.run_report(root)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("no run of arm 'none'", proc.stderr)


if __name__ == "__main__":
    ops_util.main()
