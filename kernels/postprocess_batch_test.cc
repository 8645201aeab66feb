// The batched post-processing references against the single-map ones and
// against the semantics postprocess.h states.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/dtype.h"
#include "kernels/postprocess.h"

namespace slimserve {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr ScalarType kAllTypes[] = {ScalarType::kFloat32, ScalarType::kFloat16,
                                    ScalarType::kBFloat16};

std::vector<float> RandomFloats(std::mt19937& rng, size_t n, float lo,
                                float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// `values` stored as `type` (bytes), and the floats that storage holds.
struct Typed {
  std::vector<uint8_t> bytes;
  std::vector<float> as_float;
};

Typed Convert(const std::vector<float>& values, ScalarType type) {
  Typed t;
  t.bytes.resize(values.size() * ScalarSize(type));
  t.as_float.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    StoreFromFloat(values[i], type, t.bytes.data(), i);
    t.as_float[i] = LoadAsFloat(t.bytes.data(), type, i);
  }
  return t;
}

TEST(SegmentationArgmaxResizeBatchCpuTest, SameSizeEqualsArgmaxPerMap) {
  std::mt19937 rng(1);
  const int n = 3, classes = 7, h = 9, w = 13;
  const std::vector<float> logits =
      RandomFloats(rng, n * classes * h * w, -5.0f, 5.0f);
  for (ScalarType type : kAllTypes) {
    const Typed in = Convert(logits, type);
    std::vector<uint8_t> got(n * h * w, 99);
    SegmentationArgmaxResizeBatchCpu(in.bytes.data(), type, n, classes, h, w, h,
                                     w, got.data());
    for (int i = 0; i < n; ++i) {
      std::vector<uint8_t> want(h * w, 99);
      SegmentationArgmaxCpu(in.as_float.data() + i * classes * h * w, classes,
                            h, w, want.data());
      EXPECT_EQ(std::vector<uint8_t>(got.begin() + i * h * w,
                                     got.begin() + (i + 1) * h * w),
                want)
          << ScalarTypeName(type) << " map " << i;
    }
  }
}

// 1x2 -> 1x3 samples the source at 0, 0.5 and 1. At 0.5 the first two
// classes interpolate to 0.5 each and the flat third class (0.55) wins: a
// pixel that nearest-neighbour upsampling of the ids would give class 0 or 1.
TEST(SegmentationArgmaxResizeBatchCpuTest, InterpolatesLogitsNotIds) {
  const std::vector<float> logits = {1.0f,  0.0f,  //
                                     0.0f,  1.0f,  //
                                     0.55f, 0.55f};
  std::vector<uint8_t> ids(3, 99);
  SegmentationArgmaxResizeBatchCpu(logits.data(), ScalarType::kFloat32, 1, 3, 1,
                                   2, 1, 3, ids.data());
  EXPECT_EQ(ids, (std::vector<uint8_t>{0, 2, 1}));
}

TEST(SegmentationArgmaxResizeBatchCpuTest, DownscaleAveragesNeighbours) {
  // 1x4 -> 1x2 samples at 0.5 and 2.5 (preprocess.h): pairs are averaged.
  const std::vector<float> logits = {0.0f, 1.0f, 0.0f, 0.0f,  //
                                     0.4f, 0.4f, 0.4f, 0.4f};
  std::vector<uint8_t> ids(2, 99);
  SegmentationArgmaxResizeBatchCpu(logits.data(), ScalarType::kFloat32, 1, 2, 1,
                                   4, 1, 2, ids.data());
  EXPECT_EQ(ids, (std::vector<uint8_t>{0, 1}));  // 0.5 > 0.4; 0 < 0.4
}

TEST(SegmentationArgmaxResizeBatchCpuTest, BatchIndexing) {
  // Two 1x1 maps of 2 classes upscaled to 2x2: every pixel of a map takes
  // that map's winner.
  const std::vector<float> logits = {1.0f, 0.0f,   // map 0: class 0
                                     0.0f, 1.0f};  // map 1: class 1
  std::vector<uint8_t> ids(8, 99);
  SegmentationArgmaxResizeBatchCpu(logits.data(), ScalarType::kFloat32, 2, 2, 1,
                                   1, 2, 2, ids.data());
  EXPECT_EQ(ids, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 1, 1}));
}

