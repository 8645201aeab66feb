#ifndef SLIMSERVE_ENGINE_BATCHING_BATCH_POLICY_H_
#define SLIMSERVE_ENGINE_BATCHING_BATCH_POLICY_H_

// The batching policy: which requests run together next. A pure function of
// the queues and the time; the executor threads around it are a thin shell
// (engine.cc), so every decision is tested here without threads or sleeps.
//
// There is one queue per encoder width: requests that share an encoder width
// share one encoder pass, whatever their decoder widths.
//
// Semantics, in the order they are applied:
//  1. Dropped before compute: requests the client cancelled, and requests
//     that can no longer finish by their deadline (now + the estimated
//     compute of a batch of one at their width is past the deadline).
//  2. A queue is ready when it holds max_batch_size requests, when its oldest
//     request has waited max_queue_delay, or when waiting longer would make
//     one of its requests miss its deadline (now + the estimated compute of
//     the batch it would run is at or past that deadline). With
//     adaptive_delay, also when no request of its width is on its way
//     (incoming == 0): nothing is coming to fill the batch, so waiting would
//     only add latency.
//  3. Among ready queues, earliest deadline first. A request without a
//     deadline (or with a far one) counts as due at arrival +
//     starvation_limit, so no width starves behind a stream of deadlines.
//     Ties: the older head request, then the narrower width.
//  4. The batch is the chosen queue's first max_batch_size requests by the
//     same effective deadline (then arrival), cut short where one more
//     request would make the compute end past the earliest deadline among
//     those taken (the rest run in the next batch).
//  5. When no queue is ready, the shell sleeps until wake_at (the earliest
//     moment a queue becomes ready or a request expires) or a new arrival.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace slimserve {

struct BatchPolicyOptions {
  // Most requests in one batch. REQUIRES >= 1.
  int max_batch_size = 8;
  // Longest a request waits for its batch to fill. 0: run whatever is queued
  // as soon as an executor is free. REQUIRES >= 0.
  absl::Duration max_queue_delay = absl::Milliseconds(2);
  // A request is treated as due this long after arrival even without a
  // deadline: the fairness bound across widths. REQUIRES > 0.
  absl::Duration starvation_limit = absl::Milliseconds(200);
  // Wait for a batch to fill only while requests of its width are on their
  // way (QueueView::incoming > 0). Off: always wait up to max_queue_delay.
  bool adaptive_delay = false;
};

absl::Status ValidateBatchPolicyOptions(const BatchPolicyOptions& options);

struct PendingRequest {
  uint64_t id = 0;
  absl::Time arrival;
  absl::Time deadline = absl::InfiniteFuture();
  bool cancelled = false;
};

// One encoder width's queue, in arrival order.
struct QueueView {
  int encoder_width = 0;
  std::vector<PendingRequest> requests;
  // Requests of this width admitted and not queued yet (being
  // pre-processed): more are coming. Read only with adaptive_delay.
  int incoming = 0;
  // Estimated compute of a batch of b requests at this width:
  // fixed + per_item * b. Zero when unknown (then deadlines only drop
  // requests whose deadline has passed).
  absl::Duration compute_fixed;
  absl::Duration compute_per_item;
  absl::Duration EstimatedCompute(int batch) const {
    return compute_fixed + compute_per_item * batch;
  }
};

struct BatchDecision {
  // To answer CANCELLED / DEADLINE_EXCEEDED and remove from their queues.
  std::vector<uint64_t> cancelled;
  std::vector<uint64_t> expired;
  // The batch to run now, all of width `encoder_width`; empty when none.
  int encoder_width = -1;
  std::vector<uint64_t> batch;
  // When nothing runs: re-decide at this time at the latest (InfiniteFuture
  // if every queue is empty).
  absl::Time wake_at = absl::InfiniteFuture();
};

BatchDecision DecideNextBatch(const std::vector<QueueView>& queues,
                              absl::Time now,
                              const BatchPolicyOptions& options);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_BATCHING_BATCH_POLICY_H_
