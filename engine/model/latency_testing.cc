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


}  // namespace slimserve
