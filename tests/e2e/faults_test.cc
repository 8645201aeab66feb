// Faults over real gRPC: a failing batch, a client cancelling while its
// batch runs, and the clients' retry policy against real refusals. The
// network is the FakeModelRunner, held or failed on purpose, so that each
// case happens for certain, not by timing.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "slimserve/v1/slimserve.grpc.pb.h"
#include "tests/e2e/test_util.h"

namespace slimserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

std::unique_ptr<TestServer> StartFake(Engine::Options options = {}) {
  absl::StatusOr<std::unique_ptr<TestServer>> started =
      TestServer::StartWithFakeRunner(std::move(options));
  if (!started.ok()) {
    ADD_FAILURE() << started.status();
    std::abort();
  }
  return *std::move(started);
}

double InferCount(const TestServer& test, const char* code) {
  return RequestCount(test, "Infer", code);
}

TEST(FaultTest, AFailingBatchFailsOnlyItsCallsAndTheServerServesOn) {
  std::unique_ptr<TestServer> test = StartFake();
  FakeModelRunner& runner = *test->fake_runner();
  runner.HoldRuns();
  absl::Status first;
  std::thread first_call([&] {
    first = test->client().Infer(PngInferRequest(1.0)).status();
  });
  runner.BlockUntilRunsStarted(1);
  // Two more wait behind it (one executor thread), outside the failing run.
  std::vector<absl::Status> later(2);
  std::vector<std::thread> later_calls;
  for (absl::Status& status : later) {
    later_calls.emplace_back([&test, &status] {
      status = test->client().Infer(PngInferRequest(0.5)).status();
    });
  }
  test->engine().AwaitInFlight(3);
  runner.FailNextRuns(1, absl::UnavailableError("device lost"));
  runner.ReleaseRuns();
  first_call.join();
  for (std::thread& t : later_calls) t.join();

  EXPECT_EQ(first.code(), absl::StatusCode::kInternal) << first;
  EXPECT_EQ(first.message(), "model execution failed: device lost");
  for (const absl::Status& status : later) EXPECT_TRUE(status.ok()) << status;
  // INTERNAL is not retried: the failed call ran once.
  EXPECT_THAT(InferCount(*test, "INTERNAL"), 1.0);
  EXPECT_TRUE(test->client().Infer(PngInferRequest(0.25)).ok());
  // The engine lets go of every call (it counts one as answered just after
  // its client may have seen the answer).
  test->engine().AwaitInFlight(0);
}

TEST(FaultTest, AClientCancellingMidBatchLeavesItsBatchMateAlone) {
  // Two calls in one batch: the window is long and not adaptive, so the
  // batch is cut when it is full (2), whatever the threads' timing.
  Engine::Options options;
  options.batching.max_batch_size = 2;
  options.batching.max_queue_delay = absl::Seconds(30);
  options.batching.adaptive_queue_delay = false;
  std::unique_ptr<TestServer> test = StartFake(options);
  FakeModelRunner& runner = *test->fake_runner();
  runner.HoldRuns();

  std::shared_ptr<grpc::Channel> channel = *CreateSlimChannel(
      test->target(), ChannelOptions());
  std::unique_ptr<v1::InferenceService::Stub> stub = v1::InferenceService::NewStub(channel);
  grpc::ClientContext cancelled_context;
  v1::InferResponse cancelled_response;
  grpc::Status cancelled_status;
  absl::Notification cancelled_done;
  const v1::InferRequest request = PngInferRequest(1.0);
  stub->async()->Infer(&cancelled_context, &request, &cancelled_response,
                       [&](grpc::Status status) {
                         cancelled_status = std::move(status);
                         cancelled_done.Notify();
                       });
  absl::StatusOr<v1::InferResponse> mate;
  std::thread mate_call(
      [&] { mate = test->client().Infer(PngInferRequest(1.0)); });
  runner.BlockUntilRunsStarted(1);
  ASSERT_EQ(runner.runs()[0].rows, 2);

  cancelled_context.TryCancel();
  cancelled_done.WaitForNotification();
  EXPECT_EQ(cancelled_status.error_code(), grpc::StatusCode::CANCELLED);
  // The cancellation is local until the server reads the RST_STREAM. A call
  // on the same connection after it: once it is answered, the server has
  // read the RST_STREAM too (frames of one connection arrive in order), so
  // the held batch finishes after the server knows, however slow the
  // machine.
  {
    grpc::ClientContext context;
    v1::GetModelInfoResponse info;
    ASSERT_TRUE(stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &info)
                    .ok());
  }
  runner.ReleaseRuns();
  mate_call.join();
  ASSERT_TRUE(mate.ok()) << mate.status();
  EXPECT_EQ(mate->outputs_size(), 4);
  // The engine lets go of both, and the server serves on (two calls: a
  // lone one would wait out the 30 s window).
  test->engine().AwaitInFlight(0);
  absl::Status again;
  std::thread again_call(
      [&] { again = test->client().Infer(PngInferRequest(1.0)).status(); });
  EXPECT_TRUE(test->client().Infer(PngInferRequest(1.0)).ok());
  again_call.join();
  EXPECT_TRUE(again.ok()) << again;
  // The cancelled call reached the server once, and was not sent again.
  EXPECT_EQ(InferCount(*test, "CANCELLED"), 1.0);
  EXPECT_EQ(InferCount(*test, "OK"), 3.0);
}

