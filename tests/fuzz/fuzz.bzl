"""slimserve_fuzzer: a libFuzzer target and its corpus regression test."""

def slimserve_fuzzer(name, srcs, deps = []):
    """Defines `name` and `name`_regression.

    `name`: under --config=fuzz (clang, -fsanitize=fuzzer), a libFuzzer
    binary (tools/fuzz.sh runs it); otherwise the same target with a main()
    that replays the inputs it is given.
    `name`_regression: replays corpus/`name`/ (seeds and every input a run
    found), in every build: what CI runs.
    """
    native.cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        deps = deps + select({
            "//tests/fuzz:libfuzzer": [],
            "//conditions:default": ["//tests/fuzz:replay_main"],
        }),
        linkopts = select({
            "//tests/fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
    native.cc_test(
        name = name + "_regression",
        size = "small",
        srcs = srcs,
        deps = deps + ["//tests/fuzz:replay_main"],
        args = ["tests/fuzz/corpus/" + name],
        data = native.glob(["corpus/" + name + "/**"]),
    )
