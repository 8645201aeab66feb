#include "engine/runtime/supernet.h"

#include <filesystem>
#include <fstream>

#include "engine/model/cost_model.h"
#include "engine/model/spec.h"
#include "engine/runtime/random_model.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

TEST(SlimConvTest, EqualsOrdinaryConvWithSlicedWeights) {
  torch::manual_seed(0);
  SlimConv2d conv(16, 32, 3, 2, /*has_bias=*/true);
  torch::NoGradGuard no_grad;
  conv->weight.normal_();
  conv->bias.normal_();
  const torch::Tensor x = torch::randn({2, 16, 9, 11});
  for (int cin : {4, 8, 16}) {
    for (int cout : {1, 8, 32}) {
      const torch::Tensor xi = x.narrow(1, 0, cin);
      const torch::Tensor got = conv->forward(xi, cout);
      torch::nn::Conv2d ref(
          torch::nn::Conv2dOptions(cin, cout, 3).stride(2).padding(1));
      ref->weight.copy_(conv->weight.narrow(0, 0, cout).narrow(1, 0, cin));
      ref->bias.copy_(conv->bias.narrow(0, 0, cout));
      EXPECT_TRUE(torch::allclose(got, ref->forward(xi), 1e-5, 1e-5))
          << "cin=" << cin << " cout=" << cout;
    }
  }
}

TEST(SlimConvTest, NarrowerOutputIsAPrefixOfWider) {
  torch::manual_seed(1);
  SlimConv2d conv(8, 16, 3, 1, false);
  torch::NoGradGuard no_grad;
  conv->weight.normal_();
  const torch::Tensor x = torch::randn({1, 8, 5, 5});
  const torch::Tensor wide = conv->forward(x, 16);
  const torch::Tensor narrow = conv->forward(x, 4);
  EXPECT_TRUE(torch::allclose(narrow, wide.narrow(1, 0, 4), 1e-6, 1e-6));
}

TEST(SwitchableBatchNormTest, EachConfigUsesItsOwnStatistics) {
  SwitchableBatchNorm bn(2, 4);
  bn->eval();
  torch::NoGradGuard no_grad;
  bn->running_mean[1].fill_(1.0);
  bn->running_var[1].fill_(4.0);
  const torch::Tensor x = torch::full({1, 3, 1, 1}, 3.0);
  EXPECT_NEAR(bn->forward(x, 0)[0][0][0][0].item<float>(), 3.0, 1e-4);
  EXPECT_NEAR(bn->forward(x, 1)[0][0][0][0].item<float>(), 1.0, 1e-4);
}

TEST(SwitchableBatchNormTest, TrainingUpdatesOnlyThatConfigsPrefix) {
  SwitchableBatchNorm bn(2, 4);
  bn->train();
  bn->forward(torch::full({2, 3, 2, 2}, 5.0), 1);
  EXPECT_GT(bn->running_mean[1][0].item<float>(), 0.0f);
  EXPECT_EQ(bn->running_mean[1][3].item<float>(), 0.0f);  // beyond prefix
  EXPECT_EQ(bn->running_mean[0][0].item<float>(), 0.0f);  // other config
}

TEST(SwitchableBatchNormTest, SharedAffineRowIsConfigModuloNumAffine) {
  // 4 configurations (2 encoder x 2 decoder widths), affine per decoder
  // width: configurations 1 and 3 share row 1, statistics stay private.
  SwitchableBatchNorm bn(4, 2, /*num_affine=*/2);
  ASSERT_EQ(bn->weight.sizes(), (std::vector<int64_t>{2, 2}));
  ASSERT_EQ(bn->running_mean.sizes(), (std::vector<int64_t>{4, 2}));
  bn->eval();
  torch::NoGradGuard no_grad;
  bn->weight[1].fill_(2.0);
  bn->bias[1].fill_(0.5);
  bn->running_mean[3].fill_(1.0);
  const torch::Tensor x = torch::full({1, 2, 1, 1}, 3.0);
  const auto out = [&](int config) {
    return bn->forward(x, config)[0][0][0][0].item<float>();
  };
  EXPECT_NEAR(out(0), 3.0, 1e-4);            // row 0: identity affine
  EXPECT_NEAR(out(2), 3.0, 1e-4);            // row 0 again
  EXPECT_NEAR(out(1), 2 * 3.0 + 0.5, 1e-4);  // row 1, statistics of 1
  EXPECT_NEAR(out(3), 2 * 2.0 + 0.5, 1e-4);  // row 1, statistics of 3
}

