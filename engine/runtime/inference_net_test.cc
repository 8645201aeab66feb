// The executor's network: folded and sliced weights, NCHW and channels-last,
// float32 and bfloat16 all compute what the supernet computes, for every
// configuration, alone and in mixed batches.
#include "engine/runtime/inference_net.h"

#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/model/cost_model.h"
#include "engine/model/spec.h"
#include "engine/runtime/executor.h"
#include "engine/runtime/inference_net_testing.h"
#include "engine/runtime/xnnpack_conv.h"
#include "engine/stages/postprocess.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

struct Variant {
  InferenceOptions::Weights weights;
  torch::ScalarType dtype;
  bool channels_last;
  double tolerance;       // largest error, relative to the largest output
  double mean_tolerance;  // mean error, relative to the mean output
  // InferenceOptions'; the default sends every convolution of the tiny
  // model to XNNPACK, 20000 splits a pass between XNNPACK and oneDNN.
  int64_t xnnpack_max_macs = InferenceOptions{}.xnnpack_max_macs;
};

std::string Name(const Variant& v) {
  return absl::StrCat(
      v.weights == InferenceOptions::Weights::kFolded ? "folded" : "sliced",
      "_", v.dtype == torch::kBFloat16 ? "bf16" : "f32", "_",
      v.channels_last ? "nhwc" : "nchw",
      v.xnnpack_max_macs == InferenceOptions{}.xnnpack_max_macs
          ? ""
          : absl::StrCat("_xnnpack", v.xnnpack_max_macs));
}

class InferenceNetTest : public ::testing::TestWithParam<Variant> {};

TEST_P(InferenceNetTest, EveryConfigurationMatchesTheSupernet) {
  c10::InferenceMode guard;
  Supernet reference = RandomEvalNet(21);
  InferenceOptions options;
  options.weights = GetParam().weights;
  options.dtype = GetParam().dtype;
  options.channels_last = GetParam().channels_last;
  options.xnnpack_max_macs = GetParam().xnnpack_max_macs;
  auto net = InferenceNet::Create(RandomEvalNet(21), options);
  ASSERT_TRUE(net.ok()) << net.status();
  const auto& spec = reference->spec();
  torch::manual_seed(4);
  const torch::Tensor x =
      torch::randn({2, 3, spec.input().height(), spec.input().width()});
  ExpectEveryConfigurationMatches(**net, reference, x, GetParam().tolerance,
                                  GetParam().mean_tolerance);
}

// Mixed configurations in one batch give each row what it gets alone.
TEST_P(InferenceNetTest, BatchedEqualsOneAtATime) {
  c10::InferenceMode guard;
  InferenceOptions options;
  options.weights = GetParam().weights;
  options.dtype = GetParam().dtype;
  options.channels_last = GetParam().channels_last;
  options.xnnpack_max_macs = GetParam().xnnpack_max_macs;
  auto net = InferenceNet::Create(RandomEvalNet(5), options);
  ASSERT_TRUE(net.ok()) << net.status();
  const auto& spec = (*net)->spec();
  torch::manual_seed(5);
  const std::vector<ArchPlan> plans = MixedPlans(spec, 6);
  std::vector<ExecutorItem> batch(plans.size()), alone(plans.size());
  std::vector<ExecutorItem*> batch_ptrs;
  for (size_t i = 0; i < plans.size(); ++i) {
    batch[i].input = torch::randn({3, 32, 48});
    SetWidths(plans[i], &batch[i]);
    alone[i].input = batch[i].input;
    SetWidths(plans[i], &alone[i]);
    batch_ptrs.push_back(&batch[i]);
  }
  RunBatch(**net, batch_ptrs);
  for (size_t i = 0; i < plans.size(); ++i) {
    RunBatch(**net, {&alone[i]});
    ASSERT_EQ(batch[i].outputs.size(), plans[i].tasks.size());
    for (size_t k = 0; k < plans[i].tasks.size(); ++k) {
      EXPECT_TRUE(batch[i].outputs[k].device().is_cpu());
      EXPECT_LE(
          MeanRelativeError(batch[i].outputs[k], alone[i].outputs[k]),
          GetParam().mean_tolerance)
          << "row " << i << " task " << plans[i].tasks[k].task;
    }
  }
}

