// The Server's operations options, drain and metrics, in process: a real
// Engine on the tiny model and a real gRPC server on loopback.

#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "engine/engine.h"
#include "engine/model/spec.h"
#include "engine/runtime/random_model.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"
#include "server/metrics.h"
#include "server/server.h"

namespace slimserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

// The tiny model package, written once.
const std::string& TinyModelDir() {
  static const std::string* dir = [] {
    auto* path = new std::string(
        absl::StrCat(std::getenv("TEST_TMPDIR"), "/tiny_model"));
    const absl::Status written =
        WriteRandomModelPackage(TinyModelSpec(), /*seed=*/1, *path);
    if (!written.ok()) {
      ADD_FAILURE() << written;
      std::abort();
    }
    return path;
  }();
  return *dir;
}

// An engine per server: Server::Shutdown shuts its engine down.
std::unique_ptr<Engine> NewEngine() {
  Engine::Options options;
  options.model_dir = TinyModelDir();
  options.network.num_threads = 1;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(options);
  if (!engine.ok()) {
    ADD_FAILURE() << engine.status();
    std::abort();
  }
  return *std::move(engine);
}

Server::Options LoopbackOptions() {
  Server::Options options;
  options.address = "127.0.0.1:0";
  return options;
}

std::string Target(const Server& server) {
  return absl::StrCat("127.0.0.1:", server.port());
}

v1::InferRequest SmallRequest() {
  v1::InferRequest request;
  v1::RawImage* raw = request.mutable_image()->mutable_raw();
  raw->set_data(std::string(20 * 30 * 3, '\x40'));
  raw->set_height(20);
  raw->set_width(30);
  raw->set_channels(3);
  request.mutable_budget()->set_fraction(0.5);
  return request;
}

// Value of `series` in the text format of `metrics`.
std::optional<double> Sample(const Metrics& metrics,
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

TEST(ServerOptionsTest, RejectsBadValuesNamingTheField) {
  struct Case {
    const char* field;
    void (*apply)(Server::Options*);
  };
  const Case cases[] = {
      {"keepalive.time",
       [](Server::Options* o) { o->keepalive.time = absl::ZeroDuration(); }},
      {"keepalive.timeout",
       [](Server::Options* o) { o->keepalive.timeout = absl::Seconds(-1); }},
      {"keepalive.min_client_ping_interval",
       [](Server::Options* o) {
         o->keepalive.min_client_ping_interval = absl::ZeroDuration();
       }},
      {"connection_age.max_age",
       [](Server::Options* o) {
         o->connection_age.max_age = absl::ZeroDuration();
       }},
      {"connection_age.max_age_grace",
       [](Server::Options* o) {
         o->connection_age.max_age_grace = absl::Seconds(-2);
       }},
      {"resources.max_threads",
       [](Server::Options* o) { o->resources.max_threads = -1; }},
      {"resources.max_memory_bytes",
       [](Server::Options* o) { o->resources.max_memory_bytes = -1; }},
  };
  std::unique_ptr<Engine> engine = NewEngine();
  for (const Case& c : cases) {
    Server::Options options = LoopbackOptions();
    c.apply(&options);
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Create(options, engine.get());
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument)
        << c.field;
    EXPECT_THAT(std::string(server.status().message()), HasSubstr(c.field));
  }
}

TEST(ServerOptionsTest, ServesWithEveryOperationsOptionSet) {
  Server::Options options = LoopbackOptions();
  options.keepalive.time = absl::Seconds(30);
  options.keepalive.timeout = absl::Seconds(5);
  options.keepalive.min_client_ping_interval = absl::Seconds(5);
  options.connection_age.max_age = absl::Minutes(5);
  options.connection_age.max_age_grace = absl::Seconds(30);
  options.resources.max_threads = 8;
  options.resources.max_memory_bytes = 256 << 20;
  std::unique_ptr<Engine> engine = NewEngine();
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(options, engine.get());
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::unique_ptr<SlimClient>> client =
      SlimClient::Connect(Target(**server), absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->Infer(SmallRequest()).ok());
}

// The server asks old connections to go away (GOAWAY), so the channel
// leaves READY; calls on it keep working, over a new connection.
TEST(ServerOptionsTest, MaxConnectionAgeClosesOldConnections) {
  Server::Options options = LoopbackOptions();
  options.connection_age.max_age = absl::Milliseconds(300);
  options.connection_age.max_age_grace = absl::Seconds(5);
  std::unique_ptr<Engine> engine = NewEngine();
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(options, engine.get());
  ASSERT_TRUE(server.ok()) << server.status();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(Target(**server), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(
      absl::ToChronoTime(absl::Now() + absl::Seconds(10))));
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  // Age 300 ms +-10% jitter; allow plenty.
  EXPECT_TRUE(channel->WaitForStateChange(
      GRPC_CHANNEL_READY, absl::ToChronoTime(absl::Now() + absl::Seconds(10))));
  EXPECT_NE(channel->GetState(false), GRPC_CHANNEL_READY);

  absl::StatusOr<std::unique_ptr<SlimClient>> client =
      SlimClient::Connect(Target(**server), absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->Infer(SmallRequest()).ok());
}

