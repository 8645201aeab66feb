"""protoc + grpc_cpp_plugin in a genrule (no rules_proto offline)."""

def slim_proto_cc(name, srcs, deps = [], grpc = False, all_srcs = []):
    """C++ library for .proto files under proto/ (import paths from proto/).

    Args:
      name: cc_library name.
      srcs: .proto files (package-relative) compiled into this library.
      deps: cc libraries of the imported protos.
      grpc: also generate gRPC service stubs.
      all_srcs: imported .proto files protoc must read but not compile here.
    """
    stems = [s[:-len(".proto")] for s in srcs]
    outs = [s + ".pb.h" for s in stems] + [s + ".pb.cc" for s in stems]
    if grpc:
        outs += [s + ".grpc.pb.h" for s in stems] + [s + ".grpc.pb.cc" for s in stems]
    cmd = "$(location @sys//:protoc) --proto_path=$$(dirname $(location //proto:BUILD)) --cpp_out=$(RULEDIR)"
    tools = ["@sys//:protoc"]
    if grpc:
        cmd += " --grpc_out=$(RULEDIR) --plugin=protoc-gen-grpc=$(location @sys//:grpc_cpp_plugin)"
        tools.append("@sys//:grpc_cpp_plugin")
    cmd += " " + " ".join(["$(location %s)" % s for s in srcs])
    native.genrule(
        name = name + "_gen",
        srcs = srcs + all_srcs + ["//proto:BUILD"],
        outs = outs,
        cmd = cmd,
        tools = tools,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = deps + ["@sys//:protobuf"] + (["@sys//:grpc"] if grpc else []),
    )
