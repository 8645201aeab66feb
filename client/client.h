#ifndef SLIMSERVE_CLIENT_CLIENT_H_
#define SLIMSERVE_CLIENT_CLIENT_H_

// C++ client of a slimserve server.
//
//   absl::StatusOr<std::unique_ptr<SlimClient>> client =
//       SlimClient::Connect("localhost:50051", absl::Seconds(10));
//   v1::InferRequest request;
//   request.mutable_image()->set_encoded(png_bytes);
//   request.mutable_budget()->set_fraction(0.5);
//   absl::StatusOr<v1::InferResponse> response = (*client)->Infer(request);
//
// Every call returns the server's status as an absl::Status with the same
// code and message. Calls failing with a retryable code are retried by gRPC
// (client/channel.h; ChannelOptions.retry). TLS and mutual TLS:
// ChannelOptions.tls. Thread-safe: one client may serve many threads.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "client/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "slimserve/v1/slimserve.grpc.pb.h"

namespace slimserve {

// Per-call settings of SlimClient.
struct CallOptions {
  // The call fails with DEADLINE_EXCEEDED once this passes.
  absl::Time deadline = absl::InfiniteFuture();
  // Infer and Plan: when not empty, replaces the request's request_id.
  std::string request_id;
};

class SlimClient {
 public:
  // Opens a channel to `target` (host:port or any gRPC target URI) and waits
  // up to `timeout` for it to connect; UNAVAILABLE if it does not,
  // INVALID_ARGUMENT for inconsistent `options`.
  static absl::StatusOr<std::unique_ptr<SlimClient>> Connect(
      const std::string& target, absl::Duration timeout,
      const ChannelOptions& options = {});

  SlimClient(const SlimClient&) = delete;
  SlimClient& operator=(const SlimClient&) = delete;

  absl::StatusOr<v1::InferResponse> Infer(v1::InferRequest request,
                                          const CallOptions& options = {});

  absl::StatusOr<v1::PlanResponse> Plan(v1::PlanRequest request,
                                        const CallOptions& options = {});

  absl::StatusOr<v1::GetModelInfoResponse> GetModelInfo(const CallOptions& options = {});

  // grpc.health.v1.Health/Check of `service` ("" asks about the server as a
  // whole). NOT_FOUND for a service the server does not know.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse> Health(
      const std::string& service = "", const CallOptions& options = {});

 private:
  explicit SlimClient(std::shared_ptr<grpc::Channel> channel);

  // Constant after construction; the stubs are thread-safe.
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::InferenceService::Stub> inference_;
  const std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_CLIENT_CLIENT_H_
