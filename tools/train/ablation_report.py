#!/usr/bin/env python3
"""CIKD ablation summary from two slimeval reports (eval_report.json) of runs
that differ only in --cikd: Delta_m of the uniform configurations, against
each run's own full width and against the run without CIKD at full width
(the common reference), plus the per-task metrics of the narrowest and
middle configurations. Writes Markdown to stdout and JSON to --json_out.

  tools/train/ablation_report.py --with=/tmp/abl_cikd/eval_report.json \
      --without=/tmp/abl_nocikd/eval_report.json --json_out=cikd_ablation.json
"""

import argparse
import json

# Primary metric per task and whether higher is better (as slimeval).
PRIMARY = {"semseg": ("miou", True), "depth": ("rmse", False),
           "normals": ("mean_angle_deg", False), "edges": ("f_score", True)}


def metrics(report, we, wd):
    """{task: primary metric} at encoder width we, every decoder at wd."""
    out = {}
    for e in report["entries"]:
        if e["encoder_width"] == we and e["decoder_width"] == wd:
            name, _ = PRIMARY[e["task"]]
            out[e["task"]] = e[name]
    return out


def delta_m(m, ref):
    """Mean relative change over tasks, %, sign flipped for lower-is-better."""
    total = 0.0
    for task, value in m.items():
        _, higher = PRIMARY[task]
        change = (value - ref[task]) / ref[task]
        total += change if higher else -change
    return 100.0 * total / len(m)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--with", dest="with_", required=True)
    p.add_argument("--without", required=True)
    p.add_argument("--json_out")
    a = p.parse_args()
    runs = {"with CIKD": json.load(open(a.with_)),
            "without CIKD": json.load(open(a.without))}
    widths = sorted({e["encoder_width"] for e in runs["with CIKD"]["entries"]})
    common = metrics(runs["without CIKD"], widths[-1], widths[-1])
    rows = []
    for w in widths:
        for run, report in runs.items():
            m = metrics(report, w, w)
            own = metrics(report, widths[-1], widths[-1])
            rows.append({"run": run, "width": w, "metrics": m,
                         "delta_m_own_full": delta_m(m, own),
                         "delta_m_vs_no_cikd_full": delta_m(m, common)})
    print("| width (encoder = every decoder) | run | mIoU | depth RMSE | "
          "normals deg | edges F | Delta_m vs own full | "
          "Delta_m vs no-CIKD full |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        m = r["metrics"]
        print("| %.2f | %s | %.3f | %.3f | %.1f | %.3f | %+.1f%% | %+.1f%% |" % (
            r["width"], r["run"], m["semseg"], m["depth"], m["normals"],
            m["edges"], r["delta_m_own_full"], r["delta_m_vs_no_cikd_full"]))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"runs": {k: {"model": v["model"], "version": v["version"],
                                    "num_images": v["num_images"]}
                                for k, v in runs.items()},
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
