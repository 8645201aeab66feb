#include "client/channel_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/files.h"

ABSL_FLAG(bool, tls, false,
          "connect with TLS (implied by the other --tls_* flags)");
ABSL_FLAG(std::string, tls_ca_file, "",
          "TLS: PEM CA certificates the server's certificate must chain to "
          "(empty: the system's roots)");
ABSL_FLAG(std::string, tls_cert_file, "",
          "mutual TLS: PEM certificate chain of this client");
ABSL_FLAG(std::string, tls_key_file, "",
          "mutual TLS: PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_server_name, "",
          "TLS: name the server's certificate must carry (empty: the "
          "target's host)");

ABSL_FLAG(std::string, lb_policy, "pick_first",
          "pick_first (one connection) or round_robin (every address the "
          "target resolves to, e.g. ipv4:127.0.0.1:50051,127.0.0.1:50052 or "
          "dns:///headless-service:50051; each call to the next SERVING one)");

namespace slimserve {

absl::StatusOr<ChannelOptions> ChannelOptionsFromFlags(ChannelOptions base) {
  base.lb_policy = absl::GetFlag(FLAGS_lb_policy);
  if (!IsLbPolicy(base.lb_policy)) {
    return absl::InvalidArgumentError(
        "--lb_policy: must be pick_first or round_robin");
  }
  ChannelTlsOptions& tls = base.tls;
  const std::string ca = absl::GetFlag(FLAGS_tls_ca_file);
  const std::string cert = absl::GetFlag(FLAGS_tls_cert_file);
  const std::string key = absl::GetFlag(FLAGS_tls_key_file);
  tls.server_name = absl::GetFlag(FLAGS_tls_server_name);
  tls.enabled = absl::GetFlag(FLAGS_tls) || !ca.empty() || !cert.empty() ||
                !key.empty() || !tls.server_name.empty();
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file: give both or neither");
  }
  for (absl::Status st :
       {ReadFlagFile("tls_ca_file", ca, kMaxPemFileBytes, &tls.root_certs_pem),
        ReadFlagFile("tls_cert_file", cert, kMaxPemFileBytes,
                     &tls.cert_chain_pem),
        ReadFlagFile("tls_key_file", key, kMaxPemFileBytes,
                     &tls.private_key_pem)}) {
    if (!st.ok()) return st;
  }
  return base;
}

}  // namespace slimserve
