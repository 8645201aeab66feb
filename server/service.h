#ifndef SLIMSERVE_SERVER_SERVICE_H_
#define SLIMSERVE_SERVER_SERVICE_H_

// slimserve.v1.Inference on the gRPC callback API.
//
// Handlers never block on compute. Infer validates the request, hands it to
// Engine::Submit and returns; the reactor is finished from the engine's
// completion callback (on an engine thread). A client cancellation or an
// expired deadline sets the request's cancelled flag, so the engine drops it
// if it has not started. Plan and GetModelInfo answer inline (microseconds).
//
// Errors keep the engine's code and message (see ToGrpcStatus); requests the
// wire format cannot express are INVALID_ARGUMENT naming the field.
//
// Every call is counted in `metrics` (see server/metrics.h) and logged: one
// line per call at debug level (id, plan, timings), failures at warning.

#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics.h"
#include "slimserve/v1/slimserve.grpc.pb.h"

namespace slimserve {

class InferenceService final : public v1::Inference::CallbackService {
 public:
  // REQUIRES: `engine` and `metrics` outlive the service and every call it
  // started.
  InferenceService(Engine* engine, Metrics* metrics);

  grpc::ServerUnaryReactor* Infer(grpc::CallbackServerContext* context,
                                  const v1::InferRequest* request,
                                  v1::InferResponse* response) override;

  grpc::ServerUnaryReactor* Plan(grpc::CallbackServerContext* context,
                                 const v1::PlanRequest* request,
                                 v1::PlanResponse* response) override;

  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

 private:
  // Constant after construction.
  Engine* const engine_;
  Metrics* const metrics_;
  const v1::ModelInfo model_info_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_SERVICE_H_
