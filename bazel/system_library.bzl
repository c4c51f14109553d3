"""A repository rule that wraps a Debian library, found by pkg-config, as a cc_library."""

def _split(flags):
    return [f for f in flags.strip().split(" ") if f]

def _system_library_impl(ctx):
    result = ctx.execute(["pkg-config", "--libs"] + ctx.attr.pkg_config)
    if result.return_code != 0:
        fail("pkg-config %s failed: %s" % (ctx.attr.pkg_config, result.stderr))
    linkopts = _split(result.stdout) + ctx.attr.extra_linkopts
    cflags = ctx.execute(["pkg-config", "--cflags"] + ctx.attr.pkg_config)
    if cflags.return_code != 0:
        fail("pkg-config --cflags %s failed: %s" % (ctx.attr.pkg_config, cflags.stderr))
    defines = [f[2:] for f in _split(cflags.stdout) if f.startswith("-D")]
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD.bazel", """cc_library(
    name = "lib",
    linkopts = {linkopts},
    defines = {defines},
    visibility = ["//visibility:public"],
)
""".format(linkopts = repr(linkopts), defines = repr(defines)))

system_library = repository_rule(
    implementation = _system_library_impl,
    attrs = {
        "pkg_config": attr.string_list(mandatory = True),
        "extra_linkopts": attr.string_list(default = []),
    },
    local = True,
)
