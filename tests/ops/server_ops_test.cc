// The Server's operations options, drain and metrics, in process: a real
// Engine on the tiny model and a real gRPC server on loopback.

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/files.h"
#include "client/channel.h"
#include "client/client.h"
#include "engine/engine.h"
#include "engine/model/spec.h"
#include "engine/runtime/random_model.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "server/server.h"
#include "tests/e2e/test_util.h"

namespace slimserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

// An engine per server: Server::Shutdown shuts its engine down.
std::unique_ptr<Engine> NewEngine() {
  Engine::Options options;
  absl::StatusOr<std::string> dir = TinyModelDir();
  if (!dir.ok()) {
    ADD_FAILURE() << dir.status();
    std::abort();
  }
  options.model_dir = *std::move(dir);
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
  EXPECT_THAT(MetricSample(**metrics, "slimserve_serving"), Optional(1.0));

  (*server)->StartDrain();
  (*server)->StartDrain();  // Idempotent.
  for (const std::string service : {"", "slimserve.v1.InferenceService"}) {
    absl::StatusOr<HealthStatus> health = (*client)->Health(service);
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(health->status(), HealthStatus::NOT_SERVING) << service;
  }
  EXPECT_THAT(MetricSample(**metrics, "slimserve_serving"), Optional(0.0));
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
    EXPECT_THAT(MetricSample(m, R"(slimserve_requests_total{code="OK",rpc="Infer"})"),
                Optional(2.0));
    EXPECT_THAT(
        MetricSample(
            m,
            R"(slimserve_requests_total{code="INVALID_ARGUMENT",rpc="Infer"})"),
        Optional(1.0));
    EXPECT_THAT(MetricSample(m, R"(slimserve_requests_total{code="OK",rpc="Plan"})"),
                Optional(1.0));
    EXPECT_THAT(
        MetricSample(m, R"(slimserve_requests_total{code="OK",rpc="GetModelInfo"})"),
        Optional(1.0));
    EXPECT_THAT(
        MetricSample(
            m,
            R"(slimserve_rejected_requests_total{reason="invalid_request"})"),
        Optional(1.0));
    EXPECT_THAT(MetricSample(m, "slimserve_queue_duration_seconds_count"),
                Optional(2.0));
    // The engine counts a request out just after its answer is sent, so
    // the client can scrape before that: wait for it (a condition, no
    // polling).
    engine->AwaitInFlight(0);
    EXPECT_THAT(MetricSample(m, "slimserve_inflight_requests"), Optional(0.0));
    EXPECT_THAT(MetricSample(m, "slimserve_queue_depth"), Optional(0.0));
    EXPECT_THAT(
        MetricSample(
            m,
            R"(slimserve_model_info{name="tiny",tasks="semseg,depth,normals,edges",version="test"})"),
        Optional(1.0));
    EXPECT_GT(*MetricSample(m, "slimserve_planned_flops_total"), 0);
    server->reset();
  }
  // The engine is gone; scraping must not touch it.
  EXPECT_THAT(MetricSample(**metrics, "slimserve_queue_depth"), Optional(0.0));
  EXPECT_THAT(MetricSample(**metrics, "slimserve_serving"), Optional(0.0));
}

// The throw-away PKI of make_certs.sh, generated once per test binary.
struct Pki {
  std::string ca, server_cert, server_key, client_cert, client_key;
  std::string other_ca, other_client_cert, other_client_key;
};

const Pki& TestPki() {
  static const Pki* pki = [] {
    const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/pki");
    const std::string command =
        absl::StrCat("tests/ops/make_certs.sh ", dir);
    if (std::system(command.c_str()) != 0) {
      ADD_FAILURE() << command << " failed";
      std::abort();
    }
    auto read = [&dir](const char* name) {
      absl::StatusOr<std::string> bytes =
          ReadFileBytes(absl::StrCat(dir, "/", name));
      if (!bytes.ok()) {
        ADD_FAILURE() << bytes.status();
        std::abort();
      }
      return *std::move(bytes);
    };
    return new Pki{read("ca.pem"),           read("server.pem"),
                   read("server.key"),       read("client.pem"),
                   read("client.key"),       read("other_ca.pem"),
                   read("other_client.pem"), read("other_client.key")};
  }();
  return *pki;
}

Server::TlsOptions ServerTls(bool mutual) {
  Server::TlsOptions tls;
  tls.cert_chain_pem = TestPki().server_cert;
  tls.private_key_pem = TestPki().server_key;
  if (mutual) tls.client_ca_pem = TestPki().ca;
  return tls;
}

// A TLS client trusting `root`, with a client certificate when given.
ChannelOptions ClientTls(const std::string& root, const std::string& cert = "",
                         const std::string& key = "") {
  ChannelOptions options;
  options.tls.enabled = true;
  options.tls.root_certs_pem = root;
  options.tls.cert_chain_pem = cert;
  options.tls.private_key_pem = key;
  return options;
}

