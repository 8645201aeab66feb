#include "engine/planning/planner.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "engine/planning/search.h"

namespace slimserve {
namespace {

// Plans may meet the budget exactly; this absorbs rounding in f * full.
constexpr double kBudgetSlack = 1e-9;

std::string TaskList(const slimserve::v1::ModelSpec& spec) {
  std::vector<std::string> names;
  for (const auto& t : spec.tasks()) names.push_back(t.name());
  return absl::StrJoin(names, ", ");
}

// The quantiser every strategy and ResolvePlanRequest use for a limit, so
// that "fits" means the same thing everywhere. nullopt: nothing fits.
std::optional<search::Quantizer> MacsQuantizer(const PlanningInput& input) {
  // No configuration costs more than every task at full width: a larger
  // budget is no limit, and must not blur the fixed-point resolution.
  const double limit =
      std::min(input.budget_macs, input.full_macs) * (1 + kBudgetSlack);
  if (!(limit > 0) || !std::isfinite(limit)) return std::nullopt;
  return search::Quantizer(limit);
}

std::optional<search::Quantizer> LatencyQuantizer(const LatencyTable& latency,
                                                  double max_latency_ms) {
  const double limit = max_latency_ms * (1 + kBudgetSlack) - latency.fixed_ms;
  if (!(limit > 0) || !std::isfinite(limit)) return std::nullopt;
  return search::Quantizer(limit);
}

// The cheapest configuration by some per-part cost: for each encoder width
// the cheapest decoder width of every task independently. Returns the
// encoder width index and fills `decoders`.
template <typename EncoderCost, typename DecoderCost>
int Cheapest(int num_encoders, const std::vector<int>& tasks,
             const EncoderCost& encoder_cost, const DecoderCost& decoder_cost,
             int num_widths, std::vector<int>* decoders) {
  int best_e = 0;
  double best = std::numeric_limits<double>::infinity();
  std::vector<int> wd(tasks.size());
  for (int e = 0; e < num_encoders; ++e) {
    double total = encoder_cost(e);
    for (size_t i = 0; i < tasks.size(); ++i) {
      wd[i] = 0;
      for (int k = 1; k < num_widths; ++k) {
        if (decoder_cost(tasks[i], e, k) < decoder_cost(tasks[i], e, wd[i])) {
          wd[i] = k;
        }
      }
      total += decoder_cost(tasks[i], e, wd[i]);
    }
    if (total < best) {
      best = total;
      best_e = e;
      *decoders = wd;
    }
  }
  return best_e;
}

// An upper bound of every configuration's predicted latency: for each
// encoder width, each task's slowest decoder width.
double SlowestMs(const LatencyTable& latency, const std::vector<int>& tasks) {
  double slowest = 0;
  for (size_t e = 0; e < latency.encoder_ms.size(); ++e) {
    double ms = latency.fixed_ms + latency.encoder_ms[e];
    for (int t : tasks) {
      const auto& row = latency.decoder_ms[t][e];
      ms += *std::max_element(row.begin(), row.end());
    }
    slowest = std::max(slowest, ms);
  }
  return slowest;
}

// Whether a configuration fits under `q` in fixed point, the way the search
// counts it.
bool Fits(const search::Quantizer& q, double encoder_cost,
          const std::vector<double>& decoder_costs) {
  int64_t total = q(encoder_cost);
  for (double c : decoder_costs) total += q(c);
  return total <= q.capacity();
}

// How a planner turns the request's weights into the search's weights.
enum class Weighting {
  kAsGiven,
  // weight_t / (attainable range of q_t within the limits): see "normalized"
  // in planner.h.
  kPerAttainableRange,
};

// Smallest attainable range a weight is divided by: a task whose quality
// cannot move (or moves by less) gets at most 1/kMinAttainableRange times its
// weight,
// so the fixed-point objective keeps its resolution for the others.
constexpr double kMinAttainableRange = 1e-3;

// Per task of `p` (costs filled), the lowest and highest quality it has in
// any (e, k) that some configuration within every capacity can use: (e, k)
// counts when its own costs plus, for each other task, that task's cheapest
// decoder at e fit each resource. With two resources the cheapest decoders
// are taken per resource, so this can admit an (e, k) that no single
// configuration reaches (the range is then slightly wider: harmless, it
// only scales a weight).
void AttainableRanges(const search::SearchProblem& p,
                      const QualityTable& quality,
                      const std::vector<int>& tasks, std::vector<double>* lo,
                      std::vector<double>* hi) {
  const int n = p.num_tasks;
  lo->assign(n, std::numeric_limits<double>::infinity());
  hi->assign(n, -std::numeric_limits<double>::infinity());
  std::vector<std::array<int64_t, search::kMaxResources>> cheapest(n);
  for (int e = 0; e < p.num_encoders; ++e) {
    std::array<int64_t, search::kMaxResources> base = {};
    for (int r = 0; r < p.num_resources; ++r) {
      base[r] = p.encoder_cost[r][e];
      for (int i = 0; i < n; ++i) {
        int64_t c = p.cost[r][p.Index(e, i, 0)];
        for (int k = 1; k < p.num_widths; ++k) {
          c = std::min(c, p.cost[r][p.Index(e, i, k)]);
        }
        cheapest[i][r] = c;
        base[r] += c;
      }
    }
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < p.num_widths; ++k) {
        bool fits = true;
        for (int r = 0; r < p.num_resources; ++r) {
          // Costs are capped at capacity + 1, so these sums cannot overflow.
          fits &= base[r] - cheapest[i][r] + p.cost[r][p.Index(e, i, k)] <=
                  p.capacity[r];
        }
        if (!fits) continue;
        const double q = quality.at(tasks[i], e, k);
        (*lo)[i] = std::min((*lo)[i], q);
        (*hi)[i] = std::max((*hi)[i], q);
      }
    }
  }
}

