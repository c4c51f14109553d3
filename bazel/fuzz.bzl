"""libFuzzer targets, built only with --config=fuzz (clang-14, see .bazelrc).

They are tagged manual, so `bazel build //...` (gcc) skips them;
tests/fuzz/run.sh builds and runs them.
"""

def cc_fuzz_target(name, srcs, deps = []):
    """A libFuzzer binary `name` from `srcs`; its seed corpus is corpus/<name>/."""
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps + ["//tests/fuzz:fuzz_check"],
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual", "fuzz"],
        testonly = True,
    )
