#ifndef SLIMSERVE_TESTS_E2E_TEST_UTIL_H_
#define SLIMSERVE_TESTS_E2E_TEST_UTIL_H_

// Helpers of the end-to-end tests: the tiny model package, a server on a
// loopback port with a client connected to it, and test images.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "engine/engine.h"
#include "engine/runtime/fake_model_runner.h"
#include "server/metrics.h"
#include "server/server.h"
#include "slimserve/v1/slimserve.pb.h"

namespace slimserve {

// Writes the tiny model package (TinyModelSpec(), seed 1) under $TEST_TMPDIR
// on the first call; returns its directory. Thread-compatible.
absl::StatusOr<std::string> TinyModelDir();

// An Engine on the tiny package (one LibTorch thread, warmed up), a Server on
// 127.0.0.1 at a free port, and a SlimClient connected to it. Destruction
// shuts the server and the engine down.
class TestServer {
 public:
  static absl::StatusOr<std::unique_ptr<TestServer>> Start();
  // The same with `network` (e.g. device cuda); num_threads 0 means 1.
  static absl::StatusOr<std::unique_ptr<TestServer>> Start(
      const NetworkOptions& network);
  // The same with a FakeModelRunner (engine/runtime/fake_model_runner.h)
  // instead of LibTorch, for tests that hold the network (e.g. to keep
  // calls in flight); its pre/post-processing, scheduler and gRPC are real.
  // `engine_options` are used as given but for model_dir (the tiny
  // package).
  static absl::StatusOr<std::unique_ptr<TestServer>> StartWithFakeRunner(
      Engine::Options engine_options = {});

  Engine& engine() { return *engine_; }
  // Only with StartWithFakeRunner(); owned by the engine.
  FakeModelRunner* fake_runner() { return fake_runner_; }
  Server& server() { return *server_; }
  // What the server counts (server/metrics.h); see MetricSample().
  const Metrics& metrics() const { return *metrics_; }
  std::string target() const;
  SlimClient& client() { return *client_; }

 private:
  TestServer() = default;
  // Starts the server and the client around engine_.
  absl::Status Serve();

  // Declared in construction order: destroyed client, server, engine.
  std::shared_ptr<Metrics> metrics_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<SlimClient> client_;
  FakeModelRunner* fake_runner_ = nullptr;
};

// The value of `series` (name and labels as the text format writes them,
// e.g. `slimserve_requests_total{code="OK",rpc="Infer"}`) in what `metrics`
// exports now; nullopt when there is no such series.
std::optional<double> MetricSample(const Metrics& metrics,
                                   const std::string& series);

// Calls of `rpc` (Infer, Plan, GetModelInfo) that `server` answered with
// `code` (a gRPC code name), from slimserve_requests_total; -1 when there
// is no such series.
double RequestCount(const TestServer& server, const std::string& rpc,
                    const std::string& code);

// height x width x channels uint8 pixels of a smooth colour pattern.
std::vector<uint8_t> TestPixels(int height, int width, int channels);

// A 40x60 RGB PNG of TestPixels.
std::string TestPng();

// An InferRequest for TestPng() at budget `fraction`, every task, outputs in
// `format`.
v1::InferRequest PngInferRequest(double fraction,
                                 v1::OutputFormat format = v1::OUTPUT_FORMAT_RAW);

}  // namespace slimserve

#endif  // SLIMSERVE_TESTS_E2E_TEST_UTIL_H_
