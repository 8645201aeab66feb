// A few steps of real training on the tiny spec: the package it writes loads
// and evaluates, checkpoints resume, and the CIKD ablation path runs.
#include <filesystem>

#include <torch/torch.h>

#include "engine/model_spec.h"
#include "engine/supernet.h"
#include "gtest/gtest.h"
#include "tools/train/data.h"
#include "tools/train/evaluator.h"
#include "tools/train/trainer.h"

namespace slimserve {
namespace train {
namespace {

std::string TempDir(const std::string& name) {
  return (std::filesystem::path(testing::TempDir()) / name).string();
}

int64_t CheckpointStep(const std::string& dir) {
  torch::serialize::InputArchive archive;
  archive.load_from(dir + "/checkpoint.pt");
  torch::Tensor step;
  archive.read("step", step);
  return step.item<int64_t>();
}

TrainerOptions TinyOptions(const std::string& dir) {
  TrainerOptions o;
  o.spec = TinyModelSpec();
  o.out_dir = dir;
  o.steps = 4;
  o.batch_size = 2;
  o.checkpoint_every = 2;
  o.num_threads = 1;
  o.recalibration_batches = 2;
  o.progress = false;
  return o;
}

TEST(DataTest, BatchTensorsMatchTheScenes) {
  const Batch b = MakeBatch(TinyModelSpec(), {}, 1, 0, 3, 2);
  EXPECT_EQ(b.image.sizes(), torch::IntArrayRef({3, 3, 32, 48}));
  EXPECT_EQ(b.semantic.sizes(), torch::IntArrayRef({3, 32, 48}));
  EXPECT_GE(b.semantic.min().item<int64_t>(), 0);
  EXPECT_LT(b.semantic.max().item<int64_t>(), 8);
  EXPECT_GT(b.depth.min().item<float>(), 0.0f);
  EXPECT_TRUE(torch::allclose(b.normals.norm(2, 1), torch::ones({3, 32, 48}),
                              1e-4, 1e-4));
  // Same indices, same data; the threads split work, not content.
  const Batch again = MakeBatch(TinyModelSpec(), {}, 1, 1, 1, 1);
  EXPECT_TRUE(torch::equal(again.image[0], b.image[1]));
}

TEST(TrainerTest, TrainsWritesALoadablePackageAndResumes) {
  const std::string dir = TempDir("run");
  TrainerOptions o = TinyOptions(dir);
  ASSERT_TRUE(Train(o).ok());
  EXPECT_EQ(CheckpointStep(dir), 4);
  auto spec = LoadModelSpec(dir);
  ASSERT_TRUE(spec.ok()) << spec.status();
  Supernet net(*spec);
  ASSERT_TRUE(LoadSupernet(net, WeightsPath(dir, *spec)).ok());
  // Training moved the weights away from the initialisation.
  Supernet init(*spec);
  InitSupernet(init, o.seed);
  EXPECT_FALSE(torch::equal(net->parameters()[0], init->parameters()[0]));

  o.steps = 6;  // resumes from step 4
  ASSERT_TRUE(Train(o).ok());
  EXPECT_EQ(CheckpointStep(dir), 6);

  EvalOptions e;
  e.model_dir = dir;
  e.num_images = 4;
  e.batch_size = 2;
  e.num_threads = 1;
  auto result = Evaluate(e);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto profile = MakeProfile(*result, "test");
  EXPECT_EQ(profile.entries_size(), 4 * 4 * 4);
  for (const auto& entry : profile.entries()) {
    EXPECT_TRUE(std::isfinite(entry.value())) << entry.ShortDebugString();
    EXPECT_GT(entry.normalized_quality(), 0.0);
    if (entry.encoder_width_index() == 3 && entry.decoder_width_index() == 3) {
      EXPECT_DOUBLE_EQ(entry.normalized_quality(), 1.0);
    }
  }
  EXPECT_DOUBLE_EQ(ConfigDeltaM(*result, 3, {3, 3, 3, 3}), 0.0);
  EXPECT_NE(ReportJson(*result).find("\"uniform_configs\""), std::string::npos);
}

TEST(TrainerTest, CikdOffRuns) {
  TrainerOptions o = TinyOptions(TempDir("no_cikd"));
  o.cikd = false;
  o.steps = 2;
  EXPECT_TRUE(Train(o).ok());
}

TEST(SampleRandomConfigTest, InnerWidthsSkipTheSandwichEnds) {
  std::mt19937_64 rng(3);
  std::vector<int> we_seen(4, 0), wd_seen(4, 0);
  for (int i = 0; i < 2000; ++i) {
    const SampledConfig c = SampleRandomConfig(rng, 4, 4, 3, /*inner=*/true);
    ++we_seen[c.we];
    ASSERT_EQ(c.wd.size(), 3u);
    for (int wd : c.wd) ++wd_seen[wd];
  }
  EXPECT_EQ(we_seen[0] + we_seen[3], 0);
  EXPECT_EQ(wd_seen[0] + wd_seen[3], 0);
  EXPECT_GT(we_seen[1], 800);  // both inner widths, about half each
  EXPECT_GT(we_seen[2], 800);
  EXPECT_GT(wd_seen[1], 2400);
  EXPECT_GT(wd_seen[2], 2400);
}

TEST(SampleRandomConfigTest, AllWidthsWithoutInnerOrWithTwoWidths) {
  std::mt19937_64 rng(5);
  std::vector<int> all(4, 0), two(2, 0);
  for (int i = 0; i < 2000; ++i) {
    ++all[SampleRandomConfig(rng, 4, 4, 1, /*inner=*/false).we];
    ++two[SampleRandomConfig(rng, 2, 2, 1, /*inner=*/true).wd[0]];
  }
  for (int n : all) EXPECT_GT(n, 350);
  for (int n : two) EXPECT_GT(n, 800);
}

TEST(TrainerTest, RefusesBadOptions) {
  TrainerOptions o = TinyOptions("");
  EXPECT_EQ(Train(o).code(), absl::StatusCode::kInvalidArgument);
  o = TinyOptions(TempDir("bad"));
  o.steps = 0;
  EXPECT_EQ(Train(o).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace train
}  // namespace slimserve
