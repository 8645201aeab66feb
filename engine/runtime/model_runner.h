#ifndef SLIMSERVE_ENGINE_RUNTIME_MODEL_RUNNER_H_
#define SLIMSERVE_ENGINE_RUNTIME_MODEL_RUNNER_H_

// The seam between the engine and the network: what the executor asks of a
// model, with no LibTorch in sight. TorchModelRunner (torch_runner.h) is the
// real one; FakeModelRunner (fake_model_runner.h) stands in for it in tests
// of scheduling, deadlines and shutdown.
//
// Errors: a runner never throws. Every failure is a Status (INTERNAL for a
// failed execution), and a failed Run fails only the rows it was given.
//
// Thread-safety: every method may be called from any thread, concurrently
// (the executor may run several batches at once).

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/latency_table.h"
#include "kernels/preprocess.h"

namespace slimserve {

// One task's raw head output for one request: float32 CHW on the host,
// contiguous, at the head's resolution (which may be below the model's
// input size), before the final upsampling and the task's activation:
// post-processing does both, at the size the request asked for. `data`
// stays valid while `owner` lives.
//
// When the row asked for finished outputs (RunRow::finish), `data` is null
// and `samples` holds `samples_size` bytes instead: the task's output already
// resized, activated and quantised at the requested size, laid out as
// FinishSamples (engine/stages/postprocess.h) writes it; channels, height
// and width are then the output's.
struct OutputTensor {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  const float* data = nullptr;
  const void* samples = nullptr;
  int64_t samples_size = 0;
  std::shared_ptr<const void> owner;
  int64_t numel() const { return channels * height * width; }
};

// What a runner that FinishesOnDevice() makes of one task's head output.
struct FinishSpec {
  bool png = false;  // PNG's samples; else RAW float32, activated
  int height = 0;    // the output size, > 0
  int width = 0;
  // An order, so rows can be grouped by what they ask for.
  bool operator<(const FinishSpec& o) const {
    return std::tie(png, height, width) < std::tie(o.png, o.height, o.width);
  }
};

// One request's part of a batch.
struct RunRow {
  // [3, H, W] float32, normalised, at the model's input size. Borrowed: it
  // outlives Run.
  const float* input = nullptr;
  // Instead of `input` when the runner PreprocessesOnDevice(): the decoded
  // image in host memory (borrowed as `input`), which the runner resizes
  // and normalises with ResizeNormalizeCpu's arithmetic on its device.
  SourceImage image;
  int encoder_width = 0;            // index into the spec's encoder widths
  std::vector<int> tasks;           // task indices, model order
  std::vector<int> decoder_widths;  // decoder width index per entry of tasks
  // Per entry of tasks, only for a runner that FinishesOnDevice(): finish
  // each output on the device (OutputTensor::samples). Empty: head outputs.
  std::vector<FinishSpec> finish;
  // Filled by Run: one head output per entry of `tasks`.
  std::vector<OutputTensor> outputs;
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;

  // Runs `rows` as one batch: one encoder pass per encoder width present,
  // each (task, decoder width) on the sub-batch of rows that chose it. In
  // eval mode every row's outputs equal what it would get alone, within
  // float rounding. On OK every row's `outputs` is filled; on error none is
  // to be read. REQUIRES: rows non-empty; indices valid for the model.
  virtual absl::Status Run(absl::Span<RunRow* const> rows) = 0;

  // Whether Run wants decoded images (RunRow::image) rather than
  // normalised inputs: true where resizing and normalising on the device
  // saves the host that work and uploads a third of the bytes (uint8).
  virtual bool PreprocessesOnDevice() const { return false; }

  // Whether Run can finish outputs (RunRow::finish) on its device: resize,
  // activation and quantisation where the head outputs are, so that only
  // the final samples (a quarter of RAW's bytes for class ids) come back and
  // the host is left the PNG encoding.
  virtual bool FinishesOnDevice() const { return false; }

  // Runs every encoder width once (so the first request does not pay for
  // lazy initialisation).
  virtual absl::Status Warmup() = 0;

  // Times every encoder width and every (task, encoder width, decoder width)
  // at `batch_size`: the median of `repetitions` runs after one warm-up run.
  // fixed_ms is 0. REQUIRES: batch_size >= 1, repetitions >= 1.
  virtual absl::StatusOr<LatencyTable> MeasureLatency(int batch_size,
                                                      int repetitions) = 0;

  // The network's form, e.g. "folded/float32/channels_last".
  virtual std::string Describe() const = 0;
  // The device and what shares it, for the latency cache key: e.g.
  // "cpu:AMD EPYC 7B13 x2 threads=2" or "cuda:0 NVIDIA H200".
  virtual std::string DeviceKey() const = 0;
  // Bytes of the weights the network runs with.
  virtual int64_t weight_bytes() const = 0;
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_MODEL_RUNNER_H_
