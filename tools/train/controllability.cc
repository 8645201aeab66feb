#include "tools/train/controllability.h"

#include <algorithm>
#include <cmath>
#include <limits>
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
namespace {

// `count` preference vectors uniform on the simplex (normalised
// exponentials).
std::vector<std::vector<double>> DrawPreferences(int num_tasks, int count,
                                                 uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> exp1(1.0);
  std::vector<std::vector<double>> prefs(count);
  for (auto& p : prefs) {
    double sum = 0;
    for (int t = 0; t < num_tasks; ++t) {
      p.push_back(exp1(rng));
      sum += p.back();
    }
    for (double& v : p) v /= sum;
  }
  return prefs;
}

Spread SpreadOf(const std::vector<double>& values) {
  Spread s;
  if (values.empty()) return s;
  for (double v : values) s.mean += v;
  s.mean /= values.size();
  for (double v : values) s.sd += (v - s.mean) * (v - s.mean);
  s.sd = std::sqrt(s.sd / values.size());
  return s;
}

double Mean(const std::vector<double>& values) { return SpreadOf(values).mean; }

// Held-out loss per [task][we][wd] from the profile's "loss" extra metric;
// empty when any entry lacks it.
std::vector<std::vector<std::vector<double>>> ProfileLosses(
    const v1::ModelSpec& spec, const v1::ProfileTable& profile) {
  std::map<std::string, int> task_index;
  for (int t = 0; t < spec.tasks_size(); ++t) task_index[spec.tasks(t).name()] = t;
  std::vector<std::vector<std::vector<double>>> loss(
      spec.tasks_size(),
      std::vector<std::vector<double>>(
          spec.encoder_widths_size(),
          std::vector<double>(spec.decoder_widths_size(), -1)));
  for (const auto& e : profile.entries()) {
    const auto it = task_index.find(e.task());
    const auto m = e.extra_metrics().find("loss");
    if (it == task_index.end() || m == e.extra_metrics().end()) continue;
    if (e.encoder_width_index() >= loss[it->second].size() ||
        e.decoder_width_index() >= loss[it->second][0].size()) {
      continue;
    }
    loss[it->second][e.encoder_width_index()][e.decoder_width_index()] =
        m->second;
  }
  for (const auto& by_task : loss) {
    for (const auto& row : by_task) {
      for (double v : row) {
        if (!(v > 0) || !std::isfinite(v)) return {};
      }
    }
  }
  return loss;
}

// Per budget, the range of each task's quality over the Pareto-efficient
// configurations within it (MACs only). Empty when there are too many
// configurations to enumerate.
std::vector<ParetoRange> ParetoRanges(const v1::ModelSpec& spec,
                                      const CostTable& costs,
                                      const QualityTable& quality,
                                      const std::vector<double>& budgets) {
  const int num_e = spec.encoder_widths_size();
  const int num_k = spec.decoder_widths_size();
  const int n = spec.tasks_size();
  double count = num_e;
  for (int t = 0; t < n; ++t) count *= num_k;
  if (count > kMaxEnumeratedConfigurations) return {};
  std::vector<int> all(n);
  for (int t = 0; t < n; ++t) all[t] = t;
  const double full = costs.FullMacs(all);
  // Every configuration's cost and quality vector.
  std::vector<double> cost;
  std::vector<std::vector<double>> q;
  std::vector<int> wd(n, 0);
  for (int e = 0; e < num_e; ++e) {
    std::fill(wd.begin(), wd.end(), 0);
    while (true) {
      double c = costs.encoder_macs[e];
      std::vector<double> point(n);
      for (int t = 0; t < n; ++t) {
        c += costs.decoder_macs[t][e][wd[t]];
        point[t] = quality.at(t, e, wd[t]);
      }
      cost.push_back(c);
      q.push_back(std::move(point));
      int t = 0;
      while (t < n && ++wd[t] == num_k) wd[t++] = 0;
      if (t == n) break;
    }
  }
  std::vector<ParetoRange> ranges;
  for (double budget : budgets) {
    ParetoRange pr;
    pr.budget = budget;
    std::vector<size_t> within;
    for (size_t i = 0; i < cost.size(); ++i) {
      if (cost[i] <= budget * full * (1 + 1e-9)) within.push_back(i);
    }
    pr.num_within = static_cast<int>(within.size());
    // Per task, its quality in each efficient configuration.
    std::vector<std::vector<double>> seen(n);
    for (size_t a : within) {
      bool dominated = false;
      for (size_t b : within) {
        bool no_worse = true, better = false;
        for (int t = 0; t < n && no_worse; ++t) {
          no_worse = q[b][t] >= q[a][t];
          better |= q[b][t] > q[a][t];
        }
        if (no_worse && better) {
          dominated = true;
          break;
        }
      }
      if (dominated) continue;
      ++pr.num_efficient;
      for (int t = 0; t < n; ++t) seen[t].push_back(q[a][t]);
    }
    for (std::vector<double>& v : seen) {
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
      const int levels = static_cast<int>(v.size());
      pr.range.push_back(levels > 0 ? v.back() - v.front() : 0);
      pr.levels.push_back(levels);
      pr.ceiling.push_back(
          levels > 1 ? std::sqrt(1 - 1.0 / (double(levels) * levels)) : 0);
    }
    ranges.push_back(std::move(pr));
  }
  return ranges;
}

}  // namespace

