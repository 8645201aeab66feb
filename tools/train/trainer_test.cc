// A few steps of real training on the tiny spec: the package it writes loads
// and evaluates, checkpoints resume, and the CIKD ablation path runs.
#include "tools/train/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "engine/model/spec.h"
#include "engine/runtime/supernet.h"
#include "gtest/gtest.h"
#include "tools/train/data.h"
#include "tools/train/evaluator.h"

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
  o.cikd = true;  // the tests cover its path too; no_cikd turns it off
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

TEST(TrainerTest, DepthGradientLossRuns) {
  TrainerOptions o = TinyOptions(TempDir("depth_gradient"));
  o.cikd = false;
  o.steps = 2;
  o.depth_gradient_weight = 2;
  EXPECT_TRUE(Train(o).ok());
}

// Zero on equal maps and on maps a constant apart (only slopes count);
// a step moved by one pixel costs its height twice (one difference each
// map has that the other lacks) over the differences.
TEST(DepthGradientL1Test, SeesSlopesNotOffsets) {
  torch::manual_seed(5);
  const torch::Tensor t = torch::rand({2, 1, 5, 7});
  EXPECT_NEAR(DepthGradientL1(t, t).item<double>(), 0, 1e-7);
  EXPECT_NEAR(DepthGradientL1(t + 3, t).item<double>(), 0, 1e-6);
  const torch::Tensor a = torch::zeros({1, 1, 4, 6});
  torch::Tensor step = a.clone(), moved = a.clone();
  step.narrow(3, 3, 3).fill_(1);   // columns 3..5
  moved.narrow(3, 4, 2).fill_(1);  // columns 4..5
  // Horizontal: 4 rows x 5 differences, two of them off by 1 per row;
  // vertical differences are all 0.
  EXPECT_NEAR(DepthGradientL1(moved, step).item<double>(), 2.0 * 4 / 20, 1e-6);
}

