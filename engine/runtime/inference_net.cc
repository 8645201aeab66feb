#include "engine/runtime/inference_net.h"

#include <algorithm>
#include <utility>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "absl/strings/str_cat.h"

namespace slimserve {
namespace {

std::string PrecisionName(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat:
      return "float32";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kHalf:
      return "float16";
    default:
      return c10::toString(t);
  }
}

int64_t Bytes(const torch::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.numel() * t.element_size()) : 0;
}

int64_t Bytes(const FoldedConv& c) { return Bytes(c.weight) + Bytes(c.bias); }

// glibc hands allocations above a dynamic threshold (128 KiB at first) to
// mmap and trims the heap's free top back to the kernel, so a pass whose
// activations are a few MB each faults its pages in again on every call;
// in this VM that made a fused batch-8 pass 2.5x slower than with the
// memory kept (engine/runtime/PERFORMANCE.md). Process-wide, once: the
// server's memory then stays at its peak instead of shrinking between
// batches. Where to stop: the largest threshold glibc takes (32 MiB on 64-bit).
void KeepFreedMemory() {
#ifdef __GLIBC__
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
#endif
}

}  // namespace

torch::ScalarType ScalarTypeOf(Precision precision) {
  switch (precision) {
    case Precision::kFloat32:
      return torch::kFloat;
    case Precision::kBFloat16:
      return torch::kBFloat16;
    case Precision::kFloat16:
      return torch::kHalf;
  }
  return torch::kFloat;
}

InferenceNet::InferenceNet(Supernet net, const InferenceOptions& options)
    : options_(options),
      spec_(net->spec()),
      device_(net->parameters().front().device()),
      memory_format_(options.channels_last ? at::MemoryFormat::ChannelsLast
                                           : at::MemoryFormat::Contiguous),
      net_(std::move(net)) {}

absl::StatusOr<std::unique_ptr<InferenceNet>> InferenceNet::Create(
    Supernet net, const InferenceOptions& options) {
  if (net->is_training()) {
    return absl::FailedPreconditionError(
        "InferenceNet: the supernet must be in eval mode");
  }
  const std::string precision = PrecisionName(options.dtype);
  if (options.dtype != torch::kFloat && options.dtype != torch::kBFloat16 &&
      options.dtype != torch::kHalf) {
    return absl::InvalidArgumentError(
        absl::StrCat("precision ", precision, " is not supported"));
  }
  if (options.weights == InferenceOptions::Weights::kSliced &&
      options.dtype != torch::kFloat) {
    return absl::InvalidArgumentError(absl::StrCat(
        "precision ", precision,
        " needs folded weights (the sliced path runs BatchNorm in float32)"));
  }
  const torch::Device device = net->parameters().front().device();
  if (options.xnnpack_max_macs < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "xnnpack_max_macs: must be >= 0, got ", options.xnnpack_max_macs));
  }
  if (options.dtype == torch::kHalf && device.is_cpu()) {
    return absl::InvalidArgumentError(
        "precision float16 on the CPU: LibTorch has no CPU float16 "
        "convolution; use bfloat16, or float16 on a CUDA device");
  }
  if (device.is_cpu()) KeepFreedMemory();
  std::unique_ptr<InferenceNet> in(new InferenceNet(std::move(net), options));
  torch::NoGradGuard no_grad;
  if (options.weights == InferenceOptions::Weights::kFolded) {
    FoldOptions fold{options.dtype, in->memory_format_};
    // XNNPACK answers in channels-last, which only that layout expects.
    if (in->UsesXnnpack()) fold.xnnpack_max_macs = options.xnnpack_max_macs;
    const auto& spec = in->spec_;
    in->decoders_.resize(spec.tasks_size());
    for (int we = 0; we < spec.encoder_widths_size(); ++we) {
      FoldedEncoder e = in->net_->FoldEncoder(we, fold);
      in->weight_bytes_ += Bytes(e.stem);
      for (const auto& blocks : e.stages) {
        for (const auto& b : blocks) {
          in->weight_bytes_ +=
              Bytes(b.conv1) + Bytes(b.conv2) + Bytes(b.shortcut);
        }
      }
      in->encoders_.push_back(std::move(e));
    }
    for (int t = 0; t < spec.tasks_size(); ++t) {
      in->decoders_[t].resize(spec.encoder_widths_size());
      for (int we = 0; we < spec.encoder_widths_size(); ++we) {
        for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
          FoldedDecoder d = in->net_->FoldDecoder(t, we, wd, fold);
          for (const auto& c : d.laterals) in->weight_bytes_ += Bytes(c);
          for (const auto& c : d.convs) in->weight_bytes_ += Bytes(c);
          in->weight_bytes_ += Bytes(d.head);
          in->decoders_[t][we].push_back(std::move(d));
        }
      }
    }
    in->net_ = Supernet(nullptr);  // the folded copies are all it needs
    if (options.fuse_decoders && spec.tasks_size() > 1) {
      // Every task together: what a request for all tasks at uniform
      // widths runs, built now so no first request pays for it.
      std::vector<int> all(spec.tasks_size());
      for (int t = 0; t < spec.tasks_size(); ++t) all[t] = t;
      for (int we = 0; we < spec.encoder_widths_size(); ++we) {
        for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
          in->Fusion({we, wd, all});
        }
      }
    }
    return in;
  }
  // kSliced: the supernet's own weights, in the requested memory format.
  for (auto& p : in->net_->parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(in->memory_format_));
    in->weight_bytes_ += Bytes(p);
  }
  for (const auto& b : in->net_->buffers()) in->weight_bytes_ += Bytes(b);
  return in;
}

