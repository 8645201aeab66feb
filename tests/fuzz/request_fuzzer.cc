// The request path as a client drives it, minus the socket: arbitrary bytes
// parsed as a slimserve.v1 InferRequest or PlanRequest, or as a KServe v2
// ModelInferRequest (the first byte picks: 0xF0 and above KServe, else even
// Infer, odd Plan), converted as the server converts them, and submitted to a real engine
// (every stage: validation, admission, planning, decode, batching,
// post-processing) on the FakeModelRunner and the default model's spec.
// Properties: no crash, leak or hang (an answer within 30 s), and every
// error's gRPC message bounded, as the API promises.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/engine_core.h"
#include "engine/model/spec.h"
#include "engine/runtime/fake_model_runner.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "inference/grpc_predict_v2.pb.h"
#include "server/convert.h"
#include "server/kserve_convert.h"
#include "slimserve/v1/slimserve.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace slimserve {
namespace {

// Longest status message a client may see (the server bounds what it
// echoes, base/strings.h).
constexpr size_t kMaxMessageBytes = 1024;

void CheckError(const absl::Status& status) {
  if (status.ok()) return;
  FUZZ_CHECK(status.message().size() <= kMaxMessageBytes);
  const grpc::Status grpc_status = ToGrpcStatus(status);
  FUZZ_CHECK(!grpc_status.ok());
  FUZZ_CHECK(grpc_status.error_message().size() <= kMaxMessageBytes);
}

Engine* TheEngine() {
  static Engine* engine = [] {
    const std::string dir =
        (std::filesystem::temp_directory_path() /
         ("slimserve_request_fuzzer_" + std::to_string(::getpid())))
            .string();
    std::filesystem::create_directories(dir);
    std::string text;
    google::protobuf::TextFormat::PrintToString(DefaultModelSpec(), &text);
    std::ofstream(dir + "/spec.textproto") << text;
    Engine::Options options;
    options.model_dir = dir;
    options.stages.num_threads = 2;
    options.stages.max_image_pixels = int64_t{1} << 22;  // fast iterations
    absl::StatusOr<std::unique_ptr<Engine>> created = CreateEngine(
        options, [](const ModelPackage& package)
                     -> absl::StatusOr<std::unique_ptr<ModelRunner>> {
          return std::unique_ptr<ModelRunner>(std::make_unique<FakeModelRunner>(
              package.spec, FakeModelRunner::Options()));
        });
    FUZZ_CHECK(created.ok());
    return created->release();  // lives for the process
  }();
  return engine;
}

// Runs an engine request; the answer, or nullopt after checking the error.
std::optional<InferResult> Submit(InferRequest request) {
  request.deadline = absl::Now() + absl::Seconds(20);
  auto done = std::make_shared<absl::Notification>();
  auto result = std::make_shared<absl::StatusOr<InferResult>>();
  const absl::Status submitted = TheEngine()->Submit(
      std::move(request), [done, result](absl::StatusOr<InferResult> r) {
        *result = std::move(r);
        done->Notify();
      });
  if (!submitted.ok()) {
    CheckError(submitted);
    return std::nullopt;
  }
  FUZZ_CHECK(done->WaitForNotificationWithTimeout(absl::Seconds(30)));
  if (!result->ok()) {
    CheckError(result->status());
    return std::nullopt;
  }
  return *std::move(*result);
}

void RunInfer(const v1::InferRequest& proto) {
  absl::StatusOr<InferRequest> request = InferRequestFromProto(proto);
  if (!request.ok()) return CheckError(request.status());
  std::optional<InferResult> result = Submit(*std::move(request));
  if (!result.has_value()) return;
  v1::InferResponse response;
  InferResultToProto(*std::move(result), &response);
  FUZZ_CHECK(response.outputs_size() > 0);
}

void RunKServe(const inference::ModelInferRequest& proto) {
  const ModelInfo& info = TheEngine()->model_info();
  absl::StatusOr<KServeInfer> call = KServeInferFromProto(proto, info);
  if (!call.ok()) return CheckError(call.status());
  FUZZ_CHECK(!call->outputs.empty());
  const std::vector<std::string> outputs = call->outputs;
  std::optional<InferResult> result = Submit(std::move(call->request));
  if (!result.has_value()) return;
  inference::ModelInferResponse response;
  KServeInferToProto(*std::move(result), proto.id(), outputs, info,
                     absl::Milliseconds(1), &response);
  // One output per requested task, each with its data.
  FUZZ_CHECK(response.outputs_size() == static_cast<int>(outputs.size()));
  FUZZ_CHECK(response.raw_output_contents_size() == response.outputs_size());
}

void RunPlan(const v1::PlanRequest& proto) {
  absl::StatusOr<PlanRequest> request = PlanRequestFromProto(proto);
  if (!request.ok()) return CheckError(request.status());
  absl::StatusOr<ArchPlan> plan = TheEngine()->PlanFor(*request);
  if (!plan.ok()) return CheckError(plan.status());
  FUZZ_CHECK(!plan->tasks.empty());
  v1::PlanInfo info;
  PlanToProto(*plan, &info);
}

}  // namespace
}  // namespace slimserve

// protobuf logs every string field with invalid UTF-8 it refuses to parse
// (as it does in the server, one line per bad call); here that is noise.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const void* body = data + 1;
  const int length = static_cast<int>(size - 1);
  if (data[0] >= 0xF0) {
    inference::ModelInferRequest request;
    if (request.ParseFromArray(body, length)) slimserve::RunKServe(request);
  } else if (data[0] % 2 == 0) {
    slimserve::v1::InferRequest request;
    if (request.ParseFromArray(body, length)) slimserve::RunInfer(request);
  } else {
    slimserve::v1::PlanRequest request;
    if (request.ParseFromArray(body, length)) slimserve::RunPlan(request);
  }
  return 0;
}
