#include "engine/batching/wait_scale.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

WaitScale Make(int window, double quantile, int refresh_every = 1) {
  WaitScale::Options o;
  o.window = window;
  o.quantile = quantile;
  o.refresh_every = refresh_every;
  return *WaitScale::Create(o);
}

absl::Duration Ms(double ms) { return absl::Milliseconds(ms); }

TEST(WaitScaleTest, IsTheQuantileOfRecentRatiosWithTheFloor) {
  WaitScale s = Make(100, 0.9);
  // (waited + 10) / (predicted + 10) = i / 10 for i = 1..100 ... capped.
  for (int i = 1; i <= 100; ++i) s.Record(Ms(10), Ms(2 * i - 10));
  // Ratio i / 10 clamped to [0.5, 10]: the 90th is 90 / 10 = 9.
  EXPECT_DOUBLE_EQ(s.Scale(), 9.0);
  // The window moves on: the old ratios leave it.
  for (int i = 0; i < 100; ++i) s.Record(Ms(30), Ms(70));  // (80 / 40)
  EXPECT_DOUBLE_EQ(s.Scale(), 2.0);
}

TEST(WaitScaleTest, TinyWaitsMakeModestRatios) {
  WaitScale s = Make(4, 1.0);
  for (int i = 0; i < 4; ++i) s.Record(Ms(0), Ms(5));
  EXPECT_DOUBLE_EQ(s.Scale(), 1.5);
}

TEST(WaitScaleTest, StaysWithinItsBounds) {
  WaitScale s = Make(4, 1.0);
  for (int i = 0; i < 4; ++i) s.Record(Ms(0), absl::Seconds(100));
  EXPECT_DOUBLE_EQ(s.Scale(), 10.0);
  for (int i = 0; i < 4; ++i) s.Record(absl::Seconds(100), Ms(0));
  EXPECT_DOUBLE_EQ(s.Scale(), 0.5);
}

TEST(WaitScaleTest, SaysNothingFromTooFewRecords) {
  WaitScale s = Make(100, 0.5);
  for (int i = 0; i < 24; ++i) s.Record(Ms(10), Ms(30));
  EXPECT_DOUBLE_EQ(s.Scale(), 1.0);
  s.Record(Ms(10), Ms(30));  // a quarter of the window
  EXPECT_DOUBLE_EQ(s.Scale(), 2.0);
}

TEST(WaitScaleTest, RefreshesEveryNRecords) {
  WaitScale s = Make(4, 1.0, /*refresh_every=*/4);
  for (int i = 0; i < 3; ++i) s.Record(Ms(10), Ms(30));
  EXPECT_DOUBLE_EQ(s.Scale(), 1.0);
  s.Record(Ms(10), Ms(50));
  EXPECT_DOUBLE_EQ(s.Scale(), 3.0);
}

TEST(WaitScaleTest, QuantileZeroIsOff) {
  WaitScale s = Make(4, 0);
  for (int i = 0; i < 8; ++i) s.Record(Ms(0), absl::Seconds(1));
  EXPECT_DOUBLE_EQ(s.Scale(), 1.0);
}

TEST(WaitScaleTest, RejectsBadOptionsNamingThem) {
  WaitScale::Options o;
  o.window = 0;
  EXPECT_NE(WaitScale::Create(o).status().message().find("window"),
            std::string::npos);
  o = {};
  o.quantile = 1.5;
  EXPECT_NE(WaitScale::Create(o).status().message().find("quantile"),
            std::string::npos);
  o = {};
  o.refresh_every = 0;
  EXPECT_NE(WaitScale::Create(o).status().message().find("refresh_every"),
            std::string::npos);
  o = {};
  o.max_scale = 0.9;
  EXPECT_NE(WaitScale::Create(o).status().message().find("max_scale"),
            std::string::npos);
}

}  // namespace
}  // namespace slimserve