TEST(ServerDrainTest, DrainKeepsServingWithHealthNotServing) {
  Metrics::Options metrics_options;
  metrics_options.grpc_version = grpc::Version();
  absl::StatusOr<std::shared_ptr<Metrics>> metrics =
      Metrics::Create(metrics_options);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  Server::Options options = LoopbackOptions();
  options.metrics = *metrics;
  std::unique_ptr<Engine> engine = NewEngine();
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(options, engine.get());
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::unique_ptr<SlimClient>> client =
      SlimClient::Connect(Target(**server), absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->Health()->status(), HealthStatus::SERVING);
  EXPECT_THAT(Sample(**metrics, "slimserve_serving"), Optional(1.0));

  (*server)->StartDrain();
  (*server)->StartDrain();  // Idempotent.
  for (const std::string service : {"", "slimserve.v1.Inference"}) {
    absl::StatusOr<HealthStatus> health = (*client)->Health(service);
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(health->status(), HealthStatus::NOT_SERVING) << service;
  }
  EXPECT_THAT(Sample(**metrics, "slimserve_serving"), Optional(0.0));
  // New calls are still served while load balancers move away.
  EXPECT_TRUE((*client)->Infer(SmallRequest()).ok());
  EXPECT_TRUE((*client)->GetModelInfo().ok());

  (*server)->Shutdown(absl::Seconds(5));
  EXPECT_EQ((*client)->Infer(SmallRequest()).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(ServerMetricsTest, CountsCallsThroughTheService) {
  Metrics::Options metrics_options;
  metrics_options.grpc_version = grpc::Version();
  absl::StatusOr<std::shared_ptr<Metrics>> metrics =
      Metrics::Create(metrics_options);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  {
    // The metrics are scraped again after the engine is gone.
    std::unique_ptr<Engine> engine = NewEngine();
    Server::Options options = LoopbackOptions();
    options.metrics = *metrics;
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Create(options, engine.get());
    ASSERT_TRUE(server.ok()) << server.status();
    // One Metrics, one model: a second server cannot share it.
    EXPECT_EQ(Server::Create(options, engine.get()).status().code(),
              absl::StatusCode::kFailedPrecondition);

    absl::StatusOr<std::unique_ptr<SlimClient>> client =
        SlimClient::Connect(Target(**server), absl::Seconds(10));
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE((*client)->Infer(SmallRequest()).ok());
    ASSERT_TRUE((*client)->Infer(SmallRequest()).ok());
    v1::InferRequest unknown_task = SmallRequest();
    (*unknown_task.mutable_task_weights())["nope"] = 1;
    EXPECT_EQ((*client)->Infer(unknown_task).status().code(),
              absl::StatusCode::kInvalidArgument);
    v1::PlanRequest plan;
    plan.mutable_budget()->set_fraction(0.5);
    EXPECT_TRUE((*client)->Plan(plan).ok());
    EXPECT_TRUE((*client)->GetModelInfo().ok());
    EXPECT_TRUE((*client)->Health().ok());  // gRPC's, not counted.

    const Metrics& m = **metrics;
    EXPECT_THAT(Sample(m, R"(slimserve_requests_total{code="OK",rpc="Infer"})"),
                Optional(2.0));
    EXPECT_THAT(
        Sample(
            m,
            R"(slimserve_requests_total{code="INVALID_ARGUMENT",rpc="Infer"})"),
        Optional(1.0));
    EXPECT_THAT(Sample(m, R"(slimserve_requests_total{code="OK",rpc="Plan"})"),
                Optional(1.0));
    EXPECT_THAT(
        Sample(m, R"(slimserve_requests_total{code="OK",rpc="GetModelInfo"})"),
        Optional(1.0));
    EXPECT_THAT(
        Sample(
            m,
            R"(slimserve_rejected_requests_total{reason="invalid_request"})"),
        Optional(1.0));
    EXPECT_THAT(Sample(m, "slimserve_queue_duration_seconds_count"),
                Optional(2.0));
    EXPECT_THAT(Sample(m, "slimserve_inflight_requests"), Optional(0.0));
    EXPECT_THAT(Sample(m, "slimserve_queue_depth"), Optional(0.0));
    EXPECT_THAT(
        Sample(
            m,
            R"(slimserve_model_info{name="tiny",tasks="semseg,depth,normals,edges",version="test"})"),
        Optional(1.0));
    EXPECT_GT(*Sample(m, "slimserve_planned_flops_total"), 0);
    server->reset();
  }
  // The engine is gone; scraping must not touch it.
  EXPECT_THAT(Sample(**metrics, "slimserve_queue_depth"), Optional(0.0));
  EXPECT_THAT(Sample(**metrics, "slimserve_serving"), Optional(0.0));
}

}  // namespace
}  // namespace slimserve
