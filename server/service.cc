#include "server/service.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "base/strings.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "server/convert.h"

namespace slimserve {
namespace {

absl::Time DeadlineOf(const grpc::CallbackServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// "we=0.5 semseg=1 depth=0.25 (123.4/150 MFLOPs)"
std::string DescribePlan(const v1::PlanInfo& plan) {
  std::string out = absl::StrCat("we=", plan.encoder_width());
  for (const v1::TaskPlan& task : plan.tasks()) {
    absl::StrAppend(&out, " ", task.task(), "=", task.decoder_width());
  }
  absl::StrAppendFormat(&out, " (%.1f/%.1f MFLOPs%s)", plan.mflops(),
                        plan.budget_mflops(),
                        plan.degraded() ? ", degraded" : "");
  return out;
}

// Parses the raw request of a call. Bytes that are not an `M` are the
// client's mistake: INVALID_ARGUMENT, with the type and size (never the
// bytes).
template <typename M>
absl::Status ParseRequest(const grpc::ByteBuffer& bytes, M* message) {
  // Deserialize consumes its buffer; a copy shares the slices.
  grpc::ByteBuffer copy(bytes);
  if (!grpc::SerializationTraits<M>::Deserialize(&copy, message).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request: not a valid ", M::descriptor()->full_name(), " (",
        bytes.Length(),
        " bytes: bad wire format, or a string field that is not UTF-8)"));
  }
  return absl::OkStatus();
}

// The serialised `message`; INTERNAL if protobuf cannot (over 2 GiB).
absl::Status SerializeResponse(const google::protobuf::Message& message,
                               grpc::ByteBuffer* out) {
  bool own_buffer = false;
  const grpc::Status status =
      grpc::SerializationTraits<google::protobuf::Message>::Serialize(
          message, out, &own_buffer);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot serialise the response: ",
                                            status.error_message()));
  }
  return absl::OkStatus();
}

// Server-side failures are errors; the rest (bad requests, refusals under
// load, cancellations) are the client's or expected, and warnings.
bool IsServerError(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal ||
         code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kDataLoss;
}

// One Infer call. Owns itself: deleted by gRPC (OnDone) after Complete().
// Request ids come from clients: logs show them escaped.
class InferReactor final : public grpc::ServerUnaryReactor {
 public:
  // `context` and `out` are owned by gRPC and outlive the reactor;
  // `metrics` outlives the call. Counts the call as started.
  InferReactor(grpc::CallbackServerContext* context, absl::Time arrival,
               absl::Time deadline, grpc::ByteBuffer* out, Metrics* metrics)
      : context_(context),
        arrival_(arrival),
        deadline_(deadline),
        out_(out),
        metrics_(metrics) {
    metrics_->RpcStarted(Rpc::kInfer);
  }

  // The client's id, echoed and logged; set once the request is parsed.
  void set_request_id(std::string id) { request_id_ = std::move(id); }

  // Set when the call is cancelled; shared with the engine.
  std::shared_ptr<const std::atomic<bool>> cancelled() const {
    return cancelled_;
  }

  // Fills the response, logs the call and finishes it. Call exactly once,
  // from any thread.
  void Complete(absl::StatusOr<InferResult> result) {
    // The client is gone: an answer computed anyway (its batch was running)
    // is not sent, and the call counts as what the client saw.
    // IsCancelled() too: it is set as the transport reads the client's
    // RST_STREAM, while OnCancel may still be queued on a callback thread.
    if (result.ok() && (cancelled_->load() || context_->IsCancelled())) {
      // gRPC cancels a call at its deadline too.
      result = absl::Now() >= deadline_
                   ? absl::DeadlineExceededError("deadline passed in compute")
                   : absl::CancelledError("cancelled by the client");
    }
    absl::Status status = result.status();
    v1::InferResponse response;
    if (result.ok()) {
      metrics_->RecordInferResult(*result);
      if (result->first_in_batch) {  // each batch counted once
        metrics_->RecordBatch(result->plan.encoder_width_index,
                              result->batch_size);
      }
      InferResultToProto(*std::move(result), &response);
    }
    response.set_request_id(request_id_);
    const absl::Duration total = absl::Now() - arrival_;
    const double total_ms = absl::ToDoubleMilliseconds(total);
    response.mutable_timings()->set_total_ms(total_ms);
    if (status.ok()) status = SerializeResponse(response, out_);
    if (status.ok()) {
      const v1::Timings& t = response.timings();
      SLIM_LOG(DEBUG) << absl::StrFormat(
          "infer id=%s OK plan: %s; ms: queue %.2f preprocess %.2f compute "
          "%.2f postprocess %.2f total %.2f",
          Bounded(request_id_), DescribePlan(response.plan()),
          t.queue_ms(), t.preprocess_ms(), t.compute_ms(), t.postprocess_ms(),
          total_ms);
    } else if (status.code() == absl::StatusCode::kCancelled) {
      // The client's choice (its deadline, its user), not a server problem:
      // under client timeouts a WARNING per call would flood the log.
      SLIM_LOG(DEBUG) << absl::StrFormat("infer id=%s cancelled after %.2f ms",
                                         Bounded(request_id_), total_ms);
    } else if (IsServerError(status.code())) {
      SLIM_LOG(ERROR) << absl::StrFormat("infer id=%s failed after %.2f ms: %s",
                                         Bounded(request_id_),
                                         total_ms, status.ToString());
    } else {
      SLIM_LOG(WARNING) << absl::StrFormat(
          "infer id=%s failed after %.2f ms: %s", Bounded(request_id_),
          total_ms, status.ToString());
    }
    metrics_->RpcFinished(Rpc::kInfer, status.code(), total);
    Finish(ToGrpcStatus(status));
  }

