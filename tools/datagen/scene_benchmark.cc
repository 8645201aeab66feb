// Time to generate and render one sample, single-threaded.
//   bazel run -c opt //tools/datagen:scene_benchmark

#include <cstdint>

#include "benchmark/benchmark.h"
#include "tools/datagen/scene.h"

namespace slimserve {
namespace datagen {
namespace {

// Args: height, width.
void BM_RenderSample(benchmark::State& state) {
  SceneOptions options;
  options.height = static_cast<int>(state.range(0));
  options.width = static_cast<int>(state.range(1));
  uint64_t index = 0;
  for (auto _ : state) {
    Sample s = RenderSample(options, /*seed=*/1, index++);
    benchmark::DoNotOptimize(s.rgb.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RenderSample)
    ->Args({96, 128})
    ->Args({240, 320})
    ->Args({480, 640})
    ->Unit(benchmark::kMillisecond);

// The same, reusing one Sample's memory, as a training loop would.
void BM_RenderSampleReused(benchmark::State& state) {
  SceneOptions options;
  options.height = static_cast<int>(state.range(0));
  options.width = static_cast<int>(state.range(1));
  uint64_t index = 0;
  Sample s;
  for (auto _ : state) {
    RenderSample(options, /*seed=*/1, index++, &s);
    benchmark::DoNotOptimize(s.rgb.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RenderSampleReused)
    ->Args({96, 128})
    ->Args({480, 640})
    ->Unit(benchmark::kMillisecond);

void BM_GenerateScene(benchmark::State& state) {
  SceneOptions options;
  uint64_t index = 0;
  for (auto _ : state) {
    GeneratedScene g = GenerateScene(options, /*seed=*/1, index++);
    benchmark::DoNotOptimize(g.scene.objects.data());
  }
}
BENCHMARK(BM_GenerateScene)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace datagen
}  // namespace slimserve

BENCHMARK_MAIN();
