#!/usr/bin/env python3
"""CIKD ablation summaries. Markdown to stdout, JSON to --json_out.

The trial (tools/train/cikd_trial.sh keeps one directory ARM-sSEED per run,
holding eval_report.json and cikd_log.tsv): per arm and uniform width
(encoder = every decoder), the mean and spread over seeds of Delta_m against
the common reference, the mean full-width metrics of the runs without CIKD
(arm "none"); and per arm and stage, CIKD's distance at the end and its
gradient-norm ratio against the task losses on the encoder's weights.

  tools/train/ablation_report.py --trial=models/default/cikd_trial \
      --pilot=models/default/cikd_trial/pilot_600_steps.json \
      --json_out=models/default/cikd_ablation.json

The pilot: two reports of runs that differ only in --cikd; Delta_m against
each run's own full width and against the run without CIKD at full width.

  tools/train/ablation_report.py --with=/tmp/abl_cikd/eval_report.json \
      --without=/tmp/abl_nocikd/eval_report.json --json_out=cikd_ablation.json
"""

import argparse
import csv
import json
import os
import re
import statistics

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


def mean_metrics(reports, we, wd):
    """Per task, the mean of metrics(report, we, wd) over reports."""
    ms = [metrics(r, we, wd) for r in reports]
    return {t: statistics.fmean(m[t] for m in ms) for t in ms[0]}


def spread(values):
    """mean, sample sd (0 for one value), min, max, n."""
    return {"mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def read_log(path):
    """cikd_log.tsv rows as dicts of numbers; [] when absent."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()}
                for row in csv.DictReader(f, delimiter="\t")]


def log_summary(rows):
    """Per stage: distance at the last logged step, the median ratio of
    CIKD's gradient norm to the tasks' (unweighted) and the same times the
    weight in force, over the steps where the weight was > 0 (all steps for
    runs without CIKD)."""
    out = {}
    for stage in sorted({int(r["stage"]) for r in rows}):
        mine = [r for r in rows if int(r["stage"]) == stage]
        active = [r for r in mine if r["weight"] > 0] or mine
        out[str(stage)] = {
            "final_distance": mine[-1]["distance"],
            "median_grad_norm_ratio": statistics.median(
                r["grad_norm_ratio"] for r in active),
            "median_weighted_ratio": statistics.median(
                r["grad_norm_ratio"] * r["weight"] for r in active)}
    return out


def trial(directory, json_out, pilot=None):
    runs = {}
    for name in sorted(os.listdir(directory)):
        m = re.fullmatch(r"(.+)-s(\d+)", name)
        report = os.path.join(directory, name, "eval_report.json")
        if not m or not os.path.exists(report):
            continue
        runs.setdefault(m.group(1), []).append({
            "seed": int(m.group(2)),
            "report": json.load(open(report)),
            "log": read_log(os.path.join(directory, name, "cikd_log.tsv"))})
    if "none" not in runs:
        raise SystemExit("trial: no run of arm 'none' (the reference) yet")
    first = runs["none"][0]["report"]
    widths = sorted({e["encoder_width"] for e in first["entries"]})
    full = widths[-1]
    reference = mean_metrics([r["report"] for r in runs["none"]], full, full)
    arms = {}
    for arm, rs in runs.items():
        per_width = {}
        for w in widths:
            deltas = [delta_m(metrics(r["report"], w, w), reference) for r in rs]
            per_width["%.2f" % w] = dict(
                spread(deltas),
                metrics=mean_metrics([r["report"] for r in rs], w, w))
        arms[arm] = {
            "seeds": [r["seed"] for r in rs],
            "num_images": [r["report"]["num_images"] for r in rs],
            "delta_m_vs_reference": per_width,
            "per_run_delta_m": {
                str(r["seed"]): {"%.2f" % w: delta_m(metrics(r["report"], w, w),
                                                     reference) for w in widths}
                for r in rs},
            "cikd_log": {str(r["seed"]): log_summary(r["log"]) for r in rs}}
    # Beyond the spread: the arm's mean above the reference arm's by more
    # than both runs' sample sds together.
    ref = arms["none"]["delta_m_vs_reference"]
    for arm, a in arms.items():
        for w, d in a["delta_m_vs_reference"].items():
            d["better_than_none_beyond_spread"] = (
                d["mean"] - ref[w]["mean"] > d["sd"] + ref[w]["sd"])
    print("Delta_m vs the mean full width of the runs without CIKD "
          "(mean +- sd over seeds):\n")
    print("| arm | seeds | " + " | ".join("%.2f" % w for w in widths) + " |")
    print("|---|---|" + "---|" * len(widths))
    for arm, a in arms.items():
        cells = []
        for w in widths:
            d = a["delta_m_vs_reference"]["%.2f" % w]
            cells.append("%+.1f%% +- %.1f" % (d["mean"], d["sd"]))
        print("| %s | %s | %s |" % (arm, ",".join(map(str, a["seeds"])),
                                    " | ".join(cells)))
    if json_out:
        with open(json_out, "w") as f:
            out = {"reference": {"arm": "none", "full_width_metrics": reference},
                   "arms": arms}
            if pilot:
                out["pilot_600_steps"] = json.load(open(pilot))
            json.dump(out, f, indent=1, sort_keys=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trial", help="directory of ARM-sSEED run directories")
    p.add_argument("--with", dest="with_")
    p.add_argument("--without")
    p.add_argument("--json_out")
    p.add_argument("--pilot", help="with --trial: a pilot's JSON to keep in the output")
    a = p.parse_args()
    if a.trial:
        trial(a.trial, a.json_out, a.pilot)
        return
    if not (a.with_ and a.without):
        p.error("want --trial, or --with and --without")
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
