#!/usr/bin/env bash
# Installs the Debian 12 packages slimserve builds and tests with. Idempotent:
# when everything is already installed it only runs dpkg-query (fast).
# Sourced by tools/serve.sh and tools/test.sh; usable alone as root.
set -euo pipefail

SLIMSERVE_PACKAGES=(
  g++ python3 ca-certificates
  bazel-bootstrap bazel-rules-java
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  libabsl-dev libtorch-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libpng-dev libturbojpeg0-dev
)

slimserve_missing_packages() {
  local p
  for p in "${SLIMSERVE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || echo "$p"
  done
}

slimserve_install_packages() {
  local missing
  missing=$(slimserve_missing_packages)
  [ -z "$missing" ] && return 0
  echo "setup: installing:" $missing >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >&2
}

# Bazel with the shared disk cache: a fresh clone on the same machine reuses
# what any earlier build produced.
slimserve_bazel() {
  local cache="${SLIMSERVE_BAZEL_CACHE:-$HOME/.cache/slimserve-bazel}"
  mkdir -p "$cache"
  local cmd=$1
  shift
  bazel "$cmd" --disk_cache="$cache" "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  slimserve_install_packages
fi
