#ifndef SLIMSERVE_SERVER_STREAM_H_
#define SLIMSERVE_SERVER_STREAM_H_

// Bidirectional inference streams: slimserve.v1's InferStream and KServe
// v2's ModelStreamInfer, one reactor for both; each protocol supplies a
// StreamCodec that turns its messages into engine requests and the
// engine's answers into its messages.
//
// Order and flow control: frames are answered in the order they arrived.
// The reactor reads the next frame only while fewer than
// `max_inflight_frames` are unanswered (submitted, computed but not yet
// written, or being written), and writes one response at a time. So a
// client that reads slowly stops the server's reads, HTTP/2 flow control
// then stops the client's writes, and a stream holds at most
// max_inflight_frames requests and responses.
//
// Errors: a frame that fails (bad image, budget, overload, its deadline)
// gets its protocol's error response; the stream goes on. The stream ends
// OK when the client half-closes and every frame is answered; CANCELLED /
// DEADLINE_EXCEEDED when the client cancels or the stream's deadline passes
// (frames not started are dropped by the engine).
//
// Deadlines: a frame's is the earliest of the stream's deadline and its
// arrival + its timeout (StreamFrame::timeout_ms).

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics.h"

namespace slimserve {

// Serialises a frame's answer, its result or its error, as the protocol's
// stream response into `out`; `total` is arrival -> now. Any thread, once.
using StreamEncoder = std::function<absl::Status(
    absl::StatusOr<InferResult> result, absl::Duration total,
    grpc::ByteBuffer* out)>;

// One frame as its protocol read it.
struct StreamFrame {
  // Logged (bounded) and echoed by `encode`; empty for none.
  std::string id;
  // The engine request, or the frame's error (answered without running).
  absl::StatusOr<InferRequest> request = absl::UnknownError("no request");
  // > 0: the frame's own timeout from its arrival.
  double timeout_ms = 0;
  StreamEncoder encode;
};

// A protocol's side of a stream; one instance per stream, called from the
// reading thread only (one read at a time), so it may keep state.
class StreamCodec {
 public:
  virtual ~StreamCodec() = default;
  // One message of the stream. nullopt: it carried no frame (slimserve.v1:
  // new defaults only); otherwise a frame, possibly with its error (bytes
  // that are no message of the protocol included: the stream goes on).
  virtual std::optional<StreamFrame> Decode(const grpc::ByteBuffer& message) = 0;
};

// Starts the reactor of one stream call of `rpc` (Rpc::kInferStream or
// kModelStreamInfer); it owns itself and is deleted when gRPC is done with
// it and the engine has answered every frame.
// REQUIRES: `engine` and `metrics` outlive the call; max_inflight_frames >= 1.
grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StartStream(
    grpc::CallbackServerContext* context, Engine* engine, Metrics* metrics,
    int max_inflight_frames, Rpc rpc, std::unique_ptr<StreamCodec> codec);

// slimserve.v1.InferStream's codec: InferStreamRequest (defaults and/or a
// frame) in, InferStreamResponse out.
std::unique_ptr<StreamCodec> V1StreamCodec();

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_STREAM_H_
