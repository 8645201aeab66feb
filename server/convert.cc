#include "server/convert.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/strings.h"

namespace slimserve {
namespace {

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return grpc::StatusCode::OK;
    case absl::StatusCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case absl::StatusCode::kUnknown:
      return grpc::StatusCode::UNKNOWN;
    case absl::StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case absl::StatusCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case absl::StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case absl::StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case absl::StatusCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case absl::StatusCode::kAborted:
      return grpc::StatusCode::ABORTED;
    case absl::StatusCode::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case absl::StatusCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case absl::StatusCode::kInternal:
      return grpc::StatusCode::INTERNAL;
    case absl::StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case absl::StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    default:
      return grpc::StatusCode::UNKNOWN;
  }
}

absl::StatusOr<OutputFormat> OutputFormatFromProto(int value,
                                                   absl::string_view field) {
  switch (value) {
    case v1::OUTPUT_FORMAT_UNSPECIFIED:
    case v1::OUTPUT_FORMAT_RAW:
      return OutputFormat::kRaw;
    case v1::OUTPUT_FORMAT_PNG:
      return OutputFormat::kPng;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": unknown output format ", value));
  }
}

absl::StatusOr<OutputSize> OutputSizeFromProto(int value) {
  switch (value) {
    case v1::OUTPUT_SIZE_UNSPECIFIED:
    case v1::OUTPUT_SIZE_MODEL:
      return OutputSize::kModel;
    case v1::OUTPUT_SIZE_INPUT:
      return OutputSize::kInput;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("output_size: unknown output size ", value));
  }
}

v1::DataType DTypeToProto(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return v1::DATA_TYPE_FLOAT32;
    case DType::kUint8:
      return v1::DATA_TYPE_UINT8;
    case DType::kUint16:
      return v1::DATA_TYPE_UINT16;
  }
  return v1::DATA_TYPE_UNSPECIFIED;
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

template <typename Map>
absl::Status CheckTaskMap(absl::string_view field, const Map& map) {
  size_t longest = 0;
  for (const auto& entry : map) longest = std::max(longest, entry.first.size());
  return ValidateTaskMapLimits(field, map.size(), longest);
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(ToGrpcCode(status.code()), std::string(status.message()));
}

absl::StatusOr<Budget> BudgetFromProto(const v1::Budget& budget) {
  Budget out;
  switch (budget.kind_case()) {
    case v1::Budget::kFraction:
      out.kind = Budget::Kind::kFraction;
      out.value = budget.fraction();
      return out;
    case v1::Budget::kMflops:
      out.kind = Budget::Kind::kMflops;
      out.value = budget.mflops();
      return out;
    case v1::Budget::kMilliseconds:
      out.kind = Budget::Kind::kMilliseconds;
      out.value = budget.milliseconds();
      return out;
    case v1::Budget::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "budget: required (fraction, mflops or milliseconds)");
}

