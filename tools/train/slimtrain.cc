// slimtrain: trains a slimmable multi-task supernet on procedural scenes and
// writes a model package. See tools/train/trainer.h for the method and
// models/default/README.md for the command that made the shipped model.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "engine/model/spec.h"
#include "engine/types.h"
#include "tools/train/trainer.h"

ABSL_FLAG(std::string, spec, "default",
          "\"default\", \"tiny\", or a directory holding a spec.textproto");
ABSL_FLAG(std::string, out, "", "Output directory (checkpoint + package)");
ABSL_FLAG(int, steps, 1500, "Optimiser steps (the shipped recipe)");
ABSL_FLAG(int, batch_size, 16, "Images per step");
ABSL_FLAG(double, lr, 2e-3, "Peak learning rate (AdamW, cosine decay)");
ABSL_FLAG(int, random_configs, 2,
          "Random configurations per step besides widest and narrowest");
ABSL_FLAG(double, end_width_weight, 1.0,
          "Weight of the narrowest and widest widths, against 1 for each "
          "inner width, when drawing random configurations (1 = uniform; "
          "0 leaves mixed end/inner configurations untrained)");
ABSL_FLAG(int, extra_decoder_widths, 1,
          "Per configuration, each decoder also trains at this many other "
          "widths on the same encoder features (0 = off)");
ABSL_FLAG(bool, cikd, false,
          "Configuration-invariant feature distillation (off in the shipped "
          "recipe: models/default/README.md)");
ABSL_FLAG(double, cikd_weight, 1.0, "Weight of the CIKD loss");
ABSL_FLAG(std::string, cikd_features, "post_relu",
          "Encoder features CIKD compares: post_relu (the stage outputs) or "
          "pre_relu (before the stage's last ReLU)");
ABSL_FLAG(std::string, cikd_distance, "mse",
          "CIKD's distance: mse, standardized (per-channel standardised "
          "MSE) or cosine (over channels, per pixel)");
ABSL_FLAG(std::vector<std::string>, cikd_stages, {},
          "Encoder stages CIKD distils, e.g. 2,3 (default: all)");
ABSL_FLAG(int, cikd_warmup_steps, 0, "Steps before CIKD starts");
ABSL_FLAG(int, cikd_ramp_steps, 0,
          "Steps over which CIKD's weight then rises linearly to --cikd_weight");
ABSL_FLAG(int, cikd_log_every, 0,
          "Every N steps, append per-stage CIKD distance and gradient-norm "
          "ratio (vs the task losses, on encoder weights) to OUT/cikd_log.tsv");
ABSL_FLAG(double, distill_weight, 1.0, "Weight of inplace output distillation");
ABSL_FLAG(double, depth_gradient_weight, 0,
          "Weight of an L1 on depth's finite differences added to its task "
          "loss (0 = per-pixel L1 only)");
ABSL_FLAG(uint64_t, seed, 1, "Seed of initialisation and config sampling");
ABSL_FLAG(uint64_t, data_seed, 1, "Seed of the training scenes");
ABSL_FLAG(int, checkpoint_every, 250, "Steps between checkpoints");
ABSL_FLAG(bool, resume, true, "Continue from OUT/checkpoint.pt if present");
ABSL_FLAG(int, num_threads, 0, "LibTorch threads (0 = all cores)");
ABSL_FLAG(int, data_threads, 1, "Threads rendering scenes");
ABSL_FLAG(int, recalibration_batches, 20,
          "Batches per configuration for the BatchNorm recalibration");
ABSL_FLAG(std::string, profile, "",
          "Write a LibTorch profiler trace of --profile_steps steps here");
ABSL_FLAG(int, profile_steps, 3, "Steps the --profile trace records");
ABSL_FLAG(std::string, version, "", "Version string written into the spec");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("slimtrain --out=DIR [--spec=default] [--steps=N] ...");
  absl::ParseCommandLine(argc, argv);
  slimserve::train::TrainerOptions o;
  const std::string which = absl::GetFlag(FLAGS_spec);
  if (which == "default") {
    o.spec = slimserve::DefaultModelSpec();
  } else if (which == "tiny") {
    o.spec = slimserve::TinyModelSpec();
  } else {
    auto spec = slimserve::LoadModelSpec(which);
    if (!spec.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(spec.status().message()).c_str());
      return 1;
    }
    o.spec = *std::move(spec);
  }
  if (!absl::GetFlag(FLAGS_version).empty()) {
    o.spec.set_version(absl::GetFlag(FLAGS_version));
  }
  o.out_dir = absl::GetFlag(FLAGS_out);
  o.steps = absl::GetFlag(FLAGS_steps);
  o.batch_size = absl::GetFlag(FLAGS_batch_size);
  o.learning_rate = absl::GetFlag(FLAGS_lr);
  o.num_random_configs = absl::GetFlag(FLAGS_random_configs);
  o.end_width_weight = absl::GetFlag(FLAGS_end_width_weight);
  o.extra_decoder_widths = absl::GetFlag(FLAGS_extra_decoder_widths);
  o.cikd = absl::GetFlag(FLAGS_cikd);
  o.cikd_weight = absl::GetFlag(FLAGS_cikd_weight);
  {
    auto features = slimserve::train::ParseCikdFeatures(absl::GetFlag(FLAGS_cikd_features));
    auto distance = slimserve::train::ParseCikdDistance(absl::GetFlag(FLAGS_cikd_distance));
    // Integers of a comma-separated flag (range checked by Train).
    auto stages = slimserve::ParseBatchSizes(absl::GetFlag(FLAGS_cikd_stages),
                                             "cikd_stages");
    for (const absl::Status& st :
         {features.status(), distance.status(), stages.status()}) {
      if (!st.ok()) {
        std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
        return 1;
      }
    }
    o.cikd_features = *features;
    o.cikd_distance = *distance;
    o.cikd_stages = *std::move(stages);
  }
  o.cikd_warmup_steps = absl::GetFlag(FLAGS_cikd_warmup_steps);
  o.cikd_ramp_steps = absl::GetFlag(FLAGS_cikd_ramp_steps);
  o.cikd_log_every = absl::GetFlag(FLAGS_cikd_log_every);
  o.distill_weight = absl::GetFlag(FLAGS_distill_weight);
  o.depth_gradient_weight = absl::GetFlag(FLAGS_depth_gradient_weight);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.data_seed = absl::GetFlag(FLAGS_data_seed);
  o.checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  o.resume = absl::GetFlag(FLAGS_resume);
  o.num_threads = absl::GetFlag(FLAGS_num_threads);
  o.data_threads = absl::GetFlag(FLAGS_data_threads);
  o.recalibration_batches = absl::GetFlag(FLAGS_recalibration_batches);
  o.profile_path = absl::GetFlag(FLAGS_profile);
  o.profile_steps = absl::GetFlag(FLAGS_profile_steps);
  const absl::Status st = slimserve::train::Train(o);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "wrote %s\n", o.out_dir.c_str());
  return 0;
}