// Decoders run together (DecodeHeads: fused on folded weights) give each
// task what it gets alone, in the caller's task order, for every
// configuration and for all tasks, a pair (given in descending order) and
// one task; against the supernet too.
TEST_P(InferenceNetTest, DecodersTogetherEqualEachAlone) {
  c10::InferenceMode guard;
  Supernet reference = RandomEvalNet(23);
  InferenceOptions options;
  options.weights = GetParam().weights;
  options.dtype = GetParam().dtype;
  options.channels_last = GetParam().channels_last;
  options.xnnpack_max_macs = GetParam().xnnpack_max_macs;
  auto net = InferenceNet::Create(RandomEvalNet(23), options);
  InferenceOptions apart = options;
  apart.fuse_decoders = false;
  auto alone = InferenceNet::Create(RandomEvalNet(23), apart);
  ASSERT_TRUE(net.ok() && alone.ok());
  const auto& spec = reference->spec();
  ASSERT_EQ(spec.tasks_size(), 4);
  torch::manual_seed(6);
  const torch::Tensor x =
      torch::randn({3, 3, spec.input().height(), spec.input().width()});
  const std::vector<std::vector<int>> task_sets = {{0, 1, 2, 3}, {3, 0}, {2}};
  for (int we = 0; we < spec.encoder_widths_size(); ++we) {
    const auto features = (*net)->Encode((*net)->PrepareInput(x), we);
    const auto reference_features = reference->Encode(x, we);
    for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
      for (const auto& tasks : task_sets) {
        const std::vector<torch::Tensor> together =
            (*net)->DecodeHeads(tasks, features, we, wd);
        ASSERT_EQ(together.size(), tasks.size());
        for (size_t i = 0; i < tasks.size(); ++i) {
          const int t = tasks[i];
          const torch::Tensor one = (*alone)->DecodeHead(t, features, we, wd);
          ASSERT_EQ(together[i].sizes(), one.sizes()) << "task " << t;
          EXPECT_TRUE(together[i].is_contiguous());
          EXPECT_EQ(together[i].scalar_type(), torch::kFloat);
          EXPECT_LE(MeanRelativeError(together[i], one),
                    GetParam().mean_tolerance)
              << "we " << we << " wd " << wd << " task " << t;
          const torch::Tensor ref =
              reference->DecodeHead(t, reference_features, we, wd);
          EXPECT_LE(RelativeError(together[i], ref), GetParam().tolerance)
              << "we " << we << " wd " << wd << " task " << t;
        }
      }
    }
  }
}

// float32 paths differ from the supernet by rounding only (folding is done
// in float64). bfloat16 keeps 8 bits of mantissa: a few per cent on average;
// the largest error is bounded loosely, since normalising a near-zero normal
// vector turns a small error into a large angle.
constexpr auto kSliced = InferenceOptions::Weights::kSliced;
constexpr auto kFolded = InferenceOptions::Weights::kFolded;
INSTANTIATE_TEST_SUITE_P(
    Variants, InferenceNetTest,
    ::testing::Values(Variant{kSliced, torch::kFloat, false, 1e-5, 1e-5},
                      Variant{kSliced, torch::kFloat, true, 1e-5, 1e-5},
                      Variant{kFolded, torch::kFloat, false, 1e-4, 1e-5},
                      Variant{kFolded, torch::kFloat, true, 1e-4, 1e-5},
                      Variant{kFolded, torch::kFloat, true, 1e-4, 1e-5, 0},
                      Variant{kFolded, torch::kFloat, true, 1e-4, 1e-5, 20000},
                      Variant{kFolded, torch::kBFloat16, true, 0.5, 0.03}),
    [](const ::testing::TestParamInfo<Variant>& info) {
      return Name(info.param);
    });

