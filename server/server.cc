#include "server/server.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/log.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace slimserve {

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const Options& options,
                                                       Engine* engine) {
  if (engine == nullptr) {
    return absl::InvalidArgumentError("engine: required");
  }
  if (options.address.empty()) {
    return absl::InvalidArgumentError("Server::Options.address: required");
  }
  if (options.max_receive_message_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Server::Options.max_receive_message_bytes: must be > 0, "
                     "got ",
                     options.max_receive_message_bytes));
  }
  if (options.max_send_message_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Server::Options.max_send_message_bytes: must be > 0, got ",
        options.max_send_message_bytes));
  }

  // Both are process-wide switches read by every ServerBuilder built later.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  auto service = std::make_unique<InferenceService>(engine);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(),
                           &port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options.max_send_message_bytes);
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.address));
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus("", true);
  health->SetServingStatus(v1::Inference::service_full_name(), true);
  return std::unique_ptr<Server>(
      new Server(std::move(service), std::move(server), port, engine));
}

Server::Server(std::unique_ptr<InferenceService> service,
               std::unique_ptr<grpc::Server> server, int port, Engine* engine)
    : service_(std::move(service)),
      server_(std::move(server)),
      port_(port),
      engine_(engine) {}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

void Server::Shutdown(absl::Duration timeout) {
  bool first;
  {
    absl::MutexLock lock(&mu_);
    first = !shutdown_started_;
    shutdown_started_ = true;
  }
  if (!first) {
    shutdown_done_.WaitForNotification();
    return;
  }
  SLIM_LOG(INFO) << "draining: " << engine_->InFlight()
                 << " requests in flight, timeout "
                 << absl::FormatDuration(timeout);
  // Every service, the overall one included.
  server_->GetHealthCheckService()->SetServingStatus(false);
  // Returns once every call has finished: on its own, or cancelled at the
  // deadline (the engine then drops it before compute, or finishes it).
  server_->Shutdown(absl::ToChronoTime(absl::Now() + timeout));
  engine_->Shutdown();
  shutdown_done_.Notify();
}

void Server::Wait() { shutdown_done_.WaitForNotification(); }

}  // namespace slimserve
