#ifndef SLIMSERVE_ENGINE_LATENCY_MODEL_H_
#define SLIMSERVE_ENGINE_LATENCY_MODEL_H_

// Latency measured at several batch sizes, and the model the scheduler and
// admission predict batch compute with. Pure logic, no LibTorch: the
// measurement itself is engine/latency_profiler.h.
//
// Each component (an encoder width; a task's decoder at an (encoder width,
// decoder width)) is modelled as linear in the number of rows it runs on:
//   ms(b) = fixed + per_item * b,
// fitted by least squares to the measured batch sizes (exact with two; with
// only batch 1 measured, fixed = 0). A batch of requests sharing an encoder
// width runs the encoder once on all of them and each (task, decoder width)
// once on its sub-batch, so its compute is
//   encoder(we).At(n) + sum over (task, wd) groups of decoder(t, we, wd).At(k).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/planner.h"
#include "slimserve/v1/model_spec.pb.h"
#include "slimserve/v1/profile.pb.h"

namespace slimserve {

// Tables at ascending batch sizes; the first is at batch size 1 (the one the
// planner uses: a request's latency alone).
struct LatencyProfile {
  std::vector<LatencyTable> tables;
};

// INVALID_ARGUMENT naming the table and field: at least one table, the first
// at batch 1, batch sizes strictly ascending, each table valid for `spec`.
absl::Status ValidateLatencyProfile(const LatencyProfile& profile,
                                    const slimserve::v1::ModelSpec& spec);

// A comma-split flag value (e.g. --latency_batch_sizes=1,2,4,8) as integers;
// INVALID_ARGUMENT "--FLAG: "x" is not an integer" otherwise. The engine
// checks the order and range (Engine::Options.latency_batch_sizes).
absl::StatusOr<std::vector<int>> ParseBatchSizes(
    const std::vector<std::string>& values, const std::string& flag);

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

  // Network compute of one batch at encoder width `we`, ms.
  double BatchMs(int we, const std::vector<BatchItem>& items) const;

  // The batching policy's linear view of a queue at width `we` holding
  // `items`: fixed = encoder and every (task, decoder width) group present;
  // per_item = encoder plus the items' mean decoder slopes. Exact for a
  // batch of all of `items`; an upper bound on the fixed part of a smaller
  // batch of them.
  LinearMs QueueModel(int we, const std::vector<BatchItem>& items) const;

 private:
  std::vector<LinearMs> encoder_;                            // [we]
  std::vector<std::vector<std::vector<LinearMs>>> decoder_;  // [t][we][wd]
};

// Cache files: LatencyProfileProto text.
slimserve::v1::LatencyProfileProto LatencyProfileToProto(
    const LatencyProfile& profile, const slimserve::v1::ModelSpec& spec);
// INVALID_ARGUMENT (naming the field) when the proto does not fit `spec`.
absl::StatusOr<LatencyProfile> LatencyProfileFromProto(
    const slimserve::v1::LatencyProfileProto& proto,
    const slimserve::v1::ModelSpec& spec);

// Reads a cache written for `key`. NOT_FOUND when the file is missing;
// FAILED_PRECONDITION when it was measured under another key (the message
// names both); INVALID_ARGUMENT when it does not parse or fit `spec`.
absl::StatusOr<LatencyProfile> ReadLatencyCache(
    const std::string& path, const std::string& key,
    const slimserve::v1::ModelSpec& spec);
// Writes atomically (temporary file + rename).
absl::Status WriteLatencyCache(const std::string& path, const std::string& key,
                               const LatencyProfile& profile,
                               const slimserve::v1::ModelSpec& spec,
                               double measure_seconds);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_LATENCY_MODEL_H_
