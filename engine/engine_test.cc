// The engine end to end on a tiny random model: planning, pre-processing,
// execution and output encoding, deadlines, cancellation, back-pressure and
// shutdown. No gRPC.
#include "engine/engine.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <random>

#include <torch/cuda.h>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "engine/image_codec.h"
#include "engine/latency_model.h"
#include "engine/model_package.h"
#include "engine/planner.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

std::string PackageDir() {
  static const std::string* dir = [] {
    auto* d = new std::string(
        (std::filesystem::path(testing::TempDir()) / "tiny").string());
    const absl::Status st = WriteRandomModelPackage(TinyModelSpec(), 1, *d);
    if (!st.ok()) std::abort();
    return d;
  }();
  return *dir;
}

std::string TestPng(int h, int w) {
  std::vector<uint8_t> rgb(h * w * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  return *EncodePng(rgb.data(), h, w, 3, 8);
}

// Submits and waits for the answer.
absl::StatusOr<InferResult> InferSync(Engine& engine, InferRequest request) {
  absl::Notification done;
  absl::StatusOr<InferResult> result;
  const absl::Status st =
      engine.Submit(std::move(request), [&](absl::StatusOr<InferResult> r) {
        result = std::move(r);
        done.Notify();
      });
  if (!st.ok()) return st;
  done.WaitForNotification();
  return result;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Engine::Options options;
    options.model_dir = PackageDir();
    options.num_threads = 1;
    auto engine = Engine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  InferRequest PngRequest(double fraction = 1.0) {
    InferRequest r;
    r.id = "t";
    r.image.bytes = TestPng(60, 80);
    r.plan_request.budget.value = fraction;
    return r;
  }

  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, RawOutputsHaveShapesAndRanges) {
  auto result = InferSync(*engine_, PngRequest());
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->outputs.size(), 4u);
  const int64_t hw = 32 * 48;
  const int channels[] = {8, 1, 3, 1};
  for (int t = 0; t < 4; ++t) {
    const TaskOutput& out = result->outputs[t];
    EXPECT_EQ(out.task, engine_->spec().tasks(t).name());
    EXPECT_EQ(out.format, OutputFormat::kRaw);
    EXPECT_EQ(out.dtype, DType::kFloat32);
    EXPECT_EQ(out.shape, (std::vector<int64_t>{channels[t], 32, 48}));
    ASSERT_EQ(out.data.size(), channels[t] * hw * sizeof(float));
  }
  std::vector<float> normals(3 * hw);
  std::memcpy(normals.data(), result->outputs[2].data.data(),
              normals.size() * 4);
  for (int64_t p = 0; p < hw; p += 97) {
    const float n = std::sqrt(normals[p] * normals[p] +
                              normals[hw + p] * normals[hw + p] +
                              normals[2 * hw + p] * normals[2 * hw + p]);
    EXPECT_NEAR(n, 1.0f, 1e-4f);
  }
  EXPECT_GT(result->timings.compute, absl::ZeroDuration());
  EXPECT_EQ(result->plan.encoder_width, 1.0);
}

TEST_F(EngineTest, PngOutputsDecode) {
  InferRequest r = PngRequest(0.5);
  r.default_output_format = OutputFormat::kPng;
  r.output_formats["edges"] = OutputFormat::kRaw;
  auto result = InferSync(*engine_, r);
  ASSERT_TRUE(result.ok()) << result.status();
  const int want_channels[] = {1, 1, 3};
  const int want_depth[] = {8, 16, 8};
  for (int t = 0; t < 3; ++t) {
    auto png = DecodePngRaw(result->outputs[t].data);
    ASSERT_TRUE(png.ok()) << result->outputs[t].task << ": " << png.status();
    EXPECT_EQ(png->height, 32);
    EXPECT_EQ(png->width, 48);
    EXPECT_EQ(png->channels, want_channels[t]);
    EXPECT_EQ(png->bit_depth, want_depth[t]);
  }
  const auto ids = DecodePngRaw(result->outputs[0].data);
  for (uint16_t id : ids->samples) {
    ASSERT_LT(id, 8);  // class ids
  }
  EXPECT_EQ(result->outputs[3].format, OutputFormat::kRaw);
  EXPECT_LE(result->plan.macs, result->plan.budget_macs);
}

