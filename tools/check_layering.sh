#!/usr/bin/env bash
# Checks that the server sees only the engine's facade, the way Bazel
# enforces it (BUILD visibility, and sandboxed compiles that hold only the
# headers of a target's dependencies):
#   1. no library or test in //server depends, even transitively, on an
#      engine target other than //engine:engine and //engine:types (the
#      engine's implementation is linked into the binary only);
#   2. a probe library with a server library's dependencies builds when it
#      includes engine/engine.h ...
#   3. ... and fails to compile when it includes an internal header;
#   4. a probe that depends on an engine room fails visibility.
# Usage: tools/check_layering.sh [JUNIT_OUT]. Prints one line per check and
# writes them as JUnit XML to JUNIT_OUT when given (tools/test.sh counts
# them). Exit status 0 only if every check passes.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
set +e
out=${1:-}
probes=//server/testdata/layering
log=$(mktemp)
trap 'rm -f "$log"' EXIT
names=() results=() details=()

record() {  # name, 0/1, detail
  names+=("$1") results+=("$2") details+=("$3")
  if [ "$2" = 0 ]; then echo "layering: PASS $1"; else echo "layering: FAIL $1: $3"; fi
}

engine_deps=$(bazel query --noshow_progress \
  'deps(kind("cc_library|cc_test", //server:*)) intersect //engine/...' 2>"$log" | sort)
if [ $? -ne 0 ]; then
  record server_deps_are_the_facade 1 "bazel query failed: $(tail -3 "$log")"
elif [ "$engine_deps" = $'//engine:engine\n//engine:types' ]; then
  record server_deps_are_the_facade 0 ""
else
  record server_deps_are_the_facade 1 "server libraries reach: $(echo $engine_deps)"
fi

if slimserve_bazel build --noshow_progress "$probes:facade_only" >"$log" 2>&1; then
  record facade_builds 0 ""
else
  record facade_builds 1 "$(grep -m3 -E 'error|ERROR' "$log")"
fi

# expect_failure NAME TARGET PATTERN WHAT: building TARGET must fail, with
# PATTERN in its log (so that it failed for the reason checked).
expect_failure() {
  if slimserve_bazel build --noshow_progress "$2" >"$log" 2>&1; then
    record "$1" 1 "$4 was allowed"
  elif grep -q "$3" "$log"; then
    record "$1" 0 ""
  else
    record "$1" 1 "failed for another reason: $(grep -m3 -E 'error|ERROR' "$log")"
  fi
}
expect_failure internal_include_fails "$probes:includes_internal" \
  'engine/planning/planner.h' "a server-side include of engine/planning/planner.h"
expect_failure internal_dependency_fails "$probes:depends_on_internal" \
  'is not visible' "a server-side dependency on //engine/planning"

failed=0
for r in "${results[@]}"; do failed=$((failed + r)); done
if [ -n "$out" ]; then
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo "<testsuites><testsuite name=\"layering\" tests=\"${#names[@]}\" failures=\"$failed\">"
    for i in "${!names[@]}"; do
      echo -n "<testcase classname=\"layering\" name=\"${names[$i]}\">"
      if [ "${results[$i]}" != 0 ]; then
        printf '<failure message="%s"/>' "$(echo "${details[$i]}" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/"/\&quot;/g')"
      fi
      echo "</testcase>"
    done
    echo "</testsuite></testsuites>"
  } >"$out"
fi
[ "$failed" = 0 ]
