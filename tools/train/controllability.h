#ifndef SLIMSERVE_TOOLS_TRAIN_CONTROLLABILITY_H_
#define SLIMSERVE_TOOLS_TRAIN_CONTROLLABILITY_H_

// Controllability of a planner on a profiled model: does each task's quality
// follow that task's preference at a fixed budget?
//
// For each budget fraction and each of `num_preferences` preference vectors
// drawn uniformly from the simplex, the planner chooses a configuration; the
// chosen configuration's per-task quality is read from the profile table
// (task t's metric depends only on its own (encoder width, decoder width), so
// the table holds exactly what running it on the held-out set measures).
// `num_draws` independent sets of preference vectors give the spread.
//
// Per (planner, budget), over the preference vectors of one draw:
//   correlation (the main figure, as DYMU and ECMT-style evaluations report
//             controllability): for each task, the Spearman correlation
//             between that task's preference r_t and its normalised quality
//             q_t (1.0 = full width) across the preference vectors, averaged
//             over tasks. 0 for a task whose quality never moves.
//   hypervolume: of the quality vectors (q_1..q_T), against the reference
//             point `reference` = every task's quality in the narrowest
//             configuration, divided by the box from there to full width
//             (1 = every task at full width).
//   uniformity: mu = 1 - KL(L_hat || uniform), L_hat_t = r_t L_t / sum r_i L_i
//             (DYMU, CVPR 2022) with L_t the task's held-out loss at the
//             chosen widths (profile extra metric "loss", the training loss);
//             1/q_t where the profile has no losses (`loss_source` says
//             which).
//   cross_task_spearman (the previous figure, secondary): per preference
//             vector, the rank correlation across the tasks between r_t and
//             q_t, averaged. It also rewards a task being insensitive to
//             slimming, not only the planner's allocation.
//   objective: sum_t r_t q_t; mflops: the plan's cost.
// Per budget, independent of planners:
//   pareto_range: per task, the highest minus the lowest q_t among the
//             Pareto-efficient configurations within the budget (those no
//             other configuration within it beats on one task without
//             losing on another). What any planner that never wastes the
//             budget can move a task's quality by; a task whose range is
//             within measurement noise cannot be controlled, and its
//             correlation measures noise. Empty when the model has more
//             than kMaxEnumeratedConfigurations configurations.
//   levels, ceiling: per task, the number L of distinct q_t among those
//             configurations, and sqrt(1 - 1/L^2) (0 for L = 1): the
//             highest per-task Spearman correlation a planner that never
//             wastes the budget can reach for that task, in the limit of
//             many preference vectors (a quality taking L values correlates
//             with a uniform rank by at most that, reached with equal
//             groups). Depth with two efficient levels is capped at 0.87
//             whatever the planner; the mean over tasks caps the main figure.
// Each is averaged over the draw's preference vectors, then reported as the
// mean (and for correlation and hypervolume the standard deviation) over the
// draws. The summary per planner averages the budgets below 1 (at 1 nothing
// can be controlled).

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
  // Draw d uses seed + d.
  int num_draws = 5;
  uint64_t seed = 1;
  std::vector<std::string> planners = {
      "normalized", "paper-normalized", "paper", "exact", "shared-decoder",
      "uniform", "widest-fit"};
};

// Mean and standard deviation (population) over draws.
struct Spread {
  double mean = 0;
  double sd = 0;
};

struct ControllabilityRow {
  std::string planner;
  double budget = 0;
  Spread correlation;                 // mean over tasks
  std::vector<double> task_correlation;  // per task (spec order), mean over draws
  Spread hypervolume;
  double uniformity = 0;
  double cross_task_spearman = 0;
  double objective = 0;
  double mflops = 0;
  int planned = 0;  // preference vectors that got a plan, over all draws
};

inline constexpr int kMaxEnumeratedConfigurations = 1 << 16;

struct ParetoRange {
  double budget = 0;
  std::vector<double> range;  // per task (spec order)
  std::vector<int> levels;     // per task: distinct q_t among the efficient
  std::vector<double> ceiling;  // per task: sqrt(1 - 1/levels^2)
  int num_efficient = 0;      // Pareto-efficient configurations
  int num_within = 0;         // configurations within the budget
};

struct ControllabilitySummary {
  std::string planner;
  // Of the average over the budgets below 1, over draws.
  Spread correlation;
  Spread hypervolume;
  double uniformity = 0;
  double cross_task_spearman = 0;
  double objective = 0;
};

struct ControllabilityReport {
  std::vector<std::string> tasks;
  std::vector<double> reference;  // hypervolume reference, per task
  std::string loss_source;        // "held-out loss" or "1/normalised quality"
  int num_preferences = 0;
  int num_draws = 0;
  std::vector<ControllabilityRow> rows;
  std::vector<ControllabilitySummary> summaries;  // in options' planner order
  std::vector<ParetoRange> pareto;  // per budget; empty for large models
};

absl::StatusOr<ControllabilityReport> EvaluateControllability(
    const slimserve::v1::ModelSpec& spec,
    const slimserve::v1::ProfileTable& profile,
    const ControllabilityOptions& options);

// The report as JSON and as Markdown tables.
std::string ControllabilityJson(const ControllabilityReport& report);
std::string ControllabilityMarkdown(const ControllabilityReport& report);

}  // namespace train
}  // namespace slimserve

#endif  // SLIMSERVE_TOOLS_TRAIN_CONTROLLABILITY_H_
