#ifndef SLIMSERVE_ENGINE_MODEL_LATENCY_TABLE_H_
#define SLIMSERVE_ENGINE_MODEL_LATENCY_TABLE_H_

// Latency of every configuration, measured on the serving device at one or
// more batch sizes (engine/runtime measures it; this file holds the numbers,
// checks them and stores them). Pure data and file I/O: no LibTorch.
//
// Latency is additive like the cost (cost_model.h):
//   predicted_ms = fixed_ms + encoder_ms[we] + sum_t decoder_ms[t][we][wd_t]
// less, where the network fuses decoders that share a width into one pass
// (engine/runtime/supernet.h FusedDecoder), what fusing saves: k decoders at
// one width cost their sum minus (k - 1) x FusionSavingMs(we, wd).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "slimserve/v1/model_spec.pb.h"
#include "slimserve/v1/profile.pb.h"

namespace slimserve {

// One batch size's measurement.
struct LatencyTable {
  int batch_size = 1;  // the batch size the numbers were measured at
  // Per request, outside the network; 0 as measured (pre- and
  // post-processing run in their own stage, engine/stages).
  double fixed_ms = 0;
  std::vector<double> encoder_ms;                            // [we]
  std::vector<std::vector<std::vector<double>>> decoder_ms;  // [t][we][wd]
  // [we][wd]: every task's decoder at width wd run as one fused pass; empty
  // where the network runs each decoder on its own.
  std::vector<std::vector<double>> fused_decoder_ms;
};

// INVALID_ARGUMENT naming the field: dimensions must match the spec, every
// number finite and >= 0, batch_size >= 1.
absl::Status ValidateLatencyTable(const LatencyTable& latency,
                                  const slimserve::v1::ModelSpec& spec);

// What running one more decoder at (we, wd) in a fused pass saves against
// running it alone: fusing all T tasks saves sum_t decoder_ms - fused, and
// each of the T - 1 decoders beyond the first is taken to save an equal share
// of that (the per-call overhead fusion removes is much the same for every
// task). 0 without fused_decoder_ms or with one task; clamped to
// [0, min_t decoder_ms[t][we][wd]] so no prediction drops below the slowest
// single decoder.
double FusionSavingMs(const LatencyTable& latency, int encoder_width,
                      int decoder_width);

// The predicted latency of a configuration (the formula above).
// REQUIRES: indices in range; decoder_widths.size() == tasks.size().
double PredictLatencyMs(const LatencyTable& latency,
                        const std::vector<int>& tasks, int encoder_width,
                        const std::vector<int>& decoder_widths);

// Tables at ascending batch sizes; the first is at batch size 1 (the one the
// planner uses: a request's latency alone).
struct LatencyProfile {
  std::vector<LatencyTable> tables;
};

// INVALID_ARGUMENT naming the table and field: at least one table, the first
// at batch 1, batch sizes strictly ascending, each table valid for `spec`.
absl::Status ValidateLatencyProfile(const LatencyProfile& profile,
                                    const slimserve::v1::ModelSpec& spec);

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

#endif  // SLIMSERVE_ENGINE_MODEL_LATENCY_TABLE_H_
