// InferStream over real gRPC with the FakeModelRunner held on purpose, so
// that each case (frames in flight at a half-close, at a cancellation, the
// read limit reached) happens for certain, not by timing; and under
// tools/sanitize.sh --tsan, the stream reactor's threads are checked.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "client/channel.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "slimserve/v1/slimserve.grpc.pb.h"
#include "tests/e2e/test_util.h"

namespace slimserve {
namespace {

using Stream =
    grpc::ClientReaderWriter<v1::InferStreamRequest, v1::InferStreamResponse>;

std::unique_ptr<TestServer> StartFake() {
  absl::StatusOr<std::unique_ptr<TestServer>> started =
      TestServer::StartWithFakeRunner();
  if (!started.ok()) {
    ADD_FAILURE() << started.status();
    std::abort();
  }
  return *std::move(started);
}

v1::InferStreamRequest Frame(int i) {
  v1::InferStreamRequest message;
  *message.mutable_frame() = PngInferRequest(i % 2 == 0 ? 1.0 : 0.25);
  message.mutable_frame()->set_request_id(absl::StrCat("f", i));
  return message;
}

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test_ = StartFake();
    channel_ = *CreateSlimChannel(test_->target(), ChannelOptions());
    stub_ = v1::InferenceService::NewStub(channel_);
  }

  std::unique_ptr<TestServer> test_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::InferenceService::Stub> stub_;
};

TEST_F(StreamTest, FramesAnsweredInOrderWhileWritesGoOn) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->InferStream(&context);
  constexpr int kFrames = 40;
  std::thread writer([&] {
    for (int i = 0; i < kFrames; ++i) ASSERT_TRUE(stream->Write(Frame(i)));
    stream->WritesDone();
  });
  v1::InferStreamResponse response;
  int count = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.request_id(), absl::StrCat("f", count));
    ASSERT_TRUE(response.has_response()) << response.error().message();
    EXPECT_EQ(response.response().request_id(), response.request_id());
    EXPECT_EQ(response.response().outputs_size(), 4);
    ++count;
  }
  writer.join();
  EXPECT_EQ(count, kFrames);
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(RequestCount(*test_, "InferStream", "OK"), 1);
  test_->engine().AwaitInFlight(0);
}

TEST_F(StreamTest, HalfCloseWithFramesInFlightAnswersThemAll) {
  FakeModelRunner& runner = *test_->fake_runner();
  runner.HoldRuns();
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->InferStream(&context);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->Write(Frame(i)));
  ASSERT_TRUE(stream->WritesDone());
  runner.BlockUntilRunsStarted(1);
  runner.ReleaseRuns();
  v1::InferStreamResponse response;
  std::vector<std::string> ids;
  while (stream->Read(&response)) ids.push_back(response.request_id());
  EXPECT_THAT(ids, ::testing::ElementsAre("f0", "f1", "f2"));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(StreamTest, ReadsStopAtTheLimitAndResumeAsAnswersGo) {
  // Runs held: the server takes 4 frames (the default limit) into the
  // engine and no more until one is answered. Frames are small, so the
  // client's 10 writes all complete into the HTTP/2 windows.
  FakeModelRunner& runner = *test_->fake_runner();
  runner.HoldRuns();
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->InferStream(&context);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(stream->Write(Frame(i)));
  ASSERT_TRUE(stream->WritesDone());
  test_->engine().AwaitInFlight(4);
  EXPECT_EQ(MetricSample(test_->metrics(), "slimserve_inflight_requests"), 4);
  runner.ReleaseRuns();
  v1::InferStreamResponse response;
  int count = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.request_id(), absl::StrCat("f", count++));
  }
  EXPECT_EQ(count, 10);
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(MetricSample(test_->metrics(),
                         "slimserve_stream_frames_total{code=\"OK\"}"),
            10);
}

TEST_F(StreamTest, CancelWithFramesInTheEngineEndsTheStream) {
  FakeModelRunner& runner = *test_->fake_runner();
  runner.HoldRuns();
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->InferStream(&context);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(stream->Write(Frame(i)));
  test_->engine().AwaitInFlight(4);
  context.TryCancel();
  // The cancellation reaches the server with the RST_STREAM; a unary call
  // on the same connection answered after it proves the server read it
  // (frames of a connection arrive in order).
  {
    grpc::ClientContext info_context;
    v1::GetModelInfoResponse info;
    ASSERT_TRUE(stub_->GetModelInfo(&info_context, v1::GetModelInfoRequest(),
                                    &info)
                    .ok());
  }
  runner.ReleaseRuns();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  test_->engine().AwaitInFlight(0);
  // The stream is done on the server too, and the server serves on.
  EXPECT_TRUE(test_->client().Infer(PngInferRequest(0.5)).ok());
  EXPECT_EQ(MetricSample(test_->metrics(), "slimserve_active_streams"), 0);
}

TEST_F(StreamTest, BadFramesGetTheirErrorAndTheStreamGoesOn) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->InferStream(&context);
  v1::InferStreamRequest no_budget = Frame(1);
  no_budget.mutable_frame()->clear_budget();
  v1::InferStreamRequest bad_timeout = Frame(2);
  bad_timeout.set_timeout_ms(-5);
  v1::InferStreamRequest long_id = Frame(3);
  long_id.mutable_frame()->set_request_id(std::string(1000, 'x'));
  for (const v1::InferStreamRequest& m :
       {Frame(0), no_budget, bad_timeout, long_id, Frame(4)}) {
    ASSERT_TRUE(stream->Write(m));
  }
  ASSERT_TRUE(stream->WritesDone());
  std::vector<v1::InferStreamResponse> responses;
  v1::InferStreamResponse response;
  while (stream->Read(&response)) responses.push_back(response);
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(responses.size(), 5u);
  EXPECT_TRUE(responses[0].has_response());
  EXPECT_THAT(responses[1].error().message(),
              ::testing::HasSubstr("budget: required"));
  EXPECT_THAT(responses[2].error().message(),
              ::testing::HasSubstr("timeout_ms: must be"));
  EXPECT_EQ(responses[3].error().code(),
            static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(responses[3].request_id(), "");  // over the limit: not echoed
  EXPECT_THAT(responses[3].error().message(),
              ::testing::HasSubstr("request_id: 1000 bytes"));
  EXPECT_TRUE(responses[4].has_response());
  EXPECT_EQ(responses[4].request_id(), "f4");
}

TEST_F(StreamTest, ServerShutdownEndsAnOpenStream) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->InferStream(&context);
  ASSERT_TRUE(stream->Write(Frame(0)));
  v1::InferStreamResponse response;
  ASSERT_TRUE(stream->Read(&response));
  // The client keeps the stream open; a shutdown with no grace cancels it.
  test_->server().Shutdown(absl::ZeroDuration());
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_FALSE(stream->Finish().ok());
}

}  // namespace
}  // namespace slimserve
