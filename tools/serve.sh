#!/usr/bin/env bash
# Builds and starts the slimserve server on the shipped default model.
# Usage (from anywhere, as root on Debian 12): tools/serve.sh [server flags]
#   e.g. tools/serve.sh --address=0.0.0.0:50051 --max_batch_size=4
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/setup.sh
slimserve_install_packages
slimserve_bazel build //server:slimserve //client:slimctl
# The try-it page on :8080 (loopback only; --http_address= turns it off,
# --http_address=0.0.0.0:8080 opens it to the network).
exec bazel-bin/server/slimserve --model_dir=models/default \
    --http_address=127.0.0.1:8080 "$@"
