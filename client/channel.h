#ifndef SLIMSERVE_CLIENT_CHANNEL_H_
#define SLIMSERVE_CLIENT_CHANNEL_H_

// How every C++ client of slimserve (SlimClient, slimctl, slimbench) opens
// its gRPC channel: plaintext or TLS (mutual TLS with a client certificate),
// and gRPC's retry policy for the codes that are safe to retry.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace slimserve {

struct ChannelTlsOptions {
  // TLS when true; plaintext (the server's default) when false, and then
  // every field below must be empty.
  bool enabled = false;
  // CA certificates (PEM) the server's certificate must chain to; empty:
  // gRPC's default roots (the system's).
  std::string root_certs_pem;
  // Mutual TLS: this client's certificate chain and private key (PEM), both
  // or neither.
  std::string cert_chain_pem;
  std::string private_key_pem;
  // The name the server's certificate must carry, when it is not the
  // target's host (connecting by IP address, through a tunnel). Empty: the
  // target's host.
  std::string server_name;
};

struct ChannelOptions {
  ChannelTlsOptions tls;
  // gRPC retries a call that failed with one of RetryableCodes(), up to
  // max_attempts attempts in all, with exponential backoff (50 ms doubling
  // to 1 s, jittered), throttled per channel (retries stop while more than
  // about 1 call in 10 fails, so a struggling server is not sent a multiple
  // of its load). false: every failure goes straight to the caller (what a
  // load generator measuring refusals wants).
  bool retry = true;
  // 2..5 (gRPC's own cap is 5).
  int max_attempts = 3;
  // Largest response accepted: RAW outputs of every task of a big model.
  int max_receive_message_bytes = 64 << 20;
  // How calls spread over the addresses the target resolves to:
  //   "pick_first"   one connection, to the first address that answers
  //                  (gRPC's default; what a single server or a Kubernetes
  //                  Service's virtual IP needs);
  //   "round_robin"  a connection to every address, each call to the next
  //                  one that is READY and whose health
  //                  (grpc.health.v1, service slimserve.v1.InferenceService) is
  //                  SERVING: replicas behind a list of addresses
  //                  ("ipv4:10.0.0.1:50051,10.0.0.2:50051") or a headless
  //                  Service ("dns:///slimserve-headless:50051"). A
  //                  draining replica turns NOT_SERVING and gets no new
  //                  calls while it finishes the ones it holds.
  std::string lb_policy = "pick_first";
  // Longest wait between reconnection attempts to an address that went
  // away (gRPC's default is 120 s): a restarted replica gets calls again
  // within about this long.
  absl::Duration max_reconnect_backoff = absl::Seconds(5);
};

// Whether `name` is an lb_policy ChannelOptions takes.
bool IsLbPolicy(absl::string_view name);

// The codes a client may retry: no slimserve call has side effects, and each
// of these means the call did not run (or did not finish) for a reason that
// may be gone on the next attempt or another replica:
//   UNAVAILABLE         not listening, draining, connection lost;
//   RESOURCE_EXHAUSTED  queue full, or no configuration meets the deadline
//                       behind the queue there is now;
//   CANCELLED           cancelled by the server in a shutdown race (gRPC
//                       never retries a call its caller cancelled).
// Never DEADLINE_EXCEEDED (the deadline covers every attempt) nor the codes
// that mean the request itself is wrong (INVALID_ARGUMENT, OUT_OF_RANGE, ...).
const std::vector<std::string>& RetryableCodes();

// The gRPC service config (JSON) of that policy for slimserve.v1.InferenceService and
// grpc.health.v1.Health, as the Python and Node clients also set it.
std::string RetryServiceConfig(int max_attempts);

// The whole service config of a channel with `options`: the retry policy
// (when options.retry) and the load-balancing policy with its health
// checks (round_robin). "" when there is nothing to configure.
std::string ServiceConfigJson(const ChannelOptions& options);

// A channel to `target` (host:port or any gRPC target URI). INVALID_ARGUMENT
// naming the field for inconsistent options. Does not connect.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateSlimChannel(
    const std::string& target, const ChannelOptions& options);

// CreateSlimChannel, then waits up to `timeout` for the connection (TLS
// handshake included); UNAVAILABLE if it does not come up.
absl::StatusOr<std::shared_ptr<grpc::Channel>> ConnectSlimChannel(
    const std::string& target, const ChannelOptions& options,
    absl::Duration timeout);

}  // namespace slimserve

#endif  // SLIMSERVE_CLIENT_CHANNEL_H_
