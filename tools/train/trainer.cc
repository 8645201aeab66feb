#include "tools/train/trainer.h"

#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/runtime/random_model.h"
#include "engine/runtime/supernet.h"
#include "google/protobuf/text_format.h"
#include "tools/train/data.h"

namespace slimserve {
namespace train {
namespace {

namespace F = torch::nn::functional;
using slimserve::v1::TaskKind;

using Config = SampledConfig;

// Width index in [0, n): the narrowest and the widest drawn with weight
// `end_weight` each, every inner width with weight 1.
int SampleWidth(std::mt19937_64& rng, int n, double end_weight) {
  if (n <= 2) return static_cast<int>(rng() % n);
  const double total = 2 * end_weight + (n - 2);
  double u = std::uniform_real_distribution<double>(0, total)(rng);
  if (u < end_weight) return 0;
  u -= end_weight;
  if (u < n - 2) return std::min(n - 2, 1 + static_cast<int>(u));
  return n - 1;
}

// Class-balanced BCE (HED): positives and negatives carry equal total weight.
torch::Tensor BalancedBce(const torch::Tensor& logits,
                          const torch::Tensor& target) {
  return F::binary_cross_entropy_with_logits(
      logits, target,
      F::BinaryCrossEntropyWithLogitsFuncOptions().weight(EdgeClassWeights(target)));
}

// Unit vectors over the channels, as F::normalize but with the supernet's
// elementwise form: LibTorch 1.13's norm reduction over dim 1 was 39% of a
// training step (models/default/README.md, "Trainer speed").
torch::Tensor UnitNormals(const torch::Tensor& raw) {
  return SupernetImpl::Activate(slimserve::v1::TASK_KIND_SURFACE_NORMALS, raw);
}

// Mean 1 - cosine between two fields of unit vectors.
torch::Tensor CosineDistance(const torch::Tensor& unit, const torch::Tensor& target) {
  return (1 - (unit * target).sum(1)).mean();
}

torch::Tensor DepthLoss(const torch::Tensor& depth, const torch::Tensor& target,
                        double gradient_weight) {
  torch::Tensor l = F::l1_loss(depth, target);
  if (gradient_weight > 0) {
    l = l + gradient_weight * DepthGradientL1(depth, target);
  }
  return l;
}

torch::Tensor TaskLoss(TaskKind kind, const torch::Tensor& raw,
                       const Batch& b, double depth_gradient_weight) {
  switch (kind) {
    case slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION:
      return F::cross_entropy(raw, b.semantic);
    case slimserve::v1::TASK_KIND_DEPTH:
      return DepthLoss(F::softplus(raw), b.depth, depth_gradient_weight);
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS:
      return CosineDistance(UnitNormals(raw), b.normals);
    case slimserve::v1::TASK_KIND_EDGES:
      return BalancedBce(raw, b.edges);
    default:
      return torch::zeros({});
  }
}

// The teacher's (detached) outputs in the form each distillation loss
// compares with, computed once per step rather than once per student.
struct TeacherTarget {
  // semseg: probabilities; depth: softplus; normals: unit vectors; edges:
  // sigmoid.
  torch::Tensor target;
  // semseg: mean over pixels of sum_c t log t, the KL divergence's constant.
  torch::Tensor self_term;
};

TeacherTarget MakeTeacherTarget(TaskKind kind, const torch::Tensor& teacher) {
  torch::NoGradGuard no_grad;
  switch (kind) {
    case slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION: {
      const torch::Tensor log_t = torch::log_softmax(teacher, 1);
      const torch::Tensor t = log_t.exp();
      return {t, (t * log_t).sum(1).mean()};
    }
    case slimserve::v1::TASK_KIND_DEPTH:
      return {F::softplus(teacher), {}};
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS:
      return {UnitNormals(teacher), {}};
    case slimserve::v1::TASK_KIND_EDGES:
      return {torch::sigmoid(teacher), {}};
    default:
      return {teacher, {}};
  }
}

struct StudentLosses {
  torch::Tensor task;     // against the ground truth, as TaskLoss
  torch::Tensor distill;  // towards the teacher
};

// A student's head output against the ground truth and the teacher. For
// semseg, cross-entropy and KL(teacher || student) share one log_softmax
// (each took ~4 ms a call over 8 channels at batch 16).
StudentLosses StudentLoss(TaskKind kind, const torch::Tensor& raw,
                          const Batch& b, const TeacherTarget& teacher,
                          double depth_gradient_weight) {
  switch (kind) {
    case slimserve::v1::TASK_KIND_SEMANTIC_SEGMENTATION: {
      const torch::Tensor log_s = torch::log_softmax(raw, 1);
      return {F::nll_loss(log_s, b.semantic),
              teacher.self_term - (teacher.target * log_s).sum(1).mean()};
    }
    case slimserve::v1::TASK_KIND_DEPTH: {
      const torch::Tensor depth = F::softplus(raw);
      return {DepthLoss(depth, b.depth, depth_gradient_weight),
              F::l1_loss(depth, teacher.target)};
    }
    case slimserve::v1::TASK_KIND_SURFACE_NORMALS: {
      const torch::Tensor unit = UnitNormals(raw);
      return {CosineDistance(unit, b.normals),
              CosineDistance(unit, teacher.target)};
    }
    case slimserve::v1::TASK_KIND_EDGES:
      return {BalancedBce(raw, b.edges),
              F::binary_cross_entropy_with_logits(raw, teacher.target)};
    default:
      return {torch::zeros({}), torch::zeros({})};
  }
}

std::string Checkpoint(const std::string& out_dir) {
  return out_dir + "/checkpoint.pt";
}

absl::Status SaveCheckpoint(Supernet& net, torch::optim::AdamW& opt,
                            int64_t step, const std::string& path) {
  try {
    torch::serialize::OutputArchive archive, model, optim;
    net->save(model);
    opt.save(optim);
    archive.write("model", model);
    archive.write("optimizer", optim);
    archive.write("step", torch::tensor(step));
    const std::string tmp = path + ".tmp";
    archive.save_to(tmp);
    std::filesystem::rename(tmp, path);  // never a half-written checkpoint
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(path, ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> LoadCheckpoint(Supernet& net, torch::optim::AdamW& opt,
                                       const std::string& path) {
  try {
    torch::serialize::InputArchive archive, model, optim;
    archive.load_from(path);
    archive.read("model", model);
    archive.read("optimizer", optim);
    net->load(model);
    opt.load(optim);
    torch::Tensor step;
    archive.read("step", step);
    return step.item<int64_t>();
  } catch (const std::exception& e) {
    std::string what = e.what();
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot resume: ", what.substr(0, what.find('\n'))));
  }
}

// Exact per-configuration BatchNorm statistics: reset, then average over
// `batches` batches run in training mode (momentum 1/(k+1) = running mean).
void RecalibrateBatchNorm(Supernet& net, const TrainerOptions& o,
                          const torch::Device& device) {
  torch::NoGradGuard no_grad;
  std::vector<SwitchableBatchNormImpl*> bns;
  for (const auto& m : net->modules(/*include_self=*/false)) {
    if (auto* bn = m->as<SwitchableBatchNormImpl>()) bns.push_back(bn);
  }
  for (auto* bn : bns) {
    bn->running_mean.zero_();
    bn->running_var.fill_(1.0);
  }
  net->train();
  const auto& spec = o.spec;
  for (int k = 0; k < o.recalibration_batches; ++k) {
    for (auto* bn : bns) bn->momentum = 1.0 / (k + 1);
    // Held apart from the training stream's indices by the seed.
    const Batch b = MakeBatch(spec, o.scene, o.data_seed + 1000003,
                              uint64_t(k) * o.batch_size, o.batch_size,
                              o.data_threads)
                        .To(device);
    for (int we = 0; we < spec.encoder_widths_size(); ++we) {
      const auto features = net->Encode(b.image, we);
      for (int wd = 0; wd < spec.decoder_widths_size(); ++wd) {
        for (int t = 0; t < spec.tasks_size(); ++t) {
          net->DecodeRaw(t, features, we, wd);
        }
      }
    }
  }
  for (auto* bn : bns) bn->momentum = 0.1;
  net->eval();
}

class ProgressBar {
 public:
  ProgressBar(int64_t total, int batch_size, bool enabled)
      : total_(total),
        batch_size_(batch_size),
        enabled_(enabled),
        tty_(isatty(2)) {}
  void Update(int64_t step, const std::string& losses, double images_per_s) {
    if (!enabled_) return;
    if (!tty_ && step % 25 != 0 && step != total_) return;
    const int width = 24;
    const int filled = static_cast<int>(width * step / std::max<int64_t>(1, total_));
    const double eta_min =
        images_per_s > 0
            ? (total_ - step) * double(batch_size_) / images_per_s / 60
            : 0;
    std::fprintf(stderr, "%sstep %lld/%lld [%s%s] %s | %.1f img/s, ETA %.0f min%s",
                 tty_ ? "\r" : "", static_cast<long long>(step),
                 static_cast<long long>(total_),
                 std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), losses.c_str(),
                 images_per_s, eta_min, tty_ ? "\033[K" : "\n");
    std::fflush(stderr);
  }
  void Done() {
    if (enabled_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  int64_t total_;
  int batch_size_;
  bool enabled_, tty_;
};

// L2 norm of a gradient over many tensors (undefined ones: unused, 0).
double GradNorm(const std::vector<torch::Tensor>& grads) {
  double sum = 0;
  for (const auto& g : grads) {
    if (g.defined()) sum += g.pow(2).sum().item<double>();
  }
  return std::sqrt(sum);
}

// One cikd_log.tsv row per stage: the distance and its gradient's norm on
// the encoder's weights relative to that of `task_loss` (the student's task
// and output-distillation losses). Keeps the graph for the real backward.
void LogCikd(std::ofstream& log, int64_t step, double weight,
             const std::vector<int>& stages,
             const std::vector<torch::Tensor>& distances,
             const torch::Tensor& task_loss,
             const std::vector<torch::Tensor>& encoder_params) {
  auto grad = [&](const torch::Tensor& y) {
    return torch::autograd::grad({y}, encoder_params, /*grad_outputs=*/{},
                                 /*retain_graph=*/true, /*create_graph=*/false,
                                 /*allow_unused=*/true);
  };
  const double task_norm = std::max(GradNorm(grad(task_loss)), 1e-12);
  for (size_t i = 0; i < stages.size(); ++i) {
    log << step << '\t' << weight << '\t' << stages[i] << '\t'
        << distances[i].item<double>() << '\t'
        << GradNorm(grad(distances[i])) / task_norm << '\n';
  }
  log.flush();
}

absl::Status WritePackage(Supernet& net, const TrainerOptions& o) {
  v1::ModelSpec spec = o.spec;
  spec.set_weights_file(kDefaultWeightsFileName);
  std::string text;
  google::protobuf::TextFormat::PrintToString(spec, &text);
  std::ofstream(o.out_dir + "/" + kSpecFileName)
      << "# proto-file: proto/slimserve/v1/model_spec.proto\n"
      << "# proto-message: slimserve.v1.ModelSpec\n"
      << text;
  net->to(torch::kCPU);
  return SaveSupernet(net, WeightsPath(o.out_dir, spec));
}

}  // namespace

torch::Tensor DepthGradientL1(const torch::Tensor& pred,
                              const torch::Tensor& target) {
  auto diff = [](const torch::Tensor& m, int64_t dim) {
    const int64_t n = m.size(dim) - 1;
    return m.narrow(dim, 1, n) - m.narrow(dim, 0, n);
  };
  return F::l1_loss(diff(pred, 3), diff(target, 3)) +
         F::l1_loss(diff(pred, 2), diff(target, 2));
}

SampledConfig SampleRandomConfig(std::mt19937_64& rng, int num_we, int num_wd,
                                 int num_tasks, double end_width_weight) {
  SampledConfig c;
  c.we = SampleWidth(rng, num_we, end_width_weight);
  for (int t = 0; t < num_tasks; ++t) {
    c.wd.push_back(SampleWidth(rng, num_wd, end_width_weight));
  }
  return c;
}

std::vector<int> SampleOtherWidths(std::mt19937_64& rng, int n, int own,
                                   int k) {
  std::vector<int> others;
  for (int i = 0; i < n; ++i) {
    if (i != own) others.push_back(i);
  }
  std::shuffle(others.begin(), others.end(), rng);
  others.resize(std::min<size_t>(others.size(), std::max(0, k)));
  return others;
}

absl::StatusOr<CikdFeatures> ParseCikdFeatures(absl::string_view name) {
  if (name == "post_relu") return CikdFeatures::kPostRelu;
  if (name == "pre_relu") return CikdFeatures::kPreRelu;
  return absl::InvalidArgumentError(absl::StrCat(
      "cikd_features: want post_relu or pre_relu, got \"",
      name.substr(0, 64), "\""));
}

absl::StatusOr<CikdDistance> ParseCikdDistance(absl::string_view name) {
  if (name == "mse") return CikdDistance::kMse;
  if (name == "standardized") return CikdDistance::kStandardized;
  if (name == "cosine") return CikdDistance::kCosine;
  return absl::InvalidArgumentError(absl::StrCat(
      "cikd_distance: want mse, standardized or cosine, got \"",
      name.substr(0, 64), "\""));
}

torch::Tensor CikdStageDistance(CikdDistance distance,
                                const torch::Tensor& student,
                                const torch::Tensor& teacher) {
  switch (distance) {
    case CikdDistance::kStandardized: {
      // Per channel over (N, H, W); eps as BatchNorm's.
      auto standardize = [](const torch::Tensor& x) {
        const auto [var, mean] = torch::var_mean(x, {0, 2, 3}, /*unbiased=*/false,
                                                 /*keepdim=*/true);
        return (x - mean) * torch::rsqrt(var + 1e-5);
      };
      return F::mse_loss(standardize(student), standardize(teacher));
    }
    case CikdDistance::kCosine:
      return (1 - F::cosine_similarity(
                      student, teacher,
                      F::CosineSimilarityFuncOptions().dim(1).eps(1e-6)))
          .mean();
    case CikdDistance::kMse:
    default:
      return F::mse_loss(student, teacher);
  }
}

double CikdWeightAt(const TrainerOptions& o, int64_t step) {
  if (!o.cikd || step < o.cikd_warmup_steps) return 0;
  if (o.cikd_ramp_steps <= 0) return o.cikd_weight;
  const double ramp =
      double(step - o.cikd_warmup_steps + 1) / o.cikd_ramp_steps;
  return o.cikd_weight * std::min(1.0, ramp);
}

absl::Status Train(const TrainerOptions& o) {
  SLIM_RETURN_IF_ERROR(ValidateModelSpec(o.spec));
  if (o.out_dir.empty()) return absl::InvalidArgumentError("out_dir: required");
  if (o.steps < 1 || o.batch_size < 1) {
    return absl::InvalidArgumentError("steps and batch_size must be >= 1");
  }
  if (!(o.end_width_weight >= 0 && std::isfinite(o.end_width_weight))) {
    return absl::InvalidArgumentError(
        absl::StrCat("end_width_weight must be a finite number >= 0, got ",
                     o.end_width_weight));
  }
  if (o.recalibration_batches < 1) {
    // Zero batches would leave every BatchNorm at mean 0, variance 1.
    return absl::InvalidArgumentError(absl::StrCat(
        "recalibration_batches must be >= 1, got ", o.recalibration_batches));
  }
  if (!(o.depth_gradient_weight >= 0 && std::isfinite(o.depth_gradient_weight))) {
    return absl::InvalidArgumentError(
        absl::StrCat("depth_gradient_weight must be a finite number >= 0, got ",
                     o.depth_gradient_weight));
  }
  if (o.extra_decoder_widths < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "extra_decoder_widths must be >= 0, got ", o.extra_decoder_widths));
  }
  if (!(o.cikd_weight >= 0 && std::isfinite(o.cikd_weight)) ||
      o.cikd_warmup_steps < 0 || o.cikd_ramp_steps < 0 || o.cikd_log_every < 0) {
    return absl::InvalidArgumentError(
        "cikd_weight, cikd_warmup_steps, cikd_ramp_steps and cikd_log_every "
        "must be finite and >= 0");
  }
  const int num_stages = o.spec.encoder().stages_size();
  std::vector<int> cikd_stages = o.cikd_stages;
  if (cikd_stages.empty()) {
    for (int s = 0; s < num_stages; ++s) cikd_stages.push_back(s);
  }
  for (size_t i = 0; i < cikd_stages.size(); ++i) {
    const int s = cikd_stages[i];
    if (s < 0 || s >= num_stages ||
        std::find(cikd_stages.begin(), cikd_stages.begin() + i, s) !=
            cikd_stages.begin() + i) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cikd_stages: ", s, " is repeated or not a stage index in [0, ",
          num_stages, ")"));
    }
  }
  std::filesystem::create_directories(o.out_dir);
  const int threads = o.num_threads > 0
                          ? o.num_threads
                          : static_cast<int>(std::thread::hardware_concurrency());
  torch::set_num_threads(std::max(1, threads));
  const torch::Device device =
      torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;

