#ifndef SLIMSERVE_ENGINE_BATCHING_LATENESS_H_
#define SLIMSERVE_ENGINE_BATCHING_LATENESS_H_

// How late admitted requests end against what admission predicted for them,
// so that admission can leave that much room.
//
// Admission predicts when a request will be done: its queue wait, its
// compute and its post-processing, each from measurements. Under overload
// those estimates miss what they do not model (the network and the stage
// threads sharing cores, batch-mates arriving later, the client's own load),
// and requests admitted as "in time" expire. Recording each admitted
// request's lateness (end - predicted end; a request dropped at its deadline
// is recorded when dropped) and adding a high quantile of the recent ones to
// the predicted wait turns those expiries into refusals at admission, which
// cost nothing. On an idle or well-predicted server the quantile is about 0.
//
// Pure bookkeeping, no clock. Thread-safe.

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace slimserve {

class LatenessTracker {
 public:
  struct Options {
    // Recent requests kept, >= 1.
    int window = 256;
    // The margin is this quantile of their lateness, in [0, 1]; 0 turns the
    // margin off (always zero).
    double quantile = 0.98;
    // The margin is recomputed after this many new records, >= 1.
    int refresh_every = 16;
  };

  // INVALID_ARGUMENT naming the option out of range.
  static absl::StatusOr<LatenessTracker> Create(const Options& options);

  LatenessTracker(LatenessTracker&& other);

  // One admitted request ended (or was dropped) `lateness` after (negative:
  // before) its predicted end.
  void Record(absl::Duration lateness);

  // Room to leave: the quantile of the recorded lateness, never negative;
  // zero before `window` / 4 records (too few to say).
  absl::Duration Margin() const;

 private:
  explicit LatenessTracker(const Options& options);

  const Options options_;
  mutable absl::Mutex mu_;
  std::vector<double> ms_ ABSL_GUARDED_BY(mu_);  // a ring of window entries
  int64_t recorded_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration margin_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_BATCHING_LATENESS_H_
