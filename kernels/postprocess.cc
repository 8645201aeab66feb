#include "kernels/postprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/dtype.h"
#include "kernels/fast_math.h"
#include "kernels/kernel_math.h"

namespace slimserve {
namespace {

// Calls fn(load) with load(i) = element i of `data` as float: one dispatch
// on the type per call, not per element.
template <typename Fn>
void WithLoader(const void* data, ScalarType type, Fn&& fn) {
  switch (type) {
    case ScalarType::kFloat32: {
      const float* p = static_cast<const float*>(data);
      fn([p](int64_t i) { return p[i]; });
      return;
    }
    case ScalarType::kFloat16: {
      const uint16_t* p = static_cast<const uint16_t*>(data);
      fn([p](int64_t i) { return HalfBitsToFloat(p[i]); });
      return;
    }
    case ScalarType::kBFloat16: {
      const uint16_t* p = static_cast<const uint16_t*>(data);
      fn([p](int64_t i) { return BFloat16BitsToFloat(p[i]); });
      return;
    }
  }
}

// Bilinear resizing, separably: each source row of a plane is interpolated
// along x once (hz = lx0 * p[x0] + lx1 * p[x1]), then each output value is
// ly0 * hz[y0] + ly1 * hz[y1]. That is kernel_math::Bilinear's arithmetic,
// operation for operation, so the result is bit-identical to sampling each
// output pixel on its own (as the CUDA kernels do), with a source row's
// horizontal pass shared by the output rows that read it.
class SeparableResize {
 public:
  SeparableResize(int h, int w, int out_h, int out_w)
      : h_(h), w_(w), out_w_(out_w), ys_(out_h), xs_(out_w),
        hz_(static_cast<size_t>(h) * out_w) {
    for (int y = 0; y < out_h; ++y) ys_[y] = kernel_math::BilinearTap(h, out_h, y);
    for (int x = 0; x < out_w; ++x) xs_[x] = kernel_math::BilinearTap(w, out_w, x);
  }

  // The horizontal pass of the plane starting at element `base`.
  template <typename Load>
  void Horizontal(const Load& load, int64_t base) {
    for (int sy = 0; sy < h_; ++sy) {
      const int64_t row = base + static_cast<int64_t>(sy) * w_;
      float* out = &hz_[static_cast<size_t>(sy) * out_w_];
      for (int x = 0; x < out_w_; ++x) {
        const kernel_math::Tap& tx = xs_[x];
        out[x] = kernel_math::Add(kernel_math::Mul(tx.l0, load(row + tx.i0)),
                                  kernel_math::Mul(tx.l1, load(row + tx.i1)));
      }
    }
  }

  // Output row y of the last Horizontal() plane, into out[0, out_w).
  void Row(int y, float* out) const {
    const kernel_math::Tap& ty = ys_[y];
    const float* r0 = &hz_[static_cast<size_t>(ty.i0) * out_w_];
    const float* r1 = &hz_[static_cast<size_t>(ty.i1) * out_w_];
    for (int x = 0; x < out_w_; ++x) {
      out[x] = kernel_math::Add(kernel_math::Mul(ty.l0, r0[x]),
                                kernel_math::Mul(ty.l1, r1[x]));
    }
  }

 private:
  const int h_, w_, out_w_;
  std::vector<kernel_math::Tap> ys_, xs_;
  std::vector<float> hz_;  // [h][out_w]
};

}  // namespace

void SegmentationArgmaxCpu(const float* logits, int num_classes, int h, int w,
                           uint8_t* ids) {
  const int64_t plane = static_cast<int64_t>(h) * w;
  for (int64_t p = 0; p < plane; ++p) {
    int best = 0;
    float best_value = -std::numeric_limits<float>::infinity();
    for (int c = 0; c < num_classes; ++c) {
      // Strict '>' keeps the lowest index on ties, and is false for NaN, so
      // NaN never wins: it behaves as -inf.
      const float v = logits[c * plane + p];
      if (v > best_value) {
        best = c;
        best_value = v;
      }
    }
    ids[p] = static_cast<uint8_t>(best);
  }
}

void DepthToMillimetresCpu(const float* metres, int64_t n, uint16_t* mm) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = metres[i] * 1000.0f;
    if (!(v > 0.0f)) {  // Also NaN.
      mm[i] = 0;
    } else if (v >= 65535.0f) {
      mm[i] = 65535;
    } else {
      mm[i] = static_cast<uint16_t>(kernel_math::Round(v));
    }
  }
}

void NormalsToRgbCpu(const float* normals_chw, int h, int w, uint8_t* rgb_hwc) {
  NormalsToRgbBatchCpu(normals_chw, ScalarType::kFloat32, 1, h, w, rgb_hwc);
}

