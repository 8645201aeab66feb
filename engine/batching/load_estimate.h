#ifndef SLIMSERVE_ENGINE_BATCHING_LOAD_ESTIMATE_H_
#define SLIMSERVE_ENGINE_BATCHING_LOAD_ESTIMATE_H_

// The scheduler's predictions of network compute, and the queue wait
// admission plans with. Pure logic (no threads, no clock): the scheduler
// (scheduler.h) holds a ComputeEstimate under its lock and passes it the
// state of its queues.
//
// Only network compute is counted here: pre- and post-processing run in
// their own stage (engine/stages), whose backlog the engine adds itself.

#include <vector>

#include "absl/time/time.h"
#include "engine/batching/batch_cost_model.h"

namespace slimserve {

// Network compute of batches, as the scheduler predicts it now.
//  - With a batch cost model (latency measured at start-up): the model's
//    prediction times `scale`, an exponential moving average of measured /
//    predicted compute of the batches that ran. It tracks what the start-up
//    measurement could not see (other processes on the cores, caches,
//    clock changes).
//  - Without one: per encoder width, a moving average of the compute per
//    request, learnt from the batches that ran (zero until one has).
class ComputeEstimate {
 public:
  // `model`: borrowed, may be null; outlives this.
  ComputeEstimate(const BatchLatencyModel* model, int num_encoder_widths);

  // Compute of one batch of `items` at encoder width `we`.
  absl::Duration Batch(int we, const std::vector<const BatchItem*>& items) const;
  // The batching policy's view of a queue holding `items`: compute of a
  // batch of b of them = *fixed + *per_item * b (BatchLatencyModel::QueueModel).
  void QueueLine(int we, const std::vector<const BatchItem*>& items,
                 absl::Duration* fixed, absl::Duration* per_item) const;

  // Learns from a batch that took `measured`.
  void Observe(int we, const std::vector<const BatchItem*>& items,
               absl::Duration measured);

  // Measured / predicted (1 without a model): admission multiplies the
  // latency table's predictions by it.
  double scale() const { return scale_; }

 private:
  // Weight of the newest batch.
  static constexpr double kAlpha = 0.2;
  // A ratio beyond these is a glitch (a preempted thread), not the machine.
  static constexpr double kMinRatio = 0.2;
  static constexpr double kMaxRatio = 10.0;

  const BatchLatencyModel* const model_;
  double scale_ = 1.0;
  std::vector<absl::Duration> per_item_;  // [we], without a model
};

// The queues as the load estimate sees them.
struct QueueState {
  // Predicted end of each batch running now.
  std::vector<absl::Time> running_until;
  // Queued requests' widths per encoder width index, in queue order.
  std::vector<std::vector<const BatchItem*>> queued;
};

// Time from `now` until a request enqueued now would start computing: what
// is left of the batches running now plus the queued requests' compute (in
// batches of at most max_batch_size per width), spread over the executors.
// An estimate: it assumes the executors share the work evenly and that the
// request joins no batch ahead of it. REQUIRES: max_batch_size >= 1,
// num_executors >= 1.
absl::Duration EstimateQueueWait(const QueueState& state, absl::Time now,
                                 const ComputeEstimate& compute,
                                 int max_batch_size, int num_executors);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_BATCHING_LOAD_ESTIMATE_H_
