// The engine around a FakeModelRunner on a FakeClock: batching across
// widths, batching windows, deadlines, degrade before reject, cancellation,
// back-pressure, runner errors and shutdown, with the real stages and
// scheduler, no LibTorch and no sleeps. Time moves only when a test (or the
// fake runner, by its modelled compute) advances it.

#include "engine/engine_core.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "base/fake_clock.h"
#include "engine/engine.h"
#include "engine/model/spec.h"
#include "engine/runtime/fake_model_runner.h"
#include "engine/stages/postprocess.h"
#include "engine/stages/preprocess.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "image/codec.h"

namespace slimserve {
namespace {

// A package with only the spec: the fake runner needs no weights.
std::string SpecDir() {
  static const std::string* dir = [] {
    auto* d = new std::string(
        (std::filesystem::path(testing::TempDir()) / "tiny_spec").string());
    std::filesystem::create_directories(*d);
    std::string text;
    google::protobuf::TextFormat::PrintToString(TinyModelSpec(), &text);
    std::ofstream(*d + "/spec.textproto") << text;
    return d;
  }();
  return *dir;
}

// One request's answer.
class Answer {
 public:
  InferDone Callback() {
    return [this](absl::StatusOr<InferResult> r) {
      result_ = std::move(r);
      done_.Notify();
    };
  }
  const absl::StatusOr<InferResult>& Wait() {
    done_.WaitForNotification();
    return result_;
  }
  bool done() const { return done_.HasBeenNotified(); }

 private:
  absl::Notification done_;
  absl::StatusOr<InferResult> result_ = absl::UnknownError("not answered");
};

InferRequest RawRequest(double fraction, uint8_t value = 128) {
  InferRequest r;
  r.id = "fake";
  r.image.raw = true;
  r.image.height = 8;
  r.image.width = 12;
  r.image.channels = 3;
  r.image.bytes.assign(8 * 12 * 3, static_cast<char>(value));
  r.plan_request.budget.value = fraction;
  return r;
}

// Fake compute of the full configuration of the tiny model (4 encoder and 4
// decoder widths, 4 tasks): 1 ms x 4 + 4 tasks x 0.25 ms x 4.
constexpr double kFullMs = 8;
// The fastest: encoder width 0 and every decoder at width 0.
constexpr double kFastestMs = 2;

class EngineCoreTest : public ::testing::Test {
 protected:
  // Members are destroyed in reverse order: the engine before the clock.
  // Without options: batches close at once (the fake clock would never end
  // a batching window).
  void Start() { Start(Batching(8, absl::ZeroDuration())); }
  // `timed_compute`: the fake runner advances the clock by its modelled
  // compute. Off for tests of batch formation, where time moving while
  // requests are still being pre-processed would close windows early.
  void Start(Engine::Options options, bool timed_compute = true) {
    options.model_dir = SpecDir();
    options.clock = &clock_;
    if (options.stages.num_threads == 0) options.stages.num_threads = 2;
    // One executor unless a test asks for more: the tests of batch
    // formation follow one queue on the fake clock.
    if (options.batching.num_executor_threads == 0) {
      options.batching.num_executor_threads = 1;
    }
    FakeModelRunner::Options fake;
    if (timed_compute) fake.clock = &clock_;
    fake.preprocess_on_device = preprocess_on_device_;
    fake.finish_on_device = finish_on_device_;
    absl::StatusOr<std::unique_ptr<Engine>> engine = CreateEngine(
        options, [&](const ModelPackage& package) {
          auto runner = std::make_unique<FakeModelRunner>(package.spec, fake);
          runner_ = runner.get();
          return absl::StatusOr<std::unique_ptr<ModelRunner>>(
              std::move(runner));
        });
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  // Classic windows unless `adaptive`: tests of windows and batch formation
  // need them to hold whatever the stage threads' timing.
  static Engine::Options Batching(int max_batch_size, absl::Duration delay,
                                  bool adaptive = false) {
    Engine::Options options;
    options.batching.max_batch_size = max_batch_size;
    options.batching.max_queue_delay = delay;
    options.batching.adaptive_queue_delay = adaptive;
    return options;
  }

  absl::Status Submit(InferRequest request, Answer* answer) {
    return engine_->Submit(std::move(request), answer->Callback());
  }

  // Occupies the only executor with a request whose run is held; returns
  // once it is running (and no longer waiting).
  void OccupyExecutor(Answer* answer) {
    runner_->HoldRuns();
    const int before = static_cast<int>(runner_->runs().size());
    ASSERT_TRUE(Submit(RawRequest(1.0), answer).ok());
    runner_->BlockUntilRunsStarted(before + 1);
  }

  // Outlives the engine, whose threads answer into it.
  Answer& NewAnswer() { return answers_.emplace_back(); }

  FakeClock clock_;
  bool preprocess_on_device_ = false;  // read by Start()
  bool finish_on_device_ = false;      // read by Start()
  std::deque<Answer> answers_;
  FakeModelRunner* runner_ = nullptr;  // owned by engine_
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineCoreTest, BatchesRequestsOfOneEncoderWidthWhateverTheirTasks) {
  Start(Batching(4, absl::Milliseconds(2)), /*timed_compute=*/false);
  const std::vector<std::vector<std::string>> tasks = {
      {"semseg"}, {"depth", "edges"}, {}, {"normals"}};
  std::vector<InferRequest> requests;
  std::vector<Answer*> answers;
  for (size_t i = 0; i < tasks.size(); ++i) {
    InferRequest r = RawRequest(1.0, static_cast<uint8_t>(40 * i));
    for (const std::string& t : tasks[i]) r.plan_request.task_weights[t] = 1;
    requests.push_back(r);
    answers.push_back(&NewAnswer());
    ASSERT_TRUE(Submit(r, answers[i]).ok());
  }
  // The 2 ms window never ends (the clock stands still): the fourth request
  // fills the batch.
  const PreprocessOptions pre =
      PreprocessOptionsFor(TinyModelSpec(), 1 << 20);
  for (size_t i = 0; i < tasks.size(); ++i) {
    const absl::StatusOr<InferResult>& result = answers[i]->Wait();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->batch_size, 4);
    const std::vector<float> input = *Preprocess(requests[i].image, pre);
    const size_t expected_tasks = tasks[i].empty() ? 4 : tasks[i].size();
    ASSERT_EQ(result->outputs.size(), expected_tasks);
    ASSERT_EQ(result->plan.tasks.size(), expected_tasks);
    for (size_t k = 0; k < expected_tasks; ++k) {
      const TaskOutput& out = result->outputs[k];
      const TaskPlan& tp = result->plan.tasks[k];
      EXPECT_EQ(out.task, tp.name);
      ASSERT_EQ(out.format, OutputFormat::kRaw);
      const int64_t hw = out.shape[1] * out.shape[2];
      ASSERT_EQ(out.data.size(), out.shape[0] * hw * sizeof(float));
      const float* v = reinterpret_cast<const float*>(out.data.data());
      for (int64_t p = 0; p < hw; p += 97) {
        // The fake's head at this pixel, finished as post-processing does
        // (the resize is exact: the fake's heads are at the output size).
        std::vector<float> want(out.shape[0]);
        for (int64_t c = 0; c < out.shape[0]; ++c) {
          want[c] = input[p] + FakeModelRunner::Value(
                                   tp.task, result->plan.encoder_width_index,
                                   tp.decoder_width_index, c);
        }
        ActivateInPlace(out.kind, want.data(), out.shape[0], 1, 1);
        for (int64_t c = 0; c < out.shape[0]; ++c) {
          ASSERT_FLOAT_EQ(v[c * hw + p], want[c])
              << "request " << i << " task " << tp.name;
        }
      }
    }
  }
  int first = 0;
  for (Answer* a : answers) first += a->Wait()->first_in_batch;
  EXPECT_EQ(first, 1);  // per-batch metrics count each batch once
  const auto runs = runner_->runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].rows, 4);
}

