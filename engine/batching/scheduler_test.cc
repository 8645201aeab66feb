// The scheduler shell on a FakeClock: what reaches `run` and `drop`, and
// when. The policy's decisions themselves are tested table by table in
// batch_policy_test; here, that the shell applies them, wakes when it
// should, and learns from the batches it ran.

#include "engine/batching/scheduler.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "base/fake_clock.h"
#include "engine/model/latency_testing.h"
#include "engine/model/spec.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

struct TestTask : Scheduler::Task {
  int label = 0;
};

// Records what the scheduler hands over. `run` can be held, so that a test
// keeps an executor busy, and takes `compute` of fake time.
class Recorder {
 public:
  explicit Recorder(FakeClock* clock) : clock_(clock) {}

  Scheduler::RunFn Run() {
    return [this](Scheduler::Batch batch) {
      absl::Duration compute;
      {
        absl::MutexLock lock(&mu_);
        std::vector<int> labels;
        for (const auto& t : batch.tasks) {
          labels.push_back(static_cast<const TestTask&>(*t).label);
        }
        batches_.push_back(labels);
        widths_.push_back(batch.encoder_width);
        mu_.Await(absl::Condition(+[](bool* hold) { return !*hold; }, &hold_));
        compute = compute_;
      }
      clock_->Advance(compute);
    };
  }
  Scheduler::DropFn Drop() {
    return [this](std::unique_ptr<Scheduler::Task> t, absl::Status why) {
      absl::MutexLock lock(&mu_);
      dropped_.push_back({static_cast<const TestTask&>(*t).label, why.code()});
    };
  }

  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    hold_ = false;
  }
  void set_compute(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    compute_ = d;
  }
  // Blocks until `n` batches and drops in all have been handed over.
  void BlockUntil(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(batches_.size() + dropped_.size()) >= n;
    };
    mu_.Await(absl::Condition(&enough));
  }
  std::vector<std::vector<int>> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  std::vector<int> widths() {
    absl::MutexLock lock(&mu_);
    return widths_;
  }
  std::vector<std::pair<int, absl::StatusCode>> dropped() {
    absl::MutexLock lock(&mu_);
    return dropped_;
  }

 private:
  FakeClock* const clock_;
  absl::Mutex mu_;
  std::vector<std::vector<int>> batches_ ABSL_GUARDED_BY(mu_);
  std::vector<int> widths_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<int, absl::StatusCode>> dropped_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration compute_ ABSL_GUARDED_BY(mu_);
};

class SchedulerTest : public ::testing::Test {
 protected:
  void Start(Scheduler::Options options) {
    options.clock = &clock_;
    if (options.num_encoder_widths == 1) options.num_encoder_widths = 4;
    auto s = Scheduler::Create(options, recorder_.Run(), recorder_.Drop());
    ASSERT_TRUE(s.ok()) << s.status();
    scheduler_ = *std::move(s);
  }

  absl::Status Enqueue(int label, int width,
                       absl::Time deadline = absl::InfiniteFuture(),
                       std::shared_ptr<std::atomic<bool>> cancelled = nullptr,
                       bool announced = false) {
    auto task = std::make_unique<TestTask>();
    task->label = label;
    task->encoder_width = width;
    task->widths = {{0, 1}, {width, width}};
    task->deadline = deadline;
    task->cancelled = std::move(cancelled);
    task->announced = announced;
    std::unique_ptr<Scheduler::Task> t = std::move(task);
    return scheduler_->Enqueue(&t);
  }

  static Scheduler::Options Policy(int max_batch, absl::Duration delay) {
    Scheduler::Options o;
    o.policy.max_batch_size = max_batch;
    o.policy.max_queue_delay = delay;
    return o;
  }

  FakeClock clock_;
  Recorder recorder_{&clock_};
  std::unique_ptr<Scheduler> scheduler_;  // destroyed first
};

TEST_F(SchedulerTest, AFullQueueRunsAtOnce) {
  Start(Policy(3, absl::Seconds(1)));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Enqueue(i, 2).ok());
  recorder_.BlockUntil(1);
  EXPECT_EQ(recorder_.batches(), (std::vector<std::vector<int>>{{0, 1, 2}}));
  EXPECT_EQ(recorder_.widths(), (std::vector<int>{2}));
}

