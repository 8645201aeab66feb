#!/usr/bin/env bash
# The hermetic dry run of the GPU recipe, on this machine, without a GPU:
# tools/device/pack.sh, then tools/device/gpu_check.sh inside a chroot that
# has only what the GPU machine has (tools/device/README.md):
#   - a minimal Debian 12 (debootstrap minbase) with gcc/g++/make
#     (build-essential), python3, xz: the GPU machine's host compiler and
#     Python; no Java, Bazel, gRPC, protobuf, Abseil, prometheus-cpp,
#     GoogleTest, libpng or libjpeg;
#   - this machine's CUDA toolkit, bind-mounted read-only at /usr/local/cuda
#     (nvcc on PATH, as there);
#   - python3's `torch` as PyTorch's wheel lays it out (torch/include,
#     torch/lib with the libraries it needs beside it), built from Debian's
#     CPU LibTorch: the stand-in for the GPU machine's CUDA one;
#   - the working tree as the device tool copies it (tracked files and
#     untracked ones git does not ignore) plus devpack/.
# gpu_check.sh then unpacks the pack, starts the packed Bazel on the
# jlink-ed Java, builds //kernels/... under --config=cuda with nvcc, runs the
# CPU-runnable tests, builds the GPU test, and builds and tests the engine
# against the stand-in LibTorch (SLIMSERVE_NO_GPU=1: nothing needs a GPU).
# Packing and build errors show up here, not on the GPU.
#
# Usage (as root, from anywhere): tools/device/dry_run.sh
# Knobs: SLIMSERVE_DRY_ROOT (default /tmp/slimserve-gpuroot; made once with
# debootstrap, which needs apt's mirror), SLIMSERVE_DRY_REPACK=0 reuses
# an existing devpack/, OUT (default /tmp/slimserve-dry-run).
# Ends with gpu_check.sh's "N passed, N failed" and the time of each step.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
root=${SLIMSERVE_DRY_ROOT:-/tmp/slimserve-gpuroot}
out=${OUT:-/tmp/slimserve-dry-run}
mkdir -p "$out"
start=$SECONDS
timings=()
phase() {
  timings+=("$(printf '%5ds  %s' $((SECONDS - phase_start)) "$phase_name")")
  phase_name=$1
  phase_start=$SECONDS
  echo "=== dry run: $1"
}
phase_name=""; phase_start=$SECONDS

# Mounts a killed earlier run left behind go first: nothing below may ever
# delete through a bind mount of the host's /dev.
for m in "$root/usr/local/cuda" "$root/proc" "$root/dev"; do
  if mountpoint -q "$m" 2>/dev/null; then
    umount -R "$m" || { echo "dry run: $m is still mounted; unmount it first"; exit 1; }
  fi
done

# --- 1. the root filesystem ------------------------------------------------
phase "root filesystem ($root)"
if [ ! -x "$root/usr/bin/g++" ] || [ ! -x "$root/usr/bin/python3" ]; then
  command -v debootstrap >/dev/null || apt-get install -y debootstrap >/dev/null
  if [ -n "$(findmnt -rn -o TARGET | grep -F "$root/" || true)" ]; then
    echo "dry run: something is mounted under $root; not deleting it"; exit 1
  fi
  rm -rf "$root"
  debootstrap --variant=minbase --include=build-essential,python3,xz-utils \
    bookworm "$root" http://deb.debian.org/debian > "$out/debootstrap.log" 2>&1 \
    || { echo "dry run: debootstrap failed, see $out/debootstrap.log"; exit 1; }
fi
# What the GPU machine lacks must be absent here too.
for absent in java bazel protoc grpc_cpp_plugin; do
  if chroot "$root" /bin/sh -c "command -v $absent" >/dev/null 2>&1; then
    echo "dry run: $root has $absent; the GPU machine does not"; exit 1
  fi
done
for absent in grpc google/protobuf absl prometheus gtest png.h turbojpeg.h ATen; do
  [ ! -e "$root/usr/include/$absent" ] || { echo "dry run: $root has /usr/include/$absent"; exit 1; }
done

