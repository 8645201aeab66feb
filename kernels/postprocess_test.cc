#include "kernels/postprocess.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/kernel_math.h"

namespace slimserve {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(SegmentationArgmaxCpuTest, PicksMaximumPerPixel) {
  // 3 classes, 1x2 pixels, CHW.
  const std::vector<float> logits = {0.1f, 5.0f,   //
                                     0.9f, -1.0f,  //
                                     0.5f, 4.9f};
  std::vector<uint8_t> ids(2, 99);
  SegmentationArgmaxCpu(logits.data(), 3, 1, 2, ids.data());
  EXPECT_EQ(ids, (std::vector<uint8_t>{1, 0}));
}

TEST(SegmentationArgmaxCpuTest, TiesGoToLowestClass) {
  const std::vector<float> logits = {1.0f, 0.0f, 2.0f, 2.0f, 2.0f, 2.0f};
  std::vector<uint8_t> ids(2, 99);
  SegmentationArgmaxCpu(logits.data(), 3, 2, 1, ids.data());
  EXPECT_EQ(ids, (std::vector<uint8_t>{1, 1}));
}

TEST(SegmentationArgmaxCpuTest, NaNCountsAsMinusInfinity) {
  // Pixels: NaN first; NaN between; all NaN; NaN tied with -inf.
  const std::vector<float> logits = {kNaN,  1.0f, kNaN, kNaN,   //
                                     -3.0f, kNaN, kNaN, -kInf,  //
                                     -4.0f, 2.0f, kNaN, kNaN};
  std::vector<uint8_t> ids(4, 99);
  SegmentationArgmaxCpu(logits.data(), 3, 2, 2, ids.data());
  EXPECT_EQ(ids, (std::vector<uint8_t>{1, 2, 0, 0}));
}

TEST(SegmentationArgmaxCpuTest, Handles256Classes) {
  std::vector<float> logits(256, 0.0f);
  logits[255] = 1.0f;
  uint8_t id = 0;
  SegmentationArgmaxCpu(logits.data(), 256, 1, 1, &id);
  EXPECT_EQ(id, 255);
}

TEST(DepthToMillimetresCpuTest, RoundsAndSaturates) {
  const std::vector<float> metres = {0.0f,    0.0004f, 0.0006f, 1.2345f,
                                     -0.5f,   -kInf,   kNaN,    65.534f,
                                     65.535f, 65.6f,   1e9f,    kInf};
  std::vector<uint16_t> mm(metres.size(), 1);
  DepthToMillimetresCpu(metres.data(), metres.size(), mm.data());
  EXPECT_EQ(mm, (std::vector<uint16_t>{0, 0, 1, 1235, 0, 0, 0, 65534, 65535,
                                       65535, 65535, 65535}));
}

TEST(NormalsToRgbCpuTest, EncodesUnitVectors) {
  // 1x4 pixels: +x, -y, (0, 3, 4) scaled to (0, 0.6, 0.8), zero.
  const std::vector<float> chw = {1.0f, 0.0f,  0.0f, 0.0f,  //
                                  0.0f, -2.0f, 3.0f, 0.0f,  //
                                  0.0f, 0.0f,  4.0f, 0.0f};
  std::vector<uint8_t> rgb(12, 1);
  NormalsToRgbCpu(chw.data(), 1, 4, rgb.data());
  // (u + 1) * 127.5: 1 -> 255, 0 -> 127.5 -> 128, -1 -> 0,
  // 0.6 -> 204, 0.8 -> 229.5 -> 230.
  EXPECT_EQ(rgb, (std::vector<uint8_t>{255, 128, 128,  //
                                       128, 0, 128,    //
                                       128, 204, 230,  //
                                       128, 128, 128}));
}

TEST(NormalsToRgbCpuTest, InvalidVectorsAreMidGray) {
  const std::vector<float> chw = {1e-13f, kNaN, kInf,  //
                                  0.0f,   0.0f, 0.0f,  //
                                  0.0f,   1.0f, 0.0f};
  std::vector<uint8_t> rgb(9, 1);
  NormalsToRgbCpu(chw.data(), 3, 1, rgb.data());
  EXPECT_EQ(rgb, std::vector<uint8_t>(9, 128));
}

TEST(NormalizeNormalsCpuTest, MakesUnitLength) {
  const int h = 2, w = 3;
  std::vector<float> chw = {1.0f, -2.0f, 3.0f, 0.5f, 1e-3f, 7.0f,   //
                            2.0f, 0.0f,  3.0f, 0.5f, 2e-3f, -1.0f,  //
                            2.0f, 0.0f,  3.0f, 0.5f, 3e-3f, 0.25f};
  NormalizeNormalsCpu(chw.data(), h, w);
  for (int p = 0; p < h * w; ++p) {
    const float x = chw[p], y = chw[h * w + p], z = chw[2 * h * w + p];
    EXPECT_NEAR(std::sqrt(x * x + y * y + z * z), 1.0f, 1e-6f) << p;
  }
  EXPECT_FLOAT_EQ(chw[0], 1.0f / 3);
  EXPECT_FLOAT_EQ(chw[h * w + 0], 2.0f / 3);
  EXPECT_FLOAT_EQ(chw[1], -1.0f);
}

TEST(NormalizeNormalsCpuTest, InvalidVectorsBecomeZero) {
  std::vector<float> chw = {0.0f, 1e-13f, kNaN,  //
                            0.0f, 0.0f,   1.0f,  //
                            0.0f, 0.0f,   1.0f};
  NormalizeNormalsCpu(chw.data(), 1, 3);
  EXPECT_EQ(chw, std::vector<float>(9, 0.0f));
}

TEST(NormalizeNormalsCpuTest, AgreesWithNormalsToRgb) {
  const std::vector<float> chw = {0.3f,  -5.0f, 0.0f, kNaN,  //
                                  0.1f,  2.0f,  0.0f, 1.0f,  //
                                  -0.7f, 0.5f,  0.0f, 1.0f};
  std::vector<uint8_t> direct(12);
  NormalsToRgbCpu(chw.data(), 2, 2, direct.data());
  std::vector<float> unit = chw;
  NormalizeNormalsCpu(unit.data(), 2, 2);
  for (int p = 0; p < 4; ++p) {
    for (int c = 0; c < 3; ++c) {
      const float u = unit[c * 4 + p];
      EXPECT_EQ(direct[p * 3 + c], std::round((u + 1.0f) * 127.5f)) << p;
    }
  }
}

TEST(EdgesToU8CpuTest, ClampsAndRounds) {
  const std::vector<float> prob = {0.0f,  1.0f, 0.5f, 1.0f / 255, 0.4f / 255,
                                   -0.1f, 1.5f, kNaN, kInf,       -kInf};
  std::vector<uint8_t> out(prob.size(), 7);
  EdgesToU8Cpu(prob.data(), prob.size(), out.data());
  EXPECT_EQ(out, (std::vector<uint8_t>{0, 255, 128, 1, 0, 0, 255, 0, 255, 0}));
}

// kernel_math::Round spelled out (no libm) is C's roundf: halves away from
// zero, the sign of zero kept, integral, huge and non-finite values as they
// are.
TEST(RoundTest, EqualsRoundf) {
  std::vector<float> values = {0.0f,  -0.0f, 0.5f,      -0.5f,     1.5f,
                               2.5f,  -2.5f, 0.49999997f, -0.3f,   8388607.5f,
                               8388608.0f, 1e20f, -1e20f, kInf,   -kInf};
  for (float v = -70000.0f; v <= 70000.0f; v += 0.173f) values.push_back(v);
  for (int k = -1000; k <= 1000; ++k) {
    values.push_back(k + 0.5f);
    values.push_back(std::nextafter(k + 0.5f, 0.0f));
    values.push_back(std::nextafter(k + 0.5f, 1e9f));
  }
  for (const float v : values) {
    const float got = kernel_math::Round(v);
    const float want = std::round(v);
    EXPECT_EQ(got, want) << v;
    EXPECT_EQ(std::signbit(got), std::signbit(want)) << v;
  }
  EXPECT_TRUE(std::isnan(kernel_math::Round(kNaN)));
}

// The fast softplus against double arithmetic: a few float ulp, and
// F::softplus's threshold and special values.
TEST(SoftplusCpuTest, WithinAFewUlpOfExact) {
  std::vector<float> x;
  for (float v = -30.0f; v <= 30.0f; v += 0.0137f) x.push_back(v);
  for (const float v : {-87.0f, -50.0f, -1e-8f, 0.0f, 1e-8f, 19.999f, 20.0f,
                        20.001f, 1e6f}) {
    x.push_back(v);
  }
  std::vector<float> y = x;
  SoftplusCpu(y.data(), static_cast<int64_t>(y.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double want = v > 20.0 ? v : std::log1p(std::exp(v));
    EXPECT_LE(std::fabs(y[i] - want), 4e-7 * want + 1e-38) << "x = " << v;
  }
  std::vector<float> special = {kNaN, -kInf, kInf, -200.0f};
  SoftplusCpu(special.data(), 4);
  EXPECT_TRUE(std::isnan(special[0]));
  EXPECT_GE(special[1], 0.0f);
  EXPECT_LE(special[1], 2e-38f);
  EXPECT_EQ(special[2], kInf);
  EXPECT_LE(special[3], 2e-38f);
}

TEST(SigmoidCpuTest, WithinAFewUlpOfExact) {
  std::vector<float> x;
  for (float v = -90.0f; v <= 90.0f; v += 0.0219f) x.push_back(v);
  std::vector<float> y = x;
  SigmoidCpu(y.data(), static_cast<int64_t>(y.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
    EXPECT_LE(std::fabs(y[i] - want), 4e-7 * want + 1e-38) << "x = " << x[i];
  }
  std::vector<float> special = {kNaN, -kInf, kInf};
  SigmoidCpu(special.data(), 3);
  EXPECT_TRUE(std::isnan(special[0]));
  EXPECT_LE(special[1], 1e-37f);
  EXPECT_EQ(special[2], 1.0f);
}

// EdgeLogitsToU8Cpu guesses from a fast sigmoid and then steps to the
// exact count; at every threshold, its float neighbours and in between it
// is the count of thresholds <= z, counted here one by one.
TEST(EdgeLogitsToU8CpuTest, IsTheExactCountEverywhere) {
  const float* t = EdgeLogitThresholds();
  std::vector<float> z = {-1e30f, -200.0f, 0.0f, 200.0f, 1e30f};
  for (int k = 0; k < 255; ++k) {
    z.push_back(t[k]);
    z.push_back(std::nextafter(t[k], -kInf));
    z.push_back(std::nextafter(t[k], kInf));
  }
  for (float v = -8.0f; v <= 8.0f; v += 0.0011f) z.push_back(v);
  std::vector<uint8_t> got(z.size());
  EdgeLogitsToU8Cpu(z.data(), ScalarType::kFloat32,
                    static_cast<int64_t>(z.size()), got.data());
  for (size_t i = 0; i < z.size(); ++i) {
    int count = 0;
    for (int k = 0; k < 255; ++k) count += t[k] <= z[i] ? 1 : 0;
    EXPECT_EQ(got[i], count) << "z = " << z[i];
  }
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
