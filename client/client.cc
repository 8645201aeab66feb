#include "client/client.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace slimserve {
namespace {

// gRPC and Abseil share the canonical codes, value for value.
absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = status.error_code();
  const bool canonical =
      code > 0 && code <= static_cast<int>(absl::StatusCode::kUnauthenticated);
  return absl::Status(canonical ? static_cast<absl::StatusCode>(code)
                                : absl::StatusCode::kUnknown,
                      status.error_message());
}

void ApplyDeadline(const CallOptions& options, grpc::ClientContext* context) {
  if (options.deadline != absl::InfiniteFuture()) {
    context->set_deadline(absl::ToChronoTime(options.deadline));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<SlimClient>> SlimClient::Connect(
    const std::string& target, absl::Duration timeout,
    const ChannelOptions& options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      ConnectSlimChannel(target, options, timeout);
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<SlimClient>(new SlimClient(*std::move(channel)));
}

SlimClient::SlimClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      inference_(v1::InferenceService::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

absl::StatusOr<v1::InferResponse> SlimClient::Infer(
    v1::InferRequest request, const CallOptions& options) {
  if (!options.request_id.empty()) request.set_request_id(options.request_id);
  grpc::ClientContext context;
  ApplyDeadline(options, &context);
  v1::InferResponse response;
  absl::Status status =
      FromGrpcStatus(inference_->Infer(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::PlanResponse> SlimClient::Plan(v1::PlanRequest request,
                                                  const CallOptions& options) {
  if (!options.request_id.empty()) request.set_request_id(options.request_id);
  grpc::ClientContext context;
  ApplyDeadline(options, &context);
  v1::PlanResponse response;
  absl::Status status =
      FromGrpcStatus(inference_->Plan(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::GetModelInfoResponse> SlimClient::GetModelInfo(
    const CallOptions& options) {
  grpc::ClientContext context;
  ApplyDeadline(options, &context);
  v1::GetModelInfoResponse response;
  absl::Status status = FromGrpcStatus(
      inference_->GetModelInfo(&context, v1::GetModelInfoRequest(), &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse> SlimClient::Health(
    const std::string& service, const CallOptions& options) {
  grpc::ClientContext context;
  ApplyDeadline(options, &context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  absl::Status status =
      FromGrpcStatus(health_->Check(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

}  // namespace slimserve
