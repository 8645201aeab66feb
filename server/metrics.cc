#include "server/metrics.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "prometheus/client_metric.h"
#include "prometheus/family.h"
#include "prometheus/metric_type.h"

namespace slimserve {
namespace {

constexpr const char* kRpcNames[kNumRpcs] = {
    "Infer",          "Plan",           "GetModelInfo",
    "ModelInfer",     "ModelMetadata",  "ModelReady",
    "ServerMetadata", "ServerReady",    "ServerLive",
    "InferStream",    "HttpInfer",      "HttpPlan",
    "HttpModelInfo",  "ModelStreamInfer", "HttpModelInfer"};
constexpr const char* kRejectReasonNames[kNumRejectReasons] = {
    "overloaded",      "deadline",    "budget_too_small",
    "invalid_request", "unsupported", "shutting_down"};
constexpr const char* kDegradeReasonNames[kNumDegradeReasons] = {"deadline",
                                                                 "load"};
// absl::StatusCode values 0 (OK) .. 16 (UNAUTHENTICATED): the canonical
// codes, which gRPC shares with the same names.
constexpr int kNumCodes = 17;

// "0.25", "0.5", "1": the same text the dashboards show.
std::string WidthLabel(double width) { return absl::StrCat(width); }

int CodeIndex(absl::StatusCode code) {
  const int index = static_cast<int>(code);
  return index >= 0 && index < kNumCodes
             ? index
             : static_cast<int>(absl::StatusCode::kUnknown);
}

// Metric families are created with constant, valid names, so prometheus-cpp
// cannot throw for them; anything else it throws is a bug here, reported as
// INTERNAL by Create/SetModel rather than terminating the process.
template <typename F>
absl::Status CatchAll(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<RejectReason> RejectReasonFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kResourceExhausted:
      return RejectReason::kOverloaded;
    case absl::StatusCode::kDeadlineExceeded:
      return RejectReason::kDeadline;
    case absl::StatusCode::kOutOfRange:
      return RejectReason::kBudgetTooSmall;
    case absl::StatusCode::kInvalidArgument:
      return RejectReason::kInvalidRequest;
    case absl::StatusCode::kUnimplemented:
      return RejectReason::kUnsupported;
    case absl::StatusCode::kUnavailable:
      return RejectReason::kShuttingDown;
    default:
      return std::nullopt;
  }
}

ModelLabels ModelLabelsOf(const ModelInfo& info) {
  ModelLabels labels;
  labels.name = info.name;
  labels.version = info.version;
  for (const TaskInfo& task : info.tasks) labels.tasks.push_back(task.name);
  labels.encoder_widths = info.encoder_widths;
  labels.decoder_widths = info.decoder_widths;
  return labels;
}

const std::vector<double>& Metrics::LatencyBuckets() {
  static const auto* const buckets =
      new std::vector<double>{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                              0.1,    0.2,   0.5,   1,     2,    5,    10};
  return *buckets;
}

const std::vector<double>& Metrics::BatchSizeBuckets() {
  static const auto* const buckets =
      new std::vector<double>{1, 2, 4, 8, 16, 32, 64, 128, 256};
  return *buckets;
}

absl::StatusOr<std::shared_ptr<Metrics>> Metrics::Create(
    const Options& options) {
  if (options.version.empty()) {
    return absl::InvalidArgumentError("Metrics::Options.version: required");
  }
  if (options.grpc_version.empty()) {
    return absl::InvalidArgumentError(
        "Metrics::Options.grpc_version: required");
  }
  std::shared_ptr<Metrics> metrics;
  absl::Status status = CatchAll("Metrics::Create", [&] {
    metrics = std::shared_ptr<Metrics>(new Metrics(options));
  });
  if (!status.ok()) return status;
  return metrics;
}

Metrics::Metrics(const Options& options)
    : registry_(std::make_unique<prometheus::Registry>()) {
  prometheus::Registry& registry = *registry_;

  auto& requests = prometheus::BuildCounter()
                       .Name("slimserve_requests_total")
                       .Help(
                           "Finished RPCs of slimserve.v1.InferenceService and "
                           "KServe v2 (inference.GRPCInferenceService), by RPC "
                           "and gRPC status code.")
                       .Register(registry);
  auto& duration =
      prometheus::BuildHistogram()
          .Name("slimserve_request_duration_seconds")
          .Help("Time from the arrival of an RPC at the service to its reply.")
          .Register(registry);
  for (int rpc = 0; rpc < kNumRpcs; ++rpc) {
    for (int code = 0; code < kNumCodes; ++code) {
      requests_[rpc][code] = &requests.Add(
          {{"rpc", kRpcNames[rpc]},
           {"code",
            absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}});
    }
    request_duration_[rpc] =
        &duration.Add({{"rpc", kRpcNames[rpc]}}, LatencyBuckets());
  }

  queue_duration_ =
      &prometheus::BuildHistogram()
           .Name("slimserve_queue_duration_seconds")
           .Help("Time completed Infer calls waited in the engine's queue.")
           .Register(registry)
           .Add({}, LatencyBuckets());
  compute_duration_ = &prometheus::BuildHistogram()
                           .Name("slimserve_compute_duration_seconds")
                           .Help("Forward-pass time of completed Infer calls.")
                           .Register(registry)
                           .Add({}, LatencyBuckets());
  inflight_ = &prometheus::BuildGauge()
                   .Name("slimserve_inflight_requests")
                   .Help("Calls being handled now: unary RPCs of both protocols and "
                         "frames of streams.")
                   .Register(registry)
                   .Add({});
  active_streams_ = &prometheus::BuildGauge()
                         .Name("slimserve_active_streams")
                         .Help("Open stream calls (InferStream, "
                               "ModelStreamInfer).")
                         .Register(registry)
                         .Add({});
  auto& frames = prometheus::BuildCounter()
                     .Name("slimserve_stream_frames_total")
                     .Help("Answered frames of InferStream calls, by the "
                           "frame's status code.")
                     .Register(registry);
  for (int code = 0; code < kNumCodes; ++code) {
    stream_frames_[code] = &frames.Add(
        {{"code",
          absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}});
  }
  frame_duration_ =
      &prometheus::BuildHistogram()
           .Name("slimserve_stream_frame_duration_seconds")
           .Help("Time from a stream frame's arrival to its response.")
           .Register(registry)
           .Add({}, LatencyBuckets());
  serving_ = &prometheus::BuildGauge()
                  .Name("slimserve_serving")
                  .Help(
                      "1 while the health service reports SERVING (model "
                      "loaded and warmed up, not draining), else 0.")
                  .Register(registry)
                  .Add({});
  planned_flops_ = &prometheus::BuildCounter()
                        .Name("slimserve_planned_flops_total")
                        .Help(
                            "FLOPs (2 per multiply-accumulate) of the plans of "
                            "completed Infer calls.")
                        .Register(registry)
                        .Add({});
  budget_flops_ = &prometheus::BuildCounter()
                       .Name("slimserve_budget_flops_total")
                       .Help(
                           "Budgets, in FLOPs, that the plans of completed "
                           "Infer calls were chosen under.")
                       .Register(registry)
                       .Add({});
  auto& degraded =
      prometheus::BuildCounter()
          .Name("slimserve_degraded_requests_total")
          .Help(
              "Completed Infer calls whose plan was narrowed below what "
              "their budget allowed, by reason.")
          .Register(registry);
  for (int r = 0; r < kNumDegradeReasons; ++r) {
    degraded_[r] = &degraded.Add({{"reason", kDegradeReasonNames[r]}});
  }
  auto& rejected = prometheus::BuildCounter()
                       .Name("slimserve_rejected_requests_total")
                       .Help("Infer calls refused by the server, by reason.")
                       .Register(registry);
  for (int r = 0; r < kNumRejectReasons; ++r) {
    rejected_[r] = &rejected.Add({{"reason", kRejectReasonNames[r]}});
  }
  prometheus::BuildGauge()
      .Name("slimserve_build_info")
      .Help("Always 1; the labels say which build is running.")
      .Register(registry)
      .Add({{"version", options.version},
            {"grpc_version", options.grpc_version}})
      .Set(1);
}

absl::Status Metrics::SetModel(const ModelLabels& model) {
  if (model.encoder_widths.empty() || model.decoder_widths.empty()) {
    return absl::InvalidArgumentError(
        "ModelLabels: encoder_widths and decoder_widths must not be empty");
  }
  for (const std::string& task : model.tasks) {
    if (task.empty()) {
      return absl::InvalidArgumentError("ModelLabels.tasks: empty task name");
    }
  }
  absl::MutexLock lock(&mu_);
  if (model_owner_ != nullptr) {
    return absl::FailedPreconditionError("Metrics: model already set");
  }
  auto series = std::make_unique<ModelSeries>();
  absl::Status status = CatchAll("Metrics::SetModel", [&] {
    prometheus::Registry& registry = *registry_;
    prometheus::BuildGauge()
        .Name("slimserve_model_info")
        .Help("Always 1; the labels name the served model.")
        .Register(registry)
        .Add({{"name", model.name},
              {"version", model.version},
              {"tasks", absl::StrJoin(model.tasks, ",")}})
        .Set(1);
    auto& plans = prometheus::BuildCounter()
                      .Name("slimserve_plans_total")
                      .Help("Plans of completed Infer calls, by encoder width.")
                      .Register(registry);
    auto& batch_size =
        prometheus::BuildHistogram()
            .Name("slimserve_batch_size")
            .Help("Requests per executed batch, by encoder width.")
            .Register(registry);
    for (double width : model.encoder_widths) {
      const std::string label = WidthLabel(width);
      series->plans.push_back(&plans.Add({{"encoder_width", label}}));
      series->batch_size.push_back(
          &batch_size.Add({{"encoder_width", label}}, BatchSizeBuckets()));
    }
    auto& decoder_plans =
        prometheus::BuildCounter()
            .Name("slimserve_decoder_plans_total")
            .Help(
                "Task decoders run by completed Infer calls, by task and "
                "decoder width.")
            .Register(registry);
    for (const std::string& task : model.tasks) {
      std::vector<prometheus::Counter*>& row =
          series->decoder_plans.emplace_back();
      for (double width : model.decoder_widths) {
        row.push_back(&decoder_plans.Add(
            {{"task", task}, {"decoder_width", WidthLabel(width)}}));
      }
    }
  });
  if (!status.ok()) return status;
  model_owner_ = std::move(series);
  model_.store(model_owner_.get(), std::memory_order_release);
  return absl::OkStatus();
}

void Metrics::SetQueueDepthSource(std::function<int()> source) {
  absl::MutexLock lock(&mu_);
  queue_depth_source_ = std::move(source);
}

void Metrics::SetServing(bool serving) { serving_->Set(serving ? 1 : 0); }

bool Metrics::Serving() const { return serving_->Value() > 0; }

void Metrics::RpcStarted(Rpc /*rpc*/) { inflight_->Increment(); }

void Metrics::RpcFinished(Rpc rpc, absl::StatusCode code,
                          absl::Duration latency) {
  const int r = static_cast<int>(rpc);
  inflight_->Decrement();
  requests_[r][CodeIndex(code)]->Increment();
  request_duration_[r]->Observe(absl::ToDoubleSeconds(latency));
  if (rpc == Rpc::kInfer || rpc == Rpc::kModelInfer ||
      rpc == Rpc::kHttpInfer) {
    CountRejection(code);
  }
}

void Metrics::StreamStarted() { active_streams_->Increment(); }

void Metrics::StreamFinished(Rpc rpc, absl::StatusCode code) {
  active_streams_->Decrement();
  requests_[static_cast<int>(rpc)][CodeIndex(code)]->Increment();
}

void Metrics::FrameStarted() { inflight_->Increment(); }

void Metrics::FrameFinished(absl::StatusCode code, absl::Duration latency) {
  inflight_->Decrement();
  stream_frames_[CodeIndex(code)]->Increment();
  frame_duration_->Observe(absl::ToDoubleSeconds(latency));
  CountRejection(code);
}

void Metrics::CountRejection(absl::StatusCode code) {
  if (std::optional<RejectReason> reason = RejectReasonFor(code)) {
    rejected_[static_cast<int>(*reason)]->Increment();
  }
}

void Metrics::RecordAnswer(const InferResult& result) {
  RecordInferResult(result);
  if (result.first_in_batch) {  // each batch counted once
    RecordBatch(result.plan.encoder_width_index, result.batch_size);
  }
}

void Metrics::RecordInferResult(const InferResult& result) {
  const ArchPlan& plan = result.plan;
  queue_duration_->Observe(absl::ToDoubleSeconds(result.timings.queue));
  compute_duration_->Observe(absl::ToDoubleSeconds(result.timings.compute));
  planned_flops_->Increment(2 * plan.macs);
  budget_flops_->Increment(2 * plan.budget_macs);
  if (plan.degraded) {
    // The engine reports only that a plan was degraded; its admission does
    // that for deadlines only. Map finer reasons here once it reports them.
    degraded_[static_cast<int>(DegradeReason::kDeadline)]->Increment();
  }
  const ModelSeries* model = model_.load(std::memory_order_acquire);
  if (model == nullptr) return;
  const int we = plan.encoder_width_index;
  if (we >= 0 && we < static_cast<int>(model->plans.size())) {
    model->plans[we]->Increment();
  }
  for (const TaskPlan& task : plan.tasks) {
    if (task.task < 0 ||
        task.task >= static_cast<int>(model->decoder_plans.size())) {
      continue;
    }
    const std::vector<prometheus::Counter*>& row =
        model->decoder_plans[task.task];
    if (task.decoder_width_index >= 0 &&
        task.decoder_width_index < static_cast<int>(row.size())) {
      row[task.decoder_width_index]->Increment();
    }
  }
}

void Metrics::RecordBatch(int encoder_width_index, int batch_size) {
  const ModelSeries* model = model_.load(std::memory_order_acquire);
  if (model == nullptr || encoder_width_index < 0 ||
      encoder_width_index >= static_cast<int>(model->batch_size.size())) {
    return;
  }
  model->batch_size[encoder_width_index]->Observe(batch_size);
}

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  // Read at scrape time rather than kept in a Gauge: an idle engine gets no
  // calls that would refresh it.
  prometheus::MetricFamily depth;
  depth.name = "slimserve_queue_depth";
  depth.help = "Requests queued or running in the engine.";
  depth.type = prometheus::MetricType::Gauge;
  depth.metric.emplace_back();
  {
    absl::MutexLock lock(&mu_);
    if (queue_depth_source_) {
      depth.metric.back().gauge.value = queue_depth_source_();
    }
  }
  families.push_back(std::move(depth));
  return families;
}

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(
    const std::string& address,
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables) {
  if (address.empty()) {
    return absl::InvalidArgumentError("metrics address: required");
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // Two threads: a scrape in progress does not delay the next one.
    exposer = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    // civetweb throws when it cannot bind.
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  for (const std::shared_ptr<prometheus::Collectable>& collectable :
       collectables) {
    exposer->RegisterCollectable(collectable);
  }
  return exposer;
}

}  // namespace slimserve
