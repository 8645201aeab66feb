#!/usr/bin/env bash
# Builds slimserve's runtime image with podman (or buildah): the rootfs from
# build_rootfs.sh, then the Containerfile. Offline: FROM scratch, nothing
# downloaded.
# Usage: deploy/image/build.sh [TAG]    (default localhost/slimserve:0.1.0,
# what deploy/k8s/deployment.yaml names). Builds //server:slimserve and
# //client:slimctl first. Push it with `podman push TAG registry/...`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tag=${1:-localhost/slimserve:0.1.0}
builder=$(command -v podman || command -v buildah || true)
if [ -z "$builder" ]; then
  echo "$0: needs podman or buildah (Debian: apt-get install podman)" >&2
  exit 1
fi
cd "$root"
source tools/setup.sh
slimserve_bazel build //server:slimserve //client:slimctl
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
deploy/image/build_rootfs.sh "$context/rootfs"
# Docker format: OCI images have no HEALTHCHECK.
"$builder" build --format docker -f deploy/image/Containerfile -t "$tag" "$context"
"$builder" image inspect --format '{{.Size}}' "$tag" |
  awk -v t="$tag" '{printf "%s: %.0f MB\n", t, $1 / 1e6}'
