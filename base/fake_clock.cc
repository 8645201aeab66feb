#include "base/fake_clock.h"

#include <vector>

namespace slimserve {

FakeClock::FakeClock(absl::Time start)
    : now_ns_(absl::ToUnixNanos(start)) {}

absl::Time FakeClock::Now() const {
  return absl::FromUnixNanos(now_ns_.load(std::memory_order_acquire));
}

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  if (d > absl::ZeroDuration()) {
    now_ns_.store(now_ns_.load() + absl::ToInt64Nanoseconds(d),
                  std::memory_order_release);
  }
  // Releasing a waiter's mutex makes absl re-evaluate its condition, which
  // reads the new time. A waiter unregisters under mu_, so every mutex here
  // is alive while we hold mu_.
  for (Waiter* w : waiters_) {
    w->mu->Lock();
    w->mu->Unlock();
  }
}

void FakeClock::Register(Waiter* w) {
  absl::MutexLock lock(&mu_);
  waiters_.insert(w);
}

void FakeClock::Unregister(Waiter* w) {
  absl::MutexLock lock(&mu_);
  waiters_.erase(w);
}

bool FakeClock::AwaitWithDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                  absl::Time deadline) {
  if (cond.Eval()) return true;
  if (Now() >= deadline) return false;
  Waiter w{mu, deadline};
  mu->Unlock();
  Register(&w);
  mu->Lock();
  const int64_t deadline_ns = deadline == absl::InfiniteFuture()
                                  ? INT64_MAX
                                  : absl::ToUnixNanos(deadline);
  auto done = [&] {
    return cond.Eval() ||
           now_ns_.load(std::memory_order_acquire) >= deadline_ns;
  };
  mu->Await(absl::Condition(&done));
  mu->Unlock();
  Unregister(&w);
  mu->Lock();
  return cond.Eval();
}

void FakeClock::SleepFor(absl::Duration d) {
  static const bool kNever = false;
  absl::Mutex sleep_mu;
  absl::MutexLock lock(&sleep_mu);
  AwaitWithDeadline(&sleep_mu, absl::Condition(&kNever), Now() + d);
}

int FakeClock::NumWaiting() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(waiters_.size());
}

void FakeClock::BlockUntilWaiting(int n, absl::Time deadline) const {
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int count = 0;
    for (const Waiter* w : waiters_) count += w->deadline <= deadline;
    return count >= n;
  };
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&enough));
}

}  // namespace slimserve
