"""Repository rules that bring system libraries and LibTorch into Bazel.

Both prefixes are overridable, because the GPU machine has neither Debian's
/usr layout nor Debian's CPU LibTorch:

  --repo_env=SLIMSERVE_SYSROOT=/path/usr      (default /usr): headers in
      $SLIMSERVE_SYSROOT/include, libraries in $SLIMSERVE_SYSROOT/lib/<multiarch>
      (the layout `dpkg -x pkg.deb DIR` leaves under DIR/usr), tools in bin/.
  --repo_env=SLIMSERVE_TORCH_INCLUDE=DIR      (default /usr/include)
  --repo_env=SLIMSERVE_TORCH_LIB=DIR          (default /usr/lib/x86_64-linux-gnu)
  --repo_env=SLIMSERVE_TORCH_CUDA=1           link libtorch_cuda and libc10_cuda too.

@torch//:cuda_headers adds ATen's and c10's CUDA headers (with the CUDA
toolkit's, @local_cuda): every build compiles the engine's CUDA path against
them, also with Debian's CPU-only LibTorch, which ships them but not the
CMake-generated c10/cuda/impl/cuda_cmake_macros.h (written here then).
@torch//:defs.bzl has TORCH_CUDA: whether the CUDA libraries are linked, so
BUILD files link the engine's CUDA path only then.

Libraries are linked by -L/-l with an rpath, so binaries run in place.
"""

_MULTIARCH = "x86_64-linux-gnu"

# Header trees each library needs, relative to the include directory.
_SYS_HEADERS = {
    "grpc": ["grpc", "grpcpp", "grpc++"],
    "protobuf": ["google/protobuf"],
    "absl": ["absl"],
    "prometheus": ["prometheus"],
    "gtest": ["gtest", "gmock"],
    "benchmark": ["benchmark"],
    "png": ["png.h", "pngconf.h", "pnglibconf.h"],
    "turbojpeg": ["turbojpeg.h"],
}

_SYS_LIBS = {
    "grpc": ["grpc++_reflection", "grpc++", "grpc", "gpr", "upb", "address_sorting", "re2", "cares", "ssl", "crypto", "z"],
    "protobuf": ["protobuf"],
    "prometheus": ["prometheus-cpp-pull", "prometheus-cpp-core", "z"],
    "gtest": ["gmock", "gtest"],
    "benchmark": ["benchmark"],
    "png": ["png16", "z"],
    "turbojpeg": ["turbojpeg"],
}

def _link(ctx, src, dst):
    if ctx.path(src).exists:
        ctx.symlink(src, dst)
        return True
    return False

def _lib_opts(libdir, libs):
    opts = ["-L" + libdir, "-Wl,-rpath," + libdir]
    opts += ["-l" + l for l in libs]
    return opts

def _sysroot_impl(ctx):
    root = ctx.os.environ.get("SLIMSERVE_SYSROOT", "/usr")
    inc = root + "/include"
    libdir = root + "/lib/" + _MULTIARCH

    absl_libs = sorted([
        p.basename[3:-3]
        for p in ctx.path(libdir).readdir()
        if p.basename.startswith("libabsl_") and p.basename.endswith(".so")
    ])
    libs = dict(_SYS_LIBS)
    libs["absl"] = absl_libs

    build = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, heads in _SYS_HEADERS.items():
        globs = []
        for h in heads:
            if not _link(ctx, inc + "/" + h, "include/" + h):
                fail("slimserve: %s/%s not found (library %s); set SLIMSERVE_SYSROOT or install the Debian -dev package" % (inc, h, name))
            if h.endswith(".h"):
                globs.append("include/" + h)
            else:
                globs.append("include/" + h + "/**")
        deps = []
        if name == "grpc":
            deps = [":protobuf", ":absl"]
        if name == "prometheus":
            deps = []
        build.append("""cc_library(
    name = "{name}",
    hdrs = glob({globs}),
    includes = ["include"],
    linkopts = {linkopts},
    deps = {deps},
)
""".format(name = name, globs = repr(globs), linkopts = repr(_lib_opts(libdir, libs.get(name, []))), deps = repr(deps)))

    # Code generators used by //proto.
    for tool in ["protoc", "grpc_cpp_plugin"]:
        if not _link(ctx, root + "/bin/" + tool, "bin/" + tool):
            fail("slimserve: %s/bin/%s not found; install protobuf-compiler-grpc or set SLIMSERVE_SYSROOT" % (root, tool))
    build.append('exports_files(["bin/protoc", "bin/grpc_cpp_plugin"])')
    build.append('filegroup(name = "protoc", srcs = ["bin/protoc"])')
    build.append('filegroup(name = "grpc_cpp_plugin", srcs = ["bin/grpc_cpp_plugin"])')
    ctx.file("BUILD", "\n".join(build) + "\n")
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