  const auto& spec = o.spec;
  const int num_we = spec.encoder_widths_size();
  const int num_wd = spec.decoder_widths_size();
  const int num_tasks = spec.tasks_size();

  Supernet net(spec);
  InitSupernet(net, o.seed);
  net->to(device);
  torch::optim::AdamW opt(
      net->parameters(),
      torch::optim::AdamWOptions(o.learning_rate).weight_decay(o.weight_decay));

  int64_t start = 0;
  if (o.resume && std::filesystem::exists(Checkpoint(o.out_dir))) {
    SLIM_ASSIGN_OR_RETURN(start, LoadCheckpoint(net, opt, Checkpoint(o.out_dir)));
    std::fprintf(stderr, "resuming from step %lld\n", static_cast<long long>(start));
  }

  std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ULL + start);
  Prefetcher data(spec, o.scene, o.data_seed, o.batch_size, o.data_threads,
                  static_cast<uint64_t>(start));
  ProgressBar bar(o.steps, o.batch_size, o.progress);
  net->train();
  auto t_last = std::chrono::steady_clock::now();
  // Throughput over every step but the first (allocator and oneDNN caches
  // warm up there), outside the profiled steps: the number to compare runs by.
  double timed_s = 0;
  int64_t timed_steps = 0;
  double ema_ips = 0;
  std::vector<double> ema(num_tasks + 2, 0);

