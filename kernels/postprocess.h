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

#include "kernels/dtype.h"

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

// ---------------------------------------------------------------------------
// Batched forms: the CUDA kernels in cuda_kernels.h implement exactly these.
// Inputs are float32, float16 or bfloat16 (`type`); each element is first
// converted to float32 (exactly, dtype.h) and the arithmetic is then the
// float32 arithmetic of the functions above. A batch of n maps is n maps of
// the single-map layout back to back.

// Segmentation ids at the output size. logits is [n, num_classes, h, w];
// each class plane is resized bilinearly to out_h x out_w with exactly
// ResizeNormalizeCpu's sampling (preprocess.h: half-pixel centres, edge
// clamped, no antialiasing; PyTorch's F.interpolate(mode='bilinear',
// align_corners=False) on the logits), and ids[(i * out_h + y) * out_w + x]
// is the argmax over classes of the resized logits, with
// SegmentationArgmaxCpu's rules (ties to the lowest class, NaN as -inf).
// Bilinear on logits rather than nearest on ids because upscaled class
// boundaries then follow where the logits cross instead of forming blocks;
// it is also what a PyTorch pipeline does. Non-finite logits propagate
// through the interpolation by IEEE rules: an infinite logit makes every
// value it is one of the four samples of NaN, even at weight 0 (0 * inf),
// its own pixel's included, and NaN counts as -inf in the argmax. With
// out_h == h, out_w == w and finite logits the result equals
// SegmentationArgmaxCpu on each map.
// REQUIRES: n >= 0; 1 <= num_classes <= 256; h, w, out_h, out_w > 0.
void SegmentationArgmaxResizeBatchCpu(const void* logits, ScalarType type,
                                      int n, int num_classes, int h, int w,
                                      int out_h, int out_w, uint8_t* ids);

// Bilinear resize of n maps of `channels` planes each: src is [n, channels,
// h, w] of `type`, dst is [n, channels, out_h, out_w] float32, every plane
// resized with exactly ResizeNormalizeCpu's sampling (preprocess.h:
// half-pixel centres, edge clamped, no antialiasing), i.e. PyTorch's
// F.interpolate(mode='bilinear', align_corners=False). For the heads' raw
// outputs, which post-processing brings to the output size before the
// task's activation. With out_h == h and out_w == w, dst equals src
// converted to float32.
// REQUIRES: n >= 0; channels >= 1; h, w, out_h, out_w > 0; dst does not
// overlap src.
void ResizeBilinearBatchCpu(const void* src, ScalarType type, int n,
                            int channels, int h, int w, int out_h, int out_w,
                            float* dst);

// mm[i] = DepthToMillimetresCpu's value of float(metres[i]), i < count
// (count = n * h * w for a batch of depth maps).
void DepthToMillimetresBatchCpu(const void* metres, ScalarType type,
                                int64_t count, uint16_t* mm);

// normals is [n, 3, h, w]; out ([n, 3, h, w] float32) is each pixel's vector
// normalised as by NormalizeNormalsCpu (invalid pixels become zero). out may
// be the same memory as normals when type is kFloat32 (in place).
void NormalizeNormalsBatchCpu(const void* normals, ScalarType type, int n,
                              int h, int w, float* out);

// normals is [n, 3, h, w]; rgb is [n, h, w, 3] uint8, each map encoded as by
// NormalsToRgbCpu.
void NormalsToRgbBatchCpu(const void* normals, ScalarType type, int n, int h,
                          int w, uint8_t* rgb);

// Edges from logits: out[i] = the 8-bit value of p = sigmoid(logits[i]),
// i.e. floor(255 * p + 0.5) (EdgesToU8Cpu's half-away-from-zero rounding,
// p being in (0, 1)), computed EXACTLY rather than through a float sigmoid:
// out[i] = the number of k in 0..254 with logits[i] >= T[k], where T[k] is
// the smallest float >= logit((k + 0.5) / 255) = ln((k + 0.5) / (254.5 - k))
// (EdgeLogitThresholds(), evaluated in double). So no exp runs on either
// side, the CPU and the GPU agree bit for bit, and the result differs from
// EdgesToU8Cpu(1 / (1 + expf(-z))) only by the float rounding of that
// sigmoid (at most 1, near a rounding boundary). NaN gives 0, -inf 0, +inf
// 255, 0 gives 128.
void EdgeLogitsToU8Cpu(const void* logits, ScalarType type, int64_t count,
                       uint8_t* out);

// The 255 ascending thresholds T[k] above (computed once, thread-safe).
const float* EdgeLogitThresholds();

// ---------------------------------------------------------------------------
// The tasks' activations, in place, for CPU post-processing (not part of
// the bit-exact CUDA contract above): polynomial exp and log1p, vectorised,
// within a few float ulp of the exact values (postprocess_test).

// values[i] = ln(1 + e^x) (PyTorch's F.softplus: beta 1, x itself above
// the threshold 20). NaN stays NaN, -inf gives 0, +inf stays +inf.
void SoftplusCpu(float* values, int64_t count);

// values[i] = 1 / (1 + e^-x). NaN stays NaN.
void SigmoidCpu(float* values, int64_t count);

}  // namespace slimserve

#endif  // SLIMSERVE_KERNELS_POSTPROCESS_H_