  void OnCancel() override { cancelled_->store(true); }
  void OnDone() override { delete this; }

 private:
  grpc::CallbackServerContext* const context_;
  std::string request_id_;
  const absl::Time arrival_;
  const absl::Time deadline_;
  grpc::ByteBuffer* const out_;
  Metrics* const metrics_;
  const std::shared_ptr<std::atomic<bool>> cancelled_ =
      std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

namespace {

grpc::ByteBuffer SerializedModelInfo(const ModelInfo& info) {
  grpc::ByteBuffer bytes;
  if (!SerializeResponse(ModelInfoToProto(info), &bytes).ok()) std::abort();
  return bytes;
}

}  // namespace

InferenceService::InferenceService(Engine* engine, Metrics* metrics)
    : engine_(engine),
      metrics_(metrics),
      model_info_(SerializedModelInfo(engine->model_info())) {}

grpc::ServerUnaryReactor* InferenceService::Infer(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  const absl::Time arrival = absl::Now();
  const absl::Time deadline = DeadlineOf(*context);
  auto* reactor = new InferReactor(context, arrival, deadline, response, metrics_);

  if (deadline <= arrival) {
    reactor->Complete(
        absl::DeadlineExceededError("deadline passed before the call arrived"));
    return reactor;
  }
  v1::InferRequest request;
  if (absl::Status parsed = ParseRequest(*request_bytes, &request);
      !parsed.ok()) {
    reactor->Complete(parsed);
    return reactor;
  }
  reactor->set_request_id(request.request_id());
  absl::StatusOr<InferRequest> engine_request = InferRequestFromProto(request);
  if (!engine_request.ok()) {
    reactor->Complete(engine_request.status());
    return reactor;
  }
  engine_request->deadline = deadline;
  engine_request->cancelled = reactor->cancelled();
  const absl::Status submitted =
      engine_->Submit(*std::move(engine_request),
                      [reactor](absl::StatusOr<InferResult> result) {
                        reactor->Complete(std::move(result));
                      });
  if (!submitted.ok()) reactor->Complete(submitted);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::Plan(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  const absl::Time arrival = absl::Now();
  metrics_->RpcStarted(Rpc::kPlan);
  v1::PlanRequest request;
  v1::PlanResponse response;
  absl::Status status = ParseRequest(*request_bytes, &request);
  if (status.ok()) status = ValidateRequestId(request.request_id());
  if (status.ok()) {
    absl::StatusOr<PlanRequest> plan_request = PlanRequestFromProto(request);
    absl::StatusOr<ArchPlan> plan = plan_request.ok()
                                        ? engine_->PlanFor(*plan_request)
                                        : plan_request.status();
    if (plan.ok()) {
      PlanToProto(*plan, response.mutable_plan());
    } else {
      status = plan.status();
    }
  }
  response.set_request_id(request.request_id());
  if (status.ok()) status = SerializeResponse(response, response_bytes);
  if (status.ok()) {
    SLIM_LOG(DEBUG) << "plan id=" << Bounded(request.request_id()) << " OK "
                    << DescribePlan(response.plan());
  } else if (IsServerError(status.code())) {
    SLIM_LOG(ERROR) << "plan id=" << Bounded(request.request_id())
                    << " failed: " << status;
  } else {
    SLIM_LOG(WARNING) << "plan id=" << Bounded(request.request_id())
                      << " failed: " << status;
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

}  // namespace slimserve
