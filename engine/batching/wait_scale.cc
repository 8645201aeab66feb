#include "engine/batching/wait_scale.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace slimserve {
namespace {

// Keeps waits of a few milliseconds (a batch-mate's decode) from making
// ratios of hundreds.
constexpr double kFloorMs = 10;

}  // namespace

absl::StatusOr<WaitScale> WaitScale::Create(const Options& o) {
  if (o.window < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("window: must be >= 1, got ", o.window));
  }
  if (!(o.quantile >= 0 && o.quantile <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantile: must be in [0, 1], got ", o.quantile));
  }
  if (o.refresh_every < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("refresh_every: must be >= 1, got ", o.refresh_every));
  }
  if (!(o.min_scale > 0 && o.min_scale <= 1 && o.max_scale >= 1 &&
        std::isfinite(o.max_scale))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "min_scale, max_scale: must be 0 < min_scale <= 1 <= max_scale, got ",
        o.min_scale, ", ", o.max_scale));
  }
  return WaitScale(o);
}

WaitScale::WaitScale(const Options& options) : options_(options) {
  ratios_.reserve(options.window);
}

WaitScale::WaitScale(WaitScale&& other) : options_(other.options_) {
  absl::MutexLock lock(&other.mu_);
  ratios_ = std::move(other.ratios_);
  recorded_ = other.recorded_;
  scale_ = other.scale_;
}

void WaitScale::Record(absl::Duration predicted, absl::Duration waited) {
  if (options_.quantile == 0) return;
  const double ratio =
      (std::max(0.0, absl::ToDoubleMilliseconds(waited)) + kFloorMs) /
      (std::max(0.0, absl::ToDoubleMilliseconds(predicted)) + kFloorMs);
  if (!std::isfinite(ratio)) return;
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(ratios_.size()) < options_.window) {
    ratios_.push_back(ratio);
  } else {
    ratios_[recorded_ % options_.window] = ratio;
  }
  ++recorded_;
  if (recorded_ % options_.refresh_every != 0) return;
  if (static_cast<int>(ratios_.size()) * 4 < options_.window) return;
  std::vector<double> sorted = ratios_;
  const size_t k = std::min(
      sorted.size() - 1,
      static_cast<size_t>(std::ceil(options_.quantile * sorted.size())) - 1);
  std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
  scale_ = std::clamp(sorted[k], options_.min_scale, options_.max_scale);
}

double WaitScale::Scale() const {
  absl::MutexLock lock(&mu_);
  return scale_;
}

}  // namespace slimserve
