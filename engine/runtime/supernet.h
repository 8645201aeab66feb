#ifndef SLIMSERVE_ENGINE_RUNTIME_SUPERNET_H_
#define SLIMSERVE_ENGINE_RUNTIME_SUPERNET_H_

// The slimmable multi-task supernet in LibTorch. Internal to engine/ (and
// tools/): includes torch. One set of weights serves every configuration:
// width w of a layer with C output channels uses the first SlimChannels(w, C)
// of them and the first channels of its input, so narrower configurations
// are prefixes of wider ones and switching costs nothing.
//
// BatchNorm is switchable: each BN layer keeps private running statistics
// per configuration that changes its input statistics (per encoder width in
// the encoder; per (encoder width, decoder width) in a decoder), and affine
// parameters per configuration or, in decoders, per decoder width
// (ModelSpec.decoder_bn_affine).

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "engine/runtime/xnnpack_conv.h"
#include "slimserve/v1/model_spec.pb.h"

namespace slimserve {

// --------------------------------------------------- folded inference path
//
// For serving, every configuration can also be "folded": its slice of each
// convolution copied into contiguous weights with the configuration's eval
// BatchNorm folded in (w * gamma / sqrt(var + eps), beta - mean * that), in
// the dtype and memory format the executor runs in. Costs memory (every
// width's copy) and buys convolutions on contiguous, pre-packed weights with
// no BatchNorm pass. engine/runtime/inference_net.h chooses between the two paths.

struct FoldOptions {
  torch::ScalarType dtype = torch::kFloat;
  at::MemoryFormat memory_format = at::MemoryFormat::Contiguous;
  // Float32 CPU convolutions of at most this many multiply-accumulates per
  // call (batch included) run on XNNPACK (xnnpack_conv.h), larger ones on
  // oneDNN. 0: never. Takes effect only where XNNPACK is available.
  int64_t xnnpack_max_macs = 0;
};

// Whether this CPU runs oneDNN's bfloat16 convolutions: LibTorch 1.13's
// mkldnn_convolution refuses bfloat16 without avx512bw, avx512vl and
// avx512dq. Without them a bfloat16 convolution takes LibTorch's own path.
bool CpuHasOneDnnBFloat16();

struct FoldedConv {
  // `weight` and `bias` (any dtype, float64 when folding) converted to
  // `options`' dtype and memory format, with the backend chosen and, where
  // options.xnnpack_max_macs > 0, XNNPACK's packing made.
  static FoldedConv Create(const torch::Tensor& weight,
                           const torch::Tensor& bias, int stride, int padding,
                           bool relu, const FoldOptions& options,
                           int groups = 1);

  torch::Tensor weight;  // [out, in / groups, k, k]
  torch::Tensor bias;    // [out]
  int stride = 1;
  int padding = 0;
  int groups = 1;
  // max(0, .) after the convolution: fused into the call where the backend
  // can, in place on the fresh output otherwise.
  bool relu = false;
  // On the CPU, call oneDNN directly: LibTorch 1.13's dispatcher sends
  // batch-1 and small float32 convolutions to its im2col path, which runs
  // on Debian's reference BLAS about 10x slower (engine/runtime/PERFORMANCE.md).
  bool mkldnn = false;
  // Packed when FoldOptions.xnnpack_max_macs > 0 (and XNNPACK takes it):
  // calls of at most xnnpack_max_macs MACs run there.
  std::shared_ptr<const XnnpackConv> xnnpack;
  int64_t xnnpack_max_macs = 0;
  torch::Tensor operator()(const torch::Tensor& x) const;
  // Multiply-accumulates of one call on x.
  int64_t Macs(const torch::Tensor& x) const;
};

struct FoldedBlock {
  FoldedConv conv1, conv2;
  FoldedConv shortcut;  // weight undefined: identity
  torch::Tensor Forward(const torch::Tensor& x) const;
};

// The encoder at one width.
struct FoldedEncoder {
  FoldedConv stem;
  std::vector<std::vector<FoldedBlock>> stages;
  std::vector<torch::Tensor> Forward(const torch::Tensor& x) const;
};

// One task's decoder at one (encoder width, decoder width).
struct FoldedDecoder {
  std::vector<int> input_stages;
  std::vector<FoldedConv> laterals, convs;
  FoldedConv head;
  int64_t out_h = 0, out_w = 0;
  // The raw head output at the head's resolution (the finest input
  // stage's), like DecoderImpl::forward_head.
  torch::Tensor Head(const std::vector<torch::Tensor>& features) const;
  // Head() upsampled to out_h x out_w, like DecoderImpl::forward.
  torch::Tensor Forward(const std::vector<torch::Tensor>& features) const;
};

// Several tasks' decoders at one (encoder width, decoder width), run as
// one. Why: they read the same features, and on the CPU a convolution call
// costs 10-50 us whatever its size, which is most of a narrow
// configuration's time (engine/runtime/PERFORMANCE.md). The laterals of an
// input stage become one convolution with every task's outputs, the FPN's
// upsampling, sums and ReLU run once on the concatenated channels, the 3x3
// convolutions are grouped (one group per task: the same MACs as apart),
// and the heads one grouped 1x1 convolution whose groups are padded with
// zero filters to the widest head. Six calls instead of six per task.
struct FusedDecoder {
  // Null when `decoders` (at least one) differ in input stages, number of
  // convolutions or width: those run apart. `options`: as they were folded.
  static std::unique_ptr<FusedDecoder> Fuse(
      const std::vector<const FoldedDecoder*>& decoders,
      const FoldOptions& options);

