#ifndef SLIMSERVE_SERVER_METRICS_H_
#define SLIMSERVE_SERVER_METRICS_H_

// Prometheus metrics of the slimserve server (prometheus-cpp; text format at
// /metrics, see StartMetricsExposer).
//
// Exported (base units; every label value comes from a small fixed set —
// never request ids or other client strings):
//
//   slimserve_requests_total{rpc, code}            counter, every finished RPC
//                                                   (see Rpc)
//   slimserve_request_duration_seconds{rpc}        histogram, arrival -> reply
//   slimserve_queue_duration_seconds               histogram, engine queue
//   slimserve_compute_duration_seconds             histogram, forward pass
//   slimserve_batch_size{encoder_width}            histogram, one per batch
//   slimserve_queue_depth                          gauge, requests queued or
//                                                   running in the engine
//   slimserve_inflight_requests                    gauge, RPCs being handled
//                                                   (a stream's frames, not
//                                                   the stream)
//   slimserve_active_streams                       gauge, open InferStreams
//   slimserve_stream_frames_total{code}            counter, answered frames
//   slimserve_stream_frame_duration_seconds        histogram, frame arrival
//                                                   -> its response
//   slimserve_serving                              gauge, 1 while health says
//                                                   SERVING
//   slimserve_plans_total{encoder_width}           counter, executed plans
//   slimserve_decoder_plans_total{task, decoder_width}
//   slimserve_planned_flops_total                  counter, FLOPs of executed
//                                                   plans (2 FLOPs per MAC)
//   slimserve_budget_flops_total                   counter, the budgets they
//                                                   were planned under
//   slimserve_degraded_requests_total{reason}      counter; reason in
//                                                   DegradeReason
//   slimserve_rejected_requests_total{reason}      counter; reason in
//                                                   RejectReason
//   slimserve_model_info{name, version, tasks}     gauge = 1
//   slimserve_build_info{version, grpc_version}    gauge = 1
//
// Process metrics (process_*) come from ProcessCollector
// (server/process_metrics.h), registered beside this.
//
// Series of every known label combination exist from the start (at 0), so
// rate() and absent() behave from the first scrape on. The model-dependent
// ones (widths, tasks, model_info) appear with SetModel().
//
// Thread-safety: every method may be called from any thread. Record methods
// cost a few atomic increments (histograms take a short lock); they never
// allocate.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/types.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace slimserve {

// slimserve's own version, reported in slimserve_build_info.
inline constexpr char kSlimserveVersion[] = "0.1.0";

// The RPCs of slimserve.v1.InferenceService (label `rpc`: "Infer", "Plan",
// "GetModelInfo") and of KServe v2's inference.GRPCInferenceService
// ("ModelInfer", "ModelMetadata", "ModelReady", "ServerMetadata",
// "ServerReady", "ServerLive"), "InferStream", and the HTTP JSON API's
// "HttpInfer", "HttpPlan", "HttpModelInfo", KServe's stream
// "ModelStreamInfer" and its REST inference "HttpModelInfer" (REST health
// and metadata are not counted). Health and reflection are gRPC's and not counted.
enum class Rpc {
  kInfer = 0,
  kPlan,
  kGetModelInfo,
  kModelInfer,
  kModelMetadata,
  kModelReady,
  kServerMetadata,
  kServerReady,
  kServerLive,
  kInferStream,  // counted when the stream ends; its frames: FrameFinished
  kHttpInfer,    // the try-it page's JSON API (server/http.h)
  kHttpPlan,
  kHttpModelInfo,
  kModelStreamInfer,  // KServe v2's stream, counted like kInferStream
  kHttpModelInfer,    // KServe v2's REST inference (server/kserve_rest.h)
};
inline constexpr int kNumRpcs = 15;

// Why an Infer call was refused (label `reason`). The fixed set of labels.
enum class RejectReason {
  // RESOURCE_EXHAUSTED: "overloaded": the queue is full, or too long for any
  // width to meet the call's deadline behind it.
  kOverloaded = 0,
  // DEADLINE_EXCEEDED: "deadline": it passed before compute, or no width
  // could meet it even on an idle server.
  kDeadline,
  kBudgetTooSmall,  // OUT_OF_RANGE: "budget_too_small"
  kInvalidRequest,  // INVALID_ARGUMENT: "invalid_request"
  kUnsupported,     // UNIMPLEMENTED (millisecond budgets): "unsupported"
  kShuttingDown,    // UNAVAILABLE from the service: "shutting_down"
};
inline constexpr int kNumRejectReasons = 6;

// The reason an Infer call that ended with `code` counts as rejected;
// nullopt for OK and for codes that are not refusals (CANCELLED by the
// client, INTERNAL, ...).
std::optional<RejectReason> RejectReasonFor(absl::StatusCode code);

// Why a plan was narrowed below what its budget allowed (label `reason`).
enum class DegradeReason {
  // "deadline": the planned width would miss the call's deadline behind the
  // queue (the engine's admission; the only reason it degrades today).
  kDeadline = 0,
  // "load": narrowed to drain the queue, deadline or not (reserved for a
  // scheduler that sheds load that way).
  kLoad,
};
inline constexpr int kNumDegradeReasons = 2;

// The served model, as metric labels.
struct ModelLabels {
  std::string name;
  std::string version;
  std::vector<std::string> tasks;      // in model order (TaskPlan::task)
  std::vector<double> encoder_widths;  // ArchPlan::encoder_width_index
  std::vector<double> decoder_widths;  // TaskPlan::decoder_width_index
};

// The labels of a served model.
ModelLabels ModelLabelsOf(const ModelInfo& info);

