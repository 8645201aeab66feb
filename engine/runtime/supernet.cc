#include "engine/runtime/supernet.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/model/cost_model.h"
#include "engine/model/spec.h"

namespace slimserve {
namespace F = torch::nn::functional;

namespace {
constexpr double kBatchNormEps = 1e-5;

torch::Tensor Bilinear(const torch::Tensor& x, std::vector<int64_t> size) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::move(size))
                               .mode(torch::kBilinear)
                               .align_corners(false));
}
}  // namespace

// ---------------------------------------------------------------- layers

SlimConv2dImpl::SlimConv2dImpl(int in_channels, int out_channels, int kernel,
                               int stride, bool has_bias)
    : stride_(stride), padding_(kernel / 2) {
  weight = register_parameter(
      "weight", torch::empty({out_channels, in_channels, kernel, kernel}));
  if (has_bias) bias = register_parameter("bias", torch::zeros({out_channels}));
}

torch::Tensor SlimConv2dImpl::forward(const torch::Tensor& x,
                                      int out_channels) {
  const int64_t in_channels = x.size(1);
  torch::Tensor w = weight;
  if (out_channels != w.size(0)) w = w.narrow(0, 0, out_channels);
  if (in_channels != w.size(1)) w = w.narrow(1, 0, in_channels);
  torch::Tensor b;
  if (bias.defined()) {
    b = out_channels == bias.size(0) ? bias : bias.narrow(0, 0, out_channels);
  }
  return torch::conv2d(x, w, b, stride_, padding_);
}

FoldedConv SlimConv2dImpl::Fold(int64_t in, int64_t out,
                                const SwitchableBatchNormImpl* bn, int config,
                                const FoldOptions& options, bool relu) const {
  // In float64, so that folding adds no rounding beyond the final cast.
  torch::Tensor w = weight.narrow(0, 0, out).narrow(1, 0, in).to(torch::kDouble);
  torch::Tensor b = bias.defined() ? bias.narrow(0, 0, out).to(torch::kDouble)
                                   : torch::zeros({out}, w.options());
  if (bn != nullptr) {
    auto [scale, shift] = bn->ScaleShift(config, out);
    w = w * scale.view({-1, 1, 1, 1});
    b = b * scale + shift;
  }
  return FoldedConv::Create(w, b, stride_, padding_, relu, options);
}

FoldedConv FoldedConv::Create(const torch::Tensor& weight,
                              const torch::Tensor& bias, int stride,
                              int padding, bool relu,
                              const FoldOptions& options, int groups) {
  FoldedConv f;
  f.weight = weight.to(options.dtype).contiguous(options.memory_format);
  f.bias = bias.to(options.dtype).contiguous();
  f.stride = stride;
  f.padding = padding;
  f.groups = groups;
  f.relu = relu;
  f.mkldnn = f.weight.is_cpu() && at::hasMKLDNN() &&
             (options.dtype == torch::kFloat ||
              (options.dtype == torch::kBFloat16 && CpuHasOneDnnBFloat16()));
  if (options.xnnpack_max_macs > 0 && f.weight.is_cpu() &&
      options.dtype == torch::kFloat) {
    f.xnnpack =
        XnnpackConv::Create(f.weight, f.bias, stride, padding, relu, groups);
    f.xnnpack_max_macs = f.xnnpack ? options.xnnpack_max_macs : 0;
  }
  return f;
}

bool CpuHasOneDnnBFloat16() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq");
  return has;
#else
  return false;  // oneDNN's bfloat16 path is x86 only in LibTorch 1.13
#endif
}

int64_t FoldedConv::Macs(const torch::Tensor& x) const {
  const int64_t k = weight.size(2);
  const int64_t out_h = (x.size(2) + 2 * padding - k) / stride + 1;
  const int64_t out_w = (x.size(3) + 2 * padding - k) / stride + 1;
  return x.size(0) * out_h * out_w * weight.size(0) * weight.size(1) * k * k;
}

torch::Tensor FoldedConv::operator()(const torch::Tensor& x) const {
  if (xnnpack != nullptr && Macs(x) <= xnnpack_max_macs) {
    return xnnpack->Run(x);
  }
  torch::Tensor y =
      mkldnn ? at::mkldnn_convolution(x, weight, bias, {padding, padding},
                                      {stride, stride}, {1, 1}, groups)
             : torch::conv2d(x, weight, bias, stride, padding, /*dilation=*/1,
                             groups);
  return relu ? y.relu_() : y;
}

