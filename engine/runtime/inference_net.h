#ifndef SLIMSERVE_ENGINE_RUNTIME_INFERENCE_NET_H_
#define SLIMSERVE_ENGINE_RUNTIME_INFERENCE_NET_H_

// The supernet as the executor runs it: on its device, in eval mode, with
// the weight layout, dtype and memory format chosen at start-up. Internal to
// engine/ (includes torch).
//
// Two weight layouts, measured against each other in engine/runtime/PERFORMANCE.md:
//  - kSliced: the supernet's one set of weights; each call slices the
//    configuration's channels out and runs BatchNorm as its own op.
//  - kFolded: per configuration, contiguous weights with BatchNorm folded
//    in (SupernetImpl::FoldEncoder/FoldDecoder), built once. More memory
//    (engine/runtime/PERFORMANCE.md has the factor), no per-call slicing or BN.
//
// Thread-safety: every method is const and safe to call concurrently (the
// network is read-only in eval mode).

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <torch/torch.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/runtime/supernet.h"
#include "engine/types.h"

namespace slimserve {

struct InferenceOptions {
  using Weights = WeightsForm;
  Weights weights = Weights::kFolded;
  // float32, bfloat16 or float16 (kFolded only: BatchNorm of the sliced
  // path runs in float32). Outputs are float32 whatever this is.
  torch::ScalarType dtype = torch::kFloat;
  // NHWC activations and weights. On Debian's CPU LibTorch this is what
  // routes convolutions to oneDNN; see engine/runtime/PERFORMANCE.md.
  bool channels_last = true;
  // kFolded, float32, channels-last, CPU: convolution calls of at most this
  // many MACs run on XNNPACK (FoldOptions.xnnpack_max_macs); 0: oneDNN
  // only. Default: NetworkOptions'.
  int64_t xnnpack_max_macs = NetworkOptions{}.xnnpack_max_macs;
  // kFolded: DecodeHeads runs decoders that can be fused as one
  // (FusedDecoder). Default: NetworkOptions'.
  bool fuse_decoders = NetworkOptions{}.fuse_decoders;
};

class InferenceNet {
 public:
  // `net` must be in eval mode, on its device. Folding (kFolded) takes a
  // fraction of a second for the default model. INVALID_ARGUMENT for
  // combinations the options forbid.
  static absl::StatusOr<std::unique_ptr<InferenceNet>> Create(
      Supernet net, const InferenceOptions& options);

  // [N, 3, H, W] float32 normalised images, on any device -> the input
  // Encode expects (device, dtype, memory format).
  torch::Tensor PrepareInput(const torch::Tensor& images) const;
  // One feature map per encoder stage at encoder width index `we`.
  std::vector<torch::Tensor> Encode(const torch::Tensor& input, int we) const;
  // Task `task`'s raw head output (before the final upsampling and the
  // activation), float32, contiguous NCHW, on the device, at the head's
  // resolution: what the executor serves, post-processing finishes it
  // (FinishOutput's arithmetic, at the size the caller asked for).
  // `features`: Encode's output at `we` (any rows of it, in any memory
  // format).
  torch::Tensor DecodeHead(int task, const std::vector<torch::Tensor>& features,
                           int we, int wd) const;
  // DecodeHead of each of `tasks` (distinct, any order) on the same rows at
  // the same decoder width, in `tasks`' order. With fuse_decoders (folded
  // weights), two or more decoders of one shape run as one FusedDecoder
  // (outputs equal within float rounding; of different shapes, all apart);
  // the fusion of a set of tasks is built on its first use (it concatenates
  // folded weights: about a millisecond); all tasks together by Create.
  std::vector<torch::Tensor> DecodeHeads(
      const std::vector<int>& tasks,
      const std::vector<torch::Tensor>& features, int we, int wd) const;
  // FinishOutput(DecodeHead(...)) at the spec's input size: the task's
  // activated output (SupernetImpl::Activate), float32, contiguous NCHW.
  torch::Tensor Decode(int task, const std::vector<torch::Tensor>& features,
                       int we, int wd) const;
  // A head output upsampled to the spec's input size and activated, float32.
  torch::Tensor FinishOutput(int task, const torch::Tensor& head) const;

  const slimserve::v1::ModelSpec& spec() const { return spec_; }
  const torch::Device& device() const { return device_; }
  const InferenceOptions& options() const { return options_; }
  // Bytes of the tensors the executor runs with (every folded copy and
  // fusion, or the supernet's parameters and buffers).
  int64_t weight_bytes() const;
  // "folded/float32/channels_last/xnnpack<=2000000": for logs and the
  // latency cache key.
  std::string Describe() const;
  // Whether small convolutions run on XNNPACK (InferenceOptions).
  bool UsesXnnpack() const;
  // Whether DecodeHeads fuses decoders (folded weights, fuse_decoders).
  bool FusesDecoders() const;

 private:
  InferenceNet(Supernet net, const InferenceOptions& options);

  const InferenceOptions options_;
  const slimserve::v1::ModelSpec spec_;
  const torch::Device device_;
  const at::MemoryFormat memory_format_;
  // kSliced only (mutable: LibTorch's forward is non-const; read-only in
  // eval mode).
  mutable Supernet net_{nullptr};
  // kFolded only: [we] and [task][we][wd].
  std::vector<FoldedEncoder> encoders_;
  std::vector<std::vector<std::vector<FoldedDecoder>>> decoders_;
  int64_t weight_bytes_ = 0;
  // kFolded with fuse_decoders: per (we, wd, ascending tasks) of two or
  // more, their fusion, or null where they do not fuse. Bounded by the
  // task subsets times the width pairs.
  using FusionKey = std::tuple<int, int, std::vector<int>>;
  std::shared_ptr<const FusedDecoder> Fusion(const FusionKey& key) const;
  mutable absl::Mutex fusions_mu_;
  mutable std::map<FusionKey, std::shared_ptr<const FusedDecoder>> fusions_
      ABSL_GUARDED_BY(fusions_mu_);
  mutable int64_t fusion_bytes_ ABSL_GUARDED_BY(fusions_mu_) = 0;
};

// The dtype a Precision computes in.
torch::ScalarType ScalarTypeOf(Precision precision);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_INFERENCE_NET_H_
