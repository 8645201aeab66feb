#include "tools/train/controllability.h"

#include <cmath>

#include "engine/model/spec.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace train {
namespace {

// A profile where quality rises smoothly with both widths, the same for every
// task, as a trained supernet's roughly does.
v1::ProfileTable SmoothProfile(const v1::ModelSpec& spec) {
  v1::ProfileTable table;
  for (const auto& task : spec.tasks()) {
    for (int we = 0; we < spec.encoder_widths_size(); ++we) {
      for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
        auto* e = table.add_entries();
        e->set_task(task.name());
        e->set_encoder_width_index(we);
        e->set_decoder_width_index(wd);
        e->set_metric("m");
        const double q = 1 - 0.3 * std::pow(1 - spec.encoder_widths(we), 1.5) -
                         0.25 * std::pow(1 - spec.decoder_widths(wd), 1.5);
        e->set_value(q);
        e->set_higher_is_better(true);
        e->set_normalized_quality(q);
      }
    }
  }
  return table;
}

const ControllabilityRow& RowOf(const ControllabilityReport& report,
                                const std::string& planner, double budget) {
  for (const auto& r : report.rows) {
    if (r.planner == planner && r.budget == budget) return r;
  }
  ADD_FAILURE() << "no row " << planner << " " << budget;
  return report.rows.front();
}

TEST(ControllabilityTest, PreferenceFollowingPlannersBeatUniformWidths) {
  const v1::ModelSpec spec = DefaultModelSpec();
  ControllabilityOptions o;
  o.planners = {"normalized", "paper-normalized", "paper", "exact", "uniform",
                "shared-decoder"};
  o.num_draws = 3;
  auto report = EvaluateControllability(spec, SmoothProfile(spec), o);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->rows.size(), 24u);
  EXPECT_EQ(report->loss_source, "1/normalised quality");  // no "loss" here
  ASSERT_EQ(report->reference.size(), 4u);
  for (const auto& r : report->rows) {
    EXPECT_EQ(r.planned, 60) << r.planner << " " << r.budget;
    ASSERT_EQ(r.task_correlation.size(), 4u);
    EXPECT_GE(r.correlation.sd, 0);
    if (r.budget == 1.0) {
      // Full budget: everything at full width, nothing to control, every
      // task at the top of the hypervolume's box.
      EXPECT_NEAR(r.objective, 1.0, 1e-6) << r.planner;
      EXPECT_NEAR(r.hypervolume.mean, 1.0, 1e-9) << r.planner;
      EXPECT_EQ(r.correlation.mean, 0) << r.planner;
    } else {
      EXPECT_GE(r.hypervolume.mean, 0) << r.planner << " " << r.budget;
      EXPECT_LT(r.hypervolume.mean, 1) << r.planner << " " << r.budget;
    }
  }
  // At 0.25 "uniform" can only afford the narrowest configuration, the
  // hypervolume's reference.
  EXPECT_EQ(RowOf(*report, "uniform", 0.25).hypervolume.mean, 0);
  // Every task has the same quality here, so a preference-blind planner
  // picks the same widths whatever the preference: no correlation.
  for (double b : {0.25, 0.5, 0.75}) {
    for (const char* blind : {"uniform", "shared-decoder"}) {
      const auto& r = RowOf(*report, blind, b);
      EXPECT_EQ(r.correlation.mean, 0) << blind << " " << b;
      EXPECT_EQ(r.correlation.sd, 0) << blind << " " << b;
    }
    for (const char* follower :
         {"normalized", "paper-normalized", "paper", "exact"}) {
      const auto& r = RowOf(*report, follower, b);
      EXPECT_GE(r.objective, RowOf(*report, "uniform", b).objective - 1e-9);
      EXPECT_GE(r.hypervolume.mean,
                RowOf(*report, "shared-decoder", b).hypervolume.mean - 1e-9);
      // At 0.75 this profile's best plan is the same for every preference
      // (the widths are quarter steps): nothing to control there.
      if (b == 0.75) continue;
      EXPECT_GT(r.correlation.mean, 0.5) << follower << " " << b;
      for (double c : r.task_correlation) EXPECT_GT(c, 0.5) << follower << " " << b;
      EXPECT_GT(r.correlation.sd, 0) << follower << " " << b;
    }
    EXPECT_GE(RowOf(*report, "exact", b).objective,
              RowOf(*report, "paper", b).objective - 1e-9);
  }
  ASSERT_EQ(report->summaries.size(), 6u);
  EXPECT_EQ(report->summaries[0].planner, "normalized");
  EXPECT_GT(report->summaries[0].correlation.mean, 0.3);
  EXPECT_EQ(report->summaries[4].planner, "uniform");
  EXPECT_EQ(report->summaries[4].correlation.mean, 0);
  const std::string json = ControllabilityJson(*report);
  EXPECT_NE(json.find("\"average_over_budgets_below_1\""), std::string::npos);
  EXPECT_NE(json.find("\"task_correlation\": {\"semseg\": "), std::string::npos);
  EXPECT_NE(ControllabilityMarkdown(*report).find("| paper | 0.25 |"),
            std::string::npos);
}

