#ifndef SLIMSERVE_ENGINE_TYPES_H_
#define SLIMSERVE_ENGINE_TYPES_H_

// The engine's vocabulary: plain value types that cross the facade
// (engine/engine.h) and that every room of the engine may use. No behaviour
// beyond parsing and naming; no LibTorch, no gRPC, no internal types.
//
// Field names in error messages are those of the public API
// (proto/slimserve/v1/slimserve.proto), since these types mirror it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

using TaskKind = slimserve::v1::TaskKind;

// ------------------------------------------------------------ requests

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

// Whether `weights` asks for `task` (the rule above; NaN is not > 0).
inline bool TaskRequested(const TaskWeights& weights, const std::string& task) {
  if (weights.empty()) return true;
  const auto it = weights.find(task);
  return it != weights.end() && it->second > 0;
}

struct PlanRequest {
  Budget budget;
  TaskWeights task_weights;
};

enum class OutputFormat { kRaw, kPng };
// kModel: the model's input size; kInput: the request image's size.
enum class OutputSize { kModel, kInput };
enum class DType { kFloat32, kUint8, kUint16 };

struct ImageInput {
  // false: `bytes` is a PNG or JPEG file. true: `bytes` is uint8 HWC pixels
  // of height x width x channels (channels 1, 3 or 4). The dimensions are as
  // wide as the wire's (uint32) so that the engine checks them, not a cast.
  bool raw = false;
  std::string bytes;
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;
};

// Request ids are echoed in responses and written to logs: longer ones are
// refused (ValidateRequestId), so neither can be inflated by a client.
inline constexpr size_t kMaxRequestIdBytes = 256;
// INVALID_ARGUMENT "request_id: N bytes, more than the limit of 256".
absl::Status ValidateRequestId(absl::string_view id);

// The task maps of a request (task_weights, output_formats): a model has a
// few tasks, so bigger maps, or longer names, are mistakes, refused at the
// edge before they are copied or searched.
inline constexpr size_t kMaxTaskEntries = 64;
inline constexpr size_t kMaxTaskNameBytes = 64;
// INVALID_ARGUMENT "task_weights: 100 entries, more than the limit of 64",
// or "task_weights: a task name of 300 bytes, more than the limit of 64",
// for a map of `entries` entries whose longest name has `longest_name`
// bytes; `field` names the map.
absl::Status ValidateTaskMapLimits(absl::string_view field, size_t entries,
                                   size_t longest_name);

struct InferRequest {
  std::string id;  // for logs only; at most kMaxRequestIdBytes
  ImageInput image;
  PlanRequest plan_request;
  // Per-task output format; other tasks use default_output_format. Names
  // must be tasks of the model.
  std::map<std::string, OutputFormat> output_formats;
  OutputFormat default_output_format = OutputFormat::kRaw;
  OutputSize output_size = OutputSize::kModel;
  // Not run if this passes before compute starts (DEADLINE_EXCEEDED).
  absl::Time deadline = absl::InfiniteFuture();
  // Optional; when it reads true before compute, the request is dropped with
  // CANCELLED. Owned jointly by the caller and the engine.
  std::shared_ptr<const std::atomic<bool>> cancelled;
};

// ------------------------------------------------------------ plans

// Costs are counted in multiply-accumulates of the convolutions
// (engine/model/cost_model.h); the API speaks MFLOPs = 2 x MACs / 10^6.
inline double MacsToMflops(double macs) { return 2.0 * macs / 1e6; }
inline double MflopsToMacs(double mflops) { return mflops * 1e6 / 2.0; }

struct TaskPlan {
  int task = -1;  // index into ModelInfo::tasks
  std::string name;
  float weight = 0;
  int decoder_width_index = -1;
  double decoder_width = 0;
  double macs = 0;  // this task's decoder at the chosen widths
  // Normalised quality the planner predicts for this task at the chosen
  // widths (1.0 = full width); 0 when planned without a quality table.
  double predicted_quality = 0;
};