TEST_F(EngineCoreTest, EncoderWidthsRunInSeparateBatches) {
  Start(Batching(2, absl::Milliseconds(2)), /*timed_compute=*/false);
  std::vector<Answer*> answers;
  for (int i = 0; i < 4; ++i) {
    answers.push_back(&NewAnswer());
    ASSERT_TRUE(Submit(RawRequest(i % 2 == 0 ? 1.0 : 0.3), answers[i]).ok());
  }
  for (Answer* a : answers) ASSERT_TRUE(a->Wait().ok()) << a->Wait().status();
  EXPECT_NE(answers[0]->Wait()->plan.encoder_width_index,
            answers[1]->Wait()->plan.encoder_width_index);
  const auto runs = runner_->runs();
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) {
    ASSERT_EQ(run.rows, 2);
    EXPECT_EQ(run.encoder_widths[0], run.encoder_widths[1]);
  }
}

TEST_F(EngineCoreTest, ABatchClosesWhenItsWindowEndsOnTheClock) {
  Start(Batching(8, absl::Milliseconds(2)));
  const absl::Time start = clock_.Now();
  Answer& answer = NewAnswer();
  ASSERT_TRUE(Submit(RawRequest(1.0), &answer).ok());
  // The scheduler holds it for the window.
  clock_.BlockUntilWaiting(1, start + absl::Milliseconds(2));
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(answer.done());
  EXPECT_TRUE(runner_->runs().empty());
  clock_.Advance(absl::Milliseconds(1));
  const absl::StatusOr<InferResult>& result = answer.Wait();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->batch_size, 1);
  // Time is the fake clock's, so the timings are exact: the window, then
  // the fake compute of the full configuration; the stages took no time.
  EXPECT_EQ(result->timings.queue, absl::Milliseconds(2));
  EXPECT_EQ(result->timings.compute, absl::Milliseconds(kFullMs));
  EXPECT_EQ(result->timings.preprocess, absl::ZeroDuration());
  EXPECT_EQ(result->timings.postprocess, absl::ZeroDuration());
}

