#include "server/kserve_convert.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/strings.h"

namespace slimserve {
namespace {

using inference::InferParameter;
using inference::ModelInferRequest;
using inference::ModelInferResponse;

constexpr char kTaskWeightPrefix[] = "task_weight.";
constexpr char kKnownParameters[] =
    "budget_fraction, budget_mflops, budget_ms, task_weight.<task>, "
    "output_format, output_size, timeout";
// A request has a few parameters and outputs; more are mistakes, refused
// before they are searched or echoed.
constexpr size_t kMaxParameters = kMaxTaskEntries + 8;
// A dimension no image reaches; keeps the element count far from overflow
// (the engine bounds the image size itself).
constexpr int64_t kMaxDimension = int64_t{1} << 20;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

std::string ParameterField(absl::string_view name) {
  return absl::StrCat("parameters[", Bounded(name), "]");
}

std::string TaskNames(const ModelInfo& info) {
  return absl::StrJoin(info.tasks, ", ",
                       [](std::string* out, const TaskInfo& task) {
                         out->append(task.name);
                       });
}

int TaskIndex(const ModelInfo& info, absl::string_view name) {
  for (size_t i = 0; i < info.tasks.size(); ++i) {
    if (info.tasks[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// A number from any of the parameter's forms: KServe's protocol has no
// double, so "0.25" as a string is as good as Triton's double_param.
absl::StatusOr<double> NumberParameter(absl::string_view field,
                                       const InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case InferParameter::kDoubleParam:
      return p.double_param();
    case InferParameter::kInt64Param:
      return static_cast<double>(p.int64_param());
    case InferParameter::kUint64Param:
      return static_cast<double>(p.uint64_param());
    case InferParameter::kStringParam: {
      double value = 0;
      if (!absl::SimpleAtod(p.string_param(), &value)) {
        return Invalid(field, absl::StrCat("not a number: \"",
                                           Bounded(p.string_param()), "\""));
      }
      return value;
    }
    case InferParameter::kBoolParam:
    case InferParameter::PARAMETER_CHOICE_NOT_SET:
      break;
  }
  return Invalid(field, "a number is required (double_param, int64_param, "
                        "uint64_param or a decimal string_param)");
}

// NumberParameter, and finite and >= 0; else "`field`: `requirement`, got N".
absl::StatusOr<double> NonNegativeParameter(absl::string_view field,
                                            const InferParameter& p,
                                            absl::string_view requirement) {
  absl::StatusOr<double> number = NumberParameter(field, p);
  if (!number.ok()) return number;
  if (!(*number >= 0) || !std::isfinite(*number)) {
    return Invalid(field, absl::StrCat(requirement, ", got ", *number));
  }
  return number;
}

absl::StatusOr<std::string> StringParameter(absl::string_view field,
                                            const InferParameter& p) {
  if (p.parameter_choice_case() != InferParameter::kStringParam) {
    return Invalid(field, "string_param required");
  }
  return absl::AsciiStrToLower(p.string_param());
}

absl::StatusOr<OutputFormat> FormatParameter(absl::string_view field,
                                             const InferParameter& p) {
  absl::StatusOr<std::string> text = StringParameter(field, p);
  if (!text.ok()) return text.status();
  if (*text == "raw") return OutputFormat::kRaw;
  if (*text == "png") return OutputFormat::kPng;
  return Invalid(field, absl::StrCat("\"", Bounded(*text),
                                     "\" is not an output format (raw, png)"));
}

absl::StatusOr<OutputSize> SizeParameter(absl::string_view field,
                                         const InferParameter& p) {
  absl::StatusOr<std::string> text = StringParameter(field, p);
  if (!text.ok()) return text.status();
  if (*text == "model") return OutputSize::kModel;
  if (*text == "input") return OutputSize::kInput;
  return Invalid(field,
                 absl::StrCat("\"", Bounded(*text),
                              "\" is not an output size (model, input)"));
}

// Request-level parameters: budget, weights, formats, output size.
struct Parameters {
  bool budget_set = false;
  std::string budget_name;
  Budget budget;
  std::map<std::string, float> weights;  // task_weight.<task>, by task
  OutputFormat format = OutputFormat::kRaw;
  OutputSize size = OutputSize::kModel;
  absl::Duration timeout = absl::InfiniteDuration();
};

absl::StatusOr<Parameters> ParseParameters(
    const google::protobuf::Map<std::string, InferParameter>& parameters,
    const ModelInfo& info) {
  if (parameters.size() > kMaxParameters) {
    return Invalid("parameters", absl::StrCat(parameters.size(),
                                              " entries, more than the limit "
                                              "of ",
                                              kMaxParameters));
  }
  Parameters out;
  for (const auto& [name, value] : parameters) {
    const std::string field = ParameterField(name);
    if (name == "budget_fraction" || name == "budget_mflops" ||
        name == "budget_ms") {
      if (out.budget_set) {
        return Invalid("parameters",
                       absl::StrCat(out.budget_name, " and ", name,
                                    " both set (at most one budget)"));
      }
      absl::StatusOr<double> number = NumberParameter(field, value);
      if (!number.ok()) return number.status();
      out.budget_set = true;
      out.budget_name = name;
      out.budget.kind = name == "budget_fraction" ? Budget::Kind::kFraction
                        : name == "budget_mflops" ? Budget::Kind::kMflops
                                                  : Budget::Kind::kMilliseconds;
      out.budget.value = *number;
    } else if (absl::StartsWith(name, kTaskWeightPrefix)) {
      const absl::string_view task =
          absl::string_view(name).substr(sizeof(kTaskWeightPrefix) - 1);
      if (TaskIndex(info, task) < 0) {
        return Invalid(field, absl::StrCat("unknown task (tasks: ",
                                           TaskNames(info), ")"));
      }
      absl::StatusOr<double> number = NonNegativeParameter(
          field, value, "must be a finite number >= 0");
      if (!number.ok()) return number.status();
      out.weights[std::string(task)] = static_cast<float>(*number);
    } else if (name == "output_format") {
      absl::StatusOr<OutputFormat> format = FormatParameter(field, value);
      if (!format.ok()) return format.status();
      out.format = *format;
    } else if (name == "output_size") {
      absl::StatusOr<OutputSize> size = SizeParameter(field, value);
      if (!size.ok()) return size.status();
      out.size = *size;
    } else if (name == "timeout") {
      absl::StatusOr<double> number = NonNegativeParameter(
          field, value, "microseconds, a finite number >= 0 (0: none)");
      if (!number.ok()) return number.status();
      // Triton's 0 is "the model's default"; ours is none.
      if (*number > 0) out.timeout = absl::Microseconds(*number);
    } else {
      return Invalid(field, absl::StrCat("unknown parameter (known: ",
                                         kKnownParameters, ")"));
    }
  }
  return out;
}

// The element count of `shape` as an image: [H, W, C] or [1, H, W, C] for
// UINT8, one element for BYTES. Sets height, width, channels for UINT8.
absl::Status CheckImageShape(const ModelInferRequest::InferInputTensor& input,
                             bool bytes, ImageInput* image) {
  const auto& shape = input.shape();
  int64_t elements = 1;
  for (int i = 0; i < shape.size(); ++i) {
    if (shape[i] < 1 || shape[i] > kMaxDimension) {
      return Invalid(absl::StrCat("inputs[0].shape[", i, "]"),
                     absl::StrCat("must be in [1, ", kMaxDimension, "], got ",
                                  shape[i]));
    }
    elements *= shape[i];
  }
  if (bytes) {
    if (shape.empty() || shape.size() > 2 || elements != 1) {
      return Invalid("inputs[0].shape",
                     "BYTES image: one element ([1] or [1, 1]), one PNG or "
                     "JPEG file");
    }
    return absl::OkStatus();
  }
  const int rank = shape.size();
  if (!(rank == 3 || (rank == 4 && shape[0] == 1))) {
    return Invalid("inputs[0].shape",
                   "UINT8 image: [height, width, channels] or [1, height, "
                   "width, channels]");
  }
  image->height = shape[rank - 3];
  image->width = shape[rank - 2];
  image->channels = shape[rank - 1];
  return absl::OkStatus();
}

absl::Status ImageFromTensor(const ModelInferRequest& request,
                             ImageInput* image) {
  if (request.inputs_size() != 1) {
    return Invalid("inputs", absl::StrCat("one tensor (\"", kKServeInputName,
                                          "\") required, got ",
                                          request.inputs_size()));
  }
  const ModelInferRequest::InferInputTensor& input = request.inputs(0);
  if (input.name() != kKServeInputName) {
    return Invalid("inputs[0].name",
                   absl::StrCat("\"", Bounded(input.name()),
                                "\" is not an input of this model (its input: ",
                                kKServeInputName, ")"));
  }
  if (!input.parameters().empty()) {
    return Invalid("inputs[0].parameters", "none are known");
  }
  const bool bytes = input.datatype() == "BYTES";
  if (!bytes && input.datatype() != "UINT8") {
    return Invalid("inputs[0].datatype",
                   absl::StrCat("\"", Bounded(input.datatype()),
                                "\" is not UINT8 (pixels) or BYTES (a PNG or "
                                "JPEG file)"));
  }
  image->raw = !bytes;
  if (absl::Status st = CheckImageShape(input, bytes, image); !st.ok()) {
    return st;
  }
  const bool has_raw = request.raw_input_contents_size() > 0;
  if (has_raw && request.raw_input_contents_size() != 1) {
    return Invalid("raw_input_contents",
                   absl::StrCat("one entry per input (1), got ",
                                request.raw_input_contents_size()));
  }
  const inference::InferTensorContents& contents = input.contents();
  if (bytes) {
    if (has_raw) {
      // One BYTES element: a 4-byte little-endian length, then the bytes.
      const std::string& raw = request.raw_input_contents(0);
      if (contents.bytes_contents_size() > 0) {
        return Invalid("inputs[0].contents",
                       "not with raw_input_contents (one or the other)");
      }
      if (raw.size() < 4) {
        return Invalid("raw_input_contents[0]",
                       "a BYTES element starts with its 4-byte length");
      }
      const uint32_t length = static_cast<uint8_t>(raw[0]) |
                              static_cast<uint8_t>(raw[1]) << 8 |
                              static_cast<uint8_t>(raw[2]) << 16 |
                              static_cast<uint32_t>(static_cast<uint8_t>(raw[3]))
                                  << 24;
      if (length != raw.size() - 4) {
        return Invalid("raw_input_contents[0]",
                       absl::StrCat("BYTES element of length ", length,
                                    " in ", raw.size() - 4,
                                    " bytes (one element expected)"));
      }
      image->bytes = raw.substr(4);
    } else {
      if (contents.bytes_contents_size() != 1) {
        return Invalid("inputs[0].contents.bytes_contents",
                       absl::StrCat("one element required, got ",
                                    contents.bytes_contents_size()));
      }
      image->bytes = contents.bytes_contents(0);
    }
    return absl::OkStatus();
  }
  const int64_t elements = image->height * image->width * image->channels;
  if (has_raw) {
    if (contents.uint_contents_size() > 0) {
      return Invalid("inputs[0].contents",
                     "not with raw_input_contents (one or the other)");
    }
    if (static_cast<int64_t>(request.raw_input_contents(0).size()) !=
        elements) {
      return Invalid("raw_input_contents[0]",
                     absl::StrCat(request.raw_input_contents(0).size(),
                                  " bytes for a UINT8 tensor of ", elements,
                                  " elements"));
    }
    image->bytes = request.raw_input_contents(0);
    return absl::OkStatus();
  }
  if (contents.uint_contents_size() != elements) {
    return Invalid("inputs[0].contents.uint_contents",
                   absl::StrCat(contents.uint_contents_size(),
                                " elements for a UINT8 tensor of ", elements,
                                " (or use raw_input_contents)"));
  }
  image->bytes.resize(static_cast<size_t>(elements));
  for (int64_t i = 0; i < elements; ++i) {
    const uint32_t v = contents.uint_contents(static_cast<int>(i));
    if (v > 255) {
      return Invalid(absl::StrCat("inputs[0].contents.uint_contents[", i, "]"),
                     absl::StrCat(v, " is not a UINT8"));
    }
    image->bytes[static_cast<size_t>(i)] = static_cast<char>(v);
  }
  return absl::OkStatus();
}

InferParameter StringParam(absl::string_view value) {
  InferParameter p;
  p.set_string_param(std::string(value));
  return p;
}

// Fractional numbers as strings: every v2 client reads them.
InferParameter NumberParam(double value) {
  return StringParam(absl::StrCat(value));
}

InferParameter BoolParam(bool value) {
  InferParameter p;
  p.set_bool_param(value);
  return p;
}

InferParameter IntParam(int64_t value) {
  InferParameter p;
  p.set_int64_param(value);
  return p;
}

}  // namespace

absl::Status CheckKServeModel(absl::string_view field, absl::string_view name,
                              absl::string_view version_field,
                              absl::string_view version,
                              const ModelInfo& info) {
  if (name != info.name) {
    return absl::NotFoundError(absl::StrCat(
        field, ": unknown model \"", Bounded(name), "\" (this server serves \"",
        info.name, "\")"));
  }
  if (!version.empty() && version != info.version) {
    return absl::NotFoundError(absl::StrCat(
        version_field, ": unknown version \"", Bounded(version), "\" of ",
        info.name, " (this server serves version \"", info.version, "\")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<KServeInfer> KServeInferFromProto(
    const ModelInferRequest& request, const ModelInfo& info) {
  if (absl::Status st = CheckKServeModel("model_name", request.model_name(),
                                         "model_version",
                                         request.model_version(), info);
      !st.ok()) {
    return st;
  }
  // As request_id in slimserve.v1, with the protocol's field name.
  if (request.id().size() > kMaxRequestIdBytes) {
    return Invalid("id", absl::StrCat(request.id().size(),
                                      " bytes, more than the limit of ",
                                      kMaxRequestIdBytes));
  }
  KServeInfer out;
  InferRequest& engine = out.request;
  engine.id = request.id();

  absl::StatusOr<Parameters> parameters =
      ParseParameters(request.parameters(), info);
  if (!parameters.ok()) return parameters.status();
  if (parameters->budget_set) engine.plan_request.budget = parameters->budget;
  engine.default_output_format = parameters->format;
  engine.output_size = parameters->size;
  out.timeout = parameters->timeout;

  if (absl::Status st = ImageFromTensor(request, &engine.image); !st.ok()) {
    return st;
  }

  // The tasks: the requested outputs, or every task not weighted 0.
  if (request.outputs_size() > static_cast<int>(kMaxTaskEntries)) {
    return Invalid("outputs", absl::StrCat(request.outputs_size(),
                                           " entries, more than the limit of ",
                                           kMaxTaskEntries));
  }
  std::set<std::string> requested;
  for (int i = 0; i < request.outputs_size(); ++i) {
    const ModelInferRequest::InferRequestedOutputTensor& output =
        request.outputs(i);
    const std::string field = absl::StrCat("outputs[", i, "]");
    if (TaskIndex(info, output.name()) < 0) {
      return Invalid(absl::StrCat(field, ".name"),
                     absl::StrCat("\"", Bounded(output.name()),
                                  "\" is not an output of this model "
                                  "(outputs: ",
                                  TaskNames(info), ")"));
    }
    if (!requested.insert(output.name()).second) {
      return Invalid(absl::StrCat(field, ".name"),
                     absl::StrCat("\"", output.name(), "\" requested twice"));
    }
    for (const auto& [name, value] : output.parameters()) {
      const std::string pfield =
          absl::StrCat(field, ".parameters[", Bounded(name), "]");
      if (name != "format") {
        return Invalid(pfield, "unknown parameter (known: format)");
      }
      absl::StatusOr<OutputFormat> format = FormatParameter(pfield, value);
      if (!format.ok()) return format.status();
      engine.output_formats[output.name()] = *format;
    }
    out.outputs.push_back(output.name());
  }
  TaskWeights& weights = engine.plan_request.task_weights;
  if (out.outputs.empty()) {
    for (const TaskInfo& task : info.tasks) {
      const auto it = parameters->weights.find(task.name);
      const float weight = it == parameters->weights.end() ? 1.0f : it->second;
      if (weight > 0) {
        weights[task.name] = weight;
        out.outputs.push_back(task.name);
      }
    }
    if (out.outputs.empty()) {
      return Invalid("parameters",
                     "every task_weight is 0: no task to compute");
    }
  } else {
    for (const auto& [task, weight] : parameters->weights) {
      if (requested.count(task) == 0) {
        return Invalid(ParameterField(absl::StrCat(kTaskWeightPrefix, task)),
                       absl::StrCat(task, " is not a requested output"));
      }
      if (!(weight > 0)) {
        return Invalid(
            ParameterField(absl::StrCat(kTaskWeightPrefix, task)),
            absl::StrCat("0 for a requested output (a task at weight 0 is "
                         "not computed)"));
      }
    }
    for (const std::string& task : out.outputs) {
      const auto it = parameters->weights.find(task);
      weights[task] = it == parameters->weights.end() ? 1.0f : it->second;
    }
  }
  return out;
}

void KServeInferToProto(InferResult&& result, absl::string_view id,
                        const std::vector<std::string>& outputs,
                        const ModelInfo& info, absl::Duration total,
                        ModelInferResponse* out) {
  out->set_model_name(info.name);
  out->set_model_version(info.version);
  out->set_id(std::string(id));

  auto& params = *out->mutable_parameters();
  const ArchPlan& plan = result.plan;
  params["encoder_width"] = NumberParam(plan.encoder_width);
  params["mflops"] = NumberParam(MacsToMflops(plan.macs));
  params["budget_mflops"] = NumberParam(MacsToMflops(plan.budget_macs));
  params["full_mflops"] = NumberParam(MacsToMflops(plan.full_macs));
  params["planner"] = StringParam(plan.planner);
  params["degraded"] = BoolParam(plan.degraded);
  params["synthetic_quality"] = BoolParam(plan.synthetic_quality);
  params["predicted_latency_ms"] = NumberParam(plan.predicted_latency_ms);
  params["batch_size"] = IntParam(result.batch_size);
  const Timings& t = result.timings;
  params["queue_ms"] = NumberParam(absl::ToDoubleMilliseconds(t.queue));
  params["preprocess_ms"] =
      NumberParam(absl::ToDoubleMilliseconds(t.preprocess));
  params["compute_ms"] = NumberParam(absl::ToDoubleMilliseconds(t.compute));
  params["postprocess_ms"] =
      NumberParam(absl::ToDoubleMilliseconds(t.postprocess));
  params["total_ms"] = NumberParam(absl::ToDoubleMilliseconds(total));

  // The engine answers active tasks in model order; the response is in the
  // order requested.
  for (const std::string& name : outputs) {
    TaskOutput* output = nullptr;
    for (TaskOutput& o : result.outputs) {
      if (o.task == name) output = &o;
    }
    const TaskPlan* task_plan = nullptr;
    for (const TaskPlan& p : plan.tasks) {
      if (p.name == name) task_plan = &p;
    }
    if (output == nullptr) continue;  // not computed: cannot happen
    ModelInferResponse::InferOutputTensor* tensor = out->add_outputs();
    tensor->set_name(name);
    auto& tparams = *tensor->mutable_parameters();
    tparams["task_kind"] = StringParam(v1::TaskKind_Name(output->kind));
    if (task_plan != nullptr) {
      tparams["decoder_width"] = NumberParam(task_plan->decoder_width);
      tparams["predicted_quality"] = NumberParam(task_plan->predicted_quality);
    }
    std::string* data = out->add_raw_output_contents();
    if (output->format == OutputFormat::kPng) {
      tensor->set_datatype("BYTES");
      tensor->add_shape(1);
      tparams["content_type"] = StringParam("image/png");
      const uint32_t length = static_cast<uint32_t>(output->data.size());
      data->reserve(4 + output->data.size());
      for (int shift = 0; shift < 32; shift += 8) {
        data->push_back(static_cast<char>((length >> shift) & 0xff));
      }
      data->append(output->data);
    } else {
      // RAW outputs are float32 CHW, little-endian: the protocol's FP32.
      tensor->set_datatype("FP32");
      for (int64_t d : output->shape) tensor->add_shape(d);
      *data = std::move(output->data);
    }
  }
}

inference::ModelMetadataResponse KServeModelMetadata(const ModelInfo& info) {
  inference::ModelMetadataResponse out;
  out.set_name(info.name);
  out.add_versions(info.version);
  out.set_platform("slimserve");
  auto* input = out.add_inputs();
  input->set_name(kKServeInputName);
  input->set_datatype("UINT8");
  for (int i = 0; i < 3; ++i) input->add_shape(-1);  // H, W, C
  for (const TaskInfo& task : info.tasks) {
    auto* output = out.add_outputs();
    output->set_name(task.name);
    output->set_datatype("FP32");
    output->add_shape(task.output_channels);
    output->add_shape(-1);  // the model's input size, or the image's
    output->add_shape(-1);
  }
  return out;
}

}  // namespace slimserve
