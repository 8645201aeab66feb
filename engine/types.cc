#include "engine/types.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/strings.h"

namespace slimserve {
namespace {

template <typename Enum, size_t N>
absl::StatusOr<Enum> ParseName(absl::string_view text,
                               const std::pair<const char*, Enum> (&names)[N],
                               absl::string_view what) {
  std::vector<std::string> known;
  for (const auto& [name, value] : names) {
    if (text == name) return value;
    known.push_back(name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": \"", Bounded(text), "\" is not one of ",
                   absl::StrJoin(known, ", ")));
}

template <typename Enum, size_t N>
absl::string_view NameOf(Enum value,
                         const std::pair<const char*, Enum> (&names)[N]) {
  for (const auto& [name, v] : names) {
    if (v == value) return name;
  }
  return "unknown";
}

constexpr std::pair<const char*, WeightsForm> kWeightsForms[] = {
    {"folded", WeightsForm::kFolded}, {"sliced", WeightsForm::kSliced}};
constexpr std::pair<const char*, Precision> kPrecisions[] = {
    {"float32", Precision::kFloat32},
    {"bfloat16", Precision::kBFloat16},
    {"float16", Precision::kFloat16}};
constexpr std::pair<const char*, PlannerKind> kPlanners[] = {
    {"exact", PlannerKind::kExact},
    {"normalized", PlannerKind::kNormalized},
    {"paper", PlannerKind::kPaper},
    {"paper-normalized", PlannerKind::kPaperNormalized},
    {"shared-decoder", PlannerKind::kSharedDecoder},
    {"uniform", PlannerKind::kUniform},
    {"widest-fit", PlannerKind::kWidestFit}};

template <typename T>
bool ParseFlag(absl::StatusOr<T> parsed, T* out, std::string* error) {
  if (!parsed.ok()) {
    *error = std::string(parsed.status().message());
    return false;
  }
  *out = *parsed;
  return true;
}

}  // namespace

absl::Status ValidateRequestId(absl::string_view id) {
  if (id.size() <= kMaxRequestIdBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("request_id: ", id.size(), " bytes, more than the limit of ",
                   kMaxRequestIdBytes));
}

absl::Status ValidateTaskMapLimits(absl::string_view field, size_t entries,
                                   size_t longest_name) {
  if (entries > kMaxTaskEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", entries, " entries, more than the limit of ",
                     kMaxTaskEntries));
  }
  if (longest_name > kMaxTaskNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": a task name of ", longest_name,
                     " bytes, more than the limit of ", kMaxTaskNameBytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<Device> ParseDevice(absl::string_view text) {
  Device device;
  if (text == "cpu") return device;
  if (text == "cuda") {
    device.kind = Device::Kind::kCuda;
    return device;
  }
  int index = -1;
  if (absl::ConsumePrefix(&text, "cuda:") && absl::SimpleAtoi(text, &index) &&
      index >= 0) {
    device.kind = Device::Kind::kCuda;
    device.index = index;
    return device;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("device: \"", Bounded(text),
                   "\" is not a device; use cpu, cuda or cuda:N"));
}

std::string DeviceName(const Device& device) {
  if (device.kind == Device::Kind::kCpu) return "cpu";
  return device.index < 0 ? "cuda" : absl::StrCat("cuda:", device.index);
}

absl::StatusOr<WeightsForm> ParseWeightsForm(absl::string_view text) {
  return ParseName(text, kWeightsForms, "weights");
}
absl::string_view WeightsFormName(WeightsForm form) {
  return NameOf(form, kWeightsForms);
}

absl::StatusOr<Precision> ParsePrecision(absl::string_view text) {
  return ParseName(text, kPrecisions, "precision");
}
absl::string_view PrecisionName(Precision precision) {
  return NameOf(precision, kPrecisions);
}

absl::StatusOr<PlannerKind> ParsePlannerKind(absl::string_view text) {
  return ParseName(text, kPlanners, "planner");
}
absl::string_view PlannerKindName(PlannerKind kind) {
  return NameOf(kind, kPlanners);
}

absl::StatusOr<std::vector<int>> ParseBatchSizes(
    const std::vector<std::string>& values, const std::string& flag) {
  std::vector<int> sizes;
  for (const std::string& v : values) {
    int size = 0;
    if (!absl::SimpleAtoi(v, &size)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": \"", Bounded(v), "\" is not an integer"));
    }
    sizes.push_back(size);
  }
  return sizes;
}

bool AbslParseFlag(absl::string_view text, Device* out, std::string* error) {
  return ParseFlag(ParseDevice(text), out, error);
}
std::string AbslUnparseFlag(const Device& value) { return DeviceName(value); }
bool AbslParseFlag(absl::string_view text, WeightsForm* out,
                   std::string* error) {
  return ParseFlag(ParseWeightsForm(text), out, error);
}
std::string AbslUnparseFlag(WeightsForm value) {
  return std::string(WeightsFormName(value));
}
bool AbslParseFlag(absl::string_view text, Precision* out,
                   std::string* error) {
  return ParseFlag(ParsePrecision(text), out, error);
}
std::string AbslUnparseFlag(Precision value) {
  return std::string(PrecisionName(value));
}
bool AbslParseFlag(absl::string_view text, PlannerKind* out,
                   std::string* error) {
  return ParseFlag(ParsePlannerKind(text), out, error);
}
std::string AbslUnparseFlag(PlannerKind value) {
  return std::string(PlannerKindName(value));
}

}  // namespace slimserve
