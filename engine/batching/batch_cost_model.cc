#include "engine/batching/batch_cost_model.h"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>
#include <vector>

namespace slimserve {

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
  fusion_saving_.assign(num_e, std::vector<LinearMs>(num_d));
  for (int we = 0; we < num_e; ++we) {
    for (int wd = 0; wd < num_d; ++wd) {
      for (size_t i = 0; i < sizes.size(); ++i) {
        ms[i] = FusionSavingMs(profile.tables[i], we, wd);
      }
      fusion_saving_[we][wd] = FitLinear(sizes, ms);
    }
  }
}

double BatchLatencyModel::BatchMs(int we,
                                  const std::vector<const BatchItem*>& items) const {
  if (items.empty()) return 0;
  // (task, wd) -> the rows (item indices, ascending) that chose it.
  std::map<std::pair<int, int>, std::vector<int>> groups;
  for (size_t row = 0; row < items.size(); ++row) {
    const BatchItem& item = *items[row];
    for (size_t i = 0; i < item.tasks.size(); ++i) {
      groups[{item.tasks[i], item.decoder_widths[i]}].push_back(
          static_cast<int>(row));
    }
  }
  double ms = encoder_[we].At(static_cast<int>(items.size()));
  // As the executor runs them (DecoderRuns): tasks at one width on the
  // same rows form one fused run. Per run: its tasks and their fastest
  // decoder, which bounds the saving (the fit may extrapolate above it).
  struct Run {
    int tasks = 0;
    double fastest_ms = std::numeric_limits<double>::infinity();
  };
  std::map<std::pair<int, std::vector<int>>, Run> runs;
  for (const auto& [group, rows] : groups) {
    const double d =
        decoder_[group.first][we][group.second].At(static_cast<int>(rows.size()));
    ms += d;
    Run& run = runs[{group.second, rows}];
    ++run.tasks;
    run.fastest_ms = std::min(run.fastest_ms, d);
  }
  for (const auto& [key, run] : runs) {
    const int n = static_cast<int>(key.second.size());
    ms -= (run.tasks - 1) *
          std::min(run.fastest_ms, fusion_saving_[we][key.first].At(n));
  }
  return ms;
}

LinearMs BatchLatencyModel::QueueModel(
    int we, const std::vector<const BatchItem*>& items) const {
  LinearMs m = encoder_[we];
  if (items.empty()) return m;
  std::map<std::pair<int, int>, bool> groups;
  double slopes = 0;
  for (const BatchItem* p : items) {
    const BatchItem& item = *p;
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

}  // namespace slimserve
