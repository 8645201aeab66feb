// The engine end to end with LibTorch on a tiny random model: planning,
// pre-processing, execution and output encoding, latency measurement and its
// cache, the network's forms. No gRPC. Scheduling, deadlines and shutdown
// are tested on a fake runner and clock in engine_core_test.
#include "engine/engine.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <limits>
#include <random>

#include <torch/cuda.h>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "engine/model/latency_table.h"
#include "engine/model/spec.h"
#include "engine/runtime/random_model.h"
#include "gtest/gtest.h"
#include "image/codec.h"

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
    options.network.num_threads = 1;
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
    EXPECT_EQ(out.task, engine_->model_info().tasks[t].name);
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
  options.batching.num_executor_threads = -1;
  EXPECT_NE(Engine::Create(options).status().message().find(
                "Engine::Options.batching.num_executor_threads"),
            std::string::npos);
}

}  // namespace
}  // namespace slimserve

namespace slimserve {
namespace {

std::unique_ptr<Engine> BatchingEngine(int max_batch, absl::Duration delay,
                                       int executors = 0) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.network.num_threads = 1;
  options.batching.num_executor_threads = executors;
  options.warmup = false;
  options.batching.max_batch_size = max_batch;
  options.batching.max_queue_delay = delay;
  // Fixed windows: the test needs full batches, whatever the stage threads'
  // timing.
  options.batching.adaptive_queue_delay = false;
  return *Engine::Create(options);
}

// Random mixes of budgets, weights and images: each request's outputs when
// batched with others equal its outputs when run alone.
TEST(EngineBatchingTest, BatchedEqualsAloneOverRandomMixes) {
  auto alone = BatchingEngine(1, absl::ZeroDuration());
  // A long delay: batches close only when full, so they really mix. Two
  // executors on any machine: the two widths' batches run at once on one
  // network.
  auto batched = BatchingEngine(6, absl::Seconds(5), /*executors=*/2);
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

}  // namespace
}  // namespace slimserve

namespace slimserve {
namespace {

// The fastest configuration by the batch-1 table: for every encoder width,
// each task's fastest decoder width (timing noise may make a wider one
// faster, so this is not always the narrowest).
double FastestMs(const LatencyTableInfo& table) {
  double fastest = std::numeric_limits<double>::infinity();
  for (size_t we = 0; we < table.encoder_ms.size(); ++we) {
    double ms = table.encoder_ms[we];
    for (const auto& task : table.decoder_ms) {
      ms += *std::min_element(task[we].begin(), task[we].end());
    }
    fastest = std::min(fastest, ms);
  }
  return fastest;
}

TEST_F(EngineTest, MeasuredLatencyEnablesMillisecondBudgets) {
  const ModelInfo& info = engine_->model_info();
  ASSERT_FALSE(info.latency_tables.empty());
  const LatencyTableInfo& table = info.latency_tables.front();
  EXPECT_EQ(table.encoder_ms.size(), 4u);
  EXPECT_GT(table.encoder_ms.back(), 0.0);
  EXPECT_EQ(info.planner, "normalized");
  PlanRequest r;
  r.budget.kind = Budget::Kind::kMilliseconds;
  r.budget.value = 1000.0;  // everything fits
  auto full = engine_->PlanFor(r);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->encoder_width, 1.0);
  EXPECT_GT(full->predicted_latency_ms, 0.0);
  // Just above the fastest configuration: a plan within it.
  const double fastest = FastestMs(table);
  r.budget.value = fastest * 1.01;
  auto tight = engine_->PlanFor(r);
  ASSERT_TRUE(tight.ok()) << tight.status();
  EXPECT_LE(tight->predicted_latency_ms, r.budget.value);
  r.budget.value = fastest * 0.5;
  EXPECT_EQ(engine_->PlanFor(r).status().code(),
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

TEST(EngineCreateTest, PlannerOutOfRangeIsRefused) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.planner = static_cast<PlannerKind>(42);
  auto engine = Engine::Create(options);
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find("planner"), std::string::npos)
      << engine.status();
}

TEST_F(EngineTest, LatencyIsMeasuredAtOneAndTheLargestBatch) {
  const ModelInfo& info = engine_->model_info();
  ASSERT_EQ(info.latency_tables.size(), 2u);
  EXPECT_EQ(info.latency_tables[0].batch_size, 1);
  EXPECT_EQ(info.latency_tables[1].batch_size, 8);  // max_batch_size
  // A batch of 8 costs more than one image at the widest encoder.
  EXPECT_GT(info.latency_tables[1].encoder_ms.back(),
            info.latency_tables[0].encoder_ms.back());
  EXPECT_NE(info.latency_key.find("batch_sizes=1,8"), std::string::npos)
      << info.latency_key;
}

// Debian's LibTorch (CI): false. A CUDA LibTorch on the GPU machine: true.
bool torch_has_cuda() { return torch::cuda::is_available(); }

TEST(EngineCreateTest, DevicesAreCheckedAgainstThisLibTorch) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.network.num_threads = 1;
  options.latency.measure = false;
  options.network.device = *ParseDevice("cuda");
  auto engine = Engine::Create(options);
  if (torch_has_cuda()) {
    EXPECT_TRUE(engine.ok()) << engine.status();
  } else {
    EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(engine.status().message().find("no usable CUDA device"),
              std::string::npos)
        << engine.status();
  }
  options.network.device = *ParseDevice("cpu");
  EXPECT_TRUE(Engine::Create(options).ok());
}

