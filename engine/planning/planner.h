#ifndef SLIMSERVE_ENGINE_PLANNING_PLANNER_H_
#define SLIMSERVE_ENGINE_PLANNING_PLANNER_H_

// Turning (budget, task weights) into a sub-architecture.
//
// Planning has two steps. ResolvePlanRequest() validates a request against the
// model and turns its budget into constraints (MACs, and predicted latency for
// millisecond budgets); it is shared by every strategy. A Planner then picks
// the widths. Planners are pure: no state, no clock, no threads; the same
// input always gives the same plan.
//
// The objective of the quality-driven planners ("exact", "paper", "uniform";
// "normalized" rescales the weights first) is the same everywhere:
//
//   maximise  sum over active tasks t of weight_t * q(t, we, wd_t)
//   subject   cost(we, wd) <= budget   (and predicted latency <= limit)
//
// with q from a QualityTable and cost additive (cost_model.h). Ties go to the
// cheaper configuration (MACs), then to the lexicographically smaller
// (encoder width index, decoder width indices in model order). The search
// runs in fixed point (admission_search.h): the objective at a resolution of
// 2^-36 of the largest weight, costs rounded up at 2^-40 of the budget, so a
// plan never exceeds its budget; configurations whose objectives differ by
// less than the resolution count as ties.
//
// Deadlines and load are handled one level up, in admission.h.

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/cost_model.h"
#include "engine/model/latency_table.h"
#include "engine/model/quality_table.h"
#include "engine/types.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

// What a planner reads about the model. Borrowed: everything must outlive
// the call. Build one at start-up and check it with ValidatePlanningContext.
struct PlanningContext {
  const slimserve::v1::ModelSpec* spec = nullptr;  // required, validated
  const CostTable* costs = nullptr;                // required, of `spec`
  const QualityTable* quality = nullptr;           // required, of `spec`
  const LatencyTable* latency = nullptr;           // optional
};

// INVALID_ARGUMENT when a required member is missing or the tables'
// dimensions do not match the spec (and ValidateLatencyTable's checks).
absl::Status ValidatePlanningContext(const PlanningContext& context);

// A validated request.
struct PlanningInput {
  std::vector<int> tasks;      // active task indices, in model order
  std::vector<float> weights;  // weights of `tasks`, all > 0
  double budget_macs = 0;      // for millisecond budgets: full_macs
  double full_macs = 0;        // the active tasks at full width
  // Bound on the predicted latency (LatencyTable, fixed_ms included); set
  // for millisecond budgets and by admission for deadlines. Infinity: none.
  // REQUIRES: finite only when the context has a latency table.
  double max_latency_ms = std::numeric_limits<double>::infinity();
};

// INVALID_ARGUMENT (names the field) for unknown tasks, weights that are
// negative, NaN or infinite, all-zero weights, budgets out of range;
// UNIMPLEMENTED for millisecond budgets when the context has no latency
// table; OUT_OF_RANGE when the budget is below the cheapest configuration of
// the active tasks (the message gives the smallest accepted budget: as a
// fraction and in MFLOPs, or in milliseconds).
// REQUIRES: context.spec and context.costs set (quality is not read).
absl::StatusOr<PlanningInput> ResolvePlanRequest(const PlanningContext& context,
                                                 const PlanRequest& request);

// The same without a latency table.
absl::StatusOr<PlanningInput> ResolvePlanRequest(
    const slimserve::v1::ModelSpec& spec, const CostTable& costs,
    const PlanRequest& request);

class Planner {
 public:
  virtual ~Planner() = default;
  virtual absl::string_view name() const = 0;

  struct Widths {
    int encoder = 0;
    std::vector<int> decoders;  // one per PlanningInput::tasks entry
    // False only if a branch-and-bound search hit PlannerOptions::max_nodes:
    // the widths are within the constraints but maybe not the best.
    bool complete = true;
  };

  // Encoder width index and one decoder width index per input.tasks entry,
  // never costing more than input.budget_macs nor (with a finite
  // input.max_latency_ms) predicted to take longer than it; nullopt when no
  // configuration this planner considers meets them (ResolvePlanRequest
  // guarantees one for its own constraints; planners that restrict the
  // widths, like "uniform", can still find none when costs are not
  // increasing in width).
  // REQUIRES: ValidatePlanningContext(context).ok(); `input` came from
  // ResolvePlanRequest with the same context (possibly tightened).
  virtual std::optional<Widths> Choose(const PlanningContext& context,
                                       const PlanningInput& input) const = 0;
};

