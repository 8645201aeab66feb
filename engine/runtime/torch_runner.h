#ifndef SLIMSERVE_ENGINE_RUNTIME_TORCH_RUNNER_H_
#define SLIMSERVE_ENGINE_RUNTIME_TORCH_RUNNER_H_

// The ModelRunner that runs the supernet with LibTorch: weights loaded once,
// moved to the device once and held in the chosen form (InferenceNet);
// batches run through the executor (executor.h); latency measured by the
// profiler (latency_profiler.h). No LibTorch in this header: the engine's
// wiring includes it without paying for torch.h.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/runtime/model_runner.h"
#include "engine/types.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

// Loads `weights_path` (every tensor checked against `spec`) onto the
// device. Errors: NOT_FOUND / INVALID_ARGUMENT naming the weights file and
// tensor; INVALID_ARGUMENT naming the option for combinations that cannot
// run (e.g. "precision bfloat16 needs folded weights"); FAILED_PRECONDITION
// for a CUDA device without a CUDA LibTorch or GPU; INTERNAL for anything
// LibTorch throws. REQUIRES: ValidateModelSpec(spec).ok().
absl::StatusOr<std::unique_ptr<ModelRunner>> CreateTorchRunner(
    const slimserve::v1::ModelSpec& spec, const std::string& weights_path,
    const NetworkOptions& options);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_TORCH_RUNNER_H_
