// Engine::Create: the engine with the LibTorch runner. Kept apart from the
// wiring (engine.cc) so that the engine builds and is tested without
// LibTorch; binaries link //engine:engine_torch.

#include <memory>

#include "engine/engine.h"
#include "engine/engine_core.h"
#include "engine/runtime/torch_runner.h"

namespace slimserve {

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const Options& options) {
  return CreateEngine(options, [&options](const ModelPackage& package) {
    return CreateTorchRunner(package.spec, package.weights_path,
                             options.network);
  });
}

}  // namespace slimserve
