#include "engine/types.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace slimserve {
namespace {

TEST(ParseDeviceTest, CpuCudaAndCudaN) {
  EXPECT_EQ(ParseDevice("cpu")->kind, Device::Kind::kCpu);
  EXPECT_EQ(ParseDevice("cuda")->kind, Device::Kind::kCuda);
  EXPECT_EQ(ParseDevice("cuda")->index, -1);
  EXPECT_EQ(ParseDevice("cuda:1")->index, 1);
  for (const char* bad : {"gpu0", "cuda:", "cuda:-1", "cuda:x", "CPU", ""}) {
    const absl::Status st = ParseDevice(bad).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find("is not a device"), std::string::npos) << st;
  }
  for (const char* name : {"cpu", "cuda", "cuda:3"}) {
    EXPECT_EQ(DeviceName(*ParseDevice(name)), name);
  }
}

TEST(ParseEnumsTest, NamesRoundTripAndErrorsListTheChoices) {
  for (WeightsForm w : {WeightsForm::kFolded, WeightsForm::kSliced}) {
    EXPECT_EQ(*ParseWeightsForm(WeightsFormName(w)), w);
  }
  for (Precision p :
       {Precision::kFloat32, Precision::kBFloat16, Precision::kFloat16}) {
    EXPECT_EQ(*ParsePrecision(PrecisionName(p)), p);
  }
  for (PlannerKind k :
       {PlannerKind::kPaper, PlannerKind::kExact, PlannerKind::kNormalized,
        PlannerKind::kPaperNormalized, PlannerKind::kUniform,
        PlannerKind::kSharedDecoder, PlannerKind::kWidestFit}) {
    EXPECT_EQ(*ParsePlannerKind(PlannerKindName(k)), k);
  }
  EXPECT_EQ(PlannerKindName(PlannerKind::kWidestFit), "widest-fit");
  EXPECT_EQ(ParseWeightsForm("packed").status().message(),
            "weights: \"packed\" is not one of folded, sliced");
  EXPECT_EQ(ParsePrecision("fp8").status().message(),
            "precision: \"fp8\" is not one of float32, bfloat16, float16");
  EXPECT_NE(ParsePlannerKind("oracle").status().message().find(
                "exact, normalized, paper, paper-normalized, shared-decoder, uniform, "
                "widest-fit"),
            std::string::npos);
  // Operator text is bounded and escaped in messages.
  EXPECT_LT(ParsePlannerKind(std::string(10000, 'x')).status().message().size(),
            200u);
}

TEST(AbslFlagTest, ParseAndUnparse) {
  std::string error;
  Device device;
  EXPECT_TRUE(AbslParseFlag("cuda:2", &device, &error));
  EXPECT_EQ(AbslUnparseFlag(device), "cuda:2");
  PlannerKind planner = PlannerKind::kPaper;
  EXPECT_FALSE(AbslParseFlag("oracle", &planner, &error));
  EXPECT_NE(error.find("oracle"), std::string::npos);
  EXPECT_EQ(planner, PlannerKind::kPaper);  // left alone
  EXPECT_EQ(AbslUnparseFlag(Precision::kBFloat16), "bfloat16");
}

TEST(ParseBatchSizesTest, IntegersOrTheFlagAndValueNamed) {
  absl::StatusOr<std::vector<int>> sizes = ParseBatchSizes({"1", "8"}, "x");
  ASSERT_TRUE(sizes.ok()) << sizes.status();
  EXPECT_EQ(*sizes, (std::vector<int>{1, 8}));
  EXPECT_TRUE(ParseBatchSizes({}, "x")->empty());
  const absl::Status st = ParseBatchSizes({"1", "two"}, "batch_sizes").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "--batch_sizes: \"two\" is not an integer");
}

TEST(UnitsTest, MflopsAreTwiceTheMacs) {
  EXPECT_DOUBLE_EQ(MacsToMflops(1e6), 2.0);
  EXPECT_DOUBLE_EQ(MflopsToMacs(MacsToMflops(12345.0)), 12345.0);
}

}  // namespace
}  // namespace slimserve
