#include "kernels/preprocess.h"

#include <cstdint>
#include <vector>

#include "kernels/dtype.h"
#include "kernels/kernel_math.h"

namespace slimserve {
namespace {

using kernel_math::Tap;

// Computed once per axis rather than per pixel; the formula is the header's
// (kernel_math::BilinearTap, which the CUDA kernel evaluates per pixel).
std::vector<Tap> ComputeTaps(int in, int out) {
  std::vector<Tap> taps(out);
  for (int d = 0; d < out; ++d) taps[d] = kernel_math::BilinearTap(in, out, d);
  return taps;
}

}  // namespace

void ResizeNormalizeCpu(const uint8_t* src, int src_h, int src_w, int channels,
                        int dst_h, int dst_w, const float mean[3],
                        const float std[3], float* dst_chw) {
  const std::vector<Tap> ys = ComputeTaps(src_h, dst_h);
  const std::vector<Tap> xs = ComputeTaps(src_w, dst_w);
  const int64_t plane = static_cast<int64_t>(dst_h) * dst_w;
  const int64_t src_row = static_cast<int64_t>(src_w) * channels;
  for (int y = 0; y < dst_h; ++y) {
    const Tap& ty = ys[y];
    const uint8_t* row0 = src + ty.i0 * src_row;
    const uint8_t* row1 = src + ty.i1 * src_row;
    float* out = dst_chw + static_cast<int64_t>(y) * dst_w;
    for (int x = 0; x < dst_w; ++x) {
      const Tap& tx = xs[x];
      const int64_t a = static_cast<int64_t>(tx.i0) * channels;
      const int64_t b = static_cast<int64_t>(tx.i1) * channels;
      for (int c = 0; c < 3; ++c) {
        // Gray images read channel 0 for R, G and B.
        const int k = channels == 1 ? 0 : c;
        const float v = ty.l0 * (tx.l0 * row0[a + k] + tx.l1 * row0[b + k]) +
                        ty.l1 * (tx.l0 * row1[a + k] + tx.l1 * row1[b + k]);
        out[c * plane + x] = (v / 255.0f - mean[c]) / std[c];
      }
    }
  }
}

void PreprocessBatchCpu(const SourceImage* images, int n,
                        const PreprocessParams& params, void* dst) {
  const int h = params.dst_h;
  const int w = params.dst_w;
  const int64_t plane = static_cast<int64_t>(h) * w;
  for (int i = 0; i < n; ++i) {
    const SourceImage& image = images[i];
    const std::vector<Tap> ys = ComputeTaps(image.height, h);
    const std::vector<Tap> xs = ComputeTaps(image.width, w);
    const int channels = image.channels;
    const int64_t src_row = static_cast<int64_t>(image.width) * channels;
    for (int y = 0; y < h; ++y) {
      const Tap& ty = ys[y];
      const uint8_t* row0 = image.pixels + ty.i0 * src_row;
      const uint8_t* row1 = image.pixels + ty.i1 * src_row;
      for (int x = 0; x < w; ++x) {
        const Tap& tx = xs[x];
        const int64_t a = static_cast<int64_t>(tx.i0) * channels;
        const int64_t b = static_cast<int64_t>(tx.i1) * channels;
        for (int c = 0; c < 3; ++c) {
          const int k = channels == 1 ? 0 : c;
          const float v = kernel_math::Bilinear(
              ty, tx, row0[a + k], row0[b + k], row1[a + k], row1[b + k]);
          const float out =
              kernel_math::Normalize(v, params.mean[c], params.std[c]);
          const int64_t index =
              params.layout == TensorLayout::kNCHW
                  ? (static_cast<int64_t>(i) * 3 + c) * plane +
                        static_cast<int64_t>(y) * w + x
                  : ((static_cast<int64_t>(i) * h + y) * w + x) * 3 + c;
          StoreFromFloat(out, params.dtype, dst, index);
        }
      }
    }
  }
}

}  // namespace slimserve