TEST_F(EngineTest, RawGrayAndJpegInputs) {
  InferRequest r = PngRequest();
  r.image.raw = true;
  r.image.height = 10;
  r.image.width = 7;
  r.image.channels = 1;
  r.image.bytes.assign(70, '\x80');
  ASSERT_TRUE(InferSync(*engine_, r).ok());

  std::vector<uint8_t> rgb(40 * 30 * 3, 100);
  InferRequest j = PngRequest();
  j.image.bytes = *EncodeJpeg(rgb.data(), 40, 30, 90);
  ASSERT_TRUE(InferSync(*engine_, j).ok());
}

TEST_F(EngineTest, OnlyWeightedTasksAreComputed) {
  InferRequest r = PngRequest();
  r.plan_request.task_weights = {{"depth", 2.0f}, {"semseg", 0.0f}};
  auto result = InferSync(*engine_, r);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->outputs.size(), 1u);
  EXPECT_EQ(result->outputs[0].task, "depth");
}

TEST_F(EngineTest, SubmitRefusesBadRequestsWithoutCallingDone) {
  auto expect_refused = [&](InferRequest r, absl::StatusCode code,
                            const std::string& part) {
    bool called = false;
    const absl::Status st =
        engine_->Submit(std::move(r), [&](auto) { called = true; });
    EXPECT_EQ(st.code(), code) << st;
    EXPECT_NE(st.message().find(part), std::string::npos) << st;
    EXPECT_FALSE(called);
  };
  InferRequest r = PngRequest();
  r.image.raw = true;
  r.image.height = 4;
  r.image.width = 4;
  r.image.channels = 3;
  r.image.bytes.assign(47, 'x');
  expect_refused(r, absl::StatusCode::kInvalidArgument,
                 "has 47 bytes, expected height*width*channels = 4*4*3 = 48");
  r.image.channels = 2;
  r.image.bytes.assign(32, 'x');
  expect_refused(r, absl::StatusCode::kInvalidArgument,
                 "image.raw.channels: must be 1, 3 or 4, got 2");
  InferRequest empty = PngRequest();
  empty.image.bytes.clear();
  expect_refused(empty, absl::StatusCode::kInvalidArgument,
                 "image.encoded: empty");
  InferRequest unknown = PngRequest();
  unknown.output_formats["sky"] = OutputFormat::kPng;
  expect_refused(unknown, absl::StatusCode::kInvalidArgument,
                 "output_formats: unknown task \"sky\"");
  InferRequest budget = PngRequest(0.0);
  expect_refused(budget, absl::StatusCode::kInvalidArgument,
                 "budget.fraction");
}

TEST_F(EngineTest, UndecodableImageFailsThroughDone) {
  InferRequest r = PngRequest();
  r.image.bytes = "GIF89a....";
  auto result = InferSync(*engine_, r);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("neither PNG nor JPEG"),
            std::string::npos)
      << result.status();
  EXPECT_TRUE(InferSync(*engine_, PngRequest()).ok());  // still serving
}

TEST_F(EngineTest, ExpiredAndCancelledRequestsAreNotRun) {
  InferRequest late = PngRequest();
  late.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(InferSync(*engine_, late).status().code(),
            absl::StatusCode::kDeadlineExceeded);

  InferRequest cancelled = PngRequest();
  cancelled.cancelled = std::make_shared<std::atomic<bool>>(true);
  EXPECT_EQ(InferSync(*engine_, cancelled).status().code(),
            absl::StatusCode::kCancelled);
}

TEST(EngineQueueTest, FullQueueIsResourceExhausted) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.num_threads = 1;
  options.max_queue_size = 1;
  options.warmup = false;
  auto engine = *Engine::Create(options);
  InferRequest r;
  r.image.bytes = TestPng(8, 8);
  // The first request's callback holds the only executor, so the second one
  // stays queued and the third finds the queue full.
  absl::Notification started, release, second_done;
  ASSERT_TRUE(engine
                  ->Submit(r,
                           [&](auto) {
                             started.Notify();
                             release.WaitForNotification();
                           })
                  .ok());
  started.WaitForNotification();
  ASSERT_TRUE(engine->Submit(r, [&](auto) { second_done.Notify(); }).ok());
  EXPECT_EQ(engine->InFlight(), 2);
  const absl::Status third = engine->Submit(r, [](auto) {});
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted) << third;
  release.Notify();
  second_done.WaitForNotification();
}