// The planning problem in fixed point; nullopt when a limit leaves no room.
std::optional<search::SearchProblem> BuildProblem(
    const PlanningContext& context, const PlanningInput& input,
    bool preference_ranks, Weighting weighting = Weighting::kAsGiven) {
  const CostTable& costs = *context.costs;
  const QualityTable& quality = *context.quality;
  search::SearchProblem p;
  p.num_encoders = static_cast<int>(costs.encoder_macs.size());
  p.num_tasks = static_cast<int>(input.tasks.size());
  p.num_widths = static_cast<int>(costs.decoder_macs[0][0].size());
  const size_t size =
      static_cast<size_t>(p.num_encoders) * p.num_tasks * p.num_widths;

  std::optional<search::Quantizer> macs = MacsQuantizer(input);
  if (!macs) return std::nullopt;
  std::optional<search::Quantizer> ms;
  if (std::isfinite(input.max_latency_ms)) {
    if (context.latency == nullptr) return std::nullopt;  // cannot check it
    ms = LatencyQuantizer(*context.latency, input.max_latency_ms);
    if (!ms) return std::nullopt;
  }
  p.num_resources = ms ? 2 : 1;
  p.capacity[0] = macs->capacity();
  if (ms) p.capacity[1] = ms->capacity();
  p.value.resize(size);
  for (int r = 0; r < p.num_resources; ++r) {
    p.cost[r].resize(size);
    p.encoder_cost[r].resize(p.num_encoders);
  }
  for (int e = 0; e < p.num_encoders; ++e) {
    p.encoder_cost[0][e] = (*macs)(costs.encoder_macs[e]);
    if (ms) p.encoder_cost[1][e] = (*ms)(context.latency->encoder_ms[e]);
    for (int i = 0; i < p.num_tasks; ++i) {
      const int t = input.tasks[i];
      for (int k = 0; k < p.num_widths; ++k) {
        const size_t at = p.Index(e, i, k);
        p.cost[0][at] = (*macs)(costs.decoder_macs[t][e][k]);
        if (ms) p.cost[1][at] = (*ms)(context.latency->decoder_ms[t][e][k]);
      }
    }
  }
  std::vector<double> weights(input.weights.begin(), input.weights.end());
  if (weighting == Weighting::kPerAttainableRange) {
    std::vector<double> lo, hi;
    AttainableRanges(p, quality, input.tasks, &lo, &hi);
    for (int i = 0; i < p.num_tasks; ++i) {
      // No attainable (e, k) (hi < lo) means nothing fits; the search then
      // finds nothing either way.
      weights[i] /= std::max(hi[i] - lo[i], kMinAttainableRange);
    }
  }
  const double max_weight = *std::max_element(weights.begin(), weights.end());
  for (int e = 0; e < p.num_encoders; ++e) {
    for (int i = 0; i < p.num_tasks; ++i) {
      const int t = input.tasks[i];
      for (int k = 0; k < p.num_widths; ++k) {
        p.value[p.Index(e, i, k)] =
            search::QuantizeValue(weights[i], max_weight, quality.at(t, e, k));
      }
    }
  }
  if (preference_ranks) {
    // Dense rank of the weight: a larger weight, a higher rank.
    std::vector<float> distinct = input.weights;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()),
                   distinct.end());
    for (float w : input.weights) {
      p.rank.push_back(static_cast<int>(
          std::lower_bound(distinct.begin(), distinct.end(), w) -
          distinct.begin()));
    }
  }
  return p;
}

