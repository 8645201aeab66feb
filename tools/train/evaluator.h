#ifndef SLIMSERVE_TOOLS_TRAIN_EVALUATOR_H_
#define SLIMSERVE_TOOLS_TRAIN_EVALUATOR_H_

// The evaluator/profiler: measures every task's metrics for every (encoder
// width, decoder width) of a model package on a held-out set of procedural
// scenes, and builds the package's profile table from them.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/types.h"
#include "slimserve/v1/model_spec.pb.h"
#include "slimserve/v1/profile.pb.h"
#include "tools/datagen/scene.h"

namespace slimserve {
namespace train {

struct EvalOptions {
  std::string model_dir;
  int num_images = 256;
  // Disjoint from training (data seed 1) and BN recalibration streams.
  uint64_t data_seed = 7777;
  datagen::SceneOptions scene;
  int batch_size = 32;
  int num_threads = 0;
  // The network's form, as the server's Engine::Options (defaults equal):
  // quality is measured on what is served.
  std::string weights = "folded";
  std::string precision = "float32";
  bool channels_last = true;
  int64_t xnnpack_max_macs = NetworkOptions{}.xnnpack_max_macs;
  bool fuse_decoders = NetworkOptions{}.fuse_decoders;
};

// Metrics of one task at one (we, wd).
struct TaskMetrics {
  std::string metric;  // primary metric name
  double value = 0;
  bool higher_is_better = true;
  std::map<std::string, double> extra;
};

struct EvalResult {
  slimserve::v1::ModelSpec spec;
  // metrics[task][we][wd]
  std::vector<std::vector<std::vector<TaskMetrics>>> metrics;
  // Trivial baselines on the same images, per task (primary metric): most
  // frequent class (mIoU), mean depth (RMSE), mean normal (angle), all-edge
  // or no-edge (F-score).
  std::vector<TaskMetrics> baselines;
  int num_images = 0;
};

absl::StatusOr<EvalResult> Evaluate(const EvalOptions& options);

// Profile table with normalised quality (relative to full width).
slimserve::v1::ProfileTable MakeProfile(const EvalResult& result,
                                        const std::string& source);

// Delta_m (percent) of the configuration (we, wd per task) relative to full
// width, from the primary metrics.
double ConfigDeltaM(const EvalResult& result, int we,
                    const std::vector<int>& wd);

// Machine-readable report: every entry, the baselines, and Delta_m of the
// uniform configurations (we, same wd for every task).
std::string ReportJson(const EvalResult& result);

}  // namespace train
}  // namespace slimserve

#endif  // SLIMSERVE_TOOLS_TRAIN_EVALUATOR_H_
