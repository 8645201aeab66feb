#include "engine/model/package.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/model/spec.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace slimserve {
namespace {

std::string WriteSpec(const std::string& name, const v1::ModelSpec& spec) {
  const std::string dir =
      (std::filesystem::path(testing::TempDir()) / name).string();
  std::filesystem::create_directories(dir);
  std::string text;
  google::protobuf::TextFormat::PrintToString(spec, &text);
  std::ofstream(dir + "/spec.textproto") << text;
  return dir;
}

TEST(LoadModelPackageTest, SpecCostsSyntheticQualityAndWeightsPath) {
  const std::string dir = WriteSpec("package", TinyModelSpec());
  absl::StatusOr<ModelPackage> package = LoadModelPackage(dir);
  ASSERT_TRUE(package.ok()) << package.status();
  EXPECT_EQ(package->spec.name(), "tiny");
  EXPECT_EQ(package->costs.encoder_macs.size(), 4u);
  EXPECT_TRUE(package->quality.synthetic());  // no profile.textproto
  EXPECT_EQ(package->weights_path, dir + "/weights.pt");
  EXPECT_EQ(package->weights_bytes, -1);  // none written
  std::ofstream(dir + "/weights.pt") << "12345";
  EXPECT_EQ(LoadModelPackage(dir)->weights_bytes, 5);
}

TEST(LoadModelPackageTest, ErrorsNameTheFile) {
  absl::StatusOr<ModelPackage> missing = LoadModelPackage("/nonexistent/m");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/m/spec.textproto"),
            std::string::npos);
  const std::string dir = WriteSpec("broken_profile", TinyModelSpec());
  std::ofstream(dir + "/profile.textproto") << "entries { nonsense: 1 }";
  const absl::Status st = LoadModelPackage(dir).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("profile.textproto"), std::string::npos) << st;
}

}  // namespace
}  // namespace slimserve
