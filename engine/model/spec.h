#ifndef SLIMSERVE_ENGINE_MODEL_SPEC_H_
#define SLIMSERVE_ENGINE_MODEL_SPEC_H_

// Model package: a directory with
//   spec.textproto   slimserve.v1.ModelSpec in protobuf text format
//   weights.pt       (or spec.weights_file) a LibTorch archive holding every
//                    tensor the spec implies, with the shapes it implies.
// Loading checks both and names the file and field of the first problem.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

inline constexpr char kSpecFileName[] = "spec.textproto";
inline constexpr char kDefaultWeightsFileName[] = "weights.pt";

// Checks ranges and consistency; the error names the offending field, e.g.
// "encoder.stages[1].stride: must be 1 or 2, got 3".
absl::Status ValidateModelSpec(const slimserve::v1::ModelSpec& spec);

// Reads a protobuf text-format file into `message`. NOT_FOUND (naming the
// path and `missing_hint`) when it cannot be opened; INVALID_ARGUMENT naming
// the path, the message type and the first error's line and column when it
// does not parse.
absl::Status ReadTextProto(const std::string& path,
                           google::protobuf::Message* message,
                           const std::string& missing_hint);

// Reads and validates <model_dir>/spec.textproto.
absl::StatusOr<slimserve::v1::ModelSpec> LoadModelSpec(
    const std::string& model_dir);

// Path of the weights file of a package.
std::string WeightsPath(const std::string& model_dir,
                        const slimserve::v1::ModelSpec& spec);

// Channels of a task's dense output: num_classes for segmentation, 3 for
// normals, 1 for depth and edges.
int TaskOutputChannels(const slimserve::v1::TaskSpec& task);

// The spec of the shipped default model: 96x128 RGB input, 4 NYUD-v2 tasks
// (semseg, depth, normals, edges), widths {0.25, 0.5, 0.75, 1.0}.
slimserve::v1::ModelSpec DefaultModelSpec();

// A tiny spec with the same four tasks for fast tests (32x48 input).
slimserve::v1::ModelSpec TinyModelSpec();

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_MODEL_SPEC_H_