TEST(EngineLifecycleTest, ShutdownFinishesQueuedWorkThenRefuses) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.num_threads = 1;
  options.warmup = false;
  auto engine = *Engine::Create(options);
  std::atomic<int> answered{0};
  InferRequest r;
  r.image.bytes = TestPng(8, 8);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(engine
                    ->Submit(r,
                             [&](absl::StatusOr<InferResult> res) {
                               EXPECT_TRUE(res.ok()) << res.status();
                               ++answered;
                             })
                    .ok());
  }
  engine->Shutdown();
  EXPECT_EQ(answered.load(), 5);
  EXPECT_EQ(engine->Submit(r, [](auto) {}).code(),
            absl::StatusCode::kUnavailable);
}

TEST(EngineCreateTest, ErrorsNameTheProblem) {
  Engine::Options options;
  EXPECT_NE(Engine::Create(options).status().message().find("model_dir"),
            std::string::npos);
  options.model_dir = "/nonexistent/model";
  auto missing = Engine::Create(options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(
                "/nonexistent/model/spec.textproto"),
            std::string::npos);
  options.model_dir = PackageDir();
  options.num_executor_threads = 0;
  EXPECT_NE(Engine::Create(options).status().message().find(
                "num_executor_threads"),
            std::string::npos);
}

}  // namespace
}  // namespace slimserve

namespace slimserve {
namespace {

std::unique_ptr<Engine> BatchingEngine(int max_batch, absl::Duration delay) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.num_threads = 1;
  options.warmup = false;
  options.max_batch_size = max_batch;
  options.max_queue_delay = delay;
  return *Engine::Create(options);
}

// Random mixes of budgets, weights and images: each request's outputs when
// batched with others equal its outputs when run alone.
TEST(EngineBatchingTest, BatchedEqualsAloneOverRandomMixes) {
  auto alone = BatchingEngine(1, absl::ZeroDuration());
  // A long delay: batches close only when full, so they really mix.
  auto batched = BatchingEngine(6, absl::Seconds(5));
  std::mt19937 rng(3);
  const char* tasks[] = {"semseg", "depth", "normals", "edges"};
  std::vector<InferRequest> requests;
  for (int i = 0; i < 12; ++i) {
    InferRequest r;
    std::vector<uint8_t> rgb(24 * 30 * 3);
    for (auto& v : rgb) v = static_cast<uint8_t>(rng());
    r.image.bytes = *EncodePng(rgb.data(), 24, 30, 3, 8);
    r.plan_request.budget.value = (i % 2 == 0) ? 1.0 : 0.4;  // two widths
    for (const char* t : tasks) {
      if (rng() % 3 != 0) r.plan_request.task_weights[t] = 0.1f + rng() % 10;
    }
    if (r.plan_request.task_weights.empty()) {
      r.plan_request.task_weights["depth"] = 1.0f;
    }
    requests.push_back(r);
  }
  std::vector<absl::StatusOr<InferResult>> together(requests.size());
  absl::BlockingCounter pending(static_cast<int>(requests.size()));
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(batched
                    ->Submit(requests[i],
                             [&, i](absl::StatusOr<InferResult> r) {
                               together[i] = std::move(r);
                               pending.DecrementCount();
                             })
                    .ok());
  }
  pending.Wait();
  int max_batch_seen = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    ASSERT_TRUE(together[i].ok()) << together[i].status();
    max_batch_seen = std::max(max_batch_seen, together[i]->batch_size);
    auto one = InferSync(*alone, requests[i]);
    ASSERT_TRUE(one.ok()) << one.status();
    EXPECT_EQ(one->batch_size, 1);
    ASSERT_EQ(one->outputs.size(), together[i]->outputs.size());
    for (size_t k = 0; k < one->outputs.size(); ++k) {
      const auto& a = one->outputs[k].data;
      const auto& b = together[i]->outputs[k].data;
      ASSERT_EQ(a.size(), b.size());
      const float* fa = reinterpret_cast<const float*>(a.data());
      const float* fb = reinterpret_cast<const float*>(b.data());
      float worst = 0;
      for (size_t p = 0; p < a.size() / 4; ++p) {
        worst = std::max(worst, std::abs(fa[p] - fb[p]));
      }
      EXPECT_LE(worst, 1e-4f) << "request " << i << " task "
                              << one->outputs[k].task;
    }
  }
  EXPECT_EQ(max_batch_seen, 6);  // 6 requests per width: full batches
}

TEST(EngineBatchingTest, ExpiredRequestsInAQueueAreDroppedNotRun) {
  auto engine = BatchingEngine(8, absl::Seconds(5));
  InferRequest r;
  r.image.bytes = TestPng(8, 8);
  r.deadline = absl::Now() + absl::Milliseconds(30);
  // Alone in its queue with a 5 s delay: the deadline closes the wait; the
  // request either runs in time or is dropped, never answered late with OK.
  const absl::Time start = absl::Now();
  auto result = InferSync(*engine, r);
  const absl::Time end = absl::Now();
  if (result.ok()) {
    EXPECT_LE(start, r.deadline);
  } else {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  }
  EXPECT_LT(end - start, absl::Seconds(4));  // did not wait for the delay
}

