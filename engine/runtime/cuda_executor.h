#ifndef SLIMSERVE_ENGINE_RUNTIME_CUDA_EXECUTOR_H_
#define SLIMSERVE_ENGINE_RUNTIME_CUDA_EXECUTOR_H_

// RunBatch (executor.h) on a CUDA device, without the costs that do not
// shrink with the widths:
//  - Streams: each concurrent batch runs on a lane of its own, one CUDA
//    stream from LibTorch's pool (an executor thread holds one lane for a
//    batch), so batches of different executor threads overlap on the GPU.
//  - Pre-processing on the GPU: rows that bring decoded images
//    (ExecutorItem::image) are uploaded as uint8 and resized and
//    normalised by kernels/cuda_kernels.h's PreprocessBatchCuda, the CPU
//    reference's arithmetic; rows with float32 inputs are uploaded as they
//    are. A batch is one or the other.
//  - Post-processing on the GPU: rows that ask for it (ExecutorItem::finish)
//    get their outputs resized, activated and quantised where the heads
//    are (FinishSamples' arithmetic, kernels/cuda_kernels.h), so that only
//    the final uint8/uint16/float32 samples come back.
//  - Pinned staging: inputs are stacked in page-locked host memory and
//    uploaded asynchronously; head outputs come back the same way. The
//    blocks come from LibTorch's caching host allocator, so they are reused
//    across batches once the outputs that borrow them are released.
//  - CUDA graphs: the encoder is captured per (encoder width, batch size)
//    and each decoder per (task, encoder width, decoder width, sub-batch
//    size), then replayed: one launch instead of ~45 operator launches a
//    pass. Batch sizes pad up to a captured size where the padding is small
//    (PaddedBatchSize); each lane keeps at most `max_graphs` graphs
//    (least recently used dropped, with their memory pools).
//
// Compiled in every build against ATen's CUDA headers (@torch//:cuda_headers)
// so it cannot rot; linked only where LibTorch has CUDA (TORCH_CUDA in
// @torch//:defs.bzl). Internal to engine/runtime (includes torch).
//
// Thread-safety: Run may be called from any number of threads at once.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/latency_table.h"
#include "engine/runtime/executor.h"
#include "engine/runtime/inference_net.h"

namespace slimserve {

struct CudaExecutorOptions {
  // Replay captured graphs; false: eager, on the same lanes and buffers
  // (what the graphs are measured against).
  bool use_graphs = true;
  // Graphs kept per lane.
  int max_graphs = 64;
  // The batch sizes graphs pad up to, ascending.
  std::vector<int> graph_batch_sizes = {1, 2, 4, 8, 16, 32, 64};
  // PaddedBatchSize's bound: at most this fraction of a padded batch is
  // padding rows.
  double max_padding = 0.25;
};

struct CudaExecutorStats {
  int64_t captures = 0;   // graphs captured
  int64_t replays = 0;    // graph launches (encoder and decoder passes)
  int64_t evictions = 0;  // graphs dropped by the LRU bound
  int64_t eager_passes = 0;
  int64_t padded_rows = 0;  // rows run only to fill a graph's batch size
  int64_t lanes = 0;        // streams created
};

class CudaExecutor {
 public:
  // INVALID_ARGUMENT for bad options; FAILED_PRECONDITION when `net` is not
  // on a CUDA device. `net` must outlive the executor.
  static absl::StatusOr<std::unique_ptr<CudaExecutor>> Create(
      const InferenceNet& net, const CudaExecutorOptions& options);
  ~CudaExecutor();

  // RunBatch's contract: inputs on the CPU, float32 head outputs on the
  // CPU (in pinned memory). Returns when the outputs are there. Throws what
  // LibTorch throws (the runner turns it into a Status).
  void Run(const std::vector<ExecutorItem*>& items);

  // The latency table (engine/model/latency_table.h) of what Run executes:
  // every encoder width and every (task, encoder width, decoder width)
  // decoder pass at `batch_size` rows (padded up as Run pads them), as Run
  // runs it (graph replay, or eager with use_graphs false) on one lane,
  // median of `repetitions` after a warm-up (the capture). Inputs are
  // random device tensors: the upload and post-processing are not in it,
  // as in MeasureLatency (latency_profiler.h). Captures replace graphs in
  // one lane's LRU cache. REQUIRES: batch_size, repetitions >= 1.
  LatencyTable MeasureLatency(int batch_size, int repetitions);

  CudaExecutorStats stats() const;

 private:
  class Impl;
  explicit CudaExecutor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_CUDA_EXECUTOR_H_