// A request with nothing behind it runs at once: the 2 ms window is not
// waited for (the fake clock never moves here).
TEST_F(EngineCoreTest, ALoneRequestDoesNotWaitForABatchThatIsNotComing) {
  Start(Batching(8, absl::Milliseconds(2), /*adaptive=*/true));
  for (int i = 0; i < 3; ++i) {
    Answer& answer = NewAnswer();
    ASSERT_TRUE(Submit(RawRequest(1.0), &answer).ok());
    const absl::StatusOr<InferResult>& result = answer.Wait();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->timings.queue, absl::ZeroDuration());
  }
  // An undecodable request never reaches the queue: it must not hold the
  // next one either.
  InferRequest bad = RawRequest(1.0);
  bad.image.raw = false;
  bad.image.bytes = "not an image";
  Answer& failed = NewAnswer();
  ASSERT_TRUE(Submit(bad, &failed).ok());
  EXPECT_EQ(failed.Wait().status().code(), absl::StatusCode::kInvalidArgument);
  Answer& next = NewAnswer();
  ASSERT_TRUE(Submit(RawRequest(1.0), &next).ok());
  EXPECT_TRUE(next.Wait().ok());
}

TEST_F(EngineCoreTest, DegradesBeforeItRefuses) {
  Start(Batching(1, absl::ZeroDuration()));
  Answer& running = NewAnswer();
  OccupyExecutor(&running);  // predicted to end kFullMs from now
  const absl::Time now = clock_.Now();

  // Full width would end at 8 + 8 ms: past a 12 ms deadline, so a narrower
  // plan that fits in the 4 ms left.
  InferRequest tight = RawRequest(1.0);
  tight.deadline = now + absl::Milliseconds(12);
  Answer& degraded = NewAnswer();
  ASSERT_TRUE(Submit(tight, &degraded).ok());

  // 9 ms: even the fastest configuration (2 ms) does not fit behind the
  // running batch, but would on an idle server: overloaded.
  tight.deadline = now + absl::Milliseconds(9);
  Answer& overloaded = NewAnswer();
  const absl::Status refused = Submit(tight, &overloaded);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;

  // 1.5 ms: shorter than the fastest configuration itself.
  tight.deadline = now + absl::Milliseconds(kFastestMs - 0.5);
  Answer& hopeless = NewAnswer();
  const absl::Status too_short = Submit(tight, &hopeless);
  EXPECT_EQ(too_short.code(), absl::StatusCode::kDeadlineExceeded)
      << too_short;

  runner_->ReleaseRuns();
  ASSERT_TRUE(running.Wait().ok());
  const absl::StatusOr<InferResult>& result = degraded.Wait();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->plan.degraded);
  EXPECT_LE(result->plan.predicted_latency_ms, 4.0);
  EXPECT_FALSE(overloaded.done());
  EXPECT_FALSE(hopeless.done());
}

TEST_F(EngineCoreTest, ExpiredRequestsNeverReachTheRunner) {
  Start(Batching(1, absl::ZeroDuration()));
  Answer& running = NewAnswer();
  OccupyExecutor(&running);
  InferRequest late = RawRequest(1.0);
  late.deadline = clock_.Now() + absl::Milliseconds(50);  // 8 + 8 fits
  Answer& answer = NewAnswer();
  ASSERT_TRUE(Submit(late, &answer).ok());
  // While the executor is busy the deadline comes too close for the
  // request's compute (8 ms): it is dropped, not run late.
  clock_.Advance(absl::Milliseconds(45));
  runner_->ReleaseRuns();
  ASSERT_TRUE(running.Wait().ok());
  EXPECT_EQ(answer.Wait().status().code(), absl::StatusCode::kDeadlineExceeded)
      << answer.Wait().status();
  EXPECT_EQ(runner_->runs().size(), 1u);
}

TEST_F(EngineCoreTest, CancelledRequestsAreNotRun) {
  Start(Batching(1, absl::ZeroDuration()));
  Answer& running = NewAnswer();
  OccupyExecutor(&running);
  InferRequest r = RawRequest(1.0);
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  r.cancelled = cancelled;
  Answer& answer = NewAnswer();
  ASSERT_TRUE(Submit(r, &answer).ok());
  cancelled->store(true);
  runner_->ReleaseRuns();
  ASSERT_TRUE(running.Wait().ok());
  EXPECT_EQ(answer.Wait().status().code(), absl::StatusCode::kCancelled)
      << answer.Wait().status();
  EXPECT_EQ(runner_->runs().size(), 1u);
}

