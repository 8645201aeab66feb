#include "base/fake_clock.h"

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

TEST(FakeClockTest, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(absl::Milliseconds(3));
  EXPECT_EQ(clock.Now(), start + absl::Milliseconds(3));
  clock.Advance(-absl::Seconds(1));  // never backwards
  EXPECT_EQ(clock.Now(), start + absl::Milliseconds(3));
}

TEST(FakeClockTest, AwaitEndsAtTheDeadline) {
  FakeClock clock;
  const absl::Time deadline = clock.Now() + absl::Milliseconds(2);
  absl::Mutex mu;
  bool flag = false;
  bool result = true;
  absl::Notification done;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(&mu, absl::Condition(&flag), deadline);
    done.Notify();
  });
  clock.BlockUntilWaiting(1, deadline);
  clock.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(done.HasBeenNotified());  // still waiting: 1 ms to go
  EXPECT_EQ(clock.NumWaiting(), 1);
  clock.Advance(absl::Milliseconds(1));
  done.WaitForNotification();
  EXPECT_FALSE(result);
  waiter.join();
  EXPECT_EQ(clock.NumWaiting(), 0);
}

TEST(FakeClockTest, AwaitEndsWhenTheConditionHolds) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  bool result = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithDeadline(&mu, absl::Condition(&flag),
                                     absl::InfiniteFuture());
  });
  clock.BlockUntilWaiting(1);
  {
    absl::MutexLock lock(&mu);
    flag = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
}

TEST(FakeClockTest, BlockUntilWaitingCountsOnlyEarlierDeadlines) {
  FakeClock clock;
  absl::Notification slept;
  std::thread sleeper([&] {
    clock.SleepFor(absl::Seconds(10));
    slept.Notify();
  });
  clock.BlockUntilWaiting(1, clock.Now() + absl::Seconds(10));
  EXPECT_EQ(clock.NumWaiting(), 1);
  clock.Advance(absl::Seconds(9));
  EXPECT_FALSE(slept.HasBeenNotified());
  clock.Advance(absl::Seconds(1));
  slept.WaitForNotification();
  sleeper.join();
}

TEST(FakeClockTest, PassedDeadlineDoesNotWait) {
  FakeClock clock;
  absl::Mutex mu;
  bool flag = false;
  absl::MutexLock lock(&mu);
  EXPECT_FALSE(
      clock.AwaitWithDeadline(&mu, absl::Condition(&flag), clock.Now()));
  EXPECT_EQ(clock.NumWaiting(), 0);
}

}  // namespace
}  // namespace slimserve
