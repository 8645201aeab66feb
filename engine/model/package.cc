#include "engine/model/package.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "base/status_macros.h"
#include "engine/model/spec.h"

namespace slimserve {

absl::StatusOr<ModelPackage> LoadModelPackage(const std::string& dir) {
  SLIM_ASSIGN_OR_RETURN(slimserve::v1::ModelSpec spec, LoadModelSpec(dir));
  SLIM_ASSIGN_OR_RETURN(QualityTable quality,
                        LoadQualityTableOrSynthetic(dir, spec));
  CostTable costs = ComputeCostTable(spec);
  std::string weights_path = WeightsPath(dir, spec);
  std::error_code ec;
  const auto size = std::filesystem::file_size(weights_path, ec);
  return ModelPackage{dir,
                      std::move(spec),
                      std::move(costs),
                      std::move(quality),
                      std::move(weights_path),
                      ec ? int64_t{-1} : static_cast<int64_t>(size)};
}

}  // namespace slimserve
