#ifndef SLIMSERVE_SERVER_KSERVE_REST_H_
#define SLIMSERVE_SERVER_KSERVE_REST_H_

// KServe v2's REST protocol (the Open Inference Protocol over HTTP/JSON),
// with Triton's binary tensor data extension, mapped onto the gRPC
// protocol's messages so that both share one validation and one answer
// (server/kserve_convert.h). Served by server/http.h:
//
//   GET  /v2                                   server metadata
//   GET  /v2/health/live | /v2/health/ready    200 true, 400 false
//   GET  /v2/models/M[/versions/V]             model metadata
//   GET  /v2/models/M[/versions/V]/ready       200 true, 400 false
//   POST /v2/models/M[/versions/V]/infer       inference
//
// An inference request is the protocol's JSON: "id", "parameters" (plain
// JSON numbers, strings or booleans: the gRPC protocol's parameters),
// "inputs" (one, "image": UINT8 [H, W, C] with "data" numbers, flat or
// nested; or BYTES [1] holding a PNG or JPEG, which needs the binary
// extension: JSON strings carry no arbitrary bytes), "outputs" (names,
// "parameters": "format", "binary_data").
//
// Binary extension: with the header Inference-Header-Content-Length: N the
// body is N bytes of JSON, then each input with parameters.binary_data_size
// = K takes the next K bytes (the gRPC protocol's raw_input_contents: BYTES
// elements are 4-byte little-endian length + bytes). An output is sent as
// binary when its parameters.binary_data is true, or for every output with
// the request parameter "binary_data_output": true; PNG outputs must be.
// The response then has the same header and its binary parts in output
// order, each output saying binary_data_size.
//
// Errors: the HTTP status of the gRPC code (server/http.h) and
// {"error": "<message naming the field>"}.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/types.h"
#include "server/kserve_convert.h"

namespace slimserve {

// What a path under /v2 asks for.
struct RestRoute {
  enum class Kind {
    kServerMetadata,
    kLive,
    kReady,
    kModelMetadata,
    kModelReady,
    kModelInfer,
  };
  Kind kind = Kind::kServerMetadata;
  std::string model;    // kModel*: the path's model name
  std::string version;  // kModel*: the path's version, empty for none
};

// NOT_FOUND naming the path for a path under /v2 that is none of the
// above. REQUIRES: `path` starts with "/v2" (no query).
absl::StatusOr<RestRoute> ParseRestRoute(absl::string_view path);

// An inference request read from an HTTP body.
struct RestInfer {
  KServeInfer call;  // as the gRPC protocol's ModelInfer
  std::string id;    // the request's, echoed (call.request may be moved)
  // Per call.outputs entry: sent as binary data.
  std::vector<bool> binary_outputs;
};

// Validates and maps a request body. `header_length`: the
// Inference-Header-Content-Length (-1: none, the body is all JSON).
// INVALID_ARGUMENT naming the field (JSON field names: "inputs[0].data[7]",
// "parameters[budget_ms]"), NOT_FOUND for another model.
absl::StatusOr<RestInfer> RestInferFromHttp(absl::string_view body,
                                            int64_t header_length,
                                            const RestRoute& route,
                                            const ModelInfo& info);

// A response body: JSON, then the binary parts when header_length >= 0.
struct RestBody {
  std::string body;
  int64_t header_length = -1;
};

// The response of a finished inference; moves the outputs out of `result`.
RestBody RestInferResponse(InferResult&& result, const RestInfer& request,
                           const ModelInfo& info, absl::Duration total);

std::string RestServerMetadata();
std::string RestModelMetadata(const ModelInfo& info);
// {"error": message}.
std::string RestError(absl::string_view message);

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_KSERVE_REST_H_
