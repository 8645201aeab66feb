#include "server/kserve_convert.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/kserve_test_util.h"

namespace slimserve {
namespace {

using inference::InferParameter;
using inference::ModelInferRequest;
using inference::ModelInferResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// A 2x3 RGB image in raw_input_contents.
ModelInferRequest PixelsRequest() {
  ModelInferRequest request;
  request.set_model_name("nyud-slim");
  request.set_id("frame-1");
  auto* input = request.add_inputs();
  input->set_name("image");
  input->set_datatype("UINT8");
  for (int64_t d : {2, 3, 3}) input->add_shape(d);
  request.add_raw_input_contents(std::string(18, '\x7f'));
  return request;
}

InferParameter Str(const std::string& value) {
  InferParameter p;
  p.set_string_param(value);
  return p;
}

InferParameter Dbl(double value) {
  InferParameter p;
  p.set_double_param(value);
  return p;
}

absl::Status StatusOf(const ModelInferRequest& request) {
  return KServeInferFromProto(request, TwoTasks()).status();
}

TEST(KServeInferFromProtoTest, PixelsWithDefaults) {
  absl::StatusOr<KServeInfer> call =
      KServeInferFromProto(PixelsRequest(), TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  const InferRequest& r = call->request;
  EXPECT_EQ(r.id, "frame-1");
  EXPECT_TRUE(r.image.raw);
  EXPECT_EQ(r.image.height, 2);
  EXPECT_EQ(r.image.width, 3);
  EXPECT_EQ(r.image.channels, 3);
  EXPECT_EQ(r.image.bytes, std::string(18, '\x7f'));
  EXPECT_EQ(r.plan_request.budget.kind, Budget::Kind::kFraction);
  EXPECT_EQ(r.plan_request.budget.value, 1.0);
  EXPECT_THAT(r.plan_request.task_weights,
              UnorderedElementsAre(Pair("semseg", 1.0f), Pair("depth", 1.0f)));
  EXPECT_THAT(call->outputs, ElementsAre("semseg", "depth"));
  EXPECT_EQ(r.default_output_format, OutputFormat::kRaw);
  EXPECT_EQ(r.output_size, OutputSize::kModel);
}

TEST(KServeInferFromProtoTest, BatchOfOneAndTypedContents) {
  ModelInferRequest request = PixelsRequest();
  request.clear_raw_input_contents();
  auto* input = request.mutable_inputs(0);
  input->clear_shape();
  for (int64_t d : {1, 1, 2, 1}) input->add_shape(d);
  input->mutable_contents()->add_uint_contents(0);
  input->mutable_contents()->add_uint_contents(255);
  absl::StatusOr<KServeInfer> call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->request.image.bytes, std::string("\x00\xff", 2));
  EXPECT_EQ(call->request.image.channels, 1);

  input->mutable_contents()->set_uint_contents(1, 256);
  EXPECT_THAT(StatusOf(request).message(),
              HasSubstr("inputs[0].contents.uint_contents[1]: 256"));
  input->mutable_contents()->set_uint_contents(1, 1);
  input->mutable_contents()->add_uint_contents(1);
  EXPECT_THAT(StatusOf(request).message(),
              HasSubstr("3 elements for a UINT8 tensor of 2"));
}

TEST(KServeInferFromProtoTest, EncodedFileAsBytes) {
  ModelInferRequest request = PixelsRequest();
  auto* input = request.mutable_inputs(0);
  input->set_datatype("BYTES");
  input->clear_shape();
  input->add_shape(1);
  request.set_raw_input_contents(0, std::string("\x03\x00\x00\x00png", 7));
  absl::StatusOr<KServeInfer> call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_FALSE(call->request.image.raw);
  EXPECT_EQ(call->request.image.bytes, "png");

  request.set_raw_input_contents(0, std::string("\x09\x00\x00\x00png", 7));
  EXPECT_THAT(StatusOf(request).message(),
              HasSubstr("raw_input_contents[0]: BYTES element of length 9 in "
                        "3 bytes"));
  request.clear_raw_input_contents();
  input->mutable_contents()->add_bytes_contents("jpeg");
  call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->request.image.bytes, "jpeg");
  input->add_shape(2);
  EXPECT_THAT(StatusOf(request).message(), HasSubstr("inputs[0].shape"));
}

TEST(KServeInferFromProtoTest, RefusesBadInputsNamingTheField) {
  struct Case {
    std::function<void(ModelInferRequest*)> edit;
    std::string message;
  } cases[] = {
      {[](ModelInferRequest* r) { r->clear_inputs(); },
       "inputs: one tensor (\"image\") required, got 0"},
      {[](ModelInferRequest* r) { r->mutable_inputs(0)->set_name("x"); },
       "inputs[0].name: \"x\" is not an input"},
      {[](ModelInferRequest* r) { r->mutable_inputs(0)->set_datatype("FP32"); },
       "inputs[0].datatype: \"FP32\" is not UINT8"},
      {[](ModelInferRequest* r) { r->mutable_inputs(0)->set_shape(0, 0); },
       "inputs[0].shape[0]: must be in [1, 1048576], got 0"},
      {[](ModelInferRequest* r) {
         r->mutable_inputs(0)->set_shape(0, int64_t{1} << 40);
       },
       "inputs[0].shape[0]"},
      {[](ModelInferRequest* r) { r->mutable_inputs(0)->add_shape(1); },
       "inputs[0].shape: UINT8 image: [height, width, channels]"},
      {[](ModelInferRequest* r) { r->set_raw_input_contents(0, "short"); },
       "raw_input_contents[0]: 5 bytes for a UINT8 tensor of 18 elements"},
      {[](ModelInferRequest* r) { r->add_raw_input_contents("two"); },
       "raw_input_contents: one entry per input (1), got 2"},
      {[](ModelInferRequest* r) { r->set_model_name("resnet"); },
       "model_name: unknown model \"resnet\" (this server serves "
       "\"nyud-slim\")"},
      {[](ModelInferRequest* r) { r->set_model_version("7"); },
       "model_version: unknown version \"7\""},
      {[](ModelInferRequest* r) { r->set_id(std::string(300, 'i')); },
       "id: 300 bytes, more than the limit of 256"},
  };
  for (const Case& c : cases) {
    ModelInferRequest request = PixelsRequest();
    c.edit(&request);
    const absl::Status status = StatusOf(request);
    EXPECT_THAT(status.message(), HasSubstr(c.message)) << status;
    EXPECT_TRUE(absl::IsInvalidArgument(status) || absl::IsNotFound(status));
  }
  ModelInferRequest other = PixelsRequest();
  other.set_model_name("resnet");
  EXPECT_TRUE(absl::IsNotFound(StatusOf(other)));
}

TEST(KServeInferFromProtoTest, BudgetParameters) {
  ModelInferRequest request = PixelsRequest();
  (*request.mutable_parameters())["budget_ms"] = Str("12.5");
  absl::StatusOr<KServeInfer> call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->request.plan_request.budget.kind,
            Budget::Kind::kMilliseconds);
  EXPECT_EQ(call->request.plan_request.budget.value, 12.5);