SwitchableBatchNormImpl::SwitchableBatchNormImpl(int num_configs, int channels,
                                                 int num_affine)
    : num_affine_(num_affine > 0 ? num_affine : num_configs) {
  weight = register_parameter("weight", torch::ones({num_affine_, channels}));
  bias = register_parameter("bias", torch::zeros({num_affine_, channels}));
  running_mean =
      register_buffer("running_mean", torch::zeros({num_configs, channels}));
  running_var =
      register_buffer("running_var", torch::ones({num_configs, channels}));
}

torch::Tensor SwitchableBatchNormImpl::forward(const torch::Tensor& x,
                                               int config) {
  const int64_t c = x.size(1);
  // Statistics row `config`, affine row `config % num_affine_`, first c
  // channels: contiguous views, so training updates the running statistics
  // in place.
  const int affine = config % num_affine_;
  return torch::batch_norm(
      x, weight[affine].narrow(0, 0, c), bias[affine].narrow(0, 0, c),
      running_mean[config].narrow(0, 0, c), running_var[config].narrow(0, 0, c),
      is_training(), momentum, kBatchNormEps,
      /*cudnn_enabled=*/true);
}

std::pair<torch::Tensor, torch::Tensor> SwitchableBatchNormImpl::ScaleShift(
    int config, int64_t c) const {
  const int affine = config % num_affine_;
  const torch::Tensor scale =
      weight[affine].narrow(0, 0, c).to(torch::kDouble) /
      torch::sqrt(running_var[config].narrow(0, 0, c).to(torch::kDouble) +
                  kBatchNormEps);
  const torch::Tensor shift =
      bias[affine].narrow(0, 0, c).to(torch::kDouble) -
      running_mean[config].narrow(0, 0, c).to(torch::kDouble) * scale;
  return {scale, shift};
}

BasicBlockImpl::BasicBlockImpl(int num_configs, int in_channels,
                               int out_channels, int stride)
    : out_channels_(out_channels) {
  conv1_ = register_module(
      "conv1", SlimConv2d(in_channels, out_channels, 3, stride, false));
  bn1_ = register_module("bn1", SwitchableBatchNorm(num_configs, out_channels));
  conv2_ = register_module(
      "conv2", SlimConv2d(out_channels, out_channels, 3, 1, false));
  bn2_ = register_module("bn2", SwitchableBatchNorm(num_configs, out_channels));
  if (stride != 1 || in_channels != out_channels) {
    shortcut_ = register_module(
        "shortcut", SlimConv2d(in_channels, out_channels, 1, stride, false));
    shortcut_bn_ = register_module(
        "shortcut_bn", SwitchableBatchNorm(num_configs, out_channels));
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x, double width,
                                      int config, torch::Tensor* pre_relu) {
  const int c = SlimChannels(width, out_channels_);
  torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x, c), config));
  y = bn2_->forward(conv2_->forward(y, c), config);
  torch::Tensor skip =
      shortcut_ ? shortcut_bn_->forward(shortcut_->forward(x, c), config) : x;
  torch::Tensor sum = y + skip;
  if (pre_relu != nullptr) *pre_relu = sum;
  return torch::relu(sum);
}

FoldedBlock BasicBlockImpl::Fold(int64_t in, double width, int config,
                                 const FoldOptions& options) const {
  const int c = SlimChannels(width, out_channels_);
  FoldedBlock f;
  f.conv1 = conv1_->Fold(in, c, bn1_.get(), config, options, /*relu=*/true);
  f.conv2 = conv2_->Fold(c, c, bn2_.get(), config, options);
  if (shortcut_) {
    f.shortcut = shortcut_->Fold(in, c, shortcut_bn_.get(), config, options);
  }
  return f;
}

// Keep in step with BasicBlockImpl::forward (supernet_test checks both
// paths agree for every configuration).
// In-place activations and sums: every tensor they write is a convolution's
// fresh output, and at batch 8 each saved allocation is a pass over memory.
torch::Tensor FoldedBlock::Forward(const torch::Tensor& x) const {
  torch::Tensor y = conv2(conv1(x));
  return y.add_(shortcut.weight.defined() ? shortcut(x) : x).relu_();
}

// --------------------------------------------------------------- encoder