// A queue of one, full (one call running, held, one queued): every further
// call is refused RESOURCE_EXHAUSTED, attempt after attempt.
class RetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Engine::Options options;
    options.batching.max_queue_size = 1;
    options.batching.max_batch_size = 1;
    test_ = StartFake(options);
    test_->fake_runner()->HoldRuns();
    // One after the other: the second only once the first is running (out
    // of the queue), or it could find the queue full and be refused.
    for (int i = 0; i < 2; ++i) {
      holders_.emplace_back([this] {
        EXPECT_TRUE(test_->client().Infer(PngInferRequest(1.0)).ok());
      });
      if (i == 0) test_->fake_runner()->BlockUntilRunsStarted(1);
      test_->engine().AwaitInFlight(i + 1);
    }
  }
  void TearDown() override {
    test_->fake_runner()->ReleaseRuns();
    for (std::thread& t : holders_) t.join();
  }

  absl::Status CallWith(const ChannelOptions& options) {
    absl::StatusOr<std::unique_ptr<SlimClient>> client =
        SlimClient::Connect(test_->target(), absl::Seconds(10), options);
    if (!client.ok()) return client.status();
    return (*client)->Infer(PngInferRequest(1.0)).status();
  }

  std::unique_ptr<TestServer> test_;
  std::vector<std::thread> holders_;
};

TEST_F(RetryTest, RetriesResourceExhaustedUpToMaxAttempts) {
  ChannelOptions options;  // retry on by default
  options.max_attempts = 4;
  const absl::Status status = CallWith(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(InferCount(*test_, "RESOURCE_EXHAUSTED"), 4.0);
}

TEST_F(RetryTest, WithoutRetriesTheRefusalComesStraightBack) {
  ChannelOptions options;
  options.retry = false;
  EXPECT_EQ(CallWith(options).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(InferCount(*test_, "RESOURCE_EXHAUSTED"), 1.0);
}

TEST_F(RetryTest, NeverRetriesAMistakeOfTheRequest) {
  absl::StatusOr<std::unique_ptr<SlimClient>> client =
      SlimClient::Connect(test_->target(), absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  v1::InferRequest bad = PngInferRequest(1.0);
  (*bad.mutable_task_weights())["no_such_task"] = 1;
  EXPECT_EQ((*client)->Infer(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(InferCount(*test_, "INVALID_ARGUMENT"), 1.0);
}

TEST(RetryPolicyTest, ServiceConfigNamesExactlyTheRetryableCodes) {
  const std::string config = RetryServiceConfig(3);
  EXPECT_THAT(config, HasSubstr(R"("maxAttempts":3)"));
  EXPECT_THAT(config, HasSubstr(R"("retryableStatusCodes":["UNAVAILABLE",)"
                                R"("RESOURCE_EXHAUSTED","CANCELLED"])"));
  EXPECT_THAT(config, HasSubstr(R"("service":"slimserve.v1.InferenceService")"));
}

}  // namespace
}  // namespace slimserve