// Requests that waited far longer than admission predicted (here: behind a
// run held 100 ms of the clock, predicted to take 8 ms at first) make
// admission scale its next predictions: a deadline met on the prediction
// alone is refused, where with the scale off it is admitted. (The held runs
// also raise the compute scale, in both cases alike.)
TEST_F(EngineCoreTest, AdmissionScalesWaitsByHowLongRequestsReallyWaited) {
  for (const double quantile : {0.95, 0.0}) {
    SCOPED_TRACE(quantile);
    Engine::Options options = Batching(1, absl::ZeroDuration());
    options.batching.wait_scale_quantile = quantile;
    options.batching.wait_scale_window = 8;
    Start(options);
    for (int i = 0; i < 8; ++i) {
      Answer& running = NewAnswer();
      OccupyExecutor(&running);
      InferRequest r = RawRequest(1.0);
      r.deadline = clock_.Now() + absl::Seconds(10);
      Answer& answer = NewAnswer();
      ASSERT_TRUE(Submit(r, &answer).ok());
      engine_->AwaitInFlight(2);
      clock_.Advance(absl::Milliseconds(100));
      runner_->ReleaseRuns();
      ASSERT_TRUE(running.Wait().ok()) << running.Wait().status();
      ASSERT_TRUE(answer.Wait().ok()) << answer.Wait().status();
    }
    Answer& running = NewAnswer();
    OccupyExecutor(&running);
    InferRequest tight = RawRequest(1.0);
    tight.deadline = clock_.Now() + absl::Milliseconds(100);
    Answer& answer = NewAnswer();
    const absl::Status admitted = Submit(tight, &answer);
    runner_->ReleaseRuns();
    if (quantile > 0) {
      EXPECT_EQ(admitted.code(), absl::StatusCode::kResourceExhausted)
          << admitted;
    } else {
      EXPECT_TRUE(admitted.ok()) << admitted;
    }
    if (admitted.ok()) answer.Wait();
    running.Wait();
    engine_.reset();
  }
}

TEST_F(EngineCoreTest, ARunnerErrorFailsOnlyItsBatch) {
  Start(Batching(1, absl::ZeroDuration()));
  runner_->FailNextRuns(1, absl::UnavailableError("device lost"));
  Answer& failed = NewAnswer();
  Answer& next = NewAnswer();
  ASSERT_TRUE(Submit(RawRequest(1.0), &failed).ok());
  const absl::Status st = failed.Wait().status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal) << st;
  EXPECT_EQ(st.message(), "model execution failed: device lost");
  ASSERT_TRUE(Submit(RawRequest(1.0), &next).ok());
  EXPECT_TRUE(next.Wait().ok()) << next.Wait().status();
}

TEST_F(EngineCoreTest, AFullQueueIsResourceExhausted) {
  Engine::Options options = Batching(1, absl::ZeroDuration());
  options.batching.max_queue_size = 1;
  Start(options);
  Answer& running = NewAnswer();
  Answer& queued = NewAnswer();
  Answer& refused = NewAnswer();
  OccupyExecutor(&running);  // computing: no longer counts as queued
  ASSERT_TRUE(Submit(RawRequest(1.0), &queued).ok());
  EXPECT_EQ(engine_->InFlight(), 2);
  const absl::Status third = Submit(RawRequest(1.0), &refused);
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted) << third;
  runner_->ReleaseRuns();
  EXPECT_TRUE(running.Wait().ok());
  EXPECT_TRUE(queued.Wait().ok());
  EXPECT_FALSE(refused.done());
}

// A client that retries from its failure callback (as a closed-loop client
// does) must find the slot its failed request held free again.
TEST_F(EngineCoreTest, AFailedRequestLeavesTheQueueBeforeItsAnswer) {
  Engine::Options options = Batching(1, absl::ZeroDuration());
  options.batching.max_queue_size = 1;
  Start(options);
  InferRequest bad = RawRequest(1.0);
  bad.image.raw = false;
  bad.image.bytes = "GIF89a....";
  Answer& retry = NewAnswer();
  absl::Status failure = absl::UnknownError("not answered");
  absl::Status resubmitted = absl::UnknownError("not resubmitted");
  absl::Notification answered;
  ASSERT_TRUE(engine_
                  ->Submit(std::move(bad),
                           [&](absl::StatusOr<InferResult> r) {
                             failure = r.status();
                             resubmitted =
                                 Submit(RawRequest(1.0), &retry);
                             answered.Notify();
                           })
                  .ok());
  answered.WaitForNotification();
  EXPECT_EQ(failure.code(), absl::StatusCode::kInvalidArgument) << failure;
  ASSERT_TRUE(resubmitted.ok()) << resubmitted;
  EXPECT_TRUE(retry.Wait().ok()) << retry.Wait().status();
}

