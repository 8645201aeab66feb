// The CUDA executor (streams, pinned staging, CUDA graphs) against the plain
// executor on the same CUDA network: graphs replay what eager runs, padded
// batches give each row what it gets alone, the LRU bound evicts and
// recaptures, and concurrent batches on several lanes stay separate. Needs a
// GPU and a CUDA LibTorch (tests/gpu.bzl).
//
// Tolerance: the same kernels run in a graph as eagerly, so outputs agree to
// float32 rounding (cuDNN may pick other algorithms for a padded batch size:
// 1e-4 relative, float32).

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <torch/cuda.h>

#include "engine/model/latency_table.h"
#include "engine/runtime/cuda_executor.h"
#include "engine/runtime/executor.h"
#include "engine/runtime/inference_net.h"
#include "engine/runtime/inference_net_testing.h"
#include "engine/stages/postprocess.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

constexpr double kTolerance = 1e-4;

class CudaExecutorGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(torch::cuda::is_available())
        << "no CUDA device visible to this LibTorch";
    Supernet net = RandomEvalNet(9);
    net->to(torch::Device("cuda"));
    auto created = InferenceNet::Create(net, InferenceOptions{});
    ASSERT_TRUE(created.ok()) << created.status();
    net_ = *std::move(created);
  }

  // `n` rows of mixed plans with fresh inputs (seeded).
  std::vector<ExecutorItem> Items(int n, uint64_t seed) {
    torch::manual_seed(seed);
    const auto& spec = net_->spec();
    const std::vector<ArchPlan> plans = MixedPlans(spec, n);
    std::vector<ExecutorItem> items(n);
    for (int i = 0; i < n; ++i) {
      items[i].input =
          torch::randn({3, spec.input().height(), spec.input().width()});
      SetWidths(plans[i], &items[i]);
    }
    return items;
  }

  static std::vector<ExecutorItem*> Ptrs(std::vector<ExecutorItem>& items) {
    std::vector<ExecutorItem*> p;
    for (auto& i : items) p.push_back(&i);
    return p;
  }

  // Every output of `got` against `want`, row by row.
  static void ExpectSame(const std::vector<ExecutorItem>& got,
                         const std::vector<ExecutorItem>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].outputs.size(), want[i].outputs.size());
      for (size_t k = 0; k < got[i].outputs.size(); ++k) {
        ASSERT_TRUE(got[i].outputs[k].device().is_cpu());
        EXPECT_LE(RelativeError(got[i].outputs[k], want[i].outputs[k]),
                  kTolerance)
            << "row " << i << " output " << k;
      }
    }
  }

  std::unique_ptr<InferenceNet> net_;
};

TEST_F(CudaExecutorGpuTest, GraphsReplayWhatEagerComputes) {
  c10::InferenceMode guard;
  auto executor = CudaExecutor::Create(*net_, CudaExecutorOptions{});
  ASSERT_TRUE(executor.ok()) << executor.status();
  for (int n : {1, 3, 8}) {
    std::vector<ExecutorItem> eager = Items(n, 100 + n), graphed = eager;
    RunBatch(*net_, Ptrs(eager));
    // Twice: the first captures, the second replays with new inputs.
    (*executor)->Run(Ptrs(graphed));
    ExpectSame(graphed, eager);
    std::vector<ExecutorItem> again = Items(n, 200 + n), again_eager = again;
    RunBatch(*net_, Ptrs(again_eager));
    (*executor)->Run(Ptrs(again));
    ExpectSame(again, again_eager);
  }
  const CudaExecutorStats st = (*executor)->stats();
  EXPECT_GT(st.captures, 0);
  EXPECT_GT(st.replays, st.captures);  // the second batches replayed
  EXPECT_GT(st.padded_rows, 0);        // 3 rows ran as 4
  EXPECT_EQ(st.eager_passes, 0);
}