torch::Tensor InferenceNet::PrepareInput(const torch::Tensor& images) const {
  return images.to(device_, options_.dtype).contiguous(memory_format_);
}

std::vector<torch::Tensor> InferenceNet::Encode(const torch::Tensor& input,
                                                int we) const {
  if (options_.weights == InferenceOptions::Weights::kFolded) {
    return encoders_[we].Forward(input);
  }
  return net_->Encode(input, we);
}

torch::Tensor InferenceNet::DecodeHead(
    int task, const std::vector<torch::Tensor>& features, int we,
    int wd) const {
  return DecodeHeads({task}, features, we, wd)[0];
}

std::shared_ptr<const FusedDecoder> InferenceNet::Fusion(
    const FusionKey& key) const {
  {
    absl::MutexLock lock(&fusions_mu_);
    auto it = fusions_.find(key);
    if (it != fusions_.end()) return it->second;
  }
  // Built outside the lock (packing takes a while); a racing builder's
  // copy is dropped.
  const auto& [we, wd, tasks] = key;
  std::vector<const FoldedDecoder*> parts;
  for (int t : tasks) parts.push_back(&decoders_[t][we][wd]);
  FoldOptions fold{options_.dtype, memory_format_};
  if (UsesXnnpack()) fold.xnnpack_max_macs = options_.xnnpack_max_macs;
  std::shared_ptr<const FusedDecoder> fused = FusedDecoder::Fuse(parts, fold);
  absl::MutexLock lock(&fusions_mu_);
  auto [it, inserted] = fusions_.emplace(key, std::move(fused));
  if (inserted && it->second != nullptr) fusion_bytes_ += it->second->Bytes();
  return it->second;
}

std::vector<torch::Tensor> InferenceNet::DecodeHeads(
    const std::vector<int>& tasks, const std::vector<torch::Tensor>& features,
    int we, int wd) const {
  // A row subset (index_select) comes back in the default format; convert
  // so the decoder's convolutions take the same path as the encoder's.
  std::vector<torch::Tensor> f;
  f.reserve(features.size());
  for (const auto& x : features) f.push_back(x.contiguous(memory_format_));
  std::vector<torch::Tensor> raw(tasks.size());
  const bool folded = options_.weights == InferenceOptions::Weights::kFolded;
  if (FusesDecoders() && tasks.size() > 1) {
    // Ascending, so that every order of the same tasks shares one fusion.
    std::vector<int> order(tasks.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return tasks[a] < tasks[b]; });
    std::vector<int> sorted;
    for (int i : order) sorted.push_back(tasks[i]);
    if (const auto fused = Fusion({we, wd, sorted}); fused != nullptr) {
      std::vector<torch::Tensor> heads = fused->Heads(f);
      for (size_t i = 0; i < order.size(); ++i) {
        raw[order[i]] = std::move(heads[i]);
      }
    }
  }
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (raw[i].defined()) continue;
    raw[i] = folded ? decoders_[tasks[i]][we][wd].Head(f)
                    : net_->DecodeHead(tasks[i], f, we, wd);
  }
  // Post-processing works in float32 whatever the network ran in.
  for (auto& r : raw) r = r.to(torch::kFloat).contiguous();
  return raw;
}

int64_t InferenceNet::weight_bytes() const {
  absl::MutexLock lock(&fusions_mu_);
  return weight_bytes_ + fusion_bytes_;
}

torch::Tensor InferenceNet::FinishOutput(int task,
                                         const torch::Tensor& head) const {
  return SupernetImpl::Activate(
             spec_.tasks(task).kind(),
             SupernetImpl::Upsample(head.to(torch::kFloat),
                                    spec_.input().height(),
                                    spec_.input().width()))
      .contiguous();
}

torch::Tensor InferenceNet::Decode(int task,
                                   const std::vector<torch::Tensor>& features,
                                   int we, int wd) const {
  return FinishOutput(task, DecodeHead(task, features, we, wd));
}

bool InferenceNet::FusesDecoders() const {
  return options_.weights == InferenceOptions::Weights::kFolded &&
         options_.fuse_decoders;
}

bool InferenceNet::UsesXnnpack() const {
  return options_.weights == InferenceOptions::Weights::kFolded &&
         options_.dtype == torch::kFloat && options_.channels_last &&
         device_.is_cpu() && options_.xnnpack_max_macs > 0 &&
         XnnpackConv::Available();
}

std::string InferenceNet::Describe() const {
  return absl::StrCat(
      options_.weights == InferenceOptions::Weights::kFolded ? "folded"
                                                             : "sliced",
      "/", PrecisionName(options_.dtype), "/",
      options_.channels_last ? "channels_last" : "nchw",
      UsesXnnpack() ? absl::StrCat("/xnnpack<=", options_.xnnpack_max_macs)
                    : "",
      options_.weights == InferenceOptions::Weights::kFolded &&
              options_.fuse_decoders
          ? "/fused"
          : "",
      // Said, because LibTorch's own bfloat16 convolutions are much slower.
      options_.dtype == torch::kBFloat16 && device_.is_cpu() &&
              !CpuHasOneDnnBFloat16()
          ? "/aten_conv"
          : "");
}

}  // namespace slimserve
