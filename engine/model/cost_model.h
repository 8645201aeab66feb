#ifndef SLIMSERVE_ENGINE_MODEL_COST_MODEL_H_
#define SLIMSERVE_ENGINE_MODEL_COST_MODEL_H_

// Analytic cost of every sub-architecture of a supernet.
//
// Cost is additive: cost(config) = encoder(we) + sum over active tasks t of
// decoder_t(we, wd_t). Units are multiply-accumulates (MACs) of convolutions
// (BatchNorm, activations, additions and bilinear resizing are not counted:
// they are a few percent and do not change with the choice of widths in a way
// that matters to planning). FLOPs = 2 * MACs.

#include <vector>

#include "absl/status/statusor.h"
#include "engine/types.h"  // MacsToMflops
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

struct CostTable {
  // encoder_macs[we]: encoder at encoder width index we.
  std::vector<double> encoder_macs;
  // decoder_macs[t][we][wd]: decoder of task t (index in the spec) reading an
  // encoder of width index we, at decoder width index wd; includes the head.
  std::vector<std::vector<std::vector<double>>> decoder_macs;

  // Cost of every task at full width.
  double FullMacs() const;
  // Cost of the given tasks (indices) at full width.
  double FullMacs(const std::vector<int>& tasks) const;
};

// Channels kept by width multiplier `width` of a layer with `channels`:
// round(width * channels), at least 1. Monotone in width, so narrower
// configurations use a prefix of a wider one's channels.
int SlimChannels(double width, int channels);

// REQUIRES: spec passed ValidateModelSpec().
CostTable ComputeCostTable(const slimserve::v1::ModelSpec& spec);


}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_MODEL_COST_MODEL_H_
