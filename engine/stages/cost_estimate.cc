#include "engine/stages/cost_estimate.h"

#include <algorithm>

namespace slimserve {
namespace {

// A source whose pixels are unknown (unreadable header) counts as this many:
// decoding it fails fast, but its cost is not known to be small.
constexpr int64_t kUnknownPixels = 640 * 480;

// Starting points, ns per pixel, measured on the 2-core build machine
// (480x640 inputs); the averages move to this machine's numbers within a
// few requests.
constexpr double kInitialPreNs[] = {/*raw=*/2, /*png=*/12, /*jpeg=*/6,
                                    /*unknown=*/12};
constexpr double kInitialPostNs = 4;

double Ns(absl::Duration d) { return absl::ToDoubleNanoseconds(d); }

}  // namespace

StageCostEstimate::StageCostEstimate()
    : pre_ns_per_pixel_{kInitialPreNs[0], kInitialPreNs[1], kInitialPreNs[2],
                        kInitialPreNs[3]},
      post_ns_per_element_(kInitialPostNs) {}

absl::Duration StageCostEstimate::Preprocess(const ImageWork& work) const {
  const int64_t pixels = work.pixels > 0 ? work.pixels : kUnknownPixels;
  absl::MutexLock lock(&mu_);
  return absl::Nanoseconds(pre_ns_per_pixel_[static_cast<int>(work.source)] *
                           static_cast<double>(pixels));
}

void StageCostEstimate::RecordPreprocess(const ImageWork& work,
                                         absl::Duration took) {
  if (work.pixels <= 0) return;
  const double sample = Ns(took) / static_cast<double>(work.pixels);
  absl::MutexLock lock(&mu_);
  double& e = pre_ns_per_pixel_[static_cast<int>(work.source)];
  e = (1 - kAlpha) * e + kAlpha * sample;
}

absl::Duration StageCostEstimate::Postprocess(int64_t elements) const {
  absl::MutexLock lock(&mu_);
  return absl::Nanoseconds(post_ns_per_element_ *
                           static_cast<double>(std::max<int64_t>(elements, 0)));
}

void StageCostEstimate::RecordPostprocess(int64_t elements,
                                          absl::Duration took) {
  if (elements <= 0) return;
  const double sample = Ns(took) / static_cast<double>(elements);
  absl::MutexLock lock(&mu_);
  post_ns_per_element_ = (1 - kAlpha) * post_ns_per_element_ + kAlpha * sample;
}

}  // namespace slimserve