class Metrics : public prometheus::Collectable {
 public:
  struct Options {
    // slimserve_build_info{version}.
    std::string version = kSlimserveVersion;
    // slimserve_build_info{grpc_version}, e.g. grpc::Version(). Required.
    std::string grpc_version;
  };

  // INVALID_ARGUMENT naming the bad option.
  static absl::StatusOr<std::shared_ptr<Metrics>> Create(
      const Options& options);

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Collectable: every slimserve_* family, read at each scrape.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Adds the model-dependent series (model_info, per-width and per-task
  // counters). Records that need them are dropped before this.
  // FAILED_PRECONDITION if a model was already set; INVALID_ARGUMENT for an
  // empty width list or task name.
  absl::Status SetModel(const ModelLabels& model);

  // slimserve_queue_depth reads `source` at each scrape (it must be cheap and
  // thread-safe); nullptr stops reading (the gauge reads 0). Reset it before
  // whatever `source` reads is destroyed.
  //
  // GPU memory belongs next to this: when the engine runs on CUDA, export
  // slimserve_gpu_memory_used_bytes{device} from an engine accessor read the
  // same way (the allocator is the engine's; server/ must not include CUDA).
  void SetQueueDepthSource(std::function<int()> source);

  // slimserve_serving: 1 while health reports SERVING.
  void SetServing(bool serving);
  // What SetServing set last (false before): readiness for the HTTP
  // endpoints (server/http.h), which have no gRPC health service.
  bool Serving() const;

  // Brackets one RPC: RpcStarted when it arrives, RpcFinished exactly once
  // when its status is sent, with the time since arrival. Failed Infer calls
  // with a refusal code also count in slimserve_rejected_requests_total.
  void RpcStarted(Rpc rpc);
  void RpcFinished(Rpc rpc, absl::StatusCode code, absl::Duration latency);

  // Brackets one stream (InferStream, ModelStreamInfer): StreamStarted when
  // it opens, StreamFinished when its status is sent
  // (slimserve_requests_total{rpc}, slimserve_active_streams). A stream is not an in-flight request; its
  // frames are: FrameStarted / FrameFinished bracket each frame
  // (slimserve_inflight_requests, slimserve_stream_frames_total{code},
  // slimserve_stream_frame_duration_seconds; refusals also in
  // slimserve_rejected_requests_total).
  void StreamStarted();
  void StreamFinished(Rpc rpc, absl::StatusCode code);
  void FrameStarted();
  void FrameFinished(absl::StatusCode code, absl::Duration latency);

  // A completed Infer call: its plan (widths, FLOPs, degrade) and the
  // engine's queue and compute times. Does not count the RPC (RpcFinished
  // does) nor the batch (RecordBatch).
  void RecordInferResult(const InferResult& result);

  // An answered inference (any protocol): RecordInferResult, and
  // RecordBatch once per batch (for the result that is first_in_batch).
  void RecordAnswer(const InferResult& result);

  // One executed batch of `batch_size` requests at encoder width
  // `encoder_width_index`. Call once per batch, not per request, or the
  // histogram weighs batches by their size.
  void RecordBatch(int encoder_width_index, int batch_size);

  // Bucket bounds, exposed for tests and dashboards.
  // Latency: 0.5 ms .. 10 s on a 1-2-5 scale (ratio <= 2.5 between bounds).
  static const std::vector<double>& LatencyBuckets();
  // Batch size: 1, 2, 4, ... 256.
  static const std::vector<double>& BatchSizeBuckets();

 private:
  // The model-dependent series; immutable once published.
  struct ModelSeries {
    std::vector<prometheus::Counter*> plans;         // [encoder width]
    std::vector<prometheus::Histogram*> batch_size;  // [encoder width]
    // [task][decoder width]
    std::vector<std::vector<prometheus::Counter*>> decoder_plans;
  };

  explicit Metrics(const Options& options);

  // slimserve_rejected_requests_total for a refusal code (others: nothing).
  void CountRejection(absl::StatusCode code);

  // Constant after construction. The registry owns every metric; the
  // pointers below point into it.
  const std::unique_ptr<prometheus::Registry> registry_;
  // [rpc][absl::StatusCode 0..16]
  std::array<std::array<prometheus::Counter*, 17>, kNumRpcs> requests_{};
  std::array<prometheus::Histogram*, kNumRpcs> request_duration_{};
  prometheus::Histogram* queue_duration_ = nullptr;
  prometheus::Histogram* compute_duration_ = nullptr;
  prometheus::Gauge* inflight_ = nullptr;
  prometheus::Gauge* active_streams_ = nullptr;
  std::array<prometheus::Counter*, 17> stream_frames_{};  // [code]
  prometheus::Histogram* frame_duration_ = nullptr;
  prometheus::Gauge* serving_ = nullptr;
  prometheus::Counter* planned_flops_ = nullptr;
  prometheus::Counter* budget_flops_ = nullptr;
  std::array<prometheus::Counter*, kNumDegradeReasons> degraded_{};
  std::array<prometheus::Counter*, kNumRejectReasons> rejected_{};

  // Set once by SetModel (release), read by the record methods (acquire);
  // points into model_owner_ and stays valid until destruction.
  std::atomic<const ModelSeries*> model_{nullptr};

  mutable absl::Mutex mu_;
  std::unique_ptr<ModelSeries> model_owner_ ABSL_GUARDED_BY(mu_);
  std::function<int()> queue_depth_source_ ABSL_GUARDED_BY(mu_);
};

// Serves `collectables` in the Prometheus text format at
// http://`address`/metrics ("host:port"; port 0 picks a free one, see
// Exposer::GetListeningPorts). UNAVAILABLE when the address cannot be bound,
// INVALID_ARGUMENT when it is empty.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(
    const std::string& address,
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables);

}  // namespace slimserve

#endif  // SLIMSERVE_SERVER_METRICS_H_
