#include "engine/batching/batch_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace slimserve {

absl::Status ValidateBatchPolicyOptions(const BatchPolicyOptions& o) {
  if (o.max_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batch_size: must be >= 1, got ", o.max_batch_size));
  }
  if (o.max_queue_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queue_delay: must be >= 0, got ",
                     absl::FormatDuration(o.max_queue_delay)));
  }
  if (o.starvation_limit <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("starvation_limit: must be > 0, got ",
                     absl::FormatDuration(o.starvation_limit)));
  }
  return absl::OkStatus();
}

namespace {

struct Live {
  const PendingRequest* request;
  absl::Time due;  // effective deadline for ordering
};

bool Earlier(const Live& a, const Live& b) {
  if (a.due != b.due) return a.due < b.due;
  if (a.request->arrival != b.request->arrival) {
    return a.request->arrival < b.request->arrival;
  }
  return a.request->id < b.request->id;
}

}  // namespace

BatchDecision DecideNextBatch(const std::vector<QueueView>& queues,
                              absl::Time now,
                              const BatchPolicyOptions& options) {
  BatchDecision decision;
  struct Candidate {
    const QueueView* queue;
    std::vector<Live> live;  // sorted by Earlier
  };
  std::vector<Candidate> ready;
  for (const QueueView& q : queues) {
    Candidate c{&q, {}};
    const absl::Duration single = q.EstimatedCompute(1);
    for (const PendingRequest& r : q.requests) {
      if (r.cancelled) {
        decision.cancelled.push_back(r.id);
      } else if (r.deadline != absl::InfiniteFuture() &&
                 now + single > r.deadline) {
        decision.expired.push_back(r.id);
      } else {
        c.live.push_back(
            {&r, std::min(r.deadline, r.arrival + options.starvation_limit)});
      }
    }
    if (c.live.empty()) continue;
    std::stable_sort(c.live.begin(), c.live.end(), Earlier);

    const int n = std::min<int>(c.live.size(), options.max_batch_size);
    absl::Time oldest = absl::InfiniteFuture();
    absl::Time earliest_deadline = absl::InfiniteFuture();
    for (const Live& l : c.live) {
      oldest = std::min(oldest, l.request->arrival);
      earliest_deadline = std::min(earliest_deadline, l.request->deadline);
    }
    const absl::Time fill_by = oldest + options.max_queue_delay;
    // Latest start that still meets the most urgent deadline.
    const absl::Time must_start = earliest_deadline - q.EstimatedCompute(n);
    const bool full = static_cast<int>(c.live.size()) >= options.max_batch_size;
    const bool nothing_coming = options.adaptive_delay && q.incoming <= 0;
    if (full || nothing_coming || now >= fill_by || now >= must_start) {
      ready.push_back(std::move(c));
    } else {
      decision.wake_at = std::min({decision.wake_at, fill_by, must_start});
    }
  }
  if (ready.empty()) return decision;

  auto head_earlier = [](const Candidate& a, const Candidate& b) {
    const Live& x = a.live.front();
    const Live& y = b.live.front();
    if (x.due != y.due) return x.due < y.due;
    if (x.request->arrival != y.request->arrival) {
      return x.request->arrival < y.request->arrival;
    }
    return a.queue->encoder_width < b.queue->encoder_width;
  };
  const Candidate& best =
      *std::min_element(ready.begin(), ready.end(), head_earlier);
  decision.encoder_width = best.queue->encoder_width;
  // As many as fit, but never so many that the batch's own most urgent
  // member misses its deadline because of the members added after it (each
  // adds compute, and its decode and encoding): the largest k with
  // now + compute(k) <= the earliest deadline among the first k. The
  // deadline only tightens and the compute only grows with k, so the first
  // k that fails ends the search; k = 1 passed the expiry check above.
  const int n = std::min<int>(best.live.size(), options.max_batch_size);
  int k = 1;
  absl::Time tightest = best.live[0].request->deadline;
  while (k < n) {
    tightest = std::min(tightest, best.live[k].request->deadline);
    if (now + best.queue->EstimatedCompute(k + 1) > tightest) break;
    ++k;
  }
  for (int i = 0; i < k; ++i) decision.batch.push_back(best.live[i].request->id);
  decision.wake_at = now;  // more may be ready right away
  return decision;
}

}  // namespace slimserve
