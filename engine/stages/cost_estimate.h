#ifndef SLIMSERVE_ENGINE_STAGES_COST_ESTIMATE_H_
#define SLIMSERVE_ENGINE_STAGES_COST_ESTIMATE_H_

// How long the stages' work takes, learnt as it runs: an exponential moving
// average of the time per pixel, per kind of source (decode costs differ a
// lot between PNG, JPEG and raw pixels), and of the time per output element
// of post-processing. The stage pool orders jobs by it, and admission counts
// the pool's backlog with it. Estimates only; nothing depends on them for
// correctness.
//
// Thread-safety: every method may be called from any thread.

#include <array>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/stages/preprocess.h"

namespace slimserve {

class StageCostEstimate {
 public:
  StageCostEstimate();

  absl::Duration Preprocess(const ImageWork& work) const;
  void RecordPreprocess(const ImageWork& work, absl::Duration took);

  // `elements`: of the outputs to encode (channels x height x width, summed
  // over tasks).
  absl::Duration Postprocess(int64_t elements) const;
  void RecordPostprocess(int64_t elements, absl::Duration took);

 private:
  // Weight of the newest sample.
  static constexpr double kAlpha = 0.2;
  mutable absl::Mutex mu_;
  std::array<double, 4> pre_ns_per_pixel_ ABSL_GUARDED_BY(mu_);  // [source]
  double post_ns_per_element_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_STAGES_COST_ESTIMATE_H_