// Documented divergence from SegmentationArgmaxCpu: an infinite logit
// poisons every interpolated value it is a sample of, even at weight 0
// (0 * inf = NaN), its own pixel included, and NaN loses the argmax.
TEST(SegmentationArgmaxResizeBatchCpuTest, InfiniteLogitGivesNaN) {
  const std::vector<float> logits = {1.0f, kInf,   // class 0
                                     0.5f, 0.0f};  // class 1
  std::vector<uint8_t> ids(2, 99);
  SegmentationArgmaxResizeBatchCpu(logits.data(), ScalarType::kFloat32, 1, 2, 1,
                                   2, 1, 2, ids.data());
  EXPECT_EQ(ids, (std::vector<uint8_t>{1, 1}));
  std::vector<uint8_t> plain(2, 99);
  SegmentationArgmaxCpu(logits.data(), 2, 1, 2, plain.data());
  EXPECT_EQ(plain, (std::vector<uint8_t>{0, 0}));
}

TEST(SegmentationArgmaxResizeBatchCpuTest, AllNaNGivesClassZero) {
  const std::vector<float> logits(3 * 2 * 2, kNaN);
  std::vector<uint8_t> ids(9, 99);
  SegmentationArgmaxResizeBatchCpu(logits.data(), ScalarType::kFloat32, 1, 3, 2,
                                   2, 3, 3, ids.data());
  EXPECT_EQ(ids, std::vector<uint8_t>(9, 0));
}

TEST(ResizeBilinearBatchCpuTest, SameSizeIsACopyAndHalfPixelCentres) {
  std::mt19937 rng(11);
  const std::vector<float> v = RandomFloats(rng, 2 * 3 * 5 * 7, -4.0f, 4.0f);
  for (ScalarType type : kAllTypes) {
    const Typed t = Convert(v, type);
    std::vector<float> out(v.size());
    ResizeBilinearBatchCpu(t.bytes.data(), type, 2, 3, 5, 7, 5, 7, out.data());
    EXPECT_EQ(out, t.as_float);
  }
  // 1 x 2 -> 1 x 4: samples at x = -0.25 (clamped to 0), 0.25, 0.75, 1.25
  // (clamped to the last): 0, 0.25, 0.75, 1 of the way from a to b.
  const float row[] = {2.0f, 6.0f};
  float up[4];
  ResizeBilinearBatchCpu(row, ScalarType::kFloat32, 1, 1, 1, 2, 1, 4, up);
  EXPECT_FLOAT_EQ(up[0], 2.0f);
  EXPECT_FLOAT_EQ(up[1], 3.0f);
  EXPECT_FLOAT_EQ(up[2], 5.0f);
  EXPECT_FLOAT_EQ(up[3], 6.0f);
}

// The segmentation kernel's argmax of resized logits is the argmax of this
// resize: both sample the same way.
TEST(ResizeBilinearBatchCpuTest, AgreesWithTheSegmentationResize) {
  std::mt19937 rng(12);
  const int n = 2, classes = 5, h = 6, w = 8, oh = 24, ow = 32;
  const std::vector<float> logits =
      RandomFloats(rng, n * classes * h * w, -3.0f, 3.0f);
  std::vector<float> resized(n * classes * oh * ow);
  ResizeBilinearBatchCpu(logits.data(), ScalarType::kFloat32, n, classes, h, w,
                         oh, ow, resized.data());
  std::vector<uint8_t> ids(n * oh * ow), want(n * oh * ow);
  SegmentationArgmaxResizeBatchCpu(logits.data(), ScalarType::kFloat32, n,
                                   classes, h, w, oh, ow, ids.data());
  for (int i = 0; i < n; ++i) {
    SegmentationArgmaxCpu(resized.data() + i * classes * oh * ow, classes, oh,
                          ow, want.data() + i * oh * ow);
  }
  EXPECT_EQ(ids, want);
}