TEST_F(CudaExecutorGpuTest, EagerModeUsesNoGraphs) {
  c10::InferenceMode guard;
  CudaExecutorOptions o;
  o.use_graphs = false;
  auto executor = CudaExecutor::Create(*net_, o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  std::vector<ExecutorItem> eager = Items(5, 7), lanes = eager;
  RunBatch(*net_, Ptrs(eager));
  (*executor)->Run(Ptrs(lanes));
  ExpectSame(lanes, eager);
  EXPECT_EQ((*executor)->stats().captures, 0);
  EXPECT_EQ((*executor)->stats().padded_rows, 0);
  EXPECT_GT((*executor)->stats().eager_passes, 0);
}

// The latency table times the passes Run replays: every entry measured
// (finite, > 0), through captured graphs (one per encoder width and per
// decoder, at the padded batch size), and a served batch afterwards still
// gets the right outputs from the lane those graphs were captured on.
TEST_F(CudaExecutorGpuTest, LatencyIsMeasuredOnTheReplayedGraphs) {
  const auto& spec = net_->spec();
  for (bool graphs : {true, false}) {
    CudaExecutorOptions o;
    o.use_graphs = graphs;
    o.max_graphs = 4;  // fewer than the table's passes: evicts as it goes
    auto executor = CudaExecutor::Create(*net_, o);
    ASSERT_TRUE(executor.ok()) << executor.status();
    const LatencyTable table = (*executor)->MeasureLatency(3, 2);
    EXPECT_TRUE(ValidateLatencyTable(table, spec).ok());
    EXPECT_EQ(table.batch_size, 3);
    ASSERT_EQ(static_cast<int>(table.encoder_ms.size()), spec.encoder_widths_size());
    for (double ms : table.encoder_ms) EXPECT_GT(ms, 0);
    for (const auto& per_we : table.decoder_ms) {
      ASSERT_EQ(static_cast<int>(per_we.size()), spec.encoder_widths_size());
      for (const auto& row : per_we) {
        ASSERT_EQ(static_cast<int>(row.size()), spec.decoder_widths_size());
        for (double ms : row) EXPECT_GT(ms, 0);
      }
    }
    const int passes = spec.encoder_widths_size() *
                       (1 + spec.tasks_size() * spec.decoder_widths_size());
    const CudaExecutorStats st = (*executor)->stats();
    if (graphs) {
      EXPECT_EQ(st.captures, passes);
      EXPECT_EQ(st.replays, passes * 3);  // warm-up + 2 timed, each
      EXPECT_EQ(st.evictions, passes - o.max_graphs);
      EXPECT_EQ(st.eager_passes, 0);
    } else {
      EXPECT_EQ(st.captures, 0);
      EXPECT_EQ(st.eager_passes, passes * 3);
    }
    c10::InferenceMode guard;
    std::vector<ExecutorItem> eager = Items(3, 31), served = eager;
    RunBatch(*net_, Ptrs(eager));
    (*executor)->Run(Ptrs(served));
    ExpectSame(served, eager);
  }
}

TEST_F(CudaExecutorGpuTest, TheLruBoundEvictsAndRecaptures) {
  c10::InferenceMode guard;
  CudaExecutorOptions o;
  o.max_graphs = 2;  // fewer than one mixed batch needs
  auto executor = CudaExecutor::Create(*net_, o);
  ASSERT_TRUE(executor.ok()) << executor.status();
  for (int round = 0; round < 2; ++round) {
    std::vector<ExecutorItem> eager = Items(6, 50 + round), graphed = eager;
    RunBatch(*net_, Ptrs(eager));
    (*executor)->Run(Ptrs(graphed));
    ExpectSame(graphed, eager);
  }
  EXPECT_GT((*executor)->stats().evictions, 0);
}

TEST_F(CudaExecutorGpuTest, ConcurrentBatchesRunOnLanesOfTheirOwn) {
  c10::InferenceMode guard;
  auto executor = CudaExecutor::Create(*net_, CudaExecutorOptions{});
  ASSERT_TRUE(executor.ok()) << executor.status();
  constexpr int kThreads = 4;
  std::vector<std::vector<ExecutorItem>> want(kThreads), got(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    want[t] = Items(2 + t, 300 + t);
    got[t] = want[t];
    RunBatch(*net_, Ptrs(want[t]));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      c10::InferenceMode thread_guard;
      for (int i = 0; i < 3; ++i) (*executor)->Run(Ptrs(got[t]));
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) ExpectSame(got[t], want[t]);
  EXPECT_GE((*executor)->stats().lanes, 1);
  EXPECT_LE((*executor)->stats().lanes, kThreads);
}

TEST_F(CudaExecutorGpuTest, ImagesPreprocessedOnTheGpuMatchHostInputs) {
  // The GPU kernel computes ResizeNormalizeCpu's arithmetic bit for bit
  // (kernels/cuda_kernels_test), so rows given as images equal rows given
  // the host's inputs, within the network's own tolerance.
  c10::InferenceMode guard;
  auto executor = CudaExecutor::Create(*net_, CudaExecutorOptions{});
  ASSERT_TRUE(executor.ok()) << executor.status();
  const auto& in = net_->spec().input();
  const float mean[3] = {in.mean(0), in.mean(1), in.mean(2)};
  const float std[3] = {in.std(0), in.std(1), in.std(2)};
  struct Size { int h, w, c; };
  const int h = static_cast<int>(in.height()), w = static_cast<int>(in.width());
  const Size sizes[] = {{40, 60, 3}, {h, w, 1}, {50, 70, 4}};
  std::vector<std::vector<uint8_t>> pixels;
  std::vector<ExecutorItem> host = Items(3, 77), images = host;
  for (int i = 0; i < 3; ++i) {
    const Size& z = sizes[i];
    std::vector<uint8_t> px(size_t(z.h) * z.w * z.c);
    for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<uint8_t>(k * 31 + i);
    pixels.push_back(std::move(px));
    torch::Tensor input = torch::empty({3, in.height(), in.width()});
    ResizeNormalizeCpu(pixels[i].data(), z.h, z.w, z.c, in.height(), in.width(),
                       mean, std, input.data_ptr<float>());
    host[i].input = input;
    images[i].input = torch::Tensor();
    images[i].image = SourceImage{pixels[i].data(), z.h, z.w, z.c};
  }
  (*executor)->Run(Ptrs(host));
  (*executor)->Run(Ptrs(images));
  ExpectSame(images, host);
}

TEST_F(CudaExecutorGpuTest, OutputsFinishedOnTheGpuMatchHostPostprocessing) {
  // Rows asking for finished outputs (each task RAW or PNG, at the model's
  // size or another) get FinishSamples' bytes of their own head outputs.
  // The resize and quantisation kernels are bit-identical to the host's;
  // the RAW activations are ATen's (float rounding), and a head value that
  // sits on a quantisation boundary may land one level away: at most one
  // level anywhere, and exact on >= 99.9% of the samples.
  c10::InferenceMode guard;
  auto executor = CudaExecutor::Create(*net_, CudaExecutorOptions{});
  ASSERT_TRUE(executor.ok()) << executor.status();
  const auto& spec = net_->spec();
  const int sizes[][2] = {{static_cast<int>(spec.input().height()),
                           static_cast<int>(spec.input().width())},
                          {50, 70},
                          {13, 9}};
  std::vector<ExecutorItem> heads = Items(6, 91), finished = heads;
  for (size_t i = 0; i < finished.size(); ++i) {
    for (size_t k = 0; k < finished[i].tasks.size(); ++k) {
      const int* size = sizes[(i + k) % 3];
      finished[i].finish.push_back(FinishSpec{(i + k) % 2 == 0, size[0], size[1]});
    }
  }
  (*executor)->Run(Ptrs(heads));
  (*executor)->Run(Ptrs(finished));
  for (size_t i = 0; i < finished.size(); ++i) {
    for (size_t k = 0; k < finished[i].tasks.size(); ++k) {
      const FinishSpec& f = finished[i].finish[k];
      const auto& task = spec.tasks(finished[i].tasks[k]);
      const OutputFormat format = f.png ? OutputFormat::kPng : OutputFormat::kRaw;
      const torch::Tensor head = heads[i].outputs[k].contiguous();
      const torch::Tensor& got = finished[i].outputs[k];
      SCOPED_TRACE(task.name() + (f.png ? " png " : " raw ") +
                   std::to_string(f.height) + "x" + std::to_string(f.width));
      ASSERT_TRUE(got.device().is_cpu());
      const int64_t bytes = FinishedBytes(task, format, f.height, f.width);
      ASSERT_EQ(static_cast<int64_t>(got.nbytes()), bytes);
      std::vector<char> want(bytes);
      ASSERT_TRUE(FinishSamples(task, format, head.data_ptr<float>(),
                                head.size(0), head.size(1), head.size(2),
                                f.height, f.width, want.data())
                      .ok());
      if (!f.png) {
        const torch::Tensor expected =
            torch::from_blob(want.data(), {bytes / 4}, torch::kFloat);
        EXPECT_LE(RelativeError(got.reshape({-1}), expected),
                  kTolerance);
        continue;
      }
      const bool depth = task.kind() == slimserve::v1::TASK_KIND_DEPTH;
      const int64_t count = depth ? bytes / 2 : bytes;
      int64_t differing = 0;
      for (int64_t s = 0; s < count; ++s) {
        const int a = depth ? reinterpret_cast<const uint16_t*>(got.data_ptr())[s]
                            : static_cast<const uint8_t*>(got.data_ptr())[s];
        const int b = depth ? reinterpret_cast<const uint16_t*>(want.data())[s]
                            : static_cast<uint8_t>(want[s]);
        differing += a != b;
        // Class ids are labels, not levels: a flip is any other id.
        if (task.kind() != slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION) {
          ASSERT_LE(std::abs(a - b), 1) << "sample " << s;
        }
      }
      EXPECT_LE(differing, count / 1000) << differing << " of " << count;
    }
  }
}

TEST(CudaExecutorCreateTest, RefusesACpuNetworkAndBadOptions) {
  Supernet net = RandomEvalNet(1);
  auto cpu = InferenceNet::Create(net, InferenceOptions{});
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(CudaExecutor::Create(**cpu, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(torch::cuda::is_available());
  Supernet on_gpu = RandomEvalNet(1);
  on_gpu->to(torch::Device("cuda"));
  auto gpu = InferenceNet::Create(on_gpu, InferenceOptions{});
  ASSERT_TRUE(gpu.ok());
  CudaExecutorOptions o;
  o.max_graphs = 0;
  EXPECT_EQ(CudaExecutor::Create(**gpu, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = {};
  o.graph_batch_sizes = {4, 2};
  EXPECT_EQ(CudaExecutor::Create(**gpu, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = {};
  o.max_padding = 1.0;
  EXPECT_EQ(CudaExecutor::Create(**gpu, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace slimserve
