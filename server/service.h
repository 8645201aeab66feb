#ifndef SLIMSERVE_SERVER_SERVICE_H_
#define SLIMSERVE_SERVER_SERVICE_H_

// slimserve.v1.InferenceService on the gRPC callback API.
//
// Handlers never block on compute. Infer validates the request, hands it to
// Engine::Submit and returns; the reactor is finished from the engine's
// completion callback (on an engine thread). A client cancellation or an
// expired deadline sets the request's cancelled flag, so the engine drops it
// if it has not started. Plan and GetModelInfo answer inline (microseconds).
//
// Errors keep the engine's code and message (see ToGrpcStatus); requests the
// wire format cannot express are INVALID_ARGUMENT naming the field. The
// methods take the raw bytes and parse them here, so that bytes that are no
// request at all (bad wire format, a string field that is not UTF-8) get
// INVALID_ARGUMENT "request: not a valid slimserve.v1.InferRequest" too;
// gRPC's own parsing would answer UNIMPLEMENTED with no message.
//
// Every call is counted in `metrics` (see server/metrics.h) and logged: one
// line per call at debug level (id, plan, timings), failures at warning.

#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics.h"
#include "slimserve/v1/slimserve.grpc.pb.h"

namespace slimserve {

class InferenceService final
    : public v1::InferenceService::WithRawCallbackMethod_Infer<
          v1::InferenceService::WithRawCallbackMethod_Plan<
              v1::InferenceService::WithRawCallbackMethod_GetModelInfo<
                  v1::InferenceService::WithRawCallbackMethod_InferStream<
                      v1::InferenceService::Service>>>> {
 public:
  // REQUIRES: `engine` and `metrics` outlive the service and every call it
  // started; stream_max_inflight_frames >= 1 (server/stream.h).
  InferenceService(Engine* engine, Metrics* metrics,
                   int stream_max_inflight_frames);

  // `request` holds a serialised v1::InferRequest (PlanRequest,
  // GetModelInfoRequest); `response` gets the serialised answer.
  grpc::ServerUnaryReactor* Infer(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override;

  grpc::ServerUnaryReactor* Plan(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;

  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;

  // Frames in, responses out, in order (server/stream.h).
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* InferStream(
      grpc::CallbackServerContext* context) override;

 private:
  // Constant after construction.
  Engine* const engine_;
  Metrics* const metrics_;
  const int stream_max_inflight_frames_;
  // GetModelInfo's answer, serialised once.
  const grpc::ByteBuffer model_info_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_SERVICE_H_
