#include "engine/runtime/latency_profiler.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include <torch/cuda.h>

namespace slimserve {

double MedianMs(int repetitions, const std::function<void()>& sync,
                const std::function<void()>& fn) {
  fn();
  std::vector<double> ms;
  for (int i = 0; i < repetitions; ++i) {
    if (sync) sync();
    const auto start = std::chrono::steady_clock::now();
    fn();
    if (sync) sync();
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

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
  std::function<void()> sync;
  if (net.device().is_cuda()) sync = [] { torch::cuda::synchronize(); };
  LatencyTable table;
  table.batch_size = batch_size;
  table.decoder_ms.assign(spec.tasks_size(), {});
  for (int we = 0; we < spec.encoder_widths_size(); ++we) {
    table.encoder_ms.push_back(
        MedianMs(repetitions, sync, [&] { net.Encode(input, we); }));
    const auto features = net.Encode(input, we);
    for (int t = 0; t < spec.tasks_size(); ++t) {
      std::vector<double> row;
      for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
        row.push_back(MedianMs(repetitions, sync,
                               [&] { net.DecodeHead(t, features, we, wd); }));
      }
      table.decoder_ms[t].push_back(std::move(row));
    }
    // Every task at one width, as the executor runs a request for all of
    // them (FusionSavingMs derives the saving for fewer).
    if (net.FusesDecoders() && spec.tasks_size() > 1) {
      std::vector<int> all(spec.tasks_size());
      for (int t = 0; t < spec.tasks_size(); ++t) all[t] = t;
      std::vector<double> row;
      for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
        row.push_back(MedianMs(repetitions, sync, [&] {
          net.DecodeHeads(all, features, we, wd);
        }));
      }
      table.fused_decoder_ms.push_back(std::move(row));
    }
  }
  return table;
}

}  // namespace slimserve
