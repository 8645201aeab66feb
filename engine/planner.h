#ifndef SLIMSERVE_ENGINE_PLANNER_H_
#define SLIMSERVE_ENGINE_PLANNER_H_

// Turning (budget, task weights) into a sub-architecture.
//
// Planning has two steps. ResolvePlanRequest() validates a request against the
// model and turns its budget into MACs; it is shared by every strategy. A
// Planner then picks the widths. Planners are pure: no state, no clock, no
// threads; the same input always gives the same plan.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/cost_model.h"
#include "engine/engine.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

// A validated request.
struct PlanningInput {
  std::vector<int> tasks;      // active task indices, in model order
  std::vector<float> weights;  // weights of `tasks`, all > 0
  double budget_macs = 0;
  double full_macs = 0;  // the active tasks at full width
};

// INVALID_ARGUMENT (names the field) for unknown tasks, weights that are
// negative, NaN or infinite, all-zero weights, budgets out of range;
// UNIMPLEMENTED for millisecond budgets; OUT_OF_RANGE when the budget is
// below the cheapest configuration of the active tasks (the message gives the
// smallest accepted budget as a fraction and in MFLOPs).
absl::StatusOr<PlanningInput> ResolvePlanRequest(
    const slimserve::v1::ModelSpec& spec, const CostTable& costs,
    const PlanRequest& request);

class Planner {
 public:
  virtual ~Planner() = default;
  virtual absl::string_view name() const = 0;

  // Encoder width index and one decoder width index per input.tasks entry.
  // The configuration never costs more than input.budget_macs.
  // REQUIRES: `input` came from ResolvePlanRequest with the same costs.
  struct Widths {
    int encoder = 0;
    std::vector<int> decoders;
  };
  virtual Widths Choose(const CostTable& costs,
                        const PlanningInput& input) const = 0;
};

// The placeholder strategy until the admission controller lands: among the
// configurations whose decoder widths never decrease with task weight, the
// most expensive one within the budget (so the widest); ties go to larger
// weighted decoder width, then to the cheaper one.
std::unique_ptr<Planner> CreateWidestFitPlanner();

// Fills in a Plan (names, widths, costs) for chosen widths.
Plan MakePlan(const slimserve::v1::ModelSpec& spec, const CostTable& costs,
              const PlanningInput& input, const Planner::Widths& widths,
              absl::string_view planner_name);

// ResolvePlanRequest + planner.Choose + MakePlan.
absl::StatusOr<Plan> PlanWith(const Planner& planner,
                              const slimserve::v1::ModelSpec& spec,
                              const CostTable& costs,
                              const PlanRequest& request);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_PLANNER_H_
