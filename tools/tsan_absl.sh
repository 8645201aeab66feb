#!/usr/bin/env bash
# Builds Abseil with ThreadSanitizer from Debian's own source package (the
# version and patches of the installed libabsl20220623, so the SONAMEs and
# the ABI match) into ~/.cache/slimserve-tsan-absl (or $1); prints the
# library directory. Idempotent: a finished build is reused. Needs the
# Debian mirror's deb-src (added here if missing), cmake and g++.
# Used by tools/sanitize.sh --tsan.
set -euo pipefail
prefix=${1:-$HOME/.cache/slimserve-tsan-absl}
if [ -f "$prefix/.slimserve-built" ]; then
  echo "$prefix/lib"
  exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
if ! grep -rqs "^Types: deb-src" /etc/apt/sources.list.d/ &&
   ! grep -qs "^deb-src" /etc/apt/sources.list; then
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
    $sudo tee /etc/apt/sources.list.d/slimserve-deb-src.sources >/dev/null
  $sudo apt-get update -qq >&2
fi
command -v cmake >/dev/null || DEBIAN_FRONTEND=noninteractive \
  $sudo apt-get install -y -qq --no-install-recommends cmake dpkg-dev >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$(dpkg-query -W -f='${source:Version}' libabsl20220623)
(cd "$work" && apt-get source -qq --download-only "abseil=$version" >&2 &&
  dpkg-source -x --no-check ./*.dsc src >&2)
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1 -g" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
  -DCMAKE_INSTALL_PREFIX="$prefix" >&2
cmake --build "$work/build" -j"$(nproc)" >&2
cmake --install "$work/build" >&2
touch "$prefix/.slimserve-built"
echo "$prefix/lib"