TEST_F(EngineCoreTest, ShutdownEndsTheBatchingWindowAndAnswersEverything) {
  Start(Batching(8, absl::Seconds(10)));
  const absl::Time start = clock_.Now();
  Answer& answer = NewAnswer();
  ASSERT_TRUE(Submit(RawRequest(1.0), &answer).ok());
  clock_.BlockUntilWaiting(1, start + absl::Seconds(10));
  // No clock movement: the drain, not the window, lets it run.
  engine_->Shutdown();
  EXPECT_TRUE(answer.done());
  EXPECT_TRUE(answer.Wait().ok()) << answer.Wait().status();
  EXPECT_EQ(engine_->InFlight(), 0);
  Answer& late = NewAnswer();
  EXPECT_EQ(Submit(RawRequest(1.0), &late).code(),
            absl::StatusCode::kUnavailable);
  engine_->Shutdown();  // idempotent
}

TEST_F(EngineCoreTest, ShutdownWaitsForCallsInFlight) {
  Start(Batching(1, absl::ZeroDuration()));
  Answer& running = NewAnswer();
  Answer& queued = NewAnswer();
  OccupyExecutor(&running);
  ASSERT_TRUE(Submit(RawRequest(0.5), &queued).ok());
  bool all_answered = false;
  std::thread stopper([&] {
    engine_->Shutdown();
    all_answered = running.done() && queued.done();
  });
  runner_->ReleaseRuns();
  stopper.join();
  EXPECT_TRUE(all_answered);
  EXPECT_TRUE(running.Wait().ok());
  EXPECT_TRUE(queued.Wait().ok());
}