# --- 2. the stand-in for PyTorch's wheel -----------------------------------
phase "python3 torch stand-in (Debian's CPU LibTorch in the wheel's layout)"
py=$(chroot "$root" python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
wheel=$root/usr/local/lib/$py/dist-packages/torch
if [ ! -e "$wheel/.stand-in-3" ]; then
  rm -rf "$wheel" && mkdir -p "$wheel/include" "$wheel/lib"
  # Debian built c10 with gflags and glog (c10/macros/cmake_macros.h), so
  # its headers include theirs; PyTorch's wheel needs neither.
  for h in ATen c10 torch caffe2 gflags glog; do
    [ -d "/usr/include/$h" ] && cp -a "/usr/include/$h" "$wheel/include/"
  done
  # LibTorch and every library it needs but glibc and the GCC runtime, as
  # the wheel bundles them (they find each other through the binaries'
  # DT_RPATH into torch/lib, as gpu_check.sh links).
  libdir=/usr/lib/x86_64-linux-gnu
  # Under their SONAMEs (what the binaries ask for), with libX.so links
  # for the linker.
  for so in libtorch.so libtorch_cpu.so libc10.so; do
    soname=$(readelf -d "$libdir/$so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
    cp -L "$libdir/$so" "$wheel/lib/${soname:-$so}"
    [ -z "$soname" ] || ln -sf "$soname" "$wheel/lib/$so"
  done
  ldd "$libdir/libtorch_cpu.so" "$libdir/libtorch.so" "$libdir/libc10.so" \
    | awk '/=> \// {print $3}' | sort -u | while read -r dep; do
      case "$(basename "$dep")" in
        libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libgcc_s.so*|libstdc++.so*) ;;
        *) cp -L "$dep" "$wheel/lib/" ;;
      esac
    done
  cat > "$wheel/__init__.py" <<'PY'
# Stand-in for PyTorch's wheel in tools/device/dry_run.sh: Debian's CPU
# LibTorch 1.13 headers and libraries in torch/include and torch/lib.
__version__ = "1.13.1 (Debian CPU LibTorch stand-in)"
class version:
    cuda = None
class cuda:
    @staticmethod
    def is_available():
        return False
PY
  touch "$wheel/.stand-in-3"
fi

# --- 3. the pack and the tree ------------------------------------------------
phase "tools/device/pack.sh"
if [ "${SLIMSERVE_DRY_REPACK:-1}" != 0 ] || [ ! -f "$repo/devpack/slimserve-device.tar.xz" ]; then
  "$repo/tools/device/pack.sh" "$repo/devpack" > "$out/pack.log" 2>&1 \
    || { tail -20 "$out/pack.log"; echo "dry run: pack.sh failed"; exit 1; }
fi
tail -3 "$out/pack.log" 2>/dev/null || true
phase "copying the tree as the device tool does"
tree=$root/work/repo
rm -rf "$tree" && mkdir -p "$tree"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
   | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' \
   | tar --null -T - -cf -) | tar -xf - -C "$tree"
cp -a "$repo/devpack" "$tree/"
echo "tree: $(du -sh "$tree" | cut -f1) (devpack included)"

# --- 4. gpu_check.sh in the chroot -------------------------------------------
phase "gpu_check.sh in the chroot (SLIMSERVE_NO_GPU=1)"
cuda=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")")
mkdir -p "$root/usr/local/cuda" "$root/proc" "$root/dev" "$root/work/out"
mounts=()
cleanup() { for m in "${mounts[@]}"; do umount -R "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
mount --bind "$cuda" "$root/usr/local/cuda" && mount -o remount,bind,ro "$root/usr/local/cuda" && mounts+=("$root/usr/local/cuda")
mount -t proc proc "$root/proc" && mounts+=("$root/proc")
mount --rbind /dev "$root/dev" && mounts+=("$root/dev")
set +e
chroot "$root" /usr/bin/env -i PATH=/usr/local/cuda/bin:/usr/local/bin:/usr/bin:/bin \
  HOME=/root OUT=/work/out SLIMSERVE_NO_GPU=1 SLIMSERVE_GPU_CHECK_JOBS="$(nproc)" \
  /bin/bash -c 'cd /work/repo && tools/device/gpu_check.sh'
rc=$?
set -e
cp -a "$root/work/out/." "$out/"
phase "done"
echo "dry run steps (wall time):"
printf '%s\n' "${timings[@]:1}"
echo "gpu_check.sh steps:"
grep '^=== \[' "$out/gpu_check.log" || true
echo "dry run: $((SECONDS - start))s in all; results in $out"
tail -1 "$out/summary.txt"
exit $rc