  request.mutable_parameters()->clear();
  (*request.mutable_parameters())["budget_fraction"] = Dbl(0.25);
  call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->request.plan_request.budget.value, 0.25);

  InferParameter mflops;
  mflops.set_int64_param(300);
  request.mutable_parameters()->clear();
  (*request.mutable_parameters())["budget_mflops"] = mflops;
  call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->request.plan_request.budget.kind, Budget::Kind::kMflops);
  EXPECT_EQ(call->request.plan_request.budget.value, 300);

  (*request.mutable_parameters())["budget_fraction"] = Dbl(0.5);
  EXPECT_THAT(StatusOf(request).message(),
              HasSubstr("(at most one budget)"));

  request.mutable_parameters()->clear();
  (*request.mutable_parameters())["budget_ms"] = Str("soon");
  EXPECT_THAT(StatusOf(request).message(),
              HasSubstr("parameters[budget_ms]: not a number: \"soon\""));
  InferParameter flag;
  flag.set_bool_param(true);
  (*request.mutable_parameters())["budget_ms"] = flag;
  EXPECT_THAT(StatusOf(request).message(),
              HasSubstr("parameters[budget_ms]: a number is required"));

  request.mutable_parameters()->clear();
  (*request.mutable_parameters())["budget"] = Dbl(1);
  EXPECT_THAT(StatusOf(request).message(),
              HasSubstr("parameters[budget]: unknown parameter (known: "
                        "budget_fraction"));
}

// Triton's schedule-policy timeout, in microseconds, as tritonclient's
// infer(timeout=...) sends it (int64_param).
TEST(KServeInferFromProtoTest, TimeoutParameter) {
  ModelInferRequest request = PixelsRequest();
  absl::StatusOr<KServeInfer> call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->timeout, absl::InfiniteDuration());

  InferParameter micros;
  micros.set_int64_param(2500);
  (*request.mutable_parameters())["timeout"] = micros;
  call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->timeout, absl::Microseconds(2500));

  micros.set_int64_param(0);  // Triton's "the default": none here
  (*request.mutable_parameters())["timeout"] = micros;
  call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->timeout, absl::InfiniteDuration());

  micros.set_int64_param(-1);
  (*request.mutable_parameters())["timeout"] = micros;
  EXPECT_THAT(StatusOf(request).message(),
              HasSubstr("parameters[timeout]: microseconds, a finite number "
                        ">= 0 (0: none), got -1"));
  (*request.mutable_parameters())["timeout"] = Str("nan");
  EXPECT_EQ(StatusOf(request).code(), absl::StatusCode::kInvalidArgument);
  (*request.mutable_parameters())["timeout"] = Str("later");
  EXPECT_THAT(StatusOf(request).message(),
              HasSubstr("parameters[timeout]: not a number"));
}

