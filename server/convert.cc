#include "server/convert.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "engine/latency_model.h"
#include "engine/planner.h"
#include "engine/quality_table.h"

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
    case v1::RAW:
      return OutputFormat::kRaw;
    case v1::PNG:
      return OutputFormat::kPng;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": unknown output format ", value));
  }
}

v1::DataType DTypeToProto(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return v1::FLOAT32;
    case DType::kUint8:
      return v1::UINT8;
    case DType::kUint16:
      return v1::UINT16;
  }
  return v1::DATA_TYPE_UNSPECIFIED;
}

uint32_t OutputChannels(const v1::TaskSpec& task) {
  switch (task.kind()) {
    case v1::SEMANTIC_SEGMENTATION:
      return task.num_classes();
    case v1::DEPTH:
    case v1::EDGES:
      return 1;
    case v1::SURFACE_NORMALS:
      return 3;
    default:
      return 0;
  }
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

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
      // Written so that NaN fails too.
      if (!(out.value > 0 && out.value <= 1)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "budget.fraction: must be in (0, 1], got ", out.value));
      }
      return out;
    case v1::Budget::kMflops:
      out.kind = Budget::Kind::kMflops;
      out.value = budget.mflops();
      if (!(out.value > 0 && std::isfinite(out.value))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "budget.mflops: must be finite and > 0, got ", out.value));
      }
      return out;
    case v1::Budget::kMilliseconds:
      out.kind = Budget::Kind::kMilliseconds;
      out.value = budget.milliseconds();
      if (!(out.value > 0 && std::isfinite(out.value))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "budget.milliseconds: must be finite and > 0, got ", out.value));
      }
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
      if (image.encoded().empty()) {
        return absl::InvalidArgumentError("image.encoded: empty");
      }
      out.raw = false;
      out.bytes = image.encoded();
      return out;
    case v1::Image::kRaw: {
      const v1::RawImage& raw = image.raw();
      if (raw.height() == 0 || raw.width() == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("image.raw: height and width must be > 0, got ",
                         raw.height(), "x", raw.width()));
      }
      if (raw.channels() != 1 && raw.channels() != 3 && raw.channels() != 4) {
        return absl::InvalidArgumentError(absl::StrCat(
            "image.raw.channels: must be 1, 3 or 4, got ", raw.channels()));
      }
      // 128 bits: the product of three uint32 cannot overflow. When it
      // matches the data size, each factor is below that size, so fits in int.
      const absl::uint128 expected =
          absl::uint128(raw.height()) * raw.width() * raw.channels();
      if (absl::uint128(raw.data().size()) != expected) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "image.raw: data has %d bytes, expected %d*%d*%d = %d",
            raw.data().size(), raw.height(), raw.width(), raw.channels(),
            expected));
      }
      out.raw = true;
      out.bytes = raw.data();
      out.height = static_cast<int>(raw.height());
      out.width = static_cast<int>(raw.width());
      out.channels = static_cast<int>(raw.channels());
      return out;
    }
    case v1::Image::SOURCE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("image: required (encoded or raw)");
}

absl::StatusOr<PlanRequest> PlanRequestFromProto(
    const v1::PlanRequest& request) {
  PlanRequest out;
  absl::StatusOr<Budget> budget = BudgetFromProto(request.budget());
  if (!budget.ok()) return budget.status();
  out.budget = *budget;
  out.task_weights.insert(request.task_weights().begin(),
                          request.task_weights().end());
  return out;
}

