#!/usr/bin/env bash
# Packs what the GPU machine lacks to run this repository's Bazel build into
# one tar.xz (see tools/device/README.md):
#   jre/      a jlink-ed Java 17 runtime for the Bazel server;
#   bazel/    Debian's Bazel 4.2.3 (bazel-bootstrap, bazel-bootstrap-data,
#             bazel-rules-java), as `dpkg -x` leaves it under usr/;
#   sysroot/  Debian's gRPC, protobuf, Abseil, prometheus-cpp, GoogleTest,
#             Google Benchmark, libpng and libturbojpeg headers and
#             libraries, plus every shared library they (and Bazel's own
#             binaries) need that is not glibc or the GCC runtime; the layout
#             third_party/sysroot.bzl expects for --repo_env=SLIMSERVE_SYSROOT.
# Debian's binaries in it (bazel-4, process-wrapper, linux-sandbox, protoc,
# grpc_cpp_plugin) get an $ORIGIN-relative DT_RPATH into sysroot/, so they run
# on a machine without those libraries and without LD_LIBRARY_PATH.
#
# Usage (on a Debian 12 build machine with tools/setup.sh's packages):
#   tools/device/pack.sh [OUT_DIR]      default OUT_DIR: <repo>/devpack
# Writes OUT_DIR/slimserve-device.tar.xz and OUT_DIR/MANIFEST.txt, and adds
# OUT_DIR to .git/info/exclude when it is inside the repository (it travels to
# the GPU machine through the device tool's `carry`, never through git).
# Fails if the archive exceeds SLIMSERVE_PACK_LIMIT_MIB (default 56: the GPU
# machine takes 64 MiB in all, the source tree included).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-$repo/devpack}
limit_mib=${SLIMSERVE_PACK_LIMIT_MIB:-56}
multiarch=x86_64-linux-gnu
jdk=${SLIMSERVE_PACK_JDK:-/usr/lib/jvm/java-17-openjdk-amd64}

work=$(mktemp -d /tmp/slimserve-pack.XXXXXX)
trap 'rm -rf "$work"' EXIT
stage=$work/slimserve-device
debs=$work/debs
mkdir -p "$stage/sysroot" "$stage/bazel" "$debs"

log() { echo "pack: $*" >&2; }

# The -dev packages whose headers and link-time libraries third_party/
# sysroot.bzl declares (its _SYS_HEADERS and _SYS_LIBS), and the code
# generators //proto runs. The shared libraries they need are added below.
SYSROOT_PACKAGES=(
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc
  libprotobuf-dev protobuf-compiler
  libabsl-dev
  prometheus-cpp-dev
  libgtest-dev libgmock-dev
  libbenchmark-dev
  libpng-dev
  libturbojpeg0-dev
  # Link-time symlinks (libX.so) for sysroot.bzl's -lre2 -lcares -lssl
  # -lcrypto -lz.
  libre2-dev libc-ares-dev libssl-dev zlib1g-dev
)
BAZEL_PACKAGES=(bazel-bootstrap bazel-bootstrap-data bazel-rules-java)

# glibc and the GCC runtime: every Linux machine has them, and a second copy
# would fight the system's.
declare -A CORE_LIBS=()
for so in linux-vdso.so.1 ld-linux-x86-64.so.2 libc.so.6 libm.so.6 \
    libpthread.so.0 libdl.so.2 librt.so.1 libresolv.so.2 libutil.so.1 \
    libanl.so.1 libstdc++.so.6 libgcc_s.so.1; do
  CORE_LIBS[$so]=1
done

declare -A packed=()   # package -> version
manifest=$work/MANIFEST.txt

# Downloads the installed version of a package (the one the build here was
# tested with) into $debs, from apt's cache when it is there, and records it.
# Sets FETCHED (not echoed: `packed` must be updated in this shell).
fetch_deb() {
  local pkg=$1 version arch deb
  version=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
  arch=$(dpkg-query -W -f='${Architecture}' "$pkg" 2>/dev/null || true)
  if [ -z "$version" ]; then
    version=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
    arch=$(apt-cache show "$pkg=$version" | awk '/^Architecture:/ {print $2; exit}')
  fi
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    log "ERROR: no version of $pkg"
    return 1
  fi
  deb="${pkg}_${version//:/%3a}_${arch}.deb"
  if [ -f "/var/cache/apt/archives/$deb" ]; then
    cp "/var/cache/apt/archives/$deb" "$debs/$deb"
  elif [ ! -f "$debs/$deb" ] &&
       ! (cd "$debs" && apt-get download -q "$pkg=$version") >&2; then
    # The archive no longer has the installed version (a security update
    # replaced it): take the candidate, same ABI within a Debian release.
    version=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
    log "WARNING: $pkg: installed version not downloadable, packing $version"
    deb="${pkg}_${version//:/%3a}_${arch}.deb"
    (cd "$debs" && apt-get download -q "$pkg=$version") >&2
    version="$version (installed here: $(dpkg-query -W -f='${Version}' "$pkg"))"
  fi
  packed[$pkg]=$version
  FETCHED=$debs/$deb
}

