// slimctl: command-line client of a slimserve server.
//
//   slimctl [--target=HOST:PORT] [--timeout_s=S] [--retry=false]
//           [--tls_ca_file=PEM [--tls_cert_file=PEM --tls_key_file=PEM]
//            [--tls_server_name=NAME]] COMMAND [flags]
//
//   infer  --image=FILE [--budget=F | --budget_mflops=X] [--weights=T=W,...]
//          [--out=DIR] [--format=png|raw] [--request_id=ID] [--json]
//          Runs the model on a PNG/JPEG file; writes DIR/<task>.png or
//          DIR/<task>.raw (float32 CHW, little-endian) per task.
//   plan   [--budget=F | --budget_mflops=X] [--weights=T=W,...] [--json]
//   model  [--json]
//   health [--service=NAME]   exit 0 only when SERVING
//
// Exit status: 0 success, 1 RPC or I/O error ("error: CODE: message" on
// stderr), 2 usage error.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/files.h"
#include "client/channel_flags.h"
#include "client/client.h"
#include "google/protobuf/util/json_util.h"

ABSL_FLAG(std::string, target, "localhost:50051", "server address HOST:PORT");
ABSL_FLAG(double, timeout_s, 30, "deadline of connecting and of each call");
ABSL_FLAG(bool, retry, true,
          "retry UNAVAILABLE / RESOURCE_EXHAUSTED / CANCELLED calls (gRPC "
          "retry policy, up to 3 attempts within --timeout_s)");
ABSL_FLAG(std::string, image, "", "infer: PNG or JPEG file");
ABSL_FLAG(std::optional<double>, budget, std::nullopt,
          "infer, plan: budget as a fraction in (0, 1] of the full cost "
          "(default 1)");
ABSL_FLAG(std::optional<double>, budget_mflops, std::nullopt,
          "infer, plan: absolute budget in MFLOPs (instead of --budget)");
ABSL_FLAG(std::string, weights, "",
          "infer, plan: task weights, e.g. semseg=1,depth=0.5 (empty: every "
          "task, equal weights)");
ABSL_FLAG(std::string, out, "", "infer: directory for the outputs");
ABSL_FLAG(std::string, format, "png", "infer: output format, png or raw");
ABSL_FLAG(std::string, output_size, "model",
          "infer: outputs at the model's input size (model) or at the "
          "image's (input)");
ABSL_FLAG(std::string, request_id, "", "infer, plan: request id");
ABSL_FLAG(bool, json, false,
          "print the response as JSON (infer: without the output data)");
ABSL_FLAG(std::string, service, "", "health: service name (empty: server)");

namespace slimserve {
namespace {

constexpr int kOk = 0;
constexpr int kRpcError = 1;
constexpr int kUsageError = 2;

// Characters allowed in a task name used as an output file name.
constexpr char kFileNameChars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";

int UsageError(const std::string& message) {
  std::cerr << "usage error: " << message << "\n(see slimctl --help)\n";
  return kUsageError;
}

int Error(const absl::Status& status) {
  std::cerr << "error: " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  return kRpcError;
}

int PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  // protobuf 3.21 has its own Status type.
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return Error(absl::InternalError(std::string(status.message())));
  }
  std::cout << json;
  return kOk;
}

CallOptions Call() {
  CallOptions options;
  options.deadline =
      absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_timeout_s));
  options.request_id = absl::GetFlag(FLAGS_request_id);
  return options;
}

// "semseg=1,depth=0.5" -> {semseg: 1, depth: 0.5}.
absl::StatusOr<std::map<std::string, float>> ParseWeights(
    const std::string& text) {
  std::map<std::string, float> weights;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, '=');
    float weight = 0;
    if (parts.size() != 2 || parts[0].empty() ||
        !absl::SimpleAtof(parts[1], &weight)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--weights: expected TASK=WEIGHT, got \"%s\"", item));
    }
    weights[std::string(parts[0])] = weight;
  }
  return weights;
}