TEST(SampleRandomConfigTest, EndWidthWeightZeroSkipsTheSandwichEnds) {
  std::mt19937_64 rng(3);
  std::vector<int> we_seen(4, 0), wd_seen(4, 0);
  for (int i = 0; i < 2000; ++i) {
    const SampledConfig c = SampleRandomConfig(rng, 4, 4, 3, 0.0);
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

TEST(SampleRandomConfigTest, EndWidthWeightSetsTheShareOfTheEnds) {
  // Weight 0.25 against 1 per inner width: ends 0.25/2.5 = 10% each, inner
  // widths 40% each; weight 1 is uniform.
  std::mt19937_64 rng(7);
  std::vector<int> biased(4, 0), uniform(4, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    ++biased[SampleRandomConfig(rng, 4, 4, 1, 0.25).wd[0]];
    ++uniform[SampleRandomConfig(rng, 4, 4, 1, 1.0).we];
  }
  EXPECT_NEAR(biased[0], 0.1 * n, 0.015 * n);
  EXPECT_NEAR(biased[1], 0.4 * n, 0.015 * n);
  EXPECT_NEAR(biased[2], 0.4 * n, 0.015 * n);
  EXPECT_NEAR(biased[3], 0.1 * n, 0.015 * n);
  for (int c : uniform) EXPECT_NEAR(c, 0.25 * n, 0.015 * n);
}

TEST(SampleRandomConfigTest, TwoWidthsAreUniformWhateverTheWeight) {
  std::mt19937_64 rng(5);
  std::vector<int> two(2, 0);
  for (int i = 0; i < 2000; ++i) {
    ++two[SampleRandomConfig(rng, 2, 2, 1, 0.0).wd[0]];
  }
  for (int n : two) EXPECT_GT(n, 800);
}

TEST(SampleOtherWidthsTest, DistinctOthersUniformlyAndClipped) {
  std::mt19937_64 rng(11);
  std::vector<int> seen(4, 0);
  const int n = 6000;
  for (int i = 0; i < n; ++i) {
    const std::vector<int> one = SampleOtherWidths(rng, 4, 2, 1);
    ASSERT_EQ(one.size(), 1u);
    ++seen[one[0]];
    std::vector<int> two = SampleOtherWidths(rng, 4, 0, 2);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_NE(two[0], two[1]);
    EXPECT_NE(two[0], 0);
    EXPECT_NE(two[1], 0);
  }
  EXPECT_EQ(seen[2], 0);
  for (int w : {0, 1, 3}) EXPECT_NEAR(seen[w], n / 3.0, 0.03 * n) << w;
  std::vector<int> all = SampleOtherWidths(rng, 4, 3, 10);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(SampleOtherWidths(rng, 4, 1, 0).empty());
}

// Affine rows of the depth decoder's first BatchNorm, per configuration
// (encoder width index * 4 + decoder width index), after training `o`.
torch::Tensor DecoderBnWeight(const TrainerOptions& o) {
  auto spec = LoadModelSpec(o.out_dir);
  EXPECT_TRUE(spec.ok()) << spec.status();
  Supernet net(*spec);
  EXPECT_TRUE(LoadSupernet(net, WeightsPath(o.out_dir, *spec)).ok());
  const std::string name =
      "decoder_" + spec->tasks(1).name() + ".conv0_bn.weight";
  const auto params = net->named_parameters();
  EXPECT_NE(params.find(name), nullptr) << name;
  return params[name].clone();
}

// How far a row moved from its initial scale of 1.
double Moved(const torch::Tensor& row) {
  return (row - 1).abs().max().item<double>();
}

TEST(TrainerTest, ExtraDecoderWidthsTrainTheOtherPairs) {
  // Sandwich ends only: configurations (0, 0) and (3, 3). Without extra
  // decoder widths the affine row of (0, 1) gets no gradient (AdamW's
  // weight decay alone moves it by ~lr * 1e-4); with every other width (3)
  // it is trained like the ends.
  TrainerOptions o = TinyOptions(TempDir("ends_only"));
  o.spec.set_decoder_bn_affine(v1::ModelSpec::DECODER_BATCH_NORM_AFFINE_PER_CONFIGURATION);
  o.num_random_configs = 0;
  o.extra_decoder_widths = 0;
  o.warmup_steps = 0;
  o.steps = 2;
  ASSERT_TRUE(Train(o).ok());
  const torch::Tensor plain = DecoderBnWeight(o);
  EXPECT_LT(Moved(plain[0 * 4 + 1]), 1e-5);
  EXPECT_GT(Moved(plain[0 * 4 + 0]), 1e-4);

  o.out_dir = TempDir("ends_plus_extra");
  o.extra_decoder_widths = 3;
  ASSERT_TRUE(Train(o).ok());
  const torch::Tensor extra = DecoderBnWeight(o);
  for (int we : {0, 3}) {
    for (int wd = 0; wd < 4; ++wd) {
      EXPECT_GT(Moved(extra[we * 4 + wd]), 1e-4) << we << " " << wd;
    }
  }
  // Middle encoder widths still never run.
  EXPECT_LT(Moved(extra[1 * 4 + 2]), 1e-5);
}

TEST(TrainerTest, RefusesBadOptions) {
  TrainerOptions o = TinyOptions("");
  EXPECT_EQ(Train(o).code(), absl::StatusCode::kInvalidArgument);
  o = TinyOptions(TempDir("bad"));
  o.steps = 0;
  EXPECT_EQ(Train(o).code(), absl::StatusCode::kInvalidArgument);
  o = TinyOptions(TempDir("bad_weight"));
  o.end_width_weight = -1;
  EXPECT_EQ(Train(o).code(), absl::StatusCode::kInvalidArgument);
  for (double w : {-1.0, std::nan("")}) {
    o = TinyOptions(TempDir("bad_depth_gradient"));
    o.depth_gradient_weight = w;
    const absl::Status st = Train(o);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("depth_gradient_weight"), absl::string_view::npos);
  }
  o = TinyOptions(TempDir("bad_extra"));
  o.extra_decoder_widths = -1;
  EXPECT_EQ(Train(o).code(), absl::StatusCode::kInvalidArgument);
  for (const std::vector<int>& stages :
       {std::vector<int>{3}, std::vector<int>{-1}, std::vector<int>{1, 1}}) {
    o = TinyOptions(TempDir("bad_stages"));
    o.cikd_stages = stages;
    const absl::Status st = Train(o);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("cikd_stages"), absl::string_view::npos) << st;
  }
  o = TinyOptions(TempDir("bad_ramp"));
  o.cikd_ramp_steps = -1;
  EXPECT_EQ(Train(o).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CikdTest, ParsesItsNamesAndRefusesOthers) {
  EXPECT_EQ(*ParseCikdFeatures("pre_relu"), CikdFeatures::kPreRelu);
  EXPECT_EQ(*ParseCikdFeatures("post_relu"), CikdFeatures::kPostRelu);
  EXPECT_EQ(*ParseCikdDistance("mse"), CikdDistance::kMse);
  EXPECT_EQ(*ParseCikdDistance("standardized"), CikdDistance::kStandardized);
  EXPECT_EQ(*ParseCikdDistance("cosine"), CikdDistance::kCosine);
  const auto bad = ParseCikdDistance(std::string(1000, 'x'));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(bad.status().message().size(), 200u);  // bounded echo
  EXPECT_FALSE(ParseCikdFeatures("relu").ok());
}

TEST(CikdTest, WeightWarmsUpThenRamps) {
  TrainerOptions o;
  EXPECT_EQ(CikdWeightAt(o, 0), 0);  // off
  o.cikd = true;
  o.cikd_weight = 0.5;
  EXPECT_EQ(CikdWeightAt(o, 0), 0.5);  // from the first step by default
  o.cikd_warmup_steps = 10;
  o.cikd_ramp_steps = 4;
  EXPECT_EQ(CikdWeightAt(o, 9), 0);
  EXPECT_DOUBLE_EQ(CikdWeightAt(o, 10), 0.125);
  EXPECT_DOUBLE_EQ(CikdWeightAt(o, 12), 0.375);
  EXPECT_DOUBLE_EQ(CikdWeightAt(o, 13), 0.5);
  EXPECT_DOUBLE_EQ(CikdWeightAt(o, 1000), 0.5);
}

TEST(CikdTest, DistancesAreZeroOnEqualFeaturesAndSeeWhatTheyShould) {
  torch::manual_seed(3);
  const torch::Tensor t = torch::randn({2, 5, 4, 6});
  // Per-channel scale and shift: standardised features are the same.
  const torch::Tensor scale = torch::rand({1, 5, 1, 1}) + 0.5;
  const torch::Tensor affine = t * scale + torch::randn({1, 5, 1, 1});
  // Per-pixel positive scale: the same directions.
  const torch::Tensor scaled = t * (torch::rand({2, 1, 4, 6}) + 0.5);
  for (CikdDistance d : {CikdDistance::kMse, CikdDistance::kStandardized,
                         CikdDistance::kCosine}) {
    EXPECT_NEAR(CikdStageDistance(d, t, t).item<double>(), 0, 1e-5);
    EXPECT_GT(CikdStageDistance(d, torch::randn_like(t), t).item<double>(), 0.5);
  }
  EXPECT_GT(CikdStageDistance(CikdDistance::kMse, affine, t).item<double>(), 0.05);
  EXPECT_NEAR(CikdStageDistance(CikdDistance::kStandardized, affine, t).item<double>(),
              0, 1e-4);
  EXPECT_GT(CikdStageDistance(CikdDistance::kStandardized, scaled, t).item<double>(),
            1e-3);
  EXPECT_NEAR(CikdStageDistance(CikdDistance::kCosine, scaled, t).item<double>(), 0,
              1e-5);
  EXPECT_GT(CikdStageDistance(CikdDistance::kCosine, affine, t).item<double>(), 1e-3);
}

// Reads OUT/cikd_log.tsv into rows of fields, header first.
std::vector<std::vector<std::string>> ReadTsv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    rows.push_back(absl::StrSplit(line, '\t'));
  }
  return rows;
}

