#include "server/kserve_rest.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/strings.h"
#include "server/json.h"
#include "server/metrics.h"

namespace slimserve {
namespace {

using inference::InferParameter;
using inference::ModelInferRequest;
using inference::ModelInferResponse;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

const char* TypeName(const Json& j) {
  switch (j.type()) {
    case Json::Type::kNull: return "null";
    case Json::Type::kBool: return "a boolean";
    case Json::Type::kNumber: return "a number";
    case Json::Type::kString: return "a string";
    case Json::Type::kArray: return "an array";
    case Json::Type::kObject: return "an object";
  }
  return "?";
}

absl::Status WrongType(absl::string_view field, const char* want,
                       const Json& got) {
  return Invalid(field, absl::StrCat(want, " expected, got ", TypeName(got)));
}

// A JSON parameter value as the gRPC protocol's InferParameter.
absl::StatusOr<InferParameter> ParameterOf(absl::string_view field,
                                           const Json& value) {
  InferParameter p;
  switch (value.type()) {
    case Json::Type::kBool:
      p.set_bool_param(value.bool_value());
      return p;
    case Json::Type::kNumber:
      p.set_double_param(value.number());
      return p;
    case Json::Type::kString:
      p.set_string_param(value.string());
      return p;
    default:
      return WrongType(field, "a number, string or boolean", value);
  }
}

Json JsonOf(const InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case InferParameter::kBoolParam:
      return Json::Bool(p.bool_param());
    case InferParameter::kInt64Param:
      return Json::Number(static_cast<double>(p.int64_param()));
    case InferParameter::kUint64Param:
      return Json::Number(static_cast<double>(p.uint64_param()));
    case InferParameter::kDoubleParam:
      return Json::Number(p.double_param());
    case InferParameter::kStringParam:
      return Json::String(p.string_param());
    default:
      return Json();
  }
}

// Sorted by name: protobuf maps have no order, responses should.
Json ParametersJson(
    const google::protobuf::Map<std::string, InferParameter>& parameters) {
  std::map<std::string, const InferParameter*> sorted;
  for (const auto& [name, value] : parameters) sorted[name] = &value;
  Json out = Json::Object();
  for (const auto& [name, value] : sorted) out.Add(name, JsonOf(*value));
  return out;
}

// Copies an object of parameters into `out`, but for the names `own`
// handles (it returns false for the others).
template <typename Own>
absl::Status CopyParameters(
    absl::string_view field, const Json& object,
    google::protobuf::Map<std::string, InferParameter>* out, Own own) {
  if (object.type() != Json::Type::kObject) {
    return WrongType(field, "an object", object);
  }
  for (const auto& [name, value] : object.members()) {
    const std::string pfield =
        absl::StrCat(field, "[", Bounded(name, 40), "]");
    absl::StatusOr<bool> handled = own(pfield, name, value);
    if (!handled.ok()) return handled.status();
    if (*handled) continue;
    absl::StatusOr<InferParameter> p = ParameterOf(pfield, value);
    if (!p.ok()) return p.status();
    out->insert({name, *std::move(p)});  // a repeated name: the first
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> BoolField(absl::string_view field, const Json& value) {
  if (value.type() != Json::Type::kBool) {
    return WrongType(field, "a boolean", value);
  }
  return value.bool_value();
}

// For CopyParameters: takes the boolean parameter `claimed` into `*flag`.
auto ClaimBool(absl::string_view claimed, bool* flag) {
  return [claimed, flag](const std::string& pfield, const std::string& name,
                         const Json& v) -> absl::StatusOr<bool> {
    if (name != claimed) return false;
    absl::StatusOr<bool> b = BoolField(pfield, v);
    if (!b.ok()) return b.status();
    *flag = *b;
    return true;
  };
}

absl::StatusOr<std::string> StringField(absl::string_view field,
                                        const Json& value) {
  if (value.type() != Json::Type::kString) {
    return WrongType(field, "a string", value);
  }
  return value.string();
}

// An integer >= 0 from a JSON number (a size or a dimension).
absl::StatusOr<int64_t> CountField(absl::string_view field, double value) {
  if (!(value >= 0) || value > 9e15 || value != std::floor(value)) {
    return Invalid(field, absl::StrCat("an integer >= 0 expected, got ",
                                       value));
  }
  return static_cast<int64_t>(value);
}

// One input tensor object; takes its binary data from `binary` at
// `*offset`.
absl::Status MapInput(int index, const Json& input, absl::string_view binary,
                      size_t* offset, ModelInferRequest* out) {
  const std::string field = absl::StrCat("inputs[", index, "]");
  if (input.type() != Json::Type::kObject) {
    return WrongType(field, "an object", input);
  }
  ModelInferRequest::InferInputTensor* tensor = out->add_inputs();
  int64_t binary_size = -1;
  const Json* data = nullptr;
  for (const auto& [key, value] : input.members()) {
    const std::string kfield = absl::StrCat(field, ".", Bounded(key, 40));
    if (key == "name") {
      absl::StatusOr<std::string> s = StringField(kfield, value);
      if (!s.ok()) return s.status();
      tensor->set_name(*s);
    } else if (key == "datatype") {
      absl::StatusOr<std::string> s = StringField(kfield, value);
      if (!s.ok()) return s.status();
      tensor->set_datatype(*s);
    } else if (key == "shape") {
      if (!value.is_numbers()) return WrongType(kfield, "numbers", value);
      for (size_t i = 0; i < value.numbers().size(); ++i) {
        absl::StatusOr<int64_t> d =
            CountField(absl::StrCat(kfield, "[", i, "]"), value.numbers()[i]);
        if (!d.ok()) return d.status();
        tensor->add_shape(*d);
      }
    } else if (key == "parameters") {
      absl::Status st = CopyParameters(
          kfield, value, tensor->mutable_parameters(),
          [&](const std::string& pfield, const std::string& name,
              const Json& v) -> absl::StatusOr<bool> {
            if (name != "binary_data_size") return false;
            if (v.type() != Json::Type::kNumber) {
              return WrongType(pfield, "a number", v);
            }
            absl::StatusOr<int64_t> n = CountField(pfield, v.number());
            if (!n.ok()) return n.status();
            binary_size = *n;
            return true;
          });
      if (!st.ok()) return st;
    } else if (key == "data") {
      data = &value;
    } else {
      return Invalid(kfield,
                     "unknown field (known: name, datatype, shape, "
                     "parameters, data)");
    }
  }
  if (binary_size >= 0) {
    if (data != nullptr) {
      return Invalid(field, "data and parameters.binary_data_size both set");
    }
    const size_t left = binary.size() - *offset;
    if (static_cast<uint64_t>(binary_size) > left) {
      return Invalid(
          absl::StrCat(field, ".parameters[binary_data_size]"),
          absl::StrCat(binary_size, " bytes, but only ", left,
                       " binary bytes are left in the body"));
    }
    out->add_raw_input_contents(
        std::string(binary.substr(*offset, static_cast<size_t>(binary_size))));
    *offset += static_cast<size_t>(binary_size);
    return absl::OkStatus();
  }
  if (data == nullptr) {
    return Invalid(field, "data or parameters.binary_data_size required");
  }
  const std::string dfield = absl::StrCat(field, ".data");
  if (tensor->datatype() == "BYTES") {
    if (data->is_numbers() && !data->numbers().empty()) {
      return WrongType(dfield, "strings", *data);
    }
    if (data->type() != Json::Type::kArray) {
      return WrongType(dfield, "an array", *data);
    }
    for (size_t i = 0; i < data->items().size(); ++i) {
      absl::StatusOr<std::string> s =
          StringField(absl::StrCat(dfield, "[", i, "]"), data->items()[i]);
      if (!s.ok()) return s.status();
      tensor->mutable_contents()->add_bytes_contents(*std::move(s));
    }
    return absl::OkStatus();
  }
  if (tensor->datatype() != "UINT8") {
    // kserve_convert names the datatypes it takes.
    return absl::OkStatus();
  }
  if (!data->is_numbers()) return WrongType(dfield, "numbers", *data);
  int64_t elements = 1;
  for (const int64_t d : tensor->shape()) {
    elements = d > 0 && elements <= (int64_t{1} << 40) / d ? elements * d : -1;
  }
  const std::vector<float>& numbers = data->numbers();
  if (elements != static_cast<int64_t>(numbers.size())) {
    return Invalid(dfield, absl::StrCat(numbers.size(), " numbers for shape [",
                                        absl::StrJoin(tensor->shape(), ", "),
                                        "]"));
  }
  std::string bytes(numbers.size(), '\0');
  for (size_t i = 0; i < numbers.size(); ++i) {
    const float v = numbers[i];
    if (!(v >= 0 && v <= 255) || v != std::floor(v)) {
      return Invalid(absl::StrCat(dfield, "[", i, "]"),
                     absl::StrCat(v, " is not a UINT8"));
    }
    bytes[i] = static_cast<char>(static_cast<uint8_t>(v));
  }
  out->add_raw_input_contents(std::move(bytes));
  return absl::OkStatus();
}

// One requested output object; whether it asked for binary data goes into
// `binary_by_output` under its name.
absl::Status MapOutput(int index, const Json& output, ModelInferRequest* out,
                       std::map<std::string, bool>* binary_by_output) {
  const std::string field = absl::StrCat("outputs[", index, "]");
  if (output.type() != Json::Type::kObject) {
    return WrongType(field, "an object", output);
  }
  auto* requested = out->add_outputs();
  bool binary_data = false;
  for (const auto& [key, value] : output.members()) {
    const std::string kfield = absl::StrCat(field, ".", Bounded(key, 40));
    if (key == "name") {
      absl::StatusOr<std::string> s = StringField(kfield, value);
      if (!s.ok()) return s.status();
      requested->set_name(*s);
    } else if (key == "parameters") {
      absl::Status st =
          CopyParameters(kfield, value, requested->mutable_parameters(),
                         ClaimBool("binary_data", &binary_data));
      if (!st.ok()) return st;
    } else {
      return Invalid(kfield, "unknown field (known: name, parameters)");
    }
  }
  (*binary_by_output)[requested->name()] = binary_data;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RestRoute> ParseRestRoute(absl::string_view path) {
  RestRoute route;
  const auto not_found = [&] {
    return absl::NotFoundError(absl::StrCat(
        "path: no KServe v2 route \"", Bounded(path, 80),
        "\" (/v2, /v2/health/live, /v2/health/ready, "
        "/v2/models/M[/versions/V][/ready|/infer])"));
  };
  if (path == "/v2" || path == "/v2/") return route;
  if (path == "/v2/health/live") {
    route.kind = RestRoute::Kind::kLive;
    return route;
  }
  if (path == "/v2/health/ready") {
    route.kind = RestRoute::Kind::kReady;
    return route;
  }
  absl::string_view rest = path;
  if (!absl::ConsumePrefix(&rest, "/v2/models/")) return not_found();
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
  if (parts.empty() || parts.size() > 4 || parts[0].empty()) {
    return not_found();
  }
  route.model = std::string(parts[0]);
  size_t next = 1;
  if (parts.size() >= 3 && parts[1] == "versions") {
    if (parts[2].empty()) return not_found();
    route.version = std::string(parts[2]);
    next = 3;
  }
  route.kind = RestRoute::Kind::kModelMetadata;
  if (next == parts.size()) return route;
  if (next + 1 != parts.size()) return not_found();
  if (parts[next] == "ready") {
    route.kind = RestRoute::Kind::kModelReady;
  } else if (parts[next] == "infer") {
    route.kind = RestRoute::Kind::kModelInfer;
  } else {
    return not_found();
  }
  return route;
}

absl::StatusOr<RestInfer> RestInferFromHttp(absl::string_view body,
                                            int64_t header_length,
                                            const RestRoute& route,
                                            const ModelInfo& info) {
  absl::string_view json = body;
  absl::string_view binary;
  if (header_length >= 0) {
    if (static_cast<uint64_t>(header_length) > body.size()) {
      return Invalid("Inference-Header-Content-Length",
                     absl::StrCat(header_length, ", more than the body's ",
                                  body.size(), " bytes"));
    }
    json = body.substr(0, static_cast<size_t>(header_length));
    binary = body.substr(static_cast<size_t>(header_length));
  }
  absl::StatusOr<Json> parsed = ParseJson(json);
  if (!parsed.ok()) return parsed.status();
  if (parsed->type() != Json::Type::kObject) {
    return WrongType("body", "an object", *parsed);
  }
  ModelInferRequest proto;
  proto.set_model_name(route.model);
  proto.set_model_version(route.version);
  bool all_binary = false;
  std::map<std::string, bool> binary_by_output;
  size_t offset = 0;
  for (const auto& [key, value] : parsed->members()) {
    if (key == "id") {
      absl::StatusOr<std::string> s = StringField("id", value);
      if (!s.ok()) return s.status();
      proto.set_id(*s);
    } else if (key == "parameters") {
      absl::Status st =
          CopyParameters("parameters", value, proto.mutable_parameters(),
                         ClaimBool("binary_data_output", &all_binary));
      if (!st.ok()) return st;
    } else if (key == "inputs") {
      if (value.type() != Json::Type::kArray) {
        return WrongType("inputs", "an array", value);
      }
      if (value.is_numbers() && !value.numbers().empty()) {
        return WrongType("inputs", "objects", value);
      }
      for (size_t i = 0; i < value.items().size(); ++i) {
        absl::Status st = MapInput(static_cast<int>(i), value.items()[i],
                                   binary, &offset, &proto);
        if (!st.ok()) return st;
      }
    } else if (key == "outputs") {
      if (value.type() != Json::Type::kArray ||
          (value.is_numbers() && !value.numbers().empty())) {
        return WrongType("outputs", "an array of objects", value);
      }
      for (size_t i = 0; i < value.items().size(); ++i) {
        absl::Status st = MapOutput(static_cast<int>(i), value.items()[i],
                                    &proto, &binary_by_output);
        if (!st.ok()) return st;
      }
    } else {
      return Invalid(Bounded(key, 40),
                     "unknown field (known: id, parameters, inputs, outputs)");
    }
  }
  if (offset != binary.size()) {
    return Invalid("body", absl::StrCat(binary.size() - offset,
                                        " binary bytes no input claims "
                                        "(parameters.binary_data_size)"));
  }
  absl::StatusOr<KServeInfer> call = KServeInferFromProto(proto, info);
  if (!call.ok()) return call.status();
  RestInfer out;
  out.call = *std::move(call);
  out.id = out.call.request.id;
  for (const std::string& name : out.call.outputs) {
    const auto it = binary_by_output.find(name);
    const bool binary_data =
        all_binary || (it != binary_by_output.end() && it->second);
    const auto format = out.call.request.output_formats.find(name);
    const OutputFormat f = format != out.call.request.output_formats.end()
                               ? format->second
                               : out.call.request.default_output_format;
    if (f == OutputFormat::kPng && !binary_data) {
      return Invalid(
          absl::StrCat("outputs[", Bounded(name, 40), "]"),
          "a PNG output must be binary data (parameters.binary_data or the "
          "request's binary_data_output): JSON strings carry no PNG bytes");
    }
    out.binary_outputs.push_back(binary_data);
  }
  return out;
}

RestBody RestInferResponse(InferResult&& result, const RestInfer& request,
                           const ModelInfo& info, absl::Duration total) {
  ModelInferResponse proto;
  KServeInferToProto(std::move(result), request.id,
                     request.call.outputs, info, total, &proto);
  Json out = Json::Object();
  out.Add("model_name", Json::String(proto.model_name()));
  out.Add("model_version", Json::String(proto.model_version()));
  out.Add("id", Json::String(proto.id()));
  out.Add("parameters", ParametersJson(proto.parameters()));
  std::vector<Json> outputs;
  std::string binary;
  bool any_binary = false;
  for (int i = 0; i < proto.outputs_size(); ++i) {
    const ModelInferResponse::InferOutputTensor& tensor = proto.outputs(i);
    const std::string& data = proto.raw_output_contents(i);
    Json o = Json::Object();
    o.Add("name", Json::String(tensor.name()));
    o.Add("datatype", Json::String(tensor.datatype()));
    std::vector<float> shape(tensor.shape().begin(), tensor.shape().end());
    o.Add("shape", Json::Numbers(std::move(shape)));
    Json& params = o.Add("parameters", ParametersJson(tensor.parameters()));
    const size_t index = static_cast<size_t>(i);
    if (index < request.binary_outputs.size() && request.binary_outputs[index]) {
      any_binary = true;
      params.Add("binary_data_size",
                 Json::Number(static_cast<double>(data.size())));
      binary.append(data);
    } else {
      // FP32, little-endian as the engine writes it (x86 and ARM alike).
      std::vector<float> values(data.size() / sizeof(float));
      if (!values.empty()) {
        std::memcpy(values.data(), data.data(), values.size() * sizeof(float));
      }
      o.Add("data", Json::Numbers(std::move(values)));
    }
    outputs.push_back(std::move(o));
  }
  out.Add("outputs", Json::Array(std::move(outputs)));
  RestBody response;
  out.WriteTo(&response.body);
  if (any_binary) {
    response.header_length = static_cast<int64_t>(response.body.size());
    response.body.append(binary);
  }
  return response;
}

std::string RestServerMetadata() {
  Json out = Json::Object();
  out.Add("name", Json::String("slimserve"));
  out.Add("version", Json::String(kSlimserveVersion));
  out.Add("extensions",
          Json::Array({Json::String("binary_tensor_data")}));
  return out.Write();
}

std::string RestModelMetadata(const ModelInfo& info) {
  const inference::ModelMetadataResponse proto = KServeModelMetadata(info);
  Json out = Json::Object();
  out.Add("name", Json::String(proto.name()));
  std::vector<Json> versions;
  for (const std::string& v : proto.versions()) versions.push_back(Json::String(v));
  out.Add("versions", Json::Array(std::move(versions)));
  out.Add("platform", Json::String(proto.platform()));
  const auto tensors = [](const auto& list) {
    std::vector<Json> items;
    for (const auto& t : list) {
      Json o = Json::Object();
      o.Add("name", Json::String(t.name()));
      o.Add("datatype", Json::String(t.datatype()));
      o.Add("shape", Json::Numbers(std::vector<float>(t.shape().begin(),
                                                      t.shape().end())));
      items.push_back(std::move(o));
    }
    return Json::Array(std::move(items));
  };
  out.Add("inputs", tensors(proto.inputs()));
  out.Add("outputs", tensors(proto.outputs()));
  return out.Write();
}

std::string RestError(absl::string_view message) {
  Json out = Json::Object();
  out.Add("error", Json::String(std::string(message)));
  return out.Write();
}

}  // namespace slimserve
