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
//      outputs, plus (when cikd is on) `cikd_weight` x the distance
//      (`cikd_distance`) of each distilled encoder stage's features
//      (`cikd_features`, `cikd_stages`) to the teacher's on the shared
//      channels, after an optional warm-up and ramp;
//   3. one optimiser step on the summed gradients.

#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slimserve/v1/model_spec.pb.h"
#include "tools/datagen/scene.h"

namespace slimserve {
namespace train {

// Which encoder features CIKD compares (TrainerOptions::cikd_features).
enum class CikdFeatures {
  kPostRelu,  // each stage's output, what the decoders read
  kPreRelu,   // the same before the stage's final ReLU
};
// How CIKD measures a student stage against the teacher's shared channels.
enum class CikdDistance {
  kMse,           // mean squared difference of the raw features
  kStandardized,  // MSE after standardising each channel over (N, H, W),
                  // each tensor by its own statistics: shape, not scale
  kCosine,        // 1 - cosine over the channels, per pixel
};
absl::StatusOr<CikdFeatures> ParseCikdFeatures(absl::string_view name);
absl::StatusOr<CikdDistance> ParseCikdDistance(absl::string_view name);

// CIKD's distance between a student stage [N, c, H, W] and the teacher's
// stage narrowed to its first c channels (same shape, no gradient).
// L1 between the horizontal finite differences of two maps [N, 1, H, W],
// plus the same for the vertical ones: slopes and discontinuities, which a
// per-pixel L1 weighs little on this data. Blind to a constant offset.
torch::Tensor DepthGradientL1(const torch::Tensor& pred,
                              const torch::Tensor& target);

torch::Tensor CikdStageDistance(CikdDistance distance,
                                const torch::Tensor& student,
                                const torch::Tensor& teacher);

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
  // Depth's task loss adds this times the L1 of its horizontal and vertical
  // finite differences against the ground truth's (slopes and
  // discontinuities). 0 = per-pixel L1 only, the shipped recipe.
  double depth_gradient_weight = 0;
  // Off by default, as in the shipped recipe (models/default/README.md,
  // "CIKD trial": the arms, seeds and results).
  bool cikd = false;
  double cikd_weight = 1.0;
  CikdFeatures cikd_features = CikdFeatures::kPostRelu;
  CikdDistance cikd_distance = CikdDistance::kMse;
  // Encoder stages distilled (indices into spec.encoder.stages, distinct);
  // empty = all.
  std::vector<int> cikd_stages;
  // CIKD's weight is 0 for the first `cikd_warmup_steps` steps (the teacher
  // is not worth imitating yet), then rises linearly to cikd_weight over
  // `cikd_ramp_steps` (CikdWeightAt).
  int cikd_warmup_steps = 0;
  int cikd_ramp_steps = 0;
  // Every this many steps (0 = never), on the narrowest configuration,
  // appends to OUT/cikd_log.tsv per distilled stage the CIKD distance and
  // ||d distance / d encoder weights|| / ||d (task + output distillation
  // losses) / d encoder weights||, unweighted, with the weight in force:
  // how hard CIKD pulls against the tasks. Also in warm-up and with cikd
  // off (how far the features drift apart without it). One extra backward
  // pass of the narrowest configuration, plus one per stage, on those steps.
  int cikd_log_every = 0;

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

// CIKD's weight at optimiser step `step` (0-based) under `o`'s warm-up and
// ramp; 0 when CIKD is off.
double CikdWeightAt(const TrainerOptions& o, int64_t step);

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
