// slimbench's statistics, and short real runs against a loopback server.
#include "client/bench.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/e2e/test_util.h"

namespace slimserve {
namespace bench {
namespace {

TEST(PercentileTest, NearestRank) {
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_EQ(Percentile({5, 1, 3, 2, 4}, 50), 3);
  EXPECT_EQ(Percentile({5, 1, 3, 2, 4}, 100), 5);
  EXPECT_EQ(Percentile({5, 1, 3, 2, 4}, 0), 1);
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_EQ(Percentile(hundred, 99), 99);
  EXPECT_EQ(Percentile(hundred, 90), 90);
}

TEST(ParseMixTest, Forms) {
  auto random = ParseMix("0.25,1", "random");
  ASSERT_TRUE(random.ok());
  EXPECT_TRUE(random->random_weights);
  EXPECT_EQ(random->budget_fractions, (std::vector<double>{0.25, 1.0}));
  auto fixed = ParseMix("0.5", "semseg=1,depth=0.5");
  ASSERT_TRUE(fixed.ok());
  EXPECT_FALSE(fixed->random_weights);
  EXPECT_EQ(fixed->weights.at("depth"), 0.5f);
  EXPECT_FALSE(ParseMix("x", "random").ok());
  EXPECT_FALSE(ParseMix("0.5", "semseg").ok());
}

TEST(ValidateTest, ExactlyOneMode) {
  BenchOptions o;
  o.images.resize(1);
  EXPECT_FALSE(ValidateBenchOptions(o).ok());
  o.concurrency = 2;
  EXPECT_TRUE(ValidateBenchOptions(o).ok());
  o.rate = 5;
  EXPECT_FALSE(ValidateBenchOptions(o).ok());
  o.rate = 0;
  o.streams = 2;
  EXPECT_FALSE(ValidateBenchOptions(o).ok());
  o.concurrency = 0;
  EXPECT_TRUE(ValidateBenchOptions(o).ok());
  o.stream_window = 0;
  EXPECT_FALSE(ValidateBenchOptions(o).ok());
}

class BenchRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = TestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  BenchOptions Options() {
    BenchOptions o;
    o.target = absl::StrCat("127.0.0.1:", server_->server().port());
    o.duration = absl::Milliseconds(600);
    o.images.resize(1);
    o.images[0].set_encoded(TestPng());
    return o;
  }
  std::unique_ptr<TestServer> server_;
};

TEST_F(BenchRunTest, ClosedLoopCountsEveryCall) {
  BenchOptions o = Options();
  o.concurrency = 3;
  auto r = RunBench(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->ok, 0);
  EXPECT_EQ(r->sent, r->ok) << ReportText(*r);  // no errors expected
  EXPECT_TRUE(r->errors.empty()) << ReportText(*r);
  EXPECT_GT(r->mean_planned_mflops, 0);
  EXPECT_LE(r->p50_ms, r->p99_ms);
  EXPECT_LE(r->p99_ms, r->max_ms);
  EXPECT_DOUBLE_EQ(r->slo_attainment, 1.0);
  EXPECT_NE(ReportJson(*r).find("\"p99\""), std::string::npos);
}

// A stop ends an hour-long run once it has been notified, with every call
// it made answered and reported. The fake runner says when calls have run
// (a condition wait, no polling).
TEST(BenchStopTest, StopEndsTheRunEarly) {
  absl::StatusOr<std::unique_ptr<TestServer>> server =
      TestServer::StartWithFakeRunner();
  ASSERT_TRUE(server.ok()) << server.status();
  FakeModelRunner& runner = *(*server)->fake_runner();
  for (int mode : {0, 1, 2}) {
    absl::Notification stop;
    BenchOptions o;
    o.target = (*server)->target();
    o.images.resize(1);
    o.images[0].set_encoded(TestPng());
    o.duration = absl::Hours(1);
    if (mode == 0) {
      o.concurrency = 2;
    } else if (mode == 1) {
      o.rate = 200;
    } else {
      o.streams = 2;
    }
    o.stop = &stop;
    absl::StatusOr<BenchReport> r;
    const int before = static_cast<int>(runner.runs().size());
    std::thread run([&] { r = RunBench(o); });
    // 5 batches of this run have started: at least 5 calls, each answered
    // before RunBench returns.
    runner.BlockUntilRunsStarted(before + 5);
    stop.Notify();
    run.join();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_GE(r->ok, 5) << mode;
    EXPECT_EQ(r->sent, r->ok) << ReportText(*r);
    EXPECT_LT(r->duration_s, 3600) << mode;
  }
}

TEST_F(BenchRunTest, StreamsCountEveryFrame) {
  BenchOptions o = Options();
  o.streams = 2;
  o.stream_window = 3;
  auto r = RunBench(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mode, "streams(2x3)");
  EXPECT_GT(r->ok, 0);
  EXPECT_EQ(r->sent, r->ok) << ReportText(*r);
  EXPECT_TRUE(r->errors.empty()) << ReportText(*r);
  EXPECT_GT(r->mean_planned_mflops, 0);
  EXPECT_LE(r->p50_ms, r->max_ms);
}

TEST_F(BenchRunTest, StreamFrameErrorsAreCountedByCode) {
  BenchOptions o = Options();
  o.streams = 1;
  o.mix.budget_fractions = {0.001};  // below the cheapest configuration
  auto r = RunBench(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->ok, 0);
  EXPECT_GT(r->sent, 5);
  EXPECT_EQ(r->errors.at("OUT_OF_RANGE"), r->sent) << ReportText(*r);
}

TEST_F(BenchRunTest, OpenLoopErrorsAreCountedByCode) {
  BenchOptions o = Options();
  o.rate = 50;
  o.mix.budget_fractions = {0.001};  // below the cheapest configuration
  auto r = RunBench(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->ok, 0);
  EXPECT_GT(r->sent, 5);
  EXPECT_EQ(r->errors.at("OUT_OF_RANGE"), r->sent) << ReportText(*r);
  EXPECT_EQ(r->slo_attainment, 0.0);
}

}  // namespace
}  // namespace bench
}  // namespace slimserve