TEST(DepthToMillimetresBatchCpuTest, EqualsSingleMapRule) {
  std::mt19937 rng(2);
  std::vector<float> metres = RandomFloats(rng, 1000, -1.0f, 70.0f);
  const std::vector<float> specials = {0.0f,    -0.0f,   0.0004f, 0.0005f,
                                       65.534f, 65.535f, 1e9f,    kInf,
                                       -kInf,   kNaN,    -0.5f,   1.2345f};
  metres.insert(metres.end(), specials.begin(), specials.end());
  for (ScalarType type : kAllTypes) {
    const Typed in = Convert(metres, type);
    std::vector<uint16_t> got(metres.size(), 7), want(metres.size(), 9);
    DepthToMillimetresBatchCpu(in.bytes.data(), type, metres.size(),
                               got.data());
    DepthToMillimetresCpu(in.as_float.data(), metres.size(), want.data());
    EXPECT_EQ(got, want) << ScalarTypeName(type);
  }
}

std::vector<float> NormalsWithSpecials(std::mt19937& rng, int n, int h, int w) {
  std::vector<float> v = RandomFloats(rng, n * 3 * h * w, -2.0f, 2.0f);
  const int plane = h * w;
  // Pixel 0 of map 0: zero; pixel 1: NaN; pixel 2: huge (norm overflows);
  // pixel 3: tiny (below 1e-12); pixel 4 of the last map: inf.
  for (int c = 0; c < 3; ++c) {
    v[c * plane + 0] = 0.0f;
    v[c * plane + 1] = c == 1 ? kNaN : 0.3f;
    v[c * plane + 2] = 3e19f;
    v[c * plane + 3] = 1e-13f;
    v[(n - 1) * 3 * plane + c * plane + 4] = c == 2 ? -kInf : 0.0f;
  }
  return v;
}

TEST(NormalizeNormalsBatchCpuTest, EqualsSingleMapRule) {
  std::mt19937 rng(3);
  const int n = 2, h = 4, w = 5;
  const std::vector<float> normals = NormalsWithSpecials(rng, n, h, w);
  for (ScalarType type : kAllTypes) {
    const Typed in = Convert(normals, type);
    std::vector<float> got(normals.size(), -7.0f);
    NormalizeNormalsBatchCpu(in.bytes.data(), type, n, h, w, got.data());
    std::vector<float> want = in.as_float;
    for (int i = 0; i < n; ++i) {
      NormalizeNormalsCpu(want.data() + i * 3 * h * w, h, w);
    }
    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0)
        << ScalarTypeName(type);
  }
  // The specials really are invalid pixels (zero vectors).
  std::vector<float> out(normals.size());
  NormalizeNormalsBatchCpu(normals.data(), ScalarType::kFloat32, n, h, w,
                           out.data());
  for (int p = 0; p < 4; ++p) EXPECT_EQ(out[p], 0.0f) << p;
}

TEST(NormalizeNormalsBatchCpuTest, InPlaceForFloat) {
  std::mt19937 rng(4);
  const int n = 2, h = 3, w = 3;
  std::vector<float> normals = NormalsWithSpecials(rng, n, h, w);
  std::vector<float> want(normals.size());
  NormalizeNormalsBatchCpu(normals.data(), ScalarType::kFloat32, n, h, w,
                           want.data());
  NormalizeNormalsBatchCpu(normals.data(), ScalarType::kFloat32, n, h, w,
                           normals.data());
  EXPECT_EQ(std::memcmp(normals.data(), want.data(), want.size() * 4), 0);
}

TEST(NormalsToRgbBatchCpuTest, EqualsSingleMapRule) {
  std::mt19937 rng(5);
  const int n = 3, h = 4, w = 5;
  const std::vector<float> normals = NormalsWithSpecials(rng, n, h, w);
  for (ScalarType type : kAllTypes) {
    const Typed in = Convert(normals, type);
    std::vector<uint8_t> got(n * h * w * 3, 7);
    NormalsToRgbBatchCpu(in.bytes.data(), type, n, h, w, got.data());
    for (int i = 0; i < n; ++i) {
      std::vector<uint8_t> want(h * w * 3, 9);
      NormalsToRgbCpu(in.as_float.data() + i * 3 * h * w, h, w, want.data());
      EXPECT_EQ(std::vector<uint8_t>(got.begin() + i * h * w * 3,
                                     got.begin() + (i + 1) * h * w * 3),
                want)
          << ScalarTypeName(type) << " map " << i;
    }
  }
}

