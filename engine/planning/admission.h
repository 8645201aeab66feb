#ifndef SLIMSERVE_ENGINE_PLANNING_ADMISSION_H_
#define SLIMSERVE_ENGINE_PLANNING_ADMISSION_H_

// Admission: the plan a request gets given the server's load and the
// request's deadline.
//
// Admit() is a pure function (no clock, no threads): the caller measures the
// load and converts the deadline to "milliseconds from now". It plans the
// request for its budget (PlanWith); when a latency table is present and the
// predicted completion of that plan (queue wait + predicted latency) misses
// the deadline, it degrades: the best plan, by the planner's own rule, whose
// predicted completion meets the deadline, marked ArchPlan::degraded. Only when
// no configuration can meet it is the request refused:
//   DEADLINE_EXCEEDED   the deadline has passed, or is shorter than the
//                       fastest configuration even with an empty queue;
//   RESOURCE_EXHAUSTED  it would be met with a shorter queue (overload).
// Without a latency table compute time cannot be predicted: the budget plan
// is kept, and only a queue wait at or beyond the deadline refuses the
// request (RESOURCE_EXHAUSTED).

#include <limits>

#include "absl/status/statusor.h"
#include "engine/planning/planner.h"

namespace slimserve {

struct LoadState {
  // Predicted time from now until this request's compute would start (the
  // queue ahead of it), ms; finite, >= 0.
  double queue_wait_ms = 0;
  // Time from now until the request's deadline, ms; +infinity: no deadline.
  // May be <= 0 (already passed).
  double deadline_ms = std::numeric_limits<double>::infinity();
  // Measured / predicted compute on the server now (1 = as the latency
  // table says): the plan's predicted latency is multiplied by it before it
  // is compared with the deadline. Finite, > 0.
  double latency_scale = 1.0;
};

// ResolvePlanRequest's errors, plus INVALID_ARGUMENT for a bad LoadState,
// FAILED_PRECONDITION for a context without spec/costs/quality, OUT_OF_RANGE
// when the planner finds no configuration within the budget, and the
// refusals above.
// REQUIRES: ValidatePlanningContext(context).ok().
absl::StatusOr<ArchPlan> Admit(const Planner& planner,
                           const PlanningContext& context,
                           const PlanRequest& request, const LoadState& load);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_PLANNING_ADMISSION_H_