absl::StatusOr<InferRequest> InferRequestFromProto(
    const v1::InferRequest& request, const v1::ModelSpec& spec) {
  InferRequest out;
  out.id = request.request_id();

  absl::StatusOr<ImageInput> image = ImageFromProto(request.image());
  if (!image.ok()) return image.status();
  out.image = *std::move(image);

  absl::StatusOr<Budget> budget = BudgetFromProto(request.budget());
  if (!budget.ok()) return budget.status();
  out.plan_request.budget = *budget;
  out.plan_request.task_weights.insert(request.task_weights().begin(),
                                       request.task_weights().end());

  for (const auto& [task, format] : request.output_formats()) {
    bool known = false;
    for (const v1::TaskSpec& t : spec.tasks()) known |= t.name() == task;
    if (!known) {
      std::vector<std::string> names;
      for (const v1::TaskSpec& t : spec.tasks()) names.push_back(t.name());
      return absl::InvalidArgumentError(absl::StrCat(
          "output_formats: unknown task \"", absl::CHexEscape(task),
          "\" (the model has: ", absl::StrJoin(names, ", "), ")"));
    }
    absl::StatusOr<OutputFormat> f = OutputFormatFromProto(
        format, absl::StrCat("output_formats[", absl::CHexEscape(task), "]"));
    if (!f.ok()) return f.status();
    out.output_formats[task] = *f;
  }
  absl::StatusOr<OutputFormat> default_format = OutputFormatFromProto(
      request.default_output_format(), "default_output_format");
  if (!default_format.ok()) return default_format.status();
  out.default_output_format = *default_format;
  return out;
}

void PlanToProto(const Plan& plan, v1::PlanInfo* out) {
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

v1::ModelInfo ModelInfoFromSpec(const v1::ModelSpec& spec,
                                const CostTable& costs) {
  v1::ModelInfo info;
  info.set_name(spec.name());
  info.set_version(spec.version());
  for (int t = 0; t < spec.tasks_size(); ++t) {
    const v1::TaskSpec& task = spec.tasks(t);
    v1::TaskInfo* out = info.add_tasks();
    out->set_name(task.name());
    out->set_kind(task.kind());
    out->set_output_channels(OutputChannels(task));
    for (const std::vector<double>& row : costs.decoder_macs[t]) {
      v1::CostRow* cost_row = out->add_decoder_mflops();
      for (double macs : row) cost_row->add_mflops(MacsToMflops(macs));
    }
  }
  info.mutable_encoder_widths()->Add(spec.encoder_widths().begin(),
                                     spec.encoder_widths().end());
  info.mutable_decoder_widths()->Add(spec.decoder_widths().begin(),
                                     spec.decoder_widths().end());
  info.set_input_height(spec.input().height());
  info.set_input_width(spec.input().width());
  for (double macs : costs.encoder_macs) {
    info.add_encoder_mflops(MacsToMflops(macs));
  }
  info.set_full_mflops(MacsToMflops(costs.FullMacs()));
  return info;
}

v1::ModelInfo ModelInfoFromEngine(const Engine& engine) {
  v1::ModelInfo info = ModelInfoFromSpec(engine.spec(), engine.costs());
  const QualityTable& quality = engine.quality();
  const LatencyTable* latency = engine.latency();
  for (int t = 0; t < info.tasks_size(); ++t) {
    v1::TaskInfo* task = info.mutable_tasks(t);
    for (int we = 0; we < engine.spec().encoder_widths_size(); ++we) {
      v1::QualityRow* q = task->add_decoder_quality();
      for (int wd = 0; wd < engine.spec().decoder_widths_size(); ++wd) {
        q->add_quality(quality.at(t, we, wd));
      }
      if (latency != nullptr) {
        v1::LatencyRow* row = task->add_decoder_latency_ms();
        for (double ms : latency->decoder_ms[t][we]) row->add_ms(ms);
      }
    }
  }
  if (latency != nullptr) {
    for (double ms : latency->encoder_ms) info.add_encoder_latency_ms(ms);
    info.set_latency_batch_size(latency->batch_size);
  }
  if (const LatencyProfile* profile = engine.latency_profile()) {
    for (const LatencyTable& table : profile->tables) {
      v1::LatencyTableInfo* out = info.add_latency_tables();
      out->set_batch_size(table.batch_size);
      for (double ms : table.encoder_ms) out->add_encoder_ms(ms);
      for (int t = 0; t < info.tasks_size(); ++t) {
        v1::TaskLatency* task = out->add_tasks();
        task->set_task(info.tasks(t).name());
        for (const auto& row : table.decoder_ms[t]) {
          task->add_decoder_ms()->mutable_ms()->Add(row.begin(), row.end());
        }
      }
    }
  }
  info.set_planner(engine.planner_name());
  info.set_quality_measured(!quality.synthetic());
  return info;
}

}  // namespace slimserve