Planner::Widths ToWidths(const search::Solution& s) {
  Planner::Widths w;
  w.encoder = s.encoder;
  w.decoders = s.widths;
  w.complete = s.complete;
  return w;
}

// "exact", "normalized", "paper" and "paper-normalized": the same search,
// "paper*" with the preference order, "*normalized" with the weights per
// attainable range.
class OptimalPlanner : public Planner {
 public:
  OptimalPlanner(std::string name, bool preference_order,
                 Weighting weighting, const PlannerOptions& options)
      : name_(std::move(name)),
        preference_order_(preference_order),
        weighting_(weighting),
        options_(options) {}

  absl::string_view name() const override { return name_; }

  std::optional<Widths> Choose(const PlanningContext& context,
                               const PlanningInput& input) const override {
    std::optional<search::SearchProblem> problem =
        BuildProblem(context, input, preference_order_, weighting_);
    if (!problem) return std::nullopt;
    // Configurations: E * K^n, saturating.
    double configurations = problem->num_encoders;
    for (int i = 0; i < problem->num_tasks; ++i) {
      configurations *= problem->num_widths;
    }
    const std::optional<search::Solution> s =
        configurations <= static_cast<double>(options_.exhaustive_limit)
            ? search::SolveExhaustive(*problem)
            : search::SolveBranchAndBound(*problem, options_.max_nodes);
    if (!s) return std::nullopt;
    return ToWidths(*s);
  }

 private:
  const std::string name_;
  const bool preference_order_;
  const Weighting weighting_;
  const PlannerOptions options_;
};

// Per encoder width index, the decoder width index nearest in value (the
// narrower of two equally near): equal widths when the spec's lists match.
std::vector<int> NearestDecoderWidths(const slimserve::v1::ModelSpec& spec) {
  std::vector<int> nearest;
  for (double we : spec.encoder_widths()) {
    int best = 0;
    for (int k = 1; k < spec.decoder_widths_size(); ++k) {
      if (std::abs(spec.decoder_widths(k) - we) <
          std::abs(spec.decoder_widths(best) - we)) {
        best = k;
      }
    }
    nearest.push_back(best);
  }
  return nearest;
}

// "uniform" (every_width_equal) and "shared-decoder".
class UniformPlanner : public Planner {
 public:
  explicit UniformPlanner(bool every_width_equal)
      : every_width_equal_(every_width_equal) {}
  absl::string_view name() const override {
    return every_width_equal_ ? "uniform" : "shared-decoder";
  }

  std::optional<Widths> Choose(const PlanningContext& context,
                               const PlanningInput& input) const override {
    std::optional<search::SearchProblem> problem =
        BuildProblem(context, input, /*preference_ranks=*/false);
    if (!problem) return std::nullopt;
    const std::optional<search::Solution> s = search::SolveUniform(
        *problem, every_width_equal_ ? NearestDecoderWidths(*context.spec)
                                     : std::vector<int>{});
    if (!s) return std::nullopt;
    return ToWidths(*s);
  }

