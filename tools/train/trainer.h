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
  // Random configurations draw each width (encoder and each decoder) with
  // weight `end_width_weight` for the narrowest and the widest and 1 for
  // every inner width. 1 is uniform. The sandwich already trains both ends
  // every step, so < 1 evens out how often each width is trained; 0 (inner
  // widths only) leaves every configuration that mixes an end width with an
  // inner one untrained (e.g. encoder 0.25 with decoder 0.5: depth RMSE 1.6
  // vs 0.9 on the diagonal after 600 steps; models/default/README.md).
  double end_width_weight = 1.0;
  // Per configuration, each task's decoder also runs at this many other
  // decoder widths (distinct, uniform) on the same encoder features, with
  // task and distillation losses. 0 = off. The sandwich trains an inner
  // (encoder, decoder) width pair on ~1 step in 8 against every step for
  // the ends; this adds pairs for decoder passes only, no encoder pass. 1
  // made depth monotone in the decoder width (models/default/README.md) at
  // ~1.5x the time per step.
  int extra_decoder_widths = 1;
  double distill_weight = 1.0;
  // Off by default, as in the shipped recipe: at 600 steps CIKD made the
  // narrowest configuration worse (models/default/README.md, the ablation).
  bool cikd = false;
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
  // When set, LibTorch's profiler records `profile_steps` steps (after the
  // first, which warms caches up) into this chrome-trace file
  // (tools/profile_summary.py sums it by operator).
  std::string profile_path;
  int profile_steps = 3;
};

absl::Status Train(const TrainerOptions& options);

// One random sandwich configuration: index of the encoder width in [0,
// num_we) and of each of `num_tasks` decoder widths in [0, num_wd). Where
// n > 2, indices 0 and n-1 have weight `end_width_weight`, the others 1.
struct SampledConfig {
  int we = 0;
  std::vector<int> wd;
};
SampledConfig SampleRandomConfig(std::mt19937_64& rng, int num_we, int num_wd,
                                 int num_tasks, double end_width_weight);

// Up to `k` distinct width indices in [0, n) other than `own`, uniformly.
std::vector<int> SampleOtherWidths(std::mt19937_64& rng, int n, int own, int k);

}  // namespace train
}  // namespace slimserve

#endif  // SLIMSERVE_TOOLS_TRAIN_TRAINER_H_
