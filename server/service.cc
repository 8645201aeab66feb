#include "server/service.h"

#include <cstdlib>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "base/strings.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/call.h"
#include "server/convert.h"
#include "server/stream.h"

namespace slimserve {
namespace {

// The v1 answer of an inference the engine finished.
absl::Status EncodeInferResponse(const std::string& request_id,
                                 InferResult&& result, absl::Duration total,
                                 grpc::ByteBuffer* out) {
  v1::InferResponse response;
  InferResultToProto(std::move(result), &response);
  response.set_request_id(request_id);
  response.mutable_timings()->set_total_ms(absl::ToDoubleMilliseconds(total));
  return SerializeResponse(response, out);
}

grpc::ByteBuffer SerializedModelInfo(const ModelInfo& info) {
  grpc::ByteBuffer bytes;
  if (!SerializeResponse(ModelInfoToProto(info), &bytes).ok()) std::abort();
  return bytes;
}

}  // namespace

InferenceService::InferenceService(Engine* engine, Metrics* metrics,
                                   int stream_max_inflight_frames)
    : engine_(engine),
      metrics_(metrics),
      stream_max_inflight_frames_(stream_max_inflight_frames),
      model_info_(SerializedModelInfo(engine->model_info())) {}

grpc::ServerUnaryReactor* InferenceService::Infer(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  auto* reactor =
      new InferCall(context, Rpc::kInfer, "infer", response, metrics_);
  if (reactor->CompleteIfExpired()) return reactor;
  v1::InferRequest request;
  if (absl::Status parsed = ParseRequest(*request_bytes, &request);
      !parsed.ok()) {
    reactor->Complete(parsed);
    return reactor;
  }
  reactor->set_request_id(request.request_id());
  reactor->set_encoder([id = request.request_id()](InferResult&& result,
                                                   absl::Duration total,
                                                   grpc::ByteBuffer* out) {
    return EncodeInferResponse(id, std::move(result), total, out);
  });
  reactor->Start(engine_, InferRequestFromProto(request));
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::Plan(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  const absl::Time arrival = absl::Now();
  metrics_->RpcStarted(Rpc::kPlan);
  v1::PlanRequest request;
  v1::PlanResponse response;
  std::string description;
  absl::Status status = ParseRequest(*request_bytes, &request);
  if (status.ok()) {
    absl::StatusOr<PlanRequest> plan_request = PlanRequestFromProto(request);
    absl::StatusOr<ArchPlan> plan = plan_request.ok()
                                        ? engine_->PlanFor(*plan_request)
                                        : plan_request.status();
    if (plan.ok()) {
      PlanToProto(*plan, response.mutable_plan());
      if (DebugLogOn()) description = DescribePlan(*plan);
    } else {
      status = plan.status();
    }
  }
  response.set_request_id(request.request_id());
  if (status.ok()) status = SerializeResponse(response, response_bytes);
  if (status.ok()) {
    SLIM_LOG(DEBUG) << "plan id=" << Bounded(request.request_id()) << " OK "
                    << description;
  } else {
    LogFailure("plan", request.request_id(), status);
  }
  metrics_->RpcFinished(Rpc::kPlan, status.code(), absl::Now() - arrival);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::GetModelInfo(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  const absl::Time arrival = absl::Now();
  metrics_->RpcStarted(Rpc::kGetModelInfo);
  v1::GetModelInfoRequest request;
  const absl::Status status = ParseRequest(*request_bytes, &request);
  if (status.ok()) {
    *response = model_info_;  // shares the slices
  } else {
    SLIM_LOG(WARNING) << "model info failed: " << status;
  }
  metrics_->RpcFinished(Rpc::kGetModelInfo, status.code(),
                        absl::Now() - arrival);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
InferenceService::InferStream(grpc::CallbackServerContext* context) {
  return StartStream(context, engine_, metrics_, stream_max_inflight_frames_,
                     Rpc::kInferStream, V1StreamCodec());
}

}  // namespace slimserve
