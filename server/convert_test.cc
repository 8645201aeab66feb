#include "server/convert.h"

#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ToGrpcStatusTest, KeepsEveryCodeAndTheMessage) {
  for (int code = 1; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code), "why");
    const grpc::Status converted = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(converted.error_code()), code);
    EXPECT_EQ(converted.error_message(), "why");
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(BudgetFromProtoTest, ConvertsEachKind) {
  v1::Budget budget;
  budget.set_fraction(0.5);
  absl::StatusOr<Budget> out = BudgetFromProto(budget);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, Budget::Kind::kFraction);
  EXPECT_EQ(out->value, 0.5);

  budget.set_mflops(12);
  out = BudgetFromProto(budget);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, Budget::Kind::kMflops);
  EXPECT_EQ(out->value, 12);

  budget.set_milliseconds(3);
  out = BudgetFromProto(budget);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, Budget::Kind::kMilliseconds);
}

// Ranges are the engine's rule (engine/planning, ResolvePlanRequest): the
// conversion passes any value through, NaN included.
TEST(BudgetFromProtoTest, RejectsOnlyAMissingKind) {
  EXPECT_EQ(BudgetFromProto(v1::Budget()).status().message(),
            "budget: required (fraction, mflops or milliseconds)");
  v1::Budget budget;
  budget.set_fraction(-0.5);
  absl::StatusOr<Budget> out = BudgetFromProto(budget);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->value, -0.5);
  budget.set_mflops(std::nan(""));
  out = BudgetFromProto(budget);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(std::isnan(out->value));
}

// Image sizes are the engine's rule (engine/stages, ValidateImage).
TEST(ImageFromProtoTest, MapsRawImagesAndRejectsOnlyAMissingOne) {
  v1::Image image;
  EXPECT_EQ(ImageFromProto(image).status().message(),
            "image: required (encoded or raw)");

  v1::RawImage* raw = image.mutable_raw();
  raw->set_height(1u << 31);
  raw->set_width(3);
  raw->set_channels(4);
  raw->set_data(std::string(10, 'x'));
  absl::StatusOr<ImageInput> out = ImageFromProto(image);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->raw);
  EXPECT_EQ(out->height, int64_t{1} << 31);  // not wrapped to an int
  EXPECT_EQ(out->width, 3);
  EXPECT_EQ(out->channels, 4);
  EXPECT_EQ(out->bytes.size(), 10);
}

TEST(ImageFromProtoTest, PassesEncodedBytes) {
  v1::Image image;
  image.set_encoded("abc");
  absl::StatusOr<ImageInput> out = ImageFromProto(image);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_FALSE(out->raw);
  EXPECT_EQ(out->bytes, "abc");
}

v1::InferRequest ValidInferRequest() {
  v1::InferRequest request;
  request.set_request_id("r1");
  request.mutable_image()->set_encoded("png");
  request.mutable_budget()->set_fraction(0.5);
  (*request.mutable_task_weights())["semseg"] = 2;
  return request;
}

TEST(InferRequestFromProtoTest, ConvertsFields) {
  v1::InferRequest request = ValidInferRequest();
  (*request.mutable_output_formats())["depth"] = v1::OUTPUT_FORMAT_PNG;
  request.set_default_output_format(v1::OUTPUT_FORMAT_UNSPECIFIED);
  absl::StatusOr<InferRequest> out =
      InferRequestFromProto(request);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->id, "r1");
  EXPECT_EQ(out->image.bytes, "png");
  EXPECT_EQ(out->plan_request.budget.value, 0.5);
  EXPECT_EQ(out->plan_request.task_weights.at("semseg"), 2);
  EXPECT_EQ(out->output_formats.at("depth"), OutputFormat::kPng);
  EXPECT_EQ(out->default_output_format, OutputFormat::kRaw);
  EXPECT_EQ(out->output_size, OutputSize::kModel);
  request.set_output_size(v1::OUTPUT_SIZE_INPUT);
  EXPECT_EQ(InferRequestFromProto(request)->output_size, OutputSize::kInput);
  request.set_output_size(static_cast<v1::OutputSize>(5));
  EXPECT_EQ(InferRequestFromProto(request).status().message(),
            "output_size: unknown output size 5");
}

TEST(InferRequestFromProtoTest, RejectsBadFormats) {
  v1::InferRequest request = ValidInferRequest();
  request.set_default_output_format(static_cast<v1::OutputFormat>(7));
  EXPECT_EQ(InferRequestFromProto(request).status().message(),
            "default_output_format: unknown output format 7");

  request = ValidInferRequest();
  (*request.mutable_output_formats())["depth"] =
      static_cast<v1::OutputFormat>(9);
  EXPECT_EQ(InferRequestFromProto(request).status().message(),
            "output_formats[depth]: unknown output format 9");

  // Long task names are cut in the message.
  request = ValidInferRequest();
  (*request.mutable_output_formats())[std::string(5000, 'x')] =
      static_cast<v1::OutputFormat>(9);
  EXPECT_LT(InferRequestFromProto(request).status().message().size(), 200u);
}

