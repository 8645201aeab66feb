#include "server/server.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"

namespace slimserve {
namespace {

// gRPC channel args take int milliseconds; INT_MAX means "never".
int ChannelArgMs(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return INT_MAX;
  return static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(d), INT_MAX));
}

absl::Status CheckPositive(const char* field, absl::Duration d) {
  if (d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("Server::Options.", field,
                                                   ": must be > 0, got ",
                                                   absl::FormatDuration(d)));
  }
  return absl::OkStatus();
}

// A cheap check of what gRPC will parse, so that a swapped flag (the key
// given as the certificate, a DER file) is named at once.
absl::Status CheckPem(const char* field, const std::string& pem,
                      const char* marker) {
  if (pem.find(marker) == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("Server::Options.tls.", field, ": not PEM with \"",
                     marker, "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateTls(const Server::TlsOptions& tls) {
  const bool has_cert = !tls.cert_chain_pem.empty();
  const bool has_key = !tls.private_key_pem.empty();
  if (has_cert != has_key) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Server::Options.tls.", has_cert ? "private_key_pem" : "cert_chain_pem",
        ": required with tls.",
        has_cert ? "cert_chain_pem" : "private_key_pem"));
  }
  if (!has_cert) {
    if (!tls.client_ca_pem.empty()) {
      return absl::InvalidArgumentError(
          "Server::Options.tls.client_ca_pem: needs tls.cert_chain_pem and "
          "tls.private_key_pem (mutual TLS is TLS)");
    }
    return absl::OkStatus();
  }
  if (absl::Status st = CheckPem("cert_chain_pem", tls.cert_chain_pem,
                                 "-----BEGIN CERTIFICATE-----");
      !st.ok()) {
    return st;
  }
  if (absl::Status st =
          CheckPem("private_key_pem", tls.private_key_pem, "PRIVATE KEY-----");
      !st.ok()) {
    return st;
  }
  if (!tls.client_ca_pem.empty()) {
    return CheckPem("client_ca_pem", tls.client_ca_pem,
                    "-----BEGIN CERTIFICATE-----");
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> CredentialsFor(
    const Server::TlsOptions& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      tls.client_ca_pem.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = tls.client_ca_pem;
  ssl.pem_key_cert_pairs.push_back({tls.private_key_pem, tls.cert_chain_pem});
  return grpc::SslServerCredentials(ssl);
}

// Whether gRPC can start a port with these credentials.
bool CredentialsLoad(const Server::TlsOptions& tls) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", CredentialsFor(tls), &port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) return false;
  server->Shutdown();
  return true;
}

