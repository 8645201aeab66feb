#ifndef SLIMSERVE_ENGINE_BATCHING_BATCH_COST_MODEL_H_
#define SLIMSERVE_ENGINE_BATCHING_BATCH_COST_MODEL_H_

// The network compute of a batch, predicted from the latency measured at
// several batch sizes (engine/model/latency_table.h). The scheduler and
// admission use it; pure, no LibTorch.
//
// Each component (an encoder width; a task's decoder at an (encoder width,
// decoder width)) is modelled as linear in the number of rows it runs on:
//   ms(b) = fixed + per_item * b,
// fitted by least squares to the measured batch sizes (exact with two; with
// only batch 1 measured, fixed = 0). A batch of requests sharing an encoder
// width runs the encoder once on all of them and each (task, decoder width)
// once on its sub-batch, so its compute is
//   encoder(we).At(n) + sum over (task, wd) groups of decoder(t, we, wd).At(k)
// less what fusion saves: tasks at one decoder width on the same rows run
// as one fused pass, each beyond the first saving fusion_saving(we, wd).At(k)
// (latency_table.h FusionSavingMs, fitted like the components).

#include <vector>

#include "engine/model/latency_table.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

struct LinearMs {
  double fixed = 0;
  double per_item = 0;
  // Never negative: a fit may extrapolate below zero for tiny components.
  double At(int rows) const;
};

// Least-squares line through (batch size, ms). With one point: through the
// origin. A negative slope (timing noise) becomes flat at the mean.
// REQUIRES: batch_sizes.size() == ms.size() >= 1.
LinearMs FitLinear(const std::vector<int>& batch_sizes,
                   const std::vector<double>& ms);

// One request's widths as the batch model sees them.
struct BatchItem {
  std::vector<int> tasks;           // task indices
  std::vector<int> decoder_widths;  // per entry of `tasks`
};

class BatchLatencyModel {
 public:
  // REQUIRES: ValidateLatencyProfile(profile, spec).ok().
  BatchLatencyModel(const LatencyProfile& profile,
                    const slimserve::v1::ModelSpec& spec);

  const LinearMs& encoder(int we) const { return encoder_[we]; }
  const LinearMs& decoder(int task, int we, int wd) const {
    return decoder_[task][we][wd];
  }
  const LinearMs& fusion_saving(int we, int wd) const {
    return fusion_saving_[we][wd];
  }

  // Network compute of one batch at encoder width `we`, ms.
  double BatchMs(int we, const std::vector<const BatchItem*>& items) const;

  // The batching policy's linear view of a queue at width `we` holding
  // `items`: fixed = encoder and every (task, decoder width) group present;
  // per_item = encoder plus the items' mean decoder slopes. Exact for a
  // batch of all of `items` without fusion; an upper bound on the fixed
  // part of a smaller batch of them (fusion only lowers it).
  LinearMs QueueModel(int we, const std::vector<const BatchItem*>& items) const;

 private:
  std::vector<LinearMs> encoder_;                            // [we]
  std::vector<std::vector<std::vector<LinearMs>>> decoder_;  // [t][we][wd]
  std::vector<std::vector<LinearMs>> fusion_saving_;         // [we][wd]
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_BATCHING_BATCH_COST_MODEL_H_
