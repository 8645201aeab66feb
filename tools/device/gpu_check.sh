#!/usr/bin/env bash
# The one command to run on the GPU machine (tools/device/README.md): unpacks
# tools/device/pack.sh's archive, builds the repository with Debian's Bazel
# (jlink-ed Java, Debian sysroot, the machine's CUDA toolkit and PyTorch's
# LibTorch) under --config=cuda, runs the kernels' CPU tests and
# //kernels:cuda_kernels_test on the GPU (and again under compute-sanitizer
# memcheck when the machine has it), and ends with "N passed, N failed".
#
# Usage, from the repository root:
#   tools/device/gpu_check.sh [PACK]    default PACK: devpack/slimserve-device.tar.xz
# Through the device tool:
#   run(command="tools/device/gpu_check.sh", carry=["devpack"], timeout_s=540)
# Results go to $OUT (default /tmp/slimserve-gpu-check): gpu_check.log (all
# output), env.txt, summary.txt, gpu_bench.txt, inference_benchmark.txt,
# gpu_serving.txt and logs.tar.gz (cuda_kernels_test.{xml,log}, memcheck.log, the engine tests'
# logs and XML, the latency profile).
# Environment knobs: CUDA_HOME (default: from nvcc on PATH, else
# /usr/local/cuda), SLIMSERVE_GPU_CHECK_JOBS (Bazel --jobs),
# SLIMSERVE_SANITIZE=0 to skip the memcheck run, SLIMSERVE_TEST_SEED to replay
# the GPU test's random inputs.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
pack=${1:-devpack/slimserve-device.tar.xz}
out=${OUT:-/tmp/slimserve-gpu-check}
mkdir -p "$out"
# Everything also goes to the log, which survives a timeout.
exec > >(tee "$out/gpu_check.log") 2>&1

start=$SECONDS
step() { echo "=== [$((SECONDS - start))s] $*"; }
die() { echo "gpu_check: ERROR: $*"; echo "0 passed, 1 failed"; exit 1; }

# --- unpack -----------------------------------------------------------------
[ -f "$pack" ] || die "no $pack: run tools/device/pack.sh here and carry its folder"
root=${SLIMSERVE_DEVICE_ROOT:-/tmp/slimserve-device-root}
step "unpacking $pack into $root"
rm -rf "$root/slimserve-device"
mkdir -p "$root"
tar -xJf "$pack" -C "$root" || die "could not unpack $pack"
d=$root/slimserve-device
sysroot=$d/sysroot/usr
# The device tool brings back at most 8 files from $OUT: the detailed logs
# go here and travel as one logs.tar.gz (written at the end).
logs=$root/logs
rm -rf "$logs" && mkdir -p "$logs"

# --- the machine ------------------------------------------------------------
if [ -z "${CUDA_HOME:-}" ]; then
  if command -v nvcc >/dev/null; then
    CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
  else
    CUDA_HOME=/usr/local/cuda
  fi
fi
torch_dir=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null || true)
{
  echo "date: $(date -u)"
  echo "uname: $(uname -a)"
  grep PRETTY_NAME /etc/os-release 2>/dev/null
  echo "glibc: $(ldd --version 2>&1 | head -1)"
  echo "gcc: $(gcc --version 2>&1 | head -1)"
  echo "CUDA_HOME: $CUDA_HOME"
  "$CUDA_HOME/bin/nvcc" --version 2>&1 | tail -2
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1
  echo "torch: $torch_dir"
  python3 -c 'import torch;print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1
  echo "nproc: $(nproc)"
  cat "$d/MANIFEST.txt"
} > "$out/env.txt" 2>&1
cat "$out/env.txt"

