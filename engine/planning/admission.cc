#include "engine/planning/admission.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace slimserve {
namespace {

// Predicted latency of the fastest configuration of `tasks` (MACs budget
// ignored).
double FastestMs(const LatencyTable& latency, const std::vector<int>& tasks) {
  double fastest = std::numeric_limits<double>::infinity();
  for (size_t e = 0; e < latency.encoder_ms.size(); ++e) {
    double ms = latency.fixed_ms + latency.encoder_ms[e];
    for (int t : tasks) {
      const auto& row = latency.decoder_ms[t][e];
      ms += *std::min_element(row.begin(), row.end());
    }
    fastest = std::min(fastest, ms);
  }
  return fastest;
}

absl::Status NoConfiguration(const Planner& planner) {
  return absl::OutOfRangeError(absl::StrCat(
      "planner \"", planner.name(),
      "\" found no configuration within the budget (it considers only some "
      "configurations; a larger budget or another planner may)"));
}

}  // namespace

absl::StatusOr<ArchPlan> Admit(const Planner& planner,
                           const PlanningContext& context,
                           const PlanRequest& request, const LoadState& load) {
  if (!(std::isfinite(load.queue_wait_ms) && load.queue_wait_ms >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("load.queue_wait_ms: must be finite and >= 0, got ",
                     load.queue_wait_ms));
  }
  if (!(std::isfinite(load.latency_scale) && load.latency_scale > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("load.latency_scale: must be finite and > 0, got ",
                     load.latency_scale));
  }
  if (std::isnan(load.deadline_ms)) {
    return absl::InvalidArgumentError(
        "load.deadline_ms: must be a number (+infinity for no deadline)");
  }
  if (context.spec == nullptr || context.costs == nullptr ||
      context.quality == nullptr) {
    return absl::FailedPreconditionError(
        "planning context: spec, costs and quality are required");
  }
  SLIM_ASSIGN_OR_RETURN(PlanningInput input,
                        ResolvePlanRequest(context, request));
  const std::optional<Planner::Widths> best = planner.Choose(context, input);
  if (!best) return NoConfiguration(planner);
  if (std::isinf(load.deadline_ms)) {
    return PlanFromWidths(context, input, *best, planner.name());
  }
  if (load.deadline_ms <= 0) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "the deadline passed %.3f ms before planning", -load.deadline_ms));
  }
  if (context.latency == nullptr) {
    if (load.queue_wait_ms >= load.deadline_ms) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "overloaded: the predicted queue wait of %.3f ms reaches the "
          "deadline %.3f ms from now",
          load.queue_wait_ms, load.deadline_ms));
    }
    return PlanFromWidths(context, input, *best, planner.name());
  }

  ArchPlan plan = PlanFromWidths(context, input, *best, planner.name());
  const double scale = load.latency_scale;
  if (load.queue_wait_ms + plan.predicted_latency_ms * scale <=
      load.deadline_ms) {
    return plan;
  }
  // Degrade: the best plan predicted to finish in time.
  PlanningInput tight = input;
  tight.max_latency_ms = std::min(
      input.max_latency_ms, (load.deadline_ms - load.queue_wait_ms) / scale);
  if (tight.max_latency_ms > 0) {
    const std::optional<Planner::Widths> fits = planner.Choose(context, tight);
    if (fits) {
      ArchPlan degraded = PlanFromWidths(context, tight, *fits, planner.name());
      degraded.degraded =
          fits->encoder != best->encoder || fits->decoders != best->decoders;
      return degraded;
    }
  }
  // As the server runs now (scale), not as measured at start-up.
  const double fastest = FastestMs(*context.latency, input.tasks) * scale;
  if (fastest > load.deadline_ms) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "the deadline, %.3f ms from now, is shorter than the fastest "
        "configuration of the requested tasks (%.3f ms predicted at batch "
        "size %d)",
        load.deadline_ms, fastest, context.latency->batch_size));
  }
  return absl::ResourceExhaustedError(absl::StrFormat(
      "overloaded: predicted queue wait %.3f ms + the fastest configuration "
      "the planner \"%s\" allows within the budget exceeds the deadline "
      "%.3f ms from now (the fastest configuration alone takes %.3f ms)",
      load.queue_wait_ms, std::string(planner.name()), load.deadline_ms,
      fastest));
}

}  // namespace slimserve
