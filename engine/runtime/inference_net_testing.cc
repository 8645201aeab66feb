#include "engine/runtime/inference_net_testing.h"

#include <algorithm>
#include <string>

#include "engine/model/spec.h"
#include "gtest/gtest.h"

namespace slimserve {

Supernet RandomEvalNet(uint64_t seed) {
  Supernet net(TinyModelSpec());
  InitSupernet(net, seed);
  torch::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(seed + 1);
  for (auto& item : net->named_parameters()) {
    torch::Tensor& p = item.value();
    if (p.dim() == 4) continue;
    const bool scale = item.key().size() >= 6 &&
                       item.key().compare(item.key().size() - 6, 6,
                                          "weight") == 0;
    p.copy_(at::normal(scale ? 1.0 : 0.0, scale ? 0.3 : 0.2, p.sizes(), gen));
  }
  for (auto& item : net->named_buffers()) {
    torch::Tensor& b = item.value();
    if (item.key().find("running_var") != std::string::npos) {
      b.copy_(at::empty(b.sizes()).uniform_(0.3, 3.0, gen));
    } else {
      b.copy_(at::normal(0.0, 0.5, b.sizes(), gen));
    }
  }
  net->eval();
  return net;
}

torch::Tensor ReferenceOutput(Supernet& net, const torch::Tensor& x, int task,
                              int we, int wd) {
  const auto features = net->Encode(x, we);
  return SupernetImpl::Activate(net->spec().tasks(task).kind(),
                                net->DecodeRaw(task, features, we, wd));
}

double RelativeError(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.to(b.device(), torch::kDouble);
  const torch::Tensor y = b.to(torch::kDouble);
  const double scale = std::max(1e-6, y.abs().max().item<double>());
  return (x - y).abs().max().item<double>() / scale;
}

double MeanRelativeError(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.to(b.device(), torch::kDouble);
  const torch::Tensor y = b.to(torch::kDouble);
  const double scale = std::max(1e-6, y.abs().mean().item<double>());
  return (x - y).abs().mean().item<double>() / scale;
}

std::vector<ArchPlan> MixedPlans(const slimserve::v1::ModelSpec& spec, int n) {
  std::vector<ArchPlan> plans;
  for (int i = 0; i < n; ++i) {
    ArchPlan p;
    p.encoder_width_index = i % 2 == 0 ? 3 : 1;
    for (int t = 0; t < spec.tasks_size(); ++t) {
      if ((i + t) % 3 == 0) continue;  // some tasks off
      TaskPlan tp;
      tp.task = t;
      tp.decoder_width_index = (i + 2 * t) % 4;
      p.tasks.push_back(tp);
    }
    plans.push_back(p);
  }
  return plans;
}

void SetWidths(const ArchPlan& plan, ExecutorItem* item) {
  item->encoder_width = plan.encoder_width_index;
  item->tasks.clear();
  item->decoder_widths.clear();
  for (const TaskPlan& t : plan.tasks) {
    item->tasks.push_back(t.task);
    item->decoder_widths.push_back(t.decoder_width_index);
  }
}

void ExpectEveryConfigurationMatches(const InferenceNet& net,
                                     Supernet& reference,
                                     const torch::Tensor& x, double tolerance,
                                     double mean_tolerance) {
  const auto& spec = reference->spec();
  for (int we = 0; we < spec.encoder_widths_size(); ++we) {
    const auto features = net.Encode(net.PrepareInput(x), we);
    for (int t = 0; t < spec.tasks_size(); ++t) {
      for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
        const torch::Tensor got = net.Decode(t, features, we, wd);
        EXPECT_EQ(got.scalar_type(), torch::kFloat);
        EXPECT_TRUE(got.is_contiguous());
        EXPECT_EQ(got.device(), net.device());
        const torch::Tensor want = ReferenceOutput(reference, x, t, we, wd);
        ASSERT_EQ(got.sizes(), want.sizes());
        EXPECT_LE(RelativeError(got, want), tolerance)
            << "task " << t << " we " << we << " wd " << wd;
        EXPECT_LE(MeanRelativeError(got, want), mean_tolerance)
            << "task " << t << " we " << we << " wd " << wd;
      }
    }
  }
}

}  // namespace slimserve
