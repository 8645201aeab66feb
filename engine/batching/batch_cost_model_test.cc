#include "engine/batching/batch_cost_model.h"

#include <vector>

#include "engine/model/latency_testing.h"
#include "engine/model/spec.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

TEST(FitLinearTest, ExactThroughTwoPointsAndLeastSquaresThroughMore) {
  LinearMs m = FitLinear({1, 8}, {3.0, 10.0});
  EXPECT_DOUBLE_EQ(m.fixed, 2.0);
  EXPECT_DOUBLE_EQ(m.per_item, 1.0);
  EXPECT_DOUBLE_EQ(m.At(4), 6.0);
  // Symmetric noise around y = 1 + 2x.
  m = FitLinear({1, 2, 3, 4}, {3.1, 4.9, 7.1, 8.9});
  EXPECT_NEAR(m.per_item, 1.96, 1e-9);
  EXPECT_NEAR(m.fixed, 1.1, 1e-9);
}

TEST(FitLinearTest, OnePointGoesThroughTheOriginAndNoiseNeverGoesNegative) {
  LinearMs m = FitLinear({1}, {4.0});
  EXPECT_DOUBLE_EQ(m.fixed, 0);
  EXPECT_DOUBLE_EQ(m.At(3), 12.0);
  m = FitLinear({1, 8}, {2.0, 1.0});  // timing noise on a tiny layer
  EXPECT_DOUBLE_EQ(m.per_item, 0);
  EXPECT_DOUBLE_EQ(m.At(8), 1.5);
  EXPECT_DOUBLE_EQ((LinearMs{-5, 1}).At(1), 0);
}

TEST(BatchLatencyModelTest, RecoversTheLinesAndSumsGroups) {
  const v1::ModelSpec spec = DefaultModelSpec();
  const BatchLatencyModel model(LinearProfile(spec, {1, 8}), spec);
  EXPECT_NEAR(model.encoder(2).fixed, 3.0, 1e-9);
  EXPECT_NEAR(model.encoder(2).per_item, 2.5, 1e-9);
  EXPECT_NEAR(model.decoder(1, 3, 2).fixed, 0.23, 1e-9);
  EXPECT_NEAR(model.decoder(1, 3, 2).per_item, 0.45, 1e-9);

  // Three requests at encoder width 1: tasks 0 and 1 at decoder widths
  // (0, 2), (0, 3), (0, 2) -> groups (0,0) x3, (1,2) x2, (1,3) x1.
  const std::vector<BatchItem> storage = {
      {{0, 1}, {0, 2}}, {{0, 1}, {0, 3}}, {{0, 1}, {0, 2}}};
  const std::vector<const BatchItem*> items = {&storage[0], &storage[1],
                                               &storage[2]};
  const double expected = model.encoder(1).At(3) + model.decoder(0, 1, 0).At(3) +
                          model.decoder(1, 1, 2).At(2) +
                          model.decoder(1, 1, 3).At(1);
  EXPECT_NEAR(model.BatchMs(1, items), expected, 1e-9);
  EXPECT_EQ(model.BatchMs(1, {}), 0);

  // One request alone costs what the batch-1 table says.
  const LatencyTable one = LinearLatencyTable(spec, 1);
  EXPECT_NEAR(model.BatchMs(1, {items[1]}),
              PredictLatencyMs(one, {0, 1}, 1, {0, 3}), 1e-9);

  // The policy's linear view is exact for the whole queue as one batch.
  const LinearMs q = model.QueueModel(1, items);
  EXPECT_NEAR(q.fixed + q.per_item * 3, expected, 1e-9);
  // A batch is cheaper per request than the same requests one by one.
  double alone = 0;
  for (const BatchItem* item : items) alone += model.BatchMs(1, {item});
  EXPECT_LT(expected, alone);
}

TEST(BatchLatencyModelTest, TasksAtOneWidthOnTheSameRowsRunFused) {
  const v1::ModelSpec spec = DefaultModelSpec();
  const BatchLatencyModel apart(LinearProfile(spec, {1, 8}), spec);
  const BatchLatencyModel fused(FusedProfile(spec, {1, 8}), spec);
  // The saving is linear in the batch size, so the fit recovers it.
  EXPECT_NEAR(fused.fusion_saving(1, 2).At(5), LinearFusionSaving(1, 2, 5),
              1e-9);
  EXPECT_EQ(apart.fusion_saving(1, 2).At(5), 0);

  // Rows 0 and 2 ask for tasks 0, 1 and 2 at width 2; row 1 for task 0 at
  // width 2 and task 1 at width 3. Runs as the executor makes them: task 0
  // at width 2 on rows {0, 1, 2}; tasks 1 and 2 at width 2 on rows {0, 2},
  // fused (one saving at 2 rows); task 1 at width 3 on row 1.
  const std::vector<BatchItem> storage = {
      {{0, 1, 2}, {2, 2, 2}}, {{0, 1}, {2, 3}}, {{0, 1, 2}, {2, 2, 2}}};
  const std::vector<const BatchItem*> items = {&storage[0], &storage[1],
                                               &storage[2]};
  EXPECT_NEAR(fused.BatchMs(1, items),
              apart.BatchMs(1, items) - LinearFusionSaving(1, 2, 2), 1e-9);
  // A lone request for all four tasks at one width: the fused measurement.
  const BatchItem all = {{0, 1, 2, 3}, {1, 1, 1, 1}};
  const LatencyTable one = FusedProfile(spec, {1}).tables[0];
  EXPECT_NEAR(fused.BatchMs(2, {&all}),
              one.encoder_ms[2] + one.fused_decoder_ms[2][1], 1e-9);
  EXPECT_NEAR(fused.BatchMs(2, {&all}),
              PredictLatencyMs(one, all.tasks, 2, all.decoder_widths), 1e-9);
}

}  // namespace
}  // namespace slimserve
