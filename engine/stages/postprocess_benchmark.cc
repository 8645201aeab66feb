// Post-processing per task kind and format at the default model's sizes:
// a head output (24 x 32, the finest encoder stage) finished to 96 x 128,
// and to a 480 x 640 caller's image, PNGs at the serving default's levels.
//
//   bazel run -c opt //engine/stages:postprocess_benchmark

#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "engine/model/spec.h"
#include "engine/stages/postprocess.h"
#include "image/codec.h"
#include "kernels/postprocess.h"

namespace slimserve {
namespace {

void BM_Finish(benchmark::State& state) {
  const v1::ModelSpec spec = DefaultModelSpec();
  const int task = static_cast<int>(state.range(0));
  const OutputFormat format =
      state.range(1) == 0 ? OutputFormat::kRaw : OutputFormat::kPng;
  const int out_h = static_cast<int>(state.range(2));
  const int out_w = out_h * 4 / 3;
  const int channels = TaskOutputChannels(spec.tasks(task));
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, 2.0f);
  std::vector<float> head(channels * 24 * 32);
  for (float& v : head) v = noise(rng);
  for (auto _ : state) {
    benchmark::DoNotOptimize(FinishOutput(
        spec.tasks(task), format, head.data(), channels, 24, 32, out_h, out_w,
        PngLevelFor(spec.tasks(task).kind(), -1)));
  }
  state.SetLabel(spec.tasks(task).name() +
                 (format == OutputFormat::kRaw ? " raw" : " png"));
}
BENCHMARK(BM_Finish)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 1}, {96, 480}})
    ->Unit(benchmark::kMicrosecond);

// The resize alone: 8 planes of 24 x 32 to 96 x 128.
void BM_Resize(benchmark::State& state) {
  std::vector<float> src(8 * 24 * 32, 1.5f), dst(8 * 96 * 128);
  for (auto _ : state) {
    ResizeBilinearBatchCpu(src.data(), ScalarType::kFloat32, 1, 8, 24, 32, 96,
                           128, dst.data());
    benchmark::DoNotOptimize(dst.data());
  }
}
BENCHMARK(BM_Resize)->Unit(benchmark::kMicrosecond);

// The PNG encoding alone, per sample kind, at 96 x 128, of smooth maps
// with a little noise (what the network's outputs look like; noise alone is
// the worst case for deflate).
void BM_EncodePng(benchmark::State& state) {
  const int channels = static_cast<int>(state.range(0));
  const int depth = static_cast<int>(state.range(1));
  std::mt19937 rng(2);
  std::vector<uint16_t> samples(96 * 128 * channels);
  std::vector<uint8_t> bytes(samples.size());
  for (int y = 0; y < 96; ++y) {
    for (int x = 0; x < 128; ++x) {
      for (int c = 0; c < channels; ++c) {
        const size_t i = (y * 128 + x) * channels + c;
        samples[i] = static_cast<uint16_t>(2000 + 9 * x + 13 * y + rng() % 8);
        bytes[i] = static_cast<uint8_t>(
            channels == 3 ? 100 + x / 2 + c * 20 + rng() % 3 : (x / 20 + y / 30));
      }
    }
  }
  std::string png;
  for (auto _ : state) {
    png = *EncodePng(
        depth == 16 ? static_cast<const void*>(samples.data()) : bytes.data(),
        96, 128, channels, depth);
    benchmark::DoNotOptimize(png.data());
  }
  state.counters["bytes"] = static_cast<double>(png.size());
}
BENCHMARK(BM_EncodePng)->Args({1, 8})->Args({1, 16})->Args({3, 8})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace slimserve

BENCHMARK_MAIN();
