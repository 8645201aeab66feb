// The executor's network on a CUDA device against the supernet on the CPU:
// every configuration, every variant the GPU serves, alone and in mixed
// batches. Needs a CUDA LibTorch and a GPU: a GPU test (tests/gpu.bzl) that
// tools/device/gpu_check.sh runs on the GPU machine (on a machine without
// one every test fails, saying so).
//
// Stated tolerances (relative to the output's range / mean magnitude):
//   float32: largest 5e-3, mean 1e-3. cuDNN may use TF32 tensor cores for
//            float32 convolutions (LibTorch's default), 10 mantissa bits.
//   float16: largest 0.5, mean 0.01.  bfloat16: largest 0.5, mean 0.03.
//   (The largest error is loose because normalising a near-zero normal
//   vector turns a small error into a large angle.)

#include <string>
#include <vector>

#include <torch/cuda.h>

#include "absl/strings/str_cat.h"
#include "engine/runtime/executor.h"
#include "engine/runtime/inference_net.h"
#include "engine/runtime/inference_net_testing.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

struct GpuVariant {
  InferenceOptions::Weights weights;
  torch::ScalarType dtype;
  bool channels_last;
  double tolerance, mean_tolerance;
};

class InferenceNetGpuTest : public ::testing::TestWithParam<GpuVariant> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(torch::cuda::is_available())
        << "no CUDA device visible to this LibTorch";
  }
  absl::StatusOr<std::unique_ptr<InferenceNet>> MakeNet(uint64_t seed) {
    Supernet net = RandomEvalNet(seed);
    net->to(torch::Device("cuda"));
    InferenceOptions o;
    o.weights = GetParam().weights;
    o.dtype = GetParam().dtype;
    o.channels_last = GetParam().channels_last;
    return InferenceNet::Create(net, o);
  }
};

TEST_P(InferenceNetGpuTest, EveryConfigurationMatchesTheCpuSupernet) {
  c10::InferenceMode guard;
  Supernet reference = RandomEvalNet(21);
  auto net = MakeNet(21);
  ASSERT_TRUE(net.ok()) << net.status();
  ASSERT_TRUE((*net)->device().is_cuda());
  const auto& spec = reference->spec();
  torch::manual_seed(4);
  const torch::Tensor x =
      torch::randn({3, 3, spec.input().height(), spec.input().width()});
  // Decode's outputs stay on the GPU (checked); compared on the CPU.
  ExpectEveryConfigurationMatches(**net, reference, x, GetParam().tolerance,
                                  GetParam().mean_tolerance);
}

TEST_P(InferenceNetGpuTest, MixedBatchOnTheGpuEqualsCpuRowByRow) {
  c10::InferenceMode guard;
  Supernet reference = RandomEvalNet(5);
  auto net = MakeNet(5);
  ASSERT_TRUE(net.ok()) << net.status();
  const auto& spec = reference->spec();
  torch::manual_seed(5);
  const std::vector<ArchPlan> plans = MixedPlans(spec, 8);
  std::vector<ExecutorItem> items(plans.size());
  std::vector<ExecutorItem*> ptrs;
  for (size_t i = 0; i < plans.size(); ++i) {
    items[i].input =
        torch::randn({3, spec.input().height(), spec.input().width()});
    SetWidths(plans[i], &items[i]);
    ptrs.push_back(&items[i]);
  }
  RunBatch(**net, ptrs);
  for (size_t i = 0; i < plans.size(); ++i) {
    for (size_t k = 0; k < plans[i].tasks.size(); ++k) {
      const TaskPlan& tp = plans[i].tasks[k];
      ASSERT_TRUE(items[i].outputs[k].device().is_cpu());
      const torch::Tensor want =
          ReferenceOutput(reference, items[i].input.unsqueeze(0), tp.task,
                          plans[i].encoder_width_index,
                          tp.decoder_width_index)[0];
      // The executor serves head outputs; finished as post-processing
      // would, they match the supernet's output.
      const torch::Tensor got =
          (*net)->FinishOutput(tp.task, items[i].outputs[k].unsqueeze(0))[0];
      EXPECT_LE(MeanRelativeError(got, want), GetParam().mean_tolerance)
          << "row " << i << " task " << tp.task;
    }
  }
}

constexpr auto kSliced = InferenceOptions::Weights::kSliced;
constexpr auto kFolded = InferenceOptions::Weights::kFolded;
INSTANTIATE_TEST_SUITE_P(
    Variants, InferenceNetGpuTest,
    ::testing::Values(GpuVariant{kSliced, torch::kFloat, false, 5e-3, 1e-3},
                      GpuVariant{kFolded, torch::kFloat, false, 5e-3, 1e-3},
                      GpuVariant{kFolded, torch::kFloat, true, 5e-3, 1e-3},
                      GpuVariant{kFolded, torch::kHalf, true, 0.5, 0.01},
                      GpuVariant{kFolded, torch::kBFloat16, true, 0.5, 0.03}),
    [](const ::testing::TestParamInfo<GpuVariant>& info) {
      const GpuVariant& v = info.param;
      return absl::StrCat(v.weights == kFolded ? "folded" : "sliced", "_",
                          v.dtype == torch::kHalf       ? "f16"
                          : v.dtype == torch::kBFloat16 ? "bf16"
                                                        : "f32",
                          "_", v.channels_last ? "nhwc" : "nchw");
    });

}  // namespace
}  // namespace slimserve
