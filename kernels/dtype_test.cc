#include "kernels/dtype.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"

namespace slimserve {
namespace {

float FromBits(uint32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof(f));
  return f;
}

uint32_t Bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof(x));
  return x;
}

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(HalfTest, KnownValues) {
  EXPECT_EQ(FloatToHalfBits(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalfBits(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalfBits(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalfBits(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalfBits(0.1f), 0x2E66);  // 0.0999755859375
  EXPECT_EQ(FloatToHalfBits(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToHalfBits(65519.996f), 0x7BFF);
  EXPECT_EQ(FloatToHalfBits(65520.0f), 0x7C00);  // tie: to even = inf
  EXPECT_EQ(FloatToHalfBits(kInf), 0x7C00);
  EXPECT_EQ(FloatToHalfBits(-kInf), 0xFC00);
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -14)), 0x0400);  // min normal
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -24)), 0x0001);  // min subnormal
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -25)), 0x0000);  // tie to even
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(FloatToHalfBits(std::ldexp(3.0f, -25)), 0x0002);  // tie: 1.5 -> 2
  EXPECT_EQ(FloatToHalfBits(std::ldexp(5.0f, -25)), 0x0002);  // tie: 2.5 -> 2
  // 1 + 2^-11 ties between 1 and 1 + 2^-10: to the even 1.
  EXPECT_EQ(FloatToHalfBits(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(FloatToHalfBits(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  // The largest subnormal rounds up into the smallest normal.
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)),
            0x0400);
  const uint16_t nan = FloatToHalfBits(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  EXPECT_EQ(FloatToHalfBits(FromBits(0x7F800001u)) & 0x7E00, 0x7E00)
      << "a signalling NaN becomes quiet, not infinity";
}

TEST(HalfTest, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float f = HalfBitsToFloat(static_cast<uint16_t>(h));
    const bool is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
    if (is_nan) {
      EXPECT_TRUE(std::isnan(f)) << h;
      continue;
    }
    ASSERT_EQ(FloatToHalfBits(f), h) << "half " << h << " as float " << f;
  }
  EXPECT_EQ(HalfBitsToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfBitsToFloat(0x3555), 0.333251953125f);
}

// Every midpoint between neighbouring halves (exact in float: a half has 11
// significant bits) and a float either side of it.
TEST(HalfTest, EveryTieRoundsToEvenAndNeighboursToNearest) {
  for (uint16_t m = 0; m < 0x7BFF; ++m) {
    const float lo = HalfBitsToFloat(m);
    const float hi = HalfBitsToFloat(m + 1);
    const float mid = lo + (hi - lo) / 2;
    ASSERT_GT(mid, lo);
    ASSERT_LT(mid, hi);
    const uint16_t even = (m & 1) ? m + 1 : m;
    ASSERT_EQ(FloatToHalfBits(mid), even) << "tie at " << mid;
    ASSERT_EQ(FloatToHalfBits(-mid), even | 0x8000) << "tie at " << -mid;
    ASSERT_EQ(FloatToHalfBits(std::nextafter(mid, 0.0f)), m) << mid;
    ASSERT_EQ(FloatToHalfBits(std::nextafter(mid, kInf)), m + 1) << mid;
  }
}

// Checks that `chosen` is the representable value nearest to f, ties to the
// even encoding, given the representable neighbours below and above it
// (magnitudes, all decoded to double).
void ExpectNearestEven(double f, double chosen, double below, double above,
                       uint32_t chosen_bits, const char* what) {
  const double err = std::fabs(f - chosen);
  ASSERT_LE(err, std::fabs(f - below)) << what << " f=" << f;
  ASSERT_LE(err, std::fabs(f - above)) << what << " f=" << f;
  if (err == std::fabs(f - below) || err == std::fabs(f - above)) {
    if (err != 0) {
      ASSERT_EQ(chosen_bits & 1, 0u) << what << " tie not to even, f=" << f;
    }
  }
}

