#include "engine/planner.h"

#include <cmath>
#include <limits>
#include <random>

#include "engine/model_spec.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

class PlannerTest : public ::testing::Test {
 protected:
  PlannerTest()
      : spec_(DefaultModelSpec()),
        costs_(ComputeCostTable(spec_)),
        planner_(CreateWidestFitPlanner()) {}

  absl::StatusOr<Plan> PlanFor(Budget::Kind kind, double value,
                               TaskWeights weights = {}) {
    PlanRequest r;
    r.budget.kind = kind;
    r.budget.value = value;
    r.task_weights = std::move(weights);
    return PlanWith(*planner_, spec_, costs_, r);
  }

  v1::ModelSpec spec_;
  CostTable costs_;
  std::unique_ptr<Planner> planner_;
};

TEST_F(PlannerTest, FullBudgetIsFullWidth) {
  auto plan = PlanFor(Budget::Kind::kFraction, 1.0);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->encoder_width, 1.0);
  ASSERT_EQ(plan->tasks.size(), 4u);
  for (const auto& t : plan->tasks) EXPECT_EQ(t.decoder_width, 1.0);
  EXPECT_DOUBLE_EQ(plan->macs, costs_.FullMacs());
  EXPECT_DOUBLE_EQ(plan->full_macs, costs_.FullMacs());
  EXPECT_EQ(plan->planner, "widest-fit");
}

TEST_F(PlannerTest, QuarterBudgetStaysUnderQuarter) {
  auto plan = PlanFor(Budget::Kind::kFraction, 0.25);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LE(plan->macs, 0.25 * costs_.FullMacs());
  EXPECT_GT(plan->macs, 0.0);
}

TEST_F(PlannerTest, FractionIsOfTheRequestedTasksOnly) {
  auto plan = PlanFor(Budget::Kind::kFraction, 1.0, {{"depth", 1.0f}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->tasks.size(), 1u);
  EXPECT_EQ(plan->tasks[0].name, "depth");
  EXPECT_DOUBLE_EQ(plan->full_macs, costs_.FullMacs({1}));
  EXPECT_DOUBLE_EQ(plan->macs, plan->full_macs);
}

TEST_F(PlannerTest, ZeroWeightTasksAreOff) {
  auto plan = PlanFor(Budget::Kind::kFraction, 0.5,
                      {{"semseg", 1.0f}, {"depth", 0.0f}, {"edges", 0.5f}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->tasks.size(), 2u);
  EXPECT_EQ(plan->tasks[0].name, "semseg");  // model order
  EXPECT_EQ(plan->tasks[1].name, "edges");
}

TEST_F(PlannerTest, MflopsBudget) {
  const double mflops = MacsToMflops(costs_.FullMacs()) * 0.6;
  auto plan = PlanFor(Budget::Kind::kMflops, mflops);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LE(MacsToMflops(plan->macs), mflops + 1e-9);
  EXPECT_DOUBLE_EQ(MacsToMflops(plan->budget_macs), mflops);
}

TEST_F(PlannerTest, BadRequests) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    Budget::Kind kind;
    double value;
    TaskWeights weights;
    absl::StatusCode code;
    std::string message_part;
  };
  const Case cases[] = {
      {Budget::Kind::kFraction, 0.0, {}, absl::StatusCode::kInvalidArgument,
       "budget.fraction: must be in (0, 1], got 0"},
      {Budget::Kind::kFraction, -0.5, {}, absl::StatusCode::kInvalidArgument,
       "budget.fraction"},
      {Budget::Kind::kFraction, 1.5, {}, absl::StatusCode::kInvalidArgument,
       "got 1.5"},
      {Budget::Kind::kFraction, nan, {}, absl::StatusCode::kInvalidArgument,
       "got nan"},
      {Budget::Kind::kFraction, inf, {}, absl::StatusCode::kInvalidArgument,
       "got inf"},
      {Budget::Kind::kMflops, 0.0, {}, absl::StatusCode::kInvalidArgument,
       "budget.mflops"},
      {Budget::Kind::kMflops, inf, {}, absl::StatusCode::kInvalidArgument,
       "budget.mflops"},
      {Budget::Kind::kMilliseconds, 5.0, {}, absl::StatusCode::kUnimplemented,
       "budget.milliseconds"},
      {Budget::Kind::kMilliseconds, -1.0, {},
       absl::StatusCode::kInvalidArgument, "budget.milliseconds"},
      {Budget::Kind::kFraction, 1.0, {{"sky", 1.0f}},
       absl::StatusCode::kInvalidArgument, "unknown task \"sky\""},
      {Budget::Kind::kFraction, 1.0, {{"depth", -1.0f}},
       absl::StatusCode::kInvalidArgument, "task_weights[\"depth\"]"},
      {Budget::Kind::kFraction, 1.0,
       {{"depth", std::numeric_limits<float>::quiet_NaN()}},
       absl::StatusCode::kInvalidArgument, "got nan"},
      {Budget::Kind::kFraction, 1.0, {{"depth", 0.0f}, {"edges", 0.0f}},
       absl::StatusCode::kInvalidArgument, "every weight is 0"},
      {Budget::Kind::kFraction, 0.001, {}, absl::StatusCode::kOutOfRange,
       "smallest accepted budget is fraction"},
      {Budget::Kind::kMflops, 0.01, {}, absl::StatusCode::kOutOfRange,
       "below the cheapest configuration"},
  };
  for (const Case& c : cases) {
    auto plan = PlanFor(c.kind, c.value, c.weights);
    ASSERT_FALSE(plan.ok()) << c.message_part;
    EXPECT_EQ(plan.status().code(), c.code) << plan.status();
    EXPECT_NE(plan.status().message().find(c.message_part), std::string::npos)
        << plan.status();
  }
}