TEST(RequestFromProtoTest, BoundsTheTaskMaps) {
  v1::InferRequest request = ValidInferRequest();
  request.clear_output_formats();
  for (int i = 0; i < 64; ++i) {
    (*request.mutable_output_formats())[std::string(64, 'a' + i % 26) +
                                        std::to_string(i)] = v1::OUTPUT_FORMAT_PNG;
  }
  // 64 entries are allowed; names of 66 bytes are not.
  EXPECT_EQ(InferRequestFromProto(request).status().message(),
            "output_formats: a task name of 66 bytes, more than the limit of "
            "64");
  request = ValidInferRequest();
  request.clear_task_weights();
  for (int i = 0; i < 64; ++i) {
    (*request.mutable_task_weights())["t" + std::to_string(i)] = 1;
  }
  EXPECT_TRUE(InferRequestFromProto(request).ok());
  (*request.mutable_task_weights())["one more"] = 1;
  EXPECT_EQ(InferRequestFromProto(request).status().message(),
            "task_weights: 65 entries, more than the limit of 64");

  v1::PlanRequest plan;
  plan.mutable_budget()->set_fraction(0.5);
  (*plan.mutable_task_weights())[std::string(1 << 20, 'x')] = 1;
  const absl::Status status = PlanRequestFromProto(plan).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "task_weights: a task name of 1048576 bytes, more than the limit "
            "of 64");
}

TEST(PlanRequestFromProtoTest, BoundsTheRequestId) {
  v1::PlanRequest request;
  request.mutable_budget()->set_fraction(0.5);
  request.set_request_id(std::string(kMaxRequestIdBytes, 'i'));
  EXPECT_TRUE(PlanRequestFromProto(request).ok());
  request.set_request_id(std::string(kMaxRequestIdBytes + 1, 'i'));
  const absl::Status status = PlanRequestFromProto(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "request_id: 257 bytes, more than the limit of 256");
}

TEST(InferResultToProtoTest, ConvertsOutputsPlanAndTimings) {
  InferResult result;
  TaskOutput raw;
  raw.task = "depth";
  raw.kind = v1::TASK_KIND_DEPTH;
  raw.format = OutputFormat::kRaw;
  raw.dtype = DType::kFloat32;
  raw.shape = {1, 2, 3};
  raw.data = std::string(24, '\0');
  result.outputs.push_back(raw);
  TaskOutput png = raw;
  png.task = "edges";
  png.kind = v1::TASK_KIND_EDGES;
  png.format = OutputFormat::kPng;
  png.dtype = DType::kUint8;
  png.data = "png-bytes";
  result.outputs.push_back(png);
  result.plan.encoder_width = 0.5;
  result.plan.encoder_macs = 1e6;
  result.plan.macs = 2e6;
  result.plan.planner = "exhaustive";
  TaskPlan task;
  task.name = "depth";
  task.weight = 1;
  task.decoder_width = 0.25;
  task.macs = 1e6;
  result.plan.tasks.push_back(task);
  result.timings.compute = absl::Milliseconds(3);

  v1::InferResponse out;
  InferResultToProto(std::move(result), &out);
  ASSERT_EQ(out.outputs_size(), 2);
  EXPECT_EQ(out.outputs(0).task(), "depth");
  EXPECT_THAT(out.outputs(0).shape(), ElementsAre(1, 2, 3));
  EXPECT_EQ(out.outputs(0).tensor().dtype(), v1::DATA_TYPE_FLOAT32);
  EXPECT_THAT(out.outputs(0).tensor().shape(), ElementsAre(1, 2, 3));
  EXPECT_EQ(out.outputs(0).tensor().data().size(), 24);
  EXPECT_EQ(out.outputs(1).png(), "png-bytes");
  EXPECT_THAT(out.outputs(1).shape(), ElementsAre(1, 2, 3));
  EXPECT_EQ(out.plan().encoder_width(), 0.5);
  EXPECT_DOUBLE_EQ(out.plan().encoder_mflops(), 2);
  EXPECT_DOUBLE_EQ(out.plan().mflops(), 4);
  EXPECT_EQ(out.plan().planner(), "exhaustive");
  ASSERT_EQ(out.plan().tasks_size(), 1);
  EXPECT_EQ(out.plan().tasks(0).decoder_width(), 0.25);
  EXPECT_DOUBLE_EQ(out.plan().tasks(0).mflops(), 2);
  EXPECT_DOUBLE_EQ(out.timings().compute_ms(), 3);
}

TEST(ApplyStreamDefaultsTest, FillsWhatTheFrameLeavesUnset) {
  v1::StreamDefaults defaults;
  defaults.mutable_budget()->set_fraction(0.25);
  (*defaults.mutable_task_weights())["depth"] = 2;
  (*defaults.mutable_output_formats())["depth"] = v1::OUTPUT_FORMAT_PNG;
  defaults.set_default_output_format(v1::OUTPUT_FORMAT_PNG);
  defaults.set_output_size(v1::OUTPUT_SIZE_INPUT);

  v1::InferRequest bare;
  ApplyStreamDefaults(defaults, &bare);
  EXPECT_EQ(bare.budget().fraction(), 0.25);
  EXPECT_EQ(bare.task_weights().at("depth"), 2);
  EXPECT_EQ(bare.output_formats().at("depth"), v1::OUTPUT_FORMAT_PNG);
  EXPECT_EQ(bare.default_output_format(), v1::OUTPUT_FORMAT_PNG);
  EXPECT_EQ(bare.output_size(), v1::OUTPUT_SIZE_INPUT);

  v1::InferRequest own;
  own.mutable_budget()->set_mflops(100);
  (*own.mutable_task_weights())["edges"] = 1;
  (*own.mutable_output_formats())["edges"] = v1::OUTPUT_FORMAT_RAW;
  own.set_default_output_format(v1::OUTPUT_FORMAT_RAW);
  own.set_output_size(v1::OUTPUT_SIZE_MODEL);
  const std::string before = own.SerializeAsString();
  ApplyStreamDefaults(defaults, &own);
  EXPECT_EQ(own.SerializeAsString(), before);
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
