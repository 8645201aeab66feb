"""GPU tests: real `bazel test` targets that only a CUDA build runs.

gpu_cc_test(name, srcs, deps, needs_torch_cuda) makes
  NAME_lib  a testonly cc_library of the test's sources, compiled in EVERY
            build (so a GPU test cannot rot on machines without a GPU);
  NAME      the cc_test, tagged "gpu", compatible only with --config=cuda
            (and, with needs_torch_cuda, only where @torch links LibTorch's
            CUDA libraries). Elsewhere `bazel test //...` skips it as
            incompatible and tools/test.sh lists it as skipped, with why.
tools/device/gpu_check.sh runs them on the GPU machine.
"""

load("@torch//:defs.bzl", "TORCH_CUDA")

# --config=cuda sets --define=slimserve_cuda=1 (//kernels:cuda_enabled).
CUDA_ONLY = select({
    "//kernels:cuda_enabled": [],
    "//conditions:default": ["//kernels:cuda_build_only"],
})

def gpu_cc_test(name, srcs, deps = [], test_deps = [], needs_torch_cuda = False, copts = [], **kwargs):
    """deps: of the sources (compiled everywhere); test_deps: linked only
    into the test (CUDA-only libraries)."""
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        copts = copts,
        deps = deps,
        alwayslink = True,
        visibility = ["//visibility:private"],
    )
    native.cc_test(
        name = name,
        deps = [":" + name + "_lib", "//tests:gtest_main"] + test_deps,
        tags = ["gpu"] + kwargs.pop("tags", []),
        target_compatible_with = CUDA_ONLY if (TORCH_CUDA or not needs_torch_cuda) else ["//kernels:cuda_build_only"],
        **kwargs
    )
