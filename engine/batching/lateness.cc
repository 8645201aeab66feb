#include "engine/batching/lateness.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace slimserve {

absl::StatusOr<LatenessTracker> LatenessTracker::Create(const Options& o) {
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
  return LatenessTracker(o);
}

LatenessTracker::LatenessTracker(const Options& options) : options_(options) {
  ms_.reserve(options.window);
}

LatenessTracker::LatenessTracker(LatenessTracker&& other)
    : options_(other.options_) {
  absl::MutexLock lock(&other.mu_);
  ms_ = std::move(other.ms_);
  recorded_ = other.recorded_;
  margin_ = other.margin_;
}

void LatenessTracker::Record(absl::Duration lateness) {
  if (options_.quantile == 0) return;
  const double ms = absl::ToDoubleMilliseconds(lateness);
  if (!std::isfinite(ms)) return;
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(ms_.size()) < options_.window) {
    ms_.push_back(ms);
  } else {
    ms_[recorded_ % options_.window] = ms;
  }
  ++recorded_;
  if (recorded_ % options_.refresh_every != 0) return;
  if (static_cast<int>(ms_.size()) * 4 < options_.window) return;
  std::vector<double> sorted = ms_;
  const size_t k = std::min(
      sorted.size() - 1,
      static_cast<size_t>(std::ceil(options_.quantile * sorted.size())) - 1);
  std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
  margin_ = absl::Milliseconds(std::max(0.0, sorted[k]));
}

absl::Duration LatenessTracker::Margin() const {
  absl::MutexLock lock(&mu_);
  return margin_;
}

}  // namespace slimserve