TEST_F(EngineCoreTest, SubmitRefusesBadRequestsWithoutCallingDone) {
  Start();
  auto expect_refused = [&](InferRequest r, absl::StatusCode code,
                            const std::string& part) {
    Answer& answer = NewAnswer();
    const absl::Status st = Submit(std::move(r), &answer);
    EXPECT_EQ(st.code(), code) << st;
    EXPECT_NE(st.message().find(part), std::string::npos) << st;
    EXPECT_FALSE(answer.done());
  };
  InferRequest r = RawRequest(1.0);
  r.image.bytes.resize(47);
  r.image.height = 4;
  r.image.width = 4;
  expect_refused(r, absl::StatusCode::kInvalidArgument,
                 "image.raw: data has 47 bytes, expected 4*4*3 = 48");
  r.image.channels = 2;
  expect_refused(r, absl::StatusCode::kInvalidArgument,
                 "image.raw.channels: must be 1, 3 or 4, got 2");
  InferRequest empty = RawRequest(1.0);
  empty.image.raw = false;
  empty.image.bytes.clear();
  expect_refused(empty, absl::StatusCode::kInvalidArgument,
                 "image.encoded: empty");
  InferRequest unknown = RawRequest(1.0);
  unknown.output_formats["sky"] = OutputFormat::kPng;
  expect_refused(unknown, absl::StatusCode::kInvalidArgument,
                 "output_formats: unknown task \"sky\" (the model has: "
                 "semseg, depth, normals, edges)");
  InferRequest budget = RawRequest(0.0);
  expect_refused(budget, absl::StatusCode::kInvalidArgument,
                 "budget.fraction");
  InferRequest weights = RawRequest(1.0);
  weights.plan_request.task_weights[std::string(10000, 'x')] = 1;
  Answer& answer = NewAnswer();
  const absl::Status long_name = Submit(weights, &answer);
  EXPECT_EQ(long_name.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(long_name.message().size(), 300u) << "the name is echoed whole";
}

TEST_F(EngineCoreTest, UndecodableImagesFailThroughDone) {
  Start();
  InferRequest r = RawRequest(1.0);
  r.image.raw = false;
  r.image.bytes = "GIF89a....";
  Answer& answer = NewAnswer();
  ASSERT_TRUE(Submit(r, &answer).ok());
  EXPECT_EQ(answer.Wait().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(answer.Wait().status().message().find("neither PNG nor JPEG"),
            std::string::npos)
      << answer.Wait().status();
  Answer& next = NewAnswer();
  ASSERT_TRUE(Submit(RawRequest(1.0), &next).ok());
  EXPECT_TRUE(next.Wait().ok());  // still serving
  EXPECT_EQ(runner_->runs().size(), 1u);
}

TEST_F(EngineCoreTest, ARunnerThatPreprocessesGetsDecodedImages) {
  // The engine decodes only; the runner resizes and normalises (the fake
  // with ResizeNormalizeCpu, as the CUDA runner with the same arithmetic),
  // so the outputs are those of host pre-processing.
  preprocess_on_device_ = true;
  Start();
  std::vector<uint8_t> rgb = std::vector<uint8_t>(30 * 40 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  InferRequest png = RawRequest(1.0);
  png.image.raw = false;
  png.image.bytes = *EncodePng(rgb.data(), 30, 40, 3, 8);
  InferRequest raw = RawRequest(1.0);
  for (size_t i = 0; i < raw.image.bytes.size(); ++i) {
    raw.image.bytes[i] = static_cast<char>(i * 13);
  }
  std::vector<InferRequest> requests = {raw, png};
  const PreprocessOptions pre = PreprocessOptionsFor(TinyModelSpec(), 1 << 20);
  for (const InferRequest& r : requests) {
    Answer& answer = NewAnswer();
    ASSERT_TRUE(Submit(r, &answer).ok());
    const absl::StatusOr<InferResult>& result = answer.Wait();
    ASSERT_TRUE(result.ok()) << result.status();
    const std::vector<float> input = *Preprocess(r.image, pre);
    const TaskOutput& out = result->outputs[1];  // depth: one channel
    const TaskPlan& tp = result->plan.tasks[1];
    ASSERT_EQ(out.shape[0], 1);
    const float* v = reinterpret_cast<const float*>(out.data.data());
    for (int64_t p = 0; p < out.shape[1] * out.shape[2]; p += 31) {
      float want = input[p] + FakeModelRunner::Value(
                                  tp.task, result->plan.encoder_width_index,
                                  tp.decoder_width_index, 0);
      ActivateInPlace(out.kind, &want, 1, 1, 1);
      ASSERT_FLOAT_EQ(v[p], want) << "pixel " << p;
    }
  }
  const auto runs = runner_->runs();
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) EXPECT_EQ(run.image_rows, run.rows);
  // Decoding errors still fail the request, before the runner.
  InferRequest bad = RawRequest(1.0);
  bad.image.raw = false;
  bad.image.bytes = "GIF89a....";
  Answer& answer = NewAnswer();
  ASSERT_TRUE(Submit(bad, &answer).ok());
  EXPECT_EQ(answer.Wait().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(runner_->runs().size(), 2u);
}

TEST_F(EngineCoreTest, ARunnerThatFinishesGetsEachRowsFormatsAndSize) {
  // The runner finishes the outputs (the fake with FinishSamples, as the
  // CUDA runner with the same arithmetic on the GPU) at each row's size and
  // in each task's format; the engine only encodes, and the answers are
  // those of post-processing on the host.
  finish_on_device_ = true;
  const Engine::Options options = Batching(8, absl::ZeroDuration());
  Start(options);
  std::vector<uint8_t> rgb(30 * 40 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 5);
  InferRequest png = RawRequest(1.0);
  png.image.raw = false;
  png.image.bytes = *EncodePng(rgb.data(), 30, 40, 3, 8);
  png.output_size = OutputSize::kInput;
  png.default_output_format = OutputFormat::kPng;
  png.output_formats["edges"] = OutputFormat::kRaw;
  InferRequest raw = RawRequest(0.5, 90);
  raw.output_formats["depth"] = OutputFormat::kPng;
  const v1::ModelSpec spec = TinyModelSpec();
  const PreprocessOptions pre = PreprocessOptionsFor(spec, 1 << 20);
  const int h = spec.input().height(), w = spec.input().width();
  for (const InferRequest& r : {png, raw}) {
    Answer& answer = NewAnswer();
    ASSERT_TRUE(Submit(r, &answer).ok());
    const absl::StatusOr<InferResult>& result = answer.Wait();
    ASSERT_TRUE(result.ok()) << result.status();
    const std::vector<float> input = *Preprocess(r.image, pre);
    const int out_h = r.output_size == OutputSize::kInput ? 30 : h;
    const int out_w = r.output_size == OutputSize::kInput ? 40 : w;
    ASSERT_EQ(result->outputs.size(), result->plan.tasks.size());
    for (size_t k = 0; k < result->outputs.size(); ++k) {
      const TaskPlan& tp = result->plan.tasks[k];
      const v1::TaskSpec& task = spec.tasks(tp.task);
      const int64_t c = TaskOutputChannels(task);
      std::vector<float> head(c * h * w);
      for (int64_t ch = 0; ch < c; ++ch) {
        const float v = FakeModelRunner::Value(
            tp.task, result->plan.encoder_width_index, tp.decoder_width_index,
            ch);
        for (int p = 0; p < h * w; ++p) head[ch * h * w + p] = input[p] + v;
      }
      const absl::StatusOr<TaskOutput> want = FinishOutput(
          task, FormatFor(r, tp.name), head.data(), c, h, w, out_h, out_w,
          PngLevelFor(task.kind(), options.stages.png_compression_level));
      ASSERT_TRUE(want.ok()) << want.status();
      const TaskOutput& got = result->outputs[k];
      EXPECT_EQ(got.task, tp.name);
      EXPECT_EQ(got.format, FormatFor(r, tp.name)) << tp.name;
      EXPECT_EQ(got.shape, want->shape) << tp.name;
      EXPECT_EQ(got.dtype, want->dtype) << tp.name;
      EXPECT_TRUE(got.data == want->data) << tp.name;
    }
  }
  const auto runs = runner_->runs();
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& run : runs) EXPECT_EQ(run.finished_rows, run.rows);
}

TEST_F(EngineCoreTest, PngInputsAndOutputs) {
  Start();
  std::vector<uint8_t> rgb(30 * 40 * 3, 77);
  InferRequest r = RawRequest(0.5);
  r.image.raw = false;
  r.image.bytes = *EncodePng(rgb.data(), 30, 40, 3, 8);
  r.default_output_format = OutputFormat::kPng;
  r.output_formats["edges"] = OutputFormat::kRaw;
  Answer& answer = NewAnswer();
  ASSERT_TRUE(Submit(r, &answer).ok());
  const absl::StatusOr<InferResult>& result = answer.Wait();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->outputs.size(), 4u);
  const int bit_depth[] = {8, 16, 8};
  for (int t = 0; t < 3; ++t) {
    EXPECT_EQ(result->outputs[t].format, OutputFormat::kPng);
    absl::StatusOr<DecodedPng> png = DecodePngRaw(result->outputs[t].data);
    ASSERT_TRUE(png.ok()) << png.status();
    EXPECT_EQ(png->height, 32);
    EXPECT_EQ(png->width, 48);
    EXPECT_EQ(png->bit_depth, bit_depth[t]);
  }
  EXPECT_EQ(result->outputs[3].format, OutputFormat::kRaw);
  EXPECT_LE(result->plan.macs, result->plan.budget_macs);
}

TEST_F(EngineCoreTest, OutputsAtTheInputSizeOrRefusedWhenTooLarge) {
  Engine::Options options = Batching(8, absl::ZeroDuration());
  options.stages.max_output_bytes = 1 << 20;
  Start(options);
  InferRequest r = RawRequest(1.0);  // 8 x 12
  r.output_size = OutputSize::kInput;
  r.output_formats["depth"] = OutputFormat::kPng;
  Answer& answer = NewAnswer();
  ASSERT_TRUE(Submit(r, &answer).ok());
  const absl::StatusOr<InferResult>& result = answer.Wait();
  ASSERT_TRUE(result.ok()) << result.status();
  for (const TaskOutput& out : result->outputs) {
    EXPECT_EQ(out.shape[1], 8) << out.task;
    EXPECT_EQ(out.shape[2], 12) << out.task;
  }
  EXPECT_EQ(DecodePngRaw(result->outputs[1].data)->height, 8);
  // 200 x 300 RAW outputs of 13 channels: 3 MB, over the 1 MB limit.
  InferRequest big = RawRequest(1.0);
  big.image.height = 200;
  big.image.width = 300;
  big.image.bytes.assign(200 * 300 * 3, 'x');
  big.output_size = OutputSize::kInput;
  Answer& refused = NewAnswer();
  const absl::Status st = Submit(big, &refused);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("output_size"), std::string::npos) << st;
  big.output_size = OutputSize::kModel;  // the same image at the model's size
  Answer& fine = NewAnswer();
  ASSERT_TRUE(Submit(big, &fine).ok());
  EXPECT_TRUE(fine.Wait().ok());
}

