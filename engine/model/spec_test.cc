#include "engine/model/spec.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace slimserve {
namespace {

TEST(ModelSpecTest, ShippedSpecsAreValid) {
  EXPECT_TRUE(ValidateModelSpec(DefaultModelSpec()).ok());
  EXPECT_TRUE(ValidateModelSpec(TinyModelSpec()).ok());
  const v1::ModelSpec spec = DefaultModelSpec();
  ASSERT_EQ(spec.tasks_size(), 4);
  EXPECT_EQ(spec.tasks(0).name(), "semseg");
  EXPECT_EQ(spec.tasks(1).name(), "depth");
  EXPECT_EQ(spec.tasks(2).name(), "normals");
  EXPECT_EQ(spec.tasks(3).name(), "edges");
  EXPECT_EQ(TaskOutputChannels(spec.tasks(0)), 8);
  EXPECT_EQ(TaskOutputChannels(spec.tasks(1)), 1);
  EXPECT_EQ(TaskOutputChannels(spec.tasks(2)), 3);
  EXPECT_EQ(TaskOutputChannels(spec.tasks(3)), 1);
}

// Each mutation must be refused with a message naming the field.
TEST(ModelSpecTest, ErrorsNameTheField) {
  struct Case {
    std::function<void(v1::ModelSpec*)> mutate;
    std::string field;
  };
  const Case cases[] = {
      {[](auto* s) { s->clear_name(); }, "name: required"},
      {[](auto* s) { s->mutable_input()->set_height(2); }, "input.height"},
      {[](auto* s) { s->mutable_input()->clear_mean(); }, "input.mean"},
      {[](auto* s) { s->mutable_input()->set_std(1, 0.0f); }, "input.std[1]"},
      {[](auto* s) { s->mutable_encoder()->set_stem_channels(0); },
       "encoder.stem_channels"},
      {[](auto* s) { s->mutable_encoder()->mutable_stages(1)->set_stride(3); },
       "encoder.stages[1].stride: must be 1 or 2, got 3"},
      {[](auto* s) { s->mutable_encoder()->mutable_stages(0)->set_blocks(0); },
       "encoder.stages[0].blocks"},
      {[](auto* s) { s->set_encoder_widths(3, 0.9); },
       "encoder_widths: the last (widest) width must be 1.0"},
      {[](auto* s) { s->set_decoder_widths(1, 0.2); },
       "decoder_widths[1]: widths must be strictly increasing"},
      {[](auto* s) { s->set_decoder_widths(0, 0.0); }, "decoder_widths[0]"},
      {[](auto* s) { s->mutable_tasks(2)->set_name("Normals!"); },
       "tasks[2].name"},
      {[](auto* s) { s->mutable_tasks(3)->set_name("semseg"); },
       "tasks[3].name: duplicate"},
      {[](auto* s) { s->mutable_tasks(1)->set_kind(v1::TASK_KIND_UNSPECIFIED); },
       "tasks[1].kind"},
      {[](auto* s) { s->mutable_tasks(0)->set_num_classes(1); },
       "tasks[0].num_classes"},
      {[](auto* s) { s->mutable_tasks(1)->set_num_classes(4); },
       "tasks[1].num_classes"},
      {[](auto* s) {
         s->mutable_tasks(0)->mutable_decoder()->set_input_stages(1, 9);
       },
       "tasks[0].decoder.input_stages[1]: stage 9 does not exist"},
      {[](auto* s) { s->mutable_tasks(0)->mutable_decoder()->set_channels(0); },
       "tasks[0].decoder.channels"},
      {[](auto* s) { s->set_weights_file("../w.pt"); }, "weights_file"},
  };
  for (const Case& c : cases) {
    v1::ModelSpec spec = DefaultModelSpec();
    c.mutate(&spec);
    const absl::Status st = ValidateModelSpec(spec);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(st.message().find(c.field), std::string::npos)
        << "want \"" << c.field << "\" in: " << st.message();
  }
}

class LoadModelSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(testing::TempDir()) /
           testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
  }
  void Write(const std::string& text) {
    std::ofstream(dir_ / kSpecFileName) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(LoadModelSpecTest, MissingFileIsNotFoundAndNamesThePath) {
  auto spec = LoadModelSpec((dir_ / "nope").string());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(spec.status().message().find("nope/spec.textproto"),
            std::string::npos);
}

TEST_F(LoadModelSpecTest, SyntaxErrorNamesFileAndLine) {
  Write("name: \"x\"\ninput {\n  height: banana\n}\n");
  auto spec = LoadModelSpec(dir_.string());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("spec.textproto"), std::string::npos);
  EXPECT_NE(spec.status().message().find("line 3"), std::string::npos)
      << spec.status();
}

TEST_F(LoadModelSpecTest, UnknownFieldIsAnError) {
  Write("name: \"x\"\nflavour: 3\n");
  auto spec = LoadModelSpec(dir_.string());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("flavour"), std::string::npos)
      << spec.status();
}

TEST_F(LoadModelSpecTest, InvalidValueNamesFileAndField) {
  Write("name: \"x\"\n");
  auto spec = LoadModelSpec(dir_.string());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("spec.textproto: input.height"),
            std::string::npos)
      << spec.status();
}

}  // namespace
}  // namespace slimserve
