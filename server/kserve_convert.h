#ifndef SLIMSERVE_SERVER_KSERVE_CONVERT_H_
#define SLIMSERVE_SERVER_KSERVE_CONVERT_H_

// KServe v2 / Open Inference Protocol messages <-> the engine's types. The
// mapping (README "KServe v2"):
//
// Input: one tensor named "image": UINT8 [H, W, C] (or [1, H, W, C]) pixels,
// or BYTES [1] (or [1, 1]) holding one PNG or JPEG file; in
// raw_input_contents or in contents (uint_contents / bytes_contents).
//
// Request parameters (numbers as double, int64, uint64 or a decimal string,
// since KServe's InferParameter has no double):
//   budget_fraction | budget_mflops | budget_ms   at most one; default
//                                                 budget_fraction 1
//   task_weight.<task>   > 0 for a requested output; default 1
//   output_format        "raw" (default) or "png", for every output
//   output_size          "model" (default) or "input"
//   timeout              microseconds from arrival (Triton's schedule
//                        policy, what tritonclient's `timeout=` sends);
//                        finite, >= 0; 0 (the default): none. The call's
//                        deadline is the earlier of this and gRPC's.
// Requested outputs (names are the model's tasks) select the tasks; none
// requested means every task whose task_weight is not 0. Output parameter
// "format" ("raw" | "png") overrides output_format for that output.
//
// Outputs, in the order requested (model order when none were): raw: FP32
// [C, H, W]; png: BYTES [1], the PNG file. Data always in
// raw_output_contents. Output parameters: task_kind, decoder_width,
// predicted_quality, content_type ("image/png" for PNG). Response
// parameters: the plan (encoder_width, mflops, budget_mflops, full_mflops,
// planner, degraded, predicted_latency_ms, synthetic_quality, batch_size)
// and the timings (queue_ms, preprocess_ms, compute_ms, postprocess_ms,
// total_ms). Fractional numbers are string parameters ("0.5"), readable by
// any v2 client.
//
// Every refusal is INVALID_ARGUMENT (NOT_FOUND for another model) naming the
// field, e.g. "parameters[budget_ms]: not a number"; echoed request values
// are bounded and escaped.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/types.h"
#include "inference/grpc_predict_v2.pb.h"

namespace slimserve {

// The tensor name of the model's one input.
inline constexpr char kKServeInputName[] = "image";

// A ModelInfer call as the engine takes it, plus what the response needs.
struct KServeInfer {
  InferRequest request;  // id, image, budget, weights, formats, output size
  // Task names of the outputs to return, in the response's order.
  std::vector<std::string> outputs;
  // parameters[timeout], from arrival; InfiniteDuration(): none.
  absl::Duration timeout = absl::InfiniteDuration();
};

// NOT_FOUND naming `field` unless `name` (and `version`, when not empty) is
// the served model's.
absl::Status CheckKServeModel(absl::string_view field, absl::string_view name,
                              absl::string_view version_field,
                              absl::string_view version, const ModelInfo& info);

// Validates and maps a ModelInferRequest. Deadline and cancellation are the
// caller's to set. The engine validates the rest (image sizes, budget
// ranges) as for slimserve.v1.
absl::StatusOr<KServeInfer> KServeInferFromProto(
    const inference::ModelInferRequest& request, const ModelInfo& info);

// The response of a finished call with request `id` that asked for
// `outputs` (KServeInfer::outputs); moves the output data out of `result`.
void KServeInferToProto(InferResult&& result, absl::string_view id,
                        const std::vector<std::string>& outputs,
                        const ModelInfo& info, absl::Duration total,
                        inference::ModelInferResponse* out);

inference::ModelMetadataResponse KServeModelMetadata(const ModelInfo& info);

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_KSERVE_CONVERT_H_