TEST(EngineBatchingTest, BadBatchOptionsAreRefused) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.max_batch_size = 0;
  EXPECT_NE(Engine::Create(options).status().message().find("max_batch_size"),
            std::string::npos);
}

}  // namespace
}  // namespace slimserve

namespace slimserve {
namespace {

TEST_F(EngineTest, MeasuredLatencyEnablesMillisecondBudgets) {
  ASSERT_NE(engine_->latency(), nullptr);
  EXPECT_EQ(engine_->latency()->encoder_ms.size(), 4u);
  EXPECT_GT(engine_->latency()->encoder_ms.back(), 0.0);
  EXPECT_EQ(engine_->planner_name(), "paper");
  PlanRequest r;
  r.budget.kind = Budget::Kind::kMilliseconds;
  r.budget.value = 1000.0;  // everything fits
  auto full = engine_->MakePlan(r);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->encoder_width, 1.0);
  EXPECT_GT(full->predicted_latency_ms, 0.0);
  // Just above the fastest configuration: a narrower plan within it.
  double fastest = engine_->latency()->encoder_ms[0];
  for (const auto& task : engine_->latency()->decoder_ms) fastest += task[0][0];
  r.budget.value = fastest * 1.01;
  auto tight = engine_->MakePlan(r);
  ASSERT_TRUE(tight.ok()) << tight.status();
  EXPECT_LE(tight->predicted_latency_ms, r.budget.value);
  r.budget.value = fastest * 0.5;
  EXPECT_EQ(engine_->MakePlan(r).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(EngineTest, PlansCarryPredictedQuality) {
  InferRequest r = PngRequest(0.5);
  auto result = InferSync(*engine_, r);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->plan.synthetic_quality);  // the tiny package has no profile
  EXPECT_GT(result->plan.objective, 0.0);
  for (const auto& t : result->plan.tasks) {
    EXPECT_GT(t.predicted_quality, 0.0);
    EXPECT_LE(t.predicted_quality, 1.0);
  }
}

TEST(EngineCreateTest, UnknownPlannerIsRefused) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.planner = "oracle";
  auto engine = Engine::Create(options);
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find("oracle"), std::string::npos);
}

TEST_F(EngineTest, LatencyIsMeasuredAtOneAndTheLargestBatch) {
  const LatencyProfile* profile = engine_->latency_profile();
  ASSERT_NE(profile, nullptr);
  ASSERT_EQ(profile->tables.size(), 2u);
  EXPECT_EQ(profile->tables[0].batch_size, 1);
  EXPECT_EQ(profile->tables[1].batch_size, 8);  // Options::max_batch_size
  EXPECT_EQ(engine_->latency()->encoder_ms, profile->tables[0].encoder_ms);
  // A batch of 8 costs more than one image at the widest encoder.
  EXPECT_GT(profile->tables[1].encoder_ms.back(),
            profile->tables[0].encoder_ms.back());
  EXPECT_NE(engine_->latency_key().find("batch_sizes=1,8"), std::string::npos)
      << engine_->latency_key();
}

// Debian's LibTorch (CI): false. A CUDA LibTorch on the GPU machine: true.
bool torch_has_cuda() { return torch::cuda::is_available(); }

TEST(EngineCreateTest, DevicesAreCheckedAgainstThisLibTorch) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.num_threads = 1;
  options.measure_latency = false;
  options.device = "gpu0";
  absl::Status st = Engine::Create(options).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("\"gpu0\" is not a device"), std::string::npos)
      << st;
  options.device = "cuda";
  auto engine = Engine::Create(options);
  if (torch_has_cuda()) {
    EXPECT_TRUE(engine.ok()) << engine.status();
  } else {
    EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(engine.status().message().find("no usable CUDA device"),
              std::string::npos)
        << engine.status();
  }
  options.device = "cpu";
  EXPECT_TRUE(Engine::Create(options).ok());
}