absl::StatusOr<ControllabilityReport> EvaluateControllability(
    const slimserve::v1::ModelSpec& spec,
    const slimserve::v1::ProfileTable& profile,
    const ControllabilityOptions& o) {
  if (o.num_preferences < 2 || o.num_draws < 1) {
    return absl::InvalidArgumentError(
        "num_preferences must be >= 2 and num_draws >= 1");
  }
  SLIM_ASSIGN_OR_RETURN(QualityTable quality,
                        QualityTable::FromProfile(spec, profile));
  const CostTable costs = ComputeCostTable(spec);
  const PlanningContext context{&spec, &costs, &quality, nullptr};
  SLIM_RETURN_IF_ERROR(ValidatePlanningContext(context));
  const int num_tasks = spec.tasks_size();
  const auto losses = ProfileLosses(spec, profile);

  ControllabilityReport report;
  report.loss_source = losses.empty() ? "1/normalised quality" : "held-out loss";
  report.num_preferences = o.num_preferences;
  report.num_draws = o.num_draws;
  std::vector<double> top(num_tasks);
  for (int t = 0; t < num_tasks; ++t) {
    report.tasks.push_back(spec.tasks(t).name());
    report.reference.push_back(quality.at(t, 0, 0));
    top[t] = quality.at(t, spec.encoder_widths_size() - 1,
                        spec.decoder_widths_size() - 1);
  }
  // The box from the reference to full width, to normalise hypervolumes.
  const double box = metrics::Hypervolume({top}, report.reference);

  std::vector<std::vector<std::vector<double>>> prefs;
  for (int d = 0; d < o.num_draws; ++d) {
    prefs.push_back(DrawPreferences(num_tasks, o.num_preferences, o.seed + d));
  }

  report.pareto = ParetoRanges(spec, costs, quality, o.budgets);

  for (const std::string& name : o.planners) {
    SLIM_ASSIGN_OR_RETURN(std::unique_ptr<Planner> planner, CreatePlanner(name));
    // Per draw, the average over budgets below 1.
    std::vector<double> low_corr(o.num_draws, 0), low_hv(o.num_draws, 0);
    std::vector<double> low_mu, low_cross, low_obj;
    int num_low = 0;
    for (double budget : o.budgets) {
      ControllabilityRow row;
      row.planner = name;
      row.budget = budget;
      row.task_correlation.assign(num_tasks, 0);
      std::vector<double> corr_by_draw, hv_by_draw, mu, cross, objective, mflops;
      for (int d = 0; d < o.num_draws; ++d) {
        // Per task, preference and quality over this draw's vectors.
        std::vector<std::vector<double>> r(num_tasks), q(num_tasks);
        std::vector<std::vector<double>> points;
        for (const auto& p : prefs[d]) {
          PlanRequest request;
          request.budget.value = budget;
          for (int t = 0; t < num_tasks; ++t) {
            request.task_weights[spec.tasks(t).name()] = static_cast<float>(p[t]);
          }
          absl::StatusOr<ArchPlan> plan = PlanWith(*planner, context, request);
          if (!plan.ok()) continue;
          ++row.planned;
          std::vector<double> point(num_tasks), loss, pref, plan_q;
          double obj = 0;
          for (const TaskPlan& tp : plan->tasks) {
            const int we = plan->encoder_width_index;
            const int wd = tp.decoder_width_index;
            const double qt = quality.at(tp.task, we, wd);
            point[tp.task] = qt;
            r[tp.task].push_back(p[tp.task]);
            q[tp.task].push_back(qt);
            pref.push_back(p[tp.task]);
            plan_q.push_back(qt);
            loss.push_back(losses.empty() ? 1.0 / qt : losses[tp.task][we][wd]);
            obj += p[tp.task] * qt;
          }
          points.push_back(point);
          mu.push_back(metrics::Uniformity(pref, loss));
          cross.push_back(metrics::SpearmanCorrelation(pref, plan_q));
          objective.push_back(obj);
          mflops.push_back(MacsToMflops(plan->macs));
        }
        double corr = 0;
        for (int t = 0; t < num_tasks; ++t) {
          const double c = metrics::SpearmanCorrelation(r[t], q[t]);
          row.task_correlation[t] += c / o.num_draws;
          corr += c / num_tasks;
        }
        corr_by_draw.push_back(corr);
        hv_by_draw.push_back(box > 0 ? metrics::Hypervolume(points, report.reference) / box
                                     : 0);
      }
      row.correlation = SpreadOf(corr_by_draw);
      row.hypervolume = SpreadOf(hv_by_draw);
      row.uniformity = Mean(mu);
      row.cross_task_spearman = Mean(cross);
      row.objective = Mean(objective);
      row.mflops = Mean(mflops);
      if (budget < 1) {
        ++num_low;
        for (int d = 0; d < o.num_draws; ++d) {
          low_corr[d] += corr_by_draw[d];
          low_hv[d] += hv_by_draw[d];
        }
        low_mu.push_back(row.uniformity);
        low_cross.push_back(row.cross_task_spearman);
        low_obj.push_back(row.objective);
      }
      report.rows.push_back(std::move(row));
    }
    ControllabilitySummary s;
    s.planner = name;
    if (num_low > 0) {
      for (int d = 0; d < o.num_draws; ++d) {
        low_corr[d] /= num_low;
        low_hv[d] /= num_low;
      }
      s.correlation = SpreadOf(low_corr);
      s.hypervolume = SpreadOf(low_hv);
      s.uniformity = Mean(low_mu);
      s.cross_task_spearman = Mean(low_cross);
      s.objective = Mean(low_obj);
    }
    report.summaries.push_back(s);
  }
  return report;
}