TEST_F(SchedulerTest, APartialBatchWaitsForItsWindowOnTheClock) {
  Start(Policy(8, absl::Milliseconds(2)));
  const absl::Time start = clock_.Now();
  ASSERT_TRUE(Enqueue(7, 1).ok());
  clock_.BlockUntilWaiting(1, start + absl::Milliseconds(2));
  clock_.Advance(absl::Microseconds(1999));
  EXPECT_TRUE(recorder_.batches().empty());
  clock_.Advance(absl::Microseconds(1));
  recorder_.BlockUntil(1);
  EXPECT_EQ(recorder_.batches(), (std::vector<std::vector<int>>{{7}}));
}

TEST_F(SchedulerTest, AdaptiveDelayWaitsOnlyForAnnouncedRequests) {
  Scheduler::Options options = Policy(8, absl::Milliseconds(2));
  options.policy.adaptive_delay = true;
  Start(options);
  // Nothing announced: runs at once, no clock movement needed.
  ASSERT_TRUE(Enqueue(0, 1).ok());
  recorder_.BlockUntil(1);
  // Two announced: the first waits for the second, which completes it.
  scheduler_->Announce(1);
  scheduler_->Announce(1);
  EXPECT_EQ(scheduler_->CurrentLoad().incoming, 2);
  ASSERT_TRUE(Enqueue(1, 1, absl::InfiniteFuture(), nullptr, true).ok());
  const absl::Time now = clock_.Now();
  clock_.BlockUntilWaiting(1, now + absl::Milliseconds(2));
  EXPECT_EQ(recorder_.batches().size(), 1u);
  ASSERT_TRUE(Enqueue(2, 1, absl::InfiniteFuture(), nullptr, true).ok());
  recorder_.BlockUntil(2);
  EXPECT_EQ(recorder_.batches()[1], (std::vector<int>{1, 2}));
  // One announced that never comes: Withdraw releases the waiting batch.
  scheduler_->Announce(1);
  scheduler_->Announce(1);
  ASSERT_TRUE(Enqueue(3, 1, absl::InfiniteFuture(), nullptr, true).ok());
  clock_.BlockUntilWaiting(1, now + absl::Milliseconds(2));
  scheduler_->Withdraw(1);
  recorder_.BlockUntil(3);
  EXPECT_EQ(recorder_.batches()[2], (std::vector<int>{3}));
  EXPECT_EQ(scheduler_->CurrentLoad().incoming, 0);
}

TEST_F(SchedulerTest, WidthsNeverShareABatch) {
  Start(Policy(4, absl::Milliseconds(2)));
  const absl::Time start = clock_.Now();
  ASSERT_TRUE(Enqueue(0, 0).ok());
  ASSERT_TRUE(Enqueue(1, 3).ok());
  ASSERT_TRUE(Enqueue(2, 0).ok());
  clock_.BlockUntilWaiting(1, start + absl::Milliseconds(2));
  clock_.Advance(absl::Milliseconds(2));
  recorder_.BlockUntil(2);
  // Both windows end together, and the heads are as old: the narrower
  // width goes first (batch_policy.h, rule 3).
  EXPECT_EQ(recorder_.batches(),
            (std::vector<std::vector<int>>{{0, 2}, {1}}));
  EXPECT_EQ(recorder_.widths(), (std::vector<int>{0, 3}));
}

TEST_F(SchedulerTest, CancelledAndExpiredTasksAreDroppedNotRun) {
  Start(Policy(1, absl::ZeroDuration()));
  recorder_.Hold();
  ASSERT_TRUE(Enqueue(0, 1).ok());  // occupies the executor
  recorder_.BlockUntil(1);
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(Enqueue(1, 1, absl::InfiniteFuture(), cancelled).ok());
  ASSERT_TRUE(Enqueue(2, 1, clock_.Now() + absl::Milliseconds(5)).ok());
  ASSERT_TRUE(Enqueue(3, 1).ok());
  cancelled->store(true);
  clock_.Advance(absl::Milliseconds(6));  // task 2's deadline passes
  recorder_.Release();
  recorder_.BlockUntil(4);
  EXPECT_EQ(recorder_.batches(), (std::vector<std::vector<int>>{{0}, {3}}));
  const auto dropped = recorder_.dropped();
  ASSERT_EQ(dropped.size(), 2u);
  EXPECT_EQ(dropped[0], std::make_pair(1, absl::StatusCode::kCancelled));
  EXPECT_EQ(dropped[1], std::make_pair(2, absl::StatusCode::kDeadlineExceeded));
}

