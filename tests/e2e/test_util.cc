#include "tests/e2e/test_util.h"

#include <cstdlib>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "engine/engine_core.h"
#include "engine/model/spec.h"
#include "engine/runtime/fake_model_runner.h"
#include "engine/runtime/random_model.h"
#include "grpcpp/grpcpp.h"
#include "image/codec.h"
#include "prometheus/text_serializer.h"

namespace slimserve {

absl::StatusOr<std::string> TinyModelDir() {
  static std::string* dir = nullptr;
  if (dir != nullptr) return *dir;
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/tiny_model";
  SLIM_RETURN_IF_ERROR(
      WriteRandomModelPackage(TinyModelSpec(), /*seed=*/1, path));
  dir = new std::string(std::move(path));
  return *dir;
}

absl::StatusOr<std::unique_ptr<TestServer>> TestServer::Start() {
  return Start(NetworkOptions{});
}

absl::StatusOr<std::unique_ptr<TestServer>> TestServer::Start(
    const NetworkOptions& network) {
  std::unique_ptr<TestServer> test(new TestServer());
  Engine::Options engine_options;
  SLIM_ASSIGN_OR_RETURN(engine_options.model_dir, TinyModelDir());
  engine_options.network = network;
  if (engine_options.network.num_threads == 0) {
    engine_options.network.num_threads = 1;
  }
  engine_options.warmup = true;
  SLIM_ASSIGN_OR_RETURN(test->engine_, Engine::Create(engine_options));
  SLIM_RETURN_IF_ERROR(test->Serve());
  return test;
}

absl::StatusOr<std::unique_ptr<TestServer>> TestServer::StartWithFakeRunner(
    Engine::Options engine_options) {
  std::unique_ptr<TestServer> test(new TestServer());
  SLIM_ASSIGN_OR_RETURN(engine_options.model_dir, TinyModelDir());
  // One executor unless the test asks for more: tests that hold the fake's
  // runs count on the calls behind a held one waiting in the queue.
  if (engine_options.batching.num_executor_threads == 0) {
    engine_options.batching.num_executor_threads = 1;
  }
  TestServer* t = test.get();
  SLIM_ASSIGN_OR_RETURN(
      test->engine_,
      CreateEngine(engine_options,
                   [t](const ModelPackage& package)
                       -> absl::StatusOr<std::unique_ptr<ModelRunner>> {
                     auto runner = std::make_unique<FakeModelRunner>(
                         package.spec, FakeModelRunner::Options());
                     t->fake_runner_ = runner.get();
                     return std::unique_ptr<ModelRunner>(std::move(runner));
                   }));
  SLIM_RETURN_IF_ERROR(test->Serve());
  return test;
}

absl::Status TestServer::Serve() {
  Metrics::Options metrics_options;
  metrics_options.grpc_version = grpc::Version();
  SLIM_ASSIGN_OR_RETURN(metrics_, Metrics::Create(metrics_options));
  Server::Options server_options;
  server_options.address = "127.0.0.1:0";
  server_options.metrics = metrics_;
  SLIM_ASSIGN_OR_RETURN(server_, Server::Create(server_options, engine_.get()));
  SLIM_ASSIGN_OR_RETURN(client_, SlimClient::Connect(target(), absl::Seconds(10)));
  return absl::OkStatus();
}

std::string TestServer::target() const {
  return "127.0.0.1:" + std::to_string(server_->port());
}

std::optional<double> MetricSample(const Metrics& metrics,
                                   const std::string& series) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, metrics.Collect());
  for (absl::string_view line : absl::StrSplit(out.str(), '\n')) {
    double value = 0;
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ") &&
        absl::SimpleAtod(line, &value)) {
      return value;
    }
  }
  return std::nullopt;
}

double RequestCount(const TestServer& server, const std::string& rpc,
                    const std::string& code) {
  return MetricSample(server.metrics(),
                      absl::StrCat("slimserve_requests_total{code=\"", code,
                                   "\",rpc=\"", rpc, "\"}"))
      .value_or(-1);
}

std::vector<uint8_t> TestPixels(int height, int width, int channels) {
  std::vector<uint8_t> pixels(static_cast<size_t>(height) * width * channels);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        pixels[(static_cast<size_t>(y) * width + x) * channels + c] =
            static_cast<uint8_t>((y * 7 + x * 3 + c * 85) % 256);
      }
    }
  }
  return pixels;
}

std::string TestPng() {
  const std::vector<uint8_t> pixels = TestPixels(40, 60, 3);
  absl::StatusOr<std::string> png =
      EncodePng(pixels.data(), 40, 60, /*channels=*/3, /*bit_depth=*/8);
  if (!png.ok()) std::abort();
  return *std::move(png);
}

v1::InferRequest PngInferRequest(double fraction, v1::OutputFormat format) {
  static const std::string* const png = new std::string(TestPng());
  v1::InferRequest request;
  request.mutable_image()->set_encoded(*png);
  request.mutable_budget()->set_fraction(fraction);
  request.set_default_output_format(format);
  return request;
}

}  // namespace slimserve