// The sub-architecture a request runs at (encoder width and a decoder width
// per active task) and what the planner predicted for it. (Not "Plan": that
// is the RPC.)
struct ArchPlan {
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
  // Predicted network time at batch size 1, excluding queueing and pre- and
  // post-processing; < 0 when the server has no latency table.
  double predicted_latency_ms = -1;
};

// ------------------------------------------------------------ results

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
  absl::Duration queue;        // waiting: for the pre-processing stage, then
                               // for an executor (not the stages' own work)
  absl::Duration preprocess;   // decode, resize, normalise
  absl::Duration compute;      // the batch's forward pass
  absl::Duration postprocess;  // output encoding
};

struct InferResult {
  std::vector<TaskOutput> outputs;  // active tasks, in model order
  ArchPlan plan;
  Timings timings;
  // Requests in the batch this one ran in (sharing its encoder width).
  int batch_size = 1;
  // True for exactly one request of each batch, so per-batch statistics
  // count every batch once.
  bool first_in_batch = true;
};

// Called exactly once per accepted request, on an engine thread (never the
// submitting thread). Must not block for long: engine threads run it.
using InferDone = std::function<void(absl::StatusOr<InferResult>)>;

// ------------------------------------------------------------ the model

struct TaskInfo {
  std::string name;
  TaskKind kind = slimserve::v1::TASK_KIND_UNSPECIFIED;
  int output_channels = 0;  // of the dense output (RAW tensors)
  std::vector<std::vector<double>> decoder_mflops;  // [encoder w][decoder w]
  // Normalised quality (1.0 = full width), measured or synthetic.
  std::vector<std::vector<double>> quality;  // [encoder w][decoder w]
};

// Network latency measured on the serving device at one batch size.
struct LatencyTableInfo {
  int batch_size = 1;
  std::vector<double> encoder_ms;                            // [we]
  std::vector<std::vector<std::vector<double>>> decoder_ms;  // [t][we][wd]
  // [we][wd]: every task's decoder at wd as one fused pass; empty where
  // the network runs decoders apart (engine/model/latency_table.h).
  std::vector<std::vector<double>> fused_decoder_ms;
};

// What the server tells clients (GetModelInfo) and labels metrics with.
struct ModelInfo {
  std::string name;
  std::string version;
  std::vector<TaskInfo> tasks;  // model order: TaskPlan::task indexes it
  std::vector<double> encoder_widths;
  std::vector<double> decoder_widths;
  int input_height = 0;
  int input_width = 0;
  std::vector<double> encoder_mflops;  // [we]
  double full_mflops = 0;              // every task at full width
  bool quality_measured = false;       // false: the synthetic table
  // Ascending batch sizes, the first at 1; empty without a measurement.
  std::vector<LatencyTableInfo> latency_tables;
  // What a latency cache must have been measured under (model, device,
  // threads, batch sizes, network form); empty without a measurement.
  std::string latency_key;
  std::string planner;
  // The network's form, e.g. "folded/float32/channels_last on cpu".
  std::string network;
};

// ------------------------------------------------------------ options

