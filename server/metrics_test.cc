#include "server/metrics.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/metric_type.h"
#include "prometheus/text_serializer.h"

namespace slimserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

std::shared_ptr<Metrics> NewMetrics() {
  Metrics::Options options;
  options.grpc_version = "1.51.1";
  absl::StatusOr<std::shared_ptr<Metrics>> metrics = Metrics::Create(options);
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  return metrics.ok() ? *metrics : nullptr;
}

ModelLabels TwoTaskModel() {
  ModelLabels model;
  model.name = "tiny";
  model.version = "3";
  model.tasks = {"semseg", "depth"};
  model.encoder_widths = {0.5, 1.0};
  model.decoder_widths = {0.25, 0.5, 1.0};
  return model;
}

// The text exposition format, as Prometheus scrapes it.
std::string Text(const prometheus::Collectable& metrics) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, metrics.Collect());
  return out.str();
}

// The value of `series` (name with labels in the serializer's order, sorted
// by label name), or nullopt if it is not exported.
std::optional<double> Sample(const std::string& text,
                             const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double value = 0;
      // A timestamp may follow the value.
      const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
      if (absl::SimpleAtod(parts[0], &value)) return value;
    }
  }
  return std::nullopt;
}

InferResult SomeResult() {
  InferResult result;
  ArchPlan& plan = result.plan;
  plan.encoder_width_index = 1;
  plan.encoder_width = 1.0;
  plan.macs = 1.5e6;
  plan.budget_macs = 2e6;
  TaskPlan semseg;
  semseg.task = 0;
  semseg.name = "semseg";
  semseg.decoder_width_index = 2;
  TaskPlan depth;
  depth.task = 1;
  depth.name = "depth";
  depth.decoder_width_index = 0;
  plan.tasks = {semseg, depth};
  result.timings.queue = absl::Milliseconds(3);
  result.timings.compute = absl::Milliseconds(7);
  return result;
}

