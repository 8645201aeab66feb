#include "engine/latency_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/model_spec.h"
#include "engine/status_macros.h"
#include "google/protobuf/text_format.h"

namespace slimserve {

absl::Status ValidateLatencyProfile(const LatencyProfile& profile,
                                    const slimserve::v1::ModelSpec& spec) {
  if (profile.tables.empty()) {
    return absl::InvalidArgumentError("latency profile: no tables");
  }
  if (profile.tables[0].batch_size != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "latency profile: tables[0].batch_size must be 1, got ",
        profile.tables[0].batch_size));
  }
  for (size_t i = 0; i < profile.tables.size(); ++i) {
    if (i > 0 &&
        profile.tables[i].batch_size <= profile.tables[i - 1].batch_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "latency profile: tables[", i, "].batch_size ",
          profile.tables[i].batch_size, " is not above the previous table's ",
          profile.tables[i - 1].batch_size));
    }
    const absl::Status st = ValidateLatencyTable(profile.tables[i], spec);
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("latency profile: tables[", i, "]: ", st.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int>> ParseBatchSizes(
    const std::vector<std::string>& values, const std::string& flag) {
  std::vector<int> sizes;
  for (const std::string& v : values) {
    int size = 0;
    if (!absl::SimpleAtoi(v, &size)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": \"", v, "\" is not an integer"));
    }
    sizes.push_back(size);
  }
  return sizes;
}

double LinearMs::At(int rows) const {
  return std::max(0.0, fixed + per_item * rows);
}

LinearMs FitLinear(const std::vector<int>& batch_sizes,
                   const std::vector<double>& ms) {
  const size_t n = batch_sizes.size();
  if (n == 1) return {0, ms[0] / batch_sizes[0]};
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += batch_sizes[i];
    my += ms[i];
  }
  mx /= n;
  my /= n;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxx += (batch_sizes[i] - mx) * (batch_sizes[i] - mx);
    sxy += (batch_sizes[i] - mx) * (ms[i] - my);
  }
  const double slope = sxx > 0 ? sxy / sxx : 0;
  if (slope <= 0) return {my, 0};
  return {my - slope * mx, slope};
}

BatchLatencyModel::BatchLatencyModel(const LatencyProfile& profile,
                                     const slimserve::v1::ModelSpec& spec) {
  std::vector<int> sizes;
  for (const LatencyTable& t : profile.tables) sizes.push_back(t.batch_size);
  const int num_e = spec.encoder_widths_size();
  const int num_d = spec.decoder_widths_size();
  std::vector<double> ms(sizes.size());
  for (int we = 0; we < num_e; ++we) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      ms[i] = profile.tables[i].encoder_ms[we];
    }
    encoder_.push_back(FitLinear(sizes, ms));
  }
  decoder_.assign(spec.tasks_size(),
                  std::vector<std::vector<LinearMs>>(
                      num_e, std::vector<LinearMs>(num_d)));
  for (int t = 0; t < spec.tasks_size(); ++t) {
    for (int we = 0; we < num_e; ++we) {
      for (int wd = 0; wd < num_d; ++wd) {
        for (size_t i = 0; i < sizes.size(); ++i) {
          ms[i] = profile.tables[i].decoder_ms[t][we][wd];
        }
        decoder_[t][we][wd] = FitLinear(sizes, ms);
      }
    }
  }
}

double BatchLatencyModel::BatchMs(int we,
                                  const std::vector<BatchItem>& items) const {
  if (items.empty()) return 0;
  std::map<std::pair<int, int>, int> groups;  // (task, wd) -> rows
  for (const BatchItem& item : items) {
    for (size_t i = 0; i < item.tasks.size(); ++i) {
      ++groups[{item.tasks[i], item.decoder_widths[i]}];
    }
  }
  double ms = encoder_[we].At(static_cast<int>(items.size()));
  for (const auto& [group, rows] : groups) {
    ms += decoder_[group.first][we][group.second].At(rows);
  }
  return ms;
}

LinearMs BatchLatencyModel::QueueModel(
    int we, const std::vector<BatchItem>& items) const {
  LinearMs m = encoder_[we];
  if (items.empty()) return m;
  std::map<std::pair<int, int>, bool> groups;
  double slopes = 0;
  for (const BatchItem& item : items) {
    for (size_t i = 0; i < item.tasks.size(); ++i) {
      const LinearMs& d = decoder_[item.tasks[i]][we][item.decoder_widths[i]];
      slopes += d.per_item;
      if (!groups[{item.tasks[i], item.decoder_widths[i]}]) {
        groups[{item.tasks[i], item.decoder_widths[i]}] = true;
        m.fixed += d.fixed;
      }
    }
  }
  m.per_item += slopes / items.size();
  return m;
}

