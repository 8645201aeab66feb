#include "client/channel.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace slimserve {
namespace {

absl::Status Bad(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("ChannelOptions.", field, ": ", problem));
}

absl::Status Validate(const ChannelOptions& options) {
  const ChannelTlsOptions& tls = options.tls;
  if (!tls.enabled) {
    for (const auto& [field, value] :
         {std::pair<const char*, const std::string*>{"tls.root_certs_pem",
                                                     &tls.root_certs_pem},
          {"tls.cert_chain_pem", &tls.cert_chain_pem},
          {"tls.private_key_pem", &tls.private_key_pem},
          {"tls.server_name", &tls.server_name}}) {
      if (!value->empty()) return Bad(field, "set without tls.enabled");
    }
  }
  if (tls.cert_chain_pem.empty() != tls.private_key_pem.empty()) {
    return Bad(tls.cert_chain_pem.empty() ? "tls.cert_chain_pem"
                                          : "tls.private_key_pem",
               "the client certificate and its key go together");
  }
  if (options.retry &&
      (options.max_attempts < 2 || options.max_attempts > 5)) {
    return Bad("max_attempts",
               absl::StrCat("must be in [2, 5], got ", options.max_attempts));
  }
  if (!IsLbPolicy(options.lb_policy)) {
    // The value is not echoed: it is unbounded.
    return Bad("lb_policy", "must be pick_first or round_robin");
  }
  if (options.max_reconnect_backoff < absl::Milliseconds(100) ||
      options.max_reconnect_backoff > absl::Hours(1)) {
    return Bad("max_reconnect_backoff", "must be in [100ms, 1h]");
  }
  if (options.max_receive_message_bytes <= 0) {
    return Bad("max_receive_message_bytes", "must be > 0");
  }
  return absl::OkStatus();
}

// The members of the service config's top-level object for the retry
// policy and for the balancing policy.
std::string RetryMembers(int max_attempts) {
  // gRFC A6. The throttle: each failed attempt costs a token, each success
  // earns 0.1; retries stop while fewer than half of the 10 are left.
  return absl::StrCat(
      R"("methodConfig":[{"name":[{"service":"slimserve.v1.InferenceService"},)",
      R"({"service":"grpc.health.v1.Health"}],"retryPolicy":{"maxAttempts":)",
      max_attempts,
      R"(,"initialBackoff":"0.05s","maxBackoff":"1s","backoffMultiplier":2,)",
      R"("retryableStatusCodes":[")", absl::StrJoin(RetryableCodes(), "\",\""),
      R"("]}}],"retryThrottling":{"maxTokens":10,"tokenRatio":0.1})");
}

std::string BalancingMembers(const std::string& lb_policy) {
  if (lb_policy != "round_robin") return "";
  // gRFC A17 client-side health checking: a subchannel is picked only
  // while its server says SERVING for this service.
  return R"("loadBalancingConfig":[{"round_robin":{}}],)"
         R"("healthCheckConfig":{"serviceName":"slimserve.v1.InferenceService"})";
}

}  // namespace

bool IsLbPolicy(absl::string_view name) {
  return name == "pick_first" || name == "round_robin";
}

const std::vector<std::string>& RetryableCodes() {
  static const auto* codes = new std::vector<std::string>{
      "UNAVAILABLE", "RESOURCE_EXHAUSTED", "CANCELLED"};
  return *codes;
}

std::string RetryServiceConfig(int max_attempts) {
  return absl::StrCat("{", RetryMembers(max_attempts), "}");
}

std::string ServiceConfigJson(const ChannelOptions& options) {
  std::vector<std::string> members;
  if (options.retry) members.push_back(RetryMembers(options.max_attempts));
  std::string balancing = BalancingMembers(options.lb_policy);
  if (!balancing.empty()) members.push_back(std::move(balancing));
  if (members.empty()) return "";
  return absl::StrCat("{", absl::StrJoin(members, ","), "}");
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateSlimChannel(
    const std::string& target, const ChannelOptions& options) {
  if (absl::Status st = Validate(options); !st.ok()) return st;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, options.retry ? 1 : 0);
  if (std::string config = ServiceConfigJson(options); !config.empty()) {
    args.SetServiceConfigJSON(config);
  }
  const int max_backoff_ms = static_cast<int>(
      absl::ToInt64Milliseconds(options.max_reconnect_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff_ms);
  // gRPC starts at 1 s; never above the maximum.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              std::min(1000, max_backoff_ms));
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  const ChannelTlsOptions& tls = options.tls;
  if (tls.enabled) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls.root_certs_pem;
    ssl.pem_cert_chain = tls.cert_chain_pem;
    ssl.pem_private_key = tls.private_key_pem;
    credentials = grpc::SslCredentials(ssl);
    if (!tls.server_name.empty()) {
      args.SetSslTargetNameOverride(tls.server_name);
    }
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(target, credentials, args);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> ConnectSlimChannel(
    const std::string& target, const ChannelOptions& options,
    absl::Duration timeout) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      CreateSlimChannel(target, options);
  if (!channel.ok()) return channel.status();
  if (!(*channel)->WaitForConnected(
          absl::ToChronoTime(absl::Now() + timeout))) {
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to ", target, " within ", absl::FormatDuration(timeout),
        options.tls.enabled ? " (TLS: is the server's certificate signed by "
                              "the roots given, for the name dialled; does "
                              "it require a client certificate?)"
                            : ""));
  }
  return channel;
}

}  // namespace slimserve
