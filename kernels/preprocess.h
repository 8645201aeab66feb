// CPU reference for the image pre-processing kernel. The CUDA kernel must
// implement exactly the arithmetic below (all in float32), so that the two
// agree to float rounding (differences come only from FMA contraction).

#ifndef SLIMSERVE_KERNELS_PREPROCESS_H_
#define SLIMSERVE_KERNELS_PREPROCESS_H_

#include <cstdint>

#include "kernels/dtype.h"

namespace slimserve {

// Resizes a uint8 image with bilinear interpolation and normalises it into
// float32 planar CHW with 3 channels (R, G, B), dst_h x dst_w.
//
// Input: `src` is row-major HWC, src_h x src_w, with `channels`
//   1: gray, replicated to R, G and B (each then normalised with its own
//      mean/std);
//   3: RGB;
//   4: RGBA, alpha ignored (not composited).
//
// Resize: same as PyTorch F.interpolate(mode='bilinear',
// align_corners=False, antialias=False) on float input. Per axis, with
// in/out the source/destination sizes and d the destination index:
//   scale = float(in) / float(out)
//   s     = max(scale * (d + 0.5f) - 0.5f, 0.0f)   (half-pixel centres)
//   i0    = floor(s);  i1 = min(i0 + 1, in - 1)    (edge clamped)
//   l1    = s - i0;    l0 = 1 - l1
// and the interpolated value, from the source samples p[y][x], is
//   v = ly0 * (lx0 * p[y0][x0] + lx1 * p[y0][x1])
//     + ly1 * (lx0 * p[y1][x0] + lx1 * p[y1][x1]).
// Downscaling does not antialias: only the 2x2 neighbours contribute.
//
// Normalisation: dst_chw[(c * dst_h + y) * dst_w + x] = (v / 255 - mean[c]) /
// std[c]. When the sizes are equal every l1 is 0 and v is exactly the source
// sample, so the result is exactly the per-pixel normalisation.
//
// REQUIRES: src_h, src_w, dst_h, dst_w > 0; channels is 1, 3 or 4; std[c] != 0;
// dst_chw has room for 3 * dst_h * dst_w floats and does not overlap src.
void ResizeNormalizeCpu(const uint8_t* src, int src_h, int src_w, int channels,
                        int dst_h, int dst_w, const float mean[3],
                        const float std[3], float* dst_chw);

// One source image of a batch: row-major HWC uint8, height x width, with
// `channels` 1, 3 or 4 (as for ResizeNormalizeCpu). For the CUDA kernel
// (cuda_kernels.h) `pixels` is a device pointer.
struct SourceImage {
  const uint8_t* pixels = nullptr;
  int height = 0;
  int width = 0;
  int channels = 3;
};

// What the batched pre-processing produces.
struct PreprocessParams {
  int dst_h = 0;
  int dst_w = 0;
  float mean[3] = {0.0f, 0.0f, 0.0f};
  float std[3] = {1.0f, 1.0f, 1.0f};
  TensorLayout layout = TensorLayout::kNCHW;
  ScalarType dtype = ScalarType::kFloat32;
};

// Fused pre-processing of a batch of n images of any (different) sizes into
// one model input tensor `dst` of params.dtype:
//   kNCHW: [n, 3, dst_h, dst_w], element (i, c, y, x) at
//          ((i * 3 + c) * dst_h + y) * dst_w + x;
//   kNHWC: [n, dst_h, dst_w, 3], element (i, y, x, c) at
//          ((i * dst_h + y) * dst_w + x) * 3 + c.
// Element (i, c, y, x) is the float32 value ResizeNormalizeCpu computes for
// images[i] at (c, y, x) (same resize, same normalisation, same float32
// operations in the same order), converted to dtype by round-to-nearest-even
// (dtype.h). So for n = 1, kNCHW and kFloat32 the output equals
// ResizeNormalizeCpu's bit for bit, kNHWC is the transpose of kNCHW, and
// fp16/bf16 are within half an ulp of the float32 value.
//
// REQUIRES: n >= 0; dst_h, dst_w > 0; each image as for ResizeNormalizeCpu;
// std[c] != 0; dst has room for n * 3 * dst_h * dst_w elements of dtype and
// does not overlap the images.
void PreprocessBatchCpu(const SourceImage* images, int n,
                        const PreprocessParams& params, void* dst);

}  // namespace slimserve

#endif  // SLIMSERVE_KERNELS_PREPROCESS_H_
