#include "engine/model/cost_model.h"

#include <algorithm>
#include <cmath>

#include "engine/model/spec.h"

namespace slimserve {
namespace {

// Output size of a k x k convolution with padding k/2.
int ConvOut(int size, int kernel, int stride) {
  return (size + 2 * (kernel / 2) - kernel) / stride + 1;
}

struct Geometry {
  int stem_h = 0, stem_w = 0;
  std::vector<int> stage_h, stage_w;  // output size of each stage
};

Geometry ComputeGeometry(const slimserve::v1::ModelSpec& spec) {
  Geometry g;
  g.stem_h = ConvOut(spec.input().height(), 3, 2);
  g.stem_w = ConvOut(spec.input().width(), 3, 2);
  int h = g.stem_h, w = g.stem_w;
  for (const auto& s : spec.encoder().stages()) {
    h = ConvOut(h, 3, s.stride());
    w = ConvOut(w, 3, s.stride());
    g.stage_h.push_back(h);
    g.stage_w.push_back(w);
  }
  return g;
}

}  // namespace

int SlimChannels(double width, int channels) {
  return std::max(1, static_cast<int>(std::lround(width * channels)));
}

double CostTable::FullMacs() const {
  std::vector<int> all(decoder_macs.size());
  for (size_t t = 0; t < all.size(); ++t) all[t] = static_cast<int>(t);
  return FullMacs(all);
}

double CostTable::FullMacs(const std::vector<int>& tasks) const {
  double macs = encoder_macs.back();
  for (int t : tasks) macs += decoder_macs[t].back().back();
  return macs;
}

CostTable ComputeCostTable(const slimserve::v1::ModelSpec& spec) {
  const Geometry g = ComputeGeometry(spec);
  const auto& enc = spec.encoder();
  CostTable table;
  for (double we : spec.encoder_widths()) {
    double macs = 0;
    int cin = SlimChannels(we, enc.stem_channels());
    macs += 1.0 * g.stem_h * g.stem_w * cin * 3 * 9;  // stem reads RGB
    for (int s = 0; s < enc.stages_size(); ++s) {
      const int cout = SlimChannels(we, enc.stages(s).channels());
      const double px = 1.0 * g.stage_h[s] * g.stage_w[s];
      for (uint32_t b = 0; b < enc.stages(s).blocks(); ++b) {
        const int in = b == 0 ? cin : cout;
        const bool project = b == 0 && (enc.stages(s).stride() != 1 ||
                                        enc.stages(s).channels() !=
                                            (s == 0 ? enc.stem_channels()
                                                    : enc.stages(s - 1)
                                                          .channels()));
        macs += px * cout * in * 9;    // conv1
        macs += px * cout * cout * 9;  // conv2
        if (project) macs += px * cout * in;  // 1x1 shortcut
      }
      cin = cout;
    }
    table.encoder_macs.push_back(macs);
  }
  for (const auto& task : spec.tasks()) {
    const auto& dec = task.decoder();
    const int finest = dec.input_stages(0);
    const double fine_px = 1.0 * g.stage_h[finest] * g.stage_w[finest];
    std::vector<std::vector<double>> per_we;
    for (double we : spec.encoder_widths()) {
      std::vector<double> per_wd;
      for (double wd : spec.decoder_widths()) {
        const int d = SlimChannels(wd, dec.channels());
        double macs = 0;
        for (uint32_t s : dec.input_stages()) {
          const int c = SlimChannels(we, enc.stages(s).channels());
          macs += 1.0 * g.stage_h[s] * g.stage_w[s] * d * c;  // lateral 1x1
        }
        macs += fine_px * d * d * 9 * dec.num_convs();
        macs += fine_px * TaskOutputChannels(task) * d;  // head 1x1
        per_wd.push_back(macs);
      }
      per_we.push_back(std::move(per_wd));
    }
    table.decoder_macs.push_back(std::move(per_we));
  }
  return table;
}

}  // namespace slimserve
