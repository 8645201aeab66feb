#include "engine/batching/load_estimate.h"

#include <vector>

#include "engine/model/latency_testing.h"
#include "engine/model/spec.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

class LoadEstimateTest : public ::testing::Test {
 protected:
  const v1::ModelSpec spec_ = TinyModelSpec();
  const LatencyProfile profile_ = LinearProfile(spec_, {1, 8});
  const BatchLatencyModel model_{profile_, spec_};
  const BatchItem a_{{0, 2}, {1, 3}};
  const BatchItem b_{{1}, {0}};
};

TEST_F(LoadEstimateTest, QueuedWorkIsCountedInBatchesPerWidth) {
  ComputeEstimate compute(&model_, spec_.encoder_widths_size());
  const absl::Time now = absl::FromUnixSeconds(100);
  QueueState state;
  EXPECT_EQ(EstimateQueueWait(state, now, compute, 2, 1), absl::ZeroDuration());
  state.running_until = {now + absl::Milliseconds(3),
                         now - absl::Milliseconds(1)};  // late: counts 0
  state.queued.resize(4);
  state.queued[1] = {&a_, &b_, &a_};  // batches of 2: {a, b}, {a}
  state.queued[3] = {&b_};
  const double ms = 3 + model_.BatchMs(1, {&a_, &b_}) +
                    model_.BatchMs(1, {&a_}) + model_.BatchMs(3, {&b_});
  EXPECT_NEAR(absl::ToDoubleMilliseconds(
                  EstimateQueueWait(state, now, compute, 2, 1)),
              ms, 1e-6);
  // Two executors share it.
  EXPECT_NEAR(absl::ToDoubleMilliseconds(
                  EstimateQueueWait(state, now, compute, 2, 2)),
              ms / 2, 1e-6);
}

TEST_F(LoadEstimateTest, ScaleFollowsMeasuredOverPredicted) {
  ComputeEstimate compute(&model_, spec_.encoder_widths_size());
  EXPECT_EQ(compute.scale(), 1.0);
  const double predicted = model_.BatchMs(2, {&a_});
  compute.Observe(2, {&a_}, absl::Milliseconds(3 * predicted));
  EXPECT_NEAR(compute.scale(), 0.8 + 0.2 * 3, 1e-9);
  EXPECT_NEAR(absl::ToDoubleMilliseconds(compute.Batch(2, {&a_})),
              predicted * compute.scale(), 1e-6);
  // A glitch (a preempted thread) moves it by at most the clamp.
  ComputeEstimate fresh(&model_, spec_.encoder_widths_size());
  fresh.Observe(2, {&a_}, absl::Seconds(100));
  EXPECT_NEAR(fresh.scale(), 0.8 + 0.2 * 10, 1e-9);
  absl::Duration fixed, per_item;
  compute.QueueLine(2, {&a_}, &fixed, &per_item);
  EXPECT_NEAR(absl::ToDoubleMilliseconds(fixed + per_item),
              predicted * compute.scale(), 1e-6);
}

TEST_F(LoadEstimateTest, WithoutAModelItLearnsPerRequestCompute) {
  ComputeEstimate compute(nullptr, 4);
  EXPECT_EQ(compute.Batch(1, {&a_, &b_}), absl::ZeroDuration());
  compute.Observe(1, {&a_, &b_}, absl::Milliseconds(10));  // 5 per request
  EXPECT_EQ(compute.Batch(1, {&a_}), absl::Milliseconds(5));
  compute.Observe(1, {&a_}, absl::Milliseconds(10));
  EXPECT_EQ(compute.Batch(1, {&a_}), absl::Milliseconds(6));  // 0.8*5 + 0.2*10
  EXPECT_EQ(compute.Batch(2, {&a_}), absl::ZeroDuration());   // per width
  EXPECT_EQ(compute.scale(), 1.0);
}

}  // namespace
}  // namespace slimserve