// The budget and weights flags, shared by infer and plan.
absl::Status FillBudgetAndWeights(
    v1::Budget* budget, google::protobuf::Map<std::string, float>* weights) {
  const std::optional<double> fraction = absl::GetFlag(FLAGS_budget);
  const std::optional<double> mflops = absl::GetFlag(FLAGS_budget_mflops);
  if (fraction && mflops) {
    return absl::InvalidArgumentError(
        "--budget and --budget_mflops are exclusive");
  }
  if (mflops) {
    budget->set_mflops(*mflops);
  } else {
    budget->set_fraction(fraction.value_or(1.0));
  }
  absl::StatusOr<std::map<std::string, float>> parsed =
      ParseWeights(absl::GetFlag(FLAGS_weights));
  if (!parsed.ok()) return parsed.status();
  weights->insert(parsed->begin(), parsed->end());
  return absl::OkStatus();
}

void PrintPlan(const v1::PlanInfo& plan) {
  std::cout << absl::StrFormat(
      "plan: encoder width %.2f, %.2f MFLOPs of a %.2f budget (full %.2f), "
      "planner %s%s\n",
      plan.encoder_width(), plan.mflops(), plan.budget_mflops(),
      plan.full_mflops(), plan.planner(), plan.degraded() ? ", degraded" : "");
  std::cout << absl::StrFormat("  %-12s %8s %8s %10s\n", "task", "weight",
                               "width", "MFLOPs");
  std::cout << absl::StrFormat("  %-12s %8s %8.2f %10.2f\n", "(encoder)", "",
                               plan.encoder_width(), plan.encoder_mflops());
  for (const v1::TaskPlan& task : plan.tasks()) {
    std::cout << absl::StrFormat("  %-12s %8.2f %8.2f %10.2f\n", task.task(),
                                 task.weight(), task.decoder_width(),
                                 task.mflops());
  }
}

std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& shape) {
  return absl::StrJoin(shape, "x");
}

// "float32" for DATA_TYPE_FLOAT32.
std::string DTypeName(v1::DataType dtype) {
  return absl::AsciiStrToLower(
      absl::StripPrefix(v1::DataType_Name(dtype), "DATA_TYPE_"));
}

absl::Status WriteFile(const std::filesystem::path& path,
                       const std::string& data) {
  std::ofstream file(path, std::ios::binary);
  file.write(data.data(), static_cast<std::streamsize>(data.size()));
  file.close();
  if (!file) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path.string()));
  }
  return absl::OkStatus();
}

// The request the infer flags describe; INVALID_ARGUMENT for bad flags.
absl::StatusOr<v1::InferRequest> MakeInferRequest() {
  const std::string image_path = absl::GetFlag(FLAGS_image);
  if (image_path.empty()) {
    return absl::InvalidArgumentError("infer: --image is required");
  }
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format != "png" && format != "raw") {
    return absl::InvalidArgumentError(
        absl::StrCat("--format: must be png or raw, got \"", format, "\""));
  }
  v1::InferRequest request;
  if (absl::Status st =
          ReadFlagFile("image", image_path, kMaxFileBytes,
                       request.mutable_image()->mutable_encoded());
      !st.ok()) {
    return st;
  }
  absl::Status flags = FillBudgetAndWeights(request.mutable_budget(),
                                            request.mutable_task_weights());
  if (!flags.ok()) return flags;
  request.set_default_output_format(format == "png" ? v1::OUTPUT_FORMAT_PNG : v1::OUTPUT_FORMAT_RAW);
  const std::string output_size = absl::GetFlag(FLAGS_output_size);
  if (output_size != "model" && output_size != "input") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--output_size: must be model or input, got \"", output_size, "\""));
  }
  request.set_output_size(output_size == "input" ? v1::OUTPUT_SIZE_INPUT
                                                 : v1::OUTPUT_SIZE_MODEL);
  return request;
}

