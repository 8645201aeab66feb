#include "kernels/dtype.h"

#include <cstdint>
#include <cstring>

namespace slimserve {
namespace {

uint32_t Bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof(x));
  return x;
}

float FromBits(uint32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof(f));
  return f;
}

}  // namespace

int ScalarSize(ScalarType type) { return type == ScalarType::kFloat32 ? 4 : 2; }

const char* ScalarTypeName(ScalarType type) {
  switch (type) {
    case ScalarType::kFloat32:
      return "float32";
    case ScalarType::kFloat16:
      return "float16";
    case ScalarType::kBFloat16:
      return "bfloat16";
  }
  return "unknown";
}

uint16_t FloatToHalfBits(float f) {
  const uint32_t x = Bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) {  // NaN: keep it quiet.
    return sign | 0x7E00u | static_cast<uint16_t>((abs >> 13) & 0x3FFu);
  }
  // 65520 is halfway between the largest half, 65504 (odd mantissa), and
  // 2^16, so it and everything above rounds to infinity.
  if (abs >= 0x477FF000u) return sign | 0x7C00u;
  if (abs >= 0x38800000u) {  // >= 2^-14: a normal half.
    // Rebias the exponent (127 -> 15) and round the 13 dropped bits to
    // nearest even; a carry out of the mantissa correctly bumps the exponent.
    uint32_t r = abs - (112u << 23);
    r += 0xFFFu + ((r >> 13) & 1u);
    return sign | static_cast<uint16_t>(r >> 13);
  }
  // Subnormal half (units of 2^-24) or zero. Below 2^-25 (half a unit)
  // everything rounds to zero, and 2^-25 itself ties to the even zero.
  if (abs < 0x33000000u) return sign;
  const uint32_t exponent = abs >> 23;  // 102..112
  const uint32_t mantissa = (abs & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126u - exponent;  // 14..24
  uint32_t q = mantissa >> shift;
  const uint32_t rem = mantissa & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // may become 0x400
  return sign | static_cast<uint16_t>(q);
}

float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  const uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1F) {  // Inf or NaN.
    return FromBits(sign | 0x7F800000u | (mantissa << 13));
  }
  if (exponent != 0) {
    return FromBits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  }
  // Zero or subnormal: mantissa * 2^-24, exact in float.
  const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
  return sign ? -magnitude : magnitude;
}

uint16_t FloatToBFloat16Bits(float f) {
  const uint32_t x = Bits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) {  // NaN: truncating could give inf.
    return static_cast<uint16_t>((x >> 16) | 0x40u);
  }
  // Round to nearest even on the 16 dropped bits; overflow past the largest
  // bfloat16 carries into the exponent and gives infinity, as it should.
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

float BFloat16BitsToFloat(uint16_t b) {
  return FromBits(static_cast<uint32_t>(b) << 16);
}

float LoadAsFloat(const void* data, ScalarType type, int64_t i) {
  switch (type) {
    case ScalarType::kFloat32:
      return static_cast<const float*>(data)[i];
    case ScalarType::kFloat16:
      return HalfBitsToFloat(static_cast<const uint16_t*>(data)[i]);
    case ScalarType::kBFloat16:
      return BFloat16BitsToFloat(static_cast<const uint16_t*>(data)[i]);
  }
  return 0.0f;
}

void StoreFromFloat(float f, ScalarType type, void* data, int64_t i) {
  switch (type) {
    case ScalarType::kFloat32:
      static_cast<float*>(data)[i] = f;
      return;
    case ScalarType::kFloat16:
      static_cast<uint16_t*>(data)[i] = FloatToHalfBits(f);
      return;
    case ScalarType::kBFloat16:
      static_cast<uint16_t*>(data)[i] = FloatToBFloat16Bits(f);
      return;
  }
}

}  // namespace slimserve
