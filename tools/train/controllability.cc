#include "tools/train/controllability.h"

#include <cmath>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/model/cost_model.h"
#include "engine/model/quality_table.h"
#include "engine/planning/planner.h"
#include "tools/train/metrics.h"

namespace slimserve {
namespace train {

absl::StatusOr<std::vector<ControllabilityRow>> EvaluateControllability(
    const slimserve::v1::ModelSpec& spec,
    const slimserve::v1::ProfileTable& profile,
    const ControllabilityOptions& o) {
  SLIM_ASSIGN_OR_RETURN(QualityTable quality,
                        QualityTable::FromProfile(spec, profile));
  const CostTable costs = ComputeCostTable(spec);
  const PlanningContext context{&spec, &costs, &quality, nullptr};
  SLIM_RETURN_IF_ERROR(ValidatePlanningContext(context));

  // The same preference vectors for every planner and budget: uniform on
  // the simplex (normalised exponentials).
  std::mt19937_64 rng(o.seed);
  std::exponential_distribution<double> exp1(1.0);
  std::vector<std::vector<double>> prefs(o.num_preferences);
  for (auto& p : prefs) {
    double sum = 0;
    for (int t = 0; t < spec.tasks_size(); ++t) {
      p.push_back(exp1(rng));
      sum += p.back();
    }
    for (double& v : p) v /= sum;
  }

  std::vector<ControllabilityRow> rows;
  for (const std::string& name : o.planners) {
    SLIM_ASSIGN_OR_RETURN(std::unique_ptr<Planner> planner, CreatePlanner(name));
    for (double budget : o.budgets) {
      ControllabilityRow row;
      row.planner = name;
      row.budget = budget;
      for (const auto& p : prefs) {
        PlanRequest request;
        request.budget.value = budget;
        for (int t = 0; t < spec.tasks_size(); ++t) {
          request.task_weights[spec.tasks(t).name()] = static_cast<float>(p[t]);
        }
        absl::StatusOr<ArchPlan> plan = PlanWith(*planner, context, request);
        if (!plan.ok()) continue;
        std::vector<double> q, loss, pref;
        double objective = 0;
        for (const TaskPlan& tp : plan->tasks) {
          const double qt = quality.at(tp.task, plan->encoder_width_index,
                                       tp.decoder_width_index);
          q.push_back(qt);
          loss.push_back(1.0 / qt);
          pref.push_back(p[tp.task]);
          objective += p[tp.task] * qt;
        }
        row.spearman += metrics::SpearmanCorrelation(pref, q);
        row.uniformity += metrics::Uniformity(pref, loss);
        row.objective += objective;
        row.mflops += MacsToMflops(plan->macs);
        ++row.planned;
      }
      if (row.planned > 0) {
        row.spearman /= row.planned;
        row.uniformity /= row.planned;
        row.objective /= row.planned;
        row.mflops /= row.planned;
      }
      rows.push_back(row);
    }
  }
  return rows;
}

namespace {

struct Average {
  double spearman = 0, uniformity = 0, objective = 0;
  int n = 0;
};

std::map<std::string, Average> Averages(
    const std::vector<ControllabilityRow>& rows) {
  std::map<std::string, Average> avg;
  for (const auto& r : rows) {
    Average& a = avg[r.planner];
    a.spearman += r.spearman;
    a.uniformity += r.uniformity;
    a.objective += r.objective;
    ++a.n;
  }
  for (auto& [name, a] : avg) {
    a.spearman /= a.n;
    a.uniformity /= a.n;
    a.objective /= a.n;
  }
  return avg;
}

}  // namespace

std::string ControllabilityJson(const std::vector<ControllabilityRow>& rows) {
  std::string j = "{\n  \"rows\": [\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    absl::StrAppendFormat(
        &j,
        "    {\"planner\": \"%s\", \"budget\": %g, \"spearman\": %.4f, "
        "\"uniformity\": %.4f, \"objective\": %.4f, \"mflops\": %.3f, "
        "\"planned\": %d}%s\n",
        r.planner, r.budget, r.spearman, r.uniformity, r.objective, r.mflops,
        r.planned, i + 1 < rows.size() ? "," : "");
  }
  j += "  ],\n  \"average_over_budgets\": {\n";
  const auto avg = Averages(rows);
  size_t k = 0;
  for (const auto& [name, a] : avg) {
    absl::StrAppendFormat(
        &j,
        "    \"%s\": {\"spearman\": %.4f, \"uniformity\": %.4f, "
        "\"objective\": %.4f}%s\n",
        name, a.spearman, a.uniformity, a.objective,
        ++k < avg.size() ? "," : "");
  }
  j += "  }\n}\n";
  return j;
}

std::string ControllabilityMarkdown(
    const std::vector<ControllabilityRow>& rows) {
  std::string md =
      "| planner | budget | Spearman | uniformity mu | objective | MFLOPs |\n"
      "|---|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    absl::StrAppendFormat(&md, "| %s | %g | %.3f | %.3f | %.3f | %.1f |\n",
                          r.planner, r.budget, r.spearman, r.uniformity,
                          r.objective, r.mflops);
  }
  md += "\n| planner | mean Spearman | mean mu | mean objective |\n"
        "|---|---|---|---|\n";
  for (const auto& [name, a] : Averages(rows)) {
    absl::StrAppendFormat(&md, "| %s | %.3f | %.3f | %.3f |\n", name,
                          a.spearman, a.uniformity, a.objective);
  }
  return md;
}

}  // namespace train
}  // namespace slimserve
