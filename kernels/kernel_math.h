// The per-element arithmetic shared by the CPU references and the CUDA
// kernels. Compiled both by the host compiler and by nvcc (as __host__
// __device__ functions), so the two sides run the same operations in the
// same order. Every float operation goes through Mul/Add/Sub/Div/Sqrt, which
// on the device are the round-to-nearest intrinsics that nvcc never fuses
// into an FMA: CPU and GPU results are then bit-identical, and the GPU tests
// compare them exactly. (On the host the kernels' libraries build with
// -ffp-contract=off for the same reason.)
//
// Internal to kernels/: the public semantics are in preprocess.h,
// postprocess.h and cuda_kernels.h.

#ifndef SLIMSERVE_KERNELS_KERNEL_MATH_H_
#define SLIMSERVE_KERNELS_KERNEL_MATH_H_

#include <cstdint>

#if defined(__CUDACC__)
#define SLIMSERVE_HOST_DEVICE __host__ __device__
#else
#include <cmath>
#define SLIMSERVE_HOST_DEVICE
#endif

namespace slimserve {
namespace kernel_math {

SLIMSERVE_HOST_DEVICE inline float Mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

SLIMSERVE_HOST_DEVICE inline float Add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

SLIMSERVE_HOST_DEVICE inline float Sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

SLIMSERVE_HOST_DEVICE inline float Div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

SLIMSERVE_HOST_DEVICE inline float Sqrt(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

// Half away from zero (C's roundf), exact on both sides. On the host
// spelled out rather than std::round, which is a libm call per element on
// x86-64's baseline (no SSE4.1) and keeps the quantising loops scalar: the
// truncation and the difference are exact below 2^23, and at or above it
// (or NaN, inf) a float is already integral.
SLIMSERVE_HOST_DEVICE inline float Round(float a) {
#if defined(__CUDA_ARCH__)
  return roundf(a);
#else
  if (!(std::fabs(a) < 8388608.0f)) return a;
  const float t = static_cast<float>(static_cast<int32_t>(a));
  const float d = a - t;
  const float r = d >= 0.5f ? t + 1.0f : (d <= -0.5f ? t - 1.0f : t);
  return std::copysign(r, a);  // -0.3 rounds to -0, as roundf
#endif
}

SLIMSERVE_HOST_DEVICE inline bool IsInf(float a) {
#if defined(__CUDA_ARCH__)
  return isinf(a);
#else
  return std::isinf(a);
#endif
}

// Bilinear resampling, PyTorch's F.interpolate(mode='bilinear',
// align_corners=False) convention: the formula is preprocess.h's. One tap is
// the pair of source indices and weights of one destination index d along
// one axis of `in` -> `out` samples.
struct Tap {
  int i0;
  int i1;
  float l0;
  float l1;
};

SLIMSERVE_HOST_DEVICE inline Tap BilinearTap(int in, int out, int d) {
  const float scale = Div(static_cast<float>(in), static_cast<float>(out));
  float s = Sub(Mul(scale, Add(static_cast<float>(d), 0.5f)), 0.5f);
  // std::max(s, 0.0f), spelled out for the device.
  if (s < 0.0f) s = 0.0f;
  // s >= 0, so truncation is floor; s < in - 0.5, so i0 <= in - 1. On the
  // last source sample i1 == i0 and both weights apply to it.
  const int i0 = static_cast<int>(s);
  Tap t;
  t.i0 = i0;
  t.i1 = i0 + 1 < in - 1 ? i0 + 1 : in - 1;
  t.l1 = Sub(s, static_cast<float>(i0));
  t.l0 = Sub(1.0f, t.l1);
  return t;
}

// ly0 * (lx0 * p00 + lx1 * p01) + ly1 * (lx0 * p10 + lx1 * p11), p_yx the
// samples at (y0 | y1, x0 | x1).
SLIMSERVE_HOST_DEVICE inline float Bilinear(const Tap& ty, const Tap& tx,
                                            float p00, float p01, float p10,
                                            float p11) {
  return Add(Mul(ty.l0, Add(Mul(tx.l0, p00), Mul(tx.l1, p01))),
             Mul(ty.l1, Add(Mul(tx.l0, p10), Mul(tx.l1, p11))));
}

// (v / 255 - mean) / std: one channel of the input normalisation.
SLIMSERVE_HOST_DEVICE inline float Normalize(float v, float mean, float std) {
  return Div(Sub(Div(v, 255.0f), mean), std);
}

// DepthToMillimetresCpu's rule for one element.
SLIMSERVE_HOST_DEVICE inline uint16_t MetresToMillimetres(float metres) {
  const float v = Mul(metres, 1000.0f);
  if (!(v > 0.0f)) return 0;  // Also NaN.
  if (v >= 65535.0f) return 65535;
  return static_cast<uint16_t>(Round(v));
}

// The norm of a normal vector, or 0 when the vector is invalid (norm below
// 1e-12, NaN or infinite; postprocess.h), so callers need a single test.
SLIMSERVE_HOST_DEVICE inline float ValidNormalNorm(float x, float y, float z) {
  const float norm = Sqrt(Add(Add(Mul(x, x), Mul(y, y)), Mul(z, z)));
  // Comparisons only (NaN fails both; inf the second), as a select: the
  // host loops calling this vectorise.
  const bool valid = (norm >= 1e-12f) & (norm <= 3.40282347e38f);
  return valid ? norm : 0.0f;
}

// A unit component in [-1, 1] as clamp(roundf((u + 1) * 127.5), 0, 255).
SLIMSERVE_HOST_DEVICE inline uint8_t UnitToU8(float u) {
  const float v = Round(Mul(Add(u, 1.0f), 127.5f));
  if (v <= 0.0f) return 0;
  if (v >= 255.0f) return 255;
  return static_cast<uint8_t>(v);
}

// The number of thresholds t[0..254] (ascending) that are <= z, i.e. the
// 8-bit edge value of logit z (postprocess.h); NaN gives 0. Binary search:
// comparisons only, so host and device agree exactly.
SLIMSERVE_HOST_DEVICE inline uint8_t EdgeLogitToU8(float z,
                                                   const float* thresholds) {
  if (!(z == z)) return 0;
  int lo = 0;
  int hi = 255;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (thresholds[mid] <= z) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return static_cast<uint8_t>(lo);
}

}  // namespace kernel_math
}  // namespace slimserve

#endif  // SLIMSERVE_KERNELS_KERNEL_MATH_H_
