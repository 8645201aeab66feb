#!/usr/bin/env bash
# Builds and runs every test, then prints "N passed, N failed" (test cases,
# counted from the JUnit XML Bazel writes). Exit status 0 only if all pass.
# Usage (from anywhere, as root on Debian 12): tools/test.sh [bazel test args]
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
# setup.sh turns on errexit; here a failing test must not stop the count.
set +e
slimserve_install_packages || exit 1
slimserve_install_test_packages || exit 1
# Without them only the Node client and k8s schema tests fail (they say
# why); run the rest.
slimserve_node_modules \
  || echo "setup: npm ci failed; //tests/ops:clients_test and deploy_test will fail" >&2

slimserve_bazel test //... --keep_going "$@" 2>&1 | grep -v 'linux-sandbox'
bazel_rc=${PIPESTATUS[0]}

# The server must see only the engine's facade: checks that need bazel
# itself (a build that must fail), so they run here, not as a bazel test.
layering_xml=$(mktemp --suffix=.xml)
trap 'rm -f "$layering_xml"' EXIT
tools/check_layering.sh "$layering_xml"

# Count only the test targets that exist now, not stale logs of removed ones.
# GPU tests (tests/gpu.bzl, tag "gpu") build only under --config=cuda; here
# `bazel test` skipped them as incompatible: say so, do not count them.
gpu_tests=$(bazel query 'attr(tags, "\bgpu\b", tests(//...))' 2>/dev/null)
if [ -n "$gpu_tests" ] && [[ " $* " != *" --config=cuda "* ]]; then
  echo "skipped, need a GPU and --config=cuda (tools/device/gpu_check.sh runs them):" $gpu_tests
  targets=$(bazel query 'tests(//...) except attr(tags, "\bgpu\b", tests(//...))' 2>/dev/null)
else
  targets=$(bazel query 'tests(//...)' 2>/dev/null)
fi
python3 tools/count_tests.py --junit "$layering_xml" bazel-testlogs "$bazel_rc" $targets
