#!/usr/bin/env python3
"""How much each task's decoder width matters, per encoder width.

Reads MODEL_DIR/profile.textproto (slimeval writes it) and prints, per task
and encoder width, the normalised-quality gain from decoder width 0.25 to
1 as a share of the latter ("decoders that matter": models/default/README.md),
and each task's full-width decoder MACs.

Usage: tools/train/decoder_spread.py MODEL_DIR...
"""
import re
import sys


def entries(text):
    """(task, encoder index, decoder index) -> (value, normalised quality,
    decoder MACs); dicts keep the file's order, which is the model's."""
    out = {}
    for e in re.findall(r"entries \{(.*?)\n\}", text, re.S):
        def idx(field):
            m = re.search(field + r": (\d+)", e)
            return int(m.group(1)) if m else 0  # proto3 leaves 0 out
        key = (re.search(r'task: "(\w+)"', e).group(1),
               idx("encoder_width_index"), idx("decoder_width_index"))
        out[key] = (float(re.search(r"\n  value: ([-\d.e+]+)", e).group(1)),
                    float(re.search(r"normalized_quality: ([-\d.e+]+)", e).group(1)),
                    int(re.search(r"decoder_macs: (\d+)", e).group(1)))
    return out


def main(dirs):
    for d in dirs:
        with open(d + "/profile.textproto") as f:
            q = entries(f.read())
        tasks = list(dict.fromkeys(k[0] for k in q))
        enc = sorted({k[1] for k in q})
        dec_top = max(k[2] for k in q)  # decoder widths may differ in number
        print(d)
        for t in tasks:
            spreads = []
            for ew in enc:
                lo, hi = q[(t, ew, 0)][1], q[(t, ew, dec_top)][1]
                spreads.append("%.1f%%" % (100 * (hi - lo) / hi))
            print("  %-8s decoder spread per encoder width %s; full %.3f, "
                  "narrowest %.3f, full decoder %.1f M MACs"
                  % (t, " ".join(spreads), q[(t, enc[-1], dec_top)][0],
                     q[(t, 0, 0)][0], q[(t, enc[-1], dec_top)][2] / 1e6))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
