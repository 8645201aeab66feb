// KServe v2's REST bodies as the HTTP endpoint meets them (server/
// kserve_rest.h): arbitrary bytes, the first two choosing whether the body
// has an Inference-Header-Content-Length and where, parsed as JSON and
// mapped onto the gRPC protocol's request for the default model's tasks.
// Properties: no crash, leak, overflow or deep recursion (the sanitizers);
// every error bounded and naming something; what parses writes back to
// JSON that parses to the same text; a mapped request's image is within
// the body's bytes.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/types.h"
#include "server/json.h"
#include "server/kserve_rest.h"
#include "tests/fuzz/fuzz_check.h"

namespace slimserve {
namespace {

constexpr size_t kMaxMessageBytes = 1024;

const ModelInfo& Info() {
  static const ModelInfo* info = [] {
    auto* i = new ModelInfo;
    i->name = "nyud-slim";
    i->version = "1.2";
    const char* names[] = {"semseg", "depth", "normals", "edges"};
    const TaskKind kinds[] = {slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION,
                              slimserve::v1::TASK_KIND_DEPTH,
                              slimserve::v1::TASK_KIND_SURFACE_NORMALS,
                              slimserve::v1::TASK_KIND_EDGES};
    const int channels[] = {8, 1, 3, 1};
    for (int t = 0; t < 4; ++t) {
      TaskInfo task;
      task.name = names[t];
      task.kind = kinds[t];
      task.output_channels = channels[t];
      i->tasks.push_back(task);
    }
    return i;
  }();
  return *info;
}

}  // namespace
}  // namespace slimserve

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slimserve;
  if (size < 2) return 0;
  const bool binary = data[0] & 1;
  const absl::string_view body(reinterpret_cast<const char*>(data) + 2,
                               size - 2);
  const int64_t header_length =
      binary ? static_cast<int64_t>(data[1]) * 4 : -1;

  const absl::StatusOr<Json> json = ParseJson(body);
  if (json.ok()) {
    const std::string written = json->Write();
    const absl::StatusOr<Json> again = ParseJson(written);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->Write() == written);
  } else {
    FUZZ_CHECK(json.status().message().size() <= kMaxMessageBytes);
  }

  RestRoute route;
  route.kind = RestRoute::Kind::kModelInfer;
  route.model = "nyud-slim";
  const absl::StatusOr<RestInfer> mapped =
      RestInferFromHttp(body, header_length, route, Info());
  if (mapped.ok()) {
    FUZZ_CHECK(mapped->binary_outputs.size() == mapped->call.outputs.size());
    FUZZ_CHECK(mapped->call.request.image.bytes.size() <= body.size());
  } else {
    FUZZ_CHECK(!mapped.status().message().empty());
    FUZZ_CHECK(mapped.status().message().size() <= kMaxMessageBytes);
  }
  return 0;
}
