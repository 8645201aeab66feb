#!/usr/bin/env bash
# Runs one Python test file of tests/ops with Debian's python3, which has
# python3-grpcio, python3-protobuf and python3-yaml (tools/setup.sh installs
# them). Bazel 4's py_test would need a `python` on PATH and would not see
# Debian's packages from another interpreter, hence this wrapper.
# Usage (from an sh_test): run_py_test.sh tests/ops/some_test.py
set -euo pipefail
root="$TEST_SRCDIR/$TEST_WORKSPACE"
# Generated stubs and sources meet in the runfiles tree.
export PYTHONPATH="$root/client/python:$root/tests/ops"
export PYTHONDONTWRITEBYTECODE=1
# The tests start servers and tools with subprocess (fork, then exec at
# once) and never run gRPC in a forked child, so grpcio's fork handlers have
# nothing to do; racing a channel's threads, they once hung replicas_test.
# GRPC_ENABLE_FORK_SUPPORT=false is gRPC's documented switch for
# fork-then-exec (doc/fork_support.md).
export GRPC_ENABLE_FORK_SUPPORT=false
exec /usr/bin/python3 "$root/$1"
