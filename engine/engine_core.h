#ifndef SLIMSERVE_ENGINE_ENGINE_CORE_H_
#define SLIMSERVE_ENGINE_ENGINE_CORE_H_

// Building an Engine around any ModelRunner: the wiring of the rooms
// (model, planning, batching, stages, runtime) without LibTorch.
// Engine::Create (engine_torch.cc) passes the LibTorch runner; tests of the
// engine's scheduling, deadlines and shutdown pass a FakeModelRunner
// (engine/runtime/fake_model_runner.h) and a FakeClock (Options::clock).
// Internal to the engine and its tests: the server sees only engine.h.

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/model/package.h"
#include "engine/runtime/model_runner.h"

namespace slimserve {

// Makes the runner for a loaded package.
using RunnerFactory =
    std::function<absl::StatusOr<std::unique_ptr<ModelRunner>>(
        const ModelPackage& package)>;

// INVALID_ARGUMENT naming the option ("Engine::Options.batching.
// max_batch_size: ...") when one is out of range.
absl::Status ValidateEngineOptions(const Engine::Options& options);

// The options with the thread counts left at 0 chosen for a machine of
// `cores` cores (Engine::Options::Batching::num_executor_threads,
// NetworkOptions::num_threads and Stages::num_threads document the rule);
// counts already set stay.
// Pure, and idempotent: resolving twice changes nothing.
Engine::Options ResolveThreads(Engine::Options options, int cores);

// Validates the options, loads the package, makes the runner, warms it up
// and measures it as the options say, and starts the stage pool and the
// scheduler. Errors name the option, file or field.
absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(
    const Engine::Options& options, const RunnerFactory& make_runner);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_ENGINE_CORE_H_