# --- Bazel --------------------------------------------------------------------
# Debian's /etc/bazel/bazelrc, spelled out (the machine has no /etc/bazel):
# its install base is the unpacked /usr/share/bazel, trusted as Debian does.
# The jlink-ed runtime runs the server; the output root stays under $root.
bazel_cmd=(
  "$d/bazel/usr/bin/bazel-4" --nosystem_rc --nohome_rc
  --install_base="$d/bazel/usr/share/bazel" --trust_install_base
  --server_javabase="$d/jre" --output_user_root="$root/bazel-root"
)
flags=(
  --config=cuda
  --host_javabase=@local_jdk//:jdk
  # WORKSPACE names Debian's rules_java by its /usr path.
  --override_repository=rules_java="$d/bazel/usr/share/bazel/rules/java"
  --repo_env=SLIMSERVE_SYSROOT="$sysroot"
  --repo_env=CUDA_HOME="$CUDA_HOME"
  # No sandbox: nothing here is shared, and a sandbox may not work in the
  # machine's VM; the CPU build machines keep checking the declared inputs.
  --spawn_strategy=local
  # DT_RPATH instead of RUNPATH: the sysroot's libraries then also find
  # their own dependencies in the sysroot, which this machine lacks.
  --linkopt=-Wl,--disable-new-dtags
)
# python3's torch: a CUDA LibTorch on the GPU machine (libtorch_cuda.so);
# in the dry run (tools/device/dry_run.sh) a CPU one in the wheel's layout,
# which builds and tests the engine but not its CUDA path.
torch_found=0
torch_cuda=0
if [ -n "$torch_dir" ] && [ -d "$torch_dir/include/ATen" ]; then
  torch_found=1
  flags+=(
    --repo_env=SLIMSERVE_TORCH_INCLUDE="$torch_dir/include"
    --repo_env=SLIMSERVE_TORCH_LIB="$torch_dir/lib"
  )
  if [ -e "$torch_dir/lib/libtorch_cuda.so" ]; then
    torch_cuda=1
    flags+=(--repo_env=SLIMSERVE_TORCH_CUDA=1)
  else
    echo "gpu_check: $torch_dir has no lib/libtorch_cuda.so: a CPU LibTorch; the engine's CUDA path and GPU tests are left out"
  fi
else
  echo "gpu_check: no LibTorch from python3's torch; //kernels does not need it"
fi
[ -n "${SLIMSERVE_GPU_CHECK_JOBS:-}" ] && flags+=(--jobs="$SLIMSERVE_GPU_CHECK_JOBS")
bazel() { "${bazel_cmd[@]}" "$@"; }

# (Debian's build has no version stamp: `bazel version` fails by design.)
step "bazel info release (starts the server on the jlink-ed Java)"
bazel info release || die "Bazel does not start"

# The GPU test (tag gpu) is built here and run on its own below.
step "bazel test --config=cuda //kernels/... (builds the GPU test too)"
bazel test "${flags[@]}" --keep_going --test_tag_filters=-gpu //kernels/...
bazel_rc=$?
testlogs=$(bazel info "${flags[@]}" bazel-testlogs 2>/dev/null)
bin=$(bazel info "${flags[@]}" bazel-bin 2>/dev/null)
# Query loads the BUILD files too (//tests:gpu.bzl loads @torch): it needs
# the repositories' settings.
query_flags=()
for f in "${flags[@]}"; do
  case "$f" in --repo_env=*|--override_repository=*) query_flags+=("$f") ;; esac
done
targets=$(bazel query "${query_flags[@]}" 'tests(//kernels/...) except attr(tags, "\bgpu\b", tests(//kernels/...))' 2>"$logs/query.log") \
  || { echo "gpu_check: bazel query failed:"; tail -5 "$logs/query.log"; }
cpu_line=$(python3 tools/count_tests.py "$testlogs" "$bazel_rc" $targets | tail -1)
# No targets found must not read as green.
[ -n "$targets" ] || cpu_line="0 passed, 1 failed (no test targets found)"
echo "bazel tests: $cpu_line"

# --- the GPU test -------------------------------------------------------------
gpu_test=$bin/kernels/cuda_kernels_test
gpu_rc=1
# SLIMSERVE_NO_GPU=1 (tools/device/dry_run.sh): the GPU test must build; it
# is not run.
no_gpu=${SLIMSERVE_NO_GPU:-0}
if [ "$no_gpu" = 1 ]; then
  if [ -x "$gpu_test" ]; then gpu_rc=0; echo "gpu_check: $gpu_test built (not run: SLIMSERVE_NO_GPU=1)"; else echo "gpu_check: $gpu_test was not built"; fi
elif [ -x "$gpu_test" ]; then
  step "cuda_kernels_test"
  "$gpu_test" --gtest_output="xml:$logs/cuda_kernels_test.xml" 2>&1 \
    | tee "$logs/cuda_kernels_test.log"
  gpu_rc=${PIPESTATUS[0]}
else
  echo "gpu_check: $gpu_test was not built"
fi

