#include "engine/model/quality_table.h"

#include <cmath>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/model/spec.h"

namespace slimserve {
namespace {

bool ValidQuality(double q) {
  return std::isfinite(q) && q > 0 && q <= kMaxNormalizedQuality;
}

std::string QualityRange() {
  return absl::StrCat("a finite number in (0, ", kMaxNormalizedQuality, "]");
}

}  // namespace

QualityTable QualityTable::Synthetic(const slimserve::v1::ModelSpec& spec) {
  QualityTable table;
  table.num_tasks_ = spec.tasks_size();
  table.num_encoder_widths_ = spec.encoder_widths_size();
  table.num_decoder_widths_ = spec.decoder_widths_size();
  table.synthetic_ = true;
  table.source_ = "synthetic";
  table.values_.reserve(static_cast<size_t>(table.num_tasks_) *
                        table.num_encoder_widths_ * table.num_decoder_widths_);
  for (int t = 0; t < table.num_tasks_; ++t) {
    for (double we : spec.encoder_widths()) {
      for (double wd : spec.decoder_widths()) {
        table.values_.push_back(1.0 - 0.3 * std::pow(1.0 - we, 1.5) -
                                0.2 * std::pow(1.0 - wd, 1.5));
      }
    }
  }
  return table;
}

absl::StatusOr<QualityTable> QualityTable::FromProfile(
    const slimserve::v1::ModelSpec& spec,
    const slimserve::v1::ProfileTable& profile) {
  if (!profile.model_name().empty() && profile.model_name() != spec.name()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_name: the profile is of model \"",
                     absl::CHexEscape(profile.model_name()),
                     "\", the spec is \"", spec.name(), "\""));
  }
  if (!profile.model_version().empty() &&
      profile.model_version() != spec.version()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_version: the profile is of version \"",
                     absl::CHexEscape(profile.model_version()),
                     "\", the spec is \"", spec.version(), "\""));
  }
  const int num_t = spec.tasks_size();
  const int num_e = spec.encoder_widths_size();
  const int num_d = spec.decoder_widths_size();
  QualityTable table;
  table.num_tasks_ = num_t;
  table.num_encoder_widths_ = num_e;
  table.num_decoder_widths_ = num_d;
  table.source_ = profile.source().empty() ? "profile" : profile.source();
  const size_t size = static_cast<size_t>(num_t) * num_e * num_d;
  table.values_.assign(size, 0.0);
  std::vector<int> seen_at(size, -1);  // entry index that filled the cell

  for (int i = 0; i < profile.entries_size(); ++i) {
    const auto& e = profile.entries(i);
    const std::string field = absl::StrCat("entries[", i, "]");
    int t = -1;
    for (int k = 0; k < num_t; ++k) {
      if (spec.tasks(k).name() == e.task()) t = k;
    }
    if (t < 0) {
      std::vector<std::string> names;
      for (const auto& task : spec.tasks()) names.push_back(task.name());
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".task: \"", absl::CHexEscape(e.task()),
          "\" is not a task of the model (it has: ", absl::StrJoin(names, ", "),
          ")"));
    }
    if (e.encoder_width_index() >= static_cast<uint32_t>(num_e)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".encoder_width_index: ", e.encoder_width_index(),
          " is out of range (the model has ", num_e, " encoder widths)"));
    }
    if (e.decoder_width_index() >= static_cast<uint32_t>(num_d)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".decoder_width_index: ", e.decoder_width_index(),
          " is out of range (the model has ", num_d, " decoder widths)"));
    }
    if (!ValidQuality(e.normalized_quality())) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".normalized_quality: must be ", QualityRange(),
                       ", got ", e.normalized_quality(), " (task \"", e.task(),
                       "\", encoder width index ", e.encoder_width_index(),
                       ", decoder width index ", e.decoder_width_index(), ")"));
    }
    const size_t cell =
        (static_cast<size_t>(t) * num_e + e.encoder_width_index()) * num_d +
        e.decoder_width_index();
    if (seen_at[cell] >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": duplicate of entries[", seen_at[cell], "] (task \"",
          e.task(), "\", encoder width index ", e.encoder_width_index(),
          ", decoder width index ", e.decoder_width_index(), ")"));
    }
    seen_at[cell] = i;
    table.values_[cell] = e.normalized_quality();
  }
  for (int t = 0; t < num_t; ++t) {
    for (int we = 0; we < num_e; ++we) {
      for (int wd = 0; wd < num_d; ++wd) {
        if (seen_at[(static_cast<size_t>(t) * num_e + we) * num_d + wd] < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "entries: no entry for task \"", spec.tasks(t).name(),
              "\", encoder width index ", we, ", decoder width index ", wd,
              " (every task needs one per encoder width and decoder width: ",
              num_t * num_e * num_d, " entries, the profile has ",
              profile.entries_size(), ")"));
        }
      }
    }
  }
  return table;
}

