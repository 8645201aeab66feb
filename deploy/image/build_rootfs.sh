#!/usr/bin/env bash
# Assembles the root filesystem of slimserve's runtime image in OUT_DIR:
#   /usr/bin/slimserve, /usr/bin/slimctl   the binaries (slimctl: exec health
#                                          probes, e.g. with TLS)
#   every shared library they load         found by the dynamic loader itself
#                                          (ldd), at the paths it found them,
#                                          and nothing else
#   /models/default                        the shipped model package
#   /etc/passwd, /etc/group                user and group slimserve, 65532
#   /etc/hosts, /etc/nsswitch.conf, /tmp   what gRPC and glibc look up
#   /proc, /sys, /dev                      empty mount points
# Usage: deploy/image/build_rootfs.sh OUT_DIR [SLIMSERVE SLIMCTL MODEL_DIR]
# (defaults: bazel-bin/server/slimserve, bazel-bin/client/slimctl,
# models/default; build them first with tools/bazel.sh build //server:slimserve
# //client:slimctl). deploy/image/build.sh turns OUT_DIR into an image.
set -euo pipefail

if [ $# -ne 1 ] && [ $# -ne 4 ]; then
  echo "usage: $0 OUT_DIR [SLIMSERVE SLIMCTL MODEL_DIR]" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
server=${2:-$root/bazel-bin/server/slimserve}
ctl=${3:-$root/bazel-bin/client/slimctl}
model=${4:-$root/models/default}
for f in "$server" "$ctl" "$model/spec.textproto" "$model/weights.pt"; do
  [ -e "$f" ] || { echo "$0: missing $f" >&2; exit 1; }
done
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "$0: $out exists and is not empty" >&2
  exit 1
fi
# proc, sys, dev: mount points (a container runtime mounts them; LibTorch
# reads the CPUs from /proc/cpuinfo and /sys, OpenSSL reads /dev/urandom).
mkdir -p "$out"/usr/bin "$out"/models/default "$out"/etc "$out"/tmp \
  "$out"/proc "$out"/sys "$out"/dev
chmod 1777 "$out"/tmp

install -m 0755 "$server" "$out"/usr/bin/slimserve
install -m 0755 "$ctl" "$out"/usr/bin/slimctl
# The model's files, not its BUILD file.
find -L "$model" -maxdepth 1 -type f ! -name BUILD \
  -exec install -m 0644 {} "$out"/models/default/ \;

# The library closure: what ldd resolves for each binary (the loader's own
# search, rpath included), copied to the path it resolved, so the loader
# finds the same files in the image without an ld.so.cache. Symlinks are
# followed: the image holds the file under the name the loader asked for.
libraries() {
  local binary=$1 line
  if ! ldd "$binary" >/dev/null 2>&1; then
    echo "$0: ldd $binary failed" >&2
    return 1
  fi
  ldd "$binary" | while read -r line; do
    case "$line" in
      *"not found"*) echo "$0: $binary: $line" >&2; return 1 ;;
      *"=> /"*) line=${line#*=> }; echo "${line%% (*}" ;;
      /*) echo "${line%% (*}" ;;  # the loader itself
    esac
  done
}
{ libraries "$server"; libraries "$ctl"; } | sort -u | while read -r lib; do
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
done

cat > "$out"/etc/passwd <<'PASSWD'
root:x:0:0:root:/:/usr/sbin/nologin
slimserve:x:65532:65532:slimserve:/tmp:/usr/sbin/nologin
PASSWD
cat > "$out"/etc/group <<'GROUP'
root:x:0:
slimserve:x:65532:
GROUP
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
  > "$out"/etc/hosts
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$out"/etc/nsswitch.conf
echo "$0: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1)" >&2
