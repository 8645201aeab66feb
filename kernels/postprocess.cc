#include "kernels/postprocess.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace slimserve {
namespace {

constexpr float kMinNormalNorm = 1e-12f;

// The norm of a normal vector, or 0 when the vector is invalid (see header),
// so callers need a single test.
float ValidNorm(float x, float y, float z) {
  const float norm = std::sqrt((x * x + y * y) + z * z);
  // Written so that NaN fails the test.
  if (!(norm >= kMinNormalNorm) || std::isinf(norm)) return 0.0f;
  return norm;
}

uint8_t UnitToU8(float u) {
  const float v = std::round((u + 1.0f) * 127.5f);
  if (v <= 0.0f) return 0;
  if (v >= 255.0f) return 255;
  return static_cast<uint8_t>(v);
}

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
      mm[i] = static_cast<uint16_t>(std::round(v));
    }
  }
}

void NormalsToRgbCpu(const float* normals_chw, int h, int w, uint8_t* rgb_hwc) {
  const int64_t plane = static_cast<int64_t>(h) * w;
  for (int64_t p = 0; p < plane; ++p) {
    const float x = normals_chw[p];
    const float y = normals_chw[plane + p];
    const float z = normals_chw[2 * plane + p];
    const float norm = ValidNorm(x, y, z);
    uint8_t* out = rgb_hwc + 3 * p;
    if (norm == 0.0f) {
      out[0] = out[1] = out[2] = 128;
    } else {
      out[0] = UnitToU8(x / norm);
      out[1] = UnitToU8(y / norm);
      out[2] = UnitToU8(z / norm);
    }
  }
}

void NormalizeNormalsCpu(float* normals_chw, int h, int w) {
  const int64_t plane = static_cast<int64_t>(h) * w;
  for (int64_t p = 0; p < plane; ++p) {
    float& x = normals_chw[p];
    float& y = normals_chw[plane + p];
    float& z = normals_chw[2 * plane + p];
    const float norm = ValidNorm(x, y, z);
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
      out[i] = static_cast<uint8_t>(std::round(p * 255.0f));
    }
  }
}

}  // namespace slimserve
