#!/usr/bin/env bash
# The CIKD trial (models/default/README.md, "CIKD trial"): runs of the
# shipped recipe that differ only in CIKD's form, each evaluated on 512
# held-out scenes. Keeps the small results of run ARM-sSEED in
# models/default/cikd_trial/ARM-sSEED/ (eval_report.json, cikd_log.tsv,
# train.txt: the command and its throughput line); the weights stay in
# $SLIMSERVE_TRIAL_DIR (default /tmp/cikd_trial). A run whose results are
# there already is skipped, so the trial can be continued on another day or
# machine. Every run trains nyud-slim 1.1's architecture (one convolution
# per decoder), kept in models/default/cikd_trial/spec.textproto, so runs
# stay comparable when the shipped spec moves on. SLIMSERVE_TRIAL_RESULTS
# names another results directory holding its own spec.textproto (a trial
# of another architecture, e.g. models/default/cikd_trial_1.3).
# Then: tools/train/ablation_report.py --trial=models/default/cikd_trial.
#
# Usage, from the repository root:
#   tools/train/cikd_trial.sh [-j JOBS] RUN...
# RUN is ARM:SEED or ARM@wWEIGHT:SEED (the arm with --cikd_weight=WEIGHT).
# JOBS (default 2) runs train at once, one LibTorch thread each.
# Arms:
#   none         no CIKD (the shipped recipe; the common reference)
#   today        CIKD as it was: raw MSE on every stage's output, weight 1, from step 0
#   prerelu_std  features before each stage's last ReLU, per-channel standardised MSE
#   late         prerelu_std on the last two stages only
#   warmup       prerelu_std from step 500, weight ramped up over 250 steps
#   prerelu_cos  features before the last ReLU, cosine distance over channels
set -euo pipefail
cd "$(dirname "$0")/../.."

jobs=2
if [[ "${1:-}" == "-j" ]]; then jobs=$2; shift 2; fi
[[ $# -ge 1 ]] || { sed -n '2,25p' "$0"; exit 2; }

steps=${SLIMSERVE_TRIAL_STEPS:-1500}
work=${SLIMSERVE_TRIAL_DIR:-/tmp/cikd_trial}
results=${SLIMSERVE_TRIAL_RESULTS:-models/default/cikd_trial}
[[ -f $results/spec.textproto ]] \
  || { echo "cikd_trial: no $results/spec.textproto" >&2; exit 1; }
bazel build -c opt //tools/train:slimtrain //tools/train:slimeval >/dev/null 2>&1 \
  || { echo "cikd_trial: bazel build failed" >&2; exit 1; }
# Private copies: a later build must not swap the binaries under a run.
bin=$work/bin
mkdir -p "$bin" "$results"
cp -f bazel-bin/tools/train/slimtrain bazel-bin/tools/train/slimeval "$bin/"

arm_flags() {
  local prerelu_std="--cikd --cikd_features=pre_relu --cikd_distance=standardized"
  case "$1" in
    none) echo "--cikd=false" ;;
    today) echo "--cikd" ;;
    prerelu_std) echo "$prerelu_std" ;;
    late) echo "$prerelu_std --cikd_stages=2,3" ;;
    warmup) echo "$prerelu_std --cikd_warmup_steps=500 --cikd_ramp_steps=250" ;;
    prerelu_cos) echo "--cikd --cikd_features=pre_relu --cikd_distance=cosine" ;;
    *) return 1 ;;
  esac
}

one_run() {
  local run=$1 arm seed weight="" name
  arm=${run%%:*}
  seed=${run##*:}
  if [[ "$arm" == *@w* ]]; then weight=${arm##*@w}; arm=${arm%%@w*}; fi
  local flags
  flags=$(arm_flags "$arm") || { echo "cikd_trial: unknown arm '$arm'" >&2; return 1; }
  [[ -n "$weight" ]] && flags="$flags --cikd_weight=$weight"
  name=$arm${weight:+-w$weight}-s$seed
  local out=$work/$name keep=$results/$name
  if [[ -f $keep/eval_report.json ]]; then
    echo "$name: done before, skipped"
    return 0
  fi
  mkdir -p "$out"
  local cmd="slimtrain --spec=$results --out=$out --steps=$steps --batch_size=16 --seed=$seed --data_seed=1 --extra_decoder_widths=1 --num_threads=1 --cikd_log_every=50 $flags"
  local t0=$SECONDS
  # shellcheck disable=SC2086
  "$bin"/$cmd 2>"$out/train.log" || { echo "$name: training failed, see $out/train.log" >&2; return 1; }
  local t1=$SECONDS
  "$bin"/slimeval --model_dir="$out" --num_images=512 --num_threads=1 \
    --write_profile=false --report="$out/eval_report.json" 2>"$out/eval.log" \
    || { echo "$name: slimeval failed, see $out/eval.log" >&2; return 1; }
  mkdir -p "$keep"
  cp "$out/eval_report.json" "$out/cikd_log.tsv" "$keep/"
  {
    echo "$cmd"
    grep '^trained ' "$out/train.log" || true
    echo "train ${steps} steps: $(( (t1 - t0) / 60 )) min, eval: $(( (SECONDS - t1) / 60 )) min, $(date -u +%F) on $(nproc) cores ($jobs runs at once)"
  } >"$keep/train.txt"
  echo "$name: done ($(( (SECONDS - t0) / 60 )) min)"
}
export -f one_run arm_flags
export steps work results bin jobs
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'one_run "$@"' _ {}
