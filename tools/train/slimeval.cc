// slimeval: profiles a model package on held-out procedural scenes. Writes
// profile.textproto into the package (the admission controller's quality
// table) and a JSON report (every entry, trivial baselines, Delta_m).

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/text_format.h"
#include "tools/train/evaluator.h"

ABSL_FLAG(std::string, model_dir, "models/default", "Model package to profile");
ABSL_FLAG(int, num_images, 256, "Held-out images");
ABSL_FLAG(uint64_t, data_seed, 7777, "Seed of the held-out scenes");
ABSL_FLAG(std::string, report, "", "JSON report path (default MODEL_DIR/eval_report.json)");
ABSL_FLAG(bool, write_profile, true, "Write MODEL_DIR/profile.textproto");
ABSL_FLAG(int, num_threads, 0, "LibTorch threads (0 = all cores)");
ABSL_FLAG(std::string, weights, "folded",
          "network form, as the server's --weights: folded or sliced");
ABSL_FLAG(std::string, precision, "float32",
          "as the server's --precision: float32 or bfloat16");
ABSL_FLAG(bool, channels_last, true, "as the server's --channels_last");
ABSL_FLAG(int64_t, xnnpack_max_macs,
          slimserve::NetworkOptions{}.xnnpack_max_macs,
          "as the server's --xnnpack_max_macs");
ABSL_FLAG(bool, fuse_decoders, slimserve::NetworkOptions{}.fuse_decoders,
          "as the server's --fuse_decoders");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("slimeval --model_dir=DIR [--num_images=N]");
  absl::ParseCommandLine(argc, argv);
  slimserve::train::EvalOptions o;
  o.model_dir = absl::GetFlag(FLAGS_model_dir);
  o.num_images = absl::GetFlag(FLAGS_num_images);
  o.data_seed = absl::GetFlag(FLAGS_data_seed);
  o.num_threads = absl::GetFlag(FLAGS_num_threads);
  o.weights = absl::GetFlag(FLAGS_weights);
  o.precision = absl::GetFlag(FLAGS_precision);
  o.channels_last = absl::GetFlag(FLAGS_channels_last);
  o.xnnpack_max_macs = absl::GetFlag(FLAGS_xnnpack_max_macs);
  o.fuse_decoders = absl::GetFlag(FLAGS_fuse_decoders);
  auto result = slimserve::train::Evaluate(o);
  if (!result.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(result.status().message()).c_str());
    return 1;
  }
  const auto& r = *result;
  for (int t = 0; t < r.spec.tasks_size(); ++t) {
    const auto& full = r.metrics[t].back().back();
    const auto& narrow = r.metrics[t].front().front();
    std::printf("%-8s %-15s full %.4f  narrowest %.4f  baseline %.4f\n",
                r.spec.tasks(t).name().c_str(), full.metric.c_str(), full.value,
                narrow.value, r.baselines[t].value);
  }
  const std::string report = absl::GetFlag(FLAGS_report).empty()
                                 ? o.model_dir + "/eval_report.json"
                                 : absl::GetFlag(FLAGS_report);
  std::ofstream(report) << slimserve::train::ReportJson(r);
  if (absl::GetFlag(FLAGS_write_profile)) {
    std::string text;
    google::protobuf::TextFormat::PrintToString(
        slimserve::train::MakeProfile(
            r, absl::StrFormat("slimeval: %d procedural scenes, data_seed %d",
                               o.num_images, o.data_seed)),
        &text);
    std::ofstream(o.model_dir + "/profile.textproto")
        << "# proto-file: proto/slimserve/v1/profile.proto\n"
        << "# proto-message: slimserve.v1.ProfileTable\n"
        << text;
  }
  std::printf("report: %s\n", report.c_str());
  return 0;
}