TEST_F(EngineCoreTest, ModelInfoAndPlansFromTheFakeMeasurement) {
  Start();
  const ModelInfo& info = engine_->model_info();
  EXPECT_EQ(info.name, "tiny");
  ASSERT_EQ(info.tasks.size(), 4u);
  EXPECT_EQ(info.tasks[0].name, "semseg");
  EXPECT_EQ(info.tasks[0].output_channels, 8);
  EXPECT_EQ(info.tasks[2].output_channels, 3);
  EXPECT_FALSE(info.quality_measured);
  EXPECT_EQ(info.network, "fake on cpu");
  ASSERT_EQ(info.latency_tables.size(), 2u);  // 1 and max_batch_size
  EXPECT_EQ(info.latency_tables[1].batch_size, 8);
  EXPECT_DOUBLE_EQ(info.latency_tables[0].encoder_ms[3], 4.0);
  EXPECT_NE(info.latency_key.find("device=fake batch_sizes=1,8 net=fake"),
            std::string::npos)
      << info.latency_key;
  // A millisecond budget between the fastest and the full configuration.
  PlanRequest r;
  r.budget.kind = Budget::Kind::kMilliseconds;
  r.budget.value = 5;
  absl::StatusOr<ArchPlan> plan = engine_->PlanFor(r);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LE(plan->predicted_latency_ms, 5);
  EXPECT_GT(plan->predicted_latency_ms, kFastestMs);
  r.budget.value = kFastestMs - 0.5;
  EXPECT_EQ(engine_->PlanFor(r).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(runner_->warmups(), 1);
}

TEST(EngineCoreCreateTest, OptionsAreCheckedAndNamed) {
  struct Case {
    void (*apply)(Engine::Options*);
    const char* name;
  };
  const Case cases[] = {
      {[](Engine::Options* o) { o->model_dir.clear(); },
       "Engine::Options.model_dir"},
      {[](Engine::Options* o) { o->batching.max_batch_size = 0; },
       "Engine::Options.batching.max_batch_size"},
      {[](Engine::Options* o) { o->batching.max_queue_size = 0; },
       "Engine::Options.batching.max_queue_size"},
      {[](Engine::Options* o) {
         o->batching.max_queue_delay = -absl::Milliseconds(1);
       },
       "Engine::Options.batching.max_queue_delay"},
      {[](Engine::Options* o) { o->stages.num_threads = -1; },
       "Engine::Options.stages.num_threads"},
      {[](Engine::Options* o) { o->stages.max_image_pixels = 0; },
       "Engine::Options.stages.max_image_pixels"},
      {[](Engine::Options* o) { o->latency.batch_sizes = {2, 4}; },
       "Engine::Options.latency.batch_sizes"},
      {[](Engine::Options* o) { o->latency.repetitions = 0; },
       "Engine::Options.latency.repetitions"},
      {[](Engine::Options* o) { o->clock = nullptr; },
       "Engine::Options.clock"},
      {[](Engine::Options* o) { o->batching.num_executor_threads = 65; },
       "Engine::Options.batching.num_executor_threads"},
      {[](Engine::Options* o) { o->network.num_threads = -1; },
       "Engine::Options.network.num_threads"},
  };
  for (const Case& c : cases) {
    Engine::Options options;
    options.model_dir = SpecDir();
    c.apply(&options);
    const absl::Status st = ValidateEngineOptions(options);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(st.message().find(c.name), std::string::npos) << st;
  }
  Engine::Options options;
  options.model_dir = SpecDir();
  EXPECT_TRUE(ValidateEngineOptions(options).ok());
}

// (executors, intra-op threads) that ResolveThreads chooses.
std::pair<int, int> Resolved(int executors, int intra_op, int cores,
                             Device::Kind device = Device::Kind::kCpu) {
  Engine::Options options;
  options.batching.num_executor_threads = executors;
  options.network.num_threads = intra_op;
  options.network.device.kind = device;
  const Engine::Options r = ResolveThreads(options, cores);
  return {r.batching.num_executor_threads, r.network.num_threads};
}

TEST(ResolveThreadsTest, OnTheCpuBatchesRunSideBySideOnOneThreadEach) {
  EXPECT_EQ(Resolved(0, 0, 2), std::make_pair(2, 1));
  EXPECT_EQ(Resolved(0, 0, 16), std::make_pair(16, 1));
  EXPECT_EQ(Resolved(0, 0, 200), std::make_pair(64, 3));  // executors capped
  EXPECT_EQ(Resolved(0, 0, 0), std::make_pair(1, 1));     // unknown: one
}

TEST(ResolveThreadsTest, WhatIsSetStaysAndTheOtherSharesTheCores) {
  EXPECT_EQ(Resolved(1, 0, 8), std::make_pair(1, 8));  // the old default
  EXPECT_EQ(Resolved(3, 0, 8), std::make_pair(3, 2));
  EXPECT_EQ(Resolved(16, 0, 8), std::make_pair(16, 1));
  EXPECT_EQ(Resolved(0, 2, 8), std::make_pair(4, 2));
  EXPECT_EQ(Resolved(0, 16, 8), std::make_pair(1, 16));
  EXPECT_EQ(Resolved(5, 7, 8), std::make_pair(5, 7));
}

TEST(ResolveThreadsTest, OnCudaOneExecutorAndEveryCoreAsBefore) {
  EXPECT_EQ(Resolved(0, 0, 8, Device::Kind::kCuda), std::make_pair(1, 8));
  EXPECT_EQ(Resolved(4, 0, 8, Device::Kind::kCuda), std::make_pair(4, 8));
}

TEST(ResolveThreadsTest, StageThreadsDefaultToOnePerCore) {
  Engine::Options options;
  EXPECT_EQ(ResolveThreads(options, 6).stages.num_threads, 6);
  options.stages.num_threads = 3;
  EXPECT_EQ(ResolveThreads(options, 6).stages.num_threads, 3);
}

TEST(ResolveThreadsTest, ResolvingTwiceChangesNothing) {
  for (int e : {0, 1, 3}) {
    for (int t : {0, 1, 4}) {
      Engine::Options options;
      options.batching.num_executor_threads = e;
      options.network.num_threads = t;
      const Engine::Options once = ResolveThreads(options, 8);
      const Engine::Options twice = ResolveThreads(once, 8);
      EXPECT_EQ(twice.batching.num_executor_threads,
                once.batching.num_executor_threads);
      EXPECT_EQ(twice.network.num_threads, once.network.num_threads);
    }
  }
}

}  // namespace
}  // namespace slimserve
