#ifndef SLIMSERVE_ENGINE_MODEL_PACKAGE_H_
#define SLIMSERVE_ENGINE_MODEL_PACKAGE_H_

// A model package is a directory with
//   spec.textproto     slimserve.v1.ModelSpec (spec.h)
//   weights.pt         (or spec.weights_file) the LibTorch archive; read by
//                      the runtime, which checks every tensor against the spec
//   profile.textproto  optional slimserve.v1.ProfileTable: measured quality
//                      (quality_table.h); without it, the synthetic table.
// Loading reads and checks everything but the weights, and names the file
// and field of the first problem.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model/cost_model.h"
#include "engine/model/quality_table.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

struct ModelPackage {
  std::string dir;
  slimserve::v1::ModelSpec spec;  // validated
  CostTable costs;                // ComputeCostTable(spec)
  QualityTable quality;           // measured, or synthetic() when absent
  std::string weights_path;       // WeightsPath(dir, spec); may not exist
  int64_t weights_bytes = -1;     // its size; -1 when it cannot be read
};

// NOT_FOUND naming spec.textproto when it is missing; INVALID_ARGUMENT
// naming the file and field of a broken spec or profile.
absl::StatusOr<ModelPackage> LoadModelPackage(const std::string& dir);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_MODEL_PACKAGE_H_