EncoderImpl::EncoderImpl(const slimserve::v1::ModelSpec& spec)
    : widths_(spec.encoder_widths().begin(), spec.encoder_widths().end()),
      stem_channels_(spec.encoder().stem_channels()) {
  const int k = static_cast<int>(widths_.size());
  stem_ = register_module("stem", SlimConv2d(3, stem_channels_, 3, 2, false));
  stem_bn_ = register_module("stem_bn", SwitchableBatchNorm(k, stem_channels_));
  int in = stem_channels_;
  for (int s = 0; s < spec.encoder().stages_size(); ++s) {
    const auto& stage = spec.encoder().stages(s);
    std::vector<BasicBlock> blocks;
    for (uint32_t b = 0; b < stage.blocks(); ++b) {
      blocks.push_back(register_module(
          absl::StrCat("stage", s, "_block", b),
          BasicBlock(k, b == 0 ? in : stage.channels(), stage.channels(),
                     b == 0 ? stage.stride() : 1)));
    }
    stages_.push_back(std::move(blocks));
    in = stage.channels();
  }
}

std::vector<torch::Tensor> EncoderImpl::forward(
    const torch::Tensor& x, int we, std::vector<torch::Tensor>* pre_relu) {
  const double w = widths_[we];
  torch::Tensor y = torch::relu(
      stem_bn_->forward(stem_->forward(x, SlimChannels(w, stem_channels_)), we));
  std::vector<torch::Tensor> features;
  if (pre_relu != nullptr) pre_relu->clear();
  for (auto& blocks : stages_) {
    torch::Tensor pre;
    for (auto& block : blocks) y = block->forward(y, w, we, &pre);
    features.push_back(y);
    if (pre_relu != nullptr) pre_relu->push_back(pre);
  }
  return features;
}

FoldedEncoder EncoderImpl::Fold(int we, const FoldOptions& options) const {
  const double w = widths_[we];
  FoldedEncoder f;
  int64_t in = SlimChannels(w, stem_channels_);
  f.stem = stem_->Fold(3, in, stem_bn_.get(), we, options, /*relu=*/true);
  for (const auto& blocks : stages_) {
    std::vector<FoldedBlock> folded;
    for (const auto& block : blocks) {
      folded.push_back(block->Fold(in, w, we, options));
      in = SlimChannels(w, block->out_channels());
    }
    f.stages.push_back(std::move(folded));
  }
  return f;
}

std::vector<torch::Tensor> FoldedEncoder::Forward(
    const torch::Tensor& x) const {
  torch::Tensor y = stem(x);
  std::vector<torch::Tensor> features;
  for (const auto& blocks : stages) {
    for (const auto& block : blocks) y = block.Forward(y);
    features.push_back(y);
  }
  return features;
}

// --------------------------------------------------------------- decoder

DecoderImpl::DecoderImpl(const slimserve::v1::ModelSpec& spec, int task)
    : decoder_widths_(spec.decoder_widths().begin(),
                      spec.decoder_widths().end()),
      num_decoder_widths_(spec.decoder_widths_size()),
      channels_(spec.tasks(task).decoder().channels()),
      out_h_(spec.input().height()),
      out_w_(spec.input().width()) {
  const auto& dec = spec.tasks(task).decoder();
  const int k = spec.encoder_widths_size() * num_decoder_widths_;
  // Configuration we * num_decoder_widths_ + wd: affine row wd when shared.
  const int num_affine =
      spec.decoder_bn_affine() ==
              slimserve::v1::ModelSpec::DECODER_BATCH_NORM_AFFINE_PER_DECODER_WIDTH
          ? num_decoder_widths_
          : k;
  for (uint32_t s : dec.input_stages()) {
    input_stages_.push_back(static_cast<int>(s));
    laterals_.push_back(register_module(
        absl::StrCat("lateral", s),
        SlimConv2d(spec.encoder().stages(s).channels(), channels_, 1, 1,
                   false)));
    lateral_bns_.push_back(
        register_module(absl::StrCat("lateral", s, "_bn"),
                        SwitchableBatchNorm(k, channels_, num_affine)));
  }
  for (uint32_t i = 0; i < dec.num_convs(); ++i) {
    convs_.push_back(register_module(absl::StrCat("conv", i),
                                     SlimConv2d(channels_, channels_, 3, 1,
                                                false)));
    conv_bns_.push_back(
        register_module(absl::StrCat("conv", i, "_bn"),
                        SwitchableBatchNorm(k, channels_, num_affine)));
  }
  head_ = register_module(
      "head", SlimConv2d(channels_, TaskOutputChannels(spec.tasks(task)), 1,
                         1, true));
}

