#include "engine/batching/lateness.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

LatenessTracker Make(int window, double quantile, int refresh_every = 1) {
  LatenessTracker::Options o;
  o.window = window;
  o.quantile = quantile;
  o.refresh_every = refresh_every;
  return *LatenessTracker::Create(o);
}

TEST(LatenessTrackerTest, MarginIsTheQuantileOfTheRecentLateness) {
  LatenessTracker t = Make(100, 0.9);
  for (int i = 1; i <= 100; ++i) t.Record(absl::Milliseconds(i));
  EXPECT_EQ(t.Margin(), absl::Milliseconds(90));
  // The window moves: the old values leave it.
  for (int i = 0; i < 100; ++i) t.Record(absl::Milliseconds(5));
  EXPECT_EQ(t.Margin(), absl::Milliseconds(5));
}

TEST(LatenessTrackerTest, EarlyRequestsGiveNoNegativeMargin) {
  LatenessTracker t = Make(8, 0.98);
  for (int i = 0; i < 8; ++i) t.Record(absl::Milliseconds(-20));
  EXPECT_EQ(t.Margin(), absl::ZeroDuration());
}

TEST(LatenessTrackerTest, SaysNothingFromTooFewRecords) {
  LatenessTracker t = Make(100, 0.5);
  for (int i = 0; i < 24; ++i) t.Record(absl::Milliseconds(50));
  EXPECT_EQ(t.Margin(), absl::ZeroDuration());
  t.Record(absl::Milliseconds(50));  // a quarter of the window
  EXPECT_EQ(t.Margin(), absl::Milliseconds(50));
}

TEST(LatenessTrackerTest, RefreshesEveryNRecords) {
  LatenessTracker t = Make(4, 1.0, /*refresh_every=*/4);
  for (int i = 0; i < 3; ++i) t.Record(absl::Milliseconds(10));
  EXPECT_EQ(t.Margin(), absl::ZeroDuration());
  t.Record(absl::Milliseconds(30));
  EXPECT_EQ(t.Margin(), absl::Milliseconds(30));
}

TEST(LatenessTrackerTest, QuantileZeroIsOff) {
  LatenessTracker t = Make(4, 0);
  for (int i = 0; i < 8; ++i) t.Record(absl::Seconds(1));
  EXPECT_EQ(t.Margin(), absl::ZeroDuration());
}

TEST(LatenessTrackerTest, RejectsBadOptionsNamingThem) {
  LatenessTracker::Options o;
  o.window = 0;
  EXPECT_NE(LatenessTracker::Create(o).status().message().find("window"),
            std::string::npos);
  o = {};
  o.quantile = 1.5;
  EXPECT_NE(LatenessTracker::Create(o).status().message().find("quantile"),
            std::string::npos);
  o = {};
  o.refresh_every = 0;
  EXPECT_NE(
      LatenessTracker::Create(o).status().message().find("refresh_every"),
      std::string::npos);
}

}  // namespace
}  // namespace slimserve
