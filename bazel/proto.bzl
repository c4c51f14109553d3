"""Generates C++ Protobuf and gRPC code with Debian's protoc and grpc_cpp_plugin.

Bazel 4.2.3's own proto rules would download protobuf's sources; this macro
calls the system compiler instead. Sources are relative to the calling
package, which is also the import root.
"""

def cc_grpc_proto_library(name, srcs, deps = [], proto_deps = [], visibility = None):
    """A cc_library with the .pb and .grpc.pb code of `srcs`.

    Args:
      name: the cc_library's name.
      srcs: .proto files, relative to this package (the import root).
      deps: cc_libraries of the protos `srcs` import.
      proto_deps: the .proto files of `deps`, needed by protoc to resolve imports.
      visibility: the cc_library's visibility.
    """
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc", base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    native.genrule(
        name = name + "_gen",
        srcs = srcs + proto_deps,
        outs = outs,
        cmd = " ".join([
            "/usr/bin/protoc",
            "--proto_path=" + native.package_name(),
            "--cpp_out=$(RULEDIR)",
            "--grpc_out=$(RULEDIR)",
            "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin",
        ] + ["$(location %s)" % src for src in srcs]),
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = deps + ["@system_grpc//:lib"],
        visibility = visibility,
    )

def proto_descriptor_set(name, srcs, visibility = None):
    """A binary FileDescriptorSet of `srcs` and everything they import (for buf curl)."""
    native.genrule(
        name = name,
        srcs = srcs,
        outs = [name + ".binpb"],
        cmd = " ".join([
            "/usr/bin/protoc",
            "--proto_path=" + native.package_name(),
            "--include_imports",
            "--descriptor_set_out=$@",
        ] + ["$(location %s)" % src for src in srcs]),
        visibility = visibility,
    )