TEST(EngineCreateTest, NetworkOptionsAreChecked) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.num_threads = 1;
  options.measure_latency = false;
  options.weights = "packed";
  absl::Status st = Engine::Create(options).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("Engine::Options.weights"), std::string::npos)
      << st;
  options.weights = "sliced";
  options.precision = "fp8";
  st = Engine::Create(options).status();
  EXPECT_NE(st.message().find("Engine::Options.precision"), std::string::npos)
      << st;
  options.precision = "bfloat16";  // the sliced path runs BatchNorm in f32
  st = Engine::Create(options).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("needs folded weights"), std::string::npos)
      << st;
  options.weights = "folded";
  options.precision = "float16";
  st = Engine::Create(options).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("float16 on the CPU"), std::string::npos) << st;
}

// The serving default (folded, channels-last) and the plain supernet path
// (sliced, NCHW) answer the same request with the same outputs.
TEST(EngineCreateTest, FoldedAndSlicedEnginesAgree) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.num_threads = 1;
  options.latency_repetitions = 1;
  auto folded = Engine::Create(options);
  options.weights = "sliced";
  options.channels_last = false;
  auto sliced = Engine::Create(options);
  ASSERT_TRUE(folded.ok()) << folded.status();
  ASSERT_TRUE(sliced.ok()) << sliced.status();
  EXPECT_NE((*folded)->latency_key().find("net=folded/float32/channels_last"),
            std::string::npos)
      << (*folded)->latency_key();
  EXPECT_NE((*sliced)->latency_key().find("net=sliced/float32/nchw"),
            std::string::npos)
      << (*sliced)->latency_key();
  for (double fraction : {0.3, 1.0}) {
    InferRequest r;
    r.image.bytes = TestPng(60, 80);
    r.plan_request.budget.value = fraction;
    auto a = InferSync(**folded, r);
    auto b = InferSync(**sliced, r);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->outputs.size(), b->outputs.size());
    EXPECT_EQ(a->plan.encoder_width_index, b->plan.encoder_width_index);
    for (size_t t = 0; t < a->outputs.size(); ++t) {
      ASSERT_EQ(a->outputs[t].data.size(), b->outputs[t].data.size());
      const size_t n = a->outputs[t].data.size() / sizeof(float);
      std::vector<float> x(n), y(n);
      std::memcpy(x.data(), a->outputs[t].data.data(), n * sizeof(float));
      std::memcpy(y.data(), b->outputs[t].data.data(), n * sizeof(float));
      double max_diff = 0, max_abs = 0;
      for (size_t i = 0; i < n; ++i) {
        max_diff = std::max<double>(max_diff, std::fabs(x[i] - y[i]));
        max_abs = std::max<double>(max_abs, std::fabs(y[i]));
      }
      EXPECT_LE(max_diff, 1e-4 * std::max(1.0, max_abs))
          << a->outputs[t].task << " at budget " << fraction;
    }
  }
}

TEST(EngineLatencyCacheTest, WrittenThenReadForTheSameKeyOnly) {
  const std::string cache =
      (std::filesystem::path(testing::TempDir()) / "latency_cache.textproto")
          .string();
  std::filesystem::remove(cache);
  Engine::Options options;
  options.model_dir = PackageDir();
  options.num_threads = 1;
  options.latency_batch_sizes = {1, 2, 4};
  options.latency_repetitions = 1;
  options.latency_cache = cache;
  std::string key;
  {
    auto engine = Engine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    ASSERT_TRUE(std::filesystem::exists(cache));
    key = (*engine)->latency_key();
    EXPECT_EQ((*engine)->latency_profile()->tables.size(), 3u);
  }
  // Mark the cached numbers: an engine that reads the cache plans with them.
  auto cached = ReadLatencyCache(cache, key, TinyModelSpec());
  ASSERT_TRUE(cached.ok()) << cached.status();
  for (auto& table : cached->tables) table.encoder_ms[0] = 123.0;
  ASSERT_TRUE(WriteLatencyCache(cache, key, *cached, TinyModelSpec(), 0).ok());
  {
    auto engine = Engine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    EXPECT_EQ((*engine)->latency()->encoder_ms[0], 123.0);
  }
  // Another key (batch sizes differ): measured again and rewritten.
  options.latency_batch_sizes = {1, 3};
  {
    auto engine = Engine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    EXPECT_LT((*engine)->latency()->encoder_ms[0], 123.0);
    EXPECT_TRUE(
        ReadLatencyCache(cache, (*engine)->latency_key(), TinyModelSpec()).ok());
  }
  options.latency_batch_sizes = {2, 4};
  EXPECT_NE(Engine::Create(options).status().message().find(
                "latency_batch_sizes"),
            std::string::npos);
}

}  // namespace
}  // namespace slimserve