// Where the network runs.
struct Device {
  enum class Kind { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  int index = -1;  // kCuda: the device number; -1: the current device
};
// "cpu", "cuda" or "cuda:N"; INVALID_ARGUMENT naming the text otherwise.
absl::StatusOr<Device> ParseDevice(absl::string_view text);
std::string DeviceName(const Device& device);

// How the executor holds the weights (engine/runtime/PERFORMANCE.md).
enum class WeightsForm {
  kFolded,  // per configuration, contiguous, BatchNorm folded in
  kSliced,  // the supernet's one set, sliced per call
};
absl::StatusOr<WeightsForm> ParseWeightsForm(absl::string_view text);
absl::string_view WeightsFormName(WeightsForm form);

// The network's arithmetic; outputs are float32 either way.
enum class Precision { kFloat32, kBFloat16, kFloat16 };
absl::StatusOr<Precision> ParsePrecision(absl::string_view text);
absl::string_view PrecisionName(Precision precision);

// How the network runs (engine/runtime; engine/runtime/PERFORMANCE.md
// measures the choices). Engine::Options::network.
struct NetworkOptions {
  // cpu, or cuda[:N] with a CUDA LibTorch (--config=cuda; Debian's is
  // CPU-only: the engine then refuses cuda with FAILED_PRECONDITION). The
  // weights move there once.
  Device device;
  // Folded: per configuration, contiguous, BatchNorm folded in (more
  // memory, faster). Sliced: the supernet's one set of weights.
  WeightsForm weights = WeightsForm::kFolded;
  // bfloat16 needs folded weights; float16 folded weights on CUDA.
  Precision precision = Precision::kFloat32;
  // NHWC activations and weights: on Debian's CPU LibTorch, what sends
  // convolutions to oneDNN.
  bool channels_last = true;
  // Folded float32 channels-last on the CPU: convolution calls of at most
  // this many multiply-accumulates (batch included) run on XNNPACK, which
  // costs ~10 us a call against oneDNN's ~50 us through LibTorch; larger
  // ones on oneDNN, faster there (engine/runtime/PERFORMANCE.md has the
  // measurements that chose 2e6). 0: oneDNN only. >= 0.
  int64_t xnnpack_max_macs = 2000000;
  // Folded weights: the decoders of the tasks a row asks for at one
  // decoder width run as one (FusedDecoder: 6 convolution calls instead of
  // 6 per task; engine/runtime/PERFORMANCE.md measures it). Outputs equal
  // running them apart within float rounding.
  bool fuse_decoders = true;
  // LibTorch intra-op threads (process-wide), shared by the executor
  // threads; 0: the cores divided among them (Engine::Options::Batching::
  // num_executor_threads; on the CPU by default 1 each), all cores for a
  // runner made outside an engine. (Debian's LibTorch would otherwise use
  // one.) >= 0.
  int num_threads = 0;
  // CUDA only (engine/runtime/cuda_executor.h): replay CUDA graphs of the
  // encoder per (encoder width, batch size) and of each decoder per (task,
  // widths, sub-batch size) instead of launching each operator; false:
  // eager on the same streams and pinned buffers.
  bool cuda_graphs = true;
  // CUDA only: graphs kept per stream, least recently used dropped beyond
  // (each holds its activations' memory). >= 1.
  int max_cuda_graphs = 64;
  // CUDA only: the host decodes images and uploads their uint8 pixels; the
  // GPU resizes and normalises them (kernels/cuda_kernels.h). false: the
  // host pre-processes and uploads float32 inputs.
  bool cuda_preprocess = true;
  // CUDA only: outputs are resized, activated and quantised on the GPU and
  // come back as their final samples; the host only encodes PNGs. false:
  // float32 head outputs come back and the host finishes them.
  bool cuda_postprocess = true;
};

// Planning strategies (engine/planning/planner.h has their definitions).
enum class PlannerKind {
  kPaper,
  kExact,
  kNormalized,
  kPaperNormalized,
  kUniform,
  kSharedDecoder,
  kWidestFit
};
absl::StatusOr<PlannerKind> ParsePlannerKind(absl::string_view text);
absl::string_view PlannerKindName(PlannerKind kind);

// Command-line values like "1,2,4,8" split by absl's flags (e.g.
// --latency_batch_sizes) as integers; INVALID_ARGUMENT "--FLAG: "x" is not
// an integer" otherwise. Order and range are checked where they are used.
absl::StatusOr<std::vector<int>> ParseBatchSizes(
    const std::vector<std::string>& values, const std::string& flag);

// absl flags of these types (ABSL_FLAG(slimserve::PlannerKind, ...)).
bool AbslParseFlag(absl::string_view text, Device* out, std::string* error);
std::string AbslUnparseFlag(const Device& value);
bool AbslParseFlag(absl::string_view text, WeightsForm* out,
                   std::string* error);
std::string AbslUnparseFlag(WeightsForm value);
bool AbslParseFlag(absl::string_view text, Precision* out, std::string* error);
std::string AbslUnparseFlag(Precision value);
bool AbslParseFlag(absl::string_view text, PlannerKind* out,
                   std::string* error);
std::string AbslUnparseFlag(PlannerKind value);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_TYPES_H_