TEST(MetricsTest, CreateValidatesOptions) {
  Metrics::Options options;
  EXPECT_EQ(Metrics::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.grpc_version = "1.51.1";
  options.version = "";
  EXPECT_THAT(std::string(Metrics::Create(options).status().message()),
              HasSubstr("version"));
}

TEST(MetricsTest, EverySeriesExistsAtZeroBeforeTraffic) {
  std::shared_ptr<Metrics> metrics = NewMetrics();
  const std::string text = Text(*metrics);
  EXPECT_THAT(text, HasSubstr("# TYPE slimserve_requests_total counter"));
  EXPECT_THAT(
      Sample(text, R"(slimserve_requests_total{code="OK",rpc="Infer"})"),
      Optional(0.0));
  EXPECT_THAT(
      Sample(
          text,
          R"(slimserve_requests_total{code="UNAUTHENTICATED",rpc="GetModelInfo"})"),
      Optional(0.0));
  EXPECT_THAT(
      Sample(text, R"(slimserve_request_duration_seconds_count{rpc="Plan"})"),
      Optional(0.0));
  EXPECT_THAT(
      Sample(text, R"(slimserve_rejected_requests_total{reason="overloaded"})"),
      Optional(0.0));
  EXPECT_THAT(
      Sample(text, R"(slimserve_degraded_requests_total{reason="deadline"})"),
      Optional(0.0));
  EXPECT_THAT(Sample(text, "slimserve_queue_depth"), Optional(0.0));
  EXPECT_THAT(Sample(text, "slimserve_inflight_requests"), Optional(0.0));
  EXPECT_THAT(Sample(text, "slimserve_serving"), Optional(0.0));
  EXPECT_THAT(
      Sample(text,
             R"(slimserve_build_info{grpc_version="1.51.1",version="0.1.0"})"),
      Optional(1.0));
  // Model-dependent series wait for the model.
  EXPECT_THAT(text, Not(HasSubstr("slimserve_plans_total")));
  EXPECT_THAT(text, Not(HasSubstr("slimserve_model_info")));
}

TEST(MetricsTest, SetModelAddsWidthAndTaskSeries) {
  std::shared_ptr<Metrics> metrics = NewMetrics();
  ASSERT_TRUE(metrics->SetModel(TwoTaskModel()).ok());
  const std::string text = Text(*metrics);
  EXPECT_THAT(
      Sample(
          text,
          R"(slimserve_model_info{name="tiny",tasks="semseg,depth",version="3"})"),
      Optional(1.0));
  EXPECT_THAT(Sample(text, R"(slimserve_plans_total{encoder_width="0.5"})"),
              Optional(0.0));
  EXPECT_THAT(Sample(text, R"(slimserve_plans_total{encoder_width="1"})"),
              Optional(0.0));
  EXPECT_THAT(
      Sample(
          text,
          R"(slimserve_decoder_plans_total{decoder_width="0.25",task="depth"})"),
      Optional(0.0));
  EXPECT_THAT(
      Sample(text, R"(slimserve_batch_size_count{encoder_width="0.5"})"),
      Optional(0.0));

  EXPECT_EQ(metrics->SetModel(TwoTaskModel()).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(MetricsTest, SetModelValidates) {
  std::shared_ptr<Metrics> metrics = NewMetrics();
  ModelLabels model = TwoTaskModel();
  model.encoder_widths.clear();
  EXPECT_EQ(metrics->SetModel(model).code(),
            absl::StatusCode::kInvalidArgument);
  model = TwoTaskModel();
  model.tasks.push_back("");
  EXPECT_EQ(metrics->SetModel(model).code(),
            absl::StatusCode::kInvalidArgument);
  // Neither took: a valid model still can be set.
  EXPECT_TRUE(metrics->SetModel(TwoTaskModel()).ok());
}

TEST(MetricsTest, RecordsInferResult) {
  std::shared_ptr<Metrics> metrics = NewMetrics();
  ASSERT_TRUE(metrics->SetModel(TwoTaskModel()).ok());
  InferResult result = SomeResult();
  metrics->RecordInferResult(result);
  result.plan.degraded = true;
  metrics->RecordInferResult(result);
  metrics->RecordBatch(result.plan.encoder_width_index, 1);

  const std::string text = Text(*metrics);
  EXPECT_THAT(Sample(text, R"(slimserve_plans_total{encoder_width="1"})"),
              Optional(2.0));
  EXPECT_THAT(Sample(text, R"(slimserve_plans_total{encoder_width="0.5"})"),
              Optional(0.0));
  EXPECT_THAT(
      Sample(
          text,
          R"(slimserve_decoder_plans_total{decoder_width="1",task="semseg"})"),
      Optional(2.0));
  EXPECT_THAT(
      Sample(
          text,
          R"(slimserve_decoder_plans_total{decoder_width="0.25",task="depth"})"),
      Optional(2.0));
  EXPECT_THAT(
      Sample(
          text,
          R"(slimserve_decoder_plans_total{decoder_width="1",task="depth"})"),
      Optional(0.0));
  // 2 FLOPs per MAC.
  EXPECT_THAT(Sample(text, "slimserve_planned_flops_total"), Optional(6e6));
  EXPECT_THAT(Sample(text, "slimserve_budget_flops_total"), Optional(8e6));
  EXPECT_THAT(
      Sample(text, R"(slimserve_degraded_requests_total{reason="deadline"})"),
      Optional(1.0));
  // 3 ms queue: in le=0.005 but not le=0.002.
  EXPECT_THAT(Sample(text, "slimserve_queue_duration_seconds_count"),
              Optional(2.0));
  EXPECT_THAT(
      Sample(text, R"(slimserve_queue_duration_seconds_bucket{le="0.002"})"),
      Optional(0.0));
  EXPECT_THAT(
      Sample(text, R"(slimserve_queue_duration_seconds_bucket{le="0.005"})"),
      Optional(2.0));
  EXPECT_THAT(Sample(text, "slimserve_queue_duration_seconds_sum"),
              Optional(::testing::DoubleNear(0.006, 1e-9)));
  EXPECT_THAT(
      Sample(text, R"(slimserve_compute_duration_seconds_bucket{le="0.01"})"),
      Optional(2.0));
  EXPECT_THAT(Sample(text, R"(slimserve_batch_size_count{encoder_width="1"})"),
              Optional(1.0));
  EXPECT_THAT(
      Sample(text, R"(slimserve_batch_size_bucket{encoder_width="1",le="1"})"),
      Optional(1.0));
}

TEST(MetricsTest, IgnoresIndicesOutsideTheModel) {
  std::shared_ptr<Metrics> metrics = NewMetrics();
  InferResult result = SomeResult();
  // Before SetModel: only the model-independent series move.
  metrics->RecordInferResult(result);
  metrics->RecordBatch(0, 4);
  ASSERT_TRUE(metrics->SetModel(TwoTaskModel()).ok());
  result.plan.encoder_width_index = 7;
  result.plan.tasks[0].task = 9;
  result.plan.tasks[1].decoder_width_index = -1;
  metrics->RecordInferResult(result);
  metrics->RecordBatch(-1, 4);
  const std::string text = Text(*metrics);
  EXPECT_THAT(Sample(text, "slimserve_queue_duration_seconds_count"),
              Optional(2.0));
  EXPECT_THAT(text,
              Not(HasSubstr("slimserve_plans_total{encoder_width=\"1\"} 1")));
  EXPECT_THAT(
      Sample(text, R"(slimserve_batch_size_count{encoder_width="0.5"})"),
      Optional(0.0));
}

TEST(MetricsTest, CountsRpcsByCodeAndRejectsByReason) {
  std::shared_ptr<Metrics> metrics = NewMetrics();
  metrics->RpcStarted(Rpc::kInfer);
  metrics->RpcStarted(Rpc::kInfer);
  metrics->RpcStarted(Rpc::kPlan);
  EXPECT_THAT(Sample(Text(*metrics), "slimserve_inflight_requests"),
              Optional(3.0));
  metrics->RpcFinished(Rpc::kInfer, absl::StatusCode::kOk,
                       absl::Milliseconds(4));
  metrics->RpcFinished(Rpc::kInfer, absl::StatusCode::kResourceExhausted,
                       absl::Microseconds(100));
  // A Plan call below the cheapest configuration is an answer, not a
  // refused request.
  metrics->RpcFinished(Rpc::kPlan, absl::StatusCode::kOutOfRange,
                       absl::Microseconds(100));

  const std::string text = Text(*metrics);
  EXPECT_THAT(Sample(text, "slimserve_inflight_requests"), Optional(0.0));
  EXPECT_THAT(
      Sample(text, R"(slimserve_requests_total{code="OK",rpc="Infer"})"),
      Optional(1.0));
  EXPECT_THAT(
      Sample(
          text,
          R"(slimserve_requests_total{code="RESOURCE_EXHAUSTED",rpc="Infer"})"),
      Optional(1.0));
  EXPECT_THAT(
      Sample(text,
             R"(slimserve_requests_total{code="OUT_OF_RANGE",rpc="Plan"})"),
      Optional(1.0));
  EXPECT_THAT(
      Sample(text, R"(slimserve_rejected_requests_total{reason="overloaded"})"),
      Optional(1.0));
  EXPECT_THAT(
      Sample(text,
             R"(slimserve_rejected_requests_total{reason="budget_too_small"})"),
      Optional(0.0));
  EXPECT_THAT(
      Sample(text, R"(slimserve_request_duration_seconds_count{rpc="Infer"})"),
      Optional(2.0));
  EXPECT_THAT(
      Sample(
          text,
          R"(slimserve_request_duration_seconds_bucket{rpc="Infer",le="0.0005"})"),
      Optional(1.0));
  EXPECT_THAT(
      Sample(
          text,
          R"(slimserve_request_duration_seconds_bucket{rpc="Infer",le="0.005"})"),
      Optional(2.0));
}

TEST(MetricsTest, RejectReasons) {
  EXPECT_THAT(RejectReasonFor(absl::StatusCode::kResourceExhausted),
              Optional(RejectReason::kOverloaded));
  EXPECT_THAT(RejectReasonFor(absl::StatusCode::kDeadlineExceeded),
              Optional(RejectReason::kDeadline));
  EXPECT_THAT(RejectReasonFor(absl::StatusCode::kOutOfRange),
              Optional(RejectReason::kBudgetTooSmall));
  EXPECT_THAT(RejectReasonFor(absl::StatusCode::kInvalidArgument),
              Optional(RejectReason::kInvalidRequest));
  EXPECT_THAT(RejectReasonFor(absl::StatusCode::kUnimplemented),
              Optional(RejectReason::kUnsupported));
  EXPECT_THAT(RejectReasonFor(absl::StatusCode::kUnavailable),
              Optional(RejectReason::kShuttingDown));
  for (absl::StatusCode code :
       {absl::StatusCode::kOk, absl::StatusCode::kCancelled,
        absl::StatusCode::kInternal, absl::StatusCode::kUnknown}) {
    EXPECT_EQ(RejectReasonFor(code), std::nullopt) << code;
  }
}

TEST(MetricsTest, QueueDepthIsReadAtEachScrape) {
  std::shared_ptr<Metrics> metrics = NewMetrics();
  int depth = 3;
  metrics->SetQueueDepthSource([&depth] { return depth; });
  EXPECT_THAT(Sample(Text(*metrics), "slimserve_queue_depth"), Optional(3.0));
  depth = 5;
  EXPECT_THAT(Sample(Text(*metrics), "slimserve_queue_depth"), Optional(5.0));
  metrics->SetQueueDepthSource(nullptr);
  EXPECT_THAT(Sample(Text(*metrics), "slimserve_queue_depth"), Optional(0.0));
}

TEST(MetricsTest, ServingFollowsSetServing) {
  std::shared_ptr<Metrics> metrics = NewMetrics();
  metrics->SetServing(true);
  EXPECT_THAT(Sample(Text(*metrics), "slimserve_serving"), Optional(1.0));
  metrics->SetServing(false);
  EXPECT_THAT(Sample(Text(*metrics), "slimserve_serving"), Optional(0.0));
}

// Prometheus naming: base units, counters end in _total, and every family
// is a slimserve_ one with a help text.
TEST(MetricsTest, NamesFollowPrometheusConventions) {
  std::shared_ptr<Metrics> metrics = NewMetrics();
  ASSERT_TRUE(metrics->SetModel(TwoTaskModel()).ok());
  const std::regex name("slimserve_[a-z_]+");
  for (const prometheus::MetricFamily& family : metrics->Collect()) {
    EXPECT_TRUE(std::regex_match(family.name, name)) << family.name;
    EXPECT_FALSE(family.help.empty()) << family.name;
    const bool total = absl::EndsWith(family.name, "_total");
    EXPECT_EQ(family.type == prometheus::MetricType::Counter, total)
        << family.name;
    if (family.type == prometheus::MetricType::Histogram &&
        family.name != "slimserve_batch_size") {
      EXPECT_TRUE(absl::EndsWith(family.name, "_seconds")) << family.name;
    }
    EXPECT_THAT(family.name, Not(HasSubstr("milli")));
  }
}

TEST(MetricsTest, LatencyBucketsSpanHalfAMillisecondToTenSeconds) {
  const std::vector<double>& buckets = Metrics::LatencyBuckets();
  ASSERT_FALSE(buckets.empty());
  EXPECT_DOUBLE_EQ(buckets.front(), 0.0005);
  EXPECT_DOUBLE_EQ(buckets.back(), 10);
  for (size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_GT(buckets[i], buckets[i - 1]);
    // Fine enough for a p99 estimate within a factor 2.5.
    EXPECT_LE(buckets[i] / buckets[i - 1], 2.5 + 1e-9);
  }
}

// GET http://127.0.0.1:port/metrics; the whole response, headers included.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
      0) {
    const std::string request =
        absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (write(fd, request.data(), request.size()) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
        response.append(buffer, n);
      }
    }
  }
  close(fd);
  return response;
}

TEST(MetricsExposerTest, ServesTheTextFormatOverHttp) {
  std::shared_ptr<Metrics> metrics = NewMetrics();
  metrics->SetServing(true);
  absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
      StartMetricsExposer("127.0.0.1:0", {metrics});
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const std::vector<int> ports = (*exposer)->GetListeningPorts();
  ASSERT_EQ(ports.size(), 1u);
  ASSERT_GT(ports[0], 0);
  const std::string response = HttpGet(ports[0], "/metrics");
  EXPECT_THAT(response, HasSubstr("200 OK"));
  EXPECT_THAT(response, HasSubstr("\nslimserve_serving 1\n"));

  // The port is taken now.
  EXPECT_EQ(StartMetricsExposer(absl::StrCat("127.0.0.1:", ports[0]), {metrics})
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(StartMetricsExposer("", {metrics}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace slimserve
