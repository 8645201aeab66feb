#ifndef SLIMSERVE_ENGINE_RUNTIME_RANDOM_MODEL_H_
#define SLIMSERVE_ENGINE_RUNTIME_RANDOM_MODEL_H_

// Writing model packages (spec + weights). Reading them is the engine's job
// (Engine::Create); the spec alone is handled by model_spec.h.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/model/spec.h"

namespace slimserve {

// Writes `spec` and deterministic random weights (He init, a function of
// `seed` only) to `model_dir`, creating it. Used for the default package until
// trained weights exist, and by tests.
absl::Status WriteRandomModelPackage(const slimserve::v1::ModelSpec& spec,
                                     uint64_t seed,
                                     const std::string& model_dir);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_RANDOM_MODEL_H_
