// Engine::Create: the engine with the LibTorch runner. Kept apart from the
// wiring (engine.cc) so that the engine builds and is tested without
// LibTorch; binaries link //engine:engine_torch.

#include <memory>

#include "base/cpus.h"
#include "engine/engine.h"
#include "engine/engine_core.h"
#include "engine/runtime/torch_runner.h"

namespace slimserve {

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const Options& options) {
  // Resolved here too, so that the runner gets the intra-op threads the
  // engine will count on (CreateEngine's own resolving then changes nothing).
  const Options resolved = ResolveThreads(options, UsableCpus());
  return CreateEngine(resolved, [&resolved](const ModelPackage& package) {
    return CreateTorchRunner(package.spec, package.weights_path,
                             resolved.network);
  });
}

}  // namespace slimserve
