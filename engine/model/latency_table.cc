#include "engine/model/latency_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "engine/model/spec.h"
#include "google/protobuf/text_format.h"

namespace slimserve {

absl::Status ValidateLatencyTable(const LatencyTable& latency,
                                  const slimserve::v1::ModelSpec& spec) {
  const auto bad = [](const std::string& field, const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrCat("latency table: ", field, ": ", what));
  };
  const auto ok_ms = [](double v) { return std::isfinite(v) && v >= 0; };
  if (latency.batch_size < 1) {
    return bad("batch_size",
               absl::StrCat("must be >= 1, got ", latency.batch_size));
  }
  if (!ok_ms(latency.fixed_ms)) {
    return bad("fixed_ms",
               absl::StrCat("must be finite and >= 0, got ", latency.fixed_ms));
  }
  const size_t num_e = spec.encoder_widths_size();
  const size_t num_d = spec.decoder_widths_size();
  if (latency.encoder_ms.size() != num_e) {
    return bad("encoder_ms", absl::StrCat("has ", latency.encoder_ms.size(),
                                          " entries, the model has ", num_e,
                                          " encoder widths"));
  }
  for (size_t e = 0; e < num_e; ++e) {
    if (!ok_ms(latency.encoder_ms[e])) {
      return bad(
          absl::StrCat("encoder_ms[", e, "]"),
          absl::StrCat("must be finite and >= 0, got ", latency.encoder_ms[e]));
    }
  }
  if (latency.decoder_ms.size() != static_cast<size_t>(spec.tasks_size())) {
    return bad("decoder_ms",
               absl::StrCat("has ", latency.decoder_ms.size(),
                            " tasks, the model has ", spec.tasks_size()));
  }
  // One [we][wd] grid of decoder times, named `field` in messages.
  const auto check_grid =
      [&](const std::string& field,
          const std::vector<std::vector<double>>& grid) -> absl::Status {
    if (grid.size() != num_e) {
      return bad(field, absl::StrCat("has ", grid.size(),
                                     " encoder widths, the model has ", num_e));
    }
    for (size_t e = 0; e < num_e; ++e) {
      const auto& row = grid[e];
      if (row.size() != num_d) {
        return bad(absl::StrCat(field, "[", e, "]"),
                   absl::StrCat("has ", row.size(),
                                " decoder widths, the model has ", num_d));
      }
      for (size_t d = 0; d < num_d; ++d) {
        if (!ok_ms(row[d])) {
          return bad(absl::StrCat(field, "[", e, "][", d, "]"),
                     absl::StrCat("must be finite and >= 0, got ", row[d]));
        }
      }
    }
    return absl::OkStatus();
  };
  for (size_t t = 0; t < latency.decoder_ms.size(); ++t) {
    SLIM_RETURN_IF_ERROR(
        check_grid(absl::StrCat("decoder_ms[", t, "]"), latency.decoder_ms[t]));
  }
  if (!latency.fused_decoder_ms.empty()) {
    SLIM_RETURN_IF_ERROR(
        check_grid("fused_decoder_ms", latency.fused_decoder_ms));
  }
  return absl::OkStatus();
}

double FusionSavingMs(const LatencyTable& latency, int encoder_width,
                      int decoder_width) {
  const size_t num_tasks = latency.decoder_ms.size();
  if (latency.fused_decoder_ms.empty() || num_tasks < 2) return 0;
  double sum = 0;
  double smallest = std::numeric_limits<double>::infinity();
  for (const auto& task : latency.decoder_ms) {
    const double ms = task[encoder_width][decoder_width];
    sum += ms;
    smallest = std::min(smallest, ms);
  }
  const double saved =
      sum - latency.fused_decoder_ms[encoder_width][decoder_width];
  return std::clamp(saved / static_cast<double>(num_tasks - 1), 0.0, smallest);
}

double PredictLatencyMs(const LatencyTable& latency,
                        const std::vector<int>& tasks, int encoder_width,
                        const std::vector<int>& decoder_widths) {
  double ms = latency.fixed_ms + latency.encoder_ms[encoder_width];
  // One request's decoders share their rows, so the executor fuses every
  // group of them at one width (engine/runtime/executor.h DecoderRuns).
  std::map<int, int> per_width;  // decoder width -> decoders at it
  for (size_t i = 0; i < tasks.size(); ++i) {
    ms += latency.decoder_ms[tasks[i]][encoder_width][decoder_widths[i]];
    ++per_width[decoder_widths[i]];
  }
  for (const auto& [wd, count] : per_width) {
    ms -= (count - 1) * FusionSavingMs(latency, encoder_width, wd);
  }
  return ms;
}

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
    for (size_t we = 0; we < table.fused_decoder_ms.size(); ++we) {
      auto* row = t->add_fused_decoders();
      row->set_encoder_width_index(we);
      for (double ms : table.fused_decoder_ms[we]) row->add_ms(ms);
    }
  }
  return proto;
}

absl::StatusOr<LatencyProfile> LatencyProfileFromProto(
    const slimserve::v1::LatencyProfileProto& proto,
    const slimserve::v1::ModelSpec& spec) {
  const int num_e = spec.encoder_widths_size();
  const int num_d = spec.decoder_widths_size();
  // A decoder row of the file (per task or fused) must fit the model.
  const auto row_fits = [&](const std::string& field,
                            const auto& row) -> absl::Status {
    if (row.encoder_width_index() < static_cast<uint32_t>(num_e) &&
        row.ms_size() == num_d) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": encoder_width_index ", row.encoder_width_index(), " and ",
        row.ms_size(), " decoder widths do not fit the model (", num_e, " x ",
        num_d, ")"));
  };
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
      SLIM_RETURN_IF_ERROR(
          row_fits(absl::StrCat(where, ".decoders[", r, "]"), row));
      table.decoder_ms[task][row.encoder_width_index()].assign(
          row.ms().begin(), row.ms().end());
    }
    if (t.fused_decoders_size() > 0) {
      table.fused_decoder_ms.assign(num_e,
                                    std::vector<double>(num_d, std::nan("")));
    }
    for (int r = 0; r < t.fused_decoders_size(); ++r) {
      const auto& row = t.fused_decoders(r);
      SLIM_RETURN_IF_ERROR(
          row_fits(absl::StrCat(where, ".fused_decoders[", r, "]"), row));
      table.fused_decoder_ms[row.encoder_width_index()].assign(
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
