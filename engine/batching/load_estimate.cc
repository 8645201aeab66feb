#include "engine/batching/load_estimate.h"

#include <algorithm>

namespace slimserve {

ComputeEstimate::ComputeEstimate(const BatchLatencyModel* model,
                                 int num_encoder_widths)
    : model_(model), per_item_(num_encoder_widths, absl::ZeroDuration()) {}

absl::Duration ComputeEstimate::Batch(
    int we, const std::vector<const BatchItem*>& items) const {
  if (model_ == nullptr) {
    return per_item_[we] * static_cast<int64_t>(items.size());
  }
  return absl::Milliseconds(model_->BatchMs(we, items) * scale_);
}

void ComputeEstimate::QueueLine(int we,
                                const std::vector<const BatchItem*>& items,
                                absl::Duration* fixed,
                                absl::Duration* per_item) const {
  if (model_ == nullptr) {
    *fixed = absl::ZeroDuration();
    *per_item = per_item_[we];
    return;
  }
  const LinearMs line = model_->QueueModel(we, items);
  *fixed = absl::Milliseconds(line.fixed * scale_);
  *per_item = absl::Milliseconds(line.per_item * scale_);
}

void ComputeEstimate::Observe(int we,
                              const std::vector<const BatchItem*>& items,
                              absl::Duration measured) {
  if (items.empty()) return;
  if (model_ != nullptr) {
    const double predicted = model_->BatchMs(we, items);
    if (predicted <= 0) return;
    const double ratio = std::clamp(
        absl::ToDoubleMilliseconds(measured) / predicted, kMinRatio, kMaxRatio);
    scale_ = (1 - kAlpha) * scale_ + kAlpha * ratio;
    return;
  }
  absl::Duration& e = per_item_[we];
  const absl::Duration sample = measured / static_cast<int64_t>(items.size());
  e = e == absl::ZeroDuration() ? sample : e * (1 - kAlpha) + sample * kAlpha;
}

absl::Duration EstimateQueueWait(const QueueState& state, absl::Time now,
                                 const ComputeEstimate& compute,
                                 int max_batch_size, int num_executors) {
  absl::Duration ahead;
  for (absl::Time until : state.running_until) {
    ahead += std::max(absl::ZeroDuration(), until - now);
  }
  std::vector<const BatchItem*> chunk;
  for (size_t we = 0; we < state.queued.size(); ++we) {
    const std::vector<const BatchItem*>& items = state.queued[we];
    for (size_t i = 0; i < items.size(); ++i) {
      chunk.push_back(items[i]);
      if (static_cast<int>(chunk.size()) == max_batch_size ||
          i + 1 == items.size()) {
        ahead += compute.Batch(static_cast<int>(we), chunk);
        chunk.clear();
      }
    }
  }
  return ahead / num_executors;
}

}  // namespace slimserve