// Decoders of different shapes (here one task with a second convolution)
// do not fuse: they run apart and still give the supernet's outputs.
TEST(FusedDecoderTest, DecodersOfDifferentShapesRunApart) {
  c10::InferenceMode guard;
  slimserve::v1::ModelSpec spec = TinyModelSpec();
  spec.mutable_tasks(1)->mutable_decoder()->set_num_convs(2);
  auto make = [&] {
    Supernet net(spec);
    InitSupernet(net, 3);
    net->eval();
    return net;
  };
  Supernet reference = make();
  auto net = InferenceNet::Create(make(), InferenceOptions());
  ASSERT_TRUE(net.ok()) << net.status();
  torch::manual_seed(8);
  const torch::Tensor x =
      torch::randn({2, 3, spec.input().height(), spec.input().width()});
  const auto features = (*net)->Encode((*net)->PrepareInput(x), 2);
  const auto reference_features = reference->Encode(x, 2);
  const std::vector<int> tasks = {0, 1, 2, 3};
  const auto heads = (*net)->DecodeHeads(tasks, features, 2, 1);
  for (int t : tasks) {
    EXPECT_LE(RelativeError(heads[t],
                            reference->DecodeHead(t, reference_features, 2, 1)),
              1e-4)
        << "task " << t;
  }
  // Fusing them directly is refused rather than wrong.
  FoldOptions fold{torch::kFloat, at::MemoryFormat::ChannelsLast};
  const FoldedDecoder a = reference->FoldDecoder(0, 2, 1, fold);
  const FoldedDecoder b = reference->FoldDecoder(1, 2, 1, fold);
  const FoldedDecoder c = reference->FoldDecoder(2, 2, 1, fold);
  const FoldedDecoder narrower = reference->FoldDecoder(2, 2, 0, fold);
  EXPECT_EQ(FusedDecoder::Fuse({&a, &b}, fold), nullptr);
  EXPECT_EQ(FusedDecoder::Fuse({&a, &narrower}, fold), nullptr);
  EXPECT_EQ(FusedDecoder::Fuse({}, fold), nullptr);
  const auto fused = FusedDecoder::Fuse({&a, &c}, fold);
  ASSERT_NE(fused, nullptr);
  // One call per input stage's laterals, one grouped 3x3, one grouped head
  // padded to semseg's 8 outputs, for both.
  EXPECT_EQ(fused->laterals.size(),
            static_cast<size_t>(spec.tasks(0).decoder().input_stages_size()));
  EXPECT_EQ(fused->convs.size(), 1u);
  EXPECT_EQ(fused->convs[0].groups, 2);
  EXPECT_EQ(fused->head.weight.size(0), 16);
  EXPECT_EQ(fused->head_channels, (std::vector<int64_t>{8, 3}));
}

