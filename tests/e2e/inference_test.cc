// Infer, Plan and GetModelInfo over loopback gRPC against a real engine.

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "image/codec.h"
#include "tests/e2e/shared_server.h"

namespace slimserve {
namespace {

using ::testing::ElementsAre;
using ::testing::Gt;

std::vector<float> Floats(const v1::Tensor& tensor) {
  std::vector<float> values(tensor.data().size() / sizeof(float));
  std::memcpy(values.data(), tensor.data().data(),
              values.size() * sizeof(float));
  return values;
}

const v1::TaskOutput* FindOutput(const v1::InferResponse& response,
                                 const std::string& task) {
  for (const v1::TaskOutput& output : response.outputs()) {
    if (output.task() == task) return &output;
  }
  return nullptr;
}

std::vector<std::string> OutputTasks(const v1::InferResponse& response) {
  std::vector<std::string> tasks;
  for (const v1::TaskOutput& output : response.outputs()) {
    tasks.push_back(output.task());
  }
  return tasks;
}

class InferenceTest : public E2eTest {
 protected:
  int height() { return static_cast<int>(model_info().input_height()); }
  int width() { return static_cast<int>(model_info().input_width()); }
  int64_t num_classes() { return model_info().tasks(0).output_channels(); }

  // Checks the RAW outputs of every task: shapes, dtypes and value ranges.
  void ExpectValidRawOutputs(const v1::InferResponse& response) {
    ASSERT_THAT(OutputTasks(response),
                ElementsAre("semseg", "depth", "normals", "edges"));
    const int64_t h = height(), w = width(), pixels = h * w;
    for (const v1::TaskOutput& output : response.outputs()) {
      SCOPED_TRACE(output.task());
      ASSERT_TRUE(output.has_tensor());
      const v1::Tensor& tensor = output.tensor();
      EXPECT_EQ(tensor.dtype(), v1::DATA_TYPE_FLOAT32);
      EXPECT_THAT(tensor.shape(), ElementsAre(output.shape(0), output.shape(1),
                                              output.shape(2)));
      ASSERT_EQ(tensor.data().size(),
                output.shape(0) * output.shape(1) * output.shape(2) * 4);
    }
    EXPECT_THAT(FindOutput(response, "semseg")->shape(),
                ElementsAre(num_classes(), h, w));
    EXPECT_THAT(FindOutput(response, "depth")->shape(), ElementsAre(1, h, w));
    EXPECT_THAT(FindOutput(response, "normals")->shape(), ElementsAre(3, h, w));
    EXPECT_THAT(FindOutput(response, "edges")->shape(), ElementsAre(1, h, w));

    for (float v : Floats(FindOutput(response, "semseg")->tensor())) {
      ASSERT_TRUE(std::isfinite(v));
    }
    for (float v : Floats(FindOutput(response, "depth")->tensor())) {
      ASSERT_GE(v, 0);
    }
    for (float v : Floats(FindOutput(response, "edges")->tensor())) {
      ASSERT_GE(v, 0);
      ASSERT_LE(v, 1);
    }
    const std::vector<float> normals =
        Floats(FindOutput(response, "normals")->tensor());
    for (int64_t i = 0; i < pixels; ++i) {
      const float x = normals[i], y = normals[pixels + i],
                  z = normals[2 * pixels + i];
      ASSERT_NEAR(std::sqrt(x * x + y * y + z * z), 1.0, 1e-3) << "pixel " << i;
    }
  }
};

TEST_F(InferenceTest, ModelInfoDescribesTheTinyModel) {
  const v1::GetModelInfoResponse& info = model_info();
  EXPECT_FALSE(info.name().empty());
  EXPECT_EQ(info.input_height(), 32);
  EXPECT_EQ(info.input_width(), 48);
  ASSERT_THAT(info.encoder_widths(), testing::Not(testing::IsEmpty()));
  ASSERT_THAT(info.decoder_widths(), testing::Not(testing::IsEmpty()));
  EXPECT_EQ(info.encoder_widths(info.encoder_widths_size() - 1), 1.0);
  EXPECT_EQ(info.decoder_widths(info.decoder_widths_size() - 1), 1.0);
  ASSERT_EQ(info.encoder_mflops_size(), info.encoder_widths_size());
  for (double mflops : info.encoder_mflops()) EXPECT_GT(mflops, 0);

  ASSERT_EQ(info.tasks_size(), 4);
  const char* const kNames[] = {"semseg", "depth", "normals", "edges"};
  const v1::TaskKind kKinds[] = {v1::TASK_KIND_SEMANTIC_SEGMENTATION, v1::TASK_KIND_DEPTH,
                                 v1::TASK_KIND_SURFACE_NORMALS, v1::TASK_KIND_EDGES};
  double full = info.encoder_mflops(info.encoder_mflops_size() - 1);
  for (int t = 0; t < 4; ++t) {
    const v1::TaskInfo& task = info.tasks(t);
    SCOPED_TRACE(task.name());
    EXPECT_EQ(task.name(), kNames[t]);
    EXPECT_EQ(task.kind(), kKinds[t]);
    ASSERT_EQ(task.decoder_mflops_size(), info.encoder_widths_size());
    for (const v1::CostRow& row : task.decoder_mflops()) {
      ASSERT_EQ(row.mflops_size(), info.decoder_widths_size());
      for (double mflops : row.mflops()) EXPECT_GT(mflops, 0);
    }
    const v1::CostRow& full_row =
        task.decoder_mflops(task.decoder_mflops_size() - 1);
    full += full_row.mflops(full_row.mflops_size() - 1);
  }
  EXPECT_THAT(info.tasks(0).output_channels(), Gt(1u));
  EXPECT_EQ(info.tasks(1).output_channels(), 1);
  EXPECT_EQ(info.tasks(2).output_channels(), 3);
  EXPECT_EQ(info.tasks(3).output_channels(), 1);
  EXPECT_NEAR(info.full_mflops(), full, 1e-9 * full);

  // Latency tables at batch 1 and the largest batch the scheduler forms,
  // one row per (encoder width) for each task, all measured (> 0).
  ASSERT_EQ(info.latency_tables_size(), 2);
  EXPECT_EQ(info.latency_tables(0).batch_size(), 1u);
  EXPECT_EQ(info.latency_tables(1).batch_size(), 8u);
  EXPECT_EQ(info.latency_batch_size(), 1u);
  for (const v1::LatencyTableInfo& table : info.latency_tables()) {
    ASSERT_EQ(table.encoder_ms_size(), info.encoder_widths_size());
    for (double ms : table.encoder_ms()) EXPECT_GT(ms, 0);
    ASSERT_EQ(table.tasks_size(), 4);
    for (int t = 0; t < 4; ++t) {
      EXPECT_EQ(table.tasks(t).task(), kNames[t]);
      ASSERT_EQ(table.tasks(t).decoder_ms_size(), info.encoder_widths_size());
      for (const v1::LatencyRow& row : table.tasks(t).decoder_ms()) {
        ASSERT_EQ(row.ms_size(), info.decoder_widths_size());
        for (double ms : row.ms()) EXPECT_GT(ms, 0);
      }
    }
    // The server fuses decoders by default: their fused passes are timed.
    ASSERT_EQ(table.fused_decoder_ms_size(), info.encoder_widths_size());
    for (const v1::LatencyRow& row : table.fused_decoder_ms()) {
      ASSERT_EQ(row.ms_size(), info.decoder_widths_size());
      for (double ms : row.ms()) EXPECT_GT(ms, 0);
    }
  }
  EXPECT_EQ(info.latency_tables(0).encoder_ms(0), info.encoder_latency_ms(0));
}

TEST_F(InferenceTest, InfersRawOutputsFromPng) {
  absl::StatusOr<v1::InferResponse> response =
      client().Infer(PngInferRequest(1.0, v1::OUTPUT_FORMAT_RAW));
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectValidRawOutputs(*response);
  const v1::Timings& t = response->timings();
  EXPECT_GT(t.compute_ms(), 0);
  EXPECT_GE(t.total_ms(), t.queue_ms() + t.preprocess_ms() + t.compute_ms() +
                              t.postprocess_ms() - 1e-6);
}

TEST_F(InferenceTest, UnspecifiedFormatMeansRaw) {
  absl::StatusOr<v1::InferResponse> response =
      client().Infer(PngInferRequest(0.5, v1::OUTPUT_FORMAT_UNSPECIFIED));
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectValidRawOutputs(*response);
}

TEST_F(InferenceTest, InfersFromJpeg) {
  const std::vector<uint8_t> pixels = TestPixels(50, 70, 3);
  absl::StatusOr<std::string> jpeg = EncodeJpeg(pixels.data(), 50, 70, 90);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  v1::InferRequest request = PngInferRequest(0.5);
  request.mutable_image()->set_encoded(*jpeg);
  absl::StatusOr<v1::InferResponse> response = client().Infer(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectValidRawOutputs(*response);
}

TEST_F(InferenceTest, InfersFromRawImagesOfEveryChannelCount) {
  for (int channels : {1, 3, 4}) {
    SCOPED_TRACE(absl::StrCat(channels, " channels"));
    const std::vector<uint8_t> pixels = TestPixels(20, 30, channels);
    v1::InferRequest request = PngInferRequest(0.5);
    v1::RawImage* raw = request.mutable_image()->mutable_raw();
    raw->set_data(pixels.data(), pixels.size());
    raw->set_height(20);
    raw->set_width(30);
    raw->set_channels(channels);
    absl::StatusOr<v1::InferResponse> response = client().Infer(request);
    ASSERT_TRUE(response.ok()) << response.status();
    ExpectValidRawOutputs(*response);
  }
}

TEST_F(InferenceTest, PngOutputsDecode) {
  absl::StatusOr<v1::InferResponse> response =
      client().Infer(PngInferRequest(0.5, v1::OUTPUT_FORMAT_PNG));
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_THAT(OutputTasks(*response),
              ElementsAre("semseg", "depth", "normals", "edges"));
  struct Expected {
    int channels;
    int bit_depth;
  };
  const Expected kExpected[] = {{1, 8}, {1, 16}, {3, 8}, {1, 8}};
  for (int t = 0; t < 4; ++t) {
    const v1::TaskOutput& output = response->outputs(t);
    SCOPED_TRACE(output.task());
    ASSERT_TRUE(output.has_png());
    absl::StatusOr<DecodedPng> png = DecodePngRaw(output.png());
    ASSERT_TRUE(png.ok()) << png.status();
    EXPECT_EQ(png->height, height());
    EXPECT_EQ(png->width, width());
    EXPECT_EQ(png->channels, kExpected[t].channels);
    EXPECT_EQ(png->bit_depth, kExpected[t].bit_depth);
    EXPECT_EQ(output.shape(1), height());
    EXPECT_EQ(output.shape(2), width());
  }
  EXPECT_EQ(response->outputs(0).shape(0), num_classes());
  absl::StatusOr<DecodedPng> classes = DecodePngRaw(response->outputs(0).png());
  ASSERT_TRUE(classes.ok());
  for (uint16_t id : classes->samples) ASSERT_LT(id, num_classes());
}

// Outputs at the caller's image size (TestPng is 40 x 60; the model's input
// is 32 x 48), every task kind, both formats; and the same outputs as
// resizing the model-size ones would give, in kind (class ids in range,
// unit normals, depth > 0, edges in [0, 1]).
TEST_F(InferenceTest, OutputsAtTheInputSize) {
  for (v1::OutputFormat format : {v1::OUTPUT_FORMAT_RAW, v1::OUTPUT_FORMAT_PNG}) {
    SCOPED_TRACE(v1::OutputFormat_Name(format));
    v1::InferRequest request = PngInferRequest(0.5, format);
    request.set_output_size(v1::OUTPUT_SIZE_INPUT);
    absl::StatusOr<v1::InferResponse> response = client().Infer(request);
    ASSERT_TRUE(response.ok()) << response.status();
    ASSERT_EQ(response->outputs_size(), 4);
    for (const v1::TaskOutput& output : response->outputs()) {
      SCOPED_TRACE(output.task());
      EXPECT_EQ(output.shape(1), 40);
      EXPECT_EQ(output.shape(2), 60);
      const int64_t pixels = 40 * 60;
      if (format == v1::OUTPUT_FORMAT_PNG) {
        absl::StatusOr<DecodedPng> png = DecodePngRaw(output.png());
        ASSERT_TRUE(png.ok()) << png.status();
        EXPECT_EQ(png->height, 40);
        EXPECT_EQ(png->width, 60);
        if (output.kind() == v1::TASK_KIND_SEMANTIC_SEGMENTATION) {
          for (uint16_t id : png->samples) ASSERT_LT(id, num_classes());
        }
        continue;
      }
      const std::string& data = output.tensor().data();
      ASSERT_EQ(data.size(), output.shape(0) * pixels * sizeof(float));
      const float* v = reinterpret_cast<const float*>(data.data());
      for (int64_t p = 0; p < pixels; p += 37) {
        switch (output.kind()) {
          case v1::TASK_KIND_DEPTH:
            ASSERT_GT(v[p], 0.0f);
            break;
          case v1::TASK_KIND_EDGES:
            ASSERT_GE(v[p], 0.0f);
            ASSERT_LE(v[p], 1.0f);
            break;
          case v1::TASK_KIND_SURFACE_NORMALS:
            ASSERT_NEAR(v[p] * v[p] + v[pixels + p] * v[pixels + p] +
                            v[2 * pixels + p] * v[2 * pixels + p],
                        1.0f, 1e-4f);
            break;
          default:
            break;
        }
      }
    }
  }
  v1::InferRequest bad = PngInferRequest(0.5);
  bad.set_output_size(static_cast<v1::OutputSize>(9));
  EXPECT_EQ(client().Infer(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(InferenceTest, FormatsPerTask) {
  v1::InferRequest request = PngInferRequest(0.5, v1::OUTPUT_FORMAT_RAW);
  (*request.mutable_output_formats())["depth"] = v1::OUTPUT_FORMAT_PNG;
  absl::StatusOr<v1::InferResponse> response = client().Infer(request);
  ASSERT_TRUE(response.ok()) << response.status();
  for (const v1::TaskOutput& output : response->outputs()) {
    EXPECT_EQ(output.has_png(), output.task() == "depth") << output.task();
  }
}

TEST_F(InferenceTest, PlansStayWithinBudget) {
  const double full = model_info().full_mflops();
  for (double fraction : {0.25, 0.5, 1.0}) {
    SCOPED_TRACE(absl::StrCat("fraction ", fraction));
    absl::StatusOr<v1::InferResponse> response =
        client().Infer(PngInferRequest(fraction));
    ASSERT_TRUE(response.ok()) << response.status();
    const v1::PlanInfo& plan = response->plan();
    EXPECT_NEAR(plan.full_mflops(), full, 1e-9 * full);
    EXPECT_NEAR(plan.budget_mflops(), fraction * full, 1e-9 * full);
    EXPECT_LE(plan.mflops(), plan.budget_mflops() * (1 + 1e-12));
    EXPECT_GT(plan.mflops(), 0);
    EXPECT_FALSE(plan.planner().empty());
    EXPECT_FALSE(plan.degraded());
    ASSERT_EQ(plan.tasks_size(), 4);
    double sum = plan.encoder_mflops();
    for (const v1::TaskPlan& task : plan.tasks()) sum += task.mflops();
    EXPECT_NEAR(plan.mflops(), sum, 1e-9 * sum);
  }
  absl::StatusOr<v1::InferResponse> quarter =
      client().Infer(PngInferRequest(0.25));
  ASSERT_TRUE(quarter.ok()) << quarter.status();
  EXPECT_LE(quarter->plan().mflops(), 0.25 * full);
  absl::StatusOr<v1::InferResponse> whole = client().Infer(PngInferRequest(1));
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_NEAR(whole->plan().mflops(), full, 1e-9 * full);
}

TEST_F(InferenceTest, AbsoluteBudget) {
  const double budget = 0.6 * model_info().full_mflops();
  v1::InferRequest request = PngInferRequest(1);
  request.mutable_budget()->set_mflops(budget);
  absl::StatusOr<v1::InferResponse> response = client().Infer(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_DOUBLE_EQ(response->plan().budget_mflops(), budget);
  EXPECT_LE(response->plan().mflops(), budget);
}

// Budgets larger than anything the model can spend, up to DBL_MAX, mean
// "no limit": the full-width plan, not "below the cheapest configuration".
TEST_F(InferenceTest, HugeBudgetsAreNoLimit) {
  const double kMax = std::numeric_limits<double>::max();
  for (int kind = 0; kind < 2; ++kind) {
    for (double value : {1e9, kMax}) {
      v1::InferRequest request = PngInferRequest(1);
      if (kind == 0) {
        request.mutable_budget()->set_mflops(value);
      } else {
        request.mutable_budget()->set_milliseconds(value);
      }
      absl::StatusOr<v1::InferResponse> response = client().Infer(request);
      ASSERT_TRUE(response.ok()) << kind << " " << value << ": "
                                 << response.status();
      EXPECT_EQ(response->plan().encoder_width(), 1.0);
      EXPECT_NEAR(response->plan().mflops(), model_info().full_mflops(),
                  1e-9 * model_info().full_mflops());
    }
  }
}

TEST_F(InferenceTest, ComputesOnlyWeightedTasks) {
  v1::InferRequest request = PngInferRequest(1);
  (*request.mutable_task_weights())["semseg"] = 1;
  absl::StatusOr<v1::InferResponse> response = client().Infer(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(OutputTasks(*response), ElementsAre("semseg"));
  ASSERT_EQ(response->plan().tasks_size(), 1);
  EXPECT_EQ(response->plan().tasks(0).task(), "semseg");
  EXPECT_LT(response->plan().full_mflops(), model_info().full_mflops());

  (*request.mutable_task_weights())["depth"] = 0;
  (*request.mutable_task_weights())["edges"] = 2;
  response = client().Infer(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(OutputTasks(*response), ElementsAre("semseg", "edges"));
}

TEST_F(InferenceTest, PlanRpcMatchesInfer) {
  for (double fraction : {0.25, 0.5, 1.0}) {
    SCOPED_TRACE(absl::StrCat("fraction ", fraction));
    v1::InferRequest infer = PngInferRequest(fraction);
    (*infer.mutable_task_weights())["semseg"] = 2;
    (*infer.mutable_task_weights())["normals"] = 0.5;
    v1::PlanRequest plan;
    *plan.mutable_budget() = infer.budget();
    *plan.mutable_task_weights() = infer.task_weights();
    absl::StatusOr<v1::PlanResponse> planned = client().Plan(plan);
    ASSERT_TRUE(planned.ok()) << planned.status();
    absl::StatusOr<v1::InferResponse> inferred = client().Infer(infer);
    ASSERT_TRUE(inferred.ok()) << inferred.status();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        planned->plan(), inferred->plan()))
        << "Plan: " << planned->plan().DebugString()
        << "Infer: " << inferred->plan().DebugString();
  }
}

TEST_F(InferenceTest, EchoesRequestId) {
  v1::InferRequest request = PngInferRequest(0.5);
  request.set_request_id("frame-42");
  absl::StatusOr<v1::InferResponse> response = client().Infer(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->request_id(), "frame-42");

  CallOptions options;
  options.request_id = "from-options";
  response = client().Infer(request, options);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->request_id(), "from-options");

  v1::PlanRequest plan;
  plan.set_request_id("plan-7");
  plan.mutable_budget()->set_fraction(0.5);
  absl::StatusOr<v1::PlanResponse> planned = client().Plan(plan);
  ASSERT_TRUE(planned.ok()) << planned.status();
  EXPECT_EQ(planned->request_id(), "plan-7");
}

TEST_F(InferenceTest, ConcurrentCallsAllSucceed) {
  constexpr int kThreads = 6;
  constexpr int kCallsPerThread = 3;
  std::vector<absl::Status> statuses(kThreads * kCallsPerThread);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([this, i, &statuses] {
      for (int j = 0; j < kCallsPerThread; ++j) {
        // Different widths, so batches mix sub-architectures.
        const double fraction = (i % 3 + 1) / 3.0;
        statuses[i * kCallsPerThread + j] =
            client().Infer(PngInferRequest(fraction)).status();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& status : statuses)
    EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace slimserve
