#ifndef SLIMSERVE_SERVER_KSERVE_H_
#define SLIMSERVE_SERVER_KSERVE_H_

// KServe v2 / Open Inference Protocol (inference.GRPCInferenceService) over
// the same engine as slimserve.v1, on the same port. The mapping of inputs,
// outputs and parameters is in server/kserve_convert.h and the README.
//
// ModelInfer is asynchronous like v1's Infer (the engine finishes the call);
// ModelStreamInfer is InferStream's reactor with this protocol's messages;
// the other methods answer inline. Readiness (ServerReady, ModelReady)
// follows the health service: set by the Server, false while draining.
// Requests are parsed from raw bytes here, as in service.h, so that bytes
// that are no request get INVALID_ARGUMENT with a message.

#include <atomic>

#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/metrics.h"

namespace slimserve {

namespace kserve_internal {
using Base = inference::GRPCInferenceService::WithRawCallbackMethod_ModelStreamInfer<
    inference::GRPCInferenceService::WithRawCallbackMethod_ServerLive<
    inference::GRPCInferenceService::WithRawCallbackMethod_ServerReady<
        inference::GRPCInferenceService::WithRawCallbackMethod_ModelReady<
            inference::GRPCInferenceService::WithRawCallbackMethod_ServerMetadata<
                inference::GRPCInferenceService::WithRawCallbackMethod_ModelMetadata<
                    inference::GRPCInferenceService::WithRawCallbackMethod_ModelInfer<
                        inference::GRPCInferenceService::Service>>>>>>>;
}  // namespace kserve_internal

class KServeService final : public kserve_internal::Base {
 public:
  // REQUIRES: `engine` and `metrics` outlive the service and every call it
  // started; stream_max_inflight_frames >= 1 (server/stream.h). Not ready
  // until SetReady(true).
  KServeService(Engine* engine, Metrics* metrics,
                int stream_max_inflight_frames);

  // What ServerReady and ModelReady answer.
  void SetReady(bool ready) { ready_.store(ready); }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  // Triton's stream: ModelInferRequests in, ModelStreamInferResponses out,
  // in order, as InferStream (server/stream.h).
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ModelStreamInfer(
      grpc::CallbackServerContext* context) override;

 private:
  // Constant after construction.
  Engine* const engine_;
  Metrics* const metrics_;
  const int stream_max_inflight_frames_;
  std::atomic<bool> ready_{false};
};

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_KSERVE_H_