sysroot_repository = repository_rule(
    implementation = _sysroot_impl,
    environ = ["SLIMSERVE_SYSROOT"],
    local = True,
)

def _torch_impl(ctx):
    inc = ctx.os.environ.get("SLIMSERVE_TORCH_INCLUDE", "/usr/include")
    libdir = ctx.os.environ.get("SLIMSERVE_TORCH_LIB", "/usr/lib/" + _MULTIARCH)
    cuda = ctx.os.environ.get("SLIMSERVE_TORCH_CUDA", "0") == "1"
    for h in ["ATen", "c10", "torch"]:
        if not _link(ctx, inc + "/" + h, "include/" + h):
            fail("slimserve: LibTorch headers not found at %s/%s; set SLIMSERVE_TORCH_INCLUDE" % (inc, h))

    # Optional: recent PyTorch wheels may ship no caffe2/ headers.
    _link(ctx, inc + "/caffe2", "include/caffe2")
    # A LibTorch built with gflags and glog (Debian's: C10_USE_GFLAGS)
    # includes their headers; outside /usr/include (where the compiler
    # finds them anyway) they must lie beside its own
    # (tools/device/dry_run.sh's stand-in for PyTorch's wheel).
    if inc != "/usr/include":
        for h in ["gflags", "glog"]:
            _link(ctx, inc + "/" + h, "include/" + h)
    libs = ["torch", "torch_cpu", "c10"]
    defines = []
    if cuda:
        libs = ["torch_cuda", "c10_cuda"] + libs
        defines = ["SLIMSERVE_WITH_CUDA=1"]
    linkopts = _lib_opts(libdir, libs)
    if cuda:
        # libtorch_cuda is only loaded when something references it.
        linkopts = ["-Wl,--no-as-needed"] + linkopts + ["-Wl,--as-needed"]
    # A CPU LibTorch's CUDA headers lack this CMake output; its one macro
    # says c10_cuda is a shared library, true of every LibTorch we link.
    if not ctx.path(inc + "/c10/cuda/impl/cuda_cmake_macros.h").exists:
        ctx.file("cuda_shim/c10/cuda/impl/cuda_cmake_macros.h",
                 "#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")
    else:
        ctx.file("cuda_shim/.none", "")
    ctx.file("defs.bzl", "# Generated by //third_party:sysroot.bzl.\nTORCH_CUDA = %s\n" % repr(cuda))
    ctx.file("BUILD", """package(default_visibility = ["//visibility:public"])

cc_library(
    name = "torch",
    hdrs = glob(["include/**/*.h", "include/**/*.hpp", "include/**/*.cuh"]),
    includes = ["include", "include/torch/csrc/api/include"],
    copts = ["-Wno-unused-parameter", "-Wno-deprecated-declarations"],
    defines = {defines},
    linkopts = {linkopts},
)

exports_files(["defs.bzl"])

# Compiling against ATen's CUDA headers needs no CUDA library; linking what
# uses them needs TORCH_CUDA.
cc_library(
    name = "cuda_headers",
    hdrs = glob(["cuda_shim/**/*.h"]),
    includes = ["cuda_shim"],
    deps = [":torch", "@local_cuda//:cuda_headers"],
)
""".format(linkopts = repr(linkopts), defines = repr(defines)))
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

torch_repository = repository_rule(
    implementation = _torch_impl,
    environ = ["SLIMSERVE_TORCH_INCLUDE", "SLIMSERVE_TORCH_LIB", "SLIMSERVE_TORCH_CUDA"],
    local = True,
)