torch::Tensor DecoderImpl::forward(const std::vector<torch::Tensor>& features,
                                   int we, int wd) {
  return Bilinear(forward_head(features, we, wd), {out_h_, out_w_});
}

torch::Tensor DecoderImpl::forward_head(
    const std::vector<torch::Tensor>& features, int we, int wd) {
  const int config = we * num_decoder_widths_ + wd;
  const int d = SlimChannels(decoder_widths_[wd], channels_);
  const auto& finest = features[input_stages_[0]];
  const std::vector<int64_t> size = {finest.size(2), finest.size(3)};
  torch::Tensor y;
  for (size_t i = 0; i < input_stages_.size(); ++i) {
    torch::Tensor lat = lateral_bns_[i]->forward(
        laterals_[i]->forward(features[input_stages_[i]], d), config);
    if (i > 0) lat = Bilinear(lat, size);
    y = i == 0 ? lat : y + lat;
  }
  y = torch::relu(y);
  for (size_t i = 0; i < convs_.size(); ++i) {
    y = torch::relu(conv_bns_[i]->forward(convs_[i]->forward(y, d), config));
  }
  // NCHW: the upsampling to full resolution (forward, or post-processing
  // when serving) in channels-last cost more than all the convolutions at
  // batch 8 (engine/runtime/PERFORMANCE.md).
  return head_->forward(y, head_->weight.size(0)).contiguous();
}

FoldedDecoder DecoderImpl::Fold(const std::vector<int64_t>& feature_channels,
                                int we, int wd,
                                const FoldOptions& options) const {
  const int config = we * num_decoder_widths_ + wd;
  const int d = SlimChannels(decoder_widths_[wd], channels_);
  FoldedDecoder f;
  f.input_stages = input_stages_;
  for (size_t i = 0; i < input_stages_.size(); ++i) {
    f.laterals.push_back(laterals_[i]->Fold(
        feature_channels[input_stages_[i]], d, lateral_bns_[i].get(), config,
        options));
  }
  for (size_t i = 0; i < convs_.size(); ++i) {
    f.convs.push_back(
        convs_[i]->Fold(d, d, conv_bns_[i].get(), config, options,
                        /*relu=*/true));
  }
  f.head = head_->Fold(d, head_->weight.size(0), nullptr, 0, options);
  f.out_h = out_h_;
  f.out_w = out_w_;
  return f;
}

torch::Tensor FoldedDecoder::Forward(
    const std::vector<torch::Tensor>& features) const {
  return Bilinear(Head(features), {out_h, out_w});
}

namespace {

// A decoder up to its head, fused or not: laterals of the stages it reads
// upsampled to the finest one and summed, ReLU, the 3x3 convolutions. Keep
// in step with DecoderImpl::forward_head.
torch::Tensor DecoderTrunk(const std::vector<int>& input_stages,
                           const std::vector<FoldedConv>& laterals,
                           const std::vector<FoldedConv>& convs,
                           const std::vector<torch::Tensor>& features) {
  const auto& finest = features[input_stages[0]];
  const std::vector<int64_t> size = {finest.size(2), finest.size(3)};
  torch::Tensor y;  // a fresh convolution output: updated in place
  for (size_t i = 0; i < input_stages.size(); ++i) {
    torch::Tensor lat = laterals[i](features[input_stages[i]]);
    if (i > 0) lat = Bilinear(lat, size);
    y = i == 0 ? lat : y.add_(lat);
  }
  y.relu_();
  for (const FoldedConv& conv : convs) y = conv(y);
  return y;
}

}  // namespace

torch::Tensor FoldedDecoder::Head(
    const std::vector<torch::Tensor>& features) const {
  // NCHW: see DecoderImpl::forward_head.
  return head(DecoderTrunk(input_stages, laterals, convs, features))
      .contiguous();
}

