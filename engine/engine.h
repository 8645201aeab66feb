#ifndef SLIMSERVE_ENGINE_ENGINE_H_
#define SLIMSERVE_ENGINE_ENGINE_H_

// The public interface of the slimserve engine: one multi-task slimmable
// supernet, the planner that picks its widths, and the executor that runs it.
// No gRPC here; server/ converts to and from the wire types.
//
// Thread-safety: every method of Engine may be called from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/cost_model.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

class QualityTable;     // engine/quality_table.h
struct LatencyTable;    // engine/planner.h
struct LatencyProfile;  // engine/latency_model.h

using TaskKind = slimserve::v1::TaskKind;

struct Budget {
  enum class Kind {
    kFraction,      // of the full-width cost of the requested tasks, (0, 1]
    kMflops,        // absolute, > 0
    kMilliseconds,  // latency, > 0 (UNIMPLEMENTED until latency is measured)
  };
  Kind kind = Kind::kFraction;
  double value = 1.0;
};

// Task name -> weight >= 0. Absent or 0: the task is not computed. An empty
// map means every task with weight 1.
using TaskWeights = std::map<std::string, float>;

struct PlanRequest {
  Budget budget;
  TaskWeights task_weights;
};

struct TaskPlan {
  int task = -1;  // index into ModelSpec.tasks
  std::string name;
  float weight = 0;
  int decoder_width_index = -1;
  double decoder_width = 0;
  double macs = 0;  // this task's decoder at the chosen widths
  // Normalised quality the planner predicts for this task at the chosen
  // widths (QualityTable; 1.0 = full width); 0 when planned without a table.
  double predicted_quality = 0;
};

// A sub-architecture: encoder width and a decoder width per active task.
struct Plan {
  int encoder_width_index = -1;
  double encoder_width = 0;
  std::vector<TaskPlan> tasks;  // active tasks, in model order
  double encoder_macs = 0;
  double macs = 0;         // encoder + active decoders
  double budget_macs = 0;  // the budget the plan was chosen under
  double full_macs = 0;    // the requested tasks at full width
  std::string planner;     // name of the planner that chose it
  bool degraded = false;   // narrowed below the budget because of load
  // The planners' objective: sum over tasks of weight * predicted_quality.
  double objective = 0;
  // True when predicted_quality comes from the synthetic default table (the
  // model package has no measured profile yet), not from measurements.
  bool synthetic_quality = false;
  // Predicted time of the forward pass plus per-request overhead at the
  // latency table's batch size, excluding queueing; < 0 when the server has
  // no latency table.
  double predicted_latency_ms = -1;
};

enum class OutputFormat { kRaw, kPng };
enum class DType { kFloat32, kUint8, kUint16 };

struct ImageInput {
  // false: `bytes` is a PNG or JPEG file. true: `bytes` is uint8 HWC pixels
  // of height x width x channels (channels 1, 3 or 4).
  bool raw = false;
  std::string bytes;
  int height = 0;
  int width = 0;
  int channels = 0;
};

struct InferRequest {
  std::string id;  // for logs only
  ImageInput image;
  PlanRequest plan_request;
  // Per-task output format; other tasks use default_output_format.
  std::map<std::string, OutputFormat> output_formats;
  OutputFormat default_output_format = OutputFormat::kRaw;
  // Not run if this passes before compute starts (DEADLINE_EXCEEDED).
  absl::Time deadline = absl::InfiniteFuture();
  // Optional; when it reads true before compute, the request is dropped with
  // CANCELLED. Owned jointly by the caller and the engine.
  std::shared_ptr<const std::atomic<bool>> cancelled;
};

struct TaskOutput {
  std::string task;
  TaskKind kind = slimserve::v1::TASK_KIND_UNSPECIFIED;
  OutputFormat format = OutputFormat::kRaw;
  // kRaw: dtype and little-endian bytes of a CHW tensor of `shape`.
  // kPng: a PNG file; dtype says its sample type (uint8 or uint16).
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // channels, height, width
  std::string data;
};

struct Timings {
  absl::Duration queue;        // submitted -> picked by an executor
  absl::Duration preprocess;   // decode, resize, normalise
  absl::Duration compute;      // forward pass
  absl::Duration postprocess;  // output encoding
};

struct InferResult {
  std::vector<TaskOutput> outputs;  // active tasks, in model order
  Plan plan;
  Timings timings;
  // Requests in the batch this one ran in (sharing its encoder width).
  int batch_size = 1;
  // True for exactly one request of each batch, so per-batch statistics
  // count every batch once.
  bool first_in_batch = true;
};

// Called exactly once per accepted request, on an engine thread. Must not
// block for long: it runs on the executor.
using InferDone = std::function<void(absl::StatusOr<InferResult>)>;