  // Per fused decoder, in Fuse's order: what its Head() returns, within
  // float rounding (the convolutions' accumulation order may differ).
  std::vector<torch::Tensor> Heads(
      const std::vector<torch::Tensor>& features) const;

  std::vector<int> input_stages;
  std::vector<FoldedConv> laterals, convs;
  FoldedConv head;
  int64_t head_group = 0;               // the widest head's channels
  std::vector<int64_t> head_channels;   // per fused decoder
  int64_t Bytes() const;
};

class SwitchableBatchNormImpl;

// Convolution whose input and output channels can be cut to a prefix.
class SlimConv2dImpl : public torch::nn::Module {
 public:
  SlimConv2dImpl(int in_channels, int out_channels, int kernel, int stride,
                 bool has_bias);
  // Uses the first x.size(1) input channels and the first `out_channels`
  // output channels.
  torch::Tensor forward(const torch::Tensor& x, int out_channels);
  // The first `in` x `out` channels, with `bn`'s configuration `config`
  // folded in when bn is not null; `relu`: FoldedConv::relu.
  FoldedConv Fold(int64_t in, int64_t out,
                  const SwitchableBatchNormImpl* bn, int config,
                  const FoldOptions& options, bool relu = false) const;

  torch::Tensor weight;
  torch::Tensor bias;  // undefined when constructed without bias

 private:
  int stride_;
  int padding_;
};
TORCH_MODULE(SlimConv2d);

// BatchNorm with running statistics per configuration and affine parameters
// per configuration or shared between configurations: configuration c uses
// affine row c % num_affine (num_affine 0 means num_configs).
class SwitchableBatchNormImpl : public torch::nn::Module {
 public:
  SwitchableBatchNormImpl(int num_configs, int channels, int num_affine = 0);
  // Normalises the x.size(1) channels of x with configuration `config`'s
  // parameters (batch statistics in training mode, running ones otherwise).
  torch::Tensor forward(const torch::Tensor& x, int config);
  // Eval-mode BN of the first c channels as y = x * scale + shift, in
  // float64: {scale, shift}.
  std::pair<torch::Tensor, torch::Tensor> ScaleShift(int config,
                                                     int64_t c) const;

  torch::Tensor weight, bias;               // [num_affine, channels]
  torch::Tensor running_mean, running_var;  // [num_configs, channels]
  // Update rate of the running statistics in training mode; the trainer
  // lowers it per batch (1/(k+1)) to recalibrate to exact averages.
  double momentum = 0.1;

 private:
  int num_affine_;
};
TORCH_MODULE(SwitchableBatchNorm);

class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int num_configs, int in_channels, int out_channels,
                 int stride);
  // `pre_relu`, when set, receives the sum before the final ReLU.
  torch::Tensor forward(const torch::Tensor& x, double width, int config,
                        torch::Tensor* pre_relu = nullptr);
  // `in`: the channels of the input at this configuration.
  FoldedBlock Fold(int64_t in, double width, int config,
                   const FoldOptions& options) const;
  int out_channels() const { return out_channels_; }

 private:
  int out_channels_;
  SlimConv2d conv1_{nullptr}, conv2_{nullptr}, shortcut_{nullptr};
  SwitchableBatchNorm bn1_{nullptr}, bn2_{nullptr}, shortcut_bn_{nullptr};
};
TORCH_MODULE(BasicBlock);