TEST(SwitchableBatchNormTest, SharedAffineGetsGradientFromEveryConfig) {
  SwitchableBatchNorm bn(4, 2, /*num_affine=*/2);
  bn->train();
  const torch::Tensor x = torch::randn({4, 2, 3, 3});
  (bn->forward(x, 1) * x).sum().backward();
  (bn->forward(x, 3) * x).sum().backward();
  EXPECT_NE(bn->weight.grad()[1][0].item<float>(), 0.0f);
  EXPECT_EQ(bn->weight.grad()[0][0].item<float>(), 0.0f);  // row 0 unused
}

TEST(SupernetSpecTest, DecoderAffineLayoutFollowsTheSpec) {
  v1::ModelSpec spec = TinyModelSpec();
  const int64_t k = spec.encoder_widths_size() * spec.decoder_widths_size();
  spec.set_decoder_bn_affine(v1::ModelSpec::DECODER_BATCH_NORM_AFFINE_PER_CONFIGURATION);
  Supernet per_config(spec);
  spec.set_decoder_bn_affine(v1::ModelSpec::DECODER_BATCH_NORM_AFFINE_PER_DECODER_WIDTH);
  Supernet per_width(spec);
  const auto rows = [](Supernet& net, const std::string& name) {
    return net->named_parameters()[name].size(0);
  };
  int decoder_bns = 0;
  for (const auto& p : per_config->named_parameters()) {
    if (p.key().rfind("decoder_", 0) != 0 ||
        p.key().find("_bn.") == std::string::npos) {
      continue;
    }
    ++decoder_bns;
    EXPECT_EQ(p.value().size(0), k) << p.key();
    EXPECT_EQ(rows(per_width, p.key()), spec.decoder_widths_size()) << p.key();
  }
  EXPECT_GT(decoder_bns, 0);
  const std::string enc = "encoder.stem_bn.weight";
  // The encoder's BatchNorm stays per encoder width either way.
  EXPECT_EQ(rows(per_config, enc), spec.encoder_widths_size());
  EXPECT_EQ(rows(per_width, enc), spec.encoder_widths_size());
}

TEST(ActivateTest, NormalsEqualNormalizeAndStayFiniteAtZero) {
  torch::manual_seed(3);
  torch::Tensor raw = torch::randn({2, 3, 5, 7});
  raw.index_put_({0, torch::indexing::Slice(), 1, 2}, 0.0);  // a zero vector
  raw.set_requires_grad(true);
  const torch::Tensor got = SupernetImpl::Activate(v1::TASK_KIND_SURFACE_NORMALS, raw);
  const torch::Tensor want = torch::nn::functional::normalize(
      raw, torch::nn::functional::NormalizeFuncOptions().dim(1).eps(1e-12));
  EXPECT_TRUE(torch::allclose(got, want, 1e-6, 1e-6));
  EXPECT_EQ(got[0][0][1][2].item<float>(), 0.0f);
  got.sum().backward();
  EXPECT_TRUE(torch::isfinite(raw.grad()).all().item<bool>());
}

class SupernetTest : public ::testing::Test {
 protected:
  SupernetTest() : spec_(TinyModelSpec()), net_(spec_) {
    InitSupernet(net_, 3);
    net_->eval();
  }
  v1::ModelSpec spec_;
  Supernet net_;
};

TEST_F(SupernetTest, FeatureAndOutputShapesFollowTheSpec) {
  c10::InferenceMode guard;
  const torch::Tensor x = torch::randn({2, 3, 32, 48});
  for (int we = 0; we < spec_.encoder_widths_size(); ++we) {
    const auto features = net_->Encode(x, we);
    ASSERT_EQ(features.size(), 3u);
    for (int s = 0; s < 3; ++s) {
      EXPECT_EQ(features[s].size(1),
                SlimChannels(spec_.encoder_widths(we),
                             spec_.encoder().stages(s).channels()));
    }
    EXPECT_EQ(features[0].size(2), 8);  // stem /2, stage0 /4
    for (int t = 0; t < spec_.tasks_size(); ++t) {
      const torch::Tensor y = SupernetImpl::Activate(
          spec_.tasks(t).kind(), net_->DecodeRaw(t, features, we, 1));
      EXPECT_EQ(y.sizes(),
                torch::IntArrayRef(
                    {2, TaskOutputChannels(spec_.tasks(t)), 32, 48}));
    }
  }
}

TEST_F(SupernetTest, ActivationsHaveTheirRanges) {
  c10::InferenceMode guard;
  const auto f = net_->Encode(torch::randn({1, 3, 32, 48}), 3);
  const torch::Tensor depth =
      SupernetImpl::Activate(v1::TASK_KIND_DEPTH, net_->DecodeRaw(1, f, 3, 3));
  EXPECT_GE(depth.min().item<float>(), 0.0f);
  const torch::Tensor normals =
      SupernetImpl::Activate(v1::TASK_KIND_SURFACE_NORMALS, net_->DecodeRaw(2, f, 3, 3));
  EXPECT_TRUE(torch::allclose(normals.norm(2, 1), torch::ones({1, 32, 48}),
                              1e-4, 1e-4));
  const torch::Tensor edges =
      SupernetImpl::Activate(v1::TASK_KIND_EDGES, net_->DecodeRaw(3, f, 3, 3));
  EXPECT_GE(edges.min().item<float>(), 0.0f);
  EXPECT_LE(edges.max().item<float>(), 1.0f);
}

