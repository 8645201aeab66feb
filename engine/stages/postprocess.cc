#include "engine/stages/postprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/strings.h"
#include "engine/model/spec.h"
#include "image/codec.h"
#include "kernels/dtype.h"
#include "kernels/postprocess.h"

namespace slimserve {

absl::Status ValidateOutputFormats(
    const std::map<std::string, OutputFormat>& formats,
    const slimserve::v1::ModelSpec& spec) {
  for (const auto& [task, format] : formats) {
    bool known = false;
    for (const auto& t : spec.tasks()) known |= t.name() == task;
    if (known) continue;
    std::vector<std::string> names;
    for (const auto& t : spec.tasks()) names.push_back(t.name());
    return absl::InvalidArgumentError(
        absl::StrCat("output_formats: unknown task \"", Bounded(task),
                     "\" (the model has: ", absl::StrJoin(names, ", "), ")"));
  }
  return absl::OkStatus();
}

OutputFormat FormatFor(const InferRequest& request, const std::string& task) {
  const auto it = request.output_formats.find(task);
  return it != request.output_formats.end() ? it->second
                                            : request.default_output_format;
}

namespace {

// Everything of a TaskOutput but its dtype and data.
TaskOutput OutputHeader(const slimserve::v1::TaskSpec& task,
                        OutputFormat format, int64_t channels, int64_t height,
                        int64_t width) {
  TaskOutput out;
  out.task = task.name();
  out.kind = task.kind();
  out.format = format;
  out.shape = {channels, height, width};
  return out;
}

}  // namespace

int PngLevelFor(slimserve::v1::TaskKind kind, int configured) {
  if (configured >= 0) return configured;
  return kind == slimserve::v1::TASK_KIND_DEPTH ||
                 kind == slimserve::v1::TASK_KIND_SURFACE_NORMALS
             ? 0
             : 1;
}

absl::StatusOr<TaskOutput> EncodeOutput(const slimserve::v1::TaskSpec& task,
                                        OutputFormat format, const float* chw,
                                        int64_t channels, int64_t height,
                                        int64_t width, int png_level) {
  TaskOutput out = OutputHeader(task, format, channels, height, width);
  if (channels != TaskOutputChannels(task)) {
    return absl::InvalidArgumentError(
        absl::StrCat("task ", task.name(), ": output has ", channels,
                     " channels, the task ", TaskOutputChannels(task)));
  }
  const int64_t n = height * width;
  if (format == OutputFormat::kRaw) {
    out.dtype = DType::kFloat32;
    out.data.assign(reinterpret_cast<const char*>(chw),
                    static_cast<size_t>(channels * n) * sizeof(float));
    return out;
  }
  const int h = static_cast<int>(height);
  const int w = static_cast<int>(width);
  absl::StatusOr<std::string> png;
  switch (task.kind()) {
    case slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION: {
      std::vector<uint8_t> ids(n);
      SegmentationArgmaxCpu(chw, static_cast<int>(channels), h, w, ids.data());
      out.dtype = DType::kUint8;
      png = EncodePng(ids.data(), h, w, 1, 8, png_level);
      break;
    }
    case slimserve::v1::TASK_KIND_DEPTH: {
      std::vector<uint16_t> mm(n);
      DepthToMillimetresCpu(chw, n, mm.data());
      out.dtype = DType::kUint16;
      png = EncodePng(mm.data(), h, w, 1, 16, png_level);
      break;
    }
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS: {
      std::vector<uint8_t> rgb(n * 3);
      NormalsToRgbCpu(chw, h, w, rgb.data());
      out.dtype = DType::kUint8;
      png = EncodePng(rgb.data(), h, w, 3, 8, png_level);
      break;
    }
    case slimserve::v1::TASK_KIND_EDGES: {
      std::vector<uint8_t> e(n);
      EdgesToU8Cpu(chw, n, e.data());
      out.dtype = DType::kUint8;
      png = EncodePng(e.data(), h, w, 1, 8, png_level);
      break;
    }
    default:
      return absl::InternalError(
          absl::StrCat("task ", task.name(), ": unknown kind ", task.kind()));
  }
  if (!png.ok()) return png.status();
  out.data = *std::move(png);
  return out;
}

void ActivateInPlace(slimserve::v1::TaskKind kind, float* chw,
                     int64_t channels, int64_t height, int64_t width) {
  const int64_t plane = height * width;
  switch (kind) {
    case slimserve::v1::TASK_KIND_DEPTH:
      SoftplusCpu(chw, channels * plane);  // F::softplus: beta 1, threshold 20
      return;
    case slimserve::v1::TASK_KIND_EDGES:
      SigmoidCpu(chw, channels * plane);
      return;
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS:
      // x / sqrt(max(|x|^2, 1e-24)), summed in channel order, as Activate.
      for (int64_t p = 0; p < plane; ++p) {
        float squared = chw[p] * chw[p];
        for (int64_t c = 1; c < channels; ++c) {
          squared = squared + chw[c * plane + p] * chw[c * plane + p];
        }
        const float norm = std::sqrt(std::max(squared, 1e-24f));
        for (int64_t c = 0; c < channels; ++c) chw[c * plane + p] /= norm;
      }
      return;
    default:  // segmentation logits stay logits
      return;
  }
}

int64_t FinishedBytes(const slimserve::v1::TaskSpec& task, OutputFormat format,
                      int out_h, int out_w) {
  const int64_t pixels = int64_t{out_h} * out_w;
  if (format == OutputFormat::kRaw) {
    return pixels * TaskOutputChannels(task) * int64_t{sizeof(float)};
  }
  switch (task.kind()) {
    case slimserve::v1::TASK_KIND_DEPTH:
      return pixels * int64_t{sizeof(uint16_t)};
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS:
      return pixels * 3;
    default:
      return pixels;
  }
}

namespace {

absl::Status CheckChannels(const slimserve::v1::TaskSpec& task,
                           int64_t channels) {
  if (channels == TaskOutputChannels(task)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("task ", task.name(), ": output has ", channels,
                   " channels, the task ", TaskOutputChannels(task)));
}

}  // namespace

absl::Status FinishSamples(const slimserve::v1::TaskSpec& task,
                           OutputFormat format, const float* head,
                           int64_t channels, int64_t h, int64_t w, int out_h,
                           int out_w, void* samples) {
  if (absl::Status st = CheckChannels(task, channels); !st.ok()) return st;
  const int64_t n = int64_t{out_h} * out_w;
  const int c = static_cast<int>(channels);
  const bool png = format == OutputFormat::kPng;
  if (png && task.kind() == slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION) {
    // Fused: the argmax of the resized logits, never materialised.
    SegmentationArgmaxResizeBatchCpu(head, ScalarType::kFloat32, 1, c,
                                     static_cast<int>(h), static_cast<int>(w),
                                     out_h, out_w,
                                     static_cast<uint8_t*>(samples));
    return absl::OkStatus();
  }
  // RAW: resized and activated straight into the samples.
  std::vector<float> scratch(png ? static_cast<size_t>(channels * n) : 0);
  float* values = png ? scratch.data() : static_cast<float*>(samples);
  ResizeBilinearBatchCpu(head, ScalarType::kFloat32, 1, c, static_cast<int>(h),
                         static_cast<int>(w), out_h, out_w, values);
  if (!png) {
    ActivateInPlace(task.kind(), values, channels, out_h, out_w);
    return absl::OkStatus();
  }
  // Where the quantisation does the activation's work, it is skipped:
  // edges are counted from the logits (EdgeLogitsToU8Cpu: exactly the
  // rounded sigmoid, no exp), and NormalsToRgbCpu normalises the vectors
  // itself (a second normalisation only moved values by an ulp).
  switch (task.kind()) {
    case slimserve::v1::TASK_KIND_EDGES:
      EdgeLogitsToU8Cpu(values, ScalarType::kFloat32, n * channels,
                        static_cast<uint8_t*>(samples));
      return absl::OkStatus();
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS:
      NormalsToRgbCpu(values, out_h, out_w, static_cast<uint8_t*>(samples));
      return absl::OkStatus();
    case slimserve::v1::TASK_KIND_DEPTH:
      ActivateInPlace(task.kind(), values, channels, out_h, out_w);
      DepthToMillimetresCpu(values, n, static_cast<uint16_t*>(samples));
      return absl::OkStatus();
    default:
      return absl::InternalError(
          absl::StrCat("task ", task.name(), ": unknown kind ", task.kind()));
  }
}

namespace {

absl::StatusOr<TaskOutput> EncodeFinishedPng(
    const slimserve::v1::TaskSpec& task, const void* samples, int out_h,
    int out_w, int png_level) {
  TaskOutput out = OutputHeader(task, OutputFormat::kPng,
                                TaskOutputChannels(task), out_h, out_w);
  absl::StatusOr<std::string> png;
  switch (task.kind()) {
    case slimserve::v1::TASK_KIND_DEPTH:
      out.dtype = DType::kUint16;
      png = EncodePng(samples, out_h, out_w, 1, 16, png_level);
      break;
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS:
      out.dtype = DType::kUint8;
      png = EncodePng(samples, out_h, out_w, 3, 8, png_level);
      break;
    default:
      out.dtype = DType::kUint8;
      png = EncodePng(samples, out_h, out_w, 1, 8, png_level);
      break;
  }
  if (!png.ok()) return png.status();
  out.data = *std::move(png);
  return out;
}

}  // namespace

absl::StatusOr<TaskOutput> EncodeFinished(const slimserve::v1::TaskSpec& task,
                                          OutputFormat format,
                                          const void* samples, int64_t size,
                                          int out_h, int out_w,
                                          int png_level) {
  const int64_t want = FinishedBytes(task, format, out_h, out_w);
  if (size != want) {
    return absl::InternalError(
        absl::StrCat("task ", task.name(), ": finished output has ", size,
                     " bytes, ", want, " expected"));
  }
  if (format == OutputFormat::kPng) {
    return EncodeFinishedPng(task, samples, out_h, out_w, png_level);
  }
  TaskOutput out = OutputHeader(task, format, TaskOutputChannels(task), out_h,
                                out_w);
  out.dtype = DType::kFloat32;
  out.data.assign(static_cast<const char*>(samples), static_cast<size_t>(size));
  return out;
}

absl::StatusOr<TaskOutput> FinishOutput(const slimserve::v1::TaskSpec& task,
                                        OutputFormat format, const float* head,
                                        int64_t channels, int64_t h, int64_t w,
                                        int out_h, int out_w, int png_level) {
  std::string samples(
      static_cast<size_t>(FinishedBytes(task, format, out_h, out_w)), '\0');
  if (absl::Status st = FinishSamples(task, format, head, channels, h, w,
                                      out_h, out_w, samples.data());
      !st.ok()) {
    return st;
  }
  if (format == OutputFormat::kPng) {
    return EncodeFinishedPng(task, samples.data(), out_h, out_w, png_level);
  }
  // RAW: the samples are the response's bytes, no copy.
  TaskOutput out = OutputHeader(task, format, channels, out_h, out_w);
  out.dtype = DType::kFloat32;
  out.data = std::move(samples);
  return out;
}

absl::StatusOr<OutputShape> OutputShapeFor(const InferRequest& request,
                                           const ImageWork& work,
                                           const slimserve::v1::ModelSpec& spec,
                                           int64_t max_bytes) {
  OutputShape shape{static_cast<int>(spec.input().height()),
                    static_cast<int>(spec.input().width())};
  if (request.output_size != OutputSize::kInput || work.height <= 0 ||
      work.width <= 0) {
    return shape;
  }
  const int64_t pixels = work.height * work.width;
  int64_t bytes = 0;
  for (const auto& task : spec.tasks()) {
    if (!TaskRequested(request.plan_request.task_weights, task.name())) {
      continue;
    }
    int64_t per_pixel = 4 * TaskOutputChannels(task);  // RAW float32
    if (FormatFor(request, task.name()) == OutputFormat::kPng) {
      per_pixel = task.kind() == slimserve::v1::TASK_KIND_DEPTH             ? 2
                  : task.kind() == slimserve::v1::TASK_KIND_SURFACE_NORMALS ? 3
                                                                  : 1;
    }
    bytes += per_pixel * pixels;
  }
  if (bytes > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "output_size: outputs at the input's ", work.height, "x", work.width,
        " would take about ", bytes >> 20, " MiB, more than the limit of ",
        max_bytes >> 20, " MiB; ask for PNG outputs, fewer tasks or "
        "OUTPUT_SIZE_MODEL"));
  }
  // The image passed ValidateImage, so each side fits an int.
  shape.height = static_cast<int>(work.height);
  shape.width = static_cast<int>(work.width);
  return shape;
}

}  // namespace slimserve
