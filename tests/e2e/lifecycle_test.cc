// Health, reflection and graceful shutdown.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/sync_stream.h"
#include "gtest/gtest.h"
#include "tests/e2e/shared_server.h"

namespace slimserve {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

TEST_F(E2eTest, HealthIsServing) {
  for (const std::string service : {"", "slimserve.v1.InferenceService"}) {
    absl::StatusOr<HealthStatus> health = client().Health(service);
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(health->status(), HealthStatus::SERVING) << service;
  }
  EXPECT_EQ(client().Health("no.such.Service").status().code(),
            absl::StatusCode::kNotFound);
}

// Server reflection, through a raw bidi call: Debian's gRPC has no generated
// reflection stub. The request is a hand-encoded ServerReflectionRequest
// {list_services: "*"} (field 7, length-delimited).
TEST_F(E2eTest, ReflectionListsTheService) {
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", SharedServer().server().port()),
      grpc::InsecureChannelCredentials());
  const grpc::internal::RpcMethod method(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::internal::RpcMethod::BIDI_STREAMING);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>>
      stream(grpc::internal::ClientReaderWriterFactory<
             grpc::ByteBuffer, grpc::ByteBuffer>::Create(channel.get(), method,
                                                         &context));
  const std::string list_services("\x3a\x01*", 3);
  grpc::Slice slice(list_services);
  ASSERT_TRUE(stream->Write(grpc::ByteBuffer(&slice, 1)));
  ASSERT_TRUE(stream->WritesDone());
  grpc::ByteBuffer reply;
  ASSERT_TRUE(stream->Read(&reply));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_THAT(bytes, HasSubstr("slimserve.v1.InferenceService"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
  EXPECT_TRUE(stream->Finish().ok());
}

// A server of its own, since it is shut down; with the fake runner, held,
// so that calls are in flight when Shutdown starts without timing.
TEST(ShutdownTest, DrainsThenStopsServing) {
  absl::StatusOr<std::unique_ptr<TestServer>> started =
      TestServer::StartWithFakeRunner();
  ASSERT_TRUE(started.ok()) << started.status();
  TestServer& test = **started;
  absl::StatusOr<HealthStatus> health = test.client().Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status(), HealthStatus::SERVING);

  // Calls in flight when Shutdown() starts complete; those arriving during
  // it are refused (UNAVAILABLE, or CANCELLED by gRPC before they reach the
  // service); none hangs.
  test.fake_runner()->HoldRuns();
  const v1::InferRequest request = PngInferRequest(1.0);
  std::vector<absl::Status> statuses(8);
  std::vector<std::thread> threads;
  for (absl::Status& status : statuses) {
    threads.emplace_back([&test, &request, &status] {
      status = test.client().Infer(request).status();
    });
  }
  test.fake_runner()->BlockUntilRunsStarted(1);
  const int in_flight = test.engine().InFlight();
  EXPECT_GE(in_flight, 1);
  std::thread stopper([&test] { test.server().Shutdown(absl::Seconds(20)); });
  test.fake_runner()->ReleaseRuns();
  stopper.join();
  for (std::thread& thread : threads) thread.join();
  int ok = 0;
  for (const absl::Status& status : statuses) {
    ok += status.ok();
    EXPECT_THAT(status.code(),
                AnyOf(absl::StatusCode::kOk, absl::StatusCode::kUnavailable,
                      absl::StatusCode::kCancelled))
        << status;
  }
  EXPECT_GE(ok, in_flight);
  EXPECT_EQ(test.engine().InFlight(), 0);

  health = test.client().Health();
  if (health.ok()) {
    EXPECT_EQ(health->status(), HealthStatus::NOT_SERVING);
  } else {
    EXPECT_EQ(health.status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(test.client().Infer(PngInferRequest(1.0)).status().code(),
            absl::StatusCode::kUnavailable);
  // Idempotent.
  test.server().Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace slimserve
