#ifndef SLIMSERVE_ENGINE_RUNTIME_EXECUTOR_H_
#define SLIMSERVE_ENGINE_RUNTIME_EXECUTOR_H_

// Runs a batch of requests that may have chosen different sub-architectures.
// Internal to engine/ (includes torch).

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "engine/runtime/inference_net.h"
#include "engine/runtime/model_runner.h"
#include "kernels/preprocess.h"

namespace slimserve {

struct ExecutorItem {
  // [3, H, W] float32 at the spec's input size, normalised.
  torch::Tensor input;
  // Instead of `input` (undefined then), for the CUDA executor only: the
  // decoded image in host memory, resized and normalised on the GPU
  // (kernels/cuda_kernels.h's PreprocessBatchCuda). Borrowed.
  SourceImage image;
  // The configuration to run: encoder width index, and a decoder width
  // index per task (indices into the spec, tasks in model order).
  int encoder_width = 0;
  std::vector<int> tasks;
  std::vector<int> decoder_widths;
  // For the CUDA executor only, per entry of tasks when not empty: finish
  // the head output on the GPU (FinishSpec, engine/runtime/model_runner.h).
  std::vector<FinishSpec> finish;
  // Filled by RunBatch: per entry of tasks, the raw head output [C, h, w]
  // (InferenceNet::DecodeHead: float32, at the head's resolution, before
  // the final upsampling and the activation, which post-processing does);
  // with `finish`, a contiguous CPU tensor holding FinishSamples' bytes
  // (engine/stages/postprocess.h) instead.
  std::vector<torch::Tensor> outputs;
};

// One encoder pass per encoder width present in the batch; each task's
// decoder runs once per decoder width on the sub-batch of rows that chose it
// (gather), together with the other tasks' decoders that run at that width
// on the same rows (DecoderRuns; InferenceNet::DecodeHeads fuses them), and
// rows get back exactly their outputs (scatter). In eval mode
// every row's outputs equal what it would get alone, up to float rounding.
// Outputs are float32 head outputs on the CPU. REQUIRES: called under c10::InferenceMode
// or NoGrad.
void RunBatch(const InferenceNet& net, const std::vector<ExecutorItem*>& items);

// How RunBatch (and the CUDA executor) split a batch. Rows by encoder width;
// also gives each item one empty output slot per task.
std::map<int, std::vector<ExecutorItem*>> ByEncoderWidth(
    const std::vector<ExecutorItem*>& items);
// Within rows of one encoder width: per (task, decoder width), the (row
// index in `rows`, slot in the row's plan) pairs that chose it.
std::map<std::pair<int, int>, std::vector<std::pair<int64_t, int>>>
DecoderGroups(const std::vector<ExecutorItem*>& rows);

// DecoderGroups merged where the rows are the same: one decoder call of
// several tasks (a batch of requests for all tasks at uniform widths is one
// run per decoder width).
struct DecoderRun {
  int decoder_width = 0;
  std::vector<int64_t> rows;  // indices into `rows`, ascending
  std::vector<int> tasks;     // ascending
  // Per task, per entry of `rows`: the slot of that task in the row's plan.
  std::vector<std::vector<int>> slots;
};
std::vector<DecoderRun> DecoderRuns(const std::vector<ExecutorItem*>& rows);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_EXECUTOR_H_
