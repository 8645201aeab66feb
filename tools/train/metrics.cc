#include "tools/train/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace slimserve {
namespace metrics {

SegmentationMetric::SegmentationMetric(int num_classes)
    : num_classes_(num_classes),
      confusion_(static_cast<size_t>(num_classes) * num_classes, 0) {}

void SegmentationMetric::Add(const uint8_t* pred, const uint8_t* gt,
                             int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (gt[i] >= num_classes_) continue;
    const int p = std::min<int>(pred[i], num_classes_ - 1);
    ++confusion_[gt[i] * num_classes_ + p];
  }
}

double SegmentationMetric::MeanIoU() const {
  double sum = 0;
  int classes = 0;
  for (int c = 0; c < num_classes_; ++c) {
    int64_t tp = confusion_[c * num_classes_ + c], fp = 0, fn = 0;
    for (int o = 0; o < num_classes_; ++o) {
      if (o == c) continue;
      fn += confusion_[c * num_classes_ + o];
      fp += confusion_[o * num_classes_ + c];
    }
    const int64_t uni = tp + fp + fn;
    if (uni == 0) continue;
    sum += static_cast<double>(tp) / uni;
    ++classes;
  }
  return classes == 0 ? 0.0 : sum / classes;
}

double SegmentationMetric::PixelAccuracy() const {
  int64_t correct = 0, total = 0;
  for (int g = 0; g < num_classes_; ++g) {
    for (int p = 0; p < num_classes_; ++p) {
      total += confusion_[g * num_classes_ + p];
      if (g == p) correct += confusion_[g * num_classes_ + p];
    }
  }
  return total == 0 ? 0.0 : static_cast<double>(correct) / total;
}

void DepthMetric::Add(const float* pred, const float* gt, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!(gt[i] > 0)) continue;
    const double d = static_cast<double>(pred[i]) - gt[i];
    sum_sq_ += d * d;
    sum_abs_rel_ += std::abs(d) / gt[i];
    ++count_;
  }
}

double DepthMetric::Rmse() const {
  return count_ == 0 ? 0.0 : std::sqrt(sum_sq_ / count_);
}

double DepthMetric::AbsRel() const {
  return count_ == 0 ? 0.0 : sum_abs_rel_ / count_;
}

void NormalsMetric::Add(const float* pred, const float* gt, int64_t n) {
  constexpr double kRadToDeg = 180.0 / M_PI;
  for (int64_t i = 0; i < n; ++i) {
    const double gx = gt[i], gy = gt[n + i], gz = gt[2 * n + i];
    const double gn = std::sqrt(gx * gx + gy * gy + gz * gz);
    if (gn < 1e-6) continue;
    const double px = pred[i], py = pred[n + i], pz = pred[2 * n + i];
    const double pn = std::sqrt(px * px + py * py + pz * pz);
    double cos = pn < 1e-12 ? 0.0 : (px * gx + py * gy + pz * gz) / (pn * gn);
    cos = std::max(-1.0, std::min(1.0, cos));
    angles_.push_back(static_cast<float>(std::acos(cos) * kRadToDeg));
  }
}

double NormalsMetric::MeanAngleDeg() const {
  if (angles_.empty()) return 0.0;
  return std::accumulate(angles_.begin(), angles_.end(), 0.0) / angles_.size();
}

double NormalsMetric::FractionWithin(double degrees) const {
  if (angles_.empty()) return 0.0;
  const auto within = std::count_if(angles_.begin(), angles_.end(),
                                    [&](float a) { return a < degrees; });
  return static_cast<double>(within) / angles_.size();
}

EdgeMetric::EdgeMetric(double threshold, int tolerance)
    : threshold_(threshold), tolerance_(tolerance) {}

void EdgeMetric::Add(const float* prob, const uint8_t* gt, int height,
                     int width) {
  auto near = [&](int y, int x, auto&& is_edge) {
    for (int dy = -tolerance_; dy <= tolerance_; ++dy) {
      for (int dx = -tolerance_; dx <= tolerance_; ++dx) {
        const int yy = y + dy, xx = x + dx;
        if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
        if (is_edge(yy * width + xx)) return true;
      }
    }
    return false;
  };
  auto pred_edge = [&](int i) { return prob[i] >= threshold_; };
  auto gt_edge = [&](int i) { return gt[i] != 0; };
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int i = y * width + x;
      if (pred_edge(i)) {
        ++pred_pos_;
        if (near(y, x, gt_edge)) ++pred_match_;
      }
      if (gt_edge(i)) {
        ++gt_pos_;
        if (near(y, x, pred_edge)) ++gt_match_;
      }
    }
  }
}