 private:
  const bool every_width_equal_;
};

class WidestFitPlanner : public Planner {
 public:
  absl::string_view name() const override { return "widest-fit"; }

  std::optional<Widths> Choose(const PlanningContext& context,
                               const PlanningInput& input) const override {
    std::optional<search::SearchProblem> problem =
        BuildProblem(context, input, /*preference_ranks=*/false);
    if (!problem) return std::nullopt;
    const search::SearchProblem& p = *problem;
    const CostTable& costs = *context.costs;
    const int n = p.num_tasks;
    // Tasks by decreasing weight (stable: model order breaks ties); decoder
    // width indices must be non-increasing along this order.
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return input.weights[a] > input.weights[b];
    });

    std::optional<Widths> best;
    double best_macs = -1, best_score = -1;
    std::vector<int> wd(n, 0);
    for (int we = 0; we < p.num_encoders; ++we) {
      // Depth-first over non-increasing width assignments.
      std::function<void(int, int)> visit = [&](int pos, int max_wd) {
        if (pos == n) {
          double macs = costs.encoder_macs[we];
          for (int r = 0; r < p.num_resources; ++r) {
            int64_t used = p.encoder_cost[r][we];
            for (int i = 0; i < n; ++i)
              used += p.cost[r][p.Index(we, i, wd[i])];
            if (used > p.capacity[r]) return;
          }
          for (int i = 0; i < n; ++i) {
            macs += costs.decoder_macs[input.tasks[i]][we][wd[i]];
          }
          double score = 0;
          for (int i = 0; i < n; ++i) score += input.weights[i] * wd[i];
          const bool better =
              macs > best_macs || (macs == best_macs && score > best_score);
          if (better) {
            best_macs = macs;
            best_score = score;
            best = Widths{we, wd, true};
          }
          return;
        }
        for (int w = 0; w <= max_wd; ++w) {
          wd[order[pos]] = w;
          visit(pos + 1, w);
        }
      };
      visit(0, p.num_widths - 1);
    }
    return best;
  }
};