TEST(TrainerTest, CikdVariantsTrainAndLogPerStage) {
  TrainerOptions o = TinyOptions(TempDir("cikd_variant"));
  o.cikd_features = CikdFeatures::kPreRelu;
  o.cikd_distance = CikdDistance::kStandardized;
  o.cikd_stages = {1, 2};  // of the tiny spec's 3
  o.cikd_warmup_steps = 2;  // steps 1-2 log weight 0, then 0.5, 1
  o.cikd_ramp_steps = 2;
  o.cikd_log_every = 1;
  ASSERT_TRUE(Train(o).ok());
  const auto rows = ReadTsv(o.out_dir + "/cikd_log.tsv");
  ASSERT_EQ(rows.size(), 1u + 4 * 2);  // header + 4 steps x 2 stages
  EXPECT_EQ(rows[0], (std::vector<std::string>{"step", "weight", "stage",
                                               "distance", "grad_norm_ratio"}));
  const std::vector<std::string> weights = {"0", "0", "0.5", "1"};
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& r = rows[i];
    ASSERT_EQ(r.size(), 5u);
    const int step = std::stoi(r[0]);
    EXPECT_EQ(step, int(i + 1) / 2);
    EXPECT_EQ(r[1], weights[step - 1]);
    EXPECT_EQ(r[2], i % 2 == 1 ? "1" : "2");
    EXPECT_GT(std::stod(r[3]), 0);  // a narrow student is not its teacher
    EXPECT_TRUE(std::isfinite(std::stod(r[4])));
    EXPECT_GT(std::stod(r[4]), 0);
  }
  // Resuming appends, after the rows already there.
  o.steps = 5;
  ASSERT_TRUE(Train(o).ok());
  const auto more = ReadTsv(o.out_dir + "/cikd_log.tsv");
  ASSERT_EQ(more.size(), rows.size() + 2);
  EXPECT_EQ(more.back()[0], "5");
  EXPECT_EQ(more[0][0], "step");
}

}  // namespace
}  // namespace train
}  // namespace slimserve
