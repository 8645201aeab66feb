// Every bad request gets its status code, and the server keeps serving.

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/e2e/shared_server.h"

namespace slimserve {
namespace {

using ::testing::HasSubstr;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct BadInfer {
  std::string name;
  std::function<void(v1::InferRequest*)> mutate;
  absl::StatusCode code;
  std::string message;  // expected substring; empty: not checked
};

void PrintTo(const BadInfer& c, std::ostream* os) { *os << c.name; }

std::vector<BadInfer> BadInfers() {
  using R = v1::InferRequest;
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  auto raw = [](R* r, int h, int w, int c, size_t bytes) {
    v1::RawImage* raw = r->mutable_image()->mutable_raw();
    raw->set_height(h);
    raw->set_width(w);
    raw->set_channels(c);
    raw->set_data(std::string(bytes, '\x80'));
  };
  return {
      {"undecodable_image",
       [](R* r) { r->mutable_image()->set_encoded("not an image"); }, kInvalid,
       ""},
      {"truncated_png",
       [](R* r) {
         r->mutable_image()->set_encoded(r->image().encoded().substr(0, 60));
       },
       kInvalid, ""},
      {"missing_image", [](R* r) { r->clear_image(); }, kInvalid,
       "image: required (encoded or raw)"},
      {"raw_wrong_size", [raw](R* r) { raw(r, 4, 5, 3, 10); }, kInvalid,
       "image.raw: data has 10 bytes, expected 4*5*3 = 60"},
      {"raw_two_channels", [raw](R* r) { raw(r, 4, 5, 2, 40); }, kInvalid,
       "image.raw.channels"},
      {"raw_zero_height", [raw](R* r) { raw(r, 0, 5, 3, 0); }, kInvalid,
       "image.raw: height and width must be > 0"},
      {"missing_budget", [](R* r) { r->clear_budget(); }, kInvalid,
       "budget: required"},
      {"zero_fraction", [](R* r) { r->mutable_budget()->set_fraction(0); },
       kInvalid, "budget.fraction"},
      {"negative_fraction",
       [](R* r) { r->mutable_budget()->set_fraction(-0.5); }, kInvalid,
       "budget.fraction"},
      {"fraction_above_one",
       [](R* r) { r->mutable_budget()->set_fraction(1.5); }, kInvalid,
       "budget.fraction"},
      {"nan_fraction", [](R* r) { r->mutable_budget()->set_fraction(kNan); },
       kInvalid, "budget.fraction: must be in (0, 1], got nan"},
      {"inf_fraction", [](R* r) { r->mutable_budget()->set_fraction(kInf); },
       kInvalid, "budget.fraction"},
      {"nan_mflops", [](R* r) { r->mutable_budget()->set_mflops(kNan); },
       kInvalid, "budget.mflops"},
      {"inf_mflops", [](R* r) { r->mutable_budget()->set_mflops(kInf); },
       kInvalid, "budget.mflops"},
      {"negative_mflops", [](R* r) { r->mutable_budget()->set_mflops(-3); },
       kInvalid, "budget.mflops"},
      {"mflops_below_cheapest",
       [](R* r) { r->mutable_budget()->set_mflops(1e-6); },
       absl::StatusCode::kOutOfRange, ""},
      {"milliseconds_below_fastest",
       [](R* r) { r->mutable_budget()->set_milliseconds(1e-4); },
       absl::StatusCode::kOutOfRange, "fastest configuration"},
      {"negative_weight",
       [](R* r) { (*r->mutable_task_weights())["depth"] = -1; }, kInvalid,
       "depth"},
      {"nan_weight", [](R* r) { (*r->mutable_task_weights())["depth"] = kNan; },
       kInvalid, "depth"},
      {"unknown_task_weight",
       [](R* r) { (*r->mutable_task_weights())["sky"] = 1; }, kInvalid, "sky"},
      {"unknown_default_format",
       [](R* r) {
         r->set_default_output_format(static_cast<v1::OutputFormat>(7));
       },
       kInvalid, "default_output_format: unknown output format 7"},
      {"unknown_format_value",
       [](R* r) {
         (*r->mutable_output_formats())["depth"] =
             static_cast<v1::OutputFormat>(9);
       },
       kInvalid, "output_formats[depth]: unknown output format 9"},
      {"request_id_too_long",
       [](R* r) { r->set_request_id(std::string(257, 'x')); }, kInvalid,
       "request_id: 257 bytes, more than the limit of 256"},
      {"too_many_task_weights",
       [](R* r) {
         for (int i = 0; i < 65; ++i) {
           (*r->mutable_task_weights())["t" + std::to_string(i)] = 1;
         }
       },
       kInvalid, "task_weights: 65 entries, more than the limit of 64"},
      {"task_name_too_long",
       [](R* r) { (*r->mutable_task_weights())[std::string(65, 'n')] = 1; },
       kInvalid, "task_weights: a task name of 65 bytes, more than the limit"},
      {"too_many_output_formats",
       [](R* r) {
         for (int i = 0; i < 100; ++i) {
           (*r->mutable_output_formats())["t" + std::to_string(i)] = v1::OUTPUT_FORMAT_PNG;
         }
       },
       kInvalid, "output_formats: 100 entries, more than the limit of 64"},
      {"format_for_unknown_task",
       [](R* r) { (*r->mutable_output_formats())["sky"] = v1::OUTPUT_FORMAT_PNG; }, kInvalid,
       "output_formats: unknown task \"sky\""},
  };
}

class BadInferTest : public E2eTest,
                     public ::testing::WithParamInterface<BadInfer> {};

TEST_P(BadInferTest, IsRejectedAndTheServerKeepsServing) {
  v1::InferRequest request = PngInferRequest(0.5);
  GetParam().mutate(&request);
  const absl::Status status = client().Infer(request).status();
  EXPECT_EQ(status.code(), GetParam().code) << status;
  EXPECT_THAT(status.message(), HasSubstr(GetParam().message));
  ExpectServerStillWorks();
}

INSTANTIATE_TEST_SUITE_P(Cases, BadInferTest, ::testing::ValuesIn(BadInfers()),
                         [](const ::testing::TestParamInfo<BadInfer>& info) {
                           return info.param.name;
                         });

TEST_F(E2eTest, ExpiredDeadlineIsDeadlineExceeded) {
  CallOptions options;
  options.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(client().Infer(PngInferRequest(0.5), options).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ExpectServerStillWorks();
}

TEST_F(E2eTest, BadPlansAreRejected) {
  struct Case {
    std::function<void(v1::PlanRequest*)> mutate;
    absl::StatusCode code;
  };
  const Case kCases[] = {
      {[](v1::PlanRequest* r) { r->clear_budget(); },
       absl::StatusCode::kInvalidArgument},
      {[](v1::PlanRequest* r) { r->mutable_budget()->set_fraction(kNan); },
       absl::StatusCode::kInvalidArgument},
      {[](v1::PlanRequest* r) { (*r->mutable_task_weights())["sky"] = 1; },
       absl::StatusCode::kInvalidArgument},
      {[](v1::PlanRequest* r) { (*r->mutable_task_weights())["semseg"] = -2; },
       absl::StatusCode::kInvalidArgument},
      {[](v1::PlanRequest* r) { r->mutable_budget()->set_milliseconds(1e-4); },
       absl::StatusCode::kOutOfRange},
      {[](v1::PlanRequest* r) { r->mutable_budget()->set_mflops(1e-6); },
       absl::StatusCode::kOutOfRange},
  };
  for (const Case& c : kCases) {
    v1::PlanRequest request;
    request.mutable_budget()->set_fraction(0.5);
    c.mutate(&request);
    const absl::Status status = client().Plan(request).status();
    EXPECT_EQ(status.code(), c.code) << request.DebugString() << status;
  }
  v1::PlanRequest good;
  good.mutable_budget()->set_fraction(0.5);
  EXPECT_TRUE(client().Plan(good).ok());
}

// Bytes that are no request at all, sent as a client with a broken encoder
// (or none) would: INVALID_ARGUMENT naming the type, never UNIMPLEMENTED.
TEST_F(E2eTest, UnparseableRequestBytesAreInvalidArgument) {
  const std::string target =
      absl::StrCat("127.0.0.1:", SharedServer().server().port());
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  // Truncated varint; a string field (request_id, 1) holding invalid UTF-8.
  const std::string bad_inputs[] = {std::string("\x08\xff\xff", 3),
                                    std::string("\x0a\x02\xc3\x28", 4)};
  for (const char* method : {"Infer", "Plan", "GetModelInfo"}) {
    for (const std::string& bytes : bad_inputs) {
      if (std::string(method) == "GetModelInfo" && bytes[0] == '\x0a') {
        continue;  // an empty message: field 1 is an unknown field there
      }
      grpc::Slice slice(bytes);
      grpc::ByteBuffer request(&slice, 1);
      grpc::ByteBuffer response;
      grpc::ClientContext context;
      absl::Notification done;
      grpc::Status status;
      stub.UnaryCall(&context, absl::StrCat("/slimserve.v1.InferenceService/", method),
                     grpc::StubOptions(), &request, &response,
                     [&](grpc::Status s) {
                       status = std::move(s);
                       done.Notify();
                     });
      done.WaitForNotification();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << method << ": " << status.error_message();
      EXPECT_THAT(status.error_message(),
                  HasSubstr("request: not a valid slimserve.v1."));
    }
  }
  ExpectServerStillWorks();
}

}  // namespace
}  // namespace slimserve