double EdgeMetric::Precision() const {
  return pred_pos_ == 0 ? 0.0 : static_cast<double>(pred_match_) / pred_pos_;
}

double EdgeMetric::Recall() const {
  return gt_pos_ == 0 ? 0.0 : static_cast<double>(gt_match_) / gt_pos_;
}

double EdgeMetric::FScore() const {
  const double p = Precision(), r = Recall();
  return p + r == 0 ? 0.0 : 2 * p * r / (p + r);
}

namespace {

std::vector<double> Ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double avg = (i + j) / 2.0 + 1;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = avg;
    i = j + 1;
  }
  return ranks;
}

}  // namespace

double SpearmanCorrelation(const std::vector<double>& a,
                           const std::vector<double>& b) {
  const size_t n = a.size();
  if (n < 2 || b.size() != n) return 0.0;
  const std::vector<double> ra = Ranks(a), rb = Ranks(b);
  const double mean = (n + 1) / 2.0;
  double cov = 0, va = 0, vb = 0;
  for (size_t i = 0; i < n; ++i) {
    cov += (ra[i] - mean) * (rb[i] - mean);
    va += (ra[i] - mean) * (ra[i] - mean);
    vb += (rb[i] - mean) * (rb[i] - mean);
  }
  if (va == 0 || vb == 0) return 0.0;
  return cov / std::sqrt(va * vb);
}

double Uniformity(const std::vector<double>& preference,
                  const std::vector<double>& loss) {
  const size_t n = loss.size();
  double total = 0;
  for (size_t t = 0; t < n; ++t) total += preference[t] * loss[t];
  if (total <= 0 || n == 0) return 0.0;
  double kl = 0;
  for (size_t t = 0; t < n; ++t) {
    const double p = preference[t] * loss[t] / total;
    if (p > 0) kl += p * std::log(p * n);
  }
  return 1.0 - kl;
}

namespace {

// Points already clipped to the reference; dimensions 0..d-1 are used.
double HypervolumeOf(std::vector<std::vector<double>> points,
                     const std::vector<double>& reference, size_t d) {
  if (points.empty()) return 0.0;
  const size_t last = d - 1;
  if (d == 1) {
    double top = reference[0];
    for (const auto& p : points) top = std::max(top, p[0]);
    return top - reference[0];
  }
  // Slabs of the last dimension, from the top down: between consecutive
  // values, every point at or above the slab's top dominates it.
  std::sort(points.begin(), points.end(),
            [&](const auto& a, const auto& b) { return a[last] > b[last]; });
  double volume = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const double below =
        i + 1 < points.size() ? points[i + 1][last] : reference[last];
    const double height = points[i][last] - below;
    if (height <= 0) continue;
    volume += height * HypervolumeOf(std::vector<std::vector<double>>(
                                         points.begin(), points.begin() + i + 1),
                                     reference, last);
  }
  return volume;
}

}  // namespace

double Hypervolume(const std::vector<std::vector<double>>& points,
                   const std::vector<double>& reference) {
  if (reference.empty()) return 0.0;
  std::vector<std::vector<double>> clipped;
  for (const auto& p : points) {
    if (p.size() != reference.size()) return 0.0;
    std::vector<double> c(p.size());
    for (size_t k = 0; k < p.size(); ++k) c[k] = std::max(p[k], reference[k]);
    clipped.push_back(std::move(c));
  }
  return HypervolumeOf(std::move(clipped), reference, reference.size());
}

double DeltaM(const std::vector<double>& value,
              const std::vector<double>& reference,
              const std::vector<bool>& higher_is_better) {
  if (value.empty()) return 0.0;
  double sum = 0;
  for (size_t t = 0; t < value.size(); ++t) {
    const double rel = (value[t] - reference[t]) / reference[t];
    sum += higher_is_better[t] ? rel : -rel;
  }
  return 100.0 * sum / value.size();
}

}  // namespace metrics
}  // namespace slimserve
