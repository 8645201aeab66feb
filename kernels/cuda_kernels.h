// CUDA implementations of the batched pre/post-processing kernels. Each one
// computes exactly what the CPU reference named in its comment computes
// (preprocess.h, postprocess.h): the same float32 operations in the same
// order (kernel_math.h), so the outputs are bit-identical, float and integer
// alike. kernels/cuda_kernels_test.cc checks this on a GPU.
//
// A plain C++ API: no CUDA header is needed to include this one. Pointers
// named "device" are CUDA device memory (cudaMalloc, or a CUDA tensor's
// data_ptr()). `stream` is a cudaStream_t passed as void* (nullptr: the
// legacy default stream); each call only enqueues work on it and returns. The
// returned status reports invalid arguments (nothing enqueued) and launch
// errors; an error while the kernel runs surfaces at the next synchronising
// CUDA call on that stream.
//
// Linked only in builds with --config=cuda (target //kernels:cuda_kernels);
// the default build still compiles the .cu files (//kernels:cuda_objects_test).

#ifndef SLIMSERVE_KERNELS_CUDA_KERNELS_H_
#define SLIMSERVE_KERNELS_CUDA_KERNELS_H_

#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/preprocess.h"

namespace slimserve {

struct CudaStatus {
  // A cudaError_t value: 0 (cudaSuccess) on success, 1
  // (cudaErrorInvalidValue) for arguments the kernel rejects.
  int code = 0;
  // A static string describing the error; "" on success. Never null.
  const char* message = "";

  bool ok() const { return code == 0; }
};

// PreprocessBatchCpu on the GPU. `images` is a HOST array of n descriptors
// whose `pixels` are device pointers; `dst` is device memory. Up to 64
// images go to one launch (the descriptors travel as a kernel argument, so
// no allocation or host-to-device copy is needed).
CudaStatus PreprocessBatchCuda(const SourceImage* images, int n,
                               const PreprocessParams& params, void* dst,
                               void* stream);

// SegmentationArgmaxResizeBatchCpu on the GPU.
CudaStatus SegmentationArgmaxResizeCuda(const void* logits, ScalarType type,
                                        int n, int num_classes, int h, int w,
                                        int out_h, int out_w, uint8_t* ids,
                                        void* stream);

// ResizeBilinearBatchCpu on the GPU.
CudaStatus ResizeBilinearCuda(const void* src, ScalarType type, int n,
                              int channels, int h, int w, int out_h, int out_w,
                              float* dst, void* stream);

// DepthToMillimetresBatchCpu on the GPU.
CudaStatus DepthToMillimetresCuda(const void* metres, ScalarType type,
                                  int64_t count, uint16_t* mm, void* stream);

// NormalizeNormalsBatchCpu on the GPU (out may be normals for kFloat32).
CudaStatus NormalizeNormalsCuda(const void* normals, ScalarType type, int n,
                                int h, int w, float* out, void* stream);

// NormalsToRgbBatchCpu on the GPU.
CudaStatus NormalsToRgbCuda(const void* normals, ScalarType type, int n, int h,
                            int w, uint8_t* rgb, void* stream);

// EdgeLogitsToU8Cpu on the GPU.
CudaStatus EdgeLogitsToU8Cuda(const void* logits, ScalarType type,
                              int64_t count, uint8_t* out, void* stream);

}  // namespace slimserve

#endif  // SLIMSERVE_KERNELS_CUDA_KERNELS_H_
