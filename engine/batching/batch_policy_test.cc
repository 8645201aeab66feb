#include "engine/batching/batch_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1000);
absl::Time At(double ms) { return kT0 + absl::Milliseconds(ms); }

PendingRequest Req(uint64_t id, double arrival_ms,
                   absl::Time deadline = absl::InfiniteFuture()) {
  PendingRequest r;
  r.id = id;
  r.arrival = At(arrival_ms);
  r.deadline = deadline;
  return r;
}

QueueView Queue(int width, std::vector<PendingRequest> requests,
                double fixed_ms = 0, double per_item_ms = 0) {
  QueueView q;
  q.encoder_width = width;
  q.requests = std::move(requests);
  q.compute_fixed = absl::Milliseconds(fixed_ms);
  q.compute_per_item = absl::Milliseconds(per_item_ms);
  return q;
}

BatchPolicyOptions Opts(int max_batch = 4, double delay_ms = 2,
                        double starvation_ms = 200) {
  BatchPolicyOptions o;
  o.max_batch_size = max_batch;
  o.max_queue_delay = absl::Milliseconds(delay_ms);
  o.starvation_limit = absl::Milliseconds(starvation_ms);
  return o;
}

TEST(BatchPolicyTest, EmptyQueuesSleepForever) {
  const BatchDecision d = DecideNextBatch({Queue(0, {}), Queue(1, {})}, At(0),
                                          Opts());
  EXPECT_THAT(d.batch, IsEmpty());
  EXPECT_EQ(d.wake_at, absl::InfiniteFuture());
}

TEST(BatchPolicyTest, PartialBatchWaitsUntilTheQueueDelay) {
  const BatchDecision d =
      DecideNextBatch({Queue(2, {Req(1, 0), Req(2, 0.5)})}, At(1), Opts());
  EXPECT_THAT(d.batch, IsEmpty());
  EXPECT_EQ(d.wake_at, At(2));  // oldest arrival + 2 ms
}

TEST(BatchPolicyTest, PartialBatchRunsAtTheQueueDelay) {
  const BatchDecision d =
      DecideNextBatch({Queue(2, {Req(1, 0), Req(2, 0.5)})}, At(2), Opts());
  EXPECT_EQ(d.encoder_width, 2);
  EXPECT_THAT(d.batch, ElementsAre(1, 2));
}

TEST(BatchPolicyTest, FullBatchRunsAtOnceAndTakesAtMostMax) {
  const BatchDecision d = DecideNextBatch(
      {Queue(1, {Req(1, 0), Req(2, 0), Req(3, 0), Req(4, 0), Req(5, 0)})},
      At(0), Opts(/*max_batch=*/4));
  EXPECT_EQ(d.encoder_width, 1);
  EXPECT_THAT(d.batch, ElementsAre(1, 2, 3, 4));
}

TEST(BatchPolicyTest, AdaptiveDelayWaitsOnlyWhileMoreAreComing) {
  BatchPolicyOptions o = Opts();
  o.adaptive_delay = true;
  QueueView q = Queue(2, {Req(1, 0)});
  q.incoming = 1;  // one more being pre-processed: worth waiting for
  BatchDecision d = DecideNextBatch({q}, At(0.5), o);
  EXPECT_THAT(d.batch, IsEmpty());
  EXPECT_EQ(d.wake_at, At(2));
  q.incoming = 0;  // nothing on its way: run now
  d = DecideNextBatch({q}, At(0.5), o);
  EXPECT_THAT(d.batch, ElementsAre(1));
  // Incoming requests of another width do not hold this one.
  QueueView other = Queue(3, {});
  other.incoming = 5;
  d = DecideNextBatch({q, other}, At(0.5), o);
  EXPECT_THAT(d.batch, ElementsAre(1));
  // Without adaptive_delay the window holds.
  d = DecideNextBatch({q}, At(0.5), Opts());
  EXPECT_THAT(d.batch, IsEmpty());
}

TEST(BatchPolicyTest, ZeroDelayRunsImmediately) {
  const BatchDecision d =
      DecideNextBatch({Queue(0, {Req(7, 0)})}, At(0), Opts(8, 0));
  EXPECT_THAT(d.batch, ElementsAre(7));
}

TEST(BatchPolicyTest, DeadlinePressureClosesTheBatchEarly) {
  // Compute of 2 requests takes 1 + 2*1 = 3 ms; the deadline at 4 ms means it
  // must start by 1 ms, before the 2 ms queue delay.
  const std::vector<QueueView> q = {
      Queue(0, {Req(1, 0, At(4)), Req(2, 0)}, 1, 1)};
  EXPECT_THAT(DecideNextBatch(q, At(0.5), Opts()).batch, IsEmpty());
  EXPECT_EQ(DecideNextBatch(q, At(0.5), Opts()).wake_at, At(1));
  EXPECT_THAT(DecideNextBatch(q, At(1), Opts()).batch, ElementsAre(1, 2));
}