std::unique_ptr<FusedDecoder> FusedDecoder::Fuse(
    const std::vector<const FoldedDecoder*>& decoders,
    const FoldOptions& options) {
  if (decoders.empty()) return nullptr;
  const FoldedDecoder& first = *decoders.front();
  const int64_t d = first.convs.empty() ? first.laterals[0].weight.size(0)
                                        : first.convs[0].weight.size(0);
  auto fusion = std::make_unique<FusedDecoder>();
  fusion->input_stages = first.input_stages;
  for (const FoldedDecoder* dec : decoders) {
    if (dec->input_stages != first.input_stages ||
        dec->convs.size() != first.convs.size() ||
        dec->laterals[0].weight.size(0) != d) {
      return nullptr;
    }
    fusion->head_channels.push_back(dec->head.weight.size(0));
    fusion->head_group =
        std::max(fusion->head_group, dec->head.weight.size(0));
  }
  const int groups = static_cast<int>(decoders.size());
  // Weights are concatenated along the outputs: in their folded dtype and
  // layout already; Create only re-packs.
  auto cat = [&](auto conv_of, bool grouped) {
    std::vector<torch::Tensor> w, b;
    for (const FoldedDecoder* dec : decoders) {
      const FoldedConv& c = conv_of(*dec);
      w.push_back(c.weight);
      b.push_back(c.bias);
    }
    const FoldedConv& c0 = conv_of(first);
    return FoldedConv::Create(torch::cat(w), torch::cat(b), c0.stride,
                              c0.padding, c0.relu, options,
                              grouped ? groups : 1);
  };
  for (size_t i = 0; i < first.laterals.size(); ++i) {
    fusion->laterals.push_back(
        cat([i](const FoldedDecoder& dec) -> const FoldedConv& {
              return dec.laterals[i];
            },
            /*grouped=*/false));
  }
  for (size_t i = 0; i < first.convs.size(); ++i) {
    fusion->convs.push_back(
        cat([i](const FoldedDecoder& dec) -> const FoldedConv& {
              return dec.convs[i];
            },
            /*grouped=*/true));
  }
  // Heads padded with zero filters (bias 0) to head_group outputs each.
  std::vector<torch::Tensor> w, b;
  for (const FoldedDecoder* dec : decoders) {
    const int64_t pad = fusion->head_group - dec->head.weight.size(0);
    torch::Tensor hw = dec->head.weight.contiguous();
    torch::Tensor hb = dec->head.bias;
    if (pad > 0) {
      hw = torch::cat({hw, torch::zeros({pad, hw.size(1), 1, 1}, hw.options())});
      hb = torch::cat({hb, torch::zeros({pad}, hb.options())});
    }
    w.push_back(hw);
    b.push_back(hb);
  }
  fusion->head = FoldedConv::Create(torch::cat(w), torch::cat(b),
                                    first.head.stride, first.head.padding,
                                    first.head.relu, options, groups);
  return fusion;
}

std::vector<torch::Tensor> FusedDecoder::Heads(
    const std::vector<torch::Tensor>& features) const {
  const torch::Tensor out =
      head(DecoderTrunk(input_stages, laterals, convs, features));
  std::vector<torch::Tensor> heads;
  heads.reserve(head_channels.size());
  for (size_t t = 0; t < head_channels.size(); ++t) {
    heads.push_back(
        out.narrow(1, static_cast<int64_t>(t) * head_group, head_channels[t])
            .contiguous());  // NCHW: see DecoderImpl::forward_head
  }
  return heads;
}

int64_t FusedDecoder::Bytes() const {
  auto bytes = [](const FoldedConv& c) {
    return static_cast<int64_t>(c.weight.numel() * c.weight.element_size() +
                                c.bias.numel() * c.bias.element_size());
  };
  int64_t n = bytes(head);
  for (const auto& c : laterals) n += bytes(c);
  for (const auto& c : convs) n += bytes(c);
  return n;
}

// -------------------------------------------------------------- supernet

SupernetImpl::SupernetImpl(const slimserve::v1::ModelSpec& spec)
    : spec_(spec) {
  encoder_ = register_module("encoder", Encoder(spec));
  for (int t = 0; t < spec.tasks_size(); ++t) {
    decoders_.push_back(register_module(
        absl::StrCat("decoder_", spec.tasks(t).name()), Decoder(spec, t)));
  }
}

FoldedDecoder SupernetImpl::FoldDecoder(int task, int we, int wd,
                                        const FoldOptions& options) const {
  const double w = spec_.encoder_widths(we);
  std::vector<int64_t> channels;
  for (const auto& stage : spec_.encoder().stages()) {
    channels.push_back(SlimChannels(w, stage.channels()));
  }
  return decoders_[task]->Fold(channels, we, wd, options);
}

torch::Tensor SupernetImpl::Upsample(const torch::Tensor& head, int64_t height,
                                     int64_t width) {
  return Bilinear(head, {height, width});
}

