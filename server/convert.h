#ifndef SLIMSERVE_SERVER_CONVERT_H_
#define SLIMSERVE_SERVER_CONVERT_H_

// Conversions between the wire types (slimserve.v1) and the engine's types.
//
// The *FromProto functions check what the wire format allows but the engine
// cannot express (a missing oneof, an unknown enum value, a raw image whose
// size does not add up, a non-finite budget) and return INVALID_ARGUMENT with
// a message naming the field, e.g.
//   "image.raw: data has 10 bytes, expected 32*48*3 = 4608".
// Everything else (task names in weights, weight and budget ranges) is left
// to the engine, which reports it the same way.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/cost_model.h"
#include "engine/engine.h"
#include "grpcpp/support/status.h"
#include "slimserve/v1/model_spec.pb.h"
#include "slimserve/v1/slimserve.pb.h"

namespace slimserve {

// The grpc::Status with the same code (absl and gRPC share the canonical
// codes) and message. The one place statuses cross to the wire.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Wire -> engine.

absl::StatusOr<Budget> BudgetFromProto(const v1::Budget& budget);

absl::StatusOr<ImageInput> ImageFromProto(const v1::Image& image);

absl::StatusOr<PlanRequest> PlanRequestFromProto(
    const v1::PlanRequest& request);

// `spec` is the served model: output_formats may only name its tasks.
// request_id becomes the engine request's id. Deadline and cancellation are
// the caller's to set.
absl::StatusOr<InferRequest> InferRequestFromProto(
    const v1::InferRequest& request, const v1::ModelSpec& spec);

// Engine -> wire.

void PlanToProto(const Plan& plan, v1::PlanInfo* out);

// Fills outputs, plan and the engine's timings (not total_ms) of `out`;
// moves the output data out of `result`.
void InferResultToProto(InferResult&& result, v1::InferResponse* out);

// Tasks, widths, input size and costs (MFLOPs) of a model.
v1::ModelInfo ModelInfoFromSpec(const v1::ModelSpec& spec,
                                const CostTable& costs);

// ModelInfoFromSpec plus what the engine measured or loaded: latency and
// quality tables, and the planner's name.
v1::ModelInfo ModelInfoFromEngine(const Engine& engine);

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_CONVERT_H_
