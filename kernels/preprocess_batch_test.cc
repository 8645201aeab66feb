// PreprocessBatchCpu against ResizeNormalizeCpu and the dtype/layout rules of
// preprocess.h.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/dtype.h"
#include "kernels/preprocess.h"

namespace slimserve {
namespace {

constexpr float kMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kStd[3] = {0.229f, 0.224f, 0.225f};

struct Image {
  std::vector<uint8_t> pixels;
  int h;
  int w;
  int c;

  SourceImage View() const {
    SourceImage s;
    s.pixels = pixels.data();
    s.height = h;
    s.width = w;
    s.channels = c;
    return s;
  }
};

Image RandomImage(std::mt19937& rng, int h, int w, int c) {
  Image image{std::vector<uint8_t>(static_cast<size_t>(h) * w * c), h, w, c};
  for (uint8_t& p : image.pixels) p = static_cast<uint8_t>(rng() & 0xFF);
  return image;
}

PreprocessParams Params(int h, int w, TensorLayout layout, ScalarType dtype) {
  PreprocessParams p;
  p.dst_h = h;
  p.dst_w = w;
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = kMean[c];
    p.std[c] = kStd[c];
  }
  p.layout = layout;
  p.dtype = dtype;
  return p;
}

// Runs PreprocessBatchCpu into a buffer pre-filled with 0xFF bytes (NaN for
// every dtype), so unwritten elements show.
std::vector<uint8_t> RunBatch(const std::vector<Image>& images,
                              const PreprocessParams& params) {
  std::vector<SourceImage> views;
  for (const Image& image : images) views.push_back(image.View());
  const size_t count = images.size() * 3 * params.dst_h * params.dst_w;
  std::vector<uint8_t> out(count * ScalarSize(params.dtype) + 16, 0xFF);
  PreprocessBatchCpu(views.data(), static_cast<int>(views.size()), params,
                     out.data());
  // The 16 guard bytes past the end stay untouched.
  for (size_t i = count * ScalarSize(params.dtype); i < out.size(); ++i) {
    EXPECT_EQ(out[i], 0xFF) << "wrote past the end at byte " << i;
  }
  out.resize(count * ScalarSize(params.dtype));
  return out;
}

std::vector<float> AsFloats(const std::vector<uint8_t>& bytes) {
  std::vector<float> f(bytes.size() / 4);
  std::memcpy(f.data(), bytes.data(), bytes.size());
  return f;
}

std::vector<uint16_t> AsU16(const std::vector<uint8_t>& bytes) {
  std::vector<uint16_t> h(bytes.size() / 2);
  std::memcpy(h.data(), bytes.data(), bytes.size());
  return h;
}

std::vector<float> Reference(const Image& image, int h, int w) {
  std::vector<float> out(3 * h * w);
  ResizeNormalizeCpu(image.pixels.data(), image.h, image.w, image.c, h, w,
                     kMean, kStd, out.data());
  return out;
}

// Up, down, non-integer and mixed scales, 1-pixel images and outputs.
const int kSizes[][4] = {
    {7, 5, 7, 5}, {2, 3, 9, 11}, {40, 30, 12, 8},    {13, 17, 6, 10},
    {1, 1, 4, 3}, {5, 9, 1, 1},  {96, 128, 96, 128}, {31, 3, 8, 64},
};

TEST(PreprocessBatchCpuTest, OneImageFloatNchwIsResizeNormalizeBitForBit) {
  std::mt19937 rng(1);
  for (const auto& s : kSizes) {
    for (int c : {1, 3, 4}) {
      const Image image = RandomImage(rng, s[0], s[1], c);
      const std::vector<float> got =
          AsFloats(RunBatch({image}, Params(s[2], s[3], TensorLayout::kNCHW,
                                            ScalarType::kFloat32)));
      const std::vector<float> want = Reference(image, s[2], s[3]);
      ASSERT_EQ(got.size(), want.size());
      // memcmp: bitwise, so -0 vs 0 or a NaN would fail too.
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0)
          << s[0] << "x" << s[1] << "x" << c << " -> " << s[2] << "x" << s[3];
    }
  }
}

TEST(PreprocessBatchCpuTest, BatchOfDifferentSizesIsImagesBackToBack) {
  std::mt19937 rng(2);
  std::vector<Image> images;
  images.push_back(RandomImage(rng, 20, 30, 3));
  images.push_back(RandomImage(rng, 5, 4, 1));
  images.push_back(RandomImage(rng, 64, 48, 4));
  images.push_back(RandomImage(rng, 12, 16, 3));
  const int h = 12, w = 16;
  const std::vector<float> got = AsFloats(RunBatch(
      images, Params(h, w, TensorLayout::kNCHW, ScalarType::kFloat32)));
  for (size_t i = 0; i < images.size(); ++i) {
    const std::vector<float> want = Reference(images[i], h, w);
    EXPECT_EQ(
        std::memcmp(got.data() + i * 3 * h * w, want.data(), want.size() * 4),
        0)
        << "image " << i;
  }
}

