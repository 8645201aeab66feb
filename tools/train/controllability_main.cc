// Controllability report of the planners on a profiled model package:
//   bazel-bin/tools/train/controllability_report --model_dir=models/default
// writes MODEL_DIR/controllability.json and prints Markdown tables
// (tools/train/controllability.h defines the figures).

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "engine/model/quality_table.h"
#include "engine/model/spec.h"
#include "tools/train/controllability.h"

ABSL_FLAG(std::string, model_dir, "models/default", "Profiled model package");
ABSL_FLAG(int, num_preferences, 20, "Preference vectors per budget");
ABSL_FLAG(int, num_draws, 5,
          "Independent sets of preference vectors (seeds seed, seed+1, ...)");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the preference vectors");
ABSL_FLAG(std::vector<std::string>, planners,
          slimserve::train::ControllabilityOptions().planners,
          "Planners to compare, comma-separated (engine/planning/planner.h)");

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
  o.num_draws = absl::GetFlag(FLAGS_num_draws);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.planners = absl::GetFlag(FLAGS_planners);
  auto report = slimserve::train::EvaluateControllability(*spec, *profile, o);
  if (!report.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(report.status().message()).c_str());
    return 1;
  }
  std::ofstream(dir + "/controllability.json")
      << slimserve::train::ControllabilityJson(*report);
  std::printf("%s", slimserve::train::ControllabilityMarkdown(*report).c_str());
  return 0;
}
