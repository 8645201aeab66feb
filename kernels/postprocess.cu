// CUDA post-processing: the batched references of postprocess.h on the GPU,
// one thread per output pixel or element (grid-stride loops, so any size
// fits one launch).

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda_kernels.h"
#include "kernels/cuda_status.cuh"
#include "kernels/dtype.h"
#include "kernels/kernel_math.h"
#include "kernels/postprocess.h"

namespace slimserve {
namespace cuda_internal {

constexpr int kThreads = 256;

__device__ inline float LoadFloat(const float* p, int64_t i) { return p[i]; }
__device__ inline float LoadFloat(const __half* p, int64_t i) {
  return __half2float(p[i]);
}
__device__ inline float LoadFloat(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}

__device__ inline int64_t FirstIndex() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t Stride() {
  return static_cast<int64_t>(blockDim.x) * gridDim.x;
}

template <typename T>
__global__ void SegmentationArgmaxResizeKernel(const T* __restrict__ logits,
                                               int n, int num_classes, int h,
                                               int w, int out_h, int out_w,
                                               uint8_t* __restrict__ ids) {
  const int64_t out_plane = static_cast<int64_t>(out_h) * out_w;
  const int64_t plane = static_cast<int64_t>(h) * w;
  const int64_t total = n * out_plane;
  for (int64_t p = FirstIndex(); p < total; p += Stride()) {
    const int64_t i = p / out_plane;
    const int64_t q = p % out_plane;
    const int y = static_cast<int>(q / out_w);
    const int x = static_cast<int>(q % out_w);
    const kernel_math::Tap ty = kernel_math::BilinearTap(h, out_h, y);
    const kernel_math::Tap tx = kernel_math::BilinearTap(w, out_w, x);
    const int64_t p00 = static_cast<int64_t>(ty.i0) * w + tx.i0;
    const int64_t p01 = static_cast<int64_t>(ty.i0) * w + tx.i1;
    const int64_t p10 = static_cast<int64_t>(ty.i1) * w + tx.i0;
    const int64_t p11 = static_cast<int64_t>(ty.i1) * w + tx.i1;
    const T* base = logits + i * num_classes * plane;
    int best = 0;
    float best_value = -INFINITY;
    for (int c = 0; c < num_classes; ++c) {
      const T* m = base + c * plane;
      const float v =
          kernel_math::Bilinear(ty, tx, LoadFloat(m, p00), LoadFloat(m, p01),
                                LoadFloat(m, p10), LoadFloat(m, p11));
      if (v > best_value) {  // lowest class on ties; NaN never wins
        best = c;
        best_value = v;
      }
    }
    ids[p] = static_cast<uint8_t>(best);
  }
}

template <typename T>
__global__ void ResizeBilinearKernel(const T* __restrict__ src, int64_t planes,
                                     int h, int w, int out_h, int out_w,
                                     float* __restrict__ dst) {
  const int64_t out_plane = static_cast<int64_t>(out_h) * out_w;
  const int64_t plane = static_cast<int64_t>(h) * w;
  const int64_t total = planes * out_plane;
  for (int64_t p = FirstIndex(); p < total; p += Stride()) {
    const int64_t m = p / out_plane;
    const int64_t q = p % out_plane;
    const int y = static_cast<int>(q / out_w);
    const int x = static_cast<int>(q % out_w);
    const kernel_math::Tap ty = kernel_math::BilinearTap(h, out_h, y);
    const kernel_math::Tap tx = kernel_math::BilinearTap(w, out_w, x);
    const T* base = src + m * plane;
    const int64_t r0 = static_cast<int64_t>(ty.i0) * w;
    const int64_t r1 = static_cast<int64_t>(ty.i1) * w;
    dst[p] = kernel_math::Bilinear(ty, tx, LoadFloat(base, r0 + tx.i0),
                                   LoadFloat(base, r0 + tx.i1),
                                   LoadFloat(base, r1 + tx.i0),
                                   LoadFloat(base, r1 + tx.i1));
  }
}

template <typename T>
__global__ void DepthKernel(const T* __restrict__ metres, int64_t count,
                            uint16_t* __restrict__ mm) {
  for (int64_t i = FirstIndex(); i < count; i += Stride()) {
    mm[i] = kernel_math::MetresToMillimetres(LoadFloat(metres, i));
  }
}

// No __restrict__: out may be normals (in place). Each thread reads its
// pixel's three components before writing them, and no other thread touches
// that pixel.
template <typename T>
__global__ void NormalizeNormalsKernel(const T* normals, int n, int64_t plane,
                                       float* out) {
  const int64_t total = n * plane;
  for (int64_t p = FirstIndex(); p < total; p += Stride()) {
    const int64_t i = p / plane;
    const int64_t q = p % plane;
    const int64_t base = i * 3 * plane + q;
    const float x = LoadFloat(normals, base);
    const float y = LoadFloat(normals, base + plane);
    const float z = LoadFloat(normals, base + 2 * plane);
    const float norm = kernel_math::ValidNormalNorm(x, y, z);
    const bool valid = norm != 0.0f;
    out[base] = valid ? kernel_math::Div(x, norm) : 0.0f;
    out[base + plane] = valid ? kernel_math::Div(y, norm) : 0.0f;
    out[base + 2 * plane] = valid ? kernel_math::Div(z, norm) : 0.0f;
  }
}

template <typename T>
__global__ void NormalsToRgbKernel(const T* __restrict__ normals, int n,
                                   int64_t plane, uint8_t* __restrict__ rgb) {
  const int64_t total = n * plane;
  for (int64_t p = FirstIndex(); p < total; p += Stride()) {
    const int64_t i = p / plane;
    const int64_t q = p % plane;
    const int64_t base = i * 3 * plane + q;
    const float x = LoadFloat(normals, base);
    const float y = LoadFloat(normals, base + plane);
    const float z = LoadFloat(normals, base + 2 * plane);
    const float norm = kernel_math::ValidNormalNorm(x, y, z);
    uint8_t* o = rgb + p * 3;  // [n, h, w, 3]: pixel p of the batch
    if (norm == 0.0f) {
      o[0] = o[1] = o[2] = 128;
    } else {
      o[0] = kernel_math::UnitToU8(kernel_math::Div(x, norm));
      o[1] = kernel_math::UnitToU8(kernel_math::Div(y, norm));
      o[2] = kernel_math::UnitToU8(kernel_math::Div(z, norm));
    }
  }
}

// The 255 thresholds travel by value (1020 bytes of kernel argument), so no
// device buffer has to be set up per device or per call.
struct EdgeThresholds {
  float t[255];
};

template <typename T>
__global__ void EdgeLogitsKernel(const T* __restrict__ logits, int64_t count,
                                 EdgeThresholds thresholds,
                                 uint8_t* __restrict__ out) {
  // The binary search indexes the table at run time: from shared memory
  // that is a cheap load, from the argument space it could be a local copy.
  __shared__ float table[255];
  for (int k = threadIdx.x; k < 255; k += blockDim.x) {
    table[k] = thresholds.t[k];
  }
  __syncthreads();
  for (int64_t i = FirstIndex(); i < count; i += Stride()) {
    out[i] = kernel_math::EdgeLogitToU8(LoadFloat(logits, i), table);
  }
}

}  // namespace cuda_internal

namespace {

using cuda_internal::FromCuda;
using cuda_internal::Invalid;

// Blocks for a grid-stride loop over `total` items: enough to fill any
// current GPU many times over, few enough that each thread loops when the
// input is huge.
unsigned Blocks(int64_t total) {
  const int64_t blocks =
      (total + cuda_internal::kThreads - 1) / cuda_internal::kThreads;
  return static_cast<unsigned>(blocks < (1 << 20) ? blocks : (1 << 20));
}

// Calls f with a value of the CUDA element type of `type`, so that
// `decltype(tag)` names it.
template <typename F>
cudaError_t ByType(ScalarType type, F&& f) {
  switch (type) {
    case ScalarType::kFloat32:
      return f(float{});
    case ScalarType::kFloat16:
      return f(__half{});
    case ScalarType::kBFloat16:
      return f(__nv_bfloat16{});
  }
  return cudaErrorInvalidValue;
}

}  // namespace

CudaStatus SegmentationArgmaxResizeCuda(const void* logits, ScalarType type,
                                        int n, int num_classes, int h, int w,
                                        int out_h, int out_w, uint8_t* ids,
                                        void* stream) {
  if (n < 0) return Invalid("SegmentationArgmaxResizeCuda: n < 0");
  if (num_classes < 1 || num_classes > 256) {
    return Invalid("SegmentationArgmaxResizeCuda: num_classes not in 1..256");
  }
  if (h <= 0 || w <= 0 || out_h <= 0 || out_w <= 0) {
    return Invalid("SegmentationArgmaxResizeCuda: sizes must be > 0");
  }
  const int64_t total = static_cast<int64_t>(n) * out_h * out_w;
  if (total == 0) return CudaStatus();
  if (logits == nullptr || ids == nullptr) {
    return Invalid("SegmentationArgmaxResizeCuda: null pointer");
  }
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  return FromCuda(ByType(type, [&](auto tag) {
    using T = decltype(tag);
    cuda_internal::SegmentationArgmaxResizeKernel<T>
        <<<Blocks(total), cuda_internal::kThreads, 0, s>>>(
            static_cast<const T*>(logits), n, num_classes, h, w, out_h, out_w,
            ids);
    return cudaGetLastError();
  }));
}

CudaStatus ResizeBilinearCuda(const void* src, ScalarType type, int n,
                              int channels, int h, int w, int out_h, int out_w,
                              float* dst, void* stream) {
  if (n < 0 || channels < 1) {
    return Invalid("ResizeBilinearCuda: n < 0 or channels < 1");
  }
  if (h <= 0 || w <= 0 || out_h <= 0 || out_w <= 0) {
    return Invalid("ResizeBilinearCuda: sizes must be > 0");
  }
  const int64_t planes = static_cast<int64_t>(n) * channels;
  const int64_t total = planes * out_h * out_w;
  if (total == 0) return CudaStatus();
  if (src == nullptr || dst == nullptr) {
    return Invalid("ResizeBilinearCuda: null pointer");
  }
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  return FromCuda(ByType(type, [&](auto tag) {
    using T = decltype(tag);
    cuda_internal::ResizeBilinearKernel<T>
        <<<Blocks(total), cuda_internal::kThreads, 0, s>>>(
            static_cast<const T*>(src), planes, h, w, out_h, out_w, dst);
    return cudaGetLastError();
  }));
}

CudaStatus DepthToMillimetresCuda(const void* metres, ScalarType type,
                                  int64_t count, uint16_t* mm, void* stream) {
  if (count < 0) return Invalid("DepthToMillimetresCuda: count < 0");
  if (count == 0) return CudaStatus();
  if (metres == nullptr || mm == nullptr) {
    return Invalid("DepthToMillimetresCuda: null pointer");
  }
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  return FromCuda(ByType(type, [&](auto tag) {
    using T = decltype(tag);
    cuda_internal::DepthKernel<T>
        <<<Blocks(count), cuda_internal::kThreads, 0, s>>>(
            static_cast<const T*>(metres), count, mm);
    return cudaGetLastError();
  }));
}

CudaStatus NormalizeNormalsCuda(const void* normals, ScalarType type, int n,
                                int h, int w, float* out, void* stream) {
  if (n < 0 || h <= 0 || w <= 0) {
    return Invalid("NormalizeNormalsCuda: n < 0 or empty map");
  }
  const int64_t plane = static_cast<int64_t>(h) * w;
  if (n == 0) return CudaStatus();
  if (normals == nullptr || out == nullptr) {
    return Invalid("NormalizeNormalsCuda: null pointer");
  }
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  return FromCuda(ByType(type, [&](auto tag) {
    using T = decltype(tag);
    cuda_internal::NormalizeNormalsKernel<T>
        <<<Blocks(n * plane), cuda_internal::kThreads, 0, s>>>(
            static_cast<const T*>(normals), n, plane, out);
    return cudaGetLastError();
  }));
}

CudaStatus NormalsToRgbCuda(const void* normals, ScalarType type, int n, int h,
                            int w, uint8_t* rgb, void* stream) {
  if (n < 0 || h <= 0 || w <= 0) {
    return Invalid("NormalsToRgbCuda: n < 0 or empty map");
  }
  const int64_t plane = static_cast<int64_t>(h) * w;
  if (n == 0) return CudaStatus();
  if (normals == nullptr || rgb == nullptr) {
    return Invalid("NormalsToRgbCuda: null pointer");
  }
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  return FromCuda(ByType(type, [&](auto tag) {
    using T = decltype(tag);
    cuda_internal::NormalsToRgbKernel<T>
        <<<Blocks(n * plane), cuda_internal::kThreads, 0, s>>>(
            static_cast<const T*>(normals), n, plane, rgb);
    return cudaGetLastError();
  }));
}

CudaStatus EdgeLogitsToU8Cuda(const void* logits, ScalarType type,
                              int64_t count, uint8_t* out, void* stream) {
  if (count < 0) return Invalid("EdgeLogitsToU8Cuda: count < 0");
  if (count == 0) return CudaStatus();
  if (logits == nullptr || out == nullptr) {
    return Invalid("EdgeLogitsToU8Cuda: null pointer");
  }
  // The CPU reference's table (postprocess.cc), so both search the same
  // floats.
  cuda_internal::EdgeThresholds thresholds;
  const float* table = EdgeLogitThresholds();
  for (int k = 0; k < 255; ++k) thresholds.t[k] = table[k];
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  return FromCuda(ByType(type, [&](auto tag) {
    using T = decltype(tag);
    cuda_internal::EdgeLogitsKernel<T>
        <<<Blocks(count), cuda_internal::kThreads, 0, s>>>(
            static_cast<const T*>(logits), count, thresholds, out);
    return cudaGetLastError();
  }));
}

}  // namespace slimserve
