#include "engine/planning/planner.h"

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/model/quality_table.h"
#include "engine/model/spec.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

// Every strategy must pass these (with the synthetic quality table).
class PlannerTest : public ::testing::TestWithParam<std::string> {
 protected:
  PlannerTest()
      : spec_(DefaultModelSpec()),
        costs_(ComputeCostTable(spec_)),
        planner_(CreatePlanner(GetParam()).value()) {}

  absl::StatusOr<ArchPlan> PlanFor(Budget::Kind kind, double value,
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

// A finite budget larger than the full cost is no limit, even near DBL_MAX
// where converting it to MACs overflows.
TEST_P(PlannerTest, HugeFiniteBudgetsAreNoLimit) {
  for (double mflops : {1e6, 1e300, std::numeric_limits<double>::max()}) {
    auto plan = PlanFor(Budget::Kind::kMflops, mflops);
    ASSERT_TRUE(plan.ok()) << mflops << ": " << plan.status();
    if (GetParam() != "widest-fit") EXPECT_EQ(plan->encoder_width, 1.0);
    EXPECT_DOUBLE_EQ(plan->macs, costs_.FullMacs()) << mflops;
    EXPECT_TRUE(std::isfinite(plan->budget_macs)) << mflops;
  }
}

TEST_P(PlannerTest, FullBudgetIsFullWidth) {
  auto plan = PlanFor(Budget::Kind::kFraction, 1.0);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->encoder_width, 1.0);
  ASSERT_EQ(plan->tasks.size(), 4u);
  for (const auto& t : plan->tasks) EXPECT_EQ(t.decoder_width, 1.0);
  EXPECT_DOUBLE_EQ(plan->macs, costs_.FullMacs());
  EXPECT_DOUBLE_EQ(plan->full_macs, costs_.FullMacs());
  EXPECT_EQ(plan->planner, GetParam());
  EXPECT_TRUE(plan->synthetic_quality);
  EXPECT_DOUBLE_EQ(plan->objective, 4.0);
  for (const auto& t : plan->tasks) EXPECT_DOUBLE_EQ(t.predicted_quality, 1.0);
  EXPECT_LT(plan->predicted_latency_ms, 0);  // no latency table
}

TEST_P(PlannerTest, QuarterBudgetStaysUnderQuarter) {
  auto plan = PlanFor(Budget::Kind::kFraction, 0.25);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LE(plan->macs, 0.25 * costs_.FullMacs());
  EXPECT_GT(plan->macs, 0.0);
}

TEST_P(PlannerTest, FractionIsOfTheRequestedTasksOnly) {
  auto plan = PlanFor(Budget::Kind::kFraction, 1.0, {{"depth", 1.0f}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->tasks.size(), 1u);
  EXPECT_EQ(plan->tasks[0].name, "depth");
  EXPECT_DOUBLE_EQ(plan->full_macs, costs_.FullMacs({1}));
  EXPECT_DOUBLE_EQ(plan->macs, plan->full_macs);
}

TEST_P(PlannerTest, ZeroWeightTasksAreOff) {
  auto plan = PlanFor(Budget::Kind::kFraction, 0.5,
                      {{"semseg", 1.0f}, {"depth", 0.0f}, {"edges", 0.5f}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->tasks.size(), 2u);
  EXPECT_EQ(plan->tasks[0].name, "semseg");  // model order
  EXPECT_EQ(plan->tasks[1].name, "edges");
}

TEST_P(PlannerTest, MflopsBudget) {
  const double mflops = MacsToMflops(costs_.FullMacs()) * 0.6;
  auto plan = PlanFor(Budget::Kind::kMflops, mflops);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LE(MacsToMflops(plan->macs), mflops + 1e-9);
  EXPECT_DOUBLE_EQ(MacsToMflops(plan->budget_macs), mflops);
}

TEST_P(PlannerTest, BadRequests) {
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
      {Budget::Kind::kFraction,
       0.0,
       {},
       absl::StatusCode::kInvalidArgument,
       "budget.fraction: must be in (0, 1], got 0"},
      {Budget::Kind::kFraction,
       -0.5,
       {},
       absl::StatusCode::kInvalidArgument,
       "budget.fraction"},
      {Budget::Kind::kFraction,
       1.5,
       {},
       absl::StatusCode::kInvalidArgument,
       "got 1.5"},
      {Budget::Kind::kFraction,
       nan,
       {},
       absl::StatusCode::kInvalidArgument,
       "got nan"},
      {Budget::Kind::kFraction,
       inf,
       {},
       absl::StatusCode::kInvalidArgument,
       "got inf"},
      {Budget::Kind::kMflops,
       0.0,
       {},
       absl::StatusCode::kInvalidArgument,
       "budget.mflops"},
      {Budget::Kind::kMflops,
       inf,
       {},
       absl::StatusCode::kInvalidArgument,
       "budget.mflops"},
      {Budget::Kind::kMilliseconds,
       5.0,
       {},
       absl::StatusCode::kUnimplemented,
       "budget.milliseconds"},
      {Budget::Kind::kMilliseconds,
       -1.0,
       {},
       absl::StatusCode::kInvalidArgument,
       "budget.milliseconds"},
      {Budget::Kind::kFraction,
       1.0,
       {{"sky", 1.0f}},
       absl::StatusCode::kInvalidArgument,
       "unknown task \"sky\""},
      {Budget::Kind::kFraction,
       1.0,
       {{"depth", -1.0f}},
       absl::StatusCode::kInvalidArgument,
       "task_weights[\"depth\"]"},
      {Budget::Kind::kFraction,
       1.0,
       {{"depth", std::numeric_limits<float>::quiet_NaN()}},
       absl::StatusCode::kInvalidArgument,
       "got nan"},
      {Budget::Kind::kFraction,
       1.0,
       {{"depth", 0.0f}, {"edges", 0.0f}},
       absl::StatusCode::kInvalidArgument,
       "every weight is 0"},
      {Budget::Kind::kFraction,
       0.001,
       {},
       absl::StatusCode::kOutOfRange,
       "smallest accepted budget is fraction"},
      {Budget::Kind::kMflops,
       0.01,
       {},
       absl::StatusCode::kOutOfRange,
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

TEST_P(PlannerTest, SmallestAcceptedBudgetInMessageIsAccepted) {
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
TEST_P(PlannerTest, RandomRequestsRespectBudgetOrderAndDeterminism) {
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
    // Larger weight never gets a narrower decoder ("exact" and "normalized"
    // may trade the preference order for a better objective).
    const bool ordered = GetParam() != "exact" && GetParam() != "normalized";
    for (const auto& a : plan->tasks) {
      EXPECT_GT(a.weight, 0.0f);
      for (const auto& b : plan->tasks) {
        if (a.weight > b.weight && ordered) {
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

INSTANTIATE_TEST_SUITE_P(AllPlanners, PlannerTest,
                         ::testing::ValuesIn(PlannerNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// A hand-made profile where the preference order costs quality: "depth"
// (preferred) gains nothing from a wider decoder, "edges" gains a lot.
class StrategyTest : public ::testing::Test {
 protected:
  StrategyTest() : spec_(DefaultModelSpec()), costs_(ComputeCostTable(spec_)) {
    std::vector<std::vector<std::vector<double>>> q(4);
    for (int t = 0; t < 4; ++t) {
      q[t].resize(4);
      for (int we = 0; we < 4; ++we) {
        for (int wd = 0; wd < 4; ++wd) {
          const double enc = 0.7 + 0.1 * we;
          q[t][we].push_back(t == 3 ? enc * (0.4 + 0.2 * wd)  // edges
                                    : enc);                   // flat in wd
        }
      }
    }
    quality_ = std::make_unique<QualityTable>(
        QualityTable::FromValues(std::move(q)).value());
    context_.spec = &spec_;
    context_.costs = &costs_;
    context_.quality = quality_.get();
  }

  ArchPlan PlanFor(const std::string& planner, double fraction,
               TaskWeights weights) {
    PlanRequest r;
    r.budget.value = fraction;
    r.task_weights = std::move(weights);
    auto plan = PlanWith(*CreatePlanner(planner).value(), context_, r);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.value_or(ArchPlan());
  }

  v1::ModelSpec spec_;
  CostTable costs_;
  std::unique_ptr<QualityTable> quality_;
  PlanningContext context_;
};

TEST_F(StrategyTest, PaperFollowsPreferenceExactFollowsQuality) {
  const TaskWeights w = {{"depth", 1.0f}, {"edges", 0.9f}};
  const ArchPlan exact = PlanFor("exact", 0.6, w);
  const ArchPlan paper = PlanFor("paper", 0.6, w);
  const ArchPlan uniform = PlanFor("uniform", 0.6, w);
  ASSERT_EQ(exact.tasks.size(), 2u);
  ASSERT_EQ(paper.tasks.size(), 2u);
  // Exact: depth's decoder is worthless to widen, so it stays narrow and
  // edges gets the width.
  EXPECT_EQ(exact.tasks[0].decoder_width_index, 0);
  EXPECT_GT(exact.tasks[1].decoder_width_index, 0);
  // Paper: depth is preferred, so it is never narrower than edges.
  EXPECT_GE(paper.tasks[0].decoder_width_index,
            paper.tasks[1].decoder_width_index);
  EXPECT_GT(exact.objective, paper.objective);
  EXPECT_GE(paper.objective, uniform.objective);
  for (const ArchPlan* p : {&exact, &paper, &uniform}) {
    EXPECT_LE(p->macs, p->budget_macs * (1 + 1e-9));
  }
}

// "normalized" divides each weight by what its task can gain within the
// budget. Here depth's quality moves only with the encoder, by 0.02 a step;
// edges' by 0.05 with the encoder and 0.15 with its decoder. At half the
// two tasks' cost the choice is a wider encoder or a wider edges decoder:
// with equal weights "exact" takes the decoder (the larger absolute gain),
// "normalized" the encoder, depth's only lever (its whole range is 0.04,
// edges' 0.5).
TEST(NormalizedPlannerTest, WeighsWhatEachTaskCanGain) {
  const v1::ModelSpec spec = DefaultModelSpec();
  const CostTable costs = ComputeCostTable(spec);
  std::vector<std::vector<std::vector<double>>> q(4);
  for (int t = 0; t < 4; ++t) {
    q[t].resize(4);
    for (int we = 0; we < 4; ++we) {
      for (int wd = 0; wd < 4; ++wd) {
        q[t][we].push_back(t == 3   ? 0.5 + 0.05 * we + 0.15 * wd  // edges
                           : t == 1 ? 0.9 + 0.02 * we              // depth
                                    : 0.7 + 0.1 * we);
      }
    }
  }
  const QualityTable quality = QualityTable::FromValues(std::move(q)).value();
  const PlanningContext context{&spec, &costs, &quality, nullptr};
  auto plan = [&](const std::string& name, float depth, float edges) {
    PlanRequest r;
    r.budget.value = 0.5;
    r.task_weights = {{"depth", depth}, {"edges", edges}};
    auto p = PlanWith(*CreatePlanner(name).value(), context, r);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.value_or(ArchPlan());
  };
  const ArchPlan exact = plan("exact", 1, 1);
  const ArchPlan normalized = plan("normalized", 1, 1);
  ASSERT_EQ(exact.tasks.size(), 2u);
  ASSERT_EQ(normalized.tasks.size(), 2u);
  EXPECT_EQ(normalized.planner, "normalized");
  EXPECT_GT(normalized.encoder_width_index, exact.encoder_width_index);
  EXPECT_GT(normalized.tasks[0].predicted_quality,
            exact.tasks[0].predicted_quality);
  EXPECT_LT(normalized.tasks[1].predicted_quality,
            exact.tasks[1].predicted_quality);
  // Each is the optimum of its own objective: exact's unscaled one is higher.
  EXPECT_GT(exact.objective, normalized.objective);
  EXPECT_LE(normalized.macs, normalized.budget_macs * (1 + 1e-9));
  // Depth's quality follows depth's weight, from edges' plan to depth's.
  std::set<double> seen;
  double last = 0;
  for (float d : {0.01f, 0.1f, 0.5f, 1.0f, 4.0f, 100.0f}) {
    const ArchPlan p = plan("normalized", d, 1);
    EXPECT_GE(p.tasks[0].predicted_quality, last) << d;
    last = p.tasks[0].predicted_quality;
    seen.insert(last);
  }
  EXPECT_GE(seen.size(), 2u);
  // One task: the scale of its weight does not matter, every optimal
  // planner maximises that task's quality.
  PlanRequest one;
  one.budget.value = 0.5;
  one.task_weights = {{"edges", 3.0f}};
  const ArchPlan base = PlanWith(*CreatePlanner("exact").value(), context, one).value();
  for (const std::string name : {"normalized", "paper-normalized"}) {
    const ArchPlan p = PlanWith(*CreatePlanner(name).value(), context, one).value();
    EXPECT_EQ(p.encoder_width_index, base.encoder_width_index) << name;
    EXPECT_EQ(p.tasks[0].decoder_width_index, base.tasks[0].decoder_width_index)
        << name;
  }
}

// "paper-normalized" keeps paper's rule: the preferred task's decoder is
// never narrower.
TEST_F(StrategyTest, PaperNormalizedKeepsThePreferenceOrder) {
  const ArchPlan p =
      PlanFor("paper-normalized", 0.6, {{"depth", 1.0f}, {"edges", 0.9f}});
  ASSERT_EQ(p.tasks.size(), 2u);
  EXPECT_GE(p.tasks[0].decoder_width_index, p.tasks[1].decoder_width_index);
}

TEST_F(StrategyTest, EqualWeightsAreNotOrderedByPaper) {
  // With equal weights the paper rule has nothing to enforce: it is exact.
  const TaskWeights w = {{"depth", 1.0f}, {"edges", 1.0f}};
  const ArchPlan exact = PlanFor("exact", 0.6, w);
  const ArchPlan paper = PlanFor("paper", 0.6, w);
  EXPECT_EQ(exact.encoder_width_index, paper.encoder_width_index);
  for (size_t i = 0; i < exact.tasks.size(); ++i) {
    EXPECT_EQ(exact.tasks[i].decoder_width_index,
              paper.tasks[i].decoder_width_index);
  }
}

TEST_F(StrategyTest, UniformGivesEveryDecoderTheEncodersWidth) {
  std::set<int> encoders;
  for (double f : {0.2, 0.4, 0.6, 0.8, 1.0}) {
    const ArchPlan plan = PlanFor("uniform", f, {});
    ASSERT_EQ(plan.tasks.size(), 4u);
    encoders.insert(plan.encoder_width_index);
    for (const auto& t : plan.tasks) {
      // The default spec's encoder and decoder width lists are the same.
      EXPECT_EQ(t.decoder_width_index, plan.encoder_width_index) << f;
    }
  }
  EXPECT_GE(encoders.size(), 3u);  // the budget still moves it
}

TEST_F(StrategyTest, SharedDecoderSharesOneDecoderWidth) {
  bool mixed = false;  // some budget pairs unequal encoder/decoder widths
  for (double f : {0.2, 0.4, 0.6, 0.8, 1.0}) {
    const ArchPlan plan = PlanFor("shared-decoder", f, {});
    ASSERT_EQ(plan.tasks.size(), 4u);
    EXPECT_EQ(plan.planner, "shared-decoder");
    for (const auto& t : plan.tasks) {
      EXPECT_EQ(t.decoder_width_index, plan.tasks[0].decoder_width_index);
    }
    mixed |= plan.tasks[0].decoder_width_index != plan.encoder_width_index;
  }
  EXPECT_TRUE(mixed);
}

}  // namespace
}  // namespace slimserve
