// The executor's network in each of its forms: weights sliced per call or
// folded per configuration, NCHW or channels-last, float32 or bfloat16. One
// iteration = PrepareInput + Encode + DecodeHeads of every task at a uniform
// configuration (encoder width = every decoder width), as RunBatch runs it.
//
// SLIMSERVE_BENCH_PROFILE=DIR writes a LibTorch profiler trace per
// benchmark (see BM_Network).
//
//   bazel run -c opt //engine/runtime:inference_benchmark -- \
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Environment: SLIMSERVE_BENCH_MODEL_DIR (default models/default, resolved
// against BUILD_WORKSPACE_DIRECTORY under `bazel run`), SLIMSERVE_BENCH_THREADS
// (LibTorch threads, default all cores), SLIMSERVE_BENCH_DEVICE (cpu),
// SLIMSERVE_BENCH_PEAK_TFLOPS (the device's peak: adds an of_peak counter,
// achieved / peak; TFLOPS is always reported, from the cost model's MACs).
// Benchmark names: BM_Network/<variant>/<batch>/<width index> (batch 1 and 8,
// and 32 on CUDA; width index 0, 1 and 3 = 0.25, 0.5 and 1.0), where variant
// 0 sliced/float32/nchw (the path before folding), 1 sliced/float32/
// channels_last, 2 folded/float32/nchw, 3 folded/float32/channels_last,
// 4 folded/bfloat16/channels_last, 5 folded/float16/channels_last (only
// when the device is CUDA), 6 variant 3 with fuse_decoders off (each task's
// decoder apart; the folded variants fuse by default).
// Inputs are random images (not zeros: a constant input makes activations
// constant and can take other kernel paths).

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <torch/cuda.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "benchmark/benchmark.h"
#include "engine/model/cost_model.h"
#include "engine/model/spec.h"
#include "engine/runtime/inference_net.h"

namespace slimserve {
namespace {

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

std::string ModelDir() {
  std::filesystem::path dir = Env("SLIMSERVE_BENCH_MODEL_DIR", "models/default");
  const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  if (dir.is_relative() && ws != nullptr) dir = std::filesystem::path(ws) / dir;
  return dir.string();
}

InferenceOptions Variant(int v) {
  InferenceOptions o;
  o.weights = v <= 1 ? InferenceOptions::Weights::kSliced
                     : InferenceOptions::Weights::kFolded;
  o.channels_last = v == 1 || v >= 3;
  o.dtype = v == 4 ? torch::kBFloat16 : v == 5 ? torch::kHalf : torch::kFloat;
  o.fuse_decoders = v != 6;
  return o;
}

// One network per variant, built on first use and kept for the process.
const InferenceNet* Network(int variant, std::string* error) {
  static auto* nets = new std::map<int, std::unique_ptr<InferenceNet>>();
  auto it = nets->find(variant);
  if (it != nets->end()) return it->second.get();
  const std::string dir = ModelDir();
  auto spec = LoadModelSpec(dir);
  if (!spec.ok()) {
    *error = std::string(spec.status().message());
    return nullptr;
  }
  Supernet net(*spec);
  if (auto st = LoadSupernet(net, WeightsPath(dir, *spec)); !st.ok()) {
    *error = std::string(st.message());
    return nullptr;
  }
  net->eval();
  net->to(torch::Device(Env("SLIMSERVE_BENCH_DEVICE", "cpu")));
  auto in = InferenceNet::Create(net, Variant(variant));
  if (!in.ok()) {
    *error = std::string(in.status().message());
    return nullptr;
  }
  return nets->emplace(variant, *std::move(in)).first->second.get();
}

void BM_Network(benchmark::State& state) {
  static const bool threads_set = [] {
    const int n = std::atoi(Env("SLIMSERVE_BENCH_THREADS", "0").c_str());
    at::set_num_threads(
        n > 0 ? n : std::max(1u, std::thread::hardware_concurrency()));
    return true;
  }();
  (void)threads_set;
  const int variant = static_cast<int>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  const int we = static_cast<int>(state.range(2));
  std::string error;
  const InferenceNet* net = Network(variant, &error);
  if (net == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  const auto& spec = net->spec();
  if (we >= spec.encoder_widths_size()) {
    state.SkipWithError("no such encoder width");
    return;
  }
  const int wd = std::min(we, spec.decoder_widths_size() - 1);
  std::vector<int> tasks(spec.tasks_size());
  for (int t = 0; t < spec.tasks_size(); ++t) tasks[t] = t;
  c10::InferenceMode guard;
  torch::manual_seed(1);
  const torch::Tensor images =
      torch::randn({batch, 3, spec.input().height(), spec.input().width()});
  const bool cuda = net->device().is_cuda();
  // SLIMSERVE_BENCH_PROFILE=DIR: one LibTorch profiler trace (chrome JSON)
  // per benchmark, of 20 iterations, for where the time goes per operator
  // (tools/profile_summary.py sums it).
  const std::string profile_dir = Env("SLIMSERVE_BENCH_PROFILE", "");
  if (!profile_dir.empty()) {
    const std::string path = profile_dir + "/" + std::to_string(variant) +
                             "_b" + std::to_string(batch) + "_w" +
                             std::to_string(we) + ".json";
    torch::autograd::profiler::RecordProfile profile(path);
    for (int i = 0; i < 20; ++i) {
      const auto features = net->Encode(net->PrepareInput(images), we);
      net->DecodeHeads(tasks, features, we, wd);
    }
  }
  for (auto _ : state) {
    const auto features = net->Encode(net->PrepareInput(images), we);
    benchmark::DoNotOptimize(net->DecodeHeads(tasks, features, we, wd));
    if (cuda) torch::cuda::synchronize();
  }
  state.SetItemsProcessed(state.iterations() * batch);
  // Achieved arithmetic rate of the convolutions (the cost model's MACs x
  // 2 per image), and its fraction of SLIMSERVE_BENCH_PEAK_TFLOPS when given
  // (the device's dense peak for the variant's dtype).
  const CostTable costs = ComputeCostTable(spec);
  double macs = costs.encoder_macs[we];
  for (const auto& task : costs.decoder_macs) macs += task[we][wd];
  const double flops = 2.0 * macs * batch;
  state.counters["TFLOPS"] = benchmark::Counter(
      flops / 1e12 * state.iterations(), benchmark::Counter::kIsRate);
  const double peak =
      std::atof(Env("SLIMSERVE_BENCH_PEAK_TFLOPS", "0").c_str());
  if (peak > 0) {
    state.counters["of_peak"] = benchmark::Counter(
        flops / 1e12 / peak * state.iterations(), benchmark::Counter::kIsRate);
  }
  state.SetLabel(net->Describe());
}

void Args(benchmark::internal::Benchmark* b) {
  const bool cuda = Env("SLIMSERVE_BENCH_DEVICE", "cpu").rfind("cuda", 0) == 0;
  for (int variant = 0; variant <= 6; ++variant) {
    if (variant == 5 && !cuda) continue;
    for (int batch : {1, 8, 32}) {
      if (batch == 32 && !cuda) continue;  // minutes on 2 CPU cores
      for (int we : {0, 1, 3}) b->Args({variant, batch, we});
    }
  }
}

BENCHMARK(BM_Network)->Apply(Args)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace slimserve

BENCHMARK_MAIN();