TEST(EdgeLogitThresholdsTest, AreTheSmallestFloatsAtOrAboveTheLogits) {
  const float* t = EdgeLogitThresholds();
  for (int k = 0; k < 255; ++k) {
    const double tau = std::log((k + 0.5) / (254.5 - k));
    EXPECT_GE(static_cast<double>(t[k]), tau) << k;
    EXPECT_LT(static_cast<double>(std::nextafter(t[k], -kInf)), tau) << k;
    if (k > 0) {
      EXPECT_LT(t[k - 1], t[k]) << k;
    }
  }
  EXPECT_EQ(t[127], 0.0f);  // sigmoid(0) * 255 = 127.5 exactly
  EXPECT_EQ(EdgeLogitThresholds(), t) << "one table, computed once";
}

uint8_t EdgeOf(float z) {
  uint8_t out = 99;
  EdgeLogitsToU8Cpu(&z, ScalarType::kFloat32, 1, &out);
  return out;
}

TEST(EdgeLogitsToU8CpuTest, SpecialValues) {
  EXPECT_EQ(EdgeOf(kNaN), 0);
  EXPECT_EQ(EdgeOf(-kInf), 0);
  EXPECT_EQ(EdgeOf(kInf), 255);
  EXPECT_EQ(EdgeOf(0.0f), 128);  // 127.5 rounds half away from zero
  EXPECT_EQ(EdgeOf(-0.0f), 128);
  EXPECT_EQ(EdgeOf(-100.0f), 0);
  EXPECT_EQ(EdgeOf(100.0f), 255);
  // Either side of the 254.5 boundary: logit(254.5 / 255) = ln(509).
  const float t = EdgeLogitThresholds()[254];
  EXPECT_EQ(EdgeOf(t), 255);
  EXPECT_EQ(EdgeOf(std::nextafter(t, -kInf)), 254);
}

// Exactness: equals round-half-up(255 * sigmoid(z)) evaluated in double,
// away from the boundaries (where double itself cannot decide).
TEST(EdgeLogitsToU8CpuTest, MatchesExactSigmoidAndFloatSigmoidWithinOne) {
  std::mt19937 rng(6);
  std::vector<float> logits = RandomFloats(rng, 200000, -8.0f, 8.0f);
  std::vector<uint8_t> got(logits.size());
  EdgeLogitsToU8Cpu(logits.data(), ScalarType::kFloat32, logits.size(),
                    got.data());
  int float_path_differs = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double z = logits[i];
    const double scaled = 255.0 / (1.0 + std::exp(-z));
    const double frac = scaled - std::floor(scaled);
    if (std::fabs(frac - 0.5) > 1e-9) {
      ASSERT_EQ(got[i], static_cast<int>(std::floor(scaled + 0.5)))
          << "z=" << logits[i];
    }
    // The float-sigmoid path (EdgesToU8Cpu) differs by at most 1.
    const float p = 1.0f / (1.0f + std::exp(-logits[i]));
    uint8_t via_prob;
    EdgesToU8Cpu(&p, 1, &via_prob);
    ASSERT_LE(std::abs(static_cast<int>(via_prob) - got[i]), 1) << logits[i];
    if (via_prob != got[i]) ++float_path_differs;
  }
  // ... and only rarely (near a rounding boundary).
  EXPECT_LT(float_path_differs, 200);
}

TEST(EdgeLogitsToU8CpuTest, HalfInputsUseTheirFloatValue) {
  std::mt19937 rng(7);
  const std::vector<float> logits = RandomFloats(rng, 5000, -7.0f, 7.0f);
  for (ScalarType type : kAllTypes) {
    const Typed in = Convert(logits, type);
    std::vector<uint8_t> got(logits.size()), want(logits.size());
    EdgeLogitsToU8Cpu(in.bytes.data(), type, logits.size(), got.data());
    EdgeLogitsToU8Cpu(in.as_float.data(), ScalarType::kFloat32, logits.size(),
                      want.data());
    EXPECT_EQ(got, want) << ScalarTypeName(type);
  }
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