namespace {

// "task": value, ... for a JSON object's members, in task order.
std::string PerTaskJson(const std::vector<std::string>& tasks,
                        const std::vector<double>& values, int decimals = 4) {
  std::string j;
  for (size_t t = 0; t < values.size(); ++t) {
    absl::StrAppendFormat(&j, "%s\"%s\": %.*f", t ? ", " : "", tasks[t],
                          decimals, values[t]);
  }
  return j;
}

}  // namespace

std::string ControllabilityJson(const ControllabilityReport& report) {
  std::string j = "{\n  \"tasks\": [";
  for (size_t t = 0; t < report.tasks.size(); ++t) {
    absl::StrAppendFormat(&j, "%s\"%s\"", t ? ", " : "", report.tasks[t]);
  }
  j += "],\n  \"hypervolume_reference\": [";
  for (size_t t = 0; t < report.reference.size(); ++t) {
    absl::StrAppendFormat(&j, "%s%.4f", t ? ", " : "", report.reference[t]);
  }
  absl::StrAppendFormat(
      &j,
      "],\n  \"uniformity_loss\": \"%s\",\n  \"num_preferences\": %d,\n"
      "  \"num_draws\": %d,\n  \"rows\": [\n",
      report.loss_source, report.num_preferences, report.num_draws);
  for (size_t i = 0; i < report.rows.size(); ++i) {
    const auto& r = report.rows[i];
    const std::string per_task = PerTaskJson(report.tasks, r.task_correlation);
    absl::StrAppendFormat(
        &j,
        "    {\"planner\": \"%s\", \"budget\": %g, \"correlation\": %.4f, "
        "\"correlation_sd\": %.4f, \"task_correlation\": {%s}, "
        "\"hypervolume\": %.4f, \"hypervolume_sd\": %.4f, \"uniformity\": "
        "%.4f, \"cross_task_spearman\": %.4f, \"objective\": %.4f, "
        "\"mflops\": %.3f, \"planned\": %d}%s\n",
        r.planner, r.budget, r.correlation.mean, r.correlation.sd, per_task,
        r.hypervolume.mean, r.hypervolume.sd, r.uniformity,
        r.cross_task_spearman, r.objective, r.mflops, r.planned,
        i + 1 < report.rows.size() ? "," : "");
  }
  j += "  ],\n  \"average_over_budgets_below_1\": {\n";
  for (size_t i = 0; i < report.summaries.size(); ++i) {
    const auto& s = report.summaries[i];
    absl::StrAppendFormat(
        &j,
        "    \"%s\": {\"correlation\": %.4f, \"correlation_sd\": %.4f, "
        "\"hypervolume\": %.4f, \"hypervolume_sd\": %.4f, \"uniformity\": "
        "%.4f, \"cross_task_spearman\": %.4f, \"objective\": %.4f}%s\n",
        s.planner, s.correlation.mean, s.correlation.sd, s.hypervolume.mean,
        s.hypervolume.sd, s.uniformity, s.cross_task_spearman, s.objective,
        i + 1 < report.summaries.size() ? "," : "");
  }
  j += "  },\n  \"pareto_range\": [\n";
  for (size_t i = 0; i < report.pareto.size(); ++i) {
    const auto& p = report.pareto[i];
    const std::vector<double> levels(p.levels.begin(), p.levels.end());
    absl::StrAppendFormat(
        &j,
        "    {\"budget\": %g, \"range\": {%s}, \"levels\": {%s}, "
        "\"ceiling\": {%s}, \"efficient\": %d, \"within\": %d}%s\n",
        p.budget, PerTaskJson(report.tasks, p.range),
        PerTaskJson(report.tasks, levels, 0),
        PerTaskJson(report.tasks, p.ceiling), p.num_efficient, p.num_within,
        i + 1 < report.pareto.size() ? "," : "");
  }
  j += "  ]\n}\n";
  return j;
}

