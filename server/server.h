#ifndef SLIMSERVE_SERVER_SERVER_H_
#define SLIMSERVE_SERVER_SERVER_H_

// The slimserve gRPC server: slimserve.v1.InferenceService and KServe v2's
// inference.GRPCInferenceService over one Engine, on one port, plus the
// standard health service (grpc.health.v1.Health) and server reflection.
//
// Life cycle and health (overall "" and "slimserve.v1.InferenceService"; the
// KServe ServerReady/ModelReady answers follow it):
//   Create()      the port is bound only now, after the Engine was created,
//                 i.e. loaded and (Engine::Options.warmup) warmed up: nothing
//                 answers health before that, so probes fail (connection
//                 refused) and a pod is not ready. Health: SERVING.
//   StartDrain()  health NOT_SERVING at once, every call still served, so
//                 load balancers and readiness probes move traffic away.
//   Shutdown()    stops accepting calls, finishes the ones in flight, then
//                 the engine. Health stays NOT_SERVING.
// slimserve_serving (server/metrics.h) follows health.
//
// Thread-safety: every method may be called from any thread.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics.h"
#include "server/kserve.h"
#include "server/service.h"

namespace slimserve {

class Server {
 public:
  // HTTP/2 keepalive pings. They find dead peers (a node gone, a NAT or load
  // balancer that dropped the connection silently) and keep idle
  // connections open through middleboxes with idle timeouts.
  struct KeepaliveOptions {
    // The server pings a connection idle for this long. > 0.
    absl::Duration time = absl::Seconds(60);
    // ... and closes it when the ping is not acknowledged in this time. > 0.
    absl::Duration timeout = absl::Seconds(20);
    // Clients may send their own keepalive pings this often (also with no
    // call in flight); a client pinging more often is disconnected with
    // GOAWAY "too_many_pings". > 0.
    absl::Duration min_client_ping_interval = absl::Seconds(10);
  };

  // Connection ageing. A gRPC client keeps its connections for ever, so
  // behind a Kubernetes Service (one virtual IP, balanced per connection)
  // replicas added later never get its calls. Closing connections at an age
  // makes clients reconnect, and spread over the replicas there are then.
  struct ConnectionAgeOptions {
    // A connection this old is asked to go away (GOAWAY; gRPC adds +-10%
    // jitter). InfiniteDuration(): never.
    absl::Duration max_age = absl::InfiniteDuration();
    // Calls still running on it then get this long to finish before it is
    // closed. InfiniteDuration(): as long as they take.
    absl::Duration max_age_grace = absl::InfiniteDuration();
  };

  // gRPC's grpc::ResourceQuota.
  struct ResourceOptions {
    // Most threads gRPC may run handlers on (SetMaxThreads); 0: no limit.
    // It bounds the synchronous handlers (reflection); Inference and health
    // are callback handlers, which run on gRPC's event-engine threads and
    // hand compute to the engine's executor threads.
    int max_threads = 0;
    // Memory gRPC may use for its buffers (Resize), in bytes; 0: no limit.
    // Not the model's memory. Under pressure gRPC shrinks buffers and stops
    // reading from connections.
    int64_t max_memory_bytes = 0;
  };

  // TLS on the gRPC port (the metrics endpoint has its own address and
  // stays plain HTTP). Everything empty: plaintext. Certificates are read
  // once, at Create(): rotating them takes a restart, which a rolling update
  // does without losing a call (see Shutdown()).
  struct TlsOptions {
    // The server's certificate chain (leaf first) and its private key, PEM.
    // Both or neither.
    std::string cert_chain_pem;
    std::string private_key_pem;
    // CA certificates (PEM). When set, mutual TLS: a client must present a
    // certificate signed by one of them, or its handshake fails (the client
    // sees UNAVAILABLE, the call never reaches the service). Needs the two
    // above.
    std::string client_ca_pem;

    bool enabled() const { return !cert_chain_pem.empty(); }
  };

  struct Options {
    // host:port to listen on; port 0 picks a free one (see port()).
    std::string address = "0.0.0.0:50051";
    TlsOptions tls;
    // Largest request accepted; 64 MiB holds a 1080p PNG with room to spare.
    int max_receive_message_bytes = 64 << 20;
    // Largest response sent (RAW outputs of every task).
    int max_send_message_bytes = 64 << 20;
    KeepaliveOptions keepalive;
    ConnectionAgeOptions connection_age;
    ResourceOptions resources;
    // Frames an InferStream may have unanswered (read, not yet written)
    // before the server stops reading it: the stream's memory bound and
    // what lets a slow reader slow the stream down. >= 1; 4 keeps a batch
    // of one stream's frames in compute while earlier answers are sent.
    int stream_max_inflight_frames = 4;
    // Where calls are counted; Create() sets its model and queue-depth
    // source (so one Metrics serves one Server). nullptr: a private one,
    // recorded but not exported.
    std::shared_ptr<Metrics> metrics;
  };

  // Starts serving `engine` on options.address; health SERVING.
  // INVALID_ARGUMENT for bad options (naming the field; with TLS, also a
  // certificate or key gRPC cannot load, or a key that does not match the
  // certificate), UNAVAILABLE when the address cannot be bound, FAILED_PRECONDITION when options.metrics is
  // already in use by another server.
  // REQUIRES: `engine` outlives the Server, is loaded and warmed up.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const Options& options,
                                                        Engine* engine);

  // Shutdown(absl::ZeroDuration()) if it has not run.
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port.
  int port() const { return port_; }

  // Sets health NOT_SERVING for every service and keeps serving every call,
  // new ones included, until Shutdown(). Idempotent.
  void StartDrain();

  // StartDrain(), stops accepting calls, lets calls in flight finish for up
  // to `timeout` (then cancels them), and shuts the engine down. Returns when
  // all of that is done. Idempotent: later calls wait for the first one to
  // finish.
  //
  // Once it stops accepting, a new call fails with UNAVAILABLE (GOAWAY, then
  // connection refused). A call that races the stop (sent before its client
  // saw the GOAWAY) is cancelled by gRPC before it reaches the service:
  // CANCELLED, never run. Calls cancelled at `timeout`: CANCELLED.
  void Shutdown(absl::Duration timeout);

  // Blocks until Shutdown() has finished.
  void Wait();

 private:
  Server(std::shared_ptr<Metrics> metrics,
         std::unique_ptr<InferenceService> service,
         std::unique_ptr<KServeService> kserve,
         std::unique_ptr<grpc::Server> server, int port, Engine* engine);

  // Constant after construction. metrics_ is declared first: the service
  // records into it until the gRPC server is gone.
  const std::shared_ptr<Metrics> metrics_;
  const std::unique_ptr<InferenceService> service_;
  const std::unique_ptr<KServeService> kserve_;
  const std::unique_ptr<grpc::Server> server_;
  const int port_;
  Engine* const engine_;

  absl::Mutex mu_;
  // Set by the first StartDrain() (or Shutdown()); never reset.
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // Set by the first Shutdown(); never reset.
  bool shutdown_started_ ABSL_GUARDED_BY(mu_) = false;
  // Notified when that Shutdown() has finished.
  absl::Notification shutdown_done_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_SERVER_H_
