#!/usr/bin/env bash
# Serving benchmark: starts slimserve on the default model, drives it with
# slimbench, stops it. Run from the repository root after tools/serve.sh (or
# `bazel build -c opt //server:slimserve //client:slimbench`) has built both.
#   tools/bench_serving.sh MAX_BATCH_SIZE closed CONCURRENCY
#   tools/bench_serving.sh MAX_BATCH_SIZE open RATE DEADLINE_MS
# SLIMSERVE_SERVER_FLAGS adds server flags, e.g. "--weights=sliced
# --nochannels_last" for the network path before folding;
# SLIMSERVE_BENCH_MODEL_DIR (default models/default) and SLIMSERVE_BIN (the
# folder holding server/ and client/, default bazel-bin) are for
# tools/device/gpu_check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
batch=$1 mode=$2 arg=$3 deadline=${4:-0}
port=${SLIMSERVE_BENCH_PORT:-50071}
log=$(mktemp)
bin=${SLIMSERVE_BIN:-bazel-bin}
"$bin"/server/slimserve --model_dir="${SLIMSERVE_BENCH_MODEL_DIR:-models/default}" \
  --address=127.0.0.1:$port \
  --metrics_address= --max_batch_size="$batch" --drain_grace_s=0 \
  ${SLIMSERVE_SERVER_FLAGS:-} >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 120); do grep -q "serving on" "$log" && break; sleep 0.5; done
load=(--concurrency="$arg")
[ "$mode" = open ] && load=(--rate="$arg" --deadline_ms="$deadline")
"$bin"/client/slimbench --keep_freed_memory --target=127.0.0.1:$port "${load[@]}" --duration_s=12 \
  --warmup_s=2 --budgets=0.25,0.5,1.0 --weights=random --image_size=480x640 \
  --json_out="${SLIMSERVE_BENCH_JSON:-/dev/null}"