TEST(EngineCreateTest, NetworkOptionsThatCannotRunAreRefused) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.network.num_threads = 1;
  options.latency.measure = false;
  options.network.weights = WeightsForm::kSliced;
  options.network.precision = Precision::kBFloat16;  // BN of sliced is f32
  absl::Status st = Engine::Create(options).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("needs folded weights"), std::string::npos)
      << st;
  options.network.weights = WeightsForm::kFolded;
  options.network.precision = Precision::kFloat16;
  st = Engine::Create(options).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("float16 on the CPU"), std::string::npos) << st;
}

// The serving default (folded, channels-last) and the plain supernet path
// (sliced, NCHW) answer the same request with the same outputs.
TEST(EngineCreateTest, FoldedAndSlicedEnginesAgree) {
  Engine::Options options;
  options.model_dir = PackageDir();
  options.network.num_threads = 1;
  options.latency.repetitions = 1;
  auto folded = Engine::Create(options);
  options.network.weights = WeightsForm::kSliced;
  options.network.channels_last = false;
  auto sliced = Engine::Create(options);
  ASSERT_TRUE(folded.ok()) << folded.status();
  ASSERT_TRUE(sliced.ok()) << sliced.status();
  const std::string& folded_key = (*folded)->model_info().latency_key;
  const std::string& sliced_key = (*sliced)->model_info().latency_key;
  EXPECT_NE(folded_key.find("net=folded/float32/channels_last"),
            std::string::npos)
      << folded_key;
  EXPECT_NE(sliced_key.find("net=sliced/float32/nchw"), std::string::npos)
      << sliced_key;
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
  options.network.num_threads = 1;
  options.latency.batch_sizes = {1, 2, 4};
  options.latency.repetitions = 1;
  options.latency.cache = cache;
  std::string key;
  {
    auto engine = Engine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    ASSERT_TRUE(std::filesystem::exists(cache));
    key = (*engine)->model_info().latency_key;
    EXPECT_EQ((*engine)->model_info().latency_tables.size(), 3u);
  }
  // Mark the cached numbers: an engine that reads the cache plans with them.
  auto cached = ReadLatencyCache(cache, key, TinyModelSpec());
  ASSERT_TRUE(cached.ok()) << cached.status();
  for (auto& table : cached->tables) table.encoder_ms[0] = 123.0;
  ASSERT_TRUE(WriteLatencyCache(cache, key, *cached, TinyModelSpec(), 0).ok());
  {
    auto engine = Engine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    EXPECT_EQ((*engine)->model_info().latency_tables[0].encoder_ms[0], 123.0);
  }
  // Another key (batch sizes differ): measured again and rewritten.
  options.latency.batch_sizes = {1, 3};
  {
    auto engine = Engine::Create(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    const ModelInfo& info = (*engine)->model_info();
    EXPECT_LT(info.latency_tables[0].encoder_ms[0], 123.0);
    EXPECT_TRUE(ReadLatencyCache(cache, info.latency_key, TinyModelSpec()).ok());
  }
  options.latency.batch_sizes = {2, 4};
  EXPECT_NE(Engine::Create(options).status().message().find(
                "Engine::Options.latency.batch_sizes"),
            std::string::npos);
}

}  // namespace
}  // namespace slimserve