TEST(PreprocessBatchCpuTest, ChannelsLastIsTransposeOfNchw) {
  std::mt19937 rng(3);
  const std::vector<Image> images = {RandomImage(rng, 9, 14, 3),
                                     RandomImage(rng, 30, 7, 1)};
  const int h = 11, w = 6;
  for (ScalarType dtype :
       {ScalarType::kFloat32, ScalarType::kFloat16, ScalarType::kBFloat16}) {
    const std::vector<uint8_t> nchw =
        RunBatch(images, Params(h, w, TensorLayout::kNCHW, dtype));
    const std::vector<uint8_t> nhwc =
        RunBatch(images, Params(h, w, TensorLayout::kNHWC, dtype));
    const int size = ScalarSize(dtype);
    for (int i = 0; i < 2; ++i) {
      for (int c = 0; c < 3; ++c) {
        for (int y = 0; y < h; ++y) {
          for (int x = 0; x < w; ++x) {
            const size_t a = ((i * 3 + c) * h + y) * w + x;
            const size_t b = ((i * h + y) * w + x) * 3 + c;
            ASSERT_EQ(std::memcmp(&nchw[a * size], &nhwc[b * size], size), 0)
                << ScalarTypeName(dtype) << " i=" << i << " c=" << c
                << " y=" << y << " x=" << x;
          }
        }
      }
    }
  }
}

// The gap between the encoding m (a magnitude) and its neighbour on the side
// of v, decoded.
double Gap(uint16_t bits, double v, float (*decode)(uint16_t)) {
  const uint16_t m = bits & 0x7FFF;
  const double mv = decode(m);
  const double mag = std::fabs(v);
  if (mag >= mv) return decode(m + 1) - mv;
  return m == 0 ? decode(1) : mv - decode(m - 1);
}

TEST(PreprocessBatchCpuTest, HalfAndBFloat16AreWithinHalfUlpOfFloat) {
  std::mt19937 rng(4);
  const std::vector<Image> images = {RandomImage(rng, 23, 19, 3),
                                     RandomImage(rng, 8, 40, 4),
                                     RandomImage(rng, 3, 3, 1)};
  const int h = 17, w = 21;
  for (TensorLayout layout : {TensorLayout::kNCHW, TensorLayout::kNHWC}) {
    const std::vector<float> f32 =
        AsFloats(RunBatch(images, Params(h, w, layout, ScalarType::kFloat32)));
    const std::vector<uint16_t> f16 =
        AsU16(RunBatch(images, Params(h, w, layout, ScalarType::kFloat16)));
    const std::vector<uint16_t> bf16 =
        AsU16(RunBatch(images, Params(h, w, layout, ScalarType::kBFloat16)));
    ASSERT_EQ(f16.size(), f32.size());
    ASSERT_EQ(bf16.size(), f32.size());
    for (size_t i = 0; i < f32.size(); ++i) {
      const double v = f32[i];
      ASSERT_TRUE(std::isfinite(v)) << i;
      // The exact contract: the float value rounded to nearest even.
      ASSERT_EQ(f16[i], FloatToHalfBits(f32[i])) << i;
      ASSERT_EQ(bf16[i], FloatToBFloat16Bits(f32[i])) << i;
      // And what that means numerically.
      const double h_err = std::fabs(HalfBitsToFloat(f16[i]) - v);
      ASSERT_LE(h_err, 0.5 * Gap(f16[i], v, HalfBitsToFloat)) << v;
      const double b_err = std::fabs(BFloat16BitsToFloat(bf16[i]) - v);
      ASSERT_LE(b_err, 0.5 * Gap(bf16[i], v, BFloat16BitsToFloat)) << v;
      ASSERT_EQ(std::signbit(HalfBitsToFloat(f16[i])), std::signbit(f32[i]));
    }
  }
}

TEST(PreprocessBatchCpuTest, EmptyBatchWritesNothing) {
  uint8_t guard[8];
  std::memset(guard, 0xAB, sizeof(guard));
  PreprocessBatchCpu(nullptr, 0,
                     Params(4, 4, TensorLayout::kNCHW, ScalarType::kFloat32),
                     guard);
  for (uint8_t b : guard) EXPECT_EQ(b, 0xAB);
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
