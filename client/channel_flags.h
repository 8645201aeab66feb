#ifndef SLIMSERVE_CLIENT_CHANNEL_FLAGS_H_
#define SLIMSERVE_CLIENT_CHANNEL_FLAGS_H_

// The channel flags slimctl and slimbench share:
//   --lb_policy=P         pick_first (default) or round_robin over every
//                         address of the target
//   --tls                 TLS (implied by any flag below)
//   --tls_ca_file=PEM     roots the server's certificate must chain to
//                         (default: the system's)
//   --tls_cert_file=PEM --tls_key_file=PEM
//                         this client's certificate and key (mutual TLS)
//   --tls_server_name=N   the name the server's certificate must carry,
//                         when it is not the target's host

#include "absl/status/statusor.h"
#include "client/channel.h"

namespace slimserve {

// `base` with its tls and lb_policy filled in from the flags (files read here).
// INVALID_ARGUMENT naming the flag for an unreadable file or a certificate
// without its key.
absl::StatusOr<ChannelOptions> ChannelOptionsFromFlags(ChannelOptions base);

}  // namespace slimserve

#endif  // SLIMSERVE_CLIENT_CHANNEL_FLAGS_H_