memcheck="not run"
sanitizer=$(command -v compute-sanitizer || ls "$CUDA_HOME/bin/compute-sanitizer" 2>/dev/null || true)
if [ "$no_gpu" != 1 ] && [ "${SLIMSERVE_SANITIZE:-1}" != 0 ] && [ -n "$sanitizer" ] && [ -x "$gpu_test" ]; then
  step "cuda_kernels_test under compute-sanitizer memcheck"
  # The 2^28-element test is left out: memcheck would take minutes on it.
  "$sanitizer" --tool memcheck --error-exitcode 86 "$gpu_test" \
    --gtest_filter=-*GridStride* > "$logs/memcheck.log" 2>&1
  mc_rc=$?
  tail -5 "$logs/memcheck.log"
  if [ $mc_rc -eq 0 ]; then
    memcheck="clean"
  elif [ $mc_rc -eq 86 ]; then
    memcheck="ERRORS (see memcheck.log)"
  else
    # E.g. "Device not supported" on some VM runtimes (KINDS.md).
    memcheck="unavailable or test failure, exit $mc_rc (see memcheck.log)"
  fi
fi

# --- the engine on python3's LibTorch, and the GPU benchmark ---------------------
# Needs the machine's LibTorch (torch_found above; the GPU tests and the
# benchmark a CUDA one). Its tests count in the last line; the benchmark's
# results go to $OUT.
engine_line="not run (no LibTorch from python3's torch)"
if [ "$torch_found" = 1 ]; then
  step "engine tests against python3's LibTorch (CUDA: $torch_cuda; --device=cuda is accepted with CUDA)"
  engine_tests=(//engine:engine_test //engine/runtime:supernet_test //engine/runtime:inference_net_test //engine/runtime:torch_runner_test)
  bazel test "${flags[@]}" --keep_going "${engine_tests[@]}" \
    > "$logs/engine_tests.log" 2>&1
  engine_rc=$?
  tail -5 "$logs/engine_tests.log"
  engine_line=$(python3 tools/count_tests.py "$testlogs" "$engine_rc" \
    "${engine_tests[@]}" | tail -1)
  cp "$testlogs"/engine/engine_test/test.log "$logs/engine_test.log" 2>/dev/null
  # The GPU tests of the engine (tests/gpu.bzl): the network on CUDA vs
  # the CPU supernet (tolerances in engine/runtime/inference_net_gpu_test.cc)
  # the CUDA executor (graphs, pinned staging, lanes) vs the plain one, and
  # the server over gRPC on CUDA vs the server on the CPU.
  gpu_net_line="not run (a CPU LibTorch)"
  if [ "$torch_cuda" = 1 ]; then
  step "engine GPU tests: inference_net_gpu_test, cuda_executor_gpu_test, e2e cuda_test"
  gpu_engine_tests=(//engine/runtime:inference_net_gpu_test //engine/runtime:cuda_executor_gpu_test //tests/e2e:cuda_test)
  bazel test "${flags[@]}" --keep_going "${gpu_engine_tests[@]}" \
    > "$logs/gpu_engine_tests.log" 2>&1
  gpu_net_rc=$?
  tail -5 "$logs/gpu_engine_tests.log"
  for t in engine/runtime/inference_net_gpu_test engine/runtime/cuda_executor_gpu_test tests/e2e/cuda_test; do
    cp "$testlogs/$t/test.xml" "$logs/$(basename $t).xml" 2>/dev/null
    cp "$testlogs/$t/test.log" "$logs/$(basename $t).log" 2>/dev/null
  done
  gpu_net_line=$(python3 tools/count_tests.py "$testlogs" "$gpu_net_rc" \
    "${gpu_engine_tests[@]}" | tail -1)
  fi
  if [ "$torch_cuda" = 1 ] && [ "${SLIMSERVE_GPU_BENCH:-1}" != 0 ] &&
     bazel build "${flags[@]}" //tools:make_model //tools:slimprofile \
       //engine/runtime:inference_benchmark > "$logs/bench_build.log" 2>&1; then
    step "GPU benchmark: models/gpu_bench (480x640, ResNet-34-like, random weights)"
    bench=$root/gpu_bench
    "$bin/tools/make_model" --spec=models/gpu_bench --seed=1 --out="$bench" \
      >> "$logs/bench_build.log" 2>&1
    # Every network variant (sliced/folded, NCHW/NHWC, f32/bf16/f16) at
    # batch 1, 8, 32, widths 0.25 and 1 (engine/runtime/PERFORMANCE.md's table).
    # of_peak: against 989 TFLOP/s, the H100/H200 SXM dense float16/bfloat16
    # tensor-core peak (float32 runs as TF32: half that).
    SLIMSERVE_BENCH_DEVICE=cuda SLIMSERVE_BENCH_MODEL_DIR="$bench" \
      SLIMSERVE_BENCH_PEAK_TFLOPS=${SLIMSERVE_BENCH_PEAK_TFLOPS:-989} \
      "$bin/engine/runtime/inference_benchmark" --benchmark_min_time=0.2 2>&1 \
      | tee "$out/inference_benchmark.txt"
    # Every configuration, serving default and float16.
    for precision in float32 float16; do
      "$bin/tools/slimprofile" --model_dir="$bench" --device=cuda \
        --precision=$precision \
        --batch_sizes="${SLIMSERVE_GPU_BENCH_BATCHES:-1,8,32}" --repetitions=10 \
        --out="$logs/gpu_bench_latency_$precision.textproto" 2>&1 \
        | tee -a "$out/gpu_bench.txt"
    done
    # Serving under the mixed workload (tools/bench_serving.sh: budgets
    # 0.25/0.5/1, random task weights, 480x640 PNGs, concurrency 16):
    # slimserve as shipped vs the supernet eager at batch size 1. Last, as
    # the longest step: a timeout still returns everything above.
    if [ "${SLIMSERVE_GPU_SERVING:-1}" != 0 ] &&
       bazel build "${flags[@]}" //server:slimserve //client:slimbench \
         > "$logs/serving_build.log" 2>&1; then
      step "serving on the GPU: slimserve vs eager batch 1 (gpu_serving.txt)"
      for run in "8|--device=cuda" \
                 "1|--device=cuda --weights=sliced --nochannels_last"; do
        echo "--- max_batch_size=${run%%|*} flags: ${run#*|}" \
          | tee -a "$out/gpu_serving.txt"
        SLIMSERVE_BIN="$bin" SLIMSERVE_BENCH_MODEL_DIR="$bench" \
          SLIMSERVE_SERVER_FLAGS="${run#*|}" \
          tools/bench_serving.sh "${run%%|*}" closed 16 2>&1 \
          | tee -a "$out/gpu_serving.txt"
      done
    fi
  fi
fi

# --- summary --------------------------------------------------------------------
read -r cpu_pass cpu_fail < <(echo "$cpu_line" | awk '{print $1, $3}')
if [ "$no_gpu" = 1 ]; then
  gpu_pass=0
  gpu_fail=$gpu_rc  # 1 if it did not build
else
read -r gpu_pass gpu_fail < <(python3 - "$logs/cuda_kernels_test.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1)  # no XML: the test did not run or crashed
    sys.exit()
cases = list(root.iter("testcase"))
bad = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
print(len(cases) - bad, max(bad, 1 if not cases else 0))
PY
)
[ "$gpu_rc" -ne 0 ] && [ "${gpu_fail:-0}" -eq 0 ] && gpu_fail=1
fi
passed=$((${cpu_pass:-0} + ${gpu_pass:-0}))
failed=$((${cpu_fail:-1} + ${gpu_fail:-1}))
[[ $memcheck == ERRORS* ]] && failed=$((failed + 1))
# The engine's tests count too (on the GPU machine and in the dry run alike).
if [[ $engine_line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
  passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
fi
if [[ ${gpu_net_line:-} =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
  passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
fi
{
  echo "gpu_check summary ($((SECONDS - start))s)"
  echo "  bazel test --config=cuda //kernels/...: $cpu_line"
  if [ "$no_gpu" = 1 ]; then
    echo "  cuda_kernels_test: $([ "$gpu_rc" = 0 ] && echo built || echo NOT BUILT), not run (SLIMSERVE_NO_GPU=1)"
  else
    echo "  cuda_kernels_test on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1): ${gpu_pass:-0} passed, ${gpu_fail:-1} failed (exit $gpu_rc)"
  fi
  echo "  compute-sanitizer memcheck: $memcheck"
  echo "  engine tests on python3's LibTorch (CUDA: $torch_cuda): $engine_line (gpu_bench.txt: the benchmark)"
  echo "  engine GPU tests (inference_net_gpu_test, cuda_executor_gpu_test, e2e cuda_test): ${gpu_net_line:-not run}"
  echo "$passed passed, $failed failed"
} | tee "$out/summary.txt"
bazel shutdown >/dev/null 2>&1
tar -czf "$out/logs.tar.gz" -C "$logs" . 2>/dev/null
[ "$failed" -eq 0 ]
