#!/usr/bin/env bash
# Runs the test suite (or the given targets) built with ASan + LSan + UBSan
# (--config=asan, .bazelrc), in an output base of its own so the main
# build's stays as it is; prints "N passed, N failed" like tools/test.sh.
# A slow build: every C++ file again, at -O1 with instrumentation.
# Usage: tools/sanitize.sh [TARGET...]   (default: every package)
#        tools/sanitize.sh --tsan [TARGET...]
#   ThreadSanitizer (--config=tsan) with an instrumented Abseil
#   (tools/tsan_absl.sh, built once, ~15 min); default: every C++ test that
#   does not link LibTorch (scheduler, engine with the fake runner, stages,
#   metrics, ...) and the gRPC transport tests that run on the fake runner.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
set +e
config=asan
extra=(--test_tag_filters=-no_sanitizer
  --test_env=LSAN_OPTIONS="suppressions=$PWD/tools/lsan.supp:print_suppressions=0")
if [ "${1:-}" = "--tsan" ]; then
  shift
  config=tsan
  absl_lib=$(tools/tsan_absl.sh) || exit 1
  # Protobuf's map fields as Debian's uninstrumented libprotobuf lays them
  # out (tools/tsan_protobuf_abi.h says why), force-included into every
  # file. From /usr/local/include, a directory of the compiler's own, so
  # that Bazel's inclusion check lets every action read it undeclared.
  abi_header=/usr/local/include/slimserve-tsan/protobuf_abi.h
  if ! cmp -s tools/tsan_protobuf_abi.h "$abi_header"; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo install -D -m 644 tools/tsan_protobuf_abi.h "$abi_header" || exit 1
  fi
  extra=(--test_tag_filters=-no_sanitizer
    --copt=-include --copt="$abi_header"
    --test_env=LD_LIBRARY_PATH="$absl_lib"
    --test_env=TSAN_OPTIONS="suppressions=$PWD/tools/tsan.supp:halt_on_error=1:second_deadlock_stack=1:history_size=4")
fi
base="$HOME/.cache/slimserve-$config-base"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # Every package but the bazel-* symlinks of the main output base, which
  # another output base does not know to skip.
  for dir in */; do
    case "$dir" in bazel-*) continue ;; esac
    [ -n "$(find "$dir" -name BUILD -print -quit)" ] && targets+=("//${dir%/}/...")
  done
  [ -f BUILD ] && targets+=("//:all")
  if [ $config = tsan ]; then
    # C++ tests without LibTorch, and the transport tests on the fake
    # runner (they link LibTorch but never run it).
    packages="set(${targets[*]})"
    mapfile -t targets < <(bazel --output_base="$base" query \
      "kind(cc_test, tests($packages)) except rdeps($packages, @torch//:torch)" \
      2>/dev/null)
    targets+=(//tests/e2e:faults_test //tests/e2e:stream_test //tests/e2e:http_test)
  fi
fi
# Tests tagged no_sanitizer measure memory, which ASan's quarantine of
# freed blocks inflates by design; LeakSanitizer skips the leaks of the
# libraries listed in tools/lsan.supp.
bazel --output_base="$base" test --config=$config --keep_going --symlink_prefix=/ \
  "${extra[@]}" \
  --disk_cache="${SLIMSERVE_BAZEL_CACHE:-$HOME/.cache/slimserve-bazel}" \
  "${targets[@]}" 2>&1 | grep -v 'linux-sandbox'
rc=${PIPESTATUS[0]}
logs=$(bazel --output_base="$base" info --config=$config bazel-testlogs 2>/dev/null)
all="tests(set(${targets[*]}))"
tests=$(bazel --output_base="$base" query \
  "$all except attr(tags, no_sanitizer, $all)" 2>/dev/null)
python3 tools/count_tests.py "$logs" "$rc" $tests
