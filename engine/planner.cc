#include "engine/planner.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/status_macros.h"

namespace slimserve {
namespace {

// Plans may meet the budget exactly; this absorbs rounding in f * full.
constexpr double kBudgetSlack = 1e-9;

double ConfigMacs(const CostTable& costs, const PlanningInput& input, int we,
                  const std::vector<int>& wd) {
  double macs = costs.encoder_macs[we];
  for (size_t i = 0; i < input.tasks.size(); ++i) {
    macs += costs.decoder_macs[input.tasks[i]][we][wd[i]];
  }
  return macs;
}

std::string TaskList(const slimserve::v1::ModelSpec& spec) {
  std::vector<std::string> names;
  for (const auto& t : spec.tasks()) names.push_back(t.name());
  return absl::StrJoin(names, ", ");
}

class WidestFitPlanner : public Planner {
 public:
  absl::string_view name() const override { return "widest-fit"; }

  Widths Choose(const CostTable& costs,
                const PlanningInput& input) const override {
    const int n = static_cast<int>(input.tasks.size());
    const int num_wd = static_cast<int>(costs.decoder_macs[0][0].size());
    // Tasks by decreasing weight (stable: model order breaks ties); decoder
    // width indices must be non-increasing along this order.
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return input.weights[a] > input.weights[b];
    });

    Widths best;
    double best_macs = -1, best_score = -1;
    std::vector<int> wd(n, 0);
    const double limit = input.budget_macs * (1 + kBudgetSlack);
    for (int we = 0; we < static_cast<int>(costs.encoder_macs.size()); ++we) {
      // Depth-first over non-increasing width assignments.
      std::function<void(int, int)> visit = [&](int pos, int max_wd) {
        if (pos == n) {
          const double macs = ConfigMacs(costs, input, we, wd);
          if (macs > limit) return;
          double score = 0;
          for (int i = 0; i < n; ++i) score += input.weights[i] * wd[i];
          const bool better =
              macs > best_macs ||
              (macs == best_macs && score > best_score);
          if (better) {
            best_macs = macs;
            best_score = score;
            best.encoder = we;
            best.decoders = wd;
          }
          return;
        }
        for (int w = 0; w <= max_wd; ++w) {
          wd[order[pos]] = w;
          visit(pos + 1, w);
        }
      };
      visit(0, num_wd - 1);
    }
    return best;
  }
};

}  // namespace

absl::StatusOr<PlanningInput> ResolvePlanRequest(
    const slimserve::v1::ModelSpec& spec, const CostTable& costs,
    const PlanRequest& request) {
  PlanningInput input;
  if (request.task_weights.empty()) {
    for (int t = 0; t < spec.tasks_size(); ++t) {
      input.tasks.push_back(t);
      input.weights.push_back(1.0f);
    }
  } else {
    for (const auto& [name, weight] : request.task_weights) {
      int index = -1;
      for (int t = 0; t < spec.tasks_size(); ++t) {
        if (spec.tasks(t).name() == name) index = t;
      }
      if (index < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "task_weights: unknown task \"", absl::CHexEscape(name),
            "\" (the model has: ", TaskList(spec), ")"));
      }
      if (!std::isfinite(weight) || weight < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("task_weights[\"", name,
                         "\"]: must be a finite number >= 0, got ", weight));
      }
    }
    // Model order, so plans and outputs do not depend on map order.
    for (int t = 0; t < spec.tasks_size(); ++t) {
      auto it = request.task_weights.find(spec.tasks(t).name());
      if (it != request.task_weights.end() && it->second > 0) {
        input.tasks.push_back(t);
        input.weights.push_back(it->second);
      }
    }
    if (input.tasks.empty()) {
      return absl::InvalidArgumentError(
          "task_weights: every weight is 0; give at least one task a weight "
          "> 0 (or send no weights for all tasks)");
    }
  }
  input.full_macs = costs.FullMacs(input.tasks);

  const double v = request.budget.value;
  switch (request.budget.kind) {
    case Budget::Kind::kFraction:
      if (!(v > 0 && v <= 1)) {  // also false for NaN
        return absl::InvalidArgumentError(
            absl::StrCat("budget.fraction: must be in (0, 1], got ", v));
      }
      input.budget_macs = v * input.full_macs;
      break;
    case Budget::Kind::kMflops:
      if (!(v > 0) || !std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "budget.mflops: must be a finite number > 0, got ", v));
      }
      input.budget_macs = MflopsToMacs(v);
      break;
    case Budget::Kind::kMilliseconds:
      if (!(v > 0) || !std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "budget.milliseconds: must be a finite number > 0, got ", v));
      }
      return absl::UnimplementedError(
          "budget.milliseconds: latency budgets need the measured latency "
          "model, which this server does not have yet; use budget.fraction "
          "or budget.mflops");
  }

  const std::vector<int> narrowest(input.tasks.size(), 0);
  const double cheapest = ConfigMacs(costs, input, 0, narrowest);
  if (cheapest > input.budget_macs * (1 + kBudgetSlack)) {
    return absl::OutOfRangeError(absl::StrFormat(
        "budget of %.3f MFLOPs is below the cheapest configuration of the "
        "requested tasks (%.3f MFLOPs); the smallest accepted budget is "
        "fraction %.4f or %.3f MFLOPs",
        MacsToMflops(input.budget_macs), MacsToMflops(cheapest),
        cheapest / input.full_macs, MacsToMflops(cheapest)));
  }
  return input;
}

std::unique_ptr<Planner> CreateWidestFitPlanner() {
  return std::make_unique<WidestFitPlanner>();
}

Plan MakePlan(const slimserve::v1::ModelSpec& spec, const CostTable& costs,
              const PlanningInput& input, const Planner::Widths& widths,
              absl::string_view planner_name) {
  Plan plan;
  plan.encoder_width_index = widths.encoder;
  plan.encoder_width = spec.encoder_widths(widths.encoder);
  plan.encoder_macs = costs.encoder_macs[widths.encoder];
  plan.macs = plan.encoder_macs;
  for (size_t i = 0; i < input.tasks.size(); ++i) {
    TaskPlan tp;
    tp.task = input.tasks[i];
    tp.name = spec.tasks(tp.task).name();
    tp.weight = input.weights[i];
    tp.decoder_width_index = widths.decoders[i];
    tp.decoder_width = spec.decoder_widths(tp.decoder_width_index);
    tp.macs = costs.decoder_macs[tp.task][widths.encoder][tp.decoder_width_index];
    plan.macs += tp.macs;
    plan.tasks.push_back(std::move(tp));
  }
  plan.budget_macs = input.budget_macs;
  plan.full_macs = input.full_macs;
  plan.planner = std::string(planner_name);
  return plan;
}

absl::StatusOr<Plan> PlanWith(const Planner& planner,
                              const slimserve::v1::ModelSpec& spec,
                              const CostTable& costs,
                              const PlanRequest& request) {
  SLIM_ASSIGN_OR_RETURN(PlanningInput input,
                        ResolvePlanRequest(spec, costs, request));
  return MakePlan(spec, costs, input, planner.Choose(costs, input),
                  planner.name());
}

}  // namespace slimserve
