#ifndef SLIMSERVE_ENGINE_EXECUTOR_H_
#define SLIMSERVE_ENGINE_EXECUTOR_H_

// Runs a batch of requests that may have chosen different sub-architectures.
// Internal to engine/ (includes torch).

#include <vector>

#include <torch/torch.h>

#include "engine/engine.h"
#include "engine/inference_net.h"

namespace slimserve {

struct ExecutorItem {
  // [3, H, W] float32 at the spec's input size, normalised.
  torch::Tensor input;
  // The configuration to run. Not owned; outlives the call.
  const Plan* plan = nullptr;
  // Filled by RunBatch: one activated [C, H, W] tensor per plan->tasks entry.
  std::vector<torch::Tensor> outputs;
};

// One encoder pass per encoder width present in the batch; each task's
// decoder runs once per decoder width on the sub-batch of rows that chose it
// (gather), and rows get back exactly their outputs (scatter). In eval mode
// every row's outputs equal what it would get alone, up to float rounding.
// Outputs are float32 on the CPU. REQUIRES: called under c10::InferenceMode
// or NoGrad.
void RunBatch(const InferenceNet& net, const std::vector<ExecutorItem*>& items);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_EXECUTOR_H_
