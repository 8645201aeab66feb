#ifndef SLIMSERVE_BASE_FAKE_CLOCK_H_
#define SLIMSERVE_BASE_FAKE_CLOCK_H_

// A Clock that moves only when told to, for tests: waits with a deadline end
// when Advance() reaches it, so batching windows and deadlines are tested
// step by step without sleeping, and a test can wait until the code under
// test is blocked on the clock (BlockUntilWaiting) before it advances.
//
//   FakeClock clock;
//   ... start a thread that waits until clock.Now() + 2ms ...
//   clock.BlockUntilWaiting(1, clock.Now() + absl::Milliseconds(2));
//   EXPECT_FALSE(done.HasBeenNotified());
//   clock.Advance(absl::Milliseconds(2));
//   done.WaitForNotification();
//
// Thread-safety: every method may be called from any thread.

#include <atomic>
#include <cstdint>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/clock.h"

namespace slimserve {

class FakeClock final : public Clock {
 public:
  // Starts at `start` (a fixed, arbitrary instant by default).
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'000'000'000));

  absl::Time Now() const override;
  // Moves the time forward by `d` (>= 0) and wakes the waits it ends.
  void Advance(absl::Duration d);

  // Clock: the wait ends when `cond` holds (re-evaluated whenever `mu` is
  // released, as with absl::Mutex) or when Advance() reaches `deadline`.
  // Releases `mu` briefly before and after waiting (allowed by Clock).
  bool AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                         absl::Time deadline) override;
  // Returns when Advance() has moved the time past Now() + d.
  void SleepFor(absl::Duration d) override;

  // Threads waiting on this clock now (in AwaitWithDeadline or SleepFor).
  int NumWaiting() const;
  // Blocks until at least `n` threads wait on this clock with a deadline at
  // or before `deadline` (InfiniteFuture(): any wait counts).
  void BlockUntilWaiting(int n,
                         absl::Time deadline = absl::InfiniteFuture()) const;

 private:
  struct Waiter {
    absl::Mutex* mu;  // the waiter's mutex, poked by Advance
    absl::Time deadline;
  };

  void Register(Waiter* w);
  void Unregister(Waiter* w);

  // Lock order: mu_ before a waiter's mutex; a waiter never holds its mutex
  // while it takes mu_ (hence the release in AwaitWithDeadline).
  mutable absl::Mutex mu_;
  // Nanoseconds since the Unix epoch. Monotonic. Written under mu_; also
  // read without it inside a waiter's condition (hence atomic).
  std::atomic<int64_t> now_ns_;
  std::set<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slimserve

#endif  // SLIMSERVE_BASE_FAKE_CLOCK_H_
