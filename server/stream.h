#ifndef SLIMSERVE_SERVER_STREAM_H_
#define SLIMSERVE_SERVER_STREAM_H_

// slimserve.v1.InferenceService/InferStream: a bidirectional stream of
// frames, each an InferRequest run through the engine like a unary Infer.
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
// gets an InferStreamResponse with `error`; the stream goes on. The stream
// ends OK when the client half-closes and every frame is answered;
// CANCELLED / DEADLINE_EXCEEDED when the client cancels or the stream's
// deadline passes (frames not started are dropped by the engine).
//
// Deadlines: a frame's is the earliest of the stream's deadline and its
// arrival + timeout (the frame's timeout_ms, else the defaults'
// frame_timeout_ms).

#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics.h"

namespace slimserve {

// Starts the reactor of one InferStream call; it owns itself and is deleted
// when gRPC is done with it and the engine has answered every frame.
// REQUIRES: `engine` and `metrics` outlive the call; max_inflight_frames >= 1.
grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StartInferStream(
    grpc::CallbackServerContext* context, Engine* engine, Metrics* metrics,
    int max_inflight_frames);

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_STREAM_H_