absl::Status Validate(const Server::Options& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("Server::Options.address: required");
  }
  if (absl::Status st = ValidateTls(options.tls); !st.ok()) return st;
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
  for (absl::Status status :
       {CheckPositive("keepalive.time", options.keepalive.time),
        CheckPositive("keepalive.timeout", options.keepalive.timeout),
        CheckPositive("keepalive.min_client_ping_interval",
                      options.keepalive.min_client_ping_interval),
        CheckPositive("connection_age.max_age", options.connection_age.max_age),
        CheckPositive("connection_age.max_age_grace",
                      options.connection_age.max_age_grace)}) {
    if (!status.ok()) return status;
  }
  if (options.stream_max_inflight_frames < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Server::Options.stream_max_inflight_frames: must be >= 1, got ",
        options.stream_max_inflight_frames));
  }
  if (options.resources.max_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Server::Options.resources.max_threads: must be >= 0, "
                     "got ",
                     options.resources.max_threads));
  }
  if (options.resources.max_memory_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Server::Options.resources.max_memory_bytes: must be >= 0, got ",
        options.resources.max_memory_bytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const Options& options,
                                                       Engine* engine) {
  if (engine == nullptr) {
    return absl::InvalidArgumentError("engine: required");
  }
  if (absl::Status status = Validate(options); !status.ok()) return status;

  std::shared_ptr<Metrics> metrics = options.metrics;
  if (metrics == nullptr) {
    Metrics::Options metrics_options;
    metrics_options.grpc_version = grpc::Version();
    absl::StatusOr<std::shared_ptr<Metrics>> own =
        Metrics::Create(metrics_options);
    if (!own.ok()) return own.status();
    metrics = *std::move(own);
  }
  if (absl::Status status = metrics->SetModel(ModelLabelsOf(engine->model_info()));
      !status.ok()) {
    return status;
  }

  // Both are process-wide switches read by every ServerBuilder built later.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  auto service = std::make_unique<InferenceService>(
      engine, metrics.get(), options.stream_max_inflight_frames);
  auto kserve = std::make_unique<KServeService>(
      engine, metrics.get(), options.stream_max_inflight_frames);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.address, CredentialsFor(options.tls), &port);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options.max_send_message_bytes);

  const KeepaliveOptions& keepalive = options.keepalive;
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             ChannelArgMs(keepalive.time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             ChannelArgMs(keepalive.timeout));
  // Accept client pings at min_client_ping_interval even between calls
  // (otherwise an idle client's keepalive earns "too_many_pings").
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      ChannelArgMs(keepalive.min_client_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             ChannelArgMs(options.connection_age.max_age));
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
      ChannelArgMs(options.connection_age.max_age_grace));

  grpc::ResourceQuota quota("slimserve");
  if (options.resources.max_threads > 0) {
    quota.SetMaxThreads(options.resources.max_threads);
  }
  if (options.resources.max_memory_bytes > 0) {
    quota.Resize(static_cast<size_t>(options.resources.max_memory_bytes));
  }
  builder.SetResourceQuota(quota);

  builder.RegisterService(service.get());
  builder.RegisterService(kserve.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    // gRPC says why only in its log: the address, or (with TLS) credentials
    // it cannot load, e.g. a key that is not the certificate's. A loopback
    // port of the kernel's choosing tells them apart.
    if (options.tls.enabled() && !CredentialsLoad(options.tls)) {
      return absl::InvalidArgumentError(
          "Server::Options.tls: gRPC cannot use this certificate chain and "
          "private key (is the key the certificate's?)");
    }
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.address));
  }
  metrics->SetQueueDepthSource([engine] { return engine->InFlight(); });
  // The engine is loaded and warmed up (REQUIRES), so the server is ready.
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus("", true);
  health->SetServingStatus(v1::InferenceService::service_full_name(), true);
  kserve->SetReady(true);
  metrics->SetServing(true);
  return std::unique_ptr<Server>(
      new Server(std::move(metrics), std::move(service), std::move(kserve),
                 std::move(server), port, engine));
}

Server::Server(std::shared_ptr<Metrics> metrics,
               std::unique_ptr<InferenceService> service,
               std::unique_ptr<KServeService> kserve,
               std::unique_ptr<grpc::Server> server, int port, Engine* engine)
    : metrics_(std::move(metrics)),
      service_(std::move(service)),
      kserve_(std::move(kserve)),
      server_(std::move(server)),
      port_(port),
      engine_(engine) {}

Server::~Server() {
  Shutdown(absl::ZeroDuration());
  // The metrics may outlive the engine (the exposer keeps scraping them).
  metrics_->SetQueueDepthSource(nullptr);
}

void Server::StartDrain() {
  {
    absl::MutexLock lock(&mu_);
    if (draining_) return;
    draining_ = true;
  }
  SLIM_LOG(INFO) << "draining: health NOT_SERVING, still serving calls ("
                 << engine_->InFlight() << " in flight)";
  // Every service, the overall one included.
  server_->GetHealthCheckService()->SetServingStatus(false);
  kserve_->SetReady(false);
  metrics_->SetServing(false);
}

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
  StartDrain();
  SLIM_LOG(INFO) << "shutting down: no new calls; " << engine_->InFlight()
                 << " requests in flight get up to "
                 << absl::FormatDuration(timeout);
  // Returns once every call has finished: on its own, or cancelled at the
  // deadline (the engine then drops it before compute, or finishes it).
  server_->Shutdown(absl::ToChronoTime(absl::Now() + timeout));
  engine_->Shutdown();
  shutdown_done_.Notify();
}

void Server::Wait() { shutdown_done_.WaitForNotification(); }

}  // namespace slimserve