TEST_F(SchedulerTest, TheLoadCountsRunningAndQueuedWork) {
  const v1::ModelSpec spec = TinyModelSpec();
  const LatencyProfile profile = LinearProfile(spec, {1, 4});
  const BatchLatencyModel model(profile, spec);
  Scheduler::Options options = Policy(4, absl::ZeroDuration());
  options.cost_model = &model;
  Start(options);
  EXPECT_EQ(scheduler_->CurrentLoad().queue_wait, absl::ZeroDuration());
  recorder_.Hold();
  ASSERT_TRUE(Enqueue(0, 2).ok());
  recorder_.BlockUntil(1);
  const BatchItem one{{0, 1}, {2, 2}};
  const double running_ms = model.BatchMs(2, {&one});
  Scheduler::Load load = scheduler_->CurrentLoad();
  EXPECT_EQ(load.running, 1);
  EXPECT_EQ(load.queued, 0);
  EXPECT_NEAR(absl::ToDoubleMilliseconds(load.queue_wait), running_ms, 1e-6);
  // Two more queued behind it at width 3, which form one batch.
  ASSERT_TRUE(Enqueue(1, 3).ok());
  ASSERT_TRUE(Enqueue(2, 3).ok());
  const BatchItem three{{0, 1}, {3, 3}};
  load = scheduler_->CurrentLoad();
  EXPECT_EQ(load.queued, 2);
  EXPECT_NEAR(absl::ToDoubleMilliseconds(load.queue_wait),
              running_ms + model.BatchMs(3, {&three, &three}), 1e-6);
  // Time passes: what is left of the running batch shrinks.
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_NEAR(absl::ToDoubleMilliseconds(scheduler_->CurrentLoad().queue_wait),
              running_ms - 1 + model.BatchMs(3, {&three, &three}), 1e-6);
  recorder_.Release();
  scheduler_->Shutdown();  // before `model` goes
}

TEST_F(SchedulerTest, ComputeScaleLearnsFromMeasuredBatches) {
  const v1::ModelSpec spec = TinyModelSpec();
  const LatencyProfile profile = LinearProfile(spec, {1, 4});
  const BatchLatencyModel model(profile, spec);
  Scheduler::Options options = Policy(1, absl::ZeroDuration());
  options.cost_model = &model;
  Start(options);
  const BatchItem item{{0, 1}, {1, 1}};
  // Every batch takes twice its prediction.
  recorder_.set_compute(absl::Milliseconds(2 * model.BatchMs(1, {&item})));
  ASSERT_TRUE(Enqueue(0, 1).ok());
  recorder_.BlockUntil(1);
  ASSERT_TRUE(Enqueue(1, 1).ok());
  recorder_.BlockUntil(2);
  scheduler_->Shutdown();  // joins: both observations are in
  // 1 -> 0.8 + 0.2 * 2 = 1.2 -> 0.96 + 0.4 = 1.36.
  EXPECT_NEAR(scheduler_->CurrentLoad().compute_scale, 1.36, 1e-9);
}

TEST_F(SchedulerTest, ShutdownDrainsTheQueueThenRefuses) {
  Start(Policy(8, absl::Seconds(100)));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Enqueue(i, 0).ok());
  scheduler_->Shutdown();  // no clock movement: the drain runs them
  EXPECT_EQ(recorder_.batches(), (std::vector<std::vector<int>>{{0, 1, 2}}));
  auto task = std::make_unique<TestTask>();
  std::unique_ptr<Scheduler::Task> t = std::move(task);
  EXPECT_EQ(scheduler_->Enqueue(&t).code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(t, nullptr);  // not taken
}

TEST(SchedulerCreateTest, OptionsAreChecked) {
  auto run = [](Scheduler::Batch) {};
  auto drop = [](std::unique_ptr<Scheduler::Task>, absl::Status) {};
  Scheduler::Options o;
  o.num_executor_threads = 0;
  EXPECT_NE(Scheduler::Create(o, run, drop).status().message().find(
                "num_executor_threads"),
            std::string::npos);
  o = {};
  o.policy.max_batch_size = 0;
  EXPECT_NE(Scheduler::Create(o, run, drop).status().message().find(
                "policy.max_batch_size"),
            std::string::npos);
  o = {};
  EXPECT_EQ(Scheduler::Create(o, nullptr, drop).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = {};
  auto s = Scheduler::Create(o, run, drop);
  ASSERT_TRUE(s.ok());
  auto task = std::make_unique<TestTask>();
  task->encoder_width = 5;  // one width only
  std::unique_ptr<Scheduler::Task> t = std::move(task);
  EXPECT_EQ((*s)->Enqueue(&t).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace slimserve
