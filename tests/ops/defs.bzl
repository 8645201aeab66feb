"""ops_py_test: a Python test of tests/ops as an sh_test (see run_py_test.sh)."""

def ops_py_test(name, src, data = [], size = "medium", **kwargs):
    """A test running `src` with Debian's python3 via run_py_test.sh.

    Args:
      name: test name.
      src: the test's .py file in this package; it ends with ops_util.main().
      data: what it reads at run time, besides ops_util and the Python client.
      size: Bazel test size.
      **kwargs: passed to sh_test.
    """
    native.sh_test(
        name = name,
        size = size,
        srcs = ["run_py_test.sh"],
        args = ["tests/ops/" + src],
        data = [
            src,
            ":ops_util",
            "//client/python:slimserve_client",
        ] + data,
        **kwargs
    )