int RunInfer(SlimClient& client, const v1::InferRequest& request) {
  absl::StatusOr<v1::InferResponse> response = client.Infer(request, Call());
  if (!response.ok()) return Error(response.status());

  const std::string out_dir = absl::GetFlag(FLAGS_out);
  if (!out_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(out_dir, error);
    if (error) {
      return Error(absl::UnavailableError(
          absl::StrCat("cannot create ", out_dir, ": ", error.message())));
    }
  }
  std::vector<std::string> lines;
  for (v1::TaskOutput& output : *response->mutable_outputs()) {
    const bool png = output.has_png();
    std::string* data =
        png ? output.mutable_png() : output.mutable_tensor()->mutable_data();
    std::string where = absl::StrCat("(", data->size(), " bytes)");
    if (!out_dir.empty()) {
      // The task name becomes a file name: keep it inside out_dir.
      if (output.task().empty() || output.task().find_first_not_of(
                                       kFileNameChars) != std::string::npos) {
        return Error(absl::InternalError(absl::StrCat(
            "server sent task name \"", absl::CHexEscape(output.task()),
            "\", not usable as a file name")));
      }
      const std::filesystem::path path =
          std::filesystem::path(out_dir) /
          (output.task() + (png ? ".png" : ".raw"));
      absl::Status status = WriteFile(path, *data);
      if (!status.ok()) return Error(status);
      where = "-> " + path.string();
    }
    lines.push_back(
        absl::StrFormat("  %-12s %-4s %-12s %-8s %s\n", output.task(),
                        png ? "png" : "raw", ShapeString(output.shape()),
                        png ? "" : DTypeName(output.tensor().dtype()), where));
    // The JSON shows the shape, not the data.
    data->clear();
  }

  if (absl::GetFlag(FLAGS_json)) return PrintJson(*response);
  std::cout << "request_id: " << response->request_id() << "\n";
  PrintPlan(response->plan());
  const v1::Timings& t = response->timings();
  std::cout << absl::StrFormat(
      "timings (ms): queue %.2f, preprocess %.2f, compute %.2f, postprocess "
      "%.2f, total %.2f\n",
      t.queue_ms(), t.preprocess_ms(), t.compute_ms(), t.postprocess_ms(),
      t.total_ms());
  std::cout << "outputs:\n";
  for (const std::string& line : lines) std::cout << line;
  return kOk;
}

// The request the plan flags describe; INVALID_ARGUMENT for bad flags.
absl::StatusOr<v1::PlanRequest> MakePlanRequest() {
  v1::PlanRequest request;
  absl::Status flags = FillBudgetAndWeights(request.mutable_budget(),
                                            request.mutable_task_weights());
  if (!flags.ok()) return flags;
  return request;
}

int RunPlan(SlimClient& client, const v1::PlanRequest& request) {
  absl::StatusOr<v1::PlanResponse> response = client.Plan(request, Call());
  if (!response.ok()) return Error(response.status());
  if (absl::GetFlag(FLAGS_json)) return PrintJson(*response);
  PrintPlan(response->plan());
  return kOk;
}

int RunModel(SlimClient& client) {
  absl::StatusOr<v1::GetModelInfoResponse> info = client.GetModelInfo(Call());
  if (!info.ok()) return Error(info.status());
  if (absl::GetFlag(FLAGS_json)) return PrintJson(*info);
  std::cout << absl::StrFormat(
      "model: %s %s, input %dx%d, full cost %.2f MFLOPs\n", info->name(),
      info->version(), info->input_height(), info->input_width(),
      info->full_mflops());
  std::cout << "encoder widths: " << absl::StrJoin(info->encoder_widths(), ", ")
            << "  (MFLOPs: "
            << absl::StrJoin(info->encoder_mflops(), ", ",
                             [](std::string* out, double mflops) {
                               absl::StrAppendFormat(out, "%.2f", mflops);
                             })
            << ")\n";
  std::cout << "decoder widths: " << absl::StrJoin(info->decoder_widths(), ", ")
            << "\n";
  std::cout << absl::StrFormat("  %-12s %-22s %8s %18s\n", "task", "kind",
                               "channels", "full-width MFLOPs");
  for (const v1::TaskInfo& task : info->tasks()) {
    double full = 0;
    if (task.decoder_mflops_size() > 0) {
      const v1::CostRow& row =
          task.decoder_mflops(task.decoder_mflops_size() - 1);
      if (row.mflops_size() > 0) full = row.mflops(row.mflops_size() - 1);
    }
    std::cout << absl::StrFormat("  %-12s %-22s %8d %18.2f\n", task.name(),
                                 absl::StripPrefix(v1::TaskKind_Name(task.kind()),
                                                   "TASK_KIND_"),
                                 task.output_channels(), full);
  }
  return kOk;
}

