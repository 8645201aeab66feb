#ifndef SLIMSERVE_SERVER_CALL_H_
#define SLIMSERVE_SERVER_CALL_H_

// What every RPC handler of the server shares, whichever protocol it speaks
// (slimserve.v1 in service.h, KServe v2 in kserve.h): parsing raw request
// bytes, serialising answers, deadlines, and InferCall, the reactor of one
// inference call that the engine finishes.

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/types.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "server/metrics.h"

namespace slimserve {

// The call's deadline; InfiniteFuture() when the client set none.
absl::Time DeadlineOf(const grpc::CallbackServerContext& context);

// Parses the raw request of a call. Bytes that are not an `M` are the
// client's mistake: INVALID_ARGUMENT, with the type and size (never the
// bytes). gRPC's own parsing would answer UNIMPLEMENTED with no message.
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
                               grpc::ByteBuffer* out);

// Server-side failures are errors; the rest (bad requests, refusals under
// load, cancellations) are the client's or expected, and warnings.
bool IsServerError(absl::StatusCode code);

// "we=0.5 semseg=1 depth=0.25 (123.4/150.0 MFLOPs)" for logs.
std::string DescribePlan(const ArchPlan& plan);

// Logs "<rpc> id=<id> failed<detail>: <status>" for a failed call of `rpc`
// (the log's name for it, e.g. "plan") at the level IsServerError says.
void LogFailure(absl::string_view rpc, absl::string_view request_id,
                const absl::Status& status, absl::string_view detail = "");

// One inference call, of either protocol. Owns itself: deleted by gRPC
// (OnDone) after Complete(). What the protocol answers is `encode`'s: it
// turns the engine's result into the response bytes. Request ids come from
// clients: logs show them escaped and bounded.
class InferCall final : public grpc::ServerUnaryReactor {
 public:
  // Serialises `result` as the protocol's response into `out`; `total` is
  // arrival -> now. Runs on an engine thread.
  using Encoder = std::function<absl::Status(
      InferResult&& result, absl::Duration total, grpc::ByteBuffer* out)>;

  // `context` and `out` are owned by gRPC and outlive the reactor; `metrics`
  // outlives the call. `log_name` names the call in logs ("infer"). The call
  // arrives now, with the context's deadline. Counts the call as started.
  InferCall(grpc::CallbackServerContext* context, Rpc rpc,
            const char* log_name, grpc::ByteBuffer* out, Metrics* metrics);

  // When the deadline passed before the call arrived, completes it with
  // DEADLINE_EXCEEDED and returns true (nothing else is to be done with it).
  bool CompleteIfExpired();

  // The client's id, logged; set once the request is parsed.
  void set_request_id(std::string id) { request_id_ = std::move(id); }
  // Set before the request is submitted.
  void set_encoder(Encoder encoder) { encode_ = std::move(encoder); }

  // Submits `request` with this call's deadline (or arrival + `timeout`,
  // the protocol's own, when earlier) and cancellation; the engine's answer
  // completes the call. A refused or failed request completes it at once.
  // Call once, after set_encoder; `engine` outlives the call.
  void Start(Engine* engine, absl::StatusOr<InferRequest> request,
             absl::Duration timeout = absl::InfiniteDuration());

  // Encodes the response, logs the call and finishes it. Call exactly once,
  // from any thread.
  void Complete(absl::StatusOr<InferResult> result);

  void OnCancel() override { cancelled_->store(true); }
  void OnDone() override { delete this; }

 private:
  grpc::CallbackServerContext* const context_;
  const Rpc rpc_;
  const char* const log_name_;
  std::string request_id_;
  Encoder encode_;
  const absl::Time arrival_;
  const absl::Time deadline_;
  grpc::ByteBuffer* const out_;
  Metrics* const metrics_;
  const std::shared_ptr<std::atomic<bool>> cancelled_ =
      std::make_shared<std::atomic<bool>>(false);
};

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_CALL_H_
