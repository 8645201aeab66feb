#ifndef SLIMSERVE_ENGINE_STAGES_POSTPROCESS_H_
#define SLIMSERVE_ENGINE_STAGES_POSTPROCESS_H_

// Post-processing: a task's head output becomes what the client asked
// for. The network stops at each head's raw output, at the head's
// resolution; here it is resized (bilinearly, as the decoders' final
// upsampling) to the output size, activated per task kind (as
// SupernetImpl::Activate: logits stay logits, depth softplus, normals to
// unit length, edges sigmoid) and encoded (kernels/postprocess.h has the
// arithmetic):
//   RAW  the float32 CHW tensor's bytes;
//   PNG  segmentation: 8-bit class ids (argmax of the resized logits, fused);
//        depth: 16-bit millimetres; normals: 8-bit RGB; edges: 8-bit
//        probability.
// Moving the upsampling here takes the one step whose cost does not shrink
// with the widths out of the network, and lets the outputs come at any size
// (OutputSize) for the price of one resize.
// Pure functions, safe from any thread; the engine runs them on its stage
// pool after the batch, never on the executor.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/stages/preprocess.h"
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

// The zlib level of a task's PNG output. `configured` in [0, 9] applies
// to every kind; -1 chooses per kind, by measurement
// (postprocess_benchmark; tests/benchmarks/README.md): 1 for 8-bit
// single-channel maps (class ids, edges: deflate is quick there and shrinks
// them 10-60x), 0, stored, for 16-bit depth and RGB normals (deflate takes
// 7-14x as long there and saves 2.5x).
int PngLevelFor(slimserve::v1::TaskKind kind, int configured);

// Encodes one task's finished (resized, activated) output, [channels,
// height, width] float32 at `chw`; PNGs at zlib level `png_level` (0-9).
// INVALID_ARGUMENT when the channels do not fit the task's kind; INTERNAL
// when PNG encoding fails.
absl::StatusOr<TaskOutput> EncodeOutput(const slimserve::v1::TaskSpec& task,
                                        OutputFormat format, const float* chw,
                                        int64_t channels, int64_t height,
                                        int64_t width, int png_level = 1);

// Finishes one task's head output, [channels, h, w] float32 at `head`: the
// resize to out_h x out_w, the activation and EncodeOutput's encoding (for
// PNG edges the exactly rounded sigmoid of EdgeLogitsToU8Cpu, which can
// differ by one level from rounding a float sigmoid near a boundary).
// REQUIRES: all sizes > 0.
absl::StatusOr<TaskOutput> FinishOutput(const slimserve::v1::TaskSpec& task,
                                        OutputFormat format, const float* head,
                                        int64_t channels, int64_t h, int64_t w,
                                        int out_h, int out_w,
                                        int png_level = 1);

// FinishOutput in two halves, so that a device can do the first
// (ModelRunner::FinishesOnDevice): FinishSamples turns the head output into
// the samples the response carries or the PNG encodes, EncodeFinished makes
// the TaskOutput of them. FinishOutput(...) == EncodeFinished(FinishSamples).
//
// The bytes of a task's finished samples at out_h x out_w:
//   RAW  float32 [channels, out_h, out_w], activated;
//   PNG  segmentation uint8 class ids [out_h, out_w]; depth uint16
//        millimetres (host byte order); normals uint8 RGB [out_h, out_w, 3];
//        edges uint8 [out_h, out_w].
int64_t FinishedBytes(const slimserve::v1::TaskSpec& task, OutputFormat format,
                      int out_h, int out_w);

// Writes FinishedBytes(task, format, out_h, out_w) bytes at `samples`.
// INVALID_ARGUMENT when the channels do not fit the task's kind.
// REQUIRES: all sizes > 0.
absl::Status FinishSamples(const slimserve::v1::TaskSpec& task,
                           OutputFormat format, const float* head,
                           int64_t channels, int64_t h, int64_t w, int out_h,
                           int out_w, void* samples);

// The TaskOutput of finished samples (FinishSamples', or a device's that
// computes the same): RAW carries the bytes as they are, PNG encodes them at
// zlib level `png_level`. INTERNAL when `size` is not FinishedBytes (a
// runner's fault) or PNG encoding fails.
absl::StatusOr<TaskOutput> EncodeFinished(const slimserve::v1::TaskSpec& task,
                                          OutputFormat format,
                                          const void* samples, int64_t size,
                                          int out_h, int out_w,
                                          int png_level = 1);

// The activation of SupernetImpl::Activate, in place, on a finished-size
// [channels, height, width] map of a task of `kind`.
void ActivateInPlace(slimserve::v1::TaskKind kind, float* chw,
                     int64_t channels, int64_t height, int64_t width);

struct OutputShape {
  int height = 0;
  int width = 0;
};

// The size `request`'s outputs come at: the model's input size, or with
// OutputSize::kInput the image's (`work`, from its header; the model's when
// the header cannot be read, as the request then fails to decode).
// INVALID_ARGUMENT naming output_size when the outputs of the requested
// tasks, in their formats, would take more than `max_bytes` (RAW: 4 bytes a
// channel and pixel; PNG: its samples before compression).
absl::StatusOr<OutputShape> OutputShapeFor(const InferRequest& request,
                                           const ImageWork& work,
                                           const slimserve::v1::ModelSpec& spec,
                                           int64_t max_bytes);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_STAGES_POSTPROCESS_H_
