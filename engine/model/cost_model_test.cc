#include "engine/model/cost_model.h"

#include "engine/model/spec.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

// 8x8 input, stem 4 channels, one stage of 8 channels (stride 2), one depth
// task with a 4-channel decoder; widths {0.5, 1}. Costs below are by hand.
v1::ModelSpec MicroSpec() {
  v1::ModelSpec spec;
  spec.set_name("micro");
  spec.mutable_input()->set_height(8);
  spec.mutable_input()->set_width(8);
  for (int c = 0; c < 3; ++c) {
    spec.mutable_input()->add_mean(0.5f);
    spec.mutable_input()->add_std(0.5f);
  }
  spec.mutable_encoder()->set_stem_channels(4);
  auto* stage = spec.mutable_encoder()->add_stages();
  stage->set_channels(8);
  stage->set_blocks(1);
  stage->set_stride(2);
  for (double w : {0.5, 1.0}) {
    spec.add_encoder_widths(w);
    spec.add_decoder_widths(w);
  }
  auto* task = spec.add_tasks();
  task->set_name("depth");
  task->set_kind(v1::TASK_KIND_DEPTH);
  task->mutable_decoder()->set_channels(4);
  task->mutable_decoder()->add_input_stages(0);
  task->mutable_decoder()->set_num_convs(1);
  return spec;
}

TEST(CostModelTest, MicroSpecByHand) {
  const v1::ModelSpec spec = MicroSpec();
  ASSERT_TRUE(ValidateModelSpec(spec).ok());
  const CostTable t = ComputeCostTable(spec);
  // Stem: 8x8 -> 4x4. Stage: 4x4 -> 2x2.
  // we=1: stem 16*4*3*9 = 1728; conv1 4*8*4*9 = 1152; conv2 4*8*8*9 = 2304;
  //       1x1 shortcut 4*8*4 = 128.
  ASSERT_EQ(t.encoder_macs.size(), 2u);
  EXPECT_DOUBLE_EQ(t.encoder_macs[1], 1728 + 1152 + 2304 + 128);
  // we=0.5: stem 16*2*27 = 864; conv1 4*4*2*9 = 288; conv2 4*4*4*9 = 576;
  //         shortcut 4*4*2 = 32.
  EXPECT_DOUBLE_EQ(t.encoder_macs[0], 864 + 288 + 576 + 32);
  // Decoder at 2x2: lateral 4*d*c, 3x3 conv 4*d*d*9, head 4*1*d.
  ASSERT_EQ(t.decoder_macs.size(), 1u);
  EXPECT_DOUBLE_EQ(t.decoder_macs[0][1][1], 4 * 4 * 8 + 4 * 4 * 4 * 9 + 4 * 4);
  EXPECT_DOUBLE_EQ(t.decoder_macs[0][0][0], 4 * 2 * 4 + 4 * 2 * 2 * 9 + 4 * 2);
  EXPECT_DOUBLE_EQ(t.decoder_macs[0][1][0], 4 * 2 * 8 + 4 * 2 * 2 * 9 + 4 * 2);
  EXPECT_DOUBLE_EQ(t.decoder_macs[0][0][1], 4 * 4 * 4 + 4 * 4 * 4 * 9 + 4 * 4);
  EXPECT_DOUBLE_EQ(t.FullMacs(), 5312 + 720);
  EXPECT_DOUBLE_EQ(t.FullMacs({}), 5312);
}

TEST(CostModelTest, MonotoneInEveryWidth) {
  const v1::ModelSpec spec = DefaultModelSpec();
  const CostTable t = ComputeCostTable(spec);
  for (size_t we = 1; we < t.encoder_macs.size(); ++we) {
    EXPECT_LT(t.encoder_macs[we - 1], t.encoder_macs[we]);
  }
  for (const auto& task : t.decoder_macs) {
    for (size_t we = 0; we < task.size(); ++we) {
      for (size_t wd = 0; wd < task[we].size(); ++wd) {
        if (we > 0) EXPECT_LT(task[we - 1][wd], task[we][wd]);
        if (wd > 0) EXPECT_LT(task[we][wd - 1], task[we][wd]);
      }
    }
  }
}

TEST(CostModelTest, SlimChannelsRoundsAndKeepsOne) {
  EXPECT_EQ(SlimChannels(0.25, 24), 6);
  EXPECT_EQ(SlimChannels(0.75, 10), 8);  // 7.5 rounds up
  EXPECT_EQ(SlimChannels(0.25, 2), 1);   // 0.5 rounds to 1
  EXPECT_EQ(SlimChannels(0.01, 3), 1);   // never 0
  EXPECT_EQ(SlimChannels(1.0, 128), 128);
}

TEST(CostModelTest, MflopsAreTwiceMacs) {
  EXPECT_DOUBLE_EQ(MacsToMflops(5e5), 1.0);
  EXPECT_DOUBLE_EQ(MflopsToMacs(1.0), 5e5);
}

}  // namespace
}  // namespace slimserve
