#ifndef SLIMSERVE_SERVER_CONVERT_H_
#define SLIMSERVE_SERVER_CONVERT_H_

// Conversions between the wire types (slimserve.v1) and the engine's types.
//
// The *FromProto functions only map: they refuse what the engine's types
// cannot express (a missing oneof, an unknown enum value) with
// INVALID_ARGUMENT naming the field, e.g. "budget: required (fraction,
// mflops or milliseconds)". Every other rule (image sizes, budget and weight
// ranges, task names) is the engine's, which names the field the same way.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/types.h"
#include "grpcpp/support/status.h"
#include "slimserve/v1/slimserve.pb.h"

namespace slimserve {

// The grpc::Status with the same code (absl and gRPC share the canonical
// codes) and message. The one place statuses cross to the wire.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Wire -> engine.

absl::StatusOr<Budget> BudgetFromProto(const v1::Budget& budget);

absl::StatusOr<ImageInput> ImageFromProto(const v1::Image& image);

// Also refuses a request_id over kMaxRequestIdBytes (it is echoed).
absl::StatusOr<PlanRequest> PlanRequestFromProto(
    const v1::PlanRequest& request);

// request_id becomes the engine request's id. Deadline and cancellation are
// the caller's to set.
absl::StatusOr<InferRequest> InferRequestFromProto(
    const v1::InferRequest& request);

// A stream frame with the stream's defaults filled in where it leaves a
// field unset: budget, an empty task_weights or output_formats map, an
// UNSPECIFIED default_output_format or output_size.
void ApplyStreamDefaults(const v1::StreamDefaults& defaults,
                         v1::InferRequest* frame);

// Engine -> wire.

void PlanToProto(const ArchPlan& plan, v1::PlanInfo* out);

// Fills outputs, plan and the engine's timings (not total_ms) of `out`;
// moves the output data out of `result`.
void InferResultToProto(InferResult&& result, v1::InferResponse* out);

// Tasks, widths, input size, costs (MFLOPs), quality and latency tables,
// planner.
v1::GetModelInfoResponse ModelInfoToProto(const ModelInfo& info);

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_CONVERT_H_