absl::StatusOr<QualityTable> QualityTable::FromValues(
    std::vector<std::vector<std::vector<double>>> values, std::string source) {
  QualityTable table;
  table.source_ = std::move(source);
  table.num_tasks_ = static_cast<int>(values.size());
  if (table.num_tasks_ == 0) {
    return absl::InvalidArgumentError("values: at least one task");
  }
  table.num_encoder_widths_ = static_cast<int>(values[0].size());
  if (table.num_encoder_widths_ == 0) {
    return absl::InvalidArgumentError("values[0]: at least one encoder width");
  }
  table.num_decoder_widths_ = static_cast<int>(values[0][0].size());
  if (table.num_decoder_widths_ == 0) {
    return absl::InvalidArgumentError(
        "values[0][0]: at least one decoder width");
  }
  for (int t = 0; t < table.num_tasks_; ++t) {
    if (static_cast<int>(values[t].size()) != table.num_encoder_widths_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "values[", t, "]: has ", values[t].size(),
          " encoder widths, values[0] has ", table.num_encoder_widths_));
    }
    for (int we = 0; we < table.num_encoder_widths_; ++we) {
      const auto& row = values[t][we];
      if (static_cast<int>(row.size()) != table.num_decoder_widths_) {
        return absl::InvalidArgumentError(absl::StrCat(
            "values[", t, "][", we, "]: has ", row.size(),
            " decoder widths, values[0][0] has ", table.num_decoder_widths_));
      }
      for (int wd = 0; wd < table.num_decoder_widths_; ++wd) {
        if (!ValidQuality(row[wd])) {
          return absl::InvalidArgumentError(
              absl::StrCat("values[", t, "][", we, "][", wd, "]: must be ",
                           QualityRange(), ", got ", row[wd]));
        }
        table.values_.push_back(row[wd]);
      }
    }
  }
  return table;
}

absl::StatusOr<slimserve::v1::ProfileTable> LoadProfileTable(
    const std::string& model_dir) {
  const std::string path = absl::StrCat(model_dir, "/", kProfileFileName);
  slimserve::v1::ProfileTable profile;
  if (absl::Status st =
          ReadTextProto(path, &profile, "no profile table in the model package");
      !st.ok()) {
    return st;
  }
  return profile;
}

absl::StatusOr<QualityTable> LoadQualityTable(
    const std::string& model_dir, const slimserve::v1::ModelSpec& spec) {
  absl::StatusOr<slimserve::v1::ProfileTable> profile =
      LoadProfileTable(model_dir);
  if (!profile.ok()) return profile.status();
  absl::StatusOr<QualityTable> table =
      QualityTable::FromProfile(spec, *profile);
  if (!table.ok()) {
    return absl::Status(table.status().code(),
                        absl::StrCat(model_dir, "/", kProfileFileName, ": ",
                                     table.status().message()));
  }
  return table;
}

absl::StatusOr<QualityTable> LoadQualityTableOrSynthetic(
    const std::string& model_dir, const slimserve::v1::ModelSpec& spec) {
  absl::StatusOr<QualityTable> table = LoadQualityTable(model_dir, spec);
  if (absl::IsNotFound(table.status())) return QualityTable::Synthetic(spec);
  return table;
}

}  // namespace slimserve
