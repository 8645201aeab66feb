"""nvcc_object: compiles one .cu file into a host object with its device code.

The toolkit comes from @local_cuda (third_party/cuda.bzl; CUDA_HOME). The
object holds PIC host code (it goes into shared libraries too), a fatbin
with SASS for every arch in NVCC_ARCHS and PTX for the newest (so later GPUs
JIT it), uncompressed so that cuda_objects_test can read the kernel names in
each cubin. Built in every configuration, so the CUDA sources cannot rot on
machines without a GPU; only --config=cuda links them (//kernels:cuda_kernels).
"""

load("@local_cuda//:defs.bzl", "NVCC", "NVCC_VERSION")

# A100 (sm_80) and H100/H200 (sm_90). The GPU machine is an H200; sm_80
# keeps the objects usable on Ampere; PTX of compute_90 covers newer chips.
NVCC_ARCHS = ["80", "90"]

def _gencode_flags():
    flags = ["-gencode=arch=compute_%s,code=sm_%s" % (a, a) for a in NVCC_ARCHS]
    newest = NVCC_ARCHS[-1]
    flags.append("-gencode=arch=compute_%s,code=compute_%s" % (newest, newest))
    return " ".join(flags)

def nvcc_object(name, src, hdrs = [], out = None):
    """Declares genrule `name` producing `out` (default: <src base>.pic.o)."""
    if out == None:
        out = src[:-len(".cu")] + "_cuda.pic.o"
    cmd = " ".join([
        # A missing toolkit must fail loudly, naming the fix.
        "if [ ! -x '%s' ]; then" % NVCC,
        "echo 'ERROR: nvcc not found at %s. kernels/*.cu are compiled in every build;' >&2;" % NVCC,
        "echo 'install the CUDA toolkit there or pass --repo_env=CUDA_HOME=/path/to/cuda' >&2;",
        "exit 1; fi;",
        # nvcc's temporaries stay inside the action's output tree.
        "tmp=$$(mktemp -d $(@D)/.nvcc_tmp.XXXXXX) &&",
        "TMPDIR=$$tmp '%s'" % NVCC,
        "-std=c++17 -O3 -I.",
        "-Xcompiler=-fPIC,-Wall,-ffp-contract=off",
        "--Werror=all-warnings",
        "--no-compress",
        _gencode_flags(),
        "-c $(location %s) -o $@ &&" % src,
        "rm -rf $$tmp",
        "# %s" % NVCC_VERSION,
    ])
    native.genrule(
        name = name,
        srcs = [src] + hdrs,
        outs = [out],
        cmd = cmd,
        message = "nvcc %s" % src,
    )
