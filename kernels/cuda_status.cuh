#ifndef SLIMSERVE_KERNELS_CUDA_STATUS_CUH_
#define SLIMSERVE_KERNELS_CUDA_STATUS_CUH_

// CudaStatus from an argument check or a CUDA runtime error: shared by the
// launchers in kernels/*.cu. Include only from .cu files.

#include <cuda_runtime.h>

#include "kernels/cuda_kernels.h"

namespace slimserve {
namespace cuda_internal {

inline CudaStatus Invalid(const char* message) {
  CudaStatus status;
  status.code = static_cast<int>(cudaErrorInvalidValue);
  status.message = message;
  return status;
}

inline CudaStatus FromCuda(cudaError_t error) {
  CudaStatus status;
  if (error != cudaSuccess) {
    status.code = static_cast<int>(error);
    status.message = cudaGetErrorString(error);
  }
  return status;
}

}  // namespace cuda_internal
}  // namespace slimserve

#endif  // SLIMSERVE_KERNELS_CUDA_STATUS_CUH_
