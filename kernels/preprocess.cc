#include "kernels/preprocess.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace slimserve {
namespace {

// Source neighbours and weights of one destination index along one axis.
struct Tap {
  int i0;
  int i1;
  float l0;
  float l1;
};

// Computed once per axis rather than per pixel; the formula is the header's.
std::vector<Tap> ComputeTaps(int in, int out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  std::vector<Tap> taps(out);
  for (int d = 0; d < out; ++d) {
    const float s =
        std::max(scale * (static_cast<float>(d) + 0.5f) - 0.5f, 0.0f);
    // s >= 0, so truncation is floor; s < in - 0.5, so i0 <= in - 1. On the
    // last source sample i1 == i0 and both weights apply to it.
    const int i0 = static_cast<int>(s);
    Tap& t = taps[d];
    t.i0 = i0;
    t.i1 = std::min(i0 + 1, in - 1);
    t.l1 = s - static_cast<float>(i0);
    t.l0 = 1.0f - t.l1;
  }
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

}  // namespace slimserve