  // The encoder's weights: where CIKD's and the tasks' gradients are compared.
  std::vector<torch::Tensor> encoder_params;
  for (const auto& p : net->named_parameters()) {
    if (absl::StartsWith(p.key(), "encoder.")) encoder_params.push_back(p.value());
  }
  std::unique_ptr<std::ofstream> cikd_log;
  if (o.cikd_log_every > 0) {
    const std::string path = o.out_dir + "/cikd_log.tsv";
    const bool fresh = start == 0 || !std::filesystem::exists(path);
    cikd_log = std::make_unique<std::ofstream>(
        path, fresh ? std::ios::trunc : std::ios::app);
    if (fresh) *cikd_log << "step\tweight\tstage\tdistance\tgrad_norm_ratio\n";
  }

  std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
  for (int64_t step = start; step < o.steps; ++step) {
    if (!o.profile_path.empty()) {
      if (step == start + 1) {
        profile = std::make_unique<torch::autograd::profiler::RecordProfile>(
            o.profile_path);
      } else if (step == start + 1 + o.profile_steps) {
        profile.reset();  // writes the trace
      }
    }
    // Learning rate: linear warm-up, then cosine decay to 1% of the peak.
    double lr = o.learning_rate;
    if (step < o.warmup_steps) {
      lr *= double(step + 1) / o.warmup_steps;
    } else {
      const double p = double(step - o.warmup_steps) /
                       std::max(1, o.steps - o.warmup_steps);
      lr *= 0.01 + 0.99 * 0.5 * (1 + std::cos(M_PI * p));
    }
    for (auto& group : opt.param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    }

    const Batch b = data.Next().To(device);
    opt.zero_grad();

    // 1. Widest configuration: ground truth only; becomes the teacher.
    std::vector<torch::Tensor> teacher_feats;
    std::vector<TeacherTarget> teacher_out;
    std::vector<double> task_loss(num_tasks, 0);
    double kd_sum = 0, cikd_sum = 0;
    int64_t num_students = 0;
    // A student decoder pass: task loss + distillation from the teacher.
    auto student = [&](int t, const std::vector<torch::Tensor>& feats, int we,
                       int wd) {
      const TaskKind kind = spec.tasks(t).kind();
      const torch::Tensor raw = net->DecodeRaw(t, feats, we, wd);
      const StudentLosses l = StudentLoss(kind, raw, b, teacher_out[t],
                                           o.depth_gradient_weight);
      kd_sum += l.distill.item<double>();
      ++num_students;
      return l.task + o.distill_weight * l.distill;
    };
    // The same encoder features through each task's decoder at
    // `extra_decoder_widths` other widths: more (encoder, decoder) width
    // pairs per step for the cost of decoder passes only. Called only when
    // extra_decoder_widths > 0, so 0 leaves the random stream (and runs made
    // before the option) unchanged.
    auto extra = [&](const std::vector<torch::Tensor>& feats, int we,
                     const std::vector<int>& wd) {
      torch::Tensor loss = torch::zeros({}, b.image.options());
      for (int t = 0; t < num_tasks; ++t) {
        for (int w :
             SampleOtherWidths(rng, num_wd, wd[t], o.extra_decoder_widths)) {
          loss = loss + student(t, feats, we, w);
        }
      }
      return loss;
    };
    const double cikd_weight = CikdWeightAt(o, step);
    const bool log_cikd =
        cikd_log != nullptr &&
        ((step + 1) % o.cikd_log_every == 0 || step + 1 == o.steps);
    const bool want_cikd = cikd_weight > 0 || log_cikd;
    const bool pre_relu = o.cikd_features == CikdFeatures::kPreRelu;
    {
      std::vector<torch::Tensor> pre;
      const auto feats =
          net->Encode(b.image, num_we - 1, want_cikd && pre_relu ? &pre : nullptr);
      torch::Tensor loss = torch::zeros({}, b.image.options());
      for (int t = 0; t < num_tasks; ++t) {
        const torch::Tensor raw = net->DecodeRaw(t, feats, num_we - 1, num_wd - 1);
        const torch::Tensor l = TaskLoss(spec.tasks(t).kind(), raw, b,
                                           o.depth_gradient_weight);
        task_loss[t] = l.item<double>();
        loss = loss + l;
        teacher_out.push_back(
            MakeTeacherTarget(spec.tasks(t).kind(), raw.detach()));
      }
      if (want_cikd) {
        for (const auto& f : pre_relu ? pre : feats) {
          teacher_feats.push_back(f.detach());
        }
      }
      if (o.extra_decoder_widths > 0) {
        loss = loss + extra(feats, num_we - 1,
                            std::vector<int>(num_tasks, num_wd - 1));
      }
      loss.backward();
    }

    // 2. Narrowest and random configurations.
    std::vector<Config> configs;
    configs.push_back({0, std::vector<int>(num_tasks, 0)});
    for (int i = 0; i < o.num_random_configs; ++i) {
      configs.push_back(SampleRandomConfig(rng, num_we, num_wd, num_tasks,
                                           o.end_width_weight));
    }
    for (size_t ci = 0; ci < configs.size(); ++ci) {
      const Config& c = configs[ci];
      // The widest encoder is the teacher: nothing to distil.
      const bool distil = want_cikd && c.we != num_we - 1;
      std::vector<torch::Tensor> pre;
      const auto feats =
          net->Encode(b.image, c.we, distil && pre_relu ? &pre : nullptr);
      torch::Tensor loss = torch::zeros({}, b.image.options());
      for (int t = 0; t < num_tasks; ++t) {
        loss = loss + student(t, feats, c.we, c.wd[t]);
      }
      if (o.extra_decoder_widths > 0) loss = loss + extra(feats, c.we, c.wd);
      if (distil) {
        const auto& student_feats = pre_relu ? pre : feats;
        std::vector<torch::Tensor> distances;
        torch::Tensor cikd = torch::zeros({}, b.image.options());
        for (int s : cikd_stages) {
          const torch::Tensor& f = student_feats[s];
          distances.push_back(CikdStageDistance(
              o.cikd_distance, f, teacher_feats[s].narrow(1, 0, f.size(1))));
          cikd = cikd + distances.back();
        }
        // configs[0] is the narrowest: the one CIKD should help most.
        if (log_cikd && ci == 0) {
          LogCikd(*cikd_log, step + 1, cikd_weight, cikd_stages, distances,
                  loss, encoder_params);
        }
        if (cikd_weight > 0) {
          cikd_sum += cikd.item<double>();
          loss = loss + cikd_weight * cikd;
        }
      }
      loss.backward();
    }
    opt.step();

    // Progress: exponential moving averages of the losses.
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - t_last).count();
    t_last = now;
    if (step > start && profile == nullptr) {
      timed_s += dt;
      ++timed_steps;
    }
    const double ips = o.batch_size / std::max(dt, 1e-9);
    const double a = step == start ? 1.0 : 0.05;
    ema_ips = step == start ? ips : 0.9 * ema_ips + 0.1 * ips;
    for (int t = 0; t < num_tasks; ++t) ema[t] = (1 - a) * ema[t] + a * task_loss[t];
    ema[num_tasks] =
        (1 - a) * ema[num_tasks] +
        a * kd_sum * num_tasks / std::max<int64_t>(1, num_students);
    ema[num_tasks + 1] = (1 - a) * ema[num_tasks + 1] + a * cikd_sum / configs.size();
    std::string losses;
    for (int t = 0; t < num_tasks; ++t) {
      absl::StrAppendFormat(&losses, "%s %.3f ", spec.tasks(t).name(), ema[t]);
    }
    absl::StrAppendFormat(&losses, "kd %.3f cikd %.3f lr %.1e", ema[num_tasks],
                          ema[num_tasks + 1], lr);
    bar.Update(step + 1, losses, ema_ips);

    if (o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0 &&
        step + 1 < o.steps) {
      SLIM_RETURN_IF_ERROR(SaveCheckpoint(net, opt, step + 1, Checkpoint(o.out_dir)));
    }
  }
  profile.reset();
  bar.Done();
  if (o.progress && timed_steps > 0) {
    std::fprintf(stderr, "trained %lld steps; %.2f img/s over the %lld after the first\n",
                 static_cast<long long>(o.steps - start),
                 timed_steps * double(o.batch_size) / timed_s,
                 static_cast<long long>(timed_steps));
  }
  SLIM_RETURN_IF_ERROR(SaveCheckpoint(net, opt, o.steps, Checkpoint(o.out_dir)));
  RecalibrateBatchNorm(net, o, device);
  return WritePackage(net, o);
}

}  // namespace train
}  // namespace slimserve
