#include "engine/stages/stage_pool.h"

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "base/fake_clock.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

constexpr auto kStart = StagePool::Priority::kStart;
constexpr auto kFinish = StagePool::Priority::kFinish;

class StagePoolTest : public ::testing::Test {
 protected:
  void Start(int threads) {
    StagePool::Options options;
    options.num_threads = threads;
    options.clock = &clock_;
    auto pool = StagePool::Create(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
  }
  // A job that records its name.
  absl::AnyInvocable<void()> Record(std::string name) {
    return [this, name] {
      absl::MutexLock lock(&mu_);
      order_.push_back(name);
    };
  }
  std::vector<std::string> order() {
    absl::MutexLock lock(&mu_);
    return order_;
  }
  // Occupies one thread until `release` is notified.
  void Block(absl::Notification* started, absl::Notification* release) {
    pool_->Submit(StagePool::Priority::kStart, absl::ZeroDuration(),
                  [started, release] {
      started->Notify();
      release->WaitForNotification();
    });
    started->WaitForNotification();
  }

  FakeClock clock_;
  absl::Mutex mu_;
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<StagePool> pool_;  // destroyed first
};

// The order is estimated completion: a small job submitted after a large
// one passes it; a job submitted after the large one's estimated
// completion does not.
TEST_F(StagePoolTest, SmallJobsPassLargeOnesButNeverStarveThem) {
  Start(1);
  absl::Notification started, release;
  Block(&started, &release);
  pool_->Submit(kStart, absl::Milliseconds(100), Record("large"));
  clock_.Advance(absl::Milliseconds(1));
  pool_->Submit(kStart, absl::Milliseconds(1), Record("small"));
  clock_.Advance(absl::Milliseconds(199));
  pool_->Submit(kStart, absl::Milliseconds(1), Record("later small"));
  EXPECT_EQ(pool_->pending(), 4);
  EXPECT_EQ(pool_->Backlog(), absl::Milliseconds(102));
  release.Notify();
  pool_->Shutdown();
  EXPECT_EQ(order(),
            (std::vector<std::string>{"small", "large", "later small"}));
  EXPECT_EQ(pool_->Backlog(), absl::ZeroDuration());
}

// A request whose compute is done waits for nobody's decode.
TEST_F(StagePoolTest, FinishingWorkGoesFirst) {
  Start(1);
  absl::Notification started, release;
  Block(&started, &release);
  pool_->Submit(kStart, absl::ZeroDuration(), Record("decode"));
  clock_.Advance(absl::Seconds(1));
  pool_->Submit(kFinish, absl::Milliseconds(50), Record("encode"));
  release.Notify();
  pool_->Shutdown();
  EXPECT_EQ(order(), (std::vector<std::string>{"encode", "decode"}));
}

TEST_F(StagePoolTest, EqualEstimatesRunInSubmissionOrder) {
  Start(1);
  absl::Notification started, release;
  Block(&started, &release);
  for (const char* name : {"a", "b", "c"}) {
    pool_->Submit(kStart, absl::Milliseconds(5), Record(name));
  }
  release.Notify();
  pool_->Shutdown();
  EXPECT_EQ(order(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(StagePoolTest, ALargeJobHoldsOnlyOneThread) {
  Start(2);
  absl::Notification started, release;
  Block(&started, &release);  // the "large image" on one thread
  absl::Notification small_done;
  pool_->Submit(kStart, absl::Milliseconds(1), [&] { small_done.Notify(); });
  small_done.WaitForNotification();  // ran on the other thread
  release.Notify();
  pool_->Shutdown();  // before the notifications go
}

TEST_F(StagePoolTest, AfterShutdownJobsRunOnTheCaller) {
  Start(1);
  pool_->Shutdown();
  bool ran = false;
  pool_->Submit(kStart, absl::ZeroDuration(), [&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(StagePoolCreateTest, OptionsAreChecked) {
  StagePool::Options options;
  options.num_threads = 0;
  EXPECT_NE(StagePool::Create(options).status().message().find("num_threads"),
            std::string::npos);
  options.num_threads = 1;
  options.clock = nullptr;
  EXPECT_EQ(StagePool::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace slimserve
