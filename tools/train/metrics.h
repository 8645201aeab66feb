#ifndef SLIMSERVE_TOOLS_TRAIN_METRICS_H_
#define SLIMSERVE_TOOLS_TRAIN_METRICS_H_

// Task metrics of the evaluator, on plain arrays (no LibTorch), accumulated
// over a held-out set image by image. The conventions follow NYUD-v2 multi-task
// papers: mIoU for segmentation; RMSE and absolute relative error for depth;
// mean angular error and the share of pixels within 11.25 degrees for normals;
// F-score at a fixed threshold for edges.

#include <cstdint>
#include <vector>

namespace slimserve {
namespace metrics {

// Confusion matrix over `num_classes`; mIoU averages IoU = TP / (TP+FP+FN)
// over the classes that occur in the ground truth or the prediction.
class SegmentationMetric {
 public:
  explicit SegmentationMetric(int num_classes);
  // pred and gt: n class ids; gt ids outside [0, num_classes) are ignored.
  void Add(const uint8_t* pred, const uint8_t* gt, int64_t n);
  double MeanIoU() const;
  double PixelAccuracy() const;

 private:
  int num_classes_;
  std::vector<int64_t> confusion_;  // [gt * num_classes + pred]
};

// Over pixels whose ground truth depth is > 0.
class DepthMetric {
 public:
  void Add(const float* pred, const float* gt, int64_t n);
  double Rmse() const;
  double AbsRel() const;  // mean |pred - gt| / gt

 private:
  double sum_sq_ = 0, sum_abs_rel_ = 0;
  int64_t count_ = 0;
};

// Angles between predicted and ground-truth normals, both given as planar
// CHW (3 x n) arrays; the prediction is normalised first. Pixels with a zero
// ground-truth vector are ignored.
class NormalsMetric {
 public:
  void Add(const float* pred_chw, const float* gt_chw, int64_t n);
  double MeanAngleDeg() const;
  double FractionWithin(double degrees) const;  // 11.25, 22.5, 30

 private:
  std::vector<float> angles_;  // degrees, one per counted pixel
};

// Pixel-wise precision/recall of edge probabilities thresholded at
// `threshold`, with a match tolerance: a predicted edge pixel is correct if a
// ground-truth edge lies within `tolerance` pixels (Chebyshev distance) and
// vice versa for recall. F = 2PR / (P + R).
class EdgeMetric {
 public:
  explicit EdgeMetric(double threshold = 0.5, int tolerance = 1);
  void Add(const float* prob, const uint8_t* gt, int height, int width);
  double FScore() const;
  double Precision() const;
  double Recall() const;

 private:
  double threshold_;
  int tolerance_;
  int64_t pred_pos_ = 0, pred_match_ = 0, gt_pos_ = 0, gt_match_ = 0;
};

// Spearman rank correlation of two equally long vectors (average ranks for
// ties). 0 when either vector is constant.
double SpearmanCorrelation(const std::vector<double>& a,
                           const std::vector<double>& b);

// Uniformity of DYMU (CVPR 2022): mu = 1 - KL(L_hat || uniform) with
// L_hat_t = r_t L_t / sum_i r_i L_i, r = preference, L = task loss or error.
// 1 when preference-weighted losses are equal. REQUIRES r_t L_t >= 0, not all 0.
double Uniformity(const std::vector<double>& preference,
                  const std::vector<double>& loss);

// Hypervolume (the Lebesgue measure) of the region dominated by `points`
// (maximisation: each point dominates the box from `reference` up to it)
// and bounded below by `reference`; coordinates under the reference count
// as the reference. Exact, by slicing one dimension at a time: fine for the
// tens of points and few tasks of a controllability report.
double Hypervolume(const std::vector<std::vector<double>>& points,
                   const std::vector<double>& reference);

// Delta_m: mean over tasks of the relative change of each task's metric with
// respect to a reference, the sign flipped for lower-is-better metrics, in
// percent: 100/T * sum_t (-1)^{l_t} (M_t - M_ref_t) / M_ref_t.
double DeltaM(const std::vector<double>& value,
              const std::vector<double>& reference,
              const std::vector<bool>& higher_is_better);

}  // namespace metrics
}  // namespace slimserve

#endif  // SLIMSERVE_TOOLS_TRAIN_METRICS_H_
