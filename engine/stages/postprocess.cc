#include "engine/stages/postprocess.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/strings.h"
#include "engine/model/spec.h"
#include "image/codec.h"
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

absl::StatusOr<TaskOutput> EncodeOutput(const slimserve::v1::TaskSpec& task,
                                        OutputFormat format, const float* chw,
                                        int64_t channels, int64_t height,
                                        int64_t width) {
  TaskOutput out;
  out.task = task.name();
  out.kind = task.kind();
  out.format = format;
  out.shape = {channels, height, width};
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
    case slimserve::v1::SEMANTIC_SEGMENTATION: {
      std::vector<uint8_t> ids(n);
      SegmentationArgmaxCpu(chw, static_cast<int>(channels), h, w, ids.data());
      out.dtype = DType::kUint8;
      png = EncodePng(ids.data(), h, w, 1, 8);
      break;
    }
    case slimserve::v1::DEPTH: {
      std::vector<uint16_t> mm(n);
      DepthToMillimetresCpu(chw, n, mm.data());
      out.dtype = DType::kUint16;
      png = EncodePng(mm.data(), h, w, 1, 16);
      break;
    }
    case slimserve::v1::SURFACE_NORMALS: {
      std::vector<uint8_t> rgb(n * 3);
      NormalsToRgbCpu(chw, h, w, rgb.data());
      out.dtype = DType::kUint8;
      png = EncodePng(rgb.data(), h, w, 3, 8);
      break;
    }
    case slimserve::v1::EDGES: {
      std::vector<uint8_t> e(n);
      EdgesToU8Cpu(chw, n, e.data());
      out.dtype = DType::kUint8;
      png = EncodePng(e.data(), h, w, 1, 8);
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

}  // namespace slimserve
