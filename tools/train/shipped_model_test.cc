// The model tools/serve.sh serves (models/default) against the quality bars
// it is shipped with: its committed profile (256 held-out scenes) is
// monotone in both widths and keeps >= 70% at the narrowest configuration,
// the server's default planner is the most controllable on it, and its
// weights, re-evaluated here on fresh scenes, are far above trivial
// baselines. A retrained or edited model that misses a bar fails here.
#include <map>
#include <string>
#include <tuple>

#include "engine/engine.h"
#include "engine/model/quality_table.h"
#include "engine/model/spec.h"
#include "engine/planning/planner.h"
#include "gtest/gtest.h"
#include "tools/train/controllability.h"
#include "tools/train/evaluator.h"

namespace slimserve {
namespace train {
namespace {

constexpr char kModelDir[] = "models/default";

class ShippedModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto spec = LoadModelSpec(kModelDir);
    ASSERT_TRUE(spec.ok()) << spec.status();
    spec_ = *spec;
    auto profile = LoadProfileTable(kModelDir);
    ASSERT_TRUE(profile.ok()) << profile.status();
    profile_ = *profile;
    for (const auto& e : profile_.entries()) {
      nq_[{e.task(), static_cast<int>(e.encoder_width_index()),
           static_cast<int>(e.decoder_width_index())}] = e.normalized_quality();
    }
  }
  // Normalised quality of (task, encoder width index, decoder width index).
  double Q(const std::string& task, int we, int wd) {
    return nq_[{task, we, wd}];
  }
  slimserve::v1::ModelSpec spec_;
  slimserve::v1::ProfileTable profile_;
  std::map<std::tuple<std::string, int, int>, double> nq_;
};

// `slimtrain --spec=default` (the README's recipe) must train the shipped
// architecture: DefaultModelSpec() and spec.textproto differ only in the
// version and the weights file name.
TEST_F(ShippedModelTest, DefaultSpecIsTheShippedArchitecture) {
  slimserve::v1::ModelSpec shipped = spec_;
  slimserve::v1::ModelSpec built = DefaultModelSpec();
  for (auto* s : {&shipped, &built}) {
    s->clear_version();
    s->clear_weights_file();
  }
  EXPECT_EQ(shipped.DebugString(), built.DebugString());
}

TEST_F(ShippedModelTest, ProfileIsOfThisModelAndComplete) {
  EXPECT_EQ(profile_.model_name(), spec_.name());
  EXPECT_EQ(profile_.model_version(), spec_.version());
  EXPECT_GE(profile_.num_images(), 256u);
  const int num_we = spec_.encoder_widths_size();
  const int num_wd = spec_.decoder_widths_size();
  EXPECT_EQ(nq_.size(), size_t(spec_.tasks_size() * num_we * num_wd));
  for (const auto& task : spec_.tasks()) {
    EXPECT_DOUBLE_EQ(Q(task.name(), num_we - 1, num_wd - 1), 1.0)
        << task.name();
  }
}

// "Improves with its decoder width and with the encoder width, within
// noise": normalised quality may drop by at most 0.015 (1.5% of full width)
// from one width to the next wider one. Noise measured on nyud-slim 1.1:
// depth at decoder 0.25 vs 0.5 differs by up to 1.1% on the profile's 256
// scenes and by 0.1% (either sign) on 512 other ones. 1.0's dip (4.5%)
// fails this.
TEST_F(ShippedModelTest, QualityIsMonotoneInBothWidths) {
  constexpr double kNoise = 0.015;
  const int num_we = spec_.encoder_widths_size();
  const int num_wd = spec_.decoder_widths_size();
  for (const auto& task : spec_.tasks()) {
    const std::string& t = task.name();
    for (int we = 0; we < num_we; ++we) {
      for (int wd = 0; wd < num_wd; ++wd) {
        const double q = Q(t, we, wd);
        if (wd + 1 < num_wd) {
          EXPECT_GE(Q(t, we, wd + 1), q - kNoise)
              << t << ": encoder " << we << ", decoder " << wd << " -> "
              << wd + 1;
        }
        if (we + 1 < num_we) {
          EXPECT_GE(Q(t, we + 1, wd), q - kNoise)
              << t << ": decoder " << wd << ", encoder " << we << " -> "
              << we + 1;
        }
      }
    }
  }
}

TEST_F(ShippedModelTest, NarrowestKeepsSeventyPercent) {
  for (const auto& task : spec_.tasks()) {
    EXPECT_GE(Q(task.name(), 0, 0), 0.70) << task.name();
  }
}

// tools/train/controllability.h on the committed profile. Bars met by
// nyud-slim 1.2 (models/default/README.md has the numbers): with the
// default planner ("normalized"), each task's quality follows its own
// preference with per-task rank correlation >= 0.7 at every budget below 1
// (the aim is 0.85; not reached: 0.82 / 0.75 / 0.76, held back by
// depth, whose quality moves by under 2% among the efficient
// configurations at budgets 0.5 and 0.75), and the default planner is,
// within 0.02, the best of all planners on it and far above uniform
// widths.
TEST_F(ShippedModelTest, DefaultPlannerIsTheMostControllable) {
  for (const auto& e : profile_.entries()) {
    // mu needs held-out task losses (slimeval writes them).
    EXPECT_TRUE(e.extra_metrics().contains("loss")) << e.task();
  }
  ControllabilityOptions o;
  o.planners = PlannerNames();
  auto report = EvaluateControllability(spec_, profile_, o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->loss_source, "held-out loss");
  const std::string default_planner(PlannerKindName(Engine::Options{}.planner));
  std::map<std::string, double> below_1;
  for (const auto& s : report->summaries) below_1[s.planner] = s.correlation.mean;
  ASSERT_TRUE(below_1.count(default_planner)) << default_planner;
  for (const auto& [name, c] : below_1) {
    EXPECT_GE(below_1[default_planner], c - 0.02) << name;
  }
  EXPECT_GE(below_1[default_planner], below_1["uniform"] + 0.5);
  EXPECT_GE(below_1[default_planner], below_1["shared-decoder"] + 0.2);
  for (const auto& r : report->rows) {
    if (r.planner != default_planner || r.budget >= 1) continue;
    EXPECT_GE(r.correlation.mean, 0.7) << "budget " << r.budget;
  }
}

TEST_F(ShippedModelTest, WeightsBeatTrivialBaselinesOnFreshScenes) {
  EvalOptions o;
  o.model_dir = kModelDir;
  o.num_images = 32;
  o.batch_size = 16;
  o.data_seed = 4242;  // neither training, calibration nor the profile's
  o.num_threads = 2;
  auto r = Evaluate(o);
  ASSERT_TRUE(r.ok()) << r.status();
  for (int t = 0; t < spec_.tasks_size(); ++t) {
    const TaskMetrics& full = r->metrics[t].back().back();
    const double base = r->baselines[t].value;
    const std::string& name = spec_.tasks(t).name();
    switch (spec_.tasks(t).kind()) {
      case slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION:
        EXPECT_GE(full.value, 3 * base) << name << " mIoU";
        break;
      case slimserve::v1::TASK_KIND_DEPTH:
      case slimserve::v1::TASK_KIND_SURFACE_NORMALS:
        EXPECT_LE(full.value, 0.5 * base) << name << " " << full.metric;
        break;
      default:
        EXPECT_GE(full.value, 1.5 * base) << name << " " << full.metric;
    }
  }
}

}  // namespace
}  // namespace train
}  // namespace slimserve
