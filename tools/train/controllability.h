#ifndef SLIMSERVE_TOOLS_TRAIN_CONTROLLABILITY_H_
#define SLIMSERVE_TOOLS_TRAIN_CONTROLLABILITY_H_

// Controllability of a planner on a profiled model: does task quality follow
// the task preference at a fixed budget?
//
// For each budget fraction and each of `num_preferences` preference vectors
// drawn uniformly from the simplex, the planner chooses a configuration; the
// chosen configuration's per-task quality is read from the profile table
// (task t's metric depends only on its own (encoder width, decoder width), so
// the table holds exactly what running it on the held-out set measures).
// Reported, averaged over preferences:
//   spearman: rank correlation between preference r_t and normalised
//             quality q_t (1.0 = full width);
//   uniformity: mu = 1 - KL(L_hat || uniform), L_hat_t = r_t L_t / sum r_i L_i
//             (DYMU, CVPR 2022), with L_t = 1 / q_t the task's normalised
//             error (1 at full width; larger is worse);
//   objective: sum_t r_t q_t, and the mean MFLOPs used.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "slimserve/v1/model_spec.pb.h"
#include "slimserve/v1/profile.pb.h"

namespace slimserve {
namespace train {

struct ControllabilityOptions {
  std::vector<double> budgets = {0.25, 0.5, 0.75, 1.0};
  int num_preferences = 20;
  uint64_t seed = 1;
  std::vector<std::string> planners = {"paper", "exact", "uniform",
                                       "widest-fit"};
};

struct ControllabilityRow {
  std::string planner;
  double budget = 0;
  double spearman = 0;
  double uniformity = 0;
  double objective = 0;
  double mflops = 0;
  int planned = 0;  // preference vectors that got a plan
};

absl::StatusOr<std::vector<ControllabilityRow>> EvaluateControllability(
    const slimserve::v1::ModelSpec& spec,
    const slimserve::v1::ProfileTable& profile,
    const ControllabilityOptions& options);

// Rows plus the per-planner averages over budgets, as JSON and as Markdown.
std::string ControllabilityJson(const std::vector<ControllabilityRow>& rows);
std::string ControllabilityMarkdown(const std::vector<ControllabilityRow>& rows);

}  // namespace train
}  // namespace slimserve

#endif  // SLIMSERVE_TOOLS_TRAIN_CONTROLLABILITY_H_