void NormalizeNormalsCpu(float* normals_chw, int h, int w) {
  const int64_t plane = static_cast<int64_t>(h) * w;
  for (int64_t p = 0; p < plane; ++p) {
    float& x = normals_chw[p];
    float& y = normals_chw[plane + p];
    float& z = normals_chw[2 * plane + p];
    const float norm = kernel_math::ValidNormalNorm(x, y, z);
    if (norm == 0.0f) {
      x = y = z = 0.0f;
    } else {
      x /= norm;
      y /= norm;
      z /= norm;
    }
  }
}

void EdgesToU8Cpu(const float* prob, int64_t n, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float p = prob[i];
    if (!(p > 0.0f)) {  // Also NaN.
      out[i] = 0;
    } else if (p >= 1.0f) {
      out[i] = 255;
    } else {
      out[i] = static_cast<uint8_t>(kernel_math::Round(p * 255.0f));
    }
  }
}

// Batched forms: per-element arithmetic from kernel_math.h, shared with the
// CUDA kernels.

void SegmentationArgmaxResizeBatchCpu(const void* logits, ScalarType type,
                                      int n, int num_classes, int h, int w,
                                      int out_h, int out_w, uint8_t* ids) {
  const int64_t plane = static_cast<int64_t>(h) * w;
  // Per class, the whole resized plane (small next to the logits it comes
  // from at these sizes); then the argmax per pixel, classes in order.
  SeparableResize resize(h, w, out_h, out_w);
  const size_t out_plane = static_cast<size_t>(out_h) * out_w;
  std::vector<float> best_value(out_plane);
  // The winning class as a float-wide integer: the compare-and-select loop
  // below then vectorises (with uint8 ids beside float values it does not).
  std::vector<int32_t> best_id(out_plane);
  std::vector<float> row(out_w);
  WithLoader(logits, type, [&](const auto& load) {
    for (int i = 0; i < n; ++i) {
      std::fill(best_value.begin(), best_value.end(),
                -std::numeric_limits<float>::infinity());
      std::fill(best_id.begin(), best_id.end(), 0);
      for (int c = 0; c < num_classes; ++c) {
        resize.Horizontal(load, (static_cast<int64_t>(i) * num_classes + c) *
                                    plane);
        for (int y = 0; y < out_h; ++y) {
          resize.Row(y, row.data());
          float* best = &best_value[static_cast<size_t>(y) * out_w];
          int32_t* id = &best_id[static_cast<size_t>(y) * out_w];
          for (int x = 0; x < out_w; ++x) {
            // As SegmentationArgmaxCpu: '>' keeps the lowest index, NaN
            // loses. The id through a mask: GCC 12 vectorises this form.
            const float r = row[x];
            const float b = best[x];
            const int32_t wins = -static_cast<int32_t>(r > b);
            best[x] = r > b ? r : b;
            id[x] = (c & wins) | (id[x] & ~wins);
          }
        }
      }
      uint8_t* out = ids + static_cast<int64_t>(i) * out_plane;
      for (size_t p = 0; p < out_plane; ++p) {
        out[p] = static_cast<uint8_t>(best_id[p]);
      }
    }
  });
}

void ResizeBilinearBatchCpu(const void* src, ScalarType type, int n,
                            int channels, int h, int w, int out_h, int out_w,
                            float* dst) {
  const int64_t plane = static_cast<int64_t>(h) * w;
  const int64_t out_plane = static_cast<int64_t>(out_h) * out_w;
  const int64_t planes = static_cast<int64_t>(n) * channels;
  SeparableResize resize(h, w, out_h, out_w);
  WithLoader(src, type, [&](const auto& load) {
    for (int64_t m = 0; m < planes; ++m) {
      resize.Horizontal(load, m * plane);
      for (int y = 0; y < out_h; ++y) {
        resize.Row(y, dst + m * out_plane + static_cast<int64_t>(y) * out_w);
      }
    }
  });
}

void DepthToMillimetresBatchCpu(const void* metres, ScalarType type,
                                int64_t count, uint16_t* mm) {
  for (int64_t i = 0; i < count; ++i) {
    mm[i] = kernel_math::MetresToMillimetres(LoadAsFloat(metres, type, i));
  }
}

void NormalizeNormalsBatchCpu(const void* normals, ScalarType type, int n,
                              int h, int w, float* out) {
  const int64_t plane = static_cast<int64_t>(h) * w;
  for (int i = 0; i < n; ++i) {
    const int64_t base = static_cast<int64_t>(i) * 3 * plane;
    for (int64_t p = 0; p < plane; ++p) {
      // Read all three before writing: out may be normals.
      const float x = LoadAsFloat(normals, type, base + p);
      const float y = LoadAsFloat(normals, type, base + plane + p);
      const float z = LoadAsFloat(normals, type, base + 2 * plane + p);
      const float norm = kernel_math::ValidNormalNorm(x, y, z);
      const bool valid = norm != 0.0f;
      out[base + p] = valid ? kernel_math::Div(x, norm) : 0.0f;
      out[base + plane + p] = valid ? kernel_math::Div(y, norm) : 0.0f;
      out[base + 2 * plane + p] = valid ? kernel_math::Div(z, norm) : 0.0f;
    }
  }
}

