#include "engine/runtime/random_model.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "engine/runtime/supernet.h"
#include "google/protobuf/text_format.h"

namespace slimserve {

absl::Status WriteRandomModelPackage(const slimserve::v1::ModelSpec& spec,
                                     uint64_t seed,
                                     const std::string& model_dir) {
  SLIM_RETURN_IF_ERROR(ValidateModelSpec(spec));
  std::error_code ec;
  std::filesystem::create_directories(model_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat(model_dir, ": cannot create directory: ", ec.message()));
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(spec, &text);
  const std::string spec_path = absl::StrCat(model_dir, "/", kSpecFileName);
  std::ofstream out(spec_path);
  out << "# proto-file: proto/slimserve/v1/model_spec.proto\n"
      << "# proto-message: slimserve.v1.ModelSpec\n"
      << text;
  out.close();
  if (!out) {
    return absl::InternalError(absl::StrCat(spec_path, ": cannot write"));
  }
  Supernet net(spec);
  InitSupernet(net, seed);
  return SaveSupernet(net, WeightsPath(model_dir, spec));
}

}  // namespace slimserve
