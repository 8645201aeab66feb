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
  for (const std::string service : {"", "slimserve.v1.Inference"}) {
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
  EXPECT_THAT(bytes, HasSubstr("slimserve.v1.Inference"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
  EXPECT_TRUE(stream->Finish().ok());
}

// A server of its own, since it is shut down.
TEST(ShutdownTest, DrainsThenStopsServing) {
  absl::StatusOr<std::unique_ptr<TestServer>> started = TestServer::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  TestServer& test = **started;
  absl::StatusOr<HealthStatus> health = test.client().Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status(), HealthStatus::SERVING);

  // Calls in flight when Shutdown() starts complete; those arriving during
  // it are refused (UNAVAILABLE, or CANCELLED by gRPC before they reach the
  // service); none hangs. Big raw images keep the engine busy a little.
  const std::vector<uint8_t> pixels = TestPixels(480, 640, 3);
  v1::InferRequest request = PngInferRequest(1.0);
  v1::RawImage* raw = request.mutable_image()->mutable_raw();
  raw->set_data(pixels.data(), pixels.size());
  raw->set_height(480);
  raw->set_width(640);
  raw->set_channels(3);
  std::vector<absl::Status> statuses(8);
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (absl::Status& status : statuses) {
    threads.emplace_back([&test, &request, &status, &finished] {
      status = test.client().Infer(request).status();
      ++finished;
    });
  }
  int in_flight = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while ((in_flight = test.engine().InFlight()) == 0 &&
         finished < static_cast<int>(statuses.size()) &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Microseconds(100));
  }
  test.server().Shutdown(absl::Seconds(20));
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
