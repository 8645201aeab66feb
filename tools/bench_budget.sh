#!/usr/bin/env bash
# Does the budget buy time? One run prints:
#  1. the network alone: time of each uniform width as a share of the full
#     width's, at batch 1 and 8 (slimprofile);
#  2. end to end: throughput and p50 at budgets 0.25 and 1.0 (all tasks), at
#     concurrency 1 and 16, for 480x640 JPEG and PNG inputs (PNG outputs) and
#     raw 96x128 inputs (RAW outputs), with the 0.25 / 1.0 ratios.
# Run from the repository root after
#   bazel build -c opt //server:slimserve //client:slimbench //tools:slimprofile
# Usage: tools/bench_budget.sh [SECONDS per point, default 8]
# SLIMSERVE_BIN (default bazel-bin) and SLIMSERVE_SERVER_FLAGS as for
# tools/bench_serving.sh; SLIMSERVE_CLIENT_BIN (default SLIMSERVE_BIN) holds
# client/slimbench, so an older server can be measured with this slimbench.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-8}
bin=${SLIMSERVE_BIN:-bazel-bin}
client_bin=${SLIMSERVE_CLIENT_BIN:-$bin}
port=${SLIMSERVE_BENCH_PORT:-50072}
model=${SLIMSERVE_BENCH_MODEL_DIR:-models/default}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -TERM $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

# One intra-op thread: what each of the server's executors runs a batch on
# by default (engine/batching/BATCHING.md); SLIMSERVE_PROFILE_THREADS=2 for
# one batch on both cores, the layout before.
threads=${SLIMSERVE_PROFILE_THREADS:-1}
echo "## network alone ($bin/tools/slimprofile --batch_sizes=1,8 --repetitions=11 --num_threads=$threads)"
"$bin"/tools/slimprofile --model_dir="$model" --batch_sizes=1,8 --repetitions=11 \
  --num_threads="$threads" 2>/dev/null | sed -n '/^batch/,/^linear/p' | grep -v '^linear'

"$bin"/server/slimserve --model_dir="$model" --address=127.0.0.1:$port \
  --metrics_address= --drain_grace_s=0 \
  ${SLIMSERVE_SERVER_FLAGS:-} >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do grep -q "serving on" "$tmp/server.log" && break; sleep 0.5; done

echo
echo "## end to end (slimbench --weights=all, ${seconds} s per point after 2 s warm-up)"
for input in jpeg:480x640:png png:480x640:png raw:96x128:raw; do
  IFS=: read -r format size out <<<"$input"
  for conc in 1 16; do
    for budget in 0.25 1.0; do
      "$client_bin"/client/slimbench --keep_freed_memory --target=127.0.0.1:$port --concurrency=$conc \
        --duration_s="$seconds" --warmup_s=2 --budgets=$budget --weights=all \
        --image_format=$format --image_size=$size --output_format=$out \
        --json_out="$tmp/$format-$conc-$budget.json" >/dev/null
    done
  done
done
python3 - "$tmp" <<'EOF'
import json, os, sys
tmp = sys.argv[1]
print("| input | output | concurrency | budget 1.0 req/s (p50 ms) | budget 0.25 req/s (p50 ms) | throughput ratio | p50 ratio |")
print("|---|---|---|---|---|---|---|")
for fmt, size, out in [("jpeg", "480x640", "png"), ("png", "480x640", "png"),
                       ("raw", "96x128", "raw")]:
    for conc in (1, 16):
        r = {}
        for b in ("1.0", "0.25"):
            with open(os.path.join(tmp, "%s-%d-%s.json" % (fmt, conc, b))) as f:
                r[b] = json.load(f)
        full, quarter = r["1.0"], r["0.25"]
        print("| %s %s | %s | %d | %.1f (%.2f) | %.1f (%.2f) | %.2fx | %.2fx |" % (
            fmt, size, out, conc, full["throughput_rps"], full["latency_ms"]["p50"],
            quarter["throughput_rps"], quarter["latency_ms"]["p50"],
            quarter["throughput_rps"] / full["throughput_rps"],
            quarter["latency_ms"]["p50"] / full["latency_ms"]["p50"]))
EOF
