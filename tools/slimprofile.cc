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
#include "engine/cost_model.h"
#include "engine/engine.h"
#include "engine/latency_model.h"
#include "engine/planner.h"

ABSL_FLAG(std::string, model_dir, "models/default", "model package");
ABSL_FLAG(std::vector<std::string>, batch_sizes,
          std::vector<std::string>({"1", "2", "4", "8"}), "ascending from 1");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda or cuda:N");
ABSL_FLAG(std::string, weights, "folded", "folded or sliced (as the server)");
ABSL_FLAG(std::string, precision, "float32",
          "float32, bfloat16 or float16 (as the server)");
ABSL_FLAG(bool, channels_last, true, "NHWC (as the server)");
ABSL_FLAG(int, num_threads, 0,
          "LibTorch threads (0 = all cores); must match the server's");
ABSL_FLAG(int, repetitions, 3, "timed runs per entry (median)");
ABSL_FLAG(std::string, out, "", "latency cache file to (over)write");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "slimprofile --model_dir=DIR [--batch_sizes=1,2,4,8] [--out=FILE]");
  absl::ParseCommandLine(argc, argv);
  slimserve::Engine::Options o;
  o.model_dir = absl::GetFlag(FLAGS_model_dir);
  o.num_threads = absl::GetFlag(FLAGS_num_threads);
  o.device = absl::GetFlag(FLAGS_device);
  o.weights = absl::GetFlag(FLAGS_weights);
  o.precision = absl::GetFlag(FLAGS_precision);
  o.channels_last = absl::GetFlag(FLAGS_channels_last);
  o.latency_repetitions = absl::GetFlag(FLAGS_repetitions);
  absl::StatusOr<std::vector<int>> batch_sizes = slimserve::ParseBatchSizes(
      absl::GetFlag(FLAGS_batch_sizes), "batch_sizes");
  if (!batch_sizes.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(batch_sizes.status().message()).c_str());
    return 1;
  }
  o.latency_batch_sizes = *std::move(batch_sizes);
  o.max_batch_size = o.latency_batch_sizes.empty()
                         ? 1
                         : std::max(1, o.latency_batch_sizes.back());
  o.latency_cache = absl::GetFlag(FLAGS_out);
  if (!o.latency_cache.empty()) {
    // Always measure: an existing file for the same key would be read.
    std::filesystem::remove(o.latency_cache);
  }
  auto engine = slimserve::Engine::Create(o);
  if (!engine.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(engine.status().message()).c_str());
    return 1;
  }
  const auto& spec = (*engine)->spec();
  const slimserve::LatencyProfile& profile = *(*engine)->latency_profile();
  const slimserve::BatchLatencyModel model(profile, spec);
  std::printf("%s\n", (*engine)->latency_key().c_str());
  // Uniform configurations (every decoder at the encoder's width), the
  // ones a fraction budget maps to most directly: does a configuration with
  // x% of the full cost run in x% of the time?
  const slimserve::CostTable& costs = (*engine)->costs();
  const double full_macs = costs.FullMacs();
  for (const slimserve::LatencyTable& t : profile.tables) {
    std::printf("\nbatch %d (uniform widths: encoder = every decoder):\n",
                t.batch_size);
    std::printf("  %6s %10s %10s %10s %8s %8s\n", "width", "ms", "ms/image",
                "images/s", "cost", "time");
    double full_ms = 0;
    std::vector<double> ms_by_width;
    for (int we = 0; we < spec.encoder_widths_size(); ++we) {
      const int wd = std::min(we, spec.decoder_widths_size() - 1);
      double ms = t.encoder_ms[we];
      for (const auto& task : t.decoder_ms) ms += task[we][wd];
      ms_by_width.push_back(ms);
      full_ms = ms;
    }
    for (int we = 0; we < spec.encoder_widths_size(); ++we) {
      const int wd = std::min(we, spec.decoder_widths_size() - 1);
      double macs = costs.encoder_macs[we];
      for (const auto& task : costs.decoder_macs) macs += task[we][wd];
      const double ms = ms_by_width[we];
      std::printf("  %6.2f %10.3f %10.3f %10.1f %7.1f%% %7.1f%%\n",
                  spec.encoder_widths(we), ms, ms / t.batch_size,
                  ms > 0 ? 1000.0 * t.batch_size / ms : 0.0,
                  100.0 * macs / full_macs, 100.0 * ms / full_ms);
    }
  }
  std::printf("\nlinear fit of the encoder, ms = fixed + per_item x batch:\n");
  for (int we = 0; we < spec.encoder_widths_size(); ++we) {
    std::printf("  width %.2f: fixed %.3f, per item %.3f\n",
                spec.encoder_widths(we), model.encoder(we).fixed,
                model.encoder(we).per_item);
  }
  if (!o.latency_cache.empty()) {
    std::printf("\nwrote %s\n", o.latency_cache.c_str());
  }
  return 0;
}
