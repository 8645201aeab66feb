#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang-14, ASan and UBSan
# (--config=fuzz, in an output base of its own so the main build's stays
# as it is) and runs each for SECONDS (default 60) on a copy of its
# committed corpus, 2 jobs at a time. Inputs that crash are left in
# $SLIMSERVE_FUZZ_OUT (default /tmp/slimserve-fuzz) as crash-*; new corpus
# entries go to $SLIMSERVE_FUZZ_OUT/<target>/corpus (copy the interesting
# ones, and every crash once fixed, into tests/fuzz/corpus/<target>/, where
# the *_regression tests replay them in every build).
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]   (targets: image_fuzzer
# request_fuzzer package_fuzzer rest_fuzzer)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(image_fuzzer request_fuzzer package_fuzzer rest_fuzzer)
out=${SLIMSERVE_FUZZ_OUT:-/tmp/slimserve-fuzz}
command -v clang-14 >/dev/null || slimserve_apt_install clang-14
base="$HOME/.cache/slimserve-fuzz-base"
labels=()
for t in "${targets[@]}"; do labels+=("//tests/fuzz:$t"); done
bazel --output_base="$base" build --config=fuzz --symlink_prefix=/ \
  --disk_cache="${SLIMSERVE_BAZEL_CACHE:-$HOME/.cache/slimserve-bazel}" \
  "${labels[@]}" 2>&1 | grep -v 'linux-sandbox'
bin=$(bazel --output_base="$base" info --config=fuzz bazel-bin 2>/dev/null)
status=0
for t in "${targets[@]}"; do
  mkdir -p "$out/$t/corpus"
  cp -n tests/fuzz/corpus/"$t"/* "$out/$t/corpus/" 2>/dev/null || true
  echo "== $t: ${seconds} s"
  # -rss_limit_mb: ASan's shadow plus the engine; -max_len: a few images.
  if ! (cd "$out/$t" && "$bin/tests/fuzz/$t" corpus \
        -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 \
        -timeout=30 -print_final_stats=1 2>&1 | tail -25); then
    status=1
  fi
  ls "$out/$t"/crash-* "$out/$t"/timeout-* "$out/$t"/leak-* 2>/dev/null \
    && status=1 || true
done
exit $status