TEST_F(SupernetTest, InitIsDeterministicInTheSeed) {
  Supernet a(spec_), b(spec_), c(spec_);
  InitSupernet(a, 11);
  InitSupernet(b, 11);
  InitSupernet(c, 12);
  auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
  bool all_equal = true, any_differs = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    all_equal &= torch::equal(pa[i], pb[i]);
    any_differs |= !torch::equal(pa[i], pc[i]);
  }
  EXPECT_TRUE(all_equal);
  EXPECT_TRUE(any_differs);
}

class PackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::path(testing::TempDir()) /
            testing::UnitTest::GetInstance()->current_test_info()->name())
               .string();
    ASSERT_TRUE(WriteRandomModelPackage(TinyModelSpec(), 9, dir_).ok());
  }
  std::string dir_;
};

TEST_F(PackageTest, RoundTrip) {
  auto spec = LoadModelSpec(dir_);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->SerializeAsString(), TinyModelSpec().SerializeAsString());
  Supernet loaded(*spec), fresh(*spec);
  InitSupernet(fresh, 9);
  ASSERT_TRUE(LoadSupernet(loaded, WeightsPath(dir_, *spec)).ok());
  auto a = loaded->named_parameters();
  auto b = fresh->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) {
    EXPECT_TRUE(torch::equal(item.value(), *b.find(item.key()))) << item.key();
  }
  for (const auto& item : loaded->named_buffers()) {
    EXPECT_TRUE(torch::equal(item.value(), *fresh->named_buffers().find(item.key())));
  }
}

TEST_F(PackageTest, MissingWeightsFileNamesIt) {
  std::filesystem::remove(dir_ + "/weights.pt");
  Supernet net(TinyModelSpec());
  const absl::Status st = LoadSupernet(net, dir_ + "/weights.pt");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("weights.pt"), std::string::npos) << st;
}

TEST_F(PackageTest, CorruptWeightsFile) {
  std::ofstream(dir_ + "/weights.pt", std::ios::trunc) << "not a zip file";
  Supernet net(TinyModelSpec());
  const absl::Status st = LoadSupernet(net, dir_ + "/weights.pt");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("not a readable LibTorch weights archive"),
            std::string::npos)
      << st;
}

TEST_F(PackageTest, WeightsOfAnotherSpecNameTheTensorAndShapes) {
  v1::ModelSpec wider = TinyModelSpec();
  wider.mutable_encoder()->set_stem_channels(12);
  Supernet net(wider);
  const absl::Status st = LoadSupernet(net, dir_ + "/weights.pt");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("encoder.stem.weight has shape [8, 3, 3, 3] but "
                              "the spec implies [12, 3, 3, 3]"),
            std::string::npos)
      << st;
}

TEST_F(PackageTest, WeightsOfTheOtherDecoderAffineLayoutAreRefused) {
  v1::ModelSpec other = TinyModelSpec();
  other.set_decoder_bn_affine(other.decoder_bn_affine() ==
                                      v1::ModelSpec::DECODER_BATCH_NORM_AFFINE_PER_DECODER_WIDTH
                                  ? v1::ModelSpec::DECODER_BATCH_NORM_AFFINE_PER_CONFIGURATION
                                  : v1::ModelSpec::DECODER_BATCH_NORM_AFFINE_PER_DECODER_WIDTH);
  Supernet net(other);
  const absl::Status st = LoadSupernet(net, dir_ + "/weights.pt");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("decoder_"), std::string::npos) << st;
  EXPECT_NE(st.message().find("_bn.weight has shape"), std::string::npos) << st;
}

TEST_F(PackageTest, MissingAndExtraModulesAreNamed) {
  v1::ModelSpec more = TinyModelSpec();
  more.mutable_encoder()->mutable_stages(2)->set_blocks(2);
  Supernet net(more);
  absl::Status st = LoadSupernet(net, dir_ + "/weights.pt");
  EXPECT_NE(st.message().find("encoder.stage2_block1 is missing"),
            std::string::npos)
      << st;

  v1::ModelSpec fewer = TinyModelSpec();
  fewer.mutable_tasks()->RemoveLast();
  Supernet small(fewer);
  st = LoadSupernet(small, dir_ + "/weights.pt");
  EXPECT_NE(st.message().find("decoder_edges is not part of the model"),
            std::string::npos)
      << st;
}

}  // namespace
}  // namespace slimserve
