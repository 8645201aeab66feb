// Controllability report of the planners on a profiled model package:
//   bazel-bin/tools/train/controllability --model_dir=models/default
// writes MODEL_DIR/controllability.json and prints a Markdown table.

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "engine/model/quality_table.h"
#include "engine/model/spec.h"
#include "tools/train/controllability.h"

ABSL_FLAG(std::string, model_dir, "models/default", "Profiled model package");
ABSL_FLAG(int, num_preferences, 20, "Preference vectors per budget");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the preference vectors");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string dir = absl::GetFlag(FLAGS_model_dir);
  auto spec = slimserve::LoadModelSpec(dir);
  if (!spec.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(spec.status().message()).c_str());
    return 1;
  }
  auto profile = slimserve::LoadProfileTable(dir);
  if (!profile.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(profile.status().message()).c_str());
    return 1;
  }
  slimserve::train::ControllabilityOptions o;
  o.num_preferences = absl::GetFlag(FLAGS_num_preferences);
  o.seed = absl::GetFlag(FLAGS_seed);
  auto rows = slimserve::train::EvaluateControllability(*spec, *profile, o);
  if (!rows.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(rows.status().message()).c_str());
    return 1;
  }
  std::ofstream(dir + "/controllability.json")
      << slimserve::train::ControllabilityJson(*rows);
  std::printf("%s", slimserve::train::ControllabilityMarkdown(*rows).c_str());
  return 0;
}