struct PlannerOptions {
  // The optimal planners ("exact", "paper", "*normalized") enumerate every
  // configuration when there are at most this many (encoder widths x
  // decoder widths ^ tasks; 4 x 4^4 = 1024 for the default model) and use
  // branch-and-bound beyond. 0: always branch-and-bound. Both give the same
  // plan.
  int64_t exhaustive_limit = 4096;
  // Safety valve of branch-and-bound: after this many search nodes it
  // returns the best plan found so far (Widths::complete = false). Random
  // 20-task problems take a few thousand nodes at most.
  int64_t max_nodes = int64_t{1} << 22;
};

// Strategies, by name:
//   "exact"      the optimum of the objective above (exhaustive or
//                branch-and-bound).
//   "normalized" the optimum of the objective with each weight divided by
//                its task's attainable range at this budget: the highest
//                minus the lowest q(t, we, wd) among the widths some
//                configuration within the limits can give t (at least
//                1e-3). So a weight is a share of what that task can still
//                gain, not of its absolute quality: a task whose quality
//                barely moves within the budget (depth on nyud-slim, set by
//                the shared encoder) is not outvoted by tasks whose quality
//                moves a lot, and its weight still buys it what little there
//                is. The default: it follows the preferences best on the
//                shipped model, with the best hypervolume and objective of
//                the preference-driven planners (models/default/README.md,
//                controllability). The plan's reported objective stays the
//                unscaled one.
//   "paper"      the rule of Aich et al. (ICCV 2023): decoder capacity follows
//                the preference order (a task with a larger weight never gets
//                a narrower decoder than one with a smaller weight; equal
//                weights are not ordered), and the encoder width is searched
//                jointly; within that rule, the best objective (solved
//                exactly, like "exact").
//   "paper-normalized" "paper"'s rule with "normalized"'s weights. Second
//                on the shipped model, but the best on average over the six
//                trained nyud-slim models profiled so far (same README): a
//                candidate for retrained models; compare them with
//                tools/train/controllability_report.
//   "uniform"    baseline, the slimmable-network way: the encoder and every
//                active decoder at one width (each encoder width paired
//                with the nearest decoder width); the best such width by
//                the objective. Blind to the preference.
//   "shared-decoder" baseline: one decoder width for every active task, the
//                encoder width searched jointly; the best pair by the
//                objective.
//   "widest-fit" the first placeholder: among configurations whose decoder
//                widths never decrease with weight, the most expensive within
//                the budget; ignores the quality table.
// INVALID_ARGUMENT for unknown names (the message lists the known ones) or
// options out of range.
absl::StatusOr<std::unique_ptr<Planner>> CreatePlanner(
    absl::string_view name, const PlannerOptions& options = {});

// The names CreatePlanner accepts, sorted.
std::vector<std::string> PlannerNames();

// Same as CreatePlanner("widest-fit").
std::unique_ptr<Planner> CreateWidestFitPlanner();

// Fills in an ArchPlan (names, widths, costs, predicted quality and
// objective, predicted latency when the context has a latency table) for
// chosen widths.
ArchPlan PlanFromWidths(const PlanningContext& context, const PlanningInput& input,
              const Planner::Widths& widths, absl::string_view planner_name);

// ResolvePlanRequest + planner.Choose + PlanFromWidths, without load or deadline
// (see Admit in admission.h for those). OUT_OF_RANGE when the planner finds
// no configuration. FAILED_PRECONDITION when a required context member is
// missing.
absl::StatusOr<ArchPlan> PlanWith(const Planner& planner,
                              const PlanningContext& context,
                              const PlanRequest& request);

// The same with the synthetic quality table and no latency table (builds the
// table on every call: for tests and tools, not for serving).
absl::StatusOr<ArchPlan> PlanWith(const Planner& planner,
                              const slimserve::v1::ModelSpec& spec,
                              const CostTable& costs,
                              const PlanRequest& request);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_PLANNING_PLANNER_H_
