#include "server/kserve_rest.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/json.h"
#include "server/kserve_test_util.h"

namespace slimserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

RestRoute InferRoute() {
  RestRoute route;
  route.kind = RestRoute::Kind::kModelInfer;
  route.model = "nyud-slim";
  return route;
}

absl::StatusOr<RestInfer> Map(const std::string& body,
                              int64_t header_length = -1) {
  return RestInferFromHttp(body, header_length, InferRoute(), TwoTasks());
}

std::string Message(const std::string& body, int64_t header_length = -1) {
  absl::StatusOr<RestInfer> r = Map(body, header_length);
  EXPECT_FALSE(r.ok()) << body;
  return std::string(r.status().message());
}

TEST(ParseRestRouteTest, TheProtocolsPaths) {
  using Kind = RestRoute::Kind;
  EXPECT_EQ(ParseRestRoute("/v2")->kind, Kind::kServerMetadata);
  EXPECT_EQ(ParseRestRoute("/v2/health/live")->kind, Kind::kLive);
  EXPECT_EQ(ParseRestRoute("/v2/health/ready")->kind, Kind::kReady);
  absl::StatusOr<RestRoute> r = ParseRestRoute("/v2/models/nyud-slim");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kModelMetadata);
  EXPECT_EQ(r->model, "nyud-slim");
  EXPECT_EQ(r->version, "");
  r = ParseRestRoute("/v2/models/m/versions/1.2/infer");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, Kind::kModelInfer);
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->version, "1.2");
  EXPECT_EQ(ParseRestRoute("/v2/models/m/ready")->kind, Kind::kModelReady);
  EXPECT_EQ(ParseRestRoute("/v2/models/m/versions/1/ready")->kind,
            Kind::kModelReady);
  for (const char* bad : {"/v2/models/", "/v2/models/m/infer/x", "/v2/health",
                          "/v2/models/m/versions//infer", "/v2/models/m/stats",
                          "/v2/x"}) {
    r = ParseRestRoute(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(r.status().message(), HasSubstr("path: no KServe v2 route"));
  }
}

TEST(RestInferFromHttpTest, JsonPixelsParametersAndOutputs) {
  absl::StatusOr<RestInfer> r = Map(R"({
      "id": "req-7",
      "parameters": {"budget_fraction": 0.5, "task_weight.depth": 3,
                     "output_size": "input", "timeout": 2000000},
      "inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 2, 3],
                  "data": [[[0, 1, 2], [3, 4, 5]]]}],
      "outputs": [{"name": "depth"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "req-7");
  const InferRequest& req = r->call.request;
  EXPECT_TRUE(req.image.raw);
  EXPECT_EQ(req.image.height, 1);
  EXPECT_EQ(req.image.width, 2);
  EXPECT_EQ(req.image.channels, 3);
  EXPECT_EQ(req.image.bytes, std::string("\x00\x01\x02\x03\x04\x05", 6));
  EXPECT_EQ(req.plan_request.budget.value, 0.5);
  EXPECT_EQ(req.plan_request.task_weights.at("depth"), 3);
  EXPECT_EQ(req.output_size, OutputSize::kInput);
  EXPECT_EQ(r->call.timeout, absl::Seconds(2));
  EXPECT_THAT(r->call.outputs, ElementsAre("depth"));
  EXPECT_THAT(r->binary_outputs, ElementsAre(false));
}