TEST(BatchPolicyTest, BatchIsCutWhereMoreWouldMissItsEarliestDeadline) {
  // 1 + 2 ms per request: the batch of k ends at 1 + 2k ms. Request 1 is due
  // at 6 ms, so at most 2 requests (5 ms) join it; 3 would end at 7 ms.
  const BatchDecision d = DecideNextBatch(
      {Queue(0,
             {Req(1, 0, At(6)), Req(2, 0, At(50)), Req(3, 0, At(50)),
              Req(4, 0, At(50))},
             /*fixed_ms=*/1, /*per_item_ms=*/2)},
      At(0), Opts(/*max_batch=*/4));
  EXPECT_THAT(d.batch, ElementsAre(1, 2));
  EXPECT_THAT(d.expired, IsEmpty());
  // Without the urgent one, all four fit (9 ms < 50 ms).
  const BatchDecision relaxed = DecideNextBatch(
      {Queue(0,
             {Req(2, 0, At(50)), Req(3, 0, At(50)), Req(4, 0, At(50)),
              Req(5, 0)},
             1, 2)},
      At(0), Opts(4));
  EXPECT_THAT(relaxed.batch, ElementsAre(2, 3, 4, 5));
}

TEST(BatchPolicyTest, ExpiredAndCancelledAreDroppedNotRun) {
  PendingRequest cancelled = Req(3, 0);
  cancelled.cancelled = true;
  const BatchDecision d = DecideNextBatch(
      {Queue(0,
             {Req(1, 0, At(5)),  // passed
              Req(2, 0, At(10.5)),  // 10 + 1 ms of compute > 10.5: hopeless
              cancelled, Req(4, 0, At(50))},
             0, 1)},
      At(10), Opts());
  EXPECT_THAT(d.expired, ElementsAre(1, 2));
  EXPECT_THAT(d.cancelled, ElementsAre(3));
  EXPECT_THAT(d.batch, ElementsAre(4));
}

TEST(BatchPolicyTest, EarliestDeadlineFirstAcrossQueues) {
  const std::vector<QueueView> q = {
      Queue(0, {Req(1, 0, At(100))}),
      Queue(1, {Req(2, 1, At(30))}),
      Queue(3, {Req(3, 0)}),  // no deadline: due at 0 + 200 ms
  };
  const BatchDecision d = DecideNextBatch(q, At(5), Opts());
  EXPECT_EQ(d.encoder_width, 1);
  EXPECT_THAT(d.batch, ElementsAre(2));
}

TEST(BatchPolicyTest, OldRequestsWithoutDeadlineAreNotStarved) {
  // Waited 250 ms: due at 200 ms, before the fresh request's 300 ms deadline.
  const std::vector<QueueView> q = {
      Queue(0, {Req(1, 0)}),
      Queue(1, {Req(2, 249, At(300))}),
  };
  const BatchDecision d = DecideNextBatch(q, At(250), Opts());
  EXPECT_EQ(d.encoder_width, 0);
}

TEST(BatchPolicyTest, WithinAQueueTheMostUrgentGoFirst) {
  const BatchDecision d = DecideNextBatch(
      {Queue(2, {Req(1, 0), Req(2, 0, At(50)), Req(3, 0, At(20))})}, At(3),
      Opts(/*max_batch=*/2));
  EXPECT_THAT(d.batch, ElementsAre(3, 2));
}

TEST(BatchPolicyTest, TiesGoToTheOlderHeadThenTheNarrowerWidth) {
  const std::vector<QueueView> older = {Queue(2, {Req(1, 1)}),
                                        Queue(1, {Req(2, 0)})};
  // Same due (both no deadline) means arrival decides... due differs by
  // arrival too, so the older head wins.
  EXPECT_EQ(DecideNextBatch(older, At(10), Opts()).encoder_width, 1);
  const std::vector<QueueView> same = {Queue(3, {Req(1, 0)}),
                                       Queue(2, {Req(2, 0)})};
  EXPECT_EQ(DecideNextBatch(same, At(10), Opts()).encoder_width, 2);
}

TEST(BatchPolicyTest, WakeAtIsTheEarliestReadyMoment) {
  const std::vector<QueueView> q = {
      Queue(0, {Req(1, 1)}),                  // ready at 3 ms
      Queue(1, {Req(2, 0.5, At(20))}, 0, 18),  // must start at 2 ms
  };
  const BatchDecision d = DecideNextBatch(q, At(1), Opts());
  EXPECT_THAT(d.batch, IsEmpty());
  EXPECT_EQ(d.wake_at, At(2));
}

TEST(BatchPolicyTest, OptionsAreValidated) {
  EXPECT_TRUE(ValidateBatchPolicyOptions(Opts()).ok());
  EXPECT_FALSE(ValidateBatchPolicyOptions(Opts(0)).ok());
  EXPECT_FALSE(ValidateBatchPolicyOptions(Opts(4, -1)).ok());
  EXPECT_FALSE(ValidateBatchPolicyOptions(Opts(4, 2, 0)).ok());
}

}  // namespace
}  // namespace slimserve
