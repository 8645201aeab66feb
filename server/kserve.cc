#include "server/kserve.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/call.h"
#include "server/convert.h"
#include "server/kserve_convert.h"

namespace slimserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

// An inline method: parses a Request, lets `answer` fill the Response,
// counts and logs the call and finishes it.
template <typename Request, typename Response, typename Answer>
grpc::ServerUnaryReactor* AnswerInline(grpc::CallbackServerContext* context,
                                       Rpc rpc, const char* log_name,
                                       Metrics* metrics,
                                       const grpc::ByteBuffer* request_bytes,
                                       grpc::ByteBuffer* response_bytes,
                                       Answer answer) {
  const absl::Time arrival = absl::Now();
  metrics->RpcStarted(rpc);
  Request request;
  Response response;
  absl::Status status = ParseRequest(*request_bytes, &request);
  if (status.ok()) status = answer(request, &response);
  if (status.ok()) status = SerializeResponse(response, response_bytes);
  if (!status.ok()) LogFailure(log_name, "", status);
  metrics->RpcFinished(rpc, status.code(), absl::Now() - arrival);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

KServeService::KServeService(Engine* engine, Metrics* metrics)
    : engine_(engine), metrics_(metrics) {}

grpc::ServerUnaryReactor* KServeService::ServerLive(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return AnswerInline<inference::ServerLiveRequest,
                      inference::ServerLiveResponse>(
      context, Rpc::kServerLive, "kserve server_live", metrics_, request,
      response, [](const auto&, inference::ServerLiveResponse* out) {
        out->set_live(true);  // answering at all is being live
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* KServeService::ServerReady(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return AnswerInline<inference::ServerReadyRequest,
                      inference::ServerReadyResponse>(
      context, Rpc::kServerReady, "kserve server_ready", metrics_, request,
      response, [this](const auto&, inference::ServerReadyResponse* out) {
        out->set_ready(ready_.load());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* KServeService::ModelReady(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return AnswerInline<inference::ModelReadyRequest,
                      inference::ModelReadyResponse>(
      context, Rpc::kModelReady, "kserve model_ready", metrics_, request,
      response,
      [this](const inference::ModelReadyRequest& in,
             inference::ModelReadyResponse* out) {
        absl::Status known = CheckKServeModel("name", in.name(), "version",
                                              in.version(),
                                              engine_->model_info());
        if (!known.ok()) return known;
        out->set_ready(ready_.load());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* KServeService::ServerMetadata(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return AnswerInline<inference::ServerMetadataRequest,
                      inference::ServerMetadataResponse>(
      context, Rpc::kServerMetadata, "kserve server_metadata", metrics_,
      request, response,
      [](const auto&, inference::ServerMetadataResponse* out) {
        out->set_name("slimserve");
        out->set_version(kSlimserveVersion);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* KServeService::ModelMetadata(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return AnswerInline<inference::ModelMetadataRequest,
                      inference::ModelMetadataResponse>(
      context, Rpc::kModelMetadata, "kserve model_metadata", metrics_, request,
      response,
      [this](const inference::ModelMetadataRequest& in,
             inference::ModelMetadataResponse* out) {
        const ModelInfo& info = engine_->model_info();
        absl::Status known =
            CheckKServeModel("name", in.name(), "version", in.version(), info);
        if (!known.ok()) return known;
        *out = KServeModelMetadata(info);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* KServeService::ModelInfer(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  const absl::Time arrival = absl::Now();
  const absl::Time deadline = DeadlineOf(*context);
  auto* call = new InferCall(context, Rpc::kModelInfer, "kserve infer",
                             arrival, deadline, response, metrics_);
  if (deadline <= arrival) {
    call->Complete(
        absl::DeadlineExceededError("deadline passed before the call arrived"));
    return call;
  }
  ModelInferRequest request;
  if (absl::Status parsed = ParseRequest(*request_bytes, &request);
      !parsed.ok()) {
    call->Complete(parsed);
    return call;
  }
  call->set_request_id(request.id());
  const ModelInfo& info = engine_->model_info();
  absl::StatusOr<KServeInfer> mapped = KServeInferFromProto(request, info);
  if (!mapped.ok()) {
    call->Complete(mapped.status());
    return call;
  }
  call->set_encoder([id = request.id(), outputs = std::move(mapped->outputs),
                     &info](InferResult&& result, absl::Duration total,
                            grpc::ByteBuffer* out) {
    ModelInferResponse answer;
    KServeInferToProto(std::move(result), id, outputs, info, total, &answer);
    return SerializeResponse(answer, out);
  });
  InferRequest& engine_request = mapped->request;
  engine_request.deadline = deadline;
  engine_request.cancelled = call->cancelled();
  const absl::Status submitted = engine_->Submit(
      std::move(engine_request), [call](absl::StatusOr<InferResult> result) {
        call->Complete(std::move(result));
      });
  if (!submitted.ok()) call->Complete(submitted);
  return call;
}

}  // namespace slimserve