// Triton's binary tensor data extension, in and out.
TEST(RestInferFromHttpTest, BinaryInputsAndOutputs) {
  const std::string json = R"({"inputs": [{"name": "image", "datatype": "UINT8",
      "shape": [2, 2, 1], "parameters": {"binary_data_size": 4}}],
      "outputs": [{"name": "semseg", "parameters": {"format": "png",
                   "binary_data": true}}, {"name": "depth"}]})";
  absl::StatusOr<RestInfer> r =
      Map(json + std::string("\x09\x08\x07\x06", 4), json.size());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->call.request.image.bytes, "\x09\x08\x07\x06");
  EXPECT_THAT(r->call.outputs, ElementsAre("semseg", "depth"));
  EXPECT_THAT(r->binary_outputs, ElementsAre(true, false));

  // Every output binary; the PNG file as a BYTES element.
  const std::string png = "\x89PNG fake";
  std::string element(4, '\0');
  element[0] = static_cast<char>(png.size());
  element += png;
  const std::string bytes_json = absl::StrCat(
      R"({"parameters": {"binary_data_output": true, "output_format": "png"},
          "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                      "parameters": {"binary_data_size": )",
      element.size(), "}}]}");
  r = Map(bytes_json + element, bytes_json.size());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->call.request.image.raw);
  EXPECT_EQ(r->call.request.image.bytes, png);
  EXPECT_THAT(r->binary_outputs, ElementsAre(true, true));
}