TEST(KServeInferFromProtoTest, RequestedOutputsSelectTasksInTheirOrder) {
  ModelInferRequest request = PixelsRequest();
  request.add_outputs()->set_name("depth");
  auto* semseg = request.add_outputs();
  semseg->set_name("semseg");
  (*semseg->mutable_parameters())["format"] = Str("png");
  (*request.mutable_parameters())["task_weight.semseg"] = Dbl(3);
  (*request.mutable_parameters())["output_size"] = Str("input");
  absl::StatusOr<KServeInfer> call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_THAT(call->outputs, ElementsAre("depth", "semseg"));
  EXPECT_THAT(call->request.plan_request.task_weights,
              UnorderedElementsAre(Pair("semseg", 3.0f), Pair("depth", 1.0f)));
  EXPECT_THAT(call->request.output_formats,
              ElementsAre(Pair("semseg", OutputFormat::kPng)));
  EXPECT_EQ(call->request.output_size, OutputSize::kInput);
}

TEST(KServeInferFromProtoTest, WeightZeroLeavesATaskOut) {
  ModelInferRequest request = PixelsRequest();
  (*request.mutable_parameters())["task_weight.semseg"] = Str("0");
  (*request.mutable_parameters())["output_format"] = Str("PNG");
  absl::StatusOr<KServeInfer> call = KServeInferFromProto(request, TwoTasks());
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_THAT(call->outputs, ElementsAre("depth"));
  EXPECT_THAT(call->request.plan_request.task_weights,
              ElementsAre(Pair("depth", 1.0f)));
  EXPECT_EQ(call->request.default_output_format, OutputFormat::kPng);

  (*request.mutable_parameters())["task_weight.depth"] = Str("0");
  EXPECT_THAT(StatusOf(request).message(), HasSubstr("every task_weight is 0"));
}

TEST(KServeInferFromProtoTest, RefusesInconsistentOutputsAndWeights) {
  struct Case {
    std::function<void(ModelInferRequest*)> edit;
    std::string message;
  } cases[] = {
      {[](ModelInferRequest* r) { r->add_outputs()->set_name("sky"); },
       "outputs[0].name: \"sky\" is not an output of this model (outputs: "
       "semseg, depth)"},
      {[](ModelInferRequest* r) {
         r->add_outputs()->set_name("depth");
         r->add_outputs()->set_name("depth");
       },
       "outputs[1].name: \"depth\" requested twice"},
      {[](ModelInferRequest* r) {
         r->add_outputs()->set_name("depth");
         (*r->mutable_parameters())["task_weight.semseg"] = Dbl(1);
       },
       "parameters[task_weight.semseg]: semseg is not a requested output"},
      {[](ModelInferRequest* r) {
         r->add_outputs()->set_name("depth");
         (*r->mutable_parameters())["task_weight.depth"] = Dbl(0);
       },
       "parameters[task_weight.depth]: 0 for a requested output"},
      {[](ModelInferRequest* r) {
         (*r->mutable_parameters())["task_weight.sky"] = Dbl(1);
       },
       "parameters[task_weight.sky]: unknown task (tasks: semseg, depth)"},
      {[](ModelInferRequest* r) {
         (*r->mutable_parameters())["task_weight.depth"] = Dbl(-1);
       },
       "parameters[task_weight.depth]: must be a finite number >= 0"},
      {[](ModelInferRequest* r) {
         auto* out = r->add_outputs();
         out->set_name("depth");
         (*out->mutable_parameters())["format"] = Str("jpeg");
       },
       "outputs[0].parameters[format]: \"jpeg\" is not an output format"},
      {[](ModelInferRequest* r) {
         auto* out = r->add_outputs();
         out->set_name("depth");
         (*out->mutable_parameters())["classification"] = Dbl(1);
       },
       "outputs[0].parameters[classification]: unknown parameter"},
      {[](ModelInferRequest* r) {
         (*r->mutable_parameters())["output_size"] = Str("huge");
       },
       "parameters[output_size]: \"huge\" is not an output size"},
  };
  for (const Case& c : cases) {
    ModelInferRequest request = PixelsRequest();
    c.edit(&request);
    const absl::Status status = StatusOf(request);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
    EXPECT_THAT(status.message(), HasSubstr(c.message));
  }
}

