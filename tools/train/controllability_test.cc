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

TEST(ControllabilityTest, PreferenceFollowingPlannersBeatOneWidthForAll) {
  const v1::ModelSpec spec = DefaultModelSpec();
  ControllabilityOptions o;
  o.planners = {"paper", "exact", "uniform"};
  auto rows = EvaluateControllability(spec, SmoothProfile(spec), o);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 12u);
  std::map<std::string, double> spearman, objective;
  for (const auto& r : *rows) {
    EXPECT_EQ(r.planned, 20) << r.planner << " " << r.budget;
    if (r.budget == 1.0) {
      // Full budget: everything at full width, nothing to control.
      EXPECT_NEAR(r.objective, 1.0, 1e-6) << r.planner;
      continue;
    }
    spearman[r.planner] += r.spearman;
    objective[r.planner] += r.objective;
  }
  // One width for all decoders gives every task the same quality here: no
  // correlation with preference. The others follow it.
  EXPECT_NEAR(spearman["uniform"], 0.0, 1e-9);
  EXPECT_GT(spearman["paper"], 0.5);
  EXPECT_GT(spearman["exact"], 0.5);
  EXPECT_GE(objective["exact"], objective["paper"] - 1e-9);
  EXPECT_GE(objective["paper"], objective["uniform"] - 1e-9);
  const std::string json = ControllabilityJson(*rows);
  EXPECT_NE(json.find("\"average_over_budgets\""), std::string::npos);
  EXPECT_NE(ControllabilityMarkdown(*rows).find("| paper |"), std::string::npos);
}

TEST(ControllabilityTest, IncompleteProfileIsAnError) {
  const v1::ModelSpec spec = DefaultModelSpec();
  v1::ProfileTable profile = SmoothProfile(spec);
  profile.mutable_entries()->RemoveLast();
  EXPECT_FALSE(EvaluateControllability(spec, profile, {}).ok());
}

}  // namespace
}  // namespace train
}  // namespace slimserve
