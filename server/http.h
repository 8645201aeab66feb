#ifndef SLIMSERVE_SERVER_HTTP_H_
#define SLIMSERVE_SERVER_HTTP_H_

// A small HTTP/1.1 endpoint for the try-it page (server/web/index.html), its
// JSON API and KServe v2's REST protocol, off unless --http_address is
// given. Not a general web server: HTTP/1.1 with persistent connections
// (keep-alive and pipelining; no chunked bodies), bounded headers and body
// (Expect: 100-continue answered at once), a bounded number of connections,
// socket timeouts.
//
//   GET  /                  the page
//   GET  /api/model_info    GetModelInfoResponse as JSON
//   POST /api/plan          PlanRequest JSON -> PlanResponse JSON
//   POST /api/infer         InferRequest JSON -> InferResponse JSON
//   /v2/...                 KServe v2's REST protocol (server/kserve_rest.h;
//                           its errors are {"error": "..."})
//
// JSON is protobuf's mapping of slimserve.v1 (field names as in the .proto,
// bytes as base64, enums by name). Errors: an HTTP status for the gRPC code
// (400 INVALID_ARGUMENT, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 503
// UNAVAILABLE, 504 DEADLINE_EXCEEDED, 500 otherwise) and a body
// {"code": "INVALID_ARGUMENT", "message": "..."} with the same message the
// gRPC API gives. Calls are counted as rpc="HttpInfer", "HttpPlan",
// "HttpModelInfo".

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "server/metrics.h"

namespace slimserve {

class HttpServer {
 public:
  struct Options {
    // host:port; port 0 picks a free one (see port()).
    std::string address = "127.0.0.1:8080";
    // Connections served at once; more get 503 at once.
    int max_connections = 16;
    // Largest request line + headers, and body.
    int64_t max_header_bytes = 16 << 10;
    int64_t max_body_bytes = 64 << 20;
    // Each read or write of a connection; a client slower than this is
    // dropped.
    absl::Duration io_timeout = absl::Seconds(30);
    // An inference that takes longer is cancelled (504).
    absl::Duration infer_timeout = absl::Seconds(30);
    // A kept-alive connection waits this long for its next request, then
    // closes (sent as "Keep-Alive: timeout=N", whole seconds, at least 1).
    // Short because an idle connection holds one of max_connections; when
    // all are taken, each answer closes its connection.
    absl::Duration keep_alive_timeout = absl::Seconds(5);
    // Requests on one connection before the server closes it.
    int max_requests_per_connection = 1000;
    // Memory the connections may hold at once (0: no bound): each request
    // body at kBodyCost bytes per byte (the body, the JSON tree of its
    // numbers, the tensors made from them), reserved before the body is
    // read, and each answer while it is written. Over it: 503 before
    // reading the body (413 for one that could never fit), or 503 instead
    // of an answer that does not fit.
    int64_t max_memory_bytes = int64_t{512} << 20;
  };
  static constexpr int64_t kBodyCost = 6;

  // Listens on options.address. INVALID_ARGUMENT for bad options,
  // UNAVAILABLE when the address cannot be bound.
  // REQUIRES: `engine` and `metrics` outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const Options& options, Engine* engine, Metrics* metrics);

  // Shutdown().
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

  // Stops accepting (the port is closed) and waits for the connections
  // being served. Idempotent.
  void Shutdown();

 private:
  HttpServer(const Options& options, Engine* engine, Metrics* metrics,
             int listen_fd, int port, int wake_read, int wake_write);

  void AcceptLoop();
  void Serve(int fd);

  // Constant after construction.
  const Options options_;
  Engine* const engine_;
  Metrics* const metrics_;
  const int listen_fd_;
  const int port_;
  // Written to by Shutdown() to wake the accept loop's poll() and the
  // connections waiting for their next request.
  const int wake_read_;
  const int wake_write_;

  // Connections being served, shared with their threads.
  struct Connections {
    absl::Mutex mu;
    int open ABSL_GUARDED_BY(mu) = 0;
    // Bytes held against Options::max_memory_bytes.
    int64_t memory ABSL_GUARDED_BY(mu) = 0;
  };
  const std::shared_ptr<Connections> connections_ =
      std::make_shared<Connections>();

  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::thread acceptor_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_HTTP_H_