absl::Status CheckContext(const PlanningContext& context) {
  if (context.spec == nullptr || context.costs == nullptr ||
      context.quality == nullptr) {
    return absl::FailedPreconditionError(
        "planning context: spec, costs and quality are required");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidatePlanningContext(const PlanningContext& context) {
  if (context.spec == nullptr) {
    return absl::InvalidArgumentError("planning context: spec is required");
  }
  if (context.costs == nullptr) {
    return absl::InvalidArgumentError("planning context: costs is required");
  }
  if (context.quality == nullptr) {
    return absl::InvalidArgumentError("planning context: quality is required");
  }
  const auto& spec = *context.spec;
  const CostTable& costs = *context.costs;
  const size_t num_e = spec.encoder_widths_size();
  const size_t num_d = spec.decoder_widths_size();
  bool costs_ok =
      costs.encoder_macs.size() == num_e &&
      costs.decoder_macs.size() == static_cast<size_t>(spec.tasks_size());
  for (const auto& task : costs.decoder_macs) {
    costs_ok &= task.size() == num_e;
    for (const auto& row : task) costs_ok &= row.size() == num_d;
  }
  if (!costs_ok) {
    return absl::InvalidArgumentError(
        "planning context: the cost table's dimensions do not match the spec "
        "(use ComputeCostTable(spec))");
  }
  const QualityTable& q = *context.quality;
  if (q.num_tasks() != spec.tasks_size() ||
      q.num_encoder_widths() != static_cast<int>(num_e) ||
      q.num_decoder_widths() != static_cast<int>(num_d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("planning context: the quality table is ", q.num_tasks(),
                     " tasks x ", q.num_encoder_widths(), " encoder widths x ",
                     q.num_decoder_widths(), " decoder widths, the spec ",
                     spec.tasks_size(), " x ", num_e, " x ", num_d));
  }
  if (context.latency != nullptr) {
    SLIM_RETURN_IF_ERROR(ValidateLatencyTable(*context.latency, spec));
  }
  return absl::OkStatus();
}

absl::StatusOr<PlanningInput> ResolvePlanRequest(const PlanningContext& context,
                                                 const PlanRequest& request) {
  const slimserve::v1::ModelSpec& spec = *context.spec;
  const CostTable& costs = *context.costs;
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
            "task_weights: unknown task \"", Bounded(name),
            "\" (the model has: ", TaskList(spec), ")"));
      }
      if (!std::isfinite(weight) || weight < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("task_weights[\"", Bounded(name),
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
      // Near DBL_MAX the conversion overflows: a budget that large is no
      // limit at all.
      if (!std::isfinite(input.budget_macs)) input.budget_macs = input.full_macs;
      break;
    case Budget::Kind::kMilliseconds:
      if (!(v > 0) || !std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "budget.milliseconds: must be a finite number > 0, got ", v));
      }
      if (context.latency == nullptr) {
        return absl::UnimplementedError(
            "budget.milliseconds: latency budgets need the measured latency "
            "model, which this server does not have yet; use budget.fraction "
            "or budget.mflops");
      }
      // No MACs limit beyond the full width; the latency bound decides,
      // unless it is above the slowest configuration (no bound then; it
      // also keeps a budget near DBL_MAX from overflowing the search).
      input.budget_macs = input.full_macs;
      input.max_latency_ms =
          v >= SlowestMs(*context.latency, input.tasks)
              ? std::numeric_limits<double>::infinity()
              : v;
      break;
  }

  const int num_e = static_cast<int>(costs.encoder_macs.size());
  const int num_d = static_cast<int>(costs.decoder_macs[0][0].size());
  std::vector<int> wd;
  const int e = Cheapest(
      num_e, input.tasks, [&](int e) { return costs.encoder_macs[e]; },
      [&](int t, int e, int k) { return costs.decoder_macs[t][e][k]; }, num_d,
      &wd);
  std::vector<double> parts(input.tasks.size());
  double cheapest = costs.encoder_macs[e];
  for (size_t i = 0; i < input.tasks.size(); ++i) {
    parts[i] = costs.decoder_macs[input.tasks[i]][e][wd[i]];
    cheapest += parts[i];
  }
  std::optional<search::Quantizer> macs = MacsQuantizer(input);
  if (!macs || !Fits(*macs, costs.encoder_macs[e], parts)) {
    return absl::OutOfRangeError(absl::StrFormat(
        "budget of %.3f MFLOPs is below the cheapest configuration of the "
        "requested tasks (%.3f MFLOPs); the smallest accepted budget is "
        "fraction %.4f or %.3f MFLOPs",
        MacsToMflops(input.budget_macs), MacsToMflops(cheapest),
        cheapest / input.full_macs, MacsToMflops(cheapest)));
  }

  if (std::isfinite(input.max_latency_ms)) {
    const LatencyTable& lat = *context.latency;
    const int fe = Cheapest(
        num_e, input.tasks, [&](int e) { return lat.encoder_ms[e]; },
        [&](int t, int e, int k) { return lat.decoder_ms[t][e][k]; }, num_d,
        &wd);
    for (size_t i = 0; i < input.tasks.size(); ++i) {
      parts[i] = lat.decoder_ms[input.tasks[i]][fe][wd[i]];
    }
    const double fastest = PredictLatencyMs(lat, input.tasks, fe, wd);
    std::optional<search::Quantizer> ms =
        LatencyQuantizer(lat, input.max_latency_ms);
    if (!ms || !Fits(*ms, lat.encoder_ms[fe], parts)) {
      return absl::OutOfRangeError(absl::StrFormat(
          "budget of %.3f ms is below the fastest configuration of the "
          "requested tasks (%.3f ms predicted at batch size %d); the smallest "
          "accepted budget is %.3f ms",
          input.max_latency_ms, fastest, lat.batch_size, fastest));
    }
  }
  return input;
}

absl::StatusOr<PlanningInput> ResolvePlanRequest(
    const slimserve::v1::ModelSpec& spec, const CostTable& costs,
    const PlanRequest& request) {
  PlanningContext context;
  context.spec = &spec;
  context.costs = &costs;
  return ResolvePlanRequest(context, request);
}

