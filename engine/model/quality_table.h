#ifndef SLIMSERVE_ENGINE_MODEL_QUALITY_TABLE_H_
#define SLIMSERVE_ENGINE_MODEL_QUALITY_TABLE_H_

// Predicted quality of every sub-architecture, the planners' objective.
//
// q(t, we, wd) is task t's normalised quality (1.0 at full width, > 0, about
// 1 or less) with the encoder at width index we and t's decoder at width
// index wd. By the design of the supernet it depends only on those two
// widths, so a plan's objective is additive:
//
//   objective = sum over active tasks t of weight_t * q(t, we, wd_t).
//
// The table comes from the model package's profile.textproto (a
// slimserve.v1.ProfileTable written by the evaluator), or, for packages that
// have none yet (untrained, or before profiling), from a documented synthetic
// formula, so that the server plans sensibly before training.
//
// A QualityTable is immutable after construction; it is safe to share
// between threads.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slimserve/v1/model_spec.pb.h"
#include "slimserve/v1/profile.pb.h"

namespace slimserve {

inline constexpr char kProfileFileName[] = "profile.textproto";

// Largest accepted normalised quality. Values are relative to full width, so
// anything far above 1 is a unit mix-up in the profile, not a measurement.
inline constexpr double kMaxNormalizedQuality = 100.0;

class QualityTable {
 public:
  // The synthetic default, the same for every task:
  //
  //   q(we, wd) = 1 - 0.3 * (1 - we)^1.5 - 0.2 * (1 - wd)^1.5
  //
  // where we, wd are the width multipliers (not indices) from the spec. It is
  // 1 at full width, strictly increasing in both widths, concave-ish (the
  // first cuts cost little, deep cuts cost more), and the encoder matters
  // more than a decoder (it feeds every task). At widths 0.25 it gives about
  // 0.675. REQUIRES: spec passed ValidateModelSpec().
  static QualityTable Synthetic(const slimserve::v1::ModelSpec& spec);

  // Builds the table from a profile. Every (task, encoder width index,
  // decoder width index) of the spec must appear exactly once, with a finite
  // normalized_quality in (0, kMaxNormalizedQuality]; the profile's
  // model_name and model_version, when set, must match the spec's. Errors are
  // INVALID_ARGUMENT and name the entry, e.g.
  //   "entries[7]: duplicate of entries[2] (task \"depth\", encoder width
  //    index 1, decoder width index 2)".
  // REQUIRES: spec passed ValidateModelSpec().
  static absl::StatusOr<QualityTable> FromProfile(
      const slimserve::v1::ModelSpec& spec,
      const slimserve::v1::ProfileTable& profile);

  // values[t][we][wd]; every row the same length, at least one of each, all
  // values finite in (0, kMaxNormalizedQuality]. For tests and tools.
  static absl::StatusOr<QualityTable> FromValues(
      std::vector<std::vector<std::vector<double>>> values,
      std::string source = "values");

  // REQUIRES: indices in range.
  double at(int task, int encoder_width, int decoder_width) const {
    return values_[(task * num_encoder_widths_ + encoder_width) *
                       num_decoder_widths_ +
                   decoder_width];
  }

  int num_tasks() const { return num_tasks_; }
  int num_encoder_widths() const { return num_encoder_widths_; }
  int num_decoder_widths() const { return num_decoder_widths_; }

  // True for Synthetic(): predictions are not measurements.
  bool synthetic() const { return synthetic_; }
  // Where the numbers come from: "synthetic", or the profile's `source`
  // field (or "profile" when it is empty), or FromValues' argument.
  const std::string& source() const { return source_; }

 private:
  QualityTable() = default;

  int num_tasks_ = 0;
  int num_encoder_widths_ = 0;
  int num_decoder_widths_ = 0;
  std::vector<double> values_;  // [(t * E + we) * D + wd]
  bool synthetic_ = false;
  std::string source_;
};

// Reads <model_dir>/profile.textproto. NOT_FOUND when the file does not
// exist (the package has no profile yet); INVALID_ARGUMENT naming the file,
// line and column when it does not parse.
absl::StatusOr<slimserve::v1::ProfileTable> LoadProfileTable(
    const std::string& model_dir);

// LoadProfileTable + QualityTable::FromProfile; errors name the file.
// NOT_FOUND when the package has no profile.
absl::StatusOr<QualityTable> LoadQualityTable(
    const std::string& model_dir, const slimserve::v1::ModelSpec& spec);

// LoadQualityTable, falling back to QualityTable::Synthetic(spec) only when
// the profile is absent; a present but broken profile is still an error.
absl::StatusOr<QualityTable> LoadQualityTableOrSynthetic(
    const std::string& model_dir, const slimserve::v1::ModelSpec& spec);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_MODEL_QUALITY_TABLE_H_
