#ifndef SLIMSERVE_SERVER_SERVER_H_
#define SLIMSERVE_SERVER_SERVER_H_

// The slimserve gRPC server: slimserve.v1.Inference over one Engine, plus the
// standard health service (grpc.health.v1.Health) and server reflection.
//
// Health: overall ("") and "slimserve.v1.Inference" are SERVING from Create()
// until Shutdown() starts.
//
// Thread-safety: every method may be called from any thread.

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "grpcpp/grpcpp.h"
#include "server/service.h"

namespace slimserve {

class Server {
 public:
  struct Options {
    // host:port to listen on; port 0 picks a free one (see port()).
    std::string address = "0.0.0.0:50051";
    // Largest request accepted; 64 MiB holds a 1080p PNG with room to spare.
    int max_receive_message_bytes = 64 << 20;
    // Largest response sent (RAW outputs of every task).
    int max_send_message_bytes = 64 << 20;
  };

  // Starts serving `engine` on options.address. INVALID_ARGUMENT for bad
  // options, UNAVAILABLE when the address cannot be bound.
  // REQUIRES: `engine` outlives the Server.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const Options& options,
                                                        Engine* engine);

  // Shutdown(absl::ZeroDuration()) if it has not run.
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port.
  int port() const { return port_; }

  // Sets health NOT_SERVING, stops accepting calls, lets calls in flight
  // finish for up to `timeout` (then cancels them), and shuts the engine
  // down. Returns when all of that is done. Idempotent: later calls wait for
  // the first one to finish.
  void Shutdown(absl::Duration timeout);

  // Blocks until Shutdown() has finished.
  void Wait();

 private:
  Server(std::unique_ptr<InferenceService> service,
         std::unique_ptr<grpc::Server> server, int port, Engine* engine);

  // Constant after construction.
  const std::unique_ptr<InferenceService> service_;
  const std::unique_ptr<grpc::Server> server_;
  const int port_;
  Engine* const engine_;

  absl::Mutex mu_;
  // Set by the first Shutdown(); never reset.
  bool shutdown_started_ ABSL_GUARDED_BY(mu_) = false;
  // Notified when that Shutdown() has finished.
  absl::Notification shutdown_done_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_SERVER_H_
