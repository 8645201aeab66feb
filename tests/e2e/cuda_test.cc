// The server end to end on CUDA: real gRPC over loopback against an engine
// whose network runs on the GPU through the CUDA executor (graphs, pinned
// staging, streams), compared with the same server on the CPU. Needs a GPU
// and a CUDA LibTorch (tests/gpu.bzl; tools/device/gpu_check.sh runs it).
//
// Tolerances: RAW outputs within 5e-3 of the CPU's relative to their range
// (cuDNN may run float32 convolutions on TF32 tensor cores); PNG class ids
// equal on >= 99% of pixels (an argmax flips where two logits tie within
// that error).

#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "image/codec.h"
#include "tests/e2e/test_util.h"

namespace slimserve {
namespace {

std::vector<float> Floats(const v1::Tensor& tensor) {
  std::vector<float> values(tensor.data().size() / sizeof(float));
  std::memcpy(values.data(), tensor.data().data(), values.size() * sizeof(float));
  return values;
}

class CudaServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cpu = TestServer::Start();
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    NetworkOptions gpu;
    gpu.device = *ParseDevice("cuda");
    auto cuda = TestServer::Start(gpu);
    ASSERT_TRUE(cuda.ok()) << cuda.status();
    cpu_ = cpu->release();
    cuda_ = cuda->release();
  }
  static void TearDownTestSuite() {
    delete cuda_;
    delete cpu_;
  }
  static TestServer* cpu_;
  static TestServer* cuda_;
};
TestServer* CudaServerTest::cpu_ = nullptr;
TestServer* CudaServerTest::cuda_ = nullptr;

TEST_F(CudaServerTest, RawOutputsMatchTheCpuServerAtEveryBudget) {
  for (double budget : {0.25, 0.5, 1.0}) {
    SCOPED_TRACE(absl::StrCat("budget ", budget));
    const v1::InferRequest request = PngInferRequest(budget, v1::OUTPUT_FORMAT_RAW);
    auto want = cpu_->client().Infer(request);
    auto got = cuda_->client().Infer(request);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->plan().DebugString(), want->plan().DebugString());
    ASSERT_EQ(got->outputs_size(), want->outputs_size());
    for (int i = 0; i < got->outputs_size(); ++i) {
      SCOPED_TRACE(want->outputs(i).task());
      const std::vector<float> a = Floats(got->outputs(i).tensor());
      const std::vector<float> b = Floats(want->outputs(i).tensor());
      ASSERT_EQ(a.size(), b.size());
      float lo = b[0], hi = b[0], worst = 0;
      for (float v : b) lo = std::min(lo, v), hi = std::max(hi, v);
      for (size_t k = 0; k < a.size(); ++k) {
        ASSERT_TRUE(std::isfinite(a[k]));
        worst = std::max(worst, std::abs(a[k] - b[k]));
      }
      EXPECT_LE(worst, 5e-3 * std::max(1e-6f, hi - lo));
    }
  }
}

TEST_F(CudaServerTest, PngSegmentationAgreesWithTheCpuServer) {
  const v1::InferRequest request = PngInferRequest(0.5, v1::OUTPUT_FORMAT_PNG);
  auto want = cpu_->client().Infer(request);
  auto got = cuda_->client().Infer(request);
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(want->outputs(0).task(), "semseg");
  auto a = DecodePngRaw(got->outputs(0).png());
  auto b = DecodePngRaw(want->outputs(0).png());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->samples.size(), b->samples.size());
  size_t same = 0;
  for (size_t k = 0; k < a->samples.size(); ++k) {
    same += a->samples[k] == b->samples[k];
  }
  EXPECT_GE(same, 0.99 * a->samples.size());
}

TEST_F(CudaServerTest, ConcurrentCallsOfMixedBudgetsAllSucceed) {
  std::vector<std::thread> threads;
  std::vector<int> ok(16, 0);
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        const double budget = (t + i) % 2 ? 0.25 : 1.0;
        ok[t] += cuda_->client().Infer(PngInferRequest(budget)).ok();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 16; ++t) EXPECT_EQ(ok[t], 4) << "thread " << t;
}

}  // namespace
}  // namespace slimserve
