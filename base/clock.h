#ifndef SLIMSERVE_BASE_CLOCK_H_
#define SLIMSERVE_BASE_CLOCK_H_

// Time as the engine sees it. Everything that reads the time or waits for it
// (the scheduler's batching window, deadlines, measured durations) goes
// through a Clock, so tests drive time with FakeClock (base/fake_clock.h)
// instead of sleeping.
//
// Thread-safety: every method may be called from any thread.

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace slimserve {

class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() const = 0;

  // REQUIRES: the caller holds `mu`. Waits until `cond` holds or Now()
  // reaches `deadline` (InfiniteFuture(): no limit), with `mu` released
  // while waiting, as absl::Mutex::AwaitWithDeadline. `mu` is held again on
  // return; an implementation may release and re-acquire it before waiting,
  // so callers re-read what `mu` guards afterwards. Returns `cond`'s value.
  virtual bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                 absl::Time deadline) = 0;

  // Returns once Now() has advanced by `d`.
  virtual void SleepFor(absl::Duration d) = 0;
};

// The system clock (absl::Now). Process-wide; never destroyed.
Clock* RealClock();

}  // namespace slimserve

#endif  // SLIMSERVE_BASE_CLOCK_H_
