#!/usr/bin/env bash
# Runs the test suite (or the given targets) built with ASan + LSan + UBSan
# (--config=asan, .bazelrc), in an output base of its own so the main
# build's stays as it is; prints "N passed, N failed" like tools/test.sh.
# A slow build: every C++ file again, at -O1 with instrumentation.
# Usage: tools/sanitize.sh [TARGET...]   (default: every package)
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
set +e
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # Every package but the bazel-* symlinks of the main output base, which
  # another output base does not know to skip.
  for dir in */; do
    case "$dir" in bazel-*) continue ;; esac
    [ -n "$(find "$dir" -name BUILD -print -quit)" ] && targets+=("//${dir%/}/...")
  done
  [ -f BUILD ] && targets+=("//:all")
fi
base="$HOME/.cache/slimserve-asan-base"
# Tests tagged no_sanitizer measure memory, which ASan's quarantine of
# freed blocks inflates by design; LeakSanitizer skips the leaks of the
# libraries listed in tools/lsan.supp.
bazel --output_base="$base" test --config=asan --keep_going --symlink_prefix=/ \
  --test_tag_filters=-no_sanitizer \
  --test_env=LSAN_OPTIONS="suppressions=$PWD/tools/lsan.supp:print_suppressions=0" \
  --disk_cache="${SLIMSERVE_BAZEL_CACHE:-$HOME/.cache/slimserve-bazel}" \
  "${targets[@]}" 2>&1 | grep -v 'linux-sandbox'
rc=${PIPESTATUS[0]}
logs=$(bazel --output_base="$base" info --config=asan bazel-testlogs 2>/dev/null)
all="tests(set(${targets[*]}))"
tests=$(bazel --output_base="$base" query \
  "$all except attr(tags, no_sanitizer, $all)" 2>/dev/null)
python3 tools/count_tests.py "$logs" "$rc" $tests
