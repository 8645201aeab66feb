#include "tools/train/metrics.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace slimserve {
namespace metrics {
namespace {

TEST(SegmentationMetricTest, HandComputedIoU) {
  SegmentationMetric m(3);
  const uint8_t gt[] = {0, 0, 1, 1, 2, 2};
  const uint8_t pred[] = {0, 1, 1, 1, 2, 0};
  m.Add(pred, gt, 6);
  // class 0: tp 1, fp 1 (pixel 5), fn 1 -> 1/3; class 1: tp 2, fp 1 -> 2/3;
  // class 2: tp 1, fn 1 -> 1/2.
  EXPECT_NEAR(m.MeanIoU(), (1.0 / 3 + 2.0 / 3 + 0.5) / 3, 1e-12);
  EXPECT_NEAR(m.PixelAccuracy(), 4.0 / 6, 1e-12);
}

TEST(SegmentationMetricTest, AbsentClassesAreNotAveraged) {
  SegmentationMetric m(8);
  const uint8_t ids[] = {3, 3, 3};
  m.Add(ids, ids, 3);
  EXPECT_DOUBLE_EQ(m.MeanIoU(), 1.0);
}

TEST(DepthMetricTest, RmseAndAbsRelSkipInvalid) {
  DepthMetric m;
  const float gt[] = {1.0f, 2.0f, 0.0f};
  const float pred[] = {2.0f, 2.0f, 5.0f};
  m.Add(pred, gt, 3);
  EXPECT_NEAR(m.Rmse(), std::sqrt(0.5), 1e-9);
  EXPECT_NEAR(m.AbsRel(), 0.5, 1e-9);
}

TEST(NormalsMetricTest, Angles) {
  NormalsMetric m;
  // Pixel 0: identical; pixel 1: 90 degrees apart; pixel 2: gt zero, skipped.
  const float gt[] = {0, 1, 0, /*y*/ 0, 0, 0, /*z*/ 1, 0, 0};
  const float pred[] = {0, 0, 5, /*y*/ 0, 0, 5, /*z*/ 2, 3, 5};
  m.Add(pred, gt, 3);
  EXPECT_NEAR(m.MeanAngleDeg(), 45.0, 1e-4);
  EXPECT_NEAR(m.FractionWithin(11.25), 0.5, 1e-12);
}

TEST(EdgeMetricTest, ToleranceMatchesShiftedEdges) {
  const uint8_t gt[] = {0, 1, 0, 0,  //
                        0, 1, 0, 0};
  const float shifted[] = {0, 0, 0.9f, 0,  //
                           0, 0, 0.9f, 0};
  EdgeMetric tolerant(0.5, 1), strict(0.5, 0);
  tolerant.Add(shifted, gt, 2, 4);
  strict.Add(shifted, gt, 2, 4);
  EXPECT_DOUBLE_EQ(tolerant.FScore(), 1.0);
  EXPECT_DOUBLE_EQ(strict.FScore(), 0.0);
}

TEST(SpearmanTest, PerfectInverseAndTies) {
  EXPECT_NEAR(SpearmanCorrelation({1, 2, 3}, {10, 20, 30}), 1.0, 1e-12);
  EXPECT_NEAR(SpearmanCorrelation({1, 2, 3}, {3, 2, 1}), -1.0, 1e-12);
  EXPECT_DOUBLE_EQ(SpearmanCorrelation({1, 1, 1}, {1, 2, 3}), 0.0);
  // Ties get average ranks: {1, 2.5, 2.5} vs {1, 2, 3} -> 0.8660.
  EXPECT_NEAR(SpearmanCorrelation({1, 2, 2}, {1, 2, 3}), std::sqrt(3) / 2,
              1e-9);
}

TEST(UniformityTest, OneWhenBalancedLowerOtherwise) {
  EXPECT_NEAR(Uniformity({0.5, 0.5}, {2, 2}), 1.0, 1e-12);
  EXPECT_NEAR(Uniformity({0.25, 0.75}, {3, 1}), 1.0, 1e-12);
  // All of the weighted loss on one of two tasks: 1 - log 2.
  EXPECT_NEAR(Uniformity({1, 0}, {1, 1}), 1.0 - std::log(2.0), 1e-12);
}

TEST(DeltaMTest, SignsFollowDirection) {
  // +10% on a higher-is-better metric, +10% (worse) on a lower-is-better one.
  EXPECT_NEAR(DeltaM({1.1, 1.1}, {1.0, 1.0}, {true, false}), 0.0, 1e-9);
  EXPECT_NEAR(DeltaM({0.9, 0.9}, {1.0, 1.0}, {true, false}), 0.0, 1e-9);
  EXPECT_NEAR(DeltaM({0.5}, {1.0}, {true}), -50.0, 1e-9);
}

TEST(HypervolumeTest, HandComputed) {
  EXPECT_DOUBLE_EQ(Hypervolume({{2, 3}}, {0, 0}), 6);
  // Two boxes of 3 overlapping in 1.
  EXPECT_DOUBLE_EQ(Hypervolume({{3, 1}, {1, 3}}, {0, 0}), 5);
  // A dominated point adds nothing; one under the reference counts as it.
  EXPECT_DOUBLE_EQ(Hypervolume({{3, 1}, {1, 3}, {0.5, 0.5}, {-4, 9}}, {0, 0}),
                   5);
  // Inclusion-exclusion: 3 * 2 - 3 * 1 + 1.
  EXPECT_DOUBLE_EQ(Hypervolume({{2, 1, 1}, {1, 2, 1}, {1, 1, 2}}, {0, 0, 0}), 4);
  EXPECT_DOUBLE_EQ(Hypervolume({{1.5, 2}}, {0.5, 1}), 1);
  EXPECT_EQ(Hypervolume({}, {0, 0}), 0);
  EXPECT_EQ(Hypervolume({{1, 2, 3}}, {0, 0}), 0);  // mismatched sizes
}

// Random integer points in 4-D against counting the unit cells dominated.
TEST(HypervolumeTest, MatchesCellCountInFourDimensions) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> coord(0, 5);
  for (int iter = 0; iter < 50; ++iter) {
    std::vector<std::vector<double>> points(1 + iter % 12);
    for (auto& p : points) {
      for (int k = 0; k < 4; ++k) p.push_back(coord(rng));
    }
    int cells = 0;
    for (int a = 0; a < 5; ++a)
      for (int b = 0; b < 5; ++b)
        for (int c = 0; c < 5; ++c)
          for (int d = 0; d < 5; ++d) {
            // Cell [a, a+1] x ... is dominated when some point covers its top.
            for (const auto& p : points) {
              if (p[0] >= a + 1 && p[1] >= b + 1 && p[2] >= c + 1 &&
                  p[3] >= d + 1) {
                ++cells;
                break;
              }
            }
          }
    EXPECT_DOUBLE_EQ(Hypervolume(points, {0, 0, 0, 0}), cells) << iter;
  }
}

}  // namespace
}  // namespace metrics
}  // namespace slimserve