class Engine {
 public:
  struct Options {
    // Model package directory: spec.textproto + weights. Required.
    std::string model_dir;
    // LibTorch intra-op threads; 0 = all cores. (Debian's LibTorch would
    // otherwise use one.)
    int num_threads = 0;
    // Where the network runs: "cpu", "cuda" or "cuda:N". The weights are
    // moved there once; pre/post-processing stays on the CPU. "cuda" needs a
    // CUDA LibTorch (--config=cuda; Debian's is CPU-only): without one,
    // Create fails with FAILED_PRECONDITION.
    std::string device = "cpu";
    // How the executor holds the weights: "folded" (per configuration,
    // contiguous, BatchNorm folded in; more memory) or "sliced" (one set,
    // sliced per call). engine/PERFORMANCE.md measures both.
    std::string weights = "folded";
    // The network's arithmetic: "float32", "bfloat16" (folded only) or
    // "float16" (folded, CUDA only). Outputs are float32 either way.
    std::string precision = "float32";
    // NHWC activations and weights. On Debian's CPU LibTorch this is the
    // layout whose convolutions run in oneDNN (engine/PERFORMANCE.md).
    bool channels_last = true;
    // Threads that run batches on the model.
    int num_executor_threads = 1;
    // Queued requests beyond this are refused with RESOURCE_EXHAUSTED.
    int max_queue_size = 256;
    // Dynamic batching; see engine/batch_policy.h for the semantics and
    // engine/BATCHING.md for tuning. Requests that chose the same encoder
    // width run together, up to max_batch_size, waiting at most
    // max_queue_delay for the batch to fill (less when a deadline needs it).
    int max_batch_size = 8;
    absl::Duration max_queue_delay = absl::Milliseconds(2);
    // Requests without a deadline are scheduled as if due this long after
    // arrival, so no encoder width starves.
    absl::Duration starvation_limit = absl::Milliseconds(200);
    // Largest accepted image, in pixels (decompression-bomb guard).
    int64_t max_image_pixels = 64LL * 1024 * 1024;
    // Run every encoder width once before Create returns, so the first
    // request does not pay for lazy initialisation.
    bool warmup = true;
    // Planning strategy (engine/planner.h): "paper", "exact", "uniform" or
    // "widest-fit". The default is the one with the better controllability
    // on the shipped model (models/default/README.md).
    std::string planner = "paper";
    // Time every configuration at start-up so that millisecond budgets
    // work, deadlines degrade plans before they are missed, and the
    // scheduler predicts the compute of the batches it forms. Off:
    // millisecond budgets are UNIMPLEMENTED and the scheduler learns batch
    // cost from the batches it runs.
    bool measure_latency = true;
    // Median of this many timed runs per entry (after one warm-up run).
    int latency_repetitions = 3;
    // Batch sizes to time every configuration at; the scheduler's linear
    // batch-cost model is fitted to them (engine/latency_model.h). Empty:
    // {1, max_batch_size}. Must start at 1, ascending, each <= 256. Cost:
    // about (1 + repetitions) x the sum of the sizes x one pass of every
    // configuration (0.64 s at batch 1 for the default model on 2 cores).
    std::vector<int> latency_batch_sizes;
    // Optional file caching the measurement per model, device, thread count
    // and batch sizes: read at start-up when it matches, otherwise measured
    // and (re)written. Empty: always measure, never write.
    std::string latency_cache;
  };

  // Loads and checks the model package; starts the executor threads. Errors
  // name the file and field that is wrong.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const Options& options);

  // Shutdown() and join.
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const slimserve::v1::ModelSpec& spec() const;
  const CostTable& costs() const;
  // Normalised quality per (task, encoder width, decoder width): measured
  // (the package's profile.textproto) or synthetic (quality().synthetic()).
  const QualityTable& quality() const;
  // Measured at start-up (or read from the latency cache) at batch size 1;
  // nullptr when Options::measure_latency is off.
  const LatencyTable* latency() const;
  // Every measured batch size (the first is latency()); nullptr likewise.
  const LatencyProfile* latency_profile() const;
  // What a latency cache must have been measured under to be used: model
  // name, version and weights size, device, threads, batch sizes, and the
  // network's weights/precision/memory format.
  const std::string& latency_key() const;
  const std::string& planner_name() const;

  // The plan a request with these budget and weights gets on an idle server;
  // INVALID_ARGUMENT for bad weights/budget or unknown tasks, OUT_OF_RANGE
  // for a budget below the cheapest configuration (the message gives the
  // smallest budget that would be accepted), UNIMPLEMENTED for millisecond
  // budgets without a latency table. Submit() plans the same way, then
  // degrades the plan when the queue would make it miss its deadline.
  absl::StatusOr<Plan> MakePlan(const PlanRequest& request) const;

  // Checks what can be checked cheaply (tasks, weights, budget, formats, raw
  // image shape) and queues the request. On OK, `done` is called exactly once
  // with the outputs or an error (INVALID_ARGUMENT for an undecodable image,
  // DEADLINE_EXCEEDED, CANCELLED, INTERNAL). On error, `done` is never called.
  // UNAVAILABLE after Shutdown(); RESOURCE_EXHAUSTED when the queue is full
  // or when no configuration can meet the deadline behind the current queue
  // (DEADLINE_EXCEEDED when none could even on an idle server).
  absl::Status Submit(InferRequest request, InferDone done);

  // Stops accepting, lets queued and running requests finish, joins the
  // threads. Idempotent.
  void Shutdown();

  // Requests queued or running now.
  int InFlight() const;

  class Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_ENGINE_H_