int RunHealth(SlimClient& client) {
  absl::StatusOr<grpc::health::v1::HealthCheckResponse> response =
      client.Health(absl::GetFlag(FLAGS_service), Call());
  if (!response.ok()) return Error(response.status());
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                   response->status())
            << "\n";
  return response->status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? kOk
             : kRpcError;
}

// absl::ParseCommandLine exits with 1 on an unknown flag or a bad value;
// slimctl reports usage errors with 2, so it checks them first (values given
// as --flag=value; a value in the next argument is left to absl).
absl::Status CheckFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) {
      continue;
    }
    const size_t eq = arg.find('=');
    absl::string_view name = arg.substr(0, eq);
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && eq == absl::string_view::npos &&
        absl::ConsumePrefix(&name, "no")) {
      flag = absl::FindCommandLineFlag(name);
      if (flag != nullptr && !flag->IsOfType<bool>()) flag = nullptr;
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag \"", argv[i], "\""));
    }
    std::string error;
    if (eq != absl::string_view::npos &&
        !flag->ParseFrom(arg.substr(eq + 1), &error)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", error));
    }
  }
  return absl::OkStatus();
}

int Main(const std::vector<char*>& args) {
  if (args.size() != 2) {
    return UsageError(args.size() < 2
                          ? "a command is required: infer, plan, model, health"
                          : std::string("unexpected argument \"") + args[2] +
                                "\"");
  }
  // Everything but the RPC is checked before connecting.
  const std::string command = args[1];
  std::function<int(SlimClient&)> run;
  if (command == "infer") {
    absl::StatusOr<v1::InferRequest> request = MakeInferRequest();
    if (!request.ok())
      return UsageError(std::string(request.status().message()));
    run = [request = *std::move(request)](SlimClient& client) {
      return RunInfer(client, request);
    };
  } else if (command == "plan") {
    absl::StatusOr<v1::PlanRequest> request = MakePlanRequest();
    if (!request.ok())
      return UsageError(std::string(request.status().message()));
    run = [request = *std::move(request)](SlimClient& client) {
      return RunPlan(client, request);
    };
  } else if (command == "model") {
    run = RunModel;
  } else if (command == "health") {
    run = RunHealth;
  } else {
    return UsageError("unknown command \"" + command +
                      "\"; commands: infer, plan, model, health");
  }
  const double timeout_s = absl::GetFlag(FLAGS_timeout_s);
  if (!(timeout_s > 0)) return UsageError("--timeout_s: must be > 0");

  ChannelOptions channel_options;
  channel_options.retry = absl::GetFlag(FLAGS_retry);
  absl::StatusOr<ChannelOptions> channel =
      ChannelOptionsFromFlags(channel_options);
  if (!channel.ok()) return UsageError(std::string(channel.status().message()));
  absl::StatusOr<std::unique_ptr<SlimClient>> client = SlimClient::Connect(
      absl::GetFlag(FLAGS_target), absl::Seconds(timeout_s), *channel);
  if (!client.ok()) return Error(client.status());
  return run(**client);
}

}  // namespace
}  // namespace slimserve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Command-line client of a slimserve server.\n"
      "Usage: slimctl [--target=HOST:PORT] [--timeout_s=S] [--retry=false] "
      "[--tls_ca_file=PEM [--tls_cert_file=PEM --tls_key_file=PEM] "
      "[--tls_server_name=NAME]] "
      "infer|plan|model|health [flags]\n"
      "  infer  --image=FILE [--budget=F | --budget_mflops=X] "
      "[--weights=semseg=1,depth=0.5]\n"
      "         [--out=DIR] [--format=png|raw] [--request_id=ID] [--json]\n"
      "  plan   [--budget=F | --budget_mflops=X] [--weights=...] [--json]\n"
      "  model  [--json]\n"
      "  health [--service=NAME]\n"
      "Exit status: 0 ok, 1 RPC or I/O error, 2 usage error.");
  if (absl::Status flags = slimserve::CheckFlags(argc, argv); !flags.ok()) {
    return slimserve::UsageError(std::string(flags.message()));
  }
  return slimserve::Main(absl::ParseCommandLine(argc, argv));
}
