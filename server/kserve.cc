#include "server/kserve.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/call.h"
#include "server/convert.h"
#include "server/kserve_convert.h"
#include "server/stream.h"

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

// A ModelInferRequest per frame; the answer as a ModelStreamInferResponse.
class StreamCodecV2 final : public StreamCodec {
 public:
  explicit StreamCodecV2(const ModelInfo* info) : info_(info) {}

  std::optional<StreamFrame> Decode(const grpc::ByteBuffer& bytes) override {
    ModelInferRequest request;
    StreamFrame frame;
    std::vector<std::string> outputs;
    absl::Status status = ParseRequest(bytes, &request);
    if (status.ok()) {
      // An id over the limit is refused (the frame's error), not echoed.
      if (request.id().size() <= kMaxRequestIdBytes) frame.id = request.id();
      absl::StatusOr<KServeInfer> mapped = KServeInferFromProto(request, *info_);
      if (mapped.ok()) {
        outputs = std::move(mapped->outputs);
        frame.request = std::move(mapped->request);
        if (mapped->timeout != absl::InfiniteDuration()) {
          frame.timeout_ms = absl::ToDoubleMilliseconds(mapped->timeout);
        }
      } else {
        status = mapped.status();
      }
    }
    if (!status.ok()) frame.request = status;
    frame.encode = [id = frame.id, outputs = std::move(outputs), info = info_](
                       absl::StatusOr<InferResult> result, absl::Duration total,
                       grpc::ByteBuffer* out) {
      inference::ModelStreamInferResponse response;
      ModelInferResponse* answer = response.mutable_infer_response();
      if (result.ok()) {
        KServeInferToProto(*std::move(result), id, outputs, *info, total,
                           answer);
      } else {
        response.set_error_message(
            absl::StrCat(absl::StatusCodeToString(result.status().code()),
                         ": ", result.status().message()));
        answer->set_model_name(info->name);
        answer->set_model_version(info->version);
        answer->set_id(id);
      }
      return SerializeResponse(response, out);
    };
    return frame;
  }

 private:
  const ModelInfo* const info_;
};

}  // namespace

KServeService::KServeService(Engine* engine, Metrics* metrics,
                             int stream_max_inflight_frames)
    : engine_(engine),
      metrics_(metrics),
      stream_max_inflight_frames_(stream_max_inflight_frames) {}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
KServeService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  return StartStream(context, engine_, metrics_, stream_max_inflight_frames_,
                     Rpc::kModelStreamInfer,
                     std::make_unique<StreamCodecV2>(&engine_->model_info()));
}

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
  auto* call = new InferCall(context, Rpc::kModelInfer, "kserve infer",
                             response, metrics_);
  if (call->CompleteIfExpired()) return call;
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
  call->Start(engine_, std::move(mapped->request), mapped->timeout);
  return call;
}

}  // namespace slimserve
