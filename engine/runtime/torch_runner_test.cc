#include "engine/runtime/torch_runner.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "engine/model/spec.h"
#include "engine/runtime/random_model.h"
#include "engine/runtime/torch_status.h"
#include "engine/runtime/xnnpack_conv.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

std::string PackageDir() {
  static const std::string* dir = [] {
    auto* d = new std::string(
        (std::filesystem::path(testing::TempDir()) / "tiny").string());
    if (!WriteRandomModelPackage(TinyModelSpec(), 3, *d).ok()) std::abort();
    return d;
  }();
  return *dir;
}

absl::StatusOr<std::unique_ptr<ModelRunner>> Runner(
    NetworkOptions options = {}) {
  options.num_threads = 1;
  const v1::ModelSpec spec = TinyModelSpec();
  return CreateTorchRunner(spec, WeightsPath(PackageDir(), spec), options);
}

TEST(CatchTorchTest, ExceptionsBecomeInternalWithTheirFirstLine) {
  const absl::Status st = CatchTorch("reshaping", [] {
    torch::ones({2}).view({3});  // throws c10::Error, with a stack trace
    return absl::OkStatus();
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(st.message().rfind("reshaping: ", 0), 0u) << st;
  EXPECT_EQ(st.message().find('\n'), std::string::npos) << st;
  const absl::StatusOr<int> value =
      CatchTorch("x", []() -> absl::StatusOr<int> { return 7; });
  EXPECT_EQ(*value, 7);
  const absl::StatusOr<int> thrown = CatchTorch(
      "y", []() -> absl::StatusOr<int> { throw std::bad_alloc(); });
  EXPECT_EQ(thrown.status().code(), absl::StatusCode::kInternal);
}

TEST(TorchRunnerTest, RunsMixedBatchesAsEachRowAlone) {
  auto runner = Runner();
  ASSERT_TRUE(runner.ok()) << runner.status();
  const v1::ModelSpec spec = TinyModelSpec();
  const int64_t n = 3 * 32 * 48;
  std::vector<std::vector<float>> inputs(3, std::vector<float>(n));
  for (size_t r = 0; r < inputs.size(); ++r) {
    for (int64_t i = 0; i < n; ++i) inputs[r][i] = std::sin(0.01f * i + r);
  }
  std::vector<RunRow> batch(3), alone(3);
  const int widths[][3] = {{3, 0, 3}, {1, 2, 0}, {3, 1, 1}};  // we, wd0, wd1
  for (int r = 0; r < 3; ++r) {
    for (RunRow* row : {&batch[r], &alone[r]}) {
      row->input = inputs[r].data();
      row->encoder_width = widths[r][0];
      row->tasks = {0, 2};
      row->decoder_widths = {widths[r][1], widths[r][2]};
    }
  }
  ASSERT_TRUE((*runner)->Run({&batch[0], &batch[1], &batch[2]}).ok());
  for (int r = 0; r < 3; ++r) {
    ASSERT_TRUE((*runner)->Run({&alone[r]}).ok());
    ASSERT_EQ(batch[r].outputs.size(), 2u);
    for (int k = 0; k < 2; ++k) {
      const OutputTensor& a = batch[r].outputs[k];
      const OutputTensor& b = alone[r].outputs[k];
      EXPECT_EQ(a.channels, TaskOutputChannels(spec.tasks(k == 0 ? 0 : 2)));
      ASSERT_EQ(a.numel(), b.numel());
      // Head outputs: below the 32 x 48 input, upsampled in post-processing.
      EXPECT_EQ(a.height, b.height);
      EXPECT_EQ(a.width, b.width);
      EXPECT_LT(a.height, 32);
      EXPECT_EQ(a.height * 48, a.width * 32);
      double worst = 0;
      for (int64_t i = 0; i < a.numel(); ++i) {
        worst = std::max<double>(worst, std::fabs(a.data[i] - b.data[i]));
      }
      EXPECT_LE(worst, 1e-4) << "row " << r << " slot " << k;
    }
    EXPECT_EQ(batch[r].outputs[1].channels, 3);  // normals
  }
}

TEST(TorchRunnerTest, MeasuresAndDescribesItself) {
  auto runner = Runner();
  ASSERT_TRUE(runner.ok()) << runner.status();
  EXPECT_TRUE((*runner)->Warmup().ok());
  absl::StatusOr<LatencyTable> table = (*runner)->MeasureLatency(2, 1);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->batch_size, 2);
  EXPECT_TRUE(ValidateLatencyTable(*table, TinyModelSpec()).ok());
  // Fused by default: every task's decoder at each width as one pass too.
  ASSERT_EQ(table->fused_decoder_ms.size(), 4u);
  EXPECT_GT(table->fused_decoder_ms[3][3], 0);
  NetworkOptions apart;
  apart.fuse_decoders = false;
  auto unfused = Runner(apart);
  ASSERT_TRUE(unfused.ok()) << unfused.status();
  table = (*unfused)->MeasureLatency(1, 1);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE(table->fused_decoder_ms.empty());
  // Small convolutions on XNNPACK where this LibTorch has it (Debian's does).
  EXPECT_EQ((*runner)->Describe(),
            XnnpackConv::Available()
                ? "folded/float32/channels_last/xnnpack<=2000000/fused"
                : "folded/float32/channels_last/fused");
  EXPECT_NE((*runner)->DeviceKey().find("threads=1"), std::string::npos)
      << (*runner)->DeviceKey();
  EXPECT_GT((*runner)->weight_bytes(), 0);
}

TEST(TorchRunnerTest, CreateErrorsNameTheProblem) {
  const v1::ModelSpec spec = TinyModelSpec();
  NetworkOptions options;
  absl::Status st =
      CreateTorchRunner(spec, "/nonexistent/weights.pt", options).status();
  EXPECT_NE(st.code(), absl::StatusCode::kOk);
  EXPECT_NE(st.message().find("/nonexistent/weights.pt"), std::string::npos)
      << st;
  options.weights = WeightsForm::kSliced;
  options.precision = Precision::kBFloat16;
  st = Runner(options).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("Engine::Options.network"), std::string::npos)
      << st;
  options = {};
  options.device = *ParseDevice("cuda");
  st = Runner(options).status();
  if (torch::cuda::is_available()) {
    EXPECT_TRUE(st.ok()) << st;
  } else {
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  }
  options = {};
  options.num_threads = -1;
  EXPECT_EQ(CreateTorchRunner(spec, WeightsPath(PackageDir(), spec), options)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  options = {};
  options.max_cuda_graphs = 0;  // checked on every device
  st = CreateTorchRunner(spec, WeightsPath(PackageDir(), spec), options).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("max_cuda_graphs"), std::string::npos) << st;
}

}  // namespace
}  // namespace slimserve