std::string ControllabilityMarkdown(const ControllabilityReport& report) {
  std::string md = "| planner | budget | per-task correlation (sd) |";
  for (const auto& t : report.tasks) absl::StrAppend(&md, " ", t, " |");
  md += " hypervolume (sd) | mu | cross-task Spearman | objective | MFLOPs |\n|---|---|---|";
  for (size_t t = 0; t < report.tasks.size(); ++t) md += "---|";
  md += "---|---|---|---|---|\n";
  for (const auto& r : report.rows) {
    absl::StrAppendFormat(&md, "| %s | %g | %.3f (%.3f) |", r.planner, r.budget,
                          r.correlation.mean, r.correlation.sd);
    for (double c : r.task_correlation) absl::StrAppendFormat(&md, " %.2f |", c);
    absl::StrAppendFormat(&md, " %.3f (%.3f) | %.3f | %.3f | %.3f | %.1f |\n",
                          r.hypervolume.mean, r.hypervolume.sd, r.uniformity,
                          r.cross_task_spearman, r.objective, r.mflops);
  }
  md +=
      "\nBudgets below 1, averaged:\n\n"
      "| planner | per-task correlation (sd) | hypervolume (sd) | mu | "
      "cross-task Spearman | objective |\n|---|---|---|---|---|---|\n";
  for (const auto& s : report.summaries) {
    absl::StrAppendFormat(&md, "| %s | %.3f (%.3f) | %.3f (%.3f) | %.3f | %.3f | %.3f |\n",
                          s.planner, s.correlation.mean, s.correlation.sd,
                          s.hypervolume.mean, s.hypervolume.sd, s.uniformity,
                          s.cross_task_spearman, s.objective);
  }
  if (!report.pareto.empty()) {
    md +=
        "\nWhat a planner can move each task's normalised quality by: its "
        "range over the Pareto-efficient configurations within the budget "
        "(levels: distinct values there; ceiling: the per-task correlation "
        "those levels allow at most):\n\n"
        "| budget |";
    for (const auto& t : report.tasks) {
      absl::StrAppend(&md, " ", t, " range, levels, ceiling |");
    }
    md += " efficient / within |\n|---|";
    for (size_t t = 0; t < report.tasks.size(); ++t) md += "---|";
    md += "---|\n";
    for (const auto& p : report.pareto) {
      absl::StrAppendFormat(&md, "| %g |", p.budget);
      for (size_t t = 0; t < p.range.size(); ++t) {
        absl::StrAppendFormat(&md, " %.3f, %d, %.2f |", p.range[t],
                              p.levels[t], p.ceiling[t]);
      }
      absl::StrAppendFormat(&md, " %d / %d |\n", p.num_efficient,
                            p.num_within);
    }
  }
  absl::StrAppendFormat(
      &md,
      "\n%d draws of %d preference vectors; hypervolume reference: the "
      "narrowest configuration; mu from %s.\n",
      report.num_draws, report.num_preferences, report.loss_source);
  return md;
}

}  // namespace train
}  // namespace slimserve
