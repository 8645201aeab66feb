// Element types and layouts of the tensors the kernels read and write, and
// portable float <-> fp16 / bf16 conversions.
//
// The conversions from float round to nearest, ties to even (IEEE 754's
// default), which is what CUDA's __float2half_rn and __float2bfloat16_rn do,
// so CPU references and CUDA kernels produce the same bits for every finite
// float and for infinities. NaN becomes a quiet NaN of the same sign (payload
// unspecified). The conversions to float are exact.

#ifndef SLIMSERVE_KERNELS_DTYPE_H_
#define SLIMSERVE_KERNELS_DTYPE_H_

#include <cstdint>

namespace slimserve {

enum class ScalarType {
  kFloat32,
  kFloat16,   // IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits.
  kBFloat16,  // The upper 16 bits of a float32.
};

// Bytes per element: 4 or 2.
int ScalarSize(ScalarType type);
const char* ScalarTypeName(ScalarType type);

// Image tensor layouts: kNCHW is planar ([N, 3, H, W], PyTorch's default),
// kNHWC is channels-last ([N, H, W, 3], interleaved).
enum class TensorLayout { kNCHW, kNHWC };

uint16_t FloatToHalfBits(float f);
float HalfBitsToFloat(uint16_t h);
uint16_t FloatToBFloat16Bits(float f);
float BFloat16BitsToFloat(uint16_t b);

// Element i of a tensor of `type` as a float (exact for all three types).
float LoadAsFloat(const void* data, ScalarType type, int64_t i);

// Stores f into element i of a tensor of `type`, rounding as above.
void StoreFromFloat(float f, ScalarType type, void* data, int64_t i);

}  // namespace slimserve

#endif  // SLIMSERVE_KERNELS_DTYPE_H_