absl::StatusOr<ImageInput> ImageFromProto(const v1::Image& image) {
  ImageInput out;
  switch (image.source_case()) {
    case v1::Image::kEncoded:
      out.raw = false;
      out.bytes = image.encoded();
      return out;
    case v1::Image::kRaw:
      out.raw = true;
      out.bytes = image.raw().data();
      out.height = image.raw().height();
      out.width = image.raw().width();
      out.channels = image.raw().channels();
      return out;
    case v1::Image::SOURCE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("image: required (encoded or raw)");
}

absl::StatusOr<PlanRequest> PlanRequestFromProto(
    const v1::PlanRequest& request) {
  PlanRequest out;
  // The engine's PlanRequest has no id (Infer's is checked at Submit), so
  // the echoed request_id is bounded here, for every caller.
  if (absl::Status st = ValidateRequestId(request.request_id()); !st.ok()) {
    return st;
  }
  if (absl::Status st = CheckTaskMap("task_weights", request.task_weights());
      !st.ok()) {
    return st;
  }
  absl::StatusOr<Budget> budget = BudgetFromProto(request.budget());
  if (!budget.ok()) return budget.status();
  out.budget = *budget;
  out.task_weights.insert(request.task_weights().begin(),
                          request.task_weights().end());
  return out;
}

absl::StatusOr<InferRequest> InferRequestFromProto(
    const v1::InferRequest& request) {
  InferRequest out;
  out.id = request.request_id();
  for (absl::Status st :
       {CheckTaskMap("task_weights", request.task_weights()),
        CheckTaskMap("output_formats", request.output_formats())}) {
    if (!st.ok()) return st;
  }

  absl::StatusOr<ImageInput> image = ImageFromProto(request.image());
  if (!image.ok()) return image.status();
  out.image = *std::move(image);

  absl::StatusOr<Budget> budget = BudgetFromProto(request.budget());
  if (!budget.ok()) return budget.status();
  out.plan_request.budget = *budget;
  out.plan_request.task_weights.insert(request.task_weights().begin(),
                                       request.task_weights().end());

  for (const auto& [task, format] : request.output_formats()) {
    absl::StatusOr<OutputFormat> f = OutputFormatFromProto(
        format, absl::StrCat("output_formats[", Bounded(task), "]"));
    if (!f.ok()) return f.status();
    out.output_formats[task] = *f;
  }
  absl::StatusOr<OutputFormat> default_format = OutputFormatFromProto(
      request.default_output_format(), "default_output_format");
  if (!default_format.ok()) return default_format.status();
  out.default_output_format = *default_format;
  absl::StatusOr<OutputSize> size = OutputSizeFromProto(request.output_size());
  if (!size.ok()) return size.status();
  out.output_size = *size;
  return out;
}

void ApplyStreamDefaults(const v1::StreamDefaults& defaults,
                         v1::InferRequest* frame) {
  if (!frame->has_budget() && defaults.has_budget()) {
    *frame->mutable_budget() = defaults.budget();
  }
  if (frame->task_weights().empty()) {
    *frame->mutable_task_weights() = defaults.task_weights();
  }
  if (frame->output_formats().empty()) {
    *frame->mutable_output_formats() = defaults.output_formats();
  }
  if (frame->default_output_format() == v1::OUTPUT_FORMAT_UNSPECIFIED) {
    frame->set_default_output_format(defaults.default_output_format());
  }
  if (frame->output_size() == v1::OUTPUT_SIZE_UNSPECIFIED) {
    frame->set_output_size(defaults.output_size());
  }
}

void PlanToProto(const ArchPlan& plan, v1::PlanInfo* out) {
  out->set_encoder_width(plan.encoder_width);
  for (const TaskPlan& t : plan.tasks) {
    v1::TaskPlan* task = out->add_tasks();
    task->set_task(t.name);
    task->set_weight(t.weight);
    task->set_decoder_width(t.decoder_width);
    task->set_mflops(MacsToMflops(t.macs));
    task->set_predicted_quality(t.predicted_quality);
  }
  out->set_encoder_mflops(MacsToMflops(plan.encoder_macs));
  out->set_mflops(MacsToMflops(plan.macs));
  out->set_budget_mflops(MacsToMflops(plan.budget_macs));
  out->set_full_mflops(MacsToMflops(plan.full_macs));
  out->set_planner(plan.planner);
  out->set_degraded(plan.degraded);
  out->set_predicted_latency_ms(plan.predicted_latency_ms);
  out->set_objective(plan.objective);
  out->set_synthetic_quality(plan.synthetic_quality);
}

void InferResultToProto(InferResult&& result, v1::InferResponse* out) {
  for (TaskOutput& o : result.outputs) {
    v1::TaskOutput* task = out->add_outputs();
    task->set_task(o.task);
    task->set_kind(o.kind);
    task->mutable_shape()->Add(o.shape.begin(), o.shape.end());
    switch (o.format) {
      case OutputFormat::kRaw: {
        v1::Tensor* tensor = task->mutable_tensor();
        tensor->set_dtype(DTypeToProto(o.dtype));
        tensor->mutable_shape()->Add(o.shape.begin(), o.shape.end());
        tensor->set_data(std::move(o.data));
        break;
      }
      case OutputFormat::kPng:
        task->set_png(std::move(o.data));
        break;
    }
  }
  PlanToProto(result.plan, out->mutable_plan());
  v1::Timings* timings = out->mutable_timings();
  timings->set_queue_ms(Ms(result.timings.queue));
  timings->set_preprocess_ms(Ms(result.timings.preprocess));
  timings->set_compute_ms(Ms(result.timings.compute));
  timings->set_postprocess_ms(Ms(result.timings.postprocess));
}

v1::GetModelInfoResponse ModelInfoToProto(const ModelInfo& info) {
  v1::GetModelInfoResponse out;
  out.set_name(info.name);
  out.set_version(info.version);
  const LatencyTableInfo* batch1 =
      info.latency_tables.empty() ? nullptr : &info.latency_tables.front();
  for (size_t t = 0; t < info.tasks.size(); ++t) {
    const TaskInfo& task = info.tasks[t];
    v1::TaskInfo* task_out = out.add_tasks();
    task_out->set_name(task.name);
    task_out->set_kind(task.kind);
    task_out->set_output_channels(task.output_channels);
    for (size_t we = 0; we < task.decoder_mflops.size(); ++we) {
      task_out->add_decoder_mflops()->mutable_mflops()->Add(
          task.decoder_mflops[we].begin(), task.decoder_mflops[we].end());
      task_out->add_decoder_quality()->mutable_quality()->Add(
          task.quality[we].begin(), task.quality[we].end());
      if (batch1 != nullptr) {
        const std::vector<double>& ms = batch1->decoder_ms[t][we];
        task_out->add_decoder_latency_ms()->mutable_ms()->Add(ms.begin(),
                                                              ms.end());
      }
    }
  }
  out.mutable_encoder_widths()->Add(info.encoder_widths.begin(),
                                    info.encoder_widths.end());
  out.mutable_decoder_widths()->Add(info.decoder_widths.begin(),
                                    info.decoder_widths.end());
  out.set_input_height(info.input_height);
  out.set_input_width(info.input_width);
  out.mutable_encoder_mflops()->Add(info.encoder_mflops.begin(),
                                    info.encoder_mflops.end());
  out.set_full_mflops(info.full_mflops);
  if (batch1 != nullptr) {
    out.mutable_encoder_latency_ms()->Add(batch1->encoder_ms.begin(),
                                          batch1->encoder_ms.end());
    out.set_latency_batch_size(batch1->batch_size);
  }
  for (const LatencyTableInfo& table : info.latency_tables) {
    v1::LatencyTableInfo* table_out = out.add_latency_tables();
    table_out->set_batch_size(table.batch_size);
    table_out->mutable_encoder_ms()->Add(table.encoder_ms.begin(),
                                         table.encoder_ms.end());
    for (size_t t = 0; t < info.tasks.size(); ++t) {
      v1::TaskLatency* task = table_out->add_tasks();
      task->set_task(info.tasks[t].name);
      for (const auto& row : table.decoder_ms[t]) {
        task->add_decoder_ms()->mutable_ms()->Add(row.begin(), row.end());
      }
    }
    for (const auto& row : table.fused_decoder_ms) {
      table_out->add_fused_decoder_ms()->mutable_ms()->Add(row.begin(),
                                                          row.end());
    }
  }
  out.set_planner(info.planner);
  out.set_quality_measured(info.quality_measured);
  return out;
}

}  // namespace slimserve
