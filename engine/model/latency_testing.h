#ifndef SLIMSERVE_ENGINE_MODEL_LATENCY_TESTING_H_
#define SLIMSERVE_ENGINE_MODEL_LATENCY_TESTING_H_

// Synthetic latency tables for tests.

#include <vector>

#include "engine/model/latency_table.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

// A table whose every entry is fixed + per_item * batch, with per-entry
// numbers that differ, so an index mix-up changes the result:
//   encoder_ms[we]         = 1 + we + (0.5 + we) * batch
//   decoder_ms[t][we][wd]  = 0.1 (t + 1) + 0.01 we + (0.2 + 0.1 wd + 0.05 t) * batch
LatencyTable LinearLatencyTable(const v1::ModelSpec& spec, int batch);

// LinearLatencyTable at each of `sizes`.
LatencyProfile LinearProfile(const v1::ModelSpec& spec,
                             const std::vector<int>& sizes);

// What fusing one more decoder saves in FusedProfile's tables:
//   0.05 + 0.01 we + 0.02 wd + 0.01 batch.
double LinearFusionSaving(int we, int wd, int batch);
// LinearProfile with fused_decoder_ms set so that FusionSavingMs is
// LinearFusionSaving: sum_t decoder_ms - (T - 1) x that.
LatencyProfile FusedProfile(const v1::ModelSpec& spec,
                            const std::vector<int>& sizes);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_MODEL_LATENCY_TESTING_H_
