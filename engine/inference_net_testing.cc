#include "engine/inference_net_testing.h"

#include <algorithm>
#include <string>

#include "engine/model_spec.h"

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

}  // namespace slimserve