// One Infer on a new channel, without waiting for it to connect and
// without retries: a refused handshake puts the channel in
// TRANSIENT_FAILURE and the call fails UNAVAILABLE then, however slow the
// machine (the deadline only bounds a hang).
absl::Status InferOver(const std::string& target, ChannelOptions options) {
  options.retry = false;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      CreateSlimChannel(target, options);
  if (!channel.ok()) return channel.status();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::InferResponse response;
  const grpc::Status status = v1::InferenceService::NewStub(*channel)->Infer(
      &context, SmallRequest(), &response);
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

TEST(ServerTlsTest, RejectsInconsistentTlsOptionsNamingTheField) {
  std::unique_ptr<Engine> engine = NewEngine();
  const Pki& pki = TestPki();
  struct Case {
    const char* field;
    Server::TlsOptions tls;
  };
  const Case cases[] = {
      {"tls.private_key_pem", {pki.server_cert, "", ""}},
      {"tls.cert_chain_pem", {"", pki.server_key, ""}},
      {"tls.client_ca_pem", {"", "", pki.ca}},
      // Swapped files.
      {"tls.cert_chain_pem", {pki.server_key, pki.server_cert, ""}},
      {"tls.client_ca_pem", {pki.server_cert, pki.server_key, pki.server_key}},
  };
  for (const Case& c : cases) {
    Server::Options options = LoopbackOptions();
    options.tls = c.tls;
    const absl::Status status = Server::Create(options, engine.get()).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(status.message(), HasSubstr(c.field));
  }
  // A key that is not the certificate's: gRPC cannot start the port.
  Server::Options options = LoopbackOptions();
  options.tls = {pki.server_cert, pki.client_key, ""};
  const absl::Status mismatch = Server::Create(options, engine.get()).status();
  EXPECT_EQ(mismatch.code(), absl::StatusCode::kInvalidArgument) << mismatch;
  EXPECT_THAT(mismatch.message(), HasSubstr("Server::Options.tls"));
}

TEST(ServerTlsTest, ServesTlsClientsAndRefusesPlaintextOnes) {
  std::unique_ptr<Engine> engine = NewEngine();
  Server::Options options = LoopbackOptions();
  options.tls = ServerTls(/*mutual=*/false);
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(options, engine.get());
  ASSERT_TRUE(server.ok()) << server.status();
  const Pki& pki = TestPki();
  const std::string by_ip = Target(**server);
  const std::string by_name = absl::StrCat("localhost:", (*server)->port());

  EXPECT_TRUE(InferOver(by_ip, ClientTls(pki.ca)).ok());
  EXPECT_TRUE(InferOver(by_name, ClientTls(pki.ca)).ok());
  // A client certificate is not asked for, so one may come along.
  EXPECT_TRUE(
      InferOver(by_name, ClientTls(pki.ca, pki.client_cert,
                                         pki.client_key))
          .ok());
  ChannelOptions wrong_name = ClientTls(pki.ca);
  wrong_name.tls.server_name = "not-the-server.example";
  EXPECT_EQ(InferOver(by_ip, wrong_name).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(InferOver(by_ip, ClientTls(pki.other_ca)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(InferOver(by_ip, ChannelOptions()).code(),
            absl::StatusCode::kUnavailable);
  // After the refused handshakes it still serves.
  EXPECT_TRUE(InferOver(by_ip, ClientTls(pki.ca)).ok());
}

TEST(ServerTlsTest, MutualTlsRefusesClientsWithoutACertificateOfItsCa) {
  std::unique_ptr<Engine> engine = NewEngine();
  Server::Options options = LoopbackOptions();
  options.tls = ServerTls(/*mutual=*/true);
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(options, engine.get());
  ASSERT_TRUE(server.ok()) << server.status();
  const Pki& pki = TestPki();
  const std::string target = Target(**server);

  EXPECT_TRUE(
      InferOver(target,
                      ClientTls(pki.ca, pki.client_cert, pki.client_key))
          .ok());
  EXPECT_EQ(InferOver(target, ClientTls(pki.ca)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(InferOver(target, ClientTls(pki.ca, pki.other_client_cert,
                                              pki.other_client_key))
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(InferOver(target, ChannelOptions()).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(
      InferOver(target,
                      ClientTls(pki.ca, pki.client_cert, pki.client_key))
          .ok());
}

TEST(ChannelOptionsTest, RejectsInconsistentOptionsNamingTheField) {
  ChannelOptions plain_with_roots;
  plain_with_roots.tls.root_certs_pem = "x";
  ChannelOptions cert_without_key = ClientTls("", "cert", "");
  ChannelOptions key_without_cert = ClientTls("", "", "key");
  ChannelOptions too_many_attempts;
  too_many_attempts.max_attempts = 6;
  ChannelOptions unknown_policy;
  unknown_policy.lb_policy = "grpclb";
  ChannelOptions tiny_backoff;
  tiny_backoff.max_reconnect_backoff = absl::Milliseconds(1);
  for (const auto& [field, options] :
       {std::pair<const char*, ChannelOptions>{"tls.root_certs_pem",
                                               plain_with_roots},
        {"tls.private_key_pem", cert_without_key},
        {"tls.cert_chain_pem", key_without_cert},
        {"max_attempts", too_many_attempts},
        {"lb_policy", unknown_policy},
        {"max_reconnect_backoff", tiny_backoff}}) {
    const absl::Status status =
        CreateSlimChannel("127.0.0.1:1", options).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(status.message(), HasSubstr(field));
  }
  ChannelOptions no_retry;
  no_retry.retry = false;
  no_retry.max_attempts = 0;  // unused without retries
  EXPECT_TRUE(CreateSlimChannel("127.0.0.1:1", no_retry).ok());
}

TEST(ChannelOptionsTest, ServiceConfigHasWhatTheOptionsAskFor) {
  ChannelOptions options;
  EXPECT_EQ(ServiceConfigJson(options), RetryServiceConfig(3));
  options.lb_policy = "round_robin";
  const std::string both = ServiceConfigJson(options);
  EXPECT_THAT(both, HasSubstr(R"("retryPolicy")"));
  EXPECT_THAT(both, HasSubstr(R"("loadBalancingConfig":[{"round_robin":{}}])"));
  EXPECT_THAT(both, HasSubstr(
      R"("healthCheckConfig":{"serviceName":"slimserve.v1.InferenceService"})"));
  options.retry = false;
  EXPECT_THAT(ServiceConfigJson(options), Not(HasSubstr("retryPolicy")));
  options.lb_policy = "pick_first";
  EXPECT_EQ(ServiceConfigJson(options), "");
}

// Plan calls `server` has answered OK.
double PlansServed(const TestServer& server) {
  return RequestCount(server, "Plan", "OK");
}

// round_robin over three replicas: each call to the next one, and a
// draining replica (health NOT_SERVING, still answering) left out.
TEST(ChannelBalancingTest, RoundRobinSpreadsCallsAndSkipsADrainingReplica) {
  std::vector<std::unique_ptr<TestServer>> replicas;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::unique_ptr<TestServer>> server =
        TestServer::StartWithFakeRunner();
    ASSERT_TRUE(server.ok()) << server.status();
    addresses.push_back((*server)->target());
    replicas.push_back(*std::move(server));
  }
  ChannelOptions options;
  options.lb_policy = "round_robin";
  absl::StatusOr<std::unique_ptr<SlimClient>> client = SlimClient::Connect(
      absl::StrCat("ipv4:", absl::StrJoin(addresses, ",")),
      absl::Seconds(30), options);
  ASSERT_TRUE(client.ok()) << client.status();
  v1::PlanRequest plan;
  plan.mutable_budget()->set_fraction(0.5);
  auto served = [&] {
    std::vector<double> n;
    for (const auto& r : replicas) n.push_back(PlansServed(*r));
    return n;
  };
  // Connections come up one by one: call until every replica has had one
  // (bounded by time, not by a count of calls, so a slow machine only
  // waits longer).
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    const std::vector<double> n = served();
    if (*std::min_element(n.begin(), n.end()) > 0) break;
    ASSERT_TRUE((*client)->Plan(plan).ok());
  }
  std::vector<double> before = served();
  ASSERT_GT(*std::min_element(before.begin(), before.end()), 0);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE((*client)->Plan(plan).ok());
  std::vector<double> after = served();
  for (int r = 0; r < 3; ++r) EXPECT_EQ(after[r] - before[r], 10) << r;

  // The client watches each replica's health: once it has seen the
  // drain, calls go to the other two only.
  replicas[0]->server().StartDrain();
  int unchanged = 0;
  const absl::Time drain_give_up = absl::Now() + absl::Seconds(60);
  while (unchanged < 10 && absl::Now() < drain_give_up) {
    const double drained = PlansServed(*replicas[0]);
    ASSERT_TRUE((*client)->Plan(plan).ok());
    unchanged = PlansServed(*replicas[0]) == drained ? unchanged + 1 : 0;
  }
  ASSERT_EQ(unchanged, 10) << "the draining replica still gets calls";
  before = served();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*client)->Plan(plan).ok());
  after = served();
  EXPECT_EQ(after[0] - before[0], 0);
  EXPECT_EQ(after[1] - before[1], 10);
  EXPECT_EQ(after[2] - before[2], 10);
}

}  // namespace
}  // namespace slimserve
