#ifndef SLIMSERVE_ENGINE_STAGES_POSTPROCESS_H_
#define SLIMSERVE_ENGINE_STAGES_POSTPROCESS_H_

// Post-processing: a task's dense float32 output becomes what the client
// asked for, per task kind (kernels/postprocess.h has the arithmetic):
//   RAW  the float32 CHW tensor's bytes;
//   PNG  segmentation: 8-bit class ids; depth: 16-bit millimetres; normals:
//        8-bit RGB; edges: 8-bit probability.
// Pure functions, safe from any thread; the engine runs them on its stage
// pool after the batch, never on the executor.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/types.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

// INVALID_ARGUMENT when `formats` names a task the model does not have:
//   output_formats: unknown task "sky" (the model has: semseg, depth)
// (the name escaped and bounded).
absl::Status ValidateOutputFormats(
    const std::map<std::string, OutputFormat>& formats,
    const slimserve::v1::ModelSpec& spec);

// The format of `task`'s output for `request` (its entry in
// output_formats, else the default).
OutputFormat FormatFor(const InferRequest& request, const std::string& task);

// Encodes one task's output, [channels, height, width] float32 at `chw`.
// INVALID_ARGUMENT when the channels do not fit the task's kind; INTERNAL
// when PNG encoding fails.
absl::StatusOr<TaskOutput> EncodeOutput(const slimserve::v1::TaskSpec& task,
                                        OutputFormat format, const float* chw,
                                        int64_t channels, int64_t height,
                                        int64_t width);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_STAGES_POSTPROCESS_H_
