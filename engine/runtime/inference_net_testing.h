#ifndef SLIMSERVE_ENGINE_RUNTIME_INFERENCE_NET_TESTING_H_
#define SLIMSERVE_ENGINE_RUNTIME_INFERENCE_NET_TESTING_H_

// Helpers shared by inference_net_test (CPU, in CI) and
// inference_net_gpu_test (CUDA, on the GPU machine).

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "engine/runtime/executor.h"
#include "engine/runtime/inference_net.h"
#include "engine/runtime/supernet.h"
#include "engine/types.h"

namespace slimserve {

// A tiny supernet (TinyModelSpec) in eval mode on the CPU whose BatchNorms
// are far from identity (running statistics and affine parameters random
// per configuration), so that folding them in is really exercised. Conv
// biases (heads) random too. Deterministic in `seed`.
Supernet RandomEvalNet(uint64_t seed);

// The supernet's own activated output for one configuration.
torch::Tensor ReferenceOutput(Supernet& net, const torch::Tensor& x, int task,
                              int we, int wd);

// Largest |a - b| relative to b's largest magnitude (on b's device).
double RelativeError(const torch::Tensor& a, const torch::Tensor& b);
// Mean |a - b| relative to b's mean magnitude.
double MeanRelativeError(const torch::Tensor& a, const torch::Tensor& b);

// `n` plans that mix encoder widths (indices 3 and 1), leave some tasks out
// and vary the decoder widths: a batch the executor must gather/scatter.
std::vector<ArchPlan> MixedPlans(const slimserve::v1::ModelSpec& spec, int n);

// Copies the plan's widths into the executor's item.
void SetWidths(const ArchPlan& plan, ExecutorItem* item);

// For every configuration, `net`'s Decode of CPU images `x` against the
// supernet's output (gtest expectations; errors as above).
void ExpectEveryConfigurationMatches(const InferenceNet& net,
                                     Supernet& reference,
                                     const torch::Tensor& x, double tolerance,
                                     double mean_tolerance);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_INFERENCE_NET_TESTING_H_
