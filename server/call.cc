#include "server/call.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "base/strings.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/convert.h"

namespace slimserve {

absl::Time DeadlineOf(const grpc::CallbackServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

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

bool IsServerError(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal ||
         code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kDataLoss;
}

std::string DescribePlan(const ArchPlan& plan) {
  std::string out = absl::StrCat("we=", plan.encoder_width);
  for (const TaskPlan& task : plan.tasks) {
    absl::StrAppend(&out, " ", task.name, "=", task.decoder_width);
  }
  absl::StrAppendFormat(&out, " (%.1f/%.1f MFLOPs%s)", MacsToMflops(plan.macs),
                        MacsToMflops(plan.budget_macs),
                        plan.degraded ? ", degraded" : "");
  return out;
}

void LogFailure(absl::string_view rpc, absl::string_view request_id,
                const absl::Status& status, absl::string_view detail) {
  const std::string line =
      absl::StrCat(rpc, " id=", Bounded(request_id), " failed", detail, ": ",
                   status.ToString());
  if (IsServerError(status.code())) {
    SLIM_LOG(ERROR) << line;
  } else {
    SLIM_LOG(WARNING) << line;
  }
}

InferCall::InferCall(grpc::CallbackServerContext* context, Rpc rpc,
                     const char* log_name, grpc::ByteBuffer* out,
                     Metrics* metrics)
    : context_(context),
      rpc_(rpc),
      log_name_(log_name),
      arrival_(absl::Now()),
      deadline_(DeadlineOf(*context)),
      out_(out),
      metrics_(metrics) {
  metrics_->RpcStarted(rpc_);
}

bool InferCall::CompleteIfExpired() {
  if (deadline_ > arrival_) return false;
  Complete(
      absl::DeadlineExceededError("deadline passed before the call arrived"));
  return true;
}

void InferCall::Start(Engine* engine, absl::StatusOr<InferRequest> request,
                      absl::Duration timeout) {
  if (!request.ok()) {
    Complete(request.status());
    return;
  }
  request->deadline = std::min(deadline_, arrival_ + timeout);
  request->cancelled = cancelled_;
  const absl::Status submitted = engine->Submit(
      *std::move(request), [this](absl::StatusOr<InferResult> result) {
        Complete(std::move(result));
      });
  if (!submitted.ok()) Complete(submitted);
}

void InferCall::Complete(absl::StatusOr<InferResult> result) {
  // The client is gone: an answer computed anyway (its batch was running)
  // is not sent, and the call counts as what the client saw. IsCancelled()
  // too: it is set as the transport reads the client's RST_STREAM, while
  // OnCancel may still be queued on a callback thread.
  if (result.ok() && (cancelled_->load() || context_->IsCancelled())) {
    // gRPC cancels a call at its deadline too.
    result = absl::Now() >= deadline_
                 ? absl::DeadlineExceededError("deadline passed in compute")
                 : absl::CancelledError("cancelled by the client");
  }
  absl::Status status = result.status();
  const absl::Duration total = absl::Now() - arrival_;
  const double total_ms = absl::ToDoubleMilliseconds(total);
  std::string summary;  // only when debug lines are written: a hot path
  if (result.ok()) {
    metrics_->RecordAnswer(*result);
    if (DebugLogOn()) {
      const Timings& t = result->timings;
      summary = absl::StrFormat(
          "plan: %s; ms: queue %.2f preprocess %.2f compute %.2f postprocess "
          "%.2f total %.2f",
          DescribePlan(result->plan), absl::ToDoubleMilliseconds(t.queue),
          absl::ToDoubleMilliseconds(t.preprocess),
          absl::ToDoubleMilliseconds(t.compute),
          absl::ToDoubleMilliseconds(t.postprocess), total_ms);
    }
    status = encode_(*std::move(result), total, out_);
  }
  if (status.ok()) {
    SLIM_LOG(DEBUG) << absl::StrFormat("%s id=%s OK %s", log_name_,
                                       Bounded(request_id_), summary);
  } else if (status.code() == absl::StatusCode::kCancelled) {
    // The client's choice (its deadline, its user), not a server problem:
    // under client timeouts a WARNING per call would flood the log.
    SLIM_LOG(DEBUG) << absl::StrFormat("%s id=%s cancelled after %.2f ms",
                                       log_name_, Bounded(request_id_),
                                       total_ms);
  } else {
    LogFailure(log_name_, request_id_, status,
               absl::StrFormat(" after %.2f ms", total_ms));
  }
  metrics_->RpcFinished(rpc_, status.code(), total);
  Finish(ToGrpcStatus(status));
}

}  // namespace slimserve