// The per-task figure does not reward a task for being insensitive to
// slimming: a task whose quality never moves has correlation 0, and the
// others keep theirs.
TEST(ControllabilityTest, InsensitiveTaskHasNoCorrelation) {
  const v1::ModelSpec spec = DefaultModelSpec();
  v1::ProfileTable profile = SmoothProfile(spec);
  const std::string flat = spec.tasks(1).name();
  for (auto& e : *profile.mutable_entries()) {
    // 0.9 everywhere but at full width.
    const bool full = e.encoder_width_index() == 3 && e.decoder_width_index() == 3;
    if (e.task() == flat) e.set_normalized_quality(full ? 1.0 : 0.9);
  }
  ControllabilityOptions o;
  o.planners = {"exact"};
  o.budgets = {0.5};
  o.num_draws = 1;
  auto report = EvaluateControllability(spec, profile, o);
  ASSERT_TRUE(report.ok()) << report.status();
  const auto& r = report->rows[0];
  EXPECT_EQ(r.task_correlation[1], 0);
  EXPECT_GT(r.task_correlation[0], 0.3);
  EXPECT_EQ(r.correlation.sd, 0);  // one draw
}

// What a planner can move: a task whose quality is flat below full width has
// no range among the efficient configurations until its full width fits
// (at 0.75); the others do; at the full budget only full width is
// efficient.
TEST(ControllabilityTest, ParetoRangeIsWhatAPlannerCanMove) {
  const v1::ModelSpec spec = DefaultModelSpec();
  v1::ProfileTable profile = SmoothProfile(spec);
  for (auto& e : *profile.mutable_entries()) {
    const bool full = e.encoder_width_index() == 3 && e.decoder_width_index() == 3;
    if (e.task() == spec.tasks(1).name()) {
      e.set_normalized_quality(full ? 1.0 : 0.9);
    }
  }
  ControllabilityOptions o;
  o.planners = {"normalized"};
  o.num_draws = 1;
  auto report = EvaluateControllability(spec, profile, o);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->pareto.size(), 4u);
  int last_within = 0;
  for (const ParetoRange& p : report->pareto) {
    ASSERT_EQ(p.range.size(), 4u);
    EXPECT_GT(p.num_within, last_within) << p.budget;
    last_within = p.num_within;
    EXPECT_GE(p.num_efficient, 1);
    EXPECT_LE(p.num_efficient, p.num_within);
    ASSERT_EQ(p.levels.size(), 4u);
    ASSERT_EQ(p.ceiling.size(), 4u);
    if (p.budget < 1) {
      // At 0.75 the flat task's full width fits beside narrow decoders:
      // two levels (0.9 and 1), so no planner can correlate it past
      // sqrt(3) / 2.
      const bool two = p.budget == 0.75;
      EXPECT_NEAR(p.range[1], two ? 0.1 : 0, 1e-12) << p.budget;
      EXPECT_EQ(p.levels[1], two ? 2 : 1) << p.budget;
      EXPECT_NEAR(p.ceiling[1], two ? std::sqrt(3.0) / 2 : 0, 1e-12);
      for (int t : {0, 2, 3}) {
        EXPECT_GT(p.range[t], 0.01) << p.budget << " " << t;
        EXPECT_GE(p.levels[t], 3) << p.budget << " " << t;
        EXPECT_GT(p.ceiling[t], p.ceiling[1]) << p.budget << " " << t;
        EXPECT_LT(p.ceiling[t], 1);
      }
    } else {
      EXPECT_EQ(p.num_within, 4 * 4 * 4 * 4 * 4);
      EXPECT_EQ(p.num_efficient, 1);
      for (double r : p.range) EXPECT_EQ(r, 0);
      for (int l : p.levels) EXPECT_EQ(l, 1);
      for (double c : p.ceiling) EXPECT_EQ(c, 0);
    }
  }
  EXPECT_NE(ControllabilityJson(*report).find("\"pareto_range\""),
            std::string::npos);
  EXPECT_NE(ControllabilityJson(*report).find("\"levels\": {\"semseg\": "),
            std::string::npos);
  EXPECT_NE(ControllabilityMarkdown(*report).find("Pareto-efficient"),
            std::string::npos);
}

// With held-out losses in the profile, mu uses them (DYMU's definition).
TEST(ControllabilityTest, UniformityUsesHeldOutLosses) {
  const v1::ModelSpec spec = DefaultModelSpec();
  v1::ProfileTable profile = SmoothProfile(spec);
  ControllabilityOptions o;
  o.planners = {"paper"};
  o.budgets = {0.5};
  o.num_draws = 1;
  auto without = EvaluateControllability(spec, profile, o);
  ASSERT_TRUE(without.ok());
  for (auto& e : *profile.mutable_entries()) {
    // Task losses on very different scales, as cross-entropy and metres.
    const double scale = e.task() == spec.tasks(0).name() ? 10.0 : 0.1;
    (*e.mutable_extra_metrics())["loss"] = scale / e.normalized_quality();
  }
  auto with = EvaluateControllability(spec, profile, o);
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(with->loss_source, "held-out loss");
  EXPECT_LT(with->rows[0].uniformity, without->rows[0].uniformity - 0.1);
  // The quality-based figures do not depend on the losses.
  EXPECT_EQ(with->rows[0].correlation.mean, without->rows[0].correlation.mean);
}

TEST(ControllabilityTest, IncompleteProfileIsAnError) {
  const v1::ModelSpec spec = DefaultModelSpec();
  v1::ProfileTable profile = SmoothProfile(spec);
  profile.mutable_entries()->RemoveLast();
  EXPECT_FALSE(EvaluateControllability(spec, profile, {}).ok());
  ControllabilityOptions one;
  one.num_preferences = 1;
  EXPECT_FALSE(EvaluateControllability(spec, SmoothProfile(spec), one).ok());
}

}  // namespace
}  // namespace train
}  // namespace slimserve
