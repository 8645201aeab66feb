// CPU reference for the output post-processing kernels. The CUDA kernels
// must implement exactly the arithmetic below (all in float32). Rounding is
// always half away from zero (C's roundf, CUDA's roundf), never rintf.
//
// Layouts: "CHW" inputs are planar float32, element (c, y, x) at
// [(c * h + y) * w + x]; "HWC" outputs are interleaved, (y, x, c) at
// [(y * w + x) * channels + c]. Outputs never overlap inputs unless stated.

#ifndef SLIMSERVE_KERNELS_POSTPROCESS_H_
#define SLIMSERVE_KERNELS_POSTPROCESS_H_

#include <cstdint>

namespace slimserve {

// ids[y * w + x] = the class c maximising logits(c, y, x). Ties go to the
// lowest class index; NaN counts as -inf (unlike torch.argmax, which picks
// NaN), so a pixel whose logits are all NaN or -inf gets class 0.
// REQUIRES: 1 <= num_classes <= 256.
void SegmentationArgmaxCpu(const float* logits, int num_classes, int h, int w,
                           uint8_t* ids);

// mm[i] = roundf(metres[i] * 1000.0f) saturated to [0, 65535]: negative
// depths and NaN give 0, +inf and depths of 65.535 m or more give 65535.
void DepthToMillimetresCpu(const float* metres, int64_t n, uint16_t* mm);

// Encodes surface normals as 8-bit RGB, interleaved HWC (3 bytes a pixel).
// Each pixel's vector n = (n(0, y, x), n(1, y, x), n(2, y, x)) is divided by
// its norm, sqrtf((x * x + y * y) + z * z), and each component u maps to
// clamp(roundf((u + 1.0f) * 127.5f), 0, 255). A pixel whose norm is below
// 1e-12f, NaN or infinite (the squares overflow
// float beyond about 1.8e19) is invalid and becomes (128, 128, 128), which is
// also where the zero vector maps. Consistent with NormalizeNormalsCpu: this
// equals encoding NormalizeNormalsCpu's output component by component.
void NormalsToRgbCpu(const float* normals_chw, int h, int w, uint8_t* rgb_hwc);

// Normalises each pixel's 3-vector of a CHW normals map to unit length in
// place, dividing by the norm defined above. Invalid pixels (norm below
// 1e-12f, NaN or infinite) become the zero vector.
void NormalizeNormalsCpu(float* normals_chw, int h, int w);

// out[i] = roundf(clamp(prob[i], 0, 1) * 255.0f); NaN gives 0.
void EdgesToU8Cpu(const float* prob, int64_t n, uint8_t* out);

}  // namespace slimserve

#endif  // SLIMSERVE_KERNELS_POSTPROCESS_H_