TEST(KServeInferFromProtoTest, EchoesOfClientStringsAreBounded) {
  const std::string huge(100000, 'x');
  std::vector<std::function<void(ModelInferRequest*)>> edits = {
      [&](ModelInferRequest* r) { r->set_model_name(huge); },
      [&](ModelInferRequest* r) { r->mutable_inputs(0)->set_name(huge); },
      [&](ModelInferRequest* r) { r->mutable_inputs(0)->set_datatype(huge); },
      [&](ModelInferRequest* r) { r->add_outputs()->set_name(huge); },
      [&](ModelInferRequest* r) {
        (*r->mutable_parameters())[huge] = Dbl(1);
      },
      [&](ModelInferRequest* r) {
        (*r->mutable_parameters())["task_weight." + huge] = Dbl(1);
      },
      [&](ModelInferRequest* r) {
        (*r->mutable_parameters())["budget_ms"] = Str(huge);
      },
  };
  for (const auto& edit : edits) {
    ModelInferRequest request = PixelsRequest();
    edit(&request);
    const absl::Status status = StatusOf(request);
    EXPECT_FALSE(status.ok());
    EXPECT_LT(status.message().size(), 400u) << status.message().substr(0, 100);
  }
}

TEST(KServeInferToProtoTest, TypedOutputsInTheRequestedOrder) {
  InferResult result =
      PngSemsegAndRawDepth({1, 2, 3}, "PNGDATA", std::string(24, '\x01'));
  result.plan.encoder_width = 0.5;
  result.plan.planner = "paper";
  result.plan.macs = 1e6;
  TaskPlan depth_plan;
  depth_plan.name = "depth";
  depth_plan.decoder_width = 0.25;
  result.plan.tasks = {depth_plan};
  result.batch_size = 3;
  result.timings.compute = absl::Milliseconds(4);

  ModelInferResponse response;
  KServeInferToProto(std::move(result), "frame-1", {"depth", "semseg"},
                     TwoTasks(), absl::Milliseconds(9), &response);
  EXPECT_EQ(response.model_name(), "nyud-slim");
  EXPECT_EQ(response.model_version(), "1.1");
  EXPECT_EQ(response.id(), "frame-1");
  ASSERT_EQ(response.outputs_size(), 2);
  ASSERT_EQ(response.raw_output_contents_size(), 2);
  EXPECT_EQ(response.outputs(0).name(), "depth");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_THAT(response.outputs(0).shape(), ElementsAre(1, 2, 3));
  EXPECT_EQ(response.raw_output_contents(0), std::string(24, '\x01'));
  EXPECT_EQ(response.outputs(0).parameters().at("decoder_width").string_param(),
            "0.25");
  EXPECT_EQ(response.outputs(0).parameters().at("task_kind").string_param(),
            "TASK_KIND_DEPTH");
  EXPECT_EQ(response.outputs(1).name(), "semseg");
  EXPECT_EQ(response.outputs(1).datatype(), "BYTES");
  EXPECT_THAT(response.outputs(1).shape(), ElementsAre(1));
  EXPECT_EQ(response.raw_output_contents(1),
            std::string("\x07\x00\x00\x00PNGDATA", 11));
  EXPECT_EQ(response.outputs(1).parameters().at("content_type").string_param(),
            "image/png");
  const auto& params = response.parameters();
  EXPECT_EQ(params.at("encoder_width").string_param(), "0.5");
  EXPECT_EQ(params.at("mflops").string_param(), "2");
  EXPECT_EQ(params.at("planner").string_param(), "paper");
  EXPECT_FALSE(params.at("degraded").bool_param());
  EXPECT_EQ(params.at("batch_size").int64_param(), 3);
  EXPECT_EQ(params.at("compute_ms").string_param(), "4");
  EXPECT_EQ(params.at("total_ms").string_param(), "9");
}

TEST(KServeModelMetadataTest, InputAndOneOutputPerTask) {
  const inference::ModelMetadataResponse m = KServeModelMetadata(TwoTasks());
  EXPECT_EQ(m.name(), "nyud-slim");
  EXPECT_THAT(m.versions(), ElementsAre("1.1"));
  ASSERT_EQ(m.inputs_size(), 1);
  EXPECT_EQ(m.inputs(0).name(), "image");
  EXPECT_EQ(m.inputs(0).datatype(), "UINT8");
  EXPECT_THAT(m.inputs(0).shape(), ElementsAre(-1, -1, -1));
  ASSERT_EQ(m.outputs_size(), 2);
  EXPECT_EQ(m.outputs(0).name(), "semseg");
  EXPECT_THAT(m.outputs(0).shape(), ElementsAre(13, -1, -1));
  EXPECT_EQ(m.outputs(1).name(), "depth");
  EXPECT_EQ(m.outputs(1).datatype(), "FP32");
}

}  // namespace
}  // namespace slimserve