slimserve::v1::LatencyProfileProto LatencyProfileToProto(
    const LatencyProfile& profile, const slimserve::v1::ModelSpec& spec) {
  slimserve::v1::LatencyProfileProto proto;
  for (const LatencyTable& table : profile.tables) {
    auto* t = proto.add_tables();
    t->set_batch_size(table.batch_size);
    for (double ms : table.encoder_ms) t->add_encoder_ms(ms);
    for (size_t task = 0; task < table.decoder_ms.size(); ++task) {
      for (size_t we = 0; we < table.decoder_ms[task].size(); ++we) {
        auto* row = t->add_decoders();
        row->set_task(spec.tasks(task).name());
        row->set_encoder_width_index(we);
        for (double ms : table.decoder_ms[task][we]) row->add_ms(ms);
      }
    }
  }
  return proto;
}

absl::StatusOr<LatencyProfile> LatencyProfileFromProto(
    const slimserve::v1::LatencyProfileProto& proto,
    const slimserve::v1::ModelSpec& spec) {
  const int num_e = spec.encoder_widths_size();
  const int num_d = spec.decoder_widths_size();
  LatencyProfile profile;
  for (int i = 0; i < proto.tables_size(); ++i) {
    const auto& t = proto.tables(i);
    const std::string where = absl::StrCat("tables[", i, "]");
    LatencyTable table;
    table.batch_size = static_cast<int>(t.batch_size());
    table.encoder_ms.assign(t.encoder_ms().begin(), t.encoder_ms().end());
    // NaN marks an entry the file does not give; validation names it.
    table.decoder_ms.assign(
        spec.tasks_size(),
        std::vector<std::vector<double>>(
            num_e, std::vector<double>(num_d, std::nan(""))));
    for (int r = 0; r < t.decoders_size(); ++r) {
      const auto& row = t.decoders(r);
      int task = -1;
      for (int k = 0; k < spec.tasks_size(); ++k) {
        if (spec.tasks(k).name() == row.task()) task = k;
      }
      if (task < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".decoders[", r, "].task: unknown task \"", row.task(),
            "\""));
      }
      if (row.encoder_width_index() >= static_cast<uint32_t>(num_e) ||
          row.ms_size() != num_d) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".decoders[", r, "]: encoder_width_index ",
            row.encoder_width_index(), " and ", row.ms_size(),
            " decoder widths do not fit the model (", num_e, " x ", num_d,
            ")"));
      }
      table.decoder_ms[task][row.encoder_width_index()].assign(
          row.ms().begin(), row.ms().end());
    }
    profile.tables.push_back(std::move(table));
  }
  SLIM_RETURN_IF_ERROR(ValidateLatencyProfile(profile, spec));
  return profile;
}

absl::StatusOr<LatencyProfile> ReadLatencyCache(
    const std::string& path, const std::string& key,
    const slimserve::v1::ModelSpec& spec) {
  slimserve::v1::LatencyProfileProto proto;
  SLIM_RETURN_IF_ERROR(
      ReadTextProto(path, &proto, "it is written after the first measurement"));
  if (proto.key() != key) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": measured for \"", proto.key(),
                     "\", not for this server's \"", key, "\""));
  }
  absl::StatusOr<LatencyProfile> profile = LatencyProfileFromProto(proto, spec);
  if (!profile.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", profile.status().message()));
  }
  return profile;
}

absl::Status WriteLatencyCache(const std::string& path, const std::string& key,
                               const LatencyProfile& profile,
                               const slimserve::v1::ModelSpec& spec,
                               double measure_seconds) {
  slimserve::v1::LatencyProfileProto proto = LatencyProfileToProto(profile, spec);
  proto.set_key(key);
  proto.set_measured_at(absl::FormatTime(absl::Now(), absl::UTCTimeZone()));
  proto.set_measure_seconds(measure_seconds);
  std::string text;
  google::protobuf::TextFormat::PrintToString(proto, &text);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "# proto-file: proto/slimserve/v1/profile.proto\n"
        << "# proto-message: slimserve.v1.LatencyProfileProto\n"
        << text;
    if (!out.good()) {
      return absl::UnavailableError(absl::StrCat(tmp, ": cannot write"));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot rename into place: ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace slimserve