absl::StatusOr<std::unique_ptr<Planner>> CreatePlanner(
    absl::string_view name, const PlannerOptions& options) {
  if (options.exhaustive_limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("planner options: exhaustive_limit must be >= 0, got ",
                     options.exhaustive_limit));
  }
  if (options.max_nodes < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "planner options: max_nodes must be >= 1, got ", options.max_nodes));
  }
  if (name == "exact") {
    return std::make_unique<OptimalPlanner>("exact", false,
                                            Weighting::kAsGiven, options);
  }
  if (name == "normalized") {
    return std::make_unique<OptimalPlanner>(
        "normalized", false, Weighting::kPerAttainableRange, options);
  }
  if (name == "paper-normalized") {
    return std::make_unique<OptimalPlanner>(
        "paper-normalized", true, Weighting::kPerAttainableRange, options);
  }
  if (name == "paper") {
    return std::make_unique<OptimalPlanner>("paper", true,
                                            Weighting::kAsGiven, options);
  }
  if (name == "uniform") return std::make_unique<UniformPlanner>(true);
  if (name == "shared-decoder") return std::make_unique<UniformPlanner>(false);
  if (name == "widest-fit") return std::make_unique<WidestFitPlanner>();
  return absl::InvalidArgumentError(
      absl::StrCat("planner: unknown planner \"", Bounded(name),
                   "\" (known: ", absl::StrJoin(PlannerNames(), ", "), ")"));
}

std::vector<std::string> PlannerNames() {
  return {"exact",   "normalized",     "paper",
          "paper-normalized", "shared-decoder", "uniform",
          "widest-fit"};
}

std::unique_ptr<Planner> CreateWidestFitPlanner() {
  return std::make_unique<WidestFitPlanner>();
}

ArchPlan PlanFromWidths(const PlanningContext& context, const PlanningInput& input,
              const Planner::Widths& widths, absl::string_view planner_name) {
  const slimserve::v1::ModelSpec& spec = *context.spec;
  const CostTable& costs = *context.costs;
  ArchPlan plan;
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
    tp.macs =
        costs.decoder_macs[tp.task][widths.encoder][tp.decoder_width_index];
    if (context.quality != nullptr) {
      tp.predicted_quality =
          context.quality->at(tp.task, widths.encoder, tp.decoder_width_index);
      plan.objective += static_cast<double>(tp.weight) * tp.predicted_quality;
    }
    plan.macs += tp.macs;
    plan.tasks.push_back(std::move(tp));
  }
  plan.budget_macs = input.budget_macs;
  plan.full_macs = input.full_macs;
  plan.planner = std::string(planner_name);
  plan.synthetic_quality =
      context.quality != nullptr && context.quality->synthetic();
  if (context.latency != nullptr) {
    plan.predicted_latency_ms = PredictLatencyMs(
        *context.latency, input.tasks, widths.encoder, widths.decoders);
  }
  return plan;
}

absl::StatusOr<ArchPlan> PlanWith(const Planner& planner,
                              const PlanningContext& context,
                              const PlanRequest& request) {
  SLIM_RETURN_IF_ERROR(CheckContext(context));
  SLIM_ASSIGN_OR_RETURN(PlanningInput input,
                        ResolvePlanRequest(context, request));
  std::optional<Planner::Widths> widths = planner.Choose(context, input);
  if (!widths) {
    return absl::OutOfRangeError(absl::StrCat(
        "planner \"", planner.name(),
        "\" found no configuration within the budget (it considers only "
        "some configurations; a larger budget or another planner may)"));
  }
  return PlanFromWidths(context, input, *widths, planner.name());
}

absl::StatusOr<ArchPlan> PlanWith(const Planner& planner,
                              const slimserve::v1::ModelSpec& spec,
                              const CostTable& costs,
                              const PlanRequest& request) {
  const QualityTable quality = QualityTable::Synthetic(spec);
  PlanningContext context;
  context.spec = &spec;
  context.costs = &costs;
  context.quality = &quality;
  return PlanWith(planner, context, request);
}

}  // namespace slimserve
