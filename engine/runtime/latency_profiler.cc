#include "engine/runtime/latency_profiler.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include <torch/cuda.h>

namespace slimserve {
namespace {

template <typename Fn>
double MedianMs(int repetitions, bool cuda, Fn&& fn) {
  fn();  // warm-up: first-call allocations, lazy init
  std::vector<double> ms;
  for (int i = 0; i < repetitions; ++i) {
    if (cuda) torch::cuda::synchronize();
    const auto start = std::chrono::steady_clock::now();
    fn();
    // Kernels are asynchronous: time them to completion.
    if (cuda) torch::cuda::synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

LatencyTable MeasureLatency(const InferenceNet& net, int batch_size,
                            int repetitions) {
  c10::InferenceMode guard;
  const auto& spec = net.spec();
  // Image-like values rather than zeros: a constant input makes every
  // activation constant, which can run into denormals.
  at::Generator gen = at::detail::createCPUGenerator(batch_size);
  const torch::Tensor input = net.PrepareInput(at::normal(
      0.0, 1.0, {batch_size, 3, spec.input().height(), spec.input().width()},
      gen));
  const bool cuda = net.device().is_cuda();
  LatencyTable table;
  table.batch_size = batch_size;
  table.decoder_ms.assign(spec.tasks_size(), {});
  for (int we = 0; we < spec.encoder_widths_size(); ++we) {
    table.encoder_ms.push_back(
        MedianMs(repetitions, cuda, [&] { net.Encode(input, we); }));
    const auto features = net.Encode(input, we);
    for (int t = 0; t < spec.tasks_size(); ++t) {
      std::vector<double> row;
      for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
        row.push_back(MedianMs(repetitions, cuda,
                               [&] { net.DecodeHead(t, features, we, wd); }));
      }
      table.decoder_ms[t].push_back(std::move(row));
    }
  }
  return table;
}

}  // namespace slimserve
