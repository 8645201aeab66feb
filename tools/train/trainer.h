#ifndef SLIMSERVE_TOOLS_TRAIN_TRAINER_H_
#define SLIMSERVE_TOOLS_TRAIN_TRAINER_H_

// slimtrain: trains the supernet of a model spec on procedural scenes with
// the sandwich rule, inplace distillation and Configuration-Invariant
// Knowledge Distillation (CIKD), then recalibrates the per-configuration
// BatchNorm statistics and writes a model package.
//
// Each step, on one batch:
//   1. the widest configuration learns from the ground truth; its outputs and
//      encoder features (detached) become the teacher;
//   2. the narrowest configuration and `num_random_configs` random ones (an
//      encoder width and an independent width per decoder) learn from the
//      ground truth plus `distill_weight` x distillation towards the teacher's
//      outputs, plus (unless cikd is off) `cikd_weight` x the mean squared
//      distance of each encoder stage's features to the teacher's on the
//      shared channels;
//   3. one optimiser step on the summed gradients.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "slimserve/v1/model_spec.pb.h"
#include "tools/datagen/scene.h"

namespace slimserve {
namespace train {

struct TrainerOptions {
  slimserve::v1::ModelSpec spec;
  // Output directory: checkpoint.pt while training, then the model package
  // (spec.textproto + weights.pt). Required.
  std::string out_dir;

  // --- What is optimised.
  int steps = 3000;
  int batch_size = 16;
  double learning_rate = 2e-3;  // AdamW, cosine decay after warm-up
  int warmup_steps = 100;
  double weight_decay = 1e-4;
  int num_random_configs = 2;  // sandwich: widest + narrowest + these
  // Random configurations draw every width (encoder and each decoder) from
  // the inner widths only, when there are more than two. Off by default:
  // tried against depth's non-monotone decoder widths, it leaves every
  // configuration that mixes an end width with an inner one untrained (e.g.
  // encoder 0.25 with decoder 0.5: depth RMSE 1.6 vs 0.9 on the diagonal
  // after 600 steps; models/default/README.md, "CIKD ablation").
  bool inner_random_widths = false;
  double distill_weight = 1.0;
  bool cikd = true;
  double cikd_weight = 1.0;

  // --- Data: sample i of step k is RenderSample(scene, data_seed, k*B + i).
  datagen::SceneOptions scene;
  uint64_t data_seed = 1;
  // Seeds the weights' initialisation and the configuration sampling.
  uint64_t seed = 1;

  // --- Machinery.
  int checkpoint_every = 250;  // steps; 0 = only at the end
  bool resume = true;          // continue from out_dir/checkpoint.pt if there
  int num_threads = 0;         // LibTorch intra-op threads; 0 = all cores
  int data_threads = 1;        // threads rendering the next batch
  int recalibration_batches = 20;  // per configuration, after training
  bool progress = true;        // progress bar on stderr
};

absl::Status Train(const TrainerOptions& options);

// One random sandwich configuration: index of the encoder width in [0,
// num_we) and of each of `num_tasks` decoder widths in [0, num_wd). With
// `inner`, indices come from [1, n-1) wherever n > 2.
struct SampledConfig {
  int we = 0;
  std::vector<int> wd;
};
SampledConfig SampleRandomConfig(std::mt19937_64& rng, int num_we, int num_wd,
                                 int num_tasks, bool inner);

}  // namespace train
}  // namespace slimserve

#endif  // SLIMSERVE_TOOLS_TRAIN_TRAINER_H_