torch::Tensor SupernetImpl::Activate(slimserve::v1::TaskKind kind,
                                     const torch::Tensor& raw) {
  switch (kind) {
    case slimserve::v1::TASK_KIND_DEPTH:
      return F::softplus(raw);
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS: {
      // x / max(|x|, 1e-12) over the channels, as F::normalize, but from
      // elementwise ops on channel slices: LibTorch 1.13's norm reduction
      // over dim 1 took 2.3 ms of a 4.4 ms batch-1 pass (17.8 of 23 ms at
      // batch 8; engine/runtime/PERFORMANCE.md). Clamping the squared norm keeps
      // the gradient finite at zero.
      torch::Tensor squared = raw.narrow(1, 0, 1).square();
      for (int64_t c = 1; c < raw.size(1); ++c) {
        squared = squared + raw.narrow(1, c, 1).square();
      }
      return raw / squared.clamp_min(1e-24).sqrt();
    }
    case slimserve::v1::TASK_KIND_EDGES:
      return torch::sigmoid(raw);
    default:
      return raw;
  }
}

void InitSupernet(Supernet& net, uint64_t seed) {
  torch::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& item : net->named_parameters()) {
    torch::Tensor& p = item.value();
    if (p.dim() == 4) {  // convolution: He-normal over fan-out
      const double fan_out = p.size(0) * p.size(2) * p.size(3);
      p.copy_(at::normal(0.0, std::sqrt(2.0 / fan_out), p.sizes(), gen));
    } else if (item.key().size() >= 6 &&
               item.key().compare(item.key().size() - 6, 6, "weight") == 0) {
      p.fill_(1.0);  // BN scale
    } else {
      p.zero_();  // BN shift and conv biases
    }
  }
  for (auto& item : net->named_buffers()) {
    if (item.key().find("running_var") != std::string::npos) {
      item.value().fill_(1.0);
    } else {
      item.value().zero_();
    }
  }
}

absl::Status SaveSupernet(Supernet& net, const std::string& path) {
  try {
    torch::serialize::OutputArchive archive;
    net->save(archive);
    archive.save_to(path);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat(path, ": cannot write weights: ", e.what()));
  }
  return absl::OkStatus();
}

namespace {

std::string ShapeString(at::IntArrayRef sizes) {
  return absl::StrCat("[", absl::StrJoin(sizes, ", "), "]");
}

// Loads one module level; `prefix` is its dotted name for messages.
absl::Status LoadLevel(torch::nn::Module& module,
                       torch::serialize::InputArchive& archive,
                       const std::string& prefix, const std::string& path) {
  std::set<std::string> expected;
  auto read = [&](const std::string& key, torch::Tensor& target,
                  bool is_buffer) -> absl::Status {
    expected.insert(key);
    torch::Tensor value;
    if (!archive.try_read(key, value, is_buffer) || !value.defined()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": tensor ", prefix, key, " is missing; the spec implies shape ",
          ShapeString(target.sizes())));
    }
    if (value.sizes() != target.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": tensor ", prefix, key, " has shape ",
          ShapeString(value.sizes()), " but the spec implies ",
          ShapeString(target.sizes()),
          " (do spec.textproto and the weights come from the same model?)"));
    }
    if (value.scalar_type() != target.scalar_type()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor ", prefix, key, " has dtype ",
                       c10::toString(value.scalar_type()), ", expected ",
                       c10::toString(target.scalar_type())));
    }
    target.copy_(value);
    return absl::OkStatus();
  };
  for (auto& item : module.named_parameters(/*recurse=*/false)) {
    if (auto st = read(item.key(), item.value(), false); !st.ok()) return st;
  }
  for (auto& item : module.named_buffers(/*recurse=*/false)) {
    if (auto st = read(item.key(), item.value(), true); !st.ok()) return st;
  }
  for (auto& child : module.named_children()) {
    expected.insert(child.key());
    torch::serialize::InputArchive sub;
    if (!archive.try_read(child.key(), sub)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": module ", prefix, child.key(),
                       " is missing (the spec implies it)"));
    }
    if (auto st = LoadLevel(*child.value(), sub, prefix + child.key() + ".",
                            path);
        !st.ok()) {
      return st;
    }
  }
  for (const std::string& key : archive.keys()) {
    if (expected.count(key) == 0 && key != "training") {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": entry ", prefix, key,
                       " is not part of the model spec.textproto describes "
                       "(weights of a different model?)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadSupernet(Supernet& net, const std::string& path) {
  torch::NoGradGuard no_grad;
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a readable LibTorch weights archive: ", what));
  }
  try {
    return LoadLevel(*net, archive, "", path);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": corrupt weights archive: ", what));
  }
}

}  // namespace slimserve
