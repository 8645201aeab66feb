#ifndef SLIMSERVE_ENGINE_BATCHING_WAIT_SCALE_H_
#define SLIMSERVE_ENGINE_BATCHING_WAIT_SCALE_H_

// How long admitted requests really waited for compute, against what
// admission predicted, as a factor admission applies to its next
// predictions.
//
// Admission predicts a request's wait from the executors' queue and the
// stage pool's backlog, each measured. On a CPU server both share the same
// cores (and the gRPC threads, and often the client), so under overload the
// prediction is short by a factor the model cannot see; requests admitted
// "in time" then expire in the queue (measured: half of them at twice the
// capacity). Recording, for each request, (waited + f) / (predicted + f)
// (f = 10 ms keeps tiny waits from making huge ratios) and scaling the next
// predictions by a high quantile (the largest, by default) of the recent
// ratios turns those expiries
// into refusals at admission, which cost nothing. A request dropped at its
// deadline before compute is recorded with what it had waited by then, a
// lower bound.
//
// A factor, not a margin, so it cannot lock the server out: when the queue
// is empty the prediction is ~0 whatever the factor, requests are admitted,
// and their waits bring the factor back down.
//
// Pure bookkeeping, no clock. Thread-safe.

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace slimserve {

class WaitScale {
 public:
  struct Options {
    // Recent requests kept, >= 1.
    int window = 256;
    // Scale() is this quantile of their ratios, in [0, 1]; 0 turns it off
    // (always 1). 1, the largest: at twice the capacity, 0.95 / 0.98 / 0.99
    // / 0.995 / 1 let 4.2 / 3.6 / 2.2 / 1.7 / 0.9% of the requests expire
    // after admission (RELIABILITY.md); one outlier moves it for at most a
    // window, within max_scale.
    double quantile = 1.0;
    // Recomputed after this many new records, >= 1.
    int refresh_every = 16;
    // The factor stays in [min_scale, max_scale], 0 < min <= 1 <= max.
    double min_scale = 0.5;
    double max_scale = 10;
  };

  // INVALID_ARGUMENT naming the option out of range.
  static absl::StatusOr<WaitScale> Create(const Options& options);

  WaitScale(WaitScale&& other);

  // A request predicted to wait `predicted` waited `waited` (until its
  // batch started, or until it was dropped).
  void Record(absl::Duration predicted, absl::Duration waited);

  // The factor for the next predictions; 1 before window / 4 records.
  double Scale() const;

 private:
  explicit WaitScale(const Options& options);

  const Options options_;
  mutable absl::Mutex mu_;
  std::vector<double> ratios_ ABSL_GUARDED_BY(mu_);  // a ring of window
  int64_t recorded_ ABSL_GUARDED_BY(mu_) = 0;
  double scale_ ABSL_GUARDED_BY(mu_) = 1.0;
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_BATCHING_WAIT_SCALE_H_