class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const slimserve::v1::ModelSpec& spec);
  // One feature map per stage, at encoder width index `we`. `pre_relu`,
  // when set, receives each stage's output before its final ReLU (the
  // trainer's feature distillation can compare those).
  std::vector<torch::Tensor> forward(const torch::Tensor& x, int we,
                                     std::vector<torch::Tensor>* pre_relu = nullptr);
  FoldedEncoder Fold(int we, const FoldOptions& options) const;

 private:
  std::vector<double> widths_;
  int stem_channels_;
  SlimConv2d stem_{nullptr};
  SwitchableBatchNorm stem_bn_{nullptr};
  std::vector<std::vector<BasicBlock>> stages_;
};
TORCH_MODULE(Encoder);

class DecoderImpl : public torch::nn::Module {
 public:
  DecoderImpl(const slimserve::v1::ModelSpec& spec, int task);
  // The head's raw output (before the task's activation) at the spec's input
  // size, for encoder width index `we` and decoder width index `wd`.
  // `features` are the encoder's outputs at width `we`.
  torch::Tensor forward(const std::vector<torch::Tensor>& features, int we,
                        int wd);
  // The same before the final upsampling: at the resolution of the finest
  // input stage, contiguous NCHW. forward() is its bilinear upsampling.
  torch::Tensor forward_head(const std::vector<torch::Tensor>& features,
                             int we, int wd);
  // `feature_channels`: channels of each encoder stage's output at `we`.
  FoldedDecoder Fold(const std::vector<int64_t>& feature_channels, int we,
                     int wd, const FoldOptions& options) const;

 private:
  std::vector<double> decoder_widths_;
  int num_decoder_widths_;
  int channels_;
  int out_h_, out_w_;
  std::vector<int> input_stages_;
  std::vector<SlimConv2d> laterals_;
  std::vector<SwitchableBatchNorm> lateral_bns_;
  std::vector<SlimConv2d> convs_;
  std::vector<SwitchableBatchNorm> conv_bns_;
  SlimConv2d head_{nullptr};
};
TORCH_MODULE(Decoder);

class SupernetImpl : public torch::nn::Module {
 public:
  // REQUIRES: ValidateModelSpec(spec).ok().
  explicit SupernetImpl(const slimserve::v1::ModelSpec& spec);

  // input: [N, 3, H, W] normalised images at the spec's input size.
  // `pre_relu`: see EncoderImpl::forward.
  std::vector<torch::Tensor> Encode(const torch::Tensor& input, int we,
                                    std::vector<torch::Tensor>* pre_relu = nullptr) {
    return encoder_->forward(input, we, pre_relu);
  }
  // Raw head output of task `task` (index in the spec), [N, C, H, W].
  torch::Tensor DecodeRaw(int task, const std::vector<torch::Tensor>& features,
                          int we, int wd) {
    return decoders_[task]->forward(features, we, wd);
  }
  // DecodeRaw before the final upsampling (DecoderImpl::forward_head).
  torch::Tensor DecodeHead(int task, const std::vector<torch::Tensor>& features,
                           int we, int wd) {
    return decoders_[task]->forward_head(features, we, wd);
  }
  // Bilinear resize of a head output, [N, C, h, w], to height x width, as
  // the decoders' final upsampling (F::interpolate, align_corners=False).
  static torch::Tensor Upsample(const torch::Tensor& head, int64_t height,
                                int64_t width);
  // The task's output activation: logits stay logits, depth goes through
  // softplus (metres, > 0), normals are normalised to unit length, edges go
  // through a sigmoid.
  static torch::Tensor Activate(slimserve::v1::TaskKind kind,
                                const torch::Tensor& raw);

  // Folded copies of one configuration (see FoldOptions). REQUIRES: eval
  // mode (the running statistics are what gets folded).
  FoldedEncoder FoldEncoder(int we, const FoldOptions& options) const {
    return encoder_->Fold(we, options);
  }
  FoldedDecoder FoldDecoder(int task, int we, int wd,
                            const FoldOptions& options) const;

  const slimserve::v1::ModelSpec& spec() const { return spec_; }

 private:
  slimserve::v1::ModelSpec spec_;
  Encoder encoder_{nullptr};
  std::vector<Decoder> decoders_;
};
TORCH_MODULE(Supernet);

// Initialises every parameter deterministically from `seed`: He-normal
// convolutions, unit BN scales, zero biases and statistics.
void InitSupernet(Supernet& net, uint64_t seed);

// Writes all parameters and buffers to a LibTorch archive at `path`.
absl::Status SaveSupernet(Supernet& net, const std::string& path);

// Reads every parameter and buffer of `net` from `path`. Errors name the file
// and the tensor: missing, wrong shape, or a file that is not an archive.
absl::Status LoadSupernet(Supernet& net, const std::string& path);

}  // namespace slimserve

#endif  // SLIMSERVE_ENGINE_RUNTIME_SUPERNET_H_