void NormalsToRgbBatchCpu(const void* normals, ScalarType type, int n, int h,
                          int w, uint8_t* rgb) {
  const int64_t plane = static_cast<int64_t>(h) * w;
  // In passes over planes (norms, then each component), which vectorise:
  // per pixel the square root and three divisions are serial latency.
  std::vector<float> xyz(static_cast<size_t>(3 * plane));
  std::vector<float> norm(static_cast<size_t>(plane));
  std::vector<uint8_t> q(static_cast<size_t>(plane));
  WithLoader(normals, type, [&](const auto& load) {
    for (int i = 0; i < n; ++i) {
      const int64_t base = static_cast<int64_t>(i) * 3 * plane;
      for (int64_t k = 0; k < 3 * plane; ++k) xyz[k] = load(base + k);
      const float* x = xyz.data();
      const float* y = x + plane;
      const float* z = y + plane;
      for (int64_t p = 0; p < plane; ++p) {
        norm[p] = kernel_math::ValidNormalNorm(x[p], y[p], z[p]);
      }
      uint8_t* out = rgb + static_cast<int64_t>(i) * plane * 3;
      for (int c = 0; c < 3; ++c) {
        const float* u = xyz.data() + c * plane;
        for (int64_t p = 0; p < plane; ++p) {
          const bool valid = norm[p] != 0.0f;
          const uint8_t v =
              kernel_math::UnitToU8(kernel_math::Div(u[p], valid ? norm[p] : 1.0f));
          q[p] = valid ? v : 128;
        }
        for (int64_t p = 0; p < plane; ++p) out[3 * p + c] = q[p];
      }
    }
  });
}

const float* EdgeLogitThresholds() {
  static const std::array<float, 255> thresholds = [] {
    std::array<float, 255> t;
    for (int k = 0; k < 255; ++k) {
      const double tau = std::log((k + 0.5) / (254.5 - k));
      // The smallest float >= tau, so that "z >= T[k]" is exactly
      // "z >= tau" for every float z.
      float f = static_cast<float>(tau);
      if (static_cast<double>(f) < tau) {
        f = std::nextafter(f, std::numeric_limits<float>::infinity());
      }
      t[k] = f;
    }
    return t;
  }();
  return thresholds.data();
}

void EdgeLogitsToU8Cpu(const void* logits, ScalarType type, int64_t count,
                       uint8_t* out) {
  const float* t = EdgeLogitThresholds();
  // kernel_math::EdgeLogitToU8's count, found from a guess instead of a
  // binary search (8 dependent loads and unpredictable branches a pixel):
  // the guess, round(255 * sigmoid(z)) in fast float arithmetic, is the
  // count or next to it, and the steps below make it exactly the count
  // whatever the guess was.
  constexpr int64_t kChunk = 1024;
  float z[kChunk];
  int32_t guess[kChunk];
  WithLoader(logits, type, [&](const auto& load) {
    for (int64_t start = 0; start < count; start += kChunk) {
      const int64_t m = std::min(kChunk, count - start);
      for (int64_t i = 0; i < m; ++i) z[i] = load(start + i);
      // p in [0, 1] (NaN aside, fixed below), so the guess is in [0, 255].
      for (int64_t i = 0; i < m; ++i) {
        const float p = 1.0f / (1.0f + fast_math::Exp(-z[i]));
        guess[i] = static_cast<int32_t>(p * 255.0f + 0.5f);
      }
      for (int64_t i = 0; i < m; ++i) {
        const float v = z[i];
        if (!(v == v)) {  // NaN
          out[start + i] = 0;
          continue;
        }
        int k = guess[i];
        while (k < 255 && t[k] <= v) ++k;
        while (k > 0 && t[k - 1] > v) --k;
        out[start + i] = static_cast<uint8_t>(k);
      }
    }
  });
}

void SoftplusCpu(float* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    const float x = values[i];
    // max(x, 0) + ln(1 + e^-|x|): never overflows; linear above 20 as
    // F::softplus's threshold. NaN stays NaN (through the comparisons'
    // false arms and the arithmetic).
    const float a = x < 0.0f ? -x : x;
    const float y = (x > 0.0f ? x : 0.0f) + fast_math::Log1p(fast_math::Exp(-a));
    values[i] = x > 20.0f ? x : (x == x ? y : x);
  }
}

void SigmoidCpu(float* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    values[i] = 1.0f / (1.0f + fast_math::Exp(-values[i]));
  }
}

}  // namespace slimserve
