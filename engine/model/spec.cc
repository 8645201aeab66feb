#include "engine/model/spec.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace slimserve {
namespace {

using slimserve::v1::ModelSpec;
using slimserve::v1::TaskKind;

absl::Status Bad(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status ValidateWidths(const std::string& field,
                            const google::protobuf::RepeatedField<double>& w) {
  if (w.empty()) return Bad(field, "at least one width is required");
  for (int i = 0; i < w.size(); ++i) {
    const std::string f = absl::StrCat(field, "[", i, "]");
    if (!(w[i] > 0.0 && w[i] <= 1.0)) {
      return Bad(f, absl::StrCat("must be in (0, 1], got ", w[i]));
    }
    if (i > 0 && !(w[i] > w[i - 1])) {
      return Bad(f, absl::StrCat("widths must be strictly increasing, got ",
                                 w[i - 1], " then ", w[i]));
    }
  }
  if (w[w.size() - 1] != 1.0) {
    return Bad(field, absl::StrCat("the last (widest) width must be 1.0, got ",
                                   w[w.size() - 1]));
  }
  return absl::OkStatus();
}

bool IsValidTaskName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  if (!(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

absl::Status ValidateModelSpec(const ModelSpec& spec) {
  if (spec.name().empty()) return Bad("name", "required");
  const auto& in = spec.input();
  if (in.height() < 8 || in.height() > 4096) {
    return Bad("input.height", absl::StrCat("must be in [8, 4096], got ",
                                            in.height()));
  }
  if (in.width() < 8 || in.width() > 4096) {
    return Bad("input.width", absl::StrCat("must be in [8, 4096], got ",
                                           in.width()));
  }
  if (in.mean_size() != 3) {
    return Bad("input.mean", absl::StrCat("needs 3 values (RGB), got ",
                                          in.mean_size()));
  }
  if (in.std_size() != 3) {
    return Bad("input.std", absl::StrCat("needs 3 values (RGB), got ",
                                         in.std_size()));
  }
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(in.mean(c))) {
      return Bad(absl::StrCat("input.mean[", c, "]"), "must be finite");
    }
    if (!(in.std(c) > 0) || !std::isfinite(in.std(c))) {
      return Bad(absl::StrCat("input.std[", c, "]"),
                 absl::StrCat("must be > 0, got ", in.std(c)));
    }
  }
  const auto& enc = spec.encoder();
  if (enc.stem_channels() < 1 || enc.stem_channels() > 4096) {
    return Bad("encoder.stem_channels",
               absl::StrCat("must be in [1, 4096], got ", enc.stem_channels()));
  }
  if (enc.stages().empty()) return Bad("encoder.stages", "at least one stage");
  for (int i = 0; i < enc.stages_size(); ++i) {
    const auto& s = enc.stages(i);
    const std::string f = absl::StrCat("encoder.stages[", i, "]");
    if (s.channels() < 1 || s.channels() > 4096) {
      return Bad(f + ".channels",
                 absl::StrCat("must be in [1, 4096], got ", s.channels()));
    }
    if (s.blocks() < 1 || s.blocks() > 64) {
      return Bad(f + ".blocks",
                 absl::StrCat("must be in [1, 64], got ", s.blocks()));
    }
    if (s.stride() != 1 && s.stride() != 2) {
      return Bad(f + ".stride",
                 absl::StrCat("must be 1 or 2, got ", s.stride()));
    }
  }
  if (auto st = ValidateWidths("encoder_widths", spec.encoder_widths());
      !st.ok()) {
    return st;
  }
  if (auto st = ValidateWidths("decoder_widths", spec.decoder_widths());
      !st.ok()) {
    return st;
  }
  if (spec.tasks().empty()) return Bad("tasks", "at least one task");
  std::set<std::string> names;
  for (int t = 0; t < spec.tasks_size(); ++t) {
    const auto& task = spec.tasks(t);
    const std::string f = absl::StrCat("tasks[", t, "]");
    if (!IsValidTaskName(task.name())) {
      return Bad(f + ".name",
                 absl::StrCat("must match [a-z][a-z0-9_]{0,63}, got \"",
                              task.name(), "\""));
    }
    if (!names.insert(task.name()).second) {
      return Bad(f + ".name",
                 absl::StrCat("duplicate task name \"", task.name(), "\""));
    }
    if (!slimserve::v1::TaskKind_IsValid(task.kind()) ||
        task.kind() == slimserve::v1::TASK_KIND_UNSPECIFIED) {
      return Bad(f + ".kind", "must be set to a known TaskKind");
    }
    if (task.kind() == slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION) {
      if (task.num_classes() < 2 || task.num_classes() > 256) {
        return Bad(f + ".num_classes",
                   absl::StrCat("must be in [2, 256] for segmentation, got ",
                                task.num_classes()));
      }
    } else if (task.num_classes() != 0) {
      return Bad(f + ".num_classes", "only segmentation tasks have classes");
    }
    const auto& dec = task.decoder();
    if (dec.channels() < 1 || dec.channels() > 4096) {
      return Bad(f + ".decoder.channels",
                 absl::StrCat("must be in [1, 4096], got ", dec.channels()));
    }
    if (dec.num_convs() > 8) {
      return Bad(f + ".decoder.num_convs",
                 absl::StrCat("must be in [0, 8], got ", dec.num_convs()));
    }
    if (dec.input_stages().empty()) {
      return Bad(f + ".decoder.input_stages", "at least one stage");
    }
    for (int i = 0; i < dec.input_stages_size(); ++i) {
      const uint32_t s = dec.input_stages(i);
      if (s >= static_cast<uint32_t>(enc.stages_size())) {
        return Bad(absl::StrCat(f, ".decoder.input_stages[", i, "]"),
                   absl::StrCat("stage ", s, " does not exist (the encoder has ",
                                enc.stages_size(), ")"));
      }
      if (i > 0 && s <= dec.input_stages(i - 1)) {
        return Bad(absl::StrCat(f, ".decoder.input_stages[", i, "]"),
                   "stages must be strictly increasing");
      }
    }
  }
  if (!spec.weights_file().empty() &&
      spec.weights_file().find('/') != std::string::npos) {
    return Bad("weights_file", "must be a file name inside the package");
  }
  return absl::OkStatus();
}

absl::Status ReadTextProto(const std::string& path,
                           google::protobuf::Message* message,
                           const std::string& missing_hint) {
  std::ifstream file(path);
  if (!file) {
    return absl::NotFoundError(absl::StrCat(path, ": ", missing_hint));
  }
  std::stringstream text;
  text << file.rdbuf();
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), message)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a valid ", message->GetTypeName(), ": ",
                     errors.first()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelSpec> LoadModelSpec(const std::string& model_dir) {
  const std::string path = absl::StrCat(model_dir, "/", kSpecFileName);
  ModelSpec spec;
  if (absl::Status st = ReadTextProto(
          path, &spec,
          "cannot open the model spec (is --model_dir a model package?)");
      !st.ok()) {
    return st;
  }
  if (absl::Status st = ValidateModelSpec(spec); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", st.message()));
  }
  return spec;
}

int TaskOutputChannels(const slimserve::v1::TaskSpec& task) {
  switch (task.kind()) {
    case slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION:
      return static_cast<int>(task.num_classes());
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS:
      return 3;
    default:
      return 1;
  }
}

std::string WeightsPath(const std::string& model_dir, const ModelSpec& spec) {
  return absl::StrCat(model_dir, "/",
                      spec.weights_file().empty() ? kDefaultWeightsFileName
                                                  : spec.weights_file());
}

namespace {

void AddFourTasks(ModelSpec* spec, int num_classes, int decoder_channels,
                  int num_convs, int num_stages) {
  const struct {
    const char* name;
    TaskKind kind;
  } kTasks[] = {{"semseg", slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION},
                {"depth", slimserve::v1::TASK_KIND_DEPTH},
                {"normals", slimserve::v1::TASK_KIND_SURFACE_NORMALS},
                {"edges", slimserve::v1::TASK_KIND_EDGES}};
  for (const auto& t : kTasks) {
    auto* task = spec->add_tasks();
    task->set_name(t.name);
    task->set_kind(t.kind);
    if (t.kind == slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION) {
      task->set_num_classes(num_classes);
    }
    auto* dec = task->mutable_decoder();
    dec->set_channels(decoder_channels);
    dec->set_num_convs(num_convs);
    for (int s = 0; s < num_stages; ++s) dec->add_input_stages(s);
  }
}

void SetCommon(ModelSpec* spec, int height, int width) {
  spec->mutable_input()->set_height(height);
  spec->mutable_input()->set_width(width);
  // ImageNet statistics: the usual choice for natural RGB images.
  for (float m : {0.485f, 0.456f, 0.406f}) spec->mutable_input()->add_mean(m);
  for (float s : {0.229f, 0.224f, 0.225f}) spec->mutable_input()->add_std(s);
  for (double w : {0.25, 0.5, 0.75, 1.0}) {
    spec->add_encoder_widths(w);
    spec->add_decoder_widths(w);
  }
}

}  // namespace

ModelSpec DefaultModelSpec() {
  ModelSpec spec;
  spec.set_name("nyud-slim");
  spec.set_version("0.1-random");
  SetCommon(&spec, 96, 128);
  auto* enc = spec.mutable_encoder();
  enc->set_stem_channels(24);
  const uint32_t kStages[][3] = {
      {32, 1, 2}, {64, 2, 2}, {96, 2, 2}, {128, 2, 2}};
  for (const auto& s : kStages) {
    auto* stage = enc->add_stages();
    stage->set_channels(s[0]);
    stage->set_blocks(s[1]);
    stage->set_stride(s[2]);
  }
  // Two 3x3 convolutions per decoder (nyud-slim 1.2): with one, normals'
  // and edges' decoder widths barely changed their quality, so a task's
  // preference had little to act on (models/default/README.md).
  AddFourTasks(&spec, /*num_classes=*/8, /*decoder_channels=*/32,
               /*num_convs=*/2,
               enc->stages_size());
  spec.set_decoder_bn_affine(ModelSpec::DECODER_BATCH_NORM_AFFINE_PER_DECODER_WIDTH);
  return spec;
}

ModelSpec TinyModelSpec() {
  ModelSpec spec;
  spec.set_name("tiny");
  spec.set_version("test");
  SetCommon(&spec, 32, 48);
  auto* enc = spec.mutable_encoder();
  enc->set_stem_channels(8);
  const uint32_t kStages[][3] = {{8, 1, 2}, {16, 1, 2}, {24, 1, 2}};
  for (const auto& s : kStages) {
    auto* stage = enc->add_stages();
    stage->set_channels(s[0]);
    stage->set_blocks(s[1]);
    stage->set_stride(s[2]);
  }
  AddFourTasks(&spec, /*num_classes=*/8, /*decoder_channels=*/8,
               /*num_convs=*/1,
               enc->stages_size());
  return spec;
}

}  // namespace slimserve
