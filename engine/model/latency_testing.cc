#include "engine/model/latency_testing.h"

namespace slimserve {

LatencyTable LinearLatencyTable(const v1::ModelSpec& spec, int batch) {
  LatencyTable t;
  t.batch_size = batch;
  for (int we = 0; we < spec.encoder_widths_size(); ++we) {
    t.encoder_ms.push_back(1.0 + we + (0.5 + we) * batch);
  }
  t.decoder_ms.resize(spec.tasks_size());
  for (int task = 0; task < spec.tasks_size(); ++task) {
    for (int we = 0; we < spec.encoder_widths_size(); ++we) {
      std::vector<double> row;
      for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
        row.push_back(0.1 * (task + 1) + 0.01 * we +
                      (0.2 + 0.1 * wd + 0.05 * task) * batch);
      }
      t.decoder_ms[task].push_back(row);
    }
  }
  return t;
}

LatencyProfile LinearProfile(const v1::ModelSpec& spec,
                             const std::vector<int>& sizes) {
  LatencyProfile p;
  for (int b : sizes) p.tables.push_back(LinearLatencyTable(spec, b));
  return p;
}

double LinearFusionSaving(int we, int wd, int batch) {
  return 0.05 + 0.01 * we + 0.02 * wd + 0.01 * batch;
}

LatencyProfile FusedProfile(const v1::ModelSpec& spec,
                            const std::vector<int>& sizes) {
  LatencyProfile p = LinearProfile(spec, sizes);
  const int num_tasks = spec.tasks_size();
  for (LatencyTable& t : p.tables) {
    t.fused_decoder_ms.assign(spec.encoder_widths_size(),
                              std::vector<double>(spec.decoder_widths_size()));
    for (int we = 0; we < spec.encoder_widths_size(); ++we) {
      for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
        double sum = 0;
        for (int task = 0; task < num_tasks; ++task) {
          sum += t.decoder_ms[task][we][wd];
        }
        t.fused_decoder_ms[we][wd] =
            sum - (num_tasks - 1) * LinearFusionSaving(we, wd, t.batch_size);
      }
    }
  }
  return p;
}

}  // namespace slimserve
