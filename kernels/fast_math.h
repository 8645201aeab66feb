// exp and log1p for the CPU post-processing loops: branch-free (selects
// only), so that the compiler vectorises the loops that call them, where
// glibc's expf/log1pf are calls per element (~25 ns each: the depth
// softplus of one 96x128 map took 0.3 ms). Accurate to a few ulp over the
// ranges stated; kernels/postprocess_test.cc measures it against double.
// Internal to kernels/ (host only).

#ifndef SLIMSERVE_KERNELS_FAST_MATH_H_
#define SLIMSERVE_KERNELS_FAST_MATH_H_

#include <cstdint>
#include <cstring>

namespace slimserve {
namespace fast_math {

// e^x for x in [-87, 88] (clamped there: below, e^x is under float's
// smallest normal; above, over its largest). Relative error < 3e-7.
inline float Exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // n = round(x / ln 2) by the 1.5 * 2^23 trick (exact for |x / ln2| < 2^22),
  // r = x - n ln 2 in two parts (Cody and Waite), |r| <= ln2 / 2.
  const float shifter = 12582912.0f;
  const float t = x * 1.44269504088896341f + shifter;
  const float n = t - shifter;
  const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  // Taylor to degree 7: the remainder r^8 / 8! < 5e-9 on |r| <= 0.347.
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n from its exponent bits; n in [-126, 127] by the clamps. n is read
  // from t's low bits (t = 1.5 * 2^23 + n), in unsigned arithmetic: a NaN x
  // (which the clamps let through, so that NaN comes out) must not reach a
  // float-to-int conversion or a shift of a negative int, both undefined
  // (UBSan found the shift).
  uint32_t t_bits;
  std::memcpy(&t_bits, &t, sizeof(t_bits));
  const uint32_t bits = (t_bits - 0x4B400000u + 127u) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// ln(1 + u) for u in [0, 1]. Absolute error < 2e-7 * ln(1 + u) + 1e-10.
inline float Log1p(float u) {
  const float v = 1.0f + u;
  // The rounding of 1 + u, recovered (exact: Sterbenz), so small u keep
  // their digits: ln(1 + u) = ln(v) + c / v to first order.
  const float c = u - (v - 1.0f);
  // v = 2^e * m with m in [0.707, 1.414]: ln v = e ln 2 + ln m.
  const bool high = v > 1.41421356f;
  const float m = high ? v * 0.5f : v;
  const float e = high ? 1.0f : 0.0f;
  // ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716: the series to
  // s^11 leaves < 1e-10.
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  float q = 1.0f / 11.0f;
  q = q * s2 + 1.0f / 9.0f;
  q = q * s2 + 1.0f / 7.0f;
  q = q * s2 + 1.0f / 5.0f;
  q = q * s2 + 1.0f / 3.0f;
  q = q * s2 + 1.0f;
  return (e * 0.693147180559945309f + 2.0f * s * q) + c / v;
}

}  // namespace fast_math
}  // namespace slimserve

#endif  // SLIMSERVE_KERNELS_FAST_MATH_H_
