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

# Only the tests need these (tests/ops): Prometheus and promtool, the Python
# client (stubs from protoc + grpc_python_plugin of protobuf-compiler-grpc;
# python3-grpc-tools, a 2018 grpcio-tools, is not needed) and PyYAML;
# numpy, Pillow, venv and setuptools for the installed Python package
# (tests/ops/python_package_test); podman and runc build and run the
# runtime image (tests/ops/image_test; runc because crun refuses the hybrid
# cgroups of some VMs).
SLIMSERVE_TEST_PACKAGES=(
  prometheus python3-grpcio python3-protobuf python3-yaml
  python3-numpy python3-pil python3-venv python3-setuptools
  podman runc
)

# Test tools installed only when their command is missing, so a Node.js from
# elsewhere does too (NodeSource's nodejs bundles npm and conflicts with
# Debian's npm; a kubectl from elsewhere, such as Google Cloud SDK's, is
# used as it is); Chromium (Debian's) for the page test, tests/ops/web_test.
# npm packages: slimserve_node_modules.
SLIMSERVE_TEST_COMMANDS=(node:nodejs npm:npm kubectl:kubernetes-client
  chromium:chromium)

# Prints the packages of the arguments that are not installed.
slimserve_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || echo "$p"
  done
}

slimserve_missing_packages() {
  slimserve_missing "${SLIMSERVE_PACKAGES[@]}"
}

slimserve_missing_test_packages() {
  local entry
  slimserve_missing "${SLIMSERVE_TEST_PACKAGES[@]}"
  for entry in "${SLIMSERVE_TEST_COMMANDS[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || echo "${entry#*:}"
  done
}

# apt-get install of the arguments (none: nothing to do).
slimserve_apt_install() {
  [ $# -eq 0 ] && return 0
  echo "setup: installing:" "$@" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

slimserve_install_packages() {
  # shellcheck disable=SC2046
  slimserve_apt_install $(slimserve_missing_packages)
}

slimserve_install_test_packages() {
  local missing
  missing=$(slimserve_missing_test_packages)
  # shellcheck disable=SC2086
  slimserve_apt_install $missing || return 1
  # On a machine with systemd, installing Debian's prometheus starts a
  # Prometheus server on :9090, slimserve's default metrics port; the tests
  # start Prometheus themselves. Stop the one this installed (only that one).
  if [[ " $missing " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo systemctl disable --now prometheus >&2 || true
  fi
}

# The npm packages of the Node client (client/node), of the offline
# Kubernetes schema check (tests/ops/k8s_schema), of buf (tools/buf) and of
# the browser test (puppeteer-core, tests/ops/web), each from its
# package-lock.json into its node_modules with `npm ci`; skipped
# where that lock file is what is installed already. Needs the npm registry the first
# time.
slimserve_node_modules() {
  local root dir
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  for dir in "$root/client/node" "$root/tests/ops/k8s_schema" "$root/tools/buf" \
      "$root/tests/ops/web"; do
    local stamp="$dir/node_modules/.slimserve-installed-lock"
    cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null && continue
    echo "setup: npm ci in ${dir#"$root"/}" >&2
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2 \
      || return 1
    cp "$dir/package-lock.json" "$stamp"
  done
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
  slimserve_install_test_packages
fi
