#ifndef SLIMSERVE_ENGINE_RUNTIME_XNNPACK_CONV_H_
#define SLIMSERVE_ENGINE_RUNTIME_XNNPACK_CONV_H_

// Small float32 CPU convolutions through XNNPACK, which LibTorch ships as
// its prepacked operators (prepacked::conv2d_clamp_prepack / _run, the ones
// TorchScript's mobile optimiser inserts). Why: LibTorch 1.13's oneDNN path
// costs ~40-70 us a call whatever the size (the primitive is described
// again on every call), XNNPACK ~8-40 us for the small convolutions a
// narrow configuration is made of (engine/runtime/PERFORMANCE.md). For
// large convolutions oneDNN is faster, so FoldedConv uses this only below a
// size (FoldOptions.xnnpack_max_macs). Internal to engine/runtime.

#include <memory>

#include <torch/torch.h>

namespace slimserve {

class XnnpackConv {
 public:
  // Whether LibTorch was built with XNNPACK and it initialised here.
  static bool Available();

  // Packs `weight` ([out, in / groups, k, k], float32, CPU) and `bias`
  // ([out]) once; `relu` fuses max(0, .) into the call. Null when XNNPACK
  // is not available or refuses the parameters.
  static std::unique_ptr<XnnpackConv> Create(const torch::Tensor& weight,
                                             const torch::Tensor& bias,
                                             int stride, int padding,
                                             bool relu, int groups = 1);

  // The convolution of x ([N, in, H, W] float32 CPU, any memory format),
  // channels-last. Runs on the calling thread only: XNNPACK's own thread
  // pool would contend with the OpenMP threads oneDNN spins on (on 2 cores
  // a call then took ~8 ms), and the sizes it is used for gain little from
  // threads. Thread-safe (the packed weights are read-only).
  torch::Tensor Run(const torch::Tensor& x) const;

 private:
  explicit XnnpackConv(c10::IValue context) : context_(std::move(context)) {}
  c10::IValue context_;
};

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_XNNPACK_CONV_H_