# dpkg -x PKG into DIR, then merges DIR/lib/<multiarch> (Debian ships some
# libraries under /lib) into DIR/usr/lib/<multiarch>.
extract() {
  local pkg=$1 dir=$2
  [ -n "${packed[$pkg]:-}" ] && return 0
  fetch_deb "$pkg"
  dpkg -x "$FETCHED" "$dir"
  if [ -d "$dir/lib/$multiarch" ]; then
    mkdir -p "$dir/usr/lib/$multiarch"
    cp -a "$dir/lib/$multiarch/." "$dir/usr/lib/$multiarch/"
    rm -rf "$dir/lib"
  fi
}

# Absolute symlinks (libz.so -> /lib/.../libz.so.1.2.13) point at the host;
# make them relative to their own directory.
relativize_links() {
  local dir=$1 link target
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    if [[ $target == /* ]]; then
      ln -sfn "$(basename "$target")" "$link"
    fi
  done < <(find "$dir" -type l -print0)
}

is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }

# Sonames the ELF files under the arguments need, one a line.
needed_sonames() {
  local f
  find "$@" -type f 2>/dev/null | while IFS= read -r f; do
    is_elf "$f" || continue
    readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
  done | sort -u
}

# The Debian package that installed the library file NAME (a soname or a
# file name) on this machine. dpkg knows each file by the path its package
# ships (/lib/... or /usr/lib/...; merged /usr makes both exist), so ask for
# the path and its target under both spellings.
package_of_lib() {
  local name=$1 p q r pkg
  for p in "/usr/lib/$multiarch/$name" "/lib/$multiarch/$name"; do
    [ -e "$p" ] || continue
    for q in "$p" "$(readlink -f "$p")"; do
      for r in "$q" "${q#/usr}" "/usr${q#/usr}"; do
        pkg=$(dpkg -S "$r" 2>/dev/null | head -1 | cut -d: -f1)
        if [ -n "$pkg" ]; then
          echo "$pkg"
          return 0
        fi
      done
    done
  done
  return 1
}

# --- tools ----------------------------------------------------------------
patchelf=$(command -v patchelf || true)
if [ -z "$patchelf" ]; then
  log "patchelf not installed: unpacking Debian's for this run only"
  fetch_deb patchelf
  dpkg -x "$FETCHED" "$work/tools"
  unset 'packed[patchelf]'
  patchelf=$work/tools/usr/bin/patchelf
fi

# --- Java runtime ---------------------------------------------------------
# DESIGN.md's module list, but --compress=0 rather than 2: jlink's own
# zip compression leaves xz nothing to do (measured: 30.0 MB of tar.xz with
# --compress=2, 17.6 MB with --compress=0).
log "jlink"
"$jdk/bin/jlink" --add-modules \
  java.base,java.logging,java.management,jdk.management,java.xml,java.naming,jdk.unsupported,java.desktop,java.compiler,java.sql,jdk.crypto.ec,java.security.jgss,jdk.net,java.net.http \
  --strip-debug --no-header-files --no-man-pages --compress=0 \
  --output "$stage/jre"

# --- Bazel ----------------------------------------------------------------
for pkg in "${BAZEL_PACKAGES[@]}"; do
  log "bazel: $pkg"
  extract "$pkg" "$stage/bazel"
done
rm -rf "$stage/bazel/usr/share/doc" "$stage/bazel/usr/share/man"

# --- sysroot --------------------------------------------------------------
for pkg in "${SYSROOT_PACKAGES[@]}"; do
  log "sysroot: $pkg"
  extract "$pkg" "$stage/sysroot"
done
relativize_links "$stage/sysroot"
# prometheus-cpp's push gateway client (libcurl and its TLS, Kerberos and
# LDAP stack: several MiB) is not used: sysroot.bzl links core and pull.
rm -f "$stage/sysroot/usr/lib/$multiarch"/libprometheus-cpp-push.so*
# OpenSSL is needed for -lssl -lcrypto only; no header the build uses
# includes it.
rm -rf "$stage/sysroot/usr/include/openssl" \
  "$stage/sysroot/usr/include/$multiarch/openssl"

# Shared libraries until closed: what the ELF files in the sysroot and
# Bazel's binaries need, and what dangling libX.so links point at.
libdir=$stage/sysroot/usr/lib/$multiarch
while true; do
  missing=()
  while IFS= read -r so; do
    [ -n "${CORE_LIBS[$so]:-}" ] && continue
    [ -e "$libdir/$so" ] && continue
    missing+=("$so")
  done < <(needed_sonames "$libdir" "$stage/sysroot/usr/bin" \
             "$stage/bazel/usr/bin" "$stage/bazel/usr/libexec" \
             "$stage/bazel/usr/lib")
  while IFS= read -r -d '' link; do
    [ -e "$link" ] || missing+=("$(readlink "$link")")
  done < <(find "$libdir" -maxdepth 1 -type l -print0)
  new=()
  for so in ${missing[@]+"${missing[@]}"}; do
    pkg=$(package_of_lib "$so") || { log "ERROR: no package provides $so"; exit 1; }
    [ -n "${packed[$pkg]:-}" ] || new+=("$pkg")
  done
  [ ${#new[@]} -eq 0 ] && break
  for pkg in $(printf '%s\n' "${new[@]}" | sort -u); do
    log "sysroot (runtime dependency): $pkg"
    extract "$pkg" "$stage/sysroot"
  done
  relativize_links "$stage/sysroot"
done

# --- prune ----------------------------------------------------------------
# Documentation, and static archives that have a shared library beside them
# (sysroot.bzl links with -l, which prefers the .so). GoogleTest, GoogleMock
# and benchmark_main are static only in Debian and stay.
rm -rf "$stage/sysroot/usr/share"
for a in "$libdir"/*.a; do
  [ -e "$a" ] || continue
  [ -e "${a%.a}.so" ] && rm -f "$a"
done
# CMake package files: Bazel never reads them.
rm -rf "$libdir/cmake"

# --- run without LD_LIBRARY_PATH -------------------------------------------
# DT_RPATH (not RUNPATH), so that it also serves the libraries' own
# dependencies.
set_rpath() {
  local file=$1 rpath=$2
  is_elf "$file" || return 0
  "$patchelf" --force-rpath --set-rpath "$rpath" "$file"
  log "rpath $rpath: ${file#$stage/}"
}
for tool in protoc grpc_cpp_plugin; do
  real=$(readlink -f "$stage/sysroot/usr/bin/$tool")
  set_rpath "$real" "\$ORIGIN/../lib/$multiarch"
done
set_rpath "$stage/bazel/usr/bin/bazel-4" '$ORIGIN/../../../sysroot/usr/lib/'"$multiarch"
for f in "$stage/bazel/usr/libexec/$multiarch/bazel/"*; do
  set_rpath "$f" '$ORIGIN/../../../../../sysroot/usr/lib/'"$multiarch"
done

# --- manifest and archive ---------------------------------------------------
{
  echo "slimserve device pack, made $(date -u +%Y-%m-%dT%H:%MZ) by tools/device/pack.sh"
  echo "on $(. /etc/os-release && echo "$PRETTY_NAME"), $("$jdk/bin/java" -version 2>&1 | head -1)"
  echo
  echo "Uncompressed sizes:"
  (cd "$stage" && du -sh jre bazel sysroot)
  echo
  echo "Debian packages (name version):"
  for pkg in "${!packed[@]}"; do echo "  $pkg ${packed[$pkg]}"; done | sort
} > "$manifest"
cp "$manifest" "$stage/MANIFEST.txt"

mkdir -p "$out"
log "compressing (xz -9; a few minutes)"
tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner \
    -cf - slimserve-device | xz -9 -T1 > "$out/slimserve-device.tar.xz.tmp"
mv "$out/slimserve-device.tar.xz.tmp" "$out/slimserve-device.tar.xz"
size=$(stat -c %s "$out/slimserve-device.tar.xz")
echo "Compressed: $size bytes ($((size / 1048576)) MiB) slimserve-device.tar.xz" >> "$manifest"
cp "$manifest" "$out/MANIFEST.txt"

case "$out" in
  "$repo"/*)
    rel=${out#"$repo"/}
    exclude=$(git -C "$repo" rev-parse --git-path info/exclude)
    [[ $exclude == /* ]] || exclude=$repo/$exclude
    mkdir -p "$(dirname "$exclude")"
    grep -qxF "/$rel/" "$exclude" 2>/dev/null || echo "/$rel/" >> "$exclude"
    ;;
esac

cat "$out/MANIFEST.txt"
if [ "$size" -gt $((limit_mib * 1048576)) ]; then
  log "ERROR: $size bytes is over the ${limit_mib} MiB limit"
  exit 1
fi
log "wrote $out/slimserve-device.tar.xz ($((size / 1048576)) MiB)"