TEST(RestInferFromHttpTest, RefusesMistakesNamingTheField) {
  const std::string image =
      R"("inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 1, 3], )";
  EXPECT_THAT(Message("[1]"), HasSubstr("body: an object expected"));
  EXPECT_THAT(Message("{\"id\": "), HasSubstr("body: not JSON: unexpected end"));
  EXPECT_THAT(Message("{\"ids\": 1}"),
              HasSubstr("ids: unknown field (known: id, parameters"));
  EXPECT_THAT(Message("{" + image + R"("data": [1, 2, 300]}]})"),
              HasSubstr("inputs[0].data[2]: 300 is not a UINT8"));
  EXPECT_THAT(Message("{" + image + R"("data": [1, 2.5, 3]}]})"),
              HasSubstr("inputs[0].data[1]: 2.5 is not a UINT8"));
  EXPECT_THAT(Message("{" + image + R"("data": [1, 2]}]})"),
              HasSubstr("inputs[0].data: 2 numbers for shape [1, 1, 3]"));
  EXPECT_THAT(Message("{" + image + R"("data": ["a"]}]})"),
              HasSubstr("inputs[0].data: numbers expected, got an array"));
  EXPECT_THAT(Message("{" + image + "\"dta\": [1, 2, 3]}]}"),
              HasSubstr("inputs[0].dta: unknown field"));
  EXPECT_THAT(Message("{" + image + "\"shape\": [1, -1]}]}"),
              HasSubstr("inputs[0].shape[1]: an integer >= 0 expected"));
  EXPECT_THAT(Message("{" + image + "\"name\": \"image\"}]}"),
              HasSubstr("inputs[0]: data or parameters.binary_data_size "
                        "required"));
  EXPECT_THAT(
      Message("{" + image + R"("parameters": {"binary_data_size": 5}}]})"),
      HasSubstr("inputs[0].parameters[binary_data_size]: 5 bytes, but only 0"));
  EXPECT_THAT(Message("{\"id\": 1}"), HasSubstr("id: a string expected"));
  // An id is echoed in the answer, so one that is not UTF-8 is refused
  // rather than written back as invalid JSON.
  EXPECT_THAT(Message("{\"id\": \"r\xff\"}"),
              HasSubstr("body: not JSON: invalid UTF-8 in a string at byte 9"));
  EXPECT_THAT(Message(R"({"parameters": {"budget_ms": [1]}})"),
              HasSubstr("parameters[budget_ms]: a number, string or boolean "
                        "expected, got an array"));
  EXPECT_THAT(Message(R"({"parameters": {"binary_data_output": 1}})"),
              HasSubstr("parameters[binary_data_output]: a boolean expected"));
  // The gRPC protocol's checks, through the same code.
  EXPECT_THAT(Message("{" + image + R"("data": [1, 2, 3]}],
                       "parameters": {"budget_ms": "soon"}})"),
              HasSubstr("parameters[budget_ms]: not a number: \"soon\""));
  // JSON cannot carry a PNG: ask for binary data.
  EXPECT_THAT(Message("{" + image + R"("data": [1, 2, 3]}],
                       "outputs": [{"name": "depth",
                                    "parameters": {"format": "png"}}]})"),
              HasSubstr("outputs[depth]: a PNG output must be binary data"));
  EXPECT_THAT(Message("{}", 10), HasSubstr("Inference-Header-Content-Length: "
                                           "10, more than the body's 2"));
  EXPECT_THAT(Message("{}xyz", 2),
              HasSubstr("body: 3 binary bytes no input claims"));
  RestRoute other = InferRoute();
  other.model = "resnet50";
  absl::StatusOr<RestInfer> r =
      RestInferFromHttp("{}", -1, other, TwoTasks());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST(RestInferResponseTest, JsonAndBinaryOutputs) {
  absl::StatusOr<RestInfer> request = Map(R"({"id": "r1",
      "parameters": {"output_format": "png"},
      "inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 1, 3],
                  "data": [1, 2, 3]}],
      "outputs": [{"name": "depth", "parameters": {"format": "raw"}},
                  {"name": "semseg", "parameters": {"binary_data": true}}]})");
  ASSERT_TRUE(request.ok()) << request.status();
  const float values[2] = {0.5f, 2.25f};
  InferResult result = PngSemsegAndRawDepth(
      {1, 1, 2}, "PNG",
      std::string(reinterpret_cast<const char*>(values), sizeof(values)));
  result.plan.planner = "normalized";
  RestBody body = RestInferResponse(std::move(result), *request, TwoTasks(),
                                    absl::Milliseconds(3));
  ASSERT_GE(body.header_length, 0);
  const std::string binary = body.body.substr(body.header_length);
  EXPECT_EQ(binary, std::string("\x03\x00\x00\x00PNG", 7));
  absl::StatusOr<Json> json =
      ParseJson(absl::string_view(body.body).substr(0, body.header_length));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->Find("id")->string(), "r1");
  EXPECT_EQ(json->Find("model_name")->string(), "nyud-slim");
  EXPECT_EQ(json->Find("parameters")->Find("planner")->string(), "normalized");
  const std::vector<Json>& outputs = json->Find("outputs")->items();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].Find("name")->string(), "depth");
  EXPECT_EQ(outputs[0].Find("datatype")->string(), "FP32");
  EXPECT_THAT(outputs[0].Find("shape")->numbers(), ElementsAre(1, 1, 2));
  EXPECT_THAT(outputs[0].Find("data")->numbers(), ElementsAre(0.5f, 2.25f));
  EXPECT_EQ(outputs[1].Find("name")->string(), "semseg");
  EXPECT_EQ(outputs[1].Find("datatype")->string(), "BYTES");
  EXPECT_EQ(outputs[1].Find("data"), nullptr);
  EXPECT_EQ(outputs[1].Find("parameters")->Find("binary_data_size")->number(),
            7);
  EXPECT_EQ(outputs[1].Find("parameters")->Find("content_type")->string(),
            "image/png");
}

TEST(RestMetadataTest, ServerAndModel) {
  absl::StatusOr<Json> server = ParseJson(RestServerMetadata());
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(server->Find("name")->string(), "slimserve");
  EXPECT_EQ(server->Find("extensions")->items()[0].string(),
            "binary_tensor_data");
  absl::StatusOr<Json> model = ParseJson(RestModelMetadata(TwoTasks()));
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->Find("name")->string(), "nyud-slim");
  EXPECT_EQ(model->Find("versions")->items()[0].string(), "1.1");
  const Json& input = model->Find("inputs")->items()[0];
  EXPECT_EQ(input.Find("name")->string(), "image");
  EXPECT_THAT(input.Find("shape")->numbers(), ElementsAre(-1, -1, -1));
  EXPECT_THAT(model->Find("outputs")->items()[0].Find("shape")->numbers(),
              ElementsAre(13, -1, -1));
  EXPECT_EQ(ParseJson(RestError("a \"b\""))->Find("error")->string(),
            "a \"b\"");
}

}  // namespace
}  // namespace slimserve
