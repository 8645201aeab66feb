#include "kernels/preprocess.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace slimserve {
namespace {

constexpr float kZero[3] = {0.0f, 0.0f, 0.0f};
constexpr float kOne[3] = {1.0f, 1.0f, 1.0f};
constexpr float kImageNetMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kImageNetStd[3] = {0.229f, 0.224f, 0.225f};

std::vector<float> Resize(const std::vector<uint8_t>& src, int src_h, int src_w,
                          int channels, int dst_h, int dst_w,
                          const float* mean = kZero, const float* std = kOne) {
  std::vector<float> dst(3 * dst_h * dst_w, -1.0f);
  ResizeNormalizeCpu(src.data(), src_h, src_w, channels, dst_h, dst_w, mean,
                     std, dst.data());
  return dst;
}

float At(const std::vector<float>& chw, int h, int w, int c, int y, int x) {
  return chw[(c * h + y) * w + x];
}

// A linear image stays linear under bilinear interpolation, so the expected
// values follow from the source coordinates alone. For 2 -> 4 the scale is
// 0.5 and the source coordinates are max(-0.25, 0), 0.25, 0.75, 1.25; the
// last one clamps to the edge sample, so the weights on the second sample are
// 0, 0.25, 0.75, 1.
TEST(ResizeNormalizeCpuTest, Upscale2x2To4x4) {
  // Gray 2x2: p = 0 + 40 x + 80 y.
  const std::vector<uint8_t> src = {0, 40, 80, 120};
  const std::vector<float> dst = Resize(src, 2, 2, 1, 4, 4);
  const float from_x[4] = {0, 10, 30, 40};
  const float from_y[4] = {0, 20, 60, 80};
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 4; ++x) {
        EXPECT_FLOAT_EQ(At(dst, 4, 4, c, y, x), (from_x[x] + from_y[y]) / 255)
            << "c=" << c << " y=" << y << " x=" << x;
      }
    }
  }
}

// Downscaling by 2 samples at 0.5 and 2.5: the mean of sample pairs, with no
// antialiasing over the other samples.
TEST(ResizeNormalizeCpuTest, Downscale1x4To1x2) {
  const std::vector<uint8_t> src = {0, 100, 10, 250};
  const std::vector<float> dst = Resize(src, 1, 4, 1, 1, 2);
  EXPECT_FLOAT_EQ(dst[0], 50.0f / 255);
  EXPECT_FLOAT_EQ(dst[1], 130.0f / 255);
}

// 3 -> 2: scale 1.5, source coordinates 0.25 and 1.75.
TEST(ResizeNormalizeCpuTest, NonIntegerScale) {
  const std::vector<uint8_t> src = {0, 100, 200};
  const std::vector<float> dst = Resize(src, 1, 3, 1, 1, 2);
  EXPECT_FLOAT_EQ(dst[0], 25.0f / 255);
  EXPECT_FLOAT_EQ(dst[1], 175.0f / 255);
}

TEST(ResizeNormalizeCpuTest, OnePixelImageFillsOutput) {
  const std::vector<uint8_t> src = {10, 20, 30};
  const std::vector<float> dst = Resize(src, 1, 1, 3, 3, 2);
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 6; ++i) {
      EXPECT_FLOAT_EQ(dst[c * 6 + i], (10.0f * (c + 1)) / 255) << c << " " << i;
    }
  }
}

TEST(ResizeNormalizeCpuTest, IdentitySizeIsExactlyPerPixelNormalisation) {
  const int h = 3, w = 5;
  std::vector<uint8_t> src(h * w * 3);
  for (size_t i = 0; i < src.size(); ++i) src[i] = (i * 37 + 11) % 256;
  const std::vector<float> dst =
      Resize(src, h, w, 3, h, w, kImageNetMean, kImageNetStd);
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const float v = src[(y * w + x) * 3 + c];
        // Exact equality: the contract, which the CUDA kernel relies on.
        EXPECT_EQ(At(dst, h, w, c, y, x),
                  (v / 255.0f - kImageNetMean[c]) / kImageNetStd[c]);
      }
    }
  }
}

TEST(ResizeNormalizeCpuTest, WritesPlanarRgb) {
  // 1x2 RGB: red then blue.
  const std::vector<uint8_t> src = {255, 0, 0, 0, 0, 255};
  const std::vector<float> dst = Resize(src, 1, 2, 3, 1, 2);
  EXPECT_EQ(dst, (std::vector<float>{1, 0, 0, 0, 0, 1}));
}

TEST(ResizeNormalizeCpuTest, GrayIsReplicatedThenNormalisedPerChannel) {
  const std::vector<uint8_t> gray = {51, 204};
  const std::vector<uint8_t> rgb = {51, 51, 51, 204, 204, 204};
  const std::vector<float> from_gray =
      Resize(gray, 1, 2, 1, 2, 3, kImageNetMean, kImageNetStd);
  EXPECT_EQ(from_gray, Resize(rgb, 1, 2, 3, 2, 3, kImageNetMean, kImageNetStd));
  EXPECT_FLOAT_EQ(At(from_gray, 2, 3, 0, 0, 0), (0.2f - 0.485f) / 0.229f);
  EXPECT_FLOAT_EQ(At(from_gray, 2, 3, 2, 0, 0), (0.2f - 0.406f) / 0.225f);
}

TEST(ResizeNormalizeCpuTest, RgbaIgnoresAlpha) {
  const std::vector<uint8_t> opaque = {1, 2, 3, 255, 4, 5, 6, 255};
  const std::vector<uint8_t> transparent = {1, 2, 3, 0, 4, 5, 6, 7};
  const std::vector<uint8_t> rgb = {1, 2, 3, 4, 5, 6};
  const std::vector<float> expected = Resize(rgb, 2, 1, 3, 3, 2);
  EXPECT_EQ(Resize(opaque, 2, 1, 4, 3, 2), expected);
  EXPECT_EQ(Resize(transparent, 2, 1, 4, 3, 2), expected);
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
