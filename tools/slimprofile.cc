// slimprofile: measures the latency of every configuration of a model
// package at several batch sizes on this machine, prints it, and writes it
// as a latency cache the server reads with --latency_cache (so a fleet of
// identical machines can skip the start-up measurement).
//
//   slimprofile --model_dir=models/default --batch_sizes=1,2,4,8 \
//       --out=/var/cache/slimserve/latency.textproto

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "engine/batching/batch_cost_model.h"
#include "engine/engine.h"
#include "engine/types.h"

namespace {
const slimserve::Engine::Options& Defaults() {
  static const auto* const options = new slimserve::Engine::Options;
  return *options;
}
}  // namespace

ABSL_FLAG(std::string, model_dir, "models/default", "model package");
ABSL_FLAG(std::vector<std::string>, batch_sizes,
          std::vector<std::string>({"1", "2", "4", "8"}), "ascending from 1");
ABSL_FLAG(slimserve::Device, device, Defaults().network.device,
          "cpu, cuda or cuda:N");
ABSL_FLAG(slimserve::WeightsForm, weights, Defaults().network.weights,
          "folded or sliced (as the server)");
ABSL_FLAG(slimserve::Precision, precision, Defaults().network.precision,
          "float32, bfloat16 or float16 (as the server)");
ABSL_FLAG(bool, channels_last, Defaults().network.channels_last,
          "NHWC (as the server)");
ABSL_FLAG(int64_t, xnnpack_max_macs, Defaults().network.xnnpack_max_macs,
          "as the server's");
ABSL_FLAG(bool, fuse_decoders, Defaults().network.fuse_decoders,
          "as the server's");
ABSL_FLAG(int, num_threads, Defaults().network.num_threads,
          "LibTorch threads (0 = all cores); must match the server's");
ABSL_FLAG(int, repetitions, Defaults().latency.repetitions,
          "timed runs per entry (median)");
ABSL_FLAG(std::string, out, "", "latency cache file to (over)write");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "slimprofile --model_dir=DIR [--batch_sizes=1,2,4,8] [--out=FILE]");
  absl::ParseCommandLine(argc, argv);
  slimserve::Engine::Options o;
  o.model_dir = absl::GetFlag(FLAGS_model_dir);
  o.network.num_threads = absl::GetFlag(FLAGS_num_threads);
  o.network.device = absl::GetFlag(FLAGS_device);
  o.network.weights = absl::GetFlag(FLAGS_weights);
  o.network.precision = absl::GetFlag(FLAGS_precision);
  o.network.channels_last = absl::GetFlag(FLAGS_channels_last);
  o.network.xnnpack_max_macs = absl::GetFlag(FLAGS_xnnpack_max_macs);
  o.network.fuse_decoders = absl::GetFlag(FLAGS_fuse_decoders);
  o.latency.repetitions = absl::GetFlag(FLAGS_repetitions);
  absl::StatusOr<std::vector<int>> batch_sizes = slimserve::ParseBatchSizes(
      absl::GetFlag(FLAGS_batch_sizes), "batch_sizes");
  if (!batch_sizes.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(batch_sizes.status().message()).c_str());
    return 1;
  }
  o.latency.batch_sizes = *std::move(batch_sizes);
  o.batching.max_batch_size = o.latency.batch_sizes.empty()
                                  ? 1
                                  : std::max(1, o.latency.batch_sizes.back());
  o.latency.cache = absl::GetFlag(FLAGS_out);
  if (!o.latency.cache.empty()) {
    // Always measure: an existing file for the same key would be read.
    std::filesystem::remove(o.latency.cache);
  }
  auto engine = slimserve::Engine::Create(o);
  if (!engine.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(engine.status().message()).c_str());
    return 1;
  }
  const slimserve::ModelInfo& info = (*engine)->model_info();
  std::printf("%s\n", info.latency_key.c_str());
  // Uniform configurations (every decoder at the encoder's width), the
  // ones a fraction budget maps to most directly: does a configuration with
  // x% of the full cost run in x% of the time?
  const int num_e = static_cast<int>(info.encoder_widths.size());
  const int num_d = static_cast<int>(info.decoder_widths.size());
  std::vector<int> sizes;
  std::vector<std::vector<double>> encoder_ms(num_e);  // [we][table]
  for (const slimserve::LatencyTableInfo& t : info.latency_tables) {
    sizes.push_back(t.batch_size);
    const bool fused = !t.fused_decoder_ms.empty();
    std::printf("\nbatch %d (uniform widths: encoder = every decoder; %s):\n",
                t.batch_size,
                fused ? "decoders fused, as served" : "decoders apart");
    std::printf("  %6s %10s %10s %10s %8s %8s\n", "width", "ms", "ms/image",
                "images/s", "cost", "time");
    std::vector<double> ms_by_width;
    for (int we = 0; we < num_e; ++we) {
      const int wd = std::min(we, num_d - 1);
      double ms = t.encoder_ms[we];
      if (fused) {
        ms += t.fused_decoder_ms[we][wd];
      } else {
        for (const auto& task : t.decoder_ms) ms += task[we][wd];
      }
      ms_by_width.push_back(ms);
      encoder_ms[we].push_back(t.encoder_ms[we]);
    }
    const double full_ms = ms_by_width.back();
    for (int we = 0; we < num_e; ++we) {
      const int wd = std::min(we, num_d - 1);
      double mflops = info.encoder_mflops[we];
      for (const auto& task : info.tasks) mflops += task.decoder_mflops[we][wd];
      const double ms = ms_by_width[we];
      std::printf("  %6.2f %10.3f %10.3f %10.1f %7.1f%% %7.1f%%\n",
                  info.encoder_widths[we], ms, ms / t.batch_size,
                  ms > 0 ? 1000.0 * t.batch_size / ms : 0.0,
                  100.0 * mflops / info.full_mflops, 100.0 * ms / full_ms);
    }
  }
  std::printf("\nlinear fit of the encoder, ms = fixed + per_item x batch:\n");
  for (int we = 0; we < num_e; ++we) {
    const slimserve::LinearMs line =
        slimserve::FitLinear(sizes, encoder_ms[we]);
    std::printf("  width %.2f: fixed %.3f, per item %.3f\n",
                info.encoder_widths[we], line.fixed, line.per_item);
  }
  if (!o.latency.cache.empty()) {
    std::printf("\nwrote %s\n", o.latency.cache.c_str());
  }
  return 0;
}
