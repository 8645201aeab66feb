// CUDA pre-processing: PreprocessBatchCpu (preprocess.h) on the GPU, one
// thread per output pixel (its three channels).

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda_kernels.h"
#include "kernels/cuda_status.cuh"
#include "kernels/dtype.h"
#include "kernels/kernel_math.h"
#include "kernels/preprocess.h"

namespace slimserve {
namespace cuda_internal {

// Images per launch. Their descriptors are a kernel argument (64 x 24
// bytes, far under the 4 KiB argument limit), so a call needs no device
// allocation; larger batches take several launches.
constexpr int kMaxImagesPerLaunch = 64;
constexpr int kThreads = 256;

struct ImageBatch {
  SourceImage images[kMaxImagesPerLaunch];
};

struct Normalization {
  float mean[3];
  float std[3];
};

__device__ inline void StoreAs(float v, float* p) { *p = v; }
__device__ inline void StoreAs(float v, __half* p) { *p = __float2half_rn(v); }
__device__ inline void StoreAs(float v, __nv_bfloat16* p) {
  *p = __float2bfloat16_rn(v);
}

// blockIdx.y is the image within the launch; x covers its dst_h * dst_w
// pixels. dst points at the launch's first image.
template <typename T, bool kChannelsLast>
__global__ void PreprocessKernel(ImageBatch batch, int dst_h, int dst_w,
                                 Normalization norm, T* dst) {
  const int64_t plane = static_cast<int64_t>(dst_h) * dst_w;
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= plane) return;
  const int i = blockIdx.y;
  const int y = static_cast<int>(p / dst_w);
  const int x = static_cast<int>(p % dst_w);
  const SourceImage image = batch.images[i];
  const kernel_math::Tap ty = kernel_math::BilinearTap(image.height, dst_h, y);
  const kernel_math::Tap tx = kernel_math::BilinearTap(image.width, dst_w, x);
  const int channels = image.channels;
  const int64_t src_row = static_cast<int64_t>(image.width) * channels;
  const uint8_t* row0 = image.pixels + ty.i0 * src_row;
  const uint8_t* row1 = image.pixels + ty.i1 * src_row;
  const int64_t a = static_cast<int64_t>(tx.i0) * channels;
  const int64_t b = static_cast<int64_t>(tx.i1) * channels;
#pragma unroll
  for (int c = 0; c < 3; ++c) {
    const int k = channels == 1 ? 0 : c;  // gray: channel 0 for R, G, B
    const float v =
        kernel_math::Bilinear(ty, tx, static_cast<float>(__ldg(row0 + a + k)),
                              static_cast<float>(__ldg(row0 + b + k)),
                              static_cast<float>(__ldg(row1 + a + k)),
                              static_cast<float>(__ldg(row1 + b + k)));
    const float out = kernel_math::Normalize(v, norm.mean[c], norm.std[c]);
    const int64_t index = kChannelsLast
                              ? (static_cast<int64_t>(i) * plane + p) * 3 + c
                              : (static_cast<int64_t>(i) * 3 + c) * plane + p;
    StoreAs(out, dst + index);
  }
}

template <typename T, bool kChannelsLast>
cudaError_t LaunchPreprocess(const SourceImage* images, int n,
                             const PreprocessParams& params, void* dst,
                             cudaStream_t stream) {
  Normalization norm;
  for (int c = 0; c < 3; ++c) {
    norm.mean[c] = params.mean[c];
    norm.std[c] = params.std[c];
  }
  const int64_t plane = static_cast<int64_t>(params.dst_h) * params.dst_w;
  const int64_t blocks = (plane + kThreads - 1) / kThreads;
  T* out = static_cast<T*>(dst);
  for (int first = 0; first < n; first += kMaxImagesPerLaunch) {
    const int count =
        n - first < kMaxImagesPerLaunch ? n - first : kMaxImagesPerLaunch;
    ImageBatch batch;
    for (int j = 0; j < count; ++j) batch.images[j] = images[first + j];
    const dim3 grid(static_cast<unsigned>(blocks),
                    static_cast<unsigned>(count));
    PreprocessKernel<T, kChannelsLast><<<grid, kThreads, 0, stream>>>(
        batch, params.dst_h, params.dst_w, norm,
        out + static_cast<int64_t>(first) * 3 * plane);
    const cudaError_t error = cudaGetLastError();
    if (error != cudaSuccess) return error;
  }
  return cudaSuccess;
}

template <typename T>
cudaError_t DispatchLayout(const SourceImage* images, int n,
                           const PreprocessParams& params, void* dst,
                           cudaStream_t stream) {
  return params.layout == TensorLayout::kNHWC
             ? LaunchPreprocess<T, true>(images, n, params, dst, stream)
             : LaunchPreprocess<T, false>(images, n, params, dst, stream);
}

}  // namespace cuda_internal

namespace {

using cuda_internal::FromCuda;
using cuda_internal::Invalid;

}  // namespace

CudaStatus PreprocessBatchCuda(const SourceImage* images, int n,
                               const PreprocessParams& params, void* dst,
                               void* stream) {
  if (n < 0) return Invalid("PreprocessBatchCuda: n < 0");
  if (n == 0) return CudaStatus();
  if (images == nullptr || dst == nullptr) {
    return Invalid("PreprocessBatchCuda: null images or dst");
  }
  if (params.dst_h <= 0 || params.dst_w <= 0) {
    return Invalid("PreprocessBatchCuda: dst_h and dst_w must be > 0");
  }
  // gridDim.x is at most 2^31 - 1 blocks of 256 pixels.
  if (static_cast<int64_t>(params.dst_h) * params.dst_w > (int64_t{1} << 38)) {
    return Invalid("PreprocessBatchCuda: output image too large");
  }
  for (int c = 0; c < 3; ++c) {
    if (params.std[c] == 0.0f) return Invalid("PreprocessBatchCuda: std == 0");
  }
  for (int i = 0; i < n; ++i) {
    const SourceImage& image = images[i];
    if (image.pixels == nullptr || image.height <= 0 || image.width <= 0) {
      return Invalid("PreprocessBatchCuda: empty source image");
    }
    if (image.channels != 1 && image.channels != 3 && image.channels != 4) {
      return Invalid("PreprocessBatchCuda: channels must be 1, 3 or 4");
    }
  }
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaError_t error = cudaErrorInvalidValue;
  switch (params.dtype) {
    case ScalarType::kFloat32:
      error = cuda_internal::DispatchLayout<float>(images, n, params, dst, s);
      break;
    case ScalarType::kFloat16:
      error = cuda_internal::DispatchLayout<__half>(images, n, params, dst, s);
      break;
    case ScalarType::kBFloat16:
      error = cuda_internal::DispatchLayout<__nv_bfloat16>(images, n, params,
                                                           dst, s);
      break;
  }
  return FromCuda(error);
}

}  // namespace slimserve