// Decoder calls of a mixed batch: tasks at one width on the same rows run
// together; a different width or different rows run apart.
TEST(DecoderRunsTest, MergesTasksThatShareWidthAndRows) {
  std::vector<ExecutorItem> items(3);
  // Row 0 and 1: tasks 0, 2 at width 1, task 3 at width 0. Row 2: task 0
  // at width 1 only.
  for (int r = 0; r < 2; ++r) {
    items[r].tasks = {0, 2, 3};
    items[r].decoder_widths = {1, 1, 0};
  }
  items[2].tasks = {0};
  items[2].decoder_widths = {1};
  std::vector<ExecutorItem*> rows = {&items[0], &items[1], &items[2]};
  const std::vector<DecoderRun> runs = DecoderRuns(rows);
  ASSERT_EQ(runs.size(), 3u);
  // Ordered by (width, rows).
  EXPECT_EQ(runs[0].decoder_width, 0);
  EXPECT_EQ(runs[0].tasks, (std::vector<int>{3}));
  EXPECT_EQ(runs[0].rows, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(runs[0].slots, (std::vector<std::vector<int>>{{2, 2}}));
  EXPECT_EQ(runs[1].decoder_width, 1);
  EXPECT_EQ(runs[1].tasks, (std::vector<int>{2}));
  EXPECT_EQ(runs[1].rows, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(runs[2].tasks, (std::vector<int>{0}));
  EXPECT_EQ(runs[2].rows, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(runs[2].slots, (std::vector<std::vector<int>>{{0, 0, 0}}));
  // Without row 2, tasks 0 and 2 share rows and width: one run.
  const std::vector<DecoderRun> two = DecoderRuns({&items[0], &items[1]});
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].tasks, (std::vector<int>{0, 2}));
  EXPECT_EQ(two[1].slots, (std::vector<std::vector<int>>{{0, 0}, {1, 1}}));
}

// What the server sends: the executor's head outputs, finished by
// post-processing (engine/stages: resize, activation, encoding on the CPU),
// equal the network's own upsampled, activated output (LibTorch's
// interpolate and activations) for every task and configuration, at the
// model's size and at another.
TEST(ServedOutputTest, PostProcessingFinishesHeadsAsTheNetworkWould) {
  c10::InferenceMode guard;
  auto net = InferenceNet::Create(RandomEvalNet(9), InferenceOptions());
  ASSERT_TRUE(net.ok()) << net.status();
  const auto& spec = (*net)->spec();
  torch::manual_seed(9);
  const torch::Tensor x =
      torch::randn({1, 3, spec.input().height(), spec.input().width()});
  for (int we : {0, 3}) {
    const auto features = (*net)->Encode((*net)->PrepareInput(x), we);
    for (int t = 0; t < spec.tasks_size(); ++t) {
      for (int wd : {0, 2}) {
        const torch::Tensor head = (*net)->DecodeHead(t, features, we, wd)[0];
        ASSERT_LT(head.size(1), spec.input().height());  // before upsampling
        for (const auto& [h, w] : {std::pair<int, int>{spec.input().height(),
                                                       spec.input().width()},
                                   std::pair<int, int>{45, 70}}) {
          const torch::Tensor want = SupernetImpl::Activate(
              spec.tasks(t).kind(),
              SupernetImpl::Upsample(head.unsqueeze(0), h, w))[0];
          absl::StatusOr<TaskOutput> got = FinishOutput(
              spec.tasks(t), OutputFormat::kRaw, head.data_ptr<float>(),
              head.size(0), head.size(1), head.size(2), h, w);
          ASSERT_TRUE(got.ok()) << got.status();
          ASSERT_EQ(got->data.size(), want.numel() * sizeof(float));
          const torch::Tensor served =
              torch::from_blob(got->data.data(), want.sizes(), torch::kFloat);
          EXPECT_LE(RelativeError(served, want), 1e-5)
              << "task " << t << " we " << we << " wd " << wd << " " << h
              << "x" << w;
        }
      }
    }
  }
}

TEST(FoldTest, WeightsAreContiguousInTheRequestedFormatAndDtype) {
  Supernet net = RandomEvalNet(7);
  FoldOptions options{torch::kBFloat16, at::MemoryFormat::ChannelsLast};
  const FoldedEncoder e = net->FoldEncoder(1, options);
  const int64_t stem = SlimChannels(net->spec().encoder_widths(1),
                                    net->spec().encoder().stem_channels());
  EXPECT_EQ(e.stem.weight.sizes(), (std::vector<int64_t>{stem, 3, 3, 3}));
  EXPECT_EQ(e.stem.weight.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(e.stem.weight.is_contiguous(at::MemoryFormat::ChannelsLast));
  const FoldedDecoder d = net->FoldDecoder(0, 1, 2, options);
  for (const FoldedConv& c : d.convs) {
    EXPECT_TRUE(c.weight.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_EQ(c.bias.size(0), c.weight.size(0));
  }
}

TEST(FoldTest, FoldedConvEqualsConvThenBatchNorm) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(2);
  SlimConv2d conv(6, 8, 3, 2, /*has_bias=*/false);
  conv->weight.normal_();
  SwitchableBatchNorm bn(3, 8);
  bn->eval();
  bn->weight.normal_();
  bn->bias.normal_();
  bn->running_mean.normal_();
  bn->running_var.uniform_(0.2, 4.0);
  const torch::Tensor x = torch::randn({2, 4, 9, 7});
  for (int config = 0; config < 3; ++config) {
    const FoldedConv f = conv->Fold(4, 5, bn.get(), config, FoldOptions{});
    const torch::Tensor want = bn->forward(conv->forward(x, 5), config);
    EXPECT_LE(RelativeError(f(x), want), 1e-5) << "config " << config;
  }
}

// relu fused into the call (XNNPACK) or applied after it (oneDNN, the
// im2col path) gives max(0, conv then BN) either way, channels-last out of
// XNNPACK; a call above xnnpack_max_macs takes oneDNN.
TEST(FoldTest, ReluIsAppliedOnEveryBackend) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  SlimConv2d conv(6, 8, 3, 1, /*has_bias=*/false);
  conv->weight.normal_();
  SwitchableBatchNorm bn(1, 8);
  bn->eval();
  bn->bias.normal_();
  const torch::Tensor x =
      torch::randn({2, 6, 10, 12}).contiguous(at::MemoryFormat::ChannelsLast);
  const torch::Tensor want =
      torch::relu(bn->forward(conv->forward(x, 8), 0));
  FoldOptions options;
  options.memory_format = at::MemoryFormat::ChannelsLast;
  for (const int64_t max_macs : {int64_t{0}, int64_t{1} << 40}) {
    options.xnnpack_max_macs = max_macs;
    const FoldedConv f = conv->Fold(6, 8, bn.get(), 0, options, /*relu=*/true);
    EXPECT_EQ(f.Macs(x), 2 * 10 * 12 * 8 * 6 * 9);
    EXPECT_EQ(f.xnnpack != nullptr, max_macs > 0 && XnnpackConv::Available());
    const torch::Tensor got = f(x);
    EXPECT_LE(RelativeError(got, want), 1e-5) << "max_macs " << max_macs;
    EXPECT_GE(got.min().item<float>(), 0.0f);
    EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
  }
  options.xnnpack_max_macs = 2 * 10 * 12 * 8 * 6 * 9 - 1;  // one MAC short
  const FoldedConv f = conv->Fold(6, 8, bn.get(), 0, options, /*relu=*/true);
  EXPECT_LE(RelativeError(f(x), want), 1e-5);
}

TEST(InferenceNetCreateTest, RefusesWhatCannotRun) {
  InferenceOptions options;
  options.weights = InferenceOptions::Weights::kSliced;
  options.dtype = torch::kBFloat16;
  auto sliced_bf16 = InferenceNet::Create(RandomEvalNet(1), options);
  EXPECT_EQ(sliced_bf16.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sliced_bf16.status().message().find("needs folded weights"),
            std::string::npos)
      << sliced_bf16.status();

  options.weights = InferenceOptions::Weights::kFolded;
  options.dtype = torch::kHalf;
  auto cpu_half = InferenceNet::Create(RandomEvalNet(1), options);
  EXPECT_EQ(cpu_half.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cpu_half.status().message().find("float16 on the CPU"),
            std::string::npos)
      << cpu_half.status();

  options.dtype = torch::kFloat;
  options.xnnpack_max_macs = -1;
  auto negative = InferenceNet::Create(RandomEvalNet(1), options);
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(negative.status().message().find("xnnpack_max_macs"),
            std::string::npos)
      << negative.status();

  Supernet training = RandomEvalNet(1);
  training->train();
  EXPECT_EQ(InferenceNet::Create(training, InferenceOptions{}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(InferenceNetCreateTest, BytesCountEveryFoldedCopy) {
  InferenceOptions f32;
  auto a = InferenceNet::Create(RandomEvalNet(1), f32);
  InferenceOptions bf16 = f32;
  bf16.dtype = torch::kBFloat16;
  auto b = InferenceNet::Create(RandomEvalNet(1), bf16);
  InferenceOptions sliced = f32;
  sliced.weights = InferenceOptions::Weights::kSliced;
  auto c = InferenceNet::Create(RandomEvalNet(1), sliced);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ((*b)->weight_bytes() * 2, (*a)->weight_bytes());
  // The supernet's 4-D weights alone, at full width, once:
  int64_t conv_bytes = 0;
  for (const auto& p : RandomEvalNet(1)->parameters()) {
    if (p.dim() == 4) conv_bytes += p.numel() * 4;
  }
  // Every width gets its own copy, so folding costs more than one set.
  EXPECT_GT((*a)->weight_bytes(), conv_bytes);
  EXPECT_GT((*c)->weight_bytes(), conv_bytes);
  EXPECT_EQ((*a)->Describe(), XnnpackConv::Available()
                                  ? "folded/float32/channels_last/xnnpack<=2000000/fused"
                                  : "folded/float32/channels_last/fused");
  EXPECT_EQ((*b)->Describe(), CpuHasOneDnnBFloat16()
                                  ? "folded/bfloat16/channels_last/fused"
                                  : "folded/bfloat16/channels_last/fused/aten_conv");
  EXPECT_EQ((*c)->Describe(), "sliced/float32/channels_last");
}

}  // namespace
}  // namespace slimserve