TEST_F(PlannerTest, SmallestAcceptedBudgetInMessageIsAccepted) {
  auto refused = PlanFor(Budget::Kind::kFraction, 0.001);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kOutOfRange);
  // The cheapest configuration: everything at the narrowest width.
  std::vector<int> all = {0, 1, 2, 3};
  double cheapest = costs_.encoder_macs[0];
  for (int t : all) cheapest += costs_.decoder_macs[t][0][0];
  auto ok = PlanFor(Budget::Kind::kMflops, MacsToMflops(cheapest));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->encoder_width_index, 0);
  auto below = PlanFor(Budget::Kind::kMflops, MacsToMflops(cheapest) * 0.999);
  EXPECT_EQ(below.status().code(), absl::StatusCode::kOutOfRange);
}

// Properties over many random requests.
TEST_F(PlannerTest, RandomRequestsRespectBudgetOrderAndDeterminism) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> weight(0.0f, 1.0f);
  std::uniform_real_distribution<double> fraction(0.05, 1.0);
  int planned = 0;
  for (int i = 0; i < 2000; ++i) {
    TaskWeights w;
    for (const auto& t : spec_.tasks()) {
      const float v = weight(rng);
      w[t.name()] = v < 0.2f ? 0.0f : v;
    }
    const double f = fraction(rng);
    auto plan = PlanFor(Budget::Kind::kFraction, f, w);
    if (!plan.ok()) {
      // Only possible refusals: everything zero, or a budget too small.
      EXPECT_TRUE(plan.status().code() == absl::StatusCode::kOutOfRange ||
                  plan.status().code() == absl::StatusCode::kInvalidArgument)
          << plan.status();
      continue;
    }
    ++planned;
    EXPECT_LE(plan->macs, plan->budget_macs * (1 + 1e-9));
    // Larger weight never gets a narrower decoder.
    for (const auto& a : plan->tasks) {
      EXPECT_GT(a.weight, 0.0f);
      for (const auto& b : plan->tasks) {
        if (a.weight > b.weight) {
          EXPECT_GE(a.decoder_width, b.decoder_width);
        }
      }
    }
    auto again = PlanFor(Budget::Kind::kFraction, f, w);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->encoder_width_index, plan->encoder_width_index);
    for (size_t t = 0; t < plan->tasks.size(); ++t) {
      EXPECT_EQ(again->tasks[t].decoder_width_index,
                plan->tasks[t].decoder_width_index);
    }
  }
  EXPECT_GT(planned, 1000);
}

}  // namespace
}  // namespace slimserve