// Samples about 4.3 million floats spread over every exponent and checks
// round-to-nearest-even against the neighbouring encodings.
TEST(HalfTest, SampledFloatsRoundToNearestEven) {
  for (uint64_t x = 0; x <= 0xFFFFFFFFull; x += 997) {
    const float f = FromBits(static_cast<uint32_t>(x));
    if (std::isnan(f)) continue;
    const uint16_t h = FloatToHalfBits(f);
    const float mag = std::fabs(f);
    if (mag >= 65520.0f) {
      ASSERT_EQ(h & 0x7FFF, 0x7C00) << f;
      continue;
    }
    const uint16_t m = h & 0x7FFF;
    ASSERT_LT(m, 0x7C00) << f;
    const double below = m == 0 ? -HalfBitsToFloat(1) : HalfBitsToFloat(m - 1);
    const double above = m == 0x7BFF ? 65536.0 : HalfBitsToFloat(m + 1);
    ExpectNearestEven(mag, HalfBitsToFloat(m), below, above, m, "half");
    ASSERT_EQ(h >> 15, Bits(f) >> 31) << "sign of " << f;
  }
}

TEST(BFloat16Test, KnownValues) {
  EXPECT_EQ(FloatToBFloat16Bits(1.0f), 0x3F80);
  EXPECT_EQ(FloatToBFloat16Bits(-1.0f), 0xBF80);
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x3F808000u)), 0x3F80);  // tie, even
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x3F818000u)), 0x3F82);  // tie, even
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x3F808001u)), 0x3F81);
  EXPECT_EQ(FloatToBFloat16Bits(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(FloatToBFloat16Bits(kInf), 0x7F80);
  EXPECT_EQ(FloatToBFloat16Bits(FromBits(0x00000001u)), 0x0000);
  const uint16_t nan = FloatToBFloat16Bits(FromBits(0x7F800001u));
  EXPECT_EQ(nan & 0x7F80, 0x7F80);
  EXPECT_NE(nan & 0x007F, 0) << "NaN must not become infinity";
  EXPECT_EQ(BFloat16BitsToFloat(0x4049), 3.140625f);
}

TEST(BFloat16Test, EveryTieRoundsToEvenAndNeighboursToNearest) {
  for (uint16_t m = 0; m < 0x7F7F; ++m) {
    const float lo = BFloat16BitsToFloat(m);
    const float hi = BFloat16BitsToFloat(m + 1);
    const float mid = lo + (hi - lo) / 2;
    const uint16_t even = (m & 1) ? m + 1 : m;
    ASSERT_EQ(FloatToBFloat16Bits(mid), even) << "tie at " << mid;
    ASSERT_EQ(FloatToBFloat16Bits(-mid), even | 0x8000) << "tie at " << -mid;
    ASSERT_EQ(FloatToBFloat16Bits(std::nextafter(mid, 0.0f)), m) << mid;
    ASSERT_EQ(FloatToBFloat16Bits(std::nextafter(mid, kInf)), m + 1) << mid;
  }
}

TEST(BFloat16Test, SampledFloatsRoundToNearestEven) {
  for (uint64_t x = 0; x <= 0xFFFFFFFFull; x += 997) {
    const float f = FromBits(static_cast<uint32_t>(x));
    if (std::isnan(f)) continue;
    const uint16_t b = FloatToBFloat16Bits(f);
    const uint16_t m = b & 0x7FFF;
    const double mag = std::fabs(static_cast<double>(f));
    if (m == 0x7F80) {
      // Infinity only from at least halfway past the largest bfloat16.
      ASSERT_GE(mag, static_cast<double>(FromBits(0x7F7F8000u))) << f;
      continue;
    }
    const double below =
        m == 0 ? -BFloat16BitsToFloat(1) : BFloat16BitsToFloat(m - 1);
    const double above =
        m == 0x7F7F ? std::ldexp(1.0, 128) : BFloat16BitsToFloat(m + 1);
    ExpectNearestEven(mag, BFloat16BitsToFloat(m), below, above, m, "bf16");
  }
}

TEST(LoadStoreTest, DispatchOnType) {
  uint16_t h[2] = {};
  float f[2] = {};
  StoreFromFloat(0.5f, ScalarType::kFloat16, h, 1);
  StoreFromFloat(0.5f, ScalarType::kBFloat16, h, 0);
  StoreFromFloat(0.25f, ScalarType::kFloat32, f, 1);
  EXPECT_EQ(h[1], 0x3800);
  EXPECT_EQ(h[0], 0x3F00);
  EXPECT_EQ(LoadAsFloat(h, ScalarType::kFloat16, 1), 0.5f);
  EXPECT_EQ(LoadAsFloat(h, ScalarType::kBFloat16, 0), 0.5f);
  EXPECT_EQ(LoadAsFloat(f, ScalarType::kFloat32, 1), 0.25f);
  EXPECT_EQ(ScalarSize(ScalarType::kFloat32), 4);
  EXPECT_EQ(ScalarSize(ScalarType::kBFloat16), 2);
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
